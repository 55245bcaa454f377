//! Issue 6's benchmarks, P1 to P5.
//!
//! ```text
//! payouts-bench p1|p1-many|p1-test|p1-two|p1-all|p2|p3|p4|p5|all [--quick]
//! ```
//!
//! Progress goes to stderr; the last lines on stdout are one JSON object per
//! figure: `{"id":"P1","figure":…,"unit":"…","goal":"…","met":true|false,…}`.
//! `--quick` shrinks every N so that `all --quick` is a CI smoke run.
//! PostgreSQL figures use `DATABASE_URL` when set, otherwise a throwaway
//! cluster (see `payouts_store::testing`); without a PostgreSQL they are
//! reported as skipped, except under `CI=true`, where that is an error.

mod fixture;
mod p1;
mod p1x;
mod p2;
mod p3;
mod p4;
mod p5;

use std::time::Instant;

use serde_json::{Value, json};

/// Errors end the run with a message.
pub type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// An error from a message.
pub fn fail(message: impl Into<String>) -> Box<dyn std::error::Error + Send + Sync> {
    message.into().into()
}

/// One measured figure.
#[derive(Debug)]
pub struct Figure {
    /// `P1` … `P5` (with a suffix for a second figure of the same benchmark).
    pub id: String,
    /// The value; `None` when skipped.
    pub figure: Option<f64>,
    /// Its unit.
    pub unit: &'static str,
    /// The goal, in words.
    pub goal: &'static str,
    /// Whether the goal was met.
    pub met: bool,
    /// Context: sizes, backend, sub-measurements.
    pub extra: Value,
}

impl Figure {
    fn to_json(&self) -> Value {
        let mut out = json!({
            "id": self.id,
            "figure": self.figure.map(round3),
            "unit": self.unit,
            "goal": self.goal,
            "met": self.met,
        });
        if let (Some(out), Value::Object(extra)) = (out.as_object_mut(), &self.extra) {
            for (k, v) in extra {
                out.insert(k.clone(), v.clone());
            }
        }
        out
    }
}

/// Three decimals are plenty for every figure.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Logs a progress line on stderr.
#[macro_export]
macro_rules! note {
    ($($arg:tt)*) => { eprintln!("[bench] {}", format!($($arg)*)) };
}

fn usage() -> String {
    "usage: payouts-bench p1|p1-many|p1-test|p1-two|p1-all|p2|p3|p4|p5|all [--quick]".to_owned()
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("payouts-bench: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> BenchResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some(p5::CHILD) {
        return p5::child(args.get(1..).unwrap_or_default()).await;
    }
    let mut which: Vec<String> = Vec::new();
    let mut quick = false;
    for arg in args {
        match arg.as_str() {
            "--quick" => quick = true,
            "p1" | "p1-many" | "p1-test" | "p1-two" | "p2" | "p3" | "p4" | "p5" => {
                which.push(arg);
            }
            // Every P1 figure (issue 13).
            "p1-all" => which.extend(["p1", "p1-many", "p1-test", "p1-two"].map(str::to_owned)),
            // P5 first: its peak RSS is then not inflated by earlier runs.
            "all" => which.extend(
                ["p5", "p1", "p1-many", "p1-test", "p1-two", "p2", "p3", "p4"].map(str::to_owned),
            ),
            "-h" | "--help" => {
                println!("{}", usage());
                return Ok(());
            }
            other => return Err(fail(format!("unknown argument {other:?}; {}", usage()))),
        }
    }
    if which.is_empty() {
        return Err(fail(usage()));
    }
    let started = Instant::now();
    let mut env = fixture::Env::new().await?;
    let mut figures = Vec::new();
    for bench in &which {
        let t = Instant::now();
        note!("{bench}{} …", if quick { " (quick)" } else { "" });
        let mut got = match bench.as_str() {
            "p1" => p1::run(&mut env, quick).await?,
            "p1-many" => p1x::many(&mut env, quick).await?,
            "p1-test" => p1x::test_mode(&mut env, quick).await?,
            "p1-two" => p1x::two(&mut env, quick).await?,
            "p2" => p2::run(&mut env, quick).await?,
            "p3" => p3::run(&mut env, quick).await?,
            "p4" => p4::run(&mut env, quick).await?,
            _ => p5::run(&mut env, quick).await?,
        };
        note!("{bench} done in {:.1} s", t.elapsed().as_secs_f64());
        for f in &got {
            note!("{}", f.to_json());
        }
        figures.append(&mut got);
    }
    note!("total {:.1} s", started.elapsed().as_secs_f64());
    for f in &figures {
        println!("{}", f.to_json());
    }
    Ok(())
}
