//! `AuditStore`: the append-only audit trail. This module only inserts and
//! selects; the table's triggers refuse any `UPDATE` or `DELETE` of it
//! (`migration::AuditEvents`), whoever sends one.

use async_trait::async_trait;
use payouts_domain::StoreError;
use payouts_domain::audit::{Actor, AuditEvent, AuditFilter};
use payouts_domain::ids::{AuditEventId, MerchantId};
use payouts_domain::ports::{AuditStore, Page, PageRequest};
use sea_orm::{ActiveValue, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::{decode_all, page, probe_limit};
use crate::SeaOrmStore;
use crate::codec::{from_json, from_ts, from_wire, json, ts, wire};
use crate::entity::audit_event;
use crate::error::{DbResultExt, corrupt};

/// An optional JSON value as stored text.
fn json_opt(value: Option<&serde_json::Value>) -> Result<Option<String>, StoreError> {
    value.map(json).transpose()
}

impl TryFrom<audit_event::Model> for AuditEvent {
    type Error = StoreError;
    fn try_from(m: audit_event::Model) -> Result<Self, StoreError> {
        Ok(AuditEvent {
            id: AuditEventId::from_uuid(m.id),
            at: from_ts(m.at_ns)?,
            actor: Actor {
                kind: from_wire("audit actor kind", &m.actor_kind)?,
                subject: m.actor_subject,
                roles: from_json("audit actor roles", &m.actor_roles)?,
            },
            merchant_id: m
                .merchant_id
                .map(|id| MerchantId::parse(id).map_err(|e| corrupt("audit merchant id", e)))
                .transpose()?,
            action: from_wire("audit action", &m.action)?,
            object_id: m.object_id,
            before: m
                .before_json
                .map(|t| from_json("audit before", &t))
                .transpose()?,
            after: m
                .after_json
                .map(|t| from_json("audit after", &t))
                .transpose()?,
            request_id: m.request_id,
        })
    }
}

#[async_trait]
impl AuditStore for SeaOrmStore {
    async fn append_audit_event(&self, event: &AuditEvent) -> Result<(), StoreError> {
        audit_event::Entity::insert(audit_event::ActiveModel {
            seq: ActiveValue::NotSet,
            id: ActiveValue::Set(event.id.as_uuid()),
            at_ns: ActiveValue::Set(ts(event.at)?),
            actor_kind: ActiveValue::Set(event.actor.kind.as_str().to_owned()),
            actor_subject: ActiveValue::Set(event.actor.subject.clone()),
            actor_roles: ActiveValue::Set(json(&event.actor.roles)?),
            merchant_id: ActiveValue::Set(event.merchant_id.as_ref().map(|m| m.to_string())),
            action: ActiveValue::Set(wire(&event.action)?),
            object_type: ActiveValue::Set(event.object_type().to_owned()),
            object_id: ActiveValue::Set(event.object_id.clone()),
            before_json: ActiveValue::Set(json_opt(event.before.as_ref())?),
            after_json: ActiveValue::Set(json_opt(event.after.as_ref())?),
            request_id: ActiveValue::Set(event.request_id.clone()),
        })
        .exec_without_returning(self.db())
        .await
        .or_duplicate("audit event", || event.id.to_string())?;
        Ok(())
    }

    async fn audit_events(
        &self,
        filter: &AuditFilter,
        request: PageRequest,
    ) -> Result<Page<AuditEvent>, StoreError> {
        let mut query = audit_event::Entity::find();
        if let Some(merchant) = &filter.merchant_id {
            query = query.filter(audit_event::Column::MerchantId.eq(merchant.as_str()));
        }
        if let Some(action) = filter.action {
            query = query.filter(audit_event::Column::Action.eq(action.as_str()));
        }
        if let Some(object) = &filter.object_id {
            query = query.filter(audit_event::Column::ObjectId.eq(object.as_str()));
        }
        if let Some(subject) = &filter.actor_subject {
            query = query.filter(audit_event::Column::ActorSubject.eq(subject.as_str()));
        }
        if let Some(kind) = filter.actor_kind {
            query = query.filter(audit_event::Column::ActorKind.eq(kind.as_str()));
        }
        if let Some(from) = filter.from {
            query = query.filter(audit_event::Column::AtNs.gte(ts(from)?));
        }
        if let Some(to) = filter.to {
            query = query.filter(audit_event::Column::AtNs.lte(ts(to)?));
        }
        if let Some(after) = request.after {
            let Some(cursor) = audit_event::Entity::find()
                .filter(audit_event::Column::Id.eq(after))
                .one(self.db())
                .await
                .or_unavailable()?
            else {
                // An unknown cursor: nothing follows it.
                return Ok(Page {
                    data: Vec::new(),
                    has_more: false,
                });
            };
            query = query.filter(audit_event::Column::Seq.lt(cursor.seq));
        }
        let models = query
            .order_by_desc(audit_event::Column::Seq)
            .limit(probe_limit(request.limit()))
            .all(self.db())
            .await
            .or_unavailable()?;
        Ok(page(decode_all(models)?, request.limit()))
    }
}
