//! `PlatformGateway`: the Stripe Connect calls of the platform API.

use async_trait::async_trait;

use crate::ids::{AccountId, DisputeId, IdempotencyKey, PaymentIntentId, TransferId};
use crate::platform;

use super::{GatewayError, Page};

/// The Stripe Connect calls of the platform API (seed 002), in domain
/// types. Every write carries an idempotency key: the caller's, or one the
/// adapter mints and reuses for its own retries of that one call.
#[async_trait]
pub trait PlatformGateway: Send + Sync {
    /// Creates a connected account.
    ///
    /// # Errors
    /// [`GatewayError`]; Stripe's refusal is
    /// [`FailureKind::InvalidRequest`](super::FailureKind::InvalidRequest).
    async fn create_account(
        &self,
        request: &platform::CreateAccountRequest,
    ) -> Result<platform::AccountView, GatewayError>;

    /// Reads a connected account.
    ///
    /// # Errors
    /// [`GatewayError`]; an unknown account is
    /// [`FailureKind::NotFound`](super::FailureKind::NotFound).
    async fn retrieve_account(
        &self,
        account: &AccountId,
    ) -> Result<platform::AccountView, GatewayError>;

    /// Replaces an account's payout schedule and returns the saved one.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn update_payout_schedule(
        &self,
        account: &AccountId,
        schedule: &platform::PayoutSchedule,
        key: Option<&IdempotencyKey>,
    ) -> Result<platform::PayoutSchedule, GatewayError>;

    /// Creates a destination-charge payment intent.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_payment_intent(
        &self,
        request: &platform::CreatePaymentIntentRequest,
    ) -> Result<platform::PaymentIntentView, GatewayError>;

    /// Reads a payment intent (on `on_account`, or the platform's).
    ///
    /// # Errors
    /// [`GatewayError`]; an unknown one is
    /// [`FailureKind::NotFound`](super::FailureKind::NotFound).
    async fn retrieve_payment_intent(
        &self,
        id: &PaymentIntentId,
        on_account: Option<&AccountId>,
    ) -> Result<platform::PaymentIntentView, GatewayError>;

    /// Captures an authorized payment intent, all of it or `amount_to_capture`.
    ///
    /// # Errors
    /// [`GatewayError`]; Stripe refuses one not in `requires_capture`.
    async fn capture_payment_intent(
        &self,
        id: &PaymentIntentId,
        amount_to_capture: Option<i64>,
        key: Option<&IdempotencyKey>,
    ) -> Result<platform::PaymentIntentView, GatewayError>;

    /// Refunds a payment intent. The view's `application_fee_refunded` is
    /// left for the engine to work out ([`platform::fee_share_refunded`]).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn refund_payment(
        &self,
        request: &platform::RefundRequest,
    ) -> Result<platform::RefundView, GatewayError>;

    /// Creates a transfer to a connected account.
    ///
    /// # Errors
    /// [`GatewayError`];
    /// [`FailureKind::InsufficientBalance`](super::FailureKind::InsufficientBalance)
    /// when the source cannot pay.
    async fn create_platform_transfer(
        &self,
        request: &platform::PlatformTransferRequest,
    ) -> Result<platform::TransferView, GatewayError>;

    /// Reads a transfer.
    ///
    /// # Errors
    /// [`GatewayError`]; an unknown one is
    /// [`FailureKind::NotFound`](super::FailureKind::NotFound).
    async fn platform_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<platform::TransferView, GatewayError>;

    /// Reverses a transfer, all of what is left or `amount`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn reverse_platform_transfer(
        &self,
        id: &TransferId,
        request: &platform::ReverseTransferRequest,
    ) -> Result<platform::ReversalView, GatewayError>;

    /// One page of an account's payouts to its bank, newest first.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn list_payouts(
        &self,
        account: &AccountId,
        params: &platform::ListParams,
    ) -> Result<Page<platform::PayoutView>, GatewayError>;

    /// The balance of `account`, or the platform's own with `None`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn balance(
        &self,
        account: Option<&AccountId>,
    ) -> Result<platform::BalanceView, GatewayError>;

    /// One page of disputes on `account`, or the platform's with `None`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn list_disputes(
        &self,
        account: Option<&AccountId>,
        params: &platform::ListParams,
    ) -> Result<Page<platform::DisputeView>, GatewayError>;

    /// Saves evidence on a dispute, and submits it when `submit`.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn update_dispute_evidence(
        &self,
        account: Option<&AccountId>,
        dispute: &DisputeId,
        evidence: &platform::DisputeEvidence,
        submit: bool,
        key: Option<&IdempotencyKey>,
    ) -> Result<platform::DisputeView, GatewayError>;
}
