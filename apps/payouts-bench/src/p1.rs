//! P1: 10,000 items of one merchant through the engine against a sandbox
//! answering in 300 ms under Stripe's documented live-mode limiter (per
//! account 100 requests/s, per operation 25/s: the transfers are one
//! operation of the merchant's account); the gateway paces to the live
//! model. Figure: the share of the transfer operation's 25/s achieved, with
//! the 429s and the calls per item. Baseline: a naive sequential loop of
//! async-stripe `CreateTransfer` requests sent with reqwest, measured on a
//! subset and extrapolated.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use payouts_stripe::LimitMode;
use serde_json::json;
use stripe_client_core::{StripeMethod, StripeRequest};
use stripe_connect::transfer::CreateTransfer;
use stripe_sandbox::control::Latency;
use stripe_sandbox::limiter::{LimiterModel, RateLimitMode};
use stripe_sandbox::{LedgerFilter, SetBalance};

use crate::fixture::{self, Backend, Env, calls};
use crate::{BenchResult, Figure, fail, note};

const LATENCY_MS: u64 = 300;
/// Stripe's per-operation limit, which one merchant's transfers meet first.
const RATE: u32 = 25;
/// The gateway's process-wide cap: the service's default.
const PACE: u32 = payouts_stripe::DEFAULT_OPS_CAP;
/// The service's defaults: one `execute_batch` run sending 64 items at once
/// (rate × latency = 30 in flight are needed), claims of 50.
const EXEC: fixture::Exec = fixture::Exec::DEFAULT;

pub async fn run(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let items = if quick { 500 } else { 10_000 };
    let baseline_items: u32 = if quick { 10 } else { 150 };
    let store = env
        .store(Backend::Sqlite)
        .await?
        .ok_or_else(|| fail("no SQLite"))?;
    let sandbox = env.sandbox(2).await?;
    let fx = fixture::exec_fixture(store, &sandbox, PACE, LimitMode::Live, EXEC, items).await?;
    note!("p1: {items} items ready in {:.1} s", fx.setup_s);
    sandbox.set_latency(Latency {
        fixed_ms: LATENCY_MS,
        jitter_ms: 0,
    });
    sandbox.set_rate_limits(LimiterModel::for_mode(RateLimitMode::Live));

    // Baseline first, with its own balance on top of the batch's.
    let destination = fx
        .destinations
        .first()
        .ok_or_else(|| fail("no destination"))?
        .clone();
    sandbox.set_balance(SetBalance {
        account: Some(fx.merchant_account.as_str().to_owned()),
        currency: "usd".to_owned(),
        available: 1_000 * i64::from(baseline_items),
        pending: 0,
    })?;
    let http = reqwest::Client::new();
    let base = sandbox.base_url();
    let t = Instant::now();
    let mut baseline_ok = 0_u32;
    for _ in 0..baseline_items {
        let request = CreateTransfer::new(stripe_types::Currency::USD, destination.as_str())
            .amount(1_000)
            .build();
        let method = match request.method {
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let response = http
            .request(method, format!("{base}/v1{}", request.path))
            .bearer_auth(fixture::SECRET_KEY)
            .header("stripe-account", fx.merchant_account.as_str())
            .header("content-type", "application/x-www-form-urlencoded")
            .body(request.body.unwrap_or_default())
            .send()
            .await?;
        if response.status().is_success() {
            baseline_ok += 1;
        }
        response.bytes().await?;
    }
    let baseline_s = t.elapsed().as_secs_f64();
    let baseline_rate = f64::from(baseline_ok) / baseline_s;
    note!("p1 baseline: {baseline_ok}/{baseline_items} transfers in {baseline_s:.1} s");
    if baseline_ok != baseline_items {
        return Err(fail("the baseline's transfers did not all succeed"));
    }
    sandbox.set_balance(SetBalance {
        account: Some(fx.merchant_account.as_str().to_owned()),
        currency: "usd".to_owned(),
        available: fx.batch.total.amount_minor(),
        pending: 0,
    })?;
    // Let the sandbox's one-second window and the client's burst refill.
    tokio::time::sleep(Duration::from_secs(2)).await;

    // 429s after the first two seconds (the first burst) are counted apart.
    let after_burst = Arc::new(AtomicU64::new(u64::MAX));
    let watcher = {
        let engine = Arc::clone(&fx.engine);
        let after_burst = Arc::clone(&after_burst);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(2)).await;
            after_burst.store(calls(&engine, "rate_limited"), Ordering::SeqCst);
        })
    };
    let limited_before = calls(&fx.engine, "rate_limited");
    let calls_before: u64 = fx.engine.stripe_call_counts().iter().map(|(_, n)| n).sum();
    let t = Instant::now();
    let (posted, failed, ambiguous) = fixture::execute(&fx.engine, fx.batch.id).await?;
    let wall_s = t.elapsed().as_secs_f64();
    watcher.abort();
    let limited = calls(&fx.engine, "rate_limited") - limited_before;
    let all_calls: u64 = fx
        .engine
        .stripe_call_counts()
        .iter()
        .map(|(_, n)| n)
        .sum::<u64>()
        - calls_before;
    let at_2s = after_burst.load(Ordering::SeqCst);
    let beyond_burst = if at_2s == u64::MAX {
        0
    } else {
        calls(&fx.engine, "rate_limited") - at_2s
    };
    let ledger = sandbox.ledger(&LedgerFilter::default());
    let n = u64::try_from(items)?;
    if posted != n || ledger.count != items + usize::try_from(baseline_items)? {
        return Err(fail(format!(
            "posted {posted} (failed {failed}, ambiguous {ambiguous}), sandbox has {} transfers",
            ledger.count
        )));
    }
    let ideal_s = items as f64 / f64::from(RATE);
    let achieved = items as f64 / wall_s;
    let pct = 100.0 * ideal_s / wall_s;
    let speedup = achieved / baseline_rate;
    let calls_per_item = all_calls as f64 / items as f64;
    let share_429 = 100.0 * limited as f64 / all_calls.max(1) as f64;
    let baseline_full_s = items as f64 / baseline_rate;
    sandbox.stop().await;
    Ok(vec![
        Figure {
            id: "P1".into(),
            figure: Some(pct),
            unit: "% of the transfer operation's 25/s",
            goal: ">= 95% of 25 transfers/s; 429s <= 1% of calls; <= 1.02 calls per item",
            met: pct >= 95.0 && share_429 <= 1.0 && calls_per_item <= 1.02,
            extra: json!({
                "items": items, "wall_s": crate::round3(wall_s), "ideal_s": ideal_s,
                "items_per_s": crate::round3(achieved), "latency_ms": LATENCY_MS,
                "rate_limit": RATE, "gateway_pace": PACE,
                "concurrency": EXEC.concurrency, "claim_size": EXEC.claim_size,
                "http_429_total": limited, "http_429_after_first_2s": beyond_burst,
                "http_429_share_pct": crate::round3(share_429),
                "calls": all_calls, "calls_per_item": crate::round3(calls_per_item),
                "limiter": "stripe live model (per account 100/s, per operation 25/s)",
                "backend": "sqlite",
            }),
        },
        Figure {
            id: "P1-vs-baseline".into(),
            figure: Some(speedup),
            unit: "x faster than a sequential loop",
            goal: "> 7x",
            met: speedup > 7.0,
            extra: json!({
                "baseline_items": baseline_items,
                "baseline_s": crate::round3(baseline_s),
                "baseline_items_per_s": crate::round3(baseline_rate),
                "baseline_extrapolated_s_for_all_items": crate::round3(baseline_full_s),
                "extrapolated": true,
            }),
        },
    ])
}
