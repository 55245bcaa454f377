//! Client-side pacing to Stripe's limiter model (docs/stripe.md): limits
//! are counted per account (the `Stripe-Account` header's, or the
//! platform's); each account has a global budget (live 100 requests/s,
//! test 25/s), and each operation (method plus path template) its own
//! (25/s unless noted), which counts against the global one too.
//!
//! The pacer keeps one bucket per account and one per `(account,
//! operation)`, each just under Stripe's budget, and a process-wide cap
//! (`ops_per_second`) above them all. A call waits for a slot in all three,
//! reserved together, so one merchant's batch never spends another's
//! budget and a batch paces itself under the transfer operation's 25/s
//! instead of collecting 429s. After a 429 the operation's (or, for a
//! global refusal, the account's) bucket pauses for a second.
//!
//! Every bucket is the "generic cell rate algorithm" form of a token
//! bucket: a slot is reserved under a short lock and the caller sleeps
//! until it, so callers are served in arrival order and nobody spins.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Which budgets a key has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitMode {
    /// Live keys: 100 requests/s per account, 25/s per operation.
    Live,
    /// Test keys (sandboxes): 25/s per account, 25/s per operation.
    Test,
    /// No per-account or per-operation budget, only the cap: for
    /// benchmarks of the engine itself against an unthrottled sandbox.
    Unlimited,
}

impl LimitMode {
    /// Parses `live` or `test`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            "unlimited" => Some(Self::Unlimited),
            _ => None,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Test => "test",
            Self::Unlimited => "unlimited",
        }
    }
}

/// Whose budget a call spends.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LimitScope {
    /// Each connected account's own (Stripe's rule): the default.
    #[default]
    Account,
    /// One budget for every call, for a platform whose Connect requests
    /// are counted together (all accounts fold into the platform's).
    Platform,
}

impl LimitScope {
    /// Parses `account` or `platform`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "account" => Some(Self::Account),
            "platform" => Some(Self::Platform),
            _ => None,
        }
    }
}

/// The budgets the pacer keeps to, per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// Per account, every operation together.
    pub per_account: u32,
    /// Per account and operation, unless noted in `noted`.
    pub per_operation: u32,
    /// Operations with budgets of their own: `POST /accounts` (Stripe
    /// answers 400 above 30/s live, 5/s test) and `POST /payouts` (15/s).
    pub noted: [(&'static str, u32); 2],
    /// Every call of this process together.
    pub cap: u32,
    /// Whose budget a call spends.
    pub scope: LimitScope,
}

impl Budgets {
    /// Just under Stripe's budgets for `mode` (a token bucket paced under
    /// its rate gains slack every second, so network jitter never finds the
    /// server's empty): live 96/24, test 24/24; `cap` above them.
    pub fn for_mode(mode: LimitMode, cap: u32, scope: LimitScope) -> Self {
        let (per_account, per_operation, creations, payouts) = match mode {
            // Account creation: Stripe's 30/s (live) sits above the
            // operation's 25/s, which binds first.
            LimitMode::Live => (96, 24, 24, 14),
            LimitMode::Test => (24, 24, 4, 14),
            LimitMode::Unlimited => (cap.max(1), cap.max(1), cap.max(1), cap.max(1)),
        };
        Budgets {
            per_account,
            per_operation,
            noted: [("POST /accounts", creations), ("POST /payouts", payouts)],
            cap: cap.max(1),
            scope,
        }
    }
}

/// One bucket.
#[derive(Debug, Clone, Copy)]
struct Cell {
    interval: Duration,
    burst_window: Duration,
    /// The theoretical arrival time of the next call.
    tat: Option<Instant>,
}

impl Cell {
    fn new(per_second: u32) -> Self {
        let per_second = per_second.max(1);
        let interval = Duration::from_secs(1) / per_second;
        Cell {
            interval,
            burst_window: interval.saturating_mul(per_second.saturating_sub(1)),
            tat: None,
        }
    }

    /// The earliest instant at or after `now` at which a call may go.
    fn allowed_at(&self, now: Instant) -> Instant {
        let tat = self.tat.map_or(now, |t| t.max(now));
        tat.checked_sub(self.burst_window)
            .map_or(now, |a| a.max(now))
    }

    /// Takes the slot at `at` (not before `allowed_at`).
    fn take(&mut self, at: Instant) {
        let tat = self.tat.map_or(at, |t| t.max(at));
        self.tat = Some(tat + self.interval);
    }

    /// Nothing goes for a second from `now` (after a 429).
    fn pause(&mut self, now: Instant) {
        let paused = now + Duration::from_secs(1) + self.burst_window;
        self.tat = Some(self.tat.map_or(paused, |t| t.max(paused)));
    }
}

/// The buckets.
#[derive(Debug)]
struct Cells {
    cap: Cell,
    accounts: HashMap<String, Cell>,
    operations: HashMap<(String, String), Cell>,
}

/// Paces every call of a gateway; see the module's documentation.
#[derive(Debug)]
pub struct Pacer {
    budgets: Budgets,
    cells: Mutex<Cells>,
}

/// The platform's own calls (no `Stripe-Account`).
const PLATFORM: &str = "platform";

/// `GET /v1/transfers/tr_1Abc` → `GET /v1/transfers/{}`: Stripe counts an
/// operation by its path template, so ids (a segment with an `_` after a
/// short prefix, such as `tr_…`, `acct_…`, `pi_…`) fold into one.
pub fn operation(method: &str, path: &str) -> String {
    let template: Vec<&str> = path
        .split('/')
        .map(|segment| match segment.split_once('_') {
            // An id: a short prefix, then random characters with a digit or
            // a capital in them (`tr_1AbC`, `acct_1x`), not `login_links`.
            Some((prefix, rest))
                if !prefix.is_empty()
                    && prefix.len() <= 8
                    && rest
                        .bytes()
                        .any(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
            {
                "{}"
            }
            _ => segment,
        })
        .collect();
    format!("{method} {}", template.join("/"))
}

impl Pacer {
    /// A pacer keeping to `budgets`.
    pub fn new(budgets: Budgets) -> Self {
        Pacer {
            budgets,
            cells: Mutex::new(Cells {
                cap: Cell::new(budgets.cap),
                accounts: HashMap::new(),
                operations: HashMap::new(),
            }),
        }
    }

    /// The budgets.
    pub fn budgets(&self) -> Budgets {
        self.budgets
    }

    fn account_key<'a>(&self, account: Option<&'a str>) -> &'a str {
        match self.budgets.scope {
            LimitScope::Platform => PLATFORM,
            LimitScope::Account => account.unwrap_or(PLATFORM),
        }
    }

    /// Reserves a slot for one call at `now`; returns how long to wait.
    fn reserve(&self, account: Option<&str>, operation: &str, now: Instant) -> Duration {
        let account = self.account_key(account).to_owned();
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let budgets = self.budgets;
        let acct = *cells
            .accounts
            .entry(account.clone())
            .or_insert_with(|| Cell::new(budgets.per_account));
        let op_key = (account.clone(), operation.to_owned());
        let op_budget = budgets
            .noted
            .iter()
            .find(|(name, _)| *name == operation)
            .map_or(budgets.per_operation, |(_, n)| *n);
        let op = *cells
            .operations
            .entry(op_key.clone())
            .or_insert_with(|| Cell::new(op_budget));
        let (cap_at, acct_at, op_at) = (
            cells.cap.allowed_at(now),
            acct.allowed_at(now),
            op.allowed_at(now),
        );
        let at = cap_at.max(acct_at).max(op_at);
        // Every bucket spends its token when the call really goes, `at`:
        // a call held back by one bucket (a paused account) must not look
        // to the others as if it had gone earlier, or the calls released
        // together afterwards would overrun Stripe's budget.
        cells.cap.take(at);
        if let Some(c) = cells.accounts.get_mut(&account) {
            c.take(at);
        }
        if let Some(c) = cells.operations.get_mut(&op_key) {
            c.take(at);
        }
        at.saturating_duration_since(now)
    }

    /// Waits for a slot for `method path` on `account` (`None`: the platform).
    pub async fn acquire(&self, account: Option<&str>, method: &str, path: &str) {
        let wait = self.reserve(account, &operation(method, path), Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Stripe answered 429 `reason` (`Stripe-Rate-Limited-Reason`, when it
    /// says): the operation's bucket, or for a global refusal the
    /// account's, pauses for a second.
    pub fn throttled(&self, account: Option<&str>, method: &str, path: &str, reason: Option<&str>) {
        let account = self.account_key(account).to_owned();
        let now = Instant::now();
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let global = reason.is_some_and(|r| r.starts_with("global"));
        if global {
            if let Some(c) = cells.accounts.get_mut(&account) {
                c.pause(now);
            }
        } else if let Some(c) = cells
            .operations
            .get_mut(&(account, operation(method, path)))
        {
            c.pause(now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live(cap: u32) -> Pacer {
        Pacer::new(Budgets::for_mode(LimitMode::Live, cap, LimitScope::Account))
    }

    /// Where the n-th call of `op` on `account` may go, all asked at `now`.
    fn waits(p: &Pacer, account: &str, op: &str, n: usize, now: Instant) -> Vec<Duration> {
        (0..n).map(|_| p.reserve(Some(account), op, now)).collect()
    }

    #[test]
    fn operations_are_templates() {
        assert_eq!(operation("GET", "/transfers/tr_1AbC"), "GET /transfers/{}");
        assert_eq!(operation("POST", "/transfers"), "POST /transfers");
        assert_eq!(
            operation("POST", "/accounts/acct_1x/login_links"),
            "POST /accounts/{}/login_links"
        );
        assert_eq!(operation("GET", "/balance"), "GET /balance");
    }

    #[test]
    fn one_operation_goes_at_24_per_second_after_a_burst_of_24() {
        let p = live(1_000);
        let now = Instant::now();
        let w = waits(&p, "acct_a", "POST /transfers", 48, now);
        assert!(w[..24].iter().all(Duration::is_zero), "{w:?}");
        // The 25th waits one interval, the 48th about a second.
        assert!(
            w[24] > Duration::ZERO && w[24] <= Duration::from_millis(50),
            "{w:?}"
        );
        assert!(w[47] >= Duration::from_millis(950) && w[47] <= Duration::from_millis(1_000));
    }

    #[test]
    fn accounts_do_not_share_and_the_cap_is_shared() {
        let p = live(1_000);
        let now = Instant::now();
        waits(&p, "acct_a", "POST /transfers", 24, now);
        // Another merchant is not slowed by the first one's batch.
        assert_eq!(
            p.reserve(Some("acct_b"), "POST /transfers", now),
            Duration::ZERO
        );
        // Another operation of the first merchant is not either.
        assert_eq!(
            p.reserve(Some("acct_a"), "GET /transfers/{}", now),
            Duration::ZERO
        );

        // A cap of 10 paces everything together.
        let capped = live(10);
        let mut w = waits(&capped, "acct_a", "POST /transfers", 5, now);
        w.extend(waits(&capped, "acct_b", "POST /transfers", 6, now));
        assert!(w[..10].iter().all(Duration::is_zero));
        assert_eq!(w[10], Duration::from_millis(100));
    }

    #[test]
    fn the_account_budget_holds_across_operations() {
        let p = live(1_000);
        let now = Instant::now();
        // Four operations of 24 fill 96; the 97th call waits.
        for op in ["GET /a", "GET /b", "GET /c", "GET /d"] {
            assert!(
                waits(&p, "acct_a", op, 24, now)
                    .iter()
                    .all(Duration::is_zero)
            );
        }
        assert!(p.reserve(Some("acct_a"), "GET /e", now) > Duration::ZERO);
        // Folded into one platform budget, accounts share it.
        let folded = Pacer::new(Budgets::for_mode(
            LimitMode::Test,
            1_000,
            LimitScope::Platform,
        ));
        waits(&folded, "acct_a", "GET /a", 24, now);
        assert!(folded.reserve(Some("acct_b"), "GET /b", now) > Duration::ZERO);
    }

    #[test]
    fn calls_held_back_by_the_account_go_at_the_operations_pace_afterwards() {
        // 64 transfers queued behind a paused account must not be let out
        // together when the pause ends: after the operation's burst of 24,
        // they go at 24/s.
        let p = live(1_000);
        let now = Instant::now();
        p.reserve(Some("acct_a"), "GET /x", now);
        p.throttled(Some("acct_a"), "GET", "/x", Some("global-rate"));
        let start = Instant::now();
        let w: Vec<Duration> = (0..64)
            .map(|_| p.reserve(Some("acct_a"), "POST /transfers", start))
            .collect();
        assert!(w[0] >= Duration::from_millis(900), "{:?}", w[0]);
        // Stripe's bucket for the operation (25/s, a burst of 25, full by
        // then) admits every one of them, in the order they go.
        assert!(stripe_admits_all(&w, 25), "{w:?}");
    }

    /// Whether a token bucket of `per_second` (burst the same) admits calls
    /// sent at these offsets.
    fn stripe_admits_all(sent: &[Duration], per_second: u32) -> bool {
        let mut times = sent.to_vec();
        times.sort();
        let interval = Duration::from_secs(1) / per_second;
        let burst = interval * (per_second - 1);
        let mut tat = Duration::ZERO;
        times.iter().all(|t| {
            let start = tat.max(*t);
            if start.saturating_sub(*t) > burst {
                return false;
            }
            tat = start + interval;
            true
        })
    }

    #[test]
    fn account_creation_keeps_to_its_own_budget() {
        let test = Pacer::new(Budgets::for_mode(
            LimitMode::Test,
            1_000,
            LimitScope::Account,
        ));
        let now = Instant::now();
        let w: Vec<Duration> = (0..6)
            .map(|_| test.reserve(None, "POST /accounts", now))
            .collect();
        assert!(w[..4].iter().all(Duration::is_zero), "{w:?}");
        assert_eq!(
            w[4],
            Duration::from_millis(250),
            "4 a second with a test key"
        );
    }

    #[tokio::test]
    async fn a_429_pauses_the_operation_for_a_second() {
        let p = live(1_000);
        let now = Instant::now();
        assert_eq!(
            p.reserve(Some("acct_a"), "POST /transfers", now),
            Duration::ZERO
        );
        p.throttled(Some("acct_a"), "POST", "/transfers", Some("endpoint-rate"));
        let w = p.reserve(Some("acct_a"), "POST /transfers", Instant::now());
        assert!(w >= Duration::from_millis(900), "{w:?}");
        // Other operations go on (the paused call holds one slot of the
        // account's budget at the instant it will go, nothing more).
        assert!(
            p.reserve(Some("acct_a"), "GET /balance", Instant::now()) < Duration::from_millis(100)
        );
        p.throttled(Some("acct_a"), "GET", "/balance", Some("global-rate"));
        assert!(p.reserve(Some("acct_a"), "GET /x", Instant::now()) >= Duration::from_millis(900));
    }
}
