//! Payout batches (seed 004): built per program and monthly period from
//! finalized, unpaid commissions, one item per partner, with a frozen
//! manifest to review and a summary of outcomes.
//!
//! ```text
//! draft ──approve──▶ approved ──start──▶ executing ──finish──▶ completed
//!                                                  └─────────▶ completed_with_failures ──(retries succeed)──▶ completed
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{DomainError, TransitionError};
use crate::ids::{
    AccountId, BatchId, MembershipId, MerchantId, PartnerId, PayoutItemId, ProgramId,
};
use crate::item::{LedgerBucket, PayoutItem};
use crate::money::{Currency, Money};
use crate::partner::Membership;
use crate::period::Period;
use crate::program::{PayoutPolicy, Program};

/// A batch's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BatchState {
    /// Built; waiting for approval.
    Draft,
    /// Approved; waiting to run.
    Approved,
    /// Items are being sent.
    Executing,
    /// Every item posted.
    Completed,
    /// Every item has an outcome, and some failed.
    CompletedWithFailures,
}

impl BatchState {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            BatchState::Draft => "draft",
            BatchState::Approved => "approved",
            BatchState::Executing => "executing",
            BatchState::Completed => "completed",
            BatchState::CompletedWithFailures => "completed_with_failures",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "draft" => BatchState::Draft,
            "approved" => BatchState::Approved,
            "executing" => BatchState::Executing,
            "completed" => BatchState::Completed,
            "completed_with_failures" => BatchState::CompletedWithFailures,
            _ => return None,
        })
    }
}

/// Who approved a batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "snake_case")]
pub enum Approval {
    /// The program's policy approved it.
    Policy {
        /// `auto_under_cap` or `auto_all`.
        policy: String,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// A person approved it.
    Person {
        /// Their subject (e.g. the JWT `sub`).
        actor: String,
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

/// Why a partner's balance was not itemized and carries to the next batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CarryReason {
    /// The net is positive but below the effective minimum: the larger of
    /// the program's minimum payout and its minimum for the currency paid.
    BelowMinimum,
    /// The partner's account cannot receive transfers yet.
    CannotReceive,
    /// Adjustments exceed earnings: a debt carried forward, never transferred.
    NegativeBalance,
    /// Adjustments exactly cancel earnings.
    ZeroBalance,
}

impl CarryReason {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CarryReason::BelowMinimum => "below_minimum",
            CarryReason::CannotReceive => "cannot_receive",
            CarryReason::NegativeBalance => "negative_balance",
            CarryReason::ZeroBalance => "zero_balance",
        }
    }
}

/// A partner balance carried to a later batch, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarryOver {
    /// The membership.
    pub membership_id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// The net carried (may be negative).
    pub amount: Money,
    /// How many commission rows stay unpaid.
    pub commission_count: u32,
    /// Why.
    pub reason: CarryReason,
}

/// A partner's finalized, unpaid balance in a program; the store aggregates
/// it in one query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerBalance {
    /// The membership.
    pub membership_id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// Earned plus adjustments.
    pub net: Money,
    /// How many rows.
    pub commission_count: u32,
}

/// A payout batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutBatch {
    /// Its id.
    pub id: BatchId,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The program.
    pub program_id: ProgramId,
    /// The period it pays (and every earlier unpaid one).
    pub period: Period,
    /// Its currency (the program's).
    pub currency: Currency,
    /// State.
    pub state: BatchState,
    /// Sum of the items.
    pub total: Money,
    /// Sum of the items' platform fees.
    pub fee_total: Money,
    /// Number of items.
    pub item_count: u32,
    /// Balances carried to a later batch.
    pub carried: Vec<CarryOver>,
    /// SHA-256 over the frozen manifest.
    pub manifest_hash: String,
    /// Commissions finalized at or before this instant were considered.
    #[serde(with = "time::serde::rfc3339")]
    pub as_of: OffsetDateTime,
    /// Approval, once given.
    pub approval: Option<Approval>,
    /// When built.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The merchant's Stripe account the batch pays from, set when it starts
    /// executing and kept: every transfer of the batch is sent, re-sent
    /// (same key: keys are scoped to the account), reconciled, refreshed
    /// and reversed on this account, even after the merchant connects
    /// another one. `None` until the batch starts.
    #[serde(default)]
    pub source_account: Option<AccountId>,
}

/// What happens to a batch; input of [`PayoutBatch::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchEvent {
    /// Approved by policy or a person.
    Approve(Approval),
    /// Execution started, paying from `source` (the merchant's account).
    Start {
        /// The account every transfer of the batch is sent from.
        source: AccountId,
    },
    /// Every item has an outcome; `failures` of them failed.
    Finish {
        /// True when at least one item failed.
        failures: bool,
    },
}

impl PayoutBatch {
    /// Applies an event. Approving an approved batch, starting an executing
    /// one and finishing with the same outcome are replays.
    ///
    /// # Errors
    /// [`TransitionError`].
    pub fn apply(&self, event: &BatchEvent) -> Result<PayoutBatch, TransitionError> {
        let mut next = self.clone();
        match (self.state, event) {
            (BatchState::Draft, BatchEvent::Approve(approval)) => {
                next.state = BatchState::Approved;
                next.approval = Some(approval.clone());
            }
            // A replayed start keeps the account the batch started on.
            (BatchState::Approved | BatchState::Executing, BatchEvent::Approve(_))
            | (BatchState::Executing, BatchEvent::Start { .. }) => {}
            (BatchState::Approved, BatchEvent::Start { source }) => {
                next.state = BatchState::Executing;
                next.source_account = Some(source.clone());
            }
            (
                BatchState::Executing | BatchState::CompletedWithFailures,
                BatchEvent::Finish { failures },
            ) => {
                next.state = if *failures {
                    BatchState::CompletedWithFailures
                } else {
                    BatchState::Completed
                };
            }
            (BatchState::Completed, BatchEvent::Finish { failures: false }) => {}
            (state, event) => {
                return Err(TransitionError {
                    entity: "batch",
                    from: state.as_str().to_owned(),
                    event: format!("{event:?}"),
                });
            }
        }
        Ok(next)
    }
}

/// One line of the manifest: what one item will pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestLine {
    /// The item.
    pub item_id: PayoutItemId,
    /// The membership.
    pub membership_id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// Where the transfer goes.
    pub destination: AccountId,
    /// How much.
    pub amount: Money,
    /// The platform fee for it.
    pub fee: Money,
    /// How many commission rows it pays.
    pub commission_count: u32,
}

impl ManifestLine {
    /// The line of an item.
    pub fn of(item: &PayoutItem) -> Self {
        ManifestLine {
            item_id: item.id,
            membership_id: item.membership_id,
            partner_id: item.partner_id,
            destination: item.destination.clone(),
            amount: item.amount,
            fee: item.fee,
            commission_count: item.commission_count,
        }
    }
}

/// The manifest hash: SHA-256 over a canonical text of the batch header,
/// every line (sorted by membership) and every carry-over. Any change to
/// who is paid, where, or how much changes it.
pub fn manifest_hash(
    batch_id: BatchId,
    period: Period,
    currency: Currency,
    lines: &[ManifestLine],
    carried: &[CarryOver],
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("batch {batch_id} {period} {currency}\n"));
    let mut sorted: Vec<&ManifestLine> = lines.iter().collect();
    sorted.sort_by_key(|l| l.membership_id);
    for l in sorted {
        hasher.update(format!(
            "item {} {} {} {} {} {} {}\n",
            l.item_id,
            l.membership_id,
            l.partner_id,
            l.destination,
            l.amount.amount_minor(),
            l.fee.amount_minor(),
            l.commission_count
        ));
    }
    let mut carried_sorted: Vec<&CarryOver> = carried.iter().collect();
    carried_sorted.sort_by_key(|c| c.membership_id);
    for c in carried_sorted {
        hasher.update(format!(
            "carry {} {} {} {}\n",
            c.membership_id,
            c.amount.amount_minor(),
            c.commission_count,
            c.reason.as_str()
        ));
    }
    hex::encode(hasher.finalize())
}

/// A partner balance the planner decided to pay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedItem {
    /// The balance.
    pub balance: PartnerBalance,
    /// Where it goes.
    pub destination: AccountId,
}

/// The planner's split of balances into items and carry-overs.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchPlan {
    /// Balances to pay.
    pub items: Vec<PlannedItem>,
    /// Balances to carry, with reasons.
    pub carried: Vec<CarryOver>,
}

/// Splits balances into items and carry-overs:
/// negative and zero nets carry (never transferred), nets below the
/// program's effective minimum ([`Program::effective_minimum`]: the larger
/// of the program minimum and the per-currency minimum of the currency
/// paid) carry, and partners whose account cannot receive
/// transfers carry. Everything else becomes one item per partner.
///
/// # Errors
/// [`DomainError::Money`] when a balance is not in the program currency.
pub fn plan_batch(
    program: &Program,
    balances: Vec<PartnerBalance>,
    memberships: &HashMap<MembershipId, Membership>,
) -> Result<BatchPlan, DomainError> {
    let mut plan = BatchPlan::default();
    for balance in balances {
        let minimum = program.effective_minimum(balance.net.currency())?;
        let ordering = balance.net.checked_cmp(&minimum)?;
        let carry = |reason| CarryOver {
            membership_id: balance.membership_id,
            partner_id: balance.partner_id,
            amount: balance.net,
            commission_count: balance.commission_count,
            reason,
        };
        let destination = memberships
            .get(&balance.membership_id)
            .filter(|m| m.can_receive_transfers())
            .and_then(|m| m.account_id.clone());
        if balance.net.is_negative() {
            plan.carried.push(carry(CarryReason::NegativeBalance));
        } else if balance.net.is_zero() {
            plan.carried.push(carry(CarryReason::ZeroBalance));
        } else if ordering == std::cmp::Ordering::Less {
            plan.carried.push(carry(CarryReason::BelowMinimum));
        } else if let Some(destination) = destination {
            plan.items.push(PlannedItem {
                balance,
                destination,
            });
        } else {
            plan.carried.push(carry(CarryReason::CannotReceive));
        }
    }
    Ok(plan)
}

/// The approval a freshly built batch gets from its program's policy, if any.
/// A program on probation, archived or on hold approves nothing by itself.
///
/// # Errors
/// [`DomainError::Validation`] when the cap's currency is not the batch's.
pub fn policy_approval(
    program: &Program,
    total: &Money,
    now: OffsetDateTime,
) -> Result<Option<Approval>, DomainError> {
    if program.payout_block().is_some() {
        return Ok(None);
    }
    let policy: &PayoutPolicy = &program.payout_policy;
    Ok(policy.auto_approves(total)?.then(|| Approval::Policy {
        policy: policy.as_str().to_owned(),
        at: now,
    }))
}

/// Counts and amounts of a batch's items by outcome (seed 004's summary).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchSummary {
    /// Items posted (including reversed ones).
    pub posted_count: u64,
    /// Their total.
    pub posted_amount: Money,
    /// Items failed.
    pub failed_count: u64,
    /// Their total.
    pub failed_amount: Money,
    /// Items still open (pending, submitting, reconcile).
    pub pending_count: u64,
    /// Their total.
    pub pending_amount: Money,
    /// Of the posted, how many were reversed.
    pub reversed_count: u64,
    /// Total reversed.
    pub reversed_amount: Money,
}

impl BatchSummary {
    /// An empty summary in `currency`.
    pub fn empty(currency: Currency) -> Self {
        BatchSummary {
            posted_count: 0,
            posted_amount: Money::zero(currency),
            failed_count: 0,
            failed_amount: Money::zero(currency),
            pending_count: 0,
            pending_amount: Money::zero(currency),
            reversed_count: 0,
            reversed_amount: Money::zero(currency),
        }
    }

    /// Adds the items of one state.
    ///
    /// # Errors
    /// [`DomainError::Money`] on a currency mismatch or overflow;
    /// [`DomainError::Validation`] for an unknown state name.
    pub fn add(&mut self, total: &crate::ports::StateTotal) -> Result<(), DomainError> {
        let bucket = crate::item::bucket_of(&total.state).ok_or_else(|| {
            DomainError::validation("state", format!("unknown item state {}", total.state))
        })?;
        let (count, amount) = match bucket {
            LedgerBucket::Posted => (&mut self.posted_count, &mut self.posted_amount),
            LedgerBucket::Failed => (&mut self.failed_count, &mut self.failed_amount),
            LedgerBucket::Pending | LedgerBucket::Carried => {
                (&mut self.pending_count, &mut self.pending_amount)
            }
        };
        *count = count.saturating_add(total.count);
        *amount = amount.checked_add(&total.amount)?;
        if total.state == "reversed" {
            self.reversed_count = self.reversed_count.saturating_add(total.count);
            self.reversed_amount = self.reversed_amount.checked_add(&total.reversed)?;
        }
        Ok(())
    }

    /// Items with an outcome still open.
    pub fn is_settled(&self) -> bool {
        self.pending_count == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;
    use uuid::Uuid;

    fn batch() -> PayoutBatch {
        let usd = Money::zero(Currency::USD);
        PayoutBatch {
            id: BatchId::from_uuid(Uuid::nil()),
            merchant_id: MerchantId::parse("m").unwrap(),
            program_id: ProgramId::from_uuid(Uuid::nil()),
            period: Period::parse("2026-01").unwrap(),
            currency: Currency::USD,
            state: BatchState::Draft,
            total: usd,
            fee_total: usd,
            item_count: 0,
            carried: vec![],
            manifest_hash: String::new(),
            as_of: datetime!(2026-02-01 0:00 UTC),
            approval: None,
            created_at: datetime!(2026-02-01 0:00 UTC),
            source_account: None,
        }
    }

    #[test]
    fn batch_lifecycle() {
        let at = datetime!(2026-02-01 0:00 UTC);
        let b = batch();
        let acct = |s: &str| AccountId::parse(s).unwrap();
        let start = BatchEvent::Start {
            source: acct("acct_a"),
        };
        assert!(b.apply(&start).is_err());
        let a = b
            .apply(&BatchEvent::Approve(Approval::Person {
                actor: "ops".into(),
                at,
            }))
            .unwrap();
        assert_eq!(a.state, BatchState::Approved);
        let e = a.apply(&start).unwrap();
        assert_eq!(e.source_account, Some(acct("acct_a")));
        assert_eq!(e.apply(&start).unwrap(), e);
        // Started once, a batch keeps its account.
        let again = e
            .apply(&BatchEvent::Start {
                source: acct("acct_b"),
            })
            .unwrap();
        assert_eq!(again.source_account, Some(acct("acct_a")));
        let f = e.apply(&BatchEvent::Finish { failures: true }).unwrap();
        assert_eq!(f.state, BatchState::CompletedWithFailures);
        let c = f.apply(&BatchEvent::Finish { failures: false }).unwrap();
        assert_eq!(c.state, BatchState::Completed);
        assert!(c.apply(&BatchEvent::Finish { failures: true }).is_err());
        assert!(
            c.apply(&BatchEvent::Approve(Approval::Person {
                actor: "x".into(),
                at
            }))
            .is_err()
        );
    }

    #[test]
    fn manifest_hash_changes_with_any_amount() {
        let line = ManifestLine {
            item_id: PayoutItemId::from_uuid(Uuid::from_u128(1)),
            membership_id: MembershipId::from_uuid(Uuid::from_u128(2)),
            partner_id: PartnerId::from_uuid(Uuid::from_u128(3)),
            destination: AccountId::parse("acct_1").unwrap(),
            amount: Money::new(100, Currency::USD),
            fee: Money::new(3, Currency::USD),
            commission_count: 2,
        };
        let b = batch();
        let h1 = manifest_hash(b.id, b.period, b.currency, std::slice::from_ref(&line), &[]);
        let mut other = line.clone();
        other.amount = Money::new(101, Currency::USD);
        let h2 = manifest_hash(b.id, b.period, b.currency, &[other], &[]);
        assert_ne!(h1, h2);
        assert_eq!(h1.len(), 64);
        assert_eq!(h1, manifest_hash(b.id, b.period, b.currency, &[line], &[]));
    }
}
