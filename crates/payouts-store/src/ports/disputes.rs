//! `DisputeStore`: the latest reported version of each dispute.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::events::DisputeRecord;
use payouts_domain::ids::AccountId;
use payouts_domain::ports::{DisputeStore, StoredDispute};
use sea_orm::{EntityTrait, QueryOrder, QuerySelect};
use time::OffsetDateTime;

use super::{decode_all, execute};
use crate::SeaOrmStore;
use crate::codec::dispute_row;
use crate::entity::dispute;
use crate::error::DbResultExt;
use crate::sql::Sql;

#[async_trait]
impl DisputeStore for SeaOrmStore {
    async fn upsert_dispute(
        &self,
        account: Option<&AccountId>,
        record: &DisputeRecord,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let row = dispute_row(account, record, at)?;
        // One statement: a concurrent or late delivery of an older version
        // finds the newer row and, by the `WHERE`, writes nothing.
        let mut q = Sql::new(self.db_backend());
        q.push(
            "INSERT INTO disputes (dispute_id, account_id, payment_intent, currency, \
             amount_minor, reason, status, evidence_due_by_ns, updated_at_ns) VALUES (",
        )
        .bind(row.dispute_id)
        .push(", ")
        .bind(row.account_id)
        .push(", ")
        .bind(row.payment_intent)
        .push(", ")
        .bind(row.currency)
        .push(", ")
        .bind(row.amount_minor)
        .push(", ")
        .bind(row.reason)
        .push(", ")
        .bind(row.status)
        .push(", ")
        .bind(row.evidence_due_by_ns)
        .push(", ")
        .bind(row.updated_at_ns)
        .push(
            ") ON CONFLICT (dispute_id) DO UPDATE SET account_id = excluded.account_id, \
             payment_intent = excluded.payment_intent, currency = excluded.currency, \
             amount_minor = excluded.amount_minor, reason = excluded.reason, \
             status = excluded.status, evidence_due_by_ns = excluded.evidence_due_by_ns, \
             updated_at_ns = excluded.updated_at_ns \
             WHERE disputes.updated_at_ns <= excluded.updated_at_ns",
        );
        Ok(execute(self.db(), q).await? == 1)
    }

    async fn disputes(&self, limit: u32) -> Result<Vec<StoredDispute>, StoreError> {
        decode_all(
            dispute::Entity::find()
                .order_by_desc(dispute::Column::UpdatedAtNs)
                .order_by_asc(dispute::Column::DisputeId)
                .limit(u64::from(limit))
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }
}
