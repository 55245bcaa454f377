//! `ConnectionStore`: merchant connections and OAuth state tokens.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use payouts_domain::ids::{AccountId, MerchantId, StateToken};
use payouts_domain::ports::ConnectionStore;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use crate::SeaOrmStore;
use crate::codec::{active, connection_row, oauth_row, ts};
use crate::entity::{merchant_connection as conn, oauth_state};
use crate::error::{DbResultExt, conflict, not_found};

#[async_trait]
impl ConnectionStore for SeaOrmStore {
    async fn connection(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<MerchantConnection>, StoreError> {
        conn::Entity::find_by_id(merchant.to_string())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(MerchantConnection::try_from)
            .transpose()
    }

    async fn connection_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<MerchantConnection>, StoreError> {
        conn::Entity::find()
            .filter(conn::Column::AccountId.eq(account.as_str()))
            .one(self.db())
            .await
            .or_unavailable()?
            .map(MerchantConnection::try_from)
            .transpose()
    }

    async fn save_connection(
        &self,
        next: &MerchantConnection,
        expected: Option<ConnectionStatus>,
    ) -> Result<(), StoreError> {
        let row = connection_row(next)?;
        let account = next.account_id.to_string();
        let written = match expected {
            // No row expected: an insert that does nothing if one appeared.
            None => conn::Entity::insert(active::<conn::ActiveModel, _>(row))
                .on_conflict(
                    OnConflict::column(conn::Column::MerchantId)
                        .do_nothing()
                        .to_owned(),
                )
                .exec_without_returning(self.db())
                .await
                .or_duplicate("merchant connection", || account.clone())?,
            Some(status) => {
                conn::Entity::update_many()
                    .set(active::<conn::ActiveModel, _>(row))
                    .filter(conn::Column::MerchantId.eq(next.merchant_id.as_str()))
                    .filter(conn::Column::Status.eq(status.as_str()))
                    .exec(self.db())
                    .await
                    .or_duplicate("merchant connection", || account.clone())?
                    .rows_affected
            }
        };
        if written == 1 {
            return Ok(());
        }
        let found = self.connection(&next.merchant_id).await?.map(|c| c.status);
        let show = |s: Option<ConnectionStatus>| s.map_or("none", |s| s.as_str());
        Err(conflict(
            "merchant connection",
            &next.merchant_id,
            show(expected),
            show(found),
        ))
    }

    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError> {
        oauth_state::Entity::insert(active::<oauth_state::ActiveModel, _>(oauth_row(state)?))
            .exec_without_returning(self.db())
            .await
            .or_duplicate("oauth state", || state.token.to_string())?;
        Ok(())
    }

    async fn oauth_state(&self, token: &StateToken) -> Result<Option<OAuthState>, StoreError> {
        oauth_state::Entity::find_by_id(token.to_string())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(OAuthState::try_from)
            .transpose()
    }

    async fn consume_oauth_state(
        &self,
        token: &StateToken,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let changed = oauth_state::Entity::update_many()
            .col_expr(oauth_state::Column::UsedAtNs, Expr::value(ts(at)?))
            .filter(oauth_state::Column::Token.eq(token.as_str()))
            .filter(oauth_state::Column::UsedAtNs.is_null())
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.oauth_state(token).await? {
            Some(_) => Err(conflict("oauth state", token, "unused", "used")),
            None => Err(not_found("oauth state", token)),
        }
    }
}
