//! Webhooks: `Stripe-Signature` verification, then parsing into the
//! domain's [`InboundEvent`].
//!
//! Parsing reads the raw JSON rather than async-stripe-webhook's typed
//! events: those fail the whole event when any field of the object does
//! not parse, and an event Stripe sends must always be acknowledged. An
//! unknown type is [`EventKind::Ignored`]; a known type whose object lacks
//! a field the rules need is an [`EventParseError`] naming that field.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use payouts_domain::engine::AccountSnapshot;
use payouts_domain::events::{DisputeRecord, EventKind, InboundEvent, PromotionCodeSale};
use payouts_domain::ids::{
    AccountId, DisputeId, EventId, PaymentIntentId, PromotionCodeId, StripePayoutId, TransferId,
};
use payouts_domain::money::{Currency, Money};
use payouts_domain::partner::CapabilityStatus;
use payouts_domain::ports::BankPayout;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use sha2::Sha256;
use time::OffsetDateTime;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("missing Stripe-Signature header")]
    MissingHeader,
    /// The header has no `t=` timestamp or no `v1=` signature, or a part
    /// is not well formed.
    #[error("malformed Stripe-Signature header: {0}")]
    MalformedHeader(String),
    /// No `v1` signature matches any configured secret.
    #[error("no signature matches a configured endpoint secret")]
    NoMatchingSignature,
    /// The signed timestamp is further from now than the tolerance.
    #[error(
        "signature timestamp {timestamp} is outside the {tolerance_secs} s tolerance (now {now})"
    )]
    OutsideTolerance {
        /// The signed `t`.
        timestamp: i64,
        /// Our clock.
        now: i64,
        /// The allowed distance.
        tolerance_secs: u64,
    },
    /// No endpoint secret is configured, so nothing can be verified.
    #[error("no webhook endpoint secret is configured")]
    NoSecrets,
}

/// Why a verified payload is not an event we can use.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventParseError {
    /// The body is not a JSON object.
    #[error("webhook body is not JSON: {0}")]
    NotJson(String),
    /// A field is missing or has the wrong shape.
    #[error("event {event_type}: field `{field}` {problem}")]
    Field {
        /// The event's type, when known.
        event_type: String,
        /// The field, as a path (`data.object.amount`).
        field: String,
        /// What is wrong.
        problem: String,
    },
}

/// Either failure of [`WebhookVerifier::verify_and_parse`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WebhookError {
    /// The signature check failed: answer 400 and do not process.
    #[error(transparent)]
    Signature(#[from] SignatureError),
    /// Authentic, but unusable.
    #[error(transparent)]
    Parse(#[from] EventParseError),
}

/// Verifies `Stripe-Signature` against one or more endpoint secrets.
#[derive(Clone)]
pub struct WebhookVerifier {
    secrets: Vec<SecretString>,
    tolerance: Duration,
}

impl std::fmt::Debug for WebhookVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookVerifier")
            .field("secrets", &self.secrets.len())
            .field("tolerance", &self.tolerance)
            .finish()
    }
}

struct ParsedHeader<'a> {
    timestamp: i64,
    signatures: Vec<&'a str>,
}

fn parse_header(header: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(SignatureError::MalformedHeader(format!(
                "part without `=`: {part:?}"
            )));
        };
        match key {
            "t" => {
                let t = value.parse::<i64>().map_err(|_| {
                    SignatureError::MalformedHeader("`t` is not a Unix timestamp".to_owned())
                })?;
                timestamp = Some(t);
            }
            "v1" => signatures.push(value),
            // `v0` (test-mode legacy) and future schemes are ignored, as
            // Stripe's libraries do.
            _ => {}
        }
    }
    let timestamp =
        timestamp.ok_or_else(|| SignatureError::MalformedHeader("no `t=`".to_owned()))?;
    if signatures.is_empty() {
        return Err(SignatureError::MalformedHeader("no `v1=`".to_owned()));
    }
    Ok(ParsedHeader {
        timestamp,
        signatures,
    })
}

fn mac(secret: &SecretString, timestamp: i64, payload: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose_secret().as_bytes()).ok()?;
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    Some(mac)
}

/// The `Stripe-Signature` value Stripe would send for `payload` at
/// `timestamp` (for tests and local tools).
pub fn sign(secret: &SecretString, timestamp: i64, payload: &[u8]) -> String {
    let hex = mac(secret, timestamp, payload)
        .map(|m| hex::encode(m.finalize().into_bytes()))
        .unwrap_or_default();
    format!("t={timestamp},v1={hex}")
}

impl WebhookVerifier {
    /// A verifier accepting a signature by any of `secrets` within `tolerance`.
    pub fn new(secrets: Vec<SecretString>, tolerance: Duration) -> Self {
        WebhookVerifier { secrets, tolerance }
    }

    /// Checks the header against the raw body, at `now`.
    ///
    /// # Errors
    /// [`SignatureError`]: missing or malformed header, no matching
    /// signature, or a timestamp outside the tolerance.
    pub fn verify(
        &self,
        header: Option<&str>,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<(), SignatureError> {
        let header = header
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .ok_or(SignatureError::MissingHeader)?;
        let parsed = parse_header(header)?;
        if self.secrets.is_empty() {
            return Err(SignatureError::NoSecrets);
        }
        // Checked before the timestamp so that a forged event never learns
        // about our tolerance.
        let matched = self.secrets.iter().any(|secret| {
            parsed.signatures.iter().any(|sig| {
                let Ok(expected) = hex::decode(sig) else {
                    return false;
                };
                // `verify_slice` compares in constant time.
                mac(secret, parsed.timestamp, payload)
                    .is_some_and(|m| m.verify_slice(&expected).is_ok())
            })
        });
        if !matched {
            return Err(SignatureError::NoMatchingSignature);
        }
        let now_secs = now.unix_timestamp();
        let tolerance_secs = self.tolerance.as_secs();
        let distance = now_secs.abs_diff(parsed.timestamp);
        if distance > tolerance_secs {
            return Err(SignatureError::OutsideTolerance {
                timestamp: parsed.timestamp,
                now: now_secs,
                tolerance_secs,
            });
        }
        Ok(())
    }

    /// Verifies, then parses.
    ///
    /// # Errors
    /// [`WebhookError`].
    pub fn verify_and_parse(
        &self,
        header: Option<&str>,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<InboundEvent, WebhookError> {
        self.verify(header, payload, now)?;
        Ok(parse_event(payload)?)
    }
}

// ---------------------------------------------------------------- parsing

struct Fields<'a> {
    event_type: &'a str,
    object: &'a Value,
}

impl Fields<'_> {
    fn err(&self, field: &str, problem: &str) -> EventParseError {
        EventParseError::Field {
            event_type: self.event_type.to_owned(),
            field: format!("data.object.{field}"),
            problem: problem.to_owned(),
        }
    }

    fn get(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self.object, |v, k| v.get(k))
            .filter(|v| !v.is_null())
    }

    fn str(&self, path: &str) -> Result<&str, EventParseError> {
        match self.get(path) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.err(path, "is not a string")),
            None => Err(self.err(path, "is missing")),
        }
    }

    fn opt_str(&self, path: &str) -> Result<Option<&str>, EventParseError> {
        match self.get(path) {
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(self.err(path, "is not a string")),
            None => Ok(None),
        }
    }

    /// An expandable field: an id or an object with an `id`.
    fn opt_id(&self, path: &str) -> Result<Option<&str>, EventParseError> {
        match self.get(path) {
            Some(Value::String(s)) => Ok(Some(s)),
            Some(Value::Object(o)) => match o.get("id") {
                Some(Value::String(s)) => Ok(Some(s)),
                _ => Err(self.err(path, "is an object without an `id`")),
            },
            Some(_) => Err(self.err(path, "is neither an id nor an object")),
            None => Ok(None),
        }
    }

    fn i64(&self, path: &str) -> Result<i64, EventParseError> {
        match self.get(path) {
            Some(v) => v
                .as_i64()
                .ok_or_else(|| self.err(path, "is not an integer")),
            None => Err(self.err(path, "is missing")),
        }
    }

    fn opt_i64(&self, path: &str) -> Result<Option<i64>, EventParseError> {
        match self.get(path) {
            Some(v) => v
                .as_i64()
                .map(Some)
                .ok_or_else(|| self.err(path, "is not an integer")),
            None => Ok(None),
        }
    }

    fn bool(&self, path: &str) -> Result<bool, EventParseError> {
        match self.get(path) {
            Some(Value::Bool(b)) => Ok(*b),
            Some(_) => Err(self.err(path, "is not a boolean")),
            None => Err(self.err(path, "is missing")),
        }
    }

    fn money(&self, amount: &str) -> Result<Money, EventParseError> {
        let minor = self.i64(amount)?;
        let code = self.str("currency")?;
        let currency = Currency::parse(code).map_err(|e| self.err("currency", &e.to_string()))?;
        Ok(Money::new(minor, currency))
    }

    fn time(&self, path: &str) -> Result<Option<OffsetDateTime>, EventParseError> {
        self.opt_i64(path)?
            .map(|t| {
                OffsetDateTime::from_unix_timestamp(t)
                    .map_err(|_| self.err(path, "is not a valid timestamp"))
            })
            .transpose()
    }

    fn id<T, E: std::fmt::Display>(
        &self,
        path: &str,
        parse: impl FnOnce(String) -> Result<T, E>,
        text: &str,
    ) -> Result<T, EventParseError> {
        parse(text.to_owned()).map_err(|e| self.err(path, &e.to_string()))
    }
}

fn top_err(event_type: &str, field: &str, problem: &str) -> EventParseError {
    EventParseError::Field {
        event_type: event_type.to_owned(),
        field: field.to_owned(),
        problem: problem.to_owned(),
    }
}

/// Parses a raw (already verified) event body.
///
/// # Errors
/// [`EventParseError`] when the envelope is not an event, or a known type's
/// object lacks a field the rules need.
pub fn parse_event(payload: &[u8]) -> Result<InboundEvent, EventParseError> {
    let root: Value =
        serde_json::from_slice(payload).map_err(|e| EventParseError::NotJson(e.to_string()))?;
    let event_type = root
        .get("type")
        .and_then(Value::as_str)
        .ok_or_else(|| top_err("?", "type", "is missing"))?;
    let id = root
        .get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| top_err(event_type, "id", "is missing"))?;
    let id = EventId::parse(id).map_err(|e| top_err(event_type, "id", &e.to_string()))?;
    let created = root
        .get("created")
        .and_then(Value::as_i64)
        .ok_or_else(|| top_err(event_type, "created", "is missing"))?;
    let created = OffsetDateTime::from_unix_timestamp(created)
        .map_err(|_| top_err(event_type, "created", "is not a valid timestamp"))?;
    let livemode = root
        .get("livemode")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let account = match root.get("account") {
        None | Some(Value::Null) => None,
        Some(Value::String(a)) => Some(
            AccountId::parse(a.as_str())
                .map_err(|e| top_err(event_type, "account", &e.to_string()))?,
        ),
        Some(_) => return Err(top_err(event_type, "account", "is not a string")),
    };
    let object = root
        .get("data")
        .and_then(|d| d.get("object"))
        .filter(|o| o.is_object())
        .ok_or_else(|| top_err(event_type, "data.object", "is missing"))?;
    let f = Fields { event_type, object };
    let kind = kind_of(&f, account.as_ref(), created)?;
    Ok(InboundEvent {
        id,
        event_type: event_type.to_owned(),
        account,
        created,
        livemode,
        kind,
    })
}

fn kind_of(
    f: &Fields<'_>,
    account: Option<&AccountId>,
    created: OffsetDateTime,
) -> Result<EventKind, EventParseError> {
    let t = f.event_type;
    Ok(match t {
        "account.updated" => EventKind::AccountUpdated(account_snapshot(f)?),
        "account.application.deauthorized" => {
            if account.is_none() {
                return Err(top_err(t, "account", "is missing"));
            }
            EventKind::AccountDeauthorized
        }
        "transfer.reversed" => EventKind::TransferReversed {
            transfer_id: f.id("id", TransferId::parse, f.str("id")?)?,
            amount_reversed: f.money("amount_reversed")?,
        },
        _ if t.starts_with("transfer.") => EventKind::TransferChanged {
            transfer_id: f.id("id", TransferId::parse, f.str("id")?)?,
        },
        _ if t.starts_with("payout.") => match account {
            // The platform's own payouts are not partners' money.
            None => EventKind::Ignored,
            Some(account) => EventKind::Payout(BankPayout {
                payout_id: f.id("id", StripePayoutId::parse, f.str("id")?)?,
                account_id: account.clone(),
                amount: f.money("amount")?,
                status: f.str("status")?.to_owned(),
                failure_code: f.opt_str("failure_code")?.map(str::to_owned),
                arrival_date: f.time("arrival_date")?,
                updated_at: created,
            }),
        },
        "payment_intent.succeeded" => {
            let received = f.opt_i64("amount_received")?.filter(|a| *a > 0);
            EventKind::PaymentSucceeded {
                payment_intent: f.id("id", PaymentIntentId::parse, f.str("id")?)?,
                amount: match received {
                    Some(_) => f.money("amount_received")?,
                    None => f.money("amount")?,
                },
            }
        }
        "payment_intent.payment_failed" => EventKind::PaymentFailed {
            payment_intent: f.id("id", PaymentIntentId::parse, f.str("id")?)?,
            code: f.opt_str("last_payment_error.code")?.map(str::to_owned),
        },
        "charge.refunded" => EventKind::ChargeRefunded {
            payment_intent: f
                .opt_id("payment_intent")?
                .map(|p| f.id("payment_intent", PaymentIntentId::parse, p))
                .transpose()?,
            charge: f.str("id")?.to_owned(),
            amount_refunded: f.money("amount_refunded")?,
        },
        _ if t.starts_with("charge.dispute.") => EventKind::Dispute(DisputeRecord {
            dispute_id: f.id("id", DisputeId::parse, f.str("id")?)?,
            payment_intent: f
                .opt_id("payment_intent")?
                .map(|p| f.id("payment_intent", PaymentIntentId::parse, p))
                .transpose()?,
            amount: f.money("amount")?,
            reason: f.str("reason")?.to_owned(),
            status: f.str("status")?.to_owned(),
            evidence_due_by: f.time("evidence_details.due_by")?,
        }),
        "checkout.session.completed" => checkout_sale(f)?,
        "invoice.paid" => invoice_sale(f)?,
        "promotion_code.updated" => EventKind::PromotionCodeUpdated {
            promotion_code: f.id("id", PromotionCodeId::parse, f.str("id")?)?,
            active: f.bool("active")?,
        },
        _ => EventKind::Ignored,
    })
}

fn account_snapshot(f: &Fields<'_>) -> Result<AccountSnapshot, EventParseError> {
    let past_due = match f.get("requirements.past_due") {
        None => false,
        Some(Value::Array(items)) => !items.is_empty(),
        Some(_) => return Err(f.err("requirements.past_due", "is not an array")),
    };
    Ok(AccountSnapshot {
        account_id: f.id("id", AccountId::parse, f.str("id")?)?,
        details_submitted: f.bool("details_submitted")?,
        charges_enabled: f.bool("charges_enabled")?,
        payouts_enabled: f.bool("payouts_enabled")?,
        transfers: f
            .opt_str("capabilities.transfers")?
            .map_or(CapabilityStatus::Inactive, CapabilityStatus::from_stripe),
        disabled_reason: f
            .opt_str("requirements.disabled_reason")?
            .map(str::to_owned),
        past_due,
    })
}

/// The promotion code of a discount entry: `promotion_code` as an id or an
/// expanded object, directly or under `discount`.
fn promotion_in(entry: &Value) -> Option<&str> {
    let code = entry
        .get("promotion_code")
        .or_else(|| entry.get("discount").and_then(|d| d.get("promotion_code")))?;
    match code {
        Value::String(s) => Some(s.as_str()),
        Value::Object(o) => o.get("id").and_then(Value::as_str),
        _ => None,
    }
}

fn first_promotion<'a>(f: &'a Fields<'_>, paths: &[&str]) -> Option<&'a str> {
    paths.iter().find_map(|path| match f.get(path)? {
        Value::Array(items) => items.iter().find_map(promotion_in),
        single @ Value::Object(_) => promotion_in(single),
        _ => None,
    })
}

fn sale(f: &Fields<'_>, promotion: &str, amount_field: &str) -> Result<EventKind, EventParseError> {
    Ok(EventKind::PromotionCodeSale(PromotionCodeSale {
        external_id: f.str("id")?.to_owned(),
        promotion_code: f.id("discounts", PromotionCodeId::parse, promotion)?,
        amount: f.money(amount_field)?,
        customer: f.opt_id("customer")?.map(str::to_owned),
        payment_intent: f
            .opt_id("payment_intent")?
            .map(|p| f.id("payment_intent", PaymentIntentId::parse, p))
            .transpose()?,
    }))
}

fn checkout_sale(f: &Fields<'_>) -> Result<EventKind, EventParseError> {
    match first_promotion(f, &["discounts", "total_details.breakdown.discounts"]) {
        Some(promotion) => sale(f, promotion, "amount_total"),
        None => Ok(EventKind::Ignored),
    }
}

fn invoice_sale(f: &Fields<'_>) -> Result<EventKind, EventParseError> {
    // `discount` is the pre-2025 single discount; `discounts` holds expanded
    // discount objects (unexpanded `di_…` ids carry no promotion code).
    match first_promotion(f, &["discount", "discounts", "total_discount_amounts"]) {
        Some(promotion) => sale(f, promotion, "amount_paid"),
        None => Ok(EventKind::Ignored),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    fn at(t: i64) -> OffsetDateTime {
        OffsetDateTime::from_unix_timestamp(t).unwrap()
    }

    const NOW: i64 = 1_700_000_000;

    fn verifier(secrets: &[&str]) -> WebhookVerifier {
        WebhookVerifier::new(
            secrets.iter().map(|s| secret(s)).collect(),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn valid_signature_passes() {
        let body = br#"{"id":"evt_1"}"#;
        let header = sign(&secret("whsec_a"), NOW, body);
        assert!(header.starts_with(&format!("t={NOW},v1=")));
        assert_eq!(
            verifier(&["whsec_a"]).verify(Some(&header), body, at(NOW)),
            Ok(())
        );
    }

    #[test]
    fn forged_or_tampered_signatures_fail() {
        let body = br#"{"id":"evt_1"}"#;
        let forged = sign(&secret("whsec_attacker"), NOW, body);
        let v = verifier(&["whsec_a"]);
        assert_eq!(
            v.verify(Some(&forged), body, at(NOW)),
            Err(SignatureError::NoMatchingSignature)
        );
        let good = sign(&secret("whsec_a"), NOW, body);
        assert_eq!(
            v.verify(Some(&good), br#"{"id":"evt_2"}"#, at(NOW)),
            Err(SignatureError::NoMatchingSignature)
        );
        // Re-signing an old signature with a new timestamp does not work.
        let moved = good.replace(&format!("t={NOW}"), &format!("t={}", NOW + 1));
        assert_eq!(
            v.verify(Some(&moved), body, at(NOW)),
            Err(SignatureError::NoMatchingSignature)
        );
        let not_hex = format!("t={NOW},v1=zzzz");
        assert_eq!(
            v.verify(Some(&not_hex), body, at(NOW)),
            Err(SignatureError::NoMatchingSignature)
        );
    }

    #[test]
    fn stale_and_future_timestamps_fail() {
        let body = b"{}";
        let v = verifier(&["whsec_a"]);
        let old = sign(&secret("whsec_a"), NOW - 301, body);
        assert!(matches!(
            v.verify(Some(&old), body, at(NOW)),
            Err(SignatureError::OutsideTolerance {
                tolerance_secs: 300,
                ..
            })
        ));
        let edge = sign(&secret("whsec_a"), NOW - 300, body);
        assert_eq!(v.verify(Some(&edge), body, at(NOW)), Ok(()));
        let future = sign(&secret("whsec_a"), NOW + 301, body);
        assert!(v.verify(Some(&future), body, at(NOW)).is_err());
        let lenient = WebhookVerifier::new(vec![secret("whsec_a")], Duration::from_secs(600));
        assert_eq!(lenient.verify(Some(&old), body, at(NOW)), Ok(()));
    }

    #[test]
    fn rotated_secrets_either_works() {
        let body = b"{}";
        let v = verifier(&["whsec_old", "whsec_new"]);
        for s in ["whsec_old", "whsec_new"] {
            let h = sign(&secret(s), NOW, body);
            assert_eq!(v.verify(Some(&h), body, at(NOW)), Ok(()), "{s}");
        }
        let h = sign(&secret("whsec_other"), NOW, body);
        assert!(v.verify(Some(&h), body, at(NOW)).is_err());
    }

    #[test]
    fn several_v1_values_in_one_header() {
        // During rotation Stripe signs with every active secret.
        let body = b"{}";
        let old = sign(&secret("whsec_old"), NOW, body);
        let new = sign(&secret("whsec_new"), NOW, body);
        let new_sig = new.split(",v1=").nth(1).unwrap();
        let both = format!("{old},v1={new_sig},v0=ignored");
        assert_eq!(
            verifier(&["whsec_new"]).verify(Some(&both), body, at(NOW)),
            Ok(())
        );
        assert_eq!(
            verifier(&["whsec_old"]).verify(Some(&both), body, at(NOW)),
            Ok(())
        );
        let junk_first = format!("t={NOW},v1=00ff,v1={new_sig}");
        assert_eq!(
            verifier(&["whsec_new"]).verify(Some(&junk_first), body, at(NOW)),
            Ok(())
        );
    }

    #[test]
    fn missing_and_malformed_headers() {
        let v = verifier(&["whsec_a"]);
        assert_eq!(
            v.verify(None, b"{}", at(NOW)),
            Err(SignatureError::MissingHeader)
        );
        assert_eq!(
            v.verify(Some("  "), b"{}", at(NOW)),
            Err(SignatureError::MissingHeader)
        );
        for bad in ["v1=abc", &format!("t={NOW}"), "t=soon,v1=abc", "garbage"] {
            assert!(
                matches!(
                    v.verify(Some(bad), b"{}", at(NOW)),
                    Err(SignatureError::MalformedHeader(_))
                ),
                "{bad}"
            );
        }
        let none = verifier(&[]);
        let h = sign(&secret("whsec_a"), NOW, b"{}");
        assert_eq!(
            none.verify(Some(&h), b"{}", at(NOW)),
            Err(SignatureError::NoSecrets)
        );
    }

    fn event(event_type: &str, account: Option<&str>, object: Value) -> Vec<u8> {
        serde_json::to_vec(&json!({
            "id": "evt_123", "object": "event", "type": event_type, "created": NOW,
            "livemode": false, "account": account, "data": {"object": object}
        }))
        .unwrap()
    }

    fn kind(event_type: &str, account: Option<&str>, object: Value) -> EventKind {
        parse_event(&event(event_type, account, object))
            .unwrap()
            .kind
    }

    #[test]
    fn account_updated_becomes_a_snapshot() {
        let k = kind(
            "account.updated",
            Some("acct_1"),
            json!({
                "id": "acct_1", "details_submitted": true, "charges_enabled": true,
                "payouts_enabled": false, "capabilities": {"transfers": "pending"},
                "requirements": {"disabled_reason": "requirements.past_due", "past_due": ["external_account"]}
            }),
        );
        let EventKind::AccountUpdated(s) = k else {
            panic!("{k:?}")
        };
        assert_eq!(s.account_id.as_str(), "acct_1");
        assert!(s.details_submitted && s.charges_enabled && !s.payouts_enabled);
        assert_eq!(s.transfers, CapabilityStatus::Pending);
        assert_eq!(s.disabled_reason.as_deref(), Some("requirements.past_due"));
        assert!(s.past_due);
    }

    #[test]
    fn envelope_fields_are_kept() {
        let e = parse_event(&event(
            "account.application.deauthorized",
            Some("acct_9"),
            json!({"id": "ca_1"}),
        ))
        .unwrap();
        assert_eq!(e.id.as_str(), "evt_123");
        assert_eq!(e.account.as_ref().map(AccountId::as_str), Some("acct_9"));
        assert_eq!(e.created, at(NOW));
        assert_eq!(e.kind, EventKind::AccountDeauthorized);
        let err = parse_event(&event(
            "account.application.deauthorized",
            None,
            json!({"id": "ca_1"}),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("`account`"), "{err}");
    }

    #[test]
    fn transfers_payouts_payments_refunds_disputes() {
        assert_eq!(
            kind(
                "transfer.reversed",
                None,
                json!({"id": "tr_1", "amount_reversed": 500, "currency": "usd"})
            ),
            EventKind::TransferReversed {
                transfer_id: TransferId::parse("tr_1").unwrap(),
                amount_reversed: Money::new(500, Currency::USD),
            }
        );
        assert_eq!(
            kind("transfer.updated", None, json!({"id": "tr_1"})),
            EventKind::TransferChanged {
                transfer_id: TransferId::parse("tr_1").unwrap()
            }
        );
        let k = kind(
            "payout.failed",
            Some("acct_2"),
            json!({"id": "po_1", "amount": 1200, "currency": "eur", "status": "failed",
                   "failure_code": "account_closed", "arrival_date": NOW + 86_400}),
        );
        let EventKind::Payout(p) = k else {
            panic!("{k:?}")
        };
        assert_eq!(p.account_id.as_str(), "acct_2");
        assert_eq!(p.amount, Money::new(1200, Currency::EUR));
        assert_eq!(p.failure_code.as_deref(), Some("account_closed"));
        assert_eq!(p.arrival_date, Some(at(NOW + 86_400)));
        assert_eq!(p.updated_at, at(NOW));
        assert_eq!(
            kind(
                "payout.paid",
                None,
                json!({"id": "po_1", "amount": 1, "currency": "usd", "status": "paid"})
            ),
            EventKind::Ignored
        );
        assert_eq!(
            kind(
                "payment_intent.succeeded",
                None,
                json!({"id": "pi_1", "amount": 2500, "amount_received": 2000, "currency": "usd"})
            ),
            EventKind::PaymentSucceeded {
                payment_intent: PaymentIntentId::parse("pi_1").unwrap(),
                amount: Money::new(2000, Currency::USD),
            }
        );
        assert_eq!(
            kind(
                "payment_intent.payment_failed",
                None,
                json!({"id": "pi_1", "last_payment_error": {"code": "card_declined"}})
            ),
            EventKind::PaymentFailed {
                payment_intent: PaymentIntentId::parse("pi_1").unwrap(),
                code: Some("card_declined".to_owned()),
            }
        );
        assert_eq!(
            kind(
                "charge.refunded",
                None,
                json!({"id": "ch_1", "payment_intent": "pi_1", "amount_refunded": 700, "currency": "usd"})
            ),
            EventKind::ChargeRefunded {
                payment_intent: Some(PaymentIntentId::parse("pi_1").unwrap()),
                charge: "ch_1".to_owned(),
                amount_refunded: Money::new(700, Currency::USD),
            }
        );
        let k = kind(
            "charge.dispute.created",
            None,
            json!({"id": "dp_1", "payment_intent": {"id": "pi_1"}, "amount": 900, "currency": "usd",
                   "reason": "fraudulent", "status": "needs_response", "evidence_details": {"due_by": NOW}}),
        );
        let EventKind::Dispute(d) = k else {
            panic!("{k:?}")
        };
        assert_eq!(
            d.payment_intent.map(|p| p.to_string()).as_deref(),
            Some("pi_1")
        );
        assert_eq!(d.evidence_due_by, Some(at(NOW)));
        assert_eq!(d.status, "needs_response");
    }

    #[test]
    fn promotion_code_sales_and_updates() {
        let k = kind(
            "checkout.session.completed",
            Some("acct_m"),
            json!({"id": "cs_1", "amount_total": 8000, "currency": "usd", "customer": "cus_1",
                   "payment_intent": "pi_1", "discounts": [{"coupon": "c1", "promotion_code": "promo_1"}]}),
        );
        let EventKind::PromotionCodeSale(s) = k else {
            panic!("{k:?}")
        };
        assert_eq!(s.external_id, "cs_1");
        assert_eq!(s.promotion_code.as_str(), "promo_1");
        assert_eq!(s.amount, Money::new(8000, Currency::USD));
        assert_eq!(s.customer.as_deref(), Some("cus_1"));
        let k = kind(
            "checkout.session.completed",
            None,
            json!({"id": "cs_2", "amount_total": 100, "currency": "usd",
                   "total_details": {"breakdown": {"discounts": [{"amount": 20, "discount": {"promotion_code": {"id": "promo_2"}}}]}}}),
        );
        assert!(
            matches!(k, EventKind::PromotionCodeSale(ref s) if s.promotion_code.as_str() == "promo_2")
        );
        assert_eq!(
            kind(
                "checkout.session.completed",
                None,
                json!({"id": "cs_3", "amount_total": 100, "currency": "usd", "discounts": []})
            ),
            EventKind::Ignored
        );
        let k = kind(
            "invoice.paid",
            None,
            json!({"id": "in_1", "amount_paid": 4500, "currency": "usd", "customer": "cus_1",
                   "discount": {"promotion_code": "promo_3"}}),
        );
        assert!(
            matches!(k, EventKind::PromotionCodeSale(ref s) if s.promotion_code.as_str() == "promo_3" && s.amount.amount_minor() == 4500)
        );
        let k = kind(
            "invoice.paid",
            None,
            json!({"id": "in_2", "amount_paid": 10, "currency": "usd", "discounts": ["di_1", {"id": "di_2", "promotion_code": "promo_4"}]}),
        );
        assert!(
            matches!(k, EventKind::PromotionCodeSale(ref s) if s.promotion_code.as_str() == "promo_4")
        );
        assert_eq!(
            kind(
                "invoice.paid",
                None,
                json!({"id": "in_3", "amount_paid": 10, "currency": "usd", "discounts": ["di_1"]})
            ),
            EventKind::Ignored
        );
        assert_eq!(
            kind(
                "promotion_code.updated",
                None,
                json!({"id": "promo_1", "active": false})
            ),
            EventKind::PromotionCodeUpdated {
                promotion_code: PromotionCodeId::parse("promo_1").unwrap(),
                active: false
            }
        );
    }

    #[test]
    fn unknown_types_are_ignored_and_malformed_known_ones_name_the_field() {
        assert_eq!(
            kind("customer.created", None, json!({"id": "cus_1"})),
            EventKind::Ignored
        );
        assert_eq!(
            kind("some.future.event", None, json!({"weird": [1, 2]})),
            EventKind::Ignored
        );
        let err = parse_event(&event(
            "transfer.reversed",
            None,
            json!({"id": "tr_1", "currency": "usd"}),
        ))
        .unwrap_err();
        assert_eq!(
            err,
            EventParseError::Field {
                event_type: "transfer.reversed".to_owned(),
                field: "data.object.amount_reversed".to_owned(),
                problem: "is missing".to_owned(),
            }
        );
        let err = parse_event(&event(
            "account.updated",
            None,
            json!({"id": "acct_1", "details_submitted": "yes"}),
        ))
        .unwrap_err();
        assert!(
            err.to_string().contains("data.object.details_submitted"),
            "{err}"
        );
        let err = parse_event(&event(
            "payout.paid",
            Some("acct_1"),
            json!({"id": "po_1", "amount": 5, "currency": "zzz", "status": "paid"}),
        ))
        .unwrap_err();
        assert!(err.to_string().contains("data.object.currency"), "{err}");
        assert!(matches!(
            parse_event(b"not json"),
            Err(EventParseError::NotJson(_))
        ));
        let err = parse_event(br#"{"id":"evt_1","type":"x","created":1}"#).unwrap_err();
        assert!(err.to_string().contains("data.object"), "{err}");
    }
}
