//! The partner-program API (seeds 000 and 004), under `/api/v1`: programs
//! and their payout policy, the merchant's Connect OAuth and connection
//! card, partners and their onboarding, coupon codes, conversions,
//! commissions and period finalization.
//!
//! Every field is snake_case, every currency a lowercase ISO code and
//! every amount `{amount, currency}` in minor units ([`crate::wire`]).
//! Seed 000's camelCase names map one to one (`autoPayoutPolicy` is
//! `auto_payout_policy`, `stripeAccountId` is `stripe_account_id`, …),
//! except `autoPayoutCapUsd`: dollars there, `auto_payout_cap` here, in USD
//! cents (see `docs/http.md`).

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use payouts_domain::commission::{Commission, CommissionState, ConversionInput, OnHoldReason};
use payouts_domain::connection::MerchantConnection;
use payouts_domain::crossborder::default_payout_countries;
use payouts_domain::engine::{NewPartner, RecordOutcome};
use payouts_domain::ids::{
    CouponCode, ExternalId, MembershipId, MerchantId, PartnerId, PayoutItemId, ProductId,
    ProgramId, ReferralKey,
};
use payouts_domain::money::{Currency, Money};
use payouts_domain::partner::{Coupon, Membership};
use payouts_domain::period::Period;
use payouts_domain::ports::{Clock, CommissionFilter, Page};
use payouts_domain::program::{
    CouponSyncMode, PayoutPolicy, Program, ProgramSettings, ProgramStatus,
};
use payouts_domain::reward::ConversionKind;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::paging::{List, ListQuery};
use crate::routes::rewards::{
    CommissionDto, FirstConversionsDto, ProductRateDto, RewardRulesDto, TiersDto,
};
use crate::routes::{PROGRAM_ROLES, STAFF_ROLES};
use crate::state::AppState;
use crate::views::{CommissionView, ConversionDto, CouponDto};
use crate::wire::{MoneyDto, currency_code, parse_currency};

/// Registers the program routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_program)
        .service(list_programs)
        .service(get_program)
        .service(update_program)
        .service(connect_authorize)
        .service(connect_callback)
        .service(connection_card)
        .service(enroll_partner)
        .service(list_partners)
        .service(get_partner)
        .service(partner_onboarding_link)
        .service(partner_dashboard_link)
        .service(refresh_partner)
        .service(assign_coupon)
        .service(deactivate_coupon)
        .service(record_conversion)
        .service(list_commissions)
        .service(finalize_period);
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

pub(crate) fn parse_uuid<T: From<uuid::Uuid>>(raw: &str, param: &str) -> Result<T, ApiError> {
    uuid::Uuid::parse_str(raw)
        .map(T::from)
        .map_err(|_| ApiError::validation(param, format!("{param} must be an id (UUID)")))
}

/// The program, if the caller's merchant owns it (404 otherwise).
pub(crate) async fn scoped_program(
    state: &AppState,
    principal: &Principal,
    id: ProgramId,
) -> Result<Program, ApiError> {
    let program = state.engine.program(id).await?;
    principal.scope(&program.merchant_id, "program")?;
    Ok(program)
}

/// The membership, if the caller's merchant owns it (404 otherwise).
pub(crate) async fn scoped_membership(
    state: &AppState,
    principal: &Principal,
    id: MembershipId,
) -> Result<Membership, ApiError> {
    let membership = state.engine.membership(id).await?;
    principal.scope(&membership.merchant_id, "partner")?;
    Ok(membership)
}

// ---------------------------------------------------------------- programs

/// A program's settings (seed 000's, in snake_case). On update, every
/// field is given again (a full replacement of the settings).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgramBody {
    /// Display name.
    pub name: String,
    /// ISO currency of commissions and payouts, e.g. `usd` (upper case is accepted).
    #[schema(example = "usd")]
    pub currency: String,
    /// The commission rule.
    pub commission: CommissionDto,
    /// Months a customer keeps earning (recurring); none for every sale.
    pub recurring_months: Option<u16>,
    /// Days a commission is held before it can be finalized (refund window).
    pub holding_days: u16,
    /// The smallest payout, in the program's currency; smaller balances
    /// carry over. Default: none (0).
    pub minimum_payout: Option<MoneyDto>,
    /// `manual`, `auto_under_cap` or `auto_all`.
    pub auto_payout_policy: String,
    /// The cap for `auto_under_cap`, in USD cents (seed 000's
    /// `autoPayoutCapUsd: 1000` is `{"amount": 100000, "currency": "usd"}`).
    /// Ignored by the other policies.
    pub auto_payout_cap: Option<MoneyDto>,
    /// `stripe` (promotion codes are created in Stripe), `webhook` or `manual`.
    pub coupon_sync_mode: String,
    /// Tiers by the partner's finalized totals; none by default.
    pub tiers: Option<TiersDto>,
    /// A rate for each customer's first sales; none by default.
    pub first_conversions: Option<FirstConversionsDto>,
    /// Per-product rates (at most 100); none by default.
    pub product_rates: Option<Vec<ProductRateDto>>,
    /// The flat amount a lead earns; without it, leads are refused.
    pub lead_commission: Option<MoneyDto>,
    /// ISO 3166-1 alpha-2 codes of the countries partners may be enrolled
    /// from (any case; duplicates dropped; at least one), each one Stripe
    /// supports for cross-border payouts (`docs/domain.md`). Omitted: `["US"]`
    /// on create, unchanged on update.
    #[schema(example = json!(["US", "DE"]))]
    pub payout_countries: Option<Vec<String>>,
    /// Per-currency minimum payouts that replace the documented defaults:
    /// lowercase currency code to minor units (0 or more; 0 removes the
    /// default floor). Omitted: none on create, unchanged on update.
    #[schema(value_type = Option<std::collections::HashMap<String, i64>>, example = json!({"usd": 2000}))]
    pub minimum_payouts: Option<BTreeMap<String, i64>>,
}

/// A program (seed 000's settings, in snake_case).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProgramView {
    /// Its id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The merchant.
    pub merchant_id: String,
    /// Name.
    pub name: String,
    /// Lowercase ISO currency, e.g. `usd`.
    #[schema(example = "usd")]
    pub currency: String,
    /// The commission rule.
    pub commission: CommissionDto,
    /// Recurring months.
    pub recurring_months: Option<u16>,
    /// Holding days.
    pub holding_days: u16,
    /// Minimum payout, in the program's currency.
    pub minimum_payout: MoneyDto,
    /// `manual`, `auto_under_cap` or `auto_all`.
    pub auto_payout_policy: String,
    /// The cap, in USD, for `auto_under_cap`; none for the other policies.
    pub auto_payout_cap: Option<MoneyDto>,
    /// Coupon sync mode.
    pub coupon_sync_mode: String,
    /// Tiers by the partner's finalized totals.
    pub tiers: Option<TiersDto>,
    /// A rate for each customer's first sales.
    pub first_conversions: Option<FirstConversionsDto>,
    /// Per-product rates.
    pub product_rates: Option<Vec<ProductRateDto>>,
    /// The flat amount a lead earns; `null`: leads are refused.
    pub lead_commission: Option<MoneyDto>,
    /// Upper-case ISO 3166-1 alpha-2 codes of the countries partners may be
    /// enrolled from.
    pub payout_countries: Vec<String>,
    /// The program's per-currency minimum overrides: lowercase currency code
    /// to minor units (empty when the defaults apply).
    #[schema(value_type = std::collections::HashMap<String, i64>)]
    pub minimum_payouts: BTreeMap<String, i64>,
    /// The smallest net paid in the program's currency: the larger of
    /// `minimum_payout` and the currency's minimum (override or default).
    pub effective_minimum_payout: MoneyDto,
    /// `active`, `probation` or `archived`.
    pub status: String,
    /// End of the probation window, when in probation.
    pub merchant_probation_until: Option<String>,
    /// Why automatic payouts are held, if they are.
    pub payouts_held: Option<String>,
    /// Created.
    pub created_at: String,
}

fn sync_mode(raw: &str) -> Result<CouponSyncMode, ApiError> {
    match raw {
        "stripe" => Ok(CouponSyncMode::Stripe),
        "webhook" => Ok(CouponSyncMode::Webhook),
        "manual" => Ok(CouponSyncMode::Manual),
        other => Err(ApiError::validation(
            "coupon_sync_mode",
            format!("`{other}` is not stripe, webhook or manual"),
        )),
    }
}

fn sync_mode_str(m: CouponSyncMode) -> &'static str {
    match m {
        CouponSyncMode::Stripe => "stripe",
        CouponSyncMode::Webhook => "webhook",
        CouponSyncMode::Manual => "manual",
    }
}

/// The cap of `auto_under_cap`: a USD amount in this version (the domain's
/// cap must be in the batch's currency, and the API's cap is seed 000's
/// USD-denominated one).
fn usd_cap(cap: &MoneyDto) -> Result<Money, ApiError> {
    let cap = cap.to_money("auto_payout_cap")?;
    if cap.currency() != Currency::USD {
        return Err(ApiError::validation(
            "auto_payout_cap.currency",
            format!("the cap is in usd, not {}", currency_code(cap.currency())),
        ));
    }
    Ok(cap)
}

impl ProgramBody {
    /// The settings; `current` is the program being updated (its countries
    /// and minimums stay when the body omits them).
    fn settings(&self, current: Option<&Program>) -> Result<ProgramSettings, ApiError> {
        let currency = parse_currency(&self.currency, "currency")?;
        let in_program_currency = |field: &str, given: Currency| {
            if given == currency {
                Ok(())
            } else {
                Err(ApiError::validation(
                    field,
                    format!(
                        "must be the program currency {}, not {}",
                        currency_code(currency),
                        currency_code(given)
                    ),
                ))
            }
        };
        let amount = self.commission.to_amount(currency, "commission")?;
        let rules = RewardRulesDto {
            tiers: self.tiers.clone(),
            first_conversions: self.first_conversions.clone(),
            product_rates: self.product_rates.clone(),
            lead_commission: self.lead_commission.clone(),
        };
        let minimum_payout = match &self.minimum_payout {
            None => Money::zero(currency),
            Some(m) => {
                let m = m.to_money("minimum_payout")?;
                in_program_currency("minimum_payout.currency", m.currency())?;
                m
            }
        };
        let payout_policy = match (self.auto_payout_policy.as_str(), &self.auto_payout_cap) {
            ("manual", _) => PayoutPolicy::Manual,
            ("auto_all", _) => PayoutPolicy::AutoAll,
            ("auto_under_cap", Some(cap)) => PayoutPolicy::AutoUnderCap { cap: usd_cap(cap)? },
            ("auto_under_cap", None) => {
                return Err(ApiError::validation(
                    "auto_payout_cap",
                    "auto_under_cap needs auto_payout_cap",
                ));
            }
            (other, _) => {
                return Err(ApiError::validation(
                    "auto_payout_policy",
                    format!("`{other}` is not manual, auto_under_cap or auto_all"),
                ));
            }
        };
        let minimum_payouts = match (&self.minimum_payouts, current) {
            (Some(given), _) => given
                .iter()
                .map(|(code, minor)| {
                    let param = format!("minimum_payouts.{code}");
                    Ok((parse_currency(code, &param)?, *minor))
                })
                .collect::<Result<BTreeMap<_, _>, ApiError>>()?,
            (None, Some(program)) => program.minimum_payouts.clone(),
            (None, None) => BTreeMap::new(),
        };
        let payout_countries = match (&self.payout_countries, current) {
            (Some(given), _) => given.clone(),
            (None, Some(program)) => program.settings().payout_countries,
            (None, None) => default_payout_countries(),
        };
        Ok(ProgramSettings {
            name: self.name.clone(),
            currency,
            commission_rule: rules.to_rule(amount, self.recurring_months, currency)?,
            holding_days: self.holding_days,
            minimum_payout,
            minimum_payouts,
            payout_policy,
            coupon_sync: sync_mode(&self.coupon_sync_mode)?,
            payout_countries,
        })
    }
}

fn program_view(p: &Program) -> ProgramView {
    let commission = CommissionDto::from_amount(&p.commission_rule.amount);
    let rules = RewardRulesDto::from_rule(&p.commission_rule);
    let cap = match p.payout_policy {
        PayoutPolicy::AutoUnderCap { cap } => Some(MoneyDto::from_money(&cap)),
        PayoutPolicy::Manual | PayoutPolicy::AutoAll => None,
    };
    let (status, until) = match &p.status {
        ProgramStatus::Active => ("active", None),
        ProgramStatus::Probation { until } => ("probation", Some(rfc3339(*until))),
        ProgramStatus::Archived => ("archived", None),
    };
    ProgramView {
        id: p.id.to_string(),
        merchant_id: p.merchant_id.to_string(),
        name: p.name.clone(),
        currency: currency_code(p.currency),
        commission,
        recurring_months: p.commission_rule.recurring_months,
        holding_days: p.holding_days,
        minimum_payout: MoneyDto::from_money(&p.minimum_payout),
        auto_payout_policy: p.payout_policy.as_str().to_owned(),
        auto_payout_cap: cap,
        coupon_sync_mode: sync_mode_str(p.coupon_sync).to_owned(),
        tiers: rules.tiers,
        first_conversions: rules.first_conversions,
        product_rates: rules.product_rates,
        lead_commission: rules.lead_commission,
        payout_countries: p.settings().payout_countries,
        minimum_payouts: p
            .minimum_payouts
            .iter()
            .map(|(c, minor)| (currency_code(*c), *minor))
            .collect(),
        // The program's own currency always compares; fall back to the
        // program minimum should it ever not.
        effective_minimum_payout: MoneyDto::from_money(
            &p.effective_minimum(p.currency).unwrap_or(p.minimum_payout),
        ),
        status: status.to_owned(),
        merchant_probation_until: until,
        payouts_held: p
            .hold
            .map(|h| super::wire_name(&h).unwrap_or_else(|| "held".to_owned())),
        created_at: rfc3339(p.created_at),
    }
}

/// Query for a merchant (platform callers may name any).
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MerchantQuery {
    /// The merchant; default: the caller's.
    pub merchant_id: Option<String>,
}

/// `GET /programs` query: the merchant and the list rules.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProgramListQuery {
    /// The merchant; default: the caller's.
    pub merchant_id: Option<String>,
    /// Page size, 1 to 100 (default 20).
    pub limit: Option<u32>,
    /// The id of the last program of the previous page.
    pub starting_after: Option<String>,
}

fn merchant_for(principal: &Principal, query: Option<&str>) -> Result<MerchantId, ApiError> {
    let merchant = match query {
        Some(m) => MerchantId::parse(m.to_owned())?,
        None => principal.merchant_id.clone(),
    };
    principal.scope(&merchant, "merchant")?;
    Ok(merchant)
}

/// Creates a partner program for the caller's merchant (platform callers
/// may pass `?merchant_id=`).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/programs", tag = "programs", params(MerchantQuery),
    request_body = ProgramBody, security(("bearer" = [])),
    responses((status = 201, body = ProgramView), (status = 400)))]
#[post("/programs")]
pub async fn create_program(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<MerchantQuery>,
    body: web::Json<ProgramBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let merchant = merchant_for(&principal, query.merchant_id.as_deref())?;
    let program = state
        .engine
        .create_program(&merchant, body.settings(None)?, &principal.acting())
        .await?;
    Ok(HttpResponse::Created().json(program_view(&program)))
}

/// The merchant's programs.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/programs", tag = "programs", params(ProgramListQuery),
    security(("bearer" = [])), responses((status = 200, body = List<ProgramView>)))]
#[get("/programs")]
pub async fn list_programs(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<ProgramListQuery>,
) -> Result<web::Json<List<ProgramView>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let merchant = merchant_for(&principal, query.merchant_id.as_deref())?;
    let page = ListQuery {
        limit: query.limit,
        starting_after: query.starting_after.clone(),
    }
    .page()?;
    let programs = state.engine.programs_page(&merchant, page).await?;
    Ok(web::Json(List::from_page(programs, |p| program_view(&p))))
}

/// A program.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}", tag = "programs",
    params(("program_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ProgramView), (status = 404)))]
#[get("/programs/{program_id}")]
pub async fn get_program(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ProgramView>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    Ok(web::Json(program_view(&program)))
}

/// Replaces a program's settings, e.g. its payout policy.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(put, path = "/api/v1/programs/{program_id}", tag = "programs",
    params(("program_id" = String, Path)), request_body = ProgramBody, security(("bearer" = [])),
    responses((status = 200, body = ProgramView), (status = 400), (status = 404)))]
#[put("/programs/{program_id}")]
pub async fn update_program(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ProgramBody>,
) -> Result<web::Json<ProgramView>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    let updated = state
        .engine
        .update_program(
            program.id,
            body.settings(Some(&program))?,
            &principal.acting(),
        )
        .await?;
    Ok(web::Json(program_view(&updated)))
}

// ---------------------------------------------------------------- Connect OAuth

/// Where to send the merchant to authorise.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuthorizeView {
    /// Stripe's authorize URL, with `state`.
    pub authorize_url: String,
    /// The single-use state token (10 minutes).
    pub state: String,
    /// When the state expires.
    pub expires_at: String,
}

/// Starts Connect OAuth (Standard, `read_write`): answers 302 to Stripe's
/// authorize URL with a fresh single-use `state` valid for 10 minutes.
/// With `Accept: application/json` it answers 200 with the URL instead,
/// for dashboards that navigate themselves.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(get, path = "/api/v1/stripe-connect/authorize", tag = "connect",
    security(("bearer" = [])),
    responses((status = 302, description = "to connect.stripe.com/oauth/authorize"), (status = 200, body = AuthorizeView)))]
#[get("/stripe-connect/authorize")]
pub async fn connect_authorize(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let start = state.engine.start_connect(&principal.merchant_id).await?;
    let wants_json = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        return Ok(HttpResponse::Ok().json(AuthorizeView {
            authorize_url: start.authorize_url,
            state: start.state.token.to_string(),
            expires_at: rfc3339(start.state.expires_at()),
        }));
    }
    Ok(HttpResponse::Found()
        .insert_header((header::LOCATION, start.authorize_url))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// Stripe's redirect back.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CallbackQuery {
    /// The authorization code.
    pub code: Option<String>,
    /// The state token from authorize.
    pub state: Option<String>,
    /// Set when the merchant declined, e.g. `access_denied`.
    pub error: Option<String>,
    /// Stripe's description of the error.
    pub error_description: Option<String>,
}

/// Stripe's OAuth redirect. No auth: the single-use `state` authenticates
/// it. Answers 302 to the dashboard with `?stripe=connected` or
/// `?stripe=error&reason=state_expired|state_unknown|state_reused|access_denied|exchange_failed`.
/// Re-authorising within a probation window clears the probation.
#[utoipa::path(get, path = "/api/v1/stripe-connect/callback", tag = "connect", params(CallbackQuery),
    responses((status = 302, description = "to the dashboard with ?stripe=connected or ?stripe=error&reason=…")))]
#[get("/stripe-connect/callback")]
pub async fn connect_callback(
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> HttpResponse {
    let q = query.into_inner();
    let outcome = state
        .engine
        .complete_connect(
            q.state.as_deref().unwrap_or(""),
            q.code.as_deref(),
            q.error.as_deref(),
            &payouts_domain::audit::Acting::stripe(crate::request_log::current().as_deref()),
        )
        .await;
    let query = match outcome {
        Ok(outcome) => outcome.query(),
        Err(e) => {
            tracing::warn!(error = %e, "Connect OAuth callback failed");
            "stripe=error&reason=exchange_failed".to_owned()
        }
    };
    let base = &state.settings.dashboard_url;
    let sep = if base.contains('?') { '&' } else { '?' };
    HttpResponse::Found()
        .insert_header((header::LOCATION, format!("{base}{sep}{query}")))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// The merchant's connection card (seed 000's four fields, in snake_case:
/// `stripeAccountId` is `stripe_account_id`, and so on).
#[derive(Debug, Serialize, ToSchema)]
pub struct ConnectionCard {
    /// The merchant.
    pub merchant_id: String,
    /// `acct_…`, what transfers are made from; none before the first connect.
    pub stripe_account_id: Option<String>,
    /// `connected`, `restricted`, `revoked`, `disabled` or `pending`; `not_connected` before the first connect.
    pub stripe_account_status: String,
    /// When access was granted (RFC 3339).
    pub stripe_oauth_granted_at: Option<String>,
    /// `read_write`.
    pub stripe_oauth_scope: Option<String>,
    /// When access was revoked, if it was.
    pub stripe_oauth_revoked_at: Option<String>,
}

fn card(merchant: &MerchantId, c: Option<&MerchantConnection>) -> ConnectionCard {
    ConnectionCard {
        merchant_id: merchant.to_string(),
        stripe_account_id: c.map(|c| c.account_id.to_string()),
        stripe_account_status: c.map_or_else(
            || "not_connected".to_owned(),
            |c| super::wire_name(&c.status).unwrap_or_else(|| "unknown".to_owned()),
        ),
        stripe_oauth_granted_at: c.map(|c| rfc3339(c.granted_at)),
        stripe_oauth_scope: c.map(|c| c.scope.clone()),
        stripe_oauth_revoked_at: c.and_then(|c| c.revoked_at.map(rfc3339)),
    }
}

/// The connection card: account id, status, scope and date connected.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/stripe-connect", tag = "connect", params(MerchantQuery),
    security(("bearer" = [])), responses((status = 200, body = ConnectionCard)))]
#[get("/stripe-connect")]
pub async fn connection_card(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<MerchantQuery>,
) -> Result<web::Json<ConnectionCard>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let merchant = merchant_for(&principal, query.merchant_id.as_deref())?;
    let connection = state.engine.connection(&merchant).await?;
    Ok(web::Json(card(&merchant, connection.as_ref())))
}

// ---------------------------------------------------------------- partners

/// A partner's membership in one program (the JSON of the domain's
/// `Membership`, typed).
#[derive(Debug, Serialize, ToSchema)]
pub struct MembershipView {
    /// The membership id (`/api/v1/memberships/{membership_id}`).
    #[schema(format = "uuid")]
    pub id: String,
    /// The partner id (`/api/v1/partners/{partner_id}/payouts`, `…/tax/{year}`);
    /// one partner has a membership per program.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The program's merchant.
    pub merchant_id: String,
    /// Contact e-mail.
    pub email: String,
    /// ISO 3166-1 alpha-2 country, upper case, e.g. `US`.
    pub country: String,
    /// The partner's Express account (`acct_…`), once onboarding started.
    pub account_id: Option<String>,
    /// The Stripe service agreement of that account, once it exists: `full`
    /// (a partner in the platform's country, the US) or `recipient` (a
    /// cross-border partner: transfers only, and Stripe makes each transfer
    /// available in the partner's balance 24 hours later than for `full`).
    pub service_agreement: Option<String>,
    /// Onboarding state of that account.
    pub onboarding: OnboardingView,
    /// The key in the partner's referral link.
    pub referral_key: String,
    /// `active` or `removed`.
    pub status: String,
    /// When the partner joined (RFC 3339).
    #[schema(format = DateTime)]
    pub joined_at: String,
    /// Stripe's fingerprint of the Express account's default bank account,
    /// as last read (`null` before one is added). Two partners of the
    /// merchant with the same one have their commissions held
    /// `duplicate_account`.
    pub bank_fingerprint: Option<String>,
}

/// A membership's Express onboarding state.
#[derive(Debug, Serialize, ToSchema)]
pub struct OnboardingView {
    /// The partner finished the onboarding form.
    pub details_submitted: bool,
    /// Stripe pays out to the partner's bank.
    pub payouts_enabled: bool,
    /// The `transfers` capability: `inactive`, `pending`, `active` or `unknown`.
    pub transfers: String,
}

impl From<Membership> for MembershipView {
    fn from(m: Membership) -> Self {
        MembershipView {
            id: m.id.to_string(),
            partner_id: m.partner_id.to_string(),
            program_id: m.program_id.to_string(),
            merchant_id: m.merchant_id.to_string(),
            email: m.email,
            country: m.country,
            account_id: m.account_id.map(|a| a.to_string()),
            service_agreement: m.service_agreement.map(|a| a.as_str().to_owned()),
            onboarding: OnboardingView {
                details_submitted: m.onboarding.details_submitted,
                payouts_enabled: m.onboarding.payouts_enabled,
                transfers: super::wire_name(&m.onboarding.transfers)
                    .unwrap_or_else(|| "unknown".to_owned()),
            },
            referral_key: m.referral_key.to_string(),
            status: super::wire_name(&m.status).unwrap_or_else(|| "active".to_owned()),
            joined_at: rfc3339(m.joined_at),
            bank_fingerprint: m.bank_fingerprint,
        }
    }
}

/// Enrolment body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollBody {
    /// Contact e-mail.
    pub email: String,
    /// ISO country (two letters).
    pub country: String,
    /// The key of their referral link (letters, digits, `-`, `_`), unique in the program.
    pub referral_key: String,
    /// An existing partner joining another program.
    pub partner_id: Option<String>,
}

/// Enrols a partner in a program; their Express account is created when
/// onboarding starts. The membership answered carries both ids: `id` (the
/// membership, for `/memberships/{membership_id}/…`) and `partner_id` (the
/// partner, for their payout history and tax summary).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/partners", tag = "partners",
    params(("program_id" = String, Path)), request_body = EnrollBody, security(("bearer" = [])),
    responses((status = 201, description = "the membership: `id` is the membership id (`/memberships/{membership_id}`), `partner_id` the partner's (`/partners/{partner_id}/payouts`, `/partners/{partner_id}/tax/{year}`)", body = MembershipView), (status = 400), (status = 404), (status = 409)))]
#[post("/programs/{program_id}/partners")]
pub async fn enroll_partner(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EnrollBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    let body = body.into_inner();
    let partner_id = body
        .partner_id
        .as_deref()
        .map(|p| parse_uuid::<PartnerId>(p, "partner_id"))
        .transpose()?;
    let membership = state
        .engine
        .enroll_partner(
            program.id,
            NewPartner {
                partner_id,
                email: body.email,
                country: body.country,
                referral_key: ReferralKey::parse(body.referral_key)?,
            },
        )
        .await?;
    Ok(HttpResponse::Created().json(MembershipView::from(membership)))
}

/// A program's partners.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/programs/{program_id}/partners", tag = "partners",
    params(("program_id" = String, Path), ListQuery), security(("bearer" = [])),
    responses((status = 200, description = "{data, has_more} of memberships", body = List<MembershipView>), (status = 404)))]
#[get("/programs/{program_id}/partners")]
pub async fn list_partners(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<List<MembershipView>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    let page = state
        .engine
        .memberships_page(program.id, query.page()?)
        .await?;
    Ok(web::Json(List::from_page(page, MembershipView::from)))
}

/// A partner's membership: onboarding state, account, referral key.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/memberships/{membership_id}", tag = "partners",
    params(("membership_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MembershipView), (status = 404)))]
#[get("/memberships/{membership_id}")]
pub async fn get_partner(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MembershipView>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let m = scoped_membership(&state, &principal, parse_uuid(&path, "membership_id")?).await?;
    Ok(web::Json(m.into()))
}

/// Onboarding-link body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PartnerLinkBody {
    /// Where Stripe returns the partner.
    pub return_url: Option<String>,
    /// Where an expired link sends them.
    pub refresh_url: Option<String>,
}

/// A hosted link for a partner.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerLink {
    /// The URL.
    pub url: String,
    /// Expiry.
    pub expires_at: Option<String>,
}

/// An Express onboarding link for the partner (creating their Express
/// account on first use).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/memberships/{membership_id}/onboarding-link", tag = "partners",
    params(("membership_id" = String, Path)), request_body = PartnerLinkBody, security(("bearer" = [])),
    responses((status = 200, body = PartnerLink), (status = 404)))]
#[post("/memberships/{membership_id}/onboarding-link")]
pub async fn partner_onboarding_link(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: crate::extract::OptionalJson<PartnerLinkBody>,
) -> Result<web::Json<PartnerLink>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let m = scoped_membership(&state, &principal, parse_uuid(&path, "membership_id")?).await?;
    let body = body.or_else(|| PartnerLinkBody {
        return_url: None,
        refresh_url: None,
    });
    let return_url = body
        .return_url
        .unwrap_or_else(|| state.settings.dashboard_url.clone());
    let refresh_url = body.refresh_url.unwrap_or_else(|| return_url.clone());
    let link = state
        .engine
        .onboarding_link(m.id, &return_url, &refresh_url)
        .await?;
    Ok(web::Json(PartnerLink {
        url: link.url,
        expires_at: link.expires_at.map(rfc3339),
    }))
}

/// A login link to the partner's Express dashboard.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/memberships/{membership_id}/dashboard-link", tag = "partners",
    params(("membership_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = PartnerLink), (status = 400), (status = 404)))]
#[post("/memberships/{membership_id}/dashboard-link")]
pub async fn partner_dashboard_link(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<PartnerLink>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let m = scoped_membership(&state, &principal, parse_uuid(&path, "membership_id")?).await?;
    let link = state.engine.dashboard_link(m.id).await?;
    Ok(web::Json(PartnerLink {
        url: link.url,
        expires_at: link.expires_at.map(rfc3339),
    }))
}

/// Re-reads the partner's Express account from Stripe (details submitted,
/// payouts enabled, transfers capability).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/memberships/{membership_id}/refresh", tag = "partners",
    params(("membership_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = MembershipView), (status = 404)))]
#[post("/memberships/{membership_id}/refresh")]
pub async fn refresh_partner(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<MembershipView>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let m = scoped_membership(&state, &principal, parse_uuid(&path, "membership_id")?).await?;
    Ok(web::Json(
        state.engine.refresh_onboarding(m.id).await?.into(),
    ))
}

// ---------------------------------------------------------------- coupons

/// Coupon assignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CouponBody {
    /// The code customers type, e.g. `SARAH20`.
    pub code: String,
    /// The merchant's Stripe coupon the promotion code applies (sync mode `stripe`).
    pub stripe_coupon: Option<String>,
}

/// Assigns a coupon code to a partner. In sync mode `stripe` this creates
/// the matching Stripe Promotion Code on the merchant's account.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/memberships/{membership_id}/coupons", tag = "coupons",
    params(("membership_id" = String, Path)), request_body = CouponBody, security(("bearer" = [])),
    responses((status = 201, body = CouponDto), (status = 400), (status = 404), (status = 409)))]
#[post("/memberships/{membership_id}/coupons")]
pub async fn assign_coupon(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CouponBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let m = scoped_membership(&state, &principal, parse_uuid(&path, "membership_id")?).await?;
    let body = body.into_inner();
    let coupon: Coupon = state
        .engine
        .assign_coupon(
            m.id,
            CouponCode::parse(body.code)?,
            body.stripe_coupon.as_deref(),
        )
        .await?;
    Ok(HttpResponse::Created().json(CouponDto::from(&coupon)))
}

/// Deactivates a coupon code (and its Stripe promotion code).
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/coupons/{code}/deactivate", tag = "coupons",
    params(("code" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = CouponDto), (status = 404)))]
#[post("/coupons/{code}/deactivate")]
pub async fn deactivate_coupon(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<CouponDto>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let code = CouponCode::parse(path.into_inner())?;
    let coupon = state
        .engine
        .deactivate_coupon(&principal.merchant_id, &code)
        .await?;
    Ok(web::Json(CouponDto::from(&coupon)))
}

// ---------------------------------------------------------------- conversions

/// A conversion (a sale).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ConversionBody {
    /// The merchant's id for the sale; a repeat is recognised and changes nothing.
    pub external_id: String,
    /// The sale amount in minor units; required for a sale, 0 or absent
    /// for a lead.
    pub amount: Option<i64>,
    /// ISO currency (the program's), e.g. `usd`.
    pub currency: String,
    /// When it happened (RFC 3339); default now.
    pub occurred_at: Option<String>,
    /// A coupon code the customer used.
    pub coupon_code: Option<String>,
    /// The referral key from the customer's link.
    pub referral_key: Option<String>,
    /// The merchant's stable customer id (one-time and recurring rules).
    pub customer_ref: Option<String>,
    /// A Stripe payment reference (`pi_…`, `ch_…`, `in_…`), so refunds find it.
    pub payment_ref: Option<String>,
    /// `sale` (default) or `lead` (no sale amount; earns the program's
    /// `lead_commission`).
    pub kind: Option<String>,
    /// The merchant's product id, for per-product rates.
    pub product_id: Option<String>,
    /// The customer's e-mail address. When it is the partner's, or at the
    /// partner's own domain (not a public mailbox provider's), the
    /// commission is created `on_hold` with reason `self_referral`.
    #[schema(format = "email", max_length = 254, example = "jane@example.com")]
    pub customer_email: Option<String>,
}

/// The result of recording a conversion.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionResult {
    /// `recorded` (201) or `duplicate` (200).
    pub outcome: &'static str,
    /// The conversion.
    pub conversion: ConversionDto,
    /// The commission it earned; `null` when none (and on a duplicate).
    pub commission: Option<CommissionView>,
}

/// Records a conversion, attributed by coupon code or referral key (a code
/// beats a link). Idempotent by `external_id`: a repeat answers 200 with the
/// first conversion.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/conversions", tag = "conversions",
    params(("program_id" = String, Path)), request_body = ConversionBody, security(("bearer" = [])),
    responses((status = 201, body = ConversionResult), (status = 200, body = ConversionResult), (status = 400), (status = 404)))]
#[post("/programs/{program_id}/conversions")]
pub async fn record_conversion(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ConversionBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let program = scoped_program(&state, &principal, parse_uuid(&path, "program_id")?).await?;
    let b = body.into_inner();
    let currency = parse_currency(&b.currency, "currency")?;
    let occurred_at = match b.occurred_at.as_deref() {
        Some(t) => OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .map_err(|_| ApiError::validation("occurred_at", "must be an RFC 3339 timestamp"))?,
        None => state.engine.clock().now(),
    };
    let kind = match b.kind.as_deref() {
        None => ConversionKind::Sale,
        Some(raw) => ConversionKind::parse(raw)
            .ok_or_else(|| ApiError::validation("kind", format!("`{raw}` is not sale or lead")))?,
    };
    let amount = match (kind, b.amount) {
        (ConversionKind::Sale, None) => {
            return Err(ApiError::validation("amount", "a sale needs its amount"));
        }
        (_, Some(amount)) => amount,
        (ConversionKind::Lead, None) => 0,
    };
    let input = ConversionInput {
        customer_email: b.customer_email,
        external_id: ExternalId::parse(b.external_id)?,
        amount: Money::new(amount, currency),
        occurred_at,
        coupon_code: b.coupon_code.map(CouponCode::parse).transpose()?,
        referral_key: b.referral_key.map(ReferralKey::parse).transpose()?,
        customer_ref: b.customer_ref,
        payment_ref: b.payment_ref,
        kind,
        product_id: b
            .product_id
            .map(|p| {
                ProductId::parse(p).map_err(|e| ApiError::validation("product_id", e.to_string()))
            })
            .transpose()?,
    };
    match state.engine.record_conversion(program.id, input).await? {
        RecordOutcome::Recorded {
            conversion,
            commission,
        } => Ok(HttpResponse::Created().json(ConversionResult {
            outcome: "recorded",
            conversion: ConversionDto::from(&conversion),
            commission: commission.as_ref().map(CommissionView::from),
        })),
        RecordOutcome::Duplicate { conversion } => Ok(HttpResponse::Ok().json(ConversionResult {
            outcome: "duplicate",
            conversion: ConversionDto::from(&conversion),
            commission: None,
        })),
    }
}

// ---------------------------------------------------------------- commissions

/// Commission filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CommissionQuery {
    /// Only this program's.
    pub program_id: Option<String>,
    /// Only this partner's.
    pub partner_id: Option<String>,
    /// `pending`, `on_hold`, `finalized` or `voided`.
    pub state: Option<String>,
    /// Only commissions on hold for this reason: `self_referral`,
    /// `duplicate_account` or `manual` (implies `state=on_hold`).
    pub hold_reason: Option<String>,
    /// `YYYY-MM`.
    pub period: Option<String>,
    /// Only those paid by this item.
    pub payout_item_id: Option<String>,
    /// Merchant (platform callers; default the caller's).
    pub merchant_id: Option<String>,
    /// Page size, 1 to 100.
    pub limit: Option<u32>,
    /// The last commission id of the previous page.
    pub starting_after: Option<String>,
}

/// Commissions, newest rules first by id, with filters.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/commissions", tag = "commissions", params(CommissionQuery),
    security(("bearer" = [])), responses((status = 200, description = "{data, has_more}", body = List<CommissionView>), (status = 400)))]
#[get("/commissions")]
pub async fn list_commissions(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<CommissionQuery>,
) -> Result<web::Json<List<CommissionView>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let q = query.into_inner();
    let merchant = merchant_for(&principal, q.merchant_id.as_deref())?;
    if let Some(s) = q.state.as_deref()
        && !CommissionState::NAMES.contains(&s)
    {
        return Err(ApiError::validation(
            "state",
            "must be pending, on_hold, finalized or voided",
        ));
    }
    let hold_reason = q
        .hold_reason
        .as_deref()
        .map(|r| {
            OnHoldReason::parse(r).ok_or_else(|| {
                ApiError::validation(
                    "hold_reason",
                    "must be self_referral, duplicate_account or manual",
                )
            })
        })
        .transpose()?;
    let filter = CommissionFilter {
        hold_reason,
        merchant_id: Some(merchant),
        program_id: q
            .program_id
            .as_deref()
            .map(|p| parse_uuid(p, "program_id"))
            .transpose()?,
        partner_id: q
            .partner_id
            .as_deref()
            .map(|p| parse_uuid(p, "partner_id"))
            .transpose()?,
        state: q.state,
        period: q.period.as_deref().map(Period::parse).transpose()?,
        payout_item_id: q
            .payout_item_id
            .as_deref()
            .map(|p| parse_uuid::<PayoutItemId>(p, "payout_item_id"))
            .transpose()?,
    };
    let page = ListQuery {
        limit: q.limit,
        starting_after: q.starting_after,
    }
    .page()?;
    let result: Page<Commission> = state.engine.commissions(&filter, page).await?;
    Ok(web::Json(List::from_page(result, |c| {
        CommissionView::from(&c)
    })))
}

// ---------------------------------------------------------------- periods

/// The result of finalizing a period.
#[derive(Debug, Serialize, ToSchema)]
pub struct FinalizeResult {
    /// The period.
    pub period: String,
    /// Commissions finalized by this call (0 when already done).
    pub finalized: u64,
}

/// Finalizes the program's commissions of a period (`YYYY-MM`) whose
/// holding period has passed. Finalized commissions are immutable; later
/// changes become signed adjustments. Repeating it is harmless.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/programs/{program_id}/periods/{period}/finalize", tag = "periods",
    params(("program_id" = String, Path), ("period" = String, Path, description = "YYYY-MM")), security(("bearer" = [])),
    responses((status = 200, body = FinalizeResult), (status = 400), (status = 404)))]
#[post("/programs/{program_id}/periods/{period}/finalize")]
pub async fn finalize_period(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<web::Json<FinalizeResult>, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let (program_raw, period_raw) = path.into_inner();
    let program =
        scoped_program(&state, &principal, parse_uuid(&program_raw, "program_id")?).await?;
    let period = Period::parse(&period_raw)?;
    let finalized = state
        .engine
        .finalize_period(program.id, period, &principal.acting())
        .await?;
    Ok(web::Json(FinalizeResult {
        period: period.to_string(),
        finalized,
    }))
}

#[cfg(test)]
mod tests {
    use payouts_domain::ids::AccountId;
    use payouts_domain::partner::{CapabilityStatus, MembershipStatus, OnboardingState};

    use super::*;

    #[test]
    fn a_membership_view_is_the_domain_membership_json() {
        let m = Membership {
            bank_fingerprint: None,
            id: MembershipId::from(uuid::Uuid::new_v4()),
            partner_id: PartnerId::from(uuid::Uuid::new_v4()),
            program_id: ProgramId::from(uuid::Uuid::new_v4()),
            merchant_id: MerchantId::parse("m_acme").unwrap(),
            email: "sarah@partners.test".to_owned(),
            country: "US".to_owned(),
            account_id: Some(AccountId::parse("acct_1").unwrap()),
            service_agreement: Some(payouts_domain::crossborder::ServiceAgreement::Full),
            onboarding: OnboardingState {
                details_submitted: true,
                payouts_enabled: true,
                transfers: CapabilityStatus::Active,
            },
            referral_key: ReferralKey::parse("sarah").unwrap(),
            status: MembershipStatus::Active,
            joined_at: OffsetDateTime::from_unix_timestamp(1_780_000_000).unwrap(),
        };
        assert_eq!(
            serde_json::to_value(MembershipView::from(m.clone())).unwrap(),
            serde_json::to_value(&m).unwrap()
        );
    }
}
