//! `SessionStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::InMemoryStore;
use crate::error::StoreError;
use crate::memory::lock;
use crate::ports::SessionStore;
use crate::session::{LoginLink, LoginRefused, SecretHash, Session};

#[async_trait]
impl SessionStore for InMemoryStore {
    async fn insert_login_link(&self, link: &LoginLink) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.login_links.contains_key(&link.hash) {
            return Err(StoreError::Duplicate {
                entity: "login link",
                key: "a link with this secret".to_owned(),
            });
        }
        state.login_links.insert(link.hash.clone(), link.clone());
        Ok(())
    }

    async fn redeem_login_link(
        &self,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<Result<LoginLink, LoginRefused>, StoreError> {
        let mut state = lock(&self.state);
        let Some(link) = state.login_links.get_mut(hash) else {
            return Ok(Err(LoginRefused::Unknown));
        };
        if let Err(refused) = link.check(now) {
            return Ok(Err(refused));
        }
        let before = link.clone();
        link.used_at = Some(now);
        Ok(Ok(before))
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.sessions.contains_key(&session.hash) {
            return Err(StoreError::Duplicate {
                entity: "console session",
                key: "a session with this secret".to_owned(),
            });
        }
        state.sessions.insert(session.hash.clone(), session.clone());
        Ok(())
    }

    async fn session(&self, hash: &SecretHash) -> Result<Option<Session>, StoreError> {
        Ok(lock(&self.state).sessions.get(hash).cloned())
    }

    async fn touch_session(
        &self,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        match lock(&self.state).sessions.get_mut(hash) {
            Some(s) => {
                s.last_seen_at = now;
                Ok(())
            }
            None => Err(StoreError::NotFound {
                entity: "console session",
                id: "(secret)".to_owned(),
            }),
        }
    }

    async fn delete_session(&self, hash: &SecretHash) -> Result<(), StoreError> {
        lock(&self.state).sessions.remove(hash);
        Ok(())
    }
}
