//! Programs, partners (memberships and Express onboarding), coupon codes,
//! and the platform fee schedule.

use serde::{Deserialize, Serialize};

use super::Payouts;
use super::audit::{Entry, snapshot};
use crate::audit::{Acting, AuditAction};
use crate::crossborder::ServiceAgreement;
use crate::error::{Blocked, DomainError, StoreError};
use crate::fees::FeeSchedule;
use crate::ids::{
    CouponCode, IdempotencyKey, MembershipId, MerchantId, PartnerId, ProgramId, ReferralKey,
};
use crate::item::ItemEvent;
use crate::partner::{
    Coupon, Membership, MembershipStatus, OnboardingState, valid_country, valid_email,
};
use crate::ports::{
    AuditStore, Clock, CommissionStore, ConnectGateway, ConnectionStore, CouponStore,
    ExpressAccountRequest, HostedLink, IdGenerator, ItemStore, LinkKind, MembershipStore,
    PayoutGateway, ProgramStore, PromotionCodeRequest, SettingsStore,
};
use crate::program::{
    CouponSyncMode, HoldReason, Program, ProgramEvent, ProgramSettings, ProgramStatus,
};

/// A partner joining a program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPartner {
    /// An existing partner joining another program; `None` creates one.
    pub partner_id: Option<PartnerId>,
    /// Contact e-mail.
    pub email: String,
    /// ISO 3166-1 alpha-2 country (upper case).
    pub country: String,
    /// The key of their referral link, unique in the program.
    pub referral_key: ReferralKey,
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// A program by id.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn program(&self, id: ProgramId) -> Result<Program, DomainError> {
        self.store
            .program(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "program",
                id: id.to_string(),
            })
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + AuditStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Creates a program for a merchant, recorded as `program.created` by
    /// `acting`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for bad settings.
    pub async fn create_program(
        &self,
        merchant: &MerchantId,
        settings: ProgramSettings,
        acting: &Acting,
    ) -> Result<Program, DomainError> {
        let program = Program::create(
            self.ids.next_id(),
            merchant.clone(),
            settings,
            self.clock.now(),
        )?;
        self.store.insert_program(&program).await?;
        self.record(
            acting,
            Entry {
                action: AuditAction::ProgramCreated,
                merchant_id: Some(&program.merchant_id),
                object_id: program.id.to_string(),
                before: None,
                after: Some(snapshot(&program)),
            },
        )
        .await?;
        Ok(program)
    }

    /// Replaces a program's settings (policy, cap, sync mode, holding days,
    /// minimum payout, commission rule). The currency cannot change.
    ///
    /// Recorded as `program.updated` by `acting`, with the program before
    /// and after; saving the same settings again records nothing.
    ///
    /// # Errors
    /// [`DomainError::Validation`], [`DomainError::NotFound`], or
    /// [`DomainError::Conflict`] when the status changed concurrently.
    pub async fn update_program(
        &self,
        id: ProgramId,
        settings: ProgramSettings,
        acting: &Acting,
    ) -> Result<Program, DomainError> {
        let current = self.program(id).await?;
        let next = current.update(settings)?;
        self.store
            .update_program(&next, &current.status, current.hold)
            .await?;
        if next != current {
            self.record(
                acting,
                Entry {
                    action: AuditAction::ProgramUpdated,
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

    /// Holds a program's payouts (an operator's pause).
    ///
    /// # Errors
    /// [`DomainError::NotFound`], [`DomainError::Transition`] for an archived program.
    pub async fn pause_payouts(
        &self,
        id: ProgramId,
        reason: HoldReason,
    ) -> Result<Program, DomainError> {
        let current = self.program(id).await?;
        let next = current.apply(ProgramEvent::Hold(reason))?;
        if next != current {
            self.store
                .update_program(&next, &current.status, current.hold)
                .await?;
        }
        Ok(next)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + ItemStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Releases a hold and schedules an immediate retry of the items that
    /// failed with `account_inactive` while waiting for the merchant.
    ///
    /// # Errors
    /// [`DomainError::NotFound`], [`DomainError::Transition`] for an archived program.
    pub async fn resume_payouts(&self, id: ProgramId) -> Result<Program, DomainError> {
        let current = self.program(id).await?;
        let next = current.apply(ProgramEvent::Release)?;
        if next != current {
            self.store
                .update_program(&next, &current.status, current.hold)
                .await?;
        }
        let now = self.clock.now();
        for item in self.store.items_waiting_for_merchant(id).await? {
            let scheduled = item.apply(&ItemEvent::ScheduleRetry { at: now })?;
            match self
                .store
                .transition_item(&scheduled, &item.state, &[])
                .await
            {
                Ok(()) | Err(StoreError::Conflict { .. }) => {}
                Err(other) => return Err(other.into()),
            }
        }
        Ok(next)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + MembershipStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Enrols a partner in a program, with a referral key. The partner's
    /// country must be one of the program's `payout_countries`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a bad e-mail or country, or a country
    /// the program does not pay in (the message names both);
    /// [`DomainError::Duplicate`] when the key is taken or the partner is a member;
    /// [`DomainError::NotFound`] when `partner_id` is none of this
    /// merchant's partners (another merchant's partner cannot be enrolled);
    /// [`DomainError::Blocked`] for an archived program.
    pub async fn enroll_partner(
        &self,
        program_id: ProgramId,
        new: NewPartner,
    ) -> Result<Membership, DomainError> {
        let program = self.program(program_id).await?;
        if program.status == ProgramStatus::Archived {
            return Err(Blocked::ProgramArchived.into());
        }
        if !valid_email(&new.email) {
            return Err(DomainError::validation("email", "is not an e-mail address"));
        }
        let country = new.country.trim().to_ascii_uppercase();
        if !valid_country(&country) {
            return Err(DomainError::validation(
                "country",
                "must be an ISO 3166-1 alpha-2 code",
            ));
        }
        if !program.pays_country(&country) {
            let list = program
                .payout_countries
                .iter()
                .map(|c| c.code())
                .collect::<Vec<_>>()
                .join(", ");
            return Err(DomainError::validation(
                "country",
                format!(
                    "the program does not pay partners in {country}; it pays partners in: {list}"
                ),
            ));
        }
        // An existing partner joins another program of the same merchant;
        // an id that is not one of this merchant's partners is unknown here.
        if let Some(partner) = new.partner_id {
            let theirs = self.store.memberships_of_partner(partner).await?;
            if !theirs.iter().any(|m| m.merchant_id == program.merchant_id) {
                return Err(DomainError::NotFound {
                    entity: "partner",
                    id: partner.to_string(),
                });
            }
        }
        let membership = Membership {
            bank_fingerprint: None,
            id: self.ids.next_id(),
            partner_id: new.partner_id.unwrap_or_else(|| self.ids.next_id()),
            program_id,
            merchant_id: program.merchant_id,
            email: new.email,
            country,
            account_id: None,
            service_agreement: None,
            onboarding: OnboardingState::default(),
            referral_key: new.referral_key,
            status: MembershipStatus::Active,
            joined_at: self.clock.now(),
        };
        self.store.insert_membership(&membership).await?;
        Ok(membership)
    }

    /// A membership by id.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn membership(&self, id: MembershipId) -> Result<Membership, DomainError> {
        self.store
            .membership(id)
            .await?
            .ok_or_else(|| DomainError::NotFound {
                entity: "membership",
                id: id.to_string(),
            })
    }

    /// An onboarding link for the partner's Express account, creating the
    /// account first if the partner has none (with an idempotency key, so a
    /// retry never creates two).
    ///
    /// # Errors
    /// [`DomainError::Gateway`], [`DomainError::NotFound`].
    pub async fn onboarding_link(
        &self,
        membership_id: MembershipId,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<HostedLink, DomainError> {
        let mut membership = self.membership(membership_id).await?;
        let account = match &membership.account_id {
            Some(account) => account.clone(),
            None => {
                let agreement = ServiceAgreement::for_country(&membership.country);
                let account = self
                    .gateway
                    .create_express_account(&ExpressAccountRequest {
                        membership_id,
                        email: membership.email.clone(),
                        country: membership.country.clone(),
                        service_agreement: agreement,
                        key: IdempotencyKey::parse(format!(
                            "membership-{membership_id}-express-account"
                        ))?,
                    })
                    .await?;
                membership.account_id = Some(account.clone());
                membership.service_agreement = Some(agreement);
                self.store.update_membership(&membership).await?;
                account
            }
        };
        let kind = if membership.onboarding.details_submitted {
            LinkKind::Update
        } else {
            LinkKind::Onboarding
        };
        Ok(self
            .gateway
            .account_link(&account, kind, return_url, refresh_url)
            .await?)
    }

    /// A login link to the partner's Express dashboard.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the partner has no account yet;
    /// [`DomainError::Gateway`].
    pub async fn dashboard_link(
        &self,
        membership_id: MembershipId,
    ) -> Result<HostedLink, DomainError> {
        let membership = self.membership(membership_id).await?;
        let account = membership.account_id.ok_or_else(|| {
            DomainError::validation("account", "the partner has not started onboarding")
        })?;
        Ok(self.gateway.login_link(&account).await?)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + MembershipStore + CommissionStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Reads the partner's account from Stripe and stores its onboarding
    /// state and its bank account's fingerprint (a fingerprint another
    /// partner shares holds their commissions: see
    /// [`Payouts::note_bank_fingerprint`]).
    ///
    /// # Errors
    /// [`DomainError::Gateway`], [`DomainError::NotFound`].
    pub async fn refresh_onboarding(
        &self,
        membership_id: MembershipId,
    ) -> Result<Membership, DomainError> {
        let mut membership = self.membership(membership_id).await?;
        if let Some(account) = membership.account_id.clone() {
            let onboarding = self.gateway.account_state(&account).await?;
            if onboarding != membership.onboarding {
                membership.onboarding = onboarding;
                self.store.update_membership(&membership).await?;
            }
            let fingerprint = self.gateway.bank_fingerprint(&account).await?;
            membership = self.note_bank_fingerprint(membership, fingerprint).await?;
        }
        Ok(membership)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ConnectionStore + ProgramStore + MembershipStore + CouponStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The coupon codes of one membership, active or not, by code.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn coupons_of(
        &self,
        membership_id: MembershipId,
    ) -> Result<Vec<crate::partner::Coupon>, DomainError> {
        Ok(self.store.coupons_of(membership_id).await?)
    }

    /// Assigns a coupon code to a partner. In `stripe` sync mode it is first
    /// created as a Stripe Promotion Code on the merchant's account, applying
    /// the merchant's `stripe_coupon`.
    ///
    /// # Errors
    /// [`DomainError::Duplicate`] when the merchant has the code in any case;
    /// [`DomainError::Validation`] when `stripe` mode lacks a coupon;
    /// [`DomainError::Blocked`] when the merchant is not connected;
    /// [`DomainError::Gateway`].
    pub async fn assign_coupon(
        &self,
        membership_id: MembershipId,
        code: CouponCode,
        stripe_coupon: Option<&str>,
    ) -> Result<Coupon, DomainError> {
        let membership = self.membership(membership_id).await?;
        let program = self.program(membership.program_id).await?;
        if program.status == ProgramStatus::Archived {
            return Err(Blocked::ProgramArchived.into());
        }
        if self
            .store
            .coupon(&membership.merchant_id, &code)
            .await?
            .is_some()
        {
            return Err(DomainError::Duplicate {
                entity: "coupon code",
                key: code.normalized(),
            });
        }
        let promotion_code_id = match program.coupon_sync {
            CouponSyncMode::Stripe => {
                let coupon = stripe_coupon
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| {
                        DomainError::validation(
                            "stripe_coupon",
                            "is required when codes sync to Stripe",
                        )
                    })?;
                let connection = self
                    .store
                    .connection(&membership.merchant_id)
                    .await?
                    .filter(|c| c.status.can_transfer())
                    .ok_or_else(|| Blocked::NotConnected("not connected".to_owned()))?;
                let request = PromotionCodeRequest {
                    merchant_account: connection.account_id,
                    code: code.clone(),
                    coupon: coupon.to_owned(),
                    membership_id,
                    key: IdempotencyKey::parse(format!(
                        "promotion-code-{}-{}",
                        membership.merchant_id,
                        code.normalized()
                    ))?,
                };
                Some(self.gateway.create_promotion_code(&request).await?)
            }
            CouponSyncMode::Webhook | CouponSyncMode::Manual => None,
        };
        let coupon = Coupon {
            code,
            merchant_id: membership.merchant_id,
            program_id: membership.program_id,
            membership_id,
            promotion_code_id,
            active: true,
            created_at: self.clock.now(),
        };
        self.store.insert_coupon(&coupon).await?;
        Ok(coupon)
    }

    /// Deactivates a coupon code (and its Stripe Promotion Code).
    ///
    /// # Errors
    /// [`DomainError::NotFound`], [`DomainError::Gateway`].
    pub async fn deactivate_coupon(
        &self,
        merchant: &MerchantId,
        code: &CouponCode,
    ) -> Result<Coupon, DomainError> {
        let mut coupon =
            self.store
                .coupon(merchant, code)
                .await?
                .ok_or_else(|| DomainError::NotFound {
                    entity: "coupon code",
                    id: code.to_string(),
                })?;
        if let Some(promo) = &coupon.promotion_code_id
            && let Some(connection) = self.store.connection(merchant).await?
        {
            self.gateway
                .deactivate_promotion_code(&connection.account_id, promo)
                .await?;
        }
        coupon.active = false;
        self.store.update_coupon(&coupon).await?;
        Ok(coupon)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: SettingsStore + AuditStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The platform fee schedule.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn fee_schedule(&self) -> Result<FeeSchedule, DomainError> {
        Ok(self.store.fee_schedule().await?)
    }

    /// Replaces the fee schedule after validating it, recorded as
    /// `fee_schedule.updated` by `acting` (a platform entry: no merchant),
    /// with the schedule before and after.
    ///
    /// # Errors
    /// [`DomainError::Validation`].
    pub async fn set_fee_schedule(
        &self,
        schedule: FeeSchedule,
        acting: &Acting,
    ) -> Result<FeeSchedule, DomainError> {
        schedule.validate()?;
        let before = self.store.fee_schedule().await?;
        self.store.save_fee_schedule(&schedule).await?;
        if before != schedule {
            self.record(
                acting,
                Entry {
                    action: AuditAction::FeeScheduleUpdated,
                    merchant_id: None,
                    object_id: "fee_schedule".to_owned(),
                    before: Some(snapshot(&before)),
                    after: Some(snapshot(&schedule)),
                },
            )
            .await?;
        }
        Ok(schedule)
    }
}
