//! Stripe webhook events end to end: each kind reaches its use case once,
//! a failed event is released for redelivery. Same worlds as the scenarios.

use time::Duration;
use time::macros::datetime;

use super::scenarios::World;
use crate::commission::{AttributedBy, CommissionState};
use crate::engine::{AccountSnapshot, EventOutcome};
use crate::error::DomainError;
use crate::events::{DisputeRecord, EventKind, InboundEvent, PromotionCodeSale};
use crate::ids::{
    AccountId, CouponCode, DisputeId, EventId, ExternalId, PaymentIntentId, PromotionCodeId,
    StripePayoutId, TransferId,
};
use crate::item::ItemState;
use crate::partner::{CapabilityStatus, Coupon};
use crate::ports::{BankPayout, Clock, PayoutStore};
use crate::program::{CouponSyncMode, PayoutPolicy, ProgramStatus};
use crate::{Currency, Money};

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// `evt_{n}` of `event_type` from `account`, created now.
fn event<S: PayoutStore + Clone>(
    w: &World<S>,
    n: u32,
    event_type: &str,
    account: Option<&AccountId>,
    kind: EventKind,
) -> InboundEvent {
    InboundEvent {
        id: EventId::parse(format!("evt_{n}")).unwrap(),
        event_type: event_type.into(),
        account: account.cloned(),
        created: w.clock.now(),
        livemode: false,
        kind,
    }
}

fn applied(action: &'static str) -> EventOutcome {
    EventOutcome::Applied { action }
}

fn is_ignored(outcome: &EventOutcome) -> bool {
    matches!(outcome, EventOutcome::Ignored { .. })
}

/// A `stripe`-mode program whose partner alice holds `ALICE10`, synced to a
/// Stripe Promotion Code.
async fn synced_coupon<S: PayoutStore + Clone>(w: &World<S>) -> Coupon {
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
    w.engine
        .assign_coupon(
            alice.id,
            CouponCode::parse("ALICE10").unwrap(),
            Some("coupon_10off"),
        )
        .await
        .unwrap()
}

fn sale(external: &str, promo: &PromotionCodeId, amount_minor: i64) -> EventKind {
    EventKind::PromotionCodeSale(PromotionCodeSale {
        external_id: external.into(),
        promotion_code: promo.clone(),
        amount: usd(amount_minor),
        customer: Some("cus_1".into()),
        payment_intent: Some(PaymentIntentId::parse(format!("pi_{external}")).unwrap()),
    })
}

/// Scenario: promotion-code sales, refunds and promotion-code updates reach
/// their use cases once, however often they are delivered.
pub async fn sales_refunds_and_codes_arrive_as_events_and_act_once<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    let coupon = synced_coupon(&w).await;
    let promo = coupon.promotion_code_id.clone().unwrap();
    let merchant_account = Some(&w.merchant_account);
    let store = w.engine.store();

    // A checkout paid with the code: a conversion attributed to the coupon.
    let paid = event(
        &w,
        1,
        "checkout.session.completed",
        merchant_account,
        sale("cs_1", &promo, 10_000),
    );
    assert_eq!(
        w.engine.handle_event(&paid).await.unwrap(),
        applied("conversion_recorded")
    );
    let external = ExternalId::parse("cs_1").unwrap();
    let conversion = store
        .conversion_by_external_id(&w.merchant, &external)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        conversion.attributed_by,
        AttributedBy::Coupon(coupon.code.clone())
    );
    assert_eq!(conversion.membership_id, coupon.membership_id);
    assert_eq!(conversion.amount, usd(10_000));
    assert_eq!(conversion.occurred_at, paid.created);
    assert_eq!(conversion.payment_ref.as_deref(), Some("pi_cs_1"));
    assert_eq!(conversion.customer_ref.as_deref(), Some("cus_1"));
    let commissions = store
        .commissions_of_conversion(conversion.id)
        .await
        .unwrap();
    assert_eq!(commissions.len(), 1);
    assert_eq!(commissions[0].amount, usd(2_000));

    // Redelivered: acknowledged as a duplicate, nothing recorded twice.
    assert_eq!(
        w.engine.handle_event(&paid).await.unwrap(),
        EventOutcome::Duplicate
    );
    assert_eq!(
        store
            .commissions_of_conversion(conversion.id)
            .await
            .unwrap(),
        commissions
    );
    // The same sale under another event id (say `invoice.paid`): the
    // conversion's external id keeps it single.
    let twin = InboundEvent {
        id: EventId::parse("evt_1b").unwrap(),
        ..paid.clone()
    };
    assert!(is_ignored(&w.engine.handle_event(&twin).await.unwrap()));

    // A code nobody holds, and a code reported by another account.
    let unknown = PromotionCodeId::parse("promo_unknown").unwrap();
    let stranger = event(
        &w,
        2,
        "checkout.session.completed",
        merchant_account,
        sale("cs_2", &unknown, 5_000),
    );
    assert!(is_ignored(&w.engine.handle_event(&stranger).await.unwrap()));
    let other_account = AccountId::parse("acct_someoneelse").unwrap();
    let foreign = event(
        &w,
        3,
        "checkout.session.completed",
        Some(&other_account),
        sale("cs_3", &promo, 5_000),
    );
    assert!(is_ignored(&w.engine.handle_event(&foreign).await.unwrap()));
    assert_eq!(
        store
            .conversion_by_external_id(&w.merchant, &ExternalId::parse("cs_3").unwrap())
            .await
            .unwrap(),
        None
    );

    // `charge.refunded`, found by its payment intent: the commission shrinks.
    let refund = |n, pi: Option<&str>, charge: &str, minor| {
        event(
            &w,
            n,
            "charge.refunded",
            merchant_account,
            EventKind::ChargeRefunded {
                payment_intent: pi.map(|p| PaymentIntentId::parse(p).unwrap()),
                charge: charge.into(),
                amount_refunded: usd(minor),
            },
        )
    };
    let partial = refund(4, Some("pi_cs_1"), "ch_1", 2_500);
    assert_eq!(
        w.engine.handle_event(&partial).await.unwrap(),
        applied("refund_recorded")
    );
    assert_eq!(
        w.engine.handle_event(&partial).await.unwrap(),
        EventOutcome::Duplicate
    );
    let refunded = store.conversion(conversion.id).await.unwrap().unwrap();
    assert_eq!(refunded.refunded, usd(2_500));
    let reduced = store.commission(commissions[0].id).await.unwrap().unwrap();
    assert_eq!(reduced.amount, usd(1_500));
    assert_eq!(reduced.state, CommissionState::Pending);
    // A refund of a sale no partner referred, by payment intent or charge.
    let unreferred = refund(5, Some("pi_nobody"), "ch_nobody", 1_000);
    assert!(is_ignored(
        &w.engine.handle_event(&unreferred).await.unwrap()
    ));
    let charge_only = refund(6, None, "ch_nobody", 1_000);
    assert!(is_ignored(
        &w.engine.handle_event(&charge_only).await.unwrap()
    ));
    // A refund on an account that is not a merchant's.
    let elsewhere = InboundEvent {
        account: Some(other_account.clone()),
        ..refund(7, Some("pi_cs_1"), "ch_1", 10_000)
    };
    assert!(is_ignored(
        &w.engine.handle_event(&elsewhere).await.unwrap()
    ));
    assert_eq!(
        store
            .conversion(conversion.id)
            .await
            .unwrap()
            .unwrap()
            .refunded,
        usd(2_500)
    );

    // `promotion_code.updated`: the coupon follows the code's active flag.
    let code_update = |n, active| {
        event(
            &w,
            n,
            "promotion_code.updated",
            merchant_account,
            EventKind::PromotionCodeUpdated {
                promotion_code: promo.clone(),
                active,
            },
        )
    };
    assert_eq!(
        w.engine.handle_event(&code_update(8, false)).await.unwrap(),
        applied("coupon_activation_updated")
    );
    let stored = store
        .coupon(&w.merchant, &coupon.code)
        .await
        .unwrap()
        .unwrap();
    assert!(!stored.active);
    assert!(is_ignored(
        &w.engine.handle_event(&code_update(9, false)).await.unwrap()
    ));
    let unknown_code = event(
        &w,
        10,
        "promotion_code.updated",
        merchant_account,
        EventKind::PromotionCodeUpdated {
            promotion_code: unknown,
            active: true,
        },
    );
    assert!(is_ignored(
        &w.engine.handle_event(&unknown_code).await.unwrap()
    ));

    // A program that does not sync codes from Stripe ignores its sales.
    let mut settings = w.program.settings();
    settings.coupon_sync = CouponSyncMode::Manual;
    w.engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(
        w.engine.handle_event(&code_update(11, true)).await.unwrap(),
        applied("coupon_activation_updated")
    );
    let manual = event(
        &w,
        12,
        "checkout.session.completed",
        merchant_account,
        sale("cs_12", &promo, 5_000),
    );
    assert!(is_ignored(&w.engine.handle_event(&manual).await.unwrap()));
    assert_eq!(
        store
            .conversion_by_external_id(&w.merchant, &ExternalId::parse("cs_12").unwrap())
            .await
            .unwrap(),
        None
    );
    w.assert_ledger().await;
}

/// Scenario: account, payout, dispute and transfer events reach their use
/// cases; types the rules do not use are acknowledged.
pub async fn account_payout_dispute_and_transfer_events<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    let alice = w.partner("alice").await;
    let alice_account = alice.account_id.clone().unwrap();
    let merchant_account = Some(&w.merchant_account);
    let store = w.engine.store();

    // `account.updated` on the partner's Express account: onboarding state,
    // as Stripe holds the account when the event is handled.
    let restricted_account = AccountSnapshot {
        account_id: alice_account.clone(),
        details_submitted: true,
        charges_enabled: false,
        payouts_enabled: false,
        transfers: CapabilityStatus::Pending,
        disabled_reason: None,
        past_due: true,
    };
    w.engine.gateway().set_account(restricted_account.clone());
    let restricted = event(
        &w,
        1,
        "account.updated",
        Some(&alice_account),
        EventKind::AccountUpdated(restricted_account),
    );
    assert_eq!(
        w.engine.handle_event(&restricted).await.unwrap(),
        applied("account_updated")
    );
    let member = store.membership(alice.id).await.unwrap().unwrap();
    assert!(!member.onboarding.payouts_enabled);
    assert_eq!(member.onboarding.transfers, CapabilityStatus::Pending);
    let healthy_now = healthy_account(alice_account.clone());
    w.engine.gateway().set_account(healthy_now.clone());
    let healthy = event(
        &w,
        2,
        "account.updated",
        Some(&alice_account),
        EventKind::AccountUpdated(healthy_now),
    );
    w.engine.handle_event(&healthy).await.unwrap();
    assert!(
        store
            .membership(alice.id)
            .await
            .unwrap()
            .unwrap()
            .can_receive_transfers()
    );
    // Stripe does not deliver events in order: the older, restricted event
    // arriving last leaves the account as Stripe holds it now.
    let late = event(
        &w,
        40,
        "account.updated",
        Some(&alice_account),
        EventKind::AccountUpdated(disabled_account(
            alice_account.clone(),
            "requirements.past_due",
            true,
        )),
    );
    assert_eq!(
        w.engine.handle_event(&late).await.unwrap(),
        applied("account_updated")
    );
    assert!(
        store
            .membership(alice.id)
            .await
            .unwrap()
            .unwrap()
            .can_receive_transfers(),
        "a late, older event must not undo Stripe's current state"
    );
    // The same for the merchant's own account: an older `disabled` event
    // after the newer healthy one leaves the connection usable.
    let disabled_merchant = event(
        &w,
        41,
        "account.updated",
        merchant_account,
        EventKind::AccountUpdated(disabled_account(
            w.merchant_account.clone(),
            "rejected.other",
            false,
        )),
    );
    assert_eq!(
        w.engine.handle_event(&disabled_merchant).await.unwrap(),
        applied("account_updated")
    );
    let connection = w.engine.connection(&w.merchant).await.unwrap().unwrap();
    assert!(
        connection.status.can_transfer(),
        "the connection follows Stripe's account, not the late event: {:?}",
        connection.status
    );
    // And when Stripe really disabled it, whichever event comes.
    w.engine.gateway().set_account(disabled_account(
        w.merchant_account.clone(),
        "rejected.other",
        false,
    ));
    let stale_healthy = event(
        &w,
        42,
        "account.updated",
        merchant_account,
        EventKind::AccountUpdated(healthy_account(w.merchant_account.clone())),
    );
    w.engine.handle_event(&stale_healthy).await.unwrap();
    let connection = w.engine.connection(&w.merchant).await.unwrap().unwrap();
    assert!(!connection.status.can_transfer(), "{:?}", connection.status);
    w.engine
        .gateway()
        .set_account(healthy_account(w.merchant_account.clone()));
    let enabled_again = event(
        &w,
        43,
        "account.updated",
        merchant_account,
        EventKind::AccountUpdated(healthy_account(w.merchant_account.clone())),
    );
    w.engine.handle_event(&enabled_again).await.unwrap();
    assert!(
        w.engine
            .connection(&w.merchant)
            .await
            .unwrap()
            .unwrap()
            .status
            .can_transfer()
    );
    // An account that is neither a merchant's nor a partner's here is
    // ignored, without asking Stripe.
    let stranger = AccountId::parse("acct_stranger").unwrap();
    let unknown = event(
        &w,
        44,
        "account.updated",
        Some(&stranger),
        EventKind::AccountUpdated(healthy_account(stranger.clone())),
    );
    assert!(is_ignored(&w.engine.handle_event(&unknown).await.unwrap()));

    // `payout.paid` on the partner's account: the bank payout history.
    let bank_payout = BankPayout {
        payout_id: StripePayoutId::parse("po_1").unwrap(),
        account_id: alice_account.clone(),
        amount: usd(12_000),
        status: "paid".into(),
        failure_code: None,
        arrival_date: Some(datetime!(2026-01-07 00:00 UTC)),
        updated_at: w.clock.now(),
    };
    let payout = event(
        &w,
        3,
        "payout.paid",
        Some(&alice_account),
        EventKind::Payout(bank_payout.clone()),
    );
    assert_eq!(
        w.engine.handle_event(&payout).await.unwrap(),
        applied("bank_payout_recorded")
    );
    assert_eq!(
        store.bank_payouts(&alice_account).await.unwrap(),
        vec![bank_payout.clone()]
    );
    // An account that is no partner's, or a negative amount: ignored, and
    // nothing recorded.
    let stranger = AccountId::parse("acct_stranger").unwrap();
    let unknown = event(
        &w,
        30,
        "payout.paid",
        Some(&stranger),
        EventKind::Payout(BankPayout {
            payout_id: StripePayoutId::parse("po_2").unwrap(),
            account_id: stranger.clone(),
            ..bank_payout.clone()
        }),
    );
    assert!(matches!(
        w.engine.handle_event(&unknown).await.unwrap(),
        EventOutcome::Ignored { .. }
    ));
    assert!(store.bank_payouts(&stranger).await.unwrap().is_empty());
    let negative = event(
        &w,
        31,
        "payout.paid",
        Some(&alice_account),
        EventKind::Payout(BankPayout {
            payout_id: StripePayoutId::parse("po_3").unwrap(),
            amount: Money::new(-5, Currency::USD),
            ..bank_payout.clone()
        }),
    );
    assert!(matches!(
        w.engine.handle_event(&negative).await.unwrap(),
        EventOutcome::Ignored { .. }
    ));
    assert_eq!(
        store.bank_payouts(&alice_account).await.unwrap(),
        vec![bank_payout]
    );

    // `charge.dispute.*`: one record per dispute, its newest status.
    let dispute = |n, status: &str| {
        event(
            &w,
            n,
            "charge.dispute.updated",
            merchant_account,
            EventKind::Dispute(DisputeRecord {
                dispute_id: DisputeId::parse("dp_1").unwrap(),
                payment_intent: Some(PaymentIntentId::parse("pi_1").unwrap()),
                amount: usd(5_000),
                reason: "fraudulent".into(),
                status: status.into(),
                evidence_due_by: None,
            }),
        )
    };
    let opened = dispute(4, "needs_response");
    assert_eq!(
        w.engine.handle_event(&opened).await.unwrap(),
        applied("dispute_recorded")
    );
    w.clock.advance(Duration::hours(1));
    assert_eq!(
        w.engine
            .handle_event(&dispute(5, "under_review"))
            .await
            .unwrap(),
        applied("dispute_recorded")
    );
    // A late delivery of an older event does not undo the newer status.
    let late = InboundEvent {
        id: EventId::parse("evt_4late").unwrap(),
        ..opened
    };
    assert!(is_ignored(&w.engine.handle_event(&late).await.unwrap()));
    let disputes = store.disputes(10).await.unwrap();
    assert_eq!(disputes.len(), 1);
    assert_eq!(disputes[0].dispute.status, "under_review");
    assert_eq!(disputes[0].account_id.as_ref(), merchant_account);

    // `transfer.reversed`: the item's cumulative reversal.
    w.sale("alice", "big", 400_000).await; // $800 commission
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let batch = w.close("2026-01").await;
    w.engine.execute_batch(batch.id).await.unwrap();
    let item = w.items(batch.id).await.remove(0);
    let ItemState::Posted { transfer_id, .. } = item.state.clone() else {
        panic!("the item was not paid: {:?}", item.state);
    };
    let reversed = event(
        &w,
        6,
        "transfer.reversed",
        None,
        EventKind::TransferReversed {
            transfer_id: transfer_id.clone(),
            amount_reversed: usd(30_000),
        },
    );
    assert_eq!(
        w.engine.handle_event(&reversed).await.unwrap(),
        applied("transfer_reversal_recorded")
    );
    assert!(matches!(
        store.item(item.id).await.unwrap().unwrap().state,
        ItemState::Reversed { amount_reversed, .. } if amount_reversed == usd(30_000)
    ));
    let stray = event(
        &w,
        7,
        "transfer.reversed",
        None,
        EventKind::TransferReversed {
            transfer_id: TransferId::parse("tr_stray").unwrap(),
            amount_reversed: usd(100),
        },
    );
    assert!(is_ignored(&w.engine.handle_event(&stray).await.unwrap()));

    // Types that need no action are acknowledged (and recorded).
    let quiet = [
        EventKind::TransferChanged {
            transfer_id: transfer_id.clone(),
        },
        EventKind::PaymentSucceeded {
            payment_intent: PaymentIntentId::parse("pi_9").unwrap(),
            amount: usd(100),
        },
        EventKind::PaymentFailed {
            payment_intent: PaymentIntentId::parse("pi_9").unwrap(),
            code: Some("card_declined".into()),
        },
        EventKind::Ignored,
    ];
    for (n, kind) in (20..).zip(quiet) {
        let e = event(&w, n, "something.else", merchant_account, kind);
        assert!(is_ignored(&w.engine.handle_event(&e).await.unwrap()));
        assert_eq!(
            w.engine.handle_event(&e).await.unwrap(),
            EventOutcome::Duplicate
        );
    }

    // `account.application.deauthorized` from the merchant: probation.
    let deauthorized = event(
        &w,
        8,
        "account.application.deauthorized",
        merchant_account,
        EventKind::AccountDeauthorized,
    );
    assert_eq!(
        w.engine.handle_event(&deauthorized).await.unwrap(),
        applied("account_deauthorized")
    );
    assert_eq!(
        w.engine.program(w.program.id).await.unwrap().status,
        ProgramStatus::Probation {
            until: deauthorized.created + Duration::days(7)
        }
    );
    let nobody = event(
        &w,
        9,
        "account.application.deauthorized",
        Some(&AccountId::parse("acct_nobody").unwrap()),
        EventKind::AccountDeauthorized,
    );
    assert!(is_ignored(&w.engine.handle_event(&nobody).await.unwrap()));
    let no_account = event(
        &w,
        10,
        "account.application.deauthorized",
        None,
        EventKind::AccountDeauthorized,
    );
    assert!(is_ignored(
        &w.engine.handle_event(&no_account).await.unwrap()
    ));
    w.assert_ledger().await;
}

/// Scenario: an event whose action fails is released, so that Stripe's
/// redelivery processes it once the cause is gone.
pub async fn a_failed_event_is_released_for_redelivery<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    let coupon = synced_coupon(&w).await;
    let promo = coupon.promotion_code_id.clone().unwrap();
    let merchant_account = Some(&w.merchant_account);
    let store = w.engine.store();
    let code_update = |n, active| {
        event(
            &w,
            n,
            "promotion_code.updated",
            merchant_account,
            EventKind::PromotionCodeUpdated {
                promotion_code: promo.clone(),
                active,
            },
        )
    };
    w.engine.handle_event(&code_update(1, false)).await.unwrap();

    // A sale with the code while the coupon is inactive here (the
    // reactivation event is late): no partner to attribute it to.
    let paid = event(
        &w,
        2,
        "checkout.session.completed",
        merchant_account,
        sale("cs_1", &promo, 10_000),
    );
    assert!(matches!(
        w.engine.handle_event(&paid).await,
        Err(DomainError::Validation { .. })
    ));
    // Released: the redelivery is processed again, not a duplicate.
    assert!(matches!(
        w.engine.handle_event(&paid).await,
        Err(DomainError::Validation { .. })
    ));

    // The late reactivation arrives; the next redelivery succeeds, once.
    w.engine.handle_event(&code_update(3, true)).await.unwrap();
    assert_eq!(
        w.engine.handle_event(&paid).await.unwrap(),
        applied("conversion_recorded")
    );
    assert_eq!(
        w.engine.handle_event(&paid).await.unwrap(),
        EventOutcome::Duplicate
    );

    // A refund above the sale is refused, released, and changes nothing.
    let too_much = event(
        &w,
        4,
        "charge.refunded",
        merchant_account,
        EventKind::ChargeRefunded {
            payment_intent: Some(PaymentIntentId::parse("pi_cs_1").unwrap()),
            charge: "ch_1".into(),
            amount_refunded: usd(10_001),
        },
    );
    for _ in 0..2 {
        assert!(matches!(
            w.engine.handle_event(&too_much).await,
            Err(DomainError::Validation { .. })
        ));
    }
    assert!(
        store
            .record_event(&too_much.id, w.clock.now())
            .await
            .unwrap(),
        "the failed event is not left recorded"
    );
    let conversion = store
        .conversion_by_external_id(&w.merchant, &ExternalId::parse("cs_1").unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(conversion.refunded, usd(0));
    w.assert_ledger().await;
}

/// An account as Stripe shows it in good standing.
fn healthy_account(account_id: AccountId) -> AccountSnapshot {
    AccountSnapshot {
        account_id,
        details_submitted: true,
        charges_enabled: true,
        payouts_enabled: true,
        transfers: CapabilityStatus::Active,
        disabled_reason: None,
        past_due: false,
    }
}

/// An account Stripe disabled for `reason`.
fn disabled_account(account_id: AccountId, reason: &str, past_due: bool) -> AccountSnapshot {
    AccountSnapshot {
        account_id,
        details_submitted: true,
        charges_enabled: false,
        payouts_enabled: false,
        transfers: CapabilityStatus::Inactive,
        disabled_reason: Some(reason.into()),
        past_due,
    }
}
