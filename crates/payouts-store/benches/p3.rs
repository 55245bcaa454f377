//! Figure P3: one merchant's program with 1,000,000 commissions across
//! 10,000 partners; finalize the period, then build its batch through the
//! domain use case. Reports each step and prints one JSON line per backend.
//!
//! ```text
//! cargo bench -p payouts-store --bench p3 -- [--backend sqlite|postgres|all]
//!     [--commissions N] [--partners M]
//! ```
//!
//! SQLite runs on a file in the tests' scratch folder, deleted when the
//! bench exits (WAL, `synchronous = NORMAL`). PostgreSQL uses `DATABASE_URL` when set, otherwise a throwaway
//! cluster started like the tests' (see `payouts_store::testing`) but with
//! durable settings: fsync, synchronous commit and full-page writes stay
//! on; only memory and checkpoint spacing are raised.
#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a benchmark stops at the first failing step"
)]

use std::sync::Arc;
use std::time::Instant;

use payouts_domain::commission::{Commission, CommissionKind, CommissionState};
use payouts_domain::engine::{EngineConfig, Payouts};
use payouts_domain::ids::{
    AccountId, CommissionId, ConversionId, MembershipId, MerchantId, PartnerId, ProgramId,
    ReferralKey, WorkerId,
};
use payouts_domain::memory::{InMemoryStripe, ManualClock};
use payouts_domain::partner::{CapabilityStatus, Membership, MembershipStatus, OnboardingState};
use payouts_domain::period::Period;
use payouts_domain::ports::{
    CommissionStore, ConnectionStore, ItemStore, MembershipStore, ProgramStore,
};
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, Program, ProgramStatus,
};
use payouts_domain::system::RandomIds;
use payouts_domain::{Currency, Money, Percent, Rounding};
use payouts_store::SeaOrmStore;
use time::Duration;
use time::macros::datetime;
use uuid::Uuid;

/// Commissions generated and inserted per call (one transaction each).
const GENERATE_CHUNK: usize = 50_000;
/// Concurrent membership inserts.
const MEMBER_CONCURRENCY: usize = 8;

/// Durable PostgreSQL settings for the benchmark cluster.
const PG_BENCH_SETTINGS: &[(&str, &str)] = &[
    ("shared_buffers", "512MB"),
    ("work_mem", "64MB"),
    ("maintenance_work_mem", "256MB"),
    ("max_wal_size", "8GB"),
    ("checkpoint_timeout", "30min"),
];

struct Args {
    backends: Vec<&'static str>,
    commissions: usize,
    partners: usize,
}

fn args() -> Args {
    let mut args = Args {
        backends: vec!["sqlite", "postgres"],
        commissions: 1_000_000,
        partners: 10_000,
    };
    let mut iter = std::env::args().skip(1);
    while let Some(arg) = iter.next() {
        match arg.as_str() {
            "--backend" => {
                args.backends = match iter.next().as_deref() {
                    Some("sqlite") => vec!["sqlite"],
                    Some("postgres") => vec!["postgres"],
                    Some("all") => vec!["sqlite", "postgres"],
                    other => panic!("--backend sqlite|postgres|all, not {other:?}"),
                }
            }
            "--commissions" => args.commissions = iter.next().unwrap().parse().unwrap(),
            "--partners" => args.partners = iter.next().unwrap().parse().unwrap(),
            // `cargo bench` passes `--bench` to every bench binary.
            _ => {}
        }
    }
    assert!(args.partners > 0 && args.commissions >= args.partners);
    args
}

fn main() {
    let args = args();
    let mut lines = Vec::new();
    for backend in &args.backends {
        lines.push(payouts_store::testing::block_on(run(backend, &args)));
    }
    for line in lines {
        println!("{line}");
    }
}

async fn open(backend: &str) -> SeaOrmStore {
    let url = match backend {
        "sqlite" => {
            // Deleted with the scratch folder when the bench exits.
            let dir = payouts_store::testing::scratch_dir().unwrap();
            format!("sqlite://{}/p3.sqlite?mode=rwc", dir.display())
        }
        _ => match std::env::var("DATABASE_URL") {
            Ok(_) => payouts_store::testing::fresh_postgres_database()
                .await
                .unwrap()
                .expect("PostgreSQL"),
            Err(_) => payouts_store::testing::start_cluster("p3", PG_BENCH_SETTINGS)
                .expect("a PostgreSQL cluster")
                .create_database()
                .await
                .unwrap(),
        },
    };
    let store = SeaOrmStore::connect(&url).await.unwrap();
    store.migrate().await.unwrap();
    store
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// A tiny deterministic generator (xorshift) so both backends get the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

async fn run(backend: &str, args: &Args) -> String {
    let store = open(backend).await;
    let merchant = MerchantId::parse("merchant_p3").unwrap();
    let program = Program {
        id: ProgramId::from_uuid(Uuid::new_v4()),
        merchant_id: merchant.clone(),
        name: "P3".into(),
        currency: Currency::USD,
        commission_rule: CommissionRule::flat(
            CommissionAmount::Percent {
                percent: Percent::new(rust_decimal_percent()).unwrap(),
                rounding: Rounding::HalfEven,
            },
            None,
        ),
        holding_days: 30,
        minimum_payout: usd(1_000),
        minimum_payouts: std::collections::BTreeMap::new(),
        payout_policy: PayoutPolicy::Manual,
        coupon_sync: CouponSyncMode::Manual,
        payout_countries: vec![payouts_domain::crossborder::PayoutCountry::US],
        status: ProgramStatus::Active,
        hold: None,
        created_at: datetime!(2026-01-01 0:00 UTC),
    };
    let t_insert = Instant::now();
    store
        .save_connection(
            &payouts_domain::connection::MerchantConnection::authorized(
                merchant.clone(),
                AccountId::parse("acct_merchantp3").unwrap(),
                "read_write".into(),
                program.created_at,
            ),
            None,
        )
        .await
        .unwrap();
    store.insert_program(&program).await.unwrap();
    let members: Vec<Membership> = (0..args.partners)
        .map(|i| Membership {
            bank_fingerprint: None,
            id: MembershipId::from_uuid(Uuid::new_v4()),
            partner_id: PartnerId::from_uuid(Uuid::new_v4()),
            program_id: program.id,
            merchant_id: merchant.clone(),
            email: format!("p{i}@example.com"),
            country: "US".into(),
            account_id: Some(AccountId::parse(format!("acct_p{i}")).unwrap()),
            service_agreement: Some(payouts_domain::crossborder::ServiceAgreement::Full),
            onboarding: OnboardingState {
                details_submitted: true,
                payouts_enabled: true,
                transfers: CapabilityStatus::Active,
            },
            referral_key: ReferralKey::parse(format!("p{i}")).unwrap(),
            status: MembershipStatus::Active,
            joined_at: program.created_at,
        })
        .collect();
    for group in members.chunks(MEMBER_CONCURRENCY.max(1) * 64) {
        let mut tasks = Vec::new();
        for lane in group.chunks(64) {
            let store = store.clone();
            let lane = lane.to_vec();
            tasks.push(tokio::spawn(async move {
                for m in &lane {
                    store.insert_membership(m).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
    let members_s = t_insert.elapsed().as_secs_f64();
    let period = Period::parse("2026-01").unwrap();
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut expected_total = 0_i64;
    let mut inserted = 0_usize;
    while inserted < args.commissions {
        let n = GENERATE_CHUNK.min(args.commissions - inserted);
        let chunk: Vec<Commission> = (0..n)
            .map(|k| {
                let i = inserted + k;
                let member = &members[i % members.len()];
                let amount = 100 + i64::try_from(rng.next() % 9_900).unwrap();
                expected_total += amount;
                let created = period.start()
                    + Duration::seconds(i64::try_from(rng.next() % 2_600_000).unwrap());
                Commission {
                    id: CommissionId::from_uuid(Uuid::new_v4()),
                    merchant_id: merchant.clone(),
                    program_id: program.id,
                    membership_id: member.id,
                    partner_id: member.partner_id,
                    conversion_id: ConversionId::from_uuid(Uuid::new_v4()),
                    kind: CommissionKind::Earned,
                    amount: usd(amount),
                    original_amount: usd(amount),
                    state: CommissionState::Pending,
                    period,
                    created_at: created,
                    hold_until: created + Duration::days(30),
                    payout_item_id: None,
                    rule: None,
                }
            })
            .collect();
        store.insert_commissions(&chunk).await.unwrap();
        inserted += n;
    }
    let insert_s = t_insert.elapsed().as_secs_f64();

    let clock = ManualClock::at(datetime!(2026-03-05 12:00 UTC));
    let engine = Payouts::new(
        store.clone(),
        InMemoryStripe::new(Arc::new(clock.clone())),
        clock,
        RandomIds,
        EngineConfig::new(WorkerId::parse("bench").unwrap()),
    );
    let pay_period = Period::parse("2026-02").unwrap();
    let t_finalize = Instant::now();
    let finalized = engine
        .finalize_period(
            program.id,
            pay_period,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await
        .unwrap();
    let finalize_s = t_finalize.elapsed().as_secs_f64();
    assert_eq!(finalized, u64::try_from(args.commissions).unwrap());

    // Diagnostic only (not part of the figure): the aggregate the build starts with.
    let t_balances = Instant::now();
    let balances = store
        .partner_balances(program.id, pay_period, datetime!(2026-03-05 12:00 UTC))
        .await
        .unwrap();
    let balances_s = t_balances.elapsed().as_secs_f64();
    assert_eq!(balances.len(), args.partners);

    let t_build = Instant::now();
    let batch = engine
        .build_batch(
            program.id,
            pay_period,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await
        .unwrap();
    let build_s = t_build.elapsed().as_secs_f64();
    assert_eq!(batch.item_count, u32::try_from(args.partners).unwrap());
    assert_eq!(batch.total, usd(expected_total));
    let first_page = store
        .items(batch.id, payouts_domain::ports::PageRequest::first(100))
        .await
        .unwrap();
    let linked = store
        .item_commission_ids(first_page.data[0].id)
        .await
        .unwrap()
        .len();
    assert_eq!(
        u32::try_from(linked).unwrap(),
        first_page.data[0].commission_count
    );

    eprintln!(
        "p3 {backend}: insert {insert_s:.2} s (memberships {members_s:.2} s), \
         finalize {finalize_s:.2} s, build {build_s:.2} s (its balances query alone: \
         {balances_s:.2} s), finalize+build {:.2} s",
        finalize_s + build_s
    );
    format!(
        "{{\"figure\":\"P3\",\"backend\":\"{backend}\",\"commissions\":{},\"partners\":{},\
         \"insert_s\":{insert_s:.3},\"memberships_s\":{members_s:.3},\"finalize_s\":{finalize_s:.3},\
         \"build_s\":{build_s:.3},\"total_s\":{:.3},\"items\":{}}}",
        args.commissions,
        args.partners,
        finalize_s + build_s,
        batch.item_count
    )
}

/// 12.5 %.
fn rust_decimal_percent() -> rust_decimal::Decimal {
    rust_decimal::Decimal::new(125, 1)
}
