//! Batches: build, approve, execute item by item, retry, the failure
//! ladder, reconciliation, status refresh and reversals.
//!
//! The safety argument, in short:
//! * an item's move to `submitting` (with its attempt and key) is committed
//!   before Stripe is called, and its outcome after; the key is derived from
//!   the item and attempt, so every re-send after a crash, a timeout or a
//!   lost response carries the same key and Stripe answers with the same
//!   transfer;
//! * a new attempt (new key) starts only after a definitive refusal, or after
//!   a reconciliation that looked the transfer up and found none;
//! * every write is compare-and-set on the state it read, so two workers
//!   can never both record an outcome for one attempt;
//! * items are claimed with leases, so one worker sends an item at a time,
//!   and an expired lease (a crashed worker) lets another take over;
//! * one source account is paid from by one worker at a time (a lease per
//!   account), so several instances together keep to its Stripe budget.
//!
//! A run with a timer renews its claims and its account lease while it
//! lives, and waits for its delayed items (a back-off) instead of ending.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use futures_util::stream::{self, BoxStream, TryStreamExt};

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Payouts;
use super::audit::{Entry, batch_snapshot, snapshot};
use crate::audit::{Acting, ActorKind, AuditAction};
use crate::batch::{
    Approval, BatchEvent, BatchState, BatchSummary, ManifestLine, PayoutBatch, manifest_hash,
    plan_batch, policy_approval,
};
use crate::error::{Blocked, DomainError, StoreError};
use crate::ids::{AccountId, BatchId, IdempotencyKey, PayoutItemId, ProgramId};
use crate::item::{
    Failure, FailureEffect, ItemEvent, ItemState, Lease, PayoutItem, transfer_group,
};
use crate::money::Money;
use crate::notification::{Notification, NotificationKind, Recipient};
use crate::period::Period;
use crate::ports::{
    AuditStore, BatchStore, Clock, CommissionStore, ConnectGateway, ConnectionStore,
    ConversionStore, FailureKind, GatewayError, IdGenerator, ItemChange, ItemStore, LeaseStore,
    MembershipStore, Page, PageRequest, PayoutGateway, ProgramStore, SettingsStore, Timer,
    TransferRequest,
};
use crate::program::{HoldReason, Program, ProgramEvent};

/// What one run of [`Payouts::execute_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ExecutionReport {
    /// Items claimed and processed.
    pub processed: u32,
    /// Items that posted.
    pub posted: u32,
    /// Items that failed definitively.
    pub failed: u32,
    /// Items left `submitting` after an ambiguous answer (re-sent later, same key).
    pub ambiguous: u32,
    /// Items resolved by reconciliation.
    pub reconciled: u32,
    /// Why the run stopped early, if it did.
    pub stopped: Option<Blocked>,
    /// The batch's state after the run.
    pub batch_state: Option<BatchState>,
    /// Nothing was sent: another worker is paying from the same Stripe
    /// account (the batch goes on there, or at the scheduler's next sweep),
    /// or, for [`Payouts::resume_batch`], this engine is running the batch
    /// already.
    #[serde(default)]
    pub deferred: bool,
}

/// The claims one run holds (item → its lease's end), renewed while it lives.
#[derive(Debug, Default)]
struct Held(Mutex<HashMap<PayoutItemId, OffsetDateTime>>);

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<PayoutItemId, OffsetDateTime>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// `item` with its claim as last renewed, so that a write of it carries
    /// the claim's current end (an older end would lapse first).
    fn current(&self, mut item: PayoutItem) -> PayoutItem {
        if let (Some(lease), Some(until)) = (item.lease.as_mut(), self.lock().get(&item.id)) {
            lease.until = *until;
        }
        item
    }
}

/// The runs of one engine paying from each source account (by account id),
/// and running each batch (`batch:{id}`). An account counted 0 is being
/// released by its last run: a new run waits until that is done, so that it
/// never runs on a lease released under it.
pub(super) type Paying = std::sync::Arc<Mutex<HashMap<String, usize>>>;

/// One run's share of an account lease: dropped (the run ended, or its
/// future was dropped), it leaves the count; [`AccountShare::end`] says
/// whether it was the last, which releases the lease.
struct AccountShare {
    paying: Paying,
    key: String,
    ended: bool,
}

/// What [`AccountShare::join_paying`] found.
enum Joined {
    /// Joined the runs counted there.
    Share(AccountShare),
    /// None counted: the lease is to be taken.
    Nobody,
    /// The last run is releasing the lease.
    Releasing,
}

/// Held by the last run of an account while it releases the lease; dropped,
/// the account is free to count again.
struct Releasing {
    paying: Paying,
    key: String,
}

impl Drop for Releasing {
    fn drop(&mut self) {
        let mut paying = self.paying.lock().unwrap_or_else(PoisonError::into_inner);
        if paying.get(&self.key) == Some(&0) {
            paying.remove(&self.key);
        }
    }
}

impl AccountShare {
    fn new(paying: &Paying, key: String) -> Self {
        AccountShare {
            paying: std::sync::Arc::clone(paying),
            key,
            ended: false,
        }
    }

    fn counts(paying: &Paying) -> std::sync::MutexGuard<'_, HashMap<String, usize>> {
        paying.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts one more run under `key`; `None` (counting nothing) when
    /// `alone` and another run is counted there already.
    fn join(paying: &Paying, key: String, alone: bool) -> Option<Self> {
        {
            let mut counts = Self::counts(paying);
            let n = counts.entry(key.clone()).or_insert(0);
            if alone && *n > 0 {
                return None;
            }
            *n = n.saturating_add(1);
        }
        Some(Self::new(paying, key))
    }

    /// Joins the runs paying from an account, if any.
    fn join_paying(paying: &Paying, key: &str) -> Joined {
        let mut counts = Self::counts(paying);
        match counts.get_mut(key) {
            None => Joined::Nobody,
            Some(0) => Joined::Releasing,
            Some(n) => {
                *n = n.saturating_add(1);
                drop(counts);
                Joined::Share(Self::new(paying, key.to_owned()))
            }
        }
    }

    /// Counts a run that has just taken (or renewed) the account's lease;
    /// `None` while the last run is releasing it (it may have released it
    /// after this run took it: take it again).
    fn join_acquired(paying: &Paying, key: &str) -> Option<Self> {
        let mut counts = Self::counts(paying);
        match counts.get_mut(key) {
            Some(0) => return None,
            Some(n) => *n = n.saturating_add(1),
            None => {
                counts.insert(key.to_owned(), 1);
            }
        }
        drop(counts);
        Some(Self::new(paying, key.to_owned()))
    }

    /// Leaves the count: `None` when other runs of this engine still pay
    /// from the account, otherwise the guard under which the last run
    /// releases the lease.
    fn end(mut self) -> Option<Releasing> {
        self.ended = true;
        let mut paying = Self::counts(&self.paying);
        match paying.get_mut(&self.key) {
            Some(n) if *n > 1 => {
                *n = n.saturating_sub(1);
                None
            }
            _ => {
                paying.insert(self.key.clone(), 0);
                Some(Releasing {
                    paying: std::sync::Arc::clone(&self.paying),
                    key: self.key.clone(),
                })
            }
        }
    }

    fn leave(&self) {
        let mut paying = Self::counts(&self.paying);
        match paying.get_mut(&self.key) {
            Some(n) if *n > 1 => *n = n.saturating_sub(1),
            _ => {
                paying.remove(&self.key);
            }
        }
    }
}

impl Drop for AccountShare {
    fn drop(&mut self) {
        // A run whose future was dropped: its lease lapses on its own.
        if !self.ended {
            self.leave();
        }
    }
}

/// `item` without its claim, with the state it is expected in: a release
/// that is a compare-and-set on the state (an item that moved meanwhile is
/// left to whoever moved it).
fn unleased(item: PayoutItem) -> (PayoutItem, ItemState) {
    let expected = item.state.clone();
    (
        PayoutItem {
            lease: None,
            ..item
        },
        expected,
    )
}

/// The batch runs counted in `paying` (keys `batch:{id}`).
pub(super) fn runs_in_progress(paying: &Paying) -> usize {
    AccountShare::counts(paying)
        .iter()
        .filter(|(key, _)| key.starts_with("batch:"))
        .fold(0_usize, |n, (_, runs)| n.saturating_add(*runs))
}

/// The lease under which one worker at a time pays from `source`.
fn account_lease(source: &AccountId) -> String {
    format!("payouts:account:{source}")
}

/// What a scheduler sweep did.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct SweepReport {
    /// Items retried.
    pub retried: u32,
    /// Of those, posted.
    pub posted: u32,
    /// Items skipped because their program may not pay now.
    pub skipped: u32,
}

/// How one item ended in one pass.
enum Step {
    Posted { reconciled: bool },
    Failed(FailureKind),
    Ambiguous,
    Skipped,
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore
        + AuditStore
        + MembershipStore
        + ConversionStore
        + CommissionStore
        + BatchStore
        + SettingsStore
        + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Builds the batch of a program for `period`: every finalized, unpaid
    /// commission of that period and earlier, one item per partner, net of
    /// adjustments. Nets below the minimum, negative or zero nets, and
    /// partners who cannot receive transfers carry over with a reason. The
    /// manifest is frozen with a hash, each item's platform fee is recorded,
    /// and the program's policy decides whether it approves itself.
    ///
    /// Recorded in the audit trail as `batch.built`, by `acting`.
    ///
    /// # Errors
    /// [`DomainError::Duplicate`] when the period has a batch;
    /// [`DomainError::Validation`] for a future period.
    pub async fn build_batch(
        &self,
        program_id: ProgramId,
        period: Period,
        acting: &Acting,
    ) -> Result<PayoutBatch, DomainError> {
        self.build(program_id, period, false, acting)
            .await?
            .ok_or_else(|| DomainError::Unavailable("the batch was not built".to_owned()))
    }

    /// [`Payouts::build_batch`] for the scheduler's automatic payouts:
    /// `None`, building nothing, when no partner has a finalized unpaid
    /// balance for `period` or earlier (an empty batch pays nobody and
    /// only clutters the merchant's list).
    ///
    /// # Errors
    /// As [`Payouts::build_batch`].
    pub async fn build_batch_if_due(
        &self,
        program_id: ProgramId,
        period: Period,
        acting: &Acting,
    ) -> Result<Option<PayoutBatch>, DomainError> {
        self.build(program_id, period, true, acting).await
    }

    async fn build(
        &self,
        program_id: ProgramId,
        period: Period,
        skip_empty: bool,
        acting: &Acting,
    ) -> Result<Option<PayoutBatch>, DomainError> {
        let program = self.program(program_id).await?;
        let now = self.clock.now();
        if period > Period::containing(now) {
            return Err(DomainError::validation(
                "period",
                "cannot pay a period that has not started",
            ));
        }
        let balances = self.store.partner_balances(program_id, period, now).await?;
        let memberships: HashMap<_, _> = self
            .store
            .memberships_of(program_id)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let plan = plan_batch(&program, balances, &memberships)?;
        if skip_empty && plan.items.is_empty() && plan.carried.is_empty() {
            return Ok(None);
        }
        let schedule = self.store.fee_schedule().await?;
        let volume = self
            .store
            .monthly_volume(&program.merchant_id, period, program.currency)
            .await?;
        let batch_id: BatchId = self.ids.next_id();
        let mut items = Vec::with_capacity(plan.items.len());
        for planned in plan.items {
            let fee = schedule.fee(&program.merchant_id, &volume, &planned.balance.net)?;
            items.push(PayoutItem {
                id: self.ids.next_id(),
                batch_id,
                merchant_id: program.merchant_id.clone(),
                program_id,
                membership_id: planned.balance.membership_id,
                partner_id: planned.balance.partner_id,
                destination: planned.destination,
                amount: planned.balance.net,
                fee,
                commission_count: planned.balance.commission_count,
                state: ItemState::Pending,
                lease: None,
                resends: 0,
                created_at: now,
            });
        }
        let total = Money::sum(program.currency, items.iter().map(|i| &i.amount))?;
        let fee_total = Money::sum(program.currency, items.iter().map(|i| &i.fee))?;
        let lines: Vec<ManifestLine> = items.iter().map(ManifestLine::of).collect();
        let hash = manifest_hash(batch_id, period, program.currency, &lines, &plan.carried);
        let approval = policy_approval(&program, &total, now)?;
        let batch = PayoutBatch {
            id: batch_id,
            merchant_id: program.merchant_id.clone(),
            program_id,
            period,
            currency: program.currency,
            state: if approval.is_some() {
                BatchState::Approved
            } else {
                BatchState::Draft
            },
            total,
            fee_total,
            item_count: u32::try_from(items.len()).unwrap_or(u32::MAX),
            carried: plan.carried,
            manifest_hash: hash,
            as_of: now,
            approval,
            created_at: now,
            source_account: None,
        };
        self.store.insert_batch(&batch, &items).await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::BatchBuilt,
                merchant_id: Some(&batch.merchant_id),
                object_id: batch.id.to_string(),
                before: None,
                after: Some(batch_snapshot(&batch)),
            },
        )
        .await?;
        Ok(Some(batch))
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: BatchStore + ItemStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// A batch by id.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn batch(&self, id: BatchId) -> Result<PayoutBatch, DomainError> {
        self.store
            .batch(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "batch",
                id: id.to_string(),
            })
    }

    /// An item by id.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn item(&self, id: PayoutItemId) -> Result<PayoutItem, DomainError> {
        self.store
            .item(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "payout item",
                id: id.to_string(),
            })
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ConnectionStore + ProgramStore + BatchStore + ItemStore + LeaseStore + AuditStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Approves a draft batch on behalf of `acting` (the approval names
    /// its subject), recorded as `batch.approved`. Approving an approved
    /// batch is a no-op, and records nothing.
    ///
    /// # Errors
    /// [`DomainError::Transition`] for a batch past approval.
    pub async fn approve_batch(
        &self,
        id: BatchId,
        acting: &Acting,
    ) -> Result<PayoutBatch, DomainError> {
        let batch = self.batch(id).await?;
        let next = batch.apply(&BatchEvent::Approve(Approval::Person {
            actor: acting.actor.subject.clone(),
            at: self.clock.now(),
        }))?;
        if next != batch {
            self.store.update_batch(&next, batch.state).await?;
            self.record(
                acting,
                Entry {
                    action: AuditAction::BatchApproved,
                    merchant_id: Some(&next.merchant_id),
                    object_id: next.id.to_string(),
                    before: Some(batch_snapshot(&batch)),
                    after: Some(batch_snapshot(&next)),
                },
            )
            .await?;
        }
        Ok(next)
    }

    /// Why the program may not pay now, and otherwise the account transfers
    /// are sent from (the merchant's, as `Stripe-Account`).
    async fn payout_source(
        &self,
        program: &Program,
    ) -> Result<Result<AccountId, Blocked>, DomainError> {
        if let Some(blocked) = program.payout_block() {
            return Ok(Err(blocked));
        }
        Ok(match self.store.connection(&program.merchant_id).await? {
            Some(c) if c.status.can_transfer() => Ok(c.account_id),
            Some(c) => Err(Blocked::NotConnected(c.status.as_str().to_owned())),
            None => Err(Blocked::NotConnected("not connected".to_owned())),
        })
    }

    /// The account a batch pays from, or why it may not pay now: the
    /// program must be free to pay and the merchant's connection usable;
    /// then a batch that started pays from the account it started on (the
    /// merchant may have connected another since), and one that has not
    /// started from the merchant's current account.
    async fn batch_source(
        &self,
        batch: &PayoutBatch,
        program: &Program,
    ) -> Result<Result<AccountId, Blocked>, DomainError> {
        Ok(self
            .payout_source(program)
            .await?
            .map(|current| batch.source_account.clone().unwrap_or(current)))
    }

    /// The account to look a batch's transfers up on (refresh, reversal):
    /// the one it paid from, else (a batch from before accounts were kept)
    /// the merchant's current one.
    async fn paid_from(&self, batch: &PayoutBatch) -> Result<Option<AccountId>, DomainError> {
        if let Some(source) = &batch.source_account {
            return Ok(Some(source.clone()));
        }
        Ok(self
            .store
            .connection(&batch.merchant_id)
            .await?
            .map(|c| c.account_id))
    }

    /// The batch, if [`Payouts::execute_batch`] would pay it now: approved
    /// (or already executing) and its program free to pay. An adapter that
    /// runs the batch in the background asks this first, so that it can
    /// answer why not instead of starting a run that does nothing.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Transition`] for a batch
    /// in another state; [`DomainError::Blocked`] with the reason the
    /// program may not pay (probation, archived, on hold, not connected).
    pub async fn executable_batch(&self, id: BatchId) -> Result<PayoutBatch, DomainError> {
        let batch = self.batch(id).await?;
        if !matches!(batch.state, BatchState::Approved | BatchState::Executing) {
            return Err(crate::error::TransitionError {
                entity: "batch",
                from: batch.state.as_str().to_owned(),
                event: "execute".to_owned(),
            }
            .into());
        }
        let program = self.program(batch.program_id).await?;
        self.payout_source(&program)
            .await?
            .map_err(DomainError::Blocked)?;
        Ok(batch)
    }

    /// Asks for a batch to be executed on behalf of `acting`: checks, as
    /// [`Payouts::executable_batch`], that it would pay now, and records
    /// `batch.executed` (with the batch as it was asked for). The run
    /// itself is [`Payouts::execute_batch`], which an adapter starts next
    /// (often in the background); the trail records who asked, not the
    /// outcome of each item, which the items keep.
    ///
    /// # Errors
    /// As [`Payouts::executable_batch`]; nothing is recorded then.
    pub async fn start_execution(
        &self,
        id: BatchId,
        acting: &Acting,
    ) -> Result<PayoutBatch, DomainError> {
        let batch = self.executable_batch(id).await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::BatchExecuted,
                merchant_id: Some(&batch.merchant_id),
                object_id: batch.id.to_string(),
                before: Some(batch_snapshot(&batch)),
                after: None,
            },
        )
        .await?;
        Ok(batch)
    }

    /// Executes an approved (or already executing) batch: claims items in
    /// leases and sends each as its own transfer with its own key. A failure
    /// touches only its own item. Only `pending` items and `submitting`
    /// items whose lease expired are touched; posted and failed outcomes of
    /// earlier runs never change. Safe to run on several workers at once
    /// and to re-run after a crash.
    ///
    /// Up to `EngineConfig::concurrency` items are in flight at once. If the
    /// store fails mid-run, the error is returned and the items in flight
    /// are dropped as in a crash: they stay `submitting` under this worker's
    /// lease and are re-sent, with the same key, once it expires.
    ///
    /// One worker at a time pays from a source account: while another holds
    /// its lease, a run with a timer waits for it (up to
    /// `EngineConfig::tail_wait`); without one it sends nothing and reports
    /// `deferred`. Ambiguous answers leave items `submitting` with a
    /// back-off lease; a run with a timer waits for the earliest of them (up
    /// to `EngineConfig::tail_wait` from when it holds the account's lease)
    /// and re-sends it with the same key, so a run ends when every item has
    /// an outcome. Without a
    /// timer, or past that bound, the run ends and a later run re-sends
    /// them. When every item has an outcome the batch completes.
    ///
    /// # Errors
    /// [`DomainError::Blocked`] when the batch is a draft or the program may
    /// not pay (probation, archived, on hold, not connected).
    pub async fn execute_batch(&self, id: BatchId) -> Result<ExecutionReport, DomainError> {
        self.run_batch(id, true).await
    }

    /// One pass over an executing batch, for a scheduler's sweep: as
    /// [`Payouts::execute_batch`], but it neither waits for a source account
    /// another worker is paying from nor runs a batch this engine is running
    /// already (it reports `deferred`), nor waits for delayed items (it
    /// ends when only they remain).
    ///
    /// # Errors
    /// As [`Payouts::execute_batch`].
    pub async fn resume_batch(&self, id: BatchId) -> Result<ExecutionReport, DomainError> {
        self.run_batch(id, false).await
    }

    async fn run_batch(&self, id: BatchId, wait: bool) -> Result<ExecutionReport, DomainError> {
        let batch = self.batch(id).await?;
        if self.is_stopping() {
            // The process is stopping: the batch is left as it is, for the
            // next instance's sweep (or this one's, once restarted).
            return Ok(ExecutionReport {
                deferred: true,
                batch_state: Some(batch.state),
                ..ExecutionReport::default()
            });
        }
        let program = self.program(batch.program_id).await?;
        let source = match self.batch_source(&batch, &program).await? {
            Ok(source) => source,
            Err(blocked) => return Err(blocked.into()),
        };
        let batch = match batch.state {
            BatchState::Approved => {
                let next = batch.apply(&BatchEvent::Start { source })?;
                match self.store.update_batch(&next, batch.state).await {
                    Ok(()) => next,
                    // Another worker started it.
                    Err(StoreError::Conflict { .. }) => self.batch(id).await?,
                    Err(other) => return Err(other.into()),
                }
            }
            BatchState::Executing | BatchState::Completed | BatchState::CompletedWithFailures => {
                batch
            }
            BatchState::Draft => {
                return Err(Blocked::BatchState(batch.state.as_str().to_owned()).into());
            }
        };
        // The account the batch started on (by this run or another).
        let Some(source) = batch.source_account.clone() else {
            return Err(Blocked::BatchState(batch.state.as_str().to_owned()).into());
        };
        // A sweep leaves a batch this engine is already running to that run.
        let Some(_running) = AccountShare::join(&self.paying, format!("batch:{id}"), !wait) else {
            return Ok(ExecutionReport {
                deferred: true,
                batch_state: Some(batch.state),
                ..ExecutionReport::default()
            });
        };
        let wait = wait && self.timer.is_some();
        let Some(share) = self.take_account(&source, wait).await? else {
            return Ok(ExecutionReport {
                deferred: true,
                batch_state: Some(batch.state),
                ..ExecutionReport::default()
            });
        };
        let result = self.run_items(&batch, &source, wait).await;
        let released = match share.end() {
            // Until `_releasing` drops, another run of this engine waits.
            Some(_releasing) => self
                .store
                .release_lease(&account_lease(&source), &self.config.worker)
                .await
                .map(|_| ()),
            None => Ok(()),
        };
        let report = result?;
        released?;
        Ok(report)
    }

    /// Releases the claims this worker still holds on open items of
    /// executing batches (a back-off after an ambiguous answer, a claim a
    /// run left when its future was dropped), so that another instance, or
    /// this one restarted under another worker id, re-sends them with the
    /// same key at once instead of after the lease runs out. For a clean
    /// stop, after [`Payouts::begin_shutdown`] and once the runs ended;
    /// answers how many were released. Each release is a compare-and-set on
    /// the item's state: an item that moved meanwhile is left alone.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn release_claims(&self) -> Result<u32, DomainError> {
        let mut released = 0_u32;
        for batch in self.store.batches_in_state(BatchState::Executing).await? {
            let mine: Vec<(PayoutItem, ItemState)> = self
                .store
                .items_in_flight(batch.id)
                .await?
                .into_iter()
                .filter(|item| {
                    item.lease
                        .as_ref()
                        .is_some_and(|l| l.worker == self.config.worker)
                })
                .map(unleased)
                .collect();
            if mine.is_empty() {
                continue;
            }
            let applied = self.store.transition_items(&mine).await?;
            let n = applied.iter().filter(|ok| **ok).count();
            released = released.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        }
        Ok(released)
    }

    /// Takes the source account's lease (shared by this engine's runs),
    /// waiting for it when `wait`. `None` when another worker holds it.
    async fn take_account(
        &self,
        source: &AccountId,
        wait: bool,
    ) -> Result<Option<AccountShare>, DomainError> {
        let key = source.as_str();
        let started = self.clock.now();
        loop {
            let releasing = match AccountShare::join_paying(&self.paying, key) {
                Joined::Share(share) => return Ok(Some(share)),
                Joined::Releasing => true,
                Joined::Nobody => {
                    let now = self.clock.now();
                    if self
                        .store
                        .try_acquire_lease(
                            &account_lease(source),
                            &self.config.worker,
                            now,
                            self.config.retry.lease,
                        )
                        .await?
                    {
                        match AccountShare::join_acquired(&self.paying, key) {
                            Some(share) => return Ok(Some(share)),
                            // Taken while the last run released it: again.
                            None => true,
                        }
                    } else {
                        false
                    }
                }
            };
            let timer = match &self.timer {
                Some(timer)
                    if wait && self.clock.now() < started.saturating_add(self.config.tail_wait) =>
                {
                    timer
                }
                _ => return Ok(None),
            };
            let pause = if releasing { 20 } else { 1_000 };
            timer.sleep(std::time::Duration::from_millis(pause)).await;
        }
    }

    /// The items of one run; see [`Payouts::execute_batch`].
    async fn run_items(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        wait: bool,
    ) -> Result<ExecutionReport, DomainError> {
        let id = batch.id;
        let mut report = ExecutionReport::default();
        // Items run `concurrency` at a time; a claim is taken (and its
        // pending items moved to `submitting`) only when the previous one is
        // used up, so at most one claim waits unstarted under this worker's
        // lease. An `account_inactive` refusal stops the run: no new claim,
        // no new send, and the unsent claimed items are released below.
        let stop = AtomicBool::new(false);
        let held = Held::default();
        let until = self.clock.now().saturating_add(self.config.tail_wait);
        let deadline = wait.then_some(until);
        let work = async {
            // Passes over the batch: each claims and sends until nothing is
            // left to claim; between passes the run waits for its delayed
            // items (no polling while a pass runs).
            loop {
                let unsent = self.pass(batch, source, &stop, &held, &mut report).await?;
                self.release_unsent(unsent).await?;
                if stop.load(Ordering::Acquire) || self.is_stopping() {
                    return Ok::<_, DomainError>(());
                }
                match deadline {
                    Some(deadline) if self.wait_for_delayed(id, deadline).await? => {}
                    _ => return Ok(()),
                }
            }
        };
        match &self.timer {
            Some(timer) => {
                let work = std::pin::pin!(work);
                let renew =
                    std::pin::pin!(self.renew_while_running(timer.as_ref(), source, &held, &stop));
                match futures_util::future::select(work, renew).await {
                    futures_util::future::Either::Left((done, _)) => done?,
                    // The renewals never end on their own.
                    futures_util::future::Either::Right(((), work)) => work.await?,
                }
            }
            None => work.await?,
        }
        report.batch_state = Some(self.settle_batch(id).await?);
        Ok(report)
    }

    /// Waits, when delayed items remain (open ones under a lease not run
    /// out: a back-off, or another worker's claim), until the earliest of
    /// them is due; `false` when there are none or it is due after
    /// `deadline`.
    async fn wait_for_delayed(
        &self,
        batch: BatchId,
        deadline: OffsetDateTime,
    ) -> Result<bool, DomainError> {
        let Some(timer) = &self.timer else {
            return Ok(false);
        };
        if self.is_stopping() {
            return Ok(false);
        }
        let now = self.clock.now();
        let earliest = self
            .store
            .items_in_flight(batch)
            .await?
            .iter()
            .filter_map(|i| i.lease.as_ref().map(|l| l.until))
            .min();
        let Some(due) = earliest else {
            return Ok(false);
        };
        if due > deadline {
            return Ok(false);
        }
        let ahead = due
            .unix_timestamp_nanos()
            .saturating_sub(now.unix_timestamp_nanos());
        let pause = std::time::Duration::from_nanos(u64::try_from(ahead).unwrap_or(0))
            .max(std::time::Duration::from_millis(20));
        timer.sleep(pause).await;
        Ok(true)
    }

    /// One pass of a run: claims and sends, `concurrency` at a time, until
    /// nothing is left to claim or the run stops; returns the claimed items
    /// it never sent.
    async fn pass(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        stop: &AtomicBool,
        held: &Held,
        report: &mut ExecutionReport,
    ) -> Result<Vec<PayoutItem>, DomainError> {
        let id = batch.id;
        {
            // Boxed as a `Send` stream here, where every lifetime is
            // concrete: left to inference across the combinators' closures,
            // the compiler cannot prove `execute_batch`'s future `Send`.
            let mut steps: BoxStream<'_, Result<Result<Step, PayoutItem>, DomainError>> = Box::pin(
                stream::try_unfold((), |()| self.next_claim(id, stop, held))
                    .map_ok(|claimed| stream::iter(claimed.into_iter().map(Ok)))
                    .try_flatten()
                    .map_ok(|item| self.run_claimed(batch, source, stop, held, item))
                    .try_buffer_unordered(self.config.concurrency()),
            );
            let mut unsent = Vec::new();
            while let Some(step) = steps.try_next().await? {
                let step = match step {
                    Ok(step) => step,
                    Err(item) => {
                        unsent.push(item);
                        continue;
                    }
                };
                report.processed = report.processed.saturating_add(1);
                match step {
                    Step::Posted { reconciled } => {
                        report.posted = report.posted.saturating_add(1);
                        if reconciled {
                            report.reconciled = report.reconciled.saturating_add(1);
                        }
                    }
                    Step::Failed(kind) => {
                        report.failed = report.failed.saturating_add(1);
                        if kind == FailureKind::AccountInactive && report.stopped.is_none() {
                            // Every other transfer from this account would
                            // fail too: stop, leave the rest pending for the
                            // merchant.
                            report.stopped = Some(Blocked::PayoutsPaused(
                                HoldReason::MerchantAccountInactive.as_str().to_owned(),
                            ));
                        }
                    }
                    Step::Ambiguous => report.ambiguous = report.ambiguous.saturating_add(1),
                    Step::Skipped => {}
                }
            }
            Ok(unsent)
        }
    }

    /// Renews, every third of a lease, the run's claims and its account
    /// lease. Losing the account lease (another worker took it after this
    /// one missed its renewals) stops the run: no new claim, no new send.
    async fn renew_while_running(
        &self,
        timer: &dyn Timer,
        source: &AccountId,
        held: &Held,
        stop: &AtomicBool,
    ) {
        let lease = self.config.retry.lease;
        let every = std::time::Duration::try_from(lease)
            .map(|l| l.checked_div(3).unwrap_or_default())
            .unwrap_or(std::time::Duration::from_secs(1))
            .max(std::time::Duration::from_millis(100));
        // A claim is renewed once less than three quarters of a lease is
        // left: a claim used up within a few seconds (most of them, at
        // Stripe's pace) is never written again, and every other one is
        // renewed with at least a tick to spare.
        let fresh = lease
            .checked_mul(3)
            .and_then(|l| l.checked_div(4))
            .unwrap_or(lease);
        loop {
            timer.sleep(every).await;
            let now = self.clock.now();
            let until = now.saturating_add(lease);
            let renew_before = now.saturating_add(fresh);
            let claims: Vec<(PayoutItemId, OffsetDateTime)> = held
                .lock()
                .iter()
                .filter(|(_, at)| **at < renew_before)
                .map(|(id, at)| (*id, *at))
                .collect();
            // A failed renewal is tried again at the next tick; a claim
            // that lapses meanwhile may be taken over, and is then re-sent
            // with the same key (Stripe answers with the same transfer).
            if let Ok(applied) = self
                .store
                .renew_leases(&self.config.worker, &claims, until)
                .await
            {
                let mut held = held.lock();
                for ((id, at), ok) in claims.iter().zip(applied) {
                    if ok && held.get(id) == Some(at) {
                        held.insert(*id, until);
                    }
                }
            }
            if let Ok(false) = self
                .store
                .try_acquire_lease(&account_lease(source), &self.config.worker, now, lease)
                .await
            {
                stop.store(true, Ordering::Release);
            }
        }
    }

    /// The next claim of a pass; `None` when there is nothing left to
    /// claim or the run was stopped.
    async fn next_claim(
        &self,
        batch: BatchId,
        stop: &AtomicBool,
        held: &Held,
    ) -> Result<Option<(Vec<PayoutItem>, ())>, DomainError> {
        if stop.load(Ordering::Acquire) || self.is_stopping() {
            return Ok(None);
        }
        let claimed = self.claim_and_submit(batch).await?;
        if claimed.is_empty() {
            return Ok(None);
        }
        let mut held = held.lock();
        for item in &claimed {
            if let Some(lease) = &item.lease {
                held.insert(item.id, lease.until);
            }
        }
        Ok(Some((claimed, ())))
    }

    /// One claimed item of [`Payouts::execute_batch`]: `Err(item)` when the
    /// run was stopped before it was sent. Its claim is renewed while it is
    /// processed.
    async fn run_claimed(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        stop: &AtomicBool,
        held: &Held,
        item: PayoutItem,
    ) -> Result<Result<Step, PayoutItem>, DomainError> {
        if stop.load(Ordering::Acquire) || self.is_stopping() {
            held.lock().remove(&item.id);
            return Ok(Err(item));
        }
        let item = held.current(item);
        let id = item.id;
        let step = self.process_claimed(batch, source, item, stop, held).await;
        held.lock().remove(&id);
        Ok(Ok(step?))
    }

    /// Claims up to `claim_size` open items of the batch under this
    /// worker's lease, and moves the pending ones to `submitting` (attempt 1,
    /// its key) in one write, before anything is sent. Items another worker
    /// moved first are left out.
    async fn claim_and_submit(&self, batch: BatchId) -> Result<Vec<PayoutItem>, DomainError> {
        let now = self.clock.now();
        let claimed = self
            .store
            .claim_items(
                batch,
                &self.config.worker,
                now,
                now.saturating_add(self.config.retry.lease),
                self.config.claim_size,
            )
            .await?;
        let submit = ItemEvent::Submit {
            attempt: 1,
            at: now,
        };
        let mut changes = Vec::new();
        for item in &claimed {
            if item.state == ItemState::Pending {
                changes.push((item.apply(&submit)?, item.state.clone()));
            }
        }
        if changes.is_empty() {
            return Ok(claimed);
        }
        let applied = self.store.transition_items(&changes).await?;
        let mut submitted: HashMap<PayoutItemId, PayoutItem> = changes
            .into_iter()
            .zip(applied)
            .filter_map(|((next, _), ok)| ok.then_some((next.id, next)))
            .collect();
        Ok(claimed
            .into_iter()
            .filter_map(|item| {
                if item.state == ItemState::Pending {
                    submitted.remove(&item.id)
                } else {
                    Some(item)
                }
            })
            .collect())
    }

    /// Drops this worker's lease on claimed items a stopped run never
    /// sent, so that they are not stuck behind it. They keep their state
    /// (a `submitting` one keeps its key: it was never sent under it).
    async fn release_unsent(&self, unsent: Vec<PayoutItem>) -> Result<(), DomainError> {
        if unsent.is_empty() {
            return Ok(());
        }
        let changes: Vec<(PayoutItem, ItemState)> = unsent.into_iter().map(unleased).collect();
        // An item another worker moved meanwhile is its business now.
        self.store.transition_items(&changes).await?;
        Ok(())
    }

    /// One claimed item, from whatever open state it is in.
    async fn process_claimed(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        item: PayoutItem,
        stop: &AtomicBool,
        held: &Held,
    ) -> Result<Step, DomainError> {
        let now = self.clock.now();
        match &item.state {
            ItemState::Pending => {
                let Some(submitting) = self
                    .commit(
                        &item,
                        &ItemEvent::Submit {
                            attempt: 1,
                            at: now,
                        },
                        &[],
                    )
                    .await?
                else {
                    return Ok(Step::Skipped);
                };
                self.send(batch, source, submitting, Some(stop)).await
            }
            ItemState::Submitting { since, .. }
                if self.config.retry.key_near_expiry(*since, now) =>
            {
                let Some(reconcile) = self.commit(&item, &ItemEvent::KeyNearExpiry, &[]).await?
                else {
                    return Ok(Step::Skipped);
                };
                self.reconcile(batch, source, reconcile, stop, held).await
            }
            ItemState::Submitting { .. } => self.send(batch, source, item, Some(stop)).await,
            ItemState::ReconcileRequired { .. } => {
                self.reconcile(batch, source, item, stop, held).await
            }
            ItemState::Posted { .. } | ItemState::Failed { .. } | ItemState::Reversed { .. } => {
                Ok(Step::Skipped)
            }
        }
    }

    /// Applies `event` and writes it compare-and-set with `notifications`.
    /// `None` when another worker changed the item first (its outcome stands).
    async fn commit(
        &self,
        item: &PayoutItem,
        event: &ItemEvent,
        notifications: &[Notification],
    ) -> Result<Option<PayoutItem>, DomainError> {
        let mut next = item.apply(event)?;
        if !next.state.is_open() {
            next.lease = None;
        }
        let applied = self
            .writes
            .write(
                &*self.store,
                ItemChange {
                    next: next.clone(),
                    expected: item.state.clone(),
                    notifications: notifications.to_vec(),
                },
            )
            .await?;
        Ok(applied.then_some(next))
    }

    /// Sends the item's current attempt (it must be `submitting`) and records
    /// the outcome. An `account_inactive` answer raises `stop` at once, before
    /// the failure is written, so that a concurrent run starts no new send.
    async fn send(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        item: PayoutItem,
        stop: Option<&AtomicBool>,
    ) -> Result<Step, DomainError> {
        let ItemState::Submitting { attempt, key, .. } = &item.state else {
            return Ok(Step::Skipped);
        };
        let request = TransferRequest {
            item_id: item.id,
            batch_id: item.batch_id,
            merchant_id: item.merchant_id.clone(),
            attempt: *attempt,
            key: key.clone(),
            amount: item.amount,
            destination: item.destination.clone(),
            source_account: Some(source.clone()),
            transfer_group: transfer_group(batch.id),
        };
        match self.gateway.create_transfer(&request).await {
            Ok(transfer) => self.record_posted(&item, transfer.id, false).await,
            Err(error) if error.kind.is_ambiguous() => self.back_off(&item).await,
            Err(error) => {
                if let (FailureKind::AccountInactive, Some(stop)) = (error.kind, stop) {
                    stop.store(true, Ordering::Release);
                }
                self.record_failure(&item, error).await
            }
        }
    }

    async fn record_posted(
        &self,
        item: &PayoutItem,
        transfer_id: crate::ids::TransferId,
        reconciled: bool,
    ) -> Result<Step, DomainError> {
        let notice = self.notification(
            &item.merchant_id,
            NotificationKind::PartnerPayoutSent,
            Recipient::Partner(item.partner_id),
            format!("payout_sent:{}", item.id),
            serde_json::json!({
                "item_id": item.id,
                "batch_id": item.batch_id,
                "transfer_id": transfer_id,
                "amount_minor": item.amount.amount_minor(),
                "currency": item.amount.currency(),
            }),
        );
        let event = ItemEvent::Posted {
            transfer_id,
            at: self.clock.now(),
        };
        Ok(match self.commit(item, &event, &[notice]).await? {
            Some(_) => Step::Posted { reconciled },
            None => Step::Skipped,
        })
    }

    /// Leaves the item `submitting` with a back-off lease: it is re-sent
    /// with the same key once the lease expires.
    async fn back_off(&self, item: &PayoutItem) -> Result<Step, DomainError> {
        let now = self.clock.now();
        let delay = self.config.retry.ambiguous_delay(item.resends);
        let waiting = PayoutItem {
            resends: item.resends.saturating_add(1),
            lease: Some(Lease {
                worker: self.config.worker.clone(),
                until: now.saturating_add(delay),
            }),
            ..item.clone()
        };
        // Not applied: another worker moved the item first (its outcome
        // stands).
        self.writes
            .write(
                &*self.store,
                ItemChange {
                    next: waiting,
                    expected: item.state.clone(),
                    notifications: Vec::new(),
                },
            )
            .await?;
        Ok(Step::Ambiguous)
    }

    /// Records a definitive failure and applies the ladder.
    async fn record_failure(
        &self,
        item: &PayoutItem,
        error: GatewayError,
    ) -> Result<Step, DomainError> {
        let now = self.clock.now();
        let attempt = item.state.attempts();
        let effect = self.config.retry.on_failure(error.kind, attempt, now);
        let payload = serde_json::json!({
            "item_id": item.id,
            "batch_id": item.batch_id,
            "attempt": attempt,
            "code": error.code,
            "amount_minor": item.amount.amount_minor(),
            "currency": item.amount.currency(),
        });
        let key = |what: &str| format!("{what}:{}:{attempt}", item.id);
        let merchant = Recipient::Merchant(item.merchant_id.clone());
        // The partner hears of a payout that waits on the merchant too.
        let delayed = |reason: &str, retry_at: Option<OffsetDateTime>| {
            let mut partner_payload = payload.clone();
            if let Some(map) = partner_payload.as_object_mut() {
                map.insert("reason".to_owned(), serde_json::json!(reason));
                map.insert(
                    "retry_at".to_owned(),
                    serde_json::json!(retry_at.map(OffsetDateTime::unix_timestamp)),
                );
            }
            self.notification(
                &item.merchant_id,
                NotificationKind::PartnerPayoutDelayed,
                Recipient::Partner(item.partner_id),
                key(&format!("payout_delayed_{reason}")),
                partner_payload,
            )
        };
        let (retry_at, escalated, notices) = match effect {
            FailureEffect::RetryLater { retry_at } => (
                Some(retry_at),
                false,
                vec![
                    self.notification(
                        &item.merchant_id,
                        NotificationKind::MerchantInsufficientBalanceRetry,
                        merchant,
                        key("insufficient_balance_retry"),
                        with_retry_at(&payload, retry_at),
                    ),
                    delayed("insufficient_balance", Some(retry_at)),
                ],
            ),
            FailureEffect::Escalate => (
                None,
                true,
                vec![
                    self.notification(
                        &item.merchant_id,
                        NotificationKind::MerchantInsufficientBalanceEscalated,
                        merchant,
                        key("insufficient_balance_escalated"),
                        payload.clone(),
                    ),
                    delayed("insufficient_balance", None),
                ],
            ),
            FailureEffect::PauseProgram => (
                None,
                false,
                vec![
                    self.notification(
                        &item.merchant_id,
                        NotificationKind::MerchantAccountInactive,
                        merchant,
                        key("account_inactive"),
                        payload.clone(),
                    ),
                    delayed("account_inactive", None),
                ],
            ),
            FailureEffect::NotifyPartner => (
                None,
                false,
                vec![self.notification(
                    &item.merchant_id,
                    NotificationKind::PartnerPayoutDestinationCannotReceive,
                    Recipient::Partner(item.partner_id),
                    key("cannot_receive"),
                    payload,
                )],
            ),
            FailureEffect::Terminal => (None, false, Vec::new()),
        };
        let event = ItemEvent::Failed {
            failure: Failure {
                kind: error.kind,
                code: error.code.clone(),
                message: error.message.clone(),
            },
            retry_at,
            escalated,
        };
        if self.commit(item, &event, &notices).await?.is_none() {
            return Ok(Step::Skipped);
        }
        if effect == FailureEffect::PauseProgram {
            self.hold_program(item.program_id, HoldReason::MerchantAccountInactive)
                .await?;
        }
        Ok(Step::Failed(error.kind))
    }

    async fn hold_program(&self, id: ProgramId, reason: HoldReason) -> Result<(), DomainError> {
        let program = self.program(id).await?;
        let next = program.apply(ProgramEvent::Hold(reason))?;
        if next != program {
            match self
                .store
                .update_program(&next, &program.status, program.hold)
                .await
            {
                Ok(()) | Err(StoreError::Conflict { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(())
    }

    /// Resolves a `reconcile_required` item by looking its transfer up by
    /// `transfer_group` and metadata: posted if found, otherwise a new
    /// attempt with a new key.
    async fn reconcile(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        item: PayoutItem,
        stop: &AtomicBool,
        held: &Held,
    ) -> Result<Step, DomainError> {
        let group = transfer_group(batch.id);
        match self
            .gateway
            .find_transfer(Some(source), &group, item.id)
            .await
        {
            Ok(Some(transfer)) => self.record_posted(&item, transfer.id, true).await,
            Ok(None) => {
                // The claim may have been renewed during the lookup.
                let item = held.current(item);
                let attempt = item.state.attempts().saturating_add(1);
                let event = ItemEvent::Submit {
                    attempt,
                    at: self.clock.now(),
                };
                match self.commit(&item, &event, &[]).await? {
                    Some(next) => self.send(batch, source, next, Some(stop)).await,
                    None => Ok(Step::Skipped),
                }
            }
            Err(_) => self.back_off(&item).await,
        }
    }

    /// Every item has an outcome → the batch completes (with failures when
    /// any failed). Returns the batch's state.
    async fn settle_batch(&self, id: BatchId) -> Result<BatchState, DomainError> {
        let batch = self.batch(id).await?;
        let summary = self.batch_summary(id).await?;
        if !summary.is_settled()
            || !matches!(
                batch.state,
                BatchState::Executing | BatchState::CompletedWithFailures | BatchState::Completed
            )
        {
            return Ok(batch.state);
        }
        let next = batch.apply(&BatchEvent::Finish {
            failures: summary.failed_count > 0,
        })?;
        if next != batch {
            match self.store.update_batch(&next, batch.state).await {
                Ok(()) => {}
                Err(StoreError::Conflict { .. }) => return Ok(self.batch(id).await?.state),
                Err(other) => return Err(other.into()),
            }
        }
        Ok(next.state)
    }

    /// The batch summary: counts and amounts of posted, failed and pending items.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn batch_summary(&self, id: BatchId) -> Result<BatchSummary, DomainError> {
        let batch = self.batch(id).await?;
        let mut summary = BatchSummary::empty(batch.currency);
        for total in self.store.item_totals(id).await? {
            summary.add(&total)?;
        }
        Ok(summary)
    }

    /// Retries one failed item now: attempt n+1 with a new key. Only a
    /// `failed` item can be retried, so a retry never pays twice. Recorded
    /// as `item.retried` by `acting`, with the item before and after.
    ///
    /// # Errors
    /// [`DomainError::Transition`] when the item is not failed;
    /// [`DomainError::Blocked`] when the program may not pay.
    pub async fn retry_item(
        &self,
        id: PayoutItemId,
        acting: &Acting,
    ) -> Result<PayoutItem, DomainError> {
        let item = self.item(id).await?;
        if !matches!(item.state, ItemState::Failed { .. }) {
            return Err(crate::error::TransitionError {
                entity: "payout item",
                from: item.state.as_str().to_owned(),
                event: "retry".to_owned(),
            }
            .into());
        }
        let batch = self.batch(item.batch_id).await?;
        let program = self.program(item.program_id).await?;
        let source = self
            .batch_source(&batch, &program)
            .await?
            .map_err(DomainError::Blocked)?;
        let before = snapshot(&item);
        let merchant = item.merchant_id.clone();
        self.retry_failed(&batch, &source, item).await?;
        self.settle_batch(batch.id).await?;
        let after = self.item(id).await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::ItemRetried,
                merchant_id: Some(&merchant),
                object_id: id.to_string(),
                before: Some(before),
                after: Some(snapshot(&after)),
            },
        )
        .await?;
        Ok(after)
    }

    async fn retry_failed(
        &self,
        batch: &PayoutBatch,
        source: &AccountId,
        item: PayoutItem,
    ) -> Result<Step, DomainError> {
        let attempt = item.state.attempts().saturating_add(1);
        let leased = PayoutItem {
            lease: Some(Lease {
                worker: self.config.worker.clone(),
                until: self.clock.now().saturating_add(self.config.retry.lease),
            }),
            ..item
        };
        let event = ItemEvent::Submit {
            attempt,
            at: self.clock.now(),
        };
        let Some(submitting) = self.commit(&leased, &event, &[]).await? else {
            return Ok(Step::Skipped);
        };
        self.send(batch, source, submitting, None).await
    }

    /// The scheduler's ladder: retries every failed item whose `retry_at`
    /// has come, where its program may pay.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn run_retry_ladder(&self, limit: u32) -> Result<SweepReport, DomainError> {
        let mut report = SweepReport::default();
        let due = self
            .store
            .items_due_for_retry(self.clock.now(), limit)
            .await?;
        let mut batches = Vec::new();
        for item in due {
            let program = self.program(item.program_id).await?;
            let batch = self.batch(item.batch_id).await?;
            let Ok(source) = self.batch_source(&batch, &program).await? else {
                report.skipped = report.skipped.saturating_add(1);
                continue;
            };
            report.retried = report.retried.saturating_add(1);
            if let Step::Posted { .. } = self.retry_failed(&batch, &source, item).await? {
                report.posted = report.posted.saturating_add(1);
            }
            if !batches.contains(&batch.id) {
                batches.push(batch.id);
            }
        }
        for id in batches {
            self.settle_batch(id).await?;
        }
        Ok(report)
    }

    /// Refreshes the status of a batch's items from Stripe: items still in
    /// flight are looked up (posted when found; nothing is re-sent), and
    /// posted items pick up reversals.
    ///
    /// Recorded as `batch.refreshed` by `acting`, with the summary before
    /// and after; for the scheduler ([`ActorKind::System`]) only when the
    /// summary changed.
    ///
    /// # Errors
    /// [`DomainError::Gateway`] for a definitive Stripe error.
    pub async fn refresh_batch(
        &self,
        id: BatchId,
        acting: &Acting,
    ) -> Result<BatchSummary, DomainError> {
        let batch = self.batch(id).await?;
        let before = self.batch_summary(id).await?;
        // The account the batch paid from, whichever the merchant connects now.
        let source = self.paid_from(&batch).await?;
        let group = transfer_group(id);
        for item in self.store.items_in_flight(id).await? {
            if let Some(transfer) = self
                .gateway
                .find_transfer(source.as_ref(), &group, item.id)
                .await?
            {
                self.record_posted(&item, transfer.id, true).await?;
            }
        }
        let mut page = PageRequest::first(crate::ports::MAX_PAGE);
        loop {
            let Page { data, has_more } = self.store.items(id, page).await?;
            for item in &data {
                let transfer_id = match &item.state {
                    ItemState::Posted { transfer_id, .. }
                    | ItemState::Reversed { transfer_id, .. } => transfer_id,
                    _ => continue,
                };
                let transfer = self
                    .gateway
                    .retrieve_transfer(source.as_ref(), transfer_id)
                    .await?;
                if transfer.amount_reversed.is_positive() {
                    self.apply_reversal(item, None, transfer.amount_reversed)
                        .await?;
                }
            }
            match (has_more, data.last()) {
                (true, Some(last)) => page.after = Some(last.id.as_uuid()),
                _ => break,
            }
        }
        self.settle_batch(id).await?;
        let after = self.batch_summary(id).await?;
        // The scheduler refreshes every finished batch on each tick: only
        // the refreshes that changed something are worth an entry then.
        if acting.actor.kind != ActorKind::System || after != before {
            self.record(
                acting,
                Entry {
                    action: AuditAction::BatchRefreshed,
                    merchant_id: Some(&batch.merchant_id),
                    object_id: id.to_string(),
                    before: Some(snapshot(&before)),
                    after: Some(snapshot(&after)),
                },
            )
            .await?;
        }
        Ok(after)
    }

    /// Reverses a posted item's transfer, in full (`None`) or in part.
    ///
    /// # Errors
    /// [`DomainError::Transition`] when the item is not posted;
    /// [`DomainError::Validation`] for an amount above what remains.
    pub async fn reverse_item(
        &self,
        id: PayoutItemId,
        amount: Option<Money>,
    ) -> Result<PayoutItem, DomainError> {
        let item = self.item(id).await?;
        let (transfer_id, already) = match &item.state {
            ItemState::Posted { transfer_id, .. } => {
                (transfer_id.clone(), Money::zero(item.amount.currency()))
            }
            ItemState::Reversed {
                transfer_id,
                amount_reversed,
                ..
            } => (transfer_id.clone(), *amount_reversed),
            _ => {
                return Err(crate::error::TransitionError {
                    entity: "payout item",
                    from: item.state.as_str().to_owned(),
                    event: "reverse".to_owned(),
                }
                .into());
            }
        };
        let remaining = item.amount.checked_sub(&already)?;
        let requested = amount.unwrap_or(remaining);
        if !requested.is_positive()
            || requested.checked_cmp(&remaining)? == std::cmp::Ordering::Greater
        {
            return Err(DomainError::validation(
                "amount",
                format!("must be between 1 and {remaining}"),
            ));
        }
        let total_after = already.checked_add(&requested)?;
        let key = IdempotencyKey::parse(format!(
            "payout-item-{id}-reversal-to-{}",
            total_after.amount_minor()
        ))?;
        let batch = self.batch(item.batch_id).await?;
        let source = self.paid_from(&batch).await?;
        let reversal = self
            .gateway
            .reverse_transfer(source.as_ref(), &transfer_id, Some(requested), &key)
            .await?;
        self.apply_reversal(&item, Some(reversal.id), reversal.transfer_amount_reversed)
            .await?;
        self.item(id).await
    }

    /// Records `transfer.reversed` (or a refreshed transfer): the item's
    /// cumulative reversed amount.
    ///
    /// # Errors
    /// [`DomainError::Transition`] for an impossible total.
    pub async fn record_transfer_reversal(
        &self,
        transfer: &crate::ids::TransferId,
        total_reversed: Money,
    ) -> Result<Option<PayoutItem>, DomainError> {
        let Some(item) = self.store.item_by_transfer(transfer).await? else {
            return Ok(None);
        };
        self.apply_reversal(&item, None, total_reversed).await?;
        Ok(Some(self.item(item.id).await?))
    }

    async fn apply_reversal(
        &self,
        item: &PayoutItem,
        reversal_id: Option<crate::ids::TransferReversalId>,
        total: Money,
    ) -> Result<(), DomainError> {
        let event = ItemEvent::Reversed {
            reversal_id,
            total,
            at: self.clock.now(),
        };
        let next = item.apply(&event)?;
        if next != *item {
            self.store.transition_item(&next, &item.state, &[]).await?;
        }
        Ok(())
    }
}

/// The payload with `retry_at` (Unix seconds) added, for notices that say
/// when the payout is tried again.
fn with_retry_at(payload: &serde_json::Value, retry_at: OffsetDateTime) -> serde_json::Value {
    let mut out = payload.clone();
    if let Some(map) = out.as_object_mut() {
        map.insert(
            "retry_at".to_owned(),
            serde_json::json!(retry_at.unix_timestamp()),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_count_runs_and_a_sweep_stays_out_of_a_running_batch() {
        let paying = Paying::default();
        let run = AccountShare::join(&paying, "batch:b".to_owned(), false);
        assert!(run.is_some());
        // A sweep (alone) stays out while the run lives; another explicit
        // run joins.
        assert!(AccountShare::join(&paying, "batch:b".to_owned(), true).is_none());
        let second = AccountShare::join(&paying, "batch:b".to_owned(), false);
        assert!(second.is_some());
        drop(run);
        assert!(AccountShare::join(&paying, "batch:b".to_owned(), true).is_none());
        // The last one to end says so (it releases an account's lease).
        let releasing = second.and_then(AccountShare::end);
        assert!(releasing.is_some());
        drop(releasing);
        let sweep = AccountShare::join(&paying, "batch:b".to_owned(), true);
        assert!(sweep.is_some(), "free again once every run ended");
        drop(sweep);
        assert!(paying.lock().unwrap().is_empty());
    }

    #[test]
    fn a_run_waits_while_the_last_one_releases_the_account() {
        let paying = Paying::default();
        assert!(matches!(
            AccountShare::join_paying(&paying, "acct_1"),
            Joined::Nobody
        ));
        let first = AccountShare::join_acquired(&paying, "acct_1").expect("counted");
        let Joined::Share(second) = AccountShare::join_paying(&paying, "acct_1") else {
            panic!("joins the running one");
        };
        assert!(first.end().is_none(), "another run still pays");
        let releasing = second.end().expect("the last run releases");
        // While it releases, nobody joins, and a lease taken meanwhile is
        // not counted (it may be released under it).
        assert!(matches!(
            AccountShare::join_paying(&paying, "acct_1"),
            Joined::Releasing
        ));
        assert!(AccountShare::join_acquired(&paying, "acct_1").is_none());
        drop(releasing);
        assert!(matches!(
            AccountShare::join_paying(&paying, "acct_1"),
            Joined::Nobody
        ));
        let third = AccountShare::join_acquired(&paying, "acct_1").expect("free again");
        drop(third);
        assert!(
            paying.lock().unwrap().is_empty(),
            "a dropped run leaves no count"
        );
    }
}
