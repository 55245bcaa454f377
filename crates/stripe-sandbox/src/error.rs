//! Stripe-shaped API errors.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::validate::ValidationError;

/// Stripe's error `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorType {
    /// `api_error`: something went wrong on Stripe's side (5xx).
    ApiError,
    /// `card_error`: the card was declined (402).
    CardError,
    /// `idempotency_error`: a key was reused with other parameters.
    IdempotencyError,
    /// `invalid_request_error`: everything else.
    InvalidRequestError,
}

impl ErrorType {
    /// The wire name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ApiError => "api_error",
            Self::CardError => "card_error",
            Self::IdempotencyError => "idempotency_error",
            Self::InvalidRequestError => "invalid_request_error",
        }
    }
}

/// An error as Stripe returns it: an HTTP status plus `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status (400, 401, 402, 403, 404, 409, 429, 500).
    pub status: u16,
    /// `type`: `invalid_request_error`, `api_error`, `card_error`, `idempotency_error`.
    pub kind: ErrorType,
    /// `code`, when Stripe has one.
    pub code: Option<String>,
    /// `message`.
    pub message: String,
    /// `param` in bracket notation.
    pub param: Option<String>,
    /// `decline_code` for card errors.
    pub decline_code: Option<String>,
}

impl ApiError {
    /// A 400 `invalid_request_error`.
    #[must_use]
    pub fn invalid(code: Option<&str>, message: impl Into<String>, param: Option<&str>) -> Self {
        Self {
            status: 400,
            kind: ErrorType::InvalidRequestError,
            code: code.map(str::to_owned),
            message: message.into(),
            param: param.map(str::to_owned),
            decline_code: None,
        }
    }

    /// A 404 `resource_missing` for an object id.
    #[must_use]
    pub fn missing(object: &str, id: &str, param: &str) -> Self {
        Self {
            status: 404,
            ..Self::invalid(
                Some("resource_missing"),
                format!("No such {object}: '{id}'"),
                Some(param),
            )
        }
    }

    /// Sets the HTTP status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// The JSON body.
    #[must_use]
    pub fn body(&self) -> Value {
        let mut inner = Map::new();
        inner.insert("type".to_owned(), json!(self.kind.as_str()));
        inner.insert("message".to_owned(), json!(self.message));
        if let Some(code) = &self.code {
            inner.insert("code".to_owned(), json!(code));
            inner.insert(
                "doc_url".to_owned(),
                json!(format!(
                    "https://stripe.com/docs/error-codes/{}",
                    code.replace('_', "-")
                )),
            );
        }
        if let Some(param) = &self.param {
            inner.insert("param".to_owned(), json!(param));
        }
        if let Some(decline) = &self.decline_code {
            inner.insert("decline_code".to_owned(), json!(decline));
        }
        json!({ "error": Value::Object(inner) })
    }

    /// Whether Stripe would tell a client to retry (`Stripe-Should-Retry`).
    #[must_use]
    pub fn should_retry(&self) -> bool {
        self.status == 409 || self.status == 429 || self.status >= 500
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(e.code, e.message, e.param.as_deref())
    }
}
