//! What a person reads: money with its currency's exponent, dates in words.

use payouts_domain::money::Money;
use time::OffsetDateTime;

/// `USD 350.00`, `JPY 1200`, `KWD 1.250`.
pub fn money(m: &Money) -> String {
    format!("{} {}", m.currency().code(), major(m))
}

/// The amount alone in major units, as a form field holds it: `350.00`.
pub fn major(m: &Money) -> String {
    let exponent = m.currency().exponent();
    let minor = m.amount_minor();
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10_u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = usize::try_from(exponent).unwrap_or(2)
    )
}

/// `1 December 2026, 16:23 UTC`.
pub fn date_time(at: OffsetDateTime) -> String {
    format!(
        "{} {} {}, {:02}:{:02} UTC",
        at.day(),
        at.month(),
        at.year(),
        at.hour(),
        at.minute()
    )
}

/// `1 December 2026`.
pub fn date(at: OffsetDateTime) -> String {
    format!("{} {} {}", at.day(), at.month(), at.year())
}

#[cfg(test)]
mod tests {
    use super::*;
    use payouts_domain::money::Currency;
    use time::macros::datetime;

    #[test]
    fn money_uses_the_currencys_exponent() {
        assert_eq!(money(&Money::new(35_000, Currency::USD)), "USD 350.00");
        assert_eq!(money(&Money::new(-5, Currency::USD)), "USD -0.05");
        assert_eq!(
            money(&Money::new(1_200, Currency::parse("JPY").unwrap())),
            "JPY 1200"
        );
        assert_eq!(
            money(&Money::new(1_250, Currency::parse("KWD").unwrap())),
            "KWD 1.250"
        );
    }

    #[test]
    fn dates_read_as_words() {
        assert_eq!(
            date_time(datetime!(2026-12-01 16:23 UTC)),
            "1 December 2026, 16:23 UTC"
        );
    }
}
