//! The audit trail (issue 15 part 4): who did what to which object, when,
//! and what it looked like before and after.
//!
//! Entries are written by the use cases themselves ([`crate::engine`]),
//! never by an inbound adapter: an adapter only says who is acting
//! ([`Acting`]) and the engine decides what to record. The trail is
//! append-only: the port ([`crate::ports::AuditStore`]) has no way to
//! change or remove an entry, and the SQL store refuses `UPDATE` and
//! `DELETE` on its table with triggers.
//!
//! An entry is written right after the state change it describes succeeds
//! (the stores offer no transaction across aggregates). When writing the
//! entry fails, the use case answers the store's error although the change
//! is made, so the caller sees the failure rather than a silent gap.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::error::DomainError;
use crate::ids::{AuditEventId, MerchantId};

/// The longest subject or request id kept; longer ones are cut (on a
/// character boundary), so a hostile header cannot bloat the trail.
pub const MAX_TEXT_LEN: usize = 200;

/// What kind of actor acted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActorKind {
    /// A person or client with an API token or a console session: the
    /// subject is the token's `sub`, the roles the token's roles.
    User,
    /// The `payouts` command line, run by someone with access to the
    /// database: the subject is `cli:<login name>`.
    Cli,
    /// The service itself (the scheduler): the subject is `scheduler`.
    System,
    /// Stripe: its webhooks (a deauthorization) and its OAuth redirect.
    Stripe,
}

impl ActorKind {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActorKind::User => "user",
            ActorKind::Cli => "cli",
            ActorKind::System => "system",
            ActorKind::Stripe => "stripe",
        }
    }

    /// From the wire name.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `actor_type` for another name.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        [
            ActorKind::User,
            ActorKind::Cli,
            ActorKind::System,
            ActorKind::Stripe,
        ]
        .into_iter()
        .find(|k| k.as_str() == name)
        .ok_or_else(|| DomainError::validation("actor_type", "must be user, cli, system or stripe"))
    }
}

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The kind of actor.
    pub kind: ActorKind,
    /// Who, within the kind (a token's `sub`, `cli:alice`, `scheduler`,
    /// `stripe`).
    pub subject: String,
    /// The roles they acted with, as the API spells them (empty for the
    /// system and Stripe).
    pub roles: Vec<String>,
}

/// Cuts `text` to [`MAX_TEXT_LEN`] bytes on a character boundary.
fn bounded(text: &str) -> String {
    let mut end = text.len().min(MAX_TEXT_LEN);
    while !text.is_char_boundary(end) {
        end = end.saturating_sub(1);
    }
    text.get(..end).unwrap_or_default().to_owned()
}

impl Actor {
    /// A person or client with a token or a console session.
    pub fn user(subject: &str, roles: Vec<String>) -> Self {
        Actor {
            kind: ActorKind::User,
            subject: bounded(subject),
            roles,
        }
    }

    /// The command line, run by the login `user`.
    pub fn cli(user: &str) -> Self {
        Actor {
            kind: ActorKind::Cli,
            subject: bounded(&format!("cli:{user}")),
            roles: Vec::new(),
        }
    }

    /// The scheduler.
    pub fn system() -> Self {
        Actor {
            kind: ActorKind::System,
            subject: "scheduler".to_owned(),
            roles: Vec::new(),
        }
    }

    /// Stripe.
    pub fn stripe() -> Self {
        Actor {
            kind: ActorKind::Stripe,
            subject: "stripe".to_owned(),
            roles: Vec::new(),
        }
    }
}

/// Who is acting, and on behalf of which request: what an inbound adapter
/// hands every use case that changes what an operator controls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    /// Who.
    pub actor: Actor,
    /// The request's id (the HTTP `Request-Id`, a Stripe event id), when
    /// there is one.
    pub request_id: Option<String>,
}

impl Acting {
    /// `actor`, acting for the request `request_id`.
    pub fn new(actor: Actor, request_id: Option<&str>) -> Self {
        Acting {
            actor,
            request_id: request_id.map(bounded),
        }
    }

    /// The scheduler, outside any request.
    pub fn system() -> Self {
        Acting::new(Actor::system(), None)
    }

    /// The command line, run by `user`.
    pub fn cli(user: &str) -> Self {
        Acting::new(Actor::cli(user), None)
    }

    /// Stripe, for the event or request `request_id`.
    pub fn stripe(request_id: Option<&str>) -> Self {
        Acting::new(Actor::stripe(), request_id)
    }
}

/// What was done. The wire names are `<object>.<verb>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AuditAction {
    /// A merchant's Stripe account was connected (OAuth completed).
    #[serde(rename = "connection.connected")]
    ConnectionConnected,
    /// Stripe told us the merchant disconnected (deauthorized) the platform.
    #[serde(rename = "connection.revoked")]
    ConnectionRevoked,
    /// A program was created.
    #[serde(rename = "program.created")]
    ProgramCreated,
    /// A program's settings (its payout policy among them) were replaced.
    #[serde(rename = "program.updated")]
    ProgramUpdated,
    /// A program's commissions of a period were finalized.
    #[serde(rename = "period.finalized")]
    PeriodFinalized,
    /// A batch was built.
    #[serde(rename = "batch.built")]
    BatchBuilt,
    /// A person approved a draft batch.
    #[serde(rename = "batch.approved")]
    BatchApproved,
    /// Execution of a batch was requested.
    #[serde(rename = "batch.executed")]
    BatchExecuted,
    /// A batch's status was refreshed from Stripe.
    #[serde(rename = "batch.refreshed")]
    BatchRefreshed,
    /// A failed item was retried by hand.
    #[serde(rename = "item.retried")]
    ItemRetried,
    /// The platform's fee schedule was replaced.
    #[serde(rename = "fee_schedule.updated")]
    FeeScheduleUpdated,
    /// A console login link was issued.
    #[serde(rename = "login_link.issued")]
    LoginLinkIssued,
    /// A webhook endpoint was created.
    #[serde(rename = "webhook_endpoint.created")]
    WebhookEndpointCreated,
    /// A webhook endpoint was deleted.
    #[serde(rename = "webhook_endpoint.deleted")]
    WebhookEndpointDeleted,
    /// A webhook endpoint's signing secret was rotated.
    #[serde(rename = "webhook_endpoint.secret_rotated")]
    WebhookEndpointSecretRotated,
    /// An operator held a commission for review.
    #[serde(rename = "commission.held")]
    CommissionHeld,
    /// An operator released a held commission.
    #[serde(rename = "commission.released")]
    CommissionReleased,
    /// An operator rejected a held commission.
    #[serde(rename = "commission.rejected")]
    CommissionRejected,
    /// A conversion was refunded through the API.
    #[serde(rename = "conversion.refunded")]
    ConversionRefunded,
    /// A conversion was cancelled through the API.
    #[serde(rename = "conversion.cancelled")]
    ConversionCancelled,
    /// An operator corrected what a conversion earns.
    #[serde(rename = "conversion.corrected")]
    ConversionCorrected,
}

impl AuditAction {
    /// Every action, in the order the docs list them.
    pub const ALL: [AuditAction; 21] = [
        AuditAction::ConnectionConnected,
        AuditAction::ConnectionRevoked,
        AuditAction::ProgramCreated,
        AuditAction::ProgramUpdated,
        AuditAction::PeriodFinalized,
        AuditAction::BatchBuilt,
        AuditAction::BatchApproved,
        AuditAction::BatchExecuted,
        AuditAction::BatchRefreshed,
        AuditAction::ItemRetried,
        AuditAction::FeeScheduleUpdated,
        AuditAction::LoginLinkIssued,
        AuditAction::WebhookEndpointCreated,
        AuditAction::WebhookEndpointDeleted,
        AuditAction::WebhookEndpointSecretRotated,
        AuditAction::CommissionHeld,
        AuditAction::CommissionReleased,
        AuditAction::CommissionRejected,
        AuditAction::ConversionRefunded,
        AuditAction::ConversionCancelled,
        AuditAction::ConversionCorrected,
    ];

    /// The wire name, e.g. `batch.approved`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::ConnectionConnected => "connection.connected",
            AuditAction::ConnectionRevoked => "connection.revoked",
            AuditAction::ProgramCreated => "program.created",
            AuditAction::ProgramUpdated => "program.updated",
            AuditAction::PeriodFinalized => "period.finalized",
            AuditAction::BatchBuilt => "batch.built",
            AuditAction::BatchApproved => "batch.approved",
            AuditAction::BatchExecuted => "batch.executed",
            AuditAction::BatchRefreshed => "batch.refreshed",
            AuditAction::ItemRetried => "item.retried",
            AuditAction::FeeScheduleUpdated => "fee_schedule.updated",
            AuditAction::LoginLinkIssued => "login_link.issued",
            AuditAction::WebhookEndpointCreated => "webhook_endpoint.created",
            AuditAction::WebhookEndpointDeleted => "webhook_endpoint.deleted",
            AuditAction::WebhookEndpointSecretRotated => "webhook_endpoint.secret_rotated",
            AuditAction::CommissionHeld => "commission.held",
            AuditAction::CommissionReleased => "commission.released",
            AuditAction::CommissionRejected => "commission.rejected",
            AuditAction::ConversionRefunded => "conversion.refunded",
            AuditAction::ConversionCancelled => "conversion.cancelled",
            AuditAction::ConversionCorrected => "conversion.corrected",
        }
    }

    /// The kind of object the action is about.
    pub fn object_type(self) -> &'static str {
        match self {
            AuditAction::ConnectionConnected | AuditAction::ConnectionRevoked => "connection",
            AuditAction::ProgramCreated
            | AuditAction::ProgramUpdated
            | AuditAction::PeriodFinalized => "program",
            AuditAction::BatchBuilt
            | AuditAction::BatchApproved
            | AuditAction::BatchExecuted
            | AuditAction::BatchRefreshed => "batch",
            AuditAction::ItemRetried => "payout_item",
            AuditAction::FeeScheduleUpdated => "fee_schedule",
            AuditAction::LoginLinkIssued => "login_link",
            AuditAction::WebhookEndpointCreated
            | AuditAction::WebhookEndpointDeleted
            | AuditAction::WebhookEndpointSecretRotated => "webhook_endpoint",
            AuditAction::CommissionHeld
            | AuditAction::CommissionReleased
            | AuditAction::CommissionRejected => "commission",
            AuditAction::ConversionRefunded
            | AuditAction::ConversionCancelled
            | AuditAction::ConversionCorrected => "conversion",
        }
    }

    /// From the wire name.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `action` for an unknown name.
    pub fn parse(name: &str) -> Result<Self, DomainError> {
        AuditAction::ALL
            .into_iter()
            .find(|a| a.as_str() == name)
            .ok_or_else(|| {
                DomainError::validation("action", format!("unknown audit action `{name}`"))
            })
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of the trail. Never changed once written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEvent {
    /// Its id.
    pub id: AuditEventId,
    /// When it happened (the engine's clock).
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    /// Who did it.
    pub actor: Actor,
    /// The merchant whose object it is; none for the platform's own
    /// objects (the fee schedule), which only platform roles see.
    pub merchant_id: Option<MerchantId>,
    /// What was done.
    pub action: AuditAction,
    /// The object's id (a UUID, or the merchant id for its connection).
    pub object_id: String,
    /// The object before, where the action changed an existing one.
    pub before: Option<serde_json::Value>,
    /// The object after, or what the action produced.
    pub after: Option<serde_json::Value>,
    /// The request it was made in, when known.
    pub request_id: Option<String>,
}

impl AuditEvent {
    /// The kind of object ([`AuditAction::object_type`]).
    pub fn object_type(&self) -> &'static str {
        self.action.object_type()
    }
}

/// Which entries to list. Every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only this merchant's entries (set for every merchant caller; a
    /// platform caller may leave it unset to see all, the platform's own
    /// entries included).
    pub merchant_id: Option<MerchantId>,
    /// Only this action.
    pub action: Option<AuditAction>,
    /// Only entries about this object.
    pub object_id: Option<String>,
    /// Only entries by this subject.
    pub actor_subject: Option<String>,
    /// Only entries by this kind of actor.
    pub actor_kind: Option<ActorKind>,
    /// Only entries at or after this instant.
    pub from: Option<OffsetDateTime>,
    /// Only entries at or before this instant.
    pub to: Option<OffsetDateTime>,
}

impl AuditFilter {
    /// True when `event` passes every set field (what an in-memory store
    /// filters with; SQL stores say the same in `WHERE`).
    pub fn matches(&self, event: &AuditEvent) -> bool {
        self.merchant_id
            .as_ref()
            .is_none_or(|m| event.merchant_id.as_ref() == Some(m))
            && self.action.is_none_or(|a| event.action == a)
            && self
                .object_id
                .as_ref()
                .is_none_or(|o| event.object_id == *o)
            && self
                .actor_subject
                .as_ref()
                .is_none_or(|s| event.actor.subject == *s)
            && self.actor_kind.is_none_or(|k| event.actor.kind == k)
            && self.from.is_none_or(|from| event.at >= from)
            && self.to.is_none_or(|to| event.at <= to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_names_round_trip() {
        for action in AuditAction::ALL {
            assert_eq!(AuditAction::parse(action.as_str()).unwrap(), action);
            let json = serde_json::to_value(action).unwrap();
            assert_eq!(json, serde_json::json!(action.as_str()));
        }
        assert!(AuditAction::parse("batch.deleted").is_err());
        assert_eq!(ActorKind::parse("system").unwrap(), ActorKind::System);
        assert!(ActorKind::parse("robot").is_err());
    }

    #[test]
    fn long_subjects_are_cut_on_a_char_boundary() {
        let long = "é".repeat(150);
        let actor = Actor::user(&long, vec![]);
        assert!(actor.subject.len() <= MAX_TEXT_LEN);
        assert!(actor.subject.chars().all(|c| c == 'é'));
        let acting = Acting::new(Actor::system(), Some(&"x".repeat(500)));
        assert_eq!(acting.request_id.unwrap().len(), MAX_TEXT_LEN);
    }
}
