//! `ItemStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, conflict, not_found, page_of, state_currency_totals, state_totals};
use crate::error::StoreError;
use crate::ids::{
    BatchId, CommissionId, MerchantId, PartnerId, PayoutItemId, ProgramId, TransferId, WorkerId,
};
use crate::item::{ItemState, Lease, PayoutItem};
use crate::memory::lock;
use crate::notification::Notification;
use crate::ports::{FailureKind, ItemStore, Page, PageRequest, StateTotal};

#[async_trait]
impl ItemStore for InMemoryStore {
    async fn item(&self, id: PayoutItemId) -> Result<Option<PayoutItem>, StoreError> {
        Ok(lock(&self.state).items.get(&id).cloned())
    }

    async fn items(
        &self,
        batch: BatchId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.items, page, PayoutItemId::from_uuid, |i| {
            i.batch_id == batch
        }))
    }

    async fn claim_items(
        &self,
        batch: BatchId,
        worker: &WorkerId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        let mut state = lock(&self.state);
        let limit = usize::try_from(limit).unwrap_or(usize::MAX);
        let mut claimed = Vec::new();
        for item in state.items.values_mut() {
            if claimed.len() >= limit {
                break;
            }
            let open = matches!(
                item.state,
                ItemState::Pending
                    | ItemState::Submitting { .. }
                    | ItemState::ReconcileRequired { .. }
            );
            let free = item.lease.as_ref().is_none_or(|l| l.until <= now);
            if item.batch_id == batch && open && free {
                item.lease = Some(Lease {
                    worker: worker.clone(),
                    until: lease_until,
                });
                claimed.push(item.clone());
            }
        }
        Ok(claimed)
    }

    async fn transition_item(
        &self,
        next: &PayoutItem,
        expected: &ItemState,
        notifications: &[Notification],
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .items
            .get_mut(&next.id)
            .ok_or_else(|| not_found("payout item", next.id))?;
        if stored.state != *expected {
            return Err(conflict(
                "payout item",
                next.id,
                expected.as_str(),
                stored.state.as_str(),
            ));
        }
        stored.state = next.state.clone();
        stored.lease = next.lease.clone();
        stored.resends = next.resends;
        state.enqueue(notifications);
        Ok(())
    }

    async fn items_due_for_retry(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        let mut due: Vec<PayoutItem> = state
            .items
            .values()
            .filter(
                |i| matches!(i.state, ItemState::Failed { retry_at: Some(at), .. } if at <= now),
            )
            .cloned()
            .collect();
        due.sort_by_key(|i| match i.state {
            ItemState::Failed { retry_at, .. } => retry_at,
            _ => None,
        });
        due.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(due)
    }

    async fn items_waiting_for_merchant(
        &self,
        program: ProgramId,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        Ok(lock(&self.state)
            .items
            .values()
            .filter(|i| {
                i.program_id == program
                    && matches!(&i.state, ItemState::Failed { failure, retry_at: None, .. } if failure.kind == FailureKind::AccountInactive)
            })
            .cloned()
            .collect())
    }

    async fn renew_leases(
        &self,
        worker: &WorkerId,
        held: &[(PayoutItemId, OffsetDateTime)],
        until: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let mut state = lock(&self.state);
        Ok(held
            .iter()
            .map(|(id, held_until)| {
                let Some(item) = state.items.get_mut(id) else {
                    return false;
                };
                let open = item.state.is_open();
                match &mut item.lease {
                    Some(lease)
                        if open && &lease.worker == worker && lease.until <= *held_until =>
                    {
                        lease.until = until;
                        true
                    }
                    _ => false,
                }
            })
            .collect())
    }

    async fn items_in_flight(&self, batch: BatchId) -> Result<Vec<PayoutItem>, StoreError> {
        Ok(lock(&self.state)
            .items
            .values()
            .filter(|i| {
                i.batch_id == batch
                    && matches!(
                        i.state,
                        ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. }
                    )
            })
            .cloned()
            .collect())
    }

    async fn item_by_transfer(
        &self,
        transfer: &TransferId,
    ) -> Result<Option<PayoutItem>, StoreError> {
        Ok(lock(&self.state)
            .items
            .values()
            .find(|i| match &i.state {
                ItemState::Posted { transfer_id, .. } | ItemState::Reversed { transfer_id, .. } => {
                    transfer_id == transfer
                }
                _ => false,
            })
            .cloned())
    }

    async fn item_totals(&self, batch: BatchId) -> Result<Vec<StateTotal>, StoreError> {
        let state = lock(&self.state);
        state_totals(state.items.values().filter(|i| i.batch_id == batch))
    }

    async fn program_item_totals(&self, program: ProgramId) -> Result<Vec<StateTotal>, StoreError> {
        let state = lock(&self.state);
        state_totals(state.items.values().filter(|i| i.program_id == program))
    }

    async fn item_state_counts(&self) -> Result<Vec<StateTotal>, StoreError> {
        let state = lock(&self.state);
        state_currency_totals(state.items.values())
    }

    async fn items_of_partner(
        &self,
        partner: PartnerId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.items, page, PayoutItemId::from_uuid, |i| {
            i.partner_id == partner
        }))
    }

    async fn paid_items_of_merchant(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.items, page, PayoutItemId::from_uuid, |i| {
            i.merchant_id == *merchant && i.state.is_paid()
        }))
    }

    async fn item_commission_ids(
        &self,
        item: PayoutItemId,
    ) -> Result<Vec<CommissionId>, StoreError> {
        Ok(lock(&self.state)
            .commissions
            .values()
            .filter(|c| c.payout_item_id == Some(item))
            .map(|c| c.id)
            .collect())
    }
}
