//! Reports: reconciliation against Stripe (issue 15), JSON or CSV.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use payouts_domain::engine::{
    LedgerPeriod, LineKind, ReconcileScope, ReconciliationLine, ReconciliationReport,
};
use payouts_domain::ids::{BatchId, ProgramId};
use payouts_domain::money::Money;
use payouts_domain::period::Period;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::PROGRAM_ROLES;
use crate::routes::programs::{parse_uuid, scoped_program};
use crate::state::AppState;
use crate::wire::MoneyDto;

/// Registers the report routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(reconciliation);
}

/// `GET /reports/reconciliation` query: a program and a period, or a batch.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReconciliationQuery {
    /// The program (with `period`).
    pub program_id: Option<String>,
    /// The period its batches pay, `YYYY-MM` (with `program_id`).
    pub period: Option<String>,
    /// One batch (instead of `program_id` and `period`).
    pub batch_id: Option<String>,
}

/// How a line compares, by its wire name.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LineKindDto {
    /// Stripe holds the same transfer, amount, currency and reversals.
    Matched,
    /// We recorded a transfer Stripe does not list.
    MissingAtStripe,
    /// Stripe lists a transfer under our group that we did not record.
    NotOurs,
    /// Another amount or currency at Stripe.
    AmountMismatch,
    /// Stripe reversed more than we recorded.
    UnrecordedReversal,
    /// We recorded more reversed than Stripe shows.
    ReversalNotAtStripe,
}

impl From<LineKind> for LineKindDto {
    fn from(k: LineKind) -> Self {
        match k {
            LineKind::Matched => LineKindDto::Matched,
            LineKind::MissingAtStripe => LineKindDto::MissingAtStripe,
            LineKind::NotOurs => LineKindDto::NotOurs,
            LineKind::AmountMismatch => LineKindDto::AmountMismatch,
            LineKind::UnrecordedReversal => LineKindDto::UnrecordedReversal,
            LineKind::ReversalNotAtStripe => LineKindDto::ReversalNotAtStripe,
        }
    }
}

/// One item or transfer, ours beside Stripe's.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconciliationLineView {
    /// How they compare.
    pub kind: LineKindDto,
    /// The kind in plain words.
    pub description: String,
    /// The batch; its transfers' group is `batch_{batch_id}`.
    #[schema(format = "uuid")]
    pub batch_id: String,
    /// Our payout item (or the one Stripe's metadata names).
    #[schema(format = "uuid")]
    pub item_id: Option<String>,
    /// The partner of our item.
    #[schema(format = "uuid")]
    pub partner_id: Option<String>,
    /// The Stripe transfer (`tr_…`): ours, else Stripe's.
    pub transfer_id: Option<String>,
    /// The partner's Stripe account (`acct_…`).
    pub destination: Option<String>,
    /// Our amount.
    pub ours: Option<MoneyDto>,
    /// Stripe's amount.
    pub stripe: Option<MoneyDto>,
    /// What we recorded as reversed.
    pub ours_reversed: Option<MoneyDto>,
    /// What Stripe shows as reversed.
    pub stripe_reversed: Option<MoneyDto>,
}

impl From<&ReconciliationLine> for ReconciliationLineView {
    fn from(l: &ReconciliationLine) -> Self {
        let money = |m: Option<Money>| m.as_ref().map(MoneyDto::from_money);
        ReconciliationLineView {
            kind: l.kind.into(),
            description: l.kind.describe().to_owned(),
            batch_id: l.batch_id.to_string(),
            item_id: l.item_id.map(|i| i.to_string()),
            partner_id: l.partner_id.map(|p| p.to_string()),
            transfer_id: l.transfer_id.as_ref().map(ToString::to_string),
            destination: l.destination.as_ref().map(ToString::to_string),
            ours: money(l.ours),
            stripe: money(l.stripe),
            ours_reversed: money(l.ours_reversed),
            stripe_reversed: money(l.stripe_reversed),
        }
    }
}

/// The period's ledger: `finalized = posted + carried + pending + failed`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LedgerView {
    /// The period, `YYYY-MM`.
    pub period: String,
    /// Finalized commissions.
    pub finalized: MoneyDto,
    /// Paid by posted (and reversed) items.
    pub posted: MoneyDto,
    /// In no item yet.
    pub carried: MoneyDto,
    /// In items still open.
    pub pending: MoneyDto,
    /// In failed items not yet retried.
    pub failed: MoneyDto,
    /// True when the four buckets add up to `finalized`.
    pub balanced: bool,
}

impl From<&LedgerPeriod> for LedgerView {
    fn from(l: &LedgerPeriod) -> Self {
        LedgerView {
            period: l.period.to_string(),
            finalized: MoneyDto::from_money(&l.finalized),
            posted: MoneyDto::from_money(&l.posted),
            carried: MoneyDto::from_money(&l.carried),
            pending: MoneyDto::from_money(&l.pending),
            failed: MoneyDto::from_money(&l.failed),
            balanced: l.balanced(),
        }
    }
}

/// How many lines of each kind.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconciliationCounts {
    /// Matched.
    pub matched: usize,
    /// Ours, missing at Stripe.
    pub missing_at_stripe: usize,
    /// At Stripe, not ours.
    pub not_ours: usize,
    /// Amount or currency mismatches.
    pub amount_mismatch: usize,
    /// Reversals we have not recorded.
    pub unrecorded_reversal: usize,
    /// Reversals we recorded that Stripe does not show.
    pub reversal_not_at_stripe: usize,
}

/// The reconciliation report.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ReconciliationView {
    /// The merchant.
    pub merchant_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The period, `YYYY-MM`.
    pub period: String,
    /// The batch, when one batch was asked for.
    #[schema(format = "uuid")]
    pub batch_id: Option<String>,
    /// The batches compared.
    pub batches: Vec<String>,
    /// True when no line differs and the ledger balances.
    pub clean: bool,
    /// Lines per kind.
    pub counts: ReconciliationCounts,
    /// Items still on their way to Stripe, not compared yet.
    pub in_flight: u32,
    /// Matched lines first, then each kind of difference.
    pub lines: Vec<ReconciliationLineView>,
    /// The period's ledger.
    pub ledger: LedgerView,
}

impl From<&ReconciliationReport> for ReconciliationView {
    fn from(r: &ReconciliationReport) -> Self {
        ReconciliationView {
            merchant_id: r.merchant_id.to_string(),
            program_id: r.program_id.to_string(),
            period: r.period.to_string(),
            batch_id: match r.scope {
                ReconcileScope::Batch { batch_id } => Some(batch_id.to_string()),
                ReconcileScope::Program { .. } => None,
            },
            batches: r.batches.iter().map(ToString::to_string).collect(),
            clean: r.is_clean(),
            counts: ReconciliationCounts {
                matched: r.count(LineKind::Matched),
                missing_at_stripe: r.count(LineKind::MissingAtStripe),
                not_ours: r.count(LineKind::NotOurs),
                amount_mismatch: r.count(LineKind::AmountMismatch),
                unrecorded_reversal: r.count(LineKind::UnrecordedReversal),
                reversal_not_at_stripe: r.count(LineKind::ReversalNotAtStripe),
            },
            in_flight: r.in_flight,
            lines: r.lines.iter().map(ReconciliationLineView::from).collect(),
            ledger: LedgerView::from(&r.ledger),
        }
    }
}

fn csv_field(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_owned()
    }
}

/// The report's lines as CSV, one row per line, with a header row.
pub fn reconciliation_csv(report: &ReconciliationReport) -> String {
    let mut csv = String::from(
        "kind,batch_id,item_id,partner_id,transfer_id,destination,ours_amount,ours_currency,stripe_amount,stripe_currency,ours_reversed,stripe_reversed,description\n",
    );
    let amount = |m: Option<Money>| m.map(|m| m.amount_minor().to_string()).unwrap_or_default();
    let currency = |m: Option<Money>| {
        m.map(|m| m.currency().code().to_ascii_lowercase())
            .unwrap_or_default()
    };
    for l in &report.lines {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            l.kind.as_str(),
            l.batch_id,
            l.item_id.map(|i| i.to_string()).unwrap_or_default(),
            l.partner_id.map(|p| p.to_string()).unwrap_or_default(),
            l.transfer_id
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            l.destination
                .as_ref()
                .map(ToString::to_string)
                .unwrap_or_default(),
            amount(l.ours),
            currency(l.ours),
            amount(l.stripe),
            currency(l.stripe),
            amount(l.ours_reversed),
            amount(l.stripe_reversed),
            csv_field(l.kind.describe()),
        );
    }
    csv
}

/// The scope a query names: `program_id` with `period`, or `batch_id`.
///
/// # Errors
/// 400 `validation_error` when both or neither are given, one of
/// `program_id`/`period` is missing, or a value does not parse.
pub fn scope_of(query: &ReconciliationQuery) -> Result<ReconcileScope, ApiError> {
    match (&query.program_id, &query.period, &query.batch_id) {
        (None, None, Some(batch)) => Ok(ReconcileScope::Batch {
            batch_id: parse_uuid::<BatchId>(batch, "batch_id")?,
        }),
        (Some(program), Some(period), None) => Ok(ReconcileScope::Program {
            program_id: parse_uuid::<ProgramId>(program, "program_id")?,
            period: Period::parse(period)
                .map_err(|_| ApiError::validation("period", "period must be YYYY-MM"))?,
        }),
        (_, _, Some(_)) => Err(ApiError::validation(
            "batch_id",
            "give either batch_id, or program_id and period, not both",
        )),
        (Some(_), None, None) => Err(ApiError::validation(
            "period",
            "period (YYYY-MM) is required with program_id",
        )),
        (None, Some(_), None) => Err(ApiError::validation(
            "program_id",
            "program_id is required with period",
        )),
        (None, None, None) => Err(ApiError::validation(
            "program_id",
            "give program_id and period, or batch_id",
        )),
    }
}

/// Reconciliation against Stripe: our posted and reversed items beside the
/// transfers Stripe lists under the same `transfer_group`s (paged, on the
/// account each batch paid from), and the period's ledger. With
/// `Accept: text/csv`, the lines as CSV with a header row.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(get, path = "/api/v1/reports/reconciliation", tag = "reports",
    params(ReconciliationQuery), security(("bearer" = [])),
    responses((status = 200, description = "the report; with `Accept: text/csv`, its lines as CSV with a header row",
            content((ReconciliationView = "application/json"), (String = "text/csv"))),
        (status = 400, description = "both or neither of program_id/period and batch_id, or a value that does not parse"),
        (status = 404)))]
#[get("/reports/reconciliation")]
pub async fn reconciliation(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ReconciliationQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let scope = scope_of(&query)?;
    // Another merchant's program or batch answers 404 before Stripe is asked.
    match scope {
        ReconcileScope::Program { program_id, .. } => {
            scoped_program(&state, &principal, program_id).await?;
        }
        ReconcileScope::Batch { batch_id } => {
            let batch = state.engine.batch(batch_id).await?;
            principal.scope(&batch.merchant_id, "batch")?;
        }
    }
    let report = state.engine.reconciliation(scope).await?;
    let wants_csv = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"));
    if wants_csv {
        let name = match scope {
            ReconcileScope::Batch { batch_id } => format!("batch-{batch_id}"),
            ReconcileScope::Program { program_id, period } => {
                format!("program-{program_id}-{period}")
            }
        };
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"reconciliation-{name}.csv\""),
            ))
            .body(reconciliation_csv(&report)));
    }
    Ok(HttpResponse::Ok().json(ReconciliationView::from(&report)))
}
