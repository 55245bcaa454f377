use std::time::Duration;

use payouts_domain::events::EventKind;
use payouts_domain::money::{Currency, Money};
use payouts_stripe::{SecretString, SignatureError, WebhookError, WebhookVerifier, sign};
use serde_json::json;
use stripe_sandbox::{SendWebhook, WebhookData, WebhookEndpoint};
use time::OffsetDateTime;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::helpers::start_with;

/// One received delivery: the `Stripe-Signature` header and the raw body.
struct Delivery {
    signature: Option<String>,
    body: Vec<u8>,
}

/// A minimal HTTP/1.1 receiver on loopback that answers 200 to every POST.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Delivery>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0_u8; 4096];
                let (head_end, length) = loop {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        let head = String::from_utf8_lossy(&buf[..pos]).to_ascii_lowercase();
                        let length = head
                            .lines()
                            .find_map(|l| l.strip_prefix("content-length:"))
                            .and_then(|v| v.trim().parse::<usize>().ok())
                            .unwrap_or(0);
                        break (pos + 4, length);
                    }
                };
                while buf.len() < head_end + length {
                    let n = socket.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                }
                let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
                let signature = head.lines().find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("stripe-signature")
                        .then(|| value.trim().to_owned())
                });
                let body = buf[head_end..].to_vec();
                let _ = socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                    .await;
                let _ = tx.send(Delivery { signature, body });
            });
        }
    });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("receiver alive")
}

#[tokio::test]
async fn events_the_sandbox_sends_verify_and_parse_end_to_end() {
    let env = start_with(|c| {
        // Rotation: the old secret first, the sandbox's current one second.
        c.webhook_secrets = vec![
            SecretString::from("whsec_previous"),
            SecretString::from("whsec_sandbox_current"),
        ];
    })
    .await;
    let (url, mut rx) = receiver().await;
    env.sb.set_webhook_endpoint(WebhookEndpoint {
        url,
        secret: Some("whsec_sandbox_current".to_owned()),
    });
    let account = env.express_account().await;

    let delivery = env
        .sb
        .send_webhook(SendWebhook {
            event_type: "payout.paid".to_owned(),
            account: Some(account.as_str().to_owned()),
            data: WebhookData {
                object: json!({"id": "po_123", "object": "payout", "amount": 125000,
                               "currency": "usd", "status": "paid", "arrival_date": 1769385600}),
            },
        })
        .await
        .unwrap();
    assert!(delivery.delivered, "{delivery:?}");
    let got = next(&mut rx).await;
    let event = env
        .gw
        .webhooks()
        .verify_and_parse(
            got.signature.as_deref(),
            &got.body,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(event.event_type, "payout.paid");
    assert_eq!(event.account.as_ref(), Some(&account));
    let EventKind::Payout(p) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(p.amount, Money::new(125_000, Currency::USD));
    assert_eq!(p.status, "paid");

    // An automatic event: onboarding completion sends account.updated.
    env.sb.complete_onboarding(account.as_str()).unwrap();
    let got = next(&mut rx).await;
    let event = env
        .gw
        .webhooks()
        .verify_and_parse(
            got.signature.as_deref(),
            &got.body,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    let EventKind::AccountUpdated(snapshot) = event.kind else {
        panic!("{:?}", event.kind)
    };
    assert_eq!(snapshot.account_id, account);
    assert!(snapshot.payouts_enabled && snapshot.details_submitted);
    assert!(!snapshot.past_due);

    // An event type the rules do not use is acknowledged as ignored.
    env.sb
        .send_webhook(SendWebhook {
            event_type: "customer.created".to_owned(),
            account: None,
            data: WebhookData {
                object: json!({"id": "cus_1", "object": "customer"}),
            },
        })
        .await
        .unwrap();
    let got = next(&mut rx).await;
    let event = env
        .gw
        .webhooks()
        .verify_and_parse(
            got.signature.as_deref(),
            &got.body,
            OffsetDateTime::now_utc(),
        )
        .unwrap();
    assert_eq!(event.kind, EventKind::Ignored);

    // The same bytes under a verifier without that secret are refused,
    // and a tampered body is refused.
    let stranger = WebhookVerifier::new(
        vec![SecretString::from("whsec_previous")],
        Duration::from_secs(300),
    );
    assert_eq!(
        stranger.verify_and_parse(
            got.signature.as_deref(),
            &got.body,
            OffsetDateTime::now_utc()
        ),
        Err(WebhookError::Signature(SignatureError::NoMatchingSignature))
    );
    let mut tampered = got.body.clone();
    tampered.push(b' ');
    assert!(
        env.gw
            .webhooks()
            .verify(
                got.signature.as_deref(),
                &tampered,
                OffsetDateTime::now_utc()
            )
            .is_err()
    );
    // Replayed an hour later, the signature is stale.
    let later = OffsetDateTime::now_utc() + time::Duration::hours(1);
    assert!(matches!(
        env.gw
            .webhooks()
            .verify(got.signature.as_deref(), &got.body, later),
        Err(SignatureError::OutsideTolerance { .. })
    ));
    env.finish().await;
}

#[test]
fn the_sandbox_signer_and_ours_agree() {
    let secret = "whsec_cross_check";
    let body = r#"{"id":"evt_1","object":"event"}"#;
    let now = OffsetDateTime::now_utc();
    let theirs = stripe_sandbox::webhook::sign(secret, now.unix_timestamp(), body);
    let ours = sign(
        &SecretString::from(secret),
        now.unix_timestamp(),
        body.as_bytes(),
    );
    assert_eq!(theirs, ours);
    let verifier = WebhookVerifier::new(vec![SecretString::from(secret)], Duration::from_secs(300));
    assert_eq!(verifier.verify(Some(&theirs), body.as_bytes(), now), Ok(()));
    assert!(stripe_sandbox::webhook::verify(secret, &ours, body));
}
