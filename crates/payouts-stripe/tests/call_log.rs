//! The Stripe call log, in a test binary of its own: its subscriber is the
//! only one in the process, so no other test's callsites or threads change
//! what it records (in the sandbox binary, 30-odd tests run beside it).

#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "shared test helpers, of which this binary uses a few; tests fail loudly on purpose"
)]

#[path = "sandbox/helpers.rs"]
mod helpers;
#[path = "sandbox/logs.rs"]
mod logs;
