//! `AccountStore`: who owns the connected accounts.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{AccountId, MerchantId};

/// Who owns the connected accounts created through the platform API. The
/// merchant's own (OAuth) account and its partners' Express accounts are
/// known from the connection and the memberships.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Records that `merchant` owns `account`; recording the same owner
    /// again is a no-op.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another merchant owns it;
    /// [`StoreError::Unavailable`].
    async fn record_account_owner(
        &self,
        account: &AccountId,
        merchant: &MerchantId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The merchant that created `account` here, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn account_owner(&self, account: &AccountId) -> Result<Option<MerchantId>, StoreError>;
}
