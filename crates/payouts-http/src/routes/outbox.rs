//! The outbox API, under `/api/v1`, modelled on Stripe's webhook endpoints:
//! a merchant's webhook endpoints (create, list, get, delete, rotate the
//! signing secret), the record of delivery attempts, and replaying a
//! notification. Everything is the caller's merchant's own: another
//! merchant's ids answer 404.

use actix_web::{HttpResponse, delete, get, post, web};
use payouts_domain::endpoint::{DEFAULT_ROTATION_OVERLAP, WebhookEndpoint};
use payouts_domain::ids::{NotificationId, WebhookEndpointId};
use payouts_domain::notification::{AttemptStatus, DeliveryAttempt, DeliveryState, Notification};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::{Principal, Role};
use crate::error::ApiError;
use crate::paging::{List, ListQuery};
use crate::routes::PROGRAM_ROLES;
use crate::routes::programs::parse_uuid;
use crate::state::AppState;
use crate::views::timestamp;

/// Who manages endpoints and replays notifications: the merchant's admins
/// (tenant and integration) and platform operators.
pub const ENDPOINT_ROLES: &[Role] = &[
    Role::TenantAdmin,
    Role::IntegrationAdmin,
    Role::PlatformAdmin,
    Role::SystemAdmin,
    Role::SuperAdmin,
];

/// Registers the routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_webhook_endpoint)
        .service(list_webhook_endpoints)
        .service(get_webhook_endpoint)
        .service(delete_webhook_endpoint)
        .service(rotate_webhook_secret)
        .service(list_notification_deliveries)
        .service(replay_notification);
}

/// `POST /webhook-endpoints` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WebhookEndpointBody {
    /// Where notifications are POSTed: `http://` or `https://`, with a
    /// host, at most 2048 characters.
    #[schema(
        example = "https://example.com/payouts/webhooks",
        min_length = 8,
        max_length = 2048,
        pattern = "^[Hh][Tt][Tt][Pp][Ss]?://[A-Za-z0-9.\\[\\]:-]+([/?#][^\\s]*)?$"
    )]
    pub url: String,
    /// A note for people, at most 500 characters.
    #[schema(max_length = 500)]
    pub description: Option<String>,
}

/// `POST /webhook-endpoints/{endpoint_id}/rotate-secret` body (optional).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RotateSecretBody {
    /// How long the old secret keeps signing beside the new one, in hours:
    /// 0 (it stops at once) to 168; default 24.
    #[schema(minimum = 0, maximum = 168)]
    pub expires_in_hours: Option<u32>,
}

/// A webhook endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookEndpointView {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Always `webhook_endpoint`.
    #[schema(example = "webhook_endpoint")]
    pub object: String,
    /// The owner.
    pub merchant_id: String,
    /// Where notifications are POSTed.
    pub url: String,
    /// The merchant's note.
    pub description: Option<String>,
    /// The signing secret (`whsec_…`): only in the answers of create and
    /// rotate-secret; `null` elsewhere.
    pub secret: Option<String>,
    /// While a rotated-out secret still signs: when it stops (RFC 3339).
    pub previous_secret_expires_at: Option<String>,
    /// When created (RFC 3339).
    pub created_at: String,
}

impl WebhookEndpointView {
    fn of(e: &WebhookEndpoint, show_secret: bool, now: time::OffsetDateTime) -> Self {
        WebhookEndpointView {
            id: e.id.to_string(),
            object: "webhook_endpoint".to_owned(),
            merchant_id: e.merchant_id.to_string(),
            url: e.url.as_str().to_owned(),
            description: e.description.clone(),
            secret: show_secret.then(|| e.secret.expose().to_owned()),
            previous_secret_expires_at: e
                .previous_secret
                .as_ref()
                .filter(|p| p.expires_at > now)
                .map(|p| timestamp(p.expires_at)),
            created_at: timestamp(e.created_at),
        }
    }
}

/// A deleted endpoint.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletedView {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Always `webhook_endpoint`.
    pub object: String,
    /// Always true.
    pub deleted: bool,
}

/// One attempt to deliver a notification to one URL.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeliveryView {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Always `notification_delivery`.
    pub object: String,
    /// The notification sent.
    #[schema(format = "uuid")]
    pub notification_id: String,
    /// The notification's type, e.g. `partner_payout_sent`.
    pub notification_type: String,
    /// The merchant's endpoint, or `null` for the service's default.
    #[schema(format = "uuid")]
    pub endpoint_id: Option<String>,
    /// Where it was sent.
    pub url: String,
    /// `succeeded` (2xx) or `failed`.
    #[schema(example = "failed")]
    pub status: String,
    /// The HTTP status the endpoint answered, `null` when it did not answer.
    pub response_status: Option<u16>,
    /// Why it failed, in short.
    pub error: Option<String>,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// When it was sent (RFC 3339).
    pub attempted_at: String,
}

impl From<&DeliveryAttempt> for DeliveryView {
    fn from(d: &DeliveryAttempt) -> Self {
        DeliveryView {
            id: d.id.to_string(),
            object: "notification_delivery".to_owned(),
            notification_id: d.notification_id.to_string(),
            notification_type: d.kind.as_str().to_owned(),
            endpoint_id: d.endpoint_id.map(|e| e.to_string()),
            url: d.url.clone(),
            status: d.status.as_str().to_owned(),
            response_status: d.response_status,
            error: d.error.clone(),
            duration_ms: d.duration_ms,
            attempted_at: timestamp(d.attempted_at),
        }
    }
}

/// A notification and where its delivery stands.
#[derive(Debug, Serialize, ToSchema)]
pub struct NotificationView {
    /// Its id (receivers deduplicate by it).
    #[schema(format = "uuid")]
    pub id: String,
    /// Always `notification`.
    pub object: String,
    /// What it is about, e.g. `partner_payout_sent`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The merchant.
    pub merchant_id: String,
    /// `pending`, `delivered` or `dead`.
    #[schema(example = "pending")]
    pub delivery_state: String,
    /// Attempts since it was written or last replayed.
    pub attempts: u32,
    /// When pending: when it is next sent (RFC 3339).
    pub next_attempt_at: Option<String>,
    /// The last failed attempt's message, when pending or dead.
    pub last_error: Option<String>,
    /// The last failed attempt's HTTP status, if the endpoint answered.
    pub last_response_status: Option<u16>,
    /// When delivered, once it was (RFC 3339).
    pub delivered_at: Option<String>,
    /// When dead-lettered, if it was (RFC 3339).
    pub dead_at: Option<String>,
    /// When written (RFC 3339).
    pub created_at: String,
}

impl From<&Notification> for NotificationView {
    fn from(n: &Notification) -> Self {
        let (next, dead) = match &n.delivery {
            DeliveryState::Pending {
                next_attempt_at, ..
            } => (Some(timestamp(*next_attempt_at)), None),
            DeliveryState::Delivered { .. } => (None, None),
            DeliveryState::Dead { at, .. } => (None, Some(timestamp(*at))),
        };
        let failure = n.delivery.last_failure();
        NotificationView {
            id: n.id.to_string(),
            object: "notification".to_owned(),
            kind: n.kind.as_str().to_owned(),
            merchant_id: n.merchant_id.to_string(),
            delivery_state: n.delivery.as_str().to_owned(),
            attempts: n.delivery.attempts(),
            next_attempt_at: next,
            last_error: failure.map(|f| f.message.clone()),
            last_response_status: failure.and_then(|f| f.status_code),
            delivered_at: n.delivered_at().map(timestamp),
            dead_at: dead,
            created_at: timestamp(n.created_at),
        }
    }
}

async fn scoped_endpoint(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> Result<WebhookEndpoint, ApiError> {
    let id: WebhookEndpointId = parse_uuid(raw, "endpoint_id")?;
    let endpoint = state.engine.webhook_endpoint(id).await?;
    principal.scope(&endpoint.merchant_id, "webhook endpoint")?;
    Ok(endpoint)
}

fn now(state: &AppState) -> time::OffsetDateTime {
    payouts_domain::ports::Clock::now(state.engine.clock())
}

/// Registers a webhook endpoint for the caller's merchant. The answer is
/// the only one, with rotate-secret's, that shows the signing secret.
/// While a merchant has endpoints, its notifications go to them instead of
/// the service's default map.
///
/// Roles: tenant_admin, integration_admin and platform roles.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints", tag = "outbox",
    request_body = WebhookEndpointBody, security(("bearer" = [])),
    responses((status = 201, body = WebhookEndpointView), (status = 400), (status = 401), (status = 403)))]
#[post("/webhook-endpoints")]
pub async fn create_webhook_endpoint(
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<WebhookEndpointBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(ENDPOINT_ROLES)?;
    let endpoint = state
        .engine
        .create_webhook_endpoint(
            &principal.merchant_id,
            &body.url,
            body.description.as_deref(),
            &principal.acting(),
        )
        .await?;
    Ok(HttpResponse::Created().json(WebhookEndpointView::of(&endpoint, true, now(&state))))
}

/// The caller's merchant's webhook endpoints (without their secrets).
///
/// Roles: tenant_admin, integration_admin and platform roles.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints", tag = "outbox",
    params(ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of endpoints", body = List<WebhookEndpointView>), (status = 400), (status = 401), (status = 403)))]
#[get("/webhook-endpoints")]
pub async fn list_webhook_endpoints(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<List<WebhookEndpointView>>, ApiError> {
    principal.require(ENDPOINT_ROLES)?;
    let page = state
        .engine
        .webhook_endpoints_page(&principal.merchant_id, query.page()?)
        .await?;
    let at = now(&state);
    Ok(web::Json(List::from_page(page, |e| {
        WebhookEndpointView::of(&e, false, at)
    })))
}

/// One webhook endpoint (without its secret).
///
/// Roles: tenant_admin, integration_admin and platform roles.
#[utoipa::path(get, path = "/api/v1/webhook-endpoints/{endpoint_id}", tag = "outbox",
    params(("endpoint_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = WebhookEndpointView), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[get("/webhook-endpoints/{endpoint_id}")]
pub async fn get_webhook_endpoint(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<WebhookEndpointView>, ApiError> {
    principal.require(ENDPOINT_ROLES)?;
    let endpoint = scoped_endpoint(&state, &principal, &path).await?;
    Ok(web::Json(WebhookEndpointView::of(
        &endpoint,
        false,
        now(&state),
    )))
}

/// Deletes a webhook endpoint: nothing more is sent to it. The delete is
/// final (the row is removed); its delivery records stay.
///
/// Roles: tenant_admin, integration_admin and platform roles.
#[utoipa::path(delete, path = "/api/v1/webhook-endpoints/{endpoint_id}", tag = "outbox",
    params(("endpoint_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = DeletedView), (status = 400), (status = 401), (status = 403), (status = 404)))]
#[delete("/webhook-endpoints/{endpoint_id}")]
pub async fn delete_webhook_endpoint(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<DeletedView>, ApiError> {
    principal.require(ENDPOINT_ROLES)?;
    let endpoint = scoped_endpoint(&state, &principal, &path).await?;
    state
        .engine
        .delete_webhook_endpoint(endpoint.id, &principal.acting())
        .await?;
    Ok(web::Json(DeletedView {
        id: endpoint.id.to_string(),
        object: "webhook_endpoint".to_owned(),
        deleted: true,
    }))
}

/// Gives the endpoint a new signing secret, shown in this answer only. The
/// old secret keeps signing beside it for `expires_in_hours` (default 24):
/// meanwhile each delivery's `Payouts-Signature` carries two `v1=`.
///
/// Roles: tenant_admin, integration_admin and platform roles.
#[utoipa::path(post, path = "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret", tag = "outbox",
    params(("endpoint_id" = String, Path)), request_body(content = Option<RotateSecretBody>, content_type = "application/json"),
    security(("bearer" = [])),
    responses((status = 200, body = WebhookEndpointView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/webhook-endpoints/{endpoint_id}/rotate-secret")]
pub async fn rotate_webhook_secret(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<web::Json<WebhookEndpointView>, ApiError> {
    principal.require(ENDPOINT_ROLES)?;
    let body: RotateSecretBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateSecretBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::InvalidJson(format!("the body is not valid JSON for this route: {e}"))
        })?
    };
    let overlap = match body.expires_in_hours {
        None => DEFAULT_ROTATION_OVERLAP,
        Some(h) if h <= 168 => time::Duration::hours(i64::from(h)),
        Some(_) => {
            return Err(ApiError::validation(
                "expires_in_hours",
                "expires_in_hours must be between 0 and 168",
            ));
        }
    };
    let endpoint = scoped_endpoint(&state, &principal, &path).await?;
    let rotated = state
        .engine
        .rotate_webhook_secret(endpoint.id, overlap, &principal.acting())
        .await?;
    Ok(web::Json(WebhookEndpointView::of(
        &rotated,
        true,
        now(&state),
    )))
}

/// `GET /notification-deliveries` query.
#[derive(Debug, Clone, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DeliveriesQuery {
    /// `succeeded` or `failed`; default: both.
    #[param(pattern = "^(succeeded|failed)$")]
    pub status: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last delivery of the previous page.
    pub starting_after: Option<String>,
}

/// The caller's merchant's recent delivery attempts, newest first: each
/// attempt to each URL, with its status and the endpoint's response code.
///
/// Roles: program staff (tenant_admin, payment_admin, manager,
/// integration_admin) and platform roles.
#[utoipa::path(get, path = "/api/v1/notification-deliveries", tag = "outbox",
    params(DeliveriesQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of delivery attempts", body = List<DeliveryView>), (status = 400), (status = 401), (status = 403)))]
#[get("/notification-deliveries")]
pub async fn list_notification_deliveries(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<DeliveriesQuery>,
) -> Result<web::Json<List<DeliveryView>>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            AttemptStatus::parse(s)
                .ok_or_else(|| ApiError::validation("status", "status must be succeeded or failed"))
        })
        .transpose()?;
    let page = ListQuery {
        limit: query.limit,
        starting_after: query.starting_after.clone(),
    }
    .page()?;
    let deliveries = state
        .engine
        .notification_deliveries(&principal.merchant_id, status, page)
        .await?;
    Ok(web::Json(List::from_page(deliveries, |d| {
        DeliveryView::from(&d)
    })))
}

/// Sends a notification again: it becomes pending and due now, its
/// attempts counted afresh, whatever its state (dead and delivered ones
/// too). Receivers deduplicate by its id.
///
/// Roles: tenant_admin, integration_admin and platform roles.
#[utoipa::path(post, path = "/api/v1/notifications/{notification_id}/replay", tag = "outbox",
    params(("notification_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = NotificationView), (status = 400), (status = 401), (status = 403), (status = 404), (status = 409)))]
#[post("/notifications/{notification_id}/replay")]
pub async fn replay_notification(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<NotificationView>, ApiError> {
    principal.require(ENDPOINT_ROLES)?;
    let id: NotificationId = parse_uuid(&path, "notification_id")?;
    let notification = state.engine.outbox_notification(id).await?;
    principal.scope(&notification.merchant_id, "notification")?;
    let replayed = state.engine.replay_notification(id).await?;
    Ok(web::Json(NotificationView::from(&replayed)))
}
