//! The in-memory Stripe world: objects, balances and how they render as JSON.
//!
//! Objects are typed structs; their JSON starts from the matching example in
//! Stripe's `fixtures3.json` (so every field a client expects is present) and
//! overwrites the fields the sandbox tracks.

use std::collections::{BTreeMap, HashMap};
use std::sync::LazyLock;

use serde_json::{Map, Value, json};

use crate::error::ApiError;

static FIXTURES: LazyLock<Value> =
    LazyLock::new(|| serde_json::from_str(include_str!("fixtures.json")).unwrap_or(Value::Null));

/// The example object for `resource` from Stripe's fixtures, with `patch`
/// written over its top-level fields.
pub(crate) fn render(resource: &str, patch: Value) -> Value {
    let mut base = FIXTURES
        .get(resource)
        .cloned()
        .unwrap_or_else(|| Value::Object(Map::new()));
    if let (Some(base), Value::Object(patch)) = (base.as_object_mut(), patch) {
        for (k, v) in patch {
            base.insert(k, v);
        }
    }
    base
}

/// Metadata map (`metadata[k]=v`).
pub(crate) type Metadata = BTreeMap<String, String>;

/// Applies Stripe's metadata update rules: `metadata=` clears all keys,
/// `metadata[k]=` removes one key, anything else sets it.
pub(crate) fn apply_metadata(target: &mut Metadata, update: Option<&Value>) {
    match update {
        Some(Value::String(s)) if s.is_empty() => target.clear(),
        Some(Value::Object(map)) => {
            for (k, v) in map {
                match v.as_str() {
                    Some("") | None => {
                        target.remove(k);
                    }
                    Some(s) => {
                        target.insert(k.clone(), s.to_owned());
                    }
                }
            }
        }
        _ => {}
    }
}

/// Checked addition of minor units, as a Stripe `api_error` on overflow.
pub(crate) fn add(a: i64, b: i64) -> Result<i64, ApiError> {
    a.checked_add(b).ok_or_else(overflow)
}

/// Checked subtraction of minor units.
pub(crate) fn sub(a: i64, b: i64) -> Result<i64, ApiError> {
    a.checked_sub(b).ok_or_else(overflow)
}

/// `amount * num / den` without floats (floor), for proportional reversals.
pub(crate) fn prorate(amount: i64, num: i64, den: i64) -> Result<i64, ApiError> {
    if den == 0 {
        return Ok(0);
    }
    let product = i128::from(amount)
        .checked_mul(i128::from(num))
        .ok_or_else(overflow)?;
    i64::try_from(product / i128::from(den)).map_err(|_| overflow())
}

fn overflow() -> ApiError {
    ApiError {
        status: 500,
        kind: crate::error::ErrorType::ApiError,
        code: None,
        message: "Amount overflow in stripe-sandbox".to_owned(),
        param: None,
        decline_code: None,
    }
}

/// One account's funds in one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BalanceAmounts {
    /// Available minor units.
    pub available: i64,
    /// Pending minor units.
    pub pending: i64,
}

/// `settings.payouts.schedule` of an account.
#[derive(Debug, Clone)]
pub(crate) struct PayoutSchedule {
    pub interval: String,
    pub delay_days: i64,
    pub weekly_anchor: Option<String>,
    pub monthly_anchor: Option<i64>,
}

impl Default for PayoutSchedule {
    fn default() -> Self {
        Self {
            interval: "daily".to_owned(),
            delay_days: 2,
            weekly_anchor: None,
            monthly_anchor: None,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Account {
    pub id: String,
    pub seq: u64,
    pub created: i64,
    pub kind: String,
    pub country: String,
    pub email: Option<String>,
    pub business_type: Option<String>,
    pub business_profile: Map<String, Value>,
    /// Capability name → `inactive` | `pending` | `active`.
    pub capabilities: BTreeMap<String, String>,
    pub onboarded: bool,
    pub metadata: Metadata,
    pub schedule: PayoutSchedule,
    pub default_currency: String,
    pub deauthorized: bool,
    /// `tos_acceptance.service_agreement`: `full` (Stripe's default) or
    /// `recipient` (transfers only; what cross-border payouts need).
    pub service_agreement: String,
    /// The default bank account (an external account), once one is added
    /// (`POST /_sandbox/accounts/{id}/external_account`).
    pub bank_account: Option<BankAccount>,
}

/// A bank account attached to an account for payouts.
#[derive(Debug, Clone)]
pub(crate) struct BankAccount {
    pub id: String,
    /// Stripe's fingerprint: the same bank account has the same one at
    /// every account.
    pub fingerprint: String,
    pub last4: String,
    pub currency: String,
}

impl BankAccount {
    pub(crate) fn to_json(&self, account: &Account) -> Value {
        render(
            "bank_account",
            json!({
                "id": self.id,
                "object": "bank_account",
                "account": account.id,
                "account_holder_name": null,
                "account_holder_type": "individual",
                "available_payout_methods": ["standard"],
                "country": account.country,
                "currency": self.currency,
                "default_for_currency": true,
                "fingerprint": self.fingerprint,
                "last4": self.last4,
                "metadata": {},
                "status": "new"
            }),
        )
    }
}

impl Account {
    pub(crate) fn new(id: String, seq: u64, created: i64, kind: &str) -> Self {
        Self {
            id,
            seq,
            created,
            kind: kind.to_owned(),
            country: "US".to_owned(),
            email: None,
            business_type: None,
            business_profile: Map::new(),
            capabilities: BTreeMap::new(),
            onboarded: false,
            metadata: Metadata::new(),
            schedule: PayoutSchedule::default(),
            default_currency: "usd".to_owned(),
            deauthorized: false,
            service_agreement: "full".to_owned(),
            bank_account: None,
        }
    }

    /// The account's external accounts, as `data` of a list.
    pub(crate) fn external_accounts(&self) -> Vec<Value> {
        self.bank_account.iter().map(|b| b.to_json(self)).collect()
    }

    /// Marks onboarding done: every requested capability becomes active.
    /// A `recipient` account never gets `card_payments`.
    pub(crate) fn complete_onboarding(&mut self) {
        self.onboarded = true;
        let names: &[&str] = if self.service_agreement == "recipient" {
            &["transfers"]
        } else {
            &["card_payments", "transfers"]
        };
        for name in names {
            self.capabilities.entry((*name).to_owned()).or_default();
        }
        for status in self.capabilities.values_mut() {
            "active".clone_into(status);
        }
    }

    pub(crate) fn transfers_active(&self) -> bool {
        self.capabilities.get("transfers").map(String::as_str) == Some("active")
    }

    /// What Stripe would still ask for before enabling charges and payouts.
    fn due(&self) -> Vec<String> {
        if self.onboarded {
            return Vec::new();
        }
        let mut due: Vec<&str> = Vec::new();
        if self.business_profile.get("mcc").is_none() {
            due.push("business_profile.mcc");
        }
        if self.business_profile.get("url").is_none() {
            due.push("business_profile.url");
        }
        match self.business_type.as_deref() {
            Some("individual") => due.extend([
                "individual.address.city",
                "individual.address.line1",
                "individual.address.postal_code",
                "individual.address.state",
                "individual.dob.day",
                "individual.dob.month",
                "individual.dob.year",
                "individual.email",
                "individual.first_name",
                "individual.last_name",
                "individual.phone",
                "individual.ssn_last_4",
            ]),
            Some(_) => due.extend([
                "company.address.city",
                "company.address.line1",
                "company.address.postal_code",
                "company.address.state",
                "company.name",
                "company.phone",
                "company.tax_id",
                "owners.first_name",
                "owners.last_name",
                "representative.first_name",
                "representative.last_name",
            ]),
            None => due.push("business_type"),
        }
        due.extend([
            "external_account",
            "tos_acceptance.date",
            "tos_acceptance.ip",
        ]);
        due.into_iter().map(str::to_owned).collect()
    }

    pub(crate) fn to_json(&self) -> Value {
        let due = self.due();
        let requirements = json!({
            "alternatives": [],
            "current_deadline": null,
            "currently_due": due,
            "disabled_reason": if self.onboarded { Value::Null } else { json!("requirements.past_due") },
            "errors": [],
            "eventually_due": due,
            "past_due": due,
            "pending_verification": []
        });
        let mut profile = json!({
            "mcc": null, "name": null, "product_description": null, "support_address": null,
            "support_email": null, "support_phone": null, "support_url": null, "url": null
        });
        if let Some(p) = profile.as_object_mut() {
            for (k, v) in &self.business_profile {
                p.insert(k.clone(), v.clone());
            }
        }
        let schedule = {
            let mut s =
                json!({"delay_days": self.schedule.delay_days, "interval": self.schedule.interval});
            if let Some(obj) = s.as_object_mut() {
                if let Some(a) = &self.schedule.weekly_anchor {
                    obj.insert("weekly_anchor".to_owned(), json!(a));
                }
                if let Some(a) = self.schedule.monthly_anchor {
                    obj.insert("monthly_anchor".to_owned(), json!(a));
                }
            }
            s
        };
        let mut settings = FIXTURES
            .pointer("/account/settings")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(payouts) = settings.get_mut("payouts").and_then(Value::as_object_mut) {
            payouts.insert("schedule".to_owned(), schedule);
        }
        render(
            "account",
            json!({
                "id": self.id,
                "object": "account",
                "type": self.kind,
                "country": self.country,
                "email": self.email,
                "business_type": self.business_type,
                "business_profile": profile,
                "capabilities": self.capabilities,
                "charges_enabled": self.onboarded,
                "payouts_enabled": self.onboarded,
                "details_submitted": self.onboarded,
                "created": self.created,
                "default_currency": self.default_currency,
                "metadata": self.metadata,
                "requirements": requirements,
                "future_requirements": {
                    "alternatives": [], "current_deadline": null, "currently_due": [],
                    "disabled_reason": null, "errors": [], "eventually_due": [],
                    "past_due": [], "pending_verification": []
                },
                "settings": settings,
                "external_accounts": {
                    "object": "list", "data": self.external_accounts(), "has_more": false,
                    "url": format!("/v1/accounts/{}/external_accounts", self.id)
                },
                "tos_acceptance": {
                    "date": null, "ip": null, "user_agent": null,
                    "service_agreement": self.service_agreement
                },
                "livemode": false
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Transfer {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub destination: String,
    pub description: Option<String>,
    pub transfer_group: Option<String>,
    pub source_transaction: Option<String>,
    pub metadata: Metadata,
    pub amount_reversed: i64,
    /// Reversal ids, oldest first (avoids scanning every reversal per render).
    pub reversal_ids: Vec<String>,
    pub idempotency_key: Option<String>,
    pub destination_payment: String,
}

#[derive(Debug, Clone)]
pub(crate) struct Reversal {
    pub id: String,
    pub seq: u64,
    pub transfer: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub metadata: Metadata,
    pub source_refund: Option<String>,
}

impl Reversal {
    pub(crate) fn to_json(&self) -> Value {
        render(
            "transfer_reversal",
            json!({
                "id": self.id, "object": "transfer_reversal", "amount": self.amount,
                "currency": self.currency, "created": self.created, "metadata": self.metadata,
                "transfer": self.transfer, "balance_transaction": null,
                "destination_payment_refund": null, "source_refund": self.source_refund
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct PaymentIntent {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub application_fee_amount: Option<i64>,
    pub destination: Option<String>,
    pub capture_method: String,
    pub status: String,
    pub metadata: Metadata,
    pub payment_method_types: Vec<String>,
    pub payment_method: Option<String>,
    pub receipt_email: Option<String>,
    pub description: Option<String>,
    pub transfer_group: Option<String>,
    pub latest_charge: Option<String>,
    pub amount_received: i64,
    pub amount_capturable: i64,
    pub last_payment_error: Option<Value>,
}

impl PaymentIntent {
    pub(crate) fn to_json(&self) -> Value {
        render(
            "payment_intent",
            json!({
                "id": self.id, "object": "payment_intent", "amount": self.amount,
                "currency": self.currency, "created": self.created,
                "application_fee_amount": self.application_fee_amount,
                "transfer_data": self.destination.as_ref().map(|d| json!({"destination": d})),
                "capture_method": self.capture_method, "status": self.status,
                "metadata": self.metadata, "payment_method_types": self.payment_method_types,
                "payment_method": self.payment_method, "receipt_email": self.receipt_email,
                "description": self.description, "transfer_group": self.transfer_group,
                "latest_charge": self.latest_charge, "amount_received": self.amount_received,
                "amount_capturable": self.amount_capturable,
                "client_secret": format!("{}_secret_{}", self.id, crate::ids::random_alnum(24)),
                "canceled_at": null, "last_payment_error": self.last_payment_error,
                "livemode": false
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Charge {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: String,
    pub payment_intent: String,
    pub application_fee_amount: Option<i64>,
    /// Fee already handed back to the connected account by refunds.
    pub fee_refunded: i64,
    pub destination: Option<String>,
    pub transfer: Option<String>,
    pub captured: bool,
    pub disputed: bool,
    pub metadata: Metadata,
    pub payment_method: Option<String>,
    pub receipt_email: Option<String>,
}

impl Charge {
    pub(crate) fn to_json(&self) -> Value {
        render(
            "charge",
            json!({
                "id": self.id, "object": "charge", "amount": self.amount,
                "amount_captured": self.amount_captured, "amount_refunded": self.amount_refunded,
                "currency": self.currency, "created": self.created,
                "payment_intent": self.payment_intent,
                "application_fee_amount": self.application_fee_amount,
                "transfer_data": self.destination.as_ref().map(|d| json!({"amount": null, "destination": d})),
                "destination": self.destination, "transfer": self.transfer,
                "captured": self.captured, "refunded": self.amount_refunded >= self.amount_captured && self.captured,
                "disputed": self.disputed, "metadata": self.metadata, "paid": true,
                "status": "succeeded", "payment_method": self.payment_method,
                "receipt_email": self.receipt_email, "receipt_url": null,
                "balance_transaction": null, "on_behalf_of": null, "livemode": false
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Refund {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub reason: Option<String>,
    pub metadata: Metadata,
    pub transfer_reversal: Option<String>,
}

impl Refund {
    pub(crate) fn to_json(&self) -> Value {
        render(
            "refund",
            json!({
                "id": self.id, "object": "refund", "amount": self.amount,
                "currency": self.currency, "created": self.created, "charge": self.charge,
                "payment_intent": self.payment_intent, "reason": self.reason,
                "metadata": self.metadata, "status": "succeeded",
                "transfer_reversal": self.transfer_reversal, "balance_transaction": null,
                "source_transfer_reversal": null
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Payout {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub arrival_date: i64,
    pub status: String,
    pub method: String,
    pub description: Option<String>,
    pub metadata: Metadata,
    pub statement_descriptor: Option<String>,
}

impl Payout {
    pub(crate) fn to_json(&self) -> Value {
        render(
            "payout",
            json!({
                "id": self.id, "object": "payout", "amount": self.amount,
                "currency": self.currency, "created": self.created,
                "arrival_date": self.arrival_date, "status": self.status,
                "method": self.method, "description": self.description,
                "metadata": self.metadata, "automatic": false, "balance_transaction": null,
                "statement_descriptor": self.statement_descriptor,
                "destination": null, "livemode": false
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Dispute {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub amount: i64,
    pub currency: String,
    pub charge: String,
    pub payment_intent: String,
    pub reason: String,
    pub status: String,
    pub evidence: Map<String, Value>,
    pub metadata: Metadata,
    pub due_by: i64,
    pub submission_count: i64,
}

impl Dispute {
    pub(crate) fn to_json(&self) -> Value {
        let mut evidence = FIXTURES
            .pointer("/dispute/evidence")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if let Some(e) = evidence.as_object_mut() {
            for (k, v) in &self.evidence {
                e.insert(k.clone(), v.clone());
            }
        }
        render(
            "dispute",
            json!({
                "id": self.id, "object": "dispute", "amount": self.amount,
                "currency": self.currency, "created": self.created, "charge": self.charge,
                "payment_intent": self.payment_intent, "reason": self.reason,
                "status": self.status, "evidence": evidence, "metadata": self.metadata,
                "evidence_details": {
                    "due_by": self.due_by, "has_evidence": !self.evidence.is_empty(),
                    "past_due": false, "submission_count": self.submission_count
                },
                "is_charge_refundable": false, "livemode": false
            }),
        )
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Coupon {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub json: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct PromotionCode {
    pub id: String,
    pub seq: u64,
    pub scope: String,
    pub created: i64,
    pub code: String,
    pub coupon: String,
    pub active: bool,
    pub customer: Option<String>,
    pub expires_at: Option<i64>,
    pub max_redemptions: Option<i64>,
    pub metadata: Metadata,
    pub restrictions: Value,
}

#[derive(Debug, Clone)]
pub(crate) struct OAuthCode {
    pub account: Option<String>,
    pub used: bool,
}

/// An Account Link the sandbox's hosted onboarding page answers to.
#[derive(Debug, Clone)]
pub(crate) struct HostedAccountLink {
    pub account: String,
    pub return_url: String,
    pub refresh_url: String,
    pub expires_at: i64,
    pub used: bool,
}

/// Every Stripe object the sandbox holds, keyed by id.
#[derive(Debug)]
pub(crate) struct World {
    pub platform_id: String,
    /// The sandbox's own address, for the hosted pages its links point to
    /// (Stripe's are on connect.stripe.com, which is not reachable here).
    pub hosted_base: Option<String>,
    /// Account Links by their token (the last path segment of the URL).
    pub account_links: HashMap<String, HostedAccountLink>,
    pub seq: u64,
    pub accounts: HashMap<String, Account>,
    pub balances: HashMap<String, BTreeMap<String, BalanceAmounts>>,
    pub transfers: HashMap<String, Transfer>,
    pub reversals: HashMap<String, Reversal>,
    pub payment_intents: HashMap<String, PaymentIntent>,
    pub charges: HashMap<String, Charge>,
    pub refunds: HashMap<String, Refund>,
    pub payouts: HashMap<String, Payout>,
    pub disputes: HashMap<String, Dispute>,
    pub coupons: HashMap<String, Coupon>,
    pub promotion_codes: HashMap<String, PromotionCode>,
    pub oauth_codes: HashMap<String, OAuthCode>,
    /// Access tokens handed out by `/oauth/token`, mapped to their account.
    pub oauth_tokens: HashMap<String, String>,
}

impl World {
    pub(crate) fn new(platform_id: String, hosted_base: Option<String>) -> Self {
        Self {
            platform_id,
            hosted_base,
            account_links: HashMap::new(),
            seq: 0,
            accounts: HashMap::new(),
            balances: HashMap::new(),
            transfers: HashMap::new(),
            reversals: HashMap::new(),
            payment_intents: HashMap::new(),
            charges: HashMap::new(),
            refunds: HashMap::new(),
            payouts: HashMap::new(),
            disputes: HashMap::new(),
            coupons: HashMap::new(),
            promotion_codes: HashMap::new(),
            oauth_codes: HashMap::new(),
            oauth_tokens: HashMap::new(),
        }
    }

    /// Monotonic insertion counter: lists are newest first by it.
    pub(crate) fn next_seq(&mut self) -> u64 {
        self.seq = self.seq.saturating_add(1);
        self.seq
    }

    pub(crate) fn balance(&self, account: &str, currency: &str) -> BalanceAmounts {
        self.balances
            .get(account)
            .and_then(|b| b.get(currency))
            .copied()
            .unwrap_or_default()
    }

    pub(crate) fn balance_mut(&mut self, account: &str, currency: &str) -> &mut BalanceAmounts {
        self.balances
            .entry(account.to_owned())
            .or_default()
            .entry(currency.to_owned())
            .or_default()
    }

    /// Moves `amount` of available funds; negative results are allowed
    /// (callers check for overdraft where Stripe would refuse).
    pub(crate) fn credit(
        &mut self,
        account: &str,
        currency: &str,
        amount: i64,
    ) -> Result<(), ApiError> {
        let bal = self.balance_mut(account, currency);
        bal.available = add(bal.available, amount)?;
        Ok(())
    }

    pub(crate) fn debit(
        &mut self,
        account: &str,
        currency: &str,
        amount: i64,
    ) -> Result<(), ApiError> {
        let bal = self.balance_mut(account, currency);
        bal.available = sub(bal.available, amount)?;
        Ok(())
    }

    pub(crate) fn balance_json(&self, account: &str) -> Value {
        let mut currencies: Vec<(String, BalanceAmounts)> = self
            .balances
            .get(account)
            .map(|b| b.iter().map(|(c, a)| (c.clone(), *a)).collect())
            .unwrap_or_default();
        if currencies.is_empty() {
            currencies.push(("usd".to_owned(), BalanceAmounts::default()));
        }
        let available: Vec<Value> = currencies
            .iter()
            .map(|(c, a)| json!({"amount": a.available, "currency": c, "source_types": {"card": a.available}}))
            .collect();
        let pending: Vec<Value> = currencies
            .iter()
            .map(|(c, a)| json!({"amount": a.pending, "currency": c, "source_types": {"card": a.pending}}))
            .collect();
        let reserved: Vec<Value> = currencies
            .iter()
            .map(|(c, _)| json!({"amount": 0, "currency": c}))
            .collect();
        let mut out = json!({
            "object": "balance", "livemode": false, "available": available, "pending": pending
        });
        if account == self.platform_id
            && let Some(o) = out.as_object_mut()
        {
            o.insert("connect_reserved".to_owned(), Value::Array(reserved));
        }
        out
    }

    pub(crate) fn transfer_json(&self, t: &Transfer) -> Value {
        let data: Vec<Value> = t
            .reversal_ids
            .iter()
            .rev()
            .filter_map(|id| self.reversals.get(id))
            .map(Reversal::to_json)
            .collect();
        render(
            "transfer",
            json!({
                "id": t.id, "object": "transfer", "amount": t.amount,
                "amount_reversed": t.amount_reversed, "currency": t.currency,
                "created": t.created, "description": t.description,
                "destination": t.destination, "destination_payment": t.destination_payment,
                "metadata": t.metadata, "reversed": t.amount_reversed >= t.amount,
                "reversals": {
                    "object": "list", "data": data, "has_more": false,
                    "url": format!("/v1/transfers/{}/reversals", t.id)
                },
                "source_transaction": t.source_transaction,
                "transfer_group": t.transfer_group, "balance_transaction": null,
                "livemode": false
            }),
        )
    }

    pub(crate) fn coupon_json(&self, id: &str) -> Value {
        self.coupons.get(id).map_or(Value::Null, |c| c.json.clone())
    }

    pub(crate) fn promotion_code_json(&self, p: &PromotionCode) -> Value {
        let mut restrictions = json!({
            "currency_options": {}, "first_time_transaction": false,
            "minimum_amount": null, "minimum_amount_currency": null
        });
        if let (Some(r), Some(given)) = (restrictions.as_object_mut(), p.restrictions.as_object()) {
            for (k, v) in given {
                r.insert(k.clone(), v.clone());
            }
        }
        render(
            "promotion_code",
            json!({
                "id": p.id, "object": "promotion_code", "code": p.code,
                "coupon": self.coupon_json(&p.coupon),
                "promotion": {"type": "coupon", "coupon": p.coupon},
                "active": p.active, "created": p.created, "customer": p.customer,
                "expires_at": p.expires_at, "max_redemptions": p.max_redemptions,
                "metadata": p.metadata, "restrictions": restrictions,
                "times_redeemed": 0, "livemode": false
            }),
        )
    }
}
