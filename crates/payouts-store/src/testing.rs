//! Test helpers (feature `testing`): a fresh database per test on SQLite
//! and on PostgreSQL, for this crate's tests and for any crate that tests
//! against the real store.
//!
//! * [`sqlite_store`]: a new SQLite file in a per-process temporary folder.
//! * [`postgres_store`]: a new database (`CREATE DATABASE t_<random>`) in a
//!   PostgreSQL server shared by the whole test process: `DATABASE_URL`
//!   when it is set to a `postgres://` URL, otherwise a throwaway cluster
//!   started on first use with `initdb` and `pg_ctl` (from
//!   `pg_config --bindir`, else `$PATH`, else Debian's
//!   `/usr/lib/postgresql/<version>/bin`) on a free `127.0.0.1` port, with
//!   its data in the per-process folder. PostgreSQL refuses to run as root,
//!   so as root both run as the `postgres` user (`runuser -u postgres --`)
//!   on a data directory that user owns.
//! * When PostgreSQL cannot be started, [`postgres_store`] panics under
//!   `CI=true`; elsewhere it prints one line saying why the PostgreSQL
//!   tests are skipped and returns `None`.
//!
//! **Cleanup.** Rust runs no destructor for statics, so the folder is
//! guarded by a small watchdog shell, started with the folder in its own
//! process group (a Ctrl-C of the test run does not reach it): it polls the
//! test process every half second and, once it is gone (finished, panicked
//! or killed), stops the cluster with `pg_ctl -m immediate stop` and
//! deletes the folder. No server outlives its test process by more than a
//! second.

use std::future::Future;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use sea_orm::sqlx::Connection;
use sea_orm::sqlx::Executor;
use sea_orm::sqlx::postgres::PgConnection;

use crate::SeaOrmStore;

/// Runs a future to completion on a fresh multi-threaded tokio runtime
/// (what the testkit macros call for each test).
///
/// # Panics
/// When the runtime cannot be built.
#[expect(clippy::expect_used, reason = "a test cannot run without its runtime")]
pub fn block_on<F: Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// A fresh, migrated SQLite store in its own file.
///
/// # Panics
/// When the file cannot be created or migrated: a test cannot go on.
#[expect(clippy::panic, reason = "a test helper stops the test with the cause")]
pub async fn sqlite_store() -> Option<SeaOrmStore> {
    let root = match scratch() {
        Ok(root) => root,
        Err(e) => panic!("no scratch folder for SQLite: {e}"),
    };
    let file = root.join(format!("db-{}.sqlite", uuid::Uuid::new_v4().simple()));
    let url = format!("sqlite://{}?mode=rwc", file.display());
    match open(&url).await {
        Ok(store) => Some(store),
        Err(e) => panic!("SQLite store: {e}"),
    }
}

/// A fresh, migrated PostgreSQL store in its own database, or `None` (with
/// one line on stderr) when PostgreSQL is unavailable outside CI.
///
/// # Panics
/// Under `CI=true` when PostgreSQL is unavailable, and whenever the
/// database cannot be created or migrated.
#[expect(clippy::panic, reason = "a test helper stops the test with the cause")]
pub async fn postgres_store() -> Option<SeaOrmStore> {
    let url = match fresh_postgres_database().await {
        Ok(Some(url)) => url,
        Ok(None) => return None,
        Err(e) => panic!("PostgreSQL database: {e}"),
    };
    match open(&url).await {
        Ok(store) => Some(store),
        Err(e) => panic!("PostgreSQL store: {e}"),
    }
}

/// The URL of a new, empty database on the shared server, `None` when
/// PostgreSQL is unavailable outside CI (see the module doc).
///
/// # Errors
/// When the database cannot be created.
///
/// # Panics
/// Under `CI=true` when PostgreSQL is unavailable.
#[expect(clippy::panic, reason = "CI must not skip the PostgreSQL tests")]
pub async fn fresh_postgres_database() -> Result<Option<String>, String> {
    let server = match shared_server() {
        Ok(server) => server,
        Err(reason) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL is required under CI=true but unavailable: {reason}");
            }
            static SAID: OnceLock<()> = OnceLock::new();
            SAID.get_or_init(|| {
                // Straight to stderr: the test harness captures `eprintln!`.
                let _ignored = writeln!(
                    std::io::stderr(),
                    "payouts-store: PostgreSQL tests skipped: {reason}"
                );
            });
            return Ok(None);
        }
    };
    server.create_database().await.map(Some)
}

async fn open(url: &str) -> Result<SeaOrmStore, String> {
    let store = SeaOrmStore::connect(url).await.map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(store)
}

/// A PostgreSQL server reachable with an administrator URL.
#[derive(Debug)]
pub struct PgServer {
    /// `postgres://…/postgres`: may create databases.
    admin_url: String,
}

impl PgServer {
    /// The administrator URL.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// Creates `t_<random>` and returns its URL.
    ///
    /// # Errors
    /// When the server refuses.
    pub async fn create_database(&self) -> Result<String, String> {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let mut admin = PgConnection::connect(&self.admin_url)
            .await
            .map_err(|e| format!("cannot reach PostgreSQL: {e}"))?;
        admin
            .execute(sea_orm::sqlx::AssertSqlSafe(format!(
                "CREATE DATABASE {name}"
            )))
            .await
            .map_err(|e| format!("CREATE DATABASE failed: {e}"))?;
        let _closed = admin.close().await;
        Ok(with_database(&self.admin_url, &name))
    }
}

/// `url` with its database name replaced by `name` (the query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i.saturating_add(3));
    let host_part = base.get(authority_start..).unwrap_or_default();
    let prefix = match host_part.find('/') {
        Some(slash) => base
            .get(..authority_start.saturating_add(slash))
            .unwrap_or(base),
        None => base,
    };
    match query {
        Some(q) => format!("{prefix}/{name}?{q}"),
        None => format!("{prefix}/{name}"),
    }
}

/// The process's server: `DATABASE_URL`, or a cluster started once.
fn shared_server() -> Result<&'static PgServer, String> {
    static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
    SERVER
        .get_or_init(|| match std::env::var("DATABASE_URL") {
            Ok(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                Ok(PgServer { admin_url: url })
            }
            _ => start_cluster("pg", FAST_TEST_SETTINGS),
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Server settings for tests: no fsync. Durability is not under test and
/// each test's data dies with the process anyway.
const FAST_TEST_SETTINGS: &[(&str, &str)] = &[
    ("fsync", "off"),
    ("synchronous_commit", "off"),
    ("full_page_writes", "off"),
    ("max_connections", "300"),
];

/// Starts a throwaway cluster in `<scratch>/<name>` with extra `settings`
/// (`-c key=value`), stopped by the watchdog when this process ends.
///
/// # Errors
/// Why the cluster could not be started (no binaries, no `postgres` user, …).
pub fn start_cluster(name: &str, settings: &[(&str, &str)]) -> Result<PgServer, String> {
    let root = scratch()?;
    let bin = pg_bindir()?;
    let as_root = is_root();
    let data = root.join(name);
    let sockets = root.join(format!("{name}-sock"));
    for dir in [&data, &sockets] {
        std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    }
    if as_root {
        let (uid, gid) = postgres_user()?;
        for dir in [&data, &sockets] {
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .map_err(|e| format!("chown {}: {e}", dir.display()))?;
        }
    }
    // Inside a folder `postgres` owns, since the server writes it.
    let log = sockets.join("server.log");
    run(
        as_root,
        &bin.join("initdb"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )?;
    let port = free_port()?;
    let mut options = format!(
        "-p {port} -c listen_addresses=127.0.0.1 -k {}",
        sockets.display()
    );
    for (key, value) in settings {
        options.push_str(&format!(" -c {key}={value}"));
    }
    // Register the stop before starting, so even a half-started server is stopped.
    let stop = stop_command(as_root, &bin, &data);
    std::fs::write(root.join(format!("stop-{name}.sh")), stop)
        .map_err(|e| format!("cannot write the stop script: {e}"))?;
    run(
        as_root,
        &bin.join("pg_ctl"),
        &[
            "-D",
            &data.to_string_lossy(),
            "-l",
            &log.to_string_lossy(),
            "-w",
            "-t",
            "60",
            "-o",
            &options,
            "start",
        ],
    )
    .map_err(|e| {
        let tail = std::fs::read_to_string(&log).unwrap_or_default();
        format!("{e}; server log: {}", tail.trim())
    })?;
    Ok(PgServer {
        admin_url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
    })
}

fn stop_command(as_root: bool, bin: &Path, data: &Path) -> String {
    let pg_ctl = format!(
        "{} -D {} -m immediate stop",
        bin.join("pg_ctl").display(),
        data.display()
    );
    if as_root {
        format!("runuser -u postgres -- {pg_ctl}\n")
    } else {
        format!("{pg_ctl}\n")
    }
}

/// Runs a PostgreSQL binary (as `postgres` when we are root).
fn run(as_root: bool, program: &Path, args: &[&str]) -> Result<(), String> {
    let mut command = if as_root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    };
    let output = command
        .args(args)
        .current_dir("/")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed ({}): {}",
            program.display(),
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// The folder of the PostgreSQL server binaries.
fn pg_bindir() -> Result<PathBuf, String> {
    let from_pg_config = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()))
        .filter(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists());
    if let Some(dir) = from_pg_config {
        return Ok(dir);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::split_paths(&path).collect();
    // Debian keeps the server binaries off $PATH, per major version.
    let mut versioned: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|dir| {
            dir.filter_map(|e| e.ok().map(|e| e.path().join("bin")))
                .collect()
        })
        .unwrap_or_default();
    versioned.sort_by_key(|dir| {
        dir.parent()
            .and_then(|v| v.file_name())
            .and_then(|v| v.to_str())
            .and_then(|v| v.parse::<u32>().ok())
            .unwrap_or(0)
    });
    candidates.extend(versioned.into_iter().rev());
    candidates
        .into_iter()
        .find(|dir| dir.join("initdb").exists() && dir.join("pg_ctl").exists())
        .ok_or_else(|| {
            "no initdb/pg_ctl found (`pg_config --bindir`, $PATH, /usr/lib/postgresql/*/bin); \
             install PostgreSQL or set DATABASE_URL"
                .to_owned()
        })
}

/// True when this process runs as root (`/proc/self` belongs to our uid).
fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The uid and gid of the `postgres` user.
fn postgres_user() -> Result<(u32, u32), String> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| format!("cannot read /etc/passwd: {e}"))?;
    passwd
        .lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            let gid = fields.next()?.parse().ok()?;
            (name == "postgres").then_some((uid, gid))
        })
        .next()
        .ok_or_else(|| {
            "running as root and there is no `postgres` user to run PostgreSQL as".to_owned()
        })
}

/// A port nobody listens on right now.
fn free_port() -> Result<u16, String> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free local port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free local port: {e}"))
}

/// The per-process scratch folder, deleted by the watchdog when the process
/// ends (see the module doc). Put throwaway databases here.
///
/// # Errors
/// When the folder or its watchdog cannot be created.
pub fn scratch_dir() -> Result<PathBuf, String> {
    scratch()
}

fn scratch() -> Result<PathBuf, String> {
    static ROOT: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = std::env::temp_dir().join(format!(
            "payouts-store-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::create_dir_all(&root).map_err(|e| format!("mkdir {}: {e}", root.display()))?;
        // Traversable by `postgres`, which owns only its own subfolders.
        std::fs::set_permissions(&root, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", root.display()))?;
        let script = format!(
            "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; \
             for s in '{root}'/stop-*.sh; do [ -f \"$s\" ] && sh \"$s\" >/dev/null 2>&1; done; \
             rm -rf '{root}'",
            pid = std::process::id(),
            root = root.display()
        );
        Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot start the cleanup watchdog: {e}"))?;
        Ok(root)
    })
    .clone()
}
