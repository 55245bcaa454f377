//! Read models for people: a merchant's overview (programs, recent batches,
//! paid volume per month) and the notifications a merchant or a partner
//! reads, newest first.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Payouts;
use crate::batch::PayoutBatch;
use crate::error::DomainError;
use crate::ids::{MerchantId, PartnerId};
use crate::money::{Currency, Money};
use crate::notification::{Notification, Recipient};
use crate::period::Period;
use crate::ports::{
    BatchStore, Clock, ConnectGateway, IdGenerator, ItemStore, OutboxStore, PageRequest,
    PayoutGateway, ProgramStore,
};
use crate::program::Program;

/// How many programs and batches an overview reads at most.
const OVERVIEW_LIMIT: u32 = 100;

/// What was paid (posted, net of nothing) in one month, in one currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MonthlyVolume {
    /// The batches' period.
    pub period: Period,
    /// The sum of posted items of that period's batches.
    pub paid: Money,
}

/// A merchant's home: its programs, its latest batches, and paid volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MerchantOverview {
    /// The merchant's programs (up to 100), oldest first.
    pub programs: Vec<Program>,
    /// The latest batches across programs, newest first (up to `recent`).
    pub recent_batches: Vec<PayoutBatch>,
    /// Paid volume per month and currency, in period order.
    pub paid_by_month: Vec<MonthlyVolume>,
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ProgramStore + BatchStore + ItemStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The merchant's overview: programs, the `recent` newest batches, and
    /// what each month's batches paid (posted items), summed per currency
    /// with checked arithmetic.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`]; [`DomainError::Money`] on an overflow.
    pub async fn merchant_overview(
        &self,
        merchant: &MerchantId,
        recent: usize,
    ) -> Result<MerchantOverview, DomainError> {
        let programs = self
            .store
            .programs_page(merchant, PageRequest::first(OVERVIEW_LIMIT))
            .await?
            .data;
        let mut batches = Vec::new();
        for program in &programs {
            let mut after = None;
            loop {
                let page = self
                    .store
                    .batches_page(
                        program.id,
                        PageRequest {
                            limit: OVERVIEW_LIMIT,
                            after,
                        },
                    )
                    .await?;
                after = page.data.last().map(|b| b.id.as_uuid());
                batches.extend(page.data);
                if !page.has_more || after.is_none() {
                    break;
                }
            }
        }
        let mut paid: BTreeMap<(Period, Currency), Money> = BTreeMap::new();
        for batch in &batches {
            let mut summary = crate::batch::BatchSummary::empty(batch.currency);
            for total in self.store.item_totals(batch.id).await? {
                summary.add(&total)?;
            }
            let slot = paid
                .entry((batch.period, batch.currency))
                .or_insert_with(|| Money::zero(batch.currency));
            *slot = slot.checked_add(&summary.posted_amount)?;
        }
        batches.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
        batches.truncate(recent);
        Ok(MerchantOverview {
            programs,
            recent_batches: batches,
            paid_by_month: paid
                .into_iter()
                .map(|((period, _), paid)| MonthlyVolume { period, paid })
                .collect(),
        })
    }
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: OutboxStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The notifications the outbox holds for `merchant` (to the merchant
    /// and to its partners), newest first, at most `limit`.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn merchant_notifications(
        &self,
        merchant: &MerchantId,
        limit: usize,
    ) -> Result<Vec<Notification>, DomainError> {
        let mut all = self.store.notifications_of(merchant).await?;
        all.reverse();
        all.truncate(limit);
        Ok(all)
    }

    /// A partner's own notices from `merchant` (paused payouts after a
    /// revocation, a payout sent, a payout that could not be delivered),
    /// newest first, at most `limit`.
    ///
    /// # Errors
    /// [`DomainError::Unavailable`].
    pub async fn partner_notices(
        &self,
        merchant: &MerchantId,
        partner: PartnerId,
        limit: usize,
    ) -> Result<Vec<Notification>, DomainError> {
        let mut mine: Vec<Notification> = self
            .store
            .notifications_of(merchant)
            .await?
            .into_iter()
            .filter(|n| n.recipient == Recipient::Partner(partner))
            .collect();
        mine.reverse();
        mine.truncate(limit);
        Ok(mine)
    }
}
