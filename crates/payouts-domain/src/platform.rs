//! The platform API of seed 002 in the domain's terms: connected accounts,
//! payment intents with application fees, refunds, transfers and
//! reversals, payout schedules, bank payouts, balances and disputes.
//!
//! These are the request and view types of the
//! [`PlatformGateway`](crate::ports::PlatformGateway) port, and the rules
//! that used to sit in adapters: the one account-status rule
//! ([`AccountStatus::derive`]), payout-schedule validation
//! ([`PayoutSchedule::validate`]) and the refund's fee share
//! ([`fee_share_refunded`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::DomainError;
use crate::ids::{
    AccountId, DisputeId, IdempotencyKey, PaymentIntentId, RefundId, StripePayoutId, TransferId,
    TransferReversalId,
};
use crate::money::{Money, MoneyError, Rounding};
use crate::partner::CapabilityStatus;

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
        disabled_reason: Option<&str>,
        past_due: bool,
    ) -> Self {
        let reason = disabled_reason.unwrap_or("");
        // Stripe's `disabled_reason` values: `rejected.*` and `paused.*` /
        // `platform_paused` stop the account; `requirements.*`, `listed`,
        // `under_review` and `other` only restrict it until resolved.
        if reason.starts_with("rejected.")
            || reason.starts_with("paused.")
            || reason == "platform_paused"
        {
            AccountStatus::Disabled
        } else if !details_submitted {
            AccountStatus::Pending
        } else if charges_enabled && payouts_enabled && reason.is_empty() && !past_due {
            AccountStatus::Active
        } else {
            AccountStatus::Restricted
        }
    }

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AccountStatus::Pending => "pending",
            AccountStatus::Active => "active",
            AccountStatus::Restricted => "restricted",
            AccountStatus::Disabled => "disabled",
        }
    }
}

impl Requirements {
    /// [`AccountStatus::derive`] with these requirements.
    pub fn status(
        &self,
        details_submitted: bool,
        charges_enabled: bool,
        payouts_enabled: bool,
    ) -> AccountStatus {
        AccountStatus::derive(
            details_submitted,
            charges_enabled,
            payouts_enabled,
            self.disabled_reason.as_deref(),
            !self.past_due.is_empty(),
        )
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
    /// Wraps a secret Stripe returned.
    pub fn new(secret: String) -> Self {
        ClientSecret(secret)
    }

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

/// Calls `$m!` with every dispute-evidence field (each with its serde
/// attributes), so that adapters can map the fields one by one.
#[macro_export]
macro_rules! with_dispute_evidence_fields {
    ($m:ident) => {
        $m!(
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
    };
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
    };
}

with_dispute_evidence_fields!(evidence);

// ---------------------------------------------------------------- rules

/// The largest `delay_days` Stripe accepts on a payout schedule.
pub const MAX_PAYOUT_DELAY_DAYS: u32 = 365;

impl PayoutSchedule {
    /// Checks the schedule before it is sent: a known interval, a weekday
    /// for weekly payouts, a day 1–31 for monthly ones, no anchor that does
    /// not belong to the interval, and a delay of at most a year.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the field.
    pub fn validate(&self) -> Result<(), DomainError> {
        match self.interval {
            PayoutInterval::Unknown => {
                return Err(DomainError::validation(
                    "interval",
                    "must be daily, weekly, monthly or manual",
                ));
            }
            PayoutInterval::Weekly if self.weekly_anchor.is_none() => {
                return Err(DomainError::validation(
                    "weekly_anchor",
                    "a weekly schedule needs weekly_anchor",
                ));
            }
            PayoutInterval::Monthly
                if !self.monthly_anchor.is_some_and(|d| (1..=31).contains(&d)) =>
            {
                return Err(DomainError::validation(
                    "monthly_anchor",
                    "a monthly schedule needs monthly_anchor 1–31",
                ));
            }
            PayoutInterval::Daily
            | PayoutInterval::Weekly
            | PayoutInterval::Monthly
            | PayoutInterval::Manual => {}
        }
        if self.weekly_anchor.is_some() && self.interval != PayoutInterval::Weekly {
            return Err(DomainError::validation(
                "weekly_anchor",
                "weekly_anchor only applies to a weekly schedule",
            ));
        }
        if self.monthly_anchor.is_some() && self.interval != PayoutInterval::Monthly {
            return Err(DomainError::validation(
                "monthly_anchor",
                "monthly_anchor only applies to a monthly schedule",
            ));
        }
        if self.delay_days.is_some_and(|d| d > MAX_PAYOUT_DELAY_DAYS) {
            return Err(DomainError::validation(
                "delay_days",
                format!("delay_days must be at most {MAX_PAYOUT_DELAY_DAYS}"),
            ));
        }
        Ok(())
    }

    /// Stripe's default for an account that shows none: daily.
    pub fn daily() -> Self {
        PayoutSchedule {
            interval: PayoutInterval::Daily,
            delay_days: None,
            weekly_anchor: None,
            monthly_anchor: None,
        }
    }
}

/// The share of the application fee a refund gives back: Stripe refunds
/// the fee in proportion to the part of the captured amount refunded,
/// `fee × refunded / captured`, rounded down so the platform never gives
/// back more than it took. A payment with nothing captured refunds no fee.
///
/// # Errors
/// [`MoneyError`] on a currency mismatch or an overflow (never a silent 0).
pub fn fee_share_refunded(
    fee: Money,
    refunded: Money,
    captured: Money,
) -> Result<Money, MoneyError> {
    if fee.currency() != refunded.currency() || fee.currency() != captured.currency() {
        return Err(MoneyError::CurrencyMismatch {
            left: fee.currency(),
            right: refunded.currency(),
        });
    }
    if !captured.is_positive() {
        return Ok(Money::zero(fee.currency()));
    }
    let share = fee.mul_ratio(
        refunded.amount_minor(),
        captured.amount_minor(),
        Rounding::Down,
    )?;
    // A refund larger than what was captured is Stripe's to refuse; the
    // share never exceeds the fee itself.
    Ok(if share.amount_minor() > fee.amount_minor() {
        fee
    } else {
        share
    })
}

/// Who asks: the platform (every account) or one merchant (its own
/// accounts only). Another merchant's object is reported as not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A platform operator.
    Platform,
    /// A merchant's staff.
    Merchant(crate::ids::MerchantId),
}

impl Caller {
    /// The merchant, for a merchant caller.
    pub fn merchant(&self) -> Option<&crate::ids::MerchantId> {
        match self {
            Caller::Platform => None,
            Caller::Merchant(m) => Some(m),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    #[test]
    fn account_status_has_one_rule() {
        use AccountStatus::*;
        assert_eq!(
            AccountStatus::derive(false, false, false, None, false),
            Pending
        );
        assert_eq!(
            AccountStatus::derive(false, false, false, Some("requirements.past_due"), true),
            Pending
        );
        assert_eq!(AccountStatus::derive(true, true, true, None, false), Active);
        assert_eq!(
            AccountStatus::derive(true, true, false, None, false),
            Restricted
        );
        assert_eq!(
            AccountStatus::derive(true, true, true, None, true),
            Restricted
        );
        assert_eq!(
            AccountStatus::derive(true, false, false, Some("requirements.past_due"), false),
            Restricted
        );
        assert_eq!(
            AccountStatus::derive(true, false, false, Some("rejected.fraud"), false),
            Disabled
        );
        assert_eq!(
            AccountStatus::derive(false, false, false, Some("platform_paused"), false),
            Disabled
        );
    }

    #[test]
    fn schedules_are_validated() {
        let mut s = PayoutSchedule::daily();
        assert!(s.validate().is_ok());
        s.interval = PayoutInterval::Weekly;
        assert!(s.validate().is_err());
        s.weekly_anchor = Some(Weekday::Friday);
        assert!(s.validate().is_ok());
        s.monthly_anchor = Some(3);
        assert!(s.validate().is_err());
        let monthly = PayoutSchedule {
            interval: PayoutInterval::Monthly,
            delay_days: Some(2),
            weekly_anchor: None,
            monthly_anchor: Some(32),
        };
        assert!(monthly.validate().is_err());
        let unknown = PayoutSchedule {
            interval: PayoutInterval::Unknown,
            ..PayoutSchedule::daily()
        };
        assert!(unknown.validate().is_err());
        let slow = PayoutSchedule {
            delay_days: Some(366),
            ..PayoutSchedule::daily()
        };
        assert!(slow.validate().is_err());
    }

    #[test]
    fn fee_share_is_proportional_rounded_down_and_checked() {
        let usd = |a| Money::new(a, Currency::USD);
        assert_eq!(
            fee_share_refunded(usd(70), usd(1_000), usd(2_500)).ok(),
            Some(usd(28))
        );
        assert_eq!(
            fee_share_refunded(usd(70), usd(999), usd(2_500)).ok(),
            Some(usd(27))
        );
        assert_eq!(
            fee_share_refunded(usd(70), usd(2_500), usd(2_500)).ok(),
            Some(usd(70))
        );
        assert_eq!(
            fee_share_refunded(usd(70), usd(10), usd(0)).ok(),
            Some(usd(0))
        );
        // An overflow is an error, never a silent 0.
        assert_eq!(
            fee_share_refunded(usd(i64::MAX), usd(i64::MAX), usd(1)),
            Err(MoneyError::Overflow)
        );
        assert!(fee_share_refunded(usd(70), Money::new(10, Currency::EUR), usd(100)).is_err());
    }

    #[test]
    fn client_secrets_are_redacted_in_debug_but_serialized() {
        let s = ClientSecret::new("pi_1_secret_abc".to_owned());
        assert!(!format!("{s:?}").contains("abc"));
        assert_eq!(
            serde_json::to_string(&s).ok().as_deref(),
            Some("\"pi_1_secret_abc\"")
        );
    }

    #[test]
    fn evidence_accepts_the_seed_shape_and_refuses_unknown_keys() {
        let e: Result<DisputeEvidence, _> = serde_json::from_value(serde_json::json!({
            "customer_name": "John Doe",
            "customer_email": "john@example.com",
            "receipt": "file_abc123",
        }));
        assert_eq!(
            e.ok().and_then(|e| e.customer_email_address).as_deref(),
            Some("john@example.com")
        );
        assert!(
            serde_json::from_value::<DisputeEvidence>(serde_json::json!({"colour": "red"}))
                .is_err()
        );
        let r: Result<RefundReason, _> = serde_json::from_str("\"customer_request\"");
        assert_eq!(r.ok(), Some(RefundReason::RequestedByCustomer));
    }
}
