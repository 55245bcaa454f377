//! Interaction tests (features `mock` and `testing`): what the engine asks
//! of Stripe, in what order and with which idempotency keys, asserted with
//! mockall expectations on the gateway, the clock and the notifier. The
//! world (a connected merchant, a program, partners, finalized commissions,
//! a built batch) lives in the in-memory store; only the ports under test
//! are mocks.
//!
//! Every mock is owned by its engine and checks its `.times(..)` when the
//! engine is dropped; a call no expectation matches panics at once.
#![cfg(feature = "mock")]
#![expect(
    clippy::unwrap_used,
    reason = "test helpers: a failed step must stop the test with its message"
)]

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::executor::block_on;
use mockall::Sequence;
use time::macros::datetime;
use time::{Duration, OffsetDateTime};

use payouts_domain::batch::{BatchState, PayoutBatch};
use payouts_domain::engine::{EngineConfig, Payouts};
use payouts_domain::ids::{
    AccountId, IdempotencyKey, PayoutItemId, PromotionCodeId, StateToken, TransferId, WorkerId,
};
use payouts_domain::item::{ItemState, PayoutItem, idempotency_key, transfer_group};
use payouts_domain::memory::{InMemoryStore, ManualClock, SequentialIds};
use payouts_domain::mock::{MockClock, MockNotifier};
use payouts_domain::notification::{NotificationKind, Recipient};
use payouts_domain::partner::OnboardingState;
use payouts_domain::period::Period;
use payouts_domain::ports::{
    CommissionStore, ConnectGateway, ConnectionStore, ExpressAccountRequest, FailureKind,
    GatewayError, HostedLink, ItemStore, LinkKind, MembershipStore, OAuthGrant, PageRequest,
    PayoutGateway, ProgramStore, PromotionCodeRequest, Transfer, TransferPage, TransferPageRequest,
    TransferRequest, TransferReversal,
};
use payouts_domain::program::{HoldReason, PayoutPolicy};
use payouts_domain::testkit::fixtures::{
    account, connection, finalized, membership, merchant, program, usd,
};
use payouts_domain::{Blocked, DomainError, Money};

// The engine takes one gateway for both ports: a combined mock. The
// lifetimes of the `Option<&AccountId>` methods are named (mockall cannot
// elide them), in the order `async_trait` gives the trait's elided ones.
mockall::mock! {
    pub Stripe {}

    #[async_trait]
    impl PayoutGateway for Stripe {
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

    #[async_trait]
    impl ConnectGateway for Stripe {
        fn authorize_url(&self, state: &StateToken) -> String;
        async fn exchange_code(&self, code: &str) -> Result<OAuthGrant, GatewayError>;
        async fn deauthorize(&self, account: &AccountId) -> Result<(), GatewayError>;
        async fn create_express_account(
            &self,
            request: &ExpressAccountRequest,
        ) -> Result<AccountId, GatewayError>;
        async fn account_link(
            &self,
            account: &AccountId,
            kind: LinkKind,
            return_url: &str,
            refresh_url: &str,
        ) -> Result<HostedLink, GatewayError>;
        async fn login_link(&self, account: &AccountId) -> Result<HostedLink, GatewayError>;
        async fn account_state(&self, account: &AccountId) -> Result<OnboardingState, GatewayError>;
        async fn account_snapshot(
            &self,
            account: &AccountId,
        ) -> Result<payouts_domain::connection::AccountSnapshot, GatewayError>;
        async fn bank_fingerprint(&self, account: &AccountId)
        -> Result<Option<String>, GatewayError>;
        async fn create_promotion_code(
            &self,
            request: &PromotionCodeRequest,
        ) -> Result<PromotionCodeId, GatewayError>;
        async fn deactivate_promotion_code(
            &self,
            merchant_account: &AccountId,
            id: &PromotionCodeId,
        ) -> Result<(), GatewayError>;
    }
}

/// When every world starts: after January, so its batch can be built.
const NOW: OffsetDateTime = datetime!(2026-02-02 08:00 UTC);

fn config(concurrency: u32) -> EngineConfig {
    let mut config = EngineConfig::new(WorkerId::parse("worker-a").unwrap());
    config.concurrency = concurrency;
    config
}

fn ambiguous() -> GatewayError {
    GatewayError::new(
        FailureKind::Ambiguous,
        Some("api_error"),
        "500, or no answer",
    )
}

fn rate_limited() -> GatewayError {
    GatewayError::new(FailureKind::RateLimited, Some("rate_limit"), "429")
}

/// The transfer Stripe made for `request`.
fn transfer_for(request: &TransferRequest, id: &str) -> Transfer {
    Transfer {
        id: TransferId::parse(id).unwrap(),
        amount: request.amount,
        amount_reversed: Money::zero(request.amount.currency()),
        destination: request.destination.clone(),
        transfer_group: Some(request.transfer_group.clone()),
        item_id: Some(request.item_id),
    }
}

/// A connected merchant (`acct_test1`) with an auto-approving program and
/// `partners` onboarded partners who each earned $60 in January, in a fresh
/// in-memory store; and January's batch, built and approved. Returns the
/// store (clones share its data) and the batch.
fn world(partners: u128) -> (InMemoryStore, PayoutBatch) {
    block_on(async {
        let store = InMemoryStore::new();
        store
            .save_connection(&connection(merchant(1), account(1)), None)
            .await
            .unwrap();
        let mut p = program(1, merchant(1));
        p.payout_policy = PayoutPolicy::AutoAll;
        store.insert_program(&p).await.unwrap();
        for n in 0..partners {
            let m = membership(10 + n, &p, &format!("partner{n}"));
            store.insert_membership(&m).await.unwrap();
            let c = finalized(300 + n, &m, usd(6_000), "2026-01", NOW - Duration::days(1));
            store.insert_commission(&c).await.unwrap();
        }
        // Building a batch touches neither Stripe nor the clock's mock:
        // an engine with an expectation-free gateway builds it.
        let builder = Payouts::new(
            store.clone(),
            MockStripe::new(),
            ManualClock::at(NOW),
            SequentialIds::starting_at(1_000),
            config(1),
        );
        let batch = builder
            .build_batch(
                p.id,
                Period::parse("2026-01").unwrap(),
                &payouts_domain::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        assert_eq!(batch.state, BatchState::Approved, "auto_all approves");
        assert_eq!(batch.item_count, u32::try_from(partners).unwrap());
        (store, batch)
    })
}

async fn items(store: &InMemoryStore, batch: &PayoutBatch) -> Vec<PayoutItem> {
    store
        .items(batch.id, PageRequest::first(100))
        .await
        .unwrap()
        .data
}

/// An ambiguous answer (a 500 or a lost response) and then a rate limit
/// leave the transfer's outcome unknown: the engine re-sends the same item,
/// once its back-off lease has run out, under the key of the first call,
/// never a new one (a new key could pay twice). It sends without looking
/// the transfer up first: the key is young, so Stripe answers a re-send
/// with the transfer it may have made.
#[test]
fn a_retry_after_an_ambiguous_answer_sends_the_same_key() {
    let (store, batch) = world(1);
    let clock = ManualClock::at(NOW);
    let first_key: Arc<Mutex<Option<(PayoutItemId, IdempotencyKey)>>> = Arc::default();
    let mut stripe = MockStripe::new();
    let mut seq = Sequence::new();
    let seen = Arc::clone(&first_key);
    stripe
        .expect_create_transfer()
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |request| {
            *seen.lock().unwrap() = Some((request.item_id, request.key.clone()));
            Err(ambiguous())
        });
    for answer in [Some(rate_limited()), None] {
        let first = Arc::clone(&first_key);
        stripe
            .expect_create_transfer()
            .withf(move |request| {
                first.lock().unwrap().as_ref() == Some(&(request.item_id, request.key.clone()))
                    && request.attempt == 1
            })
            .times(1)
            .in_sequence(&mut seq)
            .returning(move |request| match answer.clone() {
                Some(error) => Err(error),
                None => Ok(transfer_for(request, "tr_once")),
            });
    }
    stripe.expect_find_transfer().never();
    stripe.expect_retrieve_transfer().never();
    let engine = Payouts::new(
        store.clone(),
        stripe,
        clock.clone(),
        SequentialIds::starting_at(2_000),
        config(1),
    );
    block_on(async {
        let report = engine.execute_batch(batch.id).await.unwrap();
        assert_eq!((report.ambiguous, report.posted), (1, 0));
        let (item_id, key) = first_key.lock().unwrap().clone().unwrap();
        assert_eq!(key, idempotency_key(item_id, 1), "attempt 1's derived key");
        let item = engine.item(item_id).await.unwrap();
        assert!(
            matches!(&item.state, ItemState::Submitting { attempt: 1, key: k, .. } if *k == key),
            "{item:?}"
        );

        // Under its back-off lease (2 s) nothing is re-sent.
        let report = engine.execute_batch(batch.id).await.unwrap();
        assert_eq!(report.processed, 0);

        // Then it is, with the same key: rate limited (ambiguous too, 4 s back-off) ...
        clock.advance(Duration::seconds(3));
        let report = engine.execute_batch(batch.id).await.unwrap();
        assert_eq!(report.ambiguous, 1);
        // ... and again, with the same key: Stripe's answer is the transfer.
        clock.advance(Duration::seconds(5));
        let report = engine.execute_batch(batch.id).await.unwrap();
        assert_eq!((report.posted, report.reconciled), (1, 0));
        assert_eq!(report.batch_state, Some(BatchState::Completed));
        let item = engine.item(item_id).await.unwrap();
        assert!(
            matches!(&item.state, ItemState::Posted { attempt: 1, transfer_id, .. }
                if transfer_id.as_str() == "tr_once"),
            "{item:?}"
        );
        assert_eq!(item.resends, 2);
    });
    // Dropping the engine checks every `.times(..)`.
    drop(engine);
}

/// Stripe's `account_inactive` means every transfer from the merchant's
/// account would be refused: with three items claimed and one sent at a
/// time, exactly one transfer is attempted. The run stops, the program is
/// held for the merchant, the merchant and the one partner whose payout is
/// held are told (nobody else), and the two unsent
/// items are released, still open, with no further call to Stripe, until
/// the merchant acts.
#[test]
fn no_transfer_is_sent_after_account_inactive() {
    let (store, batch) = world(3);
    let mut stripe = MockStripe::new();
    let refused: Arc<Mutex<Option<PayoutItemId>>> = Arc::default();
    let seen = Arc::clone(&refused);
    let source = account(1);
    stripe
        .expect_create_transfer()
        .withf(move |request| request.source_account.as_ref() == Some(&source))
        .times(1)
        .returning(move |request| {
            *seen.lock().unwrap() = Some(request.item_id);
            Err(GatewayError::new(
                FailureKind::AccountInactive,
                Some("account_inactive"),
                "the merchant's account is under review",
            ))
        });
    stripe.expect_find_transfer().never();
    stripe.expect_retrieve_transfer().never();
    let engine = Payouts::new(
        store.clone(),
        stripe,
        ManualClock::at(NOW),
        SequentialIds::starting_at(2_000),
        config(1),
    );
    block_on(async {
        let report = engine.execute_batch(batch.id).await.unwrap();
        assert_eq!((report.processed, report.failed, report.posted), (1, 1, 0));
        assert_eq!(
            report.stopped,
            Some(Blocked::PayoutsPaused(
                HoldReason::MerchantAccountInactive.as_str().to_owned()
            ))
        );
        assert_eq!(report.batch_state, Some(BatchState::Executing));
        let refused = refused.lock().unwrap().unwrap();
        let all = items(&store, &batch).await;
        for item in &all {
            if item.id == refused {
                assert!(
                    matches!(&item.state, ItemState::Failed { failure, retry_at: None, .. }
                        if failure.kind == FailureKind::AccountInactive),
                    "{item:?}"
                );
            } else {
                assert!(item.state.is_open(), "left for later: {item:?}");
                assert_eq!(item.state.attempts(), 1, "never sent, no new attempt");
                assert_eq!(item.lease, None, "released, not stuck behind a lease");
            }
        }
        assert_eq!(all.iter().filter(|i| i.state.is_open()).count(), 2);
        let program = store.program(batch.program_id).await.unwrap().unwrap();
        assert_eq!(program.hold, Some(HoldReason::MerchantAccountInactive));

        // A second run sends nothing: the program waits for the merchant.
        assert!(matches!(
            engine.execute_batch(batch.id).await,
            Err(DomainError::Blocked(Blocked::PayoutsPaused(_)))
        ));

        // The merchant is told once, the partner whose payout is held once,
        // and nobody else.
        let held_partner = all
            .iter()
            .find(|i| i.id == refused)
            .map(|i| i.partner_id)
            .unwrap();
        let mut notifier = MockNotifier::new();
        let merchant_id = merchant(1);
        // No endpoint anywhere: each notification is only logged.
        notifier.expect_fallback_target().returning(|_| None);
        notifier
            .expect_deliver()
            .withf(move |n, target| {
                target.is_none()
                    && n.kind == NotificationKind::MerchantAccountInactive
                    && n.recipient == Recipient::Merchant(merchant_id.clone())
                    && n.payload["item_id"] == serde_json::json!(refused)
            })
            .times(1)
            .returning(|_, _| Ok(None));
        notifier
            .expect_deliver()
            .withf(move |n, target| {
                target.is_none()
                    && n.kind == NotificationKind::PartnerPayoutDelayed
                    && n.recipient == Recipient::Partner(held_partner)
                    && n.payload["item_id"] == serde_json::json!(refused)
                    && n.payload["reason"] == "account_inactive"
            })
            .times(1)
            .returning(|_, _| Ok(None));
        assert_eq!(
            engine
                .dispatch_notifications(&notifier, 10)
                .await
                .unwrap()
                .delivered,
            2
        );
        notifier.checkpoint();
        assert_eq!(
            engine.dispatch_notifications(&notifier, 10).await.unwrap(),
            payouts_domain::engine::DispatchReport::default()
        );
    });
    drop(engine);
}

/// Stripe forgets an idempotency key 24 h after its first use, so a key
/// re-sent after that could make a second transfer. From one hour before
/// (`RetryPolicy::key_retention - reconcile_margin`) the engine stops
/// re-sending it: it looks the transfer up by `transfer_group` and item,
/// records the one it finds, and starts attempt 2, under a new key, for the
/// one Stripe never made. The clock is a `MockClock`.
#[test]
fn a_key_near_expiry_is_never_resent() {
    let (store, batch) = world(2);
    let now = Arc::new(Mutex::new(NOW));
    let clock = {
        let now = Arc::clone(&now);
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || *now.lock().unwrap());
        clock
    };

    // Day 1: both transfers answer ambiguously.
    let old: Arc<Mutex<Vec<(PayoutItemId, IdempotencyKey)>>> = Arc::default();
    let mut stripe = MockStripe::new();
    let seen = Arc::clone(&old);
    stripe
        .expect_create_transfer()
        .withf(|request| request.attempt == 1)
        .times(2)
        .returning(move |request| {
            seen.lock()
                .unwrap()
                .push((request.item_id, request.key.clone()));
            Err(ambiguous())
        });
    let engine = Payouts::new(
        store.clone(),
        stripe,
        clock,
        SequentialIds::starting_at(2_000),
        config(1),
    );
    let retry = engine.config().retry;
    let report = block_on(engine.execute_batch(batch.id)).unwrap();
    assert_eq!(report.ambiguous, 2);
    drop(engine);
    let old = old.lock().unwrap().clone();
    let [(found, found_key), (lost, lost_key)] = <[_; 2]>::try_from(old).unwrap();

    // The key's last safe hour begins: the next run reconciles instead.
    *now.lock().unwrap() = NOW + retry.key_retention - retry.reconcile_margin;
    let clock = {
        let now = Arc::clone(&now);
        let mut clock = MockClock::new();
        clock.expect_now().returning(move || *now.lock().unwrap());
        clock
    };
    let mut stripe = MockStripe::new();
    let sent: Arc<Mutex<Vec<IdempotencyKey>>> = Arc::default();
    let group = transfer_group(batch.id);
    {
        // Belt and braces: a call with an old key matches this one, or
        // nothing at all; either way it panics.
        let old_keys = [found_key.clone(), lost_key.clone()];
        stripe
            .expect_create_transfer()
            .withf(move |request| old_keys.contains(&request.key))
            .never();
    }
    for (item, answer) in [(found, Some("tr_found")), (lost, None)] {
        let group = group.clone();
        let source = account(1);
        stripe
            .expect_find_transfer()
            .withf(move |source_account, transfer_group, id| {
                *source_account == Some(&source) && *transfer_group == group && *id == item
            })
            .times(1)
            .returning(move |_, transfer_group, id| {
                Ok(answer.map(|tr| Transfer {
                    id: TransferId::parse(tr).unwrap(),
                    amount: usd(6_000),
                    amount_reversed: usd(0),
                    destination: AccountId::parse("acct_partner10").unwrap(),
                    transfer_group: Some(transfer_group.to_owned()),
                    item_id: Some(id),
                }))
            });
    }
    {
        let sent = Arc::clone(&sent);
        let new_key = idempotency_key(lost, 2);
        stripe
            .expect_create_transfer()
            .withf(move |request| {
                request.item_id == lost && request.attempt == 2 && request.key == new_key
            })
            .times(1)
            .returning(move |request| {
                sent.lock().unwrap().push(request.key.clone());
                Ok(transfer_for(request, "tr_new"))
            });
    }
    stripe.expect_retrieve_transfer().never();
    let engine = Payouts::new(
        store.clone(),
        stripe,
        clock,
        SequentialIds::starting_at(3_000),
        config(1),
    );
    block_on(async {
        let report = engine.execute_batch(batch.id).await.unwrap();
        assert_eq!((report.posted, report.reconciled), (2, 1));
        assert_eq!(report.batch_state, Some(BatchState::Completed));
        let found = engine.item(found).await.unwrap();
        assert!(
            matches!(&found.state, ItemState::Posted { attempt: 1, transfer_id, .. }
                if transfer_id.as_str() == "tr_found"),
            "{found:?}"
        );
        let lost = engine.item(lost).await.unwrap();
        assert!(
            matches!(&lost.state, ItemState::Posted { attempt: 2, transfer_id, .. }
                if transfer_id.as_str() == "tr_new"),
            "{lost:?}"
        );
    });
    drop(engine);
    let sent = sent.lock().unwrap().clone();
    assert_eq!(sent, vec![idempotency_key(lost, 2)]);
    assert!(!sent.contains(&found_key) && !sent.contains(&lost_key));
}

/// The single-port mocks embedders get with the feature: each is a
/// [`PayoutGateway`] (or [`ConnectGateway`], `Clock`, `Notifier`) of its own.
#[test]
fn the_single_port_mocks_stand_in_for_their_ports() {
    use payouts_domain::mock::{MockConnectGateway, MockPayoutGateway};
    use payouts_domain::ports::Clock;

    let mut payouts = MockPayoutGateway::new();
    payouts
        .expect_find_transfer()
        .withf(|source, group, _| source.is_none() && group == "batch_x")
        .times(1)
        .returning(|_, _, _| Ok(None));
    let mut connect = MockConnectGateway::new();
    connect
        .expect_authorize_url()
        .times(1)
        .returning(|state| format!("https://connect/?state={}", state.as_str()));
    let mut clock = MockClock::new();
    clock.expect_now().times(1).return_const(NOW);

    let item = PayoutItemId::from_uuid(payouts_domain::testkit::fixtures::uuid(1));
    let found = block_on(payouts.find_transfer(None, "batch_x", item)).unwrap();
    assert_eq!(found, None);
    let state = StateToken::parse("state0000000000000001").unwrap();
    assert!(
        connect
            .authorize_url(&state)
            .ends_with("state0000000000000001")
    );
    assert_eq!(clock.now(), NOW);
}
