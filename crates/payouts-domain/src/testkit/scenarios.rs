//! The seeds' stories, end to end, against any store. Each scenario takes a
//! fresh store, builds a world (a connected merchant with a program, the
//! in-memory Stripe, a manual clock) and checks the ledger invariant after
//! every step.

use std::sync::Arc;

use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use crate as payouts_domain;
use crate::batch::{BatchState, CarryReason, PayoutBatch};
use crate::commission::{CommissionKind, CommissionState, ConversionInput};
use crate::connection::{CallbackError, CallbackOutcome, ConnectionStatus};
use crate::engine::{EngineConfig, NewPartner, Payouts, RecordOutcome};
use crate::error::{Blocked, DomainError};
use crate::ids::{AccountId, CouponCode, ExternalId, MerchantId, ReferralKey, WorkerId};
use crate::item::{ItemState, PayoutItem, idempotency_key};
use crate::memory::{InMemoryStripe, ManualClock, RecordingNotifier, SequentialIds};
use crate::notification::{NotificationKind, Recipient};
use crate::partner::Membership;
use crate::period::Period;
use crate::ports::{Clock, CommissionFilter, FailureKind, GatewayError, PageRequest, PayoutStore};
use crate::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, HoldReason, PayoutPolicy, Program,
    ProgramSettings, ProgramStatus,
};
use crate::reward::ConversionKind;
use crate::{Currency, Money, Percent, Rounding};

/// The engine scenarios run: any store, the in-memory Stripe.
pub type Engine<S> = Payouts<S, InMemoryStripe, ManualClock, SequentialIds>;

/// When every world starts.
pub const START: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// The settings every scenario program starts from: USD, 20 % half-even,
/// one-time, 14 holding days, a $50 minimum (above the USD default of
/// $0.50), partners paid in the US, Germany and France.
pub fn settings(policy: PayoutPolicy) -> ProgramSettings {
    ProgramSettings {
        name: "Acme partners".into(),
        currency: Currency::USD,
        commission_rule: CommissionRule {
            amount: CommissionAmount::Percent {
                percent: Percent::new(rust_decimal::Decimal::from(20)).unwrap(),
                rounding: Rounding::HalfEven,
            },
            recurring_months: None,
            tiers: None,
            first_conversions: None,
            products: Vec::new(),
            lead: None,
        },
        holding_days: 14,
        minimum_payout: usd(5_000),
        minimum_payouts: std::collections::BTreeMap::new(),
        payout_policy: policy,
        coupon_sync: CouponSyncMode::Manual,
        payout_countries: vec!["US".into(), "DE".into(), "FR".into()],
    }
}

/// A connected merchant with one program, on a given store.
#[derive(Debug)]
pub struct World<S> {
    /// The engine.
    pub engine: Engine<S>,
    /// Its clock.
    pub clock: ManualClock,
    /// The merchant.
    pub merchant: MerchantId,
    /// The merchant's Stripe account.
    pub merchant_account: AccountId,
    /// The program.
    pub program: Program,
}

impl<S: PayoutStore + Clone> World<S> {
    /// `merchant_123`, connected by OAuth, with one program under `policy`.
    pub async fn new(store: S, policy: PayoutPolicy) -> World<S> {
        World::tagged(store, policy, 0).await
    }

    /// A world whose merchant, account and ids are distinct for each `tag`,
    /// so several worlds can share one store.
    pub async fn tagged(store: S, policy: PayoutPolicy, tag: u32) -> World<S> {
        let config = EngineConfig::new(WorkerId::parse("worker-a").unwrap());
        World::configured(store, policy, tag, config).await
    }

    /// As [`World::tagged`], with the engine's settings.
    pub async fn configured(
        store: S,
        policy: PayoutPolicy,
        tag: u32,
        config: EngineConfig,
    ) -> World<S> {
        let clock = ManualClock::at(START);
        let engine = Payouts::new(
            store,
            InMemoryStripe::new(Arc::new(clock.clone())),
            clock.clone(),
            SequentialIds::starting_at(u64::from(tag) << 32),
            config,
        );
        let merchant = MerchantId::parse(if tag == 0 {
            "merchant_123".to_owned()
        } else {
            format!("merchant_{tag}")
        })
        .unwrap();
        let merchant_account = AccountId::parse(format!("acct_merchant{tag}")).unwrap();
        let start = engine.start_connect(&merchant).await.unwrap();
        let code = engine.gateway().issue_oauth_code(&merchant_account);
        let outcome = engine
            .complete_connect(
                start.state.token.as_str(),
                Some(&code),
                None,
                &crate::audit::Acting::stripe(None),
            )
            .await
            .unwrap();
        assert_eq!(outcome.query(), "stripe=connected");
        let program = engine
            .create_program(
                &merchant,
                settings(policy),
                &crate::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        World {
            engine,
            clock,
            merchant,
            merchant_account,
            program,
        }
    }

    /// The merchant connects its account again through OAuth.
    pub async fn reconnect(&self) -> CallbackOutcome {
        let start = self.engine.start_connect(&self.merchant).await.unwrap();
        let code = self
            .engine
            .gateway()
            .issue_oauth_code(&self.merchant_account);
        self.engine
            .complete_connect(
                start.state.token.as_str(),
                Some(&code),
                None,
                &crate::audit::Acting::stripe(None),
            )
            .await
            .unwrap()
    }

    /// Stripe reports the merchant's account healthy (`account.updated`).
    pub async fn account_healthy_again(&self) {
        self.engine
            .apply_account_update(&payouts_domain::engine::AccountSnapshot {
                account_id: self.merchant_account.clone(),
                details_submitted: true,
                charges_enabled: true,
                payouts_enabled: true,
                transfers: payouts_domain::partner::CapabilityStatus::Active,
                disabled_reason: None,
                past_due: false,
            })
            .await
            .unwrap();
    }

    /// A partner with a completed Express onboarding.
    pub async fn partner(&self, key: &str) -> Membership {
        let m = self.enroll(key).await;
        self.engine
            .onboarding_link(m.id, "https://r", "https://f")
            .await
            .unwrap();
        let account = self
            .engine
            .membership(m.id)
            .await
            .unwrap()
            .account_id
            .unwrap();
        self.engine.gateway().complete_onboarding(&account);
        self.engine.refresh_onboarding(m.id).await.unwrap()
    }

    /// A partner that has not onboarded.
    pub async fn enroll(&self, key: &str) -> Membership {
        self.engine
            .enroll_partner(
                self.program.id,
                NewPartner {
                    partner_id: None,
                    email: format!("{key}@example.com"),
                    country: "US".into(),
                    referral_key: ReferralKey::parse(key).unwrap(),
                },
            )
            .await
            .unwrap()
    }

    /// A sale through a referral link, now.
    pub async fn sale(&self, key: &str, external: &str, amount_minor: i64) -> RecordOutcome {
        self.engine
            .record_conversion(
                self.program.id,
                ConversionInput {
                    customer_email: None,
                    external_id: ExternalId::parse(external).unwrap(),
                    amount: usd(amount_minor),
                    occurred_at: self.clock.now(),
                    coupon_code: None,
                    referral_key: Some(ReferralKey::parse(key).unwrap()),
                    customer_ref: None,
                    payment_ref: None,
                    kind: ConversionKind::Sale,
                    product_id: None,
                },
            )
            .await
            .unwrap()
    }

    /// Moves the clock.
    pub fn advance_days(&self, days: i64) {
        self.clock.advance(Duration::days(days));
    }

    /// Finalizes `period` and builds its batch, checking the ledger.
    pub async fn close(&self, period: &str) -> PayoutBatch {
        let period = Period::parse(period).unwrap();
        self.engine
            .finalize_period(
                self.program.id,
                period,
                &crate::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        self.assert_ledger().await;
        let batch = self
            .engine
            .build_batch(
                self.program.id,
                period,
                &crate::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        self.assert_ledger().await;
        batch
    }

    /// The ledger invariant holds.
    pub async fn assert_ledger(&self) {
        let report = self.engine.check_ledger(self.program.id).await.unwrap();
        assert!(report.balanced(), "ledger out of balance: {report:#?}");
    }

    /// The batch's items, first page.
    pub async fn items(&self, batch: crate::ids::BatchId) -> Vec<PayoutItem> {
        self.engine
            .store()
            .items(batch, PageRequest::first(100))
            .await
            .unwrap()
            .data
    }

    /// Each paid item has exactly one transfer, for exactly its amount, and
    /// unpaid items have none.
    pub async fn assert_no_double_pay(&self, batch: &PayoutBatch) {
        for item in self.items(batch.id).await {
            let transfers = self.engine.gateway().transfers_for_item(item.id);
            if item.state.is_paid() {
                assert_eq!(
                    transfers.len(),
                    1,
                    "item {} paid {} times",
                    item.id,
                    transfers.len()
                );
                assert_eq!(transfers[0].transfer.amount, item.amount);
            } else {
                assert!(
                    transfers.is_empty(),
                    "unpaid item {} has a transfer",
                    item.id
                );
            }
        }
    }
}

/// Three partners earn in January; the clock moves to February 2.
pub(crate) async fn january<S: PayoutStore + Clone>(w: &World<S>) {
    for key in ["alice", "bob", "carol"] {
        w.partner(key).await;
    }
    w.sale("alice", "order-a1", 50_000).await; // $100 commission
    w.sale("alice", "order-a2", 25_000).await; // $50
    w.sale("bob", "order-b1", 40_000).await; // $80
    w.sale("carol", "order-c1", 60_000).await; // $120
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
}

/// Scenario: batch with partial failures then retry only the failed item.
pub async fn batch_with_partial_failures_then_retry_only_the_failed_item<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    assert_eq!(
        batch.state,
        BatchState::Approved,
        "auto_all approves by itself"
    );
    assert_eq!(batch.item_count, 3);
    assert_eq!(batch.total, usd(35_000));
    assert_eq!(batch.manifest_hash.len(), 64);

    // The first item sent fails: its partner's account cannot receive.
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(FailureKind::CannotReceive, Some("account_invalid"), "no"),
    );
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!((report.posted, report.failed), (2, 1));
    assert_eq!(report.batch_state, Some(BatchState::CompletedWithFailures));
    w.assert_ledger().await;
    let summary = w.engine.batch_summary(batch.id).await.unwrap();
    assert_eq!(
        (
            summary.posted_count,
            summary.failed_count,
            summary.pending_count
        ),
        (2, 1, 0)
    );
    assert_eq!(
        summary
            .posted_amount
            .checked_add(&summary.failed_amount)
            .unwrap(),
        batch.total
    );
    // The merchant's overview: this batch, and what its month paid.
    let overview = w.engine.merchant_overview(&w.merchant, 10).await.unwrap();
    assert_eq!(overview.programs.len(), 1);
    assert_eq!(overview.recent_batches.len(), 1);
    assert_eq!(overview.recent_batches[0].id, batch.id);
    assert_eq!(
        overview.paid_by_month,
        vec![crate::engine::MonthlyVolume {
            period: batch.period,
            paid: summary.posted_amount
        }]
    );

    // The partner was told; running the batch again changes nothing.
    let notes = w
        .engine
        .store()
        .notifications_of(&w.merchant)
        .await
        .unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.kind == NotificationKind::PartnerPayoutDestinationCannotReceive)
    );
    let calls_before = w.engine.gateway().transfer_calls();
    let again = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(again.processed, 0);
    assert_eq!(w.engine.gateway().transfer_calls(), calls_before);

    // Retrying touches only the failed item, with attempt 2 and a new key.
    let failed = w
        .items(batch.id)
        .await
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Failed { .. }))
        .unwrap();
    let retried = w
        .engine
        .retry_item(failed.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    assert!(matches!(
        retried.state,
        ItemState::Posted { attempt: 2, .. }
    ));
    assert!(
        w.engine
            .gateway()
            .transfer_by_key(&idempotency_key(failed.id, 2))
            .is_some()
    );
    // A posted item cannot be retried.
    assert!(matches!(
        w.engine
            .retry_item(failed.id, &crate::testkit::fixtures::operator())
            .await,
        Err(DomainError::Transition(_))
    ));
    assert_eq!(
        w.engine.batch(batch.id).await.unwrap().state,
        BatchState::Completed
    );
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
    assert_eq!(w.engine.gateway().ledger().len(), 3);
}

/// Scenario: a timeout after commit is resolved by resending the same key.
pub async fn a_timeout_after_commit_is_resolved_by_resending_the_same_key<
    S: PayoutStore + Clone,
>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    w.engine.gateway().commit_then_timeout_next(1);
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!((report.posted, report.ambiguous), (2, 1));
    assert_eq!(report.batch_state, Some(BatchState::Executing));
    let stuck = w
        .items(batch.id)
        .await
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Submitting { .. }))
        .unwrap();
    // Stripe has the transfer even though we never heard back.
    assert_eq!(w.engine.gateway().transfers_for_item(stuck.id).len(), 1);
    w.assert_ledger().await;

    // Nothing is re-sent while the back-off lease holds.
    let early = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(early.processed, 0);
    w.clock.advance(Duration::minutes(1));
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 1);
    assert_eq!(report.batch_state, Some(BatchState::Completed));
    let posted = w.engine.item(stuck.id).await.unwrap();
    assert!(matches!(posted.state, ItemState::Posted { attempt: 1, .. }));
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario: a clean stop (`begin_shutdown`) sends nothing new, and
/// `release_claims` gives back the claims this worker still holds, so that
/// another worker re-sends them at once, with the same key.
pub async fn a_clean_stop_sends_nothing_new_and_releases_its_claims<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    // One answer is lost: its item backs off under this worker's lease.
    w.engine.gateway().commit_then_timeout_next(1);
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!((report.posted, report.ambiguous), (2, 1));
    let stuck = w
        .items(batch.id)
        .await
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Submitting { .. }))
        .unwrap();
    let other = WorkerId::parse("worker-b").unwrap();
    let now = w.clock.now();
    let early = w
        .engine
        .store()
        .claim_items(batch.id, &other, now, now + Duration::seconds(10), 10)
        .await
        .unwrap();
    assert!(early.is_empty(), "the back-off is this worker's");

    w.engine.begin_shutdown();
    assert!(w.engine.is_stopping());
    w.clock.advance(Duration::minutes(1));
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert!(report.deferred, "a stopping engine starts no run");
    assert_eq!(report.processed, 0);
    assert_eq!(w.engine.runs_in_progress(), 0);
    assert_eq!(w.engine.gateway().transfers_for_item(stuck.id).len(), 1);

    // A fresh back-off, as a run cut short by the stop leaves it.
    let until = w.clock.now() + Duration::minutes(5);
    let held = w
        .engine
        .store()
        .claim_items(
            batch.id,
            &WorkerId::parse("worker-a").unwrap(),
            w.clock.now(),
            until,
            10,
        )
        .await
        .unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(w.engine.release_claims().await.unwrap(), 1);
    assert_eq!(
        w.engine.release_claims().await.unwrap(),
        0,
        "nothing left to release"
    );
    let released = w.engine.item(stuck.id).await.unwrap();
    assert_eq!(released.lease, None);
    assert_eq!(
        released.state, stuck.state,
        "still the same attempt and key: a re-send cannot pay twice"
    );
    let now = w.clock.now();
    let taken = w
        .engine
        .store()
        .claim_items(batch.id, &other, now, now + Duration::seconds(10), 10)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1, "another worker takes it over at once");
    assert_eq!(
        w.engine.gateway().transfers_for_item(stuck.id).len(),
        1,
        "nothing was sent while stopping"
    );
}

/// Scenario: a batch keeps the account it paid from. The merchant connects
/// another Stripe account while an item waits to be re-sent: the item is
/// re-sent on the first account with its key (paid once), and refreshing and
/// reversing the batch's transfers look them up there.
pub async fn a_batch_keeps_the_account_it_paid_from<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    w.engine.gateway().commit_then_timeout_next(1);
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!((report.posted, report.ambiguous), (2, 1));
    let started = w.engine.batch(batch.id).await.unwrap();
    assert_eq!(started.source_account.as_ref(), Some(&w.merchant_account));

    // The merchant connects another Stripe account.
    let other = AccountId::parse("acct_merchant_other").unwrap();
    w.engine.gateway().set_balance(Some(&other), usd(1_000_000));
    let start = w.engine.start_connect(&w.merchant).await.unwrap();
    let code = w.engine.gateway().issue_oauth_code(&other);
    let outcome = w
        .engine
        .complete_connect(
            start.state.token.as_str(),
            Some(&code),
            None,
            &crate::audit::Acting::stripe(None),
        )
        .await
        .unwrap();
    assert_eq!(outcome.query(), "stripe=connected");
    let connection = w.engine.connection(&w.merchant).await.unwrap().unwrap();
    assert_eq!(connection.account_id, other);

    // The lost answer's item goes again on the first account, same key.
    w.clock.advance(Duration::minutes(1));
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.batch_state, Some(BatchState::Completed));
    w.assert_no_double_pay(&batch).await;
    assert!(
        w.engine
            .gateway()
            .ledger()
            .iter()
            .all(|e| e.source.as_ref() == Some(&w.merchant_account)),
        "every transfer of the batch is on the account it started on"
    );
    assert_eq!(
        w.engine.batch(batch.id).await.unwrap().source_account,
        Some(w.merchant_account.clone())
    );

    // Refresh and reversals find the transfers where they are.
    w.engine
        .refresh_batch(batch.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    let posted = w
        .items(batch.id)
        .await
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Posted { .. }))
        .unwrap();
    let reversed = w
        .engine
        .reverse_item(posted.id, Some(usd(100)))
        .await
        .unwrap();
    assert!(matches!(reversed.state, ItemState::Reversed { .. }));
    w.engine
        .refresh_batch(batch.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    w.assert_ledger().await;
}

/// Scenario: a key past retention is resolved through reconciliation.
pub async fn a_key_past_retention_is_resolved_through_reconciliation<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    // One transfer commits but the answer is lost; another is never made.
    w.engine.gateway().commit_then_timeout_next(1);
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(FailureKind::Ambiguous, Some("api_error"), "500"),
    );
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.ambiguous, 2);
    // A day passes: Stripe has forgotten the keys, so re-sending them could pay twice.
    w.clock.advance(Duration::hours(25));
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(
        report.reconciled, 1,
        "the committed one is found, not re-sent"
    );
    assert_eq!(report.batch_state, Some(BatchState::Completed));
    let items = w.items(batch.id).await;
    let attempts: Vec<u32> = items.iter().map(|i| i.state.attempts()).collect();
    assert!(
        attempts.contains(&2),
        "the lost one starts attempt 2 with a new key: {attempts:?}"
    );
    w.assert_no_double_pay(&batch).await;
    assert_eq!(w.engine.gateway().ledger().len(), 3);
    w.assert_ledger().await;
}

/// Scenario: revocation starts probation and the window archives.
pub async fn revocation_starts_probation_and_the_window_archives<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let revoked_at = w.clock.now();
    let out = (w.engine.handle_deauthorization(
        &w.merchant_account,
        revoked_at,
        &crate::audit::Acting::stripe(Some("evt_test")),
    ))
    .await
    .unwrap();
    assert_eq!(out.programs_on_probation, 1);
    // Three partners notified, plus the merchant.
    assert_eq!(out.notifications, 4);
    let conn = w.engine.connection(&w.merchant).await.unwrap().unwrap();
    assert_eq!(conn.status, ConnectionStatus::Revoked);
    let program = w.engine.program(w.program.id).await.unwrap();
    assert_eq!(
        program.status,
        ProgramStatus::Probation {
            until: revoked_at + Duration::days(7)
        }
    );

    // A replayed webhook notifies nobody twice.
    let replay = (w.engine.handle_deauthorization(
        &w.merchant_account,
        revoked_at + Duration::hours(1),
        &crate::audit::Acting::stripe(Some("evt_test")),
    ))
    .await
    .unwrap();
    assert_eq!(replay.notifications, 0);
    let notes = w
        .engine
        .store()
        .notifications_of(&w.merchant)
        .await
        .unwrap();
    let partner_notes = notes
        .iter()
        .filter(|n| n.kind == NotificationKind::PartnerMerchantOauthRevoked)
        .count();
    assert_eq!(partner_notes, 3);
    // Each partner reads their own notice, and only theirs.
    let Some(Recipient::Partner(one)) = notes
        .iter()
        .find(|n| n.kind == NotificationKind::PartnerMerchantOauthRevoked)
        .map(|n| n.recipient.clone())
    else {
        panic!("no partner notice: {notes:?}");
    };
    let mine = w
        .engine
        .partner_notices(&w.merchant, one, 10)
        .await
        .unwrap();
    assert_eq!(mine.len(), 1, "{mine:?}");
    assert_eq!(mine[0].kind, NotificationKind::PartnerMerchantOauthRevoked);
    assert_eq!(mine[0].recipient, Recipient::Partner(one));
    let all = w
        .engine
        .merchant_notifications(&w.merchant, 100)
        .await
        .unwrap();
    assert_eq!(all.len(), notes.len());
    assert!(all.windows(2).all(|p| p[0].created_at >= p[1].created_at));

    // Automatic payouts pause: the batch is not approved by policy, and nothing executes.
    let batch = w.close("2026-01").await;
    assert_eq!(batch.state, BatchState::Draft);
    w.engine
        .approve_batch(batch.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    let err = w.engine.execute_batch(batch.id).await.unwrap_err();
    assert!(matches!(
        err,
        DomainError::Blocked(Blocked::ProgramOnProbation { .. })
    ));
    // An adapter asks first, so that it can say why instead of starting a
    // run in the background that does nothing.
    assert!(matches!(
        w.engine.executable_batch(batch.id).await,
        Err(DomainError::Blocked(Blocked::ProgramOnProbation { .. }))
    ));
    assert!(w.engine.gateway().ledger().is_empty());

    // The sweep before the window does nothing; after it, the program is archived.
    w.advance_days(6);
    assert_eq!(w.engine.sweep_probation().await.unwrap(), 0);
    w.advance_days(2);
    assert_eq!(w.engine.sweep_probation().await.unwrap(), 1);
    assert_eq!(
        w.engine.program(w.program.id).await.unwrap().status,
        ProgramStatus::Archived
    );
    assert!(matches!(
        w.engine.execute_batch(batch.id).await,
        Err(DomainError::Blocked(Blocked::ProgramArchived))
    ));

    // Re-authorising after the window reconnects but does not revive the program.
    let outcome = w.reconnect().await;
    assert!(matches!(
        outcome,
        CallbackOutcome::Connected {
            probation_cleared: 0,
            ..
        }
    ));
    assert_eq!(
        w.engine.program(w.program.id).await.unwrap().status,
        ProgramStatus::Archived
    );
    w.assert_ledger().await;
}

/// Scenario: reauthorising within the window clears probation and payouts resume.
pub async fn reauthorising_within_the_window_clears_probation<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    (w.engine.handle_deauthorization(
        &w.merchant_account,
        w.clock.now(),
        &crate::audit::Acting::stripe(Some("evt_test")),
    ))
    .await
    .unwrap();
    let batch = w.close("2026-01").await;
    assert_eq!(batch.state, BatchState::Draft);
    w.advance_days(3);
    let outcome = w.reconnect().await;
    assert!(matches!(
        outcome,
        CallbackOutcome::Connected {
            probation_cleared: 1,
            ..
        }
    ));
    assert_eq!(
        w.engine.program(w.program.id).await.unwrap().status,
        ProgramStatus::Active
    );
    assert_eq!(
        w.engine
            .connection(&w.merchant)
            .await
            .unwrap()
            .unwrap()
            .status,
        ConnectionStatus::Connected
    );
    // The pending batch pays on the next cycle.
    w.engine
        .approve_batch(batch.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 3);
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario: the insufficient balance ladder retries daily then escalates.
pub async fn the_insufficient_balance_ladder_retries_daily_then_escalates<
    S: PayoutStore + Clone,
>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    w.partner("alice").await;
    w.sale("alice", "o1", 50_000).await;
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let batch = w.close("2026-01").await;
    w.engine
        .gateway()
        .set_balance(Some(&w.merchant_account), usd(1_000));

    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.failed, 1);
    let item = w.items(batch.id).await.remove(0);
    let first_retry = match &item.state {
        ItemState::Failed {
            failure,
            retry_at: Some(at),
            escalated: false,
            ..
        } => {
            assert_eq!(failure.kind, FailureKind::InsufficientBalance);
            *at
        }
        other => panic!("unexpected {other:?}"),
    };
    assert_eq!(first_retry, w.clock.now() + Duration::hours(24));
    w.assert_ledger().await;

    // Not before its time.
    w.clock.advance(Duration::hours(23));
    assert_eq!(w.engine.run_retry_ladder(100).await.unwrap().retried, 0);
    // Attempt 2 at +24 h, attempt 3 a day later: both short.
    w.clock.advance(Duration::hours(1));
    assert_eq!(w.engine.run_retry_ladder(100).await.unwrap().retried, 1);
    w.clock.advance(Duration::hours(24));
    assert_eq!(w.engine.run_retry_ladder(100).await.unwrap().retried, 1);
    let item = w.engine.item(item.id).await.unwrap();
    assert!(matches!(
        item.state,
        ItemState::Failed {
            attempt: 3,
            retry_at: None,
            escalated: true,
            ..
        }
    ));
    let notes = w
        .engine
        .store()
        .notifications_of(&w.merchant)
        .await
        .unwrap();
    let kinds: Vec<_> = notes.iter().map(|n| n.kind).collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == NotificationKind::MerchantInsufficientBalanceRetry)
            .count(),
        2
    );
    assert_eq!(
        kinds
            .iter()
            .filter(|k| **k == NotificationKind::MerchantInsufficientBalanceEscalated)
            .count(),
        1
    );

    // Escalated: the ladder stops; the merchant tops up and an operator retries.
    w.clock.advance(Duration::days(3));
    assert_eq!(w.engine.run_retry_ladder(100).await.unwrap().retried, 0);
    w.engine
        .gateway()
        .set_balance(Some(&w.merchant_account), usd(1_000_000));
    let item = w
        .engine
        .retry_item(item.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    assert!(matches!(item.state, ItemState::Posted { attempt: 4, .. }));
    assert_eq!(
        w.engine
            .gateway()
            .balance(Some(&w.merchant_account), payouts_domain::Currency::USD),
        Some(usd(990_000))
    );
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;

    // Outbox dispatch delivers each notification once.
    let notifier = RecordingNotifier::default();
    let sent = w
        .engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!(
        usize::try_from(sent.delivered).unwrap(),
        notifier.delivered().len()
    );
    assert_eq!(
        w.engine
            .dispatch_notifications(&notifier, 100)
            .await
            .unwrap()
            .delivered,
        0
    );
}

/// Scenario: account inactive pauses the program until the merchant acts.
pub async fn account_inactive_pauses_the_program_until_the_merchant_acts<S: PayoutStore + Clone>(
    store: S,
) {
    // One item at a time, so that the other two are never sent in this run
    // (a_run_sends_items_concurrently_and_stops_cleanly covers a wider run).
    let mut config = EngineConfig::new(WorkerId::parse("worker-a").unwrap());
    config.concurrency = 1;
    let w = World::configured(store, PayoutPolicy::AutoAll, 0, config).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(
            FailureKind::AccountInactive,
            Some("account_inactive"),
            "review",
        ),
    );
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.failed, 1);
    assert!(
        report.stopped.is_some(),
        "the run stops: every transfer would fail"
    );
    let program = w.engine.program(w.program.id).await.unwrap();
    assert_eq!(program.hold, Some(HoldReason::MerchantAccountInactive));
    assert!(matches!(
        w.engine.execute_batch(batch.id).await,
        Err(DomainError::Blocked(Blocked::PayoutsPaused(_)))
    ));
    w.assert_ledger().await;

    // Stripe says the account is healthy again: the hold lifts and the failed item is scheduled.
    w.account_healthy_again().await;
    assert_eq!(w.engine.program(w.program.id).await.unwrap().hold, None);
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 2, "the pending items run");
    assert_eq!(
        w.engine.run_retry_ladder(10).await.unwrap().posted,
        1,
        "the failed one is retried"
    );
    assert_eq!(
        w.engine.batch(batch.id).await.unwrap().state,
        BatchState::Completed
    );
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario: one execution run sends up to `concurrency` items at once; an
/// `account_inactive` refusal stops it without touching the item in flight
/// beside it, and the item it never sent is released for the next run.
pub async fn a_run_sends_items_concurrently_and_stops_cleanly<S: PayoutStore + Clone>(store: S) {
    let mut config = EngineConfig::new(WorkerId::parse("worker-a").unwrap());
    config.concurrency = 2;
    let w = World::configured(store.clone(), PayoutPolicy::AutoAll, 0, config).await;
    w.engine.gateway().yield_on_transfers();
    january(&w).await;
    let batch = w.close("2026-01").await;
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 3);
    assert_eq!(
        w.engine.gateway().max_transfers_in_flight(),
        2,
        "three items, two at a time"
    );
    w.assert_no_double_pay(&batch).await;

    // A second merchant on the same store; its first transfer is refused.
    let mut config = EngineConfig::new(WorkerId::parse("worker-b").unwrap());
    config.concurrency = 2;
    let w = World::configured(store, PayoutPolicy::AutoAll, 1, config).await;
    w.engine.gateway().yield_on_transfers();
    january(&w).await;
    let batch = w.close("2026-01").await;
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(
            FailureKind::AccountInactive,
            Some("account_inactive"),
            "review",
        ),
    );
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert!(report.stopped.is_some());
    assert_eq!(
        (report.failed, report.posted),
        (1, 1),
        "the item sent beside the refused one keeps its own outcome"
    );
    let items = w.items(batch.id).await;
    let unsent: Vec<&PayoutItem> = items.iter().filter(|i| i.state.is_open()).collect();
    assert_eq!(unsent.len(), 1, "{items:?}");
    assert_eq!(unsent[0].lease, None, "released, not stuck behind a lease");
    assert_eq!(w.engine.gateway().transfers_for_item(unsent[0].id).len(), 0);
    w.account_healthy_again().await;
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 1, "the released item runs at once");
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario: nets below the minimum carry over to the next batch.
pub async fn nets_below_the_minimum_carry_over_to_the_next_batch<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    w.partner("alice").await;
    w.partner("bob").await;
    w.sale("alice", "a1", 10_000).await; // $20 < $50 minimum
    w.sale("bob", "b1", 50_000).await; // $100
    let dave = w.enroll("dave").await; // never onboards
    w.sale("dave", "d1", 50_000).await;
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01").await;
    assert_eq!(jan.item_count, 1);
    let reasons: Vec<_> = jan
        .carried
        .iter()
        .map(|c| (c.partner_id, c.reason, c.amount))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|(_, r, a)| *r == CarryReason::BelowMinimum && *a == usd(2_000))
    );
    assert!(reasons.contains(&(dave.partner_id, CarryReason::CannotReceive, usd(10_000))));
    w.engine.execute_batch(jan.id).await.unwrap();
    w.assert_ledger().await;

    // February: Alice earns $40 more; with the carried $20 she crosses the minimum.
    w.sale("alice", "a2", 20_000).await;
    w.clock.set(time::macros::datetime!(2026-03-02 08:00 UTC));
    let feb = w.close("2026-02").await;
    let alice_item = w
        .items(feb.id)
        .await
        .into_iter()
        .find(|i| i.amount == usd(6_000));
    let alice_item = alice_item.expect("alice is paid $60 in February");
    assert_eq!(alice_item.commission_count, 2);
    let ids = w
        .engine
        .store()
        .item_commission_ids(alice_item.id)
        .await
        .unwrap();
    assert_eq!(ids.len(), 2, "the January commission rides along");
    w.engine.execute_batch(feb.id).await.unwrap();
    w.assert_no_double_pay(&feb).await;
    w.assert_ledger().await;
    // A batch per period: building February again is a duplicate.
    assert!(matches!(
        (w.engine.build_batch(
            w.program.id,
            Period::parse("2026-02").unwrap(),
            &crate::testkit::fixtures::operator()
        ))
        .await,
        Err(DomainError::Duplicate { .. })
    ));
}

/// Scenario: a clawback after finalization nets against later payouts.
pub async fn a_clawback_after_finalization_nets_against_later_payouts<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    w.partner("alice").await;
    w.sale("alice", "big", 100_000).await; // $200
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01").await;
    w.engine.execute_batch(jan.id).await.unwrap();
    assert_eq!(w.engine.gateway().ledger()[0].transfer.amount, usd(20_000));

    // Refund half after finalization: the finalized row stays, a -$100 adjustment appears.
    let changed =
        (w.engine
            .record_refund(&w.merchant, &ExternalId::parse("big").unwrap(), usd(50_000)))
        .await
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].amount, usd(-10_000));
    assert!(matches!(changed[0].kind, CommissionKind::Adjustment { .. }));
    assert!(matches!(
        changed[0].state,
        CommissionState::Finalized { .. }
    ));
    // A replayed refund event changes nothing.
    assert!(
        (w.engine
            .record_refund(&w.merchant, &ExternalId::parse("big").unwrap(), usd(50_000)))
        .await
        .unwrap()
        .is_empty()
    );
    w.assert_ledger().await;

    // February: $50 earned, -$100 owed: a negative net carries and is never transferred.
    w.sale("alice", "small", 25_000).await;
    w.clock.set(time::macros::datetime!(2026-03-02 08:00 UTC));
    let feb = w.close("2026-02").await;
    assert_eq!(feb.item_count, 0);
    assert_eq!(feb.carried[0].reason, CarryReason::NegativeBalance);
    assert_eq!(feb.carried[0].amount, usd(-5_000));
    w.engine.execute_batch(feb.id).await.unwrap();
    assert_eq!(
        w.engine.batch(feb.id).await.unwrap().state,
        BatchState::Completed
    );
    assert_eq!(w.engine.gateway().ledger().len(), 1);
    w.assert_ledger().await;

    // March: $200 more; the debt nets out and $150 is paid.
    w.sale("alice", "march", 100_000).await;
    w.clock.set(time::macros::datetime!(2026-04-02 08:00 UTC));
    let mar = w.close("2026-03").await;
    assert_eq!(mar.total, usd(15_000));
    w.engine.execute_batch(mar.id).await.unwrap();
    w.assert_no_double_pay(&mar).await;
    w.assert_ledger().await;
}

/// Scenario: refunds before finalization reduce or void the commission.
pub async fn refunds_before_finalization_reduce_or_void_the_commission<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    w.sale("alice", "o1", 10_000).await; // $20
    w.sale("alice", "o2", 10_000).await;
    let merchant = w.merchant.clone();
    let o1 = ExternalId::parse("o1").unwrap();
    let changed = w
        .engine
        .record_refund(&merchant, &o1, usd(2_500))
        .await
        .unwrap();
    assert_eq!(changed[0].amount, usd(1_500));
    assert_eq!(changed[0].state, CommissionState::Pending);
    let changed = w
        .engine
        .record_refund(&merchant, &o1, usd(10_000))
        .await
        .unwrap();
    assert!(matches!(changed[0].state, CommissionState::Voided { .. }));
    let changed = (w
        .engine
        .cancel_conversion(&merchant, &ExternalId::parse("o2").unwrap()))
    .await
    .unwrap();
    assert!(matches!(changed[0].state, CommissionState::Voided { .. }));
    // Refunds above the sale are refused and change nothing.
    assert!(matches!(
        w.engine.record_refund(&merchant, &o1, usd(10_001)).await,
        Err(DomainError::Validation { .. })
    ));
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let batch = w.close("2026-01").await;
    assert_eq!(batch.item_count, 0);
    assert!(batch.carried.is_empty());
}

/// Scenario: conversions are idempotent and coupons beat links.
pub async fn conversions_are_idempotent_and_coupons_beat_links<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    let alice = w.partner("alice").await;
    let bob = w.partner("bob").await;
    let code = CouponCode::parse("Alice20").unwrap();
    w.engine.assign_coupon(alice.id, code, None).await.unwrap();
    // Unique per merchant, whatever the case.
    assert!(matches!(
        (w.engine
            .assign_coupon(bob.id, CouponCode::parse("ALICE20").unwrap(), None))
        .await,
        Err(DomainError::Duplicate { .. })
    ));
    let input = |ext: &str, coupon: Option<&str>, key: Option<&str>| ConversionInput {
        customer_email: None,
        external_id: ExternalId::parse(ext).unwrap(),
        amount: usd(10_000),
        occurred_at: START,
        coupon_code: coupon.map(|c| CouponCode::parse(c).unwrap()),
        referral_key: key.map(|k| ReferralKey::parse(k).unwrap()),
        customer_ref: None,
        payment_ref: None,
        kind: ConversionKind::Sale,
        product_id: None,
    };
    let both = (w
        .engine
        .record_conversion(w.program.id, input("o1", Some("alice20"), Some("bob"))))
    .await
    .unwrap();
    let RecordOutcome::Recorded {
        conversion,
        commission,
    } = both
    else {
        panic!("new")
    };
    assert_eq!(
        conversion.partner_id, alice.partner_id,
        "the coupon decides"
    );
    assert_eq!(commission.unwrap().amount, usd(2_000));
    let again = (w
        .engine
        .record_conversion(w.program.id, input("o1", Some("alice20"), Some("bob"))))
    .await
    .unwrap();
    assert!(matches!(again, RecordOutcome::Duplicate { .. }));
    let by_link = (w
        .engine
        .record_conversion(w.program.id, input("o2", Some("nobody"), Some("bob"))))
    .await
    .unwrap();
    assert!(
        matches!(by_link, RecordOutcome::Recorded { conversion, .. } if conversion.partner_id == bob.partner_id)
    );
    assert!(matches!(
        (w.engine
            .record_conversion(w.program.id, input("o3", None, Some("nobody"))))
        .await,
        Err(DomainError::Validation { .. })
    ));
    let listed = w
        .engine
        .store()
        .list_commissions(
            &CommissionFilter {
                partner_id: Some(alice.partner_id),
                ..CommissionFilter::default()
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(listed.data.len(), 1);
}

/// Scenario: one time and recurring rules.
pub async fn one_time_and_recurring_rules<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    let sale = async |ext: &str, customer: &str| {
        w.engine
            .record_conversion(
                w.program.id,
                ConversionInput {
                    customer_email: None,
                    external_id: ExternalId::parse(ext).unwrap(),
                    amount: usd(10_000),
                    occurred_at: w.clock.now(),
                    coupon_code: None,
                    referral_key: Some(ReferralKey::parse("alice").unwrap()),
                    customer_ref: Some(customer.into()),
                    payment_ref: None,
                    kind: ConversionKind::Sale,
                    product_id: None,
                },
            )
            .await
            .unwrap()
    };
    assert!(matches!(
        sale("s1", "cust-1").await,
        RecordOutcome::Recorded {
            commission: Some(_),
            ..
        }
    ));
    assert!(
        matches!(
            sale("s2", "cust-1").await,
            RecordOutcome::Recorded {
                commission: None,
                ..
            }
        ),
        "one-time"
    );
    let mut settings = w.program.settings();
    settings.commission_rule.recurring_months = Some(2);
    w.engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    w.advance_days(30);
    assert!(matches!(
        sale("s3", "cust-1").await,
        RecordOutcome::Recorded {
            commission: Some(_),
            ..
        }
    ));
    w.advance_days(40);
    assert!(
        matches!(
            sale("s4", "cust-1").await,
            RecordOutcome::Recorded {
                commission: None,
                ..
            }
        ),
        "past 2 months"
    );
}

/// Scenario: policy decides approval.
pub async fn policy_decides_approval<S: PayoutStore + Clone>(store: S) {
    let capped = World::tagged(
        store.clone(),
        PayoutPolicy::AutoUnderCap { cap: usd(30_000) },
        1,
    )
    .await;
    january(&capped).await;
    let over = capped.close("2026-01").await;
    assert_eq!(over.state, BatchState::Draft, "$350 is over the $300 cap");

    let capped = World::tagged(
        store.clone(),
        PayoutPolicy::AutoUnderCap { cap: usd(35_000) },
        2,
    )
    .await;
    january(&capped).await;
    assert_eq!(
        capped.close("2026-01").await.state,
        BatchState::Approved,
        "at the cap approves"
    );

    let manual = World::tagged(store, PayoutPolicy::Manual, 3).await;
    january(&manual).await;
    let batch = manual.close("2026-01").await;
    assert_eq!(batch.state, BatchState::Draft);
    assert!(matches!(
        manual.engine.execute_batch(batch.id).await,
        Err(DomainError::Blocked(Blocked::BatchState(_)))
    ));
    let approved = manual
        .engine
        .approve_batch(batch.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    assert_eq!(approved.state, BatchState::Approved);

    // A cap in another currency is a validation error.
    let mut settings = manual.program.settings();
    settings.payout_policy = PayoutPolicy::AutoUnderCap {
        cap: payouts_domain::Money::new(100, payouts_domain::Currency::EUR),
    };
    assert!(matches!(
        manual
            .engine
            .update_program(
                manual.program.id,
                settings,
                &crate::testkit::fixtures::operator()
            )
            .await,
        Err(DomainError::Validation { .. })
    ));
}

/// Scenario: oauth state is single use and lives ten minutes.
pub async fn oauth_state_is_single_use_and_lives_ten_minutes<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    let account = w.merchant_account.clone();
    let start = w.engine.start_connect(&w.merchant).await.unwrap();
    assert!(start.authorize_url.contains(start.state.token.as_str()));
    assert!(start.authorize_url.contains("scope=read_write"));
    let code = w.engine.gateway().issue_oauth_code(&account);
    let token = start.state.token.as_str().to_owned();
    let ok = w
        .engine
        .complete_connect(
            &token,
            Some(&code),
            None,
            &crate::audit::Acting::stripe(None),
        )
        .await
        .unwrap();
    assert_eq!(ok.query(), "stripe=connected");
    let reused = w
        .engine
        .complete_connect(
            &token,
            Some(&code),
            None,
            &crate::audit::Acting::stripe(None),
        )
        .await
        .unwrap();
    assert_eq!(
        reused,
        CallbackOutcome::Error {
            reason: CallbackError::StateReused
        }
    );

    let late = w.engine.start_connect(&w.merchant).await.unwrap();
    w.clock.advance(Duration::minutes(10));
    let expired = (w.engine.complete_connect(
        late.state.token.as_str(),
        Some("ac_x"),
        None,
        &crate::audit::Acting::stripe(None),
    ))
    .await
    .unwrap();
    assert_eq!(expired.query(), "stripe=error&reason=state_expired");

    let unknown = (w.engine.complete_connect(
        "not-a-token-we-issued",
        Some("ac_x"),
        None,
        &crate::audit::Acting::stripe(None),
    ))
    .await
    .unwrap();
    assert_eq!(unknown.query(), "stripe=error&reason=state_unknown");

    let denied_start = w.engine.start_connect(&w.merchant).await.unwrap();
    let denied = w
        .engine
        .complete_connect(
            denied_start.state.token.as_str(),
            None,
            Some("access_denied"),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(denied.query(), "stripe=error&reason=access_denied");

    let bad_code = w.engine.start_connect(&w.merchant).await.unwrap();
    let bad = (w.engine.complete_connect(
        bad_code.state.token.as_str(),
        Some("ac_forged"),
        None,
        &crate::audit::Acting::stripe(None),
    ))
    .await
    .unwrap();
    assert_eq!(bad.query(), "stripe=error&reason=access_denied");
}

/// Scenario: a crashed workers lease is taken over only after it expires.
pub async fn a_crashed_workers_lease_is_taken_over_only_after_it_expires<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    let now = w.clock.now();
    // Worker B claims everything and dies before sending.
    let b = payouts_domain::ids::WorkerId::parse("worker-b").unwrap();
    let claimed =
        (w.engine
            .store()
            .claim_items(batch.id, &b, now, now + Duration::seconds(60), 10))
        .await
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.processed, 0, "live leases are respected");
    w.clock.advance(Duration::seconds(61));
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 3);
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario: one worker at a time pays from a source account: while
/// another holds the account's lease, a run sends nothing and reports
/// `deferred`; once it is released (or lapses), the batch is paid, and the
/// run releases the lease when it ends.
pub async fn one_worker_at_a_time_pays_from_an_account<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    january(&w).await;
    let batch = w.close("2026-01").await;
    let other = payouts_domain::ids::WorkerId::parse("worker-b").unwrap();
    let lease = format!("payouts:account:{}", w.merchant_account);
    let store = w.engine.store();
    assert!(
        store
            .try_acquire_lease(&lease, &other, w.clock.now(), Duration::seconds(10))
            .await
            .unwrap()
    );
    let report = w.engine.resume_batch(batch.id).await.unwrap();
    assert!(report.deferred, "{report:?}");
    assert_eq!(report.processed, 0);
    // Without a timer, execute_batch cannot wait: it defers too.
    assert!(w.engine.execute_batch(batch.id).await.unwrap().deferred);
    // The other worker's lease lapses: this one takes it, pays, releases.
    w.clock.advance(Duration::seconds(11));
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert!(!report.deferred);
    assert_eq!(report.posted, 3);
    assert!(
        store
            .try_acquire_lease(&lease, &other, w.clock.now(), Duration::seconds(10))
            .await
            .unwrap(),
        "released when the run ended"
    );
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario: the scheduler's sweep (`resume_batch`) beside a live run of
/// the same batch in the same engine: each item is sent once (the sweep
/// defers to a run under way; on a database it may get there first).
pub async fn a_sweep_beside_a_live_run_sends_each_item_once<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    w.engine.gateway().yield_on_transfers();
    january(&w).await;
    let batch = w.close("2026-01").await;
    let (run, sweep) = futures_util::future::join(
        w.engine.execute_batch(batch.id),
        w.engine.resume_batch(batch.id),
    )
    .await;
    let (run, sweep) = (run.unwrap(), sweep.unwrap());
    // Whichever got there first paid (the other deferred, or found the
    // items claimed or paid): three transfers, one per item.
    assert_eq!(run.posted + sweep.posted, 3, "{run:?} {sweep:?}");
    assert_eq!(w.engine.gateway().transfer_calls(), 3);
    w.assert_no_double_pay(&batch).await;
}

/// Scenario: coupon codes sync to stripe promotion codes.
pub async fn coupon_codes_sync_to_stripe_promotion_codes<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    let alice = w.partner("alice").await;
    let mut settings = w.program.settings();
    settings.coupon_sync = CouponSyncMode::Stripe;
    w.engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    let code = CouponCode::parse("SARAH20").unwrap();
    assert!(matches!(
        w.engine.assign_coupon(alice.id, code.clone(), None).await,
        Err(DomainError::Validation { .. })
    ));
    let coupon = (w
        .engine
        .assign_coupon(alice.id, code.clone(), Some("coupon_20off")))
    .await
    .unwrap();
    let promo = coupon.promotion_code_id.clone().unwrap();
    assert_eq!(
        w.engine.gateway().promotion_codes(),
        vec![(promo.clone(), code.clone(), true)]
    );
    let off = w
        .engine
        .deactivate_coupon(&w.merchant, &code)
        .await
        .unwrap();
    assert!(!off.active);
    assert_eq!(
        w.engine.gateway().promotion_codes(),
        vec![(promo, code, false)]
    );
}

/// Scenario: reversals and the tax tally.
pub async fn reversals_and_the_tax_tally<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let alice = w.partner("alice").await;
    w.sale("alice", "big", 400_000).await; // $800
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01").await;
    w.engine.execute_batch(jan.id).await.unwrap();
    let tax = w
        .engine
        .tax_summary(alice.partner_id, 2026, None)
        .await
        .unwrap();
    assert_eq!(tax.totals, vec![usd(80_000)]);
    assert!(tax.form_1099_required, "US partner over $600");
    let mine = w
        .engine
        .tax_summary(alice.partner_id, 2026, Some(&w.merchant))
        .await
        .unwrap();
    assert_eq!(mine, tax, "every payout came from this merchant");
    let stranger = crate::ids::MerchantId::parse("m_stranger".to_owned()).unwrap();
    assert!(
        matches!(
            w.engine
                .tax_summary(alice.partner_id, 2026, Some(&stranger))
                .await,
            Err(DomainError::NotFound { .. })
        ),
        "a merchant the partner never joined sees nothing"
    );

    let item = w.items(jan.id).await.remove(0);
    let reversed = w
        .engine
        .reverse_item(item.id, Some(usd(30_000)))
        .await
        .unwrap();
    assert!(
        matches!(reversed.state, ItemState::Reversed { amount_reversed, .. } if amount_reversed == usd(30_000))
    );
    assert!(matches!(
        w.engine.reverse_item(item.id, Some(usd(60_000))).await,
        Err(DomainError::Validation { .. })
    ));
    let tax = w
        .engine
        .tax_summary(alice.partner_id, 2026, None)
        .await
        .unwrap();
    assert_eq!(tax.totals, vec![usd(50_000)]);
    assert!(!tax.form_1099_required);
    let summary = w
        .engine
        .refresh_batch(jan.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    assert_eq!((summary.posted_count, summary.reversed_count), (1, 1));
    assert_eq!(summary.reversed_amount, usd(30_000));
    let history = (w
        .engine
        .partner_history(alice.partner_id, PageRequest::first(10)))
    .await
    .unwrap();
    assert_eq!(history.data.len(), 1);
    w.assert_ledger().await;
}

/// Scenario: the merchant's 1099 list. Only US partners paid $600 or more
/// in USD are listed, unless `all`; a non-US partner and amounts in other
/// currencies are never counted toward the threshold, EUR stays its own
/// line; each row equals the partner's own tax summary; another merchant's
/// list holds none of these partners; a bad year is refused.
pub async fn the_merchants_1099_list_follows_the_tax_summary_rule<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store.clone(), PayoutPolicy::AutoAll).await;
    let alice = w.partner("alice").await;
    let bob = w.partner("bob").await;
    let carol = w
        .engine
        .enroll_partner(
            w.program.id,
            NewPartner {
                partner_id: None,
                email: "carol@example.com".into(),
                country: "DE".into(),
                referral_key: ReferralKey::parse("carol").unwrap(),
            },
        )
        .await
        .unwrap();
    w.engine
        .onboarding_link(carol.id, "https://r", "https://f")
        .await
        .unwrap();
    let carol_account = w
        .engine
        .membership(carol.id)
        .await
        .unwrap()
        .account_id
        .unwrap();
    w.engine.gateway().complete_onboarding(&carol_account);
    w.engine.refresh_onboarding(carol.id).await.unwrap();
    // Alice also earns in a EUR program of the same merchant.
    let eur = Money::new(5_000, Currency::EUR);
    let mut eur_settings = settings(PayoutPolicy::AutoAll);
    eur_settings.name = "Acme EU".into();
    eur_settings.currency = Currency::EUR;
    eur_settings.minimum_payout = eur;
    let eu = w
        .engine
        .create_program(
            &w.merchant,
            eur_settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    let alice_eu = w
        .engine
        .enroll_partner(
            eu.id,
            NewPartner {
                partner_id: Some(alice.partner_id),
                email: "alice@example.com".into(),
                country: "US".into(),
                referral_key: ReferralKey::parse("alice-eu").unwrap(),
            },
        )
        .await
        .unwrap();
    w.engine
        .onboarding_link(alice_eu.id, "https://r", "https://f")
        .await
        .unwrap();
    let account = w
        .engine
        .membership(alice_eu.id)
        .await
        .unwrap()
        .account_id
        .unwrap();
    w.engine.gateway().complete_onboarding(&account);
    w.engine.refresh_onboarding(alice_eu.id).await.unwrap();

    w.sale("alice", "a1", 400_000).await; // $800 commission
    w.sale("bob", "b1", 50_000).await; // $100
    w.sale("carol", "c1", 500_000).await; // $1,000, not US
    w.engine
        .record_conversion(
            eu.id,
            ConversionInput {
                customer_email: None,
                external_id: ExternalId::parse("e1").unwrap(),
                amount: Money::new(1_000_000, Currency::EUR),
                occurred_at: w.clock.now(),
                coupon_code: None,
                referral_key: Some(ReferralKey::parse("alice-eu").unwrap()),
                customer_ref: None,
                payment_ref: None,
                kind: ConversionKind::Sale,
                product_id: None,
            },
        )
        .await
        .unwrap();
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01").await;
    w.engine.execute_batch(jan.id).await.unwrap();
    let period = Period::parse("2026-01").unwrap();
    w.engine
        .finalize_period(eu.id, period, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    let eu_batch = w
        .engine
        .build_batch(eu.id, period, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    w.engine.execute_batch(eu_batch.id).await.unwrap();

    let list = w.engine.tax_report(&w.merchant, 2026, false).await.unwrap();
    assert_eq!(
        list.rows
            .iter()
            .map(|r| r.summary.partner_id)
            .collect::<Vec<_>>(),
        vec![alice.partner_id],
        "only the US partner over $600: {list:#?}"
    );
    let row = &list.rows[0];
    assert_eq!(
        row.summary.totals,
        vec![Money::new(200_000, Currency::EUR), usd(80_000)],
        "EUR is listed apart, never converted"
    );
    assert_eq!(row.summary.payout_count, 2);
    assert!(row.summary.form_1099_required);
    assert_eq!(
        (row.country.as_str(), row.email.as_str()),
        ("US", "alice@example.com")
    );
    assert_eq!(list.totals, row.summary.totals);
    assert_eq!(list.threshold, usd(60_000));

    let all = w.engine.tax_report(&w.merchant, 2026, true).await.unwrap();
    let mut expected = vec![alice.partner_id, bob.partner_id, carol.partner_id];
    expected.sort();
    assert_eq!(
        all.rows
            .iter()
            .map(|r| r.summary.partner_id)
            .collect::<Vec<_>>(),
        expected
    );
    for row in &all.rows {
        let summary = w
            .engine
            .tax_summary(row.summary.partner_id, 2026, Some(&w.merchant))
            .await
            .unwrap();
        assert_eq!(
            row.summary, summary,
            "one rule for the list and the summary"
        );
    }
    let carol_row = all
        .rows
        .iter()
        .find(|r| r.summary.partner_id == carol.partner_id)
        .unwrap();
    assert_eq!(carol_row.summary.totals, vec![usd(100_000)]);
    assert!(!carol_row.summary.form_1099_required, "not a US partner");
    assert_eq!(
        all.totals,
        vec![Money::new(200_000, Currency::EUR), usd(190_000)]
    );

    assert!(
        w.engine
            .tax_report(&w.merchant, 2025, true)
            .await
            .unwrap()
            .rows
            .is_empty(),
        "nothing was paid in 2025"
    );
    let other = World::tagged(store, PayoutPolicy::AutoAll, 7).await;
    assert!(
        other
            .engine
            .tax_report(&other.merchant, 2026, true)
            .await
            .unwrap()
            .rows
            .is_empty(),
        "another merchant's list holds none of these partners"
    );
    for year in [1999, 10_000] {
        assert!(matches!(
            w.engine.tax_report(&w.merchant, year, false).await,
            Err(DomainError::Validation { .. })
        ));
    }
}

/// Scenario: partner statements. A paid item's statement lists each
/// commission it pays with its conversion and effective rate, the refund
/// adjustment as its own negative line, and the December carry-over it
/// finally pays; its lines sum to the item's amount. Another partner's or
/// merchant's item is not found, an unpaid item is refused, and the month's
/// statement sums the month's items. The tax list agrees with the seed.
pub async fn partner_statements_list_what_each_paid_item_pays<S: PayoutStore + Clone>(store: S) {
    use crate::commission::{ChangeReason, CommissionKind};
    use crate::testkit::paid;

    let w = World::new(store, PayoutPolicy::Manual).await;
    let seed = paid::seed(w.engine.store(), w.merchant.clone(), 1_000_000).await;
    let other = MerchantId::parse("merchant_other".to_owned()).unwrap();
    let alice_item = &seed.paid[0];
    let st = w
        .engine
        .statement(seed.alice.partner_id, alice_item.id, Some(&w.merchant))
        .await
        .unwrap();
    assert_eq!(st.total, alice_item.amount, "the lines sum to the item");
    assert_eq!(st.total, usd(80_000));
    assert_eq!(st.period, Period::parse("2026-01").unwrap());
    assert_eq!(st.lines.len(), 3, "{st:#?}");
    let amounts: Vec<i64> = st.lines.iter().map(|l| l.amount.amount_minor()).collect();
    assert_eq!(amounts, vec![1_000, 90_000, -11_000]);
    let jan = &st.lines[1];
    assert_eq!(
        jan.conversion_external_id.as_ref().map(|e| e.as_str()),
        Some("ord-alice")
    );
    assert_eq!(jan.sale, Some(usd(450_000)));
    assert_eq!(jan.effective_rate, Some(rust_decimal::Decimal::from(20)));
    assert_eq!(jan.kind, CommissionKind::Earned);
    let refund = &st.lines[2];
    assert!(refund.is_adjustment());
    assert!(matches!(
        refund.kind,
        CommissionKind::Adjustment { corrects, reason: ChangeReason::Refund } if corrects == jan.commission_id
    ));
    assert_eq!(refund.effective_rate, None);
    assert_eq!(st.carry_overs.len(), 1, "the December carry-over");
    assert_eq!(st.carry_overs[0].batch_id, seed.december.id);
    assert_eq!(st.carry_overs[0].amount, usd(1_000));
    assert_eq!(st.carry_overs[0].reason, CarryReason::BelowMinimum);

    let bob = w
        .engine
        .statement(seed.bob.partner_id, seed.paid[1].id, None)
        .await
        .unwrap();
    assert_eq!(bob.total, seed.paid[1].amount);
    assert!(bob.carry_overs.is_empty());
    for (partner, item, payer) in [
        (seed.bob.partner_id, alice_item.id, Some(&w.merchant)),
        (seed.alice.partner_id, alice_item.id, Some(&other)),
        (
            seed.alice.partner_id,
            crate::ids::PayoutItemId::from_uuid(uuid::Uuid::from_u128(7)),
            None,
        ),
    ] {
        assert!(
            matches!(
                w.engine.statement(partner, item, payer).await,
                Err(DomainError::NotFound { .. })
            ),
            "{partner} {item}"
        );
    }
    assert!(matches!(
        w.engine
            .statement(seed.dave.partner_id, seed.unpaid.id, None)
            .await,
        Err(DomainError::Conflict { .. })
    ));

    let feb = Period::parse("2026-02").unwrap();
    let month = w
        .engine
        .monthly_statement(seed.alice.partner_id, feb, Some(&w.merchant))
        .await
        .unwrap();
    assert_eq!(month.statements, vec![st]);
    assert_eq!(month.totals, vec![usd(80_000)]);
    assert!(month.reversed.is_empty());
    let empty = w
        .engine
        .monthly_statement(
            seed.alice.partner_id,
            Period::parse("2026-01").unwrap(),
            None,
        )
        .await
        .unwrap();
    assert!(empty.statements.is_empty() && empty.totals.is_empty());

    let list = w.engine.tax_report(&w.merchant, 2026, false).await.unwrap();
    assert_eq!(
        list.rows
            .iter()
            .map(|r| r.summary.partner_id)
            .collect::<Vec<_>>(),
        vec![seed.alice.partner_id]
    );
    let all = w.engine.tax_report(&w.merchant, 2026, true).await.unwrap();
    assert_eq!(all.rows.len(), 3, "Dave's item is not paid");
    assert_eq!(all.totals, vec![usd(190_000)]);
}

/// Scenario: an `Idempotency-Key` whose request never answered (its worker
/// died) answers "in progress" for a minute, then the next request with it
/// takes it over; records older than 24 hours are forgotten.
pub async fn a_key_left_in_progress_is_taken_over_and_old_keys_are_forgotten<
    S: PayoutStore + Clone,
>(
    store: S,
) {
    use crate::ports::{RequestKeyBegin, RequestKeyStatus};
    let w = World::new(store, PayoutPolicy::Manual).await;
    let e = &w.engine;
    assert_eq!(
        e.begin_request("m:u", "k1", "h1").await.unwrap(),
        RequestKeyBegin::Started
    );
    // The worker dies: nothing completes or releases k1.
    w.clock.advance(Duration::seconds(30));
    assert!(matches!(
        e.begin_request("m:u", "k1", "h1").await.unwrap(),
        RequestKeyBegin::Existing(r) if r.status == RequestKeyStatus::InProgress
    ));
    w.clock.advance(Duration::seconds(31));
    assert_eq!(
        e.begin_request("m:u", "k1", "h2").await.unwrap(),
        RequestKeyBegin::Started,
        "taken over after 60 s"
    );
    // The one that took it over holds it now.
    assert!(matches!(
        e.begin_request("m:u", "k1", "h2").await.unwrap(),
        RequestKeyBegin::Existing(r) if r.status == RequestKeyStatus::InProgress && r.request_hash == "h2"
    ));
    e.complete_request("m:u", "k1", 201, "{}").await.unwrap();
    // A completed key is replayed, however old, until it is forgotten.
    w.clock.advance(Duration::hours(2));
    assert!(matches!(
        e.begin_request("m:u", "k1", "h2").await.unwrap(),
        RequestKeyBegin::Existing(r) if r.status == RequestKeyStatus::Completed
    ));
    assert_eq!(
        e.begin_request("m:u", "k2", "h").await.unwrap(),
        RequestKeyBegin::Started
    );
    e.complete_request("m:u", "k2", 200, "{}").await.unwrap();
    assert_eq!(e.purge_request_keys().await.unwrap(), 0, "none is 24 h old");
    // A day after k1 was begun (k2, begun 2 h later, stays).
    w.clock.advance(Duration::hours(22) + Duration::seconds(1));
    assert_eq!(e.purge_request_keys().await.unwrap(), 1);
    assert!(matches!(
        e.begin_request("m:u", "k2", "h").await.unwrap(),
        RequestKeyBegin::Existing(r) if r.status == RequestKeyStatus::Completed
    ));
    assert_eq!(
        e.begin_request("m:u", "k1", "h3").await.unwrap(),
        RequestKeyBegin::Started,
        "a forgotten key is new again"
    );
}

/// Scenario: the automatic build makes no batch for a period with nothing
/// to pay (an empty batch pays nobody); once commissions are finalized it
/// builds one.
pub async fn no_automatic_batch_for_a_period_with_nothing_to_pay<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let january = Period::parse("2026-01").unwrap();
    assert_eq!(
        w.engine
            .build_batch_if_due(w.program.id, january, &crate::testkit::fixtures::operator())
            .await
            .unwrap(),
        None
    );
    assert!(
        w.engine
            .store()
            .batches_of(w.program.id)
            .await
            .unwrap()
            .is_empty(),
        "nothing was written"
    );
    w.clock.set(START);
    w.partner("alice").await;
    w.sale("alice", "order-a1", 50_000).await;
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    w.engine
        .finalize_period(w.program.id, january, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    let built = w
        .engine
        .build_batch_if_due(w.program.id, january, &crate::testkit::fixtures::operator())
        .await
        .unwrap()
        .expect("a batch for alice's commission");
    assert_eq!(built.item_count, 1);
}

/// January's batch, paid: three posted items from the merchant's account.
async fn paid_january<S: PayoutStore + Clone>(w: &World<S>) -> (PayoutBatch, Vec<PayoutItem>) {
    january(w).await;
    let batch = w.close("2026-01").await;
    w.engine.execute_batch(batch.id).await.unwrap();
    let items = w.items(batch.id).await;
    assert!(items.iter().all(|i| i.state.is_paid()));
    (batch, items)
}

fn transfer_of(item: &PayoutItem) -> crate::ids::TransferId {
    match &item.state {
        ItemState::Posted { transfer_id, .. } | ItemState::Reversed { transfer_id, .. } => {
            transfer_id.clone()
        }
        other => panic!("item {} not paid: {other:?}", item.id),
    }
}

async fn reconcile_january<S: PayoutStore + Clone>(
    w: &World<S>,
) -> crate::engine::ReconciliationReport {
    w.engine
        .reconciliation(crate::engine::ReconcileScope::Program {
            program_id: w.program.id,
            period: Period::parse("2026-01").unwrap(),
        })
        .await
        .unwrap()
}

/// Scenario: after a batch pays (and a reversal made through the engine),
/// reconciliation matches every item, per program and period or per batch,
/// and the ledger balances; nothing is notified.
pub async fn reconciliation_matches_what_the_engine_paid<S: PayoutStore + Clone>(store: S) {
    use crate::engine::{LineKind, ReconcileScope};
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let (batch, items) = paid_january(&w).await;
    w.engine
        .reverse_item(items[0].id, Some(usd(1_000)))
        .await
        .unwrap();
    let report = reconcile_january(&w).await;
    assert!(report.is_clean(), "{report:#?}");
    assert_eq!(report.count(LineKind::Matched), 3);
    assert_eq!(report.batches, vec![batch.id]);
    assert_eq!(report.merchant_id, w.merchant);
    assert_eq!(report.in_flight, 0);
    assert!(report.ledger_balanced());
    assert_eq!(report.ledger.posted, usd(35_000));
    let by_batch = w
        .engine
        .reconciliation(ReconcileScope::Batch { batch_id: batch.id })
        .await
        .unwrap();
    assert_eq!(by_batch.lines, report.lines);
    // A period with no batch is clean and empty.
    let empty = w
        .engine
        .reconciliation(ReconcileScope::Program {
            program_id: w.program.id,
            period: Period::parse("2025-12").unwrap(),
        })
        .await
        .unwrap();
    assert!(empty.is_clean() && empty.lines.is_empty());
    assert_eq!(w.engine.notify_reconciliation(&report).await.unwrap(), 0);
    let unknown = crate::ids::ProgramId::from_uuid(uuid::Uuid::from_u128(7));
    assert!(matches!(
        w.engine
            .reconciliation(ReconcileScope::Program {
                program_id: unknown,
                period: Period::parse("2026-01").unwrap(),
            })
            .await,
        Err(DomainError::NotFound { .. })
    ));
}

/// Scenario: a transfer created at Stripe behind the engine's back, into a
/// partner's account under the batch's group, is reported as not ours and
/// notified to the merchant once; one sent from another account under the
/// same group is not the merchant's to see.
pub async fn reconciliation_finds_a_transfer_made_behind_our_back<S: PayoutStore + Clone>(
    store: S,
) {
    use crate::engine::LineKind;
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let (batch, items) = paid_january(&w).await;
    let group = crate::item::transfer_group(batch.id);
    let oob = w
        .engine
        .gateway()
        .inject_transfer(
            Some(&w.merchant_account),
            &items[1].destination,
            usd(1_234),
            &group,
            None,
        )
        .unwrap();
    w.engine
        .gateway()
        .inject_transfer(None, &items[1].destination, usd(99), &group, None)
        .unwrap();
    let report = reconcile_january(&w).await;
    assert!(!report.is_clean());
    assert_eq!(report.count(LineKind::Matched), 3);
    let diffs: Vec<_> = report.differences().collect();
    assert_eq!(diffs.len(), 1, "{report:#?}");
    assert_eq!(diffs[0].kind, LineKind::NotOurs);
    assert_eq!(diffs[0].transfer_id.as_ref(), Some(&oob.id));
    assert_eq!(diffs[0].stripe, Some(usd(1_234)));
    assert_eq!(diffs[0].ours, None);
    assert_eq!(diffs[0].destination.as_ref(), Some(&items[1].destination));
    // Once per difference, however often it is reported.
    assert_eq!(w.engine.notify_reconciliation(&report).await.unwrap(), 1);
    let again = reconcile_january(&w).await;
    assert_eq!(w.engine.notify_reconciliation(&again).await.unwrap(), 0);
    let notes = w
        .engine
        .store()
        .notifications_of(&w.merchant)
        .await
        .unwrap()
        .into_iter()
        .filter(|n| n.kind == NotificationKind::MerchantReconciliationDifference)
        .collect::<Vec<_>>();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].recipient, Recipient::Merchant(w.merchant.clone()));
    assert_eq!(notes[0].payload["kind"], "not_ours");
}

/// Scenario: a reversal made at Stripe that never reached the engine (no
/// webhook) is reported as unrecorded, with both amounts reversed.
pub async fn reconciliation_finds_a_reversal_we_did_not_record<S: PayoutStore + Clone>(store: S) {
    use crate::engine::LineKind;
    use crate::ports::PayoutGateway;
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let (_batch, items) = paid_january(&w).await;
    let transfer = transfer_of(&items[2]);
    w.engine
        .gateway()
        .reverse_transfer(
            Some(&w.merchant_account),
            &transfer,
            Some(usd(2_500)),
            &crate::ids::IdempotencyKey::parse("behind-our-back").unwrap(),
        )
        .await
        .unwrap();
    let report = reconcile_january(&w).await;
    let diffs: Vec<_> = report.differences().collect();
    assert_eq!(diffs.len(), 1, "{report:#?}");
    assert_eq!(diffs[0].kind, LineKind::UnrecordedReversal);
    assert_eq!(diffs[0].item_id, Some(items[2].id));
    assert_eq!(diffs[0].partner_id, Some(items[2].partner_id));
    assert_eq!(diffs[0].ours_reversed, Some(usd(0)));
    assert_eq!(diffs[0].stripe_reversed, Some(usd(2_500)));
    // The scheduled sweep reconciles the completed batch and notifies once.
    let sweep = w.engine.reconcile_recent().await.unwrap();
    assert_eq!(
        sweep,
        crate::engine::ReconcileSweep {
            batches: 1,
            differences: 1,
            notified: 1,
            failed: 0
        }
    );
    let again = w.engine.reconcile_recent().await.unwrap();
    assert_eq!((again.differences, again.notified), (1, 0));
    // Months later, the batch is no longer in the sweep's window.
    w.clock.set(datetime!(2026-05-02 08:00 UTC));
    assert_eq!(w.engine.reconcile_recent().await.unwrap().batches, 0);
}

/// Scenario: Stripe holds a transfer with another amount, or another
/// currency, than the item recorded.
pub async fn reconciliation_finds_amount_and_currency_mismatches<S: PayoutStore + Clone>(store: S) {
    use crate::engine::LineKind;
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let (_batch, items) = paid_january(&w).await;
    let stripe = w.engine.gateway();
    assert!(stripe.alter_transfer_amount(
        &transfer_of(&items[0]),
        usd(items[0].amount.amount_minor() + 1)
    ));
    assert!(stripe.alter_transfer_amount(
        &transfer_of(&items[1]),
        Money::new(items[1].amount.amount_minor(), Currency::EUR)
    ));
    let report = reconcile_january(&w).await;
    assert_eq!(report.count(LineKind::AmountMismatch), 2, "{report:#?}");
    assert_eq!(report.count(LineKind::Matched), 1);
    let first = report
        .lines
        .iter()
        .find(|l| l.item_id == Some(items[0].id))
        .unwrap();
    assert_eq!(first.ours, Some(items[0].amount));
    assert_eq!(first.stripe, Some(usd(items[0].amount.amount_minor() + 1)));
}

/// Scenario: a transfer we recorded that Stripe does not list is missing
/// at Stripe.
pub async fn reconciliation_finds_a_transfer_missing_at_stripe<S: PayoutStore + Clone>(store: S) {
    use crate::engine::LineKind;
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let (_batch, items) = paid_january(&w).await;
    assert!(w.engine.gateway().forget_transfer(&transfer_of(&items[1])));
    let report = reconcile_january(&w).await;
    let diffs: Vec<_> = report.differences().collect();
    assert_eq!(diffs.len(), 1, "{report:#?}");
    assert_eq!(diffs[0].kind, LineKind::MissingAtStripe);
    assert_eq!(diffs[0].item_id, Some(items[1].id));
    assert_eq!(diffs[0].ours, Some(items[1].amount));
    assert_eq!(diffs[0].stripe, None);

    // A reversal we recorded that Stripe no longer shows.
    w.engine
        .reverse_item(items[0].id, Some(usd(1_000)))
        .await
        .unwrap();
    assert!(
        w.engine
            .gateway()
            .alter_transfer_amount(&transfer_of(&items[0]), items[0].amount)
    );
    let report = reconcile_january(&w).await;
    let line = report
        .lines
        .iter()
        .find(|l| l.item_id == Some(items[0].id))
        .unwrap();
    assert_eq!(line.kind, LineKind::ReversalNotAtStripe);
    assert_eq!(
        (line.ours_reversed, line.stripe_reversed),
        (Some(usd(1_000)), Some(usd(0)))
    );
}

/// Enrols `key` from `country` into the world's program.
async fn enroll_from<S: PayoutStore + Clone>(
    w: &World<S>,
    key: &str,
    country: &str,
) -> Result<Membership, DomainError> {
    w.engine
        .enroll_partner(
            w.program.id,
            NewPartner {
                partner_id: None,
                email: format!("{key}@example.com"),
                country: country.into(),
                referral_key: ReferralKey::parse(key).unwrap(),
            },
        )
        .await
}

/// Scenario (issue 16 part 4): a partner in Germany gets an Express account
/// under the `recipient` service agreement, a US partner under `full`, and
/// both are paid; the ledger holds after each step.
pub async fn a_cross_border_partner_gets_a_recipient_account<S: PayoutStore + Clone>(store: S) {
    use crate::crossborder::ServiceAgreement;
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let greta = enroll_from(&w, "greta", "de").await.unwrap();
    assert_eq!(greta.country, "DE", "stored upper case");
    assert_eq!(greta.service_agreement, None, "no account yet");
    w.assert_ledger().await;

    w.engine
        .onboarding_link(greta.id, "https://r", "https://f")
        .await
        .unwrap();
    let greta = w.engine.membership(greta.id).await.unwrap();
    let account = greta.account_id.clone().unwrap();
    assert_eq!(greta.service_agreement, Some(ServiceAgreement::Recipient));
    assert_eq!(
        w.engine.gateway().express_account(&account),
        Some(("DE".to_owned(), ServiceAgreement::Recipient)),
        "the account request carried the recipient agreement"
    );
    // A second link reuses the account and keeps its agreement.
    w.engine
        .onboarding_link(greta.id, "https://r", "https://f")
        .await
        .unwrap();
    let again = w.engine.membership(greta.id).await.unwrap();
    assert_eq!(again.account_id, Some(account.clone()));
    assert_eq!(again.service_agreement, Some(ServiceAgreement::Recipient));
    w.assert_ledger().await;

    let alice = w.partner("alice").await;
    assert_eq!(alice.service_agreement, Some(ServiceAgreement::Full));
    assert_eq!(
        w.engine
            .gateway()
            .express_account(alice.account_id.as_ref().unwrap())
            .map(|(_, a)| a),
        Some(ServiceAgreement::Full)
    );

    // Greta finishes onboarding and is paid like anyone else.
    w.engine.gateway().complete_onboarding(&account);
    w.engine.refresh_onboarding(greta.id).await.unwrap();
    w.sale("greta", "order-g1", 50_000).await; // $100
    w.sale("alice", "order-a1", 30_000).await; // $60
    w.assert_ledger().await;
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let batch = w.close("2026-01").await;
    assert_eq!(batch.item_count, 2);
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.posted, 2);
    let items = w.items(batch.id).await;
    let to_greta = items
        .iter()
        .find(|i| i.membership_id == greta.id)
        .expect("an item for greta");
    assert_eq!(
        (to_greta.amount, &to_greta.destination),
        (usd(10_000), &account)
    );
    w.assert_no_double_pay(&batch).await;
    w.assert_ledger().await;
}

/// Scenario (issue 16 part 4): a partner from a country the program does not
/// pay in is refused at enrollment with a message naming the country and the
/// program's list, and nothing is stored; once the merchant adds the country
/// the same enrollment succeeds. A country Stripe cannot pay cross-border to
/// cannot be added at all.
pub async fn a_partner_outside_the_payout_countries_is_refused<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let refused = enroll_from(&w, "pablo", "ES").await.unwrap_err();
    match &refused {
        DomainError::Validation { field, message } => {
            assert_eq!(field, "country");
            assert!(message.contains("ES"), "{message}");
            assert!(message.contains("US, DE, FR"), "{message}");
        }
        other => panic!("expected a validation error, got {other:?}"),
    }
    let members = w.engine.store().memberships_of(w.program.id).await.unwrap();
    assert!(members.is_empty(), "nothing stored: {members:?}");
    w.assert_ledger().await;

    // Brazil is a real country but not one of Stripe's cross-border ones.
    let mut settings = w.program.settings();
    settings.payout_countries.push("BR".into());
    let e = w
        .engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, DomainError::Validation { field, .. } if field == "payout_countries"),
        "{e:?}"
    );
    assert_eq!(
        w.engine
            .program(w.program.id)
            .await
            .unwrap()
            .payout_countries,
        w.program.payout_countries,
        "a refused update changes nothing"
    );

    let mut settings = w.program.settings();
    settings.payout_countries.push("es".into());
    let updated = w
        .engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(
        updated.settings().payout_countries,
        ["US", "DE", "FR", "ES"]
    );
    let pablo = enroll_from(&w, "pablo", "ES").await.unwrap();
    assert_eq!(pablo.country, "ES");
    w.assert_ledger().await;
}

/// Scenario (issue 16 part 5): the effective minimum is the larger of the
/// program minimum and the per-currency minimum. With no program minimum the
/// USD default ($0.50) applies; a program override ($30) then raises it; a
/// balance below it carries with `below_minimum` until it clears, then pays
/// in full. The ledger holds after each step.
pub async fn a_balance_below_the_currency_minimum_carries_then_pays<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let mut settings = w.program.settings();
    settings.minimum_payout = usd(0);
    let program = w
        .engine
        .update_program(
            w.program.id,
            settings.clone(),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(program.effective_minimum(Currency::USD).unwrap(), usd(50));
    let alice = w.partner("alice").await;
    w.partner("bob").await;
    w.sale("alice", "a1", 200).await; // $0.40 < the USD default of $0.50
    w.sale("bob", "b1", 50_000).await; // $100
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01").await;
    assert_eq!(jan.item_count, 1);
    assert!(
        jan.carried.iter().any(|c| c.membership_id == alice.id
            && c.reason == CarryReason::BelowMinimum
            && c.amount == usd(40)),
        "{:?}",
        jan.carried
    );
    w.engine.execute_batch(jan.id).await.unwrap();
    w.assert_ledger().await;

    // The merchant sets a USD minimum of $30 above the program's $0.
    settings.minimum_payouts = std::collections::BTreeMap::from([(Currency::USD, 3_000)]);
    let program = w
        .engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(
        program.effective_minimum(Currency::USD).unwrap(),
        usd(3_000)
    );
    assert_eq!(
        w.engine
            .program(w.program.id)
            .await
            .unwrap()
            .minimum_payouts
            .get(&Currency::USD),
        Some(&3_000),
        "stored"
    );

    // February: $20 more makes $20.40, still under $30: it carries again.
    w.sale("alice", "a2", 10_000).await;
    w.clock.set(datetime!(2026-03-02 08:00 UTC));
    let feb = w.close("2026-02").await;
    assert_eq!(feb.item_count, 0);
    assert!(
        feb.carried.iter().any(|c| c.membership_id == alice.id
            && c.reason == CarryReason::BelowMinimum
            && c.amount == usd(2_040)),
        "{:?}",
        feb.carried
    );
    w.assert_ledger().await;

    // March: $10 more makes $30.40: paid in full, every carried row included.
    w.sale("alice", "a3", 5_000).await;
    w.clock.set(datetime!(2026-04-02 08:00 UTC));
    let mar = w.close("2026-03").await;
    assert_eq!(mar.item_count, 1);
    let item = w.items(mar.id).await.remove(0);
    assert_eq!((item.membership_id, item.amount), (alice.id, usd(3_040)));
    assert_eq!(item.commission_count, 3);
    w.engine.execute_batch(mar.id).await.unwrap();
    w.assert_no_double_pay(&mar).await;
    w.assert_ledger().await;
}
