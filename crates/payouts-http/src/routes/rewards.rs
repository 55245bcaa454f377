//! Reward rules on the wire (a program's tiers, first-conversions rate,
//! per-product rates and lead amount; the rule a commission was earned
//! under), and corrections of a conversion by id:
//! `POST /api/v1/conversions/{conversion_id}/refunds`, `…/cancel` and
//! `…/corrections`. Each is idempotent with `Idempotency-Key` (the
//! middleware replays the first answer); cancel and corrections are also
//! idempotent by their nature.

use actix_web::{HttpResponse, post, web};
use payouts_domain::commission::Conversion;
use payouts_domain::engine::ConversionChange;
use payouts_domain::ids::{ConversionId, ProductId};
use payouts_domain::money::{Currency, Money, Percent, Rounding};
use payouts_domain::program::{CommissionAmount, CommissionRule};
use payouts_domain::reward::{AppliedRule, FirstConversions, ProductRate, Tier, TierBasis, Tiers};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::routes::PROGRAM_ROLES;
use crate::routes::programs::parse_uuid;
use crate::state::AppState;
use crate::views::{CommissionView, ConversionDto};
use crate::wire::{MoneyDto, currency_code, parse_currency};

/// Registers the correction routes (relative to `/api/v1`).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(refund_conversion)
        .service(cancel_conversion)
        .service(correct_conversion);
}

// ---------------------------------------------------------------- rates

/// How a commission is computed.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum CommissionDto {
    /// A percentage of the sale, e.g. `"20"` or `"12.5"`.
    Percent {
        /// Percent of the sale amount (a decimal string or number).
        #[schema(value_type = String)]
        percent: Decimal,
        /// `half_even` (default), `half_up`, `down` or `up`.
        #[serde(default)]
        #[schema(value_type = Option<String>)]
        rounding: Option<Rounding>,
    },
    /// A fixed amount per conversion, in minor units of the program currency.
    Fixed {
        /// Minor units.
        amount: i64,
        /// The program's currency, lower case (optional on input; when
        /// given it must be the program's).
        #[serde(default)]
        currency: Option<String>,
    },
}

impl CommissionDto {
    /// The domain rate, in `currency` (the program's); `param` names the
    /// field in errors.
    ///
    /// # Errors
    /// 400 for a percentage outside 0..=100 or another currency.
    pub fn to_amount(&self, currency: Currency, param: &str) -> Result<CommissionAmount, ApiError> {
        Ok(match self {
            CommissionDto::Percent { percent, rounding } => CommissionAmount::Percent {
                percent: Percent::new(*percent)
                    .map_err(|e| ApiError::validation(format!("{param}.percent"), e.to_string()))?,
                rounding: rounding.unwrap_or_default(),
            },
            CommissionDto::Fixed {
                amount,
                currency: given,
            } => {
                if let Some(given) = given {
                    let field = format!("{param}.currency");
                    let given = parse_currency(given, &field)?;
                    if given != currency {
                        return Err(ApiError::validation(
                            field,
                            format!(
                                "must be the program currency {}, not {}",
                                currency_code(currency),
                                currency_code(given)
                            ),
                        ));
                    }
                }
                CommissionAmount::Fixed {
                    amount: Money::new(*amount, currency),
                }
            }
        })
    }

    /// The API form of a rate.
    pub fn from_amount(amount: &CommissionAmount) -> Self {
        match amount {
            CommissionAmount::Percent { percent, rounding } => CommissionDto::Percent {
                percent: percent.value(),
                rounding: Some(*rounding),
            },
            CommissionAmount::Fixed { amount } => CommissionDto::Fixed {
                amount: amount.amount_minor(),
                currency: Some(currency_code(amount.currency())),
            },
        }
    }
}

// ---------------------------------------------------------------- rules

/// Tiers by the partner's finalized totals in the program.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TiersDto {
    /// `revenue` (the partner's finalized sales less refunds, in minor
    /// units of the program currency) or `conversions` (their sales with a
    /// finalized commission).
    pub basis: String,
    /// 1 to 20 tiers, thresholds strictly increasing. Below the first, the
    /// base `commission` applies.
    pub steps: Vec<TierDto>,
}

/// One tier.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TierDto {
    /// From this total on (minor units for `revenue`, a count for `conversions`).
    pub from: i64,
    /// The rate from there on.
    pub commission: CommissionDto,
}

/// A rate for each customer's first sales (by `customer_ref`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FirstConversionsDto {
    /// How many of a customer's sales earn it (1 to 1000).
    pub count: u16,
    /// The rate.
    pub commission: CommissionDto,
}

/// The rate for one product.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProductRateDto {
    /// The merchant's product id (the conversion's `product_id`).
    pub product_id: String,
    /// Its rate.
    pub commission: CommissionDto,
}

/// The reward rules of a program's settings, beside the base `commission`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct RewardRulesDto {
    /// Tiers by the partner's running totals; none by default.
    pub tiers: Option<TiersDto>,
    /// A rate for each customer's first sales; none by default.
    pub first_conversions: Option<FirstConversionsDto>,
    /// Per-product rates (at most 100); none by default.
    pub product_rates: Option<Vec<ProductRateDto>>,
    /// The flat amount a lead earns; without it, leads are refused.
    pub lead_commission: Option<MoneyDto>,
}

fn basis(raw: &str) -> Result<TierBasis, ApiError> {
    match raw {
        "revenue" => Ok(TierBasis::Revenue),
        "conversions" => Ok(TierBasis::Conversions),
        other => Err(ApiError::validation(
            "tiers.basis",
            format!("`{other}` is not revenue or conversions"),
        )),
    }
}

impl RewardRulesDto {
    /// The domain rule: `base` and `recurring_months` with these rules.
    /// The domain validates the whole ([`CommissionRule::validate`]).
    ///
    /// # Errors
    /// 400 naming the field at fault.
    pub fn to_rule(
        &self,
        base: CommissionAmount,
        recurring_months: Option<u16>,
        currency: Currency,
    ) -> Result<CommissionRule, ApiError> {
        let tiers = match &self.tiers {
            None => None,
            Some(t) => Some(Tiers {
                basis: basis(&t.basis)?,
                steps: t
                    .steps
                    .iter()
                    .enumerate()
                    .map(|(i, step)| {
                        Ok(Tier {
                            from: step.from,
                            amount: step
                                .commission
                                .to_amount(currency, &format!("tiers.steps[{i}].commission"))?,
                        })
                    })
                    .collect::<Result<_, ApiError>>()?,
            }),
        };
        let first_conversions = match &self.first_conversions {
            None => None,
            Some(f) => Some(FirstConversions {
                count: f.count,
                amount: f
                    .commission
                    .to_amount(currency, "first_conversions.commission")?,
            }),
        };
        let products = self
            .product_rates
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, p)| {
                Ok(ProductRate {
                    product_id: ProductId::parse(p.product_id.clone()).map_err(|e| {
                        ApiError::validation(
                            format!("product_rates[{i}].product_id"),
                            e.to_string(),
                        )
                    })?,
                    amount: p
                        .commission
                        .to_amount(currency, &format!("product_rates[{i}].commission"))?,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        let lead = self
            .lead_commission
            .as_ref()
            .map(|m| m.to_money("lead_commission"))
            .transpose()?;
        Ok(CommissionRule {
            amount: base,
            recurring_months,
            tiers,
            first_conversions,
            products,
            lead,
        })
    }

    /// The API form of a program's rules.
    pub fn from_rule(rule: &CommissionRule) -> Self {
        RewardRulesDto {
            tiers: rule.tiers.as_ref().map(|t| TiersDto {
                basis: t.basis.as_str().to_owned(),
                steps: t
                    .steps
                    .iter()
                    .map(|s| TierDto {
                        from: s.from,
                        commission: CommissionDto::from_amount(&s.amount),
                    })
                    .collect(),
            }),
            first_conversions: rule.first_conversions.map(|f| FirstConversionsDto {
                count: f.count,
                commission: CommissionDto::from_amount(&f.amount),
            }),
            product_rates: (!rule.products.is_empty()).then(|| {
                rule.products
                    .iter()
                    .map(|p| ProductRateDto {
                        product_id: p.product_id.to_string(),
                        commission: CommissionDto::from_amount(&p.amount),
                    })
                    .collect()
            }),
            lead_commission: rule.lead.as_ref().map(MoneyDto::from_money),
        }
    }
}

/// The rule a commission was earned under.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AppliedRuleView {
    /// `base`, `tier`, `first_conversions`, `product` or `lead`.
    pub rule: String,
    /// In words, e.g. `tier 2 (revenue from 300000): 30%`.
    pub description: String,
    /// The rate applied (a lead's flat amount as `fixed`).
    pub rate: CommissionDto,
    /// For `tier`: which tier, counting from 1.
    pub tier: Option<u16>,
    /// For `tier`: `revenue` or `conversions`.
    pub basis: Option<String>,
    /// For `tier`: the tier's threshold.
    pub from: Option<i64>,
    /// For `tier`: the partner's total when the conversion was recorded.
    pub total: Option<i64>,
    /// For `first_conversions`: which of the customer's sales it was.
    pub nth: Option<u32>,
    /// For `first_conversions`: how many earn the rate.
    pub count: Option<u16>,
    /// For `product`: the product.
    pub product_id: Option<String>,
}

impl From<&AppliedRule> for AppliedRuleView {
    fn from(rule: &AppliedRule) -> Self {
        let mut view = AppliedRuleView {
            rule: rule.as_str().to_owned(),
            description: rule.describe(),
            rate: CommissionDto::from_amount(&rule.rate()),
            tier: None,
            basis: None,
            from: None,
            total: None,
            nth: None,
            count: None,
            product_id: None,
        };
        match rule {
            AppliedRule::Tier {
                tier,
                basis,
                from,
                total,
                ..
            } => {
                view.tier = Some(*tier);
                view.basis = Some(basis.as_str().to_owned());
                view.from = Some(*from);
                view.total = Some(*total);
            }
            AppliedRule::FirstConversions { nth, count, .. } => {
                view.nth = Some(*nth);
                view.count = Some(*count);
            }
            AppliedRule::Product { product_id, .. } => {
                view.product_id = Some(product_id.to_string());
            }
            AppliedRule::Base { .. } | AppliedRule::Lead { .. } => {}
        }
        view
    }
}

// ---------------------------------------------------------------- corrections

/// A refund of part or all of a sale.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// How much more is refunded, in minor units (at most what is left of
    /// the sale).
    pub amount: i64,
    /// The sale's currency.
    pub currency: String,
}

/// A correction of what a conversion earns.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectionBody {
    /// What the conversion earns before refunds, in minor units (0 to
    /// 99999999); refunds still reduce it in proportion.
    pub amount: i64,
    /// The sale's currency.
    pub currency: String,
}

/// A conversion after a refund, cancellation or correction.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConversionChangeView {
    /// The conversion as it is now.
    pub conversion: ConversionDto,
    /// Commissions this call changed or added (empty when it changed nothing).
    pub changed: Vec<CommissionView>,
    /// Every commission of the conversion: what it earned and each adjustment.
    pub commissions: Vec<CommissionView>,
}

impl From<&ConversionChange> for ConversionChangeView {
    fn from(c: &ConversionChange) -> Self {
        ConversionChangeView {
            conversion: ConversionDto::from(&c.conversion),
            changed: c.changed.iter().map(CommissionView::from).collect(),
            commissions: c.commissions.iter().map(CommissionView::from).collect(),
        }
    }
}

async fn scoped_conversion(
    state: &AppState,
    principal: &Principal,
    raw: &str,
) -> Result<Conversion, ApiError> {
    let id: ConversionId = parse_uuid(raw, "conversion_id")?;
    let conversion = state.engine.conversion(id).await?;
    principal.scope(&conversion.merchant_id, "conversion")?;
    Ok(conversion)
}

fn money(amount: i64, currency: &str) -> Result<Money, ApiError> {
    Ok(Money::new(amount, parse_currency(currency, "currency")?))
}

/// Refunds part or all of a sale that is not a Stripe charge (Stripe
/// charges' refunds arrive by `charge.refunded`). Before finalization the
/// commission shrinks in proportion (a full refund voids it); after, a
/// negative adjustment nets against the partner's next payout, and after
/// payment it is a debt carried until their earnings clear it. Send an
/// `Idempotency-Key`: each call refunds `amount` more.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/conversions/{conversion_id}/refunds", tag = "conversions",
    params(("conversion_id" = String, Path)), request_body = RefundBody, security(("bearer" = [])),
    responses((status = 200, body = ConversionChangeView), (status = 400), (status = 404)))]
#[post("/conversions/{conversion_id}/refunds")]
pub async fn refund_conversion(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<RefundBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let conversion = scoped_conversion(&state, &principal, &path).await?;
    let amount = money(body.amount, &body.currency)?;
    let change = state
        .engine
        .refund_conversion(
            &conversion.merchant_id,
            conversion.id,
            amount,
            &principal.acting(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConversionChangeView::from(&change)))
}

/// Cancels the order: before finalization the commission is voided; after,
/// an adjustment claws back what remains. Repeating it changes nothing.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/conversions/{conversion_id}/cancel", tag = "conversions",
    params(("conversion_id" = String, Path)), security(("bearer" = [])),
    responses((status = 200, body = ConversionChangeView), (status = 400), (status = 404)))]
#[post("/conversions/{conversion_id}/cancel")]
pub async fn cancel_conversion(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let conversion = scoped_conversion(&state, &principal, &path).await?;
    let change = state
        .engine
        .cancel_conversion_by_id(&conversion.merchant_id, conversion.id, &principal.acting())
        .await?;
    Ok(HttpResponse::Ok().json(ConversionChangeView::from(&change)))
}

/// Corrects what a conversion earns: `amount` replaces what its rule gave
/// (refunds still reduce it in proportion). Before finalization the
/// commission changes (0 voids it); after, a signed adjustment nets the
/// difference against the partner's next payout. The same correction
/// again changes nothing.
///
/// Roles: tenant_admin, payment_admin, manager, integration_admin, platform roles.
#[utoipa::path(post, path = "/api/v1/conversions/{conversion_id}/corrections", tag = "conversions",
    params(("conversion_id" = String, Path)), request_body = CorrectionBody, security(("bearer" = [])),
    responses((status = 200, body = ConversionChangeView), (status = 400), (status = 404)))]
#[post("/conversions/{conversion_id}/corrections")]
pub async fn correct_conversion(
    principal: Principal,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Json<CorrectionBody>,
) -> Result<HttpResponse, ApiError> {
    principal.require(PROGRAM_ROLES)?;
    let conversion = scoped_conversion(&state, &principal, &path).await?;
    let amount = money(body.amount, &body.currency)?;
    let change = state
        .engine
        .correct_conversion(
            &conversion.merchant_id,
            conversion.id,
            amount,
            &principal.acting(),
        )
        .await?;
    Ok(HttpResponse::Ok().json(ConversionChangeView::from(&change)))
}
