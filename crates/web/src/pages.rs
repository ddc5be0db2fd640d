//! Patient pages (server-rendered, mobile first, Chinese). No JavaScript is needed for
//! any of them; a large-text mode for elderly patients is one tap away on every page.
use crate::WebState;
use crate::auth::{OAUTH_STATE_COOKIE, PATIENT_COOKIE, PatientAuth, clear_cookie, read_cookie, safe_next, set_cookie};
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::identity::AddPatientInput;
use app::identity::PatientSummary;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use chrono::Datelike;
use domain::identity::{MAX_PATIENTS_PER_ACCOUNT, Relationship};
use domain::{DomainError, ErrorCode};
use serde::Deserialize;

pub const TEXT_SIZE_COOKIE: &str = "cb_text";

/// What every patient page's frame needs.
pub struct Chrome {
    pub hospital: String,
    pub big_text: bool,
    pub back: String,
}

impl Chrome {
    pub fn new(st: &WebState, headers: &HeaderMap, back: &str) -> Self {
        Self { hospital: st.hospital_name.clone(), big_text: read_cookie(headers, TEXT_SIZE_COOKIE).as_deref() == Some("large"), back: back.to_owned() }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    hospital: &'a str,
    big_text: bool,
    back: &'a str,
    code: &'a str,
    message: &'a str,
    correlation_id: &'a str,
}

pub fn error_page(code: ErrorCode, correlation_id: &str) -> String {
    ErrorPage { hospital: crate::hospital_name_for_errors(), big_text: false, back: "/", code: code.code(), message: code.message_zh(), correlation_id }
        .render()
        .unwrap_or_else(|_| format!("{} ({})", code.message_zh(), code.code()))
}

pub struct PatientCard {
    pub name_masked: String,
    pub insurance: &'static str,
    pub mr_no: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    hospital: String,
    big_text: bool,
    back: String,
    greeting: Option<String>,
    current: Option<PatientCard>,
    unread: u64,
}

pub async fn home(State(st): State<WebState>, headers: HeaderMap, auth: Option<PatientAuth>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let (greeting, current, unread) = match auth {
        None => (None, None, 0),
        Some(a) => {
            let o = st.app.home_overview(a.account_id).await?;
            let current =
                o.first_patient.map(|p| PatientCard { insurance: app::App::insurance_label(&p.insurance_kind), name_masked: p.name_masked, mr_no: p.mr_no });
            (Some(o.nickname.unwrap_or_else(|| "微信用户".into())), current, o.unread_messages)
        }
    };
    Ok(HomePage { hospital: c.hospital, big_text: c.big_text, back: c.back, greeting, current, unread }.into_response())
}

#[derive(Deserialize)]
pub struct TextSize {
    size: String,
    back: Option<String>,
}

pub async fn text_size(Query(q): Query<TextSize>) -> Response {
    let value = if q.size == "large" { "large" } else { "normal" };
    let back = safe_next(q.back.as_deref().unwrap_or("/"));
    let mut r = Redirect::to(&back).into_response();
    // A display preference, not a secret: readable by nothing but the server anyway.
    r.headers_mut().append(header::SET_COOKIE, format!("{TEXT_SIZE_COOKIE}={value}; Path=/; Max-Age=31536000; SameSite=Lax").parse().expect("ascii"));
    r
}

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
    let b = p.birth_date;
    let mut age = today.year() - b.year();
    if (today.month(), today.day()) < (b.month(), b.day()) {
        age -= 1;
    }
    PatientRow {
        id: p.id,
        name_masked: p.name_masked.clone(),
        id_no_masked: p.id_no_masked.clone(),
        relationship: p.relationship.label_zh(),
        insurance: app::App::insurance_label(&p.insurance_kind),
        gender: p.gender.label_zh(),
        age: age.max(0),
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

pub async fn remove_patient(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    st.app.remove_patient(auth.account_id, id, &cid.0).await?;
    Ok(Redirect::to("/patients?removed=1").into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "departments.html")]
struct DepartmentsPage {
    hospital: String,
    big_text: bool,
    back: String,
    departments: std::sync::Arc<Vec<domain::booking::Department>>,
}

pub async fn departments(State(st): State<WebState>, headers: HeaderMap) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/departments");
    let departments = st.app.departments().await?;
    Ok(DepartmentsPage { hospital: c.hospital, big_text: c.big_text, back: c.back, departments }.into_response())
}

pub struct SessionRow {
    /// Where booking this session starts.
    pub book_href: String,
    pub date: String,
    pub weekday: &'static str,
    pub period: &'static str,
    pub suspended: bool,
    pub available: u32,
    pub capacity: u32,
    pub slots: Vec<(String, u32)>,
}

pub struct DoctorRow {
    pub name: String,
    pub title: String,
    pub specialty: String,
    pub fee: String,
    pub sessions: Vec<SessionRow>,
}

#[derive(Template, WebTemplate)]
#[template(path = "department.html")]
struct DepartmentPage {
    hospital: String,
    big_text: bool,
    back: String,
    name: String,
    location: String,
    intro: String,
    doctors: Vec<DoctorRow>,
}

pub fn weekday_zh(d: chrono::NaiveDate) -> &'static str {
    ["周一", "周二", "周三", "周四", "周五", "周六", "周日"][d.weekday().num_days_from_monday() as usize]
}

pub async fn department(State(st): State<WebState>, headers: HeaderMap, Path(dept_id): Path<String>) -> Result<Response, AppError> {
    if dept_id.len() > 32 || !dept_id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(ErrorCode::NotFound.into());
    }
    let back = format!("/departments/{dept_id}");
    let c = Chrome::new(&st, &headers, &back);
    let v = st.app.department_view(&dept_id).await?;
    let doctors = v
        .doctors
        .iter()
        .map(|d| DoctorRow {
            name: d.name.clone(),
            title: d.title.clone(),
            specialty: d.specialty.clone(),
            fee: d.visit_fee().map(|f| f.to_string()).unwrap_or_default(),
            sessions: v
                .schedules
                .iter()
                .filter(|s| s.doctor_code == d.doctor_code)
                .take(6)
                .map(|s| SessionRow {
                    book_href: format!("/book/{dept_id}/{}", s.schedule_id),
                    date: s.date.format("%m-%d").to_string(),
                    weekday: weekday_zh(s.date),
                    period: s.period.label_zh(),
                    suspended: s.suspended,
                    available: s.slots.iter().map(|x| x.available).sum(),
                    capacity: s.slots.iter().map(|x| x.capacity).sum(),
                    slots: s.slots.iter().map(|x| (x.start.format("%H:%M").to_string(), x.available)).collect(),
                })
                .collect(),
        })
        .collect();
    Ok(DepartmentPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        name: v.department.name,
        location: v.department.location,
        intro: v.department.intro,
        doctors,
    }
    .into_response())
}
