//! `SessionStore`: the console's login links and sessions. A link is
//! redeemed by one `UPDATE … WHERE used_at_ns IS NULL AND expires_at_ns > now`,
//! so of two concurrent redemptions exactly one changes a row.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ports::SessionStore;
use payouts_domain::session::{LoginLink, LoginRefused, SecretHash, Session, SessionPrincipal};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use crate::SeaOrmStore;
use crate::codec::{from_ts, from_ts_opt, ts, ts_bound};
use crate::entity::{console_session, login_link};
use crate::error::{DbResultExt, corrupt, not_found};

fn principal_json(p: &SessionPrincipal) -> Result<String, StoreError> {
    serde_json::to_string(p).map_err(|e| corrupt("session principal", e))
}

fn principal_of(json: &str) -> Result<SessionPrincipal, StoreError> {
    serde_json::from_str(json).map_err(|e| corrupt("session principal", e))
}

fn hash_of(raw: String) -> Result<SecretHash, StoreError> {
    SecretHash::parse(raw).map_err(|e| corrupt("secret hash", e))
}

impl TryFrom<login_link::Model> for LoginLink {
    type Error = StoreError;
    fn try_from(m: login_link::Model) -> Result<Self, StoreError> {
        Ok(LoginLink {
            hash: hash_of(m.secret_hash)?,
            principal: principal_of(&m.principal)?,
            issued_at: from_ts(m.issued_at_ns)?,
            expires_at: from_ts(m.expires_at_ns)?,
            used_at: from_ts_opt(m.used_at_ns)?,
        })
    }
}

impl TryFrom<console_session::Model> for Session {
    type Error = StoreError;
    fn try_from(m: console_session::Model) -> Result<Self, StoreError> {
        Ok(Session {
            hash: hash_of(m.secret_hash)?,
            principal: principal_of(&m.principal)?,
            csrf_token: m.csrf_token,
            created_at: from_ts(m.created_at_ns)?,
            last_seen_at: from_ts(m.last_seen_at_ns)?,
        })
    }
}

impl SeaOrmStore {
    async fn login_link(&self, hash: &SecretHash) -> Result<Option<LoginLink>, StoreError> {
        login_link::Entity::find_by_id(hash.as_str().to_owned())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(LoginLink::try_from)
            .transpose()
    }
}

#[async_trait]
impl SessionStore for SeaOrmStore {
    async fn insert_login_link(&self, link: &LoginLink) -> Result<(), StoreError> {
        login_link::Entity::insert(login_link::ActiveModel {
            secret_hash: ActiveValue::Set(link.hash.as_str().to_owned()),
            principal: ActiveValue::Set(principal_json(&link.principal)?),
            issued_at_ns: ActiveValue::Set(ts(link.issued_at)?),
            expires_at_ns: ActiveValue::Set(ts(link.expires_at)?),
            used_at_ns: ActiveValue::Set(link.used_at.map(ts).transpose()?),
        })
        .exec_without_returning(self.db())
        .await
        .or_duplicate("login link", || "a link with this secret".to_owned())?;
        Ok(())
    }

    async fn redeem_login_link(
        &self,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<Result<LoginLink, LoginRefused>, StoreError> {
        let changed = login_link::Entity::update_many()
            .col_expr(login_link::Column::UsedAtNs, Expr::value(ts(now)?))
            .filter(login_link::Column::SecretHash.eq(hash.as_str()))
            .filter(login_link::Column::UsedAtNs.is_null())
            .filter(login_link::Column::ExpiresAtNs.gt(ts_bound(now)))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        let Some(link) = self.login_link(hash).await? else {
            return Ok(Err(LoginRefused::Unknown));
        };
        if changed == 1 {
            // As it was before this redemption.
            return Ok(Ok(LoginLink {
                used_at: None,
                ..link
            }));
        }
        Ok(Err(match link.check(now) {
            Err(refused) => refused,
            // Unused and live, yet not changed: another redemption won.
            Ok(()) => LoginRefused::Used,
        }))
    }

    async fn insert_session(&self, session: &Session) -> Result<(), StoreError> {
        console_session::Entity::insert(console_session::ActiveModel {
            secret_hash: ActiveValue::Set(session.hash.as_str().to_owned()),
            principal: ActiveValue::Set(principal_json(&session.principal)?),
            csrf_token: ActiveValue::Set(session.csrf_token.clone()),
            created_at_ns: ActiveValue::Set(ts(session.created_at)?),
            last_seen_at_ns: ActiveValue::Set(ts(session.last_seen_at)?),
        })
        .exec_without_returning(self.db())
        .await
        .or_duplicate("console session", || {
            "a session with this secret".to_owned()
        })?;
        Ok(())
    }

    async fn session(&self, hash: &SecretHash) -> Result<Option<Session>, StoreError> {
        console_session::Entity::find_by_id(hash.as_str().to_owned())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Session::try_from)
            .transpose()
    }

    async fn touch_session(
        &self,
        hash: &SecretHash,
        now: OffsetDateTime,
    ) -> Result<(), StoreError> {
        let changed = console_session::Entity::update_many()
            .col_expr(console_session::Column::LastSeenAtNs, Expr::value(ts(now)?))
            .filter(console_session::Column::SecretHash.eq(hash.as_str()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            Ok(())
        } else {
            Err(not_found("console session", "(secret)"))
        }
    }

    async fn delete_session(&self, hash: &SecretHash) -> Result<(), StoreError> {
        console_session::Entity::delete_many()
            .filter(console_session::Column::SecretHash.eq(hash.as_str()))
            .exec(self.db())
            .await
            .or_unavailable()?;
        Ok(())
    }
}
