//! Reconciliation against Stripe: our posted and reversed items beside the
//! transfers Stripe lists for the same `transfer_group`s, plus the ledger
//! invariant of the period.
//!
//! Stripe is asked only through [`PayoutGateway::list_transfers`], paged,
//! on the account each batch paid from: what another account sent under
//! the same group is not ours to see, as at Stripe.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::Payouts;
use super::reports::LedgerPeriod;
use crate::batch::{BatchState, PayoutBatch};
use crate::error::DomainError;
use crate::ids::{AccountId, BatchId, MerchantId, PartnerId, PayoutItemId, ProgramId, TransferId};
use crate::item::{ItemState, PayoutItem, transfer_group};
use crate::money::Money;
use crate::notification::{NotificationKind, Recipient};
use crate::period::Period;
use crate::ports::{
    Clock, ConnectGateway, IdGenerator, MAX_PAGE, MAX_TRANSFER_PAGE, PageRequest, PayoutGateway,
    PayoutStore, Transfer, TransferPageRequest,
};

/// What to reconcile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ReconcileScope {
    /// Every batch of a program for a period (one merchant's).
    Program {
        /// The program.
        program_id: ProgramId,
        /// The period its batches pay.
        period: Period,
    },
    /// One batch.
    Batch {
        /// The batch.
        batch_id: BatchId,
    },
}

/// How one line of the report compares. The wire names are stable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// Ours and Stripe's agree: same transfer, amount, currency and reversals.
    Matched,
    /// We recorded a transfer that Stripe does not list.
    MissingAtStripe,
    /// Stripe lists a transfer under our group that no item of ours
    /// recorded: sent behind our back (or for an item we think unpaid).
    NotOurs,
    /// The same transfer, with another amount or currency at Stripe.
    AmountMismatch,
    /// Stripe reversed more of the transfer than we recorded.
    UnrecordedReversal,
    /// We recorded more reversed than Stripe shows.
    ReversalNotAtStripe,
}

impl LineKind {
    /// Every kind, in report order.
    pub const ALL: [LineKind; 6] = [
        LineKind::Matched,
        LineKind::MissingAtStripe,
        LineKind::NotOurs,
        LineKind::AmountMismatch,
        LineKind::UnrecordedReversal,
        LineKind::ReversalNotAtStripe,
    ];

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            LineKind::Matched => "matched",
            LineKind::MissingAtStripe => "missing_at_stripe",
            LineKind::NotOurs => "not_ours",
            LineKind::AmountMismatch => "amount_mismatch",
            LineKind::UnrecordedReversal => "unrecorded_reversal",
            LineKind::ReversalNotAtStripe => "reversal_not_at_stripe",
        }
    }

    /// What it means, in plain words.
    pub const fn describe(&self) -> &'static str {
        match self {
            LineKind::Matched => "Stripe holds the same transfer, amount and currency.",
            LineKind::MissingAtStripe => {
                "We recorded this payout as sent, but Stripe does not list its transfer."
            }
            LineKind::NotOurs => {
                "Stripe holds a transfer under this batch's group that we did not record: it was made outside this engine."
            }
            LineKind::AmountMismatch => {
                "Stripe holds this transfer with another amount or currency than we recorded."
            }
            LineKind::UnrecordedReversal => {
                "Stripe reversed more of this transfer than we recorded: a reversal we missed."
            }
            LineKind::ReversalNotAtStripe => {
                "We recorded more of this transfer as reversed than Stripe shows."
            }
        }
    }

    /// True for every kind but [`LineKind::Matched`].
    pub const fn is_difference(&self) -> bool {
        match self {
            LineKind::Matched => false,
            LineKind::MissingAtStripe
            | LineKind::NotOurs
            | LineKind::AmountMismatch
            | LineKind::UnrecordedReversal
            | LineKind::ReversalNotAtStripe => true,
        }
    }
}

/// One item or transfer, ours beside Stripe's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationLine {
    /// How they compare.
    pub kind: LineKind,
    /// The batch (its group is `batch_{id}`).
    pub batch_id: BatchId,
    /// Our item, when there is one (ours, or named by Stripe's metadata).
    pub item_id: Option<PayoutItemId>,
    /// The partner of our item.
    pub partner_id: Option<PartnerId>,
    /// The transfer: ours, else Stripe's.
    pub transfer_id: Option<TransferId>,
    /// The partner's account: ours, else Stripe's.
    pub destination: Option<AccountId>,
    /// Our amount.
    pub ours: Option<Money>,
    /// Stripe's amount.
    pub stripe: Option<Money>,
    /// What we recorded as reversed.
    pub ours_reversed: Option<Money>,
    /// What Stripe shows as reversed.
    pub stripe_reversed: Option<Money>,
}

/// The report: one line per posted or reversed item of ours and per
/// transfer Stripe lists under the scope's groups, and the ledger of the
/// period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconciliationReport {
    /// What was reconciled.
    pub scope: ReconcileScope,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The program.
    pub program_id: ProgramId,
    /// The period.
    pub period: Period,
    /// The batches compared.
    pub batches: Vec<BatchId>,
    /// Matched lines first, then each kind of difference.
    pub lines: Vec<ReconciliationLine>,
    /// Items still on their way to Stripe (pending, being sent, to look
    /// up): not compared yet.
    pub in_flight: u32,
    /// The period's ledger, `finalized = posted + carried + pending +
    /// failed` (one currency: the program's).
    pub ledger: LedgerPeriod,
}

impl ReconciliationReport {
    /// The lines that are differences.
    pub fn differences(&self) -> impl Iterator<Item = &ReconciliationLine> {
        self.lines.iter().filter(|l| l.kind.is_difference())
    }

    /// How many lines of `kind`.
    pub fn count(&self, kind: LineKind) -> usize {
        self.lines.iter().filter(|l| l.kind == kind).count()
    }

    /// True when the ledger balances.
    pub fn ledger_balanced(&self) -> bool {
        self.ledger.balanced()
    }

    /// True when nothing differs and the ledger balances.
    pub fn is_clean(&self) -> bool {
        self.differences().next().is_none() && self.ledger_balanced()
    }
}

/// What a scheduled reconciliation did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileSweep {
    /// Batches reconciled.
    pub batches: u64,
    /// Differences found (lines, over every batch).
    pub differences: u64,
    /// Notifications newly queued for the merchants.
    pub notified: u64,
    /// Batches Stripe (or the store) could not be read for; tried next run.
    pub failed: u64,
}

/// Compares one batch's items with the transfers Stripe lists for it.
/// Returns the lines and how many items are in flight.
pub fn compare_batch(
    batch: BatchId,
    items: &[PayoutItem],
    transfers: &[Transfer],
) -> (Vec<ReconciliationLine>, u32) {
    let mut by_id: HashMap<&TransferId, &Transfer> = transfers.iter().map(|t| (&t.id, t)).collect();
    let mut lines = Vec::new();
    let mut in_flight = 0_u32;
    let mut unpaid: HashMap<PayoutItemId, &PayoutItem> = HashMap::new();
    for item in items {
        let (transfer_id, reversed) = match &item.state {
            ItemState::Posted { transfer_id, .. } => {
                (transfer_id, Money::zero(item.amount.currency()))
            }
            ItemState::Reversed {
                transfer_id,
                amount_reversed,
                ..
            } => (transfer_id, *amount_reversed),
            ItemState::Pending
            | ItemState::Submitting { .. }
            | ItemState::ReconcileRequired { .. } => {
                in_flight = in_flight.saturating_add(1);
                unpaid.insert(item.id, item);
                continue;
            }
            ItemState::Failed { .. } => {
                unpaid.insert(item.id, item);
                continue;
            }
        };
        let theirs = by_id.remove(transfer_id);
        let kind = match theirs {
            None => LineKind::MissingAtStripe,
            Some(t) if t.amount != item.amount => LineKind::AmountMismatch,
            Some(t) => match t.amount_reversed.checked_cmp(&reversed) {
                Ok(std::cmp::Ordering::Greater) => LineKind::UnrecordedReversal,
                Ok(std::cmp::Ordering::Less) => LineKind::ReversalNotAtStripe,
                Ok(std::cmp::Ordering::Equal) => LineKind::Matched,
                // Reversed in another currency than the transfer's: not the same.
                Err(_) => LineKind::AmountMismatch,
            },
        };
        lines.push(ReconciliationLine {
            kind,
            batch_id: batch,
            item_id: Some(item.id),
            partner_id: Some(item.partner_id),
            transfer_id: Some(transfer_id.clone()),
            destination: Some(item.destination.clone()),
            ours: Some(item.amount),
            stripe: theirs.map(|t| t.amount),
            ours_reversed: Some(reversed),
            stripe_reversed: theirs.map(|t| t.amount_reversed),
        });
    }
    // What is left at Stripe, no item of ours recorded. A transfer for an
    // item still being sent is its own outcome on the way, not a difference.
    let mut rest: Vec<&Transfer> = by_id.into_values().collect();
    rest.sort_by(|a, b| a.id.cmp(&b.id));
    for t in rest {
        let item = t.item_id.and_then(|id| unpaid.get(&id).copied());
        if item.is_some_and(|i| {
            matches!(
                i.state,
                ItemState::Submitting { .. } | ItemState::ReconcileRequired { .. }
            )
        }) {
            continue;
        }
        lines.push(ReconciliationLine {
            kind: LineKind::NotOurs,
            batch_id: batch,
            item_id: t.item_id,
            partner_id: item.map(|i| i.partner_id),
            transfer_id: Some(t.id.clone()),
            destination: Some(t.destination.clone()),
            ours: item.map(|i| i.amount),
            stripe: Some(t.amount),
            ours_reversed: None,
            stripe_reversed: Some(t.amount_reversed),
        });
    }
    (lines, in_flight)
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: PayoutStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Reconciles the scope's batches against Stripe and checks the
    /// period's ledger.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown program or batch;
    /// [`DomainError::Gateway`] when Stripe cannot be read;
    /// [`DomainError::Money`]; [`DomainError::Unavailable`].
    pub async fn reconciliation(
        &self,
        scope: ReconcileScope,
    ) -> Result<ReconciliationReport, DomainError> {
        let (program_id, period, batches) = match scope {
            ReconcileScope::Program { program_id, period } => {
                self.program(program_id).await?;
                let batches: Vec<PayoutBatch> = self
                    .store
                    .batches_of(program_id)
                    .await?
                    .into_iter()
                    .filter(|b| b.period == period)
                    .collect();
                (program_id, period, batches)
            }
            ReconcileScope::Batch { batch_id } => {
                let batch = self.batch(batch_id).await?;
                (batch.program_id, batch.period, vec![batch])
            }
        };
        let program = self.program(program_id).await?;
        let mut lines = Vec::new();
        let mut in_flight = 0_u32;
        for batch in &batches {
            let items = self.all_items(batch.id).await?;
            let source = self.source_of(batch).await?;
            let transfers = self
                .all_transfers(source.as_ref(), &transfer_group(batch.id))
                .await?;
            let (batch_lines, flying) = compare_batch(batch.id, &items, &transfers);
            lines.extend(batch_lines);
            in_flight = in_flight.saturating_add(flying);
        }
        lines.sort_by_key(|l| l.kind);
        let ledger = self
            .check_ledger(program_id)
            .await?
            .periods
            .into_iter()
            .find(|p| p.period == period)
            .unwrap_or_else(|| {
                let zero = Money::zero(program.currency);
                LedgerPeriod {
                    period,
                    finalized: zero,
                    posted: zero,
                    carried: zero,
                    pending: zero,
                    failed: zero,
                }
            });
        Ok(ReconciliationReport {
            scope,
            merchant_id: program.merchant_id.clone(),
            program_id,
            period,
            batches: batches.iter().map(|b| b.id).collect(),
            lines,
            in_flight,
            ledger,
        })
    }

    /// Tells the merchant of each difference of `report` through the
    /// outbox, once per difference however often it is reported again.
    /// Returns how many notifications were new.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn notify_reconciliation(
        &self,
        report: &ReconciliationReport,
    ) -> Result<u64, DomainError> {
        let mut notices = Vec::new();
        for line in report.differences() {
            let subject = line
                .transfer_id
                .as_ref()
                .map(ToString::to_string)
                .or_else(|| line.item_id.map(|i| i.to_string()))
                .unwrap_or_default();
            let amounts = |m: Option<Money>| {
                m.map_or_else(
                    || "-".to_owned(),
                    |m| format!("{}{}", m.amount_minor(), m.currency()),
                )
            };
            notices.push(self.notification(
                &report.merchant_id,
                NotificationKind::MerchantReconciliationDifference,
                Recipient::Merchant(report.merchant_id.clone()),
                format!(
                    "reconciliation:{}:{}:{subject}:{}:{}",
                    line.kind.as_str(),
                    line.batch_id,
                    amounts(line.stripe),
                    amounts(line.stripe_reversed),
                ),
                serde_json::json!({
                    "kind": line.kind,
                    "batch_id": line.batch_id,
                    "item_id": line.item_id,
                    "transfer_id": line.transfer_id,
                    "destination": line.destination,
                    "ours": line.ours,
                    "stripe": line.stripe,
                    "ours_reversed": line.ours_reversed,
                    "stripe_reversed": line.stripe_reversed,
                }),
            ));
        }
        if !report.ledger_balanced() {
            let l = &report.ledger;
            notices.push(self.notification(
                &report.merchant_id,
                NotificationKind::MerchantReconciliationDifference,
                Recipient::Merchant(report.merchant_id.clone()),
                format!(
                    "reconciliation:ledger:{}:{}:{}:{}:{}:{}:{}",
                    report.program_id,
                    l.period,
                    l.finalized.amount_minor(),
                    l.posted.amount_minor(),
                    l.carried.amount_minor(),
                    l.pending.amount_minor(),
                    l.failed.amount_minor(),
                ),
                serde_json::json!({ "kind": "ledger_unbalanced", "ledger": l }),
            ));
        }
        if notices.is_empty() {
            return Ok(0);
        }
        Ok(self.store.enqueue(&notices).await?)
    }

    /// The scheduled reconciliation: every completed batch (with or
    /// without failures) of every active program, for last month and this
    /// month by the clock, reconciled one by one; the merchant is told of
    /// each difference once ([`Payouts::notify_reconciliation`]). A batch
    /// that cannot be read at Stripe is counted and left to the next run.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the store cannot list programs or
    /// batches.
    pub async fn reconcile_recent(&self) -> Result<ReconcileSweep, DomainError> {
        let this = Period::containing(self.clock.now());
        let periods = [this.previous(), this];
        let mut sweep = ReconcileSweep::default();
        for program in self.store.active_programs().await? {
            for batch in self.store.batches_of(program.id).await? {
                let done = matches!(
                    batch.state,
                    BatchState::Completed | BatchState::CompletedWithFailures
                );
                if !done || !periods.contains(&batch.period) {
                    continue;
                }
                let report = match self
                    .reconciliation(ReconcileScope::Batch { batch_id: batch.id })
                    .await
                {
                    Ok(report) => report,
                    Err(DomainError::Gateway(_) | DomainError::Unavailable(_)) => {
                        sweep.failed = sweep.failed.saturating_add(1);
                        continue;
                    }
                    Err(other) => return Err(other),
                };
                sweep.batches = sweep.batches.saturating_add(1);
                let differences = u64::try_from(report.differences().count()).unwrap_or(u64::MAX);
                sweep.differences = sweep.differences.saturating_add(differences);
                let notified = self.notify_reconciliation(&report).await?;
                sweep.notified = sweep.notified.saturating_add(notified);
            }
        }
        Ok(sweep)
    }

    /// Every item of a batch.
    async fn all_items(&self, batch: BatchId) -> Result<Vec<PayoutItem>, DomainError> {
        let mut items = Vec::new();
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let got = self.store.items(batch, page).await?;
            let last = got.data.last().map(|i| i.id.as_uuid());
            items.extend(got.data);
            match (got.has_more, last) {
                (true, Some(last)) => page.after = Some(last),
                _ => return Ok(items),
            }
        }
    }

    /// Every transfer Stripe lists for a group, page by page.
    async fn all_transfers(
        &self,
        source: Option<&AccountId>,
        group: &str,
    ) -> Result<Vec<Transfer>, DomainError> {
        let mut transfers: BTreeMap<TransferId, Transfer> = BTreeMap::new();
        let mut page = TransferPageRequest::first(MAX_TRANSFER_PAGE);
        loop {
            let got = self.gateway.list_transfers(source, group, &page).await?;
            let last = got.data.last().map(|t| t.id.clone());
            for t in got.data {
                transfers.insert(t.id.clone(), t);
            }
            match (got.has_more, last) {
                (true, Some(last)) => page.starting_after = Some(last),
                _ => return Ok(transfers.into_values().collect()),
            }
        }
    }

    /// The account a batch's transfers were sent from: the one it kept,
    /// else (a batch from before accounts were kept, or one never started)
    /// the merchant's current one.
    async fn source_of(&self, batch: &PayoutBatch) -> Result<Option<AccountId>, DomainError> {
        if let Some(source) = &batch.source_account {
            return Ok(Some(source.clone()));
        }
        Ok(self
            .store
            .connection(&batch.merchant_id)
            .await?
            .map(|c| c.account_id))
    }
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;
    use uuid::Uuid;

    use super::*;
    use crate::ids::{IdempotencyKey, MembershipId};
    use crate::item::idempotency_key;
    use crate::money::Currency;

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::USD)
    }

    fn item(n: u128, state: ItemState) -> PayoutItem {
        PayoutItem {
            id: PayoutItemId::from_uuid(Uuid::from_u128(n)),
            batch_id: BatchId::from_uuid(Uuid::nil()),
            merchant_id: MerchantId::parse("m").unwrap(),
            program_id: ProgramId::from_uuid(Uuid::nil()),
            membership_id: MembershipId::from_uuid(Uuid::nil()),
            partner_id: PartnerId::from_uuid(Uuid::from_u128(n)),
            destination: AccountId::parse("acct_p").unwrap(),
            amount: usd(1_000),
            fee: usd(0),
            commission_count: 1,
            state,
            lease: None,
            resends: 0,
            created_at: datetime!(2026-01-01 0:00 UTC),
        }
    }

    fn transfer(id: &str, item: Option<PayoutItemId>, amount: Money) -> Transfer {
        Transfer {
            id: TransferId::parse(id).unwrap(),
            amount,
            amount_reversed: Money::zero(amount.currency()),
            destination: AccountId::parse("acct_p").unwrap(),
            transfer_group: Some("batch_x".to_owned()),
            item_id: item,
        }
    }

    #[test]
    fn a_transfer_for_an_item_being_sent_is_in_flight_and_one_for_a_failed_item_is_not_ours() {
        let key: IdempotencyKey = idempotency_key(PayoutItemId::from_uuid(Uuid::from_u128(1)), 1);
        let sending = item(
            1,
            ItemState::Submitting {
                attempt: 1,
                key,
                since: datetime!(2026-01-02 0:00 UTC),
            },
        );
        let failed = item(
            2,
            ItemState::Failed {
                attempt: 1,
                failure: crate::item::Failure {
                    kind: crate::ports::FailureKind::InsufficientBalance,
                    code: None,
                    message: "low".to_owned(),
                },
                retry_at: None,
                escalated: false,
            },
        );
        let transfers = [
            transfer("tr_1", Some(sending.id), usd(1_000)),
            transfer("tr_2", Some(failed.id), usd(1_000)),
        ];
        let (lines, in_flight) =
            compare_batch(sending.batch_id, &[sending, failed.clone()], &transfers);
        assert_eq!(in_flight, 1);
        assert_eq!(lines.len(), 1, "{lines:#?}");
        assert_eq!(lines[0].kind, LineKind::NotOurs);
        assert_eq!(lines[0].item_id, Some(failed.id));
        assert_eq!(lines[0].partner_id, Some(failed.partner_id));
        assert_eq!(lines[0].ours, Some(usd(1_000)));
    }

    #[test]
    fn every_kind_but_matched_is_a_difference_and_names_round_trip() {
        for kind in LineKind::ALL {
            assert_eq!(kind.is_difference(), kind != LineKind::Matched);
            let json = serde_json::to_value(kind).unwrap();
            assert_eq!(json, kind.as_str());
            assert!(!kind.describe().is_empty());
        }
    }
}
