//! `ProgramStore`: programs.

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::error::StoreError;
use crate::ids::{MerchantId, ProgramId};
use crate::program::{HoldReason, Program, ProgramStatus};

use super::{Page, PageRequest};

/// Programs.
#[async_trait]
pub trait ProgramStore: Send + Sync {
    /// Inserts a new program.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`].
    async fn insert_program(&self, program: &Program) -> Result<(), StoreError>;

    /// A program by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn program(&self, id: ProgramId) -> Result<Option<Program>, StoreError>;

    /// Every program of a merchant.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn programs_of(&self, merchant: &MerchantId) -> Result<Vec<Program>, StoreError>;

    /// One keyset page of a merchant's programs, by id.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn programs_page(
        &self,
        merchant: &MerchantId,
        page: PageRequest,
    ) -> Result<Page<Program>, StoreError>;

    /// Programs on probation whose window ended at or before `now`.
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn probation_expired(&self, now: OffsetDateTime) -> Result<Vec<Program>, StoreError>;

    /// Every active program (for the scheduler).
    ///
    /// # Errors
    /// [`StoreError::Unavailable`].
    async fn active_programs(&self) -> Result<Vec<Program>, StoreError>;

    /// Writes `next` if the stored status and hold are `expected_status` and
    /// `expected_hold`.
    ///
    /// # Errors
    /// [`StoreError::Conflict`], [`StoreError::NotFound`].
    async fn update_program(
        &self,
        next: &Program,
        expected_status: &ProgramStatus,
        expected_hold: Option<HoldReason>,
    ) -> Result<(), StoreError>;
}
