//! P4: webhook intake through the real HTTP server (`payouts_http::server`,
//! SQLite): every request is signed (`Stripe-Signature`), verified, parsed,
//! deduplicated by event id, and a `payout.paid` event records a bank payout
//! (one write); one event in ten is a re-delivery (a duplicate).
//!
//! Two loads: a closed loop of `IN_FLIGHT` requests, which finds the
//! saturation throughput (the events/s figure; its latency is queueing set
//! by `IN_FLIGHT`), then an open loop offering the goal's 3,000 events/s
//! (the p99 figure: the latency each event gets at the goal's rate).

use payouts_stripe::LimitMode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use payouts_http::{AppState, HttpSettings, JwtSecret};
use secrecy::SecretString;
use serde_json::json;

use crate::fixture::{self, Backend, Env};
use crate::{BenchResult, Figure, fail, note};

const IN_FLIGHT: usize = 48;
/// The goal's throughput, offered open-loop for the latency figure.
const GOAL_RATE: u32 = 3_000;
const HTTP_WORKERS: usize = 2;
const SECRET: &str = "whsec_payouts_bench_p4";

fn body(i: usize, now: i64) -> String {
    json!({
        "id": format!("evt_bench{}", i),
        "object": "event",
        "type": "payout.paid",
        "created": now,
        "livemode": false,
        "account": format!("acct_bench{}", i % 50),
        "data": {"object": {
            "id": format!("po_bench{}", i), "object": "payout", "amount": 1_200 + i % 1_000,
            "currency": "usd", "status": "paid", "failure_code": null, "arrival_date": now,
        }},
    })
    .to_string()
}

/// Sends event `i` (every tenth a re-delivery of an event sent before),
/// signed; true on a 2xx with its body read.
async fn send_one(client: &reqwest::Client, url: &str, secret: &SecretString, i: usize) -> bool {
    let event = if i % 10 == 9 { i / 2 } else { i };
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let payload = body(event, now);
    let signature = payouts_stripe::webhook::sign(secret, now, payload.as_bytes());
    match client
        .post(url)
        .header("stripe-signature", signature)
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
    {
        Ok(r) => {
            let ok = r.status().is_success();
            ok && r.bytes().await.is_ok()
        }
        Err(_) => false,
    }
}

/// Sends events `range` open-loop at `per_second`, each on its own task at
/// its scheduled time whatever the earlier ones are doing; a latency runs
/// from the scheduled time (so a stalled server cannot hide its backlog).
async fn load_at_rate(
    url: &str,
    range: std::ops::Range<usize>,
    per_second: u32,
) -> BenchResult<(Vec<u64>, usize)> {
    let secret = SecretString::from(SECRET);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(256)
        .build()?;
    let start = tokio::time::Instant::now();
    let mut tasks = Vec::with_capacity(range.len());
    for (k, i) in range.enumerate() {
        let due = start + Duration::from_secs(1) * u32::try_from(k)? / per_second;
        tokio::time::sleep_until(due).await;
        let (client, secret, url) = (client.clone(), secret.clone(), url.to_owned());
        tasks.push(tokio::spawn(async move {
            let ok = send_one(&client, &url, &secret, i).await;
            (
                u64::try_from(due.elapsed().as_micros()).unwrap_or(u64::MAX),
                ok,
            )
        }));
    }
    let mut latencies = Vec::with_capacity(tasks.len());
    let mut errors = 0;
    for task in tasks {
        let (latency, ok) = task.await?;
        latencies.push(latency);
        if !ok {
            errors += 1;
        }
    }
    Ok((latencies, errors))
}

/// p50, p99 and max of `latencies` (µs) in ms.
fn percentiles(latencies: &mut [u64]) -> (f64, f64, f64) {
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        let idx = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies.get(idx).map_or(0.0, |us| *us as f64 / 1000.0)
    };
    (pct(0.50), pct(0.99), pct(1.0))
}

/// Sends events `range` (a duplicate of an earlier one for every tenth),
/// `IN_FLIGHT` at a time; returns latencies in microseconds and errors.
async fn load(url: &str, range: std::ops::Range<usize>) -> BenchResult<(Vec<u64>, usize)> {
    let secret = SecretString::from(SECRET);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(IN_FLIGHT)
        .build()?;
    let next = Arc::new(AtomicUsize::new(range.start));
    let mut tasks = Vec::new();
    for _ in 0..IN_FLIGHT {
        let (client, next, secret, url) = (
            client.clone(),
            Arc::clone(&next),
            secret.clone(),
            url.to_owned(),
        );
        let end = range.end;
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut errors = 0_usize;
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= end {
                    break;
                }
                let t = Instant::now();
                let ok = send_one(&client, &url, &secret, i).await;
                latencies.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                if !ok {
                    errors += 1;
                }
            }
            (latencies, errors)
        }));
    }
    let mut all = Vec::new();
    let mut errors = 0;
    for task in tasks {
        let (mut l, e) = task.await?;
        all.append(&mut l);
        errors += e;
    }
    Ok((all, errors))
}

pub async fn run(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let events = if quick { 3_000 } else { 30_000 };
    let warmup = 500;
    let store = env
        .store(Backend::Sqlite)
        .await?
        .ok_or_else(|| fail("no SQLite"))?;
    let gateway = fixture::gateway(
        "http://127.0.0.1:9",
        100,
        LimitMode::Unlimited,
        Some(SecretString::from(SECRET)),
    )?;
    let engine = Arc::new(fixture::engine(store, gateway, fixture::Exec::DEFAULT)?);
    let state = AppState::new(engine, HttpSettings::default());
    let jwt =
        JwtSecret::new(b"payouts-bench-jwt-secret-0123456789abcdef".to_vec()).map_err(fail)?;
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let url = format!("http://{}/webhooks/stripe", listener.local_addr()?);
    let server = payouts_http::server(listener, state, jwt, HTTP_WORKERS)?;
    let handle = server.handle();
    let running = tokio::spawn(server);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (_, warm_errors) = load(&url, 0..warmup).await?;
    // Saturation: as many events/s as the server takes, IN_FLIGHT at a time.
    let t = Instant::now();
    let (mut latencies, errors) = load(&url, warmup..warmup + events).await?;
    let wall_s = t.elapsed().as_secs_f64();
    let (sat_p50, sat_p99, sat_max) = percentiles(&mut latencies);
    let rate = events as f64 / wall_s;
    note!(
        "p4 saturated: {events} events in {wall_s:.2} s ({rate:.0}/s), \
         p50 {sat_p50:.2} ms, p99 {sat_p99:.2} ms"
    );
    // The goal's rate, offered open-loop: the latency an intake sustaining
    // 3,000 events/s gives each event.
    let first = warmup + events;
    let t = Instant::now();
    let (mut latencies, paced_errors) =
        load_at_rate(&url, first..first + events, GOAL_RATE).await?;
    let paced_s = t.elapsed().as_secs_f64();
    let (p50, p99, max) = percentiles(&mut latencies);
    note!(
        "p4 at {GOAL_RATE}/s: {events} events in {paced_s:.2} s, p50 {p50:.2} ms, p99 {p99:.2} ms"
    );
    handle.stop(true).await;
    running.await??;
    if errors + warm_errors + paced_errors > 0 {
        return Err(fail(format!(
            "{} webhook requests failed",
            errors + warm_errors + paced_errors
        )));
    }
    Ok(vec![
        Figure {
            id: "P4".into(),
            figure: Some(rate),
            unit: "events/s",
            goal: ">= 3000 events/s",
            met: rate >= 3_000.0,
            extra: json!({
                "events": events, "duplicates_share": 0.1, "in_flight": IN_FLIGHT,
                "http_workers": HTTP_WORKERS, "backend": "sqlite", "wall_s": crate::round3(wall_s),
                "event_type": "payout.paid",
            }),
        },
        Figure {
            id: "P4-p99".into(),
            figure: Some(p99),
            unit: "ms p99 latency at 3,000 events/s offered (open loop)",
            goal: "< 20 ms",
            met: p99 < 20.0,
            extra: json!({
                "p50_ms": crate::round3(p50), "max_ms": crate::round3(max),
                "offered_per_s": GOAL_RATE, "events": events,
                "achieved_per_s": crate::round3(events as f64 / paced_s),
                "saturated_p50_ms": crate::round3(sat_p50),
                "saturated_p99_ms": crate::round3(sat_p99),
                "saturated_max_ms": crate::round3(sat_max),
                "saturated_in_flight": IN_FLIGHT,
            }),
        },
    ])
}
