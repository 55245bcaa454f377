//! `ConversionStore`.

use async_trait::async_trait;
use payouts_domain::commission::{Commission, Conversion};
use payouts_domain::ids::{ConversionId, ExternalId, MerchantId, ProgramId};
use payouts_domain::period::Period;
use payouts_domain::ports::ConversionStore;
use payouts_domain::{Currency, Money, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use time::OffsetDateTime;

use super::{col, rows};
use crate::SeaOrmStore;
use crate::codec::{active, commission_row, conversion_row, from_ts_opt, ts_bound};
use crate::entity::{commission, conversion};
use crate::error::{DbResultExt, conflict, not_found};
use crate::sql::Sql;

#[async_trait]
impl ConversionStore for SeaOrmStore {
    async fn insert_conversion(
        &self,
        c: &Conversion,
        earned: Option<&Commission>,
    ) -> Result<(), StoreError> {
        let conversion_model = active::<conversion::ActiveModel, _>(conversion_row(c)?);
        let commission_model = earned
            .map(|e| commission_row(e).map(active::<commission::ActiveModel, _>))
            .transpose()?;
        let txn = self.begin_write().await?;
        conversion::Entity::insert(conversion_model)
            .exec_without_returning(&txn)
            .await
            .or_duplicate("conversion", || c.external_id.to_string())?;
        if let (Some(model), Some(e)) = (commission_model, earned) {
            commission::Entity::insert(model)
                .exec_without_returning(&txn)
                .await
                .or_duplicate("commission", || e.id.to_string())?;
        }
        txn.commit().await.or_unavailable()
    }

    async fn conversion(&self, id: ConversionId) -> Result<Option<Conversion>, StoreError> {
        conversion::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Conversion::try_from)
            .transpose()
    }

    async fn conversion_by_external_id(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Option<Conversion>, StoreError> {
        conversion::Entity::find()
            .filter(conversion::Column::MerchantId.eq(merchant.as_str()))
            .filter(conversion::Column::ExternalId.eq(external_id.as_str()))
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Conversion::try_from)
            .transpose()
    }

    async fn conversion_by_payment_ref(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
    ) -> Result<Option<Conversion>, StoreError> {
        conversion::Entity::find()
            .filter(conversion::Column::MerchantId.eq(merchant.as_str()))
            .filter(conversion::Column::PaymentRef.eq(payment_ref))
            .order_by_asc(conversion::Column::Id)
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Conversion::try_from)
            .transpose()
    }

    async fn first_conversion_at(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push("SELECT MIN(occurred_at_ns) AS first FROM conversions WHERE program_id = ")
            .bind(program.as_uuid())
            .push(" AND customer_ref = ")
            .bind(customer_ref);
        let found = rows(self.db(), q).await?;
        match found.first() {
            Some(row) => from_ts_opt(col::<Option<i64>>(row, "first")?),
            None => Ok(None),
        }
    }

    async fn update_conversion(
        &self,
        next: &Conversion,
        expected_refunded: &Money,
        expected_cancelled: bool,
    ) -> Result<(), StoreError> {
        let row = conversion_row(next)?;
        let changed = conversion::Entity::update_many()
            .col_expr(
                conversion::Column::RefundedMinor,
                Expr::value(row.refunded_minor),
            )
            .col_expr(conversion::Column::Cancelled, Expr::value(row.cancelled))
            .filter(conversion::Column::Id.eq(next.id.as_uuid()))
            .filter(conversion::Column::RefundedMinor.eq(expected_refunded.amount_minor()))
            .filter(conversion::Column::Currency.eq(expected_refunded.currency().code()))
            .filter(conversion::Column::Cancelled.eq(expected_cancelled))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.conversion(next.id).await? {
            None => Err(not_found("conversion", next.id)),
            Some(found) => Err(conflict(
                "conversion",
                next.id,
                &format!("refunded {expected_refunded}, cancelled {expected_cancelled}"),
                &format!("refunded {}, cancelled {}", found.refunded, found.cancelled),
            )),
        }
    }

    async fn monthly_volume(
        &self,
        merchant: &MerchantId,
        period: Period,
        currency: Currency,
    ) -> Result<Money, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push("SELECT CAST(COALESCE(SUM(amount_minor), 0) AS BIGINT) AS total FROM conversions WHERE merchant_id = ")
            .bind(merchant.as_str())
            .push(" AND currency = ")
            .bind(currency.code())
            .push(" AND occurred_at_ns >= ")
            .bind(ts_bound(period.start()))
            .push(" AND occurred_at_ns < ")
            .bind(ts_bound(period.end()));
        let found = rows(self.db(), q).await?;
        let total = match found.first() {
            Some(row) => col::<i64>(row, "total")?,
            None => 0,
        };
        Ok(Money::new(total, currency))
    }
}
