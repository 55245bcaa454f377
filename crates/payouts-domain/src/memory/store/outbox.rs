//! `OutboxStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, conflict, not_found};
use crate::error::StoreError;
use crate::ids::{MerchantId, NotificationId};
use crate::memory::lock;
use crate::notification::{AttemptStatus, DeliveryAttempt, DeliveryState, Notification};
use crate::ports::{OutboxStore, Page, PageRequest};

/// What a compare-and-set compares: the state's name, its attempts and,
/// when pending, when it is due (the SQL stores compare the same columns).
fn cas_key(state: &DeliveryState) -> (&'static str, u32, Option<OffsetDateTime>) {
    let due = match state {
        DeliveryState::Pending {
            next_attempt_at, ..
        } => Some(*next_attempt_at),
        DeliveryState::Delivered { .. } | DeliveryState::Dead { .. } => None,
    };
    (state.as_str(), state.attempts(), due)
}

fn limit_of(limit: u32) -> usize {
    usize::try_from(limit).unwrap_or(usize::MAX)
}

#[async_trait]
impl OutboxStore for InMemoryStore {
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError> {
        Ok(lock(&self.state).enqueue(notifications))
    }

    async fn due_notifications(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        let state = lock(&self.state);
        let mut due: Vec<(OffsetDateTime, usize, &Notification)> = state
            .notifications
            .iter()
            .enumerate()
            .filter_map(|(seq, n)| match n.delivery {
                DeliveryState::Pending {
                    next_attempt_at, ..
                } if next_attempt_at <= now => Some((next_attempt_at, seq, n)),
                _ => None,
            })
            .collect();
        due.sort_by_key(|(at, seq, _)| (*at, *seq));
        Ok(due
            .into_iter()
            .take(limit_of(limit))
            .map(|(_, _, n)| n.clone())
            .collect())
    }

    async fn notification(&self, id: NotificationId) -> Result<Option<Notification>, StoreError> {
        Ok(lock(&self.state)
            .notifications
            .iter()
            .find(|n| n.id == id)
            .cloned())
    }

    async fn record_delivery(
        &self,
        id: NotificationId,
        expected: &DeliveryState,
        next: &DeliveryState,
        attempts: &[DeliveryAttempt],
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let n = state
            .notifications
            .iter_mut()
            .find(|n| n.id == id)
            .ok_or_else(|| not_found("notification", id))?;
        if cas_key(&n.delivery) != cas_key(expected) {
            return Err(conflict(
                "notification",
                id,
                expected.as_str(),
                n.delivery.as_str(),
            ));
        }
        n.delivery = next.clone();
        state.deliveries.extend(attempts.iter().cloned());
        Ok(())
    }

    async fn accepted_urls(
        &self,
        notification: NotificationId,
        since: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let mut urls: Vec<String> = lock(&self.state)
            .deliveries
            .iter()
            .filter(|d| {
                d.notification_id == notification
                    && d.status == AttemptStatus::Succeeded
                    && d.attempted_at >= since
            })
            .map(|d| d.url.clone())
            .collect();
        urls.sort();
        urls.dedup();
        Ok(urls)
    }

    async fn deliveries_page(
        &self,
        merchant: &MerchantId,
        status: Option<AttemptStatus>,
        page: PageRequest,
    ) -> Result<Page<DeliveryAttempt>, StoreError> {
        let state = lock(&self.state);
        let newest_first = state.deliveries.iter().rev();
        let after: Vec<&DeliveryAttempt> = match page.after {
            None => newest_first.collect(),
            Some(after) => newest_first
                .skip_while(|d| d.id.as_uuid() != after)
                .skip(1)
                .collect(),
        };
        let limit = limit_of(page.limit());
        let mut data: Vec<DeliveryAttempt> = after
            .into_iter()
            .filter(|d| d.merchant_id == *merchant && status.is_none_or(|s| d.status == s))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let has_more = data.len() > limit;
        data.truncate(limit);
        Ok(Page { data, has_more })
    }

    async fn failing_notifications(
        &self,
        merchant: &MerchantId,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        Ok(lock(&self.state)
            .notifications
            .iter()
            .rev()
            .filter(|n| n.merchant_id == *merchant && n.is_failing())
            .take(limit_of(limit))
            .cloned()
            .collect())
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
