//! `MembershipStore`: memberships.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{AccountId, MembershipId, MerchantId, PartnerId, ProgramId, ReferralKey};
use payouts_domain::partner::Membership;
use payouts_domain::ports::{MembershipStore, Page, PageRequest};
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{decode_all, page, probe_limit};
use crate::SeaOrmStore;
use crate::codec::{active, membership_row};
use crate::entity::membership;
use crate::error::{DbResultExt, duplicate, is_unique_violation, not_found, unavailable};

#[async_trait]
impl MembershipStore for SeaOrmStore {
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

    async fn memberships_by_fingerprint(
        &self,
        merchant: &MerchantId,
        fingerprint: &str,
    ) -> Result<Vec<Membership>, StoreError> {
        decode_all(
            membership::Entity::find()
                .filter(membership::Column::MerchantId.eq(merchant.as_str()))
                .filter(membership::Column::BankFingerprint.eq(fingerprint))
                .order_by_asc(membership::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn update_membership(&self, m: &Membership) -> Result<(), StoreError> {
        // The port replaces the account, agreement, onboarding and
        // fingerprint fields only.
        let row = membership_row(m)?;
        let changed = membership::Entity::update_many()
            .col_expr(membership::Column::AccountId, Expr::value(row.account_id))
            .col_expr(
                membership::Column::ServiceAgreement,
                Expr::value(row.service_agreement),
            )
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
            .col_expr(
                membership::Column::BankFingerprint,
                Expr::value(row.bank_fingerprint),
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
}
