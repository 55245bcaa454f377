//! Health, readiness, metrics, the OpenAPI document and the docs page.

use actix_web::http::header;
use actix_web::{HttpResponse, get, web};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};
use utoipa_swagger_ui::SwaggerUi;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::AppState;

/// Registers the operational routes.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(healthz)
        .service(readyz)
        .service(metrics)
        .service(
            // The UI's assets are compiled into the binary (the `vendored`
            // feature): nothing is fetched from a CDN or at build time.
            SwaggerUi::new("/docs/{_:.*}").url("/openapi.json", ApiDoc::openapi()),
        );
    cfg.route(
        "/docs",
        web::get().to(|| async {
            HttpResponse::PermanentRedirect()
                .insert_header((header::LOCATION, "/docs/"))
                .finish()
        }),
    );
}

/// Health.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Readiness.
#[derive(Debug, Serialize, ToSchema)]
pub struct Ready {
    /// `ready`.
    pub status: &'static str,
    /// `sqlite` or `postgres`.
    pub database: String,
}

/// Liveness: the process serves HTTP. No auth.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health)))]
#[get("/healthz")]
pub async fn healthz() -> web::Json<Health> {
    web::Json(Health { status: "ok" })
}

/// Readiness: the database answers. No auth. 503 `service_unavailable` when it does not.
#[utoipa::path(get, path = "/readyz", tag = "ops",
    responses((status = 200, body = Ready), (status = 503, description = "the database does not answer")))]
#[get("/readyz")]
pub async fn readyz(state: web::Data<AppState>) -> Result<web::Json<Ready>, ApiError> {
    let database = state
        .engine
        .ready()
        .await
        .map_err(|e| ApiError::Unavailable(format!("database: {e}")))?;
    Ok(web::Json(Ready {
        status: "ready",
        database: database.to_owned(),
    }))
}

/// Prometheus metrics (text format 0.0.4): HTTP requests and latency by
/// route, Stripe calls by outcome, payout items by state. No auth; expose
/// it only on an internal network.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text format", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let stripe = state.engine.stripe_call_counts();
    let items = state.item_state_counts().await?;
    let body = state.metrics.render(&stripe, &items);
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/plain; version=0.0.4"))
        .body(body))
}
