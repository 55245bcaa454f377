//! A client-side token bucket shared by every call of a gateway, so that a
//! large batch paces itself under Stripe's per-second limit instead of
//! collecting 429s.
//!
//! It is the "generic cell rate algorithm" form of a token bucket: each
//! caller reserves the next free slot under a short lock and then sleeps
//! until it, so callers are served in arrival order and nobody spins.

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

/// Paces calls to `ops_per_second`, allowing a burst of the same size.
#[derive(Debug)]
pub struct RateLimiter {
    /// Time between two slots.
    interval: Duration,
    /// How far ahead of the schedule a burst may run.
    burst_window: Duration,
    /// The theoretical arrival time of the next call.
    next: Mutex<Option<Instant>>,
}

impl RateLimiter {
    /// A limiter of `ops_per_second` (at least 1) with a burst of the same size.
    pub fn new(ops_per_second: u32) -> Self {
        let ops = ops_per_second.max(1);
        let interval = Duration::from_secs(1) / ops;
        RateLimiter {
            interval,
            burst_window: interval.saturating_mul(ops.saturating_sub(1)),
            next: Mutex::new(None),
        }
    }

    /// Waits for a slot.
    pub async fn acquire(&self) {
        let wait = self.reserve(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// Reserves the next slot at `now`; returns how long to wait for it.
    fn reserve(&self, now: Instant) -> Duration {
        let mut next = self.next.lock().unwrap_or_else(PoisonError::into_inner);
        let tat = next.map_or(now, |t| t.max(now));
        *next = Some(tat + self.interval);
        tat.checked_sub(self.burst_window)
            .map_or(Duration::ZERO, |allowed| {
                allowed.saturating_duration_since(now)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_slot_per_interval() {
        let limiter = RateLimiter::new(4);
        let now = Instant::now();
        let waits: Vec<Duration> = (0..7).map(|_| limiter.reserve(now)).collect();
        assert_eq!(&waits[..4], &[Duration::ZERO; 4]);
        assert_eq!(waits[4], Duration::from_millis(250));
        assert_eq!(waits[5], Duration::from_millis(500));
        assert_eq!(waits[6], Duration::from_millis(750));
    }

    #[test]
    fn idle_time_refills_the_bucket() {
        let limiter = RateLimiter::new(2);
        let start = Instant::now();
        for _ in 0..5 {
            limiter.reserve(start);
        }
        let later = start + Duration::from_secs(10);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert_eq!(limiter.reserve(later), Duration::ZERO);
        assert_eq!(limiter.reserve(later), Duration::from_millis(500));
    }

    #[tokio::test]
    async fn acquire_paces_real_calls() {
        let limiter = RateLimiter::new(20);
        let start = Instant::now();
        for _ in 0..30 {
            limiter.acquire().await;
        }
        // 20 at once, then 10 more at 50 ms each.
        assert!(
            start.elapsed() >= Duration::from_millis(450),
            "{:?}",
            start.elapsed()
        );
    }
}
