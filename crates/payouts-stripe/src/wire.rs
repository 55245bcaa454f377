//! Private response DTOs: only the fields the adapter maps, each optional
//! or defaulted where Stripe may leave it out, so a field Stripe adds or
//! drops in a later API version cannot fail a call whose effect (a
//! transfer, a refund) has already happened. Requests are built by
//! async-stripe's typed builders; these never leave the crate.

use std::collections::{BTreeMap, HashMap};

use payouts_domain::money::{Currency, Money};
use payouts_domain::ports::GatewayError;
use serde::Deserialize;
use time::OffsetDateTime;

use crate::error::unreadable;

/// An expandable field: an id, or the object carrying it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub(crate) enum IdOrObject {
    Id(String),
    Object { id: String },
}

impl IdOrObject {
    pub(crate) fn id(&self) -> &str {
        match self {
            IdOrObject::Id(id) | IdOrObject::Object { id } => id,
        }
    }
}

pub(crate) fn id_of(field: Option<&IdOrObject>) -> Option<String> {
    field.map(|f| f.id().to_owned())
}

pub(crate) type Metadata = HashMap<String, String>;

#[derive(Debug, Deserialize)]
pub(crate) struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Transfer {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub amount_reversed: i64,
    #[serde(default)]
    pub reversed: bool,
    pub destination: Option<IdOrObject>,
    #[serde(default)]
    pub transfer_group: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub metadata: Metadata,
    #[serde(default)]
    pub created: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransferReversal {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub transfer: IdOrObject,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Requirements {
    #[serde(default)]
    pub currently_due: Vec<String>,
    #[serde(default)]
    pub eventually_due: Vec<String>,
    #[serde(default)]
    pub past_due: Vec<String>,
    #[serde(default)]
    pub disabled_reason: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BusinessProfile {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub mcc: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub support_email: Option<String>,
    #[serde(default)]
    pub support_phone: Option<String>,
    #[serde(default)]
    pub support_url: Option<String>,
    #[serde(default)]
    pub product_description: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Schedule {
    #[serde(default)]
    pub delay_days: Option<u32>,
    #[serde(default)]
    pub interval: Option<String>,
    #[serde(default)]
    pub weekly_anchor: Option<String>,
    #[serde(default)]
    pub monthly_anchor: Option<u8>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct PayoutSettings {
    #[serde(default)]
    pub schedule: Option<Schedule>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct Settings {
    #[serde(default)]
    pub payouts: Option<PayoutSettings>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Account {
    pub id: String,
    #[serde(rename = "type", default)]
    pub account_type: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub business_type: Option<String>,
    #[serde(default)]
    pub details_submitted: bool,
    #[serde(default)]
    pub charges_enabled: bool,
    #[serde(default)]
    pub payouts_enabled: bool,
    #[serde(default)]
    pub capabilities: BTreeMap<String, String>,
    #[serde(default)]
    pub requirements: Option<Requirements>,
    #[serde(default)]
    pub business_profile: Option<BusinessProfile>,
    #[serde(default)]
    pub settings: Option<Settings>,
    #[serde(default)]
    pub metadata: Metadata,
}

/// One external account of a connected account: a bank account or a debit
/// card (`object`); only bank accounts carry what is compared here.
#[derive(Debug, Deserialize)]
pub(crate) struct ExternalAccount {
    pub object: String,
    #[serde(default)]
    pub fingerprint: Option<String>,
    #[serde(default)]
    pub default_for_currency: Option<bool>,
}

/// A page of `GET /v1/accounts/{id}/external_accounts`.
#[derive(Debug, Deserialize)]
pub(crate) struct ExternalAccountList {
    pub data: Vec<ExternalAccount>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Link {
    pub url: String,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct TransferData {
    pub destination: IdOrObject,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub amount_received: i64,
    #[serde(default)]
    pub amount_capturable: i64,
    #[serde(default)]
    pub application_fee_amount: Option<i64>,
    #[serde(default)]
    pub transfer_data: Option<TransferData>,
    #[serde(default)]
    pub client_secret: Option<String>,
    #[serde(default)]
    pub latest_charge: Option<IdOrObject>,
    #[serde(default)]
    pub metadata: Metadata,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub payment_intent: Option<IdOrObject>,
    #[serde(default)]
    pub charge: Option<IdOrObject>,
    #[serde(default)]
    pub transfer_reversal: Option<IdOrObject>,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Payout {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub arrival_date: Option<i64>,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub destination: Option<IdOrObject>,
    #[serde(default)]
    pub created: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Amount {
    pub amount: i64,
    pub currency: String,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Balance {
    #[serde(default)]
    pub available: Vec<Amount>,
    #[serde(default)]
    pub pending: Vec<Amount>,
    #[serde(default)]
    pub connect_reserved: Vec<Amount>,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct EvidenceDetails {
    #[serde(default)]
    pub due_by: Option<i64>,
    #[serde(default)]
    pub submission_count: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default)]
    pub charge: Option<IdOrObject>,
    #[serde(default)]
    pub payment_intent: Option<IdOrObject>,
    pub reason: String,
    pub status: String,
    #[serde(default)]
    pub evidence_details: Option<EvidenceDetails>,
    #[serde(default)]
    pub created: i64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct PromotionCode {
    pub id: String,
    #[serde(default)]
    pub active: bool,
}

#[derive(Debug, Deserialize)]
pub(crate) struct OAuthToken {
    pub stripe_user_id: String,
    pub scope: String,
    #[serde(default)]
    pub livemode: bool,
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct OAuthError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

// ---------------------------------------------------------------- mapping helpers

/// Minor units plus Stripe's lower-case currency.
pub(crate) fn money(amount: i64, currency: &str, what: &str) -> Result<Money, GatewayError> {
    Currency::parse(currency)
        .map(|c| Money::new(amount, c))
        .map_err(|e| unreadable(what, e))
}

/// A Unix timestamp.
pub(crate) fn timestamp(secs: i64, what: &str) -> Result<OffsetDateTime, GatewayError> {
    OffsetDateTime::from_unix_timestamp(secs).map_err(|e| unreadable(what, e))
}

/// A Stripe id parsed into a domain id type.
pub(crate) fn parse_id<T, E: std::fmt::Display>(
    parsed: Result<T, E>,
    what: &str,
) -> Result<T, GatewayError> {
    parsed.map_err(|e| unreadable(what, e))
}
