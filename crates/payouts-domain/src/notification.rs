//! Outbox notifications: what the rules tell merchants and partners. They
//! are written in the same transaction as the change that causes them and
//! delivered later by a [`crate::ports::Notifier`].
//!
//! Each notification carries its delivery state ([`DeliveryState`]):
//!
//! ```text
//!            Delivered                      Failed, attempts < N and < 3 days
//!   pending ───────────▶ delivered   pending ──────────────────────────────▶ pending (backoff)
//!   pending ──Failed, N attempts or 3 days since──▶ dead
//!   any ──Replay──▶ pending (attempts 0, due now)
//! ```
//!
//! The schedule ([`OutboxPolicy::backoff`]) is exponential with a cap and a
//! jitter derived from the notification's id and attempt, so it is pure:
//! the same notification and attempt always wait the same time, and
//! different notifications spread out.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use time::{Duration, OffsetDateTime};

use crate::error::TransitionError;
use crate::ids::{DeliveryId, MerchantId, NotificationId, PartnerId, WebhookEndpointId};

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
    /// Where its delivery stands.
    pub delivery: DeliveryState,
}

impl Notification {
    /// When delivered, once it was.
    pub fn delivered_at(&self) -> Option<OffsetDateTime> {
        match &self.delivery {
            DeliveryState::Delivered { at, .. } => Some(*at),
            DeliveryState::Pending { .. } | DeliveryState::Dead { .. } => None,
        }
    }

    /// True when it is dead-lettered, or still pending after a failed attempt.
    pub fn is_failing(&self) -> bool {
        match &self.delivery {
            DeliveryState::Pending { attempts, .. } => *attempts > 0,
            DeliveryState::Dead { .. } => true,
            DeliveryState::Delivered { .. } => false,
        }
    }
}

// ---------------------------------------------------------------- delivery state

/// Why the last attempt failed: the endpoint's HTTP status when it answered,
/// and a short message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryFailure {
    /// The HTTP status the endpoint answered, if it answered.
    pub status_code: Option<u16>,
    /// What went wrong, in short (at most [`MAX_ERROR_LEN`] characters).
    pub message: String,
}

/// The longest error message kept with a notification or an attempt.
pub const MAX_ERROR_LEN: usize = 300;

impl DeliveryFailure {
    /// A failure, its message cut to [`MAX_ERROR_LEN`] characters.
    pub fn new(status_code: Option<u16>, message: impl Into<String>) -> Self {
        DeliveryFailure {
            status_code,
            message: short(message.into()),
        }
    }
}

/// `text` cut to [`MAX_ERROR_LEN`] characters.
pub fn short(text: String) -> String {
    if text.chars().count() <= MAX_ERROR_LEN {
        text
    } else {
        text.chars().take(MAX_ERROR_LEN).collect()
    }
}

/// Where a notification's delivery stands. Persisted: an enum whose variants
/// carry only their own data, moved by [`DeliveryState::apply`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum DeliveryState {
    /// Waiting for its next attempt.
    Pending {
        /// Failed attempts since `since`.
        attempts: u32,
        /// Due from this instant.
        #[serde(with = "time::serde::rfc3339")]
        next_attempt_at: OffsetDateTime,
        /// Start of the delivery window the dead-letter age counts from:
        /// creation, or the last replay.
        #[serde(with = "time::serde::rfc3339")]
        since: OffsetDateTime,
        /// The last attempt's failure, once one failed.
        last_failure: Option<DeliveryFailure>,
    },
    /// Delivered (every target answered 2xx), or logged when it had none.
    Delivered {
        /// When.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Attempts it took.
        attempts: u32,
    },
    /// Dead-lettered: too many attempts, or too old. Only a replay revives it.
    Dead {
        /// When it was given up.
        #[serde(with = "time::serde::rfc3339")]
        at: OffsetDateTime,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's failure.
        last_failure: Option<DeliveryFailure>,
    },
}

/// What happens to a notification's delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryEvent {
    /// An attempt succeeded.
    Delivered {
        /// When.
        at: OffsetDateTime,
    },
    /// An attempt failed.
    Failed {
        /// When.
        at: OffsetDateTime,
        /// Why.
        failure: DeliveryFailure,
    },
    /// A person asked for it to be sent again: pending, due now.
    Replayed {
        /// When.
        at: OffsetDateTime,
    },
}

impl DeliveryEvent {
    fn name(&self) -> &'static str {
        match self {
            DeliveryEvent::Delivered { .. } => "delivered",
            DeliveryEvent::Failed { .. } => "failed",
            DeliveryEvent::Replayed { .. } => "replayed",
        }
    }
}

impl DeliveryState {
    /// The first state of a notification written at `at`: pending, due now.
    pub fn new_at(at: OffsetDateTime) -> Self {
        DeliveryState::Pending {
            attempts: 0,
            next_attempt_at: at,
            since: at,
            last_failure: None,
        }
    }

    /// The wire name: `pending`, `delivered` or `dead`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            DeliveryState::Pending { .. } => "pending",
            DeliveryState::Delivered { .. } => "delivered",
            DeliveryState::Dead { .. } => "dead",
        }
    }

    /// Attempts counted in this state.
    pub const fn attempts(&self) -> u32 {
        match self {
            DeliveryState::Pending { attempts, .. }
            | DeliveryState::Delivered { attempts, .. }
            | DeliveryState::Dead { attempts, .. } => *attempts,
        }
    }

    /// The last failure, when the state keeps one.
    pub fn last_failure(&self) -> Option<&DeliveryFailure> {
        match self {
            DeliveryState::Pending { last_failure, .. }
            | DeliveryState::Dead { last_failure, .. } => last_failure.as_ref(),
            DeliveryState::Delivered { .. } => None,
        }
    }

    /// True when nothing more happens without a replay.
    pub const fn is_terminal(&self) -> bool {
        match self {
            DeliveryState::Pending { .. } => false,
            DeliveryState::Delivered { .. } | DeliveryState::Dead { .. } => true,
        }
    }

    /// The state after `event`, by `policy`; `id` seeds the jitter.
    ///
    /// # Errors
    /// [`TransitionError`] when the event does not apply (an attempt's
    /// outcome on a notification that is not pending). A delivery reported
    /// again for a delivered notification is a replay: `Ok`, unchanged.
    pub fn apply(
        self,
        event: &DeliveryEvent,
        id: NotificationId,
        policy: &OutboxPolicy,
    ) -> Result<DeliveryState, TransitionError> {
        match (self, event) {
            (DeliveryState::Pending { attempts, .. }, DeliveryEvent::Delivered { at }) => {
                Ok(DeliveryState::Delivered {
                    at: *at,
                    attempts: attempts.saturating_add(1),
                })
            }
            (delivered @ DeliveryState::Delivered { .. }, DeliveryEvent::Delivered { .. }) => {
                Ok(delivered)
            }
            (
                DeliveryState::Pending {
                    attempts, since, ..
                },
                DeliveryEvent::Failed { at, failure },
            ) => {
                let attempts = attempts.saturating_add(1);
                if policy.is_dead(attempts, since, *at) {
                    Ok(DeliveryState::Dead {
                        at: *at,
                        attempts,
                        last_failure: Some(failure.clone()),
                    })
                } else {
                    Ok(DeliveryState::Pending {
                        attempts,
                        next_attempt_at: at.saturating_add(policy.backoff(id, attempts)),
                        since,
                        last_failure: Some(failure.clone()),
                    })
                }
            }
            (_, DeliveryEvent::Replayed { at }) => Ok(DeliveryState::new_at(*at)),
            (state, event) => Err(TransitionError {
                entity: "notification",
                from: state.as_str().to_owned(),
                event: event.name().to_owned(),
            }),
        }
    }
}

/// The delivery rules: retries, backoff, dead letter and concurrency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxPolicy {
    /// Attempts before a notification is dead-lettered.
    pub max_attempts: u32,
    /// Age (since creation or the last replay) after which a failed
    /// attempt dead-letters it.
    pub dead_after: Duration,
    /// The first retry's delay; each further one doubles it.
    pub backoff_base: Duration,
    /// The longest delay between two attempts.
    pub backoff_cap: Duration,
    /// Jitter, in percent either side of the delay.
    pub jitter_percent: u8,
    /// Deliveries in flight at once in one dispatch (0 counts as 1).
    pub concurrency: u32,
    /// Deliveries in flight at once to one URL (0 counts as 1), so that a
    /// slow endpoint takes a few slots, never all of them.
    pub per_endpoint: u32,
    /// How long one dispatch keeps starting deliveries; what it has not
    /// started by then stays due for the next one. With the notifier's
    /// own timeout, this bounds a run (so a scheduler's lease outlives it).
    pub run_budget: Duration,
}

impl Default for OutboxPolicy {
    /// 20 attempts or 3 days; 30 s doubling to 6 h, ±20 %: the 20th
    /// attempt comes about 2.9 days after the first, so both limits meet
    /// near Stripe's three days. 16 deliveries at once, 4 per endpoint,
    /// new ones started for 10 s per dispatch.
    fn default() -> Self {
        OutboxPolicy {
            max_attempts: 20,
            dead_after: Duration::days(3),
            backoff_base: Duration::seconds(30),
            backoff_cap: Duration::hours(6),
            jitter_percent: 20,
            concurrency: 16,
            per_endpoint: 4,
            run_budget: Duration::seconds(10),
        }
    }
}

impl OutboxPolicy {
    /// Whether a notification whose window began at `since` is dead after
    /// its `attempts`-th failed attempt at `at`.
    pub fn is_dead(&self, attempts: u32, since: OffsetDateTime, at: OffsetDateTime) -> bool {
        attempts >= self.max_attempts.max(1) || at >= since.saturating_add(self.dead_after)
    }

    /// The delay before the next attempt after `attempts` failed ones
    /// (1 or more): `base · 2^(attempts-1)`, capped, then ±jitter derived
    /// from `id` and `attempts`.
    pub fn backoff(&self, id: NotificationId, attempts: u32) -> Duration {
        let base_ms = millis(self.backoff_base).max(1);
        let cap_ms = millis(self.backoff_cap).max(base_ms);
        let doublings = attempts.saturating_sub(1).min(40);
        let raw_ms = 1_i64
            .checked_shl(doublings)
            .and_then(|factor| base_ms.checked_mul(factor))
            .unwrap_or(cap_ms)
            .min(cap_ms);
        let spread_ms = raw_ms
            .saturating_mul(i64::from(self.jitter_percent.min(100)))
            .saturating_div(100);
        // A fraction in [-spread, +spread], from the id and attempt.
        let width = spread_ms.saturating_mul(2).saturating_add(1);
        let jitter_ms = i64::try_from(
            jitter_seed(id, attempts)
                .checked_rem(width.unsigned_abs())
                .unwrap_or(0),
        )
        .unwrap_or(0)
        .saturating_sub(spread_ms);
        Duration::milliseconds(raw_ms.saturating_add(jitter_ms).max(0))
    }

    /// [`OutboxPolicy::concurrency`], at least 1.
    pub fn concurrency(&self) -> usize {
        usize::try_from(self.concurrency.max(1)).unwrap_or(1)
    }

    /// [`OutboxPolicy::per_endpoint`], at least 1.
    pub fn per_endpoint(&self) -> usize {
        usize::try_from(self.per_endpoint.max(1)).unwrap_or(1)
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.whole_milliseconds()).unwrap_or(i64::MAX)
}

/// A stable pseudo-random number for a notification's attempt.
fn jitter_seed(id: NotificationId, attempts: u32) -> u64 {
    let digest = Sha256::new()
        .chain_update(id.as_uuid().as_bytes())
        .chain_update(attempts.to_be_bytes())
        .finalize();
    let mut bytes = [0_u8; 8];
    bytes.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
    u64::from_be_bytes(bytes)
}

// ---------------------------------------------------------------- attempts

/// How one attempt to one target ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// The endpoint answered 2xx.
    Succeeded,
    /// It answered something else, or did not answer in time.
    Failed,
}

impl AttemptStatus {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AttemptStatus::Succeeded => "succeeded",
            AttemptStatus::Failed => "failed",
        }
    }

    /// From the wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "succeeded" => Some(AttemptStatus::Succeeded),
            "failed" => Some(AttemptStatus::Failed),
            _ => None,
        }
    }
}

/// One attempt to deliver one notification to one target: the record the
/// API lists as a delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryAttempt {
    /// Its id.
    pub id: DeliveryId,
    /// The notification sent.
    pub notification_id: NotificationId,
    /// Tenant.
    pub merchant_id: MerchantId,
    /// The notification's kind.
    pub kind: NotificationKind,
    /// The endpoint, when it was one of the merchant's (none for the
    /// service's default map).
    pub endpoint_id: Option<WebhookEndpointId>,
    /// Where it was sent.
    pub url: String,
    /// When it was sent.
    #[serde(with = "time::serde::rfc3339")]
    pub attempted_at: OffsetDateTime,
    /// How long it took, in milliseconds.
    pub duration_ms: u64,
    /// Succeeded or failed.
    pub status: AttemptStatus,
    /// The HTTP status the endpoint answered, if it answered.
    pub response_status: Option<u16>,
    /// Why it failed, in short.
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    const T0: OffsetDateTime = datetime!(2026-12-01 00:00 UTC);

    fn id(n: u128) -> NotificationId {
        NotificationId::from_uuid(uuid::Uuid::from_u128(n))
    }

    fn failed(at: OffsetDateTime) -> DeliveryEvent {
        DeliveryEvent::Failed {
            at,
            failure: DeliveryFailure::new(Some(503), "the endpoint answered 503"),
        }
    }

    #[test]
    fn a_failure_waits_then_the_nth_dead_letters() {
        let policy = OutboxPolicy {
            max_attempts: 3,
            ..OutboxPolicy::default()
        };
        let s = DeliveryState::new_at(T0);
        let s = s.apply(&failed(T0), id(1), &policy).unwrap();
        let DeliveryState::Pending {
            attempts: 1,
            next_attempt_at,
            since,
            ..
        } = s
        else {
            panic!("{s:?}")
        };
        assert_eq!(since, T0);
        assert!(next_attempt_at >= T0 + Duration::seconds(24));
        assert!(next_attempt_at <= T0 + Duration::seconds(36));
        let s = s.apply(&failed(T0), id(1), &policy).unwrap();
        assert_eq!(s.attempts(), 2);
        let dead = s.apply(&failed(T0), id(1), &policy).unwrap();
        assert!(matches!(dead, DeliveryState::Dead { attempts: 3, .. }));
        assert_eq!(dead.last_failure().unwrap().status_code, Some(503));
        assert!(dead.is_terminal());
        // Nothing but a replay moves a dead notification.
        assert!(dead.clone().apply(&failed(T0), id(1), &policy).is_err());
        assert!(
            dead.clone()
                .apply(&DeliveryEvent::Delivered { at: T0 }, id(1), &policy)
                .is_err()
        );
        let later = T0 + Duration::days(10);
        assert_eq!(
            dead.apply(&DeliveryEvent::Replayed { at: later }, id(1), &policy)
                .unwrap(),
            DeliveryState::new_at(later)
        );
    }

    #[test]
    fn three_days_after_the_window_opened_a_failure_is_final() {
        let policy = OutboxPolicy::default();
        let s = DeliveryState::new_at(T0);
        let at = T0 + Duration::days(3);
        assert!(matches!(
            s.apply(&failed(at), id(1), &policy).unwrap(),
            DeliveryState::Dead { attempts: 1, .. }
        ));
        // A replay opens a new window.
        let replayed = DeliveryState::new_at(at);
        assert!(matches!(
            replayed
                .apply(&failed(at + Duration::hours(1)), id(1), &policy)
                .unwrap(),
            DeliveryState::Pending { attempts: 1, .. }
        ));
    }

    #[test]
    fn delivery_is_final_and_reported_again_is_a_no_op() {
        let policy = OutboxPolicy::default();
        let delivered = DeliveryState::new_at(T0)
            .apply(&DeliveryEvent::Delivered { at: T0 }, id(1), &policy)
            .unwrap();
        assert_eq!(
            delivered,
            DeliveryState::Delivered {
                at: T0,
                attempts: 1
            }
        );
        assert_eq!(
            delivered
                .clone()
                .apply(&DeliveryEvent::Delivered { at: T0 }, id(1), &policy)
                .unwrap(),
            delivered
        );
        let err = delivered.apply(&failed(T0), id(1), &policy).unwrap_err();
        assert_eq!(err.from, "delivered");
        assert_eq!(err.event, "failed");
    }

    #[test]
    fn the_backoff_doubles_from_30_s_to_a_cap_of_6_h() {
        let policy = OutboxPolicy {
            jitter_percent: 0,
            ..OutboxPolicy::default()
        };
        let d: Vec<i64> = (1..=12)
            .map(|a| policy.backoff(id(1), a).whole_seconds())
            .collect();
        assert_eq!(
            d,
            vec![
                30, 60, 120, 240, 480, 960, 1_920, 3_840, 7_680, 15_360, 21_600, 21_600
            ]
        );
        assert_eq!(
            policy.backoff(id(1), u32::MAX),
            Duration::hours(6),
            "no overflow"
        );
        // With jitter, notifications spread out.
        let jittered = OutboxPolicy::default();
        let spread: std::collections::HashSet<i128> = (0..50)
            .map(|n| jittered.backoff(id(n), 3).whole_milliseconds())
            .collect();
        assert!(spread.len() > 40);
    }

    proptest! {
        #[test]
        fn the_backoff_stays_within_20_percent_and_is_deterministic(
            n in any::<u128>(),
            attempts in 1_u32..64,
        ) {
            let policy = OutboxPolicy::default();
            let nominal_ms = (30_000_i64 << (attempts - 1).min(40)).min(21_600_000);
            let got = policy.backoff(id(n), attempts);
            let ms = i64::try_from(got.whole_milliseconds()).unwrap();
            prop_assert!(ms >= nominal_ms - nominal_ms / 5);
            prop_assert!(ms <= nominal_ms + nominal_ms / 5);
            prop_assert_eq!(got, policy.backoff(id(n), attempts));
        }

        #[test]
        fn pending_never_waits_past_the_cap_and_attempts_only_grow(
            n in any::<u128>(),
            failures in 1_usize..40,
        ) {
            let policy = OutboxPolicy::default();
            let mut s = DeliveryState::new_at(T0);
            let mut at = T0;
            for i in 1..=failures {
                s = s.apply(&failed(at), id(n), &policy).unwrap();
                match &s {
                    DeliveryState::Pending { attempts, next_attempt_at, .. } => {
                        prop_assert_eq!(*attempts as usize, i);
                        prop_assert!(*next_attempt_at - at <= Duration::hours(6) * 1.2);
                        at = *next_attempt_at;
                    }
                    DeliveryState::Dead { attempts, .. } => {
                        prop_assert!(*attempts <= policy.max_attempts);
                        prop_assert!(*attempts == policy.max_attempts
                            || at >= T0 + policy.dead_after);
                        break;
                    }
                    DeliveryState::Delivered { .. } => prop_assert!(false),
                }
            }
        }
    }
}
