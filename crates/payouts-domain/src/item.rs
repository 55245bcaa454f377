//! The payout item state machine and the failure ladder.
//!
//! ```text
//! pending ──submit(1)──▶ submitting{attempt,key} ──▶ posted{transfer} ──▶ reversed
//!                          │   ▲  ambiguous: stays, same key        
//!                          │   └──────────────┐
//!                          ├──▶ failed{code, retry_at?} ──submit(n+1, new key)──┘
//!                          └──▶ reconcile_required ──found──▶ posted
//!                                              └──not found: submit(n+1)
//! ```
//!
//! The idempotency key is a function of the item id and the attempt number,
//! so a crash or a lost response re-sends the *same* key, and only a
//! definitive failure (or a reconciliation that found nothing) moves to a
//! new attempt with a new key.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::TransitionError;
use crate::ids::{
    AccountId, BatchId, IdempotencyKey, MembershipId, MerchantId, PartnerId, PayoutItemId,
    ProgramId, TransferId, TransferReversalId, WorkerId,
};
use crate::money::Money;
use crate::ports::FailureKind;

/// The idempotency key of `attempt` of `item`: `payout-item-{uuid}-attempt-{n}`.
pub fn idempotency_key(item: PayoutItemId, attempt: u32) -> IdempotencyKey {
    // A UUID and a u32 are always printable ASCII, at most 70 characters.
    IdempotencyKey::derived(format!("payout-item-{item}-attempt-{attempt}"))
}

/// The Stripe `transfer_group` of every transfer of a batch.
pub fn transfer_group(batch: BatchId) -> String {
    format!("batch_{batch}")
}

/// A definitive failure as recorded on an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Failure {
    /// The domain's classification.
    pub kind: FailureKind,
    /// Stripe's error code, when there was one.
    pub code: Option<String>,
    /// A human-readable message for operators.
    pub message: String,
}

/// A payout item's state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum ItemState {
    /// Not yet sent.
    Pending,
    /// Sent (or about to be) with `key`; the outcome is not known yet. An
    /// ambiguous answer leaves the item here, to be re-sent with the same key.
    Submitting {
        /// 1-based attempt number.
        attempt: u32,
        /// The key of this attempt.
        key: IdempotencyKey,
        /// When this key was first used: Stripe keeps keys for 24 h.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// The key is too close to Stripe's retention to re-send; look the
    /// transfer up by `transfer_group` and metadata before anything else.
    ReconcileRequired {
        /// The attempt whose outcome is unknown.
        attempt: u32,
        /// Its key.
        key: IdempotencyKey,
        /// When the key was first used.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
    },
    /// Stripe created the transfer.
    Posted {
        /// The attempt that succeeded.
        attempt: u32,
        /// The transfer.
        transfer_id: TransferId,
        /// When we learned it.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
    /// Stripe refused the transfer definitively.
    Failed {
        /// The attempt that failed.
        attempt: u32,
        /// Why.
        failure: Failure,
        /// When the ladder retries it automatically, if it does.
        #[serde(with = "time::serde::rfc3339::option")]
        retry_at: Option<OffsetDateTime>,
        /// True once the ladder gave up and told the merchant.
        escalated: bool,
    },
    /// The posted transfer was reversed, in full or in part.
    Reversed {
        /// The attempt that had succeeded.
        attempt: u32,
        /// The transfer.
        transfer_id: TransferId,
        /// The last reversal.
        reversal_id: Option<TransferReversalId>,
        /// Total reversed so far.
        amount_reversed: Money,
        /// When the transfer had posted.
        #[serde(with = "time::serde::rfc3339")]
        posted_at: OffsetDateTime,
        /// When the last reversal was recorded.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
    },
}

impl ItemState {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ItemState::Pending => "pending",
            ItemState::Submitting { .. } => "submitting",
            ItemState::ReconcileRequired { .. } => "reconcile_required",
            ItemState::Posted { .. } => "posted",
            ItemState::Failed { .. } => "failed",
            ItemState::Reversed { .. } => "reversed",
        }
    }

    /// The number of attempts made so far.
    pub const fn attempts(&self) -> u32 {
        match self {
            ItemState::Pending => 0,
            ItemState::Submitting { attempt, .. }
            | ItemState::ReconcileRequired { attempt, .. }
            | ItemState::Posted { attempt, .. }
            | ItemState::Failed { attempt, .. }
            | ItemState::Reversed { attempt, .. } => *attempt,
        }
    }

    /// True when Stripe took the money (posted, or posted then reversed).
    pub const fn is_paid(&self) -> bool {
        match self {
            ItemState::Posted { .. } | ItemState::Reversed { .. } => true,
            ItemState::Pending
            | ItemState::Submitting { .. }
            | ItemState::ReconcileRequired { .. }
            | ItemState::Failed { .. } => false,
        }
    }

    /// True while the outcome is still open (pending, submitting, reconcile).
    pub const fn is_open(&self) -> bool {
        match self {
            ItemState::Pending
            | ItemState::Submitting { .. }
            | ItemState::ReconcileRequired { .. } => true,
            ItemState::Posted { .. } | ItemState::Failed { .. } | ItemState::Reversed { .. } => {
                false
            }
        }
    }

    /// The ledger bucket this state counts in.
    pub const fn bucket(&self) -> LedgerBucket {
        match self {
            ItemState::Pending
            | ItemState::Submitting { .. }
            | ItemState::ReconcileRequired { .. } => LedgerBucket::Pending,
            ItemState::Posted { .. } | ItemState::Reversed { .. } => LedgerBucket::Posted,
            ItemState::Failed { .. } => LedgerBucket::Failed,
        }
    }
}

/// The ledger bucket of an item state given by its wire name.
pub fn bucket_of(state: &str) -> Option<LedgerBucket> {
    Some(match state {
        "pending" | "submitting" | "reconcile_required" => LedgerBucket::Pending,
        "posted" | "reversed" => LedgerBucket::Posted,
        "failed" => LedgerBucket::Failed,
        _ => return None,
    })
}

/// Where a finalized commission's money stands, for the ledger invariant
/// `finalized = posted + carried + pending + failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerBucket {
    /// Paid by a posted (possibly since reversed) item.
    Posted,
    /// Not in any item yet: carried to a later batch.
    Carried,
    /// In an item whose outcome is still open.
    Pending,
    /// In a failed item not yet retried.
    Failed,
}

/// What happens to an item; input of [`PayoutItem::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ItemEvent {
    /// Commit to sending attempt `attempt` (the key is derived from it).
    Submit {
        /// Must be the next attempt number.
        attempt: u32,
        /// The clock.
        at: OffsetDateTime,
    },
    /// Stripe created the transfer.
    Posted {
        /// The transfer.
        transfer_id: TransferId,
        /// The clock.
        at: OffsetDateTime,
    },
    /// Stripe refused definitively.
    Failed {
        /// Why.
        failure: Failure,
        /// When the ladder retries, if it does.
        retry_at: Option<OffsetDateTime>,
        /// The ladder gave up.
        escalated: bool,
    },
    /// The key of the current attempt is close to Stripe's retention.
    KeyNearExpiry,
    /// Schedule an automatic retry of a failed item (e.g. the merchant fixed
    /// their account).
    ScheduleRetry {
        /// When.
        at: OffsetDateTime,
    },
    /// Stripe reports the transfer reversed by `total` so far.
    Reversed {
        /// The reversal, when known.
        reversal_id: Option<TransferReversalId>,
        /// Cumulative amount reversed.
        total: Money,
        /// The clock.
        at: OffsetDateTime,
    },
}

/// A worker's claim on an item, so that several workers never send the same
/// item at once. An expired lease may be taken over.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it.
    pub worker: WorkerId,
    /// Until when.
    #[serde(with = "time::serde::rfc3339")]
    pub until: OffsetDateTime,
}

/// One transfer to one partner for one batch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayoutItem {
    /// Its id.
    pub id: PayoutItemId,
    /// The batch.
    pub batch_id: BatchId,
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The program.
    pub program_id: ProgramId,
    /// The partner's membership.
    pub membership_id: MembershipId,
    /// The partner.
    pub partner_id: PartnerId,
    /// The partner's Express account.
    pub destination: AccountId,
    /// The net amount transferred.
    pub amount: Money,
    /// The platform fee charged to the merchant for this item.
    pub fee: Money,
    /// How many commission rows (earned and adjustments) it pays.
    pub commission_count: u32,
    /// State.
    pub state: ItemState,
    /// The current worker's lease, if any.
    pub lease: Option<Lease>,
    /// How many times an ambiguous answer (timeout, 5xx, 429, key in use)
    /// sent the item back for a re-send with the same key; drives back-off.
    pub resends: u32,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl PayoutItem {
    /// Applies an event. Replays of an applied event return the item
    /// unchanged; anything else that does not fit is an error, never an
    /// overwrite.
    ///
    /// # Errors
    /// [`TransitionError`].
    pub fn apply(&self, event: &ItemEvent) -> Result<PayoutItem, TransitionError> {
        let refused = || TransitionError {
            entity: "payout item",
            from: self.state.as_str().to_owned(),
            event: format!("{event:?}"),
        };
        let state = match (&self.state, event) {
            // Submitting attempt n+1 from pending, failed or reconcile.
            (
                ItemState::Pending | ItemState::Failed { .. } | ItemState::ReconcileRequired { .. },
                ItemEvent::Submit { attempt, at },
            ) if Some(*attempt) == self.state.attempts().checked_add(1) => ItemState::Submitting {
                attempt: *attempt,
                key: idempotency_key(self.id, *attempt),
                since: *at,
            },
            (
                ItemState::Submitting {
                    attempt: current, ..
                },
                ItemEvent::Submit { attempt, .. },
            ) if current == attempt => self.state.clone(),
            (
                ItemState::Submitting { attempt, .. }
                | ItemState::ReconcileRequired { attempt, .. },
                ItemEvent::Posted { transfer_id, at },
            ) => ItemState::Posted {
                attempt: *attempt,
                transfer_id: transfer_id.clone(),
                at: *at,
            },
            (
                ItemState::Posted {
                    transfer_id: current,
                    ..
                }
                | ItemState::Reversed {
                    transfer_id: current,
                    ..
                },
                ItemEvent::Posted { transfer_id, .. },
            ) if current == transfer_id => self.state.clone(),
            (
                ItemState::Submitting { attempt, .. },
                ItemEvent::Failed {
                    failure,
                    retry_at,
                    escalated,
                },
            ) => ItemState::Failed {
                attempt: *attempt,
                failure: failure.clone(),
                retry_at: *retry_at,
                escalated: *escalated,
            },
            (
                ItemState::Failed {
                    failure: current, ..
                },
                ItemEvent::Failed { failure, .. },
            ) if current == failure => self.state.clone(),
            (
                ItemState::Submitting {
                    attempt,
                    key,
                    since,
                },
                ItemEvent::KeyNearExpiry,
            ) => ItemState::ReconcileRequired {
                attempt: *attempt,
                key: key.clone(),
                since: *since,
            },
            (ItemState::ReconcileRequired { .. }, ItemEvent::KeyNearExpiry) => self.state.clone(),
            (
                ItemState::Failed {
                    attempt,
                    failure,
                    escalated,
                    ..
                },
                ItemEvent::ScheduleRetry { at },
            ) => ItemState::Failed {
                attempt: *attempt,
                failure: failure.clone(),
                retry_at: Some(*at),
                escalated: *escalated,
            },
            (
                ItemState::Posted {
                    attempt,
                    transfer_id,
                    at: posted_at,
                },
                ItemEvent::Reversed {
                    reversal_id,
                    total,
                    at,
                },
            ) if total.is_positive() && total.amount_minor() <= self.amount.amount_minor() => {
                ItemState::Reversed {
                    attempt: *attempt,
                    transfer_id: transfer_id.clone(),
                    reversal_id: reversal_id.clone(),
                    amount_reversed: *total,
                    posted_at: *posted_at,
                    at: *at,
                }
            }
            (
                ItemState::Reversed {
                    attempt,
                    transfer_id,
                    amount_reversed,
                    reversal_id: previous,
                    posted_at,
                    ..
                },
                ItemEvent::Reversed {
                    reversal_id,
                    total,
                    at,
                },
            ) if total.currency() == amount_reversed.currency()
                && total.amount_minor() >= amount_reversed.amount_minor()
                && total.amount_minor() <= self.amount.amount_minor() =>
            {
                if total == amount_reversed {
                    self.state.clone()
                } else {
                    ItemState::Reversed {
                        attempt: *attempt,
                        transfer_id: transfer_id.clone(),
                        reversal_id: reversal_id.clone().or_else(|| previous.clone()),
                        amount_reversed: *total,
                        posted_at: *posted_at,
                        at: *at,
                    }
                }
            }
            _ => return Err(refused()),
        };
        Ok(PayoutItem {
            state,
            ..self.clone()
        })
    }

    /// The amount that counts in the ledger's posted bucket: the transfer
    /// amount (reversals are corrections outside the payout ledger and are
    /// reported separately).
    pub fn amount_reversed(&self) -> Option<Money> {
        match &self.state {
            ItemState::Reversed {
                amount_reversed, ..
            } => Some(*amount_reversed),
            _ => None,
        }
    }
}

/// The retry ladder and timing rules (seed 000's troubleshooting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetryPolicy {
    /// Wait after `insufficient_balance` before retrying (24 h).
    pub insufficient_balance_delay: Duration,
    /// Attempts before escalating `insufficient_balance` to the merchant (3).
    pub insufficient_balance_attempts: u32,
    /// How long Stripe keeps idempotency keys (24 h).
    pub key_retention: Duration,
    /// How long before the retention ends an item stops re-sending its key
    /// and reconciles instead (1 h).
    pub reconcile_margin: Duration,
    /// The first delay before re-sending after an ambiguous outcome.
    pub ambiguous_backoff: Duration,
    /// The longest delay between re-sends after ambiguous outcomes.
    pub ambiguous_backoff_max: Duration,
    /// How long a worker's claim on an item lasts (10 s). A run with a
    /// timer renews its claims every third of it, so the items of a worker
    /// that was killed come back within one lease.
    pub lease: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            insufficient_balance_delay: Duration::hours(24),
            insufficient_balance_attempts: 3,
            key_retention: Duration::hours(24),
            reconcile_margin: Duration::hours(1),
            ambiguous_backoff: Duration::seconds(2),
            ambiguous_backoff_max: Duration::minutes(5),
            lease: Duration::seconds(10),
        }
    }
}

/// What the ladder does about a definitive failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureEffect {
    /// Retry automatically at `retry_at`; tell the merchant.
    RetryLater {
        /// When.
        retry_at: OffsetDateTime,
    },
    /// Stop retrying and tell the merchant (insufficient balance, N times).
    Escalate,
    /// Hold the program's payouts until the merchant acts.
    PauseProgram,
    /// Fail the item and tell the partner their account cannot receive.
    NotifyPartner,
    /// Terminal; an operator must look.
    Terminal,
}

impl RetryPolicy {
    /// Decides what a definitive failure of `attempt` at `now` leads to.
    pub fn on_failure(
        &self,
        kind: FailureKind,
        attempt: u32,
        now: OffsetDateTime,
    ) -> FailureEffect {
        match kind {
            FailureKind::InsufficientBalance if attempt < self.insufficient_balance_attempts => {
                FailureEffect::RetryLater {
                    retry_at: now.saturating_add(self.insufficient_balance_delay),
                }
            }
            FailureKind::InsufficientBalance => FailureEffect::Escalate,
            FailureKind::AccountInactive => FailureEffect::PauseProgram,
            FailureKind::CannotReceive => FailureEffect::NotifyPartner,
            FailureKind::InvalidRequest
            | FailureKind::IdempotencyMismatch
            | FailureKind::NotFound
            | FailureKind::RateLimited
            | FailureKind::Ambiguous => FailureEffect::Terminal,
        }
    }

    /// True when a key first used at `since` must not be re-sent at `now`.
    pub fn key_near_expiry(&self, since: OffsetDateTime, now: OffsetDateTime) -> bool {
        now >= since
            .saturating_add(self.key_retention)
            .saturating_sub(self.reconcile_margin)
    }

    /// The delay before the `n`-th re-send after ambiguous outcomes:
    /// exponential from `ambiguous_backoff`, capped.
    pub fn ambiguous_delay(&self, resends: u32) -> Duration {
        let factor = 1_i32.checked_shl(resends.min(20)).unwrap_or(i32::MAX);
        self.ambiguous_backoff
            .saturating_mul(factor)
            .min(self.ambiguous_backoff_max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use time::macros::datetime;
    use uuid::Uuid;

    fn item() -> PayoutItem {
        PayoutItem {
            id: PayoutItemId::from_uuid(Uuid::from_u128(7)),
            batch_id: BatchId::from_uuid(Uuid::nil()),
            merchant_id: MerchantId::parse("m").unwrap(),
            program_id: ProgramId::from_uuid(Uuid::nil()),
            membership_id: MembershipId::from_uuid(Uuid::nil()),
            partner_id: PartnerId::from_uuid(Uuid::nil()),
            destination: AccountId::parse("acct_p").unwrap(),
            amount: Money::new(1000, Currency::USD),
            fee: Money::new(0, Currency::USD),
            commission_count: 1,
            state: ItemState::Pending,
            lease: None,
            resends: 0,
            created_at: datetime!(2026-01-01 0:00 UTC),
        }
    }

    fn failure(kind: FailureKind) -> Failure {
        Failure {
            kind,
            code: None,
            message: "no".into(),
        }
    }

    const T: OffsetDateTime = datetime!(2026-02-01 0:00 UTC);

    #[test]
    fn the_key_is_a_function_of_item_and_attempt() {
        let i = item();
        assert_eq!(idempotency_key(i.id, 1), idempotency_key(i.id, 1));
        assert_ne!(idempotency_key(i.id, 1), idempotency_key(i.id, 2));
        assert!(idempotency_key(i.id, u32::MAX).as_str().len() <= 255);
    }

    #[test]
    fn submit_post_and_replays() {
        let i = item();
        assert!(i.apply(&ItemEvent::Submit { attempt: 2, at: T }).is_err());
        let s = i.apply(&ItemEvent::Submit { attempt: 1, at: T }).unwrap();
        assert!(
            matches!(&s.state, ItemState::Submitting { attempt: 1, key, .. } if *key == idempotency_key(i.id, 1))
        );
        // A replayed submit keeps the same key and first-use time.
        assert_eq!(
            s.apply(&ItemEvent::Submit {
                attempt: 1,
                at: T + Duration::hours(1)
            })
            .unwrap(),
            s
        );
        let tr = TransferId::parse("tr_1").unwrap();
        let p = s
            .apply(&ItemEvent::Posted {
                transfer_id: tr.clone(),
                at: T,
            })
            .unwrap();
        assert!(p.state.is_paid());
        assert_eq!(
            p.apply(&ItemEvent::Posted {
                transfer_id: tr,
                at: T
            })
            .unwrap(),
            p
        );
        // Another transfer for a posted item is a conflict, never an overwrite.
        assert!(
            p.apply(&ItemEvent::Posted {
                transfer_id: TransferId::parse("tr_2").unwrap(),
                at: T
            })
            .is_err()
        );
        assert!(p.apply(&ItemEvent::Submit { attempt: 2, at: T }).is_err());
        assert!(
            p.apply(&ItemEvent::Failed {
                failure: failure(FailureKind::InvalidRequest),
                retry_at: None,
                escalated: false
            })
            .is_err()
        );
    }

    #[test]
    fn failed_retries_with_a_new_key() {
        let s = item()
            .apply(&ItemEvent::Submit { attempt: 1, at: T })
            .unwrap();
        let f = s
            .apply(&ItemEvent::Failed {
                failure: failure(FailureKind::InsufficientBalance),
                retry_at: None,
                escalated: false,
            })
            .unwrap();
        let again = f.apply(&ItemEvent::Submit { attempt: 2, at: T }).unwrap();
        assert!(
            matches!(&again.state, ItemState::Submitting { attempt: 2, key, .. } if *key == idempotency_key(f.id, 2))
        );
    }

    #[test]
    fn reconcile_then_post_or_new_attempt() {
        let s = item()
            .apply(&ItemEvent::Submit { attempt: 1, at: T })
            .unwrap();
        let r = s.apply(&ItemEvent::KeyNearExpiry).unwrap();
        assert_eq!(r.state.as_str(), "reconcile_required");
        assert_eq!(r.apply(&ItemEvent::KeyNearExpiry).unwrap(), r);
        assert!(
            r.apply(&ItemEvent::Posted {
                transfer_id: TransferId::parse("tr_1").unwrap(),
                at: T
            })
            .unwrap()
            .state
            .is_paid()
        );
        let n = r.apply(&ItemEvent::Submit { attempt: 2, at: T }).unwrap();
        assert_eq!(n.state.attempts(), 2);
    }

    #[test]
    fn reversals_accumulate_up_to_the_amount() {
        let p = item()
            .apply(&ItemEvent::Submit { attempt: 1, at: T })
            .unwrap()
            .apply(&ItemEvent::Posted {
                transfer_id: TransferId::parse("tr_1").unwrap(),
                at: T,
            })
            .unwrap();
        let usd = |m| Money::new(m, Currency::USD);
        let r1 = p
            .apply(&ItemEvent::Reversed {
                reversal_id: None,
                total: usd(400),
                at: T,
            })
            .unwrap();
        let r2 = r1
            .apply(&ItemEvent::Reversed {
                reversal_id: None,
                total: usd(1000),
                at: T,
            })
            .unwrap();
        assert_eq!(r2.amount_reversed(), Some(usd(1000)));
        assert_eq!(
            r2.apply(&ItemEvent::Reversed {
                reversal_id: None,
                total: usd(1000),
                at: T
            })
            .unwrap(),
            r2
        );
        assert!(
            r2.apply(&ItemEvent::Reversed {
                reversal_id: None,
                total: usd(1001),
                at: T
            })
            .is_err()
        );
        assert!(
            r2.apply(&ItemEvent::Reversed {
                reversal_id: None,
                total: usd(500),
                at: T
            })
            .is_err()
        );
    }

    #[test]
    fn the_ladder() {
        let p = RetryPolicy::default();
        assert_eq!(
            p.on_failure(FailureKind::InsufficientBalance, 1, T),
            FailureEffect::RetryLater {
                retry_at: T + Duration::hours(24)
            }
        );
        assert_eq!(
            p.on_failure(FailureKind::InsufficientBalance, 3, T),
            FailureEffect::Escalate
        );
        assert_eq!(
            p.on_failure(FailureKind::AccountInactive, 1, T),
            FailureEffect::PauseProgram
        );
        assert_eq!(
            p.on_failure(FailureKind::CannotReceive, 1, T),
            FailureEffect::NotifyPartner
        );
        assert_eq!(
            p.on_failure(FailureKind::InvalidRequest, 1, T),
            FailureEffect::Terminal
        );
        assert!(!p.key_near_expiry(T, T + Duration::hours(22)));
        assert!(p.key_near_expiry(T, T + Duration::hours(23)));
        assert_eq!(p.ambiguous_delay(0), Duration::seconds(2));
        assert_eq!(p.ambiguous_delay(3), Duration::seconds(16));
        assert_eq!(p.ambiguous_delay(30), Duration::minutes(5));
    }
}
