//! Stripe's documented rate limiter (docs.stripe.com/rate-limits, and
//! Stripe's support article "rate_limit error when creating bulk API
//! requests"), so that the sandbox is never kinder than Stripe:
//!
//! - limits are counted **per account**: the `Stripe-Account` header's, or
//!   the platform's;
//! - a **global** budget per account: 100 requests/s in live mode, 25/s in
//!   test mode (sandboxes);
//! - each **operation** (method plus path template: `POST /v1/transfers`
//!   and `GET /v1/transfers/{transfer}` are two) has its own budget, 25/s
//!   unless noted, which counts against the global one too. Noted: the
//!   Search API (20 reads/s), the Files API (20/s), `POST /v1/payouts`
//!   (15/s);
//! - creating accounts too quickly answers **400**, not 429: "less than 5
//!   creation attempts per second with a test key, or less than 30 with a
//!   live key" (stripe/stripe-node#2223);
//! - an optional **concurrency** limit of requests in flight per account;
//! - **`lock_timeout`**: a write to an object while another write to the
//!   same object is in flight answers 429 `lock_timeout`.
//!
//! A refused request answers Stripe's body (`code: rate_limit` or
//! `lock_timeout`) and `Stripe-Rate-Limited-Reason` (`global-rate`,
//! `endpoint-rate`, `global-concurrency`, `resource-specific`).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::control::RateBucket;

/// Which of Stripe's budgets the sandbox applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitMode {
    /// Live mode: 100/s global, 25/s per operation, 30 account creations/s.
    Live,
    /// Test mode (sandboxes): 25/s global, 25/s per operation, 5 account creations/s.
    Test,
    /// No model (the single `/_sandbox/rate_limit` bucket still applies).
    #[default]
    Off,
}

impl RateLimitMode {
    /// Parses `live`, `test` or `off`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "live" => Some(Self::Live),
            "test" => Some(Self::Test),
            "off" => Some(Self::Off),
            _ => None,
        }
    }
}

/// One operation with a budget other than the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationLimit {
    /// `GET`, `POST` or `DELETE`; any method when absent.
    #[serde(default)]
    pub method: Option<String>,
    /// A path template (`/v1/payouts`) or, ending in `*`, a prefix
    /// (`/v1/files*`); `/search` at the end matches every Search API.
    pub path: String,
    /// Requests per second.
    pub per_second: u32,
}

impl OperationLimit {
    fn matches(&self, method: &str, template: &str) -> bool {
        let method_ok = self
            .method
            .as_deref()
            .is_none_or(|m| m.eq_ignore_ascii_case(method));
        let path_ok = if self.path == "*/search" {
            template.ends_with("/search")
        } else if let Some(prefix) = self.path.strip_suffix('*') {
            template.starts_with(prefix)
        } else {
            self.path == template
        };
        method_ok && path_ok
    }
}

/// The limiter's settings; the control API takes and shows this.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LimiterModel {
    /// The mode these budgets come from.
    pub mode: RateLimitMode,
    /// Requests per second per account, all operations together.
    pub global_per_second: u32,
    /// Requests per second per account and operation, unless noted.
    pub operation_per_second: u32,
    /// The noted operations.
    #[serde(default)]
    pub exceptions: Vec<OperationLimit>,
    /// `POST /v1/accounts` attempts per second (more answer 400).
    pub account_creations_per_second: u32,
    /// Requests in flight per account; none when absent.
    #[serde(default)]
    pub concurrency: Option<u32>,
    /// Whether concurrent writes to one object answer 429 `lock_timeout`.
    #[serde(default = "yes")]
    pub lock_timeout: bool,
}

fn yes() -> bool {
    true
}

impl LimiterModel {
    /// Stripe's published budgets for `mode` (`None` for `off`).
    pub fn for_mode(mode: RateLimitMode) -> Option<Self> {
        let (global, creations) = match mode {
            RateLimitMode::Live => (100, 30),
            RateLimitMode::Test => (25, 5),
            RateLimitMode::Off => return None,
        };
        Some(LimiterModel {
            mode,
            global_per_second: global,
            operation_per_second: 25,
            exceptions: vec![
                OperationLimit {
                    method: Some("GET".to_owned()),
                    path: "*/search".to_owned(),
                    per_second: 20,
                },
                OperationLimit {
                    method: None,
                    path: "/v1/files*".to_owned(),
                    per_second: 20,
                },
                OperationLimit {
                    method: Some("POST".to_owned()),
                    path: "/v1/payouts".to_owned(),
                    per_second: 15,
                },
            ],
            account_creations_per_second: creations,
            concurrency: None,
            lock_timeout: true,
        })
    }

    fn operation_budget(&self, method: &str, template: &str) -> u32 {
        self.exceptions
            .iter()
            .find(|e| e.matches(method, template))
            .map_or(self.operation_per_second, |e| e.per_second)
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The account's global budget is spent.
    GlobalRate,
    /// The operation's budget is spent.
    EndpointRate,
    /// Too many requests of the account in flight.
    Concurrency,
    /// Another write to the same object is in flight.
    LockTimeout,
    /// Accounts are being created too quickly (400).
    AccountCreation,
}

impl Refusal {
    /// `Stripe-Rate-Limited-Reason`.
    pub(crate) fn reason(self) -> &'static str {
        match self {
            Refusal::GlobalRate => "global-rate",
            Refusal::EndpointRate => "endpoint-rate",
            Refusal::Concurrency => "global-concurrency",
            Refusal::LockTimeout | Refusal::AccountCreation => "resource-specific",
        }
    }
}

/// One account's buckets.
#[derive(Debug)]
struct AccountBudget {
    global: RateBucket,
    operations: HashMap<String, RateBucket>,
    creations: RateBucket,
    in_flight: u32,
}

/// The limiter's state: buckets per account and operation, requests in
/// flight, and the objects being written.
#[derive(Debug)]
pub(crate) struct Limiter {
    pub(crate) model: LimiterModel,
    accounts: HashMap<String, AccountBudget>,
    locked: HashSet<String>,
}

/// What admitting a request holds until it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Admission {
    pub(crate) account: String,
    pub(crate) lock: Option<String>,
}

impl Limiter {
    pub(crate) fn new(model: LimiterModel) -> Self {
        Limiter {
            model,
            accounts: HashMap::new(),
            locked: HashSet::new(),
        }
    }

    /// Admits one request of `account` to `method template` (on `object`,
    /// for a write to an existing object), or says why not. Nothing is
    /// taken from any budget when the request is refused.
    pub(crate) fn admit(
        &mut self,
        account: &str,
        method: &str,
        template: &str,
        object: Option<&str>,
        now: Instant,
    ) -> Result<Admission, Refusal> {
        let model = &self.model;
        let op_budget = model.operation_budget(method, template);
        let budget = self
            .accounts
            .entry(account.to_owned())
            .or_insert_with(|| AccountBudget {
                global: RateBucket::new(model.global_per_second, now),
                operations: HashMap::new(),
                creations: RateBucket::new(model.account_creations_per_second, now),
                in_flight: 0,
            });
        let key = format!("{method} {template}");
        let op = budget
            .operations
            .entry(key)
            .or_insert_with(|| RateBucket::new(op_budget, now));
        let creating = method == "POST" && template == "/v1/accounts";
        if let Some(limit) = model.concurrency
            && budget.in_flight >= limit
        {
            return Err(Refusal::Concurrency);
        }
        if !budget.global.would_admit(now) {
            return Err(Refusal::GlobalRate);
        }
        if !op.would_admit(now) {
            return Err(Refusal::EndpointRate);
        }
        if creating && !budget.creations.would_admit(now) {
            return Err(Refusal::AccountCreation);
        }
        let lock = match object {
            Some(o) if model.lock_timeout && method != "GET" => {
                let lock = format!("{account}:{o}");
                if self.locked.contains(&lock) {
                    return Err(Refusal::LockTimeout);
                }
                Some(lock)
            }
            _ => None,
        };
        budget.global.admit(now);
        op.admit(now);
        if creating {
            budget.creations.admit(now);
        }
        budget.in_flight = budget.in_flight.saturating_add(1);
        if let Some(l) = &lock {
            self.locked.insert(l.clone());
        }
        Ok(Admission {
            account: account.to_owned(),
            lock,
        })
    }

    /// The request that `admission` let in has ended.
    pub(crate) fn release(&mut self, admission: &Admission) {
        if let Some(b) = self.accounts.get_mut(&admission.account) {
            b.in_flight = b.in_flight.saturating_sub(1);
        }
        if let Some(l) = &admission.lock {
            self.locked.remove(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn live() -> Limiter {
        Limiter::new(LimiterModel::for_mode(RateLimitMode::Live).unwrap())
    }

    #[test]
    fn each_operation_has_25_per_second_and_all_share_100_per_account() {
        let mut l = live();
        let t = Instant::now();
        let mut admitted = 0;
        for _ in 0..40 {
            if l.admit("acct_a", "POST", "/v1/transfers", None, t).is_ok() {
                admitted += 1;
            }
        }
        assert_eq!(admitted, 25, "one operation: 25 per second");
        assert_eq!(
            l.admit("acct_a", "POST", "/v1/transfers", None, t),
            Err(Refusal::EndpointRate)
        );
        // Another operation has its own 25; another account its own budget.
        assert!(
            l.admit("acct_a", "GET", "/v1/transfers/{transfer}", None, t)
                .is_ok()
        );
        assert!(l.admit("acct_b", "POST", "/v1/transfers", None, t).is_ok());
        // Four operations of 25 fill the account's 100; the fifth is refused globally.
        let ops = ["/v1/a", "/v1/b", "/v1/c"];
        for op in ops {
            for _ in 0..25 {
                let _ = l.admit("acct_a", "GET", op, None, t);
            }
        }
        assert_eq!(
            l.admit("acct_a", "GET", "/v1/d", None, t),
            Err(Refusal::GlobalRate)
        );
        // A second later the buckets have refilled.
        let later = t + Duration::from_secs(1);
        assert!(
            l.admit("acct_a", "POST", "/v1/transfers", None, later)
                .is_ok()
        );
    }

    #[test]
    fn noted_operations_and_test_mode_and_account_creation() {
        let mut l = live();
        let t = Instant::now();
        let n = (0..30)
            .filter(|_| l.admit("p", "POST", "/v1/payouts", None, t).is_ok())
            .count();
        assert_eq!(n, 15, "POST /v1/payouts: 15/s");
        let n = (0..30)
            .filter(|_| l.admit("p", "GET", "/v1/customers/search", None, t).is_ok())
            .count();
        assert_eq!(n, 20, "search: 20/s");
        let mut test = Limiter::new(LimiterModel::for_mode(RateLimitMode::Test).unwrap());
        let outcomes: Vec<_> = (0..8)
            .map(|_| test.admit("p", "POST", "/v1/accounts", None, t))
            .collect();
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 5);
        assert_eq!(outcomes[5], Err(Refusal::AccountCreation));
        let n = (0..40)
            .filter(|_| test.admit("q", "GET", "/v1/balance", None, t).is_ok())
            .count();
        assert_eq!(n, 25, "test mode: 25/s in all");
        assert!(LimiterModel::for_mode(RateLimitMode::Off).is_none());
    }

    #[test]
    fn concurrent_writes_to_one_object_and_concurrency() {
        let mut l = live();
        let t = Instant::now();
        let first = l
            .admit("a", "POST", "/v1/transfers/{id}/reversals", Some("tr_1"), t)
            .unwrap();
        assert_eq!(
            l.admit("a", "POST", "/v1/transfers/{id}/reversals", Some("tr_1"), t),
            Err(Refusal::LockTimeout)
        );
        assert!(
            l.admit("a", "POST", "/v1/transfers/{id}/reversals", Some("tr_2"), t)
                .is_ok()
        );
        assert!(
            l.admit("a", "GET", "/v1/transfers/{transfer}", Some("tr_1"), t)
                .is_ok()
        );
        l.release(&first);
        assert!(
            l.admit("a", "POST", "/v1/transfers/{id}/reversals", Some("tr_1"), t)
                .is_ok()
        );

        let mut model = LimiterModel::for_mode(RateLimitMode::Live).unwrap();
        model.concurrency = Some(2);
        let mut c = Limiter::new(model);
        let one = c.admit("a", "GET", "/v1/x", None, t).unwrap();
        let _two = c.admit("a", "GET", "/v1/x", None, t).unwrap();
        assert_eq!(
            c.admit("a", "GET", "/v1/x", None, t),
            Err(Refusal::Concurrency)
        );
        c.release(&one);
        assert!(c.admit("a", "GET", "/v1/x", None, t).is_ok());
    }
}
