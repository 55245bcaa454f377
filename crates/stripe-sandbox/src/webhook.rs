//! Stripe-shaped events and their signed delivery.

use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::ids::new_id;

/// The API version stamped on events: the version of the bundled spec.
pub const API_VERSION: &str = "2023-08-16";

/// Where events go.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct WebhookEndpoint {
    /// Receiver URL (plain `http://` to loopback is the usual case).
    pub url: String,
    /// Signing secret, `whsec_…`. Generated when omitted.
    #[serde(default)]
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The secret stays out of logs.
        f.debug_struct("WebhookEndpoint")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| "whsec_…"))
            .finish()
    }
}

/// The outcome of one delivery attempt.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WebhookDelivery {
    /// `evt_…` id.
    pub event_id: String,
    /// Event type, e.g. `payout.paid`.
    pub event_type: String,
    /// Receiver URL.
    pub url: String,
    /// HTTP status of the receiver, when it answered.
    pub status: Option<u16>,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    /// Transport error, when it did not answer.
    pub error: Option<String>,
    /// The event exactly as sent.
    pub event: Value,
}

/// Builds a Stripe event object.
#[must_use]
pub fn build_event(
    created: i64,
    event_type: &str,
    account: Option<&str>,
    object: Value,
    request_id: Option<&str>,
    idempotency_key: Option<&str>,
) -> Value {
    let mut event = json!({
        "id": new_id("evt_"),
        "object": "event",
        "api_version": API_VERSION,
        "created": created,
        "type": event_type,
        "data": {"object": object},
        "livemode": false,
        "pending_webhooks": 1,
        "request": {"id": request_id, "idempotency_key": idempotency_key}
    });
    if let (Some(acct), Some(obj)) = (account, event.as_object_mut()) {
        obj.insert("account".to_owned(), json!(acct));
    }
    event
}

/// `Stripe-Signature` header value: `t=<unix>,v1=<hex hmac_sha256(secret, "{t}.{body}")>`.
#[must_use]
pub fn sign(secret: &str, timestamp: i64, payload: &str) -> String {
    format!(
        "t={timestamp},v1={}",
        signature_hex(secret, timestamp, payload)
    )
}

fn signature_hex(secret: &str, timestamp: i64, payload: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        // HMAC accepts keys of any length; this branch is unreachable in practice.
        return String::new();
    };
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a `Stripe-Signature` header the way Stripe's libraries do
/// (without the timestamp tolerance, which is the receiver's policy).
#[must_use]
pub fn verify(secret: &str, header: &str, payload: &str) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", s)) => signatures.push(s),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    let expected = signature_hex(secret, t, payload);
    signatures.iter().any(|s| *s == expected)
}

/// POSTs a signed event. `timestamp` is real Unix time: receivers compare it
/// with their own clock, so the sandbox's advanced clock must not leak here.
pub(crate) async fn deliver(
    client: &reqwest::Client,
    endpoint_url: &str,
    secret: &str,
    timestamp: i64,
    event: Value,
) -> WebhookDelivery {
    let payload = event.to_string();
    let event_id = event
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let event_type = event
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let result = client
        .post(endpoint_url)
        .header("Content-Type", "application/json; charset=utf-8")
        .header("Stripe-Signature", sign(secret, timestamp, &payload))
        .header(
            "User-Agent",
            "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        )
        .body(payload)
        .send()
        .await;
    let (status, error) = match result {
        Ok(resp) => (Some(resp.status().as_u16()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    WebhookDelivery {
        event_id,
        event_type,
        url: endpoint_url.to_owned(),
        status,
        delivered: status.is_some_and(|s| (200..300).contains(&s)),
        error,
        event,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trips_and_rejects_tampering() {
        let header = sign("whsec_test", 1_700_000_000, "{\"a\":1}");
        assert!(header.starts_with("t=1700000000,v1="));
        assert!(verify("whsec_test", &header, "{\"a\":1}"));
        assert!(!verify("whsec_other", &header, "{\"a\":1}"));
        assert!(!verify("whsec_test", &header, "{\"a\":2}"));
    }

    #[test]
    fn known_hmac_vector() {
        // HMAC-SHA256(key="key", msg="1.x"), computed with Python's hmac module.
        assert_eq!(
            sign("key", 1, "x"),
            "t=1,v1=fc4913c41a7bf793267e2a384f3261c9436ec2cd097bd745e7b0d99113f510ec"
        );
    }

    #[test]
    fn event_shape() {
        let e = build_event(
            5,
            "payout.paid",
            Some("acct_1"),
            json!({"id": "po_1"}),
            None,
            None,
        );
        assert_eq!(e["object"], "event");
        assert_eq!(e["type"], "payout.paid");
        assert_eq!(e["account"], "acct_1");
        assert_eq!(e["data"]["object"]["id"], "po_1");
        assert!(e["id"].as_str().unwrap().starts_with("evt_"));
        let e = build_event(5, "x", None, json!({}), None, None);
        assert!(e.get("account").is_none());
    }
}
