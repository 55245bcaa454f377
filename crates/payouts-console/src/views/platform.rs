//! The platform operator's pages (platform roles only): the fee schedule
//! (default rate, volume tiers and per-merchant overrides), the platform's
//! Stripe balance, and disputes with the evidence form.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use payouts_domain::fees::{FeeRate, FeeSchedule, FeeTier, MerchantOverride};
use payouts_domain::ids::{AccountId, DisputeId, MerchantId};
use payouts_domain::money::Money;
use payouts_domain::platform::{DisputeEvidence, ListParams};
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, render, see_other};
use crate::csrf;
use crate::error::ConsoleError;
use crate::format;
use crate::forms;
use crate::session::Signed;

/// Only platform operators see these pages; anyone else gets 404, as the
/// API answers a merchant asking for the platform's objects.
fn operator(signed: &Signed) -> Result<(), ConsoleError> {
    if signed.is_platform() {
        Ok(())
    } else {
        Err(ConsoleError::NotFound)
    }
}

fn rate_words(rate: &FeeRate) -> String {
    if rate.fixed_minor == 0 {
        rate.percent.to_string()
    } else {
        format!("{} + {} minor units", rate.percent, rate.fixed_minor)
    }
}

#[derive(Template)]
#[template(path = "fees.html")]
struct FeesPage {
    layout: Layout,
    notice: Option<&'static str>,
    default_rate: String,
    rounding: &'static str,
    tiers: Vec<(String, String, String)>,
    overrides: Vec<(String, String, String)>,
}

/// `?notice=…`.
#[derive(Debug, Deserialize)]
pub struct NoticeQuery {
    notice: Option<String>,
}

/// `GET /dashboard/platform/fees`.
pub async fn fees(
    state: web::Data<AppState>,
    signed: Signed,
    q: web::Query<NoticeQuery>,
) -> Result<HttpResponse, ConsoleError> {
    operator(&signed)?;
    let schedule = state.engine.fee_schedule().await?;
    render(&FeesPage {
        layout: Layout::signed("Fees", &signed),
        notice: match q.notice.as_deref() {
            Some("saved") => Some("The fee schedule was saved."),
            _ => None,
        },
        default_rate: rate_words(&schedule.default),
        rounding: match schedule.rounding {
            payouts_domain::money::Rounding::HalfEven => "half to even",
            payouts_domain::money::Rounding::HalfUp => "half up",
            payouts_domain::money::Rounding::Down => "down",
            payouts_domain::money::Rounding::Up => "up",
        },
        tiers: schedule
            .tiers
            .iter()
            .map(|t| {
                (
                    t.volume_min_minor.to_string(),
                    t.volume_max_minor
                        .map_or_else(|| "no limit".to_owned(), |m| m.to_string()),
                    rate_words(&t.rate),
                )
            })
            .collect(),
        overrides: schedule
            .overrides
            .iter()
            .map(|o| {
                (
                    o.merchant_id.to_string(),
                    rate_words(&o.rate),
                    o.reason.clone(),
                )
            })
            .collect(),
    })
}

/// The fee forms: the default rate, a tier, or an override.
#[derive(Debug, Deserialize)]
pub struct FeeForm {
    #[serde(default)]
    csrf_token: String,
    /// `default`, `tier`, `override`, `remove_tier`, `remove_override`.
    action: String,
    #[serde(default)]
    percent: String,
    #[serde(default)]
    fixed_minor: String,
    #[serde(default)]
    volume_min_minor: String,
    #[serde(default)]
    volume_max_minor: String,
    #[serde(default)]
    merchant_id: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    index: String,
}

fn whole(label: &str, text: &str) -> Result<i64, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(0);
    }
    text.parse::<i64>()
        .ok()
        .filter(|n| (0..=forms::MAX_MINOR).contains(n))
        .ok_or_else(|| {
            ConsoleError::Invalid(format!(
                "{label}: write a whole number of minor units from 0 to {}",
                forms::MAX_MINOR
            ))
        })
}

fn volume(label: &str, text: &str) -> Result<i64, ConsoleError> {
    text.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| {
            ConsoleError::Invalid(format!(
                "{label}: write a whole number of minor units, 0 or more"
            ))
        })
}

/// `POST /dashboard/platform/fees`: changes one part of the schedule; the
/// domain validates the whole schedule (tiers may not overlap).
pub async fn save_fees(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<FeeForm>,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(&req, &signed, &form.csrf_token)?;
    operator(&signed)?;
    let mut schedule: FeeSchedule = state.engine.fee_schedule().await?;
    let rate = || -> Result<FeeRate, ConsoleError> {
        Ok(FeeRate {
            percent: forms::percent("Percent", &form.percent)?,
            fixed_minor: whole("Fixed part", &form.fixed_minor)?,
        })
    };
    match form.action.as_str() {
        "default" => schedule.default = rate()?,
        "tier" => schedule.tiers.push(FeeTier {
            volume_min_minor: volume("From", &form.volume_min_minor)?,
            volume_max_minor: match form.volume_max_minor.trim() {
                "" => None,
                text => Some(volume("Up to", text)?),
            },
            rate: rate()?,
        }),
        "override" => {
            let merchant = MerchantId::parse(form.merchant_id.trim().to_owned())
                .map_err(|e| ConsoleError::Invalid(format!("Merchant: {e}")))?;
            schedule.overrides.retain(|o| o.merchant_id != merchant);
            schedule.overrides.push(MerchantOverride {
                merchant_id: merchant,
                rate: rate()?,
                reason: form.reason.trim().to_owned(),
            });
        }
        "remove_tier" | "remove_override" => {
            let i: usize = form
                .index
                .parse()
                .map_err(|_| ConsoleError::Invalid("No such row.".to_owned()))?;
            let list_len = if form.action == "remove_tier" {
                schedule.tiers.len()
            } else {
                schedule.overrides.len()
            };
            if i >= list_len {
                return Err(ConsoleError::Invalid("No such row.".to_owned()));
            }
            if form.action == "remove_tier" {
                schedule.tiers.remove(i);
            } else {
                schedule.overrides.remove(i);
            }
        }
        _ => return Err(ConsoleError::Invalid("Unknown fee action.".to_owned())),
    }
    state
        .engine
        .set_fee_schedule(schedule, &signed.acting())
        .await?;
    Ok(see_other("/dashboard/platform/fees?notice=saved"))
}

#[derive(Template)]
#[template(path = "balance.html")]
struct BalancePage {
    layout: Layout,
    account: Option<String>,
    available: Vec<String>,
    pending: Vec<String>,
    reserved: Vec<String>,
}

/// `?account=acct_…`.
#[derive(Debug, Deserialize)]
pub struct AccountQuery {
    account: Option<String>,
}

fn parse_account(raw: Option<&str>) -> Result<Option<AccountId>, ConsoleError> {
    match raw.map(str::trim).filter(|a| !a.is_empty()) {
        None => Ok(None),
        Some(a) => AccountId::parse(a)
            .map(Some)
            .map_err(|e| ConsoleError::Invalid(format!("Account: {e}"))),
    }
}

fn amounts(list: &[Money]) -> Vec<String> {
    list.iter().map(format::money).collect()
}

/// `GET /dashboard/platform/balance[?account=acct_…]`: the platform's own
/// balance, or a connected account's.
pub async fn balance(
    state: web::Data<AppState>,
    signed: Signed,
    q: web::Query<AccountQuery>,
) -> Result<HttpResponse, ConsoleError> {
    operator(&signed)?;
    let account = parse_account(q.account.as_deref())?;
    let caller = signed.caller();
    let view = match &account {
        None => state.engine.platform_balance(&caller).await?,
        Some(a) => state.engine.account_balance(&caller, a).await?,
    };
    render(&BalancePage {
        layout: Layout::signed("Balance", &signed),
        account: account.map(|a| a.to_string()),
        available: amounts(&view.available),
        pending: amounts(&view.pending),
        reserved: amounts(&view.connect_reserved),
    })
}

/// A dispute as the page shows it.
#[derive(Debug)]
struct DisputeRow {
    id: String,
    amount: String,
    reason: String,
    status: String,
    due: Option<String>,
    submissions: i64,
    open: bool,
}

#[derive(Template)]
#[template(path = "disputes.html")]
struct DisputesPage {
    layout: Layout,
    account: String,
    notice: Option<&'static str>,
    disputes: Vec<DisputeRow>,
}

/// `?account=…&notice=…`.
#[derive(Debug, Deserialize)]
pub struct DisputesQuery {
    account: Option<String>,
    notice: Option<String>,
}

/// `GET /dashboard/platform/disputes[?account=acct_…]`.
pub async fn disputes(
    state: web::Data<AppState>,
    signed: Signed,
    q: web::Query<DisputesQuery>,
) -> Result<HttpResponse, ConsoleError> {
    operator(&signed)?;
    let account = parse_account(q.account.as_deref())?;
    let page = state
        .engine
        .disputes(
            &signed.caller(),
            account.as_ref(),
            &ListParams {
                limit: Some(100),
                starting_after: None,
            },
        )
        .await?;
    render(&DisputesPage {
        layout: Layout::signed("Disputes", &signed),
        account: account.map(|a| a.to_string()).unwrap_or_default(),
        notice: match q.notice.as_deref() {
            Some("saved") => Some("The evidence was saved."),
            Some("submitted") => Some("The evidence was submitted to the bank."),
            _ => None,
        },
        disputes: page
            .data
            .iter()
            .map(|d| {
                let status = serde_json::to_value(d.status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                DisputeRow {
                    id: d.dispute_id.to_string(),
                    amount: format::money(&d.amount),
                    reason: d.reason.clone(),
                    open: matches!(status.as_str(), "needs_response" | "warning_needs_response"),
                    status,
                    due: d.evidence_due_by.map(format::date_time),
                    submissions: d.evidence_submission_count,
                }
            })
            .collect(),
    })
}

/// The evidence form.
#[derive(Debug, Deserialize)]
pub struct EvidenceForm {
    #[serde(default)]
    csrf_token: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    customer_name: String,
    #[serde(default)]
    customer_email_address: String,
    #[serde(default)]
    product_description: String,
    #[serde(default)]
    uncategorized_text: String,
    /// `yes` submits to the bank; otherwise the evidence is only saved.
    #[serde(default)]
    submit: String,
}

fn field(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

/// `POST /dashboard/platform/disputes/{dispute_id}/evidence`: saves the
/// evidence, or submits it when `submit=yes`.
pub async fn evidence(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<EvidenceForm>,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(&req, &signed, &form.csrf_token)?;
    operator(&signed)?;
    let dispute = DisputeId::parse(path.as_str()).map_err(|_| ConsoleError::NotFound)?;
    let account = parse_account(Some(&form.account))?;
    let evidence = DisputeEvidence {
        customer_name: field(&form.customer_name),
        customer_email_address: field(&form.customer_email_address),
        product_description: field(&form.product_description),
        uncategorized_text: field(&form.uncategorized_text),
        ..DisputeEvidence::default()
    };
    let submit = form.submit == "yes";
    state
        .engine
        .submit_dispute_evidence(
            &signed.caller(),
            account.as_ref(),
            &dispute,
            &evidence,
            submit,
            None,
        )
        .await?;
    let mut back = format!(
        "/dashboard/platform/disputes?notice={}",
        if submit { "submitted" } else { "saved" }
    );
    if let Some(a) = account {
        back.push_str(&format!("&account={a}"));
    }
    Ok(see_other(&back))
}
