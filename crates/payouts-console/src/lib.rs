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
pub mod forms;
pub mod session;
pub mod views;

use actix_web::web;

pub use error::ConsoleError;

/// The session cookie's name.
pub const COOKIE: &str = "payouts_session";

/// Registers the console's routes (at the root of the service).
pub fn configure(cfg: &mut web::ServiceConfig) {
    use views::{
        audit, batch, connect, holds, home, platform, portal, program, reconciliation, signin,
        statement, tax,
    };
    cfg.route("/console.css", web::get().to(assets::css))
        .route("/favicon.ico", web::get().to(assets::favicon))
        .route("/console.js", web::get().to(assets::js))
        .route("/signin", web::get().to(signin::page))
        .route("/login/{token}", web::get().to(signin::redeem))
        .route("/logout", web::post().to(signin::logout))
        .route("/portal", web::get().to(portal::portal))
        .route("/portal/stripe", web::post().to(portal::stripe))
        .route("/portal/onboarded", web::get().to(portal::onboarded))
        .route(
            "/portal/statements/months/{period}",
            web::get().to(statement::month),
        )
        .route(
            "/portal/statements/{item_id}",
            web::get().to(statement::show),
        )
        .route("/dashboard/audit", web::get().to(audit::page))
        .route("/dashboard/partners/tax", web::get().to(tax::current))
        .route("/dashboard/partners/tax/{year}", web::get().to(tax::show))
        .route(
            "/dashboard/partners/tax/{year}/list.csv",
            web::get().to(tax::csv),
        )
        .route("/dashboard/partners", web::get().to(home::home))
        .route("/dashboard/partners/holds", web::get().to(holds::list))
        .route(
            "/dashboard/partners/holds/{commission_id}/release",
            web::post().to(holds::release),
        )
        .route(
            "/dashboard/partners/holds/{commission_id}/reject",
            web::post().to(holds::reject),
        )
        .route(
            "/dashboard/partners/notifications/{notification_id}/replay",
            web::post().to(home::replay),
        )
        .route(
            "/dashboard/partners/stripe-connect",
            web::get().to(connect::card),
        )
        .route(
            "/dashboard/partners/stripe-connect/connect",
            web::post().to(connect::connect),
        )
        .route(
            "/dashboard/partners/programs",
            web::post().to(program::create),
        )
        .route(
            "/dashboard/partners/programs/{program_id}",
            web::get().to(program::show),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/policy",
            web::post().to(program::policy),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/reach",
            web::post().to(program::reach),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners",
            web::post().to(program::enroll),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners/{membership_id}/onboarding",
            web::post().to(program::onboarding),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners/{membership_id}/onboarded",
            web::get().to(program::onboarded),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners/{membership_id}/refresh",
            web::post().to(program::refresh),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners/{membership_id}/dashboard",
            web::post().to(program::dashboard),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners/{membership_id}/coupons",
            web::post().to(program::coupon),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/partners/{membership_id}/portal-link",
            web::post().to(program::portal_link),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/periods/{period}/finalize",
            web::post().to(program::finalize),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/batches",
            web::post().to(program::build),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}",
            web::get().to(batch::show),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/reconciliation",
            web::get().to(reconciliation::batch),
        )
        .route(
            "/dashboard/partners/programs/{program_id}/periods/{period}/reconciliation",
            web::get().to(reconciliation::period),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/manifest.csv",
            web::get().to(batch::manifest_csv),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/approve",
            web::post().to(batch::approve),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/approve",
            web::get().to(batch::approve_page),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/execute",
            web::post().to(batch::execute),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/refresh",
            web::post().to(batch::refresh),
        )
        .route(
            "/dashboard/partners/batches/{batch_id}/items/{item_id}/retry",
            web::post().to(batch::retry),
        )
        .route("/dashboard/platform/fees", web::get().to(platform::fees))
        .route(
            "/dashboard/platform/fees",
            web::post().to(platform::save_fees),
        )
        .route(
            "/dashboard/platform/balance",
            web::get().to(platform::balance),
        )
        .route(
            "/dashboard/platform/disputes",
            web::get().to(platform::disputes),
        )
        .route(
            "/dashboard/platform/disputes/{dispute_id}/evidence",
            web::post().to(platform::evidence),
        )
        // Anything else under the console's prefixes: sign in first, then
        // a page that says there is nothing here (registered last).
        .route("/dashboard", web::get().to(views::not_found))
        .route("/dashboard/{tail:.*}", web::get().to(views::not_found))
        .route("/portal/{tail:.*}", web::get().to(views::not_found));
}
