//! Every Stripe call is one log line with Stripe's `Request-Id`, and no
//! line carries the secret key or an OAuth code.

use std::io::Write;
use std::sync::{Arc, Mutex};

use payouts_domain::ports::PayoutGateway;
use tracing_subscriber::fmt::MakeWriter;

use crate::helpers::{KEY, start_with, transfer_request};

/// The lines a test's subscriber wrote.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn every_call_logs_stripes_request_id_and_never_the_key_or_a_code() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(captured.clone())
        .finish();
    // A current-thread runtime: every call's events land on this thread.
    let _guard = tracing::subscriber::set_default(subscriber);

    let secret = "sk_test_do_not_log_0123456789";
    let env = start_with(|c| c.secret_key = payouts_stripe::SecretString::from(secret)).await;
    let dest = env.onboarded_account().await;
    env.fund(None, 10_000);
    let req = transfer_request(&dest, 1_500);
    env.gw.create_transfer(&req).await.unwrap();
    env.gw.account_balance(&dest).await.unwrap();
    let grant = env.sb.create_oauth_code(None).unwrap();
    env.gw.oauth_exchange_code(&grant.code).await.unwrap();
    // A code used twice is refused: an error answer is logged too.
    assert!(env.gw.oauth_exchange_code(&grant.code).await.is_err());

    let text = captured.text();
    let calls: Vec<&str> = text.lines().filter(|l| l.contains("stripe call")).collect();
    // The account, the transfer, the balance and two code exchanges.
    assert!(calls.len() >= 4, "{text}");
    for line in &calls {
        assert!(line.contains("stripe_request_id=req_"), "{line}");
        assert!(line.contains("status="), "{line}");
        assert!(line.contains("duration_ms="), "{line}");
    }
    let transfer = calls
        .iter()
        .find(|l| l.contains("path=/v1/transfers") && l.contains("method=POST"))
        .unwrap_or_else(|| panic!("no transfer line in {text}"));
    assert!(
        transfer.contains(&format!("idempotency_key={}", req.key.as_str())),
        "{transfer}"
    );
    assert!(transfer.contains("status=200"), "{transfer}");
    assert!(
        calls
            .iter()
            .any(|l| l.contains("path=/v1/balance") && l.contains(&format!("account={dest}"))),
        "{text}"
    );
    assert!(
        calls
            .iter()
            .any(|l| l.contains("path=/oauth/token") && l.contains("status=400")),
        "{text}"
    );
    for leaked in [secret, KEY, grant.code.as_str()] {
        assert!(!text.contains(leaked), "{leaked} in the log:\n{text}");
    }
    env.finish().await;
}
