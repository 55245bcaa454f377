//! `MembershipStore`: partners' memberships of programs.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::ids::{AccountId, MembershipId, MerchantId, PartnerId, ProgramId, ReferralKey};
use crate::partner::Membership;

use super::{Page, PageRequest};

/// Memberships: who is a partner of which program, with which referral key
/// and Express account.
#[async_trait]
pub trait MembershipStore: Send + Sync {
    /// Inserts a membership.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the partner is already a member, or the
    /// referral key is taken in the program.
    async fn insert_membership(&self, membership: &Membership) -> Result<(), StoreError>;

    /// A membership by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError>;

    /// The membership of a program with this referral key.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn membership_by_referral(
        &self,
        program: ProgramId,
        key: &ReferralKey,
    ) -> Result<Option<Membership>, StoreError>;

    /// Memberships whose Express account is `account`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Membership>, StoreError>;

    /// The merchant's memberships (of any program, any status) whose bank
    /// account has this fingerprint.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_by_fingerprint(
        &self,
        merchant: &MerchantId,
        fingerprint: &str,
    ) -> Result<Vec<Membership>, StoreError>;

    /// Every membership of a program.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_of(&self, program: ProgramId) -> Result<Vec<Membership>, StoreError>;

    /// One keyset page of a program's memberships, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<Membership>, StoreError>;

    /// Memberships of a partner, across programs.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn memberships_of_partner(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<Membership>, StoreError>;

    /// Replaces a membership's account, service agreement, onboarding and
    /// bank-fingerprint
    /// fields (nothing else).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_membership(&self, membership: &Membership) -> Result<(), StoreError>;
}
