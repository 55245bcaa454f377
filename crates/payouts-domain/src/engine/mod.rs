//! The use cases, generic over the ports: connect, onboard, record a
//! conversion, finalize, build a batch, approve, execute, retry an item,
//! refresh status, handle deauthorization, sweep probation, handle a Stripe
//! webhook event, and the reports.
//!
//! [`Payouts`] holds one adapter per port; the binary (or a test) picks the
//! concrete types once.

mod audit;
mod batches;
mod connect;
mod conversions;
mod events;
mod holds;
mod outbox;
mod overview;
mod partners;
mod platform;
mod reconcile;
mod reports;
mod service;
mod sessions;
mod statements;
mod writes;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::DomainError;
use crate::ids::WorkerId;
use crate::item::RetryPolicy;
use crate::notification::{DeliveryState, Notification, NotificationKind, OutboxPolicy, Recipient};
use crate::ports::{Clock, ConnectGateway, IdGenerator, PayoutGateway, PayoutStore, Timer};

pub use batches::{ExecutionReport, SweepReport};
pub use connect::{AccountSnapshot, ConnectStart, DeauthorizationOutcome};
pub use conversions::{ConversionChange, RecordOutcome};
pub use events::EventOutcome;
pub use holds::HoldDecision;
pub use outbox::DispatchReport;
pub use overview::{MerchantOverview, MonthlyVolume};
pub use partners::NewPartner;
pub use platform::{ConnectedAccount, CreatedAccount, LinkUrls, MERCHANT_METADATA};
pub use reconcile::{
    LineKind, ReconcileScope, ReconcileSweep, ReconciliationLine, ReconciliationReport,
    compare_batch,
};
pub use reports::{LedgerPeriod, LedgerReport};
pub use service::{REQUEST_KEY_RETENTION, REQUEST_STALE_AFTER};
pub use sessions::{ISSUER_ROLES, PLATFORM_ROLES};

/// Items claimed at a time, by default.
pub const DEFAULT_CLAIM_SIZE: u32 = 50;

/// Items sent at once by one execution run, by default: at Stripe's typical
/// 200–400 ms per transfer, 64 in flight reach its live-mode limit of
/// 100 requests per second.
pub const DEFAULT_CONCURRENCY: u32 = 64;

/// Engine settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EngineConfig {
    /// The retry ladder and timing rules.
    pub retry: RetryPolicy,
    /// This worker's name (leases carry it).
    pub worker: WorkerId,
    /// How many items a worker claims at a time.
    pub claim_size: u32,
    /// How many items one [`Payouts::execute_batch`] run sends at once
    /// (0 counts as 1). With Stripe's latency, this bounds the rate one run
    /// can reach: about `concurrency / latency`; the gateway's rate limiter
    /// bounds it from above.
    pub concurrency: u32,
    /// How long a run (given a timer) waits for its delayed items, from its
    /// start, instead of ending when only they remain (5 min, the longest
    /// back-off). Items due later are left to the scheduler's sweep.
    pub tail_wait: time::Duration,
    /// Notification delivery: retries, backoff, dead letter, concurrency.
    pub outbox: OutboxPolicy,
}

impl EngineConfig {
    /// Defaults with the given worker name.
    pub fn new(worker: WorkerId) -> Self {
        EngineConfig {
            retry: RetryPolicy::default(),
            worker,
            claim_size: DEFAULT_CLAIM_SIZE,
            concurrency: DEFAULT_CONCURRENCY,
            tail_wait: time::Duration::minutes(5),
            outbox: OutboxPolicy::default(),
        }
    }

    /// [`EngineConfig::concurrency`], at least 1.
    pub fn concurrency(&self) -> usize {
        usize::try_from(self.concurrency.max(1)).unwrap_or(1)
    }
}

/// The payout engine: every use case, over a store, a Stripe gateway, a
/// clock and an id generator.
///
/// The store and the gateway are shared (`Arc`) and may be trait objects
/// (`Payouts<dyn PayoutStore, dyn StripeGateways, …>`): an inbound adapter
/// can then name its engine type without naming any outbound adapter.
pub struct Payouts<S: ?Sized, G: ?Sized, C, I> {
    store: Arc<S>,
    gateway: Arc<G>,
    clock: C,
    ids: I,
    config: EngineConfig,
    /// Waiting, if the engine may wait ([`Payouts::with_timer`]).
    timer: Option<Arc<dyn Timer>>,
    /// The runs of this engine paying from each source account now, under
    /// one account lease.
    paying: batches::Paying,
    /// Item changes waiting to be written together (group commit).
    writes: Arc<writes::Writes>,
    /// Set by [`Payouts::begin_shutdown`]: runs take no new claim and send
    /// nothing new.
    stopping: Arc<std::sync::atomic::AtomicBool>,
}

impl<S: ?Sized, G: ?Sized, C, I> std::fmt::Debug for Payouts<S, G, C, I> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Payouts")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: PayoutStore,
    G: PayoutGateway + ConnectGateway,
    C: Clock,
    I: IdGenerator,
{
    /// Wires an engine over adapters it owns.
    pub fn new(store: S, gateway: G, clock: C, ids: I, config: EngineConfig) -> Self {
        Payouts::shared(Arc::new(store), Arc::new(gateway), clock, ids, config)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: PayoutStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Wires an engine over shared adapters, which may be trait objects.
    pub fn shared(store: Arc<S>, gateway: Arc<G>, clock: C, ids: I, config: EngineConfig) -> Self {
        Payouts {
            store,
            gateway,
            clock,
            ids,
            config,
            timer: None,
            paying: Arc::default(),
            writes: Arc::default(),
            stopping: Arc::default(),
        }
    }

    /// Lets the engine wait: runs renew their claims (a lease of
    /// `RetryPolicy::lease`, renewed every third of it) and their account
    /// lease while they live, and wait up to `EngineConfig::tail_wait` for
    /// delayed items instead of ending.
    #[must_use]
    pub fn with_timer(mut self, timer: Arc<dyn Timer>) -> Self {
        self.timer = Some(timer);
        self
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The gateway.
    pub fn gateway(&self) -> &G {
        &self.gateway
    }

    /// The clock.
    pub fn clock(&self) -> &C {
        &self.clock
    }

    /// The settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// Stops taking work, for a clean stop of the process: from now on a
    /// run claims nothing new, sends nothing it has not sent yet (its
    /// unsent claims are released), and waits for no delayed item; the
    /// sends already under way finish and their outcomes are written. A run
    /// that starts afterwards sends nothing and reports `deferred`. It
    /// cannot be undone: a stopping engine is for a process about to exit.
    pub fn begin_shutdown(&self) {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// True once [`Payouts::begin_shutdown`] was called.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(std::sync::atomic::Ordering::Acquire)
    }

    /// How many batch runs of this engine are under way (a process that
    /// stops waits for them to end after [`Payouts::begin_shutdown`]).
    pub fn runs_in_progress(&self) -> usize {
        batches::runs_in_progress(&self.paying)
    }

    /// A notification with a fresh id, stamped now.
    fn notification(
        &self,
        merchant_id: &crate::ids::MerchantId,
        kind: NotificationKind,
        recipient: Recipient,
        dedupe_key: String,
        payload: serde_json::Value,
    ) -> Notification {
        let now = self.clock.now();
        Notification {
            id: self.ids.next_id(),
            merchant_id: merchant_id.clone(),
            kind,
            recipient,
            dedupe_key,
            payload,
            created_at: now,
            delivery: DeliveryState::new_at(now),
        }
    }
}

/// A UUID derived from `parts`, so that the same fact always gets the same
/// id and a concurrent duplicate hits the store's unique key.
pub(crate) fn derived_uuid(parts: &[&str]) -> Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(digest.get(..16).unwrap_or(&[0; 16]));
    // Mark it as a version-8 (custom) RFC 4122 UUID.
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Maps a store's duplicate on a derived id to "already done".
pub(crate) fn ignore_duplicate(
    result: Result<(), crate::error::StoreError>,
) -> Result<bool, DomainError> {
    match result {
        Ok(()) => Ok(true),
        Err(crate::error::StoreError::Duplicate { .. }) => Ok(false),
        Err(other) => Err(other.into()),
    }
}
