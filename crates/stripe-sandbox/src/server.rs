//! The actix-web server, the request pipeline and the embeddable handle.
//!
//! Pipeline for `/v1` (and, minus auth/spec/idempotency, `/oauth`):
//! rate limit → auth → route match → spec validation → `Stripe-Account`
//! scope → fault rules → idempotency (replay / mismatch / in flight) →
//! latency → execute under the world lock → save under the key → respond
//! (or abort the connection for `commit_then_drop`).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use actix_web::body::{BodySize, MessageBody};
use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpRequest, HttpResponse, HttpServer};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::api::{self, Ctx, PendingEvent};
use crate::control::{
    ActiveFault, BalanceSnapshot, CreateDispute, FaultKind, FaultSpec, Latency, Ledger,
    LedgerEntry, LedgerFilter, OAuthCodeGrant, RateBucket, RateLimit, SandboxError, SendWebhook,
    SetBalance, ValidationFailure,
};
use crate::error::ApiError;
use crate::ids::{new_id, random_below};
use crate::spec::{HttpMethod, Spec};
use crate::state::{Account, BalanceAmounts, BankAccount, World};
use crate::webhook::{WebhookDelivery, WebhookEndpoint, build_event, deliver};

/// Saved idempotent responses live this long on the sandbox clock (24 h).
const IDEMPOTENCY_TTL_SECS: i64 = 86_400;

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Address to bind; port 0 picks a free port. Default `127.0.0.1:0`.
    pub addr: SocketAddr,
    /// Spec file; [`Spec::default_path`] when absent.
    pub spec_path: Option<PathBuf>,
    /// An already-parsed spec, shared between sandboxes (wins over `spec_path`).
    pub spec: Option<Arc<Spec>>,
    /// actix worker threads (default 2).
    pub workers: usize,
    /// Platform account id (default: a fresh `acct_…`).
    pub platform_account_id: Option<String>,
    /// Stripe's documented limiter (`live`, `test`) or none (`off`, the
    /// default).
    pub rate_limits: crate::limiter::RateLimitMode,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        Self {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            spec_path: None,
            spec: None,
            workers: 2,
            platform_account_id: None,
            rate_limits: crate::limiter::RateLimitMode::Off,
        }
    }
}

impl SandboxConfig {
    /// Uses an already-loaded spec.
    #[must_use]
    pub fn with_spec(mut self, spec: Arc<Spec>) -> Self {
        self.spec = Some(spec);
        self
    }

    /// Binds this address.
    #[must_use]
    pub fn with_addr(mut self, addr: SocketAddr) -> Self {
        self.addr = addr;
        self
    }
}

#[derive(Debug)]
enum IdemState {
    InFlight { token: u64 },
    Done { status: u16, body: Value },
}

#[derive(Debug)]
struct IdemEntry {
    fingerprint: String,
    created: i64,
    state: IdemState,
}

type IdemKey = (String, String);

/// Mutable sandbox state, behind one lock.
#[derive(Debug)]
struct Shared {
    world: World,
    idempotency: HashMap<IdemKey, IdemEntry>,
    latency: Latency,
    rate: Option<RateBucket>,
    /// Stripe's documented limiter, when a mode other than `off` is set.
    limiter: Option<crate::limiter::Limiter>,
    faults: Vec<ActiveFault>,
    next_fault_id: u64,
    next_token: u64,
    clock_offset_secs: i64,
    webhook: Option<(String, String)>,
    deliveries: Vec<WebhookDelivery>,
    validation_failures: Vec<ValidationFailure>,
    /// Where the authorize page sends the user when the request names no
    /// `redirect_uri` (Stripe uses the platform's configured one).
    oauth_redirect_uri: Option<String>,
}

impl Shared {
    fn new(platform_id: &str, hosted_base: &str) -> Self {
        let mut world = World::new(platform_id.to_owned(), Some(hosted_base.to_owned()));
        let mut platform = Account::new(platform_id.to_owned(), 0, 0, "standard");
        platform.complete_onboarding();
        world.accounts.insert(platform_id.to_owned(), platform);
        Self {
            world,
            idempotency: HashMap::new(),
            latency: Latency::default(),
            rate: None,
            limiter: None,
            faults: Vec::new(),
            next_fault_id: 1,
            next_token: 1,
            clock_offset_secs: 0,
            webhook: None,
            oauth_redirect_uri: None,
            deliveries: Vec::new(),
            validation_failures: Vec::new(),
        }
    }

    fn now(&self) -> i64 {
        real_now().saturating_add(self.clock_offset_secs)
    }
}

fn real_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// State shared by the server workers and the handle.
#[derive(Debug)]
pub(crate) struct Inner {
    spec: Arc<Spec>,
    shared: Mutex<Shared>,
    http: reqwest::Client,
    platform_id: String,
    /// `http://` and the sandbox's own address: its hosted pages live there.
    hosted_base: String,
    /// The limiter mode it started with (a reset returns to it).
    rate_limits: crate::limiter::RateLimitMode,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        // A panic under the lock leaves plain data behind; keep serving.
        self.shared.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Starts sandboxes.
#[derive(Debug)]
pub struct Sandbox;

impl Sandbox {
    /// Binds, spawns the server onto the current tokio runtime and returns
    /// a handle. Must be called from inside a tokio runtime.
    ///
    /// # Errors
    /// [`SandboxError`] when the spec cannot be loaded or the address not bound.
    pub async fn start(config: SandboxConfig) -> Result<SandboxHandle, SandboxError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(SandboxError::Invalid(
                "Sandbox::start must be awaited inside a tokio runtime".to_owned(),
            ));
        }
        let spec = match config.spec {
            Some(spec) => spec,
            None => {
                let path = match config.spec_path {
                    Some(p) => p,
                    None => Spec::default_path()?,
                };
                let parsed = tokio::task::spawn_blocking(move || Spec::load(&path))
                    .await
                    .map_err(|e| SandboxError::Invalid(format!("spec loader panicked: {e}")))??;
                Arc::new(parsed)
            }
        };
        // reqwest is built with `rustls-no-provider`; an already-installed
        // provider is fine, so the error is ignored.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| SandboxError::Http(e.to_string()))?;
        let platform_id = config
            .platform_account_id
            .unwrap_or_else(|| new_id("acct_"));
        let listener = std::net::TcpListener::bind(config.addr)?;
        let addr = listener.local_addr()?;
        // Links must name an address a browser can reach: loopback for a
        // sandbox bound to every interface.
        let hosted_base = if addr.ip().is_unspecified() {
            format!("http://127.0.0.1:{}", addr.port())
        } else {
            format!("http://{addr}")
        };
        let inner = Arc::new(Inner {
            spec,
            shared: Mutex::new(Shared::new(&platform_id, &hosted_base)),
            http,
            platform_id,
            hosted_base,
            rate_limits: config.rate_limits,
        });
        set_rate_limits(
            &inner,
            crate::limiter::LimiterModel::for_mode(config.rate_limits),
        );
        let data = web::Data::from(Arc::clone(&inner));
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .app_data(web::PayloadConfig::new(8 * 1024 * 1024))
                .configure(control_routes)
                .route("/oauth/authorize", web::get().to(authorize_page))
                .route("/oauth/authorize", web::post().to(authorize_decision))
                .route(
                    "/setup/s/{account}/{token}",
                    web::get().to(hosted::onboarding_page),
                )
                .route(
                    "/setup/s/{account}/{token}",
                    web::post().to(hosted::onboarding_decision),
                )
                .route(
                    "/express/{account}/{token}",
                    web::get().to(hosted::express_page),
                )
                .default_service(web::to(stripe_entry))
        })
        .workers(config.workers.max(1))
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)?
        .run();
        let server_handle = server.handle();
        let join = tokio::spawn(server);
        tracing::info!(%addr, "stripe-sandbox listening");
        Ok(SandboxHandle {
            inner,
            addr,
            server: server_handle,
            join: Some(join),
        })
    }
}

/// A running sandbox: its address, the control API as methods, and `stop`.
#[derive(Debug)]
pub struct SandboxHandle {
    inner: Arc<Inner>,
    addr: SocketAddr,
    server: actix_web::dev::ServerHandle,
    join: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Drop for SandboxHandle {
    fn drop(&mut self) {
        if self.join.is_some() {
            // Sends the stop command right away; the future only waits for it.
            drop(self.server.stop(false));
        }
    }
}

impl SandboxHandle {
    /// `http://127.0.0.1:PORT` — scheme, host and port only, as async-stripe needs.
    #[must_use]
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    #[must_use]
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The platform's own account id.
    #[must_use]
    pub fn platform_account_id(&self) -> &str {
        &self.inner.platform_id
    }

    /// The parsed spec.
    #[must_use]
    pub fn spec(&self) -> Arc<Spec> {
        Arc::clone(&self.inner.spec)
    }

    /// Stops the server and waits for it.
    pub async fn stop(mut self) {
        self.server.stop(true).await;
        if let Some(join) = self.join.take() {
            let _ = join.await;
        }
    }

    /// Sets fixed and jittered latency.
    pub fn set_latency(&self, latency: Latency) {
        self.inner.lock().latency = latency;
    }

    /// Sets or clears the per-second request budget.
    pub fn set_rate_limit(&self, limit: RateLimit) {
        set_rate_limit(&self.inner, limit);
    }

    /// Sets Stripe's documented limiter model (`None`: off), with fresh
    /// buckets.
    pub fn set_rate_limits(&self, model: Option<crate::limiter::LimiterModel>) {
        set_rate_limits(&self.inner, model);
    }

    /// Adds a fault rule; returns its id.
    pub fn add_fault(&self, spec: FaultSpec) -> u64 {
        add_fault(&self.inner, spec)
    }

    /// Active fault rules.
    #[must_use]
    pub fn faults(&self) -> Vec<ActiveFault> {
        self.inner.lock().faults.clone()
    }

    /// Removes all fault rules.
    pub fn clear_faults(&self) {
        self.inner.lock().faults.clear();
    }

    /// Completes onboarding of a connected account; returns the account JSON.
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] when the account does not exist.
    pub fn complete_onboarding(&self, account: &str) -> Result<Value, SandboxError> {
        complete_onboarding(&self.inner, account)
    }

    /// Gives an account a default bank account with this `fingerprint`
    /// (replacing any), as a partner does during Express onboarding, and
    /// sends `account.updated`. Returns the bank account.
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] when the account does not exist.
    pub fn set_external_account(
        &self,
        account: &str,
        req: ExternalAccountRequest,
    ) -> Result<Value, SandboxError> {
        set_external_account(&self.inner, account, req)
    }

    /// Sets an account's balance in one currency.
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] when the account does not exist.
    pub fn set_balance(&self, req: SetBalance) -> Result<BalanceSnapshot, SandboxError> {
        set_balance(&self.inner, req)
    }

    /// An account's balance in one currency (the platform when `account` is `None`).
    #[must_use]
    pub fn balance(&self, account: Option<&str>, currency: &str) -> BalanceAmounts {
        let s = self.inner.lock();
        s.world
            .balance(account.unwrap_or(&self.inner.platform_id), currency)
    }

    /// Advances the sandbox clock; returns the new sandbox time.
    pub fn advance_clock(&self, seconds: i64) -> i64 {
        let mut s = self.inner.lock();
        s.clock_offset_secs = s.clock_offset_secs.saturating_add(seconds);
        s.now()
    }

    /// Current sandbox time (Unix seconds).
    #[must_use]
    pub fn now(&self) -> i64 {
        self.inner.lock().now()
    }

    /// Configures the webhook endpoint; returns it with its (possibly generated) secret.
    pub fn set_webhook_endpoint(&self, endpoint: WebhookEndpoint) -> WebhookEndpoint {
        set_webhook(&self.inner, endpoint)
    }

    /// Sends a signed event to the configured endpoint and reports the delivery.
    ///
    /// # Errors
    /// [`SandboxError::Invalid`] when no endpoint is configured.
    pub async fn send_webhook(&self, req: SendWebhook) -> Result<WebhookDelivery, SandboxError> {
        send_webhook(Arc::clone(&self.inner), req).await
    }

    /// Every webhook delivery so far (including automatic ones).
    #[must_use]
    pub fn deliveries(&self) -> Vec<WebhookDelivery> {
        self.inner.lock().deliveries.clone()
    }

    /// Every `/v1` request refused by spec validation since start (or the
    /// last reset), oldest first.
    #[must_use]
    pub fn validation_failures(&self) -> Vec<ValidationFailure> {
        self.inner.lock().validation_failures.clone()
    }

    /// Transfers with idempotency keys and item ids.
    #[must_use]
    pub fn ledger(&self, filter: &LedgerFilter) -> Ledger {
        ledger(&self.inner, filter)
    }

    /// Where the authorize page (`GET /oauth/authorize`) sends the user
    /// when the request names no `redirect_uri`: the platform's OAuth
    /// callback, as configured in Stripe's Connect settings.
    pub fn set_oauth_redirect_uri(&self, url: impl Into<String>) {
        self.inner.lock().oauth_redirect_uri = Some(url.into());
    }

    /// Registers an OAuth code (for an existing account, or a new one at exchange).
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] when `account` does not exist.
    pub fn create_oauth_code(&self, account: Option<&str>) -> Result<OAuthCodeGrant, SandboxError> {
        create_oauth_code(&self.inner, account)
    }

    /// Opens a dispute on a charge; returns the dispute JSON.
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] when the charge does not exist.
    pub fn create_dispute(&self, req: &CreateDispute) -> Result<Value, SandboxError> {
        create_dispute(&self.inner, req)
    }

    /// Moves a payout to `paid`, `failed`, `in_transit` or `canceled`
    /// (emits `payout.paid`/`payout.failed` when a webhook endpoint is set).
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] for an unknown payout or status.
    pub fn set_payout_status(&self, payout: &str, status: &str) -> Result<Value, SandboxError> {
        set_payout_status(&self.inner, payout, status)
    }

    /// Rewrites a transfer's amount (and currency, when given) silently:
    /// no balance moves and no event is sent. Stripe itself never does
    /// this; it lets a client's reconciliation be shown an amount that
    /// differs from the one it recorded.
    ///
    /// # Errors
    /// [`SandboxError::Stripe`] for an unknown transfer;
    /// [`SandboxError::Invalid`] for an amount that is not positive.
    pub fn alter_transfer(
        &self,
        transfer: &str,
        amount: i64,
        currency: Option<&str>,
    ) -> Result<Value, SandboxError> {
        alter_transfer(&self.inner, transfer, amount, currency)
    }

    /// Clears faults, latency, rate limit, idempotency keys, webhooks, the
    /// clock offset and every object; the platform account id is kept.
    pub fn reset(&self) {
        reset(&self.inner);
    }
}

// ------------------------------------------------------------ control impl

fn set_rate_limit(inner: &Inner, limit: RateLimit) {
    inner.lock().rate = limit
        .per_second
        .map(|per_second| RateBucket::new(per_second, Instant::now()));
}

fn set_rate_limits(inner: &Inner, model: Option<crate::limiter::LimiterModel>) {
    inner.lock().limiter = model.map(crate::limiter::Limiter::new);
}

fn add_fault(inner: &Inner, spec: FaultSpec) -> u64 {
    let mut s = inner.lock();
    let id = s.next_fault_id;
    s.next_fault_id = s.next_fault_id.saturating_add(1);
    s.faults.push(ActiveFault {
        id,
        remaining: spec.count,
        spec,
    });
    id
}

fn complete_onboarding(inner: &Arc<Inner>, account: &str) -> Result<Value, SandboxError> {
    let (json, event) = {
        let mut s = inner.lock();
        let a = s
            .world
            .accounts
            .get_mut(account)
            .ok_or_else(|| ApiError::missing("account", account, "account"))?;
        a.complete_onboarding();
        let json = a.to_json();
        let event = PendingEvent {
            kind: "account.updated".to_owned(),
            account: Some(account.to_owned()),
            object: json.clone(),
        };
        (json, event)
    };
    dispatch_events(inner, vec![event], None, None);
    Ok(json)
}

/// `POST /_sandbox/accounts/{id}/external_account` body.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ExternalAccountRequest {
    /// The bank account's fingerprint (give two accounts the same one to
    /// model one bank account used by both).
    pub fingerprint: String,
    /// Its last four digits (default `6789`).
    #[serde(default)]
    pub last4: Option<String>,
}

fn set_external_account(
    inner: &Arc<Inner>,
    account: &str,
    req: ExternalAccountRequest,
) -> Result<Value, SandboxError> {
    let fingerprint = req.fingerprint.trim();
    if fingerprint.is_empty() || fingerprint.len() > 64 {
        return Err(SandboxError::Invalid(
            "fingerprint must be 1 to 64 characters".to_owned(),
        ));
    }
    let last4 = req.last4.unwrap_or_else(|| "6789".to_owned());
    if last4.len() != 4 || !last4.chars().all(|c| c.is_ascii_digit()) {
        return Err(SandboxError::Invalid(
            "last4 must be four digits".to_owned(),
        ));
    }
    let (bank, event) = {
        let mut s = inner.lock();
        let id = new_id("ba_");
        let a = s
            .world
            .accounts
            .get_mut(account)
            .ok_or_else(|| ApiError::missing("account", account, "account"))?;
        a.bank_account = Some(BankAccount {
            id,
            fingerprint: fingerprint.to_owned(),
            last4,
            currency: a.default_currency.clone(),
        });
        let bank = a.external_accounts().into_iter().next().unwrap_or_default();
        let event = PendingEvent {
            kind: "account.updated".to_owned(),
            account: Some(account.to_owned()),
            object: a.to_json(),
        };
        (bank, event)
    };
    dispatch_events(inner, vec![event], None, None);
    Ok(bank)
}

fn set_balance(inner: &Inner, req: SetBalance) -> Result<BalanceSnapshot, SandboxError> {
    let mut s = inner.lock();
    let account = req.account.unwrap_or_else(|| inner.platform_id.clone());
    if !s.world.accounts.contains_key(&account) {
        return Err(ApiError::missing("account", &account, "account").into());
    }
    let currency = req.currency.to_ascii_lowercase();
    let amounts = BalanceAmounts {
        available: req.available,
        pending: req.pending,
    };
    *s.world.balance_mut(&account, &currency) = amounts;
    Ok(BalanceSnapshot {
        account,
        currency,
        amounts,
    })
}

fn set_webhook(inner: &Inner, endpoint: WebhookEndpoint) -> WebhookEndpoint {
    let secret = endpoint
        .secret
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| new_id("whsec_"));
    inner.lock().webhook = Some((endpoint.url.clone(), secret.clone()));
    WebhookEndpoint {
        url: endpoint.url,
        secret: Some(secret),
    }
}

async fn send_webhook(
    inner: Arc<Inner>,
    req: SendWebhook,
) -> Result<WebhookDelivery, SandboxError> {
    let (endpoint, now) = {
        let s = inner.lock();
        (s.webhook.clone(), s.now())
    };
    let Some((url, secret)) = endpoint else {
        return Err(SandboxError::Invalid(
            "no webhook endpoint configured; POST /_sandbox/webhooks/endpoint first".to_owned(),
        ));
    };
    let event = build_event(
        now,
        &req.event_type,
        req.account.as_deref(),
        req.data.object,
        None,
        None,
    );
    let delivery = deliver(&inner.http, &url, &secret, real_now(), event).await;
    inner.lock().deliveries.push(delivery.clone());
    Ok(delivery)
}

/// Sends automatic events in the background when an endpoint is configured.
fn dispatch_events(
    inner: &Arc<Inner>,
    events: Vec<PendingEvent>,
    request_id: Option<&str>,
    idempotency_key: Option<&str>,
) {
    if events.is_empty() {
        return;
    }
    let (endpoint, now) = {
        let s = inner.lock();
        (s.webhook.clone(), s.now())
    };
    let Some((url, secret)) = endpoint else {
        return;
    };
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let built: Vec<Value> = events
        .into_iter()
        .map(|e| {
            build_event(
                now,
                &e.kind,
                e.account.as_deref(),
                e.object,
                request_id,
                idempotency_key,
            )
        })
        .collect();
    let inner = Arc::clone(inner);
    rt.spawn(async move {
        for event in built {
            let delivery = deliver(&inner.http, &url, &secret, real_now(), event).await;
            inner.lock().deliveries.push(delivery);
        }
    });
}

fn ledger(inner: &Inner, filter: &LedgerFilter) -> Ledger {
    let s = inner.lock();
    let mut transfers: Vec<_> = s
        .world
        .transfers
        .values()
        .filter(|t| {
            filter
                .idempotency_key
                .as_deref()
                .is_none_or(|k| t.idempotency_key.as_deref() == Some(k))
        })
        .map(|t| {
            let item_id = t
                .metadata
                .get("item_id")
                .or_else(|| t.metadata.get("item"))
                .cloned();
            (
                t.seq,
                LedgerEntry {
                    transfer_id: t.id.clone(),
                    idempotency_key: t.idempotency_key.clone(),
                    item_id,
                    amount: t.amount,
                    currency: t.currency.clone(),
                    destination: t.destination.clone(),
                    source_account: t.scope.clone(),
                    amount_reversed: t.amount_reversed,
                    reversed: t.amount_reversed >= t.amount,
                    transfer_group: t.transfer_group.clone(),
                    source_transaction: t.source_transaction.clone(),
                    metadata: t.metadata.clone(),
                    created: t.created,
                },
            )
        })
        .filter(|(_, e)| {
            filter
                .item_id
                .as_deref()
                .is_none_or(|i| e.item_id.as_deref() == Some(i))
        })
        .collect();
    transfers.sort_by_key(|(seq, _)| *seq);
    let mut out = Ledger::default();
    for (_, e) in transfers {
        if e.amount_reversed > 0 {
            out.reversed_count = out.reversed_count.saturating_add(1);
        }
        let total = out
            .totals_by_currency
            .entry(e.currency.clone())
            .or_insert(0);
        *total = total.saturating_add(e.amount);
        if let Some(item) = &e.item_id {
            let c = out.counts_by_item_id.entry(item.clone()).or_insert(0);
            *c = c.saturating_add(1);
        }
        out.transfers.push(e);
    }
    out.count = out.transfers.len();
    out
}

/// `POST /_sandbox/oauth/redirect_uri` body.
#[derive(Debug, Deserialize)]
struct OAuthRedirect {
    url: String,
}

/// Escapes text for HTML.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// `GET /oauth/authorize`: the sandbox's stand-in for Stripe's Connect
/// OAuth page, with Authorize and Deny buttons, so the whole flow can be
/// clicked through without a Stripe account.
async fn authorize_page(d: Data, q: web::Query<HashMap<String, String>>) -> HttpResponse {
    let get = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let redirect = q
        .get("redirect_uri")
        .cloned()
        .or_else(|| d.lock().oauth_redirect_uri.clone());
    let (status, body) = match (get("response_type"), get("scope"), redirect) {
        ("code", "read_write" | "read_only", Some(redirect)) => (
            StatusCode::OK,
            format!(
                "<h1>Connect your Stripe account</h1>\
                 <p>The platform <strong>{client}</strong> asks for <code>{scope}</code> access to a Stripe account.</p>\
                 <p class=\"note\">This is the Stripe sandbox: no real account is used. Authorize creates a new Standard test account.</p>\
                 <form method=\"post\" action=\"/oauth/authorize\">\
                 <input type=\"hidden\" name=\"state\" value=\"{state}\">\
                 <input type=\"hidden\" name=\"redirect_uri\" value=\"{redirect}\">\
                 <p><label>Test funds for the new account, USD (available at once; 0 for none)<br>\
                 <input name=\"test_balance\" value=\"1000.00\" inputmode=\"decimal\" size=\"10\"></label></p>\
                 <button type=\"submit\" name=\"decision\" value=\"allow\" autofocus>Authorize access</button> \
                 <button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button>\
                 </form>",
                client = html_escape(get("client_id")),
                scope = html_escape(get("scope")),
                state = html_escape(get("state")),
                redirect = html_escape(&redirect),
            ),
        ),
        (_, _, None) => (
            StatusCode::BAD_REQUEST,
            "<h1>No redirect URI</h1><p>Pass <code>redirect_uri</code> or set one with \
             <code>POST /_sandbox/oauth/redirect_uri</code>.</p>"
                .to_owned(),
        ),
        _ => (
            StatusCode::BAD_REQUEST,
            "<h1>Invalid request</h1><p>Expected <code>response_type=code</code> and \
             <code>scope=read_write</code> or <code>read_only</code>.</p>"
                .to_owned(),
        ),
    };
    HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action *"))
        .body(format!(
            "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <title>Stripe sandbox: Connect</title><style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}}\
             button{{font:inherit;padding:.6rem 1rem;border-radius:6px;border:1px solid #635bff;background:#635bff;color:#fff;cursor:pointer}}\
             button[value=deny]{{background:#fff;color:#635bff}}button:focus{{outline:3px solid #a5a0ff}}.note{{color:#697386}}</style>\
             </head><body><main>{body}</main></body></html>"
        ))
}

/// `POST /oauth/authorize`: Authorize issues a code for a new Standard
/// account and redirects with `code` and `state`; Deny redirects with
/// `error=access_denied`, as Stripe does.
async fn authorize_decision(d: Data, form: web::Form<HashMap<String, String>>) -> HttpResponse {
    let get = |k: &str| form.get(k).cloned().unwrap_or_default();
    let redirect = get("redirect_uri");
    if redirect.is_empty() {
        return HttpResponse::BadRequest().body("redirect_uri missing");
    }
    let state = get("state");
    let mut query = form_urlencoded::Serializer::new(String::new());
    if get("decision") == "allow" {
        let account = match test_funds(&get("test_balance")) {
            Err(why) => return HttpResponse::BadRequest().body(why),
            Ok(None) => None,
            Ok(Some(minor)) => Some(funded_standard_account(&d, minor)),
        };
        match create_oauth_code(&d, account.as_deref()) {
            Ok(grant) => {
                query.append_pair("code", &grant.code);
                query.append_pair("scope", "read_write");
            }
            Err(e) => return HttpResponse::InternalServerError().body(e.to_string()),
        }
    } else {
        query.append_pair("error", "access_denied");
        query.append_pair("error_description", "The user denied your request");
    }
    query.append_pair("state", &state);
    let sep = if redirect.contains('?') { '&' } else { '?' };
    HttpResponse::Found()
        .insert_header(("Location", format!("{redirect}{sep}{}", query.finish())))
        .finish()
}

/// `1000.00` → 100000 minor units; empty or `0` → none.
fn test_funds(text: &str) -> Result<Option<i64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !(frac.is_empty() || (digits(frac) && frac.len() <= 2)) {
        return Err("test funds: write an amount such as 1000.00".to_owned());
    }
    let minor = format!("{whole}{frac:0<2}")
        .parse::<i64>()
        .ok()
        .filter(|m| *m <= 99_999_999)
        .ok_or_else(|| "test funds: at most 999999.99".to_owned())?;
    Ok((minor > 0).then_some(minor))
}

/// A fresh, onboarded Standard account (what OAuth connects) holding
/// `minor` USD available.
fn funded_standard_account(inner: &Inner, minor: i64) -> String {
    let mut s = inner.lock();
    let now = s.now();
    let seq = s.world.next_seq();
    let mut a = Account::new(new_id("acct_"), seq, now, "standard");
    a.complete_onboarding();
    let id = a.id.clone();
    s.world.accounts.insert(id.clone(), a);
    s.world.balances.entry(id.clone()).or_default().insert(
        "usd".to_owned(),
        BalanceAmounts {
            available: minor,
            pending: 0,
        },
    );
    id
}

fn create_oauth_code(inner: &Inner, account: Option<&str>) -> Result<OAuthCodeGrant, SandboxError> {
    let mut s = inner.lock();
    if let Some(a) = account
        && !s.world.accounts.contains_key(a)
    {
        return Err(ApiError::missing("account", a, "account").into());
    }
    let code = new_id("ac_");
    s.world.oauth_codes.insert(
        code.clone(),
        crate::state::OAuthCode {
            account: account.map(str::to_owned),
            used: false,
        },
    );
    Ok(OAuthCodeGrant {
        code,
        account: account.map(str::to_owned),
    })
}

fn create_dispute(inner: &Arc<Inner>, req: &CreateDispute) -> Result<Value, SandboxError> {
    let (json, event) = {
        let mut s = inner.lock();
        let now = s.now();
        let d = api::create_dispute(
            &mut s.world,
            now,
            &req.charge,
            req.amount,
            req.reason.as_deref(),
        )?;
        let account = (d.scope != inner.platform_id).then(|| d.scope.clone());
        let json = d.to_json();
        let event = PendingEvent {
            kind: "charge.dispute.created".to_owned(),
            account,
            object: json.clone(),
        };
        (json, event)
    };
    dispatch_events(inner, vec![event], None, None);
    Ok(json)
}

fn set_payout_status(
    inner: &Arc<Inner>,
    payout: &str,
    status: &str,
) -> Result<Value, SandboxError> {
    let (json, account) = {
        let mut s = inner.lock();
        api::set_payout_status(&mut s.world, payout, status)?
    };
    if matches!(status, "paid" | "failed" | "canceled") {
        let event = PendingEvent {
            kind: format!("payout.{status}"),
            account,
            object: json.clone(),
        };
        dispatch_events(inner, vec![event], None, None);
    }
    Ok(json)
}

fn alter_transfer(
    inner: &Inner,
    transfer: &str,
    amount: i64,
    currency: Option<&str>,
) -> Result<Value, SandboxError> {
    if amount <= 0 {
        return Err(SandboxError::Invalid(
            "amount must be a positive integer".to_owned(),
        ));
    }
    let mut s = inner.lock();
    let world = &mut s.world;
    let Some(t) = world.transfers.get_mut(transfer) else {
        return Err(ApiError::missing("transfer", transfer, "id").into());
    };
    t.amount = amount;
    if let Some(currency) = currency {
        currency.to_ascii_lowercase().clone_into(&mut t.currency);
    }
    let t = t.clone();
    Ok(world.transfer_json(&t))
}

fn reset(inner: &Inner) {
    *inner.lock() = Shared::new(&inner.platform_id, &inner.hosted_base);
    set_rate_limits(
        inner,
        crate::limiter::LimiterModel::for_mode(inner.rate_limits),
    );
}

// ------------------------------------------------------------ control HTTP

fn control_ok<T: serde::Serialize>(value: &T) -> HttpResponse {
    HttpResponse::Ok().json(value)
}

fn control_err(e: &SandboxError) -> HttpResponse {
    match e {
        SandboxError::Stripe(api) => {
            let status = StatusCode::from_u16(api.status).unwrap_or(StatusCode::BAD_REQUEST);
            HttpResponse::build(status).json(api.body())
        }
        SandboxError::Invalid(m) => HttpResponse::BadRequest()
            .json(json!({"error": {"type": "sandbox_error", "message": m}})),
        other => HttpResponse::InternalServerError()
            .json(json!({"error": {"type": "sandbox_error", "message": other.to_string()}})),
    }
}

fn result<T: serde::Serialize>(r: Result<T, SandboxError>) -> HttpResponse {
    match r {
        Ok(v) => control_ok(&v),
        Err(e) => control_err(&e),
    }
}

type Data = web::Data<Inner>;

/// `POST /_sandbox/rate_limits`: `{"mode": "live"|"test"|"off"}`, or a
/// whole `{"model": {…}}` (for other budgets, a concurrency limit, or
/// `lock_timeout` off).
#[derive(serde::Deserialize)]
struct RateLimitsRequest {
    #[serde(default)]
    mode: Option<crate::limiter::RateLimitMode>,
    #[serde(default)]
    model: Option<crate::limiter::LimiterModel>,
}

impl RateLimitsRequest {
    fn model(self) -> Result<Option<crate::limiter::LimiterModel>, SandboxError> {
        match (self.mode, self.model) {
            (_, Some(model)) => Ok(Some(model)),
            (Some(mode), None) => Ok(crate::limiter::LimiterModel::for_mode(mode)),
            (None, None) => Err(SandboxError::Invalid(
                "send {\"mode\": \"live\"|\"test\"|\"off\"} or {\"model\": {…}}".to_owned(),
            )),
        }
    }
}

#[derive(serde::Deserialize)]
struct ClockAdvance {
    seconds: i64,
}

/// `POST /_sandbox/transfers/{id}/amount` body.
#[derive(serde::Deserialize)]
struct AlterTransfer {
    amount: i64,
    #[serde(default)]
    currency: Option<String>,
}

#[derive(serde::Deserialize)]
struct PayoutStatus {
    status: String,
}

#[derive(serde::Deserialize, Default)]
struct OAuthCodeRequest {
    #[serde(default)]
    account: Option<String>,
}

fn control_routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/_sandbox")
            .route(
                "/health",
                web::get().to(|d: Data| async move {
                    let s = d.lock();
                    control_ok(&json!({
                        "ok": true,
                        "platform_account": d.platform_id,
                        "now": s.now(),
                        "operations": d.spec.operation_count()
                    }))
                }),
            )
            .route(
                "/latency",
                web::post().to(|d: Data, b: web::Json<Latency>| async move {
                    d.lock().latency = b.into_inner();
                    control_ok(&d.lock().latency)
                }),
            )
            .route(
                "/rate_limit",
                web::post().to(|d: Data, b: web::Json<RateLimit>| async move {
                    let limit = b.into_inner();
                    set_rate_limit(&d, limit);
                    control_ok(&limit)
                }),
            )
            .route(
                "/rate_limits",
                web::post().to(|d: Data, b: web::Json<RateLimitsRequest>| async move {
                    match b.into_inner().model() {
                        Ok(model) => {
                            set_rate_limits(&d, model.clone());
                            control_ok(&json!({"model": model}))
                        }
                        Err(e) => control_err(&e),
                    }
                }),
            )
            .route(
                "/rate_limits",
                web::get().to(|d: Data| async move {
                    let model = d.lock().limiter.as_ref().map(|l| l.model.clone());
                    control_ok(&json!({"model": model}))
                }),
            )
            .route(
                "/faults",
                web::post().to(|d: Data, b: web::Json<FaultSpec>| async move {
                    let id = add_fault(&d, b.into_inner());
                    control_ok(&json!({"id": id}))
                }),
            )
            .route(
                "/faults",
                web::get().to(|d: Data| async move { control_ok(&d.lock().faults) }),
            )
            .route(
                "/faults",
                web::delete().to(|d: Data| async move {
                    d.lock().faults.clear();
                    control_ok(&json!({"cleared": true}))
                }),
            )
            .route(
                "/accounts/{account}/external_account",
                web::post().to(
                    |d: Data, p: web::Path<String>, b: web::Json<ExternalAccountRequest>| async move {
                        result(set_external_account(&d.into_inner(), &p, b.into_inner()))
                    },
                ),
            )
            .route(
                "/accounts/{account}/complete_onboarding",
                web::post().to(|d: Data, p: web::Path<String>| async move {
                    result(complete_onboarding(&d.into_inner(), &p))
                }),
            )
            .route(
                "/balances",
                web::post().to(|d: Data, b: web::Json<SetBalance>| async move {
                    result(set_balance(&d, b.into_inner()))
                }),
            )
            .route(
                "/clock",
                web::get().to(|d: Data| async move {
                    let s = d.lock();
                    control_ok(&json!({"now": s.now(), "offset_secs": s.clock_offset_secs}))
                }),
            )
            .route(
                "/clock/advance",
                web::post().to(|d: Data, b: web::Json<ClockAdvance>| async move {
                    let mut s = d.lock();
                    s.clock_offset_secs = s.clock_offset_secs.saturating_add(b.seconds);
                    control_ok(&json!({"now": s.now(), "offset_secs": s.clock_offset_secs}))
                }),
            )
            .route(
                "/webhooks/endpoint",
                web::post().to(|d: Data, b: web::Json<WebhookEndpoint>| async move {
                    control_ok(&set_webhook(&d, b.into_inner()))
                }),
            )
            .route(
                "/webhooks/endpoint",
                web::delete().to(|d: Data| async move {
                    d.lock().webhook = None;
                    control_ok(&json!({"deleted": true}))
                }),
            )
            .route(
                "/webhooks/send",
                web::post().to(|d: Data, b: web::Json<SendWebhook>| async move {
                    result(send_webhook(d.into_inner(), b.into_inner()).await)
                }),
            )
            .route(
                "/webhooks/deliveries",
                web::get().to(|d: Data| async move { control_ok(&d.lock().deliveries) }),
            )
            .route(
                "/validation_failures",
                web::get().to(|d: Data| async move {
                    let failures = d.lock().validation_failures.clone();
                    control_ok(&json!({"count": failures.len(), "failures": failures}))
                }),
            )
            .route(
                "/ledger",
                web::get().to(|d: Data, q: web::Query<LedgerFilter>| async move {
                    control_ok(&ledger(&d, &q))
                }),
            )
            .route(
                "/reset",
                web::post().to(|d: Data| async move {
                    reset(&d);
                    control_ok(&json!({"reset": true}))
                }),
            )
            .route(
                "/oauth/redirect_uri",
                web::post().to(|d: Data, b: web::Json<OAuthRedirect>| async move {
                    d.lock().oauth_redirect_uri = Some(b.into_inner().url);
                    control_ok(&json!({"set": true}))
                }),
            )
            .route(
                "/oauth/codes",
                web::post().to(
                    |d: Data, b: Option<web::Json<OAuthCodeRequest>>| async move {
                        let req = b.map(web::Json::into_inner).unwrap_or_default();
                        result(create_oauth_code(&d, req.account.as_deref()))
                    },
                ),
            )
            .route(
                "/disputes",
                web::post().to(|d: Data, b: web::Json<CreateDispute>| async move {
                    result(create_dispute(&d.into_inner(), &b))
                }),
            )
            .route(
                "/transfers/{transfer}/amount",
                web::post().to(
                    |d: Data, p: web::Path<String>, b: web::Json<AlterTransfer>| async move {
                        result(alter_transfer(&d, &p, b.amount, b.currency.as_deref()))
                    },
                ),
            )
            .route(
                "/payouts/{payout}/status",
                web::post().to(
                    |d: Data, p: web::Path<String>, b: web::Json<PayoutStatus>| async move {
                        result(set_payout_status(&d.into_inner(), &p, &b.status))
                    },
                ),
            ),
    );
}

// ---------------------------------------------------------------- pipeline

/// A body that fails on its first poll, so actix aborts the connection
/// before writing anything: the client sees a transport error.
struct AbortBody;

impl MessageBody for AbortBody {
    type Error = std::io::Error;

    fn size(&self) -> BodySize {
        BodySize::Stream
    }

    fn poll_next(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, Self::Error>>> {
        Poll::Ready(Some(Err(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "stripe-sandbox fault: connection dropped",
        ))))
    }
}

enum Outcome {
    Reply {
        status: u16,
        body: Value,
        should_retry: Option<bool>,
        replayed: bool,
    },
    /// Refused by the limiter model: its body and `Stripe-Rate-Limited-Reason`.
    Limited {
        status: u16,
        body: Value,
        reason: &'static str,
    },
    Drop,
}

impl Outcome {
    fn ok(status: u16, body: Value) -> Self {
        Self::Reply {
            status,
            body,
            should_retry: None,
            replayed: false,
        }
    }

    fn error(e: &ApiError) -> Self {
        Self::Reply {
            status: e.status,
            body: e.body(),
            should_retry: Some(e.should_retry()),
            replayed: false,
        }
    }
}

/// Removes an in-flight idempotency entry unless the request completed,
/// also when the handler future is dropped mid-way (client went away).
struct InFlightGuard {
    inner: Arc<Inner>,
    key: IdemKey,
    token: u64,
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut s = self.inner.lock();
        if let Some(entry) = s.idempotency.get(&self.key)
            && matches!(entry.state, IdemState::InFlight { token } if token == self.token)
        {
            s.idempotency.remove(&self.key);
        }
    }
}

enum Target {
    V1 {
        route: crate::spec::RouteMatch,
        params: Value,
        scope: String,
    },
    OAuthToken(Vec<(String, String)>, Option<String>),
    OAuthDeauthorize(Vec<(String, String)>),
}

async fn stripe_entry(req: HttpRequest, body: Bytes, data: Data) -> HttpResponse {
    let inner = data.into_inner();
    let request_id = new_id("req_");
    let outcome = pipeline(&inner, &req, &body, &request_id).await;
    match outcome {
        Outcome::Drop => HttpResponse::Ok().body(AbortBody),
        Outcome::Limited {
            status,
            body,
            reason,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::TOO_MANY_REQUESTS);
            HttpResponse::build(code)
                .insert_header(("Request-Id", request_id.as_str()))
                .insert_header(("Stripe-Version", crate::webhook::API_VERSION))
                .insert_header(("Stripe-Rate-Limited-Reason", reason))
                .insert_header(("Stripe-Should-Retry", "true"))
                .content_type("application/json")
                .body(body.to_string())
        }
        Outcome::Reply {
            status,
            body,
            should_retry,
            replayed,
        } => {
            let code = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut resp = HttpResponse::build(code);
            resp.insert_header(("Request-Id", request_id.as_str()));
            resp.insert_header(("Stripe-Version", crate::webhook::API_VERSION));
            if let Some(retry) = should_retry {
                resp.insert_header(("Stripe-Should-Retry", if retry { "true" } else { "false" }));
            }
            if replayed {
                resp.insert_header(("Idempotent-Replayed", "true"));
            }
            resp.content_type("application/json").body(body.to_string())
        }
    }
}

fn header<'a>(req: &'a HttpRequest, name: &str) -> Option<&'a str> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let value = header(req, "Authorization")?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn valid_key(key: &str) -> bool {
    ["sk_test_", "sk_live_", "rk_test_", "rk_live_", "rk_"]
        .iter()
        .any(|p| key.starts_with(p) && key.len() > p.len())
}

fn auth_error(req: &HttpRequest) -> Option<ApiError> {
    match bearer(req) {
        None => Some(
            ApiError::invalid(
                None,
                "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.",
                None,
            )
            .with_status(401),
        ),
        Some(key) if !valid_key(key) => {
            let shown: String = key.chars().take(8).collect();
            Some(
                ApiError::invalid(None, format!("Invalid API Key provided: {shown}****"), None)
                    .with_status(401),
            )
        }
        Some(_) => None,
    }
}

/// `k=v&k=v` with keys and values percent-decoded, for fault `contains` matching.
fn decoded(input: &[u8]) -> String {
    form_urlencoded::parse(input)
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

fn unrecognized(method: &str, path: &str) -> ApiError {
    ApiError::invalid(
        None,
        format!("Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."),
        None,
    )
    .with_status(404)
}

fn take_fault(inner: &Inner, method: &str, path: &str, haystack: &str) -> Option<FaultSpec> {
    let mut s = inner.lock();
    let idx = s
        .faults
        .iter()
        .position(|f| f.remaining > 0 && f.spec.matches(method, path, haystack))?;
    let fault = s.faults.get_mut(idx)?;
    fault.remaining = fault.remaining.saturating_sub(1);
    let spec = fault.spec.clone();
    s.faults.retain(|f| f.remaining > 0);
    Some(spec)
}

fn latency_sample(inner: &Inner) -> Duration {
    let l = inner.lock().latency;
    let jitter = random_below(l.jitter_ms.saturating_add(1));
    Duration::from_millis(l.fixed_ms.saturating_add(jitter))
}

async fn sleep(d: Duration) {
    if !d.is_zero() {
        tokio::time::sleep(d).await;
    }
}

/// Everything before the latency: the parts that may reject the request.
fn prepare(inner: &Inner, req: &HttpRequest, body: &[u8]) -> Result<Target, ApiError> {
    let path = req.path();
    let method_str = req.method().as_str();
    if path == "/oauth/token" || path == "/oauth/deauthorize" {
        if method_str != "POST" {
            return Err(unrecognized(method_str, path));
        }
        let form: Vec<(String, String)> = form_urlencoded::parse(body)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        return Ok(if path == "/oauth/token" {
            Target::OAuthToken(form, bearer(req).map(str::to_owned))
        } else {
            Target::OAuthDeauthorize(form)
        });
    }
    if let Some(e) = auth_error(req) {
        return Err(e);
    }
    let method = HttpMethod::parse(method_str).ok_or_else(|| unrecognized(method_str, path))?;
    let route = inner
        .spec
        .match_route(method, path)
        .ok_or_else(|| unrecognized(method_str, path))?;
    let validated = match method {
        HttpMethod::Get => inner.spec.validate_query(&route.op, req.query_string()),
        HttpMethod::Post | HttpMethod::Delete => inner.spec.validate_body(&route.op, body),
    };
    let params = match validated {
        Ok(params) => params,
        Err(e) => {
            // Kept so that clients' tests can assert they never sent an invalid request.
            inner.lock().validation_failures.push(ValidationFailure {
                method: method_str.to_owned(),
                path: path.to_owned(),
                code: e.code.map(str::to_owned),
                param: e.param.clone(),
                message: e.message.clone(),
            });
            return Err(e.into());
        }
    };
    let scope = match header(req, "Stripe-Account") {
        None => inner.platform_id.clone(),
        Some(acct) => {
            let s = inner.lock();
            match s.world.accounts.get(acct) {
                Some(a) if !a.deauthorized => a.id.clone(),
                _ => {
                    let key: String = bearer(req).unwrap_or_default().chars().take(8).collect();
                    return Err(ApiError::invalid(
                        Some("account_invalid"),
                        format!("The provided key '{key}****' does not have access to account '{acct}' (or that account does not exist). Application access may have been revoked."),
                        None,
                    )
                    .with_status(403));
                }
            }
        }
    };
    Ok(Target::V1 {
        route,
        params,
        scope,
    })
}

/// Holds a request's place in the limiter until it ends (also when the
/// handler future is dropped mid-way).
struct AdmissionGuard {
    inner: Arc<Inner>,
    admission: crate::limiter::Admission,
}

impl Drop for AdmissionGuard {
    fn drop(&mut self) {
        if let Some(l) = self.inner.lock().limiter.as_mut() {
            l.release(&self.admission);
        }
    }
}

/// The object a write changes, for `lock_timeout`: the last path parameter
/// of an update (`POST /v1/accounts/{account}`), a delete, or an action on
/// an object (`…/{intent}/confirm`, `…/{id}/reversals`).
fn written_object(route: &crate::spec::RouteMatch) -> Option<&str> {
    if route.op.method == HttpMethod::Get {
        return None;
    }
    let template = route.op.template.as_str();
    let last = template.rsplit('/').next().unwrap_or("");
    let acts_on_object = last.starts_with('{')
        || matches!(
            last,
            "capture" | "confirm" | "cancel" | "reversals" | "close" | "refunds" | "reject"
        );
    if !acts_on_object {
        return None;
    }
    route.path_params.last().map(|(_, v)| v.as_str())
}

/// Admits the request under the limiter model, or answers as Stripe does.
fn admit(
    inner: &Arc<Inner>,
    scope: &str,
    route: &crate::spec::RouteMatch,
) -> Result<Option<AdmissionGuard>, Outcome> {
    use crate::limiter::Refusal;
    let mut s = inner.lock();
    let Some(limiter) = s.limiter.as_mut() else {
        return Ok(None);
    };
    let method = route.op.method.as_str();
    match limiter.admit(
        scope,
        method,
        &route.op.template,
        written_object(route),
        Instant::now(),
    ) {
        Ok(admission) => Ok(Some(AdmissionGuard {
            inner: Arc::clone(inner),
            admission,
        })),
        Err(refusal) => {
            let mode = limiter.model.mode;
            let (status, code, message) = match refusal {
                Refusal::AccountCreation => (
                    400,
                    "rate_limit",
                    "Request rate limit exceeded. You are creating accounts too quickly: limit your requests to less than 5 creation attempts per second with a test key, or less than 30 with a live key.".to_owned(),
                ),
                Refusal::LockTimeout => (
                    429,
                    "lock_timeout",
                    "This object cannot be accessed right now because another API request or Stripe process is currently accessing it. If you see this error intermittently, retry the request. If you see this error frequently and are making multiple concurrent requests to a single object, make your requests serially or at a lower rate.".to_owned(),
                ),
                Refusal::GlobalRate | Refusal::EndpointRate | Refusal::Concurrency => (
                    429,
                    "rate_limit",
                    "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.".to_owned(),
                ),
            };
            tracing::debug!(
                account = scope,
                ?mode,
                reason = refusal.reason(),
                "rate limited"
            );
            let error = ApiError::invalid(Some(code), message, None).with_status(status);
            Err(Outcome::Limited {
                status,
                body: error.body(),
                reason: refusal.reason(),
            })
        }
    }
}

enum Idem {
    None,
    Replay(u16, Value),
    Guard(InFlightGuard, String),
}

/// Looks the key up: replay, refuse, or register the request as in flight.
fn idempotency(
    inner: &Arc<Inner>,
    key: &str,
    scope: &str,
    fingerprint: String,
) -> Result<Idem, ApiError> {
    let mut s = inner.lock();
    let now = s.now();
    let map_key = (key.to_owned(), scope.to_owned());
    if let Some(entry) = s.idempotency.get(&map_key) {
        if now.saturating_sub(entry.created) < IDEMPOTENCY_TTL_SECS {
            return match &entry.state {
                IdemState::InFlight { .. } => Err(ApiError {
                    status: 409,
                    kind: crate::error::ErrorType::InvalidRequestError,
                    code: Some("idempotency_key_in_use".to_owned()),
                    message: "There is currently another in-progress request using this Idempotent Key (that probably means you submitted twice, and the other request is still going through): retry later.".to_owned(),
                    param: None,
                    decline_code: None,
                }),
                IdemState::Done { .. } if entry.fingerprint != fingerprint => Err(ApiError {
                    status: 400,
                    kind: crate::error::ErrorType::IdempotencyError,
                    code: None,
                    message: format!("Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{key}' if you meant to execute a different request."),
                    param: None,
                    decline_code: None,
                }),
                IdemState::Done { status, body } => Ok(Idem::Replay(*status, body.clone())),
            };
        }
        s.idempotency.remove(&map_key);
    }
    let token = s.next_token;
    s.next_token = s.next_token.saturating_add(1);
    s.idempotency.insert(
        map_key.clone(),
        IdemEntry {
            fingerprint,
            created: now,
            state: IdemState::InFlight { token },
        },
    );
    Ok(Idem::Guard(
        InFlightGuard {
            inner: Arc::clone(inner),
            key: map_key,
            token,
        },
        key.to_owned(),
    ))
}

async fn pipeline(inner: &Arc<Inner>, req: &HttpRequest, body: &[u8], request_id: &str) -> Outcome {
    let latency = latency_sample(inner);
    let admitted = inner
        .lock()
        .rate
        .as_mut()
        .is_none_or(|w| w.admit(Instant::now()));
    if !admitted {
        sleep(latency).await;
        return Outcome::error(
            &ApiError::invalid(
                Some("rate_limit"),
                "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
                None,
            )
            .with_status(429),
        );
    }
    let target = match prepare(inner, req, body) {
        Ok(t) => t,
        Err(e) => {
            sleep(latency).await;
            return Outcome::error(&e);
        }
    };
    // Stripe's limiter, per account and operation (when a model is set),
    // before any fault rule is used up by a request it refuses.
    let _admission = match &target {
        Target::V1 { route, scope, .. } => match admit(inner, scope, route) {
            Ok(admission) => admission,
            Err(refused) => {
                sleep(latency).await;
                return refused;
            }
        },
        Target::OAuthToken(..) | Target::OAuthDeauthorize(_) => None,
    };
    let method = req.method().as_str();
    let path = req.path();
    let haystack = format!(
        "{}&{}",
        decoded(req.query_string().as_bytes()),
        decoded(body)
    );
    let mut drop_after = false;
    if let Some(fault) = take_fault(inner, method, path, &haystack) {
        match fault.kind {
            FaultKind::Fail => {
                sleep(latency).await;
                return Outcome::error(&fault.error());
            }
            FaultKind::Reset => {
                sleep(latency).await;
                return Outcome::Drop;
            }
            FaultKind::CommitThenDrop => drop_after = true,
        }
    }
    let (route, params, scope) = match target {
        Target::V1 {
            route,
            params,
            scope,
        } => (route, params, scope),
        Target::OAuthToken(form, key) => {
            sleep(latency).await;
            let (status, body) = crate::oauth::token(inner, &form, key.as_deref());
            return if drop_after {
                Outcome::Drop
            } else {
                Outcome::ok(status, body)
            };
        }
        Target::OAuthDeauthorize(form) => {
            sleep(latency).await;
            let (status, body, events) = crate::oauth::deauthorize(inner, &form);
            dispatch_events(inner, events, Some(request_id), None);
            return if drop_after {
                Outcome::Drop
            } else {
                Outcome::ok(status, body)
            };
        }
    };
    // Stripe ignores idempotency keys on GET and DELETE.
    let idem_key = header(req, "Idempotency-Key").filter(|_| route.op.method == HttpMethod::Post);
    let idem = match idem_key {
        None => Idem::None,
        Some(key) => {
            let fingerprint = format!("{method} {path} {params}");
            match idempotency(inner, key, &scope, fingerprint) {
                Ok(i) => i,
                Err(e) => {
                    sleep(latency).await;
                    return Outcome::error(&e);
                }
            }
        }
    };
    sleep(latency).await;
    let (guard, key) = match idem {
        Idem::Replay(status, body) => {
            if drop_after {
                return Outcome::Drop;
            }
            return Outcome::Reply {
                status,
                should_retry: (status >= 400).then_some(status == 409 || status >= 500),
                body,
                replayed: true,
            };
        }
        Idem::Guard(g, k) => (Some(g), Some(k)),
        Idem::None => (None, None),
    };
    let (status, body, events) = {
        let mut s = inner.lock();
        let now = s.now();
        let mut ctx = Ctx {
            scope: &scope,
            now,
            idempotency_key: key.as_deref(),
            params: &params,
            route: &route,
            events: Vec::new(),
        };
        let (status, body) = match api::execute(&mut s.world, &mut ctx) {
            Ok(ok) => ok,
            Err(e) => (e.status, e.body()),
        };
        let events = std::mem::take(&mut ctx.events);
        if let Some(g) = &guard
            && let Some(entry) = s.idempotency.get_mut(&g.key)
        {
            entry.state = IdemState::Done {
                status,
                body: body.clone(),
            };
        }
        (status, body, events)
    };
    drop(guard);
    dispatch_events(inner, events, Some(request_id), key.as_deref());
    if drop_after {
        return Outcome::Drop;
    }
    Outcome::Reply {
        status,
        should_retry: (status >= 400).then_some(status == 409 || status >= 500),
        body,
        replayed: false,
    }
}

pub(crate) fn lock_world<R>(inner: &Inner, f: impl FnOnce(&mut World, i64) -> R) -> R {
    let mut s = inner.lock();
    let now = s.now();
    f(&mut s.world, now)
}

/// The pages Stripe hosts on connect.stripe.com, served by the sandbox
/// itself so that a person can click through onboarding with no Stripe
/// account: the Account Link's onboarding page and the Express dashboard
/// a login link opens.
mod hosted {
    use std::collections::HashMap;

    use actix_web::http::StatusCode;
    use actix_web::{HttpResponse, web};

    use super::{Data, complete_onboarding, html_escape};

    fn page(status: StatusCode, title: &str, body: &str) -> HttpResponse {
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; form-action *",
            ))
            .body(format!(
                "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
                 <title>Stripe sandbox: {title}</title><style>body{{font:16px system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#1a1f36}}\
                 button{{font:inherit;padding:.6rem 1rem;border-radius:6px;border:1px solid #635bff;background:#635bff;color:#fff;cursor:pointer}}\
                 button[value=leave]{{background:#fff;color:#635bff}}button:focus{{outline:3px solid #a5a0ff}}.note{{color:#697386}}</style>\
                 </head><body><main>{body}</main></body></html>"
            ))
    }

    fn redirect(to: &str) -> HttpResponse {
        HttpResponse::Found()
            .insert_header(("Location", to.to_owned()))
            .finish()
    }

    /// The link's state: `Ok(link)` while it may be used, `Err(response)`
    /// otherwise (an expired or used link goes to its `refresh_url`, as
    /// Stripe's does; an unknown one is 404).
    fn usable(
        d: &Data,
        account: &str,
        token: &str,
    ) -> Result<crate::state::HostedAccountLink, Box<HttpResponse>> {
        let s = d.lock();
        let now = s.now();
        match s.world.account_links.get(token) {
            Some(link) if link.account == account => {
                if link.used || link.expires_at < now {
                    Err(Box::new(if link.refresh_url.is_empty() {
                        page(
                            StatusCode::GONE,
                            "link expired",
                            "<h1>This onboarding link has expired</h1><p>Ask for a new one.</p>",
                        )
                    } else {
                        redirect(&link.refresh_url)
                    }))
                } else {
                    Ok(link.clone())
                }
            }
            _ => Err(Box::new(page(
                StatusCode::NOT_FOUND,
                "no such link",
                "<h1>No such onboarding link</h1>",
            ))),
        }
    }

    /// `GET /setup/s/{account}/{token}`: Complete onboarding, or leave.
    pub(super) async fn onboarding_page(
        d: Data,
        path: web::Path<(String, String)>,
    ) -> HttpResponse {
        let (account, token) = path.into_inner();
        match usable(&d, &account, &token) {
            Ok(_) => page(
                StatusCode::OK,
                "onboarding",
                &format!(
                    "<h1>Set up your Stripe Express account</h1>\
                     <p>Account <code>{account}</code>.</p>\
                     <p class=\"note\">This is the Stripe sandbox: no identity or bank details are asked for. \
                     Complete onboarding marks the account verified, with transfers and payouts enabled, \
                     and sends <code>account.updated</code>.</p>\
                     <form method=\"post\">\
                     <button type=\"submit\" name=\"decision\" value=\"complete\" autofocus>Complete onboarding</button> \
                     <button type=\"submit\" name=\"decision\" value=\"leave\">Leave for now</button>\
                     </form>",
                    account = html_escape(&account)
                ),
            ),
            Err(response) => *response,
        }
    }

    /// `POST /setup/s/{account}/{token}`: completes onboarding (once) and
    /// returns to `return_url`; leaving returns there unchanged.
    pub(super) async fn onboarding_decision(
        d: Data,
        path: web::Path<(String, String)>,
        form: web::Form<HashMap<String, String>>,
    ) -> HttpResponse {
        let (account, token) = path.into_inner();
        let link = match usable(&d, &account, &token) {
            Ok(link) => link,
            Err(response) => return *response,
        };
        if form.get("decision").map(String::as_str) == Some("complete") {
            if let Some(l) = d.lock().world.account_links.get_mut(&token) {
                l.used = true;
            }
            if let Err(e) = complete_onboarding(&d.clone().into_inner(), &account) {
                return page(
                    StatusCode::BAD_REQUEST,
                    "onboarding failed",
                    &format!(
                        "<h1>Onboarding failed</h1><p>{}</p>",
                        html_escape(&e.to_string())
                    ),
                );
            }
        }
        if link.return_url.is_empty() {
            return page(
                StatusCode::OK,
                "done",
                "<h1>Done</h1><p>You can close this page.</p>",
            );
        }
        redirect(&link.return_url)
    }

    /// `GET /express/{account}/{token}`: the Express dashboard's stand-in.
    pub(super) async fn express_page(d: Data, path: web::Path<(String, String)>) -> HttpResponse {
        let (account, _) = path.into_inner();
        let s = d.lock();
        let Some(a) = s.world.accounts.get(&account) else {
            return page(
                StatusCode::NOT_FOUND,
                "no such account",
                "<h1>No such account</h1>",
            );
        };
        let balances: String = s
            .world
            .balances
            .get(&account)
            .map(|by_currency| {
                by_currency
                    .iter()
                    .map(|(currency, b)| {
                        format!(
                            "<li>{}: {} available, {} pending (minor units)</li>",
                            html_escape(&currency.to_uppercase()),
                            b.available,
                            b.pending
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        page(
            StatusCode::OK,
            "Express dashboard",
            &format!(
                "<h1>Express dashboard</h1><p>Account <code>{}</code>, {}.</p><ul>{}</ul>\
                 <p class=\"note\">This is the Stripe sandbox's stand-in for the Express dashboard.</p>",
                html_escape(&a.id),
                if a.onboarded {
                    "verified"
                } else {
                    "onboarding unfinished"
                },
                if balances.is_empty() {
                    "<li>No balance yet.</li>".to_owned()
                } else {
                    balances
                }
            ),
        )
    }
}
