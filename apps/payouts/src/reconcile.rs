//! `payouts reconcile`: the reconciliation report against Stripe, as text
//! or JSON, and an exit status that says whether anything differs.

use std::io::Write;

use payouts_domain::engine::{LineKind, ReconcileScope, ReconciliationReport};
use payouts_domain::money::Money;

use crate::cli::{CliError, ReconcileArgs};
use crate::wire::{StripeMode, wire};

/// Runs the report and prints it on `out`.
///
/// # Errors
/// [`CliError::Differences`] when the report is not clean (after printing
/// it); other [`CliError`]s for wiring problems and refusals.
pub async fn run(
    args: ReconcileArgs,
    env: impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let scope = match (args.program, args.period, args.batch) {
        (Some(program_id), Some(period), None) => ReconcileScope::Program { program_id, period },
        (None, None, Some(batch_id)) => ReconcileScope::Batch { batch_id },
        // clap's argument group makes these unreachable from the command line.
        _ => {
            return Err(CliError::Config(
                "give --program and --period, or --batch".to_owned(),
            ));
        }
    };
    let wired = wire(&args.common.settings().with_secrets(env)).await?;
    if let StripeMode::InProcessSandbox { url } = &wired.stripe_mode {
        tracing::warn!(
            %url,
            "no STRIPE_SECRET_KEY or STRIPE_API_BASE: Stripe is an empty in-process sandbox, \
             so every transfer we recorded will be reported missing"
        );
    }
    let result = wired.engine.reconciliation(scope).await;
    wired.shutdown().await;
    let report = result?;
    if args.common.json {
        serde_json::to_writer_pretty(
            &mut *out,
            &serde_json::json!({
                "clean": report.is_clean(),
                "differences": differences(&report),
                "report": report,
            }),
        )?;
        writeln!(out)?;
    } else {
        print_report(out, &report)?;
    }
    match differences(&report) {
        0 => Ok(()),
        n => Err(CliError::Differences(n)),
    }
}

/// Lines that differ, plus one for an unbalanced ledger.
pub fn differences(report: &ReconciliationReport) -> usize {
    let lines = report.differences().count();
    if report.ledger_balanced() {
        lines
    } else {
        lines.saturating_add(1)
    }
}

fn money(m: Option<Money>) -> String {
    m.map_or_else(|| "-".to_owned(), |m| m.to_string())
}

/// The report as text: counts per kind, the ledger, then each difference.
///
/// # Errors
/// [`CliError::Output`].
pub fn print_report(out: &mut impl Write, report: &ReconciliationReport) -> Result<(), CliError> {
    writeln!(out, "merchant   {}", report.merchant_id)?;
    writeln!(out, "program    {}", report.program_id)?;
    writeln!(out, "period     {}", report.period)?;
    writeln!(out, "batches    {}", report.batches.len())?;
    for kind in LineKind::ALL {
        writeln!(out, "{:<24} {:>6}", kind.as_str(), report.count(kind))?;
    }
    if report.in_flight > 0 {
        writeln!(
            out,
            "{:<24} {:>6}  (not compared yet)",
            "in_flight", report.in_flight
        )?;
    }
    let l = &report.ledger;
    writeln!(
        out,
        "ledger     finalized {} = posted {} + carried {} + pending {} + failed {}: {}",
        l.finalized,
        l.posted,
        l.carried,
        l.pending,
        l.failed,
        if l.balanced() {
            "balanced"
        } else {
            "DOES NOT BALANCE"
        }
    )?;
    for d in report.differences() {
        writeln!(
            out,
            "{}  batch {}  item {}  partner {}  transfer {}  to {}  ours {}  stripe {}  reversed ours {} / stripe {}",
            d.kind.as_str(),
            d.batch_id,
            d.item_id.map_or_else(|| "-".to_owned(), |i| i.to_string()),
            d.partner_id
                .map_or_else(|| "-".to_owned(), |p| p.to_string()),
            d.transfer_id
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
            d.destination
                .as_ref()
                .map_or_else(|| "-".to_owned(), ToString::to_string),
            money(d.ours),
            money(d.stripe),
            money(d.ours_reversed),
            money(d.stripe_reversed),
        )?;
        writeln!(out, "    {}", d.kind.describe())?;
    }
    if report.is_clean() {
        writeln!(out, "clean: our records and Stripe's agree")?;
    }
    Ok(())
}
