//! `payouts demo`: the seeds' story end to end, against an in-process
//! Stripe sandbox, on a temporary SQLite database unless one is given.
//!
//! 1. a merchant connects by Stripe Connect OAuth;
//! 2. a program is created and three partners onboard as Express accounts;
//! 3. conversions are recorded by referral link and by coupon code (the
//!    code is synced to Stripe as a promotion code);
//! 4. the period is finalized;
//! 5. the batch is built and approved by the program's policy;
//! 6. it is executed while the sandbox refuses one transfer with
//!    `balance_insufficient`;
//! 7. the merchant's balance is topped up and that one item is retried.
//!
//! Then the batch summary, the ledger check and the sandbox's transfer
//! ledger are printed. The demo fails (non-zero exit) if the story does not
//! end with every item posted, the ledger balanced and no item paid twice.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;

use payouts_domain::batch::BatchState;
use payouts_domain::commission::{AttributedBy, ConversionInput};
use payouts_domain::connection::CallbackOutcome;
use payouts_domain::engine::{NewPartner, RecordOutcome};
use payouts_domain::ids::{
    AccountId, CouponCode, ExternalId, MembershipId, MerchantId, ReferralKey,
};
use payouts_domain::item::ItemState;
use payouts_domain::partner::Membership;
use payouts_domain::period::Period;
use payouts_domain::program::{
    CommissionAmount, CommissionRule, CouponSyncMode, PayoutPolicy, ProgramSettings,
};
use payouts_domain::reward::ConversionKind;
use payouts_domain::{Currency, Money, Percent, Rounding};
use rust_decimal::Decimal;
use stripe_sandbox::{ErrorType, FaultSpec, LedgerFilter, SandboxHandle, SetBalance};

use crate::batch::{Progress, all_items, describe_state, execute_with_progress, print_summary};
use crate::cli::{CliError, DemoArgs};
use crate::settings::Settings;
use crate::wire::{Engine, SANDBOX_SECRET_KEY, wire};

const RETURN_URL: &str = "http://localhost:3000/partners/onboarding/done";
const REFRESH_URL: &str = "http://localhost:3000/partners/onboarding/again";

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// Runs the demo, printing each step on `out`.
///
/// # Errors
/// [`CliError`] when a step fails or the story does not end as it must.
pub async fn run(args: &DemoArgs, out: &mut impl Write) -> Result<(), CliError> {
    // The temporary directory lives until the end of this function.
    let (url, _tmp, kept) = match &args.database_url {
        Some(url) => (url.clone(), None, true),
        None => {
            let dir = tempfile::Builder::new().prefix("payouts-demo-").tempdir()?;
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("demo.db").display());
            (url, Some(dir), false)
        }
    };
    let mut settings = Settings::new(url);
    settings.engine.worker_id = Some(format!("demo-{}", std::process::id()));
    let wired = wire(&settings).await?;
    let result = match &wired.sandbox {
        Some(sandbox) => {
            let db = settings.database.redacted_url();
            writeln!(out, "Payouts demo")?;
            writeln!(
                out,
                "  Stripe:   in-process sandbox at {}",
                sandbox.base_url()
            )?;
            writeln!(
                out,
                "  database: {db}{}",
                if kept { "" } else { " (temporary)" }
            )?;
            story(&wired.engine, sandbox, out).await
        }
        None => Err(CliError::Demo(
            "the in-process sandbox did not start".to_owned(),
        )),
    };
    wired.shutdown().await;
    result
}

async fn story(
    engine: &Arc<Engine>,
    sandbox: &SandboxHandle,
    out: &mut impl Write,
) -> Result<(), CliError> {
    // 1. Connect a merchant by OAuth.
    let suffix: String = uuid::Uuid::new_v4()
        .simple()
        .to_string()
        .chars()
        .take(8)
        .collect();
    let merchant = MerchantId::parse(format!("merchant_demo_{suffix}"))
        .map_err(|e| CliError::Demo(e.to_string()))?;
    writeln!(
        out,
        "\n[1/7] Connect merchant {merchant} with Stripe Connect OAuth"
    )?;
    let start = engine.start_connect(&merchant).await?;
    writeln!(out, "      authorize URL: {}", start.authorize_url)?;
    let grant = sandbox.create_oauth_code(None)?;
    writeln!(
        out,
        "      the merchant approves; the sandbox issues code {} for a new Standard account",
        grant.code
    )?;
    let outcome = engine
        .complete_connect(
            start.state.token.as_str(),
            Some(&grant.code),
            None,
            &payouts_domain::audit::Acting::stripe(None),
        )
        .await?;
    let merchant_account = match outcome {
        CallbackOutcome::Connected { connection, .. } => {
            writeln!(
                out,
                "      callback → ?stripe=connected: {} is {} with scope {}",
                connection.account_id,
                connection.status.as_str(),
                connection.scope
            )?;
            connection.account_id
        }
        CallbackOutcome::Error { reason } => {
            return Err(CliError::Demo(format!(
                "the OAuth callback failed: {}",
                reason.as_str()
            )));
        }
    };

    // 2. A program and three partners onboarded as Express accounts.
    let cap = usd(100_000);
    let settings = ProgramSettings {
        name: "Demo partners".to_owned(),
        currency: Currency::USD,
        commission_rule: CommissionRule::flat(
            CommissionAmount::Percent {
                percent: Percent::new(Decimal::from(20))
                    .map_err(|e| CliError::Demo(e.to_string()))?,
                rounding: Rounding::HalfEven,
            },
            None,
        ),
        // Commissions are due at once, so the demo needs no clock tricks.
        holding_days: 0,
        minimum_payout: usd(1_000),
        payout_policy: PayoutPolicy::AutoUnderCap { cap },
        coupon_sync: CouponSyncMode::Stripe,
        minimum_payouts: std::collections::BTreeMap::new(),
        payout_countries: vec!["US".to_owned()],
    };
    let program = engine
        .create_program(&merchant, settings, &crate::cli::operator())
        .await?;
    writeln!(
        out,
        "\n[2/7] Program \"{}\" ({}): 20% per first sale, 0 holding days, minimum {}, \
         batches up to {} approve themselves, coupon codes sync to Stripe",
        program.name, program.id, program.minimum_payout, cap
    )?;
    let mut names: HashMap<MembershipId, String> = HashMap::new();
    let mut partners: Vec<Membership> = Vec::new();
    for name in ["alice", "bob", "carol"] {
        let m = onboard(engine, sandbox, program.id, name, out).await?;
        names.insert(m.id, name.to_owned());
        partners.push(m);
    }
    let [alice, bob, carol] = partners.as_slice() else {
        return Err(CliError::Demo("expected three partners".to_owned()));
    };

    // 3. Conversions by referral link and by coupon code.
    writeln!(out, "\n[3/7] Record conversions")?;
    let coupon_id = create_stripe_coupon(sandbox, &merchant_account).await?;
    let code = CouponCode::parse("BOB20").map_err(|e| CliError::Demo(e.to_string()))?;
    let coupon = engine
        .assign_coupon(bob.id, code.clone(), Some(&coupon_id))
        .await?;
    writeln!(
        out,
        "      coupon code {code} assigned to bob → Stripe promotion code {} (coupon {coupon_id}, 20% off)",
        coupon
            .promotion_code_id
            .as_ref()
            .map_or_else(|| "-".to_owned(), ToString::to_string)
    )?;
    let occurred_at = engine.clock().now();
    let period = Period::containing(occurred_at);
    let sales: [(&str, i64, Option<&CouponCode>, Option<&Membership>); 4] = [
        ("order-1001", 50_000, None, Some(alice)),
        ("order-1002", 40_000, Some(&code), None),
        ("order-1003", 60_000, None, Some(carol)),
        // Both signals: the coupon code wins over alice's link.
        ("order-1004", 25_000, Some(&code), Some(alice)),
    ];
    for (external, amount, coupon_code, referral) in sales {
        let input = ConversionInput {
            customer_email: None,
            external_id: ExternalId::parse(external).map_err(|e| CliError::Demo(e.to_string()))?,
            amount: usd(amount),
            occurred_at,
            coupon_code: coupon_code.cloned(),
            referral_key: referral.map(|m| m.referral_key.clone()),
            customer_ref: None,
            payment_ref: None,
            kind: ConversionKind::Sale,
            product_id: None,
        };
        let recorded = engine.record_conversion(program.id, input).await?;
        describe_conversion(
            out,
            &recorded,
            &names,
            referral.is_some() && coupon_code.is_some(),
        )?;
    }
    // The same order again is recognised and changes nothing.
    let replay = ConversionInput {
        customer_email: None,
        external_id: ExternalId::parse("order-1001").map_err(|e| CliError::Demo(e.to_string()))?,
        amount: usd(50_000),
        occurred_at,
        coupon_code: None,
        referral_key: Some(alice.referral_key.clone()),
        customer_ref: None,
        payment_ref: None,
        kind: ConversionKind::Sale,
        product_id: None,
    };
    if let RecordOutcome::Duplicate { .. } = engine.record_conversion(program.id, replay).await? {
        writeln!(
            out,
            "      order-1001 sent again → duplicate, nothing recorded"
        )?;
    } else {
        return Err(CliError::Demo(
            "a replayed order was recorded twice".to_owned(),
        ));
    }

    // 4. Finalize.
    let finalized = engine
        .finalize_period(program.id, period, &crate::cli::operator())
        .await?;
    writeln!(
        out,
        "\n[4/7] Finalize {period}: {finalized} commission(s) past their 0-day hold are final"
    )?;

    // 5. Build the batch; the policy approves it.
    let batch = engine
        .build_batch(program.id, period, &crate::cli::operator())
        .await?;
    writeln!(
        out,
        "\n[5/7] Build the batch {}: {} item(s), {} (platform fees {}), state {}",
        batch.id,
        batch.item_count,
        batch.total,
        batch.fee_total,
        batch.state.as_str()
    )?;
    match &batch.approval {
        Some(payouts_domain::batch::Approval::Policy { policy, .. }) => {
            writeln!(out, "      approved by the program's policy ({policy})")?;
        }
        _ => {
            return Err(CliError::Demo(
                "the policy did not approve the batch".to_owned(),
            ));
        }
    }
    writeln!(out, "      manifest sha256 {}", batch.manifest_hash)?;
    for item in all_items(engine, batch.id).await? {
        writeln!(
            out,
            "      {:<6} {} → {}",
            name_of(&names, item.membership_id),
            item.amount,
            item.destination
        )?;
    }

    // 6. Execute with one injected balance_insufficient.
    sandbox.set_balance(SetBalance {
        account: Some(merchant_account.as_str().to_owned()),
        currency: "usd".to_owned(),
        available: batch.total.amount_minor(),
        pending: 0,
    })?;
    sandbox.add_fault(
        FaultSpec::fail(
            "/v1/transfers",
            1,
            400,
            ErrorType::InvalidRequestError,
            "balance_insufficient",
        )
        .with_method("POST"),
    );
    writeln!(
        out,
        "\n[6/7] Execute: the merchant's balance holds {}; the sandbox will refuse the first \
         transfer with balance_insufficient",
        batch.total
    )?;
    let report = execute_with_progress(engine, batch.id, Progress::Lines("      "), out).await?;
    writeln!(
        out,
        "      {} posted, {} failed → batch {}",
        report.posted,
        report.failed,
        report.batch_state.map_or("?", |s| s.as_str())
    )?;
    let items = all_items(engine, batch.id).await?;
    let failed: Vec<_> = items
        .iter()
        .filter(|i| matches!(i.state, ItemState::Failed { .. }))
        .collect();
    let [failed] = failed.as_slice() else {
        return Err(CliError::Demo(format!(
            "expected exactly one failed item, found {}",
            failed.len()
        )));
    };
    for item in &items {
        writeln!(
            out,
            "      {:<6} {}  {}",
            name_of(&names, item.membership_id),
            item.amount,
            describe_state(&item.state)
        )?;
    }

    // 7. Fund and retry the failed item.
    let available = sandbox
        .balance(Some(merchant_account.as_str()), "usd")
        .available;
    let topped_up = available
        .checked_add(failed.amount.amount_minor())
        .ok_or_else(|| CliError::Demo("balance overflow".to_owned()))?;
    sandbox.set_balance(SetBalance {
        account: Some(merchant_account.as_str().to_owned()),
        currency: "usd".to_owned(),
        available: topped_up,
        pending: 0,
    })?;
    writeln!(
        out,
        "\n[7/7] Top up the merchant's balance by {} and retry item {} ({})",
        failed.amount,
        failed.id,
        name_of(&names, failed.membership_id)
    )?;
    let retried = engine
        .retry_item(failed.id, &crate::cli::operator())
        .await?;
    writeln!(out, "      {}", describe_state(&retried.state))?;
    let retried_posted = matches!(retried.state, ItemState::Posted { attempt: 2, .. });
    let batch = engine.batch(batch.id).await?;
    writeln!(out, "      batch is now {}", batch.state.as_str())?;

    // Summary, ledger check, and Stripe's side.
    let summary = engine.batch_summary(batch.id).await?;
    writeln!(out, "\nSummary of batch {}", batch.id)?;
    print_summary(out, &summary)?;
    writeln!(
        out,
        "retried: 1 item, {}",
        if retried_posted {
            "posted"
        } else {
            "NOT posted"
        }
    )?;
    let ledger = engine.check_ledger(program.id).await?;
    writeln!(
        out,
        "\nLedger check (finalized = posted + carried + pending + failed)"
    )?;
    for p in &ledger.periods {
        writeln!(
            out,
            "  {}: {} = {} + {} + {} + {}  {}",
            p.period,
            p.finalized,
            p.posted,
            p.carried,
            p.pending,
            p.failed,
            if p.balanced() {
                "balanced"
            } else {
                "OUT OF BALANCE"
            }
        )?;
    }
    writeln!(
        out,
        "  items match their commissions: {}",
        if ledger.balanced() { "yes" } else { "NO" }
    )?;
    let stripe = sandbox.ledger(&LedgerFilter::default());
    let paid_twice = stripe
        .counts_by_item_id
        .values()
        .filter(|n| **n > 1)
        .count();
    writeln!(
        out,
        "  Stripe (sandbox) ledger: {} transfer(s), {} item(s) paid twice",
        stripe.count, paid_twice
    )?;
    let refused = sandbox.validation_failures();
    if !refused.is_empty() {
        writeln!(
            out,
            "  warning: the sandbox refused {} request(s) as invalid against Stripe's spec",
            refused.len()
        )?;
    }

    let all_posted = summary.failed_count == 0
        && summary.pending_count == 0
        && u64::from(batch.item_count) == summary.posted_count;
    if !(retried_posted && all_posted && batch.state == BatchState::Completed) {
        return Err(CliError::Demo(
            "the batch did not end with every item posted".to_owned(),
        ));
    }
    if !ledger.balanced() || paid_twice > 0 {
        return Err(CliError::Demo(
            "the ledger check failed or an item was paid twice".to_owned(),
        ));
    }
    writeln!(out, "\nDemo complete.")?;
    Ok(())
}

/// Enrols a partner, creates their Express account through the onboarding
/// link, completes onboarding in the sandbox, and reads the account back.
async fn onboard(
    engine: &Engine,
    sandbox: &SandboxHandle,
    program: payouts_domain::ids::ProgramId,
    name: &str,
    out: &mut impl Write,
) -> Result<Membership, CliError> {
    let membership = engine
        .enroll_partner(
            program,
            NewPartner {
                partner_id: None,
                email: format!("{name}@example.com"),
                country: "US".to_owned(),
                referral_key: ReferralKey::parse(name)
                    .map_err(|e| CliError::Demo(e.to_string()))?,
            },
        )
        .await?;
    let link = engine
        .onboarding_link(membership.id, RETURN_URL, REFRESH_URL)
        .await?;
    let account: AccountId = engine
        .membership(membership.id)
        .await?
        .account_id
        .ok_or_else(|| CliError::Demo(format!("{name} has no Express account")))?;
    sandbox.complete_onboarding(account.as_str())?;
    let membership = engine.refresh_onboarding(membership.id).await?;
    writeln!(
        out,
        "      {name:<6} enrolled (referral link ?ref={}), Express account {account}, \
         onboarding link {} → completed; can receive transfers: {}",
        membership.referral_key,
        link.url,
        if membership.onboarding.can_receive_transfers() {
            "yes"
        } else {
            "no"
        }
    )?;
    Ok(membership)
}

/// The merchant's Stripe coupon that promotion codes apply. Creating
/// coupons is not part of the payouts adapter, so this is a raw call.
async fn create_stripe_coupon(
    sandbox: &SandboxHandle,
    merchant_account: &AccountId,
) -> Result<String, CliError> {
    let failed = |e: String| CliError::Demo(format!("creating the Stripe coupon: {e}"));
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| failed(e.to_string()))?;
    let response = client
        .post(format!("{}/v1/coupons", sandbox.base_url()))
        .bearer_auth(SANDBOX_SECRET_KEY)
        .header("Stripe-Account", merchant_account.as_str())
        .form(&[
            ("percent_off", "20"),
            ("duration", "once"),
            ("name", "Partner 20% off"),
        ])
        .send()
        .await
        .map_err(|e| failed(e.to_string()))?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.map_err(|e| failed(e.to_string()))?;
    match body.get("id").and_then(serde_json::Value::as_str) {
        Some(id) if status.is_success() => Ok(id.to_owned()),
        _ => Err(failed(format!("{status}: {body}"))),
    }
}

fn describe_conversion(
    out: &mut impl Write,
    recorded: &RecordOutcome,
    names: &HashMap<MembershipId, String>,
    both_signals: bool,
) -> Result<(), CliError> {
    match recorded {
        RecordOutcome::Recorded {
            conversion,
            commission,
        } => {
            let how = match &conversion.attributed_by {
                AttributedBy::Coupon(code) if both_signals => {
                    format!("coupon {code} (beats the referral link)")
                }
                AttributedBy::Coupon(code) => format!("coupon {code}"),
                AttributedBy::Referral(key) => format!("referral link ?ref={key}"),
            };
            writeln!(
                out,
                "      {} {} via {how} → {}: commission {}",
                conversion.external_id,
                conversion.amount,
                name_of(names, conversion.membership_id),
                commission
                    .as_ref()
                    .map_or_else(|| "none".to_owned(), |c| c.amount.to_string())
            )?;
        }
        RecordOutcome::Duplicate { conversion } => {
            writeln!(out, "      {} already recorded", conversion.external_id)?;
        }
    }
    Ok(())
}

fn name_of(names: &HashMap<MembershipId, String>, id: MembershipId) -> &str {
    names.get(&id).map_or("?", String::as_str)
}
