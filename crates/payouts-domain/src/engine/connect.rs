//! Merchant Connect OAuth, account updates, deauthorization and probation.

use crate::platform::AccountStatus;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::Payouts;
use super::audit::{Entry, snapshot};
use crate::audit::{Acting, AuditAction};
pub use crate::connection::AccountSnapshot;
use crate::connection::{
    CallbackError, CallbackOutcome, ConnectionEvent, MerchantConnection, OAuthState, REQUIRED_SCOPE,
};
use crate::error::{DomainError, StoreError};
use crate::ids::{AccountId, MerchantId, StateToken};
use crate::notification::{NotificationKind, Recipient};
use crate::partner::{MembershipStatus, OnboardingState};
use crate::ports::{
    AuditStore, Clock, CommissionStore, ConnectGateway, ConnectionStore, FailureKind, IdGenerator,
    ItemStore, MembershipStore, OutboxStore, PayoutGateway, ProgramStore,
};
use crate::program::{HoldReason, ProgramEvent, ProgramStatus};

/// A started OAuth flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectStart {
    /// The stored state token.
    pub state: OAuthState,
    /// Where to send the merchant.
    pub authorize_url: String,
}

/// What a deauthorization did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeauthorizationOutcome {
    /// The merchant, when the account is one of ours.
    pub merchant_id: Option<MerchantId>,
    /// Programs now on probation.
    pub programs_on_probation: usize,
    /// Notifications newly written (zero on a replay).
    pub notifications: u64,
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ConnectionStore
        + ProgramStore
        + MembershipStore
        + CommissionStore
        + ItemStore
        + OutboxStore
        + AuditStore
        + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Starts Connect OAuth for a merchant: issues a single-use `state`
    /// token valid for ten minutes and builds the authorize URL.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] when the store fails.
    pub async fn start_connect(&self, merchant: &MerchantId) -> Result<ConnectStart, DomainError> {
        let token = StateToken::parse(format!(
            "{}{}",
            self.ids.next_uuid().simple(),
            self.ids.next_uuid().simple()
        ))?;
        let state = OAuthState::issue(token, merchant.clone(), self.clock.now());
        self.store.insert_oauth_state(&state).await?;
        let authorize_url = self.gateway.authorize_url(&state.token);
        Ok(ConnectStart {
            state,
            authorize_url,
        })
    }

    /// Completes the OAuth callback. `code` is Stripe's authorization code;
    /// `error` is Stripe's `error` parameter when the merchant declined.
    /// Every problem the merchant can cause is an [`CallbackOutcome::Error`]
    /// with a reason; only infrastructure failures are `Err`.
    ///
    /// On success, the connection is stored as `connected` and the
    /// merchant's programs on probation return to active (or are archived
    /// if their window already passed).
    ///
    /// A completed connection is recorded as `connection.connected` by
    /// `acting` (for Stripe's redirect, [`Acting::stripe`]: the `state`
    /// token, not a signed-in person, authenticates it).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or a non-refusal [`DomainError::Gateway`].
    pub async fn complete_connect(
        &self,
        state: &str,
        code: Option<&str>,
        error: Option<&str>,
        acting: &Acting,
    ) -> Result<CallbackOutcome, DomainError> {
        let fail = |reason| Ok(CallbackOutcome::Error { reason });
        let Ok(token) = StateToken::parse(state) else {
            return fail(CallbackError::StateUnknown);
        };
        let Some(stored) = self.store.oauth_state(&token).await? else {
            return fail(CallbackError::StateUnknown);
        };
        let now = self.clock.now();
        if let Err(reason) = stored.check_usable(now) {
            return fail(reason);
        }
        match self.store.consume_oauth_state(&token, now).await {
            Ok(()) => {}
            Err(StoreError::Conflict { .. }) => return fail(CallbackError::StateReused),
            Err(other) => return Err(other.into()),
        }
        let code = match (code, error) {
            (Some(code), None) if !code.is_empty() => code,
            _ => return fail(CallbackError::AccessDenied),
        };
        let grant = match self.gateway.exchange_code(code).await {
            Ok(grant) => grant,
            Err(e) if matches!(e.kind, FailureKind::InvalidRequest | FailureKind::NotFound) => {
                return fail(CallbackError::AccessDenied);
            }
            Err(e) => return Err(e.into()),
        };
        if grant.scope != REQUIRED_SCOPE {
            return fail(CallbackError::AccessDenied);
        }
        let merchant = stored.merchant_id;
        let existing = self.store.connection(&merchant).await?;
        let event = ConnectionEvent::Authorized {
            account_id: grant.account_id.clone(),
            scope: grant.scope.clone(),
            at: now,
        };
        let connection = match &existing {
            Some(current) => current.apply(&event)?,
            None => {
                MerchantConnection::authorized(merchant.clone(), grant.account_id, grant.scope, now)
            }
        };
        self.store
            .save_connection(&connection, existing.as_ref().map(|c| c.status))
            .await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::ConnectionConnected,
                merchant_id: Some(&merchant),
                object_id: merchant.to_string(),
                before: existing.as_ref().map(snapshot),
                after: Some(snapshot(&connection)),
            },
        )
        .await?;
        let probation_cleared = self.clear_probation(&merchant, now).await?;
        Ok(CallbackOutcome::Connected {
            connection,
            probation_cleared,
        })
    }

    /// Re-activates the merchant's programs on probation; archives those
    /// whose window already ended. Returns how many were re-activated.
    async fn clear_probation(
        &self,
        merchant: &MerchantId,
        now: OffsetDateTime,
    ) -> Result<usize, DomainError> {
        let mut cleared = 0_usize;
        for program in self.store.programs_of(merchant).await? {
            let ProgramStatus::Probation { .. } = program.status else {
                continue;
            };
            let next = match program.apply(ProgramEvent::MerchantReauthorized { at: now }) {
                Ok(next) => {
                    cleared = cleared.saturating_add(1);
                    next
                }
                Err(_) => program.apply(ProgramEvent::ProbationSweep { now })?,
            };
            self.store
                .update_program(&next, &program.status, program.hold)
                .await?;
        }
        Ok(cleared)
    }

    /// Handles `account.application.deauthorized` for `account` at `at`:
    /// the connection becomes `revoked`, every active program of the
    /// merchant goes on probation for seven days (automatic payouts pause),
    /// and each active partner is notified once with
    /// `partner_merchant_oauth_revoked`. Safe to replay: a replay changes
    /// nothing and notifies nobody twice. An unknown account is acknowledged.
    ///
    /// The revocation is recorded as `connection.revoked` by `acting`
    /// (Stripe, with its event's id); a replay records nothing.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Conflict`] on a race (retry).
    pub async fn handle_deauthorization(
        &self,
        account: &AccountId,
        at: OffsetDateTime,
        acting: &Acting,
    ) -> Result<DeauthorizationOutcome, DomainError> {
        let Some(connection) = self.store.connection_by_account(account).await? else {
            return Ok(DeauthorizationOutcome {
                merchant_id: None,
                programs_on_probation: 0,
                notifications: 0,
            });
        };
        let revoked = connection.apply(&ConnectionEvent::Deauthorized { at })?;
        if revoked != connection {
            self.store
                .save_connection(&revoked, Some(connection.status))
                .await?;
            self.record(
                acting,
                Entry {
                    action: AuditAction::ConnectionRevoked,
                    merchant_id: Some(&revoked.merchant_id),
                    object_id: revoked.merchant_id.to_string(),
                    before: Some(snapshot(&connection)),
                    after: Some(snapshot(&revoked)),
                },
            )
            .await?;
        }
        // The revocation instant as stored keys the notifications, so a
        // replayed webhook finds the same keys.
        let revoked_at = revoked.revoked_at.unwrap_or(at);
        let stamp = revoked_at.unix_timestamp().to_string();
        let merchant = revoked.merchant_id.clone();
        let mut on_probation = 0_usize;
        let mut notifications = Vec::new();
        for program in self.store.programs_of(&merchant).await? {
            if program.status == ProgramStatus::Archived {
                continue;
            }
            let next = program.apply(ProgramEvent::MerchantRevoked { at: revoked_at })?;
            if next != program {
                self.store
                    .update_program(&next, &program.status, program.hold)
                    .await?;
            }
            on_probation = on_probation.saturating_add(1);
            let until = match next.status {
                ProgramStatus::Probation { until } => until,
                ProgramStatus::Active | ProgramStatus::Archived => revoked_at,
            };
            let payload = serde_json::json!({
                "program_id": program.id,
                "probation_until": until.unix_timestamp(),
            });
            notifications.push(self.notification(
                &merchant,
                NotificationKind::MerchantProbationStarted,
                Recipient::Merchant(merchant.clone()),
                format!("probation:{}:{stamp}", program.id),
                payload.clone(),
            ));
            for membership in self.store.memberships_of(program.id).await? {
                if membership.status != MembershipStatus::Active {
                    continue;
                }
                notifications.push(self.notification(
                    &merchant,
                    NotificationKind::PartnerMerchantOauthRevoked,
                    Recipient::Partner(membership.partner_id),
                    format!("oauth_revoked:{}:{}:{stamp}", program.id, membership.id),
                    payload.clone(),
                ));
            }
        }
        let written = self.store.enqueue(&notifications).await?;
        Ok(DeauthorizationOutcome {
            merchant_id: Some(merchant),
            programs_on_probation: on_probation,
            notifications: written,
        })
    }

    /// Archives every program whose probation window has ended. Returns the
    /// number archived.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn sweep_probation(&self) -> Result<usize, DomainError> {
        let now = self.clock.now();
        let mut archived = 0_usize;
        for program in self.store.probation_expired(now).await? {
            let next = program.apply(ProgramEvent::ProbationSweep { now })?;
            if next.status != ProgramStatus::Archived {
                continue;
            }
            match self
                .store
                .update_program(&next, &program.status, program.hold)
                .await
            {
                Ok(()) => {}
                // Someone re-authorised or swept meanwhile: theirs stands.
                Err(StoreError::Conflict { .. }) => continue,
                Err(other) => return Err(other.into()),
            }
            archived = archived.saturating_add(1);
            let n = self.notification(
                &program.merchant_id,
                NotificationKind::MerchantProgramArchived,
                Recipient::Merchant(program.merchant_id.clone()),
                format!("archived:{}", program.id),
                serde_json::json!({ "program_id": program.id }),
            );
            self.store.enqueue(&[n]).await?;
        }
        Ok(archived)
    }

    /// Applies `account.updated`: for a merchant's account, the connection
    /// status (`restricted` / `disabled`) and, when the account is healthy
    /// again, the release of an `account_inactive` hold; for a partner's
    /// Express account, the membership's onboarding state and its bank
    /// account's fingerprint (read with
    /// [`ConnectGateway::bank_fingerprint`]; see
    /// [`Payouts::note_bank_fingerprint`]).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`] or [`DomainError::Conflict`] on a race
    /// (retry); [`DomainError::Gateway`] when the bank account cannot be read.
    pub async fn apply_account_update(
        &self,
        snapshot: &AccountSnapshot,
    ) -> Result<(), DomainError> {
        if let Some(connection) = self
            .store
            .connection_by_account(&snapshot.account_id)
            .await?
        {
            // The one account-status rule, as `GET /accounts/{id}` shows it.
            let status = snapshot.status();
            let disabled = status == AccountStatus::Disabled;
            let restricted = matches!(status, AccountStatus::Restricted | AccountStatus::Pending);
            match connection.apply(&ConnectionEvent::AccountUpdated {
                disabled,
                restricted,
            }) {
                Ok(next) if next != connection => {
                    self.store
                        .save_connection(&next, Some(connection.status))
                        .await?;
                }
                // A revoked connection ignores account updates.
                Ok(_) | Err(_) => {}
            }
            let healthy = status == AccountStatus::Active;
            if healthy {
                for program in self.store.programs_of(&connection.merchant_id).await? {
                    if program.hold == Some(HoldReason::MerchantAccountInactive) {
                        self.resume_payouts(program.id).await?;
                    }
                }
            }
        }
        let memberships = self
            .store
            .memberships_by_account(&snapshot.account_id)
            .await?;
        // A partner's account: its bank account may have changed too
        // (`account.updated` covers external accounts), read once.
        let fingerprint = if memberships.is_empty() {
            None
        } else {
            self.gateway.bank_fingerprint(&snapshot.account_id).await?
        };
        for mut membership in memberships {
            let onboarding = OnboardingState {
                details_submitted: snapshot.details_submitted,
                payouts_enabled: snapshot.payouts_enabled,
                transfers: snapshot.transfers,
            };
            if membership.onboarding != onboarding {
                membership.onboarding = onboarding;
                self.store.update_membership(&membership).await?;
            }
            self.note_bank_fingerprint(membership, fingerprint.clone())
                .await?;
        }
        Ok(())
    }

    /// The merchant's connection card, if connected once.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn connection(
        &self,
        merchant: &MerchantId,
    ) -> Result<Option<MerchantConnection>, DomainError> {
        Ok(self.store.connection(merchant).await?)
    }
}
