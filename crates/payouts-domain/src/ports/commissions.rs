//! `CommissionStore`: commissions, the ledger and balances.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::batch::PartnerBalance;
use crate::commission::{Commission, CommissionState, OnHoldReason};
use crate::error::StoreError;
use crate::ids::{CommissionId, ConversionId, MerchantId, PartnerId, PayoutItemId, ProgramId};
use crate::money::Money;
use crate::period::Period;

use super::{Page, PageRequest};

/// Which commissions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommissionFilter {
    /// Only this merchant's (always set by tenant-scoped callers).
    pub merchant_id: Option<MerchantId>,
    /// Only this program's.
    pub program_id: Option<ProgramId>,
    /// Only this partner's.
    pub partner_id: Option<PartnerId>,
    /// Only in this state (`pending`, `on_hold`, `finalized`, `voided`).
    pub state: Option<String>,
    /// Only on hold for this reason (implies `on_hold`).
    pub hold_reason: Option<OnHoldReason>,
    /// Only in this period.
    pub period: Option<Period>,
    /// Only paid by this item.
    pub payout_item_id: Option<PayoutItemId>,
}

/// One row of the ledger: the sum of a period's finalized commissions
/// linked to items in one state (or to none: carried).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerRow {
    /// The period the commissions belong to.
    pub period: Period,
    /// The wire name of their item's state; `None` when not in any item.
    pub item_state: Option<String>,
    /// Their sum.
    pub amount: Money,
}

/// Items in one state, aggregated: what summaries are built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateTotal {
    /// The wire name of the state (`pending`, `posted`, …).
    pub state: String,
    /// How many items.
    pub count: u64,
    /// Their amounts.
    pub amount: Money,
    /// Their reversed amounts.
    pub reversed: Money,
}

/// Commissions, finalization and the set-based aggregates batches need.
#[async_trait]
pub trait CommissionStore: Send + Sync {
    /// Inserts a commission (adjustments are inserted directly).
    ///
    /// # Errors
    /// [`StoreError::Duplicate`].
    async fn insert_commission(&self, commission: &Commission) -> Result<(), StoreError>;

    /// A commission by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn commission(&self, id: CommissionId) -> Result<Option<Commission>, StoreError>;

    /// Every commission row of a conversion (earned and adjustments).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn commissions_of_conversion(
        &self,
        conversion: ConversionId,
    ) -> Result<Vec<Commission>, StoreError>;

    /// Writes `next` if the stored state and amount are `expected_state` and
    /// `expected_amount`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_commission(
        &self,
        next: &Commission,
        expected_state: &CommissionState,
        expected_amount: &Money,
    ) -> Result<(), StoreError>;

    /// Finalizes, in one set-based update, every pending commission of the
    /// program in `period` or earlier whose hold ended at or before `now`.
    /// Returns how many rows changed.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn finalize_due(
        &self,
        program: ProgramId,
        period: Period,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError>;

    /// A page of commissions, oldest id first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn list_commissions(
        &self,
        filter: &CommissionFilter,
        page: PageRequest,
    ) -> Result<Page<Commission>, StoreError>;

    /// Each partner's finalized, unpaid net in the program for `period` and
    /// earlier, counting rows finalized at or before `as_of`; aggregated by
    /// the store (e.g. one `GROUP BY`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn partner_balances(
        &self,
        program: ProgramId,
        period: Period,
        as_of: OffsetDateTime,
    ) -> Result<Vec<PartnerBalance>, StoreError>;

    /// The program's finalized commissions summed per period and per state
    /// of the item they are linked to (`None` when unlinked).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn ledger(&self, program: ProgramId) -> Result<Vec<LedgerRow>, StoreError>;

    /// The sum of the program's finalized commissions per period.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn finalized_totals(
        &self,
        program: ProgramId,
    ) -> Result<Vec<(Period, Money)>, StoreError>;
}
