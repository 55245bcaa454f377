//! `ItemStore`: items, leases, and item outcomes with their outbox.

use std::collections::BTreeMap;

use async_trait::async_trait;
use payouts_domain::ids::{
    BatchId, CommissionId, MerchantId, PartnerId, PayoutItemId, ProgramId, TransferId, WorkerId,
};
use payouts_domain::item::{ItemState, PayoutItem};
use payouts_domain::notification::Notification;
use payouts_domain::ports::{FailureKind, ItemChange, ItemStore, Page, PageRequest, StateTotal};
use payouts_domain::{Money, StoreError};
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;
use uuid::Uuid;

use super::outbox::enqueue_on;
use super::{col, count, decode_all, page, probe_limit, rows};
use crate::SeaOrmStore;
use crate::codec::{check_state_currency, currency, state_columns, ts, ts_bound};
use crate::entity::{commission, payout_item};
use crate::error::{DbResultExt, conflict, not_found};
use crate::sql::Sql;

/// Claims renewed by one statement of [`ItemStore::renew_leases`].
const RENEWALS_PER_STATEMENT: usize = 200;

#[async_trait]
impl ItemStore for SeaOrmStore {
    async fn item(&self, id: PayoutItemId) -> Result<Option<PayoutItem>, StoreError> {
        payout_item::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(PayoutItem::try_from)
            .transpose()
    }

    async fn items(
        &self,
        batch: BatchId,
        request: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        self.item_page(payout_item::Column::BatchId.eq(batch.as_uuid()), request)
            .await
    }

    async fn claim_items(
        &self,
        batch: BatchId,
        worker: &WorkerId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        let backend = self.db_backend();
        let mut q = Sql::new(backend);
        q.push("UPDATE payout_items SET lease_worker = ")
            .bind(worker.as_str())
            .push(", lease_until_ns = ")
            .bind(ts(lease_until)?)
            .push(" WHERE id IN (SELECT id FROM payout_items WHERE batch_id = ")
            .bind(batch.as_uuid())
            // Literals, not parameters: the planner can then use the
            // partial index `payout_items_open` (the states of `ItemState::is_open`).
            .push(" AND state IN ('pending', 'submitting', 'reconcile_required')")
            .push(" AND (lease_until_ns IS NULL OR lease_until_ns <= ")
            .bind(ts_bound(now))
            .push(") ORDER BY id LIMIT ")
            .bind(i64::from(limit));
        if backend == DbBackend::Postgres {
            // Concurrent claimers skip each other's rows instead of waiting;
            // a row whose lease was taken meanwhile fails the re-check.
            q.push(" FOR UPDATE SKIP LOCKED");
        }
        q.push(") RETURNING *");
        // On SQLite the claim runs in a `BEGIN IMMEDIATE` transaction: one
        // writer at a time, the others wait on `busy_timeout`.
        let txn = self.begin_write().await?;
        let models = payout_item::Entity::find()
            .from_raw_sql(q.build())
            .all(&txn)
            .await
            .or_unavailable()?;
        txn.commit().await.or_unavailable()?;
        let mut claimed: Vec<PayoutItem> = decode_all(models)?;
        claimed.sort_by_key(|i| i.id);
        Ok(claimed)
    }

    async fn renew_leases(
        &self,
        worker: &WorkerId,
        held: &[(PayoutItemId, OffsetDateTime)],
        until: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError> {
        let mut applied = Vec::with_capacity(held.len());
        if held.is_empty() {
            return Ok(applied);
        }
        let until = ts(until)?;
        let mut renewed = std::collections::HashSet::with_capacity(held.len());
        // One statement per chunk (two parameters an item, well under
        // SQLite's and PostgreSQL's limits), in one write transaction.
        let txn = self.begin_write().await?;
        for chunk in held.chunks(RENEWALS_PER_STATEMENT) {
            let mut q = Sql::new(self.db_backend());
            q.push("UPDATE payout_items SET lease_until_ns = ")
                .bind(until)
                .push(" WHERE lease_worker = ")
                .bind(worker.as_str())
                .push(" AND state IN ('pending', 'submitting', 'reconcile_required') AND (");
            for (n, (id, held_until)) in chunk.iter().enumerate() {
                if n > 0 {
                    q.push(" OR ");
                }
                q.push("(id = ")
                    .bind(id.as_uuid())
                    .push(" AND lease_until_ns <= ")
                    .bind(ts(*held_until)?)
                    .push(")");
            }
            q.push(") RETURNING id");
            for row in rows(&txn, q).await? {
                renewed.insert(col::<Uuid>(&row, "id")?);
            }
        }
        txn.commit().await.or_unavailable()?;
        applied.extend(held.iter().map(|(id, _)| renewed.contains(&id.as_uuid())));
        Ok(applied)
    }

    async fn transition_item(
        &self,
        next: &PayoutItem,
        expected: &ItemState,
        notifications: &[Notification],
    ) -> Result<(), StoreError> {
        let txn = self.begin_write().await?;
        if !write_transition(&txn, next, expected).await? {
            let found = payout_item::Entity::find_by_id(next.id.as_uuid())
                .one(&txn)
                .await
                .or_unavailable()?;
            txn.rollback().await.or_unavailable()?;
            return Err(match found {
                None => not_found("payout item", next.id),
                Some(row) => conflict("payout item", next.id, expected.as_str(), &row.state),
            });
        }
        enqueue_on(&txn, notifications).await?;
        txn.commit().await.or_unavailable()
    }

    async fn transition_items(
        &self,
        changes: &[(PayoutItem, ItemState)],
    ) -> Result<Vec<bool>, StoreError> {
        let mut applied = Vec::with_capacity(changes.len());
        if changes.is_empty() {
            return Ok(applied);
        }
        let txn = self.begin_write().await?;
        let pairs: Vec<(&PayoutItem, &ItemState)> = changes.iter().map(|(n, e)| (n, e)).collect();
        applied = write_transitions(&txn, self.db_backend(), &pairs).await?;
        for ((next, _), ok) in changes.iter().zip(&applied) {
            if !ok
                && payout_item::Entity::find_by_id(next.id.as_uuid())
                    .one(&txn)
                    .await
                    .or_unavailable()?
                    .is_none()
            {
                txn.rollback().await.or_unavailable()?;
                return Err(not_found("payout item", next.id));
            }
        }
        txn.commit().await.or_unavailable()?;
        Ok(applied)
    }

    async fn commit_items(&self, changes: &[ItemChange]) -> Result<Vec<bool>, StoreError> {
        let mut applied = Vec::with_capacity(changes.len());
        if changes.is_empty() {
            return Ok(applied);
        }
        // One transaction: the changes in one UPDATE (chunked), then the
        // notifications of the ones that applied in one INSERT (chunked).
        let txn = self.begin_write().await?;
        let pairs: Vec<(&PayoutItem, &ItemState)> =
            changes.iter().map(|c| (&c.next, &c.expected)).collect();
        applied = write_transitions(&txn, self.db_backend(), &pairs).await?;
        let notifications: Vec<Notification> = changes
            .iter()
            .zip(&applied)
            .filter(|(_, ok)| **ok)
            .flat_map(|(c, _)| c.notifications.iter().cloned())
            .collect();
        enqueue_on(&txn, &notifications).await?;
        txn.commit().await.or_unavailable()?;
        Ok(applied)
    }

    async fn items_due_for_retry(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        decode_all(
            payout_item::Entity::find()
                .filter(payout_item::Column::State.eq("failed"))
                .filter(payout_item::Column::RetryAtNs.lte(ts_bound(now)))
                .order_by_asc(payout_item::Column::RetryAtNs)
                .order_by_asc(payout_item::Column::Id)
                .limit(u64::from(limit))
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn items_waiting_for_merchant(
        &self,
        program: ProgramId,
    ) -> Result<Vec<PayoutItem>, StoreError> {
        decode_all(
            payout_item::Entity::find()
                .filter(payout_item::Column::ProgramId.eq(program.as_uuid()))
                .filter(payout_item::Column::State.eq("failed"))
                .filter(payout_item::Column::FailureKind.eq(FailureKind::AccountInactive.as_str()))
                .filter(payout_item::Column::RetryAtNs.is_null())
                .order_by_asc(payout_item::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn items_in_flight(&self, batch: BatchId) -> Result<Vec<PayoutItem>, StoreError> {
        decode_all(
            payout_item::Entity::find()
                .filter(payout_item::Column::BatchId.eq(batch.as_uuid()))
                .filter(payout_item::Column::State.is_in(["submitting", "reconcile_required"]))
                .order_by_asc(payout_item::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn item_by_transfer(
        &self,
        transfer: &TransferId,
    ) -> Result<Option<PayoutItem>, StoreError> {
        payout_item::Entity::find()
            .filter(payout_item::Column::TransferId.eq(transfer.as_str()))
            .filter(payout_item::Column::State.is_in(["posted", "reversed"]))
            .order_by_asc(payout_item::Column::Id)
            .one(self.db())
            .await
            .or_unavailable()?
            .map(PayoutItem::try_from)
            .transpose()
    }

    async fn item_totals(&self, batch: BatchId) -> Result<Vec<StateTotal>, StoreError> {
        self.state_totals("batch_id", batch.as_uuid()).await
    }

    async fn program_item_totals(&self, program: ProgramId) -> Result<Vec<StateTotal>, StoreError> {
        self.state_totals("program_id", program.as_uuid()).await
    }

    async fn item_state_counts(&self) -> Result<Vec<StateTotal>, StoreError> {
        // One scan of the table, grouped by the database; the states and
        // currencies in use are few, so the result is small.
        let mut q = Sql::new(self.db_backend());
        q.push(
            "SELECT state, currency, COUNT(*) AS n, CAST(SUM(amount_minor) AS BIGINT) AS amount, \
             CAST(COALESCE(SUM(amount_reversed_minor), 0) AS BIGINT) AS reversed \
             FROM payout_items GROUP BY state, currency",
        );
        let mut totals = Vec::new();
        for row in rows(self.db(), q).await? {
            let cur = currency(&col::<String>(&row, "currency")?)?;
            totals.push(StateTotal {
                state: col::<String>(&row, "state")?,
                count: count(col::<i64>(&row, "n")?, "item count")?,
                amount: Money::new(col::<i64>(&row, "amount")?, cur),
                reversed: Money::new(col::<i64>(&row, "reversed")?, cur),
            });
        }
        // Byte order, as the port promises: an SQL `ORDER BY` on text
        // follows the database's collation, which may not.
        totals.sort_by(|a: &StateTotal, b: &StateTotal| {
            (a.state.as_str(), a.amount.currency()).cmp(&(b.state.as_str(), b.amount.currency()))
        });
        Ok(totals)
    }

    async fn items_of_partner(
        &self,
        partner: PartnerId,
        request: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        self.item_page(
            payout_item::Column::PartnerId.eq(partner.as_uuid()),
            request,
        )
        .await
    }

    async fn paid_items_of_merchant(
        &self,
        merchant: &MerchantId,
        request: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        self.item_page(
            sea_orm::sea_query::ExprTrait::and(
                payout_item::Column::MerchantId.eq(merchant.as_str()),
                payout_item::Column::State.is_in(["posted", "reversed"]),
            ),
            request,
        )
        .await
    }

    async fn item_commission_ids(
        &self,
        item: PayoutItemId,
    ) -> Result<Vec<CommissionId>, StoreError> {
        let ids: Vec<Uuid> = commission::Entity::find()
            .select_only()
            .column(commission::Column::Id)
            .filter(commission::Column::PayoutItemId.eq(item.as_uuid()))
            .filter(linked_through_membership(item))
            .order_by_asc(commission::Column::Id)
            .into_tuple()
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(ids.into_iter().map(CommissionId::from_uuid).collect())
    }
}

/// `membership_id IN (the item's membership)`: lets a lookup by item use
/// the membership index (there is deliberately none on `payout_item_id`).
pub(crate) fn linked_through_membership(item: PayoutItemId) -> sea_orm::Condition {
    sea_orm::Condition::all().add(
        commission::Column::MembershipId.in_subquery(
            sea_orm::sea_query::Query::select()
                .column(payout_item::Column::MembershipId)
                .from(payout_item::Entity)
                .and_where(payout_item::Column::Id.eq(item.as_uuid()))
                .to_owned(),
        ),
    )
}

impl SeaOrmStore {
    /// Items per state where `column` (a fixed column name) equals `id`.
    async fn state_totals(&self, column: &str, id: Uuid) -> Result<Vec<StateTotal>, StoreError> {
        let mut q = Sql::new(self.db_backend());
        q.push(
            "SELECT state, currency, COUNT(*) AS n, CAST(SUM(amount_minor) AS BIGINT) AS amount, \
             CAST(COALESCE(SUM(amount_reversed_minor), 0) AS BIGINT) AS reversed \
             FROM payout_items WHERE ",
        )
        .push(column)
        .push(" = ")
        .bind(id)
        .push(" GROUP BY state, currency");
        let mut totals: BTreeMap<String, StateTotal> = BTreeMap::new();
        for row in rows(self.db(), q).await? {
            let state = col::<String>(&row, "state")?;
            let cur = currency(&col::<String>(&row, "currency")?)?;
            let n = count(col::<i64>(&row, "n")?, "item count")?;
            let amount = Money::new(col::<i64>(&row, "amount")?, cur);
            let reversed = Money::new(col::<i64>(&row, "reversed")?, cur);
            match totals.get_mut(&state) {
                Some(total) => {
                    let sum = |a: &Money, b: &Money| {
                        a.checked_add(b)
                            .map_err(|e| StoreError::Unavailable(format!("aggregate: {e}")))
                    };
                    total.count = total.count.saturating_add(n);
                    total.amount = sum(&total.amount, &amount)?;
                    total.reversed = sum(&total.reversed, &reversed)?;
                }
                None => {
                    totals.insert(
                        state.clone(),
                        StateTotal {
                            state,
                            count: n,
                            amount,
                            reversed,
                        },
                    );
                }
            }
        }
        Ok(totals.into_values().collect())
    }
}

impl SeaOrmStore {
    /// A keyset page of items matching `filter`, ordered by id.
    async fn item_page(
        &self,
        filter: sea_orm::sea_query::SimpleExpr,
        request: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError> {
        let mut query = payout_item::Entity::find().filter(filter);
        if let Some(after) = request.after {
            query = query.filter(payout_item::Column::Id.gt(after));
        }
        let models = query
            .order_by_asc(payout_item::Column::Id)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }
}

/// Writes `next`'s state, lease and resends over the stored item if its
/// state is `expected`; `false` when no row matched.
async fn write_transition(
    txn: &DatabaseTransaction,
    next: &PayoutItem,
    expected: &ItemState,
) -> Result<bool, StoreError> {
    check_state_currency(&next.state, next.amount.currency())?;
    let to = state_columns(&next.state)?;
    let from = state_columns(expected)?;
    let lease_until = next.lease.as_ref().map(|l| ts(l.until)).transpose()?;
    let changed = payout_item::Entity::update_many()
        .col_expr(payout_item::Column::State, Expr::value(to.state))
        .col_expr(payout_item::Column::Attempt, Expr::value(to.attempt))
        .col_expr(payout_item::Column::StateDetail, Expr::value(to.detail))
        .col_expr(payout_item::Column::RetryAtNs, Expr::value(to.retry_at_ns))
        .col_expr(
            payout_item::Column::FailureKind,
            Expr::value(to.failure_kind),
        )
        .col_expr(payout_item::Column::TransferId, Expr::value(to.transfer_id))
        .col_expr(
            payout_item::Column::AmountReversedMinor,
            Expr::value(to.amount_reversed_minor),
        )
        .col_expr(
            payout_item::Column::LeaseWorker,
            Expr::value(next.lease.as_ref().map(|l| l.worker.to_string())),
        )
        .col_expr(payout_item::Column::LeaseUntilNs, Expr::value(lease_until))
        .col_expr(
            payout_item::Column::Resends,
            Expr::value(i64::from(next.resends)),
        )
        .filter(payout_item::Column::Id.eq(next.id.as_uuid()))
        .filter(payout_item::Column::State.eq(from.state))
        .filter(payout_item::Column::Attempt.eq(from.attempt))
        .filter(payout_item::Column::StateDetail.eq(from.detail))
        .exec(txn)
        .await
        .or_unavailable()?
        .rows_affected;
    Ok(changed == 1)
}

/// Rows per statement of [`write_transitions`] (14 parameters a row).
const TRANSITIONS_PER_STATEMENT: usize = 100;

/// [`write_transition`] for many items at once: one `UPDATE … FROM
/// (VALUES …)` per chunk, each row its own compare-and-set on the expected
/// state. Answers, in order, whether each applied.
async fn write_transitions(
    txn: &DatabaseTransaction,
    backend: DbBackend,
    changes: &[(&PayoutItem, &ItemState)],
) -> Result<Vec<bool>, StoreError> {
    let mut applied = std::collections::HashSet::with_capacity(changes.len());
    // PostgreSQL types a VALUES list from its values: the casts name them
    // (SQLite stores what it is given, and a cast there would convert).
    let cast = |q: &mut Sql, value: sea_orm::Value, ty: &str| {
        if backend == DbBackend::Postgres {
            q.push("CAST(").bind(value).push(" AS ").push(ty).push(")");
        } else {
            q.bind(value);
        }
    };
    for chunk in changes.chunks(TRANSITIONS_PER_STATEMENT) {
        let mut q = Sql::new(backend);
        q.push(
            "UPDATE payout_items SET state = v.column2, attempt = v.column3, \
             state_detail = v.column4, retry_at_ns = v.column5, failure_kind = v.column6, \
             transfer_id = v.column7, amount_reversed_minor = v.column8, \
             lease_worker = v.column9, lease_until_ns = v.column10, resends = v.column11 \
             FROM (VALUES ",
        );
        for (n, (next, expected)) in chunk.iter().enumerate() {
            check_state_currency(&next.state, next.amount.currency())?;
            let to = state_columns(&next.state)?;
            let from = state_columns(expected)?;
            let lease_until = next.lease.as_ref().map(|l| ts(l.until)).transpose()?;
            let row: [(sea_orm::Value, &str); 14] = [
                (next.id.as_uuid().into(), "uuid"),
                (to.state.into(), "text"),
                (to.attempt.into(), "bigint"),
                (to.detail.into(), "text"),
                (to.retry_at_ns.into(), "bigint"),
                (to.failure_kind.into(), "text"),
                (to.transfer_id.into(), "text"),
                (to.amount_reversed_minor.into(), "bigint"),
                (
                    next.lease.as_ref().map(|l| l.worker.to_string()).into(),
                    "text",
                ),
                (lease_until.into(), "bigint"),
                (i64::from(next.resends).into(), "bigint"),
                (from.state.into(), "text"),
                (from.attempt.into(), "bigint"),
                (from.detail.into(), "text"),
            ];
            q.push(if n == 0 { "(" } else { ", (" });
            for (column, (value, ty)) in row.into_iter().enumerate() {
                if column > 0 {
                    q.push(", ");
                }
                cast(&mut q, value, ty);
            }
            q.push(")");
        }
        q.push(
            ") AS v WHERE payout_items.id = v.column1 AND payout_items.state = v.column12 \
             AND payout_items.attempt = v.column13 AND payout_items.state_detail = v.column14 \
             RETURNING payout_items.id",
        );
        for row in rows(txn, q).await? {
            applied.insert(col::<Uuid>(&row, "id")?);
        }
    }
    Ok(changes
        .iter()
        .map(|(next, _)| applied.contains(&next.id.as_uuid()))
        .collect())
}
