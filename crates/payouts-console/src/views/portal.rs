//! `/portal`: the partner's own payouts from the merchant that signed them
//! in: each payout's state and amount, what is still on its way, and this
//! year's tax summary with the 1099 flag.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use askama::Template;
use payouts_domain::item::ItemState;
use payouts_domain::money::Money;
use payouts_domain::ports::PageRequest;
use payouts_http::AppState;

use super::{Layout, page};
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// One payout, as the partner reads it.
#[derive(Debug)]
struct Payout {
    date: String,
    amount: String,
    state: &'static str,
    words: String,
}

#[derive(Template)]
#[template(path = "portal.html")]
struct PortalPage {
    layout: Layout,
    payouts: Vec<Payout>,
    on_its_way: Vec<String>,
    year: i32,
    tax_totals: Vec<String>,
    payout_count: u64,
    form_1099: bool,
}

/// What a payout's state means to the partner.
fn words(state: &ItemState) -> String {
    match state {
        ItemState::Posted { .. } => "Paid to your Stripe account.".to_owned(),
        ItemState::Reversed { .. } => "Paid, then taken back by the merchant.".to_owned(),
        ItemState::Failed { retry_at, .. } => match retry_at {
            Some(at) => format!(
                "Could not be paid yet; it is tried again on {}.",
                format::date_time(*at)
            ),
            None => "Could not be paid; the merchant has been told.".to_owned(),
        },
        ItemState::Pending | ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. } => {
            "On its way.".to_owned()
        }
    }
}

/// Adds `amount` to the per-currency totals, checked (never wraps).
fn add(totals: &mut Vec<Money>, amount: Money) -> Result<(), ConsoleError> {
    match totals
        .iter_mut()
        .find(|t| t.currency() == amount.currency())
    {
        Some(t) => {
            *t = t
                .checked_add(&amount)
                .map_err(|e| ConsoleError::Invalid(e.to_string()))?;
        }
        None => totals.push(amount),
    }
    Ok(())
}

/// `GET /portal`.
pub async fn portal(
    state: web::Data<AppState>,
    signed: Signed,
) -> Result<HttpResponse, ConsoleError> {
    let Some(partner) = signed.partner() else {
        return Err(ConsoleError::Forbidden);
    };
    let merchant = signed.merchant().clone();
    let mut payouts = Vec::new();
    let mut pending = Vec::new();
    let mut after = None;
    // Every page of the partner's items, the signing merchant's only.
    loop {
        let page_of = state
            .engine
            .partner_history(partner, PageRequest { limit: 100, after })
            .await?;
        after = page_of.data.last().map(|i| i.id.as_uuid());
        for item in page_of.data.iter().filter(|i| i.merchant_id == merchant) {
            if item.state.is_open() {
                add(&mut pending, item.amount)?;
            }
            payouts.push(Payout {
                date: format::date(item.created_at),
                amount: format::money(&item.amount),
                state: item.state.as_str(),
                words: words(&item.state),
            });
        }
        if !page_of.has_more || after.is_none() {
            break;
        }
    }
    payouts.reverse();
    let year = state.engine.clock().now().year();
    let tax = state
        .engine
        .tax_summary(partner, year, Some(&merchant))
        .await?;
    let html = PortalPage {
        layout: Layout::signed("Your payouts", &signed),
        payouts,
        on_its_way: pending.iter().map(format::money).collect(),
        year,
        tax_totals: tax.totals.iter().map(format::money).collect(),
        payout_count: tax.payout_count,
        form_1099: tax.form_1099_required,
    }
    .render()
    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(page(StatusCode::OK, html))
}
