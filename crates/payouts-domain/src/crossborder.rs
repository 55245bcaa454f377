//! Where a program may pay partners, and how little it may pay in one
//! transfer (issue 16 parts 4 and 5).
//!
//! * [`CROSS_BORDER_COUNTRIES`]: the countries a program may list in its
//!   `payout_countries`, from Stripe's cross-border payouts page.
//! * [`ServiceAgreement`]: which Stripe service agreement a partner's
//!   Express account is created under. Stripe only allows cross-border
//!   payouts to accounts under the `recipient` agreement.
//! * [`CURRENCY_MINIMUMS`]: the default per-currency payout floor a program
//!   may override in `minimum_payouts`.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::money::{Currency, MAX_STRIPE_AMOUNT_MINOR};

/// The platform's own country. A partner here is a domestic recipient (the
/// `full` agreement); anyone else is cross-border (`recipient`).
pub const PLATFORM_COUNTRY: &str = "US";

/// The countries Stripe supports for self-serve cross-border payouts from a
/// US platform: the US itself, the United Kingdom, the EEA, Canada and
/// Switzerland ("Platforms based in the US, UK, EEA, Canada, or Switzerland
/// can transfer funds to connected accounts in any of those regions",
/// docs.stripe.com/connect/cross-border-payouts). Stripe names regions; the
/// EEA is spelled out here as its 30 members (the 27 EU states plus Iceland,
/// Liechtenstein and Norway). Code and English name, sorted by code.
pub const CROSS_BORDER_COUNTRIES: &[(&str, &str)] = &[
    ("AT", "Austria"),
    ("BE", "Belgium"),
    ("BG", "Bulgaria"),
    ("CA", "Canada"),
    ("CH", "Switzerland"),
    ("CY", "Cyprus"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DK", "Denmark"),
    ("EE", "Estonia"),
    ("ES", "Spain"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
    ("GR", "Greece"),
    ("HR", "Croatia"),
    ("HU", "Hungary"),
    ("IE", "Ireland"),
    ("IS", "Iceland"),
    ("IT", "Italy"),
    ("LI", "Liechtenstein"),
    ("LT", "Lithuania"),
    ("LU", "Luxembourg"),
    ("LV", "Latvia"),
    ("MT", "Malta"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("SE", "Sweden"),
    ("SI", "Slovenia"),
    ("SK", "Slovakia"),
    ("US", "United States"),
];

/// The default smallest amount paid in one transfer, per currency, in minor
/// units: Stripe's published minimum amounts per currency
/// (docs.stripe.com/currencies, "Minimum and maximum charge amounts") for
/// the currencies of [`CROSS_BORDER_COUNTRIES`]. Stripe refuses to move less
/// than these through a balance, and publishes no separate table for Connect
/// transfers. A program overrides any of them with `minimum_payouts`
/// (e.g. where a partner's bank needs more). A currency not listed has no
/// default floor beyond the program minimum.
pub const CURRENCY_MINIMUMS: &[(&str, i64)] = &[
    ("BGN", 100),
    ("CAD", 50),
    ("CHF", 50),
    ("CZK", 1_500),
    ("DKK", 250),
    ("EUR", 50),
    ("GBP", 30),
    ("HUF", 17_500),
    ("NOK", 300),
    ("PLN", 200),
    ("RON", 200),
    ("SEK", 300),
    ("USD", 50),
];

/// The default per-currency minimum of [`CURRENCY_MINIMUMS`], if any.
pub fn default_currency_minimum(currency: Currency) -> Option<i64> {
    CURRENCY_MINIMUMS
        .iter()
        .find(|(code, _)| *code == currency.code())
        .map(|(_, minor)| *minor)
}

/// A country a program pays partners in: an upper-case ISO 3166-1 alpha-2
/// code from [`CROSS_BORDER_COUNTRIES`].
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PayoutCountry([u8; 2]);

impl PayoutCountry {
    /// The United States.
    pub const US: PayoutCountry = PayoutCountry(*b"US");

    /// Parses a code in any case.
    ///
    /// # Errors
    /// [`DomainError::Validation`] on `payout_countries` when the code is not
    /// two letters, or is not a country Stripe pays cross-border to.
    pub fn parse(code: &str) -> Result<Self, DomainError> {
        let upper = code.trim().to_ascii_uppercase();
        let bytes = <[u8; 2]>::try_from(upper.as_bytes())
            .ok()
            .filter(|b| b.iter().all(u8::is_ascii_uppercase))
            .ok_or_else(|| {
                DomainError::validation(
                    "payout_countries",
                    format!("{code:?} is not an ISO 3166-1 alpha-2 country code"),
                )
            })?;
        if !CROSS_BORDER_COUNTRIES.iter().any(|(c, _)| *c == upper) {
            return Err(DomainError::validation(
                "payout_countries",
                format!(
                    "{upper} is not a country Stripe supports for cross-border payouts \
                     (supported: {})",
                    supported_list()
                ),
            ));
        }
        Ok(PayoutCountry(bytes))
    }

    /// The upper-case code, e.g. `"DE"`.
    pub fn code(&self) -> &str {
        // Only ever built from ASCII table entries.
        std::str::from_utf8(&self.0).unwrap_or("XX")
    }

    /// The English name from [`CROSS_BORDER_COUNTRIES`].
    pub fn name(&self) -> &'static str {
        CROSS_BORDER_COUNTRIES
            .iter()
            .find(|(c, _)| *c == self.code())
            .map_or("", |(_, n)| *n)
    }
}

impl fmt::Display for PayoutCountry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for PayoutCountry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl TryFrom<String> for PayoutCountry {
    type Error = DomainError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        PayoutCountry::parse(&value)
    }
}

impl From<PayoutCountry> for String {
    fn from(value: PayoutCountry) -> Self {
        value.code().to_owned()
    }
}

/// The payout countries of a program that names none: the platform's own
/// country only, since every other country needs the partner's account under
/// the `recipient` agreement and the merchant's decision to pay abroad.
pub fn default_payout_countries() -> Vec<String> {
    vec![PLATFORM_COUNTRY.to_owned()]
}

/// Every supported code, comma-separated, for error messages.
pub fn supported_list() -> String {
    CROSS_BORDER_COUNTRIES
        .iter()
        .map(|(c, _)| *c)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses a program's `payout_countries`: each code valid and supported,
/// duplicates dropped (first occurrence kept), at least one left.
///
/// # Errors
/// [`DomainError::Validation`] on `payout_countries`.
pub fn parse_payout_countries<S: AsRef<str>>(
    codes: &[S],
) -> Result<Vec<PayoutCountry>, DomainError> {
    let mut out: Vec<PayoutCountry> = Vec::with_capacity(codes.len());
    for code in codes {
        let country = PayoutCountry::parse(code.as_ref())?;
        if !out.contains(&country) {
            out.push(country);
        }
    }
    if out.is_empty() {
        return Err(DomainError::validation(
            "payout_countries",
            "must name at least one country",
        ));
    }
    Ok(out)
}

/// Checks a program's per-currency minimum overrides: each amount between
/// 0 and Stripe's largest amount.
///
/// # Errors
/// [`DomainError::Validation`] on `minimum_payouts`.
pub fn validate_minimum_payouts(minimums: &BTreeMap<Currency, i64>) -> Result<(), DomainError> {
    for (currency, minor) in minimums {
        if *minor < 0 {
            return Err(DomainError::validation(
                "minimum_payouts",
                format!("the minimum for {currency} must not be negative"),
            ));
        }
        if *minor > MAX_STRIPE_AMOUNT_MINOR {
            return Err(DomainError::validation(
                "minimum_payouts",
                format!("the minimum for {currency} must be at most {MAX_STRIPE_AMOUNT_MINOR}"),
            ));
        }
    }
    Ok(())
}

/// The Stripe service agreement a partner's Express account is under.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ServiceAgreement {
    /// Stripe's default: a service relationship between Stripe and the
    /// partner; the account may process payments. Domestic partners.
    Full,
    /// No service relationship with Stripe; the account only receives
    /// transfers (no `card_payments`). Required for cross-border payouts.
    /// Stripe: transfers to these accounts take an extra 24 hours to become
    /// available in the account's balance.
    Recipient,
}

impl ServiceAgreement {
    /// The agreement an account in `country` is created under: `full` in the
    /// platform's country, `recipient` anywhere else.
    pub fn for_country(country: &str) -> Self {
        if country.eq_ignore_ascii_case(PLATFORM_COUNTRY) {
            ServiceAgreement::Full
        } else {
            ServiceAgreement::Recipient
        }
    }

    /// The wire name (`tos_acceptance[service_agreement]`).
    pub const fn as_str(&self) -> &'static str {
        match self {
            ServiceAgreement::Full => "full",
            ServiceAgreement::Recipient => "recipient",
        }
    }

    /// Hours Stripe adds before a transfer to this account is available in
    /// its balance, on top of the account's usual schedule.
    pub const fn extra_availability_hours(&self) -> u32 {
        match self {
            ServiceAgreement::Full => 0,
            ServiceAgreement::Recipient => 24,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn countries_are_checked_normalised_and_deduplicated() {
        let parsed = parse_payout_countries(&["us", " DE", "US", "fr"]).unwrap();
        let codes: Vec<&str> = parsed.iter().map(PayoutCountry::code).collect();
        assert_eq!(codes, ["US", "DE", "FR"]);
        assert_eq!(parsed[1].name(), "Germany");

        let empty: [&str; 0] = [];
        let e = parse_payout_countries(&empty).unwrap_err();
        assert!(e.to_string().contains("at least one"), "{e}");

        let e = parse_payout_countries(&["USA"]).unwrap_err();
        assert!(e.to_string().contains("alpha-2"), "{e}");
        let e = parse_payout_countries(&["1A"]).unwrap_err();
        assert!(e.to_string().contains("alpha-2"), "{e}");
        // A real country Stripe does not pay cross-border to.
        let e = parse_payout_countries(&["US", "BR"]).unwrap_err();
        assert!(
            e.to_string()
                .contains("BR is not a country Stripe supports"),
            "{e}"
        );
    }

    #[test]
    fn the_country_table_is_sorted_unique_and_upper_case() {
        for pair in CROSS_BORDER_COUNTRIES.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?}", pair);
        }
        assert_eq!(CROSS_BORDER_COUNTRIES.len(), 34);
        for (code, _) in CROSS_BORDER_COUNTRIES {
            assert_eq!(PayoutCountry::parse(code).unwrap().code(), *code);
        }
    }

    #[test]
    fn the_minimum_table_names_real_currencies_with_positive_amounts() {
        for pair in CURRENCY_MINIMUMS.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{:?}", pair);
        }
        for (code, minor) in CURRENCY_MINIMUMS {
            let currency = Currency::parse(code).unwrap();
            assert!(*minor > 0);
            assert_eq!(default_currency_minimum(currency), Some(*minor));
        }
        assert_eq!(default_currency_minimum(Currency::JPY), None);
    }

    #[test]
    fn minimum_overrides_are_bounded() {
        let mut m = BTreeMap::from([(Currency::EUR, 0), (Currency::GBP, 2_000)]);
        validate_minimum_payouts(&m).unwrap();
        m.insert(Currency::USD, -1);
        let e = validate_minimum_payouts(&m).unwrap_err();
        assert!(e.to_string().contains("USD must not be negative"), "{e}");
        m.insert(Currency::USD, MAX_STRIPE_AMOUNT_MINOR + 1);
        assert!(validate_minimum_payouts(&m).is_err());
    }

    #[test]
    fn agreements_follow_the_platform_country() {
        assert_eq!(ServiceAgreement::for_country("US"), ServiceAgreement::Full);
        assert_eq!(ServiceAgreement::for_country("us"), ServiceAgreement::Full);
        assert_eq!(
            ServiceAgreement::for_country("DE"),
            ServiceAgreement::Recipient
        );
        assert_eq!(ServiceAgreement::Recipient.as_str(), "recipient");
        assert_eq!(ServiceAgreement::Recipient.extra_availability_hours(), 24);
        assert_eq!(ServiceAgreement::Full.extra_availability_hours(), 0);
    }
}
