//! Partner statements: one paid item line by line, and a month of them.

use super::Payouts;
use crate::error::DomainError;
use crate::ids::{MerchantId, PartnerId, PayoutItemId};
use crate::item::PayoutItem;
use crate::period::Period;
use crate::ports::{
    BatchStore, Clock, CommissionFilter, CommissionStore, ConnectGateway, ConversionStore,
    IdGenerator, ItemStore, MAX_PAGE, Page, PageRequest, PayoutGateway,
};
use crate::statement::{
    self, MonthlyStatement, Statement, StatementCarry, StatementLine, add_to, paid,
};

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: ConversionStore + CommissionStore + BatchStore + ItemStore + ?Sized,
    G: PayoutGateway + ConnectGateway + ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// The statement of one of `partner`'s paid items: the commissions it
    /// pays (earned lines with their conversion, adjustments as their own,
    /// negative, lines) and the carry-overs of earlier batches whose money
    /// it pays. With `payer`, only that merchant's items are found.
    ///
    /// # Errors
    /// [`DomainError::NotFound`] for an unknown item, or one of another
    /// partner or merchant (they look the same); [`DomainError::Conflict`]
    /// for an item not paid (yet); [`DomainError::Money`].
    pub async fn statement(
        &self,
        partner: PartnerId,
        item: PayoutItemId,
        payer: Option<&MerchantId>,
    ) -> Result<Statement, DomainError> {
        let not_found = || DomainError::NotFound {
            entity: "payout item",
            id: item.to_string(),
        };
        let item = self
            .store
            .item(item)
            .await?
            .filter(|i| i.partner_id == partner && payer.is_none_or(|p| i.merchant_id == *p))
            .ok_or_else(not_found)?;
        self.statement_of(item).await
    }

    /// The statement of a paid item found by the caller.
    async fn statement_of(&self, item: PayoutItem) -> Result<Statement, DomainError> {
        let (paid_at, reversed) = paid(&item).ok_or_else(|| DomainError::Conflict {
            entity: "payout item",
            id: item.id.to_string(),
            detail: format!("not paid: it is {}", item.state.as_str()),
        })?;
        let batch =
            self.store
                .batch(item.batch_id)
                .await?
                .ok_or_else(|| DomainError::NotFound {
                    entity: "batch",
                    id: item.batch_id.to_string(),
                })?;
        let filter = CommissionFilter {
            merchant_id: Some(item.merchant_id.clone()),
            partner_id: Some(item.partner_id),
            payout_item_id: Some(item.id),
            ..CommissionFilter::default()
        };
        let mut lines = Vec::new();
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let Page { data, has_more } = self.store.list_commissions(&filter, page).await?;
            let last = data.last().map(|c| c.id.as_uuid());
            for commission in data {
                let conversion = self.store.conversion(commission.conversion_id).await?;
                lines.push(StatementLine::of(&commission, conversion.as_ref()));
            }
            match (has_more, last) {
                (true, Some(last)) => page.after = Some(last),
                _ => break,
            }
        }
        lines.sort_by_key(|l| (l.period, l.created_at, l.commission_id));
        // Money carried by an earlier batch reaches this item through the
        // commissions it carried: batches between the oldest line's period
        // and this batch's carried this membership's balance here.
        let oldest = lines.iter().map(|l| l.period).min().unwrap_or(batch.period);
        let mut carry_overs = Vec::new();
        for earlier in self.store.batches_of(item.program_id).await? {
            if earlier.period < oldest || earlier.period >= batch.period {
                continue;
            }
            for carried in earlier
                .carried
                .iter()
                .filter(|c| c.membership_id == item.membership_id)
            {
                carry_overs.push(StatementCarry {
                    batch_id: earlier.id,
                    period: earlier.period,
                    amount: carried.amount,
                    commission_count: carried.commission_count,
                    reason: carried.reason,
                });
            }
        }
        carry_overs.sort_by_key(|c| c.period);
        let total = statement::total(&item, &lines)?;
        Ok(Statement {
            period: batch.period,
            paid_at,
            reversed,
            lines,
            carry_overs,
            total,
            item,
        })
    }

    /// `partner`'s statements for the items paid (posted) in `period`,
    /// UTC, summed per currency. With `payer`, that merchant's items only.
    ///
    /// # Errors
    /// [`DomainError::Money`]; [`DomainError::Unavailable`].
    pub async fn monthly_statement(
        &self,
        partner: PartnerId,
        period: Period,
        payer: Option<&MerchantId>,
    ) -> Result<MonthlyStatement, DomainError> {
        let mut items = Vec::new();
        let mut page = PageRequest::first(MAX_PAGE);
        loop {
            let Page { data, has_more } = self.store.items_of_partner(partner, page).await?;
            let last = data.last().map(|i| i.id.as_uuid());
            items.extend(data.into_iter().filter(|i| {
                payer.is_none_or(|p| i.merchant_id == *p)
                    && paid(i).is_some_and(|(at, _)| Period::containing(at) == period)
            }));
            match (has_more, last) {
                (true, Some(last)) => page.after = Some(last),
                _ => break,
            }
        }
        let mut statements = Vec::with_capacity(items.len());
        let (mut totals, mut reversed) = (Vec::new(), Vec::new());
        for item in items {
            let s = self.statement_of(item).await?;
            add_to(&mut totals, s.item.amount)?;
            if s.reversed.amount_minor() != 0 {
                add_to(&mut reversed, s.reversed)?;
            }
            statements.push(s);
        }
        statements.sort_by_key(|s| (s.paid_at, s.item.id));
        Ok(MonthlyStatement {
            partner_id: partner,
            period,
            statements,
            totals,
            reversed,
        })
    }
}
