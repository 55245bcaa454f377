//! Schema migrations (sea-orm-migration). Applied migrations are recorded
//! in `seaql_migrations`, so applying again is a no-op.
//!
//! The DDL is written once and specialised per backend for the two types
//! that differ: UUIDs (`uuid` / `BLOB`) and the outbox's insertion sequence
//! (identity / `INTEGER PRIMARY KEY AUTOINCREMENT`). Formats are described
//! in [`crate::entity`].
//!
//! Referential integrity between aggregates is not enforced with foreign
//! keys: the ports store aggregates independently (an adjustment or an
//! imported commission may arrive before anything else about its
//! conversion), exactly as the in-memory reference store does. The one
//! parent/child pair written together, batch and items, has its key.

use sea_orm::DbBackend;
use sea_orm_migration::prelude::*;

/// Every migration, in order.
#[derive(Debug)]
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(Initial),
            Box::new(EventsLeasesDisputes),
            Box::new(OpenItemsIndex),
            Box::new(AccountOwners),
            Box::new(ConsoleSessions),
            Box::new(BatchSourceAccount),
            Box::new(OutboxDelivery),
            Box::new(AuditEvents),
            Box::new(CommissionHolds),
            Box::new(ProgramCountriesMinimums),
            Box::new(RewardRules),
        ]
    }
}

/// The first schema: every aggregate of the domain.
#[derive(Debug)]
struct Initial;

impl MigrationName for Initial {
    fn name(&self) -> &str {
        "m20260101_000001_initial"
    }
}

const INITIAL: &str = r"
CREATE TABLE merchant_connections (
    merchant_id     TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL UNIQUE,
    status          TEXT NOT NULL,
    granted_at_ns   BIGINT NOT NULL,
    scope           TEXT NOT NULL,
    revoked_at_ns   BIGINT NULL
);
CREATE TABLE oauth_states (
    token           TEXT PRIMARY KEY,
    merchant_id     TEXT NOT NULL,
    issued_at_ns    BIGINT NOT NULL,
    used_at_ns      BIGINT NULL
);
CREATE TABLE programs (
    id                   {uuid} PRIMARY KEY,
    merchant_id          TEXT NOT NULL,
    name                 TEXT NOT NULL,
    currency             TEXT NOT NULL,
    commission_rule      TEXT NOT NULL,
    holding_days         INTEGER NOT NULL,
    minimum_payout_minor BIGINT NOT NULL,
    payout_policy        TEXT NOT NULL,
    coupon_sync          TEXT NOT NULL,
    status               TEXT NOT NULL,
    probation_until_ns   BIGINT NULL,
    hold                 TEXT NULL,
    created_at_ns        BIGINT NOT NULL
);
CREATE INDEX programs_merchant ON programs (merchant_id);
CREATE INDEX programs_status ON programs (status, probation_until_ns);
CREATE TABLE memberships (
    id                   {uuid} PRIMARY KEY,
    partner_id           {uuid} NOT NULL,
    program_id           {uuid} NOT NULL,
    merchant_id          TEXT NOT NULL,
    email                TEXT NOT NULL,
    country              TEXT NOT NULL,
    account_id           TEXT NULL,
    details_submitted    BOOLEAN NOT NULL,
    payouts_enabled      BOOLEAN NOT NULL,
    transfers_capability TEXT NOT NULL,
    referral_key         TEXT NOT NULL,
    status               TEXT NOT NULL,
    joined_at_ns         BIGINT NOT NULL,
    CONSTRAINT memberships_referral_key UNIQUE (program_id, referral_key),
    CONSTRAINT memberships_partner UNIQUE (program_id, partner_id)
);
CREATE INDEX memberships_by_partner ON memberships (partner_id);
CREATE INDEX memberships_by_account ON memberships (account_id);
CREATE TABLE coupons (
    merchant_id       TEXT NOT NULL,
    code_normalized   TEXT NOT NULL,
    code              TEXT NOT NULL,
    program_id        {uuid} NOT NULL,
    membership_id     {uuid} NOT NULL,
    promotion_code_id TEXT NULL,
    active            BOOLEAN NOT NULL,
    created_at_ns     BIGINT NOT NULL,
    PRIMARY KEY (merchant_id, code_normalized)
);
CREATE TABLE bank_payouts (
    payout_id       TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL,
    currency        TEXT NOT NULL,
    amount_minor    BIGINT NOT NULL,
    status          TEXT NOT NULL,
    failure_code    TEXT NULL,
    arrival_date_ns BIGINT NULL,
    updated_at_ns   BIGINT NOT NULL
);
CREATE INDEX bank_payouts_by_account ON bank_payouts (account_id, updated_at_ns);
CREATE TABLE conversions (
    id             {uuid} PRIMARY KEY,
    merchant_id    TEXT NOT NULL,
    program_id     {uuid} NOT NULL,
    membership_id  {uuid} NOT NULL,
    partner_id     {uuid} NOT NULL,
    external_id    TEXT NOT NULL,
    currency       TEXT NOT NULL,
    amount_minor   BIGINT NOT NULL,
    refunded_minor BIGINT NOT NULL,
    cancelled      BOOLEAN NOT NULL,
    occurred_at_ns BIGINT NOT NULL,
    attributed_via TEXT NOT NULL,
    attributed_key TEXT NOT NULL,
    customer_ref   TEXT NULL,
    payment_ref    TEXT NULL,
    CONSTRAINT conversions_external_id UNIQUE (merchant_id, external_id)
);
CREATE INDEX conversions_by_payment_ref ON conversions (merchant_id, payment_ref);
CREATE INDEX conversions_by_customer ON conversions (program_id, customer_ref);
CREATE INDEX conversions_by_time ON conversions (merchant_id, occurred_at_ns);
CREATE TABLE commissions (
    id                    {uuid} PRIMARY KEY,
    merchant_id           TEXT NOT NULL,
    program_id            {uuid} NOT NULL,
    membership_id         {uuid} NOT NULL,
    partner_id            {uuid} NOT NULL,
    conversion_id         {uuid} NOT NULL,
    kind                  TEXT NOT NULL,
    corrects_id           {uuid} NULL,
    change_reason         TEXT NULL,
    currency              TEXT NOT NULL,
    amount_minor          BIGINT NOT NULL,
    original_amount_minor BIGINT NOT NULL,
    state                 TEXT NOT NULL,
    state_at_ns           BIGINT NULL,
    void_reason           TEXT NULL,
    period                INTEGER NOT NULL,
    created_at_ns         BIGINT NOT NULL,
    hold_until_ns         BIGINT NOT NULL,
    payout_item_id        {uuid} NULL
){commission_storage};
CREATE INDEX commissions_by_conversion ON commissions (conversion_id);
CREATE INDEX commissions_by_program ON commissions (program_id, period);
CREATE INDEX commissions_by_membership ON commissions (membership_id);
CREATE TABLE batches (
    id              {uuid} PRIMARY KEY,
    merchant_id     TEXT NOT NULL,
    program_id      {uuid} NOT NULL,
    period          INTEGER NOT NULL,
    currency        TEXT NOT NULL,
    state           TEXT NOT NULL,
    total_minor     BIGINT NOT NULL,
    fee_total_minor BIGINT NOT NULL,
    item_count      BIGINT NOT NULL,
    carried         TEXT NOT NULL,
    manifest_hash   TEXT NOT NULL,
    as_of_ns        BIGINT NOT NULL,
    approval        TEXT NULL,
    created_at_ns   BIGINT NOT NULL,
    CONSTRAINT batches_program_period UNIQUE (program_id, period)
);
CREATE INDEX batches_by_state ON batches (state);
CREATE TABLE payout_items (
    id                    {uuid} PRIMARY KEY,
    batch_id              {uuid} NOT NULL REFERENCES batches (id),
    merchant_id           TEXT NOT NULL,
    program_id            {uuid} NOT NULL,
    membership_id         {uuid} NOT NULL,
    partner_id            {uuid} NOT NULL,
    destination           TEXT NOT NULL,
    currency              TEXT NOT NULL,
    amount_minor          BIGINT NOT NULL,
    fee_minor             BIGINT NOT NULL,
    commission_count      BIGINT NOT NULL,
    state                 TEXT NOT NULL,
    attempt               BIGINT NOT NULL,
    state_detail          TEXT NOT NULL,
    retry_at_ns           BIGINT NULL,
    failure_kind          TEXT NULL,
    transfer_id           TEXT NULL,
    amount_reversed_minor BIGINT NULL,
    lease_worker          TEXT NULL,
    lease_until_ns        BIGINT NULL,
    resends               BIGINT NOT NULL,
    created_at_ns         BIGINT NOT NULL,
    CONSTRAINT payout_items_membership UNIQUE (batch_id, membership_id)
);
CREATE INDEX payout_items_by_batch ON payout_items (batch_id, id);
CREATE INDEX payout_items_by_program ON payout_items (program_id, state);
CREATE INDEX payout_items_by_partner ON payout_items (partner_id, id);
CREATE INDEX payout_items_retry ON payout_items (retry_at_ns) WHERE state = 'failed';
CREATE INDEX payout_items_by_transfer ON payout_items (transfer_id) WHERE transfer_id IS NOT NULL;
CREATE TABLE notifications (
    seq             {seq},
    id              {uuid} NOT NULL UNIQUE,
    merchant_id     TEXT NOT NULL,
    kind            TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    dedupe_key      TEXT NOT NULL UNIQUE,
    payload         TEXT NOT NULL,
    created_at_ns   BIGINT NOT NULL,
    delivered_at_ns BIGINT NULL
);
CREATE INDEX notifications_undelivered ON notifications (seq) WHERE delivered_at_ns IS NULL;
CREATE INDEX notifications_by_merchant ON notifications (merchant_id, seq);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE webhook_events (
    event_id       TEXT PRIMARY KEY,
    received_at_ns BIGINT NOT NULL
);
CREATE TABLE api_idempotency (
    merchant_scope  TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    TEXT NOT NULL,
    status          TEXT NOT NULL,
    response_status INTEGER NULL,
    response_body   TEXT NULL,
    created_at_ns   BIGINT NOT NULL,
    completed_at_ns BIGINT NULL,
    PRIMARY KEY (merchant_scope, idempotency_key)
);
";

const TABLES: &[&str] = &[
    "api_idempotency",
    "webhook_events",
    "settings",
    "notifications",
    "commissions",
    "payout_items",
    "batches",
    "conversions",
    "bank_payouts",
    "coupons",
    "memberships",
    "programs",
    "oauth_states",
    "merchant_connections",
];

/// The initial DDL for `backend`, one statement per entry.
///
/// Commissions are written in bulk and then updated twice each, by
/// finalization and by batch linking. No index covers the columns those
/// updates change (`state`, `state_at_ns`, `payout_item_id`): lookups by
/// item go through `membership_id`, which never changes. On PostgreSQL
/// the table also leaves half of each page free (`fillfactor = 50`), so
/// both updates are heap-only (HOT): the new row version lands on the same
/// page and no index is touched, instead of four index inserts per row.
fn initial_statements(backend: DbBackend) -> Vec<String> {
    let (uuid, seq, commission_storage) = match backend {
        DbBackend::Postgres => (
            "uuid",
            "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            " WITH (fillfactor = 50)",
        ),
        _ => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT", ""),
    };
    INITIAL
        .split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.replace("{uuid}", uuid)
                .replace("{seq}", seq)
                .replace("{commission_storage}", commission_storage)
        })
        .collect()
}

#[async_trait::async_trait]
impl MigrationTrait for Initial {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for statement in initial_statements(manager.get_database_backend()) {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for table in TABLES {
            db.execute_unprepared(&format!("DROP TABLE IF EXISTS {table}"))
                .await?;
        }
        Ok(())
    }
}

/// Scheduler leases, disputes, and the lookup of coupons by Stripe
/// Promotion Code (webhook events).
#[derive(Debug)]
struct EventsLeasesDisputes;

impl MigrationName for EventsLeasesDisputes {
    fn name(&self) -> &str {
        "m20260301_000002_events_leases_disputes"
    }
}

/// `leases` holds one row per named lease; taking one is a single
/// `INSERT … ON CONFLICT (name) DO UPDATE … WHERE` (see `LeaseStore`).
/// `disputes` keeps the latest reported version of each dispute.
const EVENTS_LEASES_DISPUTES: &str = r"
CREATE TABLE leases (
    name     TEXT PRIMARY KEY,
    holder   TEXT NOT NULL,
    until_ns BIGINT NOT NULL
);
CREATE TABLE disputes (
    dispute_id         TEXT PRIMARY KEY,
    account_id         TEXT NULL,
    payment_intent     TEXT NULL,
    currency           TEXT NOT NULL,
    amount_minor       BIGINT NOT NULL,
    reason             TEXT NOT NULL,
    status             TEXT NOT NULL,
    evidence_due_by_ns BIGINT NULL,
    updated_at_ns      BIGINT NOT NULL
);
CREATE INDEX disputes_by_update ON disputes (updated_at_ns);
CREATE INDEX coupons_by_promotion_code ON coupons (promotion_code_id) WHERE promotion_code_id IS NOT NULL
";

#[async_trait::async_trait]
impl MigrationTrait for EventsLeasesDisputes {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Portable DDL: the same text on both backends.
        execute_script(manager, EVENTS_LEASES_DISPUTES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(
            manager,
            "DROP INDEX IF EXISTS coupons_by_promotion_code; \
             DROP TABLE IF EXISTS disputes; DROP TABLE IF EXISTS leases",
        )
        .await
    }
}

/// An index of the open items of each batch, in claim order. Without it a
/// claim walks `payout_items_by_batch` from the batch's first item and reads
/// every already-finished row before reaching open ones: executing a batch
/// was quadratic in its size (found by `payouts-bench p5`). The claim query
/// names the open states as literals so that both planners can use it.
#[derive(Debug)]
struct OpenItemsIndex;

impl MigrationName for OpenItemsIndex {
    fn name(&self) -> &str {
        "m20261121_000003_open_items_index"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OpenItemsIndex {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE INDEX payout_items_open ON payout_items (batch_id, id) \
                 WHERE state IN ('pending', 'submitting', 'reconcile_required')",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP INDEX IF EXISTS payout_items_open")
            .await?;
        Ok(())
    }
}

/// `account_owners`: which merchant created each connected account through
/// the platform API, so that tenancy is decided from our own records rather
/// than from Stripe metadata on every request.
#[derive(Debug)]
struct AccountOwners;

impl MigrationName for AccountOwners {
    fn name(&self) -> &str {
        "m20261201_000004_account_owners"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AccountOwners {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "CREATE TABLE account_owners (\
                 account_id TEXT NOT NULL PRIMARY KEY, \
                 merchant_id TEXT NOT NULL, \
                 created_at_ns BIGINT NOT NULL)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE IF EXISTS account_owners")
            .await?;
        Ok(())
    }
}

/// `login_links` and `console_sessions`: the console's single-use sign-in
/// links and its sessions, each keyed by the SHA-256 of its secret.
#[derive(Debug)]
struct ConsoleSessions;

impl MigrationName for ConsoleSessions {
    fn name(&self) -> &str {
        "m20261201_000005_console_sessions"
    }
}

const CONSOLE_SESSIONS: &str = "
CREATE TABLE login_links (
    secret_hash TEXT NOT NULL PRIMARY KEY,
    principal TEXT NOT NULL,
    issued_at_ns BIGINT NOT NULL,
    expires_at_ns BIGINT NOT NULL,
    used_at_ns BIGINT NULL
);
CREATE TABLE console_sessions (
    secret_hash TEXT NOT NULL PRIMARY KEY,
    principal TEXT NOT NULL,
    csrf_token TEXT NOT NULL,
    created_at_ns BIGINT NOT NULL,
    last_seen_at_ns BIGINT NOT NULL
)
";

#[async_trait::async_trait]
impl MigrationTrait for ConsoleSessions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(manager, CONSOLE_SESSIONS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(
            manager,
            "DROP TABLE IF EXISTS console_sessions; DROP TABLE IF EXISTS login_links",
        )
        .await
    }
}

/// Issue 14: a batch keeps the merchant account it pays from. Batches that
/// had started are given the merchant's account of the day, which is the
/// one they were paid from unless the merchant re-connected since.
#[derive(Debug)]
struct BatchSourceAccount;

impl MigrationName for BatchSourceAccount {
    fn name(&self) -> &str {
        "m20261207_000006_batch_source_account"
    }
}

const BATCH_SOURCE_ACCOUNT: &str = "
ALTER TABLE batches ADD COLUMN source_account TEXT NULL;
UPDATE batches SET source_account = (
    SELECT c.account_id FROM merchant_connections AS c WHERE c.merchant_id = batches.merchant_id
) WHERE state NOT IN ('draft', 'approved')
";

#[async_trait::async_trait]
impl MigrationTrait for BatchSourceAccount {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(manager, BATCH_SOURCE_ACCOUNT).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(manager, "ALTER TABLE batches DROP COLUMN source_account").await
    }
}

/// The outbox's delivery state on `notifications` (state, attempts, when
/// next due, the window the dead letter counts from, the last failure),
/// merchants' `webhook_endpoints`, and `notification_deliveries`, one row
/// per attempt to one target. Rows already delivered become `delivered`
/// after one attempt; the others are pending and due at once.
#[derive(Debug)]
struct OutboxDelivery;

impl MigrationName for OutboxDelivery {
    fn name(&self) -> &str {
        "m20261207_000007_outbox_delivery"
    }
}

const OUTBOX_DELIVERY: &str = "
ALTER TABLE notifications ADD COLUMN delivery_state TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE notifications ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE notifications ADD COLUMN next_attempt_at_ns BIGINT NULL;
ALTER TABLE notifications ADD COLUMN since_ns BIGINT NULL;
ALTER TABLE notifications ADD COLUMN last_error TEXT NULL;
ALTER TABLE notifications ADD COLUMN last_status INTEGER NULL;
ALTER TABLE notifications ADD COLUMN dead_at_ns BIGINT NULL;
UPDATE notifications SET delivery_state = 'delivered', attempts = 1 WHERE delivered_at_ns IS NOT NULL;
UPDATE notifications SET next_attempt_at_ns = created_at_ns, since_ns = created_at_ns WHERE delivered_at_ns IS NULL;
DROP INDEX IF EXISTS notifications_undelivered;
CREATE INDEX notifications_due ON notifications (next_attempt_at_ns, seq) WHERE delivery_state = 'pending';
CREATE TABLE webhook_endpoints (
    id                      {uuid} PRIMARY KEY,
    merchant_id             TEXT NOT NULL,
    url                     TEXT NOT NULL,
    description             TEXT NULL,
    secret                  TEXT NOT NULL,
    previous_secret         TEXT NULL,
    previous_expires_at_ns  BIGINT NULL,
    created_at_ns           BIGINT NOT NULL
);
CREATE INDEX webhook_endpoints_by_merchant ON webhook_endpoints (merchant_id, id);
CREATE TABLE notification_deliveries (
    seq              {seq},
    id               {uuid} NOT NULL UNIQUE,
    notification_id  {uuid} NOT NULL,
    merchant_id      TEXT NOT NULL,
    kind             TEXT NOT NULL,
    endpoint_id      {uuid} NULL,
    url              TEXT NOT NULL,
    attempted_at_ns  BIGINT NOT NULL,
    duration_ms      BIGINT NOT NULL,
    status           TEXT NOT NULL,
    response_status  INTEGER NULL,
    error            TEXT NULL
);
CREATE INDEX notification_deliveries_by_merchant ON notification_deliveries (merchant_id, seq);
CREATE INDEX notification_deliveries_by_notification ON notification_deliveries (notification_id, seq)
";

#[async_trait::async_trait]
impl MigrationTrait for OutboxDelivery {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let (uuid, seq) = match manager.get_database_backend() {
            DbBackend::Postgres => (
                "uuid",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            ),
            _ => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        };
        let script = OUTBOX_DELIVERY
            .replace("{uuid}", uuid)
            .replace("{seq}", seq);
        execute_script(manager, &script).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(
            manager,
            "DROP TABLE IF EXISTS notification_deliveries; \
             DROP TABLE IF EXISTS webhook_endpoints; \
             DROP INDEX IF EXISTS notifications_due; \
             CREATE INDEX notifications_undelivered ON notifications (seq) WHERE delivered_at_ns IS NULL; \
             ALTER TABLE notifications DROP COLUMN dead_at_ns; \
             ALTER TABLE notifications DROP COLUMN last_status; \
             ALTER TABLE notifications DROP COLUMN last_error; \
             ALTER TABLE notifications DROP COLUMN since_ns; \
             ALTER TABLE notifications DROP COLUMN next_attempt_at_ns; \
             ALTER TABLE notifications DROP COLUMN attempts; \
             ALTER TABLE notifications DROP COLUMN delivery_state",
        )
        .await
    }
}

/// Issue 16: commissions on hold (`state = 'on_hold'`, `state_at_ns` the
/// instant held, `hold_reason`), the customer's e-mail on conversions (the
/// self-referral check) and the bank-account fingerprint on memberships
/// (the duplicate-account check), indexed per merchant. Existing rows keep
/// their state: nothing is held retroactively.
#[derive(Debug)]
struct CommissionHolds;

impl MigrationName for CommissionHolds {
    fn name(&self) -> &str {
        "m20261207_000009_commission_holds"
    }
}

const COMMISSION_HOLDS: &str = "
ALTER TABLE commissions ADD COLUMN hold_reason TEXT NULL;
ALTER TABLE conversions ADD COLUMN customer_email TEXT NULL;
ALTER TABLE memberships ADD COLUMN bank_fingerprint TEXT NULL;
CREATE INDEX memberships_by_fingerprint ON memberships (merchant_id, bank_fingerprint) WHERE bank_fingerprint IS NOT NULL;
CREATE INDEX commissions_on_hold ON commissions (merchant_id, id) WHERE state = 'on_hold'
";

#[async_trait::async_trait]
impl MigrationTrait for CommissionHolds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(manager, COMMISSION_HOLDS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(
            manager,
            "DROP INDEX IF EXISTS commissions_on_hold; \
             DROP INDEX IF EXISTS memberships_by_fingerprint; \
             ALTER TABLE memberships DROP COLUMN bank_fingerprint; \
             ALTER TABLE conversions DROP COLUMN customer_email; \
             ALTER TABLE commissions DROP COLUMN hold_reason",
        )
        .await
    }
}

/// Issue 16 parts 4 and 5: a program's `payout_countries` (JSON array of
/// ISO alpha-2 codes) and `minimum_payouts` (JSON object, currency code to
/// minor units), and the service agreement of a partner's Express account.
///
/// Existing programs pay the US only: until now every Express account was
/// created under Stripe's default `full` agreement, and Stripe pays
/// cross-border only to `recipient` accounts. Existing programs have no
/// per-currency overrides, so the documented defaults apply. Existing
/// accounts were created without `tos_acceptance[service_agreement]`, so they
/// are `full`; memberships without an account have none yet.
#[derive(Debug)]
struct ProgramCountriesMinimums;

impl MigrationName for ProgramCountriesMinimums {
    fn name(&self) -> &str {
        "m20261207_000010_program_countries_minimums"
    }
}

const PROGRAM_COUNTRIES_MINIMUMS: &str = r#"
ALTER TABLE programs ADD COLUMN payout_countries TEXT NOT NULL DEFAULT '["US"]';
ALTER TABLE programs ADD COLUMN minimum_payouts TEXT NOT NULL DEFAULT '{}';
ALTER TABLE memberships ADD COLUMN service_agreement TEXT NULL;
UPDATE memberships SET service_agreement = 'full' WHERE account_id IS NOT NULL
"#;

#[async_trait::async_trait]
impl MigrationTrait for ProgramCountriesMinimums {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(manager, PROGRAM_COUNTRIES_MINIMUMS).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(
            manager,
            "ALTER TABLE memberships DROP COLUMN service_agreement; \
             ALTER TABLE programs DROP COLUMN minimum_payouts; \
             ALTER TABLE programs DROP COLUMN payout_countries",
        )
        .await
    }
}

/// Issue 16: reward rules and corrections. A conversion is a `sale` or a
/// `lead`, may name its product, and keeps an operator's corrected
/// commission with a count of corrections; a commission keeps the rule it
/// was earned under (JSON, none for rows from before).
#[derive(Debug)]
struct RewardRules;

impl MigrationName for RewardRules {
    fn name(&self) -> &str {
        "m20261207_000011_reward_rules"
    }
}

const REWARD_RULES: &str = "
ALTER TABLE conversions ADD COLUMN kind TEXT NOT NULL DEFAULT 'sale';
ALTER TABLE conversions ADD COLUMN product_id TEXT NULL;
ALTER TABLE conversions ADD COLUMN corrected_commission_minor BIGINT NULL;
ALTER TABLE conversions ADD COLUMN corrections BIGINT NOT NULL DEFAULT 0;
ALTER TABLE commissions ADD COLUMN rule TEXT NULL
";

#[async_trait::async_trait]
impl MigrationTrait for RewardRules {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(manager, REWARD_RULES).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        execute_script(
            manager,
            "ALTER TABLE commissions DROP COLUMN rule; \
             ALTER TABLE conversions DROP COLUMN corrections; \
             ALTER TABLE conversions DROP COLUMN corrected_commission_minor; \
             ALTER TABLE conversions DROP COLUMN product_id; \
             ALTER TABLE conversions DROP COLUMN kind",
        )
        .await
    }
}

/// The audit trail (issue 15 part 4), append-only: triggers refuse every
/// `UPDATE` and `DELETE` of its rows (and on PostgreSQL a `TRUNCATE`), so
/// not even a hand-written statement can rewrite history.
#[derive(Debug)]
struct AuditEvents;

impl MigrationName for AuditEvents {
    fn name(&self) -> &str {
        "m20261207_000008_audit_events"
    }
}

const AUDIT_EVENTS: &str = "
CREATE TABLE audit_events (
    seq            {seq},
    id             {uuid} NOT NULL UNIQUE,
    at_ns          BIGINT NOT NULL,
    actor_kind     TEXT NOT NULL,
    actor_subject  TEXT NOT NULL,
    actor_roles    TEXT NOT NULL,
    merchant_id    TEXT NULL,
    action         TEXT NOT NULL,
    object_type    TEXT NOT NULL,
    object_id      TEXT NOT NULL,
    before_json    TEXT NULL,
    after_json     TEXT NULL,
    request_id     TEXT NULL
);
CREATE INDEX audit_events_by_merchant ON audit_events (merchant_id, seq);
CREATE INDEX audit_events_by_object ON audit_events (object_id, seq)
";

/// The triggers, one statement each (their bodies hold `;`).
fn audit_triggers(backend: DbBackend) -> Vec<&'static str> {
    match backend {
        DbBackend::Postgres => vec![
            "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
             BEGIN RAISE EXCEPTION 'audit_events is append-only: % refused', TG_OP; END $$",
            "CREATE TRIGGER audit_events_no_change BEFORE UPDATE OR DELETE ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_events_append_only()",
            "CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
        ],
        _ => vec![
            "CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: UPDATE refused'); END",
            "CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit_events is append-only: DELETE refused'); END",
        ],
    }
}

#[async_trait::async_trait]
impl MigrationTrait for AuditEvents {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let (uuid, seq) = match backend {
            DbBackend::Postgres => (
                "uuid",
                "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
            ),
            _ => ("BLOB", "INTEGER PRIMARY KEY AUTOINCREMENT"),
        };
        let script = AUDIT_EVENTS.replace("{uuid}", uuid).replace("{seq}", seq);
        execute_script(manager, &script).await?;
        let db = manager.get_connection();
        for statement in audit_triggers(backend) {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Dropping the table drops its triggers on both backends.
        execute_script(manager, "DROP TABLE IF EXISTS audit_events").await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            execute_script(
                manager,
                "DROP FUNCTION IF EXISTS audit_events_append_only()",
            )
            .await?;
        }
        Ok(())
    }
}

/// Runs each `;`-separated statement of a portable DDL script in order.
async fn execute_script(manager: &SchemaManager<'_>, script: &str) -> Result<(), DbErr> {
    let db = manager.get_connection();
    for statement in script.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        db.execute_unprepared(statement).await?;
    }
    Ok(())
}
