//! Reconciliation through the real adapter: `list_transfers` pages what
//! the sandbox holds for a batch's group, and the domain's comparison
//! names each difference injected behind the engine's back.

use payouts_domain::engine::{LineKind, compare_batch};
use payouts_domain::ids::{
    AccountId, BatchId, MembershipId, MerchantId, PartnerId, PayoutItemId, ProgramId, TransferId,
};
use payouts_domain::item::{ItemState, PayoutItem, idempotency_key, transfer_group};
use payouts_domain::ports::{PayoutGateway, TransferPageRequest, TransferRequest};
use reqwest::Method;
use time::OffsetDateTime;

use crate::helpers::{start, usd};

fn request(batch: BatchId, destination: &AccountId, amount: i64) -> TransferRequest {
    let item = PayoutItemId::from_uuid(uuid::Uuid::new_v4());
    TransferRequest {
        item_id: item,
        batch_id: batch,
        merchant_id: MerchantId::parse("merchant_recon").unwrap(),
        attempt: 1,
        key: idempotency_key(item, 1),
        amount: usd(amount),
        destination: destination.clone(),
        source_account: None,
        transfer_group: transfer_group(batch),
    }
}

fn posted(req: &TransferRequest, transfer: &str) -> PayoutItem {
    PayoutItem {
        id: req.item_id,
        batch_id: req.batch_id,
        merchant_id: req.merchant_id.clone(),
        program_id: ProgramId::from_uuid(uuid::Uuid::nil()),
        membership_id: MembershipId::from_uuid(uuid::Uuid::nil()),
        partner_id: PartnerId::from_uuid(uuid::Uuid::new_v4()),
        destination: req.destination.clone(),
        amount: req.amount,
        fee: usd(0),
        commission_count: 1,
        state: ItemState::Posted {
            attempt: 1,
            transfer_id: TransferId::parse(transfer).unwrap(),
            at: OffsetDateTime::UNIX_EPOCH,
        },
        lease: None,
        resends: 0,
        created_at: OffsetDateTime::UNIX_EPOCH,
    }
}

#[tokio::test]
async fn list_transfers_pages_a_group_and_every_injected_difference_is_named() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 100_000);
    let batch = BatchId::from_uuid(uuid::Uuid::new_v4());
    let group = transfer_group(batch);

    let (a, b, c) = (
        request(batch, &dest, 1_000),
        request(batch, &dest, 2_000),
        request(batch, &dest, 3_000),
    );
    let ta = env.gw.create_transfer(&a).await.unwrap();
    let tb = env.gw.create_transfer(&b).await.unwrap();
    let tc = env.gw.create_transfer(&c).await.unwrap();
    // Another batch's transfer is not listed under this group.
    let other = request(BatchId::from_uuid(uuid::Uuid::new_v4()), &dest, 50);
    env.gw.create_transfer(&other).await.unwrap();

    // A transfer created behind our back, under our group.
    let oob = env
        .raw(
            Method::POST,
            "/v1/transfers",
            None,
            &[
                ("amount", "500"),
                ("currency", "usd"),
                ("destination", dest.as_str()),
                ("transfer_group", group.as_str()),
            ],
        )
        .await;
    // A reversal made at Stripe while webhooks are off (the endpoint
    // removed): no event is sent, then or later.
    let control = |path: &str| format!("{}/_sandbox/{path}", env.sb.base_url());
    let set = env
        .http
        .post(control("webhooks/endpoint"))
        .json(&serde_json::json!({"url": "http://127.0.0.1:9/hook"}))
        .send()
        .await
        .unwrap();
    assert!(set.status().is_success());
    let off = env
        .http
        .delete(control("webhooks/endpoint"))
        .send()
        .await
        .unwrap();
    assert!(off.status().is_success());
    env.raw(
        Method::POST,
        &format!("/v1/transfers/{}/reversals", tb.id),
        None,
        &[("amount", "700")],
    )
    .await;
    assert!(env.sb.deliveries().is_empty(), "webhooks are off");
    // An amount Stripe holds other than ours, through the control API.
    let altered = env
        .http
        .post(format!(
            "{}/_sandbox/transfers/{}/amount",
            env.sb.base_url(),
            tc.id
        ))
        .json(&serde_json::json!({"amount": 3_100}))
        .send()
        .await
        .unwrap();
    assert!(altered.status().is_success());
    let missing = env
        .http
        .post(format!(
            "{}/_sandbox/transfers/tr_nope/amount",
            env.sb.base_url()
        ))
        .json(&serde_json::json!({"amount": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let zero = env
        .http
        .post(control(&format!("transfers/{}/amount", tc.id)))
        .json(&serde_json::json!({"amount": 0}))
        .send()
        .await
        .unwrap();
    assert_eq!(zero.status(), 400);

    // Page by two.
    let mut listed = Vec::new();
    let mut page = TransferPageRequest::first(2);
    let mut pages = 0;
    loop {
        let got = env.gw.list_transfers(None, &group, &page).await.unwrap();
        pages += 1;
        assert!(got.data.len() <= 2);
        page.starting_after = got.data.last().map(|t| t.id.clone());
        listed.extend(got.data);
        if !got.has_more {
            break;
        }
    }
    assert_eq!(pages, 2);
    assert_eq!(listed.len(), 4);
    assert!(
        listed
            .iter()
            .all(|t| t.transfer_group.as_deref() == Some(&*group))
    );
    let b_listed = listed.iter().find(|t| t.id == tb.id).unwrap();
    assert_eq!(b_listed.amount_reversed, usd(700));

    // Another account sees none of the platform's transfers.
    let elsewhere = env
        .gw
        .list_transfers(Some(&dest), &group, &TransferPageRequest::first(10))
        .await
        .unwrap();
    assert!(elsewhere.data.is_empty());

    let d = request(batch, &dest, 400);
    let items = vec![
        posted(&a, ta.id.as_str()),
        posted(&b, tb.id.as_str()),
        posted(&c, tc.id.as_str()),
        posted(&d, "tr_never_created"),
    ];
    let (lines, in_flight) = compare_batch(batch, &items, &listed);
    assert_eq!(in_flight, 0);
    let kind_of = |id: &str| {
        lines
            .iter()
            .find(|l| l.transfer_id.as_ref().map(TransferId::as_str) == Some(id))
            .map(|l| l.kind)
    };
    assert_eq!(kind_of(ta.id.as_str()), Some(LineKind::Matched));
    assert_eq!(kind_of(tb.id.as_str()), Some(LineKind::UnrecordedReversal));
    assert_eq!(kind_of(tc.id.as_str()), Some(LineKind::AmountMismatch));
    assert_eq!(kind_of("tr_never_created"), Some(LineKind::MissingAtStripe));
    assert_eq!(
        kind_of(oob["id"].as_str().unwrap()),
        Some(LineKind::NotOurs)
    );
    assert_eq!(lines.len(), 5);
    let mismatch = lines
        .iter()
        .find(|l| l.kind == LineKind::AmountMismatch)
        .unwrap();
    assert_eq!(mismatch.ours, Some(usd(3_000)));
    assert_eq!(mismatch.stripe, Some(usd(3_100)));
    env.finish().await;
}
