//! The platform API's use cases (seed 002) on the in-memory adapters:
//! tenancy from our records, the default application fee, the refund's fee
//! share, payout-schedule validation, onboarding before a dashboard link,
//! transfers that cannot overdraw, and Stripe's refusals kept as it gave them.

#![expect(
    clippy::unwrap_used,
    reason = "test helpers outside #[test] functions unwrap fixtures"
)]

use std::collections::BTreeMap;
use std::sync::Arc;

use futures::executor::block_on;
use payouts_domain::engine::{EngineConfig, LinkUrls, Payouts};
use payouts_domain::fees::{FeeRate, FeeSchedule, MerchantOverride};
use payouts_domain::ids::{AccountId, MerchantId, WorkerId};
use payouts_domain::memory::{InMemoryStore, InMemoryStripe, ManualClock, SequentialIds};
use payouts_domain::money::{Currency, Money, Percent, Rounding};
use payouts_domain::platform::{
    AccountStatus, AccountType, Caller, CaptureMethod, CreateAccountRequest,
    CreatePaymentIntentRequest, PayoutInterval, PayoutSchedule, PlatformTransferRequest,
    RefundRequest, RequestedCapabilities, ReverseTransferRequest,
};
use payouts_domain::ports::FailureKind;
use payouts_domain::{Blocked, DomainError};
use rust_decimal_macros::dec;
use time::macros::datetime;

type Engine = Payouts<InMemoryStore, InMemoryStripe, ManualClock, SequentialIds>;

fn engine() -> Engine {
    let clock = ManualClock::at(datetime!(2026-01-15 12:00 UTC));
    Payouts::new(
        InMemoryStore::new(),
        InMemoryStripe::new(Arc::new(clock.clone())),
        clock,
        SequentialIds::starting_at(0),
        EngineConfig::new(WorkerId::parse("platform-test").unwrap()),
    )
}

fn merchant(name: &str) -> MerchantId {
    MerchantId::parse(name.to_owned()).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::new(minor, Currency::USD)
}

fn urls() -> LinkUrls {
    LinkUrls {
        return_url: "https://dash.test/return".to_owned(),
        refresh_url: "https://dash.test/refresh".to_owned(),
    }
}

fn express() -> CreateAccountRequest {
    CreateAccountRequest {
        account_type: AccountType::Express,
        country: Some("US".to_owned()),
        email: Some("owner@a.test".to_owned()),
        business_type: None,
        business_profile: None,
        capabilities: RequestedCapabilities {
            card_payments: true,
            transfers: true,
        },
        metadata: BTreeMap::new(),
        idempotency_key: None,
    }
}

async fn account_of(e: &Engine, m: &MerchantId) -> AccountId {
    let caller = Caller::Merchant(m.clone());
    let created = e
        .create_connected_account(&caller, m, express(), &urls())
        .await
        .unwrap();
    assert_eq!(created.account.view.status, AccountStatus::Pending);
    assert!(created.onboarding.url.starts_with("https://"));
    created.account.view.account_id
}

fn payment(account: &AccountId, amount: i64, fee: Option<i64>) -> CreatePaymentIntentRequest {
    CreatePaymentIntentRequest {
        account_id: account.clone(),
        amount: usd(amount),
        application_fee_amount: fee,
        order_id: None,
        customer_email: None,
        description: None,
        capture_method: CaptureMethod::Manual,
        payment_method: Some("pm_card_visa".to_owned()),
        confirm: true,
        metadata: BTreeMap::new(),
        idempotency_key: None,
    }
}

fn is_not_found<T: std::fmt::Debug>(r: Result<T, DomainError>) -> bool {
    matches!(r, Err(DomainError::NotFound { .. }))
}

#[test]
fn an_account_is_seen_only_by_its_merchant_and_the_platform() {
    block_on(async {
        let e = engine();
        let (a, b) = (merchant("m_a"), merchant("m_b"));
        let account = account_of(&e, &a).await;
        let seen = e
            .connected_account(&Caller::Merchant(a.clone()), &account)
            .await
            .unwrap();
        assert_eq!(seen.merchant_id, Some(a.clone()));
        let as_platform = e
            .connected_account(&Caller::Platform, &account)
            .await
            .unwrap();
        assert_eq!(as_platform.merchant_id, Some(a.clone()));
        let b_caller = Caller::Merchant(b.clone());
        assert!(is_not_found(e.connected_account(&b_caller, &account).await));
        assert!(is_not_found(e.account_balance(&b_caller, &account).await));
        assert!(is_not_found(
            e.create_payment(&b_caller, payment(&account, 1_000, None))
                .await
        ));
        // A merchant cannot create an account for another one.
        assert!(is_not_found(
            e.create_connected_account(&b_caller, &a, express(), &urls())
                .await
        ));
    });
}

#[test]
fn the_default_fee_and_the_refunds_fee_share_are_the_engines() {
    block_on(async {
        let e = engine();
        let a = merchant("m_a");
        let caller = Caller::Merchant(a.clone());
        let account = account_of(&e, &a).await;
        e.set_fee_schedule(
            FeeSchedule {
                default: FeeRate {
                    percent: Percent::new(dec!(2.9)).unwrap(),
                    fixed_minor: 30,
                },
                tiers: Vec::new(),
                overrides: vec![MerchantOverride {
                    merchant_id: a.clone(),
                    rate: FeeRate {
                        percent: Percent::new(dec!(2.0)).unwrap(),
                        fixed_minor: 20,
                    },
                    reason: "enterprise".to_owned(),
                }],
                rounding: Rounding::HalfEven,
            },
            &payouts_domain::testkit::fixtures::operator(),
        )
        .await
        .unwrap();
        // A fee above the amount is refused before Stripe is asked.
        assert!(matches!(
            e.create_payment(&caller, payment(&account, 2_500, Some(2_501)))
                .await,
            Err(DomainError::Validation { field, .. }) if field == "application_fee_amount"
        ));
        // 2.0 % of 2,500 + 20 = 70: the merchant's override.
        let pi = e
            .create_payment(&caller, payment(&account, 2_500, None))
            .await
            .unwrap();
        assert_eq!(pi.application_fee, Some(usd(70)));
        assert_eq!(pi.destination_amount, Some(usd(2_430)));
        let captured = e
            .capture_payment(&caller, &pi.payment_intent_id, None, None)
            .await
            .unwrap();
        assert_eq!(captured.amount_received, usd(2_500));
        // Stripe refuses a second capture; its words are kept.
        match e
            .capture_payment(&caller, &pi.payment_intent_id, None, None)
            .await
        {
            Err(DomainError::Gateway(g)) => {
                assert_eq!(g.kind, FailureKind::InvalidRequest);
                assert_eq!(g.code.as_deref(), Some("payment_intent_unexpected_state"));
                assert!(g.refusal.is_some_and(|r| !r.card_error));
            }
            other => panic!("expected Stripe's refusal, got {other:?}"),
        }
        let refund = e
            .refund_payment(
                &caller,
                RefundRequest {
                    payment_intent_id: pi.payment_intent_id.clone(),
                    amount: Some(500),
                    reason: None,
                    refund_application_fee: true,
                    reverse_transfer: true,
                    on_account: None,
                    metadata: BTreeMap::new(),
                    idempotency_key: None,
                },
            )
            .await
            .unwrap();
        // 70 × 500 / 2,500 = 14, rounded down.
        assert_eq!(refund.application_fee_refunded, Some(usd(14)));
        let other = Caller::Merchant(merchant("m_b"));
        assert!(is_not_found(e.payment(&other, &pi.payment_intent_id).await));
    });
}

#[test]
fn schedules_are_validated_and_links_wait_for_onboarding() {
    block_on(async {
        let e = engine();
        let a = merchant("m_a");
        let caller = Caller::Merchant(a.clone());
        let account = account_of(&e, &a).await;
        let weekly = PayoutSchedule {
            interval: PayoutInterval::Weekly,
            delay_days: Some(2),
            weekly_anchor: None,
            monthly_anchor: None,
        };
        assert!(matches!(
            e.set_payout_schedule(&caller, &account, &weekly, None).await,
            Err(DomainError::Validation { field, .. }) if field == "weekly_anchor"
        ));
        // Nothing was sent: the account keeps Stripe's default.
        assert_eq!(
            e.payout_schedule(&caller, &account).await.unwrap(),
            PayoutSchedule::daily()
        );
        assert!(matches!(
            e.connected_account_dashboard_link(&caller, &account).await,
            Err(DomainError::Blocked(Blocked::NotOnboarded(_)))
        ));
        e.gateway().complete_onboarding(&account);
        assert!(
            e.connected_account_dashboard_link(&caller, &account)
                .await
                .is_ok()
        );
        assert_eq!(
            e.connected_account(&caller, &account)
                .await
                .unwrap()
                .view
                .status,
            AccountStatus::Active
        );
    });
}

#[test]
fn transfers_cannot_overdraw_and_reversals_stay_with_their_merchant() {
    block_on(async {
        let e = engine();
        let a = merchant("m_a");
        let caller = Caller::Merchant(a.clone());
        let account = account_of(&e, &a).await;
        e.gateway().set_balance(None, usd(1_000));
        let transfer = |amount| PlatformTransferRequest {
            account_id: account.clone(),
            amount: usd(amount),
            description: None,
            transfer_group: None,
            source_account: None,
            metadata: BTreeMap::new(),
            idempotency_key: None,
        };
        match e.create_platform_transfer(&caller, transfer(1_500)).await {
            Err(DomainError::Gateway(g)) => assert_eq!(g.kind, FailureKind::InsufficientBalance),
            other => panic!("expected insufficient balance, got {other:?}"),
        }
        assert!(matches!(
            e.create_platform_transfer(&caller, transfer(0)).await,
            Err(DomainError::Validation { .. })
        ));
        let sent = e
            .create_platform_transfer(&caller, transfer(600))
            .await
            .unwrap();
        assert_eq!(e.gateway().balance(None, Currency::USD), Some(usd(400)));
        let reverse = |amount| ReverseTransferRequest {
            amount,
            description: None,
            source_account: None,
            metadata: BTreeMap::new(),
            idempotency_key: None,
        };
        let other = Caller::Merchant(merchant("m_b"));
        assert!(is_not_found(
            e.reverse_platform_transfer(&other, &sent.transfer_id, reverse(Some(100)))
                .await
        ));
        let r = e
            .reverse_platform_transfer(&caller, &sent.transfer_id, reverse(Some(200)))
            .await
            .unwrap();
        assert_eq!(r.transfer_amount_reversed, usd(200));
        assert!(!r.transfer_reversed);
        let rest = e
            .reverse_platform_transfer(&caller, &sent.transfer_id, reverse(None))
            .await
            .unwrap();
        assert_eq!(rest.amount, usd(400));
        assert!(rest.transfer_reversed);
        // The platform's own balance is the platform's to read.
        assert!(is_not_found(e.platform_balance(&caller).await));
        let balance = e.platform_balance(&Caller::Platform).await.unwrap();
        assert_eq!(balance.available, vec![usd(1_000)]);
    });
}

#[test]
fn disputes_are_read_on_the_merchants_own_account() {
    block_on(async {
        let e = engine();
        let a = merchant("m_a");
        let caller = Caller::Merchant(a.clone());
        let account = account_of(&e, &a).await;
        let dispute = e
            .gateway()
            .open_dispute(Some(&account), usd(2_000), "fraudulent")
            .unwrap();
        let params = payouts_domain::platform::ListParams::default();
        let page = e.disputes(&caller, Some(&account), &params).await.unwrap();
        assert_eq!(page.data.len(), 1);
        // A merchant that never connected has no disputes of its own.
        let lonely = Caller::Merchant(merchant("m_c"));
        assert!(
            e.disputes(&lonely, None, &params)
                .await
                .unwrap()
                .data
                .is_empty()
        );
        assert!(is_not_found(
            e.disputes(&lonely, Some(&account), &params).await
        ));
        let submitted = e
            .submit_dispute_evidence(
                &caller,
                Some(&account),
                &dispute,
                &payouts_domain::platform::DisputeEvidence::default(),
                true,
                None,
            )
            .await
            .unwrap();
        assert_eq!(submitted.evidence_submission_count, 1);
    });
}

#[test]
fn login_links_sign_in_once_and_only_whom_the_issuer_may() {
    use payouts_domain::ids::PartnerId;
    use payouts_domain::session::{LoginRefused, SessionPrincipal};
    block_on(async {
        let e = engine();
        let who = |roles: &[&str], m: &str, partner: Option<PartnerId>| SessionPrincipal {
            subject: "someone".to_owned(),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
            merchant_id: merchant(m),
            partner_id: partner,
        };
        let admin = who(&["tenant_admin"], "m_a", None);
        // A merchant's admin cannot sign in another merchant, a platform
        // role, or a partner who never joined its programs.
        assert!(is_not_found(
            e.issue_login_link(
                &admin,
                who(&["manager"], "m_b", None),
                &payouts_domain::testkit::fixtures::operator()
            )
            .await
        ));
        assert!(matches!(
            e.issue_login_link(
                &admin,
                who(&["platform_admin"], "m_a", None),
                &payouts_domain::testkit::fixtures::operator()
            )
            .await,
            Err(DomainError::Validation { .. })
        ));
        let stranger = PartnerId::from_uuid(uuid::Uuid::from_u128(77));
        assert!(is_not_found(
            e.issue_login_link(
                &admin,
                who(&["partner"], "m_a", Some(stranger)),
                &payouts_domain::testkit::fixtures::operator()
            )
            .await
        ));
        // Staff cannot issue links at all.
        assert!(matches!(
            e.issue_login_link(
                &who(&["pos_staff"], "m_a", None),
                who(&["pos_staff"], "m_a", None),
                &payouts_domain::testkit::fixtures::operator(),
            )
            .await,
            Err(DomainError::Validation { .. })
        ));
        let (secret, link) = e
            .issue_login_link(
                &admin,
                who(&["manager"], "m_a", None),
                &payouts_domain::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        assert_eq!(link.expires_at - link.issued_at, time::Duration::minutes(5));
        assert_eq!(secret.expose().len(), 64);
        let (cookie, session) = e.redeem_login_link(&secret).await.unwrap().unwrap();
        assert_eq!(session.principal.roles, vec!["manager".to_owned()]);
        assert_eq!(
            e.redeem_login_link(&secret).await.unwrap().err(),
            Some(LoginRefused::Used)
        );
        assert!(e.console_session(&cookie).await.unwrap().is_some());
        // Twelve idle hours end it.
        e.clock().advance(time::Duration::hours(12));
        assert!(e.console_session(&cookie).await.unwrap().is_none());
        // A platform operator may sign anyone in; an expired link opens nothing.
        let (late, _) = e
            .issue_login_link(
                &who(&["platform_admin"], "platform", None),
                who(&["tenant_admin"], "m_b", None),
                &payouts_domain::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        e.clock().advance(time::Duration::minutes(5));
        assert_eq!(
            e.redeem_login_link(&late).await.unwrap().err(),
            Some(LoginRefused::Expired)
        );
        let (fresh, _) = e
            .issue_login_link(
                &admin,
                who(&["tenant_admin"], "m_a", None),
                &payouts_domain::testkit::fixtures::operator(),
            )
            .await
            .unwrap();
        let (cookie, _) = e.redeem_login_link(&fresh).await.unwrap().unwrap();
        e.end_session(&cookie).await.unwrap();
        assert!(e.console_session(&cookie).await.unwrap().is_none());
    });
}
