//! Stripe webhook events, in domain terms. The Stripe adapter verifies and
//! parses raw events into [`InboundEvent`];
//! [`Payouts::handle_event`](crate::engine::Payouts::handle_event) claims
//! each event id once and maps its kind to a use case. An event type the
//! rules do not use is [`EventKind::Ignored`]: acknowledged, never an error.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::engine::AccountSnapshot;
use crate::ids::{AccountId, DisputeId, EventId, PaymentIntentId, PromotionCodeId, TransferId};
use crate::money::Money;
use crate::ports::BankPayout;

/// A verified Stripe event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InboundEvent {
    /// `evt_…`: processed once, however often it is delivered.
    pub id: EventId,
    /// The raw `type`, e.g. `account.application.deauthorized`.
    pub event_type: String,
    /// `event.account`: the connected account it happened on, if any.
    pub account: Option<AccountId>,
    /// `created`.
    #[serde(with = "time::serde::rfc3339")]
    pub created: OffsetDateTime,
    /// `livemode`.
    pub livemode: bool,
    /// What it means.
    pub kind: EventKind,
}

/// A dispute as Stripe reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisputeRecord {
    /// `dp_…`.
    pub dispute_id: DisputeId,
    /// The disputed payment.
    pub payment_intent: Option<PaymentIntentId>,
    /// The disputed amount.
    pub amount: Money,
    /// `fraudulent`, `product_not_received`, …
    pub reason: String,
    /// `needs_response`, `under_review`, `won`, `lost`, …
    pub status: String,
    /// When evidence is due.
    #[serde(with = "time::serde::rfc3339::option")]
    pub evidence_due_by: Option<OffsetDateTime>,
}

/// A checkout session or invoice paid with a promotion code: a conversion
/// to attribute to the code's partner (sync mode `stripe`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PromotionCodeSale {
    /// The session or invoice id: the conversion's external id.
    pub external_id: String,
    /// The promotion code applied.
    pub promotion_code: PromotionCodeId,
    /// The amount paid (after the discount).
    pub amount: Money,
    /// Stripe's customer id, if any.
    pub customer: Option<String>,
    /// The payment intent, so `charge.refunded` can find the conversion.
    pub payment_intent: Option<PaymentIntentId>,
}

/// What an event means to the rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EventKind {
    /// `account.updated`: a merchant's or a partner's account changed.
    AccountUpdated(AccountSnapshot),
    /// `account.application.deauthorized`: the account in `event.account`
    /// revoked the platform.
    AccountDeauthorized,
    /// `transfer.reversed`: the transfer's cumulative reversed amount.
    TransferReversed {
        /// The transfer.
        transfer_id: TransferId,
        /// Total reversed so far.
        amount_reversed: Money,
    },
    /// Any other `transfer.*` event.
    TransferChanged {
        /// The transfer.
        transfer_id: TransferId,
    },
    /// `payout.paid` / `payout.failed` / other `payout.*`: a bank payout of
    /// the account in `event.account`.
    Payout(BankPayout),
    /// `payment_intent.succeeded`.
    PaymentSucceeded {
        /// The payment.
        payment_intent: PaymentIntentId,
        /// The amount received.
        amount: Money,
    },
    /// `payment_intent.payment_failed`.
    PaymentFailed {
        /// The payment.
        payment_intent: PaymentIntentId,
        /// Stripe's `last_payment_error.code`, if any.
        code: Option<String>,
    },
    /// `charge.refunded`: the cumulative amount refunded.
    ChargeRefunded {
        /// The charge's payment intent, if any.
        payment_intent: Option<PaymentIntentId>,
        /// The charge id (`ch_…`).
        charge: String,
        /// Cumulative `amount_refunded`.
        amount_refunded: Money,
    },
    /// `charge.dispute.*`.
    Dispute(DisputeRecord),
    /// `checkout.session.completed` / `invoice.paid` carrying a promotion code.
    PromotionCodeSale(PromotionCodeSale),
    /// `promotion_code.updated`.
    PromotionCodeUpdated {
        /// The code.
        promotion_code: PromotionCodeId,
        /// Whether it is still active.
        active: bool,
    },
    /// A type the rules do not use, or a recognised type without the data
    /// that would make it matter (e.g. a checkout without a promotion code).
    Ignored,
}
