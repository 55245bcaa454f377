//! The platform API of [`InMemoryStripe`]: connected accounts, payment
//! intents with application fees, capture and refunds, transfers and
//! reversals from balances, payout schedules, bank payouts, balances and
//! disputes. It keeps Stripe's rules that matter to callers: writes replay
//! by idempotency key, a capture needs `requires_capture`, a refund cannot
//! exceed what is left, a transfer cannot overdraw a balance that was set,
//! a reversal cannot exceed what is left of its transfer.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;

use super::lock;
use super::stripe::InMemoryStripe;
use crate::ids::{
    AccountId, DisputeId, IdempotencyKey, PaymentIntentId, RefundId, StripePayoutId, TransferId,
    TransferReversalId,
};
use crate::money::{Currency, Money};
use crate::partner::{CapabilityStatus, OnboardingState};
use crate::platform::{
    AccountType, AccountView, BalanceView, BusinessProfile, CaptureMethod, ClientSecret,
    CreateAccountRequest, CreatePaymentIntentRequest, DisputeEvidence, DisputeStatus, DisputeView,
    ListParams, PaymentIntentStatus, PaymentIntentView, PayoutSchedule, PayoutView,
    PlatformTransferRequest, RefundRequest, RefundStatus, RefundView, Requirements, ReversalView,
    ReverseTransferRequest, TransferView,
};
use crate::ports::{FailureKind, GatewayError, Page, PlatformGateway, StripeRefusal};

/// The platform objects the fake holds.
#[derive(Debug, Default)]
pub(super) struct PlatformState {
    accounts: BTreeMap<AccountId, AccountView>,
    intents: BTreeMap<PaymentIntentId, PaymentIntentView>,
    refunded: HashMap<PaymentIntentId, i64>,
    transfers: BTreeMap<TransferId, TransferView>,
    payouts: BTreeMap<StripePayoutId, (AccountId, PayoutView)>,
    disputes: BTreeMap<DisputeId, DisputeView>,
    /// `(purpose, key)` to the id of the object the key created.
    replays: HashMap<(&'static str, IdempotencyKey), String>,
}

/// Stripe's refusal: a 400 `invalid_request_error` with its code and words.
fn refused(kind: FailureKind, code: &str, param: Option<&str>, message: &str) -> GatewayError {
    GatewayError::new(kind, Some(code), message).refused(StripeRefusal {
        card_error: false,
        param: param.map(str::to_owned),
        message: message.to_owned(),
    })
}

fn missing(what: &str, id: &str) -> GatewayError {
    refused(
        FailureKind::NotFound,
        "resource_missing",
        Some("id"),
        &format!("No such {what}: '{id}'"),
    )
}

fn parse<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, GatewayError> {
    r.map_err(|e| GatewayError::new(FailureKind::InvalidRequest, None, e.to_string()))
}

fn checked_sub(a: i64, b: i64) -> Result<i64, GatewayError> {
    a.checked_sub(b)
        .ok_or_else(|| GatewayError::new(FailureKind::InvalidRequest, None, "amount overflow"))
}

fn checked_add(a: i64, b: i64) -> Result<i64, GatewayError> {
    a.checked_add(b)
        .ok_or_else(|| GatewayError::new(FailureKind::InvalidRequest, None, "amount overflow"))
}

impl InMemoryStripe {
    /// Opens a dispute on a payment of `account` (`None`: the platform), as
    /// a cardholder's bank would.
    ///
    /// # Errors
    /// Never in practice: the minted id always parses.
    pub fn open_dispute(
        &self,
        account: Option<&AccountId>,
        amount: Money,
        reason: &str,
    ) -> Result<DisputeId, GatewayError> {
        let now = self.now();
        let mut fake = lock(&self.fake);
        let id = parse(DisputeId::parse(fake.next("dp_")))?;
        fake.platform.disputes.insert(
            id.clone(),
            DisputeView {
                dispute_id: id.clone(),
                payment_intent_id: None,
                charge: None,
                account_id: account.cloned(),
                amount,
                reason: reason.to_owned(),
                status: DisputeStatus::NeedsResponse,
                evidence_due_by: Some(now.saturating_add(time::Duration::days(7))),
                evidence_submission_count: 0,
                created: now,
            },
        );
        Ok(id)
    }

    /// Records a payout of `account`'s balance to its bank, as Stripe's
    /// schedule would make it.
    ///
    /// # Errors
    /// Never in practice: the minted id always parses.
    pub fn record_bank_payout(
        &self,
        account: &AccountId,
        amount: Money,
    ) -> Result<StripePayoutId, GatewayError> {
        let now = self.now();
        let mut fake = lock(&self.fake);
        let id = parse(StripePayoutId::parse(fake.next("po_")))?;
        fake.platform.payouts.insert(
            id.clone(),
            (
                account.clone(),
                PayoutView {
                    payout_id: id.clone(),
                    amount,
                    status: crate::platform::PayoutStatus::Paid,
                    arrival_date: Some(now),
                    method: Some("standard".to_owned()),
                    failure_code: None,
                    description: None,
                    destination: None,
                    created: now,
                },
            ),
        );
        Ok(id)
    }

    /// The account as the platform API shows it: its stored view with the
    /// onboarding state the fake holds for it.
    fn account_view(&self, account: &AccountId) -> Option<AccountView> {
        let fake = lock(&self.fake);
        let onboarding = fake.accounts.get(account).copied();
        let mut view = match (fake.platform.accounts.get(account), onboarding) {
            (Some(view), _) => view.clone(),
            (None, Some(_)) => AccountView {
                account_id: account.clone(),
                account_type: Some("express".to_owned()),
                status: crate::platform::AccountStatus::Pending,
                charges_enabled: false,
                payouts_enabled: false,
                details_submitted: false,
                email: None,
                country: None,
                business_type: None,
                capabilities: BTreeMap::new(),
                requirements: Requirements::default(),
                business_profile: BusinessProfile::default(),
                payout_schedule: None,
                metadata: BTreeMap::new(),
            },
            (None, None) => return None,
        };
        let state = onboarding.unwrap_or_default();
        view.details_submitted = state.details_submitted;
        view.payouts_enabled = state.payouts_enabled;
        view.charges_enabled = state.details_submitted;
        view.capabilities
            .insert("transfers".to_owned(), state.transfers);
        view.status = view.requirements.status(
            view.details_submitted,
            view.charges_enabled,
            view.payouts_enabled,
        );
        Some(view)
    }

    /// The object a key already created for `purpose`, if any.
    fn replayed(&self, purpose: &'static str, key: Option<&IdempotencyKey>) -> Option<String> {
        let key = key?;
        lock(&self.fake)
            .platform
            .replays
            .get(&(purpose, key.clone()))
            .cloned()
    }

    fn remember(&self, purpose: &'static str, key: Option<&IdempotencyKey>, id: &str) {
        if let Some(key) = key {
            lock(&self.fake)
                .platform
                .replays
                .insert((purpose, key.clone()), id.to_owned());
        }
    }

    /// Moves `amount` out of `from`'s balance (when one was set) and into
    /// `to`'s (when one was set).
    fn move_balance(
        &self,
        from: Option<&AccountId>,
        to: Option<&AccountId>,
        amount: Money,
    ) -> Result<(), GatewayError> {
        let mut fake = lock(&self.fake);
        let currency = amount.currency();
        if let Some(available) = fake.balances.get(&(from.cloned(), currency)).copied() {
            if available < amount.amount_minor() {
                return Err(refused(
                    FailureKind::InsufficientBalance,
                    "balance_insufficient",
                    None,
                    "You have insufficient available funds in your Stripe account.",
                ));
            }
            fake.balances.insert(
                (from.cloned(), currency),
                checked_sub(available, amount.amount_minor())?,
            );
        }
        if let Some(held) = fake.balances.get(&(to.cloned(), currency)).copied() {
            fake.balances.insert(
                (to.cloned(), currency),
                checked_add(held, amount.amount_minor())?,
            );
        }
        Ok(())
    }
}

#[async_trait]
impl PlatformGateway for InMemoryStripe {
    async fn create_account(
        &self,
        request: &CreateAccountRequest,
    ) -> Result<AccountView, GatewayError> {
        if let Some(id) = self.replayed("account", request.idempotency_key.as_ref()) {
            let account = parse(AccountId::parse(id))?;
            return self
                .account_view(&account)
                .ok_or_else(|| missing("account", account.as_str()));
        }
        let account = {
            let mut fake = lock(&self.fake);
            let account = parse(AccountId::parse(fake.next("acct_")))?;
            fake.accounts
                .insert(account.clone(), OnboardingState::default());
            let mut capabilities = BTreeMap::new();
            if request.capabilities.card_payments {
                capabilities.insert("card_payments".to_owned(), CapabilityStatus::Inactive);
            }
            fake.platform.accounts.insert(
                account.clone(),
                AccountView {
                    account_id: account.clone(),
                    account_type: Some(
                        match request.account_type {
                            AccountType::Express => "express",
                            AccountType::Standard => "standard",
                            AccountType::Custom => "custom",
                        }
                        .to_owned(),
                    ),
                    status: crate::platform::AccountStatus::Pending,
                    charges_enabled: false,
                    payouts_enabled: false,
                    details_submitted: false,
                    email: request.email.clone(),
                    country: request.country.clone(),
                    business_type: None,
                    capabilities,
                    requirements: Requirements::default(),
                    business_profile: request.business_profile.clone().unwrap_or_default(),
                    payout_schedule: Some(PayoutSchedule::daily()),
                    metadata: request.metadata.clone(),
                },
            );
            account
        };
        self.remember(
            "account",
            request.idempotency_key.as_ref(),
            account.as_str(),
        );
        self.account_view(&account)
            .ok_or_else(|| missing("account", account.as_str()))
    }

    async fn retrieve_account(&self, account: &AccountId) -> Result<AccountView, GatewayError> {
        self.account_view(account)
            .ok_or_else(|| missing("account", account.as_str()))
    }

    async fn update_payout_schedule(
        &self,
        account: &AccountId,
        schedule: &PayoutSchedule,
        _key: Option<&IdempotencyKey>,
    ) -> Result<PayoutSchedule, GatewayError> {
        let mut view = self
            .account_view(account)
            .ok_or_else(|| missing("account", account.as_str()))?;
        view.payout_schedule = Some(schedule.clone());
        lock(&self.fake)
            .platform
            .accounts
            .insert(account.clone(), view);
        Ok(schedule.clone())
    }

    async fn create_payment_intent(
        &self,
        request: &CreatePaymentIntentRequest,
    ) -> Result<PaymentIntentView, GatewayError> {
        if let Some(id) = self.replayed("payment_intent", request.idempotency_key.as_ref()) {
            let id = parse(PaymentIntentId::parse(id))?;
            return self.retrieve_payment_intent(&id, None).await;
        }
        if self.account_view(&request.account_id).is_none() {
            return Err(refused(
                FailureKind::InvalidRequest,
                "resource_missing",
                Some("transfer_data[destination]"),
                &format!("No such destination: '{}'", request.account_id),
            ));
        }
        let currency = request.amount.currency();
        let fee = request.application_fee_amount.unwrap_or(0);
        let destination = checked_sub(request.amount.amount_minor(), fee)?;
        let confirmed = request.confirm && request.payment_method.is_some();
        let (status, received, capturable) = match (confirmed, request.capture_method) {
            (false, _) => (PaymentIntentStatus::RequiresPaymentMethod, 0, 0),
            (true, CaptureMethod::Automatic) => (
                PaymentIntentStatus::Succeeded,
                request.amount.amount_minor(),
                0,
            ),
            (true, CaptureMethod::Manual) => (
                PaymentIntentStatus::RequiresCapture,
                0,
                request.amount.amount_minor(),
            ),
        };
        let view = {
            let mut fake = lock(&self.fake);
            let id = parse(PaymentIntentId::parse(fake.next("pi_")))?;
            let view = PaymentIntentView {
                payment_intent_id: id.clone(),
                status,
                amount: request.amount,
                amount_received: Money::new(received, currency),
                amount_capturable: Money::new(capturable, currency),
                application_fee: request
                    .application_fee_amount
                    .map(|f| Money::new(f, currency)),
                account_id: Some(request.account_id.clone()),
                destination_amount: Some(Money::new(destination, currency)),
                client_secret: Some(ClientSecret::new(format!("{id}_secret_memory"))),
                latest_charge: None,
                metadata: request.metadata.clone(),
            };
            fake.platform.intents.insert(id, view.clone());
            view
        };
        self.remember(
            "payment_intent",
            request.idempotency_key.as_ref(),
            view.payment_intent_id.as_str(),
        );
        Ok(view)
    }

    async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
        _on_account: Option<&AccountId>,
    ) -> Result<PaymentIntentView, GatewayError> {
        lock(&self.fake)
            .platform
            .intents
            .get(id)
            .cloned()
            .ok_or_else(|| missing("payment_intent", id.as_str()))
    }

    async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        _key: Option<&IdempotencyKey>,
    ) -> Result<PaymentIntentView, GatewayError> {
        let mut fake = lock(&self.fake);
        let pi = fake
            .platform
            .intents
            .get_mut(id)
            .ok_or_else(|| missing("payment_intent", id.as_str()))?;
        if pi.status != PaymentIntentStatus::RequiresCapture {
            return Err(refused(
                FailureKind::InvalidRequest,
                "payment_intent_unexpected_state",
                None,
                "This PaymentIntent could not be captured because it has a status of succeeded. Only a PaymentIntent with one of the following statuses may be captured: requires_capture.",
            ));
        }
        let amount = amount_to_capture.unwrap_or(pi.amount_capturable.amount_minor());
        if amount > pi.amount_capturable.amount_minor() {
            return Err(refused(
                FailureKind::InvalidRequest,
                "amount_too_large",
                Some("amount_to_capture"),
                "The amount to capture is greater than the amount capturable.",
            ));
        }
        pi.status = PaymentIntentStatus::Succeeded;
        pi.amount_received = Money::new(amount, pi.amount.currency());
        pi.amount_capturable = Money::zero(pi.amount.currency());
        Ok(pi.clone())
    }

    async fn refund_payment(&self, request: &RefundRequest) -> Result<RefundView, GatewayError> {
        let mut fake = lock(&self.fake);
        let pi = fake
            .platform
            .intents
            .get(&request.payment_intent_id)
            .cloned()
            .ok_or_else(|| missing("payment_intent", request.payment_intent_id.as_str()))?;
        if pi.status != PaymentIntentStatus::Succeeded {
            return Err(refused(
                FailureKind::InvalidRequest,
                "charge_not_refundable",
                None,
                "This PaymentIntent does not have a successful charge to refund.",
            ));
        }
        let already = fake
            .platform
            .refunded
            .get(&request.payment_intent_id)
            .copied()
            .unwrap_or(0);
        let left = checked_sub(pi.amount_received.amount_minor(), already)?;
        let amount = request.amount.unwrap_or(left);
        if amount > left {
            return Err(refused(
                FailureKind::InvalidRequest,
                "amount_too_large",
                Some("amount"),
                "Refund amount is greater than the unrefunded amount on the charge.",
            ));
        }
        fake.platform.refunded.insert(
            request.payment_intent_id.clone(),
            checked_add(already, amount)?,
        );
        let id = parse(RefundId::parse(fake.next("re_")))?;
        let reversal = request.reverse_transfer.then(|| fake.next("trr_"));
        Ok(RefundView {
            refund_id: id,
            payment_intent_id: Some(request.payment_intent_id.clone()),
            charge: None,
            amount: Money::new(amount, pi.amount.currency()),
            status: RefundStatus::Succeeded,
            reason: request.reason.map(|r| {
                match r {
                    crate::platform::RefundReason::Duplicate => "duplicate",
                    crate::platform::RefundReason::Fraudulent => "fraudulent",
                    crate::platform::RefundReason::RequestedByCustomer => "requested_by_customer",
                }
                .to_owned()
            }),
            application_fee_refunded: None,
            transfer_reversal: reversal,
        })
    }

    async fn create_platform_transfer(
        &self,
        request: &PlatformTransferRequest,
    ) -> Result<TransferView, GatewayError> {
        if let Some(id) = self.replayed("transfer", request.idempotency_key.as_ref()) {
            let id = parse(TransferId::parse(id))?;
            return self.platform_transfer(None, &id).await;
        }
        if self.account_view(&request.account_id).is_none() {
            return Err(refused(
                FailureKind::CannotReceive,
                "resource_missing",
                Some("destination"),
                &format!("No such destination: '{}'", request.account_id),
            ));
        }
        self.move_balance(
            request.source_account.as_ref(),
            Some(&request.account_id),
            request.amount,
        )?;
        let now = self.now();
        let view = {
            let mut fake = lock(&self.fake);
            let id = parse(TransferId::parse(fake.next("tr_")))?;
            let view = TransferView {
                transfer_id: id.clone(),
                destination: request.account_id.clone(),
                amount: request.amount,
                amount_reversed: Money::zero(request.amount.currency()),
                reversed: false,
                transfer_group: request.transfer_group.clone(),
                description: request.description.clone(),
                metadata: request.metadata.clone(),
                created: now,
            };
            fake.platform.transfers.insert(id, view.clone());
            view
        };
        self.remember(
            "transfer",
            request.idempotency_key.as_ref(),
            view.transfer_id.as_str(),
        );
        Ok(view)
    }

    async fn platform_transfer(
        &self,
        _source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<TransferView, GatewayError> {
        lock(&self.fake)
            .platform
            .transfers
            .get(id)
            .cloned()
            .ok_or_else(|| missing("transfer", id.as_str()))
    }

    async fn reverse_platform_transfer(
        &self,
        id: &TransferId,
        request: &ReverseTransferRequest,
    ) -> Result<ReversalView, GatewayError> {
        let transfer = self.platform_transfer(None, id).await?;
        let left = checked_sub(
            transfer.amount.amount_minor(),
            transfer.amount_reversed.amount_minor(),
        )?;
        let amount = request.amount.unwrap_or(left);
        if amount > left || amount <= 0 {
            return Err(refused(
                FailureKind::InvalidRequest,
                "amount_too_large",
                Some("amount"),
                "The reversal amount is greater than what is left of the transfer.",
            ));
        }
        let currency = transfer.amount.currency();
        self.move_balance(
            Some(&transfer.destination),
            request.source_account.as_ref(),
            Money::new(amount, currency),
        )?;
        let mut fake = lock(&self.fake);
        let reversal_id = parse(TransferReversalId::parse(fake.next("trr_")))?;
        let stored = fake
            .platform
            .transfers
            .get_mut(id)
            .ok_or_else(|| missing("transfer", id.as_str()))?;
        let reversed = checked_add(stored.amount_reversed.amount_minor(), amount)?;
        stored.amount_reversed = Money::new(reversed, currency);
        stored.reversed = reversed >= stored.amount.amount_minor();
        Ok(ReversalView {
            reversal_id,
            transfer_id: id.clone(),
            amount: Money::new(amount, currency),
            transfer_amount_reversed: stored.amount_reversed,
            transfer_reversed: stored.reversed,
        })
    }

    async fn list_payouts(
        &self,
        account: &AccountId,
        params: &ListParams,
    ) -> Result<Page<PayoutView>, GatewayError> {
        let fake = lock(&self.fake);
        let all: Vec<PayoutView> = fake
            .platform
            .payouts
            .values()
            .filter(|(a, _)| a == account)
            .map(|(_, p)| p.clone())
            .collect();
        Ok(page(all, params, |p| p.payout_id.as_str().to_owned()))
    }

    async fn balance(&self, account: Option<&AccountId>) -> Result<BalanceView, GatewayError> {
        let fake = lock(&self.fake);
        let mut available: Vec<Money> = fake
            .balances
            .iter()
            .filter(|((a, _), _)| a.as_ref() == account)
            .map(|((_, currency), minor)| Money::new(*minor, *currency))
            .collect();
        available.sort_by_key(|m| m.currency().code().to_owned());
        if available.is_empty() {
            available.push(Money::zero(Currency::USD));
        }
        let pending = available
            .iter()
            .map(|m| Money::zero(m.currency()))
            .collect();
        Ok(BalanceView {
            available,
            pending,
            connect_reserved: Vec::new(),
        })
    }

    async fn list_disputes(
        &self,
        account: Option<&AccountId>,
        params: &ListParams,
    ) -> Result<Page<DisputeView>, GatewayError> {
        let fake = lock(&self.fake);
        let all: Vec<DisputeView> = fake
            .platform
            .disputes
            .values()
            .filter(|d| d.account_id.as_ref() == account)
            .cloned()
            .collect();
        Ok(page(all, params, |d| d.dispute_id.as_str().to_owned()))
    }

    async fn update_dispute_evidence(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        _evidence: &DisputeEvidence,
        submit: bool,
        _key: Option<&IdempotencyKey>,
    ) -> Result<DisputeView, GatewayError> {
        let mut fake = lock(&self.fake);
        let stored = fake
            .platform
            .disputes
            .get_mut(dispute)
            .filter(|d| d.account_id.as_ref() == account)
            .ok_or_else(|| missing("dispute", dispute.as_str()))?;
        if submit {
            stored.status = DisputeStatus::UnderReview;
            stored.evidence_submission_count = stored.evidence_submission_count.saturating_add(1);
        }
        Ok(stored.clone())
    }
}

/// Stripe's paging over objects sorted by id: `limit` (default 10) after
/// `starting_after`.
fn page<T>(mut all: Vec<T>, params: &ListParams, id: impl Fn(&T) -> String) -> Page<T> {
    all.sort_by_key(|t| id(t));
    let after = params.starting_after.as_deref();
    let limit = usize::try_from(params.limit.unwrap_or(10).clamp(1, 100)).unwrap_or(10);
    let mut rest: Vec<T> = all
        .into_iter()
        .filter(|t| after.is_none_or(|a| id(t).as_str() > a))
        .collect();
    let has_more = rest.len() > limit;
    rest.truncate(limit);
    Page {
        data: rest,
        has_more,
    }
}
