//! Booking pages and API (挂号): a session's slots → submit → pay → my bookings, cancel.
use crate::WebState;
use crate::auth::{FreshPatientAuth, PatientAuth};
use crate::billing::InsuranceNotice;
use crate::confirm::Confirmation;
use crate::error::{AppError, ErrorBody};
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::registration::{Booked, PatientBooking};
use app::{Actor, App};
use askama::Template;
use askama_web::WebTemplate;
use axum::Json;
use axum::extract::{ConnectInfo, Extension, Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use chrono::Datelike;
use domain::registration::BookingState;
use domain::{DomainError, ErrorCode, Fen};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Path pieces that go back into HIS calls: short and plain.
fn plain(s: &str) -> bool {
    !s.is_empty() && s.len() <= 48 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

pub struct SlotRow {
    pub slot_id: String,
    pub time: String,
    pub available: u32,
}

pub struct PatientChoice {
    pub id: i64,
    pub label: String,
    pub checked: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "book.html")]
struct BookPage {
    hospital: String,
    big_text: bool,
    back: String,
    dept_id: String,
    schedule_id: String,
    dept_name: String,
    location: String,
    doctor: String,
    title: String,
    fee: String,
    date: String,
    weekday: &'static str,
    period: &'static str,
    suspended: bool,
    slots: Vec<SlotRow>,
    patients: Vec<PatientChoice>,
    error: Option<&'static str>,
    /// Proves a person saw this page before submitting (S15).
    ticket: String,
    /// How long an unpaid booking holds its place (the order's time to pay).
    hold_minutes: i64,
}

#[derive(Deserialize)]
pub struct BookQuery {
    error: Option<String>,
    patient: Option<i64>,
}

/// One session of one doctor: its slots with what is left, and whom to book for.
pub async fn book_page(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Path((dept_id, schedule_id)): Path<(String, String)>,
    Query(q): Query<BookQuery>,
) -> Result<Response, AppError> {
    if !plain(&dept_id) || !plain(&schedule_id) {
        return Err(ErrorCode::NotFound.into());
    }
    let c = Chrome::new(&st, &headers, &format!("/departments/{dept_id}"));
    let v = st.app.department_view(&dept_id).await?;
    let s = v.schedules.iter().find(|s| s.schedule_id == schedule_id).ok_or(ErrorCode::NotFound)?;
    let d = v.doctors.iter().find(|d| d.doctor_code == s.doctor_code).ok_or(ErrorCode::NotFound)?;
    let patients = st.app.list_patients(auth.account_id).await?;
    if patients.is_empty() {
        return Ok(Redirect::to("/patients/new").into_response());
    }
    let chosen =
        q.patient.filter(|id| patients.iter().any(|p| p.id == *id)).unwrap_or_else(|| patients.iter().find(|p| p.is_default).unwrap_or(&patients[0]).id);
    let now = domain::clock::to_local(st.app.now()).naive_local();
    let left = st.app.session_places(&v, s).await?;
    let page = BookPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        dept_id: dept_id.clone(),
        schedule_id: schedule_id.clone(),
        dept_name: v.department.name.clone(),
        location: v.department.location.clone(),
        doctor: d.name.clone(),
        title: d.title.clone(),
        fee: d.visit_fee().map(|f| f.to_string()).unwrap_or_default(),
        date: s.date.format("%Y-%m-%d").to_string(),
        weekday: weekday_zh(s.date),
        period: s.period.label_zh(),
        suspended: s.suspended,
        // A slot that has ended is not offered; one that has begun still is (same day).
        slots: s
            .open_slots(now)
            .map(|x| SlotRow {
                slot_id: x.slot_id.clone(),
                time: format!("{}-{}", x.start.format("%H:%M"), x.end.format("%H:%M")),
                available: left.get(&x.slot_id).copied().unwrap_or(0),
            })
            .collect(),
        patients: patients
            .iter()
            .map(|p| PatientChoice {
                id: p.id,
                label: format!("{} {}", p.own_label(st.app.today()), App::insurance_label(&p.insurance_kind)),
                checked: p.id == chosen,
            })
            .collect(),
        error: crate::error::message_of(q.error.as_deref()),
        ticket: st.app.booking_ticket(auth.account_id, &schedule_id),
        hold_minutes: st.app.policies().order_close_after.num_minutes(),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct BookForm {
    #[serde(default)]
    dept_id: String,
    #[serde(default)]
    schedule_id: String,
    #[serde(default)]
    slot_id: String,
    #[serde(default)]
    patient_id: i64,
    #[serde(default)]
    ticket: String,
}

fn after_booking(b: &Booked) -> String {
    match &b.order_no {
        Some(no) => format!("/pay/{no}"),
        None => format!("/registrations/{}", b.booking_no),
    }
}

/// Submits a booking, then on to paying it. A second tap finds the first booking.
pub async fn submit(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    Form(f): Form<BookForm>,
) -> Result<Response, AppError> {
    if !plain(&f.dept_id) || !plain(&f.schedule_id) {
        return Err(ErrorCode::ValidationFailed.into());
    }
    let back = |e: &DomainError| {
        tracing::info!(code = e.code.code(), detail = %e.detail, "booking refused");
        Redirect::to(&format!("/book/{}/{}?patient={}&error={}", f.dept_id, f.schedule_id, f.patient_id, e.code.code())).into_response()
    };
    if !plain(&f.slot_id) {
        return Ok(back(&ErrorCode::SlotNotBookable.into()));
    }
    // S15: per account and address, then proof a person looked at the page first.
    st.app.admit_booking(auth.account_id, &peer.ip().to_string()).await?;
    if let Err(e) = st.app.check_booking_ticket(auth.account_id, &f.schedule_id, &f.ticket) {
        return Ok(back(&e));
    }
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.book(auth.account_id, f.patient_id, &f.dept_id, &f.slot_id, &actor).await {
        Ok(b) => Redirect::to(&after_booking(&b)).into_response(),
        Err(e) if e.code == ErrorCode::BookingDuplicate => match st.app.live_booking_no(auth.account_id, f.patient_id, &f.schedule_id).await? {
            Some(no) => Redirect::to(&format!("/registrations/{no}?error={}", e.code.code())).into_response(),
            None => back(&e),
        },
        Err(e) if e.code == ErrorCode::PatientNotFound => return Err(e.into()),
        Err(e) => back(&e),
    })
}

/// What the list and detail pages show of a booking.
pub struct BookingView {
    pub booking_no: String,
    pub patient: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub dept: String,
    pub location: String,
    pub doctor: String,
    pub when: String,
    pub see_no: Option<i32>,
    pub fee: String,
    pub order_no: Option<String>,
    pub note: String,
    pub cancellable: bool,
    pub awaiting_payment: bool,
    pub can_check_in: bool,
    /// 停诊 / 改诊 / 替诊 when staff changed the session, and where to rebook.
    pub changed: Option<&'static str>,
    pub dept_href: String,
    /// (queue number, patients ahead, where to wait) once checked in.
    pub queue: Option<(u32, u32, String)>,
    /// The session was suspended (停诊): no 签到, no visit number, 改约 or 退号 offered.
    pub suspended: bool,
    /// 改约 is offered (a changed session, still paid for).
    pub rebookable: bool,
    /// 改约 moved it here (the payment went along).
    pub replaced_by: Option<String>,
    /// A tag that reads as a warning (停诊) rather than as done (gray) or fine.
    pub tag_class: &'static str,
}

impl BookingView {
    fn of(b: &PatientBooking) -> Self {
        let r = &b.row;
        let date = chrono::NaiveDate::parse_from_str(&r.visit_date, "%Y-%m-%d").ok();
        let change = app::registration::session_change_of(r).filter(|_| b.state.holds_place());
        let suspended = matches!(change, Some(domain::registration::SessionChange::Suspend { .. }));
        let (state, tag_class) = if b.replaced_by.is_some() {
            ("已改约", "tag gray")
        } else if b.carrying {
            ("改约处理中", "tag")
        } else if suspended {
            ("已停诊", "tag red")
        } else if matches!(b.state, BookingState::Failed | BookingState::LockLost | BookingState::Released | BookingState::Cancelled | BookingState::NoShow) {
            (b.state.label_zh(), "tag gray")
        } else {
            (b.state.label_zh(), "tag")
        };
        Self {
            booking_no: r.booking_no.clone(),
            patient: b.patient_name_masked.clone(),
            state,
            state_code: b.state.as_str(),
            dept: r.dept_name.clone(),
            location: r.location.clone(),
            doctor: format!("{} {}", r.doctor_name, r.doctor_title),
            when: format!("{} {} {} {}-{}", r.visit_date, date.map(weekday_zh).unwrap_or(""), r.period, r.start_time, r.end_time),
            see_no: r.see_no.filter(|_| matches!(b.state, BookingState::Confirmed | BookingState::CheckedIn) && !suspended),
            fee: Fen(r.fee).to_string(),
            order_no: r.order_no.clone(),
            note: r.note.clone(),
            cancellable: b.cancellable,
            awaiting_payment: b.state == BookingState::Locked && !b.carrying,
            can_check_in: b.can_check_in,
            changed: change.as_ref().map(|c| c.label_zh()),
            dept_href: format!("/departments/{}", r.dept_id),
            queue: b.queue.as_ref().map(|q| (q.queue_no, q.ahead, q.room.clone())),
            suspended,
            rebookable: change.is_some() && b.state == BookingState::Confirmed,
            replaced_by: b.replaced_by.clone(),
            tag_class,
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "registrations.html")]
struct BookingsPage {
    hospital: String,
    big_text: bool,
    back: String,
    rows: Vec<BookingView>,
}

pub async fn list(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/registrations");
    let rows = st.app.patient_bookings(auth.account_id, 50).await?.iter().map(BookingView::of).collect();
    Ok(BookingsPage { hospital: c.hospital, big_text: c.big_text, back: c.back, rows }.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "registration.html")]
struct BookingPage {
    hospital: String,
    big_text: bool,
    back: String,
    b: BookingView,
    notice: Option<InsuranceNotice>,
    error: Option<&'static str>,
    flash: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    error: Option<String>,
    cancelled: Option<String>,
    rebooked: Option<String>,
}

pub async fn detail(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Path(no): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, AppError> {
    if !plain(&no) {
        return Err(ErrorCode::BookingNotFound.into());
    }
    let c = Chrome::new(&st, &headers, &format!("/registrations/{no}"));
    let b = st.app.patient_booking(auth.account_id, &no).await?;
    let notice = if b.state == BookingState::Locked { b.eligibility.as_ref().and_then(InsuranceNotice::of) } else { None };
    let flash = q
        .cancelled
        .as_ref()
        .map(|_| if b.state == BookingState::Cancelled { "已退号，挂号费将按原支付方式退回。" } else { "已取消预约，号源已释放。" })
        .or_else(|| {
            q.rebooked.as_ref().map(|_| match b.state {
                BookingState::Confirmed => "改约成功，原挂号费已转入本预约，无需重新支付。",
                _ => "改约正在与医院系统确认，请稍后刷新查看。",
            })
        });
    Ok(BookingPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        b: BookingView::of(&b),
        notice,
        error: crate::error::message_of(q.error.as_deref()),
        flash,
    }
    .into_response())
}

pub async fn check_in(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    page_step(&st, &auth, &cid, &no, Step::CheckIn).await
}

/// 退号 (or giving up an unpaid booking) asks first, naming the visit and where each part
/// of the fee goes back; then cancels.
pub async fn cancel(
    State(st): State<WebState>,
    headers: HeaderMap,
    FreshPatientAuth(auth): FreshPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Result<Response, AppError> {
    if crate::confirm::confirmed_in(&body) {
        return page_step(&st, &auth, &cid, &no, Step::Cancel).await;
    }
    if !plain(&no) {
        return Err(ErrorCode::BookingNotFound.into());
    }
    let p = st.app.cancellation_preview(auth.account_id, &no).await?;
    let b = BookingView::of(&p.booking);
    let back = format!("/registrations/{no}");
    if !b.cancellable {
        return Ok(Redirect::to(&format!("{back}?error={}", ErrorCode::BookingNotCancellable.code())).into_response());
    }
    let c = Chrome::new(&st, &headers, &back);
    let paid = p.refund.is_some();
    let mut conf = Confirmation::new(if paid { "确认退号" } else { "取消预约" }, format!("{back}/cancel"), back, if paid { "退号" } else { "取消" })
        .fact("就诊人", b.patient.clone())
        .fact("科室", b.dept.clone())
        .fact("医生", b.doctor.clone())
        .fact("就诊时间", b.when.clone());
    conf = match p.refund {
        Some(r) => {
            let mut parts = vec![];
            for (label, amount) in [("医保统筹", r.fund), ("医保个人账户", r.personal_account), ("家庭共济账户", r.mutual_aid), ("原银行卡/微信", r.bank)]
            {
                if amount.0 > 0 {
                    parts.push(format!("{label} {amount}"));
                    conf = conf.fact(&format!("退回{label}"), amount.to_string());
                }
            }
            conf.fact("退款合计", r.total().to_string()).consequence(format!(
                "退号后号源将释放，不可恢复。挂号费 {} 按原支付方式退回（{}），银行卡部分一般1-7个工作日到账，医保部分即时退回。",
                r.total(),
                parts.join("，")
            ))
        }
        None => conf.consequence("取消后号源将释放给其他患者，不可恢复；此预约尚未支付，无需退款。"),
    };
    Ok(conf.patient_page(c))
}

#[derive(Template, WebTemplate)]
#[template(path = "rebook.html")]
struct RebookPage {
    hospital: String,
    big_text: bool,
    back: String,
    b: BookingView,
    sessions: Vec<app::registration::rebook::RebookSession>,
    error: Option<&'static str>,
}

impl RebookPage {
    fn day(d: &chrono::NaiveDate) -> String {
        format!("{} {}", d.format("%m-%d"), weekday_zh(*d))
    }
}

/// 改约: the sessions a changed booking may move to.
pub async fn rebook_page(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Path(no): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, AppError> {
    if !plain(&no) {
        return Err(ErrorCode::BookingNotFound.into());
    }
    let back = format!("/registrations/{no}");
    let o = match st.app.rebook_options(auth.account_id, &no).await {
        Ok(o) => o,
        Err(e) if e.code == ErrorCode::BookingNotCancellable => return Ok(Redirect::to(&format!("{back}?error={}", e.code.code())).into_response()),
        Err(e) => return Err(e.into()),
    };
    let c = Chrome::new(&st, &headers, &back);
    let page = RebookPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        b: BookingView::of(&o.booking),
        sessions: o.sessions,
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct RebookForm {
    slot_id: Option<String>,
    confirmed: Option<String>,
}

/// 改约, asked first: the confirmation names the old and the new visit and what happens to
/// the money; confirmed, it moves the booking (to the new booking's page, or to pay).
pub async fn rebook(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<RebookForm>,
) -> Result<Response, AppError> {
    if !plain(&no) {
        return Err(ErrorCode::BookingNotFound.into());
    }
    let again = |code: ErrorCode| Redirect::to(&format!("/registrations/{no}/rebook?error={}", code.code())).into_response();
    let Some(slot_id) = f.slot_id.filter(|s| plain(s)) else { return Ok(again(ErrorCode::SlotNotBookable)) };
    if crate::confirm::confirmed(f.confirmed.as_deref()) {
        let actor = Actor::patient_account(auth.account_id, &cid.0);
        return Ok(match st.app.rebook(auth.account_id, &no, &slot_id, &actor).await {
            Ok(r) => match r.order_no {
                Some(order_no) => Redirect::to(&format!("/pay/{order_no}")).into_response(),
                None => Redirect::to(&format!("/registrations/{}?rebooked=1", r.booking_no)).into_response(),
            },
            Err(e) if e.code == ErrorCode::BookingNotFound => return Err(e.into()),
            Err(e) => {
                tracing::info!(code = e.code.code(), detail = %e.detail, "rebook refused");
                again(e.code)
            }
        });
    }
    let o = st.app.rebook_options(auth.account_id, &no).await?;
    let Some((s, time)) = o.sessions.iter().find_map(|s| s.slots.iter().find(|x| x.0 == slot_id).map(|x| (s, x.1.clone()))) else {
        return Ok(again(ErrorCode::SlotTaken));
    };
    let b = BookingView::of(&o.booking);
    let back = format!("/registrations/{no}/rebook");
    let c = Chrome::new(&st, &headers, &back);
    let conf = Confirmation::new("确认改约", back.clone(), back, "改约")
        .fact("就诊人", b.patient.clone())
        .fact("原预约", format!("{} {}", b.doctor, b.when))
        .fact("改约至", format!("{} {} {} {} {}", s.doctor_name, s.doctor_title, s.date, s.period, time))
        .fact("挂号费", s.fee.to_string())
        .field("slot_id", slot_id.clone())
        .consequence(if s.carries_payment {
            format!("原预约将取消，已付的挂号费 {} 转入新预约，无需重新支付，也不产生退款。", b.fee)
        } else {
            format!("新号源挂号费 {} 需重新支付；原预约将退号，已付的挂号费 {} 按原支付方式全额退回。", s.fee, b.fee)
        });
    Ok(conf.patient_page(c))
}

/// A patient step from the booking page: back to the page, with the outcome.
async fn page_step(st: &WebState, auth: &PatientAuth, cid: &CorrelationId, no: &str, step: Step) -> Result<Response, AppError> {
    let done = if matches!(step, Step::Cancel) { "?cancelled=1" } else { "" };
    Ok(match take_step(st, auth, cid, no, step).await {
        Ok(()) => Redirect::to(&format!("/registrations/{no}{done}")).into_response(),
        Err(e) if e.code == ErrorCode::BookingNotFound => return Err(e.into()),
        Err(e) => {
            tracing::info!(code = e.code.code(), detail = %e.detail, "booking step refused");
            Redirect::to(&format!("/registrations/{no}?error={}", e.code.code())).into_response()
        }
    })
}

enum Step {
    CheckIn,
    Cancel,
}

async fn take_step(st: &WebState, auth: &PatientAuth, cid: &CorrelationId, no: &str, step: Step) -> Result<(), DomainError> {
    if !plain(no) {
        return Err(ErrorCode::BookingNotFound.into());
    }
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    match step {
        Step::CheckIn => st.app.check_in(auth.account_id, no, &actor).await.map(|_| ()),
        Step::Cancel => st.app.cancel_booking(auth.account_id, no, &actor).await.map(|_| ()),
    }
}

// ---- JSON API ----

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct BookRequest {
    pub patient_id: i64,
    pub dept_id: String,
    pub slot_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct BookingDto {
    pub booking_no: String,
    /// locking / locked / confirmed / checked_in / failed / released / cancelled / lock_lost
    pub state: String,
    pub state_label: String,
    pub patient_id: i64,
    pub dept_id: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub doctor_title: String,
    pub visit_date: String,
    pub start_time: String,
    pub end_time: String,
    pub location: String,
    pub see_no: Option<i32>,
    /// Fen.
    pub fee: i64,
    /// The order that pays it; pay through `/api/v1/me/orders/{order_no}/pay`.
    pub order_no: Option<String>,
    pub cancellable: bool,
    /// Whether 签到/取号 is open now.
    pub can_check_in: bool,
    /// The queue number and how many are ahead, once checked in (detail only).
    pub queue_no: Option<u32>,
    pub ahead: Option<u32>,
    /// What INS-2 decided at booking: `insurance`, `mutual_aid` or `refused`.
    pub insurance_route: Option<String>,
    /// Why insurance may not pay (INSURANCE_REGISTRATION_EXCEPTION's detail), in Chinese.
    pub insurance_notice: Option<String>,
    pub note: String,
}

impl BookingDto {
    fn of(b: &PatientBooking) -> Self {
        use domain::insurance::Eligibility;
        let r = &b.row;
        let (route, notice) = match &b.eligibility {
            Some(Eligibility::Insurance(_)) => (Some("insurance"), None),
            Some(Eligibility::MutualAid { refusal, .. }) => (Some("mutual_aid"), Some(refusal.reason_zh())),
            Some(Eligibility::Refused { refusal }) => (Some("refused"), Some(refusal.reason_zh())),
            None => (None, None),
        };
        Self {
            booking_no: r.booking_no.clone(),
            state: b.state.as_str().into(),
            state_label: b.state.label_zh().into(),
            patient_id: r.patient_id,
            dept_id: r.dept_id.clone(),
            dept_name: r.dept_name.clone(),
            doctor_name: r.doctor_name.clone(),
            doctor_title: r.doctor_title.clone(),
            visit_date: r.visit_date.clone(),
            start_time: r.start_time.clone(),
            end_time: r.end_time.clone(),
            location: r.location.clone(),
            see_no: r.see_no,
            fee: r.fee,
            order_no: r.order_no.clone(),
            cancellable: b.cancellable,
            can_check_in: b.can_check_in,
            queue_no: b.queue.as_ref().map(|q| q.queue_no),
            ahead: b.queue.as_ref().map(|q| q.ahead),
            insurance_route: route.map(str::to_owned),
            insurance_notice: notice.map(str::to_owned),
            note: r.note.clone(),
        }
    }
}

/// Books a slot and opens the order that pays it. Send an `Idempotency-Key`: a retry
/// returns the same booking. One live booking per patient per session
/// (`BOOKING_DUPLICATE`); a slot with no place left is `SLOT_TAKEN`, a session with none
/// `SESSION_FULL` (both answered without asking the HIS when our own count says so).
/// During a rush, `HIS_BUSY` (429, `Retry-After` in seconds) means the request was not
/// passed to the HIS and nothing was booked: try again after the pause.
#[utoipa::path(post, path = "/api/v1/me/registrations", tag = "booking", request_body = BookRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-64 of A-Z a-z 0-9 - _")),
    responses((status = 201, body = BookingDto), (status = 403, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody), (status = 503, body = crate::error::ErrorBody)))]
pub async fn api_book(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    ConnectInfo(peer): ConnectInfo<std::net::SocketAddr>,
    crate::api::ApiJson(req): crate::api::ApiJson<BookRequest>,
) -> Result<Response, AppError> {
    if !plain(&req.dept_id) || !plain(&req.slot_id) {
        return Err(ErrorCode::ValidationFailed.into());
    }
    st.app.admit_booking(auth.account_id, &peer.ip().to_string()).await?;
    let scope = format!("account:{}:book", auth.account_id);
    let fingerprint = serde_json::to_string(&req).unwrap_or_default();
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    crate::idempotency::once(&st, &headers, &scope, &fingerprint, &cid.0, || async {
        let b = st.app.book(auth.account_id, req.patient_id, &req.dept_id, &req.slot_id, &actor).await?;
        let pb = st.app.patient_booking(auth.account_id, &b.booking_no).await?;
        Ok((axum::http::StatusCode::CREATED, serde_json::to_value(BookingDto::of(&pb)).expect("serialises")))
    })
    .await
}

/// The account's bookings, newest first.
#[utoipa::path(get, path = "/api/v1/me/registrations", tag = "booking", responses((status = 200, body = [BookingDto]), (status = 401, body = crate::error::ErrorBody)))]
pub async fn api_list(State(st): State<WebState>, auth: PatientAuth) -> Result<Response, AppError> {
    let rows: Vec<BookingDto> = st.app.patient_bookings(auth.account_id, 100).await?.iter().map(BookingDto::of).collect();
    Ok(axum::Json(rows).into_response())
}

#[utoipa::path(get, path = "/api/v1/me/registrations/{booking_no}", tag = "booking", params(("booking_no" = String, Path, description = "Booking number")),
    responses((status = 200, body = BookingDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn api_get(State(st): State<WebState>, auth: PatientAuth, Path(no): Path<String>) -> Result<Response, AppError> {
    if !plain(&no) {
        return Err(ErrorCode::BookingNotFound.into());
    }
    Ok(axum::Json(BookingDto::of(&st.app.patient_booking(auth.account_id, &no).await?)).into_response())
}

/// 签到/取号 on the visit day (from an hour before the slot): the HIS gives the queue
/// number; a second call returns the same. Outside the window: `CHECK_IN_NOT_OPEN`.
#[utoipa::path(post, path = "/api/v1/me/registrations/{booking_no}/check-in", tag = "booking", params(("booking_no" = String, Path, description = "Booking number")),
    responses((status = 200, body = BookingDto), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn api_check_in(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    booking_step(&st, &auth, &cid, &no, Step::CheckIn).await
}

/// Cancels: before payment the place is released; after, 退号 and a refund to the original
/// channels. Too close to the visit: `BOOKING_NOT_CANCELLABLE`. A sign-in older than
/// `sessions.patient_fresh_auth_minutes`: 401 `REAUTH_REQUIRED` (S6).
#[utoipa::path(post, path = "/api/v1/me/registrations/{booking_no}/cancel", tag = "booking", params(("booking_no" = String, Path, description = "Booking number")),
    responses((status = 200, body = BookingDto), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody)))]
pub async fn api_cancel(
    State(st): State<WebState>,
    FreshPatientAuth(auth): FreshPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    booking_step(&st, &auth, &cid, &no, Step::Cancel).await
}

/// One patient step on a booking through the API, answered with the booking as it stands.
async fn booking_step(st: &WebState, auth: &PatientAuth, cid: &CorrelationId, no: &str, step: Step) -> Result<Response, AppError> {
    take_step(st, auth, cid, no, step).await?;
    Ok(axum::Json(BookingDto::of(&st.app.patient_booking(auth.account_id, no).await?)).into_response())
}

// ---- the catalogue: departments, doctors, sessions ----

#[derive(Template, WebTemplate)]
#[template(path = "departments.html")]
struct DepartmentsPage {
    hospital: String,
    big_text: bool,
    back: String,
    departments: std::sync::Arc<Vec<domain::registration::Department>>,
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
    // Sessions and slots that have ended are not offered (today's morning in the evening).
    let now = domain::clock::to_local(st.app.now()).naive_local();
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
                .filter(|s| s.doctor_code == d.doctor_code && !s.is_over(now))
                .take(6)
                .map(|s| SessionRow {
                    book_href: format!("/book/{dept_id}/{}", s.schedule_id),
                    date: s.date.format("%m-%d").to_string(),
                    weekday: weekday_zh(s.date),
                    period: s.period.label_zh(),
                    suspended: s.suspended,
                    available: s.open_slots(now).map(|x| x.available).sum(),
                    capacity: s.open_slots(now).map(|x| x.capacity).sum(),
                    slots: s.open_slots(now).map(|x| (x.start.format("%H:%M").to_string(), x.available)).collect(),
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

#[derive(Serialize, ToSchema)]
pub struct DepartmentDto {
    pub dept_id: String,
    pub name: String,
    pub category: String,
    pub location: String,
    pub intro: String,
}

/// The hospital's departments.
#[utoipa::path(get, path = "/api/v1/departments", tag = "booking", operation_id = "departments", responses((status = 200, body = Vec<DepartmentDto>), (status = 503, body = ErrorBody)))]
pub async fn api_departments(State(st): State<WebState>) -> Result<Json<Vec<DepartmentDto>>, AppError> {
    Ok(Json(
        st.app
            .departments()
            .await?
            .iter()
            .map(|d| DepartmentDto {
                dept_id: d.dept_id.clone(),
                name: d.name.clone(),
                category: d.category.clone(),
                location: d.location.clone(),
                intro: d.intro.clone(),
            })
            .collect(),
    ))
}

#[derive(Serialize, ToSchema)]
pub struct SlotDto {
    pub slot_id: String,
    /// HH:MM, Asia/Shanghai
    pub start: String,
    pub end: String,
    pub capacity: u32,
    pub available: u32,
}

#[derive(Serialize, ToSchema)]
pub struct ScheduleDto {
    pub schedule_id: String,
    pub doctor_code: String,
    pub doctor_name: String,
    pub doctor_title: String,
    /// Registration plus consultation fee, in fen.
    pub fee_fen: i64,
    pub date: String,
    /// morning / afternoon / evening
    pub period: String,
    pub suspended: bool,
    pub slots: Vec<SlotDto>,
}

/// A session as the API shows it; `left` overrides the HIS's `available` with the
/// live count of places left (the single-session view).
fn schedule_dto(
    s: &domain::registration::Schedule,
    doctors: &[domain::registration::Doctor],
    left: Option<&std::collections::HashMap<String, u32>>,
) -> ScheduleDto {
    let d = doctors.iter().find(|d| d.doctor_code == s.doctor_code);
    ScheduleDto {
        schedule_id: s.schedule_id.clone(),
        doctor_code: s.doctor_code.clone(),
        doctor_name: d.map(|d| d.name.clone()).unwrap_or_default(),
        doctor_title: d.map(|d| d.title.clone()).unwrap_or_default(),
        fee_fen: d.and_then(|d| d.visit_fee()).map_or(0, |f| f.0),
        date: s.date.to_string(),
        period: match s.period {
            domain::registration::SessionPeriod::Morning => "morning",
            domain::registration::SessionPeriod::Afternoon => "afternoon",
            domain::registration::SessionPeriod::Evening => "evening",
        }
        .into(),
        suspended: s.suspended,
        slots: s
            .slots
            .iter()
            .map(|x| SlotDto {
                slot_id: x.slot_id.clone(),
                start: x.start.format("%H:%M").to_string(),
                end: x.end.format("%H:%M").to_string(),
                capacity: x.capacity,
                available: left.map(|l| l.get(&x.slot_id).copied().unwrap_or(0)).unwrap_or(x.available),
            })
            .collect(),
    }
}

fn plain_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// A department's sessions over the next 14 days, with availability as the HIS last
/// said (refreshed every few seconds).
#[utoipa::path(get, path = "/api/v1/departments/{dept_id}/schedules", tag = "booking", operation_id = "schedules", params(("dept_id" = String, Path)),
    responses((status = 200, body = Vec<ScheduleDto>), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn api_schedules(State(st): State<WebState>, Path(dept_id): Path<String>) -> Result<Json<Vec<ScheduleDto>>, AppError> {
    if !plain_id(&dept_id) {
        return Err(ErrorCode::NotFound.into());
    }
    let v = st.app.department_view(&dept_id).await?;
    // Sessions that have ended cannot be booked: not listed.
    let now = domain::clock::to_local(st.app.now()).naive_local();
    Ok(Json(v.schedules.iter().filter(|s| !s.is_over(now)).map(|s| schedule_dto(s, &v.doctors, None)).collect()))
}

/// One session with its places left, live: the smaller of what the HIS last said and
/// the capacity less every booking made since, on any node (what to poll during the
/// 8:00 rush).
#[utoipa::path(get, path = "/api/v1/departments/{dept_id}/schedules/{schedule_id}", tag = "booking", operation_id = "session", params(("dept_id" = String, Path), ("schedule_id" = String, Path)),
    responses((status = 200, body = ScheduleDto), (status = 404, body = ErrorBody), (status = 503, body = ErrorBody)))]
pub async fn api_session(State(st): State<WebState>, Path((dept_id, schedule_id)): Path<(String, String)>) -> Result<Json<ScheduleDto>, AppError> {
    if !plain_id(&dept_id) || !plain_id(&schedule_id) {
        return Err(ErrorCode::NotFound.into());
    }
    let v = st.app.department_view(&dept_id).await?;
    let s = v.schedules.iter().find(|s| s.schedule_id == schedule_id).ok_or(ErrorCode::NotFound)?;
    let left = st.app.session_places(&v, s).await?;
    Ok(Json(schedule_dto(s, &v.doctors, Some(&left))))
}
