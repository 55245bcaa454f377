//! `CouponStore` over the in-memory state.

use async_trait::async_trait;

use super::{InMemoryStore, not_found};
use crate::error::StoreError;
use crate::ids::{CouponCode, MembershipId, MerchantId, PromotionCodeId};
use crate::memory::lock;
use crate::partner::Coupon;
use crate::ports::CouponStore;

#[async_trait]
impl CouponStore for InMemoryStore {
    async fn insert_coupon(&self, coupon: &Coupon) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let key = (coupon.merchant_id.clone(), coupon.code.normalized());
        if state.coupons.contains_key(&key) {
            return Err(StoreError::Duplicate {
                entity: "coupon code",
                key: coupon.code.normalized(),
            });
        }
        state.coupons.insert(key, coupon.clone());
        Ok(())
    }

    async fn coupon(
        &self,
        merchant: &MerchantId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, StoreError> {
        Ok(lock(&self.state)
            .coupons
            .get(&(merchant.clone(), code.normalized()))
            .cloned())
    }

    async fn coupon_by_promotion_code(
        &self,
        promotion_code: &PromotionCodeId,
    ) -> Result<Option<Coupon>, StoreError> {
        Ok(lock(&self.state)
            .coupons
            .values()
            .find(|c| c.promotion_code_id.as_ref() == Some(promotion_code))
            .cloned())
    }

    async fn coupons_of(&self, membership: MembershipId) -> Result<Vec<Coupon>, StoreError> {
        let mut out: Vec<Coupon> = lock(&self.state)
            .coupons
            .values()
            .filter(|c| c.membership_id == membership)
            .cloned()
            .collect();
        out.sort_by_key(|c| c.code.normalized());
        Ok(out)
    }

    async fn update_coupon(&self, coupon: &Coupon) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .coupons
            .get_mut(&(coupon.merchant_id.clone(), coupon.code.normalized()))
            .ok_or_else(|| not_found("coupon code", &coupon.code))?;
        stored.promotion_code_id = coupon.promotion_code_id.clone();
        stored.active = coupon.active;
        Ok(())
    }
}
