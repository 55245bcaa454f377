use std::collections::HashMap;
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use stripe_sandbox::{SendWebhook, WebhookData, WebhookEndpoint};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::helpers::TestSandbox;

#[derive(Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: String,
}

/// A minimal HTTP/1.1 receiver: one request per connection, answers 200.
async fn receiver() -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            let (head_end, content_length) = loop {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break (0, 0);
                }
                buf.extend_from_slice(&chunk[..n]);
                if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                    let head = String::from_utf8_lossy(&buf[..pos]).to_string();
                    let len = head
                        .lines()
                        .find_map(|l| {
                            let (k, v) = l.split_once(':')?;
                            k.eq_ignore_ascii_case("content-length")
                                .then(|| v.trim().parse::<usize>().ok())?
                        })
                        .unwrap_or(0);
                    break (pos + 4, len);
                }
            };
            while buf.len() < head_end + content_length {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
            let headers = head
                .lines()
                .skip(1)
                .filter_map(|l| l.split_once(':'))
                .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
                .collect();
            let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let _ = tx.send(Received { headers, body });
        }
    });
    (url, rx)
}

/// Independent check of Stripe's scheme: v1 = hex(HMAC-SHA256(secret, "{t}.{body}")).
fn verify(secret: &str, header: &str, body: &str) -> bool {
    let parts: HashMap<&str, &str> = header
        .split(',')
        .filter_map(|p| p.split_once('='))
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("{}.{}", parts["t"], body).as_bytes());
    hex::encode(mac.finalize().into_bytes()) == parts["v1"]
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("webhook within 5 s")
        .expect("receiver alive")
}

#[tokio::test]
async fn sent_events_are_signed_with_the_endpoint_secret() {
    let sb = TestSandbox::start().await;
    let (url, mut rx) = receiver().await;
    let endpoint = sb
        .control(
            "/webhooks/endpoint",
            json!({"url": url, "secret": "whsec_test_secret"}),
        )
        .await
        .ok();
    assert_eq!(endpoint.json["secret"], "whsec_test_secret");
    let delivery = sb
        .control(
            "/webhooks/send",
            json!({
                "type": "payout.paid",
                "account": "acct_123",
                "data": {"object": {"id": "po_123", "object": "payout", "amount": 500}}
            }),
        )
        .await
        .ok();
    assert_eq!(delivery.json["status"], 200);
    assert_eq!(delivery.json["delivered"], true);

    let got = next(&mut rx).await;
    let sig = &got.headers["stripe-signature"];
    assert!(sig.starts_with("t="));
    assert!(verify("whsec_test_secret", sig, &got.body));
    assert!(!verify("whsec_wrong", sig, &got.body));
    let event: Value = serde_json::from_str(&got.body).unwrap();
    assert!(event["id"].as_str().unwrap().starts_with("evt_"));
    assert_eq!(event["object"], "event");
    assert_eq!(event["type"], "payout.paid");
    assert_eq!(event["account"], "acct_123");
    assert_eq!(event["api_version"], "2023-08-16");
    assert_eq!(event["livemode"], false);
    assert_eq!(event["data"]["object"]["id"], "po_123");
    assert!(event["created"].is_i64());
    assert!(event.get("pending_webhooks").is_some());
    assert!(event.get("request").is_some());

    // The Rust API, with a generated secret.
    let endpoint = sb.handle.set_webhook_endpoint(WebhookEndpoint {
        url: url.clone(),
        secret: None,
    });
    let secret = endpoint.secret.unwrap();
    assert!(secret.starts_with("whsec_"));
    let d = sb
        .handle
        .send_webhook(SendWebhook {
            event_type: "account.application.deauthorized".to_owned(),
            account: Some("acct_9".to_owned()),
            data: WebhookData {
                object: json!({"id": "ca_1", "object": "application"}),
            },
        })
        .await
        .unwrap();
    assert!(d.delivered);
    let got = next(&mut rx).await;
    assert!(verify(&secret, &got.headers["stripe-signature"], &got.body));
    assert_eq!(sb.handle.deliveries().len(), 2);
    sb.stop().await;
}

#[tokio::test]
async fn sandbox_emits_events_for_onboarding_and_reversals() {
    let sb = TestSandbox::start().await;
    let (url, mut rx) = receiver().await;
    let dest = sb.new_account().await;
    sb.handle.set_webhook_endpoint(WebhookEndpoint {
        url,
        secret: Some("whsec_auto".to_owned()),
    });
    sb.handle.complete_onboarding(&dest).unwrap();
    let got = next(&mut rx).await;
    assert!(verify(
        "whsec_auto",
        &got.headers["stripe-signature"],
        &got.body
    ));
    let event: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(event["type"], "account.updated");
    assert_eq!(event["account"], dest.as_str());
    assert_eq!(event["data"]["object"]["payouts_enabled"], true);

    sb.fund(None, 100);
    let t = sb.transfer(&dest, "100").await.ok().id();
    sb.post(&format!("/v1/transfers/{t}/reversals"), &[("amount", "40")])
        .await
        .ok();
    let got = next(&mut rx).await;
    let event: Value = serde_json::from_str(&got.body).unwrap();
    assert_eq!(event["type"], "transfer.reversed");
    assert_eq!(event["data"]["object"]["amount_reversed"], 40);
    assert!(event["request"]["id"].as_str().unwrap().starts_with("req_"));
    sb.stop().await;
}

#[tokio::test]
async fn send_without_endpoint_is_a_clear_error() {
    let sb = TestSandbox::start().await;
    let r = sb
        .control(
            "/webhooks/send",
            json!({"type": "invoice.paid", "data": {"object": {}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("endpoint")
    );
    sb.stop().await;
}
