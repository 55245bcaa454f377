//! `ConversionStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, add, conflict, not_found};
use crate::commission::{Commission, Conversion};
use crate::error::StoreError;
use crate::ids::{ConversionId, ExternalId, MerchantId, ProgramId};
use crate::memory::lock;
use crate::money::{Currency, Money};
use crate::period::Period;
use crate::ports::{ConversionStore, storable};

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
            .filter(|c| c.program_id == program && c.customer_ref.as_deref() == Some(customer_ref))
            .map(|c| c.occurred_at)
            .min())
    }

    async fn update_conversion(
        &self,
        next: &Conversion,
        expected_refunded: &Money,
        expected_cancelled: bool,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .conversions
            .get_mut(&next.id)
            .ok_or_else(|| not_found("conversion", next.id))?;
        if stored.refunded != *expected_refunded || stored.cancelled != expected_cancelled {
            return Err(conflict(
                "conversion",
                next.id,
                &format!("refunded {expected_refunded}"),
                &format!("refunded {}", stored.refunded),
            ));
        }
        stored.refunded = next.refunded;
        stored.cancelled = next.cancelled;
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
