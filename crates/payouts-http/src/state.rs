//! What every handler shares: the engine (over the SeaORM store and the
//! Stripe adapter), the JWT secret, the service settings and the metrics.

use std::sync::Arc;

use payouts_domain::engine::Payouts;
use payouts_domain::ports::Clock;
use payouts_domain::system::RandomIds;
use payouts_store::SeaOrmStore;
use payouts_stripe::StripeGateway;

use crate::metrics::Metrics;

/// The engine the service runs: SeaORM storage, the Stripe adapter, a shared
/// clock (the system clock in production; tests may pass another) and random ids.
pub type Engine = Payouts<SeaOrmStore, StripeGateway, Arc<dyn Clock>, RandomIds>;

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
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            dashboard_url: "http://localhost:3000/settings/payments".to_owned(),
            stripe_dashboard_url: "https://dashboard.stripe.com/test".to_owned(),
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
            .field("store", self.engine.store())
            .field("stripe", self.engine.gateway())
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

    /// The store.
    pub fn store(&self) -> &SeaOrmStore {
        self.engine.store()
    }

    /// The Stripe adapter.
    pub fn stripe(&self) -> &StripeGateway {
        self.engine.gateway()
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
        use payouts_domain::ports::BatchStore as _;
        Ok(self
            .store()
            .item_state_counts()
            .await
            .map_err(payouts_domain::DomainError::from)?)
    }
}
