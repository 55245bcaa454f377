//! `POST /api/v1/login-links`: single-use console sign-in links, the way
//! Stripe's Express dashboard links work. Platform operators issue them for
//! anyone; a merchant's admins for their own staff and partners.

use actix_web::{HttpResponse, post, web};
use payouts_domain::ids::{MerchantId, PartnerId};
use payouts_domain::session::SessionPrincipal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::state::AppState;

/// Registers the route (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_login_link);
}

/// `POST /login-links` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginLinkBody {
    /// The role the link signs in with, e.g. `tenant_admin`, `manager`, `partner`.
    #[schema(example = "tenant_admin")]
    pub role: String,
    /// The merchant; default: the caller's.
    pub merchant_id: Option<String>,
    /// For `partner`, which partner (enrolled with the merchant).
    #[schema(format = "uuid")]
    pub partner_id: Option<String>,
    /// Who it is for (shown in the console); default: `console-{role}`.
    pub subject: Option<String>,
}

/// A login link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginLinkView {
    /// Open it once, within five minutes, to sign in.
    pub url: String,
    /// When it stops working (RFC 3339).
    #[schema(format = DateTime)]
    pub expires_at: String,
}

/// The facts a principal signs in with, as the engine's rules see them.
pub fn session_principal(p: &Principal) -> SessionPrincipal {
    SessionPrincipal {
        subject: p.subject.clone(),
        roles: p.roles.iter().map(|r| r.as_str().to_owned()).collect(),
        merchant_id: p.merchant_id.clone(),
        partner_id: p.partner_id,
    }
}

/// Issues a single-use console sign-in link (five minutes).
///
/// Roles: platform roles (anyone), and a merchant's tenant_admin, payment_admin and manager (their own staff and partners).
#[utoipa::path(post, path = "/api/v1/login-links", tag = "console",
    request_body = LoginLinkBody, security(("bearer" = [])),
    responses((status = 201, body = LoginLinkView), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[post("/login-links")]
pub async fn create_login_link(
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<LoginLinkBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(&[
        Role::PlatformAdmin,
        Role::SystemAdmin,
        Role::SuperAdmin,
        Role::TenantAdmin,
        Role::PaymentAdmin,
        Role::Manager,
    ])?;
    let body = body.into_inner();
    let role: Role = body
        .role
        .parse()
        .map_err(|_| ApiError::validation("role", format!("`{}` is not a role", body.role)))?;
    let merchant = match body.merchant_id {
        Some(m) => MerchantId::parse(m)?,
        None => principal.merchant_id.clone(),
    };
    let partner = body
        .partner_id
        .as_deref()
        .map(|p| {
            uuid::Uuid::parse_str(p)
                .map(PartnerId::from_uuid)
                .map_err(|_| ApiError::validation("partner_id", "not a partner id (a UUID)"))
        })
        .transpose()?;
    if (role == Role::Partner) != partner.is_some() {
        return Err(ApiError::validation(
            "partner_id",
            "a partner link needs partner_id, and only a partner link takes one",
        ));
    }
    let target = SessionPrincipal {
        subject: body
            .subject
            .unwrap_or_else(|| format!("console-{}", role.as_str())),
        roles: vec![role.as_str().to_owned()],
        merchant_id: merchant,
        partner_id: partner,
    };
    let (secret, link) = state
        .engine
        .issue_login_link(&session_principal(&principal), target, &principal.acting())
        .await?;
    Ok(HttpResponse::Created().json(LoginLinkView {
        url: format!(
            "{}/login/{}",
            state.settings.public_url.trim_end_matches('/'),
            secret.expose()
        ),
        expires_at: link
            .expires_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    }))
}
