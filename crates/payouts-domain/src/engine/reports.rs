//! Read models: the manifest, partner history, the 1099 tally, the ledger
//! invariant.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Payouts;
use crate::batch::ManifestLine;
use crate::error::DomainError;
use crate::ids::{BatchId, MerchantId, PartnerId, ProgramId};
use crate::item::{ItemState, LedgerBucket, PayoutItem, bucket_of};
use crate::money::Money;
use crate::partner::Membership;
use crate::period::Period;
use crate::ports::{
    BatchStore, Clock, CommissionStore, ConnectGateway, IdGenerator, ItemStore, MembershipStore,
    Page, PageRequest, PayoutGateway, ProgramStore,
};
use crate::tax::{self, TaxReport, TaxReportRow, TaxSummary, check_year, tally};

/// The membership whose country decides a partner's 1099 flag: the first of
/// `payer`'s (any merchant's without one). One rule for the partner's
/// summary and the merchant's list.
fn payer_membership<'a>(
    memberships: &'a [Membership],
    payer: Option<&MerchantId>,
) -> Option<&'a Membership> {
    memberships
        .iter()
        .find(|m| payer.is_none_or(|p| m.merchant_id == *p))
}

/// The UTC year an item was paid in (its transfer posted), if it was paid.
fn posted_year(item: &PayoutItem) -> Option<i32> {
    match &item.state {
        ItemState::Posted { at, .. } => Some(at.year()),
        ItemState::Reversed { posted_at, .. } => Some(posted_at.year()),
        ItemState::Pending
        | ItemState::Submitting { .. }
        | ItemState::ReconcileRequired { .. }
        | ItemState::Failed { .. } => None,
    }
}

/// The ledger of one period: `finalized = posted + carried + pending + failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerPeriod {
    /// The period.
    pub period: Period,
    /// Finalized commissions (earned and adjustments).
    pub finalized: Money,
    /// Paid by posted items.
    pub posted: Money,
    /// Not in any item yet.
    pub carried: Money,
    /// In items still open.
    pub pending: Money,
    /// In failed items not yet retried.
    pub failed: Money,
}

impl LedgerPeriod {
    /// True when the four buckets add up to the finalized total.
    pub fn balanced(&self) -> bool {
        let sum = [self.posted, self.carried, self.pending, self.failed]
            .iter()
            .try_fold(Money::zero(self.finalized.currency()), |acc, m| {
                acc.checked_add(m)
            });
        sum.is_ok_and(|s| s == self.finalized)
    }
}

/// The ledger invariant for a program, per period, plus the cross-check of
/// item amounts against the commissions linked to them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerReport {
    /// One row per period.
    pub periods: Vec<LedgerPeriod>,
    /// Per bucket: the items' own amounts and the sum of the commissions
    /// linked to them; equal when every item pays exactly its commissions.
    pub item_cross_check: Vec<(LedgerBucket, Money, Money)>,
}

impl LedgerReport {
    /// True when every period balances and every item bucket matches its commissions.
    pub fn balanced(&self) -> bool {
        self.periods.iter().all(LedgerPeriod::balanced)
            && self
                .item_cross_check
                .iter()
                .all(|(_, items, commissions)| items == commissions)
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + MembershipStore + CommissionStore + BatchStore + ItemStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// A page of the batch's frozen manifest.
    ///
    /// # Errors
    /// [`DomainError::NotFound`].
    pub async fn manifest(
        &self,
        id: BatchId,
        page: PageRequest,
    ) -> Result<Page<ManifestLine>, DomainError> {
        self.batch(id).await?;
        let items = self.store.items(id, page).await?;
        Ok(Page {
            data: items.data.iter().map(ManifestLine::of).collect(),
            has_more: items.has_more,
        })
    }

    /// A page of a partner's payout items, newest first.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn partner_history(
        &self,
        partner: PartnerId,
        page: PageRequest,
    ) -> Result<Page<PayoutItem>, DomainError> {
        Ok(self.store.items_of_partner(partner, page).await?)
    }

    /// The partner's 1099 tally for a calendar year: every payer's payouts,
    /// or only `payer`'s (what one merchant paid them; a merchant must not
    /// see what others paid).
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown partner, or one `payer` has
    /// never enrolled.
    pub async fn tax_summary(
        &self,
        partner: PartnerId,
        year: i32,
        payer: Option<&MerchantId>,
    ) -> Result<TaxSummary, DomainError> {
        let memberships = self.store.memberships_of_partner(partner).await?;
        let country = payer_membership(&memberships, payer)
            .map(|m| m.country.clone())
            .ok_or_else(|| DomainError::NotFound {
                entity: "partner",
                id: partner.to_string(),
            })?;
        let mut items = Vec::new();
        let mut page = PageRequest::first(crate::ports::MAX_PAGE);
        loop {
            let Page { data, has_more } = self.store.items_of_partner(partner, page).await?;
            let last = data.last().map(|i| i.id.as_uuid());
            items.extend(
                data.into_iter()
                    .filter(|i| payer.is_none_or(|p| i.merchant_id == *p)),
            );
            match (has_more, last) {
                (true, Some(last)) => page.after = Some(last),
                _ => break,
            }
        }
        tally(partner, year, &country, &items)
    }

    /// The merchant's 1099 list for a calendar year: each partner the
    /// merchant paid in `year`, tallied by the rule of
    /// [`Payouts::tax_summary`] with the merchant as payer (so a row's
    /// totals are that partner's summary's). Without `all`, only the US
    /// partners paid $600 or more in USD; with it, every paid partner.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a year outside 2000..=9999;
    /// [`DomainError::Money`] when a total overflows.
    pub async fn tax_report(
        &self,
        merchant: &MerchantId,
        year: i32,
        all: bool,
    ) -> Result<TaxReport, DomainError> {
        let year = check_year(year)?;
        // Only the year's items are kept: a merchant's history can be long.
        let mut by_partner: BTreeMap<PartnerId, Vec<PayoutItem>> = BTreeMap::new();
        let mut page = PageRequest::first(crate::ports::MAX_PAGE);
        loop {
            let Page { data, has_more } = self.store.paid_items_of_merchant(merchant, page).await?;
            let last = data.last().map(|i| i.id.as_uuid());
            for item in data {
                if posted_year(&item) == Some(year) {
                    by_partner.entry(item.partner_id).or_default().push(item);
                }
            }
            match (has_more, last) {
                (true, Some(last)) => page.after = Some(last),
                _ => break,
            }
        }
        let mut rows = Vec::with_capacity(by_partner.len());
        for (partner, items) in by_partner {
            let memberships = self.store.memberships_of_partner(partner).await?;
            // An item names a membership of this merchant, so one exists.
            let Some(member) = payer_membership(&memberships, Some(merchant)) else {
                continue;
            };
            rows.push(TaxReportRow {
                summary: tally(partner, year, &member.country, &items)?,
                country: member.country.clone(),
                email: member.email.clone(),
            });
        }
        tax::report(year, all, rows)
    }

    /// Checks `finalized = posted + carried + pending + failed` for every
    /// period of the program, and that the items' amounts equal the sums of
    /// the commissions linked to them.
    ///
    /// # Errors
    /// [`DomainError::NotFound`], [`DomainError::Money`].
    pub async fn check_ledger(&self, program_id: ProgramId) -> Result<LedgerReport, DomainError> {
        let program = self.program(program_id).await?;
        let zero = Money::zero(program.currency);
        let mut periods: BTreeMap<Period, LedgerPeriod> = BTreeMap::new();
        let blank = |period| LedgerPeriod {
            period,
            finalized: zero,
            posted: zero,
            carried: zero,
            pending: zero,
            failed: zero,
        };
        for (period, amount) in self.store.finalized_totals(program_id).await? {
            let row = periods.entry(period).or_insert_with(|| blank(period));
            row.finalized = row.finalized.checked_add(&amount)?;
        }
        let mut by_bucket: BTreeMap<LedgerBucket, Money> = BTreeMap::new();
        for row in self.store.ledger(program_id).await? {
            let bucket = match &row.item_state {
                None => LedgerBucket::Carried,
                Some(state) => bucket_of(state).ok_or_else(|| {
                    DomainError::validation("state", format!("unknown item state {state}"))
                })?,
            };
            let entry = periods
                .entry(row.period)
                .or_insert_with(|| blank(row.period));
            let slot = match bucket {
                LedgerBucket::Posted => &mut entry.posted,
                LedgerBucket::Carried => &mut entry.carried,
                LedgerBucket::Pending => &mut entry.pending,
                LedgerBucket::Failed => &mut entry.failed,
            };
            *slot = slot.checked_add(&row.amount)?;
            if bucket != LedgerBucket::Carried {
                let total = by_bucket.entry(bucket).or_insert(zero);
                *total = total.checked_add(&row.amount)?;
            }
        }
        let mut items_by_bucket: BTreeMap<LedgerBucket, Money> = BTreeMap::new();
        for row in self.store.program_item_totals(program_id).await? {
            let bucket = bucket_of(&row.state).ok_or_else(|| {
                DomainError::validation("state", format!("unknown item state {}", row.state))
            })?;
            let total = items_by_bucket.entry(bucket).or_insert(zero);
            *total = total.checked_add(&row.amount)?;
        }
        let buckets: Vec<LedgerBucket> = items_by_bucket
            .keys()
            .chain(by_bucket.keys())
            .copied()
            .collect();
        let mut item_cross_check = Vec::new();
        for bucket in buckets {
            if item_cross_check.iter().any(|(b, _, _)| *b == bucket) {
                continue;
            }
            let items = items_by_bucket.get(&bucket).copied().unwrap_or(zero);
            let commissions = by_bucket.get(&bucket).copied().unwrap_or(zero);
            item_cross_check.push((bucket, items, commissions));
        }
        Ok(LedgerReport {
            periods: periods.into_values().collect(),
            item_cross_check,
        })
    }
}
