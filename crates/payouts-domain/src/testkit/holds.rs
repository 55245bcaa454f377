//! Issue 16's holds, end to end against any store: each hold reason, the
//! operator's release and reject, refunds while held; the ledger invariant
//! is checked after every step.

use time::macros::datetime;

use super::scenarios::World;
use crate::commission::{ChangeReason, Commission, CommissionState, ConversionInput, OnHoldReason};
use crate::engine::{HoldDecision, RecordOutcome};
use crate::error::DomainError;
use crate::ids::{ExternalId, MerchantId, ReferralKey};
use crate::ports::{Clock, ConnectGateway, PageRequest, PayoutStore};
use crate::program::PayoutPolicy;
use crate::{Currency, Money};

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// A sale through `key`'s link by a customer with `email`; its commission.
async fn sale_by<S: PayoutStore + Clone>(
    w: &World<S>,
    key: &str,
    external: &str,
    amount_minor: i64,
    email: Option<&str>,
) -> Commission {
    let outcome = w
        .engine
        .record_conversion(
            w.program.id,
            ConversionInput {
                external_id: ExternalId::parse(external).unwrap(),
                amount: usd(amount_minor),
                occurred_at: w.clock.now(),
                coupon_code: None,
                referral_key: Some(ReferralKey::parse(key).unwrap()),
                customer_ref: None,
                payment_ref: None,
                customer_email: email.map(str::to_owned),
                kind: crate::reward::ConversionKind::Sale,
                product_id: None,
            },
        )
        .await
        .unwrap();
    match outcome {
        RecordOutcome::Recorded {
            commission: Some(c),
            conversion,
        } => {
            assert_eq!(conversion.customer_email.as_deref(), email);
            c
        }
        other => panic!("expected a new commission, got {other:?}"),
    }
}

async fn stored<S: PayoutStore + Clone>(w: &World<S>, c: &Commission) -> Commission {
    w.engine.store().commission(c.id).await.unwrap().unwrap()
}

fn held_for(c: &Commission) -> Option<OnHoldReason> {
    match c.state {
        CommissionState::OnHold { reason, .. } => Some(reason),
        _ => None,
    }
}

async fn decide<S: PayoutStore + Clone>(
    w: &World<S>,
    c: &Commission,
    decision: HoldDecision,
) -> Result<Commission, DomainError> {
    w.engine
        .decide_hold(
            Some(&w.merchant),
            c.id,
            decision,
            &crate::testkit::fixtures::operator(),
        )
        .await
}

/// Scenario: a sale to the partner themself (same address, or a colleague
/// at the partner's own domain) is held `self_referral`; a customer at the
/// same public mailbox provider is not. The held commission is in no batch
/// while held and is paid by the next batch once released.
pub async fn a_self_referral_is_held_and_paid_after_release<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    // Partners are `{key}@example.com`.
    w.partner("alice").await;
    let own = sale_by(&w, "alice", "o1", 30_000, Some("ALICE@example.com")).await;
    let colleague = sale_by(&w, "alice", "o2", 30_000, Some("bob@Example.com")).await;
    let stranger = sale_by(&w, "alice", "o3", 30_000, Some("carol@gmail.com")).await;
    let anonymous = sale_by(&w, "alice", "o4", 30_000, None).await;
    assert_eq!(held_for(&own), Some(OnHoldReason::SelfReferral));
    assert_eq!(held_for(&colleague), Some(OnHoldReason::SelfReferral));
    assert_eq!(stranger.state, CommissionState::Pending);
    assert_eq!(anonymous.state, CommissionState::Pending);
    assert!(matches!(
        own.state,
        CommissionState::OnHold { since, .. } if since == w.clock.now()
    ));
    // Stored as held.
    assert_eq!(stored(&w, &own).await, own);
    w.assert_ledger().await;

    // The holds list, filtered by reason, in keyset pages.
    let first = w
        .engine
        .holds(&w.merchant, None, PageRequest::first(1))
        .await
        .unwrap();
    assert!(first.has_more);
    assert_eq!(first.data[0].id, own.id);
    let mut next = PageRequest::first(1);
    next.after = Some(own.id.as_uuid());
    let second = w.engine.holds(&w.merchant, None, next).await.unwrap();
    assert_eq!(second.data[0].id, colleague.id);
    assert!(!second.has_more);
    let manual = w
        .engine
        .holds(
            &w.merchant,
            Some(OnHoldReason::Manual),
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(manual.data.is_empty());

    // February: the holding period is over. Finalization skips the held
    // commissions and the batch pays only the two others ($120).
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let january = w.close("2026-01").await;
    assert_eq!(january.item_count, 1);
    assert_eq!(january.total, usd(12_000));
    for held in [&own, &colleague] {
        let now = stored(&w, held).await;
        assert_eq!(held_for(&now), Some(OnHoldReason::SelfReferral));
        assert_eq!(now.payout_item_id, None);
    }
    assert!(stored(&w, &stranger).await.payout_item_id.is_some());

    // The operator releases one: pending again, and the next batch pays it.
    let released = decide(&w, &own, HoldDecision::Release).await.unwrap();
    assert_eq!(released.state, CommissionState::Pending);
    assert_eq!(stored(&w, &own).await, released);
    w.assert_ledger().await;
    // Releasing it again is refused: it is not on hold.
    assert!(matches!(
        decide(&w, &own, HoldDecision::Release).await,
        Err(DomainError::Transition(_))
    ));
    // The decision is in the audit trail, once, with who made it and the
    // state before and after.
    let trail = w
        .engine
        .audit_events(
            &crate::audit::AuditFilter {
                merchant_id: Some(w.merchant.clone()),
                object_id: Some(own.id.to_string()),
                ..crate::audit::AuditFilter::default()
            },
            crate::ports::PageRequest::first(10),
        )
        .await
        .unwrap()
        .data;
    assert_eq!(trail.len(), 1, "{trail:#?}");
    assert_eq!(
        trail[0].action,
        crate::audit::AuditAction::CommissionReleased
    );
    assert_eq!(trail[0].actor, crate::testkit::fixtures::operator().actor);
    assert_eq!(
        trail[0].before.as_ref().unwrap()["state"]["state"],
        "on_hold"
    );
    assert_eq!(
        trail[0].after.as_ref().unwrap()["state"]["state"],
        "pending"
    );
    w.clock.set(datetime!(2026-03-02 08:00 UTC));
    let february = w.close("2026-02").await;
    assert_eq!(february.item_count, 1);
    assert_eq!(february.total, usd(6_000));
    let paid = stored(&w, &own).await;
    assert!(matches!(paid.state, CommissionState::Finalized { .. }));
    assert!(paid.payout_item_id.is_some());
    // The other is still held and still unpaid.
    assert_eq!(
        held_for(&stored(&w, &colleague).await),
        Some(OnHoldReason::SelfReferral)
    );
    w.assert_ledger().await;
}

/// Scenario: an operator holds a pending commission by hand and rejects it:
/// it is voided (`rejected`, amount 0) and never paid. Decisions are
/// compare-and-set transitions: a reject again is a replay, a release of a
/// rejected or a hold of a finalized commission is refused, and another
/// merchant's commission is not found.
pub async fn a_manual_hold_is_rejected_and_never_paid<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    let c = sale_by(&w, "alice", "o1", 30_000, Some("carol@gmail.com")).await;
    let kept = sale_by(&w, "alice", "o2", 30_000, None).await;
    assert_eq!(c.state, CommissionState::Pending);

    let held = decide(&w, &c, HoldDecision::Hold).await.unwrap();
    assert_eq!(held_for(&held), Some(OnHoldReason::Manual));
    w.assert_ledger().await;
    // Holding again changes nothing (the first instant stands).
    w.clock.advance(time::Duration::hours(1));
    assert_eq!(decide(&w, &c, HoldDecision::Hold).await.unwrap(), held);
    // Another merchant cannot see it.
    let other = MerchantId::parse("merchant_other").unwrap();
    assert!(matches!(
        w.engine
            .decide_hold(
                Some(&other),
                c.id,
                HoldDecision::Reject,
                &crate::testkit::fixtures::operator(),
            )
            .await,
        Err(DomainError::NotFound { .. })
    ));

    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let january = w.close("2026-01").await;
    assert_eq!(january.total, usd(6_000));
    assert_eq!(held_for(&stored(&w, &c).await), Some(OnHoldReason::Manual));

    let rejected = decide(&w, &c, HoldDecision::Reject).await.unwrap();
    assert!(matches!(
        rejected.state,
        CommissionState::Voided {
            reason: ChangeReason::Rejected,
            ..
        }
    ));
    assert!(rejected.amount.is_zero());
    assert_eq!(rejected.original_amount, usd(6_000));
    assert_eq!(stored(&w, &c).await, rejected);
    w.assert_ledger().await;
    // A replay of the reject changes nothing; a release is refused.
    assert_eq!(
        decide(&w, &c, HoldDecision::Reject).await.unwrap(),
        rejected
    );
    assert!(matches!(
        decide(&w, &c, HoldDecision::Release).await,
        Err(DomainError::Transition(_))
    ));
    // A finalized commission cannot be held or rejected.
    let finalized = stored(&w, &kept).await;
    assert!(matches!(finalized.state, CommissionState::Finalized { .. }));
    for decision in [HoldDecision::Hold, HoldDecision::Reject] {
        assert!(matches!(
            decide(&w, &finalized, decision).await,
            Err(DomainError::Transition(_))
        ));
    }
    assert_eq!(stored(&w, &kept).await, finalized);

    // Nothing more to pay in February: the rejected commission never is.
    w.clock.set(datetime!(2026-03-02 08:00 UTC));
    let february = w.close("2026-02").await;
    assert_eq!(february.item_count, 0);
    assert_eq!(stored(&w, &c).await, rejected);
}

/// Scenario: refunds and cancellations of a held commission act as on a
/// pending one: a partial refund shrinks it and it stays held; a full
/// refund or a cancellation voids it.
pub async fn refunds_and_cancellations_of_a_held_commission<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    let a = sale_by(&w, "alice", "o1", 10_000, Some("alice@example.com")).await;
    let b = sale_by(&w, "alice", "o2", 10_000, Some("alice@example.com")).await;
    let merchant = w.merchant.clone();
    let o1 = ExternalId::parse("o1").unwrap();

    let changed = w
        .engine
        .record_refund(&merchant, &o1, usd(2_500))
        .await
        .unwrap();
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].amount, usd(1_500));
    assert_eq!(changed[0].state, a.state);
    assert_eq!(stored(&w, &a).await, changed[0]);
    w.assert_ledger().await;

    let changed = w
        .engine
        .record_refund(&merchant, &o1, usd(10_000))
        .await
        .unwrap();
    assert!(matches!(
        changed[0].state,
        CommissionState::Voided {
            reason: ChangeReason::Refund,
            ..
        }
    ));
    w.assert_ledger().await;

    let changed = w
        .engine
        .cancel_conversion(&merchant, &ExternalId::parse("o2").unwrap())
        .await
        .unwrap();
    assert!(matches!(
        changed[0].state,
        CommissionState::Voided {
            reason: ChangeReason::Cancellation,
            ..
        }
    ));
    assert_eq!(stored(&w, &b).await, changed[0]);
    // Neither can be released any more.
    assert!(matches!(
        decide(&w, &b, HoldDecision::Release).await,
        Err(DomainError::Transition(_))
    ));
    let holds = w
        .engine
        .holds(&w.merchant, None, PageRequest::first(10))
        .await
        .unwrap();
    assert!(holds.data.is_empty());
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let january = w.close("2026-01").await;
    assert_eq!(january.item_count, 0);
}

/// Scenario: two partners of the merchant turn out to pay out to one bank
/// account (the same Stripe fingerprint). When the second one's account is
/// read, the pending commissions of both are held `duplicate_account`, and
/// their new commissions are held when recorded; a third partner with
/// another bank account is untouched. An operator's release stands: the
/// unchanged fingerprint does not hold it again.
pub async fn a_shared_bank_account_holds_both_partners<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    let alice = w.partner("alice").await;
    let bob = w.partner("bob").await;
    let carol = w.partner("carol").await;
    let a1 = sale_by(&w, "alice", "o1", 30_000, None).await;
    let b1 = sale_by(&w, "bob", "o2", 30_000, None).await;
    let c1 = sale_by(&w, "carol", "o3", 30_000, None).await;
    let stripe = w.engine.gateway();
    let account = |m: &crate::partner::Membership| m.account_id.clone().unwrap();

    // Alice's bank account alone: nothing shared.
    stripe.set_bank_account(&account(&alice), "fp_shared");
    stripe.set_bank_account(&account(&carol), "fp_carol");
    let alice = w.engine.refresh_onboarding(alice.id).await.unwrap();
    assert_eq!(alice.bank_fingerprint.as_deref(), Some("fp_shared"));
    w.engine.refresh_onboarding(carol.id).await.unwrap();
    assert_eq!(stored(&w, &a1).await.state, CommissionState::Pending);
    w.assert_ledger().await;

    // Bob adds the same bank account; Stripe sends `account.updated`.
    stripe.set_bank_account(&account(&bob), "fp_shared");
    let snapshot = stripe.account_snapshot(&account(&bob)).await.unwrap();
    w.engine.apply_account_update(&snapshot).await.unwrap();
    let bob = w.engine.membership(bob.id).await.unwrap();
    assert_eq!(bob.bank_fingerprint.as_deref(), Some("fp_shared"));
    for c in [&a1, &b1] {
        assert_eq!(
            held_for(&stored(&w, c).await),
            Some(OnHoldReason::DuplicateAccount)
        );
    }
    assert_eq!(stored(&w, &c1).await.state, CommissionState::Pending);
    w.assert_ledger().await;

    // New commissions of either are held; carol's are not.
    let a2 = sale_by(&w, "alice", "o4", 30_000, None).await;
    let c2 = sale_by(&w, "carol", "o5", 30_000, None).await;
    assert_eq!(held_for(&a2), Some(OnHoldReason::DuplicateAccount));
    assert_eq!(c2.state, CommissionState::Pending);
    // A self-referral is named as such even then.
    let a3 = sale_by(&w, "alice", "o6", 30_000, Some("alice@example.com")).await;
    assert_eq!(held_for(&a3), Some(OnHoldReason::SelfReferral));
    let duplicates = w
        .engine
        .holds(
            &w.merchant,
            Some(OnHoldReason::DuplicateAccount),
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert_eq!(duplicates.data.len(), 3);

    // The operator clears bob; a later refresh with the same fingerprint
    // leaves the release standing.
    decide(&w, &b1, HoldDecision::Release).await.unwrap();
    w.engine.refresh_onboarding(bob.id).await.unwrap();
    assert_eq!(stored(&w, &b1).await.state, CommissionState::Pending);

    // February: carol's two and bob's released one are paid; alice's wait.
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let january = w.close("2026-01").await;
    assert_eq!(january.item_count, 2);
    assert_eq!(january.total, usd(18_000));
    for c in [&a1, &a2, &a3] {
        assert!(held_for(&stored(&w, c).await).is_some());
    }
    w.assert_ledger().await;
}
