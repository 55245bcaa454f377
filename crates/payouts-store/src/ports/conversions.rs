//! `ConversionStore`.

use async_trait::async_trait;
use payouts_domain::commission::{Commission, Conversion};
use payouts_domain::ids::{ConversionId, ExternalId, MembershipId, MerchantId, ProgramId};
use payouts_domain::period::Period;
use payouts_domain::ports::ConversionStore;
use payouts_domain::reward::PartnerTotals;
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
            .bind(customer_ref)
            .push(" AND kind = 'sale'");
        let found = rows(self.db(), q).await?;
        match found.first() {
            Some(row) => from_ts_opt(col::<Option<i64>>(row, "first")?),
            None => Ok(None),
        }
    }

    async fn customer_sale_count(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<u64, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push("SELECT COUNT(*) AS n FROM conversions WHERE program_id = ")
            .bind(program.as_uuid())
            .push(" AND customer_ref = ")
            .bind(customer_ref)
            .push(" AND kind = 'sale'");
        let found = rows(self.db(), q).await?;
        let n = match found.first() {
            Some(row) => col::<i64>(row, "n")?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn partner_totals(&self, membership: MembershipId) -> Result<PartnerTotals, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push(
            "SELECT COUNT(*) AS n, \
             CAST(COALESCE(SUM(v.amount_minor - v.refunded_minor), 0) AS BIGINT) AS revenue \
             FROM commissions c JOIN conversions v ON v.id = c.conversion_id \
             WHERE c.membership_id = ",
        )
        .bind(membership.as_uuid())
        .push(" AND c.kind = 'earned' AND c.state = 'finalized' AND v.kind = 'sale' AND v.cancelled = ")
        .bind(false);
        let found = rows(self.db(), q).await?;
        let (n, revenue) = match found.first() {
            Some(row) => (col::<i64>(row, "n")?, col::<i64>(row, "revenue")?),
            None => (0, 0),
        };
        Ok(PartnerTotals {
            conversions: u64::try_from(n).unwrap_or(0),
            revenue_minor: revenue,
        })
    }

    async fn update_conversion(
        &self,
        next: &Conversion,
        expected: &Conversion,
    ) -> Result<(), StoreError> {
        let row = conversion_row(next)?;
        let changed = conversion::Entity::update_many()
            .col_expr(
                conversion::Column::RefundedMinor,
                Expr::value(row.refunded_minor),
            )
            .col_expr(conversion::Column::Cancelled, Expr::value(row.cancelled))
            .col_expr(
                conversion::Column::CorrectedCommissionMinor,
                Expr::value(row.corrected_commission_minor),
            )
            .col_expr(
                conversion::Column::Corrections,
                Expr::value(row.corrections),
            )
            .filter(conversion::Column::Id.eq(next.id.as_uuid()))
            .filter(conversion::Column::RefundedMinor.eq(expected.refunded.amount_minor()))
            .filter(conversion::Column::Currency.eq(expected.refunded.currency().code()))
            .filter(conversion::Column::Cancelled.eq(expected.cancelled))
            .filter(conversion::Column::Corrections.eq(i64::from(expected.corrections)))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            return Ok(());
        }
        let state = |c: &Conversion| {
            format!(
                "refunded {}, cancelled {}, corrections {}",
                c.refunded, c.cancelled, c.corrections
            )
        };
        match self.conversion(next.id).await? {
            None => Err(not_found("conversion", next.id)),
            Some(found) => Err(conflict(
                "conversion",
                next.id,
                &state(expected),
                &state(&found),
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
