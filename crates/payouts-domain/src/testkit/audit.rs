//! The audit trail: the store contract (append, keyset pages, filters,
//! tenant scoping) and the scenario that performs the operator actions and
//! checks what each recorded.

use time::Duration;
use time::macros::datetime;

use super::fixtures::{merchant, operator, uuid};
use super::scenarios::{World, january};
use crate::audit::{Acting, Actor, ActorKind, AuditAction, AuditEvent, AuditFilter};
use crate::batch::BatchState;
use crate::error::{DomainError, StoreError};
use crate::fees::FeeSchedule;
use crate::ids::{AuditEventId, MerchantId};
use crate::item::ItemState;
use crate::ports::{Clock, FailureKind, GatewayError, PageRequest, PayoutStore};
use crate::program::PayoutPolicy;
use crate::session::SessionPrincipal;

/// An entry of the contract case: `n`th, for `merchant`, by `subject`.
fn entry(
    n: u128,
    merchant: Option<MerchantId>,
    action: AuditAction,
    subject: &str,
    minutes: i64,
) -> AuditEvent {
    AuditEvent {
        id: AuditEventId::from_uuid(uuid(n)),
        at: datetime!(2026-03-01 12:00:00.123456 UTC) + Duration::minutes(minutes),
        actor: Actor::user(subject, vec!["tenant_admin".into(), "manager".into()]),
        merchant_id: merchant,
        action,
        object_id: format!("obj-{}", n % 3),
        before: Some(serde_json::json!({"state": "draft", "n": n as u64})),
        after: Some(serde_json::json!({"state": "approved", "nested": {"list": [1, 2.5, null]}})),
        request_id: Some(format!("req_{n}")),
    }
}

fn ids(events: &[AuditEvent]) -> Vec<u128> {
    events.iter().map(|e| e.id.as_uuid().as_u128()).collect()
}

/// Contract: entries read back exactly, newest first, in keyset pages;
/// every filter narrows; a merchant's filter never shows another's or the
/// platform's entries; an id is appended once.
pub async fn audit_trail_appends_pages_and_filters<S: PayoutStore>(s: S) {
    let m1 = merchant(1);
    let m2 = merchant(2);
    let mut written = Vec::new();
    for n in 1..=7_u128 {
        let (m, action, who) = match n {
            1 | 2 | 5 => (Some(m1.clone()), AuditAction::BatchApproved, "alice"),
            3 | 6 => (Some(m2.clone()), AuditAction::ProgramUpdated, "bob"),
            4 => (None, AuditAction::FeeScheduleUpdated, "root"),
            _ => (Some(m1.clone()), AuditAction::ItemRetried, "alice"),
        };
        let e = entry(n, m, action, who, i64::try_from(n).unwrap());
        s.append_audit_event(&e).await.unwrap();
        written.push(e);
    }
    let mut system = entry(8, Some(m1.clone()), AuditAction::BatchExecuted, "x", 8);
    system.actor = Actor::system();
    system.before = None;
    system.after = None;
    system.request_id = None;
    s.append_audit_event(&system).await.unwrap();
    written.push(system.clone());

    // Everything, newest first, exactly as written.
    let all = s
        .audit_events(&AuditFilter::default(), PageRequest::first(100))
        .await
        .unwrap();
    assert!(!all.has_more);
    let mut newest_first = written.clone();
    newest_first.reverse();
    assert_eq!(all.data, newest_first);

    // Keyset pages of 3 walk the same order with no gap or repeat.
    let mut seen = Vec::new();
    let mut page = PageRequest::first(3);
    loop {
        let p = s.audit_events(&AuditFilter::default(), page).await.unwrap();
        seen.extend(ids(&p.data));
        match (p.has_more, p.data.last()) {
            (true, Some(last)) => page.after = Some(last.id.as_uuid()),
            _ => break,
        }
    }
    assert_eq!(seen, vec![8, 7, 6, 5, 4, 3, 2, 1]);

    // Tenant scoping: merchant 1 sees its own only (no platform entry).
    let of = |m: &MerchantId| AuditFilter {
        merchant_id: Some(m.clone()),
        ..AuditFilter::default()
    };
    let mine = s
        .audit_events(&of(&m1), PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(ids(&mine.data), vec![8, 7, 5, 2, 1]);
    let theirs = s
        .audit_events(&of(&m2), PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(ids(&theirs.data), vec![6, 3]);
    // A filtered page continues after its cursor.
    let first = s
        .audit_events(&of(&m1), PageRequest::first(2))
        .await
        .unwrap();
    assert_eq!((ids(&first.data), first.has_more), (vec![8, 7], true));
    let next = s
        .audit_events(
            &of(&m1),
            PageRequest {
                limit: 2,
                after: Some(uuid(7)),
            },
        )
        .await
        .unwrap();
    assert_eq!((ids(&next.data), next.has_more), (vec![5, 2], true));

    // Each filter narrows, and they combine.
    let by = |f: AuditFilter| {
        let s = &s;
        async move {
            ids(&s
                .audit_events(&f, PageRequest::first(100))
                .await
                .unwrap()
                .data)
        }
    };
    assert_eq!(
        by(AuditFilter {
            action: Some(AuditAction::BatchApproved),
            ..AuditFilter::default()
        })
        .await,
        vec![5, 2, 1]
    );
    assert_eq!(
        by(AuditFilter {
            object_id: Some("obj-1".into()),
            ..AuditFilter::default()
        })
        .await,
        vec![7, 4, 1]
    );
    assert_eq!(
        by(AuditFilter {
            actor_subject: Some("bob".into()),
            ..AuditFilter::default()
        })
        .await,
        vec![6, 3]
    );
    assert_eq!(
        by(AuditFilter {
            actor_kind: Some(ActorKind::System),
            ..AuditFilter::default()
        })
        .await,
        vec![8]
    );
    // Time bounds are inclusive, to the nanosecond of the stored instant.
    assert_eq!(
        by(AuditFilter {
            from: Some(written[2].at),
            to: Some(written[4].at),
            ..AuditFilter::default()
        })
        .await,
        vec![5, 4, 3]
    );
    assert_eq!(
        by(AuditFilter {
            merchant_id: Some(m1.clone()),
            action: Some(AuditAction::BatchApproved),
            actor_subject: Some("alice".into()),
            from: Some(written[1].at),
            ..AuditFilter::default()
        })
        .await,
        vec![5, 2]
    );
    // An unknown cursor has nothing after it.
    let unknown = s
        .audit_events(
            &AuditFilter::default(),
            PageRequest {
                limit: 10,
                after: Some(uuid(999)),
            },
        )
        .await
        .unwrap();
    assert!(unknown.data.is_empty() && !unknown.has_more);

    // An id is appended once; the first entry is unchanged.
    let mut again = written[0].clone();
    again.object_id = "rewritten".into();
    assert!(matches!(
        s.append_audit_event(&again).await,
        Err(StoreError::Duplicate { .. })
    ));
    let still = s
        .audit_events(
            &AuditFilter {
                object_id: Some("rewritten".into()),
                ..AuditFilter::default()
            },
            PageRequest::first(10),
        )
        .await
        .unwrap();
    assert!(still.data.is_empty());
    // An instant no store can hold is refused before anything is written.
    let mut far = entry(9, None, AuditAction::BatchBuilt, "x", 0);
    far.at = datetime!(2300-01-01 0:00 UTC);
    assert!(matches!(
        s.append_audit_event(&far).await,
        Err(StoreError::Unstorable { .. })
    ));
}

/// Scenario: an operator's day (finalize, build, approve, execute, a retry,
/// a refresh, a policy change, a webhook endpoint, a login link), the
/// platform's fee change, and Stripe's disconnect, each recorded once with
/// its actor, request id, and the object before and after; nothing records
/// a no-op; the trail is scoped by merchant.
pub async fn operator_actions_are_recorded_with_their_actor<S: PayoutStore + Clone>(store: S) {
    let w = World::new(store.clone(), PayoutPolicy::Manual).await;
    // Another merchant on the same store, whose entries merchant_123 never sees.
    let other = World::tagged(store, PayoutPolicy::Manual, 7).await;
    let trail = |f: AuditFilter| {
        let w = &w;
        async move {
            w.engine
                .audit_events(&f, PageRequest::first(100))
                .await
                .unwrap()
                .data
        }
    };
    let mine = || AuditFilter {
        merchant_id: Some(w.merchant.clone()),
        ..AuditFilter::default()
    };

    // Connecting by OAuth (Stripe's redirect) and creating the program.
    let setup = trail(mine()).await;
    let actions: Vec<_> = setup.iter().rev().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            AuditAction::ConnectionConnected,
            AuditAction::ProgramCreated
        ]
    );
    let connected = &setup[1];
    assert_eq!(connected.actor.kind, ActorKind::Stripe);
    assert_eq!(connected.object_id, w.merchant.to_string());
    assert_eq!(connected.before, None);
    assert_eq!(connected.after.as_ref().unwrap()["status"], "connected");
    let created = &setup[0];
    assert_eq!(created.actor, operator().actor);
    assert_eq!(created.object_id, w.program.id.to_string());
    assert_eq!(created.after.as_ref().unwrap()["name"], "Acme partners");

    january(&w).await;
    w.advance_days(20);
    // Finalize and build (by the operator), then approve as a person.
    let batch = w.close("2026-01").await;
    assert_eq!(batch.state, BatchState::Draft);
    let approver = Acting::new(
        Actor::user("approver@merchant.test", vec!["payment_admin".into()]),
        Some("req_approve"),
    );
    w.engine.approve_batch(batch.id, &approver).await.unwrap();
    // Approving again is a no-op, and records nothing.
    w.engine.approve_batch(batch.id, &approver).await.unwrap();
    let approved = trail(AuditFilter {
        action: Some(AuditAction::BatchApproved),
        ..mine()
    })
    .await;
    assert_eq!(approved.len(), 1);
    let a = &approved[0];
    assert_eq!(a.actor.subject, "approver@merchant.test");
    assert_eq!(a.actor.roles, vec!["payment_admin".to_owned()]);
    assert_eq!(a.request_id.as_deref(), Some("req_approve"));
    assert_eq!(a.object_id, batch.id.to_string());
    assert_eq!(a.object_type(), "batch");
    assert_eq!(a.before.as_ref().unwrap()["state"], "draft");
    assert_eq!(a.after.as_ref().unwrap()["state"], "approved");
    assert_eq!(
        a.after.as_ref().unwrap()["approval"]["actor"],
        "approver@merchant.test"
    );

    // Execution is asked for (recorded), then runs; one item fails.
    w.engine
        .start_execution(batch.id, &operator())
        .await
        .unwrap();
    w.engine.gateway().fail_next(
        1,
        GatewayError::new(FailureKind::CannotReceive, Some("account_invalid"), "no"),
    );
    let report = w.engine.execute_batch(batch.id).await.unwrap();
    assert_eq!(report.failed, 1);
    let failed = w
        .items(batch.id)
        .await
        .into_iter()
        .find(|i| matches!(i.state, ItemState::Failed { .. }))
        .unwrap();
    w.engine.retry_item(failed.id, &operator()).await.unwrap();
    w.engine.refresh_batch(batch.id, &operator()).await.unwrap();

    let retried = trail(AuditFilter {
        object_id: Some(failed.id.to_string()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(retried.len(), 1);
    let r = &retried[0];
    assert_eq!(r.action, AuditAction::ItemRetried);
    assert_eq!(r.merchant_id.as_ref(), Some(&w.merchant));
    assert_eq!(r.before.as_ref().unwrap()["state"]["state"], "failed");
    assert_eq!(r.after.as_ref().unwrap()["state"]["state"], "posted");

    // Everything about the batch, newest first.
    let about_batch: Vec<_> = trail(AuditFilter {
        object_id: Some(batch.id.to_string()),
        ..AuditFilter::default()
    })
    .await
    .into_iter()
    .map(|e| e.action)
    .collect();
    assert_eq!(
        about_batch,
        vec![
            AuditAction::BatchRefreshed,
            AuditAction::BatchExecuted,
            AuditAction::BatchApproved,
            AuditAction::BatchBuilt,
        ]
    );
    let finalized = trail(AuditFilter {
        action: Some(AuditAction::PeriodFinalized),
        ..mine()
    })
    .await;
    assert_eq!(finalized.len(), 1);
    assert_eq!(finalized[0].after.as_ref().unwrap()["period"], "2026-01");
    assert_eq!(finalized[0].after.as_ref().unwrap()["finalized"], 4);
    // Finalizing again finds nothing due and records nothing.
    let period = crate::period::Period::parse("2026-01").unwrap();
    assert_eq!(
        w.engine
            .finalize_period(w.program.id, period, &operator())
            .await
            .unwrap(),
        0
    );

    // A policy change: before and after hold the policy.
    let mut settings = super::scenarios::settings(PayoutPolicy::AutoAll);
    settings.name = "Acme partners".into();
    w.engine
        .update_program(w.program.id, settings.clone(), &operator())
        .await
        .unwrap();
    // Saving the same settings changes nothing and records nothing.
    w.engine
        .update_program(w.program.id, settings, &operator())
        .await
        .unwrap();
    let updated = trail(AuditFilter {
        action: Some(AuditAction::ProgramUpdated),
        ..mine()
    })
    .await;
    assert_eq!(updated.len(), 1);
    assert_eq!(
        updated[0].before.as_ref().unwrap()["payout_policy"]["policy"],
        "manual"
    );
    assert_eq!(
        updated[0].after.as_ref().unwrap()["payout_policy"]["policy"],
        "auto_all"
    );

    // Webhook endpoints: created, rotated, deleted; never a secret.
    let endpoint = w
        .engine
        .create_webhook_endpoint(&w.merchant, "https://hooks.test/a", None, &operator())
        .await
        .unwrap();
    let rotated = w
        .engine
        .rotate_webhook_secret(endpoint.id, Duration::hours(1), &operator())
        .await
        .unwrap();
    w.engine
        .delete_webhook_endpoint(endpoint.id, &operator())
        .await
        .unwrap();
    let hooks = trail(AuditFilter {
        object_id: Some(endpoint.id.to_string()),
        ..AuditFilter::default()
    })
    .await;
    let actions: Vec<_> = hooks.iter().map(|e| e.action).collect();
    assert_eq!(
        actions,
        vec![
            AuditAction::WebhookEndpointDeleted,
            AuditAction::WebhookEndpointSecretRotated,
            AuditAction::WebhookEndpointCreated,
        ]
    );
    for e in &hooks {
        let text = serde_json::to_string(e).unwrap();
        assert!(!text.contains(endpoint.secret.expose()), "{text}");
        assert!(!text.contains(rotated.secret.expose()), "{text}");
    }
    assert_eq!(
        hooks[0].before.as_ref().unwrap()["url"],
        "https://hooks.test/a"
    );
    assert_eq!(hooks[0].after, None);

    // A login link names who it signs in, not its secret.
    let issuer = SessionPrincipal {
        subject: "ops@merchant.test".into(),
        roles: vec!["tenant_admin".into()],
        merchant_id: w.merchant.clone(),
        partner_id: None,
    };
    let target = SessionPrincipal {
        subject: "new-manager@merchant.test".into(),
        roles: vec!["manager".into()],
        ..issuer.clone()
    };
    let (secret, _) = w
        .engine
        .issue_login_link(&issuer, target, &operator())
        .await
        .unwrap();
    let links = trail(AuditFilter {
        action: Some(AuditAction::LoginLinkIssued),
        ..mine()
    })
    .await;
    assert_eq!(links.len(), 1);
    assert_eq!(links[0].object_id, "new-manager@merchant.test");
    assert_eq!(links[0].after.as_ref().unwrap()["roles"][0], "manager");
    let text = serde_json::to_string(&links[0]).unwrap();
    assert!(!text.contains(secret.expose()));
    assert!(!text.contains(secret.hash().as_str()));
    // A refused link records nothing.
    let platform_target = SessionPrincipal {
        roles: vec!["platform_admin".into()],
        ..issuer.clone()
    };
    assert!(matches!(
        w.engine
            .issue_login_link(&issuer, platform_target, &operator())
            .await,
        Err(DomainError::Validation { .. })
    ));

    // The platform's fee change belongs to no merchant.
    let platform = Acting::new(
        Actor::user("root@platform.test", vec!["platform_admin".into()]),
        Some("req_fees"),
    );
    let mut schedule = FeeSchedule::default();
    schedule.default.fixed_minor = 45;
    w.engine
        .set_fee_schedule(schedule, &platform)
        .await
        .unwrap();
    let fees = trail(AuditFilter {
        action: Some(AuditAction::FeeScheduleUpdated),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(fees.len(), 1);
    assert_eq!(fees[0].merchant_id, None);
    assert_eq!(
        fees[0].after.as_ref().unwrap()["default"]["fixed_minor"],
        45
    );
    assert!(
        trail(AuditFilter {
            action: Some(AuditAction::FeeScheduleUpdated),
            ..mine()
        })
        .await
        .is_empty()
    );

    // Stripe's disconnect, with its event id; a replay records nothing.
    let at = w.clock.now();
    let stripe = Acting::stripe(Some("evt_deauth"));
    w.engine
        .handle_deauthorization(&w.merchant_account, at, &stripe)
        .await
        .unwrap();
    w.engine
        .handle_deauthorization(&w.merchant_account, at, &stripe)
        .await
        .unwrap();
    let revoked = trail(AuditFilter {
        action: Some(AuditAction::ConnectionRevoked),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].actor.kind, ActorKind::Stripe);
    assert_eq!(revoked[0].request_id.as_deref(), Some("evt_deauth"));
    assert_eq!(revoked[0].before.as_ref().unwrap()["status"], "connected");
    assert_eq!(revoked[0].after.as_ref().unwrap()["status"], "revoked");

    // Scoping: neither merchant sees the other's entries.
    let theirs = trail(AuditFilter {
        merchant_id: Some(other.merchant.clone()),
        ..AuditFilter::default()
    })
    .await;
    assert_eq!(theirs.len(), 2, "the other merchant's connect and program");
    assert!(
        trail(mine())
            .await
            .iter()
            .all(|e| e.merchant_id.as_ref() == Some(&w.merchant))
    );
    // Every entry carries the time it was made, in order.
    let everything = trail(AuditFilter::default()).await;
    assert!(everything.windows(2).all(|p| p[0].at >= p[1].at));
}
