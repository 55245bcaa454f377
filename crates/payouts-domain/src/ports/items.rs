//! `ItemStore`: payout items.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{
    BatchId, CommissionId, MerchantId, PartnerId, PayoutItemId, ProgramId, TransferId, WorkerId,
};
use crate::item::{ItemState, PayoutItem};
use crate::notification::Notification;

use super::{Page, PageRequest, StateTotal};

/// One change of [`ItemStore::commit_items`].
#[derive(Debug, Clone, PartialEq)]
pub struct ItemChange {
    /// The item as it is to be.
    pub next: PayoutItem,
    /// The state it must be in for the change to apply.
    pub expected: ItemState,
    /// Written with the change, or not at all.
    pub notifications: Vec<Notification>,
}

/// Payout items: claims under leases, compare-and-set transitions (with the
/// outbox writes that go with item outcomes), and item reports.
#[async_trait]
pub trait ItemStore: Send + Sync {
    /// An item by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn item(&self, id: PayoutItemId) -> Result<Option<PayoutItem>, StoreError>;

    /// A page of a batch's items, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn items(
        &self,
        batch: BatchId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError>;

    /// Claims up to `limit` items of the batch for `worker` until
    /// `lease_until`: open items (`pending`, `submitting`,
    /// `reconcile_required`) with no lease or an expired one
    /// (`until <= now`), whatever their state. Each claimed item is held by
    /// one worker at a time.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn claim_items(
        &self,
        batch: BatchId,
        worker: &WorkerId,
        now: OffsetDateTime,
        lease_until: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError>;

    /// Renews `worker`'s claims: for each `(id, held_until)`, moves the
    /// lease's end to `until` if the item is open and its lease is still
    /// `worker`'s, ending no later than `held_until` (the latest end the
    /// worker knows of; a write of the item may have carried an earlier
    /// one). A compare-and-set: an item that ended, backed off beyond
    /// `held_until`, was released or was taken over is left alone.
    /// Answers, in order, whether each renewal applied.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn renew_leases(
        &self,
        worker: &WorkerId,
        held: &[(PayoutItemId, OffsetDateTime)],
        until: OffsetDateTime,
    ) -> Result<Vec<bool>, StoreError>;

    /// Writes `next` (state and lease) if the stored state is `expected`,
    /// and enqueues `notifications` in the same transaction. Notifications
    /// whose dedupe key exists are skipped.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn transition_item(
        &self,
        next: &PayoutItem,
        expected: &ItemState,
        notifications: &[Notification],
    ) -> Result<(), StoreError>;

    /// Writes each `(next, expected)` change as [`ItemStore::transition_item`]
    /// does (without notifications) and answers, in order, whether it
    /// applied: `false` where the stored state was not `expected`. Each
    /// change is its own compare-and-set; an adapter may write them all in
    /// one transaction (the default writes them one by one).
    ///
    /// # Errors
    /// [`StoreError::NotFound`] for an unknown item; [`StoreError::Unavailable`].
    async fn transition_items(
        &self,
        changes: &[(PayoutItem, ItemState)],
    ) -> Result<Vec<bool>, StoreError> {
        let mut applied = Vec::with_capacity(changes.len());
        for (next, expected) in changes {
            applied.push(match self.transition_item(next, expected, &[]).await {
                Ok(()) => true,
                Err(StoreError::Conflict { .. }) => false,
                Err(other) => return Err(other),
            });
        }
        Ok(applied)
    }

    /// Writes each change as [`ItemStore::transition_item`] does (a
    /// compare-and-set on `expected`, its notifications with it or not at
    /// all) and answers, in order, whether it applied: `false` where the
    /// stored state was not `expected` or the item does not exist. The
    /// engine gathers the outcomes of concurrent sends into one call; an
    /// adapter should write them in one transaction (the default writes
    /// them one by one).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`]: then none of them applied, unless the
    /// adapter writes them one by one (the default), when the ones before
    /// the failure did.
    async fn commit_items(&self, changes: &[ItemChange]) -> Result<Vec<bool>, StoreError> {
        let mut applied = Vec::with_capacity(changes.len());
        for change in changes {
            applied.push(
                match self
                    .transition_item(&change.next, &change.expected, &change.notifications)
                    .await
                {
                    Ok(()) => true,
                    Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => false,
                    Err(other) => return Err(other),
                },
            );
        }
        Ok(applied)
    }

    /// Failed items whose `retry_at` is at or before `now`, up to `limit`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn items_due_for_retry(
        &self,
        now: OffsetDateTime,
        limit: u32,
    ) -> Result<Vec<PayoutItem>, StoreError>;

    /// Failed items of a program whose failure kind is `account_inactive`
    /// and that have no retry scheduled.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn items_waiting_for_merchant(
        &self,
        program: ProgramId,
    ) -> Result<Vec<PayoutItem>, StoreError>;

    /// Items of the batch with an open outcome (`submitting`, `reconcile_required`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn items_in_flight(&self, batch: BatchId) -> Result<Vec<PayoutItem>, StoreError>;

    /// The item paid by a transfer.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn item_by_transfer(
        &self,
        transfer: &TransferId,
    ) -> Result<Option<PayoutItem>, StoreError>;

    /// Counts and sums of the batch's items per state (aggregated by the store).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn item_totals(&self, batch: BatchId) -> Result<Vec<StateTotal>, StoreError>;

    /// Counts and sums of all the program's items per state.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn program_item_totals(&self, program: ProgramId) -> Result<Vec<StateTotal>, StoreError>;

    /// Counts and sums of every item, across batches and programs, per
    /// state and currency (for metrics): one row per pair that has items,
    /// ordered by state then currency. Amounts in different currencies are
    /// never added together, so a state may appear once per currency.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn item_state_counts(&self) -> Result<Vec<StateTotal>, StoreError>;

    /// A page of a partner's items, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn items_of_partner(
        &self,
        partner: PartnerId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError>;

    /// A page of the merchant's paid items (`posted` or `reversed`), by
    /// id, across programs and batches: what its 1099 list tallies.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn paid_items_of_merchant(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, StoreError>;

    /// The commission ids an item pays.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn item_commission_ids(
        &self,
        item: PayoutItemId,
    ) -> Result<Vec<CommissionId>, StoreError>;
}
