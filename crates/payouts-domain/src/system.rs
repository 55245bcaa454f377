//! Production defaults for the clock and id ports: the system's UTC clock
//! and random (v4) UUIDs.

use time::OffsetDateTime;
use uuid::Uuid;

use crate::ports::{Clock, IdGenerator};

/// The system clock, in UTC.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
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
