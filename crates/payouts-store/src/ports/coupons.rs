//! `CouponStore`: coupon codes.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{CouponCode, MembershipId, MerchantId, PromotionCodeId};
use payouts_domain::partner::Coupon;
use payouts_domain::ports::CouponStore;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

use crate::SeaOrmStore;
use crate::codec::{active, coupon_row};
use crate::entity::coupon;
use crate::error::{DbResultExt, not_found};

#[async_trait]
impl CouponStore for SeaOrmStore {
    async fn insert_coupon(&self, c: &Coupon) -> Result<(), StoreError> {
        coupon::Entity::insert(active::<coupon::ActiveModel, _>(coupon_row(c)?))
            .exec_without_returning(self.db())
            .await
            .or_duplicate("coupon code", || c.code.normalized())?;
        Ok(())
    }

    async fn coupon(
        &self,
        merchant: &MerchantId,
        code: &CouponCode,
    ) -> Result<Option<Coupon>, StoreError> {
        coupon::Entity::find_by_id((merchant.to_string(), code.normalized()))
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Coupon::try_from)
            .transpose()
    }

    async fn coupon_by_promotion_code(
        &self,
        promotion_code: &PromotionCodeId,
    ) -> Result<Option<Coupon>, StoreError> {
        coupon::Entity::find()
            .filter(coupon::Column::PromotionCodeId.eq(promotion_code.as_str()))
            .order_by_asc(coupon::Column::MerchantId)
            .order_by_asc(coupon::Column::CodeNormalized)
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Coupon::try_from)
            .transpose()
    }

    async fn coupons_of(&self, membership: MembershipId) -> Result<Vec<Coupon>, StoreError> {
        coupon::Entity::find()
            .filter(coupon::Column::MembershipId.eq(membership.as_uuid()))
            .order_by_asc(coupon::Column::CodeNormalized)
            .all(self.db())
            .await
            .or_unavailable()?
            .into_iter()
            .map(Coupon::try_from)
            .collect()
    }

    async fn update_coupon(&self, c: &Coupon) -> Result<(), StoreError> {
        // The port replaces the promotion-code id and the active flag only.
        let changed = coupon::Entity::update_many()
            .col_expr(
                coupon::Column::PromotionCodeId,
                Expr::value(c.promotion_code_id.as_ref().map(ToString::to_string)),
            )
            .col_expr(coupon::Column::Active, Expr::value(c.active))
            .filter(coupon::Column::MerchantId.eq(c.merchant_id.as_str()))
            .filter(coupon::Column::CodeNormalized.eq(c.code.normalized()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            Ok(())
        } else {
            Err(not_found("coupon code", &c.code))
        }
    }
}
