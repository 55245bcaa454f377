//! `/dashboard/partners/stripe-connect`: seed 000's card. "Connect with
//! Stripe"; after OAuth, the account id, status, granted scope and date;
//! `?stripe=connected` and every `?stripe=error&reason=…` in words; when
//! access was revoked, the probation banner with the days left.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use payouts_domain::connection::ConnectionStatus;
use payouts_domain::ports::PageRequest;
use payouts_domain::program::ProgramStatus;
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, see_other};
use crate::csrf;
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// `?stripe=connected` or `?stripe=error&reason=…`, as the OAuth callback
/// sends the merchant back.
#[derive(Debug, Deserialize)]
pub struct CardQuery {
    stripe: Option<String>,
    reason: Option<String>,
}

/// The connection, as the card shows it.
#[derive(Debug)]
struct Connection {
    account_id: String,
    status: &'static str,
    status_words: &'static str,
    scope: String,
    granted: String,
    revoked: Option<String>,
}

/// A program on probation.
#[derive(Debug)]
struct Probation {
    name: String,
    until: String,
    days_left: i64,
}

#[derive(Template)]
#[template(path = "connect.html")]
struct CardPage {
    layout: Layout,
    notice: Option<(&'static str, String)>,
    connection: Option<Connection>,
    probations: Vec<Probation>,
    may_connect: bool,
    policies: Vec<super::program::PolicyForm>,
    show_program_name: bool,
    may_act: bool,
}

/// What the callback's reason means to a person.
fn reason_words(reason: &str) -> &'static str {
    match reason {
        "state_expired" => {
            "The connection took longer than ten minutes, so it was not completed. Please connect again."
        }
        "state_reused" => "That connection link was already used. Please connect again.",
        "state_unknown" => "That connection link is not one we issued. Please connect again.",
        "access_denied" => "Access was denied on Stripe, so nothing was connected.",
        "exchange_failed" => "Stripe did not confirm the connection. Please try again.",
        _ => "The connection did not complete. Please try again.",
    }
}

fn status_words(status: ConnectionStatus) -> (&'static str, &'static str) {
    match status {
        ConnectionStatus::Connected => ("connected", "Connected: payouts can run."),
        ConnectionStatus::Restricted => (
            "restricted",
            "Restricted: Stripe needs more information before it pays everything out.",
        ),
        ConnectionStatus::Disabled => (
            "disabled",
            "Disabled by Stripe: payouts cannot run until the account is enabled again.",
        ),
        ConnectionStatus::Revoked => (
            "revoked",
            "Access revoked: automatic payouts are paused. Re-connect to resume them.",
        ),
        ConnectionStatus::Pending => (
            "pending",
            "Pending: Stripe has not finished setting up the account.",
        ),
    }
}

/// The roles that may connect a merchant's Stripe account.
const CONNECT_ROLES: [&str; 3] = ["tenant_admin", "integration_admin", "payment_admin"];

/// `GET /dashboard/partners/stripe-connect`.
pub async fn card(
    state: web::Data<AppState>,
    signed: Signed,
    q: web::Query<CardQuery>,
) -> Result<HttpResponse, ConsoleError> {
    if !signed.is_staff() {
        return Err(ConsoleError::Forbidden);
    }
    let merchant = signed.merchant().clone();
    let now = state.engine.clock().now();
    let connection = state.engine.connection(&merchant).await?.map(|c| {
        let (status, words) = status_words(c.status);
        Connection {
            account_id: c.account_id.to_string(),
            status,
            status_words: words,
            scope: c.scope.clone(),
            granted: format::date_time(c.granted_at),
            revoked: c.revoked_at.map(format::date_time),
        }
    });
    let mut probations = Vec::new();
    let mut policies = Vec::new();
    let programs = state
        .engine
        .programs_page(&merchant, PageRequest::first(100))
        .await?;
    for program in programs.data {
        if program.status != ProgramStatus::Archived {
            policies.push(super::program::PolicyForm::of(&program));
        }
        if let ProgramStatus::Probation { until } = program.status {
            let left = until - now;
            probations.push(Probation {
                name: program.name.clone(),
                until: format::date_time(until),
                // Whole days left, rounded up: "1 day" until the last hour.
                days_left: (left.whole_hours().max(0) + 23) / 24,
            });
        }
    }
    let notice = match (q.stripe.as_deref(), q.reason.as_deref()) {
        (Some("connected"), _) => Some(("ok", "Your Stripe account is connected.".to_owned())),
        (Some("policy_saved"), _) => Some(("ok", "The payout policy was saved.".to_owned())),
        (Some("error"), reason) => Some(("error", reason_words(reason.unwrap_or("")).to_owned())),
        _ => None,
    };
    let html = CardPage {
        layout: Layout::signed("Stripe Connect", &signed),
        notice,
        connection,
        probations,
        may_connect: signed.has_any(&CONNECT_ROLES) || signed.is_platform(),
        policies,
        show_program_name: true,
        may_act: super::may_act(&signed),
    }
    .render()
    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(super::page_to(
        StatusCode::OK,
        html,
        Some(&state.settings.stripe_hosted_origin),
    ))
}

/// The "Connect with Stripe" form.
#[derive(Debug, Deserialize)]
pub struct ConnectForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /dashboard/partners/stripe-connect/connect`: issues the single-use
/// `state` (ten minutes) and sends the merchant to Stripe's authorize page
/// (the sandbox's, with no keys).
pub async fn connect(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<ConnectForm>,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(&req, &signed, &form.csrf_token)?;
    if !(signed.has_any(&CONNECT_ROLES) || signed.is_platform()) {
        return Err(ConsoleError::Forbidden);
    }
    let start = state.engine.start_connect(signed.merchant()).await?;
    Ok(see_other(&start.authorize_url))
}
