//! `/portal/statements/…`: a partner's printable statements. One paid
//! payout, line by line (each commission with its conversion, adjustments
//! as negative lines, the earlier carry-overs it pays), and a month's sum
//! of payouts. The stylesheet's print rules drop the navigation and forms.

use actix_web::{HttpResponse, web};
use askama::Template;
use payouts_domain::batch::CarryReason;
use payouts_domain::commission::{ChangeReason, CommissionKind};
use payouts_domain::ids::{PartnerId, PayoutItemId};
use payouts_domain::period::Period;
use payouts_domain::statement::Statement;
use payouts_http::AppState;

use super::{Layout, render};
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// One commission line, in words.
#[derive(Debug)]
struct Line {
    date: String,
    conversion: String,
    what: String,
    rate: String,
    sale: String,
    amount: String,
    adjustment: bool,
}

/// A carry-over, in words.
#[derive(Debug)]
struct Carry {
    period: String,
    amount: String,
    why: &'static str,
}

#[derive(Template)]
#[template(path = "statement.html")]
struct StatementPage {
    layout: Layout,
    item_id: String,
    program: String,
    period: String,
    paid_on: String,
    transfer: String,
    amount: String,
    reversed: Option<String>,
    lines: Vec<Line>,
    carry_overs: Vec<Carry>,
    total: String,
    month_path: String,
}

/// One payout of a month.
#[derive(Debug)]
struct MonthItem {
    path: String,
    paid_on: String,
    program: String,
    period: String,
    lines: usize,
    amount: String,
}

#[derive(Template)]
#[template(path = "statement_month.html")]
struct MonthPage {
    layout: Layout,
    month: String,
    items: Vec<MonthItem>,
    totals: Vec<String>,
    reversed: Vec<String>,
}

/// `January 2026`.
fn month_words(period: Period) -> String {
    format!("{} {}", period.start().month(), period.year())
}

fn why(reason: CarryReason) -> &'static str {
    match reason {
        CarryReason::BelowMinimum => {
            "below the minimum payout (the program's, or its currency's when higher)"
        }
        CarryReason::CannotReceive => "your Stripe account could not receive transfers yet",
        CarryReason::NegativeBalance => "adjustments exceeded earnings: a balance owed",
        CarryReason::ZeroBalance => "adjustments cancelled the earnings exactly",
    }
}

fn adjustment_words(reason: ChangeReason) -> &'static str {
    match reason {
        ChangeReason::Refund => "Adjustment: the sale was refunded",
        ChangeReason::Cancellation => "Adjustment: the order was cancelled",
        ChangeReason::Manual => "Adjustment by the merchant",
        // Only a held (so unpaid) commission is rejected: never an adjustment.
        ChangeReason::Rejected => "Adjustment: the commission was rejected on review",
    }
}

fn partner_of(signed: &Signed) -> Result<PartnerId, ConsoleError> {
    signed.partner().ok_or(ConsoleError::Forbidden)
}

async fn program_name(state: &AppState, s: &Statement) -> Result<String, ConsoleError> {
    Ok(state.engine.program(s.item.program_id).await?.name)
}

/// `GET /portal/statements/{item_id}`.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let partner = partner_of(&signed)?;
    let id = PayoutItemId::parse(&path).map_err(|_| ConsoleError::NotFound)?;
    let s = state
        .engine
        .statement(partner, id, Some(signed.merchant()))
        .await?;
    let lines = s
        .lines
        .iter()
        .map(|l| Line {
            date: format::date(l.conversion_at.unwrap_or(l.created_at)),
            conversion: l
                .conversion_external_id
                .as_ref()
                .map_or_else(|| l.conversion_id.to_string(), |e| e.as_str().to_owned()),
            what: match l.kind {
                CommissionKind::Earned => match &l.rule {
                    Some(rule) => format!("Commission ({})", rule_words(rule)),
                    None => "Commission".to_owned(),
                },
                CommissionKind::Adjustment { reason, .. } => adjustment_words(reason).to_owned(),
            },
            rate: l
                .effective_rate
                .map_or_else(|| "—".to_owned(), |r| format!("{r}%")),
            sale: l
                .sale
                .as_ref()
                .map_or_else(|| "—".to_owned(), format::money),
            amount: format::money(&l.amount),
            adjustment: l.is_adjustment(),
        })
        .collect();
    let carry_overs = s
        .carry_overs
        .iter()
        .map(|c| Carry {
            period: month_words(c.period),
            amount: format::money(&c.amount),
            why: why(c.reason),
        })
        .collect();
    let transfer = match &s.item.state {
        payouts_domain::item::ItemState::Posted { transfer_id, .. }
        | payouts_domain::item::ItemState::Reversed { transfer_id, .. } => transfer_id.to_string(),
        payouts_domain::item::ItemState::Pending
        | payouts_domain::item::ItemState::Submitting { .. }
        | payouts_domain::item::ItemState::ReconcileRequired { .. }
        | payouts_domain::item::ItemState::Failed { .. } => String::new(),
    };
    let paid_month = Period::containing(s.paid_at);
    render(&StatementPage {
        layout: Layout::signed("Payout statement", &signed),
        item_id: s.item.id.to_string(),
        program: program_name(&state, &s).await?,
        period: month_words(s.period),
        paid_on: format::date(s.paid_at),
        transfer,
        amount: format::money(&s.item.amount),
        reversed: (s.reversed.amount_minor() != 0).then(|| format::money(&s.reversed)),
        lines,
        carry_overs,
        total: format::money(&s.total),
        month_path: format!("/portal/statements/months/{paid_month}"),
    })
}

/// `GET /portal/statements/months/{period}`: the month's payouts, summed.
pub async fn month(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let partner = partner_of(&signed)?;
    let period = Period::parse(&path)
        .map_err(|_| ConsoleError::Invalid("The month must read YYYY-MM, e.g. 2026-02.".into()))?;
    let m = state
        .engine
        .monthly_statement(partner, period, Some(signed.merchant()))
        .await?;
    let mut items = Vec::with_capacity(m.statements.len());
    for s in &m.statements {
        items.push(MonthItem {
            path: format!("/portal/statements/{}", s.item.id),
            paid_on: format::date(s.paid_at),
            program: program_name(&state, s).await?,
            period: month_words(s.period),
            lines: s.lines.len(),
            amount: format::money(&s.item.amount),
        });
    }
    render(&MonthPage {
        layout: Layout::signed("Monthly statement", &signed),
        month: month_words(period),
        items,
        totals: m.totals.iter().map(format::money).collect(),
        reversed: m.reversed.iter().map(format::money).collect(),
    })
}

/// The rule an earned line was earned under, in the partner's words.
fn rule_words(rule: &payouts_domain::reward::AppliedRule) -> String {
    use payouts_domain::reward::{AppliedRule, TierBasis};
    match rule {
        AppliedRule::Base { .. } => "standard rate".to_owned(),
        AppliedRule::Tier { tier, basis, .. } => match basis {
            TierBasis::Revenue => format!("tier {tier}, by your revenue"),
            TierBasis::Conversions => format!("tier {tier}, by your sales"),
        },
        AppliedRule::FirstConversions { nth, count, .. } => {
            format!("customer's sale {nth} of the first {count}")
        }
        AppliedRule::Product { product_id, .. } => format!("product {product_id}"),
        AppliedRule::Lead { .. } => "lead".to_owned(),
    }
}
