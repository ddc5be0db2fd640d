//! The outpatient office's console (门诊部): a day's sessions of a department with their
//! bookings, and 停诊 / 改诊 / 替诊 — every booked patient is told and can rebook or be
//! refunded in one tap.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::registration::weekday_zh;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use domain::registration::SessionChange;
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
    let date = chrono::NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d").unwrap_or_else(|_| st.app.today());
    let board = st.app.session_board(&q.dept, date).await?;
    let departments: Vec<(String, String)> = board.departments.iter().map(|d| (d.dept_id.clone(), d.name.clone())).collect();
    let dept = board.dept_id;
    let doctors = &board.doctors;
    let mut rows = Vec::new();
    for load in &board.sessions {
        let s = &load.schedule;
        let doctor = doctors.iter().find(|d| d.doctor_code == s.doctor_code);
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
            booked: load.booked,
            paid: load.paid,
            others: doctors.iter().filter(|d| d.doctor_code != s.doctor_code).map(|d| (d.doctor_code.clone(), format!("{} {}", d.name, d.title))).collect(),
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
    confirmed: Option<String>,
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
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        return confirm_change(&st, &schedule_id, &f, &change).await;
    }
    Ok(match st.app.change_session(&f.dept, &schedule_id, change, &Actor::staff(p.id, &cid.0)).await {
        Ok(n) => back(format!("done={n}")),
        Err(e) if e.code == ErrorCode::NotFound => return Err(e.into()),
        Err(e) => back(format!("error={}", e.code.code())),
    })
}

/// Names the session, the change and how many booked patients it reaches, before it
/// happens (the HIS is told and every patient is notified at once).
async fn confirm_change(st: &WebState, schedule_id: &str, f: &ChangeForm, change: &SessionChange) -> Result<Response, AppError> {
    let date = chrono::NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d").unwrap_or_else(|_| st.app.today());
    let board = st.app.session_board(&f.dept, date).await?;
    let Some(load) = board.sessions.iter().find(|l| l.schedule.schedule_id == schedule_id) else { return Err(ErrorCode::NotFound.into()) };
    let s = &load.schedule;
    let doctor =
        |code: &str| board.doctors.iter().find(|d| d.doctor_code == code).map(|d| format!("{} {}", d.name, d.title)).unwrap_or_else(|| code.to_owned());
    let hours = match (s.slots.first(), s.slots.last()) {
        (Some(a), Some(b)) => format!("{}-{}", a.start.format("%H:%M"), b.end.format("%H:%M")),
        _ => String::new(),
    };
    let (title, verb, what) = match change {
        SessionChange::Suspend { .. } => {
            ("确认停诊", "停诊", "停诊：已支付的患者可一键退费（不受退号时限限制）或改约其他号源，未支付的预约自动释放".to_owned())
        }
        SessionChange::Reschedule { shift_minutes, location, .. } => (
            "确认改诊",
            "改诊",
            format!(
                "改诊：就诊时间{}{}",
                if *shift_minutes == 0 {
                    "不变".to_owned()
                } else {
                    format!("{}{}分钟", if *shift_minutes > 0 { "推迟" } else { "提前" }, shift_minutes.abs())
                },
                location.as_ref().map(|l| format!("，地点改为 {l}")).unwrap_or_default()
            ),
        ),
        SessionChange::Substitute { doctor_code, .. } => ("确认替诊", "替诊", format!("替诊：由 {} 接诊", doctor(doctor_code))),
    };
    let back = format!("/staff/outpatient/sessions?dept={}&date={}", f.dept, f.date);
    let mut c = Confirmation::new(title, format!("/staff/outpatient/sessions/{schedule_id}/change"), back, verb)
        .fact("出诊", format!("{} {} {} {hours}", doctor(&s.doctor_code), s.date, s.period.label_zh()))
        .fact("变更", what)
        .fact("原因", f.reason.trim().to_owned())
        .fact("受影响患者", format!("已预约 {} 人（已支付 {} 人）", load.booked, load.paid))
        .consequence(format!("确认后将同步至HIS，并立即通知已预约的 {} 位患者（微信，必要时短信）。此操作不能撤销。", load.booked));
    for (k, v) in [
        ("dept", &f.dept),
        ("date", &f.date),
        ("kind", &f.kind),
        ("reason", &f.reason),
        ("shift_minutes", &f.shift_minutes),
        ("location", &f.location),
        ("doctor_code", &f.doctor_code),
    ] {
        c = c.field(k, v.clone());
    }
    Ok(c.staff_page(&st.hospital_name))
}

pub struct BlacklistRow {
    pub id: i64,
    pub person: String,
    pub name: String,
    pub no_shows: i32,
    pub until: String,
    pub reason: String,
    pub in_force: bool,
    pub lifted_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_blacklist.html")]
struct BlacklistPage {
    hospital: String,
    rows: Vec<BlacklistRow>,
    rule: String,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct FlashQuery {
    done: Option<String>,
    error: Option<String>,
}

/// The no-show blacklist (level-5 item 1): who is barred, why, until when; lift with a reason.
pub async fn blacklist(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<FlashQuery>) -> Result<Response, AppError> {
    let now = st.app.now();
    let rows = st
        .app
        .no_show_bans(200)
        .await?
        .into_iter()
        .map(|r| BlacklistRow {
            id: r.id,
            in_force: !r.lifted && r.until > now,
            person: r.person_key,
            name: r.name_masked,
            no_shows: r.no_shows,
            until: domain::format::local_time(r.until, domain::format::TimeStyle::Date),
            reason: r.reason,
            lifted_by: r.lifted_by.unwrap_or_default(),
        })
        .collect();
    let n = &st.app.policies().no_show;
    let rule = if n.limit == u32::MAX {
        "爽约黑名单已关闭".to_owned()
    } else {
        format!("{} 天内爽约 {} 次，暂停网上预约 {} 天", n.window_days, n.limit, n.bar_days)
    };
    let page = BlacklistPage {
        hospital: st.hospital_name.clone(),
        rows,
        rule,
        flash: q.done.map(|_| "已解除，该患者可重新网上预约。"),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct LiftForm {
    #[serde(default)]
    reason: String,
}

pub async fn lift(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
    Form(f): Form<LiftForm>,
) -> Result<Response, AppError> {
    Ok(match st.app.lift_blacklisting(id, &f.reason, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Redirect::to("/staff/outpatient/blacklist?done=1").into_response(),
        Err(e) => Redirect::to(&format!("/staff/outpatient/blacklist?error={}", e.code.code())).into_response(),
    })
}

pub struct RuleRow {
    pub id: i64,
    pub dept: String,
    pub kinds: String,
    pub label: String,
    pub enabled: bool,
    pub updated_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_insurance_rules.html")]
struct RulesPage {
    hospital: String,
    hospital_code: String,
    rows: Vec<RuleRow>,
    departments: Vec<(String, String)>,
    kinds: Vec<(&'static str, &'static str)>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

/// INS-2's department exceptions as rows the office edits (no code change, audited).
pub async fn insurance_rules(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<FlashQuery>) -> Result<Response, AppError> {
    use domain::insurance::InsuranceKind;
    let departments: Vec<(String, String)> = st.app.departments().await?.iter().map(|d| (d.dept_id.clone(), d.name.clone())).collect();
    let name_of = |id: &str| departments.iter().find(|d| d.0 == id).map(|d| d.1.clone()).unwrap_or_else(|| id.to_owned());
    let rows = st
        .app
        .insurance_exception_rules()
        .await?
        .into_iter()
        .map(|r| RuleRow {
            id: r.id,
            dept: format!("{}（{}）", name_of(&r.dept_id), r.dept_id),
            kinds: r.kinds.split(',').filter_map(InsuranceKind::parse).map(|k| k.label_zh()).collect::<Vec<_>>().join("、"),
            label: r.label,
            enabled: r.enabled,
            updated_by: r.updated_by,
        })
        .collect();
    let kinds = [InsuranceKind::Tier2, InsuranceKind::Tier3, InsuranceKind::Children].iter().map(|k| (k.as_str(), k.label_zh())).collect();
    let page = RulesPage {
        hospital: st.hospital_name.clone(),
        hospital_code: st.app.policies().hospital_code.clone(),
        rows,
        departments,
        kinds,
        flash: q.done.map(|_| "已保存，新规则立即生效。"),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

pub async fn add_insurance_rule(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Result<Response, AppError> {
    use domain::insurance::{DeptException, InsuranceKind};
    let get = |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.trim().to_owned()).unwrap_or_default();
    let kinds: Vec<InsuranceKind> =
        pairs.iter().filter(|(k, _)| k == "kinds").filter_map(|(_, v)| InsuranceKind::parse(v)).filter(|k| k.needs_referral()).collect();
    let e = DeptException { dept_id: get("dept_id"), kinds, label: get("label") };
    if !st.app.departments().await?.iter().any(|d| d.dept_id == e.dept_id) {
        return Ok(Redirect::to(&format!("/staff/outpatient/insurance-rules?error={}", ErrorCode::ValidationFailed.code())).into_response());
    }
    Ok(match st.app.add_insurance_exception(&e, &Actor::staff(p.id, &cid.0)).await {
        Ok(_) => Redirect::to("/staff/outpatient/insurance-rules?done=1").into_response(),
        Err(e) => Redirect::to(&format!("/staff/outpatient/insurance-rules?error={}", e.code.code())).into_response(),
    })
}

#[derive(Deserialize)]
pub struct ToggleForm {
    #[serde(default)]
    enabled: String,
}

pub async fn toggle_insurance_rule(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
    Form(f): Form<ToggleForm>,
) -> Result<Response, AppError> {
    st.app.set_insurance_exception_enabled(id, f.enabled == "1", &Actor::staff(p.id, &cid.0)).await?;
    Ok(Redirect::to("/staff/outpatient/insurance-rules?done=1").into_response())
}
