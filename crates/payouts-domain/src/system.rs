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

/// Sleeps on a thread of its own, so it works under any executor (the
/// engine's waits are few: a lease renewal every few seconds of a run, and
/// a run's waits for its delayed items).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemTimer;

impl Timer for SystemTimer {
    fn sleep(&self, duration: std::time::Duration) -> futures_util::future::BoxFuture<'static, ()> {
        let (done, wait) = futures_channel::oneshot::channel::<()>();
        let spawned = std::thread::Builder::new()
            .name("payouts-timer".to_owned())
            .spawn(move || {
                std::thread::sleep(duration);
                // The waiter may be gone (its run ended): nothing to wake.
                let _gone = done.send(());
            });
        Box::pin(async move {
            if spawned.is_ok() {
                // Cancelled only when the sender is dropped, which the
                // thread does after sending.
                let _woken = wait.await;
            }
        })
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
