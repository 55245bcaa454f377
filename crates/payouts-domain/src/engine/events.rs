//! Verified Stripe webhook events: each one claimed once, then handed to
//! the use case its kind maps to.

use serde::Serialize;

use super::Payouts;
use crate::commission::ConversionInput;
use crate::engine::{AccountSnapshot, RecordOutcome};
use crate::error::DomainError;
use crate::events::{EventKind, InboundEvent, PromotionCodeSale};
use crate::ids::{AccountId, ExternalId, PaymentIntentId, PromotionCodeId, TransferId};
use crate::money::Money;
use crate::partner::Coupon;
use crate::ports::{
    BankPayoutStore, BatchStore, Clock, CommissionStore, ConnectGateway, ConnectionStore,
    ConversionStore, CouponStore, DisputeStore, FailureKind, IdGenerator, ItemStore, LeaseStore,
    MembershipStore, OutboxStore, PayoutGateway, ProgramStore, SettingsStore,
};
use crate::program::CouponSyncMode;

/// What handling one webhook event did. Every outcome is an acknowledgement:
/// only an `Err` from [`Payouts::handle_event`] asks Stripe to deliver again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum EventOutcome {
    /// The event was acted on; `action` names what was done
    /// (`conversion_recorded`, `refund_recorded`, …).
    Applied {
        /// The use case that ran.
        action: &'static str,
    },
    /// The event id was claimed before (processed, or being processed by a
    /// concurrent delivery); nothing was done.
    Duplicate,
    /// Nothing to do: the event does not concern anything stored here, or
    /// its type needs no action.
    Ignored {
        /// Why, for logs.
        reason: String,
    },
}

fn applied(action: &'static str) -> EventOutcome {
    EventOutcome::Applied { action }
}

fn ignored(reason: impl Into<String>) -> EventOutcome {
    EventOutcome::Ignored {
        reason: reason.into(),
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ConnectionStore
        + ProgramStore
        + MembershipStore
        + CouponStore
        + BankPayoutStore
        + ConversionStore
        + CommissionStore
        + BatchStore
        + ItemStore
        + OutboxStore
        + SettingsStore
        + DisputeStore
        + LeaseStore
        + crate::ports::AuditStore
        + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Acts on one verified Stripe event, once per event id.
    ///
    /// The id is claimed (`record_event`) before acting, so a duplicate or
    /// concurrent delivery answers [`EventOutcome::Duplicate`] and does
    /// nothing. When acting fails, the claim is released (`forget_event`)
    /// and the error returned, so that Stripe's next delivery processes the
    /// event again. A crash between the claim and the end of the action
    /// leaves the event claimed but unprocessed; the use cases behind it
    /// are idempotent, so replaying such an event by hand is safe.
    ///
    /// | kind | action |
    /// |---|---|
    /// | `AccountDeauthorized` | [`Payouts::handle_deauthorization`] of `event.account` |
    /// | `AccountUpdated` | [`Payouts::apply_account_update`] of the account as Stripe holds it now (retrieved: events arrive out of order) |
    /// | `PromotionCodeSale` | [`Payouts::record_conversion`] attributed to the code's coupon (program in `stripe` sync mode) |
    /// | `ChargeRefunded` | [`Payouts::record_refund_by_payment`] of the account's merchant, by payment intent, then by charge |
    /// | `TransferReversed` | [`Payouts::record_transfer_reversal`] |
    /// | `Payout` | the partner's bank payout history |
    /// | `Dispute` | the dispute record (a newer stored version wins) |
    /// | `PromotionCodeUpdated` | the coupon's active flag |
    /// | anything else | [`EventOutcome::Ignored`] |
    ///
    /// # Errors
    /// Whatever the use case returns ([`DomainError::Unavailable`],
    /// [`DomainError::Conflict`] on a race, [`DomainError::Validation`] for a
    /// sale or refund the rules refuse, …); the event is then not recorded.
    pub async fn handle_event(&self, event: &InboundEvent) -> Result<EventOutcome, DomainError> {
        if !self.store.record_event(&event.id, self.clock.now()).await? {
            return Ok(EventOutcome::Duplicate);
        }
        match self.act_on(event).await {
            Ok(outcome) => Ok(outcome),
            Err(error) => {
                // The caller needs the action's error, not the release's: if
                // releasing fails too, the event stays claimed (see above).
                let _released = self.store.forget_event(&event.id).await;
                Err(error)
            }
        }
    }

    /// `account.updated`, taken as a notification: Stripe does not deliver
    /// events in order, so an older event (say, `disabled`) may arrive after
    /// a newer one. The account is retrieved and its current state applied,
    /// so that whatever order the events come in, the last one handled
    /// leaves Stripe's current state. Accounts that are neither a merchant's
    /// nor a partner's here are ignored without a call to Stripe.
    async fn account_updated(&self, event: &AccountSnapshot) -> Result<EventOutcome, DomainError> {
        let account = &event.account_id;
        let known = self.store.connection_by_account(account).await?.is_some()
            || !self.store.memberships_by_account(account).await?.is_empty();
        if !known {
            return Ok(ignored(format!(
                "{account} is no merchant's or partner's account here"
            )));
        }
        let current = match self.gateway.account_snapshot(account).await {
            Ok(current) => current,
            // The platform may no longer read it (a revoked merchant, a
            // deleted account): nothing current to apply, and Stripe's
            // retries would not change that.
            Err(e) if matches!(e.kind, FailureKind::NotFound | FailureKind::InvalidRequest) => {
                return Ok(ignored(format!(
                    "{account} cannot be retrieved: {}",
                    e.message
                )));
            }
            // Unavailable: the event is released and Stripe delivers it again.
            Err(e) => return Err(e.into()),
        };
        self.apply_account_update(&current).await?;
        Ok(applied("account_updated"))
    }

    async fn act_on(&self, event: &InboundEvent) -> Result<EventOutcome, DomainError> {
        let account = event.account.as_ref();
        match &event.kind {
            EventKind::AccountDeauthorized => {
                let Some(account) = account else {
                    return Ok(ignored("the event names no connected account"));
                };
                let acting = crate::audit::Acting::stripe(Some(event.id.as_str()));
                let outcome = self
                    .handle_deauthorization(account, event.created, &acting)
                    .await?;
                Ok(match outcome.merchant_id {
                    Some(_) => applied("account_deauthorized"),
                    None => ignored(format!("{account} is not a merchant's account")),
                })
            }
            EventKind::AccountUpdated(snapshot) => self.account_updated(snapshot).await,
            EventKind::PromotionCodeSale(sale) => self.promotion_code_sale(event, sale).await,
            EventKind::ChargeRefunded {
                payment_intent,
                charge,
                amount_refunded,
            } => {
                self.charge_refunded(account, payment_intent.as_ref(), charge, *amount_refunded)
                    .await
            }
            EventKind::TransferReversed {
                transfer_id,
                amount_reversed,
            } => self.transfer_reversed(transfer_id, *amount_reversed).await,
            EventKind::Payout(payout) => {
                // Only a partner's payouts are history here, and Stripe's
                // amounts are never negative.
                if payout.amount.amount_minor() < 0 {
                    return Ok(ignored(format!(
                        "payout {} has a negative amount",
                        payout.payout_id
                    )));
                }
                if self
                    .store
                    .memberships_by_account(&payout.account_id)
                    .await?
                    .is_empty()
                {
                    return Ok(ignored(format!(
                        "{} is no partner's account here",
                        payout.account_id
                    )));
                }
                self.store.upsert_bank_payout(payout).await?;
                Ok(applied("bank_payout_recorded"))
            }
            EventKind::Dispute(dispute) => {
                let written = self
                    .store
                    .upsert_dispute(account, dispute, event.created)
                    .await?;
                Ok(if written {
                    applied("dispute_recorded")
                } else {
                    ignored(format!(
                        "a newer version of {} is stored",
                        dispute.dispute_id
                    ))
                })
            }
            EventKind::PromotionCodeUpdated {
                promotion_code,
                active,
            } => {
                let Some(mut coupon) = self.partner_coupon(account, promotion_code).await? else {
                    return Ok(ignored(format!(
                        "{promotion_code} is not a partner's coupon code of this account"
                    )));
                };
                if coupon.active == *active {
                    return Ok(ignored(format!(
                        "coupon code {} is already {}",
                        coupon.code,
                        if *active { "active" } else { "inactive" }
                    )));
                }
                coupon.active = *active;
                self.store.update_coupon(&coupon).await?;
                Ok(applied("coupon_activation_updated"))
            }
            EventKind::TransferChanged { .. }
            | EventKind::PaymentSucceeded { .. }
            | EventKind::PaymentFailed { .. } => {
                Ok(ignored(format!("`{}` needs no action", event.event_type)))
            }
            EventKind::Ignored => Ok(ignored(format!(
                "`{}` is not used by the rules",
                event.event_type
            ))),
        }
    }

    /// The coupon synced to `promotion_code`, when it belongs to the
    /// merchant whose account sent the event (or the event names none).
    /// Promotion codes live on merchants' accounts, so a code reported by
    /// another account is not that merchant's to attribute.
    async fn partner_coupon(
        &self,
        account: Option<&AccountId>,
        promotion_code: &PromotionCodeId,
    ) -> Result<Option<Coupon>, DomainError> {
        let Some(coupon) = self.store.coupon_by_promotion_code(promotion_code).await? else {
            return Ok(None);
        };
        if let Some(account) = account {
            let merchant = self
                .store
                .connection_by_account(account)
                .await?
                .map(|c| c.merchant_id);
            if merchant.as_ref() != Some(&coupon.merchant_id) {
                return Ok(None);
            }
        }
        Ok(Some(coupon))
    }

    async fn promotion_code_sale(
        &self,
        event: &InboundEvent,
        sale: &PromotionCodeSale,
    ) -> Result<EventOutcome, DomainError> {
        let code = &sale.promotion_code;
        let Some(coupon) = self.partner_coupon(event.account.as_ref(), code).await? else {
            return Ok(ignored(format!(
                "{code} is not a partner's coupon code of this account"
            )));
        };
        let program = self.program(coupon.program_id).await?;
        if program.coupon_sync != CouponSyncMode::Stripe {
            return Ok(ignored(format!(
                "program {} records coupon sales in `{}` mode, not from Stripe",
                program.id,
                program.coupon_sync.as_str()
            )));
        }
        let input = ConversionInput {
            customer_email: None,
            external_id: ExternalId::parse(sale.external_id.clone())?,
            amount: sale.amount,
            occurred_at: event.created,
            coupon_code: Some(coupon.code),
            referral_key: None,
            customer_ref: sale.customer.clone(),
            payment_ref: sale.payment_intent.as_ref().map(ToString::to_string),
            kind: crate::reward::ConversionKind::Sale,
            product_id: None,
        };
        Ok(match self.record_conversion(program.id, input).await? {
            RecordOutcome::Recorded { .. } => applied("conversion_recorded"),
            RecordOutcome::Duplicate { conversion } => ignored(format!(
                "conversion {} was already recorded",
                conversion.external_id
            )),
        })
    }

    async fn charge_refunded(
        &self,
        account: Option<&AccountId>,
        payment_intent: Option<&PaymentIntentId>,
        charge: &str,
        refunded_total: Money,
    ) -> Result<EventOutcome, DomainError> {
        let Some(account) = account else {
            return Ok(ignored("a refund on the platform's own account"));
        };
        let Some(connection) = self.store.connection_by_account(account).await? else {
            return Ok(ignored(format!("{account} is not a merchant's account")));
        };
        // A conversion carries whichever reference the sale was recorded
        // with: the payment intent (promotion-code sales) or the charge.
        let references = payment_intent
            .map(PaymentIntentId::as_str)
            .into_iter()
            .chain(std::iter::once(charge));
        for reference in references {
            match self
                .record_refund_by_payment(&connection.merchant_id, reference, refunded_total)
                .await
            {
                Ok(_) => return Ok(applied("refund_recorded")),
                // How `record_refund_by_payment` says no conversion has
                // this reference (a sale no partner referred).
                Err(DomainError::NotFound {
                    entity: "conversion",
                    id,
                }) if id == reference => {}
                Err(other) => return Err(other),
            }
        }
        Ok(ignored(format!(
            "no conversion of {} was paid by {}",
            connection.merchant_id,
            payment_intent.map_or(charge, PaymentIntentId::as_str)
        )))
    }

    async fn transfer_reversed(
        &self,
        transfer: &TransferId,
        reversed_total: Money,
    ) -> Result<EventOutcome, DomainError> {
        Ok(
            match self
                .record_transfer_reversal(transfer, reversed_total)
                .await?
            {
                Some(_) => applied("transfer_reversal_recorded"),
                None => ignored(format!("no payout item was paid by {transfer}")),
            },
        )
    }
}
