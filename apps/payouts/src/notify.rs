//! Outbox delivery: every notification is logged; when it has a target (one
//! of its merchant's webhook endpoints, or else the service's default map
//! `PAYOUTS_NOTIFY_WEBHOOKS`) it is also POSTed there as JSON, signed the
//! way Stripe signs webhooks: `Payouts-Signature: t=<unix>,v1=<hex
//! HMAC-SHA256 of "t.body">`, one `v1=` per signing secret (two while an
//! endpoint's rotated-out secret still signs). The map's deliveries are
//! signed with `PAYOUTS_NOTIFY_SECRET`.
//!
//! Each POST has its own timeout (10 s): a target that does not answer in
//! time fails that attempt, which the engine retries with backoff (at least
//! once; receivers deduplicate by `id`).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use hmac::{Hmac, KeyInit, Mac};
use payouts_domain::endpoint::SigningSecret;
use payouts_domain::ids::MerchantId;
use payouts_domain::notification::Notification;
use payouts_domain::ports::{DeliveryTarget, Notifier, NotifyError};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// How long one POST may take, by default.
pub const DELIVERY_TIMEOUT: Duration = Duration::from_secs(10);

/// Logs every notification and POSTs it to its target, if it has one.
pub struct OutboxNotifier {
    endpoints: BTreeMap<String, String>,
    fallback: Option<String>,
    secret: Option<SecretString>,
    http: reqwest::Client,
}

impl std::fmt::Debug for OutboxNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxNotifier")
            .field("endpoints", &self.endpoints)
            .field("fallback", &self.fallback)
            .field("signed", &self.secret.is_some())
            .finish_non_exhaustive()
    }
}

impl OutboxNotifier {
    /// From `merchant=URL,…,*=URL` (or none) and the signing secret, with
    /// the default timeout.
    ///
    /// # Errors
    /// A message naming the bad pair, or a missing secret when endpoints are set.
    pub fn new(map: Option<&str>, secret: Option<SecretString>) -> Result<Self, String> {
        Self::with_timeout(map, secret, DELIVERY_TIMEOUT)
    }

    /// As [`OutboxNotifier::new`], each POST bounded by `timeout`.
    ///
    /// # Errors
    /// As [`OutboxNotifier::new`].
    pub fn with_timeout(
        map: Option<&str>,
        secret: Option<SecretString>,
        timeout: Duration,
    ) -> Result<Self, String> {
        let mut endpoints = BTreeMap::new();
        let mut fallback = None;
        for pair in map
            .unwrap_or("")
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (merchant, url) = pair
                .split_once('=')
                .ok_or_else(|| format!("`{pair}` is not merchant_id=URL"))?;
            let url = url.trim();
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "the endpoint for `{merchant}` is not an http(s) URL"
                ));
            }
            match merchant.trim() {
                "*" => fallback = Some(url.to_owned()),
                m => {
                    endpoints.insert(m.to_owned(), url.to_owned());
                }
            }
        }
        if (fallback.is_some() || !endpoints.is_empty()) && secret.is_none() {
            return Err(
                "PAYOUTS_NOTIFY_WEBHOOKS needs PAYOUTS_NOTIFY_SECRET to sign with".to_owned(),
            );
        }
        crate::install_tls_provider();
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(OutboxNotifier {
            endpoints,
            fallback,
            secret,
            http,
        })
    }

    fn endpoint(&self, merchant: &str) -> Option<&str> {
        self.endpoints
            .get(merchant)
            .or(self.fallback.as_ref())
            .map(String::as_str)
    }
}

/// `t=…,v1=…[,v1=…]` over `t.body`, one `v1` per secret, in order.
///
/// # Errors
/// [`NotifyError`] when there is no secret or one is unusable.
pub fn signature(
    secrets: &[SigningSecret],
    timestamp: i64,
    body: &[u8],
) -> Result<String, NotifyError> {
    if secrets.is_empty() {
        return Err(NotifyError::new("no signing secret"));
    }
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.expose().as_bytes())
            .map_err(|e| NotifyError::new(format!("bad signing secret: {e}")))?;
        mac.update(timestamp.to_string().as_bytes());
        mac.update(b".");
        mac.update(body);
        header.push_str(",v1=");
        header.push_str(&hex::encode(mac.finalize().into_bytes()));
    }
    Ok(header)
}

/// What a receiver gets: the notification, without its delivery state.
pub fn body(n: &Notification) -> Result<Vec<u8>, NotifyError> {
    serde_json::to_vec(&serde_json::json!({
        "id": n.id,
        "object": "notification",
        "type": n.kind,
        "kind": n.kind,
        "merchant_id": n.merchant_id,
        "recipient": n.recipient,
        "dedupe_key": n.dedupe_key,
        "payload": n.payload,
        "created_at": n
            .created_at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
    }))
    .map_err(|e| NotifyError::new(e.to_string()))
}

/// The error of a failed POST, in short and without the URL's query.
fn post_error(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("POST {what}: {}", e.without_url())
}

#[async_trait]
impl Notifier for OutboxNotifier {
    fn fallback_target(&self, merchant: &MerchantId) -> Option<DeliveryTarget> {
        let url = self.endpoint(merchant.as_str())?;
        let secret = self.secret.as_ref()?;
        Some(DeliveryTarget {
            endpoint_id: None,
            url: url.to_owned(),
            secrets: vec![SigningSecret::new(secret.expose_secret().to_owned())],
        })
    }

    async fn deliver(
        &self,
        n: &Notification,
        target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError> {
        tracing::info!(
            id = %n.id,
            merchant = %n.merchant_id,
            kind = ?n.kind,
            recipient = ?n.recipient,
            url = target.as_ref().map(|t| t.url.as_str()),
            "notification"
        );
        let Some(target) = target else {
            return Ok(None);
        };
        let body = body(n)?;
        let t = time::OffsetDateTime::now_utc().unix_timestamp();
        let response = self
            .http
            .post(&target.url)
            .header("content-type", "application/json")
            .header("payouts-signature", signature(&target.secrets, t, &body)?)
            .body(body)
            .send()
            .await
            .map_err(|e| NotifyError::new(post_error(e)))?;
        let status = response.status();
        if status.is_success() {
            Ok(Some(status.as_u16()))
        } else {
            Err(NotifyError {
                status_code: Some(status.as_u16()),
                message: format!("the endpoint answered {status}"),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_parse_and_need_a_secret() {
        let n = OutboxNotifier::new(
            Some("m_1=https://a.test/hook, *=http://b.test/all"),
            Some(SecretString::from("s")),
        )
        .unwrap();
        assert_eq!(n.endpoint("m_1"), Some("https://a.test/hook"));
        assert_eq!(n.endpoint("m_2"), Some("http://b.test/all"));
        assert!(OutboxNotifier::new(Some("m_1=https://a.test"), None).is_err());
        assert!(OutboxNotifier::new(Some("nonsense"), Some(SecretString::from("s"))).is_err());
        assert!(OutboxNotifier::new(Some("m=ftp://x"), Some(SecretString::from("s"))).is_err());
        assert!(
            OutboxNotifier::new(None, None)
                .unwrap()
                .endpoint("m")
                .is_none()
        );
    }

    #[test]
    fn signatures_are_stripe_style_hmacs_one_per_secret() {
        let secret = |s: &str| SigningSecret::new(s.to_owned());
        let s = signature(&[secret("whsec")], 1_700_000_000, b"{}").unwrap();
        assert!(s.starts_with("t=1700000000,v1="));
        assert_eq!(s.len(), "t=1700000000,v1=".len() + 64);
        assert_ne!(
            s,
            signature(&[secret("other")], 1_700_000_000, b"{}").unwrap()
        );
        // During a rotation: the new secret's v1, then the old one's.
        let both = signature(&[secret("new"), secret("whsec")], 1_700_000_000, b"{}").unwrap();
        let v1: Vec<&str> = both.split(',').filter(|p| p.starts_with("v1=")).collect();
        assert_eq!(v1.len(), 2);
        assert_eq!(format!("t=1700000000,{}", v1[1]), s);
        assert!(signature(&[], 1, b"{}").is_err());
    }

    #[test]
    fn the_map_is_the_fallback_target_signed_with_the_service_secret() {
        let n = OutboxNotifier::new(
            Some("m_1=https://a.test/hook, *=http://b.test/all"),
            Some(SecretString::from("env-secret")),
        )
        .unwrap();
        let m = |id: &str| MerchantId::parse(id.to_owned()).unwrap();
        let t = n.fallback_target(&m("m_1")).unwrap();
        assert_eq!(t.url, "https://a.test/hook");
        assert_eq!(t.endpoint_id, None);
        assert_eq!(t.secrets, vec![SigningSecret::new("env-secret".to_owned())]);
        assert_eq!(
            n.fallback_target(&m("m_2")).unwrap().url,
            "http://b.test/all"
        );
        assert!(
            OutboxNotifier::new(None, None)
                .unwrap()
                .fallback_target(&m("m_1"))
                .is_none()
        );
    }

    /// A local HTTP endpoint on 127.0.0.1, port 0: answers every request
    /// with `status` (recording it), or, with none, never answers.
    async fn endpoint_server(
        status: Option<u16>,
    ) -> (
        String,
        std::sync::Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>,
    ) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let Ok((mut socket, _)) = listener.accept().await else {
                    return;
                };
                let Some(status) = status else {
                    // Never answer; keep the connection open.
                    held.push(socket);
                    continue;
                };
                let log = std::sync::Arc::clone(&log);
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0_u8; 4096];
                    let (head, body) = loop {
                        let n = socket.read(&mut chunk).await.unwrap_or(0);
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&buf[..end]).to_string();
                            let len: usize = head
                                .lines()
                                .find_map(|l| {
                                    let (k, v) = l.split_once(':')?;
                                    k.eq_ignore_ascii_case("content-length")
                                        .then(|| v.trim().parse().ok())?
                                })
                                .unwrap_or(0);
                            while buf.len() < end + 4 + len {
                                let n = socket.read(&mut chunk).await.unwrap_or(0);
                                if n == 0 {
                                    break;
                                }
                                buf.extend_from_slice(&chunk[..n]);
                            }
                            break (head, buf[end + 4..].to_vec());
                        }
                    };
                    log.lock().unwrap().push((head, body));
                    let answer = format!(
                        "HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = socket.write_all(answer.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        (url, seen)
    }

    /// Issue 14, item 12: 200 notifications to an endpoint that never
    /// answers, one to an endpoint that answers 500 and one to a good one.
    /// One dispatch delivers the good one, signed with its endpoint's
    /// secret, in about one timeout: the dead endpoint takes 4 slots and,
    /// once it has failed, its other notifications wait their backoff
    /// unsent. (Before: one after another, 200 timeouts of 10 s first.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dead_endpoint_holds_up_nobody_else() {
        use payouts_domain::engine::{EngineConfig, Payouts};
        use payouts_domain::ids::{NotificationId, WorkerId};
        use payouts_domain::memory::{InMemoryStore, InMemoryStripe};
        use payouts_domain::notification::{
            AttemptStatus, DeliveryState, NotificationKind, Recipient,
        };
        use payouts_domain::ports::{OutboxStore, PageRequest};
        use payouts_domain::system::{RandomIds, SystemClock};

        let (dead_url, _) = endpoint_server(None).await;
        let (failing_url, failing_seen) = endpoint_server(Some(500)).await;
        let (good_url, good_seen) = endpoint_server(Some(200)).await;
        let engine = Payouts::new(
            InMemoryStore::new(),
            InMemoryStripe::new(std::sync::Arc::new(SystemClock)),
            SystemClock,
            RandomIds,
            EngineConfig::new(WorkerId::parse("notify-test").unwrap()),
        );
        let m = |id: &str| MerchantId::parse(id.to_owned()).unwrap();
        engine
            .create_webhook_endpoint(
                &m("m_dead"),
                &dead_url,
                None,
                &payouts_domain::audit::Acting::system(),
            )
            .await
            .unwrap();
        engine
            .create_webhook_endpoint(
                &m("m_500"),
                &failing_url,
                None,
                &payouts_domain::audit::Acting::system(),
            )
            .await
            .unwrap();
        let good = engine
            .create_webhook_endpoint(
                &m("m_good"),
                &good_url,
                None,
                &payouts_domain::audit::Acting::system(),
            )
            .await
            .unwrap();
        let now = time::OffsetDateTime::now_utc();
        let note = |merchant: &str, n: usize| Notification {
            id: NotificationId::from_uuid(uuid::Uuid::new_v4()),
            merchant_id: m(merchant),
            kind: NotificationKind::PartnerPayoutSent,
            recipient: Recipient::Merchant(m(merchant)),
            dedupe_key: format!("{merchant}:{n}"),
            payload: serde_json::json!({ "n": n }),
            created_at: now,
            delivery: DeliveryState::new_at(now),
        };
        let mut notes: Vec<Notification> = (0..200).map(|n| note("m_dead", n)).collect();
        notes.push(note("m_500", 0));
        notes.push(note("m_good", 0));
        engine.store().enqueue(&notes).await.unwrap();

        let notifier = OutboxNotifier::with_timeout(None, None, Duration::from_secs(1)).unwrap();
        let started = std::time::Instant::now();
        let report = tokio::time::timeout(
            Duration::from_secs(20),
            engine.dispatch_notifications(&notifier, 500),
        )
        .await
        .expect("one dispatch must not wait out 200 timeouts")
        .unwrap();
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(report.delivered, 1, "{report:?}");
        assert_eq!(report.failed, 201, "{report:?}");
        assert_eq!(report.skipped, 196, "{report:?}");

        // The good endpoint got one POST, signed with its secret.
        let seen = good_seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1);
        let (head, body) = &seen[0];
        let header = head
            .lines()
            .find_map(|l| l.strip_prefix("payouts-signature: "))
            .unwrap();
        let t: i64 = header
            .split(',')
            .find_map(|p| p.strip_prefix("t="))
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(
            header,
            signature(std::slice::from_ref(&good.secret), t, body).unwrap()
        );
        let sent: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(sent["id"], notes[201].id.to_string());
        assert_eq!(sent["type"], "partner_payout_sent");
        assert_eq!(failing_seen.lock().unwrap().len(), 1);

        // Each attempt is recorded with its outcome and response code.
        let failed = engine
            .notification_deliveries(
                &m("m_500"),
                Some(AttemptStatus::Failed),
                PageRequest::first(10),
            )
            .await
            .unwrap();
        assert_eq!(failed.data[0].response_status, Some(500));
        let dead = engine
            .notification_deliveries(&m("m_dead"), None, PageRequest::first(100))
            .await
            .unwrap();
        assert_eq!(dead.data.len(), 4);
        assert!(dead.data.iter().all(|d| d.response_status.is_none()
            && d.error.as_deref().is_some_and(|e| e.contains("timed out"))));
        let ok = engine
            .notification_deliveries(&m("m_good"), None, PageRequest::first(10))
            .await
            .unwrap();
        assert_eq!(ok.data[0].status, AttemptStatus::Succeeded);
        assert_eq!(ok.data[0].response_status, Some(200));
        assert_eq!(ok.data[0].endpoint_id, Some(good.id));
        // Nothing is due again before its backoff.
        let again = engine.dispatch_notifications(&notifier, 500).await.unwrap();
        assert_eq!(again, Default::default());
    }
}
