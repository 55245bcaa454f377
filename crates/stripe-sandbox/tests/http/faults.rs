use std::time::{Duration, Instant};

use serde_json::json;
use stripe_sandbox::{ErrorType, FaultSpec, LedgerFilter, RateLimit};

use crate::helpers::TestSandbox;

#[tokio::test]
async fn fail_next_n_matching_requests_without_executing_them() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    let added = sb
        .control(
            "/faults",
            json!({
                "kind": "fail", "method": "POST", "path_prefix": "/v1/transfers",
                "contains": "metadata[item_id]=boom", "count": 2,
                "status": 500, "type": "api_error", "code": "api_error"
            }),
        )
        .await
        .ok();
    assert!(added.json["id"].as_u64().is_some());
    let boom = [
        ("amount", "100"),
        ("currency", "usd"),
        ("destination", dest.as_str()),
        ("metadata[item_id]", "boom"),
    ];
    // A request that does not match the substring is untouched.
    sb.transfer(&dest, "100").await.ok();
    for _ in 0..2 {
        let r = sb.post_idem("/v1/transfers", "boom-key", &boom).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json["error"]["type"], "api_error");
        assert_eq!(r.header("Stripe-Should-Retry"), Some("true"));
    }
    // Not executed and not saved under the key: the retry runs for real.
    let ok = sb.post_idem("/v1/transfers", "boom-key", &boom).await.ok();
    assert_eq!(ok.header("Idempotent-Replayed"), None);
    let ledger = sb.handle.ledger(&LedgerFilter {
        idempotency_key: None,
        item_id: Some("boom".to_owned()),
    });
    assert_eq!(ledger.count, 1);
    assert_eq!(sb.handle.balance(None, "usd").available, 800);

    sb.handle.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        400,
        ErrorType::InvalidRequestError,
        "account_inactive",
    ));
    let r = sb.transfer(&dest, "100").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("account_inactive"));
    assert_eq!(r.header("Stripe-Should-Retry"), Some("false"));
    assert!(sb.handle.faults().is_empty());
    sb.stop().await;
}

#[tokio::test]
async fn commit_then_drop_executes_but_the_client_sees_a_transport_error() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    sb.handle
        .add_fault(FaultSpec::commit_then_drop("/v1/transfers", 1).with_method("POST"));
    let params = [
        ("amount", "250"),
        ("currency", "usd"),
        ("destination", dest.as_str()),
        ("metadata[item_id]", "it_9"),
    ];
    let err = sb
        .post_req("/v1/transfers", &params)
        .header("Idempotency-Key", "drop-1")
        .send()
        .await
        .expect_err("the connection must be dropped");
    assert!(!err.is_status(), "{err:?}");
    // The transfer exists, under its key.
    let ledger = sb.control_get("/ledger?idempotency_key=drop-1").await.ok();
    assert_eq!(ledger.json["count"], 1);
    assert_eq!(ledger.json["transfers"][0]["item_id"], "it_9");
    assert_eq!(ledger.json["transfers"][0]["amount"], 250);
    assert_eq!(sb.handle.balance(None, "usd").available, 750);
    // The client's retry with the same key replays instead of paying twice.
    let retry = sb.post_idem("/v1/transfers", "drop-1", &params).await.ok();
    assert_eq!(retry.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(retry.json["id"], ledger.json["transfers"][0]["transfer_id"]);
    assert_eq!(sb.handle.ledger(&LedgerFilter::default()).count, 1);
    sb.stop().await;
}

#[tokio::test]
async fn reset_drops_the_connection_without_executing() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    sb.handle.add_fault(FaultSpec::reset("/v1/transfers", 1));
    let err = sb
        .post_req(
            "/v1/transfers",
            &[("amount", "1"), ("currency", "usd"), ("destination", &dest)],
        )
        .send()
        .await
        .expect_err("reset");
    assert!(!err.is_status());
    assert_eq!(sb.handle.ledger(&LedgerFilter::default()).count, 0);
    assert_eq!(sb.handle.balance(None, "usd").available, 1_000);
    sb.stop().await;
}

#[tokio::test]
async fn rate_limit_answers_429_beyond_the_budget() {
    let sb = TestSandbox::start().await;
    sb.control("/rate_limit", json!({"per_second": 3}))
        .await
        .ok();
    let mut statuses = Vec::new();
    let started = Instant::now();
    for _ in 0..6 {
        let r = sb.get("/v1/balance").await;
        if r.status == 429 {
            assert_eq!(r.error_code(), Some("rate_limit"));
            assert_eq!(r.header("Stripe-Should-Retry"), Some("true"));
        }
        statuses.push(r.status);
    }
    // A bucket of 3 refills one token every 333 ms.
    if started.elapsed() < Duration::from_millis(300) {
        assert_eq!(
            statuses.iter().filter(|s| **s == 429).count(),
            3,
            "{statuses:?}"
        );
    }
    assert!(statuses.contains(&429));
    // Control endpoints are never limited.
    sb.handle.set_rate_limit(RateLimit { per_second: None });
    sb.get("/v1/balance").await.ok();
    sb.stop().await;
}

#[tokio::test]
async fn latency_applies_to_stripe_requests() {
    let sb = TestSandbox::start().await;
    sb.control("/latency", json!({"fixed_ms": 150, "jitter_ms": 50}))
        .await
        .ok();
    let started = Instant::now();
    sb.get("/v1/balance").await.ok();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(150), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(2_000), "{elapsed:?}");
    sb.stop().await;
}

#[tokio::test]
async fn reset_clears_state_and_faults() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    sb.transfer(&dest, "10").await.ok();
    sb.handle.add_fault(FaultSpec::reset("/v1", 5));
    sb.control("/reset", json!({})).await.ok();
    assert!(sb.handle.faults().is_empty());
    assert_eq!(sb.handle.ledger(&LedgerFilter::default()).count, 0);
    assert_eq!(sb.handle.balance(None, "usd").available, 0);
    let gone = sb.get(&format!("/v1/accounts/{dest}")).await;
    assert_eq!(gone.status, 404);
    sb.stop().await;
}
