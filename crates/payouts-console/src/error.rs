//! The console's one error type: every failure renders a page in words,
//! with a reference a person can quote and an operator can find in the log.
//! A server error's page says nothing of its cause.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use payouts_domain::DomainError;

use crate::views::{Layout, page};

/// Why a page could not be shown.
#[derive(Debug)]
pub enum ConsoleError {
    /// No session, or it ended: sign in, then come back to `next`.
    SignIn {
        /// The page to return to.
        next: String,
    },
    /// Another merchant's object, or nothing at all: 404.
    NotFound,
    /// The role may not see this page: 403.
    Forbidden,
    /// A form without its CSRF token, or from another origin: 403.
    BadForm,
    /// A value the rules refuse: 400, with the reason.
    Invalid(String),
    /// A state that does not allow it (already approved, payouts blocked): 409.
    Conflict(String),
    /// The store or Stripe failed: 503, opaque.
    Unavailable(String),
}

/// The message a person reads.
impl std::fmt::Display for ConsoleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConsoleError::SignIn { .. } => f.write_str("Please sign in."),
            ConsoleError::NotFound => f.write_str("There is nothing here, or it is not yours."),
            ConsoleError::Forbidden => f.write_str("Your role may not see this page."),
            ConsoleError::BadForm => f.write_str(
                "This form expired or came from another site. Reload the page and try again.",
            ),
            ConsoleError::Invalid(m) | ConsoleError::Conflict(m) => f.write_str(m),
            ConsoleError::Unavailable(_) => {
                f.write_str("The service could not answer just now. Try again in a moment.")
            }
        }
    }
}

impl std::error::Error for ConsoleError {}

impl From<DomainError> for ConsoleError {
    fn from(e: DomainError) -> Self {
        match e {
            DomainError::NotFound { .. } => ConsoleError::NotFound,
            DomainError::Validation { field, message } => {
                ConsoleError::Invalid(format!("{field}: {message}"))
            }
            DomainError::Money(m) => ConsoleError::Invalid(m.to_string()),
            DomainError::Duplicate { entity, key } => {
                ConsoleError::Conflict(format!("{entity} {key} already exists"))
            }
            DomainError::Conflict { entity, .. } => ConsoleError::Conflict(format!(
                "The {entity} changed while you were looking at it. Reload and try again."
            )),
            DomainError::Transition(t) => ConsoleError::Conflict(t.to_string()),
            DomainError::Blocked(b) => ConsoleError::Conflict(b.to_string()),
            DomainError::Gateway(g) => stripe_words(&g),
            DomainError::Unavailable(m) => ConsoleError::Unavailable(m),
        }
    }
}

/// Stripe's answer in words. An ambiguous one (a timeout, a 5xx, a rate
/// limit) is the opaque 503: trying again may help. A refusal is a 409
/// that says what Stripe said and what to do, since trying again will not
/// help.
fn stripe_words(g: &payouts_domain::ports::GatewayError) -> ConsoleError {
    use payouts_domain::ports::FailureKind;
    let said = g
        .refusal
        .as_ref()
        .map_or_else(|| g.message.clone(), |r| r.message.clone());
    match g.kind {
        FailureKind::RateLimited | FailureKind::Ambiguous => {
            ConsoleError::Unavailable(g.to_string())
        }
        FailureKind::AccountInactive => ConsoleError::Conflict(format!(
            "Stripe says the merchant's account is inactive: {said} \
             Finish the account's setup on Stripe, or connect Stripe again, then reload."
        )),
        FailureKind::NotFound => ConsoleError::Conflict(format!(
            "Stripe no longer shows what this page reads: {said} \
             If the merchant connected another Stripe account, the old one's objects are not visible from it."
        )),
        FailureKind::InsufficientBalance
        | FailureKind::CannotReceive
        | FailureKind::IdempotencyMismatch
        | FailureKind::InvalidRequest => {
            ConsoleError::Conflict(format!("Stripe refused the request: {said}"))
        }
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    layout: Layout,
    title: &'a str,
    message: String,
    reference: String,
}

impl ResponseError for ConsoleError {
    fn status_code(&self) -> StatusCode {
        match self {
            ConsoleError::SignIn { .. } => StatusCode::SEE_OTHER,
            ConsoleError::NotFound => StatusCode::NOT_FOUND,
            ConsoleError::Forbidden | ConsoleError::BadForm => StatusCode::FORBIDDEN,
            ConsoleError::Invalid(_) => StatusCode::BAD_REQUEST,
            ConsoleError::Conflict(_) => StatusCode::CONFLICT,
            ConsoleError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let ConsoleError::SignIn { next } = self {
            let location = format!("/signin?next={}", crate::views::url_encode(next));
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish();
        }
        // The request id, so that a person can quote it and an operator
        // can find the request's log lines (they all carry it); a short
        // reference of its own outside a request.
        let reference = payouts_http::request_log::current().unwrap_or_else(|| {
            format!(
                "{:08x}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.subsec_nanos())
            )
        });
        let status = self.status_code();
        if let ConsoleError::Unavailable(cause) = self {
            tracing::error!(%reference, %cause, "console page failed");
        }
        let title = status.canonical_reason().unwrap_or("Error");
        let html = ErrorPage {
            layout: Layout::anonymous(title),
            title,
            message: self.to_string(),
            reference,
        }
        .render()
        .unwrap_or_else(|_| "<!doctype html><title>Error</title><p>Error.</p>".to_owned());
        page(status, html)
    }
}

#[cfg(test)]
mod tests {
    use payouts_domain::ports::{FailureKind, GatewayError};

    use super::*;

    #[test]
    fn stripe_refusals_are_words_and_outages_stay_opaque() {
        let refused = ConsoleError::from(DomainError::Gateway(GatewayError::new(
            FailureKind::AccountInactive,
            Some("account_inactive"),
            "the account acct_1 is inactive.",
        )));
        assert_eq!(refused.status_code(), StatusCode::CONFLICT);
        assert!(
            refused.to_string().contains("acct_1 is inactive"),
            "{refused}"
        );
        let gone = ConsoleError::from(DomainError::Gateway(GatewayError::new(
            FailureKind::NotFound,
            Some("resource_missing"),
            "No such account",
        )));
        assert_eq!(gone.status_code(), StatusCode::CONFLICT);
        let outage = ConsoleError::from(DomainError::Gateway(GatewayError::new(
            FailureKind::Ambiguous,
            None,
            "HTTP 500 from Stripe",
        )));
        assert_eq!(outage.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!outage.to_string().contains("500"), "opaque: {outage}");
    }
}
