//! `BatchStore`: payout batches.

use async_trait::async_trait;

use crate::batch::{BatchState, PayoutBatch};
use crate::error::StoreError;
use crate::ids::{BatchId, ProgramId};
use crate::item::PayoutItem;

use super::{Page, PageRequest};

/// Payout batches; a batch is inserted with its items, in one transaction.
#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Inserts a batch with its items and links, in the same transaction,
    /// every finalized unpaid commission (period ≤ batch period, finalized
    /// at or before `batch.as_of`) of each itemized membership to its item.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the program already has a batch for the
    /// period; [`StoreError::Conflict`] when an item's amount differs from
    /// the sum of the commissions it would link (nothing is written).
    async fn insert_batch(
        &self,
        batch: &PayoutBatch,
        items: &[PayoutItem],
    ) -> Result<(), StoreError>;

    /// A batch by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn batch(&self, id: BatchId) -> Result<Option<PayoutBatch>, StoreError>;

    /// A program's batches, newest period first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn batches_of(&self, program: ProgramId) -> Result<Vec<PayoutBatch>, StoreError>;

    /// One keyset page of a program's batches, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn batches_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<PayoutBatch>, StoreError>;

    /// Batches in `state` (for the scheduler).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn batches_in_state(&self, state: BatchState) -> Result<Vec<PayoutBatch>, StoreError>;

    /// Writes `next` if the stored state is `expected`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_batch(
        &self,
        next: &PayoutBatch,
        expected: BatchState,
    ) -> Result<(), StoreError>;
}
