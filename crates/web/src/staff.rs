//! The staff console shell: sign-in with two factors, a home page listing the modules
//! a role may open, and the admin's staff-account and audit pages. Every route under
//! `/staff` other than sign-in sits behind `require_roles`.
use crate::WebState;
use crate::auth::{STAFF_COOKIE, StaffAuth, safe_next, set_cookie};
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::Actor;
use app::audit::ChainVerdict;
use app::staff::NewStaffAccount;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, RawForm, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use domain::ErrorCode;
use domain::format::{TimeStyle, local_time};
use domain::staff::Role;
use serde::Deserialize;

#[derive(Template, WebTemplate)]
#[template(path = "staff_login.html")]
struct LoginPage {
    hospital: String,
    error: Option<&'static str>,
    next: String,
    username: String,
    max_failed: i32,
    lock_minutes: i64,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn login_page(st: &WebState, error: Option<&'static str>, next: String, username: String) -> LoginPage {
    LoginPage {
        hospital: st.hospital_name.clone(),
        error,
        next,
        username,
        max_failed: st.app.policies().staff_max_failed_logins,
        lock_minutes: st.app.policies().staff_lockout.num_minutes(),
    }
}

pub async fn login_form(State(st): State<WebState>, Query(q): Query<NextQuery>) -> Response {
    login_page(&st, None, safe_next(q.next.as_deref().unwrap_or("/staff")), String::new()).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    otp: String,
    #[serde(default)]
    next: String,
}

pub async fn login(State(st): State<WebState>, Extension(cid): Extension<CorrelationId>, Form(f): Form<LoginForm>) -> Result<Response, AppError> {
    let next = safe_next(if f.next.is_empty() { "/staff" } else { &f.next });
    let next = if next.starts_with("/staff") { next } else { "/staff".into() };
    match st.app.staff_login(&f.username, &f.password, &f.otp, &cid.0).await {
        Ok((token, _)) => {
            let mut r = Redirect::to(&next).into_response();
            r.headers_mut().append(header::SET_COOKIE, set_cookie(STAFF_COOKIE, &token, None));
            Ok(r)
        }
        Err(e) if matches!(e.code, ErrorCode::LoginFailed | ErrorCode::AccountLocked | ErrorCode::OtpReused) => {
            let status = StatusCode::from_u16(e.code.http_status()).unwrap_or(StatusCode::UNAUTHORIZED);
            let mut r = (status, login_page(&st, Some(e.code.message_zh()), next, f.username.chars().take(32).collect())).into_response();
            r.extensions_mut().insert(crate::error::Normalised);
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn logout(State(st): State<WebState>, headers: HeaderMap) -> Result<Response, AppError> {
    crate::auth::end_session(&st, &headers, STAFF_COOKIE, "/staff/login").await
}

pub struct Module {
    pub name: &'static str,
    pub note: &'static str,
    pub href: Option<&'static str>,
}

/// The console's modules and who may open them. Modules not built yet are listed (so
/// staff see what is coming) but not linked.
fn modules_for(roles: &[Role]) -> Vec<Module> {
    use Role::*;
    let all: [(&'static str, &'static str, Option<&'static str>, &[Role]); 19] = [
        ("出诊管理", "停诊、改诊、替诊并通知患者", Some("/staff/outpatient/sessions"), &[Outpatient, Admin]),
        ("医保挂号规则", "二档/三档/少儿转诊例外科室", Some("/staff/outpatient/insurance-rules"), &[Outpatient, Admin]),
        ("爽约黑名单", "查看与解除", Some("/staff/outpatient/blacklist"), &[Outpatient, Admin]),
        ("就诊须知", "就诊日提醒的携带物品", Some("/staff/outpatient/visit-notes"), &[Outpatient, Admin]),
        ("消息平台", "消息记录、死信重发、模板、统计", Some("/staff/messages"), &[Outpatient, Admin]),
        ("待办", "危急值未确认、重要通知未送达", Some("/staff/tasks"), &[Nurse, Doctor, Lab, Outpatient, Finance, Admin]),
        ("工作人员账号", "创建账号、分配角色", Some("/staff/admin/staff"), &[Admin]),
        ("审计日志", "完整性校验与追溯查询", Some("/staff/admin/audit"), &[Admin]),
        ("开放接口", "院内系统推送消息的接入方与密钥", Some("/staff/admin/open-api"), &[Admin]),
        ("分诊报到", "刷脸、身份证或预约号报到，分配诊室，打印小票", Some("/staff/triage"), &[Nurse, Admin]),
        ("护士站", "在院患者、封账与出院结算进度", Some("/staff/ward"), &[Nurse, Finance, Admin]),
        ("住院服务中心", "住院登记预约：确认登记、建议改期", Some("/staff/admission"), &[Nurse, Admin]),
        ("检验检查", "标本异常通知、报告审核发布", Some("/staff/lab"), &[Lab, Doctor, Admin]),
        ("病历复印", "审核、退回补正、登记页数与多退少补、取件与快递", Some("/staff/records"), &[Records, Admin]),
        ("病历复印账务", "复印、认证、邮寄、补缴与退款明细，导出", Some("/staff/records/ledger"), &[Records, Finance, Admin]),
        ("订单与退款", "订单查询、订单全流程、退款", Some("/staff/finance/orders"), &[Finance]),
        ("账务明细", "复式记账分录、合计、导出", Some("/staff/finance/ledger"), &[Finance]),
        ("每日对账", "银行与医保对账、差异处理", Some("/staff/finance/reconciliation"), &[Finance]),
        ("诊间工作站", "刷脸看诊（建设中）", None, &[Doctor, Admin]),
    ];
    all.into_iter().filter(|(_, _, _, who)| who.iter().any(|r| roles.contains(r))).map(|(name, note, href, _)| Module { name, note, href }).collect()
}

fn roles_label(roles: &[Role]) -> String {
    roles.iter().map(|r| r.label_zh()).collect::<Vec<_>>().join("、")
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_home.html")]
struct HomePage {
    hospital: String,
    display_name: String,
    roles: String,
    modules: Vec<Module>,
}

pub async fn home(State(st): State<WebState>, StaffAuth(p): StaffAuth) -> Response {
    HomePage { hospital: st.hospital_name.clone(), display_name: p.display_name.clone(), roles: roles_label(&p.roles), modules: modules_for(&p.roles) }
        .into_response()
}

pub struct StaffRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub roles: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_users.html")]
struct UsersPage {
    hospital: String,
    staff: Vec<StaffRow>,
    roles: Vec<(&'static str, &'static str)>,
    error: Option<&'static str>,
    enrolled: Option<app::staff::StaffEnrolment>,
}

async fn users_page(st: &WebState, error: Option<&'static str>, enrolled: Option<app::staff::StaffEnrolment>) -> Result<UsersPage, AppError> {
    let staff = st
        .app
        .list_staff()
        .await?
        .into_iter()
        .map(|s| StaffRow { id: s.id, username: s.username, display_name: s.display_name, roles: roles_label(&s.roles) })
        .collect();
    Ok(UsersPage { hospital: st.hospital_name.clone(), staff, roles: Role::ALL.iter().map(|r| (r.as_str(), r.label_zh())).collect(), error, enrolled })
}

pub async fn users(State(st): State<WebState>) -> Result<Response, AppError> {
    Ok(users_page(&st, None, None).await?.into_response())
}

/// Form with repeated `roles` checkboxes: parsed by hand, since the urlencoded
/// extractor takes one value per key.
pub async fn create_user(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    RawForm(raw): RawForm,
) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&raw).map_err(|_| AppError::from(ErrorCode::BadRequest))?;
    let get = |k: &str| pairs.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let roles: Vec<Role> = pairs.iter().filter(|(k, _)| k == "roles").filter_map(|(_, v)| Role::parse(v)).collect();
    let acct = NewStaffAccount { username: get("username"), display_name: get("display_name"), password: get("password"), roles };
    match st.app.create_staff(acct, &Actor::staff(p.id, &cid.0)).await {
        Ok(en) => Ok(users_page(&st, None, Some(en)).await?.into_response()),
        Err(e) if e.code.http_status() < 500 => {
            let msg = match (e.code, e.detail.as_str()) {
                (ErrorCode::Conflict, _) => "该用户名已存在",
                (_, "password policy") => "密码至少10位，且包含大写字母、小写字母、数字、符号中的至少三类",
                (_, "username") => "用户名需为3-32位小写字母、数字或 . _ -，以字母开头",
                (_, "no role") => "请至少选择一个角色",
                _ => e.code.message_zh(),
            };
            let mut r = (StatusCode::UNPROCESSABLE_ENTITY, users_page(&st, Some(msg), None).await?).into_response();
            r.extensions_mut().insert(crate::error::Normalised);
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_audit.html")]
struct AuditPage {
    hospital: String,
    intact: bool,
    rows: u64,
    verdict: String,
    actor: String,
    hours: i64,
    entries: Vec<(i64, String, String, String, String)>,
}

#[derive(Deserialize)]
pub struct AuditQuery {
    actor: Option<String>,
    hours: Option<i64>,
}

pub async fn audit(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<AuditQuery>,
) -> Result<Response, AppError> {
    let hours = q.hours.unwrap_or(24).clamp(1, 24 * 400);
    let actor = q.actor.unwrap_or_default().chars().take(64).collect::<String>();
    let review = st.app.audit_review(&actor, hours, &Actor::staff(p.id, &cid.0)).await?;
    let (intact, rows, verdict_text) = match &review.verdict {
        ChainVerdict::Intact { rows } => (true, *rows, String::new()),
        ChainVerdict::Broken { seq, reason } => (false, 0, format!("第 {seq} 条：{reason}")),
    };
    let entries = review.entries.into_iter().map(|m| (m.seq, local_time(m.at, TimeStyle::Second), m.action, m.subject, m.reason)).collect();
    Ok(AuditPage { hospital: st.hospital_name.clone(), intact, rows, verdict: verdict_text, actor, hours, entries }.into_response())
}
