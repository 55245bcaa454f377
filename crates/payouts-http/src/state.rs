//! What every handler shares: the engine, the service settings and the
//! metrics. Handlers reach the store and Stripe only through the engine's
//! use cases; which adapters sit behind its ports is chosen once, by the
//! binary (`apps/payouts`), and this crate does not depend on them.

use std::sync::Arc;

use payouts_domain::engine::Payouts;
use payouts_domain::ports::{Clock, PayoutStore, StripeGateways};
use payouts_domain::system::RandomIds;

use crate::metrics::Metrics;

/// The engine the service runs: any store and any Stripe gateway behind the
/// domain's ports (SeaORM and the Stripe adapter in `payouts serve`), a
/// shared clock (the system clock in production; tests may pass another)
/// and random ids.
pub type Engine = Payouts<dyn PayoutStore, dyn StripeGateways, Arc<dyn Clock>, RandomIds>;

/// Service settings that are not secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Where the OAuth callback sends the merchant back, e.g.
    /// `http://localhost:3000/settings/payments`; `?stripe=connected` or
    /// `?stripe=error&reason=…` is appended.
    pub dashboard_url: String,
    /// The Stripe dashboard base used for transfer links in manifests,
    /// e.g. `https://dashboard.stripe.com/test`.
    pub stripe_dashboard_url: String,
    /// Where people reach this service, e.g. `http://127.0.0.1:8080`:
    /// login links point here, and the session cookie is `Secure` when it
    /// is `https`.
    pub public_url: String,
    /// The origin of the pages Stripe hosts (OAuth authorize, onboarding):
    /// `https://connect.stripe.com`, or the sandbox's. The console's forms
    /// that lead there allow it in `form-action`.
    pub stripe_hosted_origin: String,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            dashboard_url: "http://127.0.0.1:8080/dashboard/partners/stripe-connect".to_owned(),
            stripe_dashboard_url: "https://dashboard.stripe.com/test".to_owned(),
            public_url: "http://127.0.0.1:8080".to_owned(),
            stripe_hosted_origin: "https://connect.stripe.com".to_owned(),
        }
    }
}

/// The shared state: cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The engine.
    pub engine: Arc<Engine>,
    /// Settings.
    pub settings: Arc<HttpSettings>,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", self.engine.config())
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl AppState {
    /// Wires the state.
    pub fn new(engine: Arc<Engine>, settings: HttpSettings) -> Self {
        AppState {
            engine,
            settings: Arc::new(settings),
            metrics: Arc::new(Metrics::default()),
        }
    }
}

impl AppState {
    /// Payout items by state and currency across every batch, for `/metrics`.
    ///
    /// # Errors
    /// The store's error, as an API error.
    pub async fn item_state_counts(
        &self,
    ) -> Result<Vec<payouts_domain::ports::StateTotal>, crate::error::ApiError> {
        Ok(self.engine.item_state_counts().await?)
    }
}

/// Starts `batch` in the background on the actix runtime, after the engine
/// says it would pay it now and records who asked
/// ([`Payouts::start_execution`]): the caller answers at once, and the
/// run's report goes to the log.
///
/// # Errors
/// Why the batch is not run: another state than approved or executing, or
/// a program that may not pay (with the reason).
pub async fn start_batch(
    engine: &Arc<Engine>,
    batch: payouts_domain::ids::BatchId,
    acting: &payouts_domain::audit::Acting,
) -> Result<payouts_domain::batch::PayoutBatch, payouts_domain::DomainError> {
    let ready = engine.start_execution(batch, acting).await?;
    let engine = Arc::clone(engine);
    actix_web::rt::spawn(async move {
        match engine.execute_batch(batch).await {
            Ok(report) => tracing::info!(
                batch = %batch,
                processed = report.processed,
                posted = report.posted,
                failed = report.failed,
                ambiguous = report.ambiguous,
                deferred = report.deferred,
                "batch execution finished"
            ),
            Err(e) => tracing::warn!(batch = %batch, error = %e, "batch execution stopped"),
        }
    });
    Ok(ready)
}
