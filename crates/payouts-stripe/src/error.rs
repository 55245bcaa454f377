//! Stripe failures, translated into the domain's [`FailureKind`] at the edge.
//!
//! The table (also in `docs/stripe.md`):
//!
//! | Stripe says | [`FailureKind`] |
//! |---|---|
//! | `type: idempotency_error` (same key, other parameters) | `IdempotencyMismatch` (logged as an error) |
//! | 409 `idempotency_key_in_use` | `Ambiguous` |
//! | 429, `rate_limit`, `lock_timeout` | `RateLimited` |
//! | 5xx, timeouts, connection errors, dropped connections | `Ambiguous` |
//! | `balance_insufficient`, `insufficient_funds` | `InsufficientBalance` |
//! | `account_inactive` | `AccountInactive` |
//! | `insufficient_capabilities_for_transfer`, `account_invalid`, `payouts_not_allowed`, `transfers_not_allowed`, `resource_missing` on `destination` | `CannotReceive` |
//! | 404 / `resource_missing` | `NotFound` |
//! | any other 4xx | `InvalidRequest` |

use payouts_domain::ports::{FailureKind, GatewayError, StripeRefusal};
use serde::Deserialize;

/// The `error` object of a Stripe error response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct ApiErrorBody {
    #[serde(rename = "type", default)]
    pub error_type: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
    #[serde(default)]
    pub decline_code: Option<String>,
    #[serde(default)]
    pub param: Option<String>,
    #[serde(default)]
    pub message: Option<String>,
}

#[derive(Deserialize)]
struct Envelope {
    error: ApiErrorBody,
}

impl ApiErrorBody {
    /// Reads `{"error": {...}}`; anything else (an HTML page from a proxy)
    /// yields an empty body, and classification falls back to the status.
    pub(crate) fn parse(bytes: &[u8]) -> Self {
        serde_json::from_slice::<Envelope>(bytes)
            .map(|e| e.error)
            .unwrap_or_default()
    }
}

/// The Stripe codes the rules care about; every other code is `Other`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Code {
    BalanceInsufficient,
    AccountInactive,
    CannotReceive,
    ResourceMissing,
    RateLimit,
    LockTimeout,
    IdempotencyKeyInUse,
    Other,
}

impl Code {
    fn of(code: &str) -> Self {
        match code {
            "balance_insufficient" | "insufficient_funds" => Code::BalanceInsufficient,
            "account_inactive" => Code::AccountInactive,
            "insufficient_capabilities_for_transfer"
            | "account_invalid"
            | "payouts_not_allowed"
            | "transfers_not_allowed" => Code::CannotReceive,
            "resource_missing" => Code::ResourceMissing,
            "rate_limit" => Code::RateLimit,
            "lock_timeout" => Code::LockTimeout,
            "idempotency_key_in_use" => Code::IdempotencyKeyInUse,
            _ => Code::Other,
        }
    }
}

/// Classifies an HTTP error response.
pub(crate) fn classify(status: u16, body: &ApiErrorBody) -> FailureKind {
    if body.error_type.as_deref() == Some("idempotency_error") {
        return FailureKind::IdempotencyMismatch;
    }
    // `decline_code` carries `insufficient_funds` on card errors.
    let code = body
        .code
        .as_deref()
        .map(Code::of)
        .filter(|c| *c != Code::Other)
        .or_else(|| body.decline_code.as_deref().map(Code::of))
        .unwrap_or(Code::Other);
    let on_destination = body.param.as_deref() == Some("destination");
    match (code, status) {
        (Code::IdempotencyKeyInUse, _) => FailureKind::Ambiguous,
        (Code::RateLimit | Code::LockTimeout, _) | (_, 429) => FailureKind::RateLimited,
        (_, 500..) => FailureKind::Ambiguous,
        (Code::BalanceInsufficient, _) => FailureKind::InsufficientBalance,
        (Code::AccountInactive, _) => FailureKind::AccountInactive,
        (Code::CannotReceive, _) => FailureKind::CannotReceive,
        (Code::ResourceMissing, _) if on_destination => FailureKind::CannotReceive,
        (Code::ResourceMissing, _) | (Code::Other, 404) => FailureKind::NotFound,
        // A 409 without a code is still a conflict on Stripe's side: re-send.
        (Code::Other, 409) => FailureKind::Ambiguous,
        (Code::Other, _) => FailureKind::InvalidRequest,
    }
}

/// Builds the domain error of an HTTP error response; an idempotency
/// mismatch is a bug in key derivation, so it is logged loudly.
pub(crate) fn api_error(
    status: u16,
    body: &ApiErrorBody,
    request_id: Option<&str>,
) -> GatewayError {
    let kind = classify(status, body);
    let code = body
        .code
        .clone()
        .or_else(|| body.decline_code.clone())
        .or_else(|| {
            (kind == FailureKind::IdempotencyMismatch).then(|| "idempotency_error".to_owned())
        });
    let mut message = format!(
        "HTTP {status}: {}",
        body.message.as_deref().unwrap_or("no message")
    );
    if let Some(param) = &body.param {
        message.push_str(&format!(" (param {param})"));
    }
    if let Some(id) = request_id {
        message.push_str(&format!(" [request {id}]"));
    }
    if kind == FailureKind::IdempotencyMismatch {
        tracing::error!(
            status,
            request_id,
            message = body.message.as_deref().unwrap_or(""),
            "Stripe refused an idempotency key reused with other parameters: key derivation bug"
        );
    }
    // Stripe's refusal, as it said it, for a 4xx that is the caller's to
    // fix; rate limits and conflicts are ours to retry.
    let refusal =
        (status < 500 && !kind.is_ambiguous() && (body.message.is_some() || body.code.is_some()))
            .then(|| StripeRefusal {
                card_error: body.error_type.as_deref() == Some("card_error"),
                param: body.param.clone(),
                message: body.message.clone().unwrap_or_default(),
            });
    GatewayError {
        kind,
        code,
        message,
        refusal,
    }
}

/// A transport failure (timeout, refused or dropped connection): the
/// request may or may not have been executed.
pub(crate) fn transport_error(err: &reqwest::Error) -> GatewayError {
    let what = if err.is_timeout() {
        "timeout"
    } else if err.is_connect() {
        "connection failed"
    } else {
        "connection dropped"
    };
    GatewayError::new(
        FailureKind::Ambiguous,
        None,
        format!("{what}: {}", without_url(err)),
    )
}

/// A response we could not read: the call may have succeeded.
pub(crate) fn unreadable(what: &str, detail: impl std::fmt::Display) -> GatewayError {
    tracing::error!(%detail, "unreadable Stripe response for {what}");
    GatewayError::new(
        FailureKind::Ambiguous,
        Some("response_unreadable"),
        format!("could not read the {what} in Stripe's response: {detail}"),
    )
}

/// A request refused before it was sent (a value Stripe cannot take).
pub(crate) fn invalid(message: impl Into<String>) -> GatewayError {
    GatewayError::new(FailureKind::InvalidRequest, None, message)
}

/// The error chain, with the URL left out: query strings may carry ids.
fn without_url(err: &reqwest::Error) -> String {
    let mut text = err.to_string();
    if let Some(url) = err.url() {
        text = text.replace(&format!(" ({url})"), "");
    }
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error_type: &str, code: Option<&str>, param: Option<&str>) -> ApiErrorBody {
        ApiErrorBody {
            error_type: Some(error_type.to_owned()),
            code: code.map(str::to_owned),
            decline_code: None,
            param: param.map(str::to_owned),
            message: Some("m".to_owned()),
        }
    }

    const IRE: &str = "invalid_request_error";

    /// status, type, code, param, expected kind.
    type Case<'a> = (u16, &'a str, Option<&'a str>, Option<&'a str>, FailureKind);

    #[test]
    fn the_error_table() {
        let cases: &[Case<'_>] = &[
            (
                400,
                IRE,
                Some("balance_insufficient"),
                None,
                FailureKind::InsufficientBalance,
            ),
            (
                402,
                IRE,
                Some("balance_insufficient"),
                None,
                FailureKind::InsufficientBalance,
            ),
            (
                400,
                IRE,
                Some("insufficient_funds"),
                None,
                FailureKind::InsufficientBalance,
            ),
            (
                400,
                IRE,
                Some("account_inactive"),
                None,
                FailureKind::AccountInactive,
            ),
            (
                400,
                IRE,
                Some("insufficient_capabilities_for_transfer"),
                None,
                FailureKind::CannotReceive,
            ),
            (
                403,
                IRE,
                Some("account_invalid"),
                None,
                FailureKind::CannotReceive,
            ),
            (
                400,
                IRE,
                Some("payouts_not_allowed"),
                None,
                FailureKind::CannotReceive,
            ),
            (
                400,
                IRE,
                Some("resource_missing"),
                Some("destination"),
                FailureKind::CannotReceive,
            ),
            (
                404,
                IRE,
                Some("resource_missing"),
                Some("id"),
                FailureKind::NotFound,
            ),
            (404, IRE, None, None, FailureKind::NotFound),
            (429, IRE, Some("rate_limit"), None, FailureKind::RateLimited),
            (429, IRE, None, None, FailureKind::RateLimited),
            (
                400,
                IRE,
                Some("lock_timeout"),
                None,
                FailureKind::RateLimited,
            ),
            (500, "api_error", None, None, FailureKind::Ambiguous),
            (
                503,
                "api_error",
                Some("balance_insufficient"),
                None,
                FailureKind::Ambiguous,
            ),
            (
                409,
                IRE,
                Some("idempotency_key_in_use"),
                None,
                FailureKind::Ambiguous,
            ),
            (409, IRE, None, None, FailureKind::Ambiguous),
            (
                400,
                "idempotency_error",
                None,
                None,
                FailureKind::IdempotencyMismatch,
            ),
            (
                400,
                IRE,
                Some("parameter_unknown"),
                Some("colour"),
                FailureKind::InvalidRequest,
            ),
            (
                400,
                IRE,
                Some("amount_too_large"),
                Some("amount"),
                FailureKind::InvalidRequest,
            ),
            (401, IRE, None, None, FailureKind::InvalidRequest),
            (
                402,
                "card_error",
                Some("card_declined"),
                None,
                FailureKind::InvalidRequest,
            ),
        ];
        for (status, t, code, param, want) in cases {
            assert_eq!(
                classify(*status, &body(t, *code, *param)),
                *want,
                "{status} {t} {code:?} {param:?}"
            );
        }
    }

    #[test]
    fn decline_code_insufficient_funds_is_a_balance_problem() {
        let mut b = body("card_error", Some("card_declined"), None);
        b.decline_code = Some("insufficient_funds".to_owned());
        assert_eq!(classify(402, &b), FailureKind::InsufficientBalance);
    }

    #[test]
    fn non_json_bodies_fall_back_to_the_status() {
        let b = ApiErrorBody::parse(b"<html>bad gateway</html>");
        assert_eq!(b, ApiErrorBody::default());
        assert_eq!(classify(502, &b), FailureKind::Ambiguous);
        assert_eq!(classify(400, &b), FailureKind::InvalidRequest);
    }

    #[test]
    fn domain_errors_carry_code_param_and_request_id() {
        let e = api_error(
            400,
            &body(IRE, Some("balance_insufficient"), Some("amount")),
            Some("req_1"),
        );
        assert_eq!(e.kind, FailureKind::InsufficientBalance);
        assert_eq!(e.code.as_deref(), Some("balance_insufficient"));
        assert!(e.message.contains("param amount"));
        assert!(e.message.contains("req_1"));
        let e = api_error(400, &body("idempotency_error", None, None), None);
        assert_eq!(e.code.as_deref(), Some("idempotency_error"));
    }
}
