//! Wiring: the store (migrated), the Stripe adapter, and the engine over
//! them. Without `STRIPE_SECRET_KEY` the Stripe side is a sandbox: the one
//! at `STRIPE_API_BASE` when given, else a `stripe-sandbox` started in this
//! process on `127.0.0.1:0`.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use payouts_domain::StoreError;
use payouts_domain::engine::{EngineConfig, Payouts};
use payouts_domain::ids::WorkerId;
use payouts_domain::ports::{Clock, PayoutStore, StripeGateways};
use payouts_domain::system::{RandomIds, SystemClock, SystemTimer};
use payouts_store::SeaOrmStore;
use payouts_stripe::{ConfigError, StripeConfig, StripeGateway};
use secrecy::{ExposeSecret, SecretString};
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxError, SandboxHandle, WebhookEndpoint};

use crate::settings::Settings;

/// The engine the service runs, `payouts_http::Engine`: the store and the
/// gateway behind the domain's ports, wired here with SeaORM and the Stripe
/// adapter (see [`engine`]).
pub type Engine = payouts_http::Engine;

/// The engine over a SeaORM store and a Stripe gateway: the one place the
/// concrete adapters are named for the service.
pub fn engine(
    store: SeaOrmStore,
    gateway: StripeGateway,
    clock: Arc<dyn Clock>,
    config: EngineConfig,
) -> Engine {
    let store: Arc<dyn PayoutStore> = Arc::new(store);
    let gateway: Arc<dyn StripeGateways> = Arc::new(gateway);
    Payouts::shared(store, gateway, clock, RandomIds, config).with_timer(Arc::new(SystemTimer))
}

/// The test key the gateway sends to a sandbox (any `sk_test_…` is accepted).
pub const SANDBOX_SECRET_KEY: &str = "sk_test_payouts_local_sandbox";
/// The Connect client id used with a sandbox.
pub const SANDBOX_CLIENT_ID: &str = "ca_payouts_local_sandbox";

/// Where Stripe calls go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StripeMode {
    /// A real Stripe key (`sk_test_…`, `sk_live_…` or `rk_…`).
    Stripe {
        /// True for a test-mode key.
        test_mode: bool,
        /// The REST base.
        api_base: String,
    },
    /// No key; a sandbox already running at `url` (`STRIPE_API_BASE`).
    ExternalSandbox {
        /// Its base URL.
        url: String,
    },
    /// No key; a sandbox started in this process.
    InProcessSandbox {
        /// Its base URL.
        url: String,
    },
}

impl fmt::Display for StripeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StripeMode::Stripe {
                test_mode: true,
                api_base,
            } => write!(f, "Stripe test mode at {api_base}"),
            StripeMode::Stripe {
                test_mode: false,
                api_base,
            } => write!(f, "Stripe LIVE mode at {api_base}"),
            StripeMode::ExternalSandbox { url } => write!(f, "the stripe-sandbox at {url}"),
            StripeMode::InProcessSandbox { url } => {
                write!(f, "the in-process stripe-sandbox at {url}")
            }
        }
    }
}

/// Why wiring failed.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The database could not be opened or migrated.
    #[error("database {url}: {source}")]
    Store {
        /// The URL, password masked.
        url: String,
        /// What the store said (it never contains the URL).
        source: StoreError,
    },
    /// The Stripe settings are incomplete or malformed.
    #[error("Stripe settings: {0}")]
    Stripe(#[from] ConfigError),
    /// The in-process sandbox could not start.
    #[error(
        "the in-process Stripe sandbox could not start: {0} (set STRIPE_SANDBOX_SPEC to the \
         sandbox's spec3.json, or configure STRIPE_SECRET_KEY or STRIPE_API_BASE)"
    )]
    Sandbox(#[from] SandboxError),
    /// Another setting is invalid.
    #[error("invalid {field}: {reason}")]
    Invalid {
        /// The flag or variable.
        field: &'static str,
        /// What is wrong.
        reason: String,
    },
}

/// A wired application: the engine, the store, and the sandbox when one
/// runs in this process (kept alive as long as this value).
pub struct Wired {
    /// The engine.
    pub engine: Arc<Engine>,
    /// The store the engine uses (a cheap clone of the same pool).
    pub store: SeaOrmStore,
    /// The in-process sandbox, if any; dropping it stops it.
    pub sandbox: Option<SandboxHandle>,
    /// Where Stripe calls go.
    pub stripe_mode: StripeMode,
    /// The origin of the pages Stripe hosts (OAuth authorize, onboarding),
    /// from the Connect base: `https://connect.stripe.com` or the sandbox's.
    pub stripe_hosted_origin: String,
    /// The secret the in-process sandbox signs webhooks with (the gateway
    /// verifies with the same one).
    sandbox_webhook_secret: Option<SecretString>,
}

impl fmt::Debug for Wired {
    // The sandbox's own Debug shows its webhook secret; only its URL is shown here.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wired")
            .field("stripe_mode", &self.stripe_mode)
            .field("backend", &self.store.backend())
            .field(
                "sandbox",
                &self.sandbox.as_ref().map(SandboxHandle::base_url),
            )
            .finish_non_exhaustive()
    }
}

impl Wired {
    /// Makes the in-process sandbox deliver its webhooks to `url`, signed
    /// with the secret the gateway verifies. Returns false when there is no
    /// in-process sandbox. `serve` calls this once it knows its address.
    pub fn route_sandbox_webhooks(&self, url: &str) -> bool {
        match (&self.sandbox, &self.sandbox_webhook_secret) {
            (Some(sandbox), Some(secret)) => {
                sandbox.set_webhook_endpoint(WebhookEndpoint {
                    url: url.to_owned(),
                    secret: Some(secret.expose_secret().to_owned()),
                });
                tracing::info!(%url, "the in-process sandbox delivers its webhooks here");
                true
            }
            _ => false,
        }
    }

    /// Points the in-process sandbox's authorize page (Authorize / Deny) at
    /// the service's OAuth callback, as Stripe's Connect settings would.
    /// Returns false without an in-process sandbox.
    pub fn route_sandbox_oauth(&self, callback_url: &str) -> bool {
        match &self.sandbox {
            Some(sandbox) => {
                sandbox.set_oauth_redirect_uri(callback_url);
                true
            }
            None => false,
        }
    }

    /// Stops the in-process sandbox, if any, and waits for it.
    pub async fn shutdown(self) {
        if let Some(sandbox) = self.sandbox {
            sandbox.stop().await;
        }
    }
}

/// Opens the store and applies pending migrations.
///
/// # Errors
/// [`WireError::Store`].
pub async fn open_store(settings: &Settings) -> Result<SeaOrmStore, WireError> {
    let url = settings.database.redacted_url();
    let store = SeaOrmStore::connect(&settings.database.url)
        .await
        .map_err(|source| WireError::Store {
            url: url.clone(),
            source,
        })?;
    store.migrate().await.map_err(|source| WireError::Store {
        url: url.clone(),
        source,
    })?;
    tracing::info!(database = %url, backend = store.backend().as_str(), "database ready");
    Ok(store)
}

/// An engine for commands that make no Stripe call (issuing login links):
/// its gateway is configured for no Stripe at all (an unroutable loopback
/// port), so a call made by mistake fails at once instead of reaching one.
///
/// # Errors
/// [`WireError::Stripe`] should the offline configuration be refused.
pub fn offline_engine(store: SeaOrmStore) -> Result<Engine, WireError> {
    let gateway = StripeGateway::new(sandbox_config("http://127.0.0.1:9", None))?;
    let worker = WorkerId::parse("payouts-cli".to_owned()).map_err(|e| WireError::Invalid {
        field: "worker id",
        reason: e.to_string(),
    })?;
    Ok(engine(
        store,
        gateway,
        Arc::new(SystemClock),
        EngineConfig::new(worker),
    ))
}

/// Connects the store, runs migrations, configures Stripe (starting the
/// in-process sandbox when there is no `STRIPE_SECRET_KEY` and no
/// `STRIPE_API_BASE`) and builds the engine.
///
/// # Errors
/// [`WireError`] naming what is wrong; secrets are never part of it.
pub async fn wire(settings: &Settings) -> Result<Wired, WireError> {
    let worker = settings.effective_worker_id();
    let worker = WorkerId::parse(worker.as_str()).map_err(|e| WireError::Invalid {
        field: "PAYOUTS_WORKER_ID",
        reason: e.to_string(),
    })?;
    let store = open_store(settings).await?;
    let stripe = &settings.stripe;
    let (config, sandbox, stripe_mode, sandbox_webhook_secret) = match &stripe.secret_key {
        Some(_) => {
            let config = StripeConfig::from_vars(|k| stripe_var(settings, k))?;
            let mode = StripeMode::Stripe {
                test_mode: config.is_test_mode(),
                api_base: config.api_base.clone(),
            };
            (config, None, mode, None)
        }
        None => match stripe.api_base.as_deref().map(str::trim) {
            Some(url) if !url.is_empty() => {
                let mut config = sandbox_config(url, stripe.connect_base.as_deref());
                if let Some(secrets) = &stripe.webhook_secret {
                    config.webhook_secrets = split_secrets(secrets);
                }
                config.validate()?;
                let mode = StripeMode::ExternalSandbox {
                    url: url.to_owned(),
                };
                (config, None, mode, None)
            }
            _ => {
                // The in-process sandbox applies Stripe's documented
                // limiter for the mode the pacer keeps to.
                let sandbox = Sandbox::start(SandboxConfig {
                    rate_limits: match stripe.mode.as_deref() {
                        Some("test") => stripe_sandbox::limiter::RateLimitMode::Test,
                        _ => stripe_sandbox::limiter::RateLimitMode::Live,
                    },
                    ..SandboxConfig::default()
                })
                .await?;
                let url = sandbox.base_url();
                let secret = SecretString::from(format!("whsec_{}", uuid::Uuid::new_v4().simple()));
                let mut config = sandbox_config(&url, None);
                config.webhook_secrets = vec![secret.clone()];
                config.validate()?;
                let mode = StripeMode::InProcessSandbox { url };
                (config, Some(sandbox), mode, Some(secret))
            }
        },
    };
    match &stripe_mode {
        StripeMode::InProcessSandbox { url } => tracing::info!(
            %url,
            "no STRIPE_SECRET_KEY or STRIPE_API_BASE: using the in-process Stripe sandbox \
             (its state lives only as long as this process)"
        ),
        StripeMode::ExternalSandbox { url } => {
            tracing::info!(%url, "no STRIPE_SECRET_KEY: using the Stripe sandbox at STRIPE_API_BASE");
        }
        StripeMode::Stripe {
            test_mode,
            api_base,
        } => tracing::info!(%api_base, test_mode, "using Stripe"),
    }
    let mut config = config;
    if let Some(ops) = stripe.ops_per_second {
        config.ops_per_second = Some(ops);
    }
    // A key's own mode wins; without a key, STRIPE_MODE (default live).
    if !matches!(stripe_mode, StripeMode::Stripe { .. }) {
        config.limit_mode = Some(match stripe.mode.as_deref() {
            Some("test") => payouts_stripe::LimitMode::Test,
            _ => payouts_stripe::LimitMode::Live,
        });
    }
    if stripe.rate_limit_scope.as_deref() == Some("platform") {
        config.limit_scope = payouts_stripe::LimitScope::Platform;
    }
    let stripe_hosted_origin = origin_of(&config.connect_base);
    let gateway = StripeGateway::new(config)?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let mut engine_config = EngineConfig::new(worker);
    if let Some(concurrency) = settings.engine.exec_concurrency {
        engine_config.concurrency = concurrency;
    }
    let engine = engine(store.clone(), gateway, clock, engine_config);
    Ok(Wired {
        stripe_hosted_origin,
        engine: Arc::new(engine),
        store,
        sandbox,
        stripe_mode,
        sandbox_webhook_secret,
    })
}

/// The `STRIPE_*` variables as `StripeConfig::from_vars` reads them, taken
/// from the settings (which already merged flags and environment).
fn stripe_var(settings: &Settings, key: &str) -> Option<String> {
    let s = &settings.stripe;
    match key {
        "STRIPE_SECRET_KEY" => s.secret_key.as_ref().map(|k| k.expose_secret().to_owned()),
        "STRIPE_WEBHOOK_SECRET" => s
            .webhook_secret
            .as_ref()
            .map(|k| k.expose_secret().to_owned()),
        "STRIPE_CLIENT_ID" => s.client_id.clone(),
        "STRIPE_API_BASE" => s.api_base.clone(),
        "STRIPE_CONNECT_BASE" => s.connect_base.clone(),
        _ => None,
    }
}

/// `scheme://host[:port]` of a URL (the URL itself when it has no path).
fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
            format!("{scheme}://{authority}")
        }
        None => url.trim_end_matches('/').to_owned(),
    }
}

/// A gateway configuration for a sandbox at `url`.
fn sandbox_config(url: &str, connect_base: Option<&str>) -> StripeConfig {
    let mut config = StripeConfig::new(SecretString::from(SANDBOX_SECRET_KEY), SANDBOX_CLIENT_ID);
    config.api_base = url.to_owned();
    config.connect_base = connect_base
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .unwrap_or(url)
        .to_owned();
    // A local sandbox answers in milliseconds; fail fast rather than hang.
    config.request_timeout = Duration::from_secs(10);
    config
}

fn split_secrets(secrets: &SecretString) -> Vec<SecretString> {
    secrets
        .expose_secret()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| SecretString::from(s.to_owned()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_a_key_an_in_process_sandbox_is_wired_and_kept_out_of_debug() {
        let wired = wire(&Settings::new("sqlite::memory:")).await.unwrap();
        let Some(sandbox) = &wired.sandbox else {
            panic!("no sandbox");
        };
        assert_eq!(
            wired.stripe_mode,
            StripeMode::InProcessSandbox {
                url: sandbox.base_url()
            }
        );
        let secret = wired
            .sandbox_webhook_secret
            .as_ref()
            .map(|s| s.expose_secret().to_owned())
            .unwrap();
        assert!(secret.starts_with("whsec_"));
        assert!(wired.route_sandbox_webhooks("http://127.0.0.1:9/webhooks/stripe"));
        let debug = format!("{wired:?}");
        assert!(!debug.contains(&secret), "{debug}");
        assert!(!debug.contains(SANDBOX_SECRET_KEY), "{debug}");
        wired.shutdown().await;
    }

    #[tokio::test]
    async fn a_key_without_a_client_id_is_refused_without_echoing_the_key() {
        let mut settings = Settings::new("sqlite::memory:");
        settings.stripe.secret_key = Some(SecretString::from("sk_test_do_not_print_me"));
        let err = wire(&settings).await.unwrap_err().to_string();
        assert!(err.contains("STRIPE_CLIENT_ID"), "{err}");
        assert!(!err.contains("do_not_print_me"), "{err}");
    }

    #[tokio::test]
    async fn a_bad_worker_id_is_named() {
        let mut settings = Settings::new("sqlite::memory:");
        settings.engine.worker_id = Some("has space".into());
        let err = wire(&settings).await.unwrap_err().to_string();
        assert!(err.contains("PAYOUTS_WORKER_ID"), "{err}");
    }
}
