//! # payouts-console
//!
//! The console people operate: server-rendered HTML on the service's own
//! actix server, from compile-time-checked templates (askama), with one
//! small stylesheet and script of our own embedded in the binary. Pages
//! work without JavaScript; the script only adds live refresh.
//!
//! It is an inbound adapter like `payouts-http`: each handler reads the
//! session, calls one engine use case and renders the page. It must not
//! depend on the store or the Stripe adapter.
//!
//! Security on every page: sign-in by single-use login links, an HttpOnly
//! SameSite=Lax session cookie (Secure behind https), a CSRF token on every
//! form checked together with `Origin`, and `Content-Security-Policy:
//! default-src 'self'; frame-ancestors 'none'` with `Referrer-Policy`.

pub mod assets;
pub mod csrf;
pub mod error;
pub mod format;
pub mod session;
pub mod views;

use actix_web::web;

pub use error::ConsoleError;

/// The session cookie's name.
pub const COOKIE: &str = "payouts_session";

/// Registers the console's routes (at the root of the service).
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/console.css", web::get().to(assets::css))
        .route("/console.js", web::get().to(assets::js))
        .route("/signin", web::get().to(views::signin::page))
        .route("/portal", web::get().to(views::portal::portal))
        .route("/login/{token}", web::get().to(views::signin::redeem))
        .route("/logout", web::post().to(views::signin::logout))
        .route(
            "/dashboard/partners/stripe-connect",
            web::get().to(views::connect::card),
        )
        .route(
            "/dashboard/partners/stripe-connect/connect",
            web::post().to(views::connect::connect),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}",
            web::get().to(views::batch::show),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/manifest.csv",
            web::get().to(views::batch::manifest_csv),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/approve",
            web::post().to(views::batch::approve),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/execute",
            web::post().to(views::batch::execute),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/refresh",
            web::post().to(views::batch::refresh),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/items/{item_id}/retry",
            web::post().to(views::batch::retry),
        );
}
