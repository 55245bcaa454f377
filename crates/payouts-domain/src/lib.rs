//! # payouts-domain
//!
//! The pure rules of Payouts: partner and affiliate commissions paid through
//! Stripe Connect. It holds money and ids, merchant connections and OAuth
//! state, programs and their payout policy, partners and coupon codes,
//! conversions and the commission lifecycle, batches, the payout item state
//! machine, the failure ladder, probation, platform fees and the 1099 tally;
//! the ports adapters implement; and the use cases ([`engine::Payouts`]) that
//! drive them through those ports only.
//!
//! It must not depend on any runtime, database, HTTP or Stripe crate
//! (tokio, sea-orm, sqlx, actix, async-stripe, reqwest, hyper): CI checks
//! `cargo tree -p payouts-domain`. Futures here need no particular executor.
//!
//! With the `testing` feature, [`memory`] provides working in-memory
//! adapters: a store, a scriptable Stripe gateway, a manual clock,
//! sequential ids and a recording notifier.
//!
//! With the `mock` feature, [`mock`] provides mockall mocks of the Stripe
//! gateways, the notifier and the clock, for interaction tests.
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::arithmetic_side_effects))]

pub mod audit;
pub mod batch;
pub mod commission;
pub mod connection;
pub mod crossborder;
pub mod endpoint;
pub mod engine;
pub mod error;
pub mod events;
pub mod fees;
pub mod hold;
pub mod ids;
pub mod item;
#[cfg(feature = "testing")]
pub mod memory;
#[cfg(feature = "mock")]
pub mod mock;
pub mod money;
pub mod notification;
pub mod partner;
pub mod period;
pub mod platform;
pub mod ports;
pub mod program;
pub mod reward;
pub mod session;
pub mod statement;
pub mod system;
pub mod tax;
#[cfg(feature = "testing")]
pub mod testkit;

pub use error::{Blocked, DomainError, StoreError, TransitionError};
pub use money::{Currency, Money, MoneyError, Percent, Rounding};
