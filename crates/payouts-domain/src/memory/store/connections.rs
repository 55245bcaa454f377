//! `ConnectionStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, conflict, not_found};
use crate::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use crate::error::StoreError;
use crate::ids::{AccountId, MerchantId, StateToken};
use crate::memory::lock;
use crate::ports::ConnectionStore;

#[async_trait]
impl ConnectionStore for InMemoryStore {
    async fn connection(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<MerchantConnection>, StoreError> {
        Ok(lock(&self.state).connections.get(merchant).cloned())
    }

    async fn connection_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<MerchantConnection>, StoreError> {
        Ok(lock(&self.state)
            .connections
            .values()
            .find(|c| c.account_id == *account)
            .cloned())
    }

    async fn save_connection(
        &self,
        next: &MerchantConnection,
        expected: Option<ConnectionStatus>,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let found = state.connections.get(&next.merchant_id).map(|c| c.status);
        if found != expected {
            let show = |s: Option<ConnectionStatus>| s.map_or("none", |s| s.as_str());
            return Err(conflict(
                "merchant connection",
                &next.merchant_id,
                show(expected),
                show(found),
            ));
        }
        let taken = state
            .connections
            .values()
            .any(|c| c.account_id == next.account_id && c.merchant_id != next.merchant_id);
        if taken {
            return Err(StoreError::Duplicate {
                entity: "merchant connection",
                key: next.account_id.to_string(),
            });
        }
        state
            .connections
            .insert(next.merchant_id.clone(), next.clone());
        Ok(())
    }

    async fn insert_oauth_state(&self, oauth: &OAuthState) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.oauth_states.contains_key(&oauth.token) {
            return Err(StoreError::Duplicate {
                entity: "oauth state",
                key: oauth.token.to_string(),
            });
        }
        state
            .oauth_states
            .insert(oauth.token.clone(), oauth.clone());
        Ok(())
    }

    async fn oauth_state(&self, token: &StateToken) -> Result<Option<OAuthState>, StoreError> {
        Ok(lock(&self.state).oauth_states.get(token).cloned())
    }

    async fn consume_oauth_state(
        &self,
        token: &StateToken,
        at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .oauth_states
            .get_mut(token)
            .ok_or_else(|| not_found("oauth state", token))?;
        if stored.used_at.is_some() {
            return Err(conflict("oauth state", token, "unused", "used"));
        }
        stored.used_at = Some(at);
        Ok(())
    }
}
