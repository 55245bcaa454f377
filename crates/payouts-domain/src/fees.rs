//! Platform fees (seed 002): a default percentage plus a fixed amount,
//! volume tiers keyed by the merchant's monthly volume, and per-merchant
//! overrides. The fee never exceeds the amount it is charged on.

use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::ids::MerchantId;
use crate::money::{Money, Percent, Rounding};

/// A percentage plus a fixed amount in minor units of the charged currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeRate {
    /// The percentage, e.g. `2.9`.
    pub percent: Percent,
    /// The fixed part, in minor units (`30` = 30 cents on a USD amount).
    pub fixed_minor: i64,
}

/// A rate for merchants whose monthly volume lies in `[volume_min, volume_max]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTier {
    /// Lowest monthly volume, in minor units, inclusive.
    pub volume_min_minor: i64,
    /// Highest monthly volume, inclusive; `None` is unbounded.
    pub volume_max_minor: Option<i64>,
    /// The rate.
    pub rate: FeeRate,
}

/// A negotiated rate for one merchant; it beats tiers and the default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantOverride {
    /// The merchant.
    pub merchant_id: MerchantId,
    /// The rate.
    pub rate: FeeRate,
    /// Why (e.g. "Enterprise agreement").
    pub reason: String,
}

/// The platform's fee configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeSchedule {
    /// Used when no override or tier applies.
    pub default: FeeRate,
    /// Volume tiers, non-overlapping.
    pub tiers: Vec<FeeTier>,
    /// Per-merchant overrides.
    pub overrides: Vec<MerchantOverride>,
    /// How the percentage lands on a minor unit.
    pub rounding: Rounding,
}

impl Default for FeeSchedule {
    /// No fee: 0 % + 0.
    fn default() -> Self {
        FeeSchedule {
            default: FeeRate {
                percent: Percent::ZERO,
                fixed_minor: 0,
            },
            tiers: Vec::new(),
            overrides: Vec::new(),
            rounding: Rounding::HalfEven,
        }
    }
}

impl FeeSchedule {
    /// Checks the schedule: fixed parts not negative, tiers well-formed and
    /// non-overlapping, at most one override per merchant.
    ///
    /// # Errors
    /// [`DomainError::Validation`].
    pub fn validate(&self) -> Result<(), DomainError> {
        let rates = std::iter::once(&self.default)
            .chain(self.tiers.iter().map(|t| &t.rate))
            .chain(self.overrides.iter().map(|o| &o.rate));
        if rates.into_iter().any(|r| r.fixed_minor < 0) {
            return Err(DomainError::validation("fee_fixed", "must not be negative"));
        }
        let mut tiers: Vec<&FeeTier> = self.tiers.iter().collect();
        tiers.sort_by_key(|t| t.volume_min_minor);
        for tier in &tiers {
            if tier.volume_min_minor < 0
                || tier
                    .volume_max_minor
                    .is_some_and(|max| max < tier.volume_min_minor)
            {
                return Err(DomainError::validation(
                    "fee_tiers",
                    "volume_min must be ≥ 0 and ≤ volume_max",
                ));
            }
        }
        for pair in tiers.windows(2) {
            if let [a, b] = pair {
                let overlaps = a
                    .volume_max_minor
                    .is_none_or(|max| max >= b.volume_min_minor);
                if overlaps {
                    return Err(DomainError::validation("fee_tiers", "tiers overlap"));
                }
            }
        }
        for (i, o) in self.overrides.iter().enumerate() {
            if self
                .overrides
                .iter()
                .skip(i.saturating_add(1))
                .any(|p| p.merchant_id == o.merchant_id)
            {
                return Err(DomainError::validation(
                    "per_merchant_overrides",
                    format!("{} appears twice", o.merchant_id),
                ));
            }
        }
        Ok(())
    }

    /// The rate for `merchant` at `monthly_volume`: override, else the tier
    /// containing the volume, else the default.
    pub fn rate_for(&self, merchant: &MerchantId, monthly_volume: &Money) -> FeeRate {
        if let Some(o) = self.overrides.iter().find(|o| o.merchant_id == *merchant) {
            return o.rate;
        }
        let volume = monthly_volume.amount_minor();
        self.tiers
            .iter()
            .find(|t| {
                volume >= t.volume_min_minor && t.volume_max_minor.is_none_or(|max| volume <= max)
            })
            .map_or(self.default, |t| t.rate)
    }

    /// The fee on `amount`: `round(amount × percent) + fixed`, clamped to
    /// `[0, amount]`. Zero and negative amounts carry no fee.
    ///
    /// # Errors
    /// [`DomainError::Money`] on overflow.
    pub fn fee(
        &self,
        merchant: &MerchantId,
        monthly_volume: &Money,
        amount: &Money,
    ) -> Result<Money, DomainError> {
        if !amount.is_positive() {
            return Ok(Money::zero(amount.currency()));
        }
        self.fee_at(&self.rate_for(merchant, monthly_volume), amount)
    }

    /// The default rate's fee on `amount`, for a charge no merchant is
    /// known for (no override, no volume tier).
    ///
    /// # Errors
    /// [`DomainError::Money`] on overflow.
    pub fn default_fee(&self, amount: &Money) -> Result<Money, DomainError> {
        if !amount.is_positive() {
            return Ok(Money::zero(amount.currency()));
        }
        self.fee_at(&self.default, amount)
    }

    fn fee_at(&self, rate: &FeeRate, amount: &Money) -> Result<Money, DomainError> {
        let fee = amount
            .percent(rate.percent, self.rounding)?
            .checked_add(&Money::new(rate.fixed_minor, amount.currency()))?;
        Ok(fee.checked_min(amount)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use rust_decimal_macros::dec;

    fn schedule() -> FeeSchedule {
        FeeSchedule {
            default: FeeRate {
                percent: Percent::new(dec!(2.9)).unwrap(),
                fixed_minor: 30,
            },
            tiers: vec![
                FeeTier {
                    volume_min_minor: 0,
                    volume_max_minor: Some(1_000_000),
                    rate: FeeRate {
                        percent: Percent::new(dec!(3.0)).unwrap(),
                        fixed_minor: 30,
                    },
                },
                FeeTier {
                    volume_min_minor: 1_000_001,
                    volume_max_minor: Some(5_000_000),
                    rate: FeeRate {
                        percent: Percent::new(dec!(2.5)).unwrap(),
                        fixed_minor: 25,
                    },
                },
            ],
            overrides: vec![MerchantOverride {
                merchant_id: MerchantId::parse("merchant_123").unwrap(),
                rate: FeeRate {
                    percent: Percent::new(dec!(2.0)).unwrap(),
                    fixed_minor: 20,
                },
                reason: "Enterprise agreement".into(),
            }],
            rounding: Rounding::HalfEven,
        }
    }

    #[test]
    fn override_then_tier_then_default() {
        let s = schedule();
        s.validate().unwrap();
        let usd = |m| Money::new(m, Currency::USD);
        let big = MerchantId::parse("merchant_123").unwrap();
        let small = MerchantId::parse("merchant_9").unwrap();
        assert_eq!(s.fee(&big, &usd(0), &usd(2_500)).unwrap(), usd(70));
        assert_eq!(s.fee(&small, &usd(500_000), &usd(2_500)).unwrap(), usd(105));
        assert_eq!(
            s.fee(&small, &usd(2_000_000), &usd(2_500)).unwrap(),
            usd(87)
        ); // 62.5 → 62 (half-even) + 25
        assert_eq!(
            s.fee(&small, &usd(9_000_000), &usd(2_500)).unwrap(),
            usd(102)
        ); // default: 72.5 → 72 + 30
    }

    #[test]
    fn fee_never_exceeds_the_amount() {
        let s = schedule();
        let usd = |m| Money::new(m, Currency::USD);
        let m = MerchantId::parse("x").unwrap();
        assert_eq!(s.fee(&m, &usd(0), &usd(10)).unwrap(), usd(10));
        assert_eq!(s.fee(&m, &usd(0), &usd(0)).unwrap(), usd(0));
        assert_eq!(s.fee(&m, &usd(0), &usd(-5)).unwrap(), usd(0));
    }

    #[test]
    fn overlapping_tiers_are_refused() {
        let mut s = schedule();
        if let Some(t) = s.tiers.get_mut(0) {
            t.volume_max_minor = Some(2_000_000);
        }
        assert!(s.validate().is_err());
        let mut s = schedule();
        if let Some(t) = s.tiers.get_mut(0) {
            t.rate.fixed_minor = -1;
        }
        assert!(s.validate().is_err());
    }

    proptest! {
        #[test]
        fn fee_plus_net_is_the_whole(amount in 0_i64..10_000_000_000, bp in 0_i64..=10_000, fixed in 0_i64..10_000) {
            let s = FeeSchedule {
                default: FeeRate { percent: Percent::new(Decimal::new(bp, 2)).unwrap(), fixed_minor: fixed },
                ..FeeSchedule::default()
            };
            let amount = Money::new(amount, Currency::USD);
            let fee = s.fee(&MerchantId::parse("m").unwrap(), &Money::zero(Currency::USD), &amount).unwrap();
            let net = amount.checked_sub(&fee).unwrap();
            prop_assert!(!fee.is_negative());
            prop_assert!(!net.is_negative());
            prop_assert_eq!(fee.checked_add(&net).unwrap(), amount);
        }
    }
}
