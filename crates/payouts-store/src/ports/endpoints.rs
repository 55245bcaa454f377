//! `WebhookEndpointStore`.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::endpoint::{SigningSecret, WebhookEndpoint};
use payouts_domain::ids::{MerchantId, WebhookEndpointId};
use payouts_domain::ports::{Page, PageRequest, WebhookEndpointStore};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{decode_all, page, probe_limit};
use crate::SeaOrmStore;
use crate::codec::{active, endpoint_row};
use crate::entity::webhook_endpoint;
use crate::error::{DbResultExt, conflict, not_found};

#[async_trait]
impl WebhookEndpointStore for SeaOrmStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let row: webhook_endpoint::ActiveModel = active(endpoint_row(endpoint)?);
        webhook_endpoint::Entity::insert(row)
            .exec_without_returning(self.db())
            .await
            .or_duplicate("webhook endpoint", || endpoint.id.to_string())?;
        Ok(())
    }

    async fn endpoint(&self, id: WebhookEndpointId) -> Result<Option<WebhookEndpoint>, StoreError> {
        webhook_endpoint::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(WebhookEndpoint::try_from)
            .transpose()
    }

    async fn endpoints_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        decode_all(
            webhook_endpoint::Entity::find()
                .filter(webhook_endpoint::Column::MerchantId.eq(merchant.as_str()))
                .order_by_asc(webhook_endpoint::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn endpoints_page(
        &self,
        merchant: &MerchantId,
        request: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        let mut query = webhook_endpoint::Entity::find()
            .filter(webhook_endpoint::Column::MerchantId.eq(merchant.as_str()));
        if let Some(after) = request.after {
            query = query.filter(webhook_endpoint::Column::Id.gt(after));
        }
        let models = query
            .order_by_asc(webhook_endpoint::Column::Id)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }

    async fn save_endpoint_secrets(
        &self,
        endpoint: &WebhookEndpoint,
        expected: &SigningSecret,
    ) -> Result<(), StoreError> {
        let row = endpoint_row(endpoint)?;
        let changed = webhook_endpoint::Entity::update_many()
            .col_expr(webhook_endpoint::Column::Secret, Expr::value(row.secret))
            .col_expr(
                webhook_endpoint::Column::PreviousSecret,
                Expr::value(row.previous_secret),
            )
            .col_expr(
                webhook_endpoint::Column::PreviousExpiresAtNs,
                Expr::value(row.previous_expires_at_ns),
            )
            .filter(webhook_endpoint::Column::Id.eq(endpoint.id.as_uuid()))
            .filter(webhook_endpoint::Column::Secret.eq(expected.expose()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.endpoint(endpoint.id).await? {
            None => Err(not_found("webhook endpoint", endpoint.id)),
            Some(_) => Err(conflict(
                "webhook endpoint",
                endpoint.id,
                "the secret read",
                "another secret",
            )),
        }
    }

    async fn delete_endpoint(&self, id: WebhookEndpointId) -> Result<(), StoreError> {
        let deleted = webhook_endpoint::Entity::delete_many()
            .filter(webhook_endpoint::Column::Id.eq(id.as_uuid()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if deleted == 1 {
            Ok(())
        } else {
            Err(not_found("webhook endpoint", id))
        }
    }
}
