//! A small world for scenario tests: one connected merchant, one program,
//! partners onboarded through the in-memory Stripe, and helpers that check
//! the ledger invariant after every step.

use std::sync::Arc;

use payouts_domain::batch::PayoutBatch;
use payouts_domain::commission::ConversionInput;
use payouts_domain::engine::RecordOutcome;
use payouts_domain::engine::{EngineConfig, NewPartner, Payouts};
use payouts_domain::ids::{AccountId, ExternalId, MerchantId, ReferralKey, WorkerId};
use payouts_domain::memory::{InMemoryStore, InMemoryStripe, ManualClock, SequentialIds};
use payouts_domain::partner::Membership;
use payouts_domain::period::Period;
use payouts_domain::ports::Clock;
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, Program, ProgramSettings,
};
use payouts_domain::{Currency, Money, Percent, Rounding};
use rust_decimal_macros::dec;
use time::OffsetDateTime;
use time::macros::datetime;

pub type Engine = Payouts<InMemoryStore, InMemoryStripe, ManualClock, SequentialIds>;

pub const START: OffsetDateTime = datetime!(2026-01-05 09:00 UTC);

pub fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

pub fn run<F: std::future::Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

pub struct World {
    pub engine: Engine,
    pub clock: ManualClock,
    pub merchant: MerchantId,
    pub merchant_account: AccountId,
    pub program: Program,
}

pub fn settings(policy: PayoutPolicy) -> ProgramSettings {
    ProgramSettings {
        name: "Acme partners".into(),
        currency: Currency::USD,
        commission_rule: CommissionRule {
            amount: CommissionAmount::Percent {
                percent: Percent::new(dec!(20)).unwrap(),
                rounding: Rounding::HalfEven,
            },
            recurring_months: None,
        },
        holding_days: 14,
        minimum_payout: usd(5_000),
        payout_policy: policy,
        coupon_sync: CouponSyncMode::Manual,
    }
}

pub fn engine_with(clock: &ManualClock, worker: &str) -> Engine {
    let stripe = InMemoryStripe::new(Arc::new(clock.clone()));
    Payouts::new(
        InMemoryStore::new(),
        stripe,
        clock.clone(),
        SequentialIds::default(),
        EngineConfig::new(WorkerId::parse(worker).unwrap()),
    )
}

impl World {
    /// A connected merchant with one program under `policy`.
    pub fn new(policy: PayoutPolicy) -> World {
        let clock = ManualClock::at(START);
        let engine = engine_with(&clock, "worker-a");
        let merchant = MerchantId::parse("merchant_123").unwrap();
        let merchant_account = AccountId::parse("acct_merchant1").unwrap();
        run(async {
            let start = engine.start_connect(&merchant).await.unwrap();
            let code = engine.gateway().issue_oauth_code(&merchant_account);
            let outcome = engine
                .complete_connect(start.state.token.as_str(), Some(&code), None)
                .await
                .unwrap();
            assert_eq!(outcome.query(), "stripe=connected");
        });
        let program = run(engine.create_program(&merchant, settings(policy))).unwrap();
        World {
            engine,
            clock,
            merchant,
            merchant_account,
            program,
        }
    }

    /// A partner with a completed Express onboarding.
    pub fn partner(&self, key: &str) -> Membership {
        run(async {
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
        })
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
    pub fn sale(&self, key: &str, external: &str, amount_minor: i64) -> RecordOutcome {
        run(self.engine.record_conversion(
            self.program.id,
            ConversionInput {
                external_id: ExternalId::parse(external).unwrap(),
                amount: usd(amount_minor),
                occurred_at: self.clock.now(),
                coupon_code: None,
                referral_key: Some(ReferralKey::parse(key).unwrap()),
                customer_ref: None,
                payment_ref: None,
            },
        ))
        .unwrap()
    }

    pub fn advance_days(&self, days: i64) {
        self.clock.advance(time::Duration::days(days));
    }

    /// Finalizes `period` and builds its batch.
    pub fn close(&self, period: &str) -> PayoutBatch {
        let period = Period::parse(period).unwrap();
        run(async {
            self.engine
                .finalize_period(self.program.id, period)
                .await
                .unwrap();
            self.assert_ledger().await;
            let batch = self
                .engine
                .build_batch(self.program.id, period)
                .await
                .unwrap();
            self.assert_ledger().await;
            batch
        })
    }

    /// The ledger invariant holds.
    pub async fn assert_ledger(&self) {
        let report = self.engine.check_ledger(self.program.id).await.unwrap();
        assert!(report.balanced(), "ledger out of balance: {report:#?}");
    }

    /// Each posted item has exactly one transfer in the fake Stripe, for
    /// exactly its amount, and no transfer pays an item twice.
    pub async fn assert_no_double_pay(&self, batch: &PayoutBatch) {
        let page = self.engine.store().clone();
        let items = payouts_domain::ports::BatchStore::items(
            &page,
            batch.id,
            payouts_domain::ports::PageRequest::first(100),
        )
        .await
        .unwrap();
        for item in items.data {
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
