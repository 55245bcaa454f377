//! `SettingsStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::InMemoryStore;
use crate::error::StoreError;
use crate::fees::FeeSchedule;
use crate::ids::EventId;
use crate::memory::lock;
use crate::ports::SettingsStore;

#[async_trait]
impl SettingsStore for InMemoryStore {
    async fn fee_schedule(&self) -> Result<FeeSchedule, StoreError> {
        Ok(lock(&self.state).fee_schedule.clone().unwrap_or_default())
    }

    async fn save_fee_schedule(&self, schedule: &FeeSchedule) -> Result<(), StoreError> {
        lock(&self.state).fee_schedule = Some(schedule.clone());
        Ok(())
    }

    async fn record_event(&self, id: &EventId, _at: OffsetDateTime) -> Result<bool, StoreError> {
        Ok(lock(&self.state).events.insert(id.clone()))
    }

    async fn forget_event(&self, id: &EventId) -> Result<bool, StoreError> {
        Ok(lock(&self.state).events.remove(id))
    }
}
