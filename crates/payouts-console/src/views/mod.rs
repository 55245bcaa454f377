//! One module per page; the layout and the response every page shares.

pub mod batch;
pub mod connect;
pub mod portal;
pub mod signin;

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};

use crate::session::Signed;

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
        }
    }

    /// The layout of a page nobody is signed in to.
    pub fn anonymous(title: &str) -> Self {
        Layout {
            title: title.to_owned(),
            who: None,
            csrf: String::new(),
            staff: false,
        }
    }
}

/// An HTML answer with the console's security headers: a CSP that allows
/// only this origin and no framing, no referrer beyond this origin, no
/// sniffing, and no caching of pages that show money.
pub fn page(status: StatusCode, html: String) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CONTENT_TYPE, "text/html; charset=utf-8"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        ))
        .insert_header((header::REFERRER_POLICY, "same-origin"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(html)
}

/// A `303 See Other` to `location` (after a form post).
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location.to_owned()))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish()
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
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_owned(),
        _ => "/dashboard/partners/stripe-connect".to_owned(),
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
        assert_eq!(
            safe_next(Some("//evil.test/x")),
            "/dashboard/partners/stripe-connect"
        );
        assert_eq!(
            safe_next(Some("https://evil.test")),
            "/dashboard/partners/stripe-connect"
        );
        assert_eq!(url_encode("/a?b=c d"), "/a%3Fb%3Dc%20d");
    }
}
