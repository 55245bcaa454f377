//! Outbox delivery: every notification is logged; when an endpoint is
//! configured for its merchant it is also POSTed there as JSON, signed the
//! way Stripe signs webhooks: `Payouts-Signature: t=<unix>,v1=<hex HMAC-SHA256
//! of "t.body" with PAYOUTS_NOTIFY_SECRET>`. A failed POST leaves the
//! notification undelivered, so the next dispatch tries again (at least
//! once; receivers deduplicate by `id`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use payouts_domain::notification::Notification;
use payouts_domain::ports::{Notifier, NotifyError};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Logs every notification and POSTs it to its merchant's endpoint, if any.
pub struct OutboxNotifier {
    endpoints: BTreeMap<String, String>,
    fallback: Option<String>,
    secret: Option<SecretString>,
    http: reqwest::Client,
}

impl std::fmt::Debug for OutboxNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxNotifier")
            .field("endpoints", &self.endpoints)
            .field("fallback", &self.fallback)
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl OutboxNotifier {
    /// From `merchant=URL,…,*=URL` (or none) and the signing secret.
    ///
    /// # Errors
    /// A message naming the bad pair, or a missing secret when endpoints are set.
    pub fn new(map: Option<&str>, secret: Option<SecretString>) -> Result<Self, String> {
        let mut endpoints = BTreeMap::new();
        let mut fallback = None;
        for pair in map
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (merchant, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not merchant_id=URL"))?;
            let url = url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "the endpoint for `{merchant}` is not an http(s) URL"
                ));
            }
            match merchant.trim() {
                "*" => fallback = Some(url.to_owned()),
                m => {
                    endpoints.insert(m.to_owned(), url.to_owned());
                }
            }
        }
        if (fallback.is_some() || !endpoints.is_empty()) && secret.is_none() {
            return Err(
                "PAYOUTS_NOTIFY_WEBHOOKS needs PAYOUTS_NOTIFY_SECRET to sign with".to_owned(),
            );
        }
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(OutboxNotifier {
            endpoints,
            fallback,
            secret,
            http,
        })
    }

    fn endpoint(&self, merchant: &str) -> Option<&str> {
        self.endpoints
            .get(merchant)
            .or(self.fallback.as_ref())
            .map(String::as_str)
    }
}

/// `t=…,v1=…` over `t.body`.
pub fn signature(
    secret: &SecretString,
    timestamp: i64,
    body: &[u8],
) -> Result<String, NotifyError> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes())
        .map_err(|e| NotifyError(format!("bad signing secret: {e}")))?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "t={timestamp},v1={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

#[async_trait]
impl Notifier for OutboxNotifier {
    async fn deliver(&self, n: &Notification) -> Result<(), NotifyError> {
        tracing::info!(
            id = %n.id,
            merchant = %n.merchant_id,
            kind = ?n.kind,
            recipient = ?n.recipient,
            "notification"
        );
        let Some(url) = self.endpoint(n.merchant_id.as_str()) else {
            return Ok(());
        };
        let Some(secret) = &self.secret else {
            return Ok(());
        };
        let body = serde_json::to_vec(n).map_err(|e| NotifyError(e.to_string()))?;
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .http
            .post(url)
            .header("content-type", "application/json")
            .header("payouts-signature", signature(secret, t, &body)?)
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError(format!("POST to the merchant endpoint failed: {e}")))?;
        if response.status().is_success() {
            Ok(())
        } else {
            Err(NotifyError(format!(
                "the merchant endpoint answered {}",
                response.status()
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_need_a_secret() {
        let n = OutboxNotifier::new(
            Some("m_1=https://a.test/hook, *=http://b.test/all"),
            Some(SecretString::from("s")),
        )
        .unwrap();
        assert_eq!(n.endpoint("m_1"), Some("https://a.test/hook"));
        assert_eq!(n.endpoint("m_2"), Some("http://b.test/all"));
        assert!(OutboxNotifier::new(Some("m_1=https://a.test"), None).is_err());
        assert!(OutboxNotifier::new(Some("nonsense"), Some(SecretString::from("s"))).is_err());
        assert!(OutboxNotifier::new(Some("m=ftp://x"), Some(SecretString::from("s"))).is_err());
        assert!(
            OutboxNotifier::new(None, None)
                .unwrap()
                .endpoint("m")
                .is_none()
        );
    }

    #[test]
    fn signatures_are_stripe_style_hmacs() {
        let s = signature(&SecretString::from("whsec"), 1_700_000_000, b"{}").unwrap();
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(
            s,
            signature(&SecretString::from("other"), 1_700_000_000, b"{}").unwrap()
        );
    }
}
