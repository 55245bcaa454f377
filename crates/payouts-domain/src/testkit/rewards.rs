//! Scenarios for the reward rules (tiers, first conversions, per-product
//! rates, leads) and for corrections through the API (refunds,
//! cancellations and corrections by conversion id), before finalization,
//! after it and after payment. The ledger invariant is checked after every
//! step.

use time::macros::datetime;

use super::scenarios::World;
use crate::batch::CarryReason;
use crate::commission::{
    ChangeReason, Commission, CommissionKind, CommissionState, ConversionInput,
};
use crate::engine::RecordOutcome;
use crate::error::DomainError;
use crate::ids::{ExternalId, ProductId, ReferralKey};
use crate::period::Period;
use crate::ports::{Clock, PayoutStore};
use crate::program::{CommissionAmount, PayoutPolicy};
use crate::reward::{
    AppliedRule, ConversionKind, FirstConversions, ProductRate, Tier, TierBasis, Tiers,
};
use crate::{Currency, Money, Percent, Rounding};

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn pct(p: i64) -> CommissionAmount {
    CommissionAmount::Percent {
        percent: Percent::new(rust_decimal::Decimal::from(p)).unwrap(),
        rounding: Rounding::HalfEven,
    }
}

/// A conversion for `key`'s link, recorded now.
struct Sale<'a> {
    external: &'a str,
    amount: i64,
    customer: Option<&'a str>,
    product: Option<&'a str>,
    kind: ConversionKind,
}

impl<'a> Sale<'a> {
    fn of(external: &'a str, amount: i64) -> Self {
        Sale {
            external,
            amount,
            customer: None,
            product: None,
            kind: ConversionKind::Sale,
        }
    }
}

async fn record<S: PayoutStore + Clone>(
    w: &World<S>,
    key: &str,
    sale: Sale<'_>,
) -> Result<RecordOutcome, DomainError> {
    w.engine
        .record_conversion(
            w.program.id,
            ConversionInput {
                external_id: ExternalId::parse(sale.external).unwrap(),
                amount: usd(sale.amount),
                occurred_at: w.clock.now(),
                coupon_code: None,
                referral_key: Some(ReferralKey::parse(key).unwrap()),
                customer_ref: sale.customer.map(str::to_owned),
                payment_ref: None,
                kind: sale.kind,
                product_id: sale.product.map(|p| ProductId::parse(p).unwrap()),
                customer_email: None,
            },
        )
        .await
}

/// The commission a recording earned.
async fn earned<S: PayoutStore + Clone>(w: &World<S>, key: &str, sale: Sale<'_>) -> Commission {
    match record(w, key, sale).await.unwrap() {
        RecordOutcome::Recorded {
            commission: Some(c),
            ..
        } => c,
        other => panic!("expected a commission, got {other:?}"),
    }
}

/// Updates the world's program rule.
async fn set_rule<S: PayoutStore + Clone>(
    w: &World<S>,
    change: impl FnOnce(&mut crate::program::CommissionRule),
) {
    let mut settings = w.engine.program(w.program.id).await.unwrap().settings();
    change(&mut settings.commission_rule);
    w.engine
        .update_program(
            w.program.id,
            settings,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
}

/// Finalizes every period up to now.
async fn finalize_all<S: PayoutStore + Clone>(w: &World<S>) {
    w.engine
        .finalize_period(
            w.program.id,
            Period::containing(w.clock.now()),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    w.assert_ledger().await;
}

/// Scenario: tiers by the partner's finalized revenue and sale count
/// decide the rate when a conversion is recorded, and the commission
/// names its tier.
pub async fn tiers_follow_the_partners_finalized_totals<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    w.partner("bob").await;
    set_rule(&w, |r| {
        r.recurring_months = Some(12);
        r.tiers = Some(Tiers {
            basis: TierBasis::Revenue,
            steps: vec![
                Tier {
                    from: 100_000,
                    amount: pct(25),
                },
                Tier {
                    from: 300_000,
                    amount: pct(30),
                },
            ],
        });
    })
    .await;

    // Nothing finalized yet: the base 20 %.
    let first = earned(&w, "alice", Sale::of("a1", 100_000)).await;
    assert_eq!(first.amount, usd(20_000));
    assert_eq!(first.rule, Some(AppliedRule::Base { rate: pct(20) }));
    // Pending revenue does not count toward a tier.
    let second = earned(&w, "alice", Sale::of("a2", 50_000)).await;
    assert_eq!(second.rule.as_ref().unwrap().as_str(), "base");
    w.assert_ledger().await;

    // Past the 14-day hold, both finalize: $1,500 of revenue reaches tier 1.
    w.advance_days(15);
    finalize_all(&w).await;
    let third = earned(&w, "alice", Sale::of("a3", 10_000)).await;
    assert_eq!(third.amount, usd(2_500));
    assert_eq!(
        third.rule,
        Some(AppliedRule::Tier {
            tier: 1,
            basis: TierBasis::Revenue,
            from: 100_000,
            total: 150_000,
            rate: pct(25),
        })
    );
    // Bob's totals are his own.
    let bob = earned(&w, "bob", Sale::of("b1", 10_000)).await;
    assert_eq!(bob.rule.as_ref().unwrap().as_str(), "base");

    // A refund after finalization lowers the revenue the tier counts.
    w.engine
        .refund_conversion(
            &w.merchant,
            first.conversion_id,
            usd(60_000),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    w.assert_ledger().await;
    let fourth = earned(&w, "alice", Sale::of("a4", 10_000)).await;
    assert_eq!(
        fourth.rule.as_ref().unwrap().as_str(),
        "base",
        "$900 of finalized revenue is below tier 1: {:?}",
        fourth.rule
    );

    // By sale count: two finalized sales reach a tier from 2.
    set_rule(&w, |r| {
        r.tiers = Some(Tiers {
            basis: TierBasis::Conversions,
            steps: vec![Tier {
                from: 2,
                amount: pct(40),
            }],
        });
    })
    .await;
    let fifth = earned(&w, "alice", Sale::of("a5", 10_000)).await;
    assert_eq!(fifth.amount, usd(4_000));
    assert!(matches!(
        fifth.rule,
        Some(AppliedRule::Tier {
            tier: 1,
            basis: TierBasis::Conversions,
            total: 2,
            ..
        })
    ));
    w.assert_ledger().await;
}

/// Scenario: a customer's first N sales earn one rate, later ones the
/// base rate, within the recurring window; outside it they earn nothing.
pub async fn first_conversions_then_the_base_rate_while_recurring<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    set_rule(&w, |r| {
        r.recurring_months = Some(3);
        r.first_conversions = Some(FirstConversions {
            count: 2,
            amount: pct(50),
        });
    })
    .await;
    let customer = |ext| Sale {
        customer: Some("cus_1"),
        ..Sale::of(ext, 10_000)
    };
    let one = earned(&w, "alice", customer("c1")).await;
    assert_eq!(one.amount, usd(5_000));
    assert_eq!(
        one.rule,
        Some(AppliedRule::FirstConversions {
            nth: 1,
            count: 2,
            rate: pct(50)
        })
    );
    w.advance_days(30);
    let two = earned(&w, "alice", customer("c2")).await;
    assert!(matches!(
        two.rule,
        Some(AppliedRule::FirstConversions { nth: 2, .. })
    ));
    w.advance_days(30);
    let three = earned(&w, "alice", customer("c3")).await;
    assert_eq!(three.amount, usd(2_000));
    assert_eq!(three.rule, Some(AppliedRule::Base { rate: pct(20) }));
    // Another customer starts at their own first sale.
    let other = earned(
        &w,
        "alice",
        Sale {
            customer: Some("cus_2"),
            ..Sale::of("d1", 10_000)
        },
    )
    .await;
    assert_eq!(other.amount, usd(5_000));
    // Past the three recurring months, the first customer earns nothing.
    w.advance_days(40);
    assert!(matches!(
        record(&w, "alice", customer("c4")).await.unwrap(),
        RecordOutcome::Recorded {
            commission: None,
            ..
        }
    ));
    w.assert_ledger().await;
}

/// Scenario: per-product rates beat the others, and leads earn a flat
/// amount only where the program pays for leads.
pub async fn product_rates_and_flat_amounts_per_lead<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store, PayoutPolicy::Manual).await;
    w.partner("alice").await;
    let lead = |ext| Sale {
        kind: ConversionKind::Lead,
        ..Sale::of(ext, 0)
    };
    // No lead amount yet: a lead is refused and nothing is stored.
    assert!(matches!(
        record(&w, "alice", lead("l0")).await,
        Err(DomainError::Validation { ref field, .. }) if field == "kind"
    ));
    set_rule(&w, |r| {
        r.products = vec![ProductRate {
            product_id: ProductId::parse("prod_course").unwrap(),
            amount: CommissionAmount::Fixed { amount: usd(7_500) },
        }];
        r.first_conversions = Some(FirstConversions {
            count: 5,
            amount: pct(50),
        });
        r.lead = Some(usd(500));
    })
    .await;
    let course = earned(
        &w,
        "alice",
        Sale {
            product: Some("prod_course"),
            ..Sale::of("p1", 30_000)
        },
    )
    .await;
    assert_eq!(course.amount, usd(7_500));
    assert_eq!(
        course.rule,
        Some(AppliedRule::Product {
            product_id: ProductId::parse("prod_course").unwrap(),
            rate: CommissionAmount::Fixed { amount: usd(7_500) },
        })
    );
    // Another product falls through to the first-conversions rate for a
    // known customer, and to the base rate for an unknown one.
    let other = earned(
        &w,
        "alice",
        Sale {
            product: Some("prod_ebook"),
            customer: Some("cus_9"),
            ..Sale::of("p2", 10_000)
        },
    )
    .await;
    assert_eq!(other.rule.as_ref().unwrap().as_str(), "first_conversions");
    let anonymous = earned(
        &w,
        "alice",
        Sale {
            product: Some("prod_ebook"),
            ..Sale::of("p3", 10_000)
        },
    )
    .await;
    assert_eq!(anonymous.rule, Some(AppliedRule::Base { rate: pct(20) }));
    // A lead earns $5 and has no sale amount.
    let signup = earned(&w, "alice", lead("l1")).await;
    assert_eq!(signup.amount, usd(500));
    assert_eq!(signup.rule, Some(AppliedRule::Lead { amount: usd(500) }));
    assert!(matches!(
        record(
            &w,
            "alice",
            Sale {
                kind: ConversionKind::Lead,
                ..Sale::of("l2", 100)
            }
        )
        .await,
        Err(DomainError::Validation { ref field, .. }) if field == "amount"
    ));
    // A lead cannot be refunded, but can be cancelled.
    assert!(matches!(
        w.engine
            .refund_conversion(
                &w.merchant,
                signup.conversion_id,
                usd(1),
                &crate::testkit::fixtures::operator()
            )
            .await,
        Err(DomainError::Validation { .. })
    ));
    let cancelled = w
        .engine
        .cancel_conversion_by_id(
            &w.merchant,
            signup.conversion_id,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert!(matches!(
        cancelled.commissions[0].state,
        CommissionState::Voided {
            reason: ChangeReason::Cancellation,
            ..
        }
    ));
    w.assert_ledger().await;
}

/// Scenario: refunds, cancellations and corrections through the API, on a
/// pending commission, a finalized one and a paid one. After payment a
/// negative adjustment is a debt carried on the next manifest, and the
/// partner is not paid until it clears.
pub async fn corrections_before_and_after_finalization_and_payment<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::new(store, PayoutPolicy::AutoAll).await;
    w.partner("alice").await;
    w.partner("bob").await;
    let a1 = earned(&w, "alice", Sale::of("a1", 100_000)).await; // $200
    let a2 = earned(&w, "alice", Sale::of("a2", 50_000)).await; // $100
    let b1 = earned(&w, "bob", Sale::of("b1", 50_000)).await; // $100

    // Pending: a partial refund shrinks it in proportion; a correction sets
    // what the sale earns (refunds still scale it); a repeat is a no-op.
    let refunded = w
        .engine
        .refund_conversion(
            &w.merchant,
            a1.conversion_id,
            usd(25_000),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(refunded.conversion.refunded, usd(25_000));
    assert_eq!(refunded.commissions[0].amount, usd(15_000));
    let corrected = w
        .engine
        .correct_conversion(
            &w.merchant,
            a1.conversion_id,
            usd(30_000),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(corrected.commissions[0].amount, usd(22_500));
    assert_eq!(corrected.commissions[0].state, CommissionState::Pending);
    let again = w
        .engine
        .correct_conversion(
            &w.merchant,
            a1.conversion_id,
            usd(30_000),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert!(again.changed.is_empty(), "same correction again: no change");
    // Too much, a negative amount, another currency: refused, nothing changes.
    for bad in [
        w.engine
            .refund_conversion(
                &w.merchant,
                a1.conversion_id,
                usd(75_001),
                &crate::testkit::fixtures::operator(),
            )
            .await,
        w.engine
            .correct_conversion(
                &w.merchant,
                a1.conversion_id,
                usd(-1),
                &crate::testkit::fixtures::operator(),
            )
            .await,
        w.engine
            .refund_conversion(
                &w.merchant,
                a1.conversion_id,
                Money::new(1, Currency::EUR),
                &crate::testkit::fixtures::operator(),
            )
            .await,
    ] {
        assert!(
            matches!(bad, Err(DomainError::Validation { .. })),
            "{bad:?}"
        );
    }
    let other_merchant = crate::ids::MerchantId::parse("merchant_other").unwrap();
    assert!(matches!(
        w.engine
            .cancel_conversion_by_id(
                &other_merchant,
                a1.conversion_id,
                &crate::testkit::fixtures::operator()
            )
            .await,
        Err(DomainError::NotFound { .. })
    ));
    w.assert_ledger().await;

    // Corrected to nothing, a pending commission is voided; corrected up
    // again, it is pending again.
    let b2 = earned(&w, "bob", Sale::of("b2", 10_000)).await; // $20
    let op = crate::testkit::fixtures::operator();
    let voided = w
        .engine
        .correct_conversion(&w.merchant, b2.conversion_id, usd(0), &op)
        .await
        .unwrap();
    assert!(matches!(
        voided.commissions[0].state,
        CommissionState::Voided {
            reason: ChangeReason::Manual,
            ..
        }
    ));
    let back = w
        .engine
        .correct_conversion(&w.merchant, b2.conversion_id, usd(3_000), &op)
        .await
        .unwrap();
    assert_eq!(back.commissions[0].state, CommissionState::Pending);
    assert_eq!(back.commissions[0].amount, usd(3_000));
    w.assert_ledger().await;

    // January closes and pays: alice $225 + $100, bob $100 + $30.
    w.clock.set(datetime!(2026-02-02 08:00 UTC));
    let jan = w.close("2026-01").await;
    assert_eq!(jan.total, usd(45_500));
    w.engine.execute_batch(jan.id).await.unwrap();
    w.assert_no_double_pay(&jan).await;
    w.assert_ledger().await;

    // After finalization and payment, a correction upward is a positive
    // adjustment; a full refund of a2 is a negative one.
    let up = w
        .engine
        .correct_conversion(
            &w.merchant,
            b1.conversion_id,
            usd(12_000),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(up.changed.len(), 1);
    assert_eq!(up.changed[0].amount, usd(2_000));
    assert_eq!(
        up.changed[0].kind,
        CommissionKind::Adjustment {
            corrects: b1.id,
            reason: ChangeReason::Manual
        }
    );
    let down = w
        .engine
        .refund_conversion(
            &w.merchant,
            a2.conversion_id,
            usd(50_000),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(down.changed[0].amount, usd(-10_000));
    assert!(matches!(
        down.changed[0].kind,
        CommissionKind::Adjustment {
            reason: ChangeReason::Refund,
            ..
        }
    ));
    // Correcting a cancelled or fully refunded sale's commission: refused
    // for the cancelled one; the refunded one is worth nothing either way.
    w.engine
        .cancel_conversion_by_id(
            &w.merchant,
            b1.conversion_id,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert!(matches!(
        w.engine
            .correct_conversion(
                &w.merchant,
                b1.conversion_id,
                usd(1),
                &crate::testkit::fixtures::operator()
            )
            .await,
        Err(DomainError::Validation { .. })
    ));
    // A correction back and forth after finalization nets to the last one.
    for target in [10_000, 40_000, 30_000, 40_000] {
        w.engine
            .correct_conversion(
                &w.merchant,
                a1.conversion_id,
                usd(target),
                &crate::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
    }
    let rows = w
        .engine
        .store()
        .commissions_of_conversion(a1.conversion_id)
        .await
        .unwrap();
    let total = Money::sum(Currency::USD, rows.iter().map(|c| &c.amount)).unwrap();
    assert_eq!(total, usd(30_000), "$400 less a quarter refunded");
    w.assert_ledger().await;
    // Each correction that changed something, and the refund, is in the
    // audit trail with who made it; the repeated one is not.
    let trail = w
        .engine
        .audit_events(
            &crate::audit::AuditFilter {
                merchant_id: Some(w.merchant.clone()),
                object_id: Some(a1.conversion_id.to_string()),
                ..crate::audit::AuditFilter::default()
            },
            crate::ports::PageRequest::first(50),
        )
        .await
        .unwrap()
        .data;
    let count = |action| trail.iter().filter(|e| e.action == action).count();
    assert_eq!(count(crate::audit::AuditAction::ConversionCorrected), 5);
    assert_eq!(count(crate::audit::AuditAction::ConversionRefunded), 1);
    assert!(trail.iter().all(|e| e.actor == op.actor));

    // February: alice owes $100 (a2) and gains $75 (a1) = -$25; bob owes
    // $120 (cancelled b1) net of +$20 = -$100. Both carry as debts.
    w.clock.set(datetime!(2026-03-02 08:00 UTC));
    let feb = w.close("2026-02").await;
    assert_eq!(feb.item_count, 0);
    let mut carried: Vec<(i64, CarryReason)> = feb
        .carried
        .iter()
        .map(|c| (c.amount.amount_minor(), c.reason))
        .collect();
    carried.sort_by_key(|c| c.0);
    assert_eq!(
        carried,
        vec![
            (-10_000, CarryReason::NegativeBalance),
            (-2_500, CarryReason::NegativeBalance)
        ]
    );
    w.engine.execute_batch(feb.id).await.unwrap();
    w.assert_ledger().await;

    // March: alice earns $60, not enough to clear her $25 debt and meet
    // the $50 minimum; April's $100 clears it and she is paid $135.
    earned(&w, "alice", Sale::of("m1", 30_000)).await;
    w.clock.set(datetime!(2026-04-02 08:00 UTC));
    let mar = w.close("2026-03").await;
    assert_eq!(mar.item_count, 0);
    earned(&w, "alice", Sale::of("p1", 50_000)).await;
    w.clock.set(datetime!(2026-05-02 08:00 UTC));
    let apr = w.close("2026-04").await;
    assert_eq!(apr.total, usd(13_500));
    w.engine.execute_batch(apr.id).await.unwrap();
    w.assert_no_double_pay(&apr).await;
    w.assert_ledger().await;

    // Her April statement shows the debt it cleared: the adjustments it
    // nets, and February's negative carry and March's below-minimum one.
    let item = w.items(apr.id).await.remove(0);
    let statement = w
        .engine
        .statement(item.partner_id, item.id, Some(&w.merchant))
        .await
        .unwrap();
    assert_eq!(statement.total, usd(13_500));
    let reasons: Vec<CarryReason> = statement.carry_overs.iter().map(|c| c.reason).collect();
    assert_eq!(
        reasons,
        vec![CarryReason::NegativeBalance, CarryReason::BelowMinimum]
    );
    assert_eq!(statement.carry_overs[0].amount, usd(-2_500));
    let adjustments: i64 = statement
        .lines
        .iter()
        .filter(|l| l.is_adjustment())
        .map(|l| l.amount.amount_minor())
        .sum();
    assert_eq!(adjustments, -2_500, "a2's -$100 and a1's +$75");
    assert!(
        statement
            .lines
            .iter()
            .filter(|l| !l.is_adjustment())
            .all(|l| l.rule == Some(AppliedRule::Base { rate: pct(20) })),
        "earned lines name their rule"
    );
}
