//! Holds (issue 16): commissions held for review, and the operator's
//! decisions on them. Every decision on a held commission goes through
//! [`Payouts::decide_hold`], the one place a hold changes (and the one place
//! an audit trail hooks in).
//!
//! New commissions are held when they are recorded (see
//! [`crate::hold::hold_for_new_commission`]); a bank account that becomes
//! shared holds the pending commissions of every partner using it
//! ([`Payouts::note_bank_fingerprint`]); an operator holds one by hand.

use serde::{Deserialize, Serialize};

use super::Payouts;
use super::audit::{Entry, snapshot};
use crate::audit::{Acting, AuditAction};
use crate::commission::{Commission, CommissionEvent, CommissionKind, OnHoldReason};
use crate::error::{DomainError, StoreError};
use crate::ids::{CommissionId, MerchantId};
use crate::partner::Membership;
use crate::ports::{
    AuditStore, Clock, CommissionFilter, CommissionStore, ConnectGateway, IdGenerator, MAX_PAGE,
    MembershipStore, Page, PageRequest, PayoutGateway,
};

/// An operator's decision on a commission.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldDecision {
    /// Hold a pending commission for review (reason `manual`).
    Hold,
    /// Release a held commission: back to `pending`.
    Release,
    /// Reject a held commission: voided, reason `rejected`.
    Reject,
}

impl HoldDecision {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            HoldDecision::Hold => "hold",
            HoldDecision::Release => "release",
            HoldDecision::Reject => "reject",
        }
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: CommissionStore + MembershipStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The merchant's held commissions, oldest id first, optionally only
    /// those held for `reason`.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn holds(
        &self,
        merchant: &MerchantId,
        reason: Option<OnHoldReason>,
        page: PageRequest,
    ) -> Result<Page<Commission>, DomainError> {
        let filter = CommissionFilter {
            merchant_id: Some(merchant.clone()),
            state: Some("on_hold".to_owned()),
            hold_reason: reason,
            ..CommissionFilter::default()
        };
        Ok(self.store.list_commissions(&filter, page).await?)
    }

    /// One commission, of `merchant` (any merchant's with `None`).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for another merchant's or an unknown one.
    pub async fn commission(
        &self,
        merchant: Option<&MerchantId>,
        id: CommissionId,
    ) -> Result<Commission, DomainError> {
        self.store
            .commission(id)
            .await?
            .filter(|c| merchant.is_none_or(|m| c.merchant_id == *m))
            .ok_or_else(|| DomainError::NotFound {
                entity: "commission",
                id: id.to_string(),
            })
    }

    /// Records the bank-account fingerprint Stripe reports for a partner's
    /// Express account. When it changes to one another partner of the same
    /// merchant also has, the pending commissions of every partner sharing
    /// it are held (`duplicate_account`); their new commissions are held
    /// when recorded. Commissions already held, finalized or paid are left
    /// as they are, and an unchanged fingerprint holds nothing again (an
    /// operator's release stands).
    ///
    /// The holds are written before the fingerprint, so a failure in
    /// between is retried in full by the next refresh or `account.updated`.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`]; [`DomainError::NotFound`] for a
    /// membership that vanished.
    pub async fn note_bank_fingerprint(
        &self,
        mut membership: Membership,
        fingerprint: Option<String>,
    ) -> Result<Membership, DomainError> {
        if membership.bank_fingerprint == fingerprint {
            return Ok(membership);
        }
        if let Some(fp) = &fingerprint {
            let sharing = self
                .store
                .memberships_by_fingerprint(&membership.merchant_id, fp)
                .await?;
            let others: Vec<&Membership> = sharing
                .iter()
                .filter(|m| m.partner_id != membership.partner_id)
                .collect();
            if !others.is_empty() {
                self.hold_pending_of(&membership, OnHoldReason::DuplicateAccount)
                    .await?;
                for other in others {
                    self.hold_pending_of(other, OnHoldReason::DuplicateAccount)
                        .await?;
                }
            }
        }
        membership.bank_fingerprint = fingerprint;
        self.store.update_membership(&membership).await?;
        Ok(membership)
    }

    /// True when another partner of the membership's merchant has its bank
    /// account.
    pub(super) async fn shares_bank_account(
        &self,
        membership: &Membership,
    ) -> Result<bool, DomainError> {
        let Some(fp) = &membership.bank_fingerprint else {
            return Ok(false);
        };
        let sharing = self
            .store
            .memberships_by_fingerprint(&membership.merchant_id, fp)
            .await?;
        Ok(crate::hold::shares_bank_account(
            Some(fp.as_str()),
            sharing
                .iter()
                .filter(|m| m.partner_id != membership.partner_id)
                .map(|m| m.bank_fingerprint.as_deref()),
        ))
    }

    /// Holds every pending earned commission of one membership; one that
    /// changed meanwhile (finalized by a concurrent run) is left as it is.
    async fn hold_pending_of(
        &self,
        membership: &Membership,
        reason: OnHoldReason,
    ) -> Result<u64, DomainError> {
        let filter = CommissionFilter {
            merchant_id: Some(membership.merchant_id.clone()),
            program_id: Some(membership.program_id),
            partner_id: Some(membership.partner_id),
            state: Some("pending".to_owned()),
            ..CommissionFilter::default()
        };
        let now = self.clock.now();
        let mut held = 0_u64;
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let Page { data, has_more } = self.store.list_commissions(&filter, page).await?;
            let last = data.last().map(|c| c.id.as_uuid());
            for c in data
                .iter()
                .filter(|c| c.kind == CommissionKind::Earned && c.membership_id == membership.id)
            {
                let next = c.apply(CommissionEvent::Hold { reason, at: now })?;
                match self
                    .store
                    .update_commission(&next, &c.state, &c.amount)
                    .await
                {
                    Ok(()) => held = held.saturating_add(1),
                    Err(StoreError::Conflict { .. }) => {}
                    Err(other) => return Err(other.into()),
                }
            }
            match (has_more, last) {
                (true, Some(after)) => page.after = Some(after),
                _ => return Ok(held),
            }
        }
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: CommissionStore + MembershipStore + AuditStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Applies an operator's decision to one of the merchant's commissions
    /// (any merchant's with `None`, for platform operators), compare-and-set: hold a pending earned commission (`manual`),
    /// release a held one (back to `pending`, finalized by the next run
    /// once its holding period is over), or reject a held one (`voided`,
    /// reason `rejected`, amount 0). Rejecting a rejected commission again
    /// and holding a held one are replays that change nothing.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for another merchant's or an unknown
    /// commission; [`DomainError::Transition`] when the commission is not in
    /// a state the decision applies to (releasing a pending one, holding a
    /// finalized one, holding an adjustment); [`DomainError::Conflict`] when
    /// it changed concurrently.
    pub async fn decide_hold(
        &self,
        merchant: Option<&MerchantId>,
        id: CommissionId,
        decision: HoldDecision,
        acting: &Acting,
    ) -> Result<Commission, DomainError> {
        let current = self.commission(merchant, id).await?;
        let now = self.clock.now();
        let event = match decision {
            HoldDecision::Hold => CommissionEvent::Hold {
                reason: OnHoldReason::Manual,
                at: now,
            },
            HoldDecision::Release => CommissionEvent::Release,
            HoldDecision::Reject => CommissionEvent::Reject { at: now },
        };
        let next = current.apply(event)?;
        if next != current {
            self.store
                .update_commission(&next, &current.state, &current.amount)
                .await?;
            let action = match decision {
                HoldDecision::Hold => AuditAction::CommissionHeld,
                HoldDecision::Release => AuditAction::CommissionReleased,
                HoldDecision::Reject => AuditAction::CommissionRejected,
            };
            self.record(
                acting,
                Entry {
                    action,
                    merchant_id: Some(&next.merchant_id),
                    object_id: next.id.to_string(),
                    before: Some(snapshot(&current)),
                    after: Some(snapshot(&next)),
                },
            )
            .await?;
        }
        Ok(next)
    }
}
