//! The outpatient office's console (门诊部): a day's sessions of a department with their
//! bookings, and 停诊 / 改诊 / 替诊 — every booked patient is told and can rebook or be
//! refunded in one tap.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::weekday_zh;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use domain::booking::{BookingState, SessionChange};
use serde::Deserialize;

pub struct SessionRow {
    pub schedule_id: String,
    pub doctor: String,
    pub doctor_code: String,
    pub period: &'static str,
    pub hours: String,
    pub suspended: bool,
    pub booked: usize,
    pub paid: usize,
    /// Other doctors of the department, for 替诊.
    pub others: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_sessions.html")]
struct SessionsPage {
    hospital: String,
    departments: Vec<(String, String)>,
    dept: String,
    date: String,
    weekday: &'static str,
    rows: Vec<SessionRow>,
    flash: Option<String>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SessionsQuery {
    #[serde(default)]
    dept: String,
    #[serde(default)]
    date: String,
    done: Option<usize>,
    error: Option<String>,
}

pub async fn sessions(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<SessionsQuery>) -> Result<Response, AppError> {
    let departments: Vec<(String, String)> = st.app.departments().await?.iter().map(|d| (d.dept_id.clone(), d.name.clone())).collect();
    let dept = if departments.iter().any(|d| d.0 == q.dept) { q.dept.clone() } else { departments.first().map(|d| d.0.clone()).unwrap_or_default() };
    let date = chrono::NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d").unwrap_or_else(|_| st.app.today());
    let v = st.app.department_view(&dept).await?;
    let mut rows = Vec::new();
    for s in v.schedules.iter().filter(|s| s.date == date) {
        let live = st.app.store.bookings_of_schedule(&s.schedule_id, &[BookingState::Locked, BookingState::Confirmed, BookingState::CheckedIn]).await?;
        let doctor = v.doctors.iter().find(|d| d.doctor_code == s.doctor_code);
        rows.push(SessionRow {
            schedule_id: s.schedule_id.clone(),
            doctor: doctor.map(|d| format!("{} {}", d.name, d.title)).unwrap_or_else(|| s.doctor_code.clone()),
            doctor_code: s.doctor_code.clone(),
            period: s.period.label_zh(),
            hours: match (s.slots.first(), s.slots.last()) {
                (Some(a), Some(b)) => format!("{}-{}", a.start.format("%H:%M"), b.end.format("%H:%M")),
                _ => String::new(),
            },
            suspended: s.suspended,
            booked: live.len(),
            paid: live.iter().filter(|r| r.state != BookingState::Locked.as_str()).count(),
            others: v.doctors.iter().filter(|d| d.doctor_code != s.doctor_code).map(|d| (d.doctor_code.clone(), format!("{} {}", d.name, d.title))).collect(),
        });
    }
    let page = SessionsPage {
        hospital: st.hospital_name.clone(),
        departments,
        dept,
        date: date.to_string(),
        weekday: weekday_zh(date),
        rows,
        flash: q.done.map(|n| format!("已处理，{n} 位已预约患者将收到通知，可一键改约或退费。")),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    dept: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    shift_minutes: String,
    #[serde(default)]
    location: String,
    #[serde(default)]
    doctor_code: String,
}

pub async fn change(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(schedule_id): Path<String>,
    Form(f): Form<ChangeForm>,
) -> Result<Response, AppError> {
    let back = |extra: String| Redirect::to(&format!("/staff/outpatient/sessions?dept={}&date={}&{extra}", f.dept, f.date)).into_response();
    let reason = f.reason.trim().to_owned();
    let change = match f.kind.as_str() {
        "suspend" => Some(SessionChange::Suspend { reason }),
        "reschedule" => f.shift_minutes.trim().parse::<i32>().ok().or(Some(0)).map(|shift_minutes| SessionChange::Reschedule {
            shift_minutes,
            location: Some(f.location.trim().to_owned()).filter(|l| !l.is_empty()),
            reason,
        }),
        "substitute" => Some(SessionChange::Substitute { doctor_code: f.doctor_code.clone(), reason }),
        _ => None,
    };
    let Some(change) = change else { return Ok(back(format!("error={}", ErrorCode::ValidationFailed.code()))) };
    Ok(match st.app.change_session(&f.dept, &schedule_id, change, &Actor::staff(p.id, &cid.0)).await {
        Ok(n) => back(format!("done={n}")),
        Err(e) if e.code == ErrorCode::NotFound => return Err(e.into()),
        Err(e) => back(format!("error={}", e.code.code())),
    })
}
