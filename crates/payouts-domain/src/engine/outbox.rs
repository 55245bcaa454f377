//! The outbox: merchants' webhook endpoints, dispatching due notifications
//! with backoff and a dead letter, the record of every attempt, and replay.
//!
//! A dispatch sends up to [`OutboxPolicy::concurrency`] notifications at
//! once, at most [`OutboxPolicy::per_endpoint`] of them to any one URL,
//! taking URLs in turn, so a slow or failing endpoint holds a few slots and
//! never the others'. Once a URL fails in a dispatch, its notifications
//! still queued in that dispatch are not sent: each counts a failed attempt
//! ("not sent: the endpoint failed earlier in this dispatch") and waits its
//! backoff, so 200 notifications to a dead endpoint cost one timeout per
//! dispatch, not 200. A dispatch starts deliveries for
//! [`crate::notification::OutboxPolicy::run_budget`] (10 s) at most; what it has not started by
//! then stays due for the next one, so a run ends within about the budget
//! plus one delivery timeout.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};
use time::Duration;

use super::Payouts;
use super::audit::Entry;
use crate::audit::{Acting, AuditAction};
use crate::endpoint::{
    EndpointUrl, MAX_ENDPOINTS_PER_MERCHANT, SigningSecret, WebhookEndpoint, check_description,
};
use crate::error::{DomainError, StoreError};
use crate::ids::{MerchantId, NotificationId, WebhookEndpointId};
use crate::notification::{
    AttemptStatus, DeliveryAttempt, DeliveryEvent, DeliveryFailure, DeliveryState, Notification,
    short,
};
use crate::ports::{
    Clock, ConnectGateway, DeliveryTarget, IdGenerator, Notifier, OutboxStore, Page, PageRequest,
    PayoutGateway, WebhookEndpointStore,
};

/// What one dispatch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DispatchReport {
    /// Notifications delivered (or only logged, having no target).
    pub delivered: u32,
    /// Notifications whose attempt failed; they wait their backoff.
    pub failed: u32,
    /// Of those, not sent because their endpoint failed earlier in this dispatch.
    pub skipped: u32,
    /// Notifications dead-lettered by this dispatch.
    pub dead: u32,
    /// Notifications another worker or a replay changed meanwhile (left to them).
    pub conflicts: u32,
    /// Due notifications not started before the run's budget ran out; the
    /// next dispatch takes them.
    pub deferred: u32,
}

/// One notification to send, and where.
struct Job {
    notification: Notification,
    targets: Vec<DeliveryTarget>,
}

/// How one job ended.
enum JobEnd {
    Delivered,
    Failed,
    Dead,
    Conflict,
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: OutboxStore + WebhookEndpointStore + crate::ports::AuditStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    // ------------------------------------------------------------ endpoints

    /// Registers a webhook endpoint for `merchant`, with a fresh signing
    /// secret (shown to the caller once, at creation and rotation).
    /// Recorded as `webhook_endpoint.created` by `acting`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `url` or `description`, or when the
    /// merchant has [`MAX_ENDPOINTS_PER_MERCHANT`] already;
    /// [`DomainError::Unavailable`].
    pub async fn create_webhook_endpoint(
        &self,
        merchant: &MerchantId,
        url: &str,
        description: Option<&str>,
        acting: &Acting,
    ) -> Result<WebhookEndpoint, DomainError> {
        let url = EndpointUrl::parse(url)?;
        let description = check_description(description)?;
        if self.store.endpoints_of(merchant).await?.len() >= MAX_ENDPOINTS_PER_MERCHANT {
            return Err(DomainError::validation(
                "url",
                "a merchant may have at most 16 webhook endpoints; delete one first",
            ));
        }
        let endpoint = WebhookEndpoint {
            id: self.ids.next_id(),
            merchant_id: merchant.clone(),
            url,
            description,
            secret: self.signing_secret(),
            previous_secret: None,
            created_at: self.clock.now(),
        };
        self.store.insert_endpoint(&endpoint).await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::WebhookEndpointCreated,
                merchant_id: Some(merchant),
                object_id: endpoint.id.to_string(),
                before: None,
                after: Some(endpoint_entry(&endpoint)),
            },
        )
        .await?;
        Ok(endpoint)
    }

    /// A fresh, unguessable signing secret.
    fn signing_secret(&self) -> SigningSecret {
        SigningSecret::generate(self.ids.next_uuid(), self.ids.next_uuid())
    }

    /// One endpoint (any merchant's: the caller scopes it).
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Unavailable`].
    pub async fn webhook_endpoint(
        &self,
        id: WebhookEndpointId,
    ) -> Result<WebhookEndpoint, DomainError> {
        self.store
            .endpoint(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "webhook endpoint",
                id: id.to_string(),
            })
    }

    /// A page of a merchant's endpoints.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn webhook_endpoints_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<WebhookEndpoint>, DomainError> {
        Ok(self.store.endpoints_page(merchant, page).await?)
    }

    /// Deletes an endpoint: nothing more is sent to it. Its delivery
    /// records stay. Recorded as `webhook_endpoint.deleted` by `acting`.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Unavailable`].
    pub async fn delete_webhook_endpoint(
        &self,
        id: WebhookEndpointId,
        acting: &Acting,
    ) -> Result<(), DomainError> {
        let endpoint = self.webhook_endpoint(id).await?;
        self.store.delete_endpoint(id).await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::WebhookEndpointDeleted,
                merchant_id: Some(&endpoint.merchant_id),
                object_id: id.to_string(),
                before: Some(endpoint_entry(&endpoint)),
                after: None,
            },
        )
        .await
    }

    /// Gives an endpoint a new signing secret; the old one keeps signing
    /// alongside for `overlap` (0 to 7 days; deliveries carry both
    /// signatures meanwhile). Recorded as `webhook_endpoint.secret_rotated`
    /// by `acting` (the entry never holds a secret).
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Validation`] for an
    /// overlap out of range; [`DomainError::Conflict`] when another
    /// rotation won; [`DomainError::Unavailable`].
    pub async fn rotate_webhook_secret(
        &self,
        id: WebhookEndpointId,
        overlap: Duration,
        acting: &Acting,
    ) -> Result<WebhookEndpoint, DomainError> {
        let endpoint = self.webhook_endpoint(id).await?;
        let rotated = endpoint.rotated(self.signing_secret(), self.clock.now(), overlap)?;
        self.store
            .save_endpoint_secrets(&rotated, &endpoint.secret)
            .await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::WebhookEndpointSecretRotated,
                merchant_id: Some(&rotated.merchant_id),
                object_id: id.to_string(),
                before: Some(endpoint_entry(&endpoint)),
                after: Some(endpoint_entry(&rotated)),
            },
        )
        .await?;
        Ok(rotated)
    }

    // ------------------------------------------------------------ deliveries

    /// One notification (any merchant's: the caller scopes it).
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Unavailable`].
    pub async fn outbox_notification(
        &self,
        id: NotificationId,
    ) -> Result<Notification, DomainError> {
        self.store
            .notification(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "notification",
                id: id.to_string(),
            })
    }

    /// A page of a merchant's delivery attempts, newest first.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn notification_deliveries(
        &self,
        merchant: &MerchantId,
        status: Option<AttemptStatus>,
        page: PageRequest,
    ) -> Result<Page<DeliveryAttempt>, DomainError> {
        Ok(self.store.deliveries_page(merchant, status, page).await?)
    }

    /// A merchant's failing notifications (dead, or pending after a failed
    /// attempt), newest first.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn failing_notifications(
        &self,
        merchant: &MerchantId,
        limit: u32,
    ) -> Result<Vec<Notification>, DomainError> {
        Ok(self.store.failing_notifications(merchant, limit).await?)
    }

    /// Sends a notification again: pending, due now, its attempts counted
    /// afresh, whatever its state (dead and delivered ones too).
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Conflict`] when a
    /// dispatch changed it meanwhile (try again); [`DomainError::Unavailable`].
    pub async fn replay_notification(
        &self,
        id: NotificationId,
    ) -> Result<Notification, DomainError> {
        let mut notification = self.outbox_notification(id).await?;
        let next = notification.delivery.clone().apply(
            &DeliveryEvent::Replayed {
                at: self.clock.now(),
            },
            id,
            &self.config.outbox,
        )?;
        self.store
            .record_delivery(id, &notification.delivery, &next, &[])
            .await?;
        notification.delivery = next;
        Ok(notification)
    }

    // ------------------------------------------------------------ dispatch

    /// Delivers up to `limit` due notifications through `notifier`, several
    /// at once (see the module's doc), recording each attempt and moving
    /// each notification on: delivered, pending with a backoff, or dead.
    ///
    /// Targets: the merchant's endpoints; without any, the notifier's
    /// fallback; without that, the notification is only logged and counts
    /// as delivered. A notification is delivered once every target has
    /// answered 2xx; a retry sends only to the targets that have not
    /// (delivery is still at least once: receivers deduplicate by id).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the store fails (the first such
    /// error, after every delivery started has ended).
    pub async fn dispatch_notifications<N: Notifier + ?Sized>(
        &self,
        notifier: &N,
        limit: u32,
    ) -> Result<DispatchReport, DomainError> {
        let now = self.clock.now();
        let due = self.store.due_notifications(now, limit).await?;
        let mut targets_of: HashMap<MerchantId, Vec<DeliveryTarget>> = HashMap::new();
        // One queue per first target URL ("" for log-only), in turn.
        let mut queues: BTreeMap<String, VecDeque<Job>> = BTreeMap::new();
        for notification in due {
            let targets = match targets_of.get(&notification.merchant_id) {
                Some(t) => t.clone(),
                None => {
                    let t = self
                        .targets(notifier, &notification.merchant_id, now)
                        .await?;
                    targets_of.insert(notification.merchant_id.clone(), t.clone());
                    t
                }
            };
            let key = targets.first().map(|t| t.url.clone()).unwrap_or_default();
            queues.entry(key).or_default().push_back(Job {
                notification,
                targets,
            });
        }
        let policy = &self.config.outbox;
        let keys: Vec<String> = queues.keys().cloned().collect();
        let mut in_flight: HashMap<String, usize> = HashMap::new();
        let mut failed_keys: HashSet<String> = HashSet::new();
        let mut skipped: Vec<Job> = Vec::new();
        let mut running = FuturesUnordered::new();
        let mut cursor = 0_usize;
        let mut report = DispatchReport::default();
        let mut first_error: Option<DomainError> = None;
        let stop_starting_at = now.saturating_add(policy.run_budget);
        loop {
            // Start jobs, taking URLs in turn, while there are free slots
            // and the run's budget lasts.
            while running.len() < policy.concurrency() && self.clock.now() < stop_starting_at {
                let mut started = false;
                for step in 0..keys.len() {
                    let index = cursor
                        .saturating_add(step)
                        .checked_rem(keys.len())
                        .unwrap_or(0);
                    let Some(key) = keys.get(index) else { continue };
                    let busy = in_flight.get(key).copied().unwrap_or(0);
                    let Some(queue) = queues.get_mut(key) else {
                        continue;
                    };
                    if failed_keys.contains(key) {
                        skipped.extend(queue.drain(..));
                        continue;
                    }
                    if busy >= policy.per_endpoint() {
                        continue;
                    }
                    let Some(job) = queue.pop_front() else {
                        continue;
                    };
                    in_flight.insert(key.clone(), busy.saturating_add(1));
                    running.push(self.send_notification(notifier, key.clone(), job));
                    cursor = index.saturating_add(1);
                    started = true;
                    break;
                }
                if !started {
                    break;
                }
            }
            let Some((key, result)) = running.next().await else {
                break;
            };
            if let Some(busy) = in_flight.get_mut(&key) {
                *busy = busy.saturating_sub(1);
            }
            match result {
                Ok(end) => {
                    if matches!(end, JobEnd::Failed | JobEnd::Dead) && !key.is_empty() {
                        failed_keys.insert(key);
                    }
                    tally(&mut report, &end);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        // Behind a URL that failed: skipped, even past the budget.
        for key in &failed_keys {
            if let Some(queue) = queues.get_mut(key) {
                skipped.extend(queue.drain(..));
            }
        }
        // Never started: still due, for the next dispatch.
        let unstarted: usize = queues.values().map(VecDeque::len).sum();
        report.deferred = u32::try_from(unstarted).unwrap_or(u32::MAX);
        // What was queued behind a URL that failed: not sent this time.
        for job in skipped {
            let failure = DeliveryFailure::new(
                None,
                "not sent: the endpoint failed earlier in this dispatch",
            );
            match self.settle(&job.notification, Some(failure), &[]).await {
                Ok(end) => {
                    if matches!(end, JobEnd::Failed | JobEnd::Dead) {
                        report.skipped = report.skipped.saturating_add(1);
                    }
                    tally(&mut report, &end);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Where `merchant`'s notifications go now.
    async fn targets<N: Notifier + ?Sized>(
        &self,
        notifier: &N,
        merchant: &MerchantId,
        now: time::OffsetDateTime,
    ) -> Result<Vec<DeliveryTarget>, DomainError> {
        let endpoints = self.store.endpoints_of(merchant).await?;
        if endpoints.is_empty() {
            return Ok(notifier.fallback_target(merchant).into_iter().collect());
        }
        Ok(endpoints
            .iter()
            .map(|e| DeliveryTarget {
                endpoint_id: Some(e.id),
                url: e.url.as_str().to_owned(),
                secrets: e.signing_secrets(now),
            })
            .collect())
    }

    /// Sends one notification to each of its targets and settles it.
    async fn send_notification<N: Notifier + ?Sized>(
        &self,
        notifier: &N,
        key: String,
        job: Job,
    ) -> (String, Result<JobEnd, DomainError>) {
        let n = &job.notification;
        if job.targets.is_empty() {
            let failure = notifier
                .deliver(n, None)
                .await
                .err()
                .map(|e| DeliveryFailure::new(e.status_code, e.message));
            return (key, self.settle(n, failure, &[]).await);
        }
        // A retry sends only to the targets that have not accepted it yet.
        let targets = match &n.delivery {
            DeliveryState::Pending {
                attempts, since, ..
            } if *attempts > 0 && job.targets.len() > 1 => {
                match self.store.accepted_urls(n.id, *since).await {
                    Ok(accepted) => job
                        .targets
                        .iter()
                        .filter(|t| !accepted.contains(&t.url))
                        .cloned()
                        .collect(),
                    Err(e) => return (key, Err(e.into())),
                }
            }
            _ => job.targets.clone(),
        };
        let mut attempts = Vec::with_capacity(targets.len());
        let mut failure = None;
        for target in &targets {
            let started = self.clock.now();
            let result = notifier.deliver(n, Some(target.clone())).await;
            let ended = self.clock.now();
            let duration_ms = ended
                .unix_timestamp_nanos()
                .saturating_sub(started.unix_timestamp_nanos())
                .checked_div(1_000_000)
                .and_then(|ms| u64::try_from(ms).ok())
                .unwrap_or(0);
            let (status, response_status, error) = match result {
                Ok(code) => (AttemptStatus::Succeeded, code, None),
                Err(e) => {
                    let message = short(e.message);
                    failure.get_or_insert_with(|| {
                        DeliveryFailure::new(e.status_code, message.clone())
                    });
                    (AttemptStatus::Failed, e.status_code, Some(message))
                }
            };
            attempts.push(DeliveryAttempt {
                id: self.ids.next_id(),
                notification_id: n.id,
                merchant_id: n.merchant_id.clone(),
                kind: n.kind,
                endpoint_id: target.endpoint_id,
                url: target.url.clone(),
                attempted_at: started,
                duration_ms,
                status,
                response_status,
                error,
            });
        }
        (key, self.settle(n, failure, &attempts).await)
    }

    /// Moves a notification on after an attempt (`failure` none: it
    /// succeeded) and records the attempt's rows, compare-and-set.
    async fn settle(
        &self,
        n: &Notification,
        failure: Option<DeliveryFailure>,
        attempts: &[DeliveryAttempt],
    ) -> Result<JobEnd, DomainError> {
        let at = self.clock.now();
        let event = match failure {
            None => DeliveryEvent::Delivered { at },
            Some(failure) => DeliveryEvent::Failed { at, failure },
        };
        let next = n
            .delivery
            .clone()
            .apply(&event, n.id, &self.config.outbox)?;
        let end = match &next {
            DeliveryState::Delivered { .. } => JobEnd::Delivered,
            DeliveryState::Pending { .. } => JobEnd::Failed,
            DeliveryState::Dead { .. } => JobEnd::Dead,
        };
        match self
            .store
            .record_delivery(n.id, &n.delivery, &next, attempts)
            .await
        {
            Ok(()) => Ok(end),
            Err(StoreError::Conflict { .. } | StoreError::NotFound { .. }) => Ok(JobEnd::Conflict),
            Err(e) => Err(e.into()),
        }
    }
}

fn tally(report: &mut DispatchReport, end: &JobEnd) {
    let slot = match end {
        JobEnd::Delivered => &mut report.delivered,
        JobEnd::Failed => &mut report.failed,
        JobEnd::Dead => &mut report.dead,
        JobEnd::Conflict => &mut report.conflicts,
    };
    *slot = slot.saturating_add(1);
}

/// What the audit trail keeps of an endpoint: never a signing secret, only
/// whether a previous one still signs and until when.
fn endpoint_entry(endpoint: &WebhookEndpoint) -> serde_json::Value {
    serde_json::json!({
        "url": endpoint.url,
        "description": endpoint.description,
        "previous_secret_expires_at": endpoint
            .previous_secret
            .as_ref()
            .and_then(|p| p.expires_at.format(&time::format_description::well_known::Rfc3339).ok()),
    })
}
