//! Production defaults for the clock and id ports: the system's UTC clock
//! and random (v4) UUIDs.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::ports::{Clock, IdGenerator, Timer};

/// The system clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }
}

/// Sleeps on one timer thread shared by the process (started at the first
/// sleep), so it works under any executor: the thread keeps the waiting
/// deadlines in order and wakes each sleeper's future when its time comes.
/// The engine's waits are few (a lease renewal every few seconds of a run,
/// a run's waits for its delayed items), so one thread serves them all.
///
/// Should the thread fail to start (the process is out of threads), a sleep
/// blocks its caller for the duration instead: slower, never a busy loop.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTimer;

/// The sleepers waiting on the timer thread, earliest first.
#[derive(Default)]
struct Sleepers {
    due: std::collections::BinaryHeap<std::cmp::Reverse<(std::time::Instant, u64)>>,
    wake: std::collections::HashMap<u64, futures_channel::oneshot::Sender<()>>,
    next: u64,
}

struct TimerThread {
    sleepers: std::sync::Mutex<Sleepers>,
    changed: std::sync::Condvar,
}

impl TimerThread {
    /// The process's timer thread, started on first use; `None` when it
    /// cannot be started.
    fn get() -> Option<&'static TimerThread> {
        static THREAD: std::sync::OnceLock<Option<&'static TimerThread>> =
            std::sync::OnceLock::new();
        *THREAD.get_or_init(|| {
            let timer: &'static TimerThread = Box::leak(Box::new(TimerThread {
                sleepers: std::sync::Mutex::new(Sleepers::default()),
                changed: std::sync::Condvar::new(),
            }));
            std::thread::Builder::new()
                .name("payouts-timer".to_owned())
                .spawn(move || timer.run())
                .ok()
                .map(|_| timer)
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Sleepers> {
        self.sleepers
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn add(&self, at: std::time::Instant, done: futures_channel::oneshot::Sender<()>) {
        let mut sleepers = self.lock();
        let id = sleepers.next;
        sleepers.next = id.wrapping_add(1);
        sleepers.due.push(std::cmp::Reverse((at, id)));
        sleepers.wake.insert(id, done);
        drop(sleepers);
        self.changed.notify_one();
    }

    /// Wakes each sleeper when it is due, waiting in between.
    fn run(&self) {
        let mut sleepers = self.lock();
        loop {
            let now = std::time::Instant::now();
            while let Some(std::cmp::Reverse((at, id))) = sleepers.due.peek().copied() {
                if at > now {
                    break;
                }
                sleepers.due.pop();
                if let Some(done) = sleepers.wake.remove(&id) {
                    // The waiter may be gone (its run ended): nothing to wake.
                    let _gone = done.send(());
                }
            }
            sleepers = match sleepers.due.peek() {
                Some(std::cmp::Reverse((at, _))) => {
                    let ahead = at.saturating_duration_since(now);
                    self.changed
                        .wait_timeout(sleepers, ahead)
                        .map(|(guard, _)| guard)
                        .unwrap_or_else(|e| e.into_inner().0)
                }
                None => self
                    .changed
                    .wait(sleepers)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
            };
        }
    }
}

impl Timer for SystemTimer {
    fn sleep(&self, duration: std::time::Duration) -> futures_util::future::BoxFuture<'static, ()> {
        let Some(timer) = TimerThread::get() else {
            std::thread::sleep(duration);
            return Box::pin(std::future::ready(()));
        };
        let (done, wait) = futures_channel::oneshot::channel::<()>();
        let now = std::time::Instant::now();
        let at = now
            .checked_add(duration)
            // Beyond the clock's range: a year is as good as never.
            .or_else(|| now.checked_add(std::time::Duration::from_secs(31_536_000)))
            .unwrap_or(now);
        timer.add(at, done);
        Box::pin(async move {
            // The sender is dropped only after it sent.
            let _woken = wait.await;
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleepers_wake_in_order_of_their_deadlines_not_of_their_calls() {
        let timer = SystemTimer;
        let start = std::time::Instant::now();
        let order = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sleeps: Vec<_> = [120_u64, 20, 60]
            .into_iter()
            .map(|ms| {
                let order = std::sync::Arc::clone(&order);
                let sleep = timer.sleep(std::time::Duration::from_millis(ms));
                async move {
                    sleep.await;
                    order.lock().unwrap().push((ms, start.elapsed()));
                }
            })
            .collect();
        futures::executor::block_on(futures_util::future::join_all(sleeps));
        let order = order.lock().unwrap();
        let ms: Vec<u64> = order.iter().map(|(ms, _)| *ms).collect();
        assert_eq!(ms, vec![20, 60, 120]);
        for (ms, elapsed) in order.iter() {
            assert!(
                *elapsed >= std::time::Duration::from_millis(*ms),
                "{ms} ms woke after {elapsed:?}"
            );
        }
    }

    #[test]
    fn a_dropped_sleep_does_not_hold_the_others_back() {
        let timer = SystemTimer;
        drop(timer.sleep(std::time::Duration::from_millis(5)));
        let start = std::time::Instant::now();
        futures::executor::block_on(timer.sleep(std::time::Duration::from_millis(30)));
        assert!(start.elapsed() >= std::time::Duration::from_millis(30));
        assert!(start.elapsed() < std::time::Duration::from_secs(5));
    }
}

/// Random v4 UUIDs from the operating system's generator; unpredictable,
/// so they are also fit for OAuth `state` tokens.
#[derive(Debug, Clone, Copy, Default)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn next_uuid(&self) -> Uuid {
        Uuid::new_v4()
    }
}
