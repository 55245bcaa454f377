use serde_json::json;

use crate::helpers::{TestSandbox, form};

#[tokio::test]
async fn new_accounts_start_restricted_with_requirements() {
    let sb = TestSandbox::start().await;
    let a = sb
        .post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "US"),
                ("email", "owner@restaurant.com"),
                ("business_type", "company"),
                ("business_profile[name]", "Downtown Grill"),
                ("business_profile[mcc]", "5812"),
                ("business_profile[url]", "https://downtowngrill.com"),
                ("capabilities[card_payments][requested]", "true"),
                ("capabilities[transfers][requested]", "true"),
                ("metadata[merchant_id]", "merchant_123"),
            ],
        )
        .await
        .ok();
    let j = &a.json;
    assert!(a.id().starts_with("acct_"));
    assert_eq!(j["object"], "account");
    assert_eq!(j["type"], "express");
    assert_eq!(j["details_submitted"], false);
    assert_eq!(j["charges_enabled"], false);
    assert_eq!(j["payouts_enabled"], false);
    assert_eq!(j["capabilities"]["transfers"], "inactive");
    assert_eq!(j["business_profile"]["name"], "Downtown Grill");
    assert_eq!(j["metadata"]["merchant_id"], "merchant_123");
    assert_eq!(
        j["requirements"]["disabled_reason"],
        "requirements.past_due"
    );
    let due: Vec<&str> = j["requirements"]["currently_due"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(due.contains(&"external_account"));
    assert!(due.contains(&"company.tax_id"));
    assert!(
        !due.contains(&"business_profile.mcc"),
        "provided fields are not due"
    );
    assert_eq!(
        j["requirements"]["eventually_due"],
        j["requirements"]["currently_due"]
    );

    let done = sb.handle.complete_onboarding(&a.id()).unwrap();
    assert_eq!(done["details_submitted"], true);
    assert_eq!(done["capabilities"]["card_payments"], "active");
    assert_eq!(done["requirements"]["currently_due"], json!([]));
    assert_eq!(done["requirements"]["disabled_reason"], json!(null));
    let fetched = sb.get(&format!("/v1/accounts/{}", a.id())).await.ok();
    assert_eq!(fetched.json["payouts_enabled"], true);

    let list = sb.get("/v1/accounts").await.ok();
    assert_eq!(list.json["data"].as_array().unwrap().len(), 1);
    let deleted = sb
        .send(
            sb.client
                .delete(format!("{}/v1/accounts/{}", sb.base, a.id()))
                .bearer_auth(crate::helpers::KEY),
        )
        .await
        .ok();
    assert_eq!(deleted.json["deleted"], true);
    assert_eq!(
        sb.get(&format!("/v1/accounts/{}", a.id())).await.status,
        404
    );
    sb.stop().await;
}

#[tokio::test]
async fn payout_schedule_update_and_links() {
    let sb = TestSandbox::start().await;
    let acct = sb.new_account().await;
    let updated = sb
        .post(
            &format!("/v1/accounts/{acct}"),
            &[
                ("settings[payouts][schedule][interval]", "weekly"),
                ("settings[payouts][schedule][weekly_anchor]", "friday"),
                ("settings[payouts][schedule][delay_days]", "3"),
            ],
        )
        .await
        .ok();
    let schedule = &updated.json["settings"]["payouts"]["schedule"];
    assert_eq!(schedule["interval"], "weekly");
    assert_eq!(schedule["weekly_anchor"], "friday");
    assert_eq!(schedule["delay_days"], 3);
    let bad = sb
        .post(
            &format!("/v1/accounts/{acct}"),
            &[("settings[payouts][schedule][weekly_anchor]", "someday")],
        )
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.error_param(),
        Some("settings[payouts][schedule][weekly_anchor]")
    );

    let link = sb
        .post(
            "/v1/account_links",
            &[
                ("account", acct.as_str()),
                ("refresh_url", "https://app.example.com/refresh"),
                ("return_url", "https://app.example.com/return"),
                ("type", "account_onboarding"),
            ],
        )
        .await
        .ok();
    assert_eq!(link.json["object"], "account_link");
    let url = link.json["url"].as_str().unwrap().to_owned();
    let created = link.json["created"].as_i64().unwrap();
    assert_eq!(link.json["expires_at"].as_i64().unwrap(), created + 300);
    // The sandbox hosts the onboarding page itself: Complete onboards the
    // account and returns to `return_url`; the used link then sends the
    // user to `refresh_url`, as Stripe's does.
    assert!(
        url.starts_with(&format!("{}/setup/s/{acct}/", sb.base)),
        "{url}"
    );
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let page = no_redirects.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("Complete onboarding"));
    let before = sb.get(&format!("/v1/accounts/{acct}")).await.ok();
    assert_eq!(before.json["details_submitted"], false);
    let done = no_redirects
        .post(&url)
        .form(&[("decision", "complete")])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 302);
    assert_eq!(done.headers()["location"], "https://app.example.com/return");
    let after = sb.get(&format!("/v1/accounts/{acct}")).await.ok();
    assert_eq!(after.json["details_submitted"], true);
    assert_eq!(after.json["payouts_enabled"], true);
    let again = no_redirects.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 302);
    assert_eq!(
        again.headers()["location"],
        "https://app.example.com/refresh"
    );
    let unknown = no_redirects
        .get(format!("{}/setup/s/{acct}/nope", sb.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 404);
    let missing = sb
        .post(
            "/v1/account_links",
            &[("account", "acct_nope"), ("type", "account_onboarding")],
        )
        .await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.error_code(), Some("resource_missing"));

    let login = sb
        .post(&format!("/v1/accounts/{acct}/login_links"), &[])
        .await
        .ok();
    assert_eq!(login.json["object"], "login_link");
    let express = no_redirects
        .get(login.json["url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(express.status(), 200);
    assert!(express.text().await.unwrap().contains(acct.as_str()));
    let standard = sb
        .post("/v1/accounts", &[("type", "standard")])
        .await
        .ok()
        .id();
    let refused = sb
        .post(&format!("/v1/accounts/{standard}/login_links"), &[])
        .await;
    assert_eq!(refused.status, 400);

    // The sandbox clock moves `created` and `expires_at`.
    let later = sb.handle.advance_clock(86_400);
    let link2 = sb
        .post(
            "/v1/account_links",
            &[("account", acct.as_str()), ("type", "account_onboarding")],
        )
        .await
        .ok();
    assert!(link2.json["created"].as_i64().unwrap() >= later);
    assert!(link2.json["expires_at"].as_i64().unwrap() >= created + 86_400 + 300);
    sb.stop().await;
}

#[tokio::test]
async fn oauth_token_exchange_and_deauthorize() {
    let sb = TestSandbox::start().await;
    let grant = sb.control("/oauth/codes", json!({})).await.ok();
    let code = grant.json["code"].as_str().unwrap().to_owned();
    assert!(code.starts_with("ac_"));
    let token = |code: String| {
        sb.client
            .post(format!("{}/oauth/token", sb.base))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_secret", crate::helpers::KEY),
            ]))
    };
    let ok = sb.send(token(code.clone())).await.ok();
    let user = ok.json["stripe_user_id"].as_str().unwrap().to_owned();
    assert!(user.starts_with("acct_"));
    assert_eq!(ok.json["token_type"], "bearer");
    assert_eq!(ok.json["scope"], "read_write");
    assert_eq!(ok.json["livemode"], false);
    assert!(
        ok.json["access_token"]
            .as_str()
            .unwrap()
            .starts_with("sk_test_")
    );
    assert!(ok.json["refresh_token"].is_string());
    assert!(
        ok.json["stripe_publishable_key"]
            .as_str()
            .unwrap()
            .starts_with("pk_test_")
    );
    let acct = sb.get(&format!("/v1/accounts/{user}")).await.ok();
    assert_eq!(acct.json["type"], "standard");

    let reused = sb.send(token(code)).await;
    assert_eq!(reused.status, 400);
    assert_eq!(reused.json["error"], "invalid_grant");
    assert!(reused.json["error_description"].is_string());
    let unknown = sb.send(token("ac_unknown".to_owned())).await;
    assert_eq!(unknown.json["error"], "invalid_grant");

    // A code pre-registered for an existing account connects that account.
    let existing = sb.new_account().await;
    let grant = sb.handle.create_oauth_code(Some(&existing)).unwrap();
    let ok = sb
        .send(
            sb.client
                .post(format!("{}/oauth/token", sb.base))
                .bearer_auth(crate::helpers::KEY)
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &grant.code),
                ])),
        )
        .await
        .ok();
    assert_eq!(ok.json["stripe_user_id"], existing.as_str());

    let deauth = |user: String| {
        sb.client
            .post(format!("{}/oauth/deauthorize", sb.base))
            .bearer_auth(crate::helpers::KEY)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("client_id", "ca_platform"),
                ("stripe_user_id", &user),
            ]))
    };
    let done = sb.send(deauth(user.clone())).await.ok();
    assert_eq!(done.json, json!({"stripe_user_id": user}));
    let again = sb.send(deauth(user.clone())).await;
    assert_eq!(again.status, 400);
    assert_eq!(again.json["error"], "invalid_client");
    // A deauthorized account can no longer be acted for.
    assert_eq!(sb.get_as(&user, "/v1/balance").await.status, 403);
    sb.stop().await;
}

#[tokio::test]
async fn the_authorize_page_issues_a_code_or_a_denial_to_the_redirect_uri() {
    let sb = TestSandbox::start().await;
    let no_redirect = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    // Without a redirect URI the page explains what is missing.
    let page = no_redirect
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id=ca_x&scope=read_write&state=s1",
            sb.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 400);
    sb.handle
        .set_oauth_redirect_uri("http://127.0.0.1:9/api/v1/stripe-connect/callback");
    let page = no_redirect
        .get(format!(
            "{}/oauth/authorize?response_type=code&client_id=ca_x&scope=read_write&state=s%3Cb%3E",
            sb.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Authorize access") && html.contains("Deny"));
    // The state is echoed, escaped.
    assert!(html.contains("s&lt;b&gt;") && !html.contains("s<b>"));

    let decide = |decision: &'static str| {
        no_redirect
            .post(format!("{}/oauth/authorize", sb.base))
            .form(&[
                ("state", "s1"),
                ("redirect_uri", "http://127.0.0.1:9/cb?x=1"),
                ("decision", decision),
            ])
            .send()
    };
    let allowed = decide("allow").await.unwrap();
    assert_eq!(allowed.status(), 302);
    let location = allowed.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.starts_with("http://127.0.0.1:9/cb?x=1&code=ac_"),
        "{location}"
    );
    assert!(location.ends_with("&state=s1"), "{location}");
    // The code exchanges like any other.
    let code = location
        .split(['?', '&'])
        .find_map(|p| p.strip_prefix("code="))
        .unwrap()
        .to_owned();
    let token = sb
        .send(
            sb.client
                .post(format!("{}/oauth/token", sb.base))
                .header("Content-Type", "application/x-www-form-urlencoded")
                .body(form(&[
                    ("grant_type", "authorization_code"),
                    ("code", &code),
                    ("client_secret", crate::helpers::KEY),
                ])),
        )
        .await
        .ok();
    assert!(
        token.json["stripe_user_id"]
            .as_str()
            .unwrap()
            .starts_with("acct_")
    );

    let denied = decide("deny").await.unwrap();
    assert_eq!(denied.status(), 302);
    let location = denied.headers()["location"].to_str().unwrap();
    assert!(location.contains("error=access_denied") && location.ends_with("state=s1"));
}

#[tokio::test]
async fn recipient_accounts_take_transfers_only_and_keep_their_agreement() {
    let sb = TestSandbox::start().await;
    let a = sb
        .post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "DE"),
                ("email", "greta@example.de"),
                ("capabilities[transfers][requested]", "true"),
                ("tos_acceptance[service_agreement]", "recipient"),
            ],
        )
        .await
        .ok();
    assert_eq!(a.json["tos_acceptance"]["service_agreement"], "recipient");
    assert_eq!(a.json["capabilities"], json!({"transfers": "inactive"}));
    let done = sb.handle.complete_onboarding(&a.id()).unwrap();
    assert_eq!(done["capabilities"], json!({"transfers": "active"}));

    // Stripe: a recipient account can't request `card_payments`, at creation
    // or later.
    let refused = sb
        .post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "FR"),
                ("capabilities[card_payments][requested]", "true"),
                ("capabilities[transfers][requested]", "true"),
                ("tos_acceptance[service_agreement]", "recipient"),
            ],
        )
        .await;
    assert_eq!(refused.status, 400, "{}", refused.json);
    assert_eq!(refused.error_param(), Some("capabilities[card_payments]"));
    let later = sb
        .post(
            &format!("/v1/accounts/{}", a.id()),
            &[("capabilities[card_payments][requested]", "true")],
        )
        .await;
    assert_eq!(later.status, 400, "{}", later.json);

    // Only Stripe's two agreements exist (the 2023 spec types it as a string).
    let unknown = sb
        .post(
            "/v1/accounts",
            &[
                ("type", "express"),
                ("country", "FR"),
                ("tos_acceptance[service_agreement]", "partial"),
            ],
        )
        .await;
    assert_eq!(unknown.status, 400, "{}", unknown.json);
    assert_eq!(
        unknown.error_param(),
        Some("tos_acceptance[service_agreement]")
    );

    // Once accepted (onboarded), the agreement cannot change.
    let change = sb
        .post(
            &format!("/v1/accounts/{}", a.id()),
            &[("tos_acceptance[service_agreement]", "full")],
        )
        .await;
    assert_eq!(change.status, 400, "{}", change.json);

    // Without the parameter, Stripe's default `full` applies.
    let full = sb
        .post("/v1/accounts", &[("type", "express"), ("country", "US")])
        .await
        .ok();
    assert_eq!(full.json["tos_acceptance"]["service_agreement"], "full");
}
