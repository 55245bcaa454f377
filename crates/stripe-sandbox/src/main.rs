//! `stripe-sandbox` binary: serves the sandbox on a local address.
//!
//! It prints `stripe-sandbox listening on http://ADDR` on stdout once bound,
//! so a parent process can start it with port 0 and read the port back.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use stripe_sandbox::limiter::RateLimitMode;
use stripe_sandbox::{Sandbox, SandboxConfig};

/// A stateful fake of the Stripe Connect API.
#[derive(Debug, Parser)]
#[command(name = "stripe-sandbox", version)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:12111")]
    addr: SocketAddr,
    /// Stripe OpenAPI spec (spec3.json). The STRIPE_SANDBOX_SPEC environment
    /// variable overrides it; without either, `shared/stripe-openapi/spec3.json`
    /// is searched upwards from the current directory and the crate.
    #[arg(long)]
    spec: Option<PathBuf>,
    /// actix worker threads.
    #[arg(long, default_value_t = 2)]
    workers: usize,
    /// Fixed platform account id (default: random `acct_…`).
    #[arg(long)]
    platform_account: Option<String>,
    /// Stripe's documented rate limiter: `live` (100 requests/s per
    /// account, 25/s per operation), `test` (25/s, 25/s) or `off`
    /// (`POST /_sandbox/rate_limits` changes it while running).
    #[arg(long, default_value = "off", value_parser = parse_mode)]
    rate_limits: RateLimitMode,
}

fn parse_mode(text: &str) -> Result<RateLimitMode, String> {
    RateLimitMode::parse(text).ok_or_else(|| format!("`{text}` is not live, test or off"))
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let config = SandboxConfig {
        addr: args.addr,
        spec_path: std::env::var_os("STRIPE_SANDBOX_SPEC")
            .map(PathBuf::from)
            .or(args.spec),
        spec: None,
        workers: args.workers,
        platform_account_id: args.platform_account,
        rate_limits: args.rate_limits,
    };
    let handle = match Sandbox::start(config).await {
        Ok(h) => h,
        Err(e) => {
            eprintln!("stripe-sandbox: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("stripe-sandbox listening on {}", handle.base_url());
    println!("platform account: {}", handle.platform_account_id());
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("stripe-sandbox: cannot wait for Ctrl-C: {e}");
    }
    handle.stop().await;
    ExitCode::SUCCESS
}
