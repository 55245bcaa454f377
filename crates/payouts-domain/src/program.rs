//! A merchant's partner program: currency, commission rules, holding period,
//! minimum payout (and per-currency minimums), payout policy (seed 000),
//! coupon sync mode, the countries it pays partners in, and status.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use time::{Duration, OffsetDateTime};

use crate::crossborder::{
    PayoutCountry, default_currency_minimum, parse_payout_countries, validate_minimum_payouts,
};
use crate::error::{Blocked, DomainError, TransitionError};
use crate::ids::{MerchantId, ProgramId};
use crate::money::{Currency, Money, Percent, Rounding};
use crate::reward::{FirstConversions, ProductRate, Tiers};

/// How long a revoked merchant has to re-authorise before the program is archived.
pub const PROBATION_WINDOW: Duration = Duration::days(7);

/// How much a conversion earns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum CommissionAmount {
    /// A percentage of the conversion amount, rounded as named.
    Percent {
        /// The rate, e.g. `20` for 20 %.
        percent: Percent,
        /// How the product lands on a minor unit.
        rounding: Rounding,
    },
    /// A fixed amount per conversion, in the program's currency.
    Fixed {
        /// The amount.
        amount: Money,
    },
}

/// The program's commission rule: a base rate, which sales earn at all
/// (one-time or recurring), and the optional reward rules of
/// [`crate::reward`] (tiers, first conversions, per-product rates, leads).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommissionRule {
    /// How much each qualifying conversion earns when no other rule applies.
    pub amount: CommissionAmount,
    /// `None`: only a customer's first conversion earns (one-time).
    /// `Some(n)`: every conversion of the customer within `n` months of their
    /// first conversion earns (recurring). Conversions without a customer
    /// reference always count as a first conversion.
    pub recurring_months: Option<u16>,
    /// Rates by the partner's running totals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tiers: Option<Tiers>,
    /// A rate for each customer's first sales.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_conversions: Option<FirstConversions>,
    /// Per-product rates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductRate>,
    /// The flat amount a lead earns; `None`: leads are not recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lead: Option<Money>,
}

impl CommissionRule {
    /// A rule with only a base rate.
    pub fn flat(amount: CommissionAmount, recurring_months: Option<u16>) -> Self {
        CommissionRule {
            amount,
            recurring_months,
            tiers: None,
            first_conversions: None,
            products: Vec::new(),
            lead: None,
        }
    }
}

impl CommissionAmount {
    /// The commission for a conversion of `amount`.
    ///
    /// # Errors
    /// [`DomainError::Money`] on a currency mismatch or overflow.
    pub fn commission_for(&self, amount: &Money) -> Result<Money, DomainError> {
        match *self {
            CommissionAmount::Percent { percent, rounding } => {
                Ok(amount.percent(percent, rounding)?)
            }
            CommissionAmount::Fixed { amount: fixed } => {
                if fixed.currency() != amount.currency() {
                    return Err(crate::money::MoneyError::CurrencyMismatch {
                        left: fixed.currency(),
                        right: amount.currency(),
                    }
                    .into());
                }
                Ok(fixed)
            }
        }
    }
}

/// `autoPayoutPolicy` (seed 000): who approves a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "policy", rename_all = "snake_case")]
pub enum PayoutPolicy {
    /// A person approves every batch.
    Manual,
    /// Batches whose total is at or under `cap` approve themselves.
    AutoUnderCap {
        /// `autoPayoutCapUsd`: must be in the batch's currency.
        cap: Money,
    },
    /// Every batch approves itself.
    AutoAll,
}

impl PayoutPolicy {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            PayoutPolicy::Manual => "manual",
            PayoutPolicy::AutoUnderCap { .. } => "auto_under_cap",
            PayoutPolicy::AutoAll => "auto_all",
        }
    }

    /// Whether a batch totalling `total` approves itself.
    ///
    /// # Errors
    /// [`DomainError::Validation`] when the cap's currency is not the batch's.
    pub fn auto_approves(&self, total: &Money) -> Result<bool, DomainError> {
        match self {
            PayoutPolicy::Manual => Ok(false),
            PayoutPolicy::AutoAll => Ok(true),
            PayoutPolicy::AutoUnderCap { cap } => {
                if cap.currency() != total.currency() {
                    return Err(DomainError::validation(
                        "auto_payout_cap",
                        format!(
                            "the cap is in {} but the batch is in {}",
                            cap.currency(),
                            total.currency()
                        ),
                    ));
                }
                Ok(total.amount_minor() <= cap.amount_minor())
            }
        }
    }
}

/// `couponSyncMode`: where coupon codes live.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CouponSyncMode {
    /// Codes are created as Stripe Promotion Codes; Stripe events attribute.
    Stripe,
    /// The merchant posts conversions carrying the code to our API/webhook.
    Webhook,
    /// Codes are recorded here only; conversions are entered by hand.
    Manual,
}

impl CouponSyncMode {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            CouponSyncMode::Stripe => "stripe",
            CouponSyncMode::Webhook => "webhook",
            CouponSyncMode::Manual => "manual",
        }
    }
}

/// The program's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum ProgramStatus {
    /// Running normally.
    Active,
    /// The merchant revoked access; automatic payouts are paused until `until`,
    /// when the program is archived unless the merchant re-authorises.
    Probation {
        /// The end of the window.
        #[serde(with = "time::serde::rfc3339")]
        until: OffsetDateTime,
    },
    /// Closed for good; nothing pays out.
    Archived,
}

impl ProgramStatus {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            ProgramStatus::Active => "active",
            ProgramStatus::Probation { .. } => "probation",
            ProgramStatus::Archived => "archived",
        }
    }
}

/// Why a program's payouts are held while it is otherwise active.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// Stripe answered `account_inactive` for the merchant's account.
    MerchantAccountInactive,
    /// An operator paused payouts.
    Operator,
}

impl HoldReason {
    /// The wire name.
    pub const fn as_str(&self) -> &'static str {
        match self {
            HoldReason::MerchantAccountInactive => "merchant_account_inactive",
            HoldReason::Operator => "operator",
        }
    }
}

/// What happens to a program; input of [`Program::apply`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramEvent {
    /// The merchant revoked access at `at`: probation until `at + 7 days`.
    MerchantRevoked {
        /// When the deauthorisation happened.
        at: OffsetDateTime,
    },
    /// The merchant re-authorised at `at`.
    MerchantReauthorized {
        /// When.
        at: OffsetDateTime,
    },
    /// The probation sweep ran at `now`.
    ProbationSweep {
        /// The sweep's clock.
        now: OffsetDateTime,
    },
    /// Hold payouts.
    Hold(HoldReason),
    /// Release a hold.
    Release,
}

/// A partner program.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Program {
    /// Its id.
    pub id: ProgramId,
    /// The merchant that runs it.
    pub merchant_id: MerchantId,
    /// A display name.
    pub name: String,
    /// Commissions and payouts are in this currency.
    pub currency: Currency,
    /// How conversions earn.
    pub commission_rule: CommissionRule,
    /// Days a commission stays `pending` (refundable) before it can be finalized.
    pub holding_days: u16,
    /// Nets below this carry over to the next batch.
    pub minimum_payout: Money,
    /// Per-currency minimums (minor units) that replace the defaults of
    /// [`crate::crossborder::CURRENCY_MINIMUMS`]; see [`Program::effective_minimum`].
    pub minimum_payouts: BTreeMap<Currency, i64>,
    /// Who approves batches.
    pub payout_policy: PayoutPolicy,
    /// Where coupon codes live.
    pub coupon_sync: CouponSyncMode,
    /// The countries partners may be enrolled from (never empty, no duplicates).
    pub payout_countries: Vec<PayoutCountry>,
    /// Lifecycle.
    pub status: ProgramStatus,
    /// A hold on payouts, if any.
    pub hold: Option<HoldReason>,
    /// When created.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

/// The editable settings of a program; what create and update take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgramSettings {
    /// A display name (1..=200 characters).
    pub name: String,
    /// The program currency; fixed once created.
    pub currency: Currency,
    /// How conversions earn.
    pub commission_rule: CommissionRule,
    /// Holding period in days (0..=365).
    pub holding_days: u16,
    /// Minimum net payout, in the program currency.
    pub minimum_payout: Money,
    /// Per-currency minimum overrides, in each currency's minor units (0 and up).
    pub minimum_payouts: BTreeMap<Currency, i64>,
    /// Who approves batches.
    pub payout_policy: PayoutPolicy,
    /// Where coupon codes live.
    pub coupon_sync: CouponSyncMode,
    /// ISO 3166-1 alpha-2 codes of the countries partners may be enrolled
    /// from; each must be in [`crate::crossborder::CROSS_BORDER_COUNTRIES`].
    /// Duplicates are dropped; at least one is required.
    pub payout_countries: Vec<String>,
}

impl ProgramSettings {
    /// Checks every rule of a program's settings.
    ///
    /// # Errors
    /// [`DomainError::Validation`] naming the first field at fault.
    pub fn validate(&self) -> Result<(), DomainError> {
        let name_len = self.name.trim().chars().count();
        if name_len == 0 || name_len > 200 {
            return Err(DomainError::validation(
                "name",
                "must be 1 to 200 characters",
            ));
        }
        if self.holding_days > 365 {
            return Err(DomainError::validation(
                "holding_days",
                "must be at most 365",
            ));
        }
        if self.minimum_payout.currency() != self.currency {
            return Err(DomainError::validation(
                "minimum_payout",
                format!("must be in the program currency {}", self.currency),
            ));
        }
        if self.minimum_payout.is_negative() {
            return Err(DomainError::validation(
                "minimum_payout",
                "must not be negative",
            ));
        }
        self.commission_rule.validate(self.currency)?;
        if let PayoutPolicy::AutoUnderCap { cap } = self.payout_policy {
            if cap.currency() != self.currency {
                return Err(DomainError::validation(
                    "auto_payout_cap",
                    format!(
                        "the cap is in {} but the program pays in {}",
                        cap.currency(),
                        self.currency
                    ),
                ));
            }
            if cap.is_negative() {
                return Err(DomainError::validation(
                    "auto_payout_cap",
                    "must not be negative",
                ));
            }
        }
        validate_minimum_payouts(&self.minimum_payouts)?;
        parse_payout_countries(&self.payout_countries)?;
        Ok(())
    }
}

impl Program {
    /// A new, active program.
    ///
    /// # Errors
    /// [`DomainError::Validation`] from [`ProgramSettings::validate`].
    pub fn create(
        id: ProgramId,
        merchant_id: MerchantId,
        settings: ProgramSettings,
        now: OffsetDateTime,
    ) -> Result<Self, DomainError> {
        settings.validate()?;
        let payout_countries = parse_payout_countries(&settings.payout_countries)?;
        Ok(Program {
            id,
            merchant_id,
            name: settings.name.trim().to_owned(),
            currency: settings.currency,
            commission_rule: settings.commission_rule,
            holding_days: settings.holding_days,
            minimum_payout: settings.minimum_payout,
            minimum_payouts: settings.minimum_payouts,
            payout_policy: settings.payout_policy,
            coupon_sync: settings.coupon_sync,
            payout_countries,
            status: ProgramStatus::Active,
            hold: None,
            created_at: now,
        })
    }

    /// The program with new settings. The currency cannot change once
    /// commissions may exist in it.
    ///
    /// # Errors
    /// [`DomainError::Validation`].
    pub fn update(&self, settings: ProgramSettings) -> Result<Program, DomainError> {
        settings.validate()?;
        if settings.currency != self.currency {
            return Err(DomainError::validation(
                "currency",
                "cannot change after creation",
            ));
        }
        if self.status == ProgramStatus::Archived {
            return Err(Blocked::ProgramArchived.into());
        }
        let payout_countries = parse_payout_countries(&settings.payout_countries)?;
        Ok(Program {
            name: settings.name.trim().to_owned(),
            commission_rule: settings.commission_rule,
            holding_days: settings.holding_days,
            minimum_payout: settings.minimum_payout,
            minimum_payouts: settings.minimum_payouts,
            payout_policy: settings.payout_policy,
            coupon_sync: settings.coupon_sync,
            payout_countries,
            ..self.clone()
        })
    }

    /// The settings as they are now.
    pub fn settings(&self) -> ProgramSettings {
        ProgramSettings {
            name: self.name.clone(),
            currency: self.currency,
            commission_rule: self.commission_rule.clone(),
            holding_days: self.holding_days,
            minimum_payout: self.minimum_payout,
            minimum_payouts: self.minimum_payouts.clone(),
            payout_policy: self.payout_policy,
            coupon_sync: self.coupon_sync,
            payout_countries: self
                .payout_countries
                .iter()
                .map(|c| c.code().to_owned())
                .collect(),
        }
    }

    /// The per-currency minimum for `currency`, in its minor units: the
    /// program's override, else the default of
    /// [`crate::crossborder::CURRENCY_MINIMUMS`], else 0.
    pub fn currency_minimum(&self, currency: Currency) -> Money {
        let minor = self
            .minimum_payouts
            .get(&currency)
            .copied()
            .or_else(|| default_currency_minimum(currency))
            .unwrap_or(0);
        Money::new(minor, currency)
    }

    /// The smallest net paid in `currency`: the larger of the program
    /// minimum and the per-currency minimum. Nets below it carry over.
    ///
    /// # Errors
    /// [`DomainError::Money`] when `currency` is not the program's (a
    /// program pays in its one currency).
    pub fn effective_minimum(&self, currency: Currency) -> Result<Money, DomainError> {
        let per_currency = self.currency_minimum(currency);
        Ok(match per_currency.checked_cmp(&self.minimum_payout)? {
            std::cmp::Ordering::Greater => per_currency,
            std::cmp::Ordering::Less | std::cmp::Ordering::Equal => self.minimum_payout,
        })
    }

    /// Whether partners in `country` (ISO alpha-2, any case) may be enrolled.
    pub fn pays_country(&self, country: &str) -> bool {
        self.payout_countries
            .iter()
            .any(|c| c.code().eq_ignore_ascii_case(country.trim()))
    }

    /// How long commissions are held.
    pub fn holding_period(&self) -> Duration {
        Duration::days(i64::from(self.holding_days))
    }

    /// Why payouts may not run now, if they may not.
    pub fn payout_block(&self) -> Option<Blocked> {
        match self.status {
            ProgramStatus::Probation { until } => Some(Blocked::ProgramOnProbation { until }),
            ProgramStatus::Archived => Some(Blocked::ProgramArchived),
            ProgramStatus::Active => self
                .hold
                .map(|reason| Blocked::PayoutsPaused(reason.as_str().to_owned())),
        }
    }

    /// Applies an event.
    ///
    /// * A revocation of an active program starts probation; of a program
    ///   already on probation it is a replay (the window is not extended).
    /// * Re-authorisation within the window clears probation; of an active
    ///   program it is a replay.
    /// * The sweep archives a program whose window has passed, and leaves
    ///   everything else unchanged.
    ///
    /// # Errors
    /// [`TransitionError`] for events that do not apply (e.g. anything but a
    /// sweep on an archived program, or re-authorising after the window).
    pub fn apply(&self, event: ProgramEvent) -> Result<Program, TransitionError> {
        let status = match (self.status, event) {
            (ProgramStatus::Active, ProgramEvent::MerchantRevoked { at }) => {
                ProgramStatus::Probation {
                    until: at.saturating_add(PROBATION_WINDOW),
                }
            }
            (ProgramStatus::Probation { until }, ProgramEvent::MerchantRevoked { .. }) => {
                ProgramStatus::Probation { until }
            }
            (ProgramStatus::Probation { until }, ProgramEvent::MerchantReauthorized { at })
                if at < until =>
            {
                ProgramStatus::Active
            }
            (ProgramStatus::Active, ProgramEvent::MerchantReauthorized { .. }) => {
                ProgramStatus::Active
            }
            (ProgramStatus::Probation { until }, ProgramEvent::ProbationSweep { now }) => {
                if now >= until {
                    ProgramStatus::Archived
                } else {
                    ProgramStatus::Probation { until }
                }
            }
            (
                status @ (ProgramStatus::Active | ProgramStatus::Archived),
                ProgramEvent::ProbationSweep { .. },
            ) => status,
            (
                status @ (ProgramStatus::Active | ProgramStatus::Probation { .. }),
                ProgramEvent::Hold(reason),
            ) => {
                return Ok(Program {
                    status,
                    hold: Some(reason),
                    ..self.clone()
                });
            }
            (
                status @ (ProgramStatus::Active | ProgramStatus::Probation { .. }),
                ProgramEvent::Release,
            ) => {
                return Ok(Program {
                    status,
                    hold: None,
                    ..self.clone()
                });
            }
            (status, event) => {
                return Err(TransitionError {
                    entity: "program",
                    from: status.as_str().to_owned(),
                    event: format!("{event:?}"),
                });
            }
        };
        Ok(Program {
            status,
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;
    use time::macros::datetime;
    use uuid::Uuid;

    fn settings() -> ProgramSettings {
        ProgramSettings {
            name: "Partners".into(),
            currency: Currency::USD,
            commission_rule: CommissionRule::flat(
                CommissionAmount::Percent {
                    percent: Percent::new(dec!(20)).unwrap(),
                    rounding: Rounding::HalfEven,
                },
                None,
            ),
            holding_days: 30,
            minimum_payout: Money::new(5000, Currency::USD),
            payout_policy: PayoutPolicy::AutoUnderCap {
                cap: Money::new(100_000, Currency::USD),
            },
            coupon_sync: CouponSyncMode::Stripe,
            minimum_payouts: BTreeMap::new(),
            payout_countries: vec!["US".into()],
        }
    }

    fn program(s: ProgramSettings) -> Program {
        Program::create(
            ProgramId::from_uuid(Uuid::nil()),
            MerchantId::parse("m").unwrap(),
            s,
            datetime!(2026-03-01 0:00 UTC),
        )
        .unwrap()
    }

    #[test]
    fn payout_countries_are_validated_and_normalised() {
        let mut s = settings();
        s.payout_countries = vec!["us".into(), "DE".into(), "US".into()];
        let p = program(s.clone());
        assert_eq!(p.settings().payout_countries, ["US", "DE"]);
        assert!(p.pays_country("de"));
        assert!(!p.pays_country("FR"));
        s.payout_countries = vec![];
        assert!(matches!(
            s.validate(),
            Err(DomainError::Validation { ref field, .. }) if field == "payout_countries"
        ));
        s.payout_countries = vec!["BR".into()];
        assert!(
            Program::create(
                ProgramId::from_uuid(Uuid::nil()),
                MerchantId::parse("m").unwrap(),
                s.clone(),
                datetime!(2026-03-01 0:00 UTC),
            )
            .is_err()
        );
        // Updates are checked too.
        assert!(p.update(s).is_err());
    }

    #[test]
    fn the_effective_minimum_is_the_larger_of_program_and_currency() {
        let mut s = settings();
        // Program minimum 50.00 beats the USD default of 0.50.
        let p = program(s.clone());
        assert_eq!(
            p.currency_minimum(Currency::USD),
            Money::new(50, Currency::USD)
        );
        assert_eq!(
            p.effective_minimum(Currency::USD).unwrap(),
            Money::new(5000, Currency::USD)
        );
        // An override above the program minimum wins.
        s.minimum_payouts = BTreeMap::from([(Currency::USD, 7_500)]);
        let p = program(s.clone());
        assert_eq!(
            p.effective_minimum(Currency::USD).unwrap(),
            Money::new(7_500, Currency::USD)
        );
        // With no program minimum, the default table applies.
        s.minimum_payout = Money::zero(Currency::USD);
        s.minimum_payouts = BTreeMap::new();
        let p = program(s.clone());
        assert_eq!(
            p.effective_minimum(Currency::USD).unwrap(),
            Money::new(50, Currency::USD)
        );
        // An override of 0 removes the default floor.
        s.minimum_payouts = BTreeMap::from([(Currency::USD, 0)]);
        let p = program(s.clone());
        assert_eq!(
            p.effective_minimum(Currency::USD).unwrap(),
            Money::zero(Currency::USD)
        );
        // Another currency than the program's is an error, not a silent 0.
        assert!(p.effective_minimum(Currency::EUR).is_err());
        s.minimum_payouts = BTreeMap::from([(Currency::EUR, -5)]);
        assert!(s.validate().is_err());
    }

    #[test]
    fn cap_must_share_the_currency() {
        let mut s = settings();
        s.payout_policy = PayoutPolicy::AutoUnderCap {
            cap: Money::new(1, Currency::EUR),
        };
        assert!(matches!(s.validate(), Err(DomainError::Validation { .. })));
        let policy = PayoutPolicy::AutoUnderCap {
            cap: Money::new(100, Currency::USD),
        };
        assert!(
            policy
                .auto_approves(&Money::new(100, Currency::EUR))
                .is_err()
        );
        assert!(
            policy
                .auto_approves(&Money::new(100, Currency::USD))
                .unwrap()
        );
        assert!(
            !policy
                .auto_approves(&Money::new(101, Currency::USD))
                .unwrap()
        );
        assert!(
            !PayoutPolicy::Manual
                .auto_approves(&Money::new(0, Currency::USD))
                .unwrap()
        );
        assert!(
            PayoutPolicy::AutoAll
                .auto_approves(&Money::new(i64::MAX, Currency::USD))
                .unwrap()
        );
    }

    #[test]
    fn probation_lifecycle() {
        let t0 = datetime!(2026-03-01 0:00 UTC);
        let p = Program::create(
            ProgramId::from_uuid(Uuid::nil()),
            MerchantId::parse("m").unwrap(),
            settings(),
            t0,
        )
        .unwrap();
        let on = p.apply(ProgramEvent::MerchantRevoked { at: t0 }).unwrap();
        let until = t0 + PROBATION_WINDOW;
        assert_eq!(on.status, ProgramStatus::Probation { until });
        assert!(on.payout_block().is_some());
        // A later revocation does not extend the window.
        let again = on
            .apply(ProgramEvent::MerchantRevoked {
                at: t0 + Duration::days(1),
            })
            .unwrap();
        assert_eq!(again.status, ProgramStatus::Probation { until });
        // Sweep before the window: nothing; after: archived.
        assert_eq!(
            on.apply(ProgramEvent::ProbationSweep {
                now: until - Duration::seconds(1)
            })
            .unwrap()
            .status,
            on.status
        );
        let archived = on
            .apply(ProgramEvent::ProbationSweep { now: until })
            .unwrap();
        assert_eq!(archived.status, ProgramStatus::Archived);
        assert!(
            archived
                .apply(ProgramEvent::MerchantReauthorized { at: until })
                .is_err()
        );
        // Re-auth inside the window clears it.
        let back = on
            .apply(ProgramEvent::MerchantReauthorized {
                at: t0 + Duration::days(6),
            })
            .unwrap();
        assert_eq!(back.status, ProgramStatus::Active);
        // Re-auth after the window is refused even before the sweep ran.
        assert!(
            on.apply(ProgramEvent::MerchantReauthorized { at: until })
                .is_err()
        );
    }
}
