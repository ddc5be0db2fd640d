//! The triage desk (分诊台, FACE-2) for nurses: a browser with a camera (or a desk device
//! posting the same picture) scans a face; the finding comes back as a page of today's
//! bookings here with 报到 per booking, or a request for the ID card, or the other ways at
//! once. Check-in prints a ticket at 58 or 80 mm: queue number, room, doctor and a QR code
//! that follows the queue on the patient's phone. The ID card and the booking number
//! work without the face, always.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::Actor;
use app::face::triage::{DeskArea, DeskBooking, DeskFinding, Ticket, qr_image};
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;

/// The departments of the demo's first clinic area, for a desk opened without a choice.
const DEFAULT_AREA: &str = "0101,0102";

#[derive(Deserialize, Default)]
pub struct DeskQuery {
    #[serde(default)]
    depts: Option<String>,
    /// Booking numbers found (by face, ID card or booking number).
    #[serde(default)]
    found: Option<String>,
    /// What the scan asks of the nurse: id (two close candidates), other (nobody), engine (away).
    #[serde(default)]
    ask: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

fn area_of(q: Option<&str>) -> Result<DeskArea, AppError> {
    Ok(DeskArea::parse(q.filter(|d| !d.trim().is_empty()).unwrap_or(DEFAULT_AREA))?)
}

fn actor(id: i64, cid: &CorrelationId) -> Actor {
    Actor::staff(id, &cid.0)
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_triage.html")]
struct DeskPage {
    hospital: String,
    depts: String,
    services_on: bool,
    bookings: Option<Vec<DeskBooking>>,
    ask: Option<&'static str>,
    error: Option<&'static str>,
}

pub async fn desk(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<DeskQuery>) -> Result<Response, AppError> {
    let area = area_of(q.depts.as_deref())?;
    let bookings = match q.found.as_deref() {
        Some(list) => {
            let nos: Vec<&str> = list.split(',').filter(|n| !n.is_empty()).take(10).collect();
            match st.app.desk_find_by_booking(&area, &nos).await? {
                DeskFinding::Found(b) => Some(b),
                _ => Some(Vec::new()),
            }
        }
        None => None,
    };
    let ask = match q.ask.as_deref() {
        Some("id") => Some("有两位相似的患者，请核验身份证后办理。"),
        Some("other") => Some("未识别到今日在本诊区预约的已开通刷脸的患者，请使用身份证或预约号办理。"),
        Some("engine") => Some("刷脸服务暂不可用，请使用身份证或预约号办理。"),
        _ => None,
    };
    Ok(DeskPage {
        hospital: st.hospital_name.clone(),
        depts: area.depts().join(","),
        services_on: st.app.face_services_on(),
        bookings,
        ask,
        error: crate::error::message_of(q.error.as_deref()),
    }
    .into_response())
}

fn desk_url(area: &DeskArea, rest: &str) -> String {
    format!("/staff/triage?depts={}{rest}", area.depts().join(","))
}

/// Where a finding sends the desk.
fn next_of(area: &DeskArea, f: &DeskFinding) -> String {
    match f {
        DeskFinding::Found(b) => desk_url(area, &format!("&found={}", b.iter().map(|b| b.booking_no.as_str()).collect::<Vec<_>>().join(","))),
        DeskFinding::Ambiguous => desk_url(area, "&ask=id"),
        DeskFinding::Nobody => desk_url(area, "&ask=other"),
        DeskFinding::EngineUnavailable => desk_url(area, "&ask=engine"),
    }
}

/// A scanned face (a JPEG from the desk's camera or device).
pub async fn scan(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<DeskQuery>,
    body: Bytes,
) -> Result<Response, AppError> {
    let area = area_of(q.depts.as_deref())?;
    let f = st.app.desk_scan(&area, body.to_vec(), &actor(p.id, &cid)).await?;
    let outcome = match &f {
        DeskFinding::Found(b) if b.is_empty() => "not_booked_here",
        DeskFinding::Found(_) => "found",
        DeskFinding::Ambiguous => "ambiguous",
        DeskFinding::Nobody => "nobody",
        DeskFinding::EngineUnavailable => "engine_unavailable",
    };
    let bookings: Vec<serde_json::Value> = match &f {
        DeskFinding::Found(b) => {
            b.iter().map(|b| serde_json::json!({"booking_no": b.booking_no, "doctor_name": b.doctor_name, "start_time": b.start_time})).collect()
        }
        _ => vec![],
    };
    Ok(axum::Json(serde_json::json!({"outcome": outcome, "bookings": bookings, "next": next_of(&area, &f)})).into_response())
}

#[derive(Deserialize)]
pub struct FindForm {
    depts: String,
    #[serde(default)]
    id_number: String,
    #[serde(default)]
    booking_no: String,
}

/// The other ways: the ID card or the booking number.
pub async fn find(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<FindForm>,
) -> Result<Response, AppError> {
    let area = area_of(Some(&f.depts))?;
    let found = if !f.id_number.trim().is_empty() {
        st.app.desk_find_by_id_number(&area, &f.id_number, &actor(p.id, &cid)).await
    } else {
        st.app.desk_find_by_booking(&area, &[f.booking_no.as_str()]).await
    };
    Ok(match found {
        Ok(finding) => Redirect::to(&next_of(&area, &finding)).into_response(),
        Err(e) if e.code.http_status() < 500 => Redirect::to(&desk_url(&area, &format!("&error={}", e.code.code()))).into_response(),
        Err(e) => return Err(e.into()),
    })
}

#[derive(Deserialize)]
pub struct CheckInForm {
    depts: String,
    booking_no: String,
    #[serde(default)]
    room: String,
}

/// 报到: through the HIS, the room on the booking, then the ticket.
pub async fn check_in(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<CheckInForm>,
) -> Result<Response, AppError> {
    let area = area_of(Some(&f.depts))?;
    Ok(match st.app.desk_check_in(&area, &f.booking_no, &f.room, &actor(p.id, &cid)).await {
        Ok(t) => Redirect::to(&format!("/staff/triage/tickets/{}?depts={}", t.booking_no, area.depts().join(","))).into_response(),
        Err(e) if e.code.http_status() < 500 => Redirect::to(&desk_url(&area, &format!("&found={}&error={}", f.booking_no, e.code.code()))).into_response(),
        Err(e) => return Err(e.into()),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_ticket.html")]
struct TicketPage {
    hospital: String,
    depts: String,
    t: Ticket,
    qr: String,
    follow: String,
    narrow: bool,
}

#[derive(Deserialize)]
pub struct TicketQuery {
    #[serde(default)]
    depts: Option<String>,
    /// 58 (default) or 80 mm paper.
    #[serde(default)]
    paper: Option<u32>,
}

/// The ticket, print-ready.
pub async fn ticket(
    State(st): State<WebState>,
    headers: axum::http::HeaderMap,
    StaffAuth(_p): StaffAuth,
    Path(booking_no): Path<String>,
    Query(q): Query<TicketQuery>,
) -> Result<Response, AppError> {
    let area = area_of(q.depts.as_deref())?;
    let t = st.app.desk_ticket(&area, &booking_no).await?;
    let follow = format!("{}/registrations/{}", st.public_base(&headers), t.booking_no);
    Ok(TicketPage { hospital: st.hospital_name.clone(), depts: area.depts().join(","), qr: qr_image(&follow), follow, narrow: q.paper != Some(80), t }
        .into_response())
}

/// A face scanned at a consulting room's workstation (FACE-3), signed like every call of
/// the open interface.
#[derive(Deserialize, serde::Serialize, utoipa::ToSchema)]
pub struct ConsultationScanDto {
    /// The room the workstation stands in, as the hospital bound its key to it.
    pub room: String,
    /// The HIS code of the doctor seeing patients in the room now.
    pub doctor_code: String,
    /// The JPEG or PNG from the room's camera, Base64 (no `data:` prefix).
    pub image: String,
}

/// The patient released to the workstation.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ConsultationPatientDto {
    pub his_patient_id: String,
    pub mr_no: String,
    pub name: String,
    /// 男 or 女.
    pub sex: String,
    pub age: u32,
    pub booking_no: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub start_time: String,
    pub see_no: Option<i32>,
    pub allergies: Option<String>,
    pub insurance_kind: String,
}

/// What the scan found.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ConsultationAnswerDto {
    /// found, ambiguous (check the ID card), nobody (booked with this doctor today and
    /// enrolled: no one like this) or engine_unavailable (use the card or booking number).
    pub outcome: String,
    pub patient: Option<ConsultationPatientDto>,
}

/// The patient in front of the camera, if booked with this doctor today and enrolled.
#[utoipa::path(post, path = "/open/v1/face/consultations", tag = "open",
    params(
        ("X-Cb-Key" = String, Header, description = "The workstation's client key (bound to its room)"),
        ("X-Cb-Timestamp" = String, Header, description = "Unix seconds; within 300 s of our clock"),
        ("X-Cb-Nonce" = String, Header, description = "8-64 of A-Z a-z 0-9 - _, never reused"),
        ("X-Cb-Signature" = String, Header, description = "hex HMAC-SHA256(secret, METHOD\\nPATH\\nTIMESTAMP\\nNONCE\\nhex(SHA-256(body)))")),
    request_body = ConsultationScanDto,
    responses((status = 200, body = ConsultationAnswerDto), (status = 401, body = crate::open_api::OpenErrorBody), (status = 403, body = crate::open_api::OpenErrorBody), (status = 422, body = crate::open_api::OpenErrorBody)))]
pub async fn consultation(
    State(st): State<WebState>,
    Extension(cid): Extension<CorrelationId>,
    method: axum::http::Method,
    headers: axum::http::HeaderMap,
    body: Bytes,
) -> Response {
    use crate::open_api::refuse;
    use base64::Engine;
    if let Err(e) = crate::open_api::json_body(&headers) {
        return refuse(e, Some("Content-Type: application/json".into()), &cid.0);
    }
    let key_id = match crate::open_api::authenticate(&st, &headers, &method, "/open/v1/face/consultations", &body).await {
        Ok(k) => k,
        Err(e) => return refuse(e, None, &cid.0),
    };
    let dto: ConsultationScanDto = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return refuse(domain::ErrorCode::BadRequest.into(), Some(format!("body: {e}")), &cid.0),
    };
    let Ok(image) = base64::engine::general_purpose::STANDARD.decode(dto.image.trim()) else {
        return refuse(domain::ErrorCode::ValidationFailed.into(), Some("image: Base64 of a JPEG or PNG".into()), &cid.0);
    };
    use app::face::consult::ConsultFinding;
    let (outcome, patient) = match st.app.consultation_scan(&key_id, &dto.room, &dto.doctor_code, image).await {
        Ok(ConsultFinding::Found(p)) => (
            "found",
            Some(ConsultationPatientDto {
                his_patient_id: p.his_patient_id,
                mr_no: p.mr_no,
                name: p.name,
                sex: p.sex.into(),
                age: p.age,
                booking_no: p.booking_no,
                dept_name: p.dept_name,
                doctor_name: p.doctor_name,
                start_time: p.start_time,
                see_no: p.see_no,
                allergies: p.allergies,
                insurance_kind: p.insurance_kind,
            }),
        ),
        Ok(ConsultFinding::Ambiguous) => ("ambiguous", None),
        Ok(ConsultFinding::Nobody) => ("nobody", None),
        Ok(ConsultFinding::EngineUnavailable) => ("engine_unavailable", None),
        Err(e) => return refuse(e, None, &cid.0),
    };
    let mut r = axum::Json(ConsultationAnswerDto { outcome: outcome.into(), patient }).into_response();
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}
