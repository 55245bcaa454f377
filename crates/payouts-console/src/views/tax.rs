//! `/dashboard/partners/tax/{year}`: the merchant's 1099 list. The US
//! partners it paid $600 or more in the year (USD only counts), or with
//! `?all=true` every partner it paid; each currency on its own line, and
//! the same CSV the JSON API answers with `Accept: text/csv`.

use actix_web::http::header;
use actix_web::{HttpResponse, web};
use askama::Template;
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, may_act, render, see_other};
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// `?all=true`.
#[derive(Debug, Default, Deserialize)]
pub struct TaxQuery {
    #[serde(default)]
    all: Option<bool>,
}

/// One partner's row.
#[derive(Debug)]
struct Row {
    partner_id: String,
    email: String,
    country: String,
    totals: Vec<String>,
    payout_count: u64,
    form_1099: bool,
}

#[derive(Template)]
#[template(path = "tax.html")]
struct TaxPage {
    layout: Layout,
    year: i32,
    all: bool,
    threshold: String,
    rows: Vec<Row>,
    totals: Vec<String>,
    csv_path: String,
    toggle_path: String,
    previous_path: String,
    next_path: String,
}

/// The year of the path, or a 400 in words.
fn year_of(raw: &str) -> Result<i32, ConsoleError> {
    raw.parse::<i32>()
        .map_err(|_| ConsoleError::Invalid("The year must be four digits, e.g. 2026.".to_owned()))
}

fn staff_only(signed: &Signed) -> Result<(), ConsoleError> {
    if may_act(signed) {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden)
    }
}

fn list_path(year: i32, all: bool) -> String {
    if all {
        format!("/dashboard/partners/tax/{year}?all=true")
    } else {
        format!("/dashboard/partners/tax/{year}")
    }
}

/// `GET /dashboard/partners/tax`: this year's list.
pub async fn current(
    state: web::Data<AppState>,
    signed: Signed,
) -> Result<HttpResponse, ConsoleError> {
    staff_only(&signed)?;
    let year = state.engine.clock().now().year();
    Ok(see_other(&list_path(year, false)))
}

/// `GET /dashboard/partners/tax/{year}`.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    query: web::Query<TaxQuery>,
) -> Result<HttpResponse, ConsoleError> {
    staff_only(&signed)?;
    let year = year_of(&path)?;
    let all = query.all.unwrap_or(false);
    let report = state
        .engine
        .tax_report(signed.merchant(), year, all)
        .await?;
    let rows = report
        .rows
        .iter()
        .map(|r| Row {
            partner_id: r.summary.partner_id.to_string(),
            email: r.email.clone(),
            country: r.country.clone(),
            totals: r.summary.totals.iter().map(format::money).collect(),
            payout_count: r.summary.payout_count,
            form_1099: r.summary.form_1099_required,
        })
        .collect();
    render(&TaxPage {
        layout: Layout::signed(&format!("1099 list {year}"), &signed),
        year,
        all,
        threshold: format::money(&report.threshold),
        rows,
        totals: report.totals.iter().map(format::money).collect(),
        csv_path: if all {
            format!("/dashboard/partners/tax/{year}/list.csv?all=true")
        } else {
            format!("/dashboard/partners/tax/{year}/list.csv")
        },
        toggle_path: list_path(year, !all),
        previous_path: list_path(year.saturating_sub(1), all),
        next_path: list_path(year.saturating_add(1), all),
    })
}

/// `GET /dashboard/partners/tax/{year}/list.csv`: the list as CSV, one row
/// per partner and currency.
pub async fn csv(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    query: web::Query<TaxQuery>,
) -> Result<HttpResponse, ConsoleError> {
    staff_only(&signed)?;
    let year = year_of(&path)?;
    let report = state
        .engine
        .tax_report(signed.merchant(), year, query.all.unwrap_or(false))
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"tax-{year}.csv\""),
        ))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .body(payouts_http::routes::partner_reports::tax_report_csv(
            &report,
        )))
}
