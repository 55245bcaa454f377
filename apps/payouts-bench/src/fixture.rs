//! What every benchmark needs: databases, a sandbox, a gateway, an engine,
//! and a seeded, approved batch.

use std::sync::Arc;
use std::time::{Duration, Instant};

use payouts_domain::batch::PayoutBatch;
use payouts_domain::commission::{Commission, CommissionKind, CommissionState};
use payouts_domain::connection::{CallbackOutcome, MerchantConnection};
use payouts_domain::engine::{EngineConfig, NewPartner, Payouts};
use payouts_domain::ids::{
    AccountId, BatchId, CommissionId, ConversionId, MembershipId, MerchantId, PartnerId, ProgramId,
    ReferralKey, WorkerId,
};
use payouts_domain::partner::{CapabilityStatus, Membership, MembershipStatus, OnboardingState};
use payouts_domain::period::Period;
use payouts_domain::ports::{
    Clock, ConnectionStore, MembershipStore, PayoutStore, ProgramStore, StripeGateways,
};
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, Program, ProgramStatus,
};
use payouts_domain::system::{RandomIds, SystemClock, SystemTimer};
use payouts_domain::{Currency, Money, Percent, Rounding};
use payouts_store::SeaOrmStore;
use payouts_store::testing::PgServer;
use payouts_stripe::{StripeConfig, StripeGateway};
use secrecy::SecretString;
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxHandle, SetBalance};
use uuid::Uuid;

use crate::{BenchResult, fail, note};

/// The engine the service runs (`payouts_http::Engine`): the store and the
/// gateway behind the domain's ports, as `payouts serve` wires them.
pub type Engine = payouts_http::Engine;

/// The secret key sent to the sandbox.
pub const SECRET_KEY: &str = "sk_test_payouts_bench";

/// Durable PostgreSQL settings for the bench cluster (as P3's bench).
const PG_BENCH_SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "512MB"),
    ("work_mem", "64MB"),
    ("maintenance_work_mem", "256MB"),
    ("max_wal_size", "8GB"),
    ("checkpoint_timeout", "30min"),
];

/// Commissions inserted per call.
const GENERATE_CHUNK: usize = 50_000;

/// Shared across benchmarks: the scratch folder, the PostgreSQL cluster
/// (started on first use) and the parsed OpenAPI spec.
pub struct Env {
    dir: tempfile::TempDir,
    pg: Option<Result<PgServer, String>>,
    spec: Option<Arc<stripe_sandbox::spec::Spec>>,
    next_db: u32,
}

impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Env")
            .field("dir", &self.dir.path())
            .finish()
    }
}

/// The two backends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A SQLite file (WAL, `synchronous = NORMAL`).
    Sqlite,
    /// PostgreSQL (durable defaults).
    Postgres,
}

impl Backend {
    /// Its name in figures.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

impl Env {
    /// A fresh scratch folder.
    pub async fn new() -> BenchResult<Self> {
        Ok(Env {
            dir: tempfile::Builder::new().prefix("payouts-bench").tempdir()?,
            pg: None,
            spec: None,
            next_db: 0,
        })
    }

    /// A migrated SQLite store and its URL.
    pub async fn sqlite(&mut self) -> BenchResult<(SeaOrmStore, String)> {
        self.next_db = self.next_db.saturating_add(1);
        let url = format!(
            "sqlite://{}/bench{}.sqlite?mode=rwc",
            self.dir.path().display(),
            self.next_db
        );
        let store = SeaOrmStore::connect(&url).await?;
        store.migrate().await?;
        Ok((store, url))
    }

    /// A migrated store on `backend`; `Ok(None)` when PostgreSQL is not
    /// available (outside CI).
    pub async fn store(&mut self, backend: Backend) -> BenchResult<Option<SeaOrmStore>> {
        Ok(self.store_and_url(backend).await?.map(|(store, _)| store))
    }

    /// [`Env::store`] and its URL (for a second instance's own pool).
    pub async fn store_and_url(
        &mut self,
        backend: Backend,
    ) -> BenchResult<Option<(SeaOrmStore, String)>> {
        self.next_db = self.next_db.saturating_add(1);
        let url = match backend {
            Backend::Sqlite => format!(
                "sqlite://{}/bench{}.sqlite?mode=rwc",
                self.dir.path().display(),
                self.next_db
            ),
            Backend::Postgres => match self.postgres_url().await? {
                Some(url) => url,
                None => return Ok(None),
            },
        };
        let store = SeaOrmStore::connect(&url).await?;
        store.migrate().await?;
        Ok(Some((store, url)))
    }

    async fn postgres_url(&mut self) -> BenchResult<Option<String>> {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if std::env::var("DATABASE_URL").is_ok() {
            return Ok(Some(
                payouts_store::testing::fresh_postgres_database()
                    .await
                    .map_err(fail)?
                    .ok_or_else(|| fail("DATABASE_URL is set but no database was created"))?,
            ));
        }
        let server = self.pg.get_or_insert_with(|| {
            payouts_store::testing::start_cluster("bench", PG_BENCH_SETTINGS)
        });
        match server {
            Ok(server) => Ok(Some(server.create_database().await.map_err(fail)?)),
            Err(e) if ci => Err(fail(format!("CI=true and no PostgreSQL: {e}"))),
            Err(e) => {
                note!("PostgreSQL unavailable, its figures are skipped: {e}");
                Ok(None)
            }
        }
    }

    /// A sandbox (the spec is parsed once and shared).
    pub async fn sandbox(&mut self, workers: usize) -> BenchResult<SandboxHandle> {
        let mut config = SandboxConfig {
            workers,
            ..SandboxConfig::default()
        };
        if let Some(spec) = &self.spec {
            config = config.with_spec(Arc::clone(spec));
        }
        let sandbox = Sandbox::start(config).await?;
        self.spec = Some(sandbox.spec());
        Ok(sandbox)
    }
}

/// A gateway to `api_base` pacing itself to `mode`'s budgets under a cap
/// of `ops_per_second`.
pub fn gateway(
    api_base: &str,
    ops_per_second: u32,
    mode: payouts_stripe::LimitMode,
    webhook_secret: Option<SecretString>,
) -> BenchResult<StripeGateway> {
    let mut config = StripeConfig::new(SecretString::from(SECRET_KEY), "ca_payouts_bench");
    api_base.clone_into(&mut config.api_base);
    api_base.clone_into(&mut config.connect_base);
    config.ops_per_second = Some(ops_per_second);
    config.limit_mode = Some(mode);
    config.request_timeout = Duration::from_secs(30);
    config.webhook_secrets = webhook_secret.into_iter().collect();
    Ok(StripeGateway::new(config)?)
}

/// How an engine executes: items claimed at a time, items sent at once.
#[derive(Debug, Clone, Copy)]
pub struct Exec {
    /// [`EngineConfig::claim_size`].
    pub claim_size: u32,
    /// [`EngineConfig::concurrency`].
    pub concurrency: u32,
}

impl Exec {
    /// The service's defaults.
    pub const DEFAULT: Exec = Exec {
        claim_size: payouts_domain::engine::DEFAULT_CLAIM_SIZE,
        concurrency: payouts_domain::engine::DEFAULT_CONCURRENCY,
    };
}

/// An engine over `store` and `gateway`.
pub fn engine(store: SeaOrmStore, gateway: StripeGateway, exec: Exec) -> BenchResult<Engine> {
    engine_named(store, gateway, exec, "bench")
}

/// [`engine`] with its own worker id (another instance).
pub fn engine_named(
    store: SeaOrmStore,
    gateway: StripeGateway,
    exec: Exec,
    worker: &str,
) -> BenchResult<Engine> {
    let mut config = EngineConfig::new(WorkerId::parse(worker).map_err(|e| fail(e.to_string()))?);
    config.claim_size = exec.claim_size;
    config.concurrency = exec.concurrency;
    let store: Arc<dyn PayoutStore> = Arc::new(store);
    let gateway: Arc<dyn StripeGateways> = Arc::new(gateway);
    Ok(Payouts::shared(
        store,
        gateway,
        Arc::new(SystemClock) as Arc<dyn Clock>,
        RandomIds,
        config,
    )
    .with_timer(Arc::new(SystemTimer)))
}

/// What [`seed`] produced.
#[derive(Debug)]
pub struct Seeded {
    /// The program.
    pub program: ProgramId,
    /// The period being paid.
    pub pay_period: Period,
    /// Sum of the generated amounts (minor units).
    pub expected_total: i64,
    /// Seconds spent inserting memberships and commissions.
    pub insert_s: f64,
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// A tiny deterministic generator (xorshift), as in P3's bench.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn err(e: impl std::fmt::Display) -> Box<dyn std::error::Error + Send + Sync> {
    fail(e.to_string())
}

/// Connects a merchant through the sandbox's OAuth and returns its account.
pub async fn connect_merchant(
    engine: &Engine,
    sandbox: &SandboxHandle,
    merchant: &MerchantId,
) -> BenchResult<AccountId> {
    let start = engine.start_connect(merchant).await?;
    let grant = sandbox.create_oauth_code(None)?;
    match engine
        .complete_connect(
            start.state.token.as_str(),
            Some(&grant.code),
            None,
            &payouts_domain::audit::Acting::stripe(None),
        )
        .await?
    {
        CallbackOutcome::Connected { connection, .. } => Ok(connection.account_id),
        CallbackOutcome::Error { reason } => {
            Err(fail(format!("OAuth failed: {}", reason.as_str())))
        }
    }
}

/// Records a merchant connection directly (no Stripe call), for P3.
pub async fn save_connection(store: &SeaOrmStore, merchant: &MerchantId) -> BenchResult<()> {
    store
        .save_connection(
            &MerchantConnection::authorized(
                merchant.clone(),
                AccountId::parse("acct_merchantbench").map_err(err)?,
                "read_write".into(),
                time::OffsetDateTime::now_utc(),
            ),
            None,
        )
        .await?;
    Ok(())
}

/// `count` partners enrolled and onboarded as Express accounts in the sandbox.
pub async fn onboarded_accounts(
    engine: &Engine,
    sandbox: &SandboxHandle,
    program: ProgramId,
    count: usize,
) -> BenchResult<Vec<AccountId>> {
    let mut accounts = Vec::with_capacity(count);
    for i in 0..count {
        let m = engine
            .enroll_partner(
                program,
                NewPartner {
                    partner_id: None,
                    email: format!("dest{i}@example.com"),
                    country: "US".to_owned(),
                    referral_key: ReferralKey::parse(format!("dest{i}")).map_err(err)?,
                },
            )
            .await?;
        engine
            .onboarding_link(m.id, "https://example.com/r", "https://example.com/f")
            .await?;
        let account = engine
            .membership(m.id)
            .await?
            .account_id
            .ok_or_else(|| fail("an enrolled partner has no Express account"))?;
        sandbox.complete_onboarding(account.as_str())?;
        engine.refresh_onboarding(m.id).await?;
        accounts.push(account);
    }
    Ok(accounts)
}

/// A manual-payout program of `merchant`, inserted directly.
pub async fn program(store: &SeaOrmStore, merchant: &MerchantId) -> BenchResult<Program> {
    let program = Program {
        id: ProgramId::from_uuid(Uuid::new_v4()),
        merchant_id: merchant.clone(),
        name: "bench".into(),
        currency: Currency::USD,
        commission_rule: CommissionRule::flat(
            CommissionAmount::Percent {
                percent: Percent::new(rust_decimal::Decimal::new(125, 1)).map_err(err)?,
                rounding: Rounding::HalfEven,
            },
            None,
        ),
        holding_days: 30,
        minimum_payout: usd(1_000),
        minimum_payouts: std::collections::BTreeMap::new(),
        payout_policy: PayoutPolicy::Manual,
        coupon_sync: CouponSyncMode::Manual,
        payout_countries: vec![payouts_domain::crossborder::PayoutCountry::US],
        status: ProgramStatus::Active,
        hold: None,
        created_at: time::OffsetDateTime::now_utc() - time::Duration::days(120),
    };
    store.insert_program(&program).await?;
    Ok(program)
}

/// Inserts `partners` active memberships paying to `destinations` (round
/// robin) and `commissions` pending commissions spread over them, earned two
/// months ago and due now; as P3's bench does, with the system clock.
pub async fn seed(
    store: &SeaOrmStore,
    program: &Program,
    destinations: &[AccountId],
    partners: usize,
    commissions: usize,
    floor: i64,
) -> BenchResult<Seeded> {
    if partners == 0 || commissions < partners || destinations.is_empty() {
        return Err(fail(
            "seed: need partners > 0, commissions ≥ partners, a destination",
        ));
    }
    let t = Instant::now();
    let mut members: Vec<Membership> = Vec::with_capacity(partners);
    for i in 0..partners {
        let account = destinations
            .get(i % destinations.len())
            .ok_or_else(|| fail("no destination"))?;
        members.push(Membership {
            bank_fingerprint: None,
            id: MembershipId::from_uuid(Uuid::new_v4()),
            partner_id: PartnerId::from_uuid(Uuid::new_v4()),
            program_id: program.id,
            merchant_id: program.merchant_id.clone(),
            email: format!("p{i}@example.com"),
            country: "US".into(),
            account_id: Some(account.clone()),
            service_agreement: Some(payouts_domain::crossborder::ServiceAgreement::Full),
            onboarding: OnboardingState {
                details_submitted: true,
                payouts_enabled: true,
                transfers: CapabilityStatus::Active,
            },
            referral_key: ReferralKey::parse(format!("p{i}")).map_err(err)?,
            status: MembershipStatus::Active,
            joined_at: program.created_at,
        });
    }
    for group in members.chunks(8 * 64) {
        let mut tasks = Vec::new();
        for lane in group.chunks(64) {
            let store = store.clone();
            let lane = lane.to_vec();
            tasks.push(tokio::spawn(async move {
                for m in &lane {
                    store.insert_membership(m).await?;
                }
                Ok::<(), payouts_domain::StoreError>(())
            }));
        }
        for task in tasks {
            task.await??;
        }
    }
    let now = time::OffsetDateTime::now_utc();
    let earn = Period::containing(now).previous().previous();
    let pay_period = earn.next();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut expected_total = 0_i64;
    let mut inserted = 0_usize;
    while inserted < commissions {
        let n = GENERATE_CHUNK.min(commissions - inserted);
        let mut chunk = Vec::with_capacity(n);
        for k in 0..n {
            let i = inserted + k;
            let member = members
                .get(i % members.len())
                .ok_or_else(|| fail("no member"))?;
            let amount = floor
                + i64::try_from(
                    rng.next() % 10_000_u64.saturating_sub(floor.unsigned_abs()).max(1),
                )?;
            expected_total += amount;
            // Within the first 28 days of the month: due before now.
            let created =
                earn.start() + time::Duration::seconds(i64::try_from(rng.next() % 2_400_000)?);
            chunk.push(Commission {
                id: CommissionId::from_uuid(Uuid::new_v4()),
                merchant_id: program.merchant_id.clone(),
                program_id: program.id,
                membership_id: member.id,
                partner_id: member.partner_id,
                conversion_id: ConversionId::from_uuid(Uuid::new_v4()),
                kind: CommissionKind::Earned,
                amount: usd(amount),
                original_amount: usd(amount),
                state: CommissionState::Pending,
                period: earn,
                created_at: created,
                hold_until: created + time::Duration::days(30),
                payout_item_id: None,
                rule: None,
            });
        }
        store.insert_commissions(&chunk).await?;
        inserted += n;
    }
    Ok(Seeded {
        program: program.id,
        pay_period,
        expected_total,
        insert_s: t.elapsed().as_secs_f64(),
    })
}

/// Finalizes, builds and approves the batch of `seeded`.
pub async fn approved_batch(engine: &Engine, seeded: &Seeded) -> BenchResult<PayoutBatch> {
    engine
        .finalize_period(
            seeded.program,
            seeded.pay_period,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await?;
    let batch = engine
        .build_batch(
            seeded.program,
            seeded.pay_period,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await?;
    Ok(engine
        .approve_batch(batch.id, &payouts_domain::audit::Acting::cli("bench"))
        .await?)
}

/// A sandbox-backed engine with one merchant and an approved batch.
pub struct ExecFixture {
    /// The engine (shared by the concurrent executors).
    pub engine: Arc<Engine>,
    /// The batch.
    pub batch: PayoutBatch,
    /// The merchant's sandbox account (transfers are sent from it).
    pub merchant_account: AccountId,
    /// The partners' onboarded sandbox accounts.
    pub destinations: Vec<AccountId>,
    /// Seconds of setup.
    pub setup_s: f64,
}

impl std::fmt::Debug for ExecFixture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExecFixture")
            .field("batch", &self.batch.id)
            .finish_non_exhaustive()
    }
}

/// Builds an [`ExecFixture`]: `partners` partners with two commissions each
/// (one item each), paying to 8 onboarded sandbox accounts.
pub async fn exec_fixture(
    store: SeaOrmStore,
    sandbox: &SandboxHandle,
    ops_per_second: u32,
    mode: payouts_stripe::LimitMode,
    exec: Exec,
    partners: usize,
) -> BenchResult<ExecFixture> {
    let t = Instant::now();
    let engine = engine(
        store.clone(),
        gateway(&sandbox.base_url(), ops_per_second, mode, None)?,
        exec,
    )?;
    let paid = merchant_batch(&engine, &store, sandbox, partners, 8).await?;
    Ok(ExecFixture {
        engine: Arc::new(engine),
        batch: paid.batch,
        merchant_account: paid.merchant_account,
        destinations: paid.destinations,
        setup_s: t.elapsed().as_secs_f64(),
    })
}

/// One merchant's approved batch ([`merchant_batch`]).
#[derive(Debug)]
pub struct MerchantBatch {
    /// The batch.
    pub batch: PayoutBatch,
    /// The merchant's sandbox account (transfers are sent from it).
    pub merchant_account: AccountId,
    /// The partners' onboarded sandbox accounts.
    pub destinations: Vec<AccountId>,
}

/// A new merchant, connected through the sandbox's OAuth, with `partners`
/// partners of two commissions each (one item each) paying to
/// `destinations` onboarded sandbox accounts, its batch approved and its
/// balance funded with the batch's total.
pub async fn merchant_batch(
    engine: &Engine,
    store: &SeaOrmStore,
    sandbox: &SandboxHandle,
    partners: usize,
    destinations: usize,
) -> BenchResult<MerchantBatch> {
    let merchant =
        MerchantId::parse(format!("merchant_{}", Uuid::new_v4().simple())).map_err(err)?;
    let merchant_account = connect_merchant(engine, sandbox, &merchant).await?;
    let program = program(store, &merchant).await?;
    let destinations = onboarded_accounts(engine, sandbox, program.id, destinations).await?;
    // Two commissions of at least 6.00 each: every partner is above the
    // program's 10.00 minimum, so the batch has one item per partner.
    let seeded = seed(store, &program, &destinations, partners, partners * 2, 600).await?;
    let batch = approved_batch(engine, &seeded).await?;
    if usize::try_from(batch.item_count)? != partners {
        return Err(fail(format!(
            "expected {partners} items, the batch has {}",
            batch.item_count
        )));
    }
    sandbox.set_balance(SetBalance {
        account: Some(merchant_account.as_str().to_owned()),
        currency: "usd".to_owned(),
        available: batch.total.amount_minor(),
        pending: 0,
    })?;
    Ok(MerchantBatch {
        batch,
        merchant_account,
        destinations,
    })
}

/// Runs one `execute_batch` call, as the service does for a batch (it sends
/// `concurrency` items at once), until every item has an outcome; returns
/// (posted, failed, ambiguous).
pub async fn execute(engine: &Arc<Engine>, batch: BatchId) -> BenchResult<(u64, u64, u64)> {
    execute_runs(engine, batch, 1).await
}

/// Runs `runs` concurrent `execute_batch` calls on the same batch (the
/// engine claims items with leases, so they share the work).
pub async fn execute_runs(
    engine: &Arc<Engine>,
    batch: BatchId,
    runs: usize,
) -> BenchResult<(u64, u64, u64)> {
    let mut tasks = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let engine = Arc::clone(engine);
        tasks.push(tokio::spawn(
            async move { engine.execute_batch(batch).await },
        ));
    }
    let (mut posted, mut failed, mut ambiguous) = (0_u64, 0_u64, 0_u64);
    for task in tasks {
        let report = task.await??;
        posted += u64::from(report.posted);
        failed += u64::from(report.failed);
        ambiguous += u64::from(report.ambiguous);
        if let Some(stopped) = report.stopped {
            return Err(fail(format!("execution stopped: {stopped:?}")));
        }
    }
    Ok((posted, failed, ambiguous))
}

/// Count of one outcome in the gateway's call statistics.
pub fn calls(engine: &Engine, outcome: &str) -> u64 {
    engine
        .stripe_call_counts()
        .into_iter()
        .find(|(k, _)| *k == outcome)
        .map_or(0, |(_, v)| v)
}
