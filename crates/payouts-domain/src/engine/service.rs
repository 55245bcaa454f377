//! What an inbound adapter needs besides the business use cases: webhook
//! verification, the API's `Idempotency-Key` records, readiness and the
//! figures behind `/metrics`. Each goes through a port, so an adapter never
//! reaches the store or Stripe itself.

use crate::batch::PayoutBatch;
use crate::commission::Commission;
use crate::error::DomainError;
use crate::events::InboundEvent;
use crate::ids::{BatchId, MerchantId, PartnerId, ProgramId};
use crate::item::PayoutItem;
use crate::partner::Membership;
use crate::ports::{
    BatchStore, Clock, CommissionFilter, CommissionStore, ConnectGateway, EventVerifier,
    IdGenerator, ItemStore, MembershipStore, Page, PageRequest, PayoutGateway, ProgramStore,
    RequestKeyBegin, RequestKeyStatus, RequestKeyStore, StateTotal, WebhookRejected,
};
use crate::program::Program;

use super::Payouts;

/// How long an `Idempotency-Key` may stay in progress before another
/// request with it takes it over (no request of the service runs that long:
/// its worker died).
pub const REQUEST_STALE_AFTER: time::Duration = time::Duration::seconds(60);

/// How long idempotency records are kept: Stripe's 24 hours.
pub const REQUEST_KEY_RETENTION: time::Duration = time::Duration::hours(24);

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: RequestKeyStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Claims an API `Idempotency-Key` for `scope` (`merchant:subject`),
    /// or returns the record that already holds it. A key left in progress
    /// for longer than [`REQUEST_STALE_AFTER`] (its request's worker died
    /// before answering) is taken over by this request instead of
    /// answering 409 forever.
    ///
    /// # Errors
    /// [`DomainError::Conflict`] when it was released concurrently;
    /// [`DomainError::Unavailable`].
    pub async fn begin_request(
        &self,
        scope: &str,
        key: &str,
        request_hash: &str,
    ) -> Result<RequestKeyBegin, DomainError> {
        let now = self.clock.now();
        let begun = self
            .store
            .begin_request(scope, key, request_hash, now)
            .await?;
        if let RequestKeyBegin::Existing(record) = &begun
            && record.status == RequestKeyStatus::InProgress
            && record.created_at.saturating_add(REQUEST_STALE_AFTER) <= now
            && self
                .store
                .take_over_request(scope, key, request_hash, record.created_at, now)
                .await?
        {
            return Ok(RequestKeyBegin::Started);
        }
        Ok(begun)
    }

    /// Forgets the idempotency records older than [`REQUEST_KEY_RETENTION`]
    /// (Stripe's window): a key may be used again after it. Returns how
    /// many were forgotten.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn purge_request_keys(&self) -> Result<u64, DomainError> {
        let before = self.clock.now().saturating_sub(REQUEST_KEY_RETENTION);
        Ok(self.store.purge_requests(before).await?)
    }

    /// Stores the response of the request holding the key.
    ///
    /// # Errors
    /// [`DomainError::Conflict`]; [`DomainError::Unavailable`].
    pub async fn complete_request(
        &self,
        scope: &str,
        key: &str,
        response_status: u16,
        response_body: &str,
    ) -> Result<(), DomainError> {
        Ok(self
            .store
            .complete_request(scope, key, response_status, response_body, self.clock.now())
            .await?)
    }

    /// Frees the key of a request that failed, so the client may retry.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn release_request(&self, scope: &str, key: &str) -> Result<(), DomainError> {
        Ok(self.store.release_request(scope, key).await?)
    }

    /// Whether the store answers, and its backend's name.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn ready(&self) -> Result<&'static str, DomainError> {
        Ok(self.store.ping().await?)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + MembershipStore + CommissionStore + BatchStore + ItemStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// One page of a merchant's programs.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn programs_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<Program>, DomainError> {
        Ok(self.store.programs_page(merchant, page).await?)
    }

    /// One page of a program's memberships.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn memberships_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<Membership>, DomainError> {
        Ok(self.store.memberships_page(program, page).await?)
    }

    /// Every membership of a partner, across merchants.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn memberships_of_partner(
        &self,
        partner: PartnerId,
    ) -> Result<Vec<Membership>, DomainError> {
        Ok(self.store.memberships_of_partner(partner).await?)
    }

    /// One page of a program's batches.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn batches_page(
        &self,
        program: ProgramId,
        page: PageRequest,
    ) -> Result<Page<PayoutBatch>, DomainError> {
        Ok(self.store.batches_page(program, page).await?)
    }

    /// One page of a batch's items.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn batch_items(
        &self,
        batch: BatchId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, DomainError> {
        Ok(self.store.items(batch, page).await?)
    }

    /// One page of commissions matching `filter`.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn commissions(
        &self,
        filter: &CommissionFilter,
        page: PageRequest,
    ) -> Result<Page<Commission>, DomainError> {
        Ok(self.store.list_commissions(filter, page).await?)
    }

    /// Payout items by state and currency across every batch.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn item_state_counts(&self) -> Result<Vec<StateTotal>, DomainError> {
        Ok(self.store.item_state_counts().await?)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ?Sized,
    G: PayoutGateway + ConnectGateway + EventVerifier + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The Stripe event `payload` carries, when `signature` signs it now;
    /// hand it to [`Payouts::handle_event`].
    ///
    /// # Errors
    /// [`WebhookRejected`].
    pub fn verify_event(
        &self,
        signature: Option<&str>,
        payload: &[u8],
    ) -> Result<InboundEvent, WebhookRejected> {
        self.gateway
            .verify_event(signature, payload, self.clock.now())
    }

    /// Stripe calls so far by outcome.
    pub fn stripe_call_counts(&self) -> Vec<(&'static str, u64)> {
        self.gateway.call_counts()
    }
}
