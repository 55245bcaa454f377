//! This adapter's own cases, generic over the factory like the testkit's.

use std::collections::BTreeSet;

use payouts_domain::StoreError;
use payouts_domain::batch::PayoutBatch;
use payouts_domain::commission::CommissionState;
use payouts_domain::ids::WorkerId;
use payouts_domain::item::PayoutItem;
use payouts_domain::period::Period;
use payouts_domain::ports::{
    BatchStore, CommissionFilter, CommissionStore, ConversionStore, ItemStore, LeaseStore,
    MembershipStore, PageRequest, ProgramStore,
};
use payouts_domain::testkit::fixtures::{
    T0, batch, commission, conversion, finalized, item, membership, merchant, program, usd,
};
use payouts_store::{IdempotencyBegin, IdempotencyStatus, SeaOrmStore};
use time::Duration;

/// Instantiates every case for a factory (`$factory`: a future of
/// `Option<SeaOrmStore>`; `$url`: a future of `Option<String>`, the URL of
/// an empty, unmigrated database).
#[macro_export]
macro_rules! adapter_cases {
    ($run:path, $factory:expr, $url:expr) => {
        $crate::adapter_cases!(@url $run, $url, migrations_apply_to_an_empty_database_and_reapply_as_a_no_op);
        $crate::adapter_cases!(@url $run, $url, the_outbox_migration_keeps_delivered_rows_and_makes_the_rest_due);
        $crate::adapter_cases!(@url $run, $url, existing_programs_pay_the_us_and_existing_accounts_are_full);
        $crate::adapter_cases!(@url $run, $url, the_audit_table_refuses_update_and_delete);
        $crate::adapter_cases!(@store $run, $factory,
            two_workers_never_claim_the_same_item,
            an_expired_lease_is_taken_over,
            a_batch_whose_sums_differ_writes_nothing,
            a_batch_links_only_eligible_commissions,
            one_batch_per_program_and_period_under_a_race,
            one_lease_holder_under_a_race,
            instants_compare_to_the_nanosecond,
            idempotency_keys_are_claimed_once,
            compare_and_set_tells_missing_from_changed,
            connect_and_ping,
        );
    };
    (@store $run:path, $factory:expr, $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                $run(async {
                    if let Some(store) = $factory.await {
                        $crate::cases::$case(store).await;
                    }
                })
            }
        )+
    };
    (@url $run:path, $url:expr, $case:ident) => {
        #[test]
        fn $case() {
            $run(async {
                if let Some(url) = $url.await {
                    $crate::cases::$case(&url).await;
                }
            })
        }
    };
}

/// A URL of a new, empty SQLite file.
pub async fn empty_sqlite_url() -> Option<String> {
    let dir = std::env::temp_dir().join(format!(
        "payouts-store-empty-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    Some(format!("sqlite://{}/empty.sqlite?mode=rwc", dir.display()))
}

/// A URL of a new, empty PostgreSQL database (or `None`: skipped).
pub async fn empty_postgres_url() -> Option<String> {
    payouts_store::testing::fresh_postgres_database()
        .await
        .unwrap()
}

pub async fn migrations_apply_to_an_empty_database_and_reapply_as_a_no_op(url: &str) {
    let store = SeaOrmStore::connect(url).await.unwrap();
    assert!(
        store.program(program(1, merchant(1)).id).await.is_err(),
        "no schema before migrating"
    );
    store.migrate().await.unwrap();
    store.migrate().await.unwrap();
    let p = program(1, merchant(1));
    store.insert_program(&p).await.unwrap();
    // A second pool on the same database sees one schema, applied once.
    let again = SeaOrmStore::connect(url).await.unwrap();
    again.migrate().await.unwrap();
    assert_eq!(again.program(p.id).await.unwrap(), Some(p));
    if url.starts_with("sqlite:")
        && let Some(path) = url
            .strip_prefix("sqlite://")
            .and_then(|rest| rest.split('?').next())
            .and_then(|file| std::path::Path::new(file).parent())
    {
        drop(store);
        drop(again);
        let _removed = std::fs::remove_dir_all(path);
    }
}

/// Notifications written before the outbox's delivery states: a delivered
/// one becomes `delivered` after one attempt, an undelivered one `pending`
/// and due from when it was written.
pub async fn the_outbox_migration_keeps_delivered_rows_and_makes_the_rest_due(url: &str) {
    use payouts_domain::ids::NotificationId;
    use payouts_domain::notification::DeliveryState;
    use payouts_domain::ports::OutboxStore;
    use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
    use sea_orm_migration::MigratorTrait;

    let db = sea_orm::Database::connect(url).await.unwrap();
    // Every migration before the outbox's.
    payouts_store::migration::Migrator::up(&db, Some(5))
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let ns = |at: time::OffsetDateTime| i64::try_from(at.unix_timestamp_nanos()).unwrap();
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO notifications (id, merchant_id, kind, recipient, dedupe_key, payload, \
             created_at_ns, delivered_at_ns) VALUES ($1, 'm_1', 'partner_payout_sent', \
             '{\"type\":\"merchant\",\"id\":\"m_1\"}', $2, '{}', $3, $4)"
        }
        _ => {
            "INSERT INTO notifications (id, merchant_id, kind, recipient, dedupe_key, payload, \
             created_at_ns, delivered_at_ns) VALUES (?, 'm_1', 'partner_payout_sent', \
             '{\"type\":\"merchant\",\"id\":\"m_1\"}', ?, '{}', ?, ?)"
        }
    };
    let delivered = uuid::Uuid::from_u128(1);
    let queued = uuid::Uuid::from_u128(2);
    for (id, key, delivered_at) in [
        (delivered, "old:1", Some(ns(T0 + Duration::minutes(1)))),
        (queued, "old:2", None),
    ] {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [
                Value::from(id),
                Value::from(key),
                Value::from(ns(T0)),
                Value::from(delivered_at),
            ],
        ))
        .await
        .unwrap();
    }
    let store = SeaOrmStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let done = store
        .notification(NotificationId::from_uuid(delivered))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        done.delivery,
        DeliveryState::Delivered {
            at: T0 + Duration::minutes(1),
            attempts: 1
        }
    );
    let due = store.due_notifications(T0, 10).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].id, NotificationId::from_uuid(queued));
    assert_eq!(due[0].delivery, DeliveryState::new_at(T0));
}

/// Migration 000010 on rows written before it: a program pays the US only
/// with no per-currency overrides; a partner with an account is `full`, one
/// without has no agreement yet.
pub async fn existing_programs_pay_the_us_and_existing_accounts_are_full(url: &str) {
    use payouts_domain::crossborder::{PayoutCountry, ServiceAgreement};
    use sea_orm::{ConnectionTrait, DbBackend, Statement, Value};
    use sea_orm_migration::MigratorTrait;

    let db = sea_orm::Database::connect(url).await.unwrap();
    // Every migration before 000010.
    payouts_store::migration::Migrator::up(&db, Some(7))
        .await
        .unwrap();
    let backend = db.get_database_backend();
    let numbered = |sql: &str| match backend {
        DbBackend::Postgres => {
            let mut out = String::new();
            let mut n = 0;
            for c in sql.chars() {
                if c == '?' {
                    n += 1;
                    out.push_str(&format!("${n}"));
                } else {
                    out.push(c);
                }
            }
            out
        }
        _ => sql.to_owned(),
    };
    let p = program(1, merchant(1));
    let ns = i64::try_from(T0.unix_timestamp_nanos()).unwrap();
    db.execute_raw(Statement::from_sql_and_values(
        backend,
        numbered(
            "INSERT INTO programs (id, merchant_id, name, currency, commission_rule, holding_days, \
             minimum_payout_minor, payout_policy, coupon_sync, status, created_at_ns) \
             VALUES (?, ?, 'Old', 'USD', ?, 30, 5000, ?, 'manual', 'active', ?)",
        ),
        [
            Value::from(p.id.as_uuid()),
            Value::from(p.merchant_id.to_string()),
            Value::from(serde_json::to_string(&p.commission_rule).unwrap()),
            Value::from(serde_json::to_string(&p.payout_policy).unwrap()),
            Value::from(ns),
        ],
    ))
    .await
    .unwrap();
    let with_account = membership(10, &p, "old-with");
    let without = membership(11, &p, "old-without");
    for (m, account) in [(&with_account, Some("acct_old1")), (&without, None)] {
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            numbered(
                "INSERT INTO memberships (id, partner_id, program_id, merchant_id, email, country, \
                 account_id, details_submitted, payouts_enabled, transfers_capability, referral_key, \
                 status, joined_at_ns) VALUES (?, ?, ?, ?, ?, 'DE', ?, false, false, 'inactive', ?, \
                 'active', ?)",
            ),
            [
                Value::from(m.id.as_uuid()),
                Value::from(m.partner_id.as_uuid()),
                Value::from(p.id.as_uuid()),
                Value::from(p.merchant_id.to_string()),
                Value::from(m.email.clone()),
                Value::from(account.map(str::to_owned)),
                Value::from(m.referral_key.to_string()),
                Value::from(ns),
            ],
        ))
        .await
        .unwrap();
    }
    let store = SeaOrmStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let old = store.program(p.id).await.unwrap().unwrap();
    assert_eq!(old.payout_countries, vec![PayoutCountry::US]);
    assert!(old.minimum_payouts.is_empty());
    let m = store.membership(with_account.id).await.unwrap().unwrap();
    assert_eq!(m.service_agreement, Some(ServiceAgreement::Full));
    let m = store.membership(without.id).await.unwrap().unwrap();
    assert_eq!(m.service_agreement, None);
}

/// The audit trail is append-only in the database itself: a raw `UPDATE`
/// or `DELETE` (and on PostgreSQL a `TRUNCATE`) of `audit_events`, sent by
/// any connection, is refused by the table's triggers, and the row reads
/// back unchanged.
pub async fn the_audit_table_refuses_update_and_delete(url: &str) {
    use payouts_domain::audit::{Acting, Actor, AuditAction, AuditEvent, AuditFilter};
    use payouts_domain::ids::AuditEventId;
    use payouts_domain::ports::AuditStore;
    use sea_orm::{ConnectionTrait, DbBackend};

    let store = SeaOrmStore::connect(url).await.unwrap();
    store.migrate().await.unwrap();
    let acting = Acting::new(
        Actor::user("ops@merchant.test", vec!["tenant_admin".into()]),
        Some("req_1"),
    );
    let event = AuditEvent {
        id: AuditEventId::from_uuid(uuid::Uuid::from_u128(1)),
        at: T0,
        actor: acting.actor.clone(),
        merchant_id: Some(merchant(1)),
        action: AuditAction::BatchApproved,
        object_id: "batch-1".into(),
        before: Some(serde_json::json!({"state": "draft"})),
        after: Some(serde_json::json!({"state": "approved"})),
        request_id: acting.request_id.clone(),
    };
    store.append_audit_event(&event).await.unwrap();

    // Another connection, as an operator at a SQL prompt would use.
    let db = sea_orm::Database::connect(url).await.unwrap();
    let backend = db.get_database_backend();
    let mut attempts = vec![
        "UPDATE audit_events SET actor_subject = 'someone-else'",
        "UPDATE audit_events SET after_json = NULL WHERE action = 'batch.approved'",
        "DELETE FROM audit_events",
        "DELETE FROM audit_events WHERE object_id = 'batch-1'",
    ];
    if backend == DbBackend::Postgres {
        attempts.push("TRUNCATE audit_events");
    }
    for sql in attempts {
        let Err(err) = db.execute_unprepared(sql).await else {
            panic!("{sql} was accepted");
        };
        assert!(err.to_string().contains("append-only"), "{sql}: {err}");
    }
    let all = store
        .audit_events(&AuditFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(all.data, vec![event.clone()]);
    // Appending still works.
    let next = AuditEvent {
        id: AuditEventId::from_uuid(uuid::Uuid::from_u128(2)),
        ..event
    };
    store.append_audit_event(&next).await.unwrap();
    let all = store
        .audit_events(&AuditFilter::default(), PageRequest::first(10))
        .await
        .unwrap();
    assert_eq!(all.data.len(), 2);
}

/// A batch of `n` zero-amount items (no commissions to link), inserted.
async fn batch_of(store: &SeaOrmStore, n: u128) -> (PayoutBatch, Vec<PayoutItem>) {
    let p = program(1, merchant(1));
    let b = batch(50, &p, "2026-01", usd(0), u32::try_from(n).unwrap());
    let items: Vec<PayoutItem> = (0..n)
        .map(|i| {
            let m = membership(100 + i, &p, &format!("key{i}"));
            item(10_000 + i, &b, &m, usd(0), 0)
        })
        .collect();
    store.insert_batch(&b, &items).await.unwrap();
    (b, items)
}

pub async fn two_workers_never_claim_the_same_item(store: SeaOrmStore) {
    let (b, items) = batch_of(&store, 60).await;
    let now = T0 + Duration::days(61);
    let until = now + Duration::minutes(1);
    let claim = |worker: &'static str| {
        let store = store.clone();
        async move {
            let worker = WorkerId::parse(worker).unwrap();
            let mut mine = Vec::new();
            loop {
                let got = store
                    .claim_items(b.id, &worker, now, until, 7)
                    .await
                    .unwrap();
                if got.is_empty() {
                    return mine;
                }
                assert!(
                    got.iter()
                        .all(|i| i.lease.as_ref().unwrap().worker == worker)
                );
                mine.extend(got.into_iter().map(|i| i.id));
            }
        }
    };
    let (a, c) = tokio::join!(
        tokio::spawn(claim("worker-a")),
        tokio::spawn(claim("worker-b"))
    );
    let (a, c) = (a.unwrap(), c.unwrap());
    let a_set: BTreeSet<_> = a.iter().copied().collect();
    let c_set: BTreeSet<_> = c.iter().copied().collect();
    assert!(a_set.is_disjoint(&c_set), "an item was claimed twice");
    assert_eq!(a.len() + c.len(), items.len());
    let all: BTreeSet<_> = items.iter().map(|i| i.id).collect();
    assert_eq!(a_set.union(&c_set).copied().collect::<BTreeSet<_>>(), all);
}

pub async fn an_expired_lease_is_taken_over(store: SeaOrmStore) {
    let (b, _) = batch_of(&store, 3).await;
    let now = T0 + Duration::days(61);
    let a = WorkerId::parse("a").unwrap();
    let c = WorkerId::parse("c").unwrap();
    let first = store
        .claim_items(b.id, &a, now, now + Duration::seconds(60), 10)
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    let during = now + Duration::seconds(59);
    assert!(
        store
            .claim_items(b.id, &c, during, during + Duration::seconds(60), 10)
            .await
            .unwrap()
            .is_empty()
    );
    // `until <= now` is expired: exactly at the end of the lease.
    let at_end = now + Duration::seconds(60);
    let taken = store
        .claim_items(b.id, &c, at_end, at_end + Duration::seconds(60), 2)
        .await
        .unwrap();
    assert_eq!(taken.len(), 2);
    assert!(
        taken.windows(2).all(|w| w[0].id < w[1].id),
        "claims come in id order"
    );
    let stored = store.item(taken[0].id).await.unwrap().unwrap();
    assert_eq!(stored.lease.unwrap().worker, c);
}

pub async fn a_batch_whose_sums_differ_writes_nothing(store: SeaOrmStore) {
    let p = program(1, merchant(1));
    let m = membership(10, &p, "sarah");
    let at = T0 + Duration::days(40);
    for (id, minor) in [(1, 700), (2, 300)] {
        store
            .insert_commission(&finalized(id, &m, usd(minor), "2026-01", at))
            .await
            .unwrap();
    }
    let b = batch(50, &p, "2026-01", usd(900), 1);
    let wrong = item(60, &b, &m, usd(900), 2);
    let err = store.insert_batch(&b, &[wrong]).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { .. }), "{err:?}");
    assert_eq!(store.batch(b.id).await.unwrap(), None);
    assert_eq!(
        store
            .item(payouts_domain::ids::PayoutItemId::from_uuid(uuid_of(60)))
            .await
            .unwrap(),
        None
    );
    let linked = store
        .list_commissions(
            &CommissionFilter {
                program_id: Some(p.id),
                ..CommissionFilter::default()
            },
            PageRequest::default(),
        )
        .await
        .unwrap();
    assert!(linked.data.iter().all(|c| c.payout_item_id.is_none()));
    // The right amount goes in, and links both rows.
    let right = item(60, &b, &m, usd(1_000), 2);
    store
        .insert_batch(&b, std::slice::from_ref(&right))
        .await
        .unwrap();
    assert_eq!(store.item_commission_ids(right.id).await.unwrap().len(), 2);
}

fn uuid_of(n: u128) -> uuid::Uuid {
    uuid::Uuid::from_u128(n)
}

pub async fn a_batch_links_only_eligible_commissions(store: SeaOrmStore) {
    let p = program(1, merchant(1));
    let m = membership(10, &p, "sarah");
    let other = membership(11, &p, "omar");
    let b = batch(50, &p, "2026-01", usd(500), 1);
    let as_of = b.as_of;
    // Eligible: finalized at or before as_of, period ≤ 2026-01.
    store
        .insert_commission(&finalized(1, &m, usd(500), "2026-01", as_of))
        .await
        .unwrap();
    // Not eligible: finalized a nanosecond after as_of; a later period; pending; another member.
    store
        .insert_commission(&finalized(
            2,
            &m,
            usd(7),
            "2026-01",
            as_of + Duration::nanoseconds(1),
        ))
        .await
        .unwrap();
    store
        .insert_commission(&finalized(3, &m, usd(11), "2026-02", as_of))
        .await
        .unwrap();
    let conv = conversion(4, &m, "o4", usd(1_000), T0);
    store
        .insert_commission(&commission(4, &conv, usd(13)))
        .await
        .unwrap();
    store
        .insert_commission(&finalized(5, &other, usd(17), "2026-01", as_of))
        .await
        .unwrap();
    let i = item(60, &b, &m, usd(500), 1);
    store
        .insert_batch(&b, std::slice::from_ref(&i))
        .await
        .unwrap();
    let ids = store.item_commission_ids(i.id).await.unwrap();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].as_uuid(), uuid_of(1));
    let balances = store
        .partner_balances(
            p.id,
            Period::parse("2026-02").unwrap(),
            as_of + Duration::days(1),
        )
        .await
        .unwrap();
    let nets: Vec<i64> = balances.iter().map(|b| b.net.amount_minor()).collect();
    assert_eq!(nets, vec![7 + 11, 17]);
}

pub async fn one_batch_per_program_and_period_under_a_race(store: SeaOrmStore) {
    let p = program(1, merchant(1));
    let first = batch(50, &p, "2026-01", usd(0), 0);
    let mut second = batch(51, &p, "2026-01", usd(0), 0);
    second.manifest_hash = "1".repeat(64);
    let (x, y) = tokio::join!(
        {
            let s = store.clone();
            async move { s.insert_batch(&first, &[]).await }
        },
        {
            let s = store.clone();
            async move { s.insert_batch(&second, &[]).await }
        }
    );
    let results = [x, y];
    assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 1);
    assert!(
        results
            .iter()
            .any(|r| matches!(r, Err(StoreError::Duplicate { .. })))
    );
    assert_eq!(store.batches_of(p.id).await.unwrap().len(), 1);
}

/// Instances racing for one lease: exactly one wins, first on the insert,
/// then on the take-over of the expired lease; while it is live, only the
/// holder's renewal succeeds.
pub async fn one_lease_holder_under_a_race(store: SeaOrmStore) {
    let ttl = Duration::seconds(30);
    let race = |now: time::OffsetDateTime| {
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let s = store.clone();
                tokio::spawn(async move {
                    let me = WorkerId::parse(format!("instance-{n}")).unwrap();
                    let won = s
                        .try_acquire_lease("scheduler", &me, now, ttl)
                        .await
                        .unwrap();
                    won.then_some(me)
                })
            })
            .collect();
        async move {
            let mut winners = Vec::new();
            for task in tasks {
                winners.extend(task.await.unwrap());
            }
            winners
        }
    };
    let first = race(T0).await;
    assert_eq!(first.len(), 1, "winners of the insert: {first:?}");
    // While live, only the holder (one of the racers) renews it, to 59 s.
    let renewal = T0 + Duration::seconds(29);
    assert_eq!(race(renewal).await, first, "only the holder renews");
    let second = race(renewal + ttl).await;
    assert_eq!(second.len(), 1, "winners of the take-over: {second:?}");
    assert!(
        store.release_lease("scheduler", &second[0]).await.unwrap(),
        "the winner holds it"
    );
}

pub async fn instants_compare_to_the_nanosecond(store: SeaOrmStore) {
    let p = program(1, merchant(1));
    let m = membership(10, &p, "sarah");
    let conv = conversion(
        1,
        &m,
        "o1",
        usd(1_000),
        T0 + Duration::nanoseconds(123_456_789),
    );
    let c = commission(1, &conv, usd(125));
    store.insert_commission(&c).await.unwrap();
    assert_eq!(store.commission(c.id).await.unwrap(), Some(c.clone()));
    let period = Period::containing(T0);
    let just_before = c.hold_until - Duration::nanoseconds(1);
    assert_eq!(
        store.finalize_due(p.id, period, just_before).await.unwrap(),
        0
    );
    assert_eq!(
        store
            .finalize_due(p.id, period, c.hold_until)
            .await
            .unwrap(),
        1
    );
    let stored = store.commission(c.id).await.unwrap().unwrap();
    assert_eq!(
        stored.state,
        CommissionState::Finalized { at: c.hold_until }
    );
    // A non-UTC offset is the same instant.
    let shifted = conv.occurred_at.to_offset(time::macros::offset!(-02:00));
    let mut other = conversion(2, &m, "o2", usd(1_000), shifted);
    other.customer_ref = Some("cus_1".into());
    store.insert_conversion(&other, None).await.unwrap();
    let back = store.conversion(other.id).await.unwrap().unwrap();
    assert_eq!(back.occurred_at, conv.occurred_at);
}

pub async fn idempotency_keys_are_claimed_once(store: SeaOrmStore) {
    let (scope, key) = ("merchant_1", "key-1");
    assert_eq!(
        store.begin_idempotent(scope, key, "h1", T0).await.unwrap(),
        IdempotencyBegin::Started
    );
    // Another merchant's key of the same name is its own.
    assert_eq!(
        store
            .begin_idempotent("merchant_2", key, "h9", T0)
            .await
            .unwrap(),
        IdempotencyBegin::Started
    );
    let IdempotencyBegin::Existing(running) =
        store.begin_idempotent(scope, key, "h2", T0).await.unwrap()
    else {
        panic!("the key was claimed");
    };
    assert_eq!(running.status, IdempotencyStatus::InProgress);
    assert_eq!(running.request_hash, "h1");
    store
        .complete_idempotent(scope, key, 201, "{\"id\":1}", T0 + Duration::seconds(1))
        .await
        .unwrap();
    assert!(matches!(
        store.complete_idempotent(scope, key, 500, "x", T0).await,
        Err(StoreError::Conflict { .. })
    ));
    let done = store.idempotency_record(scope, key).await.unwrap().unwrap();
    assert_eq!(done.status, IdempotencyStatus::Completed);
    assert_eq!(done.response_status, Some(201));
    assert_eq!(done.response_body.as_deref(), Some("{\"id\":1}"));
    assert_eq!(done.completed_at, Some(T0 + Duration::seconds(1)));
    assert!(
        !store.release_idempotent(scope, key).await.unwrap(),
        "completed keys stay"
    );
    assert!(store.release_idempotent("merchant_2", key).await.unwrap());
    assert!(matches!(
        store
            .complete_idempotent("merchant_2", key, 200, "", T0)
            .await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn compare_and_set_tells_missing_from_changed(store: SeaOrmStore) {
    let p = program(1, merchant(1));
    let status = p.status;
    assert!(matches!(
        store.update_program(&p, &status, None).await,
        Err(StoreError::NotFound { .. })
    ));
    store.insert_program(&p).await.unwrap();
    assert!(matches!(
        store.insert_program(&p).await,
        Err(StoreError::Duplicate { .. })
    ));
    let mut held = p.clone();
    held.hold = Some(payouts_domain::program::HoldReason::Operator);
    store.update_program(&held, &status, None).await.unwrap();
    // The same write again expects no hold and finds one: nothing is written.
    let mut renamed = held.clone();
    renamed.name = "Renamed".into();
    assert!(matches!(
        store.update_program(&renamed, &status, None).await,
        Err(StoreError::Conflict { .. })
    ));
    assert_eq!(store.program(p.id).await.unwrap(), Some(held));
    let m = membership(10, &p, "sarah");
    assert!(matches!(
        store.update_membership(&m).await,
        Err(StoreError::NotFound { .. })
    ));
}

pub async fn connect_and_ping(store: SeaOrmStore) {
    store.ping().await.unwrap();
    let clone = store.clone();
    clone.ping().await.unwrap();
    assert!(matches!(
        SeaOrmStore::connect("mysql://user:secret@localhost/x").await,
        Err(StoreError::Unavailable(m)) if !m.contains("secret")
    ));
    let refused = SeaOrmStore::connect("postgres://user:hunter2@127.0.0.1:1/x").await;
    assert!(matches!(refused, Err(StoreError::Unavailable(ref m)) if !m.contains("hunter2")));
    // An in-memory SQLite store keeps its one database across calls.
    let memory = SeaOrmStore::connect("sqlite::memory:").await.unwrap();
    memory.migrate().await.unwrap();
    let p = program(1, merchant(1));
    memory.insert_program(&p).await.unwrap();
    assert_eq!(memory.program(p.id).await.unwrap(), Some(p));
    let _backend = store.backend();
    drop(clone);
    drop(
        MembershipStore::memberships_of(&store, program(1, merchant(1)).id)
            .await
            .unwrap(),
    );
}
