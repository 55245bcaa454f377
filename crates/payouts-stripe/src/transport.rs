//! Sends the requests async-stripe builds, over reqwest, with the rate
//! limit, the retry loop and error classification.
//!
//! async-stripe's own client hides `Stripe-Should-Retry` and the HTTP
//! status of transport failures, and its `Idempotent(key)` strategy never
//! retries. Sending the requests it builds ourselves keeps its typed,
//! spec-shaped parameters and gives us every header.

use std::time::Duration;

use payouts_domain::ids::{AccountId, IdempotencyKey};
use payouts_domain::ports::{FailureKind, GatewayError};
use reqwest::header::{HeaderMap, HeaderValue};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use stripe_client_core::{RequestBuilder, StripeMethod, StripeRequest};

use crate::error::{ApiErrorBody, api_error, transport_error, unreadable};
use crate::pacer::{Budgets, Pacer};

/// The API version async-stripe 1.0.0-rc.10 is generated for, sent on every call.
pub fn stripe_version() -> &'static str {
    // `ApiVersion::as_str` borrows; the constant lives forever.
    static VERSION: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    VERSION.get_or_init(|| stripe_client_core::VERSION.as_str().to_owned())
}

const USER_AGENT: &str = concat!(
    "payouts-stripe/",
    env!("CARGO_PKG_VERSION"),
    " (async-stripe 1.0.0-rc.10)"
);

/// Retry policy: attempts and exponential backoff with jitter.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RetryPolicy {
    pub max_attempts: u32,
    pub base: Duration,
    pub max: Duration,
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): `base · 2^(retry-1)`,
    /// capped at `max`, then "equal jitter" (half fixed, half random) so
    /// that a batch's retries do not arrive together.
    pub(crate) fn backoff(&self, retry: u32, random: f64) -> Duration {
        let exp = self
            .base
            .saturating_mul(2_u32.saturating_pow(retry.saturating_sub(1)));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + half.mul_f64(random.clamp(0.0, 1.0))
    }
}

/// How many 429s one call may meet before they count as failed attempts:
/// each re-send waits a back-off, then for the pacer, which halves its rate
/// at every 429.
const MAX_THROTTLED_RESENDS: u32 = 8;

/// Whether to send an error response again: Stripe's `Stripe-Should-Retry`
/// header decides when present; without it, the ambiguous kinds (429,
/// `lock_timeout`, 5xx, 409 key in use) are retried.
pub(crate) fn should_retry(header: Option<bool>, kind: FailureKind) -> bool {
    header.unwrap_or_else(|| kind.is_ambiguous())
}

/// Per-call options: the account to act as and the idempotency key.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Call<'a> {
    pub account: Option<&'a AccountId>,
    pub key: Option<&'a IdempotencyKey>,
}

impl<'a> Call<'a> {
    pub(crate) fn on(account: Option<&'a AccountId>) -> Self {
        Call { account, key: None }
    }

    pub(crate) fn keyed(account: Option<&'a AccountId>, key: &'a IdempotencyKey) -> Self {
        Call {
            account,
            key: Some(key),
        }
    }
}

/// Counts of Stripe HTTP attempts by outcome, for metrics: `ok` or the
/// failure kind of the attempt (`rate_limited`, `ambiguous`, …). Each
/// attempt counts, retries included.
#[derive(Debug, Default)]
pub struct CallStats {
    counts: [std::sync::atomic::AtomicU64; CallStats::OUTCOMES.len()],
}

impl CallStats {
    /// Every outcome label, in a stable order.
    pub const OUTCOMES: [&'static str; 9] = [
        "ok",
        "insufficient_balance",
        "account_inactive",
        "cannot_receive",
        "rate_limited",
        "ambiguous",
        "idempotency_mismatch",
        "invalid_request",
        "not_found",
    ];

    fn record(&self, outcome: &str) {
        if let Some(i) = Self::OUTCOMES.iter().position(|o| *o == outcome)
            && let Some(c) = self.counts.get(i)
        {
            c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// `(outcome, count)` for every outcome.
    pub fn snapshot(&self) -> Vec<(&'static str, u64)> {
        Self::OUTCOMES
            .iter()
            .zip(self.counts.iter())
            .map(|(o, c)| (*o, c.load(std::sync::atomic::Ordering::Relaxed)))
            .collect()
    }
}

/// The HTTP side of the gateway.
pub(crate) struct Transport {
    http: reqwest::Client,
    api_base: String,
    secret: SecretString,
    pacer: Pacer,
    retry: RetryPolicy,
    stats: CallStats,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Transport")
            .field("api_base", &self.api_base)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

fn random_unit() -> f64 {
    // A v4 UUID's random bits are plenty for jitter; no extra RNG crate.
    let bits = uuid::Uuid::new_v4().as_u128() as u64 >> 11;
    bits as f64 / (1_u64 << 53) as f64
}

impl Transport {
    pub(crate) fn new(
        http: reqwest::Client,
        api_base: &str,
        secret: SecretString,
        budgets: Budgets,
        retry: RetryPolicy,
    ) -> Self {
        Transport {
            http,
            api_base: api_base.trim_end_matches('/').to_owned(),
            secret,
            pacer: Pacer::new(budgets),
            retry,
            stats: CallStats::default(),
        }
    }

    pub(crate) fn stats(&self) -> &CallStats {
        &self.stats
    }

    pub(crate) fn pacer(&self) -> &Pacer {
        &self.pacer
    }

    pub(crate) fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// Sends a request built by async-stripe and reads the response as `T`.
    pub(crate) async fn send<T: DeserializeOwned>(
        &self,
        request: &impl StripeRequest,
        call: Call<'_>,
        what: &str,
    ) -> Result<T, GatewayError> {
        let bytes = self.send_raw(request.build(), call).await?;
        serde_json::from_slice(&bytes).map_err(|e| unreadable(what, e))
    }

    /// Sends with retries. Every attempt carries the same idempotency key;
    /// after the last attempt the classified error of the last one is returned.
    pub(crate) async fn send_raw(
        &self,
        request: RequestBuilder,
        call: Call<'_>,
    ) -> Result<Vec<u8>, GatewayError> {
        let method = match request.method {
            StripeMethod::Get => reqwest::Method::GET,
            StripeMethod::Post => reqwest::Method::POST,
            StripeMethod::Delete => reqwest::Method::DELETE,
        };
        let api_path = format!("/v1{}", request.path);
        let mut url = format!("{}{api_path}", self.api_base);
        if let Some(query) = request.query.as_deref().filter(|q| !q.is_empty()) {
            url.push('?');
            url.push_str(query);
        }
        let headers = self.headers(call)?;
        let mut attempt: u32 = 0;
        let mut throttled_resends: u32 = 0;
        loop {
            attempt = attempt.saturating_add(1);
            let mut throttled = false;
            let account = call.account.map(|a| a.as_str());
            self.pacer
                .acquire(account, method.as_str(), &request.path)
                .await;
            let sent = tokio::time::Instant::now();
            let mut builder = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(body) = &request.body {
                builder = builder
                    .header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body.clone());
            }
            let (error, retry_header) = match builder.send().await {
                Err(e) => {
                    log_call(&CallLog {
                        method: method.as_str(),
                        path: &api_path,
                        status: None,
                        elapsed: sent.elapsed(),
                        request_id: None,
                        call,
                        attempt,
                    });
                    (transport_error(&e), None)
                }
                Ok(response) => {
                    let status = response.status().as_u16();
                    let request_id = header_str(response.headers(), "request-id");
                    log_call(&CallLog {
                        method: method.as_str(),
                        path: &api_path,
                        status: Some(status),
                        elapsed: sent.elapsed(),
                        request_id: request_id.as_deref(),
                        call,
                        attempt,
                    });
                    let reason = header_str(response.headers(), "stripe-rate-limited-reason");
                    let retry_header = header_str(response.headers(), "stripe-should-retry")
                        .and_then(|v| v.parse::<bool>().ok());
                    match response.bytes().await {
                        Err(e) => (transport_error(&e), None),
                        Ok(body) if (200..300).contains(&status) => {
                            self.stats.record("ok");
                            return Ok(body.to_vec());
                        }
                        Ok(body) => {
                            let parsed = ApiErrorBody::parse(&body);
                            if status == 429 {
                                // Refused before Stripe acted: re-sent below.
                                throttled = true;
                                // Stripe's limiter refused: that bucket slows
                                // down. A `lock_timeout` (another request held
                                // the object) says nothing of the rate.
                                if parsed.code.as_deref() != Some("lock_timeout") {
                                    self.pacer.throttled(
                                        account,
                                        method.as_str(),
                                        &request.path,
                                        reason.as_deref(),
                                        sent,
                                    );
                                }
                            }
                            (
                                api_error(status, &parsed, request_id.as_deref()),
                                retry_header,
                            )
                        }
                    }
                }
            };
            self.stats.record(error.kind.as_str());
            let retry = should_retry(retry_header, error.kind)
                // A write without a key must never be sent twice.
                && (matches!(method, reqwest::Method::GET) || call.key.is_some());
            if retry && throttled && throttled_resends < MAX_THROTTLED_RESENDS {
                // Stripe's limiter refused it before acting: not a failure,
                // and not an attempt. It is re-sent with the same key when
                // the slowed pacer lets it go.
                throttled_resends = throttled_resends.saturating_add(1);
                attempt = attempt.saturating_sub(1);
                let delay = self.retry.backoff(throttled_resends, random_unit());
                tracing::debug!(
                    path = %request.path,
                    resend = throttled_resends,
                    delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                    "Stripe's limiter refused the call; re-sending with the same key"
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            if !retry || attempt >= self.retry.max_attempts {
                if attempt > 1 {
                    tracing::warn!(
                        path = %request.path,
                        attempts = attempt,
                        kind = error.kind.as_str(),
                        "Stripe call gave up"
                    );
                }
                return Err(error);
            }
            let delay = self.retry.backoff(attempt, random_unit());
            tracing::warn!(
                path = %request.path,
                attempt,
                kind = error.kind.as_str(),
                code = error.code.as_deref().unwrap_or("-"),
                delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                "retrying Stripe call with the same idempotency key"
            );
            tokio::time::sleep(delay).await;
        }
    }

    fn headers(&self, call: Call<'_>) -> Result<HeaderMap, GatewayError> {
        let mut headers = HeaderMap::new();
        let mut auth = HeaderValue::try_from(format!("Bearer {}", self.secret.expose_secret()))
            .map_err(|_| crate::error::invalid("the secret key is not a valid header value"))?;
        auth.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, auth);
        headers.insert("stripe-version", HeaderValue::from_static(stripe_version()));
        headers.insert(
            reqwest::header::USER_AGENT,
            HeaderValue::from_static(USER_AGENT),
        );
        if let Some(account) = call.account {
            let value = HeaderValue::try_from(account.as_str())
                .map_err(|_| crate::error::invalid("account id is not a valid header value"))?;
            headers.insert("stripe-account", value);
        }
        if let Some(key) = call.key {
            let value = HeaderValue::try_from(key.as_str()).map_err(|_| {
                crate::error::invalid("idempotency key is not a valid header value")
            })?;
            headers.insert("idempotency-key", value);
        }
        Ok(headers)
    }
}

/// What one Stripe HTTP attempt logs.
pub(crate) struct CallLog<'a> {
    pub method: &'a str,
    /// The API path (`/v1/transfers`), never the query string.
    pub path: &'a str,
    /// `None` when no answer came (a transport failure).
    pub status: Option<u16>,
    pub elapsed: Duration,
    /// Stripe's `Request-Id`, which Stripe's support asks for.
    pub request_id: Option<&'a str>,
    pub call: Call<'a>,
    pub attempt: u32,
}

/// One `info` line per Stripe HTTP attempt: method, path, status, duration,
/// Stripe's `Request-Id`, the idempotency key and the connected account.
/// Never a header's value besides those, so never the secret key; never a
/// body, so never an OAuth code.
pub(crate) fn log_call(log: &CallLog<'_>) {
    let duration_ms = u64::try_from(log.elapsed.as_millis()).unwrap_or(u64::MAX);
    tracing::info!(
        target: "payouts_stripe::call",
        method = %log.method,
        path = %log.path,
        status = %log.status.map_or_else(|| "none".to_owned(), |s| s.to_string()),
        duration_ms,
        stripe_request_id = %log.request_id.unwrap_or("-"),
        idempotency_key = %log.call.key.map_or("-", |k| k.as_str()),
        account = %log.call.account.map_or("-", |a| a.as_str()),
        attempt = log.attempt,
        "stripe call"
    );
}

fn header_str(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stripe_should_retry_decides_when_present() {
        assert!(should_retry(Some(true), FailureKind::InvalidRequest));
        assert!(!should_retry(Some(false), FailureKind::Ambiguous));
        assert!(!should_retry(Some(false), FailureKind::RateLimited));
        assert!(should_retry(None, FailureKind::Ambiguous));
        assert!(should_retry(None, FailureKind::RateLimited));
        assert!(!should_retry(None, FailureKind::InsufficientBalance));
        assert!(!should_retry(None, FailureKind::IdempotencyMismatch));
        assert!(!should_retry(None, FailureKind::NotFound));
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let p = RetryPolicy {
            max_attempts: 5,
            base: Duration::from_millis(100),
            max: Duration::from_millis(350),
        };
        assert_eq!(p.backoff(1, 0.0), Duration::from_millis(50));
        assert_eq!(p.backoff(1, 1.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 0.0), Duration::from_millis(100));
        assert_eq!(p.backoff(2, 1.0), Duration::from_millis(200));
        assert_eq!(p.backoff(3, 1.0), Duration::from_millis(350));
        assert_eq!(p.backoff(30, 0.5), Duration::from_micros(262_500));
        for _ in 0..100 {
            let r = random_unit();
            assert!((0.0..1.0).contains(&r));
        }
    }

    #[test]
    fn sends_the_pinned_api_version() {
        assert_eq!(stripe_version(), "2026-09-30.endive");
    }
}
