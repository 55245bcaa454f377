//! Holds (issue 16): an operator holds a pending commission for review,
//! and releases or rejects a held one. Held commissions are listed with
//! `GET /api/v1/commissions?state=on_hold` (and `hold_reason`).

use actix_web::{post, web};
use payouts_domain::engine::HoldDecision;
use payouts_domain::ids::CommissionId;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::PROGRAM_ROLES;
use crate::routes::programs::parse_uuid;
use crate::state::AppState;
use crate::views::CommissionView;

/// Registers the hold routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(hold_commission)
        .service(release_commission)
        .service(reject_commission);
}

async fn decide(
    principal: &Principal,
    state: &AppState,
    raw_id: &str,
    decision: HoldDecision,
) -> Result<web::Json<CommissionView>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let id = parse_uuid::<CommissionId>(raw_id, "commission_id")?;
    // Platform operators decide for any merchant; others for their own
    // (another merchant's commission answers 404).
    let merchant = (!principal.is_platform()).then_some(&principal.merchant_id);
    let commission = state
        .engine
        .decide_hold(merchant, id, decision, &principal.acting())
        .await?;
    Ok(web::Json(CommissionView::from(&commission)))
}

/// Holds a pending commission for review (reason `manual`): it is not
/// finalized nor paid until released. Holding a held commission changes
/// nothing.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/commissions/{commission_id}/hold", tag = "commissions",
    params(("commission_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommissionView), (status = 400), (status = 404),
        (status = 409, description = "not pending (finalized, voided) or an adjustment")))]
#[post("/commissions/{commission_id}/hold")]
pub async fn hold_commission(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CommissionView>, ApiError> {
    decide(&principal, &state, &path, HoldDecision::Hold).await
}

/// Releases a held commission: it is `pending` again and the next
/// finalization run finalizes it once its holding period is over.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/commissions/{commission_id}/release", tag = "commissions",
    params(("commission_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommissionView), (status = 400), (status = 404),
        (status = 409, description = "not on hold")))]
#[post("/commissions/{commission_id}/release")]
pub async fn release_commission(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CommissionView>, ApiError> {
    decide(&principal, &state, &path, HoldDecision::Release).await
}

/// Rejects a held commission: `voided` with reason `rejected`, amount 0; it
/// is never paid. Rejecting it again changes nothing.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/commissions/{commission_id}/reject", tag = "commissions",
    params(("commission_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CommissionView), (status = 400), (status = 404),
        (status = 409, description = "not on hold")))]
#[post("/commissions/{commission_id}/reject")]
pub async fn reject_commission(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CommissionView>, ApiError> {
    decide(&principal, &state, &path, HoldDecision::Reject).await
}
