//! Working in-memory adapters (feature `testing`): part of the public API,
//! so embedders and test suites can run the whole domain without a database
//! or Stripe. They keep every rule a real adapter keeps: compare-and-set,
//! unique keys, leases, idempotency keys.

mod platform;
mod store;
mod stripe;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::ids::MerchantId;
use crate::notification::Notification;
use crate::ports::{Clock, DeliveryTarget, IdGenerator, Notifier, NotifyError};

pub use store::InMemoryStore;
pub use stripe::{InMemoryStripe, LedgerEntry, ScriptedFault};

/// Locks a mutex, recovering the data if a panicking test poisoned it.
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A clock that moves only when told. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    now: Arc<Mutex<OffsetDateTime>>,
}

impl ManualClock {
    /// A clock stopped at `at`.
    pub fn at(at: OffsetDateTime) -> Self {
        ManualClock {
            now: Arc::new(Mutex::new(at)),
        }
    }

    /// Moves the clock forward (or back, for a negative duration).
    pub fn advance(&self, by: Duration) {
        let mut now = lock(&self.now);
        *now = now.saturating_add(by);
    }

    /// Sets the clock.
    pub fn set(&self, at: OffsetDateTime) {
        *lock(&self.now) = at;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> OffsetDateTime {
        *lock(&self.now)
    }
}

/// Deterministic UUIDs: `00000000-0000-0000-0000-000000000001`, `…02`, …
/// Clones share the counter.
#[derive(Debug, Clone, Default)]
pub struct SequentialIds {
    next: Arc<AtomicU64>,
}

impl SequentialIds {
    /// A generator whose first id is `offset + 1`, so that several
    /// generators can share one store without clashing.
    pub fn starting_at(offset: u64) -> Self {
        SequentialIds {
            next: Arc::new(AtomicU64::new(offset)),
        }
    }
}

impl IdGenerator for SequentialIds {
    fn next_uuid(&self) -> Uuid {
        let n = self.next.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        Uuid::from_u128(u128::from(n))
    }
}

/// A notifier that records what it delivers, and can be told to fail.
#[derive(Debug, Clone, Default)]
pub struct RecordingNotifier {
    delivered: Arc<Mutex<Vec<Notification>>>,
    failing: Arc<Mutex<bool>>,
    fallback: Arc<Mutex<Option<DeliveryTarget>>>,
}

impl RecordingNotifier {
    /// Everything delivered so far, in order.
    pub fn delivered(&self) -> Vec<Notification> {
        lock(&self.delivered).clone()
    }

    /// Makes every delivery fail (true) or succeed (false).
    pub fn set_failing(&self, failing: bool) {
        *lock(&self.failing) = failing;
    }

    /// The target of merchants without endpoints (none by default).
    pub fn set_fallback(&self, target: Option<DeliveryTarget>) {
        *lock(&self.fallback) = target;
    }
}

#[async_trait]
impl Notifier for RecordingNotifier {
    fn fallback_target(&self, _merchant: &MerchantId) -> Option<DeliveryTarget> {
        lock(&self.fallback).clone()
    }

    async fn deliver(
        &self,
        notification: &Notification,
        target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError> {
        if *lock(&self.failing) {
            return Err(NotifyError {
                status_code: target.as_ref().map(|_| 500),
                message: "recording notifier set to fail".into(),
            });
        }
        lock(&self.delivered).push(notification.clone());
        Ok(target.map(|_| 200))
    }
}
