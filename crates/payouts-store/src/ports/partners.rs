//! `PartnerStore`: memberships, coupon codes, bank payouts.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{
    AccountId, CouponCode, MembershipId, MerchantId, PartnerId, ProgramId, PromotionCodeId,
    ReferralKey,
};
use payouts_domain::partner::{Coupon, Membership};
use payouts_domain::ports::{BankPayout, Page, PageRequest, PartnerStore};
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{decode_all, page, probe_limit};
use crate::SeaOrmStore;
use crate::codec::{active, bank_payout_row, coupon_row, membership_row};
use crate::entity::{bank_payout, coupon, membership};
use crate::error::{DbResultExt, duplicate, is_unique_violation, not_found, unavailable};

#[async_trait]
impl PartnerStore for SeaOrmStore {
    async fn insert_membership(&self, m: &Membership) -> Result<(), StoreError> {
        let result =
            membership::Entity::insert(active::<membership::ActiveModel, _>(membership_row(m)?))
                .exec_without_returning(self.db())
                .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                // Name the key that clashed, as the in-memory store does.
                let key = if self
                    .membership_by_referral(m.program_id, &m.referral_key)
                    .await?
                    .is_some()
                {
                    format!("referral key {}", m.referral_key)
                } else {
                    format!("partner {}", m.partner_id)
                };
                Err(duplicate("membership", key))
            }
            Err(e) => Err(unavailable(&e)),
        }
    }

    async fn membership(&self, id: MembershipId) -> Result<Option<Membership>, StoreError> {
        membership::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Membership::try_from)
            .transpose()
    }

    async fn membership_by_referral(
        &self,
        program: ProgramId,
        key: &ReferralKey,
    ) -> Result<Option<Membership>, StoreError> {
        membership::Entity::find()
            .filter(membership::Column::ProgramId.eq(program.as_uuid()))
            .filter(membership::Column::ReferralKey.eq(key.as_str()))
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Membership::try_from)
            .transpose()
    }

    async fn memberships_by_account(
        &self,
        account: &AccountId,
    ) -> Result<Vec<Membership>, StoreError> {
        decode_all(
            membership::Entity::find()
                .filter(membership::Column::AccountId.eq(account.as_str()))
                .order_by_asc(membership::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn memberships_of(&self, program: ProgramId) -> Result<Vec<Membership>, StoreError> {
        decode_all(
            membership::Entity::find()
                .filter(membership::Column::ProgramId.eq(program.as_uuid()))
                .order_by_asc(membership::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn memberships_page(
        &self,
        program: ProgramId,
        request: PageRequest,
    ) -> Result<Page<Membership>, StoreError> {
        let mut query =
            membership::Entity::find().filter(membership::Column::ProgramId.eq(program.as_uuid()));
        if let Some(after) = request.after {
            query = query.filter(membership::Column::Id.gt(after));
        }
        let models = query
            .order_by_asc(membership::Column::Id)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }

    async fn memberships_of_partner(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<Membership>, StoreError> {
        decode_all(
            membership::Entity::find()
                .filter(membership::Column::PartnerId.eq(partner.as_uuid()))
                .order_by_asc(membership::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn update_membership(&self, m: &Membership) -> Result<(), StoreError> {
        // The port replaces the account and onboarding fields only.
        let row = membership_row(m)?;
        let changed = membership::Entity::update_many()
            .col_expr(membership::Column::AccountId, Expr::value(row.account_id))
            .col_expr(
                membership::Column::DetailsSubmitted,
                Expr::value(row.details_submitted),
            )
            .col_expr(
                membership::Column::PayoutsEnabled,
                Expr::value(row.payouts_enabled),
            )
            .col_expr(
                membership::Column::TransfersCapability,
                Expr::value(row.transfers_capability),
            )
            .filter(membership::Column::Id.eq(m.id.as_uuid()))
            .exec(self.db())
            .await
            .or_unavailable()?
            .rows_affected;
        if changed == 1 {
            Ok(())
        } else {
            Err(not_found("membership", m.id))
        }
    }

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

    async fn upsert_bank_payout(&self, payout: &BankPayout) -> Result<(), StoreError> {
        bank_payout::Entity::insert(active::<bank_payout::ActiveModel, _>(bank_payout_row(
            payout,
        )?))
        .on_conflict(
            OnConflict::column(bank_payout::Column::PayoutId)
                .update_columns([
                    bank_payout::Column::AccountId,
                    bank_payout::Column::Currency,
                    bank_payout::Column::AmountMinor,
                    bank_payout::Column::Status,
                    bank_payout::Column::FailureCode,
                    bank_payout::Column::ArrivalDateNs,
                    bank_payout::Column::UpdatedAtNs,
                ])
                .to_owned(),
        )
        .exec_without_returning(self.db())
        .await
        .or_unavailable()?;
        Ok(())
    }

    async fn bank_payouts(&self, account: &AccountId) -> Result<Vec<BankPayout>, StoreError> {
        decode_all(
            bank_payout::Entity::find()
                .filter(bank_payout::Column::AccountId.eq(account.as_str()))
                .order_by_desc(bank_payout::Column::UpdatedAtNs)
                .order_by_asc(bank_payout::Column::PayoutId)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }
}
