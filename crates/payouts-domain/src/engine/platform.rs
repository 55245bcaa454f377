//! The platform API of seed 002 as use cases: connected accounts and their
//! links, payment intents with the platform's application fee, capture and
//! refunds, transfers and reversals, payout schedules, bank payouts,
//! balances and disputes.
//!
//! **Tenancy** is decided here, from our own records: an account belongs to
//! the merchant that created it through this API ([`AccountStore`]), to the
//! merchant whose OAuth connection it is, or (for reading) to the merchants
//! whose programs its partner joined. A merchant asking about any other
//! account, or about a payment, transfer or dispute on one, is told it does
//! not exist, before Stripe is asked anything.

use crate::error::DomainError;
use crate::ids::{AccountId, DisputeId, IdempotencyKey, MerchantId, PaymentIntentId, TransferId};
use crate::money::Money;
use crate::period::Period;
use crate::platform::{
    AccountView, BalanceView, Caller, CreateAccountRequest, CreatePaymentIntentRequest,
    DisputeEvidence, DisputeView, ListParams, PaymentIntentView, PayoutSchedule, PayoutView,
    PlatformTransferRequest, RefundRequest, RefundView, ReversalView, ReverseTransferRequest,
    TransferView, fee_share_refunded,
};
use crate::ports::{
    AccountStore, Clock, ConnectGateway, ConnectionStore, ConversionStore, HostedLink, IdGenerator,
    LinkKind, MembershipStore, Page, PayoutGateway, PlatformGateway, SettingsStore,
};

use super::Payouts;

/// The metadata key naming an account's merchant at Stripe (informational:
/// tenancy is decided from our own records).
pub const MERCHANT_METADATA: &str = "merchant_id";

/// A connected account with the merchant it belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedAccount {
    /// What Stripe reports.
    pub view: AccountView,
    /// The owning merchant, when we know it.
    pub merchant_id: Option<MerchantId>,
}

/// A new connected account and its first onboarding link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreatedAccount {
    /// The account.
    pub account: ConnectedAccount,
    /// Its onboarding link.
    pub onboarding: HostedLink,
}

/// Where Stripe sends the account holder from a hosted link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkUrls {
    /// After the flow.
    pub return_url: String,
    /// When the link has expired.
    pub refresh_url: String,
}

fn not_found(entity: &'static str, id: impl ToString) -> DomainError {
    DomainError::NotFound {
        entity,
        id: id.to_string(),
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ConnectionStore + MembershipStore + ConversionStore + SettingsStore + AccountStore + ?Sized,
    G: PayoutGateway + ConnectGateway + PlatformGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The merchant `account` belongs to, from our records: the one that
    /// created it here, or the one whose OAuth connection it is.
    async fn account_merchant(
        &self,
        account: &AccountId,
    ) -> Result<Option<MerchantId>, DomainError> {
        if let Some(owner) = self.store.account_owner(account).await? {
            return Ok(Some(owner));
        }
        Ok(self
            .store
            .connection_by_account(account)
            .await?
            .map(|c| c.merchant_id))
    }

    /// Checks that `caller` may act on `account`, and returns its merchant.
    /// A partner's Express account is visible to the merchants whose
    /// programs the partner joined.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an account the caller may not see.
    pub async fn authorize_account(
        &self,
        caller: &Caller,
        account: &AccountId,
    ) -> Result<Option<MerchantId>, DomainError> {
        let owner = self.account_merchant(account).await?;
        let Some(merchant) = caller.merchant() else {
            return Ok(owner);
        };
        if owner.as_ref() == Some(merchant) {
            return Ok(owner);
        }
        if owner.is_none() {
            for membership in self.store.memberships_by_account(account).await? {
                if &membership.merchant_id == merchant {
                    return Ok(Some(merchant.clone()));
                }
            }
        }
        Err(not_found("account", account))
    }

    /// Creates a connected account for `merchant`, records that the
    /// merchant owns it, and returns its onboarding link.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] when a merchant caller names another
    /// merchant; [`DomainError::Gateway`] when Stripe refuses;
    /// [`DomainError::Conflict`] when the account is already another's.
    pub async fn create_connected_account(
        &self,
        caller: &Caller,
        merchant: &MerchantId,
        mut request: CreateAccountRequest,
        urls: &LinkUrls,
    ) -> Result<CreatedAccount, DomainError> {
        if caller.merchant().is_some_and(|m| m != merchant) {
            return Err(not_found("merchant", merchant));
        }
        request
            .metadata
            .insert(MERCHANT_METADATA.to_owned(), merchant.to_string());
        let view = self.gateway.create_account(&request).await?;
        self.store
            .record_account_owner(&view.account_id, merchant, self.clock.now())
            .await?;
        let onboarding = self
            .gateway
            .account_link(
                &view.account_id,
                LinkKind::Onboarding,
                &urls.return_url,
                &urls.refresh_url,
            )
            .await?;
        Ok(CreatedAccount {
            account: ConnectedAccount {
                view,
                merchant_id: Some(merchant.clone()),
            },
            onboarding,
        })
    }

    /// A connected account's status, capabilities, requirements and payout
    /// schedule.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn connected_account(
        &self,
        caller: &Caller,
        account: &AccountId,
    ) -> Result<ConnectedAccount, DomainError> {
        let merchant_id = self.authorize_account(caller, account).await?;
        let view = self.gateway.retrieve_account(account).await?;
        Ok(ConnectedAccount { view, merchant_id })
    }

    /// A new onboarding or update link for an account.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn connected_account_link(
        &self,
        caller: &Caller,
        account: &AccountId,
        kind: LinkKind,
        urls: &LinkUrls,
    ) -> Result<HostedLink, DomainError> {
        self.authorize_account(caller, account).await?;
        Ok(self
            .gateway
            .account_link(account, kind, &urls.return_url, &urls.refresh_url)
            .await?)
    }

    /// A login link to the account's Express dashboard, once onboarding is
    /// finished.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Blocked`] with
    /// [`crate::Blocked::NotOnboarded`] before onboarding is finished;
    /// [`DomainError::Gateway`].
    pub async fn connected_account_dashboard_link(
        &self,
        caller: &Caller,
        account: &AccountId,
    ) -> Result<HostedLink, DomainError> {
        let current = self.connected_account(caller, account).await?;
        if !current.view.details_submitted {
            return Err(crate::Blocked::NotOnboarded(account.to_string()).into());
        }
        Ok(self.gateway.login_link(account).await?)
    }

    /// Creates a destination-charge payment intent on a connected account,
    /// with the caller's application fee or, without one, the fee
    /// schedule's ([`Payouts::default_fee`]).
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a non-positive amount or a fee
    /// outside 0..=amount; [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn create_payment(
        &self,
        caller: &Caller,
        mut request: CreatePaymentIntentRequest,
    ) -> Result<PaymentIntentView, DomainError> {
        if !request.amount.is_positive() || !request.amount.within_stripe_max() {
            return Err(DomainError::validation(
                "amount",
                "amount must be a positive integer in minor units, at most 99999999 (Stripe's eight digits)",
            ));
        }
        let merchant = self
            .authorize_account(caller, &request.account_id)
            .await?
            .or_else(|| caller.merchant().cloned());
        let fee = match request.application_fee_amount {
            Some(fee) if fee < 0 || fee > request.amount.amount_minor() => {
                return Err(DomainError::validation(
                    "application_fee_amount",
                    "the fee must be between 0 and the amount",
                ));
            }
            Some(fee) => fee,
            None => self.default_fee(merchant.as_ref(), &request.amount).await?,
        };
        request.application_fee_amount = Some(fee);
        Ok(self.gateway.create_payment_intent(&request).await?)
    }

    /// The fee schedule's fee for `amount` charged by `merchant` this
    /// month: its override, else the tier its month-to-date volume falls
    /// in, else the default. Without a merchant, the default.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`]; [`DomainError::Money`] on overflow.
    pub async fn default_fee(
        &self,
        merchant: Option<&MerchantId>,
        amount: &Money,
    ) -> Result<i64, DomainError> {
        let schedule = self.store.fee_schedule().await?;
        let Some(merchant) = merchant else {
            return Ok(schedule.default_fee(amount)?.amount_minor());
        };
        let period = Period::containing(self.clock.now());
        let volume = self
            .store
            .monthly_volume(merchant, period, amount.currency())
            .await?;
        Ok(schedule.fee(merchant, &volume, amount)?.amount_minor())
    }

    /// The payment intent, if its account is the caller's.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn payment(
        &self,
        caller: &Caller,
        id: &PaymentIntentId,
    ) -> Result<PaymentIntentView, DomainError> {
        let pi = self.gateway.retrieve_payment_intent(id, None).await?;
        if caller.merchant().is_some() {
            match &pi.account_id {
                Some(account) => {
                    self.authorize_account(caller, account).await?;
                }
                None => return Err(not_found("payment", id)),
            }
        }
        Ok(pi)
    }

    /// Captures an authorized payment, all of it or `amount_to_capture`.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a non-positive amount;
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`] (Stripe refuses
    /// a payment that is not `requires_capture`).
    pub async fn capture_payment(
        &self,
        caller: &Caller,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        key: Option<&IdempotencyKey>,
    ) -> Result<PaymentIntentView, DomainError> {
        if amount_to_capture.is_some_and(|a| a <= 0) {
            return Err(DomainError::validation(
                "amount_to_capture",
                "amount_to_capture must be a positive integer in minor units",
            ));
        }
        let pi = self.payment(caller, id).await?;
        Ok(self
            .gateway
            .capture_payment_intent(&pi.payment_intent_id, amount_to_capture, key)
            .await?)
    }

    /// Refunds a payment. When the application fee is refunded too, the
    /// share given back is worked out here: Stripe refunds the fee in
    /// proportion to the part of the captured amount refunded.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a non-positive amount;
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`];
    /// [`DomainError::Money`] on overflow.
    pub async fn refund_payment(
        &self,
        caller: &Caller,
        mut request: RefundRequest,
    ) -> Result<RefundView, DomainError> {
        if request.amount.is_some_and(|a| a <= 0) {
            return Err(DomainError::validation(
                "amount",
                "amount must be a positive integer in minor units",
            ));
        }
        let pi = self.payment(caller, &request.payment_intent_id).await?;
        request.payment_intent_id = pi.payment_intent_id.clone();
        let mut refund = self.gateway.refund_payment(&request).await?;
        refund.application_fee_refunded =
            match (&pi.application_fee, request.refund_application_fee) {
                (Some(fee), true) => {
                    let captured = if pi.amount_received.is_positive() {
                        pi.amount_received
                    } else {
                        pi.amount
                    };
                    Some(fee_share_refunded(*fee, refund.amount, captured)?)
                }
                (None, true) => Some(Money::zero(refund.amount.currency())),
                (_, false) => None,
            };
        Ok(refund)
    }

    /// Sends money from the platform's balance to a connected account.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a non-positive amount;
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn create_platform_transfer(
        &self,
        caller: &Caller,
        request: PlatformTransferRequest,
    ) -> Result<TransferView, DomainError> {
        if !request.amount.is_positive() || !request.amount.within_stripe_max() {
            return Err(DomainError::validation(
                "amount",
                "amount must be a positive integer in minor units, at most 99999999 (Stripe's eight digits)",
            ));
        }
        self.authorize_account(caller, &request.account_id).await?;
        Ok(self.gateway.create_platform_transfer(&request).await?)
    }

    /// Reverses a transfer to one of the caller's accounts, all of what is
    /// left or `amount`.
    ///
    /// # Errors
    /// [`DomainError::Validation`]; [`DomainError::NotFound`];
    /// [`DomainError::Gateway`].
    pub async fn reverse_platform_transfer(
        &self,
        caller: &Caller,
        id: &TransferId,
        request: ReverseTransferRequest,
    ) -> Result<ReversalView, DomainError> {
        if request.amount.is_some_and(|a| a <= 0) {
            return Err(DomainError::validation(
                "amount",
                "amount must be a positive integer in minor units",
            ));
        }
        let transfer = self
            .gateway
            .platform_transfer(request.source_account.as_ref(), id)
            .await?;
        self.authorize_account(caller, &transfer.destination)
            .await?;
        Ok(self.gateway.reverse_platform_transfer(id, &request).await?)
    }

    /// An account's payout schedule (Stripe's default, daily, when it shows none).
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn payout_schedule(
        &self,
        caller: &Caller,
        account: &AccountId,
    ) -> Result<PayoutSchedule, DomainError> {
        let current = self.connected_account(caller, account).await?;
        Ok(current
            .view
            .payout_schedule
            .unwrap_or_else(PayoutSchedule::daily))
    }

    /// Replaces an account's payout schedule, after validating it.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the field; [`DomainError::NotFound`];
    /// [`DomainError::Gateway`].
    pub async fn set_payout_schedule(
        &self,
        caller: &Caller,
        account: &AccountId,
        schedule: &PayoutSchedule,
        key: Option<&IdempotencyKey>,
    ) -> Result<PayoutSchedule, DomainError> {
        schedule.validate()?;
        self.authorize_account(caller, account).await?;
        Ok(self
            .gateway
            .update_payout_schedule(account, schedule, key)
            .await?)
    }

    /// One page of an account's payouts to its bank.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn account_payouts(
        &self,
        caller: &Caller,
        account: &AccountId,
        params: &ListParams,
    ) -> Result<Page<PayoutView>, DomainError> {
        self.authorize_account(caller, account).await?;
        Ok(self.gateway.list_payouts(account, params).await?)
    }

    /// The platform's own balance (platform callers only).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for a merchant caller; [`DomainError::Gateway`].
    pub async fn platform_balance(&self, caller: &Caller) -> Result<BalanceView, DomainError> {
        if caller.merchant().is_some() {
            return Err(not_found("balance", "platform"));
        }
        Ok(self.gateway.balance(None).await?)
    }

    /// A connected account's balance.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn account_balance(
        &self,
        caller: &Caller,
        account: &AccountId,
    ) -> Result<BalanceView, DomainError> {
        self.authorize_account(caller, account).await?;
        Ok(self.gateway.balance(Some(account)).await?)
    }

    /// The account disputes are read on: the one named (if the caller may
    /// see it), else the merchant's connected account, else (platform) the
    /// platform's own. `Ok(None)` for a merchant that never connected.
    async fn dispute_account(
        &self,
        caller: &Caller,
        account: Option<&AccountId>,
    ) -> Result<Option<Option<AccountId>>, DomainError> {
        match (account, caller.merchant()) {
            (Some(account), _) => {
                self.authorize_account(caller, account).await?;
                Ok(Some(Some(account.clone())))
            }
            (None, None) => Ok(Some(None)),
            (None, Some(merchant)) => Ok(self
                .store
                .connection(merchant)
                .await?
                .map(|c| Some(c.account_id))),
        }
    }

    /// One page of disputes on an account the caller may see.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn disputes(
        &self,
        caller: &Caller,
        account: Option<&AccountId>,
        params: &ListParams,
    ) -> Result<Page<DisputeView>, DomainError> {
        match self.dispute_account(caller, account).await? {
            Some(on) => Ok(self.gateway.list_disputes(on.as_ref(), params).await?),
            None => Ok(Page {
                data: Vec::new(),
                has_more: false,
            }),
        }
    }

    /// Saves evidence on a dispute, and submits it when `submit`.
    ///
    /// # Errors
    /// [`DomainError::NotFound`]; [`DomainError::Gateway`].
    pub async fn submit_dispute_evidence(
        &self,
        caller: &Caller,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        evidence: &DisputeEvidence,
        submit: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<DisputeView, DomainError> {
        let Some(on) = self.dispute_account(caller, account).await? else {
            return Err(not_found("dispute", dispute));
        };
        Ok(self
            .gateway
            .update_dispute_evidence(on.as_ref(), dispute, evidence, submit, key)
            .await?)
    }
}
