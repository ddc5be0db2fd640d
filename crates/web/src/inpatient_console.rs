//! The nurse station (护士站): the ward's patients with their stay and the state of each
//! discharge settlement, and 封账 — which tells every account managing the patient that
//! the discharge can be settled on the phone.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::format::{TimeStyle, local_time, yuan};
use serde::Deserialize;

pub struct WardPatientRow {
    pub his_patient_id: String,
    pub name: String,
    pub inpatient_no: String,
    pub bed: String,
    pub admitted: String,
    pub doctor: String,
    pub deposits: String,
    pub charges: String,
    pub due_out: bool,
    pub closed: bool,
    /// The stay's settlement as the HIS and the platform know it.
    pub status: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_ward.html")]
struct WardPage {
    hospital: String,
    /// (ward, its patients)
    wards: Vec<(String, Vec<WardPatientRow>)>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct WardQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn ward(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<WardQuery>,
) -> Result<Response, AppError> {
    let rows = st.app.ward_board(&Actor::staff(p.id, &cid.0)).await?;
    let mut wards: Vec<(String, Vec<WardPatientRow>)> = Vec::new();
    for r in rows {
        let s = &r.patient.stay;
        let status = match (&r.discharge, s.settled_at) {
            (Some(d), _) if d.state != domain::inpatient::DischargeState::Abandoned => format!("线上{}（{}）", d.state.label_zh(), d.discharge_no),
            (_, Some(at)) => format!("已结算 {}", local_time(at, TimeStyle::ShortMinute)),
            _ if s.account_closed => "已封账，待患者结算".to_owned(),
            _ if s.discharge_ordered => "已开出院医嘱，待封账".to_owned(),
            _ => "在院".to_owned(),
        };
        let row = WardPatientRow {
            his_patient_id: r.patient.his_patient_id.clone(),
            name: r.patient.name.clone(),
            inpatient_no: s.inpatient_no.clone(),
            bed: s.bed.clone(),
            admitted: local_time(s.admitted_at, TimeStyle::Date),
            doctor: s.doctor.clone(),
            deposits: yuan(s.deposit_balance),
            charges: yuan(s.charges_to_date),
            due_out: s.discharge_ordered && !s.account_closed && s.settled_at.is_none(),
            closed: s.account_closed,
            status,
        };
        match wards.iter_mut().find(|w| w.0 == s.ward) {
            Some(w) => w.1.push(row),
            None => wards.push((s.ward.clone(), vec![row])),
        }
    }
    let page = WardPage {
        hospital: st.hospital_name.clone(),
        wards,
        flash: q.done.is_some().then_some("已封账，已通知患者及其家属在手机上办理出院结算。"),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct CloseForm {
    his_patient_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    inpatient_no: String,
    confirmed: Option<String>,
}

/// 封账: asks first, then closes the account in the HIS and tells the patient.
pub async fn close(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<CloseForm>,
) -> Result<Response, AppError> {
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let conf = Confirmation::new("确认封账", "/staff/ward/close", "/staff/ward", "封账")
            .fact("患者", f.name.clone())
            .fact("住院号", f.inpatient_no.clone())
            .consequence("封账后不再记入新的费用、不能再缴押金；患者及其家属将收到出院结算提醒，可在手机上核对费用并办理出院结算。")
            .field("his_patient_id", f.his_patient_id.clone())
            .field("name", f.name.clone())
            .field("inpatient_no", f.inpatient_no.clone());
        return Ok(conf.staff_page(&st.hospital_name));
    }
    let operator = format!("{}（{}）", p.display_name, p.username);
    Ok(match st.app.close_stay_account(&f.his_patient_id, &Actor::staff(p.id, &cid.0), &operator).await {
        Ok(()) => Redirect::to("/staff/ward?done=1").into_response(),
        Err(e) => Redirect::to(&format!("/staff/ward?error={}", e.code.code())).into_response(),
    })
}

/// A booking as the admission office's list shows it.
pub struct OfficeBookingRow {
    pub booking_no: String,
    pub name: String,
    pub mobile: String,
    pub dept: String,
    pub ward: String,
    pub wanted: String,
    pub wanted_date: String,
    pub bed_type: String,
    pub state: &'static str,
    pub requested_at: String,
    pub note: String,
    pub handled_by: String,
    /// What the office may propose: the notice's window and bed types (code, name).
    pub window: Option<(String, String)>,
    pub bed_types: Vec<(String, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_admission.html")]
struct AdmissionOfficePage {
    hospital: String,
    waiting: Vec<OfficeBookingRow>,
    proposed: Vec<OfficeBookingRow>,
    confirmed: Vec<OfficeBookingRow>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

/// 住院服务中心: bookings waiting for an answer, proposals the patient has not answered, and
/// the admissions expected from today.
pub async fn admission_office(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<WardQuery>,
) -> Result<Response, AppError> {
    use domain::inpatient::admission_booking::BookingState;
    let rows = st.app.admission_office_board(&Actor::staff(p.id, &cid.0)).await?;
    let today = st.app.today();
    let (mut waiting, mut proposed, mut confirmed) = (vec![], vec![], vec![]);
    for r in rows {
        let b = r.booking;
        let state = b.state;
        let row = OfficeBookingRow {
            name: r.patient_name,
            mobile: r.mobile_masked,
            dept: b.dept_name,
            ward: b.ward,
            wanted: format!("{} · {}", b.confirmed_date.unwrap_or(b.wanted_date), b.bed_type_name),
            wanted_date: b.wanted_date.to_string(),
            bed_type: b.bed_type,
            state: state.label_zh(),
            requested_at: local_time(b.created_at, TimeStyle::ShortMinute),
            note: match (&b.proposed, state) {
                (Some(p), BookingState::Proposed) => {
                    format!("建议 {} · {}{}", p.0, p.2, b.office_note.as_deref().map(|n| format!("（{n}）")).unwrap_or_default())
                }
                _ => b.office_note.unwrap_or_default(),
            },
            handled_by: b.handled_by.unwrap_or_default(),
            window: r.notice.as_ref().and_then(|n| n.bookable_days(today)).map(|(a, z)| (a.to_string(), z.to_string())),
            bed_types: r.notice.map(|n| n.bed_types.into_iter().map(|t| (t.code, t.name)).collect()).unwrap_or_default(),
            booking_no: b.booking_no,
        };
        match state {
            BookingState::Requested => waiting.push(row),
            BookingState::Proposed => proposed.push(row),
            _ => confirmed.push(row),
        }
    }
    let page = AdmissionOfficePage {
        hospital: st.hospital_name.clone(),
        waiting,
        proposed,
        confirmed,
        flash: match q.done.as_deref() {
            Some("confirmed") => Some("已登记入院，患者及其家属已收到入院提醒（含携带物品与院内导航）。"),
            Some("proposed") => Some("已向患者发送改期建议，患者确认后自动登记。"),
            _ => None,
        },
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct OfficeAnswerForm {
    /// confirm or propose
    action: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    wanted: String,
    #[serde(default)]
    date: String,
    #[serde(default)]
    bed_type: String,
    #[serde(default)]
    note: String,
    confirmed: Option<String>,
}

/// The office answers a booking — confirms (registered in the HIS) or proposes another
/// day — after a confirmation page: either way the patient is told at once.
pub async fn admission_answer(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    axum::extract::Path(no): axum::extract::Path<String>,
    Form(f): Form<OfficeAnswerForm>,
) -> Result<Response, AppError> {
    use app::inpatient::admission_booking::OfficeAnswer;
    let note: String = f.note.trim().chars().take(100).collect();
    let proposing = f.action == "propose";
    let date = f.date.trim().parse::<chrono::NaiveDate>().ok();
    if proposing && date.is_none() {
        return Ok(Redirect::to(&format!("/staff/admission?error={}", domain::ErrorCode::AdmissionChoiceInvalid.code())).into_response());
    }
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let action = format!("/staff/admission/{no}/answer");
        let mut conf = if proposing {
            let bed_name = st.app.admission_bed_type_name(&no, f.bed_type.trim()).await?;
            Confirmation::new("确认建议改期", action, "/staff/admission", "发送")
                .fact("患者", f.name.clone())
                .fact("患者期望", f.wanted.clone())
                .fact("建议入院日期", f.date.clone())
                .fact("建议床位类型", bed_name)
                .consequence("患者将收到入院日期调整通知，确认后系统自动在HIS中登记入院。")
        } else {
            Confirmation::new("确认登记入院", action, "/staff/admission", "登记")
                .fact("患者", f.name.clone())
                .fact("入院日期与床位", f.wanted.clone())
                .consequence("将在HIS中登记入院并预留床位，患者及其家属将收到入院提醒（携带物品、办理地点与院内导航），入院前一晚再次提醒。")
        };
        if !note.is_empty() {
            conf = conf.fact("给患者的说明", note.clone());
        }
        let conf = conf
            .field("action", f.action.clone())
            .field("name", f.name.clone())
            .field("wanted", f.wanted.clone())
            .field("date", f.date.clone())
            .field("bed_type", f.bed_type.clone())
            .field("note", note.clone());
        return Ok(conf.staff_page(&st.hospital_name));
    }
    let answer = match date {
        Some(date) if proposing => OfficeAnswer::Propose { date, bed_type: f.bed_type.trim(), note: &note },
        _ => OfficeAnswer::Confirm { note: &note },
    };
    let operator = format!("{}（{}）", p.display_name, p.username);
    Ok(match st.app.answer_admission_booking(&no, answer, &Actor::staff(p.id, &cid.0), &operator).await {
        Ok(()) => Redirect::to(&format!("/staff/admission?done={}", if proposing { "proposed" } else { "confirmed" })).into_response(),
        Err(e) if e.code == domain::ErrorCode::NotFound => return Err(e.into()),
        Err(e) => Redirect::to(&format!("/staff/admission?error={}", e.code.code())).into_response(),
    })
}
