//! Control-plane types and operations (`/_sandbox/...` and the handle methods).
//!
//! The HTTP control API and the Rust methods on [`crate::SandboxHandle`] call
//! the same functions here, so in-process tests and external drivers see the
//! same behaviour.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ApiError, ErrorType};
use crate::state::{BalanceAmounts, Metadata};

/// Any failure of a control operation or of starting the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The spec could not be loaded.
    #[error(transparent)]
    Spec(#[from] crate::spec::SpecError),
    /// Binding or serving failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    /// The webhook HTTP client could not be built.
    #[error("http client: {0}")]
    Http(String),
    /// A Stripe-level rule refused the operation (e.g. unknown charge).
    #[error("{}", .0.message)]
    Stripe(ApiError),
    /// A control argument was invalid.
    #[error("{0}")]
    Invalid(String),
}

impl From<ApiError> for SandboxError {
    fn from(e: ApiError) -> Self {
        Self::Stripe(e)
    }
}

/// Artificial latency for every `/v1` and `/oauth` request.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Latency {
    /// Always added, in milliseconds.
    #[serde(default)]
    pub fixed_ms: u64,
    /// Uniformly random extra in `0..=jitter_ms` milliseconds.
    #[serde(default)]
    pub jitter_ms: u64,
}

/// Request budget per second of real time (`null` disables).
///
/// A token bucket, the model Stripe describes for its own request rate
/// limiter: it holds `per_second` tokens, starts full and refills at
/// `per_second` a second; a request takes one, and a request finding none
/// gets 429 `rate_limit`. So a client may burst `per_second` requests at
/// once, and after that send `per_second` a second indefinitely.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per second (and the burst); more get 429
    /// `rate_limit`. 0 refuses every request.
    pub per_second: Option<u32>,
}

/// What an injected fault does to a matching request.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// Answer with the given Stripe error without executing the request.
    Fail,
    /// Execute and save the request (idempotency key included), then abort
    /// the connection so that the client sees a transport error.
    CommitThenDrop,
    /// Abort the connection without executing the request.
    Reset,
}

/// A fault rule: the next `count` requests that match are affected.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct FaultSpec {
    /// Effect of the fault.
    pub kind: FaultKind,
    /// `GET`/`POST`/`DELETE`; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// Path prefix such as `/v1/transfers` (any path when empty).
    #[serde(default)]
    pub path_prefix: String,
    /// Substring that must occur in the path, the decoded query or the
    /// decoded form body (`metadata[item_id]=it_1`).
    #[serde(default)]
    pub contains: Option<String>,
    /// How many matching requests to affect (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// HTTP status for `fail` (default 500).
    #[serde(default)]
    pub status: Option<u16>,
    /// Stripe error `type` for `fail` (default `api_error` for 5xx, else `invalid_request_error`).
    #[serde(default, rename = "type")]
    pub error_type: Option<ErrorType>,
    /// Stripe error `code` for `fail`.
    #[serde(default)]
    pub code: Option<String>,
    /// Error message for `fail`.
    #[serde(default)]
    pub message: Option<String>,
}

fn one() -> u32 {
    1
}

impl FaultSpec {
    /// A `fail` rule for `count` requests under `path_prefix`.
    #[must_use]
    pub fn fail(
        path_prefix: &str,
        count: u32,
        status: u16,
        error_type: ErrorType,
        code: &str,
    ) -> Self {
        Self {
            kind: FaultKind::Fail,
            method: None,
            path_prefix: path_prefix.to_owned(),
            contains: None,
            count,
            status: Some(status),
            error_type: Some(error_type),
            code: Some(code.to_owned()),
            message: None,
        }
    }

    /// A `commit_then_drop` rule.
    #[must_use]
    pub fn commit_then_drop(path_prefix: &str, count: u32) -> Self {
        Self {
            kind: FaultKind::CommitThenDrop,
            ..Self::fail(path_prefix, count, 500, ErrorType::ApiError, "")
        }
    }

    /// A `reset` rule.
    #[must_use]
    pub fn reset(path_prefix: &str, count: u32) -> Self {
        Self {
            kind: FaultKind::Reset,
            ..Self::fail(path_prefix, count, 500, ErrorType::ApiError, "")
        }
    }

    /// Restricts the rule to one method.
    #[must_use]
    pub fn with_method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Restricts the rule to requests containing `needle`.
    #[must_use]
    pub fn with_contains(mut self, needle: &str) -> Self {
        self.contains = Some(needle.to_owned());
        self
    }

    pub(crate) fn matches(&self, method: &str, path: &str, haystack: &str) -> bool {
        self.method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method))
            && path.starts_with(&self.path_prefix)
            && self
                .contains
                .as_deref()
                .is_none_or(|c| path.contains(c) || haystack.contains(c))
    }

    pub(crate) fn error(&self) -> ApiError {
        let status = self.status.unwrap_or(500);
        let kind = self.error_type.unwrap_or(if status >= 500 {
            ErrorType::ApiError
        } else {
            ErrorType::InvalidRequestError
        });
        ApiError {
            status,
            kind,
            code: self.code.clone().filter(|c| !c.is_empty()),
            message: self
                .message
                .clone()
                .unwrap_or_else(|| "Injected by stripe-sandbox fault rule.".to_owned()),
            param: None,
            decline_code: None,
        }
    }
}

/// A fault rule with its id and remaining count.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ActiveFault {
    /// Id returned when the rule was added.
    pub id: u64,
    /// Remaining matching requests to affect.
    pub remaining: u32,
    /// The rule.
    pub spec: FaultSpec,
}

/// Body of `POST /_sandbox/balances`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetBalance {
    /// Account id; the platform when absent.
    #[serde(default)]
    pub account: Option<String>,
    /// Lower-case ISO currency.
    pub currency: String,
    /// Available minor units.
    #[serde(default)]
    pub available: i64,
    /// Pending minor units.
    #[serde(default)]
    pub pending: i64,
}

/// Body of `POST /_sandbox/webhooks/send`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct SendWebhook {
    /// Event type, e.g. `payout.paid`.
    #[serde(rename = "type")]
    pub event_type: String,
    /// Connected account the event belongs to (`event.account`).
    #[serde(default)]
    pub account: Option<String>,
    /// `{"object": {...}}`.
    #[serde(default)]
    pub data: WebhookData,
}

/// The `data` of an event.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct WebhookData {
    /// The event's object.
    #[serde(default)]
    pub object: Value,
}

/// Query of `GET /_sandbox/ledger`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only transfers created under this idempotency key.
    #[serde(default)]
    pub idempotency_key: Option<String>,
    /// Only transfers whose metadata `item_id` (or `item`) equals this.
    #[serde(default)]
    pub item_id: Option<String>,
}

/// One transfer as the ledger shows it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct LedgerEntry {
    /// `tr_…`.
    pub transfer_id: String,
    /// Idempotency key of the creating request.
    pub idempotency_key: Option<String>,
    /// Metadata `item_id` (or `item`).
    pub item_id: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Destination account.
    pub destination: String,
    /// Account the funds came from (platform or `Stripe-Account`).
    pub source_account: String,
    /// Reversed minor units.
    pub amount_reversed: i64,
    /// Fully reversed.
    pub reversed: bool,
    /// `transfer_group`.
    pub transfer_group: Option<String>,
    /// Charge the transfer came from (destination charges).
    pub source_transaction: Option<String>,
    /// All metadata.
    pub metadata: Metadata,
    /// Sandbox-clock creation time.
    pub created: i64,
}

/// `GET /_sandbox/ledger` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Ledger {
    /// Number of transfers listed.
    pub count: usize,
    /// How many of them have any reversal.
    pub reversed_count: usize,
    /// Sum of amounts per currency.
    pub totals_by_currency: BTreeMap<String, i64>,
    /// Transfers per `item_id`: a count above 1 is a duplicate payout.
    pub counts_by_item_id: BTreeMap<String, usize>,
    /// Transfers, oldest first.
    pub transfers: Vec<LedgerEntry>,
}

/// A registered OAuth authorization code.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthCodeGrant {
    /// `ac_…`, to exchange at `POST /oauth/token`.
    pub code: String,
    /// Account the code connects; a fresh standard account is created at
    /// exchange time when absent.
    pub account: Option<String>,
}

/// Body of `POST /_sandbox/disputes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct CreateDispute {
    /// Disputed charge.
    pub charge: String,
    /// Disputed minor units (the unrefunded amount when absent).
    #[serde(default)]
    pub amount: Option<i64>,
    /// Stripe dispute reason (default `fraudulent`).
    #[serde(default)]
    pub reason: Option<String>,
}

/// The rate limit's token bucket, in its "generic cell rate algorithm"
/// form: `tat` is when the bucket would be full again.
#[derive(Debug)]
pub(crate) struct RateBucket {
    /// Time for one token to refill.
    interval: Duration,
    /// How far ahead of `now` the bucket may be drawn: `per_second - 1` intervals.
    burst: Duration,
    tat: Instant,
    /// A limit of 0: nothing is admitted.
    closed: bool,
}

impl RateBucket {
    /// A full bucket of `per_second` tokens at `now` (0: a closed one).
    pub(crate) fn new(per_second: u32, now: Instant) -> Self {
        let closed = per_second == 0;
        let per_second = per_second.max(1);
        let interval = Duration::from_secs(1) / per_second;
        RateBucket {
            interval,
            burst: interval.saturating_mul(per_second.saturating_sub(1)),
            tat: now,
            closed,
        }
    }

    /// Whether a token could be taken at `now` (nothing is taken).
    pub(crate) fn would_admit(&self, now: Instant) -> bool {
        !self.closed && self.tat.max(now).saturating_duration_since(now) <= self.burst
    }

    /// Takes a token at `now`; `false` (and nothing taken) when there is none.
    pub(crate) fn admit(&mut self, now: Instant) -> bool {
        if self.closed {
            return false;
        }
        let tat = self.tat.max(now);
        if tat.saturating_duration_since(now) > self.burst {
            return false;
        }
        self.tat = tat + self.interval;
        true
    }
}

#[cfg(test)]
mod rate_tests {
    use super::*;

    #[test]
    fn a_full_bucket_then_the_refill_rate() {
        let start = Instant::now();
        let mut bucket = RateBucket::new(4, start);
        let burst: Vec<bool> = (0..5).map(|_| bucket.admit(start)).collect();
        assert_eq!(burst, [true, true, true, true, false]);
        // One token a quarter second later, not two.
        let later = start + Duration::from_millis(250);
        assert!(bucket.admit(later));
        assert!(!bucket.admit(later));
        // Requests spaced at the rate are all admitted.
        for i in 2..40_u32 {
            assert!(bucket.admit(start + Duration::from_millis(250) * i), "{i}");
        }
        // A long pause refills it to the burst, no more.
        let idle = start + Duration::from_secs(60);
        assert_eq!((0..6).filter(|_| bucket.admit(idle)).count(), 4);
        let mut closed = RateBucket::new(0, start);
        assert!(!closed.admit(start + Duration::from_secs(5)));
    }
}

/// A `/v1` request the spec validator refused (a 400 such as
/// `parameter_unknown`): what clients assert never happens to them.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ValidationFailure {
    /// `GET`, `POST` or `DELETE`.
    pub method: String,
    /// The request path, e.g. `/v1/transfers`.
    pub path: String,
    /// Stripe's error code, when it sends one (`parameter_unknown`, …).
    pub code: Option<String>,
    /// The offending parameter in bracket notation.
    pub param: Option<String>,
    /// The error message sent back.
    pub message: String,
}

/// Balance snapshot returned by the control API.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BalanceSnapshot {
    /// Account id.
    pub account: String,
    /// Currency.
    pub currency: String,
    /// Amounts.
    #[serde(flatten)]
    pub amounts: BalanceAmounts,
}
