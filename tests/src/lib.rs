//! The harness the end-to-end tests share: a Stripe sandbox server the
//! test controls, the app started on port 0 against it (in-process through
//! the `payouts` library, exactly as `payouts serve` starts), tokens, and a
//! small JSON client. Everything the tests assert goes through HTTP.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test support: a failed setup should stop the test loudly"
)]

pub mod reliability;

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use payouts::serve::Running;
use payouts::settings::Settings;
use payouts_domain::ids::{MerchantId, PartnerId};
use payouts_http::auth::claims;
use payouts_http::{JwtSecret, Role};
use reqwest::{Method, StatusCode};
use secrecy::SecretString;
use serde_json::Value;
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxHandle, Spec, WebhookEndpoint};

/// The JWT secret the tests' app uses.
pub const JWT_SECRET: &str = "e2e-secret-e2e-secret-e2e-secret-e2e-0001";
/// The webhook signing secret shared by the sandbox and the app.
pub const WEBHOOK_SECRET: &str = "whsec_e2e_shared";

/// Stripe's spec, parsed once per test binary.
pub fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    Arc::clone(SPEC.get_or_init(|| {
        Arc::new(Spec::load(&Spec::default_path().expect("spec path")).expect("spec"))
    }))
}

/// A sandbox server on a loopback port.
pub async fn sandbox() -> SandboxHandle {
    payouts::install_tls_provider();
    Sandbox::start(SandboxConfig::default().with_spec(spec()))
        .await
        .expect("sandbox")
}

/// The app, its sandbox and a client.
#[allow(missing_debug_implementations, reason = "test support")]
pub struct App {
    /// The running app.
    pub running: Running,
    /// The sandbox it talks to (over HTTP).
    pub sb: SandboxHandle,
    /// `http://ADDR` of the app.
    pub base: String,
    /// An HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    jwt: JwtSecret,
    _dir: Option<tempfile_dir::Dir>,
}

mod tempfile_dir {
    /// A temp dir kept alive with the app.
    #[derive(Debug)]
    pub struct Dir(pub std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl App {
    /// The app on a fresh temp SQLite file, with the scheduler off (tests
    /// drive every step through HTTP).
    pub async fn start() -> App {
        let dir =
            std::env::temp_dir().join(format!("payouts-e2e-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.join("payouts.db").display());
        let mut app = App::start_with(&url, |s| s.server.scheduler = false).await;
        app._dir = Some(tempfile_dir::Dir(dir));
        app
    }

    /// The app on `database_url`, adjusted by `adjust`.
    pub async fn start_with(database_url: &str, adjust: impl FnOnce(&mut Settings)) -> App {
        let sb = sandbox().await;
        let mut settings = Settings::new(database_url);
        settings.server.bind = "127.0.0.1:0".parse().unwrap();
        settings.server.dashboard_url =
            Some("http://dashboard.test/partners/stripe-connect".to_owned());
        settings.server.http_workers = Some(2);
        settings.stripe.api_base = Some(sb.base_url());
        settings.stripe.webhook_secret = Some(SecretString::from(WEBHOOK_SECRET));
        settings.engine.worker_id = Some("e2e".to_owned());
        adjust(&mut settings);
        let running = payouts::serve::start(&settings, JwtSecret::new(JWT_SECRET).unwrap())
            .await
            .expect("the app starts");
        let base = running.base_url();
        sb.set_webhook_endpoint(WebhookEndpoint {
            url: format!("{base}/webhooks/stripe"),
            secret: Some(WEBHOOK_SECRET.to_owned()),
        });
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        App {
            running,
            sb,
            base,
            http,
            jwt: JwtSecret::new(JWT_SECRET).unwrap(),
            _dir: None,
        }
    }

    /// A token with `roles` for `merchant`.
    pub fn token(&self, roles: &[Role], merchant: &str, partner: Option<PartnerId>) -> String {
        mint(&self.jwt, roles, merchant, partner)
    }

    /// A JSON call; the body is parsed as JSON when it is JSON.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// `GET`.
    pub async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    /// `POST` with a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, Some(token), Some(body)).await
    }

    /// `PUT` with a JSON body.
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Stops the app and the sandbox, after checking that Stripe's spec
    /// accepted every request the app sent.
    pub async fn stop(self) {
        let failures = self.sb.validation_failures();
        assert!(
            failures.is_empty(),
            "requests Stripe's spec refuses: {failures:#?}"
        );
        self.running.stop().await;
        self.sb.stop().await;
    }
}

/// A token signed with `jwt`.
pub fn mint(jwt: &JwtSecret, roles: &[Role], merchant: &str, partner: Option<PartnerId>) -> String {
    jwt.mint(&claims(
        "e2e",
        roles.to_vec(),
        &MerchantId::parse(merchant.to_owned()).unwrap(),
        partner,
        time::OffsetDateTime::now_utc(),
        time::Duration::hours(1),
    ))
    .unwrap()
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
