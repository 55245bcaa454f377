//! `ProgramStore`.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::ids::{MerchantId, ProgramId};
use payouts_domain::ports::{Page, PageRequest, ProgramStore};
use payouts_domain::program::{HoldReason, Program, ProgramStatus};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use time::OffsetDateTime;

use super::{decode_all, page, probe_limit};
use crate::SeaOrmStore;
use crate::codec::{active, program_row, program_status, ts_bound};
use crate::entity::program;
use crate::error::{DbResultExt, conflict, not_found};

#[async_trait]
impl ProgramStore for SeaOrmStore {
    async fn insert_program(&self, p: &Program) -> Result<(), StoreError> {
        program::Entity::insert(active::<program::ActiveModel, _>(program_row(p)?))
            .exec_without_returning(self.db())
            .await
            .or_duplicate("program", || p.id.to_string())?;
        Ok(())
    }

    async fn program(&self, id: ProgramId) -> Result<Option<Program>, StoreError> {
        program::Entity::find_by_id(id.as_uuid())
            .one(self.db())
            .await
            .or_unavailable()?
            .map(Program::try_from)
            .transpose()
    }

    async fn programs_of(&self, merchant: &MerchantId) -> Result<Vec<Program>, StoreError> {
        decode_all(
            program::Entity::find()
                .filter(program::Column::MerchantId.eq(merchant.as_str()))
                .order_by_asc(program::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn programs_page(
        &self,
        merchant: &MerchantId,
        request: PageRequest,
    ) -> Result<Page<Program>, StoreError> {
        let mut query =
            program::Entity::find().filter(program::Column::MerchantId.eq(merchant.as_str()));
        if let Some(after) = request.after {
            query = query.filter(program::Column::Id.gt(after));
        }
        let models = query
            .order_by_asc(program::Column::Id)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }

    async fn probation_expired(&self, now: OffsetDateTime) -> Result<Vec<Program>, StoreError> {
        decode_all(
            program::Entity::find()
                .filter(program::Column::Status.eq("probation"))
                .filter(program::Column::ProbationUntilNs.lte(ts_bound(now)))
                .order_by_asc(program::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn active_programs(&self) -> Result<Vec<Program>, StoreError> {
        decode_all(
            program::Entity::find()
                .filter(program::Column::Status.eq("active"))
                .order_by_asc(program::Column::Id)
                .all(self.db())
                .await
                .or_unavailable()?,
        )
    }

    async fn update_program(
        &self,
        next: &Program,
        expected_status: &ProgramStatus,
        expected_hold: Option<HoldReason>,
    ) -> Result<(), StoreError> {
        let (status, until) = program_status(expected_status)?;
        let mut update = program::Entity::update_many()
            .set(active::<program::ActiveModel, _>(program_row(next)?))
            .filter(program::Column::Id.eq(next.id.as_uuid()))
            .filter(program::Column::Status.eq(status));
        update = match until {
            Some(until) => update.filter(program::Column::ProbationUntilNs.eq(until)),
            None => update.filter(program::Column::ProbationUntilNs.is_null()),
        };
        update = match expected_hold {
            Some(hold) => update.filter(program::Column::Hold.eq(hold.as_str())),
            None => update.filter(program::Column::Hold.is_null()),
        };
        let changed = update.exec(self.db()).await.or_unavailable()?.rows_affected;
        if changed == 1 {
            return Ok(());
        }
        match self.program(next.id).await? {
            None => Err(not_found("program", next.id)),
            Some(found) => Err(conflict(
                "program",
                next.id,
                &describe(expected_status, expected_hold),
                &describe(&found.status, found.hold),
            )),
        }
    }
}

fn describe(status: &ProgramStatus, hold: Option<HoldReason>) -> String {
    let status = match status {
        ProgramStatus::Probation { until } => format!("probation until {until}"),
        other => other.as_str().to_owned(),
    };
    match hold {
        Some(hold) => format!("{status} (hold {})", hold.as_str()),
        None => status,
    }
}
