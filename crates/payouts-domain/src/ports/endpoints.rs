//! `WebhookEndpointStore`: merchants' webhook endpoints.

use async_trait::async_trait;

use crate::endpoint::{SigningSecret, WebhookEndpoint};
use crate::error::StoreError;
use crate::ids::{MerchantId, WebhookEndpointId};
use crate::ports::{Page, PageRequest};

/// Merchants' webhook endpoints.
#[async_trait]
pub trait WebhookEndpointStore: Send + Sync {
    /// Stores a new endpoint.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the id exists.
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError>;

    /// One endpoint.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn endpoint(&self, id: WebhookEndpointId) -> Result<Option<WebhookEndpoint>, StoreError>;

    /// Every endpoint of a merchant, by id (a few: at most 16).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn endpoints_of(&self, merchant: &MerchantId)
    -> Result<Vec<WebhookEndpoint>, StoreError>;

    /// A keyset page of a merchant's endpoints, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn endpoints_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError>;

    /// Saves an endpoint's new secrets, compare-and-set on the secret it
    /// had (`expected`): two rotations at once cannot both win.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Conflict`] when its secret
    /// is no longer `expected`.
    async fn save_endpoint_secrets(
        &self,
        endpoint: &WebhookEndpoint,
        expected: &SigningSecret,
    ) -> Result<(), StoreError>;

    /// Deletes an endpoint (a hard delete: delivery records keep its id
    /// and URL).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn delete_endpoint(&self, id: WebhookEndpointId) -> Result<(), StoreError>;
}
