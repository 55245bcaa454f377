//! `CommissionStore` over the in-memory state.

use std::collections::BTreeMap;

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, add, conflict, finalized_at, not_found, page_of};
use crate::batch::PartnerBalance;
use crate::commission::{Commission, CommissionState};
use crate::error::StoreError;
use crate::ids::{CommissionId, ConversionId, MembershipId, ProgramId};
use crate::memory::lock;
use crate::money::Money;
use crate::period::Period;
use crate::ports::{CommissionFilter, CommissionStore, LedgerRow, Page, PageRequest};

#[async_trait]
impl CommissionStore for InMemoryStore {
    async fn insert_commission(&self, commission: &Commission) -> Result<(), StoreError> {
        check_storable(commission)?;
        let mut state = lock(&self.state);
        if state.commissions.contains_key(&commission.id) {
            return Err(StoreError::Duplicate {
                entity: "commission",
                key: commission.id.to_string(),
            });
        }
        state.commissions.insert(commission.id, commission.clone());
        Ok(())
    }

    async fn commission(&self, id: CommissionId) -> Result<Option<Commission>, StoreError> {
        Ok(lock(&self.state).commissions.get(&id).cloned())
    }

    async fn commissions_of_conversion(
        &self,
        conversion: ConversionId,
    ) -> Result<Vec<Commission>, StoreError> {
        Ok(lock(&self.state)
            .commissions
            .values()
            .filter(|c| c.conversion_id == conversion)
            .cloned()
            .collect())
    }

    async fn update_commission(
        &self,
        next: &Commission,
        expected_state: &CommissionState,
        expected_amount: &Money,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .commissions
            .get_mut(&next.id)
            .ok_or_else(|| not_found("commission", next.id))?;
        if stored.state != *expected_state || stored.amount != *expected_amount {
            return Err(conflict(
                "commission",
                next.id,
                expected_state.as_str(),
                stored.state.as_str(),
            ));
        }
        *stored = next.clone();
        Ok(())
    }

    async fn finalize_due(
        &self,
        program: ProgramId,
        period: Period,
        now: OffsetDateTime,
    ) -> Result<u64, StoreError> {
        let mut state = lock(&self.state);
        let mut count = 0_u64;
        for c in state.commissions.values_mut() {
            if c.program_id == program
                && c.state == CommissionState::Pending
                && c.period <= period
                && c.hold_until <= now
            {
                c.state = CommissionState::Finalized { at: now };
                count = count.saturating_add(1);
            }
        }
        Ok(count)
    }

    async fn list_commissions(
        &self,
        filter: &CommissionFilter,
        page: PageRequest,
    ) -> Result<Page<Commission>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(
            &state.commissions,
            page,
            CommissionId::from_uuid,
            |c| {
                filter
                    .merchant_id
                    .as_ref()
                    .is_none_or(|m| c.merchant_id == *m)
                    && filter.program_id.is_none_or(|p| c.program_id == p)
                    && filter.partner_id.is_none_or(|p| c.partner_id == p)
                    && filter
                        .state
                        .as_deref()
                        .is_none_or(|s| c.state.as_str() == s)
                    && filter.hold_reason.is_none_or(|r| {
                        matches!(c.state, CommissionState::OnHold { reason, .. } if reason == r)
                    })
                    && filter.period.is_none_or(|p| c.period == p)
                    && filter
                        .payout_item_id
                        .is_none_or(|i| c.payout_item_id == Some(i))
            },
        ))
    }

    async fn partner_balances(
        &self,
        program: ProgramId,
        period: Period,
        as_of: OffsetDateTime,
    ) -> Result<Vec<PartnerBalance>, StoreError> {
        let state = lock(&self.state);
        let mut balances: BTreeMap<MembershipId, PartnerBalance> = BTreeMap::new();
        for c in state.commissions.values() {
            let eligible = c.program_id == program
                && c.payout_item_id.is_none()
                && c.period <= period
                && finalized_at(c).is_some_and(|at| at <= as_of);
            if !eligible {
                continue;
            }
            let entry = balances
                .entry(c.membership_id)
                .or_insert_with(|| PartnerBalance {
                    membership_id: c.membership_id,
                    partner_id: c.partner_id,
                    net: Money::zero(c.amount.currency()),
                    commission_count: 0,
                });
            add(&mut entry.net, &c.amount)?;
            entry.commission_count = entry.commission_count.saturating_add(1);
        }
        Ok(balances.into_values().collect())
    }

    async fn ledger(&self, program: ProgramId) -> Result<Vec<LedgerRow>, StoreError> {
        let state = lock(&self.state);
        let mut rows: BTreeMap<(Period, Option<&'static str>), Money> = BTreeMap::new();
        for c in state.commissions.values() {
            if c.program_id != program || finalized_at(c).is_none() {
                continue;
            }
            let item_state = c
                .payout_item_id
                .and_then(|id| state.items.get(&id))
                .map(|i| i.state.as_str());
            let total = rows
                .entry((c.period, item_state))
                .or_insert_with(|| Money::zero(c.amount.currency()));
            add(total, &c.amount)?;
        }
        Ok(rows
            .into_iter()
            .map(|((period, item_state), amount)| LedgerRow {
                period,
                item_state: item_state.map(str::to_owned),
                amount,
            })
            .collect())
    }

    async fn finalized_totals(
        &self,
        program: ProgramId,
    ) -> Result<Vec<(Period, Money)>, StoreError> {
        let state = lock(&self.state);
        let mut totals: BTreeMap<Period, Money> = BTreeMap::new();
        for c in state.commissions.values() {
            if c.program_id == program && finalized_at(c).is_some() {
                let total = totals
                    .entry(c.period)
                    .or_insert_with(|| Money::zero(c.amount.currency()));
                add(total, &c.amount)?;
            }
        }
        Ok(totals.into_iter().collect())
    }
}

/// A commission's period and instants, as every store can hold them.
pub(super) fn check_storable(c: &Commission) -> Result<(), StoreError> {
    crate::ports::storable::period(c.period)?;
    crate::ports::storable::instant(c.created_at)?;
    crate::ports::storable::instant(c.hold_until)?;
    Ok(())
}
