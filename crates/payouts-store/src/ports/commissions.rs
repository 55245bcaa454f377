//! `CommissionStore`: commissions, set-based finalization and aggregates.

use std::collections::BTreeMap;

use async_trait::async_trait;
use payouts_domain::batch::PartnerBalance;
use payouts_domain::commission::{Commission, CommissionState};
use payouts_domain::ids::{CommissionId, ConversionId, MembershipId, PartnerId, ProgramId};
use payouts_domain::period::Period;
use payouts_domain::ports::{CommissionFilter, CommissionStore, LedgerRow, Page, PageRequest};
use payouts_domain::{Money, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;
use uuid::Uuid;

use super::{col, decode_all, page, probe_limit, rows};
use crate::SeaOrmStore;
use crate::codec::{
    active, commission_row, commission_state, currency, period_code, period_from, ts, ts_bound,
};
use crate::entity::commission;
use crate::error::{DbResultExt, conflict, corrupt, not_found};
use crate::sql::Sql;

#[async_trait]
impl CommissionStore for SeaOrmStore {
    async fn insert_commission(&self, c: &Commission) -> Result<(), StoreError> {
        commission::Entity::insert(active::<commission::ActiveModel, _>(commission_row(c)?))
            .exec_without_returning(self.db())
            .await
            .or_duplicate("commission", || c.id.to_string())?;
        Ok(())
    }

    async fn commission(&self, id: CommissionId) -> Result<Option<Commission>, StoreError> {
        commission::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Commission::try_from)
            .transpose()
    }

    async fn commissions_of_conversion(
        &self,
        conversion: ConversionId,
    ) -> Result<Vec<Commission>, StoreError> {
        decode_all(
            commission::Entity::find()
                .filter(commission::Column::ConversionId.eq(conversion.as_uuid()))
                .order_by_asc(commission::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn update_commission(
        &self,
        next: &Commission,
        expected_state: &CommissionState,
        expected_amount: &Money,
    ) -> Result<(), StoreError> {
        let (state, at, reason, held) = commission_state(expected_state)?;
        let mut update = commission::Entity::update_many()
            .set(active::<commission::ActiveModel, _>(commission_row(next)?))
            .filter(commission::Column::Id.eq(next.id.as_uuid()))
            .filter(commission::Column::State.eq(state))
            .filter(commission::Column::AmountMinor.eq(expected_amount.amount_minor()))
            .filter(commission::Column::Currency.eq(expected_amount.currency().code()));
        update = match at {
            Some(at) => update.filter(commission::Column::StateAtNs.eq(at)),
            None => update.filter(commission::Column::StateAtNs.is_null()),
        };
        update = match reason {
            Some(reason) => update.filter(commission::Column::VoidReason.eq(reason)),
            None => update.filter(commission::Column::VoidReason.is_null()),
        };
        update = match held {
            Some(held) => update.filter(commission::Column::HoldReason.eq(held)),
            None => update.filter(commission::Column::HoldReason.is_null()),
        };
        let changed = update.exec(self.db()).await.or_unavailable()?.rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.commission(next.id).await? {
            None => Err(not_found("commission", next.id)),
            Some(found) => Err(conflict(
                "commission",
                next.id,
                &format!("{} of {expected_amount}", expected_state.as_str()),
                &format!("{} of {}", found.state.as_str(), found.amount),
            )),
        }
    }

    async fn finalize_due(
        &self,
        program: ProgramId,
        period: Period,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let now_ns = ts(now)?;
        Ok(commission::Entity::update_many()
            .col_expr(commission::Column::State, Expr::value("finalized"))
            .col_expr(commission::Column::StateAtNs, Expr::value(now_ns))
            .filter(commission::Column::ProgramId.eq(program.as_uuid()))
            .filter(commission::Column::State.eq("pending"))
            .filter(commission::Column::Period.lte(period_code(period)))
            .filter(commission::Column::HoldUntilNs.lte(now_ns))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected)
    }

    async fn list_commissions(
        &self,
        filter: &CommissionFilter,
        request: PageRequest,
    ) -> Result<Page<Commission>, StoreError> {
        let mut query = commission::Entity::find();
        if let Some(m) = &filter.merchant_id {
            query = query.filter(commission::Column::MerchantId.eq(m.as_str()));
        }
        if let Some(p) = filter.program_id {
            query = query.filter(commission::Column::ProgramId.eq(p.as_uuid()));
        }
        if let Some(p) = filter.partner_id {
            query = query.filter(commission::Column::PartnerId.eq(p.as_uuid()));
        }
        if let Some(s) = &filter.state {
            query = query.filter(commission::Column::State.eq(s.as_str()));
        }
        if let Some(r) = filter.hold_reason {
            query = query
                .filter(commission::Column::State.eq("on_hold"))
                .filter(commission::Column::HoldReason.eq(r.as_str()));
        }
        if let Some(p) = filter.period {
            query = query.filter(commission::Column::Period.eq(period_code(p)));
        }
        if let Some(i) = filter.payout_item_id {
            query = query
                .filter(commission::Column::PayoutItemId.eq(i.as_uuid()))
                .filter(super::items::linked_through_membership(i));
        }
        if let Some(after) = request.after {
            query = query.filter(commission::Column::Id.gt(after));
        }
        let models = query
            .order_by_asc(commission::Column::Id)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }

    async fn partner_balances(
        &self,
        program: ProgramId,
        period: Period,
        as_of: OffsetDateTime,
    ) -> Result<Vec<PartnerBalance>, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push(
            "SELECT membership_id, partner_id, currency, \
             CAST(SUM(amount_minor) AS BIGINT) AS net, COUNT(*) AS n \
             FROM commissions WHERE program_id = ",
        )
        .bind(program.as_uuid())
        .push(" AND payout_item_id IS NULL AND state = 'finalized' AND period <= ")
        .bind(period_code(period))
        .push(" AND state_at_ns <= ")
        .bind(ts_bound(as_of))
        .push(" GROUP BY membership_id, partner_id, currency ORDER BY membership_id");
        let mut balances: BTreeMap<MembershipId, PartnerBalance> = BTreeMap::new();
        for row in rows(self.db(), q).await? {
            let membership_id = MembershipId::from_uuid(col::<Uuid>(&row, "membership_id")?);
            let net = Money::new(
                col::<i64>(&row, "net")?,
                currency(&col::<String>(&row, "currency")?)?,
            );
            let n = u32::try_from(col::<i64>(&row, "n")?)
                .map_err(|e| corrupt("commission count", e))?;
            match balances.get_mut(&membership_id) {
                // Rows of one membership under two partners or currencies:
                // add them up the way the in-memory store does.
                Some(existing) => {
                    existing.net = existing
                        .net
                        .checked_add(&net)
                        .map_err(|e| StoreError::Unavailable(format!("aggregate: {e}")))?;
                    existing.commission_count = existing.commission_count.saturating_add(n);
                }
                None => {
                    balances.insert(
                        membership_id,
                        PartnerBalance {
                            membership_id,
                            partner_id: PartnerId::from_uuid(col::<Uuid>(&row, "partner_id")?),
                            net,
                            commission_count: n,
                        },
                    );
                }
            }
        }
        Ok(balances.into_values().collect())
    }

    async fn ledger(&self, program: ProgramId) -> Result<Vec<LedgerRow>, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push(
            "SELECT c.period AS period, i.state AS item_state, c.currency AS currency, \
             CAST(SUM(c.amount_minor) AS BIGINT) AS total \
             FROM commissions c LEFT JOIN payout_items i ON i.id = c.payout_item_id \
             WHERE c.program_id = ",
        )
        .bind(program.as_uuid())
        .push(" AND c.state = 'finalized' GROUP BY c.period, i.state, c.currency");
        let mut totals: BTreeMap<(Period, Option<String>), Money> = BTreeMap::new();
        for row in rows(self.db(), q).await? {
            let key = (
                period_from(col::<i32>(&row, "period")?)?,
                col::<Option<String>>(&row, "item_state")?,
            );
            let amount = Money::new(
                col::<i64>(&row, "total")?,
                currency(&col::<String>(&row, "currency")?)?,
            );
            add_into(&mut totals, key, amount)?;
        }
        Ok(totals
            .into_iter()
            .map(|((period, item_state), amount)| LedgerRow {
                period,
                item_state,
                amount,
            })
            .collect())
    }

    async fn finalized_totals(
        &self,
        program: ProgramId,
    ) -> Result<Vec<(Period, Money)>, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push(
            "SELECT period, currency, CAST(SUM(amount_minor) AS BIGINT) AS total \
             FROM commissions WHERE program_id = ",
        )
        .bind(program.as_uuid())
        .push(" AND state = 'finalized' GROUP BY period, currency");
        let mut totals: BTreeMap<Period, Money> = BTreeMap::new();
        for row in rows(self.db(), q).await? {
            let amount = Money::new(
                col::<i64>(&row, "total")?,
                currency(&col::<String>(&row, "currency")?)?,
            );
            add_into(
                &mut totals,
                period_from(col::<i32>(&row, "period")?)?,
                amount,
            )?;
        }
        Ok(totals.into_iter().collect())
    }
}

/// Adds `amount` to the total under `key`; two currencies under one key
/// are an error, as in the in-memory store.
fn add_into<K: Ord>(
    totals: &mut BTreeMap<K, Money>,
    key: K,
    amount: Money,
) -> Result<(), StoreError> {
    match totals.get_mut(&key) {
        Some(total) => {
            *total = total
                .checked_add(&amount)
                .map_err(|e| StoreError::Unavailable(format!("aggregate: {e}")))?;
        }
        None => {
            totals.insert(key, amount);
        }
    }
    Ok(())
}
