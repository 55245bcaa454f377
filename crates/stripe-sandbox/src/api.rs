//! The `/v1` operations the sandbox executes, on already-validated parameters.
//!
//! Every function here runs under the world lock and either returns the JSON
//! Stripe would return or an [`ApiError`]. Money only moves inside these
//! functions, always with checked `i64` arithmetic.

use serde_json::{Map, Value, json};

use crate::error::ApiError;
use crate::ids::{new_id, random_alnum};
use crate::spec::{HttpMethod, RouteMatch};
use crate::state::{
    Account, Charge, Coupon, Dispute, PaymentIntent, Payout, PromotionCode, Refund, Reversal,
    Transfer, World, add, apply_metadata, prorate, render, sub,
};

/// How long account links stay valid, as Stripe documents (five minutes).
const ACCOUNT_LINK_TTL_SECS: i64 = 300;
/// Disputes must be answered within about a week.
const DISPUTE_RESPONSE_SECS: i64 = 7 * 86_400;

/// A webhook event the sandbox emits on its own.
#[derive(Debug, Clone)]
pub(crate) struct PendingEvent {
    pub kind: String,
    pub account: Option<String>,
    pub object: Value,
}

/// Everything an operation needs to know about the request.
#[derive(Debug)]
pub(crate) struct Ctx<'a> {
    /// The account acting: the platform, or the `Stripe-Account` one.
    pub scope: &'a str,
    pub now: i64,
    pub idempotency_key: Option<&'a str>,
    pub params: &'a Value,
    pub route: &'a RouteMatch,
    pub events: Vec<PendingEvent>,
}

impl Ctx<'_> {
    fn is_platform(&self, w: &World) -> bool {
        self.scope == w.platform_id
    }

    fn path(&self, name: &str) -> &str {
        self.route.param(name).unwrap_or_default()
    }

    fn emit(&mut self, w: &World, kind: &str, object: Value) {
        let account = (!self.is_platform(w)).then(|| self.scope.to_owned());
        self.events.push(PendingEvent {
            kind: kind.to_owned(),
            account,
            object,
        });
    }
}

fn s<'a>(p: &'a Value, key: &str) -> Option<&'a str> {
    p.get(key).and_then(Value::as_str).filter(|v| !v.is_empty())
}

fn owned(p: &Value, key: &str) -> Option<String> {
    s(p, key).map(str::to_owned)
}

fn int(p: &Value, key: &str) -> Option<i64> {
    p.get(key).and_then(Value::as_i64)
}

fn boolean(p: &Value, key: &str) -> Option<bool> {
    p.get(key).and_then(Value::as_bool)
}

fn required_str<'a>(p: &'a Value, key: &str) -> Result<&'a str, ApiError> {
    s(p, key).ok_or_else(|| {
        ApiError::invalid(
            Some("parameter_missing"),
            format!("Missing required param: {key}."),
            Some(key),
        )
    })
}

fn positive(p: &Value, key: &str) -> Result<Option<i64>, ApiError> {
    match int(p, key) {
        Some(v) if v <= 0 => Err(ApiError::invalid(
            Some("parameter_invalid_integer"),
            format!("Invalid positive integer: {key} must be greater than 0"),
            Some(key),
        )),
        other => Ok(other),
    }
}

fn required_positive(p: &Value, key: &str) -> Result<i64, ApiError> {
    positive(p, key)?.ok_or_else(|| {
        ApiError::invalid(
            Some("parameter_missing"),
            format!("Missing required param: {key}."),
            Some(key),
        )
    })
}

fn currency(p: &Value) -> Result<String, ApiError> {
    Ok(required_str(p, "currency")?.to_ascii_lowercase())
}

fn metadata(p: &Value) -> crate::state::Metadata {
    let mut m = crate::state::Metadata::new();
    apply_metadata(&mut m, p.get("metadata"));
    m
}

fn balance_insufficient() -> ApiError {
    ApiError::invalid(
        Some("balance_insufficient"),
        "You have insufficient available funds in your Stripe account. Try adding funds directly to your available balance by creating Charges using the 4000000000000077 test card. See: https://stripe.com/docs/testing#available-balance",
        None,
    )
}

fn unexpected_state(object: &str, id: &str, status: &str, action: &str) -> ApiError {
    ApiError::invalid(
        Some(&format!("{object}_unexpected_state")),
        format!(
            "You cannot {action} this {} because it has a status of {status}.",
            object.replace('_', "")
        ),
        None,
    )
    .with_id_hint(id)
}

trait IdHint {
    fn with_id_hint(self, id: &str) -> Self;
}

impl IdHint for ApiError {
    fn with_id_hint(mut self, id: &str) -> Self {
        self.message = format!("{} ({id})", self.message);
        self
    }
}

/// Stripe's list envelope, newest first, honouring `limit`,
/// `starting_after`, `ending_before` and `created` filters.
/// Objects are rendered only for the returned page, so listing stays cheap
/// with thousands of stored objects.
fn list<T>(
    mut items: Vec<(u64, String, i64, T)>,
    q: &Value,
    url: &str,
    render: impl Fn(T) -> Value,
) -> Result<Value, ApiError> {
    if let Some(created) = q.get("created") {
        items.retain(|(_, _, c, _)| created_matches(created, *c));
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.0));
    let limit = int(q, "limit").unwrap_or(10);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid(
            None,
            "Invalid limit: must be between 1 and 100",
            Some("limit"),
        ));
    }
    let limit = usize::try_from(limit).unwrap_or(10);
    let window: Vec<(u64, String, i64, T)> =
        if let Some(after) = s(q, "starting_after") {
            let pos = items.iter().position(|i| i.1 == after).ok_or_else(|| {
                ApiError::missing("object", after, "starting_after").with_status(400)
            })?;
            items.into_iter().skip(pos.saturating_add(1)).collect()
        } else if let Some(before) = s(q, "ending_before") {
            let pos = items.iter().position(|i| i.1 == before).ok_or_else(|| {
                ApiError::missing("object", before, "ending_before").with_status(400)
            })?;
            let start = pos.saturating_sub(limit);
            items
                .into_iter()
                .skip(start)
                .take(pos.saturating_sub(start))
                .collect()
        } else {
            items
        };
    let has_more = window.len() > limit;
    let data: Vec<Value> = window
        .into_iter()
        .take(limit)
        .map(|i| render(i.3))
        .collect();
    Ok(json!({"object": "list", "data": data, "has_more": has_more, "url": url}))
}

fn created_matches(filter: &Value, created: i64) -> bool {
    match filter {
        Value::Number(n) => n.as_i64() == Some(created),
        Value::Object(range) => range.iter().all(|(op, v)| {
            let Some(v) = v.as_i64() else { return true };
            match op.as_str() {
                "gt" => created > v,
                "gte" => created >= v,
                "lt" => created < v,
                "lte" => created <= v,
                _ => true,
            }
        }),
        _ => true,
    }
}

fn not_implemented(method: HttpMethod, template: &str) -> ApiError {
    ApiError::invalid(
        None,
        format!(
            "stripe-sandbox does not implement {} {template} (it is a valid Stripe endpoint, but outside the sandbox's scope)",
            method.as_str()
        ),
        None,
    )
    .with_status(404)
}

/// Runs the operation matched by `ctx.route`.
pub(crate) fn execute(w: &mut World, ctx: &mut Ctx<'_>) -> Result<(u16, Value), ApiError> {
    use HttpMethod::{Delete, Get, Post};
    let op = std::sync::Arc::clone(&ctx.route.op);
    let body = match (op.method, op.template.as_str()) {
        (Get, "/v1/balance") => w.balance_json(ctx.scope),
        (Post, "/v1/transfers") => create_transfer(w, ctx)?,
        (Get, "/v1/transfers") => list_transfers(w, ctx)?,
        (Get, "/v1/transfers/{transfer}") => {
            w.transfer_json(transfer_in_scope(w, ctx, "transfer")?)
        }
        (Post, "/v1/transfers/{transfer}") => update_transfer(w, ctx)?,
        (Post, "/v1/transfers/{id}/reversals") => create_reversal(w, ctx)?,
        (Get, "/v1/transfers/{id}/reversals") => list_reversals(w, ctx)?,
        (Get, "/v1/transfers/{transfer}/reversals/{id}") => get_reversal(w, ctx)?,
        (Post, "/v1/accounts") => create_account(w, ctx)?,
        (Get, "/v1/accounts") => list_accounts(w, ctx)?,
        (Get, "/v1/account") => account_in_scope(w, ctx, ctx.scope)?.to_json(),
        (Get, "/v1/accounts/{account}") => account_in_scope(w, ctx, ctx.path("account"))?.to_json(),
        (Post, "/v1/accounts/{account}") => update_account(w, ctx)?,
        (Delete, "/v1/accounts/{account}") => delete_account(w, ctx)?,
        (Post, "/v1/account_links") => create_account_link(w, ctx)?,
        (Post, "/v1/accounts/{account}/login_links") => create_login_link(w, ctx)?,
        (Get, "/v1/accounts/{account}/external_accounts") => list_external_accounts(w, ctx)?,
        (Post, "/v1/payment_intents") => create_payment_intent(w, ctx)?,
        (Get, "/v1/payment_intents") => list_payment_intents(w, ctx)?,
        (Get, "/v1/payment_intents/{intent}") => pi_in_scope(w, ctx)?.to_json(),
        (Post, "/v1/payment_intents/{intent}") => update_payment_intent(w, ctx)?,
        (Post, "/v1/payment_intents/{intent}/confirm") => {
            let id = pi_in_scope(w, ctx)?.id.clone();
            confirm_payment_intent(w, ctx, &id)?
        }
        (Post, "/v1/payment_intents/{intent}/capture") => capture_payment_intent(w, ctx)?,
        (Post, "/v1/payment_intents/{intent}/cancel") => cancel_payment_intent(w, ctx)?,
        (Get, "/v1/charges") => list_charges(w, ctx)?,
        (Get, "/v1/charges/{charge}") => {
            charge_in_scope(w, ctx, ctx.path("charge"), "charge")?.to_json()
        }
        (Post, "/v1/refunds") => create_refund(w, ctx)?,
        (Get, "/v1/refunds") => list_refunds(w, ctx)?,
        (Get, "/v1/refunds/{refund}") => refund_in_scope(w, ctx)?.to_json(),
        (Post, "/v1/payouts") => create_payout(w, ctx)?,
        (Get, "/v1/payouts") => list_payouts(w, ctx)?,
        (Get, "/v1/payouts/{payout}") => payout_in_scope(w, ctx)?.to_json(),
        (Post, "/v1/payouts/{payout}") => update_payout(w, ctx)?,
        (Post, "/v1/payouts/{payout}/cancel") => cancel_payout(w, ctx)?,
        (Get, "/v1/disputes") => list_disputes(w, ctx)?,
        (Get, "/v1/disputes/{dispute}") => dispute_in_scope(w, ctx)?.to_json(),
        (Post, "/v1/disputes/{dispute}") => update_dispute(w, ctx)?,
        (Post, "/v1/disputes/{dispute}/close") => close_dispute(w, ctx)?,
        (Post, "/v1/coupons") => create_coupon(w, ctx)?,
        (Get, "/v1/coupons") => {
            let items = w
                .coupons
                .values()
                .filter(|c| c.scope == ctx.scope)
                .map(|c| (c.seq, c.id.clone(), int(&c.json, "created").unwrap_or(0), c))
                .collect();
            list(items, ctx.params, "/v1/coupons", |c| c.json.clone())?
        }
        (Get, "/v1/coupons/{coupon}") => coupon_in_scope(w, ctx, ctx.path("coupon"), "coupon")?
            .json
            .clone(),
        (Post, "/v1/promotion_codes") => create_promotion_code(w, ctx)?,
        (Get, "/v1/promotion_codes") => list_promotion_codes(w, ctx)?,
        (Get, "/v1/promotion_codes/{promotion_code}") => {
            let p = promo_in_scope(w, ctx)?;
            w.promotion_code_json(p)
        }
        (Post, "/v1/promotion_codes/{promotion_code}") => update_promotion_code(w, ctx)?,
        (method, template) => return Err(not_implemented(method, template)),
    };
    Ok((200, body))
}

// ---------------------------------------------------------------- transfers

fn transfer_in_scope<'w>(
    w: &'w World,
    ctx: &Ctx<'_>,
    param: &str,
) -> Result<&'w Transfer, ApiError> {
    let id = ctx.path(param);
    w.transfers
        .get(id)
        .filter(|t| t.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("transfer", id, "id"))
}

/// Checks that `destination` can receive funds from `ctx.scope`.
fn check_destination(
    w: &World,
    ctx: &Ctx<'_>,
    destination: &str,
    param: &str,
) -> Result<(), ApiError> {
    let Some(dest) = w.accounts.get(destination).filter(|a| !a.deauthorized) else {
        return Err(ApiError::invalid(
            Some("resource_missing"),
            format!("No such destination: '{destination}'"),
            Some(param),
        ));
    };
    if dest.id == ctx.scope {
        return Err(ApiError::invalid(
            None,
            "You cannot create a transfer to your own account.",
            Some(param),
        ));
    }
    if dest.id != w.platform_id && !dest.transfers_active() {
        return Err(ApiError::invalid(
            Some("insufficient_capabilities_for_transfer"),
            "Your destination account needs to have at least one of the following capabilities enabled: transfers, crypto_transfers, legacy_payments",
            Some(param),
        ));
    }
    Ok(())
}

fn create_transfer(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let amount = required_positive(p, "amount")?;
    let currency = currency(p)?;
    let destination = required_str(p, "destination")?.to_owned();
    check_destination(w, ctx, &destination, "destination")?;
    let source_transaction = owned(p, "source_transaction");
    if let Some(ch) = &source_transaction
        && w.charges.get(ch).is_none_or(|c| c.scope != ctx.scope)
    {
        return Err(ApiError::invalid(
            Some("resource_missing"),
            format!("No such charge: '{ch}'"),
            Some("source_transaction"),
        ));
    }
    if w.balance(ctx.scope, &currency).available < amount {
        return Err(balance_insufficient());
    }
    w.debit(ctx.scope, &currency, amount)?;
    w.credit(&destination, &currency, amount)?;
    let seq = w.next_seq();
    let t = Transfer {
        id: new_id("tr_"),
        seq,
        scope: ctx.scope.to_owned(),
        created: ctx.now,
        amount,
        currency,
        destination,
        description: owned(p, "description"),
        transfer_group: owned(p, "transfer_group"),
        source_transaction,
        metadata: metadata(p),
        amount_reversed: 0,
        reversal_ids: Vec::new(),
        idempotency_key: ctx.idempotency_key.map(str::to_owned),
        destination_payment: new_id("py_"),
    };
    let json = w.transfer_json(&t);
    w.transfers.insert(t.id.clone(), t);
    Ok(json)
}

fn list_transfers(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let q = ctx.params;
    let items = w
        .transfers
        .values()
        .filter(|t| t.scope == ctx.scope)
        .filter(|t| s(q, "transfer_group").is_none_or(|g| t.transfer_group.as_deref() == Some(g)))
        .filter(|t| s(q, "destination").is_none_or(|d| t.destination == d))
        .map(|t| (t.seq, t.id.clone(), t.created, t))
        .collect();
    list(items, q, "/v1/transfers", |t| w.transfer_json(t))
}

fn update_transfer(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = transfer_in_scope(w, ctx, "transfer")?.id.clone();
    let p = ctx.params;
    let Some(t) = w.transfers.get_mut(&id) else {
        return Err(ApiError::missing("transfer", &id, "id"));
    };
    if let Some(d) = p.get("description").and_then(Value::as_str) {
        t.description = (!d.is_empty()).then(|| d.to_owned());
    }
    apply_metadata(&mut t.metadata, p.get("metadata"));
    let t = t.clone();
    Ok(w.transfer_json(&t))
}

/// Reverses `amount` of a transfer (funds flow back to the transfer's source).
fn reverse(
    w: &mut World,
    transfer_id: &str,
    amount: i64,
    now: i64,
    meta: crate::state::Metadata,
    source_refund: Option<String>,
) -> Result<Reversal, ApiError> {
    let Some(t) = w.transfers.get(transfer_id).cloned() else {
        return Err(ApiError::missing("transfer", transfer_id, "id"));
    };
    w.debit(&t.destination, &t.currency, amount)?;
    w.credit(&t.scope, &t.currency, amount)?;
    let seq = w.next_seq();
    let r = Reversal {
        id: new_id("trr_"),
        seq,
        transfer: t.id.clone(),
        created: now,
        amount,
        currency: t.currency.clone(),
        metadata: meta,
        source_refund,
    };
    if let Some(tm) = w.transfers.get_mut(transfer_id) {
        tm.amount_reversed = add(tm.amount_reversed, amount)?;
        tm.reversal_ids.push(r.id.clone());
    }
    w.reversals.insert(r.id.clone(), r.clone());
    Ok(r)
}

fn create_reversal(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let t = transfer_in_scope(w, ctx, "id")?.clone();
    let remaining = sub(t.amount, t.amount_reversed)?;
    let p = ctx.params;
    let amount = positive(p, "amount")?.unwrap_or(remaining);
    if remaining == 0 {
        return Err(ApiError::invalid(
            Some("transfer_already_reversed"),
            format!("Transfer {} has already been fully reversed.", t.id),
            None,
        ));
    }
    if amount > remaining {
        return Err(ApiError::invalid(
            Some("amount_too_large"),
            format!(
                "Amount to reverse ({amount}) is greater than the unreversed amount of the transfer ({remaining})."
            ),
            Some("amount"),
        ));
    }
    let r = reverse(w, &t.id, amount, ctx.now, metadata(p), None)?;
    if let Some(updated) = w.transfers.get(&t.id) {
        let obj = w.transfer_json(updated);
        ctx.emit(w, "transfer.reversed", obj);
    }
    Ok(r.to_json())
}

fn list_reversals(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let t = transfer_in_scope(w, ctx, "id")?;
    let items = w
        .reversals
        .values()
        .filter(|r| r.transfer == t.id)
        .map(|r| (r.seq, r.id.clone(), r.created, r))
        .collect();
    let url = format!("/v1/transfers/{}/reversals", t.id);
    list(items, ctx.params, &url, Reversal::to_json)
}

fn get_reversal(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let t = transfer_in_scope(w, ctx, "transfer")?;
    let id = ctx.path("id");
    w.reversals
        .get(id)
        .filter(|r| r.transfer == t.id)
        .map(Reversal::to_json)
        .ok_or_else(|| ApiError::missing("transfer_reversal", id, "id"))
}

// ----------------------------------------------------------------- accounts

fn account_in_scope<'w>(w: &'w World, ctx: &Ctx<'_>, id: &str) -> Result<&'w Account, ApiError> {
    w.accounts
        .get(id)
        .filter(|a| ctx.is_platform(w) || a.id == ctx.scope)
        .ok_or_else(|| ApiError::missing("account", id, "account"))
}

fn default_currency(country: &str) -> &'static str {
    match country {
        "GB" => "gbp",
        "CA" => "cad",
        "AU" => "aud",
        "JP" => "jpy",
        "CH" => "chf",
        "NZ" => "nzd",
        "SG" => "sgd",
        "DE" | "FR" | "ES" | "IT" | "NL" | "IE" | "BE" | "AT" | "PT" | "FI" => "eur",
        _ => "usd",
    }
}

/// Applies the updatable account fields shared by create and update.
fn apply_account_params(a: &mut Account, p: &Value) {
    if let Some(e) = p.get("email").and_then(Value::as_str) {
        a.email = (!e.is_empty()).then(|| e.to_owned());
    }
    if let Some(b) = owned(p, "business_type") {
        a.business_type = Some(b);
    }
    if let Some(profile) = p.get("business_profile").and_then(Value::as_object) {
        for (k, v) in profile {
            a.business_profile.insert(k.clone(), v.clone());
        }
    }
    if let Some(caps) = p.get("capabilities").and_then(Value::as_object) {
        for (name, req) in caps {
            match req.get("requested").and_then(Value::as_bool) {
                Some(true) => {
                    let status = if a.onboarded { "active" } else { "inactive" };
                    a.capabilities
                        .entry(name.clone())
                        .or_insert_with(|| status.to_owned());
                }
                Some(false) => {
                    a.capabilities.remove(name);
                }
                None => {}
            }
        }
    }
    apply_metadata(&mut a.metadata, p.get("metadata"));
    if let Some(schedule) = p.pointer("/settings/payouts/schedule") {
        if let Some(i) = s(schedule, "interval") {
            i.clone_into(&mut a.schedule.interval);
        }
        match schedule.get("delay_days") {
            Some(Value::Number(n)) => a.schedule.delay_days = n.as_i64().unwrap_or(2),
            // "minimum" is the country's shortest delay; 2 days for the US.
            Some(Value::String(_)) => a.schedule.delay_days = 2,
            _ => {}
        }
        if let Some(anchor) = owned(schedule, "weekly_anchor") {
            a.schedule.weekly_anchor = Some(anchor);
        }
        if let Some(anchor) = int(schedule, "monthly_anchor") {
            a.schedule.monthly_anchor = Some(anchor);
        }
    }
}

fn create_account(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    if !ctx.is_platform(w) {
        return Err(ApiError::invalid(
            None,
            "Connected accounts cannot create other accounts; call this endpoint as the platform.",
            None,
        ));
    }
    let p = ctx.params;
    let kind = s(p, "type").unwrap_or("standard");
    let seq = w.next_seq();
    let mut a = Account::new(new_id("acct_"), seq, ctx.now, kind);
    if let Some(c) = s(p, "country") {
        a.country = c.to_ascii_uppercase();
    }
    a.default_currency =
        owned(p, "default_currency").unwrap_or_else(|| default_currency(&a.country).to_owned());
    if let Some(agreement) = p.pointer("/tos_acceptance/service_agreement") {
        a.service_agreement = service_agreement(agreement)?;
    }
    if kind == "standard" && p.get("capabilities").is_none() {
        for name in ["card_payments", "transfers"] {
            a.capabilities
                .insert(name.to_owned(), "inactive".to_owned());
        }
    }
    check_recipient_capabilities(&a.service_agreement, p)?;
    apply_account_params(&mut a, p);
    let json = a.to_json();
    w.accounts.insert(a.id.clone(), a);
    Ok(json)
}

/// `tos_acceptance[service_agreement]`: the spec types it as any string;
/// Stripe documents two values (docs.stripe.com/connect/service-agreement-types).
fn service_agreement(value: &Value) -> Result<String, ApiError> {
    match value.as_str() {
        Some(v @ ("full" | "recipient")) => Ok(v.to_owned()),
        _ => Err(ApiError::invalid(
            Some("parameter_invalid_string"),
            "Invalid service_agreement: must be one of full or recipient",
            Some("tos_acceptance[service_agreement]"),
        )),
    }
}

/// Stripe: accounts under the `recipient` service agreement can't process
/// payments or request the `card_payments` capability.
fn check_recipient_capabilities(agreement: &str, p: &Value) -> Result<(), ApiError> {
    let wants_card_payments = p
        .pointer("/capabilities/card_payments/requested")
        .and_then(Value::as_bool)
        == Some(true);
    if agreement == "recipient" && wants_card_payments {
        return Err(ApiError::invalid(
            None,
            "Accounts under the `recipient` service agreement cannot request the \
             `card_payments` capability.",
            Some("capabilities[card_payments]"),
        ));
    }
    Ok(())
}

fn list_accounts(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let platform = ctx.is_platform(w);
    let items = w
        .accounts
        .values()
        .filter(|a| a.id != w.platform_id && (platform || a.id == ctx.scope))
        .map(|a| (a.seq, a.id.clone(), a.created, a))
        .collect();
    list(items, ctx.params, "/v1/accounts", Account::to_json)
}

/// The account's external accounts: its bank account, if one was added.
fn list_external_accounts(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let account = account_in_scope(w, ctx, ctx.path("account"))?;
    let url = format!("/v1/accounts/{}/external_accounts", account.id);
    let items = account
        .bank_account
        .iter()
        .map(|b| (account.seq, b.id.clone(), account.created, b))
        .collect();
    list(items, ctx.params, &url, |b| b.to_json(account))
}

fn update_account(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = account_in_scope(w, ctx, ctx.path("account"))?.id.clone();
    let Some(a) = w.accounts.get_mut(&id) else {
        return Err(ApiError::missing("account", &id, "account"));
    };
    if let Some(agreement) = ctx.params.pointer("/tos_acceptance/service_agreement") {
        let agreement = service_agreement(agreement)?;
        // Stripe: once accepted, the type of service agreement can't change.
        if a.onboarded && agreement != a.service_agreement {
            return Err(ApiError::invalid(
                None,
                "The service agreement of an account cannot be changed once it has been accepted.",
                Some("tos_acceptance[service_agreement]"),
            ));
        }
        check_recipient_capabilities(&agreement, ctx.params)?;
        a.service_agreement = agreement;
    }
    check_recipient_capabilities(&a.service_agreement, ctx.params)?;
    apply_account_params(a, ctx.params);
    let json = a.to_json();
    // Connect endpoints receive account events with `account` set to the account.
    ctx.events.push(PendingEvent {
        kind: "account.updated".to_owned(),
        account: Some(id),
        object: json.clone(),
    });
    Ok(json)
}

fn delete_account(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = account_in_scope(w, ctx, ctx.path("account"))?.id.clone();
    if id == w.platform_id {
        return Err(ApiError::invalid(
            None,
            "You cannot delete your own platform account.",
            Some("account"),
        ));
    }
    w.accounts.remove(&id);
    w.balances.remove(&id);
    Ok(json!({"id": id, "object": "account", "deleted": true}))
}

fn create_account_link(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let account = required_str(p, "account")?;
    let a = w
        .accounts
        .get(account)
        .filter(|a| a.id != w.platform_id)
        .ok_or_else(|| ApiError::missing("account", account, "account").with_status(400))?;
    if s(p, "type") == Some("account_update") && a.kind != "custom" {
        return Err(ApiError::invalid(
            None,
            "You cannot create `account_update` type Account Links for Express or Standard accounts.",
            Some("type"),
        ));
    }
    let account = a.id.clone();
    let token = random_alnum(12);
    let expires_at = ctx.now.saturating_add(ACCOUNT_LINK_TTL_SECS);
    let base = w
        .hosted_base
        .clone()
        .unwrap_or_else(|| "https://connect.stripe.com".to_owned());
    // The sandbox serves the hosted onboarding page itself: Complete sends
    // the user to `return_url`, an expired or used link to `refresh_url`.
    w.account_links.insert(
        token.clone(),
        crate::state::HostedAccountLink {
            account: account.clone(),
            return_url: s(p, "return_url").unwrap_or_default().to_owned(),
            refresh_url: s(p, "refresh_url").unwrap_or_default().to_owned(),
            expires_at,
            used: false,
        },
    );
    Ok(render(
        "account_link",
        json!({
            "object": "account_link",
            "created": ctx.now,
            "expires_at": expires_at,
            "url": format!("{base}/setup/s/{account}/{token}"),
        }),
    ))
}

fn create_login_link(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let a = account_in_scope(w, ctx, ctx.path("account"))?;
    if a.kind != "express" {
        return Err(ApiError::invalid(
            None,
            "Cannot create a login link for an account that is not an Express account.",
            Some("account"),
        ));
    }
    Ok(render(
        "login_link",
        json!({
            "object": "login_link",
            "created": ctx.now,
            "url": format!(
                "{}/express/{}/{}",
                w.hosted_base.as_deref().unwrap_or("https://connect.stripe.com"),
                a.id,
                random_alnum(12)
            ),
        }),
    ))
}

// ---------------------------------------------------------- payment intents

fn pi_in_scope<'w>(w: &'w World, ctx: &Ctx<'_>) -> Result<&'w PaymentIntent, ApiError> {
    let id = ctx.path("intent");
    w.payment_intents
        .get(id)
        .filter(|p| p.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("payment_intent", id, "intent"))
}

fn create_payment_intent(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let amount = required_positive(p, "amount")?;
    let currency = currency(p)?;
    if amount < 50 && currency == "usd" {
        return Err(ApiError::invalid(
            Some("amount_too_small"),
            "Amount must be at least $0.50 usd",
            Some("amount"),
        ));
    }
    let destination = p
        .pointer("/transfer_data/destination")
        .and_then(Value::as_str)
        .map(str::to_owned);
    if let Some(d) = &destination {
        check_destination(w, ctx, d, "transfer_data[destination]")?;
    }
    let mut fee = int(p, "application_fee_amount");
    if let Some(transfer_amount) = p.pointer("/transfer_data/amount").and_then(Value::as_i64) {
        if fee.is_some() {
            return Err(ApiError::invalid(
                Some("parameters_exclusive"),
                "You may only specify one of these parameters: application_fee_amount, transfer_data[amount].",
                Some("transfer_data[amount]"),
            ));
        }
        fee = Some(sub(amount, transfer_amount)?);
    }
    if let Some(f) = fee {
        if destination.is_none() && ctx.is_platform(w) {
            return Err(ApiError::invalid(
                None,
                "Can only apply an application_fee_amount when the PaymentIntent is attempting a direct payment (using an OAuth key or Stripe-Account header) or destination payment (using `transfer_data[destination]`).",
                Some("application_fee_amount"),
            ));
        }
        if f < 0 || f > amount {
            return Err(ApiError::invalid(
                None,
                "The application fee must be between 0 and the PaymentIntent amount.",
                Some("application_fee_amount"),
            ));
        }
    }
    let payment_method = owned(p, "payment_method");
    let types = p
        .get("payment_method_types")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_else(|| vec!["card".to_owned()]);
    let seq = w.next_seq();
    let pi = PaymentIntent {
        id: new_id("pi_"),
        seq,
        scope: ctx.scope.to_owned(),
        created: ctx.now,
        amount,
        currency,
        application_fee_amount: fee,
        destination,
        capture_method: s(p, "capture_method").unwrap_or("automatic").to_owned(),
        status: if payment_method.is_some() {
            "requires_confirmation"
        } else {
            "requires_payment_method"
        }
        .to_owned(),
        metadata: metadata(p),
        payment_method_types: types,
        payment_method,
        receipt_email: owned(p, "receipt_email"),
        description: owned(p, "description"),
        transfer_group: owned(p, "transfer_group"),
        latest_charge: None,
        amount_received: 0,
        amount_capturable: 0,
        last_payment_error: None,
    };
    let id = pi.id.clone();
    let json = pi.to_json();
    w.payment_intents.insert(id.clone(), pi);
    if boolean(p, "confirm") == Some(true) {
        return confirm_payment_intent(w, ctx, &id);
    }
    Ok(json)
}

fn update_payment_intent(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = pi_in_scope(w, ctx)?.id.clone();
    let p = ctx.params;
    let Some(pi) = w.payment_intents.get_mut(&id) else {
        return Err(ApiError::missing("payment_intent", &id, "intent"));
    };
    apply_metadata(&mut pi.metadata, p.get("metadata"));
    if let Some(d) = owned(p, "description") {
        pi.description = Some(d);
    }
    if let Some(e) = owned(p, "receipt_email") {
        pi.receipt_email = Some(e);
    }
    if let Some(m) = owned(p, "payment_method") {
        pi.payment_method = Some(m);
        if pi.status == "requires_payment_method" {
            "requires_confirmation".clone_into(&mut pi.status);
        }
    }
    Ok(pi.to_json())
}

/// Test payment methods that decline, with their `decline_code`.
fn decline_code(payment_method: &str) -> Option<&'static str> {
    match payment_method {
        "pm_card_chargeDeclined" | "pm_card_visa_chargeDeclined" => Some("generic_decline"),
        "pm_card_chargeDeclinedInsufficientFunds"
        | "pm_card_visa_chargeDeclinedInsufficientFunds" => Some("insufficient_funds"),
        "pm_card_chargeDeclinedFraudulent" | "pm_card_visa_chargeDeclinedFraudulent" => {
            Some("fraudulent")
        }
        _ => None,
    }
}

fn confirm_payment_intent(w: &mut World, ctx: &mut Ctx<'_>, id: &str) -> Result<Value, ApiError> {
    let p = ctx.params;
    let Some(pi) = w.payment_intents.get_mut(id) else {
        return Err(ApiError::missing("payment_intent", id, "intent"));
    };
    if let Some(m) = owned(p, "payment_method") {
        pi.payment_method = Some(m);
    }
    if let Some(c) = owned(p, "capture_method") {
        pi.capture_method = c;
    }
    if !matches!(
        pi.status.as_str(),
        "requires_payment_method" | "requires_confirmation"
    ) {
        return Err(unexpected_state(
            "payment_intent",
            id,
            &pi.status,
            "confirm",
        ));
    }
    let Some(method) = pi.payment_method.clone() else {
        return Err(ApiError::invalid(
            Some("payment_intent_unexpected_state"),
            "You cannot confirm this PaymentIntent because it's missing a payment method. To confirm the PaymentIntent with a payment method, pass `payment_method`.",
            None,
        ));
    };
    if let Some(decline) = decline_code(&method) {
        "requires_payment_method".clone_into(&mut pi.status);
        pi.last_payment_error = Some(json!({
            "type": "card_error", "code": "card_declined", "decline_code": decline,
            "message": "Your card was declined."
        }));
        return Err(ApiError {
            status: 402,
            kind: crate::error::ErrorType::CardError,
            code: Some("card_declined".to_owned()),
            message: "Your card was declined.".to_owned(),
            param: None,
            decline_code: Some(decline.to_owned()),
        });
    }
    let seq = w.next_seq();
    let pi = w
        .payment_intents
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::missing("payment_intent", id, "intent"))?;
    let charge = Charge {
        id: new_id("ch_"),
        seq,
        scope: pi.scope.clone(),
        created: ctx.now,
        amount: pi.amount,
        amount_captured: 0,
        amount_refunded: 0,
        currency: pi.currency.clone(),
        payment_intent: pi.id.clone(),
        application_fee_amount: pi.application_fee_amount,
        fee_refunded: 0,
        destination: pi.destination.clone(),
        transfer: None,
        captured: false,
        disputed: false,
        metadata: pi.metadata.clone(),
        payment_method: pi.payment_method.clone(),
        receipt_email: pi.receipt_email.clone(),
    };
    let charge_id = charge.id.clone();
    w.charges.insert(charge_id.clone(), charge);
    if let Some(pi) = w.payment_intents.get_mut(id) {
        pi.latest_charge = Some(charge_id.clone());
        pi.last_payment_error = None;
        if pi.capture_method == "manual" {
            "requires_capture".clone_into(&mut pi.status);
            pi.amount_capturable = pi.amount;
        }
    }
    if pi.capture_method != "manual" {
        settle(w, ctx, id, &charge_id, pi.amount, pi.application_fee_amount)?;
    }
    w.payment_intents
        .get(id)
        .map(PaymentIntent::to_json)
        .ok_or_else(|| ApiError::missing("payment_intent", id, "intent"))
}

/// Captures `captured` of a charge and moves the money: destination charges
/// credit the destination (via a transfer) and collect the application fee
/// back to the platform; direct charges credit the connected account and pay
/// the fee to the platform. Funds are available at once (no settlement delay).
fn settle(
    w: &mut World,
    ctx: &Ctx<'_>,
    pi_id: &str,
    charge_id: &str,
    captured: i64,
    fee: Option<i64>,
) -> Result<(), ApiError> {
    let Some(pi) = w.payment_intents.get(pi_id).cloned() else {
        return Err(ApiError::missing("payment_intent", pi_id, "intent"));
    };
    let fee_amount = fee.unwrap_or(0);
    if fee_amount > captured {
        return Err(ApiError::invalid(
            None,
            "The application fee cannot exceed the captured amount.",
            Some("application_fee_amount"),
        ));
    }
    let platform = w.platform_id.clone();
    let mut transfer_id = None;
    w.credit(&pi.scope, &pi.currency, captured)?;
    if let Some(dest) = &pi.destination {
        // The full amount goes to the destination, then the fee comes back.
        w.debit(&pi.scope, &pi.currency, captured)?;
        w.credit(dest, &pi.currency, sub(captured, fee_amount)?)?;
        w.credit(&pi.scope, &pi.currency, fee_amount)?;
        let seq = w.next_seq();
        let t = Transfer {
            id: new_id("tr_"),
            seq,
            scope: pi.scope.clone(),
            created: ctx.now,
            amount: captured,
            currency: pi.currency.clone(),
            destination: dest.clone(),
            description: None,
            transfer_group: pi
                .transfer_group
                .clone()
                .or_else(|| Some(format!("group_{}", pi.id))),
            source_transaction: Some(charge_id.to_owned()),
            metadata: crate::state::Metadata::new(),
            amount_reversed: 0,
            reversal_ids: Vec::new(),
            idempotency_key: None,
            destination_payment: new_id("py_"),
        };
        transfer_id = Some(t.id.clone());
        w.transfers.insert(t.id.clone(), t);
    } else if pi.scope != platform && fee_amount > 0 {
        w.debit(&pi.scope, &pi.currency, fee_amount)?;
        w.credit(&platform, &pi.currency, fee_amount)?;
    }
    if let Some(c) = w.charges.get_mut(charge_id) {
        c.amount_captured = captured;
        c.captured = true;
        c.application_fee_amount = fee;
        c.transfer = transfer_id;
    }
    if let Some(pi) = w.payment_intents.get_mut(pi_id) {
        pi.amount_received = captured;
        pi.amount_capturable = 0;
        pi.application_fee_amount = fee;
        "succeeded".clone_into(&mut pi.status);
    }
    Ok(())
}

fn capture_payment_intent(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let pi = pi_in_scope(w, ctx)?.clone();
    if pi.status != "requires_capture" {
        return Err(unexpected_state(
            "payment_intent",
            &pi.id,
            &pi.status,
            "capture",
        ));
    }
    let p = ctx.params;
    let captured = positive(p, "amount_to_capture")?.unwrap_or(pi.amount_capturable);
    if captured > pi.amount_capturable {
        return Err(ApiError::invalid(
            Some("amount_too_large"),
            format!(
                "The amount to capture ({captured}) is greater than the capturable amount ({}).",
                pi.amount_capturable
            ),
            Some("amount_to_capture"),
        ));
    }
    let fee = int(p, "application_fee_amount").or(pi.application_fee_amount);
    if let Some(m) = p.get("metadata")
        && let Some(pm) = w.payment_intents.get_mut(&pi.id)
    {
        apply_metadata(&mut pm.metadata, Some(m));
    }
    let charge_id = pi.latest_charge.clone().unwrap_or_default();
    settle(w, ctx, &pi.id, &charge_id, captured, fee)?;
    w.payment_intents
        .get(&pi.id)
        .map(PaymentIntent::to_json)
        .ok_or_else(|| ApiError::missing("payment_intent", &pi.id, "intent"))
}

fn cancel_payment_intent(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let pi = pi_in_scope(w, ctx)?.clone();
    if matches!(pi.status.as_str(), "succeeded" | "canceled") {
        return Err(unexpected_state(
            "payment_intent",
            &pi.id,
            &pi.status,
            "cancel",
        ));
    }
    let Some(pm) = w.payment_intents.get_mut(&pi.id) else {
        return Err(ApiError::missing("payment_intent", &pi.id, "intent"));
    };
    "canceled".clone_into(&mut pm.status);
    pm.amount_capturable = 0;
    let mut json = pm.to_json();
    if let Some(o) = json.as_object_mut() {
        o.insert("canceled_at".to_owned(), json!(ctx.now));
        o.insert(
            "cancellation_reason".to_owned(),
            json!(s(ctx.params, "cancellation_reason")),
        );
    }
    Ok(json)
}

fn list_payment_intents(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let items = w
        .payment_intents
        .values()
        .filter(|p| p.scope == ctx.scope)
        .map(|p| (p.seq, p.id.clone(), p.created, p))
        .collect();
    list(items, ctx.params, "/v1/payment_intents", |p| p.to_json())
}

// ------------------------------------------------------------------ charges

fn charge_in_scope<'w>(
    w: &'w World,
    ctx: &Ctx<'_>,
    id: &str,
    param: &str,
) -> Result<&'w Charge, ApiError> {
    w.charges
        .get(id)
        .filter(|c| c.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("charge", id, param))
}

fn list_charges(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let q = ctx.params;
    let items = w
        .charges
        .values()
        .filter(|c| c.scope == ctx.scope)
        .filter(|c| s(q, "payment_intent").is_none_or(|p| c.payment_intent == p))
        .map(|c| (c.seq, c.id.clone(), c.created, c))
        .collect();
    list(items, q, "/v1/charges", |c| c.to_json())
}

// ------------------------------------------------------------------ refunds

fn refund_in_scope<'w>(w: &'w World, ctx: &Ctx<'_>) -> Result<&'w Refund, ApiError> {
    let id = ctx.path("refund");
    w.refunds
        .get(id)
        .filter(|r| r.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("refund", id, "refund"))
}

fn create_refund(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let charge_id = match (s(p, "charge"), s(p, "payment_intent")) {
        (Some(ch), _) => charge_in_scope(w, ctx, ch, "charge")
            .map(|c| c.id.clone())
            .map_err(|e| e.with_status(400))?,
        (None, Some(pi_id)) => {
            let pi = w
                .payment_intents
                .get(pi_id)
                .filter(|x| x.scope == ctx.scope)
                .ok_or_else(|| {
                    ApiError::missing("payment_intent", pi_id, "payment_intent").with_status(400)
                })?;
            pi.latest_charge.clone().ok_or_else(|| {
                ApiError::invalid(
                    Some("charge_not_refundable"),
                    format!(
                        "This PaymentIntent ({pi_id}) does not have a successful charge to refund."
                    ),
                    Some("payment_intent"),
                )
            })?
        }
        (None, None) => {
            return Err(ApiError::invalid(
                Some("parameter_missing"),
                "One of the following params should be provided for this request: payment_intent or charge.",
                None,
            ));
        }
    };
    let charge = w
        .charges
        .get(&charge_id)
        .cloned()
        .ok_or_else(|| ApiError::missing("charge", &charge_id, "charge"))?;
    if !charge.captured {
        return Err(ApiError::invalid(
            Some("charge_not_refundable"),
            format!(
                "Charge {} has not been captured; cancel its PaymentIntent instead.",
                charge.id
            ),
            None,
        ));
    }
    let remaining = sub(charge.amount_captured, charge.amount_refunded)?;
    if remaining == 0 {
        return Err(ApiError::invalid(
            Some("charge_already_refunded"),
            format!("Charge {} has already been refunded.", charge.id),
            None,
        ));
    }
    let amount = positive(p, "amount")?.unwrap_or(remaining);
    if amount > remaining {
        return Err(ApiError::invalid(
            Some("amount_too_large"),
            format!(
                "Refund amount ({amount}) is greater than unrefunded amount on charge ({remaining})"
            ),
            Some("amount"),
        ));
    }
    let reverse_transfer = boolean(p, "reverse_transfer") == Some(true);
    let refund_fee = boolean(p, "refund_application_fee") == Some(true);
    if reverse_transfer && charge.transfer.is_none() {
        return Err(ApiError::invalid(
            None,
            "reverse_transfer can only be used with destination charges (PaymentIntents with transfer_data[destination]).",
            Some("reverse_transfer"),
        ));
    }
    let refund_id = new_id("re_");
    // The account that received the charge pays the refund.
    w.debit(&charge.scope, &charge.currency, amount)?;
    let mut reversal_id = None;
    if reverse_transfer && let Some(tr) = &charge.transfer {
        let t = w
            .transfers
            .get(tr)
            .cloned()
            .ok_or_else(|| ApiError::missing("transfer", tr, "transfer"))?;
        let rev = prorate(amount, t.amount, charge.amount_captured)?
            .min(sub(t.amount, t.amount_reversed)?);
        if rev > 0 {
            let r = reverse(
                w,
                tr,
                rev,
                ctx.now,
                crate::state::Metadata::new(),
                Some(refund_id.clone()),
            )?;
            reversal_id = Some(r.id);
        }
    }
    if refund_fee && let Some(fee) = charge.application_fee_amount {
        let fee_back =
            prorate(amount, fee, charge.amount_captured)?.min(sub(fee, charge.fee_refunded)?);
        let payee = charge
            .destination
            .clone()
            .unwrap_or_else(|| charge.scope.clone());
        let payer = if charge.destination.is_some() {
            charge.scope.clone()
        } else {
            w.platform_id.clone()
        };
        w.debit(&payer, &charge.currency, fee_back)?;
        w.credit(&payee, &charge.currency, fee_back)?;
        if let Some(c) = w.charges.get_mut(&charge.id) {
            c.fee_refunded = add(c.fee_refunded, fee_back)?;
        }
    }
    if let Some(c) = w.charges.get_mut(&charge.id) {
        c.amount_refunded = add(c.amount_refunded, amount)?;
    }
    let seq = w.next_seq();
    let refund = Refund {
        id: refund_id,
        seq,
        scope: ctx.scope.to_owned(),
        created: ctx.now,
        amount,
        currency: charge.currency.clone(),
        charge: charge.id.clone(),
        payment_intent: charge.payment_intent.clone(),
        reason: owned(p, "reason"),
        metadata: metadata(p),
        transfer_reversal: reversal_id,
    };
    let json = refund.to_json();
    w.refunds.insert(refund.id.clone(), refund);
    if let Some(c) = w.charges.get(&charge.id) {
        let obj = c.to_json();
        ctx.emit(w, "charge.refunded", obj);
    }
    Ok(json)
}

fn list_refunds(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let q = ctx.params;
    let items = w
        .refunds
        .values()
        .filter(|r| r.scope == ctx.scope)
        .filter(|r| s(q, "charge").is_none_or(|c| r.charge == c))
        .filter(|r| s(q, "payment_intent").is_none_or(|p| r.payment_intent == p))
        .map(|r| (r.seq, r.id.clone(), r.created, r))
        .collect();
    list(items, q, "/v1/refunds", |r| r.to_json())
}

// ------------------------------------------------------------------ payouts

fn payout_in_scope<'w>(w: &'w World, ctx: &Ctx<'_>) -> Result<&'w Payout, ApiError> {
    let id = ctx.path("payout");
    w.payouts
        .get(id)
        .filter(|p| p.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("payout", id, "payout"))
}

fn create_payout(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let amount = required_positive(p, "amount")?;
    let currency = currency(p)?;
    let account = w
        .accounts
        .get(ctx.scope)
        .ok_or_else(|| ApiError::missing("account", ctx.scope, "account"))?;
    if !ctx.is_platform(w) && !account.onboarded {
        return Err(ApiError::invalid(
            Some("payouts_not_allowed"),
            "Payouts are not enabled for this account: it has not completed onboarding.",
            None,
        ));
    }
    let method = s(p, "method").unwrap_or("standard").to_owned();
    let delay_days = account.schedule.delay_days;
    if w.balance(ctx.scope, &currency).available < amount {
        return Err(balance_insufficient());
    }
    w.debit(ctx.scope, &currency, amount)?;
    let arrival_date = if method == "instant" {
        ctx.now
    } else {
        ctx.now.saturating_add(delay_days.saturating_mul(86_400))
    };
    let seq = w.next_seq();
    let payout = Payout {
        id: new_id("po_"),
        seq,
        scope: ctx.scope.to_owned(),
        created: ctx.now,
        amount,
        currency,
        arrival_date,
        status: "pending".to_owned(),
        method,
        description: owned(p, "description"),
        metadata: metadata(p),
        statement_descriptor: owned(p, "statement_descriptor"),
    };
    let json = payout.to_json();
    w.payouts.insert(payout.id.clone(), payout);
    Ok(json)
}

fn list_payouts(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let q = ctx.params;
    let items = w
        .payouts
        .values()
        .filter(|p| p.scope == ctx.scope)
        .filter(|p| s(q, "status").is_none_or(|st| p.status == st))
        .map(|p| (p.seq, p.id.clone(), p.created, p))
        .collect();
    list(items, q, "/v1/payouts", |p| p.to_json())
}

fn update_payout(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = payout_in_scope(w, ctx)?.id.clone();
    let Some(p) = w.payouts.get_mut(&id) else {
        return Err(ApiError::missing("payout", &id, "payout"));
    };
    apply_metadata(&mut p.metadata, ctx.params.get("metadata"));
    Ok(p.to_json())
}

fn cancel_payout(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = payout_in_scope(w, ctx)?.clone();
    if p.status != "pending" {
        return Err(ApiError::invalid(
            None,
            format!(
                "Payouts can only be canceled while they are pending; this one is {}.",
                p.status
            ),
            None,
        ));
    }
    w.credit(&p.scope, &p.currency, p.amount)?;
    let Some(pm) = w.payouts.get_mut(&p.id) else {
        return Err(ApiError::missing("payout", &p.id, "payout"));
    };
    "canceled".clone_into(&mut pm.status);
    Ok(pm.to_json())
}

/// Moves a payout to `paid` or `failed` (control API); failure returns the funds.
pub(crate) fn set_payout_status(
    w: &mut World,
    id: &str,
    status: &str,
) -> Result<(Value, Option<String>), ApiError> {
    let p = w
        .payouts
        .get(id)
        .cloned()
        .ok_or_else(|| ApiError::missing("payout", id, "payout"))?;
    if !matches!(status, "paid" | "failed" | "in_transit" | "canceled") {
        return Err(ApiError::invalid(
            None,
            "status must be one of paid, failed, in_transit, canceled",
            Some("status"),
        ));
    }
    if matches!(status, "failed" | "canceled")
        && !matches!(p.status.as_str(), "failed" | "canceled")
    {
        w.credit(&p.scope, &p.currency, p.amount)?;
    }
    let Some(pm) = w.payouts.get_mut(id) else {
        return Err(ApiError::missing("payout", id, "payout"));
    };
    status.clone_into(&mut pm.status);
    let mut json = pm.to_json();
    if status == "failed"
        && let Some(o) = json.as_object_mut()
    {
        o.insert("failure_code".to_owned(), json!("account_closed"));
        o.insert(
            "failure_message".to_owned(),
            json!("The bank account has been closed."),
        );
    }
    let account = (p.scope != w.platform_id).then_some(p.scope);
    Ok((json, account))
}

// ----------------------------------------------------------------- disputes

fn dispute_in_scope<'w>(w: &'w World, ctx: &Ctx<'_>) -> Result<&'w Dispute, ApiError> {
    let id = ctx.path("dispute");
    w.disputes
        .get(id)
        .filter(|d| d.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("dispute", id, "dispute"))
}

/// Opens a dispute on a charge (control API). The disputed amount is
/// withdrawn from the account that received the charge.
pub(crate) fn create_dispute(
    w: &mut World,
    now: i64,
    charge_id: &str,
    amount: Option<i64>,
    reason: Option<&str>,
) -> Result<Dispute, ApiError> {
    let charge = w
        .charges
        .get(charge_id)
        .cloned()
        .ok_or_else(|| ApiError::missing("charge", charge_id, "charge"))?;
    let amount = amount.unwrap_or(sub(charge.amount_captured, charge.amount_refunded)?);
    w.debit(&charge.scope, &charge.currency, amount)?;
    let seq = w.next_seq();
    let d = Dispute {
        id: new_id("dp_"),
        seq,
        scope: charge.scope.clone(),
        created: now,
        amount,
        currency: charge.currency.clone(),
        charge: charge.id.clone(),
        payment_intent: charge.payment_intent.clone(),
        reason: reason.unwrap_or("fraudulent").to_owned(),
        status: "needs_response".to_owned(),
        evidence: Map::new(),
        metadata: crate::state::Metadata::new(),
        due_by: now.saturating_add(DISPUTE_RESPONSE_SECS),
        submission_count: 0,
    };
    if let Some(c) = w.charges.get_mut(charge_id) {
        c.disputed = true;
    }
    w.disputes.insert(d.id.clone(), d.clone());
    Ok(d)
}

fn update_dispute(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = dispute_in_scope(w, ctx)?.id.clone();
    let p = ctx.params;
    let Some(d) = w.disputes.get_mut(&id) else {
        return Err(ApiError::missing("dispute", &id, "dispute"));
    };
    let open = matches!(
        d.status.as_str(),
        "needs_response" | "warning_needs_response"
    );
    if let Some(evidence) = p.get("evidence").and_then(Value::as_object) {
        if !open {
            return Err(ApiError::invalid(
                None,
                format!(
                    "This dispute is {} and its evidence can no longer be changed.",
                    d.status
                ),
                Some("evidence"),
            ));
        }
        for (k, v) in evidence {
            d.evidence.insert(k.clone(), v.clone());
        }
    }
    apply_metadata(&mut d.metadata, p.get("metadata"));
    // Stripe submits by default; `submit=false` only stages the evidence.
    // A metadata-only update submits nothing.
    let submit = boolean(p, "submit").unwrap_or(true);
    let touches_evidence = p.get("evidence").is_some() || boolean(p, "submit") == Some(true);
    if open && submit && touches_evidence {
        d.submission_count = d.submission_count.saturating_add(1);
        d.status = if d.status == "warning_needs_response" {
            "warning_under_review"
        } else {
            "under_review"
        }
        .to_owned();
    }
    Ok(d.to_json())
}

fn close_dispute(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = dispute_in_scope(w, ctx)?.id.clone();
    let Some(d) = w.disputes.get_mut(&id) else {
        return Err(ApiError::missing("dispute", &id, "dispute"));
    };
    "lost".clone_into(&mut d.status);
    Ok(d.to_json())
}

fn list_disputes(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let q = ctx.params;
    let items = w
        .disputes
        .values()
        .filter(|d| d.scope == ctx.scope)
        .filter(|d| s(q, "charge").is_none_or(|c| d.charge == c))
        .filter(|d| s(q, "payment_intent").is_none_or(|p| d.payment_intent == p))
        .map(|d| (d.seq, d.id.clone(), d.created, d))
        .collect();
    list(items, q, "/v1/disputes", |d| d.to_json())
}

// ------------------------------------------------ coupons, promotion codes

fn coupon_in_scope<'w>(
    w: &'w World,
    ctx: &Ctx<'_>,
    id: &str,
    param: &str,
) -> Result<&'w Coupon, ApiError> {
    w.coupons
        .get(id)
        .filter(|c| c.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("coupon", id, param))
}

fn create_coupon(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    let id = owned(p, "id").unwrap_or_else(|| random_alnum(8));
    if w.coupons.contains_key(&id) {
        return Err(ApiError::invalid(
            Some("resource_already_exists"),
            "Coupon already exists.",
            Some("id"),
        ));
    }
    let percent_off = p.get("percent_off").cloned();
    let amount_off = int(p, "amount_off");
    if percent_off.is_none() && amount_off.is_none() {
        return Err(ApiError::invalid(
            Some("parameter_missing"),
            "Missing required param: percent_off or amount_off.",
            Some("percent_off"),
        ));
    }
    if amount_off.is_some() && s(p, "currency").is_none() {
        return Err(ApiError::invalid(
            Some("parameter_missing"),
            "Missing required param: currency.",
            Some("currency"),
        ));
    }
    let json = render(
        "coupon",
        json!({
            "id": id, "object": "coupon", "created": ctx.now,
            "percent_off": percent_off, "amount_off": amount_off,
            "currency": s(p, "currency").map(str::to_ascii_lowercase),
            "duration": s(p, "duration").unwrap_or("once"),
            "duration_in_months": int(p, "duration_in_months"),
            "max_redemptions": int(p, "max_redemptions"),
            "redeem_by": int(p, "redeem_by"), "name": s(p, "name"),
            "metadata": metadata(p), "times_redeemed": 0, "valid": true, "livemode": false
        }),
    );
    let seq = w.next_seq();
    w.coupons.insert(
        id.clone(),
        Coupon {
            id,
            seq,
            scope: ctx.scope.to_owned(),
            json: json.clone(),
        },
    );
    Ok(json)
}

fn promo_in_scope<'w>(w: &'w World, ctx: &Ctx<'_>) -> Result<&'w PromotionCode, ApiError> {
    let id = ctx.path("promotion_code");
    w.promotion_codes
        .get(id)
        .filter(|p| p.scope == ctx.scope)
        .ok_or_else(|| ApiError::missing("promotion_code", id, "promotion_code"))
}

fn create_promotion_code(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let p = ctx.params;
    // Old form `coupon=…`, or the post-2025 `promotion[coupon]=…` (see the validator overlay).
    let (coupon, param) = match s(p, "coupon") {
        Some(c) => (c, "coupon"),
        None => (
            p.pointer("/promotion/coupon")
                .and_then(Value::as_str)
                .unwrap_or_default(),
            "promotion[coupon]",
        ),
    };
    let coupon = coupon_in_scope(w, ctx, coupon, param)
        .map_err(|e| e.with_status(400))?
        .id
        .clone();
    let seq = w.next_seq();
    let promo = PromotionCode {
        id: new_id("promo_"),
        seq,
        scope: ctx.scope.to_owned(),
        created: ctx.now,
        code: owned(p, "code").unwrap_or_else(|| random_alnum(8).to_ascii_uppercase()),
        coupon,
        active: boolean(p, "active").unwrap_or(true),
        customer: owned(p, "customer"),
        expires_at: int(p, "expires_at"),
        max_redemptions: int(p, "max_redemptions"),
        metadata: metadata(p),
        restrictions: p.get("restrictions").cloned().unwrap_or(Value::Null),
    };
    let json = w.promotion_code_json(&promo);
    w.promotion_codes.insert(promo.id.clone(), promo);
    Ok(json)
}

fn update_promotion_code(w: &mut World, ctx: &mut Ctx<'_>) -> Result<Value, ApiError> {
    let id = promo_in_scope(w, ctx)?.id.clone();
    let p = ctx.params;
    let Some(promo) = w.promotion_codes.get_mut(&id) else {
        return Err(ApiError::missing("promotion_code", &id, "promotion_code"));
    };
    if let Some(active) = boolean(p, "active") {
        promo.active = active;
    }
    apply_metadata(&mut promo.metadata, p.get("metadata"));
    if let Some(r) = p.get("restrictions") {
        promo.restrictions = r.clone();
    }
    let promo = promo.clone();
    Ok(w.promotion_code_json(&promo))
}

fn list_promotion_codes(w: &World, ctx: &Ctx<'_>) -> Result<Value, ApiError> {
    let q = ctx.params;
    let items = w
        .promotion_codes
        .values()
        .filter(|p| p.scope == ctx.scope)
        .filter(|p| boolean(q, "active").is_none_or(|a| p.active == a))
        .filter(|p| s(q, "code").is_none_or(|c| p.code.eq_ignore_ascii_case(c)))
        .filter(|p| s(q, "coupon").is_none_or(|c| p.coupon == c))
        .filter(|p| s(q, "customer").is_none_or(|c| p.customer.as_deref() == Some(c)))
        .map(|p| (p.seq, p.id.clone(), p.created, p))
        .collect();
    list(items, q, "/v1/promotion_codes", |p| {
        w.promotion_code_json(p)
    })
}
