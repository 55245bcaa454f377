//! The adapter against an in-process `stripe-sandbox`, over HTTP.
//!
//! Every test starts its own sandbox (sharing one parsed spec), so tests
//! are independent and run in parallel; each ends with
//! [`helpers::Env::finish`], which asserts that the sandbox's spec
//! validator refused none of the requests the adapter sent.

#![expect(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "test helpers and tests fail loudly on purpose"
)]

mod helpers;

mod connect;
mod errors;
mod payments;
mod reconcile;
mod transfers;
mod webhooks;
