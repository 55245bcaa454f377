//! Partner statements: what one paid payout item pays, line by line (each
//! commission with its conversion, and the adjustments that net against
//! it), the carry-overs whose money it finally pays, and a month's sum of
//! such items.
//!
//! A commission stores what it earned (`original_amount`), what it pays
//! now (`amount`) and the rule it was earned under (`rule`, kept since
//! reward rules exist; the program's rule can change, and a statement must
//! not restate an old commission at a new rate). Each line also shows the
//! effective rate, `original_amount / sale`, for an earned line whose
//! conversion is known.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::batch::CarryReason;
use crate::commission::{Commission, CommissionKind, Conversion};
use crate::error::DomainError;
use crate::ids::{BatchId, CommissionId, ConversionId, ExternalId, PartnerId};
use crate::item::{ItemState, PayoutItem};
use crate::money::{Money, MoneyError};
use crate::period::Period;
use crate::reward::AppliedRule;

/// One commission paid by an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementLine {
    /// The commission.
    pub commission_id: CommissionId,
    /// Earned, or an adjustment (with what it corrects and why).
    pub kind: CommissionKind,
    /// The conversion it comes from.
    pub conversion_id: ConversionId,
    /// The merchant's id of that conversion (order, invoice), when the
    /// conversion row is known.
    pub conversion_external_id: Option<ExternalId>,
    /// When the sale happened.
    #[serde(with = "time::serde::rfc3339::option")]
    pub conversion_at: Option<OffsetDateTime>,
    /// The sale's amount.
    pub sale: Option<Money>,
    /// The ledger period of the commission.
    pub period: Period,
    /// When the commission was earned, or the adjustment made.
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// Percent of the sale the commission earned (earned lines only, two
    /// decimals, half-even).
    pub effective_rate: Option<Decimal>,
    /// The reward rule it was earned under (earned lines recorded since
    /// rules are kept).
    #[serde(default)]
    pub rule: Option<AppliedRule>,
    /// What it earned when made.
    pub original_amount: Money,
    /// What it pays in this item (negative for a clawback).
    pub amount: Money,
}

impl StatementLine {
    /// The line of `commission`, from `conversion` when it is known.
    pub fn of(commission: &Commission, conversion: Option<&Conversion>) -> StatementLine {
        let effective_rate = match (commission.kind, conversion) {
            (CommissionKind::Earned, Some(c)) => rate(&commission.original_amount, &c.amount),
            (CommissionKind::Earned, None) | (CommissionKind::Adjustment { .. }, _) => None,
        };
        StatementLine {
            commission_id: commission.id,
            kind: commission.kind,
            conversion_id: commission.conversion_id,
            conversion_external_id: conversion.map(|c| c.external_id.clone()),
            conversion_at: conversion.map(|c| c.occurred_at),
            sale: conversion.map(|c| c.amount),
            period: commission.period,
            created_at: commission.created_at,
            effective_rate,
            rule: commission.rule.clone(),
            original_amount: commission.original_amount,
            amount: commission.amount,
        }
    }

    /// True for an adjustment line.
    pub const fn is_adjustment(&self) -> bool {
        match self.kind {
            CommissionKind::Adjustment { .. } => true,
            CommissionKind::Earned => false,
        }
    }
}

/// `earned / sale` in percent, two decimals; none for a zero sale or
/// another currency.
fn rate(earned: &Money, sale: &Money) -> Option<Decimal> {
    if earned.currency() != sale.currency() || sale.amount_minor() == 0 {
        return None;
    }
    Decimal::from(earned.amount_minor())
        .checked_mul(Decimal::ONE_HUNDRED)?
        .checked_div(Decimal::from(sale.amount_minor()))
        .map(|r| r.round_dp(2).normalize())
}

/// A partner balance carried by an earlier batch and paid by this item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementCarry {
    /// The batch that carried it.
    pub batch_id: BatchId,
    /// That batch's period.
    pub period: Period,
    /// The net carried (negative for a debt).
    pub amount: Money,
    /// How many commission rows it held.
    pub commission_count: u32,
    /// Why it was carried.
    pub reason: CarryReason,
}

/// The statement of one paid item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    /// The item (its state says posted or reversed).
    pub item: PayoutItem,
    /// The period of the batch that paid it.
    pub period: Period,
    /// When its transfer posted.
    #[serde(with = "time::serde::rfc3339")]
    pub paid_at: OffsetDateTime,
    /// Reversed since (zero when not).
    pub reversed: Money,
    /// The commissions it pays, earned lines and adjustments, oldest first.
    pub lines: Vec<StatementLine>,
    /// Balances carried by earlier batches that it pays.
    pub carry_overs: Vec<StatementCarry>,
    /// The sum of the lines: the item's amount.
    pub total: Money,
}

/// When the item's transfer posted and how much was reversed since, or
/// `None` for an item not paid.
pub fn paid(item: &PayoutItem) -> Option<(OffsetDateTime, Money)> {
    match &item.state {
        ItemState::Posted { at, .. } => Some((*at, Money::zero(item.amount.currency()))),
        ItemState::Reversed {
            posted_at,
            amount_reversed,
            ..
        } => Some((*posted_at, *amount_reversed)),
        ItemState::Pending
        | ItemState::Submitting { .. }
        | ItemState::ReconcileRequired { .. }
        | ItemState::Failed { .. } => None,
    }
}

/// Sums the lines, checked, in the item's currency.
///
/// # Errors
/// [`DomainError::Money`] on overflow or a line in another currency.
pub fn total(item: &PayoutItem, lines: &[StatementLine]) -> Result<Money, DomainError> {
    let mut sum = Money::zero(item.amount.currency());
    for line in lines {
        sum = sum.checked_add(&line.amount)?;
    }
    Ok(sum)
}

/// A partner's statements for one month: every item paid (posted) in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyStatement {
    /// The partner.
    pub partner_id: PartnerId,
    /// The month (UTC), by posting date.
    pub period: Period,
    /// One statement per item, oldest payment first.
    pub statements: Vec<Statement>,
    /// Paid per currency (items' amounts; never converted), sorted by currency.
    pub totals: Vec<Money>,
    /// Reversed since, per currency, sorted by currency (empty when none).
    pub reversed: Vec<Money>,
}

/// Adds `amount` to the per-currency `totals`, checked.
///
/// # Errors
/// [`MoneyError`] on overflow.
pub fn add_to(totals: &mut Vec<Money>, amount: Money) -> Result<(), MoneyError> {
    match totals
        .iter_mut()
        .find(|t| t.currency() == amount.currency())
    {
        Some(t) => *t = t.checked_add(&amount)?,
        None => totals.push(amount),
    }
    totals.sort_by_key(Money::currency);
    Ok(())
}
