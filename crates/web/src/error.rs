//! `AppError` → HTTP. Every error response carries the stable code, the Chinese
//! message and the request's correlation id; the cause goes to the log only (S17).
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use domain::{DomainError, ErrorCode};
use serde::Serialize;

#[derive(Debug)]
pub struct AppError(pub DomainError);

impl From<DomainError> for AppError {
    fn from(e: DomainError) -> Self {
        Self(e)
    }
}

impl From<ErrorCode> for AppError {
    fn from(c: ErrorCode) -> Self {
        Self(c.into())
    }
}

/// The error body of every JSON endpoint.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// Stable machine code, e.g. `ID_NUMBER_INVALID`.
    pub code: &'static str,
    /// A message in Chinese for the patient or staff member.
    pub message: &'static str,
    /// Quote this to the help desk; it finds the log lines of this request.
    pub correlation_id: String,
}

/// Marks a response as already in our error format, so the normaliser leaves it alone.
#[derive(Clone, Copy)]
pub struct Normalised;

/// How the client wants errors: JSON for the API, a page for browsers.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Flavour {
    Json,
    Html,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let code = self.0.code;
        if code.http_status() >= 500 {
            tracing::error!(code = code.code(), detail = %self.0.detail, "request failed");
        } else {
            tracing::info!(code = code.code(), detail = %self.0.detail, "request refused");
        }
        // Rendered by the normaliser, which knows the correlation id and the flavour.
        let mut r = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR).into_response();
        r.extensions_mut().insert(code);
        r
    }
}

pub fn render_error(code: ErrorCode, correlation_id: &str, flavour: Flavour) -> Response {
    let status = StatusCode::from_u16(code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut r = match flavour {
        Flavour::Json => {
            (status, axum::Json(ErrorBody { code: code.code(), message: code.message_zh(), correlation_id: correlation_id.to_owned() })).into_response()
        }
        Flavour::Html => (status, Html(crate::pages::error_page(code, correlation_id))).into_response(),
    };
    match code {
        ErrorCode::RateLimited => {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        // Admission control turned the request away before it reached the HIS: a
        // short wait spreads the retries of a rush over the next seconds.
        ErrorCode::HisBusy => {
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        }
        _ => {}
    }
    r.extensions_mut().insert(Normalised);
    r
}

/// The Chinese message of a catalogue code carried in a redirect (`?error=CODE`), if it
/// is one; anything else shows nothing.
pub fn message_of(code: Option<&str>) -> Option<&'static str> {
    let code = code?;
    ErrorCode::ALL.iter().find(|c| c.code() == code).map(|c| c.message_zh())
}

/// Maps a bare status (from axum's own rejections or tower layers) to the catalogue.
pub fn code_for_status(s: StatusCode) -> ErrorCode {
    match s.as_u16() {
        400 => ErrorCode::BadRequest,
        401 => ErrorCode::Unauthenticated,
        403 => ErrorCode::Forbidden,
        404 => ErrorCode::NotFound,
        405 => ErrorCode::MethodNotAllowed,
        408 | 503 | 504 => ErrorCode::UpstreamUnavailable,
        409 => ErrorCode::Conflict,
        413 => ErrorCode::PayloadTooLarge,
        415 => ErrorCode::UnsupportedMediaType,
        422 => ErrorCode::ValidationFailed,
        429 => ErrorCode::RateLimited,
        _ => ErrorCode::Internal,
    }
}
