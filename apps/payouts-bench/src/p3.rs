//! P3: 1,000,000 commissions across 10,000 partners; finalize the period,
//! then build its batch (the logic of `payouts-store`'s `p3` bench).

use payouts_stripe::LimitMode;
use std::time::Instant;

use payouts_domain::ids::MerchantId;
use payouts_domain::{Currency, Money};
use serde_json::json;

use crate::fixture::{self, Backend, Env};
use crate::{BenchResult, Figure, fail, note};

pub async fn run(env: &mut Env, quick: bool) -> BenchResult<Vec<Figure>> {
    let (commissions, partners) = if quick {
        (50_000, 1_000)
    } else {
        (1_000_000, 10_000)
    };
    let mut figures = Vec::new();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let id = format!("P3-{}", backend.name());
        let goal = "finalize + build <= 10 s";
        let Some(store) = env.store(backend).await? else {
            figures.push(Figure {
                id,
                figure: None,
                unit: "s",
                goal,
                met: false,
                extra: json!({"skipped": "PostgreSQL unavailable"}),
            });
            continue;
        };
        // Never called: building a batch does not talk to Stripe.
        let gateway = fixture::gateway("http://127.0.0.1:9", 100, LimitMode::Unlimited, None)?;
        let engine = fixture::engine(store.clone(), gateway, fixture::Exec::DEFAULT)?;
        let merchant = MerchantId::parse("merchant_p3").map_err(|e| fail(e.to_string()))?;
        fixture::save_connection(&store, &merchant).await?;
        let program = fixture::program(&store, &merchant).await?;
        let dest = payouts_domain::ids::AccountId::parse("acct_p3dest")
            .map_err(|e| fail(e.to_string()))?;
        let seeded = fixture::seed(&store, &program, &[dest], partners, commissions, 100).await?;
        note!(
            "p3 {}: inserted in {:.1} s",
            backend.name(),
            seeded.insert_s
        );
        let t = Instant::now();
        let finalized = engine
            .finalize_period(
                seeded.program,
                seeded.pay_period,
                &payouts_domain::audit::Acting::cli("test"),
            )
            .await?;
        let finalize_s = t.elapsed().as_secs_f64();
        let t = Instant::now();
        let batch = engine
            .build_batch(
                seeded.program,
                seeded.pay_period,
                &payouts_domain::audit::Acting::cli("test"),
            )
            .await?;
        let build_s = t.elapsed().as_secs_f64();
        if finalized != u64::try_from(commissions)?
            || usize::try_from(batch.item_count)? != partners
            || batch.total != Money::new(seeded.expected_total, Currency::USD)
        {
            return Err(fail(format!(
                "finalized {finalized}, {} items, total {}",
                batch.item_count, batch.total
            )));
        }
        let total = finalize_s + build_s;
        figures.push(Figure {
            id,
            figure: Some(total),
            unit: "s",
            goal,
            met: total <= 10.0,
            extra: json!({
                "backend": backend.name(), "commissions": commissions, "partners": partners,
                "finalize_s": crate::round3(finalize_s), "build_s": crate::round3(build_s),
                "insert_setup_s": crate::round3(seeded.insert_s),
            }),
        });
    }
    Ok(figures)
}
