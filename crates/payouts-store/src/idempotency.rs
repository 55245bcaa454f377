//! `Idempotency-Key` records for the HTTP layer (`api_idempotency`).
//!
//! A key is unique per merchant scope. [`SeaOrmStore::begin_idempotent`]
//! claims it atomically (an `INSERT` that does nothing when the key
//! exists), so two concurrent requests with one key cannot both run; the
//! loser sees the winner's record and answers from it (or with 409 while
//! it is still in progress, or 422 when the request hash differs: that
//! policy belongs to the HTTP layer).

use payouts_domain::StoreError;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use crate::SeaOrmStore;
use crate::codec::{from_ts, from_ts_opt, ts};
use crate::entity::api_idempotency as rec;
use crate::error::{DbResultExt, conflict, corrupt, not_found};

/// The domain's `RequestKeyStore` types, by this crate's older names.
pub use payouts_domain::ports::{
    RequestKeyBegin as IdempotencyBegin, RequestKeyRecord as IdempotencyRecord,
    RequestKeyStatus as IdempotencyStatus,
};

impl TryFrom<rec::Model> for IdempotencyRecord {
    type Error = StoreError;
    fn try_from(m: rec::Model) -> Result<Self, StoreError> {
        Ok(IdempotencyRecord {
            scope: m.merchant_scope,
            key: m.idempotency_key,
            request_hash: m.request_hash,
            status: match m.status.as_str() {
                "in_progress" => IdempotencyStatus::InProgress,
                "completed" => IdempotencyStatus::Completed,
                other => return Err(corrupt("idempotency status", other)),
            },
            response_status: m
                .response_status
                .map(u16::try_from)
                .transpose()
                .map_err(|e| corrupt("response status", e))?,
            response_body: m.response_body,
            created_at: from_ts(m.created_at_ns)?,
            completed_at: from_ts_opt(m.completed_at_ns)?,
        })
    }
}

impl SeaOrmStore {
    /// Claims `key` in `scope` for a request whose hash is `request_hash`,
    /// or returns the record of the request that claimed it first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn begin_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<IdempotencyBegin, StoreError> {
        let written = rec::Entity::insert(rec::ActiveModel {
            merchant_scope: ActiveValue::Set(scope.to_owned()),
            idempotency_key: ActiveValue::Set(key.to_owned()),
            request_hash: ActiveValue::Set(request_hash.to_owned()),
            status: ActiveValue::Set(IdempotencyStatus::InProgress.as_str().to_owned()),
            response_status: ActiveValue::Set(None),
            response_body: ActiveValue::Set(None),
            created_at_ns: ActiveValue::Set(ts(now)?),
            completed_at_ns: ActiveValue::Set(None),
        })
        .on_conflict(
            OnConflict::columns([rec::Column::MerchantScope, rec::Column::IdempotencyKey])
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self.db())
        .await
        .or_unavailable()?;
        if written == 1 {
            return Ok(IdempotencyBegin::Started);
        }
        match self.idempotency_record(scope, key).await? {
            Some(record) => Ok(IdempotencyBegin::Existing(record)),
            // Released between our insert and our read: the caller may retry.
            None => Err(StoreError::Conflict {
                entity: "idempotency key",
                id: key.to_owned(),
                detail: "released concurrently".to_owned(),
            }),
        }
    }

    /// Stores the response of the request that holds `key`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the key is already completed;
    /// [`StoreError::NotFound`] when it was never begun (or was released).
    pub async fn complete_idempotent(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let changed = rec::Entity::update_many()
            .col_expr(
                rec::Column::Status,
                Expr::value(IdempotencyStatus::Completed.as_str()),
            )
            .col_expr(
                rec::Column::ResponseStatus,
                Expr::value(i32::from(response_status)),
            )
            .col_expr(rec::Column::ResponseBody, Expr::value(response_body))
            .col_expr(rec::Column::CompletedAtNs, Expr::value(ts(now)?))
            .filter(rec::Column::MerchantScope.eq(scope))
            .filter(rec::Column::IdempotencyKey.eq(key))
            .filter(rec::Column::Status.eq(IdempotencyStatus::InProgress.as_str()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.idempotency_record(scope, key).await? {
            Some(_) => Err(conflict("idempotency key", key, "in_progress", "completed")),
            None => Err(not_found("idempotency key", key)),
        }
    }

    /// Begins anew an in-progress key begun at `begun_at` whose request
    /// never finished; `false` when it changed meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn take_over_idempotent(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        begun_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let changed = rec::Entity::update_many()
            .col_expr(rec::Column::RequestHash, Expr::value(request_hash))
            .col_expr(rec::Column::CreatedAtNs, Expr::value(ts(now)?))
            .filter(rec::Column::MerchantScope.eq(scope))
            .filter(rec::Column::IdempotencyKey.eq(key))
            .filter(rec::Column::Status.eq(IdempotencyStatus::InProgress.as_str()))
            .filter(rec::Column::CreatedAtNs.eq(ts(begun_at)?))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        Ok(changed == 1)
    }

    /// Forgets every record begun before `before`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn purge_idempotent(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        Ok(rec::Entity::delete_many()
            .filter(rec::Column::CreatedAtNs.lt(ts(before)?))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected)
    }

    /// Forgets an in-progress key whose request failed before doing
    /// anything, so the client may retry with it. Completed keys stay.
    /// Returns whether a record was removed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn release_idempotent(&self, scope: &str, key: &str) -> Result<bool, StoreError> {
        let removed = rec::Entity::delete_many()
            .filter(rec::Column::MerchantScope.eq(scope))
            .filter(rec::Column::IdempotencyKey.eq(key))
            .filter(rec::Column::Status.eq(IdempotencyStatus::InProgress.as_str()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        Ok(removed == 1)
    }

    /// The record of `key` in `scope`, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn idempotency_record(
        &self,
        scope: &str,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        rec::Entity::find_by_id((scope.to_owned(), key.to_owned()))
            .one(self.db())
            .await
            .or_unavailable()?
            .map(IdempotencyRecord::try_from)
            .transpose()
    }
}
