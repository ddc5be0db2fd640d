//! Session cookies and the extractors that turn them into a signed-in patient account
//! or staff member. Cookies are `__Host-` prefixed, Secure, HttpOnly, SameSite=Lax
//! (S1); the token is 256 random bits; the server keeps only its hash.
use crate::WebState;
use crate::error::AppError;
use app::staff::StaffPrincipal;
use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use domain::staff::Role;

pub const PATIENT_COOKIE: &str = "__Host-cb_patient";
pub const STAFF_COOKIE: &str = "__Host-cb_staff";
pub const OAUTH_STATE_COOKIE: &str = "__Host-cb_oauth";

pub fn read_cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
        .filter(|v| v.len() <= 256 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

pub fn set_cookie(name: &str, value: &str, max_age_secs: Option<i64>) -> HeaderValue {
    let age = max_age_secs.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    HeaderValue::from_str(&format!("{name}={value}; Path=/; Secure; HttpOnly; SameSite=Lax{age}")).expect("ascii cookie")
}

pub fn clear_cookie(name: &str) -> HeaderValue {
    set_cookie(name, "", Some(0))
}

/// Ends the session named by `cookie` (server-side delete, cookie cleared) and
/// redirects; shared by the patient and staff sign-out.
pub async fn end_session(st: &WebState, headers: &HeaderMap, cookie: &str, then: &str) -> Result<Response, AppError> {
    if let Some(t) = read_cookie(headers, cookie) {
        st.app.logout(&t).await?;
    }
    let mut r = Redirect::to(then).into_response();
    r.headers_mut().append(header::SET_COOKIE, clear_cookie(cookie));
    Ok(r)
}

fn path_and_query(parts: &Parts) -> String {
    parts.uri.path_and_query().map(|p| p.as_str().to_owned()).unwrap_or_else(|| "/".into())
}

fn wants_page(parts: &Parts) -> bool {
    !parts.uri.path().starts_with("/api/")
}

/// A signed-in WeChat account. Pages without one redirect to WeChat sign-in; the API
/// answers 401.
pub struct PatientAuth {
    pub account_id: i64,
    /// When this session signed in (for S6: money needs a recent sign-in).
    pub authenticated_at: chrono::DateTime<chrono::Utc>,
}

pub enum AuthRejection {
    Redirect(String),
    Error(AppError),
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            AuthRejection::Redirect(to) => Redirect::to(&to).into_response(),
            AuthRejection::Error(e) => e.into_response(),
        }
    }
}

pub fn safe_next(next: &str) -> String {
    // Only local paths: never an open redirect.
    if next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && next.len() <= 512 { next.to_owned() } else { "/".to_owned() }
}

use domain::format::url_encode;

impl FromRequestParts<WebState> for PatientAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Self::Rejection> {
        let fail = |e: AppError, parts: &Parts| {
            if wants_page(parts) { AuthRejection::Redirect(format!("/wx/login?next={}", url_encode(&path_and_query(parts)))) } else { AuthRejection::Error(e) }
        };
        let Some(token) = read_cookie(&parts.headers, PATIENT_COOKIE) else {
            return Err(fail(ErrorCode::Unauthenticated.into(), parts));
        };
        match st.app.patient_session(&token).await {
            Ok((account_id, authenticated_at)) => Ok(Self { account_id, authenticated_at }),
            Err(e) => Err(fail(e.into(), parts)),
        }
    }
}

/// A patient whose sign-in is recent enough to move money (S6): a 退号 that refunds, a
/// card binding. An older sign-in is sent through WeChat sign-in again (silent inside
/// WeChat) and back to the page the step belongs to; the API answers 401
/// `REAUTH_REQUIRED`.
pub struct FreshPatientAuth(pub PatientAuth);

/// A patient whose sign-in is recent enough to open health records (S6): a report's file
/// or pages, a record copy's photos; otherwise as [`FreshPatientAuth`] (`REAUTH_TO_READ`).
pub struct ReadingPatientAuth(pub PatientAuth);

async fn recent_patient(parts: &mut Parts, st: &WebState, read: bool) -> Result<PatientAuth, AuthRejection> {
    let auth = <PatientAuth as FromRequestParts<WebState>>::from_request_parts(parts, st).await?;
    let check = if read { st.app.require_recent_sign_in_to_read(auth.authenticated_at) } else { st.app.require_fresh_auth(auth.authenticated_at) };
    match check {
        Ok(()) => Ok(auth),
        Err(e) if wants_page(parts) => {
            // A form's action cannot be opened again with GET: back to its page.
            let back = if parts.method == axum::http::Method::GET {
                path_and_query(parts)
            } else {
                parts.uri.path().rsplit_once('/').map(|(page, _)| page).filter(|p| !p.is_empty()).unwrap_or("/").to_owned()
            };
            tracing::info!(code = e.code.code(), "sign-in too old for this step: signing in again");
            Err(AuthRejection::Redirect(format!("/wx/login?next={}", url_encode(&back))))
        }
        Err(e) => Err(AuthRejection::Error(e.into())),
    }
}

impl FromRequestParts<WebState> for FreshPatientAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Self::Rejection> {
        recent_patient(parts, st, false).await.map(Self)
    }
}

impl FromRequestParts<WebState> for ReadingPatientAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Self::Rejection> {
        recent_patient(parts, st, true).await.map(Self)
    }
}

impl OptionalFromRequestParts<WebState> for PatientAuth {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Option<Self>, Self::Rejection> {
        let Some(token) = read_cookie(&parts.headers, PATIENT_COOKIE) else { return Ok(None) };
        match st.app.patient_session(&token).await {
            Ok((account_id, authenticated_at)) => Ok(Some(Self { account_id, authenticated_at })),
            Err(e) if matches!(e.code, ErrorCode::Unauthenticated | ErrorCode::SessionExpired) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// A signed-in staff member (password + TOTP).
pub struct StaffAuth(pub StaffPrincipal);

impl FromRequestParts<WebState> for StaffAuth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, st: &WebState) -> Result<Self, Self::Rejection> {
        if let Some(p) = parts.extensions.get::<StaffPrincipal>() {
            return Ok(Self(p.clone()));
        }
        let fail = |e: AppError, parts: &Parts| {
            if wants_page(parts) {
                AuthRejection::Redirect(format!("/staff/login?next={}", url_encode(&path_and_query(parts))))
            } else {
                AuthRejection::Error(e)
            }
        };
        let Some(token) = read_cookie(&parts.headers, STAFF_COOKIE) else {
            return Err(fail(ErrorCode::Unauthenticated.into(), parts));
        };
        match st.app.staff_session(&token).await {
            Ok(p) => Ok(Self(p)),
            Err(e) => Err(fail(e.into(), parts)),
        }
    }
}

/// Route layer: the staff member must be signed in and hold one of `roles` (S4). Put
/// on whole sub-routers so no staff route can forget it.
pub async fn require_roles(State((st, roles)): State<(WebState, &'static [Role])>, req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    let principal = match <StaffAuth as FromRequestParts<WebState>>::from_request_parts(&mut parts, &st).await {
        Ok(StaffAuth(p)) => p,
        Err(r) => return r.into_response(),
    };
    if !principal.has_any(roles) {
        tracing::warn!(staff_id = principal.id, "role check refused");
        return AppError(domain::DomainError::new(ErrorCode::Forbidden, "role")).into_response();
    }
    parts.extensions.insert(principal);
    next.run(Request::from_parts(parts, body)).await
}
