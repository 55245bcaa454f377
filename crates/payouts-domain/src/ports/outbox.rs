//! `OutboxStore`: the notification outbox.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{MerchantId, NotificationId};
use crate::notification::Notification;

/// The outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Enqueues notifications; those whose dedupe key exists are skipped.
    /// Returns how many were new. Each notification has a fresh id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError>;

    /// Undelivered notifications, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn undelivered(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;

    /// Marks one delivered.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn mark_delivered(
        &self,
        id: NotificationId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Every notification for a merchant, oldest first (for audits and tests).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn notifications_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<Notification>, StoreError>;
}
