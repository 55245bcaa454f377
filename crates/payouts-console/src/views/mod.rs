//! One module per page; the layout and the response every page shares.

pub mod audit;
pub mod batch;
pub mod connect;
pub mod holds;
pub mod home;
pub mod platform;
pub mod portal;
pub mod program;
pub mod reconciliation;
pub mod signin;
pub mod statement;
pub mod tax;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use askama::Template;

use crate::error::ConsoleError;
use crate::session::Signed;

/// The merchant roles that may change programs and act on batches (with
/// the platform's roles), as in the JSON API.
pub const ACT_ROLES: [&str; 4] = [
    "tenant_admin",
    "payment_admin",
    "manager",
    "integration_admin",
];

/// Whether the person may change programs and act on batches.
pub fn may_act(signed: &Signed) -> bool {
    signed.has_any(&ACT_ROLES) || signed.is_platform()
}

/// Renders a page with status 200.
///
/// # Errors
/// [`ConsoleError::Unavailable`] when the template fails.
pub fn render<T: Template>(template: &T) -> Result<HttpResponse, ConsoleError> {
    let html = template
        .render()
        .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(page(StatusCode::OK, html))
}

/// What the layout shows around every page.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The page's title.
    pub title: String,
    /// Who is signed in, when someone is.
    pub who: Option<String>,
    /// The session's CSRF token, for the sign-out form.
    pub csrf: String,
    /// Whether to show the merchant's navigation.
    pub staff: bool,
    /// Whether to show the platform operator's pages.
    pub platform: bool,
}

impl Layout {
    /// The layout of a signed-in page.
    pub fn signed(title: &str, signed: &Signed) -> Self {
        let p = &signed.session.principal;
        Layout {
            title: title.to_owned(),
            who: Some(format!(
                "{} · {} · {}",
                p.subject,
                p.roles.join(", "),
                p.merchant_id
            )),
            csrf: signed.session.csrf_token.clone(),
            staff: signed.is_staff(),
            platform: signed.is_platform(),
        }
    }

    /// The layout of a page nobody is signed in to.
    pub fn anonymous(title: &str) -> Self {
        Layout {
            title: title.to_owned(),
            who: None,
            csrf: String::new(),
            staff: false,
            platform: false,
        }
    }
}

/// An HTML answer with the console's security headers: a CSP that allows
/// only this origin and no framing, no referrer beyond this origin, no
/// sniffing, and no caching of pages that show money.
pub fn page(status: StatusCode, html: String) -> HttpResponse {
    page_to(status, html, None)
}

/// [`page`] for a page whose forms lead to Stripe's hosted pages (Connect
/// with Stripe, onboarding): `form-action` allows that one origin too,
/// since browsers apply it to the redirect a form's answer makes.
pub fn page_to(status: StatusCode, html: String, stripe_origin: Option<&str>) -> HttpResponse {
    let form_action = match stripe_origin {
        Some(origin) if is_origin(origin) => format!("'self' {origin}"),
        _ => "'self'".to_owned(),
    };
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            format!(
                "default-src 'self'; frame-ancestors 'none'; form-action {form_action}; base-uri 'none'"
            ),
        ))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// `http(s)://host[:port]` and nothing that could end the directive.
fn is_origin(text: &str) -> bool {
    (text.starts_with("https://") || text.starts_with("http://"))
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b".:/-[]".contains(&b))
}

/// Renders a page whose forms lead to Stripe's hosted pages.
///
/// # Errors
/// [`ConsoleError::Unavailable`] when the template fails.
pub fn render_to<T: Template>(
    template: &T,
    stripe_origin: &str,
) -> Result<HttpResponse, ConsoleError> {
    let html = template
        .render()
        .map_err(|e| ConsoleError::Unavailable(e.to_string()))?;
    Ok(page_to(StatusCode::OK, html, Some(stripe_origin)))
}

/// A `303 See Other` to `location` (after a form post).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
}

/// Any other console URL: 404 in words, once signed in.
///
/// # Errors
/// Always: [`ConsoleError::NotFound`] (or sign-in first).
pub async fn not_found(_signed: Signed) -> Result<HttpResponse, ConsoleError> {
    Err(ConsoleError::NotFound)
}

/// Percent-encodes a query value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(char::from(b));
            }
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// A local path to return to after sign-in: only paths of this service,
/// never another site (`//evil.test`).
pub fn safe_next(next: Option<&str>) -> String {
    match next {
        // No control characters or spaces either: browsers drop a tab, so
        // `/<TAB>/evil.test` would become `//evil.test`.
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.bytes().all(|b| b > 0x20 && b != 0x7F) =>
        {
            n.to_owned()
        }
        _ => "/dashboard/partners".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(
            safe_next(Some("/dashboard/partners/batches/x")),
            "/dashboard/partners/batches/x"
        );
        assert_eq!(safe_next(Some("//evil.test/x")), "/dashboard/partners");
        assert_eq!(safe_next(Some("https://evil.test")), "/dashboard/partners");
        assert_eq!(safe_next(Some("/\t/evil.test")), "/dashboard/partners");
        assert_eq!(safe_next(Some("/ /evil.test")), "/dashboard/partners");
        assert_eq!(url_encode("/a?b=c d"), "/a%3Fb%3Dc%20d");
        assert!(is_origin("https://connect.stripe.com"));
        assert!(is_origin("http://127.0.0.1:4242"));
        assert!(!is_origin("https://x.test; script-src *"));
        assert!(!is_origin("connect.stripe.com"));
    }
}
