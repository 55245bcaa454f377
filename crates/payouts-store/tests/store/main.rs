//! The store against both backends: the domain's store contract and
//! scenarios (`payouts_domain::testkit`), then this adapter's own cases
//! (migrations, concurrent claims, batch linking and its rollback,
//! precision of instants, `Idempotency-Key` records).
//!
//! Every test gets a fresh database: a new SQLite file, or a new
//! PostgreSQL database on the process's throwaway cluster (see
//! `payouts_store::testing`). Test names start with the backend, so
//! `cargo test -p payouts-store postgres` runs one backend.
#![expect(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test cases stop the test with the failing step"
)]

mod cases;

/// Instantiates every suite for one store factory.
macro_rules! suites {
    ($factory:expr, $url:expr) => {
        mod contract {
            payouts_domain::store_contract_tests!(payouts_store::testing::block_on, $factory);
        }
        mod scenarios {
            payouts_domain::scenario_tests!(payouts_store::testing::block_on, $factory);
        }
        mod adapter {
            crate::adapter_cases!(payouts_store::testing::block_on, $factory, $url);
        }
    };
}

mod sqlite {
    suites!(
        payouts_store::testing::sqlite_store(),
        crate::cases::empty_sqlite_url()
    );
}

mod postgres {
    suites!(
        payouts_store::testing::postgres_store(),
        crate::cases::empty_postgres_url()
    );
}
