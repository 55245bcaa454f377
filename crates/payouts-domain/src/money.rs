//! Money: integer minor units plus an ISO 4217 currency.
//!
//! There is no `impl Add` on purpose. Every operation is checked and returns
//! a `Result`, mixing currencies is an error, and every conversion from a
//! rate to minor units names its [`Rounding`]. Floats never appear.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// Why a money operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Two amounts in different currencies were combined.
    #[error("currency mismatch: {left} and {right}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        left: Currency,
        /// The currency of the right operand.
        right: Currency,
    },
    /// The result does not fit in an `i64` of minor units.
    #[error("amount overflow")]
    Overflow,
    /// The code is not an active ISO 4217 currency.
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    /// A percentage outside `0..=100`.
    #[error("percentage must be between 0 and 100, got {0}")]
    InvalidPercent(Decimal),
    /// Allocation weights that are empty or sum to zero.
    #[error("allocation needs at least one positive weight")]
    InvalidWeights,
    /// A major-unit amount with more decimals than the currency has.
    #[error("{amount} has more decimals than {currency} allows ({exponent})")]
    TooPrecise {
        /// The amount as given.
        amount: Decimal,
        /// The currency it was given in.
        currency: Currency,
        /// The currency's number of decimals.
        exponent: u32,
    },
}

/// ISO 4217 codes with a minor-unit exponent other than 2.
///
/// Zero-decimal currencies follow Stripe's list (which also treats ISK and
/// UGX as zero-decimal); three-decimal ones follow ISO 4217.
/// Stripe's largest amount: eight digits of minor units (99,999,999, e.g.
/// $999,999.99). Amounts that reach Stripe, or that sums are built from, are
/// refused above it at the edge, so that no total of them can overflow.
pub const MAX_STRIPE_AMOUNT_MINOR: i64 = 99_999_999;

const EXPONENTS: &[(&str, u32)] = &[
    ("BIF", 0),
    ("CLP", 0),
    ("DJF", 0),
    ("GNF", 0),
    ("ISK", 0),
    ("JPY", 0),
    ("KMF", 0),
    ("KRW", 0),
    ("MGA", 0),
    ("PYG", 0),
    ("RWF", 0),
    ("UGX", 0),
    ("VND", 0),
    ("VUV", 0),
    ("XAF", 0),
    ("XOF", 0),
    ("XPF", 0),
    ("BHD", 3),
    ("IQD", 3),
    ("JOD", 3),
    ("KWD", 3),
    ("LYD", 3),
    ("OMR", 3),
    ("TND", 3),
];

/// The remaining active ISO 4217 codes, all with two decimals.
const TWO_DECIMAL: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT",
    "BGN", "BMD", "BND", "BOB", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHF",
    "CNY", "COP", "CRC", "CUP", "CVE", "CZK", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF",
    "IDR", "ILS", "INR", "IRR", "JMD", "KES", "KGS", "KHR", "KPW", "KYD", "KZT", "LAK", "LBP",
    "LKR", "LRD", "LSL", "MAD", "MDL", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR", "MWK",
    "MXN", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "QAR", "RON", "RSD", "RUB", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP",
    "SLE", "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TOP", "TRY",
    "TTD", "TWD", "TZS", "UAH", "USD", "UYU", "UZS", "VES", "WST", "XCD", "YER", "ZAR", "ZMW",
    "ZWL",
];

/// An active ISO 4217 currency. Parsing is case-insensitive; the canonical
/// form is upper case (Stripe's wire form, lower case, is an adapter concern).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

impl Currency {
    /// United States dollar.
    pub const USD: Currency = Currency(*b"USD");
    /// Euro.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Pound sterling.
    pub const GBP: Currency = Currency(*b"GBP");
    /// Japanese yen (zero-decimal).
    pub const JPY: Currency = Currency(*b"JPY");
    /// Kuwaiti dinar (three-decimal).
    pub const KWD: Currency = Currency(*b"KWD");

    /// Parses a three-letter code, in any case.
    ///
    /// # Errors
    /// [`MoneyError::UnknownCurrency`] when the code is not an active ISO 4217 code.
    pub fn parse(code: &str) -> Result<Self, MoneyError> {
        let upper = code.trim().to_ascii_uppercase();
        let known =
            EXPONENTS.iter().any(|(c, _)| *c == upper) || TWO_DECIMAL.contains(&upper.as_str());
        match <[u8; 3]>::try_from(upper.as_bytes()) {
            Ok(bytes) if known => Ok(Currency(bytes)),
            _ => Err(MoneyError::UnknownCurrency(code.to_owned())),
        }
    }

    /// The upper-case code, e.g. `"USD"`.
    pub fn code(&self) -> &str {
        // Only ever built from ASCII table entries.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// The number of decimals in one major unit (2 for USD, 0 for JPY, 3 for KWD).
    pub fn exponent(&self) -> u32 {
        EXPONENTS
            .iter()
            .find(|(c, _)| *c == self.code())
            .map_or(2, |(_, e)| *e)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::parse(s)
    }
}

impl TryFrom<String> for Currency {
    type Error = MoneyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Currency::parse(&value)
    }
}

impl From<Currency> for String {
    fn from(value: Currency) -> Self {
        value.code().to_owned()
    }
}

/// A count of a currency's smallest unit (cents for USD, yen for JPY).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct MinorUnits(pub i64);

/// How a rate conversion lands on a whole minor unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Rounding {
    /// Round half to even (banker's rounding): unbiased over many rows.
    #[default]
    HalfEven,
    /// Round half away from zero.
    HalfUp,
    /// Truncate toward zero: never pays out a fraction that was not earned.
    Down,
    /// Away from zero.
    Up,
}

impl Rounding {
    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::Down => RoundingStrategy::ToZero,
            Rounding::Up => RoundingStrategy::AwayFromZero,
        }
    }

    /// Divides `numerator / denominator` exactly, then rounds.
    /// `denominator` must be positive.
    fn divide(self, numerator: i128, denominator: i128) -> Option<i128> {
        if denominator <= 0 {
            return None;
        }
        let quotient = numerator.checked_div(denominator)?;
        let remainder = numerator.checked_rem(denominator)?;
        if remainder == 0 {
            return Some(quotient);
        }
        let away = if numerator < 0 { -1 } else { 1 };
        // Compare 2|r| with d to find which side of the midpoint we are on.
        let twice = remainder.checked_abs()?.checked_mul(2)?;
        let step = match self {
            Rounding::Down => 0,
            Rounding::Up => away,
            Rounding::HalfUp => {
                if twice >= denominator {
                    away
                } else {
                    0
                }
            }
            Rounding::HalfEven => {
                if twice > denominator || (twice == denominator && quotient % 2 != 0) {
                    away
                } else {
                    0
                }
            }
        };
        quotient.checked_add(step)
    }
}

/// A percentage between 0 and 100 inclusive, e.g. `2.9` for 2.9 %.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "Decimal", into = "Decimal")]
pub struct Percent(Decimal);

impl Percent {
    /// Zero percent.
    pub const ZERO: Percent = Percent(Decimal::ZERO);

    /// Validates a percentage.
    ///
    /// # Errors
    /// [`MoneyError::InvalidPercent`] outside `0..=100`.
    pub fn new(value: Decimal) -> Result<Self, MoneyError> {
        if value.is_sign_negative() && !value.is_zero() || value > Decimal::ONE_HUNDRED {
            return Err(MoneyError::InvalidPercent(value));
        }
        Ok(Percent(value.normalize()))
    }

    /// The percentage as written (`2.9` for 2.9 %).
    pub fn value(&self) -> Decimal {
        self.0
    }
}

impl TryFrom<Decimal> for Percent {
    type Error = MoneyError;
    fn try_from(value: Decimal) -> Result<Self, Self::Error> {
        Percent::new(value)
    }
}

impl From<Percent> for Decimal {
    fn from(value: Percent) -> Self {
        value.0
    }
}

impl fmt::Display for Percent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}%", self.0)
    }
}

/// An amount of money: integer minor units plus a currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount: MinorUnits,
    currency: Currency,
}

impl Money {
    /// An amount of `amount_minor` minor units.
    pub const fn new(amount_minor: i64, currency: Currency) -> Self {
        Money {
            amount: MinorUnits(amount_minor),
            currency,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Money::new(0, currency)
    }

    /// Converts a major-unit decimal (e.g. `10.50` USD) to minor units.
    /// An amount with more decimals than the currency has is refused rather
    /// than rounded: callers that want rounding say so with [`Money::from_major_rounded`].
    ///
    /// # Errors
    /// [`MoneyError::TooPrecise`] or [`MoneyError::Overflow`].
    pub fn from_major(amount: Decimal, currency: Currency) -> Result<Self, MoneyError> {
        let exponent = currency.exponent();
        let scaled = amount
            .checked_mul(Decimal::from(10_i64.pow(exponent)))
            .ok_or(MoneyError::Overflow)?;
        if scaled.fract() != Decimal::ZERO {
            return Err(MoneyError::TooPrecise {
                amount,
                currency,
                exponent,
            });
        }
        decimal_to_i64(scaled).map(|minor| Money::new(minor, currency))
    }

    /// Converts a major-unit decimal to minor units with the named rounding.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn from_major_rounded(
        amount: Decimal,
        currency: Currency,
        rounding: Rounding,
    ) -> Result<Self, MoneyError> {
        let scaled = amount
            .checked_mul(Decimal::from(10_i64.pow(currency.exponent())))
            .ok_or(MoneyError::Overflow)?
            .round_dp_with_strategy(0, rounding.strategy());
        decimal_to_i64(scaled).map(|minor| Money::new(minor, currency))
    }

    /// The amount in major units, exactly (`12.34` for 1234 USD cents).
    pub fn to_major(&self) -> Decimal {
        Decimal::new(self.amount.0, self.currency.exponent())
    }

    /// The amount in minor units.
    pub const fn amount_minor(&self) -> i64 {
        self.amount.0
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// True when the amount is within Stripe's eight digits of minor units
    /// ([`MAX_STRIPE_AMOUNT_MINOR`]).
    pub const fn within_stripe_max(&self) -> bool {
        self.amount.0 <= MAX_STRIPE_AMOUNT_MINOR
    }

    /// True when the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.amount.0 == 0
    }

    /// True when the amount is below zero.
    pub const fn is_negative(&self) -> bool {
        self.amount.0 < 0
    }

    /// True when the amount is above zero.
    pub const fn is_positive(&self) -> bool {
        self.amount.0 > 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    /// `self + other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_add(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let sum = self
            .amount
            .0
            .checked_add(other.amount.0)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(sum, self.currency))
    }

    /// `self - other`.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn checked_sub(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let difference = self
            .amount
            .0
            .checked_sub(other.amount.0)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(difference, self.currency))
    }

    /// `-self`.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`] for `i64::MIN`.
    pub fn checked_neg(&self) -> Result<Money, MoneyError> {
        let negated = self.amount.0.checked_neg().ok_or(MoneyError::Overflow)?;
        Ok(Money::new(negated, self.currency))
    }

    /// The smaller of two amounts in the same currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn checked_min(&self, other: &Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        Ok(if self.amount <= other.amount {
            *self
        } else {
            *other
        })
    }

    /// Compares two amounts in the same currency.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`].
    pub fn checked_cmp(&self, other: &Money) -> Result<std::cmp::Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.amount.cmp(&other.amount))
    }

    /// Sums amounts that must all be in `currency`; an empty sum is zero.
    ///
    /// # Errors
    /// [`MoneyError::CurrencyMismatch`] or [`MoneyError::Overflow`].
    pub fn sum<'a>(
        currency: Currency,
        amounts: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(m))
    }

    /// `percent` of this amount, rounded to a minor unit as named.
    ///
    /// # Errors
    /// [`MoneyError::Overflow`].
    pub fn percent(&self, percent: Percent, rounding: Rounding) -> Result<Money, MoneyError> {
        let exact = Decimal::from(self.amount.0)
            .checked_mul(percent.value())
            .and_then(|v| v.checked_div(Decimal::ONE_HUNDRED))
            .ok_or(MoneyError::Overflow)?;
        let rounded = exact.round_dp_with_strategy(0, rounding.strategy());
        decimal_to_i64(rounded).map(|minor| Money::new(minor, self.currency))
    }

    /// `self × numerator / denominator`, computed exactly in 128 bits and
    /// rounded once as named. Used for proportional refunds.
    ///
    /// # Errors
    /// [`MoneyError::InvalidWeights`] for a non-positive denominator,
    /// [`MoneyError::Overflow`] when the result does not fit.
    pub fn mul_ratio(
        &self,
        numerator: i64,
        denominator: i64,
        rounding: Rounding,
    ) -> Result<Money, MoneyError> {
        if denominator <= 0 {
            return Err(MoneyError::InvalidWeights);
        }
        let product = i128::from(self.amount.0)
            .checked_mul(i128::from(numerator))
            .ok_or(MoneyError::Overflow)?;
        let quotient = rounding
            .divide(product, i128::from(denominator))
            .ok_or(MoneyError::Overflow)?;
        let minor = i64::try_from(quotient).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::new(minor, self.currency))
    }

    /// Splits this amount by `weights` with the largest-remainder method:
    /// every share is the floor of its exact part, and the units left over go,
    /// one each, to the shares with the largest remainders (earlier index
    /// first on ties). The shares always add back up to `self`.
    ///
    /// A negative amount is split as its absolute value, then negated.
    ///
    /// # Errors
    /// [`MoneyError::InvalidWeights`] when `weights` is empty or all zero.
    pub fn allocate(&self, weights: &[u64]) -> Result<Vec<Money>, MoneyError> {
        let total_weight: u128 = weights.iter().map(|w| u128::from(*w)).sum();
        if total_weight == 0 {
            return Err(MoneyError::InvalidWeights);
        }
        let negative = self.amount.0 < 0;
        let magnitude = u128::from(self.amount.0.unsigned_abs());
        let mut shares = Vec::with_capacity(weights.len());
        let mut remainders = Vec::with_capacity(weights.len());
        let mut allocated: u128 = 0;
        for (index, weight) in weights.iter().enumerate() {
            // magnitude < 2^64 and weight < 2^64, so the product fits in u128.
            let exact = magnitude
                .checked_mul(u128::from(*weight))
                .ok_or(MoneyError::Overflow)?;
            let share = exact
                .checked_div(total_weight)
                .ok_or(MoneyError::InvalidWeights)?;
            let remainder = exact
                .checked_rem(total_weight)
                .ok_or(MoneyError::InvalidWeights)?;
            remainders.push((remainder, index));
            allocated = allocated.checked_add(share).ok_or(MoneyError::Overflow)?;
            shares.push(share);
        }
        let mut left_over = magnitude.saturating_sub(allocated);
        // Largest remainder first; stable on index for ties.
        remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        for (_, index) in remainders {
            if left_over == 0 {
                break;
            }
            if let Some(share) = shares.get_mut(index) {
                *share = share.checked_add(1).ok_or(MoneyError::Overflow)?;
                left_over = left_over.saturating_sub(1);
            }
        }
        shares
            .into_iter()
            .map(|share| {
                let value = i64::try_from(share).map_err(|_| MoneyError::Overflow)?;
                let signed = if negative {
                    value.checked_neg().ok_or(MoneyError::Overflow)?
                } else {
                    value
                };
                Ok(Money::new(signed, self.currency))
            })
            .collect()
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.currency, self.to_major())
    }
}

fn decimal_to_i64(value: Decimal) -> Result<i64, MoneyError> {
    use rust_decimal::prelude::ToPrimitive;
    value.trunc().to_i64().ok_or(MoneyError::Overflow)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal_macros::dec;

    #[test]
    fn exponents_follow_iso_4217() {
        assert_eq!(Currency::parse("usd").unwrap().exponent(), 2);
        assert_eq!(Currency::parse("JPY").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("krw").unwrap().exponent(), 0);
        assert_eq!(Currency::parse("KWD").unwrap().exponent(), 3);
        assert_eq!(Currency::parse("bhd").unwrap().exponent(), 3);
        assert!(matches!(
            Currency::parse("XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(Currency::parse("US").is_err());
    }

    #[test]
    fn major_units_respect_the_exponent() {
        assert_eq!(
            Money::from_major(dec!(10.50), Currency::USD)
                .unwrap()
                .amount_minor(),
            1050
        );
        assert_eq!(
            Money::from_major(dec!(500), Currency::JPY)
                .unwrap()
                .amount_minor(),
            500
        );
        assert_eq!(
            Money::from_major(dec!(1.234), Currency::KWD)
                .unwrap()
                .amount_minor(),
            1234
        );
        assert!(matches!(
            Money::from_major(dec!(1.5), Currency::JPY),
            Err(MoneyError::TooPrecise { .. })
        ));
        assert_eq!(
            Money::from_major_rounded(dec!(1.005), Currency::USD, Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            100
        );
        assert_eq!(Money::new(1234, Currency::KWD).to_major(), dec!(1.234));
        assert_eq!(Money::new(1050, Currency::USD).to_string(), "USD 10.50");
    }

    #[test]
    fn mixing_currencies_is_an_error() {
        let usd = Money::new(100, Currency::USD);
        let eur = Money::new(100, Currency::EUR);
        assert!(matches!(
            usd.checked_add(&eur),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert!(matches!(
            usd.checked_sub(&eur),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
    }

    #[test]
    fn overflow_is_an_error() {
        let max = Money::new(i64::MAX, Currency::USD);
        assert_eq!(
            max.checked_add(&Money::new(1, Currency::USD)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(i64::MIN, Currency::USD).checked_neg(),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn percent_names_its_rounding() {
        let amount = Money::new(1005, Currency::USD);
        let ten = Percent::new(dec!(10)).unwrap();
        // 100.5 cents
        assert_eq!(
            amount
                .percent(ten, Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            100
        );
        assert_eq!(
            amount
                .percent(ten, Rounding::HalfUp)
                .unwrap()
                .amount_minor(),
            101
        );
        assert_eq!(
            amount.percent(ten, Rounding::Down).unwrap().amount_minor(),
            100
        );
        assert_eq!(
            amount.percent(ten, Rounding::Up).unwrap().amount_minor(),
            101
        );
        assert!(Percent::new(dec!(100.01)).is_err());
        assert!(Percent::new(dec!(-1)).is_err());
    }

    #[test]
    fn ratio_rounds_once() {
        let c = Money::new(1000, Currency::USD);
        assert_eq!(
            c.mul_ratio(1, 3, Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            333
        );
        assert_eq!(
            c.mul_ratio(2, 3, Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            667
        );
        assert_eq!(
            Money::new(5, Currency::USD)
                .mul_ratio(1, 2, Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            2
        );
        assert_eq!(
            Money::new(7, Currency::USD)
                .mul_ratio(1, 2, Rounding::HalfEven)
                .unwrap()
                .amount_minor(),
            4
        );
        assert_eq!(
            Money::new(-5, Currency::USD)
                .mul_ratio(1, 2, Rounding::HalfUp)
                .unwrap()
                .amount_minor(),
            -3
        );
        assert!(c.mul_ratio(1, 0, Rounding::Down).is_err());
    }

    #[test]
    fn allocation_uses_largest_remainder() {
        let shares = Money::new(100, Currency::USD).allocate(&[1, 1, 1]).unwrap();
        let minors: Vec<i64> = shares.iter().map(Money::amount_minor).collect();
        assert_eq!(minors, vec![34, 33, 33]);
        let shares = Money::new(-100, Currency::USD)
            .allocate(&[1, 1, 1])
            .unwrap();
        let minors: Vec<i64> = shares.iter().map(Money::amount_minor).collect();
        assert_eq!(minors, vec![-34, -33, -33]);
        assert!(Money::new(1, Currency::USD).allocate(&[]).is_err());
        assert!(Money::new(1, Currency::USD).allocate(&[0, 0]).is_err());
    }

    fn any_rounding() -> impl Strategy<Value = Rounding> {
        prop_oneof![
            Just(Rounding::HalfEven),
            Just(Rounding::HalfUp),
            Just(Rounding::Down),
            Just(Rounding::Up)
        ]
    }

    proptest! {
        #[test]
        fn allocation_never_creates_or_loses_a_unit(
            amount in -1_000_000_000_000_i64..1_000_000_000_000,
            weights in proptest::collection::vec(0_u64..1_000_000, 1..50),
        ) {
            prop_assume!(weights.iter().any(|w| *w > 0));
            let money = Money::new(amount, Currency::USD);
            let shares = money.allocate(&weights).unwrap();
            prop_assert_eq!(shares.len(), weights.len());
            let total = Money::sum(Currency::USD, &shares).unwrap();
            prop_assert_eq!(total, money);
            // Each share is within one unit of its exact part.
            let weight_sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
            for (share, weight) in shares.iter().zip(&weights) {
                let exact = i128::from(amount) * i128::from(*weight);
                let floor = exact / weight_sum;
                let diff = i128::from(share.amount_minor()) - floor;
                prop_assert!((-1..=1).contains(&diff));
            }
        }

        #[test]
        fn percent_and_remainder_add_back_to_the_whole(
            amount in 0_i64..10_000_000_000,
            percent_bp in 0_i64..=10_000,
            rounding in any_rounding(),
        ) {
            let percent = Percent::new(Decimal::new(percent_bp, 2)).unwrap();
            let money = Money::new(amount, Currency::USD);
            let part = money.percent(percent, rounding).unwrap();
            let rest = money.checked_sub(&part).unwrap();
            prop_assert!(!part.is_negative());
            prop_assert!(!rest.is_negative());
            prop_assert_eq!(part.checked_add(&rest).unwrap(), money);
            // Rounding moves the result by less than one unit from the exact value.
            let exact = Decimal::from(amount) * percent.value() / Decimal::ONE_HUNDRED;
            prop_assert!((Decimal::from(part.amount_minor()) - exact).abs() < Decimal::ONE);
        }

        #[test]
        fn ratio_matches_decimal_rounding(
            amount in -10_000_000_000_i64..10_000_000_000,
            numerator in 0_i64..1_000_000,
            denominator in 1_i64..1_000_000,
            rounding in any_rounding(),
        ) {
            let got = Money::new(amount, Currency::USD).mul_ratio(numerator, denominator, rounding).unwrap();
            let exact = Decimal::from(amount) * Decimal::from(numerator) / Decimal::from(denominator);
            let want = exact.round_dp_with_strategy(0, rounding.strategy());
            // Decimal division can itself round at 28 digits; only compare when exact.
            if exact * Decimal::from(denominator) == Decimal::from(amount) * Decimal::from(numerator) {
                prop_assert_eq!(Decimal::from(got.amount_minor()), want);
            }
            prop_assert!((Decimal::from(got.amount_minor()) - exact).abs() < Decimal::ONE);
        }

        #[test]
        fn major_round_trip_is_exact(amount in -1_000_000_000_000_i64..1_000_000_000_000, code in prop_oneof![Just("USD"), Just("JPY"), Just("KWD")]) {
            let currency = Currency::parse(code).unwrap();
            let money = Money::new(amount, currency);
            prop_assert_eq!(Money::from_major(money.to_major(), currency).unwrap(), money);
        }
    }
}
