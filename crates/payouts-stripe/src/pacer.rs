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
//! instead of collecting 429s.
//!
//! A 429 slows the bucket it names (the operation's, or for a global
//! refusal the account's): its rate halves and its burst is spent
//! (multiplicative decrease, once for all the calls sent before the last
//! halving: those in flight with the first refused one are refused for the
//! same excess), then
//! the rate climbs back by an eighth of the budget every second without a
//! 429 (additive increase). A `lock_timeout` 429 (another request held the
//! object) slows nothing.
//!
//! A slot is reserved under a short lock and the caller sleeps until it, so
//! callers are served in arrival order and nobody spins. An operation's
//! bucket is the "generic cell rate algorithm" form of a token bucket, its
//! burst half its rate, not all of it: Stripe's bucket holds a full second,
//! so the half left over absorbs network jitter (calls sent apart that
//! arrive together) from the first second on. The shared budgets (the
//! account's, the cap) are counted per quarter-second slot instead (see
//! [`Window`]): operations reserve their calls ahead of time, and one
//! operation's reservations two seconds out must not hold another
//! operation, or another merchant, back now.

use std::collections::{BTreeMap, HashMap};
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
    /// Just under Stripe's budgets for `mode` (a bucket paced under the
    /// server's rate gains slack every second, and its half burst leaves
    /// half a second of slack from the start, so network jitter never finds
    /// the server's empty): live 96/24, test 24/24; `cap` above them.
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

    /// The budget of `operation` (`POST /accounts`, …), per second.
    fn operation(&self, operation: &str) -> u32 {
        self.noted
            .iter()
            .find(|(name, _)| *name == operation)
            .map_or(self.per_operation, |(_, n)| *n)
    }
}

/// A rate that halves after a 429 (multiplicative decrease, once for the
/// calls sent before the last halving: those in flight with the first 429
/// are refused for the same excess) and climbs back by an eighth of its
/// budget per second without one (additive increase).
#[derive(Debug, Clone, Copy)]
struct Aimd {
    /// The budget, per second.
    budget: u32,
    /// The rate now (the budget, or less after a 429).
    rate: u32,
    /// When the rate last changed (a 429, or a step back up).
    changed: Option<Instant>,
    /// When the rate last halved.
    decreased: Option<Instant>,
}

impl Aimd {
    fn new(budget: u32) -> Self {
        let budget = budget.max(1);
        Aimd {
            budget,
            rate: budget,
            changed: None,
            decreased: None,
        }
    }

    /// Steps back up for every whole second since the last change; `true`
    /// when the rate changed.
    fn recover(&mut self, now: Instant) -> bool {
        let Some(changed) = self.changed else {
            return false;
        };
        let seconds = now.saturating_duration_since(changed).as_secs();
        if seconds == 0 {
            return false;
        }
        let step = (self.budget / 8).max(1);
        let steps = u32::try_from(seconds).unwrap_or(u32::MAX);
        self.rate = self
            .rate
            .saturating_add(step.saturating_mul(steps))
            .min(self.budget);
        self.changed =
            (self.rate < self.budget).then(|| changed + Duration::from_secs(u64::from(steps)));
        true
    }

    /// Halves the rate (at least 1) at `now` for a 429 to a call sent at
    /// `sent`, unless the rate halved after that call went (its refusal is
    /// the excess already answered).
    fn decrease(&mut self, sent: Instant, now: Instant) {
        if self.decreased.is_some_and(|at| sent < at) {
            return;
        }
        self.recover(now);
        self.rate = (self.rate / 2).max(1);
        self.changed = Some(now);
        self.decreased = Some(now);
    }
}

/// An operation's bucket: calls of one operation are reserved in order, so
/// one token bucket (GCRA) holds them, with a burst of half its rate.
#[derive(Debug, Clone, Copy)]
struct Cell {
    rate: Aimd,
    interval: Duration,
    burst_window: Duration,
    /// The theoretical arrival time of the next call.
    tat: Option<Instant>,
}

impl Cell {
    fn new(per_second: u32) -> Self {
        let mut cell = Cell {
            rate: Aimd::new(per_second),
            interval: Duration::ZERO,
            burst_window: Duration::ZERO,
            tat: None,
        };
        cell.rate_changed();
        cell
    }

    fn rate_changed(&mut self) {
        let rate = self.rate.rate.max(1);
        self.interval = Duration::from_secs(1) / rate;
        let burst = (rate / 2).max(1);
        self.burst_window = self.interval.saturating_mul(burst.saturating_sub(1));
    }

    fn recover(&mut self, now: Instant) {
        if self.rate.recover(now) {
            self.rate_changed();
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

    /// The multiplicative decrease after a 429 at `now`: the rate halves
    /// and the burst is spent, so the next call goes one (new) interval on.
    fn slow_down(&mut self, sent: Instant, now: Instant) {
        self.rate.decrease(sent, now);
        self.rate_changed();
        let empty = now + self.interval + self.burst_window;
        self.tat = Some(self.tat.map_or(empty, |t| t.max(empty)));
    }
}

/// Slots per second of a [`Window`].
const SLOTS_PER_SECOND: u64 = 4;
/// A slot's length.
const SLOT: Duration = Duration::from_millis(1_000 / SLOTS_PER_SECOND);
/// How far ahead a call may be reserved (an hour of slots).
const MAX_SLOTS_AHEAD: u64 = 3_600 * SLOTS_PER_SECOND;

/// A budget shared by several operations (an account's) or by every call
/// (the process cap). Their calls are reserved out of order (each
/// operation's bucket sends its own calls ahead of time), which one token
/// bucket cannot hold without making every other operation wait behind the
/// furthest reservation. So the budget is kept as calls per quarter-second
/// slot: `rate / 4` each, the remainder spread, so that any four slots in a
/// row hold `rate`. Over any `L` seconds that is at most `rate · L + rate /
/// 2` calls, which Stripe's bucket (a full second of burst, `limit ·
/// (1 + L)`) admits with room to spare.
#[derive(Debug, Clone)]
struct Window {
    rate: Aimd,
    /// Calls reserved per slot (slots before now are forgotten).
    slots: BTreeMap<u64, u32>,
    /// No call before this slot (a 429 spent the burst).
    from: u64,
}

impl Window {
    fn new(per_second: u32) -> Self {
        Window {
            rate: Aimd::new(per_second),
            slots: BTreeMap::new(),
            from: 0,
        }
    }

    /// How many calls slot `slot` holds at the current rate.
    fn capacity(&self, slot: u64) -> u64 {
        let rate = u64::from(self.rate.rate);
        let upto = |s: u64| rate.saturating_mul(s) / SLOTS_PER_SECOND;
        upto(slot.saturating_add(1)).saturating_sub(upto(slot))
    }

    fn has_room(&self, slot: u64) -> bool {
        slot >= self.from
            && u64::from(self.slots.get(&slot).copied().unwrap_or(0)) < self.capacity(slot)
    }

    fn take(&mut self, slot: u64) {
        let n = self.slots.entry(slot).or_insert(0);
        *n = n.saturating_add(1);
    }

    /// Forgets the slots before `slot` and steps the rate back up.
    fn tidy(&mut self, slot: u64, now: Instant) {
        self.rate.recover(now);
        self.slots = self.slots.split_off(&slot);
    }

    /// After a 429: the rate halves and nothing more goes in this slot.
    fn slow_down(&mut self, slot: u64, sent: Instant, now: Instant) {
        self.rate.decrease(sent, now);
        self.from = self.from.max(slot.saturating_add(1));
    }
}

/// The buckets.
#[derive(Debug)]
struct Cells {
    /// The instant slot 0 of every [`Window`] starts.
    base: Instant,
    cap: Window,
    accounts: HashMap<String, Window>,
    operations: HashMap<(String, String), Cell>,
}

/// The [`Window`] slot `at` falls in, counted from `base`.
fn slot_of(base: Instant, at: Instant) -> u64 {
    let since = at.saturating_duration_since(base);
    u64::try_from(since.as_millis() / SLOT.as_millis()).unwrap_or(u64::MAX)
}

/// Where slot `slot` starts.
fn slot_start(base: Instant, slot: u64) -> Instant {
    base + SLOT.saturating_mul(u32::try_from(slot).unwrap_or(u32::MAX))
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
                base: Instant::now(),
                cap: Window::new(budgets.cap),
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
        let mut guard = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let cells = &mut *guard;
        let budgets = self.budgets;
        let base = cells.base;
        let current = slot_of(base, now);
        cells.cap.tidy(current, now);
        let acct = cells
            .accounts
            .entry(account.clone())
            .or_insert_with(|| Window::new(budgets.per_account));
        acct.tidy(current, now);
        let op_budget = budgets.operation(operation);
        let op = cells
            .operations
            .entry((account.clone(), operation.to_owned()))
            .or_insert_with(|| Cell::new(op_budget));
        op.recover(now);
        // The operation's own pace first, then the first slot from there
        // with room in the account's budget and in the cap. Every budget
        // spends its share when the call really goes, `at`.
        let mut at = op.allowed_at(now);
        let mut slot = slot_of(base, at);
        let last = slot.saturating_add(MAX_SLOTS_AHEAD);
        while slot < last && !(acct.has_room(slot) && cells.cap.has_room(slot)) {
            slot = slot.saturating_add(1);
            at = at.max(slot_start(base, slot));
        }
        op.take(at);
        acct.take(slot);
        cells.cap.take(slot);
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
    /// says) to a call sent at `sent`: the operation's bucket, or for a
    /// global refusal the account's, slows down (see the module's
    /// documentation).
    pub fn throttled(
        &self,
        account: Option<&str>,
        method: &str,
        path: &str,
        reason: Option<&str>,
        sent: Instant,
    ) {
        self.throttled_at(account, method, path, reason, sent, Instant::now());
    }

    fn throttled_at(
        &self,
        account: Option<&str>,
        method: &str,
        path: &str,
        reason: Option<&str>,
        sent: Instant,
        now: Instant,
    ) {
        let account = self.account_key(account).to_owned();
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let global = reason.is_some_and(|r| r.starts_with("global"));
        let slot = slot_of(cells.base, now);
        if global {
            if let Some(c) = cells.accounts.get_mut(&account) {
                c.slow_down(slot, sent, now);
            }
        } else if let Some(c) = cells
            .operations
            .get_mut(&(account, operation(method, path)))
        {
            c.slow_down(sent, now);
        }
    }

    /// The rate `method path` on `account` is paced at now, per second (the
    /// smaller of its operation's and its account's buckets).
    pub fn rate(&self, account: Option<&str>, method: &str, path: &str) -> u32 {
        self.rate_at(account, method, path, Instant::now())
    }

    fn rate_at(&self, account: Option<&str>, method: &str, path: &str, now: Instant) -> u32 {
        let account = self.account_key(account).to_owned();
        let mut cells = self.cells.lock().unwrap_or_else(PoisonError::into_inner);
        let op = operation(method, path);
        let budgets = self.budgets;
        let op_budget = budgets.operation(&op);
        let op_rate = cells
            .operations
            .get_mut(&(account.clone(), op))
            .map_or(op_budget, |c| {
                c.recover(now);
                c.rate.rate
            });
        let acct_rate = cells
            .accounts
            .get_mut(&account)
            .map_or(budgets.per_account, |c| {
                c.rate.recover(now);
                c.rate.rate
            });
        op_rate.min(acct_rate)
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
    fn one_operation_goes_at_24_per_second_after_a_burst_of_12() {
        let p = live(1_000);
        let now = Instant::now();
        let w = waits(&p, "acct_a", "POST /transfers", 48, now);
        assert!(w[..12].iter().all(Duration::is_zero), "{w:?}");
        // The 13th waits one interval, the 48th 36 of them (1.5 s).
        assert!(
            w[12] > Duration::ZERO && w[12] <= Duration::from_millis(50),
            "{w:?}"
        );
        assert!(
            w[47] >= Duration::from_millis(1_450) && w[47] <= Duration::from_millis(1_500),
            "{w:?}"
        );
        // Sent apart, they may arrive together: shifted by up to half a
        // second of jitter, Stripe's 25/s bucket still admits them all.
        let mut late = w.clone();
        for (i, t) in late.iter_mut().enumerate() {
            if i % 2 == 1 {
                *t += Duration::from_millis(450);
            }
        }
        assert!(stripe_admits_all(&late, 25), "{late:?}");
    }

    #[test]
    fn accounts_do_not_share_and_the_cap_is_shared() {
        let p = live(1_000);
        let now = Instant::now();
        waits(&p, "acct_a", "POST /transfers", 12, now);
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

        // A cap of 10 paces everything together: 10 a second, spread over
        // its quarter-second slots (2, 3, 2, 3), the 11th call in the next
        // second.
        let capped = live(10);
        let now = capped.cells.lock().unwrap().base;
        let mut w = waits(&capped, "acct_a", "POST /transfers", 5, now);
        w.extend(waits(&capped, "acct_b", "POST /transfers", 6, now));
        let ms: Vec<u128> = w.iter().map(Duration::as_millis).collect();
        assert_eq!(
            ms,
            [0, 0, 250, 250, 250, 500, 500, 750, 750, 750, 1_000],
            "{ms:?}"
        );
    }

    #[test]
    fn the_account_budget_holds_across_operations() {
        let p = live(1_000);
        let now = p.cells.lock().unwrap().base;
        // Two operations' bursts of 12 fill the account's first quarter
        // second (96/s: 24 a slot); a third operation's call waits for the
        // next slot, though its own bucket is full.
        for op in ["GET /a", "GET /b"] {
            assert!(
                waits(&p, "acct_a", op, 12, now)
                    .iter()
                    .all(Duration::is_zero)
            );
        }
        assert_eq!(
            p.reserve(Some("acct_a"), "GET /c", now),
            Duration::from_millis(250)
        );
        // Reservations ahead of time by one operation do not hold another
        // back: 60 transfers reserved over 2 s leave room for a balance
        // read now.
        let q = live(1_000);
        let now = q.cells.lock().unwrap().base;
        waits(&q, "acct_a", "POST /transfers", 60, now);
        assert_eq!(
            q.reserve(Some("acct_a"), "GET /balance", now),
            Duration::ZERO
        );
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
        p.throttled(Some("acct_a"), "GET", "/x", Some("global-rate"), now);
        let start = Instant::now();
        let w: Vec<Duration> = (0..64)
            .map(|_| p.reserve(Some("acct_a"), "POST /transfers", start))
            .collect();
        assert!(w[0] > Duration::ZERO, "{:?}", w[0]);
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
    fn many_merchants_at_once_are_not_held_back_by_each_others_reservations() {
        // 40 merchants, each with 64 transfers reserved at once (up to
        // 2.2 s ahead): every merchant's first 12 go now, under one cap.
        let p = live(10_000);
        let now = Instant::now();
        for m in 0..40 {
            let w = waits(&p, &format!("acct_{m}"), "POST /transfers", 64, now);
            assert!(w[..12].iter().all(Duration::is_zero), "merchant {m}: {w:?}");
            assert!(w[63] <= Duration::from_millis(2_200), "merchant {m}: {w:?}");
        }
        // One merchant's four operations together, 60 calls each, keep to
        // Stripe's 100/s account bucket and to 25/s for each operation.
        let q = live(10_000);
        let mut all = Vec::new();
        for op in [
            "POST /transfers",
            "GET /transfers/{}",
            "GET /balance",
            "POST /x",
        ] {
            let w = waits(&q, "acct_a", op, 60, now);
            assert!(stripe_admits_all(&w, 25), "{op}: {w:?}");
            all.extend(w);
        }
        assert!(stripe_admits_all(&all, 100), "{all:?}");
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
        assert!(w[..2].iter().all(Duration::is_zero), "{w:?}");
        assert_eq!(
            w[2],
            Duration::from_millis(250),
            "4 a second with a test key"
        );
        assert_eq!(w[5], Duration::from_millis(1_000));
    }

    #[test]
    fn a_429_halves_the_rate_then_it_climbs_back() {
        let p = live(1_000);
        let now = Instant::now();
        let at = |secs: u64| now + Duration::from_secs(secs);
        assert_eq!(
            p.reserve(Some("acct_a"), "POST /transfers", now),
            Duration::ZERO
        );
        p.throttled_at(
            Some("acct_a"),
            "POST",
            "/transfers",
            Some("endpoint-rate"),
            now,
            now,
        );
        assert_eq!(p.rate_at(Some("acct_a"), "POST", "/transfers", now), 12);
        // The burst is spent: the next call goes one interval (1/12 s) on.
        let w = p.reserve(Some("acct_a"), "POST /transfers", now);
        assert!(
            w >= Duration::from_millis(80) && w <= Duration::from_millis(90),
            "{w:?}"
        );
        // Other operations go on.
        assert_eq!(
            p.reserve(Some("acct_a"), "GET /balance", now),
            Duration::ZERO
        );
        // An eighth of the budget (3/s) back every second without a 429.
        assert_eq!(p.rate_at(Some("acct_a"), "POST", "/transfers", at(1)), 15);
        assert_eq!(p.rate_at(Some("acct_a"), "POST", "/transfers", at(3)), 21);
        assert_eq!(p.rate_at(Some("acct_a"), "POST", "/transfers", at(9)), 24);
        // Several 429s for calls sent together (in flight with the first):
        // the rate halves once. A 429 for a call sent after that halves it
        // again.
        let sent = at(10) - Duration::from_millis(300);
        for _ in 0..5 {
            p.throttled_at(Some("acct_a"), "POST", "/transfers", None, sent, at(10));
        }
        assert_eq!(p.rate_at(Some("acct_a"), "POST", "/transfers", at(10)), 12);
        p.throttled_at(Some("acct_a"), "POST", "/transfers", None, at(10), at(10));
        assert_eq!(p.rate_at(Some("acct_a"), "POST", "/transfers", at(10)), 6);
        // A global refusal slows the account, every operation with it:
        // 96 halved three times by calls sent after each halving (12,
        // under the operations' 24); the ones sent before change nothing.
        for (sent, now) in [(9, 10), (9, 10), (10, 10), (10, 10)] {
            p.throttled_at(
                Some("acct_a"),
                "GET",
                "/balance",
                Some("global-rate"),
                at(sent),
                at(now),
            );
        }
        assert_eq!(p.rate_at(Some("acct_a"), "GET", "/x", at(10)), 12);
        assert_eq!(
            p.rate_at(Some("acct_b"), "GET", "/x", at(10)),
            24,
            "another account is not slowed"
        );
    }
}
