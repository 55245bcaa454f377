//! `BankPayoutStore`: partners' bank payouts.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::AccountId;
use payouts_domain::ports::{BankPayout, BankPayoutStore};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use super::decode_all;
use crate::SeaOrmStore;
use crate::codec::{active, bank_payout_row};
use crate::entity::bank_payout;
use crate::error::DbResultExt;

#[async_trait]
impl BankPayoutStore for SeaOrmStore {
    async fn upsert_bank_payout(&self, payout: &BankPayout) -> Result<(), StoreError> {
        bank_payout::Entity::insert(active::<bank_payout::ActiveModel, _>(bank_payout_row(
            payout,
        )?))
        .on_conflict(
            OnConflict::column(bank_payout::Column::PayoutId)
                .update_columns([
                    bank_payout::Column::AccountId,
                    bank_payout::Column::Currency,
                    bank_payout::Column::AmountMinor,
                    bank_payout::Column::Status,
                    bank_payout::Column::FailureCode,
                    bank_payout::Column::ArrivalDateNs,
                    bank_payout::Column::UpdatedAtNs,
                ])
                .to_owned(),
        )
        .exec_without_returning(self.db())
        .await
        .or_unavailable()?;
        Ok(())
    }

    async fn bank_payouts(&self, account: &AccountId) -> Result<Vec<BankPayout>, StoreError> {
        decode_all(
            bank_payout::Entity::find()
                .filter(bank_payout::Column::AccountId.eq(account.as_str()))
                .order_by_desc(bank_payout::Column::UpdatedAtNs)
                .order_by_asc(bank_payout::Column::PayoutId)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }
}
