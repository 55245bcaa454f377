//! The store ports, one module per trait.

mod accounts;
mod audit;
mod bank_payouts;
mod batches;
mod commissions;
mod connections;
mod conversions;
mod coupons;
mod disputes;
mod endpoints;
mod items;
mod leases;
mod memberships;
mod outbox;
mod programs;
mod sessions;
mod settings;

use payouts_domain::StoreError;
use sea_orm::{ConnectionTrait, QueryResult, TryGetable};

use crate::error::{DbResultExt, corrupt};
use crate::sql::Sql;

/// Runs a hand-written query and returns its rows.
pub(crate) async fn rows<C: ConnectionTrait>(
    db: &C,
    sql: Sql,
) -> Result<Vec<QueryResult>, StoreError> {
    db.query_all_raw(sql.build()).await.or_unavailable()
}

/// Runs a hand-written statement and returns how many rows it changed.
pub(crate) async fn execute<C: ConnectionTrait>(db: &C, sql: Sql) -> Result<u64, StoreError> {
    Ok(db
        .execute_raw(sql.build())
        .await
        .or_unavailable()?
        .rows_affected())
}

/// A column of a hand-written query's row.
pub(crate) fn col<T: TryGetable>(row: &QueryResult, name: &str) -> Result<T, StoreError> {
    row.try_get::<T>("", name)
        .map_err(|e| corrupt(name, format!("{e:?}")))
}

/// A page limit as SQL wants it: `limit + 1` rows tell whether more follow.
pub(crate) fn probe_limit(limit: u32) -> u64 {
    u64::from(limit).saturating_add(1)
}

/// Splits `limit + 1` fetched rows into a page.
pub(crate) fn page<T>(mut data: Vec<T>, limit: u32) -> payouts_domain::ports::Page<T> {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    let has_more = data.len() > limit;
    data.truncate(limit);
    payouts_domain::ports::Page { data, has_more }
}

/// Converts rows with `TryFrom<Model>`.
pub(crate) fn decode_all<M, T>(models: Vec<M>) -> Result<Vec<T>, StoreError>
where
    T: TryFrom<M, Error = StoreError>,
{
    models.into_iter().map(T::try_from).collect()
}

/// A checked `i64` sum read back from SQL into a count.
pub(crate) fn count(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|e| corrupt(what, e))
}
