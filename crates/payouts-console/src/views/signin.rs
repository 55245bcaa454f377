//! Sign-in by single-use link, the sign-in message, and sign-out.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use payouts_domain::session::{LoginRefused, SessionSecret};
use payouts_http::AppState;
use serde::Deserialize;

use super::{Layout, page as html_page, safe_next, see_other};
use crate::csrf;
use crate::error::ConsoleError;
use crate::session::{Signed, close_cookie, cookie_secret, open_cookie};

/// `/signin?reason=…`.
#[derive(Debug, Deserialize)]
pub struct SigninQuery {
    reason: Option<String>,
}

/// `/login/{token}?next=…`.
#[derive(Debug, Deserialize)]
pub struct RedeemQuery {
    next: Option<String>,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SigninPage {
    layout: Layout,
    message: String,
}

fn secure(state: &AppState) -> bool {
    state.settings.public_url.starts_with("https://")
}

/// `GET /signin`: how to sign in, and why a link was refused.
pub async fn page(q: web::Query<SigninQuery>) -> Result<HttpResponse, ConsoleError> {
    let message = match q.reason.as_deref() {
        Some("used") => "That sign-in link was already used. Ask for a new one.",
        Some("expired") => {
            "That sign-in link has expired: links last five minutes. Ask for a new one."
        }
        Some("unknown") => "That sign-in link is not valid. Ask for a new one.",
        Some("signed_out") => "You are signed out.",
        _ => "Sign in with the link your platform or your merchant's admin sent you.",
    };
    let html = SigninPage {
        layout: Layout::anonymous("Sign in"),
        message: message.to_owned(),
    }
    .render()
    .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(html_page(StatusCode::OK, html))
}

/// `GET /login/{token}`: redeems the link once, sets the session cookie
/// and goes on to `next`.
pub async fn redeem(
    state: web::Data<AppState>,
    token: web::Path<String>,
    q: web::Query<RedeemQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let secret = SessionSecret::new(token.into_inner());
    match state.engine.redeem_login_link(&secret).await? {
        Ok((cookie, session)) => {
            let home = if session.principal.partner_id.is_some()
                && session.principal.roles.iter().all(|r| r == "partner")
            {
                "/portal".to_owned()
            } else {
                safe_next(q.next.as_deref())
            };
            Ok(HttpResponse::SeeOther()
                .insert_header((header::LOCATION, home))
                .insert_header((header::SET_COOKIE, open_cookie(&cookie, secure(&state))))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .insert_header((header::REFERRER_POLICY, "no-referrer"))
                .finish())
        }
        Err(refused) => {
            let reason = match refused {
                LoginRefused::Used => "used",
                LoginRefused::Expired => "expired",
                LoginRefused::Unknown => "unknown",
            };
            Ok(see_other(&format!("/signin?reason={reason}")))
        }
    }
}

/// The sign-out form.
#[derive(Debug, Deserialize)]
pub struct LogoutForm {
    #[serde(default)]
    csrf_token: String,
}

/// `POST /logout`: ends the session now.
pub async fn logout(
    req: HttpRequest,
    state: web::Data<AppState>,
    signed: Signed,
    form: web::Form<LogoutForm>,
) -> Result<HttpResponse, ConsoleError> {
    csrf::check(&req, &signed, &form.csrf_token)?;
    if let Some(secret) = cookie_secret(&req) {
        state.engine.end_session(&secret).await?;
    }
    Ok(HttpResponse::SeeOther()
        .insert_header((header::LOCATION, "/signin?reason=signed_out"))
        .insert_header((header::SET_COOKIE, close_cookie(secure(&state))))
        .finish())
}
