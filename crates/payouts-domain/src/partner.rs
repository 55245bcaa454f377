//! Partners, their memberships in programs, Express onboarding state, and
//! coupon codes.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::crossborder::ServiceAgreement;
use crate::ids::{
    AccountId, CouponCode, MembershipId, MerchantId, PartnerId, ProgramId, PromotionCodeId,
    ReferralKey,
};

/// The status of a Stripe capability, as Stripe reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum CapabilityStatus {
    /// Not requested, or requested and not yet reviewed.
    #[default]
    Inactive,
    /// Requested; Stripe is verifying.
    Pending,
    /// Usable.
    Active,
    /// A status this version does not know. It never counts as usable.
    Unknown,
}

impl CapabilityStatus {
    /// Maps Stripe's wire value; anything unknown is [`CapabilityStatus::Unknown`].
    pub fn from_stripe(text: &str) -> Self {
        match text {
            "active" => CapabilityStatus::Active,
            "pending" => CapabilityStatus::Pending,
            "inactive" | "unrequested" => CapabilityStatus::Inactive,
            _ => CapabilityStatus::Unknown,
        }
    }

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CapabilityStatus::Inactive => "inactive",
            CapabilityStatus::Pending => "pending",
            CapabilityStatus::Active => "active",
            CapabilityStatus::Unknown => "unknown",
        }
    }
}

/// A partner's Express onboarding state, from `account.updated`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct OnboardingState {
    /// The partner finished the onboarding form.
    pub details_submitted: bool,
    /// Stripe will pay out to the partner's bank.
    pub payouts_enabled: bool,
    /// The `transfers` capability.
    pub transfers: CapabilityStatus,
}

impl OnboardingState {
    /// True when a transfer to this account will be accepted.
    pub fn can_receive_transfers(&self) -> bool {
        self.details_submitted && self.payouts_enabled && self.transfers == CapabilityStatus::Active
    }
}

/// Whether a membership is live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MembershipStatus {
    /// Earning commissions and receiving payouts.
    Active,
    /// Removed from the program; earns nothing new, still owed what it earned.
    Removed,
}

/// A partner's membership in one program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    /// Its id.
    pub id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// The program.
    pub program_id: ProgramId,
    /// The program's merchant (denormalised for tenant scoping).
    pub merchant_id: MerchantId,
    /// Contact address for notifications.
    pub email: String,
    /// ISO 3166-1 alpha-2 country, upper case (drives the US 1099 flag).
    pub country: String,
    /// The partner's Express account, once created.
    pub account_id: Option<AccountId>,
    /// The Stripe service agreement that account was created under; `None`
    /// until it exists. `recipient` accounts (cross-border partners) only
    /// receive transfers, and Stripe makes a transfer to them available
    /// 24 hours later than to a `full` account.
    pub service_agreement: Option<ServiceAgreement>,
    /// Onboarding state of that account.
    pub onboarding: OnboardingState,
    /// The key in the partner's referral link.
    pub referral_key: ReferralKey,
    /// Live or removed.
    pub status: MembershipStatus,
    /// When the partner joined.
    #[serde(with = "time::serde::rfc3339")]
    pub joined_at: OffsetDateTime,
    /// The Stripe `fingerprint` of the Express account's default bank
    /// account, as last read from Stripe: the same bank account has the
    /// same fingerprint at every account of the platform.
    #[serde(default)]
    pub bank_fingerprint: Option<String>,
}

impl Membership {
    /// True when a transfer can be sent to this partner now.
    pub fn can_receive_transfers(&self) -> bool {
        self.account_id.is_some() && self.onboarding.can_receive_transfers()
    }
}

/// A coupon code assigned to a partner. Unique per merchant, ignoring case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coupon {
    /// The code as written.
    pub code: CouponCode,
    /// The merchant it is unique within.
    pub merchant_id: MerchantId,
    /// The program it attributes to.
    pub program_id: ProgramId,
    /// The membership it attributes to.
    pub membership_id: MembershipId,
    /// The Stripe Promotion Code, when the program syncs codes to Stripe.
    pub promotion_code_id: Option<PromotionCodeId>,
    /// Inactive codes no longer attribute.
    pub active: bool,
    /// When assigned.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// Validates an e-mail address loosely: one `@`, something on both sides,
/// a dot in the domain, no spaces, at most 254 characters.
pub fn valid_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains('@')
        && email.len() <= 254
        && !email.chars().any(char::is_whitespace)
}

/// Validates an ISO 3166-1 alpha-2 country code (two ASCII letters).
pub fn valid_country(country: &str) -> bool {
    country.len() == 2 && country.chars().all(|c| c.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transfers_need_the_whole_onboarding() {
        let mut s = OnboardingState::default();
        assert!(!s.can_receive_transfers());
        s.details_submitted = true;
        s.payouts_enabled = true;
        s.transfers = CapabilityStatus::Pending;
        assert!(!s.can_receive_transfers());
        s.transfers = CapabilityStatus::Active;
        assert!(s.can_receive_transfers());
        assert_eq!(
            CapabilityStatus::from_stripe("something_new"),
            CapabilityStatus::Unknown
        );
    }

    #[test]
    fn email_and_country() {
        assert!(valid_email("sarah@example.com"));
        assert!(!valid_email("sarah@example"));
        assert!(!valid_email("sa rah@example.com"));
        assert!(valid_country("US"));
        assert!(!valid_country("us"));
        assert!(!valid_country("USA"));
    }
}
