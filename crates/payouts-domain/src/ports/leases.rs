//! `LeaseStore`: named leases.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::WorkerId;

/// Named leases, so that several service instances can run one scheduler
/// (or any other singleton job) without running it twice at once.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`, in
    /// one atomic compare-and-set: it succeeds when no lease exists, when
    /// the lease has expired (`until <= now`), or when `holder` already
    /// holds it (a renewal, which moves `until`). Returns `false`, writing
    /// nothing, while another holder's lease is live.
    ///
    /// A holder that stops renewing loses the lease once it expires, so
    /// work done under it should take less than `ttl` between renewals.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], also when `now + ttl` cannot be stored.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &WorkerId,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError>;

    /// Releases the lease `name` if `holder` holds it (expired or not), so
    /// another instance can take it at once. Returns `true` when released.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn release_lease(&self, name: &str, holder: &WorkerId) -> Result<bool, StoreError>;
}
