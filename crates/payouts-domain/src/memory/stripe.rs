//! A scriptable in-memory Stripe: transfers with idempotency keys (kept
//! 24 h by its clock, like Stripe), balances, Express accounts, OAuth codes
//! and promotion codes, plus fault injection and a ledger to inspect.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use time::{Duration, OffsetDateTime};

use super::lock;
use crate::connection::AccountSnapshot;
use crate::crossborder::ServiceAgreement;
use crate::ids::{
    AccountId, CouponCode, IdempotencyKey, PayoutItemId, PromotionCodeId, StateToken, TransferId,
    TransferReversalId,
};
use crate::money::{Currency, Money};
use crate::partner::{CapabilityStatus, OnboardingState};
use crate::ports::{
    Clock, ConnectGateway, ExpressAccountRequest, FailureKind, GatewayError, HostedLink, LinkKind,
    OAuthGrant, PayoutGateway, PromotionCodeRequest, Transfer, TransferPage, TransferPageRequest,
    TransferRequest, TransferReversal,
};

/// How long Stripe keeps an idempotency key.
const KEY_RETENTION: Duration = Duration::hours(24);

/// A fault to inject into the next transfer creations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScriptedFault {
    /// Refuse without creating anything.
    Fail(GatewayError),
    /// Create the transfer, then answer as if the connection timed out.
    CommitThenTimeout,
}

/// One transfer in the fake's ledger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// The transfer.
    pub transfer: Transfer,
    /// The key it was created with.
    pub key: IdempotencyKey,
    /// The account it was sent from (`None`: the platform).
    pub source: Option<AccountId>,
    /// When.
    pub created_at: OffsetDateTime,
}

#[derive(Debug, Default)]
pub(super) struct Fake {
    counter: u64,
    transfers: BTreeMap<TransferId, LedgerEntry>,
    keys: HashMap<(Option<AccountId>, IdempotencyKey), (String, TransferId, OffsetDateTime)>,
    pub(super) balances: HashMap<(Option<AccountId>, Currency), i64>,
    pub(super) accounts: HashMap<AccountId, OnboardingState>,
    /// Accounts as `account_snapshot` shows them, where set
    /// ([`InMemoryStripe::set_account`]); other known accounts are derived
    /// from their onboarding state.
    snapshots: HashMap<AccountId, AccountSnapshot>,
    /// The fingerprint of each account's default bank account, where one
    /// was added ([`InMemoryStripe::set_bank_account`]).
    bank_fingerprints: HashMap<AccountId, String>,
    /// The platform API's objects (`memory/platform.rs`).
    pub(super) platform: super::platform::PlatformState,
    account_keys: HashMap<IdempotencyKey, AccountId>,
    /// Express accounts created through the Connect gateway: their country
    /// and the service agreement they were created under.
    express_accounts: HashMap<AccountId, (String, ServiceAgreement)>,
    oauth_codes: HashMap<String, AccountId>,
    /// Accounts that ever connected through OAuth.
    oauth_accounts: std::collections::HashSet<AccountId>,
    deauthorized: Vec<AccountId>,
    promotion_codes: HashMap<PromotionCodeId, (AccountId, CouponCode, bool)>,
    faults: VecDeque<ScriptedFault>,
    calls: u64,
    /// Transfers yield to the executor once before answering.
    transfers_yield: bool,
    in_flight: u32,
    max_in_flight: u32,
}

/// A future that is pending once (waking itself), then ready: one turn of
/// whatever executor polls it, so that concurrent callers overlap.
#[derive(Debug, Default)]
struct YieldOnce(bool);

impl std::future::Future for YieldOnce {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            std::task::Poll::Ready(())
        } else {
            self.0 = true;
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
}

impl Fake {
    pub(super) fn next(&mut self, prefix: &str) -> String {
        self.counter = self.counter.saturating_add(1);
        format!("{prefix}{:014}", self.counter)
    }
}

/// The scriptable Stripe. Clones share state.
#[derive(Clone)]
pub struct InMemoryStripe {
    pub(super) fake: Arc<Mutex<Fake>>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for InMemoryStripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InMemoryStripe").finish_non_exhaustive()
    }
}

fn gateway_error(kind: FailureKind, code: &str, message: &str) -> GatewayError {
    GatewayError::new(kind, Some(code), message)
}

fn parse<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<T, GatewayError> {
    r.map_err(|e| GatewayError::new(FailureKind::InvalidRequest, None, e.to_string()))
}

impl InMemoryStripe {
    /// A fake whose idempotency keys expire by `clock`. Balances are
    /// unlimited until [`InMemoryStripe::set_balance`] is called for an account.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        InMemoryStripe {
            fake: Arc::new(Mutex::new(Fake::default())),
            clock,
        }
    }

    /// Now, by the fake's clock.
    pub(super) fn now(&self) -> OffsetDateTime {
        self.clock.now()
    }

    /// Makes the next `n` transfer creations fail with `error`, creating nothing.
    pub fn fail_next(&self, n: usize, error: GatewayError) {
        let mut fake = lock(&self.fake);
        fake.faults
            .extend(std::iter::repeat_n(ScriptedFault::Fail(error), n));
    }

    /// Makes the next `n` transfer creations commit and then report a timeout.
    pub fn commit_then_timeout_next(&self, n: usize) {
        let mut fake = lock(&self.fake);
        fake.faults
            .extend(std::iter::repeat_n(ScriptedFault::CommitThenTimeout, n));
    }

    /// Sets the available balance of `account` (`None`: the platform) in a
    /// currency; from then on, transfers that would overdraw it fail with
    /// `balance_insufficient`.
    pub fn set_balance(&self, account: Option<&AccountId>, balance: Money) {
        lock(&self.fake).balances.insert(
            (account.cloned(), balance.currency()),
            balance.amount_minor(),
        );
    }

    /// The available balance, if one was set.
    pub fn balance(&self, account: Option<&AccountId>, currency: Currency) -> Option<Money> {
        lock(&self.fake)
            .balances
            .get(&(account.cloned(), currency))
            .map(|minor| Money::new(*minor, currency))
    }

    /// Completes an account's onboarding: details submitted, payouts
    /// enabled, `transfers` active.
    pub fn complete_onboarding(&self, account: &AccountId) {
        let mut fake = lock(&self.fake);
        fake.accounts.insert(
            account.clone(),
            OnboardingState {
                details_submitted: true,
                payouts_enabled: true,
                transfers: CapabilityStatus::Active,
            },
        );
        if let Some(snapshot) = fake.snapshots.get_mut(account) {
            snapshot.details_submitted = true;
            snapshot.payouts_enabled = true;
            snapshot.transfers = CapabilityStatus::Active;
        }
    }

    /// Sets an account as Stripe holds it now (what `account_snapshot`
    /// answers); a partner's onboarding state follows it.
    pub fn set_account(&self, snapshot: AccountSnapshot) {
        let mut fake = lock(&self.fake);
        if let Some(onboarding) = fake.accounts.get_mut(&snapshot.account_id) {
            *onboarding = OnboardingState {
                details_submitted: snapshot.details_submitted,
                payouts_enabled: snapshot.payouts_enabled,
                transfers: snapshot.transfers,
            };
        }
        fake.snapshots.insert(snapshot.account_id.clone(), snapshot);
    }

    /// Gives an account a default bank account with this `fingerprint`
    /// (what `bank_fingerprint` answers), as a partner does in Express
    /// onboarding; the same bank account has the same fingerprint at every
    /// account.
    pub fn set_bank_account(&self, account: &AccountId, fingerprint: &str) {
        lock(&self.fake)
            .bank_fingerprints
            .insert(account.clone(), fingerprint.to_owned());
    }

    /// Issues an OAuth code that `exchange_code` turns into `account`.
    pub fn issue_oauth_code(&self, account: &AccountId) -> String {
        let mut fake = lock(&self.fake);
        let code = fake.next("ac_");
        fake.oauth_codes.insert(code.clone(), account.clone());
        code
    }

    /// Every transfer ever created, in creation order.
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        let mut entries: Vec<LedgerEntry> = lock(&self.fake).transfers.values().cloned().collect();
        entries.sort_by(|a, b| {
            a.created_at
                .cmp(&b.created_at)
                .then(a.transfer.id.cmp(&b.transfer.id))
        });
        entries
    }

    /// The transfers carrying metadata `item_id = item`.
    pub fn transfers_for_item(&self, item: PayoutItemId) -> Vec<LedgerEntry> {
        self.ledger()
            .into_iter()
            .filter(|e| e.transfer.item_id == Some(item))
            .collect()
    }

    /// The transfer created with `key`, if any.
    pub fn transfer_by_key(&self, key: &IdempotencyKey) -> Option<LedgerEntry> {
        self.ledger().into_iter().find(|e| e.key == *key)
    }

    /// The country and service agreement an Express account was created
    /// with, as `create_express_account` sent them.
    pub fn express_account(&self, account: &AccountId) -> Option<(String, ServiceAgreement)> {
        lock(&self.fake).express_accounts.get(account).cloned()
    }

    /// Accounts deauthorized so far.
    pub fn deauthorized(&self) -> Vec<AccountId> {
        lock(&self.fake).deauthorized.clone()
    }

    /// Promotion codes and whether each is active.
    pub fn promotion_codes(&self) -> Vec<(PromotionCodeId, CouponCode, bool)> {
        lock(&self.fake)
            .promotion_codes
            .iter()
            .map(|(id, (_, code, active))| (id.clone(), code.clone(), *active))
            .collect()
    }

    /// Makes every transfer creation yield to the executor once before it
    /// answers, as a network call would, so that concurrent calls overlap
    /// and [`InMemoryStripe::max_transfers_in_flight`] can count them.
    pub fn yield_on_transfers(&self) {
        lock(&self.fake).transfers_yield = true;
    }

    /// The most transfer creations that were in flight at once (counted
    /// only after [`InMemoryStripe::yield_on_transfers`]).
    pub fn max_transfers_in_flight(&self) -> u32 {
        lock(&self.fake).max_in_flight
    }

    /// Creates a transfer behind the engine's back, as someone with the
    /// account's keys could (the dashboard, another integration): no
    /// idempotency key of ours, no fault, no balance check. Its metadata
    /// `item_id` is `item`, if given.
    pub fn inject_transfer(
        &self,
        source: Option<&AccountId>,
        destination: &AccountId,
        amount: Money,
        transfer_group: &str,
        item: Option<PayoutItemId>,
    ) -> Result<Transfer, GatewayError> {
        let now = self.clock.now();
        let mut fake = lock(&self.fake);
        let id = parse(TransferId::parse(fake.next("tr_")))?;
        let key = IdempotencyKey::derived(format!("out-of-band-{id}"));
        let transfer = Transfer {
            id: id.clone(),
            amount,
            amount_reversed: Money::zero(amount.currency()),
            destination: destination.clone(),
            transfer_group: Some(transfer_group.to_owned()),
            item_id: item,
        };
        fake.transfers.insert(
            id,
            LedgerEntry {
                transfer: transfer.clone(),
                key,
                source: source.cloned(),
                created_at: now,
            },
        );
        Ok(transfer)
    }

    /// Rewrites a transfer's amount (and currency) as Stripe holds it: a
    /// difference no real Stripe produces, for testing that reconciliation
    /// sees one. Returns false when there is no such transfer.
    pub fn alter_transfer_amount(&self, id: &TransferId, amount: Money) -> bool {
        let mut fake = lock(&self.fake);
        let Some(entry) = fake.transfers.get_mut(id) else {
            return false;
        };
        entry.transfer.amount = amount;
        entry.transfer.amount_reversed = Money::zero(amount.currency());
        true
    }

    /// Forgets a transfer, as if Stripe had never created it: for testing
    /// that reconciliation sees one of ours missing. Returns false when
    /// there is no such transfer.
    pub fn forget_transfer(&self, id: &TransferId) -> bool {
        lock(&self.fake).transfers.remove(id).is_some()
    }

    /// How many transfer creations were attempted, faults included.
    pub fn transfer_calls(&self) -> u64 {
        lock(&self.fake).calls
    }

    fn fingerprint(request: &TransferRequest) -> String {
        format!(
            "{}|{}|{}|{}|{}",
            request.amount.amount_minor(),
            request.amount.currency(),
            request.destination,
            request.transfer_group,
            request.item_id
        )
    }
}

#[async_trait]
impl PayoutGateway for InMemoryStripe {
    async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, GatewayError> {
        let yields = {
            let mut fake = lock(&self.fake);
            if fake.transfers_yield {
                fake.in_flight = fake.in_flight.saturating_add(1);
                fake.max_in_flight = fake.max_in_flight.max(fake.in_flight);
            }
            fake.transfers_yield
        };
        if yields {
            YieldOnce::default().await;
            let mut fake = lock(&self.fake);
            fake.in_flight = fake.in_flight.saturating_sub(1);
        }
        let now = self.clock.now();
        let mut fake = lock(&self.fake);
        fake.calls = fake.calls.saturating_add(1);
        let fault = fake.faults.pop_front();
        if let Some(ScriptedFault::Fail(error)) = fault {
            return Err(error);
        }
        let fingerprint = Self::fingerprint(request);
        let key_slot = (request.source_account.clone(), request.key.clone());
        // Stripe forgets keys after 24 h: a stale key creates a new transfer.
        if let Some((seen, id, at)) = fake.keys.get(&key_slot).cloned()
            && now < at.saturating_add(KEY_RETENTION)
        {
            if seen != fingerprint {
                return Err(gateway_error(
                    FailureKind::IdempotencyMismatch,
                    "idempotency_error",
                    "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                ));
            }
            let replay = fake.transfers.get(&id).map(|e| e.transfer.clone());
            return replay.ok_or_else(|| {
                gateway_error(FailureKind::Ambiguous, "api_error", "lost transfer")
            });
        }
        let receivable = fake
            .accounts
            .get(&request.destination)
            .is_some_and(OnboardingState::can_receive_transfers);
        if !receivable {
            return Err(gateway_error(
                FailureKind::CannotReceive,
                "insufficient_capabilities_for_transfer",
                "The destination account cannot receive transfers.",
            ));
        }
        let balance_slot = (request.source_account.clone(), request.amount.currency());
        if let Some(available) = fake.balances.get(&balance_slot).copied() {
            if available < request.amount.amount_minor() {
                return Err(gateway_error(
                    FailureKind::InsufficientBalance,
                    "balance_insufficient",
                    "You have insufficient available funds in your Stripe account.",
                ));
            }
            fake.balances.insert(
                balance_slot,
                available.saturating_sub(request.amount.amount_minor()),
            );
        }
        let id = parse(TransferId::parse(fake.next("tr_")))?;
        let transfer = Transfer {
            id: id.clone(),
            amount: request.amount,
            amount_reversed: Money::zero(request.amount.currency()),
            destination: request.destination.clone(),
            transfer_group: Some(request.transfer_group.clone()),
            item_id: Some(request.item_id),
        };
        fake.transfers.insert(
            id.clone(),
            LedgerEntry {
                transfer: transfer.clone(),
                key: request.key.clone(),
                source: request.source_account.clone(),
                created_at: now,
            },
        );
        fake.keys.insert(key_slot, (fingerprint, id, now));
        if fault == Some(ScriptedFault::CommitThenTimeout) {
            return Err(gateway_error(
                FailureKind::Ambiguous,
                "timeout",
                "the response was lost",
            ));
        }
        Ok(transfer)
    }

    async fn find_transfer(
        &self,
        source_account: Option<&AccountId>,
        transfer_group: &str,
        item: PayoutItemId,
    ) -> Result<Option<Transfer>, GatewayError> {
        Ok(lock(&self.fake)
            .transfers
            .values()
            .find(|e| {
                e.source.as_ref() == source_account
                    && e.transfer.transfer_group.as_deref() == Some(transfer_group)
                    && e.transfer.item_id == Some(item)
            })
            .map(|e| e.transfer.clone()))
    }

    async fn list_transfers(
        &self,
        source: Option<&AccountId>,
        transfer_group: &str,
        page: &TransferPageRequest,
    ) -> Result<TransferPage, GatewayError> {
        let fake = lock(&self.fake);
        // Stripe lists newest first; ids here grow with creation, and an
        // account sees only the transfers it sent.
        let listed = fake.transfers.values().rev().filter(|e| {
            e.source.as_ref() == source
                && e.transfer.transfer_group.as_deref() == Some(transfer_group)
        });
        let mut rest: Vec<&LedgerEntry> = match &page.starting_after {
            None => listed.collect(),
            Some(after) => {
                if !fake.transfers.contains_key(after) {
                    return Err(gateway_error(
                        FailureKind::InvalidRequest,
                        "resource_missing",
                        "No such transfer for starting_after",
                    ));
                }
                listed
                    .skip_while(|e| e.transfer.id != *after)
                    .skip(1)
                    .collect()
            }
        };
        let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let has_more = rest.len() > limit;
        rest.truncate(limit);
        Ok(TransferPage {
            data: rest.into_iter().map(|e| e.transfer.clone()).collect(),
            has_more,
        })
    }

    async fn retrieve_transfer(
        &self,
        source: Option<&AccountId>,
        id: &TransferId,
    ) -> Result<Transfer, GatewayError> {
        // As at Stripe, an account's transfers are seen only as that account.
        lock(&self.fake)
            .transfers
            .get(id)
            .filter(|e| e.source.as_ref() == source)
            .map(|e| e.transfer.clone())
            .ok_or_else(|| {
                gateway_error(
                    FailureKind::NotFound,
                    "resource_missing",
                    "No such transfer",
                )
            })
    }

    async fn reverse_transfer(
        &self,
        source: Option<&AccountId>,
        id: &TransferId,
        amount: Option<Money>,
        _key: &IdempotencyKey,
    ) -> Result<TransferReversal, GatewayError> {
        let mut fake = lock(&self.fake);
        let reversal_id = parse(TransferReversalId::parse(fake.next("trr_")))?;
        let entry = fake
            .transfers
            .get_mut(id)
            .filter(|e| e.source.as_ref() == source)
            .ok_or_else(|| {
                gateway_error(
                    FailureKind::NotFound,
                    "resource_missing",
                    "No such transfer",
                )
            })?;
        let remaining = parse(
            entry
                .transfer
                .amount
                .checked_sub(&entry.transfer.amount_reversed),
        )?;
        let amount = amount.unwrap_or(remaining);
        if amount.amount_minor() > remaining.amount_minor() || !amount.is_positive() {
            return Err(gateway_error(
                FailureKind::InvalidRequest,
                "parameter_invalid_integer",
                "Reversal amount exceeds the transfer's remaining amount.",
            ));
        }
        entry.transfer.amount_reversed =
            parse(entry.transfer.amount_reversed.checked_add(&amount))?;
        Ok(TransferReversal {
            id: reversal_id,
            amount,
            transfer_amount_reversed: entry.transfer.amount_reversed,
        })
    }
}

#[async_trait]
impl ConnectGateway for InMemoryStripe {
    fn authorize_url(&self, state: &StateToken) -> String {
        format!(
            "https://connect.stripe.com/oauth/authorize?response_type=code&client_id=ca_test&scope=read_write&state={state}"
        )
    }

    async fn exchange_code(&self, code: &str) -> Result<OAuthGrant, GatewayError> {
        let mut fake = lock(&self.fake);
        let account = fake.oauth_codes.remove(code).ok_or_else(|| {
            gateway_error(
                FailureKind::InvalidRequest,
                "invalid_grant",
                "Authorization code does not exist",
            )
        })?;
        fake.oauth_accounts.insert(account.clone());
        Ok(OAuthGrant {
            account_id: account,
            scope: "read_write".to_owned(),
            livemode: false,
        })
    }

    async fn deauthorize(&self, account: &AccountId) -> Result<(), GatewayError> {
        lock(&self.fake).deauthorized.push(account.clone());
        Ok(())
    }

    async fn create_express_account(
        &self,
        request: &ExpressAccountRequest,
    ) -> Result<AccountId, GatewayError> {
        let mut fake = lock(&self.fake);
        if let Some(existing) = fake.account_keys.get(&request.key) {
            return Ok(existing.clone());
        }
        let account = parse(AccountId::parse(fake.next("acct_")))?;
        fake.accounts
            .insert(account.clone(), OnboardingState::default());
        fake.account_keys
            .insert(request.key.clone(), account.clone());
        fake.express_accounts.insert(
            account.clone(),
            (request.country.clone(), request.service_agreement),
        );
        Ok(account)
    }

    async fn account_link(
        &self,
        account: &AccountId,
        kind: LinkKind,
        _return_url: &str,
        _refresh_url: &str,
    ) -> Result<HostedLink, GatewayError> {
        if !lock(&self.fake).accounts.contains_key(account) {
            return Err(gateway_error(
                FailureKind::NotFound,
                "resource_missing",
                "No such account",
            ));
        }
        let path = match kind {
            LinkKind::Onboarding => "setup/e",
            LinkKind::Update => "setup/u",
        };
        Ok(HostedLink {
            url: format!("https://connect.stripe.com/{path}/{account}"),
            expires_at: Some(self.clock.now().saturating_add(Duration::minutes(5))),
        })
    }

    async fn login_link(&self, account: &AccountId) -> Result<HostedLink, GatewayError> {
        let onboarded = lock(&self.fake)
            .accounts
            .get(account)
            .is_some_and(|s| s.details_submitted);
        if !onboarded {
            return Err(gateway_error(
                FailureKind::InvalidRequest,
                "account_not_onboarded",
                "Cannot create a login link for an account that has not completed onboarding.",
            ));
        }
        Ok(HostedLink {
            url: format!("https://connect.stripe.com/express/{account}"),
            expires_at: None,
        })
    }

    async fn account_state(&self, account: &AccountId) -> Result<OnboardingState, GatewayError> {
        lock(&self.fake)
            .accounts
            .get(account)
            .copied()
            .ok_or_else(|| {
                gateway_error(FailureKind::NotFound, "resource_missing", "No such account")
            })
    }

    async fn bank_fingerprint(&self, account: &AccountId) -> Result<Option<String>, GatewayError> {
        let fake = lock(&self.fake);
        let known = fake.accounts.contains_key(account)
            || fake.snapshots.contains_key(account)
            || fake.oauth_accounts.contains(account);
        if !known {
            return Err(gateway_error(
                FailureKind::NotFound,
                "resource_missing",
                "No such account",
            ));
        }
        Ok(fake.bank_fingerprints.get(account).cloned())
    }

    async fn account_snapshot(&self, account: &AccountId) -> Result<AccountSnapshot, GatewayError> {
        let fake = lock(&self.fake);
        if let Some(snapshot) = fake.snapshots.get(account) {
            return Ok(snapshot.clone());
        }
        let derived = |o: &OnboardingState| AccountSnapshot {
            account_id: account.clone(),
            details_submitted: o.details_submitted,
            charges_enabled: o.details_submitted,
            payouts_enabled: o.payouts_enabled,
            transfers: o.transfers,
            disabled_reason: None,
            past_due: false,
        };
        if let Some(onboarding) = fake.accounts.get(account) {
            return Ok(derived(onboarding));
        }
        // A merchant's account connected through OAuth: a Standard account
        // in good standing unless set otherwise.
        if fake.oauth_accounts.contains(account) {
            return Ok(derived(&OnboardingState {
                details_submitted: true,
                payouts_enabled: true,
                transfers: CapabilityStatus::Active,
            }));
        }
        Err(gateway_error(
            FailureKind::NotFound,
            "resource_missing",
            "No such account",
        ))
    }

    async fn create_promotion_code(
        &self,
        request: &PromotionCodeRequest,
    ) -> Result<PromotionCodeId, GatewayError> {
        let mut fake = lock(&self.fake);
        let taken = fake.promotion_codes.values().any(|(acct, code, active)| {
            *active && *acct == request.merchant_account && code.same_code(&request.code)
        });
        if taken {
            return Err(gateway_error(
                FailureKind::InvalidRequest,
                "resource_already_exists",
                "An active promotion code with this code already exists.",
            ));
        }
        let id = parse(PromotionCodeId::parse(fake.next("promo_")))?;
        fake.promotion_codes.insert(
            id.clone(),
            (request.merchant_account.clone(), request.code.clone(), true),
        );
        Ok(id)
    }

    async fn deactivate_promotion_code(
        &self,
        _merchant_account: &AccountId,
        id: &PromotionCodeId,
    ) -> Result<(), GatewayError> {
        let mut fake = lock(&self.fake);
        let entry = fake.promotion_codes.get_mut(id).ok_or_else(|| {
            gateway_error(
                FailureKind::NotFound,
                "resource_missing",
                "No such promotion code",
            )
        })?;
        entry.2 = false;
        Ok(())
    }
}
