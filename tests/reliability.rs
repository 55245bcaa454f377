//! Reliability (issue 6): a 1,000-item batch paid exactly once through
//! crashes, two instances, ambiguous answers and forgotten idempotency keys.
//!
//! The batch is seeded through the engine (partners onboarded in the
//! sandbox, one conversion each, finalized, built, approved by a person);
//! the payment itself is made by the real code: `payouts serve` as a child
//! process (tests 1 and 2), the service started in-process exactly as
//! `serve` starts it (test 3), and the engine's `resume_batch` — what the
//! scheduler's `reconcile` job calls — with a clock that moves with the
//! sandbox's (test 4).
//!
//! Each test ends with: one transfer per item in the sandbox ledger, of the
//! manifest's amount; every item `posted`; the batch completed; and
//! `check_ledger(program).balanced()`. Each prints a one-line summary on
//! stderr (`-- --nocapture`) and appends it to
//! `target/<profile>/reliability-summary.txt`.
//!
//! Tests 1 and 2 need the `payouts` and `stripe-sandbox` binaries in the
//! same target dir: `cargo test --workspace` builds them; with `cargo test
//! -p payouts-e2e --test reliability` run `cargo build -p payouts -p
//! stripe-sandbox` first. `PAYOUTS_CHAOS_SEED=N` replays a run's kills and
//! fault choices.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use payouts_domain::batch::BatchState;
use payouts_domain::item::ItemState;
use payouts_domain::ports::Clock;
use payouts_e2e::reliability::{
    Ctl, OffsetClock, Rng, Scratch, Seeded, all_items, assert_exactly_once, engine, engine_with,
    progress, seed, spawn_sandbox, spawn_serve, summary, system_clock, wait_settled,
};
use payouts_e2e::{App, JWT_SECRET, mint};
use payouts_http::{JwtSecret, Role};
use reqwest::StatusCode;
use stripe_sandbox::{ErrorType, FaultSpec};

const ITEMS: usize = 1_000;
/// At least this many `kill -9`s per crash drill.
const MIN_KILLS: u32 = 20;
/// Scheduler tick of the spawned services.
const TICK_MS: u64 = 200;

fn admin_token() -> String {
    mint(
        &JwtSecret::new(JWT_SECRET).unwrap(),
        &[Role::TenantAdmin],
        payouts_e2e::reliability::MERCHANT,
        None,
    )
}

/// `POST /api/v1/batches/{id}/execute` on a service; expects 202.
async fn post_execute(base: &str, seeded: &Seeded) {
    let res = reqwest::Client::new()
        .post(format!("{base}/api/v1/batches/{}/execute", seeded.batch))
        .bearer_auth(admin_token())
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    let status = res.status();
    let body = res.text().await.unwrap();
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
}

async fn postgres_url() -> Option<String> {
    // Under CI=true a missing PostgreSQL fails here instead of skipping.
    payouts_store::testing::fresh_postgres_database()
        .await
        .unwrap()
}

/// Test 1: the real binary is `kill -9`ed at random moments while it pays
/// (and restarted each time) until the batch completes.
async fn crash_drill(label: &str, scratch: &Scratch, database_url: &str) {
    let started = Instant::now();
    let (mut rng, seed_value) = Rng::from_env();
    eprintln!("reliability: crash recovery {label}: PAYOUTS_CHAOS_SEED={seed_value}");
    let sandbox = spawn_sandbox(&scratch.0);
    let ctl = Ctl::new(&sandbox.base);
    let observer = engine(database_url, &sandbox.base, system_clock(), "observer").await;
    let seeded = seed(&observer, &ctl, ITEMS).await;
    // Every transfer takes 10–40 ms and a run sends 4 at a time (about 150
    // items/s at most): the batch is still being paid when the kills come,
    // and a kill lands with transfers in flight.
    ctl.set_latency(10, 30).await;
    let log = scratch.0.join("payouts.log");
    let child_env = [("PAYOUTS_EXEC_CONCURRENCY", "4")];
    // Restarted under the same worker id, as an orchestrator restarts an
    // instance: it takes its account lease back at once, so every restart
    // pays (and is killed) with transfers in flight. (A new id would wait
    // for the dead one's account lease, 10 s.)
    let node = Some("crash-node");
    let mut app = spawn_serve(&log, database_url, &sandbox.base, TICK_MS, node, &child_env);
    post_execute(&app.base, &seeded).await;
    // Until the batch is `executing`, only the execute call would pay it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while progress(&observer, seeded.batch).await.1 == BatchState::Approved {
        assert!(Instant::now() < deadline, "the batch never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut kills = 0u32;
    let mut kills_mid_batch = 0u32;
    let mut posted_at_kills = Vec::new();
    while kills < MIN_KILLS {
        tokio::time::sleep(Duration::from_millis(rng.range(150, 900))).await;
        let (s, _) = progress(&observer, seeded.batch).await;
        app.kill9();
        kills += 1;
        if !s.is_settled() {
            kills_mid_batch += 1;
        }
        posted_at_kills.push(s.posted_count);
        app = spawn_serve(&log, database_url, &sandbox.base, TICK_MS, node, &child_env);
    }
    let kills_done = started.elapsed();
    // Items claimed by a killed process come back when its 10 s claims
    // lapse: the reconcile sweep (every 200 ms here, 5 s by default) or a
    // live run takes them then.
    let waited = wait_settled(&observer, seeded.batch, Duration::from_secs(150)).await;
    app.kill9();
    let outcome = assert_exactly_once(&observer, &ctl, &seeded).await;
    summary(&format!(
        "reliability: crash recovery {label}: seed={seed_value}, kills={kills} \
         ({kills_mid_batch} while items were open; posted at each kill: {posted_at_kills:?}), \
         items={}, transfers={}, posted={}, seed time={:.1}s, kills over {:.1}s, \
         settled {:.1}s after the last kill, total {:.1}s, ledger balanced",
        outcome.items,
        outcome.transfers,
        outcome.posted,
        seeded.took.as_secs_f64(),
        (kills_done - seeded.took).as_secs_f64(),
        waited.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    ));
    assert!(
        kills_mid_batch >= 1,
        "no kill landed while the batch was open"
    );
    // Not 60 s as with one-minute claims: the last killed run's claims
    // lapse after 10 s, and what was left of the batch is paid at the
    // transfer operation's paced 24/s.
    let left = ITEMS - usize::try_from(*posted_at_kills.last().unwrap()).unwrap();
    let paced = Duration::from_secs_f64(left as f64 / 24.0);
    assert!(
        waited < Duration::from_secs(10) + paced + Duration::from_secs(15),
        "a killed worker's items came back after {waited:?} ({left} items left, {paced:?} paced)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_sqlite() {
    let scratch = Scratch::new("crash-sqlite");
    let url = scratch.sqlite_url();
    crash_drill("sqlite", &scratch, &url).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_recovery_postgres() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let scratch = Scratch::new("crash-pg");
    crash_drill("postgres", &scratch, &url).await;
}

/// Test 2: two `payouts serve` processes, scheduler on, on one PostgreSQL,
/// both told to execute the same batch at the same moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_on_postgres() {
    let Some(url) = postgres_url().await else {
        return;
    };
    let started = Instant::now();
    let scratch = Scratch::new("two");
    let sandbox = spawn_sandbox(&scratch.0);
    let ctl = Ctl::new(&sandbox.base);
    let observer = engine(&url, &sandbox.base, system_clock(), "observer").await;
    let seeded = seed(&observer, &ctl, ITEMS).await;
    ctl.set_latency(2, 8).await;
    let a = spawn_serve(
        &scratch.0.join("a.log"),
        &url,
        &sandbox.base,
        TICK_MS,
        Some("node-a"),
        &[],
    );
    let b = spawn_serve(
        &scratch.0.join("b.log"),
        &url,
        &sandbox.base,
        TICK_MS,
        Some("node-b"),
        &[],
    );
    tokio::join!(
        post_execute(&a.base, &seeded),
        post_execute(&b.base, &seeded)
    );
    let waited = wait_settled(&observer, seeded.batch, Duration::from_secs(150)).await;
    a.kill9();
    b.kill9();
    let outcome = assert_exactly_once(&observer, &ctl, &seeded).await;
    // Who paid what, from each process's own log of its execution runs.
    let posted_by = |log: &str| -> u64 {
        std::fs::read_to_string(scratch.0.join(log))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("batch execution finished") || l.contains("batch resumed"))
            .filter_map(|l| {
                let at = l.find(" posted=")?;
                l[at + 8..]
                    .split(|c: char| !c.is_ascii_digit())
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum()
    };
    let (by_a, by_b) = (posted_by("a.log"), posted_by("b.log"));
    // One worker at a time pays from the merchant's account (its lease):
    // the other's runs waited, or deferred, and found nothing left.
    assert!(
        by_a == 0 || by_b == 0,
        "both paid from one account at once: node-a {by_a}, node-b {by_b}"
    );
    summary(&format!(
        "reliability: two instances postgres: items={}, transfers={}, posted={}, \
         posted by node-a={by_a}, by node-b={by_b} (from their logs), executed in {:.1}s, \
         seed time={:.1}s, total {:.1}s, ledger balanced",
        outcome.items,
        outcome.transfers,
        outcome.posted,
        waited.as_secs_f64(),
        seeded.took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    ));
}

/// One `execute_batch` call waits for its delayed items instead of ending:
/// transfers whose answers are lost three times over (the gateway's own
/// attempts) back off for 2 s, and the same run re-sends them with the same
/// key and completes the batch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_run_waits_for_its_delayed_items() {
    let scratch = Scratch::new("tail");
    let url = scratch.sqlite_url();
    let sandbox = spawn_sandbox(&scratch.0);
    let ctl = Ctl::new(&sandbox.base);
    let engine = engine(&url, &sandbox.base, system_clock(), "tail").await;
    let seeded = seed(&engine, &ctl, 30).await;
    let delayed: Vec<_> = seeded.manifest.keys().take(3).copied().collect();
    for id in &delayed {
        ctl.add_fault(
            &FaultSpec::commit_then_drop("/v1/transfers", 3)
                .with_method("POST")
                .with_contains(&id.to_string()),
        )
        .await;
    }
    let started = Instant::now();
    let report = engine.execute_batch(seeded.batch).await.unwrap();
    let took = started.elapsed();
    assert_eq!(report.ambiguous, 3, "{report:?}");
    assert_eq!(report.posted, 30, "{report:?}");
    assert_eq!(
        report.batch_state,
        Some(BatchState::Completed),
        "{report:?}"
    );
    // The back-off is 2 s (plus the scheduling of the run's looks).
    assert!(took >= Duration::from_secs(2), "{took:?}");
    assert!(took < Duration::from_secs(20), "{took:?}");
    let outcome = assert_exactly_once(&engine, &ctl, &seeded).await;
    summary(&format!(
        "reliability: one run waits for its delayed items: items={}, transfers={}, 3 answers lost 3 times each, one run completed the batch in {:.1}s",
        outcome.items,
        outcome.transfers,
        took.as_secs_f64()
    ));
}

/// Test 3: commit-then-drop on ~10 % of the transfers, 5xx on ~5 %, and
/// bursts of 429; the service (in-process, started as `serve` starts it,
/// scheduler on) pays every item exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ambiguous_answers_rate_limits_and_5xx() {
    let started = Instant::now();
    let (mut rng, seed_value) = Rng::from_env();
    let scratch = Scratch::new("ambiguity");
    let url = scratch.sqlite_url();
    let app = App::start_with(&url, |s| {
        s.server.scheduler = true;
        s.server.scheduler_tick_ms = Some(TICK_MS);
        s.engine.worker_id = Some("ambiguity".to_owned());
    })
    .await;
    let ctl = Ctl::new(&app.sb.base_url());
    let observer = engine(&url, &app.sb.base_url(), system_clock(), "observer").await;
    let seeded = seed(&observer, &ctl, ITEMS).await;
    ctl.set_latency(1, 4).await;
    // A seeded shuffle of the items: the first 10 % are committed then
    // dropped (1–4 times in a row: the gateway's own 3 attempts can all be
    // lost, leaving the item `submitting` for the engine to re-send), the
    // next 5 % meet 500/502/503 before executing.
    let mut ids: Vec<_> = seeded.manifest.keys().copied().collect();
    for i in (1..ids.len()).rev() {
        let j = usize::try_from(rng.range(0, i as u64)).unwrap();
        ids.swap(i, j);
    }
    let mut dropped_faults = 0u32;
    for id in &ids[..ITEMS / 10] {
        let count = u32::try_from(rng.range(1, 4)).unwrap();
        dropped_faults += count;
        ctl.add_fault(
            &FaultSpec::commit_then_drop("/v1/transfers", count)
                .with_method("POST")
                .with_contains(&id.to_string()),
        )
        .await;
    }
    let mut fivexx_faults = 0u32;
    for id in &ids[ITEMS / 10..ITEMS / 10 + ITEMS / 20] {
        let count = u32::try_from(rng.range(1, 3)).unwrap();
        fivexx_faults += count;
        let status = [500u16, 502, 503][usize::try_from(rng.range(0, 2)).unwrap()];
        let fault = FaultSpec {
            code: None,
            ..FaultSpec::fail("/v1/transfers", count, status, ErrorType::ApiError, "")
        }
        .with_method("POST")
        .with_contains(&id.to_string());
        ctl.add_fault(&fault).await;
    }
    // Bursts of 429: 25 requests per second for 1 s, every 3 s, while it runs.
    let stop = Arc::new(AtomicBool::new(false));
    let bursts = {
        let ctl = ctl.clone();
        let stop = Arc::clone(&stop);
        tokio::spawn(async move {
            let mut n = 0u32;
            while !stop.load(Ordering::SeqCst) && n < 8 {
                tokio::time::sleep(Duration::from_secs(2)).await;
                ctl.set_rate_limit(Some(25)).await;
                tokio::time::sleep(Duration::from_secs(1)).await;
                ctl.set_rate_limit(None).await;
                n += 1;
            }
            n
        })
    };
    let (s, body) = app
        .post(
            &format!("/api/v1/batches/{}/execute", seeded.batch),
            &app.token(
                &[Role::TenantAdmin],
                payouts_e2e::reliability::MERCHANT,
                None,
            ),
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{body}");
    let waited = wait_settled(&observer, seeded.batch, Duration::from_secs(240)).await;
    stop.store(true, Ordering::SeqCst);
    let bursts = bursts.await.unwrap();
    ctl.set_rate_limit(None).await;
    let left: u32 = app.sb.faults().iter().map(|f| f.remaining).sum();
    let resent = all_items(&observer, seeded.batch)
        .await
        .iter()
        .filter(|i| i.resends > 0)
        .count();
    let outcome = assert_exactly_once(&observer, &ctl, &seeded).await;
    app.stop().await;
    summary(&format!(
        "reliability: ambiguity sqlite: seed={seed_value}, items={}, transfers={}, posted={}, \
         commit_then_drop on {} items ({dropped_faults} drops armed), 5xx on {} items \
         ({fivexx_faults} armed), {left} armed faults never hit, 429 bursts={bursts}, \
         items re-sent by the engine after an ambiguous answer={resent}, executed in {:.1}s, \
         seed time={:.1}s, total {:.1}s, ledger balanced",
        outcome.items,
        outcome.transfers,
        outcome.posted,
        ITEMS / 10,
        ITEMS / 20,
        waited.as_secs_f64(),
        seeded.took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    ));
}

/// Test 4: items left `submitting` (their responses lost) while 25 h pass
/// on both the sandbox's clock and the engine's: the sandbox forgets their
/// idempotency keys, so a re-send would pay again. The engine must look the
/// transfers up by `transfer_group` instead, and post nothing new.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_expire_after_24h_and_reconciliation_finds_the_transfers() {
    let started = Instant::now();
    let (mut rng, seed_value) = Rng::from_env();
    let scratch = Scratch::new("keys");
    let url = scratch.sqlite_url();
    let sb = payouts_e2e::sandbox().await;
    let ctl = Ctl::new(&sb.base_url());
    let clock = Arc::new(OffsetClock::default());
    let shared: Arc<dyn Clock> = Arc::clone(&clock) as Arc<dyn Clock>;
    // The engine as `serve` wires it, but on a clock that moves with the
    // sandbox's, and with a short gateway backoff (tests only: the lost
    // responses are retried three times each).
    let engine = engine_with(&url, &sb.base_url(), shared, "keys", |c| {
        c.backoff_base = Duration::from_millis(10);
        c.backoff_max = Duration::from_millis(40);
    })
    .await;
    let seeded = seed(&engine, &ctl, ITEMS).await;
    let mut ids: Vec<_> = seeded.manifest.keys().copied().collect();
    for i in (1..ids.len()).rev() {
        let j = usize::try_from(rng.range(0, i as u64)).unwrap();
        ids.swap(i, j);
    }
    let lost: Vec<_> = ids[..ITEMS / 10].to_vec();
    for id in &lost {
        // Every answer for these items is lost for now.
        ctl.add_fault(
            &FaultSpec::commit_then_drop("/v1/transfers", 1_000)
                .with_method("POST")
                .with_contains(&id.to_string()),
        )
        .await;
    }
    // One pass each, as the scheduler's sweep makes them (an
    // `execute_batch` call would wait for the lost ones' back-offs).
    let first = engine.resume_batch(seeded.batch).await.unwrap();
    assert_eq!(first.posted as usize, ITEMS - lost.len(), "{first:?}");
    let items = all_items(&engine, seeded.batch).await;
    let submitting = items
        .iter()
        .filter(|i| matches!(i.state, ItemState::Submitting { .. }))
        .count();
    assert_eq!(submitting, lost.len(), "the lost ones stay submitting");
    // Stripe did commit them: the ledger already holds every transfer.
    assert_eq!(ctl.ledger().await.count, ITEMS);
    // 25 h pass for both; the sandbox forgets the keys.
    ctl.clear_faults().await;
    ctl.advance_clock(25 * 3600).await;
    clock.advance(25 * 3600);
    let skew = (sb.now() - clock.now().unix_timestamp()).abs();
    assert!(skew <= 2, "the clocks agree (skew {skew} s)");
    let second = engine.resume_batch(seeded.batch).await.unwrap();
    assert_eq!(second.reconciled as usize, lost.len(), "{second:?}");
    assert_eq!(second.posted as usize, lost.len(), "{second:?}");
    let outcome = assert_exactly_once(&engine, &ctl, &seeded).await;
    // The reconciled items carry the transfer Stripe made on attempt 1.
    for item in all_items(&engine, seeded.batch).await {
        if lost.contains(&item.id) {
            assert!(
                matches!(item.state, ItemState::Posted { attempt: 1, .. }),
                "{:?}",
                item.state
            );
        }
    }
    sb.stop().await;
    summary(&format!(
        "reliability: key retention sqlite: seed={seed_value}, items={}, transfers={}, \
         posted={}, submitting before the 25 h jump={submitting}, reconciled by \
         transfer_group={}, re-posted=0, first pass {first:?}, seed time={:.1}s, total {:.1}s, \
         ledger balanced",
        outcome.items,
        outcome.transfers,
        outcome.posted,
        second.reconciled,
        seeded.took.as_secs_f64(),
        started.elapsed().as_secs_f64(),
    ));
}
