//! Request ids and the request log: one span and one log line per request.
//!
//! - A caller's `Request-Id` header is kept when it is sane (1 to 200
//!   visible ASCII characters); otherwise the service makes one,
//!   `req_` and 32 hex digits. Every response carries it back as
//!   `Request-Id`, errors and 404s included, as Stripe does.
//! - `tracing-actix-web` opens one span per request, [`RequestSpan`]. It
//!   names the method, the matched route *pattern*, the request id, and
//!   later the status and latency. Never the raw path or the query: they
//!   carry secrets (`/login/{token}`, the OAuth callback's `code` and
//!   `state`). Headers are never recorded either (bearer tokens, cookies,
//!   webhook signatures).
//! - When the answer is ready, one `info` line, `request`, is written in
//!   that span; every other line a request causes (a 5xx's cause, a
//!   webhook's outcome, a Stripe call) is written in the same span, so it
//!   carries the same request id.
//!
//! [`current`] gives the id to code that has no request at hand, such as
//! an error page's `ResponseError::error_response`.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Instant;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::error::InternalError;
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::RootSpanBuilder;

/// The header a request id travels in, both ways.
pub const REQUEST_ID_HEADER: &str = "request-id";

/// The longest caller-given id kept.
pub const MAX_LEN: usize = 200;

/// The id of one request: the caller's when sane, else a new `req_…`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(String);

impl RequestId {
    /// Keeps `given` when it is 1 to [`MAX_LEN`] visible ASCII characters
    /// (no space, no control character); otherwise makes a new id.
    pub fn accept_or_generate(given: Option<&str>) -> Self {
        match given {
            Some(id) if is_sane(id) => RequestId(id.to_owned()),
            _ => RequestId::generate(),
        }
    }

    /// A new id: `req_` and 32 random hex digits.
    pub fn generate() -> Self {
        RequestId(format!("req_{}", uuid::Uuid::new_v4().simple()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_sane(id: &str) -> bool {
    (1..=MAX_LEN).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_graphic())
}

tokio::task_local! {
    static CURRENT: RequestId;
}

/// The id of the request being served on this task, if any: for code that
/// renders an answer without the request (an error page).
pub fn current() -> Option<String> {
    CURRENT.try_with(|id| id.0.clone()).ok()
}

/// The request's id, as [`middleware`] stored it.
pub fn of(req: &actix_web::HttpRequest) -> Option<String> {
    req.extensions().get::<RequestId>().map(|id| id.0.clone())
}

/// Where [`RequestSpan`] leaves the request's span for [`middleware`],
/// which must not hold the request itself while it is routed (actix needs
/// it unshared then).
#[derive(Clone, Default)]
struct SpanSlot(Rc<RefCell<Option<Span>>>);

/// The outermost middleware: picks the request id, serves the request with
/// it (in the `tracing-actix-web` span inside), writes the request's log
/// line and returns the id as `Request-Id`. An error's response is built
/// here, inside the request, so that it carries the header too.
///
/// # Errors
/// An inner error, whose response now carries the header.
pub async fn middleware(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, Error> {
    let started = Instant::now();
    let given = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok());
    let id = RequestId::accept_or_generate(given);
    let slot = SpanSlot::default();
    req.extensions_mut().insert(id.clone());
    req.extensions_mut().insert(slot.clone());
    let value = HeaderValue::from_str(id.as_str()).ok();
    let name = HeaderName::from_static(REQUEST_ID_HEADER);
    CURRENT
        .scope(id, async move {
            let result: Result<ServiceResponse<BoxBody>, Error> = match next.call(req).await {
                Ok(response) => {
                    let mut response = response.map_into_boxed_body();
                    if let Some(value) = value {
                        response.headers_mut().insert(name, value);
                    }
                    Ok(response)
                }
                Err(error) => {
                    // Rendered now, inside the scope, so that an error page
                    // can read the id with [`current`].
                    let mut response = error.error_response();
                    if let Some(value) = value {
                        response.headers_mut().insert(name, value);
                    }
                    Err(InternalError::from_response(error.to_string(), response).into())
                }
            };
            let status = match &result {
                Ok(response) => response.status().as_u16(),
                Err(error) => error.as_response_error().status_code().as_u16(),
            };
            let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            let span = slot.0.borrow_mut().take().unwrap_or_else(Span::none);
            span.record("status", status);
            span.record("latency_ms", latency_ms);
            // The span holds every field; the line marks the end.
            span.in_scope(|| tracing::info!("request"));
            result
        })
        .await
}

/// The root span `tracing-actix-web` opens for each request: method, route
/// pattern and request id; status and latency are filled in at the end.
#[derive(Debug, Clone, Copy)]
pub struct RequestSpan;

impl RootSpanBuilder for RequestSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let request_id = request
            .extensions()
            .get::<RequestId>()
            .map_or_else(|| "-".to_owned(), |id| id.0.clone());
        // The pattern (`/login/{token}`), never the path (`/login/abc…`).
        let route = request
            .match_pattern()
            .unwrap_or_else(|| "unmatched".to_owned());
        let span = tracing::info_span!(
            "request",
            method = %request.method(),
            route = %route,
            request_id = %request_id,
            status = tracing::field::Empty,
            latency_ms = tracing::field::Empty,
        );
        if let Some(slot) = request.extensions().get::<SpanSlot>() {
            *slot.0.borrow_mut() = Some(span.clone());
        }
        span
    }

    fn on_request_end<B: MessageBody>(_span: Span, _outcome: &Result<ServiceResponse<B>, Error>) {
        // [`middleware`] records status and latency once the answer,
        // errors included, is final.
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_kept_and_anything_else_replaced() {
        assert_eq!(
            RequestId::accept_or_generate(Some("abc-123_XYZ.1")).as_str(),
            "abc-123_XYZ.1"
        );
        let long_ok = "a".repeat(MAX_LEN);
        assert_eq!(
            RequestId::accept_or_generate(Some(&long_ok)).as_str(),
            long_ok
        );
        for bad in [
            None,
            Some(""),
            Some("has space"),
            Some("tab\there"),
            Some("é"),
            Some(&*"a".repeat(MAX_LEN + 1)),
        ] {
            let id = RequestId::accept_or_generate(bad);
            assert!(id.as_str().starts_with("req_"), "{bad:?} gave {id}");
            assert_eq!(id.as_str().len(), 36, "{id}");
        }
        assert_ne!(RequestId::generate(), RequestId::generate());
    }
}
