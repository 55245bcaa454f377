//! Every answer of the Stripe API carries `Request-Id: req_…`, as Stripe's
//! do, whatever its outcome: clients log it on every call.

use serde_json::json;

use crate::helpers::{KEY, Resp, TestSandbox, form};

#[track_caller]
fn request_id(r: &Resp) -> String {
    let id = r
        .header("Request-Id")
        .unwrap_or_else(|| panic!("no Request-Id on {} {:?}", r.status, r.json))
        .to_owned();
    assert!(id.starts_with("req_") && id.len() > 4, "{id}");
    id
}

#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let sb = TestSandbox::start().await;
    let mut ids = Vec::new();

    // 200 on a write and on a read.
    let created = sb.post("/v1/accounts", &[("type", "express")]).await;
    assert_eq!(created.status, 200, "{:?}", created.json);
    ids.push(request_id(&created));
    let read = sb.get("/v1/balance").await;
    assert_eq!(read.status, 200);
    ids.push(request_id(&read));
    // 400: a parameter Stripe does not know.
    let bad = sb.post("/v1/accounts", &[("colour", "red")]).await;
    assert_eq!(bad.status, 400);
    ids.push(request_id(&bad));
    // 401: no key.
    let anonymous = sb
        .send(sb.client.get(format!("{}/v1/balance", sb.base)))
        .await;
    assert_eq!(anonymous.status, 401);
    ids.push(request_id(&anonymous));
    // 404: an unknown object and an unknown route.
    let missing = sb.get("/v1/transfers/tr_missing").await;
    assert_eq!(missing.status, 404);
    ids.push(request_id(&missing));
    let nowhere = sb.get("/v1/nowhere").await;
    assert_eq!(nowhere.status, 404);
    ids.push(request_id(&nowhere));
    // OAuth: a refused code.
    let oauth = sb
        .send(
            sb.client
                .post(format!("{}/oauth/token", sb.base))
                .bearer_auth(KEY)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", "ac_unknown"),
                ])),
        )
        .await;
    assert_eq!(oauth.status, 400);
    ids.push(request_id(&oauth));
    // 429: Stripe's limiter.
    sb.control("/rate_limits", json!({"mode": "test"}))
        .await
        .ok();
    let mut limited = None;
    for _ in 0..40 {
        let r = sb.get("/v1/balance").await;
        if r.status == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("the test limiter refuses within 40 calls");
    ids.push(request_id(&limited));

    // Each answer its own id.
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    sb.stop().await;
}
