//! The service settings: clap flags with environment fallbacks for
//! everything that is not a secret, and secrets read from the environment
//! only (a flag would show them in `ps` and in shell history).
//!
//! Secrets are [`SecretString`]s and the database URL's password is masked,
//! so neither `Debug` nor any log line shows them.

use std::fmt;
use std::net::SocketAddr;

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args};
use secrecy::SecretString;

/// A first run needs nothing: an SQLite file in the working directory.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://payouts.db?mode=rwc";
/// Where `serve` listens by default.
pub const DEFAULT_BIND: &str = "127.0.0.1:8080";

/// The environment variables read as secrets (never flags).
pub const SECRET_VARS: [&str; 4] = [
    "STRIPE_SECRET_KEY",
    "STRIPE_WEBHOOK_SECRET",
    "PAYOUTS_JWT_SECRET",
    "PAYOUTS_NOTIFY_SECRET",
];

/// Which database to use.
#[derive(Clone, Args)]
pub struct DatabaseSettings {
    /// Database URL: `sqlite://FILE?mode=rwc` (created if missing),
    /// `sqlite::memory:` or `postgres://USER:PASSWORD@HOST/DB`.
    #[arg(
        long = "database-url",
        env = "DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Database"
    )]
    pub url: String,
}

impl DatabaseSettings {
    /// The URL with any password masked, for logs and messages.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl fmt::Debug for DatabaseSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("url", &self.redacted_url())
            .finish()
    }
}

/// How to reach Stripe. Without a secret key the in-process sandbox (or
/// the sandbox at `--stripe-api-base`) is used; see [`crate::wire`].
#[derive(Clone, Debug, Default, Args)]
pub struct StripeSettings {
    /// The platform's Connect client id (`ca_…`); required with STRIPE_SECRET_KEY.
    #[arg(
        long = "stripe-client-id",
        env = "STRIPE_CLIENT_ID",
        hide_env_values = true,
        value_name = "CA_ID",
        help_heading = "Stripe"
    )]
    pub client_id: Option<String>,
    /// Stripe REST base (scheme, host and port). Without STRIPE_SECRET_KEY,
    /// the base of an already running stripe-sandbox to use instead of an
    /// in-process one.
    #[arg(
        long = "stripe-api-base",
        env = "STRIPE_API_BASE",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Stripe"
    )]
    pub api_base: Option<String>,
    /// Stripe Connect OAuth base; defaults to Stripe's, or to the API base
    /// when that points at a sandbox.
    #[arg(
        long = "stripe-connect-base",
        env = "STRIPE_CONNECT_BASE",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Stripe"
    )]
    pub connect_base: Option<String>,
    /// Calls per second this process sends to Stripe at most, every
    /// account together: a cap above the per-account (live 96, test 24) and
    /// per-operation (24) budgets the calls are paced to [default: 10000].
    /// Lower it when other software shares the key.
    #[arg(
        long = "stripe-ops-per-second",
        env = "STRIPE_OPS_PER_SECOND",
        value_parser = clap::value_parser!(u32).range(1..=100_000),
        value_name = "N",
        help_heading = "Stripe"
    )]
    pub ops_per_second: Option<u32>,
    /// Whose limits to pace to when no key says so (a sandbox): `live`
    /// (100 requests/s per account, 25/s per operation) or `test` (25/s and
    /// 25/s). It also sets the in-process sandbox's limiter. A key's own
    /// mode (`sk_live_`, `sk_test_`) wins [default: live].
    #[arg(
        long = "stripe-mode",
        env = "STRIPE_MODE",
        value_parser = ["live", "test"],
        value_name = "MODE",
        help_heading = "Stripe"
    )]
    pub mode: Option<String>,
    /// `account` (Stripe's rule: each connected account has its own budget)
    /// or `platform` (every call shares one budget, for a platform whose
    /// Connect requests are counted together) [default: account].
    #[arg(
        long = "stripe-rate-limit-scope",
        env = "STRIPE_RATE_LIMIT_SCOPE",
        value_parser = ["account", "platform"],
        value_name = "SCOPE",
        help_heading = "Stripe"
    )]
    pub rate_limit_scope: Option<String>,
    /// `STRIPE_SECRET_KEY` (environment only).
    #[arg(skip)]
    pub secret_key: Option<SecretString>,
    /// `STRIPE_WEBHOOK_SECRET`, comma-separated during rotation (environment only).
    #[arg(skip)]
    pub webhook_secret: Option<SecretString>,
}

/// Settings only `serve` uses.
#[derive(Clone, Debug, Args)]
pub struct ServerSettings {
    /// Address the HTTP service listens on.
    #[arg(
        long,
        env = "PAYOUTS_BIND",
        hide_env_values = true,
        default_value = DEFAULT_BIND,
        value_name = "ADDR",
        help_heading = "Server"
    )]
    pub bind: SocketAddr,
    /// Where the OAuth callback sends the merchant back (`?stripe=connected`
    /// or `?stripe=error&reason=…` is appended); default: the console's
    /// card, `{public URL}/dashboard/partners/stripe-connect`.
    #[arg(
        long = "dashboard-url",
        env = "PAYOUTS_DASHBOARD_URL",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Server"
    )]
    pub dashboard_url: Option<String>,
    /// Where people reach this service (login links point here; the
    /// session cookie is Secure when it is https); default:
    /// `http://` and the address it listens on.
    #[arg(
        long = "public-url",
        env = "PAYOUTS_PUBLIC_URL",
        hide_env_values = true,
        value_name = "URL",
        help_heading = "Server"
    )]
    pub public_url: Option<String>,
    /// Run the background scheduler in this process: true or false. Its
    /// jobs: finalize, auto_payouts, retry_ladder, reconcile, probation,
    /// refresh, outbox, request_keys and reconcile_report (each on its own
    /// period; see docs/http.md).
    #[arg(
        long,
        env = "PAYOUTS_SCHEDULER",
        hide_env_values = true,
        default_value = "true",
        action = ArgAction::Set,
        value_parser = BoolishValueParser::new(),
        value_name = "BOOL",
        help_heading = "Server"
    )]
    pub scheduler: bool,
    /// How often each scheduler job runs, in milliseconds; by default each
    /// job has its own period (10 s to 15 min, see the scheduler docs).
    #[arg(
        long = "scheduler-tick-ms",
        env = "PAYOUTS_SCHEDULER_TICK_MS",
        value_name = "MS",
        help_heading = "Server"
    )]
    pub scheduler_tick_ms: Option<u64>,
    /// Actix worker threads (default: the number of CPUs).
    #[arg(
        long,
        env = "PAYOUTS_HTTP_WORKERS",
        value_name = "N",
        help_heading = "Server"
    )]
    pub http_workers: Option<usize>,
    /// Where outbox notifications are POSTed as signed webhooks:
    /// `merchant_id=URL` pairs separated by commas, `*=URL` for every other
    /// merchant. Without it notifications are only logged.
    #[arg(
        long = "notify-webhooks",
        env = "PAYOUTS_NOTIFY_WEBHOOKS",
        value_name = "MAP",
        help_heading = "Server"
    )]
    pub notify_webhooks: Option<String>,
    /// `PAYOUTS_JWT_SECRET` (environment only).
    #[arg(skip)]
    pub jwt_secret: Option<SecretString>,
    /// `PAYOUTS_NOTIFY_SECRET` (environment only): signs notification webhooks.
    #[arg(skip)]
    pub notify_secret: Option<SecretString>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            dashboard_url: None,
            public_url: None,
            scheduler: true,
            scheduler_tick_ms: None,
            http_workers: None,
            notify_webhooks: None,
            jwt_secret: None,
            notify_secret: None,
        }
    }
}

/// How this process executes batches (every command that may execute one).
#[derive(Clone, Debug, Default, Args)]
pub struct EngineSettings {
    /// The name this process's leases on payout items carry
    /// [default: HOSTNAME-PID].
    #[arg(
        long = "worker-id",
        env = "PAYOUTS_WORKER_ID",
        hide_env_values = true,
        value_name = "NAME",
        help_heading = "Engine"
    )]
    pub worker_id: Option<String>,
    /// Payout items one execution run sends to Stripe at once [default: 64].
    #[arg(
        long = "exec-concurrency",
        env = "PAYOUTS_EXEC_CONCURRENCY",
        value_parser = clap::value_parser!(u32).range(1..=1024),
        value_name = "N",
        help_heading = "Engine"
    )]
    pub exec_concurrency: Option<u32>,
}

/// Everything the binary is configured with.
#[derive(Clone, Debug, Args)]
pub struct Settings {
    /// The database.
    #[command(flatten)]
    pub database: DatabaseSettings,
    /// Stripe.
    #[command(flatten)]
    pub stripe: StripeSettings,
    /// The HTTP service.
    #[command(flatten)]
    pub server: ServerSettings,
    /// The engine.
    #[command(flatten)]
    pub engine: EngineSettings,
}

impl Settings {
    /// Defaults (as on a first run, without any environment) for `database_url`.
    pub fn new(database_url: impl Into<String>) -> Self {
        Settings {
            database: DatabaseSettings {
                url: database_url.into(),
            },
            stripe: StripeSettings::default(),
            server: ServerSettings::default(),
            engine: EngineSettings::default(),
        }
    }

    /// Fills the secrets from `var` (pass `|k| std::env::var(k).ok()`):
    /// `STRIPE_SECRET_KEY`, `STRIPE_WEBHOOK_SECRET`, `PAYOUTS_JWT_SECRET` and
    /// `PAYOUTS_NOTIFY_SECRET`.
    /// Blank values count as unset.
    #[must_use]
    pub fn with_secrets(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        self.stripe = self.stripe.with_secrets(&var);
        self.server.jwt_secret = secret_var(&var, "PAYOUTS_JWT_SECRET");
        self.server.notify_secret = secret_var(&var, "PAYOUTS_NOTIFY_SECRET");
        self
    }

    /// The worker id in force: `--worker-id`, else `HOSTNAME-PID`.
    pub fn effective_worker_id(&self) -> String {
        self.engine
            .worker_id
            .as_deref()
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map_or_else(default_worker_id, str::to_owned)
    }
}

impl StripeSettings {
    /// Fills `secret_key` and `webhook_secret` from `var`.
    #[must_use]
    pub fn with_secrets(mut self, var: impl Fn(&str) -> Option<String>) -> Self {
        self.secret_key = secret_var(&var, "STRIPE_SECRET_KEY");
        self.webhook_secret = secret_var(&var, "STRIPE_WEBHOOK_SECRET");
        self
    }
}

/// Reads one secret; blank is unset.
pub fn secret_var(var: impl Fn(&str) -> Option<String>, name: &str) -> Option<SecretString> {
    var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .map(SecretString::from)
}

/// `HOSTNAME-PID`, with anything but printable ASCII dropped from the host
/// name (worker ids are printable ASCII).
pub fn default_worker_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let host: String = host.trim().chars().filter(char::is_ascii_graphic).collect();
    let host = if host.is_empty() {
        "payouts".to_owned()
    } else {
        host
    };
    format!("{host}-{}", std::process::id())
}

/// Masks the password of a `scheme://user:password@host/…` URL.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_url("postgres://app:s3cr%40t@db:5432/payouts?sslmode=require"),
            "postgres://app:***@db:5432/payouts?sslmode=require"
        );
        assert_eq!(
            redact_url("postgres://app@db/payouts"),
            "postgres://app@db/payouts"
        );
        assert_eq!(
            redact_url("sqlite://payouts.db?mode=rwc"),
            "sqlite://payouts.db?mode=rwc"
        );
        assert_eq!(redact_url("sqlite::memory:"), "sqlite::memory:");
    }

    #[test]
    fn secrets_come_from_the_environment_and_stay_out_of_debug() {
        let vars = |k: &str| match k {
            "STRIPE_SECRET_KEY" => Some("sk_test_abc123".to_owned()),
            "STRIPE_WEBHOOK_SECRET" => Some("  ".to_owned()),
            "PAYOUTS_JWT_SECRET" => Some("a-very-long-secret-of-at-least-32-bytes".to_owned()),
            _ => None,
        };
        let mut settings = Settings::new("postgres://u:hunter2@h/db").with_secrets(vars);
        settings.engine.worker_id = Some("w1".into());
        assert_eq!(
            settings
                .stripe
                .secret_key
                .as_ref()
                .map(|s| s.expose_secret().to_owned()),
            Some("sk_test_abc123".to_owned())
        );
        assert!(settings.stripe.webhook_secret.is_none(), "blank is unset");
        let debug = format!("{settings:?}");
        for secret in ["sk_test_abc123", "a-very-long-secret", "hunter2"] {
            assert!(!debug.contains(secret), "{secret} leaked: {debug}");
        }
        assert_eq!(settings.effective_worker_id(), "w1");
    }

    #[test]
    fn the_default_worker_id_names_host_and_pid() {
        let id = default_worker_id();
        assert!(id.ends_with(&format!("-{}", std::process::id())));
        assert!(id.chars().all(|c| c.is_ascii_graphic()));
    }
}
