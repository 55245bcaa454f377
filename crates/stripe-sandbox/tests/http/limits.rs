//! Stripe's documented limiter: per account, a global budget and one per
//! operation, account creation answering 400, and `lock_timeout`.

use serde_json::json;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn live_limits_count_per_account_and_per_operation() {
    let sb = TestSandbox::start().await;
    let set = sb.control("/rate_limits", json!({"mode": "live"})).await;
    assert_eq!(set.status, 200, "{:?}", set.json);
    assert_eq!(set.json["model"]["global_per_second"], 100);
    let acct = sb
        .post("/v1/accounts", &[("type", "express")])
        .await
        .ok()
        .id();

    // One operation: 25 a second, then 429 with Stripe's body and reason.
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..30 {
        let r = sb.get("/v1/balance").await;
        statuses.push(r.status);
        if r.status == 429 && refused.is_none() {
            refused = Some(r);
        }
    }
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert!((25..=26).contains(&ok), "{statuses:?}");
    let refused = refused.unwrap();
    assert_eq!(refused.error_code(), Some("rate_limit"));
    assert_eq!(
        refused.header("stripe-rate-limited-reason"),
        Some("endpoint-rate")
    );
    // Another operation of the same account has its own budget, and so
    // does the same operation for another account.
    assert_eq!(sb.get(&format!("/v1/accounts/{acct}")).await.status, 200);
    assert_eq!(sb.get_as(&acct, "/v1/balance").await.status, 200);

    // Off again: nothing is refused.
    sb.control("/rate_limits", json!({"mode": "off"}))
        .await
        .ok();
    for _ in 0..30 {
        assert_eq!(sb.get("/v1/balance").await.status, 200);
    }
    let shown = sb.control_get("/rate_limits").await;
    assert_eq!(shown.json["model"], serde_json::Value::Null);
}

#[tokio::test]
async fn test_mode_refuses_quick_account_creation_with_400() {
    let sb = TestSandbox::start().await;
    sb.control("/rate_limits", json!({"mode": "test"}))
        .await
        .ok();
    let mut statuses = Vec::new();
    let mut refused = None;
    for _ in 0..8 {
        let r = sb.post("/v1/accounts", &[("type", "express")]).await;
        statuses.push(r.status);
        if r.status == 400 && refused.is_none() {
            refused = Some(r);
        }
    }
    assert!(
        statuses.iter().filter(|s| **s == 200).count() <= 6,
        "{statuses:?}"
    );
    let refused = refused.unwrap();
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("less than 5 creation attempts per second with a test key"),
        "{:?}",
        refused.json
    );
    let bad = sb.control("/rate_limits", json!({"mode": "fast"})).await;
    assert_eq!(bad.status, 400);
}

#[tokio::test]
async fn concurrent_writes_to_one_object_answer_lock_timeout() {
    let sb = TestSandbox::start().await;
    let acct = sb
        .post("/v1/accounts", &[("type", "express")])
        .await
        .ok()
        .id();
    sb.control("/rate_limits", json!({"mode": "live"}))
        .await
        .ok();
    sb.control("/latency", json!({"fixed_ms": 300, "jitter_ms": 0}))
        .await
        .ok();
    let path = format!("/v1/accounts/{acct}");
    let (a, b) = tokio::join!(
        sb.post(&path, &[("metadata[n]", "1")]),
        sb.post(&path, &[("metadata[n]", "2")])
    );
    let mut statuses = [a.status, b.status];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 429], "{:?} {:?}", a.json, b.json);
    let locked = if a.status == 429 { a } else { b };
    assert_eq!(locked.error_code(), Some("lock_timeout"));
    assert_eq!(
        locked.header("stripe-rate-limited-reason"),
        Some("resource-specific")
    );
}
