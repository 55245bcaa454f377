//! # payouts-http
//!
//! The actix-web front end of Payouts: errors in Stripe's shape, JWT bearer
//! auth with roles and tenant scoping, and (as the service grows) the
//! platform API of seed 002, the partner-program API, webhooks, health and
//! metrics, and OpenAPI.
//!
//! It speaks to the rules only through `payouts-domain`; it must not reach
//! into SQL or Stripe wire types itself.

pub mod auth;
pub mod error;

pub use auth::{Claims, JwtSecret, Principal, Role};
pub use error::ApiError;

/// The JSON extractor configuration every route uses: a 64 KiB limit and
/// errors in the API's shape (400 `invalid_json`, 413 `payload_too_large`).
pub fn json_config() -> actix_web::web::JsonConfig {
    actix_web::web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError;
            let api = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
                JsonPayloadError::ContentType => {
                    ApiError::InvalidJson("expected Content-Type: application/json".to_owned())
                }
                other => ApiError::InvalidJson(format!(
                    "the body is not valid JSON for this route: {other}"
                )),
            };
            api.into()
        })
}
