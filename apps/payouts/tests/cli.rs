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
use payouts_domain::reward::ConversionKind;
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
    // Every known migration is applied on a new database, each named.
    let out = stdout(&first);
    let names: Vec<&str> = out
        .lines()
        .map(str::trim)
        .filter(|l| l.starts_with('m') && l.contains('_'))
        .collect();
    assert!(
        out.contains(&format!(
            "applied {n} migration(s) ({n} known)",
            n = names.len()
        )),
        "{out}"
    );
    for name in [
        "m20260101_000001_initial",
        "m20260301_000002_events_leases_disputes",
        "m20261121_000003_open_items_index",
        "m20261201_000004_account_owners",
        "m20261201_000005_console_sessions",
        "m20261207_000006_batch_source_account",
        "m20261207_000007_outbox_delivery",
    ] {
        assert!(names.contains(&name), "{name} not applied: {out}");
    }

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
        (&[], 2, "Usage: payouts [OPTIONS] <COMMAND>"),
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
    for command in ["serve", "migrate", "token", "demo", "batch", "reconcile"] {
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
    for stale in ["for now", "wire the engine", "placeholder"] {
        assert!(!serve.contains(stale), "{stale}: {serve}");
    }
    assert!(
        serve.contains("Run the HTTP service and the console"),
        "{serve}"
    );
    // The log format is named where the logs are described.
    assert!(top.contains("PAYOUTS_LOG_FORMAT"), "{top}");
    assert!(serve.contains("PAYOUTS_LOG_FORMAT"), "{serve}");
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
        .complete_connect(
            start.state.token.as_str(),
            Some(&grant.code),
            None,
            &payouts_domain::audit::Acting::stripe(None),
        )
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
                commission_rule: CommissionRule::flat(
                    CommissionAmount::Fixed { amount: usd(2_500) },
                    None,
                ),
                holding_days: 0,
                minimum_payout: usd(1_000),
                payout_policy: PayoutPolicy::AutoAll,
                coupon_sync: CouponSyncMode::Manual,
                minimum_payouts: std::collections::BTreeMap::new(),
                payout_countries: vec!["US".to_owned()],
            },
            &payouts_domain::audit::Acting::cli("test"),
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
                    customer_email: None,
                    external_id: ExternalId::parse(format!("order-{i}")).unwrap(),
                    amount: usd(10_000),
                    occurred_at: now,
                    coupon_code: None,
                    referral_key: Some(ReferralKey::parse(key).unwrap()),
                    customer_ref: None,
                    payment_ref: None,
                    kind: ConversionKind::Sale,
                    product_id: None,
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

    // Reconciliation: clean, exit 0.
    let program_id = program.id.to_string();
    let by_period = ["reconcile", "--program", &program_id, "--period", &period];
    let clean = run(&by_period).await;
    assert_eq!(clean.status.code(), Some(0), "{}", stderr(&clean));
    let report = json(&clean);
    assert_eq!(report["clean"], true, "{report}");
    assert_eq!(report["report"]["lines"].as_array().unwrap().len(), 2);

    // A transfer made at Stripe behind our back, from the merchant's
    // account into a partner's under the batch's group: exit 3, named.
    let partner_account = shown["items"][0]["destination"]
        .as_str()
        .unwrap()
        .to_owned();
    let group = format!("batch_{batch_id}");
    let made = reqwest::Client::new()
        .post(format!("{base}/v1/transfers"))
        .bearer_auth("sk_test_behind_our_back")
        .header("Stripe-Account", connection.account_id.as_str())
        .form(&[
            ("amount", "777"),
            ("currency", "usd"),
            ("destination", partner_account.as_str()),
            ("transfer_group", group.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());
    let differs = run(&by_period).await;
    assert_eq!(differs.status.code(), Some(3), "{}", stderr(&differs));
    assert!(
        stderr(&differs).contains("1 difference(s)"),
        "{}",
        stderr(&differs)
    );
    let report: Value = serde_json::from_slice(&differs.stdout).unwrap();
    assert_eq!(report["clean"], false);
    assert_eq!(report["differences"], 1);
    let line = report["report"]["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["kind"] == "not_ours")
        .unwrap_or_else(|| panic!("no not_ours line: {report}"));
    assert_eq!(line["stripe"]["amount"], 777, "{line}");
    assert_eq!(line["destination"], partner_account.as_str());
    // By batch, as text.
    let text = payouts_async(
        vec![
            "reconcile".into(),
            "--batch".into(),
            batch_id.clone(),
            "--database-url".into(),
            db.clone(),
        ],
        env.clone(),
    )
    .await;
    assert_eq!(text.status.code(), Some(3), "{}", stderr(&text));
    let printed = stdout(&text);
    assert!(printed.contains("not_ours"), "{printed}");
    assert!(printed.contains("USD 7.77"), "{printed}");
    assert!(printed.contains("made outside this engine"), "{printed}");

    assert!(sandbox.validation_failures().is_empty());
    wired.shutdown().await;
    sandbox.stop().await;
}

/// `batch show` (and `create`, `approve`) only read and write the
/// database: their help names no Stripe option and they start no sandbox.
/// `execute` and `retry` keep the Stripe options.
#[test]
fn batch_show_takes_no_stripe_option_and_starts_no_sandbox() {
    for command in ["show", "create", "approve"] {
        let help = stdout(&payouts(&["batch", command, "--help"], &[]));
        assert!(help.contains("--database-url"), "{command}:\n{help}");
        for stripe in ["--stripe-", "STRIPE_", "sandbox", "--exec-concurrency"] {
            assert!(
                !help.contains(stripe),
                "batch {command} --help names {stripe}:\n{help}"
            );
        }
    }
    for command in ["execute", "retry"] {
        let help = stdout(&payouts(&["batch", command, "--help"], &[]));
        for flag in [
            "--stripe-api-base",
            "--stripe-ops-per-second",
            "STRIPE_SECRET_KEY",
        ] {
            assert!(
                help.contains(flag),
                "{flag} missing from {command}:\n{help}"
            );
        }
    }
    // A Stripe flag is refused by `show`.
    let out = payouts(
        &[
            "batch",
            "show",
            "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
            "--stripe-api-base",
            "http://127.0.0.1:9",
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // It runs on the database alone: no sandbox is started (an in-process
    // sandbox says so at `info`), even without any Stripe setting.
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "show.db");
    let mut command = Command::new(env!("CARGO_BIN_EXE_payouts"));
    for var in AMBIENT {
        command.env_remove(var);
    }
    let out = command
        .args([
            "batch",
            "show",
            "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
            "--database-url",
            &url,
        ])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not found"), "{err}");
    assert!(!err.to_lowercase().contains("sandbox"), "{err}");
}

/// `--log-format` / `PAYOUTS_LOG_FORMAT`: `text` by default, `json` for one
/// JSON object per line, anything else refused in words.
#[test]
fn the_log_format_is_text_or_json_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let url = sqlite_url(dir.path(), "fmt.db");
    let run = |extra: &[&str], env: &[(&str, &str)]| {
        let mut args = vec!["migrate", "--database-url", url.as_str()];
        args.extend_from_slice(extra);
        let mut all = vec![("RUST_LOG", "info")];
        all.extend_from_slice(env);
        payouts(&args, &all)
    };
    let text = run(&[], &[]);
    assert!(text.status.success(), "{}", stderr(&text));
    let lines: Vec<String> = stderr(&text).lines().map(str::to_owned).collect();
    assert!(!lines.is_empty());
    assert!(lines.iter().all(|l| !l.starts_with('{')), "{lines:?}");

    for json in [
        run(&[], &[("PAYOUTS_LOG_FORMAT", "json")]),
        run(&["--log-format", "json"], &[]),
    ] {
        assert!(json.status.success(), "{}", stderr(&json));
        let err = stderr(&json);
        assert!(!err.trim().is_empty());
        for line in err.lines() {
            let v: Value =
                serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
            assert!(
                v["level"].is_string() && v["timestamp"].is_string(),
                "{line}"
            );
        }
    }

    for (args, env) in [
        (vec!["--log-format", "yaml"], vec![]),
        (vec![], vec![("PAYOUTS_LOG_FORMAT", "yaml")]),
    ] {
        let out = run(&args, &env);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("invalid value 'yaml' for '--log-format <FORMAT>'")
                && err.contains("[possible values: text, json]"),
            "{err}"
        );
    }
}

/// A running `payouts serve` whose stdout and stderr are collected.
struct Served {
    child: std::process::Child,
    out: std::sync::Arc<std::sync::Mutex<String>>,
    err: std::sync::Arc<std::sync::Mutex<String>>,
    base: String,
}

impl Served {
    fn start(env: &[(&str, &str)]) -> Served {
        use std::io::BufRead;
        use std::sync::{Arc, Mutex};
        let mut command = Command::new(env!("CARGO_BIN_EXE_payouts"));
        command.arg("serve");
        for var in AMBIENT {
            command.env_remove(var);
        }
        command
            .envs(env.iter().copied())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let collect = |stream: Box<dyn std::io::Read + Send>| {
            let buffer = Arc::new(Mutex::new(String::new()));
            let sink = Arc::clone(&buffer);
            std::thread::spawn(move || {
                for line in std::io::BufReader::new(stream).lines() {
                    let Ok(line) = line else { break };
                    let mut b = sink.lock().unwrap();
                    b.push_str(&line);
                    b.push('\n');
                }
            });
            buffer
        };
        let out = collect(Box::new(child.stdout.take().unwrap()));
        let err = collect(Box::new(child.stderr.take().unwrap()));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let base = loop {
            let text = out.lock().unwrap().clone();
            if let Some(rest) = text.split("listening on ").nth(1) {
                break rest.lines().next().unwrap().trim().to_owned();
            }
            let ended = child.try_wait().unwrap();
            assert!(
                ended.is_none(),
                "serve ended ({ended:?}): {}",
                err.lock().unwrap()
            );
            assert!(
                std::time::Instant::now() < deadline,
                "serve did not start: {}",
                err.lock().unwrap()
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        };
        Served {
            child,
            out,
            err,
            base,
        }
    }

    /// Stops it gracefully (SIGTERM) and returns (stdout, stderr).
    fn stop(mut self) -> (String, String) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        // The readers end with the pipes.
        std::thread::sleep(std::time::Duration::from_millis(200));
        let out = self.out.lock().unwrap().clone();
        let err = self.err.lock().unwrap().clone();
        (out, err)
    }
}

/// The request log of `payouts serve`, in both formats, at `RUST_LOG=debug`:
/// every request is one line with its route pattern and request id (the
/// caller's `Request-Id` comes back and is in the log), Stripe calls log
/// Stripe's `Request-Id`, and no secret ever appears: not the Stripe key,
/// the webhook secret, the JWT secret, the notify secret, a bearer token, a
/// login link's token, a session cookie, nor an OAuth code or state.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_logs_each_request_with_its_id_and_never_a_secret() {
    payouts::install_tls_provider();
    let sandbox = Sandbox::start(SandboxConfig::default()).await.unwrap();
    for format in ["text", "json"] {
        let dir = tempfile::tempdir().unwrap();
        let db = sqlite_url(dir.path(), "logs.db");
        let unique = || uuid::Uuid::new_v4().simple().to_string();
        let stripe_key = format!("sk_test_{}", unique());
        let webhook_secret = format!("whsec_{}", unique());
        let jwt_secret = format!("jwt{}{}", unique(), unique());
        let notify_secret = format!("notify{}", unique());

        // A login link in the service's database, made before it starts.
        let link = payouts_async(
            vec![
                "login-link".into(),
                "--role".into(),
                "tenant_admin".into(),
                "--merchant".into(),
                "merchant_logs".into(),
                "--database-url".into(),
                db.clone(),
            ],
            vec![],
        )
        .await;
        assert!(link.status.success(), "{}", stderr(&link));
        let login_token = stdout(&link)
            .trim()
            .rsplit("/login/")
            .next()
            .unwrap()
            .to_owned();
        assert!(login_token.len() >= 16, "{login_token}");

        let base = sandbox.base_url();
        let env: Vec<(String, String)> = vec![
            ("PAYOUTS_LOG_FORMAT".into(), format.into()),
            ("RUST_LOG".into(), "debug".into()),
            ("DATABASE_URL".into(), db.clone()),
            ("PAYOUTS_BIND".into(), "127.0.0.1:0".into()),
            ("STRIPE_SECRET_KEY".into(), stripe_key.clone()),
            ("STRIPE_CLIENT_ID".into(), "ca_logs".into()),
            ("STRIPE_API_BASE".into(), base.clone()),
            ("STRIPE_CONNECT_BASE".into(), base.clone()),
            ("STRIPE_WEBHOOK_SECRET".into(), webhook_secret.clone()),
            ("PAYOUTS_JWT_SECRET".into(), jwt_secret.clone()),
            ("PAYOUTS_NOTIFY_SECRET".into(), notify_secret.clone()),
            // Notifications are signed with the notify secret (and fail to
            // arrive: nothing listens there).
            (
                "PAYOUTS_NOTIFY_WEBHOOKS".into(),
                "*=http://127.0.0.1:9/notifications".into(),
            ),
            ("PAYOUTS_SCHEDULER_TICK_MS".into(), "200".into()),
        ];
        let served = tokio::task::spawn_blocking(move || {
            let env: Vec<(&str, &str)> =
                env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            Served::start(&env)
        })
        .await
        .unwrap();
        let url = |path: &str| format!("{}{path}", served.base);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();

        // The API with a bearer token and the caller's request id.
        let jwt = payouts_http::JwtSecret::new(jwt_secret.as_bytes().to_vec()).unwrap();
        let token = jwt
            .mint(&payouts_http::auth::claims(
                "logs-test",
                vec![payouts_http::Role::TenantAdmin],
                &MerchantId::parse("merchant_logs").unwrap(),
                None,
                time::OffsetDateTime::now_utc(),
                time::Duration::hours(1),
            ))
            .unwrap();
        let request_id = format!("logs-test-{format}-{}", unique());
        let res = http
            .get(url("/api/v1/programs"))
            .bearer_auth(&token)
            .header("Request-Id", &request_id)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            res.headers().get("request-id").unwrap().to_str().unwrap(),
            request_id
        );
        // A forged token is refused, and not logged either.
        let forged = format!("eyJforged.{}.sig", unique());
        let res = http
            .get(url("/api/v1/programs"))
            .bearer_auth(&forged)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);
        assert!(
            res.headers()
                .get("request-id")
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("req_")
        );

        // Connect OAuth: a real state and code (the exchange is a Stripe
        // call with the key), then unknown ones.
        let start: Value = http
            .get(url("/api/v1/stripe-connect/authorize"))
            .bearer_auth(&token)
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let state = start["state"].as_str().unwrap().to_owned();
        let code = sandbox.create_oauth_code(None).unwrap().code;
        let res = http
            .get(url(&format!(
                "/api/v1/stripe-connect/callback?code={code}&state={state}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);
        let location = res.headers().get("location").unwrap().to_str().unwrap();
        assert!(location.contains("stripe=connected"), "{location}");
        let bogus_code = format!("ac_{}", unique());
        let bogus_state = format!("st{}", unique());
        let res = http
            .get(url(&format!(
                "/api/v1/stripe-connect/callback?code={bogus_code}&state={bogus_state}"
            )))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 302);

        // The console: a login link, its session cookie, a page, a 404.
        let res = http
            .get(url(&format!("/login/{login_token}")))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303, "{:?}", res.headers());
        let cookie = res
            .headers()
            .get("set-cookie")
            .unwrap()
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        let cookie_value = cookie.split_once('=').unwrap().1.to_owned();
        assert!(cookie_value.len() >= 16, "{cookie}");
        let res = http
            .get(url("/dashboard/partners"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        let res = http
            .get(url(&format!("/login/{login_token}")))
            .send()
            .await
            .unwrap();
        assert!(res.headers().contains_key("request-id"));

        // A webhook signed with the secret.
        let payload = serde_json::json!({
            "id": format!("evt_{}", unique()),
            "object": "event",
            "api_version": payouts_stripe::stripe_version(),
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "livemode": false,
            "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null},
            "type": "balance.available",
            "data": {"object": {"object": "balance", "available": [], "pending": [], "livemode": false}}
        })
        .to_string();
        let signature = payouts_stripe::webhook::sign(
            &payouts_stripe::SecretString::from(webhook_secret.clone()),
            time::OffsetDateTime::now_utc().unix_timestamp(),
            payload.as_bytes(),
        );
        let res = http
            .post(url("/webhooks/stripe"))
            .header("Stripe-Signature", &signature)
            .header("Content-Type", "application/json")
            .body(payload)
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "webhook: {}", res.status());
        let signature_hex = signature.rsplit("v1=").next().unwrap().to_owned();

        // Let the scheduler run a few ticks with the key.
        tokio::time::sleep(std::time::Duration::from_millis(600)).await;
        let (out, err) = tokio::task::spawn_blocking(move || served.stop())
            .await
            .unwrap();
        let all = format!("{out}\n{err}");

        for (name, secret) in [
            ("STRIPE_SECRET_KEY", stripe_key.as_str()),
            ("STRIPE_WEBHOOK_SECRET", webhook_secret.as_str()),
            ("PAYOUTS_JWT_SECRET", jwt_secret.as_str()),
            ("PAYOUTS_NOTIFY_SECRET", notify_secret.as_str()),
            ("the bearer token", token.as_str()),
            ("the forged bearer token", forged.as_str()),
            ("the login link's token", login_token.as_str()),
            ("the session cookie", cookie_value.as_str()),
            ("the OAuth code", code.as_str()),
            ("the OAuth state", state.as_str()),
            ("an unknown OAuth code", bogus_code.as_str()),
            ("an unknown OAuth state", bogus_state.as_str()),
            ("the webhook signature", signature_hex.as_str()),
        ] {
            assert!(
                !all.contains(secret),
                "{format}: {name} is in the output:\n{all}"
            );
        }

        // One line per request, in the request's span, with the caller's id.
        let mine: Vec<&str> = err.lines().filter(|l| l.contains(&request_id)).collect();
        assert!(
            !mine.is_empty(),
            "{format}: {request_id} not logged:\n{err}"
        );
        assert!(
            err.contains("/login/{token}") && err.contains("/api/v1/stripe-connect/callback"),
            "{format}: route patterns missing:\n{err}"
        );
        match format {
            "json" => {
                for line in err.lines() {
                    serde_json::from_str::<Value>(line)
                        .unwrap_or_else(|e| panic!("{e}: not JSON: {line}"));
                }
                let ends: Vec<Value> = mine
                    .iter()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap())
                    .filter(|v| v["fields"]["message"] == "request")
                    .collect();
                assert_eq!(ends.len(), 1, "{mine:?}");
                let span = &ends[0]["span"];
                assert_eq!(span["route"], "/api/v1/programs", "{span}");
                assert_eq!(span["method"], "GET", "{span}");
                assert_eq!(span["status"], 200, "{span}");
                assert!(span["latency_ms"].is_u64(), "{span}");
                assert!(
                    err.lines().any(|l| l.contains("stripe call")
                        && l.contains("\"stripe_request_id\":\"req_")
                        && l.contains("/oauth/token")),
                    "{format}: no Stripe call with its request id:\n{err}"
                );
            }
            _ => {
                let end = mine
                    .iter()
                    .find(|l| l.trim_end().ends_with(": request"))
                    .unwrap_or_else(|| panic!("no request line in {mine:?}"));
                for part in [
                    "method=GET",
                    "route=/api/v1/programs",
                    "status=200",
                    "latency_ms=",
                ] {
                    assert!(end.contains(part), "{part} missing: {end}");
                }
                assert!(
                    err.lines().any(|l| l.contains("stripe call")
                        && l.contains("stripe_request_id=req_")
                        && l.contains("path=/oauth/token")),
                    "{format}: no Stripe call with its request id:\n{err}"
                );
            }
        }
    }
    sandbox.stop().await;
}
