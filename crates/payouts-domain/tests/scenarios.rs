//! The seeds' stories, end to end, against the in-memory adapters. The same
//! suite runs on SQLite and PostgreSQL in `payouts-store`.

use futures::executor::block_on;
use payouts_domain::memory::InMemoryStore;

payouts_domain::scenario_tests!(block_on, async { Some(InMemoryStore::new()) });
