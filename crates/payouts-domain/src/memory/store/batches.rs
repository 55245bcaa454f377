//! `BatchStore` over the in-memory state.

use async_trait::async_trait;

use super::{InMemoryStore, add, conflict, finalized_at, not_found, page_of};
use crate::batch::{BatchState, PayoutBatch};
use crate::error::StoreError;
use crate::ids::{BatchId, CommissionId, PayoutItemId, ProgramId};
use crate::item::PayoutItem;
use crate::memory::lock;
use crate::money::Money;
use crate::ports::{BatchStore, Page, PageRequest};

#[async_trait]
impl BatchStore for InMemoryStore {
    async fn batches_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<PayoutBatch>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.batches, page, BatchId::from, |b| {
            b.program_id == program
        }))
    }

    async fn insert_batch(
        &self,
        batch: &PayoutBatch,
        items: &[PayoutItem],
    ) -> Result<(), StoreError> {
        crate::ports::storable::period(batch.period)?;
        crate::ports::storable::instant(batch.as_of)?;
        let mut state = lock(&self.state);
        let exists = state
            .batches
            .values()
            .any(|b| b.program_id == batch.program_id && b.period == batch.period);
        if exists {
            return Err(StoreError::Duplicate {
                entity: "batch",
                key: format!("{} {}", batch.program_id, batch.period),
            });
        }
        // Link first on a copy, so that a mismatch writes nothing.
        let mut links: Vec<(CommissionId, PayoutItemId)> = Vec::new();
        for item in items {
            let mut sum = Money::zero(item.amount.currency());
            for c in state.commissions.values() {
                let eligible = c.program_id == batch.program_id
                    && c.membership_id == item.membership_id
                    && c.payout_item_id.is_none()
                    && c.period <= batch.period
                    && finalized_at(c).is_some_and(|at| at <= batch.as_of);
                if eligible {
                    add(&mut sum, &c.amount)?;
                    links.push((c.id, item.id));
                }
            }
            if sum != item.amount {
                return Err(conflict(
                    "batch",
                    batch.id,
                    &item.amount.to_string(),
                    &sum.to_string(),
                ));
            }
        }
        for (commission, item) in links {
            if let Some(c) = state.commissions.get_mut(&commission) {
                c.payout_item_id = Some(item);
            }
        }
        for item in items {
            state.items.insert(item.id, item.clone());
        }
        state.batches.insert(batch.id, batch.clone());
        Ok(())
    }

    async fn batch(&self, id: BatchId) -> Result<Option<PayoutBatch>, StoreError> {
        Ok(lock(&self.state).batches.get(&id).cloned())
    }

    async fn batches_of(&self, program: ProgramId) -> Result<Vec<PayoutBatch>, StoreError> {
        let mut batches: Vec<PayoutBatch> = lock(&self.state)
            .batches
            .values()
            .filter(|b| b.program_id == program)
            .cloned()
            .collect();
        batches.sort_by_key(|b| std::cmp::Reverse(b.period));
        Ok(batches)
    }

    async fn batches_in_state(&self, wanted: BatchState) -> Result<Vec<PayoutBatch>, StoreError> {
        Ok(lock(&self.state)
            .batches
            .values()
            .filter(|b| b.state == wanted)
            .cloned()
            .collect())
    }

    async fn update_batch(
        &self,
        next: &PayoutBatch,
        expected: BatchState,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .batches
            .get_mut(&next.id)
            .ok_or_else(|| not_found("batch", next.id))?;
        if stored.state != expected {
            return Err(conflict(
                "batch",
                next.id,
                expected.as_str(),
                stored.state.as_str(),
            ));
        }
        *stored = next.clone();
        Ok(())
    }
}
