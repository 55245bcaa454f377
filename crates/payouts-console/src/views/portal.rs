//! `/portal`: the partner's own payouts from the merchant that signed them
//! in: each payout's state and amount, what is still on its way, this
//! year's tax summary with the 1099 flag, their Stripe Express dashboard
//! (or onboarding, while it is unfinished), and their own notices.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use payouts_domain::item::ItemState;
use payouts_domain::money::Money;
use payouts_domain::ports::PageRequest;
use payouts_http::AppState;

use payouts_domain::ids::{MembershipId, PartnerId};
use payouts_domain::notification::NotificationKind;
use payouts_domain::partner::Membership;
use serde::Deserialize;

use super::{Layout, see_other};
use crate::csrf;
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
    /// The printable statement of a paid payout.
    statement: Option<String>,
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
    accounts: Vec<Account>,
    notices: Vec<Notice>,
}

/// One of the partner's Stripe accounts (one per program they joined).
#[derive(Debug)]
struct Account {
    membership_id: String,
    program: String,
    ready: bool,
    /// Created under Stripe's `recipient` agreement (a cross-border partner).
    recipient: bool,
}

/// A notice for the partner.
#[derive(Debug)]
struct Notice {
    when: String,
    text: String,
    warning: bool,
}

/// The partner's memberships with the signing merchant.
async fn memberships(
    state: &AppState,
    merchant: &payouts_domain::ids::MerchantId,
    partner: PartnerId,
) -> Result<Vec<Membership>, ConsoleError> {
    Ok(state
        .engine
        .memberships_of_partner(partner)
        .await?
        .into_iter()
        .filter(|m| &m.merchant_id == merchant)
        .collect())
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
                statement: item
                    .state
                    .is_paid()
                    .then(|| format!("/portal/statements/{}", item.id)),
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
    let mut accounts = Vec::new();
    for m in memberships(&state, &merchant, partner).await? {
        let program = state.engine.program(m.program_id).await?;
        accounts.push(Account {
            membership_id: m.id.to_string(),
            program: program.name,
            ready: m.can_receive_transfers(),
            recipient: m.service_agreement
                == Some(payouts_domain::crossborder::ServiceAgreement::Recipient),
        });
    }
    let raw = state.engine.partner_notices(&merchant, partner, 20).await?;
    // A payout that was delayed and has since been sent is no warning now.
    let sent: Vec<&serde_json::Value> = raw
        .iter()
        .filter(|n| n.kind == NotificationKind::PartnerPayoutSent)
        .filter_map(|n| n.payload.get("item_id"))
        .collect();
    let notices = raw
        .iter()
        .map(|n| {
            let settled = n.kind != NotificationKind::PartnerPayoutSent
                && n.payload.get("item_id").is_some_and(|i| sent.contains(&i));
            let mut text = super::home::note_text(n, super::home::Reader::Partner);
            if settled {
                text.push_str(" It has been paid since.");
            }
            Notice {
                when: format::date_time(n.created_at),
                text,
                warning: n.kind != NotificationKind::PartnerPayoutSent && !settled,
            }
        })
        .collect();
    let html = PortalPage {
        layout: Layout::signed("Your payouts", &signed),
        payouts,
        on_its_way: pending.iter().map(format::money).collect(),
        year,
        tax_totals: tax.totals.iter().map(format::money).collect(),
        payout_count: tax.payout_count,
        form_1099: tax.form_1099_required,
        accounts,
        notices,
    }
    .render()
    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(super::page_to(
        StatusCode::OK,
        html,
        Some(&state.settings.stripe_hosted_origin),
    ))
}

/// The Stripe button's form.
#[derive(Debug, Deserialize)]
pub struct StripeForm {
    #[serde(default)]
    csrf_token: String,
    membership_id: String,
}

/// `POST /portal/stripe`: the partner's Express dashboard (a fresh login
/// link), or, while onboarding is unfinished, a fresh onboarding link that
/// returns to the portal.
pub async fn stripe(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<StripeForm>,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(&req, &signed, &form.csrf_token)?;
    let Some(partner) = signed.partner() else {
        return Err(ConsoleError::Forbidden);
    };
    let id = MembershipId::parse(&form.membership_id).map_err(|_| ConsoleError::NotFound)?;
    let membership = memberships(&state, signed.merchant(), partner)
        .await?
        .into_iter()
        .find(|m| m.id == id)
        .ok_or(ConsoleError::NotFound)?;
    let link = if membership.can_receive_transfers() {
        state.engine.dashboard_link(membership.id).await?
    } else {
        let base = state.settings.public_url.trim_end_matches('/');
        state
            .engine
            .onboarding_link(
                membership.id,
                &format!("{base}/portal/onboarded"),
                &format!("{base}/portal"),
            )
            .await?
    };
    Ok(see_other(&link.url))
}

/// `GET /portal/onboarded`: where onboarding returns; checks the
/// partner's accounts with Stripe, then shows the portal.
pub async fn onboarded(
    state: web::Data<AppState>,
    signed: Signed,
) -> Result<HttpResponse, ConsoleError> {
    let Some(partner) = signed.partner() else {
        return Err(ConsoleError::Forbidden);
    };
    for m in memberships(&state, signed.merchant(), partner).await? {
        if !m.can_receive_transfers() && m.account_id.is_some() {
            state.engine.refresh_onboarding(m.id).await?;
        }
    }
    Ok(see_other("/portal"))
}
