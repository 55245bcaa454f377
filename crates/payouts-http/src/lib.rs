//! # payouts-http
//!
//! The actix-web front end of Payouts:
//!
//! - the platform API of seed 002 under `/api/v1/integrations/stripe-connect`;
//! - the partner-program API under `/api/v1` (programs, merchant Connect
//!   OAuth, partners, coupons, conversions, commissions, periods, batches,
//!   payout history and tax summaries);
//! - `POST /webhooks/stripe`, verified and deduplicated;
//! - `/healthz`, `/readyz`, `/metrics`, `/openapi.json` and `/docs`.
//!
//! Errors have Stripe's shape ([`ApiError`]); callers authenticate with
//! HS256 JWT bearer tokens ([`auth`]); every `POST` honours
//! `Idempotency-Key` ([`idempotency`]); every answer carries a
//! `Request-Id`, and every request is one span and one log line
//! ([`request_log`]). It speaks to the rules only through `payouts-domain`,
//! and to Stripe only through `payouts-stripe`.

pub mod auth;
pub mod error;
pub mod extract;
pub mod idempotency;
pub mod metrics;
pub mod openapi;
pub mod paging;
pub mod request_log;
pub mod routes;
pub mod state;
pub mod views;
pub mod wire;

use std::net::TcpListener;
use std::time::Instant;

use actix_web::body::BoxBody;
use actix_web::dev::{Server, ServiceRequest, ServiceResponse};
use actix_web::middleware::{Next, from_fn};
use actix_web::{App, HttpServer, web};

pub use auth::{Claims, JwtSecret, Principal, Role};
pub use error::ApiError;
pub use state::{AppState, Engine, HttpSettings, start_batch};

/// The JSON extractor configuration every route uses: a 64 KiB limit and
/// errors in the API's shape (400 `invalid_json`, 413 `payload_too_large`).
pub fn json_config() -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(64 * 1024)
        .error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError;
            let api = match &err {
                JsonPayloadError::Overflow { .. }
                | JsonPayloadError::OverflowKnownLength { .. } => ApiError::PayloadTooLarge,
                JsonPayloadError::ContentType => {
                    ApiError::InvalidJson("expected Content-Type: application/json".to_owned())
                }
                other => ApiError::InvalidJson(format!(
                    "the body is not valid JSON for this route: {other}"
                )),
            };
            api.into()
        })
}

/// Path parameters that do not parse answer 400 `validation_error`.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        ApiError::validation("path", format!("a path parameter is invalid: {err}")).into()
    })
}

/// Query strings that do not parse answer 400 `validation_error`.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        ApiError::validation("query", format!("the query string is invalid: {err}")).into()
    })
}

/// Every route, its extractor configs and its middleware, for
/// `App::configure`. Tests build an `App` with this and `app_data`.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.app_data(json_config())
        .app_data(path_config())
        .app_data(query_config())
        .app_data(web::PayloadConfig::new(64 * 1024));
    routes::configure(cfg);
}

/// Counts every request in the metrics by its matched route pattern.
async fn observe(
    req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| "unmatched".to_owned());
    let metrics = req
        .app_data::<web::Data<AppState>>()
        .map(|s| std::sync::Arc::clone(&s.metrics));
    let result = next.call(req).await;
    if let Some(metrics) = metrics {
        let status = match &result {
            Ok(res) => res.status().as_u16(),
            Err(e) => e.as_response_error().status_code().as_u16(),
        };
        metrics.observe_request(&method, &route, status, started.elapsed());
    }
    result
}

/// The application: state, routes and middleware. The server and tests
/// build the same `App`.
pub fn app(
    state: web::Data<AppState>,
    jwt: web::Data<JwtSecret>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    app_with(state, jwt, |_| {})
}

/// [`app`] with more routes (another inbound adapter's, e.g. the console)
/// on the same server, before the 404/405 fallback.
pub fn app_with(
    state: web::Data<AppState>,
    jwt: web::Data<JwtSecret>,
    extra: fn(&mut web::ServiceConfig),
) -> App<
    impl actix_web::dev::ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<BoxBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .app_data(state)
        .app_data(jwt)
        .wrap(from_fn(idempotency::middleware))
        .wrap(from_fn(observe))
        .wrap(tracing_actix_web::TracingLogger::<request_log::RequestSpan>::new())
        .wrap(from_fn(request_log::middleware))
        .configure(configure)
        .configure(extra)
        .default_service(web::to(routes::not_found))
}

/// The HTTP server on `listener`, not yet awaited. `workers` is the number
/// of actix worker threads (at least 1).
///
/// # Errors
/// An I/O error when the listener cannot be used.
pub fn server(
    listener: TcpListener,
    state: AppState,
    jwt: JwtSecret,
    workers: usize,
) -> std::io::Result<Server> {
    server_with(listener, state, jwt, workers, |_| {})
}

/// [`server`] with more routes ([`app_with`]).
///
/// # Errors
/// An I/O error when the listener cannot be used.
pub fn server_with(
    listener: TcpListener,
    state: AppState,
    jwt: JwtSecret,
    workers: usize,
    extra: fn(&mut web::ServiceConfig),
) -> std::io::Result<Server> {
    let state = web::Data::new(state);
    let jwt = web::Data::new(jwt);
    let server = HttpServer::new(move || app_with(state.clone(), jwt.clone(), extra))
        .workers(workers.max(1))
        .disable_signals()
        .listen(listener)?
        .run();
    Ok(server)
}
