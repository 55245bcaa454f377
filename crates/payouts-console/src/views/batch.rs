//! `/dashboard/partners/batches/{batch_id}`: a batch to review and run.
//! The manifest (lines, carry-overs, totals, hash); approval behind a
//! confirm step that restates the total; execution in the background; the
//! progress counts (refreshed by the script); each item's outcome with its
//! Stripe transfer or its failure in words, and a retry for failed items;
//! the manifest as CSV; and, when the program may not pay, why.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use payouts_domain::DomainError;
use payouts_domain::batch::{BatchState, PayoutBatch};
use payouts_domain::error::Blocked;
use payouts_domain::ids::{BatchId, PayoutItemId};
use payouts_domain::item::{ItemState, PayoutItem};
use payouts_domain::ports::{FailureKind, PageRequest};
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, page, see_other};
use crate::csrf;
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// The batch page's path.
fn batch_path(id: BatchId) -> String {
    format!("/dashboard/partners/batches/{id}")
}

/// The batch, if the person may see it: staff of its merchant or the
/// platform. Another merchant's batch, or a malformed id, is 404.
pub(crate) async fn scoped_batch(
    state: &AppState,
    signed: &Signed,
    raw: &str,
) -> Result<PayoutBatch, ConsoleError> {
    if !signed.is_staff() {
        return Err(ConsoleError::Forbidden);
    }
    let id = BatchId::parse(raw).map_err(|_| ConsoleError::NotFound)?;
    let batch = state.engine.batch(id).await?;
    if !signed.is_platform() && &batch.merchant_id != signed.merchant() {
        return Err(ConsoleError::NotFound);
    }
    Ok(batch)
}

/// Whether the person may act on batches.
fn may_pay(signed: &Signed) -> bool {
    super::may_act(signed)
}

/// Every item of the batch, in order.
async fn all_items(state: &AppState, batch: BatchId) -> Result<Vec<PayoutItem>, ConsoleError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .engine
            .batch_items(batch, PageRequest { limit: 100, after })
            .await?;
        after = page.data.last().map(|i| i.id.as_uuid());
        out.extend(page.data);
        if !page.has_more || after.is_none() {
            return Ok(out);
        }
    }
}

/// Posted, failed and pending counts and amounts of `items`, checked.
fn summary_of(
    items: &[PayoutItem],
    currency: payouts_domain::money::Currency,
) -> Result<payouts_domain::batch::BatchSummary, ConsoleError> {
    let mut summary = payouts_domain::batch::BatchSummary::empty(currency);
    for item in items {
        summary
            .add(&payouts_domain::ports::StateTotal {
                state: item.state.as_str().to_owned(),
                count: 1,
                amount: item.amount,
                reversed: match &item.state {
                    ItemState::Reversed {
                        amount_reversed, ..
                    } => *amount_reversed,
                    _ => payouts_domain::money::Money::zero(currency),
                },
            })
            .map_err(ConsoleError::from)?;
    }
    Ok(summary)
}

/// What a failure means to a person.
pub fn failure_words(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::InsufficientBalance => {
            "The merchant's Stripe balance was too low; it is retried in 24 hours. Add funds to the Stripe balance, then press Retry now to pay it at once."
        }
        FailureKind::AccountInactive => {
            "The merchant's Stripe account cannot send transfers; payouts wait for the merchant."
        }
        FailureKind::CannotReceive => {
            "The partner's account cannot receive transfers yet (onboarding unfinished)."
        }
        FailureKind::RateLimited => {
            "Stripe was busy; the transfer is sent again with the same key, so it is never paid twice."
        }
        FailureKind::Ambiguous => {
            "Stripe's answer was lost; the transfer is sent again with the same key, so it is never paid twice."
        }
        FailureKind::IdempotencyMismatch => {
            "Stripe refused a repeated request with other details; an operator must look at it."
        }
        FailureKind::InvalidRequest => "Stripe refused the transfer as it was asked for.",
        FailureKind::NotFound => "Stripe does not know the account the transfer was for.",
    }
}

/// Why a program may not pay, in words.
pub fn blocked_words(blocked: &Blocked) -> String {
    match blocked {
        Blocked::ProgramOnProbation { until } => format!(
            "Stripe access was revoked, so the program is on probation until {}: payouts are paused until the merchant re-connects.",
            format::date_time(*until)
        ),
        Blocked::ProgramArchived => {
            "The program is archived: nothing pays out any more.".to_owned()
        }
        Blocked::PayoutsPaused(reason) => format!(
            "Payouts are on hold ({reason}) until the merchant acts on their Stripe account."
        ),
        Blocked::NotConnected(status) => {
            format!("The merchant's Stripe account is {status}: connect it to pay partners.")
        }
        Blocked::BatchState(state) => format!("The batch is {state}."),
        Blocked::NotOnboarded(account) => {
            format!("The account {account} has not finished onboarding.")
        }
    }
}

/// Why the batch's program may not pay now, if it may not.
async fn blocked(state: &AppState, batch: &PayoutBatch) -> Result<Option<String>, ConsoleError> {
    let program = state.engine.program(batch.program_id).await?;
    if let Some(b) = program.payout_block() {
        return Ok(Some(blocked_words(&b)));
    }
    Ok(match state.engine.connection(&batch.merchant_id).await? {
        Some(c) if c.status.can_transfer() => None,
        Some(c) => Some(blocked_words(&Blocked::NotConnected(
            c.status.as_str().to_owned(),
        ))),
        None => Some(blocked_words(&Blocked::NotConnected(
            "not connected".to_owned(),
        ))),
    })
}

/// One manifest line as the page shows it.
#[derive(Debug)]
struct Line {
    partner: String,
    destination: String,
    amount: String,
    commissions: u32,
    state: &'static str,
}

/// One item's outcome.
#[derive(Debug)]
struct Outcome {
    item_id: String,
    partner: String,
    amount: String,
    state: &'static str,
    transfer: Option<(String, String)>,
    failure: Option<(String, &'static str)>,
    retry_at: Option<String>,
    retryable: bool,
}

/// A carried balance.
#[derive(Debug)]
struct Carried {
    partner: String,
    amount: String,
    commissions: u32,
    reason: &'static str,
}

/// The progress counts.
#[derive(Debug)]
struct Progress {
    posted: u64,
    posted_amount: String,
    failed: u64,
    failed_amount: String,
    pending: u64,
    pending_amount: String,
    total: u64,
}

#[derive(Template)]
#[template(path = "batch.html")]
struct BatchPage {
    layout: Layout,
    path: String,
    program_name: String,
    program_path: String,
    live: bool,
    state_words: &'static str,
    id: String,
    period: String,
    state: &'static str,
    total: String,
    fee_total: String,
    item_count: u32,
    hash: String,
    approval: Option<String>,
    source_account: Option<String>,
    blocked: Option<String>,
    lines: Vec<Line>,
    carried: Vec<Carried>,
    progress: Progress,
    outcomes: Vec<Outcome>,
    may_pay: bool,
    may_approve: bool,
    may_execute: bool,
}

/// What a batch's state means, in words.
fn state_words(state: BatchState) -> &'static str {
    match state {
        BatchState::Draft => "Review the manifest, then approve it.",
        BatchState::Approved => "Approved: ready to run.",
        BatchState::Executing => "Running: transfers are being sent.",
        BatchState::Completed => "Every partner was paid.",
        BatchState::CompletedWithFailures => {
            "Done, with failures: retry them below once the cause is fixed."
        }
    }
}

fn carry_words(reason: payouts_domain::batch::CarryReason) -> &'static str {
    use payouts_domain::batch::CarryReason;
    match reason {
        CarryReason::BelowMinimum => {
            "below the minimum payout (the program's, or its currency's when higher)"
        }
        CarryReason::CannotReceive => "the partner's account cannot receive transfers yet",
        CarryReason::NegativeBalance => "adjustments exceed earnings: a debt carried forward",
        CarryReason::ZeroBalance => "adjustments exactly cancel earnings",
    }
}

/// Partners by id, named by their referral key and e-mail.
type Names = std::collections::HashMap<payouts_domain::ids::PartnerId, String>;

fn name(names: &Names, partner: payouts_domain::ids::PartnerId) -> String {
    names
        .get(&partner)
        .cloned()
        .unwrap_or_else(|| partner.to_string())
}

fn outcome_of(item: &PayoutItem, dashboard: &str, names: &Names) -> Outcome {
    let mut outcome = Outcome {
        item_id: item.id.to_string(),
        partner: name(names, item.partner_id),
        amount: format::money(&item.amount),
        state: item.state.as_str(),
        transfer: None,
        failure: None,
        retry_at: None,
        retryable: false,
    };
    match &item.state {
        ItemState::Posted { transfer_id, .. } | ItemState::Reversed { transfer_id, .. } => {
            outcome.transfer = Some((
                transfer_id.to_string(),
                format!("{dashboard}/connect/transfers/{transfer_id}"),
            ));
        }
        ItemState::Failed {
            failure, retry_at, ..
        } => {
            let code = failure
                .code
                .clone()
                .unwrap_or_else(|| failure.kind.as_str().to_owned());
            outcome.failure = Some((code, failure_words(failure.kind)));
            outcome.retry_at = retry_at.map(format::date_time);
            outcome.retryable = true;
        }
        ItemState::Pending | ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. } => {
        }
    }
    outcome
}

/// `GET /dashboard/partners/batches/{batch_id}`.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = scoped_batch(&state, &signed, &path).await?;
    let items = all_items(&state, batch.id).await?;
    // The counts come from the same snapshot as the rows, so the page
    // never contradicts itself while the batch runs.
    let summary = summary_of(&items, batch.currency)?;
    let names: Names = super::program::all_memberships(&state, batch.program_id)
        .await?
        .into_iter()
        .map(|m| (m.partner_id, format!("{} ({})", m.referral_key, m.email)))
        .collect();
    let dashboard = state.settings.stripe_dashboard_url.trim_end_matches('/');
    let open = matches!(
        batch.state,
        BatchState::Draft | BatchState::Approved | BatchState::Executing
    );
    let blocked = if open {
        blocked(&state, &batch).await?
    } else {
        None
    };
    let approval = batch.approval.as_ref().map(|a| match a {
        payouts_domain::batch::Approval::Person { actor, at } => {
            format!("Approved by {actor} on {}", format::date_time(*at))
        }
        payouts_domain::batch::Approval::Policy { policy, at } => format!(
            "Approved by the program's policy ({policy}) on {}",
            format::date_time(*at)
        ),
    });
    let may = may_pay(&signed);
    let program = state.engine.program(batch.program_id).await?;
    let html = BatchPage {
        layout: Layout::signed("Payout batch", &signed),
        path: batch_path(batch.id),
        program_name: program.name.clone(),
        program_path: super::program::program_path(program.id),
        live: batch.state == BatchState::Executing,
        state_words: state_words(batch.state),
        id: batch.id.to_string(),
        period: batch.period.to_string(),
        state: batch.state.as_str(),
        total: format::money(&batch.total),
        fee_total: format::money(&batch.fee_total),
        item_count: batch.item_count,
        hash: batch.manifest_hash.clone(),
        approval,
        source_account: batch.source_account.as_ref().map(ToString::to_string),
        lines: items
            .iter()
            .map(|i| Line {
                partner: name(&names, i.partner_id),
                destination: i.destination.to_string(),
                amount: format::money(&i.amount),
                commissions: i.commission_count,
                state: i.state.as_str(),
            })
            .collect(),
        carried: batch
            .carried
            .iter()
            .map(|c| Carried {
                partner: name(&names, c.partner_id),
                amount: format::money(&c.amount),
                commissions: c.commission_count,
                reason: carry_words(c.reason),
            })
            .collect(),
        progress: Progress {
            posted: summary.posted_count,
            posted_amount: format::money(&summary.posted_amount),
            failed: summary.failed_count,
            failed_amount: format::money(&summary.failed_amount),
            pending: summary.pending_count,
            pending_amount: format::money(&summary.pending_amount),
            total: summary.posted_count + summary.failed_count + summary.pending_count,
        },
        outcomes: items
            .iter()
            .map(|i| outcome_of(i, dashboard, &names))
            .collect(),
        may_pay: may,
        may_approve: may && batch.state == BatchState::Draft,
        // Run an approved batch; resume one whose run stopped (items left
        // unsent and none in flight).
        may_execute: may
            && blocked.is_none()
            && (batch.state == BatchState::Approved
                || (batch.state == BatchState::Executing
                    && items.iter().any(|i| matches!(i.state, ItemState::Pending))
                    && !items
                        .iter()
                        .any(|i| matches!(i.state, ItemState::Submitting { .. })))),
        blocked,
    }
    .render()
    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(page(StatusCode::OK, html))
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf_token: String,
}

/// The approve form: without `confirm=yes` it asks first.
#[derive(Debug, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf_token: String,
    confirm: Option<String>,
}

#[derive(Template)]
#[template(path = "batch_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    path: String,
    total: String,
    item_count: u32,
}

/// Checks the form and the role, and returns the batch.
async fn acting_on(
    req: &HttpRequest,
    state: &AppState,
    signed: &Signed,
    raw: &str,
    token: &str,
) -> Result<PayoutBatch, ConsoleError> {
    csrf::check(req, signed, token)?;
    let batch = scoped_batch(state, signed, raw).await?;
    if !may_pay(signed) {
        return Err(ConsoleError::Forbidden);
    }
    Ok(batch)
}

/// `POST /dashboard/partners/batches/{batch_id}/approve`: without
/// `confirm=yes`, the confirm page restating the total and item count; with
/// it, approves on behalf of the signed-in person and returns to the batch.
pub async fn approve(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<ApproveForm>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    if form.confirm.as_deref() != Some("yes") {
        let html = ConfirmPage {
            layout: Layout::signed("Approve the batch", &signed),
            path: batch_path(batch.id),
            total: format::money(&batch.total),
            item_count: batch.item_count,
        }
        .render()
        .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
        return Ok(page(StatusCode::OK, html));
    }
    state
        .engine
        .approve_batch(batch.id, &signed.acting())
        .await?;
    Ok(see_other(&batch_path(batch.id)))
}

/// `GET …/approve` (a reload of the confirm page): back to the batch.
pub async fn approve_page(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = scoped_batch(&state, &signed, &path).await?;
    Ok(see_other(&batch_path(batch.id)))
}

/// `POST /dashboard/partners/batches/{batch_id}/execute`: starts the run in
/// the background (as the JSON API's execute does) and returns to the
/// batch, whose progress section follows it.
pub async fn execute(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    match payouts_http::start_batch(&state.engine, batch.id, &signed.acting()).await {
        Ok(_) => Ok(see_other(&batch_path(batch.id))),
        Err(DomainError::Transition(_)) => Err(ConsoleError::Conflict(format!(
            "The batch is {}; only an approved batch can be run.",
            batch.state.as_str()
        ))),
        Err(DomainError::Blocked(b)) => Err(ConsoleError::Conflict(blocked_words(&b))),
        Err(other) => Err(other.into()),
    }
}

/// `POST /dashboard/partners/batches/{batch_id}/refresh`: looks the
/// batch's items up on Stripe, then returns to the batch.
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    state
        .engine
        .refresh_batch(batch.id, &signed.acting())
        .await?;
    Ok(see_other(&batch_path(batch.id)))
}

/// `POST /dashboard/partners/batches/{batch_id}/items/{item_id}/retry`:
/// retries one failed item now, then returns to the batch.
pub async fn retry(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (raw_batch, raw_item) = path.into_inner();
    let batch = acting_on(&req, &state, &signed, &raw_batch, &form.csrf_token).await?;
    let item_id = PayoutItemId::parse(&raw_item).map_err(|_| ConsoleError::NotFound)?;
    let item = state.engine.item(item_id).await?;
    if item.batch_id != batch.id {
        return Err(ConsoleError::NotFound);
    }
    if !matches!(item.state, ItemState::Failed { .. }) {
        return Err(ConsoleError::Conflict(format!(
            "This payout is {}; only a failed payout can be retried.",
            item.state.as_str()
        )));
    }
    state.engine.retry_item(item.id, &signed.acting()).await?;
    Ok(see_other(&batch_path(batch.id)))
}

/// `GET /dashboard/partners/batches/{batch_id}/manifest.csv`: the manifest's
/// lines as CSV, the same file the JSON API answers with `Accept: text/csv`.
pub async fn manifest_csv(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = scoped_batch(&state, &signed, &path).await?;
    let items = all_items(&state, batch.id).await?;
    let lines =
        payouts_http::routes::batches::manifest_rows(&items, &state.settings.stripe_dashboard_url);
    let csv = payouts_http::routes::batches::manifest_csv(&lines);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"batch-{}.csv\"", batch.id),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(csv))
}
