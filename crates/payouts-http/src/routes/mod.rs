//! Every route. Each handler authenticates ([`Principal`]), checks its roles
//! (documented in its OpenAPI entry), scopes the tenant, calls one use case
//! and maps the result; errors are [`ApiError`]s.

pub mod audit;
pub mod batches;
pub mod holds;
pub mod login_links;
pub mod ops;
pub mod outbox;
pub mod partner_reports;
pub mod platform;
pub mod programs;
pub mod reports;
pub mod rewards;
pub mod webhooks;

use actix_web::{HttpRequest, web};
use payouts_domain::ids::IdempotencyKey;
use sha2::{Digest, Sha256};

use crate::auth::{Principal, Role};
use crate::error::ApiError;

/// Roles that see every merchant.
pub const PLATFORM_ROLES: &[Role] = &[Role::PlatformAdmin, Role::SystemAdmin, Role::SuperAdmin];

/// Every merchant-staff and platform role (everyone but `partner`).
pub const STAFF_ROLES: &[Role] = &[
    Role::PosStaff,
    Role::PaymentAdmin,
    Role::TenantAdmin,
    Role::PlatformAdmin,
    Role::SystemAdmin,
    Role::SuperAdmin,
    Role::IntegrationAdmin,
    Role::Manager,
];

/// Who may take payments (seed 002): point-of-sale staff and up.
pub const PAYMENT_ROLES: &[Role] = STAFF_ROLES;

/// Who may move money out (transfers, reversals, refunds, payout schedules,
/// dispute evidence) and onboard accounts.
pub const MONEY_ROLES: &[Role] = &[
    Role::PaymentAdmin,
    Role::TenantAdmin,
    Role::PlatformAdmin,
    Role::SystemAdmin,
    Role::SuperAdmin,
    Role::IntegrationAdmin,
];

/// Who runs a partner program: settings, Connect, partners, coupons,
/// periods and batches.
pub const PROGRAM_ROLES: &[Role] = &[
    Role::TenantAdmin,
    Role::PaymentAdmin,
    Role::PlatformAdmin,
    Role::SystemAdmin,
    Role::SuperAdmin,
    Role::IntegrationAdmin,
    Role::Manager,
];

/// Who reads a partner's history: program staff, and the partner.
pub const HISTORY_ROLES: &[Role] = &[
    Role::TenantAdmin,
    Role::PaymentAdmin,
    Role::PlatformAdmin,
    Role::SystemAdmin,
    Role::SuperAdmin,
    Role::IntegrationAdmin,
    Role::Manager,
    Role::Partner,
];

/// Registers every route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    ops::configure(cfg);
    webhooks::configure(cfg);
    cfg.service(web::scope("/api/v1/integrations/stripe-connect").configure(platform::configure));
    cfg.service(
        web::scope("/api/v1")
            .configure(programs::configure)
            .configure(rewards::configure)
            .configure(batches::configure)
            .configure(holds::configure)
            .configure(reports::configure)
            .configure(partner_reports::configure)
            .configure(login_links::configure)
            .configure(outbox::configure)
            .configure(audit::configure),
    );
}

/// The answer for a request no route took: 405 `method_not_allowed` (with
/// `Allow`) when the path exists for other methods, else 404, both in the
/// API's error shape. The paths and their methods are the OpenAPI
/// document's, so the two cannot disagree.
pub async fn not_found(req: HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    let allowed = crate::openapi::methods_of(req.path());
    if allowed.is_empty() {
        return Err(ApiError::NotFound(format!(
            "route {} {}",
            req.method(),
            req.path()
        )));
    }
    let error = ApiError::MethodNotAllowed(format!(
        "{} is not allowed on {}; use {}",
        req.method(),
        req.path(),
        allowed.join(", ")
    ));
    let mut response = actix_web::ResponseError::error_response(&error);
    if let Ok(value) = actix_web::http::header::HeaderValue::from_str(&allowed.join(", ")) {
        response
            .headers_mut()
            .insert(actix_web::http::header::ALLOW, value);
    }
    Ok(response)
}

/// The Stripe idempotency key for a write made on behalf of an HTTP request
/// carrying `Idempotency-Key`: derived from the caller and the key, so a
/// client retry after a lost response reaches Stripe with the same key and
/// can never create a second object. `None` without the header (the
/// adapter then makes a fresh key per call, and retries inside the call
/// still reuse it).
///
/// # Errors
/// Never in practice: the derived key is hex.
pub fn stripe_key(
    req: &HttpRequest,
    principal: &Principal,
    purpose: &str,
) -> Result<Option<IdempotencyKey>, ApiError> {
    let Some(header) = req
        .headers()
        .get(crate::idempotency::HEADER)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(None);
    };
    let mut h = Sha256::new();
    for part in [
        principal.merchant_id.as_str(),
        principal.subject.as_str(),
        req.path(),
        purpose,
        header.trim(),
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let key = format!("http-{purpose}-{}", hex::encode(h.finalize()));
    Ok(Some(IdempotencyKey::parse(key)?))
}

/// The wire name of a unit enum variant (its serde string), if it is one.
pub fn wire_name<T: serde::Serialize>(value: &T) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}
