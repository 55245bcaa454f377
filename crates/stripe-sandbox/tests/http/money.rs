use serde_json::json;
use stripe_sandbox::CreateDispute;

use crate::helpers::TestSandbox;

#[tokio::test]
async fn overdraft_capability_and_onboarding_gate_transfers() {
    let sb = TestSandbox::start().await;
    let dest = sb.new_account().await;
    sb.fund(None, 1_000);

    let r = sb.transfer(&dest, "100").await;
    assert_eq!(r.status, 400);
    assert_eq!(
        r.error_code(),
        Some("insufficient_capabilities_for_transfer")
    );
    assert_eq!(r.error_param(), Some("destination"));

    let r = sb.transfer("acct_doesnotexist", "100").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("resource_missing"));
    assert_eq!(r.error_param(), Some("destination"));

    let onboarded = sb
        .control(&format!("/accounts/{dest}/complete_onboarding"), json!({}))
        .await
        .ok();
    assert_eq!(onboarded.json["capabilities"]["transfers"], "active");
    assert_eq!(onboarded.json["charges_enabled"], true);

    let r = sb.transfer(&dest, "1001").await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"]["type"], "invalid_request_error");
    assert_eq!(r.error_code(), Some("balance_insufficient"));

    let t = sb.transfer(&dest, "1000").await.ok();
    assert!(t.id().starts_with("tr_"));
    assert_eq!(t.json["amount_reversed"], 0);
    assert_eq!(t.json["reversed"], false);
    assert_eq!(sb.handle.balance(None, "usd").available, 0);
    assert_eq!(sb.handle.balance(Some(&dest), "usd").available, 1_000);
    let bal = sb.get_as(&dest, "/v1/balance").await.ok();
    assert_eq!(bal.json["available"][0]["amount"], 1000);
    let platform_bal = sb.get("/v1/balance").await.ok();
    assert_eq!(platform_bal.json["available"][0]["amount"], 0);
    sb.stop().await;
}

#[tokio::test]
async fn reversals_full_partial_and_over() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    let t = sb.transfer(&dest, "1000").await.ok().id();
    let path = format!("/v1/transfers/{t}/reversals");

    let partial = sb
        .post(&path, &[("amount", "300"), ("metadata[why]", "typo")])
        .await
        .ok();
    assert!(partial.id().starts_with("trr_"));
    assert_eq!(partial.json["amount"], 300);
    let over = sb.post(&path, &[("amount", "701")]).await;
    assert_eq!(over.status, 400);
    assert_eq!(over.error_param(), Some("amount"));
    let rest = sb.post(&path, &[]).await.ok();
    assert_eq!(rest.json["amount"], 700);
    let again = sb.post(&path, &[]).await;
    assert_eq!(again.status, 400);

    let t = sb.get(&format!("/v1/transfers/{t}")).await.ok();
    assert_eq!(t.json["amount_reversed"], 1000);
    assert_eq!(t.json["reversed"], true);
    assert_eq!(t.json["reversals"]["data"].as_array().unwrap().len(), 2);
    let list = sb.get(&path).await.ok();
    assert_eq!(list.json["data"][0]["amount"], 700);
    assert_eq!(sb.handle.balance(None, "usd").available, 1_000);
    assert_eq!(sb.handle.balance(Some(&dest), "usd").available, 0);
    sb.stop().await;
}

#[tokio::test]
async fn transfer_list_filters_and_pagination() {
    let sb = TestSandbox::start().await;
    let a = sb.onboarded_account().await;
    let b = sb.onboarded_account().await;
    sb.fund(None, 10_000);
    let mut ids = Vec::new();
    for (dest, group) in [(&a, "g1"), (&b, "g1"), (&a, "g2")] {
        let r = sb
            .post(
                "/v1/transfers",
                &[
                    ("amount", "10"),
                    ("currency", "usd"),
                    ("destination", dest),
                    ("transfer_group", group),
                ],
            )
            .await
            .ok();
        ids.push(r.id());
    }
    let g1 = sb.get("/v1/transfers?transfer_group=g1").await.ok();
    assert_eq!(g1.json["data"].as_array().unwrap().len(), 2);
    let to_a = sb.get(&format!("/v1/transfers?destination={a}")).await.ok();
    assert_eq!(to_a.json["data"].as_array().unwrap().len(), 2);
    let page = sb.get("/v1/transfers?limit=2").await.ok();
    assert_eq!(page.json["has_more"], true);
    assert_eq!(page.json["data"][0]["id"], ids[2].as_str());
    let next = sb
        .get(&format!("/v1/transfers?limit=2&starting_after={}", ids[1]))
        .await
        .ok();
    assert_eq!(next.json["has_more"], false);
    assert_eq!(next.json["data"][0]["id"], ids[0].as_str());
    sb.stop().await;
}

#[tokio::test]
async fn stripe_account_scoping() {
    let sb = TestSandbox::start().await;
    let acct = sb.onboarded_account().await;
    let other = sb.onboarded_account().await;
    sb.fund(Some(&acct), 2_000);

    // A transfer made on behalf of the connected account debits it.
    let t = sb
        .post_as(
            &acct,
            "/v1/transfers",
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("destination", &other),
            ],
        )
        .await
        .ok();
    assert_eq!(sb.handle.balance(Some(&acct), "usd").available, 1_500);
    assert_eq!(sb.handle.balance(Some(&other), "usd").available, 500);
    // Visible only under that account.
    assert_eq!(
        sb.get(&format!("/v1/transfers/{}", t.id())).await.status,
        404
    );
    sb.get_as(&acct, &format!("/v1/transfers/{}", t.id()))
        .await
        .ok();
    let platform_list = sb.get("/v1/transfers").await.ok();
    assert_eq!(platform_list.json["data"].as_array().unwrap().len(), 0);

    let po = sb
        .post_as(
            &acct,
            "/v1/payouts",
            &[("amount", "1000"), ("currency", "usd")],
        )
        .await
        .ok();
    assert_eq!(po.json["status"], "pending");
    assert_eq!(sb.handle.balance(Some(&acct), "usd").available, 500);
    let mine = sb.get_as(&acct, "/v1/payouts").await.ok();
    assert_eq!(mine.json["data"][0]["id"], po.id().as_str());
    let theirs = sb.get_as(&other, "/v1/payouts").await.ok();
    assert!(theirs.json["data"].as_array().unwrap().is_empty());
    sb.get_as(&acct, &format!("/v1/payouts/{}", po.id()))
        .await
        .ok();
    assert_eq!(
        sb.get_as(&other, &format!("/v1/payouts/{}", po.id()))
            .await
            .status,
        404
    );
    let overdraft = sb
        .post_as(
            &acct,
            "/v1/payouts",
            &[("amount", "501"), ("currency", "usd")],
        )
        .await;
    assert_eq!(overdraft.error_code(), Some("balance_insufficient"));

    let unknown = sb.get_as("acct_unknown", "/v1/balance").await;
    assert_eq!(unknown.status, 403);
    assert_eq!(unknown.error_code(), Some("account_invalid"));
    // A connected account sees only itself.
    assert_eq!(
        sb.get_as(&acct, &format!("/v1/accounts/{other}"))
            .await
            .status,
        404
    );
    sb.stop().await;
}

#[tokio::test]
async fn destination_charge_refund_and_dispute_move_money() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    let pi = sb
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("application_fee_amount", "100"),
                ("transfer_data[destination]", &dest),
                ("payment_method_types[]", "card"),
                ("receipt_email", "buyer@example.com"),
                ("metadata[order]", "o_1"),
                ("confirm", "true"),
                ("payment_method", "pm_card_visa"),
            ],
        )
        .await
        .ok();
    assert_eq!(pi.json["status"], "succeeded");
    assert_eq!(pi.json["amount_received"], 1000);
    let charge_id = pi.json["latest_charge"].as_str().unwrap().to_owned();
    assert!(charge_id.starts_with("ch_"));
    assert_eq!(sb.handle.balance(None, "usd").available, 100);
    assert_eq!(sb.handle.balance(Some(&dest), "usd").available, 900);
    let charge = sb.get(&format!("/v1/charges/{charge_id}")).await.ok();
    assert_eq!(charge.json["amount_captured"], 1000);
    assert!(charge.json["transfer"].as_str().unwrap().starts_with("tr_"));

    let refund = sb
        .post(
            "/v1/refunds",
            &[
                ("payment_intent", pi.id().as_str()),
                ("amount", "500"),
                ("reason", "requested_by_customer"),
                ("refund_application_fee", "true"),
                ("reverse_transfer", "true"),
                ("metadata[ticket]", "t1"),
            ],
        )
        .await
        .ok();
    assert!(refund.id().starts_with("re_"));
    assert!(
        refund.json["transfer_reversal"]
            .as_str()
            .unwrap()
            .starts_with("trr_")
    );
    // Half refunded: each side gives back half of what it got.
    assert_eq!(sb.handle.balance(None, "usd").available, 50);
    assert_eq!(sb.handle.balance(Some(&dest), "usd").available, 450);
    let too_much = sb
        .post(
            "/v1/refunds",
            &[("charge", charge_id.as_str()), ("amount", "501")],
        )
        .await;
    assert_eq!(too_much.error_param(), Some("amount"));

    let dispute = sb
        .handle
        .create_dispute(&CreateDispute {
            charge: charge_id.clone(),
            amount: None,
            reason: None,
        })
        .unwrap();
    let dp = dispute["id"].as_str().unwrap().to_owned();
    assert!(dp.starts_with("dp_"));
    assert_eq!(dispute["status"], "needs_response");
    assert_eq!(dispute["amount"], 500);
    let listed = sb.get("/v1/disputes").await.ok();
    assert_eq!(listed.json["data"][0]["id"], dp.as_str());
    let staged = sb
        .post(
            &format!("/v1/disputes/{dp}"),
            &[("evidence[customer_name]", "Jane"), ("submit", "false")],
        )
        .await
        .ok();
    assert_eq!(staged.json["status"], "needs_response");
    assert_eq!(staged.json["evidence"]["customer_name"], "Jane");
    let submitted = sb
        .post(
            &format!("/v1/disputes/{dp}"),
            &[
                ("evidence[service_documentation]", "Picked up in store"),
                ("metadata[case]", "c1"),
                ("submit", "true"),
            ],
        )
        .await
        .ok();
    assert_eq!(submitted.json["status"], "under_review");
    assert_eq!(submitted.json["evidence_details"]["submission_count"], 1);
    assert_eq!(submitted.json["evidence"]["customer_name"], "Jane");
    sb.stop().await;
}

#[tokio::test]
async fn manual_capture_and_declines() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    let pi = sb
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("capture_method", "manual"),
                ("application_fee_amount", "200"),
                ("transfer_data[destination]", &dest),
            ],
        )
        .await
        .ok();
    assert_eq!(pi.json["status"], "requires_payment_method");
    let confirmed = sb
        .post(
            &format!("/v1/payment_intents/{}/confirm", pi.id()),
            &[("payment_method", "pm_card_visa")],
        )
        .await
        .ok();
    assert_eq!(confirmed.json["status"], "requires_capture");
    assert_eq!(confirmed.json["amount_capturable"], 2000);
    assert_eq!(sb.handle.balance(Some(&dest), "usd").available, 0);
    let captured = sb
        .post(
            &format!("/v1/payment_intents/{}/capture", pi.id()),
            &[("amount_to_capture", "1500")],
        )
        .await
        .ok();
    assert_eq!(captured.json["status"], "succeeded");
    assert_eq!(captured.json["amount_received"], 1500);
    assert_eq!(sb.handle.balance(None, "usd").available, 200);
    assert_eq!(sb.handle.balance(Some(&dest), "usd").available, 1300);

    let declined = sb
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "2000"),
                ("currency", "usd"),
                ("confirm", "true"),
                ("payment_method", "pm_card_chargeDeclinedInsufficientFunds"),
            ],
        )
        .await;
    assert_eq!(declined.status, 402);
    assert_eq!(declined.json["error"]["type"], "card_error");
    assert_eq!(declined.json["error"]["decline_code"], "insufficient_funds");
    sb.stop().await;
}
