//! HTTP-level tests of the sandbox, driven with a plain reqwest client and
//! hand-built form bodies (no Stripe SDK).
//!
//! Modules are `cfg(test)` so that clippy's allow-unwrap-in-tests settings
//! cover the helpers as well as the test functions.

#[cfg(test)]
mod helpers;

#[cfg(test)]
mod binary;
#[cfg(test)]
mod connect;
#[cfg(test)]
mod faults;
#[cfg(test)]
mod idempotency;
#[cfg(test)]
mod limits;
#[cfg(test)]
mod money;
#[cfg(test)]
mod request_ids;
#[cfg(test)]
mod validation;
#[cfg(test)]
mod webhooks;
