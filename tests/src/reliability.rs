//! Support for the reliability tests (`tests/reliability.rs`): the real
//! `payouts` and `stripe-sandbox` binaries as child processes, a client for
//! the sandbox's control API over HTTP, a 1,000-item batch seeded through
//! the engine, and the exactly-once checks.
//!
//! The binaries are looked up next to the test executable
//! (`target/<profile>/payouts`, `target/<profile>/stripe-sandbox`).
//! `cargo test --workspace` builds every binary of the workspace before it
//! runs tests; with `cargo test -p payouts-e2e` build them first with
//! `cargo build -p payouts -p stripe-sandbox`.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use payouts::wire::Engine;
use payouts_domain::batch::{BatchState, BatchSummary};
use payouts_domain::commission::ConversionInput;
use payouts_domain::connection::CallbackOutcome;
use payouts_domain::engine::{EngineConfig, NewPartner};
use payouts_domain::ids::{
    AccountId, BatchId, ExternalId, MerchantId, PayoutItemId, ProgramId, ReferralKey, WorkerId,
};
use payouts_domain::item::{ItemState, PayoutItem, transfer_group};
use payouts_domain::period::Period;
use payouts_domain::ports::{Clock, MAX_PAGE, PageRequest};
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, ProgramSettings,
};
use payouts_domain::reward::ConversionKind;
use payouts_domain::system::SystemClock;
use payouts_domain::{Currency, Money, Percent, Rounding};
use payouts_store::SeaOrmStore;
use payouts_stripe::{StripeConfig, StripeGateway};
use rust_decimal::Decimal;
use secrecy::SecretString;
use serde::Serialize;
use stripe_sandbox::{FaultSpec, Latency, Ledger, OAuthCodeGrant, RateLimit, SetBalance};

/// The merchant every reliability test pays for.
pub const MERCHANT: &str = "m_reliability";

/// A small deterministic RNG (splitmix64): the chaos is replayable from
/// its seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// From `PAYOUTS_CHAOS_SEED` when set, else from the time. Returns the
    /// RNG and the seed (print it).
    pub fn from_env() -> (Rng, u64) {
        let seed = std::env::var("PAYOUTS_CHAOS_SEED")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(42, |d| d.as_nanos() as u64)
            });
        (Rng(seed), seed)
    }

    /// A seeded RNG.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Writes a summary line to stderr (shown with `--nocapture`) and appends
/// it to `target/reliability-summary.txt` (next to the test binaries), so
/// a CI run with captured output keeps it too.
pub fn summary(line: &str) {
    eprintln!("{line}");
    if let Some(dir) = target_dir() {
        use std::io::Write as _;
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("reliability-summary.txt"))
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

/// `target/<profile>`: the test executable lives in its `deps/`.
fn target_dir() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    Some(exe.parent()?.parent()?.to_path_buf())
}

/// The path of a workspace binary built in the same target dir, or a panic
/// saying how to build it.
pub fn binary(name: &str) -> PathBuf {
    let dir = target_dir().expect("the test executable's directory");
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: the reliability tests run the real `{name}` binary. \
         `cargo test --workspace` builds it; with `cargo test -p payouts-e2e` run \
         `cargo build -p payouts -p stripe-sandbox` first (same CARGO_TARGET_DIR and profile).",
        path.display()
    );
    path
}

/// A scratch folder removed on drop.
#[derive(Debug)]
pub struct Scratch(pub PathBuf);

impl Scratch {
    /// A new folder under the temp dir.
    pub fn new(tag: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!(
            "payouts-rel-{tag}-{}",
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    /// `sqlite://DIR/payouts.db?mode=rwc`.
    pub fn sqlite_url(&self) -> String {
        format!("sqlite://{}?mode=rwc", self.0.join("payouts.db").display())
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if std::env::var_os("PAYOUTS_KEEP_SCRATCH").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed (SIGKILL) and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    /// The child.
    pub child: Child,
    /// `http://ADDR` it announced.
    pub base: String,
}

impl Proc {
    /// `kill -9` and reap.
    pub fn kill9(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Spawns `cmd` with stdout piped, stderr to `log`, and waits (at most
/// 60 s) for a stdout line containing `marker` followed by a URL.
fn spawn_announcing(mut cmd: Command, log: &Path, marker: &str) -> Proc {
    let stderr = File::options().create(true).append(true).open(log).unwrap();
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::from(stderr))
        .stdin(Stdio::null());
    let mut child = cmd.spawn().expect("spawn the child process");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let wanted = marker.to_owned();
    std::thread::spawn(move || {
        let mut sent = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !sent && let Some(at) = line.find(&wanted) {
                let url = line[at + wanted.len()..].trim().to_owned();
                let _ = tx.send(url);
                sent = true;
            }
            // Keep draining so the child never blocks on a full pipe.
        }
    });
    let base = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(base) => base,
        Err(_) => {
            let _ = child.kill();
            let _ = child.wait();
            let log = std::fs::read_to_string(log).unwrap_or_default();
            let tail: String = log
                .lines()
                .rev()
                .take(30)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n");
            panic!("the child did not announce `{marker}`; its log ends with:\n{tail}");
        }
    };
    Proc { child, base }
}

/// Starts the `stripe-sandbox` binary on a free loopback port.
pub fn spawn_sandbox(dir: &Path) -> Proc {
    let mut cmd = Command::new(binary("stripe-sandbox"));
    cmd.args(["--addr", "127.0.0.1:0"]);
    if let Ok(spec) = stripe_sandbox::Spec::default_path() {
        cmd.env("STRIPE_SANDBOX_SPEC", spec);
    }
    spawn_announcing(
        cmd,
        &dir.join("stripe-sandbox.log"),
        "stripe-sandbox listening on ",
    )
}

/// Starts `payouts serve` on a free port against `database_url` and the
/// sandbox at `stripe_base`, with the scheduler on and every job ticking
/// every `tick_ms`; its log goes to `log`. `worker` names its leases
/// (None: `HOSTNAME-PID`, a new name after each restart); `envs` are set last.
pub fn spawn_serve(
    log: &Path,
    database_url: &str,
    stripe_base: &str,
    tick_ms: u64,
    worker: Option<&str>,
    envs: &[(&str, &str)],
) -> Proc {
    let mut cmd = Command::new(binary("payouts"));
    cmd.args(["serve", "--bind", "127.0.0.1:0"])
        .env("DATABASE_URL", database_url)
        .env("STRIPE_API_BASE", stripe_base)
        .env("PAYOUTS_SCHEDULER", "true")
        .env("PAYOUTS_SCHEDULER_TICK_MS", tick_ms.to_string())
        .env("PAYOUTS_JWT_SECRET", crate::JWT_SECRET)
        .env("PAYOUTS_HTTP_WORKERS", "1")
        .env_remove("STRIPE_SECRET_KEY")
        .env_remove("STRIPE_WEBHOOK_SECRET")
        .env_remove("PAYOUTS_BIND");
    match worker {
        Some(w) => {
            cmd.env("PAYOUTS_WORKER_ID", w);
        }
        None => {
            cmd.env_remove("PAYOUTS_WORKER_ID");
        }
    }
    cmd.envs(envs.iter().copied());
    spawn_announcing(cmd, log, "listening on ")
}

/// The sandbox's control API over HTTP (works for the binary and for an
/// in-process sandbox alike).
#[derive(Debug, Clone)]
pub struct Ctl {
    base: String,
    http: reqwest::Client,
}

impl Ctl {
    /// For the sandbox at `base`.
    pub fn new(base: &str) -> Ctl {
        // reqwest is built without a TLS provider of its own.
        payouts::install_tls_provider();
        Ctl {
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
        }
    }

    /// The sandbox's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    async fn post<B: Serialize>(&self, path: &str, body: &B) -> serde_json::Value {
        let res = self
            .http
            .post(format!("{}/_sandbox/{path}", self.base))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        assert!(
            status.is_success(),
            "POST /_sandbox/{path}: {status} {text}"
        );
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
    }

    /// Delays every `/v1` request by `fixed_ms` + uniform(0..=`jitter_ms`).
    pub async fn set_latency(&self, fixed_ms: u64, jitter_ms: u64) {
        self.post(
            "latency",
            &Latency {
                fixed_ms,
                jitter_ms,
            },
        )
        .await;
    }

    /// 429 beyond `per_second` requests per second (None: no limit).
    pub async fn set_rate_limit(&self, per_second: Option<u32>) {
        self.post("rate_limit", &RateLimit { per_second }).await;
    }

    /// Adds a fault rule.
    pub async fn add_fault(&self, fault: &FaultSpec) {
        self.post("faults", fault).await;
    }

    /// Removes every fault rule.
    pub async fn clear_faults(&self) {
        let res = self
            .http
            .delete(format!("{}/_sandbox/faults", self.base))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success());
    }

    /// Registers an OAuth code for a fresh standard account.
    pub async fn oauth_code(&self) -> String {
        let v = self.post("oauth/codes", &serde_json::json!({})).await;
        let grant: OAuthCodeGrant = serde_json::from_value(v).unwrap();
        grant.code
    }

    /// Completes an Express account's onboarding.
    pub async fn complete_onboarding(&self, account: &str) {
        self.post(
            &format!("accounts/{account}/complete_onboarding"),
            &serde_json::json!({}),
        )
        .await;
    }

    /// Sets an account's USD balance.
    pub async fn set_usd_balance(&self, account: &str, available: i64) {
        self.post(
            "balances",
            &SetBalance {
                account: Some(account.to_owned()),
                currency: "usd".to_owned(),
                available,
                pending: 0,
            },
        )
        .await;
    }

    /// Advances the sandbox clock.
    pub async fn advance_clock(&self, seconds: i64) {
        self.post("clock/advance", &serde_json::json!({"seconds": seconds}))
            .await;
    }

    /// Every transfer.
    pub async fn ledger(&self) -> Ledger {
        self.http
            .get(format!("{}/_sandbox/ledger", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Spec validation failures so far.
    pub async fn validation_failure_count(&self) -> u64 {
        let v: serde_json::Value = self
            .http
            .get(format!("{}/_sandbox/validation_failures", self.base))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["count"].as_u64().unwrap_or(0)
    }
}

/// A clock that reads real time plus an offset the test moves together
/// with the sandbox clock (so the engine sees the same 25 h pass as the
/// sandbox does).
#[derive(Debug, Default)]
pub struct OffsetClock {
    offset_s: AtomicI64,
}

impl OffsetClock {
    /// Moves the clock forward.
    pub fn advance(&self, seconds: i64) {
        self.offset_s.fetch_add(seconds, Ordering::SeqCst);
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> time::OffsetDateTime {
        SystemClock.now() + time::Duration::seconds(self.offset_s.load(Ordering::SeqCst))
    }
}

/// An engine exactly as `payouts serve` wires it (SeaORM store, the Stripe
/// gateway configured for a sandbox, random ids), with the given clock.
pub async fn engine(
    database_url: &str,
    stripe_base: &str,
    clock: Arc<dyn Clock>,
    worker: &str,
) -> Arc<Engine> {
    engine_with(database_url, stripe_base, clock, worker, |_| {}).await
}

/// [`engine`] with the gateway's configuration adjusted by `adjust`.
pub async fn engine_with(
    database_url: &str,
    stripe_base: &str,
    clock: Arc<dyn Clock>,
    worker: &str,
    adjust: impl FnOnce(&mut StripeConfig),
) -> Arc<Engine> {
    let store = SeaOrmStore::connect(database_url).await.unwrap();
    store.migrate().await.unwrap();
    let mut config = StripeConfig::new(
        SecretString::from(payouts::wire::SANDBOX_SECRET_KEY),
        payouts::wire::SANDBOX_CLIENT_ID,
    );
    config.api_base = stripe_base.to_owned();
    config.connect_base = stripe_base.to_owned();
    config.ops_per_second = Some(1_000);
    // Seeding against an unthrottled sandbox: only the cap paces it. The
    // `payouts serve` under test paces to the live model.
    config.limit_mode = Some(payouts_stripe::LimitMode::Unlimited);
    config.request_timeout = Duration::from_secs(10);
    config.webhook_secrets = vec![SecretString::from(crate::WEBHOOK_SECRET)];
    adjust(&mut config);
    config.validate().unwrap();
    let gateway = StripeGateway::new(config).unwrap();
    Arc::new(payouts::wire::engine(
        store,
        gateway,
        clock,
        EngineConfig::new(WorkerId::parse(worker).unwrap()),
    ))
}

/// The system clock as the engine's clock type.
pub fn system_clock() -> Arc<dyn Clock> {
    Arc::new(SystemClock)
}

/// What [`seed`] built.
#[derive(Debug, Clone)]
pub struct Seeded {
    /// The program.
    pub program: ProgramId,
    /// The approved batch.
    pub batch: BatchId,
    /// The merchant's connected account (the transfers' source).
    pub merchant_account: AccountId,
    /// Item id → amount in cents: the manifest.
    pub manifest: BTreeMap<PayoutItemId, i64>,
    /// How long seeding took.
    pub took: Duration,
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// Seeds `n` partners (each an onboarded Express account in the sandbox)
/// with one conversion each of a different amount, finalizes the period,
/// builds the batch of `n` items and approves it (a person; the program's
/// policy is manual, so only an explicit execute or the resume of an
/// executing batch pays it), and funds the merchant.
pub async fn seed(engine: &Arc<Engine>, ctl: &Ctl, n: usize) -> Seeded {
    let started = Instant::now();
    let merchant = MerchantId::parse(MERCHANT.to_owned()).unwrap();
    let start = engine.start_connect(&merchant).await.unwrap();
    let code = ctl.oauth_code().await;
    let merchant_account = match engine
        .complete_connect(
            start.state.token.as_str(),
            Some(&code),
            None,
            &payouts_domain::audit::Acting::stripe(None),
        )
        .await
        .unwrap()
    {
        CallbackOutcome::Connected { connection, .. } => connection.account_id,
        other => panic!("the merchant did not connect: {other:?}"),
    };
    let program = engine
        .create_program(
            &merchant,
            ProgramSettings {
                name: "Reliability partners".to_owned(),
                currency: Currency::USD,
                commission_rule: CommissionRule::flat(
                    CommissionAmount::Percent {
                        percent: Percent::new(Decimal::from(20)).unwrap(),
                        rounding: Rounding::HalfEven,
                    },
                    None,
                ),
                holding_days: 0,
                minimum_payout: usd(100),
                payout_policy: PayoutPolicy::Manual,
                coupon_sync: CouponSyncMode::Stripe,
                minimum_payouts: std::collections::BTreeMap::new(),
                payout_countries: vec!["US".to_owned()],
            },
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await
        .unwrap();
    let occurred_at = engine.clock().now();
    let period = Period::containing(occurred_at);
    // Partners in parallel, a few at a time.
    let mut set = tokio::task::JoinSet::new();
    let mut next = 0usize;
    let parallel = 8usize;
    let mut done = 0usize;
    while done < n {
        while next < n && set.len() < parallel {
            let engine = Arc::clone(engine);
            let ctl = ctl.clone();
            let i = next;
            next += 1;
            set.spawn(async move {
                let key = format!("p{i:04}");
                let m = engine
                    .enroll_partner(
                        program.id,
                        NewPartner {
                            partner_id: None,
                            email: format!("{key}@partners.test"),
                            country: "US".to_owned(),
                            referral_key: ReferralKey::parse(&key).unwrap(),
                        },
                    )
                    .await
                    .unwrap();
                engine
                    .onboarding_link(
                        m.id,
                        "https://partners.test/done",
                        "https://partners.test/again",
                    )
                    .await
                    .unwrap();
                let account = engine.membership(m.id).await.unwrap().account_id.unwrap();
                ctl.complete_onboarding(account.as_str()).await;
                let m = engine.refresh_onboarding(m.id).await.unwrap();
                assert!(m.onboarding.can_receive_transfers());
                // 20 % of 10.00 + i × 0.13: every item a different amount.
                let sale = 1_000 + 13 * i64::try_from(i).unwrap();
                engine
                    .record_conversion(
                        program.id,
                        ConversionInput {
                            customer_email: None,
                            external_id: ExternalId::parse(format!("ord-{i:04}")).unwrap(),
                            amount: usd(sale),
                            occurred_at,
                            coupon_code: None,
                            referral_key: Some(m.referral_key.clone()),
                            customer_ref: None,
                            payment_ref: None,
                            kind: ConversionKind::Sale,
                            product_id: None,
                        },
                    )
                    .await
                    .unwrap();
            });
        }
        if let Some(r) = set.join_next().await {
            r.unwrap();
            done += 1;
        }
    }
    engine
        .finalize_period(
            program.id,
            period,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await
        .unwrap();
    let batch = engine
        .build_batch(
            program.id,
            period,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await
        .unwrap();
    assert_eq!(batch.item_count as usize, n, "one item per partner");
    let batch = engine
        .approve_batch(
            batch.id,
            &payouts_domain::audit::Acting::cli("reliability-test"),
        )
        .await
        .unwrap();
    assert_eq!(batch.state, BatchState::Approved);
    ctl.set_usd_balance(merchant_account.as_str(), 1_000_000_000)
        .await;
    let manifest = all_items(engine, batch.id)
        .await
        .into_iter()
        .map(|i| (i.id, i.amount.amount_minor()))
        .collect::<BTreeMap<_, _>>();
    assert_eq!(manifest.len(), n);
    Seeded {
        program: program.id,
        batch: batch.id,
        merchant_account,
        manifest,
        took: started.elapsed(),
    }
}

/// Every item of a batch.
pub async fn all_items(engine: &Engine, batch: BatchId) -> Vec<PayoutItem> {
    let mut out = Vec::new();
    let mut page = PageRequest::first(MAX_PAGE);
    loop {
        let p = engine.store().items(batch, page).await.unwrap();
        out.extend(p.data.iter().cloned());
        match (p.has_more, p.data.last()) {
            (true, Some(last)) => page.after = Some(last.id.as_uuid()),
            _ => return out,
        }
    }
}

/// The batch's summary and state, read from the database.
pub async fn progress(engine: &Engine, batch: BatchId) -> (BatchSummary, BatchState) {
    let summary = engine.batch_summary(batch).await.unwrap();
    let state = engine.batch(batch).await.unwrap().state;
    (summary, state)
}

/// Waits (at most `limit`) until every item has an outcome and the batch
/// has completed; returns the time waited.
pub async fn wait_settled(engine: &Engine, batch: BatchId, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (summary, state) = progress(engine, batch).await;
        if summary.is_settled()
            && matches!(
                state,
                BatchState::Completed | BatchState::CompletedWithFailures
            )
        {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "batch {batch} not settled within {limit:?}: {state:?} {summary:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What [`assert_exactly_once`] saw.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Items in the batch.
    pub items: usize,
    /// Transfers in the sandbox ledger.
    pub transfers: usize,
    /// Items posted.
    pub posted: usize,
}

/// The exactly-once checks: one transfer per item in the sandbox, each of
/// the manifest's amount, to the item's batch group; every item `posted`
/// with that transfer; the batch completed; and the ledger invariant
/// `finalized = posted + carried + pending + failed` holds.
pub async fn assert_exactly_once(engine: &Engine, ctl: &Ctl, seeded: &Seeded) -> Outcome {
    let ledger = ctl.ledger().await;
    let n = seeded.manifest.len();
    let dupes: Vec<_> = ledger
        .counts_by_item_id
        .iter()
        .filter(|(_, c)| **c != 1)
        .collect();
    assert!(dupes.is_empty(), "items paid more than once: {dupes:?}");
    assert_eq!(ledger.count, n, "one transfer per item");
    assert_eq!(ledger.transfers.len(), n);
    assert_eq!(ledger.counts_by_item_id.len(), n);
    let group = transfer_group(seeded.batch);
    let mut paid: BTreeMap<String, (i64, String)> = BTreeMap::new();
    for t in &ledger.transfers {
        let item = t.item_id.clone().expect("every transfer names its item");
        assert_eq!(t.transfer_group.as_deref(), Some(group.as_str()));
        assert_eq!(t.currency, "usd");
        assert_eq!(t.source_account, seeded.merchant_account.as_str());
        paid.insert(item, (t.amount, t.transfer_id.clone()));
    }
    let manifest: BTreeMap<String, i64> = seeded
        .manifest
        .iter()
        .map(|(id, amount)| (id.to_string(), *amount))
        .collect();
    let paid_amounts: BTreeMap<String, i64> =
        paid.iter().map(|(k, (a, _))| (k.clone(), *a)).collect();
    assert_eq!(
        paid_amounts, manifest,
        "the ledger pays the manifest exactly"
    );
    let items = all_items(engine, seeded.batch).await;
    assert_eq!(items.len(), n, "no item lost");
    let mut posted = 0;
    for item in &items {
        match &item.state {
            ItemState::Posted { transfer_id, .. } => {
                posted += 1;
                let (_, tr) = &paid[&item.id.to_string()];
                assert_eq!(
                    transfer_id.as_str(),
                    tr,
                    "item {} records its transfer",
                    item.id
                );
            }
            other => panic!("item {} ended {}, not posted", item.id, other.as_str()),
        }
    }
    let state = engine.batch(seeded.batch).await.unwrap().state;
    assert_eq!(state, BatchState::Completed);
    assert_ledger_balanced(engine, seeded.program).await;
    assert_eq!(
        ctl.validation_failure_count().await,
        0,
        "every request the app sent passed Stripe's spec"
    );
    Outcome {
        items: n,
        transfers: ledger.count,
        posted,
    }
}

/// `check_ledger(program).balanced()`.
pub async fn assert_ledger_balanced(engine: &Engine, program: ProgramId) {
    let report = engine.check_ledger(program).await.unwrap();
    assert!(
        report.balanced(),
        "the ledger invariant does not hold: {report:#?}"
    );
    assert!(!report.periods.is_empty());
}
