//! Conversions, attribution, refunds and cancellations, and finalization.

use serde::{Deserialize, Serialize};

use super::audit::{Entry, snapshot};
use super::{Payouts, derived_uuid, ignore_duplicate};
use crate::audit::{Acting, AuditAction};
use crate::commission::{
    ChangeReason, Commission, CommissionEvent, CommissionKind, CommissionState, Conversion,
    ConversionInput, attribute, qualifies,
};
use crate::error::{Blocked, DomainError, StoreError};
use crate::hold::hold_for_new_commission;
use crate::ids::{CommissionId, ConversionId, ExternalId, MerchantId, ProgramId};
use crate::money::Money;
use crate::partner::{Membership, MembershipStatus};
use crate::period::Period;
use crate::ports::{
    Clock, CommissionStore, ConnectGateway, ConversionStore, CouponStore, IdGenerator,
    MembershipStore, PayoutGateway, ProgramStore,
};
use crate::program::ProgramStatus;
use crate::reward::{AppliedRule, ConversionKind, PartnerTotals, RateContext};

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

/// A conversion after a refund, cancellation or correction through the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConversionChange {
    /// The conversion as it is now.
    pub conversion: Conversion,
    /// Commissions changed or added by this call (empty on a repeat).
    pub changed: Vec<Commission>,
    /// Every commission of the conversion: the earned one and its adjustments.
    pub commissions: Vec<Commission>,
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
    /// program's holding period, or `on_hold` for review when it is a
    /// self-referral or the partner's bank account is another partner's
    /// (see [`crate::hold`]). A repeated external id is recognised and
    /// ignored.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a bad amount, a malformed customer
    /// e-mail or no matching partner;
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
        match input.kind {
            ConversionKind::Sale if !input.amount.is_positive() => {
                return Err(DomainError::validation("amount", "must be positive"));
            }
            ConversionKind::Lead if !input.amount.is_zero() => {
                return Err(DomainError::validation(
                    "amount",
                    "a lead has no sale amount; send 0",
                ));
            }
            ConversionKind::Sale | ConversionKind::Lead => {}
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
        let rule = &program.commission_rule;
        let is_sale = input.kind == ConversionKind::Sale;
        let customer_email = match input.customer_email {
            Some(email) => {
                let email = email.trim().to_owned();
                if !crate::partner::valid_email(&email) {
                    return Err(DomainError::validation(
                        "customer_email",
                        "is not an e-mail address",
                    ));
                }
                Some(email)
            }
            None => None,
        };
        let first = match &input.customer_ref {
            Some(customer) if is_sale => {
                self.store.first_conversion_at(program_id, customer).await?
            }
            _ => None,
        };
        let customer_prior_sales = match &input.customer_ref {
            Some(customer) if is_sale && rule.first_conversions.is_some() => {
                Some(self.store.customer_sale_count(program_id, customer).await?)
            }
            _ => None,
        };
        let partner = if is_sale && rule.tiers.is_some() {
            self.store.partner_totals(member.id).await?
        } else {
            PartnerTotals::default()
        };
        let applied = rule.select(&RateContext {
            kind: input.kind,
            product_id: input.product_id.as_ref(),
            customer_prior_sales,
            partner,
        })?;
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
            kind: input.kind,
            product_id: input.product_id,
            corrected_commission: None,
            corrections: 0,
            customer_email,
        };
        let earns = !is_sale || qualifies(rule, first, input.occurred_at);
        let mut commission = if earns {
            let amount = match &applied {
                AppliedRule::Lead { amount } => *amount,
                other => other.rate().commission_for(&input.amount)?,
            };
            amount.is_positive().then(|| {
                Commission::earned(
                    self.ids.next_id(),
                    &conversion,
                    amount,
                    Some(applied),
                    program.holding_period(),
                )
            })
        } else {
            None
        };
        if let Some(earned) = commission.as_mut() {
            let hold = hold_for_new_commission(
                conversion.customer_email.as_deref(),
                &member.email,
                self.shares_bank_account(member).await?,
            );
            if let Some(reason) = hold {
                *earned = earned.apply(CommissionEvent::Hold { reason, at: now })?;
            }
        }
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

    async fn merchant_conversion(
        &self,
        merchant: &MerchantId,
        id: ConversionId,
    ) -> Result<Conversion, DomainError> {
        self.store
            .conversion(id)
            .await?
            .filter(|c| c.merchant_id == *merchant)
            .ok_or_else(|| DomainError::NotFound {
                entity: "conversion",
                id: id.to_string(),
            })
    }

    async fn conversion_change(
        &self,
        id: ConversionId,
        changed: Vec<Commission>,
    ) -> Result<ConversionChange, DomainError> {
        let conversion = self
            .store
            .conversion(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "conversion",
                id: id.to_string(),
            })?;
        let commissions = self.store.commissions_of_conversion(id).await?;
        Ok(ConversionChange {
            conversion,
            changed,
            commissions,
        })
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
        self.cancel(conversion).await
    }

    async fn cancel(&self, conversion: Conversion) -> Result<Vec<Commission>, DomainError> {
        let current = if conversion.cancelled {
            conversion
        } else {
            let next = Conversion {
                cancelled: true,
                ..conversion.clone()
            };
            self.store.update_conversion(&next, &conversion).await?;
            next
        };
        self.settle_commissions(&current, ChangeReason::Cancellation)
            .await
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
        if conversion.kind == ConversionKind::Lead {
            return Err(DomainError::validation(
                "conversion",
                "a lead has no sale to refund; cancel it or correct it instead",
            ));
        }
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
            self.store.update_conversion(&next, &conversion).await?;
            next
        } else {
            conversion
        };
        self.settle_commissions(&current, ChangeReason::Refund)
            .await
    }

    /// Brings the conversion's commissions in line with its refunds and
    /// cancellation. Idempotent.
    async fn settle_commissions(
        &self,
        conversion: &Conversion,
        reason: ChangeReason,
    ) -> Result<Vec<Commission>, DomainError> {
        let now = self.clock.now();
        // The rows first, then the conversion as stored now: a conversion
        // only moves forward, so no row read here was made for a later
        // state than the one settled to. A caller's copy may be older than
        // a concurrent request's (which may have added rows for its newer
        // state); settling to that older state would pay back what the
        // newer one took, under an id the correction could never reuse.
        let rows = self.store.commissions_of_conversion(conversion.id).await?;
        let fresh =
            self.store
                .conversion(conversion.id)
                .await?
                .ok_or_else(|| DomainError::NotFound {
                    entity: "conversion",
                    id: conversion.id.to_string(),
                })?;
        let conversion = &fresh;
        let mut changed = Vec::new();
        for earned in rows.iter().filter(|c| c.kind == CommissionKind::Earned) {
            match earned.state {
                CommissionState::Pending | CommissionState::OnHold { .. } => {
                    let event = if conversion.cancelled {
                        CommissionEvent::Cancelled { at: now }
                    } else if conversion.corrected_commission.is_some() {
                        CommissionEvent::Corrected {
                            worth: earned.worth(conversion)?,
                            at: now,
                        }
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
                    let worth = earned.worth(conversion)?;
                    let Some(delta) = earned.adjustment_needed(&existing, &worth)? else {
                        continue;
                    };
                    // The id is derived from the target state (which only
                    // moves forward: refunds grow, cancellation is final,
                    // corrections are counted), so a concurrent twin of
                    // this adjustment hits the unique key.
                    let earned_id = earned.id.to_string();
                    let refunded = conversion.refunded.amount_minor().to_string();
                    let corrections = format!("corrections {}", conversion.corrections);
                    let mut key = vec![
                        "adjustment",
                        earned_id.as_str(),
                        refunded.as_str(),
                        if conversion.cancelled {
                            "cancelled"
                        } else {
                            "live"
                        },
                    ];
                    if conversion.corrections > 0 {
                        key.push(corrections.as_str());
                    }
                    let id = CommissionId::from_uuid(derived_uuid(&key));
                    let reason = if conversion.cancelled {
                        ChangeReason::Cancellation
                    } else {
                        reason
                    };
                    let adjustment = Commission::adjustment(id, earned, delta, reason, now);
                    if ignore_duplicate(self.store.insert_commission(&adjustment).await)? {
                        changed.push(adjustment);
                    }
                }
                CommissionState::Voided {
                    reason: ChangeReason::Manual,
                    ..
                } if conversion.corrected_commission.is_some() && !conversion.cancelled => {
                    let next = earned.apply(CommissionEvent::Corrected {
                        worth: earned.worth(conversion)?,
                        at: now,
                    })?;
                    if next != *earned {
                        self.store
                            .update_commission(&next, &earned.state, &earned.amount)
                            .await?;
                        changed.push(next);
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
    /// Refunds `amount` more of the conversion (the API's refunds, for
    /// sales that are not Stripe charges): the cumulative refund grows by
    /// `amount`, then as [`Payouts::record_refund`]. Not idempotent by
    /// itself; the API makes it so with `Idempotency-Key`.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Validation`] for a lead,
    /// an amount that is not positive, in another currency, or beyond what
    /// is left of the sale.
    pub async fn refund_conversion(
        &self,
        merchant: &MerchantId,
        id: ConversionId,
        amount: Money,
        acting: &Acting,
    ) -> Result<ConversionChange, DomainError> {
        let conversion = self.merchant_conversion(merchant, id).await?;
        if amount.currency() != conversion.amount.currency() {
            return Err(DomainError::validation(
                "currency",
                format!("the sale is in {}", conversion.amount.currency()),
            ));
        }
        if !amount.is_positive() {
            return Err(DomainError::validation("amount", "must be positive"));
        }
        let left = conversion.amount.checked_sub(&conversion.refunded)?;
        if amount.amount_minor() > left.amount_minor() {
            return Err(DomainError::validation(
                "amount",
                format!("only {} of the sale is left to refund", left.amount_minor()),
            ));
        }
        let total = conversion.refunded.checked_add(&amount)?;
        let before = conversion.clone();
        let commissions = self.refund(conversion, total).await?;
        let change = self.conversion_change(id, commissions).await?;
        self.audit_change(acting, AuditAction::ConversionRefunded, &before, &change)
            .await?;
        Ok(change)
    }

    /// Cancels the conversion by id (the API's cancel); as
    /// [`Payouts::cancel_conversion`]. Repeating it changes nothing.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn cancel_conversion_by_id(
        &self,
        merchant: &MerchantId,
        id: ConversionId,
        acting: &Acting,
    ) -> Result<ConversionChange, DomainError> {
        let conversion = self.merchant_conversion(merchant, id).await?;
        let before = conversion.clone();
        let commissions = self.cancel(conversion).await?;
        let change = self.conversion_change(id, commissions).await?;
        self.audit_change(acting, AuditAction::ConversionCancelled, &before, &change)
            .await?;
        Ok(change)
    }

    /// An operator's correction: the conversion now earns `commission`
    /// (before refunds, which still reduce it in proportion) instead of
    /// what its rule gave. Before finalization the commission changes
    /// (zero voids it); after it, a signed adjustment nets the difference
    /// against the partner's next payout, and a negative one after payment
    /// is carried as a debt. Correcting to the amount already in force
    /// changes nothing.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Validation`] for a
    /// negative amount, another currency, a cancelled conversion or one
    /// that earned no commission.
    pub async fn correct_conversion(
        &self,
        merchant: &MerchantId,
        id: ConversionId,
        commission: Money,
        acting: &Acting,
    ) -> Result<ConversionChange, DomainError> {
        let conversion = self.merchant_conversion(merchant, id).await?;
        if commission.currency() != conversion.amount.currency() {
            return Err(DomainError::validation(
                "currency",
                format!("the sale is in {}", conversion.amount.currency()),
            ));
        }
        if commission.is_negative() || !commission.within_stripe_max() {
            return Err(DomainError::validation(
                "amount",
                "must be from 0 to 99999999 minor units",
            ));
        }
        if conversion.cancelled {
            return Err(DomainError::validation(
                "conversion",
                "the order was cancelled; it earns nothing to correct",
            ));
        }
        let rows = self.store.commissions_of_conversion(id).await?;
        let Some(earned) = rows.iter().find(|c| c.kind == CommissionKind::Earned) else {
            return Err(DomainError::validation(
                "conversion",
                "it earned no commission to correct",
            ));
        };
        let before = conversion.clone();
        let basis = conversion
            .corrected_commission
            .unwrap_or(earned.original_amount);
        let current = if basis == commission {
            conversion
        } else {
            let next = Conversion {
                corrected_commission: Some(commission),
                corrections: conversion.corrections.saturating_add(1),
                ..conversion.clone()
            };
            self.store.update_conversion(&next, &conversion).await?;
            next
        };
        let commissions = self
            .settle_commissions(&current, ChangeReason::Manual)
            .await?;
        let change = self.conversion_change(id, commissions).await?;
        self.audit_change(acting, AuditAction::ConversionCorrected, &before, &change)
            .await?;
        Ok(change)
    }

    /// A conversion by id.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn conversion(&self, id: ConversionId) -> Result<Conversion, DomainError> {
        self.store
            .conversion(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "conversion",
                id: id.to_string(),
            })
    }

    /// Records an API correction in the audit trail when it changed the
    /// conversion or a commission; a repeat that changed nothing records
    /// nothing.
    async fn audit_change(
        &self,
        acting: &Acting,
        action: AuditAction,
        before: &Conversion,
        change: &ConversionChange,
    ) -> Result<(), DomainError> {
        if change.conversion == *before && change.changed.is_empty() {
            return Ok(());
        }
        self.record(
            acting,
            Entry {
                action,
                merchant_id: Some(&change.conversion.merchant_id),
                object_id: change.conversion.id.to_string(),
                before: Some(snapshot(before)),
                after: Some(serde_json::json!({
                    "conversion": snapshot(&change.conversion),
                    "changed": snapshot(&change.changed),
                })),
            },
        )
        .await
    }
}
