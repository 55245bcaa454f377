//! The command line: subcommands, their arguments, the error every command
//! reports, and [`run`].

use std::io::Write;

use clap::{Args, Parser, Subcommand, ValueEnum};
use payouts_domain::DomainError;
use payouts_domain::ids::{BatchId, MerchantId, PartnerId, PayoutItemId, ProgramId};
use payouts_domain::period::Period;
use payouts_http::Role;

use crate::settings::{DatabaseSettings, EngineSettings, Settings, StripeSettings};
use crate::wire::WireError;

const AFTER_HELP: &str = "\
Secrets are read from the environment only, never from flags:
  STRIPE_SECRET_KEY      sk_test_… / sk_live_… / rk_…; without it Stripe calls go to a sandbox:
                         the one at STRIPE_API_BASE if set, else one started in this process
  STRIPE_WEBHOOK_SECRET  whsec_… (comma-separated during rotation)
  PAYOUTS_JWT_SECRET     HS256 secret for API tokens, at least 32 bytes
  PAYOUTS_NOTIFY_SECRET  signs the notification webhooks (PAYOUTS_NOTIFY_WEBHOOKS)

Logs go to stderr (RUST_LOG overrides the default `info`), as text or, with
--log-format json (PAYOUTS_LOG_FORMAT=json), one JSON object per line; results go to stdout.";

const BATCH_HELP: &str = "\
`create`, `show` and `approve` only read and write the database: they make no Stripe call and
take no Stripe option. `execute` and `retry` send transfers: see their --help.";

const BATCH_STRIPE_HELP: &str = "\
Stripe: with STRIPE_SECRET_KEY (and STRIPE_CLIENT_ID) the real API is used. Without it, the
stripe-sandbox at STRIPE_API_BASE is used if set (e.g. one started with
`cargo run -p stripe-sandbox -- --addr 127.0.0.1:12111`), else a sandbox started inside this
process. An in-process sandbox starts empty and ends with the command, so transfers sent to it
fail: the merchant's and partners' accounts do not exist there.";

const SERVE_HELP: &str = "\
Secrets are read from the environment only: STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET,
PAYOUTS_JWT_SECRET, PAYOUTS_NOTIFY_SECRET. Without STRIPE_SECRET_KEY, Stripe calls go to the stripe-sandbox at
STRIPE_API_BASE if set, else to one started inside this process (logged with its URL).";

/// Pays partner and affiliate commissions through Stripe Connect.
#[derive(Debug, Parser)]
#[command(name = "payouts", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Log lines on stderr: `text` (readable) or `json` (one object per line).
    #[arg(
        long = "log-format",
        env = "PAYOUTS_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Text,
        global = true,
        value_name = "FORMAT"
    )]
    pub log_format: LogFormat,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum LogFormat {
    /// Readable lines (the default).
    #[default]
    Text,
    /// One JSON object per line, with the fields of the spans it is in.
    Json,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service and the console (and the scheduler), until Ctrl-C or SIGTERM.
    #[command(after_help = SERVE_HELP)]
    Serve(Settings),
    /// Apply pending database migrations and say which ones ran.
    Migrate(MigrateArgs),
    /// Mint an API token (JWT) signed with PAYOUTS_JWT_SECRET; prints only the token.
    Token(TokenArgs),
    /// Issue a single-use console sign-in link (5 minutes); prints only the URL.
    LoginLink(LoginLinkArgs),
    /// Run the whole payout story end to end against an in-process Stripe sandbox.
    Demo(DemoArgs),
    /// Build, inspect, approve, execute and retry payout batches.
    #[command(subcommand, after_help = BATCH_HELP)]
    Batch(BatchCommand),
    /// Compare a program's period (or one batch) with the transfers Stripe
    /// holds; exits 3 on any difference.
    #[command(after_help = RECONCILE_HELP)]
    Reconcile(ReconcileArgs),
}

const RECONCILE_HELP: &str = "\
Reports every posted or reversed item matched with its Stripe transfer, and each difference:
missing_at_stripe, not_ours (a transfer under our group that we did not make), amount_mismatch,
unrecorded_reversal, reversal_not_at_stripe; and checks the period's ledger
(finalized = posted + carried + pending + failed).

Exit status: 0 when clean, 3 when anything differs, 1 when the command failed.

Stripe: as for `batch execute` (STRIPE_SECRET_KEY, else the sandbox at STRIPE_API_BASE, else an
empty in-process sandbox).";

/// `payouts reconcile`: a program and a period, or one batch.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["program", "batch"])))]
pub struct ReconcileArgs {
    /// The program (a UUID), with --period.
    #[arg(long, value_name = "PROGRAM_ID", value_parser = parse_program, requires = "period")]
    pub program: Option<ProgramId>,
    /// The period its batches pay, YYYY-MM, with --program.
    #[arg(long, value_name = "YYYY-MM", value_parser = parse_period, requires = "program")]
    pub period: Option<Period>,
    /// One batch (a UUID), instead of --program and --period.
    #[arg(long, value_name = "BATCH_ID", value_parser = parse_batch, conflicts_with_all = ["program", "period"])]
    pub batch: Option<BatchId>,
    /// Output, database, Stripe and engine.
    #[command(flatten)]
    pub common: BatchStripeOptions,
}

/// `payouts migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The database.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// `payouts token`.
#[derive(Debug, Args)]
pub struct TokenArgs {
    /// A role the token carries; repeat for several. One of: pos_staff,
    /// payment_admin, tenant_admin, platform_admin, system_admin,
    /// super_admin, integration_admin, manager, partner.
    #[arg(long = "role", value_name = "ROLE", required = true, value_parser = parse_role)]
    pub roles: Vec<Role>,
    /// The merchant (tenant) the token is scoped to, e.g. `merchant_123`.
    #[arg(long, value_name = "MERCHANT_ID", value_parser = parse_merchant)]
    pub merchant: MerchantId,
    /// The partner a `partner` token belongs to (a partner UUID).
    #[arg(long, value_name = "PARTNER_ID", value_parser = parse_partner)]
    pub partner: Option<PartnerId>,
    /// Hours until the token expires (1 to 8760).
    #[arg(
        long = "ttl-hours",
        value_name = "N",
        default_value_t = 24,
        value_parser = clap::value_parser!(u16).range(1..=8760)
    )]
    pub ttl_hours: u16,
    /// The token's subject (`sub`).
    #[arg(long, value_name = "SUBJECT", default_value = "payouts-cli")]
    pub subject: String,
}

/// `payouts login-link`.
#[derive(Debug, Args)]
pub struct LoginLinkArgs {
    /// The role the link signs in with: one of pos_staff, payment_admin,
    /// tenant_admin, platform_admin, system_admin, super_admin,
    /// integration_admin, manager, partner.
    #[arg(long = "role", value_name = "ROLE", value_parser = parse_role)]
    pub role: Role,
    /// The merchant, e.g. `merchant_123`.
    #[arg(long, value_name = "MERCHANT_ID", value_parser = parse_merchant)]
    pub merchant: MerchantId,
    /// For a `partner` link, the partner (a UUID enrolled with the merchant).
    #[arg(long, value_name = "PARTNER_ID", value_parser = parse_partner)]
    pub partner: Option<PartnerId>,
    /// Who it is for, shown in the console.
    #[arg(long, value_name = "SUBJECT", default_value = "console-user")]
    pub subject: String,
    /// Where people reach the service the link signs in to (default:
    /// `http://` and `PAYOUTS_BIND`, as `serve` uses).
    #[arg(long = "public-url", env = "PAYOUTS_PUBLIC_URL", value_name = "URL")]
    pub public_url: Option<String>,
    /// The address `serve` listens on, for the default public URL.
    #[arg(
        long = "bind",
        env = "PAYOUTS_BIND",
        default_value = crate::settings::DEFAULT_BIND,
        value_name = "ADDR"
    )]
    pub bind: std::net::SocketAddr,
    /// The database the service uses.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// `payouts demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Run on this database and keep it (DATABASE_URL is deliberately not
    /// read); default: a temporary SQLite file removed at exit.
    #[arg(long = "database-url", value_name = "URL")]
    pub database_url: Option<String>,
}

/// `payouts batch …`.
#[derive(Debug, Subcommand)]
pub enum BatchCommand {
    /// Finalize a program's due commissions of PERIOD (and earlier) and build its batch.
    Create {
        /// The program (a UUID).
        #[arg(long, value_name = "PROGRAM_ID", value_parser = parse_program)]
        program: ProgramId,
        /// The month to pay, YYYY-MM (earlier unpaid months are included).
        #[arg(long, value_name = "YYYY-MM", value_parser = parse_period)]
        period: Period,
        /// Output and database.
        #[command(flatten)]
        common: BatchOptions,
    },
    /// Show a batch: state, totals by outcome, and every item.
    Show {
        /// The batch (a UUID).
        #[arg(value_name = "BATCH_ID", value_parser = parse_batch)]
        id: BatchId,
        /// Output and database.
        #[command(flatten)]
        common: BatchOptions,
    },
    /// Approve a draft batch.
    Approve {
        /// The batch (a UUID).
        #[arg(value_name = "BATCH_ID", value_parser = parse_batch)]
        id: BatchId,
        /// Who approves (recorded on the batch, and as `cli:<NAME>` in the
        /// audit trail).
        #[arg(long, value_name = "NAME", default_value = "payouts-cli")]
        actor: String,
        /// Output and database.
        #[command(flatten)]
        common: BatchOptions,
    },
    /// Execute an approved batch: one Stripe transfer per item.
    #[command(after_help = BATCH_STRIPE_HELP)]
    Execute {
        /// The batch (a UUID).
        #[arg(value_name = "BATCH_ID", value_parser = parse_batch)]
        id: BatchId,
        /// Output, database, Stripe and engine.
        #[command(flatten)]
        common: BatchStripeOptions,
    },
    /// Retry one failed item now (next attempt, new idempotency key).
    #[command(after_help = BATCH_STRIPE_HELP)]
    Retry {
        /// The payout item (a UUID).
        #[arg(value_name = "ITEM_ID", value_parser = parse_item)]
        id: PayoutItemId,
        /// Output, database, Stripe and engine.
        #[command(flatten)]
        common: BatchStripeOptions,
    },
}

/// Options of the batch subcommands that make no Stripe call
/// (`create`, `show`, `approve`): they only read and write the database.
#[derive(Debug, Args)]
pub struct BatchOptions {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseSettings,
}

/// Options of the batch subcommands that send transfers (`execute`,
/// `retry`).
#[derive(Debug, Args)]
pub struct BatchStripeOptions {
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// The database.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Stripe.
    #[command(flatten)]
    pub stripe: StripeSettings,
    /// The engine.
    #[command(flatten)]
    pub engine: EngineSettings,
}

impl BatchStripeOptions {
    /// The settings `wire` needs (server settings at their defaults).
    pub fn settings(&self) -> Settings {
        let mut settings = Settings::new(self.database.url.clone());
        settings.stripe = self.stripe.clone();
        settings.engine = self.engine.clone();
        settings
    }
}

/// Why a command failed. Every variant reads as a sentence for the user.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Wiring failed (database, Stripe settings, sandbox).
    #[error(transparent)]
    Wire(#[from] WireError),
    /// A use case refused or failed.
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// A required setting is missing or wrong.
    #[error("{0}")]
    Config(String),
    /// The in-process sandbox refused a control call.
    #[error("sandbox: {0}")]
    Sandbox(#[from] stripe_sandbox::SandboxError),
    /// The demo's story did not end as it must.
    #[error("demo: {0}")]
    Demo(String),
    /// A background task died.
    #[error("{0}")]
    Task(String),
    /// Writing the output failed.
    #[error("writing output: {0}")]
    Output(#[from] std::io::Error),
    /// JSON output failed.
    #[error("writing JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Reconciliation found differences (the report is on stdout).
    #[error("reconciliation found {0} difference(s) with Stripe")]
    Differences(usize),
}

/// The exit status of `payouts reconcile` when it finds a difference.
pub const EXIT_DIFFERENCES: u8 = 3;

impl CliError {
    /// True when stdout was closed by the reader (`payouts … | head`):
    /// not a failure of the command.
    pub fn is_broken_pipe(&self) -> bool {
        match self {
            CliError::Output(e) => e.kind() == std::io::ErrorKind::BrokenPipe,
            CliError::Json(e) => e.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe),
            CliError::Wire(_)
            | CliError::Domain(_)
            | CliError::Config(_)
            | CliError::Sandbox(_)
            | CliError::Demo(_)
            | CliError::Task(_)
            | CliError::Differences(_) => false,
        }
    }

    /// The process's exit status for this error: [`EXIT_DIFFERENCES`] for
    /// differences found, 1 for every failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Differences(_) => EXIT_DIFFERENCES,
            CliError::Wire(_)
            | CliError::Domain(_)
            | CliError::Config(_)
            | CliError::Sandbox(_)
            | CliError::Demo(_)
            | CliError::Task(_)
            | CliError::Output(_)
            | CliError::Json(_) => 1,
        }
    }
}

/// Runs a parsed command line; secrets are read from the process environment.
///
/// # Errors
/// [`CliError`] describing what went wrong.
pub async fn run(cli: Cli) -> Result<(), CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let mut out = std::io::stdout();
    match cli.command {
        Command::Serve(settings) => crate::serve::serve(settings.with_secrets(env)).await,
        Command::Migrate(args) => crate::migrate::migrate(&args.database, &mut out).await,
        Command::Token(args) => {
            let secret = crate::settings::secret_var(env, "PAYOUTS_JWT_SECRET");
            let token = crate::token::mint(&args, secret.as_ref())?;
            writeln!(out, "{token}")?;
            Ok(())
        }
        Command::LoginLink(args) => {
            let url = crate::serve::login_link(&args).await?;
            writeln!(out, "{url}")?;
            Ok(())
        }
        Command::Demo(args) => crate::demo::run(&args, &mut out).await,
        Command::Batch(command) => crate::batch::run(command, env, &mut out).await,
        Command::Reconcile(args) => crate::reconcile::run(args, env, &mut out).await,
    }
}

/// Who the command line acts as in the audit trail: `cli:<login name>`
/// (`$USER`, else `$LOGNAME`, else `unknown`). Whoever runs `payouts`
/// holds the database itself, so the name is informative, not proof.
pub(crate) fn operator() -> payouts_domain::audit::Acting {
    let user = ["USER", "LOGNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_owned());
    payouts_domain::audit::Acting::cli(user.trim())
}

fn parse_role(text: &str) -> Result<Role, String> {
    text.parse()
}

fn parse_merchant(text: &str) -> Result<MerchantId, String> {
    MerchantId::parse(text).map_err(|e| e.to_string())
}

fn parse_partner(text: &str) -> Result<PartnerId, String> {
    PartnerId::parse(text).map_err(|e| e.to_string())
}

fn parse_program(text: &str) -> Result<ProgramId, String> {
    ProgramId::parse(text).map_err(|e| e.to_string())
}

fn parse_batch(text: &str) -> Result<BatchId, String> {
    BatchId::parse(text).map_err(|e| e.to_string())
}

fn parse_item(text: &str) -> Result<PayoutItemId, String> {
    PayoutItemId::parse(text).map_err(|e| e.to_string())
}

fn parse_period(text: &str) -> Result<Period, String> {
    Period::parse(text).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn token_requires_a_role_and_a_merchant() {
        assert!(Cli::try_parse_from(["payouts", "token", "--merchant", "m_1"]).is_err());
        let cli = Cli::try_parse_from([
            "payouts",
            "token",
            "--role",
            "tenant_admin",
            "--role",
            "manager",
            "--merchant",
            "merchant_123",
        ])
        .unwrap();
        let Command::Token(args) = cli.command else {
            panic!("not token");
        };
        assert_eq!(args.roles, vec![Role::TenantAdmin, Role::Manager]);
        assert_eq!(args.ttl_hours, 24);
    }

    #[test]
    fn the_scheduler_is_on_unless_turned_off() {
        let serve = |argv: &[&str]| match Cli::try_parse_from(argv).unwrap().command {
            Command::Serve(settings) => settings,
            _ => panic!("not serve"),
        };
        assert!(serve(&["payouts", "serve"]).server.scheduler);
        assert!(
            !serve(&["payouts", "serve", "--scheduler", "false"])
                .server
                .scheduler
        );
        assert!(
            !serve(&["payouts", "serve", "--scheduler", "off"])
                .server
                .scheduler
        );
        let s = serve(&["payouts", "serve", "--bind", "0.0.0.0:9000"]);
        assert_eq!(s.server.bind.port(), 9000);
    }

    #[test]
    fn bad_values_are_refused_by_the_parser() {
        for argv in [
            vec!["payouts", "token", "--role", "king", "--merchant", "m_1"],
            vec!["payouts", "batch", "show", "not-a-uuid"],
            vec![
                "payouts",
                "batch",
                "create",
                "--program",
                "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
                "--period",
                "2026-13",
            ],
            vec!["payouts", "token", "--role", "manager", "--merchant", "m 1"],
            vec!["payouts", "serve", "--bind", "nowhere"],
            vec!["payouts", "reconcile"],
            vec![
                "payouts",
                "reconcile",
                "--program",
                "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
            ],
            vec![
                "payouts",
                "reconcile",
                "--program",
                "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
                "--period",
                "2026-01",
                "--batch",
                "7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
            ],
            vec!["payouts", "reconcile", "--batch", "nope"],
        ] {
            assert!(Cli::try_parse_from(&argv).is_err(), "{argv:?} was accepted");
        }
    }
}
