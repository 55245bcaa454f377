use crate::helpers::TestSandbox;

#[tokio::test]
async fn unknown_missing_mistyped_and_nested_params_are_stripe_errors() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;

    let r = sb
        .post(
            "/v1/transfers",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("destination", &dest),
                ("colour", "red"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json["error"]["type"], "invalid_request_error");
    assert_eq!(r.error_code(), Some("parameter_unknown"));
    assert_eq!(r.error_param(), Some("colour"));
    assert!(r.header("Request-Id").unwrap().starts_with("req_"));
    assert_eq!(r.header("Stripe-Should-Retry"), Some("false"));

    let r = sb
        .post(
            "/v1/transfers",
            &[("amount", "100"), ("destination", &dest)],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("parameter_missing"));
    assert_eq!(r.error_param(), Some("currency"));

    let r = sb
        .post(
            "/v1/transfers",
            &[
                ("amount", "abc"),
                ("currency", "usd"),
                ("destination", &dest),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("parameter_invalid_integer"));
    assert_eq!(r.error_param(), Some("amount"));

    let r = sb
        .post(
            "/v1/payment_intents",
            &[
                ("amount", "1000"),
                ("currency", "usd"),
                ("transfer_data[destination]", &dest),
                ("transfer_data[bogus]", "x"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("parameter_unknown"));
    assert_eq!(r.error_param(), Some("transfer_data[bogus]"));

    let r = sb
        .post(
            "/v1/transfers",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("destination", &dest),
                ("metadata[item_id]", "it_1"),
            ],
        )
        .await;
    // Valid, so it reaches execution: the platform has no funds yet.
    assert_eq!(r.status, 400);
    assert_eq!(r.error_code(), Some("balance_insufficient"));
    sb.fund(None, 1_000);
    let r = sb
        .post(
            "/v1/transfers",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("destination", &dest),
                ("metadata[item_id]", "it_1"),
            ],
        )
        .await
        .ok();
    assert_eq!(r.json["object"], "transfer");
    assert_eq!(r.json["metadata"]["item_id"], "it_1");
    sb.stop().await;
}

#[tokio::test]
async fn query_strings_are_validated() {
    let sb = TestSandbox::start().await;
    sb.get("/v1/transfers?limit=2&created[gte]=1").await.ok();
    let r = sb.get("/v1/transfers?limit=many").await;
    assert_eq!(r.error_code(), Some("parameter_invalid_integer"));
    assert_eq!(r.error_param(), Some("limit"));
    let r = sb.get("/v1/transfers?bogus=1").await;
    assert_eq!(r.error_code(), Some("parameter_unknown"));
    let r = sb.get("/v1/transfers?created[soon]=1").await;
    assert_eq!(r.error_param(), Some("created[soon]"));
    sb.stop().await;
}

#[tokio::test]
async fn auth_and_unknown_urls() {
    let sb = TestSandbox::start().await;
    let r = sb
        .send(sb.client.get(format!("{}/v1/balance", sb.base)))
        .await;
    assert_eq!(r.status, 401);
    assert_eq!(r.json["error"]["type"], "invalid_request_error");
    let r = sb
        .send(
            sb.client
                .get(format!("{}/v1/balance", sb.base))
                .bearer_auth("pk_test_nope"),
        )
        .await;
    assert_eq!(r.status, 401);
    for key in ["sk_live_x", "rk_test_x", "rk_x"] {
        let r = sb
            .send(
                sb.client
                    .get(format!("{}/v1/balance", sb.base))
                    .bearer_auth(key),
            )
            .await;
        assert_eq!(r.status, 200, "{key}");
    }
    let r = sb.get("/v1/widgets").await;
    assert_eq!(r.status, 404);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Unrecognized request URL (GET: /v1/widgets)")
    );
    // In the spec but not simulated: a clear 404, not a silent success.
    let r = sb.get("/v1/customers").await;
    assert_eq!(r.status, 404);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("does not implement")
    );
    sb.stop().await;
}

#[tokio::test]
async fn promotion_codes_accept_old_and_new_coupon_forms() {
    let sb = TestSandbox::start().await;
    let coupon = sb
        .post(
            "/v1/coupons",
            &[
                ("percent_off", "25"),
                ("duration", "once"),
                ("id", "SPRING"),
            ],
        )
        .await
        .ok();
    assert_eq!(coupon.json["id"], "SPRING");
    assert_eq!(coupon.json["percent_off"], 25);
    sb.get("/v1/coupons/SPRING").await.ok();

    let old = sb
        .post(
            "/v1/promotion_codes",
            &[("coupon", "SPRING"), ("code", "OLDFORM")],
        )
        .await
        .ok();
    assert!(old.id().starts_with("promo_"));
    assert_eq!(old.json["coupon"]["id"], "SPRING");

    let new = sb
        .post(
            "/v1/promotion_codes",
            &[
                ("promotion[type]", "coupon"),
                ("promotion[coupon]", "SPRING"),
                ("code", "NEWFORM"),
                ("metadata[partner]", "p1"),
            ],
        )
        .await
        .ok();
    assert_eq!(new.json["coupon"]["id"], "SPRING");
    assert_eq!(new.json["promotion"]["coupon"], "SPRING");
    assert_eq!(new.json["active"], true);

    let bad = sb
        .post(
            "/v1/promotion_codes",
            &[
                ("promotion[type]", "coupon"),
                ("promotion[coupon]", "SPRING"),
                ("promotion[evil]", "1"),
            ],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), Some("parameter_unknown"));
    assert_eq!(bad.error_param(), Some("promotion[evil]"));
    let bad = sb
        .post(
            "/v1/promotion_codes",
            &[("promotion[type]", "coupon"), ("promotion[coupon]", "NOPE")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(bad.error_code(), Some("resource_missing"));
    assert_eq!(bad.error_param(), Some("promotion[coupon]"));

    let off = sb
        .post(
            &format!("/v1/promotion_codes/{}", new.id()),
            &[("active", "false")],
        )
        .await
        .ok();
    assert_eq!(off.json["active"], false);
    let active = sb.get("/v1/promotion_codes?active=true").await.ok();
    let ids: Vec<&str> = active.json["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, vec![old.id().as_str()]);
    let by_code = sb.get("/v1/promotion_codes?code=newform").await.ok();
    assert_eq!(by_code.json["data"][0]["id"], new.id().as_str());
    sb.stop().await;
}

#[tokio::test]
async fn validation_failures_are_logged_for_clients_to_assert_on() {
    let sb = TestSandbox::start().await;
    let dest = sb.onboarded_account().await;
    sb.fund(None, 1_000);
    sb.transfer(&dest, "100").await.ok();
    assert!(sb.handle.validation_failures().is_empty());

    let r = sb
        .post(
            "/v1/transfers",
            &[
                ("amount", "100"),
                ("currency", "usd"),
                ("destination", &dest),
                ("colour", "red"),
            ],
        )
        .await;
    assert_eq!(r.status, 400);
    let r = sb.get("/v1/transfers?limit=many").await;
    assert_eq!(r.status, 400);
    // A Stripe-level refusal after validation is not a validation failure.
    let r = sb.transfer("acct_nope", "100").await;
    assert_eq!(r.status, 400);

    let failures = sb.handle.validation_failures();
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert_eq!(failures[0].method, "POST");
    assert_eq!(failures[0].path, "/v1/transfers");
    assert_eq!(failures[0].code.as_deref(), Some("parameter_unknown"));
    assert_eq!(failures[0].param.as_deref(), Some("colour"));
    assert_eq!(failures[1].method, "GET");
    assert_eq!(
        failures[1].code.as_deref(),
        Some("parameter_invalid_integer")
    );

    let r = sb.control_get("/validation_failures").await.ok();
    assert_eq!(r.json["count"], 2);
    assert_eq!(r.json["failures"][0]["param"], "colour");

    sb.control("/reset", serde_json::json!({})).await.ok();
    assert!(sb.handle.validation_failures().is_empty());
    sb.stop().await;
}
