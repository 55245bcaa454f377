//! `POST /webhooks/stripe`: the raw body, verified with the configured
//! signing secrets (rotation: several are tried), parsed into a domain
//! event and handed to the engine, which processes each event id once.
//!
//! Stripe retries anything but 2xx, so: a bad signature is 400 (never
//! retried into success), a verified event the rules do not use is 200, and
//! a failure while acting is 503 so that Stripe delivers it again.

use actix_web::{HttpRequest, HttpResponse, post, web};
use payouts_domain::DomainError;
use payouts_domain::engine::EventOutcome;
use serde::Serialize;
use utoipa::ToSchema;

use crate::error::ApiError;
use crate::state::AppState;

/// Registers the webhook route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(stripe_webhook);
}

/// The acknowledgement.
#[derive(Debug, Serialize, ToSchema)]
pub struct Received {
    /// Always true.
    pub received: bool,
    /// The event id.
    pub id: String,
    /// The event type.
    pub event_type: String,
    /// `applied`, `duplicate`, `ignored` or `rejected` (refused by the rules; not retried).
    pub outcome: String,
    /// What was done or why nothing was.
    pub detail: String,
}

/// Stripe webhook intake. No bearer token: the `Stripe-Signature` header
/// (HMAC-SHA256 over the raw body, 5-minute tolerance) authenticates it.
/// Events: `account.application.deauthorized` (probation),
/// `account.updated` (onboarding or connection status),
/// `checkout.session.completed` / `invoice.paid` with a promotion code (a
/// conversion), `charge.refunded` (commission adjustment),
/// `transfer.reversed` (item reversed), `payout.paid` / `payout.failed`
/// (payout history), `charge.dispute.*` (dispute records). Others are
/// acknowledged and ignored. A repeated event id is processed once.
#[utoipa::path(post, path = "/webhooks/stripe", tag = "webhooks",
    request_body(content = Object, description = "Stripe's event JSON, byte for byte"),
    params(("Stripe-Signature" = String, Header, description = "t=…,v1=…")),
    responses((status = 200, body = Received), (status = 400, description = "bad signature or payload"),
        (status = 413, description = "`payload_too_large`: over 64 KiB"),
        (status = 503, description = "processing failed; Stripe will retry")))]
#[post("/webhooks/stripe")]
pub async fn stripe_webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    crate::extract::RawBody(body): crate::extract::RawBody,
) -> Result<HttpResponse, ApiError> {
    let signature = req
        .headers()
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok());
    let event = state
        .engine
        .verify_event(signature, &body)
        .map_err(|e| ApiError::validation("Stripe-Signature", e.to_string()))?;
    let (outcome, detail) = match state.engine.handle_event(&event).await {
        Ok(EventOutcome::Applied { action }) => ("applied", action.to_owned()),
        Ok(EventOutcome::Duplicate) => ("duplicate", "already processed".to_owned()),
        Ok(EventOutcome::Ignored { reason }) => ("ignored", reason),
        // The rules refuse it (an inactive coupon, a refund above the
        // sale, an archived program): retrying cannot change that, so it
        // is acknowledged, and logged for a person.
        Err(
            e @ (DomainError::Validation { .. }
            | DomainError::NotFound { .. }
            | DomainError::Duplicate { .. }
            | DomainError::Transition(_)
            | DomainError::Blocked(_)
            | DomainError::Money(_)),
        ) => {
            tracing::warn!(event = %event.id, event_type = %event.event_type, error = %e, "webhook refused by the rules");
            ("rejected", e.to_string())
        }
        // A store or Stripe outage, or a concurrent change: Stripe retries.
        Err(
            e @ (DomainError::Unavailable(_)
            | DomainError::Conflict { .. }
            | DomainError::Gateway(_)),
        ) => {
            tracing::warn!(event = %event.id, event_type = %event.event_type, error = %e, "webhook processing failed; Stripe will retry");
            return Err(ApiError::Unavailable(format!(
                "could not process {}: {e}",
                event.id
            )));
        }
    };
    tracing::info!(event = %event.id, event_type = %event.event_type, outcome, "webhook");
    Ok(HttpResponse::Ok().json(Received {
        received: true,
        id: event.id.to_string(),
        event_type: event.event_type.clone(),
        outcome: outcome.to_owned(),
        detail,
    }))
}
