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
