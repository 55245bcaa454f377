//! P1's other setups (issue 13), each against the sandbox applying Stripe's
//! documented limiter, 300 ms per call, the gateway pacing to the model:
//!
//! * P1-many: 40 merchants × 250 items at once, one engine on PostgreSQL:
//!   ≥ 90 % of 40 × 25 transfers/s in total, 429s ≤ 1 % of calls (and
//!   `P1-many-sqlite`, the same on SQLite, for comparison);
//! * P1-test: test mode (25/s per account), one merchant, 2,000 items:
//!   ≥ 95 % of 25/s, 429s ≤ 1 %;
//! * P1-two: two engines (two instances: their own pools, pacers and worker
//!   ids) on one PostgreSQL paying one merchant's 2,000 items, both asked to
//!   execute it at once: ≥ 90 % of 25/s, 429s ≤ 1 %, exactly one transfer
//!   per item.

use std::sync::Arc;
use std::time::Instant;

use payouts_stripe::LimitMode;
use serde_json::json;
use stripe_sandbox::control::Latency;
use stripe_sandbox::limiter::{LimiterModel, RateLimitMode};
use stripe_sandbox::{LedgerFilter, SandboxHandle};

use crate::fixture::{self, Backend, Env, Exec};
use crate::{BenchResult, Figure, fail, note};

const LATENCY_MS: u64 = 300;
/// Stripe's per-operation limit (and test mode's per-account one).
const RATE: f64 = 25.0;
const PACE: u32 = payouts_stripe::DEFAULT_OPS_CAP;
const EXEC: Exec = Exec::DEFAULT;

/// Calls and 429s of a set of engines, summed.
fn totals(engines: &[&fixture::Engine]) -> (u64, u64) {
    engines.iter().fold((0, 0), |(all, limited), e| {
        let calls: u64 = e.stripe_call_counts().iter().map(|(_, n)| n).sum();
        (all + calls, limited + fixture::calls(e, "rate_limited"))
    })
}

fn slow_limited(sandbox: &SandboxHandle, mode: RateLimitMode) {
    sandbox.set_latency(Latency {
        fixed_ms: LATENCY_MS,
        jitter_ms: 0,
    });
    sandbox.set_rate_limits(LimiterModel::for_mode(mode));
}

/// What one timed execution measured.
struct Measured {
    items: usize,
    wall_s: f64,
    calls: u64,
    limited: u64,
}

impl Measured {
    fn items_per_s(&self) -> f64 {
        self.items as f64 / self.wall_s
    }

    /// 429s as a share of the calls, in %.
    fn share_429(&self) -> f64 {
        100.0 * self.limited as f64 / self.calls.max(1) as f64
    }

    /// The figure's context, with `more` added.
    fn extra(&self, more: serde_json::Value) -> serde_json::Value {
        let mut extra = json!({
            "items": self.items, "wall_s": crate::round3(self.wall_s),
            "items_per_s": crate::round3(self.items_per_s()), "latency_ms": LATENCY_MS,
            "http_429_total": self.limited,
            "http_429_share_pct": crate::round3(self.share_429()),
            "calls": self.calls,
            "calls_per_item": crate::round3(self.calls as f64 / self.items as f64),
        });
        if let (Some(all), serde_json::Value::Object(more)) = (extra.as_object_mut(), more) {
            all.extend(more);
        }
        extra
    }
}

/// Every item of the ledger paid once, and `expected` of them.
fn exactly_once(sandbox: &SandboxHandle, expected: usize) -> BenchResult<()> {
    let ledger = sandbox.ledger(&LedgerFilter::default());
    let twice = ledger
        .counts_by_item_id
        .values()
        .filter(|n| **n != 1)
        .count();
    if ledger.count != expected || ledger.counts_by_item_id.len() != expected || twice != 0 {
        return Err(fail(format!(
            "{} transfers for {} items ({twice} paid more than once), expected {expected}",
            ledger.count,
            ledger.counts_by_item_id.len()
        )));
    }
    Ok(())
}

/// P1-many on PostgreSQL (the figure), then on SQLite (`P1-many-sqlite`,
/// for comparison: its one writer at a time is what binds there).
pub async fn many(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let mut figures = many_on(env, quick, Backend::Postgres).await?;
    figures.extend(many_on(env, quick, Backend::Sqlite).await?);
    Ok(figures)
}

async fn many_on(env: &mut Env, quick: bool, backend: Backend) -> BenchResult<Vec<Figure>> {
    let (merchants, per) = if quick { (4, 25) } else { (40, 250) };
    let id = match backend {
        Backend::Postgres => "P1-many",
        Backend::Sqlite => "P1-many-sqlite",
    };
    let Some((store, _)) = env.store_and_url(backend).await? else {
        note!("{id}: no PostgreSQL, skipped");
        return Ok(vec![Figure {
            id: id.into(),
            figure: None,
            unit: "% of merchants x 25 transfers/s in total",
            goal: ">= 90% of merchants x 25/s in total; 429s <= 1% of calls",
            met: false,
            extra: json!({"skipped": "no PostgreSQL"}),
        }]);
    };
    let sandbox = env.sandbox(2).await?;
    let t = Instant::now();
    let engine = Arc::new(fixture::engine(
        store.clone(),
        fixture::gateway(&sandbox.base_url(), PACE, LimitMode::Live, None)?,
        EXEC,
    )?);
    let mut batches = Vec::with_capacity(merchants);
    for _ in 0..merchants {
        batches.push(fixture::merchant_batch(&engine, &store, &sandbox, per, 2).await?);
    }
    note!(
        "{id}: {merchants} merchants x {per} items ready in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    slow_limited(&sandbox, RateLimitMode::Live);
    let (calls_before, limited_before) = totals(&[&engine]);
    let t = Instant::now();
    let mut runs = Vec::with_capacity(merchants);
    for b in &batches {
        let engine = Arc::clone(&engine);
        let id = b.batch.id;
        runs.push(tokio::spawn(async move {
            let r = fixture::execute(&engine, id).await;
            (r, t.elapsed().as_secs_f64())
        }));
    }
    let mut posted = 0;
    let (mut first_done, mut last_done) = (f64::MAX, 0.0_f64);
    for run in runs {
        let (r, done) = run.await?;
        posted += r?.0;
        first_done = first_done.min(done);
        last_done = last_done.max(done);
    }
    let wall_s = t.elapsed().as_secs_f64();
    let (calls_after, limited_after) = totals(&[&engine]);
    let items = merchants * per;
    if posted != u64::try_from(items)? {
        return Err(fail(format!("posted {posted} of {items}")));
    }
    exactly_once(&sandbox, items)?;
    let m = Measured {
        items,
        wall_s,
        calls: calls_after - calls_before,
        limited: limited_after - limited_before,
    };
    let ideal = RATE * merchants as f64;
    let pct = 100.0 * m.items_per_s() / ideal;
    sandbox.stop().await;
    Ok(vec![Figure {
        id: id.into(),
        figure: Some(pct),
        unit: "% of merchants x 25 transfers/s in total",
        goal: ">= 90% of merchants x 25/s in total; 429s <= 1% of calls",
        met: pct >= 90.0 && m.share_429() <= 1.0,
        extra: m.extra(json!({
            "merchants": merchants, "items_per_merchant": per,
            "ideal_items_per_s": ideal,
            "limiter": "stripe live model (per account 100/s, per operation 25/s)",
            "first_merchant_done_s": crate::round3(first_done),
            "last_merchant_done_s": crate::round3(last_done),
            "backend": backend.name(), "engines": 1,
        })),
    }])
}

pub async fn test_mode(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let items = if quick { 200 } else { 2_000 };
    let store = env
        .store(Backend::Sqlite)
        .await?
        .ok_or_else(|| fail("no SQLite"))?;
    let sandbox = env.sandbox(2).await?;
    let fx = fixture::exec_fixture(store, &sandbox, PACE, LimitMode::Test, EXEC, items).await?;
    note!("p1-test: {items} items ready in {:.1} s", fx.setup_s);
    slow_limited(&sandbox, RateLimitMode::Test);
    let (calls_before, limited_before) = totals(&[&fx.engine]);
    let t = Instant::now();
    let (posted, failed, ambiguous) = fixture::execute(&fx.engine, fx.batch.id).await?;
    let wall_s = t.elapsed().as_secs_f64();
    let (calls_after, limited_after) = totals(&[&fx.engine]);
    if posted != u64::try_from(items)? {
        return Err(fail(format!(
            "posted {posted} of {items} (failed {failed}, ambiguous {ambiguous})"
        )));
    }
    exactly_once(&sandbox, items)?;
    let m = Measured {
        items,
        wall_s,
        calls: calls_after - calls_before,
        limited: limited_after - limited_before,
    };
    let pct = 100.0 * m.items_per_s() / RATE;
    sandbox.stop().await;
    Ok(vec![Figure {
        id: "P1-test".into(),
        figure: Some(pct),
        unit: "% of test mode's 25/s",
        goal: ">= 95% of 25 transfers/s; 429s <= 1% of calls",
        met: pct >= 95.0 && m.share_429() <= 1.0,
        extra: m.extra(json!({
            "limiter": "stripe test model (per account 25/s, per operation 25/s)",
            "backend": "sqlite",
        })),
    }])
}

pub async fn two(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let items = if quick { 200 } else { 2_000 };
    let Some((store, url)) = env.store_and_url(Backend::Postgres).await? else {
        note!("p1-two: no PostgreSQL, skipped");
        return Ok(vec![Figure {
            id: "P1-two".into(),
            figure: None,
            unit: "% of 25 transfers/s, two instances",
            goal: ">= 90% of 25/s; 429s <= 1%; exactly one transfer per item",
            met: false,
            extra: json!({"skipped": "no PostgreSQL"}),
        }]);
    };
    let sandbox = env.sandbox(2).await?;
    let fx = fixture::exec_fixture(store, &sandbox, PACE, LimitMode::Live, EXEC, items).await?;
    // The second instance: its own pool, pacer and worker id.
    let other_store = payouts_store::SeaOrmStore::connect(&url).await?;
    let other = Arc::new(fixture::engine_named(
        other_store,
        fixture::gateway(&sandbox.base_url(), PACE, LimitMode::Live, None)?,
        EXEC,
        "bench-b",
    )?);
    note!("p1-two: {items} items ready in {:.1} s", fx.setup_s);
    slow_limited(&sandbox, RateLimitMode::Live);
    let (calls_before, limited_before) = totals(&[&fx.engine, &other]);
    let t = Instant::now();
    let id = fx.batch.id;
    let a = {
        let engine = Arc::clone(&fx.engine);
        tokio::spawn(async move { fixture::execute(&engine, id).await })
    };
    let b = {
        let engine = Arc::clone(&other);
        tokio::spawn(async move { fixture::execute(&engine, id).await })
    };
    let (by_a, by_b) = (a.await??.0, b.await??.0);
    let wall_s = t.elapsed().as_secs_f64();
    let (calls_after, limited_after) = totals(&[&fx.engine, &other]);
    if by_a + by_b != u64::try_from(items)? {
        return Err(fail(format!("posted {by_a} + {by_b} of {items}")));
    }
    exactly_once(&sandbox, items)?;
    let m = Measured {
        items,
        wall_s,
        calls: calls_after - calls_before,
        limited: limited_after - limited_before,
    };
    let pct = 100.0 * m.items_per_s() / RATE;
    sandbox.stop().await;
    Ok(vec![Figure {
        id: "P1-two".into(),
        figure: Some(pct),
        unit: "% of 25 transfers/s, two instances",
        goal: ">= 90% of 25/s; 429s <= 1%; exactly one transfer per item",
        met: pct >= 90.0 && m.share_429() <= 1.0,
        extra: m.extra(json!({
            "posted_by_a": by_a, "posted_by_b": by_b,
            "exactly_one_transfer_per_item": true,
            "coordination": "a lease per source account in PostgreSQL: one instance pays from it at a time",
            "backend": "postgres",
        })),
    }])
}
