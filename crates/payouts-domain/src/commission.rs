//! Conversions, attribution, and the commission lifecycle (seed 004):
//! `pending` while the holding period runs (refunds reduce or void it),
//! then `finalized` and immutable; later changes are signed adjustments.
//! A commission under review is `on_hold` (issue 16): never finalized nor
//! batched until an operator releases it (back to `pending`) or rejects it
//! (`voided`, reason `rejected`).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::{DomainError, TransitionError};
use crate::ids::ProductId;
use crate::ids::{
    CommissionId, ConversionId, CouponCode, ExternalId, MembershipId, MerchantId, PartnerId,
    PayoutItemId, ProgramId, ReferralKey,
};
use crate::money::{Money, Rounding};
use crate::period::{Period, add_months};
use crate::program::CommissionRule;
use crate::reward::{AppliedRule, ConversionKind};

/// How proportional refunds land on a minor unit. Computed from the
/// original commission and the cumulative refund every time, so repeated
/// partial refunds never accumulate rounding drift.
pub const REFUND_ROUNDING: Rounding = Rounding::HalfEven;

/// How a conversion was attributed to a partner.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "via", content = "key", rename_all = "snake_case")]
pub enum AttributedBy {
    /// The customer used the partner's coupon code.
    Coupon(CouponCode),
    /// The customer came through the partner's referral link.
    Referral(ReferralKey),
}

/// A conversion as the merchant reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionInput {
    /// The merchant's id for it; a repeat is recognised and ignored.
    pub external_id: ExternalId,
    /// The sale amount, in the program currency.
    pub amount: Money,
    /// When the sale happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// A coupon code the customer used, if any.
    pub coupon_code: Option<CouponCode>,
    /// A referral key from the customer's link, if any.
    pub referral_key: Option<ReferralKey>,
    /// The merchant's stable customer id, for one-time and recurring rules.
    pub customer_ref: Option<String>,
    /// A Stripe payment reference (payment intent, charge or invoice id) so
    /// that `charge.refunded` can find the conversion.
    pub payment_ref: Option<String>,
    /// A sale, or a lead (amount zero, earns the program's lead amount).
    #[serde(default)]
    pub kind: ConversionKind,
    /// The product sold, for per-product rates.
    #[serde(default)]
    pub product_id: Option<ProductId>,
    /// The customer's e-mail address, when the merchant knows it: the
    /// self-referral check compares it with the partner's.
    #[serde(default)]
    pub customer_email: Option<String>,
}

/// A recorded, attributed conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conversion {
    /// Its id.
    pub id: ConversionId,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The program.
    pub program_id: ProgramId,
    /// The partner's membership it was attributed to.
    pub membership_id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// The merchant's id for it.
    pub external_id: ExternalId,
    /// The sale amount.
    pub amount: Money,
    /// Total refunded so far (cumulative, never decreasing).
    pub refunded: Money,
    /// Whether the order was cancelled.
    pub cancelled: bool,
    /// When the sale happened.
    #[serde(with = "time::serde::rfc3339")]
    pub occurred_at: OffsetDateTime,
    /// How it was attributed.
    pub attributed_by: AttributedBy,
    /// The merchant's customer id.
    pub customer_ref: Option<String>,
    /// A Stripe payment reference.
    pub payment_ref: Option<String>,
    /// A sale or a lead.
    #[serde(default)]
    pub kind: ConversionKind,
    /// The product sold, if named.
    #[serde(default)]
    pub product_id: Option<ProductId>,
    /// An operator's correction: what the conversion earns before refunds,
    /// in place of what its rule gave.
    #[serde(default)]
    pub corrected_commission: Option<Money>,
    /// How many corrections were made (each one a new target state).
    #[serde(default)]
    pub corrections: u32,
    /// The customer's e-mail address, as the merchant reported it.
    #[serde(default)]
    pub customer_email: Option<String>,
}

/// The attribution rule: **a coupon code beats a referral link**. A code is
/// typed at checkout by the customer, so it is the most recent and most
/// deliberate signal; a referral cookie may be weeks old. The referral key
/// decides only when no active code matches.
pub fn attribute<'a, T>(
    by_coupon: Option<(&CouponCode, &'a T)>,
    by_referral: Option<(&ReferralKey, &'a T)>,
) -> Option<(AttributedBy, &'a T)> {
    match (by_coupon, by_referral) {
        (Some((code, who)), _) => Some((AttributedBy::Coupon(code.clone()), who)),
        (None, Some((key, who))) => Some((AttributedBy::Referral(key.clone()), who)),
        (None, None) => None,
    }
}

/// Whether a conversion at `occurred_at` earns under `rule`, given the time
/// of the same customer's first conversion in the program (`None` when this
/// is their first).
pub fn qualifies(
    rule: &CommissionRule,
    first_conversion_at: Option<OffsetDateTime>,
    occurred_at: OffsetDateTime,
) -> bool {
    match (first_conversion_at, rule.recurring_months) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(first), Some(months)) => occurred_at < add_months(first, u32::from(months)),
    }
}

/// Why a commission was voided or adjusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeReason {
    /// The sale was (partly) refunded.
    Refund,
    /// The order was cancelled.
    Cancellation,
    /// An operator corrected it.
    Manual,
    /// An operator rejected it while it was on hold.
    Rejected,
}

impl ChangeReason {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ChangeReason::Refund => "refund",
            ChangeReason::Cancellation => "cancellation",
            ChangeReason::Manual => "manual",
            ChangeReason::Rejected => "rejected",
        }
    }
}

/// Why a commission is on hold (see [`crate::hold`] for the rules).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OnHoldReason {
    /// The customer is, by e-mail, the partner themself.
    SelfReferral,
    /// The partner's bank account is also another partner's.
    DuplicateAccount,
    /// An operator held it.
    Manual,
}

impl OnHoldReason {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            OnHoldReason::SelfReferral => "self_referral",
            OnHoldReason::DuplicateAccount => "duplicate_account",
            OnHoldReason::Manual => "manual",
        }
    }

    /// Every reason, in wire order.
    pub const ALL: [OnHoldReason; 3] = [
        OnHoldReason::SelfReferral,
        OnHoldReason::DuplicateAccount,
        OnHoldReason::Manual,
    ];

    /// The reason with this wire name.
    pub fn parse(s: &str) -> Option<OnHoldReason> {
        OnHoldReason::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

/// Earned from a conversion, or a signed correction of a finalized one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CommissionKind {
    /// Earned by a conversion.
    Earned,
    /// A signed correction of a finalized commission; created finalized.
    Adjustment {
        /// The finalized commission it corrects.
        corrects: CommissionId,
        /// Why.
        reason: ChangeReason,
    },
}

/// A commission's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CommissionState {
    /// In its holding period: refunds reduce it, cancellation voids it.
    Pending,
    /// Under review: refunds and cancellation act as on `pending`, but it
    /// is never finalized until released.
    OnHold {
        /// Why.
        reason: OnHoldReason,
        /// Since when.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Locked for payout; immutable.
    Finalized {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Cancelled or fully refunded before finalization; pays nothing.
    Voided {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Why.
        reason: ChangeReason,
    },
}

impl CommissionState {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CommissionState::Pending => "pending",
            CommissionState::OnHold { .. } => "on_hold",
            CommissionState::Finalized { .. } => "finalized",
            CommissionState::Voided { .. } => "voided",
        }
    }

    /// Every wire name, in lifecycle order.
    pub const NAMES: [&'static str; 4] = ["pending", "on_hold", "finalized", "voided"];

    /// True for the states a refund or cancellation changes in place
    /// (before finalization): `pending` and `on_hold`.
    pub const fn is_open(&self) -> bool {
        match self {
            CommissionState::Pending | CommissionState::OnHold { .. } => true,
            CommissionState::Finalized { .. } | CommissionState::Voided { .. } => false,
        }
    }
}

/// A commission row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Commission {
    /// Its id.
    pub id: CommissionId,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The program.
    pub program_id: ProgramId,
    /// The partner's membership.
    pub membership_id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// The conversion it comes from.
    pub conversion_id: ConversionId,
    /// Earned or adjustment.
    pub kind: CommissionKind,
    /// What it pays now (negative for a clawback adjustment).
    pub amount: Money,
    /// What it paid when earned: the basis of proportional refunds.
    pub original_amount: Money,
    /// Lifecycle state.
    pub state: CommissionState,
    /// The ledger period: the month it was earned (or the adjustment made).
    pub period: Period,
    /// When earned (or made).
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When the holding period ends.
    #[serde(with = "time::serde::rfc3339")]
    pub hold_until: OffsetDateTime,
    /// The payout item that pays it, once batched.
    pub payout_item_id: Option<PayoutItemId>,
    /// The rule it was earned under (none for adjustments and for
    /// commissions recorded before rules were kept).
    #[serde(default)]
    pub rule: Option<AppliedRule>,
}

/// What happens to a commission; input of [`Commission::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommissionEvent {
    /// The conversion's cumulative refund is now `refunded` of `sale`.
    Refunded {
        /// The sale amount.
        sale: Money,
        /// Cumulative refund.
        refunded: Money,
        /// When.
        at: OffsetDateTime,
    },
    /// The order was cancelled.
    Cancelled {
        /// When.
        at: OffsetDateTime,
    },
    /// An operator corrected what the conversion earns: it is now worth
    /// `worth` (the corrected amount, less refunds in proportion).
    Corrected {
        /// The new value; zero voids it.
        worth: Money,
        /// When.
        at: OffsetDateTime,
    },
    /// Finalization ran at `now`.
    Finalize {
        /// The clock.
        now: OffsetDateTime,
    },
    /// Held for review.
    Hold {
        /// Why.
        reason: OnHoldReason,
        /// When.
        at: OffsetDateTime,
    },
    /// An operator released the hold: back to `pending`.
    Release,
    /// An operator rejected it: voided, reason `rejected`.
    Reject {
        /// When.
        at: OffsetDateTime,
    },
}

impl Commission {
    /// The commission a conversion earns.
    pub fn earned(
        id: CommissionId,
        conversion: &Conversion,
        amount: Money,
        rule: Option<AppliedRule>,
        holding: time::Duration,
    ) -> Commission {
        Commission {
            id,
            merchant_id: conversion.merchant_id.clone(),
            program_id: conversion.program_id,
            membership_id: conversion.membership_id,
            partner_id: conversion.partner_id,
            conversion_id: conversion.id,
            kind: CommissionKind::Earned,
            amount,
            original_amount: amount,
            state: CommissionState::Pending,
            period: Period::containing(conversion.occurred_at),
            created_at: conversion.occurred_at,
            hold_until: conversion.occurred_at.saturating_add(holding),
            payout_item_id: None,
            rule,
        }
    }

    /// A signed adjustment of the finalized `earned` commission, created
    /// finalized in the period of `at` so it nets against the next payout.
    pub fn adjustment(
        id: CommissionId,
        earned: &Commission,
        amount: Money,
        reason: ChangeReason,
        at: OffsetDateTime,
    ) -> Commission {
        Commission {
            id,
            kind: CommissionKind::Adjustment {
                corrects: earned.id,
                reason,
            },
            amount,
            original_amount: amount,
            state: CommissionState::Finalized { at },
            period: Period::containing(at),
            created_at: at,
            hold_until: at,
            payout_item_id: None,
            rule: None,
            ..earned.clone()
        }
    }

    /// What an earned commission is worth after `refunded` of `sale` was
    /// refunded: `original × (sale − refunded) / sale`, rounded half-even.
    ///
    /// # Errors
    /// [`DomainError::Money`] on a currency mismatch or overflow.
    pub fn value_after_refund(&self, sale: &Money, refunded: &Money) -> Result<Money, DomainError> {
        scaled_by_refund(&self.original_amount, sale, refunded)
    }

    /// What an earned commission is worth now: nothing when the order was
    /// cancelled; otherwise the operator's corrected amount, or else what it
    /// earned, less refunds in proportion.
    ///
    /// # Errors
    /// [`DomainError::Money`] on a currency mismatch or overflow.
    pub fn worth(&self, conversion: &Conversion) -> Result<Money, DomainError> {
        if conversion.cancelled {
            return Ok(Money::zero(self.original_amount.currency()));
        }
        let basis = conversion
            .corrected_commission
            .unwrap_or(self.original_amount);
        scaled_by_refund(&basis, &conversion.amount, &conversion.refunded)
    }

    /// Applies an event to a commission.
    ///
    /// * `pending` + refund: the amount shrinks in proportion; a full refund voids.
    /// * `pending` + cancellation: voided.
    /// * `pending` + finalize after the hold: finalized.
    /// * `finalized`: immutable. Finalize is a replay; refunds and
    ///   cancellations are refused here and become adjustments (see
    ///   [`Commission::adjustment_needed`]).
    /// * `voided`: refunds and cancellations are replays, finalize leaves it voided.
    /// * `pending` + hold: `on_hold`; a hold of a held commission keeps
    ///   the first reason and instant.
    /// * `on_hold`: refunds and cancellations as on `pending`; release makes
    ///   it `pending` (finalized by the next run once its holding period is
    ///   over); reject voids it (reason `rejected`, amount 0); finalize is
    ///   refused. A reject of a rejected commission is a replay.
    ///
    /// # Errors
    /// [`TransitionError`] for a refund/cancellation of a finalized commission,
    /// finalization before the hold ends or while on hold, a hold of anything
    /// but a pending or held commission, a release or reject of one not on
    /// hold, or a change to an adjustment.
    pub fn apply(&self, event: CommissionEvent) -> Result<Commission, DomainError> {
        let refused = || TransitionError {
            entity: "commission",
            from: self.state.as_str().to_owned(),
            event: format!("{event:?}"),
        };
        let mut next = self.clone();
        match (self.state, event) {
            (
                CommissionState::Pending | CommissionState::OnHold { .. },
                CommissionEvent::Refunded { sale, refunded, at },
            ) => {
                let value = self.value_after_refund(&sale, &refunded)?;
                if value.is_zero() {
                    next.amount = value;
                    next.state = CommissionState::Voided {
                        at,
                        reason: ChangeReason::Refund,
                    };
                } else {
                    next.amount = value;
                }
            }
            (
                CommissionState::Pending | CommissionState::OnHold { .. },
                CommissionEvent::Corrected { worth, at },
            ) => {
                if worth.currency() != self.amount.currency() || worth.is_negative() {
                    return Err(DomainError::validation(
                        "amount",
                        "a correction is a non-negative amount in the commission's currency",
                    ));
                }
                next.amount = worth;
                if worth.is_zero() {
                    next.state = CommissionState::Voided {
                        at,
                        reason: ChangeReason::Manual,
                    };
                }
            }
            (
                CommissionState::Pending | CommissionState::OnHold { .. },
                CommissionEvent::Cancelled { at },
            ) => {
                next.amount = Money::zero(self.amount.currency());
                next.state = CommissionState::Voided {
                    at,
                    reason: ChangeReason::Cancellation,
                };
            }
            (CommissionState::Pending, CommissionEvent::Finalize { now })
                if now >= self.hold_until =>
            {
                next.state = CommissionState::Finalized { at: now };
            }
            (CommissionState::Pending, CommissionEvent::Hold { reason, at }) => {
                next.state = CommissionState::OnHold { reason, since: at };
            }
            (CommissionState::OnHold { .. }, CommissionEvent::Release) => {
                next.state = CommissionState::Pending;
            }
            (CommissionState::OnHold { .. }, CommissionEvent::Reject { at }) => {
                next.amount = Money::zero(self.amount.currency());
                next.state = CommissionState::Voided {
                    at,
                    reason: ChangeReason::Rejected,
                };
            }
            // A commission an operator corrected to nothing comes back when
            // they correct it up again (voided by a refund, a cancellation or
            // a rejection, it stays voided).
            (
                CommissionState::Voided {
                    reason: ChangeReason::Manual,
                    ..
                },
                CommissionEvent::Corrected { worth, .. },
            ) if worth.is_positive() && worth.currency() == self.amount.currency() => {
                next.amount = worth;
                next.state = CommissionState::Pending;
            }
            (CommissionState::OnHold { .. }, CommissionEvent::Hold { .. })
            | (
                CommissionState::Voided {
                    reason: ChangeReason::Rejected,
                    ..
                },
                CommissionEvent::Reject { .. },
            )
            | (CommissionState::Finalized { .. }, CommissionEvent::Finalize { .. })
            | (
                CommissionState::Voided { .. },
                CommissionEvent::Refunded { .. }
                | CommissionEvent::Cancelled { .. }
                | CommissionEvent::Corrected { .. }
                | CommissionEvent::Finalize { .. },
            ) => {}
            _ => return Err(refused().into()),
        }
        if matches!(self.kind, CommissionKind::Adjustment { .. }) && next != *self {
            return Err(refused().into());
        }
        Ok(next)
    }

    /// For a finalized earned commission whose conversion changed after
    /// finalization: the signed adjustment that brings the total paid for it
    /// (this row plus `existing_adjustments`) to `worth` (see
    /// [`Commission::worth`]), or `None` when nothing is owed either way.
    /// Refunds and cancellations only lower it; an operator's correction may
    /// raise it.
    ///
    /// # Errors
    /// [`DomainError::Money`] on a currency mismatch or overflow.
    pub fn adjustment_needed(
        &self,
        existing_adjustments: &Money,
        worth: &Money,
    ) -> Result<Option<Money>, DomainError> {
        let counted = self.amount.checked_add(existing_adjustments)?;
        let delta = worth.checked_sub(&counted)?;
        Ok((!delta.is_zero()).then_some(delta))
    }
}

/// `basis × (sale − refunded) / sale`, rounded half-even; `basis` itself
/// when nothing was refunded (a lead has no sale to scale by).
fn scaled_by_refund(basis: &Money, sale: &Money, refunded: &Money) -> Result<Money, DomainError> {
    if refunded.is_zero() {
        return Ok(*basis);
    }
    let remaining = sale.checked_sub(refunded)?;
    if !remaining.is_positive() || !sale.is_positive() {
        return Ok(Money::zero(basis.currency()));
    }
    Ok(basis.mul_ratio(
        remaining.amount_minor(),
        sale.amount_minor(),
        REFUND_ROUNDING,
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use crate::program::CommissionAmount;
    use time::Duration;
    use time::macros::datetime;
    use uuid::Uuid;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::USD)
    }

    fn conversion() -> Conversion {
        Conversion {
            customer_email: None,
            id: ConversionId::from_uuid(Uuid::nil()),
            merchant_id: MerchantId::parse("m").unwrap(),
            program_id: ProgramId::from_uuid(Uuid::nil()),
            membership_id: MembershipId::from_uuid(Uuid::nil()),
            partner_id: PartnerId::from_uuid(Uuid::nil()),
            external_id: ExternalId::parse("o1").unwrap(),
            amount: usd(10_000),
            refunded: usd(0),
            cancelled: false,
            occurred_at: datetime!(2026-01-10 12:00 UTC),
            attributed_by: AttributedBy::Referral(ReferralKey::parse("sarah").unwrap()),
            customer_ref: None,
            payment_ref: None,
            kind: ConversionKind::Sale,
            product_id: None,
            corrected_commission: None,
            corrections: 0,
        }
    }

    fn pending() -> Commission {
        Commission::earned(
            CommissionId::from_uuid(Uuid::nil()),
            &conversion(),
            usd(2_000),
            None,
            Duration::days(30),
        )
    }

    #[test]
    fn partial_refund_reduces_in_proportion_and_full_refund_voids() {
        let c = pending();
        let at = datetime!(2026-01-11 0:00 UTC);
        let c1 = c
            .apply(CommissionEvent::Refunded {
                sale: usd(10_000),
                refunded: usd(2_500),
                at,
            })
            .unwrap();
        assert_eq!(c1.amount, usd(1_500));
        assert_eq!(c1.state, CommissionState::Pending);
        // Cumulative: the same total again is a no-op.
        let c2 = c1
            .apply(CommissionEvent::Refunded {
                sale: usd(10_000),
                refunded: usd(2_500),
                at,
            })
            .unwrap();
        assert_eq!(c2, c1);
        let c3 = c2
            .apply(CommissionEvent::Refunded {
                sale: usd(10_000),
                refunded: usd(10_000),
                at,
            })
            .unwrap();
        assert_eq!(c3.amount, usd(0));
        assert!(matches!(
            c3.state,
            CommissionState::Voided {
                reason: ChangeReason::Refund,
                ..
            }
        ));
    }

    #[test]
    fn finalize_waits_for_the_hold_and_then_locks() {
        let c = pending();
        let early = c.hold_until - Duration::seconds(1);
        assert!(c.apply(CommissionEvent::Finalize { now: early }).is_err());
        let f = c
            .apply(CommissionEvent::Finalize { now: c.hold_until })
            .unwrap();
        assert!(matches!(f.state, CommissionState::Finalized { .. }));
        // Replay is fine; refunds are refused (they become adjustments).
        assert_eq!(
            f.apply(CommissionEvent::Finalize { now: c.hold_until })
                .unwrap(),
            f
        );
        assert!(
            f.apply(CommissionEvent::Cancelled { at: c.hold_until })
                .is_err()
        );
        assert!(
            f.apply(CommissionEvent::Refunded {
                sale: usd(10_000),
                refunded: usd(1),
                at: c.hold_until
            })
            .is_err()
        );
    }

    #[test]
    fn a_hold_blocks_finalization_until_released_or_rejected() {
        let c = pending();
        let at = datetime!(2026-01-12 0:00 UTC);
        let held = c
            .apply(CommissionEvent::Hold {
                reason: OnHoldReason::SelfReferral,
                at,
            })
            .unwrap();
        assert_eq!(
            held.state,
            CommissionState::OnHold {
                reason: OnHoldReason::SelfReferral,
                since: at
            }
        );
        assert!(held.state.is_open());
        // Never finalized while held, even long after the holding period.
        let late = c.hold_until + Duration::days(365);
        assert!(held.apply(CommissionEvent::Finalize { now: late }).is_err());
        // A second hold keeps the first reason and instant.
        let again = held
            .apply(CommissionEvent::Hold {
                reason: OnHoldReason::Manual,
                at: late,
            })
            .unwrap();
        assert_eq!(again, held);
        // A partial refund shrinks it and keeps it held.
        let refunded = held
            .apply(CommissionEvent::Refunded {
                sale: usd(10_000),
                refunded: usd(5_000),
                at,
            })
            .unwrap();
        assert_eq!(refunded.amount, usd(1_000));
        assert_eq!(refunded.state, held.state);
        // Release: pending, and finalizable again.
        let released = refunded.apply(CommissionEvent::Release).unwrap();
        assert_eq!(released.state, CommissionState::Pending);
        assert!(
            released
                .apply(CommissionEvent::Finalize { now: late })
                .is_ok()
        );
        assert!(released.apply(CommissionEvent::Release).is_err());
        assert!(released.apply(CommissionEvent::Reject { at }).is_err());
        // Reject: voided at zero; a replay is fine, a release is not.
        let rejected = held.apply(CommissionEvent::Reject { at: late }).unwrap();
        assert_eq!(rejected.amount, usd(0));
        assert_eq!(
            rejected.state,
            CommissionState::Voided {
                at: late,
                reason: ChangeReason::Rejected
            }
        );
        assert_eq!(
            rejected.apply(CommissionEvent::Reject { at }).unwrap(),
            rejected
        );
        assert!(rejected.apply(CommissionEvent::Release).is_err());
        // A finalized commission cannot be held.
        let f = c
            .apply(CommissionEvent::Finalize { now: c.hold_until })
            .unwrap();
        assert!(
            f.apply(CommissionEvent::Hold {
                reason: OnHoldReason::Manual,
                at
            })
            .is_err()
        );
    }

    #[test]
    fn hold_reasons_round_trip_their_wire_names() {
        for r in OnHoldReason::ALL {
            assert_eq!(OnHoldReason::parse(r.as_str()), Some(r));
            assert_eq!(
                serde_json::to_value(r).unwrap(),
                serde_json::json!(r.as_str())
            );
        }
        assert_eq!(OnHoldReason::parse("fraud"), None);
    }

    #[test]
    fn adjustments_net_to_the_refunded_value() {
        let f = pending()
            .apply(CommissionEvent::Finalize {
                now: datetime!(2026-03-01 0:00 UTC),
            })
            .unwrap();
        let refunded = Conversion {
            refunded: usd(3_333),
            ..conversion()
        };
        let worth = f.worth(&refunded).unwrap();
        assert_eq!(worth, usd(1_333));
        let adj = f.adjustment_needed(&usd(0), &worth).unwrap();
        assert_eq!(adj, Some(usd(-667)));
        // After recording it, the same refund needs nothing more.
        assert_eq!(f.adjustment_needed(&usd(-667), &worth).unwrap(), None);
        // A cancellation claws back the rest.
        let cancelled = Conversion {
            cancelled: true,
            ..refunded.clone()
        };
        let worth = f.worth(&cancelled).unwrap();
        assert_eq!(
            f.adjustment_needed(&usd(-667), &worth).unwrap(),
            Some(usd(-1_333))
        );
        // A correction of what the sale earns may raise it; later refunds
        // scale the corrected amount.
        let corrected = Conversion {
            corrected_commission: Some(usd(3_000)),
            corrections: 1,
            ..refunded
        };
        let worth = f.worth(&corrected).unwrap();
        assert_eq!(worth, usd(2_000));
        assert_eq!(
            f.adjustment_needed(&usd(-667), &worth).unwrap(),
            Some(usd(667))
        );
    }

    #[test]
    fn a_pending_correction_sets_the_amount_and_zero_voids() {
        let c = pending();
        let at = datetime!(2026-01-11 0:00 UTC);
        let up = c
            .apply(CommissionEvent::Corrected {
                worth: usd(2_500),
                at,
            })
            .unwrap();
        assert_eq!(up.amount, usd(2_500));
        assert_eq!(up.original_amount, usd(2_000));
        assert_eq!(up.state, CommissionState::Pending);
        let zero = up
            .apply(CommissionEvent::Corrected { worth: usd(0), at })
            .unwrap();
        assert!(matches!(
            zero.state,
            CommissionState::Voided {
                reason: ChangeReason::Manual,
                ..
            }
        ));
        assert!(
            c.apply(CommissionEvent::Corrected { worth: usd(-1), at })
                .is_err()
        );
    }

    #[test]
    fn a_commission_corrected_to_nothing_comes_back_when_corrected_up() {
        let at = datetime!(2026-01-11 0:00 UTC);
        let zero = pending()
            .apply(CommissionEvent::Corrected { worth: usd(0), at })
            .unwrap();
        let back = zero
            .apply(CommissionEvent::Corrected {
                worth: usd(700),
                at,
            })
            .unwrap();
        assert_eq!(back.state, CommissionState::Pending);
        assert_eq!(back.amount, usd(700));
        // Voided otherwise (here by cancellation), it stays voided.
        let cancelled = pending().apply(CommissionEvent::Cancelled { at }).unwrap();
        assert_eq!(
            cancelled
                .apply(CommissionEvent::Corrected {
                    worth: usd(700),
                    at
                })
                .unwrap(),
            cancelled
        );
    }

    #[test]
    fn a_lead_is_worth_its_amount_with_no_sale() {
        let lead = Conversion {
            amount: usd(0),
            kind: ConversionKind::Lead,
            ..conversion()
        };
        let c = Commission::earned(
            CommissionId::from_uuid(Uuid::nil()),
            &lead,
            usd(500),
            None,
            Duration::days(0),
        );
        assert_eq!(c.worth(&lead).unwrap(), usd(500));
    }

    /// One change to a finalized sale: a refund to a cumulative total, a
    /// cancellation, or a correction of what it earns.
    #[derive(Debug, Clone)]
    enum Change {
        RefundTo(i64),
        Cancel,
        Correct(i64),
    }

    fn change() -> impl proptest::strategy::Strategy<Value = Change> {
        use proptest::prelude::*;
        prop_oneof![
            (0_i64..=10_000).prop_map(Change::RefundTo),
            Just(Change::Cancel),
            (0_i64..=99_999_999).prop_map(Change::Correct),
        ]
    }

    proptest::proptest! {
        /// Whatever refunds, cancellations and corrections follow
        /// finalization, the finalized row plus its adjustments always sum
        /// to exactly what the sale is worth: no cent created or lost, and
        /// never below zero.
        #[test]
        fn adjustments_always_sum_to_the_worth(
            earned in 1_i64..=99_999_999,
            changes in proptest::collection::vec(change(), 0..12),
        ) {
            let mut conversion = conversion();
            let finalized = Commission {
                amount: usd(earned),
                original_amount: usd(earned),
                ..pending()
            }
            .apply(CommissionEvent::Finalize {
                now: datetime!(2026-03-01 0:00 UTC),
            })
            .unwrap();
            let mut adjustments = usd(0);
            for c in changes {
                match c {
                    Change::RefundTo(total) => {
                        if total > conversion.refunded.amount_minor() {
                            conversion.refunded = usd(total);
                        }
                    }
                    Change::Cancel => conversion.cancelled = true,
                    Change::Correct(to) => {
                        if !conversion.cancelled {
                            conversion.corrected_commission = Some(usd(to));
                            conversion.corrections += 1;
                        }
                    }
                }
                let worth = finalized.worth(&conversion).unwrap();
                proptest::prop_assert!(!worth.is_negative());
                if let Some(delta) = finalized.adjustment_needed(&adjustments, &worth).unwrap() {
                    adjustments = adjustments.checked_add(&delta).unwrap();
                }
                let total = finalized.amount.checked_add(&adjustments).unwrap();
                proptest::prop_assert_eq!(total, worth);
            }
        }
    }

    #[test]
    fn coupon_beats_referral() {
        let code = CouponCode::parse("SARAH20").unwrap();
        let key = ReferralKey::parse("tom").unwrap();
        let (a, b) = (1, 2);
        let (via, who) = attribute(Some((&code, &a)), Some((&key, &b))).unwrap();
        assert_eq!(via, AttributedBy::Coupon(code));
        assert_eq!(*who, 1);
        let (via, who) = attribute::<i32>(None, Some((&key, &b))).unwrap();
        assert_eq!(via, AttributedBy::Referral(key));
        assert_eq!(*who, 2);
        assert!(attribute::<i32>(None, None).is_none());
    }

    #[test]
    fn recurring_rules() {
        let one_time = CommissionRule::flat(CommissionAmount::Fixed { amount: usd(500) }, None);
        let recurring = CommissionRule {
            recurring_months: Some(3),
            ..one_time.clone()
        };
        let first = datetime!(2026-01-31 0:00 UTC);
        assert!(qualifies(&one_time, None, first));
        assert!(!qualifies(
            &one_time,
            Some(first),
            first + Duration::days(1)
        ));
        assert!(qualifies(
            &recurring,
            Some(first),
            datetime!(2026-04-29 0:00 UTC)
        ));
        assert!(!qualifies(
            &recurring,
            Some(first),
            datetime!(2026-04-30 0:00 UTC)
        ));
    }
}
