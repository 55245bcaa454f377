//! `WebhookEndpointStore` over the in-memory state.

use async_trait::async_trait;

use super::{InMemoryStore, conflict, not_found, page_of};
use crate::endpoint::{SigningSecret, WebhookEndpoint};
use crate::error::StoreError;
use crate::ids::{MerchantId, WebhookEndpointId};
use crate::memory::lock;
use crate::ports::{Page, PageRequest, WebhookEndpointStore};

#[async_trait]
impl WebhookEndpointStore for InMemoryStore {
    async fn insert_endpoint(&self, endpoint: &WebhookEndpoint) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.endpoints.contains_key(&endpoint.id) {
            return Err(StoreError::Duplicate {
                entity: "webhook endpoint",
                key: endpoint.id.to_string(),
            });
        }
        state.endpoints.insert(endpoint.id, endpoint.clone());
        Ok(())
    }

    async fn endpoint(&self, id: WebhookEndpointId) -> Result<Option<WebhookEndpoint>, StoreError> {
        Ok(lock(&self.state).endpoints.get(&id).cloned())
    }

    async fn endpoints_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<WebhookEndpoint>, StoreError> {
        Ok(lock(&self.state)
            .endpoints
            .values()
            .filter(|e| e.merchant_id == *merchant)
            .cloned()
            .collect())
    }

    async fn endpoints_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, StoreError> {
        Ok(page_of(
            &lock(&self.state).endpoints,
            page,
            WebhookEndpointId::from_uuid,
            |e: &WebhookEndpoint| e.merchant_id == *merchant,
        ))
    }

    async fn save_endpoint_secrets(
        &self,
        endpoint: &WebhookEndpoint,
        expected: &SigningSecret,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .endpoints
            .get_mut(&endpoint.id)
            .ok_or_else(|| not_found("webhook endpoint", endpoint.id))?;
        if stored.secret != *expected {
            return Err(conflict(
                "webhook endpoint",
                endpoint.id,
                "the secret read",
                "another secret",
            ));
        }
        stored.secret = endpoint.secret.clone();
        stored.previous_secret = endpoint.previous_secret.clone();
        Ok(())
    }

    async fn delete_endpoint(&self, id: WebhookEndpointId) -> Result<(), StoreError> {
        lock(&self.state)
            .endpoints
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| not_found("webhook endpoint", id))
    }
}
