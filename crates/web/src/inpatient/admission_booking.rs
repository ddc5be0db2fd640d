//! Admission booking on the phone (住院登记预约, OTH-5): the doctor's admission notices of
//! the chosen 就诊人, a day and bed type chosen for one, and the booking's page — the
//! office's proposal to accept, or, once confirmed, what to bring and the way there.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::inpatient::admission_booking::NoticeView;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::format::{TimeStyle, local_time, yuan};
use domain::inpatient::admission_booking::{BookingState, NoticeStatus};
use serde::Deserialize;

/// A notice as its card shows it.
pub struct NoticeCard {
    pub notice_no: String,
    pub dept: String,
    pub ward: String,
    pub doctor: String,
    pub diagnosis: String,
    pub issued: String,
    pub deposit: String,
    pub preparation: String,
    /// The days bookable now (from, to).
    pub window: Option<(String, String)>,
    /// What stands instead of a form (registered at the office, admitted, withdrawn, no day left).
    pub status: Option<String>,
    /// The live booking: (number, state, the choice in words).
    pub booking: Option<(String, &'static str, String)>,
    /// The form is offered: no booking yet, or one the patient may still change.
    pub can_choose: bool,
    /// (code, name, a day's fee)
    pub bed_types: Vec<(String, String, String)>,
    pub chosen_bed: String,
    pub chosen_date: String,
}

fn card(v: NoticeView) -> NoticeCard {
    let n = v.notice;
    let window = v.bookable.map(|(a, b)| (a.to_string(), b.to_string()));
    let status = match &n.status {
        NoticeStatus::Registered { date, booking_no: None, .. } => Some(format!("住院服务中心已为您登记 {date} 入院")),
        NoticeStatus::Admitted => Some("已办理入院".to_owned()),
        NoticeStatus::Cancelled => Some("该入院通知已撤销，如有疑问请联系开单医生".to_owned()),
        _ if v.booking.is_none() && window.is_none() => Some("可预约日期已过，请联系住院服务中心".to_owned()),
        _ => None,
    };
    let booking = v.booking.as_ref().map(|b| {
        let day = b.confirmed_date.unwrap_or(b.wanted_date);
        (b.booking_no.clone(), b.state.label_zh(), format!("{day} · {}", b.bed_type_name))
    });
    let can_choose = status.is_none() && window.is_some() && v.booking.as_ref().is_none_or(|b| b.state.patient_may_rechoose());
    let chosen_bed = v.booking.as_ref().map(|b| b.bed_type.clone()).or_else(|| n.bed_types.first().map(|b| b.code.clone())).unwrap_or_default();
    let chosen_date = v.booking.as_ref().map(|b| b.wanted_date.to_string()).or_else(|| window.as_ref().map(|w| w.0.clone())).unwrap_or_default();
    NoticeCard {
        notice_no: n.notice_no,
        dept: n.dept_name,
        ward: n.ward,
        doctor: n.doctor,
        diagnosis: n.diagnosis,
        issued: local_time(n.issued_at, TimeStyle::ShortMinute),
        deposit: yuan(n.deposit_advised),
        preparation: n.preparation,
        window,
        status,
        booking,
        can_choose,
        bed_types: n.bed_types.into_iter().map(|b| (b.code, b.name, yuan(b.daily_fee))).collect(),
        chosen_bed,
        chosen_date,
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "inpatient_admission.html")]
struct AdmissionPage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<(i64, String)>,
    current: i64,
    notices: Vec<NoticeCard>,
    /// (number, state, day and bed)
    past: Vec<(String, &'static str, String)>,
    error: Option<&'static str>,
}

pub async fn overview(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<super::WhoQuery>,
) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/inpatient");
    let o = st.app.admission_overview(auth.account_id, q.patient, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    let page = AdmissionPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patients: super::choices(&o.patients, st.app.today()),
        current: o.current.map(|p| p.id).unwrap_or_default(),
        notices: o.notices.into_iter().map(card).collect(),
        past: o
            .past
            .into_iter()
            .map(|b| (b.booking_no, b.state.label_zh(), format!("{} · {}", b.confirmed_date.unwrap_or(b.wanted_date), b.bed_type_name)))
            .collect(),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ChoiceForm {
    patient_id: i64,
    #[serde(default)]
    notice_no: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    bed_type: String,
}

/// The patient's choice of day and bed type: a booking the office will answer.
pub async fn request(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<ChoiceForm>,
) -> Result<Response, AppError> {
    let back = |code: &str| Redirect::to(&format!("/inpatient/admission?patient={}&error={code}", f.patient_id)).into_response();
    let Ok(date) = f.date.trim().parse::<chrono::NaiveDate>() else { return Ok(back(domain::ErrorCode::AdmissionChoiceInvalid.code())) };
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.request_admission(auth.account_id, f.patient_id, f.notice_no.trim(), date, f.bed_type.trim(), &actor).await {
        Ok(no) => Redirect::to(&format!("/inpatient/admission/{no}")).into_response(),
        Err(e) if e.code.http_status() < 500 && e.code != domain::ErrorCode::NotFound && e.code != domain::ErrorCode::PatientNotFound => back(e.code.code()),
        Err(e) => return Err(e.into()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "inpatient_admission_booking.html")]
struct BookingPage {
    hospital: String,
    big_text: bool,
    back: String,
    booking_no: String,
    patient: String,
    patient_id: i64,
    state: &'static str,
    /// requested, proposed, confirmed, cancelled, admitted: what the page offers.
    phase: &'static str,
    dept: String,
    ward: String,
    wanted: String,
    /// (day, bed type, the office's note)
    proposal: Option<(String, String, String)>,
    confirmed: Option<String>,
    register_no: String,
    note: String,
    bring: String,
    place: String,
    deposit: String,
    preparation: String,
    /// (url, summary)
    route: Option<(String, String)>,
    can_cancel: bool,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct BookingQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn detail(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<BookingQuery>,
) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/inpatient/admission");
    let v = st.app.admission_booking_view(auth.account_id, &no, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    let b = &v.booking;
    let page = BookingPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        booking_no: b.booking_no.clone(),
        patient: v.patient.name_masked.clone(),
        patient_id: v.patient.id,
        state: b.state.label_zh(),
        phase: b.state.as_str(),
        dept: b.dept_name.clone(),
        ward: b.ward.clone(),
        wanted: format!("{} · {}", b.wanted_date, b.bed_type_name),
        proposal: b.proposed.clone().filter(|_| b.state == BookingState::Proposed).map(|p| (p.0.to_string(), p.2, b.office_note.clone().unwrap_or_default())),
        confirmed: b.confirmed_date.filter(|_| b.state == BookingState::Confirmed).map(|d| d.to_string()),
        register_no: b.register_no.clone().unwrap_or_default(),
        note: b.office_note.clone().filter(|_| b.state != BookingState::Proposed).unwrap_or_default(),
        bring: v.bring.clone(),
        place: v.place.clone(),
        deposit: v.notice.as_ref().map(|n| yuan(n.deposit_advised)).unwrap_or_default(),
        preparation: v.notice.as_ref().map(|n| n.preparation.clone()).unwrap_or_default(),
        route: v.route.as_ref().map(|r| (r.url.clone(), r.summary.clone())),
        can_cancel: b.state.patient_may_cancel(),
        flash: match q.done.as_deref() {
            Some("cancelled") => Some("预约已取消。"),
            Some("accepted") => Some("已确认入院日期，住院服务中心已为您登记。"),
            _ => None,
        },
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

/// The patient accepts the office's proposed day.
pub async fn accept(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.accept_admission_proposal(auth.account_id, &no, &actor).await {
        Ok(()) => Redirect::to(&format!("/inpatient/admission/{no}?done=accepted")).into_response(),
        Err(e) if e.code == domain::ErrorCode::NotFound => return Err(e.into()),
        Err(e) => Redirect::to(&format!("/inpatient/admission/{no}?error={}", e.code.code())).into_response(),
    })
}

#[derive(Deserialize)]
pub struct CancelForm {
    confirmed: Option<String>,
}

/// Gives the booking up, after asking.
pub async fn cancel(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<CancelForm>,
) -> Result<Response, AppError> {
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        // Only the account's own booking gets a confirmation page.
        let v = st.app.admission_booking_view(auth.account_id, &no, &actor).await?;
        let b = &v.booking;
        let conf = crate::confirm::Confirmation::new("取消入院预约", format!("/inpatient/admission/{no}/cancel"), format!("/inpatient/admission/{no}"), "取消")
            .fact("就诊人", v.patient.name_masked.clone())
            .fact("病区", b.ward.clone())
            .fact("入院日期", b.confirmed_date.unwrap_or(b.wanted_date).to_string())
            .consequence(if b.state == BookingState::Confirmed {
                "取消后住院服务中心将释放为您预留的床位；如需入院，可在入院通知有效期内重新预约。"
            } else {
                "取消后可在入院通知有效期内重新预约。"
            })
            .confirm_label("确认取消预约");
        return Ok(conf.patient_page(Chrome::new(&st, &headers, &format!("/inpatient/admission/{no}"))));
    }
    Ok(match st.app.cancel_admission_booking(auth.account_id, &no, &actor).await {
        Ok(()) => Redirect::to(&format!("/inpatient/admission/{no}?done=cancelled")).into_response(),
        Err(e) if e.code == domain::ErrorCode::NotFound => return Err(e.into()),
        Err(e) => Redirect::to(&format!("/inpatient/admission/{no}?error={}", e.code.code())).into_response(),
    })
}
