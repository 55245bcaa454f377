//! SeaORM entities: one module per table, rows exactly as stored.
//!
//! Storage formats (the same on SQLite and PostgreSQL):
//! * ids are UUIDs (`uuid` on PostgreSQL, 16-byte `BLOB` on SQLite: both
//!   order bytewise, like `Uuid`'s `Ord`, so keyset pages agree);
//! * money is `*_minor BIGINT` plus a 3-letter `currency` per row;
//! * instants are `*_ns BIGINT`, nanoseconds since the Unix epoch in UTC:
//!   integer comparisons (`hold_until_ns <= now`) are exact on both backends;
//! * periods are `INTEGER` `yyyymm` (`202601`), which orders like `Period`;
//! * states are their wire names as `TEXT`;
//! * value objects never filtered on (rules, policies, carry-overs, payloads,
//!   the fee schedule) are JSON `TEXT` of the domain type, whose decimals
//!   serialize as strings, so rates stay exact.

/// `merchant_connections`.
pub mod merchant_connection {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "merchant_connections")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub merchant_id: String,
        /// Unique.
        pub account_id: String,
        /// Wire name.
        pub status: String,
        /// Instant.
        pub granted_at_ns: i64,
        /// OAuth scope.
        pub scope: String,
        /// Instant.
        pub revoked_at_ns: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `oauth_states`.
pub mod oauth_state {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "oauth_states")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub token: String,
        /// Who started the flow.
        pub merchant_id: String,
        /// Instant.
        pub issued_at_ns: i64,
        /// Instant, once used.
        pub used_at_ns: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `programs`.
pub mod program {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "programs")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// Display name.
        pub name: String,
        /// ISO 4217.
        pub currency: String,
        /// JSON of `CommissionRule`.
        pub commission_rule: String,
        /// Days.
        pub holding_days: i32,
        /// In `currency`.
        pub minimum_payout_minor: i64,
        /// JSON object: currency code to minimum in its minor units.
        pub minimum_payouts: String,
        /// JSON of `PayoutPolicy`.
        pub payout_policy: String,
        /// Wire name.
        pub coupon_sync: String,
        /// JSON array of ISO 3166-1 alpha-2 codes.
        pub payout_countries: String,
        /// `active`, `probation` or `archived`.
        pub status: String,
        /// Set while on probation.
        pub probation_until_ns: Option<i64>,
        /// Wire name of the hold, if any.
        pub hold: Option<String>,
        /// Instant.
        pub created_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `memberships`.
pub mod membership {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "memberships")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Unique with `program_id`.
        pub partner_id: Uuid,
        /// The program.
        pub program_id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// Contact.
        pub email: String,
        /// ISO 3166-1 alpha-2.
        pub country: String,
        /// Express account.
        pub account_id: Option<String>,
        /// `full` or `recipient`, once the account exists.
        pub service_agreement: Option<String>,
        /// Onboarding flag.
        pub details_submitted: bool,
        /// Onboarding flag.
        pub payouts_enabled: bool,
        /// Wire name of the `transfers` capability.
        pub transfers_capability: String,
        /// Unique with `program_id`.
        pub referral_key: String,
        /// `active` or `removed`.
        pub status: String,
        /// Instant.
        pub joined_at_ns: i64,
        /// The Stripe fingerprint of the account's default bank account.
        pub bank_fingerprint: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `coupons`.
pub mod coupon {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "coupons")]
    pub struct Model {
        /// Primary key, with `code_normalized`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub merchant_id: String,
        /// The upper-case code: the case-insensitive unique key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub code_normalized: String,
        /// As written.
        pub code: String,
        /// The program.
        pub program_id: Uuid,
        /// The membership.
        pub membership_id: Uuid,
        /// Stripe promotion code.
        pub promotion_code_id: Option<String>,
        /// Attributes while true.
        pub active: bool,
        /// Instant.
        pub created_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `bank_payouts`.
pub mod bank_payout {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "bank_payouts")]
    pub struct Model {
        /// Primary key (`po_…`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub payout_id: String,
        /// The partner's account.
        pub account_id: String,
        /// ISO 4217.
        pub currency: String,
        /// In `currency`.
        pub amount_minor: i64,
        /// Stripe's status.
        pub status: String,
        /// Stripe's failure code.
        pub failure_code: Option<String>,
        /// Instant.
        pub arrival_date_ns: Option<i64>,
        /// Instant.
        pub updated_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `conversions`.
pub mod conversion {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "conversions")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant; unique with `external_id`.
        pub merchant_id: String,
        /// The program.
        pub program_id: Uuid,
        /// The membership.
        pub membership_id: Uuid,
        /// The partner.
        pub partner_id: Uuid,
        /// The merchant's id.
        pub external_id: String,
        /// ISO 4217 of every amount in the row.
        pub currency: String,
        /// Sale amount.
        pub amount_minor: i64,
        /// Cumulative refund.
        pub refunded_minor: i64,
        /// Cancelled.
        pub cancelled: bool,
        /// Instant.
        pub occurred_at_ns: i64,
        /// `coupon` or `referral`.
        pub attributed_via: String,
        /// The code or the referral key.
        pub attributed_key: String,
        /// Merchant's customer id.
        pub customer_ref: Option<String>,
        /// Stripe payment reference.
        pub payment_ref: Option<String>,
        /// `sale` or `lead`.
        pub kind: String,
        /// The product sold.
        pub product_id: Option<String>,
        /// An operator's corrected commission (before refunds).
        pub corrected_commission_minor: Option<i64>,
        /// How many corrections were made.
        pub corrections: i64,
        /// The customer's e-mail address, as reported.
        pub customer_email: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `commissions`.
pub mod commission {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "commissions")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// The program.
        pub program_id: Uuid,
        /// The membership.
        pub membership_id: Uuid,
        /// The partner.
        pub partner_id: Uuid,
        /// The conversion.
        pub conversion_id: Uuid,
        /// `earned` or `adjustment`.
        pub kind: String,
        /// For an adjustment: the commission it corrects.
        pub corrects_id: Option<Uuid>,
        /// For an adjustment: why.
        pub change_reason: Option<String>,
        /// ISO 4217 of every amount in the row.
        pub currency: String,
        /// What it pays now.
        pub amount_minor: i64,
        /// What it paid when earned.
        pub original_amount_minor: i64,
        /// `pending`, `on_hold`, `finalized` or `voided`.
        pub state: String,
        /// When finalized or voided, or since when on hold.
        pub state_at_ns: Option<i64>,
        /// Why voided.
        pub void_reason: Option<String>,
        /// Why on hold (`self_referral`, `duplicate_account`, `manual`).
        pub hold_reason: Option<String>,
        /// `yyyymm`.
        pub period: i32,
        /// Instant.
        pub created_at_ns: i64,
        /// Instant.
        pub hold_until_ns: i64,
        /// The item that pays it.
        pub payout_item_id: Option<Uuid>,
        /// The reward rule it was earned under (JSON).
        pub rule: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `batches`.
pub mod batch {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "batches")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// Unique with `period`.
        pub program_id: Uuid,
        /// `yyyymm`.
        pub period: i32,
        /// ISO 4217 of every amount in the row.
        pub currency: String,
        /// Wire name.
        pub state: String,
        /// Sum of the items.
        pub total_minor: i64,
        /// Sum of the fees.
        pub fee_total_minor: i64,
        /// Number of items.
        pub item_count: i64,
        /// JSON of `Vec<CarryOver>`.
        pub carried: String,
        /// SHA-256 hex.
        pub manifest_hash: String,
        /// Instant.
        pub as_of_ns: i64,
        /// JSON of `Approval`.
        pub approval: Option<String>,
        /// Instant.
        pub created_at_ns: i64,
        /// The account it pays from, once started.
        pub source_account: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `payout_items`.
pub mod payout_item {
    use sea_orm::entity::prelude::*;

    /// A row. `state_detail` is the source of truth for the state; the
    /// columns beside it are projections for queries.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "payout_items")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// The batch.
        pub batch_id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// The program.
        pub program_id: Uuid,
        /// Unique with `batch_id`.
        pub membership_id: Uuid,
        /// The partner.
        pub partner_id: Uuid,
        /// `acct_…`.
        pub destination: String,
        /// ISO 4217 of every amount in the row.
        pub currency: String,
        /// Net transferred.
        pub amount_minor: i64,
        /// Platform fee.
        pub fee_minor: i64,
        /// Commission rows paid.
        pub commission_count: i64,
        /// Wire name.
        pub state: String,
        /// Attempts made.
        pub attempt: i64,
        /// Canonical JSON of `ItemState` (UTC instants).
        pub state_detail: String,
        /// Failed: when the ladder retries.
        pub retry_at_ns: Option<i64>,
        /// Failed: the failure kind's wire name.
        pub failure_kind: Option<String>,
        /// Posted or reversed: the transfer.
        pub transfer_id: Option<String>,
        /// Reversed: total reversed.
        pub amount_reversed_minor: Option<i64>,
        /// Lease holder.
        pub lease_worker: Option<String>,
        /// Lease end.
        pub lease_until_ns: Option<i64>,
        /// Ambiguous re-sends.
        pub resends: i64,
        /// Instant.
        pub created_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `notifications` (the outbox).
pub mod notification {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notifications")]
    pub struct Model {
        /// Insertion order ("oldest first").
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// Unique.
        pub id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// Wire name.
        pub kind: String,
        /// JSON of `Recipient`.
        pub recipient: String,
        /// Unique.
        pub dedupe_key: String,
        /// JSON.
        pub payload: String,
        /// Instant.
        pub created_at_ns: i64,
        /// Instant.
        pub delivered_at_ns: Option<i64>,
        /// `pending`, `delivered` or `dead`.
        pub delivery_state: String,
        /// Attempts counted in the state.
        pub attempts: i64,
        /// Instant, when pending.
        pub next_attempt_at_ns: Option<i64>,
        /// Instant the dead-letter age counts from, when pending.
        pub since_ns: Option<i64>,
        /// The last failure's message, when pending or dead.
        pub last_error: Option<String>,
        /// The last failure's HTTP status, if the endpoint answered.
        pub last_status: Option<i32>,
        /// Instant, when dead.
        pub dead_at_ns: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `webhook_endpoints`: merchants' endpoints.
pub mod webhook_endpoint {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_endpoints")]
    pub struct Model {
        /// Primary key.
        #[sea_orm(primary_key, auto_increment = false)]
        pub id: Uuid,
        /// Owner.
        pub merchant_id: String,
        /// Where notifications are POSTed.
        pub url: String,
        /// The merchant's note.
        pub description: Option<String>,
        /// The current signing secret (`whsec_…`).
        pub secret: String,
        /// The secret rotated out, while it still signs.
        pub previous_secret: Option<String>,
        /// Instant it stops signing.
        pub previous_expires_at_ns: Option<i64>,
        /// Instant.
        pub created_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `notification_deliveries`: one row per attempt to one target.
pub mod notification_delivery {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "notification_deliveries")]
    pub struct Model {
        /// Insertion order ("newest first" lists).
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// Unique.
        pub id: Uuid,
        /// The notification.
        pub notification_id: Uuid,
        /// Tenant.
        pub merchant_id: String,
        /// The notification's kind (wire name).
        pub kind: String,
        /// The merchant's endpoint, if it was one.
        pub endpoint_id: Option<Uuid>,
        /// Where it was sent.
        pub url: String,
        /// Instant.
        pub attempted_at_ns: i64,
        /// Milliseconds.
        pub duration_ms: i64,
        /// `succeeded` or `failed`.
        pub status: String,
        /// The endpoint's HTTP status, if it answered.
        pub response_status: Option<i32>,
        /// Why it failed.
        pub error: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `settings`: platform configuration documents by key.
pub mod setting {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "settings")]
    pub struct Model {
        /// Primary key (`fee_schedule`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub key: String,
        /// JSON.
        pub value: String,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `webhook_events`: processed Stripe event ids.
pub mod webhook_event {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "webhook_events")]
    pub struct Model {
        /// Primary key (`evt_…`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub event_id: String,
        /// Instant.
        pub received_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `api_idempotency`: the HTTP layer's `Idempotency-Key` records.
pub mod api_idempotency {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "api_idempotency")]
    pub struct Model {
        /// Primary key, with `idempotency_key`: the merchant (or other scope).
        #[sea_orm(primary_key, auto_increment = false)]
        pub merchant_scope: String,
        /// Primary key, with `merchant_scope`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub idempotency_key: String,
        /// Hash of the request the key was first used with.
        pub request_hash: String,
        /// `in_progress` or `completed`.
        pub status: String,
        /// The HTTP status of the stored response.
        pub response_status: Option<i32>,
        /// The stored response body.
        pub response_body: Option<String>,
        /// Instant.
        pub created_at_ns: i64,
        /// Instant.
        pub completed_at_ns: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `leases`: named leases (one scheduler across service instances).
pub mod lease {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "leases")]
    pub struct Model {
        /// Primary key: the lease's name (`scheduler`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub name: String,
        /// The worker holding it.
        pub holder: String,
        /// Instant: free again at and after it.
        pub until_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `account_owners`: the merchant that created each connected account here.
pub mod account_owner {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "account_owners")]
    pub struct Model {
        /// Primary key: `acct_…`.
        #[sea_orm(primary_key, auto_increment = false)]
        pub account_id: String,
        /// The owning merchant.
        pub merchant_id: String,
        /// Instant recorded.
        pub created_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `login_links`: the console's single-use sign-in links.
pub mod login_link {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "login_links")]
    pub struct Model {
        /// Primary key: the SHA-256 of the link's secret.
        #[sea_orm(primary_key, auto_increment = false)]
        pub secret_hash: String,
        /// Who it signs in (JSON).
        pub principal: String,
        /// Instant issued.
        pub issued_at_ns: i64,
        /// Instant it stops working.
        pub expires_at_ns: i64,
        /// Instant used.
        pub used_at_ns: Option<i64>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `console_sessions`: signed-in console sessions.
pub mod console_session {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "console_sessions")]
    pub struct Model {
        /// Primary key: the SHA-256 of the cookie's secret.
        #[sea_orm(primary_key, auto_increment = false)]
        pub secret_hash: String,
        /// Who is signed in (JSON).
        pub principal: String,
        /// The forms' CSRF token.
        pub csrf_token: String,
        /// Instant opened.
        pub created_at_ns: i64,
        /// Instant of the last request.
        pub last_seen_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `disputes`: the latest reported version of each dispute.
pub mod dispute {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "disputes")]
    pub struct Model {
        /// Primary key (`dp_…`).
        #[sea_orm(primary_key, auto_increment = false)]
        pub dispute_id: String,
        /// The connected account the event came from.
        pub account_id: Option<String>,
        /// The disputed payment (`pi_…`).
        pub payment_intent: Option<String>,
        /// ISO 4217.
        pub currency: String,
        /// In `currency`.
        pub amount_minor: i64,
        /// Stripe's reason.
        pub reason: String,
        /// Stripe's status.
        pub status: String,
        /// Instant.
        pub evidence_due_by_ns: Option<i64>,
        /// Instant: the `created` of the event that reported this version.
        pub updated_at_ns: i64,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

/// `audit_events`: the append-only audit trail. Triggers refuse `UPDATE`
/// and `DELETE` (and, on PostgreSQL, `TRUNCATE`) of this table.
pub mod audit_event {
    use sea_orm::entity::prelude::*;

    /// A row.
    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "audit_events")]
    pub struct Model {
        /// Insertion order ("newest first" lists).
        #[sea_orm(primary_key)]
        pub seq: i64,
        /// Unique.
        pub id: Uuid,
        /// Instant.
        pub at_ns: i64,
        /// `user`, `cli`, `system` or `stripe`.
        pub actor_kind: String,
        /// The token's `sub`, `cli:<user>`, `scheduler` or `stripe`.
        pub actor_subject: String,
        /// The actor's roles (JSON array of role names).
        pub actor_roles: String,
        /// Tenant; none for the platform's own objects.
        pub merchant_id: Option<String>,
        /// The action's wire name, e.g. `batch.approved`.
        pub action: String,
        /// The kind of object (`batch`, `program`, …).
        pub object_type: String,
        /// The object's id.
        pub object_id: String,
        /// The object before (JSON).
        pub before_json: Option<String>,
        /// The object after (JSON).
        pub after_json: Option<String>,
        /// The request's id.
        pub request_id: Option<String>,
    }

    /// No relations.
    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}
