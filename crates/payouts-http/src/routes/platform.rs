//! The platform API of seed 002, under `/api/v1/integrations/stripe-connect`:
//! connected accounts and their links, payment intents with application
//! fees, capture and refunds, transfers and reversals, payout schedules and
//! payouts, platform fees, balances and disputes.
//!
//! Each handler parses the request, calls one engine use case and renders
//! the answer; the rules (tenancy, the default application fee, the
//! refund's fee share, schedule validation, the account status) are the
//! engine's. **Tenancy:** an account belongs to the merchant that created
//! it here or whose OAuth connection it is, as recorded in our store; a
//! non-platform caller reaching another merchant's account, payment,
//! transfer or dispute gets 404.

use std::collections::BTreeMap;

use actix_web::{HttpRequest, HttpResponse, get, post, put, web};
use payouts_domain::engine::LinkUrls;
use payouts_domain::fees::{FeeRate, FeeSchedule, FeeTier, MerchantOverride};
use payouts_domain::ids::{
    AccountId, DisputeId, IdempotencyKey, MerchantId, PaymentIntentId, TransferId,
};
use payouts_domain::money::{Currency, Money, Percent};
use payouts_domain::platform::{
    AccountType, BalanceView, BusinessProfile, BusinessType, CaptureMethod, CreateAccountRequest,
    CreatePaymentIntentRequest, DisputeEvidence, DisputeView, ListParams, PaymentIntentView,
    PayoutInterval, PayoutSchedule, PlatformTransferRequest, RefundReason, RefundRequest,
    RequestedCapabilities, Requirements, ReverseTransferRequest, TransferView, Weekday,
};
use payouts_domain::ports::{Clock, HostedLink, LinkKind};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::paging::{List, ListQuery};
use crate::routes::{MONEY_ROLES, PAYMENT_ROLES, PLATFORM_ROLES, STAFF_ROLES, stripe_key};
use crate::state::AppState;

/// Registers the platform routes (relative to the scope).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(create_account)
        .service(get_account)
        .service(onboarding_link)
        .service(dashboard_link)
        .service(create_payment)
        .service(capture_payment)
        .service(refund_payment)
        .service(create_transfer)
        .service(reverse_transfer)
        .service(get_payout_schedule)
        .service(put_payout_schedule)
        .service(list_payouts)
        .service(get_fees)
        .service(put_fees)
        .service(platform_balance)
        .service(account_balance)
        .service(list_disputes)
        .service(dispute_evidence);
}

// ---------------------------------------------------------------- helpers

fn account_id(raw: &str) -> Result<AccountId, ApiError> {
    AccountId::parse(raw.to_owned())
        .map_err(|_| ApiError::validation("account_id", "not a Stripe account id (acct_…)"))
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

fn rfc3339_opt(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(rfc3339)
}

fn date_opt(at: Option<OffsetDateTime>) -> Option<String> {
    at.map(|t| t.date().to_string())
}

fn lower(c: Currency) -> String {
    c.code().to_lowercase()
}

fn currency(raw: &str) -> Result<Currency, ApiError> {
    Currency::parse(&raw.to_uppercase())
        .map_err(|e| ApiError::validation("currency", e.to_string()))
}

fn positive(amount: i64, field: &str) -> Result<i64, ApiError> {
    if amount > 0 {
        Ok(amount)
    } else {
        Err(ApiError::validation(
            field,
            format!("{field} must be a positive integer in minor units"),
        ))
    }
}

// ---------------------------------------------------------------- accounts

/// `POST /accounts` body (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateAccountBody {
    /// The merchant; non-platform callers may only name their own (default: the caller's).
    pub merchant_id: Option<String>,
    /// `express` (default), `standard` or `custom`.
    #[schema(value_type = Option<String>, example = "express")]
    pub account_type: Option<String>,
    /// `individual`, `company`, `non_profit` or `government_entity`.
    #[schema(value_type = Option<String>, example = "company")]
    pub business_type: Option<String>,
    /// ISO country, e.g. `US`.
    pub country: Option<String>,
    /// The owner's e-mail.
    pub email: Option<String>,
    /// Public business details.
    #[schema(value_type = Option<BusinessProfileView>)]
    pub business_profile: Option<BusinessProfile>,
    /// Capabilities to request.
    #[schema(value_type = Option<CapabilitiesSchema>)]
    pub capabilities: Option<RequestedCapabilities>,
    /// Where onboarding returns (default: the configured dashboard URL).
    pub return_url: Option<String>,
    /// Where an expired onboarding link sends the user (default: the return URL).
    pub refresh_url: Option<String>,
}

/// The schema of `CreateAccountBody.capabilities` (the domain's
/// `RequestedCapabilities` reads it): each is `false` when left out.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CapabilitiesSchema {
    /// Request `card_payments`.
    #[serde(default)]
    pub card_payments: bool,
    /// Request `transfers`.
    #[serde(default)]
    pub transfers: bool,
}

/// `POST /accounts` response.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedAccount {
    /// `acct_…`.
    pub account_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// `pending`, `active`, `restricted` or `disabled`.
    pub status: String,
    /// The hosted onboarding link.
    pub onboarding_url: String,
    /// When the link expires.
    pub onboarding_expires_at: Option<String>,
    /// Created (RFC 3339).
    pub created_at: String,
}

fn parse_account_type(raw: Option<&str>) -> Result<AccountType, ApiError> {
    match raw.unwrap_or("express") {
        "express" => Ok(AccountType::Express),
        "standard" => Ok(AccountType::Standard),
        "custom" => Ok(AccountType::Custom),
        other => Err(ApiError::Stripe {
            status: 400,
            code: "invalid_account_type",
            message: format!(
                "account type `{other}` is not supported; use express, standard or custom"
            ),
        }),
    }
}

fn parse_business_type(raw: Option<&str>) -> Result<Option<BusinessType>, ApiError> {
    raw.map(|b| match b {
        "individual" => Ok(BusinessType::Individual),
        "company" => Ok(BusinessType::Company),
        "non_profit" => Ok(BusinessType::NonProfit),
        "government_entity" => Ok(BusinessType::GovernmentEntity),
        other => Err(ApiError::validation(
            "business_type",
            format!("`{other}` is not one of individual, company, non_profit, government_entity"),
        )),
    })
    .transpose()
}

/// Creates a connected account for a merchant and its onboarding link.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform_admin, system_admin, super_admin.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/accounts", tag = "platform",
    request_body = CreateAccountBody, security(("bearer" = [])),
    responses((status = 201, body = CreatedAccount), (status = 400, description = "invalid_account_type or validation_error"),
        (status = 401), (status = 403)))]
#[post("/accounts")]
pub async fn create_account(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<CreateAccountBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(MONEY_ROLES)?;
    let body = body.into_inner();
    let merchant = match &body.merchant_id {
        Some(m) => MerchantId::parse(m.clone())?,
        None => principal.merchant_id.clone(),
    };
    principal.scope(&merchant, "merchant")?;
    let account_type = parse_account_type(body.account_type.as_deref())?;
    let request = CreateAccountRequest {
        account_type,
        country: body.country.clone(),
        email: body.email.clone(),
        business_type: parse_business_type(body.business_type.as_deref())?,
        business_profile: body.business_profile.clone(),
        capabilities: body.capabilities.unwrap_or(RequestedCapabilities {
            card_payments: true,
            transfers: true,
        }),
        metadata: BTreeMap::new(),
        idempotency_key: stripe_key(&req, &principal, "account")?,
    };
    let urls = link_urls(&state, body.return_url, body.refresh_url);
    let created = state
        .engine
        .create_connected_account(&principal.caller(), &merchant, request, &urls)
        .await?;
    Ok(HttpResponse::Created().json(CreatedAccount {
        account_id: created.account.view.account_id.to_string(),
        merchant_id: merchant.to_string(),
        status: created.account.view.status.as_str().to_owned(),
        onboarding_url: created.onboarding.url,
        onboarding_expires_at: rfc3339_opt(created.onboarding.expires_at),
        created_at: rfc3339(state.engine.clock().now()),
    }))
}

/// Where a hosted link returns: the body's URLs, else the dashboard.
fn link_urls(
    state: &AppState,
    return_url: Option<String>,
    refresh_url: Option<String>,
) -> LinkUrls {
    let return_url = return_url.unwrap_or_else(|| state.settings.dashboard_url.clone());
    let refresh_url = refresh_url.unwrap_or_else(|| return_url.clone());
    LinkUrls {
        return_url,
        refresh_url,
    }
}

/// `GET /accounts/{id}` response (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountStatusView {
    /// `acct_…`.
    pub account_id: String,
    /// The merchant, when known.
    pub merchant_id: Option<String>,
    /// `pending`, `active`, `restricted` or `disabled`.
    pub status: String,
    /// Can take charges.
    pub charges_enabled: bool,
    /// Can receive payouts.
    pub payouts_enabled: bool,
    /// Onboarding details submitted.
    pub details_submitted: bool,
    /// Capability name (e.g. `transfers`) → `active`, `inactive`, `pending` or `unknown`.
    pub capabilities: BTreeMap<String, String>,
    /// Outstanding requirements.
    pub requirements: RequirementsView,
    /// Public business details.
    pub business_profile: BusinessProfileView,
    /// The payout schedule; `null` when Stripe does not show it.
    pub payout_schedule: Option<ScheduleView>,
}

/// What Stripe still needs from the account holder.
#[derive(Debug, Serialize, ToSchema)]
pub struct RequirementsView {
    /// Due now (Stripe's requirement names, e.g. `external_account`).
    pub currently_due: Vec<String>,
    /// Due eventually.
    pub eventually_due: Vec<String>,
    /// Overdue: capabilities are off until provided.
    pub past_due: Vec<String>,
    /// Why the account is disabled; `null` when it is not.
    pub disabled_reason: Option<String>,
}

impl From<&Requirements> for RequirementsView {
    fn from(r: &Requirements) -> Self {
        RequirementsView {
            currently_due: r.currently_due.clone(),
            eventually_due: r.eventually_due.clone(),
            past_due: r.past_due.clone(),
            disabled_reason: r.disabled_reason.clone(),
        }
    }
}

/// Public details of the business; each is `null` when not set.
#[derive(Debug, Serialize, ToSchema)]
pub struct BusinessProfileView {
    /// Customer-facing name.
    pub name: Option<String>,
    /// Merchant category code, e.g. `5812`.
    pub mcc: Option<String>,
    /// Website.
    pub url: Option<String>,
    /// Support e-mail.
    pub support_email: Option<String>,
    /// Support phone.
    pub support_phone: Option<String>,
    /// Support website.
    pub support_url: Option<String>,
    /// What the business sells.
    pub product_description: Option<String>,
}

impl From<&BusinessProfile> for BusinessProfileView {
    fn from(b: &BusinessProfile) -> Self {
        BusinessProfileView {
            name: b.name.clone(),
            mcc: b.mcc.clone(),
            url: b.url.clone(),
            support_email: b.support_email.clone(),
            support_phone: b.support_phone.clone(),
            support_url: b.support_url.clone(),
            product_description: b.product_description.clone(),
        }
    }
}

fn capability_str(c: &payouts_domain::partner::CapabilityStatus) -> String {
    super::wire_name(&c).unwrap_or_else(|| "unknown".to_owned())
}

/// An account's status, capabilities, requirements and payout schedule.
///
/// Roles: every staff role (pos_staff, payment_admin, tenant_admin, manager, integration_admin, platform roles).
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}", tag = "platform",
    params(("account_id" = String, Path, description = "acct_…")), security(("bearer" = [])),
    responses((status = 200, body = AccountStatusView), (status = 404, description = "account_not_found")))]
#[get("/accounts/{account_id}")]
pub async fn get_account(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<AccountStatusView>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let account = state
        .engine
        .connected_account(&principal.caller(), &account_id(&path)?)
        .await?;
    let view = account.view;
    Ok(web::Json(AccountStatusView {
        account_id: view.account_id.to_string(),
        merchant_id: account.merchant_id.map(|m| m.to_string()),
        status: view.status.as_str().to_owned(),
        charges_enabled: view.charges_enabled,
        payouts_enabled: view.payouts_enabled,
        details_submitted: view.details_submitted,
        capabilities: view
            .capabilities
            .iter()
            .map(|(k, v)| (k.clone(), capability_str(v)))
            .collect(),
        requirements: RequirementsView::from(&view.requirements),
        business_profile: BusinessProfileView::from(&view.business_profile),
        payout_schedule: view.payout_schedule.as_ref().map(schedule_view),
    }))
}

/// Onboarding-link body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkBody {
    /// Where Stripe returns the user.
    pub return_url: Option<String>,
    /// Where an expired link sends the user.
    pub refresh_url: Option<String>,
    /// `account_onboarding` (default) or `account_update`.
    #[serde(rename = "type")]
    pub link_type: Option<String>,
}

/// A hosted link.
#[derive(Debug, Serialize, ToSchema)]
pub struct LinkView {
    /// The URL.
    pub url: String,
    /// When it expires (RFC 3339).
    pub expires_at: Option<String>,
}

impl From<HostedLink> for LinkView {
    fn from(l: HostedLink) -> Self {
        LinkView {
            url: l.url,
            expires_at: rfc3339_opt(l.expires_at),
        }
    }
}

/// A new onboarding (or update) link for an account.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}/onboarding-link", tag = "platform",
    params(("account_id" = String, Path)), request_body = LinkBody, security(("bearer" = [])),
    responses((status = 200, body = LinkView), (status = 404)))]
#[post("/accounts/{account_id}/onboarding-link")]
pub async fn onboarding_link(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: crate::extract::OptionalJson<LinkBody>,
) -> Result<web::Json<LinkView>, ApiError> {
    principal.require(MONEY_ROLES)?;
    let account = account_id(&path)?;
    let body = body.or_else(|| LinkBody {
        return_url: None,
        refresh_url: None,
        link_type: None,
    });
    let kind = match body.link_type.as_deref().unwrap_or("account_onboarding") {
        "account_onboarding" => LinkKind::Onboarding,
        "account_update" => LinkKind::Update,
        other => {
            return Err(ApiError::validation(
                "type",
                format!("`{other}` is not account_onboarding or account_update"),
            ));
        }
    };
    let urls = link_urls(&state, body.return_url, body.refresh_url);
    let link = state
        .engine
        .connected_account_link(&principal.caller(), &account, kind, &urls)
        .await?;
    Ok(web::Json(link.into()))
}

/// A login link to the Stripe Express dashboard.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}/dashboard-link", tag = "platform",
    params(("account_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = LinkView), (status = 401, description = "account_not_onboarded"), (status = 404)))]
#[post("/accounts/{account_id}/dashboard-link")]
pub async fn dashboard_link(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<LinkView>, ApiError> {
    principal.require(MONEY_ROLES)?;
    let link = state
        .engine
        .connected_account_dashboard_link(&principal.caller(), &account_id(&path)?)
        .await?;
    Ok(web::Json(link.into()))
}

// ---------------------------------------------------------------- payments

/// `POST /payments` body (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreatePaymentBody {
    /// The connected account receiving the payment.
    pub account_id: String,
    /// Amount in minor units.
    pub amount: i64,
    /// ISO currency, e.g. `usd`.
    pub currency: String,
    /// The merchant's order id (stored in metadata).
    pub order_id: Option<String>,
    /// The customer's e-mail (receipt).
    pub customer_email: Option<String>,
    /// Accepted for compatibility; only `card` is offered.
    pub payment_method_types: Option<Vec<String>>,
    /// The platform's fee in minor units; default: the fee schedule's.
    pub application_fee_amount: Option<i64>,
    /// `automatic` (default) or `manual` (authorize now, capture later).
    pub capture_method: Option<String>,
    /// A payment method to confirm with immediately.
    pub payment_method: Option<String>,
    /// Confirm now (with `payment_method`).
    #[serde(default)]
    pub confirm: bool,
    /// A description.
    pub description: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A payment intent (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct PaymentView {
    /// `pi_…`.
    pub payment_intent_id: String,
    /// The client secret for Stripe.js (only on create).
    pub client_secret: Option<String>,
    /// Stripe's status, e.g. `requires_payment_method`, `requires_capture`, `succeeded`.
    pub status: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// The platform's fee.
    pub application_fee: Option<i64>,
    /// What the connected account receives.
    pub destination_amount: Option<i64>,
    /// Captured so far.
    pub amount_received: i64,
}

impl PaymentView {
    fn from_view(v: &PaymentIntentView, with_secret: bool) -> Self {
        PaymentView {
            payment_intent_id: v.payment_intent_id.to_string(),
            client_secret: with_secret
                .then(|| v.client_secret.as_ref().map(|s| s.expose().to_owned()))
                .flatten(),
            status: super::wire_name(&v.status).unwrap_or_else(|| "unknown".to_owned()),
            amount: v.amount.amount_minor(),
            currency: lower(v.amount.currency()),
            application_fee: v.application_fee.map(|m| m.amount_minor()),
            destination_amount: v.destination_amount.map(|m| m.amount_minor()),
            amount_received: v.amount_received.amount_minor(),
        }
    }
}

/// Creates a payment intent on behalf of a connected account (destination
/// charge) with the platform's application fee: the body's, or else the fee
/// schedule's (override, volume tier or default; percent plus fixed).
///
/// Roles: every staff role (pos_staff and up).
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/payments", tag = "platform",
    request_body = CreatePaymentBody, security(("bearer" = [])),
    responses((status = 201, body = PaymentView), (status = 400), (status = 404, description = "account_not_found")))]
#[post("/payments")]
pub async fn create_payment(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<CreatePaymentBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PAYMENT_ROLES)?;
    let body = body.into_inner();
    let account = account_id(&body.account_id)?;
    let amount = Money::new(positive(body.amount, "amount")?, currency(&body.currency)?);
    if let Some(types) = &body.payment_method_types
        && types.iter().any(|t| t != "card")
    {
        return Err(ApiError::validation(
            "payment_method_types",
            "only `card` is supported",
        ));
    }
    let capture_method = match body.capture_method.as_deref().unwrap_or("automatic") {
        "automatic" => CaptureMethod::Automatic,
        "manual" => CaptureMethod::Manual,
        other => {
            return Err(ApiError::validation(
                "capture_method",
                format!("`{other}` is not automatic or manual"),
            ));
        }
    };
    let request = CreatePaymentIntentRequest {
        account_id: account,
        amount,
        application_fee_amount: body.application_fee_amount,
        order_id: body.order_id,
        customer_email: body.customer_email,
        description: body.description,
        capture_method,
        payment_method: body.payment_method,
        confirm: body.confirm,
        metadata: body.metadata,
        idempotency_key: stripe_key(&req, &principal, "payment")?,
    };
    let pi = state
        .engine
        .create_payment(&principal.caller(), request)
        .await?;
    Ok(HttpResponse::Created().json(PaymentView::from_view(&pi, true)))
}

fn payment_intent_id(raw: &str) -> Result<PaymentIntentId, ApiError> {
    PaymentIntentId::parse(raw.to_owned())
        .map_err(|_| ApiError::validation("payment_intent_id", "not a payment intent id (pi_…)"))
}

/// Capture body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CaptureBody {
    /// Capture less than authorized (default: all).
    pub amount_to_capture: Option<i64>,
}

/// Captures an authorized (`requires_capture`) payment.
///
/// Roles: every staff role.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/payments/{payment_intent_id}/capture", tag = "platform",
    params(("payment_intent_id" = String, Path)), request_body = CaptureBody, security(("bearer" = [])),
    responses((status = 200, body = PaymentView), (status = 404)))]
#[post("/payments/{payment_intent_id}/capture")]
pub async fn capture_payment(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: crate::extract::OptionalJson<CaptureBody>,
) -> Result<web::Json<PaymentView>, ApiError> {
    principal.require(PAYMENT_ROLES)?;
    let id = payment_intent_id(&path)?;
    let amount = body
        .0
        .and_then(|b| b.amount_to_capture)
        .map(|a| positive(a, "amount_to_capture"))
        .transpose()?;
    let key = stripe_key(&req, &principal, "capture")?;
    let captured = state
        .engine
        .capture_payment(&principal.caller(), &id, amount, key.as_ref())
        .await?;
    Ok(web::Json(PaymentView::from_view(&captured, false)))
}

/// Refund body (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units (default: everything left).
    pub amount: Option<i64>,
    /// `duplicate`, `fraudulent` or `requested_by_customer` (alias `customer_request`).
    #[schema(value_type = Option<String>)]
    pub reason: Option<RefundReason>,
    /// Give back the platform's fee share too.
    #[serde(default)]
    pub refund_application_fee: bool,
    /// Pull the connected account's share back (destination charges).
    #[serde(default)]
    pub reverse_transfer: bool,
}

/// A refund (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct RefundResult {
    /// `re_…`.
    pub refund_id: String,
    /// Minor units.
    pub amount: i64,
    /// Lowercase ISO currency of `amount` and `application_fee_refunded`, e.g. `usd`.
    pub currency: String,
    /// `pending`, `succeeded`, `failed`, …
    pub status: String,
    /// The fee share given back, minor units.
    pub application_fee_refunded: Option<i64>,
}

/// Refunds a payment, wholly or partly.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/payments/{payment_intent_id}/refund", tag = "platform",
    params(("payment_intent_id" = String, Path)), request_body = RefundBody, security(("bearer" = [])),
    responses((status = 200, body = RefundResult), (status = 404)))]
#[post("/payments/{payment_intent_id}/refund")]
pub async fn refund_payment(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: crate::extract::OptionalJson<RefundBody>,
) -> Result<web::Json<RefundResult>, ApiError> {
    principal.require(MONEY_ROLES)?;
    let id = payment_intent_id(&path)?;
    let body = body.or_else(|| RefundBody {
        amount: None,
        reason: None,
        refund_application_fee: false,
        reverse_transfer: false,
    });
    let request = RefundRequest {
        payment_intent_id: id,
        amount: body.amount.map(|a| positive(a, "amount")).transpose()?,
        reason: body.reason,
        refund_application_fee: body.refund_application_fee,
        reverse_transfer: body.reverse_transfer,
        on_account: None,
        metadata: BTreeMap::new(),
        idempotency_key: stripe_key(&req, &principal, "refund")?,
    };
    let refund = state
        .engine
        .refund_payment(&principal.caller(), request)
        .await?;
    Ok(web::Json(RefundResult {
        refund_id: refund.refund_id.to_string(),
        amount: refund.amount.amount_minor(),
        currency: lower(refund.amount.currency()),
        status: super::wire_name(&refund.status).unwrap_or_else(|| "unknown".to_owned()),
        application_fee_refunded: refund.application_fee_refunded.map(|m| m.amount_minor()),
    }))
}

// ---------------------------------------------------------------- transfers

/// `POST /transfers` body (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferBody {
    /// The destination account.
    pub account_id: String,
    /// Minor units.
    pub amount: i64,
    /// ISO currency.
    pub currency: String,
    /// A description.
    pub description: Option<String>,
    /// Free-form metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

/// A transfer (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferResult {
    /// `tr_…`.
    pub transfer_id: String,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// `paid` (a transfer lands on the connected balance at once), `reversed` or `partially_reversed`.
    pub status: String,
    /// The date the funds are on the connected balance.
    pub arrival_date: String,
    /// Reversed so far.
    pub amount_reversed: i64,
}

/// Sends funds from the platform balance to a connected account.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/transfers", tag = "platform",
    request_body = TransferBody, security(("bearer" = [])),
    responses((status = 201, body = TransferResult), (status = 400, description = "insufficient_balance"), (status = 404)))]
#[post("/transfers")]
pub async fn create_transfer(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<TransferBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(MONEY_ROLES)?;
    let body = body.into_inner();
    let account = account_id(&body.account_id)?;
    let amount = Money::new(positive(body.amount, "amount")?, currency(&body.currency)?);
    let request = PlatformTransferRequest {
        account_id: account,
        amount,
        description: body.description,
        transfer_group: None,
        source_account: None,
        metadata: body.metadata,
        idempotency_key: stripe_key(&req, &principal, "transfer")?,
    };
    let t = state
        .engine
        .create_platform_transfer(&principal.caller(), request)
        .await?;
    Ok(HttpResponse::Created().json(transfer_result(&t)))
}

fn transfer_result(t: &TransferView) -> TransferResult {
    let status = if t.reversed {
        "reversed"
    } else if t.amount_reversed.is_positive() {
        "partially_reversed"
    } else {
        "paid"
    };
    TransferResult {
        transfer_id: t.transfer_id.to_string(),
        amount: t.amount.amount_minor(),
        currency: lower(t.amount.currency()),
        status: status.to_owned(),
        arrival_date: t.created.date().to_string(),
        amount_reversed: t.amount_reversed.amount_minor(),
    }
}

/// Reverse body (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReverseBody {
    /// Minor units (default: all that is left).
    pub amount: Option<i64>,
    /// Why.
    pub description: Option<String>,
}

/// A reversal.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReversalResult {
    /// `trr_…`.
    pub reversal_id: String,
    /// The transfer.
    pub transfer_id: String,
    /// This reversal, in minor units.
    pub amount: i64,
    /// Lowercase ISO currency of `amount` and `amount_reversed`, e.g. `usd`.
    pub currency: String,
    /// Everything reversed on the transfer so far, minor units.
    pub amount_reversed: i64,
    /// True when fully reversed.
    pub reversed: bool,
}

/// Reverses a transfer, wholly or partly. A transfer that paid a payout
/// item also marks that item `reversed` when Stripe's webhook arrives.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/transfers/{transfer_id}/reverse", tag = "platform",
    params(("transfer_id" = String, Path)), request_body = ReverseBody, security(("bearer" = [])),
    responses((status = 200, body = ReversalResult), (status = 404)))]
#[post("/transfers/{transfer_id}/reverse")]
pub async fn reverse_transfer(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: crate::extract::OptionalJson<ReverseBody>,
) -> Result<web::Json<ReversalResult>, ApiError> {
    principal.require(MONEY_ROLES)?;
    let id = TransferId::parse(path.into_inner())
        .map_err(|_| ApiError::validation("transfer_id", "not a transfer id (tr_…)"))?;
    let body = body.or_else(|| ReverseBody {
        amount: None,
        description: None,
    });
    let request = ReverseTransferRequest {
        amount: body.amount.map(|a| positive(a, "amount")).transpose()?,
        description: body.description,
        source_account: None,
        metadata: BTreeMap::new(),
        idempotency_key: stripe_key(&req, &principal, "reversal")?,
    };
    let r = state
        .engine
        .reverse_platform_transfer(&principal.caller(), &id, request)
        .await?;
    Ok(web::Json(ReversalResult {
        reversal_id: r.reversal_id.to_string(),
        transfer_id: r.transfer_id.to_string(),
        amount: r.amount.amount_minor(),
        currency: lower(r.amount.currency()),
        amount_reversed: r.transfer_amount_reversed.amount_minor(),
        reversed: r.transfer_reversed,
    }))
}

// ---------------------------------------------------------------- payouts

/// A payout schedule (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct ScheduleView {
    /// `daily`, `weekly`, `monthly` or `manual` (`unknown` for a value this version does not know).
    pub interval: String,
    /// Days funds are held; `null` when Stripe's default applies.
    pub delay_days: Option<u32>,
    /// `monday` … `sunday`, for weekly payouts; else `null`.
    pub weekly_anchor: Option<String>,
    /// 1–31, for monthly payouts; else `null`.
    pub monthly_anchor: Option<u8>,
    /// The anchor as one string: the weekday (`friday`) or the day of the
    /// month in decimal (`15`); `null` when neither is set.
    pub anchor_day: Option<String>,
}

fn schedule_view(s: &PayoutSchedule) -> ScheduleView {
    let weekly_anchor = s.weekly_anchor.as_ref().and_then(super::wire_name);
    let anchor_day = weekly_anchor
        .clone()
        .or_else(|| s.monthly_anchor.map(|m| m.to_string()));
    ScheduleView {
        interval: super::wire_name(&s.interval).unwrap_or_else(|| "unknown".to_owned()),
        delay_days: s.delay_days,
        weekly_anchor,
        monthly_anchor: s.monthly_anchor,
        anchor_day,
    }
}

/// An account's payout schedule.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}/payouts/schedule", tag = "platform",
    params(("account_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), (status = 404)))]
#[get("/accounts/{account_id}/payouts/schedule")]
pub async fn get_payout_schedule(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<ScheduleView>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let schedule = state
        .engine
        .payout_schedule(&principal.caller(), &account_id(&path)?)
        .await?;
    Ok(web::Json(schedule_view(&schedule)))
}

/// Payout schedule update (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScheduleBody {
    /// `daily`, `weekly`, `monthly` or `manual`.
    pub interval: String,
    /// `monday` … `sunday`, for weekly.
    pub weekly_anchor: Option<String>,
    /// 1–31, for monthly.
    pub monthly_anchor: Option<u8>,
    /// Days to hold funds.
    pub delay_days: Option<u32>,
}

/// Changes an account's payout schedule.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(put, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}/payouts/schedule", tag = "platform",
    params(("account_id" = String, Path)), request_body = ScheduleBody, security(("bearer" = [])),
    responses((status = 200, body = ScheduleView), (status = 400), (status = 404)))]
#[put("/accounts/{account_id}/payouts/schedule")]
pub async fn put_payout_schedule(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<ScheduleBody>,
) -> Result<web::Json<ScheduleView>, ApiError> {
    principal.require(MONEY_ROLES)?;
    let body = body.into_inner();
    let interval = match body.interval.as_str() {
        "daily" => PayoutInterval::Daily,
        "weekly" => PayoutInterval::Weekly,
        "monthly" => PayoutInterval::Monthly,
        "manual" => PayoutInterval::Manual,
        other => {
            return Err(ApiError::validation(
                "interval",
                format!("`{other}` is not daily, weekly, monthly or manual"),
            ));
        }
    };
    let weekly_anchor = body
        .weekly_anchor
        .as_deref()
        .map(|w| {
            serde_json::from_value::<Weekday>(serde_json::Value::from(w)).map_err(|_| {
                ApiError::validation("weekly_anchor", "must be a weekday name, e.g. friday")
            })
        })
        .transpose()?;
    let account = account_id(&path)?;
    let schedule = PayoutSchedule {
        interval,
        delay_days: body.delay_days,
        weekly_anchor,
        monthly_anchor: body.monthly_anchor,
    };
    let saved = state
        .engine
        .set_payout_schedule(&principal.caller(), &account, &schedule, None)
        .await?;
    Ok(web::Json(schedule_view(&saved)))
}

/// A bank payout (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct PayoutResult {
    /// `po_…`.
    pub payout_id: String,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// `pending`, `in_transit`, `paid`, `failed` or `canceled`.
    pub status: String,
    /// Expected arrival (date).
    pub arrival_date: Option<String>,
    /// `standard` or `instant`.
    pub method: Option<String>,
    /// Why it failed.
    pub failure_code: Option<String>,
}

/// An account's bank payouts, newest first.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}/payouts", tag = "platform",
    params(("account_id" = String, Path), ListQuery), security(("bearer" = [])),
    responses((status = 200, body = List<PayoutResult>), (status = 404)))]
#[get("/accounts/{account_id}/payouts")]
pub async fn list_payouts(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<web::Json<List<PayoutResult>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let account = account_id(&path)?;
    let params = ListParams {
        limit: Some(query.limit()?),
        starting_after: query.starting_after.clone(),
    };
    let page = state
        .engine
        .account_payouts(&principal.caller(), &account, &params)
        .await?;
    Ok(web::Json(List::from_page(page, |p| PayoutResult {
        payout_id: p.payout_id.to_string(),
        amount: p.amount.amount_minor(),
        currency: lower(p.amount.currency()),
        status: super::wire_name(&p.status).unwrap_or_else(|| "unknown".to_owned()),
        arrival_date: date_opt(p.arrival_date),
        method: p.method,
        failure_code: p.failure_code,
    })))
}

// ---------------------------------------------------------------- fees

/// A volume tier (seed 002). Volumes are in minor units of the month's volume.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeTierDto {
    /// Lower bound, inclusive.
    pub volume_min: i64,
    /// Upper bound, inclusive; none for the top tier.
    pub volume_max: Option<i64>,
    /// Percent, a decimal string, e.g. `"2.5"` (a number is accepted on input).
    #[schema(value_type = String, example = "2.5")]
    pub fee_percent: Decimal,
    /// Fixed part, minor units.
    pub fee_fixed: i64,
}

/// A merchant's negotiated rate (seed 002).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeeOverrideDto {
    /// The merchant.
    pub merchant_id: String,
    /// Percent, a decimal string (a number is accepted on input).
    #[schema(value_type = String, example = "2.0")]
    pub fee_percent: Decimal,
    /// Fixed part, minor units.
    pub fee_fixed: i64,
    /// Why.
    #[serde(default)]
    pub reason: String,
}

/// The platform fee configuration (seed 002): percent plus fixed, volume
/// tiers and per-merchant overrides. Percentages are decimals, never floats
/// internally; the fee is rounded half-even to minor units.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FeesDto {
    /// Default percent, a decimal string (a number is accepted on input).
    #[schema(value_type = String, example = "2.9")]
    pub default_fee_percent: Decimal,
    /// Default fixed part, minor units.
    pub default_fee_fixed: i64,
    /// Volume tiers.
    #[serde(default)]
    pub fee_tiers: Vec<FeeTierDto>,
    /// Per-merchant overrides.
    #[serde(default)]
    pub per_merchant_overrides: Vec<FeeOverrideDto>,
}

fn fees_dto(s: &FeeSchedule, only: Option<&MerchantId>) -> FeesDto {
    FeesDto {
        default_fee_percent: s.default.percent.value(),
        default_fee_fixed: s.default.fixed_minor,
        fee_tiers: s
            .tiers
            .iter()
            .map(|t| FeeTierDto {
                volume_min: t.volume_min_minor,
                volume_max: t.volume_max_minor,
                fee_percent: t.rate.percent.value(),
                fee_fixed: t.rate.fixed_minor,
            })
            .collect(),
        per_merchant_overrides: s
            .overrides
            .iter()
            .filter(|o| only.is_none_or(|m| *m == o.merchant_id))
            .map(|o| FeeOverrideDto {
                merchant_id: o.merchant_id.to_string(),
                fee_percent: o.rate.percent.value(),
                fee_fixed: o.rate.fixed_minor,
                reason: o.reason.clone(),
            })
            .collect(),
    }
}

fn rate(percent: Decimal, fixed: i64, field: &str) -> Result<FeeRate, ApiError> {
    Ok(FeeRate {
        percent: Percent::new(percent).map_err(|e| ApiError::validation(field, e.to_string()))?,
        fixed_minor: fixed,
    })
}

/// The fee configuration. Merchant callers see only their own override.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/fees", tag = "platform",
    security(("bearer" = [])), responses((status = 200, body = FeesDto)))]
#[get("/fees")]
pub async fn get_fees(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<FeesDto>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let schedule = state.engine.fee_schedule().await?;
    let only = (!principal.is_platform()).then_some(&principal.merchant_id);
    Ok(web::Json(fees_dto(&schedule, only)))
}

/// Replaces the fee configuration (validated: tiers ordered and disjoint,
/// percentages 0–100, fixed parts ≥ 0).
///
/// Roles: platform_admin, system_admin, super_admin.
#[utoipa::path(put, path = "/api/v1/integrations/stripe-connect/fees", tag = "platform",
    request_body = FeesDto, security(("bearer" = [])),
    responses((status = 200, body = FeesDto), (status = 400), (status = 403)))]
#[put("/fees")]
pub async fn put_fees(
    principal: Principal,
    state: web::Data<AppState>,
    body: web::Json<FeesDto>,
) -> Result<web::Json<FeesDto>, ApiError> {
    principal.require(PLATFORM_ROLES)?;
    let body = body.into_inner();
    let current = state.engine.fee_schedule().await?;
    let mut tiers = Vec::with_capacity(body.fee_tiers.len());
    for t in &body.fee_tiers {
        tiers.push(FeeTier {
            volume_min_minor: t.volume_min,
            volume_max_minor: t.volume_max,
            rate: rate(t.fee_percent, t.fee_fixed, "fee_tiers")?,
        });
    }
    let mut overrides = Vec::with_capacity(body.per_merchant_overrides.len());
    for o in &body.per_merchant_overrides {
        overrides.push(MerchantOverride {
            merchant_id: MerchantId::parse(o.merchant_id.clone())?,
            rate: rate(o.fee_percent, o.fee_fixed, "per_merchant_overrides")?,
            reason: o.reason.clone(),
        });
    }
    let schedule = FeeSchedule {
        default: rate(
            body.default_fee_percent,
            body.default_fee_fixed,
            "default_fee_percent",
        )?,
        tiers,
        overrides,
        rounding: current.rounding,
    };
    let saved = state
        .engine
        .set_fee_schedule(schedule, &principal.acting())
        .await?;
    Ok(web::Json(fees_dto(&saved, None)))
}

// ---------------------------------------------------------------- balances

/// An amount in a currency.
#[derive(Debug, Serialize, ToSchema)]
pub struct AmountDto {
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
}

/// A balance (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct BalanceDto {
    /// Spendable now.
    pub available: Vec<AmountDto>,
    /// Not yet available.
    pub pending: Vec<AmountDto>,
    /// Held for connected accounts' negative balances.
    pub connect_reserved: Vec<AmountDto>,
}

fn balance_dto(b: &BalanceView) -> BalanceDto {
    let list = |v: &[Money]| {
        v.iter()
            .map(|m| AmountDto {
                amount: m.amount_minor(),
                currency: lower(m.currency()),
            })
            .collect()
    };
    BalanceDto {
        available: list(&b.available),
        pending: list(&b.pending),
        connect_reserved: list(&b.connect_reserved),
    }
}

/// The platform's balance.
///
/// Roles: platform_admin, system_admin, super_admin.
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/balance", tag = "platform",
    security(("bearer" = [])), responses((status = 200, body = BalanceDto), (status = 403)))]
#[get("/balance")]
pub async fn platform_balance(
    principal: Principal,
    state: web::Data<AppState>,
) -> Result<web::Json<BalanceDto>, ApiError> {
    principal.require(PLATFORM_ROLES)?;
    Ok(web::Json(balance_dto(
        &state.engine.platform_balance(&principal.caller()).await?,
    )))
}

/// A connected account's balance.
///
/// Roles: every staff role.
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/accounts/{account_id}/balance", tag = "platform",
    params(("account_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = BalanceDto), (status = 404)))]
#[get("/accounts/{account_id}/balance")]
pub async fn account_balance(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<web::Json<BalanceDto>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let account = account_id(&path)?;
    Ok(web::Json(balance_dto(
        &state
            .engine
            .account_balance(&principal.caller(), &account)
            .await?,
    )))
}

// ---------------------------------------------------------------- disputes

/// A dispute (seed 002).
#[derive(Debug, Serialize, ToSchema)]
pub struct DisputeDto {
    /// `dp_…`.
    pub dispute_id: String,
    /// The disputed payment.
    pub payment_intent_id: Option<String>,
    /// The account whose charge it is.
    pub account_id: Option<String>,
    /// Minor units.
    pub amount: i64,
    /// Currency.
    pub currency: String,
    /// Stripe's reason, e.g. `fraudulent`.
    pub reason: String,
    /// `needs_response`, `under_review`, `won`, `lost`, …
    pub status: String,
    /// Evidence deadline.
    pub evidence_due_by: Option<String>,
    /// Opened.
    pub created_at: String,
}

fn dispute_dto(d: DisputeView) -> DisputeDto {
    DisputeDto {
        dispute_id: d.dispute_id.to_string(),
        payment_intent_id: d.payment_intent_id.map(|p| p.to_string()),
        account_id: d.account_id.map(|a| a.to_string()),
        amount: d.amount.amount_minor(),
        currency: lower(d.amount.currency()),
        reason: d.reason,
        status: super::wire_name(&d.status).unwrap_or_else(|| "unknown".to_owned()),
        evidence_due_by: rfc3339_opt(d.evidence_due_by),
        created_at: rfc3339(d.created),
    }
}

/// Dispute list filters.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DisputeQuery {
    /// Only this connected account's disputes (required for non-platform callers
    /// unless they have an OAuth-connected account).
    pub account_id: Option<String>,
    /// Page size, 1 to 100.
    pub limit: Option<u32>,
    /// The last dispute id of the previous page.
    pub starting_after: Option<String>,
}

/// Disputes: the platform's (destination charges), or one account's.
///
/// Roles: every staff role. Merchant callers see their connected account's
/// disputes (`account_id`, default: their OAuth-connected account).
#[utoipa::path(get, path = "/api/v1/integrations/stripe-connect/disputes", tag = "platform",
    params(DisputeQuery), security(("bearer" = [])),
    responses((status = 200, body = List<DisputeDto>)))]
#[get("/disputes")]
pub async fn list_disputes(
    principal: Principal,
    state: web::Data<AppState>,
    query: web::Query<DisputeQuery>,
) -> Result<web::Json<List<DisputeDto>>, ApiError> {
    principal.require(STAFF_ROLES)?;
    let query = query.into_inner();
    let paging = ListQuery {
        limit: query.limit,
        starting_after: query.starting_after.clone(),
    };
    let params = ListParams {
        limit: Some(paging.limit()?),
        starting_after: query.starting_after,
    };
    let account = query.account_id.as_deref().map(account_id).transpose()?;
    let page = state
        .engine
        .disputes(&principal.caller(), account.as_ref(), &params)
        .await?;
    Ok(web::Json(List::from_page(page, dispute_dto)))
}

macro_rules! evidence_schema {
    ($($(#[$doc:meta])* $field:ident),* $(,)?) => {
        /// The schema of `EvidenceBody.evidence` (the domain's
        /// `DisputeEvidence` reads it): text fields, or `file_…` ids for
        /// documents; unknown keys are refused.
        #[derive(Debug, Deserialize, ToSchema)]
        #[serde(deny_unknown_fields)]
        pub struct EvidenceSchema {
            $(
                $(#[$doc])*
                #[serde(default)]
                pub $field: Option<String>,
            )*
        }
    };
}

payouts_domain::with_dispute_evidence_fields!(evidence_schema);

/// Evidence body (seed 002).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EvidenceBody {
    /// Stripe's evidence fields (`customer_name`, `customer_email`, `receipt`, `service_documentation`, …).
    #[schema(value_type = EvidenceSchema)]
    pub evidence: DisputeEvidence,
    /// Submit now (default false: save a draft).
    #[serde(default)]
    pub submit: bool,
    /// The account the dispute is on (for a direct charge); default: the platform's.
    pub account_id: Option<String>,
}

/// Saves or submits evidence for a dispute.
///
/// Roles: payment_admin, tenant_admin, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/integrations/stripe-connect/disputes/{dispute_id}/evidence", tag = "platform",
    params(("dispute_id" = String, Path)), request_body = EvidenceBody, security(("bearer" = [])),
    responses((status = 200, body = DisputeDto), (status = 404)))]
#[post("/disputes/{dispute_id}/evidence")]
pub async fn dispute_evidence(
    req: HttpRequest,
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<EvidenceBody>,
) -> Result<web::Json<DisputeDto>, ApiError> {
    principal.require(MONEY_ROLES)?;
    let id = DisputeId::parse(path.into_inner())
        .map_err(|_| ApiError::validation("dispute_id", "not a dispute id (dp_…)"))?;
    let body = body.into_inner();
    let account = body.account_id.as_deref().map(account_id).transpose()?;
    let key: Option<IdempotencyKey> = stripe_key(&req, &principal, "evidence")?;
    let d = state
        .engine
        .submit_dispute_evidence(
            &principal.caller(),
            account.as_ref(),
            &id,
            &body.evidence,
            body.submit,
            key.as_ref(),
        )
        .await?;
    Ok(web::Json(dispute_dto(d)))
}
