//! Webhooks: `EventVerifier`, and `StripeGateways` for wiring.

use time::OffsetDateTime;

use super::{ConnectGateway, PayoutGateway, PlatformGateway};

/// Why a webhook delivery was refused before any rule ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookRejected(pub String);

/// Verifies Stripe's webhook signature and parses the event.
pub trait EventVerifier: Send + Sync {
    /// The event, when `signature` (the `Stripe-Signature` header) signs
    /// `payload` with a configured secret within the tolerance at `now`.
    ///
    /// # Errors
    /// [`WebhookRejected`]: a missing, forged or stale signature, or a
    /// payload that is not an event.
    fn verify_event(
        &self,
        signature: Option<&str>,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<crate::events::InboundEvent, WebhookRejected>;

    /// Stripe calls so far by outcome (`ok`, `rate_limited`, …), for metrics.
    fn call_counts(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// Every Stripe port, for wiring one gateway as a trait object
/// (`Arc<dyn StripeGateways>`); implemented for any type that implements each.
pub trait StripeGateways: PayoutGateway + ConnectGateway + PlatformGateway + EventVerifier {}

impl<T> StripeGateways for T where
    T: PayoutGateway + ConnectGateway + PlatformGateway + EventVerifier
{
}
