//! `AccountStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::InMemoryStore;
use crate::error::StoreError;
use crate::ids::{AccountId, MerchantId};
use crate::memory::lock;
use crate::ports::AccountStore;

#[async_trait]
impl AccountStore for InMemoryStore {
    async fn record_account_owner(
        &self,
        account: &AccountId,
        merchant: &MerchantId,
        _at: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        match state.account_owners.get(account) {
            Some(owner) if owner != merchant => Err(StoreError::Conflict {
                entity: "connected account",
                id: account.to_string(),
                detail: "owned by another merchant".to_owned(),
            }),
            Some(_) => Ok(()),
            None => {
                state
                    .account_owners
                    .insert(account.clone(), merchant.clone());
                Ok(())
            }
        }
    }

    async fn account_owner(&self, account: &AccountId) -> Result<Option<MerchantId>, StoreError> {
        Ok(lock(&self.state).account_owners.get(account).cloned())
    }
}
