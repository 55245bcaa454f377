//! Every form carries the session's CSRF token, and a form is accepted only
//! when that token matches and the request's `Origin` is this service.

use actix_web::HttpRequest;

use crate::error::ConsoleError;
use crate::session::Signed;

/// Compares in constant time (for equal lengths).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0_u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Checks a form post: the token field and the origin.
///
/// # Errors
/// [`ConsoleError::BadForm`] (403) otherwise.
pub fn check(req: &HttpRequest, signed: &Signed, token: &str) -> Result<(), ConsoleError> {
    if !same(token, &signed.session.csrf_token) {
        return Err(ConsoleError::BadForm);
    }
    check_origin(req)
}

/// The request's `Origin` (or, without one, its `Referer`) must name the
/// host it was sent to.
///
/// # Errors
/// [`ConsoleError::BadForm`].
pub fn check_origin(req: &HttpRequest) -> Result<(), ConsoleError> {
    let host = req
        .headers()
        .get(actix_web::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .ok_or(ConsoleError::BadForm)?;
    let source = req
        .headers()
        .get(actix_web::http::header::ORIGIN)
        .or_else(|| req.headers().get(actix_web::http::header::REFERER))
        .and_then(|h| h.to_str().ok())
        .ok_or(ConsoleError::BadForm)?;
    let authority = source
        .split_once("://")
        .map(|(_, rest)| rest.split('/').next().unwrap_or(""))
        .unwrap_or("");
    if authority == host {
        Ok(())
    } else {
        Err(ConsoleError::BadForm)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole() {
        assert!(same("abc", "abc"));
        assert!(!same("abc", "abd"));
        assert!(!same("abc", "ab"));
    }

    #[test]
    fn origin_must_be_this_host() {
        let ok = actix_web::test::TestRequest::post()
            .insert_header(("Host", "127.0.0.1:8080"))
            .insert_header(("Origin", "http://127.0.0.1:8080"))
            .to_http_request();
        assert!(check_origin(&ok).is_ok());
        let evil = actix_web::test::TestRequest::post()
            .insert_header(("Host", "127.0.0.1:8080"))
            .insert_header(("Origin", "http://evil.test"))
            .to_http_request();
        assert!(check_origin(&evil).is_err());
        let none = actix_web::test::TestRequest::post()
            .insert_header(("Host", "127.0.0.1:8080"))
            .to_http_request();
        assert!(check_origin(&none).is_err());
    }
}
