//! Ports: the traits adapters implement, in the domain's own terms.
//!
//! Stores speak domain types and [`StoreError`]; the Stripe gateways speak
//! domain types and [`GatewayError`]. No SQL error and no Stripe struct ever
//! crosses these traits. Every state change in a store is compare-and-set:
//! the caller names the state it expects, and a store that finds another
//! one writes nothing and answers [`StoreError::Conflict`].

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::batch::{BatchState, PartnerBalance, PayoutBatch};
use crate::commission::{Commission, CommissionState, Conversion};
use crate::connection::{ConnectionStatus, MerchantConnection, OAuthState};
use crate::error::StoreError;
use crate::events::DisputeRecord;
use crate::fees::FeeSchedule;
use crate::ids::{
    AccountId, BatchId, CommissionId, ConversionId, CouponCode, DisputeId, EventId, ExternalId,
    IdempotencyKey, MembershipId, MerchantId, NotificationId, PartnerId, PaymentIntentId,
    PayoutItemId, ProgramId, PromotionCodeId, ReferralKey, StateToken, StripePayoutId, TransferId,
    TransferReversalId, WorkerId,
};
use crate::item::{ItemState, PayoutItem};
use crate::money::{Currency, Money};
use crate::notification::Notification;
use crate::partner::{Coupon, Membership, OnboardingState};
use crate::period::Period;
use crate::platform;
use crate::program::{HoldReason, Program, ProgramStatus};

// ---------------------------------------------------------------- paging

/// The largest page any list returns.
pub const MAX_PAGE: u32 = 100;

/// A keyset page request: at most `limit` rows after the row with id `after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct PageRequest {
    /// 1..=100; larger values are clamped.
    pub limit: u32,
    /// The last id of the previous page.
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// The first page of `limit` rows.
    pub fn first(limit: u32) -> Self {
        PageRequest {
            limit: limit.clamp(1, MAX_PAGE),
            after: None,
        }
    }

    /// The limit, clamped to 1..=100.
    pub fn limit(&self) -> u32 {
        self.limit.clamp(1, MAX_PAGE)
    }
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest::first(MAX_PAGE)
    }
}

/// One page of a list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The rows.
    pub data: Vec<T>,
    /// True when more rows follow.
    pub has_more: bool,
}

// ---------------------------------------------------------------- clock, ids, notifier

/// "Now". Rules never read the system clock themselves.
#[cfg_attr(feature = "mock", mockall::automock)]
pub trait Clock: Send + Sync {
    /// The current instant.
    fn now(&self) -> OffsetDateTime;
}

impl<T: Clock + ?Sized> Clock for std::sync::Arc<T> {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

impl<T: Clock + ?Sized> Clock for &T {
    fn now(&self) -> OffsetDateTime {
        (**self).now()
    }
}

/// Makes new ids.
pub trait IdGenerator: Send + Sync {
    /// A fresh UUID; unique, and unpredictable in production.
    fn next_uuid(&self) -> Uuid;

    /// A fresh typed id.
    fn next_id<T: From<Uuid>>(&self) -> T
    where
        Self: Sized,
    {
        T::from(self.next_uuid())
    }
}

/// Why a notification could not be delivered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("notification not delivered: {0}")]
pub struct NotifyError(pub String);

/// Delivers outbox notifications (log, e-mail, signed webhook, …).
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait Notifier: Send + Sync {
    /// Delivers one notification. Delivery is at least once: a notifier may
    /// see the same notification again after a crash, and should use its id
    /// to deduplicate downstream.
    ///
    /// # Errors
    /// [`NotifyError`] when delivery failed; it is retried on the next dispatch.
    async fn deliver(&self, notification: &Notification) -> Result<(), NotifyError>;
}

// ---------------------------------------------------------------- stores

/// Merchant connections and OAuth state tokens.
#[async_trait]
pub trait ConnectionStore: Send + Sync {
    /// The merchant's connection, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn connection(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<MerchantConnection>, StoreError>;

    /// The connection whose account is `account`, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn connection_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Option<MerchantConnection>, StoreError>;

    /// Writes `next`, if the stored status is `expected` (`None`: no row yet).
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the stored status differs;
    /// [`StoreError::Duplicate`] when another merchant holds the account.
    async fn save_connection(
        &self,
        next: &MerchantConnection,
        expected: Option<ConnectionStatus>,
    ) -> Result<(), StoreError>;

    /// Stores a freshly issued state token.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the token exists.
    async fn insert_oauth_state(&self, state: &OAuthState) -> Result<(), StoreError>;

    /// Looks a state token up.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn oauth_state(&self, token: &StateToken) -> Result<Option<OAuthState>, StoreError>;

    /// Marks the token used at `at`, only if it is unused.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it was already used (a concurrent
    /// callback won); [`StoreError::NotFound`].
    async fn consume_oauth_state(
        &self,
        token: &StateToken,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;
}

/// Programs.
#[async_trait]
pub trait ProgramStore: Send + Sync {
    /// Inserts a new program.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`].
    async fn insert_program(&self, program: &Program) -> Result<(), StoreError>;

    /// A program by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn program(&self, id: ProgramId) -> Result<Option<Program>, StoreError>;

    /// Every program of a merchant.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn programs_of(&self, merchant: &MerchantId) -> Result<Vec<Program>, StoreError>;

    /// One keyset page of a merchant's programs, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn programs_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<Program>, StoreError>;

    /// Programs on probation whose window ended at or before `now`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn probation_expired(&self, now: OffsetDateTime) -> Result<Vec<Program>, StoreError>;

    /// Every active program (for the scheduler).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn active_programs(&self) -> Result<Vec<Program>, StoreError>;

    /// Writes `next` if the stored status and hold are `expected_status` and
    /// `expected_hold`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_program(
        &self,
        next: &Program,
        expected_status: &ProgramStatus,
        expected_hold: Option<HoldReason>,
    ) -> Result<(), StoreError>;
}

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

/// Memberships, coupon codes, and partners' bank payouts.
#[async_trait]
pub trait PartnerStore: Send + Sync {
    /// Inserts a membership.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the partner is already a member, or the
    /// referral key is taken in the program.
    async fn insert_membership(&self, membership: &Membership) -> Result<(), StoreError>;

    /// A membership by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError>;

    /// The membership of a program with this referral key.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn membership_by_referral(
        &self,
        program: ProgramId,
        key: &ReferralKey,
    ) -> Result<Option<Membership>, StoreError>;

    /// Memberships whose Express account is `account`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Membership>, StoreError>;

    /// Every membership of a program.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_of(&self, program: ProgramId) -> Result<Vec<Membership>, StoreError>;

    /// One keyset page of a program's memberships, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<Membership>, StoreError>;

    /// Memberships of a partner, across programs.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_of_partner(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<Membership>, StoreError>;

    /// Replaces a membership's account and onboarding fields (nothing else).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_membership(&self, membership: &Membership) -> Result<(), StoreError>;

    /// Inserts a coupon code.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the merchant has the code already, in any case.
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;

    /// A merchant's coupon, matched case-insensitively.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn coupon(
        &self,
        merchant: &MerchantId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, StoreError>;

    /// The coupon synced to this Stripe Promotion Code, if any (for
    /// `checkout.session.completed`, `invoice.paid` and `promotion_code.updated`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn coupon_by_promotion_code(
        &self,
        promotion_code: &PromotionCodeId,
    ) -> Result<Option<Coupon>, StoreError>;

    /// Replaces a coupon's promotion-code id and active flag (nothing else).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;

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

/// Conversions.
#[async_trait]
pub trait ConversionStore: Send + Sync {
    /// Inserts a conversion and the commission it earned, atomically.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the merchant already has the external id.
    async fn insert_conversion(
        &self,
        conversion: &Conversion,
        commission: Option<&Commission>,
    ) -> Result<(), StoreError>;

    /// A conversion by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion(&self, id: ConversionId) -> Result<Option<Conversion>, StoreError>;

    /// A merchant's conversion by its external id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion_by_external_id(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Option<Conversion>, StoreError>;

    /// A merchant's conversion by its Stripe payment reference.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn conversion_by_payment_ref(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
    ) -> Result<Option<Conversion>, StoreError>;

    /// When this customer first converted in the program, if ever.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn first_conversion_at(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError>;

    /// Records a new cumulative refund and cancellation flag (nothing else),
    /// if the stored values are still `expected_refunded` and `expected_cancelled`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_conversion(
        &self,
        next: &Conversion,
        expected_refunded: &Money,
        expected_cancelled: bool,
    ) -> Result<(), StoreError>;

    /// The merchant's conversion volume in a period, in `currency`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn monthly_volume(
        &self,
        merchant: &MerchantId,
        period: Period,
        currency: Currency,
    ) -> Result<Money, StoreError>;
}

/// Which commissions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CommissionFilter {
    /// Only this merchant's (always set by tenant-scoped callers).
    pub merchant_id: Option<MerchantId>,
    /// Only this program's.
    pub program_id: Option<ProgramId>,
    /// Only this partner's.
    pub partner_id: Option<PartnerId>,
    /// Only in this state (`pending`, `finalized`, `voided`).
    pub state: Option<String>,
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

/// Batches, items, leases and the outbox writes that go with item outcomes.
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

    /// Writes each `(next, expected)` change as [`BatchStore::transition_item`]
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

    /// The commission ids an item pays.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn item_commission_ids(
        &self,
        item: PayoutItemId,
    ) -> Result<Vec<CommissionId>, StoreError>;
}

/// The outbox.
#[async_trait]
pub trait OutboxStore: Send + Sync {
    /// Enqueues notifications; those whose dedupe key exists are skipped.
    /// Returns how many were new. Each notification has a fresh id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn enqueue(&self, notifications: &[Notification]) -> Result<u64, StoreError>;

    /// Undelivered notifications, oldest first.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn undelivered(&self, limit: u32) -> Result<Vec<Notification>, StoreError>;

    /// Marks one delivered.
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn mark_delivered(
        &self,
        id: NotificationId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Every notification for a merchant, oldest first (for audits and tests).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn notifications_of(
        &self,
        merchant: &MerchantId,
    ) -> Result<Vec<Notification>, StoreError>;
}

/// Platform fee configuration and processed webhook events.
#[async_trait]
pub trait SettingsStore: Send + Sync {
    /// The fee schedule (the default when none was saved).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn fee_schedule(&self) -> Result<FeeSchedule, StoreError>;

    /// Replaces the fee schedule.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn save_fee_schedule(&self, schedule: &FeeSchedule) -> Result<(), StoreError>;

    /// Records a webhook event id; `true` the first time, `false` for a duplicate.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn record_event(&self, id: &EventId, at: OffsetDateTime) -> Result<bool, StoreError>;

    /// Removes a recorded event id, so that the next delivery of the event
    /// is processed again (used when acting on a claimed event failed).
    /// Returns `true` when the id was recorded.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn forget_event(&self, id: &EventId) -> Result<bool, StoreError>;
}

/// A dispute as last reported, with the account it happened on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredDispute {
    /// The connected account the event came from (`None`: the platform's own).
    pub account_id: Option<AccountId>,
    /// The dispute, as of `updated_at`.
    pub dispute: DisputeRecord,
    /// The `created` instant of the event that reported this version.
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

/// Disputes reported by `charge.dispute.*` events.
#[async_trait]
pub trait DisputeStore: Send + Sync {
    /// Inserts the dispute, or replaces the stored one with the same id
    /// unless the stored version is newer (`updated_at > at`): events may
    /// arrive out of order, and a late one must not undo a newer status.
    /// Returns `true` when written, `false` when a newer version was kept.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn upsert_dispute(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeRecord,
        at: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// Up to `limit` disputes, most recently updated first (ties by id).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn disputes(&self, limit: u32) -> Result<Vec<StoredDispute>, StoreError>;
}

/// Named leases, so that several service instances can run one scheduler
/// (or any other singleton job) without running it twice at once.
#[async_trait]
pub trait LeaseStore: Send + Sync {
    /// Takes or renews the lease `name` for `holder` until `now + ttl`, in
    /// one atomic compare-and-set: it succeeds when no lease exists, when
    /// the lease has expired (`until <= now`), or when `holder` already
    /// holds it (a renewal, which moves `until`). Returns `false`, writing
    /// nothing, while another holder's lease is live.
    ///
    /// A holder that stops renewing loses the lease once it expires, so
    /// work done under it should take less than `ttl` between renewals.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`], also when `now + ttl` cannot be stored.
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &WorkerId,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError>;

    /// Releases the lease `name` if `holder` holds it (expired or not), so
    /// another instance can take it at once. Returns `true` when released.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn release_lease(&self, name: &str, holder: &WorkerId) -> Result<bool, StoreError>;
}

/// Everything a payout engine stores; implemented for any type that
/// implements each store.
pub trait PayoutStore:
    ConnectionStore
    + ProgramStore
    + PartnerStore
    + ConversionStore
    + CommissionStore
    + BatchStore
    + OutboxStore
    + SettingsStore
    + DisputeStore
    + LeaseStore
    + AccountStore
    + RequestKeyStore
{
}

impl<T> PayoutStore for T where
    T: ConnectionStore
        + ProgramStore
        + PartnerStore
        + ConversionStore
        + CommissionStore
        + BatchStore
        + OutboxStore
        + SettingsStore
        + DisputeStore
        + LeaseStore
        + AccountStore
        + RequestKeyStore
{
}

// ---------------------------------------------------------------- gateways

/// How a Stripe failure matters to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `balance_insufficient` / `insufficient_funds`: the ladder retries in 24 h.
    InsufficientBalance,
    /// `account_inactive`: the merchant's account; payouts wait for the merchant.
    AccountInactive,
    /// The destination is invalid or cannot receive transfers.
    CannotReceive,
    /// 429 or `lock_timeout`: ambiguous; re-send with the same key.
    RateLimited,
    /// 5xx, timeout, connection error, 409 key in use: ambiguous; re-send
    /// with the same key.
    Ambiguous,
    /// `idempotency_error`: the same key with other parameters. A bug; terminal.
    IdempotencyMismatch,
    /// Another 400: terminal.
    InvalidRequest,
    /// The object does not exist (404).
    NotFound,
}

impl FailureKind {
    /// True when the outcome is unknown and the request may be re-sent with
    /// the same idempotency key.
    pub const fn is_ambiguous(&self) -> bool {
        match self {
            FailureKind::RateLimited | FailureKind::Ambiguous => true,
            FailureKind::InsufficientBalance
            | FailureKind::AccountInactive
            | FailureKind::CannotReceive
            | FailureKind::IdempotencyMismatch
            | FailureKind::InvalidRequest
            | FailureKind::NotFound => false,
        }
    }

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            FailureKind::InsufficientBalance => "insufficient_balance",
            FailureKind::AccountInactive => "account_inactive",
            FailureKind::CannotReceive => "cannot_receive",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Ambiguous => "ambiguous",
            FailureKind::IdempotencyMismatch => "idempotency_mismatch",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::NotFound => "not_found",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "insufficient_balance" => FailureKind::InsufficientBalance,
            "account_inactive" => FailureKind::AccountInactive,
            "cannot_receive" => FailureKind::CannotReceive,
            "rate_limited" => FailureKind::RateLimited,
            "ambiguous" => FailureKind::Ambiguous,
            "idempotency_mismatch" => FailureKind::IdempotencyMismatch,
            "invalid_request" => FailureKind::InvalidRequest,
            "not_found" => FailureKind::NotFound,
            _ => return None,
        })
    }
}

/// A Stripe failure, classified at the adapter's edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", kind.as_str(), code.as_deref().unwrap_or("-"))]
pub struct GatewayError {
    /// The classification.
    pub kind: FailureKind,
    /// Stripe's error code, when it sent one.
    pub code: Option<String>,
    /// A message for operators (never containing secrets).
    pub message: String,
    /// What Stripe said when it refused the request (a 4xx with an error
    /// body): what an API caller may be shown as Stripe gave it.
    pub refusal: Option<StripeRefusal>,
}

/// Stripe's own words when it refuses a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeRefusal {
    /// `card_error` (the payment method was declined) rather than
    /// `invalid_request_error`.
    pub card_error: bool,
    /// Stripe's `param`, when it named one.
    pub param: Option<String>,
    /// Stripe's `message`.
    pub message: String,
}

impl GatewayError {
    /// An error of `kind` with Stripe's `code`.
    pub fn new(kind: FailureKind, code: Option<&str>, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            code: code.map(str::to_owned),
            message: message.into(),
            refusal: None,
        }
    }

    /// The same error, carrying Stripe's refusal.
    #[must_use]
    pub fn refused(mut self, refusal: StripeRefusal) -> Self {
        self.refusal = Some(refusal);
        self
    }
}

/// A transfer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The item it pays (sent as metadata `item_id`).
    pub item_id: PayoutItemId,
    /// The batch (metadata `batch_id`).
    pub batch_id: BatchId,
    /// The merchant (metadata `merchant_id`).
    pub merchant_id: MerchantId,
    /// The attempt number (metadata `attempt`).
    pub attempt: u32,
    /// The attempt's idempotency key.
    pub key: IdempotencyKey,
    /// The amount.
    pub amount: Money,
    /// The partner's account.
    pub destination: AccountId,
    /// The merchant's account when the money comes from it (sent as
    /// `Stripe-Account`); `None` sends from the platform's balance.
    pub source_account: Option<AccountId>,
    /// `transfer_group`: one per batch.
    pub transfer_group: String,
}

/// A transfer as Stripe reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Its id.
    pub id: TransferId,
    /// The amount.
    pub amount: Money,
    /// Total reversed so far.
    pub amount_reversed: Money,
    /// Where it went.
    pub destination: AccountId,
    /// Its `transfer_group`.
    pub transfer_group: Option<String>,
    /// Its metadata `item_id`, when it has one.
    pub item_id: Option<PayoutItemId>,
}

/// A transfer reversal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferReversal {
    /// Its id.
    pub id: TransferReversalId,
    /// This reversal's amount.
    pub amount: Money,
    /// The transfer's total reversed after it.
    pub transfer_amount_reversed: Money,
}

/// The Stripe operations payouts need.
#[async_trait]
pub trait PayoutGateway: Send + Sync {
    /// Creates a transfer with the request's idempotency key.
    ///
    /// # Errors
    /// [`GatewayError`], classified; ambiguous kinds mean the transfer may or
    /// may not exist and the same key must be re-sent.
    async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, GatewayError>;

    /// Looks up the transfer of `item` in `transfer_group` (by metadata).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn find_transfer(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        item: PayoutItemId,
    ) -> Result<Option<Transfer>, GatewayError>;

    /// Retrieves a transfer.
    ///
    /// # Errors
    /// [`GatewayError`] ([`FailureKind::NotFound`] when it does not exist).
    async fn retrieve_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<Transfer, GatewayError>;

    /// Reverses `amount` of a transfer (all that remains when `None`).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn reverse_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
        amount: Option<Money>,
        key: &IdempotencyKey,
    ) -> Result<TransferReversal, GatewayError>;
}

/// What Stripe's OAuth token endpoint returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthGrant {
    /// `stripe_user_id`.
    pub account_id: AccountId,
    /// `scope`.
    pub scope: String,
    /// `livemode`.
    pub livemode: bool,
}

/// A Stripe-hosted link (onboarding or Express dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedLink {
    /// The URL.
    pub url: String,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// An account link's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// `account_onboarding`.
    Onboarding,
    /// `account_update`.
    Update,
}

/// A partner's Express account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressAccountRequest {
    /// The membership it is for (metadata and idempotency).
    pub membership_id: MembershipId,
    /// The partner's e-mail.
    pub email: String,
    /// ISO country.
    pub country: String,
    /// Idempotency key.
    pub key: IdempotencyKey,
}

/// A promotion code to create on the merchant's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionCodeRequest {
    /// The merchant's account.
    pub merchant_account: AccountId,
    /// The code customers type.
    pub code: CouponCode,
    /// The merchant's Stripe coupon it applies.
    pub coupon: String,
    /// The membership it attributes to (metadata).
    pub membership_id: MembershipId,
    /// Idempotency key.
    pub key: IdempotencyKey,
}

/// The Stripe Connect operations onboarding and OAuth need.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ConnectGateway: Send + Sync {
    /// The Connect OAuth authorize URL (Standard, `read_write`) for `state`.
    fn authorize_url(&self, state: &StateToken) -> String;

    /// Exchanges an authorization code.
    ///
    /// # Errors
    /// [`GatewayError`]; an invalid or used code is [`FailureKind::InvalidRequest`].
    async fn exchange_code(&self, code: &str) -> Result<OAuthGrant, GatewayError>;

    /// Revokes the platform's access to an account.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn deauthorize(&self, account: &AccountId) -> Result<(), GatewayError>;

    /// Creates a partner's Express account with the `transfers` capability.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_express_account(
        &self,
        request: &ExpressAccountRequest,
    ) -> Result<AccountId, GatewayError>;

    /// An onboarding or update link.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn account_link(
        &self,
        account: &AccountId,
        kind: LinkKind,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<HostedLink, GatewayError>;

    /// An Express dashboard login link.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn login_link(&self, account: &AccountId) -> Result<HostedLink, GatewayError>;

    /// The account's onboarding state.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn account_state(&self, account: &AccountId) -> Result<OnboardingState, GatewayError>;

    /// Creates a promotion code on the merchant's account.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_promotion_code(
        &self,
        request: &PromotionCodeRequest,
    ) -> Result<PromotionCodeId, GatewayError>;

    /// Deactivates a promotion code.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn deactivate_promotion_code(
        &self,
        merchant_account: &AccountId,
        id: &PromotionCodeId,
    ) -> Result<(), GatewayError>;
}

// ---------------------------------------------------------------- the platform API

/// The Stripe Connect calls of the platform API (seed 002), in domain
/// types. Every write carries an idempotency key: the caller's, or one the
/// adapter mints and reuses for its own retries of that one call.
#[async_trait]
pub trait PlatformGateway: Send + Sync {
    /// Creates a connected account.
    ///
    /// # Errors
    /// [`GatewayError`]; Stripe's refusal is [`FailureKind::InvalidRequest`].
    async fn create_account(
        &self,
        request: &platform::CreateAccountRequest,
    ) -> Result<platform::AccountView, GatewayError>;

    /// Reads a connected account.
    ///
    /// # Errors
    /// [`GatewayError`]; an unknown account is [`FailureKind::NotFound`].
    async fn retrieve_account(
        &self,
        account: &AccountId,
    ) -> Result<platform::AccountView, GatewayError>;

    /// Replaces an account's payout schedule and returns the saved one.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn update_payout_schedule(
        &self,
        account: &AccountId,
        schedule: &platform::PayoutSchedule,
        key: Option<&IdempotencyKey>,
    ) -> Result<platform::PayoutSchedule, GatewayError>;

    /// Creates a destination-charge payment intent.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_payment_intent(
        &self,
        request: &platform::CreatePaymentIntentRequest,
    ) -> Result<platform::PaymentIntentView, GatewayError>;

    /// Reads a payment intent (on `on_account`, or the platform's).
    ///
    /// # Errors
    /// [`GatewayError`]; an unknown one is [`FailureKind::NotFound`].
    async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
        on_account: Option<&AccountId>,
    ) -> Result<platform::PaymentIntentView, GatewayError>;

    /// Captures an authorized payment intent, all of it or `amount_to_capture`.
    ///
    /// # Errors
    /// [`GatewayError`]; Stripe refuses one not in `requires_capture`.
    async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        key: Option<&IdempotencyKey>,
    ) -> Result<platform::PaymentIntentView, GatewayError>;

    /// Refunds a payment intent. The view's `application_fee_refunded` is
    /// left for the engine to work out ([`platform::fee_share_refunded`]).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn refund_payment(
        &self,
        request: &platform::RefundRequest,
    ) -> Result<platform::RefundView, GatewayError>;

    /// Creates a transfer to a connected account.
    ///
    /// # Errors
    /// [`GatewayError`]; [`FailureKind::InsufficientBalance`] when the source cannot pay.
    async fn create_platform_transfer(
        &self,
        request: &platform::PlatformTransferRequest,
    ) -> Result<platform::TransferView, GatewayError>;

    /// Reads a transfer.
    ///
    /// # Errors
    /// [`GatewayError`]; an unknown one is [`FailureKind::NotFound`].
    async fn platform_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<platform::TransferView, GatewayError>;

    /// Reverses a transfer, all of what is left or `amount`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn reverse_platform_transfer(
        &self,
        id: &TransferId,
        request: &platform::ReverseTransferRequest,
    ) -> Result<platform::ReversalView, GatewayError>;

    /// One page of an account's payouts to its bank, newest first.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn list_payouts(
        &self,
        account: &AccountId,
        params: &platform::ListParams,
    ) -> Result<Page<platform::PayoutView>, GatewayError>;

    /// The balance of `account`, or the platform's own with `None`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn balance(
        &self,
        account: Option<&AccountId>,
    ) -> Result<platform::BalanceView, GatewayError>;

    /// One page of disputes on `account`, or the platform's with `None`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn list_disputes(
        &self,
        account: Option<&AccountId>,
        params: &platform::ListParams,
    ) -> Result<Page<platform::DisputeView>, GatewayError>;

    /// Saves evidence on a dispute, and submits it when `submit`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn update_dispute_evidence(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        evidence: &platform::DisputeEvidence,
        submit: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<platform::DisputeView, GatewayError>;
}

/// Why a webhook delivery was refused before any rule ran.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct WebhookRejected(pub String);

/// Verifies Stripe's webhook signature and parses the event.
pub trait EventVerifier: Send + Sync {
    /// The event, when `signature` (the `Stripe-Signature` header) signs
    /// `payload` with a configured secret within the tolerance at `now`.
    ///
    /// # Errors
    /// [`WebhookRejected`]: a missing, forged or stale signature, or a
    /// payload that is not an event.
    fn verify_event(
        &self,
        signature: Option<&str>,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<crate::events::InboundEvent, WebhookRejected>;

    /// Stripe calls so far by outcome (`ok`, `rate_limited`, …), for metrics.
    fn call_counts(&self) -> Vec<(&'static str, u64)> {
        Vec::new()
    }
}

/// Every Stripe port, for wiring one gateway as a trait object
/// (`Arc<dyn StripeGateways>`); implemented for any type that implements each.
pub trait StripeGateways: PayoutGateway + ConnectGateway + PlatformGateway + EventVerifier {}

impl<T> StripeGateways for T where
    T: PayoutGateway + ConnectGateway + PlatformGateway + EventVerifier
{
}

// ---------------------------------------------------------------- tenancy

/// Who owns the connected accounts created through the platform API. The
/// merchant's own (OAuth) account and its partners' Express accounts are
/// known from the connection and the memberships.
#[async_trait]
pub trait AccountStore: Send + Sync {
    /// Records that `merchant` owns `account`; recording the same owner
    /// again is a no-op.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when another merchant owns it;
    /// [`StoreError::Unavailable`].
    async fn record_account_owner(
        &self,
        account: &AccountId,
        merchant: &MerchantId,
        at: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// The merchant that created `account` here, if any.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn account_owner(&self, account: &AccountId) -> Result<Option<MerchantId>, StoreError>;
}

// ---------------------------------------------------------------- API idempotency

/// Where an API request's idempotency record stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RequestKeyStatus {
    /// The first request with the key is running.
    InProgress,
    /// Its response is stored.
    Completed,
}

impl RequestKeyStatus {
    /// The stored name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            RequestKeyStatus::InProgress => "in_progress",
            RequestKeyStatus::Completed => "completed",
        }
    }
}

/// An API request's `Idempotency-Key` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestKeyRecord {
    /// The caller (`merchant:subject`).
    pub scope: String,
    /// The key.
    pub key: String,
    /// A hash of the request the key was first used with.
    pub request_hash: String,
    /// In progress or completed.
    pub status: RequestKeyStatus,
    /// The stored response's status.
    pub response_status: Option<u16>,
    /// The stored response's body.
    pub response_body: Option<String>,
    /// First used.
    pub created_at: OffsetDateTime,
    /// Completed.
    pub completed_at: Option<OffsetDateTime>,
}

/// The outcome of claiming a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKeyBegin {
    /// The key was free: this request runs.
    Started,
    /// The key was used before.
    Existing(RequestKeyRecord),
}

/// The API's `Idempotency-Key` records, Stripe's way: a replay gets the
/// stored response.
#[async_trait]
pub trait RequestKeyStore: Send + Sync {
    /// Claims `key` for `scope`, or returns the record that holds it.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when it was released concurrently (retry);
    /// [`StoreError::Unavailable`].
    async fn begin_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
        now: OffsetDateTime,
    ) -> Result<RequestKeyBegin, StoreError>;

    /// Stores the response of the request holding the key.
    ///
    /// # Errors
    /// [`StoreError::Conflict`] when the key is not in progress;
    /// [`StoreError::Unavailable`].
    async fn complete_request(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
        now: OffsetDateTime,
    ) -> Result<(), StoreError>;

    /// Frees a key whose request failed, so the client may try again.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn release_request(&self, scope: &str, key: &str) -> Result<(), StoreError>;

    /// Whether the store answers, and which backend it is (`sqlite`,
    /// `postgres`, `memory`), for readiness checks.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn ping(&self) -> Result<&'static str, StoreError>;
}
