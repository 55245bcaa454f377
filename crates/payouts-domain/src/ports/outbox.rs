//! `OutboxStore`: the notification outbox and its delivery records.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{MerchantId, NotificationId};
use crate::notification::{AttemptStatus, DeliveryAttempt, DeliveryState, Notification};
use crate::ports::{Page, PageRequest};

/// The outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Enqueues notifications; those whose dedupe key exists are skipped.
    /// Returns how many were new. Each notification has a fresh id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError>;

    /// Pending notifications due at `now` (`next_attempt_at <= now`),
    /// earliest due first (then oldest first), at most `limit`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn due_notifications(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// One notification.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn notification(&self, id: NotificationId) -> Result<Option<Notification>, StoreError>;

    /// Moves a notification's delivery from `expected` to `next` and
    /// records `attempts`, together: compare-and-set on the state's name,
    /// its attempt count and (when pending) when it was due.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when the
    /// notification is no longer in `expected` (nothing is written).
    async fn record_delivery(
        &self,
        id: NotificationId,
        expected: &DeliveryState,
        next: &DeliveryState,
        attempts: &[DeliveryAttempt],
    ) -> Result<(), StoreError>;

    /// The URLs that accepted `notification` (a succeeded attempt) at or
    /// after `since`: a retry sends to the others only.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn accepted_urls(
        &self,
        notification: NotificationId,
        since: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError>;

    /// A page of a merchant's delivery attempts, newest first, optionally
    /// only those with `status`. `page.after` is the last attempt id of
    /// the previous page.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn deliveries_page(
        &self,
        merchant: &MerchantId,
        status: Option<AttemptStatus>,
        page: PageRequest,
    ) -> Result<Page<DeliveryAttempt>, StoreError>;

    /// A merchant's failing notifications (dead, or pending after a failed
    /// attempt), newest first, at most `limit`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn failing_notifications(
        &self,
        merchant: &MerchantId,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError>;

    /// Every notification for a merchant, oldest first (for audits and tests).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn notifications_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<Notification>, StoreError>;
}
