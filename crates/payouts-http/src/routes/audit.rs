//! `GET /api/v1/audit-events`: the audit trail (issue 15 part 4), newest
//! first, filtered and in keyset pages. Read-only: entries are written by
//! the engine's use cases, never here.

use actix_web::{get, web};
use payouts_domain::audit::{ActorKind, AuditAction, AuditEvent, AuditFilter, MAX_TEXT_LEN};
use payouts_domain::ids::MerchantId;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::{IntoParams, ToSchema};

use super::PROGRAM_ROLES;
use crate::auth::Principal;
use crate::error::ApiError;
use crate::paging::{List, ListQuery};
use crate::state::AppState;

/// Registers the route.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(list_audit_events);
}

/// The audit list's filters and paging. Every filter given must match.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only this action, e.g. `batch.approved`.
    #[param(
        pattern = "^(connection\\.connected|connection\\.revoked|program\\.created|program\\.updated|period\\.finalized|batch\\.built|batch\\.approved|batch\\.executed|batch\\.refreshed|item\\.retried|fee_schedule\\.updated|login_link\\.issued|webhook_endpoint\\.created|webhook_endpoint\\.deleted|webhook_endpoint\\.secret_rotated|commission\\.held|commission\\.released|commission\\.rejected|conversion\\.refunded|conversion\\.cancelled|conversion\\.corrected)$"
    )]
    pub action: Option<String>,
    /// Only entries about this object (its id, as in `object_id`).
    #[param(min_length = 1, max_length = 200)]
    pub object_id: Option<String>,
    /// Only entries by this actor subject (a token's `sub`, `cli:<user>`,
    /// `scheduler`, `stripe`).
    #[param(min_length = 1, max_length = 200)]
    pub actor: Option<String>,
    /// Only entries by this kind of actor.
    #[param(pattern = "^(user|cli|system|stripe)$")]
    pub actor_type: Option<String>,
    /// Platform roles only: only this merchant's entries. A merchant's
    /// caller always sees its own only; another merchant's id answers 404.
    #[param(min_length = 1, max_length = 64)]
    pub merchant_id: Option<String>,
    /// Only entries at or after this instant (RFC 3339).
    #[param(format = DateTime)]
    pub created_gte: Option<String>,
    /// Only entries at or before this instant (RFC 3339).
    #[param(format = DateTime)]
    pub created_lte: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The id of the last entry of the previous page.
    pub starting_after: Option<String>,
}

/// Any JSON value, for the document: the snapshots an entry holds are the
/// domain's own objects, whose fields differ by object type.
#[derive(Debug)]
pub struct JsonValue;

impl utoipa::PartialSchema for JsonValue {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        let this = || RefOr::Ref(Ref::from_schema_name("JsonValue"));
        OneOfBuilder::new()
            .item(ObjectBuilder::new().schema_type(Type::Null))
            .item(ObjectBuilder::new().schema_type(Type::String))
            .item(ObjectBuilder::new().schema_type(Type::Number))
            .item(ObjectBuilder::new().schema_type(Type::Boolean))
            .item(ArrayBuilder::new().items(this()))
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(this())),
            )
            .description(Some("Any JSON value."))
            .into()
    }
}

impl utoipa::ToSchema for JsonValue {}

/// An object as the audit trail recorded it (`before`, `after`): its
/// fields are the object's own (a program's settings, a batch's state and
/// totals, a connection's status, …).
#[derive(Debug)]
pub struct AuditSnapshot;

impl utoipa::PartialSchema for AuditSnapshot {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        use utoipa::openapi::{Ref, RefOr};
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(RefOr::<utoipa::openapi::schema::Schema>::Ref(
                Ref::from_schema_name("JsonValue"),
            )))
            .description(Some("The object's fields, as recorded."))
            .into()
    }
}

impl utoipa::ToSchema for AuditSnapshot {}

/// Who acted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActorView {
    /// `user` (an API token or console session), `cli` (the `payouts`
    /// command line), `system` (the scheduler) or `stripe` (a Stripe
    /// webhook or OAuth redirect).
    #[serde(rename = "type")]
    #[schema(example = "user")]
    pub kind: String,
    /// The token's `sub`, `cli:<login name>`, `scheduler` or `stripe`.
    pub subject: String,
    /// The roles the actor acted with (empty for `system` and `stripe`).
    pub roles: Vec<String>,
}

/// One entry of the audit trail. Entries never change once written.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEventView {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// Always `audit_event`.
    pub object: String,
    /// When it happened (RFC 3339).
    pub created: String,
    /// Who did it.
    pub actor: ActorView,
    /// The merchant whose object it is; `null` for the platform's own
    /// objects (the fee schedule).
    pub merchant_id: Option<String>,
    /// What was done, e.g. `batch.approved`.
    #[schema(example = "batch.approved")]
    pub action: String,
    /// The kind of object: `connection`, `program`, `batch`, `payout_item`,
    /// `fee_schedule`, `login_link` or `webhook_endpoint`.
    pub object_type: String,
    /// The object's id (a UUID; the merchant id for a connection; the
    /// signed-in subject for a login link; `fee_schedule`).
    pub object_id: String,
    /// The object before the action, where it changed an existing one.
    #[schema(value_type = Option<AuditSnapshot>)]
    pub before: Option<serde_json::Value>,
    /// The object after the action, or what it produced.
    #[schema(value_type = Option<AuditSnapshot>)]
    pub after: Option<serde_json::Value>,
    /// The request it was made in (`Request-Id`; a Stripe event id for
    /// Stripe's webhooks), when known.
    pub request_id: Option<String>,
}

impl From<AuditEvent> for AuditEventView {
    fn from(e: AuditEvent) -> Self {
        AuditEventView {
            id: e.id.to_string(),
            object: "audit_event".to_owned(),
            created: e
                .at
                .format(&Rfc3339)
                .unwrap_or_else(|_| e.at.unix_timestamp().to_string()),
            object_type: e.object_type().to_owned(),
            actor: ActorView {
                kind: e.actor.kind.as_str().to_owned(),
                subject: e.actor.subject,
                roles: e.actor.roles,
            },
            merchant_id: e.merchant_id.map(|m| m.to_string()),
            action: e.action.as_str().to_owned(),
            object_id: e.object_id,
            before: e.before,
            after: e.after,
            request_id: e.request_id,
        }
    }
}

fn instant(raw: Option<&str>, param: &str) -> Result<Option<OffsetDateTime>, ApiError> {
    raw.map(|text| {
        let at = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| {
            ApiError::validation(param, format!("{param} must be an RFC 3339 date-time"))
        })?;
        payouts_domain::ports::storable::instant(at).map_err(|_| {
            ApiError::validation(param, format!("{param} must be between 1677 and 2262"))
        })?;
        Ok(at)
    })
    .transpose()
}

fn text(raw: Option<&str>, param: &str) -> Result<Option<String>, ApiError> {
    match raw {
        Some(t) if t.is_empty() || t.len() > MAX_TEXT_LEN => Err(ApiError::validation(
            param,
            format!("{param} must be 1 to {MAX_TEXT_LEN} characters"),
        )),
        other => Ok(other.map(str::to_owned)),
    }
}

impl AuditQuery {
    /// The domain filter for `principal`: a merchant's caller is scoped to
    /// its own merchant.
    fn filter(&self, principal: &Principal) -> Result<AuditFilter, ApiError> {
        let merchant_id = match (principal.is_platform(), self.merchant_id.as_deref()) {
            (true, None) => None,
            (true, Some(m)) => Some(
                MerchantId::parse(m.to_owned())
                    .map_err(|e| ApiError::validation("merchant_id", e.to_string()))?,
            ),
            (false, Some(m)) if m != principal.merchant_id.as_str() => {
                return Err(ApiError::NotFound("merchant".to_owned()));
            }
            (false, _) => Some(principal.merchant_id.clone()),
        };
        let from = instant(self.created_gte.as_deref(), "created_gte")?;
        let to = instant(self.created_lte.as_deref(), "created_lte")?;
        Ok(AuditFilter {
            merchant_id,
            action: self.action.as_deref().map(AuditAction::parse).transpose()?,
            object_id: text(self.object_id.as_deref(), "object_id")?,
            actor_subject: text(self.actor.as_deref(), "actor")?,
            actor_kind: self
                .actor_type
                .as_deref()
                .map(ActorKind::parse)
                .transpose()?,
            from,
            to,
        })
    }
}

/// The audit trail, newest first: who connected or disconnected Stripe,
/// changed a program or its payout policy, finalized a period, built,
/// approved, executed or refreshed a batch, retried an item, changed the
/// fee schedule, issued a console login link or changed a webhook
/// endpoint; with the object before and after, and the request id.
/// A merchant's caller sees its own merchant's entries; platform roles see
/// every merchant's and the platform's own (the fee schedule). Unknown
/// filter values answer 400.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit",
    params(AuditQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of audit events", body = List<AuditEventView>),
        (status = 400), (status = 401), (status = 403), (status = 404, description = "another merchant's merchant_id")))]
#[get("/audit-events")]
pub async fn list_audit_events(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<web::Json<List<AuditEventView>>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let filter = query.filter(&principal)?;
    let page = ListQuery {
        limit: query.limit,
        starting_after: query.starting_after.clone(),
    }
    .page()?;
    let events = state.engine.audit_events(&filter, page).await?;
    Ok(web::Json(List::from_page(events, AuditEventView::from)))
}
