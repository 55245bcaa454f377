//! Recording and reading the audit trail ([`crate::audit`]).

use serde::Serialize;

use super::Payouts;
use crate::audit::{Acting, AuditAction, AuditEvent, AuditFilter};
use crate::error::DomainError;
use crate::ids::MerchantId;
use crate::ports::{AuditStore, Clock, IdGenerator, Page, PageRequest};

/// A value as the trail's `before`/`after` JSON. Every value recorded is a
/// domain type whose serialization cannot fail (no map with non-string
/// keys); were one to fail, the entry says so rather than dropping it.
pub(crate) fn snapshot<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value)
        .unwrap_or_else(|e| serde_json::json!({ "unrecorded": e.to_string() }))
}

/// What is recorded of a batch: everything but the carried-over balances,
/// which can be long and never change after the build.
pub(crate) fn batch_snapshot(batch: &crate::batch::PayoutBatch) -> serde_json::Value {
    let mut value = snapshot(batch);
    if let Some(map) = value.as_object_mut() {
        map.remove("carried");
        map.insert(
            "carried_count".to_owned(),
            serde_json::json!(batch.carried.len()),
        );
    }
    value
}

/// One entry to record, before it gets its id and time.
pub(crate) struct Entry<'a> {
    pub action: AuditAction,
    pub merchant_id: Option<&'a MerchantId>,
    pub object_id: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
}

impl<S, G, C, I> Payouts<S, G, C, I>
where
    S: AuditStore + ?Sized,
    G: ?Sized,
    C: Clock,
    I: IdGenerator,
{
    /// Appends `entry` to the trail, done by `acting` now.
    pub(crate) async fn record(
        &self,
        acting: &Acting,
        entry: Entry<'_>,
    ) -> Result<(), DomainError> {
        let event = AuditEvent {
            id: self.ids.next_id(),
            at: self.clock.now(),
            actor: acting.actor.clone(),
            merchant_id: entry.merchant_id.cloned(),
            action: entry.action,
            object_id: entry.object_id,
            before: entry.before,
            after: entry.after,
            request_id: acting.request_id.clone(),
        };
        Ok(self.store.append_audit_event(&event).await?)
    }

    /// A page of the audit trail, newest first. The caller scopes it: a
    /// merchant's caller sets [`AuditFilter::merchant_id`] to its own.
    ///
    /// # Errors
    /// [`DomainError::Validation`] for a time bound out of range;
    /// [`DomainError::Unavailable`].
    pub async fn audit_events(
        &self,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Page<AuditEvent>, DomainError> {
        Ok(self.store.audit_events(filter, page).await?)
    }
}
