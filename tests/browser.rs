//! The console in a real browser (issue 8): runs `tests/browser/run.sh`,
//! the Playwright suite, against the `payouts` binary of this target dir,
//! so that the README's test command runs it too. It clicks the whole
//! story through headless Chromium (sign-in by link, Connect through the
//! sandbox, a program and its partners, finalize, build, approve, run,
//! an `insufficient_balance` failure and its retry, a transfer link, the
//! partner's portal) and the security checks, and saves a screenshot of
//! every page in `target/browser-screenshots`.
//!
//! Without Chromium (`apt-get install chromium`) it says it skipped, except
//! under `CI=true`, where it fails. The first run makes a venv with
//! Playwright for Python from PyPI in `target/browser-venv`.

use std::process::Command;

#[test]
fn the_console_in_a_browser() {
    let payouts = payouts_e2e::reliability::binary("payouts");
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    // The target dir is the binary's grandparent (`target/<profile>/payouts`).
    let target = payouts
        .parent()
        .and_then(std::path::Path::parent)
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    let out = Command::new("bash")
        .arg(root.join("tests/browser/run.sh"))
        .current_dir(&root)
        .env("PAYOUTS_BIN", &payouts)
        .env("CARGO_TARGET_DIR", &target)
        .output();
    let out = match out {
        Ok(out) => out,
        Err(e) => panic!("cannot run tests/browser/run.sh: {e}"),
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}{stderr}");
    assert!(
        out.status.success(),
        "the browser tests failed (screenshots in {}):\n{stdout}\n{stderr}",
        target.join("browser-screenshots").display()
    );
    let summary = if stdout.contains("SKIP browser tests") {
        "browser tests: SKIPPED (no Chromium)".to_owned()
    } else {
        let last = stdout
            .lines()
            .rev()
            .find(|l| l.contains(" passed"))
            .unwrap_or_default()
            .trim_matches(|c: char| c == '=' || c.is_whitespace())
            .to_owned();
        assert!(
            !last.is_empty() && !last.contains("failed") && !last.contains("error"),
            "{stdout}"
        );
        format!("browser tests: {last}")
    };
    eprintln!("{summary}");
    // Next to the binary, for CI's summary (as the reliability tests do).
    if let Some(dir) = payouts.parent() {
        let _ = std::fs::write(dir.join("browser-summary.txt"), format!("{summary}\n"));
    }
}
