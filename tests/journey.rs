//! The product's journey through HTTP only: the app on port 0 with a temp
//! SQLite database and the Stripe sandbox over HTTP. It ends with the
//! sandbox's ledger equal to the posted items, cent for cent.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use payouts_e2e::{App, WEBHOOK_SECRET, eventually};
use payouts_http::Role;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use stripe_sandbox::{ErrorType, FaultSpec, LedgerFilter, SendWebhook, SetBalance, WebhookData};

const MERCHANT: &str = "m_acme";

fn program(policy: &str) -> Value {
    json!({
        "name": "Acme partners",
        "currency": "usd",
        "commission": {"type": "percent", "percent": "20"},
        "holding_days": 0,
        "minimum_payout": {"amount": 500, "currency": "usd"},
        "auto_payout_policy": policy,
        "auto_payout_cap": {"amount": 1_000_000, "currency": "usd"},
        "coupon_sync_mode": "stripe"
    })
}

/// Connects MERCHANT by OAuth through the app's authorize and callback
/// routes; returns the connected account id.
async fn connect(app: &App, admin: &str) -> String {
    let (s, start) = app
        .call(
            Method::GET,
            "/api/v1/stripe-connect/authorize",
            Some(admin),
            None,
        )
        .await;
    // Without Accept: application/json it is a 302 to Stripe.
    assert_eq!(s, StatusCode::FOUND, "{start}");
    let res = app
        .http
        .get(format!("{}/api/v1/stripe-connect/authorize", app.base))
        .bearer_auth(admin)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let start: Value = res.json().await.unwrap();
    let url = start["authorize_url"].as_str().unwrap();
    assert!(
        url.contains("scope=read_write") && url.contains("response_type=code"),
        "{url}"
    );
    let state = start["state"].as_str().unwrap().to_owned();
    // The merchant approves on Stripe; Stripe redirects back with a code.
    let grant = app.sb.create_oauth_code(None).unwrap();
    let res = app
        .http
        .get(format!(
            "{}/api/v1/stripe-connect/callback?code={}&state={state}",
            app.base, grant.code
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::FOUND);
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(
        location,
        "http://dashboard.test/partners/stripe-connect?stripe=connected"
    );
    // The state is single-use.
    let res = app
        .http
        .get(format!(
            "{}/api/v1/stripe-connect/callback?code={}&state={state}",
            app.base, grant.code
        ))
        .send()
        .await
        .unwrap();
    let location = res.headers()["location"].to_str().unwrap().to_owned();
    assert!(
        location.ends_with("?stripe=error&reason=state_reused"),
        "{location}"
    );
    let (s, card) = app.get("/api/v1/stripe-connect", admin).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(card["stripe_account_status"], "connected");
    assert_eq!(card["stripe_oauth_scope"], "read_write");
    assert!(card["stripe_oauth_granted_at"].is_string());
    card["stripe_account_id"].as_str().unwrap().to_owned()
}

/// Enrols and onboards a partner; returns (membership id, partner id),
/// both from the enrollment's answer.
async fn onboard(app: &App, admin: &str, program_id: &str, key: &str) -> (String, String) {
    let (s, m) = app
        .post(
            &format!("/api/v1/programs/{program_id}/partners"),
            admin,
            &json!({"email": format!("{key}@partners.test"), "country": "US", "referral_key": key}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{m}");
    let id = m["id"].as_str().unwrap().to_owned();
    let partner_id = m["partner_id"].as_str().unwrap().to_owned();
    let (s, link) = app
        .post(
            &format!("/api/v1/memberships/{id}/onboarding-link"),
            admin,
            &json!({"return_url": "https://partners.test/done", "refresh_url": "https://partners.test/again"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{link}");
    assert!(link["url"].as_str().unwrap().starts_with("http"));
    let (_, m) = app.get(&format!("/api/v1/memberships/{id}"), admin).await;
    let account = m["account_id"].as_str().unwrap();
    app.sb.complete_onboarding(account).unwrap();
    let (s, m) = app
        .post(
            &format!("/api/v1/memberships/{id}/refresh"),
            admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["onboarding"]["payouts_enabled"], true, "{m}");
    assert_eq!(m["partner_id"], partner_id.as_str());
    (id, partner_id)
}

async fn webhook(app: &App, event_type: &str, account: &str, object: Value) -> Value {
    let delivery = app
        .sb
        .send_webhook(SendWebhook {
            event_type: event_type.to_owned(),
            account: Some(account.to_owned()),
            data: WebhookData { object },
        })
        .await
        .unwrap();
    assert!(delivery.delivered, "{delivery:?}");
    assert_eq!(delivery.status, Some(200), "{delivery:?}");
    delivery.event
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_journey_over_http() {
    let app = App::start().await;
    let admin = app.token(&[Role::TenantAdmin], MERCHANT, None);

    // 1. The merchant connects by OAuth.
    let merchant_account = connect(&app, &admin).await;

    // 2. A program with a policy; three partners onboard.
    let (s, p) = app
        .post("/api/v1/programs", &admin, &program("manual"))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{p}");
    let program_id = p["id"].as_str().unwrap().to_owned();
    assert_eq!(p["auto_payout_policy"], "manual");
    assert_eq!(p["currency"], "usd");
    assert_eq!(
        p["minimum_payout"],
        json!({"amount": 500, "currency": "usd"})
    );
    assert!(p["auto_payout_cap"].is_null(), "{p}");
    // A tiered program: 20 % until a partner's finalized revenue reaches
    // $100, then 30 %.
    let mut tiered = program("auto_under_cap");
    tiered["tiers"] = json!({"basis": "revenue", "steps": [
        {"from": 10_000, "commission": {"type": "percent", "percent": "30"}}
    ]});
    let (s, p) = app
        .put(&format!("/api/v1/programs/{program_id}"), &admin, &tiered)
        .await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["tiers"]["basis"], "revenue", "{p}");
    assert_eq!(p["tiers"]["steps"][0]["from"], 10_000, "{p}");
    assert_eq!(p["auto_payout_policy"], "auto_under_cap");
    assert_eq!(
        p["auto_payout_cap"],
        json!({"amount": 1_000_000, "currency": "usd"}),
        "$10,000 is 1000000 cents"
    );
    let (sarah, sarah_partner) = onboard(&app, &admin, &program_id, "sarah").await;
    let (tom, tom_partner) = onboard(&app, &admin, &program_id, "tom").await;
    let (ana, _) = onboard(&app, &admin, &program_id, "ana").await;

    // 3. A coupon in sync mode `stripe` creates a Stripe promotion code.
    // The merchant's Stripe coupon comes first (the merchant's own setup).
    let coupon = reqwest::Client::new()
        .post(format!("{}/v1/coupons", app.sb.base_url()))
        .bearer_auth("sk_test_payouts_local_sandbox")
        .header("Stripe-Account", &merchant_account)
        .form(&[("percent_off", "20"), ("duration", "once")])
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    let coupon_id = coupon["id"].as_str().unwrap();
    let (s, c) = app
        .post(
            &format!("/api/v1/memberships/{sarah}/coupons"),
            &admin,
            &json!({"code": "SARAH20", "stripe_coupon": coupon_id}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let promo = c["promotion_code_id"]
        .as_str()
        .expect("a Stripe promotion code")
        .to_owned();

    // Conversions: by link, by coupon (API), by promotion code (webhook),
    // and a repeat that changes nothing.
    let conv = |ext: &str, amount: i64, extra: Value| {
        let mut body = json!({"external_id": ext, "amount": amount, "currency": "usd"});
        for (k, v) in extra.as_object().unwrap() {
            body[k] = v.clone();
        }
        body
    };
    let path = format!("/api/v1/programs/{program_id}/conversions");
    let (s, r) = app
        .post(
            &path,
            &admin,
            &conv("ord_1", 10_000, json!({"referral_key": "tom"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["commission"]["amount"]["amount"], 2_000);
    let (s, r) = app
        .post(
            &path,
            &admin,
            &conv("ord_1", 10_000, json!({"referral_key": "tom"})),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(r["outcome"], "duplicate");
    let (s, r) = app
        .post(
            &path,
            &admin,
            &conv(
                "ord_2",
                25_000,
                json!({"referral_key": "ana", "payment_ref": "pi_ana_1"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        r["commission"]["rule"]["rule"], "base",
        "nothing finalized yet: {r}"
    );
    let (s, r) = app
        .post(
            &path,
            &admin,
            &conv(
                "ord_3",
                5_000,
                json!({"coupon_code": "SARAH20", "referral_key": "tom"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED);
    assert_eq!(
        r["conversion"]["membership_id"], sarah,
        "a code beats a link"
    );
    let event = webhook(
        &app,
        "checkout.session.completed",
        &merchant_account,
        json!({"id": "cs_1", "object": "checkout.session", "amount_total": 15_000, "currency": "usd",
               "payment_intent": "pi_cs_1", "customer": "cus_1",
               "discounts": [{"promotion_code": promo}], "total_details": {"breakdown": {"discounts": [{"discount": {"promotion_code": promo}}]}}}),
    )
    .await;
    let (s, list) = app
        .get(
            &format!("/api/v1/commissions?program_id={program_id}&partner_id={sarah_partner}"),
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        2,
        "the coupon sale arrived by webhook: {list} {event}"
    );
    // A refund before finalization adjusts Ana's commission (25 000 → 20 000 sale).
    webhook(
        &app,
        "charge.refunded",
        &merchant_account,
        json!({"id": "ch_ana", "object": "charge", "payment_intent": "pi_ana_1", "amount": 25_000,
               "amount_refunded": 5_000, "currency": "usd", "refunded": false}),
    )
    .await;

    // A self-referral: Tom's own address (another case) buys through his
    // link, last month. The commission is held for review.
    let today = time::OffsetDateTime::now_utc();
    let last_month = today
        .replace_day(1)
        .unwrap()
        .checked_sub(time::Duration::days(1))
        .unwrap();
    let held_period = format!(
        "{:04}-{:02}",
        last_month.year(),
        u8::from(last_month.month())
    );
    let (s, r) = app
        .post(
            &path,
            &admin,
            &conv(
                "ord_self",
                10_000,
                json!({"referral_key": "tom", "customer_email": "TOM@partners.test",
                       "occurred_at": last_month.format(&time::format_description::well_known::Rfc3339).unwrap()}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["conversion"]["customer_email"], "TOM@partners.test");
    assert_eq!(r["commission"]["state"]["state"], "on_hold", "{r}");
    assert_eq!(r["commission"]["state"]["reason"], "self_referral");
    let held_id = r["commission"]["id"].as_str().unwrap().to_owned();
    // A malformed address is refused and records nothing.
    let (s, body) = app
        .post(
            &path,
            &admin,
            &conv(
                "ord_bad_email",
                10_000,
                json!({"referral_key": "tom", "customer_email": "tom at partners"}),
            ),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["error"]["param"], "customer_email");

    // 4. Finalize the period: the held commission is not finalized.
    let period = today.date();
    let period = format!("{:04}-{:02}", period.year(), u8::from(period.month()));
    let (s, f) = app
        .post(
            &format!("/api/v1/programs/{program_id}/periods/{period}/finalize"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["finalized"], 4);
    let (_, list) = app
        .get(
            &format!("/api/v1/commissions?state=finalized&period={period}"),
            &admin,
        )
        .await;
    assert_eq!(list["data"].as_array().unwrap().len(), 4);

    // 5. The batch is built and approved by the policy (total under the cap).
    let (s, b) = app
        .post(
            &format!("/api/v1/programs/{program_id}/batches"),
            &admin,
            &json!({"period": period}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let batch_id = b["batch"]["id"].as_str().unwrap().to_owned();
    assert_eq!(b["batch"]["state"], "approved", "{b}");
    assert_eq!(b["batch"]["approval"]["by"], "policy");
    // Tom 2 000, Ana 4 000 (after the refund), Sarah 1 000 + 3 000.
    assert_eq!(b["batch"]["total"]["amount"], 10_000);
    assert_eq!(b["batch"]["item_count"], 3);
    let (s, manifest) = app
        .get(&format!("/api/v1/batches/{batch_id}/manifest"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(manifest["lines"].as_array().unwrap().len(), 3);
    assert_eq!(manifest["manifest_hash"], b["batch"]["manifest_hash"]);

    // 6. Execute with faults: Ana's transfer meets insufficient funds, and
    // one transfer's response is lost after Stripe committed it.
    app.sb
        .set_balance(SetBalance {
            account: Some(merchant_account.clone()),
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let ana_item = manifest["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["membership_id"] == ana.as_str())
        .unwrap()["item_id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.sb.add_fault(
        FaultSpec::fail(
            "/v1/transfers",
            1,
            400,
            ErrorType::InvalidRequestError,
            "balance_insufficient",
        )
        .with_method("POST")
        .with_contains(&ana_item),
    );
    app.sb
        .add_fault(FaultSpec::commit_then_drop("/v1/transfers", 1).with_method("POST"));
    let (s, accepted) = app
        .post(
            &format!("/api/v1/batches/{batch_id}/execute"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let view = eventually(Duration::from_secs(30), || async {
        let (_, v) = app
            .get(&format!("/api/v1/batches/{batch_id}"), &admin)
            .await;
        let s = &v["summary"];
        (s["posted_count"].as_u64().unwrap_or(0) + s["failed_count"].as_u64().unwrap_or(0) == 3)
            .then_some(v)
    })
    .await;
    assert_eq!(view["summary"]["failed_count"], 1, "{view}");
    let (_, items) = app
        .get(&format!("/api/v1/batches/{batch_id}/items"), &admin)
        .await;
    let failed = items["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["state"]["state"] == "failed")
        .unwrap();
    assert_eq!(failed["id"], ana_item.as_str());
    assert_eq!(failed["state"]["failure"]["kind"], "insufficient_balance");

    // 7. Retry that item: it posts, with a new attempt.
    let (s, item) = app
        .post(
            &format!("/api/v1/items/{ana_item}/retry"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{item}");
    assert_eq!(item["state"]["state"], "posted");
    let (s, v) = app
        .post(
            &format!("/api/v1/batches/{batch_id}/refresh"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v["summary"]["posted_count"], 3, "{v}");
    assert_eq!(v["batch"]["state"], "completed");
    // Retrying a posted item is refused.
    let (s, body) = app
        .post(
            &format!("/api/v1/items/{ana_item}/retry"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "{body}");

    // The CSV manifest links each transfer to the Stripe dashboard.
    let csv = app
        .http
        .get(format!("{}/api/v1/batches/{batch_id}/manifest", app.base))
        .bearer_auth(&admin)
        .header("accept", "text/csv")
        .send()
        .await
        .unwrap();
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let csv = csv.text().await.unwrap();
    assert_eq!(csv.lines().count(), 4, "{csv}");
    assert!(
        csv.contains("https://dashboard.stripe.com/test/connect/transfers/tr_"),
        "{csv}"
    );

    // A partner sees their own history and tax summary, no one else's.
    let partner = app.token(
        &[Role::Partner],
        MERCHANT,
        Some(sarah_partner.parse().unwrap()),
    );
    let (s, history) = app
        .get(
            &format!("/api/v1/partners/{sarah_partner}/payouts"),
            &partner,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{history}");
    assert_eq!(history["data"].as_array().unwrap().len(), 1);
    let year = &period[..4];
    let (s, tax) = app
        .get(
            &format!("/api/v1/partners/{sarah_partner}/tax/{year}"),
            &partner,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{tax}");
    assert_eq!(tax["form_1099_required"], false, "$40 is under $600");
    let (s, m) = app.get(&format!("/api/v1/memberships/{tom}"), &admin).await;
    assert_eq!(s, StatusCode::OK, "{m}");
    assert_eq!(m["partner_id"], tom_partner.as_str());
    let (s, _) = app
        .get(&format!("/api/v1/partners/{tom_partner}/payouts"), &partner)
        .await;
    assert_eq!(
        s,
        StatusCode::NOT_FOUND,
        "a partner sees only their own history"
    );

    // Auth and tenant probes.
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/batches/{batch_id}"),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/api/v1/batches/{batch_id}"),
            Some("not.a.jwt"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _) = app
        .post(
            &format!("/api/v1/batches/{batch_id}/approve"),
            &partner,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let other = app.token(&[Role::TenantAdmin], "m_other", None);
    for path in [
        format!("/api/v1/batches/{batch_id}"),
        format!("/api/v1/batches/{batch_id}/manifest"),
        format!("/api/v1/programs/{program_id}"),
        format!("/api/v1/memberships/{sarah}"),
        format!("/api/v1/partners/{sarah_partner}/payouts"),
        format!("/api/v1/integrations/stripe-connect/accounts/{merchant_account}"),
    ] {
        let (s, body) = app.get(&path, &other).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}: {body}");
    }
    let (s, _) = app
        .post(
            &format!("/api/v1/items/{ana_item}/retry"),
            &other,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Revocation: a signed deauthorization webhook starts probation; a
    // forged one is refused; a repeated one is processed once.
    let forged = app
        .http
        .post(format!("{}/webhooks/stripe", app.base))
        .header("stripe-signature", "t=1,v1=deadbeef")
        .body(r#"{"id":"evt_forged","type":"account.application.deauthorized"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    let event = webhook(
        &app,
        "account.application.deauthorized",
        &merchant_account,
        json!({"id": "ca_x", "object": "application"}),
    )
    .await;
    let (_, p) = app
        .get(&format!("/api/v1/programs/{program_id}"), &admin)
        .await;
    assert_eq!(p["status"], "probation", "{p}");
    assert!(p["merchant_probation_until"].is_string());
    let (_, card) = app.get("/api/v1/stripe-connect", &admin).await;
    assert_eq!(card["stripe_account_status"], "revoked");
    // The same event again (Stripe redelivers): processed once.
    let body = serde_json::to_vec(&event).unwrap();
    let t = time::OffsetDateTime::now_utc().unix_timestamp();
    let sig = payouts_stripe::webhook::sign(&secrecy::SecretString::from(WEBHOOK_SECRET), t, &body);
    let again = app
        .http
        .post(format!("{}/webhooks/stripe", app.base))
        .header("stripe-signature", sig)
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    let again: Value = again.json().await.unwrap();
    assert_eq!(again["outcome"], "duplicate");
    // During probation automatic payouts pause: a new batch is not approved by the policy.
    // Re-authorising clears probation.
    let reconnected = connect(&app, &admin).await;
    let (_, p) = app
        .get(&format!("/api/v1/programs/{program_id}"), &admin)
        .await;
    assert_eq!(p["status"], "active", "{p}");

    // The sandbox ledger equals the posted items, cent for cent.
    let ledger = app.sb.ledger(&LedgerFilter::default());
    let (_, items) = app
        .get(&format!("/api/v1/batches/{batch_id}/items"), &admin)
        .await;
    let mut posted: BTreeMap<String, i64> = BTreeMap::new();
    for i in items["data"].as_array().unwrap() {
        assert_eq!(i["state"]["state"], "posted");
        posted.insert(
            i["id"].as_str().unwrap().to_owned(),
            i["amount"]["amount"].as_i64().unwrap(),
        );
    }
    let mut paid: BTreeMap<String, i64> = BTreeMap::new();
    for t in &ledger.transfers {
        let item = t.item_id.clone().expect("every transfer names its item");
        assert!(
            paid.insert(item, t.amount).is_none(),
            "an item was paid twice"
        );
    }
    assert_eq!(paid, posted);
    assert_eq!(ledger.totals_by_currency.get("usd"), Some(&10_000));

    // The tier: Tom's finalized revenue is $100, so his next sale earns 30 %.
    let (s, r) = app
        .post(
            &path,
            &admin,
            &conv("ord_9", 10_000, json!({"referral_key": "tom"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    assert_eq!(r["commission"]["amount"]["amount"], 3_000, "{r}");
    assert_eq!(r["commission"]["rule"]["rule"], "tier");
    assert_eq!(r["commission"]["rule"]["tier"], 1);
    assert_eq!(r["commission"]["rule"]["total"], 10_000);

    // The held commission was in no batch. An operator finds it among the
    // holds and releases it; the next batch (last month's) pays it.
    let (s, holds) = app
        .get(
            "/api/v1/commissions?state=on_hold&hold_reason=self_referral",
            &admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{holds}");
    let holds = holds["data"].as_array().unwrap();
    assert_eq!(holds.len(), 1, "{holds:?}");
    assert_eq!(holds[0]["id"], held_id.as_str());
    assert!(holds[0]["payout_item_id"].is_null());
    let (s, body) = app
        .post(
            &format!("/api/v1/commissions/{held_id}/release"),
            &other,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND, "another merchant: {body}");
    let (s, released) = app
        .post(
            &format!("/api/v1/commissions/{held_id}/release"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{released}");
    assert_eq!(released["state"]["state"], "pending");
    let (s, body) = app
        .post(
            &format!("/api/v1/commissions/{held_id}/release"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CONFLICT, "not on hold any more: {body}");
    let (s, f) = app
        .post(
            &format!("/api/v1/programs/{program_id}/periods/{held_period}/finalize"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    assert_eq!(f["finalized"], 1);
    let (s, b) = app
        .post(
            &format!("/api/v1/programs/{program_id}/batches"),
            &admin,
            &json!({"period": held_period}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["batch"]["item_count"], 1, "{b}");
    assert_eq!(b["batch"]["total"]["amount"], 2_000);
    assert_eq!(b["batch"]["state"], "approved", "{b}");
    let second = b["batch"]["id"].as_str().unwrap().to_owned();
    // The merchant's account since re-authorising has its own funds.
    app.sb
        .set_balance(SetBalance {
            account: Some(reconnected.clone()),
            currency: "usd".to_owned(),
            available: 100_000,
            pending: 0,
        })
        .unwrap();
    let (s, accepted) = app
        .post(
            &format!("/api/v1/batches/{second}/execute"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let mut view = Value::Null;
    for _ in 0..200 {
        let (_, v) = app.get(&format!("/api/v1/batches/{second}"), &admin).await;
        view = v;
        let s = &view["summary"];
        if s["posted_count"].as_u64().unwrap_or(0) + s["failed_count"].as_u64().unwrap_or(0) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, items) = app
        .get(&format!("/api/v1/batches/{second}/items"), &admin)
        .await;
    assert_eq!(view["summary"]["posted_count"], 1, "{view} {items}");
    let (_, list) = app
        .get(
            &format!("/api/v1/commissions?partner_id={tom_partner}&period={held_period}"),
            &admin,
        )
        .await;
    let paid_held = &list["data"].as_array().unwrap()[0];
    assert_eq!(paid_held["id"], held_id.as_str());
    assert_eq!(paid_held["state"]["state"], "finalized");
    assert!(paid_held["payout_item_id"].is_string(), "{paid_held}");
    let ledger = app.sb.ledger(&LedgerFilter::default());
    assert_eq!(ledger.totals_by_currency.get("usd"), Some(&12_000));

    // A refund through the API after payment, in a second program whose
    // last month is paid: Lee's $100 was paid in last month's batch; his
    // sale is then refunded in full, so a -$100 adjustment is a debt
    // carried on this month's manifest, and he is not paid until it clears.
    let mut resellers = program("auto_all");
    resellers["name"] = json!("Acme resellers");
    let (s, p2) = app.post("/api/v1/programs", &admin, &resellers).await;
    assert_eq!(s, StatusCode::CREATED, "{p2}");
    let resellers_id = p2["id"].as_str().unwrap().to_owned();
    let (lee, _) = onboard(&app, &admin, &resellers_id, "lee").await;
    let last_period = format!(
        "{:04}-{:02}",
        last_month.year(),
        u8::from(last_month.month())
    );
    let (s, r) = app
        .post(
            &format!("/api/v1/programs/{resellers_id}/conversions"),
            &admin,
            &json!({"external_id": "res_1", "amount": 50_000, "currency": "usd", "referral_key": "lee",
                    "occurred_at": last_month.format(&time::format_description::well_known::Rfc3339).unwrap()}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let lee_conversion = r["conversion"]["id"].as_str().unwrap().to_owned();
    let (s, f) = app
        .post(
            &format!("/api/v1/programs/{resellers_id}/periods/{last_period}/finalize"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{f}");
    let (s, b) = app
        .post(
            &format!("/api/v1/programs/{resellers_id}/batches"),
            &admin,
            &json!({"period": last_period}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let paid_batch = b["batch"]["id"].as_str().unwrap().to_owned();
    assert_eq!(b["batch"]["total"]["amount"], 10_000, "{b}");
    // The merchant's account of the day (re-authorised above) has funds.
    let (_, card) = app.get("/api/v1/stripe-connect", &admin).await;
    app.sb
        .set_balance(SetBalance {
            account: Some(card["stripe_account_id"].as_str().unwrap().to_owned()),
            currency: "usd".to_owned(),
            available: 10_000,
            pending: 0,
        })
        .unwrap();
    let (s, accepted) = app
        .post(
            &format!("/api/v1/batches/{paid_batch}/execute"),
            &admin,
            &json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{accepted}");
    let view = eventually(Duration::from_secs(30), || async {
        let (_, v) = app
            .get(&format!("/api/v1/batches/{paid_batch}"), &admin)
            .await;
        let s = &v["summary"];
        (s["posted_count"].as_u64().unwrap_or(0) + s["failed_count"].as_u64().unwrap_or(0) == 1)
            .then_some(v)
    })
    .await;
    let (_, items) = app
        .get(&format!("/api/v1/batches/{paid_batch}/items"), &admin)
        .await;
    assert_eq!(view["summary"]["posted_count"], 1, "{view} {items}");
    let (s, r) = app
        .post(
            &format!("/api/v1/conversions/{lee_conversion}/refunds"),
            &admin,
            &json!({"amount": 50_000, "currency": "usd"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["changed"][0]["amount"]["amount"], -10_000, "{r}");
    assert_eq!(r["changed"][0]["kind"]["kind"], "adjustment");
    let (s, next) = app
        .post(
            &format!("/api/v1/programs/{resellers_id}/batches"),
            &admin,
            &json!({"period": period}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{next}");
    let next_id = next["batch"]["id"].as_str().unwrap();
    let (s, manifest) = app
        .get(&format!("/api/v1/batches/{next_id}/manifest"), &admin)
        .await;
    assert_eq!(s, StatusCode::OK, "{manifest}");
    assert_eq!(manifest["item_count"], 0, "{manifest}");
    let carried = manifest["carried"].as_array().unwrap();
    assert_eq!(carried.len(), 1, "{manifest}");
    assert_eq!(carried[0]["membership_id"], lee.as_str());
    assert_eq!(carried[0]["reason"], "negative_balance");
    assert_eq!(
        carried[0]["amount"],
        json!({"amount": -10_000, "currency": "usd"})
    );
    app.stop().await;
}
