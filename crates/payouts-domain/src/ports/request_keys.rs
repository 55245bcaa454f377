//! `RequestKeyStore`: the API's idempotency records.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;

/// Where an API request's idempotency record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKeyStatus {
    /// The first request with the key is running.
    InProgress,
    /// Its response is stored.
    Completed,
}

impl RequestKeyStatus {
    /// The stored name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            RequestKeyStatus::InProgress => "in_progress",
            RequestKeyStatus::Completed => "completed",
        }
    }
}

/// An API request's `Idempotency-Key` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKeyRecord {
    /// The caller (`merchant:subject`).
    pub scope: String,
    /// The key.
    pub key: String,
    /// A hash of the request the key was first used with.
    pub request_hash: String,
    /// In progress or completed.
    pub status: RequestKeyStatus,
    /// The stored response's status.
    pub response_status: Option<u16>,
    /// The stored response's body.
    pub response_body: Option<String>,
    /// First used.
    pub created_at: OffsetDateTime,
    /// Completed.
    pub completed_at: Option<OffsetDateTime>,
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKeyBegin {
    /// The key was free: this request runs.
    Started,
    /// The key was used before.
    Existing(RequestKeyRecord),
}

/// The API's `Idempotency-Key` records, Stripe's way: a replay gets the
/// stored response.
#[async_trait]
pub trait RequestKeyStore: Send + Sync {
    /// Claims `key` for `scope`, or returns the record that holds it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it was released concurrently (retry);
    /// [`StoreError::Unavailable`].
    async fn begin_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RequestKeyBegin, StoreError>;

    /// Stores the response of the request holding the key.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the key is not in progress;
    /// [`StoreError::Unavailable`].
    async fn complete_request(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Frees a key whose request failed, so the client may try again.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn release_request(&self, scope: &str, key: &str) -> Result<(), StoreError>;

    /// Takes over an in-progress key whose request never finished (its
    /// worker crashed): the record, if it is still in progress and was
    /// begun at `begun_at`, is begun anew for `request_hash` at `now`.
    /// Compare-and-set: `false` when it completed, was released or was
    /// taken over meanwhile.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn take_over_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        begun_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Forgets every record begun before `before` (completed or not);
    /// returns how many.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn purge_requests(&self, before: OffsetDateTime) -> Result<u64, StoreError>;

    /// Whether the store answers, and which backend it is (`sqlite`,
    /// `postgres`, `memory`), for readiness checks.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn ping(&self) -> Result<&'static str, StoreError>;
}
