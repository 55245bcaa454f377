use std::sync::{Arc, OnceLock};

use reqwest::header::HeaderMap;
use serde_json::Value;
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxHandle, SetBalance, Spec};

pub const KEY: &str = "sk_test_sandbox";

/// The spec is parsed once per test binary and shared by every sandbox.
pub fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    Arc::clone(SPEC.get_or_init(|| Arc::new(Spec::load(&Spec::default_path().unwrap()).unwrap())))
}

pub fn client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn error_code(&self) -> Option<&str> {
        self.json["error"]["code"].as_str()
    }

    pub fn error_param(&self) -> Option<&str> {
        self.json["error"]["param"].as_str()
    }

    pub fn id(&self) -> String {
        self.json["id"].as_str().unwrap_or_default().to_owned()
    }

    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.status, 200, "unexpected response: {}", self.json);
        self
    }
}

pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

pub struct TestSandbox {
    pub handle: SandboxHandle,
    pub client: reqwest::Client,
    pub base: String,
}

impl TestSandbox {
    pub async fn start() -> Self {
        let config = SandboxConfig {
            workers: 1,
            ..SandboxConfig::default()
        }
        .with_spec(spec());
        let handle = Sandbox::start(config).await.unwrap();
        let base = handle.base_url();
        Self {
            handle,
            client: client(),
            base,
        }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> Resp {
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp.text().await.unwrap();
        let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Resp {
            status,
            headers,
            json,
        }
    }

    pub fn post_req(&self, path: &str, pairs: &[(&str, &str)]) -> reqwest::RequestBuilder {
        self.client
            .post(format!("{}{path}", self.base))
            .bearer_auth(KEY)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(pairs))
    }

    pub async fn post(&self, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(self.post_req(path, pairs)).await
    }

    pub async fn post_idem(&self, path: &str, key: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(self.post_req(path, pairs).header("Idempotency-Key", key))
            .await
    }

    pub async fn post_as(&self, account: &str, path: &str, pairs: &[(&str, &str)]) -> Resp {
        self.send(self.post_req(path, pairs).header("Stripe-Account", account))
            .await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(KEY),
        )
        .await
    }

    pub async fn get_as(&self, account: &str, path: &str) -> Resp {
        self.send(
            self.client
                .get(format!("{}{path}", self.base))
                .bearer_auth(KEY)
                .header("Stripe-Account", account),
        )
        .await
    }

    pub async fn control(&self, path: &str, body: Value) -> Resp {
        self.send(
            self.client
                .post(format!("{}/_sandbox{path}", self.base))
                .json(&body),
        )
        .await
    }

    pub async fn control_get(&self, path: &str) -> Resp {
        self.send(self.client.get(format!("{}/_sandbox{path}", self.base)))
            .await
    }

    /// An express account with the transfers capability requested (not onboarded).
    pub async fn new_account(&self) -> String {
        self.post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "US"),
                ("email", "owner@example.com"),
                ("capabilities[card_payments][requested]", "true"),
                ("capabilities[transfers][requested]", "true"),
            ],
        )
        .await
        .ok()
        .id()
    }

    pub async fn onboarded_account(&self) -> String {
        let id = self.new_account().await;
        self.handle.complete_onboarding(&id).unwrap();
        id
    }

    pub fn fund(&self, account: Option<&str>, available: i64) {
        self.handle
            .set_balance(SetBalance {
                account: account.map(str::to_owned),
                currency: "usd".to_owned(),
                available,
                pending: 0,
            })
            .unwrap();
    }

    pub async fn transfer(&self, dest: &str, amount: &str) -> Resp {
        self.post(
            "/v1/transfers",
            &[
                ("amount", amount),
                ("currency", "usd"),
                ("destination", dest),
            ],
        )
        .await
    }

    pub async fn stop(self) {
        self.handle.stop().await;
    }
}
