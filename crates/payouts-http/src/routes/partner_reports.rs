//! Reports (issue 15): the merchant's 1099 list (JSON or CSV) and partner
//! statements (one paid item, or a month of them). The rules are the
//! engine's ([`payouts_domain::tax`], [`payouts_domain::statement`]); these
//! handlers parse, scope and render.

use std::fmt::Write as _;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, web};
use payouts_domain::commission::CommissionKind;
use payouts_domain::ids::{PartnerId, PayoutItemId};
use payouts_domain::period::Period;
use payouts_domain::statement::{MonthlyStatement, Statement, StatementCarry, StatementLine};
use payouts_domain::tax::{TaxReport, TaxReportRow};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::batches::scope_partner;
use crate::routes::programs::parse_uuid;
use crate::routes::{HISTORY_ROLES, PROGRAM_ROLES};
use crate::state::AppState;
use crate::views::timestamp;
use crate::wire::{MoneyDto, currency_code};

/// Registers the report routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(tax_report)
        .service(partner_statement)
        .service(monthly_statement);
}

// ---------------------------------------------------------------- 1099 list

/// `?all=true` lists every paid partner, not only those over the threshold.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TaxReportQuery {
    /// `true`: every partner paid in the year, under the threshold and
    /// outside the US too. Default `false`: the 1099-NEC list only.
    pub all: Option<bool>,
}

/// One partner of the merchant's 1099 list.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxReportRowDto {
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// Their contact e-mail in the merchant's program.
    pub email: String,
    /// ISO 3166-1 alpha-2 country in the merchant's program.
    pub country: String,
    /// Net paid by this merchant in the year, one entry per currency
    /// (posted transfers minus reversals), never converted.
    pub totals: Vec<MoneyDto>,
    /// Payouts counted.
    pub payout_count: u64,
    /// US partner paid $600.00 or more in USD: Stripe files a 1099-NEC.
    pub form_1099_required: bool,
}

impl From<&TaxReportRow> for TaxReportRowDto {
    fn from(r: &TaxReportRow) -> Self {
        TaxReportRowDto {
            partner_id: r.summary.partner_id.to_string(),
            email: r.email.clone(),
            country: r.country.clone(),
            totals: r.summary.totals.iter().map(MoneyDto::from_money).collect(),
            payout_count: r.summary.payout_count,
            form_1099_required: r.summary.form_1099_required,
        }
    }
}

/// The merchant's 1099 list for a calendar year.
#[derive(Debug, Serialize, ToSchema)]
pub struct TaxReportView {
    /// The calendar year (UTC, by the date each transfer posted).
    pub year: i32,
    /// Whether partners under the threshold (and outside the US) are listed.
    pub all: bool,
    /// The 1099-NEC threshold, in USD.
    pub threshold: MoneyDto,
    /// One row per partner, by partner id.
    pub data: Vec<TaxReportRowDto>,
    /// The listed rows' totals, one per currency, never converted.
    pub totals: Vec<MoneyDto>,
}

impl From<&TaxReport> for TaxReportView {
    fn from(r: &TaxReport) -> Self {
        TaxReportView {
            year: r.year,
            all: r.all,
            threshold: MoneyDto::from_money(&r.threshold),
            data: r.rows.iter().map(TaxReportRowDto::from).collect(),
            totals: r.totals.iter().map(MoneyDto::from_money).collect(),
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

/// The list as CSV: a header row, then one row per partner and currency
/// (a partner paid in two currencies has two rows; amounts in minor units).
pub fn tax_report_csv(report: &TaxReport) -> String {
    let mut csv = String::from(
        "year,partner_id,email,country,currency,amount,payout_count,form_1099_required\n",
    );
    for row in &report.rows {
        for total in &row.summary.totals {
            let _ = writeln!(
                csv,
                "{},{},{},{},{},{},{},{}",
                report.year,
                row.summary.partner_id,
                csv_field(&row.email),
                csv_field(&row.country),
                currency_code(total.currency()),
                total.amount_minor(),
                row.summary.payout_count,
                row.summary.form_1099_required,
            );
        }
    }
    csv
}

/// The year of a tax path, or 400 naming `year`.
fn year_of(raw: &str) -> Result<i32, ApiError> {
    let year = raw.parse::<i32>().map_err(|_| {
        ApiError::validation(
            "year",
            "year must be a four-digit calendar year (2000 to 9999)",
        )
    })?;
    Ok(payouts_domain::tax::check_year(year)?)
}

/// True when the client asked for CSV.
fn wants_csv(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/csv"))
}

/// The merchant's 1099 list: every US partner the caller's merchant paid
/// $600.00 or more in USD in the calendar year (by the date each transfer
/// posted, net of reversals, as `GET /partners/{partner_id}/tax/{year}`
/// counts), with totals per currency. `?all=true` lists every partner paid
/// in the year. Only USD counts toward the threshold; other currencies are
/// listed as their own totals, never converted. With `Accept: text/csv`,
/// one CSV row per partner and currency after a header row.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles (the token's merchant).
#[utoipa::path(get, path = "/api/v1/reports/tax/{year}", tag = "reports",
    params(("year" = i32, Path), TaxReportQuery), security(("bearer" = [])),
    responses((status = 200, description = "the list; with `Accept: text/csv`, one row per partner and currency after a header row",
            content((TaxReportView = "application/json"), (String = "text/csv"))),
        (status = 400), (status = 403)))]
#[get("/reports/tax/{year}")]
pub async fn tax_report(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<TaxReportQuery>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let year = year_of(&path)?;
    let all = query.all.unwrap_or(false);
    let report = state
        .engine
        .tax_report(&principal.merchant_id, year, all)
        .await?;
    if wants_csv(&req) {
        return Ok(HttpResponse::Ok()
            .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
            .insert_header((
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"tax-{year}.csv\""),
            ))
            .body(tax_report_csv(&report)));
    }
    Ok(HttpResponse::Ok().json(TaxReportView::from(&report)))
}

// ---------------------------------------------------------------- statements

/// One commission on a statement.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementLineDto {
    /// The commission.
    #[schema(format = "uuid")]
    pub commission_id: String,
    /// `earned` or `adjustment` (a signed correction, e.g. a refund).
    pub kind: String,
    /// Adjustments: the commission it corrects.
    #[schema(format = "uuid")]
    pub corrects: Option<String>,
    /// Adjustments: `refund`, `cancellation` or `manual`.
    pub reason: Option<String>,
    /// The conversion.
    #[schema(format = "uuid")]
    pub conversion_id: String,
    /// The merchant's id of the conversion (order, invoice).
    pub conversion_external_id: Option<String>,
    /// When the sale happened (RFC 3339).
    #[schema(format = DateTime)]
    pub conversion_at: Option<String>,
    /// The sale's amount.
    pub sale: Option<MoneyDto>,
    /// The commission's ledger period, `YYYY-MM`.
    pub period: String,
    /// When the commission was earned or the adjustment made (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// Earned lines: percent of the sale earned, as a decimal string (`"20"`).
    pub effective_rate: Option<String>,
    /// Earned lines: the reward rule it was earned under (`null` for
    /// adjustments and for commissions recorded before rules were kept).
    pub rule: Option<crate::routes::rewards::AppliedRuleView>,
    /// What it earned when made.
    pub original_amount: MoneyDto,
    /// What it pays on this statement (negative for a clawback).
    pub amount: MoneyDto,
}

impl From<&StatementLine> for StatementLineDto {
    fn from(l: &StatementLine) -> Self {
        let (kind, corrects, reason) = match l.kind {
            CommissionKind::Earned => ("earned", None, None),
            CommissionKind::Adjustment { corrects, reason } => (
                "adjustment",
                Some(corrects.to_string()),
                Some(reason.as_str().to_owned()),
            ),
        };
        StatementLineDto {
            commission_id: l.commission_id.to_string(),
            kind: kind.to_owned(),
            corrects,
            reason,
            conversion_id: l.conversion_id.to_string(),
            conversion_external_id: l
                .conversion_external_id
                .as_ref()
                .map(|e| e.as_str().to_owned()),
            conversion_at: l.conversion_at.map(timestamp),
            sale: l.sale.as_ref().map(MoneyDto::from_money),
            period: l.period.to_string(),
            created_at: timestamp(l.created_at),
            effective_rate: l.effective_rate.map(|r| r.to_string()),
            rule: l
                .rule
                .as_ref()
                .map(crate::routes::rewards::AppliedRuleView::from),
            original_amount: MoneyDto::from_money(&l.original_amount),
            amount: MoneyDto::from_money(&l.amount),
        }
    }
}

/// A balance an earlier batch carried, paid by this item.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementCarryDto {
    /// The batch that carried it.
    #[schema(format = "uuid")]
    pub batch_id: String,
    /// That batch's period, `YYYY-MM`.
    pub period: String,
    /// The net carried (negative for a debt).
    pub amount: MoneyDto,
    /// Commission rows it held.
    pub commission_count: u32,
    /// `below_minimum`, `cannot_receive`, `negative_balance` or `zero_balance`.
    pub reason: String,
}

impl From<&StatementCarry> for StatementCarryDto {
    fn from(c: &StatementCarry) -> Self {
        StatementCarryDto {
            batch_id: c.batch_id.to_string(),
            period: c.period.to_string(),
            amount: MoneyDto::from_money(&c.amount),
            commission_count: c.commission_count,
            reason: c.reason.as_str().to_owned(),
        }
    }
}

/// The statement of one paid payout item.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatementDto {
    /// The payout item.
    #[schema(format = "uuid")]
    pub item_id: String,
    /// Its batch.
    #[schema(format = "uuid")]
    pub batch_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The merchant that paid.
    pub merchant_id: String,
    /// The batch's period, `YYYY-MM`.
    pub period: String,
    /// `posted` or `reversed`.
    pub state: String,
    /// The Stripe transfer.
    pub transfer_id: Option<String>,
    /// When the transfer posted (RFC 3339).
    #[schema(format = DateTime)]
    pub paid_at: String,
    /// Transferred.
    pub amount: MoneyDto,
    /// Reversed since (zero when not).
    pub reversed: MoneyDto,
    /// The commissions paid, oldest first; adjustments are negative lines.
    pub lines: Vec<StatementLineDto>,
    /// Balances carried by earlier batches that this item pays.
    pub carry_overs: Vec<StatementCarryDto>,
    /// The sum of the lines: equals `amount`.
    pub total: MoneyDto,
}

impl From<&Statement> for StatementDto {
    fn from(s: &Statement) -> Self {
        let transfer_id = match &s.item.state {
            payouts_domain::item::ItemState::Posted { transfer_id, .. }
            | payouts_domain::item::ItemState::Reversed { transfer_id, .. } => {
                Some(transfer_id.to_string())
            }
            payouts_domain::item::ItemState::Pending
            | payouts_domain::item::ItemState::Submitting { .. }
            | payouts_domain::item::ItemState::ReconcileRequired { .. }
            | payouts_domain::item::ItemState::Failed { .. } => None,
        };
        StatementDto {
            item_id: s.item.id.to_string(),
            batch_id: s.item.batch_id.to_string(),
            program_id: s.item.program_id.to_string(),
            partner_id: s.item.partner_id.to_string(),
            merchant_id: s.item.merchant_id.to_string(),
            period: s.period.to_string(),
            state: s.item.state.as_str().to_owned(),
            transfer_id,
            paid_at: timestamp(s.paid_at),
            amount: MoneyDto::from_money(&s.item.amount),
            reversed: MoneyDto::from_money(&s.reversed),
            lines: s.lines.iter().map(StatementLineDto::from).collect(),
            carry_overs: s.carry_overs.iter().map(StatementCarryDto::from).collect(),
            total: MoneyDto::from_money(&s.total),
        }
    }
}

/// A partner's month of statements.
#[derive(Debug, Serialize, ToSchema)]
pub struct MonthlyStatementDto {
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The month, `YYYY-MM` (UTC, by the date each transfer posted).
    pub period: String,
    /// One statement per item paid in the month, oldest payment first.
    pub statements: Vec<StatementDto>,
    /// Paid in the month, one entry per currency, never converted.
    pub totals: Vec<MoneyDto>,
    /// Reversed since, per currency (empty when nothing was).
    pub reversed: Vec<MoneyDto>,
}

impl From<&MonthlyStatement> for MonthlyStatementDto {
    fn from(m: &MonthlyStatement) -> Self {
        MonthlyStatementDto {
            partner_id: m.partner_id.to_string(),
            period: m.period.to_string(),
            statements: m.statements.iter().map(StatementDto::from).collect(),
            totals: m.totals.iter().map(MoneyDto::from_money).collect(),
            reversed: m.reversed.iter().map(MoneyDto::from_money).collect(),
        }
    }
}

/// The statement of one of the partner's paid payout items: each
/// commission it pays (conversion, date, effective rate, amounts),
/// adjustments as negative lines, and the earlier carry-overs it pays; the
/// lines sum to the item's amount. Another merchant's or partner's item
/// answers 404; an item not paid yet 409 `conflict`.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles, and `partner` (their own only).
#[utoipa::path(get, path = "/api/v1/partners/{partner_id}/statements/{item_id}", tag = "partners",
    params(("partner_id" = String, Path), ("item_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = StatementDto), (status = 400), (status = 404), (status = 409)))]
#[get("/partners/{partner_id}/statements/{item_id}")]
pub async fn partner_statement(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<StatementDto>, ApiError> {
    principal.require(HISTORY_ROLES)?;
    let (raw_partner, raw_item) = path.into_inner();
    let partner = parse_uuid::<PartnerId>(&raw_partner, "partner_id")?;
    let item = parse_uuid::<PayoutItemId>(&raw_item, "item_id")?;
    scope_partner(&state, &principal, partner).await?;
    let payer = (!principal.is_platform()).then_some(&principal.merchant_id);
    Ok(web::Json(StatementDto::from(
        &state.engine.statement(partner, item, payer).await?,
    )))
}

/// A partner's monthly statement: every item paid (posted) in the month,
/// each with its statement, and the month's totals per currency.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles, and `partner` (their own only).
#[utoipa::path(get, path = "/api/v1/partners/{partner_id}/statements/months/{period}", tag = "partners",
    params(("partner_id" = String, Path), ("period" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MonthlyStatementDto), (status = 400), (status = 404)))]
#[get("/partners/{partner_id}/statements/months/{period}")]
pub async fn monthly_statement(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<MonthlyStatementDto>, ApiError> {
    principal.require(HISTORY_ROLES)?;
    let (raw_partner, raw_period) = path.into_inner();
    let partner = parse_uuid::<PartnerId>(&raw_partner, "partner_id")?;
    let period = Period::parse(&raw_period)
        .map_err(|_| ApiError::validation("period", "period must be YYYY-MM"))?;
    scope_partner(&state, &principal, partner).await?;
    let payer = (!principal.is_platform()).then_some(&principal.merchant_id);
    Ok(web::Json(MonthlyStatementDto::from(
        &state
            .engine
            .monthly_statement(partner, period, payer)
            .await?,
    )))
}

#[cfg(test)]
mod tests {
    use payouts_domain::ids::PartnerId;
    use payouts_domain::money::{Currency, Money};
    use payouts_domain::tax::{TaxSummary, report};

    use super::*;

    #[test]
    fn the_csv_has_a_header_and_a_row_per_partner_and_currency() {
        let partner = PartnerId::from_uuid(uuid::Uuid::from_u128(1));
        let row = TaxReportRow {
            summary: TaxSummary {
                partner_id: partner,
                year: 2026,
                totals: vec![
                    Money::new(900_000, Currency::EUR),
                    Money::new(80_000, Currency::USD),
                ],
                payout_count: 3,
                form_1099_required: true,
            },
            country: "US".to_owned(),
            email: "a,\"b\"@example.com".to_owned(),
        };
        let csv = tax_report_csv(&report(2026, false, vec![row]).unwrap());
        assert_eq!(
            csv,
            format!(
                "year,partner_id,email,country,currency,amount,payout_count,form_1099_required\n\
                 2026,{partner},\"a,\"\"b\"\"@example.com\",US,eur,900000,3,true\n\
                 2026,{partner},\"a,\"\"b\"\"@example.com\",US,usd,80000,3,true\n"
            )
        );
    }
}
