//! `Idempotency-Key` on every `POST`, Stripe's way: the first request with
//! a key runs and its response is stored with a hash of the request; a
//! replay with the same body gets the stored response (marked
//! `Idempotent-Replayed: true`); a different body with the same key, or a
//! key whose first request is still running, answers 409
//! `idempotency_conflict`.
//!
//! Keys are scoped to the caller (merchant and token subject), so two
//! merchants never collide. A response with a 5xx status is not stored: the
//! key is released so the client can try again. Requests without the header
//! run as usual.

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::web::{self, Bytes};
use actix_web::{HttpMessage, HttpResponse, ResponseError};
use payouts_domain::ports::{RequestKeyBegin, RequestKeyStatus};
use sha2::{Digest, Sha256};

use crate::auth::JwtSecret;
use crate::error::ApiError;
use crate::state::AppState;

/// The request header.
pub const HEADER: &str = "idempotency-key";
/// Set on a replayed response.
pub const REPLAYED: &str = "idempotent-replayed";
/// Longest accepted key.
pub const MAX_KEY_LEN: usize = 255;
/// Largest request body read (the JSON limit).
const MAX_BODY: usize = 64 * 1024;

/// The middleware: wrap the API scope with
/// `actix_web::middleware::from_fn(idempotency::middleware)`.
///
/// # Errors
/// Errors of the inner service pass through; the middleware's own refusals
/// are responses, not errors.
pub async fn middleware(
    mut req: ServiceRequest,
    next: Next<BoxBody>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    if req.method() != Method::POST {
        return next.call(req).await;
    }
    let Some(raw_key) = req.headers().get(HEADER) else {
        return next.call(req).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if !k.trim().is_empty() && k.len() <= MAX_KEY_LEN => k.trim().to_owned(),
        _ => {
            return Ok(refuse(
                req,
                ApiError::validation(
                    "Idempotency-Key",
                    format!("must be 1 to {MAX_KEY_LEN} printable characters"),
                ),
            ));
        }
    };
    let (Some(state), Some(secret)) = (
        req.app_data::<web::Data<AppState>>().cloned(),
        req.app_data::<web::Data<JwtSecret>>().cloned(),
    ) else {
        return next.call(req).await;
    };
    // The key is scoped to a verified caller; an unauthenticated request
    // goes on and is refused by the handler's auth.
    let Some(scope) = caller_scope(&req, &secret) else {
        return next.call(req).await;
    };
    let body = match read_body(&mut req).await {
        Ok(body) => body,
        Err(e) => return Ok(refuse(req, e)),
    };
    let hash = request_hash(req.method().as_str(), req.path(), req.query_string(), &body);
    req.set_payload(actix_web::dev::Payload::from(body));
    let engine = &state.engine;
    match engine.begin_request(&scope, &key, &hash).await {
        Err(e) => Ok(refuse(req, ApiError::from(e))),
        Ok(RequestKeyBegin::Existing(record)) => {
            if record.request_hash != hash {
                return Ok(refuse(
                    req,
                    ApiError::IdempotencyConflict(
                        "this Idempotency-Key was used with a different request".to_owned(),
                    ),
                ));
            }
            match (record.status, record.response_status, record.response_body) {
                (RequestKeyStatus::Completed, Some(status), Some(body)) => {
                    let status =
                        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                    let response = HttpResponse::build(status)
                        .insert_header((header::CONTENT_TYPE, "application/json"))
                        .insert_header((REPLAYED, "true"))
                        .body(body);
                    Ok(req.into_response(response))
                }
                _ => Ok(refuse(
                    req,
                    ApiError::IdempotencyConflict(
                        "a request with this Idempotency-Key is still in progress".to_owned(),
                    ),
                )),
            }
        }
        Ok(RequestKeyBegin::Started) => {
            let result = next.call(req).await;
            let response = match result {
                Ok(response) => response,
                Err(e) => {
                    let _ = engine.release_request(&scope, &key).await;
                    return Err(e);
                }
            };
            let status = response.status();
            let (http_req, http_res) = response.into_parts();
            let (head, body) = http_res.into_parts();
            let bytes = match body.try_into_bytes() {
                Ok(bytes) => bytes,
                Err(body) => match actix_web::body::to_bytes(body).await {
                    Ok(bytes) => bytes,
                    Err(_) => {
                        let _ = engine.release_request(&scope, &key).await;
                        return Ok(ServiceResponse::new(
                            http_req,
                            ApiError::Internal("could not buffer the response".to_owned())
                                .error_response(),
                        ));
                    }
                },
            };
            if status.is_server_error() {
                let _ = engine.release_request(&scope, &key).await;
            } else {
                let text = String::from_utf8_lossy(&bytes).into_owned();
                if let Err(e) = engine
                    .complete_request(&scope, &key, status.as_u16(), &text)
                    .await
                {
                    tracing::warn!(error = %e, "could not store an idempotent response");
                }
            }
            let rebuilt = head.set_body(bytes).map_into_boxed_body();
            Ok(ServiceResponse::new(http_req, rebuilt))
        }
    }
}

fn refuse(req: ServiceRequest, error: ApiError) -> ServiceResponse<BoxBody> {
    req.into_response(error.error_response())
}

/// `merchant:subject` from a valid bearer token.
fn caller_scope(req: &ServiceRequest, secret: &JwtSecret) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let token = value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))?;
    let claims = secret.verify(token.trim()).ok()?;
    Some(format!("{}:{}", claims.merchant_id, claims.sub))
}

async fn read_body(req: &mut ServiceRequest) -> Result<Bytes, ApiError> {
    if let Some(len) = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_BODY
    {
        return Err(ApiError::PayloadTooLarge);
    }
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    use futures_util::StreamExt as _;
    while let Some(chunk) = payload.next().await {
        let chunk =
            chunk.map_err(|e| ApiError::InvalidJson(format!("could not read the body: {e}")))?;
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(ApiError::PayloadTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body.freeze())
}

/// SHA-256 over method, path, query and body.
pub fn request_hash(method: &str, path: &str, query: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    for part in [method.as_bytes(), path.as_bytes(), query.as_bytes(), body] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part);
    }
    hex::encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_separates_its_parts() {
        let a = request_hash("POST", "/a", "", b"b");
        let b = request_hash("POST", "/ab", "", b"");
        assert_ne!(a, b);
        assert_eq!(a, request_hash("POST", "/a", "", b"b"));
        assert_eq!(a.len(), 64);
    }
}
