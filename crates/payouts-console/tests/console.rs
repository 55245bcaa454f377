//! The console over HTTP, on the service's own server (the domain's
//! in-memory store and the Stripe adapter over `stripe-sandbox`): sign-in
//! by single-use link, the session cookie, security headers, CSRF, the
//! connection card and the OAuth round through the sandbox's authorize page.

#![expect(
    clippy::unwrap_used,
    reason = "tests: a failed setup should stop the test loudly"
)]

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use payouts_domain::engine::{EngineConfig, Payouts};
use payouts_domain::ids::{MerchantId, WorkerId};
use payouts_domain::memory::InMemoryStore;
use payouts_domain::ports::{Clock, PayoutStore, StripeGateways};
use payouts_domain::system::{RandomIds, SystemClock};
use payouts_http::auth::claims;
use payouts_http::{AppState, HttpSettings, JwtSecret, Role};
use payouts_stripe::{SecretString, StripeConfig, StripeGateway};
use reqwest::StatusCode;
use serde_json::{Value, json};
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxHandle, Spec};

const SECRET: &str = "console-secret-console-secret-0123456789";

struct Console {
    base: String,
    http: reqwest::Client,
    jwt: JwtSecret,
    _sb: SandboxHandle,
    engine: Arc<payouts_http::Engine>,
}

impl Console {
    async fn start() -> Console {
        Console::start_on(InMemoryStore::new()).await
    }

    /// The console over `store`, which a test may have seeded.
    async fn start_on(store: InMemoryStore) -> Console {
        let spec = Arc::new(Spec::load(&Spec::default_path().unwrap()).unwrap());
        let sb = Sandbox::start(SandboxConfig::default().with_spec(spec))
            .await
            .unwrap();
        let mut config = StripeConfig::new(SecretString::from("sk_test_console"), "ca_console");
        config.api_base = sb.base_url();
        config.connect_base = sb.base_url();
        config.ops_per_second = Some(10_000);
        config.limit_mode = Some(payouts_stripe::LimitMode::Unlimited);
        let store: Arc<dyn PayoutStore> = Arc::new(store);
        let gateway: Arc<dyn StripeGateways> = Arc::new(StripeGateway::new(config).unwrap());
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let engine = Payouts::shared(
            store,
            gateway,
            clock,
            RandomIds,
            EngineConfig::new(WorkerId::parse("console-test").unwrap()),
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        sb.set_oauth_redirect_uri(format!("{base}/api/v1/stripe-connect/callback"));
        let engine = Arc::new(engine);
        let state = AppState::new(
            Arc::clone(&engine),
            HttpSettings {
                dashboard_url: format!("{base}/dashboard/partners/stripe-connect"),
                stripe_dashboard_url: "https://dashboard.stripe.com/test".to_owned(),
                stripe_hosted_origin: sb.base_url(),
                public_url: base.clone(),
            },
        );
        let server = payouts_http::server_with(
            listener,
            state,
            JwtSecret::new(SECRET).unwrap(),
            1,
            payouts_console::configure,
        )
        .unwrap();
        tokio::spawn(server);
        Console {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(Duration::from_secs(20))
                .build()
                .unwrap(),
            jwt: JwtSecret::new(SECRET).unwrap(),
            _sb: sb,
            engine,
        }
    }

    fn token(&self, role: Role, merchant: &str) -> String {
        self.jwt
            .mint(&claims(
                "tester",
                vec![role],
                &MerchantId::parse(merchant.to_owned()).unwrap(),
                None,
                time::OffsetDateTime::now_utc(),
                time::Duration::hours(1),
            ))
            .unwrap()
    }

    /// A login link from the API, as a merchant's admin issues one.
    async fn link(&self, issuer: Role, merchant: &str, body: Value) -> (StatusCode, Value) {
        let res = self
            .http
            .post(format!("{}/api/v1/login-links", self.base))
            .bearer_auth(self.token(issuer, merchant))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        (status, res.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, cookie: Option<&str>) -> reqwest::Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(c) = cookie {
            req = req.header("Cookie", c);
        }
        req.send().await.unwrap()
    }

    /// Follows a login link; returns the `name=value` of the session cookie.
    async fn sign_in(&self, url: &str) -> String {
        let res = self.http.get(url).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let set = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Lax"),
            "{set}"
        );
        assert!(!set.contains("Secure"), "plain http is not Secure: {set}");
        set.split(';').next().unwrap().to_owned()
    }

    async fn post_form(
        &self,
        path: &str,
        cookie: &str,
        origin: &str,
        csrf: &str,
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("Cookie", cookie)
            .header("Origin", origin)
            .form(&[("csrf_token", csrf)])
            .send()
            .await
            .unwrap()
    }
}

fn csrf_of(html: &str) -> String {
    let marker = "name=\"csrf_token\" value=\"";
    let at = html.find(marker).unwrap();
    let rest = &html[at + marker.len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}

#[tokio::test]
async fn a_login_link_signs_in_once_and_the_card_connects_through_the_sandbox() {
    let c = Console::start().await;
    // Every console URL without a session sends the person to sign in.
    let res = c
        .get("/dashboard/partners/stripe-connect?stripe=connected", None)
        .await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        res.headers()["location"],
        "/signin?next=/dashboard/partners/stripe-connect%3Fstripe%3Dconnected"
    );
    let signin = c.get("/signin", None).await;
    assert_eq!(signin.status(), StatusCode::OK);
    let csp = signin.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
    assert!(signin.headers().contains_key("referrer-policy"));

    // A merchant's admin may not issue a link for another merchant or a platform role.
    let (s, _) = c
        .link(
            Role::TenantAdmin,
            "m_a",
            json!({"role": "manager", "merchant_id": "m_b"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = c
        .link(Role::TenantAdmin, "m_a", json!({"role": "platform_admin"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    let (s, link) = c
        .link(
            Role::TenantAdmin,
            "m_a",
            json!({"role": "tenant_admin", "subject": "ops@a.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let url = link["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with(&format!("{}/login/", c.base)));

    let cookie = c.sign_in(&url).await;
    // Used once: the second visit is refused, in words.
    let again = c.http.get(&url).send().await.unwrap();
    assert_eq!(again.headers()["location"], "/signin?reason=used");
    let used = c
        .get("/signin?reason=used", None)
        .await
        .text()
        .await
        .unwrap();
    assert!(used.contains("already used"));

    let card = c
        .get("/dashboard/partners/stripe-connect", Some(&cookie))
        .await;
    assert_eq!(card.status(), StatusCode::OK);
    assert_eq!(card.headers()["cache-control"], "no-store");
    let html = card.text().await.unwrap();
    assert!(html.contains("No Stripe account is connected yet"));
    assert!(html.contains("Connect with Stripe"));
    let csrf = csrf_of(&html);

    // A form without its CSRF token, or from another origin, is refused.
    let connect = "/dashboard/partners/stripe-connect/connect";
    let forged = c.post_form(connect, &cookie, &c.base, "nope").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let cross = c
        .post_form(connect, &cookie, "http://evil.test", &csrf)
        .await;
    assert_eq!(cross.status(), StatusCode::FORBIDDEN);

    // Connect with Stripe: the sandbox's authorize page, Authorize, the
    // callback, and back to the card with the account.
    let go = c.post_form(connect, &cookie, &c.base, &csrf).await;
    assert_eq!(go.status(), StatusCode::SEE_OTHER);
    let authorize = go.headers()["location"].to_str().unwrap().to_owned();
    assert!(authorize.contains("/oauth/authorize?"), "{authorize}");
    let page = c
        .http
        .get(&authorize)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("Authorize access"));
    let callback = c.authorize(&authorize).await;
    let back = c.http.get(&callback).send().await.unwrap();
    let landing = back.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        landing,
        format!(
            "{}/dashboard/partners/stripe-connect?stripe=connected",
            c.base
        )
    );
    let path = landing.trim_start_matches(&c.base);
    let html = c.get(path, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("Your Stripe account is connected."));
    assert!(html.contains("acct_"));
    assert!(html.contains("read_write"));
    assert!(html.contains("Re-connect with Stripe"));

    // A state used twice comes back as a reason in words.
    let reused = c.http.get(&callback).send().await.unwrap();
    let landing = reused.headers()["location"].to_str().unwrap().to_owned();
    let path = landing.trim_start_matches(&c.base);
    let html = c.get(path, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("already used"), "{landing}");

    // Sign out ends the session.
    let out = c.post_form("/logout", &cookie, &c.base, &csrf).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    let after = c
        .get("/dashboard/partners/stripe-connect", Some(&cookie))
        .await;
    assert_eq!(after.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn unknown_links_and_partner_links_without_a_partner_are_refused() {
    let c = Console::start().await;
    let res = c
        .get(
            "/login/0000000000000000000000000000000000000000000000000000000000000000",
            None,
        )
        .await;
    assert_eq!(res.headers()["location"], "/signin?reason=unknown");
    let (s, body) = c
        .link(Role::TenantAdmin, "m_a", json!({"role": "partner"}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "partner_id");
}

/// The string at `pointer` in `v`.
fn at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap()
}

impl Console {
    /// A JSON API call with a bearer token.
    async fn api(&self, method: reqwest::Method, path: &str, token: &str, body: Value) -> Value {
        let res = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let body: Value = res.json().await.unwrap_or(Value::Null);
        assert!(status.is_success(), "{path}: {status} {body}");
        body
    }

    /// Presses Authorize on the sandbox's authorize page at `authorize_url`;
    /// returns the callback URL Stripe sends the merchant back to.
    async fn authorize(&self, authorize_url: &str) -> String {
        let state = authorize_url
            .split(['?', '&'])
            .find_map(|p| p.strip_prefix("state="))
            .unwrap()
            .to_owned();
        let sandbox_base = authorize_url.split("/oauth/").next().unwrap().to_owned();
        let callback_url = format!("{}/api/v1/stripe-connect/callback", self.base);
        let decided = self
            .http
            .post(format!("{sandbox_base}/oauth/authorize"))
            .form(&[
                ("state", state.as_str()),
                ("redirect_uri", callback_url.as_str()),
                ("decision", "allow"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(decided.status(), StatusCode::FOUND);
        decided.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Presses "Run the payouts" on the batch page and waits (bounded)
    /// until the page shows the batch in `state`; returns the page.
    async fn run_batch(&self, page_path: &str, cookie: &str, csrf: &str, state: &str) -> String {
        let run = self
            .post_fields(
                &format!("{page_path}/execute"),
                cookie,
                &[("csrf_token", csrf)],
            )
            .await;
        assert_eq!(run.status(), StatusCode::SEE_OTHER);
        let marker = format!(">{state}<");
        let mut html = String::new();
        for _ in 0..100 {
            html = self
                .get(page_path, Some(cookie))
                .await
                .text()
                .await
                .unwrap();
            if html.contains(&marker) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(html.contains(&marker), "{html}");
        html
    }

    /// Connects `merchant` by OAuth through the sandbox's authorize page.
    async fn connect_merchant(&self, merchant: &str) {
        let res = self
            .http
            .get(format!("{}/api/v1/stripe-connect/authorize", self.base))
            .bearer_auth(self.token(Role::TenantAdmin, merchant))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let start: Value = res.json().await.unwrap();
        let callback = self.authorize(at(&start, "/authorize_url")).await;
        let back = self.http.get(&callback).send().await.unwrap();
        let landing = back.headers()["location"].to_str().unwrap().to_owned();
        assert!(landing.ends_with("?stripe=connected"), "{landing}");
    }

    /// Enrols a partner and finishes their onboarding on the sandbox.
    async fn onboard(&self, admin: &str, program_id: &str, key: &str) {
        let m = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/programs/{program_id}/partners"),
                admin,
                json!({"email": format!("{key}@partners.test"), "country": "US", "referral_key": key}),
            )
            .await;
        let id = at(&m, "/id").to_owned();
        self.api(
            reqwest::Method::POST,
            &format!("/api/v1/memberships/{id}/onboarding-link"),
            admin,
            json!({"return_url": "https://partners.test/done", "refresh_url": "https://partners.test/again"}),
        )
        .await;
        let m = self
            .api(
                reqwest::Method::GET,
                &format!("/api/v1/memberships/{id}"),
                admin,
                Value::Null,
            )
            .await;
        self._sb.complete_onboarding(at(&m, "/account_id")).unwrap();
        let m = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/memberships/{id}/refresh"),
                admin,
                json!({}),
            )
            .await;
        assert_eq!(
            m.pointer("/onboarding/payouts_enabled"),
            Some(&json!(true)),
            "{m}"
        );
    }

    /// A draft batch of `merchant`, paying two partners USD 350.00.
    async fn draft_batch(&self, merchant: &str, connect: bool) -> String {
        if connect {
            self.connect_merchant(merchant).await;
        }
        let admin = self.token(Role::TenantAdmin, merchant);
        let program = self
            .api(
                reqwest::Method::POST,
                "/api/v1/programs",
                &admin,
                json!({
                    "name": "Spring",
                    "currency": "usd",
                    "commission": {"type": "percent", "percent": "20"},
                    "holding_days": 0,
                    "minimum_payout": {"amount": 100, "currency": "usd"},
                    "auto_payout_policy": "manual",
                    "coupon_sync_mode": "manual"
                }),
            )
            .await;
        let program_id = at(&program, "/id").to_owned();
        self.onboard(&admin, &program_id, "tom").await;
        self.onboard(&admin, &program_id, "ana").await;
        for (ext, amount, key) in [("ord_1", 100_000, "tom"), ("ord_2", 75_000, "ana")] {
            self.api(
                reqwest::Method::POST,
                &format!("/api/v1/programs/{program_id}/conversions"),
                &admin,
                json!({"external_id": ext, "amount": amount, "currency": "usd", "referral_key": key}),
            )
            .await;
        }
        let today = time::OffsetDateTime::now_utc().date();
        let period = format!("{:04}-{:02}", today.year(), u8::from(today.month()));
        self.api(
            reqwest::Method::POST,
            &format!("/api/v1/programs/{program_id}/periods/{period}/finalize"),
            &admin,
            json!({}),
        )
        .await;
        let b = self
            .api(
                reqwest::Method::POST,
                &format!("/api/v1/programs/{program_id}/batches"),
                &admin,
                json!({"period": period}),
            )
            .await;
        assert_eq!(at(&b, "/batch/state"), "draft", "{b}");
        at(&b, "/batch/id").to_owned()
    }

    /// A signed-in session of `merchant`'s `role` person.
    async fn session(&self, merchant: &str, role: &str) -> String {
        let (s, link) = self
            .link(
                Role::TenantAdmin,
                merchant,
                json!({"role": role, "subject": format!("ops@{merchant}.test")}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{link}");
        self.sign_in(at(&link, "/url")).await
    }

    async fn post_fields(
        &self,
        path: &str,
        cookie: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header("Cookie", cookie)
            .header("Origin", &self.base)
            .form(fields)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test]
async fn the_batch_page_reviews_confirms_approves_and_runs_a_batch() {
    let c = Console::start().await;
    let batch = c.draft_batch("m_a", true).await;
    let cookie = c.session("m_a", "tenant_admin").await;
    let page_path = format!("/dashboard/partners/batches/{batch}");

    let res = c.get(&page_path, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("content-security-policy"));
    let html = res.text().await.unwrap();
    assert!(html.contains("USD 350.00"), "{html}");
    assert!(html.contains("USD 200.00") && html.contains("USD 150.00"));
    assert!(html.contains(">draft<"));
    // A draft has nothing in progress yet; the live part refreshes only
    // while the batch runs.
    assert!(!html.contains("<progress"));
    assert!(html.contains("<div id=\"batch-live\">"));
    assert!(html.contains("manifest.csv"));
    let csrf = csrf_of(&html);

    // The manifest as CSV, with the session (no bearer token).
    let csv = c
        .get(&format!("{page_path}/manifest.csv"), Some(&cookie))
        .await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert!(csv.starts_with("item_id,partner_id,"), "{csv}");
    assert_eq!(csv.lines().count(), 3, "{csv}");

    // Without its CSRF token, approval is refused.
    let approve = format!("{page_path}/approve");
    let forged = c.post_form(&approve, &cookie, &c.base, "nope").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // Approve asks first, restating the total and item count.
    let ask = c
        .post_fields(&approve, &cookie, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(ask.status(), StatusCode::OK);
    let html = ask.text().await.unwrap();
    assert!(html.contains("Pay 2 partners USD 350.00?"), "{html}");
    assert!(html.contains("name=\"confirm\" value=\"yes\""));
    // Nothing was approved yet.
    let html = c.get(&page_path, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains(">draft<"));

    let yes = c
        .post_fields(
            &approve,
            &cookie,
            &[("csrf_token", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(yes.status(), StatusCode::SEE_OTHER);
    assert_eq!(yes.headers()["location"], page_path.as_str());
    let html = c.get(&page_path, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains(">approved<"), "{html}");
    assert!(html.contains("Approved by ops@m_a.test"));
    assert!(html.contains("Run the payouts"));

    // Run it: the merchant's balance pays both, each transfer linked to Stripe.
    let card = c
        .http
        .get(format!("{}/api/v1/stripe-connect", c.base))
        .bearer_auth(c.token(Role::TenantAdmin, "m_a"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    c._sb
        .set_balance(stripe_sandbox::SetBalance {
            account: Some(card["stripe_account_id"].as_str().unwrap().to_owned()),
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let html = c.run_batch(&page_path, &cookie, &csrf, "completed").await;
    assert!(
        html.contains("data-testid=\"posted\">2 (USD 350.00)"),
        "{html}"
    );
    assert!(html.contains("href=\"https://dashboard.stripe.com/test/connect/transfers/tr_"));

    // The partner signs in by link and reads the payout in the portal.
    let items = c
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/batches/{batch}/items"),
            &c.token(Role::TenantAdmin, "m_a"),
            Value::Null,
        )
        .await;
    let tom = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["amount"]["amount"] == 20_000)
        .unwrap();
    let partner_id = tom["partner_id"].as_str().unwrap();
    let (s, link) = c
        .link(
            Role::TenantAdmin,
            "m_a",
            json!({"role": "partner", "partner_id": partner_id, "subject": "tom@partners.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let signed_in = c.http.get(at(&link, "/url")).send().await.unwrap();
    assert_eq!(signed_in.headers()["location"], "/portal");
    let partner = signed_in.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let portal = c.get("/portal", Some(&partner)).await;
    assert_eq!(portal.status(), StatusCode::OK);
    let html = portal.text().await.unwrap();
    assert!(
        html.contains("USD 200.00") && html.contains("Paid to your Stripe account."),
        "{html}"
    );
    assert!(html.contains("in 1 payout."), "{html}");
    assert!(
        !html.contains("USD 150.00"),
        "another partner's payout shows: {html}"
    );
    // A partner cannot open the merchant's pages, and staff have no portal.
    assert_eq!(
        c.get(&page_path, Some(&partner)).await.status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.get("/portal", Some(&cookie)).await.status(),
        StatusCode::FORBIDDEN
    );

    // Another merchant's staff get 404 on this batch, page and CSV alike.
    let other = c.session("m_b", "tenant_admin").await;
    let res = c.get(&page_path, Some(&other)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c
        .get(&format!("{page_path}/manifest.csv"), Some(&other))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c
        .get("/dashboard/partners/batches/not-an-id", Some(&other))
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn failed_payouts_say_why_in_words_and_retry_from_the_page() {
    let c = Console::start().await;
    let batch = c.draft_batch("m_a", true).await;
    let cookie = c.session("m_a", "payment_admin").await;
    let page_path = format!("/dashboard/partners/batches/{batch}");
    let html = c.get(&page_path, Some(&cookie)).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    let yes = c
        .post_fields(
            &format!("{page_path}/approve"),
            &cookie,
            &[("csrf_token", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(yes.status(), StatusCode::SEE_OTHER);
    // Without a CSRF token, execution is refused too.
    let forged = c
        .post_form(&format!("{page_path}/execute"), &cookie, &c.base, "nope")
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    // The merchant's balance is empty: both transfers fail.
    let html = c
        .run_batch(&page_path, &cookie, &csrf, "completed_with_failures")
        .await;
    assert!(
        html.contains("data-testid=\"failed\">2 (USD 350.00)"),
        "{html}"
    );
    assert!(html.contains("<code>balance_insufficient</code>"), "{html}");
    assert!(
        html.contains("Stripe balance was too low; it is retried in 24 hours."),
        "{html}"
    );
    assert_eq!(html.matches(">Retry now<").count(), 2);

    // Money arrives; one retry from the page pays that partner.
    let card = c
        .http
        .get(format!("{}/api/v1/stripe-connect", c.base))
        .bearer_auth(c.token(Role::TenantAdmin, "m_a"))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    c._sb
        .set_balance(stripe_sandbox::SetBalance {
            account: Some(card["stripe_account_id"].as_str().unwrap().to_owned()),
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let marker = format!("action=\"{page_path}/items/");
    let at = html.find(&marker).unwrap() + "action=\"".len();
    let retry = html[at..at + html[at..].find('"').unwrap()].to_owned();
    assert!(retry.ends_with("/retry"), "{retry}");
    let done = c
        .post_fields(&retry, &cookie, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap()
    );
    let html = c.get(&page_path, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("data-testid=\"posted\">1 "), "{html}");
    assert_eq!(html.matches(">Retry now<").count(), 1);
    // Retrying a posted item is refused in words.
    let again = c
        .post_fields(&retry, &cookie, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Refresh looks the items up on Stripe and comes back.
    let refreshed = c
        .post_fields(
            &format!("{page_path}/refresh"),
            &cookie,
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(refreshed.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_batch_of_a_merchant_not_connected_says_why_it_cannot_run() {
    let c = Console::start().await;
    let batch = c.draft_batch("m_a", false).await;
    let cookie = c.session("m_a", "tenant_admin").await;
    let html = c
        .get(
            &format!("/dashboard/partners/batches/{batch}"),
            Some(&cookie),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Payouts cannot run now."), "{html}");
    assert!(html.contains("Stripe account is not connected"), "{html}");
    assert!(!html.contains("Run the payouts"));
}

/// The path and query of a `Location` on this console.
fn location(res: &reqwest::Response, base: &str) -> String {
    res.headers()["location"]
        .to_str()
        .unwrap()
        .trim_start_matches(base)
        .to_owned()
}

#[tokio::test]
async fn a_month_runs_from_the_home_and_program_pages_and_the_partner_reads_their_notices() {
    let c = Console::start().await;
    c.connect_merchant("m_a").await;
    let cookie = c.session("m_a", "tenant_admin").await;
    let home = c.get("/dashboard/partners", Some(&cookie)).await;
    assert_eq!(home.status(), StatusCode::OK);
    let html = home.text().await.unwrap();
    assert!(html.contains("No programs yet") && html.contains("Create a program"));
    assert!(html.contains("Nothing has been paid yet"));
    let csrf = csrf_of(&html);

    // Create a program; a bad value is refused in words and creates nothing.
    let bad = c
        .post_fields(
            "/dashboard/partners/programs",
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("name", "Spring"),
                ("currency", "usd"),
                ("commission_percent", "120"),
                ("holding_days", "0"),
                ("minimum_payout", "1.00"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    assert!(bad.text().await.unwrap().contains("Commission (%)"));
    let made = c
        .post_fields(
            "/dashboard/partners/programs",
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("name", "Spring"),
                ("currency", "usd"),
                ("commission_percent", "20"),
                ("holding_days", "0"),
                ("minimum_payout", "1.00"),
            ],
        )
        .await;
    assert_eq!(made.status(), StatusCode::SEE_OTHER);
    let program_page = location(&made, &c.base);
    let program_path = program_page.split('?').next().unwrap().to_owned();
    let program_id = program_path.rsplit('/').next().unwrap().to_owned();
    let html = c
        .get("/dashboard/partners", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches(&program_path).count(), 1, "one program listed");

    // Enroll a partner; a bad e-mail is refused and enrolls no one.
    let enroll = format!("{program_path}/partners");
    let refused = c
        .post_fields(
            &enroll,
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("email", "not-an-email"),
                ("country", "US"),
                ("referral_key", "tom"),
            ],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    // A partner from a country the program does not pay in (it pays the US
    // only by default) is refused, naming the country and the list.
    let abroad = c
        .post_fields(
            &enroll,
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("email", "fleur@partners.test"),
                ("country", "FR"),
                ("referral_key", "fleur"),
            ],
        )
        .await;
    assert_eq!(abroad.status(), StatusCode::BAD_REQUEST);
    let page = abroad.text().await.unwrap();
    assert!(
        page.contains("does not pay partners in FR") && page.contains("pays partners in: US"),
        "{page}"
    );
    let ok = c
        .post_fields(
            &enroll,
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("email", "tom@partners.test"),
                ("country", "US"),
                ("referral_key", "tom"),
            ],
        )
        .await;
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let html = c
        .get(&program_path, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert_eq!(html.matches("data-testid=\"partner-").count(), 1);
    assert!(html.contains("data-testid=\"onboarding\">onboarding"));
    let marker = format!("action=\"{program_path}/partners/");
    let at = html.find(&marker).unwrap() + marker.len();
    let membership = html[at..at + 36].to_owned();
    let row = format!("{program_path}/partners/{membership}");

    // Onboarding: the sandbox's hosted page, Complete, back to the program.
    let go = c
        .post_fields(
            &format!("{row}/onboarding"),
            &cookie,
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(go.status(), StatusCode::SEE_OTHER);
    let hosted = go.headers()["location"].to_str().unwrap().to_owned();
    assert!(hosted.contains("/setup/s/acct_"), "{hosted}");
    let done = c
        .http
        .post(&hosted)
        .form(&[("decision", "complete")])
        .send()
        .await
        .unwrap();
    let back = done.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(back, format!("{}{row}/onboarded", c.base));
    let checked = c.get(&format!("{row}/onboarded"), Some(&cookie)).await;
    assert_eq!(checked.status(), StatusCode::SEE_OTHER);
    let html = c
        .get(&program_path, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"onboarding\">ready"), "{html}");

    // A coupon code, and the payout policy.
    let coupon = c
        .post_fields(
            &format!("{row}/coupons"),
            &cookie,
            &[("csrf_token", csrf.as_str()), ("code", "TOM10")],
        )
        .await;
    assert_eq!(coupon.status(), StatusCode::SEE_OTHER);
    let bad_cap = c
        .post_fields(
            &format!("{program_path}/policy"),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("policy", "auto_under_cap"),
                ("cap", "lots"),
            ],
        )
        .await;
    assert_eq!(bad_cap.status(), StatusCode::BAD_REQUEST);
    let capped = c
        .post_fields(
            &format!("{program_path}/policy"),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("policy", "auto_under_cap"),
                ("cap", "5.00"),
            ],
        )
        .await;
    assert_eq!(capped.status(), StatusCode::SEE_OTHER);
    let html = c
        .get(&program_path, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("<code>TOM10</code>"));
    assert!(
        html.contains("Batches of at most USD 5.00 approve themselves"),
        "{html}"
    );

    // Payout countries and per-currency minimums: a country Stripe cannot
    // pay cross-border to is refused and changes nothing; then DE is added
    // and a USD minimum of 2.00 lifts the effective minimum above 1.00.
    let bad_reach = c
        .post_fields(
            &format!("{program_path}/reach"),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("payout_countries", "US, BR"),
                ("minimum_payouts", ""),
            ],
        )
        .await;
    assert_eq!(bad_reach.status(), StatusCode::BAD_REQUEST);
    let page = bad_reach.text().await.unwrap();
    assert!(
        page.contains("BR is not a country Stripe supports"),
        "{page}"
    );
    let bad_minimum = c
        .post_fields(
            &format!("{program_path}/reach"),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("payout_countries", "US"),
                ("minimum_payouts", "USD two"),
            ],
        )
        .await;
    assert_eq!(bad_minimum.status(), StatusCode::BAD_REQUEST);
    let reach = c
        .post_fields(
            &format!("{program_path}/reach"),
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("payout_countries", "us de"),
                ("minimum_payouts", "USD 2.00\nEUR 10.00"),
            ],
        )
        .await;
    assert_eq!(reach.status(), StatusCode::SEE_OTHER);
    let html = c
        .get(&program_path, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("data-testid=\"payout-countries\">US (United States), DE (Germany)"),
        "{html}"
    );
    assert!(
        html.contains("data-testid=\"effective-minimum\">USD 2.00"),
        "{html}"
    );
    assert!(html.contains("EUR 10.00\nUSD 2.00"), "{html}");

    // A conversion by API; the commission by period; finalize; build.
    let admin = c.token(Role::TenantAdmin, "m_a");
    c.api(
        reqwest::Method::POST,
        &format!("/api/v1/programs/{program_id}/conversions"),
        &admin,
        json!({"external_id": "ord_1", "amount": 100_000, "currency": "usd", "referral_key": "tom"}),
    )
    .await;
    let html = c
        .get(&program_path, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("USD 200.00") && html.contains("badge pending"),
        "{html}"
    );
    let today = time::OffsetDateTime::now_utc().date();
    let period = format!("{:04}-{:02}", today.year(), u8::from(today.month()));
    let fin = c
        .post_fields(
            &format!("{program_path}/periods/{period}/finalize"),
            &cookie,
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    let after = location(&fin, &c.base);
    assert!(after.contains("notice=finalized&count=1"), "{after}");
    let html = c.get(&after, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("1 commission was finalized."));
    let pending = c
        .get(
            &format!("{program_path}?period={period}&state=pending"),
            Some(&cookie),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(pending.contains("No commissions in state pending"));
    let built = c
        .post_fields(
            &format!("{program_path}/batches"),
            &cookie,
            &[("csrf_token", csrf.as_str()), ("period", period.as_str())],
        )
        .await;
    assert_eq!(built.status(), StatusCode::SEE_OTHER);
    let batch_path = location(&built, &c.base);
    assert!(batch_path.starts_with("/dashboard/partners/batches/"));
    let html = c
        .get(&batch_path, Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    // USD 200.00 is over the USD 5.00 cap: a person approves it.
    assert!(html.contains("data-testid=\"state\">draft"), "{html}");
    assert!(
        html.contains("tom (tom@partners.test)"),
        "partners by name: {html}"
    );
    let yes = c
        .post_fields(
            &format!("{batch_path}/approve"),
            &cookie,
            &[("csrf_token", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(yes.status(), StatusCode::SEE_OTHER);
    // The merchant's balance is empty: the payout fails and is retried later.
    c.run_batch(&batch_path, &cookie, &csrf, "completed_with_failures")
        .await;

    // The home page: the program, the batch, the merchant's notifications.
    let html = c
        .get("/dashboard/partners", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&batch_path));
    assert!(
        html.contains("merchant_insufficient_balance_retry"),
        "{html}"
    );
    assert!(html.contains("data-testid=\"paid-volume\""), "{html}");

    // The partner's portal link, from the program page; the portal's notice.
    let issued = c
        .post_fields(
            &format!("{row}/portal-link"),
            &cookie,
            &[("csrf_token", csrf.as_str())],
        )
        .await;
    assert_eq!(issued.status(), StatusCode::OK);
    let html = issued.text().await.unwrap();
    let at = html.find("data-testid=\"portal-link\" href=\"").unwrap()
        + "data-testid=\"portal-link\" href=\"".len();
    let portal_url = html[at..at + html[at..].find('"').unwrap()].to_owned();
    let partner = c.sign_in(&portal_url).await;
    let html = c.get("/portal", Some(&partner)).await.text().await.unwrap();
    assert!(
        html.contains("USD 200.00 is delayed: the merchant&#x27;s Stripe balance was too low")
            || html
                .contains("USD 200.00 is delayed: the merchant&#39;s Stripe balance was too low"),
        "{html}"
    );
    assert!(html.contains("Open your Stripe dashboard"));
    let pcsrf = csrf_of(&html);
    let dash = c
        .post_fields(
            "/portal/stripe",
            &partner,
            &[
                ("csrf_token", pcsrf.as_str()),
                ("membership_id", membership.as_str()),
            ],
        )
        .await;
    assert_eq!(dash.status(), StatusCode::SEE_OTHER);
    assert!(
        dash.headers()["location"]
            .to_str()
            .unwrap()
            .contains("/express/acct_")
    );
    // The partner cannot open the merchant's pages.
    let denied = c.get(&program_path, Some(&partner)).await;
    assert_eq!(denied.status(), StatusCode::FORBIDDEN);

    // Another merchant sees none of it; unknown console URLs are 404 in words.
    let other = c.session("m_b", "tenant_admin").await;
    for path in [
        program_path.as_str(),
        batch_path.as_str(),
        "/dashboard/partners/nope",
    ] {
        let res = c.get(path, Some(&other)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(res.text().await.unwrap().contains("There is nothing here"));
    }
    let res = c.get("/dashboard/platform/fees", Some(&other)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = c.get("/dashboard/partners/nope", None).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    // A program form without its token changes nothing.
    let forged = c
        .post_fields(
            &format!("{program_path}/policy"),
            &cookie,
            &[("csrf_token", "nope"), ("policy", "auto_all")],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn the_platform_operator_sets_fees_and_reads_the_balance_and_disputes() {
    let c = Console::start().await;
    let (s, link) = c
        .link(
            Role::PlatformAdmin,
            "m_a",
            json!({"role": "platform_admin", "subject": "ops@platform.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{link}");
    let cookie = c.sign_in(at(&link, "/url")).await;
    let html = c
        .get("/dashboard/platform/fees", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"default-rate\">0%"), "{html}");
    let csrf = csrf_of(&html);
    let fees = |fields: Vec<(&'static str, &'static str)>| {
        let mut all = vec![("csrf_token", csrf.clone())];
        all.extend(fields.into_iter().map(|(k, v)| (k, v.to_owned())));
        all
    };
    let post = |fields: Vec<(&'static str, String)>| {
        let c = &c;
        let cookie = cookie.clone();
        async move {
            c.http
                .post(format!("{}/dashboard/platform/fees", c.base))
                .header("Cookie", cookie)
                .header("Origin", &c.base)
                .form(&fields)
                .send()
                .await
                .unwrap()
        }
    };
    let saved = post(fees(vec![
        ("action", "default"),
        ("percent", "2.9"),
        ("fixed_minor", "30"),
    ]))
    .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    let tier = post(fees(vec![
        ("action", "tier"),
        ("volume_min_minor", "0"),
        ("volume_max_minor", "1000000"),
        ("percent", "3"),
    ]))
    .await;
    assert_eq!(tier.status(), StatusCode::SEE_OTHER);
    // Overlapping tiers are refused by the domain, and nothing changes.
    let overlap = post(fees(vec![
        ("action", "tier"),
        ("volume_min_minor", "500"),
        ("percent", "1"),
    ]))
    .await;
    assert_eq!(overlap.status(), StatusCode::BAD_REQUEST);
    let bad = post(fees(vec![("action", "default"), ("percent", "-1")])).await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let html = c
        .get("/dashboard/platform/fees?notice=saved", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("2.9% + 30 minor units"), "{html}");
    assert_eq!(html.matches("value=\"remove_tier\"").count(), 1);
    let balance = c.get("/dashboard/platform/balance", Some(&cookie)).await;
    assert_eq!(balance.status(), StatusCode::OK);
    assert!(balance.text().await.unwrap().contains("Platform balance"));
    let bad_account = c
        .get("/dashboard/platform/balance?account=nope", Some(&cookie))
        .await;
    assert_eq!(bad_account.status(), StatusCode::BAD_REQUEST);
    let disputes = c.get("/dashboard/platform/disputes", Some(&cookie)).await;
    assert_eq!(disputes.status(), StatusCode::OK);
    assert!(disputes.text().await.unwrap().contains("No disputes."));

    // A disputed payment: the dispute is listed with its evidence form;
    // evidence is saved, then submitted, and the form goes away.
    c.connect_merchant("m_a").await;
    let admin = c.token(Role::TenantAdmin, "m_a");
    let card = c
        .api(
            reqwest::Method::GET,
            "/api/v1/stripe-connect",
            &admin,
            Value::Null,
        )
        .await;
    let account = at(&card, "/stripe_account_id").to_owned();
    let pi = c
        .api(
            reqwest::Method::POST,
            "/api/v1/integrations/stripe-connect/payments",
            &admin,
            json!({"account_id": account, "amount": 2500, "currency": "usd", "order_id": "ord_d1",
                   "payment_method_types": ["card"], "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    let pi_id = at(&pi, "/payment_intent_id").to_owned();
    let charges: Value = c
        .http
        .get(format!(
            "{}/v1/charges?payment_intent={pi_id}",
            c._sb.base_url()
        ))
        .bearer_auth("sk_test_console")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let charge = at(&charges, "/data/0/id").to_owned();
    let dispute = c
        ._sb
        .create_dispute(&stripe_sandbox::CreateDispute {
            charge,
            amount: None,
            reason: Some("product_not_received".to_owned()),
        })
        .unwrap();
    let dispute_id = dispute["id"].as_str().unwrap().to_owned();
    let html = c
        .get("/dashboard/platform/disputes", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&dispute_id), "{html}");
    assert!(
        html.contains("product_not_received") && html.contains("USD 25.00"),
        "{html}"
    );
    let evidence = format!("/dashboard/platform/disputes/{dispute_id}/evidence");
    assert!(html.contains(&evidence));
    let saved = c
        .post_fields(
            &evidence,
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("customer_name", "Jane Doe"),
                ("product_description", "Annual plan"),
            ],
        )
        .await;
    assert_eq!(saved.status(), StatusCode::SEE_OTHER);
    assert!(location(&saved, &c.base).contains("notice=saved"));
    let submitted = c
        .post_fields(
            &evidence,
            &cookie,
            &[
                ("csrf_token", csrf.as_str()),
                ("uncategorized_text", "Delivered on 2 Nov"),
                ("submit", "yes"),
            ],
        )
        .await;
    assert_eq!(submitted.status(), StatusCode::SEE_OTHER);
    let html = c
        .get(
            "/dashboard/platform/disputes?notice=submitted",
            Some(&cookie),
        )
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("The evidence was submitted to the bank."));
    assert!(html.contains("under_review"), "{html}");
    assert!(!html.contains(&evidence), "no form once submitted: {html}");
    // A merchant's admin never sees the platform's disputes page.
    let merchant = c.session("m_a", "tenant_admin").await;
    let res = c.get("/dashboard/platform/disputes", Some(&merchant)).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}

/// An error page quotes the request's id as its reference, the one the
/// `Request-Id` header carries and the request's log lines name: the
/// caller's own when it sent a sane one, else the one the service made.
#[tokio::test]
async fn an_error_page_quotes_the_request_id() {
    let c = Console::start().await;
    let cookie = c.session("m_rid", "tenant_admin").await;
    for path in [
        "/dashboard/partners/programs/7f1d4c9e-8a0b-4a39-9d43-2d9b8d3c0e11",
        "/dashboard/partners/nope",
    ] {
        let res = c
            .http
            .get(format!("{}{path}", c.base))
            .header("Cookie", &cookie)
            .header("Request-Id", "console-ref-77")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.headers()["request-id"], "console-ref-77", "{path}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains("<code>console-ref-77</code>"),
            "{path}: {html}"
        );

        let res = c.get(path, Some(&cookie)).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        let id = res.headers()["request-id"].to_str().unwrap().to_owned();
        assert!(id.starts_with("req_"), "{id}");
        let html = res.text().await.unwrap();
        assert!(
            html.contains(&format!("<code>{id}</code>")),
            "{path}: {html}"
        );
    }
}

/// Issue 14, item 12: the home page shows the notifications the merchant's
/// endpoints did not accept (kind, attempts, last answer, when), and an
/// admin replays one with a form carrying the CSRF token.
#[tokio::test]
async fn the_home_page_shows_failed_deliveries_and_replays_one() {
    use payouts_domain::notification::{DeliveryState, Notification, NotificationKind, Recipient};

    let c = Console::start().await;
    let merchant = MerchantId::parse("m_hooks".to_owned()).unwrap();
    c.engine
        .create_webhook_endpoint(
            &merchant,
            "https://hooks.test/payouts",
            None,
            &payouts_domain::audit::Acting::cli("test"),
        )
        .await
        .unwrap();
    let now = time::OffsetDateTime::now_utc();
    let n = Notification {
        id: payouts_domain::ids::NotificationId::parse("6f1c2a53-3d59-4c43-9b0e-5d4f3b1f2a10")
            .unwrap(),
        merchant_id: merchant.clone(),
        kind: NotificationKind::MerchantAccountInactive,
        recipient: Recipient::Merchant(merchant.clone()),
        dedupe_key: "console-test:1".to_owned(),
        payload: json!({}),
        created_at: now,
        delivery: DeliveryState::new_at(now),
    };
    c.engine
        .store()
        .enqueue(std::slice::from_ref(&n))
        .await
        .unwrap();
    let cookie = c.session("m_hooks", "tenant_admin").await;
    let html = c
        .get("/dashboard/partners", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Failed deliveries"), "{html}");
    assert!(
        !html.contains("data-testid=\"failed-deliveries\""),
        "{html}"
    );

    let notifier = payouts_domain::memory::RecordingNotifier::default();
    notifier.set_failing(true);
    assert_eq!(
        c.engine
            .dispatch_notifications(&notifier, 10)
            .await
            .unwrap()
            .failed,
        1
    );
    let html = c
        .get("/dashboard/partners", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("data-testid=\"failed-deliveries\""), "{html}");
    assert!(html.contains("merchant_account_inactive"), "{html}");
    assert!(html.contains("retrying"), "{html}");
    assert!(html.contains("HTTP 500"), "{html}");
    assert!(html.contains("recording notifier set to fail"), "{html}");
    assert!(html.contains("next try"), "{html}");
    let replay = format!("/dashboard/partners/notifications/{}/replay", n.id);
    assert!(html.contains(&replay), "{html}");
    let csrf = csrf_of(&html);

    // A manager sees the failure but has no replay button.
    let manager = c.session("m_hooks", "manager").await;
    let html = c
        .get("/dashboard/partners", Some(&manager))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("merchant_account_inactive") && !html.contains(&replay));

    // Without the CSRF token, or from another merchant: refused.
    let forged = c
        .post_fields(&replay, &cookie, &[("csrf_token", "forged")])
        .await;
    assert!(forged.status().is_client_error(), "{}", forged.status());
    let other = c.session("m_other", "tenant_admin").await;
    let other_html = c
        .get("/dashboard/partners", Some(&other))
        .await
        .text()
        .await
        .unwrap();
    assert!(!other_html.contains("merchant_account_inactive"));
    let theirs = c
        .post_fields(
            &replay,
            &other,
            &[("csrf_token", csrf_of(&other_html).as_str())],
        )
        .await;
    assert_eq!(theirs.status(), StatusCode::NOT_FOUND);

    // Replay: pending and due now; the list is empty again.
    let replayed = c
        .post_fields(&replay, &cookie, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(replayed.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        replayed
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok()),
        Some("/dashboard/partners#deliveries")
    );
    let stored = c.engine.outbox_notification(n.id).await.unwrap();
    assert_eq!(stored.delivery.attempts(), 0);
    assert!(matches!(stored.delivery, DeliveryState::Pending { .. }));
    let html = c
        .get("/dashboard/partners", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&replay), "{html}");
}

/// The reconciliation page: clean after a run; then a reversal made at
/// Stripe without a webhook, a transfer made behind our back, and an amount
/// Stripe holds otherwise are each listed in words, with the partner, the
/// amounts in their currency and a link to the batch; another merchant
/// gets 404.
#[tokio::test]
async fn the_reconciliation_page_lists_each_difference_in_words() {
    let c = Console::start().await;
    let batch = c.draft_batch("m_r", true).await;
    let admin = c.token(Role::TenantAdmin, "m_r");
    c.api(
        reqwest::Method::POST,
        &format!("/api/v1/batches/{batch}/approve"),
        &admin,
        json!({}),
    )
    .await;
    let card = c
        .api(
            reqwest::Method::GET,
            "/api/v1/stripe-connect",
            &admin,
            Value::Null,
        )
        .await;
    let merchant_account = card["stripe_account_id"].as_str().unwrap().to_owned();
    c._sb
        .set_balance(stripe_sandbox::SetBalance {
            account: Some(merchant_account.clone()),
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let cookie = c.session("m_r", "tenant_admin").await;
    let page_path = format!("/dashboard/partners/batches/{batch}");
    let html = c.get(&page_path, Some(&cookie)).await.text().await.unwrap();
    let csrf = csrf_of(&html);
    let html = c.run_batch(&page_path, &cookie, &csrf, "completed").await;
    assert!(
        html.contains(&format!("{page_path}/reconciliation")),
        "{html}"
    );

    let recon = format!("{page_path}/reconciliation");
    let res = c.get(&recon, Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(res.headers().contains_key("content-security-policy"));
    let html = res.text().await.unwrap();
    assert!(html.contains("data-testid=\"clean\""), "{html}");
    assert!(html.contains("data-testid=\"matched\">2<"), "{html}");
    assert!(html.contains("Finalized commissions equal"), "{html}");

    // Differences made at Stripe behind the engine's back.
    let ledger = c._sb.ledger(&stripe_sandbox::LedgerFilter::default());
    let tom = ledger
        .transfers
        .iter()
        .find(|t| t.amount == 20_000)
        .unwrap();
    let ana = ledger
        .transfers
        .iter()
        .find(|t| t.amount == 15_000)
        .unwrap();
    let stripe = |path: String| {
        c.http
            .post(format!("{}{path}", c._sb.base_url()))
            .bearer_auth("sk_test_console")
            .header("Stripe-Account", merchant_account.as_str())
    };
    let reversed = stripe(format!("/v1/transfers/{}/reversals", tom.transfer_id))
        .form(&[("amount", "5000")])
        .send()
        .await
        .unwrap();
    assert!(reversed.status().is_success());
    let group = format!("batch_{batch}");
    let made = stripe("/v1/transfers".to_owned())
        .form(&[
            ("amount", "1234"),
            ("currency", "usd"),
            ("destination", tom.destination.as_str()),
            ("transfer_group", group.as_str()),
        ])
        .send()
        .await
        .unwrap();
    assert!(made.status().is_success());
    c._sb
        .alter_transfer(&ana.transfer_id, 15_100, None)
        .unwrap();

    let html = c.get(&recon, Some(&cookie)).await.text().await.unwrap();
    assert!(html.contains("data-testid=\"differences\""), "{html}");
    assert_eq!(
        html.matches("data-testid=\"difference\"").count(),
        3,
        "{html}"
    );
    for words in [
        "<code>unrecorded_reversal</code> Stripe reversed more of this transfer than we recorded",
        "<code>not_ours</code> Stripe holds a transfer under this batch",
        "<code>amount_mismatch</code> Stripe holds this transfer with another amount",
    ] {
        assert!(html.contains(words), "{words}: {html}");
    }
    assert!(
        html.contains("USD 50.00"),
        "the reversal, in dollars: {html}"
    );
    assert!(html.contains("USD 12.34"), "{html}");
    assert!(
        html.contains("USD 151.00") && html.contains("USD 150.00"),
        "{html}"
    );
    assert!(html.contains("tom (tom@partners.test)"), "{html}");
    assert!(html.contains(&format!("href=\"{page_path}\"")), "{html}");
    assert!(html.contains(&format!(
        "href=\"https://dashboard.stripe.com/test/connect/transfers/{}\"",
        tom.transfer_id
    )));

    // The program's period shows the same.
    let today = time::OffsetDateTime::now_utc().date();
    let period = format!("{:04}-{:02}", today.year(), u8::from(today.month()));
    let b = c
        .api(
            reqwest::Method::GET,
            &format!("/api/v1/batches/{batch}"),
            &admin,
            Value::Null,
        )
        .await;
    let program = at(&b, "/batch/program_id").to_owned();
    let by_period =
        format!("/dashboard/partners/programs/{program}/periods/{period}/reconciliation");
    let html = c.get(&by_period, Some(&cookie)).await.text().await.unwrap();
    assert_eq!(
        html.matches("data-testid=\"difference\"").count(),
        3,
        "{html}"
    );

    // Another merchant's staff: 404 on both; a bad period: 404.
    let other = c.session("m_other", "tenant_admin").await;
    assert_eq!(
        c.get(&recon, Some(&other)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(&by_period, Some(&other)).await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        c.get(
            &format!("/dashboard/partners/programs/{program}/periods/2026-13/reconciliation"),
            Some(&cookie)
        )
        .await
        .status(),
        StatusCode::NOT_FOUND
    );
}

/// Issue 15: the merchant's 1099 page (the list, every paid partner, the
/// CSV, bad years, tenants) and the portal's printable statements (one
/// payout line by line, the month), a partner reading only their own.
#[tokio::test]
async fn the_1099_page_and_the_portals_printable_statements() {
    use payouts_domain::testkit::paid;

    let store = InMemoryStore::new();
    let m = |s: &str| MerchantId::parse(s.to_owned()).unwrap();
    let seed = paid::seed(&store, m("m_tax"), 1_000_000).await;
    let theirs = paid::seed(&store, m("m_other"), 2_000_000).await;
    let c = Console::start_on(store).await;
    let admin = c.session("m_tax", "tenant_admin").await;
    let alice = seed.alice.partner_id.to_string();

    // The navigation leads to this year's list.
    let home = c.get("/dashboard/partners", Some(&admin)).await;
    assert!(
        home.text()
            .await
            .unwrap()
            .contains("href=\"/dashboard/partners/tax\"")
    );
    let res = c.get("/dashboard/partners/tax", Some(&admin)).await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let year = time::OffsetDateTime::now_utc().year();
    assert_eq!(
        res.headers()["location"],
        format!("/dashboard/partners/tax/{year}").as_str()
    );

    // 2026: Alice only, USD 800.00, the threshold in words.
    let res = c.get("/dashboard/partners/tax/2026", Some(&admin)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains(&alice) && html.contains("USD 800.00"),
        "{html}"
    );
    assert!(html.contains("USD 600.00"), "{html}");
    assert!(html.contains("never converted"), "{html}");
    assert!(!html.contains(&seed.bob.partner_id.to_string()), "{html}");
    assert!(!html.contains(&seed.carol.partner_id.to_string()), "{html}");
    assert!(
        !html.contains(&theirs.alice.partner_id.to_string()),
        "{html}"
    );
    assert!(
        html.contains("href=\"/dashboard/partners/tax/2026/list.csv\""),
        "{html}"
    );
    // Every paid partner: Bob and Carol too, the total USD 1900.00.
    let html = c
        .get("/dashboard/partners/tax/2026?all=true", Some(&admin))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains(&seed.bob.partner_id.to_string()), "{html}");
    assert!(html.contains(&seed.carol.partner_id.to_string()), "{html}");
    assert!(
        !html.contains(&seed.dave.partner_id.to_string()),
        "unpaid: {html}"
    );
    assert!(html.contains("USD 1900.00"), "{html}");
    // The CSV, as the API answers it.
    let res = c
        .get(
            "/dashboard/partners/tax/2026/list.csv?all=true",
            Some(&admin),
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    assert!(
        csv.starts_with("year,partner_id,email,country,currency,amount,"),
        "{csv}"
    );
    assert_eq!(csv.lines().count(), 4, "{csv}");
    // Bad years are 400 in words; another merchant sees its own partners.
    for bad in ["1999", "twenty"] {
        let res = c
            .get(&format!("/dashboard/partners/tax/{bad}"), Some(&admin))
            .await;
        assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    let other = c.session("m_other", "tenant_admin").await;
    let html = c
        .get("/dashboard/partners/tax/2026?all=true", Some(&other))
        .await
        .text()
        .await
        .unwrap();
    assert!(!html.contains(&alice), "{html}");
    assert!(
        html.contains(&theirs.alice.partner_id.to_string()),
        "{html}"
    );

    // Alice signs in to the portal; her paid payout links its statement.
    let partner_session = |partner: String| {
        let c = &c;
        async move {
            let (s, link) = c
                .link(
                    Role::TenantAdmin,
                    "m_tax",
                    json!({"role": "partner", "partner_id": partner, "subject": "p@partners.test"}),
                )
                .await;
            assert_eq!(s, StatusCode::CREATED, "{link}");
            c.sign_in(at(&link, "/url")).await
        }
    };
    let alice_cookie = partner_session(alice.clone()).await;
    let item = seed.paid[0].id;
    let statement_path = format!("/portal/statements/{item}");
    let portal = c
        .get("/portal", Some(&alice_cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        portal.contains(&format!("href=\"{statement_path}\"")),
        "{portal}"
    );
    assert_eq!(
        c.get("/dashboard/partners/tax/2026", Some(&alice_cookie))
            .await
            .status(),
        StatusCode::FORBIDDEN,
        "a partner has no 1099 list"
    );

    // The statement: each line, the refund as a negative adjustment, the
    // December carry-over, the total; printable with the stylesheet's print rules.
    let res = c.get(&statement_path, Some(&alice_cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    for text in [
        "ord-alice",
        "USD 900.00",
        "USD -110.00",
        "USD 10.00",
        "20%",
        "USD 4500.00",
        "Adjustment: the sale was refunded",
        "class=\"adjustment\"",
        "December 2025",
        "carried because below the minimum payout",
        "USD 800.00",
        "9 February 2026",
        "href=\"/portal/statements/months/2026-02\"",
        "<link rel=\"stylesheet\" href=\"/console.css\">",
        "class=\"crumbs no-print\"",
    ] {
        assert!(html.contains(text), "{text} missing: {html}");
    }
    let css = c.get("/console.css", None).await.text().await.unwrap();
    let print = &css[css.find("@media print").unwrap()..];
    assert!(
        print.contains(".top") && print.contains(".no-print"),
        "{print}"
    );

    // The month sums the month's payouts.
    let res = c
        .get("/portal/statements/months/2026-02", Some(&alice_cookie))
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("February 2026")
            && html.contains("USD 800.00")
            && html.contains(&format!("href=\"{statement_path}\"")),
        "{html}"
    );
    let res = c
        .get("/portal/statements/months/2026-13", Some(&alice_cookie))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Only her own: Bob, the other merchant's item, staff; Dave's unpaid one.
    let bob_cookie = partner_session(seed.bob.partner_id.to_string()).await;
    for (path, cookie, status) in [
        (statement_path.clone(), &bob_cookie, StatusCode::NOT_FOUND),
        (
            format!("/portal/statements/{}", theirs.paid[0].id),
            &alice_cookie,
            StatusCode::NOT_FOUND,
        ),
        (
            "/portal/statements/nope".to_owned(),
            &alice_cookie,
            StatusCode::NOT_FOUND,
        ),
        (statement_path.clone(), &admin, StatusCode::FORBIDDEN),
    ] {
        assert_eq!(c.get(&path, Some(cookie)).await.status(), status, "{path}");
    }
    let dave_cookie = partner_session(seed.dave.partner_id.to_string()).await;
    let res = c
        .get(
            &format!("/portal/statements/{}", seed.unpaid.id),
            Some(&dave_cookie),
        )
        .await;
    assert_eq!(res.status(), StatusCode::CONFLICT);
}

/// The holds page lists a self-referral and a manual hold with partner,
/// order, amount, reason in words and since when; Release makes one
/// pending again; Reject asks first, restating amount, partner and order,
/// then voids it; without the CSRF token nothing happens; a partner may not
/// see the page, and another merchant's commission is 404.
#[tokio::test]
async fn the_holds_page_releases_and_rejects_held_commissions() {
    let c = Console::start().await;
    let admin = c.token(Role::TenantAdmin, "m_h");
    let program = c
        .api(
            reqwest::Method::POST,
            "/api/v1/programs",
            &admin,
            json!({
                "name": "Spring", "currency": "usd",
                "commission": {"type": "percent", "percent": "20"},
                "holding_days": 0,
                "minimum_payout": {"amount": 100, "currency": "usd"},
                "auto_payout_policy": "manual", "coupon_sync_mode": "manual"
            }),
        )
        .await;
    let program_id = at(&program, "/id").to_owned();
    c.onboard(&admin, &program_id, "tom").await;
    let conversions = format!("/api/v1/programs/{program_id}/conversions");
    let self_ref = c
        .api(
            reqwest::Method::POST,
            &conversions,
            &admin,
            json!({"external_id": "ord_self", "amount": 10_000, "currency": "usd",
                   "referral_key": "tom", "customer_email": "tom@partners.test"}),
        )
        .await;
    assert_eq!(at(&self_ref, "/commission/state/state"), "on_hold");
    let self_id = at(&self_ref, "/commission/id").to_owned();
    let plain = c
        .api(
            reqwest::Method::POST,
            &conversions,
            &admin,
            json!({"external_id": "ord_2", "amount": 25_000, "currency": "usd", "referral_key": "tom"}),
        )
        .await;
    let plain_id = at(&plain, "/commission/id").to_owned();
    let held = c
        .api(
            reqwest::Method::POST,
            &format!("/api/v1/commissions/{plain_id}/hold"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(at(&held, "/state/reason"), "manual");

    let cookie = c.session("m_h", "tenant_admin").await;
    let res = c.get("/dashboard/partners/holds", Some(&cookie)).await;
    assert_eq!(res.status(), StatusCode::OK);
    let html = res.text().await.unwrap();
    assert!(
        html.contains("href=\"/dashboard/partners/holds\""),
        "nav link"
    );
    for text in [
        "tom@partners.test",
        "ord_self",
        "USD 20.00",
        "Self-referral: the customer",
        "ord_2",
        "USD 50.00",
        "Held by hand for review",
    ] {
        assert!(html.contains(text), "{text}: {html}");
    }
    let csrf = csrf_of(&html);
    // One reason at a time.
    let html = c
        .get("/dashboard/partners/holds?reason=manual", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("ord_2") && !html.contains("ord_self"),
        "{html}"
    );
    let res = c
        .get("/dashboard/partners/holds?reason=fraud", Some(&cookie))
        .await;
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Without the token nothing is released.
    let release = format!("/dashboard/partners/holds/{self_id}/release");
    let forged = c.post_form(&release, &cookie, &c.base, "nope").await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let released = c.post_form(&release, &cookie, &c.base, &csrf).await;
    assert_eq!(released.status(), StatusCode::SEE_OTHER);
    let list = c
        .api(
            reqwest::Method::GET,
            "/api/v1/commissions?state=on_hold",
            &admin,
            Value::Null,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    // Releasing it again says it was decided already.
    let again = c.post_form(&release, &cookie, &c.base, &csrf).await;
    assert_eq!(again.status(), StatusCode::CONFLICT);

    // Reject asks first, restating what will happen.
    let reject = format!("/dashboard/partners/holds/{plain_id}/reject");
    let ask = c
        .post_fields(&reject, &cookie, &[("csrf_token", csrf.as_str())])
        .await;
    assert_eq!(ask.status(), StatusCode::OK);
    let html = ask.text().await.unwrap();
    assert!(
        html.contains("Reject tom@partners.test's USD 50.00 commission on order ord_2?"),
        "{html}"
    );
    assert!(html.contains("name=\"confirm\" value=\"yes\""));
    let yes = c
        .post_fields(
            &reject,
            &cookie,
            &[("csrf_token", csrf.as_str()), ("confirm", "yes")],
        )
        .await;
    assert_eq!(yes.status(), StatusCode::SEE_OTHER);
    let html = c
        .get("/dashboard/partners/holds", Some(&cookie))
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Nothing is on hold."), "{html}");
    let list = c
        .api(
            reqwest::Method::GET,
            "/api/v1/commissions?state=voided",
            &admin,
            Value::Null,
        )
        .await;
    assert_eq!(at(&list, "/data/0/state/reason"), "rejected", "{list}");

    // Another merchant's staff: 404; a partner: 403.
    let other = c.session("m_other", "tenant_admin").await;
    let html = c
        .get("/dashboard/partners/holds", Some(&other))
        .await
        .text()
        .await
        .unwrap();
    let other_csrf = csrf_of(&html);
    let res = c
        .post_form(
            &format!("/dashboard/partners/holds/{self_id}/release"),
            &other,
            &c.base,
            &other_csrf,
        )
        .await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
}
