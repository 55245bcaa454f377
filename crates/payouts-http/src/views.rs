//! The API's views of the engine's objects: memberships are in
//! [`crate::routes::programs`]; batches, batch summaries, carry-overs, payout
//! items, commissions, conversions, coupons and tax summaries are here.
//!
//! Each view is what its JSON is, field for field, so that the OpenAPI
//! schema derived from it is exactly what the route answers: ids are
//! strings (UUIDs where the id is one), instants RFC 3339 strings, money
//! [`MoneyDto`] (`{amount, currency}`, minor units, lowercase code), states
//! tagged objects or strings with their allowed values documented, and an
//! absent optional value is `null`, never a missing field.

use payouts_domain::batch::{Approval, BatchSummary, CarryOver, PayoutBatch};
use payouts_domain::commission::{
    AttributedBy, Commission, CommissionKind, CommissionState, Conversion,
};
use payouts_domain::item::{Failure, ItemState, Lease, PayoutItem};
use payouts_domain::partner::Coupon;
use payouts_domain::tax::TaxSummary;
use serde::Serialize;
use time::OffsetDateTime;
use utoipa::ToSchema;

use crate::routes::rewards::AppliedRuleView;
use crate::routes::wire_name;
use crate::wire::{MoneyDto, currency_code};

/// An instant as the API writes it: RFC 3339.
pub fn timestamp(at: OffsetDateTime) -> String {
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.unix_timestamp().to_string())
}

fn name_of<T: Serialize>(value: &T, fallback: &str) -> String {
    wire_name(value).unwrap_or_else(|| fallback.to_owned())
}

// ---------------------------------------------------------------- batches

/// A payout batch: one program's finalized, unpaid commissions up to a
/// period, one item per partner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchDto {
    /// The batch id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The period it pays (and every earlier unpaid one), `YYYY-MM`.
    #[schema(example = "2026-05")]
    pub period: String,
    /// Lowercase ISO currency (the program's), e.g. `usd`.
    pub currency: String,
    /// `draft`, `approved`, `executing`, `completed` or `completed_with_failures`.
    pub state: String,
    /// Sum of the items.
    pub total: MoneyDto,
    /// Sum of the items' platform fees.
    pub fee_total: MoneyDto,
    /// Number of items.
    pub item_count: u32,
    /// Balances carried to a later batch, with the reason.
    pub carried: Vec<CarryOverDto>,
    /// SHA-256 over the frozen manifest, hex.
    pub manifest_hash: String,
    /// Commissions finalized at or before this instant were considered (RFC 3339).
    #[schema(format = DateTime)]
    pub as_of: String,
    /// The approval, once given; `null` before.
    pub approval: Option<ApprovalDto>,
    /// When built (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// The merchant's Stripe account (`acct_…`) the batch pays from, set
    /// when it starts executing and kept if the merchant connects another
    /// account later; `null` before it starts.
    pub source_account: Option<String>,
}

impl From<&PayoutBatch> for BatchDto {
    fn from(b: &PayoutBatch) -> Self {
        BatchDto {
            id: b.id.to_string(),
            merchant_id: b.merchant_id.to_string(),
            program_id: b.program_id.to_string(),
            period: b.period.to_string(),
            currency: currency_code(b.currency),
            state: b.state.as_str().to_owned(),
            total: MoneyDto::from_money(&b.total),
            fee_total: MoneyDto::from_money(&b.fee_total),
            item_count: b.item_count,
            carried: b.carried.iter().map(CarryOverDto::from).collect(),
            manifest_hash: b.manifest_hash.clone(),
            as_of: timestamp(b.as_of),
            approval: b.approval.as_ref().map(ApprovalDto::from),
            created_at: timestamp(b.created_at),
            source_account: b.source_account.as_ref().map(ToString::to_string),
        }
    }
}

/// Who approved a batch, tagged by `by`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum ApprovalDto {
    /// The program's policy approved it.
    Policy {
        /// `auto_under_cap` or `auto_all`.
        policy: String,
        /// When (RFC 3339).
        #[schema(format = DateTime)]
        at: String,
    },
    /// A person approved it.
    Person {
        /// Their subject (the JWT `sub`).
        actor: String,
        /// When (RFC 3339).
        #[schema(format = DateTime)]
        at: String,
    },
}

impl From<&Approval> for ApprovalDto {
    fn from(a: &Approval) -> Self {
        match a {
            Approval::Policy { policy, at } => ApprovalDto::Policy {
                policy: policy.clone(),
                at: timestamp(*at),
            },
            Approval::Person { actor, at } => ApprovalDto::Person {
                actor: actor.clone(),
                at: timestamp(*at),
            },
        }
    }
}

/// A partner balance carried to a later batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CarryOverDto {
    /// The membership.
    #[schema(format = "uuid")]
    pub membership_id: String,
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The net carried (may be negative).
    pub amount: MoneyDto,
    /// How many commission rows stay unpaid.
    pub commission_count: u32,
    /// `below_minimum`, `cannot_receive`, `negative_balance` or `zero_balance`.
    pub reason: String,
}

impl From<&CarryOver> for CarryOverDto {
    fn from(c: &CarryOver) -> Self {
        CarryOverDto {
            membership_id: c.membership_id.to_string(),
            partner_id: c.partner_id.to_string(),
            amount: MoneyDto::from_money(&c.amount),
            commission_count: c.commission_count,
            reason: c.reason.as_str().to_owned(),
        }
    }
}

/// A batch's outcomes: counts and totals by bucket.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct BatchSummaryDto {
    /// Items posted (including reversed ones).
    pub posted_count: u64,
    /// Their total.
    pub posted_amount: MoneyDto,
    /// Items failed.
    pub failed_count: u64,
    /// Their total.
    pub failed_amount: MoneyDto,
    /// Items still open (pending, submitting, reconcile).
    pub pending_count: u64,
    /// Their total.
    pub pending_amount: MoneyDto,
    /// Of the posted, how many were reversed.
    pub reversed_count: u64,
    /// Total reversed.
    pub reversed_amount: MoneyDto,
}

impl From<&BatchSummary> for BatchSummaryDto {
    fn from(s: &BatchSummary) -> Self {
        BatchSummaryDto {
            posted_count: s.posted_count,
            posted_amount: MoneyDto::from_money(&s.posted_amount),
            failed_count: s.failed_count,
            failed_amount: MoneyDto::from_money(&s.failed_amount),
            pending_count: s.pending_count,
            pending_amount: MoneyDto::from_money(&s.pending_amount),
            reversed_count: s.reversed_count,
            reversed_amount: MoneyDto::from_money(&s.reversed_amount),
        }
    }
}

// ---------------------------------------------------------------- items

/// One transfer to one partner for one batch.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItemDto {
    /// The item id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The batch.
    #[schema(format = "uuid")]
    pub batch_id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The partner's membership.
    #[schema(format = "uuid")]
    pub membership_id: String,
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The partner's Express account, `acct_…`.
    pub destination: String,
    /// The net amount transferred.
    pub amount: MoneyDto,
    /// The platform fee charged to the merchant for this item.
    pub fee: MoneyDto,
    /// How many commission rows (earned and adjustments) it pays.
    pub commission_count: u32,
    /// The state and what goes with it, tagged by `state`.
    pub state: ItemStateDto,
    /// The current worker's lease; `null` when none holds it.
    pub lease: Option<LeaseDto>,
    /// How many ambiguous answers sent the item back for a re-send with the same key.
    pub resends: u32,
    /// When created (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&PayoutItem> for ItemDto {
    fn from(i: &PayoutItem) -> Self {
        ItemDto {
            id: i.id.to_string(),
            batch_id: i.batch_id.to_string(),
            merchant_id: i.merchant_id.to_string(),
            program_id: i.program_id.to_string(),
            membership_id: i.membership_id.to_string(),
            partner_id: i.partner_id.to_string(),
            destination: i.destination.to_string(),
            amount: MoneyDto::from_money(&i.amount),
            fee: MoneyDto::from_money(&i.fee),
            commission_count: i.commission_count,
            state: ItemStateDto::from(&i.state),
            lease: i.lease.as_ref().map(LeaseDto::from),
            resends: i.resends,
            created_at: timestamp(i.created_at),
        }
    }
}

/// A worker's lease on an item.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct LeaseDto {
    /// Who holds it.
    pub worker: String,
    /// Until when (RFC 3339).
    #[schema(format = DateTime)]
    pub until: String,
}

impl From<&Lease> for LeaseDto {
    fn from(l: &Lease) -> Self {
        LeaseDto {
            worker: l.worker.to_string(),
            until: timestamp(l.until),
        }
    }
}

/// A payout item's state, tagged by `state`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemStateDto {
    /// Not yet sent.
    Pending,
    /// Sent (or about to be) with `key`; the outcome is not known yet.
    Submitting {
        /// 1-based attempt number.
        attempt: u32,
        /// The Stripe idempotency key of this attempt.
        key: String,
        /// When this key was first used (RFC 3339).
        #[schema(format = DateTime)]
        since: String,
    },
    /// The key is too close to Stripe's retention to re-send; reconciled by lookup.
    ReconcileRequired {
        /// The attempt whose outcome is unknown.
        attempt: u32,
        /// Its key.
        key: String,
        /// When the key was first used (RFC 3339).
        #[schema(format = DateTime)]
        since: String,
    },
    /// Stripe created the transfer.
    Posted {
        /// The attempt that succeeded.
        attempt: u32,
        /// The transfer, `tr_…`.
        transfer_id: String,
        /// When we learned it (RFC 3339).
        #[schema(format = DateTime)]
        at: String,
    },
    /// Stripe refused the transfer definitively.
    Failed {
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        failure: FailureDto,
        /// When the ladder retries it automatically; `null` when it does not.
        #[schema(format = DateTime)]
        retry_at: Option<String>,
        /// True once the ladder gave up and told the merchant.
        escalated: bool,
    },
    /// The posted transfer was reversed, in full or in part.
    Reversed {
        /// The attempt that had succeeded.
        attempt: u32,
        /// The transfer, `tr_…`.
        transfer_id: String,
        /// The last reversal, `trr_…`.
        reversal_id: Option<String>,
        /// Total reversed so far.
        amount_reversed: MoneyDto,
        /// When the transfer had posted (RFC 3339).
        #[schema(format = DateTime)]
        posted_at: String,
        /// When the last reversal was recorded (RFC 3339).
        #[schema(format = DateTime)]
        at: String,
    },
}

impl From<&ItemState> for ItemStateDto {
    fn from(s: &ItemState) -> Self {
        match s {
            ItemState::Pending => ItemStateDto::Pending,
            ItemState::Submitting {
                attempt,
                key,
                since,
            } => ItemStateDto::Submitting {
                attempt: *attempt,
                key: key.to_string(),
                since: timestamp(*since),
            },
            ItemState::ReconcileRequired {
                attempt,
                key,
                since,
            } => ItemStateDto::ReconcileRequired {
                attempt: *attempt,
                key: key.to_string(),
                since: timestamp(*since),
            },
            ItemState::Posted {
                attempt,
                transfer_id,
                at,
            } => ItemStateDto::Posted {
                attempt: *attempt,
                transfer_id: transfer_id.to_string(),
                at: timestamp(*at),
            },
            ItemState::Failed {
                attempt,
                failure,
                retry_at,
                escalated,
            } => ItemStateDto::Failed {
                attempt: *attempt,
                failure: FailureDto::from(failure),
                retry_at: retry_at.map(timestamp),
                escalated: *escalated,
            },
            ItemState::Reversed {
                attempt,
                transfer_id,
                reversal_id,
                amount_reversed,
                posted_at,
                at,
            } => ItemStateDto::Reversed {
                attempt: *attempt,
                transfer_id: transfer_id.to_string(),
                reversal_id: reversal_id.as_ref().map(ToString::to_string),
                amount_reversed: MoneyDto::from_money(amount_reversed),
                posted_at: timestamp(*posted_at),
                at: timestamp(*at),
            },
        }
    }
}

/// A definitive transfer failure.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FailureDto {
    /// `insufficient_balance`, `account_inactive`, `cannot_receive`,
    /// `rate_limited`, `ambiguous`, `idempotency_mismatch`, `invalid_request`
    /// or `not_found`.
    pub kind: String,
    /// Stripe's error code, when there was one.
    pub code: Option<String>,
    /// A human-readable message for operators.
    pub message: String,
}

impl From<&Failure> for FailureDto {
    fn from(f: &Failure) -> Self {
        FailureDto {
            kind: name_of(&f.kind, "invalid_request"),
            code: f.code.clone(),
            message: f.message.clone(),
        }
    }
}

// ---------------------------------------------------------------- commissions

/// A commission row: earned by a conversion, or a signed adjustment.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CommissionView {
    /// The commission id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The partner's membership.
    #[schema(format = "uuid")]
    pub membership_id: String,
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The conversion it comes from.
    #[schema(format = "uuid")]
    pub conversion_id: String,
    /// Earned or adjustment, tagged by `kind`.
    pub kind: CommissionKindDto,
    /// What it pays now (negative for a clawback adjustment).
    pub amount: MoneyDto,
    /// What it paid when earned: the basis of proportional refunds.
    pub original_amount: MoneyDto,
    /// The lifecycle state, tagged by `state`.
    pub state: CommissionStateDto,
    /// The ledger period, `YYYY-MM`.
    pub period: String,
    /// When earned or made (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
    /// When the holding period ends (RFC 3339).
    #[schema(format = DateTime)]
    pub hold_until: String,
    /// The payout item that pays it; `null` until batched.
    #[schema(format = "uuid")]
    pub payout_item_id: Option<String>,
    /// The reward rule it was earned under; `null` for adjustments and for
    /// commissions recorded before rules were kept.
    pub rule: Option<AppliedRuleView>,
}

impl From<&Commission> for CommissionView {
    fn from(c: &Commission) -> Self {
        CommissionView {
            id: c.id.to_string(),
            merchant_id: c.merchant_id.to_string(),
            program_id: c.program_id.to_string(),
            membership_id: c.membership_id.to_string(),
            partner_id: c.partner_id.to_string(),
            conversion_id: c.conversion_id.to_string(),
            kind: match c.kind {
                CommissionKind::Earned => CommissionKindDto::Earned,
                CommissionKind::Adjustment { corrects, reason } => CommissionKindDto::Adjustment {
                    corrects: corrects.to_string(),
                    reason: reason.as_str().to_owned(),
                },
            },
            amount: MoneyDto::from_money(&c.amount),
            original_amount: MoneyDto::from_money(&c.original_amount),
            state: match c.state {
                CommissionState::Pending => CommissionStateDto::Pending,
                CommissionState::OnHold { reason, since } => CommissionStateDto::OnHold {
                    reason: reason.as_str().to_owned(),
                    since: timestamp(since),
                },
                CommissionState::Finalized { at } => {
                    CommissionStateDto::Finalized { at: timestamp(at) }
                }
                CommissionState::Voided { at, reason } => CommissionStateDto::Voided {
                    at: timestamp(at),
                    reason: reason.as_str().to_owned(),
                },
            },
            period: c.period.to_string(),
            created_at: timestamp(c.created_at),
            hold_until: timestamp(c.hold_until),
            payout_item_id: c.payout_item_id.map(|i| i.to_string()),
            rule: c.rule.as_ref().map(AppliedRuleView::from),
        }
    }
}

/// Earned from a conversion, or a signed correction, tagged by `kind`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommissionKindDto {
    /// Earned by a conversion.
    Earned,
    /// A signed correction of a finalized commission.
    Adjustment {
        /// The finalized commission it corrects.
        #[schema(format = "uuid")]
        corrects: String,
        /// `refund`, `cancellation` or `manual`.
        reason: String,
    },
}

/// A commission's state, tagged by `state`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CommissionStateDto {
    /// In its holding period.
    Pending,
    /// Held for review: never finalized nor paid until released.
    OnHold {
        /// `self_referral`, `duplicate_account` or `manual`.
        #[schema(example = "self_referral")]
        reason: String,
        /// Since when (RFC 3339).
        #[schema(format = DateTime)]
        since: String,
    },
    /// Locked for payout; immutable.
    Finalized {
        /// When (RFC 3339).
        #[schema(format = DateTime)]
        at: String,
    },
    /// Cancelled, fully refunded or rejected before finalization.
    Voided {
        /// When (RFC 3339).
        #[schema(format = DateTime)]
        at: String,
        /// `refund`, `cancellation`, `manual` or `rejected`.
        reason: String,
    },
}

// ---------------------------------------------------------------- conversions

/// A recorded, attributed conversion.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ConversionDto {
    /// The conversion id.
    #[schema(format = "uuid")]
    pub id: String,
    /// The merchant.
    pub merchant_id: String,
    /// The program.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The partner's membership it was attributed to.
    #[schema(format = "uuid")]
    pub membership_id: String,
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The merchant's id for it.
    pub external_id: String,
    /// The sale amount.
    pub amount: MoneyDto,
    /// Total refunded so far.
    pub refunded: MoneyDto,
    /// Whether the order was cancelled.
    pub cancelled: bool,
    /// When the sale happened (RFC 3339).
    #[schema(format = DateTime)]
    pub occurred_at: String,
    /// How it was attributed.
    pub attributed_by: AttributionDto,
    /// The merchant's customer id.
    pub customer_ref: Option<String>,
    /// A Stripe payment reference.
    pub payment_ref: Option<String>,
    /// `sale` or `lead`.
    pub kind: String,
    /// The product sold, if named.
    pub product_id: Option<String>,
    /// An operator's correction of what it earns before refunds; `null`
    /// when its rule's amount stands.
    pub corrected_commission: Option<MoneyDto>,
    /// How many corrections were made.
    pub corrections: u32,
    /// The customer's e-mail address, when reported.
    pub customer_email: Option<String>,
}

/// How a conversion was attributed to a partner.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AttributionDto {
    /// `coupon` (a code beats a link) or `referral`.
    pub via: String,
    /// The coupon code or the referral key.
    pub key: String,
}

impl From<&Conversion> for ConversionDto {
    fn from(c: &Conversion) -> Self {
        let attributed_by = match &c.attributed_by {
            AttributedBy::Coupon(code) => AttributionDto {
                via: "coupon".to_owned(),
                key: code.to_string(),
            },
            AttributedBy::Referral(key) => AttributionDto {
                via: "referral".to_owned(),
                key: key.to_string(),
            },
        };
        ConversionDto {
            id: c.id.to_string(),
            merchant_id: c.merchant_id.to_string(),
            program_id: c.program_id.to_string(),
            membership_id: c.membership_id.to_string(),
            partner_id: c.partner_id.to_string(),
            external_id: c.external_id.to_string(),
            amount: MoneyDto::from_money(&c.amount),
            refunded: MoneyDto::from_money(&c.refunded),
            cancelled: c.cancelled,
            occurred_at: timestamp(c.occurred_at),
            attributed_by,
            customer_ref: c.customer_ref.clone(),
            payment_ref: c.payment_ref.clone(),
            kind: c.kind.as_str().to_owned(),
            product_id: c.product_id.as_ref().map(ToString::to_string),
            corrected_commission: c.corrected_commission.as_ref().map(MoneyDto::from_money),
            corrections: c.corrections,
            customer_email: c.customer_email.clone(),
        }
    }
}

// ---------------------------------------------------------------- coupons

/// A coupon code assigned to a partner; unique per merchant, ignoring case.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CouponDto {
    /// The code as written, e.g. `SARAH20`.
    pub code: String,
    /// The merchant it is unique within.
    pub merchant_id: String,
    /// The program it attributes to.
    #[schema(format = "uuid")]
    pub program_id: String,
    /// The membership it attributes to.
    #[schema(format = "uuid")]
    pub membership_id: String,
    /// The Stripe Promotion Code (`promo_…`), when the program syncs codes to Stripe.
    pub promotion_code_id: Option<String>,
    /// Inactive codes no longer attribute.
    pub active: bool,
    /// When assigned (RFC 3339).
    #[schema(format = DateTime)]
    pub created_at: String,
}

impl From<&Coupon> for CouponDto {
    fn from(c: &Coupon) -> Self {
        CouponDto {
            code: c.code.to_string(),
            merchant_id: c.merchant_id.to_string(),
            program_id: c.program_id.to_string(),
            membership_id: c.membership_id.to_string(),
            promotion_code_id: c.promotion_code_id.as_ref().map(ToString::to_string),
            active: c.active,
            created_at: timestamp(c.created_at),
        }
    }
}

// ---------------------------------------------------------------- tax

/// A partner's payouts in one calendar year.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TaxSummaryDto {
    /// The partner.
    #[schema(format = "uuid")]
    pub partner_id: String,
    /// The calendar year (UTC).
    pub year: i32,
    /// Net paid per currency: posted transfers minus reversals.
    pub totals: Vec<MoneyDto>,
    /// Number of posted items counted.
    pub payout_count: u64,
    /// True for a US partner whose USD total is at or over $600 (Stripe files the 1099-NEC).
    pub form_1099_required: bool,
}

impl From<&TaxSummary> for TaxSummaryDto {
    fn from(t: &TaxSummary) -> Self {
        TaxSummaryDto {
            partner_id: t.partner_id.to_string(),
            year: t.year,
            totals: t.totals.iter().map(MoneyDto::from_money).collect(),
            payout_count: t.payout_count,
            form_1099_required: t.form_1099_required,
        }
    }
}

#[cfg(test)]
mod tests {
    use payouts_domain::batch::{Approval, BatchSummary};
    use payouts_domain::commission::{AttributedBy, ChangeReason, CommissionKind, CommissionState};
    use payouts_domain::ids::{
        CommissionId, CouponCode, IdempotencyKey, MerchantId, PayoutItemId, PromotionCodeId,
        TransferId, TransferReversalId, WorkerId,
    };
    use payouts_domain::item::{Failure, ItemState, Lease};
    use payouts_domain::partner::Coupon;
    use payouts_domain::ports::FailureKind;
    use payouts_domain::tax::TaxSummary;
    use payouts_domain::testkit::fixtures::{
        T0, account, batch, commission, conversion, item, membership, merchant, program, usd,
    };
    use serde_json::Value;

    use super::*;

    /// The domain's JSON with the API's lowercase currencies: what the
    /// routes answered before the views, and must still answer.
    fn domain_json<T: Serialize>(value: &T) -> Value {
        fn lower(value: &mut Value) {
            match value {
                Value::Object(map) => {
                    for (key, v) in map.iter_mut() {
                        match v {
                            Value::String(s) if key == "currency" => s.make_ascii_lowercase(),
                            other => lower(other),
                        }
                    }
                }
                Value::Array(items) => items.iter_mut().for_each(lower),
                Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
            }
        }
        let mut v = serde_json::to_value(value).unwrap();
        lower(&mut v);
        v
    }

    fn view_json<T: Serialize>(value: &T) -> Value {
        serde_json::to_value(value).unwrap()
    }

    #[test]
    fn views_are_the_domain_json_with_lowercase_currencies() {
        let m = merchant(1);
        let p = program(1, m.clone());
        let mut member = membership(2, &p, "sarah");
        member.account_id = Some(account(2));
        let mut b = batch(3, &p, "2026-02", usd(10_000), 1);
        assert_eq!(view_json(&BatchDto::from(&b)), domain_json(&b));
        for approval in [
            Approval::Policy {
                policy: "auto_all".to_owned(),
                at: T0,
            },
            Approval::Person {
                actor: "user_1".to_owned(),
                at: T0,
            },
        ] {
            b.approval = Some(approval);
            assert_eq!(view_json(&BatchDto::from(&b)), domain_json(&b));
        }
        let summary = BatchSummary::empty(b.currency);
        assert_eq!(
            view_json(&BatchSummaryDto::from(&summary)),
            domain_json(&summary)
        );

        let mut i = item(4, &b, &member, usd(10_000), 3);
        let key = IdempotencyKey::parse("item-4-1").unwrap();
        let transfer = TransferId::parse("tr_1").unwrap();
        let states = [
            ItemState::Pending,
            ItemState::Submitting {
                attempt: 1,
                key: key.clone(),
                since: T0,
            },
            ItemState::ReconcileRequired {
                attempt: 1,
                key,
                since: T0,
            },
            ItemState::Posted {
                attempt: 1,
                transfer_id: transfer.clone(),
                at: T0,
            },
            ItemState::Failed {
                attempt: 2,
                failure: Failure {
                    kind: FailureKind::InsufficientBalance,
                    code: Some("balance_insufficient".to_owned()),
                    message: "no funds".to_owned(),
                },
                retry_at: Some(T0),
                escalated: false,
            },
            ItemState::Failed {
                attempt: 2,
                failure: Failure {
                    kind: FailureKind::CannotReceive,
                    code: None,
                    message: "no".to_owned(),
                },
                retry_at: None,
                escalated: true,
            },
            ItemState::Reversed {
                attempt: 1,
                transfer_id: transfer.clone(),
                reversal_id: Some(TransferReversalId::parse("trr_1").unwrap()),
                amount_reversed: usd(500),
                posted_at: T0,
                at: T0,
            },
            ItemState::Reversed {
                attempt: 1,
                transfer_id: transfer,
                reversal_id: None,
                amount_reversed: usd(500),
                posted_at: T0,
                at: T0,
            },
        ];
        for state in states {
            i.state = state;
            assert_eq!(view_json(&ItemDto::from(&i)), domain_json(&i));
        }
        i.lease = Some(Lease {
            worker: WorkerId::parse("worker-1").unwrap(),
            until: T0,
        });
        assert_eq!(view_json(&ItemDto::from(&i)), domain_json(&i));

        let mut conv = conversion(5, &member, "order-5", usd(5_000), T0);
        assert_eq!(view_json(&ConversionDto::from(&conv)), domain_json(&conv));
        conv.attributed_by = AttributedBy::Coupon(CouponCode::parse("SARAH20").unwrap());
        conv.customer_ref = None;
        assert_eq!(view_json(&ConversionDto::from(&conv)), domain_json(&conv));

        // The rule is the one field the view words differently (a flat
        // object with a description); compared apart below.
        let without_rule = |mut v: Value| {
            v.as_object_mut().unwrap().remove("rule");
            v
        };
        let mut c = commission(6, &conv, usd(1_000));
        assert_eq!(
            without_rule(view_json(&CommissionView::from(&c))),
            without_rule(domain_json(&c))
        );
        let rule = view_json(&CommissionView::from(&c))["rule"].clone();
        assert_eq!(rule["rule"], "base");
        assert_eq!(rule["rate"], domain_json(&c)["rule"]["rate"]);
        assert_eq!(rule["description"], "base rate: 12.5%");
        c.rule = None;
        c.kind = CommissionKind::Adjustment {
            corrects: CommissionId::from_uuid(uuid::Uuid::nil()),
            reason: ChangeReason::Refund,
        };
        c.payout_item_id = Some(PayoutItemId::from_uuid(uuid::Uuid::nil()));
        for state in [
            CommissionState::Finalized { at: T0 },
            CommissionState::Voided {
                at: T0,
                reason: ChangeReason::Cancellation,
            },
        ] {
            c.state = state;
            assert_eq!(view_json(&CommissionView::from(&c)), domain_json(&c));
        }

        let mut coupon = Coupon {
            code: CouponCode::parse("SARAH20").unwrap(),
            merchant_id: MerchantId::parse("m_acme").unwrap(),
            program_id: p.id,
            membership_id: member.id,
            promotion_code_id: None,
            active: true,
            created_at: T0,
        };
        assert_eq!(view_json(&CouponDto::from(&coupon)), domain_json(&coupon));
        coupon.promotion_code_id = Some(PromotionCodeId::parse("promo_1").unwrap());
        assert_eq!(view_json(&CouponDto::from(&coupon)), domain_json(&coupon));

        let tax = TaxSummary {
            partner_id: member.partner_id,
            year: 2026,
            totals: vec![usd(70_000)],
            payout_count: 2,
            form_1099_required: true,
        };
        assert_eq!(view_json(&TaxSummaryDto::from(&tax)), domain_json(&tax));
    }
}
