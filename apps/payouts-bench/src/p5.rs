//! P5: peak resident memory of a process executing a 100,000-item batch
//! (SQLite, zero-latency sandbox).
//!
//! The seeding (100,000 memberships, 200,000 commissions, the batch) and
//! the sandbox stay in this process; the execution runs in a child process
//! (this binary, `p5-exec`), which reports its own `VmHWM`. That is the
//! figure: the memory of a worker executing the batch, not of the test
//! harness that generated the data, nor of the Stripe fake.

use payouts_stripe::LimitMode;
use std::time::Instant;

use payouts_domain::ids::BatchId;
use serde_json::{Value, json};
use stripe_sandbox::LedgerFilter;

use crate::fixture::{self, Env};
use crate::{BenchResult, Figure, fail, note};

/// The hidden subcommand the child runs.
pub const CHILD: &str = "p5-exec";
/// The service's defaults: one run, 64 items at once, claims of 50.
const EXEC: fixture::Exec = fixture::Exec::DEFAULT;
const OPS: u32 = 1_000_000;

/// A `/proc/self/status` field in kB.
fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// `p5-exec DATABASE_URL API_BASE BATCH_ID`: executes the batch and prints
/// one JSON line with its peak RSS.
pub async fn child(args: &[String]) -> BenchResult<()> {
    let [url, api_base, batch] = args else {
        return Err(fail("p5-exec DATABASE_URL API_BASE BATCH_ID"));
    };
    let batch = BatchId::parse(batch).map_err(|e| fail(e.to_string()))?;
    let store = payouts_store::SeaOrmStore::connect(url).await?;
    let engine = std::sync::Arc::new(fixture::engine(
        store,
        fixture::gateway(api_base, OPS, LimitMode::Unlimited, None)?,
        EXEC,
    )?);
    let rss_start = status_kb("VmRSS:").unwrap_or(0);
    let t = Instant::now();
    let (posted, failed, ambiguous) = fixture::execute(&engine, batch).await?;
    let wall_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        json!({
            "posted": posted, "failed": failed, "ambiguous": ambiguous, "wall_s": wall_s,
            "vmhwm_kb": status_kb("VmHWM:").unwrap_or(0), "rss_start_kb": rss_start,
        })
    );
    Ok(())
}

pub async fn run(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let items = if quick { 5_000 } else { 100_000 };
    let (store, url) = env.sqlite().await?;
    let sandbox = env.sandbox(2).await?;
    let fx = fixture::exec_fixture(store, &sandbox, OPS, LimitMode::Unlimited, EXEC, items).await?;
    note!("p5: {items} items ready in {:.1} s", fx.setup_s);
    let exe = std::env::current_exe()?;
    let args = [
        CHILD.to_owned(),
        url,
        sandbox.base_url(),
        fx.batch.id.to_string(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new(exe)
            .args(args)
            .stderr(std::process::Stdio::inherit())
            .output()
    })
    .await??;
    if !output.status.success() {
        return Err(fail(format!("the p5-exec child failed: {}", output.status)));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout
        .lines()
        .last()
        .ok_or_else(|| fail("the p5-exec child printed nothing"))?;
    let report: Value = serde_json::from_str(line)?;
    let field = |k: &str| report.get(k).and_then(Value::as_f64).unwrap_or(0.0);
    let count = sandbox.ledger(&LedgerFilter::default()).count;
    if field("posted") as usize != items || count != items {
        return Err(fail(format!(
            "child reported {report}, sandbox has {count}"
        )));
    }
    sandbox.stop().await;
    let figure = field("vmhwm_kb") / 1024.0;
    let wall_s = field("wall_s");
    Ok(vec![Figure {
        id: "P5".into(),
        figure: Some(figure),
        unit: "MB peak RSS (VmHWM) of the executing process",
        goal: "< 150 MB",
        met: figure < 150.0,
        extra: json!({
            "items": items, "backend": "sqlite", "wall_s": crate::round3(wall_s),
            "items_per_s": crate::round3(items as f64 / wall_s),
            "rss_at_start_mb": crate::round3(field("rss_start_kb") / 1024.0),
            "concurrency": EXEC.concurrency, "claim_size": EXEC.claim_size,
            "excludes": "the seeding and the stripe-sandbox (both in the parent process)",
            "parent_vmhwm_mb": crate::round3(mb(status_kb("VmHWM:").unwrap_or(0))),
        }),
    }])
}
