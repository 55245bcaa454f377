use std::sync::{Arc, OnceLock};
use std::time::Duration;

use payouts_domain::ids::{AccountId, BatchId, IdempotencyKey, MerchantId, PayoutItemId};
use payouts_domain::item::{idempotency_key, transfer_group};
use payouts_domain::money::{Currency, Money};
use payouts_domain::ports::TransferRequest;
use payouts_stripe::{
    AccountType, CreateAccountRequest, RequestedCapabilities, SecretString, StripeConfig,
    StripeGateway,
};
use serde_json::Value;
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxHandle, SetBalance, Spec};

pub const KEY: &str = "sk_test_payouts_stripe";
pub const CLIENT_ID: &str = "ca_payouts_test";

/// The spec is parsed once per test binary and shared by every sandbox.
pub fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    Arc::clone(SPEC.get_or_init(|| Arc::new(Spec::load(&Spec::default_path().unwrap()).unwrap())))
}

pub struct Env {
    pub sb: SandboxHandle,
    pub gw: StripeGateway,
    pub http: reqwest::Client,
}

/// Fast retries for tests: 10 ms base, 80 ms cap, 3 attempts, no client-side pacing.
pub fn test_config(base: &str) -> StripeConfig {
    let mut c = StripeConfig::new(SecretString::from(KEY), CLIENT_ID);
    c.api_base = base.to_owned();
    c.connect_base = base.to_owned();
    c.ops_per_second = Some(10_000);
    // An unthrottled sandbox: pace only to the cap (the pacer has tests of its own).
    c.limit_mode = Some(payouts_stripe::LimitMode::Unlimited);
    c.backoff_base = Duration::from_millis(10);
    c.backoff_max = Duration::from_millis(80);
    c.request_timeout = Duration::from_secs(10);
    c
}

pub async fn start() -> Env {
    start_with(|_| {}).await
}

pub async fn start_with(adjust: impl FnOnce(&mut StripeConfig)) -> Env {
    let config = SandboxConfig {
        workers: 2,
        ..SandboxConfig::default()
    }
    .with_spec(spec());
    let sb = Sandbox::start(config).await.unwrap();
    let mut c = test_config(&sb.base_url());
    adjust(&mut c);
    let gw = StripeGateway::new(c).unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    Env { sb, gw, http }
}

impl Env {
    /// A second gateway on the same sandbox with other settings.
    pub fn gateway_with(&self, adjust: impl FnOnce(&mut StripeConfig)) -> StripeGateway {
        let mut c = test_config(&self.sb.base_url());
        adjust(&mut c);
        StripeGateway::new(c).unwrap()
    }

    #[track_caller]
    pub fn assert_no_validation_failures(&self) {
        let failures = self.sb.validation_failures();
        assert!(
            failures.is_empty(),
            "the sandbox refused requests as invalid: {failures:#?}"
        );
    }

    pub async fn finish(self) {
        self.assert_no_validation_failures();
        self.sb.stop().await;
    }

    pub async fn express_account(&self) -> AccountId {
        self.gw
            .create_account(&CreateAccountRequest {
                account_type: AccountType::Express,
                country: Some("US".to_owned()),
                email: Some("partner@example.com".to_owned()),
                business_type: None,
                business_profile: None,
                capabilities: RequestedCapabilities {
                    card_payments: true,
                    transfers: true,
                },
                metadata: Default::default(),
                idempotency_key: None,
            })
            .await
            .unwrap()
            .account_id
    }

    pub async fn onboarded_account(&self) -> AccountId {
        let id = self.express_account().await;
        self.sb.complete_onboarding(id.as_str()).unwrap();
        id
    }

    pub fn fund(&self, account: Option<&AccountId>, available: i64) {
        self.sb
            .set_balance(SetBalance {
                account: account.map(|a| a.as_str().to_owned()),
                currency: "usd".to_owned(),
                available,
                pending: 0,
            })
            .unwrap();
    }

    /// A raw Stripe call, for setup the adapter does not offer (coupons, payouts).
    pub async fn raw(
        &self,
        method: reqwest::Method,
        path: &str,
        account: Option<&AccountId>,
        form: &[(&str, &str)],
    ) -> Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.sb.base_url()))
            .bearer_auth(KEY);
        if let Some(a) = account {
            req = req.header("Stripe-Account", a.as_str());
        }
        if method == reqwest::Method::POST {
            req = req.form(form);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let body: Value = resp.json().await.unwrap();
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }
}

pub fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

/// A transfer request as the engine builds it.
pub fn transfer_request(destination: &AccountId, amount: i64) -> TransferRequest {
    let item = PayoutItemId::from_uuid(uuid::Uuid::new_v4());
    let batch = BatchId::from_uuid(uuid::Uuid::new_v4());
    TransferRequest {
        item_id: item,
        batch_id: batch,
        merchant_id: MerchantId::parse("merchant_123").unwrap(),
        attempt: 1,
        key: idempotency_key(item, 1),
        amount: usd(amount),
        destination: destination.clone(),
        source_account: None,
        transfer_group: transfer_group(batch),
    }
}

pub fn key(text: &str) -> IdempotencyKey {
    IdempotencyKey::parse(format!("{text}-{}", uuid::Uuid::new_v4())).unwrap()
}
