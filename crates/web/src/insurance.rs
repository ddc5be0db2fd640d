//! INS-3 pages: a guardian binds children's 少儿医保 (entry from the official account, a
//! Shenzhen social-security notice deep link, or the electronic social-security card),
//! verifies with the WeChat Pay password (simulated), and the binding is recorded.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::insurance::BindingSource;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "children.html")]
struct ChildrenPage {
    hospital: String,
    big_text: bool,
    back: String,
    children: Vec<(String, String, String, &'static str)>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct ChildrenQuery {
    bound: Option<String>,
    error: Option<String>,
}

pub async fn list(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<ChildrenQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/children");
    let children = st
        .app
        .child_bindings(auth.account_id)
        .await?
        .into_iter()
        .map(|b| {
            let at = b.bound_at.map(|t| domain::format::local_time(t, domain::format::TimeStyle::Date)).unwrap_or_default();
            (b.label, b.id_no_masked, at, BindingSource::parse(&b.source).label_zh())
        })
        .collect();
    let page = ChildrenPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        children,
        flash: q.bound.map(|_| "绑定成功，现在可以为孩子使用少儿医保支付。"),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "child_bind.html")]
struct BindPage {
    hospital: String,
    big_text: bool,
    back: String,
    from: &'static str,
    from_label: &'static str,
    name: String,
    id_card_no: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct BindQuery {
    from: Option<String>,
    /// A deep link may carry the child's name to fill in.
    name: Option<String>,
}

pub async fn form(State(st): State<WebState>, headers: HeaderMap, _auth: PatientAuth, Query(q): Query<BindQuery>) -> Result<Response, AppError> {
    let from = BindingSource::parse(q.from.as_deref().unwrap_or_default());
    Ok(bind_page(&st, &headers, from, &q.name.unwrap_or_default(), "", None))
}

/// The binding form, with what was typed kept (trimmed to the fields' lengths).
fn bind_page(st: &WebState, headers: &HeaderMap, from: BindingSource, name: &str, id_card_no: &str, error: Option<ErrorCode>) -> Response {
    let c = Chrome::new(st, headers, "/children/bind");
    BindPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        from: from.as_str(),
        from_label: from.label_zh(),
        name: name.chars().take(30).collect(),
        id_card_no: id_card_no.chars().take(18).collect(),
        error: error.map(ErrorCode::message_zh),
    }
    .into_response()
}

#[derive(Deserialize)]
pub struct BindForm {
    #[serde(default)]
    from: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    id_card_no: String,
    #[serde(default)]
    consent: String,
}

pub async fn start(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<BindForm>,
) -> Result<Response, AppError> {
    let from = BindingSource::parse(&f.from);
    let again = |code: ErrorCode| bind_page(&st, &headers, from, &f.name, &f.id_card_no, Some(code));
    if f.consent != "1" {
        return Ok(again(ErrorCode::ValidationFailed));
    }
    let redirect = format!("{}/children/bind/back", st.public_base(&headers));
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.start_child_binding(auth.account_id, &f.name, &f.id_card_no, from, &redirect, &actor).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => {
            tracing::info!(code = e.code.code(), detail = %e.detail, "child binding refused");
            again(e.code)
        }
    })
}

#[derive(Deserialize)]
pub struct BindBack {
    #[serde(rename = "bindCode")]
    bind_code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

pub async fn back(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<BindBack>,
) -> Result<Response, AppError> {
    let (Some(code), Some(state), None) = (q.bind_code, q.state, q.error) else {
        return Ok(Redirect::to(&format!("/children?error={}", ErrorCode::ChildBindingExpired.code())).into_response());
    };
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.child_binding_returned(auth.account_id, &code, &state, &actor).await {
        Ok(b) => Redirect::to(&format!("/children?bound={}", b.patient_id.unwrap_or_default())).into_response(),
        Err(e) => {
            tracing::info!(code = e.code.code(), detail = %e.detail, "child binding not completed");
            Redirect::to(&format!("/children?error={}", e.code.code())).into_response()
        }
    })
}

// ---- JSON API ----

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct StartBindingRequest {
    pub name: String,
    pub id_card_no: String,
    /// official_account / si_notice / esscard
    #[serde(default)]
    pub source: String,
    /// Where the verification page sends the guardian back with `bindCode` and `state`; a
    /// page of this platform's own origin.
    pub redirect_uri: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct NextStepDto {
    /// The guardian-verification page (WeChat Pay password) to open.
    pub next_url: String,
}

#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct CompleteBindingRequest {
    pub bind_code: String,
    pub state: String,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ChildDto {
    pub patient_id: Option<i64>,
    pub name_masked: String,
    pub id_no_masked: String,
    pub source: String,
    pub bound_at: Option<String>,
}

fn child_dto(b: app::insurance::ChildBinding) -> ChildDto {
    ChildDto {
        patient_id: b.patient_id,
        name_masked: b.name_masked,
        id_no_masked: b.id_no_masked,
        source: b.source,
        bound_at: b.bound_at.map(|t| t.to_rfc3339()),
    }
}

/// INS-3 step 1: checks the child (real-name, 少儿医保, registered guardian) and returns the
/// guardian-verification page. Refusals: `CHILD_NOT_INSURED`, `CHILD_NOT_YOUR_WARD`,
/// `GUARDIAN_SELF_REQUIRED`, `REAL_NAME_MISMATCH`.
#[utoipa::path(post, path = "/api/v1/me/children/bindings", tag = "identity", request_body = StartBindingRequest,
    responses((status = 200, body = NextStepDto), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_start(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    crate::api::ApiJson(req): crate::api::ApiJson<StartBindingRequest>,
) -> Result<Response, AppError> {
    // Back to our own origin only: the code must not be carried anywhere else.
    if !req.redirect_uri.starts_with(&format!("{}/", st.public_base(&headers))) || req.redirect_uri.len() > 512 {
        return Err(ErrorCode::ValidationFailed.into());
    }
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    let url = st.app.start_child_binding(auth.account_id, &req.name, &req.id_card_no, BindingSource::parse(&req.source), &req.redirect_uri, &actor).await?;
    Ok(axum::Json(NextStepDto { next_url: url }).into_response())
}

/// INS-3 step 2: the guardian came back verified; the child becomes a bound 就诊人.
#[utoipa::path(post, path = "/api/v1/me/children/bindings/complete", tag = "identity", request_body = CompleteBindingRequest,
    responses((status = 200, body = ChildDto), (status = 403, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_complete(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    crate::api::ApiJson(req): crate::api::ApiJson<CompleteBindingRequest>,
) -> Result<Response, AppError> {
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    let b = st.app.child_binding_returned(auth.account_id, &req.bind_code, &req.state, &actor).await?;
    Ok(axum::Json(child_dto(b)).into_response())
}

/// The account's bound children.
#[utoipa::path(get, path = "/api/v1/me/children", tag = "identity", responses((status = 200, body = [ChildDto])))]
pub async fn api_list(State(st): State<WebState>, auth: PatientAuth) -> Result<Response, AppError> {
    let rows: Vec<ChildDto> = st.app.child_bindings(auth.account_id).await?.into_iter().map(child_dto).collect();
    Ok(axum::Json(rows).into_response())
}
