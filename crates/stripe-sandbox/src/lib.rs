//! A stateful fake of the Stripe Connect API for tests and local runs.
//!
//! Holds: the OpenAPI-driven request validator ([`validate`], [`spec`]), the
//! in-memory Stripe world (accounts, balances, transfers and reversals,
//! payment intents and charges, refunds, payouts, disputes, coupons and
//! promotion codes, Connect OAuth), Stripe-style idempotency, fault injection
//! and the `/_sandbox` control API, served by actix-web and embeddable in any
//! tokio runtime through [`Sandbox::start`].
//!
//! Must not depend on any `payouts-*` crate: it fakes Stripe and stays
//! independent of our domain. Money is `i64` minor units throughout.
//!
//! # Idempotency
//! Every `POST` with an `Idempotency-Key` header is scoped by (key,
//! `Stripe-Account`). The first request registers the key as in flight
//! before the configured latency is applied; then:
//! - same key, same method, path and parameters → the saved status and body
//!   are replayed with `Idempotent-Replayed: true`;
//! - same key, different parameters (or endpoint) → 400
//!   `{"type": "idempotency_error"}` — no `code`, as Stripe sends it;
//! - same key while the first request is still running → 409
//!   `{"type": "invalid_request_error", "code": "idempotency_key_in_use"}`
//!   with `Stripe-Should-Retry: true`.
//!
//! As Stripe documents, only requests that began executing are saved:
//! responses of executed requests are saved even when they are errors
//! (e.g. `balance_insufficient`), while requests rejected before execution
//! — auth, unknown URL, spec validation (400 `parameter_*`), rate limiting,
//! an in-flight conflict, an injected `fail` or `reset` fault — are not, so a
//! retry with the same key executes. Keys expire 24 hours after first use on
//! the sandbox clock (see `/_sandbox/clock/advance`). Keys on `GET` and
//! `DELETE` are ignored, as Stripe does.
//!
//! # Validation
//! See [`validate`]: form bodies and query strings are decoded from bracket
//! notation, coerced to the schema's types and checked against the 2023-08-16
//! spec, with one explicit overlay per known later change
//! ([`validate::OVERLAYS`]).

pub mod control;
pub mod error;
pub mod ids;
pub mod limiter;
pub mod spec;
pub mod validate;
pub mod webhook;

mod api;
mod oauth;
mod server;
mod state;

pub use control::{
    ActiveFault, BalanceSnapshot, CreateDispute, FaultKind, FaultSpec, Latency, Ledger,
    LedgerEntry, LedgerFilter, OAuthCodeGrant, RateLimit, SandboxError, SendWebhook, SetBalance,
    ValidationFailure, WebhookData,
};
pub use error::{ApiError, ErrorType};
pub use server::{ExternalAccountRequest, Sandbox, SandboxConfig, SandboxHandle};
pub use spec::Spec;
pub use state::BalanceAmounts;
pub use webhook::{WebhookDelivery, WebhookEndpoint};
