use std::time::Duration;

use stripe_sandbox::{Latency, LedgerFilter};

use crate::helpers::TestSandbox;

#[tokio::test]
async fn same_key_same_params_replays_and_other_params_fail() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 10_000);
    let params = [
        ("amount", "700"),
        ("currency", "usd"),
        ("destination", dest.as_str()),
        ("transfer_group", "batch_1"),
        ("metadata[item_id]", "item_42"),
    ];
    let first = sb.post_idem("/v1/transfers", "key-1", &params).await.ok();
    assert_eq!(first.header("Idempotent-Replayed"), None);
    let again = sb.post_idem("/v1/transfers", "key-1", &params).await.ok();
    assert_eq!(again.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(again.json, first.json);
    // Only one transfer exists and the balance moved once.
    assert_eq!(sb.handle.balance(None, "usd").available, 9_300);
    let ledger = sb.handle.ledger(&LedgerFilter {
        idempotency_key: Some("key-1".to_owned()),
        item_id: None,
    });
    assert_eq!(ledger.count, 1);
    assert_eq!(ledger.transfers[0].item_id.as_deref(), Some("item_42"));

    let other = sb
        .post_idem(
            "/v1/transfers",
            "key-1",
            &[
                ("amount", "701"),
                ("currency", "usd"),
                ("destination", dest.as_str()),
            ],
        )
        .await;
    assert_eq!(other.status, 400);
    assert_eq!(other.json["error"]["type"], "idempotency_error");

    // Keys are scoped by Stripe-Account: the same key under a connected
    // account is a different key.
    sb.fund(Some(&dest), 500);
    let scoped = sb
        .send(
            sb.post_req("/v1/payouts", &[("amount", "100"), ("currency", "usd")])
                .header("Idempotency-Key", "key-1")
                .header("Stripe-Account", &dest),
        )
        .await
        .ok();
    assert!(scoped.id().starts_with("po_"));
    sb.stop().await;
}

#[tokio::test]
async fn executed_errors_are_saved_but_validation_errors_are_not() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    // Validation failure: not saved, so the corrected retry executes.
    let bad = sb
        .post_idem(
            "/v1/transfers",
            "k-val",
            &[("amount", "x"), ("currency", "usd"), ("destination", &dest)],
        )
        .await;
    assert_eq!(bad.error_code(), Some("parameter_invalid_integer"));
    // Executed failure (no funds): saved and replayed even after funding.
    let params = [
        ("amount", "100"),
        ("currency", "usd"),
        ("destination", dest.as_str()),
    ];
    let poor = sb.post_idem("/v1/transfers", "k-val", &params).await;
    assert_eq!(poor.error_code(), Some("balance_insufficient"));
    sb.fund(None, 1_000);
    let replay = sb.post_idem("/v1/transfers", "k-val", &params).await;
    assert_eq!(replay.error_code(), Some("balance_insufficient"));
    assert_eq!(replay.header("Idempotent-Replayed"), Some("true"));
    sb.post_idem("/v1/transfers", "k-fresh", &params).await.ok();
    sb.stop().await;
}

#[tokio::test]
async fn concurrent_request_with_same_key_gets_409() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    sb.handle.set_latency(Latency {
        fixed_ms: 700,
        jitter_ms: 0,
    });
    let params = [
        ("amount", "100"),
        ("currency", "usd"),
        ("destination", dest.as_str()),
    ];
    let first = sb
        .post_req("/v1/transfers", &params)
        .header("Idempotency-Key", "slow");
    let first = tokio::spawn(first.send());
    tokio::time::sleep(Duration::from_millis(200)).await;
    let second = sb.post_idem("/v1/transfers", "slow", &params).await;
    assert_eq!(second.status, 409);
    assert_eq!(second.error_code(), Some("idempotency_key_in_use"));
    assert_eq!(second.json["error"]["type"], "invalid_request_error");
    assert_eq!(second.header("Stripe-Should-Retry"), Some("true"));
    let first = first.await.unwrap().unwrap();
    assert_eq!(first.status(), 200);
    sb.handle.set_latency(Latency::default());
    let third = sb.post_idem("/v1/transfers", "slow", &params).await.ok();
    assert_eq!(third.header("Idempotent-Replayed"), Some("true"));
    assert_eq!(sb.handle.ledger(&LedgerFilter::default()).count, 1);
    sb.stop().await;
}

#[tokio::test]
async fn keys_expire_after_24_hours_of_sandbox_time() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    let params = [
        ("amount", "100"),
        ("currency", "usd"),
        ("destination", dest.as_str()),
    ];
    let first = sb.post_idem("/v1/transfers", "daily", &params).await.ok();
    let created = first.json["created"].as_i64().unwrap();
    sb.handle.advance_clock(23 * 3600);
    let replay = sb.post_idem("/v1/transfers", "daily", &params).await.ok();
    assert_eq!(replay.id(), first.id());
    // Through the HTTP control API this time.
    let now = sb
        .control("/clock/advance", serde_json::json!({"seconds": 2 * 3600}))
        .await
        .ok();
    assert!(now.json["now"].as_i64().unwrap() >= created + 25 * 3600);
    let fresh = sb.post_idem("/v1/transfers", "daily", &params).await.ok();
    assert_ne!(fresh.id(), first.id());
    assert_eq!(fresh.header("Idempotent-Replayed"), None);
    assert!(fresh.json["created"].as_i64().unwrap() >= created + 25 * 3600);
    assert_eq!(sb.handle.balance(None, "usd").available, 800);
    sb.stop().await;
}
