//! Console sign-in (issue 8): single-use login links, the way Stripe's
//! Express dashboard links work, and the sessions they open.
//!
//! A link lives [`LOGIN_LINK_TTL`] and opens at most one session. A
//! session ends after [`SESSION_IDLE`] without a request, or when its
//! holder signs out. Only SHA-256 hashes of the secrets are stored, so a
//! copy of the store opens nothing.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::ids::{MerchantId, PartnerId};

/// How long a login link can be used.
pub const LOGIN_LINK_TTL: Duration = Duration::minutes(5);

/// How long a session lives without a request.
pub const SESSION_IDLE: Duration = Duration::hours(12);

/// Who a link or session signs in: the same facts as an API token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionPrincipal {
    /// `sub`: the person or client.
    pub subject: String,
    /// Role names, as the API spells them (`tenant_admin`, `partner`, …).
    pub roles: Vec<String>,
    /// Their merchant.
    pub merchant_id: MerchantId,
    /// For a partner, which one.
    pub partner_id: Option<PartnerId>,
}

/// A secret handed to a person (in a URL or a cookie); never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SessionSecret(String);

impl std::fmt::Debug for SessionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSecret(…)")
    }
}

impl SessionSecret {
    /// Wraps a secret received from a person.
    pub fn new(secret: String) -> Self {
        SessionSecret(secret)
    }

    /// The secret itself, to hand out once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the store keeps: the SHA-256 of the secret, in hex.
    pub fn hash(&self) -> SecretHash {
        SecretHash(hex::encode(Sha256::digest(self.0.as_bytes())))
    }
}

/// The stored form of a [`SessionSecret`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SecretHash(String);

impl SecretHash {
    /// A hash read back from a store (64 lowercase hex characters).
    ///
    /// # Errors
    /// When it is not such a hash.
    pub fn parse(hex_digest: String) -> Result<Self, String> {
        if hex_digest.len() == 64
            && hex_digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            Ok(SecretHash(hex_digest))
        } else {
            Err("not a SHA-256 hex digest".to_owned())
        }
    }

    /// The hex digest.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A single-use login link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginLink {
    /// The hash of the link's secret.
    pub hash: SecretHash,
    /// Who it signs in.
    pub principal: SessionPrincipal,
    /// Issued.
    pub issued_at: OffsetDateTime,
    /// No longer usable from this instant on.
    pub expires_at: OffsetDateTime,
    /// When it was used, if it was.
    pub used_at: Option<OffsetDateTime>,
}

/// Why a login link opens nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LoginRefused {
    /// No link has this secret.
    #[error("this sign-in link is not valid")]
    Unknown,
    /// It was used already.
    #[error("this sign-in link was already used")]
    Used,
    /// It is older than five minutes.
    #[error("this sign-in link has expired")]
    Expired,
}

impl LoginLink {
    /// Whether the link may be used at `now`.
    ///
    /// # Errors
    /// [`LoginRefused::Used`] or [`LoginRefused::Expired`].
    pub fn check(&self, now: OffsetDateTime) -> Result<(), LoginRefused> {
        if self.used_at.is_some() {
            Err(LoginRefused::Used)
        } else if now >= self.expires_at {
            Err(LoginRefused::Expired)
        } else {
            Ok(())
        }
    }
}

/// A signed-in console session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The hash of the session cookie's secret.
    pub hash: SecretHash,
    /// Who is signed in.
    pub principal: SessionPrincipal,
    /// The CSRF token every form of this session carries.
    pub csrf_token: String,
    /// Opened.
    pub created_at: OffsetDateTime,
    /// The last request.
    pub last_seen_at: OffsetDateTime,
}

impl Session {
    /// Whether the session is still open at `now` (less than
    /// [`SESSION_IDLE`] since its last request).
    pub fn is_live(&self, now: OffsetDateTime) -> bool {
        now < self.last_seen_at.saturating_add(SESSION_IDLE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn principal() -> SessionPrincipal {
        SessionPrincipal {
            subject: "ops@acme.test".to_owned(),
            roles: vec!["tenant_admin".to_owned()],
            merchant_id: MerchantId::parse("m_acme".to_owned()).unwrap(),
            partner_id: None,
        }
    }

    #[test]
    fn a_link_is_good_for_five_minutes_and_one_use() {
        let t0 = datetime!(2026-12-01 10:00 UTC);
        let mut link = LoginLink {
            hash: SessionSecret::new("s".to_owned()).hash(),
            principal: principal(),
            issued_at: t0,
            expires_at: t0 + LOGIN_LINK_TTL,
            used_at: None,
        };
        assert_eq!(link.check(t0 + Duration::minutes(4)), Ok(()));
        assert_eq!(
            link.check(t0 + Duration::minutes(5)),
            Err(LoginRefused::Expired)
        );
        link.used_at = Some(t0);
        assert_eq!(link.check(t0), Err(LoginRefused::Used));
    }

    #[test]
    fn sessions_end_after_twelve_idle_hours() {
        let t0 = datetime!(2026-12-01 10:00 UTC);
        let s = Session {
            hash: SessionSecret::new("c".to_owned()).hash(),
            principal: principal(),
            csrf_token: "x".to_owned(),
            created_at: t0,
            last_seen_at: t0,
        };
        assert!(s.is_live(t0 + Duration::hours(11)));
        assert!(!s.is_live(t0 + Duration::hours(12)));
    }

    #[test]
    fn only_hashes_are_kept_and_secrets_never_print() {
        let secret = SessionSecret::new("top-secret".to_owned());
        let hash = secret.hash();
        assert_eq!(hash.as_str().len(), 64);
        assert!(!hash.as_str().contains("top-secret"));
        assert!(!format!("{secret:?}").contains("top-secret"));
        assert!(SecretHash::parse(hash.as_str().to_owned()).is_ok());
        assert!(SecretHash::parse("nope".to_owned()).is_err());
    }
}
