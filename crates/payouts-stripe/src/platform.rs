//! The platform API the HTTP layer exposes (seed 002): accounts, payment
//! intents, refunds, transfers, payouts and schedules, balances, disputes.
//!
//! The request and view types here are public and serde-friendly, in the
//! domain's terms (ids, [`Money`]); Stripe's wire shapes stay in `wire`.
//! Every write carries an idempotency key: the caller's, or a fresh one
//! that all retries of that one call share.

use std::collections::{BTreeMap, HashMap};

use payouts_domain::ids::{
    AccountId, DisputeId, IdempotencyKey, PaymentIntentId, RefundId, StripePayoutId, TransferId,
    TransferReversalId,
};
use payouts_domain::money::Money;
use payouts_domain::partner::CapabilityStatus;
use payouts_domain::ports::{GatewayError, Page};
use stripe_connect::account::{
    CreateAccount, CreateAccountBusinessProfile, CreateAccountCapabilities,
    CreateAccountCapabilitiesCardPayments, CreateAccountCapabilitiesTransfers, CreateAccountType,
    UpdateAccount, UpdateAccountSettings, UpdateAccountSettingsPayouts,
    UpdateAccountSettingsPayoutsSchedule, UpdateAccountSettingsPayoutsScheduleDelayDays,
    UpdateAccountSettingsPayoutsScheduleInterval, UpdateAccountSettingsPayoutsScheduleWeeklyAnchor,
};
use stripe_connect::transfer::CreateTransfer;
use stripe_core::balance::RetrieveForMyAccountBalance;
use stripe_core::dispute::{ListDispute, UpdateDispute, UpdateDisputeEvidence};
use stripe_core::payment_intent::{
    CapturePaymentIntent, CreatePaymentIntent, CreatePaymentIntentTransferData,
    RetrievePaymentIntent,
};
use stripe_core::payout::ListPayout;
use stripe_core::refund::{CreateRefund, CreateRefundReason};
use stripe_shared::{AccountBusinessType, PaymentIntentCaptureMethod};
use time::OffsetDateTime;

use crate::error::invalid;
use crate::gateway::{StripeGateway, stripe_currency};
use crate::transport::Call;
use crate::wire::{self, id_of, money, parse_id, timestamp};

/// A fresh key for a write the caller gave no key for.
pub(crate) fn fresh_key(purpose: &str) -> Result<IdempotencyKey, GatewayError> {
    IdempotencyKey::parse(format!("{purpose}-{}", uuid::Uuid::new_v4()))
        .map_err(|e| invalid(e.to_string()))
}

fn key_or_fresh(
    key: Option<&IdempotencyKey>,
    purpose: &str,
) -> Result<IdempotencyKey, GatewayError> {
    match key {
        Some(k) => Ok(k.clone()),
        None => fresh_key(purpose),
    }
}

fn to_hash(metadata: &BTreeMap<String, String>) -> HashMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn to_btree(metadata: &HashMap<String, String>) -> BTreeMap<String, String> {
    metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

pub use payouts_domain::platform::*;

// ---------------------------------------------------------------- from Stripe's shapes

fn list_limit(params: &ListParams) -> Option<i64> {
    params.limit.map(|l| i64::from(l.clamp(1, 100)))
}

fn schedule_from_wire(s: &wire::Schedule) -> PayoutSchedule {
    let interval = match s.interval.as_deref() {
        Some("daily") => PayoutInterval::Daily,
        Some("weekly") => PayoutInterval::Weekly,
        Some("monthly") => PayoutInterval::Monthly,
        Some("manual") => PayoutInterval::Manual,
        Some(_) | None => PayoutInterval::Unknown,
    };
    let weekly_anchor = match s.weekly_anchor.as_deref() {
        Some("monday") => Some(Weekday::Monday),
        Some("tuesday") => Some(Weekday::Tuesday),
        Some("wednesday") => Some(Weekday::Wednesday),
        Some("thursday") => Some(Weekday::Thursday),
        Some("friday") => Some(Weekday::Friday),
        Some("saturday") => Some(Weekday::Saturday),
        Some("sunday") => Some(Weekday::Sunday),
        Some(_) | None => None,
    };
    PayoutSchedule {
        interval,
        delay_days: s.delay_days,
        weekly_anchor,
        monthly_anchor: s.monthly_anchor,
    }
}

fn schedule_request(
    s: &PayoutSchedule,
) -> Result<UpdateAccountSettingsPayoutsSchedule, GatewayError> {
    let mut schedule = UpdateAccountSettingsPayoutsSchedule::new();
    schedule.interval = Some(match s.interval {
        PayoutInterval::Daily => UpdateAccountSettingsPayoutsScheduleInterval::Daily,
        PayoutInterval::Weekly => UpdateAccountSettingsPayoutsScheduleInterval::Weekly,
        PayoutInterval::Monthly => UpdateAccountSettingsPayoutsScheduleInterval::Monthly,
        PayoutInterval::Manual => UpdateAccountSettingsPayoutsScheduleInterval::Manual,
        PayoutInterval::Unknown => {
            return Err(invalid("payout interval `unknown` cannot be set"));
        }
    });
    schedule.delay_days = s
        .delay_days
        .map(UpdateAccountSettingsPayoutsScheduleDelayDays::U32);
    schedule.weekly_anchor = s.weekly_anchor.map(|d| match d {
        Weekday::Monday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Monday,
        Weekday::Tuesday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Tuesday,
        Weekday::Wednesday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Wednesday,
        Weekday::Thursday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Thursday,
        Weekday::Friday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Friday,
        Weekday::Saturday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Saturday,
        Weekday::Sunday => UpdateAccountSettingsPayoutsScheduleWeeklyAnchor::Sunday,
    });
    schedule.monthly_anchor = s.monthly_anchor;
    Ok(schedule)
}

pub(crate) fn account_from_wire(a: &wire::Account) -> Result<AccountView, GatewayError> {
    let requirements = a
        .requirements
        .as_ref()
        .map(|r| Requirements {
            currently_due: r.currently_due.clone(),
            eventually_due: r.eventually_due.clone(),
            past_due: r.past_due.clone(),
            disabled_reason: r.disabled_reason.clone(),
        })
        .unwrap_or_default();
    let profile = a.business_profile.as_ref();
    let business_profile = BusinessProfile {
        name: profile.and_then(|p| p.name.clone()),
        mcc: profile.and_then(|p| p.mcc.clone()),
        url: profile.and_then(|p| p.url.clone()),
        support_email: profile.and_then(|p| p.support_email.clone()),
        support_phone: profile.and_then(|p| p.support_phone.clone()),
        support_url: profile.and_then(|p| p.support_url.clone()),
        product_description: profile.and_then(|p| p.product_description.clone()),
    };
    let payout_schedule = a
        .settings
        .as_ref()
        .and_then(|s| s.payouts.as_ref())
        .and_then(|p| p.schedule.as_ref())
        .map(schedule_from_wire);
    Ok(AccountView {
        account_id: parse_id(AccountId::parse(a.id.clone()), "account id")?,
        account_type: a.account_type.clone(),
        status: requirements.status(a.details_submitted, a.charges_enabled, a.payouts_enabled),
        charges_enabled: a.charges_enabled,
        payouts_enabled: a.payouts_enabled,
        details_submitted: a.details_submitted,
        email: a.email.clone(),
        country: a.country.clone(),
        business_type: a.business_type.clone(),
        capabilities: a
            .capabilities
            .iter()
            .map(|(k, v)| (k.clone(), CapabilityStatus::from_stripe(v)))
            .collect(),
        requirements,
        business_profile,
        payout_schedule,
        metadata: to_btree(&a.metadata),
    })
}

fn intent_status(s: &str) -> PaymentIntentStatus {
    match s {
        "requires_payment_method" => PaymentIntentStatus::RequiresPaymentMethod,
        "requires_confirmation" => PaymentIntentStatus::RequiresConfirmation,
        "requires_action" => PaymentIntentStatus::RequiresAction,
        "processing" => PaymentIntentStatus::Processing,
        "requires_capture" => PaymentIntentStatus::RequiresCapture,
        "canceled" => PaymentIntentStatus::Canceled,
        "succeeded" => PaymentIntentStatus::Succeeded,
        _ => PaymentIntentStatus::Unknown,
    }
}

fn intent_from_wire(pi: &wire::PaymentIntent) -> Result<PaymentIntentView, GatewayError> {
    let m = |amount: i64| money(amount, &pi.currency, "payment intent amount");
    let account_id = pi
        .transfer_data
        .as_ref()
        .map(|t| parse_id(AccountId::parse(t.destination.id()), "destination"))
        .transpose()?;
    let fee = pi.application_fee_amount.unwrap_or(0);
    let destination_amount = match &account_id {
        Some(_) => Some(m(pi.amount.checked_sub(fee).ok_or_else(|| {
            crate::error::unreadable("payment intent amounts", "overflow")
        })?)?),
        None => None,
    };
    Ok(PaymentIntentView {
        payment_intent_id: parse_id(PaymentIntentId::parse(pi.id.clone()), "payment intent id")?,
        status: intent_status(&pi.status),
        amount: m(pi.amount)?,
        amount_received: m(pi.amount_received)?,
        amount_capturable: m(pi.amount_capturable)?,
        application_fee: pi.application_fee_amount.map(m).transpose()?,
        account_id,
        destination_amount,
        client_secret: pi.client_secret.clone().map(ClientSecret::new),
        latest_charge: id_of(pi.latest_charge.as_ref()),
        metadata: to_btree(&pi.metadata),
    })
}

fn transfer_from_wire(t: &wire::Transfer) -> Result<TransferView, GatewayError> {
    let domain = crate::gateway::to_transfer(t)?;
    Ok(TransferView {
        transfer_id: domain.id,
        destination: domain.destination,
        amount: domain.amount,
        amount_reversed: domain.amount_reversed,
        reversed: t.reversed || (t.amount_reversed >= t.amount && t.amount > 0),
        transfer_group: t.transfer_group.clone(),
        description: t.description.clone(),
        metadata: to_btree(&t.metadata),
        created: timestamp(t.created, "transfer created")?,
    })
}

fn payout_from_wire(p: &wire::Payout) -> Result<PayoutView, GatewayError> {
    Ok(PayoutView {
        payout_id: parse_id(StripePayoutId::parse(p.id.clone()), "payout id")?,
        amount: money(p.amount, &p.currency, "payout amount")?,
        status: match p.status.as_str() {
            "pending" => PayoutStatus::Pending,
            "in_transit" => PayoutStatus::InTransit,
            "paid" => PayoutStatus::Paid,
            "failed" => PayoutStatus::Failed,
            "canceled" => PayoutStatus::Canceled,
            _ => PayoutStatus::Unknown,
        },
        arrival_date: p
            .arrival_date
            .map(|t| timestamp(t, "payout arrival"))
            .transpose()?,
        method: p.method.clone(),
        failure_code: p.failure_code.clone(),
        description: p.description.clone(),
        destination: id_of(p.destination.as_ref()),
        created: timestamp(p.created, "payout created")?,
    })
}

fn dispute_from_wire(
    d: &wire::Dispute,
    account: Option<&AccountId>,
) -> Result<DisputeView, GatewayError> {
    let details = d.evidence_details.as_ref();
    Ok(DisputeView {
        dispute_id: parse_id(DisputeId::parse(d.id.clone()), "dispute id")?,
        payment_intent_id: id_of(d.payment_intent.as_ref())
            .map(|p| parse_id(PaymentIntentId::parse(p), "dispute payment intent"))
            .transpose()?,
        charge: id_of(d.charge.as_ref()),
        account_id: account.cloned(),
        amount: money(d.amount, &d.currency, "dispute amount")?,
        reason: d.reason.clone(),
        status: match d.status.as_str() {
            "warning_needs_response" => DisputeStatus::WarningNeedsResponse,
            "warning_under_review" => DisputeStatus::WarningUnderReview,
            "warning_closed" => DisputeStatus::WarningClosed,
            "needs_response" => DisputeStatus::NeedsResponse,
            "under_review" => DisputeStatus::UnderReview,
            "won" => DisputeStatus::Won,
            "lost" => DisputeStatus::Lost,
            "prevented" => DisputeStatus::Prevented,
            _ => DisputeStatus::Unknown,
        },
        evidence_due_by: details
            .and_then(|e| e.due_by)
            .map(|t| timestamp(t, "dispute due date"))
            .transpose()?,
        evidence_submission_count: details.map_or(0, |e| e.submission_count),
        created: timestamp(d.created, "dispute created")?,
    })
}

macro_rules! evidence_request {
    ($($(#[$doc:meta])* $field:ident),* $(,)?) => {
        fn evidence_request(evidence: &DisputeEvidence) -> UpdateDisputeEvidence {
            let mut e = UpdateDisputeEvidence::new();
            $( e.$field = evidence.$field.clone(); )*
            e
        }
    };
}

payouts_domain::with_dispute_evidence_fields!(evidence_request);

// ---------------------------------------------------------------- the calls

impl StripeGateway {
    /// Creates a connected account.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn create_account(
        &self,
        request: &CreateAccountRequest,
    ) -> Result<AccountView, GatewayError> {
        let mut create = CreateAccount::new().type_(match request.account_type {
            AccountType::Express => CreateAccountType::Express,
            AccountType::Standard => CreateAccountType::Standard,
            AccountType::Custom => CreateAccountType::Custom,
        });
        if let Some(country) = &request.country {
            create = create.country(country.as_str());
        }
        if let Some(email) = &request.email {
            create = create.email(email.as_str());
        }
        if let Some(business_type) = request.business_type {
            create = create.business_type(match business_type {
                BusinessType::Individual => AccountBusinessType::Individual,
                BusinessType::Company => AccountBusinessType::Company,
                BusinessType::NonProfit => AccountBusinessType::NonProfit,
                BusinessType::GovernmentEntity => AccountBusinessType::GovernmentEntity,
            });
        }
        if let Some(profile) = &request.business_profile {
            let mut p = CreateAccountBusinessProfile::new();
            p.name = profile.name.clone();
            p.mcc = profile.mcc.clone();
            p.url = profile.url.clone();
            p.support_email = profile.support_email.clone();
            p.support_phone = profile.support_phone.clone();
            p.support_url = profile.support_url.clone();
            p.product_description = profile.product_description.clone();
            create = create.business_profile(p);
        }
        let wanted = request.capabilities;
        if wanted.card_payments || wanted.transfers {
            let mut capabilities = CreateAccountCapabilities::new();
            if wanted.card_payments {
                let mut c = CreateAccountCapabilitiesCardPayments::new();
                c.requested = Some(true);
                capabilities.card_payments = Some(c);
            }
            if wanted.transfers {
                let mut t = CreateAccountCapabilitiesTransfers::new();
                t.requested = Some(true);
                capabilities.transfers = Some(t);
            }
            create = create.capabilities(capabilities);
        }
        if !request.metadata.is_empty() {
            create = create.metadata(to_hash(&request.metadata));
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "account")?;
        let account: wire::Account = self
            .transport
            .send(&create, Call::keyed(None, &key), "account")
            .await?;
        account_from_wire(&account)
    }

    /// Retrieves a connected account with its status and requirements.
    ///
    /// # Errors
    /// [`GatewayError`] ([`payouts_domain::ports::FailureKind::NotFound`] or
    /// `CannotReceive` for an account we cannot see).
    pub async fn retrieve_account(&self, account: &AccountId) -> Result<AccountView, GatewayError> {
        account_from_wire(&self.connected_account(account).await?)
    }

    /// The account's payout schedule.
    ///
    /// # Errors
    /// [`GatewayError`]; `response_unreadable` when Stripe shows none.
    pub async fn payout_schedule(
        &self,
        account: &AccountId,
    ) -> Result<PayoutSchedule, GatewayError> {
        self.retrieve_account(account)
            .await?
            .payout_schedule
            .ok_or_else(|| crate::error::unreadable("payout schedule", "missing"))
    }

    /// Replaces the account's payout schedule (`settings.payouts.schedule`).
    ///
    /// # Errors
    /// [`GatewayError`]; `InvalidRequest` for an `Unknown` interval.
    pub async fn update_payout_schedule(
        &self,
        account: &AccountId,
        schedule: &PayoutSchedule,
        key: Option<&IdempotencyKey>,
    ) -> Result<PayoutSchedule, GatewayError> {
        let mut payouts = UpdateAccountSettingsPayouts::new();
        payouts.schedule = Some(schedule_request(schedule)?);
        let mut settings = UpdateAccountSettings::new();
        settings.payouts = Some(payouts);
        let key = key_or_fresh(key, "payout-schedule")?;
        let a: wire::Account = self
            .transport
            .send(
                &UpdateAccount::new(account.as_str()).settings(settings),
                Call::keyed(None, &key),
                "account",
            )
            .await?;
        account_from_wire(&a)?
            .payout_schedule
            .ok_or_else(|| crate::error::unreadable("payout schedule", "missing"))
    }

    /// Creates a destination-charge payment intent.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn create_payment_intent(
        &self,
        request: &CreatePaymentIntentRequest,
    ) -> Result<PaymentIntentView, GatewayError> {
        let mut create = CreatePaymentIntent::new(
            request.amount.amount_minor(),
            stripe_currency(request.amount.currency()),
        )
        .transfer_data(CreatePaymentIntentTransferData::new(
            request.account_id.as_str(),
        ));
        if let Some(fee) = request.application_fee_amount {
            create = create.application_fee_amount(fee);
        }
        if request.capture_method == CaptureMethod::Manual {
            create = create.capture_method(PaymentIntentCaptureMethod::Manual);
        }
        if let Some(email) = &request.customer_email {
            create = create.receipt_email(email.as_str());
        }
        if let Some(description) = &request.description {
            create = create.description(description.as_str());
        }
        if let Some(pm) = &request.payment_method {
            create = create.payment_method(pm.as_str());
        }
        if request.confirm {
            create = create.confirm(true);
        }
        let mut metadata = to_hash(&request.metadata);
        if let Some(order) = &request.order_id {
            metadata.insert("order_id".to_owned(), order.clone());
        }
        if !metadata.is_empty() {
            create = create.metadata(metadata);
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "payment-intent")?;
        let pi: wire::PaymentIntent = self
            .transport
            .send(&create, Call::keyed(None, &key), "payment intent")
            .await?;
        intent_from_wire(&pi)
    }

    /// Captures an authorized payment (`amount_to_capture`: all when `None`).
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        key: Option<&IdempotencyKey>,
    ) -> Result<PaymentIntentView, GatewayError> {
        let mut capture = CapturePaymentIntent::new(id.as_str());
        if let Some(amount) = amount_to_capture {
            capture = capture.amount_to_capture(amount);
        }
        let key = key_or_fresh(key, "capture")?;
        let pi: wire::PaymentIntent = self
            .transport
            .send(&capture, Call::keyed(None, &key), "payment intent")
            .await?;
        intent_from_wire(&pi)
    }

    /// Retrieves a payment intent.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
        on_account: Option<&AccountId>,
    ) -> Result<PaymentIntentView, GatewayError> {
        let pi: wire::PaymentIntent = self
            .transport
            .send(
                &RetrievePaymentIntent::new(id.as_str()),
                Call::on(on_account),
                "payment intent",
            )
            .await?;
        intent_from_wire(&pi)
    }

    /// Refunds a payment, optionally returning the fee and reversing the transfer.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn refund_payment(
        &self,
        request: &RefundRequest,
    ) -> Result<RefundView, GatewayError> {
        let account = request.on_account.as_ref();
        let mut create = CreateRefund::new().payment_intent(request.payment_intent_id.as_str());
        if let Some(amount) = request.amount {
            create = create.amount(amount);
        }
        if let Some(reason) = request.reason {
            create = create.reason(match reason {
                RefundReason::Duplicate => CreateRefundReason::Duplicate,
                RefundReason::Fraudulent => CreateRefundReason::Fraudulent,
                RefundReason::RequestedByCustomer => CreateRefundReason::RequestedByCustomer,
            });
        }
        if request.refund_application_fee {
            create = create.refund_application_fee(true);
        }
        if request.reverse_transfer {
            create = create.reverse_transfer(true);
        }
        if !request.metadata.is_empty() {
            create = create.metadata(to_hash(&request.metadata));
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "refund")?;
        let refund: wire::Refund = self
            .transport
            .send(&create, Call::keyed(account, &key), "refund")
            .await?;
        Ok(RefundView {
            refund_id: parse_id(RefundId::parse(refund.id.clone()), "refund id")?,
            payment_intent_id: id_of(refund.payment_intent.as_ref())
                .map(|p| parse_id(PaymentIntentId::parse(p), "refund payment intent"))
                .transpose()?,
            charge: id_of(refund.charge.as_ref()),
            amount: money(refund.amount, &refund.currency, "refund amount")?,
            status: match refund.status.as_deref() {
                Some("pending") => RefundStatus::Pending,
                Some("requires_action") => RefundStatus::RequiresAction,
                Some("succeeded") => RefundStatus::Succeeded,
                Some("failed") => RefundStatus::Failed,
                Some("canceled") => RefundStatus::Canceled,
                Some(_) | None => RefundStatus::Unknown,
            },
            reason: refund.reason.clone(),
            // The engine works out the fee share (`fee_share_refunded`).
            application_fee_refunded: None,
            transfer_reversal: id_of(refund.transfer_reversal.as_ref()),
        })
    }

    /// Sends a transfer (seed 002 `POST /transfers`).
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn create_platform_transfer(
        &self,
        request: &PlatformTransferRequest,
    ) -> Result<TransferView, GatewayError> {
        let mut create = CreateTransfer::new(
            stripe_currency(request.amount.currency()),
            request.account_id.as_str(),
        )
        .amount(request.amount.amount_minor());
        if let Some(description) = &request.description {
            create = create.description(description.as_str());
        }
        if let Some(group) = &request.transfer_group {
            create = create.transfer_group(group.as_str());
        }
        if !request.metadata.is_empty() {
            create = create.metadata(to_hash(&request.metadata));
        }
        let key = key_or_fresh(request.idempotency_key.as_ref(), "transfer")?;
        let t: wire::Transfer = self
            .transport
            .send(
                &create,
                Call::keyed(request.source_account.as_ref(), &key),
                "transfer",
            )
            .await?;
        transfer_from_wire(&t)
    }

    /// Retrieves a transfer.
    ///
    /// # Errors
    /// [`GatewayError`] (`NotFound` when it does not exist).
    pub async fn transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<TransferView, GatewayError> {
        transfer_from_wire(&self.fetch_transfer(source_account, id).await?)
    }

    /// Every transfer of a `transfer_group`, following Stripe's pages.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn transfers_in_group(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
    ) -> Result<Vec<TransferView>, GatewayError> {
        let mut out = Vec::new();
        self.scan_group(source_account, transfer_group, |t| {
            out.push(transfer_from_wire(t)?);
            Ok(std::ops::ControlFlow::Continue(()))
        })
        .await?;
        Ok(out)
    }

    /// Reverses a transfer in full or in part.
    ///
    /// # Errors
    /// [`GatewayError`]; reversing more than is left is `InvalidRequest`
    /// (`amount_too_large`).
    pub async fn reverse_platform_transfer(
        &self,
        id: &TransferId,
        request: &ReverseTransferRequest,
    ) -> Result<ReversalView, GatewayError> {
        let key = key_or_fresh(request.idempotency_key.as_ref(), "reversal")?;
        let metadata = (!request.metadata.is_empty()).then(|| to_hash(&request.metadata));
        let (reversal, transfer) = self
            .reverse(
                request.source_account.as_ref(),
                id,
                request.amount,
                request.description.as_deref(),
                metadata,
                &key,
            )
            .await?;
        Ok(ReversalView {
            reversal_id: parse_id(
                TransferReversalId::parse(reversal.id.clone()),
                "reversal id",
            )?,
            transfer_id: parse_id(TransferId::parse(reversal.transfer.id()), "transfer id")?,
            amount: money(reversal.amount, &reversal.currency, "reversal amount")?,
            transfer_amount_reversed: money(
                transfer.amount_reversed,
                &transfer.currency,
                "transfer amount reversed",
            )?,
            transfer_reversed: transfer.reversed || transfer.amount_reversed >= transfer.amount,
        })
    }

    /// A page of a connected account's payouts to its bank, newest first.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn list_payouts(
        &self,
        account: &AccountId,
        params: &ListParams,
    ) -> Result<Page<PayoutView>, GatewayError> {
        let mut list = ListPayout::new();
        if let Some(limit) = list_limit(params) {
            list = list.limit(limit);
        }
        if let Some(after) = &params.starting_after {
            list = list.starting_after(after.as_str());
        }
        let page: wire::List<wire::Payout> = self
            .transport
            .send(&list, Call::on(Some(account)), "payout list")
            .await?;
        Ok(Page {
            data: page
                .data
                .iter()
                .map(payout_from_wire)
                .collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }

    /// The platform's balance.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn platform_balance(&self) -> Result<BalanceView, GatewayError> {
        self.balance(None).await
    }

    /// A connected account's balance.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn account_balance(&self, account: &AccountId) -> Result<BalanceView, GatewayError> {
        self.balance(Some(account)).await
    }

    async fn balance(&self, account: Option<&AccountId>) -> Result<BalanceView, GatewayError> {
        let b: wire::Balance = self
            .transport
            .send(
                &RetrieveForMyAccountBalance::new(),
                Call::on(account),
                "balance",
            )
            .await?;
        let amounts = |list: &[wire::Amount]| -> Result<Vec<Money>, GatewayError> {
            list.iter()
                .map(|a| money(a.amount, &a.currency, "balance"))
                .collect()
        };
        Ok(BalanceView {
            available: amounts(&b.available)?,
            pending: amounts(&b.pending)?,
            connect_reserved: amounts(&b.connect_reserved)?,
        })
    }

    /// A page of disputes: the platform's (`None`) or a connected account's.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn list_disputes(
        &self,
        account: Option<&AccountId>,
        params: &ListParams,
    ) -> Result<Page<DisputeView>, GatewayError> {
        let mut list = ListDispute::new();
        if let Some(limit) = list_limit(params) {
            list = list.limit(limit);
        }
        if let Some(after) = &params.starting_after {
            list = list.starting_after(after.as_str());
        }
        let page: wire::List<wire::Dispute> = self
            .transport
            .send(&list, Call::on(account), "dispute list")
            .await?;
        Ok(Page {
            data: page
                .data
                .iter()
                .map(|d| dispute_from_wire(d, account))
                .collect::<Result<_, _>>()?,
            has_more: page.has_more,
        })
    }

    /// Adds evidence to a dispute; `submit` sends it to the bank (Stripe's
    /// default), otherwise it is only staged.
    ///
    /// # Errors
    /// [`GatewayError`], classified.
    pub async fn update_dispute_evidence(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        evidence: &DisputeEvidence,
        submit: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<DisputeView, GatewayError> {
        let update = UpdateDispute::new(dispute.as_str())
            .evidence(evidence_request(evidence))
            .submit(submit);
        let key = key_or_fresh(key, "dispute-evidence")?;
        let d: wire::Dispute = self
            .transport
            .send(&update, Call::keyed(account, &key), "dispute")
            .await?;
        dispute_from_wire(&d, account)
    }
}

// ---------------------------------------------------------------- the ports

#[async_trait::async_trait]
impl payouts_domain::ports::PlatformGateway for StripeGateway {
    async fn create_account(
        &self,
        request: &CreateAccountRequest,
    ) -> Result<AccountView, GatewayError> {
        StripeGateway::create_account(self, request).await
    }

    async fn retrieve_account(&self, account: &AccountId) -> Result<AccountView, GatewayError> {
        StripeGateway::retrieve_account(self, account).await
    }

    async fn update_payout_schedule(
        &self,
        account: &AccountId,
        schedule: &PayoutSchedule,
        key: Option<&IdempotencyKey>,
    ) -> Result<PayoutSchedule, GatewayError> {
        StripeGateway::update_payout_schedule(self, account, schedule, key).await
    }

    async fn create_payment_intent(
        &self,
        request: &CreatePaymentIntentRequest,
    ) -> Result<PaymentIntentView, GatewayError> {
        StripeGateway::create_payment_intent(self, request).await
    }

    async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
        on_account: Option<&AccountId>,
    ) -> Result<PaymentIntentView, GatewayError> {
        StripeGateway::retrieve_payment_intent(self, id, on_account).await
    }

    async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        key: Option<&IdempotencyKey>,
    ) -> Result<PaymentIntentView, GatewayError> {
        StripeGateway::capture_payment_intent(self, id, amount_to_capture, key).await
    }

    async fn refund_payment(&self, request: &RefundRequest) -> Result<RefundView, GatewayError> {
        StripeGateway::refund_payment(self, request).await
    }

    async fn create_platform_transfer(
        &self,
        request: &PlatformTransferRequest,
    ) -> Result<TransferView, GatewayError> {
        StripeGateway::create_platform_transfer(self, request).await
    }

    async fn platform_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<TransferView, GatewayError> {
        StripeGateway::transfer(self, source_account, id).await
    }

    async fn reverse_platform_transfer(
        &self,
        id: &TransferId,
        request: &ReverseTransferRequest,
    ) -> Result<ReversalView, GatewayError> {
        StripeGateway::reverse_platform_transfer(self, id, request).await
    }

    async fn list_payouts(
        &self,
        account: &AccountId,
        params: &ListParams,
    ) -> Result<Page<PayoutView>, GatewayError> {
        StripeGateway::list_payouts(self, account, params).await
    }

    async fn balance(&self, account: Option<&AccountId>) -> Result<BalanceView, GatewayError> {
        StripeGateway::balance(self, account).await
    }

    async fn list_disputes(
        &self,
        account: Option<&AccountId>,
        params: &ListParams,
    ) -> Result<Page<DisputeView>, GatewayError> {
        StripeGateway::list_disputes(self, account, params).await
    }

    async fn update_dispute_evidence(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        evidence: &DisputeEvidence,
        submit: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<DisputeView, GatewayError> {
        StripeGateway::update_dispute_evidence(self, account, dispute, evidence, submit, key).await
    }
}

impl payouts_domain::ports::EventVerifier for StripeGateway {
    fn verify_event(
        &self,
        signature: Option<&str>,
        payload: &[u8],
        now: OffsetDateTime,
    ) -> Result<payouts_domain::events::InboundEvent, payouts_domain::ports::WebhookRejected> {
        self.webhooks()
            .verify_and_parse(signature, payload, now)
            .map_err(|e| payouts_domain::ports::WebhookRejected(e.to_string()))
    }

    fn call_counts(&self) -> Vec<(&'static str, u64)> {
        self.call_stats().snapshot()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_round_trip_and_unknown_is_not_sent() {
        let wire = wire::Schedule {
            delay_days: Some(2),
            interval: Some("weekly".to_owned()),
            weekly_anchor: Some("friday".to_owned()),
            monthly_anchor: None,
        };
        let s = schedule_from_wire(&wire);
        assert_eq!(s.interval, PayoutInterval::Weekly);
        assert_eq!(s.weekly_anchor, Some(Weekday::Friday));
        assert!(schedule_request(&s).is_ok());
        let odd = schedule_from_wire(&wire::Schedule {
            interval: Some("fortnightly".to_owned()),
            ..wire::Schedule::default()
        });
        assert_eq!(odd.interval, PayoutInterval::Unknown);
        assert!(schedule_request(&odd).is_err());
    }
}
