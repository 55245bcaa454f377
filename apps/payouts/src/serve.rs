//! `payouts serve`.
//!
//! ============================================================
//! PLACEHOLDER, to be finished with `payouts-http`: start
//! `payouts_http::server(listener, AppState::new(engine, HttpSettings {
//! dashboard_url, stripe_dashboard_url }), jwt)` on `settings.server.bind`,
//! call `Wired::route_sandbox_webhooks` with the webhook route's URL, decide
//! the JWT secret (PAYOUTS_JWT_SECRET, or a logged dev secret when none),
//! and start the scheduler when `settings.server.scheduler` (not before the
//! store's lease work lands). Until then it wires the engine and waits.
//! ============================================================

use crate::cli::CliError;
use crate::settings::Settings;
use crate::wire::wire;

/// Wires the engine and, for now, only waits for Ctrl-C.
///
/// # Errors
/// [`CliError::Wire`] when the database or Stripe cannot be set up.
pub async fn serve(settings: Settings) -> Result<(), CliError> {
    let wired = wire(&settings).await?;
    tracing::warn!(
        bind = %settings.server.bind,
        stripe = %wired.stripe_mode,
        "the HTTP service is not implemented yet: the engine is wired and nothing listens; \
         press Ctrl-C to stop"
    );
    tokio::signal::ctrl_c().await?;
    tracing::info!("stopping");
    wired.shutdown().await;
    Ok(())
}
