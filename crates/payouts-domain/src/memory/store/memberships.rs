//! `MembershipStore` over the in-memory state.

use async_trait::async_trait;

use super::{InMemoryStore, not_found, page_of};
use crate::error::StoreError;
use crate::ids::{AccountId, MembershipId, MerchantId, PartnerId, ProgramId, ReferralKey};
use crate::memory::lock;
use crate::partner::Membership;
use crate::ports::{MembershipStore, Page, PageRequest};

#[async_trait]
impl MembershipStore for InMemoryStore {
    async fn memberships_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<Membership>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.memberships, page, MembershipId::from, |m| {
            m.program_id == program
        }))
    }

    async fn insert_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let clash = state.memberships.values().find(|m| {
            m.program_id == membership.program_id
                && (m.referral_key == membership.referral_key
                    || m.partner_id == membership.partner_id)
        });
        if let Some(existing) = clash {
            let key = if existing.referral_key == membership.referral_key {
                format!("referral key {}", membership.referral_key)
            } else {
                format!("partner {}", membership.partner_id)
            };
            return Err(StoreError::Duplicate {
                entity: "membership",
                key,
            });
        }
        state.memberships.insert(membership.id, membership.clone());
        Ok(())
    }

    async fn membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        Ok(lock(&self.state).memberships.get(&id).cloned())
    }

    async fn membership_by_referral(
        &self,
        program: ProgramId,
        key: &ReferralKey,
    ) -> Result<Option<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .find(|m| m.program_id == program && m.referral_key == *key)
            .cloned())
    }

    async fn memberships_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| m.account_id.as_ref() == Some(account))
            .cloned()
            .collect())
    }

    async fn memberships_by_fingerprint(
        &self,
        merchant: &MerchantId,
        fingerprint: &str,
    ) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| {
                m.merchant_id == *merchant && m.bank_fingerprint.as_deref() == Some(fingerprint)
            })
            .cloned()
            .collect())
    }

    async fn memberships_of(&self, program: ProgramId) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| m.program_id == program)
            .cloned()
            .collect())
    }

    async fn memberships_of_partner(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<Membership>, StoreError> {
        Ok(lock(&self.state)
            .memberships
            .values()
            .filter(|m| m.partner_id == partner)
            .cloned()
            .collect())
    }

    async fn update_membership(&self, membership: &Membership) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .memberships
            .get_mut(&membership.id)
            .ok_or_else(|| not_found("membership", membership.id))?;
        stored.account_id = membership.account_id.clone();
        stored.service_agreement = membership.service_agreement;
        stored.onboarding = membership.onboarding;
        stored.bank_fingerprint = membership.bank_fingerprint.clone();
        Ok(())
    }
}
