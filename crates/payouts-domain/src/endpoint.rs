//! Webhook endpoints: where a merchant wants its notifications POSTed, and
//! the secret they are signed with. One aggregate per endpoint, owned by a
//! merchant; modelled on Stripe's webhook endpoints.
//!
//! Rotating the secret keeps the old one signing alongside the new one for
//! a while (Stripe's "roll secret" with an expiry), so a receiver can move
//! to the new secret without missing a delivery: during the overlap each
//! delivery carries two `v1=` signatures.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::DomainError;
use crate::ids::{MerchantId, WebhookEndpointId};

/// The most endpoints one merchant may have (Stripe's limit too).
pub const MAX_ENDPOINTS_PER_MERCHANT: usize = 16;

/// The longest URL accepted.
pub const MAX_URL_LEN: usize = 2_048;

/// The longest description accepted.
pub const MAX_DESCRIPTION_LEN: usize = 500;

/// How long a rotated-out secret keeps signing, by default.
pub const DEFAULT_ROTATION_OVERLAP: Duration = Duration::hours(24);

/// The longest a rotated-out secret may keep signing (Stripe's 7 days).
pub const MAX_ROTATION_OVERLAP: Duration = Duration::days(7);

/// An endpoint URL: `http` or `https`, with a host, at most
/// [`MAX_URL_LEN`] characters, no spaces or control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct EndpointUrl(String);

impl EndpointUrl {
    /// Checks a URL given by a person.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `url`, saying what is wrong.
    pub fn parse(raw: &str) -> Result<Self, DomainError> {
        let url = raw.trim();
        let invalid = |why: &str| DomainError::validation("url", why.to_owned());
        if url.is_empty() {
            return Err(invalid("url is required"));
        }
        if url.chars().count() > MAX_URL_LEN {
            return Err(invalid("url must be at most 2048 characters"));
        }
        if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(invalid("url must not contain spaces or control characters"));
        }
        let lower = url.to_ascii_lowercase();
        let rest = if let Some(rest) = lower.strip_prefix("https://") {
            rest
        } else if let Some(rest) = lower.strip_prefix("http://") {
            rest
        } else {
            return Err(invalid("url must be an http:// or https:// URL"));
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host = authority.rsplit('@').next().unwrap_or_default();
        let host = if host.starts_with('[') {
            host.split_inclusive(']').next().unwrap_or_default()
        } else {
            host.split(':').next().unwrap_or_default()
        };
        if host.is_empty() || host == "[]" {
            return Err(invalid("url must name a host"));
        }
        if authority.contains('@') {
            return Err(invalid("url must not carry credentials"));
        }
        Ok(EndpointUrl(url.to_owned()))
    }

    /// The URL.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for EndpointUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A signing secret, `whsec_` and 64 hex characters. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SigningSecret(String);

impl std::fmt::Debug for SigningSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SigningSecret(whsec_…)")
    }
}

impl SigningSecret {
    /// Wraps a stored or configured secret.
    pub fn new(secret: String) -> Self {
        SigningSecret(secret)
    }

    /// A fresh secret from two unpredictable UUIDs (the id port's).
    pub fn generate(a: uuid::Uuid, b: uuid::Uuid) -> Self {
        SigningSecret(format!("whsec_{}{}", a.simple(), b.simple()))
    }

    /// The secret itself: to sign with, or to show once.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// A rotated-out secret that still signs until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviousSecret {
    /// The old secret.
    pub secret: SigningSecret,
    /// When it stops signing.
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
}

/// A merchant's webhook endpoint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookEndpoint {
    /// Its id.
    pub id: WebhookEndpointId,
    /// The owner.
    pub merchant_id: MerchantId,
    /// Where notifications are POSTed.
    pub url: EndpointUrl,
    /// A note of the merchant's.
    pub description: Option<String>,
    /// The current signing secret.
    pub secret: SigningSecret,
    /// The secret rotated out last, while it still signs.
    pub previous_secret: Option<PreviousSecret>,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Checks an endpoint's description.
///
/// # Errors
/// [`DomainError::Validation`] on `description` when it is too long.
pub fn check_description(description: Option<&str>) -> Result<Option<String>, DomainError> {
    match description.map(str::trim) {
        None | Some("") => Ok(None),
        Some(d) if d.chars().count() > MAX_DESCRIPTION_LEN => Err(DomainError::validation(
            "description",
            "description must be at most 500 characters",
        )),
        Some(d) => Ok(Some(d.to_owned())),
    }
}

impl WebhookEndpoint {
    /// The secrets that sign a delivery at `now`: the current one first,
    /// then the previous one while it has not expired.
    pub fn signing_secrets(&self, now: OffsetDateTime) -> Vec<SigningSecret> {
        let mut secrets = vec![self.secret.clone()];
        if let Some(previous) = &self.previous_secret
            && previous.expires_at > now
        {
            secrets.push(previous.secret.clone());
        }
        secrets
    }

    /// The endpoint with `new_secret`; the current secret keeps signing for
    /// `overlap` (none when zero). A secret that had still been signing
    /// from an earlier rotation stops at once.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `expires_in_hours` when `overlap` is
    /// negative or longer than [`MAX_ROTATION_OVERLAP`].
    pub fn rotated(
        &self,
        new_secret: SigningSecret,
        now: OffsetDateTime,
        overlap: Duration,
    ) -> Result<WebhookEndpoint, DomainError> {
        if overlap.is_negative() || overlap > MAX_ROTATION_OVERLAP {
            return Err(DomainError::validation(
                "expires_in_hours",
                "the old secret may keep signing for 0 to 168 hours",
            ));
        }
        Ok(WebhookEndpoint {
            secret: new_secret,
            previous_secret: (!overlap.is_zero()).then(|| PreviousSecret {
                secret: self.secret.clone(),
                expires_at: now.saturating_add(overlap),
            }),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn urls_are_http_or_https_with_a_host() {
        for good in [
            "https://hooks.example.com/payouts",
            "http://127.0.0.1:8080/x?y=1",
            "  https://a.test  ",
            "https://[::1]:9/x",
        ] {
            assert!(EndpointUrl::parse(good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "ftp://a.test",
            "a.test/x",
            "https://",
            "https:///path",
            "https://a b.test",
            "https://user:pw@a.test/",
            "javascript:alert(1)",
        ] {
            assert!(EndpointUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://a.test/{}", "x".repeat(MAX_URL_LEN));
        assert!(EndpointUrl::parse(&long).is_err());
        assert_eq!(
            EndpointUrl::parse(" https://a.test ").unwrap().as_str(),
            "https://a.test"
        );
    }

    #[test]
    fn rotation_keeps_the_old_secret_signing_for_the_overlap() {
        let now = datetime!(2026-12-01 00:00 UTC);
        let e = WebhookEndpoint {
            id: WebhookEndpointId::from_uuid(uuid::Uuid::from_u128(1)),
            merchant_id: MerchantId::parse("m_1".to_owned()).unwrap(),
            url: EndpointUrl::parse("https://a.test").unwrap(),
            description: None,
            secret: SigningSecret::new("whsec_old".to_owned()),
            previous_secret: None,
            created_at: now,
        };
        let new = SigningSecret::generate(uuid::Uuid::from_u128(2), uuid::Uuid::from_u128(3));
        assert!(new.expose().starts_with("whsec_"));
        assert_eq!(new.expose().len(), 6 + 64);
        assert_eq!(format!("{new:?}"), "SigningSecret(whsec_…)");
        let r = e.rotated(new.clone(), now, Duration::hours(2)).unwrap();
        assert_eq!(
            r.signing_secrets(now + Duration::hours(1)),
            vec![new.clone(), e.secret.clone()]
        );
        assert_eq!(
            r.signing_secrets(now + Duration::hours(2)),
            vec![new.clone()]
        );
        let at_once = e.rotated(new.clone(), now, Duration::ZERO).unwrap();
        assert_eq!(at_once.signing_secrets(now), vec![new.clone()]);
        assert!(e.rotated(new.clone(), now, Duration::days(8)).is_err());
        assert!(e.rotated(new, now, Duration::hours(-1)).is_err());
    }
}
