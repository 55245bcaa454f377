//! # payouts (the binary's library)
//!
//! The composition root of Payouts: [`Settings`] (clap flags with
//! environment fallbacks; secrets from the environment only), [`wire`]
//! (store + migrations + Stripe adapter, or the in-process Stripe sandbox
//! when there is no `STRIPE_SECRET_KEY`, + the engine), and the
//! subcommands of the `payouts` binary (`serve`, `migrate`, `token`,
//! `demo`, `batch`, `reconcile`). It is a library so that an end-to-end test crate can
//! start the application in-process exactly as `main` does.
//!
//! It is the one crate that may depend on every other crate of the
//! workspace; none of them may depend on it. Rules live in
//! `payouts-domain`, never here.

pub mod batch;
pub mod cli;
pub mod demo;
pub mod migrate;
pub mod notify;
pub mod reconcile;
pub mod scheduler;
pub mod serve;
pub mod settings;
pub mod token;
pub mod wire;

pub use cli::{Cli, CliError, Command, LogFormat, run};
pub use settings::{DatabaseSettings, ServerSettings, Settings, StripeSettings};
pub use wire::{Engine, StripeMode, WireError, Wired, open_store, wire};

/// Installs the global `tracing` subscriber on stderr, filtered by
/// `RUST_LOG` (default `info`): readable lines, or one JSON object per line
/// with [`LogFormat::Json`] (`PAYOUTS_LOG_FORMAT=json`), each with the
/// fields of the spans it is in (a request's id, method and route).
pub fn init_tracing(format: LogFormat) {
    use std::io::IsTerminal;
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,actix_server=warn"));
    // A second call (tests) keeps the first subscriber.
    let _ = match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
        LogFormat::Json => tracing_subscriber::fmt()
            .json()
            .with_current_span(true)
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .try_init(),
    };
}

/// Installs rustls' `ring` provider for every HTTPS client in the process
/// (reqwest is built without a default one). Idempotent.
pub fn install_tls_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}
