//! `/dashboard/partners/programs/{program_id}`: one program. Its settings
//! and payout policy; its partners with their onboarding state, onboarding
//! and Express dashboard links, coupon codes and a portal sign-in link;
//! its commissions by period with a state filter; finalize; build a batch.
//! Also the create-program form's target, `POST /dashboard/partners/programs`.

use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use std::collections::BTreeMap;

use payouts_domain::crossborder::{
    ServiceAgreement, default_currency_minimum, default_payout_countries,
};
use payouts_domain::engine::NewPartner;
use payouts_domain::ids::{CouponCode, MembershipId, ProgramId, ReferralKey};
use payouts_domain::money::{Currency, Money};
use payouts_domain::partner::Membership;
use payouts_domain::period::Period;
use payouts_domain::ports::{CommissionFilter, PageRequest};
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, Program, ProgramSettings,
    ProgramStatus,
};
use payouts_domain::reward::{AppliedRule, TierBasis};
use payouts_domain::session::SessionPrincipal;
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, may_act, render, render_to, see_other, url_encode};
use crate::csrf;
use crate::error::ConsoleError;
use crate::format;
use crate::forms;
use crate::session::Signed;

/// A program's page.
pub fn program_path(id: ProgramId) -> String {
    format!("/dashboard/partners/programs/{id}")
}

/// The program, if the person may see it: staff of its merchant or the
/// platform. Another merchant's program, or a malformed id, is 404.
pub async fn scoped_program(
    state: &AppState,
    signed: &Signed,
    raw: &str,
) -> Result<Program, ConsoleError> {
    if !signed.is_staff() {
        return Err(ConsoleError::Forbidden);
    }
    let id = ProgramId::parse(raw).map_err(|_| ConsoleError::NotFound)?;
    let program = state.engine.program(id).await?;
    if !signed.is_platform() && &program.merchant_id != signed.merchant() {
        return Err(ConsoleError::NotFound);
    }
    Ok(program)
}

/// Checks the form and the role, and returns the program.
async fn acting_on(
    req: &HttpRequest,
    state: &AppState,
    signed: &Signed,
    raw: &str,
    token: &str,
) -> Result<Program, ConsoleError> {
    csrf::check(req, signed, token)?;
    let program = scoped_program(state, signed, raw).await?;
    if !may_act(signed) {
        return Err(ConsoleError::Forbidden);
    }
    Ok(program)
}

/// Every membership of the program.
pub async fn all_memberships(
    state: &AppState,
    program: ProgramId,
) -> Result<Vec<Membership>, ConsoleError> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = state
            .engine
            .memberships_page(program, PageRequest { limit: 100, after })
            .await?;
        after = page.data.last().map(|m| m.id.as_uuid());
        out.extend(page.data);
        if !page.has_more || after.is_none() {
            return Ok(out);
        }
    }
}

/// The policy as the form shows it.
#[derive(Debug)]
pub struct PolicyForm {
    /// The program's page.
    pub path: String,
    /// The program's name.
    pub name: String,
    /// `manual`, `auto_under_cap` or `auto_all`.
    pub policy: &'static str,
    /// The cap in major units, when there is one.
    pub cap: String,
    /// The currency the cap is in.
    pub currency: String,
}

impl PolicyForm {
    /// The form for `program`.
    pub fn of(program: &Program) -> Self {
        let (policy, cap) = match program.payout_policy {
            PayoutPolicy::Manual => ("manual", String::new()),
            PayoutPolicy::AutoUnderCap { cap } => ("auto_under_cap", format::major(&cap)),
            PayoutPolicy::AutoAll => ("auto_all", String::new()),
        };
        PolicyForm {
            path: program_path(program.id),
            name: program.name.clone(),
            policy,
            cap,
            currency: program.currency.code().to_uppercase(),
        }
    }
}

/// What a policy means, in words.
pub fn policy_words(policy: &PayoutPolicy) -> String {
    match policy {
        PayoutPolicy::Manual => "A person approves every batch.".to_owned(),
        PayoutPolicy::AutoUnderCap { cap } => format!(
            "Batches of at most {} approve themselves; larger ones wait for a person.",
            format::money(cap)
        ),
        PayoutPolicy::AutoAll => "Every batch approves itself.".to_owned(),
    }
}

/// A partner as the page shows them.
#[derive(Debug)]
struct PartnerRow {
    membership_id: String,
    email: String,
    country: String,
    referral_key: String,
    account: Option<String>,
    /// The account's Stripe service agreement, in words.
    agreement: Option<&'static str>,
    ready: bool,
    coupons: Vec<(String, bool)>,
}

/// A commission row.
#[derive(Debug)]
struct CommissionRow {
    date: String,
    partner: String,
    kind: String,
    amount: String,
    state: &'static str,
    hold_until: String,
    paid: bool,
}

/// A batch of the program.
#[derive(Debug)]
struct BatchRow {
    path: String,
    period: String,
    state: &'static str,
    total: String,
    items: u32,
}

#[derive(Template)]
#[template(path = "program.html")]
struct ProgramPage {
    layout: Layout,
    path: String,
    name: String,
    status: String,
    status_class: &'static str,
    currency: String,
    commission: Vec<String>,
    holding_days: u16,
    minimum_payout: String,
    /// The currency's own minimum, in words (override or default).
    currency_minimum: String,
    /// What is paid at least, all minimums considered.
    effective_minimum: String,
    /// "US (United States), DE (Germany)".
    payout_countries: String,
    /// The reach form's current values.
    countries_input: String,
    minimums_input: String,
    coupon_sync: &'static str,
    policy: PolicyForm,
    show_program_name: bool,
    policy_words: String,
    notice: Option<String>,
    may_act: bool,
    partners: Vec<PartnerRow>,
    period: String,
    state_filter: String,
    commissions: Vec<CommissionRow>,
    more_commissions: bool,
    commission_total: String,
    batches: Vec<BatchRow>,
}

/// `?period=…&state=…&notice=…`.
#[derive(Debug, Deserialize)]
pub struct ProgramQuery {
    period: Option<String>,
    state: Option<String>,
    notice: Option<String>,
    count: Option<u64>,
}

fn notice_words(q: &ProgramQuery) -> Option<String> {
    let text = match q.notice.as_deref()? {
        "created" => "The program was created. Enroll partners next.".to_owned(),
        "enrolled" => "The partner was enrolled. Send them a portal link: from their portal they finish onboarding with Stripe. Or open their onboarding link with them now.".to_owned(),
        "policy" => "The payout policy was saved.".to_owned(),
        "reach" => "The payout countries and minimums were saved.".to_owned(),
        "coupon" => "The coupon code was assigned.".to_owned(),
        "onboarding" => "The partner's onboarding state was checked with Stripe.".to_owned(),
        "finalized" => match q.count.unwrap_or(0) {
            0 => "Nothing was due: no pending commission has passed its holding period.".to_owned(),
            1 => "1 commission was finalized.".to_owned(),
            n => format!("{n} commissions were finalized."),
        },
        _ => return None,
    };
    Some(text)
}

fn rate_words(amount: &CommissionAmount) -> String {
    match amount {
        CommissionAmount::Percent { percent, .. } => format!("{}%", percent.value().normalize()),
        CommissionAmount::Fixed { amount } => format::money(amount),
    }
}

fn threshold_words(basis: TierBasis, from: i64, currency: Currency) -> String {
    match basis {
        TierBasis::Revenue => format!(
            "{} of finalized revenue",
            format::money(&Money::new(from, currency))
        ),
        TierBasis::Conversions => {
            format!("{from} finalized sale{}", if from == 1 { "" } else { "s" })
        }
    }
}

fn agreement_words(agreement: ServiceAgreement) -> &'static str {
    match agreement {
        ServiceAgreement::Full => "full service agreement",
        ServiceAgreement::Recipient => {
            "recipient service agreement: cross-border, transfers only; Stripe makes each transfer available 24 hours later"
        }
    }
}

fn currency_minimum_words(program: &Program) -> String {
    let minimum = format::money(&program.currency_minimum(program.currency));
    let currency = program.currency;
    if program.minimum_payouts.contains_key(&currency) {
        format!("{minimum} is this program's own minimum for {currency}")
    } else if default_currency_minimum(currency).is_some() {
        format!("{minimum} is the default minimum for {currency}")
    } else {
        format!("{currency} has no default minimum")
    }
}

/// The overrides as the form shows them: one `EUR 10.00` per line.
fn minimums_input(program: &Program) -> String {
    program
        .minimum_payouts
        .iter()
        .map(|(currency, minor)| format::money(&Money::new(*minor, *currency)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The program's rule in words: the base rate and which sales earn, then
/// each reward rule on a line of its own.
fn commission_words(rule: &CommissionRule, currency: Currency) -> Vec<String> {
    let base = match rule.amount {
        CommissionAmount::Percent { percent, .. } => {
            format!("{}% of each sale", percent.value().normalize())
        }
        CommissionAmount::Fixed { amount } => format!("{} per sale", format::money(&amount)),
    };
    let mut lines = vec![match rule.recurring_months {
        None => format!("{base}, on a customer's first purchase"),
        Some(m) => format!("{base}, recurring for {m} months"),
    }];
    if let Some(tiers) = &rule.tiers {
        for (i, step) in tiers.steps.iter().enumerate() {
            lines.push(format!(
                "Tier {}: {} from {}",
                i + 1,
                rate_words(&step.amount),
                threshold_words(tiers.basis, step.from, currency)
            ));
        }
    }
    if let Some(first) = &rule.first_conversions {
        lines.push(format!(
            "{} on each customer's first {} sale{}",
            rate_words(&first.amount),
            first.count,
            if first.count == 1 { "" } else { "s" }
        ));
    }
    for p in &rule.products {
        lines.push(format!(
            "{} on product {}",
            rate_words(&p.amount),
            p.product_id
        ));
    }
    if let Some(lead) = &rule.lead {
        lines.push(format!("{} per lead", format::money(lead)));
    }
    lines
}

/// The rule a commission was earned under, in words.
fn rule_words(rule: &AppliedRule, currency: Currency) -> String {
    let rate = rate_words(&rule.rate());
    match rule {
        AppliedRule::Base { .. } => format!("base rate {rate}"),
        AppliedRule::Tier {
            tier, basis, from, ..
        } => format!(
            "tier {tier} ({}): {rate}",
            threshold_words(*basis, *from, currency)
        ),
        AppliedRule::FirstConversions { nth, count, .. } => {
            format!("customer's sale {nth} of first {count}: {rate}")
        }
        AppliedRule::Product { product_id, .. } => format!("product {product_id}: {rate}"),
        AppliedRule::Lead { .. } => format!("lead: {rate}"),
    }
}

fn status_words(status: &ProgramStatus) -> String {
    match status {
        ProgramStatus::Active => "active".to_owned(),
        ProgramStatus::Probation { until } => {
            format!("on probation until {}", format::date_time(*until))
        }
        ProgramStatus::Archived => "archived".to_owned(),
    }
}

/// `GET /dashboard/partners/programs/{program_id}`.
pub async fn show(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    q: web::Query<ProgramQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let program = scoped_program(&state, &signed, &path).await?;
    let now = state.engine.clock().now();
    let period = match q.period.as_deref().filter(|p| !p.is_empty()) {
        Some(p) => forms::period("Period", p)?,
        None => Period::containing(now),
    };
    let state_filter = match q.state.as_deref() {
        None | Some("" | "all") => None,
        Some(s @ ("pending" | "on_hold" | "finalized" | "voided")) => Some(s.to_owned()),
        Some(_) => {
            return Err(ConsoleError::Invalid(
                "State: choose all, pending, finalized or voided".to_owned(),
            ));
        }
    };
    let memberships = all_memberships(&state, program.id).await?;
    let mut partners = Vec::with_capacity(memberships.len());
    for m in &memberships {
        let coupons = state.engine.coupons_of(m.id).await?;
        partners.push(PartnerRow {
            membership_id: m.id.to_string(),
            email: m.email.clone(),
            country: m.country.clone(),
            referral_key: m.referral_key.to_string(),
            account: m.account_id.as_ref().map(ToString::to_string),
            agreement: m.service_agreement.map(agreement_words),
            ready: m.can_receive_transfers(),
            coupons: coupons
                .iter()
                .map(|c| (c.code.to_string(), c.active))
                .collect(),
        });
    }
    let key_of = |partner: payouts_domain::ids::PartnerId| {
        memberships
            .iter()
            .find(|m| m.partner_id == partner)
            .map_or_else(|| partner.to_string(), |m| m.referral_key.to_string())
    };
    let page_of = state
        .engine
        .commissions(
            &CommissionFilter {
                merchant_id: Some(program.merchant_id.clone()),
                program_id: Some(program.id),
                state: state_filter.clone(),
                period: Some(period),
                ..CommissionFilter::default()
            },
            PageRequest::first(100),
        )
        .await?;
    let mut total = Money::zero(program.currency);
    for c in &page_of.data {
        total = total
            .checked_add(&c.amount)
            .map_err(|e| ConsoleError::Invalid(e.to_string()))?;
    }
    let commissions = page_of
        .data
        .iter()
        .map(|c| CommissionRow {
            date: format::date(c.created_at),
            partner: key_of(c.partner_id),
            kind: match &c.kind {
                payouts_domain::commission::CommissionKind::Earned => match &c.rule {
                    Some(rule) => format!("earned · {}", rule_words(rule, program.currency)),
                    None => "earned".to_owned(),
                },
                payouts_domain::commission::CommissionKind::Adjustment { reason, .. } => {
                    format!("adjustment ({})", reason.as_str())
                }
            },
            amount: format::money(&c.amount),
            state: c.state.as_str(),
            hold_until: format::date(c.hold_until),
            paid: c.payout_item_id.is_some(),
        })
        .collect();
    let batches = state
        .engine
        .batches_page(program.id, PageRequest::first(24))
        .await?
        .data
        .iter()
        .map(|b| BatchRow {
            path: format!("/dashboard/partners/batches/{}", b.id),
            period: b.period.to_string(),
            state: b.state.as_str(),
            total: format::money(&b.total),
            items: b.item_count,
        })
        .collect();
    let origin = state.settings.stripe_hosted_origin.clone();
    render_to(
        &ProgramPage {
            layout: Layout::signed(&program.name, &signed),
            path: program_path(program.id),
            name: program.name.clone(),
            status: status_words(&program.status),
            status_class: program.status.as_str(),
            currency: program.currency.code().to_uppercase(),
            commission: commission_words(&program.commission_rule, program.currency),
            holding_days: program.holding_days,
            minimum_payout: format::money(&program.minimum_payout),
            currency_minimum: currency_minimum_words(&program),
            effective_minimum: format::money(
                &program
                    .effective_minimum(program.currency)
                    .unwrap_or(program.minimum_payout),
            ),
            payout_countries: program
                .payout_countries
                .iter()
                .map(|c| format!("{} ({})", c.code(), c.name()))
                .collect::<Vec<_>>()
                .join(", "),
            countries_input: program.settings().payout_countries.join(", "),
            minimums_input: minimums_input(&program),
            coupon_sync: match program.coupon_sync {
                CouponSyncMode::Stripe => "synced to Stripe as promotion codes",
                CouponSyncMode::Webhook => "sent with conversions to the API",
                CouponSyncMode::Manual => "recorded here only",
            },
            policy: PolicyForm::of(&program),
            show_program_name: false,
            policy_words: policy_words(&program.payout_policy),
            notice: notice_words(&q),
            may_act: may_act(&signed),
            partners,
            period: period.to_string(),
            state_filter: state_filter.unwrap_or_else(|| "all".to_owned()),
            commissions,
            more_commissions: page_of.has_more,
            commission_total: format::money(&total),
            batches,
        },
        &origin,
    )
}

/// The create-program form.
#[derive(Debug, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf_token: String,
    name: String,
    currency: String,
    commission_percent: String,
    holding_days: String,
    minimum_payout: String,
    /// Comma- or space-separated country codes; blank: `US`.
    #[serde(default)]
    payout_countries: String,
}

/// `POST /dashboard/partners/programs`: creates a program (manual approval,
/// coupons recorded here) and opens it.
pub async fn create(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<CreateForm>,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(&req, &signed, &form.csrf_token)?;
    if !signed.is_staff() || !may_act(&signed) {
        return Err(ConsoleError::Forbidden);
    }
    let currency = forms::currency("Currency", &form.currency)?;
    let settings = ProgramSettings {
        name: form.name.trim().to_owned(),
        currency,
        commission_rule: CommissionRule::flat(
            CommissionAmount::Percent {
                percent: forms::percent("Commission (%)", &form.commission_percent)?,
                rounding: payouts_domain::money::Rounding::default(),
            },
            None,
        ),
        holding_days: forms::small_number("Holding days", &form.holding_days, 365)?,
        minimum_payout: forms::amount("Minimum payout", &form.minimum_payout, currency)?,
        minimum_payouts: BTreeMap::new(),
        payout_policy: PayoutPolicy::Manual,
        coupon_sync: CouponSyncMode::Manual,
        payout_countries: match country_codes(&form.payout_countries) {
            codes if codes.is_empty() => default_payout_countries(),
            codes => codes,
        },
    };
    let program = state
        .engine
        .create_program(signed.merchant(), settings, &signed.acting())
        .await?;
    Ok(see_other(&format!(
        "{}?notice=created",
        program_path(program.id)
    )))
}

/// The payout-policy form.
#[derive(Debug, Deserialize)]
pub struct PolicyInput {
    #[serde(default)]
    csrf_token: String,
    policy: String,
    #[serde(default)]
    cap: String,
    /// Where to return: `card` for the Stripe Connect card.
    #[serde(default)]
    back: String,
}

/// `POST /dashboard/partners/programs/{program_id}/policy`: saves the
/// program's payout policy (manual, auto under a cap, auto all).
pub async fn policy(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<PolicyInput>,
) -> Result<HttpResponse, ConsoleError> {
    let program = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    let payout_policy = match form.policy.as_str() {
        "manual" => PayoutPolicy::Manual,
        "auto_all" => PayoutPolicy::AutoAll,
        "auto_under_cap" => PayoutPolicy::AutoUnderCap {
            cap: forms::amount("Cap", &form.cap, program.currency)?,
        },
        _ => {
            return Err(ConsoleError::Invalid(
                "Payout policy: choose manual approval, automatic under a cap, or automatic for every batch".to_owned(),
            ));
        }
    };
    let settings = ProgramSettings {
        payout_policy,
        ..program.settings()
    };
    state
        .engine
        .update_program(program.id, settings, &signed.acting())
        .await?;
    if form.back == "card" {
        return Ok(see_other(
            "/dashboard/partners/stripe-connect?stripe=policy_saved",
        ));
    }
    Ok(see_other(&format!(
        "{}?notice=policy",
        program_path(program.id)
    )))
}

/// The payout countries and per-currency minimums form.
#[derive(Debug, Deserialize)]
pub struct ReachInput {
    #[serde(default)]
    csrf_token: String,
    /// Comma- or space-separated ISO codes, e.g. `US, DE, FR`.
    payout_countries: String,
    /// One `CUR amount` per line, e.g. `EUR 10.00`; blank for none.
    #[serde(default)]
    minimum_payouts: String,
}

fn country_codes(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|c| !c.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Reads `EUR 10.00` lines; each amount in its currency's decimals.
fn minimum_lines(text: &str) -> Result<BTreeMap<Currency, i64>, ConsoleError> {
    let mut out = BTreeMap::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let (code, amount) = line.split_once(char::is_whitespace).ok_or_else(|| {
            ConsoleError::Invalid(format!(
                "Minimum per currency: write each line as a currency and an amount, like EUR 10.00 (not “{line}”)"
            ))
        })?;
        let currency = forms::currency("Minimum per currency", code)?;
        let label = format!("Minimum for {currency}");
        let money = forms::amount(&label, amount, currency)?;
        if out.insert(currency, money.amount_minor()).is_some() {
            return Err(ConsoleError::Invalid(format!(
                "Minimum per currency: {currency} is given twice"
            )));
        }
    }
    Ok(out)
}

/// `POST /dashboard/partners/programs/{program_id}/reach`: saves the
/// countries partners may be enrolled from and the per-currency minimums.
pub async fn reach(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<ReachInput>,
) -> Result<HttpResponse, ConsoleError> {
    let program = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    let settings = ProgramSettings {
        payout_countries: country_codes(&form.payout_countries),
        minimum_payouts: minimum_lines(&form.minimum_payouts)?,
        ..program.settings()
    };
    state
        .engine
        .update_program(program.id, settings, &signed.acting())
        .await?;
    Ok(see_other(&format!(
        "{}?notice=reach",
        program_path(program.id)
    )))
}

/// The enroll form.
#[derive(Debug, Deserialize)]
pub struct EnrollForm {
    #[serde(default)]
    csrf_token: String,
    email: String,
    country: String,
    referral_key: String,
}

/// `POST /dashboard/partners/programs/{program_id}/partners`: enrolls a
/// partner (a new Express account is created when they onboard).
pub async fn enroll(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<EnrollForm>,
) -> Result<HttpResponse, ConsoleError> {
    let program = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    let referral_key = ReferralKey::parse(form.referral_key.trim())
        .map_err(|e| ConsoleError::Invalid(format!("Referral key: {e}")))?;
    state
        .engine
        .enroll_partner(
            program.id,
            NewPartner {
                partner_id: None,
                email: form.email.trim().to_owned(),
                country: form.country.trim().to_owned(),
                referral_key,
            },
        )
        .await?;
    Ok(see_other(&format!(
        "{}?notice=enrolled",
        program_path(program.id)
    )))
}

/// A form with only its CSRF token.
#[derive(Debug, Deserialize)]
pub struct PlainForm {
    #[serde(default)]
    csrf_token: String,
}

/// The membership of this program named in the path, or 404.
async fn scoped_membership(
    state: &AppState,
    program: &Program,
    raw: &str,
) -> Result<Membership, ConsoleError> {
    let id = MembershipId::parse(raw).map_err(|_| ConsoleError::NotFound)?;
    let membership = state.engine.membership(id).await?;
    if membership.program_id != program.id {
        return Err(ConsoleError::NotFound);
    }
    Ok(membership)
}

/// Checks the form and the role, and returns the program and the
/// membership of it that the path names (`(program_id, membership_id)`).
async fn acting_on_member(
    req: &HttpRequest,
    state: &AppState,
    signed: &Signed,
    (raw_program, raw_membership): (String, String),
    token: &str,
) -> Result<(Program, Membership), ConsoleError> {
    let program = acting_on(req, state, signed, &raw_program, token).await?;
    let membership = scoped_membership(state, &program, &raw_membership).await?;
    Ok((program, membership))
}

/// `POST …/partners/{membership_id}/onboarding`: a fresh Stripe onboarding
/// link (Express), then off to it. It returns to this page.
pub async fn onboarding(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (program, membership) =
        acting_on_member(&req, &state, &signed, path.into_inner(), &form.csrf_token).await?;
    let base = state.settings.public_url.trim_end_matches('/');
    let back = format!("{base}{}", program_path(program.id));
    let link = state
        .engine
        .onboarding_link(
            membership.id,
            &format!("{back}/partners/{}/onboarded", membership.id),
            &format!("{back}?notice=onboarding"),
        )
        .await?;
    Ok(see_other(&link.url))
}

/// `GET …/partners/{membership_id}/onboarded`: where Stripe's onboarding
/// returns; checks the account with Stripe and shows the program.
pub async fn onboarded(
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ConsoleError> {
    let (raw_program, raw_membership) = path.into_inner();
    let program = scoped_program(&state, &signed, &raw_program).await?;
    let membership = scoped_membership(&state, &program, &raw_membership).await?;
    state.engine.refresh_onboarding(membership.id).await?;
    Ok(see_other(&format!(
        "{}?notice=onboarding",
        program_path(program.id)
    )))
}

/// `POST …/partners/{membership_id}/refresh`: checks onboarding with Stripe.
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (program, membership) =
        acting_on_member(&req, &state, &signed, path.into_inner(), &form.csrf_token).await?;
    state.engine.refresh_onboarding(membership.id).await?;
    Ok(see_other(&format!(
        "{}?notice=onboarding",
        program_path(program.id)
    )))
}

/// `POST …/partners/{membership_id}/dashboard`: a login link to the
/// partner's Express dashboard, then off to it.
pub async fn dashboard(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (_, membership) =
        acting_on_member(&req, &state, &signed, path.into_inner(), &form.csrf_token).await?;
    let link = state.engine.dashboard_link(membership.id).await?;
    Ok(see_other(&link.url))
}

/// The coupon form.
#[derive(Debug, Deserialize)]
pub struct CouponForm {
    #[serde(default)]
    csrf_token: String,
    code: String,
    #[serde(default)]
    stripe_coupon: String,
}

/// `POST …/partners/{membership_id}/coupons`: assigns a coupon code (in
/// `stripe` sync mode, created as a Stripe promotion code first).
pub async fn coupon(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<CouponForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (program, membership) =
        acting_on_member(&req, &state, &signed, path.into_inner(), &form.csrf_token).await?;
    let code = CouponCode::parse(form.code.trim())
        .map_err(|e| ConsoleError::Invalid(format!("Coupon code: {e}")))?;
    let stripe_coupon = Some(form.stripe_coupon.trim()).filter(|c| !c.is_empty());
    state
        .engine
        .assign_coupon(membership.id, code, stripe_coupon)
        .await?;
    Ok(see_other(&format!(
        "{}?notice=coupon",
        program_path(program.id)
    )))
}

#[derive(Template)]
#[template(path = "portal_link.html")]
struct PortalLinkPage {
    layout: Layout,
    back: String,
    email: String,
    url: String,
    expires: String,
}

/// `POST …/partners/{membership_id}/portal-link`: a single-use sign-in
/// link to the partner's portal (five minutes), shown to copy and send.
pub async fn portal_link(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (program, membership) =
        acting_on_member(&req, &state, &signed, path.into_inner(), &form.csrf_token).await?;
    let target = SessionPrincipal {
        subject: membership.email.clone(),
        roles: vec!["partner".to_owned()],
        merchant_id: program.merchant_id.clone(),
        partner_id: Some(membership.partner_id),
    };
    let (secret, link) = state
        .engine
        .issue_login_link(&signed.session.principal, target, &signed.acting())
        .await?;
    render(&PortalLinkPage {
        layout: Layout::signed("Portal link", &signed),
        back: program_path(program.id),
        email: membership.email.clone(),
        url: format!(
            "{}/login/{}",
            state.settings.public_url.trim_end_matches('/'),
            secret.expose()
        ),
        expires: format::date_time(link.expires_at),
    })
}

/// `POST …/periods/{period}/finalize`: finalizes the period's commissions
/// whose holding period is over.
pub async fn finalize(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<(String, String)>,
    form: web::Form<PlainForm>,
) -> Result<HttpResponse, ConsoleError> {
    let (raw_program, raw_period) = path.into_inner();
    let program = acting_on(&req, &state, &signed, &raw_program, &form.csrf_token).await?;
    let period = forms::period("Period", &raw_period)?;
    let count = state
        .engine
        .finalize_period(program.id, period, &signed.acting())
        .await?;
    Ok(see_other(&format!(
        "{}?period={}&notice=finalized&count={count}",
        program_path(program.id),
        url_encode(&period.to_string())
    )))
}

/// The build form.
#[derive(Debug, Deserialize)]
pub struct BuildForm {
    #[serde(default)]
    csrf_token: String,
    period: String,
}

/// `POST /dashboard/partners/programs/{program_id}/batches`: builds the
/// period's batch (or finds the one built before) and opens it.
pub async fn build(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    path: web::Path<String>,
    form: web::Form<BuildForm>,
) -> Result<HttpResponse, ConsoleError> {
    let program = acting_on(&req, &state, &signed, &path, &form.csrf_token).await?;
    let period = forms::period("Period", &form.period)?;
    let batch = state
        .engine
        .build_batch(program.id, period, &signed.acting())
        .await?;
    Ok(see_other(&format!(
        "/dashboard/partners/batches/{}",
        batch.id
    )))
}
