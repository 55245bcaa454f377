//! Reconciliation against Stripe, for a person: one batch
//! (`/dashboard/partners/batches/{batch_id}/reconciliation`) or a program's
//! period (`/dashboard/partners/programs/{program_id}/periods/{period}/reconciliation`).
//! Each difference in plain words, with the item, the partner, the transfer
//! (linked to the Stripe dashboard), both amounts with their currency, and
//! a link to its batch; then the period's ledger.

use actix_web::{HttpResponse, web};
use askama::Template;
use payouts_domain::engine::{LineKind, ReconcileScope, ReconciliationReport};
use payouts_domain::ids::BatchId;
use payouts_domain::money::Money;
use payouts_domain::period::Period;
use payouts_http::AppState;

use super::{Layout, render};
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

struct Row {
    kind: &'static str,
    words: &'static str,
    batch_path: String,
    item: String,
    partner: String,
    transfer: Option<(String, String)>,
    destination: String,
    ours: String,
    stripe: String,
    ours_reversed: String,
    stripe_reversed: String,
}

struct Count {
    kind: &'static str,
    words: &'static str,
    count: usize,
}

#[derive(Template)]
#[template(path = "reconciliation.html")]
struct ReconciliationPage {
    layout: Layout,
    program_name: String,
    program_path: String,
    period: String,
    subject: String,
    batch_links: Vec<(String, String)>,
    clean: bool,
    counts: Vec<Count>,
    in_flight: u32,
    differences: Vec<Row>,
    matched: usize,
    ledger: Vec<(&'static str, String)>,
    ledger_balanced: bool,
}

fn money(m: Option<Money>) -> String {
    m.as_ref().map_or_else(|| "—".to_owned(), format::money)
}

async fn show(
    state: &AppState,
    signed: &Signed,
    scope: ReconcileScope,
    subject: String,
) -> Result<HttpResponse, ConsoleError> {
    let report: ReconciliationReport = state.engine.reconciliation(scope).await?;
    let program = state.engine.program(report.program_id).await?;
    let names: std::collections::HashMap<_, _> = super::program::all_memberships(state, program.id)
        .await?
        .into_iter()
        .map(|m| (m.partner_id, format!("{} ({})", m.referral_key, m.email)))
        .collect();
    let dashboard = state.settings.stripe_dashboard_url.trim_end_matches('/');
    let batch_path = |id: BatchId| format!("/dashboard/partners/batches/{id}");
    let differences = report
        .differences()
        .map(|d| Row {
            kind: d.kind.as_str(),
            words: d.kind.describe(),
            batch_path: batch_path(d.batch_id),
            item: d.item_id.map_or_else(|| "—".to_owned(), |i| i.to_string()),
            partner: d.partner_id.map_or_else(
                || "—".to_owned(),
                |p| names.get(&p).cloned().unwrap_or_else(|| p.to_string()),
            ),
            transfer: d
                .transfer_id
                .as_ref()
                .map(|t| (t.to_string(), format!("{dashboard}/connect/transfers/{t}"))),
            destination: d
                .destination
                .as_ref()
                .map_or_else(|| "—".to_owned(), ToString::to_string),
            ours: money(d.ours),
            stripe: money(d.stripe),
            ours_reversed: money(d.ours_reversed),
            stripe_reversed: money(d.stripe_reversed),
        })
        .collect();
    let l = &report.ledger;
    let html = ReconciliationPage {
        layout: Layout::signed("Reconciliation", signed),
        program_name: program.name.clone(),
        program_path: super::program::program_path(program.id),
        period: report.period.to_string(),
        subject,
        batch_links: report
            .batches
            .iter()
            .map(|b| (b.to_string(), batch_path(*b)))
            .collect(),
        clean: report.is_clean(),
        counts: LineKind::ALL
            .into_iter()
            .filter(|k| k.is_difference())
            .map(|k| Count {
                kind: k.as_str(),
                words: k.describe(),
                count: report.count(k),
            })
            .collect(),
        in_flight: report.in_flight,
        matched: report.count(LineKind::Matched),
        differences,
        ledger: vec![
            ("Finalized commissions", format::money(&l.finalized)),
            ("Paid (posted)", format::money(&l.posted)),
            ("Carried to a later batch", format::money(&l.carried)),
            ("On the way (pending)", format::money(&l.pending)),
            ("Failed, not yet retried", format::money(&l.failed)),
        ],
        ledger_balanced: l.balanced(),
    };
    render(&html)
}

/// `GET /dashboard/partners/batches/{batch_id}/reconciliation`.
///
/// # Errors
/// [`ConsoleError`]: 404 for another merchant's batch or a malformed id.
pub async fn batch(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let batch = super::batch::scoped_batch(&state, &signed, &path).await?;
    show(
        &state,
        &signed,
        ReconcileScope::Batch { batch_id: batch.id },
        format!("the batch for {}", batch.period),
    )
    .await
}

/// `GET /dashboard/partners/programs/{program_id}/periods/{period}/reconciliation`.
///
/// # Errors
/// [`ConsoleError`]: 404 for another merchant's program, a malformed id or
/// period.
pub async fn period(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (program, period) = path.into_inner();
    let program = super::program::scoped_program(&state, &signed, &program).await?;
    let period = Period::parse(&period).map_err(|_| ConsoleError::NotFound)?;
    show(
        &state,
        &signed,
        ReconcileScope::Program {
            program_id: program.id,
            period,
        },
        format!("every batch for {period}"),
    )
    .await
}
