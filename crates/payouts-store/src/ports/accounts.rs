//! `AccountStore` (who owns the connected accounts created through the
//! platform API) and `RequestKeyStore` (the API's `Idempotency-Key`
//! records, kept in `crate::idempotency`).

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{AccountId, MerchantId};
use payouts_domain::ports::{AccountStore, RequestKeyBegin, RequestKeyStore};
use sea_orm::sea_query::OnConflict;
use sea_orm::{ActiveValue, EntityTrait};
use time::OffsetDateTime;

use crate::codec::ts;
use crate::entity::account_owner;
use crate::error::{DbResultExt, corrupt};
use crate::{Backend, SeaOrmStore};

#[async_trait]
impl AccountStore for SeaOrmStore {
    async fn record_account_owner(
        &self,
        account: &AccountId,
        merchant: &MerchantId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        account_owner::Entity::insert(account_owner::ActiveModel {
            account_id: ActiveValue::Set(account.to_string()),
            merchant_id: ActiveValue::Set(merchant.to_string()),
            created_at_ns: ActiveValue::Set(ts(at)?),
        })
        .on_conflict(
            OnConflict::column(account_owner::Column::AccountId)
                .do_nothing()
                .to_owned(),
        )
        .exec_without_returning(self.db())
        .await
        .or_unavailable()?;
        // Inserted, or already there: only the same owner is a no-op.
        match self.account_owner(account).await? {
            Some(owner) if &owner == merchant => Ok(()),
            Some(_) => Err(StoreError::Conflict {
                entity: "connected account",
                id: account.to_string(),
                detail: "owned by another merchant".to_owned(),
            }),
            None => Err(StoreError::Conflict {
                entity: "connected account",
                id: account.to_string(),
                detail: "removed concurrently".to_owned(),
            }),
        }
    }

    async fn account_owner(&self, account: &AccountId) -> Result<Option<MerchantId>, StoreError> {
        account_owner::Entity::find_by_id(account.to_string())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(|m| {
                MerchantId::parse(m.merchant_id).map_err(|e| corrupt("account owner", e.reason))
            })
            .transpose()
    }
}

#[async_trait]
impl RequestKeyStore for SeaOrmStore {
    async fn begin_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RequestKeyBegin, StoreError> {
        self.begin_idempotent(scope, key, request_hash, now).await
    }

    async fn complete_request(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        self.complete_idempotent(scope, key, response_status, response_body, now)
            .await
    }

    async fn release_request(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        self.release_idempotent(scope, key).await.map(|_| ())
    }

    async fn take_over_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        begun_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        self.take_over_idempotent(scope, key, request_hash, begun_at, now)
            .await
    }

    async fn purge_requests(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        self.purge_idempotent(before).await
    }

    async fn ping(&self) -> Result<&'static str, StoreError> {
        SeaOrmStore::ping(self).await?;
        Ok(match self.backend() {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        })
    }
}
