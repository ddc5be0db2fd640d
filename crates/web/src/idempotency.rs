//! Client idempotency keys on the money API (P3). A request with `Idempotency-Key` runs
//! once; a retry with the same key and the same request gets the first response back
//! byte for byte (`Idempotent-Replayed: true`); the same key with another request is
//! refused (422 `IDEMPOTENCY_KEY_REUSED`); a retry while the first still runs gets 409.
//! Refusals (4xx) are kept like successes; failures worth retrying (5xx) are not.
use crate::WebState;
use crate::error::{AppError, ErrorBody};
use app::idempotency::Claim;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::{DomainError, ErrorCode};
use std::future::Future;

pub const HEADER: &str = "idempotency-key";

fn json_response(status: u16, body: String, replayed: bool) -> Response {
    let mut r = (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if replayed {
        r.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    // Our own error format already: the normaliser must leave it alone.
    r.extensions_mut().insert(crate::error::Normalised);
    r
}

/// Runs `work` at most once per (scope, key). `fingerprint` identifies the request's
/// meaning (route parameters and body), so a reused key with other parameters is caught.
pub async fn once<F, Fut>(st: &WebState, headers: &HeaderMap, scope: &str, fingerprint: &str, correlation_id: &str, work: F) -> Result<Response, AppError>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<(StatusCode, serde_json::Value), DomainError>>,
{
    let Some(key) = headers.get(HEADER) else {
        let (status, v) = work().await?;
        return Ok(json_response(status.as_u16(), v.to_string(), false));
    };
    let key = key.to_str().unwrap_or("");
    if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(DomainError::new(ErrorCode::BadRequest, "Idempotency-Key: 1-64 of A-Z a-z 0-9 - _").into());
    }
    let hash = hex::encode(crypto::mac::sha256(fingerprint.as_bytes()));
    match st.app.idempotency_claim(scope, key, &hash).await? {
        Claim::Replay(status, body) => Ok(json_response(status, body, true)),
        Claim::Run => match work().await {
            Ok((status, v)) => {
                let body = v.to_string();
                st.app.idempotency_finish(scope, key, status.as_u16(), &body).await?;
                Ok(json_response(status.as_u16(), body, false))
            }
            // A refusal is the answer to this request, kept; "busy, try again" is not.
            Err(e) if e.code.http_status() < 500 && e.code.http_status() != 429 => {
                tracing::info!(code = e.code.code(), detail = %e.detail, "request refused (kept for replay)");
                let body = serde_json::to_string(&ErrorBody { code: e.code.code(), message: e.code.message_zh(), correlation_id: correlation_id.to_owned() })
                    .expect("error body serialises");
                st.app.idempotency_finish(scope, key, e.code.http_status(), &body).await?;
                Ok(json_response(e.code.http_status(), body, false))
            }
            Err(e) => {
                st.app.idempotency_release(scope, key).await?;
                Err(e.into())
            }
        },
    }
}
