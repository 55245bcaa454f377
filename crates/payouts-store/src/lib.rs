//! # payouts-store
//!
//! The SeaORM storage adapter of `payouts-domain`: [`SeaOrmStore`]
//! implements every store port (`ConnectionStore`, `ProgramStore`,
//! `MembershipStore`, `CouponStore`, `BankPayoutStore`, `ConversionStore`,
//! `CommissionStore`, `BatchStore`, `ItemStore`, `OutboxStore`,
//! `SettingsStore`, `DisputeStore`, `LeaseStore`, `AccountStore`,
//! `RequestKeyStore`) on SQLite
//! (the embedded default) and on PostgreSQL, chosen by the URL. It holds
//! the entities ([`entity`]), the migrations ([`migration`]), the
//! row/domain conversions, the HTTP layer's `Idempotency-Key` records
//! ([`idempotency`]) and, with the `testing` feature, helpers that give
//! each test a fresh database ([`testing`]).
//!
//! It must not depend on actix, on any Stripe crate, or on the other
//! adapters: only on the domain, SeaORM (with sqlx) and serde.
//!
//! Rules kept here, the same on both backends:
//! * every state change is one `UPDATE … WHERE id = ? AND <expected state>`;
//!   zero rows is [`StoreError::Conflict`] (or `NotFound` when the row is
//!   missing), never a silent success;
//! * unique keys are database constraints, and a violation is
//!   [`StoreError::Duplicate`];
//! * set-based work (finalization, balances, linking a batch's commissions
//!   and checking its sums, the ledger and totals) is done by SQL
//!   statements, not row by row;
//! * on SQLite every write transaction that reads first starts with
//!   `BEGIN IMMEDIATE`, so concurrent writers queue on `busy_timeout`
//!   instead of failing on a stale snapshot.
//!
//! Formats are described in [`entity`].

mod codec;
pub mod entity;
mod error;
pub mod idempotency;
pub mod migration;
mod ports;
mod sql;
#[cfg(feature = "testing")]
pub mod testing;

use std::str::FromStr;
use std::time::Duration;

use payouts_domain::StoreError;
use payouts_domain::commission::Commission;
use sea_orm::sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sea_orm::sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous,
};
use sea_orm::{
    DatabaseConnection, DatabaseTransaction, DbBackend, EntityTrait, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;

use crate::error::DbResultExt;

pub use crate::idempotency::{IdempotencyBegin, IdempotencyRecord, IdempotencyStatus};

/// How long a SQLite connection waits for the write lock before failing.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections per pool on a file database or PostgreSQL.
const POOL_SIZE: u32 = 8;
/// Each SQLite connection's page cache, as `PRAGMA cache_size` (negative:
/// KiB): 8 MiB, so at most 64 MiB for a pool. The cache is per connection
/// and fills as it is used: at 64 MiB each, a worker executing a
/// 100,000-item batch peaked at 442 MB resident (docs/performance.md, P5).
const SQLITE_CACHE_KIB: &str = "-8192";
/// How long a caller waits for a pooled connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);
/// Rows per multi-row `INSERT` (well under both backends' bind limits).
pub(crate) const INSERT_CHUNK: usize = 1_000;

/// Which database a store talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Backend {
    /// SQLite (a file, or `sqlite::memory:`).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// Every store port over one SeaORM connection pool. Clones share the pool.
#[derive(Debug, Clone)]
pub struct SeaOrmStore {
    db: DatabaseConnection,
    backend: Backend,
}

impl SeaOrmStore {
    /// Opens a pool for `url`:
    /// * `sqlite://path?mode=rwc` (a file, created if missing): WAL,
    ///   `synchronous = NORMAL`, `busy_timeout`, foreign keys on;
    /// * `sqlite::memory:`: one connection kept open for the pool's life,
    ///   since every SQLite connection to `:memory:` has its own database;
    /// * `postgres://…` or `postgresql://…`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`] when the URL is not understood or the
    /// database cannot be reached; the message never contains the URL.
    pub async fn connect(url: &str) -> Result<SeaOrmStore, StoreError> {
        if url.starts_with("sqlite:") {
            Self::connect_sqlite(url).await
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Self::connect_postgres(url).await
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(StoreError::Unavailable(format!(
                "unsupported database URL scheme `{scheme}` (use sqlite: or postgres:)"
            )))
        }
    }

    async fn connect_sqlite(url: &str) -> Result<SeaOrmStore, StoreError> {
        let options = SqliteConnectOptions::from_str(url)
            .map_err(|e| open_error(Backend::Sqlite, &e, url))?
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true)
            .pragma("cache_size", SQLITE_CACHE_KIB)
            .pragma("temp_store", "memory");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let pool = if in_memory {
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(POOL_SIZE)
        }
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await
        .map_err(|e| open_error(Backend::Sqlite, &e, url))?;
        Ok(SeaOrmStore {
            db: SqlxSqliteConnector::from_sqlx_sqlite_pool(pool),
            backend: Backend::Sqlite,
        })
    }

    async fn connect_postgres(url: &str) -> Result<SeaOrmStore, StoreError> {
        let options =
            PgConnectOptions::from_str(url).map_err(|e| open_error(Backend::Postgres, &e, url))?;
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await
            .map_err(|e| open_error(Backend::Postgres, &e, url))?;
        Ok(SeaOrmStore {
            db: SqlxPostgresConnector::from_sqlx_postgres_pool(pool),
            backend: Backend::Postgres,
        })
    }

    /// Applies every pending migration; applying again is a no-op.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migration::Migrator::up(&self.db, None)
            .await
            .or_unavailable()
    }

    /// Checks the database answers (for readiness probes).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.db.ping().await.or_unavailable()
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Closes the pool; clones stop working.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    pub async fn close(self) -> Result<(), StoreError> {
        self.db.close().await.or_unavailable()
    }

    /// Inserts many commissions at once (imports, benchmarks): chunked
    /// multi-row `INSERT`s in one transaction. Returns how many were written.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when an id exists (nothing is written);
    /// [`StoreError::Unavailable`].
    pub async fn insert_commissions(&self, commissions: &[Commission]) -> Result<u64, StoreError> {
        let txn = self.begin_write().await?;
        let mut written = 0_u64;
        for chunk in commissions.chunks(INSERT_CHUNK) {
            let rows = chunk
                .iter()
                .map(|c| codec::commission_row(c).map(codec::active))
                .collect::<Result<Vec<_>, _>>()?;
            written = written.saturating_add(
                entity::commission::Entity::insert_many(rows)
                    .exec_without_returning(&txn)
                    .await
                    .or_duplicate("commission", || "in bulk insert".to_owned())?,
            );
        }
        txn.commit().await.or_unavailable()?;
        Ok(written)
    }

    /// The sea-orm backend.
    pub(crate) fn db_backend(&self) -> DbBackend {
        match self.backend {
            Backend::Sqlite => DbBackend::Sqlite,
            Backend::Postgres => DbBackend::Postgres,
        }
    }

    /// The pool.
    pub(crate) fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// A transaction that will write: `BEGIN IMMEDIATE` on SQLite, so the
    /// write lock is taken before anything is read.
    pub(crate) async fn begin_write(&self) -> Result<DatabaseTransaction, StoreError> {
        let options = TransactionOptions {
            sqlite_transaction_mode: match self.backend {
                Backend::Sqlite => Some(SqliteTransactionMode::Immediate),
                Backend::Postgres => None,
            },
            ..TransactionOptions::default()
        };
        self.db.begin_with_options(options).await.or_unavailable()
    }
}

/// An open failure, with any password in `url` blanked from the message.
fn open_error(backend: Backend, err: &dyn std::fmt::Display, url: &str) -> StoreError {
    let mut message = err.to_string();
    if let Some(password) = url_password(url).filter(|p| !p.is_empty()) {
        message = message.replace(password, "***");
    }
    StoreError::Unavailable(format!(
        "cannot open the {} database: {message}",
        backend.as_str()
    ))
}

/// The password part of `scheme://user:password@host/…`, if any.
fn url_password(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let userinfo = rest.split_once('@')?.0;
    Some(userinfo.split_once(':')?.1)
}
