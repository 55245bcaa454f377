//! `payouts serve`: the HTTP service and, unless turned off, the scheduler.
//!
//! - Binds `--bind`/`PAYOUTS_BIND` (default 127.0.0.1:8080; port 0 picks a
//!   free port) and logs `listening on http://ADDR`.
//! - Without `PAYOUTS_JWT_SECRET` it generates a dev secret for this run,
//!   warns, and prints a ready `super_admin` token for merchant `demo`.
//! - With the in-process sandbox, the sandbox's webhooks are delivered to
//!   this service's `/webhooks/stripe`, signed with the secret it verifies.
//! - Ctrl-C or SIGTERM stops it cleanly ([`Running::stop`]): no new work,
//!   work under way finishes (up to [`SHUTDOWN_GRACE`]), then the scheduler
//!   leases and item claims this instance holds are released.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use payouts_domain::ids::MerchantId;
use payouts_http::auth::claims;
use payouts_http::{AppState, HttpSettings, JwtSecret, Role};
use secrecy::ExposeSecret;

use crate::cli::CliError;
use crate::notify::OutboxNotifier;
use crate::scheduler::{Scheduler, SchedulerConfig};
use crate::settings::Settings;
use crate::wire::{StripeMode, wire};

/// The merchant the printed dev token is for.
pub const DEV_MERCHANT: &str = "demo";

/// A running service: its address, engine and handles. Embedders and
/// tests start one with [`start`] and end it with [`Running::stop`].
pub struct Running {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    /// The wiring (engine, store, in-process sandbox).
    pub wired: crate::wire::Wired,
    handle: actix_web::dev::ServerHandle,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    scheduler: Option<Scheduler>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.addr)
            .field("wired", &self.wired)
            .finish_non_exhaustive()
    }
}

impl Running {
    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops cleanly (Ctrl-C, SIGTERM): stops taking work, lets what is
    /// under way finish for up to [`SHUTDOWN_GRACE`], then gives back what
    /// this instance holds.
    ///
    /// 1. The engine takes no new item claim and sends nothing new; new
    ///    connections are no longer accepted.
    /// 2. Batch runs end once their Stripe calls under way have answered
    ///    (their outcomes are written; unsent claims are released).
    /// 3. The HTTP server finishes its requests and stops; the scheduler
    ///    ends its jobs' current runs and releases their leases.
    /// 4. Item claims this worker still holds (back-offs) are released, so
    ///    that another instance, or the next start, goes on at once.
    ///
    /// What is still running after the grace period is dropped as in a
    /// crash: every transfer keeps its idempotency key, so nothing is paid
    /// twice, and the claims lapse after 10 s.
    pub async fn stop(self) {
        let started = std::time::Instant::now();
        let engine = Arc::clone(&self.wired.engine);
        engine.begin_shutdown();
        self.handle.pause().await;
        let deadline = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while engine.runs_in_progress() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        let unfinished = engine.runs_in_progress();
        self.handle.stop(true).await;
        let _ = self.server.await;
        let leases = match self.scheduler {
            Some(s) => {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                s.stop(left.max(Duration::from_secs(1))).await
            }
            None => 0,
        };
        let claims = match engine.release_claims().await {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "could not release the item claims");
                0
            }
        };
        tracing::info!(
            scheduler_leases_released = leases,
            item_claims_released = claims,
            batch_runs_cut_short = unfinished,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "stopped cleanly"
        );
        self.wired.shutdown().await;
    }
}

/// How long a clean stop waits for work under way (batch runs and their
/// Stripe calls, HTTP requests, scheduler jobs) before dropping it.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Starts the service (and the scheduler, unless turned off) with the given
/// JWT secret, and returns once it listens.
///
/// # Errors
/// [`CliError`] when the database, Stripe, the notifier or the address
/// cannot be set up.
pub async fn start(settings: &Settings, jwt: JwtSecret) -> Result<Running, CliError> {
    let notifier = OutboxNotifier::new(
        settings.server.notify_webhooks.as_deref(),
        settings.server.notify_secret.clone(),
    )
    .map_err(|reason| CliError::Config(format!("PAYOUTS_NOTIFY_WEBHOOKS: {reason}")))?;
    let wired = wire(settings).await?;
    let listener = TcpListener::bind(settings.server.bind)
        .map_err(|e| CliError::Config(format!("cannot listen on {}: {e}", settings.server.bind)))?;
    let addr = listener.local_addr()?;
    let test_mode = !matches!(
        wired.stripe_mode,
        StripeMode::Stripe {
            test_mode: false,
            ..
        }
    );
    let public_url = settings
        .server
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{addr}"))
        .trim_end_matches('/')
        .to_owned();
    let state = AppState::new(
        Arc::clone(&wired.engine),
        HttpSettings {
            dashboard_url: settings
                .server
                .dashboard_url
                .clone()
                .unwrap_or_else(|| format!("{public_url}/dashboard/partners/stripe-connect")),
            public_url: public_url.clone(),
            stripe_hosted_origin: wired.stripe_hosted_origin.clone(),
            stripe_dashboard_url: if test_mode {
                "https://dashboard.stripe.com/test".to_owned()
            } else {
                "https://dashboard.stripe.com".to_owned()
            },
        },
    );
    let workers = settings
        .server
        .http_workers
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, usize::from));
    let server =
        payouts_http::server_with(listener, state, jwt, workers, payouts_console::configure)?;
    let handle = server.handle();
    let server = tokio::spawn(server);
    wired.route_sandbox_webhooks(&format!("http://{addr}/webhooks/stripe"));
    wired.route_sandbox_oauth(&format!("http://{addr}/api/v1/stripe-connect/callback"));
    let scheduler = settings.server.scheduler.then(|| {
        let config = settings
            .server
            .scheduler_tick_ms
            .map_or_else(SchedulerConfig::default, |ms| {
                SchedulerConfig::uniform(Duration::from_millis(ms.max(10)))
            });
        tracing::info!(worker = %wired.engine.config().worker, "scheduler started");
        Scheduler::start(Arc::clone(&wired.engine), Arc::new(notifier), &config)
    });
    tracing::info!(%addr, stripe = %wired.stripe_mode, "listening on http://{addr}");
    Ok(Running {
        addr,
        wired,
        handle,
        server,
        scheduler,
    })
}

/// Runs the service until Ctrl-C or SIGTERM.
///
/// # Errors
/// [`CliError`] when the database, Stripe, the JWT secret or the address
/// cannot be set up.
pub async fn serve(settings: Settings) -> Result<(), CliError> {
    let jwt = match &settings.server.jwt_secret {
        Some(secret) => JwtSecret::new(secret.expose_secret().as_bytes().to_vec())
            .map_err(|e| CliError::Config(format!("PAYOUTS_JWT_SECRET: {e}")))?,
        None => dev_secret()?,
    };
    let running = start(&settings, jwt).await?;
    println!("listening on {}", running.base_url());
    if running.wired.sandbox.is_some() {
        // No keys: a ready sign-in for the console, as the token above is for the API.
        let public_url = settings
            .server
            .public_url
            .clone()
            .unwrap_or_else(|| running.base_url());
        match issue_link(
            &running.wired.engine,
            Role::TenantAdmin,
            DEV_MERCHANT,
            None,
            "dev-admin",
            &public_url,
        )
        .await
        {
            Ok(url) => println!(
                "console sign-in link (tenant_admin, merchant `{DEV_MERCHANT}`; works once, for 5 minutes; \
                 `payouts login-link --role tenant_admin --merchant {DEV_MERCHANT}` makes another):\n{url}"
            ),
            Err(e) => tracing::warn!(error = %e, "could not issue a console sign-in link"),
        }
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    running.stop().await;
    Ok(())
}

/// Issues a console sign-in link on `engine`, as the platform.
async fn issue_link(
    engine: &crate::wire::Engine,
    role: Role,
    merchant: &str,
    partner: Option<payouts_domain::ids::PartnerId>,
    subject: &str,
    public_url: &str,
) -> Result<String, CliError> {
    use payouts_domain::session::SessionPrincipal;
    let merchant =
        MerchantId::parse(merchant.to_owned()).map_err(|e| CliError::Config(e.to_string()))?;
    let platform = SessionPrincipal {
        subject: "payouts-cli".to_owned(),
        roles: vec![Role::PlatformAdmin.as_str().to_owned()],
        merchant_id: merchant.clone(),
        partner_id: None,
    };
    let target = SessionPrincipal {
        subject: subject.to_owned(),
        roles: vec![role.as_str().to_owned()],
        merchant_id: merchant,
        partner_id: partner,
    };
    let (secret, _) = engine
        .issue_login_link(&platform, target, &crate::cli::operator())
        .await
        .map_err(|e| CliError::Config(format!("cannot issue a login link: {e}")))?;
    Ok(format!(
        "{}/login/{}",
        public_url.trim_end_matches('/'),
        secret.expose()
    ))
}

/// `payouts login-link`: a single-use console sign-in link in the
/// service's database.
///
/// # Errors
/// [`CliError`] when the database cannot be opened or the link refused.
pub async fn login_link(args: &crate::cli::LoginLinkArgs) -> Result<String, CliError> {
    let settings = Settings::new(args.database.url.clone());
    let store = crate::wire::open_store(&settings).await?;
    let engine = crate::wire::offline_engine(store)?;
    let public_url = args
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{}", args.bind));
    issue_link(
        &engine,
        args.role,
        args.merchant.as_str(),
        args.partner,
        &args.subject,
        &public_url,
    )
    .await
}

/// A random secret for this run, with a warning and a ready admin token.
fn dev_secret() -> Result<JwtSecret, CliError> {
    let raw = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    let jwt = JwtSecret::new(raw.into_bytes()).map_err(CliError::Config)?;
    let merchant =
        MerchantId::parse(DEV_MERCHANT.to_owned()).map_err(|e| CliError::Config(e.to_string()))?;
    let token = jwt
        .mint(&claims(
            "dev-admin",
            vec![Role::SuperAdmin],
            &merchant,
            None,
            time::OffsetDateTime::now_utc(),
            time::Duration::hours(12),
        ))
        .map_err(CliError::Config)?;
    tracing::warn!(
        "PAYOUTS_JWT_SECRET is not set: using a random secret for this run only; \
         tokens stop working when the service restarts. Set it in production."
    );
    println!("dev admin token (super_admin, merchant `{DEV_MERCHANT}`, 12 h):\n{token}");
    Ok(jwt)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
