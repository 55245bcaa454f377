//! `ConversionStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, add, conflict, not_found};
use crate::commission::{Commission, CommissionKind, CommissionState, Conversion};
use crate::error::StoreError;
use crate::ids::{ConversionId, ExternalId, MembershipId, MerchantId, ProgramId};
use crate::memory::lock;
use crate::money::{Currency, Money};
use crate::period::Period;
use crate::ports::{ConversionStore, storable};
use crate::reward::{ConversionKind, PartnerTotals};

#[async_trait]
impl ConversionStore for InMemoryStore {
    async fn insert_conversion(
        &self,
        conversion: &Conversion,
        commission: Option<&Commission>,
    ) -> Result<(), StoreError> {
        // What the SQL adapter could not read back is refused here too.
        storable::instant(conversion.occurred_at)?;
        if let Some(c) = commission {
            super::commissions::check_storable(c)?;
        }
        let mut state = lock(&self.state);
        let duplicate = state.conversions.values().any(|c| {
            c.merchant_id == conversion.merchant_id && c.external_id == conversion.external_id
        });
        if duplicate {
            return Err(StoreError::Duplicate {
                entity: "conversion",
                key: conversion.external_id.to_string(),
            });
        }
        if let Some(c) = commission {
            if state.commissions.contains_key(&c.id) {
                return Err(StoreError::Duplicate {
                    entity: "commission",
                    key: c.id.to_string(),
                });
            }
            state.commissions.insert(c.id, c.clone());
        }
        state.conversions.insert(conversion.id, conversion.clone());
        Ok(())
    }

    async fn conversion(&self, id: ConversionId) -> Result<Option<Conversion>, StoreError> {
        Ok(lock(&self.state).conversions.get(&id).cloned())
    }

    async fn conversion_by_external_id(
        &self,
        merchant: &MerchantId,
        external_id: &ExternalId,
    ) -> Result<Option<Conversion>, StoreError> {
        Ok(lock(&self.state)
            .conversions
            .values()
            .find(|c| c.merchant_id == *merchant && c.external_id == *external_id)
            .cloned())
    }

    async fn conversion_by_payment_ref(
        &self,
        merchant: &MerchantId,
        payment_ref: &str,
    ) -> Result<Option<Conversion>, StoreError> {
        Ok(lock(&self.state)
            .conversions
            .values()
            .find(|c| c.merchant_id == *merchant && c.payment_ref.as_deref() == Some(payment_ref))
            .cloned())
    }

    async fn first_conversion_at(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<Option<OffsetDateTime>, StoreError> {
        Ok(lock(&self.state)
            .conversions
            .values()
            .filter(|c| is_customer_sale(c, program, customer_ref))
            .map(|c| c.occurred_at)
            .min())
    }

    async fn customer_sale_count(
        &self,
        program: ProgramId,
        customer_ref: &str,
    ) -> Result<u64, StoreError> {
        let state = lock(&self.state);
        let n = state
            .conversions
            .values()
            .filter(|c| is_customer_sale(c, program, customer_ref))
            .count();
        Ok(u64::try_from(n).unwrap_or(u64::MAX))
    }

    async fn partner_totals(&self, membership: MembershipId) -> Result<PartnerTotals, StoreError> {
        let state = lock(&self.state);
        let mut conversions = 0_u64;
        let mut revenue = 0_i64;
        for k in state.commissions.values() {
            if k.membership_id != membership
                || k.kind != CommissionKind::Earned
                || !matches!(k.state, CommissionState::Finalized { .. })
            {
                continue;
            }
            let Some(v) = state.conversions.get(&k.conversion_id) else {
                continue;
            };
            if v.kind != ConversionKind::Sale || v.cancelled {
                continue;
            }
            conversions = conversions.saturating_add(1);
            revenue = v
                .amount
                .amount_minor()
                .checked_sub(v.refunded.amount_minor())
                .and_then(|net| revenue.checked_add(net))
                .ok_or_else(|| StoreError::Unavailable("partner revenue overflows".into()))?;
        }
        Ok(PartnerTotals {
            conversions,
            revenue_minor: revenue,
        })
    }

    async fn update_conversion(
        &self,
        next: &Conversion,
        expected: &Conversion,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .conversions
            .get_mut(&next.id)
            .ok_or_else(|| not_found("conversion", next.id))?;
        let view = |c: &Conversion| {
            format!(
                "refunded {}, cancelled {}, corrections {}",
                c.refunded, c.cancelled, c.corrections
            )
        };
        if stored.refunded != expected.refunded
            || stored.cancelled != expected.cancelled
            || stored.corrections != expected.corrections
        {
            return Err(conflict(
                "conversion",
                next.id,
                &view(expected),
                &view(stored),
            ));
        }
        stored.refunded = next.refunded;
        stored.cancelled = next.cancelled;
        stored.corrected_commission = next.corrected_commission;
        stored.corrections = next.corrections;
        Ok(())
    }

    async fn monthly_volume(
        &self,
        merchant: &MerchantId,
        period: Period,
        currency: Currency,
    ) -> Result<Money, StoreError> {
        let state = lock(&self.state);
        let mut total = Money::zero(currency);
        for c in state.conversions.values() {
            if c.merchant_id == *merchant
                && c.amount.currency() == currency
                && Period::containing(c.occurred_at) == period
            {
                add(&mut total, &c.amount)?;
            }
        }
        Ok(total)
    }
}

fn is_customer_sale(c: &Conversion, program: ProgramId, customer_ref: &str) -> bool {
    c.program_id == program
        && c.kind == ConversionKind::Sale
        && c.customer_ref.as_deref() == Some(customer_ref)
}
