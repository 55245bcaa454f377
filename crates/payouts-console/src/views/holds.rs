//! `/dashboard/partners/holds`: the merchant's commissions on hold for
//! review (issue 16), oldest first, by reason; each with its partner, sale,
//! amount, reason in words and since when, and Release / Reject buttons.
//! Reject is behind a confirm step that restates what will happen.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use payouts_domain::DomainError;
use payouts_domain::commission::{Commission, CommissionState, OnHoldReason};
use payouts_domain::engine::HoldDecision;
use payouts_domain::ids::CommissionId;
use payouts_domain::ports::PageRequest;
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, may_act, page, render, see_other};
use crate::csrf;
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

const HOLDS_PATH: &str = "/dashboard/partners/holds";

/// Rows per page.
const PAGE_SIZE: u32 = 50;

/// `?reason=&after=`.
#[derive(Debug, Default, Deserialize)]
pub struct HoldsQuery {
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// Why a commission is held, in words.
pub fn reason_words(reason: OnHoldReason) -> &'static str {
    match reason {
        OnHoldReason::SelfReferral => {
            "Self-referral: the customer's e-mail is the partner's, or at the partner's own domain"
        }
        OnHoldReason::DuplicateAccount => {
            "Duplicate account: another partner of yours pays out to the same bank account"
        }
        OnHoldReason::Manual => "Held by hand for review",
    }
}

/// One held commission.
#[derive(Debug)]
struct Row {
    id: String,
    partner: String,
    partner_id: String,
    order: String,
    customer: String,
    occurred: String,
    amount: String,
    reason: &'static str,
    reason_code: &'static str,
    since: String,
}

/// A reason filter link.
#[derive(Debug)]
struct Filter {
    label: &'static str,
    href: String,
    current: bool,
}

#[derive(Template)]
#[template(path = "holds.html")]
struct HoldsPage {
    layout: Layout,
    rows: Vec<Row>,
    filters: Vec<Filter>,
    may_act: bool,
    next_path: Option<String>,
}

#[derive(Template)]
#[template(path = "hold_confirm.html")]
struct ConfirmPage {
    layout: Layout,
    path: String,
    amount: String,
    partner: String,
    order: String,
}

fn staff_only(signed: &Signed) -> Result<(), ConsoleError> {
    if signed.is_staff() {
        Ok(())
    } else {
        Err(ConsoleError::Forbidden)
    }
}

async fn row(state: &AppState, c: &Commission) -> Result<Row, ConsoleError> {
    let CommissionState::OnHold { reason, since } = c.state else {
        return Err(ConsoleError::Unavailable(format!(
            "commission {} is listed as held but is {}",
            c.id,
            c.state.as_str()
        )));
    };
    let membership = state.engine.membership(c.membership_id).await?;
    let conversion = state.engine.conversion(c.conversion_id).await?;
    Ok(Row {
        id: c.id.to_string(),
        partner: membership.email,
        partner_id: c.partner_id.to_string(),
        order: conversion.external_id.to_string(),
        customer: conversion
            .customer_email
            .unwrap_or_else(|| "not given".to_owned()),
        occurred: format::date(conversion.occurred_at),
        amount: format::money(&c.amount),
        reason: reason_words(reason),
        reason_code: reason.as_str(),
        since: format::date_time(since),
    })
}

/// `GET /dashboard/partners/holds`.
///
/// # Errors
/// [`ConsoleError`]: 400 for an unknown reason, 403 for a partner.
pub async fn list(
    state: web::Data<AppState>,
    signed: Signed,
    query: web::Query<HoldsQuery>,
) -> Result<HttpResponse, ConsoleError> {
    staff_only(&signed)?;
    let reason = match query.reason.as_deref().filter(|r| !r.is_empty()) {
        Some(r) => Some(
            OnHoldReason::parse(r)
                .ok_or_else(|| ConsoleError::Invalid(format!("There is no hold reason “{r}”.")))?,
        ),
        None => None,
    };
    let mut request = PageRequest::first(PAGE_SIZE);
    if let Some(after) = query.after.as_deref().filter(|a| !a.is_empty()) {
        let id = CommissionId::parse(after).map_err(|_| ConsoleError::NotFound)?;
        request.after = Some(id.as_uuid());
    }
    let held = state
        .engine
        .holds(signed.merchant(), reason, request)
        .await?;
    let mut rows = Vec::with_capacity(held.data.len());
    for c in &held.data {
        rows.push(row(&state, c).await?);
    }
    let reason_query = reason.map_or(String::new(), |r| format!("reason={}&", r.as_str()));
    let next_path = held
        .has_more
        .then(|| held.data.last())
        .flatten()
        .map(|c| format!("{HOLDS_PATH}?{reason_query}after={}", c.id));
    let mut filters = vec![Filter {
        label: "All",
        href: HOLDS_PATH.to_owned(),
        current: reason.is_none(),
    }];
    for r in OnHoldReason::ALL {
        filters.push(Filter {
            label: match r {
                OnHoldReason::SelfReferral => "Self-referral",
                OnHoldReason::DuplicateAccount => "Duplicate account",
                OnHoldReason::Manual => "Manual",
            },
            href: format!("{HOLDS_PATH}?reason={}", r.as_str()),
            current: reason == Some(r),
        });
    }
    render(&HoldsPage {
        layout: Layout::signed("Holds", &signed),
        rows,
        filters,
        may_act: may_act(&signed),
        next_path,
    })
}

/// The Reject form: without `confirm=yes` it asks first.
#[derive(Debug, Deserialize)]
pub struct DecisionForm {
    #[serde(default)]
    csrf_token: String,
    confirm: Option<String>,
}

async fn decide(
    req: &HttpRequest,
    state: &AppState,
    signed: &Signed,
    raw: &str,
    form: &DecisionForm,
    decision: HoldDecision,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(req, signed, &form.csrf_token)?;
    staff_only(signed)?;
    if !may_act(signed) {
        return Err(ConsoleError::Forbidden);
    }
    let id = CommissionId::parse(raw).map_err(|_| ConsoleError::NotFound)?;
    let merchant = (!signed.is_platform()).then(|| signed.merchant());
    if decision == HoldDecision::Reject && form.confirm.as_deref() != Some("yes") {
        // Restate what will happen before a commission is voided for good.
        let c = state.engine.commission(merchant, id).await?;
        if !matches!(c.state, CommissionState::OnHold { .. }) {
            return Err(no_longer_held());
        }
        let r = row(state, &c).await?;
        let html = ConfirmPage {
            layout: Layout::signed("Reject the commission", signed),
            path: format!("{HOLDS_PATH}/{id}"),
            amount: r.amount,
            partner: r.partner,
            order: r.order,
        }
        .render()
        .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
        return Ok(page(StatusCode::OK, html));
    }
    match state
        .engine
        .decide_hold(merchant, id, decision, &signed.acting())
        .await
    {
        Ok(_) => Ok(see_other(HOLDS_PATH)),
        Err(DomainError::Transition(_)) => Err(no_longer_held()),
        Err(other) => Err(other.into()),
    }
}

fn no_longer_held() -> ConsoleError {
    ConsoleError::Conflict(
        "This commission is no longer on hold: someone decided on it already.".to_owned(),
    )
}

/// `POST /dashboard/partners/holds/{commission_id}/release`: back to
/// pending; the next batch pays it once its holding period is over.
///
/// # Errors
/// [`ConsoleError`].
pub async fn release(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, ConsoleError> {
    decide(&req, &state, &signed, &path, &form, HoldDecision::Release).await
}

/// `POST /dashboard/partners/holds/{commission_id}/reject`: without
/// `confirm=yes`, the confirm page restating the amount, partner and order;
/// with it, voids the commission (it is never paid).
///
/// # Errors
/// [`ConsoleError`].
pub async fn reject(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<DecisionForm>,
) -> Result<HttpResponse, ConsoleError> {
    decide(&req, &state, &signed, &path, &form, HoldDecision::Reject).await
}
