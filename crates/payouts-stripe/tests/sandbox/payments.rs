use payouts_domain::ids::{CouponCode, MembershipId, PromotionCodeId};
use payouts_domain::money::{Currency, Money};
use payouts_domain::ports::{ConnectGateway, FailureKind, PromotionCodeRequest};
use payouts_stripe::{
    CaptureMethod, CreatePaymentIntentRequest, DisputeEvidence, DisputeStatus, ListParams,
    PaymentIntentStatus, PayoutStatus, RefundReason, RefundRequest, RefundStatus,
};
use reqwest::Method;
use stripe_sandbox::{CreateDispute, SetBalance};

use crate::helpers::{Env, key, start, usd};

fn payment(
    env_account: &payouts_domain::ids::AccountId,
    amount: i64,
) -> CreatePaymentIntentRequest {
    CreatePaymentIntentRequest {
        account_id: env_account.clone(),
        amount: usd(amount),
        application_fee_amount: Some(75),
        order_id: Some("ord_xyz".to_owned()),
        customer_email: Some("customer@example.com".to_owned()),
        description: None,
        capture_method: CaptureMethod::Automatic,
        payment_method: Some("pm_card_visa".to_owned()),
        confirm: true,
        metadata: [("location_id".to_owned(), "loc_123".to_owned())]
            .into_iter()
            .collect(),
        idempotency_key: None,
    }
}

#[tokio::test]
async fn destination_charge_with_manual_capture() {
    let env = start().await;
    let merchant = env.onboarded_account().await;

    // Created without confirmation: the browser would confirm it.
    let mut unconfirmed = payment(&merchant, 2_500);
    unconfirmed.payment_method = None;
    unconfirmed.confirm = false;
    let pi = env.gw.create_payment_intent(&unconfirmed).await.unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresPaymentMethod);
    assert_eq!(pi.destination_amount, Some(usd(2_425)));
    assert_eq!(pi.application_fee, Some(usd(75)));
    assert_eq!(pi.account_id.as_ref(), Some(&merchant));
    assert!(
        pi.client_secret
            .as_ref()
            .unwrap()
            .expose()
            .contains("_secret_")
    );
    assert_eq!(pi.metadata["order_id"], "ord_xyz");

    let mut manual = payment(&merchant, 2_500);
    manual.capture_method = CaptureMethod::Manual;
    manual.idempotency_key = Some(key("pi"));
    let pi = env.gw.create_payment_intent(&manual).await.unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::RequiresCapture);
    assert_eq!(pi.amount_capturable, usd(2_500));

    let captured = env
        .gw
        .capture_payment_intent(&pi.payment_intent_id, Some(2_000), None)
        .await
        .unwrap();
    assert_eq!(captured.status, PaymentIntentStatus::Succeeded);
    assert_eq!(captured.amount_received, usd(2_000));
    assert!(
        captured
            .latest_charge
            .as_deref()
            .unwrap()
            .starts_with("ch_")
    );
    let balance = env.gw.account_balance(&merchant).await.unwrap();
    assert_eq!(balance.available, vec![usd(2_000 - 75)]);
    let read = env
        .gw
        .retrieve_payment_intent(&pi.payment_intent_id, None)
        .await
        .unwrap();
    assert_eq!(read.status, PaymentIntentStatus::Succeeded);

    // Capturing twice is refused as a plain invalid request.
    let err = env
        .gw
        .capture_payment_intent(&pi.payment_intent_id, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    env.finish().await;
}

#[tokio::test]
async fn refund_gives_back_the_fee_share_and_reverses_the_transfer() {
    let env = start().await;
    let merchant = env.onboarded_account().await;
    let pi = env
        .gw
        .create_payment_intent(&payment(&merchant, 2_500))
        .await
        .unwrap();
    assert_eq!(pi.status, PaymentIntentStatus::Succeeded);
    let platform_before = env.sb.balance(None, "usd").available;

    let refund = env
        .gw
        .refund_payment(&RefundRequest {
            payment_intent_id: pi.payment_intent_id.clone(),
            amount: Some(500),
            reason: Some(RefundReason::RequestedByCustomer),
            refund_application_fee: true,
            reverse_transfer: true,
            on_account: None,
            metadata: Default::default(),
            idempotency_key: Some(key("refund")),
        })
        .await
        .unwrap();
    assert_eq!(refund.amount, usd(500));
    assert_eq!(refund.status, RefundStatus::Succeeded);
    // The adapter reports what Stripe did; the fee share is the engine's
    // rule (`fee_share_refunded`), checked through the HTTP API tests.
    assert_eq!(refund.application_fee_refunded, None);
    assert_eq!(
        payouts_domain::platform::fee_share_refunded(usd(75), refund.amount, usd(2_500)),
        Ok(usd(15))
    );
    assert!(
        refund
            .transfer_reversal
            .as_deref()
            .unwrap()
            .starts_with("trr_")
    );
    assert_eq!(refund.reason.as_deref(), Some("requested_by_customer"));
    assert_eq!(
        refund.payment_intent_id.as_ref(),
        Some(&pi.payment_intent_id)
    );
    // The merchant gave back 500 less the 15 of fee returned to it.
    assert_eq!(
        env.sb.balance(Some(merchant.as_str()), "usd").available,
        2_425 - 500 + 15
    );
    assert_eq!(env.sb.balance(None, "usd").available, platform_before - 15);

    // A plain refund of the rest.
    let rest = env
        .gw
        .refund_payment(&RefundRequest {
            payment_intent_id: pi.payment_intent_id.clone(),
            amount: None,
            reason: None,
            refund_application_fee: false,
            reverse_transfer: false,
            on_account: None,
            metadata: Default::default(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    assert_eq!(rest.amount, usd(2_000));
    assert_eq!(rest.application_fee_refunded, None);
    env.finish().await;
}

#[tokio::test]
async fn payouts_of_a_connected_account() {
    let env = start().await;
    let account = env.onboarded_account().await;
    env.fund(Some(&account), 200_000);
    let created = env
        .raw(
            Method::POST,
            "/v1/payouts",
            Some(&account),
            &[("amount", "125000"), ("currency", "usd")],
        )
        .await;
    let id = created["id"].as_str().unwrap().to_owned();

    let page = env
        .gw
        .list_payouts(&account, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    let payout = &page.data[0];
    assert_eq!(payout.payout_id.as_str(), id);
    assert_eq!(payout.amount, usd(125_000));
    assert_eq!(payout.status, PayoutStatus::Pending);
    assert!(payout.arrival_date.is_some());

    env.sb.set_payout_status(&id, "paid").unwrap();
    let page = env
        .gw
        .list_payouts(
            &account,
            &ListParams {
                limit: Some(1),
                starting_after: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(page.data[0].status, PayoutStatus::Paid);
    assert!(!page.has_more);

    // The platform does not see the account's payouts.
    let platform = env.sb.platform_account_id().to_owned();
    let platform = payouts_domain::ids::AccountId::parse(platform).unwrap();
    let err = env.gw.list_payouts(&platform, &ListParams::default()).await;
    assert!(err.map(|p| p.data.is_empty()).unwrap_or(true));
    env.finish().await;
}

#[tokio::test]
async fn platform_and_account_balances() {
    let env = start().await;
    let account = env.onboarded_account().await;
    env.sb
        .set_balance(SetBalance {
            account: None,
            currency: "usd".to_owned(),
            available: 150_000,
            pending: 25_000,
        })
        .unwrap();
    env.sb
        .set_balance(SetBalance {
            account: None,
            currency: "eur".to_owned(),
            available: 900,
            pending: 0,
        })
        .unwrap();
    env.fund(Some(&account), 4_200);
    let platform = env.gw.platform_balance().await.unwrap();
    assert!(platform.available.contains(&usd(150_000)));
    assert!(platform.available.contains(&Money::new(900, Currency::EUR)));
    assert!(platform.pending.contains(&usd(25_000)));
    let acct = env.gw.account_balance(&account).await.unwrap();
    assert_eq!(acct.available, vec![usd(4_200)]);
    env.finish().await;
}

async fn disputed_charge(env: &Env) -> String {
    let merchant = env.onboarded_account().await;
    let pi = env
        .gw
        .create_payment_intent(&payment(&merchant, 2_500))
        .await
        .unwrap();
    let charge = pi.latest_charge.unwrap();
    env.sb
        .create_dispute(&CreateDispute {
            charge: charge.clone(),
            amount: None,
            reason: Some("fraudulent".to_owned()),
        })
        .unwrap();
    charge
}

#[tokio::test]
async fn disputes_list_stage_and_submit_evidence() {
    let env = start().await;
    let charge = disputed_charge(&env).await;
    let page = env
        .gw
        .list_disputes(None, &ListParams::default())
        .await
        .unwrap();
    assert_eq!(page.data.len(), 1);
    let d = &page.data[0];
    assert_eq!(d.charge.as_deref(), Some(charge.as_str()));
    assert_eq!(d.status, DisputeStatus::NeedsResponse);
    assert_eq!(d.reason, "fraudulent");
    assert_eq!(d.amount, usd(2_500));
    assert!(d.evidence_due_by.is_some());
    assert!(d.payment_intent_id.is_some());

    let evidence: DisputeEvidence = serde_json::from_value(serde_json::json!({
        "customer_name": "John Doe",
        "customer_email": "john@example.com",
        "service_documentation": "Order was fulfilled and picked up by customer"
    }))
    .unwrap();
    let staged = env
        .gw
        .update_dispute_evidence(None, &d.dispute_id, &evidence, false, None)
        .await
        .unwrap();
    assert_eq!(staged.status, DisputeStatus::NeedsResponse);
    let submitted = env
        .gw
        .update_dispute_evidence(
            None,
            &d.dispute_id,
            &DisputeEvidence {
                uncategorized_text: Some("see receipt".to_owned()),
                ..DisputeEvidence::default()
            },
            true,
            Some(&key("evidence")),
        )
        .await
        .unwrap();
    assert_eq!(submitted.status, DisputeStatus::UnderReview);
    assert_eq!(submitted.evidence_submission_count, 1);
    env.finish().await;
}

#[tokio::test]
async fn promotion_codes_use_the_new_promotion_form_and_deactivate() {
    let env = start().await;
    let merchant = env.onboarded_account().await;
    let coupon = env
        .raw(
            Method::POST,
            "/v1/coupons",
            Some(&merchant),
            &[("percent_off", "20"), ("duration", "once")],
        )
        .await;
    let coupon_id = coupon["id"].as_str().unwrap().to_owned();
    let membership = MembershipId::from_uuid(uuid::Uuid::new_v4());
    let req = PromotionCodeRequest {
        merchant_account: merchant.clone(),
        code: CouponCode::parse("SARAH20").unwrap(),
        coupon: coupon_id.clone(),
        membership_id: membership,
        key: key("promotion-code-merchant_123-SARAH20"),
    };
    let id = env.gw.create_promotion_code(&req).await.unwrap();
    assert_eq!(env.gw.create_promotion_code(&req).await.unwrap(), id);

    let path = format!("/v1/promotion_codes/{id}");
    let read = env.raw(Method::GET, &path, Some(&merchant), &[]).await;
    assert_eq!(read["code"], "SARAH20");
    assert_eq!(read["active"], true);
    assert_eq!(read["metadata"]["membership_id"], membership.to_string());

    env.gw
        .deactivate_promotion_code(&merchant, &id)
        .await
        .unwrap();
    let read = env.raw(Method::GET, &path, Some(&merchant), &[]).await;
    assert_eq!(read["active"], false);

    // Promotion codes live on the merchant's account, not the platform's.
    let platform = payouts_domain::ids::AccountId::parse(env.sb.platform_account_id()).unwrap();
    let err = env
        .gw
        .deactivate_promotion_code(&platform, &id)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound);
    let unknown = PromotionCodeId::parse("promo_unknown").unwrap();
    let err = env
        .gw
        .deactivate_promotion_code(&merchant, &unknown)
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound);
    env.finish().await;
}
