//! The `payouts` binary as a user runs it: exit codes, stdout and stderr.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "test helpers fail loudly on purpose"
)]

use std::path::Path;
use std::process::{Command, Output};

use payouts::{Settings, StripeMode};
use payouts_domain::commission::ConversionInput;
use payouts_domain::connection::CallbackOutcome;
use payouts_domain::engine::NewPartner;
use payouts_domain::ids::{ExternalId, MerchantId, ReferralKey};
use payouts_domain::period::Period;
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, ProgramSettings,
};
use payouts_domain::{Currency, Money};
use serde_json::Value;
use stripe_sandbox::{ErrorType, FaultSpec, LedgerFilter, Sandbox, SandboxConfig, SetBalance};

/// Variables a developer's shell may hold that would change what the binary does.
const AMBIENT: [&str; 10] = [
    "DATABASE_URL",
    "STRIPE_SECRET_KEY",
    "STRIPE_CLIENT_ID",
    "STRIPE_WEBHOOK_SECRET",
    "STRIPE_API_BASE",
    "STRIPE_CONNECT_BASE",
    "PAYOUTS_JWT_SECRET",
    "PAYOUTS_WORKER_ID",
    "PAYOUTS_BIND",
    "PAYOUTS_SCHEDULER",
];

fn payouts(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_payouts"));
    command.args(args).env("RUST_LOG", "warn");
    for var in AMBIENT {
        command.env_remove(var);
    }
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

/// Runs the binary off the async runtime, so an in-process sandbox keeps serving.
async fn payouts_async(args: Vec<String>, env: Vec<(String, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        payouts(&args, &env)
    })
    .await
    .unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn sqlite_url(dir: &Path, file: &str) -> String {
    format!("sqlite://{}?mode=rwc", dir.join(file).display())
}

#[test]
fn demo_runs_the_whole_story_and_prints_the_summary() {
    let out = payouts(&["demo"], &[]);
    let text = stdout(&out);
    assert!(
        out.status.success(),
        "demo failed: {}\n{text}",
        stderr(&out)
    );
    for step in 1..=7 {
        assert!(
            text.contains(&format!("[{step}/7]")),
            "step {step} missing:\n{text}"
        );
    }
    assert!(
        text.contains("in-process sandbox at http://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("failed: insufficient_balance (balance_insufficient)"),
        "{text}"
    );
    assert!(
        text.contains("posted          3        USD 350.00"),
        "{text}"
    );
    assert!(
        text.contains("failed          0          USD 0.00"),
        "{text}"
    );
    assert!(
        text.contains("pending         0          USD 0.00"),
        "{text}"
    );
    assert!(text.contains("retried: 1 item, posted"), "{text}");
    assert!(text.contains("balanced"), "{text}");
    assert!(text.contains("0 item(s) paid twice"), "{text}");
    assert!(text.contains("Demo complete."), "{text}");
}

#[test]
fn token_without_a_secret_fails_clearly_and_prints_only_the_token_with_one() {
    let args = [
        "token",
        "--role",
        "tenant_admin",
        "--merchant",
        "merchant_123",
    ];
    let out = payouts(&args, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).is_empty());
    assert!(
        stderr(&out).contains("PAYOUTS_JWT_SECRET is not set"),
        "{}",
        stderr(&out)
    );

    let out = payouts(&args, &[("PAYOUTS_JWT_SECRET", "short")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("at least 32 bytes"),
        "{}",
        stderr(&out)
    );

    let secret = "0123456789abcdef0123456789abcdef";
    let out = payouts(&args, &[("PAYOUTS_JWT_SECRET", secret)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let token = text.trim_end();
    assert_eq!(text.lines().count(), 1, "only the token: {text:?}");
    assert_eq!(token.split('.').count(), 3, "a JWT: {token}");
    let claims = payouts_http::JwtSecret::new(secret)
        .unwrap()
        .verify(token)
        .unwrap();
    assert_eq!(claims.merchant_id, "merchant_123");
    assert!(!stderr(&out).contains(secret));
}

#[test]
fn migrate_applies_once_then_has_nothing_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "m.db");
    let first = payouts(&["migrate", "--database-url", &url], &[]);
    assert!(first.status.success(), "{}", stderr(&first));
    assert!(
        stdout(&first).contains("applied 6 migration(s) (6 known)"),
        "{}",
        stdout(&first)
    );
    assert!(stdout(&first).contains("m20260101_000001_initial"));
    assert!(stdout(&first).contains("m20260301_000002_events_leases_disputes"));
    assert!(stdout(&first).contains("m20261121_000003_open_items_index"));
    assert!(stdout(&first).contains("m20261201_000004_account_owners"));
    assert!(stdout(&first).contains("m20261201_000005_console_sessions"));
    assert!(stdout(&first).contains("m20261207_000006_outbox_delivery"));

    // The same database through DATABASE_URL.
    let second = payouts(&["migrate"], &[("DATABASE_URL", &url)]);
    assert!(second.status.success(), "{}", stderr(&second));
    assert!(
        stdout(&second).contains("already up to date"),
        "{}",
        stdout(&second)
    );
}

#[test]
fn bad_input_gives_a_clear_error_and_a_non_zero_exit() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "b.db");
    let cases: [(&[&str], i32, &str); 9] = [
        (&[], 2, "Usage: payouts <COMMAND>"),
        (&["frobnicate"], 2, "unrecognized subcommand 'frobnicate'"),
        (&["token", "--merchant", "m_1"], 2, "--role <ROLE>"),
        (
            &["token", "--role", "king", "--merchant", "m_1"],
            2,
            "unknown role `king`",
        ),
        (
            &["batch", "show", "42"],
            2,
            "invalid value '42' for '<BATCH_ID>'",
        ),
        (
            &[
                "batch",
                "create",
                "--program",
                "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
                "--period",
                "2026-13",
            ],
            2,
            "invalid value '2026-13' for '--period <YYYY-MM>'",
        ),
        (
            &["serve", "--bind", "nowhere"],
            2,
            "invalid value 'nowhere'",
        ),
        (
            &["migrate", "--database-url", "mysql://db/payouts"],
            1,
            "unsupported database URL scheme `mysql`",
        ),
        (
            &[
                "batch",
                "show",
                "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
                "--database-url",
                &url,
            ],
            1,
            "batch 7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11 not found",
        ),
    ];
    for (args, code, message) in cases {
        let out = payouts(args, &[]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        assert!(
            err.contains(message),
            "{args:?}: expected {message:?} in {err}"
        );
        assert!(!err.contains("panicked"), "{args:?}: {err}");
    }
    // A password in a database URL never reaches the output.
    let out = payouts(
        &[
            "migrate",
            "--database-url",
            "postgres://app:hunter2@[::1/payouts",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(!stderr(&out).contains("hunter2"), "{}", stderr(&out));
}

#[test]
fn help_names_every_subcommand() {
    let out = payouts(&["--help"], &[]);
    assert!(out.status.success());
    let text = stdout(&out);
    for command in ["serve", "migrate", "token", "demo", "batch"] {
        assert!(text.contains(command), "{command} missing from:\n{text}");
    }
    assert!(text.contains("STRIPE_SECRET_KEY"));
}

/// The help says what is true: every secret the binary reads is named in
/// both helps, and `--scheduler` names every job the scheduler runs.
#[test]
fn help_names_every_secret_and_every_scheduler_job() {
    let top = stdout(&payouts(&["--help"], &[]));
    let serve = stdout(&payouts(&["serve", "--help"], &[]));
    for secret in payouts::settings::SECRET_VARS {
        assert!(top.contains(secret), "{secret} missing from --help:\n{top}");
        assert!(
            serve.contains(secret),
            "{secret} missing from serve --help:\n{serve}"
        );
    }
    assert!(payouts::settings::SECRET_VARS.contains(&"PAYOUTS_NOTIFY_SECRET"));
    for job in payouts::scheduler::JOBS {
        assert!(
            serve.contains(job),
            "job {job} missing from serve --help:\n{serve}"
        );
    }
    assert!(!serve.contains("for now"), "{serve}");
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// Sets up a connected merchant with two onboarded partners who each made a
/// sale, through the library against a sandbox the test owns; then builds,
/// executes (one transfer refused), shows and retries the batch through
/// the binary, which reaches that sandbox through STRIPE_API_BASE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_commands_run_against_a_running_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite_url(dir.path(), "batch.db");
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    let base = sandbox.base_url();

    let mut settings = Settings::new(db.clone());
    settings.stripe.api_base = Some(base.clone());
    let wired = payouts::wire(&settings).await.unwrap();
    assert_eq!(
        wired.stripe_mode,
        StripeMode::ExternalSandbox { url: base.clone() }
    );
    assert!(wired.sandbox.is_none());
    let engine = &wired.engine;

    let merchant = MerchantId::parse("merchant_cli").unwrap();
    let start = engine.start_connect(&merchant).await.unwrap();
    let grant = sandbox.create_oauth_code(None).unwrap();
    let outcome = engine
        .complete_connect(start.state.token.as_str(), Some(&grant.code), None)
        .await
        .unwrap();
    let CallbackOutcome::Connected { connection, .. } = outcome else {
        panic!("not connected: {outcome:?}");
    };
    let program = engine
        .create_program(
            &merchant,
            ProgramSettings {
                name: "CLI partners".into(),
                currency: Currency::USD,
                commission_rule: CommissionRule {
                    amount: CommissionAmount::Fixed { amount: usd(2_500) },
                    recurring_months: None,
                },
                holding_days: 0,
                minimum_payout: usd(1_000),
                payout_policy: PayoutPolicy::AutoAll,
                coupon_sync: CouponSyncMode::Manual,
            },
        )
        .await
        .unwrap();
    let now = engine.clock().now();
    for (i, key) in ["ann", "ben"].into_iter().enumerate() {
        let m = engine
            .enroll_partner(
                program.id,
                NewPartner {
                    partner_id: None,
                    email: format!("{key}@example.com"),
                    country: "US".into(),
                    referral_key: ReferralKey::parse(key).unwrap(),
                },
            )
            .await
            .unwrap();
        engine
            .onboarding_link(m.id, "https://r.example", "https://f.example")
            .await
            .unwrap();
        let account = engine.membership(m.id).await.unwrap().account_id.unwrap();
        sandbox.complete_onboarding(account.as_str()).unwrap();
        engine.refresh_onboarding(m.id).await.unwrap();
        engine
            .record_conversion(
                program.id,
                ConversionInput {
                    external_id: ExternalId::parse(format!("order-{i}")).unwrap(),
                    amount: usd(10_000),
                    occurred_at: now,
                    coupon_code: None,
                    referral_key: Some(ReferralKey::parse(key).unwrap()),
                    customer_ref: None,
                    payment_ref: None,
                },
            )
            .await
            .unwrap();
    }
    sandbox
        .set_balance(SetBalance {
            account: Some(connection.account_id.as_str().to_owned()),
            currency: "usd".into(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();

    let env = vec![("STRIPE_API_BASE".to_owned(), base.clone())];
    let run = |args: &[&str]| {
        let mut all: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
        all.extend(["--database-url".to_owned(), db.clone(), "--json".to_owned()]);
        payouts_async(all, env.clone())
    };
    let json = |o: &Output| -> Value {
        assert!(o.status.success(), "failed: {}", stderr(o));
        serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("{e}: {}", stdout(o)))
    };

    let period = Period::containing(now).to_string();
    let created = json(
        &run(&[
            "batch",
            "create",
            "--program",
            &program.id.to_string(),
            "--period",
            &period,
        ])
        .await,
    );
    assert_eq!(created["finalized"], 2);
    assert_eq!(created["batch"]["state"], "approved");
    assert_eq!(created["batch"]["item_count"], 2);
    let batch_id = created["batch"]["id"].as_str().unwrap().to_owned();

    sandbox.add_fault(
        FaultSpec::fail(
            "/v1/transfers",
            1,
            400,
            ErrorType::InvalidRequestError,
            "balance_insufficient",
        )
        .with_method("POST"),
    );
    let executed = json(&run(&["batch", "execute", &batch_id]).await);
    assert_eq!(executed["report"]["posted"], 1, "{executed}");
    assert_eq!(executed["report"]["failed"], 1, "{executed}");
    assert_eq!(executed["summary"]["failed_count"], 1, "{executed}");

    let shown = json(&run(&["batch", "show", &batch_id]).await);
    assert_eq!(shown["batch"]["state"], "completed_with_failures");
    let failed = shown["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["state"]["state"] == "failed")
        .unwrap_or_else(|| panic!("no failed item: {shown}"));
    assert_eq!(failed["state"]["failure"]["kind"], "insufficient_balance");
    let item_id = failed["id"].as_str().unwrap().to_owned();

    let retried = json(&run(&["batch", "retry", &item_id]).await);
    assert_eq!(retried["state"]["state"], "posted", "{retried}");
    assert_eq!(retried["state"]["attempt"], 2, "{retried}");

    // Retrying a posted item is refused, in words.
    let again = run(&["batch", "retry", &item_id]).await;
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("only a failed item can be retried"),
        "{}",
        stderr(&again)
    );

    // Text output, without --json.
    let text = payouts_async(
        vec![
            "batch".into(),
            "show".into(),
            batch_id.clone(),
            "--database-url".into(),
            db.clone(),
        ],
        env.clone(),
    )
    .await;
    assert!(text.status.success(), "{}", stderr(&text));
    assert!(
        stdout(&text).contains("state      completed"),
        "{}",
        stdout(&text)
    );
    assert!(
        stdout(&text).contains("posted          2         USD 50.00"),
        "{}",
        stdout(&text)
    );

    let ledger = sandbox.ledger(&LedgerFilter::default());
    assert_eq!(ledger.count, 2);
    assert!(ledger.counts_by_item_id.values().all(|n| *n == 1));
    assert!(sandbox.validation_failures().is_empty());
    wired.shutdown().await;
    sandbox.stop().await;
}
