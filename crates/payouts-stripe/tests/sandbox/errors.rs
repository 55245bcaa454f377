use std::time::{Duration, Instant};

use payouts_domain::ids::{AccountId, TransferId};
use payouts_domain::ports::{FailureKind, PayoutGateway};
use stripe_sandbox::{ErrorType, FaultSpec, Latency, LedgerFilter, RateLimit};

use crate::helpers::{start, start_with, transfer_request, usd};

fn by_key(env: &crate::helpers::Env, key: &str) -> usize {
    env.sb
        .ledger(&LedgerFilter {
            idempotency_key: Some(key.to_owned()),
            item_id: None,
        })
        .count
}

#[tokio::test]
async fn insufficient_balance_real_and_injected() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 100);
    let err = env
        .gw
        .create_transfer(&transfer_request(&dest, 500))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InsufficientBalance);
    assert_eq!(err.code.as_deref(), Some("balance_insufficient"));

    env.fund(None, 10_000);
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        402,
        ErrorType::InvalidRequestError,
        "balance_insufficient",
    ));
    let err = env
        .gw
        .create_transfer(&transfer_request(&dest, 500))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InsufficientBalance);
    env.finish().await;
}

#[tokio::test]
async fn account_inactive_and_destinations_that_cannot_receive() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        400,
        ErrorType::InvalidRequestError,
        "account_inactive",
    ));
    let err = env
        .gw
        .create_transfer(&transfer_request(&dest, 100))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::AccountInactive);

    // Transfers capability requested but not active.
    let not_onboarded = env.express_account().await;
    let err = env
        .gw
        .create_transfer(&transfer_request(&not_onboarded, 100))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::CannotReceive);
    assert_eq!(
        err.code.as_deref(),
        Some("insufficient_capabilities_for_transfer")
    );

    let unknown = AccountId::parse("acct_doesnotexist").unwrap();
    let err = env
        .gw
        .create_transfer(&transfer_request(&unknown, 100))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::CannotReceive);
    assert_eq!(err.code.as_deref(), Some("resource_missing"));

    let missing = TransferId::parse("tr_nope").unwrap();
    let err = env.gw.retrieve_transfer(None, &missing).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound);
    assert_eq!(env.sb.ledger(&LedgerFilter::default()).count, 0);
    env.finish().await;
}

#[tokio::test]
async fn injected_429s_are_retried_with_the_same_key() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        2,
        429,
        ErrorType::InvalidRequestError,
        "rate_limit",
    ));
    let req = transfer_request(&dest, 700);
    let t = env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(t.amount, usd(700));
    assert!(env.sb.faults().is_empty(), "both 429s were consumed");
    assert_eq!(by_key(&env, req.key.as_str()), 1);

    // A 429 is not a failed attempt: with one attempt allowed it is still
    // re-sent, with the same key, up to 8 times; the ninth is returned,
    // classified.
    let once = env.gateway_with(|c| c.max_attempts = 1);
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        8,
        429,
        ErrorType::InvalidRequestError,
        "rate_limit",
    ));
    let req = transfer_request(&dest, 1);
    once.create_transfer(&req).await.unwrap();
    assert!(env.sb.faults().is_empty(), "eight 429s were consumed");
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        10,
        429,
        ErrorType::InvalidRequestError,
        "rate_limit",
    ));
    let err = once
        .create_transfer(&transfer_request(&dest, 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::RateLimited);
    assert!(err.kind.is_ambiguous());
    assert_eq!(env.sb.faults()[0].remaining, 1, "nine sends");
    env.sb.clear_faults();

    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        400,
        ErrorType::InvalidRequestError,
        "lock_timeout",
    ));
    let err = once
        .create_transfer(&transfer_request(&dest, 1))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::RateLimited);
    env.finish().await;
}

#[tokio::test]
async fn a_429_burst_from_the_sandbox_and_client_side_pacing() {
    let env = start_with(|c| c.max_attempts = 1).await;
    env.sb.set_rate_limit(RateLimit {
        per_second: Some(4),
    });
    // A burst of 10 over 4/s meets 429s; each is re-sent after a back-off
    // and a slowed pacer, so every call ends answered.
    let calls = (0..10).map(|_| env.gw.platform_balance());
    let results = futures::future::join_all(calls).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    let limited = rate_limited(&env.gw);
    assert!(
        limited >= 4,
        "a burst of 10 over 4/s must hit 429s: {limited}"
    );

    // Paced at 2/s by the adapter's own bucket (a burst of 2, then one
    // call per 500 ms), the sandbox's fixed one-second windows of 4 are
    // never exceeded, whatever their phase.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let paced = env.gateway_with(|c| {
        c.max_attempts = 1;
        c.ops_per_second = Some(2);
    });
    let started = Instant::now();
    for _ in 0..6 {
        paced.platform_balance().await.unwrap();
    }
    assert!(started.elapsed() >= Duration::from_millis(1900));
    env.finish().await;
}

#[tokio::test]
async fn server_errors_are_retried_up_to_the_cap_then_ambiguous() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    env.sb.add_fault(
        FaultSpec::fail("/v1/transfers", 5, 500, ErrorType::ApiError, "").with_method("POST"),
    );
    let req = transfer_request(&dest, 100);
    let err = env.gw.create_transfer(&req).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Ambiguous);
    assert!(err.message.contains("HTTP 500"));
    // Exactly three attempts were made.
    assert_eq!(env.sb.faults()[0].remaining, 2);
    assert_eq!(by_key(&env, req.key.as_str()), 0);

    // The domain re-sends later with the same key; the rest of the 500s
    // are used up and the third attempt of that call goes through.
    let t = env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    assert_eq!(t.amount, usd(100));
    env.finish().await;
}

#[tokio::test]
async fn commit_then_drop_is_retried_into_a_replay_not_a_duplicate() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    env.sb
        .add_fault(FaultSpec::commit_then_drop("/v1/transfers", 1).with_method("POST"));
    let req = transfer_request(&dest, 900);
    let t = env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    assert_eq!(
        env.sb.ledger(&LedgerFilter::default()).counts_by_item_id[&req.item_id.to_string()],
        1
    );
    assert_eq!(env.sb.balance(None, "usd").available, 9_100);

    // With no retries the drop is ambiguous; re-sending the same key
    // later finds the committed transfer.
    let once = env.gateway_with(|c| c.max_attempts = 1);
    env.sb
        .add_fault(FaultSpec::commit_then_drop("/v1/transfers", 1).with_method("POST"));
    let req2 = transfer_request(&dest, 50);
    let err = once.create_transfer(&req2).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Ambiguous);
    assert_eq!(
        by_key(&env, req2.key.as_str()),
        1,
        "committed before the drop"
    );
    let replayed = once.create_transfer(&req2).await.unwrap();
    assert_eq!(by_key(&env, req2.key.as_str()), 1);
    assert_ne!(replayed.id, t.id);
    env.finish().await;
}

#[tokio::test]
async fn connection_reset_is_retried_and_executes_once() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    env.sb
        .add_fault(FaultSpec::reset("/v1/transfers", 2).with_method("POST"));
    let req = transfer_request(&dest, 10);
    env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    env.finish().await;
}

#[tokio::test]
async fn key_in_use_is_retried_until_the_first_request_finishes() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    env.sb.set_latency(Latency {
        fixed_ms: 300,
        jitter_ms: 0,
    });
    let patient = env.gateway_with(|c| {
        c.max_attempts = 6;
        c.backoff_base = Duration::from_millis(150);
        c.backoff_max = Duration::from_millis(300);
    });
    let req = transfer_request(&dest, 333);
    let (a, b) = tokio::join!(patient.create_transfer(&req), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        patient.create_transfer(&req).await
    });
    assert_eq!(a.unwrap().id, b.unwrap().id);
    assert_eq!(by_key(&env, req.key.as_str()), 1);

    // Without retries the conflict surfaces as ambiguous.
    let once = env.gateway_with(|c| c.max_attempts = 1);
    let req = transfer_request(&dest, 1);
    let (a, b) = tokio::join!(once.create_transfer(&req), async {
        tokio::time::sleep(Duration::from_millis(50)).await;
        once.create_transfer(&req).await
    });
    assert!(a.is_ok());
    let err = b.unwrap_err();
    assert_eq!(err.kind, FailureKind::Ambiguous);
    assert_eq!(err.code.as_deref(), Some("idempotency_key_in_use"));
    env.finish().await;
}

#[tokio::test]
async fn a_key_reused_with_other_parameters_is_an_idempotency_mismatch() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    let req = transfer_request(&dest, 100);
    env.gw.create_transfer(&req).await.unwrap();
    let mut other = req.clone();
    other.amount = usd(101);
    let err = env.gw.create_transfer(&other).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::IdempotencyMismatch);
    assert_eq!(err.code.as_deref(), Some("idempotency_error"));
    assert!(!err.kind.is_ambiguous());
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    env.finish().await;
}

#[tokio::test]
async fn timeouts_and_refused_connections_are_ambiguous() {
    let env = start().await;
    env.sb.set_latency(Latency {
        fixed_ms: 1_500,
        jitter_ms: 0,
    });
    let impatient = env.gateway_with(|c| {
        c.max_attempts = 1;
        c.request_timeout = Duration::from_millis(300);
    });
    let err = impatient.platform_balance().await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Ambiguous);
    assert!(err.message.contains("timeout"), "{}", err.message);

    // Nothing listens on port 9 of loopback.
    let nowhere = env.gateway_with(|c| {
        c.api_base = "http://127.0.0.1:9".to_owned();
        c.max_attempts = 2;
    });
    let err = nowhere.platform_balance().await.unwrap_err();
    assert_eq!(err.kind, FailureKind::Ambiguous);
    assert!(err.message.contains("connection"), "{}", err.message);
    env.finish().await;
}

#[tokio::test]
async fn stripe_should_retry_false_stops_the_retries() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    // The sandbox answers this 400 with `Stripe-Should-Retry: false`;
    // `lock_timeout` alone would be retried, the header wins.
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        2,
        400,
        ErrorType::InvalidRequestError,
        "lock_timeout",
    ));
    let req = transfer_request(&dest, 100);
    let err = env.gw.create_transfer(&req).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::RateLimited);
    assert_eq!(env.sb.faults()[0].remaining, 1, "one attempt only");

    // A 429 carries `Stripe-Should-Retry: true` and is retried.
    env.sb.clear_faults();
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        429,
        ErrorType::InvalidRequestError,
        "rate_limit",
    ));
    env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    env.finish().await;
}

/// Stripe's live limiter in the sandbox (per account 100/s, per operation
/// 25/s): the adapter, pacing to the live model, sends one merchant's 60
/// transfers at its 24/s with no 429, while another merchant's transfers
/// go at their own 24/s beside them.
#[tokio::test]
async fn the_live_model_is_met_per_account_and_operation_without_429s() {
    let env = start().await;
    let a = env.onboarded_account().await;
    let b = env.onboarded_account().await;
    let dest = env.onboarded_account().await;
    env.fund(Some(&a), 1_000_000);
    env.fund(Some(&b), 1_000_000);
    env.sb
        .set_rate_limits(stripe_sandbox::limiter::LimiterModel::for_mode(
            stripe_sandbox::limiter::RateLimitMode::Live,
        ));
    let live = env.gateway_with(|c| {
        c.limit_mode = Some(payouts_stripe::LimitMode::Live);
        c.max_attempts = 1;
    });
    let from = |source: &AccountId| {
        let mut req = transfer_request(&dest, 100);
        req.source_account = Some(source.clone());
        req
    };
    let requests: Vec<_> = (0..60)
        .map(|i| from(if i % 2 == 0 { &a } else { &b }))
        .chain((0..30).map(|_| from(&a)))
        .collect();
    let started = Instant::now();
    let results = futures::future::join_all(requests.iter().map(|r| live.create_transfer(r))).await;
    let elapsed = started.elapsed();
    let refused: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(refused.is_empty(), "every transfer went: {refused:?}");
    for r in &requests {
        assert_eq!(by_key(&env, r.key.as_str()), 1);
    }
    // The half burst leaves half a second of slack for jitter from the
    // first call on: 429s are none, or (on a loaded machine) almost none.
    let limited = rate_limited(&live);
    assert!(limited <= 2, "429s under the model: {limited}");
    // Merchant A sent 60 at 24/s after a burst of 12: 2 s; B's 30 went
    // beside them, not after them.
    assert!(elapsed >= Duration::from_millis(1_900), "{elapsed:?}");
    assert!(elapsed < Duration::from_millis(3_000), "{elapsed:?}");

    // Without pacing to the model (the cap alone), the same burst is refused.
    let unpaced = env.gateway_with(|c| c.max_attempts = 1);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let burst: Vec<_> = (0..40).map(|_| from(&a)).collect();
    let results = futures::future::join_all(burst.iter().map(|r| unpaced.create_transfer(r))).await;
    assert!(results.iter().all(Result::is_ok), "re-sent until they went");
    let refused = rate_limited(&unpaced);
    assert!(
        refused >= 10,
        "an unpaced burst of 40 meets the 25/s limit: {refused}"
    );
    env.finish().await;
}

/// How many 429s the gateway met.
fn rate_limited(gw: &payouts_stripe::StripeGateway) -> u64 {
    gw.call_stats()
        .snapshot()
        .into_iter()
        .find(|(o, _)| *o == "rate_limited")
        .map_or(0, |(_, n)| n)
}

#[tokio::test]
async fn a_lock_timeout_is_re_sent_without_slowing_the_pacer_and_a_rate_limit_slows_it() {
    let env = start_with(|c| c.max_attempts = 1).await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    let rate = || env.gw.pacer().rate(None, "POST", "/transfers");
    let budget = rate();
    // Another request held the object: re-sent with the same key, not an
    // attempt, and the rate stays.
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        429,
        ErrorType::InvalidRequestError,
        "lock_timeout",
    ));
    let req = transfer_request(&dest, 100);
    env.gw.create_transfer(&req).await.unwrap();
    assert!(env.sb.faults().is_empty(), "the 429 was met");
    assert_eq!(by_key(&env, req.key.as_str()), 1);
    assert_eq!(rate(), budget, "a lock_timeout says nothing of the rate");
    // The limiter refused: the rate halves.
    env.sb.add_fault(FaultSpec::fail(
        "/v1/transfers",
        1,
        429,
        ErrorType::InvalidRequestError,
        "rate_limit",
    ));
    env.gw
        .create_transfer(&transfer_request(&dest, 200))
        .await
        .unwrap();
    assert!(env.sb.faults().is_empty());
    assert_eq!(
        rate(),
        (budget / 2).max(1),
        "a rate_limit 429 halves the rate"
    );
    env.finish().await;
}
