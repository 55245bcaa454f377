//! P4: webhook intake through the real HTTP server (`payouts_http::server`,
//! SQLite): every request is signed (`Stripe-Signature`), verified, parsed,
//! deduplicated by event id, and a `payout.paid` event records a bank payout
//! (one write); one event in ten is a re-delivery (a duplicate).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use payouts_http::{AppState, HttpSettings, JwtSecret};
use secrecy::SecretString;
use serde_json::json;

use crate::fixture::{self, Backend, Env};
use crate::{BenchResult, Figure, fail, note};

const IN_FLIGHT: usize = 48;
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
                // Every tenth is a re-delivery of an event sent before.
                let event = if i % 10 == 9 { i / 2 } else { i };
                let now = time::OffsetDateTime::now_utc().unix_timestamp();
                let payload = body(event, now);
                let signature = payouts_stripe::webhook::sign(&secret, now, payload.as_bytes());
                let t = Instant::now();
                let ok = match client
                    .post(&url)
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
                };
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
    let gateway = fixture::gateway("http://127.0.0.1:9", 100, Some(SecretString::from(SECRET)))?;
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
    let t = Instant::now();
    let (mut latencies, errors) = load(&url, warmup..warmup + events).await?;
    let wall_s = t.elapsed().as_secs_f64();
    handle.stop(true).await;
    running.await??;
    if errors + warm_errors > 0 {
        return Err(fail(format!(
            "{} webhook requests failed",
            errors + warm_errors
        )));
    }
    latencies.sort_unstable();
    let pct = |p: f64| -> f64 {
        let idx = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        latencies.get(idx).map_or(0.0, |us| *us as f64 / 1000.0)
    };
    let (p50, p99, max) = (pct(0.50), pct(0.99), pct(1.0));
    let rate = events as f64 / wall_s;
    note!("p4: {events} events in {wall_s:.2} s, p50 {p50:.2} ms, p99 {p99:.2} ms");
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
            unit: "ms p99 latency",
            goal: "< 20 ms",
            met: p99 < 20.0,
            extra: json!({"p50_ms": crate::round3(p50), "max_ms": crate::round3(max)}),
        },
    ])
}
