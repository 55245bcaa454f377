#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "test support code: a failed setup step should stop the test with its message"
)]

//! The seeds' stories, end to end, against the in-memory adapters.
//! Every scenario checks the ledger invariant after each step.

mod common;

use common::{START, World, run, usd};
use payouts_domain::batch::{BatchState, CarryReason};
use payouts_domain::commission::{CommissionKind, CommissionState, ConversionInput};
use payouts_domain::connection::{CallbackError, CallbackOutcome, ConnectionStatus};
use payouts_domain::engine::RecordOutcome;
use payouts_domain::error::{Blocked, DomainError};
use payouts_domain::ids::{CouponCode, ExternalId, ReferralKey};
use payouts_domain::item::{ItemState, idempotency_key};
use payouts_domain::memory::RecordingNotifier;
use payouts_domain::notification::NotificationKind;
use payouts_domain::period::Period;
use payouts_domain::ports::{
    BatchStore, Clock, CommissionFilter, CommissionStore, FailureKind, GatewayError, OutboxStore,
    PageRequest,
};
use payouts_domain::program::{CouponSyncMode, HoldReason, PayoutPolicy, ProgramStatus};
use time::Duration;

fn items_of(
    w: &World,
    batch: payouts_domain::ids::BatchId,
) -> Vec<payouts_domain::item::PayoutItem> {
    run(w.engine.store().items(batch, PageRequest::first(100)))
        .unwrap()
        .data
}

/// Three partners earn in January; the batch runs in February.
fn january(w: &World) -> Vec<payouts_domain::partner::Membership> {
    let partners: Vec<_> = ["alice", "bob", "carol"]
        .iter()
        .map(|k| w.partner(k))
        .collect();
    w.sale("alice", "order-a1", 50_000); // $100 commission
    w.sale("alice", "order-a2", 25_000); // $50
    w.sale("bob", "order-b1", 40_000); // $80
    w.sale("carol", "order-c1", 60_000); // $120
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    partners
}

#[test]
fn batch_with_partial_failures_then_retry_only_the_failed_item() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    let batch = w.close("2026-01");
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
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!((report.posted, report.failed), (2, 1));
    assert_eq!(report.batch_state, Some(BatchState::CompletedWithFailures));
    run(w.assert_ledger());
    let summary = run(w.engine.batch_summary(batch.id)).unwrap();
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

    // The partner was told; running the batch again changes nothing.
    let notes = run(w.engine.store().notifications_of(&w.merchant)).unwrap();
    assert!(
        notes
            .iter()
            .any(|n| n.kind == NotificationKind::PartnerPayoutDestinationCannotReceive)
    );
    let calls_before = w.engine.gateway().transfer_calls();
    let again = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(again.processed, 0);
    assert_eq!(w.engine.gateway().transfer_calls(), calls_before);

    // Retrying touches only the failed item, with attempt 2 and a new key.
    let failed = items_of(&w, batch.id)
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Failed { .. }))
        .unwrap();
    let retried = run(w.engine.retry_item(failed.id)).unwrap();
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
        run(w.engine.retry_item(failed.id)),
        Err(DomainError::Transition(_))
    ));
    assert_eq!(
        run(w.engine.batch(batch.id)).unwrap().state,
        BatchState::Completed
    );
    run(w.assert_no_double_pay(&batch));
    run(w.assert_ledger());
    assert_eq!(w.engine.gateway().ledger().len(), 3);
}

#[test]
fn a_timeout_after_commit_is_resolved_by_resending_the_same_key() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    let batch = w.close("2026-01");
    w.engine.gateway().commit_then_timeout_next(1);
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!((report.posted, report.ambiguous), (2, 1));
    assert_eq!(report.batch_state, Some(BatchState::Executing));
    let stuck = items_of(&w, batch.id)
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Submitting { .. }))
        .unwrap();
    // Stripe has the transfer even though we never heard back.
    assert_eq!(w.engine.gateway().transfers_for_item(stuck.id).len(), 1);
    run(w.assert_ledger());

    // Nothing is re-sent while the back-off lease holds.
    let early = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(early.processed, 0);
    w.clock.advance(Duration::minutes(1));
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.posted, 1);
    assert_eq!(report.batch_state, Some(BatchState::Completed));
    let posted = run(w.engine.item(stuck.id)).unwrap();
    assert!(matches!(posted.state, ItemState::Posted { attempt: 1, .. }));
    run(w.assert_no_double_pay(&batch));
    run(w.assert_ledger());
}

#[test]
fn a_key_past_retention_is_resolved_through_reconciliation() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    let batch = w.close("2026-01");
    // One transfer commits but the answer is lost; another is never made.
    w.engine.gateway().commit_then_timeout_next(1);
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(FailureKind::Ambiguous, Some("api_error"), "500"),
    );
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.ambiguous, 2);
    // A day passes: Stripe has forgotten the keys, so re-sending them could pay twice.
    w.clock.advance(Duration::hours(25));
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(
        report.reconciled, 1,
        "the committed one is found, not re-sent"
    );
    assert_eq!(report.batch_state, Some(BatchState::Completed));
    let items = items_of(&w, batch.id);
    let attempts: Vec<u32> = items.iter().map(|i| i.state.attempts()).collect();
    assert!(
        attempts.contains(&2),
        "the lost one starts attempt 2 with a new key: {attempts:?}"
    );
    run(w.assert_no_double_pay(&batch));
    assert_eq!(w.engine.gateway().ledger().len(), 3);
    run(w.assert_ledger());
}

#[test]
fn revocation_starts_probation_and_the_window_archives() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    let revoked_at = w.clock.now();
    let out = run(w
        .engine
        .handle_deauthorization(&w.merchant_account, revoked_at))
    .unwrap();
    assert_eq!(out.programs_on_probation, 1);
    // Three partners notified, plus the merchant.
    assert_eq!(out.notifications, 4);
    let conn = run(w.engine.connection(&w.merchant)).unwrap().unwrap();
    assert_eq!(conn.status, ConnectionStatus::Revoked);
    let program = run(w.engine.program(w.program.id)).unwrap();
    assert_eq!(
        program.status,
        ProgramStatus::Probation {
            until: revoked_at + Duration::days(7)
        }
    );

    // A replayed webhook notifies nobody twice.
    let replay = run(w
        .engine
        .handle_deauthorization(&w.merchant_account, revoked_at + Duration::hours(1)))
    .unwrap();
    assert_eq!(replay.notifications, 0);
    let notes = run(w.engine.store().notifications_of(&w.merchant)).unwrap();
    let partner_notes = notes
        .iter()
        .filter(|n| n.kind == NotificationKind::PartnerMerchantOauthRevoked)
        .count();
    assert_eq!(partner_notes, 3);

    // Automatic payouts pause: the batch is not approved by policy, and nothing executes.
    let batch = w.close("2026-01");
    assert_eq!(batch.state, BatchState::Draft);
    run(w.engine.approve_batch(batch.id, "ops@platform")).unwrap();
    let err = run(w.engine.execute_batch(batch.id)).unwrap_err();
    assert!(matches!(
        err,
        DomainError::Blocked(Blocked::ProgramOnProbation { .. })
    ));
    assert!(w.engine.gateway().ledger().is_empty());

    // The sweep before the window does nothing; after it, the program is archived.
    w.advance_days(6);
    assert_eq!(run(w.engine.sweep_probation()).unwrap(), 0);
    w.advance_days(2);
    assert_eq!(run(w.engine.sweep_probation()).unwrap(), 1);
    assert_eq!(
        run(w.engine.program(w.program.id)).unwrap().status,
        ProgramStatus::Archived
    );
    assert!(matches!(
        run(w.engine.execute_batch(batch.id)),
        Err(DomainError::Blocked(Blocked::ProgramArchived))
    ));

    // Re-authorising after the window reconnects but does not revive the program.
    let start = run(w.engine.start_connect(&w.merchant)).unwrap();
    let code = w.engine.gateway().issue_oauth_code(&w.merchant_account);
    let outcome = run(w
        .engine
        .complete_connect(start.state.token.as_str(), Some(&code), None))
    .unwrap();
    assert!(matches!(
        outcome,
        CallbackOutcome::Connected {
            probation_cleared: 0,
            ..
        }
    ));
    assert_eq!(
        run(w.engine.program(w.program.id)).unwrap().status,
        ProgramStatus::Archived
    );
    run(w.assert_ledger());
}

#[test]
fn reauthorising_within_the_window_clears_probation_and_payouts_resume() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    run(w
        .engine
        .handle_deauthorization(&w.merchant_account, w.clock.now()))
    .unwrap();
    let batch = w.close("2026-01");
    assert_eq!(batch.state, BatchState::Draft);
    w.advance_days(3);
    let start = run(w.engine.start_connect(&w.merchant)).unwrap();
    let code = w.engine.gateway().issue_oauth_code(&w.merchant_account);
    let outcome = run(w
        .engine
        .complete_connect(start.state.token.as_str(), Some(&code), None))
    .unwrap();
    assert!(matches!(
        outcome,
        CallbackOutcome::Connected {
            probation_cleared: 1,
            ..
        }
    ));
    assert_eq!(
        run(w.engine.program(w.program.id)).unwrap().status,
        ProgramStatus::Active
    );
    assert_eq!(
        run(w.engine.connection(&w.merchant))
            .unwrap()
            .unwrap()
            .status,
        ConnectionStatus::Connected
    );
    // The pending batch pays on the next cycle.
    run(w.engine.approve_batch(batch.id, "ops")).unwrap();
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.posted, 3);
    run(w.assert_no_double_pay(&batch));
    run(w.assert_ledger());
}

#[test]
fn the_insufficient_balance_ladder_retries_daily_then_escalates() {
    let w = World::new(PayoutPolicy::AutoAll);
    w.partner("alice");
    w.sale("alice", "o1", 50_000);
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let batch = w.close("2026-01");
    w.engine
        .gateway()
        .set_balance(Some(&w.merchant_account), usd(1_000));

    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.failed, 1);
    let item = items_of(&w, batch.id).remove(0);
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
    run(w.assert_ledger());

    // Not before its time.
    w.clock.advance(Duration::hours(23));
    assert_eq!(run(w.engine.run_retry_ladder(100)).unwrap().retried, 0);
    // Attempt 2 at +24 h, attempt 3 a day later: both short.
    w.clock.advance(Duration::hours(1));
    assert_eq!(run(w.engine.run_retry_ladder(100)).unwrap().retried, 1);
    w.clock.advance(Duration::hours(24));
    assert_eq!(run(w.engine.run_retry_ladder(100)).unwrap().retried, 1);
    let item = run(w.engine.item(item.id)).unwrap();
    assert!(matches!(
        item.state,
        ItemState::Failed {
            attempt: 3,
            retry_at: None,
            escalated: true,
            ..
        }
    ));
    let notes = run(w.engine.store().notifications_of(&w.merchant)).unwrap();
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
    assert_eq!(run(w.engine.run_retry_ladder(100)).unwrap().retried, 0);
    w.engine
        .gateway()
        .set_balance(Some(&w.merchant_account), usd(1_000_000));
    let item = run(w.engine.retry_item(item.id)).unwrap();
    assert!(matches!(item.state, ItemState::Posted { attempt: 4, .. }));
    assert_eq!(
        w.engine
            .gateway()
            .balance(Some(&w.merchant_account), payouts_domain::Currency::USD),
        Some(usd(990_000))
    );
    run(w.assert_no_double_pay(&batch));
    run(w.assert_ledger());

    // Outbox dispatch delivers each notification once.
    let notifier = RecordingNotifier::default();
    let sent = run(w.engine.dispatch_notifications(&notifier, 100)).unwrap();
    assert_eq!(usize::try_from(sent).unwrap(), notifier.delivered().len());
    assert_eq!(
        run(w.engine.dispatch_notifications(&notifier, 100)).unwrap(),
        0
    );
}

#[test]
fn account_inactive_pauses_the_program_until_the_merchant_acts() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    let batch = w.close("2026-01");
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(
            FailureKind::AccountInactive,
            Some("account_inactive"),
            "review",
        ),
    );
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.failed, 1);
    assert!(
        report.stopped.is_some(),
        "the run stops: every transfer would fail"
    );
    let program = run(w.engine.program(w.program.id)).unwrap();
    assert_eq!(program.hold, Some(HoldReason::MerchantAccountInactive));
    assert!(matches!(
        run(w.engine.execute_batch(batch.id)),
        Err(DomainError::Blocked(Blocked::PayoutsPaused(_)))
    ));
    run(w.assert_ledger());

    // Stripe says the account is healthy again: the hold lifts and the failed item is scheduled.
    run(w
        .engine
        .apply_account_update(&payouts_domain::engine::AccountSnapshot {
            account_id: w.merchant_account.clone(),
            details_submitted: true,
            charges_enabled: true,
            payouts_enabled: true,
            transfers: payouts_domain::partner::CapabilityStatus::Active,
            disabled_reason: None,
            past_due: false,
        }))
    .unwrap();
    assert_eq!(run(w.engine.program(w.program.id)).unwrap().hold, None);
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.posted, 2, "the pending items run");
    assert_eq!(
        run(w.engine.run_retry_ladder(10)).unwrap().posted,
        1,
        "the failed one is retried"
    );
    assert_eq!(
        run(w.engine.batch(batch.id)).unwrap().state,
        BatchState::Completed
    );
    run(w.assert_no_double_pay(&batch));
    run(w.assert_ledger());
}

#[test]
fn nets_below_the_minimum_carry_over_to_the_next_batch() {
    let w = World::new(PayoutPolicy::AutoAll);
    w.partner("alice");
    w.partner("bob");
    w.sale("alice", "a1", 10_000); // $20 < $50 minimum
    w.sale("bob", "b1", 50_000); // $100
    let dave = run(w.enroll("dave")); // never onboards
    w.sale("dave", "d1", 50_000);
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01");
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
    run(w.engine.execute_batch(jan.id)).unwrap();
    run(w.assert_ledger());

    // February: Alice earns $40 more; with the carried $20 she crosses the minimum.
    w.sale("alice", "a2", 20_000);
    w.clock.set(time::macros::datetime!(2026-03-02 08:00 UTC));
    let feb = w.close("2026-02");
    let alice_item = items_of(&w, feb.id)
        .into_iter()
        .find(|i| i.amount == usd(6_000));
    let alice_item = alice_item.expect("alice is paid $60 in February");
    assert_eq!(alice_item.commission_count, 2);
    let ids = run(w.engine.store().item_commission_ids(alice_item.id)).unwrap();
    assert_eq!(ids.len(), 2, "the January commission rides along");
    run(w.engine.execute_batch(feb.id)).unwrap();
    run(w.assert_no_double_pay(&feb));
    run(w.assert_ledger());
    // A batch per period: building February again is a duplicate.
    assert!(matches!(
        run(w
            .engine
            .build_batch(w.program.id, Period::parse("2026-02").unwrap())),
        Err(DomainError::Duplicate { .. })
    ));
}

#[test]
fn a_clawback_after_finalization_nets_against_later_payouts() {
    let w = World::new(PayoutPolicy::AutoAll);
    w.partner("alice");
    w.sale("alice", "big", 100_000); // $200
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01");
    run(w.engine.execute_batch(jan.id)).unwrap();
    assert_eq!(w.engine.gateway().ledger()[0].transfer.amount, usd(20_000));

    // Refund half after finalization: the finalized row stays, a -$100 adjustment appears.
    let changed =
        run(w
            .engine
            .record_refund(&w.merchant, &ExternalId::parse("big").unwrap(), usd(50_000)))
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
        run(w
            .engine
            .record_refund(&w.merchant, &ExternalId::parse("big").unwrap(), usd(50_000)))
        .unwrap()
        .is_empty()
    );
    run(w.assert_ledger());

    // February: $50 earned, -$100 owed: a negative net carries and is never transferred.
    w.sale("alice", "small", 25_000);
    w.clock.set(time::macros::datetime!(2026-03-02 08:00 UTC));
    let feb = w.close("2026-02");
    assert_eq!(feb.item_count, 0);
    assert_eq!(feb.carried[0].reason, CarryReason::NegativeBalance);
    assert_eq!(feb.carried[0].amount, usd(-5_000));
    run(w.engine.execute_batch(feb.id)).unwrap();
    assert_eq!(
        run(w.engine.batch(feb.id)).unwrap().state,
        BatchState::Completed
    );
    assert_eq!(w.engine.gateway().ledger().len(), 1);
    run(w.assert_ledger());

    // March: $200 more; the debt nets out and $150 is paid.
    w.sale("alice", "march", 100_000);
    w.clock.set(time::macros::datetime!(2026-04-02 08:00 UTC));
    let mar = w.close("2026-03");
    assert_eq!(mar.total, usd(15_000));
    run(w.engine.execute_batch(mar.id)).unwrap();
    run(w.assert_no_double_pay(&mar));
    run(w.assert_ledger());
}

#[test]
fn refunds_before_finalization_reduce_or_void_the_commission() {
    let w = World::new(PayoutPolicy::Manual);
    w.partner("alice");
    w.sale("alice", "o1", 10_000); // $20
    w.sale("alice", "o2", 10_000);
    let merchant = w.merchant.clone();
    let o1 = ExternalId::parse("o1").unwrap();
    let changed = run(w.engine.record_refund(&merchant, &o1, usd(2_500))).unwrap();
    assert_eq!(changed[0].amount, usd(1_500));
    assert_eq!(changed[0].state, CommissionState::Pending);
    let changed = run(w.engine.record_refund(&merchant, &o1, usd(10_000))).unwrap();
    assert!(matches!(changed[0].state, CommissionState::Voided { .. }));
    let changed = run(w
        .engine
        .cancel_conversion(&merchant, &ExternalId::parse("o2").unwrap()))
    .unwrap();
    assert!(matches!(changed[0].state, CommissionState::Voided { .. }));
    // Refunds above the sale are refused and change nothing.
    assert!(matches!(
        run(w.engine.record_refund(&merchant, &o1, usd(10_001))),
        Err(DomainError::Validation { .. })
    ));
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let batch = w.close("2026-01");
    assert_eq!(batch.item_count, 0);
    assert!(batch.carried.is_empty());
}

#[test]
fn conversions_are_idempotent_and_coupons_beat_links() {
    let w = World::new(PayoutPolicy::Manual);
    let alice = w.partner("alice");
    let bob = w.partner("bob");
    let code = CouponCode::parse("Alice20").unwrap();
    run(w.engine.assign_coupon(alice.id, code, None)).unwrap();
    // Unique per merchant, whatever the case.
    assert!(matches!(
        run(w
            .engine
            .assign_coupon(bob.id, CouponCode::parse("ALICE20").unwrap(), None)),
        Err(DomainError::Duplicate { .. })
    ));
    let input = |ext: &str, coupon: Option<&str>, key: Option<&str>| ConversionInput {
        external_id: ExternalId::parse(ext).unwrap(),
        amount: usd(10_000),
        occurred_at: START,
        coupon_code: coupon.map(|c| CouponCode::parse(c).unwrap()),
        referral_key: key.map(|k| ReferralKey::parse(k).unwrap()),
        customer_ref: None,
        payment_ref: None,
    };
    let both = run(w
        .engine
        .record_conversion(w.program.id, input("o1", Some("alice20"), Some("bob"))))
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
    let again = run(w
        .engine
        .record_conversion(w.program.id, input("o1", Some("alice20"), Some("bob"))))
    .unwrap();
    assert!(matches!(again, RecordOutcome::Duplicate { .. }));
    let by_link = run(w
        .engine
        .record_conversion(w.program.id, input("o2", Some("nobody"), Some("bob"))))
    .unwrap();
    assert!(
        matches!(by_link, RecordOutcome::Recorded { conversion, .. } if conversion.partner_id == bob.partner_id)
    );
    assert!(matches!(
        run(w
            .engine
            .record_conversion(w.program.id, input("o3", None, Some("nobody")))),
        Err(DomainError::Validation { .. })
    ));
    let listed = run(w.engine.store().list_commissions(
        &CommissionFilter {
            partner_id: Some(alice.partner_id),
            ..CommissionFilter::default()
        },
        PageRequest::first(10),
    ))
    .unwrap();
    assert_eq!(listed.data.len(), 1);
}

#[test]
fn one_time_and_recurring_rules() {
    let w = World::new(PayoutPolicy::Manual);
    w.partner("alice");
    let sale = |ext: &str, customer: &str| {
        run(w.engine.record_conversion(
            w.program.id,
            ConversionInput {
                external_id: ExternalId::parse(ext).unwrap(),
                amount: usd(10_000),
                occurred_at: w.clock.now(),
                coupon_code: None,
                referral_key: Some(ReferralKey::parse("alice").unwrap()),
                customer_ref: Some(customer.into()),
                payment_ref: None,
            },
        ))
        .unwrap()
    };
    assert!(matches!(
        sale("s1", "cust-1"),
        RecordOutcome::Recorded {
            commission: Some(_),
            ..
        }
    ));
    assert!(
        matches!(
            sale("s2", "cust-1"),
            RecordOutcome::Recorded {
                commission: None,
                ..
            }
        ),
        "one-time"
    );
    let mut settings = w.program.settings();
    settings.commission_rule.recurring_months = Some(2);
    run(w.engine.update_program(w.program.id, settings)).unwrap();
    w.advance_days(30);
    assert!(matches!(
        sale("s3", "cust-1"),
        RecordOutcome::Recorded {
            commission: Some(_),
            ..
        }
    ));
    w.advance_days(40);
    assert!(
        matches!(
            sale("s4", "cust-1"),
            RecordOutcome::Recorded {
                commission: None,
                ..
            }
        ),
        "past 2 months"
    );
}

#[test]
fn policy_decides_approval() {
    let capped = World::new(PayoutPolicy::AutoUnderCap { cap: usd(30_000) });
    january(&capped);
    let over = capped.close("2026-01");
    assert_eq!(over.state, BatchState::Draft, "$350 is over the $300 cap");

    let capped = World::new(PayoutPolicy::AutoUnderCap { cap: usd(35_000) });
    january(&capped);
    assert_eq!(
        capped.close("2026-01").state,
        BatchState::Approved,
        "at the cap approves"
    );

    let manual = World::new(PayoutPolicy::Manual);
    january(&manual);
    let batch = manual.close("2026-01");
    assert_eq!(batch.state, BatchState::Draft);
    assert!(matches!(
        run(manual.engine.execute_batch(batch.id)),
        Err(DomainError::Blocked(Blocked::BatchState(_)))
    ));
    let approved = run(manual.engine.approve_batch(batch.id, "ops")).unwrap();
    assert_eq!(approved.state, BatchState::Approved);

    // A cap in another currency is a validation error.
    let mut settings = manual.program.settings();
    settings.payout_policy = PayoutPolicy::AutoUnderCap {
        cap: payouts_domain::Money::new(100, payouts_domain::Currency::EUR),
    };
    assert!(matches!(
        run(manual.engine.update_program(manual.program.id, settings)),
        Err(DomainError::Validation { .. })
    ));
}

#[test]
fn oauth_state_is_single_use_and_lives_ten_minutes() {
    let w = World::new(PayoutPolicy::Manual);
    let account = w.merchant_account.clone();
    let start = run(w.engine.start_connect(&w.merchant)).unwrap();
    assert!(start.authorize_url.contains(start.state.token.as_str()));
    assert!(start.authorize_url.contains("scope=read_write"));
    let code = w.engine.gateway().issue_oauth_code(&account);
    let token = start.state.token.as_str().to_owned();
    let ok = run(w.engine.complete_connect(&token, Some(&code), None)).unwrap();
    assert_eq!(ok.query(), "stripe=connected");
    let reused = run(w.engine.complete_connect(&token, Some(&code), None)).unwrap();
    assert_eq!(
        reused,
        CallbackOutcome::Error {
            reason: CallbackError::StateReused
        }
    );

    let late = run(w.engine.start_connect(&w.merchant)).unwrap();
    w.clock.advance(Duration::minutes(10));
    let expired = run(w
        .engine
        .complete_connect(late.state.token.as_str(), Some("ac_x"), None))
    .unwrap();
    assert_eq!(expired.query(), "stripe=error&reason=state_expired");

    let unknown = run(w
        .engine
        .complete_connect("not-a-token-we-issued", Some("ac_x"), None))
    .unwrap();
    assert_eq!(unknown.query(), "stripe=error&reason=state_unknown");

    let denied_start = run(w.engine.start_connect(&w.merchant)).unwrap();
    let denied = run(w.engine.complete_connect(
        denied_start.state.token.as_str(),
        None,
        Some("access_denied"),
    ))
    .unwrap();
    assert_eq!(denied.query(), "stripe=error&reason=access_denied");

    let bad_code = run(w.engine.start_connect(&w.merchant)).unwrap();
    let bad =
        run(w
            .engine
            .complete_connect(bad_code.state.token.as_str(), Some("ac_forged"), None))
        .unwrap();
    assert_eq!(bad.query(), "stripe=error&reason=access_denied");
}

#[test]
fn a_crashed_workers_lease_is_taken_over_only_after_it_expires() {
    let w = World::new(PayoutPolicy::AutoAll);
    january(&w);
    let batch = w.close("2026-01");
    let now = w.clock.now();
    // Worker B claims everything and dies before sending.
    let b = payouts_domain::ids::WorkerId::parse("worker-b").unwrap();
    let claimed =
        run(w
            .engine
            .store()
            .claim_items(batch.id, &b, now, now + Duration::seconds(60), 10))
        .unwrap();
    assert_eq!(claimed.len(), 3);
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.processed, 0, "live leases are respected");
    w.clock.advance(Duration::seconds(61));
    let report = run(w.engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.posted, 3);
    run(w.assert_no_double_pay(&batch));
    run(w.assert_ledger());
}

#[test]
fn coupon_codes_sync_to_stripe_promotion_codes() {
    let w = World::new(PayoutPolicy::Manual);
    let alice = w.partner("alice");
    let mut settings = w.program.settings();
    settings.coupon_sync = CouponSyncMode::Stripe;
    run(w.engine.update_program(w.program.id, settings)).unwrap();
    let code = CouponCode::parse("SARAH20").unwrap();
    assert!(matches!(
        run(w.engine.assign_coupon(alice.id, code.clone(), None)),
        Err(DomainError::Validation { .. })
    ));
    let coupon = run(w
        .engine
        .assign_coupon(alice.id, code.clone(), Some("coupon_20off")))
    .unwrap();
    let promo = coupon.promotion_code_id.clone().unwrap();
    assert_eq!(
        w.engine.gateway().promotion_codes(),
        vec![(promo.clone(), code.clone(), true)]
    );
    let off = run(w.engine.deactivate_coupon(&w.merchant, &code)).unwrap();
    assert!(!off.active);
    assert_eq!(
        w.engine.gateway().promotion_codes(),
        vec![(promo, code, false)]
    );
}

#[test]
fn reversals_and_the_tax_tally() {
    let w = World::new(PayoutPolicy::AutoAll);
    let alice = w.partner("alice");
    w.sale("alice", "big", 400_000); // $800
    w.clock.set(time::macros::datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01");
    run(w.engine.execute_batch(jan.id)).unwrap();
    let tax = run(w.engine.tax_summary(alice.partner_id, 2026)).unwrap();
    assert_eq!(tax.totals, vec![usd(80_000)]);
    assert!(tax.form_1099_required, "US partner over $600");

    let item = items_of(&w, jan.id).remove(0);
    let reversed = run(w.engine.reverse_item(item.id, Some(usd(30_000)))).unwrap();
    assert!(
        matches!(reversed.state, ItemState::Reversed { amount_reversed, .. } if amount_reversed == usd(30_000))
    );
    assert!(matches!(
        run(w.engine.reverse_item(item.id, Some(usd(60_000)))),
        Err(DomainError::Validation { .. })
    ));
    let tax = run(w.engine.tax_summary(alice.partner_id, 2026)).unwrap();
    assert_eq!(tax.totals, vec![usd(50_000)]);
    assert!(!tax.form_1099_required);
    let summary = run(w.engine.refresh_batch(jan.id)).unwrap();
    assert_eq!((summary.posted_count, summary.reversed_count), (1, 1));
    assert_eq!(summary.reversed_amount, usd(30_000));
    let history = run(w
        .engine
        .partner_history(alice.partner_id, PageRequest::first(10)))
    .unwrap();
    assert_eq!(history.data.len(), 1);
    run(w.assert_ledger());
}
