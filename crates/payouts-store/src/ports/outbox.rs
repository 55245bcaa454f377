//! `OutboxStore`.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{MerchantId, NotificationId};
use payouts_domain::notification::{AttemptStatus, DeliveryAttempt, DeliveryState, Notification};
use payouts_domain::ports::{OutboxStore, Page, PageRequest};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{
    ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use time::OffsetDateTime;

use super::{decode_all, page, probe_limit};
use crate::codec::{delivery_columns, delivery_row, notification_row, ts_bound};
use crate::entity::{notification, notification_delivery};
use crate::error::{DbResultExt, conflict, not_found};
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
            .map(notification_row)
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

fn limit_rows(limit: u32) -> u64 {
    u64::from(limit)
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

    async fn due_notifications(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        decode_all(
            notification::Entity::find()
                .filter(notification::Column::DeliveryState.eq("pending"))
                .filter(notification::Column::NextAttemptAtNs.lte(ts_bound(now)))
                .order_by_asc(notification::Column::NextAttemptAtNs)
                .order_by_asc(notification::Column::Seq)
                .limit(limit_rows(limit))
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn notification(&self, id: NotificationId) -> Result<Option<Notification>, StoreError> {
        notification::Entity::find()
            .filter(notification::Column::Id.eq(id.as_uuid()))
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Notification::try_from)
            .transpose()
    }

    async fn record_delivery(
        &self,
        id: NotificationId,
        expected: &DeliveryState,
        next: &DeliveryState,
        attempts: &[DeliveryAttempt],
    ) -> Result<(), StoreError> {
        let was = delivery_columns(expected)?;
        let now = delivery_columns(next)?;
        let due = match was.next_attempt_at_ns {
            Some(at) => notification::Column::NextAttemptAtNs.eq(at),
            None => notification::Column::NextAttemptAtNs.is_null(),
        };
        let txn = self.begin_write().await?;
        let changed = notification::Entity::update_many()
            .col_expr(notification::Column::DeliveryState, Expr::value(now.state))
            .col_expr(notification::Column::Attempts, Expr::value(now.attempts))
            .col_expr(
                notification::Column::NextAttemptAtNs,
                Expr::value(now.next_attempt_at_ns),
            )
            .col_expr(notification::Column::SinceNs, Expr::value(now.since_ns))
            .col_expr(notification::Column::LastError, Expr::value(now.last_error))
            .col_expr(
                notification::Column::LastStatus,
                Expr::value(now.last_status),
            )
            .col_expr(
                notification::Column::DeliveredAtNs,
                Expr::value(now.delivered_at_ns),
            )
            .col_expr(notification::Column::DeadAtNs, Expr::value(now.dead_at_ns))
            .filter(
                Condition::all()
                    .add(notification::Column::Id.eq(id.as_uuid()))
                    .add(notification::Column::DeliveryState.eq(was.state))
                    .add(notification::Column::Attempts.eq(was.attempts))
                    .add(due),
            )
            .exec(&txn)
            .await
            .or_unavailable()?
            .rows_affected;
        if changed != 1 {
            let found = notification::Entity::find()
                .filter(notification::Column::Id.eq(id.as_uuid()))
                .one(&txn)
                .await
                .or_unavailable()?;
            return Err(match found {
                None => not_found("notification", id),
                Some(row) => conflict(
                    "notification",
                    id,
                    &format!("{} after {} attempts", was.state, was.attempts),
                    &format!("{} after {} attempts", row.delivery_state, row.attempts),
                ),
            });
        }
        for chunk in attempts.chunks(INSERT_CHUNK) {
            let rows = chunk
                .iter()
                .map(delivery_row)
                .collect::<Result<Vec<_>, StoreError>>()?;
            notification_delivery::Entity::insert_many(rows)
                .exec_without_returning(&txn)
                .await
                .or_duplicate("notification delivery", || "id".to_owned())?;
        }
        txn.commit().await.or_unavailable()?;
        Ok(())
    }

    async fn accepted_urls(
        &self,
        notification: NotificationId,
        since: OffsetDateTime,
    ) -> Result<Vec<String>, StoreError> {
        let rows: Vec<String> = notification_delivery::Entity::find()
            .select_only()
            .column(notification_delivery::Column::Url)
            .distinct()
            .filter(notification_delivery::Column::NotificationId.eq(notification.as_uuid()))
            .filter(notification_delivery::Column::Status.eq(AttemptStatus::Succeeded.as_str()))
            .filter(notification_delivery::Column::AttemptedAtNs.gte(ts_bound(since)))
            .order_by_asc(notification_delivery::Column::Url)
            .into_tuple()
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(rows)
    }

    async fn deliveries_page(
        &self,
        merchant: &MerchantId,
        status: Option<AttemptStatus>,
        request: PageRequest,
    ) -> Result<Page<DeliveryAttempt>, StoreError> {
        let mut query = notification_delivery::Entity::find()
            .filter(notification_delivery::Column::MerchantId.eq(merchant.as_str()));
        if let Some(status) = status {
            query = query.filter(notification_delivery::Column::Status.eq(status.as_str()));
        }
        if let Some(after) = request.after {
            let Some(cursor) = notification_delivery::Entity::find()
                .filter(notification_delivery::Column::Id.eq(after))
                .one(self.db())
                .await
                .or_unavailable()?
            else {
                // An unknown cursor: nothing follows it.
                return Ok(Page {
                    data: Vec::new(),
                    has_more: false,
                });
            };
            query = query.filter(notification_delivery::Column::Seq.lt(cursor.seq));
        }
        let models = query
            .order_by_desc(notification_delivery::Column::Seq)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }

    async fn failing_notifications(
        &self,
        merchant: &MerchantId,
        limit: u32,
    ) -> Result<Vec<Notification>, StoreError> {
        decode_all(
            notification::Entity::find()
                .filter(notification::Column::MerchantId.eq(merchant.as_str()))
                .filter(
                    Condition::any()
                        .add(notification::Column::DeliveryState.eq("dead"))
                        .add(
                            Condition::all()
                                .add(notification::Column::DeliveryState.eq("pending"))
                                .add(notification::Column::Attempts.gt(0)),
                        ),
                )
                .order_by_desc(notification::Column::Seq)
                .limit(limit_rows(limit))
                .all(self.db())
                .await
                .or_unavailable()?,
        )
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
