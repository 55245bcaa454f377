//! `ProgramStore` over the in-memory state.

use async_trait::async_trait;
use time::OffsetDateTime;

use super::{InMemoryStore, conflict, not_found, page_of};
use crate::error::StoreError;
use crate::ids::{MerchantId, ProgramId};
use crate::memory::lock;
use crate::ports::{Page, PageRequest, ProgramStore};
use crate::program::{HoldReason, Program, ProgramStatus};

#[async_trait]
impl ProgramStore for InMemoryStore {
    async fn programs_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<Program>, StoreError> {
        let state = lock(&self.state);
        Ok(page_of(&state.programs, page, ProgramId::from, |p| {
            &p.merchant_id == merchant
        }))
    }

    async fn insert_program(&self, program: &Program) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        if state.programs.contains_key(&program.id) {
            return Err(StoreError::Duplicate {
                entity: "program",
                key: program.id.to_string(),
            });
        }
        state.programs.insert(program.id, program.clone());
        Ok(())
    }

    async fn program(&self, id: ProgramId) -> Result<Option<Program>, StoreError> {
        Ok(lock(&self.state).programs.get(&id).cloned())
    }

    async fn programs_of(&self, merchant: &MerchantId) -> Result<Vec<Program>, StoreError> {
        Ok(lock(&self.state)
            .programs
            .values()
            .filter(|p| p.merchant_id == *merchant)
            .cloned()
            .collect())
    }

    async fn probation_expired(&self, now: OffsetDateTime) -> Result<Vec<Program>, StoreError> {
        Ok(lock(&self.state)
            .programs
            .values()
            .filter(|p| matches!(p.status, ProgramStatus::Probation { until } if until <= now))
            .cloned()
            .collect())
    }

    async fn active_programs(&self) -> Result<Vec<Program>, StoreError> {
        Ok(lock(&self.state)
            .programs
            .values()
            .filter(|p| p.status == ProgramStatus::Active)
            .cloned()
            .collect())
    }

    async fn update_program(
        &self,
        next: &Program,
        expected_status: &ProgramStatus,
        expected_hold: Option<HoldReason>,
    ) -> Result<(), StoreError> {
        let mut state = lock(&self.state);
        let stored = state
            .programs
            .get_mut(&next.id)
            .ok_or_else(|| not_found("program", next.id))?;
        if stored.status != *expected_status || stored.hold != expected_hold {
            return Err(conflict(
                "program",
                next.id,
                expected_status.as_str(),
                stored.status.as_str(),
            ));
        }
        *stored = next.clone();
        Ok(())
    }
}
