//! `LeaseStore`: named leases, taken by one compare-and-set statement.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::WorkerId;
use payouts_domain::ports::LeaseStore;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use time::OffsetDateTime;

use super::execute;
use crate::SeaOrmStore;
use crate::codec::{ts, ts_bound};
use crate::entity::lease;
use crate::error::DbResultExt;
use crate::sql::Sql;

#[async_trait]
impl LeaseStore for SeaOrmStore {
    async fn try_acquire_lease(
        &self,
        name: &str,
        holder: &WorkerId,
        now: OffsetDateTime,
        ttl: time::Duration,
    ) -> Result<bool, StoreError> {
        let until = now
            .checked_add(ttl)
            .ok_or_else(|| StoreError::Unavailable(format!("lease {name}: now + ttl overflows")))
            .and_then(ts)?;
        // Insert, or take over / renew in the same statement. Both backends
        // decide a conflicting row under its lock (PostgreSQL re-checks the
        // `WHERE` against the newest row version; SQLite has one writer),
        // so of two racing instances exactly one changes a row. A `WHERE`
        // that fails changes none: the lease is another holder's and live.
        let mut q = Sql::new(self.db_backend());
        q.push("INSERT INTO leases (name, holder, until_ns) VALUES (")
            .bind(name)
            .push(", ")
            .bind(holder.as_str())
            .push(", ")
            .bind(until)
            .push(
                ") ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
                 until_ns = excluded.until_ns WHERE leases.until_ns <= ",
            )
            .bind(ts_bound(now))
            .push(" OR leases.holder = excluded.holder");
        Ok(execute(self.db(), q).await? == 1)
    }

    async fn release_lease(&self, name: &str, holder: &WorkerId) -> Result<bool, StoreError> {
        let removed = lease::Entity::delete_many()
            .filter(lease::Column::Name.eq(name))
            .filter(lease::Column::Holder.eq(holder.as_str()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        Ok(removed == 1)
    }
}
