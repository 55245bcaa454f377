//! Prometheus metrics in the text exposition format, with no metrics crate:
//! HTTP requests by route and status, request latency histograms, Stripe
//! calls by outcome (from the adapter's counters) and payout items by state
//! (read from the store at scrape time).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use payouts_domain::ports::StateTotal;

/// Latency histogram bucket bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bound, count) in BUCKETS.iter().zip(self.counts.iter_mut()) {
            if seconds <= *bound {
                *count = count.saturating_add(1);
            }
        }
        self.count = self.count.saturating_add(1);
        self.sum_seconds += seconds;
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// (method, route, status) → count.
    requests: BTreeMap<(String, String, u16), u64>,
    /// (method, route) → latency.
    latency: BTreeMap<(String, String), Histogram>,
}

/// The service's metrics registry.
#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    /// Records one HTTP request. `route` is the matched pattern (for
    /// example `/api/v1/batches/{batch_id}`), never the raw path, so ids do
    /// not explode the label space.
    pub fn observe_request(&self, method: &str, route: &str, status: u16, elapsed: Duration) {
        let mut inner = match self.inner.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        let counter = inner
            .requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_insert(0);
        *counter = counter.saturating_add(1);
        inner
            .latency
            .entry((method.to_owned(), route.to_owned()))
            .or_default()
            .observe(elapsed.as_secs_f64());
    }

    /// Renders the HTTP metrics, then the given Stripe outcome counts and
    /// item counts (one row per state and currency, as the store gives them).
    pub fn render(&self, stripe_calls: &[(&str, u64)], items: &[StateTotal]) -> String {
        let (requests, latency) = {
            let inner = match self.inner.lock() {
                Ok(guard) => guard,
                Err(poisoned) => poisoned.into_inner(),
            };
            (inner.requests.clone(), inner.latency.clone())
        };
        let mut out = String::new();
        out.push_str(
            "# HELP payouts_http_requests_total HTTP requests by method, route and status.\n",
        );
        out.push_str("# TYPE payouts_http_requests_total counter\n");
        for ((method, route, status), count) in &requests {
            let _ = writeln!(
                out,
                "payouts_http_requests_total{{method=\"{}\",route=\"{}\",status=\"{status}\"}} {count}",
                escape(method),
                escape(route)
            );
        }
        out.push_str(
            "# HELP payouts_http_request_duration_seconds HTTP request latency by method and route.\n",
        );
        out.push_str("# TYPE payouts_http_request_duration_seconds histogram\n");
        for ((method, route), h) in &latency {
            let labels = format!("method=\"{}\",route=\"{}\"", escape(method), escape(route));
            for (bound, count) in BUCKETS.iter().zip(h.counts.iter()) {
                let _ = writeln!(
                    out,
                    "payouts_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "payouts_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "payouts_http_request_duration_seconds_sum{{{labels}}} {}",
                h.sum_seconds
            );
            let _ = writeln!(
                out,
                "payouts_http_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP payouts_stripe_calls_total Stripe HTTP attempts by outcome, retries included.\n");
        out.push_str("# TYPE payouts_stripe_calls_total counter\n");
        for (outcome, count) in stripe_calls {
            let _ = writeln!(
                out,
                "payouts_stripe_calls_total{{outcome=\"{}\"}} {count}",
                escape(outcome)
            );
        }
        out.push_str(
            "# HELP payouts_batch_items Payout items by state and currency, across every batch.\n",
        );
        out.push_str("# TYPE payouts_batch_items gauge\n");
        for t in items {
            let _ = writeln!(
                out,
                "payouts_batch_items{{state=\"{}\",currency=\"{}\"}} {}",
                escape(&t.state),
                escape(t.amount.currency().code()),
                t.count
            );
        }
        out
    }
}

/// Escapes a label value (backslash, quote, newline).
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_cumulative_buckets() {
        let m = Metrics::default();
        m.observe_request("GET", "/healthz", 200, Duration::from_micros(500));
        m.observe_request("GET", "/healthz", 200, Duration::from_millis(30));
        m.observe_request("POST", "/x/{id}", 404, Duration::from_millis(2));
        let total = |count, minor, currency| StateTotal {
            state: "posted".to_owned(),
            count,
            amount: payouts_domain::money::Money::new(minor, currency),
            reversed: payouts_domain::money::Money::zero(currency),
        };
        let totals = [
            total(7, 700, payouts_domain::money::Currency::USD),
            total(2, 200, payouts_domain::money::Currency::EUR),
        ];
        let text = m.render(&[("ok", 3), ("rate_limited", 1)], &totals);
        assert!(text.contains(
            "payouts_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 2"
        ));
        assert!(text.contains(
            "payouts_http_requests_total{method=\"POST\",route=\"/x/{id}\",status=\"404\"} 1"
        ));
        assert!(text.contains(
            "payouts_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.001\"} 1"
        ));
        assert!(text.contains(
            "payouts_http_request_duration_seconds_bucket{method=\"GET\",route=\"/healthz\",le=\"0.05\"} 2"
        ));
        assert!(text.contains(
            "payouts_http_request_duration_seconds_count{method=\"GET\",route=\"/healthz\"} 2"
        ));
        assert!(text.contains("payouts_stripe_calls_total{outcome=\"rate_limited\"} 1"));
        // One series per state and currency: never two series with the same labels.
        assert!(text.contains("payouts_batch_items{state=\"posted\",currency=\"USD\"} 7"));
        assert!(text.contains("payouts_batch_items{state=\"posted\",currency=\"EUR\"} 2"));
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
    }
}
