//! The open message interface (MSG-3) for hospital systems: `POST /open/v1/messages`
//! pushes a notice, `GET /open/v1/messages/{message_no}` says where it stands. Signed
//! per `crypto::open_api` (key, timestamp, nonce, HMAC-SHA256); an
//! `Idempotency-Key` header is required on pushes. Errors carry the stable code and,
//! where the caller can fix something, a `hint` in English for the integrator.
use crate::WebState;
use crate::error::{Flavour, Normalised, render_error};
use crate::middleware::CorrelationId;
use app::messages::open::{PushRefusal, PushRequest, SignedRequest};
use axum::body::Bytes;
use axum::extract::{Extension, Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use crypto::open_api::{HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP};
use domain::{DomainError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A notice pushed by a hospital system.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PushRequestDto {
    /// A scene code (`report.ready`, `critical_value`, `medicine.ready`, `surgery.notice`,
    /// `admission.prompt`, `discharge.prompt`, `exam.precautions`, `medication.guidance`,
    /// `deposit.low`, `medicine.picked_up`, `bill.due` …) or `hospital.notice` for a free
    /// notice with `title` and `text`.
    pub scene: String,
    /// The patient's id in the HIS.
    pub his_patient_id: String,
    /// The scene's variables, e.g. `{"report_id": "RP1", "report_name": "血常规"}`.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub variables: serde_json::Map<String, Value>,
    pub title: Option<String>,
    pub text: Option<String>,
}

/// The messages a push created, one per WeChat account holding the patient.
#[derive(Serialize, ToSchema)]
pub struct PushAnswerDto {
    pub event_id: i64,
    pub scene: String,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<Value>,
}

/// An error of the open interface: the catalogue's code and message, and a hint.
#[derive(Serialize, ToSchema)]
pub struct OpenErrorBody {
    pub code: &'static str,
    pub message: &'static str,
    pub correlation_id: String,
    pub hint: Option<String>,
}

pub(crate) fn refuse(e: DomainError, hint: Option<String>, cid: &str) -> Response {
    if e.code.http_status() >= 500 {
        // Our own trouble: the normal path logs it and answers without detail.
        return render_error(e.code, cid, Flavour::Json);
    }
    tracing::info!(code = e.code.code(), detail = %e.detail, "open interface request refused");
    let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
    let mut r = (status, axum::Json(OpenErrorBody { code: e.code.code(), message: e.code.message_zh(), correlation_id: cid.to_owned(), hint })).into_response();
    r.extensions_mut().insert(Normalised);
    r
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default()
}

pub(crate) async fn authenticate(st: &WebState, headers: &HeaderMap, method: &Method, path: &str, body: &[u8]) -> Result<String, DomainError> {
    let key_id = header(headers, HEADER_KEY);
    if key_id.is_empty() || key_id.len() > 64 {
        return Err(DomainError::new(ErrorCode::SignatureInvalid, "no key"));
    }
    let r = SignedRequest {
        key_id,
        timestamp: header(headers, HEADER_TIMESTAMP),
        nonce: header(headers, HEADER_NONCE),
        signature: header(headers, HEADER_SIGNATURE),
        method: method.as_str(),
        path,
        body,
    };
    st.app.authenticate_open_request(&r).await?;
    Ok(key_id.to_owned())
}

/// Pushes a notice to a patient.
#[utoipa::path(post, path = "/open/v1/messages", tag = "open",
    params(
        ("X-Cb-Key" = String, Header, description = "Your client key"),
        ("X-Cb-Timestamp" = String, Header, description = "Unix seconds; within 300 s of our clock"),
        ("X-Cb-Nonce" = String, Header, description = "8-64 of A-Z a-z 0-9 - _, never reused"),
        ("X-Cb-Signature" = String, Header, description = "hex HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)))"),
        ("Idempotency-Key" = String, Header, description = "1-64 of A-Z a-z 0-9 - _; a retry with the same key and body gets the first answer")),
    request_body = PushRequestDto,
    responses((status = 202, body = PushAnswerDto), (status = 401, body = OpenErrorBody), (status = 404, body = OpenErrorBody), (status = 422, body = OpenErrorBody)))]
pub async fn push(State(st): State<WebState>, Extension(cid): Extension<CorrelationId>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = json_body(&headers) {
        return refuse(e, Some("Content-Type: application/json".into()), &cid.0);
    }
    let key_id = match authenticate(&st, &headers, &method, "/open/v1/messages", &body).await {
        Ok(k) => k,
        Err(e) => return refuse(e, None, &cid.0),
    };
    let idem = header(&headers, "idempotency-key");
    if idem.is_empty() || idem.len() > 64 || !idem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return refuse(ErrorCode::ValidationFailed.into(), Some("Idempotency-Key header: 1-64 of A-Z a-z 0-9 - _".into()), &cid.0);
    }
    let dto: PushRequestDto = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return refuse(ErrorCode::BadRequest.into(), Some(format!("body: {e}")), &cid.0),
    };
    let req = PushRequest { scene: dto.scene, his_patient_id: dto.his_patient_id, variables: dto.variables, title: dto.title, text: dto.text };
    match st.app.push_notice(&key_id, idem, &req).await {
        Ok(answer) => (StatusCode::ACCEPTED, axum::Json(answer)).into_response(),
        Err(PushRefusal { error, hint }) => refuse(error, hint, &cid.0),
    }
}

/// A signed body is JSON and says so (the spec documents 415 for anything else): a JSON
/// body sent as `text/plain` is refused before its signature is even checked.
pub(crate) fn json_body(headers: &HeaderMap) -> Result<(), domain::DomainError> {
    let ct = headers.get(axum::http::header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let essence = ct.split(';').next().unwrap_or_default().trim();
    if essence.eq_ignore_ascii_case("application/json") { Ok(()) } else { Err(ErrorCode::UnsupportedMediaType.into()) }
}

/// Where a pushed message stands, with every try on every channel.
#[utoipa::path(get, path = "/open/v1/messages/{message_no}", tag = "open", params(("message_no" = String, Path, description = "From the push answer")),
    responses((status = 200, body = Object), (status = 401, body = OpenErrorBody), (status = 404, body = OpenErrorBody)))]
pub async fn status(
    State(st): State<WebState>,
    Extension(cid): Extension<CorrelationId>,
    method: Method,
    headers: HeaderMap,
    Path(no): Path<String>,
) -> Response {
    if no.is_empty() || no.len() > 32 || !no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return refuse(ErrorCode::NotFound.into(), None, &cid.0);
    }
    let key_id = match authenticate(&st, &headers, &method, &format!("/open/v1/messages/{no}"), b"").await {
        Ok(k) => k,
        Err(e) => return refuse(e, None, &cid.0),
    };
    match st.app.open_message_status(&key_id, &no).await {
        Ok(v) => axum::Json(v).into_response(),
        Err(e) => refuse(e, None, &cid.0),
    }
}
