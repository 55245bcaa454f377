//! The signed-in person: the session cookie read on every page, checked
//! through the engine (idle for 12 hours ends it), and the cookie headers.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};
use payouts_domain::ids::{MerchantId, PartnerId};
use payouts_domain::session::{Session, SessionSecret};
use payouts_http::AppState;

use crate::COOKIE;
use crate::error::ConsoleError;

/// A signed-in request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// The session.
    pub session: Session,
}

impl Signed {
    /// Who is acting, for the audit trail: this session's holder, in the
    /// request being served.
    pub fn acting(&self) -> payouts_domain::audit::Acting {
        payouts_http::auth::session_acting(&self.session.principal)
    }

    /// The person's merchant.
    pub fn merchant(&self) -> &MerchantId {
        &self.session.principal.merchant_id
    }

    /// The partner, for a partner's session.
    pub fn partner(&self) -> Option<PartnerId> {
        self.session.principal.partner_id
    }

    /// Whether the person holds one of `roles`.
    pub fn has_any(&self, roles: &[&str]) -> bool {
        self.session
            .principal
            .roles
            .iter()
            .any(|r| roles.contains(&r.as_str()))
    }

    /// Whether the person is a platform operator.
    pub fn is_platform(&self) -> bool {
        self.has_any(&payouts_domain::engine::PLATFORM_ROLES)
    }

    /// Whether the person works for a merchant (not a partner).
    pub fn is_staff(&self) -> bool {
        self.session.principal.roles.iter().any(|r| r != "partner")
    }

    /// The caller as the engine's tenancy rules see it.
    pub fn caller(&self) -> payouts_domain::platform::Caller {
        if self.is_platform() {
            payouts_domain::platform::Caller::Platform
        } else {
            payouts_domain::platform::Caller::Merchant(self.merchant().clone())
        }
    }
}

/// The session secret in the request's `Cookie` header, if any.
pub fn cookie_secret(req: &HttpRequest) -> Option<SessionSecret> {
    let header = req.headers().get(actix_web::http::header::COOKIE)?;
    header
        .to_str()
        .ok()?
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| SessionSecret::new(value.to_owned()))
}

/// The `Set-Cookie` value that opens a session.
pub fn open_cookie(secret: &SessionSecret, secure: bool) -> String {
    format!(
        "{COOKIE}={}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{}",
        secret.expose(),
        payouts_domain::session::SESSION_IDLE.whole_seconds(),
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends it.
pub fn close_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

impl FromRequest for Signed {
    type Error = ConsoleError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let state = req.app_data::<web::Data<AppState>>().cloned();
        let secret = cookie_secret(req);
        let next = match req.query_string() {
            "" => req.path().to_owned(),
            q => format!("{}?{q}", req.path()),
        };
        Box::pin(async move {
            let state = state.ok_or_else(|| ConsoleError::Unavailable("no state".to_owned()))?;
            let Some(secret) = secret else {
                return Err(ConsoleError::SignIn { next });
            };
            match state.engine.console_session(&secret).await? {
                Some(session) => Ok(Signed { session }),
                None => Err(ConsoleError::SignIn { next }),
            }
        })
    }
}
