//! Payout batches (seed 004): build for review, the manifest (JSON or CSV),
//! approval, background execution, items and their outcomes, retries,
//! status refresh; a partner's payout history and yearly tax summary.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use payouts_domain::batch::PayoutBatch;
use payouts_domain::ids::{BatchId, PartnerId, PayoutItemId};
use payouts_domain::item::{ItemState, PayoutItem};
use payouts_domain::period::Period;
use payouts_domain::ports::PageRequest;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::paging::{List, ListQuery};
use crate::routes::programs::{parse_uuid, scoped_program};
use crate::routes::{HISTORY_ROLES, PROGRAM_ROLES, STAFF_ROLES};
use crate::state::AppState;
use crate::views::{BatchDto, BatchSummaryDto, CarryOverDto, ItemDto, TaxSummaryDto};
use crate::wire::currency_code;

/// Registers the batch routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_batch)
        .service(list_batches)
        .service(get_batch)
        .service(manifest)
        .service(approve_batch)
        .service(execute_batch)
        .service(list_items)
        .service(retry_item)
        .service(refresh_batch)
        .service(partner_payouts)
        .service(partner_tax);
}

async fn scoped_batch(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> Result<PayoutBatch, ApiError> {
    let batch = state
        .engine
        .batch(parse_uuid::<BatchId>(raw, "batch_id")?)
        .await?;
    principal.scope(&batch.merchant_id, "batch")?;
    Ok(batch)
}

/// A batch with its summary counts.
#[derive(Debug, Serialize, ToSchema)]
pub struct BatchView {
    /// The batch: state, period, totals, manifest hash, approval, carry-overs.
    pub batch: BatchDto,
    /// Posted, failed, pending and reversed counts and amounts.
    pub summary: BatchSummaryDto,
}

async fn batch_view(state: &AppState, batch: PayoutBatch) -> Result<BatchView, ApiError> {
    let summary = state.engine.batch_summary(batch.id).await?;
    Ok(BatchView {
        batch: BatchDto::from(&batch),
        summary: BatchSummaryDto::from(&summary),
    })
}

/// Batch creation.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBatchBody {
    /// The period, `YYYY-MM`: finalized commissions of it and earlier periods are paid.
    pub period: String,
}

/// Builds a batch for review from the program's finalized, unpaid
/// commissions up to the period: one item per partner, balances below the
/// minimum or of partners who cannot receive are carried over. The
/// program's policy may approve it at once.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/batches", tag = "batches",
    params(("program_id" = String, Path)), request_body = CreateBatchBody, security(("bearer" = [])),
    responses((status = 201, body = BatchView), (status = 400), (status = 404), (status = 409)))]
#[post("/programs/{program_id}/batches")]
pub async fn create_batch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CreateBatchBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    let period = Period::parse(&body.period)?;
    let batch = state
        .engine
        .build_batch(program.id, period, &principal.acting())
        .await?;
    Ok(HttpResponse::Created().json(batch_view(&state, batch).await?))
}

/// A program's batches.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/batches", tag = "batches",
    params(("program_id" = String, Path), ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of batches", body = List<BatchDto>), (status = 404)))]
#[get("/programs/{program_id}/batches")]
pub async fn list_batches(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<List<BatchDto>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    let page = state.engine.batches_page(program.id, query.page()?).await?;
    Ok(web::Json(List::from_page(page, |b| BatchDto::from(&b))))
}

/// A batch with summary counts (posted, failed, pending, reversed).
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/batches/{batch_id}", tag = "batches",
    params(("batch_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = BatchView), (status = 404)))]
#[get("/batches/{batch_id}")]
pub async fn get_batch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<BatchView>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let batch = scoped_batch(&state, &principal, &path).await?;
    Ok(web::Json(batch_view(&state, batch).await?))
}

/// One manifest line.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestRow {
    /// The item.
    #[schema(format = "uuid")]
    pub item_id: String,
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// Their membership.
    #[schema(format = "uuid")]
    pub membership_id: String,
    /// Their Express account.
    pub destination: String,
    /// Minor units.
    pub amount: i64,
    /// Lowercase ISO currency, e.g. `usd`.
    pub currency: String,
    /// The platform fee recorded for the item, minor units of `currency`.
    pub fee: i64,
    /// Commissions paid by the item.
    pub commission_count: u32,
    /// The item's state.
    pub state: String,
    /// The Stripe transfer, once posted.
    pub transfer_id: Option<String>,
    /// The transfer in the Stripe dashboard.
    pub transfer_url: Option<String>,
}

/// The manifest to review.
#[derive(Debug, Serialize, ToSchema)]
pub struct ManifestView {
    /// The batch.
    #[schema(format = "uuid")]
    pub batch_id: String,
    /// The period.
    pub period: String,
    /// SHA-256 over every line and carry-over, as approved.
    pub manifest_hash: String,
    /// Total, minor units.
    pub total: i64,
    /// Lowercase ISO currency, e.g. `usd`.
    pub currency: String,
    /// Item count.
    pub item_count: u32,
    /// One row per item.
    pub lines: Vec<ManifestRow>,
    /// Balances carried to a later batch, with the reason.
    pub carried: Vec<CarryOverDto>,
}

fn transfer_of(item: &PayoutItem) -> Option<String> {
    match &item.state {
        ItemState::Posted { transfer_id, .. } | ItemState::Reversed { transfer_id, .. } => {
            Some(transfer_id.to_string())
        }
        ItemState::Pending
        | ItemState::Submitting { .. }
        | ItemState::ReconcileRequired { .. }
        | ItemState::Failed { .. } => None,
    }
}

/// Every page of a keyset-paged list, in order.
async fn collect_pages<T, F, Fut>(
    mut fetch: F,
    id: impl Fn(&T) -> uuid::Uuid,
) -> Result<Vec<T>, ApiError>
where
    F: FnMut(PageRequest) -> Fut,
    Fut: std::future::Future<Output = Result<payouts_domain::ports::Page<T>, ApiError>>,
{
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = fetch(PageRequest { limit: 100, after }).await?;
        after = page.data.last().map(&id);
        out.extend(page.data);
        if !page.has_more || after.is_none() {
            return Ok(out);
        }
    }
}

async fn all_items(state: &AppState, batch: BatchId) -> Result<Vec<PayoutItem>, ApiError> {
    collect_pages(
        |page| async move {
            state
                .engine
                .batch_items(batch, page)
                .await
                .map_err(ApiError::from)
        },
        |i: &PayoutItem| i.id.as_uuid(),
    )
    .await
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The manifest's lines of `items`, each transfer linked to the Stripe
/// dashboard at `stripe_dashboard_url`.
pub fn manifest_rows(items: &[PayoutItem], stripe_dashboard_url: &str) -> Vec<ManifestRow> {
    let dashboard = stripe_dashboard_url.trim_end_matches('/');
    items
        .iter()
        .map(|i| {
            let transfer_id = transfer_of(i);
            ManifestRow {
                item_id: i.id.to_string(),
                partner_id: i.partner_id.to_string(),
                membership_id: i.membership_id.to_string(),
                destination: i.destination.to_string(),
                amount: i.amount.amount_minor(),
                currency: currency_code(i.amount.currency()),
                fee: i.fee.amount_minor(),
                commission_count: i.commission_count,
                state: i.state.as_str().to_owned(),
                transfer_url: transfer_id
                    .as_ref()
                    .map(|t| format!("{dashboard}/connect/transfers/{t}")),
                transfer_id,
            }
        })
        .collect()
}

/// The manifest's lines as CSV, with a header row (what
/// `Accept: text/csv` on the manifest answers).
pub fn manifest_csv(lines: &[ManifestRow]) -> String {
    let mut csv = String::from(
        "item_id,partner_id,membership_id,destination,amount,currency,fee,commission_count,state,transfer_id,transfer_url\n",
    );
    for l in lines {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{}",
            l.item_id,
            l.partner_id,
            l.membership_id,
            csv_field(&l.destination),
            l.amount,
            l.currency,
            l.fee,
            l.commission_count,
            l.state,
            l.transfer_id.as_deref().unwrap_or(""),
            l.transfer_url.as_deref().map(csv_field).unwrap_or_default(),
        );
    }
    csv
}

/// The manifest: every item with amount, fee, destination, state and its
/// Stripe transfer (linked to the Stripe dashboard), plus carry-overs. With
/// `Accept: text/csv`, the lines as CSV.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/batches/{batch_id}/manifest", tag = "batches",
    params(("batch_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the manifest; with `Accept: text/csv`, its lines as CSV with a header row",
            content((ManifestView = "application/json"), (String = "text/csv"))),
        (status = 404)))]
#[get("/batches/{batch_id}/manifest")]
pub async fn manifest(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(STAFF_ROLES)?;
    let batch = scoped_batch(&state, &principal, &path).await?;
    let items = all_items(&state, batch.id).await?;
    let lines = manifest_rows(&items, &state.settings.stripe_dashboard_url);
    let wants_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let csv = manifest_csv(&lines);
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"batch-{}.csv\"", batch.id),
            ))
            .body(csv));
    }
    Ok(HttpResponse::Ok().json(ManifestView {
        batch_id: batch.id.to_string(),
        period: batch.period.to_string(),
        manifest_hash: batch.manifest_hash.clone(),
        total: batch.total.amount_minor(),
        currency: currency_code(batch.currency),
        item_count: batch.item_count,
        lines,
        carried: batch.carried.iter().map(CarryOverDto::from).collect(),
    }))
}

/// Approves a draft batch (by a person; the approver is the token's `sub`).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/batches/{batch_id}/approve", tag = "batches",
    params(("batch_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = BatchView), (status = 404), (status = 409, description = "not a draft")))]
#[post("/batches/{batch_id}/approve")]
pub async fn approve_batch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<BatchView>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let batch = scoped_batch(&state, &principal, &path).await?;
    let approved = state
        .engine
        .approve_batch(batch.id, &principal.acting())
        .await?;
    Ok(web::Json(batch_view(&state, approved).await?))
}

/// Execution accepted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExecutionAccepted {
    /// The batch.
    #[schema(format = "uuid")]
    pub batch_id: String,
    /// `executing`.
    pub status: &'static str,
}

/// Executes an approved batch in the background and answers 202 at once:
/// each item is its own Stripe transfer with its own idempotency key and
/// its own outcome. Poll `GET /batches/{id}`. Repeating it is harmless: a
/// batch already executing is resumed, never paid twice. A batch whose
/// program may not pay now (probation, archived, on hold, not connected) is
/// refused with 409 `payouts_blocked` and the reason, and nothing starts.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/batches/{batch_id}/execute", tag = "batches",
    params(("batch_id" = String, Path)), security(("bearer" = [])),
    responses((status = 202, body = ExecutionAccepted), (status = 404), (status = 409, description = "not approved (`invalid_state`), or the program may not pay now (`payouts_blocked`, with the reason)")))]
#[post("/batches/{batch_id}/execute")]
pub async fn execute_batch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let batch = scoped_batch(&state, &principal, &path).await?;
    let id = batch.id;
    crate::state::start_batch(&state.engine, id, &principal.acting()).await?;
    Ok(HttpResponse::Accepted().json(ExecutionAccepted {
        batch_id: id.to_string(),
        status: "executing",
    }))
}

/// A batch's items with their outcomes (state, transfer, failure).
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/batches/{batch_id}/items", tag = "batches",
    params(("batch_id" = String, Path), ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of items", body = List<ItemDto>), (status = 404)))]
#[get("/batches/{batch_id}/items")]
pub async fn list_items(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<List<ItemDto>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let batch = scoped_batch(&state, &principal, &path).await?;
    let page = state.engine.batch_items(batch.id, query.page()?).await?;
    Ok(web::Json(List::from_page(page, |i| ItemDto::from(&i))))
}

/// Retries a failed item now, with a new attempt (and so a new idempotency
/// key); the previous attempt is known to have created nothing.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/items/{item_id}/retry", tag = "batches",
    params(("item_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, description = "the item", body = ItemDto), (status = 404),
        (status = 409, description = "invalid_state (not failed) or payout_in_progress (its transfer is in flight)")))]
#[post("/items/{item_id}/retry")]
pub async fn retry_item(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ItemDto>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let item = state
        .engine
        .item(parse_uuid::<PayoutItemId>(&path, "item_id")?)
        .await?;
    principal.scope(&item.merchant_id, "payout item")?;
    if matches!(
        item.state,
        ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. }
    ) {
        return Err(ApiError::Stripe {
            status: 409,
            code: "payout_in_progress",
            message: format!(
                "item {} is being paid; its outcome is not known yet",
                item.id
            ),
        });
    }
    Ok(web::Json(ItemDto::from(
        &state
            .engine
            .retry_item(item.id, &principal.acting())
            .await?,
    )))
}

/// Refreshes the batch's status from Stripe: in-flight items are
/// reconciled, reversals noticed; returns the new summary.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/batches/{batch_id}/refresh", tag = "batches",
    params(("batch_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = BatchView), (status = 404)))]
#[post("/batches/{batch_id}/refresh")]
pub async fn refresh_batch(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<BatchView>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let batch = scoped_batch(&state, &principal, &path).await?;
    state
        .engine
        .refresh_batch(batch.id, &principal.acting())
        .await?;
    let batch = state.engine.batch(batch.id).await?;
    Ok(web::Json(batch_view(&state, batch).await?))
}

/// Checks that the caller may read the partner's data: platform roles;
/// staff of a merchant the partner belongs to; the partner themselves.
pub(crate) async fn scope_partner(
    state: &AppState,
    principal: &Principal,
    partner: PartnerId,
) -> Result<(), ApiError> {
    if principal.is_platform() {
        return Ok(());
    }
    let memberships = state.engine.memberships_of_partner(partner).await?;
    let in_merchant = memberships
        .iter()
        .any(|m| m.merchant_id == principal.merchant_id);
    if !in_merchant {
        return Err(ApiError::NotFound("partner".to_owned()));
    }
    principal.scope_partner(&principal.merchant_id, partner)
}

/// A partner's payout history: their items, newest last, across batches.
/// Merchant staff and partners see the caller's merchant's items only.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles, and `partner` (their own only).
#[utoipa::path(get, path = "/api/v1/partners/{partner_id}/payouts", tag = "partners",
    params(("partner_id" = String, Path), ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of items", body = List<ItemDto>), (status = 404)))]
#[get("/partners/{partner_id}/payouts")]
pub async fn partner_payouts(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<List<ItemDto>>, ApiError> {
    principal.require(HISTORY_ROLES)?;
    let partner = parse_uuid::<PartnerId>(&path, "partner_id")?;
    scope_partner(&state, &principal, partner).await?;
    let page = state.engine.partner_history(partner, query.page()?).await?;
    let platform = principal.is_platform();
    let mine = |i: &PayoutItem| platform || i.merchant_id == principal.merchant_id;
    Ok(web::Json(List {
        has_more: page.has_more,
        data: page
            .data
            .iter()
            .filter(|i| mine(i))
            .map(ItemDto::from)
            .collect(),
    }))
}

/// A partner's tax summary for a calendar year: totals paid per currency,
/// payout count, and whether the US $600 1099-NEC threshold is reached
/// (seed 000: Stripe files the 1099-NEC).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles, and `partner` (their own only).
#[utoipa::path(get, path = "/api/v1/partners/{partner_id}/tax/{year}", tag = "partners",
    params(("partner_id" = String, Path), ("year" = i32, Path)), security(("bearer" = [])),
    responses((status = 200, body = TaxSummaryDto), (status = 400), (status = 404)))]
#[get("/partners/{partner_id}/tax/{year}")]
pub async fn partner_tax(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, i32)>,
) -> Result<web::Json<TaxSummaryDto>, ApiError> {
    principal.require(HISTORY_ROLES)?;
    let (raw, year) = path.into_inner();
    if !(2000..=9999).contains(&year) {
        return Err(ApiError::validation(
            "year",
            "year must be a four-digit calendar year",
        ));
    }
    let partner = parse_uuid::<PartnerId>(&raw, "partner_id")?;
    scope_partner(&state, &principal, partner).await?;
    // A merchant's staff (or the partner through a merchant's token) see
    // what that merchant paid them, never another merchant's payouts.
    let payer = (!principal.is_platform()).then_some(&principal.merchant_id);
    Ok(web::Json(TaxSummaryDto::from(
        &state.engine.tax_summary(partner, year, payer).await?,
    )))
}
