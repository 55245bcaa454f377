//! `AuditStore` over the in-memory state: a vector that only grows.

use async_trait::async_trait;

use super::InMemoryStore;
use crate::audit::{AuditEvent, AuditFilter};
use crate::error::StoreError;
use crate::memory::lock;
use crate::ports::{AuditStore, Page, PageRequest, storable};

#[async_trait]
impl AuditStore for InMemoryStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        storable::instant(event.at)?;
        let mut state = lock(&self.state);
        if state.audit.iter().any(|e| e.id == event.id) {
            return Err(StoreError::Duplicate {
                entity: "audit event",
                key: event.id.to_string(),
            });
        }
        state.audit.push(event.clone());
        Ok(())
    }

    async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        filter.from.map(storable::instant).transpose()?;
        filter.to.map(storable::instant).transpose()?;
        let state = lock(&self.state);
        // Newest first; after the cursor's position when there is one.
        let newest_first = state.audit.iter().rev();
        let rest: Vec<&AuditEvent> = match page.after {
            None => newest_first.collect(),
            Some(after) => newest_first
                .skip_while(|e| e.id.as_uuid() != after)
                .skip(1)
                .collect(),
        };
        let limit = usize::try_from(page.limit()).unwrap_or(usize::MAX);
        let mut data: Vec<AuditEvent> = rest
            .into_iter()
            .filter(|e| filter.matches(e))
            .take(limit.saturating_add(1))
            .cloned()
            .collect();
        let has_more = data.len() > limit;
        data.truncate(limit);
        Ok(Page { data, has_more })
    }
}
