//! Outbox notifications: what the rules tell merchants and partners. They
//! are written in the same transaction as the change that causes them and
//! delivered later by a [`crate::ports::Notifier`].

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::{MerchantId, NotificationId, PartnerId};

/// What a notification is about. The wire names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotificationKind {
    /// Seed 000: the merchant revoked OAuth; the partner's payouts are paused.
    PartnerMerchantOauthRevoked,
    /// A payout was sent to the partner.
    PartnerPayoutSent,
    /// The partner's account cannot receive transfers; they must finish onboarding.
    PartnerPayoutDestinationCannotReceive,
    /// A payout to the partner failed on the merchant's side (balance short,
    /// account inactive) and waits: for a retry, or for the merchant.
    PartnerPayoutDelayed,
    /// The merchant's balance was short; the ladder retries later.
    MerchantInsufficientBalanceRetry,
    /// The balance was short too many times; automatic retries stopped.
    MerchantInsufficientBalanceEscalated,
    /// Stripe reports the merchant's account inactive; payouts are paused.
    MerchantAccountInactive,
    /// The merchant revoked access; the program is on probation.
    MerchantProbationStarted,
    /// The probation window closed; the program is archived.
    MerchantProgramArchived,
    /// Reconciliation found a difference between our records and Stripe's
    /// (or an unbalanced ledger); one notification per difference.
    MerchantReconciliationDifference,
}

impl NotificationKind {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            NotificationKind::PartnerMerchantOauthRevoked => "partner_merchant_oauth_revoked",
            NotificationKind::PartnerPayoutSent => "partner_payout_sent",
            NotificationKind::PartnerPayoutDestinationCannotReceive => {
                "partner_payout_destination_cannot_receive"
            }
            NotificationKind::PartnerPayoutDelayed => "partner_payout_delayed",
            NotificationKind::MerchantInsufficientBalanceRetry => {
                "merchant_insufficient_balance_retry"
            }
            NotificationKind::MerchantInsufficientBalanceEscalated => {
                "merchant_insufficient_balance_escalated"
            }
            NotificationKind::MerchantAccountInactive => "merchant_account_inactive",
            NotificationKind::MerchantProbationStarted => "merchant_probation_started",
            NotificationKind::MerchantProgramArchived => "merchant_program_archived",
            NotificationKind::MerchantReconciliationDifference => {
                "merchant_reconciliation_difference"
            }
        }
    }
}

/// Who a notification is for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum Recipient {
    /// A merchant (its configured endpoint or operators).
    Merchant(MerchantId),
    /// A partner.
    Partner(PartnerId),
}

/// An outbox row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Its id.
    pub id: NotificationId,
    /// The merchant it concerns (tenant scope).
    pub merchant_id: MerchantId,
    /// What.
    pub kind: NotificationKind,
    /// For whom.
    pub recipient: Recipient,
    /// Unique: the same fact is notified once, however often it is replayed.
    pub dedupe_key: String,
    /// Details for the message.
    pub payload: serde_json::Value,
    /// When written.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// When delivered, once it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub delivered_at: Option<OffsetDateTime>,
}
