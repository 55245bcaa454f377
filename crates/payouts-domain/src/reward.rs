//! Reward rules: which rate a conversion earns at, and why.
//!
//! A program's [`CommissionRule`] has a base rate and, optionally:
//! * **tiers** by the partner's running totals in the program (finalized
//!   revenue or finalized sale count), the tier decided when the conversion
//!   is recorded;
//! * a **first conversions** rate for each customer's first N sales;
//! * **per-product** rates, keyed by the product id on the conversion;
//! * a **flat amount per lead** (a conversion of kind `lead`, with no sale).
//!
//! For a sale, the first that applies wins: product rate, then first
//! conversions, then the highest tier reached, then the base rate. A lead
//! earns the lead amount, and only a program with one records leads. The
//! commission keeps the [`AppliedRule`] that produced it.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::ProductId;
use crate::money::{Currency, Money};
use crate::program::{CommissionAmount, CommissionRule};

/// Most tiers a program may have.
pub const MAX_TIERS: usize = 20;
/// Most per-product rates a program may have.
pub const MAX_PRODUCT_RATES: usize = 100;

/// What a conversion is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversionKind {
    /// A sale with an amount.
    #[default]
    Sale,
    /// A lead (a sign-up, a booked demo): no sale amount; earns the
    /// program's flat lead amount.
    Lead,
}

impl ConversionKind {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ConversionKind::Sale => "sale",
            ConversionKind::Lead => "lead",
        }
    }

    /// From the wire name.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "sale" => Some(ConversionKind::Sale),
            "lead" => Some(ConversionKind::Lead),
            _ => None,
        }
    }
}

/// What tiers count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TierBasis {
    /// The partner's finalized revenue in the program: the sale amounts,
    /// less refunds, of their conversions whose commission is finalized, in
    /// minor units of the program currency.
    Revenue,
    /// How many of the partner's sales in the program have a finalized
    /// commission.
    Conversions,
}

impl TierBasis {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            TierBasis::Revenue => "revenue",
            TierBasis::Conversions => "conversions",
        }
    }
}

/// One tier: from `from` (inclusive) on, conversions earn `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tier {
    /// The threshold: minor units for revenue, a count for conversions.
    pub from: i64,
    /// The rate from the threshold on.
    pub amount: CommissionAmount,
}

/// Tiers by the partner's running totals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tiers {
    /// What the thresholds count.
    pub basis: TierBasis,
    /// Thresholds, strictly increasing. Below the first, the base rate applies.
    pub steps: Vec<Tier>,
}

/// A rate for each customer's first sales in the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FirstConversions {
    /// How many of a customer's sales earn this rate (1..=1000).
    pub count: u16,
    /// The rate for them.
    pub amount: CommissionAmount,
}

/// The rate for one product.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductRate {
    /// The merchant's product id.
    pub product_id: ProductId,
    /// Its rate.
    pub amount: CommissionAmount,
}

/// The rule a commission was earned under, kept on the commission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum AppliedRule {
    /// The program's base rate.
    Base {
        /// The rate.
        rate: CommissionAmount,
    },
    /// A tier reached by the partner's totals.
    Tier {
        /// Which tier, counting from 1.
        tier: u16,
        /// What the tiers count.
        basis: TierBasis,
        /// The tier's threshold.
        from: i64,
        /// The partner's total when the conversion was recorded.
        total: i64,
        /// The rate.
        rate: CommissionAmount,
    },
    /// One of the customer's first sales.
    FirstConversions {
        /// Which of the customer's sales this is, counting from 1.
        nth: u32,
        /// How many earn this rate.
        count: u16,
        /// The rate.
        rate: CommissionAmount,
    },
    /// A per-product rate.
    Product {
        /// The product.
        product_id: ProductId,
        /// The rate.
        rate: CommissionAmount,
    },
    /// The flat amount per lead.
    Lead {
        /// The amount.
        amount: Money,
    },
}

impl AppliedRule {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            AppliedRule::Base { .. } => "base",
            AppliedRule::Tier { .. } => "tier",
            AppliedRule::FirstConversions { .. } => "first_conversions",
            AppliedRule::Product { .. } => "product",
            AppliedRule::Lead { .. } => "lead",
        }
    }

    /// The rate (a lead's flat amount as a fixed rate).
    pub fn rate(&self) -> CommissionAmount {
        match self {
            AppliedRule::Base { rate }
            | AppliedRule::Tier { rate, .. }
            | AppliedRule::FirstConversions { rate, .. }
            | AppliedRule::Product { rate, .. } => *rate,
            AppliedRule::Lead { amount } => CommissionAmount::Fixed { amount: *amount },
        }
    }

    /// The rule and rate in words, e.g. `tier 2 (revenue from 100000): 15%`.
    pub fn describe(&self) -> String {
        let rate = describe_rate(&self.rate());
        match self {
            AppliedRule::Base { .. } => format!("base rate: {rate}"),
            AppliedRule::Tier {
                tier, basis, from, ..
            } => format!("tier {tier} ({} from {from}): {rate}", basis.as_str()),
            AppliedRule::FirstConversions { nth, count, .. } => {
                format!("customer's sale {nth} of the first {count}: {rate}")
            }
            AppliedRule::Product { product_id, .. } => format!("product {product_id}: {rate}"),
            AppliedRule::Lead { .. } => format!("per lead: {rate}"),
        }
    }
}

fn describe_rate(rate: &CommissionAmount) -> String {
    match rate {
        CommissionAmount::Percent { percent, .. } => format!("{}%", percent.value().normalize()),
        CommissionAmount::Fixed { amount } => amount.to_string(),
    }
}

/// What the rule looks at for one conversion, read when it is recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RateContext<'a> {
    /// Sale or lead.
    pub kind: ConversionKind,
    /// The product sold, if named.
    pub product_id: Option<&'a ProductId>,
    /// How many sales this customer made in the program before this one;
    /// `None` without a customer reference (first-conversions rates then
    /// do not apply: the customer is unknown).
    pub customer_prior_sales: Option<u64>,
    /// The partner's running totals in the program.
    pub partner: PartnerTotals,
}

/// A partner's finalized totals in a program (the tier basis).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartnerTotals {
    /// Sales with a finalized commission.
    pub conversions: u64,
    /// Their sale amounts less refunds, in minor units of the program currency.
    pub revenue_minor: i64,
}

impl PartnerTotals {
    fn of(&self, basis: TierBasis) -> i64 {
        match basis {
            TierBasis::Revenue => self.revenue_minor,
            TierBasis::Conversions => i64::try_from(self.conversions).unwrap_or(i64::MAX),
        }
    }
}

impl CommissionRule {
    /// The rule a conversion earns under. A lead in a program without a
    /// lead amount is refused.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a lead the program does not pay for.
    pub fn select(&self, ctx: &RateContext<'_>) -> Result<AppliedRule, DomainError> {
        if ctx.kind == ConversionKind::Lead {
            return match self.lead {
                Some(amount) => Ok(AppliedRule::Lead { amount }),
                None => Err(DomainError::validation(
                    "kind",
                    "this program pays no commission for leads (set lead_commission first)",
                )),
            };
        }
        if let Some(product) = ctx.product_id
            && let Some(rate) = self.products.iter().find(|p| &p.product_id == product)
        {
            return Ok(AppliedRule::Product {
                product_id: rate.product_id.clone(),
                rate: rate.amount,
            });
        }
        if let Some(first) = self.first_conversions
            && let Some(prior) = ctx.customer_prior_sales
            && prior < u64::from(first.count)
        {
            return Ok(AppliedRule::FirstConversions {
                nth: u32::try_from(prior.saturating_add(1)).unwrap_or(u32::MAX),
                count: first.count,
                rate: first.amount,
            });
        }
        if let Some(tiers) = &self.tiers {
            let total = ctx.partner.of(tiers.basis);
            if let Some((index, step)) = tiers
                .steps
                .iter()
                .enumerate()
                .rev()
                .find(|(_, step)| total >= step.from)
            {
                return Ok(AppliedRule::Tier {
                    tier: u16::try_from(index.saturating_add(1)).unwrap_or(u16::MAX),
                    basis: tiers.basis,
                    from: step.from,
                    total,
                    rate: step.amount,
                });
            }
        }
        Ok(AppliedRule::Base { rate: self.amount })
    }

    /// Checks the rule against the program currency.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the field at fault.
    pub fn validate(&self, currency: Currency) -> Result<(), DomainError> {
        check_amount("commission", &self.amount, currency)?;
        if self.recurring_months == Some(0) {
            return Err(DomainError::validation(
                "recurring_months",
                "must be at least 1 when set",
            ));
        }
        if let Some(tiers) = &self.tiers {
            if tiers.steps.is_empty() || tiers.steps.len() > MAX_TIERS {
                return Err(DomainError::validation(
                    "tiers.steps",
                    format!("must have 1 to {MAX_TIERS} tiers"),
                ));
            }
            let mut previous: Option<i64> = None;
            for (i, step) in tiers.steps.iter().enumerate() {
                if step.from < 0 {
                    return Err(DomainError::validation(
                        format!("tiers.steps[{i}].from"),
                        "must not be negative",
                    ));
                }
                if previous.is_some_and(|p| step.from <= p) {
                    return Err(DomainError::validation(
                        format!("tiers.steps[{i}].from"),
                        "thresholds must be strictly increasing",
                    ));
                }
                previous = Some(step.from);
                check_amount(
                    &format!("tiers.steps[{i}].commission"),
                    &step.amount,
                    currency,
                )?;
            }
        }
        if let Some(first) = &self.first_conversions {
            if first.count == 0 || first.count > 1000 {
                return Err(DomainError::validation(
                    "first_conversions.count",
                    "must be 1 to 1000",
                ));
            }
            check_amount("first_conversions.commission", &first.amount, currency)?;
        }
        if self.products.len() > MAX_PRODUCT_RATES {
            return Err(DomainError::validation(
                "product_rates",
                format!("at most {MAX_PRODUCT_RATES} product rates"),
            ));
        }
        for (i, rate) in self.products.iter().enumerate() {
            if self
                .products
                .iter()
                .take(i)
                .any(|p| p.product_id == rate.product_id)
            {
                return Err(DomainError::validation(
                    format!("product_rates[{i}].product_id"),
                    format!("{} is listed twice", rate.product_id),
                ));
            }
            check_amount(
                &format!("product_rates[{i}].commission"),
                &rate.amount,
                currency,
            )?;
        }
        if let Some(lead) = self.lead {
            check_amount(
                "lead_commission",
                &CommissionAmount::Fixed { amount: lead },
                currency,
            )?;
        }
        Ok(())
    }
}

/// A fixed amount must be positive, in the program currency and within
/// Stripe's eight digits; a percentage is valid by construction.
fn check_amount(
    field: &str,
    amount: &CommissionAmount,
    currency: Currency,
) -> Result<(), DomainError> {
    if let CommissionAmount::Fixed { amount } = amount {
        if amount.currency() != currency {
            return Err(DomainError::validation(
                field,
                format!("a fixed commission must be in the program currency {currency}"),
            ));
        }
        if !amount.is_positive() {
            return Err(DomainError::validation(
                field,
                "a fixed commission must be positive",
            ));
        }
        if !amount.within_stripe_max() {
            return Err(DomainError::validation(
                field,
                "must be at most 99999999 minor units",
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use super::*;
    use crate::money::{Percent, Rounding};

    fn pct(p: i64) -> CommissionAmount {
        CommissionAmount::Percent {
            percent: Percent::new(Decimal::from(p)).expect("percent"),
            rounding: Rounding::HalfEven,
        }
    }

    fn usd(minor: i64) -> Money {
        Money::new(minor, Currency::USD)
    }

    fn rule() -> CommissionRule {
        CommissionRule {
            amount: pct(10),
            recurring_months: None,
            tiers: Some(Tiers {
                basis: TierBasis::Revenue,
                steps: vec![
                    Tier {
                        from: 100_000,
                        amount: pct(15),
                    },
                    Tier {
                        from: 500_000,
                        amount: pct(20),
                    },
                ],
            }),
            first_conversions: Some(FirstConversions {
                count: 2,
                amount: pct(30),
            }),
            products: vec![ProductRate {
                product_id: ProductId::parse("prod_course").expect("id"),
                amount: pct(50),
            }],
            lead: Some(usd(500)),
        }
    }

    fn ctx(prior: u64, revenue: i64) -> RateContext<'static> {
        RateContext {
            kind: ConversionKind::Sale,
            product_id: None,
            customer_prior_sales: Some(prior),
            partner: PartnerTotals {
                conversions: 0,
                revenue_minor: revenue,
            },
        }
    }

    #[test]
    fn precedence_is_product_then_first_conversions_then_tier_then_base() {
        let r = rule();
        let course = ProductId::parse("prod_course").expect("id");
        let with_product = RateContext {
            product_id: Some(&course),
            ..ctx(0, 600_000)
        };
        assert_eq!(r.select(&with_product).expect("rule").as_str(), "product");
        assert!(matches!(
            r.select(&ctx(1, 600_000)).expect("rule"),
            AppliedRule::FirstConversions {
                nth: 2,
                count: 2,
                ..
            }
        ));
        assert!(matches!(
            r.select(&ctx(2, 600_000)).expect("rule"),
            AppliedRule::Tier {
                tier: 2,
                from: 500_000,
                total: 600_000,
                ..
            }
        ));
        assert!(matches!(
            r.select(&ctx(2, 100_000)).expect("rule"),
            AppliedRule::Tier { tier: 1, .. }
        ));
        assert_eq!(r.select(&ctx(2, 99_999)).expect("rule").as_str(), "base");
        let other = ProductId::parse("prod_other").expect("id");
        let unknown_product = RateContext {
            product_id: Some(&other),
            ..ctx(5, 0)
        };
        assert_eq!(r.select(&unknown_product).expect("rule").as_str(), "base");
        // Without a customer reference the customer is unknown: no
        // first-conversions rate.
        let anonymous = RateContext {
            customer_prior_sales: None,
            ..ctx(0, 0)
        };
        assert_eq!(r.select(&anonymous).expect("rule").as_str(), "base");
    }

    #[test]
    fn leads_earn_the_lead_amount_or_are_refused() {
        let lead = RateContext {
            kind: ConversionKind::Lead,
            ..ctx(0, 0)
        };
        assert_eq!(
            rule().select(&lead).expect("rule"),
            AppliedRule::Lead { amount: usd(500) }
        );
        let without = CommissionRule {
            lead: None,
            ..rule()
        };
        assert!(matches!(
            without.select(&lead),
            Err(DomainError::Validation { .. })
        ));
    }

    #[test]
    fn conversion_tiers_count_sales() {
        let r = CommissionRule {
            tiers: Some(Tiers {
                basis: TierBasis::Conversions,
                steps: vec![Tier {
                    from: 10,
                    amount: pct(12),
                }],
            }),
            first_conversions: None,
            ..rule()
        };
        let mut c = ctx(0, 0);
        c.partner.conversions = 9;
        assert_eq!(r.select(&c).expect("rule").as_str(), "base");
        c.partner.conversions = 10;
        assert!(matches!(
            r.select(&c).expect("rule"),
            AppliedRule::Tier {
                tier: 1,
                total: 10,
                ..
            }
        ));
    }

    proptest::proptest! {
        /// Any valid rule picks a rule for any sale, and what it earns is
        /// never negative and, for a percentage, never more than the sale.
        #[test]
        fn every_sale_gets_a_rule_and_a_bounded_commission(
            prior in 0_u64..10,
            revenue in 0_i64..1_000_000,
            conversions in 0_u64..50,
            product in proptest::option::of(proptest::sample::select(vec!["prod_course", "prod_other"])),
            amount in 1_i64..=99_999_999,
        ) {
            let r = rule();
            let product = product.map(|p| ProductId::parse(p).unwrap());
            let ctx = RateContext {
                kind: ConversionKind::Sale,
                product_id: product.as_ref(),
                customer_prior_sales: Some(prior),
                partner: PartnerTotals { conversions, revenue_minor: revenue },
            };
            let applied = r.select(&ctx).unwrap();
            let earned = applied.rate().commission_for(&usd(amount)).unwrap();
            proptest::prop_assert!(!earned.is_negative());
            if let CommissionAmount::Percent { .. } = applied.rate() {
                proptest::prop_assert!(earned.amount_minor() <= amount);
            }
        }
    }

    #[test]
    fn rules_are_validated() {
        assert!(rule().validate(Currency::USD).is_ok());
        let field = |r: CommissionRule| match r.validate(Currency::USD) {
            Err(DomainError::Validation { field, .. }) => field,
            other => panic!("expected a validation error, got {other:?}"),
        };
        let mut r = rule();
        r.tiers.as_mut().expect("tiers").steps[1].from = 100_000;
        assert_eq!(field(r), "tiers.steps[1].from");
        let mut r = rule();
        r.tiers.as_mut().expect("tiers").steps.clear();
        assert_eq!(field(r), "tiers.steps");
        let mut r = rule();
        r.tiers.as_mut().expect("tiers").steps[0].from = -1;
        assert_eq!(field(r), "tiers.steps[0].from");
        let mut r = rule();
        r.first_conversions.as_mut().expect("first").count = 0;
        assert_eq!(field(r), "first_conversions.count");
        let mut r = rule();
        r.products.push(r.products[0].clone());
        assert_eq!(field(r), "product_rates[1].product_id");
        let mut r = rule();
        r.lead = Some(Money::new(500, Currency::EUR));
        assert_eq!(field(r), "lead_commission");
        let mut r = rule();
        r.lead = Some(usd(0));
        assert_eq!(field(r), "lead_commission");
        let mut r = rule();
        r.products[0].amount = CommissionAmount::Fixed {
            amount: usd(100_000_000),
        };
        assert_eq!(field(r), "product_rates[0].commission");
    }
}
