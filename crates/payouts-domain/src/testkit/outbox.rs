//! The outbox's stories, against any store: backoff, the dead letter,
//! replay, endpoints and their secrets, and a failing endpoint that holds
//! up nobody else.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};

use async_trait::async_trait;
use time::Duration;

use super::scenarios::World;
use crate::engine::EngineConfig;
use crate::error::DomainError;
use crate::ids::{MerchantId, NotificationId, WorkerId};
use crate::memory::RecordingNotifier;
use crate::notification::{
    AttemptStatus, DeliveryState, Notification, NotificationKind, Recipient,
};
use crate::ports::{DeliveryTarget, Notifier, NotifyError, PageRequest, PayoutStore};
use crate::program::PayoutPolicy;

/// A notification for `merchant`, written now.
fn note(w: &World<impl PayoutStore + Clone>, merchant: &MerchantId, n: u32) -> Notification {
    let now = crate::ports::Clock::now(&w.clock);
    Notification {
        id: NotificationId::from_uuid(uuid::Uuid::from_u128(0xA000_0000 + u128::from(n))),
        merchant_id: merchant.clone(),
        kind: NotificationKind::MerchantInsufficientBalanceRetry,
        recipient: Recipient::Merchant(merchant.clone()),
        dedupe_key: format!("outbox-test:{merchant}:{n}"),
        payload: serde_json::json!({ "n": n }),
        created_at: now,
        delivery: DeliveryState::new_at(now),
    }
}

fn config(max_attempts: u32) -> EngineConfig {
    let mut config = EngineConfig::new(WorkerId::parse("worker-a").unwrap());
    config.outbox.max_attempts = max_attempts;
    config
}

/// Failed attempts wait longer and longer (exponential, ±20 %), each is
/// recorded with its status code, the Nth dead-letters the notification,
/// and a replay sends it again at once.
pub async fn failed_deliveries_back_off_then_dead_letter_and_replay<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::configured(store, PayoutPolicy::Manual, 0, config(5)).await;
    let endpoint = w
        .engine
        .create_webhook_endpoint(
            &w.merchant,
            "https://hooks.test/payouts",
            None,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    let n = note(&w, &w.merchant, 1);
    w.engine
        .store()
        .enqueue(std::slice::from_ref(&n))
        .await
        .unwrap();
    let notifier = RecordingNotifier::default();
    notifier.set_failing(true);

    let mut delays = Vec::new();
    for attempt in 1..=4_u32 {
        let report = w
            .engine
            .dispatch_notifications(&notifier, 100)
            .await
            .unwrap();
        assert_eq!(
            (report.failed, report.delivered),
            (1, 0),
            "attempt {attempt}"
        );
        let now = crate::ports::Clock::now(&w.clock);
        let stored = w.engine.outbox_notification(n.id).await.unwrap();
        let DeliveryState::Pending {
            attempts,
            next_attempt_at,
            last_failure,
            ..
        } = stored.delivery
        else {
            panic!("pending after attempt {attempt}: {:?}", stored.delivery)
        };
        assert_eq!(attempts, attempt);
        assert_eq!(last_failure.unwrap().status_code, Some(500));
        let delay = next_attempt_at - now;
        let nominal = Duration::seconds(30) * 2_i32.pow(attempt - 1);
        assert!(
            delay >= nominal * 0.8 && delay <= nominal * 1.2,
            "attempt {attempt}: {delay} is not 30 s · 2^{} ± 20 %",
            attempt - 1
        );
        delays.push(delay);
        // Not due before its time.
        w.clock.advance(delay - Duration::seconds(1));
        assert_eq!(
            w.engine
                .dispatch_notifications(&notifier, 100)
                .await
                .unwrap(),
            Default::default()
        );
        w.clock.advance(Duration::seconds(1));
    }
    assert!(delays.windows(2).all(|d| d[1] > d[0]), "{delays:?}");

    // The fifth failure dead-letters it.
    let report = w
        .engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!(report.dead, 1);
    let dead = w.engine.outbox_notification(n.id).await.unwrap();
    assert!(matches!(
        dead.delivery,
        DeliveryState::Dead { attempts: 5, .. }
    ));
    assert!(dead.is_failing());
    assert_eq!(
        w.engine
            .failing_notifications(&w.merchant, 10)
            .await
            .unwrap(),
        vec![dead.clone()]
    );
    w.clock.advance(Duration::days(30));
    assert_eq!(
        w.engine
            .dispatch_notifications(&notifier, 100)
            .await
            .unwrap(),
        Default::default(),
        "a dead notification is never sent again on its own"
    );

    // Five attempts recorded, newest first, each to the endpoint.
    let deliveries = w
        .engine
        .notification_deliveries(&w.merchant, None, PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(deliveries.data.len(), 5);
    assert!(
        deliveries
            .data
            .iter()
            .all(|d| d.status == AttemptStatus::Failed
                && d.response_status == Some(500)
                && d.endpoint_id == Some(endpoint.id)
                && d.url == "https://hooks.test/payouts"
                && d.notification_id == n.id)
    );
    assert!(
        deliveries
            .data
            .windows(2)
            .all(|d| d[0].attempted_at > d[1].attempted_at)
    );

    // Replay: pending, due now, attempts afresh; then delivered.
    let replayed = w.engine.replay_notification(n.id).await.unwrap();
    let now = crate::ports::Clock::now(&w.clock);
    assert_eq!(replayed.delivery, DeliveryState::new_at(now));
    notifier.set_failing(false);
    let report = w
        .engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    let delivered = w.engine.outbox_notification(n.id).await.unwrap();
    assert_eq!(delivered.delivered_at(), Some(now));
    assert!(
        w.engine
            .failing_notifications(&w.merchant, 10)
            .await
            .unwrap()
            .is_empty()
    );
    let succeeded = w
        .engine
        .notification_deliveries(
            &w.merchant,
            Some(AttemptStatus::Succeeded),
            PageRequest::first(100),
        )
        .await
        .unwrap();
    assert_eq!(succeeded.data.len(), 1);
    assert_eq!(succeeded.data[0].response_status, Some(200));
    // A delivered notification may be replayed too.
    let again = w.engine.replay_notification(n.id).await.unwrap();
    assert!(matches!(
        again.delivery,
        DeliveryState::Pending { attempts: 0, .. }
    ));
    assert!(matches!(
        w.engine
            .replay_notification(NotificationId::from_uuid(uuid::Uuid::from_u128(7)))
            .await,
        Err(DomainError::NotFound { .. })
    ));
}

/// A notification still failing three days after it was written is
/// dead-lettered at its next failure, whatever its attempts.
pub async fn a_notification_failing_for_three_days_is_dead_lettered<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::configured(store, PayoutPolicy::Manual, 0, config(20)).await;
    w.engine
        .create_webhook_endpoint(
            &w.merchant,
            "https://hooks.test/payouts",
            None,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    let n = note(&w, &w.merchant, 1);
    w.engine
        .store()
        .enqueue(std::slice::from_ref(&n))
        .await
        .unwrap();
    let notifier = RecordingNotifier::default();
    notifier.set_failing(true);
    w.engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    w.clock.advance(Duration::days(3));
    let report = w
        .engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!(report.dead, 1);
    assert!(matches!(
        w.engine.outbox_notification(n.id).await.unwrap().delivery,
        DeliveryState::Dead { attempts: 2, .. }
    ));
}

/// The merchant's endpoints take precedence over the notifier's fallback;
/// without either a notification is only logged, and counts as delivered.
/// A rotated secret keeps signing beside the new one for the overlap.
pub async fn endpoints_take_precedence_and_rotation_signs_with_both<S: PayoutStore + Clone>(
    store: S,
) {
    let w = World::configured(store, PayoutPolicy::Manual, 0, config(20)).await;
    let notifier = TargetLog::default();

    // Neither: logged only.
    w.engine
        .store()
        .enqueue(&[note(&w, &w.merchant, 1)])
        .await
        .unwrap();
    assert_eq!(
        w.engine
            .dispatch_notifications(&notifier, 100)
            .await
            .unwrap()
            .delivered,
        1
    );
    assert_eq!(notifier.targets(), vec![None]);

    // The fallback.
    *notifier.fallback.lock().unwrap() = Some(DeliveryTarget {
        endpoint_id: None,
        url: "https://default.test/all".to_owned(),
        secrets: vec![crate::endpoint::SigningSecret::new("env".to_owned())],
    });
    w.engine
        .store()
        .enqueue(&[note(&w, &w.merchant, 2)])
        .await
        .unwrap();
    w.engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!(
        notifier.targets().last().unwrap().as_deref(),
        Some("https://default.test/all")
    );

    // The merchant's own endpoint wins; its rotation signs with both.
    let e = w
        .engine
        .create_webhook_endpoint(
            &w.merchant,
            " https://mine.test/hook ",
            Some("ops"),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_eq!(e.url.as_str(), "https://mine.test/hook");
    assert!(e.secret.expose().starts_with("whsec_"));
    let rotated = w
        .engine
        .rotate_webhook_secret(
            e.id,
            Duration::hours(1),
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    assert_ne!(rotated.secret, e.secret);
    w.engine
        .store()
        .enqueue(&[note(&w, &w.merchant, 3)])
        .await
        .unwrap();
    w.engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    let last = notifier
        .seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
        .unwrap();
    assert_eq!(last.url, "https://mine.test/hook");
    assert_eq!(last.endpoint_id, Some(e.id));
    assert_eq!(last.secrets, vec![rotated.secret.clone(), e.secret.clone()]);
    // After the overlap, only the new secret signs.
    w.clock.advance(Duration::hours(1));
    w.engine
        .store()
        .enqueue(&[note(&w, &w.merchant, 4)])
        .await
        .unwrap();
    w.engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    let last = notifier
        .seen
        .lock()
        .unwrap()
        .last()
        .cloned()
        .unwrap()
        .unwrap();
    assert_eq!(last.secrets, vec![rotated.secret.clone()]);

    // Bad URLs are refused before anything is stored.
    for bad in ["ftp://x.test", "not a url", "https://"] {
        assert!(matches!(
            w.engine
                .create_webhook_endpoint(
                    &w.merchant,
                    bad,
                    None,
                    &crate::testkit::fixtures::operator()
                )
                .await,
            Err(DomainError::Validation { .. })
        ));
    }
    let page = w
        .engine
        .webhook_endpoints_page(&w.merchant, PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(page.data, vec![rotated.clone()]);
    w.engine
        .delete_webhook_endpoint(e.id, &crate::testkit::fixtures::operator())
        .await
        .unwrap();
    assert!(matches!(
        w.engine.webhook_endpoint(e.id).await,
        Err(DomainError::NotFound { .. })
    ));
}

/// 200 notifications to an endpoint that fails and one to a good one: one
/// dispatch delivers the good one. The failing URL gets at most
/// `per_endpoint` deliveries in flight, and once it has failed its other
/// notifications wait their backoff without being sent; no more than
/// `concurrency` are in flight at once.
pub async fn a_failing_endpoint_holds_up_nobody_else<S: PayoutStore + Clone>(store: S) {
    let w = World::configured(store, PayoutPolicy::Manual, 0, config(20)).await;
    let bad = MerchantId::parse("merchant_bad".to_owned()).unwrap();
    w.engine
        .create_webhook_endpoint(
            &bad,
            "https://bad.test/hook",
            None,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    w.engine
        .create_webhook_endpoint(
            &w.merchant,
            "https://good.test/hook",
            None,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    let mut notes: Vec<Notification> = (0..200).map(|i| note(&w, &bad, i)).collect();
    notes.push(note(&w, &w.merchant, 1_000));
    w.engine.store().enqueue(&notes).await.unwrap();

    let notifier = Concurrency::default();
    let report = w
        .engine
        .dispatch_notifications(&notifier, 500)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1, "{report:?}");
    assert_eq!(report.failed, 200, "{report:?}");
    let sent = notifier.sent.lock().unwrap().clone();
    let bad_sent = sent.iter().filter(|u| u.contains("bad")).count();
    assert!(
        bad_sent <= 4,
        "{bad_sent} notifications were sent to the failing endpoint in one dispatch"
    );
    assert_eq!(report.skipped, 200 - u32::try_from(bad_sent).unwrap());
    let peaks = notifier.peaks.lock().unwrap().clone();
    assert!(peaks.get("https://bad.test/hook").copied().unwrap_or(0) <= 4);
    assert!(*notifier.peak_total.lock().unwrap() <= 16);
    // Every one of the 200 waits its backoff, none is lost.
    let failing = w.engine.failing_notifications(&bad, 500).await.unwrap();
    assert_eq!(failing.len(), 200);
}

/// With two endpoints, a retry goes only to the one that has not accepted
/// the notification; it is delivered once both have.
pub async fn a_retry_goes_only_to_the_endpoints_that_refused<S: PayoutStore + Clone>(store: S) {
    let w = World::configured(store, PayoutPolicy::Manual, 0, config(20)).await;
    for url in ["https://a.test/hook", "https://b.test/hook"] {
        w.engine
            .create_webhook_endpoint(
                &w.merchant,
                url,
                None,
                &crate::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
    }
    let n = note(&w, &w.merchant, 1);
    w.engine
        .store()
        .enqueue(std::slice::from_ref(&n))
        .await
        .unwrap();
    let notifier = Picky::default();
    *notifier.refuse.lock().unwrap() = Some("https://b.test/hook".to_owned());
    let report = w
        .engine
        .dispatch_notifications(&notifier, 10)
        .await
        .unwrap();
    assert_eq!(report.failed, 1);
    let mut first = notifier.seen.lock().unwrap().clone();
    first.sort();
    assert_eq!(first, vec!["https://a.test/hook", "https://b.test/hook"]);
    notifier.seen.lock().unwrap().clear();
    *notifier.refuse.lock().unwrap() = None;
    w.clock.advance(Duration::minutes(1));
    let report = w
        .engine
        .dispatch_notifications(&notifier, 10)
        .await
        .unwrap();
    assert_eq!(report.delivered, 1);
    assert_eq!(
        notifier.seen.lock().unwrap().clone(),
        vec!["https://b.test/hook".to_owned()]
    );
    assert!(matches!(
        w.engine.outbox_notification(n.id).await.unwrap().delivery,
        DeliveryState::Delivered { attempts: 2, .. }
    ));
}

/// Refuses one URL (500), accepts the others; records every URL sent to.
#[derive(Debug, Default)]
struct Picky {
    refuse: Mutex<Option<String>>,
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl Notifier for Picky {
    fn fallback_target(&self, _merchant: &MerchantId) -> Option<DeliveryTarget> {
        None
    }

    async fn deliver(
        &self,
        _notification: &Notification,
        target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError> {
        let url = target.map(|t| t.url).unwrap_or_default();
        self.seen.lock().unwrap().push(url.clone());
        if self.refuse.lock().unwrap().as_deref() == Some(url.as_str()) {
            Err(NotifyError {
                status_code: Some(500),
                message: "the endpoint answered 500".to_owned(),
            })
        } else {
            Ok(Some(200))
        }
    }
}

/// A dispatch starts deliveries for its budget only; what it has not
/// started stays due, untouched, for the next dispatch.
pub async fn a_dispatch_starts_deliveries_for_its_budget_only<S: PayoutStore + Clone>(store: S) {
    let mut config = config(20);
    config.outbox.per_endpoint = 1;
    config.outbox.run_budget = Duration::seconds(10);
    let w = World::configured(store, PayoutPolicy::Manual, 0, config).await;
    w.engine
        .create_webhook_endpoint(
            &w.merchant,
            "https://slow.test/hook",
            None,
            &crate::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
    let notes: Vec<Notification> = (0..10).map(|i| note(&w, &w.merchant, i)).collect();
    w.engine.store().enqueue(&notes).await.unwrap();
    // Each delivery takes 4 s: started at 0, 4 and 8 s; none at 12 s.
    let notifier = Slow {
        clock: w.clock.clone(),
    };
    let report = w
        .engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!((report.delivered, report.deferred), (3, 7), "{report:?}");
    let due = w
        .engine
        .store()
        .due_notifications(crate::ports::Clock::now(&w.clock), 100)
        .await
        .unwrap();
    assert_eq!(due.len(), 7);
    assert!(due.iter().all(|n| n.delivery.attempts() == 0));
    let report = w
        .engine
        .dispatch_notifications(&notifier, 100)
        .await
        .unwrap();
    assert_eq!((report.delivered, report.deferred), (3, 4), "{report:?}");
}

/// Answers 200 after moving the clock 4 s.
#[derive(Debug)]
struct Slow {
    clock: crate::memory::ManualClock,
}

#[async_trait]
impl Notifier for Slow {
    fn fallback_target(&self, _merchant: &MerchantId) -> Option<DeliveryTarget> {
        None
    }

    async fn deliver(
        &self,
        _notification: &Notification,
        _target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError> {
        self.clock.advance(Duration::seconds(4));
        Ok(Some(200))
    }
}

/// Records the target of each delivery.
#[derive(Debug, Default)]
struct TargetLog {
    fallback: Mutex<Option<DeliveryTarget>>,
    seen: Mutex<Vec<Option<DeliveryTarget>>>,
}

impl TargetLog {
    fn targets(&self) -> Vec<Option<String>> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|t| t.as_ref().map(|t| t.url.clone()))
            .collect()
    }
}

#[async_trait]
impl Notifier for TargetLog {
    fn fallback_target(&self, _merchant: &MerchantId) -> Option<DeliveryTarget> {
        self.fallback.lock().unwrap().clone()
    }

    async fn deliver(
        &self,
        _notification: &Notification,
        target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError> {
        let code = target.as_ref().map(|_| 204);
        self.seen.lock().unwrap().push(target);
        Ok(code)
    }
}

/// Fails every URL with `bad` in it, after yielding a few times so that
/// deliveries overlap; records the peaks of deliveries in flight.
#[derive(Debug, Default)]
struct Concurrency {
    in_flight: Mutex<HashMap<String, usize>>,
    peaks: Mutex<HashMap<String, usize>>,
    total: Mutex<usize>,
    peak_total: Mutex<usize>,
    sent: Mutex<Vec<String>>,
}

#[async_trait]
impl Notifier for Concurrency {
    fn fallback_target(&self, _merchant: &MerchantId) -> Option<DeliveryTarget> {
        None
    }

    async fn deliver(
        &self,
        _notification: &Notification,
        target: Option<DeliveryTarget>,
    ) -> Result<Option<u16>, NotifyError> {
        let url = target.map(|t| t.url).unwrap_or_default();
        self.sent.lock().unwrap().push(url.clone());
        {
            let mut in_flight = self.in_flight.lock().unwrap();
            let now = in_flight.entry(url.clone()).or_default();
            *now += 1;
            let mut peaks = self.peaks.lock().unwrap();
            let peak = peaks.entry(url.clone()).or_default();
            *peak = (*peak).max(*now);
            let mut total = self.total.lock().unwrap();
            *total += 1;
            let mut peak_total = self.peak_total.lock().unwrap();
            *peak_total = (*peak_total).max(*total);
        }
        for _ in 0..5 {
            YieldNow(false).await;
        }
        *self.in_flight.lock().unwrap().get_mut(&url).unwrap() -= 1;
        *self.total.lock().unwrap() -= 1;
        if url.contains("bad") {
            Err(NotifyError {
                status_code: None,
                message: "timed out after 10 s".to_owned(),
            })
        } else {
            Ok(Some(200))
        }
    }
}

/// Returns `Pending` once, waking itself: lets other futures run.
struct YieldNow(bool);

impl Future for YieldNow {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}
