//! P2: execution throughput with a zero-latency, unthrottled sandbox, on
//! SQLite and on PostgreSQL.

use payouts_stripe::LimitMode;
use std::time::Instant;

use serde_json::json;
use stripe_sandbox::LedgerFilter;

use crate::fixture::{self, Backend, Env};
use crate::{BenchResult, Figure, fail, note};

/// The service's defaults: one run, 64 items at once, claims of 50.
const EXEC: fixture::Exec = fixture::Exec::DEFAULT;
/// High enough never to pace.
const OPS: u32 = 1_000_000;

pub async fn run(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let items = if quick { 1_000 } else { 10_000 };
    let mut figures = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let id = format!("P2-{}", backend.name());
        let goal = ">= 2000 items/s";
        let Some(store) = env.store(backend).await? else {
            figures.push(Figure {
                id,
                figure: None,
                unit: "items/s",
                goal,
                met: false,
                extra: json!({"skipped": "PostgreSQL unavailable"}),
            });
            continue;
        };
        let sandbox = env.sandbox(2).await?;
        let fx =
            fixture::exec_fixture(store, &sandbox, OPS, LimitMode::Unlimited, EXEC, items).await?;
        note!(
            "p2 {}: {items} items ready in {:.1} s",
            backend.name(),
            fx.setup_s
        );
        let t = Instant::now();
        let (posted, failed, ambiguous) = fixture::execute(&fx.engine, fx.batch.id).await?;
        let wall_s = t.elapsed().as_secs_f64();
        let ledger = sandbox.ledger(&LedgerFilter::default());
        if posted != u64::try_from(items)? || ledger.count != items {
            return Err(fail(format!(
                "posted {posted} (failed {failed}, ambiguous {ambiguous}), sandbox has {}",
                ledger.count
            )));
        }
        sandbox.stop().await;
        let rate = items as f64 / wall_s;
        figures.push(Figure {
            id,
            figure: Some(rate),
            unit: "items/s",
            goal,
            met: rate >= 2_000.0,
            extra: json!({
                "backend": backend.name(), "items": items, "wall_s": crate::round3(wall_s),
                "concurrency": EXEC.concurrency, "claim_size": EXEC.claim_size,
            }),
        });
    }
    Ok(figures)
}
