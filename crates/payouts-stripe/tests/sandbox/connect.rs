use payouts_domain::crossborder::ServiceAgreement;
use payouts_domain::ids::{AccountId, IdempotencyKey, MembershipId, StateToken};
use payouts_domain::partner::CapabilityStatus;
use payouts_domain::ports::{ConnectGateway, ExpressAccountRequest, FailureKind, LinkKind};
use payouts_stripe::{
    AccountStatus, AccountType, BusinessProfile, BusinessType, CreateAccountRequest,
    PayoutInterval, PayoutSchedule, RequestedCapabilities, Weekday,
};

use crate::helpers::{CLIENT_ID, key, start, start_with};

#[tokio::test]
async fn create_and_retrieve_accounts_of_every_type() {
    let env = start().await;
    let express = env
        .gw
        .create_account(&CreateAccountRequest {
            account_type: AccountType::Express,
            country: Some("US".to_owned()),
            email: Some("owner@restaurant.com".to_owned()),
            business_type: Some(BusinessType::Company),
            business_profile: Some(BusinessProfile {
                name: Some("Downtown Grill".to_owned()),
                mcc: Some("5812".to_owned()),
                url: Some("https://downtowngrill.com".to_owned()),
                ..BusinessProfile::default()
            }),
            capabilities: RequestedCapabilities {
                card_payments: true,
                transfers: true,
            },
            metadata: [("merchant_id".to_owned(), "merchant_123".to_owned())]
                .into_iter()
                .collect(),
            idempotency_key: Some(key("account")),
        })
        .await
        .unwrap();
    assert_eq!(express.account_type.as_deref(), Some("express"));
    assert_eq!(express.status, AccountStatus::Pending);
    assert!(!express.charges_enabled && !express.payouts_enabled && !express.details_submitted);
    assert_eq!(
        express.capabilities["transfers"],
        CapabilityStatus::Inactive
    );
    assert_eq!(
        express.capabilities["card_payments"],
        CapabilityStatus::Inactive
    );
    assert!(!express.requirements.currently_due.is_empty());
    assert!(
        !express
            .requirements
            .currently_due
            .iter()
            .any(|f| f == "business_profile.mcc"),
        "supplied fields are not due"
    );
    assert_eq!(
        express.business_profile.name.as_deref(),
        Some("Downtown Grill")
    );
    assert_eq!(express.metadata["merchant_id"], "merchant_123");
    assert_eq!(express.email.as_deref(), Some("owner@restaurant.com"));

    env.sb
        .complete_onboarding(express.account_id.as_str())
        .unwrap();
    let active = env.gw.retrieve_account(&express.account_id).await.unwrap();
    assert_eq!(active.status, AccountStatus::Active);
    assert!(active.charges_enabled && active.payouts_enabled && active.details_submitted);
    assert_eq!(active.capabilities["transfers"], CapabilityStatus::Active);
    assert!(active.requirements.past_due.is_empty());
    assert_eq!(active.requirements.disabled_reason, None);
    assert!(active.payout_schedule.is_some());
    let state = env.gw.account_state(&express.account_id).await.unwrap();
    assert!(state.can_receive_transfers());
    // What `account.updated` is checked against: the account as it is now.
    let snapshot = env.gw.account_snapshot(&express.account_id).await.unwrap();
    assert_eq!(snapshot.account_id, express.account_id);
    assert!(snapshot.details_submitted && snapshot.charges_enabled && snapshot.payouts_enabled);
    assert_eq!(snapshot.transfers, CapabilityStatus::Active);
    assert_eq!(
        (snapshot.disabled_reason.as_deref(), snapshot.past_due),
        (None, false)
    );
    assert_eq!(
        snapshot.status(),
        payouts_domain::platform::AccountStatus::Active
    );

    for account_type in [AccountType::Standard, AccountType::Custom] {
        let a = env
            .gw
            .create_account(&CreateAccountRequest {
                account_type,
                country: Some("US".to_owned()),
                email: Some("x@example.com".to_owned()),
                business_type: Some(BusinessType::Individual),
                business_profile: None,
                capabilities: RequestedCapabilities {
                    card_payments: account_type == AccountType::Custom,
                    transfers: account_type == AccountType::Custom,
                },
                metadata: Default::default(),
                idempotency_key: None,
            })
            .await
            .unwrap();
        let expected = match account_type {
            AccountType::Standard => "standard",
            AccountType::Custom => "custom",
            AccountType::Express => "express",
        };
        assert_eq!(a.account_type.as_deref(), Some(expected));
        assert_eq!(a.status, AccountStatus::Pending);
    }

    let missing = AccountId::parse("acct_missing").unwrap();
    let err = env.gw.retrieve_account(&missing).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound);
    env.finish().await;
}

#[tokio::test]
async fn express_accounts_for_partners_are_idempotent() {
    let env = start().await;
    let membership = MembershipId::from_uuid(uuid::Uuid::new_v4());
    let req = ExpressAccountRequest {
        membership_id: membership,
        email: "sarah@example.com".to_owned(),
        country: "US".to_owned(),
        service_agreement: ServiceAgreement::Full,
        key: IdempotencyKey::parse(format!("membership-{membership}-express-account")).unwrap(),
    };
    let a = env.gw.create_express_account(&req).await.unwrap();
    let b = env.gw.create_express_account(&req).await.unwrap();
    assert_eq!(a, b);
    let view = env.gw.retrieve_account(&a).await.unwrap();
    assert_eq!(view.metadata["membership_id"], membership.to_string());
    assert_eq!(view.capabilities["transfers"], CapabilityStatus::Inactive);
    let state = env.gw.account_state(&a).await.unwrap();
    assert!(!state.can_receive_transfers());
    let snapshot = env.gw.account_snapshot(&a).await.unwrap();
    assert!(!snapshot.details_submitted && !snapshot.payouts_enabled);
    assert_eq!(snapshot.transfers, CapabilityStatus::Inactive);
    assert_ne!(
        snapshot.status(),
        payouts_domain::platform::AccountStatus::Active
    );
    let missing = env
        .gw
        .account_snapshot(&AccountId::parse("acct_missing").unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing.kind, FailureKind::NotFound);
    env.finish().await;
}

/// `bank_fingerprint` lists the account's external accounts: none before
/// the partner adds a bank account, then its fingerprint; two accounts
/// given one bank account answer the same one; an unknown account is
/// `NotFound`. Every call passes the sandbox's spec validation.
#[tokio::test]
async fn bank_fingerprints_come_from_the_external_accounts() {
    let env = start().await;
    let mut accounts = Vec::new();
    for _ in 0..2 {
        let membership = MembershipId::from_uuid(uuid::Uuid::new_v4());
        let req = ExpressAccountRequest {
            membership_id: membership,
            email: "sarah@example.com".to_owned(),
            country: "US".to_owned(),
            service_agreement: ServiceAgreement::Full,
            key: IdempotencyKey::parse(format!("membership-{membership}-express-account")).unwrap(),
        };
        accounts.push(env.gw.create_express_account(&req).await.unwrap());
    }
    assert_eq!(env.gw.bank_fingerprint(&accounts[0]).await.unwrap(), None);
    for a in &accounts {
        let bank = env
            .sb
            .set_external_account(
                a.as_str(),
                stripe_sandbox::ExternalAccountRequest {
                    fingerprint: "fp_same_bank".to_owned(),
                    last4: Some("1234".to_owned()),
                },
            )
            .unwrap();
        assert_eq!(bank["object"], "bank_account");
        assert_eq!(bank["last4"], "1234");
    }
    for a in &accounts {
        assert_eq!(
            env.gw.bank_fingerprint(a).await.unwrap().as_deref(),
            Some("fp_same_bank")
        );
    }
    // Another bank account replaces the first.
    env.sb
        .set_external_account(
            accounts[1].as_str(),
            stripe_sandbox::ExternalAccountRequest {
                fingerprint: "fp_other".to_owned(),
                last4: None,
            },
        )
        .unwrap();
    assert_eq!(
        env.gw
            .bank_fingerprint(&accounts[1])
            .await
            .unwrap()
            .as_deref(),
        Some("fp_other")
    );
    let bad = env.sb.set_external_account(
        accounts[1].as_str(),
        stripe_sandbox::ExternalAccountRequest {
            fingerprint: String::new(),
            last4: None,
        },
    );
    assert!(bad.is_err());
    let missing = env
        .gw
        .bank_fingerprint(&AccountId::parse("acct_missing").unwrap())
        .await
        .unwrap_err();
    assert_eq!(missing.kind, FailureKind::NotFound);
    env.finish().await;
}

#[tokio::test]
async fn a_cross_border_partner_gets_a_recipient_account_with_transfers_only() {
    let env = start().await;
    let membership = MembershipId::from_uuid(uuid::Uuid::new_v4());
    let req = ExpressAccountRequest {
        membership_id: membership,
        email: "greta@example.de".to_owned(),
        country: "DE".to_owned(),
        service_agreement: ServiceAgreement::Recipient,
        key: IdempotencyKey::parse(format!("membership-{membership}-express-account")).unwrap(),
    };
    let account = env.gw.create_express_account(&req).await.unwrap();
    // What the sandbox stored, read back as Stripe shows it.
    let stored = env
        .raw(
            reqwest::Method::GET,
            &format!("/v1/accounts/{account}"),
            None,
            &[],
        )
        .await;
    assert_eq!(stored["country"], "DE");
    assert_eq!(stored["type"], "express");
    assert_eq!(stored["tos_acceptance"]["service_agreement"], "recipient");
    assert_eq!(
        stored["capabilities"],
        serde_json::json!({"transfers": "inactive"}),
        "transfers only, no card_payments"
    );
    // Onboarding activates transfers and never adds card_payments.
    let onboarded = env.sb.complete_onboarding(account.as_str()).unwrap();
    assert_eq!(
        onboarded["capabilities"],
        serde_json::json!({"transfers": "active"})
    );
    assert!(
        env.gw
            .account_state(&account)
            .await
            .unwrap()
            .can_receive_transfers()
    );

    // A domestic partner's account keeps Stripe's default `full` agreement.
    let us = ExpressAccountRequest {
        membership_id: MembershipId::from_uuid(uuid::Uuid::new_v4()),
        country: "US".to_owned(),
        service_agreement: ServiceAgreement::Full,
        key: key("express-us"),
        ..req
    };
    let us_account = env.gw.create_express_account(&us).await.unwrap();
    let stored = env
        .raw(
            reqwest::Method::GET,
            &format!("/v1/accounts/{us_account}"),
            None,
            &[],
        )
        .await;
    assert_eq!(stored["tos_acceptance"]["service_agreement"], "full");
    env.finish().await;
}

#[tokio::test]
async fn onboarding_update_and_login_links() {
    let env = start().await;
    let account = env.express_account().await;
    let onboarding = env
        .gw
        .account_link(
            &account,
            LinkKind::Onboarding,
            "https://app.example.com/settings/payments",
            "https://app.example.com/settings/payments/refresh",
        )
        .await
        .unwrap();
    assert!(onboarding.url.starts_with("http"));
    let expires = onboarding.expires_at.unwrap();
    let now = time::OffsetDateTime::from_unix_timestamp(env.sb.now()).unwrap();
    assert_eq!((expires - now).whole_seconds(), 300);

    env.sb.complete_onboarding(account.as_str()).unwrap();
    // As on Stripe, update links are for Custom accounts only.
    let err = env
        .gw
        .account_link(
            &account,
            LinkKind::Update,
            "https://app.example.com/r",
            "https://app.example.com/f",
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    let custom = env
        .gw
        .create_account(&CreateAccountRequest {
            account_type: AccountType::Custom,
            country: Some("US".to_owned()),
            email: None,
            business_type: None,
            business_profile: None,
            capabilities: RequestedCapabilities {
                card_payments: true,
                transfers: true,
            },
            metadata: Default::default(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    let update = env
        .gw
        .account_link(
            &custom.account_id,
            LinkKind::Update,
            "https://app.example.com/r",
            "https://app.example.com/f",
        )
        .await
        .unwrap();
    assert_ne!(update.url, onboarding.url);

    let login = env.gw.login_link(&account).await.unwrap();
    assert!(login.url.starts_with("http"));

    // Login links exist for Express accounts only.
    let standard = env
        .gw
        .create_account(&CreateAccountRequest {
            account_type: AccountType::Standard,
            country: Some("US".to_owned()),
            email: None,
            business_type: None,
            business_profile: None,
            capabilities: RequestedCapabilities::default(),
            metadata: Default::default(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    let err = env.gw.login_link(&standard.account_id).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    env.finish().await;
}

#[tokio::test]
async fn payout_schedule_read_and_update() {
    let env = start().await;
    let account = env.onboarded_account().await;
    let before = env.gw.payout_schedule(&account).await.unwrap();
    assert_ne!(before.interval, PayoutInterval::Unknown);

    let weekly = PayoutSchedule {
        interval: PayoutInterval::Weekly,
        delay_days: Some(2),
        weekly_anchor: Some(Weekday::Friday),
        monthly_anchor: None,
    };
    let saved = env
        .gw
        .update_payout_schedule(&account, &weekly, None)
        .await
        .unwrap();
    assert_eq!(saved, weekly);
    assert_eq!(env.gw.payout_schedule(&account).await.unwrap(), weekly);

    let monthly = PayoutSchedule {
        interval: PayoutInterval::Monthly,
        delay_days: Some(7),
        weekly_anchor: None,
        monthly_anchor: Some(15),
    };
    let saved = env
        .gw
        .update_payout_schedule(&account, &monthly, Some(&key("schedule")))
        .await
        .unwrap();
    assert_eq!(saved.interval, PayoutInterval::Monthly);
    assert_eq!(saved.monthly_anchor, Some(15));
    assert_eq!(saved.delay_days, Some(7));

    let odd = PayoutSchedule {
        interval: PayoutInterval::Unknown,
        ..monthly
    };
    let err = env
        .gw
        .update_payout_schedule(&account, &odd, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    env.finish().await;
}

#[tokio::test]
async fn oauth_authorize_url_shape() {
    let env = start_with(|c| {
        c.connect_base = "https://connect.stripe.com".to_owned();
        c.redirect_uri = Some("https://app.example.com/stripe/callback?x=1".to_owned());
    })
    .await;
    let state = StateToken::parse("0123456789abcdef0123456789abcdef").unwrap();
    let url = env.gw.authorize_url(&state);
    let parsed = reqwest::Url::parse(&url).unwrap();
    assert_eq!(parsed.host_str(), Some("connect.stripe.com"));
    assert_eq!(parsed.path(), "/oauth/authorize");
    let q: std::collections::HashMap<_, _> = parsed.query_pairs().into_owned().collect();
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["scope"], "read_write");
    assert_eq!(q["state"], state.as_str());
    assert_eq!(
        q["redirect_uri"],
        "https://app.example.com/stripe/callback?x=1"
    );
    assert!(url.starts_with(
        "https://connect.stripe.com/oauth/authorize?response_type=code&client_id=ca_payouts_test&scope=read_write&state=0123"
    ));

    let plain = env.gateway_with(|_| {});
    let url = plain.authorize_url(&state);
    assert!(!url.contains("redirect_uri"));
    assert!(url.starts_with(&format!("{}/oauth/authorize?", env.sb.base_url())));
    env.finish().await;
}

#[tokio::test]
async fn oauth_code_exchange_and_deauthorization() {
    let env = start().await;
    // A code for a new standard account, connected at exchange.
    let grant = env.sb.create_oauth_code(None).unwrap();
    let connected = env.gw.exchange_code(&grant.code).await.unwrap();
    assert_eq!(connected.scope, "read_write");
    assert!(!connected.livemode);
    let view = env
        .gw
        .retrieve_account(&connected.account_id)
        .await
        .unwrap();
    assert_eq!(view.account_type.as_deref(), Some("standard"));

    // A used code, and an unknown one.
    let err = env.gw.exchange_code(&grant.code).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    assert_eq!(err.code.as_deref(), Some("invalid_grant"));
    let err = env.gw.exchange_code("ac_unknown").await.unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);

    // A code for an existing account.
    let existing = env.onboarded_account().await;
    let grant = env.sb.create_oauth_code(Some(existing.as_str())).unwrap();
    assert_eq!(
        env.gw.exchange_code(&grant.code).await.unwrap().account_id,
        existing
    );

    env.gw.deauthorize(&connected.account_id).await.unwrap();
    // Acting as a revoked account is refused; a second revocation too.
    env.fund(None, 1_000);
    let err = env
        .gw
        .account_balance(&connected.account_id)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::CannotReceive);
    assert_eq!(err.code.as_deref(), Some("account_invalid"));
    let err = env.gw.deauthorize(&connected.account_id).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    env.finish().await;
}
