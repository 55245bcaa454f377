//! `OutboxStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, not_found};
use crate::error::StoreError;
use crate::ids::{MerchantId, NotificationId};
use crate::memory::lock;
use crate::notification::Notification;
use crate::ports::OutboxStore;

#[async_trait]
impl OutboxStore for InMemoryStore {
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError> {
        Ok(lock(&self.state).enqueue(notifications))
    }

    async fn undelivered(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        Ok(lock(&self.state)
            .notifications
            .iter()
            .filter(|n| n.delivered_at.is_none())
            .take(usize::try_from(limit).unwrap_or(usize::MAX))
            .cloned()
            .collect())
    }

    async fn mark_delivered(
        &self,
        id: NotificationId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let n = state
            .notifications
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| not_found("notification", id))?;
        n.delivered_at = Some(at);
        Ok(())
    }

    async fn notifications_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<Notification>, StoreError> {
        Ok(lock(&self.state)
            .notifications
            .iter()
            .filter(|n| n.merchant_id == *merchant)
            .cloned()
            .collect())
    }
}
