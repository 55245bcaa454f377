//! `/dashboard/audit`: the audit trail for a person. Who did what to which
//! object and when, newest first, with what changed; filters by action,
//! object and person, and "Older" pages. A merchant's staff see their
//! merchant's entries; the platform's operators see every merchant's and
//! the platform's own. Read-only: entries are written by the engine.

use actix_web::{HttpResponse, web};
use askama::Template;
use payouts_domain::audit::{AuditAction, AuditEvent, AuditFilter, MAX_TEXT_LEN};
use payouts_domain::ports::PageRequest;
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, may_act, render};
use crate::error::ConsoleError;
use crate::format;
use crate::session::Signed;

/// Entries per page.
const PAGE: u32 = 25;

/// The page's query: filters and the cursor. Blank fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub struct AuditQuery {
    #[serde(default)]
    action: Option<String>,
    #[serde(default)]
    object_id: Option<String>,
    #[serde(default)]
    actor: Option<String>,
    #[serde(default)]
    after: Option<String>,
}

/// One field that changed, or that the action produced.
struct Change {
    field: String,
    before: String,
    after: String,
}

struct Row {
    when: String,
    when_iso: String,
    subject: String,
    actor_kind: &'static str,
    roles: String,
    action: &'static str,
    words: &'static str,
    object_type: &'static str,
    object_id: String,
    object_path: Option<String>,
    merchant: String,
    request_id: String,
    changes: Vec<Change>,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    layout: Layout,
    actions: Vec<(&'static str, &'static str, bool)>,
    object_id: String,
    actor: String,
    rows: Vec<Row>,
    older_path: Option<String>,
    filtered: bool,
    platform: bool,
}

/// The action in plain words.
fn words(action: AuditAction) -> &'static str {
    match action {
        AuditAction::ConnectionConnected => "Connected the Stripe account",
        AuditAction::ConnectionRevoked => "Stripe account disconnected",
        AuditAction::ProgramCreated => "Created a program",
        AuditAction::ProgramUpdated => "Changed a program's settings",
        AuditAction::PeriodFinalized => "Finalized a period's commissions",
        AuditAction::BatchBuilt => "Built a payout batch",
        AuditAction::BatchApproved => "Approved a payout batch",
        AuditAction::BatchExecuted => "Started paying a batch",
        AuditAction::BatchRefreshed => "Refreshed a batch from Stripe",
        AuditAction::ItemRetried => "Retried a failed payout",
        AuditAction::FeeScheduleUpdated => "Changed the platform fees",
        AuditAction::LoginLinkIssued => "Issued a console sign-in link",
        AuditAction::WebhookEndpointCreated => "Added a webhook endpoint",
        AuditAction::WebhookEndpointDeleted => "Deleted a webhook endpoint",
        AuditAction::WebhookEndpointSecretRotated => "Rotated a webhook signing secret",
        AuditAction::CommissionHeld => "Held a commission for review",
        AuditAction::CommissionReleased => "Released a held commission",
        AuditAction::CommissionRejected => "Rejected a held commission",
        AuditAction::ConversionRefunded => "Refunded a sale",
        AuditAction::ConversionCancelled => "Cancelled a sale",
        AuditAction::ConversionCorrected => "Corrected what a sale earns",
    }
}

/// A value as a person reads it: strings bare, the rest as compact JSON.
fn shown(value: Option<&serde_json::Value>) -> String {
    match value {
        None | Some(serde_json::Value::Null) => "—".to_owned(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    }
}

/// The top-level fields that differ between `before` and `after` (every
/// field of whichever is present when the other is not).
fn changes(before: Option<&serde_json::Value>, after: Option<&serde_json::Value>) -> Vec<Change> {
    let empty = serde_json::Map::new();
    let b = before
        .and_then(serde_json::Value::as_object)
        .unwrap_or(&empty);
    let a = after
        .and_then(serde_json::Value::as_object)
        .unwrap_or(&empty);
    let mut fields: Vec<&String> = b.keys().chain(a.keys()).collect();
    fields.sort();
    fields.dedup();
    fields
        .into_iter()
        .filter(|f| b.get(*f) != a.get(*f))
        .map(|f| Change {
            field: f.clone(),
            before: shown(b.get(f)),
            after: shown(a.get(f)),
        })
        // A field absent on one side and null on the other did not change.
        .filter(|c| c.before != c.after)
        .collect()
}

fn object_path(e: &AuditEvent) -> Option<String> {
    match e.object_type() {
        "batch" => Some(format!("/dashboard/partners/batches/{}", e.object_id)),
        "program" => Some(super::program::program_path(
            payouts_domain::ids::ProgramId::parse(&e.object_id).ok()?,
        )),
        _ => None,
    }
}

fn row(e: AuditEvent) -> Row {
    let changes = changes(e.before.as_ref(), e.after.as_ref());
    Row {
        when: format::date_time(e.at),
        when_iso: e
            .at
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        actor_kind: e.actor.kind.as_str(),
        roles: e.actor.roles.join(", "),
        action: e.action.as_str(),
        words: words(e.action),
        object_type: e.object_type(),
        object_path: object_path(&e),
        merchant: e
            .merchant_id
            .as_ref()
            .map_or_else(|| "platform".to_owned(), ToString::to_string),
        request_id: e.request_id.clone().unwrap_or_else(|| "—".to_owned()),
        subject: e.actor.subject,
        object_id: e.object_id,
        changes,
    }
}

/// A text filter: blank is none; longer than the trail keeps is refused.
fn text(raw: Option<&str>, what: &str) -> Result<Option<String>, ConsoleError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(t) if t.len() > MAX_TEXT_LEN => Err(ConsoleError::Invalid(format!(
            "The {what} filter is longer than {MAX_TEXT_LEN} characters."
        ))),
        Some(t) => Ok(Some(t.to_owned())),
    }
}

fn query_string(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (k, v) in pairs.iter().filter(|(_, v)| !v.is_empty()) {
        out.push(if out.is_empty() { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&urlencoding(v));
    }
    out
}

/// Percent-encodes a query value (everything but unreserved characters).
fn urlencoding(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `GET /dashboard/audit`.
///
/// # Errors
/// [`ConsoleError::Forbidden`] for a person who may not act;
/// [`ConsoleError::Invalid`] for an unknown action or a bad cursor.
pub async fn page(
    state: web::Data<AppState>,
    signed: Signed,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ConsoleError> {
    if !may_act(&signed) {
        return Err(ConsoleError::Forbidden);
    }
    let action =
        match query.action.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(name) => Some(AuditAction::parse(name).map_err(|_| {
                ConsoleError::Invalid(format!("There is no action called “{name}”."))
            })?),
        };
    let object_id = text(query.object_id.as_deref(), "object")?;
    let actor = text(query.actor.as_deref(), "person")?;
    let after = match query.after.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            payouts_domain::ids::AuditEventId::parse(raw)
                .map_err(|_| {
                    ConsoleError::Invalid(
                        "That page link is broken; start from the newest.".to_owned(),
                    )
                })?
                .as_uuid(),
        ),
    };
    let filter = AuditFilter {
        merchant_id: (!signed.is_platform()).then(|| signed.merchant().clone()),
        action,
        object_id: object_id.clone(),
        actor_subject: actor.clone(),
        ..AuditFilter::default()
    };
    let page = state
        .engine
        .audit_events(&filter, PageRequest { limit: PAGE, after })
        .await?;
    let action_name = action.map(AuditAction::as_str).unwrap_or_default();
    let object_text = object_id.clone().unwrap_or_default();
    let actor_text = actor.clone().unwrap_or_default();
    let older_path = match (page.has_more, page.data.last()) {
        (true, Some(last)) => Some(format!(
            "/dashboard/audit{}",
            query_string(&[
                ("action", action_name),
                ("object_id", &object_text),
                ("actor", &actor_text),
                ("after", &last.id.to_string()),
            ])
        )),
        _ => None,
    };
    render(&AuditPage {
        layout: Layout::signed("Audit trail", &signed),
        actions: AuditAction::ALL
            .into_iter()
            .map(|a| (a.as_str(), words(a), Some(a) == action))
            .collect(),
        object_id: object_text,
        actor: actor_text,
        filtered: action.is_some() || object_id.is_some() || actor.is_some() || after.is_some(),
        rows: page.data.into_iter().map(row).collect(),
        older_path,
        platform: signed.is_platform(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_list_the_fields_that_differ() {
        let before = serde_json::json!({"state": "draft", "total": 5, "same": "x", "gone": null});
        let after =
            serde_json::json!({"state": "approved", "total": 5, "same": "x", "new": {"a": 1}});
        let c = changes(Some(&before), Some(&after));
        let fields: Vec<_> = c.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, vec!["new", "state"]);
        assert_eq!(
            (c[1].before.as_str(), c[1].after.as_str()),
            ("draft", "approved")
        );
        assert_eq!(c[0].before, "—");
        assert_eq!(c[0].after, r#"{"a":1}"#);
        assert_eq!(
            query_string(&[("a", "x y/é"), ("b", "")]),
            "?a=x%20y%2F%C3%A9"
        );
    }
}
