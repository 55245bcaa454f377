//! `SessionStore`: the console's login links and sessions.

use time::OffsetDateTime;

use crate::error::StoreError;
use crate::session::{LoginLink, LoginRefused, SecretHash, Session};

/// Login links and console sessions.
#[async_trait::async_trait]
pub trait SessionStore: Send + Sync {
    /// Stores a new link.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] for a hash already stored;
    /// [`StoreError::Unavailable`].
    async fn insert_login_link(&self, link: &LoginLink) -> Result<(), StoreError>;

    /// Marks the link `hash` used at `now`, if it is unused and unexpired,
    /// in one compare-and-set, and returns it as it was; of two concurrent
    /// redemptions exactly one succeeds.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]. A link that cannot be used is
    /// `Ok(Err(…))` with the reason.
    async fn redeem_login_link(
        &self,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<Result<LoginLink, LoginRefused>, StoreError>;

    /// Stores a new session.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`]; [`StoreError::Unavailable`].
    async fn insert_session(&self, session: &Session) -> Result<(), StoreError>;

    /// The session `hash`, if it exists.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn session(&self, hash: &SecretHash) -> Result<Option<Session>, StoreError>;

    /// Records a request on the session at `now`.
    ///
    /// # Errors
    /// [`StoreError::NotFound`]; [`StoreError::Unavailable`].
    async fn touch_session(&self, hash: &SecretHash, now: OffsetDateTime)
    -> Result<(), StoreError>;

    /// Ends the session; ending an ended one is a no-op.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn delete_session(&self, hash: &SecretHash) -> Result<(), StoreError>;
}
