//! Ready-made domain values for store tests: fixed ids and whole-second
//! times, so a value read back from any store compares equal.

use rust_decimal::Decimal;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use crate::batch::{BatchState, CarryOver, CarryReason, PayoutBatch};
use crate::commission::{AttributedBy, Commission, CommissionKind, CommissionState, Conversion};
use crate::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use crate::ids::{
    AccountId, BatchId, CommissionId, ConversionId, ExternalId, MembershipId, MerchantId,
    NotificationId, PartnerId, PayoutItemId, ProductId, ProgramId, ReferralKey, StateToken,
};
use crate::item::{ItemState, PayoutItem};
use crate::money::{Currency, Money, Percent, Rounding};
use crate::notification::{Notification, NotificationKind, Recipient};
use crate::partner::{CapabilityStatus, Membership, MembershipStatus, OnboardingState};
use crate::period::Period;
use crate::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, Program, ProgramStatus,
};
use crate::reward::{
    AppliedRule, ConversionKind, FirstConversions, ProductRate, Tier, TierBasis, Tiers,
};

/// The instant fixtures are stamped with.
pub const T0: OffsetDateTime = datetime!(2026-01-10 12:00 UTC);

/// `n` US cents.
pub fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// A UUID made from a small number, readable in failures.
pub fn uuid(n: u128) -> Uuid {
    Uuid::from_u128(n)
}

/// `merchant_{n}`.
pub fn merchant(n: u32) -> MerchantId {
    MerchantId::parse(format!("merchant_{n}")).unwrap()
}

/// `acct_test{n}`.
pub fn account(n: u32) -> AccountId {
    AccountId::parse(format!("acct_test{n}")).unwrap()
}

/// A connected connection.
pub fn connection(merchant_id: MerchantId, account_id: AccountId) -> MerchantConnection {
    MerchantConnection {
        merchant_id,
        account_id,
        status: ConnectionStatus::Connected,
        granted_at: T0,
        scope: "read_write".into(),
        revoked_at: None,
    }
}

/// A fresh OAuth state.
pub fn oauth_state(n: u32, merchant_id: MerchantId) -> OAuthState {
    OAuthState::issue(
        StateToken::parse(format!("state{n:016}")).unwrap(),
        merchant_id,
        T0,
    )
}

/// An active USD program with a 20 % half-even rule and every field set.
pub fn program(id: u128, merchant_id: MerchantId) -> Program {
    Program {
        id: ProgramId::from_uuid(uuid(id)),
        merchant_id,
        name: "Partners".into(),
        currency: Currency::USD,
        commission_rule: CommissionRule {
            amount: CommissionAmount::Percent {
                percent: Percent::new(Decimal::new(125, 1)).unwrap(),
                rounding: Rounding::HalfEven,
            },
            recurring_months: Some(12),
            tiers: Some(Tiers {
                basis: TierBasis::Revenue,
                steps: vec![Tier {
                    from: 1_000_000,
                    amount: CommissionAmount::Percent {
                        percent: Percent::new(Decimal::from(15)).unwrap(),
                        rounding: Rounding::Up,
                    },
                }],
            }),
            first_conversions: Some(FirstConversions {
                count: 3,
                amount: CommissionAmount::Fixed { amount: usd(1_000) },
            }),
            products: vec![ProductRate {
                product_id: ProductId::parse("prod_annual").unwrap(),
                amount: CommissionAmount::Fixed { amount: usd(2_500) },
            }],
            lead: Some(usd(300)),
        },
        holding_days: 30,
        minimum_payout: usd(5_000),
        minimum_payouts: std::collections::BTreeMap::from([
            (Currency::EUR, 1_000),
            (Currency::USD, 0),
        ]),
        payout_policy: PayoutPolicy::AutoUnderCap { cap: usd(100_000) },
        coupon_sync: CouponSyncMode::Stripe,
        payout_countries: vec![
            crate::crossborder::PayoutCountry::US,
            crate::crossborder::PayoutCountry::parse("DE").unwrap(),
        ],
        status: ProgramStatus::Active,
        hold: None,
        created_at: T0,
    }
}

/// An onboarded membership.
pub fn membership(id: u128, program: &Program, key: &str) -> Membership {
    Membership {
        bank_fingerprint: None,
        id: MembershipId::from_uuid(uuid(id)),
        partner_id: PartnerId::from_uuid(uuid(id + 1_000)),
        program_id: program.id,
        merchant_id: program.merchant_id.clone(),
        email: format!("{key}@example.com"),
        country: "US".into(),
        account_id: Some(AccountId::parse(format!("acct_partner{id}")).unwrap()),
        service_agreement: Some(crate::crossborder::ServiceAgreement::Full),
        onboarding: OnboardingState {
            details_submitted: true,
            payouts_enabled: true,
            transfers: CapabilityStatus::Active,
        },
        referral_key: ReferralKey::parse(key).unwrap(),
        status: MembershipStatus::Active,
        joined_at: T0,
    }
}

/// A conversion of `amount` attributed to `member` by referral.
pub fn conversion(
    id: u128,
    member: &Membership,
    external: &str,
    amount: Money,
    at: OffsetDateTime,
) -> Conversion {
    Conversion {
        customer_email: None,
        id: ConversionId::from_uuid(uuid(id)),
        merchant_id: member.merchant_id.clone(),
        program_id: member.program_id,
        membership_id: member.id,
        partner_id: member.partner_id,
        external_id: ExternalId::parse(external).unwrap(),
        amount,
        refunded: Money::zero(amount.currency()),
        cancelled: false,
        occurred_at: at,
        attributed_by: AttributedBy::Referral(member.referral_key.clone()),
        customer_ref: Some(format!("cus_{id}")),
        payment_ref: Some(format!("pi_{id}")),
        kind: ConversionKind::Sale,
        product_id: Some(ProductId::parse("prod_annual").unwrap()),
        corrected_commission: None,
        corrections: 0,
    }
}

/// A pending commission of `amount` earned by `conversion`, held 30 days.
pub fn commission(id: u128, conversion: &Conversion, amount: Money) -> Commission {
    Commission::earned(
        CommissionId::from_uuid(uuid(id)),
        conversion,
        amount,
        Some(AppliedRule::Base {
            rate: CommissionAmount::Percent {
                percent: Percent::new(Decimal::new(125, 1)).unwrap(),
                rounding: Rounding::HalfEven,
            },
        }),
        Duration::days(30),
    )
}

/// A finalized commission (at `at`) for `member`, in `period`, not linked to a conversion row.
pub fn finalized(
    id: u128,
    member: &Membership,
    amount: Money,
    period: &str,
    at: OffsetDateTime,
) -> Commission {
    let period = Period::parse(period).unwrap();
    Commission {
        id: CommissionId::from_uuid(uuid(id)),
        merchant_id: member.merchant_id.clone(),
        program_id: member.program_id,
        membership_id: member.id,
        partner_id: member.partner_id,
        conversion_id: ConversionId::from_uuid(uuid(id)),
        kind: CommissionKind::Earned,
        amount,
        original_amount: amount,
        state: CommissionState::Finalized { at },
        period,
        created_at: period.start(),
        hold_until: period.start(),
        payout_item_id: None,
        rule: None,
    }
}

/// A draft batch for `program` and `period` with the given totals.
pub fn batch(
    id: u128,
    program: &Program,
    period: &str,
    total: Money,
    item_count: u32,
) -> PayoutBatch {
    PayoutBatch {
        id: BatchId::from_uuid(uuid(id)),
        merchant_id: program.merchant_id.clone(),
        program_id: program.id,
        period: Period::parse(period).unwrap(),
        currency: program.currency,
        state: BatchState::Draft,
        total,
        fee_total: Money::zero(program.currency),
        item_count,
        carried: vec![CarryOver {
            membership_id: MembershipId::from_uuid(uuid(999)),
            partner_id: PartnerId::from_uuid(uuid(1_999)),
            amount: usd(-250),
            commission_count: 2,
            reason: CarryReason::NegativeBalance,
        }],
        manifest_hash: "0".repeat(64),
        as_of: T0 + Duration::days(60),
        approval: None,
        created_at: T0 + Duration::days(60),
        source_account: None,
    }
}

/// A pending item of `batch` paying `member` `amount`.
pub fn item(
    id: u128,
    batch: &PayoutBatch,
    member: &Membership,
    amount: Money,
    commission_count: u32,
) -> PayoutItem {
    PayoutItem {
        id: PayoutItemId::from_uuid(uuid(id)),
        batch_id: batch.id,
        merchant_id: batch.merchant_id.clone(),
        program_id: batch.program_id,
        membership_id: member.id,
        partner_id: member.partner_id,
        destination: member.account_id.clone().unwrap(),
        amount,
        fee: usd(30),
        commission_count,
        state: ItemState::Pending,
        lease: None,
        resends: 0,
        created_at: batch.created_at,
    }
}

/// A notification with a dedupe key.
pub fn notification(id: u128, merchant_id: &MerchantId, dedupe_key: &str) -> Notification {
    Notification {
        id: NotificationId::from_uuid(uuid(id)),
        merchant_id: merchant_id.clone(),
        kind: NotificationKind::PartnerPayoutSent,
        recipient: Recipient::Partner(PartnerId::from_uuid(uuid(id))),
        dedupe_key: dedupe_key.into(),
        payload: serde_json::json!({ "n": id.to_string() }),
        created_at: T0,
        delivery: crate::notification::DeliveryState::new_at(T0),
    }
}

/// The merchant admin the scenarios act as: a `tenant_admin` token's
/// subject, in the request `req_test`.
pub fn operator() -> crate::audit::Acting {
    crate::audit::Acting::new(
        crate::audit::Actor::user("ops@merchant.test", vec!["tenant_admin".to_owned()]),
        Some("req_test"),
    )
}
