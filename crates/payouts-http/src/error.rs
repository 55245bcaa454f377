//! The one place domain errors become HTTP answers.
//!
//! Bodies have Stripe's shape, `{"error":{"type","code","message","param"}}`,
//! with seed 002's codes and statuses plus our own. The mapping from
//! [`DomainError`] is an exhaustive `match`; a 5xx body is opaque and the
//! cause is logged instead.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use payouts_domain::ports::{FailureKind, GatewayError};
use payouts_domain::{Blocked, DomainError};
use serde::Serialize;

/// An error answer. Each variant documents its status and `code`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApiError {
    /// 400 `validation_error`: input breaks a rule; nothing changed.
    #[error("{message}")]
    Validation {
        /// What is wrong.
        message: String,
        /// The field at fault, when there is one.
        param: Option<String>,
    },
    /// 400 `invalid_json`: the body is not the JSON the route expects.
    #[error("{0}")]
    InvalidJson(String),
    /// 413 `payload_too_large`: the body exceeds the route's limit.
    #[error("the request body is too large")]
    PayloadTooLarge,
    /// 401 `unauthorized`: missing, expired or forged token.
    #[error("{0}")]
    Unauthorized(String),
    /// 403 `forbidden`: the token's roles do not allow this route.
    #[error("this role may not do that")]
    Forbidden,
    /// 404 `not_found`: no such object, or not the caller's to see.
    #[error("{0} not found")]
    NotFound(String),
    /// 405 `method_not_allowed`: the path exists for other methods.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409 `conflict`: a concurrent change won; reload and retry.
    #[error("{0}")]
    Conflict(String),
    /// 409 `duplicate`: a unique key is taken.
    #[error("{0}")]
    Duplicate(String),
    /// 409 `invalid_state`: the object's state does not allow this.
    #[error("{0}")]
    InvalidState(String),
    /// 409 `payouts_blocked`: probation, archive, a hold, or no connection.
    #[error("{0}")]
    Blocked(Blocked),
    /// 409 `idempotency_conflict`: the key was used with another body, or
    /// its first request is still running.
    #[error("{0}")]
    IdempotencyConflict(String),
    /// 429 `rate_limited`.
    #[error("too many requests")]
    RateLimited,
    /// Seed 002's Stripe-derived codes: 400 `insufficient_balance`,
    /// 400 `account_inactive`, 401 `account_not_onboarded`,
    /// 404 `account_not_found`, 400 `invalid_account_type`,
    /// 409 `payout_in_progress`.
    #[error("{message}")]
    Stripe {
        /// The status.
        status: u16,
        /// The code.
        code: &'static str,
        /// Stripe's message (never a secret).
        message: String,
    },
    /// 503 `service_unavailable`: a backend is down; retry later. Opaque.
    /// Stripe refused the request (a 4xx it answered with an error body):
    /// 400 for `invalid_request_error`, 402 for `card_error`, with Stripe's
    /// code, param and message as it gave them.
    #[error("{message}")]
    StripeRefused {
        /// 400 or 402.
        status: u16,
        /// Stripe's code.
        code: String,
        /// Stripe's message.
        message: String,
        /// Stripe's param.
        param: Option<String>,
    },
    /// Stripe failed, timed out or its answer is unknown: 502, opaque.
    #[error("stripe unavailable: {0}")]
    StripeUnavailable(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// 500 `internal_error`: a bug. Opaque.
    #[error("internal error: {0}")]
    Internal(String),
}

/// Every error answer's body, Stripe's shape. The OpenAPI document
/// declares it as every operation's error response, and it is what
/// [`ApiError::body`] serializes, so the two cannot disagree.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// The `error` object.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// `invalid_request_error`, `authentication_error`, `card_error`,
    /// `idempotency_error`, `rate_limit_error` or `api_error`.
    #[serde(rename = "type")]
    #[schema(example = "invalid_request_error")]
    pub kind: String,
    /// A machine-readable code, e.g. `validation_error`, `not_found`.
    #[schema(example = "validation_error")]
    pub code: String,
    /// A message for a person.
    pub message: String,
    /// The parameter at fault, when there is one.
    pub param: Option<String>,
}

impl ApiError {
    /// A validation error on `param`.
    pub fn validation(param: impl Into<String>, message: impl Into<String>) -> Self {
        ApiError::Validation {
            message: message.into(),
            param: Some(param.into()),
        }
    }

    /// The `code` of the body.
    pub fn code(&self) -> &str {
        match self {
            ApiError::Validation { .. } => "validation_error",
            ApiError::InvalidJson(_) => "invalid_json",
            ApiError::PayloadTooLarge => "payload_too_large",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Duplicate(_) => "duplicate",
            ApiError::InvalidState(_) => "invalid_state",
            ApiError::Blocked(_) => "payouts_blocked",
            ApiError::IdempotencyConflict(_) => "idempotency_conflict",
            ApiError::RateLimited => "rate_limited",
            ApiError::Stripe { code, .. } => code,
            ApiError::StripeRefused { code, .. } => code,
            ApiError::StripeUnavailable(_) => "stripe_unavailable",
            ApiError::Unavailable(_) => "service_unavailable",
            ApiError::Internal(_) => "internal_error",
        }
    }

    /// Stripe's error `type` for the body.
    fn kind(&self) -> &'static str {
        match self {
            ApiError::Unauthorized(_) => "authentication_error",
            ApiError::RateLimited => "rate_limit_error",
            ApiError::IdempotencyConflict(_) => "idempotency_error",
            ApiError::Unavailable(_) | ApiError::Internal(_) | ApiError::StripeUnavailable(_) => {
                "api_error"
            }
            ApiError::StripeRefused { status: 402, .. } => "card_error",
            ApiError::Stripe { status, .. } if *status >= 500 => "api_error",
            ApiError::Validation { .. }
            | ApiError::InvalidJson(_)
            | ApiError::PayloadTooLarge
            | ApiError::Forbidden
            | ApiError::NotFound(_)
            | ApiError::MethodNotAllowed(_)
            | ApiError::Conflict(_)
            | ApiError::Duplicate(_)
            | ApiError::InvalidState(_)
            | ApiError::Blocked(_)
            | ApiError::Stripe { .. }
            | ApiError::StripeRefused { .. } => "invalid_request_error",
        }
    }

    fn param(&self) -> Option<&str> {
        match self {
            ApiError::Validation { param, .. } | ApiError::StripeRefused { param, .. } => {
                param.as_deref()
            }
            _ => None,
        }
    }

    /// The body, as JSON.
    pub fn body(&self) -> serde_json::Value {
        let message = match self {
            // Opaque: the cause is logged, not sent.
            ApiError::Internal(_) => "An internal error occurred.".to_owned(),
            ApiError::Unavailable(_) => {
                "The service is temporarily unavailable; retry later.".to_owned()
            }
            ApiError::StripeUnavailable(_) => {
                "Stripe did not answer, or its answer is unknown; retry later with the same Idempotency-Key.".to_owned()
            }
            other => other.to_string(),
        };
        serde_json::to_value(ErrorBody {
            error: ErrorDetail {
                kind: self.kind().to_owned(),
                code: self.code().to_owned(),
                message,
                param: self.param().map(str::to_owned),
            },
        })
        .unwrap_or(serde_json::Value::Null)
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        let status = match self {
            ApiError::Validation { .. } | ApiError::InvalidJson(_) => 400,
            ApiError::PayloadTooLarge => 413,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden => 403,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed(_) => 405,
            ApiError::Conflict(_)
            | ApiError::Duplicate(_)
            | ApiError::InvalidState(_)
            | ApiError::Blocked(_)
            | ApiError::IdempotencyConflict(_) => 409,
            ApiError::RateLimited => 429,
            ApiError::Stripe { status, .. } | ApiError::StripeRefused { status, .. } => *status,
            ApiError::StripeUnavailable(_) => 502,
            ApiError::Unavailable(_) => 503,
            ApiError::Internal(_) => 500,
        };
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        if status.is_server_error() {
            tracing::error!(code = self.code(), error = %self, "request failed");
        }
        HttpResponse::build(status).json(self.body())
    }
}

/// Stripe's answers: a refusal is the caller's to fix and is shown as
/// Stripe gave it (400, or 402 for a card error); a rate limit stays 429;
/// only Stripe's 5xx, timeouts and unknown outcomes become 502, opaque.
impl From<GatewayError> for ApiError {
    fn from(e: GatewayError) -> Self {
        let (status, code) = match e.kind {
            FailureKind::RateLimited => return ApiError::RateLimited,
            FailureKind::IdempotencyMismatch => {
                return ApiError::IdempotencyConflict(e.message);
            }
            FailureKind::Ambiguous => return ApiError::StripeUnavailable(e.message),
            FailureKind::InsufficientBalance => (400, "insufficient_balance"),
            FailureKind::AccountInactive => (400, "account_inactive"),
            FailureKind::CannotReceive => (400, "account_not_onboarded"),
            FailureKind::NotFound => (404, "resource_missing"),
            FailureKind::InvalidRequest => (400, "invalid_request"),
        };
        match e.refusal {
            Some(refusal) => ApiError::StripeRefused {
                status: if refusal.card_error { 402 } else { status },
                code: e.code.unwrap_or_else(|| code.to_owned()),
                message: refusal.message,
                param: refusal.param,
            },
            // Our own classification of an answer without Stripe's words.
            None => ApiError::StripeRefused {
                status,
                code: e.code.unwrap_or_else(|| code.to_owned()),
                message: e.message,
                param: None,
            },
        }
    }
}

impl From<DomainError> for ApiError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::Validation { field, message } => ApiError::Validation {
                message,
                param: Some(field),
            },
            // Seed 002's code for a connected account that is not the caller's.
            DomainError::NotFound {
                entity: "account",
                id,
            } => ApiError::Stripe {
                status: 404,
                code: "account_not_found",
                message: format!("no such account: {id}"),
            },
            DomainError::NotFound { entity, .. } => ApiError::NotFound(entity.to_owned()),
            DomainError::Duplicate { entity, key } => {
                ApiError::Duplicate(format!("{entity} {key} already exists"))
            }
            DomainError::Conflict { entity, id, .. } => ApiError::Conflict(format!(
                "{entity} {id} changed concurrently; reload and retry"
            )),
            DomainError::Transition(t) => ApiError::InvalidState(t.to_string()),
            DomainError::Blocked(Blocked::NotOnboarded(account)) => ApiError::Stripe {
                status: 401,
                code: "account_not_onboarded",
                message: format!("account {account} has not finished onboarding"),
            },
            DomainError::Blocked(b) => ApiError::Blocked(b),
            DomainError::Money(m) => ApiError::Validation {
                message: m.to_string(),
                param: Some("amount".to_owned()),
            },
            DomainError::Gateway(g) => g.into(),
            DomainError::Unavailable(m) => ApiError::Unavailable(m),
        }
    }
}

impl From<payouts_domain::ids::IdError> for ApiError {
    fn from(e: payouts_domain::ids::IdError) -> Self {
        ApiError::Validation {
            message: e.to_string(),
            param: Some(e.kind.to_owned()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use payouts_domain::error::TransitionError;

    fn shape(e: ApiError) -> (u16, serde_json::Value) {
        (e.status_code().as_u16(), e.body())
    }

    #[test]
    fn validation_errors_name_their_param() {
        insta::assert_json_snapshot!(shape(DomainError::validation("currency", "the program pays in USD").into()), @r#"
        [
          400,
          {
            "error": {
              "code": "validation_error",
              "message": "the program pays in USD",
              "param": "currency",
              "type": "invalid_request_error"
            }
          }
        ]
        "#);
    }

    #[test]
    fn server_errors_are_opaque() {
        let (status, body) =
            shape(DomainError::Unavailable("db at 10.0.0.5 refused: password".into()).into());
        assert_eq!(status, 503);
        assert!(!body.to_string().contains("password"));
        insta::assert_json_snapshot!(shape(ApiError::Internal("panic in handler".into())), @r#"
        [
          500,
          {
            "error": {
              "code": "internal_error",
              "message": "An internal error occurred.",
              "param": null,
              "type": "api_error"
            }
          }
        ]
        "#);
    }

    #[test]
    fn stripe_failures_keep_stripes_code_and_only_unknown_outcomes_are_502() {
        let g = |kind| DomainError::Gateway(GatewayError::new(kind, None, "from stripe"));
        let cases = [
            (
                FailureKind::InsufficientBalance,
                400,
                "insufficient_balance",
            ),
            (FailureKind::AccountInactive, 400, "account_inactive"),
            (FailureKind::CannotReceive, 400, "account_not_onboarded"),
            (FailureKind::NotFound, 404, "resource_missing"),
            (FailureKind::RateLimited, 429, "rate_limited"),
            (
                FailureKind::IdempotencyMismatch,
                409,
                "idempotency_conflict",
            ),
            (FailureKind::Ambiguous, 502, "stripe_unavailable"),
            (FailureKind::InvalidRequest, 400, "invalid_request"),
        ];
        for (kind, status, code) in cases {
            let e: ApiError = g(kind).into();
            assert_eq!(
                (e.status_code().as_u16(), e.code()),
                (status, code),
                "{kind:?}"
            );
        }
        // A 502 says nothing of what Stripe said.
        let (_, body) = shape(g(FailureKind::Ambiguous).into());
        assert!(!body.to_string().contains("from stripe"));
    }

    #[test]
    fn stripe_refusals_are_shown_as_stripe_gave_them() {
        use payouts_domain::ports::StripeRefusal;
        let refused = |card_error| {
            DomainError::Gateway(
                GatewayError::new(
                    FailureKind::InvalidRequest,
                    Some("payment_intent_unexpected_state"),
                    "HTTP 400: … [request req_1]",
                )
                .refused(StripeRefusal {
                    card_error,
                    param: Some("amount_to_capture".to_owned()),
                    message: "This PaymentIntent could not be captured.".to_owned(),
                }),
            )
        };
        insta::assert_json_snapshot!(shape(refused(false).into()), @r#"
        [
          400,
          {
            "error": {
              "code": "payment_intent_unexpected_state",
              "message": "This PaymentIntent could not be captured.",
              "param": "amount_to_capture",
              "type": "invalid_request_error"
            }
          }
        ]
        "#);
        let (status, body) = shape(refused(true).into());
        assert_eq!(status, 402);
        assert_eq!(body["error"]["type"], "card_error");
    }

    #[test]
    fn state_errors_are_conflicts() {
        let t: ApiError = DomainError::Transition(TransitionError {
            entity: "payout item",
            from: "posted".into(),
            event: "retry".into(),
        })
        .into();
        assert_eq!((t.status_code().as_u16(), t.code()), (409, "invalid_state"));
        let b: ApiError = DomainError::Blocked(Blocked::ProgramArchived).into();
        insta::assert_json_snapshot!(shape(b), @r#"
        [
          409,
          {
            "error": {
              "code": "payouts_blocked",
              "message": "the program is archived",
              "param": null,
              "type": "invalid_request_error"
            }
          }
        ]
        "#);
        let nf: ApiError = DomainError::NotFound {
            entity: "batch",
            id: "x".into(),
        }
        .into();
        assert_eq!((nf.status_code().as_u16(), nf.code()), (404, "not_found"));
        let d: ApiError = DomainError::Duplicate {
            entity: "coupon code",
            key: "SARAH20".into(),
        }
        .into();
        assert_eq!((d.status_code().as_u16(), d.code()), (409, "duplicate"));
    }
}
