//! `OutboxStore`.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{MerchantId, NotificationId};
use payouts_domain::notification::Notification;
use payouts_domain::ports::OutboxStore;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ActiveValue, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;

use super::decode_all;
use crate::codec::{json, ts, ts_opt};
use crate::entity::notification;
use crate::error::{DbResultExt, not_found};
use crate::{INSERT_CHUNK, SeaOrmStore};

/// Inserts notifications on `db` (a transaction or the pool), skipping
/// those whose dedupe key exists; returns how many were new.
pub(crate) async fn enqueue_on<C: ConnectionTrait>(
    db: &C,
    notifications: &[Notification],
) -> Result<u64, StoreError> {
    let mut written = 0_u64;
    for chunk in notifications.chunks(INSERT_CHUNK) {
        let models = chunk
            .iter()
            .map(|n| {
                Ok(notification::ActiveModel {
                    seq: ActiveValue::NotSet,
                    id: ActiveValue::Set(n.id.as_uuid()),
                    merchant_id: ActiveValue::Set(n.merchant_id.to_string()),
                    kind: ActiveValue::Set(n.kind.as_str().to_owned()),
                    recipient: ActiveValue::Set(json(&n.recipient)?),
                    dedupe_key: ActiveValue::Set(n.dedupe_key.clone()),
                    payload: ActiveValue::Set(json(&n.payload)?),
                    created_at_ns: ActiveValue::Set(ts(n.created_at)?),
                    delivered_at_ns: ActiveValue::Set(ts_opt(n.delivered_at)?),
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        written = written.saturating_add(
            notification::Entity::insert_many(models)
                .on_conflict(
                    OnConflict::column(notification::Column::DedupeKey)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(db)
                .await
                .or_duplicate("notification", || "id".to_owned())?,
        );
    }
    Ok(written)
}

#[async_trait]
impl OutboxStore for SeaOrmStore {
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError> {
        if notifications.is_empty() {
            return Ok(0);
        }
        let txn = self.begin_write().await?;
        let written = enqueue_on(&txn, notifications).await?;
        txn.commit().await.or_unavailable()?;
        Ok(written)
    }

    async fn undelivered(&self, limit: u32) -> Result<Vec<Notification>, StoreError> {
        decode_all(
            notification::Entity::find()
                .filter(notification::Column::DeliveredAtNs.is_null())
                .order_by_asc(notification::Column::Seq)
                .limit(u64::from(limit))
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn mark_delivered(
        &self,
        id: NotificationId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let changed = notification::Entity::update_many()
            .col_expr(notification::Column::DeliveredAtNs, Expr::value(ts(at)?))
            .filter(notification::Column::Id.eq(id.as_uuid()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            Ok(())
        } else {
            Err(not_found("notification", id))
        }
    }

    async fn notifications_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<Notification>, StoreError> {
        decode_all(
            notification::Entity::find()
                .filter(notification::Column::MerchantId.eq(merchant.as_str()))
                .order_by_asc(notification::Column::Seq)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }
}
