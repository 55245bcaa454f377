//! The HTTP surface over a real server on a loopback port: SQLite in
//! memory, the in-process Stripe sandbox over HTTP, real JWTs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests: a failed setup should stop the test loudly"
)]

use std::net::TcpListener;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use payouts_domain::engine::{EngineConfig, Payouts};
use payouts_domain::ids::{MerchantId, PartnerId, WorkerId};
use payouts_domain::memory::InMemoryStore;
use payouts_domain::ports::{Clock, PayoutStore, StripeGateways};
use payouts_domain::system::{RandomIds, SystemClock};
use payouts_http::auth::claims;
use payouts_http::{AppState, HttpSettings, JwtSecret, Role};
use payouts_stripe::{SecretString, StripeConfig, StripeGateway};
use reqwest::StatusCode;
use serde_json::{Value, json};
use stripe_sandbox::{Sandbox, SandboxConfig, SandboxHandle, Spec};

const SECRET: &str = "test-secret-test-secret-test-secret-0123";

fn spec() -> Arc<Spec> {
    static SPEC: OnceLock<Arc<Spec>> = OnceLock::new();
    Arc::clone(SPEC.get_or_init(|| Arc::new(Spec::load(&Spec::default_path().unwrap()).unwrap())))
}

struct Api {
    base: String,
    http: reqwest::Client,
    jwt: JwtSecret,
    sb: SandboxHandle,
    handle: actix_web::dev::ServerHandle,
    engine: Arc<payouts_http::Engine>,
}

impl Api {
    async fn start() -> Api {
        Api::start_on(InMemoryStore::new()).await
    }

    /// The app over `store`, which a test may have seeded.
    async fn start_on(store: InMemoryStore) -> Api {
        let sb = Sandbox::start(SandboxConfig::default().with_spec(spec()))
            .await
            .unwrap();
        let mut config = StripeConfig::new(SecretString::from("sk_test_api"), "ca_api");
        config.api_base = sb.base_url();
        config.connect_base = sb.base_url();
        config.ops_per_second = Some(10_000);
        config.limit_mode = Some(payouts_stripe::LimitMode::Unlimited);
        config.backoff_base = Duration::from_millis(5);
        config.backoff_max = Duration::from_millis(20);
        config.webhook_secrets = vec![SecretString::from("whsec_api")];
        let gateway = StripeGateway::new(config).unwrap();
        // The domain's in-memory store and the real Stripe adapter over the
        // sandbox, behind the same trait objects `payouts serve` uses.
        let store: Arc<dyn PayoutStore> = Arc::new(store);
        let gateway: Arc<dyn StripeGateways> = Arc::new(gateway);
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let engine = Payouts::shared(
            store,
            gateway,
            clock,
            RandomIds,
            EngineConfig::new(WorkerId::parse("api-test").unwrap()),
        );
        let engine = Arc::new(engine);
        let state = AppState::new(
            Arc::clone(&engine),
            HttpSettings {
                dashboard_url: "http://dash.test/settings".to_owned(),
                stripe_dashboard_url: "https://dashboard.stripe.com/test".to_owned(),
                stripe_hosted_origin: "https://connect.stripe.com".to_owned(),
                public_url: "http://127.0.0.1".to_owned(),
            },
        );
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let server =
            payouts_http::server(listener, state, JwtSecret::new(SECRET).unwrap(), 1).unwrap();
        let handle = server.handle();
        tokio::spawn(server);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(20))
            .build()
            .unwrap();
        Api {
            base,
            http,
            jwt: JwtSecret::new(SECRET).unwrap(),
            sb,
            handle,
            engine,
        }
    }

    fn token(&self, roles: &[Role], merchant: &str, partner: Option<PartnerId>) -> String {
        let c = claims(
            "tester",
            roles.to_vec(),
            &MerchantId::parse(merchant.to_owned()).unwrap(),
            partner,
            time::OffsetDateTime::now_utc(),
            time::Duration::hours(1),
        );
        self.jwt.mint(&c).unwrap()
    }

    fn admin(&self, merchant: &str) -> String {
        self.token(&[Role::TenantAdmin], merchant, None)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(token), Some(body))
            .await
    }

    async fn stop(self) {
        let failures = self.sb.validation_failures();
        assert!(
            failures.is_empty(),
            "requests Stripe's spec refuses: {failures:#?}"
        );
        self.handle.stop(true).await;
        self.sb.stop().await;
    }
}

fn program_body() -> Value {
    json!({
        "name": "Spring",
        "currency": "usd",
        "commission": {"type": "percent", "percent": "20"},
        "holding_days": 0,
        "minimum_payout": {"amount": 100, "currency": "usd"},
        "auto_payout_policy": "auto_under_cap",
        "auto_payout_cap": {"amount": 100_000, "currency": "usd"},
        "coupon_sync_mode": "manual"
    })
}

/// A field or parameter name of the one contract: `a_z0_9`, not empty.
fn snake_case(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// 2xx answers that are text only (Prometheus' format): `(method, path, status)`.
const TEXT_ONLY: [(&str, &str, &str); 1] = [("get", "/metrics", "200")];

/// Every way a 2xx answer of `doc` is not typed, one line each: no JSON
/// schema (except the text answers above; the redirects, 302, are not
/// 2xx, and no 2xx answer is bodiless), a schema
/// without a type, an object without `properties` and without a typed
/// `additionalProperties` (a bare `Object`), a field that is not snake_case.
fn untyped_responses(doc: &Value) -> Vec<String> {
    let mut problems = Vec::new();
    for (path, ops) in doc["paths"].as_object().into_iter().flatten() {
        for (method, op) in ops.as_object().into_iter().flatten() {
            for (status, response) in op["responses"].as_object().into_iter().flatten() {
                if !status.starts_with('2') {
                    continue;
                }
                let at = format!("{method} {path} {status}");
                let content = response["content"].as_object();
                let Some(content) = content.filter(|c| !c.is_empty()) else {
                    problems.push(format!("{at}: no body"));
                    continue;
                };
                let here = (method.as_str(), path.as_str(), status.as_str());
                if !content.contains_key("application/json") && !TEXT_ONLY.contains(&here) {
                    problems.push(format!("{at}: no application/json body"));
                }
                for (media, body) in content {
                    if media.starts_with("text/") {
                        continue;
                    }
                    let mut seen = Vec::new();
                    check_schema(
                        doc,
                        &body["schema"],
                        &format!("{at} {media}"),
                        &mut seen,
                        &mut problems,
                    );
                }
            }
        }
    }
    problems
}

fn check_schema(
    doc: &Value,
    schema: &Value,
    at: &str,
    seen: &mut Vec<String>,
    problems: &mut Vec<String>,
) {
    if let Some(reference) = schema["$ref"].as_str() {
        let Some(name) = reference.strip_prefix("#/components/schemas/") else {
            problems.push(format!("{at}: unresolvable $ref {reference}"));
            return;
        };
        if seen.iter().any(|s| s == name) {
            return;
        }
        seen.push(name.to_owned());
        let target = &doc["components"]["schemas"][name];
        if target.is_null() {
            problems.push(format!("{at}: $ref to a missing schema {name}"));
            return;
        }
        check_schema(doc, target, &format!("{at} > {name}"), seen, problems);
        return;
    }
    let mut composed = false;
    for key in ["oneOf", "anyOf", "allOf"] {
        for (n, part) in schema[key].as_array().into_iter().flatten().enumerate() {
            composed = true;
            check_schema(doc, part, &format!("{at} {key}[{n}]"), seen, problems);
        }
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if types.is_empty()
        && !composed
        && schema.get("enum").is_none()
        && schema.get("const").is_none()
    {
        problems.push(format!("{at}: no type ({schema})"));
        return;
    }
    if types.contains(&"object") || schema.get("properties").is_some() {
        match schema["properties"].as_object() {
            Some(properties) if !properties.is_empty() => {
                for (name, property) in properties {
                    if !snake_case(name) {
                        problems.push(format!("{at}.{name}: not snake_case"));
                    }
                    check_schema(doc, property, &format!("{at}.{name}"), seen, problems);
                }
            }
            _ => match &schema["additionalProperties"] {
                extra @ Value::Object(_) => {
                    check_schema(doc, extra, &format!("{at}{{*}}"), seen, problems);
                }
                _ => problems.push(format!("{at}: an object without properties")),
            },
        }
    }
    if types.contains(&"array") {
        check_schema(doc, &schema["items"], &format!("{at}[]"), seen, problems);
    }
}

#[test]
fn the_openapi_walker_finds_bare_objects_missing_bodies_and_camel_case() {
    let doc = json!({
        "paths": {"/a": {"get": {"responses": {
            "200": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}},
            "201": {"description": "nothing"},
            "203": {"content": {"text/csv": {"schema": {"type": "string"}}}},
            "400": {"description": "not a 2xx"}
        }}}},
        "components": {"schemas": {
            "A": {"type": "object", "properties": {
                "ok": {"type": "string"},
                "camelCase": {"type": "integer"},
                "bare": {"type": "object"},
                "map": {"type": "object", "additionalProperties": {"type": "string"}},
                "any": {},
                "list": {"type": "array", "items": {"type": "object"}},
                "maybe": {"oneOf": [{"type": "null"}, {"$ref": "#/components/schemas/A"}]}
            }}
        }}
    });
    let mut problems = untyped_responses(&doc);
    problems.sort();
    assert_eq!(
        problems,
        [
            "get /a 200 application/json > A.any: no type ({})",
            "get /a 200 application/json > A.bare: an object without properties",
            "get /a 200 application/json > A.camelCase: not snake_case",
            "get /a 200 application/json > A.list[]: an object without properties",
            "get /a 201: no body",
            "get /a 203: no application/json body",
        ]
    );
}

#[tokio::test]
async fn ops_routes_and_the_openapi_document_list_every_route() {
    let api = Api::start().await;
    let (s, body) = api.call(reqwest::Method::GET, "/healthz", None, None).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(body["status"], "ok");
    let (s, body) = api.call(reqwest::Method::GET, "/readyz", None, None).await;
    assert_eq!(s, StatusCode::OK, "{body}");
    assert_eq!(body["database"], "memory");
    // A known path with another method is 405 with `Allow`; an unknown one 404.
    let res = reqwest::Client::new()
        .delete(format!("{}/api/v1/programs", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        res.headers().get("allow").and_then(|v| v.to_str().ok()),
        Some("GET, POST")
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "method_not_allowed");
    let (s, body) = api
        .call(reqwest::Method::GET, "/api/v1/nothing-here", None, None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    let (s, doc) = api
        .call(reqwest::Method::GET, "/openapi.json", None, None)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let p = "/api/v1/integrations/stripe-connect";
    let required = [
        ("post", format!("{p}/accounts")),
        ("get", format!("{p}/accounts/{{account_id}}")),
        (
            "post",
            format!("{p}/accounts/{{account_id}}/onboarding-link"),
        ),
        (
            "post",
            format!("{p}/accounts/{{account_id}}/dashboard-link"),
        ),
        ("post", format!("{p}/payments")),
        (
            "post",
            format!("{p}/payments/{{payment_intent_id}}/capture"),
        ),
        ("post", format!("{p}/payments/{{payment_intent_id}}/refund")),
        ("post", format!("{p}/transfers")),
        ("post", format!("{p}/transfers/{{transfer_id}}/reverse")),
        (
            "get",
            format!("{p}/accounts/{{account_id}}/payouts/schedule"),
        ),
        (
            "put",
            format!("{p}/accounts/{{account_id}}/payouts/schedule"),
        ),
        ("get", format!("{p}/accounts/{{account_id}}/payouts")),
        ("get", format!("{p}/fees")),
        ("put", format!("{p}/fees")),
        ("get", format!("{p}/balance")),
        ("get", format!("{p}/accounts/{{account_id}}/balance")),
        ("get", format!("{p}/disputes")),
        ("post", format!("{p}/disputes/{{dispute_id}}/evidence")),
        ("post", "/api/v1/programs".to_owned()),
        ("put", "/api/v1/programs/{program_id}".to_owned()),
        ("get", "/api/v1/stripe-connect/authorize".to_owned()),
        ("get", "/api/v1/stripe-connect/callback".to_owned()),
        ("get", "/api/v1/stripe-connect".to_owned()),
        ("post", "/api/v1/programs/{program_id}/partners".to_owned()),
        ("get", "/api/v1/memberships/{membership_id}".to_owned()),
        (
            "post",
            "/api/v1/memberships/{membership_id}/onboarding-link".to_owned(),
        ),
        (
            "post",
            "/api/v1/memberships/{membership_id}/dashboard-link".to_owned(),
        ),
        (
            "post",
            "/api/v1/memberships/{membership_id}/refresh".to_owned(),
        ),
        (
            "post",
            "/api/v1/memberships/{membership_id}/coupons".to_owned(),
        ),
        (
            "post",
            "/api/v1/programs/{program_id}/conversions".to_owned(),
        ),
        ("get", "/api/v1/commissions".to_owned()),
        (
            "post",
            "/api/v1/commissions/{commission_id}/hold".to_owned(),
        ),
        (
            "post",
            "/api/v1/commissions/{commission_id}/release".to_owned(),
        ),
        (
            "post",
            "/api/v1/commissions/{commission_id}/reject".to_owned(),
        ),
        (
            "post",
            "/api/v1/programs/{program_id}/periods/{period}/finalize".to_owned(),
        ),
        ("post", "/api/v1/programs/{program_id}/batches".to_owned()),
        ("get", "/api/v1/batches/{batch_id}".to_owned()),
        ("get", "/api/v1/batches/{batch_id}/manifest".to_owned()),
        ("post", "/api/v1/batches/{batch_id}/approve".to_owned()),
        ("post", "/api/v1/batches/{batch_id}/execute".to_owned()),
        ("get", "/api/v1/batches/{batch_id}/items".to_owned()),
        ("post", "/api/v1/items/{item_id}/retry".to_owned()),
        ("post", "/api/v1/batches/{batch_id}/refresh".to_owned()),
        ("get", "/api/v1/partners/{partner_id}/payouts".to_owned()),
        ("get", "/api/v1/partners/{partner_id}/tax/{year}".to_owned()),
        ("get", "/api/v1/reports/tax/{year}".to_owned()),
        (
            "get",
            "/api/v1/partners/{partner_id}/statements/{item_id}".to_owned(),
        ),
        (
            "get",
            "/api/v1/partners/{partner_id}/statements/months/{period}".to_owned(),
        ),
        ("post", "/api/v1/webhook-endpoints".to_owned()),
        ("get", "/api/v1/webhook-endpoints".to_owned()),
        ("get", "/api/v1/webhook-endpoints/{endpoint_id}".to_owned()),
        (
            "delete",
            "/api/v1/webhook-endpoints/{endpoint_id}".to_owned(),
        ),
        (
            "post",
            "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret".to_owned(),
        ),
        ("get", "/api/v1/notification-deliveries".to_owned()),
        (
            "post",
            "/api/v1/notifications/{notification_id}/replay".to_owned(),
        ),
        ("get", "/api/v1/audit-events".to_owned()),
        ("post", "/webhooks/stripe".to_owned()),
        ("get", "/healthz".to_owned()),
        ("get", "/readyz".to_owned()),
        ("get", "/metrics".to_owned()),
    ];
    for (method, path) in &required {
        let op = &doc["paths"][path][method];
        assert!(op.is_object(), "openapi.json lacks {method} {path}");
        if path.starts_with("/api/") && path != "/api/v1/stripe-connect/callback" {
            let text = op["description"].as_str().unwrap_or_default().to_owned()
                + op["summary"].as_str().unwrap_or_default();
            assert!(
                text.contains("Roles:"),
                "{method} {path} does not name its roles"
            );
        }
    }
    // One contract: every documented field and path parameter is snake_case,
    // and a path parameter names one kind of id.
    let snake = snake_case;
    // Every 2xx answer is typed, all the way down.
    let mut untyped = untyped_responses(&doc);
    // So is every named schema, request bodies included (Stripe's webhook
    // event, an inline `Object`, is the one untyped body).
    for (name, def) in doc["components"]["schemas"].as_object().unwrap() {
        check_schema(&doc, def, name, &mut Vec::new(), &mut untyped);
    }
    assert!(
        untyped.is_empty(),
        "untyped answers or schemas:\n{}",
        untyped.join("\n")
    );
    for (schema, def) in doc["components"]["schemas"].as_object().unwrap() {
        for field in def["properties"].as_object().into_iter().flatten() {
            assert!(snake(field.0), "{schema}.{} is not snake_case", field.0);
        }
        for variant in def["oneOf"].as_array().into_iter().flatten() {
            for field in variant["properties"].as_object().into_iter().flatten() {
                assert!(snake(field.0), "{schema}.{} is not snake_case", field.0);
            }
        }
    }
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for param in path.split('/').filter_map(|seg| seg.strip_prefix('{')) {
            let param = param.trim_end_matches('}');
            assert!(snake(param), "{path}: {param} is not snake_case");
        }
        if path.starts_with("/api/v1/partners/") {
            assert!(
                path.starts_with("/api/v1/partners/{partner_id}/"),
                "{path}: /partners/ takes a partner id"
            );
        }
        if path.starts_with("/api/v1/memberships/") {
            assert!(
                path.starts_with("/api/v1/memberships/{membership_id}"),
                "{path}: /memberships/ takes a membership id"
            );
        }
        assert!(ops.is_object());
    }
    let enrolled = &doc["paths"]["/api/v1/programs/{program_id}/partners"]["post"]["responses"]["201"]
        ["content"]["application/json"]["schema"]["$ref"];
    assert_eq!(enrolled, "#/components/schemas/MembershipView");
    for field in ["id", "partner_id"] {
        assert!(
            doc["components"]["schemas"]["MembershipView"]["properties"][field].is_object(),
            "the enrollment answer documents {field}"
        );
    }
    for (schema, field) in [
        ("ProgramView", "minimum_payout"),
        ("ProgramView", "auto_payout_cap"),
    ] {
        let text = doc["components"]["schemas"][schema]["properties"][field].to_string();
        assert!(
            text.contains("MoneyDto"),
            "{schema}.{field} is money: {text}"
        );
    }
    let (s, _) = api.call(reqwest::Method::GET, "/docs/", None, None).await;
    assert_eq!(s, StatusCode::OK);

    // Requests so far are counted by route pattern.
    let res = api
        .http
        .get(format!("{}/metrics", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            "payouts_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1"
        ),
        "{text}"
    );
    assert!(text.contains("payouts_stripe_calls_total{outcome=\"ok\"}"));
    assert!(text.contains("# TYPE payouts_batch_items gauge"));
    api.stop().await;
}

#[tokio::test]
async fn auth_answers_401_403_and_another_merchants_ids_404() {
    let api = Api::start().await;
    let (s, body) = api
        .call(reqwest::Method::GET, "/api/v1/programs", None, None)
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], "unauthorized");

    let forged = JwtSecret::new("another-secret-another-secret-another-s")
        .unwrap()
        .mint(&claims(
            "x",
            vec![Role::SuperAdmin],
            &MerchantId::parse("m_a".to_owned()).unwrap(),
            None,
            time::OffsetDateTime::now_utc(),
            time::Duration::hours(1),
        ))
        .unwrap();
    let (s, _) = api.get("/api/v1/programs", &forged).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    let expired = api
        .jwt
        .mint(&claims(
            "x",
            vec![Role::TenantAdmin],
            &MerchantId::parse("m_a".to_owned()).unwrap(),
            None,
            time::OffsetDateTime::now_utc() - time::Duration::hours(3),
            time::Duration::hours(1),
        ))
        .unwrap();
    let (s, _) = api.get("/api/v1/programs", &expired).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);

    // A partner may not create programs; pos_staff may not change fees.
    let partner = api.token(
        &[Role::Partner],
        "m_a",
        Some(PartnerId::from(uuid::Uuid::new_v4())),
    );
    let (s, body) = api.post("/api/v1/programs", &partner, program_body()).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert_eq!(body["error"]["code"], "forbidden");
    let pos = api.token(&[Role::PosStaff], "m_a", None);
    let (s, _) = api
        .call(
            reqwest::Method::PUT,
            "/api/v1/integrations/stripe-connect/fees",
            Some(&pos),
            Some(json!({"default_fee_percent": 2.9, "default_fee_fixed": 30})),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Merchant A's program is invisible to merchant B.
    let (s, program) = api
        .post("/api/v1/programs", &api.admin("m_a"), program_body())
        .await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let id = program["id"].as_str().unwrap();
    let (s, body) = api
        .get(&format!("/api/v1/programs/{id}"), &api.admin("m_b"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");
    let (s, _) = api
        .post(
            &format!("/api/v1/programs/{id}/batches"),
            &api.admin("m_b"),
            json!({"period": "2026-10"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // A platform role sees it.
    let platform = api.token(&[Role::PlatformAdmin], "ops", None);
    let (s, _) = api.get(&format!("/api/v1/programs/{id}"), &platform).await;
    assert_eq!(s, StatusCode::OK);

    // Another merchant's connected account is 404 too.
    let (s, acct) = api
        .post(
            "/api/v1/integrations/stripe-connect/accounts",
            &api.admin("m_a"),
            json!({"account_type": "express", "country": "US", "email": "owner@a.test"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acct}");
    let account = acct["account_id"].as_str().unwrap();
    assert!(acct["onboarding_url"].as_str().unwrap().starts_with("http"));
    let (s, body) = api
        .get(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}"),
            &api.admin("m_b"),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "account_not_found");
    let (s, view) = api
        .get(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}"),
            &api.admin("m_a"),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{view}");
    assert_eq!(view["merchant_id"], "m_a");
    assert_eq!(view["status"], "pending");
    api.stop().await;
}

#[tokio::test]
async fn bad_input_gets_clear_errors_and_changes_nothing() {
    let api = Api::start().await;
    let t = api.admin("m_a");
    let res = api
        .http
        .post(format!("{}/api/v1/programs", api.base))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["error"]["code"], "invalid_json");

    let res = api
        .http
        .post(format!("{}/api/v1/programs", api.base))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let mut bad = program_body();
    bad["auto_payout_policy"] = json!("sometimes");
    let (s, body) = api.post("/api/v1/programs", &t, bad).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "validation_error");
    assert_eq!(body["error"]["param"], "auto_payout_policy");

    let (s, body) = api.get("/api/v1/programs/not-a-uuid", &t).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, body) = api.get("/api/v1/commissions?limit=101", &t).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["param"], "limit");
    let (s, body) = api.get("/api/v1/nowhere", &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], "not_found");

    // Refunding with a malformed optional body is refused, not ignored.
    let res = api
        .http
        .post(format!(
            "{}/api/v1/integrations/stripe-connect/payments/pi_123/refund",
            api.base
        ))
        .bearer_auth(&t)
        .header("content-type", "application/json")
        .body("{\"amount\": \"lots\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);

    // Nothing was created by any of that.
    let (s, list) = api.get("/api/v1/programs", &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    assert_eq!(list["has_more"], false);
    api.stop().await;
}

#[tokio::test]
async fn idempotency_keys_replay_and_refuse_a_different_body() {
    let api = Api::start().await;
    let t = api.admin("m_a");
    let send = |body: Value, key: &'static str| {
        api.http
            .post(format!("{}/api/v1/programs", api.base))
            .bearer_auth(&t)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(program_body(), "k-1").await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: Value = first.json().await.unwrap();
    let again = send(program_body(), "k-1").await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    let again: Value = again.json().await.unwrap();
    assert_eq!(first, again);

    let mut other = program_body();
    other["name"] = json!("Autumn");
    let conflict = send(other, "k-1").await.unwrap();
    assert_eq!(conflict.status(), StatusCode::CONFLICT);
    let body: Value = conflict.json().await.unwrap();
    assert_eq!(body["error"]["code"], "idempotency_conflict");

    let (_, list) = api.get("/api/v1/programs", &t).await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one program, not two"
    );

    // The same key from another merchant is another key.
    let res = api
        .http
        .post(format!("{}/api/v1/programs", api.base))
        .bearer_auth(api.admin("m_b"))
        .header("Idempotency-Key", "k-1")
        .json(&program_body())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    assert!(res.headers().get("idempotent-replayed").is_none());
    api.stop().await;
}

#[tokio::test]
async fn platform_payments_transfers_fees_and_balances() {
    let api = Api::start().await;
    let t = api.token(&[Role::PaymentAdmin], "m_a", None);
    let (s, acct) = api
        .post(
            "/api/v1/integrations/stripe-connect/accounts",
            &t,
            json!({"merchant_id": "m_a", "account_type": "express", "country": "US",
                   "email": "owner@a.test", "business_profile": {"name": "Downtown Grill", "mcc": "5812"},
                   "capabilities": {"card_payments": true, "transfers": true}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{acct}");
    let account = acct["account_id"].as_str().unwrap().to_owned();
    let (s, body) = api
        .post(
            "/api/v1/integrations/stripe-connect/accounts",
            &t,
            json!({"account_type": "galactic"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["code"], "invalid_account_type");
    // Someone else's merchant id is refused for a merchant role.
    let (s, _) = api
        .post(
            "/api/v1/integrations/stripe-connect/accounts",
            &t,
            json!({"merchant_id": "m_b"}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The dashboard link needs a finished onboarding.
    let (s, body) = api
        .post(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}/dashboard-link"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"]["code"], "account_not_onboarded");
    api.sb.complete_onboarding(&account).unwrap();
    let (s, link) = api
        .post(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}/dashboard-link"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{link}");
    assert!(link["url"].as_str().unwrap().starts_with("http"));

    // Fees: a platform admin sets them; a payment without a fee gets the schedule's.
    let platform = api.token(&[Role::PlatformAdmin], "ops", None);
    let (s, fees) = api
        .call(
            reqwest::Method::PUT,
            "/api/v1/integrations/stripe-connect/fees",
            Some(&platform),
            Some(json!({
                "default_fee_percent": 2.9, "default_fee_fixed": 30,
                "fee_tiers": [],
                "per_merchant_overrides": [{"merchant_id": "m_a", "fee_percent": 2.0, "fee_fixed": 20, "reason": "Enterprise"}]
            })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{fees}");
    let (s, mine) = api
        .get("/api/v1/integrations/stripe-connect/fees", &t)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(mine["per_merchant_overrides"].as_array().unwrap().len(), 1);

    let (s, pi) = api
        .post(
            "/api/v1/integrations/stripe-connect/payments",
            &t,
            json!({"account_id": account, "amount": 2500, "currency": "usd", "order_id": "ord_1",
                   "payment_method_types": ["card"], "capture_method": "manual",
                   "payment_method": "pm_card_visa", "confirm": true}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{pi}");
    // 2.0% of 2500 = 50, + 20 fixed = 70 (the merchant's override).
    assert_eq!(pi["application_fee"], 70);
    assert_eq!(pi["destination_amount"], 2430);
    let pi_id = pi["payment_intent_id"].as_str().unwrap().to_owned();
    let (s, captured) = api
        .post(
            &format!("/api/v1/integrations/stripe-connect/payments/{pi_id}/capture"),
            &t,
            json!({"amount_to_capture": 2500}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{captured}");
    assert_eq!(captured["status"], "succeeded");
    // Capturing it again is Stripe's 400, shown as Stripe gave it, not a 502.
    let (s, again) = api
        .post(
            &format!("/api/v1/integrations/stripe-connect/payments/{pi_id}/capture"),
            &t,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{again}");
    assert_eq!(again["error"]["type"], "invalid_request_error");
    assert_ne!(again["error"]["code"], "stripe_error");
    let message = again["error"]["message"].as_str().unwrap();
    assert!(
        !message.contains("HTTP 400") && !message.is_empty(),
        "{again}"
    );
    let (s, refund) = api
        .post(
            &format!("/api/v1/integrations/stripe-connect/payments/{pi_id}/refund"),
            &t,
            json!({"amount": 500, "reason": "customer_request", "refund_application_fee": true}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{refund}");
    assert_eq!(refund["amount"], 500);
    assert_eq!(refund["currency"], "usd");
    assert_eq!(refund["status"], "succeeded");
    // The fee share refunded: 70 × 500 / 2500, worked out by the engine.
    assert_eq!(refund["application_fee_refunded"], 14, "{refund}");

    // Transfers need a platform balance.
    api.sb
        .set_balance(stripe_sandbox::SetBalance {
            account: None,
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let (s, tr) = api
        .post(
            "/api/v1/integrations/stripe-connect/transfers",
            &t,
            json!({"account_id": account, "amount": 10000, "currency": "usd", "description": "Weekly tip payout"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{tr}");
    let tr_id = tr["transfer_id"].as_str().unwrap().to_owned();
    let (s, rev) = api
        .post(
            &format!("/api/v1/integrations/stripe-connect/transfers/{tr_id}/reverse"),
            &t,
            json!({"amount": 5000, "description": "Partial reversal"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rev}");
    assert_eq!(rev["amount"], 5000);
    assert_eq!(rev["currency"], "usd");
    assert_eq!(rev["amount_reversed"], 5000);
    assert_eq!(rev["reversed"], false);

    let (s, bal) = api
        .get(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}/balance"),
            &t,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{bal}");
    assert!(bal["available"].is_array());
    let (s, _) = api
        .get("/api/v1/integrations/stripe-connect/balance", &t)
        .await;
    assert_eq!(
        s,
        StatusCode::FORBIDDEN,
        "the platform balance is for platform roles"
    );
    let (s, _) = api
        .get("/api/v1/integrations/stripe-connect/balance", &platform)
        .await;
    assert_eq!(s, StatusCode::OK);

    let (s, sched) = api
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}/payouts/schedule"),
            Some(&t),
            Some(json!({"interval": "weekly", "weekly_anchor": "friday", "delay_days": 2})),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{sched}");
    assert_eq!(sched["interval"], "weekly");
    assert_eq!(sched["anchor_day"], "friday");
    let (s, sched) = api
        .get(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}/payouts/schedule"),
            &t,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(sched["delay_days"], 2);
    let (s, payouts) = api
        .get(
            &format!("/api/v1/integrations/stripe-connect/accounts/{account}/payouts?limit=10"),
            &t,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{payouts}");
    assert!(payouts["data"].is_array());
    let (s, disputes) = api
        .get(
            &format!("/api/v1/integrations/stripe-connect/disputes?account_id={account}"),
            &t,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{disputes}");
    api.stop().await;
}

/// Every key of a JSON value, at every depth.
fn keys(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                out.push(k.clone());
                keys(v, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|v| keys(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn programs_speak_one_contract_snake_case_lowercase_currencies_minor_units() {
    let api = Api::start().await;
    let t = api.admin("m_a");

    // Seed 000's `autoPayoutCapUsd: 1000` is a cap of 100000 USD cents; upper
    // case currencies are accepted on input and written in lower case.
    let mut body = program_body();
    body["currency"] = json!("USD");
    body["minimum_payout"] = json!({"amount": 500, "currency": "USD"});
    let (s, p) = api.post("/api/v1/programs", &t, body).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["currency"], "usd");
    assert_eq!(
        p["minimum_payout"],
        json!({"amount": 500, "currency": "usd"})
    );
    assert_eq!(p["auto_payout_policy"], "auto_under_cap");
    assert_eq!(
        p["auto_payout_cap"],
        json!({"amount": 100_000, "currency": "usd"})
    );
    assert_eq!(p["holding_days"], 0);
    assert_eq!(p["coupon_sync_mode"], "manual");
    let mut names = Vec::new();
    keys(&p, &mut names);
    assert!(
        names
            .iter()
            .all(|k| !k.chars().any(|c| c.is_ascii_uppercase())),
        "{names:?}"
    );
    let id = p["id"].as_str().unwrap().to_owned();
    let (s, again) = api.get(&format!("/api/v1/programs/{id}"), &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(again, p);

    // A fixed commission is written next to its currency.
    let mut fixed = program_body();
    fixed["commission"] = json!({"type": "fixed", "amount": 1500});
    fixed["auto_payout_policy"] = json!("manual");
    let (s, f) = api.post("/api/v1/programs", &t, fixed).await;
    assert_eq!(s, StatusCode::CREATED, "{f}");
    assert_eq!(
        f["commission"],
        json!({"type": "fixed", "amount": 1500, "currency": "usd"})
    );
    assert!(f["auto_payout_cap"].is_null());

    // Mismatched and unknown currencies name their param.
    for (field, value, param) in [
        (
            "minimum_payout",
            json!({"amount": 500, "currency": "eur"}),
            "minimum_payout.currency",
        ),
        (
            "auto_payout_cap",
            json!({"amount": 500, "currency": "eur"}),
            "auto_payout_cap.currency",
        ),
        (
            "auto_payout_cap",
            json!({"amount": -1, "currency": "usd"}),
            "auto_payout_cap",
        ),
        (
            "commission",
            json!({"type": "fixed", "amount": 100, "currency": "gbp"}),
            "commission.currency",
        ),
        ("currency", json!("usdx"), "currency"),
    ] {
        let mut bad = program_body();
        bad[field] = value;
        let (s, e) = api.post("/api/v1/programs", &t, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {e}");
        assert_eq!(e["error"]["code"], "validation_error", "{e}");
        assert_eq!(e["error"]["param"], param, "{e}");
    }
    let mut no_cap = program_body();
    no_cap.as_object_mut().unwrap().remove("auto_payout_cap");
    let (s, e) = api.post("/api/v1/programs", &t, no_cap).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["param"], "auto_payout_cap");
    // Seed 000's camelCase names are refused, not ignored.
    let mut camel = program_body();
    camel["autoPayoutCapUsd"] = json!(1000);
    let (s, _) = api.post("/api/v1/programs", &t, camel).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);

    // The connection card is snake_case too.
    let (s, card) = api.get("/api/v1/stripe-connect", &t).await;
    assert_eq!(s, StatusCode::OK, "{card}");
    assert_eq!(card["stripe_account_status"], "not_connected");
    assert!(card.as_object().unwrap().contains_key("stripe_account_id"));
    assert!(card.as_object().unwrap().contains_key("stripe_oauth_scope"));
    assert!(
        card.as_object()
            .unwrap()
            .contains_key("stripe_oauth_granted_at")
    );

    // Enrollment answers the membership id and the partner id: the first
    // opens /memberships/{membership_id}, the second the partner's history.
    let (s, m) = api
        .post(
            &format!("/api/v1/programs/{id}/partners"),
            &t,
            json!({"email": "sarah@partners.test", "country": "US", "referral_key": "sarah"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let membership = m["id"].as_str().unwrap().to_owned();
    let partner = m["partner_id"].as_str().unwrap().to_owned();
    assert_ne!(membership, partner);
    let (s, got) = api
        .get(&format!("/api/v1/memberships/{membership}"), &t)
        .await;
    assert_eq!(s, StatusCode::OK, "{got}");
    assert_eq!(got["partner_id"], partner.as_str());
    let (s, history) = api
        .get(&format!("/api/v1/partners/{partner}/payouts"), &t)
        .await;
    assert_eq!(s, StatusCode::OK, "{history}");
    assert_eq!(history["data"], json!([]));
    let (s, tax) = api
        .get(&format!("/api/v1/partners/{partner}/tax/2026"), &t)
        .await;
    assert_eq!(s, StatusCode::OK, "{tax}");
    // The old membership routes under /partners/ are gone.
    let (s, _) = api.get(&format!("/api/v1/partners/{membership}"), &t).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Conversions and commissions carry lowercase currencies.
    let (s, c) = api
        .post(
            &format!("/api/v1/programs/{id}/conversions"),
            &t,
            json!({"external_id": "ord_1", "amount": 25_000, "currency": "USD", "referral_key": "sarah"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    assert_eq!(
        c["commission"]["amount"],
        json!({"amount": 5000, "currency": "usd"})
    );
    assert_eq!(c["conversion"]["amount"]["currency"], "usd");
    let (s, list) = api.get("/api/v1/commissions", &t).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"][0]["amount"]["currency"], "usd");
    api.stop().await;
}

/// Executing a batch whose program may not pay (here: the merchant never
/// connected Stripe) is refused with 409 `payouts_blocked` and the reason,
/// not accepted and then silently skipped; the batch stays approved.
#[tokio::test]
async fn execute_on_a_blocked_program_answers_409_payouts_blocked() {
    let api = Api::start().await;
    let admin = api.admin("m_blocked");
    let (s, program) = api.post("/api/v1/programs", &admin, program_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let id = program["id"].as_str().unwrap();
    let now = time::OffsetDateTime::now_utc().date();
    let period = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
    let (s, batch) = api
        .post(
            &format!("/api/v1/programs/{id}/batches"),
            &admin,
            json!({"period": period}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch"]["id"].as_str().unwrap().to_owned();
    if batch["batch"]["state"] == "draft" {
        let (s, body) = api
            .post(
                &format!("/api/v1/batches/{batch_id}/approve"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{body}");
    }
    let (s, body) = api
        .post(
            &format!("/api/v1/batches/{batch_id}/execute"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "payouts_blocked", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("connect")),
        "the reason is given: {body}"
    );
    let (_, after) = api
        .get(&format!("/api/v1/batches/{batch_id}"), &admin)
        .await;
    assert_eq!(
        after["batch"]["state"], "approved",
        "nothing started: {after}"
    );
    api.stop().await;
}

/// A webhook body over 64 KiB is refused with the JSON error shape (413
/// `payload_too_large`), like every other route's, not actix's plain text.
#[tokio::test]
async fn an_oversized_webhook_answers_413_in_json() {
    let api = Api::start().await;
    let body = format!(r#"{{"id":"evt_big","pad":"{}"}}"#, "x".repeat(70 * 1024));
    let res = api
        .http
        .post(format!("{}/webhooks/stripe", api.base))
        .header("stripe-signature", "t=1,v1=00")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let v: Value = res.json().await.unwrap();
    assert_eq!(v["error"]["code"], "payload_too_large", "{v}");
    assert_eq!(v["error"]["type"], "invalid_request_error", "{v}");
    api.stop().await;
}

/// A merchant cannot enroll another merchant's partner: the id is unknown
/// to it (404), and nothing is written; its own partner joins a second
/// program under the same `partner_id`.
#[tokio::test]
async fn another_merchants_partner_id_cannot_be_enrolled() {
    let api = Api::start().await;
    let (a, b) = (api.admin("m_a"), api.admin("m_b"));
    let program = |token: String| {
        let api = &api;
        async move {
            let (s, p) = api.post("/api/v1/programs", &token, program_body()).await;
            assert_eq!(s, StatusCode::CREATED, "{p}");
            p["id"].as_str().unwrap().to_owned()
        }
    };
    let (a1, a2, b1) = (
        program(a.clone()).await,
        program(a.clone()).await,
        program(b.clone()).await,
    );
    let enroll = |program: String, token: String, body: Value| {
        let api = &api;
        async move {
            api.post(
                &format!("/api/v1/programs/{program}/partners"),
                &token,
                body,
            )
            .await
        }
    };
    let (s, sarah) = enroll(
        a1,
        a.clone(),
        json!({"email": "sarah@partners.test", "country": "US", "referral_key": "sarah"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{sarah}");
    let partner_id = sarah["partner_id"].as_str().unwrap().to_owned();
    let (s, body) = enroll(
        b1.clone(),
        b.clone(),
        json!({"email": "sarah@partners.test", "country": "US", "referral_key": "sarah-b", "partner_id": partner_id}),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    assert_eq!(body["error"]["code"], "not_found", "{body}");
    let (_, members) = api
        .get(&format!("/api/v1/programs/{b1}/partners"), &b)
        .await;
    assert_eq!(
        members["data"].as_array().map(Vec::len),
        Some(0),
        "{members}"
    );
    let (s, again) = enroll(
        a2,
        a.clone(),
        json!({"email": "sarah@partners.test", "country": "US", "referral_key": "sarah-2", "partner_id": partner_id}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(again["partner_id"], partner_id.as_str());
    api.stop().await;
}

/// Out-of-range values are refused before they are stored: a conversion
/// from 1900 or two days ahead, or above Stripe's eight digits, answers 400
/// naming the field, and the merchant's commissions still list.
#[tokio::test]
async fn out_of_range_conversions_are_refused_and_listing_still_works() {
    let api = Api::start().await;
    let admin = api.admin("m_range");
    let (s, program) = api.post("/api/v1/programs", &admin, program_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let id = program["id"].as_str().unwrap();
    let (s, body) = api
        .post(
            &format!("/api/v1/programs/{id}/partners"),
            &admin,
            json!({"email": "tom@partners.test", "country": "US", "referral_key": "tom"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let path = format!("/api/v1/programs/{id}/conversions");
    let ahead = (time::OffsetDateTime::now_utc() + time::Duration::days(2))
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    for (n, (amount, occurred_at, param)) in [
        (1_000_i64, "1900-01-01T00:00:00Z".to_owned(), "occurred_at"),
        (1_000, ahead, "occurred_at"),
        (i64::MAX, "2026-11-02T00:00:00Z".to_owned(), "amount"),
        (100_000_000, "2026-11-02T00:00:00Z".to_owned(), "amount"),
    ]
    .into_iter()
    .enumerate()
    {
        let (s, body) = api
            .post(
                &path,
                &admin,
                json!({"external_id": format!("bad_{n}"), "amount": amount, "currency": "usd",
                       "referral_key": "tom", "occurred_at": occurred_at}),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{amount} {occurred_at}: {body}");
        assert_eq!(body["error"]["param"], param, "{body}");
    }
    // Stripe's largest amount is accepted.
    let (s, body) = api
        .post(
            &path,
            &admin,
            json!({"external_id": "max", "amount": 99_999_999, "currency": "usd", "referral_key": "tom"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{body}");
    let (s, list) = api
        .get(&format!("/api/v1/commissions?program_id={id}"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(
        list["data"].as_array().map(Vec::len),
        Some(1),
        "only the valid one: {list}"
    );
    // A period after the current month cannot be finalized.
    let (s, body) = api
        .post(
            &format!("/api/v1/programs/{id}/periods/9999-12/finalize"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "period", "{body}");
    api.stop().await;
}

/// Enrols and onboards a partner at the sandbox; returns (membership id,
/// Express account id).
async fn onboarded(api: &Api, admin: &str, program: &str, key: &str) -> (String, String) {
    let (s, m) = api
        .post(
            &format!("/api/v1/programs/{program}/partners"),
            admin,
            json!({"email": format!("{key}@partners.test"), "country": "US", "referral_key": key}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let (s, link) = api
        .post(
            &format!("/api/v1/memberships/{id}/onboarding-link"),
            admin,
            json!({"return_url": "https://p.test/done", "refresh_url": "https://p.test/again"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{link}");
    let (_, m) = api.get(&format!("/api/v1/memberships/{id}"), admin).await;
    let account = m["account_id"].as_str().unwrap().to_owned();
    api.sb.complete_onboarding(&account).unwrap();
    (id, account)
}

/// Holds over HTTP: a self-referral is created held, an operator holds a
/// pending commission by hand and rejects it, a bank account two partners
/// share at the sandbox (read through the real Stripe adapter) holds the
/// second partner's pending commission; holds list by reason in keyset
/// pages; wrong states answer 409, bad input 400, another merchant 404.
#[tokio::test]
async fn holds_are_listed_released_and_rejected() {
    let api = Api::start().await;
    let admin = api.admin("m_holds");
    let (s, program) = api.post("/api/v1/programs", &admin, program_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let program = program["id"].as_str().unwrap().to_owned();
    let (ann, ann_account) = onboarded(&api, &admin, &program, "ann").await;
    let (ben, ben_account) = onboarded(&api, &admin, &program, "ben").await;
    let path = format!("/api/v1/programs/{program}/conversions");
    let sale = |ext: &str, key: &str, email: Option<&str>| {
        let mut body =
            json!({"external_id": ext, "amount": 10_000, "currency": "usd", "referral_key": key});
        if let Some(e) = email {
            body["customer_email"] = json!(e);
        }
        body
    };

    // A colleague at the partner's own domain: held `self_referral`.
    let (s, r) = api
        .post(&path, &admin, sale("o1", "ann", Some("boss@Partners.test")))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["commission"]["state"]["state"], "on_hold", "{r}");
    assert_eq!(r["commission"]["state"]["reason"], "self_referral");
    assert!(r["commission"]["state"]["since"].is_string());
    let o1 = r["commission"]["id"].as_str().unwrap().to_owned();
    // A stranger at a public provider: pending.
    let (s, r) = api
        .post(&path, &admin, sale("o2", "ann", Some("ann@gmail.com")))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["commission"]["state"]["state"], "pending", "{r}");
    let o2 = r["commission"]["id"].as_str().unwrap().to_owned();
    // A malformed address: 400, nothing recorded.
    let (s, body) = api
        .post(&path, &admin, sale("o_bad", "ann", Some("ann@")))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "customer_email");

    // Hold by hand, again (a replay), then reject; a release is 409.
    let hold = format!("/api/v1/commissions/{o2}/hold");
    let (s, held) = api.post(&hold, &admin, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{held}");
    assert_eq!(held["state"]["reason"], "manual");
    let (s, again) = api.post(&hold, &admin, json!({})).await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(again["state"], held["state"]);
    let other = api.admin("m_other");
    let (s, body) = api
        .post(
            &format!("/api/v1/commissions/{o2}/reject"),
            &other,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let partner = api.token(&[Role::Partner], "m_holds", None);
    let (s, _) = api
        .post(
            &format!("/api/v1/commissions/{o2}/reject"),
            &partner,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, rejected) = api
        .post(
            &format!("/api/v1/commissions/{o2}/reject"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rejected}");
    assert_eq!(rejected["state"]["state"], "voided");
    assert_eq!(rejected["state"]["reason"], "rejected");
    assert_eq!(rejected["amount"]["amount"], 0);
    assert_eq!(rejected["original_amount"]["amount"], 2_000);
    let (s, body) = api
        .post(
            &format!("/api/v1/commissions/{o2}/release"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"]["code"], "invalid_state", "{body}");
    for (bad, status) in [
        ("not-a-uuid", StatusCode::BAD_REQUEST),
        (
            "00000000-0000-4000-8000-000000000000",
            StatusCode::NOT_FOUND,
        ),
    ] {
        let (s, body) = api
            .post(
                &format!("/api/v1/commissions/{bad}/release"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(s, status, "{bad}: {body}");
    }

    // Ben's pending sale; then Ann and Ben add one bank account at Stripe.
    let (_, r) = api.post(&path, &admin, sale("o3", "ben", None)).await;
    assert_eq!(r["commission"]["state"]["state"], "pending", "{r}");
    let o3 = r["commission"]["id"].as_str().unwrap().to_owned();
    for account in [&ann_account, &ben_account] {
        api.sb
            .set_external_account(
                account,
                stripe_sandbox::ExternalAccountRequest {
                    fingerprint: "fp_shared_1".to_owned(),
                    last4: None,
                },
            )
            .unwrap();
    }
    for m in [&ann, &ben] {
        let (s, view) = api
            .post(
                &format!("/api/v1/memberships/{m}/refresh"),
                &admin,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{view}");
        assert_eq!(view["bank_fingerprint"], "fp_shared_1", "{view}");
    }
    let (_, list) = api
        .get("/api/v1/commissions?hold_reason=duplicate_account", &admin)
        .await;
    let ids: Vec<&str> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [o3.as_str()], "{list}");

    // The holds, one page at a time.
    let (s, page) = api
        .get("/api/v1/commissions?state=on_hold&limit=1", &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{page}");
    assert_eq!(page["has_more"], true);
    let first = page["data"][0]["id"].as_str().unwrap().to_owned();
    let (_, page) = api
        .get(
            &format!("/api/v1/commissions?state=on_hold&limit=1&starting_after={first}"),
            &admin,
        )
        .await;
    assert_eq!(page["has_more"], false);
    let mut both = vec![first, page["data"][0]["id"].as_str().unwrap().to_owned()];
    both.sort();
    let mut expected = vec![o1.clone(), o3.clone()];
    expected.sort();
    assert_eq!(both, expected);
    for bad in ["state=held", "hold_reason=fraud"] {
        let (s, body) = api.get(&format!("/api/v1/commissions?{bad}"), &admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    // Release Ben's: pending again.
    let (s, released) = api
        .post(
            &format!("/api/v1/commissions/{o3}/release"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{released}");
    assert_eq!(released["state"]["state"], "pending");
    api.stop().await;
}

/// Every answer carries a `Request-Id`: the caller's when it is sane (1 to
/// 200 visible ASCII characters), else a new `req_…`; errors, 404s and
/// 405s included.
#[tokio::test]
async fn every_answer_carries_a_request_id() {
    let api = Api::start().await;
    let admin = api.admin("merchant_rid");
    let send = |method: reqwest::Method, path: &str, id: Option<&str>, token: bool| {
        let mut req = api.http.request(method, format!("{}{path}", api.base));
        if let Some(id) = id {
            req = req.header("Request-Id", id);
        }
        if token {
            req = req.bearer_auth(&admin);
        }
        req.send()
    };
    let id_of = |res: &reqwest::Response| {
        res.headers()
            .get("request-id")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let cases: [(reqwest::Method, &str, bool, StatusCode); 6] = [
        (reqwest::Method::GET, "/healthz", false, StatusCode::OK),
        (
            reqwest::Method::GET,
            "/api/v1/programs",
            true,
            StatusCode::OK,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/programs",
            false,
            StatusCode::UNAUTHORIZED,
        ),
        (
            reqwest::Method::GET,
            "/api/v1/nothing-here",
            true,
            StatusCode::NOT_FOUND,
        ),
        (
            reqwest::Method::DELETE,
            "/api/v1/programs",
            true,
            StatusCode::METHOD_NOT_ALLOWED,
        ),
        (
            reqwest::Method::POST,
            "/webhooks/stripe",
            false,
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, path, token, status) in cases {
        // The caller's own id comes back as it was sent.
        let res = send(method.clone(), path, Some("caller-id_42.x"), token)
            .await
            .unwrap();
        assert_eq!(res.status(), status, "{method} {path}");
        assert_eq!(
            id_of(&res).as_deref(),
            Some("caller-id_42.x"),
            "{method} {path}"
        );
        // Without one, or with one that is not sane, a new one.
        let long = "x".repeat(201);
        for given in [None, Some("with space"), Some(long.as_str())] {
            let res = send(method.clone(), path, given, token).await.unwrap();
            assert_eq!(res.status(), status, "{method} {path}");
            let id = id_of(&res).unwrap_or_default();
            assert!(
                id.starts_with("req_") && id.len() == 36,
                "{method} {path} {given:?}: {id:?}"
            );
        }
    }
    let a = id_of(
        &send(reqwest::Method::GET, "/healthz", None, false)
            .await
            .unwrap(),
    );
    let b = id_of(
        &send(reqwest::Method::GET, "/healthz", None, false)
            .await
            .unwrap(),
    );
    assert_ne!(a, b, "each request its own id");
    api.stop().await;
}

/// `GET /api/v1/programs` pages like every list: `limit`, `starting_after`,
/// `has_more`, one merchant's programs only, and a bad cursor is a 400.
#[tokio::test]
async fn programs_are_listed_in_keyset_pages() {
    let api = Api::start().await;
    let (a, b) = (api.admin("m_pages"), api.admin("m_other"));
    let mut created = Vec::new();
    for _ in 0..3 {
        let (s, p) = api.post("/api/v1/programs", &a, program_body()).await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        created.push(p["id"].as_str().unwrap().to_owned());
    }
    let (s, _) = api.post("/api/v1/programs", &b, program_body()).await;
    assert_eq!(s, StatusCode::CREATED);

    let (s, first) = api.get("/api/v1/programs?limit=2", &a).await;
    assert_eq!(s, StatusCode::OK, "{first}");
    let ids = |page: &Value| -> Vec<String> {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let first_ids = ids(&first);
    assert_eq!(first_ids.len(), 2, "{first}");
    assert_eq!(first["has_more"], true);
    let (s, second) = api
        .get(
            &format!("/api/v1/programs?limit=2&starting_after={}", first_ids[1]),
            &a,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{second}");
    let second_ids = ids(&second);
    assert_eq!(second_ids.len(), 1, "{second}");
    assert_eq!(second["has_more"], false);
    let mut all: Vec<String> = first_ids.into_iter().chain(second_ids).collect();
    all.sort();
    created.sort();
    assert_eq!(
        all, created,
        "every program of the merchant once, no other's"
    );

    let (s, e) = api.get("/api/v1/programs?starting_after=nope", &a).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    let (s, e) = api.get("/api/v1/programs?limit=0", &a).await;
    assert!(s.is_client_error(), "{s} {e}");
    api.stop().await;
}

/// Issue 14, item 12: merchants manage their webhook endpoints (create,
/// list, get, rotate the secret, delete), list their delivery attempts
/// with status and response code, and replay a notification; bad input is
/// a 4xx before anything is stored, and another merchant's ids are 404.
#[tokio::test]
async fn webhook_endpoints_deliveries_and_replay() {
    use payouts_domain::notification::{DeliveryState, Notification, NotificationKind, Recipient};

    let api = Api::start().await;
    let mine = api.admin("m_hooks");
    let theirs = api.admin("m_other");
    let manager = api.token(&[Role::Manager], "m_hooks", None);
    let post = |path: &'static str, token: String, body: Value| {
        let api = &api;
        async move {
            api.call(reqwest::Method::POST, path, Some(&token), Some(body))
                .await
        }
    };

    // Bad URLs are refused with a clear 400, and nothing is stored.
    for bad in ["ftp://hooks.test/x", "not a url", "https://", ""] {
        let (s, body) = post(
            "/api/v1/webhook-endpoints",
            mine.clone(),
            json!({ "url": bad }),
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["code"], "validation_error");
        assert_eq!(body["error"]["param"], "url");
    }
    let (s, body) = post(
        "/api/v1/webhook-endpoints",
        mine.clone(),
        json!({ "url": "https://hooks.test/x", "extra": 1 }),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, list) = api.get("/api/v1/webhook-endpoints", &mine).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"], json!([]));
    // Only admins manage endpoints.
    let (s, _) = post(
        "/api/v1/webhook-endpoints",
        manager.clone(),
        json!({ "url": "https://hooks.test/x" }),
    )
    .await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Create: the secret is shown once.
    let (s, created) = post(
        "/api/v1/webhook-endpoints",
        mine.clone(),
        json!({ "url": "https://hooks.test/payouts", "description": "ops" }),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(created["object"], "webhook_endpoint");
    assert_eq!(created["merchant_id"], "m_hooks");
    assert_eq!(created["url"], "https://hooks.test/payouts");
    assert_eq!(created["description"], "ops");
    let secret = created["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    let id = created["id"].as_str().unwrap().to_owned();
    let one = format!("/api/v1/webhook-endpoints/{id}");
    let (s, list) = api.get("/api/v1/webhook-endpoints", &mine).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
    assert_eq!(list["data"][0]["id"], id.as_str());
    assert_eq!(list["data"][0]["secret"], Value::Null);
    assert_eq!(list["has_more"], false);
    let (s, got) = api.get(&one, &mine).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(got["secret"], Value::Null);
    assert_eq!(got["previous_secret_expires_at"], Value::Null);

    // Another merchant sees nothing and touches nothing: 404.
    let (s, list) = api.get("/api/v1/webhook-endpoints", &theirs).await;
    assert_eq!((s, list["data"].clone()), (StatusCode::OK, json!([])));
    let (s, body) = api.get(&one, &theirs).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let rotate = format!("{one}/rotate-secret");
    let (s, _) = api
        .call(
            reqwest::Method::POST,
            &rotate,
            Some(&theirs),
            Some(json!({})),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = api
        .call(reqwest::Method::DELETE, &one, Some(&theirs), None)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, body) = api.get("/api/v1/webhook-endpoints/not-an-id", &mine).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");

    // Rotate: a new secret; the old one signs for the overlap.
    let (s, body) = api
        .call(
            reqwest::Method::POST,
            &rotate,
            Some(&mine),
            Some(json!({ "expires_in_hours": 169 })),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "expires_in_hours");
    let (s, rotated) = api
        .call(
            reqwest::Method::POST,
            &rotate,
            Some(&mine),
            Some(json!({ "expires_in_hours": 2 })),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap();
    assert!(new_secret.starts_with("whsec_"));
    assert_ne!(new_secret, secret);
    assert!(rotated["previous_secret_expires_at"].is_string());
    // Without a body: the default overlap.
    let res = api
        .http
        .post(format!("{}{rotate}", api.base))
        .bearer_auth(&mine)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // A notification to this merchant fails once: its attempt is listed
    // with status and response code, and it can be replayed.
    let now = time::OffsetDateTime::now_utc();
    let merchant = MerchantId::parse("m_hooks".to_owned()).unwrap();
    let n = Notification {
        id: payouts_domain::ids::NotificationId::from_uuid(uuid::Uuid::new_v4()),
        merchant_id: merchant.clone(),
        kind: NotificationKind::MerchantAccountInactive,
        recipient: Recipient::Merchant(merchant.clone()),
        dedupe_key: "api-test:1".to_owned(),
        payload: json!({}),
        created_at: now,
        delivery: DeliveryState::new_at(now),
    };
    api.engine
        .store()
        .enqueue(std::slice::from_ref(&n))
        .await
        .unwrap();
    let notifier = payouts_domain::memory::RecordingNotifier::default();
    notifier.set_failing(true);
    let report = api
        .engine
        .dispatch_notifications(&notifier, 10)
        .await
        .unwrap();
    assert_eq!(report.failed, 1);
    let (s, deliveries) = api
        .get("/api/v1/notification-deliveries?status=failed", &manager)
        .await;
    assert_eq!(s, StatusCode::OK, "{deliveries}");
    let d = &deliveries["data"][0];
    assert_eq!(d["object"], "notification_delivery");
    assert_eq!(d["notification_id"], n.id.to_string());
    assert_eq!(d["notification_type"], "merchant_account_inactive");
    assert_eq!(d["endpoint_id"], id.as_str());
    assert_eq!(d["url"], "https://hooks.test/payouts");
    assert_eq!(d["status"], "failed");
    assert_eq!(d["response_status"], 500);
    let (s, none) = api
        .get("/api/v1/notification-deliveries?status=succeeded", &mine)
        .await;
    assert_eq!((s, none["data"].clone()), (StatusCode::OK, json!([])));
    let (s, body) = api
        .get("/api/v1/notification-deliveries?status=bogus", &mine)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "status");
    let (s, body) = api
        .get("/api/v1/notification-deliveries?limit=0", &mine)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, other) = api.get("/api/v1/notification-deliveries", &theirs).await;
    assert_eq!((s, other["data"].clone()), (StatusCode::OK, json!([])));

    let replay = format!("/api/v1/notifications/{}/replay", n.id);
    let (s, _) = post_path(&api, &replay, &theirs).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = post_path(&api, &replay, &manager).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, body) = post_path(
        &api,
        &format!("/api/v1/notifications/{}/replay", uuid::Uuid::new_v4()),
        &mine,
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{body}");
    let (s, body) = post_path(&api, "/api/v1/notifications/nope/replay", &mine).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    let (s, replayed) = post_path(&api, &replay, &mine).await;
    assert_eq!(s, StatusCode::OK, "{replayed}");
    assert_eq!(replayed["object"], "notification");
    assert_eq!(replayed["type"], "merchant_account_inactive");
    assert_eq!(replayed["delivery_state"], "pending");
    assert_eq!(replayed["attempts"], 0);
    assert!(replayed["next_attempt_at"].is_string());

    // Delete: final.
    let (s, deleted) = api
        .call(reqwest::Method::DELETE, &one, Some(&mine), None)
        .await;
    assert_eq!(s, StatusCode::OK, "{deleted}");
    assert_eq!(
        deleted,
        json!({ "id": id, "object": "webhook_endpoint", "deleted": true })
    );
    let (s, _) = api.get(&one, &mine).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    api.stop().await;
}

async fn post_path(api: &Api, path: &str, token: &str) -> (StatusCode, Value) {
    api.call(reqwest::Method::POST, path, Some(token), None)
        .await
}

/// Reconciliation: clean for a batch with nothing at Stripe; a transfer
/// created at Stripe behind our back under the batch's group is reported
/// (JSON and CSV); another merchant's ids answer 404; bad scopes 400.
#[tokio::test]
async fn reconciliation_reports_in_json_and_csv_and_refuses_bad_scopes() {
    let api = Api::start().await;
    let admin = api.admin("m_recon");
    let (s, program) = api.post("/api/v1/programs", &admin, program_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    let program_id = program["id"].as_str().unwrap().to_owned();
    let now = time::OffsetDateTime::now_utc().date();
    let period = format!("{:04}-{:02}", now.year(), u8::from(now.month()));
    let (s, batch) = api
        .post(
            &format!("/api/v1/programs/{program_id}/batches"),
            &admin,
            json!({"period": period}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{batch}");
    let batch_id = batch["batch"]["id"].as_str().unwrap().to_owned();

    let by_program =
        format!("/api/v1/reports/reconciliation?program_id={program_id}&period={period}");
    let (s, clean) = api.get(&by_program, &admin).await;
    assert_eq!(s, StatusCode::OK, "{clean}");
    assert_eq!(clean["clean"], true, "{clean}");
    assert_eq!(clean["lines"], json!([]));
    assert_eq!(clean["batches"], json!([batch_id]));
    assert_eq!(clean["ledger"]["balanced"], true);
    assert_eq!(clean["period"], period.as_str());

    // A partner's account, and a transfer into it from the merchant's
    // balance (here the platform's: the merchant never connected) under the
    // batch's group, made at Stripe behind our back.
    let stripe = |path: &str| {
        api.http
            .post(format!("{}{path}", api.sb.base_url()))
            .bearer_auth("sk_test_api")
    };
    let account: Value = stripe("/v1/accounts")
        .form(&[
            ("type", "express"),
            ("country", "US"),
            ("capabilities[transfers][requested]", "true"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let account = account["id"].as_str().unwrap().to_owned();
    api.sb.complete_onboarding(&account).unwrap();
    api.sb
        .set_balance(stripe_sandbox::SetBalance {
            account: None,
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let group = format!("batch_{batch_id}");
    let oob: Value = stripe("/v1/transfers")
        .form(&[
            ("amount", "4321"),
            ("currency", "usd"),
            ("destination", account.as_str()),
            ("transfer_group", group.as_str()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let oob_id = oob["id"].as_str().unwrap().to_owned();

    let by_batch = format!("/api/v1/reports/reconciliation?batch_id={batch_id}");
    let (s, report) = api.get(&by_batch, &admin).await;
    assert_eq!(s, StatusCode::OK, "{report}");
    assert_eq!(report["clean"], false);
    assert_eq!(report["batch_id"], batch_id.as_str());
    assert_eq!(report["counts"]["not_ours"], 1);
    assert_eq!(report["counts"]["matched"], 0);
    let line = &report["lines"][0];
    assert_eq!(line["kind"], "not_ours");
    assert_eq!(line["transfer_id"], oob_id.as_str());
    assert_eq!(line["destination"], account.as_str());
    assert_eq!(line["stripe"], json!({"amount": 4321, "currency": "usd"}));
    assert!(line["ours"].is_null());
    assert!(line["description"].as_str().unwrap().contains("outside"));
    let (_, same) = api.get(&by_program, &admin).await;
    assert_eq!(same["lines"], report["lines"]);

    // CSV: a header and one row per line.
    let res = api
        .http
        .get(format!("{}{by_batch}", api.base))
        .bearer_auth(&admin)
        .header("Accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 2, "{csv}");
    assert!(
        rows[0].starts_with("kind,batch_id,item_id,partner_id,transfer_id,destination,ours_amount")
    );
    assert!(
        rows[1].starts_with(&format!(
            "not_ours,{batch_id},,,{oob_id},{account},,,4321,usd,"
        )),
        "{csv}"
    );

    // Another merchant's program and batch are not found.
    let stranger = api.admin("m_stranger");
    for path in [&by_program, &by_batch] {
        let (s, e) = api.get(path, &stranger).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {e}");
        assert!(e["error"]["type"].is_string(), "{e}");
    }
    let unknown = uuid::Uuid::new_v4();
    let (s, _) = api
        .get(
            &format!("/api/v1/reports/reconciliation?program_id={unknown}&period={period}"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Both, neither, half a scope, or values that do not parse: 400.
    for (query, param) in [
        (String::new(), "program_id"),
        (format!("program_id={program_id}"), "period"),
        (format!("period={period}"), "program_id"),
        (
            format!("program_id={program_id}&period={period}&batch_id={batch_id}"),
            "batch_id",
        ),
        (format!("program_id={program_id}&period=2026-13"), "period"),
        (format!("program_id=nope&period={period}"), "program_id"),
        ("batch_id=nope".to_owned(), "batch_id"),
    ] {
        let (s, e) = api
            .get(&format!("/api/v1/reports/reconciliation?{query}"), &admin)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["error"]["code"], "validation_error", "{query}: {e}");
        assert_eq!(e["error"]["param"], param, "{query}: {e}");
    }
    // A partner may not read it.
    let partner = api.token(&[Role::Partner], "m_recon", None);
    let (s, _) = api.get(&by_batch, &partner).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    api.stop().await;
}

/// Issue 15: the merchant's 1099 list (JSON, CSV, `?all=true`) and partner
/// statements (one item, a month), over a seeded paid year: tenants see
/// only their own, a partner only their own statements, bad input is 400,
/// an unpaid item 409, never a 5xx.
#[tokio::test]
async fn the_1099_list_and_partner_statements() {
    use payouts_domain::testkit::paid;

    let store = InMemoryStore::new();
    let m = |s: &str| MerchantId::parse(s.to_owned()).unwrap();
    let seed = paid::seed(&store, m("m_tax"), 1_000_000).await;
    let theirs = paid::seed(&store, m("m_other"), 2_000_000).await;
    let api = Api::start_on(store).await;
    let admin = api.admin("m_tax");
    let alice = seed.alice.partner_id;

    // The 1099 list: Alice only (US, $800); Carol is not US, Bob under $600.
    let (s, list) = api.get("/api/v1/reports/tax/2026", &admin).await;
    assert_eq!(s, StatusCode::OK, "{list}");
    assert_eq!(list["year"], 2026);
    assert_eq!(list["all"], false);
    assert_eq!(
        list["threshold"],
        json!({"amount": 60_000, "currency": "usd"})
    );
    assert_eq!(list["data"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list["data"][0]["partner_id"], alice.to_string());
    assert_eq!(list["data"][0]["country"], "US");
    assert_eq!(list["data"][0]["email"], "alice@example.com");
    assert_eq!(list["data"][0]["form_1099_required"], true);
    assert_eq!(
        list["data"][0]["totals"],
        json!([{"amount": 80_000, "currency": "usd"}])
    );
    assert_eq!(
        list["totals"],
        json!([{"amount": 80_000, "currency": "usd"}])
    );

    let (s, all) = api.get("/api/v1/reports/tax/2026?all=true", &admin).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    let rows = all["data"].as_array().unwrap();
    assert_eq!(rows.len(), 3, "Alice, Bob and Carol; Dave is unpaid: {all}");
    assert_eq!(
        all["totals"],
        json!([{"amount": 190_000, "currency": "usd"}])
    );
    for row in rows {
        let partner = row["partner_id"].as_str().unwrap();
        let (s, tax) = api
            .get(&format!("/api/v1/partners/{partner}/tax/2026"), &admin)
            .await;
        assert_eq!(s, StatusCode::OK, "{tax}");
        assert_eq!(row["totals"], tax["totals"], "one rule: {partner}");
        assert_eq!(row["form_1099_required"], tax["form_1099_required"]);
        assert!(
            theirs.alice.partner_id.to_string() != partner,
            "another merchant's partner in the list"
        );
    }

    // CSV: a header row, one row per partner and currency.
    let res = api
        .http
        .get(format!("{}/api/v1/reports/tax/2026?all=true", api.base))
        .bearer_auth(&admin)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = res.text().await.unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "year,partner_id,email,country,currency,amount,payout_count,form_1099_required"
    );
    assert_eq!(lines.len(), 4, "{csv}");
    assert!(
        lines.contains(&format!("2026,{alice},alice@example.com,US,usd,80000,1,true").as_str()),
        "{csv}"
    );

    // Another merchant's list is its own; nothing was paid in 2025.
    let (s, other) = api
        .get("/api/v1/reports/tax/2026?all=true", &api.admin("m_other"))
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(
        other["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["partner_id"] != alice.to_string())
    );
    let (_, empty) = api.get("/api/v1/reports/tax/2025?all=true", &admin).await;
    assert_eq!(empty["data"], json!([]));

    // Bad input: 400 with the error body; a partner may not read the list.
    for (path, param) in [
        ("/api/v1/reports/tax/1999", "year"),
        ("/api/v1/reports/tax/10000", "year"),
        ("/api/v1/reports/tax/twenty", "year"),
        ("/api/v1/reports/tax/2026?all=maybe", "query"),
        ("/api/v1/reports/tax/2026?everyone=true", "query"),
    ] {
        let (s, e) = api.get(path, &admin).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{path}: {e}");
        assert_eq!(e["error"]["type"], "invalid_request_error", "{e}");
        assert_eq!(e["error"]["param"], param, "{path}: {e}");
    }
    let alice_token = api.token(&[Role::Partner], "m_tax", Some(alice));
    let (s, _) = api.get("/api/v1/reports/tax/2026", &alice_token).await;
    assert_eq!(s, StatusCode::FORBIDDEN);

    // Alice's statement: three lines that sum to the item, the refund as a
    // negative adjustment, December's carry-over.
    let item = seed.paid[0].id;
    let path = format!("/api/v1/partners/{alice}/statements/{item}");
    let (s, st) = api.get(&path, &admin).await;
    assert_eq!(s, StatusCode::OK, "{st}");
    assert_eq!(st["amount"], json!({"amount": 80_000, "currency": "usd"}));
    assert_eq!(st["total"], st["amount"]);
    assert_eq!(st["state"], "posted");
    assert_eq!(st["period"], "2026-01");
    let lines = st["lines"].as_array().unwrap();
    let sum: i64 = lines
        .iter()
        .map(|l| l["amount"]["amount"].as_i64().unwrap())
        .sum();
    assert_eq!(sum, 80_000, "the lines sum to the item");
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[1]["conversion_external_id"], "ord-alice");
    assert_eq!(lines[1]["effective_rate"], "20");
    assert_eq!(
        lines[1]["sale"],
        json!({"amount": 450_000, "currency": "usd"})
    );
    assert_eq!(lines[2]["kind"], "adjustment");
    assert_eq!(lines[2]["reason"], "refund");
    assert_eq!(lines[2]["corrects"], lines[1]["commission_id"]);
    assert_eq!(lines[2]["amount"]["amount"], -11_000);
    assert_eq!(st["carry_overs"][0]["reason"], "below_minimum");
    assert_eq!(st["carry_overs"][0]["period"], "2025-12");
    // The partner reads their own.
    let (s, own) = api.get(&path, &alice_token).await;
    assert_eq!(s, StatusCode::OK, "{own}");
    assert_eq!(own, st);
    // Another partner, another merchant, or another partner's path: 404.
    let bob_token = api.token(&[Role::Partner], "m_tax", Some(seed.bob.partner_id));
    let bob = seed.bob.partner_id;
    for (path, token) in [
        (path.clone(), bob_token.clone()),
        (path.clone(), api.admin("m_other")),
        (
            format!("/api/v1/partners/{bob}/statements/{item}"),
            bob_token.clone(),
        ),
        (
            format!("/api/v1/partners/{bob}/statements/{item}"),
            admin.clone(),
        ),
        (
            format!(
                "/api/v1/partners/{}/statements/{}",
                theirs.alice.partner_id, theirs.paid[0].id
            ),
            admin.clone(),
        ),
        (
            format!("/api/v1/partners/{alice}/statements/{}", uuid::Uuid::nil()),
            admin.clone(),
        ),
    ] {
        let (s, e) = api.get(&path, &token).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {e}");
        assert_eq!(e["error"]["code"], "not_found", "{e}");
    }
    // An unpaid item: 409; a malformed id: 400.
    let dave = seed.dave.partner_id;
    let (s, e) = api
        .get(
            &format!("/api/v1/partners/{dave}/statements/{}", seed.unpaid.id),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{e}");
    let (s, e) = api
        .get(&format!("/api/v1/partners/{alice}/statements/nope"), &admin)
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["param"], "item_id");

    // The month: February 2026, when Alice's item posted.
    let (s, month) = api
        .get(
            &format!("/api/v1/partners/{alice}/statements/months/2026-02"),
            &alice_token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{month}");
    assert_eq!(month["statements"].as_array().unwrap().len(), 1);
    assert_eq!(month["statements"][0], st);
    assert_eq!(
        month["totals"],
        json!([{"amount": 80_000, "currency": "usd"}])
    );
    assert_eq!(month["reversed"], json!([]));
    let (s, e) = api
        .get(
            &format!("/api/v1/partners/{alice}/statements/months/2026-13"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["param"], "period");
    api.stop().await;
}

/// Reward rules are set with the program and validated field by field;
/// the commission names the rule that produced it; a lead earns the lead
/// amount; refunds, cancellations and corrections by conversion id change
/// the commission, and bad ones are 400s that change nothing.
#[tokio::test]
async fn reward_rules_and_corrections_over_the_api() {
    let api = Api::start().await;
    let admin = api.admin("m_rules");
    let mut body = program_body();
    body["tiers"] = json!({"basis": "revenue", "steps": [
        {"from": 100_000, "commission": {"type": "percent", "percent": "25"}}
    ]});
    body["first_conversions"] =
        json!({"count": 1, "commission": {"type": "percent", "percent": "50"}});
    body["product_rates"] =
        json!([{"product_id": "prod_course", "commission": {"type": "fixed", "amount": 7_500}}]);
    body["lead_commission"] = json!({"amount": 500, "currency": "usd"});
    body["recurring_months"] = json!(12);
    let (s, program) = api.post("/api/v1/programs", &admin, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{program}");
    assert_eq!(program["tiers"]["steps"][0]["from"], 100_000, "{program}");
    assert_eq!(program["product_rates"][0]["product_id"], "prod_course");
    assert_eq!(program["lead_commission"]["amount"], 500);
    let id = program["id"].as_str().unwrap();

    // Each rule is validated, naming its field; nothing is stored.
    for (field, value, param) in [
        (
            "tiers",
            json!({"basis": "revenue", "steps": [
            {"from": 5, "commission": {"type": "percent", "percent": "25"}},
            {"from": 5, "commission": {"type": "percent", "percent": "30"}}]}),
            "tiers.steps[1].from",
        ),
        (
            "tiers",
            json!({"basis": "weekly", "steps": []}),
            "tiers.basis",
        ),
        (
            "first_conversions",
            json!({"count": 0, "commission": {"type": "percent", "percent": "5"}}),
            "first_conversions.count",
        ),
        (
            "product_rates",
            json!([{"product_id": "p", "commission": {"type": "percent", "percent": "101"}}]),
            "product_rates[0].commission.percent",
        ),
        (
            "lead_commission",
            json!({"amount": 0, "currency": "usd"}),
            "lead_commission",
        ),
    ] {
        let mut bad = body.clone();
        bad[field] = value;
        let (s, e) = api.post("/api/v1/programs", &admin, bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{field}: {e}");
        assert_eq!(e["error"]["param"], param, "{e}");
    }

    let (s, e) = api
        .post(
            &format!("/api/v1/programs/{id}/partners"),
            &admin,
            json!({"email": "ann@partners.test", "country": "US", "referral_key": "ann"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let path = format!("/api/v1/programs/{id}/conversions");
    let record = async |body: Value| api.post(&path, &admin, body).await;
    let (s, first) = record(
        json!({"external_id": "o1", "amount": 10_000, "currency": "usd",
        "referral_key": "ann", "customer_ref": "cus_1"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    assert_eq!(first["commission"]["amount"]["amount"], 5_000);
    assert_eq!(first["commission"]["rule"]["rule"], "first_conversions");
    assert_eq!(first["commission"]["rule"]["nth"], 1);
    let (s, second) = record(
        json!({"external_id": "o2", "amount": 10_000, "currency": "usd",
        "referral_key": "ann", "customer_ref": "cus_1", "product_id": "prod_course"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{second}");
    assert_eq!(second["commission"]["amount"]["amount"], 7_500);
    assert_eq!(second["commission"]["rule"]["rule"], "product");
    assert_eq!(second["conversion"]["product_id"], "prod_course");
    let (s, lead) = record(
        json!({"external_id": "l1", "kind": "lead", "currency": "usd",
        "referral_key": "ann"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{lead}");
    assert_eq!(lead["conversion"]["kind"], "lead");
    assert_eq!(lead["commission"]["amount"]["amount"], 500);
    assert_eq!(lead["commission"]["rule"]["rule"], "lead");
    for (bad, param) in [
        (
            json!({"external_id": "x1", "kind": "click", "currency": "usd", "referral_key": "ann"}),
            "kind",
        ),
        (
            json!({"external_id": "x2", "currency": "usd", "referral_key": "ann"}),
            "amount",
        ),
        (
            json!({"external_id": "x3", "kind": "lead", "amount": 100, "currency": "usd", "referral_key": "ann"}),
            "amount",
        ),
        (
            json!({"external_id": "x4", "amount": 100, "currency": "usd", "referral_key": "ann", "product_id": "has space"}),
            "product_id",
        ),
    ] {
        let (s, e) = record(bad).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["param"], param, "{e}");
    }

    // Corrections by conversion id.
    let conversion = first["conversion"]["id"].as_str().unwrap();
    let (s, refunded) = api
        .post(
            &format!("/api/v1/conversions/{conversion}/refunds"),
            &admin,
            json!({"amount": 5_000, "currency": "usd"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{refunded}");
    assert_eq!(refunded["conversion"]["refunded"]["amount"], 5_000);
    assert_eq!(refunded["commissions"][0]["amount"]["amount"], 2_500);
    let (s, e) = api
        .post(
            &format!("/api/v1/conversions/{conversion}/refunds"),
            &admin,
            json!({"amount": 5_001, "currency": "usd"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["param"], "amount");
    let (s, corrected) = api
        .post(
            &format!("/api/v1/conversions/{conversion}/corrections"),
            &admin,
            json!({"amount": 8_000, "currency": "usd"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{corrected}");
    assert_eq!(
        corrected["conversion"]["corrected_commission"]["amount"],
        8_000
    );
    assert_eq!(corrected["commissions"][0]["amount"]["amount"], 4_000);
    let (s, again) = api
        .post(
            &format!("/api/v1/conversions/{conversion}/corrections"),
            &admin,
            json!({"amount": 8_000, "currency": "usd"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{again}");
    assert_eq!(
        again["changed"],
        json!([]),
        "the same correction changes nothing"
    );
    let lead_id = lead["conversion"]["id"].as_str().unwrap();
    let (s, e) = api
        .post(
            &format!("/api/v1/conversions/{lead_id}/refunds"),
            &admin,
            json!({"amount": 1, "currency": "usd"}),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a lead has no sale to refund: {e}"
    );
    let (s, cancelled) = api
        .post(
            &format!("/api/v1/conversions/{lead_id}/cancel"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["conversion"]["cancelled"], true);
    assert_eq!(cancelled["commissions"][0]["state"]["state"], "voided");
    // Another merchant sees no such conversion; a bad id is a 400.
    let (s, _) = api
        .post(
            &format!("/api/v1/conversions/{conversion}/cancel"),
            &api.admin("m_someone_else"),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, e) = api
        .post("/api/v1/conversions/not-a-uuid/cancel", &admin, json!({}))
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    api.stop().await;
}

/// Issue 16 parts 4 and 5 over HTTP: a program names the countries it pays
/// and its per-currency minimums; a partner from elsewhere is refused with
/// the country and the list; a cross-border partner's account is created
/// under the `recipient` agreement and shows it; bad settings answer 400
/// naming the field and change nothing.
#[tokio::test]
async fn payout_countries_minimums_and_cross_border_partners() {
    let api = Api::start().await;
    let admin = api.admin("m_xb");
    let mut body = program_body();
    body["payout_countries"] = json!(["us", "DE", "US"]);
    body["minimum_payouts"] = json!({"usd": 2_000, "EUR": 1_000});
    let (s, p) = api.post("/api/v1/programs", &admin, body.clone()).await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    assert_eq!(p["payout_countries"], json!(["US", "DE"]));
    assert_eq!(p["minimum_payouts"], json!({"eur": 1_000, "usd": 2_000}));
    assert_eq!(
        p["effective_minimum_payout"],
        json!({"amount": 2_000, "currency": "usd"}),
        "the USD override beats the program's 100"
    );
    let id = p["id"].as_str().unwrap().to_owned();

    // Omitted on create: the US only, and the default USD minimum of $0.50.
    let (s, plain) = api.post("/api/v1/programs", &admin, program_body()).await;
    assert_eq!(s, StatusCode::CREATED, "{plain}");
    assert_eq!(plain["payout_countries"], json!(["US"]));
    assert_eq!(plain["minimum_payouts"], json!({}));
    assert_eq!(
        plain["effective_minimum_payout"],
        json!({"amount": 100, "currency": "usd"})
    );

    // Bad settings: 400 naming the field; the program is unchanged.
    for (field, value, param) in [
        ("payout_countries", json!([]), "payout_countries"),
        ("payout_countries", json!(["BR"]), "payout_countries"),
        ("payout_countries", json!(["USA"]), "payout_countries"),
        ("minimum_payouts", json!({"usd": -1}), "minimum_payouts"),
        ("minimum_payouts", json!({"xyz": 5}), "minimum_payouts.xyz"),
    ] {
        let mut bad = body.clone();
        bad[field] = value;
        let (s, e) = api
            .call(
                reqwest::Method::PUT,
                &format!("/api/v1/programs/{id}"),
                Some(&admin),
                Some(bad),
            )
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
        assert_eq!(e["error"]["param"], param, "{e}");
    }
    let (_, same) = api.get(&format!("/api/v1/programs/{id}"), &admin).await;
    assert_eq!(same["payout_countries"], json!(["US", "DE"]));
    assert_eq!(same["minimum_payouts"], json!({"eur": 1_000, "usd": 2_000}));

    // An update that omits them keeps them.
    let (s, kept) = api
        .call(
            reqwest::Method::PUT,
            &format!("/api/v1/programs/{id}"),
            Some(&admin),
            Some(program_body()),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{kept}");
    assert_eq!(kept["payout_countries"], json!(["US", "DE"]));
    assert_eq!(kept["minimum_payouts"], json!({"eur": 1_000, "usd": 2_000}));

    // A partner from France is refused, naming France and the list.
    let partners = format!("/api/v1/programs/{id}/partners");
    let (s, e) = api
        .post(
            &partners,
            &admin,
            json!({"email": "fleur@partners.test", "country": "FR", "referral_key": "fleur"}),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["error"]["param"], "country", "{e}");
    let message = e["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("FR") && message.contains("US, DE"),
        "{message}"
    );
    let (_, members) = api.get(&partners, &admin).await;
    assert_eq!(members["data"], json!([]), "nothing enrolled");

    // A partner from Germany gets a recipient account.
    let (s, greta) = api
        .post(
            &partners,
            &admin,
            json!({"email": "greta@partners.test", "country": "de", "referral_key": "greta"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{greta}");
    assert_eq!(greta["country"], "DE");
    assert_eq!(greta["service_agreement"], Value::Null, "no account yet");
    let membership = greta["id"].as_str().unwrap().to_owned();
    let (s, link) = api
        .post(
            &format!("/api/v1/memberships/{membership}/onboarding-link"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{link}");
    let (_, greta) = api
        .get(&format!("/api/v1/memberships/{membership}"), &admin)
        .await;
    assert_eq!(greta["service_agreement"], "recipient", "{greta}");
    assert!(greta["account_id"].as_str().unwrap().starts_with("acct_"));
    api.stop().await;
}

/// Issue 15 part 4: operator actions land in the audit trail with the
/// token's subject and roles and the request's id; a merchant sees its own
/// entries only, the platform everyone's; filters and keyset pages work;
/// unknown filter values answer 400 and another merchant's id 404.
#[tokio::test]
async fn the_audit_trail_records_who_did_what_and_is_scoped() {
    let api = Api::start().await;
    let admin = api.admin("m_audit");
    let other = api.admin("m_audit_other");
    let platform = api.token(&[Role::PlatformAdmin], "m_platform", None);
    let send =
        |method: reqwest::Method, path: &str, token: &str, body: Option<Value>, rid: &str| {
            let mut req = api
                .http
                .request(method, format!("{}{path}", api.base))
                .bearer_auth(token)
                .header("Request-Id", rid);
            if let Some(b) = body {
                req = req.json(&b);
            }
            req.send()
        };
    let res = send(
        reqwest::Method::POST,
        "/api/v1/programs",
        &admin,
        Some(program_body()),
        "req_create",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::CREATED);
    let program: Value = res.json().await.unwrap();
    let id = program["id"].as_str().unwrap().to_owned();
    let mut changed = program_body();
    changed["auto_payout_policy"] = json!("manual");
    changed["name"] = json!("Renamed partners");
    let res = send(
        reqwest::Method::PUT,
        &format!("/api/v1/programs/{id}"),
        &admin,
        Some(changed),
        "req_update",
    )
    .await
    .unwrap();
    assert_eq!(res.status(), StatusCode::OK, "{:?}", res.text().await);
    let (s, _) = api.post("/api/v1/programs", &other, program_body()).await;
    assert_eq!(s, StatusCode::CREATED);

    // The merchant's trail: its two entries, newest first.
    let (s, page) = api.get("/api/v1/audit-events", &admin).await;
    assert_eq!(s, StatusCode::OK, "{page}");
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{page}");
    let updated = &data[0];
    assert_eq!(updated["object"], "audit_event");
    assert_eq!(updated["action"], "program.updated");
    assert_eq!(updated["object_type"], "program");
    assert_eq!(updated["object_id"], id.as_str());
    assert_eq!(updated["merchant_id"], "m_audit");
    assert_eq!(updated["actor"]["type"], "user");
    assert_eq!(updated["actor"]["subject"], "tester");
    assert_eq!(updated["actor"]["roles"], json!(["tenant_admin"]));
    assert_eq!(updated["request_id"], "req_update");
    assert_eq!(updated["before"]["name"], "Spring", "{updated}");
    assert_eq!(updated["after"]["name"], "Renamed partners");
    assert_eq!(updated["after"]["payout_policy"]["policy"], "manual");
    assert!(updated["created"].as_str().unwrap().ends_with('Z'));
    assert_eq!(data[1]["action"], "program.created");
    assert_eq!(data[1]["request_id"], "req_create");
    assert_eq!(data[1]["before"], Value::Null);

    // Filters, and a page after a cursor.
    let (_, f) = api
        .get("/api/v1/audit-events?action=program.created", &admin)
        .await;
    assert_eq!(f["data"].as_array().unwrap().len(), 1, "{f}");
    let (_, f) = api
        .get(
            &format!("/api/v1/audit-events?object_id={id}&actor=tester&actor_type=user"),
            &admin,
        )
        .await;
    assert_eq!(f["data"].as_array().unwrap().len(), 2, "{f}");
    let (_, f) = api
        .get("/api/v1/audit-events?actor_type=system", &admin)
        .await;
    assert!(f["data"].as_array().unwrap().is_empty(), "{f}");
    let (_, f) = api
        .get(
            "/api/v1/audit-events?created_gte=2200-01-01T00:00:00Z",
            &admin,
        )
        .await;
    assert!(f["data"].as_array().unwrap().is_empty(), "{f}");
    let (_, f) = api
        .get("/api/v1/audit-events?created_lte=2200-01-01T00:00:00Z&created_gte=2000-01-01T00:00:00Z", &admin)
        .await;
    assert_eq!(f["data"].as_array().unwrap().len(), 2, "{f}");
    let (_, first) = api.get("/api/v1/audit-events?limit=1", &admin).await;
    assert_eq!(first["has_more"], true);
    let cursor = first["data"][0]["id"].as_str().unwrap();
    let (_, second) = api
        .get(
            &format!("/api/v1/audit-events?limit=1&starting_after={cursor}"),
            &admin,
        )
        .await;
    assert_eq!(second["data"][0]["action"], "program.created", "{second}");
    assert_eq!(second["has_more"], false);

    // Scoping: the other merchant sees only its own; the platform sees all
    // and may narrow to one merchant; a merchant naming another gets 404.
    let (_, theirs) = api.get("/api/v1/audit-events", &other).await;
    let theirs = theirs["data"].as_array().unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0]["merchant_id"], "m_audit_other");
    let (s, all) = api.get("/api/v1/audit-events?limit=100", &platform).await;
    assert_eq!(s, StatusCode::OK, "{all}");
    assert!(all["data"].as_array().unwrap().len() >= 3);
    let (_, one) = api
        .get("/api/v1/audit-events?merchant_id=m_audit", &platform)
        .await;
    assert_eq!(one["data"].as_array().unwrap().len(), 2, "{one}");
    let (s, e) = api
        .get("/api/v1/audit-events?merchant_id=m_audit_other", &admin)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "{e}");
    let (s, _) = api
        .get("/api/v1/audit-events?merchant_id=m_audit", &admin)
        .await;
    assert_eq!(s, StatusCode::OK);

    // Bad filters are 400s naming the parameter; partners may not read it.
    for (query, param) in [
        ("action=batch.deleted", "action"),
        ("actor_type=robot", "actor_type"),
        ("created_gte=yesterday", "created_gte"),
        ("created_lte=2300-01-01T00:00:00Z", "created_lte"),
        ("starting_after=nope", "starting_after"),
        ("limit=0", "limit"),
    ] {
        let (s, e) = api
            .get(&format!("/api/v1/audit-events?{query}"), &admin)
            .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{query}: {e}");
        assert_eq!(e["error"]["param"], param, "{query}: {e}");
    }
    let partner = api.token(&[Role::Partner], "m_audit", None);
    let (s, _) = api.get("/api/v1/audit-events", &partner).await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    // Reading changed nothing.
    let (_, again) = api.get("/api/v1/audit-events", &admin).await;
    assert_eq!(again["data"].as_array().unwrap().len(), 2);
    api.stop().await;
}
