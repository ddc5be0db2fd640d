//! Face-scan services on the phone (刷脸就医, FACE-1): the account's 就诊人 with where each
//! one's enrolment stands; the separate consent page (its text and version, agree or
//! not — not agreeing changes nothing); the camera page that takes one live picture with
//! the front camera and sends it for the identity check and enrolment; closing, after a
//! confirmation, which withdraws the consent and deletes the face.
use crate::WebState;
use crate::auth::{FreshPatientAuth, PatientAuth};
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::face::FacePatient;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::face::EnrolmentState;
use domain::format::{TimeStyle, local_time};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn actor(account_id: i64, cid: &CorrelationId) -> Actor {
    Actor::patient_account(account_id, &cid.0)
}

/// One 就诊人's face services as the page and the API show them.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FaceEnrolmentDto {
    pub patient_id: i64,
    /// How the account names the 就诊人 (masked).
    pub patient_label: String,
    /// none, enrolling, active, withdrawing, withdrawn or failed.
    pub state: String,
    pub state_label: String,
    pub enrolled_at: Option<String>,
    pub withdrawn_at: Option<String>,
    /// Whether the 就诊人's consent to the face services is in force.
    pub consent_in_force: bool,
}

impl FaceEnrolmentDto {
    fn of(p: &FacePatient) -> Self {
        let e = p.enrolment.as_ref();
        let state = e.map(|e| e.state);
        Self {
            patient_id: p.patient.id,
            patient_label: p.label.clone(),
            state: state.map(EnrolmentState::as_str).unwrap_or("none").into(),
            state_label: state.map(EnrolmentState::label_zh).unwrap_or("未开通").into(),
            enrolled_at: e.and_then(|e| e.enrolled_at).map(|t| local_time(t, TimeStyle::Minute)),
            withdrawn_at: e.and_then(|e| e.withdrawn_at).map(|t| local_time(t, TimeStyle::Minute)),
            consent_in_force: p.consent_in_force,
        }
    }

    fn active(&self) -> bool {
        self.state == EnrolmentState::Active.as_str()
    }

    fn closable(&self) -> bool {
        self.consent_in_force || matches!(self.state.as_str(), "active" | "enrolling")
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "face.html")]
struct HomePage {
    hospital: String,
    big_text: bool,
    back: String,
    services_on: bool,
    rows: Vec<FaceEnrolmentDto>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct HomeQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn home(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<HomeQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let h = st.app.face_home(auth.account_id).await?;
    let flash = match q.done.as_deref() {
        Some("enrolled") => Some("已开通刷脸就医。到院后可在分诊台、诊室和自助机刷脸办理。"),
        Some("closed") => Some("已关闭刷脸就医，人脸信息正在从医院人脸库删除。"),
        Some("declined") => Some("您未同意授权，未开通刷脸就医。您仍可使用身份证、就诊卡或预约二维码办理全部业务。"),
        _ => None,
    };
    Ok(HomePage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        services_on: h.services_on,
        rows: h.patients.iter().map(FaceEnrolmentDto::of).collect(),
        flash,
        error: crate::error::message_of(q.error.as_deref()),
    }
    .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "face_consent.html")]
struct ConsentPage {
    hospital: String,
    big_text: bool,
    back: String,
    patient_id: i64,
    patient_label: String,
    text: &'static str,
    version_label: String,
    by_guardian: bool,
    in_force: bool,
}

/// The separate consent of one 就诊人, before any capture.
pub async fn consent_page(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Path(patient_id): Path<i64>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/face");
    let v = st.app.face_consent_view(auth.account_id, patient_id).await?;
    if v.patient.enrolment.as_ref().is_some_and(|e| e.state == EnrolmentState::Active) {
        return Ok(Redirect::to("/face").into_response());
    }
    Ok(ConsentPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patient_id,
        patient_label: v.patient.label,
        text: v.text,
        version_label: v.version_label,
        by_guardian: v.by_guardian,
        in_force: v.patient.consent_in_force,
    }
    .into_response())
}

/// Agreeing records the consent and opens the camera page.
pub async fn agree(
    State(st): State<WebState>,
    FreshPatientAuth(auth): FreshPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(patient_id): Path<i64>,
) -> Result<Response, AppError> {
    Ok(match st.app.grant_face_consent(auth.account_id, patient_id, &actor(auth.account_id, &cid)).await {
        Ok(()) => Redirect::to(&format!("/face/{patient_id}/capture")).into_response(),
        Err(e) if e.code.http_status() < 500 && e.code != domain::ErrorCode::PatientNotFound => {
            Redirect::to(&format!("/face?error={}", e.code.code())).into_response()
        }
        Err(e) => return Err(e.into()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "face_capture.html")]
struct CapturePage {
    hospital: String,
    big_text: bool,
    back: String,
    patient_id: i64,
    patient_label: String,
}

/// The camera page: the consent must be in force (otherwise back to the consent page).
pub async fn capture_page(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Path(patient_id): Path<i64>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/face");
    let v = st.app.face_consent_view(auth.account_id, patient_id).await?;
    if !v.patient.consent_in_force {
        return Ok(Redirect::to(&format!("/face/{patient_id}/consent")).into_response());
    }
    if v.patient.enrolment.as_ref().is_some_and(|e| e.state == EnrolmentState::Active) {
        return Ok(Redirect::to("/face").into_response());
    }
    Ok(CapturePage { hospital: c.hospital, big_text: c.big_text, back: c.back, patient_id, patient_label: v.patient.label }.into_response())
}

/// The live picture the camera page drew (JPEG), for the identity check and enrolment.
pub async fn enrol(
    State(st): State<WebState>,
    FreshPatientAuth(auth): FreshPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(patient_id): Path<i64>,
    body: Bytes,
) -> Result<Response, AppError> {
    let e = st.app.enrol_face(auth.account_id, patient_id, body.to_vec(), &actor(auth.account_id, &cid)).await?;
    Ok(axum::Json(serde_json::json!({"state": e.state.as_str(), "next": "/face?done=enrolled"})).into_response())
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    confirmed: Option<String>,
}

/// Closes the face services of a 就诊人 after a confirmation saying what happens.
pub async fn close(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(patient_id): Path<i64>,
    axum::Form(f): axum::Form<CloseForm>,
) -> Result<Response, AppError> {
    if crate::confirm::confirmed(f.confirmed.as_deref()) {
        st.app.withdraw_face(auth.account_id, patient_id, &actor(auth.account_id, &cid)).await?;
        return Ok(Redirect::to("/face?done=closed").into_response());
    }
    let c = Chrome::new(&st, &headers, "/face");
    let p = st.app.patient_of(auth.account_id, patient_id).await?;
    let purpose = domain::consent::Purpose::FaceEnrolment;
    Ok(Confirmation::new("关闭刷脸就医", format!("/face/{patient_id}/close"), "/face", "确认关闭")
        .fact("就诊人", p.own_label(st.app.today()))
        .consequence(purpose.withdrawal_effect_zh())
        .patient_page(c))
}

/// The account's 就诊人 and their face services.
#[utoipa::path(get, path = "/api/v1/me/face", tag = "face", responses((status = 200, body = Vec<FaceEnrolmentDto>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn api_list(State(st): State<WebState>, auth: PatientAuth) -> Result<Response, AppError> {
    let h = st.app.face_home(auth.account_id).await?;
    Ok(axum::Json(h.patients.iter().map(FaceEnrolmentDto::of).collect::<Vec<_>>()).into_response())
}
