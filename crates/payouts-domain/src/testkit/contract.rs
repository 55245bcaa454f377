//! The store contract: what every implementation of the store ports must
//! do, case by case. Each case takes a fresh, empty store.

use rust_decimal::Decimal;
use time::Duration;

use super::fixtures::*;
use crate::batch::BatchState;
use crate::commission::{CommissionState, Conversion};
use crate::connection::ConnectionStatus;
use crate::error::StoreError;
use crate::events::DisputeRecord;
use crate::fees::{FeeRate, FeeSchedule, FeeTier, MerchantOverride};
use crate::ids::{
    CouponCode, DisputeId, EventId, ExternalId, PaymentIntentId, PromotionCodeId, StripePayoutId,
    TransferId, WorkerId,
};
use crate::item::{Failure, ItemEvent, ItemState, Lease, PayoutItem};
use crate::money::{Currency, Money, Percent, Rounding};
use crate::partner::Coupon;
use crate::period::Period;
use crate::ports::{
    BankPayout, CommissionFilter, FailureKind, ItemChange, PageRequest, PayoutStore, StateTotal,
    StoredDispute,
};
use crate::program::{HoldReason, ProgramStatus};

fn is_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Conflict { .. }))
}

fn is_duplicate<T: std::fmt::Debug>(r: Result<T, StoreError>) -> bool {
    matches!(r, Err(StoreError::Duplicate { .. }))
}

/// Saving a connection is compare-and-set on its status; an account belongs
/// to one merchant.
pub async fn connections_compare_and_set<S: PayoutStore>(s: S) {
    let c = connection(merchant(1), account(1));
    s.save_connection(&c, None).await.unwrap();
    assert!(
        is_conflict(s.save_connection(&c, None).await),
        "insert over an existing row"
    );
    let mut revoked = c.clone();
    revoked.status = ConnectionStatus::Revoked;
    revoked.revoked_at = Some(T0);
    assert!(is_conflict(
        s.save_connection(&revoked, Some(ConnectionStatus::Restricted))
            .await
    ));
    s.save_connection(&revoked, Some(ConnectionStatus::Connected))
        .await
        .unwrap();
    assert_eq!(
        s.connection(&merchant(1)).await.unwrap(),
        Some(revoked.clone())
    );
    assert_eq!(
        s.connection_by_account(&account(1)).await.unwrap(),
        Some(revoked)
    );
    assert_eq!(s.connection(&merchant(2)).await.unwrap(), None);
    let thief = connection(merchant(2), account(1));
    assert!(
        is_duplicate(s.save_connection(&thief, None).await),
        "an account belongs to one merchant"
    );
}

/// OAuth state tokens are unique and can be consumed once.
pub async fn oauth_states_are_single_use<S: PayoutStore>(s: S) {
    let st = oauth_state(1, merchant(1));
    s.insert_oauth_state(&st).await.unwrap();
    assert!(is_duplicate(s.insert_oauth_state(&st).await));
    assert_eq!(s.oauth_state(&st.token).await.unwrap(), Some(st.clone()));
    s.consume_oauth_state(&st.token, T0 + Duration::minutes(1))
        .await
        .unwrap();
    assert!(is_conflict(
        s.consume_oauth_state(&st.token, T0 + Duration::minutes(2))
            .await
    ));
    let used = s.oauth_state(&st.token).await.unwrap().unwrap();
    assert_eq!(used.used_at, Some(T0 + Duration::minutes(1)));
    let unknown = oauth_state(2, merchant(1));
    assert!(matches!(
        s.consume_oauth_state(&unknown.token, T0).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Programs round-trip; status and hold changes are compare-and-set.
pub async fn programs_compare_and_set<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    assert!(is_duplicate(s.insert_program(&p).await));
    s.insert_program(&program(2, merchant(2))).await.unwrap();
    assert_eq!(s.program(p.id).await.unwrap(), Some(p.clone()));
    assert_eq!(s.programs_of(&merchant(1)).await.unwrap(), vec![p.clone()]);

    let until = T0 + Duration::days(7);
    let mut on = p.clone();
    on.status = ProgramStatus::Probation { until };
    assert!(is_conflict(
        s.update_program(&on, &ProgramStatus::Archived, None).await
    ));
    assert!(is_conflict(
        s.update_program(&on, &ProgramStatus::Active, Some(HoldReason::Operator))
            .await
    ));
    s.update_program(&on, &ProgramStatus::Active, None)
        .await
        .unwrap();
    assert_eq!(s.program(p.id).await.unwrap().unwrap().status, on.status);
    assert!(
        s.probation_expired(until - Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(s.probation_expired(until).await.unwrap(), vec![on.clone()]);
    let active: Vec<_> = s
        .active_programs()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.id)
        .collect();
    assert_eq!(active, vec![program(2, merchant(2)).id]);

    let mut held = on.clone();
    held.hold = Some(HoldReason::MerchantAccountInactive);
    s.update_program(&held, &on.status, None).await.unwrap();
    assert_eq!(
        s.program(p.id).await.unwrap().unwrap().hold,
        Some(HoldReason::MerchantAccountInactive)
    );
    let ghost = program(3, merchant(1));
    assert!(matches!(
        s.update_program(&ghost, &ProgramStatus::Active, None).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Referral keys and partners are unique within a program.
pub async fn memberships_are_unique_per_program<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    let q = program(2, merchant(1));
    s.insert_program(&p).await.unwrap();
    s.insert_program(&q).await.unwrap();
    let alice = membership(10, &p, "alice");
    s.insert_membership(&alice).await.unwrap();
    let mut same_key = membership(11, &p, "alice");
    same_key.account_id = None;
    assert!(is_duplicate(s.insert_membership(&same_key).await));
    let mut same_partner = membership(12, &p, "alice2");
    same_partner.partner_id = alice.partner_id;
    assert!(is_duplicate(s.insert_membership(&same_partner).await));
    let mut elsewhere = membership(13, &q, "alice");
    elsewhere.partner_id = alice.partner_id;
    s.insert_membership(&elsewhere).await.unwrap();

    assert_eq!(s.membership(alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        s.membership_by_referral(p.id, &alice.referral_key)
            .await
            .unwrap(),
        Some(alice.clone())
    );
    assert_eq!(s.memberships_of(p.id).await.unwrap(), vec![alice.clone()]);
    assert_eq!(
        s.memberships_of_partner(alice.partner_id)
            .await
            .unwrap()
            .len(),
        2
    );

    let mut moved = alice.clone();
    moved.account_id = Some(account(77));
    moved.onboarding.payouts_enabled = false;
    s.update_membership(&moved).await.unwrap();
    assert_eq!(
        s.memberships_by_account(&account(77)).await.unwrap(),
        vec![moved.clone()]
    );
    assert_eq!(s.membership(alice.id).await.unwrap(), Some(moved));
}

/// Coupon codes are unique per merchant regardless of case.
pub async fn coupons_are_unique_per_merchant_ignoring_case<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let m = membership(10, &p, "sarah");
    s.insert_membership(&m).await.unwrap();
    let coupon = Coupon {
        code: CouponCode::parse("Sarah20").unwrap(),
        merchant_id: merchant(1),
        program_id: p.id,
        membership_id: m.id,
        promotion_code_id: Some(PromotionCodeId::parse("promo_1").unwrap()),
        active: true,
        created_at: T0,
    };
    s.insert_coupon(&coupon).await.unwrap();
    let shout = Coupon {
        code: CouponCode::parse("SARAH20").unwrap(),
        ..coupon.clone()
    };
    assert!(is_duplicate(s.insert_coupon(&shout).await));
    let other_merchant = Coupon {
        merchant_id: merchant(2),
        ..shout.clone()
    };
    s.insert_coupon(&other_merchant).await.unwrap();
    let found = s
        .coupon(&merchant(1), &CouponCode::parse("sarah20").unwrap())
        .await
        .unwrap();
    assert_eq!(found, Some(coupon.clone()));
    let off = Coupon {
        active: false,
        ..coupon
    };
    s.update_coupon(&off).await.unwrap();
    assert!(
        !s.coupon(&merchant(1), &off.code)
            .await
            .unwrap()
            .unwrap()
            .active
    );
    // Listed per membership, inactive ones included, by code.
    let m2 = membership(11, &p, "tom");
    s.insert_membership(&m2).await.unwrap();
    let toms = [
        Coupon {
            code: CouponCode::parse("TOMB").unwrap(),
            membership_id: m2.id,
            promotion_code_id: None,
            ..off.clone()
        },
        Coupon {
            code: CouponCode::parse("toma").unwrap(),
            membership_id: m2.id,
            promotion_code_id: None,
            ..off.clone()
        },
    ];
    for c in &toms {
        s.insert_coupon(c).await.unwrap();
    }
    let listed = s.coupons_of(m2.id).await.unwrap();
    assert_eq!(listed, vec![toms[1].clone(), toms[0].clone()]);
    let sarahs = s.coupons_of(m.id).await.unwrap();
    assert_eq!(sarahs.len(), 2);
    assert!(sarahs.iter().all(|c| c.membership_id == m.id));
    assert!(sarahs.contains(&off));
}

/// Bank payouts are upserted by id and listed per account, newest first.
pub async fn bank_payouts_upsert<S: PayoutStore>(s: S) {
    let mk = |id: &str, status: &str, at| BankPayout {
        payout_id: StripePayoutId::parse(id).unwrap(),
        account_id: account(5),
        amount: usd(12_500),
        status: status.into(),
        failure_code: None,
        arrival_date: Some(T0 + Duration::days(2)),
        updated_at: at,
    };
    s.upsert_bank_payout(&mk("po_1", "in_transit", T0))
        .await
        .unwrap();
    s.upsert_bank_payout(&mk("po_2", "paid", T0 + Duration::hours(1)))
        .await
        .unwrap();
    s.upsert_bank_payout(&mk("po_1", "paid", T0 + Duration::hours(2)))
        .await
        .unwrap();
    let listed = s.bank_payouts(&account(5)).await.unwrap();
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0], mk("po_1", "paid", T0 + Duration::hours(2)));
    assert!(s.bank_payouts(&account(6)).await.unwrap().is_empty());
}

/// A store holds nothing it cannot read back: a conversion in 1900 (its
/// commission's period is unreadable) or beyond 2262 (no `i64` nanosecond)
/// is refused before anything is written, and the merchant's lists still read.
pub async fn unreadable_values_are_refused_before_they_are_written<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let m = membership(10, &p, "alice");
    s.insert_membership(&m).await.unwrap();
    let cases = [
        (100, "old", time::macros::datetime!(1900-01-01 0:00 UTC)),
        (102, "older", time::macros::datetime!(1677-09-01 0:00 UTC)),
        (104, "future", time::macros::datetime!(2300-01-01 0:00 UTC)),
    ];
    for (n, external, at) in cases {
        let c = conversion(n, &m, external, usd(10_000), at);
        let k = commission(n + 1, &c, usd(2_000));
        let refused = s.insert_conversion(&c, Some(&k)).await;
        assert!(
            matches!(refused, Err(StoreError::Unstorable { .. })),
            "{external}: {refused:?}"
        );
        assert_eq!(s.conversion(c.id).await.unwrap(), None, "{external}");
        assert_eq!(s.commission(k.id).await.unwrap(), None, "{external}");
        assert!(matches!(
            s.insert_commission(&k).await,
            Err(StoreError::Unstorable { .. })
        ));
    }
    // Everything the merchant has still reads.
    let mine = CommissionFilter {
        merchant_id: Some(m.merchant_id.clone()),
        ..CommissionFilter::default()
    };
    let page = s
        .list_commissions(&mine, PageRequest::first(100))
        .await
        .unwrap();
    assert!(page.data.is_empty());
    let fine = conversion(110, &m, "fine", usd(10_000), T0);
    let fine_k = commission(111, &fine, usd(2_000));
    s.insert_conversion(&fine, Some(&fine_k)).await.unwrap();
    assert_eq!(s.commission(fine_k.id).await.unwrap(), Some(fine_k));
}

/// No total wraps: sums the store computes (partner balances, the ledger,
/// finalized totals, monthly volume) that would pass `i64` are errors, on
/// every backend, never a wrapped or clamped figure. (The API caps each
/// amount at Stripe's 99,999,999 minor units, so real data stays far below.)
pub async fn sums_that_would_overflow_are_errors<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let m = membership(10, &p, "alice");
    s.insert_membership(&m).await.unwrap();
    let half = i64::MAX / 2 + 1;
    for n in [200, 201] {
        s.insert_commission(&finalized(n, &m, usd(half), "2026-01", T0))
            .await
            .unwrap();
    }
    let period = Period::parse("2026-01").unwrap();
    assert!(
        s.partner_balances(p.id, period, T0 + Duration::days(1))
            .await
            .is_err(),
        "partner balances"
    );
    assert!(s.ledger(p.id).await.is_err(), "ledger");
    assert!(s.finalized_totals(p.id).await.is_err(), "finalized totals");
    for (n, external) in [(300, "big-1"), (302, "big-2")] {
        let c = conversion(n, &m, external, usd(half), T0);
        s.insert_conversion(&c, None).await.unwrap();
    }
    assert!(
        s.monthly_volume(&m.merchant_id, Period::containing(T0), Currency::USD)
            .await
            .is_err(),
        "monthly volume"
    );
}

/// External ids are unique per merchant, and a conversion and its
/// commission are written together or not at all.
pub async fn conversions_are_unique_per_merchant_and_atomic<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let m = membership(10, &p, "alice");
    s.insert_membership(&m).await.unwrap();
    let c = conversion(100, &m, "order-1", usd(10_000), T0);
    let k = commission(200, &c, usd(2_000));
    s.insert_conversion(&c, Some(&k)).await.unwrap();
    let twin = conversion(101, &m, "order-1", usd(10_000), T0);
    let twin_k = commission(201, &twin, usd(2_000));
    assert!(is_duplicate(
        s.insert_conversion(&twin, Some(&twin_k)).await
    ));
    assert_eq!(
        s.commission(twin_k.id).await.unwrap(),
        None,
        "no orphan commission"
    );
    assert_eq!(s.conversion(twin.id).await.unwrap(), None);

    let ext = ExternalId::parse("order-1").unwrap();
    assert_eq!(
        s.conversion_by_external_id(&merchant(1), &ext)
            .await
            .unwrap(),
        Some(c.clone())
    );
    assert_eq!(
        s.conversion_by_external_id(&merchant(2), &ext)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.conversion_by_payment_ref(&merchant(1), "pi_100")
            .await
            .unwrap(),
        Some(c.clone())
    );
    assert_eq!(s.conversion(c.id).await.unwrap(), Some(c.clone()));

    let later = Conversion {
        customer_ref: Some("cus_100".into()),
        ..conversion(102, &m, "order-2", usd(5_000), T0 + Duration::days(40))
    };
    s.insert_conversion(&later, None).await.unwrap();
    assert_eq!(
        s.first_conversion_at(p.id, "cus_100").await.unwrap(),
        Some(T0)
    );
    assert_eq!(
        s.first_conversion_at(p.id, "cus_nobody").await.unwrap(),
        None
    );

    let refunded = Conversion {
        refunded: usd(2_500),
        ..c.clone()
    };
    let stale = |f: fn(&mut Conversion)| {
        let mut other = c.clone();
        f(&mut other);
        other
    };
    assert!(is_conflict(
        s.update_conversion(&refunded, &stale(|o| o.refunded = usd(1)))
            .await
    ));
    assert!(is_conflict(
        s.update_conversion(&refunded, &stale(|o| o.cancelled = true))
            .await
    ));
    assert!(is_conflict(
        s.update_conversion(&refunded, &stale(|o| o.corrections = 1))
            .await
    ));
    s.update_conversion(&refunded, &c).await.unwrap();
    assert_eq!(
        s.conversion(c.id).await.unwrap().unwrap().refunded,
        usd(2_500)
    );

    let jan = Period::parse("2026-01").unwrap();
    assert_eq!(
        s.monthly_volume(&merchant(1), jan, Currency::USD)
            .await
            .unwrap(),
        usd(10_000)
    );
    let feb = Period::parse("2026-02").unwrap();
    assert_eq!(
        s.monthly_volume(&merchant(1), feb, Currency::USD)
            .await
            .unwrap(),
        usd(5_000)
    );
    assert_eq!(
        s.monthly_volume(&merchant(1), jan, Currency::EUR)
            .await
            .unwrap(),
        Money::zero(Currency::EUR)
    );
}

/// Commission updates are compare-and-set on state and amount.
pub async fn commissions_compare_and_set<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let m = membership(10, &p, "alice");
    s.insert_membership(&m).await.unwrap();
    let c = conversion(100, &m, "order-1", usd(10_000), T0);
    let k = commission(200, &c, usd(2_000));
    s.insert_conversion(&c, Some(&k)).await.unwrap();
    assert!(is_duplicate(s.insert_commission(&k).await));
    let mut reduced = k.clone();
    reduced.amount = usd(1_500);
    assert!(is_conflict(
        s.update_commission(&reduced, &CommissionState::Pending, &usd(1_999))
            .await
    ));
    assert!(is_conflict(
        s.update_commission(
            &reduced,
            &CommissionState::Finalized { at: T0 },
            &usd(2_000)
        )
        .await
    ));
    s.update_commission(&reduced, &CommissionState::Pending, &usd(2_000))
        .await
        .unwrap();
    assert_eq!(s.commission(k.id).await.unwrap(), Some(reduced.clone()));
    assert_eq!(
        s.commissions_of_conversion(c.id).await.unwrap(),
        vec![reduced]
    );
}

/// Finalization is one set-based update: only pending rows of the program,
/// of the period or earlier, whose hold has ended.
pub async fn finalize_is_set_based<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    let q = program(2, merchant(1));
    s.insert_program(&p).await.unwrap();
    s.insert_program(&q).await.unwrap();
    let m = membership(10, &p, "alice");
    let n = membership(20, &q, "bob");
    s.insert_membership(&m).await.unwrap();
    s.insert_membership(&n).await.unwrap();
    let dec = time::macros::datetime!(2025-12-20 10:00 UTC);
    let jan = time::macros::datetime!(2026-01-20 10:00 UTC);
    let feb = time::macros::datetime!(2026-02-03 10:00 UTC);
    let rows = [
        (1, &m, dec, "a"),
        (2, &m, jan, "b"),
        (3, &m, feb, "c"),
        (4, &n, jan, "d"),
    ];
    for (i, member, at, ext) in rows {
        let c = conversion(100 + i, member, ext, usd(1_000), at);
        s.insert_conversion(&c, Some(&commission(200 + i, &c, usd(100))))
            .await
            .unwrap();
    }
    let now = time::macros::datetime!(2026-02-10 00:00 UTC); // Dec +30 d passed, Jan 20 + 30 d not yet
    let period = Period::parse("2026-01").unwrap();
    assert_eq!(s.finalize_due(p.id, period, now).await.unwrap(), 1);
    let later = time::macros::datetime!(2026-03-10 00:00 UTC);
    assert_eq!(
        s.finalize_due(p.id, period, later).await.unwrap(),
        1,
        "January, once its hold ended"
    );
    assert_eq!(
        s.finalize_due(p.id, period, later).await.unwrap(),
        0,
        "idempotent"
    );
    let finalized = CommissionFilter {
        state: Some("finalized".into()),
        ..CommissionFilter::default()
    };
    let page = s
        .list_commissions(&finalized, PageRequest::first(10))
        .await
        .unwrap();
    let mut ids: Vec<_> = page.data.iter().map(|c| c.id.as_uuid()).collect();
    ids.sort();
    assert_eq!(ids, vec![uuid(201), uuid(202)]);
    assert!(
        page.data
            .iter()
            .all(|c| matches!(c.state, CommissionState::Finalized { .. }))
    );
}

/// Listing filters and pages by id.
pub async fn commissions_list_with_filters_and_pages<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let a = membership(10, &p, "alice");
    let b = membership(20, &p, "bob");
    s.insert_membership(&a).await.unwrap();
    s.insert_membership(&b).await.unwrap();
    for i in 0..25_u128 {
        let who = if i % 5 == 0 { &b } else { &a };
        let c = conversion(1_000 + i, who, &format!("o{i}"), usd(1_000), T0);
        s.insert_conversion(&c, Some(&commission(2_000 + i, &c, usd(100))))
            .await
            .unwrap();
    }
    let all = CommissionFilter {
        merchant_id: Some(merchant(1)),
        ..CommissionFilter::default()
    };
    let first = s
        .list_commissions(&all, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(first.data.len(), 10);
    assert!(first.has_more);
    let mut seen: Vec<_> = first.data.iter().map(|c| c.id).collect();
    let mut page = PageRequest::first(10);
    page.after = first.data.last().map(|c| c.id.as_uuid());
    loop {
        let next = s.list_commissions(&all, page).await.unwrap();
        seen.extend(next.data.iter().map(|c| c.id));
        if !next.has_more {
            break;
        }
        page.after = next.data.last().map(|c| c.id.as_uuid());
    }
    assert_eq!(seen.len(), 25);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted, seen, "ordered by id without repeats");
    let bobs = CommissionFilter {
        partner_id: Some(b.partner_id),
        period: Some(Period::parse("2026-01").unwrap()),
        ..CommissionFilter::default()
    };
    assert_eq!(
        s.list_commissions(&bobs, PageRequest::first(100))
            .await
            .unwrap()
            .data
            .len(),
        5
    );
    let none = CommissionFilter {
        merchant_id: Some(merchant(9)),
        ..CommissionFilter::default()
    };
    assert!(
        s.list_commissions(&none, PageRequest::first(100))
            .await
            .unwrap()
            .data
            .is_empty()
    );
}

/// Stores a finalized commission together with the conversion it names.
async fn put_finalized<S: PayoutStore>(s: &S, c: &crate::commission::Commission) {
    let member = s.membership(c.membership_id).await.unwrap().unwrap();
    let mut conv = conversion(
        0,
        &member,
        &format!("f-{}", c.id),
        usd(10_000),
        c.period.start(),
    );
    conv.id = c.conversion_id;
    s.insert_conversion(&conv, None).await.unwrap();
    s.insert_commission(c).await.unwrap();
}

async fn seed_finalized<S: PayoutStore>(
    s: &S,
) -> (
    crate::program::Program,
    crate::partner::Membership,
    crate::partner::Membership,
) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let a = membership(10, &p, "alice");
    let b = membership(20, &p, "bob");
    s.insert_membership(&a).await.unwrap();
    s.insert_membership(&b).await.unwrap();
    let at = T0 + Duration::days(30);
    for (id, who, amount, period) in [
        (300, &a, 4_000, "2025-12"),
        (301, &a, 3_000, "2026-01"),
        (302, &a, -500, "2026-01"),
        (303, &b, 2_000, "2026-01"),
        (304, &b, 9_000, "2026-02"),
    ] {
        put_finalized(s, &finalized(id, who, usd(amount), period, at)).await;
    }
    // Finalized after the batch's as_of: not counted.
    put_finalized(
        s,
        &finalized(305, &b, usd(700), "2026-01", T0 + Duration::days(90)),
    )
    .await;
    (p, a, b)
}

/// Balances sum finalized, unlinked rows of the period and earlier,
/// finalized by `as_of`, per membership; adjustments count negative.
pub async fn partner_balances_aggregate_finalized_unpaid_rows<S: PayoutStore>(s: S) {
    let (p, a, b) = seed_finalized(&s).await;
    let c = conversion(400, &a, "pending-one", usd(1_000), T0);
    s.insert_conversion(&c, Some(&commission(401, &c, usd(999))))
        .await
        .unwrap();
    let as_of = T0 + Duration::days(60);
    let mut balances = s
        .partner_balances(p.id, Period::parse("2026-01").unwrap(), as_of)
        .await
        .unwrap();
    balances.sort_by_key(|b| b.membership_id);
    assert_eq!(balances.len(), 2);
    assert_eq!(
        (
            balances[0].membership_id,
            balances[0].net,
            balances[0].commission_count
        ),
        (a.id, usd(6_500), 3)
    );
    assert_eq!(
        (
            balances[1].membership_id,
            balances[1].net,
            balances[1].commission_count
        ),
        (b.id, usd(2_000), 1)
    );
}

/// Inserting a batch links each item's commissions in the same transaction
/// and refuses (writing nothing) when an item's amount differs from them.
pub async fn insert_batch_links_commissions_and_checks_sums<S: PayoutStore>(s: S) {
    let (p, a, b) = seed_finalized(&s).await;
    let wrong_batch = batch(50, &p, "2026-01", usd(8_500), 2);
    let wrong = [
        item(60, &wrong_batch, &a, usd(6_500), 3),
        item(61, &wrong_batch, &b, usd(2_001), 1),
    ];
    assert!(is_conflict(s.insert_batch(&wrong_batch, &wrong).await));
    assert_eq!(
        s.batch(wrong_batch.id).await.unwrap(),
        None,
        "nothing written"
    );
    assert_eq!(s.item(wrong[0].id).await.unwrap(), None);
    let unlinked = s
        .partner_balances(p.id, Period::parse("2026-01").unwrap(), wrong_batch.as_of)
        .await
        .unwrap();
    assert_eq!(unlinked.len(), 2, "commissions stay unlinked");

    let good_batch = batch(51, &p, "2026-01", usd(8_500), 2);
    let items = [
        item(70, &good_batch, &a, usd(6_500), 3),
        item(71, &good_batch, &b, usd(2_000), 1),
    ];
    s.insert_batch(&good_batch, &items).await.unwrap();
    assert_eq!(
        s.batch(good_batch.id).await.unwrap(),
        Some(good_batch.clone())
    );
    assert_eq!(s.item(items[0].id).await.unwrap(), Some(items[0].clone()));
    let mut linked = s.item_commission_ids(items[0].id).await.unwrap();
    linked.sort();
    assert_eq!(
        linked.iter().map(|c| c.as_uuid()).collect::<Vec<_>>(),
        vec![uuid(300), uuid(301), uuid(302)]
    );
    assert!(
        s.partner_balances(p.id, Period::parse("2026-01").unwrap(), good_batch.as_of)
            .await
            .unwrap()
            .is_empty()
    );
    let by_item = CommissionFilter {
        payout_item_id: Some(items[1].id),
        ..CommissionFilter::default()
    };
    assert_eq!(
        s.list_commissions(&by_item, PageRequest::first(10))
            .await
            .unwrap()
            .data
            .len(),
        1
    );

    let again = batch(52, &p, "2026-01", usd(0), 0);
    assert!(
        is_duplicate(s.insert_batch(&again, &[]).await),
        "one batch per program and period"
    );
    let page = s.items(good_batch.id, PageRequest::first(1)).await.unwrap();
    assert_eq!((page.data.len(), page.has_more), (1, true));
}

/// Batch state changes are compare-and-set.
pub async fn batches_compare_and_set<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let jan = batch(50, &p, "2026-01", usd(0), 0);
    let feb = batch(51, &p, "2026-02", usd(0), 0);
    s.insert_batch(&jan, &[]).await.unwrap();
    s.insert_batch(&feb, &[]).await.unwrap();
    let mut approved = jan.clone();
    approved.state = BatchState::Approved;
    approved.approval = Some(crate::batch::Approval::Person {
        actor: "ops".into(),
        at: T0,
    });
    assert!(is_conflict(
        s.update_batch(&approved, BatchState::Executing).await
    ));
    s.update_batch(&approved, BatchState::Draft).await.unwrap();
    assert_eq!(s.batch(jan.id).await.unwrap(), Some(approved.clone()));
    let order: Vec<_> = s
        .batches_of(p.id)
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.period)
        .collect();
    assert_eq!(order, vec![feb.period, jan.period], "newest period first");
    assert_eq!(
        s.batches_in_state(BatchState::Approved).await.unwrap(),
        vec![approved]
    );
}

async fn seed_items<S: PayoutStore>(
    s: &S,
    n: u128,
) -> (crate::batch::PayoutBatch, Vec<PayoutItem>) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let b = batch(
        50,
        &p,
        "2026-01",
        usd(1_000 * i64::try_from(n).unwrap()),
        u32::try_from(n).unwrap(),
    );
    let mut items = Vec::new();
    let mut members = Vec::new();
    for i in 0..n {
        let m = membership(100 + i, &p, &format!("partner{i}"));
        s.insert_membership(&m).await.unwrap();
        put_finalized(s, &finalized(500 + i, &m, usd(1_000), "2026-01", T0)).await;
        items.push(item(700 + i, &b, &m, usd(1_000), 1));
        members.push(m);
    }
    s.insert_batch(&b, &items).await.unwrap();
    (b, items)
}

/// A merchant's paid items (posted, or posted then reversed) are listed by
/// id in keyset pages; open and failed items, and other merchants', are not.
pub async fn paid_items_of_a_merchant_are_keyset_pages<S: PayoutStore>(s: S) {
    let (_, items) = seed_items(&s, 4).await;
    let post = |it: &PayoutItem, n: u32| {
        let sub = it.apply(&ItemEvent::Submit { attempt: 1, at: T0 }).unwrap();
        let posted = sub
            .apply(&ItemEvent::Posted {
                transfer_id: TransferId::parse(format!("tr_paid{n}")).unwrap(),
                at: T0,
            })
            .unwrap();
        (sub, posted)
    };
    // 0: posted; 1: pending; 2: posted then reversed; 3: submitting.
    let (s0, p0) = post(&items[0], 0);
    s.transition_item(&s0, &items[0].state, &[]).await.unwrap();
    s.transition_item(&p0, &s0.state, &[]).await.unwrap();
    let (s2, p2) = post(&items[2], 2);
    s.transition_item(&s2, &items[2].state, &[]).await.unwrap();
    s.transition_item(&p2, &s2.state, &[]).await.unwrap();
    let r2 = p2
        .apply(&ItemEvent::Reversed {
            reversal_id: None,
            total: usd(1_000),
            at: T0 + Duration::hours(1),
        })
        .unwrap();
    s.transition_item(&r2, &p2.state, &[]).await.unwrap();
    let s3 = items[3]
        .apply(&ItemEvent::Submit { attempt: 1, at: T0 })
        .unwrap();
    s.transition_item(&s3, &items[3].state, &[]).await.unwrap();

    let first = s
        .paid_items_of_merchant(&merchant(1), PageRequest::first(1))
        .await
        .unwrap();
    assert!(first.has_more);
    assert_eq!(first.data, vec![p0.clone()]);
    let rest = s
        .paid_items_of_merchant(
            &merchant(1),
            PageRequest {
                limit: 10,
                after: Some(p0.id.as_uuid()),
            },
        )
        .await
        .unwrap();
    assert!(!rest.has_more);
    assert_eq!(rest.data, vec![r2]);
    assert!(
        s.paid_items_of_merchant(&merchant(2), PageRequest::first(10))
            .await
            .unwrap()
            .data
            .is_empty(),
        "another merchant's list is its own"
    );
}

/// Claims take open items without a live lease, one worker at a time.
pub async fn claims_hold_leases<S: PayoutStore>(s: S) {
    let (b, items) = seed_items(&s, 5).await;
    let (w1, w2) = (
        WorkerId::parse("w1").unwrap(),
        WorkerId::parse("w2").unwrap(),
    );
    let lease = T0 + Duration::seconds(60);
    let first = s.claim_items(b.id, &w1, T0, lease, 3).await.unwrap();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|i| i.lease
        == Some(Lease {
            worker: w1.clone(),
            until: lease
        })));
    let second = s.claim_items(b.id, &w2, T0, lease, 10).await.unwrap();
    assert_eq!(second.len(), 2, "claimed items are not claimed twice");
    assert!(first.iter().all(|f| second.iter().all(|x| x.id != f.id)));
    assert!(
        s.claim_items(b.id, &w2, T0, lease, 10)
            .await
            .unwrap()
            .is_empty()
    );

    // Posted and failed items are never claimed, even with expired leases.
    let one = &first[0];
    let submitting = one
        .apply(&ItemEvent::Submit { attempt: 1, at: T0 })
        .unwrap();
    s.transition_item(&submitting, &one.state, &[])
        .await
        .unwrap();
    let posted = submitting
        .apply(&ItemEvent::Posted {
            transfer_id: TransferId::parse("tr_1").unwrap(),
            at: T0,
        })
        .unwrap();
    let posted = PayoutItem {
        lease: None,
        ..posted
    };
    s.transition_item(&posted, &submitting.state, &[])
        .await
        .unwrap();
    let after = lease + Duration::seconds(1);
    let retaken = s
        .claim_items(b.id, &w2, after, after + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(
        retaken.len(),
        4,
        "expired leases on open items are taken over"
    );
    assert!(retaken.iter().all(|i| i.id != posted.id));
    assert!(
        retaken
            .iter()
            .all(|i| i.lease.as_ref().map(|l| &l.worker) == Some(&w2))
    );
    let _ = items;
}

/// A worker renews its own live claims, compare-and-set on the lease's
/// end: not another worker's, not one that backed off beyond the end it
/// holds, not an item that ended; a claim whose row carries an earlier end
/// than the one held (written from an older copy) is renewed.
pub async fn claims_are_renewed_by_their_holder_only<S: PayoutStore>(s: S) {
    let (b, _) = seed_items(&s, 4).await;
    let (w1, w2) = (
        WorkerId::parse("w1").unwrap(),
        WorkerId::parse("w2").unwrap(),
    );
    let lease = T0 + Duration::seconds(10);
    let claimed = s.claim_items(b.id, &w1, T0, lease, 4).await.unwrap();
    assert_eq!(claimed.len(), 4);
    // The second backs off (beyond the end held), the third posts, the
    // fourth is written with an older end than the one held.
    let backed_off = PayoutItem {
        lease: Some(Lease {
            worker: w1.clone(),
            until: T0 + Duration::seconds(30),
        }),
        ..claimed[1].clone()
    };
    let older = PayoutItem {
        lease: Some(Lease {
            worker: w1.clone(),
            until: T0 + Duration::seconds(6),
        }),
        ..claimed[3].clone()
    };
    s.transition_item(&older, &claimed[3].state, &[])
        .await
        .unwrap();
    s.transition_item(&backed_off, &claimed[1].state, &[])
        .await
        .unwrap();
    let submitting = claimed[2]
        .apply(&ItemEvent::Submit { attempt: 1, at: T0 })
        .unwrap();
    s.transition_item(&submitting, &claimed[2].state, &[])
        .await
        .unwrap();
    let posted = PayoutItem {
        lease: None,
        ..submitting
            .apply(&ItemEvent::Posted {
                transfer_id: TransferId::parse("tr_r").unwrap(),
                at: T0,
            })
            .unwrap()
    };
    s.transition_item(&posted, &submitting.state, &[])
        .await
        .unwrap();
    let held: Vec<_> = claimed.iter().map(|i| (i.id, lease)).collect();
    let later = T0 + Duration::seconds(20);
    // Another worker renews nothing.
    assert_eq!(
        s.renew_leases(&w2, &held, later).await.unwrap(),
        vec![false; 4]
    );
    assert_eq!(
        s.renew_leases(&w1, &held, later).await.unwrap(),
        vec![true, false, false, true]
    );
    assert_eq!(
        s.item(claimed[3].id).await.unwrap().unwrap().lease,
        Some(Lease {
            worker: w1.clone(),
            until: later
        }),
        "an older end written is renewed"
    );
    let renewed = s.item(claimed[0].id).await.unwrap().unwrap();
    assert_eq!(
        renewed.lease,
        Some(Lease {
            worker: w1.clone(),
            until: later
        })
    );
    let still = s.item(claimed[1].id).await.unwrap().unwrap();
    assert_eq!(still.lease, backed_off.lease, "a back-off is not renewed");
    // Renewed, the claim is not taken over when the old end has passed.
    assert!(
        s.claim_items(b.id, &w2, lease + Duration::seconds(1), later, 10)
            .await
            .unwrap()
            .iter()
            .all(|i| i.id != claimed[0].id)
    );
    // A renewal from a stale end does not apply.
    assert_eq!(
        s.renew_leases(&w1, &held[..1], later + Duration::seconds(5))
            .await
            .unwrap(),
        vec![false]
    );
}

/// An item's transition is compare-and-set, and its notifications are
/// written with it or not at all; a repeated dedupe key is skipped.
pub async fn item_transitions_are_compare_and_set_with_their_outbox<S: PayoutStore>(s: S) {
    let (_, items) = seed_items(&s, 1).await;
    let it = &items[0];
    let submitting = it.apply(&ItemEvent::Submit { attempt: 1, at: T0 }).unwrap();
    let note = notification(900, &merchant(1), "sent:1");
    assert!(is_conflict(
        s.transition_item(
            &submitting,
            &ItemState::Posted {
                attempt: 1,
                transfer_id: TransferId::parse("tr_x").unwrap(),
                at: T0
            },
            std::slice::from_ref(&note)
        )
        .await
    ));
    assert!(
        s.notifications_of(&merchant(1)).await.unwrap().is_empty(),
        "no outbox row without the transition"
    );
    s.transition_item(&submitting, &it.state, std::slice::from_ref(&note))
        .await
        .unwrap();
    assert_eq!(
        s.item(it.id).await.unwrap().unwrap().state,
        submitting.state
    );
    let failed = submitting
        .apply(&ItemEvent::Failed {
            failure: Failure {
                kind: FailureKind::InsufficientBalance,
                code: Some("balance_insufficient".into()),
                message: "short".into(),
            },
            retry_at: Some(T0 + Duration::hours(24)),
            escalated: false,
        })
        .unwrap();
    let dup = notification(901, &merchant(1), "sent:1");
    s.transition_item(&failed, &submitting.state, &[dup])
        .await
        .unwrap();
    let notes = s.notifications_of(&merchant(1)).await.unwrap();
    assert_eq!(notes.len(), 1, "the dedupe key was already used");
    assert_eq!(s.item(it.id).await.unwrap().unwrap().state, failed.state);
    assert!(
        is_conflict(s.transition_item(&failed, &submitting.state, &[]).await),
        "stale expectation"
    );
}

/// Item changes committed together: each is its own compare-and-set, its
/// notifications written only when it applied; an unknown item does not
/// apply and does not stop the others.
pub async fn item_changes_commit_together_with_their_outbox<S: PayoutStore>(s: S) {
    let (_, items) = seed_items(&s, 3).await;
    assert!(s.commit_items(&[]).await.unwrap().is_empty());
    let submit = |i: &PayoutItem, note: u128| ItemChange {
        next: i.apply(&ItemEvent::Submit { attempt: 1, at: T0 }).unwrap(),
        expected: i.state.clone(),
        notifications: vec![notification(
            note,
            &merchant(1),
            &format!("submitted:{note}"),
        )],
    };
    let (a, stale, c) = (
        submit(&items[0], 910),
        submit(&items[1], 911),
        submit(&items[2], 912),
    );
    // Another worker moved the second item first.
    s.transition_item(&stale.next, &stale.expected, &[])
        .await
        .unwrap();
    let unknown = ItemChange {
        next: PayoutItem {
            id: crate::ids::PayoutItemId::from_uuid(uuid(999)),
            ..a.next.clone()
        },
        ..a.clone()
    };
    let applied = s
        .commit_items(&[a.clone(), stale.clone(), unknown, c.clone()])
        .await
        .unwrap();
    assert_eq!(applied, [true, false, false, true]);
    for change in [&a, &c] {
        assert_eq!(
            s.item(change.next.id).await.unwrap().unwrap().state,
            change.next.state
        );
    }
    let mut keys: Vec<String> = s
        .notifications_of(&merchant(1))
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.dedupe_key)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        ["submitted:910", "submitted:912"],
        "only the changes that applied wrote their notifications"
    );
}

/// Several transitions in one call: each is its own compare-and-set, and
/// the answer says which applied; an unknown item is an error.
pub async fn item_transitions_in_one_call<S: PayoutStore>(s: S) {
    let (_, items) = seed_items(&s, 3).await;
    assert!(s.transition_items(&[]).await.unwrap().is_empty());
    let submit = |i: &PayoutItem| {
        (
            i.apply(&ItemEvent::Submit { attempt: 1, at: T0 }).unwrap(),
            i.state.clone(),
        )
    };
    let (mut a, stale, c) = (submit(&items[0]), submit(&items[1]), submit(&items[2]));
    a.0.lease = Some(Lease {
        worker: WorkerId::parse("w1").unwrap(),
        until: T0 + Duration::seconds(60),
    });
    // Another worker moved the second item first.
    s.transition_item(&stale.0, &stale.1, &[]).await.unwrap();
    let applied = s
        .transition_items(&[a.clone(), stale.clone(), c.clone()])
        .await
        .unwrap();
    assert_eq!(applied, [true, false, true]);
    for (next, _) in [&a, &stale, &c] {
        let stored = s.item(next.id).await.unwrap().unwrap();
        assert_eq!(
            (stored.state, stored.lease),
            (next.state.clone(), next.lease.clone())
        );
    }
    // A lease released in a second call (the state is unchanged).
    let released = PayoutItem {
        lease: None,
        ..a.0.clone()
    };
    assert_eq!(
        s.transition_items(&[(released.clone(), a.0.state.clone())])
            .await
            .unwrap(),
        [true]
    );
    assert_eq!(s.item(a.0.id).await.unwrap().unwrap().lease, None);

    let mut ghost = submit(&items[0]);
    ghost.0.id = crate::ids::PayoutItemId::from_uuid(uuid::Uuid::from_u128(0xdead));
    assert!(matches!(
        s.transition_items(&[ghost]).await,
        Err(StoreError::NotFound { .. })
    ));
}

/// The queries the scheduler and reports use.
pub async fn item_queries<S: PayoutStore>(s: S) {
    let (b, items) = seed_items(&s, 4).await;
    let fail = |it: &PayoutItem, kind, retry_at| {
        let sub = it.apply(&ItemEvent::Submit { attempt: 1, at: T0 }).unwrap();
        let f = sub
            .apply(&ItemEvent::Failed {
                failure: Failure {
                    kind,
                    code: None,
                    message: "x".into(),
                },
                retry_at,
                escalated: false,
            })
            .unwrap();
        (sub, f)
    };
    // 0: insufficient balance, retry at +24 h; 1: account inactive, waiting;
    // 2: submitting; 3: posted then partly reversed.
    let (s0, f0) = fail(
        &items[0],
        FailureKind::InsufficientBalance,
        Some(T0 + Duration::hours(24)),
    );
    s.transition_item(&s0, &items[0].state, &[]).await.unwrap();
    s.transition_item(&f0, &s0.state, &[]).await.unwrap();
    let (s1, f1) = fail(&items[1], FailureKind::AccountInactive, None);
    s.transition_item(&s1, &items[1].state, &[]).await.unwrap();
    s.transition_item(&f1, &s1.state, &[]).await.unwrap();
    let s2 = items[2]
        .apply(&ItemEvent::Submit { attempt: 1, at: T0 })
        .unwrap();
    s.transition_item(&s2, &items[2].state, &[]).await.unwrap();
    let s3 = items[3]
        .apply(&ItemEvent::Submit { attempt: 1, at: T0 })
        .unwrap();
    s.transition_item(&s3, &items[3].state, &[]).await.unwrap();
    let tr = TransferId::parse("tr_42").unwrap();
    let p3 = s3
        .apply(&ItemEvent::Posted {
            transfer_id: tr.clone(),
            at: T0,
        })
        .unwrap();
    s.transition_item(&p3, &s3.state, &[]).await.unwrap();
    let r3 = p3
        .apply(&ItemEvent::Reversed {
            reversal_id: None,
            total: usd(400),
            at: T0 + Duration::hours(1),
        })
        .unwrap();
    s.transition_item(&r3, &p3.state, &[]).await.unwrap();

    assert!(
        s.items_due_for_retry(T0 + Duration::hours(23), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let due = s
        .items_due_for_retry(T0 + Duration::hours(24), 10)
        .await
        .unwrap();
    assert_eq!(
        due.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![items[0].id]
    );
    let waiting = s.items_waiting_for_merchant(b.program_id).await.unwrap();
    assert_eq!(
        waiting.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![items[1].id]
    );
    let flying = s.items_in_flight(b.id).await.unwrap();
    assert_eq!(
        flying.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![items[2].id]
    );
    assert_eq!(
        s.item_by_transfer(&tr).await.unwrap().map(|i| i.id),
        Some(items[3].id)
    );
    assert_eq!(
        s.item_by_transfer(&TransferId::parse("tr_none").unwrap())
            .await
            .unwrap(),
        None
    );

    let mut totals = s.item_totals(b.id).await.unwrap();
    totals.sort_by(|x, y| x.state.cmp(&y.state));
    let expect = |state: &str, count, amount, reversed| StateTotal {
        state: state.into(),
        count,
        amount: usd(amount),
        reversed: usd(reversed),
    };
    assert_eq!(
        totals,
        vec![
            expect("failed", 2, 2_000, 0),
            expect("reversed", 1, 1_000, 400),
            expect("submitting", 1, 1_000, 0)
        ]
    );
    let mut program_totals = s.program_item_totals(b.program_id).await.unwrap();
    program_totals.sort_by(|x, y| x.state.cmp(&y.state));
    assert_eq!(program_totals, totals);
    let history = s
        .items_of_partner(items[3].partner_id, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(
        history.data.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![items[3].id]
    );
}

/// Ledger rows sum finalized commissions per period and linked item state.
pub async fn ledger_rows_follow_item_states<S: PayoutStore>(s: S) {
    let (p, a, b) = seed_finalized(&s).await;
    let bt = batch(51, &p, "2026-01", usd(6_500), 1);
    let it = item(70, &bt, &a, usd(6_500), 3);
    s.insert_batch(&bt, std::slice::from_ref(&it))
        .await
        .unwrap();
    let sub = it.apply(&ItemEvent::Submit { attempt: 1, at: T0 }).unwrap();
    s.transition_item(&sub, &it.state, &[]).await.unwrap();
    let mut rows = s.ledger(p.id).await.unwrap();
    rows.sort_by_key(|x| (x.period, x.item_state.clone()));
    let row = |period: &str, state: Option<&str>, amount| crate::ports::LedgerRow {
        period: Period::parse(period).unwrap(),
        item_state: state.map(str::to_owned),
        amount: usd(amount),
    };
    assert_eq!(
        rows,
        vec![
            row("2025-12", Some("submitting"), 4_000),
            row("2026-01", None, 2_700),
            row("2026-01", Some("submitting"), 2_500),
            row("2026-02", None, 9_000),
        ]
    );
    let mut totals = s.finalized_totals(p.id).await.unwrap();
    totals.sort_by_key(|(period, _)| *period);
    assert_eq!(
        totals,
        vec![
            (Period::parse("2025-12").unwrap(), usd(4_000)),
            (Period::parse("2026-01").unwrap(), usd(5_200)),
            (Period::parse("2026-02").unwrap(), usd(9_000)),
        ]
    );
    let _ = b;
}

/// The outbox skips repeated dedupe keys, lists due rows (earliest due,
/// then oldest, first) and moves a delivery compare-and-set, writing its
/// attempts with it.
pub async fn outbox_deduplicates_and_delivers<S: PayoutStore>(s: S) {
    use crate::notification::{AttemptStatus, DeliveryAttempt, DeliveryFailure, DeliveryState};
    let m = merchant(1);
    let batch_of = [
        notification(1, &m, "k1"),
        notification(2, &m, "k2"),
        notification(3, &m, "k1"),
    ];
    assert_eq!(s.enqueue(&batch_of).await.unwrap(), 2);
    assert_eq!(s.enqueue(&batch_of[..1]).await.unwrap(), 0);
    assert!(
        s.due_notifications(T0 - Duration::seconds(1), 10)
            .await
            .unwrap()
            .is_empty()
    );
    let pending = s.due_notifications(T0, 10).await.unwrap();
    assert_eq!(
        pending
            .iter()
            .map(|n| n.dedupe_key.as_str())
            .collect::<Vec<_>>(),
        vec!["k1", "k2"]
    );
    assert_eq!(pending[0], batch_of[0]);
    assert_eq!(s.due_notifications(T0, 1).await.unwrap().len(), 1);
    assert_eq!(
        s.notification(pending[1].id).await.unwrap(),
        Some(pending[1].clone())
    );

    // k1 is delivered, with its attempt.
    let at = T0 + Duration::minutes(1);
    let attempt = |id: u128, n: &crate::notification::Notification, status, code| DeliveryAttempt {
        id: crate::ids::DeliveryId::from_uuid(uuid(id)),
        notification_id: n.id,
        merchant_id: n.merchant_id.clone(),
        kind: n.kind,
        endpoint_id: Some(crate::ids::WebhookEndpointId::from_uuid(uuid(7))),
        url: "https://hooks.test/a".to_owned(),
        attempted_at: at,
        duration_ms: 12,
        status,
        response_status: code,
        error: (status == AttemptStatus::Failed).then(|| "the endpoint answered 500".to_owned()),
    };
    let delivered = DeliveryState::Delivered { at, attempts: 1 };
    s.record_delivery(
        pending[0].id,
        &pending[0].delivery,
        &delivered,
        &[attempt(
            501,
            &pending[0],
            AttemptStatus::Succeeded,
            Some(200),
        )],
    )
    .await
    .unwrap();
    // The same move again finds another state: a conflict, nothing written.
    assert!(is_conflict(
        s.record_delivery(
            pending[0].id,
            &pending[0].delivery,
            &delivered,
            &[attempt(
                502,
                &pending[0],
                AttemptStatus::Succeeded,
                Some(200)
            )],
        )
        .await
    ));
    assert_eq!(s.due_notifications(at, 10).await.unwrap().len(), 1);
    let all = s.notifications_of(&m).await.unwrap();
    assert_eq!(all[0].delivered_at(), Some(at));
    assert_eq!(all[0].delivery, delivered);
    assert!(s.notifications_of(&merchant(2)).await.unwrap().is_empty());

    // k2 fails: pending later, with its failure; then dead.
    let failure = DeliveryFailure::new(Some(500), "the endpoint answered 500");
    let later = DeliveryState::Pending {
        attempts: 1,
        next_attempt_at: at + Duration::seconds(30),
        since: T0,
        last_failure: Some(failure.clone()),
    };
    s.record_delivery(
        pending[1].id,
        &pending[1].delivery,
        &later,
        &[attempt(503, &pending[1], AttemptStatus::Failed, Some(500))],
    )
    .await
    .unwrap();
    assert!(s.due_notifications(at, 10).await.unwrap().is_empty());
    let due = s
        .due_notifications(at + Duration::seconds(30), 10)
        .await
        .unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].delivery, later);
    assert_eq!(
        s.failing_notifications(&m, 10).await.unwrap(),
        vec![due[0].clone()]
    );
    let dead = DeliveryState::Dead {
        at,
        attempts: 2,
        last_failure: Some(DeliveryFailure::new(None, "timed out")),
    };
    // A stale expectation (the first pending state) is refused.
    assert!(is_conflict(
        s.record_delivery(pending[1].id, &pending[1].delivery, &dead, &[])
            .await
    ));
    s.record_delivery(pending[1].id, &later, &dead, &[])
        .await
        .unwrap();
    let failing = s.failing_notifications(&m, 10).await.unwrap();
    assert_eq!(failing.len(), 1);
    assert_eq!(failing[0].delivery, dead);
    assert!(
        s.failing_notifications(&merchant(2), 10)
            .await
            .unwrap()
            .is_empty()
    );

    // The URLs that accepted a notification, since an instant.
    assert_eq!(
        s.accepted_urls(pending[0].id, T0).await.unwrap(),
        vec!["https://hooks.test/a".to_owned()]
    );
    assert!(
        s.accepted_urls(pending[0].id, at + Duration::seconds(1))
            .await
            .unwrap()
            .is_empty()
    );
    assert!(s.accepted_urls(pending[1].id, T0).await.unwrap().is_empty());

    // Attempts: newest first, by status, in keyset pages, per merchant.
    let page = s
        .deliveries_page(&m, None, PageRequest::first(10))
        .await
        .unwrap();
    let ids: Vec<u128> = page.data.iter().map(|d| d.id.as_uuid().as_u128()).collect();
    assert_eq!(ids, vec![503, 501]);
    assert_eq!(
        page.data[1],
        attempt(501, &pending[0], AttemptStatus::Succeeded, Some(200))
    );
    let first = s
        .deliveries_page(&m, None, PageRequest::first(1))
        .await
        .unwrap();
    assert!(first.has_more);
    let second = s
        .deliveries_page(
            &m,
            None,
            PageRequest {
                limit: 1,
                after: Some(first.data[0].id.as_uuid()),
            },
        )
        .await
        .unwrap();
    assert_eq!(second.data[0].id.as_uuid().as_u128(), 501);
    assert!(!second.has_more);
    let failed = s
        .deliveries_page(&m, Some(AttemptStatus::Failed), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(failed.data.len(), 1);
    assert_eq!(failed.data[0].response_status, Some(500));
    assert!(
        s.deliveries_page(&merchant(2), None, PageRequest::first(10))
            .await
            .unwrap()
            .data
            .is_empty()
    );

    // A replay (any state to pending, due now) is compare-and-set too.
    let replayed = DeliveryState::new_at(at + Duration::hours(1));
    s.record_delivery(pending[1].id, &dead, &replayed, &[])
        .await
        .unwrap();
    assert_eq!(
        s.due_notifications(at + Duration::hours(1), 10)
            .await
            .unwrap()[0]
            .delivery,
        replayed
    );
    assert!(matches!(
        s.record_delivery(
            crate::ids::NotificationId::from_uuid(uuid(99)),
            &dead,
            &replayed,
            &[]
        )
        .await,
        Err(StoreError::NotFound { .. })
    ));
}

/// Webhook endpoints: unique ids, per-merchant lists and pages, the secret
/// rotated compare-and-set, hard deletes.
pub async fn webhook_endpoints_are_per_merchant_and_rotate_compare_and_set<S: PayoutStore>(s: S) {
    use crate::endpoint::{EndpointUrl, PreviousSecret, SigningSecret, WebhookEndpoint};
    use crate::ids::WebhookEndpointId;
    let endpoint = |id: u128, m: &crate::ids::MerchantId| WebhookEndpoint {
        id: WebhookEndpointId::from_uuid(uuid(id)),
        merchant_id: m.clone(),
        url: EndpointUrl::parse(&format!("https://hooks.test/{id}")).unwrap(),
        description: id.is_multiple_of(2).then(|| format!("endpoint {id}")),
        secret: SigningSecret::new(format!("whsec_{id}")),
        previous_secret: None,
        created_at: T0,
    };
    let (a, b, c) = (
        endpoint(1, &merchant(1)),
        endpoint(2, &merchant(1)),
        endpoint(3, &merchant(2)),
    );
    for e in [&b, &a, &c] {
        s.insert_endpoint(e).await.unwrap();
    }
    assert!(is_duplicate(s.insert_endpoint(&a).await));
    assert_eq!(s.endpoint(a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(
        s.endpoint(WebhookEndpointId::from_uuid(uuid(9)))
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        s.endpoints_of(&merchant(1)).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    let first = s
        .endpoints_page(&merchant(1), PageRequest::first(1))
        .await
        .unwrap();
    assert_eq!(
        (first.data.clone(), first.has_more),
        (vec![a.clone()], true)
    );
    let rest = s
        .endpoints_page(
            &merchant(1),
            PageRequest {
                limit: 10,
                after: Some(a.id.as_uuid()),
            },
        )
        .await
        .unwrap();
    assert_eq!((rest.data, rest.has_more), (vec![b.clone()], false));

    let rotated = WebhookEndpoint {
        secret: SigningSecret::new("whsec_new".to_owned()),
        previous_secret: Some(PreviousSecret {
            secret: a.secret.clone(),
            expires_at: T0 + Duration::hours(24),
        }),
        ..a.clone()
    };
    s.save_endpoint_secrets(&rotated, &a.secret).await.unwrap();
    assert!(is_conflict(
        s.save_endpoint_secrets(&rotated, &a.secret).await
    ));
    assert_eq!(s.endpoint(a.id).await.unwrap(), Some(rotated.clone()));

    s.delete_endpoint(a.id).await.unwrap();
    assert!(matches!(
        s.delete_endpoint(a.id).await,
        Err(StoreError::NotFound { .. })
    ));
    assert!(matches!(
        s.save_endpoint_secrets(&rotated, &rotated.secret).await,
        Err(StoreError::NotFound { .. })
    ));
    assert_eq!(s.endpoints_of(&merchant(1)).await.unwrap(), vec![b]);
    assert_eq!(s.endpoints_of(&merchant(2)).await.unwrap(), vec![c]);
}

/// Fee schedules round-trip exactly (decimal rates); event ids are recorded once.
pub async fn settings_round_trip<S: PayoutStore>(s: S) {
    assert_eq!(s.fee_schedule().await.unwrap(), FeeSchedule::default());
    let rate = |p: i64, scale: u32, fixed| FeeRate {
        percent: Percent::new(Decimal::new(p, scale)).unwrap(),
        fixed_minor: fixed,
    };
    let schedule = FeeSchedule {
        default: rate(29, 1, 30),
        tiers: vec![FeeTier {
            volume_min_minor: 0,
            volume_max_minor: Some(1_000_000),
            rate: rate(3_125, 3, 30),
        }],
        overrides: vec![MerchantOverride {
            merchant_id: merchant(1),
            rate: rate(2, 0, 20),
            reason: "Enterprise agreement".into(),
        }],
        rounding: Rounding::Down,
    };
    s.save_fee_schedule(&schedule).await.unwrap();
    assert_eq!(s.fee_schedule().await.unwrap(), schedule);
    let e = EventId::parse("evt_123").unwrap();
    assert!(s.record_event(&e, T0).await.unwrap());
    assert!(!s.record_event(&e, T0 + Duration::seconds(5)).await.unwrap());
}

/// Every item state, with its data, reads back exactly as written, with
/// sub-second timestamps (stores keep at least microseconds).
pub async fn values_round_trip_exactly<S: PayoutStore>(s: S) {
    let (_, items) = seed_items(&s, 1).await;
    let it = items[0].clone();
    let steps = [
        ItemEvent::Submit {
            attempt: 1,
            at: T0 + Duration::milliseconds(1_500),
        },
        ItemEvent::KeyNearExpiry,
        ItemEvent::Submit {
            attempt: 2,
            at: T0 + Duration::hours(23),
        },
        ItemEvent::Failed {
            failure: Failure {
                kind: FailureKind::CannotReceive,
                code: Some("account_invalid".into()),
                message: "The destination account is invalid.".into(),
            },
            retry_at: None,
            escalated: true,
        },
        ItemEvent::ScheduleRetry {
            at: T0 + Duration::days(2),
        },
        ItemEvent::Submit {
            attempt: 3,
            at: T0 + Duration::days(2),
        },
        ItemEvent::Posted {
            transfer_id: TransferId::parse("tr_9").unwrap(),
            at: T0 + Duration::days(2),
        },
        ItemEvent::Reversed {
            reversal_id: Some(crate::ids::TransferReversalId::parse("trr_1").unwrap()),
            total: usd(250),
            at: T0 + Duration::days(3),
        },
    ];
    let mut current = it;
    for step in steps {
        let mut next = current.apply(&step).unwrap();
        next.resends = current.resends.saturating_add(1);
        next.lease = Some(Lease {
            worker: WorkerId::parse("w-1").unwrap(),
            until: T0 + Duration::seconds(90),
        });
        s.transition_item(&next, &current.state, &[]).await.unwrap();
        assert_eq!(
            s.item(next.id).await.unwrap(),
            Some(next.clone()),
            "after {step:?}"
        );
        current = next;
    }
    let kwd_program = program(7, merchant(1));
    let member = membership(6, &kwd_program, "x1");
    s.insert_program(&kwd_program).await.unwrap();
    s.insert_membership(&member).await.unwrap();
    let conversion_with_cancel = Conversion {
        cancelled: true,
        customer_ref: None,
        payment_ref: None,
        ..conversion(5, &member, "zz", Money::new(1_234, Currency::KWD), T0)
    };
    s.insert_conversion(&conversion_with_cancel, None)
        .await
        .unwrap();
    assert_eq!(
        s.conversion(conversion_with_cancel.id).await.unwrap(),
        Some(conversion_with_cancel)
    );
}

/// A coupon is found by its Stripe Promotion Code, across merchants; a
/// changed promotion-code id is found under the new id only.
pub async fn coupons_are_found_by_promotion_code<S: PayoutStore>(s: S) {
    let p = program(1, merchant(1));
    s.insert_program(&p).await.unwrap();
    let m = membership(10, &p, "sarah");
    s.insert_membership(&m).await.unwrap();
    let promo = |id: &str| PromotionCodeId::parse(id).unwrap();
    let synced = Coupon {
        code: CouponCode::parse("Sarah20").unwrap(),
        merchant_id: merchant(1),
        program_id: p.id,
        membership_id: m.id,
        promotion_code_id: Some(promo("promo_1")),
        active: true,
        created_at: T0,
    };
    let manual = Coupon {
        code: CouponCode::parse("SARAH-MANUAL").unwrap(),
        promotion_code_id: None,
        ..synced.clone()
    };
    let elsewhere = Coupon {
        merchant_id: merchant(2),
        promotion_code_id: Some(promo("promo_2")),
        ..synced.clone()
    };
    for c in [&synced, &manual, &elsewhere] {
        s.insert_coupon(c).await.unwrap();
    }
    assert_eq!(
        s.coupon_by_promotion_code(&promo("promo_1")).await.unwrap(),
        Some(synced.clone())
    );
    assert_eq!(
        s.coupon_by_promotion_code(&promo("promo_2")).await.unwrap(),
        Some(elsewhere)
    );
    assert_eq!(
        s.coupon_by_promotion_code(&promo("promo_9")).await.unwrap(),
        None
    );
    let moved = Coupon {
        promotion_code_id: Some(promo("promo_3")),
        active: false,
        ..synced
    };
    s.update_coupon(&moved).await.unwrap();
    assert_eq!(
        s.coupon_by_promotion_code(&promo("promo_1")).await.unwrap(),
        None
    );
    assert_eq!(
        s.coupon_by_promotion_code(&promo("promo_3")).await.unwrap(),
        Some(moved)
    );
}

/// A forgotten event id is recorded again as new; forgetting touches only
/// that id.
pub async fn forgotten_events_are_recorded_again<S: PayoutStore>(s: S) {
    let e = EventId::parse("evt_1").unwrap();
    let other = EventId::parse("evt_2").unwrap();
    assert!(!s.forget_event(&e).await.unwrap(), "never recorded");
    assert!(s.record_event(&e, T0).await.unwrap());
    assert!(s.record_event(&other, T0).await.unwrap());
    assert!(!s.record_event(&e, T0).await.unwrap());
    assert!(s.forget_event(&e).await.unwrap());
    assert!(!s.forget_event(&e).await.unwrap(), "already forgotten");
    assert!(
        s.record_event(&e, T0 + Duration::seconds(1)).await.unwrap(),
        "a redelivery is new again"
    );
    assert!(!s.record_event(&e, T0).await.unwrap());
    assert!(!s.record_event(&other, T0).await.unwrap(), "untouched");
}

/// Disputes are upserted by id (one row per dispute, its latest version); a
/// late, older version does not overwrite a newer one; lists are newest first.
pub async fn disputes_upsert_by_id_and_keep_the_newest<S: PayoutStore>(s: S) {
    let record = |status: &str| DisputeRecord {
        dispute_id: DisputeId::parse("dp_1").unwrap(),
        payment_intent: Some(PaymentIntentId::parse("pi_1").unwrap()),
        amount: usd(5_000),
        reason: "fraudulent".into(),
        status: status.into(),
        evidence_due_by: Some(T0 + Duration::days(7) + Duration::milliseconds(250)),
    };
    assert!(s.disputes(10).await.unwrap().is_empty());
    let later = T0 + Duration::hours(1);
    assert!(
        s.upsert_dispute(Some(&account(1)), &record("needs_response"), T0)
            .await
            .unwrap()
    );
    assert!(
        s.upsert_dispute(Some(&account(1)), &record("under_review"), later)
            .await
            .unwrap()
    );
    let newest = StoredDispute {
        account_id: Some(account(1)),
        dispute: record("under_review"),
        updated_at: later,
    };
    assert_eq!(s.disputes(10).await.unwrap(), vec![newest.clone()]);
    assert!(
        !s.upsert_dispute(
            Some(&account(1)),
            &record("needs_response"),
            T0 + Duration::minutes(30)
        )
        .await
        .unwrap(),
        "an older version is not applied"
    );
    assert!(
        s.upsert_dispute(Some(&account(1)), &record("under_review"), later)
            .await
            .unwrap(),
        "a replay of the same version is harmless"
    );
    assert_eq!(s.disputes(10).await.unwrap(), vec![newest.clone()]);

    let platform = DisputeRecord {
        dispute_id: DisputeId::parse("dp_2").unwrap(),
        payment_intent: None,
        amount: Money::new(1_234, Currency::KWD),
        reason: "product_not_received".into(),
        status: "won".into(),
        evidence_due_by: None,
    };
    let latest = T0 + Duration::hours(2);
    assert!(s.upsert_dispute(None, &platform, latest).await.unwrap());
    let listed = s.disputes(10).await.unwrap();
    assert_eq!(
        listed,
        vec![
            StoredDispute {
                account_id: None,
                dispute: platform,
                updated_at: latest,
            },
            newest,
        ]
    );
    assert_eq!(s.disputes(1).await.unwrap(), listed[..1].to_vec());
}

/// A named lease is a compare-and-set: free, expired (`until <= now`) or
/// already held by the caller (a renewal moves `until`); released only by
/// its holder.
pub async fn leases_are_compare_and_set<S: PayoutStore>(s: S) {
    let (a, b) = (
        WorkerId::parse("instance-a").unwrap(),
        WorkerId::parse("instance-b").unwrap(),
    );
    let ttl = Duration::seconds(30);
    let at = |secs: i64| T0 + Duration::seconds(secs);
    assert!(!s.release_lease("scheduler", &a).await.unwrap(), "no lease");
    assert!(
        s.try_acquire_lease("scheduler", &a, at(0), ttl)
            .await
            .unwrap()
    );
    assert!(
        !s.try_acquire_lease("scheduler", &b, at(10), ttl)
            .await
            .unwrap(),
        "another holder's live lease"
    );
    assert!(
        s.try_acquire_lease("reports", &b, at(10), ttl)
            .await
            .unwrap(),
        "names are independent"
    );
    // Renewed at 20 s: held until 50 s instead of 30 s.
    assert!(
        s.try_acquire_lease("scheduler", &a, at(20), ttl)
            .await
            .unwrap()
    );
    assert!(
        !s.try_acquire_lease("scheduler", &b, at(40), ttl)
            .await
            .unwrap(),
        "the renewal moved the expiry"
    );
    assert!(
        !s.try_acquire_lease("scheduler", &b, at(50) - Duration::nanoseconds(1), ttl)
            .await
            .unwrap(),
        "live to the nanosecond"
    );
    assert!(
        s.try_acquire_lease("scheduler", &b, at(50), ttl)
            .await
            .unwrap(),
        "expired at `until`: taken over"
    );
    assert!(
        !s.try_acquire_lease("scheduler", &a, at(51), ttl)
            .await
            .unwrap(),
        "the old holder lost it"
    );
    assert!(
        !s.release_lease("scheduler", &a).await.unwrap(),
        "only the holder releases"
    );
    assert!(s.release_lease("scheduler", &b).await.unwrap());
    assert!(!s.release_lease("scheduler", &b).await.unwrap());
    assert!(
        s.try_acquire_lease("scheduler", &a, at(52), ttl)
            .await
            .unwrap(),
        "a released lease is free at once"
    );
    assert!(
        !s.try_acquire_lease("reports", &a, at(39), ttl)
            .await
            .unwrap(),
        "the other name is still held"
    );
}

/// Item counts per state and currency span every batch and program.
pub async fn item_state_counts_span_batches_and_currencies<S: PayoutStore>(s: S) {
    assert!(s.item_state_counts().await.unwrap().is_empty());
    let (_, items) = seed_items(&s, 3).await;
    let submitting = items[0]
        .apply(&ItemEvent::Submit { attempt: 1, at: T0 })
        .unwrap();
    s.transition_item(&submitting, &items[0].state, &[])
        .await
        .unwrap();

    let eur = |minor| Money::new(minor, Currency::EUR);
    let mut q = program(2, merchant(2));
    q.currency = Currency::EUR;
    q.minimum_payout = eur(5_000);
    s.insert_program(&q).await.unwrap();
    let m = membership(300, &q, "euro");
    s.insert_membership(&m).await.unwrap();
    put_finalized(&s, &finalized(600, &m, eur(700), "2026-01", T0)).await;
    let bq = batch(60, &q, "2026-01", eur(700), 1);
    let euro_item = PayoutItem {
        fee: eur(30),
        ..item(800, &bq, &m, eur(700), 1)
    };
    s.insert_batch(&bq, std::slice::from_ref(&euro_item))
        .await
        .unwrap();

    let total = |state: &str, count, amount: Money| StateTotal {
        state: state.into(),
        count,
        amount,
        reversed: Money::zero(amount.currency()),
    };
    assert_eq!(
        s.item_state_counts().await.unwrap(),
        vec![
            total("pending", 1, eur(700)),
            total("pending", 2, usd(2_000)),
            total("submitting", 1, usd(1_000)),
        ]
    );
}

/// Lists are keyset pages by id: `limit` rows after `after`, and
/// `has_more` when more follow; other parents' rows never appear.
pub async fn lists_are_keyset_pages<S: PayoutStore>(s: S) {
    let mut programs: Vec<_> = (1..=5).map(|i| program(i, merchant(1))).collect();
    programs.sort_by_key(|p| p.id);
    for p in &programs {
        s.insert_program(p).await.unwrap();
    }
    s.insert_program(&program(9, merchant(2))).await.unwrap();
    let first = s
        .programs_page(&merchant(1), PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(first.data, programs[..2].to_vec());
    assert!(first.has_more);
    let rest = s
        .programs_page(
            &merchant(1),
            PageRequest {
                limit: 10,
                after: first.data.last().map(|p| p.id.as_uuid()),
            },
        )
        .await
        .unwrap();
    assert_eq!(rest.data, programs[2..].to_vec());
    assert!(!rest.has_more);

    let host = &programs[0];
    let members: Vec<_> = ["aa", "bb", "cc"]
        .iter()
        .enumerate()
        .map(|(i, key)| membership(100 + i as u128, host, key))
        .collect();
    for m in &members {
        s.insert_membership(m).await.unwrap();
    }
    s.insert_membership(&membership(200, &programs[1], "elsewhere"))
        .await
        .unwrap();
    let page = s
        .memberships_page(host.id, PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!(page.data.len(), 2);
    assert!(page.has_more);
    let next = s
        .memberships_page(
            host.id,
            PageRequest {
                limit: 2,
                after: page.data.last().map(|m| m.id.as_uuid()),
            },
        )
        .await
        .unwrap();
    assert_eq!(next.data.len(), 1);
    assert!(!next.has_more);
    let mut seen: Vec<_> = page.data.iter().chain(&next.data).map(|m| m.id).collect();
    seen.sort();
    let mut all: Vec<_> = members.iter().map(|m| m.id).collect();
    all.sort();
    assert_eq!(seen, all);
    let none = s
        .batches_page(host.id, PageRequest::first(10))
        .await
        .unwrap();
    assert!(none.data.is_empty() && !none.has_more);
}

/// A connected account has one owner: recording it again is a no-op,
/// another merchant is a conflict.
pub async fn account_owners_are_recorded_once<S: PayoutStore>(s: S) {
    let account = crate::ids::AccountId::parse("acct_owned1".to_owned()).unwrap();
    assert_eq!(s.account_owner(&account).await.unwrap(), None);
    s.record_account_owner(&account, &merchant(1), T0)
        .await
        .unwrap();
    s.record_account_owner(&account, &merchant(1), T0)
        .await
        .unwrap();
    assert!(is_conflict(
        s.record_account_owner(&account, &merchant(2), T0).await
    ));
    assert_eq!(s.account_owner(&account).await.unwrap(), Some(merchant(1)));
}

/// An API idempotency key is claimed once per scope; its response is
/// stored once; a released key can be claimed again.
pub async fn request_keys_are_claimed_once<S: PayoutStore>(s: S) {
    use crate::ports::{RequestKeyBegin, RequestKeyStatus};
    assert_eq!(
        s.begin_request("m1:u", "k", "h1", T0).await.unwrap(),
        RequestKeyBegin::Started
    );
    assert_eq!(
        s.begin_request("m2:u", "k", "h1", T0).await.unwrap(),
        RequestKeyBegin::Started,
        "keys are scoped"
    );
    match s.begin_request("m1:u", "k", "h2", T0).await.unwrap() {
        RequestKeyBegin::Existing(r) => {
            assert_eq!(r.status, RequestKeyStatus::InProgress);
            assert_eq!(r.request_hash, "h1");
        }
        RequestKeyBegin::Started => panic!("claimed twice"),
    }
    s.complete_request("m1:u", "k", 201, "{}", T0)
        .await
        .unwrap();
    assert!(is_conflict(
        s.complete_request("m1:u", "k", 201, "{}", T0).await
    ));
    s.release_request("m1:u", "k").await.unwrap();
    match s.begin_request("m1:u", "k", "h1", T0).await.unwrap() {
        RequestKeyBegin::Existing(r) => {
            assert_eq!(r.status, RequestKeyStatus::Completed);
            assert_eq!(r.response_status, Some(201));
            assert_eq!(r.response_body.as_deref(), Some("{}"));
        }
        RequestKeyBegin::Started => panic!("a completed key was released"),
    }
    s.release_request("m2:u", "k").await.unwrap();
    assert_eq!(
        s.begin_request("m2:u", "k", "h3", T0).await.unwrap(),
        RequestKeyBegin::Started
    );
    assert!(!s.ping().await.unwrap().is_empty());
}

/// An in-progress key is taken over only from the start it was begun at
/// (compare-and-set), never a completed one; purging forgets what was begun
/// before the cut, whatever its status.
pub async fn request_keys_are_taken_over_and_purged<S: PayoutStore>(s: S) {
    use crate::ports::{RequestKeyBegin, RequestKeyStatus};
    let later = T0 + Duration::seconds(90);
    s.begin_request("m:u", "stuck", "h1", T0).await.unwrap();
    s.begin_request("m:u", "done", "h1", T0).await.unwrap();
    s.complete_request("m:u", "done", 200, "{}", T0)
        .await
        .unwrap();
    assert!(
        !s.take_over_request("m:u", "stuck", "h2", T0 + Duration::seconds(1), later)
            .await
            .unwrap(),
        "another start"
    );
    assert!(
        !s.take_over_request("m:u", "done", "h2", T0, later)
            .await
            .unwrap(),
        "a completed key stays"
    );
    assert!(
        s.take_over_request("m:u", "stuck", "h2", T0, later)
            .await
            .unwrap()
    );
    assert!(
        !s.take_over_request("m:u", "stuck", "h3", T0, later)
            .await
            .unwrap(),
        "taken over once"
    );
    match s.begin_request("m:u", "stuck", "h9", later).await.unwrap() {
        RequestKeyBegin::Existing(r) => {
            assert_eq!(r.status, RequestKeyStatus::InProgress);
            assert_eq!(r.request_hash, "h2");
            assert_eq!(r.created_at, later);
        }
        RequestKeyBegin::Started => panic!("the new holder's key was claimed again"),
    }
    // The completed key was begun at T0, the taken-over one at `later`.
    assert_eq!(s.purge_requests(T0).await.unwrap(), 0);
    assert_eq!(s.purge_requests(later).await.unwrap(), 1);
    assert_eq!(
        s.begin_request("m:u", "done", "h1", later).await.unwrap(),
        RequestKeyBegin::Started
    );
    assert!(matches!(
        s.begin_request("m:u", "stuck", "h9", later).await.unwrap(),
        RequestKeyBegin::Existing(_)
    ));
}

/// A login link is redeemed once, never after it expires; sessions are
/// stored by hash, touched and deleted.
pub async fn login_links_are_single_use_and_sessions_end<S: PayoutStore>(s: S) {
    use crate::session::{
        LOGIN_LINK_TTL, LoginLink, LoginRefused, Session, SessionPrincipal, SessionSecret,
    };
    let principal = SessionPrincipal {
        subject: "ops@acme.test".to_owned(),
        roles: vec!["tenant_admin".to_owned()],
        merchant_id: merchant(1),
        partner_id: None,
    };
    let link = |secret: &str| LoginLink {
        hash: SessionSecret::new(secret.to_owned()).hash(),
        principal: principal.clone(),
        issued_at: T0,
        expires_at: T0 + LOGIN_LINK_TTL,
        used_at: None,
    };
    let (a, b) = (link("link-a"), link("link-b"));
    s.insert_login_link(&a).await.unwrap();
    s.insert_login_link(&b).await.unwrap();
    assert!(is_duplicate(s.insert_login_link(&a).await));
    let unknown = SessionSecret::new("nope".to_owned()).hash();
    assert_eq!(
        s.redeem_login_link(&unknown, T0).await.unwrap(),
        Err(LoginRefused::Unknown)
    );
    let redeemed = s
        .redeem_login_link(&a.hash, T0 + Duration::minutes(1))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(redeemed.principal, principal);
    assert_eq!(
        s.redeem_login_link(&a.hash, T0 + Duration::minutes(2))
            .await
            .unwrap(),
        Err(LoginRefused::Used)
    );
    assert_eq!(
        s.redeem_login_link(&b.hash, T0 + LOGIN_LINK_TTL)
            .await
            .unwrap(),
        Err(LoginRefused::Expired)
    );

    let session = Session {
        hash: SessionSecret::new("cookie".to_owned()).hash(),
        principal: principal.clone(),
        csrf_token: "csrf".to_owned(),
        created_at: T0,
        last_seen_at: T0,
    };
    s.insert_session(&session).await.unwrap();
    assert!(is_duplicate(s.insert_session(&session).await));
    s.touch_session(&session.hash, T0 + Duration::hours(1))
        .await
        .unwrap();
    let read = s.session(&session.hash).await.unwrap().unwrap();
    assert_eq!(read.last_seen_at, T0 + Duration::hours(1));
    assert_eq!(read.principal, principal);
    s.delete_session(&session.hash).await.unwrap();
    s.delete_session(&session.hash).await.unwrap();
    assert_eq!(s.session(&session.hash).await.unwrap(), None);
    assert!(matches!(
        s.touch_session(&session.hash, T0).await,
        Err(StoreError::NotFound { .. })
    ));
}
