//! [`StripeGateway`]: the domain's [`PayoutGateway`] and [`ConnectGateway`]
//! over Stripe's REST API.

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::str::FromStr;

use async_trait::async_trait;
use payouts_domain::connection::AccountSnapshot;
use payouts_domain::crossborder::ServiceAgreement;
use payouts_domain::ids::{
    AccountId, IdempotencyKey, PayoutItemId, PromotionCodeId, StateToken, TransferId,
    TransferReversalId,
};
use payouts_domain::money::{Currency, Money};
use payouts_domain::partner::{CapabilityStatus, OnboardingState};
use payouts_domain::ports::{
    ConnectGateway, ExpressAccountRequest, GatewayError, HostedLink, LinkKind, OAuthGrant,
    PayoutGateway, PromotionCodeRequest, Transfer, TransferPage, TransferPageRequest,
    TransferRequest, TransferReversal,
};
use secrecy::SecretString;
use stripe_connect::account::{
    CreateAccount, CreateAccountCapabilities, CreateAccountCapabilitiesTransfers,
    CreateAccountType, RetrieveAccount, TosAcceptanceSpecs,
};
use stripe_connect::account_link::{CreateAccountLink, CreateAccountLinkType};
use stripe_connect::external_account::ListAccountExternalAccount;
use stripe_connect::login_link::CreateAccountLoginLink;
use stripe_connect::transfer::{CreateTransfer, ListTransfer, RetrieveTransfer};
use stripe_connect::transfer_reversal::CreateIdTransferReversal;
use stripe_product::promotion_code::{
    CreatePromotionCode, CreatePromotionCodePromotion, CreatePromotionCodePromotionType,
    UpdatePromotionCode,
};

use crate::config::{ConfigError, StripeConfig};
use crate::transport::{Call, RetryPolicy, Transport};
use crate::webhook::WebhookVerifier;
use crate::wire;

/// The Stripe Connect adapter. Cheap to share behind an `Arc`; every call
/// goes through one rate limiter.
pub struct StripeGateway {
    pub(crate) transport: Transport,
    pub(crate) http: reqwest::Client,
    pub(crate) secret_key: SecretString,
    pub(crate) client_id: String,
    pub(crate) connect_base: String,
    pub(crate) redirect_uri: Option<String>,
    pub(crate) webhooks: WebhookVerifier,
}

impl std::fmt::Debug for StripeGateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeGateway")
            .field("transport", &self.transport)
            .field("client_id", &self.client_id)
            .field("connect_base", &self.connect_base)
            .finish_non_exhaustive()
    }
}

impl StripeGateway {
    /// Retrieves one transfer as Stripe sends it.
    pub(crate) async fn fetch_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<wire::Transfer, GatewayError> {
        self.transport
            .send(
                &RetrieveTransfer::new(id.as_str()),
                Call::on(source_account),
                "transfer",
            )
            .await
    }

    /// Pages through the transfers of `transfer_group` (100 at a time),
    /// handing each to `visit` until it breaks or the list ends.
    pub(crate) async fn scan_group(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        mut visit: impl FnMut(&wire::Transfer) -> Result<ControlFlow<()>, GatewayError> + Send,
    ) -> Result<(), GatewayError> {
        let mut after: Option<String> = None;
        loop {
            let mut list = ListTransfer::new()
                .transfer_group(transfer_group)
                .limit(100);
            if let Some(after) = &after {
                list = list.starting_after(after.as_str());
            }
            let page: wire::List<wire::Transfer> = self
                .transport
                .send(&list, Call::on(source_account), "transfer list")
                .await?;
            for t in &page.data {
                if visit(t)?.is_break() {
                    return Ok(());
                }
            }
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.clone()),
                _ => return Ok(()),
            }
        }
    }

    /// Builds the gateway (and installs rustls' ring provider if none is).
    ///
    /// # Errors
    /// [`ConfigError`] when the configuration is invalid or the HTTP client
    /// cannot be built.
    pub fn new(config: StripeConfig) -> Result<Self, ConfigError> {
        config.validate()?;
        // reqwest is built with `rustls-no-provider`; an already installed
        // provider is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(config.request_timeout)
            .connect_timeout(
                config
                    .request_timeout
                    .min(std::time::Duration::from_secs(10)),
            )
            .build()
            .map_err(|e| ConfigError::Invalid {
                field: "http client",
                reason: e.to_string(),
            })?;
        let transport = Transport::new(
            http.clone(),
            &config.api_base,
            config.secret_key.clone(),
            config.effective_budgets(),
            RetryPolicy {
                max_attempts: config.max_attempts,
                base: config.backoff_base,
                max: config.backoff_max,
            },
        );
        Ok(StripeGateway {
            transport,
            http,
            secret_key: config.secret_key,
            client_id: config.client_id,
            connect_base: config.connect_base.trim_end_matches('/').to_owned(),
            redirect_uri: config.redirect_uri,
            webhooks: WebhookVerifier::new(config.webhook_secrets, config.webhook_tolerance),
        })
    }

    /// The webhook verifier built from the configured secrets and tolerance.
    pub fn webhooks(&self) -> &WebhookVerifier {
        &self.webhooks
    }

    /// The `Stripe-Version` every API call sends (async-stripe rc.10's).
    pub fn stripe_version(&self) -> &'static str {
        crate::transport::stripe_version()
    }

    /// The client-side pacer (exposed for pacing tests and metrics).
    pub fn pacer(&self) -> &crate::pacer::Pacer {
        self.transport.pacer()
    }

    /// Stripe HTTP attempts by outcome, for metrics.
    pub fn call_stats(&self) -> &crate::transport::CallStats {
        self.transport.stats()
    }

    /// Attempts per call, as configured.
    pub fn max_attempts(&self) -> u32 {
        self.transport.retry_policy().max_attempts
    }
}

pub(crate) fn stripe_currency(currency: Currency) -> stripe_types::Currency {
    match stripe_types::Currency::from_str(&currency.code().to_ascii_lowercase()) {
        Ok(c) => c,
        Err(never) => match never {},
    }
}

pub(crate) fn to_transfer(t: &wire::Transfer) -> Result<Transfer, GatewayError> {
    let destination = wire::id_of(t.destination.as_ref())
        .ok_or_else(|| crate::error::unreadable("transfer destination", "missing"))?;
    Ok(Transfer {
        id: wire::parse_id(TransferId::parse(t.id.clone()), "transfer id")?,
        amount: wire::money(t.amount, &t.currency, "transfer amount")?,
        amount_reversed: wire::money(t.amount_reversed, &t.currency, "transfer amount")?,
        destination: wire::parse_id(AccountId::parse(destination), "transfer destination")?,
        transfer_group: t.transfer_group.clone(),
        item_id: t
            .metadata
            .get("item_id")
            .and_then(|i| PayoutItemId::parse(i).ok()),
    })
}

/// The fingerprint of the bank account that is `default_for_currency`,
/// else of the first bank account listed.
fn default_bank_fingerprint(accounts: Vec<wire::ExternalAccount>) -> Option<String> {
    let banks: Vec<wire::ExternalAccount> = accounts
        .into_iter()
        .filter(|a| a.object == "bank_account" && a.fingerprint.is_some())
        .collect();
    let default = banks
        .iter()
        .position(|a| a.default_for_currency == Some(true))
        .unwrap_or(0);
    banks.into_iter().nth(default).and_then(|a| a.fingerprint)
}

fn hosted_link(link: &wire::Link) -> Result<HostedLink, GatewayError> {
    Ok(HostedLink {
        url: link.url.clone(),
        expires_at: link
            .expires_at
            .map(|t| wire::timestamp(t, "link expiry"))
            .transpose()?,
    })
}

pub(crate) fn onboarding_state(account: &wire::Account) -> OnboardingState {
    OnboardingState {
        details_submitted: account.details_submitted,
        payouts_enabled: account.payouts_enabled,
        transfers: account
            .capabilities
            .get("transfers")
            .map_or(CapabilityStatus::Inactive, |s| {
                CapabilityStatus::from_stripe(s)
            }),
    }
}

impl StripeGateway {
    /// `GET /v1/accounts/{id}` as the platform.
    pub(crate) async fn connected_account(
        &self,
        account: &AccountId,
    ) -> Result<wire::Account, GatewayError> {
        self.transport
            .send(
                &RetrieveAccount::new(account.as_str()),
                Call::default(),
                "account",
            )
            .await
    }

    /// Reverses `amount` (all when `None`) with `key`, then reads the
    /// transfer's new total reversed.
    pub(crate) async fn reverse(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
        amount: Option<i64>,
        description: Option<&str>,
        metadata: Option<HashMap<String, String>>,
        key: &IdempotencyKey,
    ) -> Result<(wire::TransferReversal, wire::Transfer), GatewayError> {
        let mut request = CreateIdTransferReversal::new(id.as_str());
        if let Some(amount) = amount {
            request = request.amount(amount);
        }
        if let Some(description) = description {
            request = request.description(description);
        }
        if let Some(metadata) = metadata {
            request = request.metadata(metadata);
        }
        let reversal: wire::TransferReversal = self
            .transport
            .send(
                &request,
                Call::keyed(source_account, key),
                "transfer reversal",
            )
            .await?;
        let transfer: wire::Transfer = self
            .transport
            .send(
                &RetrieveTransfer::new(id.as_str()),
                Call::on(source_account),
                "transfer",
            )
            .await?;
        Ok((reversal, transfer))
    }
}

#[async_trait]
impl PayoutGateway for StripeGateway {
    async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, GatewayError> {
        let metadata = HashMap::from([
            ("item_id".to_owned(), request.item_id.to_string()),
            ("batch_id".to_owned(), request.batch_id.to_string()),
            ("merchant_id".to_owned(), request.merchant_id.to_string()),
            ("attempt".to_owned(), request.attempt.to_string()),
        ]);
        let create = CreateTransfer::new(
            stripe_currency(request.amount.currency()),
            request.destination.as_str(),
        )
        .amount(request.amount.amount_minor())
        .transfer_group(request.transfer_group.as_str())
        .metadata(metadata);
        let transfer: wire::Transfer = self
            .transport
            .send(
                &create,
                Call::keyed(request.source_account.as_ref(), &request.key),
                "transfer",
            )
            .await?;
        to_transfer(&transfer)
    }

    async fn find_transfer(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        item: PayoutItemId,
    ) -> Result<Option<Transfer>, GatewayError> {
        let wanted = item.to_string();
        let mut found = None;
        self.scan_group(source_account, transfer_group, |t| {
            if t.metadata.get("item_id") == Some(&wanted) {
                found = Some(to_transfer(t)?);
                return Ok(ControlFlow::Break(()));
            }
            Ok(ControlFlow::Continue(()))
        })
        .await?;
        Ok(found)
    }

    async fn list_transfers(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        page: &TransferPageRequest,
    ) -> Result<TransferPage, GatewayError> {
        let mut list = ListTransfer::new()
            .transfer_group(transfer_group)
            .limit(i64::from(page.limit()));
        if let Some(after) = &page.starting_after {
            list = list.starting_after(after.as_str());
        }
        let listed: wire::List<wire::Transfer> = self
            .transport
            .send(&list, Call::on(source_account), "transfer list")
            .await?;
        Ok(TransferPage {
            data: listed
                .data
                .iter()
                .map(to_transfer)
                .collect::<Result<_, _>>()?,
            has_more: listed.has_more,
        })
    }

    async fn retrieve_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<Transfer, GatewayError> {
        to_transfer(&self.fetch_transfer(source_account, id).await?)
    }

    async fn reverse_transfer(
        &self,
        source_account: Option<&AccountId>,
        id: &TransferId,
        amount: Option<Money>,
        key: &IdempotencyKey,
    ) -> Result<TransferReversal, GatewayError> {
        let (reversal, transfer) = self
            .reverse(
                source_account,
                id,
                amount.map(|m| m.amount_minor()),
                None,
                None,
                key,
            )
            .await?;
        Ok(TransferReversal {
            id: wire::parse_id(
                TransferReversalId::parse(reversal.id.clone()),
                "reversal id",
            )?,
            amount: wire::money(reversal.amount, &reversal.currency, "reversal amount")?,
            transfer_amount_reversed: wire::money(
                transfer.amount_reversed,
                &transfer.currency,
                "transfer amount reversed",
            )?,
        })
    }
}

#[async_trait]
impl ConnectGateway for StripeGateway {
    fn authorize_url(&self, state: &StateToken) -> String {
        self.oauth_authorize_url(state.as_str())
    }

    async fn exchange_code(&self, code: &str) -> Result<OAuthGrant, GatewayError> {
        self.oauth_exchange_code(code).await
    }

    async fn deauthorize(&self, account: &AccountId) -> Result<(), GatewayError> {
        self.oauth_deauthorize(account).await
    }

    async fn create_express_account(
        &self,
        request: &ExpressAccountRequest,
    ) -> Result<AccountId, GatewayError> {
        // Partners only receive transfers: `transfers` is the one capability
        // requested, whatever the agreement (a `recipient` account may not
        // request `card_payments` at all).
        let mut capabilities = CreateAccountCapabilities::new();
        let mut transfers = CreateAccountCapabilitiesTransfers::new();
        transfers.requested = Some(true);
        capabilities.transfers = Some(transfers);
        let mut create = CreateAccount::new()
            .type_(CreateAccountType::Express)
            .country(request.country.as_str())
            .email(request.email.as_str())
            .capabilities(capabilities)
            .metadata(HashMap::from([(
                "membership_id".to_owned(),
                request.membership_id.to_string(),
            )]));
        // Stripe pays cross-border only to `recipient` accounts. `full` is
        // Stripe's default, so a domestic partner's request stays as before.
        if request.service_agreement == ServiceAgreement::Recipient {
            let mut tos = TosAcceptanceSpecs::new();
            tos.service_agreement = Some(request.service_agreement.as_str().to_owned());
            create = create.tos_acceptance(tos);
        }
        let account: wire::Account = self
            .transport
            .send(&create, Call::keyed(None, &request.key), "account")
            .await?;
        wire::parse_id(AccountId::parse(account.id), "account id")
    }

    async fn account_link(
        &self,
        account: &AccountId,
        kind: LinkKind,
        return_url: &str,
        refresh_url: &str,
    ) -> Result<HostedLink, GatewayError> {
        let link_type = match kind {
            LinkKind::Onboarding => CreateAccountLinkType::AccountOnboarding,
            LinkKind::Update => CreateAccountLinkType::AccountUpdate,
        };
        let create = CreateAccountLink::new(account.as_str(), link_type)
            .return_url(return_url)
            .refresh_url(refresh_url);
        let key = crate::platform::fresh_key("account-link")?;
        let link: wire::Link = self
            .transport
            .send(&create, Call::keyed(None, &key), "account link")
            .await?;
        hosted_link(&link)
    }

    async fn login_link(&self, account: &AccountId) -> Result<HostedLink, GatewayError> {
        let key = crate::platform::fresh_key("login-link")?;
        let link: wire::Link = self
            .transport
            .send(
                &CreateAccountLoginLink::new(account.as_str()),
                Call::keyed(None, &key),
                "login link",
            )
            .await?;
        hosted_link(&link)
    }

    async fn account_state(&self, account: &AccountId) -> Result<OnboardingState, GatewayError> {
        Ok(onboarding_state(&self.connected_account(account).await?))
    }

    async fn bank_fingerprint(&self, account: &AccountId) -> Result<Option<String>, GatewayError> {
        // The 2023-08-16 spec takes no `object` filter on this list, so
        // cards are skipped here. An Express account has one or two
        // external accounts, well within one page.
        let list: wire::ExternalAccountList = self
            .transport
            .send(
                &ListAccountExternalAccount::new(account.as_str()).limit(100),
                Call::default(),
                "external accounts",
            )
            .await?;
        Ok(default_bank_fingerprint(list.data))
    }

    async fn account_snapshot(&self, account: &AccountId) -> Result<AccountSnapshot, GatewayError> {
        let account = self.connected_account(account).await?;
        let onboarding = onboarding_state(&account);
        let requirements = account.requirements.as_ref();
        Ok(AccountSnapshot {
            account_id: wire::parse_id(AccountId::parse(account.id.clone()), "account id")?,
            details_submitted: onboarding.details_submitted,
            charges_enabled: account.charges_enabled,
            payouts_enabled: onboarding.payouts_enabled,
            transfers: onboarding.transfers,
            disabled_reason: requirements.and_then(|r| r.disabled_reason.clone()),
            past_due: requirements.is_some_and(|r| !r.past_due.is_empty()),
        })
    }

    async fn create_promotion_code(
        &self,
        request: &PromotionCodeRequest,
    ) -> Result<PromotionCodeId, GatewayError> {
        // API versions since 2025 name the coupon under `promotion`; the
        // sandbox's drift overlay accepts exactly this form.
        let mut promotion =
            CreatePromotionCodePromotion::new(CreatePromotionCodePromotionType::Coupon);
        promotion.coupon = Some(request.coupon.clone());
        let create = CreatePromotionCode::new(promotion)
            .code(request.code.as_str())
            .metadata(HashMap::from([(
                "membership_id".to_owned(),
                request.membership_id.to_string(),
            )]));
        let code: wire::PromotionCode = self
            .transport
            .send(
                &create,
                Call::keyed(Some(&request.merchant_account), &request.key),
                "promotion code",
            )
            .await?;
        wire::parse_id(PromotionCodeId::parse(code.id), "promotion code id")
    }

    async fn deactivate_promotion_code(
        &self,
        merchant_account: &AccountId,
        id: &PromotionCodeId,
    ) -> Result<(), GatewayError> {
        // A fresh key per call: a fixed one would replay an old answer if
        // the code was reactivated in the dashboard within 24 hours.
        let key = crate::platform::fresh_key("promotion-code-deactivate")?;
        let code: wire::PromotionCode = self
            .transport
            .send(
                &UpdatePromotionCode::new(id.as_str()).active(false),
                Call::keyed(Some(merchant_account), &key),
                "promotion code",
            )
            .await?;
        if code.active {
            return Err(crate::error::unreadable(
                "promotion code",
                "still active after deactivation",
            ));
        }
        Ok(())
    }
}
