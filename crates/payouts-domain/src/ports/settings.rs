//! `SettingsStore`: the fee schedule and processed webhook events.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::fees::FeeSchedule;
use crate::ids::EventId;

/// Platform fee configuration and processed webhook events.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The fee schedule (the default when none was saved).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn fee_schedule(&self) -> Result<FeeSchedule, StoreError>;

    /// Replaces the fee schedule.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn save_fee_schedule(&self, schedule: &FeeSchedule) -> Result<(), StoreError>;

    /// Records a webhook event id; `true` the first time, `false` for a duplicate.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn record_event(&self, id: &EventId, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Removes a recorded event id, so that the next delivery of the event
    /// is processed again (used when acting on a claimed event failed).
    /// Returns `true` when the id was recorded.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn forget_event(&self, id: &EventId) -> Result<bool, StoreError>;
}
