//! `BatchStore`: batches, inserted with their items.

use async_trait::async_trait;
use payouts_domain::batch::{BatchState, PayoutBatch};
use payouts_domain::ids::{BatchId, ProgramId};
use payouts_domain::item::PayoutItem;
use payouts_domain::ports::{BatchStore, Page, PageRequest};
use payouts_domain::{Money, StoreError};
use sea_orm::{ColumnTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use super::{col, decode_all, execute, page, probe_limit, rows};
use crate::codec::{active, batch_row, currency, item_row, period_code, ts_bound};
use crate::entity::{batch, payout_item};
use crate::error::{DbResultExt, conflict, not_found};
use crate::sql::Sql;
use crate::{INSERT_CHUNK, SeaOrmStore};

#[async_trait]
impl BatchStore for SeaOrmStore {
    async fn insert_batch(&self, b: &PayoutBatch, items: &[PayoutItem]) -> Result<(), StoreError> {
        let batch_model = active::<batch::ActiveModel, _>(batch_row(b)?);
        let item_models = items
            .iter()
            .map(|i| item_row(i).map(active::<payout_item::ActiveModel, _>))
            .collect::<Result<Vec<_>, _>>()?;
        let backend = self.db_backend();
        let txn = self.begin_write().await?;
        batch::Entity::insert(batch_model)
            .exec_without_returning(&txn)
            .await
            .or_duplicate("batch", || format!("{} {}", b.program_id, b.period))?;
        let mut chunks = item_models.into_iter().peekable();
        while chunks.peek().is_some() {
            let chunk: Vec<_> = chunks.by_ref().take(INSERT_CHUNK).collect();
            payout_item::Entity::insert_many(chunk)
                .exec_without_returning(&txn)
                .await
                .or_duplicate("payout item", || format!("in batch {}", b.id))?;
        }
        if backend == DbBackend::Postgres {
            // The items were just written: without fresh statistics the
            // planner guesses a handful of rows and may join the (large)
            // commissions table against a sequential scan of them. ANALYZE
            // sees this transaction's rows; it only waits for another
            // ANALYZE of the table (say, a concurrent batch build).
            execute(&txn, {
                let mut analyze = Sql::new(backend);
                analyze.push("ANALYZE payout_items");
                analyze
            })
            .await?;
        }
        // Link every eligible commission of each itemized membership, set-based.
        let mut link = Sql::new(backend);
        link.push(
            "UPDATE commissions AS c SET payout_item_id = i.id FROM payout_items AS i \
             WHERE i.batch_id = ",
        )
        .bind(b.id.as_uuid())
        .push(" AND c.membership_id = i.membership_id AND c.program_id = ")
        .bind(b.program_id.as_uuid())
        .push(" AND c.payout_item_id IS NULL AND c.state = 'finalized' AND c.period <= ")
        .bind(period_code(b.period))
        .push(" AND c.state_at_ns <= ")
        .bind(ts_bound(b.as_of));
        execute(&txn, link).await?;
        // Every item must equal the sum of what it now pays, in its currency.
        // Linked rows are found through the item's membership (indexed and
        // never updated); linking only ever pairs rows of the same membership.
        let mut check = Sql::new(backend);
        check
            .push(
                "SELECT i.id AS id, i.amount_minor AS amount, i.currency AS currency, \
                 CAST(COALESCE(SUM(c.amount_minor), 0) AS BIGINT) AS linked \
                 FROM payout_items i LEFT JOIN commissions c \
                 ON c.membership_id = i.membership_id AND c.payout_item_id = i.id \
                 WHERE i.batch_id = ",
            )
            .bind(b.id.as_uuid())
            .push(
                " GROUP BY i.id, i.amount_minor, i.currency \
                 HAVING COALESCE(SUM(c.amount_minor), 0) <> i.amount_minor \
                 OR MIN(c.currency) <> i.currency OR MAX(c.currency) <> i.currency \
                 ORDER BY i.id LIMIT 1",
            );
        if let Some(row) = rows(&txn, check).await?.first() {
            let item = col::<Uuid>(row, "id")?;
            let cur = currency(&col::<String>(row, "currency")?)?;
            let expected = Money::new(col::<i64>(row, "amount")?, cur);
            let linked = col::<i64>(row, "linked")?;
            txn.rollback().await.or_unavailable()?;
            return Err(conflict(
                "batch",
                b.id,
                &format!("item {item} to pay {expected}"),
                &format!("{linked} minor units of finalized unpaid commissions"),
            ));
        }
        txn.commit().await.or_unavailable()
    }

    async fn batch(&self, id: BatchId) -> Result<Option<PayoutBatch>, StoreError> {
        batch::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(PayoutBatch::try_from)
            .transpose()
    }

    async fn batches_of(&self, program: ProgramId) -> Result<Vec<PayoutBatch>, StoreError> {
        decode_all(
            batch::Entity::find()
                .filter(batch::Column::ProgramId.eq(program.as_uuid()))
                .order_by_desc(batch::Column::Period)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn batches_page(
        &self,
        program: ProgramId,
        request: PageRequest,
    ) -> Result<Page<PayoutBatch>, StoreError> {
        let mut query =
            batch::Entity::find().filter(batch::Column::ProgramId.eq(program.as_uuid()));
        if let Some(after) = request.after {
            query = query.filter(batch::Column::Id.gt(after));
        }
        let models = query
            .order_by_asc(batch::Column::Id)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }

    async fn batches_in_state(&self, state: BatchState) -> Result<Vec<PayoutBatch>, StoreError> {
        decode_all(
            batch::Entity::find()
                .filter(batch::Column::State.eq(state.as_str()))
                .order_by_asc(batch::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn update_batch(
        &self,
        next: &PayoutBatch,
        expected: BatchState,
    ) -> Result<(), StoreError> {
        let changed = batch::Entity::update_many()
            .set(active::<batch::ActiveModel, _>(batch_row(next)?))
            .filter(batch::Column::Id.eq(next.id.as_uuid()))
            .filter(batch::Column::State.eq(expected.as_str()))
            .exec(self.db())
            .await
            .or_duplicate("batch", || format!("{} {}", next.program_id, next.period))?
            .rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.batch(next.id).await? {
            None => Err(not_found("batch", next.id)),
            Some(found) => Err(conflict(
                "batch",
                next.id,
                expected.as_str(),
                found.state.as_str(),
            )),
        }
    }
}
