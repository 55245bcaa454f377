//! `AuditStore`: the append-only audit trail.

use async_trait::async_trait;

use crate::audit::{AuditEvent, AuditFilter};
use crate::error::StoreError;
use crate::ports::{Page, PageRequest};

/// The audit trail. It can only grow: there is deliberately no method that
/// changes or removes an entry, and the SQL store's triggers refuse an
/// `UPDATE` or `DELETE` of its table from any other code too.
#[async_trait]
pub trait AuditStore: Send + Sync {
    /// Appends an entry. Entries list in the order they were appended.
    ///
    /// # Errors
    /// [`StoreError::Duplicate`] when the id exists;
    /// [`StoreError::Unstorable`] for an instant out of range;
    /// [`StoreError::Unavailable`].
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError>;

    /// A keyset page of the entries `filter` matches, newest first;
    /// `page.after` is the id of the last entry of the previous page (an
    /// id no entry has gives an empty page).
    ///
    /// # Errors
    /// [`StoreError::Unstorable`] for a time bound out of range;
    /// [`StoreError::Unavailable`].
    async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError>;
}
