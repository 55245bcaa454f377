//! `SettingsStore`: the fee schedule and processed webhook events.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::fees::FeeSchedule;
use payouts_domain::ids::EventId;
use payouts_domain::ports::SettingsStore;
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use crate::SeaOrmStore;
use crate::codec::{from_json, json, ts};
use crate::entity::{setting, webhook_event};
use crate::error::DbResultExt;

/// The settings key of the fee schedule.
const FEE_SCHEDULE: &str = "fee_schedule";

#[async_trait]
impl SettingsStore for SeaOrmStore {
    async fn fee_schedule(&self) -> Result<FeeSchedule, StoreError> {
        match setting::Entity::find_by_id(FEE_SCHEDULE.to_owned())
            .one(self.db())
            .await
            .or_unavailable()?
        {
            Some(row) => from_json("fee schedule", &row.value),
            None => Ok(FeeSchedule::default()),
        }
    }

    async fn save_fee_schedule(&self, schedule: &FeeSchedule) -> Result<(), StoreError> {
        setting::Entity::insert(setting::ActiveModel {
            key: ActiveValue::Set(FEE_SCHEDULE.to_owned()),
            value: ActiveValue::Set(json(schedule)?),
        })
        .on_conflict(
            OnConflict::column(setting::Column::Key)
                .update_column(setting::Column::Value)
                .to_owned(),
        )
        .exec_without_returning(self.db())
        .await
        .or_unavailable()?;
        Ok(())
    }

    async fn record_event(&self, id: &EventId, at: OffsetDateTime) -> Result<bool, StoreError> {
        let written = webhook_event::Entity::insert(webhook_event::ActiveModel {
            event_id: ActiveValue::Set(id.to_string()),
            received_at_ns: ActiveValue::Set(ts(at)?),
        })
        .on_conflict(
            OnConflict::column(webhook_event::Column::EventId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self.db())
        .await
        .or_unavailable()?;
        Ok(written == 1)
    }

    async fn forget_event(&self, id: &EventId) -> Result<bool, StoreError> {
        let removed = webhook_event::Entity::delete_many()
            .filter(webhook_event::Column::EventId.eq(id.as_str()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        Ok(removed == 1)
    }
}
