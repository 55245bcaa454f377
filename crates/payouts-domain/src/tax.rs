//! The yearly 1099 tally (seed 000): Stripe files 1099-NEC for US partners
//! paid $600 or more in a calendar year; the platform shows who is over.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::PartnerId;
use crate::item::{ItemState, PayoutItem};
use crate::money::{Currency, Money};

/// The 1099-NEC threshold: $600.00.
pub const US_1099_THRESHOLD: Money = Money::new(60_000, Currency::USD);

/// A partner's payouts in one calendar year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxSummary {
    /// The partner.
    pub partner_id: PartnerId,
    /// The calendar year (UTC).
    pub year: i32,
    /// Net paid per currency: posted transfers minus reversals.
    pub totals: Vec<Money>,
    /// Number of posted items counted.
    pub payout_count: u64,
    /// True for a US partner whose USD total is at or over $600.
    pub form_1099_required: bool,
}

/// Tallies the items paid to a partner in `year`. Only posted or reversed
/// items count, net of reversals; the $600 flag looks at USD only.
///
/// # Errors
/// [`DomainError::Money`] on overflow.
pub fn tally(
    partner_id: PartnerId,
    year: i32,
    country: &str,
    items: &[PayoutItem],
) -> Result<TaxSummary, DomainError> {
    let mut totals: Vec<Money> = Vec::new();
    let mut payout_count: u64 = 0;
    for item in items {
        let (posted_at, reversed) = match &item.state {
            ItemState::Posted { at, .. } => (*at, Money::zero(item.amount.currency())),
            ItemState::Reversed {
                posted_at,
                amount_reversed,
                ..
            } => (*posted_at, *amount_reversed),
            ItemState::Pending
            | ItemState::Submitting { .. }
            | ItemState::ReconcileRequired { .. }
            | ItemState::Failed { .. } => continue,
        };
        if item.partner_id != partner_id || posted_at.year() != year {
            continue;
        }
        let net = item.amount.checked_sub(&reversed)?;
        payout_count = payout_count.saturating_add(1);
        match totals.iter_mut().find(|t| t.currency() == net.currency()) {
            Some(total) => *total = total.checked_add(&net)?,
            None => totals.push(net),
        }
    }
    totals.sort_by_key(Money::currency);
    let usd = totals.iter().find(|t| t.currency() == Currency::USD);
    let form_1099_required = country == "US"
        && usd.is_some_and(|t| t.amount_minor() >= US_1099_THRESHOLD.amount_minor());
    Ok(TaxSummary {
        partner_id,
        year,
        totals,
        payout_count,
        form_1099_required,
    })
}

/// The calendar years the tax reports answer for.
pub const TAX_YEARS: std::ops::RangeInclusive<i32> = 2000..=9999;

/// Checks that `year` is a four-digit calendar year the reports answer for.
///
/// # Errors
/// [`DomainError::Validation`] on `year`.
pub fn check_year(year: i32) -> Result<i32, DomainError> {
    if TAX_YEARS.contains(&year) {
        Ok(year)
    } else {
        Err(DomainError::validation(
            "year",
            "year must be a four-digit calendar year (2000 to 9999)",
        ))
    }
}

/// One partner's line of a merchant's 1099 list: what that merchant paid
/// them in the year, by the same rule as [`tally`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxReportRow {
    /// The partner's tally (what this merchant paid them).
    pub summary: TaxSummary,
    /// The partner's country in the merchant's program (ISO 3166-1 alpha-2).
    pub country: String,
    /// The partner's contact e-mail in the merchant's program.
    pub email: String,
}

/// A merchant's 1099 list for a calendar year.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TaxReport {
    /// The calendar year (UTC).
    pub year: i32,
    /// True when every paid partner is listed, not only those over the threshold.
    pub all: bool,
    /// The threshold (USD): [`US_1099_THRESHOLD`].
    pub threshold: Money,
    /// One row per partner, by partner id.
    pub rows: Vec<TaxReportRow>,
    /// The listed rows' totals per currency, never converted: one line per
    /// currency, sorted by currency.
    pub totals: Vec<Money>,
}

/// Builds the list from each paid partner's row: with `all`, every row;
/// otherwise only the rows whose 1099 flag is set (US partners paid
/// $600 or more in USD). Rows with no payout in the year are dropped.
///
/// # Errors
/// [`DomainError::Money`] when a currency's total overflows.
pub fn report(year: i32, all: bool, rows: Vec<TaxReportRow>) -> Result<TaxReport, DomainError> {
    let mut rows: Vec<TaxReportRow> = rows
        .into_iter()
        .filter(|r| r.summary.payout_count > 0 && (all || r.summary.form_1099_required))
        .collect();
    rows.sort_by_key(|r| r.summary.partner_id);
    let mut totals: Vec<Money> = Vec::new();
    for money in rows.iter().flat_map(|r| r.summary.totals.iter()) {
        match totals.iter_mut().find(|t| t.currency() == money.currency()) {
            Some(total) => *total = total.checked_add(money)?,
            None => totals.push(*money),
        }
    }
    totals.sort_by_key(Money::currency);
    Ok(TaxReport {
        year,
        all,
        threshold: US_1099_THRESHOLD,
        rows,
        totals,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn row(n: u128, country: &str, totals: Vec<Money>) -> TaxReportRow {
        let usd = totals
            .iter()
            .find(|t| t.currency() == Currency::USD)
            .map_or(0, Money::amount_minor);
        TaxReportRow {
            summary: TaxSummary {
                partner_id: PartnerId::from_uuid(Uuid::from_u128(n)),
                year: 2026,
                payout_count: 1,
                form_1099_required: country == "US" && usd >= US_1099_THRESHOLD.amount_minor(),
                totals,
            },
            country: country.to_owned(),
            email: format!("p{n}@example.com"),
        }
    }

    #[test]
    fn the_list_keeps_flagged_rows_and_sums_each_currency_apart() {
        let eur = |m| Money::new(m, Currency::EUR);
        let usd = |m| Money::new(m, Currency::USD);
        let rows = vec![
            row(3, "US", vec![eur(900_000), usd(59_999)]),
            row(1, "US", vec![usd(60_000)]),
            row(2, "DE", vec![usd(100_000)]),
        ];
        let list = report(2026, false, rows.clone()).unwrap();
        assert_eq!(list.rows.len(), 1, "EUR never counts toward $600");
        assert_eq!(list.totals, vec![usd(60_000)]);
        let all = report(2026, true, rows).unwrap();
        let ids: Vec<u128> = all
            .rows
            .iter()
            .map(|r| r.summary.partner_id.as_uuid().as_u128())
            .collect();
        assert_eq!(ids, vec![1, 2, 3], "by partner id");
        assert_eq!(all.totals, vec![eur(900_000), usd(219_999)]);
    }

    #[test]
    fn a_total_past_i64_is_an_error_never_wrapped() {
        let big = Money::new(i64::MAX, Currency::USD);
        let rows = vec![row(1, "US", vec![big]), row(2, "US", vec![big])];
        assert!(matches!(
            report(2026, true, rows),
            Err(DomainError::Money(_))
        ));
    }

    #[test]
    fn years_outside_four_digits_are_refused() {
        assert_eq!(check_year(2026).unwrap(), 2026);
        for year in [1999, 10_000, -1] {
            assert!(matches!(
                check_year(year),
                Err(DomainError::Validation { .. })
            ));
        }
    }
}
