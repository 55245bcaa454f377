//! The platform API the HTTP layer exposes (seed 002): accounts, payment
//! intents, refunds, transfers, payouts and schedules, balances, disputes.
//!
//! The request and view types here are public and serde-friendly, in the
//! domain's terms (ids, [`Money`]); Stripe's wire shapes stay in `wire`.
//! Every write carries an idempotency key: the caller's, or a fresh one
//! that all retries of that one call share.

use std::collections::{BTreeMap, HashMap};

use payouts_domain::ids::{
    AccountId, DisputeId, IdempotencyKey, PaymentIntentId, RefundId, StripePayoutId, TransferId,
    TransferReversalId,
};
use payouts_domain::money::Money;
use payouts_domain::partner::CapabilityStatus;
use payouts_domain::ports::{GatewayError, Page};
use serde::{Deserialize, Serialize};
use stripe_connect::account::{
    CreateAccount, CreateAccountBusinessProfile, CreateAccountCapabilities,
    CreateAccountCapabilitiesCardPayments, CreateAccountCapabilitiesTransfers, CreateAccountType,
    RetrieveAccount, UpdateAccount, UpdateAccountSettings, UpdateAccountSettingsPayouts,
    UpdateAccountSettingsPayoutsSchedule, UpdateAccountSettingsPayoutsScheduleDelayDays,
    UpdateAccountSettingsPayoutsScheduleInterval, UpdateAccountSettingsPayoutsScheduleWeeklyAnchor,
};
use stripe_connect::transfer::CreateTransfer;
use stripe_core::balance::RetrieveForMyAccountBalance;
use stripe_core::dispute::{ListDispute, UpdateDispute, UpdateDisputeEvidence};
use stripe_core::payment_intent::{
    CapturePaymentIntent, CreatePaymentIntent, CreatePaymentIntentTransferData,
    RetrievePaymentIntent,
};
use stripe_core::payout::ListPayout;
use stripe_core::refund::{CreateRefund, CreateRefundReason};
use stripe_shared::{AccountBusinessType, PaymentIntentCaptureMethod};
use time::OffsetDateTime;

use crate::error::invalid;
use crate::gateway::{StripeGateway, stripe_currency};
use crate::transport::Call;
use crate::wire::{self, id_of, money, parse_id, timestamp};

/// A fresh key for a write the caller gave no key for.
pub(crate) fn fresh_key(purpose: &str) -> Result<IdempotencyKey, GatewayError> {
    IdempotencyKey::parse(format!("{purpose}-{}", uuid::Uuid::new_v4()))
        .map_err(|e| invalid(e.to_string()))
}

fn key_or_fresh(
    key: Option<&IdempotencyKey>,
    purpose: &str,
) -> Result<IdempotencyKey, GatewayError> {
    match key {
        Some(k) => Ok(k.clone()),
        None => fresh_key(purpose),
    }
}

fn to_hash(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn to_btree(metadata: &HashMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Paging of a list call.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ListParams {
    /// 1..=100 (Stripe's default 10 when `None`).
    #[serde(default)]
    pub limit: Option<u32>,
    /// The last id of the previous page.
    #[serde(default)]
    pub starting_after: Option<String>,
}

impl ListParams {
    fn limit(&self) -> Option<i64> {
        self.limit.map(|l| i64::from(l.clamp(1, 100)))
    }
}

// ---------------------------------------------------------------- accounts

/// The kind of connected account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    /// Stripe-hosted onboarding and dashboard (most partners and merchants).
    Express,
    /// A full Stripe account (large merchants).
    Standard,
    /// The platform owns the whole experience (white-label).
    Custom,
}

/// The legal form of the account holder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BusinessType {
    /// A person.
    Individual,
    /// A company.
    Company,
    /// A non-profit.
    NonProfit,
    /// A government entity.
    GovernmentEntity,
}

/// Public details of the business (`business_profile`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusinessProfile {
    /// Customer-facing name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Merchant category code, e.g. `5812`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcc: Option<String>,
    /// Website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Support e-mail.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_email: Option<String>,
    /// Support phone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_phone: Option<String>,
    /// Support website.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
    /// What the business sells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_description: Option<String>,
}

/// Capabilities to request at creation.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestedCapabilities {
    /// `card_payments`.
    #[serde(default)]
    pub card_payments: bool,
    /// `transfers`.
    #[serde(default)]
    pub transfers: bool,
}

/// A connected account to create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateAccountRequest {
    /// Express, Standard or Custom.
    pub account_type: AccountType,
    /// ISO 3166-1 alpha-2 country.
    #[serde(default)]
    pub country: Option<String>,
    /// The holder's e-mail.
    #[serde(default)]
    pub email: Option<String>,
    /// Individual, company, …
    #[serde(default)]
    pub business_type: Option<BusinessType>,
    /// Public business details.
    #[serde(default)]
    pub business_profile: Option<BusinessProfile>,
    /// Capabilities to request.
    #[serde(default)]
    pub capabilities: RequestedCapabilities,
    /// Metadata (e.g. `merchant_id`).
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Idempotency key; a fresh one when `None`.
    #[serde(default)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// Where an account stands, reduced to four states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountStatus {
    /// Onboarding not complete.
    Pending,
    /// Charges and payouts enabled, nothing past due.
    Active,
    /// Onboarded, but limited (something due or a capability off).
    Restricted,
    /// Rejected or paused by Stripe or the platform.
    Disabled,
}

impl AccountStatus {
    /// Derives the status from Stripe's flags and requirements.
    pub fn derive(
        details_submitted: bool,
        charges_enabled: bool,
        payouts_enabled: bool,
        requirements: &Requirements,
    ) -> Self {
        let reason = requirements.disabled_reason.as_deref().unwrap_or("");
        if reason.starts_with("rejected.")
            || reason.starts_with("paused.")
            || reason == "platform_paused"
        {
            AccountStatus::Disabled
        } else if !details_submitted {
            AccountStatus::Pending
        } else if charges_enabled
            && payouts_enabled
            && reason.is_empty()
            && requirements.past_due.is_empty()
        {
            AccountStatus::Active
        } else {
            AccountStatus::Restricted
        }
    }
}

/// What Stripe still needs from the account holder.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Requirements {
    /// Due now.
    pub currently_due: Vec<String>,
    /// Due eventually.
    pub eventually_due: Vec<String>,
    /// Overdue: capabilities are off until provided.
    pub past_due: Vec<String>,
    /// Why the account is disabled, if it is.
    pub disabled_reason: Option<String>,
}

/// How often Stripe pays the account's balance out to its bank.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutInterval {
    /// Every day.
    Daily,
    /// Every week, on `weekly_anchor`.
    Weekly,
    /// Every month, on `monthly_anchor`.
    Monthly,
    /// Only when requested.
    Manual,
    /// A value this version does not know (never sent).
    Unknown,
}

/// A weekday, for weekly payouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weekday {
    /// Monday.
    Monday,
    /// Tuesday.
    Tuesday,
    /// Wednesday.
    Wednesday,
    /// Thursday.
    Thursday,
    /// Friday.
    Friday,
    /// Saturday.
    Saturday,
    /// Sunday.
    Sunday,
}

/// An account's payout schedule (`settings.payouts.schedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutSchedule {
    /// How often.
    pub interval: PayoutInterval,
    /// Days funds wait before they can be paid out.
    #[serde(default)]
    pub delay_days: Option<u32>,
    /// Day of the week, for weekly payouts.
    #[serde(default)]
    pub weekly_anchor: Option<Weekday>,
    /// Day of the month (1–31), for monthly payouts.
    #[serde(default)]
    pub monthly_anchor: Option<u8>,
}

impl PayoutSchedule {
    fn from_wire(s: &wire::Schedule) -> Self {
        let interval = match s.interval.as_deref() {
            Some("daily") => PayoutInterval::Daily,
            Some("weekly") => PayoutInterval::Weekly,
            Some("monthly") => PayoutInterval::Monthly,
            Some("manual") => PayoutInterval::Manual,
            Some(_) | None => PayoutInterval::Unknown,
        };
        let weekly_anchor = match s.weekly_anchor.as_deref() {
            Some("monday") => Some(Weekday::Monday),
            Some("tuesday") => Some(Weekday::Tuesday),
            Some("wednesday") => Some(Weekday::Wednesday),
            Some("thursday") => Some(Weekday::Thursday),
            Some("friday") => Some(Weekday::Friday),
            Some("saturday") => Some(Weekday::Saturday),
            Some("sunday") => Some(Weekday::Sunday),
            Some(_) | None => None,
        };
        PayoutSchedule {
            interval,
            delay_days: s.delay_days,
            weekly_anchor,
            monthly_anchor: s.monthly_anchor,
        }
    }

    fn to_request(&self) -> Result<UpdateAccountSettingsPayoutsSchedule, GatewayError> {
        let mut schedule = UpdateAccountSettingsPayoutsSchedule::new();
        schedule.interval = Some(match self.interval {
            PayoutInterval::Daily => UpdateAccountSettingsPayoutsScheduleInterval::Daily,
            PayoutInterval::Weekly => UpdateAccountSettingsPayoutsScheduleInterval::Weekly,
            PayoutInterval::Monthly => UpdateAccountSettingsPayoutsScheduleInterval::Monthly,
            PayoutInterval::Manual => UpdateAccountSettingsPayoutsScheduleInterval::Manual,
            PayoutInterval::Unknown => {
                return Err(invalid("payout interval `unknown` cannot be set"));
            }
        });
        schedule.delay_days = self
            .delay_days
            .map(UpdateAccountSettingsPayoutsScheduleDelayDays::U32);
        schedule.weekly_anchor = self.weekly_anchor.map(|d| match d {
            Weekday::Monday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Monday,
            Weekday::Tuesday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Tuesday,
            Weekday::Wednesday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Wednesday,
            Weekday::Thursday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Thursday,
            Weekday::Friday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Friday,
            Weekday::Saturday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Saturday,
            Weekday::Sunday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Sunday,
        });
        schedule.monthly_anchor = self.monthly_anchor;
        Ok(schedule)
    }
}

/// A connected account, as the platform shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountView {
    /// `acct_…`.
    pub account_id: AccountId,
    /// `express`, `standard`, `custom` (as Stripe reports it).
    pub account_type: Option<String>,
    /// Pending, active, restricted or disabled.
    pub status: AccountStatus,
    /// Can take charges.
    pub charges_enabled: bool,
    /// Can be paid out to its bank.
    pub payouts_enabled: bool,
    /// Finished the onboarding form.
    pub details_submitted: bool,
    /// The holder's e-mail.
    pub email: Option<String>,
    /// ISO country.
    pub country: Option<String>,
    /// Individual, company, … (as Stripe reports it).
    pub business_type: Option<String>,
    /// Each capability's status.
    pub capabilities: BTreeMap<String, CapabilityStatus>,
    /// What is still needed.
    pub requirements: Requirements,
    /// Public business details.
    pub business_profile: BusinessProfile,
    /// The payout schedule, when Stripe shows it.
    pub payout_schedule: Option<PayoutSchedule>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

impl AccountView {
    pub(crate) fn from_wire(a: &wire::Account) -> Result<Self, GatewayError> {
        let requirements = a
            .requirements
            .as_ref()
            .map(|r| Requirements {
                currently_due: r.currently_due.clone(),
                eventually_due: r.eventually_due.clone(),
                past_due: r.past_due.clone(),
                disabled_reason: r.disabled_reason.clone(),
            })
            .unwrap_or_default();
        let profile = a.business_profile.as_ref();
        let business_profile = BusinessProfile {
            name: profile.and_then(|p| p.name.clone()),
            mcc: profile.and_then(|p| p.mcc.clone()),
            url: profile.and_then(|p| p.url.clone()),
            support_email: profile.and_then(|p| p.support_email.clone()),
            support_phone: profile.and_then(|p| p.support_phone.clone()),
            support_url: profile.and_then(|p| p.support_url.clone()),
            product_description: profile.and_then(|p| p.product_description.clone()),
        };
        let payout_schedule = a
            .settings
            .as_ref()
            .and_then(|s| s.payouts.as_ref())
            .and_then(|p| p.schedule.as_ref())
            .map(PayoutSchedule::from_wire);
        Ok(AccountView {
            account_id: parse_id(AccountId::parse(a.id.clone()), "account id")?,
            account_type: a.account_type.clone(),
            status: AccountStatus::derive(
                a.details_submitted,
                a.charges_enabled,
                a.payouts_enabled,
                &requirements,
            ),
            charges_enabled: a.charges_enabled,
            payouts_enabled: a.payouts_enabled,
            details_submitted: a.details_submitted,
            email: a.email.clone(),
            country: a.country.clone(),
            business_type: a.business_type.clone(),
            capabilities: a
                .capabilities
                .iter()
                .map(|(k, v)| (k.clone(), CapabilityStatus::from_stripe(v)))
                .collect(),
            requirements,
            business_profile,
            payout_schedule,
            metadata: to_btree(&a.metadata),
        })
    }
}

// ---------------------------------------------------------------- payments

/// When a payment's funds are captured.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CaptureMethod {
    /// On confirmation.
    #[default]
    Automatic,
    /// Later, with [`StripeGateway::capture_payment_intent`].
    Manual,
}

/// A destination charge: the customer pays the platform, the connected
/// account receives the amount less the application fee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreatePaymentIntentRequest {
    /// The connected account that receives the funds (`transfer_data[destination]`).
    pub account_id: AccountId,
    /// What the customer pays.
    pub amount: Money,
    /// The platform's fee, in the same currency (`application_fee_amount`).
    #[serde(default)]
    pub application_fee_amount: Option<i64>,
    /// Stored as metadata `order_id`.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Sent as `receipt_email`.
    #[serde(default)]
    pub customer_email: Option<String>,
    /// Statement and dashboard description.
    #[serde(default)]
    pub description: Option<String>,
    /// Automatic (default) or manual capture.
    #[serde(default)]
    pub capture_method: CaptureMethod,
    /// A payment method to confirm with server-side (`pm_…`).
    #[serde(default)]
    pub payment_method: Option<String>,
    /// Confirm at creation (needs `payment_method`).
    #[serde(default)]
    pub confirm: bool,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Idempotency key; a fresh one when `None`.
    #[serde(default)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// The secret a browser needs to confirm a payment. `Debug` redacts it;
/// it is serialized, because the HTTP layer hands it to the client.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ClientSecret(String);

impl ClientSecret {
    /// The secret itself.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ClientSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientSecret(…)")
    }
}

/// A payment intent's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentIntentStatus {
    /// Needs a payment method.
    RequiresPaymentMethod,
    /// Needs confirmation.
    RequiresConfirmation,
    /// Needs customer action (3-D Secure, …).
    RequiresAction,
    /// Being processed.
    Processing,
    /// Authorized; capture it.
    RequiresCapture,
    /// Canceled.
    Canceled,
    /// Paid.
    Succeeded,
    /// A status this version does not know.
    Unknown,
}

impl PaymentIntentStatus {
    fn from_stripe(s: &str) -> Self {
        match s {
            "requires_payment_method" => Self::RequiresPaymentMethod,
            "requires_confirmation" => Self::RequiresConfirmation,
            "requires_action" => Self::RequiresAction,
            "processing" => Self::Processing,
            "requires_capture" => Self::RequiresCapture,
            "canceled" => Self::Canceled,
            "succeeded" => Self::Succeeded,
            _ => Self::Unknown,
        }
    }
}

/// A payment intent, as the platform shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentIntentView {
    /// `pi_…`.
    pub payment_intent_id: PaymentIntentId,
    /// Where it stands.
    pub status: PaymentIntentStatus,
    /// The amount.
    pub amount: Money,
    /// Captured so far.
    pub amount_received: Money,
    /// Authorized and not yet captured.
    pub amount_capturable: Money,
    /// The platform's fee.
    pub application_fee: Option<Money>,
    /// The destination account.
    pub account_id: Option<AccountId>,
    /// What the destination nets: amount less the fee.
    pub destination_amount: Option<Money>,
    /// For the browser.
    pub client_secret: Option<ClientSecret>,
    /// The latest charge (`ch_…`).
    pub latest_charge: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
}

impl PaymentIntentView {
    fn from_wire(pi: &wire::PaymentIntent) -> Result<Self, GatewayError> {
        let m = |amount: i64| money(amount, &pi.currency, "payment intent amount");
        let account_id = pi
            .transfer_data
            .as_ref()
            .map(|t| parse_id(AccountId::parse(t.destination.id()), "destination"))
            .transpose()?;
        let fee = pi.application_fee_amount.unwrap_or(0);
        let destination_amount = match &account_id {
            Some(_) => Some(m(pi.amount.checked_sub(fee).ok_or_else(|| {
                crate::error::unreadable("payment intent amounts", "overflow")
            })?)?),
            None => None,
        };
        Ok(PaymentIntentView {
            payment_intent_id: parse_id(
                PaymentIntentId::parse(pi.id.clone()),
                "payment intent id",
            )?,
            status: PaymentIntentStatus::from_stripe(&pi.status),
            amount: m(pi.amount)?,
            amount_received: m(pi.amount_received)?,
            amount_capturable: m(pi.amount_capturable)?,
            application_fee: pi.application_fee_amount.map(m).transpose()?,
            account_id,
            destination_amount,
            client_secret: pi.client_secret.clone().map(ClientSecret),
            latest_charge: id_of(pi.latest_charge.as_ref()),
            metadata: to_btree(&pi.metadata),
        })
    }
}

/// Why a refund is made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundReason {
    /// A duplicate charge.
    Duplicate,
    /// Fraud.
    Fraudulent,
    /// The customer asked (`requested_by_customer`; the seed's `customer_request` is accepted).
    #[serde(alias = "customer_request")]
    RequestedByCustomer,
}

/// A refund of a payment intent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// The payment.
    pub payment_intent_id: PaymentIntentId,
    /// Minor units; everything left when `None`.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Why.
    #[serde(default)]
    pub reason: Option<RefundReason>,
    /// Give the platform's fee back in proportion.
    #[serde(default)]
    pub refund_application_fee: bool,
    /// Pull the refunded share back from the destination account.
    #[serde(default)]
    pub reverse_transfer: bool,
    /// The account of a direct charge (sent as `Stripe-Account`); `None`
    /// for destination charges, which live on the platform.
    #[serde(default)]
    pub on_account: Option<AccountId>,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Idempotency key; a fresh one when `None`.
    #[serde(default)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A refund's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RefundStatus {
    /// Not settled yet.
    Pending,
    /// Needs customer action.
    RequiresAction,
    /// Done.
    Succeeded,
    /// Failed.
    Failed,
    /// Canceled.
    Canceled,
    /// A status this version does not know.
    Unknown,
}

/// A refund, as the platform shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundView {
    /// `re_…`.
    pub refund_id: RefundId,
    /// The payment.
    pub payment_intent_id: Option<PaymentIntentId>,
    /// The charge (`ch_…`).
    pub charge: Option<String>,
    /// Refunded.
    pub amount: Money,
    /// Where it stands.
    pub status: RefundStatus,
    /// Why.
    pub reason: Option<String>,
    /// The share of the platform fee given back (computed in proportion,
    /// as Stripe does: `refund × fee / amount received`, rounded down),
    /// when `refund_application_fee` was asked for.
    pub application_fee_refunded: Option<Money>,
    /// The reversal of the destination transfer (`trr_…`), if any.
    pub transfer_reversal: Option<String>,
}

// ---------------------------------------------------------------- transfers

/// A transfer from the platform (or, with `source_account`, from a
/// merchant's account) to a connected account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlatformTransferRequest {
    /// The receiving account.
    pub account_id: AccountId,
    /// The amount.
    pub amount: Money,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// `transfer_group`.
    #[serde(default)]
    pub transfer_group: Option<String>,
    /// Send from this account (`Stripe-Account`) instead of the platform.
    #[serde(default)]
    pub source_account: Option<AccountId>,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Idempotency key; a fresh one when `None`.
    #[serde(default)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A transfer, as the platform shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferView {
    /// `tr_…`.
    pub transfer_id: TransferId,
    /// The receiving account.
    pub destination: AccountId,
    /// The amount.
    pub amount: Money,
    /// Reversed so far.
    pub amount_reversed: Money,
    /// Fully reversed.
    pub reversed: bool,
    /// `transfer_group`.
    pub transfer_group: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Metadata.
    pub metadata: BTreeMap<String, String>,
    /// When Stripe created it.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl TransferView {
    fn from_wire(t: &wire::Transfer) -> Result<Self, GatewayError> {
        let domain = crate::gateway::to_transfer(t)?;
        Ok(TransferView {
            transfer_id: domain.id,
            destination: domain.destination,
            amount: domain.amount,
            amount_reversed: domain.amount_reversed,
            reversed: t.reversed || (t.amount_reversed >= t.amount && t.amount > 0),
            transfer_group: t.transfer_group.clone(),
            description: t.description.clone(),
            metadata: to_btree(&t.metadata),
            created: timestamp(t.created, "transfer created")?,
        })
    }
}

/// A reversal to make.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReverseTransferRequest {
    /// Minor units; everything left when `None`.
    #[serde(default)]
    pub amount: Option<i64>,
    /// Description.
    #[serde(default)]
    pub description: Option<String>,
    /// The account the transfer was sent from, when not the platform.
    #[serde(default)]
    pub source_account: Option<AccountId>,
    /// Metadata.
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    /// Idempotency key; a fresh one when `None`.
    #[serde(default)]
    pub idempotency_key: Option<IdempotencyKey>,
}

/// A reversal, with the transfer's state after it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalView {
    /// `trr_…`.
    pub reversal_id: TransferReversalId,
    /// The transfer.
    pub transfer_id: TransferId,
    /// This reversal's amount.
    pub amount: Money,
    /// The transfer's total reversed after it.
    pub transfer_amount_reversed: Money,
    /// Whether the transfer is now fully reversed.
    pub transfer_reversed: bool,
}

// ---------------------------------------------------------------- payouts, balances, disputes

/// A payout's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayoutStatus {
    /// Created.
    Pending,
    /// On its way to the bank.
    InTransit,
    /// Deposited.
    Paid,
    /// Failed; the funds went back to the balance.
    Failed,
    /// Canceled.
    Canceled,
    /// A status this version does not know.
    Unknown,
}

/// A payout to a bank account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutView {
    /// `po_…`.
    pub payout_id: StripePayoutId,
    /// The amount.
    pub amount: Money,
    /// Where it stands.
    pub status: PayoutStatus,
    /// Expected (or actual) arrival.
    #[serde(with = "time::serde::rfc3339::option")]
    pub arrival_date: Option<OffsetDateTime>,
    /// `standard` or `instant`.
    pub method: Option<String>,
    /// Why it failed.
    pub failure_code: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// The bank account or card id.
    pub destination: Option<String>,
    /// When Stripe created it.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl PayoutView {
    fn from_wire(p: &wire::Payout) -> Result<Self, GatewayError> {
        Ok(PayoutView {
            payout_id: parse_id(StripePayoutId::parse(p.id.clone()), "payout id")?,
            amount: money(p.amount, &p.currency, "payout amount")?,
            status: match p.status.as_str() {
                "pending" => PayoutStatus::Pending,
                "in_transit" => PayoutStatus::InTransit,
                "paid" => PayoutStatus::Paid,
                "failed" => PayoutStatus::Failed,
                "canceled" => PayoutStatus::Canceled,
                _ => PayoutStatus::Unknown,
            },
            arrival_date: p
                .arrival_date
                .map(|t| timestamp(t, "payout arrival"))
                .transpose()?,
            method: p.method.clone(),
            failure_code: p.failure_code.clone(),
            description: p.description.clone(),
            destination: id_of(p.destination.as_ref()),
            created: timestamp(p.created, "payout created")?,
        })
    }
}

/// Balances per currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BalanceView {
    /// Can be transferred or paid out now.
    pub available: Vec<Money>,
    /// Not yet available.
    pub pending: Vec<Money>,
    /// Held back for connected accounts' negative balances (platforms only).
    pub connect_reserved: Vec<Money>,
}

/// A dispute's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DisputeStatus {
    /// An inquiry that needs a response.
    WarningNeedsResponse,
    /// An inquiry under review.
    WarningUnderReview,
    /// An inquiry closed.
    WarningClosed,
    /// Evidence required.
    NeedsResponse,
    /// The bank is reviewing.
    UnderReview,
    /// Won.
    Won,
    /// Lost.
    Lost,
    /// Prevented.
    Prevented,
    /// A status this version does not know.
    Unknown,
}

/// A dispute, as the platform shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeView {
    /// `dp_…`.
    pub dispute_id: DisputeId,
    /// The disputed payment.
    pub payment_intent_id: Option<PaymentIntentId>,
    /// The disputed charge.
    pub charge: Option<String>,
    /// The account the dispute was listed under (`None`: the platform).
    pub account_id: Option<AccountId>,
    /// The disputed amount.
    pub amount: Money,
    /// `fraudulent`, `product_not_received`, …
    pub reason: String,
    /// Where it stands.
    pub status: DisputeStatus,
    /// When evidence is due.
    #[serde(with = "time::serde::rfc3339::option")]
    pub evidence_due_by: Option<OffsetDateTime>,
    /// How often evidence was submitted.
    pub evidence_submission_count: i64,
    /// When it was opened.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
}

impl DisputeView {
    fn from_wire(d: &wire::Dispute, account: Option<&AccountId>) -> Result<Self, GatewayError> {
        let details = d.evidence_details.as_ref();
        Ok(DisputeView {
            dispute_id: parse_id(DisputeId::parse(d.id.clone()), "dispute id")?,
            payment_intent_id: id_of(d.payment_intent.as_ref())
                .map(|p| parse_id(PaymentIntentId::parse(p), "dispute payment intent"))
                .transpose()?,
            charge: id_of(d.charge.as_ref()),
            account_id: account.cloned(),
            amount: money(d.amount, &d.currency, "dispute amount")?,
            reason: d.reason.clone(),
            status: match d.status.as_str() {
                "warning_needs_response" => DisputeStatus::WarningNeedsResponse,
                "warning_under_review" => DisputeStatus::WarningUnderReview,
                "warning_closed" => DisputeStatus::WarningClosed,
                "needs_response" => DisputeStatus::NeedsResponse,
                "under_review" => DisputeStatus::UnderReview,
                "won" => DisputeStatus::Won,
                "lost" => DisputeStatus::Lost,
                "prevented" => DisputeStatus::Prevented,
                _ => DisputeStatus::Unknown,
            },
            evidence_due_by: details
                .and_then(|e| e.due_by)
                .map(|t| timestamp(t, "dispute due date"))
                .transpose()?,
            evidence_submission_count: details.map_or(0, |e| e.submission_count),
            created: timestamp(d.created, "dispute created")?,
        })
    }
}

macro_rules! evidence {
    ($($(#[$doc:meta])* $field:ident),* $(,)?) => {
        /// Dispute evidence: text fields, or `file_…` ids for documents.
        /// Unknown keys are refused rather than silently dropped.
        #[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct DisputeEvidence {
            $(
                $(#[$doc])*
                #[serde(default, skip_serializing_if = "Option::is_none")]
                pub $field: Option<String>,
            )*
        }

        impl DisputeEvidence {
            fn to_request(&self) -> UpdateDisputeEvidence {
                let mut e = UpdateDisputeEvidence::new();
                $( e.$field = self.$field.clone(); )*
                e
            }
        }
    };
}

evidence!(
    /// Server or activity logs.
    access_activity_log,
    /// Billing address.
    billing_address,
    /// Cancellation policy (file).
    cancellation_policy,
    /// How the policy was shown.
    cancellation_policy_disclosure,
    /// Why the customer's cancellation claim is wrong.
    cancellation_rebuttal,
    /// Customer correspondence (file).
    customer_communication,
    /// Customer e-mail (the seed's `customer_email`).
    #[serde(alias = "customer_email")]
    customer_email_address,
    /// Customer name.
    customer_name,
    /// Customer IP.
    customer_purchase_ip,
    /// Customer signature (file).
    customer_signature,
    /// Documentation of the other charge (file).
    duplicate_charge_documentation,
    /// Why the charges differ.
    duplicate_charge_explanation,
    /// The other charge's id.
    duplicate_charge_id,
    /// What was sold.
    product_description,
    /// Receipt (file).
    receipt,
    /// Refund policy (file).
    refund_policy,
    /// How the refund policy was shown.
    refund_policy_disclosure,
    /// Why no refund was given.
    refund_refusal_explanation,
    /// When the service was provided.
    service_date,
    /// Proof of service (file or text).
    service_documentation,
    /// Shipping address.
    shipping_address,
    /// Carrier.
    shipping_carrier,
    /// Shipping date.
    shipping_date,
    /// Proof of shipping (file).
    shipping_documentation,
    /// Tracking number.
    shipping_tracking_number,
    /// Anything else (file).
    uncategorized_file,
    /// Anything else (text).
    uncategorized_text,
);

// ---------------------------------------------------------------- the calls

impl StripeGateway {
    /// Creates a connected account.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn create_account(
        &self,
        request: &CreateAccountRequest,
    ) -> Result<AccountView, GatewayError> {
        let mut create = CreateAccount::new().type_(match request.account_type {
            AccountType::Express => CreateAccountType::Express,
            AccountType::Standard => CreateAccountType::Standard,
            AccountType::Custom => CreateAccountType::Custom,
        });
        if let Some(country) = &request.country {
            create = create.country(country.as_str());
        }
        if let Some(email) = &request.email {
            create = create.email(email.as_str());
        }
        if let Some(business_type) = request.business_type {
            create = create.business_type(match business_type {
                BusinessType::Individual => AccountBusinessType::Individual,
                BusinessType::Company => AccountBusinessType::Company,
                BusinessType::NonProfit => AccountBusinessType::NonProfit,
                BusinessType::GovernmentEntity => AccountBusinessType::GovernmentEntity,
            });
        }
        if let Some(profile) = &request.business_profile {
            let mut p = CreateAccountBusinessProfile::new();
            p.name = profile.name.clone();
            p.mcc = profile.mcc.clone();
            p.url = profile.url.clone();
            p.support_email = profile.support_email.clone();
            p.support_phone = profile.support_phone.clone();
            p.support_url = profile.support_url.clone();
            p.product_description = profile.product_description.clone();
            create = create.business_profile(p);
        }
        let wanted = request.capabilities;
        if wanted.card_payments || wanted.transfers {
            let mut capabilities = CreateAccountCapabilities::new();
            if wanted.card_payments {
                let mut c = CreateAccountCapabilitiesCardPayments::new();
                c.requested = Some(true);
                capabilities.card_payments = Some(c);
            }
            if wanted.transfers {
                let mut t = CreateAccountCapabilitiesTransfers::new();
                t.requested = Some(true);
                capabilities.transfers = Some(t);
            }
            create = create.capabilities(capabilities);
        }
        if !request.metadata.is_empty() {
            create = create.metadata(to_hash(&request.metadata));
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "account")?;
        let account: wire::Account = self
            .transport
            .send(&create, Call::keyed(None, &key), "account")
            .await?;
        AccountView::from_wire(&account)
    }

    /// Retrieves a connected account with its status and requirements.
    ///
    /// # Errors
    /// [`GatewayError`] ([`payouts_domain::ports::FailureKind::NotFound`] or
    /// `CannotReceive` for an account we cannot see).
    pub async fn retrieve_account(&self, account: &AccountId) -> Result<AccountView, GatewayError> {
        let a: wire::Account = self
            .transport
            .send(
                &RetrieveAccount::new(account.as_str()),
                Call::default(),
                "account",
            )
            .await?;
        AccountView::from_wire(&a)
    }

    /// The account's payout schedule.
    ///
    /// # Errors
    /// [`GatewayError`]; `response_unreadable` when Stripe shows none.
    pub async fn payout_schedule(
        &self,
        account: &AccountId,
    ) -> Result<PayoutSchedule, GatewayError> {
        self.retrieve_account(account)
            .await?
            .payout_schedule
            .ok_or_else(|| crate::error::unreadable("payout schedule", "missing"))
    }

    /// Replaces the account's payout schedule (`settings.payouts.schedule`).
    ///
    /// # Errors
    /// [`GatewayError`]; `InvalidRequest` for an `Unknown` interval.
    pub async fn update_payout_schedule(
        &self,
        account: &AccountId,
        schedule: &PayoutSchedule,
        key: Option<&IdempotencyKey>,
    ) -> Result<PayoutSchedule, GatewayError> {
        let mut payouts = UpdateAccountSettingsPayouts::new();
        payouts.schedule = Some(schedule.to_request()?);
        let mut settings = UpdateAccountSettings::new();
        settings.payouts = Some(payouts);
        let key = key_or_fresh(key, "payout-schedule")?;
        let a: wire::Account = self
            .transport
            .send(
                &UpdateAccount::new(account.as_str()).settings(settings),
                Call::keyed(None, &key),
                "account",
            )
            .await?;
        AccountView::from_wire(&a)?
            .payout_schedule
            .ok_or_else(|| crate::error::unreadable("payout schedule", "missing"))
    }

    /// Creates a destination-charge payment intent.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn create_payment_intent(
        &self,
        request: &CreatePaymentIntentRequest,
    ) -> Result<PaymentIntentView, GatewayError> {
        let mut create = CreatePaymentIntent::new(
            request.amount.amount_minor(),
            stripe_currency(request.amount.currency()),
        )
        .transfer_data(CreatePaymentIntentTransferData::new(
            request.account_id.as_str(),
        ));
        if let Some(fee) = request.application_fee_amount {
            create = create.application_fee_amount(fee);
        }
        if request.capture_method == CaptureMethod::Manual {
            create = create.capture_method(PaymentIntentCaptureMethod::Manual);
        }
        if let Some(email) = &request.customer_email {
            create = create.receipt_email(email.as_str());
        }
        if let Some(description) = &request.description {
            create = create.description(description.as_str());
        }
        if let Some(pm) = &request.payment_method {
            create = create.payment_method(pm.as_str());
        }
        if request.confirm {
            create = create.confirm(true);
        }
        let mut metadata = to_hash(&request.metadata);
        if let Some(order) = &request.order_id {
            metadata.insert("order_id".to_owned(), order.clone());
        }
        if !metadata.is_empty() {
            create = create.metadata(metadata);
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "payment-intent")?;
        let pi: wire::PaymentIntent = self
            .transport
            .send(&create, Call::keyed(None, &key), "payment intent")
            .await?;
        PaymentIntentView::from_wire(&pi)
    }

    /// Captures an authorized payment (`amount_to_capture`: all when `None`).
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        key: Option<&IdempotencyKey>,
    ) -> Result<PaymentIntentView, GatewayError> {
        let mut capture = CapturePaymentIntent::new(id.as_str());
        if let Some(amount) = amount_to_capture {
            capture = capture.amount_to_capture(amount);
        }
        let key = key_or_fresh(key, "capture")?;
        let pi: wire::PaymentIntent = self
            .transport
            .send(&capture, Call::keyed(None, &key), "payment intent")
            .await?;
        PaymentIntentView::from_wire(&pi)
    }

    /// Retrieves a payment intent.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
        on_account: Option<&AccountId>,
    ) -> Result<PaymentIntentView, GatewayError> {
        let pi: wire::PaymentIntent = self
            .transport
            .send(
                &RetrievePaymentIntent::new(id.as_str()),
                Call::on(on_account),
                "payment intent",
            )
            .await?;
        PaymentIntentView::from_wire(&pi)
    }

    /// Refunds a payment, optionally returning the fee and reversing the transfer.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn refund_payment(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundView, GatewayError> {
        let account = request.on_account.as_ref();
        // The fee share is not on the refund object; read what it is
        // proportional to first.
        let intent = if request.refund_application_fee {
            let pi: wire::PaymentIntent = self
                .transport
                .send(
                    &RetrievePaymentIntent::new(request.payment_intent_id.as_str()),
                    Call::on(account),
                    "payment intent",
                )
                .await?;
            Some(pi)
        } else {
            None
        };
        let mut create = CreateRefund::new().payment_intent(request.payment_intent_id.as_str());
        if let Some(amount) = request.amount {
            create = create.amount(amount);
        }
        if let Some(reason) = request.reason {
            create = create.reason(match reason {
                RefundReason::Duplicate => CreateRefundReason::Duplicate,
                RefundReason::Fraudulent => CreateRefundReason::Fraudulent,
                RefundReason::RequestedByCustomer => CreateRefundReason::RequestedByCustomer,
            });
        }
        if request.refund_application_fee {
            create = create.refund_application_fee(true);
        }
        if request.reverse_transfer {
            create = create.reverse_transfer(true);
        }
        if !request.metadata.is_empty() {
            create = create.metadata(to_hash(&request.metadata));
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "refund")?;
        let refund: wire::Refund = self
            .transport
            .send(&create, Call::keyed(account, &key), "refund")
            .await?;
        let application_fee_refunded = match &intent {
            Some(pi) => {
                let fee = i128::from(pi.application_fee_amount.unwrap_or(0));
                // Stripe refunds the fee in proportion to what was captured.
                let received = i128::from(if pi.amount_received > 0 {
                    pi.amount_received
                } else {
                    pi.amount
                });
                let share = if received > 0 {
                    i128::from(refund.amount).saturating_mul(fee) / received
                } else {
                    0
                };
                Some(money(
                    i64::try_from(share).unwrap_or(0),
                    &refund.currency,
                    "fee refunded",
                )?)
            }
            None => None,
        };
        Ok(RefundView {
            refund_id: parse_id(RefundId::parse(refund.id.clone()), "refund id")?,
            payment_intent_id: id_of(refund.payment_intent.as_ref())
                .map(|p| parse_id(PaymentIntentId::parse(p), "refund payment intent"))
                .transpose()?,
            charge: id_of(refund.charge.as_ref()),
            amount: money(refund.amount, &refund.currency, "refund amount")?,
            status: match refund.status.as_deref() {
                Some("pending") => RefundStatus::Pending,
                Some("requires_action") => RefundStatus::RequiresAction,
                Some("succeeded") => RefundStatus::Succeeded,
                Some("failed") => RefundStatus::Failed,
                Some("canceled") => RefundStatus::Canceled,
                Some(_) | None => RefundStatus::Unknown,
            },
            reason: refund.reason.clone(),
            application_fee_refunded,
            transfer_reversal: id_of(refund.transfer_reversal.as_ref()),
        })
    }

    /// Sends a transfer (seed 002 `POST /transfers`).
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn create_platform_transfer(
        &self,
        request: &PlatformTransferRequest,
    ) -> Result<TransferView, GatewayError> {
        let mut create = CreateTransfer::new(
            stripe_currency(request.amount.currency()),
            request.account_id.as_str(),
        )
        .amount(request.amount.amount_minor());
        if let Some(description) = &request.description {
            create = create.description(description.as_str());
        }
        if let Some(group) = &request.transfer_group {
            create = create.transfer_group(group.as_str());
        }
        if !request.metadata.is_empty() {
            create = create.metadata(to_hash(&request.metadata));
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "transfer")?;
        let t: wire::Transfer = self
            .transport
            .send(
                &create,
                Call::keyed(request.source_account.as_ref(), &key),
                "transfer",
            )
            .await?;
        TransferView::from_wire(&t)
    }

    /// Retrieves a transfer.
    ///
    /// # Errors
    /// [`GatewayError`] (`NotFound` when it does not exist).
    pub async fn transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<TransferView, GatewayError> {
        TransferView::from_wire(&self.fetch_transfer(source_account, id).await?)
    }

    /// Every transfer of a `transfer_group`, following Stripe's pages.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn transfers_in_group(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
    ) -> Result<Vec<TransferView>, GatewayError> {
        let mut out = Vec::new();
        self.scan_group(source_account, transfer_group, |t| {
            out.push(TransferView::from_wire(t)?);
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    /// Reverses a transfer in full or in part.
    ///
    /// # Errors
    /// [`GatewayError`]; reversing more than is left is `InvalidRequest`
    /// (`amount_too_large`).
    pub async fn reverse_platform_transfer(
        &self,
        id: &TransferId,
        request: &ReverseTransferRequest,
    ) -> Result<ReversalView, GatewayError> {
        let key = key_or_fresh(request.idempotency_key.as_ref(), "reversal")?;
        let metadata = (!request.metadata.is_empty()).then(|| to_hash(&request.metadata));
        let (reversal, transfer) = self
            .reverse(
                request.source_account.as_ref(),
                id,
                request.amount,
                request.description.as_deref(),
                metadata,
                &key,
            )
            .await?;
        Ok(ReversalView {
            reversal_id: parse_id(
                TransferReversalId::parse(reversal.id.clone()),
                "reversal id",
            )?,
            transfer_id: parse_id(TransferId::parse(reversal.transfer.id()), "transfer id")?,
            amount: money(reversal.amount, &reversal.currency, "reversal amount")?,
            transfer_amount_reversed: money(
                transfer.amount_reversed,
                &transfer.currency,
                "transfer amount reversed",
            )?,
            transfer_reversed: transfer.reversed || transfer.amount_reversed >= transfer.amount,
        })
    }

    /// A page of a connected account's payouts to its bank, newest first.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn list_payouts(
        &self,
        account: &AccountId,
        params: &ListParams,
    ) -> Result<Page<PayoutView>, GatewayError> {
        let mut list = ListPayout::new();
        if let Some(limit) = params.limit() {
            list = list.limit(limit);
        }
        if let Some(after) = &params.starting_after {
            list = list.starting_after(after.as_str());
        }
        let page: wire::List<wire::Payout> = self
            .transport
            .send(&list, Call::on(Some(account)), "payout list")
            .await?;
        Ok(Page {
            data: page
                .data
                .iter()
                .map(PayoutView::from_wire)
                .collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }

    /// The platform's balance.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn platform_balance(&self) -> Result<BalanceView, GatewayError> {
        self.balance(None).await
    }

    /// A connected account's balance.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn account_balance(&self, account: &AccountId) -> Result<BalanceView, GatewayError> {
        self.balance(Some(account)).await
    }

    async fn balance(&self, account: Option<&AccountId>) -> Result<BalanceView, GatewayError> {
        let b: wire::Balance = self
            .transport
            .send(
                &RetrieveForMyAccountBalance::new(),
                Call::on(account),
                "balance",
            )
            .await?;
        let amounts = |list: &[wire::Amount]| -> Result<Vec<Money>, GatewayError> {
            list.iter()
                .map(|a| money(a.amount, &a.currency, "balance"))
                .collect()
        };
        Ok(BalanceView {
            available: amounts(&b.available)?,
            pending: amounts(&b.pending)?,
            connect_reserved: amounts(&b.connect_reserved)?,
        })
    }

    /// A page of disputes: the platform's (`None`) or a connected account's.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn list_disputes(
        &self,
        account: Option<&AccountId>,
        params: &ListParams,
    ) -> Result<Page<DisputeView>, GatewayError> {
        let mut list = ListDispute::new();
        if let Some(limit) = params.limit() {
            list = list.limit(limit);
        }
        if let Some(after) = &params.starting_after {
            list = list.starting_after(after.as_str());
        }
        let page: wire::List<wire::Dispute> = self
            .transport
            .send(&list, Call::on(account), "dispute list")
            .await?;
        Ok(Page {
            data: page
                .data
                .iter()
                .map(|d| DisputeView::from_wire(d, account))
                .collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }

    /// Adds evidence to a dispute; `submit` sends it to the bank (Stripe's
    /// default), otherwise it is only staged.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn update_dispute_evidence(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        evidence: &DisputeEvidence,
        submit: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<DisputeView, GatewayError> {
        let update = UpdateDispute::new(dispute.as_str())
            .evidence(evidence.to_request())
            .submit(submit);
        let key = key_or_fresh(key, "dispute-evidence")?;
        let d: wire::Dispute = self
            .transport
            .send(&update, Call::keyed(account, &key), "dispute")
            .await?;
        DisputeView::from_wire(&d, account)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reqs(reason: Option<&str>, past_due: &[&str]) -> Requirements {
        Requirements {
            currently_due: Vec::new(),
            eventually_due: Vec::new(),
            past_due: past_due.iter().map(|s| (*s).to_owned()).collect(),
            disabled_reason: reason.map(str::to_owned),
        }
    }

    #[test]
    fn account_status_mapping() {
        use AccountStatus::*;
        let none = reqs(None, &[]);
        assert_eq!(AccountStatus::derive(false, false, false, &none), Pending);
        assert_eq!(
            AccountStatus::derive(
                false,
                false,
                false,
                &reqs(Some("requirements.past_due"), &["x"])
            ),
            Pending
        );
        assert_eq!(AccountStatus::derive(true, true, true, &none), Active);
        assert_eq!(AccountStatus::derive(true, true, false, &none), Restricted);
        assert_eq!(
            AccountStatus::derive(true, true, true, &reqs(None, &["external_account"])),
            Restricted
        );
        assert_eq!(
            AccountStatus::derive(
                true,
                false,
                false,
                &reqs(Some("requirements.past_due"), &[])
            ),
            Restricted
        );
        assert_eq!(
            AccountStatus::derive(true, false, false, &reqs(Some("rejected.fraud"), &[])),
            Disabled
        );
        assert_eq!(
            AccountStatus::derive(false, false, false, &reqs(Some("platform_paused"), &[])),
            Disabled
        );
    }

    #[test]
    fn schedules_round_trip_and_unknown_is_not_sent() {
        let wire = wire::Schedule {
            delay_days: Some(2),
            interval: Some("weekly".to_owned()),
            weekly_anchor: Some("friday".to_owned()),
            monthly_anchor: None,
        };
        let s = PayoutSchedule::from_wire(&wire);
        assert_eq!(s.interval, PayoutInterval::Weekly);
        assert_eq!(s.weekly_anchor, Some(Weekday::Friday));
        assert!(s.to_request().is_ok());
        let odd = PayoutSchedule::from_wire(&wire::Schedule {
            interval: Some("fortnightly".to_owned()),
            ..wire::Schedule::default()
        });
        assert_eq!(odd.interval, PayoutInterval::Unknown);
        assert!(odd.to_request().is_err());
    }

    #[test]
    fn client_secrets_are_redacted_in_debug_but_serialized() {
        let s = ClientSecret("pi_1_secret_abc".to_owned());
        assert!(!format!("{s:?}").contains("abc"));
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"pi_1_secret_abc\"");
    }

    #[test]
    fn evidence_accepts_the_seed_shape_and_refuses_unknown_keys() {
        let e: DisputeEvidence = serde_json::from_value(serde_json::json!({
            "customer_name": "John Doe",
            "customer_email": "john@example.com",
            "receipt": "file_abc123",
            "service_documentation": "Order was fulfilled"
        }))
        .unwrap();
        assert_eq!(
            e.customer_email_address.as_deref(),
            Some("john@example.com")
        );
        assert!(
            serde_json::from_value::<DisputeEvidence>(serde_json::json!({"colour": "red"}))
                .is_err()
        );
        let r: RefundReason = serde_json::from_str("\"customer_request\"").unwrap();
        assert_eq!(r, RefundReason::RequestedByCustomer);
    }
}
