//! The OpenAPI 3 document, generated from the handlers' annotations.
//! Each operation's description names the roles allowed to call it.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::routes::{
    audit, batches, holds, login_links, ops, outbox, partner_reports, platform, programs, reports,
    rewards, webhooks,
};

/// The API document served at `/openapi.json`.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Payouts",
        description = "Partner and affiliate commissions paid through Stripe Connect, and the platform API of a Connect marketplace. \
Authenticate with `Authorization: Bearer <JWT>` (HS256; claims `sub`, `roles[]`, `merchant_id`, optional `partner_id`). \
Errors have Stripe's shape `{\"error\":{\"type\",\"code\",\"message\",\"param\"}}`. Every POST accepts `Idempotency-Key`. \
Lists take `limit` (≤ 100) and `starting_after` and return `{data, has_more}`."
    ),
    paths(
        ops::healthz, ops::readyz, ops::metrics,
        webhooks::stripe_webhook,
        platform::create_account, platform::get_account, platform::onboarding_link, platform::dashboard_link,
        platform::create_payment, platform::capture_payment, platform::refund_payment,
        platform::create_transfer, platform::reverse_transfer,
        platform::get_payout_schedule, platform::put_payout_schedule, platform::list_payouts,
        platform::get_fees, platform::put_fees, platform::platform_balance, platform::account_balance,
        platform::list_disputes, platform::dispute_evidence,
        programs::create_program, programs::list_programs, programs::get_program, programs::update_program,
        programs::connect_authorize, programs::connect_callback, programs::connection_card,
        programs::enroll_partner, programs::list_partners, programs::get_partner,
        programs::partner_onboarding_link, programs::partner_dashboard_link, programs::refresh_partner,
        programs::assign_coupon, programs::deactivate_coupon,
        programs::record_conversion, programs::list_commissions, programs::finalize_period,
        rewards::refund_conversion, rewards::cancel_conversion, rewards::correct_conversion,
        holds::hold_commission, holds::release_commission, holds::reject_commission,
        batches::create_batch, batches::list_batches, batches::get_batch, batches::manifest,
        batches::approve_batch, batches::execute_batch, batches::list_items, batches::retry_item,
        batches::refresh_batch, batches::partner_payouts, batches::partner_tax,
        reports::reconciliation,
        partner_reports::tax_report, partner_reports::partner_statement, partner_reports::monthly_statement,
        login_links::create_login_link,
        outbox::create_webhook_endpoint, outbox::list_webhook_endpoints, outbox::get_webhook_endpoint,
        outbox::delete_webhook_endpoint, outbox::rotate_webhook_secret,
        outbox::list_notification_deliveries, outbox::replay_notification,
        audit::list_audit_events,
    ),
    components(schemas(crate::error::ErrorBody, crate::error::ErrorDetail, audit::JsonValue, audit::AuditSnapshot)),
    modifiers(&BearerAuth, &ErrorResponses, &PathParameters),
    tags(
        (name = "platform", description = "Seed 002's Stripe Connect platform API"),
        (name = "programs", description = "Partner programs and payout policy"),
        (name = "connect", description = "The merchant's Stripe Connect OAuth"),
        (name = "partners", description = "Partners, onboarding, payout history, tax"),
        (name = "coupons", description = "Coupon codes (Stripe promotion codes)"),
        (name = "conversions", description = "Conversions"),
        (name = "commissions", description = "Commissions"),
        (name = "periods", description = "Period finalization"),
        (name = "batches", description = "Payout batches"),
        (name = "reports", description = "Reconciliation against Stripe, the merchant's 1099 list and partner statements"),
        (name = "webhooks", description = "Stripe webhooks"),
        (name = "ops", description = "Health, readiness, metrics"),
        (name = "console", description = "Console sign-in links"),
        (name = "outbox", description = "Notifications: the merchant's webhook endpoints, delivery attempts, replay"),
        (name = "audit", description = "The append-only audit trail of operator actions"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

/// Types every path parameter by the one kind of id it takes: our ids are
/// UUIDs; Stripe's carry their prefix (`acct_…`, `pi_…`, `tr_…`, `dp_…`);
/// a period is `YYYY-MM` and a year four digits. What a handler accepts
/// and what the document says then agree for every route.
struct PathParameters;

/// The schema of the path parameter `name`, when it is one we type.
fn path_parameter_schema(name: &str) -> Option<utoipa::openapi::schema::Object> {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaFormat, Type};
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let pattern = |p: &str| string().pattern(Some(p.to_owned())).build();
    Some(match name {
        "program_id" | "batch_id" | "item_id" | "membership_id" | "partner_id" | "endpoint_id"
        | "notification_id" | "conversion_id" | "commission_id" => string()
            .format(Some(SchemaFormat::Custom("uuid".to_owned())))
            .build(),
        "account_id" => pattern("^acct_[A-Za-z0-9]+$"),
        "payment_intent_id" => pattern("^pi_[A-Za-z0-9]+$"),
        "transfer_id" => pattern("^tr_[A-Za-z0-9]+$"),
        "dispute_id" => pattern("^(dp|du)_[A-Za-z0-9]+$"),
        "period" => pattern("^[0-9]{4}-(0[1-9]|1[0-2])$"),
        "year" => ObjectBuilder::new()
            .schema_type(Type::Integer)
            .minimum(Some(2000))
            .maximum(Some(9999))
            .build(),
        "code" => string().min_length(Some(1)).max_length(Some(64)).build(),
        _ => return None,
    })
}

impl Modify for PathParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::path::ParameterIn;
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for parameter in op.parameters.iter_mut().flatten() {
                    if parameter.parameter_in != ParameterIn::Path {
                        continue;
                    }
                    if let Some(schema) = path_parameter_schema(&parameter.name) {
                        parameter.schema = Some(schema.into());
                    }
                }
            }
        }
    }
}

/// Gives every operation Stripe's error body: a `default` response (as in
/// Stripe's own spec) and the `Error` schema on each documented 4xx/5xx
/// that names no body. Every status an operation can answer is then
/// documented, with the shape it has.
struct ErrorResponses;

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
        let error_content = || {
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Error")))
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                for (status, response) in op.responses.responses.iter_mut() {
                    let is_error = status.starts_with('4') || status.starts_with('5');
                    if let (true, RefOr::T(r)) = (is_error, response)
                        && r.content.is_empty()
                    {
                        r.content
                            .insert("application/json".to_owned(), error_content());
                    }
                }
                op.responses
                    .responses
                    .entry("default".to_owned())
                    .or_insert_with(|| {
                        RefOr::T(
                            ResponseBuilder::new()
                                .description("An error, in Stripe's shape")
                                .content("application/json", error_content())
                                .build(),
                        )
                    });
            }
        }
    }
}

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The methods the document lists for the path template that `path`
/// matches (`{param}` matches one segment), upper case; empty when none does.
pub fn methods_of(path: &str) -> Vec<&'static str> {
    static PATHS: std::sync::OnceLock<Vec<(Vec<String>, Vec<&'static str>)>> =
        std::sync::OnceLock::new();
    let paths = PATHS.get_or_init(|| {
        ApiDoc::openapi()
            .paths
            .paths
            .iter()
            .map(|(template, item)| {
                let segments = template.split('/').map(str::to_owned).collect();
                let mut methods = Vec::new();
                for (method, op) in [
                    ("GET", &item.get),
                    ("POST", &item.post),
                    ("PUT", &item.put),
                    ("DELETE", &item.delete),
                    ("PATCH", &item.patch),
                ] {
                    if op.is_some() {
                        methods.push(method);
                    }
                }
                (segments, methods)
            })
            .collect()
    });
    let wanted: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    paths
        .iter()
        .find(|(segments, _)| {
            segments.len() == wanted.len()
                && segments.iter().zip(&wanted).all(|(s, w)| {
                    (s.starts_with('{') && s.ends_with('}') && !w.is_empty()) || s == w
                })
        })
        .map(|(_, methods)| methods.clone())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> serde_json::Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn every_path_parameter_is_typed_by_its_kind_of_id() {
        let doc = doc();
        let mut seen = 0;
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                for p in op["parameters"].as_array().into_iter().flatten() {
                    if p["in"] != "path" {
                        continue;
                    }
                    seen += 1;
                    let s = &p["schema"];
                    let typed = s["format"] == "uuid"
                        || s["pattern"].is_string()
                        || s["type"] == "integer"
                        || s["maxLength"].is_number();
                    assert!(typed, "{method} {path}: {} is untyped: {s}", p["name"]);
                }
            }
        }
        assert!(seen > 30, "only {seen} path parameters");
    }

    #[test]
    fn every_operation_documents_stripes_error_body() {
        let doc = doc();
        assert!(doc["components"]["schemas"]["Error"].is_object());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                let default = &responses["default"]["content"]["application/json"]["schema"];
                assert_eq!(
                    default["$ref"], "#/components/schemas/Error",
                    "{method} {path}"
                );
                for (status, r) in responses {
                    if status.starts_with('4') || status.starts_with('5') {
                        assert!(
                            r["content"]["application/json"]["schema"].is_object(),
                            "{method} {path} {status} has no body schema"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn methods_come_from_the_document() {
        assert_eq!(methods_of("/api/v1/programs"), vec!["GET", "POST"]);
        assert_eq!(
            methods_of("/api/v1/programs/5f0c4bd2-0000-4000-8000-000000000001"),
            vec!["GET", "PUT"]
        );
        assert!(methods_of("/api/v1/programs/x/nothing").is_empty());
        assert!(methods_of("/api/v1/programs//batches").is_empty());
    }
}
