//! Console sign-in: issuing single-use login links, redeeming them into
//! sessions, reading and ending sessions. Bounded by the two ports it uses.

use crate::audit::{Acting, AuditAction};
use crate::error::DomainError;
use crate::ports::{AuditStore, Clock, IdGenerator, MembershipStore, SessionStore};
use crate::session::{
    LOGIN_LINK_TTL, LoginLink, LoginRefused, Session, SessionPrincipal, SessionSecret,
};

use super::Payouts;
use super::audit::Entry;

/// The role names that act for every merchant.
pub const PLATFORM_ROLES: [&str; 3] = ["platform_admin", "system_admin", "super_admin"];

/// The merchant roles that may issue links to their merchant's staff and partners.
pub const ISSUER_ROLES: [&str; 3] = ["tenant_admin", "payment_admin", "manager"];

fn is_platform(p: &SessionPrincipal) -> bool {
    p.roles.iter().any(|r| PLATFORM_ROLES.contains(&r.as_str()))
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: SessionStore + MembershipStore + AuditStore + ?Sized,
    G: ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// A fresh unguessable secret: two random UUIDs, 64 hex characters.
    fn secret(&self) -> SessionSecret {
        SessionSecret::new(format!(
            "{}{}",
            self.ids.next_uuid().simple(),
            self.ids.next_uuid().simple()
        ))
    }

    /// Issues a single-use login link for `target`, valid five minutes.
    /// Platform operators may sign anyone in; a merchant's admins their own
    /// staff (never a platform role) and their own partners. Recorded as
    /// `login_link.issued` by `acting`, naming who the link signs in.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for another merchant, or a partner not
    /// enrolled with the issuer's merchant; [`DomainError::Validation`] for
    /// an issuer that may not issue links or a target without roles;
    /// [`DomainError::Unavailable`].
    pub async fn issue_login_link(
        &self,
        issuer: &SessionPrincipal,
        target: SessionPrincipal,
        acting: &Acting,
    ) -> Result<(SessionSecret, LoginLink), DomainError> {
        if target.roles.is_empty() {
            return Err(DomainError::validation("role", "a login link needs a role"));
        }
        if !is_platform(issuer) {
            if !issuer
                .roles
                .iter()
                .any(|r| ISSUER_ROLES.contains(&r.as_str()))
            {
                return Err(DomainError::validation(
                    "role",
                    "only a merchant's admins and the platform issue login links",
                ));
            }
            if target.merchant_id != issuer.merchant_id {
                return Err(DomainError::NotFound {
                    entity: "merchant",
                    id: target.merchant_id.to_string(),
                });
            }
            if is_platform(&target) {
                return Err(DomainError::validation(
                    "role",
                    "a merchant cannot issue a platform role",
                ));
            }
        }
        if let Some(partner) = target.partner_id {
            let enrolled = self
                .store
                .memberships_of_partner(partner)
                .await?
                .iter()
                .any(|m| m.merchant_id == target.merchant_id);
            if !enrolled {
                return Err(DomainError::NotFound {
                    entity: "partner",
                    id: partner.to_string(),
                });
            }
        }
        let secret = self.secret();
        let now = self.clock.now();
        let link = LoginLink {
            hash: secret.hash(),
            principal: target,
            issued_at: now,
            expires_at: now.saturating_add(LOGIN_LINK_TTL),
            used_at: None,
        };
        self.store.insert_login_link(&link).await?;
        // Who the link signs in, never its secret or the secret's hash.
        self.record(
            acting,
            Entry {
                action: AuditAction::LoginLinkIssued,
                merchant_id: Some(&link.principal.merchant_id),
                object_id: link.principal.subject.clone(),
                before: None,
                after: Some(serde_json::json!({
                    "subject": link.principal.subject,
                    "roles": link.principal.roles,
                    "merchant_id": link.principal.merchant_id,
                    "partner_id": link.principal.partner_id,
                    "expires_at": link
                        .expires_at
                        .format(&time::format_description::well_known::Rfc3339)
                        .ok(),
                })),
            },
        )
        .await?;
        Ok((secret, link))
    }

    /// Redeems a login link: marks it used and opens a session, whose
    /// secret goes into the cookie.
    ///
    /// # Errors
    /// `Ok(Err(…))` when the link is unknown, used or expired;
    /// [`DomainError::Unavailable`].
    pub async fn redeem_login_link(
        &self,
        link: &SessionSecret,
    ) -> Result<Result<(SessionSecret, Session), LoginRefused>, DomainError> {
        let now = self.clock.now();
        let redeemed = match self.store.redeem_login_link(&link.hash(), now).await? {
            Ok(redeemed) => redeemed,
            Err(refused) => return Ok(Err(refused)),
        };
        let secret = self.secret();
        let session = Session {
            hash: secret.hash(),
            principal: redeemed.principal,
            csrf_token: self.secret().expose().to_owned(),
            created_at: now,
            last_seen_at: now,
        };
        self.store.insert_session(&session).await?;
        Ok(Ok((secret, session)))
    }

    /// The open session the cookie's secret names, touched now; `None` when
    /// it is unknown, ended or idle for twelve hours (an idle one is ended).
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn console_session(
        &self,
        secret: &SessionSecret,
    ) -> Result<Option<Session>, DomainError> {
        let hash = secret.hash();
        let Some(mut session) = self.store.session(&hash).await? else {
            return Ok(None);
        };
        let now = self.clock.now();
        if !session.is_live(now) {
            self.store.delete_session(&hash).await?;
            return Ok(None);
        }
        self.store.touch_session(&hash, now).await?;
        session.last_seen_at = now;
        Ok(Some(session))
    }

    /// Signs out: the session ends now.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn end_session(&self, secret: &SessionSecret) -> Result<(), DomainError> {
        Ok(self.store.delete_session(&secret.hash()).await?)
    }
}
