//! The Stripe gateways of payouts and Connect (`PayoutGateway`,
//! `ConnectGateway`) and their errors.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::connection::AccountSnapshot;
use crate::crossborder::ServiceAgreement;
use crate::ids::{
    AccountId, BatchId, CouponCode, IdempotencyKey, MembershipId, MerchantId, PayoutItemId,
    PromotionCodeId, StateToken, TransferId, TransferReversalId,
};
use crate::money::Money;
use crate::partner::OnboardingState;

/// How a Stripe failure matters to the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// `balance_insufficient` / `insufficient_funds`: the ladder retries in 24 h.
    InsufficientBalance,
    /// `account_inactive`: the merchant's account; payouts wait for the merchant.
    AccountInactive,
    /// The destination is invalid or cannot receive transfers.
    CannotReceive,
    /// 429 or `lock_timeout`: ambiguous; re-send with the same key.
    RateLimited,
    /// 5xx, timeout, connection error, 409 key in use: ambiguous; re-send
    /// with the same key.
    Ambiguous,
    /// `idempotency_error`: the same key with other parameters. A bug; terminal.
    IdempotencyMismatch,
    /// Another 400: terminal.
    InvalidRequest,
    /// The object does not exist (404).
    NotFound,
}

impl FailureKind {
    /// True when the outcome is unknown and the request may be re-sent with
    /// the same idempotency key.
    pub const fn is_ambiguous(&self) -> bool {
        match self {
            FailureKind::RateLimited | FailureKind::Ambiguous => true,
            FailureKind::InsufficientBalance
            | FailureKind::AccountInactive
            | FailureKind::CannotReceive
            | FailureKind::IdempotencyMismatch
            | FailureKind::InvalidRequest
            | FailureKind::NotFound => false,
        }
    }

    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            FailureKind::InsufficientBalance => "insufficient_balance",
            FailureKind::AccountInactive => "account_inactive",
            FailureKind::CannotReceive => "cannot_receive",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Ambiguous => "ambiguous",
            FailureKind::IdempotencyMismatch => "idempotency_mismatch",
            FailureKind::InvalidRequest => "invalid_request",
            FailureKind::NotFound => "not_found",
        }
    }

    /// Parses the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "insufficient_balance" => FailureKind::InsufficientBalance,
            "account_inactive" => FailureKind::AccountInactive,
            "cannot_receive" => FailureKind::CannotReceive,
            "rate_limited" => FailureKind::RateLimited,
            "ambiguous" => FailureKind::Ambiguous,
            "idempotency_mismatch" => FailureKind::IdempotencyMismatch,
            "invalid_request" => FailureKind::InvalidRequest,
            "not_found" => FailureKind::NotFound,
            _ => return None,
        })
    }
}

/// A Stripe failure, classified at the adapter's edge.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} ({}): {message}", kind.as_str(), code.as_deref().unwrap_or("-"))]
pub struct GatewayError {
    /// The classification.
    pub kind: FailureKind,
    /// Stripe's error code, when it sent one.
    pub code: Option<String>,
    /// A message for operators (never containing secrets).
    pub message: String,
    /// What Stripe said when it refused the request (a 4xx with an error
    /// body): what an API caller may be shown as Stripe gave it.
    pub refusal: Option<StripeRefusal>,
}

/// Stripe's own words when it refuses a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StripeRefusal {
    /// `card_error` (the payment method was declined) rather than
    /// `invalid_request_error`.
    pub card_error: bool,
    /// Stripe's `param`, when it named one.
    pub param: Option<String>,
    /// Stripe's `message`.
    pub message: String,
}

impl GatewayError {
    /// An error of `kind` with Stripe's `code`.
    pub fn new(kind: FailureKind, code: Option<&str>, message: impl Into<String>) -> Self {
        GatewayError {
            kind,
            code: code.map(str::to_owned),
            message: message.into(),
            refusal: None,
        }
    }

    /// The same error, carrying Stripe's refusal.
    #[must_use]
    pub fn refused(mut self, refusal: StripeRefusal) -> Self {
        self.refusal = Some(refusal);
        self
    }
}

/// A transfer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    /// The item it pays (sent as metadata `item_id`).
    pub item_id: PayoutItemId,
    /// The batch (metadata `batch_id`).
    pub batch_id: BatchId,
    /// The merchant (metadata `merchant_id`).
    pub merchant_id: MerchantId,
    /// The attempt number (metadata `attempt`).
    pub attempt: u32,
    /// The attempt's idempotency key.
    pub key: IdempotencyKey,
    /// The amount.
    pub amount: Money,
    /// The partner's account.
    pub destination: AccountId,
    /// The merchant's account when the money comes from it (sent as
    /// `Stripe-Account`); `None` sends from the platform's balance.
    pub source_account: Option<AccountId>,
    /// `transfer_group`: one per batch.
    pub transfer_group: String,
}

/// A transfer as Stripe reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// Its id.
    pub id: TransferId,
    /// The amount.
    pub amount: Money,
    /// Total reversed so far.
    pub amount_reversed: Money,
    /// Where it went.
    pub destination: AccountId,
    /// Its `transfer_group`.
    pub transfer_group: Option<String>,
    /// Its metadata `item_id`, when it has one.
    pub item_id: Option<PayoutItemId>,
}

/// A transfer reversal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TransferReversal {
    /// Its id.
    pub id: TransferReversalId,
    /// This reversal's amount.
    pub amount: Money,
    /// The transfer's total reversed after it.
    pub transfer_amount_reversed: Money,
}

/// Where a page of [`PayoutGateway::list_transfers`] starts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferPageRequest {
    /// At most this many transfers (1 to [`MAX_TRANSFER_PAGE`]; 0 asks for
    /// the most).
    pub limit: u32,
    /// The transfers after this one, in the order Stripe lists them
    /// (`starting_after`); the first page when `None`.
    pub starting_after: Option<TransferId>,
}

/// The most transfers Stripe lists in one page.
pub const MAX_TRANSFER_PAGE: u32 = 100;

impl TransferPageRequest {
    /// The first page of `limit` transfers.
    pub fn first(limit: u32) -> Self {
        TransferPageRequest {
            limit,
            starting_after: None,
        }
    }

    /// The limit Stripe is sent: 1 to [`MAX_TRANSFER_PAGE`].
    pub fn limit(&self) -> u32 {
        if self.limit == 0 {
            MAX_TRANSFER_PAGE
        } else {
            self.limit.min(MAX_TRANSFER_PAGE)
        }
    }
}

/// One page of transfers, as Stripe lists them (newest first).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TransferPage {
    /// The transfers.
    pub data: Vec<Transfer>,
    /// True when more follow the last one.
    pub has_more: bool,
}

/// The Stripe operations payouts need.
#[async_trait]
pub trait PayoutGateway: Send + Sync {
    /// Creates a transfer with the request's idempotency key.
    ///
    /// # Errors
    /// [`GatewayError`], classified; ambiguous kinds mean the transfer may or
    /// may not exist and the same key must be re-sent.
    async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, GatewayError>;

    /// Looks up the transfer of `item` in `transfer_group` (by metadata).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn find_transfer(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        item: PayoutItemId,
    ) -> Result<Option<Transfer>, GatewayError>;

    /// One page of the transfers of `transfer_group` sent from
    /// `source_account` (`None`: the platform), as that account sees them:
    /// another account's transfers in the same group are not listed.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn list_transfers(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        page: &TransferPageRequest,
    ) -> Result<TransferPage, GatewayError>;

    /// Retrieves a transfer.
    ///
    /// # Errors
    /// [`GatewayError`] ([`FailureKind::NotFound`] when it does not exist).
    async fn retrieve_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<Transfer, GatewayError>;

    /// Reverses `amount` of a transfer (all that remains when `None`).
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn reverse_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
        amount: Option<Money>,
        key: &IdempotencyKey,
    ) -> Result<TransferReversal, GatewayError>;
}

/// What Stripe's OAuth token endpoint returned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthGrant {
    /// `stripe_user_id`.
    pub account_id: AccountId,
    /// `scope`.
    pub scope: String,
    /// `livemode`.
    pub livemode: bool,
}

/// A Stripe-hosted link (onboarding or Express dashboard).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostedLink {
    /// The URL.
    pub url: String,
    /// When it stops working.
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
}

/// An account link's purpose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkKind {
    /// `account_onboarding`.
    Onboarding,
    /// `account_update`.
    Update,
}

/// A partner's Express account to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpressAccountRequest {
    /// The membership it is for (metadata and idempotency).
    pub membership_id: MembershipId,
    /// The partner's e-mail.
    pub email: String,
    /// ISO country.
    pub country: String,
    /// The service agreement: `recipient` for a partner outside the
    /// platform's country (sent as `tos_acceptance[service_agreement]`, with
    /// only the `transfers` capability), `full` (Stripe's default) otherwise.
    pub service_agreement: ServiceAgreement,
    /// Idempotency key.
    pub key: IdempotencyKey,
}

/// A promotion code to create on the merchant's account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotionCodeRequest {
    /// The merchant's account.
    pub merchant_account: AccountId,
    /// The code customers type.
    pub code: CouponCode,
    /// The merchant's Stripe coupon it applies.
    pub coupon: String,
    /// The membership it attributes to (metadata).
    pub membership_id: MembershipId,
    /// Idempotency key.
    pub key: IdempotencyKey,
}

/// The Stripe Connect operations onboarding and OAuth need.
#[cfg_attr(feature = "mock", mockall::automock)]
#[async_trait]
pub trait ConnectGateway: Send + Sync {
    /// The Connect OAuth authorize URL (Standard, `read_write`) for `state`.
    fn authorize_url(&self, state: &StateToken) -> String;

    /// Exchanges an authorization code.
    ///
    /// # Errors
    /// [`GatewayError`]; an invalid or used code is [`FailureKind::InvalidRequest`].
    async fn exchange_code(&self, code: &str) -> Result<OAuthGrant, GatewayError>;

    /// Revokes the platform's access to an account.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn deauthorize(&self, account: &AccountId) -> Result<(), GatewayError>;

    /// Creates a partner's Express account with the `transfers` capability.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_express_account(
        &self,
        request: &ExpressAccountRequest,
    ) -> Result<AccountId, GatewayError>;

    /// An onboarding or update link.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn account_link(
        &self,
        account: &AccountId,
        kind: LinkKind,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<HostedLink, GatewayError>;

    /// An Express dashboard login link.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn login_link(&self, account: &AccountId) -> Result<HostedLink, GatewayError>;

    /// The account's onboarding state.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn account_state(&self, account: &AccountId) -> Result<OnboardingState, GatewayError>;

    /// The account as Stripe holds it now (`GET /v1/accounts/{id}`): what
    /// an `account.updated` event is checked against, since Stripe does not
    /// deliver events in order and an older event may arrive last.
    ///
    /// # Errors
    /// [`GatewayError`]: [`FailureKind::NotFound`] for an account Stripe does
    /// not know, [`FailureKind::InvalidRequest`] for one the platform may no
    /// longer read (access revoked).
    async fn account_snapshot(&self, account: &AccountId) -> Result<AccountSnapshot, GatewayError>;

    /// The `fingerprint` of the account's default bank account
    /// (`GET /v1/accounts/{id}/external_accounts?object=bank_account`: the
    /// one that is `default_for_currency`, else the first), or `None` when
    /// it has none yet. Stripe gives one bank account the same fingerprint
    /// at every account of the platform.
    ///
    /// # Errors
    /// [`GatewayError`]: [`FailureKind::NotFound`] for an account Stripe does
    /// not know.
    async fn bank_fingerprint(&self, account: &AccountId) -> Result<Option<String>, GatewayError>;

    /// Creates a promotion code on the merchant's account.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn create_promotion_code(
        &self,
        request: &PromotionCodeRequest,
    ) -> Result<PromotionCodeId, GatewayError>;

    /// Deactivates a promotion code.
    ///
    /// # Errors
    /// [`GatewayError`].
    async fn deactivate_promotion_code(
        &self,
        merchant_account: &AccountId,
        id: &PromotionCodeId,
    ) -> Result<(), GatewayError>;
}
