//! [mockall] mocks of the ports (feature `mock`), for interaction tests:
//! what the engine asks of Stripe, in what order, with which keys.
//!
//! [`MockConnectGateway`], [`MockNotifier`] and [`MockClock`] are derived
//! with `automock` on their traits in [`crate::ports`]. [`MockPayoutGateway`]
//! is spelled out here with [`mockall::mock!`]: mockall cannot mock an
//! argument of type `Option<&T>` with an elided lifetime (the
//! `source_account` of three methods), so the mock names every lifetime, in
//! the order `async_trait` gives the trait's elided ones, and the trait's
//! signatures stay as they are for every other adapter.
//!
//! The engine needs one gateway type for [`PayoutGateway`] and
//! [`ConnectGateway`](crate::ports::ConnectGateway) together; a test that
//! drives it declares its own combined mock with [`mockall::mock!`] (see
//! `tests/interactions.rs`).

use async_trait::async_trait;

use crate::ids::{AccountId, IdempotencyKey, PayoutItemId, TransferId};
use crate::money::Money;
use crate::ports::{
    GatewayError, PayoutGateway, Transfer, TransferPage, TransferPageRequest, TransferRequest,
    TransferReversal,
};

pub use crate::ports::{MockClock, MockConnectGateway, MockNotifier};

mockall::mock! {
    /// A mock [`PayoutGateway`].
    pub PayoutGateway {}

    #[async_trait]
    impl PayoutGateway for PayoutGateway {
        async fn create_transfer(&self, request: &TransferRequest) -> Result<Transfer, GatewayError>;

        async fn find_transfer<'s, 'a, 'g>(
            &'s self,
            source_account: Option<&'a AccountId>,
            transfer_group: &'g str,
            item: PayoutItemId,
        ) -> Result<Option<Transfer>, GatewayError>;

        async fn list_transfers<'s, 'a, 'g, 'p>(
            &'s self,
            source_account: Option<&'a AccountId>,
            transfer_group: &'g str,
            page: &'p TransferPageRequest,
        ) -> Result<TransferPage, GatewayError>;

        async fn retrieve_transfer<'s, 'a, 'i>(
            &'s self,
            source_account: Option<&'a AccountId>,
            id: &'i TransferId,
        ) -> Result<Transfer, GatewayError>;

        async fn reverse_transfer<'s, 'a, 'i, 'k>(
            &'s self,
            source_account: Option<&'a AccountId>,
            id: &'i TransferId,
            amount: Option<Money>,
            key: &'k IdempotencyKey,
        ) -> Result<TransferReversal, GatewayError>;
    }
}
