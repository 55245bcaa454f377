//! `DisputeStore`: disputes.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::events::DisputeRecord;
use crate::ids::AccountId;

/// A dispute as last reported, with the account it happened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDispute {
    /// The connected account the event came from (`None`: the platform's own).
    pub account_id: Option<AccountId>,
    /// The dispute, as of `updated_at`.
    pub dispute: DisputeRecord,
    /// The `created` instant of the event that reported this version.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Disputes reported by `charge.dispute.*` events.
#[async_trait]
pub trait DisputeStore: Send + Sync {
    /// Inserts the dispute, or replaces the stored one with the same id
    /// unless the stored version is newer (`updated_at > at`): events may
    /// arrive out of order, and a late one must not undo a newer status.
    /// Returns `true` when written, `false` when a newer version was kept.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn upsert_dispute(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeRecord,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` disputes, most recently updated first (ties by id).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn disputes(&self, limit: u32) -> Result<Vec<StoredDispute>, StoreError>;
}
