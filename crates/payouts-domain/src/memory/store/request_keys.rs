//! `RequestKeyStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, conflict, not_found};
use crate::error::StoreError;
use crate::memory::lock;
use crate::ports::{RequestKeyBegin, RequestKeyRecord, RequestKeyStatus, RequestKeyStore};

#[async_trait]
impl RequestKeyStore for InMemoryStore {
    async fn begin_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RequestKeyBegin, StoreError> {
        let mut state = lock(&self.state);
        let id = (scope.to_owned(), key.to_owned());
        if let Some(existing) = state.request_keys.get(&id) {
            return Ok(RequestKeyBegin::Existing(existing.clone()));
        }
        state.request_keys.insert(
            id,
            RequestKeyRecord {
                scope: scope.to_owned(),
                key: key.to_owned(),
                request_hash: request_hash.to_owned(),
                status: RequestKeyStatus::InProgress,
                response_status: None,
                response_body: None,
                created_at: now,
                completed_at: None,
            },
        );
        Ok(RequestKeyBegin::Started)
    }

    async fn complete_request(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        match state
            .request_keys
            .get_mut(&(scope.to_owned(), key.to_owned()))
        {
            Some(r) if r.status == RequestKeyStatus::InProgress => {
                r.status = RequestKeyStatus::Completed;
                r.response_status = Some(response_status);
                r.response_body = Some(response_body.to_owned());
                r.completed_at = Some(now);
                Ok(())
            }
            Some(r) => Err(conflict(
                "idempotency key",
                key,
                "in_progress",
                r.status.as_str(),
            )),
            None => Err(not_found("idempotency key", key)),
        }
    }

    async fn release_request(&self, scope: &str, key: &str) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let id = (scope.to_owned(), key.to_owned());
        if state
            .request_keys
            .get(&id)
            .is_some_and(|r| r.status == RequestKeyStatus::InProgress)
        {
            state.request_keys.remove(&id);
        }
        Ok(())
    }

    async fn take_over_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        begun_at: OffsetDateTime,
        now: OffsetDateTime,
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.state);
        match state
            .request_keys
            .get_mut(&(scope.to_owned(), key.to_owned()))
        {
            Some(r) if r.status == RequestKeyStatus::InProgress && r.created_at == begun_at => {
                r.request_hash = request_hash.to_owned();
                r.created_at = now;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn purge_requests(&self, before: OffsetDateTime) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let was = state.request_keys.len();
        state.request_keys.retain(|_, r| r.created_at >= before);
        Ok(u64::try_from(was.saturating_sub(state.request_keys.len())).unwrap_or(u64::MAX))
    }

    async fn ping(&self) -> Result<&'static str, StoreError> {
        drop(lock(&self.state));
        Ok("memory")
    }
}
