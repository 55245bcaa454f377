//! A clean stop and a restart of `payouts serve`, as an operator does it:
//! the stopped instance gives back its scheduler leases, so the next start
//! (a new process, so a new worker id) runs every job on its first tick.

#![expect(clippy::unwrap_used, reason = "test helpers fail loudly on purpose")]

use std::time::Duration;

use payouts::Settings;
use payouts::scheduler::JOBS;
use payouts_domain::ids::WorkerId;
use payouts_domain::ports::LeaseStore;
use payouts_http::JwtSecret;

fn settings(db: &str, worker: &str) -> Settings {
    let mut settings = Settings::new(db.to_owned());
    settings.server.bind = "127.0.0.1:0".parse().unwrap();
    settings.server.scheduler = true;
    settings.engine.worker_id = Some(worker.to_owned());
    settings
}

fn jwt() -> JwtSecret {
    JwtSecret::new(b"a-test-secret-of-at-least-32-bytes!!".to_vec()).unwrap()
}

/// The jobs whose lease is held now.
async fn leased(store: &payouts_store::SeaOrmStore) -> Vec<&'static str> {
    let probe = WorkerId::parse("probe").unwrap();
    let now = time::OffsetDateTime::now_utc();
    let mut held = Vec::new();
    for name in JOBS {
        // A free lease is taken until now, so it stays free; a live one is refused.
        if !store
            .try_acquire_lease(name, &probe, now, time::Duration::ZERO)
            .await
            .unwrap()
        {
            held.push(name);
        }
    }
    held
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_clean_stop_the_next_start_runs_every_job_on_its_first_tick() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("restart.db").display()
    );

    // The first instance: every job takes its lease on its first tick, at
    // once (held for two periods: 10 min for `finalize`, 30 for `refresh`).
    let first = payouts::serve::start(&settings(&db, "node-a"), jwt())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        leased(&first.wired.store).await,
        JOBS.to_vec(),
        "the first start ran every job"
    );
    first.stop().await;

    // Nothing is left leased: the restart, under another worker id as a new
    // process has, is not kept waiting.
    let store = payouts::open_store(&settings(&db, "node-c")).await.unwrap();
    assert_eq!(
        leased(&store).await,
        Vec::<&str>::new(),
        "jobs still leased by the stopped instance"
    );
    let second = payouts::serve::start(&settings(&db, "node-b"), jwt())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        leased(&store).await,
        JOBS.to_vec(),
        "the restart ran every job on its first tick"
    );
    second.stop().await;
    assert_eq!(
        leased(&store).await,
        Vec::<&str>::new(),
        "jobs still leased after the second clean stop"
    );
}
