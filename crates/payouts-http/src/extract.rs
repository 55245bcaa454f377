//! Body extractors with errors in the API's shape. An optional JSON body:
//! an empty body is `None`; anything else must be valid JSON for the type
//! (400 `invalid_json` otherwise). Unlike `Option<web::Json<T>>`, a
//! malformed body is never silently ignored. A raw body over the limit is
//! 413 `payload_too_large`.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

/// An optional JSON body.
#[derive(Debug)]
pub struct OptionalJson<T>(pub Option<T>);

impl<T> OptionalJson<T> {
    /// The body, or `default()` when there was none.
    pub fn or_else(self, default: impl FnOnce() -> T) -> T {
        self.0.unwrap_or_else(default)
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for OptionalJson<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = RawBody::from_request(req, payload);
        Box::pin(async move {
            let RawBody(body) = bytes.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(OptionalJson(None));
            }
            serde_json::from_slice(&body)
                .map(|v| OptionalJson(Some(v)))
                .map_err(|e| {
                    ApiError::InvalidJson(format!("the body is not valid JSON for this route: {e}"))
                })
        })
    }
}

/// The raw body, up to the route's `PayloadConfig` limit (64 KiB); beyond
/// it, 413 `payload_too_large` in the API's error shape (actix's own
/// answer is plain text).
#[derive(Debug)]
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let bytes = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            bytes.await.map(RawBody).map_err(|e| {
                if e.as_response_error().status_code()
                    == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE
                {
                    ApiError::PayloadTooLarge
                } else {
                    ApiError::InvalidJson(format!("could not read the body: {e}"))
                }
            })
        })
    }
}
