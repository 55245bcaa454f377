//! A merchant's paid year, seeded straight into a store: what the tax list
//! and partner statements are tested on (by the domain, the API and the
//! console) without driving Stripe.
//!
//! One USD program of `merchant` and one of its batches for 2026-01, with
//! a December 2025 batch that carried Alice's balance:
//! - Alice (US): a December commission of $10 carried over, a January one
//!   of $900 from conversion `ord-alice`, and a refund adjustment of −$110
//!   correcting it; her item pays $800, posted on 2026-02-09.
//! - Bob (US): $100, posted.
//! - Carol (DE): $1,000, posted.
//! - Dave (US): $50, still pending (an unpaid item).

use time::Duration;

use super::fixtures::{T0, batch, conversion, finalized, item, membership, program, usd};
use crate::batch::{CarryOver, CarryReason, PayoutBatch};
use crate::commission::{ChangeReason, Commission, CommissionState};
use crate::ids::{CommissionId, MerchantId, TransferId};
use crate::item::{ItemEvent, PayoutItem};
use crate::partner::Membership;
use crate::ports::PayoutStore;
use crate::program::Program;

/// What [`seed`] wrote.
#[derive(Debug, Clone)]
pub struct PaidYear {
    /// The program.
    pub program: Program,
    /// US, over the threshold, with a carry-over and an adjustment.
    pub alice: Membership,
    /// US, under the threshold.
    pub bob: Membership,
    /// Not US, over the threshold.
    pub carol: Membership,
    /// US, item not paid yet.
    pub dave: Membership,
    /// The December batch that carried Alice's $10.
    pub december: PayoutBatch,
    /// The January batch.
    pub january: PayoutBatch,
    /// Alice's, Bob's and Carol's posted items, in that order.
    pub paid: Vec<PayoutItem>,
    /// Dave's pending item.
    pub unpaid: PayoutItem,
}

/// Seeds [`PaidYear`] for `merchant`; `base` keeps ids apart when several
/// merchants share a store (use multiples of 100 000).
///
/// # Panics
/// When a store write fails.
pub async fn seed<S: PayoutStore + ?Sized>(s: &S, merchant: MerchantId, base: u128) -> PaidYear {
    let program = program(base + 1, merchant);
    s.insert_program(&program).await.unwrap();
    let alice = membership(base + 10, &program, "alice");
    let bob = membership(base + 11, &program, "bob");
    let mut carol = membership(base + 12, &program, "carol");
    carol.country = "DE".into();
    carol.service_agreement = Some(crate::crossborder::ServiceAgreement::Recipient);
    let dave = membership(base + 13, &program, "dave");
    for m in [&alice, &bob, &carol, &dave] {
        s.insert_membership(m).await.unwrap();
    }
    // A finalized earned commission with its conversion.
    let earned =
        |id: u128, m: &Membership, external: &str, sale: i64, amount: i64, period: &str| {
            let c = finalized(base + id, m, usd(amount), period, T0);
            let mut conv = conversion(base + id, m, external, usd(sale), c.period.start());
            conv.id = c.conversion_id;
            (conv, c)
        };
    let (dec_conv, dec) = earned(100, &alice, "ord-alice-dec", 5_000, 1_000, "2025-12");
    let (jan_conv, jan) = earned(101, &alice, "ord-alice", 450_000, 90_000, "2026-01");
    let refund = Commission::adjustment(
        CommissionId::from_uuid(super::fixtures::uuid(base + 102)),
        &jan,
        usd(-11_000),
        ChangeReason::Refund,
        T0,
    );
    let (bob_conv, bob_c) = earned(110, &bob, "ord-bob", 50_000, 10_000, "2026-01");
    let (carol_conv, carol_c) = earned(120, &carol, "ord-carol", 500_000, 100_000, "2026-01");
    let (dave_conv, dave_c) = earned(130, &dave, "ord-dave", 25_000, 5_000, "2026-01");
    for (conv, c) in [
        (&dec_conv, &dec),
        (&jan_conv, &jan),
        (&bob_conv, &bob_c),
        (&carol_conv, &carol_c),
        (&dave_conv, &dave_c),
    ] {
        s.insert_conversion(conv, None).await.unwrap();
        s.insert_commission(c).await.unwrap();
    }
    assert!(matches!(refund.state, CommissionState::Finalized { .. }));
    s.insert_commission(&refund).await.unwrap();

    let mut december = batch(base + 200, &program, "2025-12", usd(0), 0);
    december.carried = vec![CarryOver {
        membership_id: alice.id,
        partner_id: alice.partner_id,
        amount: usd(1_000),
        commission_count: 1,
        reason: CarryReason::BelowMinimum,
    }];
    december.as_of = T0 - Duration::days(9);
    december.created_at = december.as_of;
    s.insert_batch(&december, &[]).await.unwrap();

    let mut january = batch(base + 201, &program, "2026-01", usd(195_000), 4);
    january.carried = Vec::new();
    let items = [
        item(base + 300, &january, &alice, usd(80_000), 3),
        item(base + 301, &january, &bob, usd(10_000), 1),
        item(base + 302, &january, &carol, usd(100_000), 1),
        item(base + 303, &january, &dave, usd(5_000), 1),
    ];
    s.insert_batch(&january, &items).await.unwrap();
    let paid_at = T0 + Duration::days(30);
    let mut paid = Vec::new();
    for (n, it) in items.iter().take(3).enumerate() {
        let sub = it
            .apply(&ItemEvent::Submit {
                attempt: 1,
                at: paid_at,
            })
            .unwrap();
        s.transition_item(&sub, &it.state, &[]).await.unwrap();
        let posted = sub
            .apply(&ItemEvent::Posted {
                transfer_id: TransferId::parse(format!("tr_paid{}x{n}", base)).unwrap(),
                at: paid_at,
            })
            .unwrap();
        s.transition_item(&posted, &sub.state, &[]).await.unwrap();
        paid.push(posted);
    }
    let [_, _, _, unpaid] = items;
    PaidYear {
        program,
        alice,
        bob,
        carol,
        dave,
        december,
        january,
        paid,
        unpaid,
    }
}
