//! `BankPayoutStore` over the in-memory state.

use async_trait::async_trait;

use super::InMemoryStore;
use crate::error::StoreError;
use crate::ids::AccountId;
use crate::memory::lock;
use crate::ports::{BankPayout, BankPayoutStore};

#[async_trait]
impl BankPayoutStore for InMemoryStore {
    async fn upsert_bank_payout(&self, payout: &BankPayout) -> Result<(), StoreError> {
        lock(&self.state)
            .bank_payouts
            .insert(payout.payout_id.clone(), payout.clone());
        Ok(())
    }

    async fn bank_payouts(&self, account: &AccountId) -> Result<Vec<BankPayout>, StoreError> {
        let mut payouts: Vec<BankPayout> = lock(&self.state)
            .bank_payouts
            .values()
            .filter(|p| p.account_id == *account)
            .cloned()
            .collect();
        payouts.sort_by_key(|p| std::cmp::Reverse(p.updated_at));
        Ok(payouts)
    }
}
