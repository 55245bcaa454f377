//! Reading what a person typed: amounts in major units (`12.50`) in their
//! currency's exponent, percentages, periods and small integers. Each
//! refusal names the field in words; the rules behind the values (ranges,
//! currencies) stay in the domain, which checks them again.

use std::str::FromStr;

use payouts_domain::money::{Currency, Money, Percent};
use payouts_domain::period::Period;
use rust_decimal::Decimal;

use crate::error::ConsoleError;

/// Stripe's largest amount: 8 digits of minor units.
pub const MAX_MINOR: i64 = 99_999_999;

fn invalid(label: &str, why: &str) -> ConsoleError {
    ConsoleError::Invalid(format!("{label}: {why}"))
}

/// `12.50` in USD is 1250 minor units; `1200` in JPY is 1200. Refuses
/// signs, more decimals than the currency has, and more than 8 digits of
/// minor units.
///
/// # Errors
/// [`ConsoleError::Invalid`] naming `label`.
pub fn amount(label: &str, text: &str, currency: Currency) -> Result<Money, ConsoleError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(invalid(label, "enter an amount"));
    }
    // Commas only as thousands separators (`1,250.00`), never as a decimal
    // point (`12,50` is refused, not read as 1,250).
    let text = match text.split_once('.') {
        _ if !text.contains(',') => text.to_owned(),
        Some((whole, frac)) if grouped(whole) && !frac.contains(',') => {
            format!("{}.{frac}", whole.replace(',', ""))
        }
        None if grouped(text) => text.replace(',', ""),
        _ => {
            return Err(invalid(
                label,
                "write the amount like 1250.00 (a comma only between thousands)",
            ));
        }
    };
    let (whole, frac) = text.split_once('.').unwrap_or((&text, ""));
    let exponent = usize::try_from(currency.exponent()).unwrap_or(2);
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !digits(whole) || !digits(frac) {
        return Err(invalid(
            label,
            "write the amount in digits, like 12.50, without a sign",
        ));
    }
    if frac.len() > exponent {
        return Err(invalid(
            label,
            &format!(
                "{} has {exponent} decimal places",
                currency.code().to_uppercase()
            ),
        ));
    }
    let padded = format!("{whole}{frac:0<exponent$}");
    let minor = padded
        .parse::<i64>()
        .ok()
        .filter(|m| *m <= MAX_MINOR)
        .ok_or_else(|| invalid(label, "is larger than Stripe allows"))?;
    Ok(Money::new(minor, currency))
}

/// `1,250` or `12,345,678`: digits in groups of three after the first.
fn grouped(whole: &str) -> bool {
    let mut groups = whole.split(',');
    let first = groups.next().unwrap_or("");
    (1..=3).contains(&first.len())
        && first.bytes().all(|b| b.is_ascii_digit())
        && groups.all(|g| g.len() == 3 && g.bytes().all(|b| b.is_ascii_digit()))
}

/// A percentage such as `20` or `12.5`.
///
/// # Errors
/// [`ConsoleError::Invalid`] naming `label`.
pub fn percent(label: &str, text: &str) -> Result<Percent, ConsoleError> {
    let value = Decimal::from_str(text.trim())
        .map_err(|_| invalid(label, "write a number such as 20 or 12.5"))?;
    Percent::new(value).map_err(|e| invalid(label, &e.to_string()))
}

/// A month such as `2026-12`.
///
/// # Errors
/// [`ConsoleError::Invalid`] naming `label`.
pub fn period(label: &str, text: &str) -> Result<Period, ConsoleError> {
    Period::parse(text.trim()).map_err(|_| invalid(label, "write a month as YYYY-MM"))
}

/// A whole number from 0 to `max`.
///
/// # Errors
/// [`ConsoleError::Invalid`] naming `label`.
pub fn small_number(label: &str, text: &str, max: u16) -> Result<u16, ConsoleError> {
    text.trim()
        .parse::<u16>()
        .ok()
        .filter(|n| *n <= max)
        .ok_or_else(|| invalid(label, &format!("write a whole number from 0 to {max}")))
}

/// A three-letter currency code.
///
/// # Errors
/// [`ConsoleError::Invalid`] naming `label`.
pub fn currency(label: &str, text: &str) -> Result<Currency, ConsoleError> {
    Currency::parse(&text.trim().to_ascii_lowercase())
        .map_err(|_| invalid(label, "write a currency code such as usd"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd() -> Currency {
        Currency::parse("usd").unwrap()
    }

    #[test]
    fn amounts_read_in_the_currencys_exponent() {
        assert_eq!(amount("a", "12.5", usd()).unwrap().amount_minor(), 1_250);
        assert_eq!(amount("a", "1,000", usd()).unwrap().amount_minor(), 100_000);
        assert_eq!(
            amount("a", "1,250.50", usd()).unwrap().amount_minor(),
            125_050
        );
        assert!(
            amount("a", "12,50", usd()).is_err(),
            "a decimal comma is refused"
        );
        assert!(amount("a", "1,2,3", usd()).is_err());
        assert!(amount("a", "1.00,5", usd()).is_err());
        assert_eq!(amount("a", "0.01", usd()).unwrap().amount_minor(), 1);
        let jpy = Currency::parse("jpy").unwrap();
        assert_eq!(amount("a", "1200", jpy).unwrap().amount_minor(), 1_200);
        assert!(amount("a", "12.5", jpy).is_err());
        assert!(amount("a", "1.001", usd()).is_err());
        assert!(amount("a", "-1", usd()).is_err());
        assert!(amount("a", "", usd()).is_err());
        assert!(amount("a", "1e3", usd()).is_err());
        assert!(amount("a", "999999.99", usd()).is_ok());
        assert!(amount("a", "1000000.00", usd()).is_err());
        assert!(amount("a", "99999999999999999999999", usd()).is_err());
    }

    #[test]
    fn percents_periods_and_numbers() {
        assert!(percent("p", "20").is_ok());
        assert!(percent("p", "101").is_err());
        assert!(percent("p", "twenty").is_err());
        assert!(period("m", "2026-12").is_ok());
        assert!(period("m", "2026-13").is_err());
        assert_eq!(small_number("d", "30", 365).unwrap(), 30);
        assert!(small_number("d", "366", 365).is_err());
        assert!(currency("c", "USD").is_ok());
        assert!(currency("c", "dollars").is_err());
    }
}
