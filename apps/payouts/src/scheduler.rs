//! The scheduler inside `payouts serve`: periodic jobs on tokio tasks, each
//! guarded by a lease in the database so that, with several instances, one
//! runs a job at a time. Jobs are also safe if two did run at once (item
//! claims and compare-and-set transitions are what protect money); the
//! lease only avoids wasted work.
//!
//! | job | every | what |
//! |---|---|---|
//! | `finalize` | 5 min | finalizes each active program's commissions whose holding period ended |
//! | `auto_payouts` | 1 min | builds last month's batch for programs with an automatic policy; executes policy-approved batches; resumes batches left executing (a crash, a restart) |
//! | `retry_ladder` | 1 min | retries `insufficient_balance` failures when due (24 h), escalating after |
//! | `reconcile` | 5 s | resumes executing batches (one pass): items a killed worker claimed and ambiguous items whose back-off ended are re-sent with the same key, and after 24 h reconciled by `transfer_group` |
//! | `probation` | 5 min | archives programs whose 7-day probation ended |
//! | `refresh` | 15 min | refreshes completed batches' transfers (reversals) |
//! | `outbox` | 10 s | delivers due notifications (200 at most per run), 16 at once and at most 4 per endpoint; a failed attempt waits its backoff (30 s doubling to 6 h, ±20 %), and after 20 attempts or 3 days the notification is dead-lettered (replay it through the API or the console) |
//! | `request_keys` | 1 h | forgets `Idempotency-Key` records older than 24 h (a key left in progress by a dead worker is taken over after 60 s by the next request with it) |
//! | `reconcile_report` | 24 h | reconciles last month's and this month's completed batches against Stripe and notifies the merchant of each difference, once |

use std::sync::Arc;
use std::time::Duration;

use payouts_domain::audit::Acting;
use payouts_domain::batch::{Approval, BatchState};
use payouts_domain::ids::WorkerId;
use payouts_domain::period::Period;
use payouts_domain::ports::{Clock, Notifier};
use payouts_domain::program::{PayoutPolicy, ProgramStatus};
use payouts_http::Engine;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Scheduler timing.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// How often each job runs (one tick).
    pub finalize_every: Duration,
    /// Automatic payouts.
    pub payouts_every: Duration,
    /// The retry ladder.
    pub ladder_every: Duration,
    /// Reconciling executing batches.
    pub reconcile_every: Duration,
    /// The probation sweep.
    pub probation_every: Duration,
    /// Payout status refresh.
    pub refresh_every: Duration,
    /// Outbox dispatch.
    pub outbox_every: Duration,
    /// Forgetting old `Idempotency-Key` records.
    pub request_keys_every: Duration,
    /// Reconciliation against Stripe, with notifications.
    pub reconcile_report_every: Duration,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        SchedulerConfig {
            finalize_every: Duration::from_secs(300),
            payouts_every: Duration::from_secs(60),
            ladder_every: Duration::from_secs(60),
            // Short, so a killed instance's items (claims of 10 s) come
            // back within about 10 s.
            reconcile_every: Duration::from_secs(5),
            probation_every: Duration::from_secs(300),
            refresh_every: Duration::from_secs(900),
            outbox_every: Duration::from_secs(10),
            request_keys_every: Duration::from_secs(3_600),
            reconcile_report_every: Duration::from_secs(86_400),
        }
    }
}

impl SchedulerConfig {
    /// Every job every `every` (tests and the crash drills).
    pub fn uniform(every: Duration) -> Self {
        SchedulerConfig {
            finalize_every: every,
            payouts_every: every,
            ladder_every: every,
            reconcile_every: every,
            probation_every: every,
            refresh_every: every,
            outbox_every: every,
            request_keys_every: every,
            reconcile_report_every: every,
        }
    }
}

/// The running scheduler; dropping it does not stop it, call [`Scheduler::stop`].
#[derive(Debug)]
pub struct Scheduler {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    engine: Arc<Engine>,
}

impl Scheduler {
    /// Starts every job.
    pub fn start(
        engine: Arc<Engine>,
        notifier: Arc<dyn Notifier>,
        config: &SchedulerConfig,
    ) -> Scheduler {
        let (stop, rx) = watch::channel(false);
        let mut tasks = Vec::new();
        let scheduler_engine = Arc::clone(&engine);
        let mut spawn = |name: &'static str, every: Duration, job: Job| {
            let engine = Arc::clone(&engine);
            let notifier = Arc::clone(&notifier);
            let rx = rx.clone();
            tasks.push(tokio::spawn(run_job(
                name, every, engine, notifier, job, rx,
            )));
        };
        for job in Job::ALL {
            let every = match job {
                Job::Finalize => config.finalize_every,
                Job::AutoPayouts => config.payouts_every,
                Job::Ladder => config.ladder_every,
                Job::Reconcile => config.reconcile_every,
                Job::Probation => config.probation_every,
                Job::Refresh => config.refresh_every,
                Job::Outbox => config.outbox_every,
                Job::RequestKeys => config.request_keys_every,
                Job::ReconcileReport => config.reconcile_report_every,
            };
            spawn(job.name(), every, job);
        }
        Scheduler {
            stop,
            tasks,
            engine: scheduler_engine,
        }
    }

    /// Stops every job after its current run (waiting up to `grace` for
    /// it; a run still going then is dropped, as in a crash), then releases
    /// the job leases this instance holds, so that the next instance (a
    /// restart gets a new worker id) runs every job on its first tick
    /// instead of waiting out the leases (two periods: 30 min for
    /// `refresh`). Answers how many leases were released.
    pub async fn stop(self, grace: Duration) -> usize {
        let _ = self.stop.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        for mut t in self.tasks {
            if tokio::time::timeout_at(deadline, &mut t).await.is_err() {
                t.abort();
                let _ = t.await;
            }
        }
        let worker = &self.engine.config().worker;
        let mut released = 0;
        for name in JOBS {
            match self.engine.store().release_lease(name, worker).await {
                Ok(true) => released += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::warn!(job = name, error = %e, "could not release the scheduler lease")
                }
            }
        }
        released
    }
}

#[derive(Debug, Clone, Copy)]
enum Job {
    Finalize,
    AutoPayouts,
    Ladder,
    Reconcile,
    Probation,
    Refresh,
    Outbox,
    RequestKeys,
    ReconcileReport,
}

impl Job {
    /// Every job, in the order they start.
    const ALL: [Job; 9] = [
        Job::Finalize,
        Job::AutoPayouts,
        Job::Ladder,
        Job::Reconcile,
        Job::Probation,
        Job::Refresh,
        Job::Outbox,
        Job::RequestKeys,
        Job::ReconcileReport,
    ];

    /// The job's name, in logs and docs.
    const fn name(self) -> &'static str {
        match self {
            Job::Finalize => "finalize",
            Job::AutoPayouts => "auto_payouts",
            Job::Ladder => "retry_ladder",
            Job::Reconcile => "reconcile",
            Job::Probation => "probation",
            Job::Refresh => "refresh",
            Job::Outbox => "outbox",
            Job::RequestKeys => "request_keys",
            Job::ReconcileReport => "reconcile_report",
        }
    }
}

/// The names of the scheduler's jobs, in the order they start (a test
/// holds them to [`Job::ALL`]).
pub const JOBS: [&str; 9] = [
    "finalize",
    "auto_payouts",
    "retry_ladder",
    "reconcile",
    "probation",
    "refresh",
    "outbox",
    "request_keys",
    "reconcile_report",
];

async fn run_job(
    name: &'static str,
    every: Duration,
    engine: Arc<Engine>,
    notifier: Arc<dyn Notifier>,
    job: Job,
    mut stop: watch::Receiver<bool>,
) {
    let worker: WorkerId = engine.config().worker.clone();
    // The lease outlives two ticks, so a live holder keeps it and a dead
    // one's lapses.
    let ttl = time::Duration::try_from(every.saturating_mul(2)).unwrap_or(time::Duration::MINUTE);
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is at once; what it did is logged at info, so that an
    // operator sees every job run (or why not) right after a start.
    let mut first = true;
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
        let now = engine.clock().now();
        match engine
            .store()
            .try_acquire_lease(name, &worker, now, ttl)
            .await
        {
            Ok(true) => {}
            Ok(false) => {
                if first {
                    tracing::info!(
                        job = name,
                        "scheduler job skipped: another instance holds its lease"
                    );
                }
                first = false;
                continue;
            }
            Err(e) => {
                tracing::warn!(job = name, error = %e, "could not take the scheduler lease");
                first = false;
                continue;
            }
        }
        let started = std::time::Instant::now();
        match run_once(&engine, notifier.as_ref(), job).await {
            Ok(()) if first => tracing::info!(
                job = name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                every_s = every.as_secs(),
                "scheduler job ran (first tick)"
            ),
            Ok(()) => tracing::debug!(
                job = name,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "scheduler job ran"
            ),
            Err(e) => {
                tracing::warn!(job = name, error = %e, "scheduled job failed; it runs again next tick")
            }
        }
        first = false;
    }
}

/// One run of a job.
///
/// # Errors
/// The first domain error; the job runs again on its next tick.
async fn run_once(
    engine: &Engine,
    notifier: &dyn Notifier,
    job: Job,
) -> Result<(), payouts_domain::DomainError> {
    match job {
        Job::Finalize => {
            let now = engine.clock().now();
            let period = Period::containing(now);
            for program in engine.store().active_programs().await? {
                let n = engine
                    .finalize_period(program.id, period, &Acting::system())
                    .await?;
                if n > 0 {
                    tracing::info!(program = %program.id, period = %period, finalized = n, "commissions finalized");
                }
            }
        }
        Job::AutoPayouts => auto_payouts(engine).await?,
        Job::Ladder => {
            let report = engine.run_retry_ladder(500).await?;
            if report.retried > 0 {
                tracing::info!(
                    retried = report.retried,
                    posted = report.posted,
                    "retry ladder"
                );
            }
        }
        Job::Reconcile => {
            for batch in engine
                .store()
                .batches_in_state(BatchState::Executing)
                .await?
            {
                // One pass each: a batch another instance is paying (its
                // account's lease) is left to it; delayed items wait for a
                // later sweep or for the run that is waiting for them.
                match engine.resume_batch(batch.id).await {
                    Ok(report) if report.processed > 0 => tracing::info!(
                        batch = %batch.id,
                        posted = report.posted,
                        failed = report.failed,
                        ambiguous = report.ambiguous,
                        reconciled = report.reconciled,
                        "batch resumed"
                    ),
                    Ok(_) => {}
                    Err(e) => {
                        tracing::warn!(batch = %batch.id, error = %e, "batch could not resume")
                    }
                }
            }
        }
        Job::Probation => {
            let archived = engine.sweep_probation().await?;
            if archived > 0 {
                tracing::info!(archived, "programs archived after probation");
            }
        }
        Job::Refresh => {
            for state in [BatchState::Completed, BatchState::CompletedWithFailures] {
                for batch in engine.store().batches_in_state(state).await? {
                    if let Err(e) = engine.refresh_batch(batch.id, &Acting::system()).await {
                        tracing::warn!(batch = %batch.id, error = %e, "refresh failed");
                    }
                }
            }
        }
        Job::Outbox => {
            let report = engine.dispatch_notifications(notifier, 200).await?;
            if report.failed > 0 || report.dead > 0 {
                tracing::warn!(
                    delivered = report.delivered,
                    failed = report.failed,
                    skipped = report.skipped,
                    dead = report.dead,
                    "notifications not delivered; they are retried with backoff"
                );
            } else if report.delivered > 0 {
                tracing::debug!(delivered = report.delivered, "notifications dispatched");
            }
        }
        Job::ReconcileReport => {
            let sweep = engine.reconcile_recent().await?;
            if sweep.differences > 0 || sweep.failed > 0 {
                tracing::warn!(
                    batches = sweep.batches,
                    differences = sweep.differences,
                    notified = sweep.notified,
                    failed = sweep.failed,
                    "reconciliation against Stripe found differences (or could not read Stripe)"
                );
            }
        }
        Job::RequestKeys => {
            let forgotten = engine.purge_request_keys().await?;
            if forgotten > 0 {
                tracing::info!(forgotten, "idempotency records older than 24 h forgotten");
            }
        }
    }
    Ok(())
}

/// Automatic payouts, per each program's policy: last month's batch is
/// built for programs whose policy is not `manual` (the policy approves it
/// or leaves it for review), and policy-approved batches are executed.
/// Programs in probation, archived or on hold are skipped: the engine
/// refuses to pay for them.
async fn auto_payouts(engine: &Engine) -> Result<(), payouts_domain::DomainError> {
    let now = engine.clock().now();
    let period = Period::containing(now).previous();
    for program in engine.store().active_programs().await? {
        if matches!(program.payout_policy, PayoutPolicy::Manual)
            || program.status != ProgramStatus::Active
            || program.hold.is_some()
        {
            continue;
        }
        let batches = engine.store().batches_of(program.id).await?;
        if batches.iter().any(|b| b.period == period) {
            continue;
        }
        match engine
            .build_batch_if_due(program.id, period, &Acting::system())
            .await
        {
            Ok(Some(batch)) => {
                tracing::info!(program = %program.id, batch = %batch.id, period = %period,
                state = batch.state.as_str(), items = batch.item_count, "automatic batch built")
            }
            // Nothing finalized and unpaid: no empty batch.
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(program = %program.id, error = %e, "automatic batch not built")
            }
        }
    }
    for batch in engine
        .store()
        .batches_in_state(BatchState::Approved)
        .await?
    {
        if !matches!(batch.approval, Some(Approval::Policy { .. })) {
            continue;
        }
        // Recorded as the scheduler's request, then run.
        if let Err(e) = engine.start_execution(batch.id, &Acting::system()).await {
            tracing::warn!(batch = %batch.id, error = %e, "automatic batch not executed");
            continue;
        }
        match engine.execute_batch(batch.id).await {
            Ok(report) => {
                tracing::info!(batch = %batch.id, posted = report.posted, failed = report.failed,
                ambiguous = report.ambiguous, "automatic batch executed")
            }
            Err(e) => tracing::warn!(batch = %batch.id, error = %e, "automatic batch not executed"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_job_names_are_the_jobs_that_start() {
        assert_eq!(JOBS, Job::ALL.map(Job::name));
    }
}
