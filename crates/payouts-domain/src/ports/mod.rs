//! Ports: the traits adapters implement, in the domain's own terms.
//!
//! Stores speak domain types and [`StoreError`](crate::StoreError); the
//! Stripe gateways speak domain types and [`GatewayError`]. No SQL error and
//! no Stripe struct ever crosses these traits. Every state change in a store
//! is compare-and-set: the caller names the state it expects, and a store
//! that finds another one writes nothing and answers
//! [`StoreError::Conflict`](crate::StoreError::Conflict).
//!
//! One module per port (per aggregate for the stores); every item is
//! re-exported here, so `crate::ports::X` names it.

mod accounts;
mod audit;
mod bank_payouts;
mod batches;
mod commissions;
mod connections;
mod conversions;
mod coupons;
mod disputes;
mod endpoints;
mod events;
mod gateways;
mod items;
mod leases;
mod memberships;
mod outbox;
mod platform;
mod programs;
mod request_keys;
mod sessions;
mod settings;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::endpoint::SigningSecret;
use crate::ids::{MerchantId, WebhookEndpointId};
use crate::notification::Notification;

pub use accounts::*;
pub use audit::*;
pub use bank_payouts::*;
pub use batches::*;
pub use commissions::*;
pub use connections::*;
pub use conversions::*;
pub use coupons::*;
pub use disputes::*;
pub use endpoints::*;
pub use events::*;
pub use gateways::*;
pub use items::*;
pub use leases::*;
pub use memberships::*;
pub use outbox::*;
pub use platform::*;
pub use programs::*;
pub use request_keys::*;
pub use sessions::*;
pub use settings::*;

// ---------------------------------------------------------------- storable values

/// What every store can write and read back. A store refuses anything else
/// with [`StoreError::Unstorable`](crate::StoreError::Unstorable) before it
/// writes, so that a row it holds can always be read (the SQL adapter keeps
/// instants as `i64` nanoseconds and periods as `yyyymm`, and reads periods
/// back through [`Period::new`](crate::period::Period::new)).
pub mod storable {
    use time::OffsetDateTime;

    use crate::error::StoreError;
    use crate::period::Period;

    /// An instant: within `i64` nanoseconds of the Unix epoch (1677-09-21
    /// to 2262-04-11).
    ///
    /// # Errors
    /// [`StoreError::Unstorable`].
    pub fn instant(at: OffsetDateTime) -> Result<i64, StoreError> {
        i64::try_from(at.unix_timestamp_nanos()).map_err(|_| StoreError::Unstorable {
            what: "instant",
            reason: format!("{at} is outside 1677-09-21..2262-04-11"),
        })
    }

    /// A period: what [`Period::new`] accepts (years 1970 to 9999).
    ///
    /// # Errors
    /// [`StoreError::Unstorable`].
    pub fn period(period: Period) -> Result<Period, StoreError> {
        Period::new(period.year(), period.month()).map_err(|e| StoreError::Unstorable {
            what: "period",
            reason: e.to_string(),
        })
    }
}

// ---------------------------------------------------------------- paging

/// The largest page any list returns.
pub const MAX_PAGE: u32 = 100;

/// A keyset page request: at most `limit` rows after the row with id `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// 1..=100; larger values are clamped.
    pub limit: u32,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: limit.clamp(1, MAX_PAGE),
            after: None,
        }
    }

    /// The limit, clamped to 1..=100.
    pub fn limit(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest::first(MAX_PAGE)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows.
    pub data: Vec<T>,
    /// True when more rows follow.
    pub has_more: bool,
}

// ---------------------------------------------------------------- clock, ids, notifier

/// "Now". Rules never read the system clock themselves.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// Waiting. An engine given a timer ([`crate::engine::Payouts::with_timer`])
/// renews its claims while a run lives and lets a run wait for its delayed
/// items; without one, a run never waits (it ends when only delayed items
/// remain, and its claims last one lease).
pub trait Timer: Send + Sync + std::fmt::Debug {
    /// A future that completes after `duration`.
    fn sleep(&self, duration: std::time::Duration) -> futures_util::future::BoxFuture<'static, ()>;
}

/// Makes new ids.
pub trait IdGenerator: Send + Sync {
    /// A fresh UUID; unique, and unpredictable in production.
    fn next_uuid(&self) -> Uuid;

    /// A fresh typed id.
    fn next_id<T: From<Uuid>>(&self) -> T
    where
        Self: Sized,
    {
        T::from(self.next_uuid())
    }
}

/// Why a delivery failed: the endpoint's HTTP status when it answered
/// (a non-2xx), and a short message (timeout, connection refused, …).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification not delivered: {message}")]
pub struct NotifyError {
    /// The status the endpoint answered, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong.
    pub message: String,
}

impl NotifyError {
    /// A failure without an HTTP answer (timeout, refused, bad secret).
    pub fn new(message: impl Into<String>) -> Self {
        NotifyError {
            status_code: None,
            message: message.into(),
        }
    }
}

/// Where one notification goes: a URL and the secrets that sign it (the
/// current one first; during a rotation the previous one too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryTarget {
    /// The merchant's endpoint, or none for the service's default.
    pub endpoint_id: Option<WebhookEndpointId>,
    /// Where to POST.
    pub url: String,
    /// The signing secrets, current first.
    pub secrets: Vec<SigningSecret>,
}

/// Delivers outbox notifications (log, signed webhook, …). Each delivery
/// must end in bounded time (the adapter's own timeout): a dispatch runs
/// several at once and waits for each.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Where a merchant's notifications go when it has registered no
    /// endpoint: the service's default (e.g. a configured map), or none.
    fn fallback_target(&self, merchant: &MerchantId) -> Option<DeliveryTarget>;

    /// Delivers one notification to `target`, or, with none, only records
    /// it (a log line): that counts as delivered. Delivery is at least
    /// once: a receiver may see the same notification again (a retry after
    /// a lost answer, a replay) and deduplicates by its id. Returns the
    /// HTTP status the target answered (2xx), if there was one.
    ///
    /// # Errors
    /// [`NotifyError`] when delivery failed; it is retried with backoff.
    async fn deliver(
        &self,
        notification: &Notification,
        target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError>;
}

// ---------------------------------------------------------------- the umbrella store

/// Everything a payout engine stores; implemented for any type that
/// implements each store.
pub trait PayoutStore:
    ConnectionStore
    + ProgramStore
    + MembershipStore
    + CouponStore
    + BankPayoutStore
    + ConversionStore
    + CommissionStore
    + BatchStore
    + ItemStore
    + OutboxStore
    + WebhookEndpointStore
    + SettingsStore
    + DisputeStore
    + LeaseStore
    + AccountStore
    + RequestKeyStore
    + SessionStore
    + AuditStore
{
}

impl<T> PayoutStore for T where
    T: ConnectionStore
        + ProgramStore
        + MembershipStore
        + CouponStore
        + BankPayoutStore
        + ConversionStore
        + CommissionStore
        + BatchStore
        + ItemStore
        + OutboxStore
        + WebhookEndpointStore
        + SettingsStore
        + DisputeStore
        + LeaseStore
        + AccountStore
        + RequestKeyStore
        + SessionStore
        + AuditStore
{
}
