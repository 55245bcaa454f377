//! The domain's error types: one for the rules, one for each kind of port.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::ids::IdError;
use crate::money::MoneyError;

/// A state machine refused an event: the transition does not apply to the
/// current state. Replays of an already-applied event are not errors.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entity} cannot go from `{from}` on `{event}`")]
pub struct TransitionError {
    /// The kind of aggregate (`"payout item"`, `"batch"`, …).
    pub entity: &'static str,
    /// The state it is in.
    pub from: String,
    /// The event that does not apply.
    pub event: String,
}

/// Why a payout operation is not allowed right now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "reason", rename_all = "snake_case")]
pub enum Blocked {
    /// The merchant revoked access; payouts wait for re-authorisation.
    #[error("the program is on probation until {until}")]
    ProgramOnProbation {
        /// When the probation ends and the program is archived.
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// The program was archived; nothing pays out any more.
    #[error("the program is archived")]
    ProgramArchived,
    /// Payouts are held until the merchant acts (e.g. Stripe `account_inactive`).
    #[error("payouts are paused: {0}")]
    PayoutsPaused(String),
    /// The merchant has no usable Stripe connection.
    #[error("the merchant's Stripe connection is {0}")]
    NotConnected(String),
    /// The batch is not in a state that allows this (e.g. not approved).
    #[error("the batch is {0}")]
    BatchState(String),
    /// The connected account has not finished onboarding.
    #[error("account {0} has not finished onboarding")]
    NotOnboarded(String),
}

/// Errors that store ports return, in domain terms. Adapters translate their
/// backend's errors into these at the edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// No row with that id.
    #[error("{entity} {id} not found")]
    NotFound {
        /// The kind of aggregate.
        entity: &'static str,
        /// The id looked up.
        id: String,
    },
    /// A unique key is already taken.
    #[error("{entity} {key} already exists")]
    Duplicate {
        /// The kind of aggregate.
        entity: &'static str,
        /// The key that clashed.
        key: String,
    },
    /// A compare-and-set found another state than expected; nothing was written.
    #[error("{entity} {id} changed concurrently: {detail}")]
    Conflict {
        /// The kind of aggregate.
        entity: &'static str,
        /// Its id.
        id: String,
        /// What was expected and what was found.
        detail: String,
    },
    /// The backend failed (connection lost, disk full, …). Retrying may help.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// A value no store can hold and read back (an instant outside
    /// 1677..2262, a period outside 1970..9999): refused before anything is
    /// written, so that no later read of the row fails. See
    /// [`crate::ports::storable`].
    #[error("{what} cannot be stored: {reason}")]
    Unstorable {
        /// The kind of value (`instant`, `period`).
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// The error of every use case.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DomainError {
    /// Input that breaks a rule; nothing was changed.
    #[error("invalid {field}: {message}")]
    Validation {
        /// The field at fault.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// No such aggregate (or not visible to the caller).
    #[error("{entity} {id} not found")]
    NotFound {
        /// The kind of aggregate.
        entity: &'static str,
        /// The id looked up.
        id: String,
    },
    /// A unique key is already taken.
    #[error("{entity} {key} already exists")]
    Duplicate {
        /// The kind of aggregate.
        entity: &'static str,
        /// The key that clashed.
        key: String,
    },
    /// A concurrent change won a compare-and-set; reload and retry.
    #[error("{entity} {id} changed concurrently: {detail}")]
    Conflict {
        /// The kind of aggregate.
        entity: &'static str,
        /// Its id.
        id: String,
        /// What was expected and what was found.
        detail: String,
    },
    /// A state machine refused the event.
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// The operation is not allowed in the current program or batch state.
    #[error("blocked: {0}")]
    Blocked(#[from] Blocked),
    /// Money arithmetic failed (currency mismatch, overflow, …).
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// A Stripe operation failed.
    #[error("stripe: {0}")]
    Gateway(#[from] crate::ports::GatewayError),
    /// A backend is unavailable; retrying may help.
    #[error("unavailable: {0}")]
    Unavailable(String),
}

impl DomainError {
    /// A validation error on `field`.
    pub fn validation(field: impl Into<String>, message: impl Into<String>) -> Self {
        DomainError::Validation {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl From<StoreError> for DomainError {
    fn from(value: StoreError) -> Self {
        match value {
            StoreError::NotFound { entity, id } => DomainError::NotFound { entity, id },
            StoreError::Duplicate { entity, key } => DomainError::Duplicate { entity, key },
            StoreError::Conflict { entity, id, detail } => {
                DomainError::Conflict { entity, id, detail }
            }
            StoreError::Unavailable(message) => DomainError::Unavailable(message),
            StoreError::Unstorable { what, reason } => DomainError::Validation {
                field: what.to_owned(),
                message: format!("cannot be stored: {reason}"),
            },
        }
    }
}

impl From<IdError> for DomainError {
    fn from(value: IdError) -> Self {
        DomainError::Validation {
            field: value.kind.to_owned(),
            message: value.reason,
        }
    }
}
