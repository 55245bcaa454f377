//! `LeaseStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::InMemoryStore;
use crate::error::StoreError;
use crate::ids::WorkerId;
use crate::item::Lease;
use crate::memory::lock;
use crate::ports::LeaseStore;

#[async_trait]
impl LeaseStore for InMemoryStore {
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &WorkerId,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let until = now
            .checked_add(ttl)
            .ok_or_else(|| StoreError::Unavailable(format!("lease {name}: now + ttl overflows")))?;
        let mut state = lock(&self.state);
        let free = state
            .leases
            .get(name)
            .is_none_or(|l| l.until <= now || l.worker == *holder);
        if free {
            state.leases.insert(
                name.to_owned(),
                Lease {
                    worker: holder.clone(),
                    until,
                },
            );
        }
        Ok(free)
    }

    async fn release_lease(&self, name: &str, holder: &WorkerId) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        if state.leases.get(name).is_some_and(|l| l.worker == *holder) {
            state.leases.remove(name);
            return Ok(true);
        }
        Ok(false)
    }
}
