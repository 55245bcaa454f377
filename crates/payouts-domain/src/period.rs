//! Monthly payout periods (UTC calendar months).

use std::fmt;

use serde::{Deserialize, Serialize};
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};

use crate::ids::IdError;

/// A UTC calendar month, written `YYYY-MM`. Commissions belong to the period
/// in which they were earned; batches are built per period.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Period {
    year: i32,
    month: u8,
}

impl Period {
    /// The period `year-month`.
    ///
    /// # Errors
    /// [`IdError`] when the month is not 1..=12 or the year is outside 1970..=9999.
    pub fn new(year: i32, month: u8) -> Result<Self, IdError> {
        if !(1..=12).contains(&month) || !(1970..=9999).contains(&year) {
            return Err(IdError {
                kind: "period",
                reason: format!("{year:04}-{month:02} is not a valid month"),
            });
        }
        Ok(Period { year, month })
    }

    /// Parses `YYYY-MM`.
    ///
    /// # Errors
    /// [`IdError`] when the text is not a valid month.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = || IdError {
            kind: "period",
            reason: format!("{text:?} is not YYYY-MM"),
        };
        let (year, month) = text.split_once('-').ok_or_else(bad)?;
        if year.len() != 4 || month.len() != 2 {
            return Err(bad());
        }
        let year: i32 = year.parse().map_err(|_| bad())?;
        let month: u8 = month.parse().map_err(|_| bad())?;
        Period::new(year, month)
    }

    /// The period that contains `at`, in UTC.
    pub fn containing(at: OffsetDateTime) -> Self {
        let utc = at.to_offset(UtcOffset::UTC);
        Period {
            year: utc.year(),
            month: u8::from(utc.month()),
        }
    }

    /// The year.
    pub const fn year(&self) -> i32 {
        self.year
    }

    /// The month, 1..=12.
    pub const fn month(&self) -> u8 {
        self.month
    }

    /// The first instant of the period (UTC midnight on the 1st).
    pub fn start(&self) -> OffsetDateTime {
        first_of(self.year, self.month)
    }

    /// The first instant after the period.
    pub fn end(&self) -> OffsetDateTime {
        self.next().start()
    }

    /// The following month.
    pub fn next(&self) -> Period {
        if self.month == 12 {
            Period {
                year: self.year.saturating_add(1),
                month: 1,
            }
        } else {
            Period {
                year: self.year,
                month: self.month.saturating_add(1),
            }
        }
    }

    /// The preceding month.
    pub fn previous(&self) -> Period {
        if self.month == 1 {
            Period {
                year: self.year.saturating_sub(1),
                month: 12,
            }
        } else {
            Period {
                year: self.year,
                month: self.month.saturating_sub(1),
            }
        }
    }
}

fn first_of(year: i32, month: u8) -> OffsetDateTime {
    let month = Month::try_from(month).unwrap_or(Month::January);
    let date = Date::from_calendar_date(year, month, 1).unwrap_or(Date::MIN);
    PrimitiveDateTime::new(date, Time::MIDNIGHT).assume_utc()
}

/// Adds `months` calendar months to `at`, clamping the day to the end of
/// the target month (Jan 31 + 1 month = Feb 28/29).
pub fn add_months(at: OffsetDateTime, months: u32) -> OffsetDateTime {
    let total = i64::from(at.year())
        .saturating_mul(12)
        .saturating_add(i64::from(u8::from(at.month())).saturating_sub(1))
        .saturating_add(i64::from(months));
    let year = i32::try_from(total.div_euclid(12)).unwrap_or(i32::MAX);
    let month_index = u8::try_from(total.rem_euclid(12)).unwrap_or(0);
    let month = Month::try_from(month_index.saturating_add(1)).unwrap_or(Month::January);
    let last_day = time::util::days_in_month(month, year);
    let day = at.day().min(last_day);
    match Date::from_calendar_date(year, month, day) {
        Ok(date) => at.replace_date(date),
        Err(_) => at,
    }
}

impl fmt::Display for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl fmt::Debug for Period {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Period({self})")
    }
}

impl TryFrom<String> for Period {
    type Error = IdError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Period::parse(&value)
    }
}

impl From<Period> for String {
    fn from(value: Period) -> Self {
        value.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn periods_are_utc_months() {
        let p = Period::containing(datetime!(2026-01-31 23:30 -02:00));
        assert_eq!(p.to_string(), "2026-02");
        assert_eq!(
            Period::parse("2026-12").unwrap().next().to_string(),
            "2027-01"
        );
        assert_eq!(
            Period::parse("2026-01").unwrap().previous().to_string(),
            "2025-12"
        );
        assert_eq!(
            Period::parse("2026-02").unwrap().start(),
            datetime!(2026-02-01 0:00 UTC)
        );
        assert_eq!(
            Period::parse("2026-02").unwrap().end(),
            datetime!(2026-03-01 0:00 UTC)
        );
        assert!(Period::parse("2026-13").is_err());
        assert!(Period::parse("26-01").is_err());
    }

    #[test]
    fn add_months_clamps_the_day() {
        assert_eq!(
            add_months(datetime!(2026-01-31 10:00 UTC), 1),
            datetime!(2026-02-28 10:00 UTC)
        );
        assert_eq!(
            add_months(datetime!(2026-11-15 10:00 UTC), 3),
            datetime!(2027-02-15 10:00 UTC)
        );
    }
}
