//! The JSON contract's money and currency shapes, one for every route
//! (Stripe's): a currency is a lowercase ISO 4217 code (`"usd"`), and an
//! amount is an integer in minor units next to its currency,
//! `{"amount": 500, "currency": "usd"}`. Input is lenient (any case);
//! output is always lower case.
//!
//! The domain's canonical currency form is upper case (`Currency::code`);
//! this module is where the HTTP edge converts.

use payouts_domain::money::{Currency, Money};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::ApiError;

/// A currency as the API writes it: lower case, e.g. `"usd"`.
pub fn currency_code(currency: Currency) -> String {
    currency.code().to_ascii_lowercase()
}

/// Parses a currency from a request, in any case.
///
/// # Errors
/// 400 `validation_error` naming `param` for an unknown code.
pub fn parse_currency(raw: &str, param: &str) -> Result<Currency, ApiError> {
    Currency::parse(raw).map_err(|e| ApiError::validation(param, e.to_string()))
}

/// An amount of money: integer minor units and a lowercase ISO currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoneyDto {
    /// Minor units (cents for `usd`, yen for `jpy`).
    #[schema(example = 500)]
    pub amount: i64,
    /// Lowercase ISO 4217 code (upper case is accepted on input).
    #[schema(example = "usd")]
    pub currency: String,
}

impl MoneyDto {
    /// The API form of `money`.
    pub fn from_money(money: &Money) -> Self {
        MoneyDto {
            amount: money.amount_minor(),
            currency: currency_code(money.currency()),
        }
    }

    /// The domain amount; `param` names the field in errors (its currency
    /// is reported as `{param}.currency`).
    ///
    /// # Errors
    /// 400 `validation_error` for an unknown currency.
    pub fn to_money(&self, param: &str) -> Result<Money, ApiError> {
        let currency = parse_currency(&self.currency, &format!("{param}.currency"))?;
        Ok(Money::new(self.amount, currency))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_minor_units_and_a_lowercase_code() {
        let dto = MoneyDto::from_money(&Money::new(100_000, Currency::USD));
        assert_eq!(
            serde_json::to_value(&dto).unwrap(),
            serde_json::json!({"amount": 100_000, "currency": "usd"})
        );
        let back = MoneyDto {
            amount: 5,
            currency: "USD".to_owned(),
        };
        assert_eq!(back.to_money("x").unwrap(), Money::new(5, Currency::USD));
        let bad = MoneyDto {
            amount: 5,
            currency: "usdx".to_owned(),
        };
        let ApiError::Validation { param, .. } = bad.to_money("minimum_payout").unwrap_err() else {
            panic!("not a validation error");
        };
        assert_eq!(param.as_deref(), Some("minimum_payout.currency"));
    }
}
