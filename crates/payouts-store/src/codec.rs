//! Domain values to rows and back (`TryFrom<entity::Model>` for every
//! aggregate), plus the storage encodings of instants, periods and money.

use payouts_domain::batch::{BatchState, PayoutBatch};
use payouts_domain::commission::{
    AttributedBy, ChangeReason, Commission, CommissionKind, CommissionState, Conversion,
};
use payouts_domain::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use payouts_domain::endpoint::{EndpointUrl, PreviousSecret, SigningSecret, WebhookEndpoint};
use payouts_domain::events::DisputeRecord;
use payouts_domain::ids::{
    AccountId, BatchId, CommissionId, ConversionId, CouponCode, DeliveryId, DisputeId, ExternalId,
    MembershipId, MerchantId, NotificationId, PartnerId, PaymentIntentId, PayoutItemId, ProductId,
    ProgramId, PromotionCodeId, ReferralKey, StateToken, StripePayoutId, WebhookEndpointId,
    WorkerId,
};
use payouts_domain::item::{ItemState, Lease, PayoutItem};
use payouts_domain::notification::{
    AttemptStatus, DeliveryAttempt, DeliveryFailure, DeliveryState, Notification,
};
use payouts_domain::partner::{CapabilityStatus, Coupon, Membership, OnboardingState};
use payouts_domain::period::Period;
use payouts_domain::ports::{BankPayout, StoredDispute};
use payouts_domain::program::{Program, ProgramStatus};
use payouts_domain::reward::ConversionKind;
use payouts_domain::{Currency, Money, StoreError};
use sea_orm::{ActiveModelTrait, IntoActiveModel};
use serde::Serialize;
use serde::de::DeserializeOwned;
use time::{OffsetDateTime, UtcOffset};

use crate::entity;
use crate::error::corrupt;

// ---------------------------------------------------------------- scalars

/// An instant as stored: nanoseconds since the epoch (UTC). The `i64` range
/// covers 1677-09-21 to 2262-04-11; instants outside it are refused rather
/// than silently moved.
pub(crate) fn ts(at: OffsetDateTime) -> Result<i64, StoreError> {
    payouts_domain::ports::storable::instant(at)
}

/// An optional instant as stored.
pub(crate) fn ts_opt(at: Option<OffsetDateTime>) -> Result<Option<i64>, StoreError> {
    at.map(ts).transpose()
}

/// An instant used only as a comparison bound: clamped into range, which
/// keeps every comparison with a stored (in-range) instant correct.
pub(crate) fn ts_bound(at: OffsetDateTime) -> i64 {
    let nanos = at.unix_timestamp_nanos();
    i64::try_from(nanos).unwrap_or(if nanos < 0 { i64::MIN } else { i64::MAX })
}

/// A stored instant.
pub(crate) fn from_ts(ns: i64) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).map_err(|e| corrupt("instant", e))
}

/// An optional stored instant.
pub(crate) fn from_ts_opt(ns: Option<i64>) -> Result<Option<OffsetDateTime>, StoreError> {
    ns.map(from_ts).transpose()
}

/// A period as stored: `yyyymm`.
pub(crate) fn period_code(period: Period) -> i32 {
    period
        .year()
        .saturating_mul(100)
        .saturating_add(i32::from(period.month()))
}

/// A period to store in a row: refused unless [`period_from`] reads it back.
pub(crate) fn period_row(period: Period) -> Result<i32, StoreError> {
    payouts_domain::ports::storable::period(period).map(period_code)
}

/// A stored period.
pub(crate) fn period_from(code: i32) -> Result<Period, StoreError> {
    let month = u8::try_from(code.rem_euclid(100)).map_err(|e| corrupt("period", e))?;
    Period::new(code.div_euclid(100), month).map_err(|e| corrupt("period", e))
}

/// A stored currency.
pub(crate) fn currency(code: &str) -> Result<Currency, StoreError> {
    Currency::parse(code).map_err(|e| corrupt("currency", e))
}

/// The row currency of several amounts that must share it.
pub(crate) fn row_currency(what: &str, amounts: &[&Money]) -> Result<String, StoreError> {
    let mut iter = amounts.iter();
    let first = iter
        .next()
        .map(|m| m.currency())
        .ok_or_else(|| StoreError::Unavailable(format!("{what}: no amount")))?;
    if let Some(other) = iter.find(|m| m.currency() != first) {
        return Err(StoreError::Unavailable(format!(
            "{what}: amounts in {first} and {} cannot share a row",
            other.currency()
        )));
    }
    Ok(first.code().to_owned())
}

/// JSON text of a value object.
pub(crate) fn json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode a value: {e}")))
}

/// A value object from its stored JSON.
pub(crate) fn from_json<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(what, e))
}

/// The wire name of a unit enum variant (its serde name).
pub(crate) fn wire<T: Serialize>(value: &T) -> Result<String, StoreError> {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => Ok(s),
        Ok(other) => Err(StoreError::Unavailable(format!(
            "{other} is not a wire name"
        ))),
        Err(e) => Err(StoreError::Unavailable(format!(
            "cannot encode a value: {e}"
        ))),
    }
}

/// A unit enum variant from its stored wire name.
pub(crate) fn from_wire<T: DeserializeOwned>(what: &str, text: &str) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).map_err(|e| corrupt(what, e))
}

/// A row as an active model whose every column is set (for inserts and
/// whole-row updates).
pub(crate) fn active<A, M>(model: M) -> A
where
    A: ActiveModelTrait,
    M: IntoActiveModel<A>,
{
    model.into_active_model().reset_all()
}

fn parse<T, E: std::fmt::Display>(what: &str, r: Result<T, E>) -> Result<T, StoreError> {
    r.map_err(|e| corrupt(what, e))
}

// ---------------------------------------------------------------- connections

impl TryFrom<entity::merchant_connection::Model> for MerchantConnection {
    type Error = StoreError;
    fn try_from(m: entity::merchant_connection::Model) -> Result<Self, StoreError> {
        Ok(MerchantConnection {
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            account_id: parse("account id", AccountId::parse(m.account_id))?,
            status: ConnectionStatus::parse(&m.status)
                .ok_or_else(|| corrupt("connection status", &m.status))?,
            granted_at: from_ts(m.granted_at_ns)?,
            scope: m.scope,
            revoked_at: from_ts_opt(m.revoked_at_ns)?,
        })
    }
}

pub(crate) fn connection_row(
    c: &MerchantConnection,
) -> Result<entity::merchant_connection::Model, StoreError> {
    Ok(entity::merchant_connection::Model {
        merchant_id: c.merchant_id.to_string(),
        account_id: c.account_id.to_string(),
        status: c.status.as_str().to_owned(),
        granted_at_ns: ts(c.granted_at)?,
        scope: c.scope.clone(),
        revoked_at_ns: ts_opt(c.revoked_at)?,
    })
}

impl TryFrom<entity::oauth_state::Model> for OAuthState {
    type Error = StoreError;
    fn try_from(m: entity::oauth_state::Model) -> Result<Self, StoreError> {
        Ok(OAuthState {
            token: parse("state token", StateToken::parse(m.token))?,
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            issued_at: from_ts(m.issued_at_ns)?,
            used_at: from_ts_opt(m.used_at_ns)?,
        })
    }
}

pub(crate) fn oauth_row(s: &OAuthState) -> Result<entity::oauth_state::Model, StoreError> {
    Ok(entity::oauth_state::Model {
        token: s.token.to_string(),
        merchant_id: s.merchant_id.to_string(),
        issued_at_ns: ts(s.issued_at)?,
        used_at_ns: ts_opt(s.used_at)?,
    })
}

// ---------------------------------------------------------------- programs

/// The stored `(status, probation_until_ns)` of a program status.
pub(crate) fn program_status(status: &ProgramStatus) -> Result<(String, Option<i64>), StoreError> {
    Ok(match status {
        ProgramStatus::Active => ("active".to_owned(), None),
        ProgramStatus::Probation { until } => ("probation".to_owned(), Some(ts(*until)?)),
        ProgramStatus::Archived => ("archived".to_owned(), None),
    })
}

impl TryFrom<entity::program::Model> for Program {
    type Error = StoreError;
    fn try_from(m: entity::program::Model) -> Result<Self, StoreError> {
        let currency = currency(&m.currency)?;
        let status = match (m.status.as_str(), m.probation_until_ns) {
            ("active", None) => ProgramStatus::Active,
            ("probation", Some(until)) => ProgramStatus::Probation {
                until: from_ts(until)?,
            },
            ("archived", None) => ProgramStatus::Archived,
            (other, _) => return Err(corrupt("program status", other)),
        };
        Ok(Program {
            id: ProgramId::from_uuid(m.id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            name: m.name,
            currency,
            commission_rule: from_json("commission rule", &m.commission_rule)?,
            holding_days: parse("holding days", u16::try_from(m.holding_days))?,
            minimum_payout: Money::new(m.minimum_payout_minor, currency),
            minimum_payouts: from_json("minimum payouts", &m.minimum_payouts)?,
            payout_policy: from_json("payout policy", &m.payout_policy)?,
            coupon_sync: from_wire("coupon sync mode", &m.coupon_sync)?,
            payout_countries: from_json("payout countries", &m.payout_countries)?,
            status,
            hold: m
                .hold
                .as_deref()
                .map(|h| from_wire("hold reason", h))
                .transpose()?,
            created_at: from_ts(m.created_at_ns)?,
        })
    }
}

pub(crate) fn program_row(p: &Program) -> Result<entity::program::Model, StoreError> {
    let (status, probation_until_ns) = program_status(&p.status)?;
    Ok(entity::program::Model {
        id: p.id.as_uuid(),
        merchant_id: p.merchant_id.to_string(),
        name: p.name.clone(),
        currency: row_currency("program", &[&p.minimum_payout]).and_then(|c| {
            if c == p.currency.code() {
                Ok(c)
            } else {
                Err(StoreError::Unavailable(format!(
                    "program: minimum payout in {c}, program in {}",
                    p.currency
                )))
            }
        })?,
        commission_rule: json(&p.commission_rule)?,
        holding_days: i32::from(p.holding_days),
        minimum_payout_minor: p.minimum_payout.amount_minor(),
        minimum_payouts: json(&p.minimum_payouts)?,
        payout_policy: json(&p.payout_policy)?,
        coupon_sync: p.coupon_sync.as_str().to_owned(),
        payout_countries: json(&p.payout_countries)?,
        status,
        probation_until_ns,
        hold: p.hold.map(|h| h.as_str().to_owned()),
        created_at_ns: ts(p.created_at)?,
    })
}

// ---------------------------------------------------------------- partners

impl TryFrom<entity::membership::Model> for Membership {
    type Error = StoreError;
    fn try_from(m: entity::membership::Model) -> Result<Self, StoreError> {
        Ok(Membership {
            id: MembershipId::from_uuid(m.id),
            partner_id: PartnerId::from_uuid(m.partner_id),
            program_id: ProgramId::from_uuid(m.program_id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            email: m.email,
            country: m.country,
            account_id: m
                .account_id
                .map(|a| parse("account id", AccountId::parse(a)))
                .transpose()?,
            service_agreement: m
                .service_agreement
                .as_deref()
                .map(|a| from_wire("service agreement", a))
                .transpose()?,
            onboarding: OnboardingState {
                details_submitted: m.details_submitted,
                payouts_enabled: m.payouts_enabled,
                transfers: from_wire::<CapabilityStatus>("capability", &m.transfers_capability)?,
            },
            referral_key: parse("referral key", ReferralKey::parse(m.referral_key))?,
            status: from_wire("membership status", &m.status)?,
            joined_at: from_ts(m.joined_at_ns)?,
            bank_fingerprint: m.bank_fingerprint,
        })
    }
}

pub(crate) fn membership_row(m: &Membership) -> Result<entity::membership::Model, StoreError> {
    Ok(entity::membership::Model {
        id: m.id.as_uuid(),
        partner_id: m.partner_id.as_uuid(),
        program_id: m.program_id.as_uuid(),
        merchant_id: m.merchant_id.to_string(),
        email: m.email.clone(),
        country: m.country.clone(),
        account_id: m.account_id.as_ref().map(ToString::to_string),
        service_agreement: m.service_agreement.map(|a| a.as_str().to_owned()),
        details_submitted: m.onboarding.details_submitted,
        payouts_enabled: m.onboarding.payouts_enabled,
        transfers_capability: m.onboarding.transfers.as_str().to_owned(),
        referral_key: m.referral_key.to_string(),
        status: wire(&m.status)?,
        joined_at_ns: ts(m.joined_at)?,
        bank_fingerprint: m.bank_fingerprint.clone(),
    })
}

impl TryFrom<entity::coupon::Model> for Coupon {
    type Error = StoreError;
    fn try_from(m: entity::coupon::Model) -> Result<Self, StoreError> {
        Ok(Coupon {
            code: parse("coupon code", CouponCode::parse(m.code))?,
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            program_id: ProgramId::from_uuid(m.program_id),
            membership_id: MembershipId::from_uuid(m.membership_id),
            promotion_code_id: m
                .promotion_code_id
                .map(|p| parse("promotion code id", PromotionCodeId::parse(p)))
                .transpose()?,
            active: m.active,
            created_at: from_ts(m.created_at_ns)?,
        })
    }
}

pub(crate) fn coupon_row(c: &Coupon) -> Result<entity::coupon::Model, StoreError> {
    Ok(entity::coupon::Model {
        merchant_id: c.merchant_id.to_string(),
        code_normalized: c.code.normalized(),
        code: c.code.to_string(),
        program_id: c.program_id.as_uuid(),
        membership_id: c.membership_id.as_uuid(),
        promotion_code_id: c.promotion_code_id.as_ref().map(ToString::to_string),
        active: c.active,
        created_at_ns: ts(c.created_at)?,
    })
}

impl TryFrom<entity::bank_payout::Model> for BankPayout {
    type Error = StoreError;
    fn try_from(m: entity::bank_payout::Model) -> Result<Self, StoreError> {
        Ok(BankPayout {
            payout_id: parse("payout id", StripePayoutId::parse(m.payout_id))?,
            account_id: parse("account id", AccountId::parse(m.account_id))?,
            amount: Money::new(m.amount_minor, currency(&m.currency)?),
            status: m.status,
            failure_code: m.failure_code,
            arrival_date: from_ts_opt(m.arrival_date_ns)?,
            updated_at: from_ts(m.updated_at_ns)?,
        })
    }
}

pub(crate) fn bank_payout_row(p: &BankPayout) -> Result<entity::bank_payout::Model, StoreError> {
    Ok(entity::bank_payout::Model {
        payout_id: p.payout_id.to_string(),
        account_id: p.account_id.to_string(),
        currency: p.amount.currency().code().to_owned(),
        amount_minor: p.amount.amount_minor(),
        status: p.status.clone(),
        failure_code: p.failure_code.clone(),
        arrival_date_ns: ts_opt(p.arrival_date)?,
        updated_at_ns: ts(p.updated_at)?,
    })
}

impl TryFrom<entity::dispute::Model> for StoredDispute {
    type Error = StoreError;
    fn try_from(m: entity::dispute::Model) -> Result<Self, StoreError> {
        Ok(StoredDispute {
            account_id: m
                .account_id
                .map(|a| parse("account id", AccountId::parse(a)))
                .transpose()?,
            dispute: DisputeRecord {
                dispute_id: parse("dispute id", DisputeId::parse(m.dispute_id))?,
                payment_intent: m
                    .payment_intent
                    .map(|p| parse("payment intent id", PaymentIntentId::parse(p)))
                    .transpose()?,
                amount: Money::new(m.amount_minor, currency(&m.currency)?),
                reason: m.reason,
                status: m.status,
                evidence_due_by: from_ts_opt(m.evidence_due_by_ns)?,
            },
            updated_at: from_ts(m.updated_at_ns)?,
        })
    }
}

pub(crate) fn dispute_row(
    account: Option<&AccountId>,
    d: &DisputeRecord,
    at: OffsetDateTime,
) -> Result<entity::dispute::Model, StoreError> {
    Ok(entity::dispute::Model {
        dispute_id: d.dispute_id.to_string(),
        account_id: account.map(ToString::to_string),
        payment_intent: d.payment_intent.as_ref().map(ToString::to_string),
        currency: d.amount.currency().code().to_owned(),
        amount_minor: d.amount.amount_minor(),
        reason: d.reason.clone(),
        status: d.status.clone(),
        evidence_due_by_ns: ts_opt(d.evidence_due_by)?,
        updated_at_ns: ts(at)?,
    })
}

// ---------------------------------------------------------------- conversions and commissions

impl TryFrom<entity::conversion::Model> for Conversion {
    type Error = StoreError;
    fn try_from(m: entity::conversion::Model) -> Result<Self, StoreError> {
        let cur = currency(&m.currency)?;
        let attributed_by = match m.attributed_via.as_str() {
            "coupon" => {
                AttributedBy::Coupon(parse("coupon code", CouponCode::parse(m.attributed_key))?)
            }
            "referral" => {
                AttributedBy::Referral(parse("referral key", ReferralKey::parse(m.attributed_key))?)
            }
            other => return Err(corrupt("attribution", other)),
        };
        Ok(Conversion {
            id: ConversionId::from_uuid(m.id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            program_id: ProgramId::from_uuid(m.program_id),
            membership_id: MembershipId::from_uuid(m.membership_id),
            partner_id: PartnerId::from_uuid(m.partner_id),
            external_id: parse("external id", ExternalId::parse(m.external_id))?,
            amount: Money::new(m.amount_minor, cur),
            refunded: Money::new(m.refunded_minor, cur),
            cancelled: m.cancelled,
            occurred_at: from_ts(m.occurred_at_ns)?,
            attributed_by,
            customer_ref: m.customer_ref,
            payment_ref: m.payment_ref,
            kind: ConversionKind::parse(&m.kind)
                .ok_or_else(|| corrupt("conversion kind", &m.kind))?,
            product_id: m
                .product_id
                .map(|p| parse("product id", ProductId::parse(p)))
                .transpose()?,
            corrected_commission: m.corrected_commission_minor.map(|v| Money::new(v, cur)),
            corrections: u32::try_from(m.corrections)
                .map_err(|_| corrupt("correction count", m.corrections))?,
            customer_email: m.customer_email,
        })
    }
}

pub(crate) fn conversion_row(c: &Conversion) -> Result<entity::conversion::Model, StoreError> {
    let (via, key) = match &c.attributed_by {
        AttributedBy::Coupon(code) => ("coupon", code.to_string()),
        AttributedBy::Referral(key) => ("referral", key.to_string()),
    };
    Ok(entity::conversion::Model {
        id: c.id.as_uuid(),
        merchant_id: c.merchant_id.to_string(),
        program_id: c.program_id.as_uuid(),
        membership_id: c.membership_id.as_uuid(),
        partner_id: c.partner_id.as_uuid(),
        external_id: c.external_id.to_string(),
        currency: row_currency(
            "conversion",
            &[&c.amount, &c.refunded]
                .into_iter()
                .chain(c.corrected_commission.as_ref())
                .collect::<Vec<_>>(),
        )?,
        amount_minor: c.amount.amount_minor(),
        refunded_minor: c.refunded.amount_minor(),
        cancelled: c.cancelled,
        occurred_at_ns: ts(c.occurred_at)?,
        attributed_via: via.to_owned(),
        attributed_key: key,
        customer_ref: c.customer_ref.clone(),
        payment_ref: c.payment_ref.clone(),
        kind: c.kind.as_str().to_owned(),
        product_id: c.product_id.as_ref().map(ToString::to_string),
        corrected_commission_minor: c.corrected_commission.map(|m| m.amount_minor()),
        corrections: i64::from(c.corrections),
        customer_email: c.customer_email.clone(),
    })
}

/// A commission state's stored columns: `(state, state_at_ns, void_reason,
/// hold_reason)`.
pub(crate) type CommissionStateColumns =
    (&'static str, Option<i64>, Option<String>, Option<String>);

/// The stored columns of a commission state; `state_at_ns` is when it was
/// finalized, voided or held.
pub(crate) fn commission_state(
    state: &CommissionState,
) -> Result<CommissionStateColumns, StoreError> {
    Ok(match state {
        CommissionState::Pending => ("pending", None, None, None),
        CommissionState::OnHold { reason, since } => (
            "on_hold",
            Some(ts(*since)?),
            None,
            Some(reason.as_str().to_owned()),
        ),
        CommissionState::Finalized { at } => ("finalized", Some(ts(*at)?), None, None),
        CommissionState::Voided { at, reason } => (
            "voided",
            Some(ts(*at)?),
            Some(reason.as_str().to_owned()),
            None,
        ),
    })
}

impl TryFrom<entity::commission::Model> for Commission {
    type Error = StoreError;
    fn try_from(m: entity::commission::Model) -> Result<Self, StoreError> {
        let cur = currency(&m.currency)?;
        let kind = match (m.kind.as_str(), m.corrects_id, m.change_reason.as_deref()) {
            ("earned", None, None) => CommissionKind::Earned,
            ("adjustment", Some(corrects), Some(reason)) => CommissionKind::Adjustment {
                corrects: CommissionId::from_uuid(corrects),
                reason: from_wire::<ChangeReason>("change reason", reason)?,
            },
            (other, _, _) => return Err(corrupt("commission kind", other)),
        };
        let state = match (
            m.state.as_str(),
            m.state_at_ns,
            m.void_reason.as_deref(),
            m.hold_reason.as_deref(),
        ) {
            ("pending", None, None, None) => CommissionState::Pending,
            ("on_hold", Some(since), None, Some(reason)) => CommissionState::OnHold {
                reason: from_wire("hold reason", reason)?,
                since: from_ts(since)?,
            },
            ("finalized", Some(at), None, None) => CommissionState::Finalized { at: from_ts(at)? },
            ("voided", Some(at), Some(reason), None) => CommissionState::Voided {
                at: from_ts(at)?,
                reason: from_wire("void reason", reason)?,
            },
            (other, _, _, _) => return Err(corrupt("commission state", other)),
        };
        Ok(Commission {
            id: CommissionId::from_uuid(m.id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            program_id: ProgramId::from_uuid(m.program_id),
            membership_id: MembershipId::from_uuid(m.membership_id),
            partner_id: PartnerId::from_uuid(m.partner_id),
            conversion_id: ConversionId::from_uuid(m.conversion_id),
            kind,
            amount: Money::new(m.amount_minor, cur),
            original_amount: Money::new(m.original_amount_minor, cur),
            state,
            period: period_from(m.period)?,
            created_at: from_ts(m.created_at_ns)?,
            hold_until: from_ts(m.hold_until_ns)?,
            payout_item_id: m.payout_item_id.map(PayoutItemId::from_uuid),
            rule: m
                .rule
                .as_deref()
                .map(|r| from_json("commission rule", r))
                .transpose()?,
        })
    }
}

pub(crate) fn commission_row(c: &Commission) -> Result<entity::commission::Model, StoreError> {
    let (kind, corrects_id, change_reason) = match c.kind {
        CommissionKind::Earned => ("earned", None, None),
        CommissionKind::Adjustment { corrects, reason } => (
            "adjustment",
            Some(corrects.as_uuid()),
            Some(reason.as_str().to_owned()),
        ),
    };
    let (state, state_at_ns, void_reason, hold_reason) = commission_state(&c.state)?;
    Ok(entity::commission::Model {
        id: c.id.as_uuid(),
        merchant_id: c.merchant_id.to_string(),
        program_id: c.program_id.as_uuid(),
        membership_id: c.membership_id.as_uuid(),
        partner_id: c.partner_id.as_uuid(),
        conversion_id: c.conversion_id.as_uuid(),
        kind: kind.to_owned(),
        corrects_id,
        change_reason,
        currency: row_currency("commission", &[&c.amount, &c.original_amount])?,
        amount_minor: c.amount.amount_minor(),
        original_amount_minor: c.original_amount.amount_minor(),
        state: state.to_owned(),
        state_at_ns,
        void_reason,
        hold_reason,
        period: period_row(c.period)?,
        created_at_ns: ts(c.created_at)?,
        hold_until_ns: ts(c.hold_until)?,
        payout_item_id: c.payout_item_id.map(|i| i.as_uuid()),
        rule: c.rule.as_ref().map(json).transpose()?,
    })
}

// ---------------------------------------------------------------- batches and items

impl TryFrom<entity::batch::Model> for PayoutBatch {
    type Error = StoreError;
    fn try_from(m: entity::batch::Model) -> Result<Self, StoreError> {
        let cur = currency(&m.currency)?;
        Ok(PayoutBatch {
            id: BatchId::from_uuid(m.id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            program_id: ProgramId::from_uuid(m.program_id),
            period: period_from(m.period)?,
            currency: cur,
            state: BatchState::parse(&m.state).ok_or_else(|| corrupt("batch state", &m.state))?,
            total: Money::new(m.total_minor, cur),
            fee_total: Money::new(m.fee_total_minor, cur),
            item_count: parse("item count", u32::try_from(m.item_count))?,
            carried: from_json("carry-overs", &m.carried)?,
            manifest_hash: m.manifest_hash,
            as_of: from_ts(m.as_of_ns)?,
            approval: m
                .approval
                .as_deref()
                .map(|a| from_json("approval", a))
                .transpose()?,
            created_at: from_ts(m.created_at_ns)?,
            source_account: m
                .source_account
                .map(|a| parse("source account", AccountId::parse(a)))
                .transpose()?,
        })
    }
}

pub(crate) fn batch_row(b: &PayoutBatch) -> Result<entity::batch::Model, StoreError> {
    let cur = row_currency("batch", &[&b.total, &b.fee_total])?;
    if cur != b.currency.code() {
        return Err(StoreError::Unavailable(format!(
            "batch: totals in {cur}, batch in {}",
            b.currency
        )));
    }
    Ok(entity::batch::Model {
        id: b.id.as_uuid(),
        merchant_id: b.merchant_id.to_string(),
        program_id: b.program_id.as_uuid(),
        period: period_row(b.period)?,
        currency: cur,
        state: b.state.as_str().to_owned(),
        total_minor: b.total.amount_minor(),
        fee_total_minor: b.fee_total.amount_minor(),
        item_count: i64::from(b.item_count),
        carried: json(&b.carried)?,
        manifest_hash: b.manifest_hash.clone(),
        as_of_ns: ts(b.as_of)?,
        approval: b.approval.as_ref().map(json).transpose()?,
        created_at_ns: ts(b.created_at)?,
        source_account: b.source_account.as_ref().map(ToString::to_string),
    })
}

fn utc(at: OffsetDateTime) -> OffsetDateTime {
    at.to_offset(UtcOffset::UTC)
}

/// The state with every instant in UTC, so that equal states always have
/// the same JSON text (compare-and-set compares that text).
fn canonical_state(state: &ItemState) -> ItemState {
    match state.clone() {
        ItemState::Pending => ItemState::Pending,
        ItemState::Submitting {
            attempt,
            key,
            since,
        } => ItemState::Submitting {
            attempt,
            key,
            since: utc(since),
        },
        ItemState::ReconcileRequired {
            attempt,
            key,
            since,
        } => ItemState::ReconcileRequired {
            attempt,
            key,
            since: utc(since),
        },
        ItemState::Posted {
            attempt,
            transfer_id,
            at,
        } => ItemState::Posted {
            attempt,
            transfer_id,
            at: utc(at),
        },
        ItemState::Failed {
            attempt,
            failure,
            retry_at,
            escalated,
        } => ItemState::Failed {
            attempt,
            failure,
            retry_at: retry_at.map(utc),
            escalated,
        },
        ItemState::Reversed {
            attempt,
            transfer_id,
            reversal_id,
            amount_reversed,
            posted_at,
            at,
        } => ItemState::Reversed {
            attempt,
            transfer_id,
            reversal_id,
            amount_reversed,
            posted_at: utc(posted_at),
            at: utc(at),
        },
    }
}

/// The stored columns of an item state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateColumns {
    pub(crate) state: &'static str,
    pub(crate) attempt: i64,
    pub(crate) detail: String,
    pub(crate) retry_at_ns: Option<i64>,
    pub(crate) failure_kind: Option<String>,
    pub(crate) transfer_id: Option<String>,
    pub(crate) amount_reversed_minor: Option<i64>,
}

/// Refuses a reversal in another currency than the item's (one currency per row).
pub(crate) fn check_state_currency(state: &ItemState, item: Currency) -> Result<(), StoreError> {
    match state {
        ItemState::Reversed {
            amount_reversed, ..
        } if amount_reversed.currency() != item => Err(StoreError::Unavailable(format!(
            "payout item: reversal in {}, item in {item}",
            amount_reversed.currency()
        ))),
        _ => Ok(()),
    }
}

/// Projects an item state onto its columns.
pub(crate) fn state_columns(state: &ItemState) -> Result<StateColumns, StoreError> {
    let (retry_at_ns, failure_kind, transfer_id, amount_reversed_minor) = match state {
        ItemState::Pending | ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. } => {
            (None, None, None, None)
        }
        ItemState::Posted { transfer_id, .. } => (None, None, Some(transfer_id.to_string()), None),
        ItemState::Failed {
            failure, retry_at, ..
        } => (
            ts_opt(*retry_at)?,
            Some(failure.kind.as_str().to_owned()),
            None,
            None,
        ),
        ItemState::Reversed {
            transfer_id,
            amount_reversed,
            ..
        } => (
            None,
            None,
            Some(transfer_id.to_string()),
            Some(amount_reversed.amount_minor()),
        ),
    };
    Ok(StateColumns {
        state: state.as_str(),
        attempt: i64::from(state.attempts()),
        detail: json(&canonical_state(state))?,
        retry_at_ns,
        failure_kind,
        transfer_id,
        amount_reversed_minor,
    })
}

impl TryFrom<entity::payout_item::Model> for PayoutItem {
    type Error = StoreError;
    fn try_from(m: entity::payout_item::Model) -> Result<Self, StoreError> {
        let cur = currency(&m.currency)?;
        let lease = match (m.lease_worker, m.lease_until_ns) {
            (Some(worker), Some(until)) => Some(Lease {
                worker: parse("worker id", WorkerId::parse(worker))?,
                until: from_ts(until)?,
            }),
            _ => None,
        };
        Ok(PayoutItem {
            id: PayoutItemId::from_uuid(m.id),
            batch_id: BatchId::from_uuid(m.batch_id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            program_id: ProgramId::from_uuid(m.program_id),
            membership_id: MembershipId::from_uuid(m.membership_id),
            partner_id: PartnerId::from_uuid(m.partner_id),
            destination: parse("account id", AccountId::parse(m.destination))?,
            amount: Money::new(m.amount_minor, cur),
            fee: Money::new(m.fee_minor, cur),
            commission_count: parse("commission count", u32::try_from(m.commission_count))?,
            state: from_json("payout item state", &m.state_detail)?,
            lease,
            resends: parse("resends", u32::try_from(m.resends))?,
            created_at: from_ts(m.created_at_ns)?,
        })
    }
}

pub(crate) fn item_row(i: &PayoutItem) -> Result<entity::payout_item::Model, StoreError> {
    let cur = row_currency("payout item", &[&i.amount, &i.fee])?;
    check_state_currency(&i.state, i.amount.currency())?;
    let s = state_columns(&i.state)?;
    Ok(entity::payout_item::Model {
        id: i.id.as_uuid(),
        batch_id: i.batch_id.as_uuid(),
        merchant_id: i.merchant_id.to_string(),
        program_id: i.program_id.as_uuid(),
        membership_id: i.membership_id.as_uuid(),
        partner_id: i.partner_id.as_uuid(),
        destination: i.destination.to_string(),
        currency: cur,
        amount_minor: i.amount.amount_minor(),
        fee_minor: i.fee.amount_minor(),
        commission_count: i64::from(i.commission_count),
        state: s.state.to_owned(),
        attempt: s.attempt,
        state_detail: s.detail,
        retry_at_ns: s.retry_at_ns,
        failure_kind: s.failure_kind,
        transfer_id: s.transfer_id,
        amount_reversed_minor: s.amount_reversed_minor,
        lease_worker: i.lease.as_ref().map(|l| l.worker.to_string()),
        lease_until_ns: i.lease.as_ref().map(|l| ts(l.until)).transpose()?,
        resends: i64::from(i.resends),
        created_at_ns: ts(i.created_at)?,
    })
}

// ---------------------------------------------------------------- outbox

/// A delivery state as stored on `notifications`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DeliveryColumns {
    pub(crate) state: &'static str,
    pub(crate) attempts: i64,
    pub(crate) next_attempt_at_ns: Option<i64>,
    pub(crate) since_ns: Option<i64>,
    pub(crate) last_error: Option<String>,
    pub(crate) last_status: Option<i32>,
    pub(crate) delivered_at_ns: Option<i64>,
    pub(crate) dead_at_ns: Option<i64>,
}

/// The columns of a delivery state.
pub(crate) fn delivery_columns(state: &DeliveryState) -> Result<DeliveryColumns, StoreError> {
    let failure = |f: &Option<DeliveryFailure>| {
        (
            f.as_ref().map(|f| f.message.clone()),
            f.as_ref().and_then(|f| f.status_code).map(i32::from),
        )
    };
    Ok(match state {
        DeliveryState::Pending {
            attempts,
            next_attempt_at,
            since,
            last_failure,
        } => {
            let (last_error, last_status) = failure(last_failure);
            DeliveryColumns {
                state: state.as_str(),
                attempts: i64::from(*attempts),
                next_attempt_at_ns: Some(ts(*next_attempt_at)?),
                since_ns: Some(ts(*since)?),
                last_error,
                last_status,
                delivered_at_ns: None,
                dead_at_ns: None,
            }
        }
        DeliveryState::Delivered { at, attempts } => DeliveryColumns {
            state: state.as_str(),
            attempts: i64::from(*attempts),
            next_attempt_at_ns: None,
            since_ns: None,
            last_error: None,
            last_status: None,
            delivered_at_ns: Some(ts(*at)?),
            dead_at_ns: None,
        },
        DeliveryState::Dead {
            at,
            attempts,
            last_failure,
        } => {
            let (last_error, last_status) = failure(last_failure);
            DeliveryColumns {
                state: state.as_str(),
                attempts: i64::from(*attempts),
                next_attempt_at_ns: None,
                since_ns: None,
                last_error,
                last_status,
                delivered_at_ns: None,
                dead_at_ns: Some(ts(*at)?),
            }
        }
    })
}

fn delivery_state(m: &entity::notification::Model) -> Result<DeliveryState, StoreError> {
    let attempts = u32::try_from(m.attempts).map_err(|e| corrupt("attempts", e))?;
    let last_failure = match &m.last_error {
        None => None,
        Some(message) => Some(DeliveryFailure {
            status_code: m
                .last_status
                .map(u16::try_from)
                .transpose()
                .map_err(|e| corrupt("last status", e))?,
            message: message.clone(),
        }),
    };
    let missing = |what: &str| corrupt(what, "missing");
    match m.delivery_state.as_str() {
        "pending" => Ok(DeliveryState::Pending {
            attempts,
            next_attempt_at: from_ts(
                m.next_attempt_at_ns
                    .ok_or_else(|| missing("next attempt"))?,
            )?,
            since: from_ts(m.since_ns.ok_or_else(|| missing("since"))?)?,
            last_failure,
        }),
        "delivered" => Ok(DeliveryState::Delivered {
            at: from_ts(m.delivered_at_ns.ok_or_else(|| missing("delivered at"))?)?,
            attempts,
        }),
        "dead" => Ok(DeliveryState::Dead {
            at: from_ts(m.dead_at_ns.ok_or_else(|| missing("dead at"))?)?,
            attempts,
            last_failure,
        }),
        other => Err(corrupt("delivery state", other)),
    }
}

impl TryFrom<entity::notification::Model> for Notification {
    type Error = StoreError;
    fn try_from(m: entity::notification::Model) -> Result<Self, StoreError> {
        let delivery = delivery_state(&m)?;
        Ok(Notification {
            id: NotificationId::from_uuid(m.id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            kind: from_wire("notification kind", &m.kind)?,
            recipient: from_json("recipient", &m.recipient)?,
            dedupe_key: m.dedupe_key,
            payload: from_json("payload", &m.payload)?,
            created_at: from_ts(m.created_at_ns)?,
            delivery,
        })
    }
}

/// The row of a notification.
pub(crate) fn notification_row(
    n: &Notification,
) -> Result<entity::notification::ActiveModel, StoreError> {
    use sea_orm::ActiveValue::{NotSet, Set};
    let d = delivery_columns(&n.delivery)?;
    Ok(entity::notification::ActiveModel {
        seq: NotSet,
        id: Set(n.id.as_uuid()),
        merchant_id: Set(n.merchant_id.to_string()),
        kind: Set(n.kind.as_str().to_owned()),
        recipient: Set(json(&n.recipient)?),
        dedupe_key: Set(n.dedupe_key.clone()),
        payload: Set(json(&n.payload)?),
        created_at_ns: Set(ts(n.created_at)?),
        delivered_at_ns: Set(d.delivered_at_ns),
        delivery_state: Set(d.state.to_owned()),
        attempts: Set(d.attempts),
        next_attempt_at_ns: Set(d.next_attempt_at_ns),
        since_ns: Set(d.since_ns),
        last_error: Set(d.last_error),
        last_status: Set(d.last_status),
        dead_at_ns: Set(d.dead_at_ns),
    })
}

impl TryFrom<entity::notification_delivery::Model> for DeliveryAttempt {
    type Error = StoreError;
    fn try_from(m: entity::notification_delivery::Model) -> Result<Self, StoreError> {
        Ok(DeliveryAttempt {
            id: DeliveryId::from_uuid(m.id),
            notification_id: NotificationId::from_uuid(m.notification_id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            kind: from_wire("notification kind", &m.kind)?,
            endpoint_id: m.endpoint_id.map(WebhookEndpointId::from_uuid),
            url: m.url,
            attempted_at: from_ts(m.attempted_at_ns)?,
            duration_ms: u64::try_from(m.duration_ms).map_err(|e| corrupt("duration", e))?,
            status: AttemptStatus::parse(&m.status)
                .ok_or_else(|| corrupt("attempt status", &m.status))?,
            response_status: m
                .response_status
                .map(u16::try_from)
                .transpose()
                .map_err(|e| corrupt("response status", e))?,
            error: m.error,
        })
    }
}

/// The row of a delivery attempt.
pub(crate) fn delivery_row(
    d: &DeliveryAttempt,
) -> Result<entity::notification_delivery::ActiveModel, StoreError> {
    use sea_orm::ActiveValue::{NotSet, Set};
    Ok(entity::notification_delivery::ActiveModel {
        seq: NotSet,
        id: Set(d.id.as_uuid()),
        notification_id: Set(d.notification_id.as_uuid()),
        merchant_id: Set(d.merchant_id.to_string()),
        kind: Set(d.kind.as_str().to_owned()),
        endpoint_id: Set(d.endpoint_id.map(|e| e.as_uuid())),
        url: Set(d.url.clone()),
        attempted_at_ns: Set(ts(d.attempted_at)?),
        duration_ms: Set(i64::try_from(d.duration_ms).unwrap_or(i64::MAX)),
        status: Set(d.status.as_str().to_owned()),
        response_status: Set(d.response_status.map(i32::from)),
        error: Set(d.error.clone()),
    })
}

impl TryFrom<entity::webhook_endpoint::Model> for WebhookEndpoint {
    type Error = StoreError;
    fn try_from(m: entity::webhook_endpoint::Model) -> Result<Self, StoreError> {
        let previous_secret = match (m.previous_secret, m.previous_expires_at_ns) {
            (Some(secret), Some(expires_at)) => Some(PreviousSecret {
                secret: SigningSecret::new(secret),
                expires_at: from_ts(expires_at)?,
            }),
            _ => None,
        };
        Ok(WebhookEndpoint {
            id: WebhookEndpointId::from_uuid(m.id),
            merchant_id: parse("merchant id", MerchantId::parse(m.merchant_id))?,
            url: parse("endpoint url", EndpointUrl::parse(&m.url))?,
            description: m.description,
            secret: SigningSecret::new(m.secret),
            previous_secret,
            created_at: from_ts(m.created_at_ns)?,
        })
    }
}

/// The row of an endpoint.
pub(crate) fn endpoint_row(
    e: &WebhookEndpoint,
) -> Result<entity::webhook_endpoint::Model, StoreError> {
    Ok(entity::webhook_endpoint::Model {
        id: e.id.as_uuid(),
        merchant_id: e.merchant_id.to_string(),
        url: e.url.as_str().to_owned(),
        description: e.description.clone(),
        secret: e.secret.expose().to_owned(),
        previous_secret: e
            .previous_secret
            .as_ref()
            .map(|p| p.secret.expose().to_owned()),
        previous_expires_at_ns: e
            .previous_secret
            .as_ref()
            .map(|p| ts(p.expires_at))
            .transpose()?,
        created_at_ns: ts(e.created_at)?,
    })
}
