//! `DisputeStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::InMemoryStore;
use crate::error::StoreError;
use crate::events::DisputeRecord;
use crate::ids::AccountId;
use crate::memory::lock;
use crate::ports::{DisputeStore, StoredDispute};

#[async_trait]
impl DisputeStore for InMemoryStore {
    async fn upsert_dispute(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeRecord,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if let Some(stored) = state.disputes.get(&dispute.dispute_id)
            && stored.updated_at > at
        {
            return Ok(false);
        }
        state.disputes.insert(
            dispute.dispute_id.clone(),
            StoredDispute {
                account_id: account.cloned(),
                dispute: dispute.clone(),
                updated_at: at,
            },
        );
        Ok(true)
    }

    async fn disputes(&self, limit: u32) -> Result<Vec<StoredDispute>, StoreError> {
        let mut disputes: Vec<StoredDispute> =
            lock(&self.state).disputes.values().cloned().collect();
        disputes.sort_by(|a, b| {
            b.updated_at
                .cmp(&a.updated_at)
                .then_with(|| a.dispute.dispute_id.cmp(&b.dispute.dispute_id))
        });
        disputes.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        Ok(disputes)
    }
}
