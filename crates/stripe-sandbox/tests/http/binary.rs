use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use stripe_sandbox::{Sandbox, SandboxConfig};

use crate::helpers::{KEY, client, spec};

#[tokio::test]
async fn binary_serves_on_a_free_port() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stripe-sandbox"))
        .args(["--addr", "127.0.0.1:0", "--workers", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        line
    });
    let line = tokio::time::timeout(Duration::from_secs(30), line)
        .await
        .expect("binary starts within 30 s")
        .unwrap();
    let url = line
        .trim()
        .strip_prefix("stripe-sandbox listening on ")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_owned();
    assert!(url.starts_with("http://127.0.0.1:"));
    let http = client();
    let health: serde_json::Value = http
        .get(format!("{url}/_sandbox/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["ok"], true);
    let balance = http
        .get(format!("{url}/v1/balance"))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(balance.status(), 200);
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The way an application embeds it: inside its own multi-threaded runtime,
/// as `#[tokio::main]` builds it.
#[test]
fn embeds_in_a_multi_threaded_tokio_runtime() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let handle = Sandbox::start(SandboxConfig::default().with_spec(spec()))
            .await
            .unwrap();
        let base = handle.base_url();
        assert_eq!(base, format!("http://{}", handle.addr()));
        assert!(!base.trim_start_matches("http://").contains('/'));
        let r = client()
            .get(format!("{base}/v1/balance"))
            .bearer_auth(KEY)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let r: serde_json::Value = r.json().await.unwrap();
        assert_eq!(r["object"], "balance");
        handle.stop().await;
        // Stopped means the port no longer answers.
        assert!(
            client()
                .get(format!("{base}/v1/balance"))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_err()
        );
    });
}

#[test]
fn binary_fails_cleanly_on_a_missing_spec() {
    let out = Command::new(env!("CARGO_BIN_EXE_stripe-sandbox"))
        .args(["--addr", "127.0.0.1:0"])
        .env("STRIPE_SANDBOX_SPEC", "/nonexistent/spec3.json")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/spec3.json"), "{stderr}");
}
