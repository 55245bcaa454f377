//! `payouts batch create | show | approve | execute | retry`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use payouts_domain::DomainError;
use payouts_domain::batch::{BatchState, BatchSummary, PayoutBatch};
use payouts_domain::engine::ExecutionReport;
use payouts_domain::ids::BatchId;
use payouts_domain::item::{ItemState, PayoutItem};
use payouts_domain::ports::{Page, PageRequest};
use serde::Serialize;

use crate::cli::{BatchCommand, CliError};
use crate::settings::Settings;
use crate::wire::{Engine, StripeMode, offline_engine, open_store, wire};

/// How often `execute` samples progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(200);

/// Runs one batch subcommand, printing text or JSON on `out`. `create`,
/// `show` and `approve` only open the database: no Stripe settings, no
/// sandbox. `execute` and `retry` wire Stripe as `serve` does.
///
/// # Errors
/// [`CliError`] for wiring problems and refusals of the use case.
pub async fn run(
    command: BatchCommand,
    env: impl Fn(&str) -> Option<String>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let (json, engine, wired) = match &command {
        BatchCommand::Create { common, .. }
        | BatchCommand::Show { common, .. }
        | BatchCommand::Approve { common, .. } => {
            let store = open_store(&Settings::new(common.database.url.clone())).await?;
            (common.json, Arc::new(offline_engine(store)?), None)
        }
        BatchCommand::Execute { common, .. } | BatchCommand::Retry { common, .. } => {
            let wired = wire(&common.settings().with_secrets(env)).await?;
            if let StripeMode::InProcessSandbox { url } = &wired.stripe_mode {
                tracing::warn!(
                    %url,
                    "no STRIPE_SECRET_KEY or STRIPE_API_BASE: transfers go to an empty in-process \
                     sandbox, where the merchant's and partners' accounts do not exist, so they fail; \
                     set STRIPE_API_BASE to a running stripe-sandbox or configure Stripe"
                );
            }
            (common.json, Arc::clone(&wired.engine), Some(wired))
        }
    };
    let result = match command {
        BatchCommand::Create {
            program, period, ..
        } => {
            let finalized = engine
                .finalize_period(program, period, &crate::cli::operator())
                .await?;
            let batch = engine
                .build_batch(program, period, &crate::cli::operator())
                .await?;
            if json {
                print_json(
                    out,
                    &serde_json::json!({ "finalized": finalized, "batch": batch }),
                )
            } else {
                writeln!(
                    out,
                    "finalized {finalized} commission(s) of {period} and earlier"
                )?;
                print_batch(out, &batch)
            }
        }
        BatchCommand::Show { id, .. } => {
            let batch = engine.batch(id).await?;
            let summary = engine.batch_summary(id).await?;
            let items = all_items(&engine, id).await?;
            if json {
                print_json(
                    out,
                    &serde_json::json!({ "batch": batch, "summary": summary, "items": items }),
                )
            } else {
                print_batch(out, &batch)?;
                print_summary(out, &summary)?;
                print_items(out, &items)
            }
        }
        BatchCommand::Approve { id, actor, .. } => {
            let actor = actor.trim();
            if actor.is_empty() {
                return Err(CliError::Config("--actor must not be blank".to_owned()));
            }
            let current = engine.batch(id).await?;
            if !matches!(current.state, BatchState::Draft | BatchState::Approved) {
                return Err(CliError::Config(format!(
                    "batch {id} is {}: only a draft batch can be approved",
                    current.state.as_str()
                )));
            }
            let batch = engine
                .approve_batch(id, &payouts_domain::audit::Acting::cli(actor))
                .await?;
            if json {
                print_json(out, &batch)
            } else {
                print_batch(out, &batch)
            }
        }
        BatchCommand::Execute { id, .. } => {
            let progress = if json {
                Progress::Quiet
            } else if std::io::stderr().is_terminal() {
                Progress::Bar
            } else {
                Progress::Lines("")
            };
            let report = execute_with_progress(&engine, id, progress, out).await?;
            let summary = engine.batch_summary(id).await?;
            if json {
                print_json(
                    out,
                    &serde_json::json!({ "report": report, "summary": summary }),
                )
            } else {
                print_report(out, &report)?;
                print_summary(out, &summary)
            }
        }
        BatchCommand::Retry { id, .. } => {
            let current = engine.item(id).await?;
            if !matches!(current.state, ItemState::Failed { .. }) {
                return Err(CliError::Config(format!(
                    "payout item {id} is {}: only a failed item can be retried",
                    current.state.as_str()
                )));
            }
            let item = engine.retry_item(id, &crate::cli::operator()).await?;
            if json {
                print_json(out, &item)
            } else {
                writeln!(out, "retried item {}", item.id)?;
                print_items(out, std::slice::from_ref(&item))
            }
        }
    };
    if let Some(wired) = wired {
        wired.shutdown().await;
    }
    result
}

/// How `execute` shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Nothing (JSON output).
    Quiet,
    /// An indicatif bar on stderr (a terminal).
    Bar,
    /// A plain line on `out`, after this indent, whenever the counts change.
    Lines(&'static str),
}

/// Executes the batch, sampling its summary while the run goes on.
///
/// # Errors
/// What [`Engine::execute_batch`] returns; [`CliError::Output`].
pub async fn execute_with_progress(
    engine: &Arc<Engine>,
    id: BatchId,
    progress: Progress,
    out: &mut impl Write,
) -> Result<ExecutionReport, CliError> {
    let batch = engine.batch(id).await?;
    let total = u64::from(batch.item_count);
    let bar = match progress {
        Progress::Bar => {
            let bar = ProgressBar::new(total);
            if let Ok(style) = ProgressStyle::with_template(
                "{spinner} [{bar:32}] {pos}/{len} items settled {msg} ({elapsed})",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message("(starting)");
            bar.enable_steady_tick(Duration::from_millis(120));
            Some(bar)
        }
        Progress::Quiet | Progress::Lines(_) => None,
    };
    // Checked and recorded (who asked) before the run starts.
    engine.start_execution(id, &crate::cli::operator()).await?;
    let runner = Arc::clone(engine);
    let mut run = tokio::spawn(async move { runner.execute_batch(id).await });
    let mut tick = tokio::time::interval(PROGRESS_EVERY);
    let mut last: Option<(u64, u64)> = None;
    let outcome = loop {
        tokio::select! {
            joined = &mut run => break joined,
            _ = tick.tick() => {
                // A failed sample only skips one update.
                if let Ok(summary) = engine.batch_summary(id).await {
                    show(&bar, progress, total, &summary, &mut last, out)?;
                }
            }
        }
    };
    let report = match outcome {
        Ok(report) => report,
        Err(join) => {
            if let Some(bar) = &bar {
                bar.abandon();
            }
            return Err(CliError::Task(format!("the execution task failed: {join}")));
        }
    };
    if let Ok(summary) = engine.batch_summary(id).await {
        show(&bar, progress, total, &summary, &mut last, out)?;
    }
    if let Some(bar) = &bar {
        // The report printed next says the same, on stdout.
        bar.finish_and_clear();
    }
    Ok(report?)
}

fn show(
    bar: &Option<ProgressBar>,
    progress: Progress,
    total: u64,
    summary: &BatchSummary,
    last: &mut Option<(u64, u64)>,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let now = (summary.posted_count, summary.failed_count);
    if *last == Some(now) {
        return Ok(());
    }
    *last = Some(now);
    let settled = now.0.saturating_add(now.1);
    if let Some(bar) = bar {
        bar.set_position(settled);
        bar.set_message(format!("({} posted, {} failed)", now.0, now.1));
    } else if let Progress::Lines(indent) = progress {
        writeln!(
            out,
            "{indent}progress: {settled}/{total} items settled ({} posted, {} failed)",
            now.0, now.1
        )?;
    }
    Ok(())
}

/// Every item of a batch, following the store's pages.
///
/// # Errors
/// [`DomainError::Unavailable`].
pub async fn all_items(engine: &Engine, id: BatchId) -> Result<Vec<PayoutItem>, DomainError> {
    let mut items = Vec::new();
    let mut page = PageRequest::first(payouts_domain::ports::MAX_PAGE);
    loop {
        let Page { data, has_more } = engine.store().items(id, page).await?;
        let after = data.last().map(|i| i.id.as_uuid());
        items.extend(data);
        match (has_more, after) {
            (true, Some(after)) => page.after = Some(after),
            _ => break,
        }
    }
    Ok(items)
}

fn print_json(out: &mut impl Write, value: &impl Serialize) -> Result<(), CliError> {
    serde_json::to_writer_pretty(&mut *out, value)?;
    writeln!(out)?;
    Ok(())
}

/// The batch header as text.
///
/// # Errors
/// [`CliError::Output`].
pub fn print_batch(out: &mut impl Write, batch: &PayoutBatch) -> Result<(), CliError> {
    writeln!(out, "batch      {}", batch.id)?;
    writeln!(out, "program    {}", batch.program_id)?;
    writeln!(out, "period     {}", batch.period)?;
    writeln!(out, "state      {}", batch.state.as_str())?;
    writeln!(
        out,
        "items      {} totalling {} (platform fees {})",
        batch.item_count, batch.total, batch.fee_total
    )?;
    let approval = match &batch.approval {
        Some(payouts_domain::batch::Approval::Policy { policy, at }) => {
            format!("by policy {policy} at {}", timestamp(*at))
        }
        Some(payouts_domain::batch::Approval::Person { actor, at }) => {
            format!("by {actor} at {}", timestamp(*at))
        }
        None => "not yet".to_owned(),
    };
    writeln!(out, "approved   {approval}")?;
    writeln!(out, "manifest   sha256 {}", batch.manifest_hash)?;
    for carried in &batch.carried {
        writeln!(
            out,
            "carried    partner {} {} ({} commission(s)): {}",
            carried.partner_id,
            carried.amount,
            carried.commission_count,
            carried.reason.as_str()
        )?;
    }
    Ok(())
}

/// Posted / failed / pending counts and amounts as a table.
///
/// # Errors
/// [`CliError::Output`].
pub fn print_summary(out: &mut impl Write, summary: &BatchSummary) -> Result<(), CliError> {
    writeln!(out, "{:<10} {:>6}  {:>16}", "outcome", "items", "amount")?;
    for (name, count, amount) in [
        ("posted", summary.posted_count, summary.posted_amount),
        ("failed", summary.failed_count, summary.failed_amount),
        ("pending", summary.pending_count, summary.pending_amount),
    ] {
        writeln!(out, "{name:<10} {count:>6}  {:>16}", amount.to_string())?;
    }
    if summary.reversed_count > 0 {
        writeln!(
            out,
            "{:<10} {:>6}  {:>16}",
            "reversed",
            summary.reversed_count,
            summary.reversed_amount.to_string()
        )?;
    }
    Ok(())
}

/// One line per item.
///
/// # Errors
/// [`CliError::Output`].
pub fn print_items(out: &mut impl Write, items: &[PayoutItem]) -> Result<(), CliError> {
    for item in items {
        writeln!(
            out,
            "item {}  partner {}  to {}  {}  {}",
            item.id,
            item.partner_id,
            item.destination,
            item.amount,
            describe_state(&item.state)
        )?;
    }
    Ok(())
}

/// An item state in a few words.
pub fn describe_state(state: &ItemState) -> String {
    match state {
        ItemState::Pending => "pending".to_owned(),
        ItemState::Submitting { attempt, .. } => format!("submitting (attempt {attempt})"),
        ItemState::ReconcileRequired { attempt, .. } => {
            format!("reconcile required (attempt {attempt})")
        }
        ItemState::Posted {
            attempt,
            transfer_id,
            ..
        } => format!("posted as {transfer_id} (attempt {attempt})"),
        ItemState::Failed {
            attempt,
            failure,
            retry_at,
            escalated,
        } => {
            let mut text = format!(
                "failed: {} ({}) on attempt {attempt}",
                failure.kind.as_str(),
                failure.code.as_deref().unwrap_or("no code")
            );
            if let Some(at) = retry_at {
                text.push_str(&format!(", automatic retry at {}", timestamp(*at)));
            }
            if *escalated {
                text.push_str(", escalated");
            }
            text
        }
        ItemState::Reversed {
            transfer_id,
            amount_reversed,
            ..
        } => format!("reversed {amount_reversed} of {transfer_id}"),
    }
}

/// An execution report as text.
///
/// # Errors
/// [`CliError::Output`].
pub fn print_report(out: &mut impl Write, report: &ExecutionReport) -> Result<(), CliError> {
    writeln!(
        out,
        "processed {} item(s): {} posted, {} failed, {} ambiguous (re-sent later with the same key), {} reconciled",
        report.processed, report.posted, report.failed, report.ambiguous, report.reconciled
    )?;
    if let Some(stopped) = &report.stopped {
        writeln!(out, "stopped early: {stopped}")?;
    }
    if report.deferred {
        writeln!(
            out,
            "nothing sent: another instance is paying from this Stripe account; the scheduler's sweep pays this batch once the account is free"
        )?;
    }
    if let Some(state) = report.batch_state {
        writeln!(out, "batch is now {}", state.as_str())?;
    }
    Ok(())
}

/// RFC 3339 to the second, as operators read it.
pub fn timestamp(at: time::OffsetDateTime) -> String {
    let at = at.replace_nanosecond(0).unwrap_or(at);
    at.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| at.to_string())
}
