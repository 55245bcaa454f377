//! Conversions, attribution, refunds and cancellations, and finalization.

use serde::{Deserialize, Serialize};

use super::audit::Entry;
use super::{Payouts, derived_uuid, ignore_duplicate};
use crate::audit::{Acting, AuditAction};
use crate::commission::{
    ChangeReason, Commission, CommissionEvent, CommissionKind, CommissionState, Conversion,
    ConversionInput, attribute, qualifies,
};
use crate::error::{Blocked, DomainError, StoreError};
use crate::ids::{CommissionId, ExternalId, MerchantId, ProgramId};
use crate::money::Money;
use crate::partner::{Membership, MembershipStatus};
use crate::period::Period;
use crate::ports::{
    Clock, CommissionStore, ConnectGateway, ConversionStore, CouponStore, IdGenerator,
    MembershipStore, PayoutGateway, ProgramStore,
};
use crate::program::ProgramStatus;

/// The result of recording a conversion.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
#[expect(
    clippy::large_enum_variant,
    reason = "returned once per request, never stored in bulk"
)]
pub enum RecordOutcome {
    /// New: stored, with the commission it earned (none when the program's
    /// one-time or recurring rule excludes it).
    Recorded {
        /// The conversion.
        conversion: Conversion,
        /// Its commission.
        commission: Option<Commission>,
    },
    /// The external id was already recorded; nothing changed.
    Duplicate {
        /// The conversion stored first.
        conversion: Conversion,
    },
}

/// No conversion is older than this: an instant before it is a mistake
/// (and periods, sums and stored instants stay in range).
const EARLIEST_CONVERSION: time::OffsetDateTime = time::macros::datetime!(2000-01-01 0:00 UTC);

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore
        + MembershipStore
        + CouponStore
        + ConversionStore
        + CommissionStore
        + crate::ports::AuditStore
        + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Records a conversion for a program. It is attributed by coupon code
    /// or referral key (a code beats a link; see [`attribute`]), earns a
    /// commission by the program's rule, and is held `pending` for the
    /// program's holding period. A repeated external id is recognised and
    /// ignored.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a bad amount or no matching partner;
    /// [`DomainError::Blocked`] for an archived program.
    pub async fn record_conversion(
        &self,
        program_id: ProgramId,
        input: ConversionInput,
    ) -> Result<RecordOutcome, DomainError> {
        let program = self.program(program_id).await?;
        if let Some(existing) = self
            .store
            .conversion_by_external_id(&program.merchant_id, &input.external_id)
            .await?
        {
            return Ok(RecordOutcome::Duplicate {
                conversion: existing,
            });
        }
        if program.status == ProgramStatus::Archived {
            return Err(Blocked::ProgramArchived.into());
        }
        if input.amount.currency() != program.currency {
            return Err(DomainError::validation(
                "currency",
                format!("the program pays in {}", program.currency),
            ));
        }
        if !input.amount.is_positive() {
            return Err(DomainError::validation("amount", "must be positive"));
        }
        if !input.amount.within_stripe_max() {
            return Err(DomainError::validation(
                "amount",
                "must be at most 99999999 minor units (Stripe's eight digits)",
            ));
        }
        let now = self.clock.now();
        if input.occurred_at < EARLIEST_CONVERSION
            || input.occurred_at > now.saturating_add(time::Duration::days(1))
        {
            return Err(DomainError::validation(
                "occurred_at",
                "must be from 2000-01-01 to a day from now",
            ));
        }
        let by_coupon = match &input.coupon_code {
            Some(code) => self
                .store
                .coupon(&program.merchant_id, code)
                .await?
                .filter(|c| c.active && c.program_id == program_id),
            None => None,
        };
        let coupon_member = match &by_coupon {
            Some(c) => self.store.membership(c.membership_id).await?.filter(active),
            None => None,
        };
        let referral_member = match &input.referral_key {
            Some(key) => self
                .store
                .membership_by_referral(program_id, key)
                .await?
                .filter(active),
            None => None,
        };
        let coupon_pair = by_coupon
            .as_ref()
            .zip(coupon_member.as_ref())
            .map(|(c, m)| (&c.code, m));
        let referral_pair = input.referral_key.as_ref().zip(referral_member.as_ref());
        let Some((attributed_by, member)) = attribute(coupon_pair, referral_pair) else {
            return Err(DomainError::validation(
                "attribution",
                "no active partner matches the coupon code or referral key",
            ));
        };
        let first = match &input.customer_ref {
            Some(customer) => self.store.first_conversion_at(program_id, customer).await?,
            None => None,
        };
        let conversion = Conversion {
            id: self.ids.next_id(),
            merchant_id: program.merchant_id.clone(),
            program_id,
            membership_id: member.id,
            partner_id: member.partner_id,
            external_id: input.external_id.clone(),
            amount: input.amount,
            refunded: Money::zero(input.amount.currency()),
            cancelled: false,
            occurred_at: input.occurred_at,
            attributed_by,
            customer_ref: input.customer_ref,
            payment_ref: input.payment_ref,
        };
        let commission = if qualifies(&program.commission_rule, first, input.occurred_at) {
            let amount = program.commission_rule.commission_for(&input.amount)?;
            amount.is_positive().then(|| {
                Commission::earned(
                    self.ids.next_id(),
                    &conversion,
                    amount,
                    program.holding_period(),
                )
            })
        } else {
            None
        };
        match self
            .store
            .insert_conversion(&conversion, commission.as_ref())
            .await
        {
            Ok(()) => Ok(RecordOutcome::Recorded {
                conversion,
                commission,
            }),
            Err(StoreError::Duplicate { .. }) => {
                // A concurrent request stored it first.
                let existing = self
                    .store
                    .conversion_by_external_id(&program.merchant_id, &input.external_id)
                    .await?
                    .ok_or_else(|| {
                        DomainError::Unavailable("duplicate conversion vanished".into())
                    })?;
                Ok(RecordOutcome::Duplicate {
                    conversion: existing,
                })
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Records the conversion's cumulative refund (Stripe's
    /// `amount_refunded`), found by external id. Before finalization the
    /// commission shrinks in proportion, or is voided by a full refund;
    /// after it, a negative adjustment nets against the next payout.
    /// Cumulative totals make replays harmless.
    ///
    /// # Errors
    /// [`DomainError::NotFound`], [`DomainError::Validation`] for a refund
    /// above the sale or in another currency.
    pub async fn record_refund(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
        refunded_total: Money,
    ) -> Result<Vec<Commission>, DomainError> {
        let conversion = self.conversion_by_external(merchant, external_id).await?;
        self.refund(conversion, refunded_total).await
    }

    /// [`Payouts::record_refund`], with the conversion found by its Stripe
    /// payment reference (payment intent, charge or invoice id).
    ///
    /// # Errors
    /// As [`Payouts::record_refund`].
    pub async fn record_refund_by_payment(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
        refunded_total: Money,
    ) -> Result<Vec<Commission>, DomainError> {
        let conversion = self
            .store
            .conversion_by_payment_ref(merchant, payment_ref)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "conversion",
                id: payment_ref.to_owned(),
            })?;
        self.refund(conversion, refunded_total).await
    }

    /// Cancels the order: before finalization the commission is voided;
    /// after it, an adjustment claws back what remains.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn cancel_conversion(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Vec<Commission>, DomainError> {
        let conversion = self.conversion_by_external(merchant, external_id).await?;
        let current = if conversion.cancelled {
            conversion
        } else {
            let next = Conversion {
                cancelled: true,
                ..conversion.clone()
            };
            self.store
                .update_conversion(&next, &conversion.refunded, conversion.cancelled)
                .await?;
            next
        };
        self.settle_commissions(&current).await
    }

    async fn conversion_by_external(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Conversion, DomainError> {
        self.store
            .conversion_by_external_id(merchant, external_id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "conversion",
                id: external_id.to_string(),
            })
    }

    async fn refund(
        &self,
        conversion: Conversion,
        refunded_total: Money,
    ) -> Result<Vec<Commission>, DomainError> {
        if refunded_total.currency() != conversion.amount.currency() {
            return Err(DomainError::validation(
                "currency",
                "the refund is in another currency",
            ));
        }
        if refunded_total.is_negative()
            || refunded_total.amount_minor() > conversion.amount.amount_minor()
        {
            return Err(DomainError::validation(
                "amount",
                "a refund must be between 0 and the sale amount",
            ));
        }
        // Only ever move the cumulative total forward; an older total is a
        // late replay. Commissions are settled either way, so a crash
        // between the two writes heals on the next delivery.
        let current = if refunded_total.amount_minor() > conversion.refunded.amount_minor() {
            let next = Conversion {
                refunded: refunded_total,
                ..conversion.clone()
            };
            self.store
                .update_conversion(&next, &conversion.refunded, conversion.cancelled)
                .await?;
            next
        } else {
            conversion
        };
        self.settle_commissions(&current).await
    }

    /// Brings the conversion's commissions in line with its refunds and
    /// cancellation. Idempotent.
    async fn settle_commissions(
        &self,
        conversion: &Conversion,
    ) -> Result<Vec<Commission>, DomainError> {
        let now = self.clock.now();
        let rows = self.store.commissions_of_conversion(conversion.id).await?;
        let mut changed = Vec::new();
        for earned in rows.iter().filter(|c| c.kind == CommissionKind::Earned) {
            match earned.state {
                CommissionState::Pending => {
                    let event = if conversion.cancelled {
                        CommissionEvent::Cancelled { at: now }
                    } else {
                        CommissionEvent::Refunded {
                            sale: conversion.amount,
                            refunded: conversion.refunded,
                            at: now,
                        }
                    };
                    let next = earned.apply(event)?;
                    if next != *earned {
                        self.store
                            .update_commission(&next, &earned.state, &earned.amount)
                            .await?;
                        changed.push(next);
                    }
                }
                CommissionState::Finalized { .. } => {
                    let adjusted = rows
                        .iter()
                        .filter(|c| matches!(c.kind, CommissionKind::Adjustment { corrects, .. } if corrects == earned.id))
                        .map(|c| &c.amount);
                    let existing = Money::sum(earned.amount.currency(), adjusted)?;
                    let Some(delta) = earned.adjustment_needed(
                        &existing,
                        &conversion.amount,
                        &conversion.refunded,
                        conversion.cancelled,
                    )?
                    else {
                        continue;
                    };
                    // The id is derived from the target state, so a
                    // concurrent twin of this adjustment hits the unique key.
                    let id = CommissionId::from_uuid(derived_uuid(&[
                        "adjustment",
                        &earned.id.to_string(),
                        &conversion.refunded.amount_minor().to_string(),
                        if conversion.cancelled {
                            "cancelled"
                        } else {
                            "live"
                        },
                    ]));
                    let reason = if conversion.cancelled {
                        ChangeReason::Cancellation
                    } else {
                        ChangeReason::Refund
                    };
                    let adjustment = Commission::adjustment(id, earned, delta, reason, now);
                    if ignore_duplicate(self.store.insert_commission(&adjustment).await)? {
                        changed.push(adjustment);
                    }
                }
                CommissionState::Voided { .. } => {}
            }
        }
        Ok(changed)
    }

    /// Finalizes the program's pending commissions of `period` and earlier
    /// whose holding period has ended, in one set-based update. Returns how
    /// many were finalized. When some were, it is recorded as
    /// `period.finalized` by `acting`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a period after the current month;
    /// [`DomainError::NotFound`], [`DomainError::Unavailable`].
    pub async fn finalize_period(
        &self,
        program_id: ProgramId,
        period: Period,
        acting: &Acting,
    ) -> Result<u64, DomainError> {
        let program = self.program(program_id).await?;
        let now = self.clock.now();
        if period > Period::containing(now) {
            return Err(DomainError::validation(
                "period",
                "cannot finalize a period that has not started",
            ));
        }
        let finalized = self.store.finalize_due(program.id, period, now).await?;
        // Like every entry, only a change is recorded: the scheduler
        // finalizes every program on each tick, mostly finding nothing due.
        if finalized > 0 {
            self.record(
                acting,
                Entry {
                    action: AuditAction::PeriodFinalized,
                    merchant_id: Some(&program.merchant_id),
                    object_id: program.id.to_string(),
                    before: None,
                    after: Some(serde_json::json!({
                        "period": period.to_string(),
                        "finalized": finalized,
                    })),
                },
            )
            .await?;
        }
        Ok(finalized)
    }
}

fn active(m: &Membership) -> bool {
    m.status == MembershipStatus::Active
}
