//! P5: peak resident memory while executing a 100,000-item batch (SQLite,
//! zero-latency sandbox in the same process: its state counts too).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::json;
use stripe_sandbox::LedgerFilter;

use crate::fixture::{self, Backend, Env};
use crate::{BenchResult, Figure, fail, note};

const EXECUTORS: usize = 16;
const CLAIM_SIZE: u32 = 20;
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

pub async fn run(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let items = if quick { 5_000 } else { 100_000 };
    let store = env
        .store(Backend::Sqlite)
        .await?
        .ok_or_else(|| fail("no SQLite"))?;
    let sandbox = env.sandbox(2).await?;
    let fx = fixture::exec_fixture(store, &sandbox, OPS, CLAIM_SIZE, items).await?;
    let rss_before = status_kb("VmRSS:").unwrap_or(0);
    let hwm_before = status_kb("VmHWM:").unwrap_or(0);
    note!(
        "p5: {items} items ready in {:.1} s; RSS {:.1} MB, peak so far {:.1} MB",
        fx.setup_s,
        mb(rss_before),
        mb(hwm_before)
    );
    let peak = Arc::new(AtomicU64::new(rss_before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done) = (Arc::clone(&peak), Arc::clone(&done));
        tokio::spawn(async move {
            while !done.load(Ordering::SeqCst) {
                if let Some(kb) = status_kb("VmRSS:") {
                    peak.fetch_max(kb, Ordering::SeqCst);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let t = Instant::now();
    let (posted, failed, ambiguous) = fixture::execute(&fx, EXECUTORS).await?;
    let wall_s = t.elapsed().as_secs_f64();
    done.store(true, Ordering::SeqCst);
    sampler.await?;
    let peak_kb = peak.load(Ordering::SeqCst);
    let hwm_after = status_kb("VmHWM:").unwrap_or(0);
    let count = sandbox.ledger(&LedgerFilter::default()).count;
    if posted != u64::try_from(items)? || count != items {
        return Err(fail(format!(
            "posted {posted} (failed {failed}, ambiguous {ambiguous}), sandbox has {count}"
        )));
    }
    sandbox.stop().await;
    let figure = mb(peak_kb);
    Ok(vec![Figure {
        id: "P5".into(),
        figure: Some(figure),
        unit: "MB peak RSS during execution (sampled VmRSS, 20 ms)",
        goal: "< 150 MB",
        met: figure < 150.0,
        extra: json!({
            "items": items, "backend": "sqlite", "wall_s": crate::round3(wall_s),
            "rss_before_execution_mb": crate::round3(mb(rss_before)),
            "vmhwm_before_execution_mb": crate::round3(mb(hwm_before)),
            "vmhwm_after_mb": crate::round3(mb(hwm_after)),
            "includes": "the in-process stripe-sandbox and the transfers it holds",
        }),
    }])
}
