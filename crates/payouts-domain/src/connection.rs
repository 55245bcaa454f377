//! The merchant's Stripe Connect connection (seed 000): the four stored
//! fields, their statuses, and the single-use OAuth `state` token.

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::error::TransitionError;
use crate::ids::{AccountId, MerchantId, StateToken};

/// How long an OAuth `state` token is accepted after it was issued.
pub const STATE_TTL: Duration = Duration::minutes(10);

/// The scope the platform asks for: Standard Connect, `read_write`.
pub const REQUIRED_SCOPE: &str = "read_write";

/// The status of a merchant's connection, as seed 000 names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    /// Authorised and usable.
    Connected,
    /// Stripe limits the account (requirements past due); transfers may fail.
    Restricted,
    /// The merchant revoked the platform's access.
    Revoked,
    /// Stripe disabled the account.
    Disabled,
    /// OAuth started but not completed.
    Pending,
}

impl ConnectionStatus {
    /// The wire name (`connected`, `restricted`, …).
    pub const fn as_str(&self) -> &'static str {
        match self {
            ConnectionStatus::Connected => "connected",
            ConnectionStatus::Restricted => "restricted",
            ConnectionStatus::Revoked => "revoked",
            ConnectionStatus::Disabled => "disabled",
            ConnectionStatus::Pending => "pending",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "connected" => ConnectionStatus::Connected,
            "restricted" => ConnectionStatus::Restricted,
            "revoked" => ConnectionStatus::Revoked,
            "disabled" => ConnectionStatus::Disabled,
            "pending" => ConnectionStatus::Pending,
            _ => return None,
        })
    }

    /// True when transfers may be sent from the merchant's account.
    pub const fn can_transfer(&self) -> bool {
        match self {
            ConnectionStatus::Connected | ConnectionStatus::Restricted => true,
            ConnectionStatus::Revoked | ConnectionStatus::Disabled | ConnectionStatus::Pending => {
                false
            }
        }
    }
}

/// A merchant's Stripe connection: the four fields seed 000 stores.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantConnection {
    /// The merchant (tenant).
    pub merchant_id: MerchantId,
    /// `stripeAccountId`: the `acct_…` transfers are sent from.
    pub account_id: AccountId,
    /// `stripeAccountStatus`.
    pub status: ConnectionStatus,
    /// `stripeOauthGrantedAt`.
    #[serde(with = "time::serde::rfc3339")]
    pub granted_at: OffsetDateTime,
    /// `stripeOauthScope`, `read_write` for payouts.
    pub scope: String,
    /// When the merchant revoked access, while revoked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

/// What happened to a connection; input of [`MerchantConnection::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    /// OAuth completed (first time or re-authorisation).
    Authorized {
        /// The account Stripe returned as `stripe_user_id`.
        account_id: AccountId,
        /// The granted scope.
        scope: String,
        /// When.
        at: OffsetDateTime,
    },
    /// `account.application.deauthorized`.
    Deauthorized {
        /// When Stripe reported it.
        at: OffsetDateTime,
    },
    /// `account.updated` on the merchant's account.
    AccountUpdated {
        /// Whether Stripe disabled the account (`requirements.disabled_reason` set
        /// and charges/payouts off).
        disabled: bool,
        /// Whether requirements are past due (restricted).
        restricted: bool,
    },
}

impl MerchantConnection {
    /// A new connection from a completed OAuth exchange.
    pub fn authorized(
        merchant_id: MerchantId,
        account_id: AccountId,
        scope: String,
        at: OffsetDateTime,
    ) -> Self {
        MerchantConnection {
            merchant_id,
            account_id,
            status: ConnectionStatus::Connected,
            granted_at: at,
            scope,
            revoked_at: None,
        }
    }

    /// Applies an event. Re-authorising works from any status; a
    /// deauthorisation of an already-revoked connection is a replay and
    /// returns the connection unchanged.
    ///
    /// # Errors
    /// [`TransitionError`] when an account update arrives for a revoked connection.
    pub fn apply(&self, event: &ConnectionEvent) -> Result<MerchantConnection, TransitionError> {
        let mut next = self.clone();
        match (self.status, event) {
            (
                _,
                ConnectionEvent::Authorized {
                    account_id,
                    scope,
                    at,
                },
            ) => {
                next.account_id = account_id.clone();
                next.scope = scope.clone();
                next.granted_at = *at;
                next.status = ConnectionStatus::Connected;
                next.revoked_at = None;
            }
            (ConnectionStatus::Revoked, ConnectionEvent::Deauthorized { .. }) => {}
            (_, ConnectionEvent::Deauthorized { at }) => {
                next.status = ConnectionStatus::Revoked;
                next.revoked_at = Some(*at);
            }
            (
                ConnectionStatus::Connected
                | ConnectionStatus::Restricted
                | ConnectionStatus::Disabled
                | ConnectionStatus::Pending,
                ConnectionEvent::AccountUpdated {
                    disabled,
                    restricted,
                },
            ) => {
                next.status = if *disabled {
                    ConnectionStatus::Disabled
                } else if *restricted {
                    ConnectionStatus::Restricted
                } else {
                    ConnectionStatus::Connected
                };
            }
            (status, event) => {
                return Err(TransitionError {
                    entity: "merchant connection",
                    from: status.as_str().to_owned(),
                    event: format!("{event:?}"),
                });
            }
        }
        Ok(next)
    }
}

/// A single-use OAuth `state` token, valid for [`STATE_TTL`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthState {
    /// The token sent to Stripe and echoed back.
    pub token: StateToken,
    /// Who started the flow.
    pub merchant_id: MerchantId,
    /// When it was issued.
    #[serde(with = "time::serde::rfc3339")]
    pub issued_at: OffsetDateTime,
    /// When it was used, if it was.
    #[serde(with = "time::serde::rfc3339::option")]
    pub used_at: Option<OffsetDateTime>,
}

impl OAuthState {
    /// A fresh token issued at `now`.
    pub fn issue(token: StateToken, merchant_id: MerchantId, now: OffsetDateTime) -> Self {
        OAuthState {
            token,
            merchant_id,
            issued_at: now,
            used_at: None,
        }
    }

    /// When the token stops being accepted.
    pub fn expires_at(&self) -> OffsetDateTime {
        self.issued_at.saturating_add(STATE_TTL)
    }

    /// Checks the token can be used at `now`. Reuse is checked before
    /// expiry, so a used token always reports `state_reused`.
    ///
    /// # Errors
    /// [`CallbackError::StateReused`] or [`CallbackError::StateExpired`].
    pub fn check_usable(&self, now: OffsetDateTime) -> Result<(), CallbackError> {
        if self.used_at.is_some() {
            return Err(CallbackError::StateReused);
        }
        if now >= self.expires_at() {
            return Err(CallbackError::StateExpired);
        }
        Ok(())
    }
}

/// Why an OAuth callback did not connect. The wire names are the `reason`
/// of the `?stripe=error&reason=…` redirect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum CallbackError {
    /// The token is older than ten minutes.
    #[error("state_expired")]
    StateExpired,
    /// No such token was issued.
    #[error("state_unknown")]
    StateUnknown,
    /// The token was already used once.
    #[error("state_reused")]
    StateReused,
    /// The merchant declined on Stripe's page (or Stripe refused the code).
    #[error("access_denied")]
    AccessDenied,
}

impl CallbackError {
    /// The `reason` query value.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CallbackError::StateExpired => "state_expired",
            CallbackError::StateUnknown => "state_unknown",
            CallbackError::StateReused => "state_reused",
            CallbackError::AccessDenied => "access_denied",
        }
    }
}

/// The result of an OAuth callback, as the dashboard redirect shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "stripe", rename_all = "snake_case")]
pub enum CallbackOutcome {
    /// `?stripe=connected`.
    Connected {
        /// The connection as stored.
        connection: MerchantConnection,
        /// Programs whose probation this re-authorisation cleared.
        probation_cleared: usize,
    },
    /// `?stripe=error&reason=…`.
    Error {
        /// Why.
        reason: CallbackError,
    },
}

impl CallbackOutcome {
    /// The query string for the dashboard redirect, without the `?`.
    pub fn query(&self) -> String {
        match self {
            CallbackOutcome::Connected { .. } => "stripe=connected".to_owned(),
            CallbackOutcome::Error { reason } => format!("stripe=error&reason={}", reason.as_str()),
        }
    }
}

/// A Stripe account as the rules see it: an `account.updated` payload, or
/// the account retrieved from Stripe ([`crate::ports::ConnectGateway::account_snapshot`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountSnapshot {
    /// The account.
    pub account_id: AccountId,
    /// `details_submitted`.
    pub details_submitted: bool,
    /// `charges_enabled`.
    pub charges_enabled: bool,
    /// `payouts_enabled`.
    pub payouts_enabled: bool,
    /// `capabilities.transfers`.
    pub transfers: crate::partner::CapabilityStatus,
    /// `requirements.disabled_reason`.
    pub disabled_reason: Option<String>,
    /// Whether `requirements.past_due` is non-empty.
    pub past_due: bool,
}

impl AccountSnapshot {
    /// The account's status by the one rule ([`crate::platform::AccountStatus::derive`]).
    pub fn status(&self) -> crate::platform::AccountStatus {
        crate::platform::AccountStatus::derive(
            self.details_submitted,
            self.charges_enabled,
            self.payouts_enabled,
            self.disabled_reason.as_deref(),
            self.past_due,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn token() -> StateToken {
        StateToken::parse("abcdefghijklmnop").unwrap()
    }

    #[test]
    fn state_lives_ten_minutes_and_is_single_use() {
        let t0 = datetime!(2026-01-01 12:00 UTC);
        let mut state = OAuthState::issue(token(), MerchantId::parse("m1").unwrap(), t0);
        assert_eq!(state.check_usable(t0 + Duration::minutes(9)), Ok(()));
        assert_eq!(
            state.check_usable(t0 + Duration::minutes(10)),
            Err(CallbackError::StateExpired)
        );
        state.used_at = Some(t0);
        assert_eq!(state.check_usable(t0), Err(CallbackError::StateReused));
    }

    #[test]
    fn redirect_query_names_the_reason() {
        let outcome = CallbackOutcome::Error {
            reason: CallbackError::StateExpired,
        };
        assert_eq!(outcome.query(), "stripe=error&reason=state_expired");
    }

    #[test]
    fn deauthorize_then_reauthorize() {
        let t0 = datetime!(2026-01-01 12:00 UTC);
        let c = MerchantConnection::authorized(
            MerchantId::parse("m1").unwrap(),
            AccountId::parse("acct_1").unwrap(),
            REQUIRED_SCOPE.to_owned(),
            t0,
        );
        let revoked = c.apply(&ConnectionEvent::Deauthorized { at: t0 }).unwrap();
        assert_eq!(revoked.status, ConnectionStatus::Revoked);
        // A replay changes nothing.
        assert_eq!(
            revoked
                .apply(&ConnectionEvent::Deauthorized { at: t0 })
                .unwrap(),
            revoked
        );
        // An account update cannot un-revoke.
        assert!(
            revoked
                .apply(&ConnectionEvent::AccountUpdated {
                    disabled: false,
                    restricted: false
                })
                .is_err()
        );
        let back = revoked
            .apply(&ConnectionEvent::Authorized {
                account_id: AccountId::parse("acct_1").unwrap(),
                scope: REQUIRED_SCOPE.to_owned(),
                at: t0,
            })
            .unwrap();
        assert_eq!(back.status, ConnectionStatus::Connected);
        assert_eq!(back.revoked_at, None);
    }
}
