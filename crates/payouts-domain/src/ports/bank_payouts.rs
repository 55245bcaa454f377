//! `BankPayoutStore`: Stripe payouts to partners' banks.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{AccountId, StripePayoutId};
use crate::money::Money;

/// A Stripe payout to a partner's bank (from `payout.*` events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BankPayout {
    /// Stripe's id.
    pub payout_id: StripePayoutId,
    /// The partner's account.
    pub account_id: AccountId,
    /// The amount.
    pub amount: Money,
    /// Stripe's status (`paid`, `failed`, `in_transit`, …).
    pub status: String,
    /// Stripe's failure code, when failed.
    pub failure_code: Option<String>,
    /// Expected arrival.
    #[serde(with = "time::serde::rfc3339::option")]
    pub arrival_date: Option<OffsetDateTime>,
    /// Last update.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Partners' bank payouts, as `payout.*` events report them.
#[async_trait]
pub trait BankPayoutStore: Send + Sync {
    /// Inserts or updates a bank payout by its id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn upsert_bank_payout(&self, payout: &BankPayout) -> Result<(), StoreError>;

    /// Bank payouts to an account, newest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn bank_payouts(&self, account: &AccountId) -> Result<Vec<BankPayout>, StoreError>;
}
