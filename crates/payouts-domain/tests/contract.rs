//! The store contract against the in-memory store. The same suite runs on
//! SQLite and PostgreSQL in `payouts-store`.

use futures::executor::block_on;
use payouts_domain::memory::InMemoryStore;

payouts_domain::store_contract_tests!(block_on, async { Some(InMemoryStore::new()) });
