use payouts_domain::ids::{PayoutItemId, TransferId};
use payouts_domain::ports::{FailureKind, PayoutGateway};
use payouts_stripe::{PlatformTransferRequest, ReverseTransferRequest};
use stripe_sandbox::LedgerFilter;

use crate::helpers::{key, start, transfer_request, usd};

#[tokio::test]
async fn create_transfer_sends_key_group_and_metadata() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    let req = transfer_request(&dest, 2_500);

    let t = env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(t.amount, usd(2_500));
    assert_eq!(t.amount_reversed, usd(0));
    assert_eq!(t.destination, dest);
    assert_eq!(
        t.transfer_group.as_deref(),
        Some(req.transfer_group.as_str())
    );
    assert_eq!(t.item_id, Some(req.item_id));

    let ledger = env.sb.ledger(&LedgerFilter {
        idempotency_key: Some(req.key.as_str().to_owned()),
        item_id: None,
    });
    assert_eq!(ledger.count, 1);
    let entry = &ledger.transfers[0];
    assert_eq!(entry.transfer_id, t.id.as_str());
    assert_eq!(entry.source_account, env.sb.platform_account_id());
    assert_eq!(entry.metadata["item_id"], req.item_id.to_string());
    assert_eq!(entry.metadata["batch_id"], req.batch_id.to_string());
    assert_eq!(entry.metadata["merchant_id"], "merchant_123");
    assert_eq!(entry.metadata["attempt"], "1");
    assert!(req.key.as_str().starts_with("payout-item-"));

    assert_eq!(env.gw.retrieve_transfer(None, &t.id).await.unwrap(), t);
    let found = env
        .gw
        .find_transfer(None, &req.transfer_group, req.item_id)
        .await
        .unwrap();
    assert_eq!(found, Some(t.clone()));
    let other = PayoutItemId::from_uuid(uuid::Uuid::new_v4());
    assert_eq!(
        env.gw
            .find_transfer(None, &req.transfer_group, other)
            .await
            .unwrap(),
        None
    );

    // Re-sending the same attempt replays: still one transfer.
    let again = env.gw.create_transfer(&req).await.unwrap();
    assert_eq!(again.id, t.id);
    assert_eq!(env.sb.ledger(&LedgerFilter::default()).count, 1);
    env.finish().await;
}

#[tokio::test]
async fn transfers_from_the_merchant_account_are_sent_as_the_merchant() {
    let env = start().await;
    let merchant = env.onboarded_account().await;
    let partner = env.onboarded_account().await;
    env.fund(Some(&merchant), 5_000);
    let mut req = transfer_request(&partner, 1_200);
    req.source_account = Some(merchant.clone());

    let t = env.gw.create_transfer(&req).await.unwrap();
    let ledger = env.sb.ledger(&LedgerFilter::default());
    assert_eq!(ledger.transfers[0].source_account, merchant.as_str());
    assert_eq!(
        env.sb.balance(Some(merchant.as_str()), "usd").available,
        3_800
    );
    assert_eq!(
        env.sb.balance(Some(partner.as_str()), "usd").available,
        1_200
    );

    // Objects of the merchant are visible only as the merchant.
    let found = env
        .gw
        .find_transfer(Some(&merchant), &req.transfer_group, req.item_id)
        .await
        .unwrap();
    assert_eq!(found.map(|f| f.id), Some(t.id.clone()));
    assert_eq!(
        env.gw
            .find_transfer(None, &req.transfer_group, req.item_id)
            .await
            .unwrap(),
        None
    );
    let err = env.gw.retrieve_transfer(None, &t.id).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound);
    env.finish().await;
}

#[tokio::test]
async fn find_transfer_follows_pages() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 1_000_000);
    let first = transfer_request(&dest, 100);
    let group = first.transfer_group.clone();
    env.gw.create_transfer(&first).await.unwrap();
    for _ in 0..104 {
        let mut r = transfer_request(&dest, 1);
        r.transfer_group = group.clone();
        env.gw.create_transfer(&r).await.unwrap();
    }
    // Lists are newest first, so the first transfer is on page two.
    let found = env
        .gw
        .find_transfer(None, &group, first.item_id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.amount, usd(100));
    let all = env.gw.transfers_in_group(None, &group).await.unwrap();
    assert_eq!(all.len(), 105);
    env.finish().await;
}

#[tokio::test]
async fn partial_then_full_reversal() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    let t = env
        .gw
        .create_transfer(&transfer_request(&dest, 1_000))
        .await
        .unwrap();

    let k1 = key("reversal");
    let r1 = env
        .gw
        .reverse_transfer(None, &t.id, Some(usd(300)), &k1)
        .await
        .unwrap();
    assert_eq!(r1.amount, usd(300));
    assert_eq!(r1.transfer_amount_reversed, usd(300));
    // The same key replays instead of reversing twice.
    let replay = env
        .gw
        .reverse_transfer(None, &t.id, Some(usd(300)), &k1)
        .await
        .unwrap();
    assert_eq!(replay, r1);

    let r2 = env
        .gw
        .reverse_transfer(None, &t.id, None, &key("reversal"))
        .await
        .unwrap();
    assert_eq!(r2.amount, usd(700));
    assert_eq!(r2.transfer_amount_reversed, usd(1_000));
    let ledger = env.sb.ledger(&LedgerFilter::default());
    assert!(ledger.transfers[0].reversed);
    assert_eq!(env.sb.balance(None, "usd").available, 10_000);

    let t2 = env
        .gw
        .create_transfer(&transfer_request(&dest, 100))
        .await
        .unwrap();
    let err = env
        .gw
        .reverse_transfer(None, &t2.id, Some(usd(101)), &key("reversal"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    assert_eq!(err.code.as_deref(), Some("amount_too_large"));
    let err = env
        .gw
        .reverse_transfer(None, &t.id, Some(usd(1)), &key("reversal"))
        .await
        .unwrap_err();
    assert_eq!(err.kind, FailureKind::InvalidRequest);
    assert_eq!(err.code.as_deref(), Some("transfer_already_reversed"));
    env.finish().await;
}

#[tokio::test]
async fn platform_transfer_and_reversal_with_description() {
    let env = start().await;
    let dest = env.onboarded_account().await;
    env.fund(None, 20_000);
    let view = env
        .gw
        .create_platform_transfer(&PlatformTransferRequest {
            account_id: dest.clone(),
            amount: usd(10_000),
            description: Some("Weekly tip payout".to_owned()),
            transfer_group: Some("tips_2026_w03".to_owned()),
            source_account: None,
            metadata: [(
                "pay_period".to_owned(),
                "2026-01-15 to 2026-01-21".to_owned(),
            )]
            .into_iter()
            .collect(),
            idempotency_key: None,
        })
        .await
        .unwrap();
    assert_eq!(view.amount, usd(10_000));
    assert_eq!(view.destination, dest);
    assert_eq!(view.description.as_deref(), Some("Weekly tip payout"));
    assert_eq!(view.metadata["pay_period"], "2026-01-15 to 2026-01-21");
    assert!(!view.reversed);

    let rev = env
        .gw
        .reverse_platform_transfer(
            &view.transfer_id,
            &ReverseTransferRequest {
                amount: Some(5_000),
                description: Some("Partial reversal - error correction".to_owned()),
                source_account: None,
                metadata: Default::default(),
                idempotency_key: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(rev.transfer_id, view.transfer_id);
    assert_eq!(rev.amount, usd(5_000));
    assert_eq!(rev.transfer_amount_reversed, usd(5_000));
    assert!(!rev.transfer_reversed);

    let read = env.gw.transfer(None, &view.transfer_id).await.unwrap();
    assert_eq!(read.amount_reversed, usd(5_000));
    let group = env
        .gw
        .transfers_in_group(None, "tips_2026_w03")
        .await
        .unwrap();
    assert_eq!(group.len(), 1);

    let missing = TransferId::parse("tr_doesnotexist").unwrap();
    let err = env.gw.transfer(None, &missing).await.unwrap_err();
    assert_eq!(err.kind, FailureKind::NotFound);
    env.finish().await;
}
