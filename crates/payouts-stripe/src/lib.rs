//! The real Stripe Connect adapter.
//!
//! Holds [`StripeGateway`], which implements the domain's
//! [`payouts_domain::ports::PayoutGateway`] and
//! [`payouts_domain::ports::ConnectGateway`] and offers the platform API of
//! the HTTP layer (accounts, payment intents, refunds, transfers, payouts
//! and payout schedules, balances, disputes; see [`platform`]); Connect
//! OAuth; webhook signature verification and parsing into
//! [`payouts_domain::events::InboundEvent`] ([`webhook`]); the mapping of
//! Stripe errors to [`payouts_domain::ports::FailureKind`]; a client-side
//! rate limit and a retry loop that re-sends the same idempotency key.
//!
//! Requests are built with async-stripe 1.0.0-rc.10's typed builders and
//! sent with `Stripe-Version: 2026-09-30.endive` through our own reqwest
//! transport (so `Stripe-Should-Retry` and every status are visible).
//! Responses are read into private wire DTOs that never leave the crate.
//!
//! Must not depend on actix, sea-orm or any HTTP-server or storage crate,
//! nor on `stripe-sandbox` outside its tests. See `docs/stripe.md`.

mod config;
mod error;
mod gateway;
mod oauth;
pub mod pacer;
pub mod platform;
mod transport;
pub mod webhook;
mod wire;

pub use config::{
    ConfigError, DEFAULT_API_BASE, DEFAULT_CONNECT_BASE, DEFAULT_OPS_CAP,
    DEFAULT_WEBHOOK_TOLERANCE, StripeConfig,
};
pub use gateway::StripeGateway;
pub use pacer::{Budgets, LimitMode, LimitScope, Pacer};
pub use platform::{
    AccountStatus, AccountType, AccountView, BalanceView, BusinessProfile, BusinessType,
    CaptureMethod, ClientSecret, CreateAccountRequest, CreatePaymentIntentRequest, DisputeEvidence,
    DisputeStatus, DisputeView, ListParams, PaymentIntentStatus, PaymentIntentView, PayoutInterval,
    PayoutSchedule, PayoutStatus, PayoutView, PlatformTransferRequest, RefundReason, RefundRequest,
    RefundStatus, RefundView, RequestedCapabilities, Requirements, ReversalView,
    ReverseTransferRequest, TransferView, Weekday,
};
pub use secrecy::SecretString;
pub use transport::{CallStats, stripe_version};
pub use webhook::{
    EventParseError, SignatureError, WebhookError, WebhookVerifier, parse_event, sign,
};
