//! Signing in (WeChat web authorisation) and the account's 就诊人: the pages and the JSON
//! API. Adding one runs the real-name check and the HIS registration (建档).
use crate::WebState;
use crate::api::ApiJson;
use crate::auth::{OAUTH_STATE_COOKIE, PATIENT_COOKIE, PatientAuth, clear_cookie, read_cookie, safe_next, set_cookie};
use crate::confirm::Confirmation;
use crate::error::{AppError, ErrorBody};
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::identity::AddPatientInput;
use app::identity::PatientSummary;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use domain::identity::{MAX_PATIENTS_PER_ACCOUNT, Relationship};
use domain::{DomainError, ErrorCode};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

/// Starts WeChat web authorisation. The `state` is random and also set in a short-lived
/// cookie, so the callback can prove the round trip started here (login CSRF).
pub async fn wechat_login(State(st): State<WebState>, headers: HeaderMap, Query(q): Query<LoginQuery>) -> Response {
    let next = safe_next(q.next.as_deref().unwrap_or("/"));
    let nonce = hex::encode(crypto::random_bytes::<16>());
    let state = format!("{nonce}.{}", hex::encode(next.as_bytes()));
    let redirect = format!("{}/wx/callback", st.public_base(&headers));
    let mut r = Redirect::to(&st.app.wechat_authorize_url(&redirect, &state)).into_response();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(OAUTH_STATE_COOKIE, &nonce, Some(600)));
    r
}

#[derive(Deserialize)]
pub struct Callback {
    code: Option<String>,
    state: Option<String>,
}

pub async fn wechat_callback(
    State(st): State<WebState>,
    headers: HeaderMap,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<Callback>,
) -> Result<Response, AppError> {
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return Err(DomainError::new(ErrorCode::WechatAuthFailed, "callback without code/state").into());
    };
    let (nonce, next_hex) = state.split_once('.').unwrap_or(("", ""));
    let expected = read_cookie(&headers, OAUTH_STATE_COOKIE).unwrap_or_default();
    if expected.is_empty() || !crypto::constant_time_eq(expected.as_bytes(), nonce.as_bytes()) {
        return Err(DomainError::new(ErrorCode::WechatAuthFailed, "oauth state mismatch").into());
    }
    let next = hex::decode(next_hex).ok().and_then(|b| String::from_utf8(b).ok()).map(|n| safe_next(&n)).unwrap_or_else(|| "/".into());
    let login = st.app.wechat_login(&code, &cid.0).await?;
    let mut r = Redirect::to(&next).into_response();
    let age = st.app.policies().patient_session.absolute.num_seconds();
    r.headers_mut().append(header::SET_COOKIE, set_cookie(PATIENT_COOKIE, &login.token, Some(age)));
    r.headers_mut().append(header::SET_COOKIE, clear_cookie(OAUTH_STATE_COOKIE));
    Ok(r)
}

pub async fn logout(State(st): State<WebState>, headers: HeaderMap) -> Result<Response, AppError> {
    crate::auth::end_session(&st, &headers, PATIENT_COOKIE, "/").await
}

pub struct PatientRow {
    pub id: i64,
    pub name_masked: String,
    pub id_no_masked: String,
    pub relationship: &'static str,
    pub insurance: &'static str,
    pub gender: &'static str,
    pub age: i32,
    pub mr_no: String,
    pub is_default: bool,
}

fn row(p: &PatientSummary, today: chrono::NaiveDate) -> PatientRow {
    let age = domain::identity::age_on(p.birth_date, today) as i32;
    PatientRow {
        id: p.id,
        name_masked: p.name_masked.clone(),
        id_no_masked: p.id_no_masked.clone(),
        relationship: p.relationship.label_zh(),
        insurance: app::App::insurance_label(&p.insurance_kind),
        gender: p.gender.label_zh(),
        age,
        mr_no: p.mr_no.clone(),
        is_default: p.is_default,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "patients.html")]
struct PatientsPage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<PatientRow>,
    flash: Option<&'static str>,
    max: usize,
}

#[derive(Deserialize)]
pub struct Flash {
    added: Option<String>,
    removed: Option<String>,
}

pub async fn patients(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(f): Query<Flash>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/patients");
    let today = st.app.today();
    let rows = st.app.list_patients(auth.account_id).await?.iter().map(|p| row(p, today)).collect();
    let flash = if f.added.is_some() {
        Some("已添加就诊人，实名认证通过。")
    } else if f.removed.is_some() {
        Some("已移除就诊人。")
    } else {
        None
    };
    Ok(PatientsPage { hospital: c.hospital, big_text: c.big_text, back: c.back, patients: rows, flash, max: MAX_PATIENTS_PER_ACCOUNT }.into_response())
}

#[derive(Default, Deserialize)]
pub struct PatientForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub id_card_no: String,
    #[serde(default)]
    pub mobile: String,
    #[serde(default)]
    pub relationship: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "patient_new.html")]
struct NewPatientPage {
    hospital: String,
    big_text: bool,
    back: String,
    error: Option<&'static str>,
    form: PatientForm,
    relationships: Vec<(&'static str, &'static str)>,
}

fn relationship_choices() -> Vec<(&'static str, &'static str)> {
    Relationship::ALL.iter().map(|r| (r.as_str(), r.label_zh())).collect()
}

pub async fn new_patient(State(st): State<WebState>, headers: HeaderMap, _auth: PatientAuth) -> Response {
    let c = Chrome::new(&st, &headers, "/patients/new");
    let form = PatientForm { relationship: "self".into(), ..Default::default() };
    NewPatientPage { hospital: c.hospital, big_text: c.big_text, back: c.back, error: None, form, relationships: relationship_choices() }.into_response()
}

/// Creates the patient, or shows the form again with what was typed and the reason.
pub async fn create_patient(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(form): Form<PatientForm>,
) -> Result<Response, AppError> {
    let input = AddPatientInput {
        name: form.name.clone(),
        id_card_no: form.id_card_no.clone(),
        mobile: Some(form.mobile.clone()),
        relationship: form.relationship.clone(),
    };
    match st.app.add_patient(auth.account_id, &input, &cid.0).await {
        Ok(_) => Ok(Redirect::to("/patients?added=1").into_response()),
        Err(e) if e.code.http_status() < 500 => {
            tracing::info!(code = e.code.code(), detail = %e.detail, "add patient refused");
            let c = Chrome::new(&st, &headers, "/patients/new");
            let page = NewPatientPage {
                hospital: c.hospital,
                big_text: c.big_text,
                back: c.back,
                error: Some(e.code.message_zh()),
                form,
                relationships: relationship_choices(),
            };
            // The form itself is the error page: mark it so the normaliser keeps it.
            let mut r = (StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY), page).into_response();
            r.extensions_mut().insert(crate::error::Normalised);
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// Removing a 就诊人 asks first (naming who), then removes.
pub async fn remove_patient(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    if !crate::confirm::confirmed_in(&body) {
        let p = st.app.patient_of(auth.account_id, id).await?;
        let c = Chrome::new(&st, &headers, "/patients");
        return Ok(Confirmation::new("移除就诊人", format!("/patients/{id}/delete"), "/patients", "移除")
            .fact("就诊人", format!("{}（{}）", p.name_masked, p.relationship.label_zh()))
            .fact("证件号", p.id_no_masked)
            .fact("病案号", p.mr_no)
            .consequence("移除后，本账号不再显示该就诊人，也不再收到其就诊通知；医院保存的病历、预约与缴费记录不受影响，需要时可重新添加。")
            .patient_page(c));
    }
    st.app.remove_patient(auth.account_id, id, &cid.0).await?;
    Ok(Redirect::to("/patients?removed=1").into_response())
}

// ---- JSON API ----

#[derive(Serialize, ToSchema)]
pub struct PatientDto {
    pub id: i64,
    /// self / child / parent / spouse / other
    pub relationship: String,
    pub name_masked: String,
    pub id_no_masked: String,
    pub mobile_masked: Option<String>,
    pub gender: String,
    pub birth_date: String,
    pub mr_no: String,
    /// tier1 / tier2 / tier3 / children / self_pay
    pub insurance_kind: String,
    pub is_default: bool,
}

impl From<app::identity::PatientSummary> for PatientDto {
    fn from(p: app::identity::PatientSummary) -> Self {
        Self {
            id: p.id,
            relationship: p.relationship.as_str().into(),
            name_masked: p.name_masked,
            id_no_masked: p.id_no_masked,
            mobile_masked: p.mobile_masked,
            gender: format!("{:?}", p.gender).to_lowercase(),
            birth_date: p.birth_date.to_string(),
            mr_no: p.mr_no,
            insurance_kind: p.insurance_kind,
            is_default: p.is_default,
        }
    }
}

#[derive(Deserialize, ToSchema)]
pub struct AddPatientRequest {
    /// As on the ID card.
    pub name: String,
    /// 18-digit resident ID number (GB 11643 check digit).
    pub id_card_no: String,
    pub mobile: Option<String>,
    /// self / child / parent / spouse / other
    pub relationship: String,
}

/// The patients the signed-in WeChat user manages.
#[utoipa::path(get, path = "/api/v1/me/patients", tag = "identity", operation_id = "list_patients",
    responses((status = 200, body = Vec<PatientDto>), (status = 401, body = ErrorBody)))]
pub async fn api_list_patients(State(st): State<WebState>, auth: PatientAuth) -> Result<Json<Vec<PatientDto>>, AppError> {
    Ok(Json(st.app.list_patients(auth.account_id).await?.into_iter().map(Into::into).collect()))
}

/// Adds a patient after real-name verification and HIS registration (建档).
#[utoipa::path(post, path = "/api/v1/me/patients", tag = "identity", operation_id = "add_patient", request_body = AddPatientRequest,
    responses((status = 201, body = PatientDto), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 409, body = ErrorBody, description = "PATIENT_ALREADY_ADDED / PATIENT_LIMIT_REACHED"),
              (status = 415, body = ErrorBody), (status = 422, body = ErrorBody, description = "ID_NUMBER_INVALID, NAME_INVALID, MOBILE_INVALID, REAL_NAME_MISMATCH …")))]
pub async fn api_add_patient(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    ApiJson(req): ApiJson<AddPatientRequest>,
) -> Result<Response, AppError> {
    let input = AddPatientInput { name: req.name, id_card_no: req.id_card_no, mobile: req.mobile, relationship: req.relationship };
    let p = st.app.add_patient(auth.account_id, &input, &cid.0).await?;
    Ok((StatusCode::CREATED, Json(PatientDto::from(p))).into_response())
}

/// Removes a patient from the signed-in user's list.
#[utoipa::path(delete, path = "/api/v1/me/patients/{id}", tag = "identity", operation_id = "remove_patient", params(("id" = i64, Path)),
    responses((status = 204), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn api_remove_patient(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
) -> Result<StatusCode, AppError> {
    st.app.remove_patient(auth.account_id, id, &cid.0).await?;
    Ok(StatusCode::NO_CONTENT)
}
