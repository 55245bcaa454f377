//! `ConnectionStore`: merchant connections and OAuth state tokens.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use crate::error::StoreError;
use crate::ids::{AccountId, MerchantId, StateToken};

/// Merchant connections and OAuth state tokens.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// The merchant's connection, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn connection(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<MerchantConnection>, StoreError>;

    /// The connection whose account is `account`, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn connection_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<MerchantConnection>, StoreError>;

    /// Writes `next`, if the stored status is `expected` (`None`: no row yet).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stored status differs;
    /// [`StoreError::Duplicate`] when another merchant holds the account.
    async fn save_connection(
        &self,
        next: &MerchantConnection,
        expected: Option<ConnectionStatus>,
    ) -> Result<(), StoreError>;

    /// Stores a freshly issued state token.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the token exists.
    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Looks a state token up.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn oauth_state(&self, token: &StateToken) -> Result<Option<OAuthState>, StoreError>;

    /// Marks the token used at `at`, only if it is unused.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it was already used (a concurrent
    /// callback won); [`StoreError::NotFound`].
    async fn consume_oauth_state(
        &self,
        token: &StateToken,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}
