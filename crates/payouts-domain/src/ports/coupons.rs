//! `CouponStore`: merchants' coupon codes.

use async_trait::async_trait;

use crate::error::StoreError;
use crate::ids::{CouponCode, MembershipId, MerchantId, PromotionCodeId};
use crate::partner::Coupon;

/// Merchants' coupon codes, each tied to a membership and synced to a Stripe
/// Promotion Code.
#[async_trait]
pub trait CouponStore: Send + Sync {
    /// Inserts a coupon code.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the merchant has the code already, in any case.
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;

    /// A merchant's coupon, matched case-insensitively.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn coupon(
        &self,
        merchant: &MerchantId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, StoreError>;

    /// The coupon synced to this Stripe Promotion Code, if any (for
    /// `checkout.session.completed`, `invoice.paid` and `promotion_code.updated`).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn coupon_by_promotion_code(
        &self,
        promotion_code: &PromotionCodeId,
    ) -> Result<Option<Coupon>, StoreError>;

    /// Every coupon assigned to one membership, active or not, by code.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn coupons_of(&self, membership: MembershipId) -> Result<Vec<Coupon>, StoreError>;

    /// Replaces a coupon's promotion-code id and active flag (nothing else).
    ///
    /// # Errors
    /// [`StoreError::NotFound`].
    async fn update_coupon(&self, coupon: &Coupon) -> Result<(), StoreError>;
}
