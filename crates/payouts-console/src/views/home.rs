//! `/dashboard/partners`: the merchant's home. Its programs (and a form to
//! create one), its recent batches, what was paid per month as a chart
//! drawn on the server (SVG, no script), and the notifications the outbox
//! holds for the merchant and its partners.

use actix_web::{HttpResponse, web};
use askama::Template;
use payouts_domain::engine::MonthlyVolume;
use payouts_domain::ids::NotificationId;
use payouts_domain::notification::{DeliveryState, Notification, NotificationKind, Recipient};
use payouts_http::AppState;

use super::{Layout, may_act, render};
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// A program as the list shows it.
#[derive(Debug)]
struct ProgramRow {
    path: String,
    name: String,
    status: &'static str,
    currency: String,
}

/// A recent batch.
#[derive(Debug)]
struct BatchRow {
    path: String,
    program: String,
    period: String,
    state: &'static str,
    total: String,
    items: u32,
}

/// One bar of the chart.
#[derive(Debug)]
pub struct Bar {
    /// Left edge.
    pub x: i64,
    /// Top edge.
    pub y: i64,
    /// Width.
    pub width: i64,
    /// Height.
    pub height: i64,
    /// `2026-12`.
    pub label: String,
    /// `USD 350.00`.
    pub value: String,
}

/// The paid-volume chart of one currency.
#[derive(Debug)]
pub struct Chart {
    /// The currency's code.
    pub currency: String,
    /// The bars, one per month.
    pub bars: Vec<Bar>,
    /// The largest month, in words.
    pub max: String,
    /// The chart's width.
    pub width: i64,
}

/// The chart's drawing area.
const CHART_HEIGHT: i64 = 160;
const BAR_WIDTH: i64 = 36;
const BAR_GAP: i64 = 18;

/// Bars for each currency's months, scaled to the largest month (integer
/// arithmetic; a month with nothing paid is drawn as a baseline).
pub fn charts(volumes: &[MonthlyVolume]) -> Vec<Chart> {
    let mut currencies: Vec<_> = volumes.iter().map(|v| v.paid.currency()).collect();
    currencies.dedup();
    currencies.sort_by(|a, b| a.code().cmp(b.code()));
    currencies.dedup();
    currencies
        .into_iter()
        .map(|currency| {
            let months: Vec<&MonthlyVolume> = volumes
                .iter()
                .filter(|v| v.paid.currency() == currency)
                .collect();
            let max = months
                .iter()
                .map(|v| v.paid.amount_minor().max(0))
                .max()
                .unwrap_or(0);
            let bars = months
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    let amount = i128::from(v.paid.amount_minor().max(0));
                    let height = if max == 0 {
                        0
                    } else {
                        i64::try_from(amount * i128::from(CHART_HEIGHT) / i128::from(max))
                            .unwrap_or(CHART_HEIGHT)
                    }
                    .max(1);
                    let x = i64::try_from(i).unwrap_or(0) * (BAR_WIDTH + BAR_GAP) + BAR_GAP;
                    Bar {
                        x,
                        y: CHART_HEIGHT - height + 10,
                        width: BAR_WIDTH,
                        height,
                        label: v.period.to_string(),
                        value: format::money(&v.paid),
                    }
                })
                .collect::<Vec<_>>();
            let width = i64::try_from(bars.len()).unwrap_or(0) * (BAR_WIDTH + BAR_GAP) + BAR_GAP;
            Chart {
                currency: currency.code().to_uppercase(),
                max: months
                    .iter()
                    .map(|v| v.paid)
                    .max_by_key(|m| m.amount_minor())
                    .map(|m| format::money(&m))
                    .unwrap_or_default(),
                bars,
                width: width.max(200),
            }
        })
        .collect()
}

/// A notification the outbox could not deliver: dead, or retrying.
#[derive(Debug)]
struct FailedDelivery {
    kind: &'static str,
    /// `dead` or `retrying`.
    state: &'static str,
    attempts: u32,
    /// `HTTP 500`, or `no answer`.
    code: String,
    error: String,
    written: String,
    /// "given up 8 Dec 2026, …" or "next try 8 Dec 2026, …".
    next: String,
    replay_path: String,
}

/// The merchant roles that manage webhook endpoints and replay
/// notifications (with the platform's roles), as in the JSON API.
pub const REPLAY_ROLES: [&str; 2] = ["tenant_admin", "integration_admin"];

fn failed_delivery(n: &Notification) -> FailedDelivery {
    let failure = n.delivery.last_failure();
    let (state, next) = match &n.delivery {
        DeliveryState::Dead { at, .. } => ("dead", format!("given up {}", format::date_time(*at))),
        DeliveryState::Pending {
            next_attempt_at, ..
        } => (
            "retrying",
            format!("next try {}", format::date_time(*next_attempt_at)),
        ),
        DeliveryState::Delivered { at, .. } => {
            ("delivered", format!("delivered {}", format::date_time(*at)))
        }
    };
    FailedDelivery {
        kind: n.kind.as_str(),
        state,
        attempts: n.delivery.attempts(),
        code: failure
            .and_then(|f| f.status_code)
            .map_or_else(|| "no answer".to_owned(), |c| format!("HTTP {c}")),
        error: failure.map(|f| f.message.clone()).unwrap_or_default(),
        written: format::date_time(n.created_at),
        next,
        replay_path: format!("/dashboard/partners/notifications/{}/replay", n.id),
    }
}

/// The replay form: only its CSRF token.
#[derive(Debug, serde::Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /dashboard/partners/notifications/{notification_id}/replay`:
/// sends a failed notification again (pending, due now), then returns to
/// the home page's failed deliveries.
pub async fn replay(
    req: actix_web::HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<ReplayForm>,
) -> Result<HttpResponse, ConsoleError> {
    crate::csrf::check(&req, &signed, &form.csrf_token)?;
    if !(signed.has_any(&REPLAY_ROLES) || signed.is_platform()) {
        return Err(ConsoleError::Forbidden);
    }
    let id = NotificationId::parse(&path).map_err(|_| ConsoleError::NotFound)?;
    let notification = match state.engine.outbox_notification(id).await {
        Ok(n) => n,
        Err(payouts_domain::DomainError::NotFound { .. }) => return Err(ConsoleError::NotFound),
        Err(other) => return Err(other.into()),
    };
    if notification.merchant_id != *signed.merchant() {
        return Err(ConsoleError::NotFound);
    }
    state.engine.replay_notification(id).await?;
    Ok(super::see_other("/dashboard/partners#deliveries"))
}

/// A notification in words.
#[derive(Debug)]
struct Note {
    when: String,
    kind: &'static str,
    to: String,
    text: String,
    /// Where its delivery stands, in words; `None` once delivered.
    pending: Option<&'static str>,
}

fn amount_of(n: &Notification) -> Option<String> {
    let minor = n.payload.get("amount_minor")?.as_i64()?;
    let currency = n.payload.get("currency")?.as_str()?;
    let currency = payouts_domain::money::Currency::parse(currency).ok()?;
    Some(format::money(&payouts_domain::money::Money::new(
        minor, currency,
    )))
}

fn when_of(n: &Notification, field: &str) -> Option<String> {
    let secs = n.payload.get(field)?.as_i64()?;
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .map(format::date_time)
}

/// Who reads a notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The merchant's staff (the home page).
    Merchant,
    /// The partner it is about (the portal).
    Partner,
}

/// What a notification says, for the merchant or the partner.
pub fn note_text(n: &Notification, reader: Reader) -> String {
    let whose = match reader {
        Reader::Merchant => "the partner's",
        Reader::Partner => "your",
    };
    let amount = amount_of(n).unwrap_or_else(|| "a payout".to_owned());
    match n.kind {
        NotificationKind::PartnerMerchantOauthRevoked => format!(
            "Payouts from this merchant are paused until {}: the merchant's Stripe access was revoked.",
            when_of(n, "probation_until").unwrap_or_else(|| "the merchant re-connects".to_owned())
        ),
        NotificationKind::PartnerPayoutSent => {
            format!("{amount} was sent to {whose} Stripe account.")
        }
        NotificationKind::PartnerPayoutDestinationCannotReceive => format!(
            "{amount} could not be paid: {whose} Stripe account cannot receive transfers until onboarding is finished."
        ),
        NotificationKind::PartnerPayoutDelayed => {
            match (
                n.payload.get("reason").and_then(|r| r.as_str()),
                when_of(n, "retry_at"),
            ) {
                (Some("insufficient_balance"), Some(at)) => format!(
                    "{amount} is delayed: the merchant's Stripe balance was too low. It is tried again on {at}."
                ),
                (Some("insufficient_balance"), None) => format!(
                    "{amount} is delayed: the merchant's Stripe balance stayed too low, and the merchant has been asked to act."
                ),
                _ => format!(
                    "{amount} is on hold until the merchant's Stripe account can send transfers again."
                ),
            }
        }
        NotificationKind::MerchantInsufficientBalanceRetry => format!(
            "{amount} failed: the Stripe balance was too low. It is retried {}.",
            when_of(n, "retry_at")
                .map_or_else(|| "in 24 hours".to_owned(), |at| format!("on {at}"))
        ),
        NotificationKind::MerchantInsufficientBalanceEscalated => format!(
            "{amount} failed again for a low Stripe balance: automatic retries stopped. Top up, then retry it from the batch."
        ),
        NotificationKind::MerchantAccountInactive => format!(
            "{amount} failed: Stripe says the account cannot send transfers. Payouts are on hold until it is fixed."
        ),
        NotificationKind::MerchantProbationStarted => format!(
            "Stripe access was revoked: the program is on probation until {} and then archived, unless you re-connect.",
            when_of(n, "probation_until").unwrap_or_else(|| "the end of probation".to_owned())
        ),
        NotificationKind::MerchantProgramArchived => {
            "The probation ended without a re-connection: the program was archived.".to_owned()
        }
        NotificationKind::MerchantReconciliationDifference => format!(
            "Reconciliation found a difference with Stripe: {}",
            n.payload
                .get("kind")
                .and_then(|k| k.as_str())
                .and_then(|k| payouts_domain::engine::LineKind::ALL
                    .into_iter()
                    .find(|l| l.as_str() == k))
                .map_or("the period's ledger does not balance.", |k| k.describe())
        ),
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    layout: Layout,
    failed: Vec<FailedDelivery>,
    may_replay: bool,
    programs: Vec<ProgramRow>,
    batches: Vec<BatchRow>,
    charts: Vec<Chart>,
    notes: Vec<Note>,
    may_act: bool,
    connected: bool,
}

/// `GET /dashboard/partners`.
pub async fn home(
    state: web::Data<AppState>,
    signed: Signed,
) -> Result<HttpResponse, ConsoleError> {
    if !signed.is_staff() {
        return Err(ConsoleError::Forbidden);
    }
    let merchant = signed.merchant().clone();
    let overview = state.engine.merchant_overview(&merchant, 10).await?;
    let name_of = |id: payouts_domain::ids::ProgramId| {
        overview
            .programs
            .iter()
            .find(|p| p.id == id)
            .map_or_else(String::new, |p| p.name.clone())
    };
    // Partners by name (referral key) rather than by id.
    let mut partner_names = std::collections::HashMap::new();
    for program in &overview.programs {
        for m in super::program::all_memberships(&state, program.id).await? {
            partner_names.insert(m.partner_id, m.referral_key.to_string());
        }
    }
    let notes = state
        .engine
        .merchant_notifications(&merchant, 20)
        .await?
        .iter()
        .map(|n| Note {
            when: format::date_time(n.created_at),
            kind: n.kind.as_str(),
            to: match &n.recipient {
                Recipient::Merchant(_) => "you".to_owned(),
                Recipient::Partner(p) => partner_names
                    .get(p)
                    .map_or_else(|| format!("partner {p}"), |k| format!("partner {k}")),
            },
            text: note_text(n, Reader::Merchant),
            pending: match &n.delivery {
                DeliveryState::Delivered { .. } => None,
                DeliveryState::Pending { attempts: 0, .. } => Some("queued"),
                DeliveryState::Pending { .. } => Some("retrying (see Failed deliveries)"),
                DeliveryState::Dead { .. } => Some("given up (see Failed deliveries)"),
            },
        })
        .collect();
    let connected = state
        .engine
        .connection(&merchant)
        .await?
        .is_some_and(|c| c.status.can_transfer());
    let failed = state
        .engine
        .failing_notifications(&merchant, 20)
        .await?
        .iter()
        .map(failed_delivery)
        .collect();
    render(&HomePage {
        layout: Layout::signed("Partners", &signed),
        failed,
        may_replay: signed.has_any(&REPLAY_ROLES) || signed.is_platform(),
        programs: overview
            .programs
            .iter()
            .map(|p| ProgramRow {
                path: super::program::program_path(p.id),
                name: p.name.clone(),
                status: match p.status {
                    payouts_domain::program::ProgramStatus::Active => "active",
                    payouts_domain::program::ProgramStatus::Probation { .. } => "probation",
                    payouts_domain::program::ProgramStatus::Archived => "archived",
                },
                currency: p.currency.code().to_uppercase(),
            })
            .collect(),
        batches: overview
            .recent_batches
            .iter()
            .map(|b| BatchRow {
                path: format!("/dashboard/partners/batches/{}", b.id),
                program: name_of(b.program_id),
                period: b.period.to_string(),
                state: b.state.as_str(),
                total: format::money(&b.total),
                items: b.item_count,
            })
            .collect(),
        charts: charts(&overview.paid_by_month),
        notes,
        may_act: may_act(&signed),
        connected,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use payouts_domain::money::{Currency, Money};
    use payouts_domain::period::Period;

    #[test]
    fn bars_scale_to_the_largest_month() {
        let usd = Currency::parse("usd").unwrap();
        let v = |p: &str, m: i64| MonthlyVolume {
            period: Period::parse(p).unwrap(),
            paid: Money::new(m, usd),
        };
        let c = charts(&[v("2026-10", 0), v("2026-11", 5_000), v("2026-12", 10_000)]);
        assert_eq!(c.len(), 1);
        let heights: Vec<i64> = c[0].bars.iter().map(|b| b.height).collect();
        assert_eq!(heights, vec![1, CHART_HEIGHT / 2, CHART_HEIGHT]);
        assert_eq!(c[0].max, "USD 100.00");
        assert!(charts(&[]).is_empty());
    }
}
