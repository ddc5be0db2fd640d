//! The message platform's console: the message log with every try on every channel,
//! dead letters a person can retry, staff-edited templates (minijinja, previewed before
//! saving), daily counts by scene and channel, the tasks critical notices hand to wards
//! and departments, and what each department's patients should bring.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::Actor;
use app::messages::status;
use app::messages::templates::{self, TemplateSource};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Duration, NaiveDate};
use domain::ErrorCode;
use domain::format::{TimeStyle, local_time};
use domain::messages::MessageQuery;
use domain::messages::{Channel, SCENES};
use serde::Deserialize;
use std::collections::BTreeMap;

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    local_time(t, TimeStyle::ShortSecond)
}

/// A delivery's outcome in Chinese, its code kept in brackets for support.
fn reason(code: &str) -> String {
    let r = domain::messages::delivery_reason_zh(code);
    if code.is_empty() || r.contains(code) { r } else { format!("{r}（{code}）") }
}

fn scene_name(code: &str) -> &'static str {
    domain::messages::scene(code).map(|s| s.name_zh).unwrap_or("未知场景")
}

fn channel_label(c: &str) -> &'static str {
    Channel::parse(c).map(|c| c.label_zh()).unwrap_or("—")
}

pub struct LogRow {
    pub no: String,
    pub at: String,
    pub scene: &'static str,
    pub critical: bool,
    pub patient: String,
    pub status: String,
    pub status_label: &'static str,
    pub channel: &'static str,
    pub last_code: String,
}

pub struct DeadJob {
    pub id: i64,
    pub kind: String,
    pub error: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_messages.html")]
struct LogPage {
    hospital: String,
    rows: Vec<LogRow>,
    scenes: Vec<(&'static str, &'static str)>,
    statuses: Vec<(&'static str, &'static str)>,
    scene: String,
    status: String,
    date: String,
    queued: u64,
    failed: u64,
    open_tasks: usize,
    dead_jobs: Vec<DeadJob>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct LogQuery {
    #[serde(default)]
    scene: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    date: String,
    done: Option<String>,
    error: Option<String>,
}

const STATUSES: [&str; 9] =
    [status::QUEUED, status::SENT, status::UNKNOWN, status::INBOX, status::MUTED, status::SUPPRESSED, status::EXPIRED, status::FAILED, status::TASK];

pub async fn log(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<LogQuery>) -> Result<Response, AppError> {
    let date = NaiveDate::parse_from_str(q.date.trim(), "%Y-%m-%d").ok();
    let scene = SCENES.iter().find(|s| s.code == q.scene).map(|s| s.code.to_owned());
    let stat = STATUSES.iter().find(|s| **s == q.status).map(|s| (*s).to_owned());
    let filter = MessageQuery {
        scene: scene.clone(),
        status: stat.clone(),
        from: date.map(domain::clock::local_midnight_utc),
        to: date.map(|d| domain::clock::local_midnight_utc(d + Duration::days(1))),
        limit: 200,
        ..Default::default()
    };
    let log = st.app.message_log(&filter).await?;
    let rows = log
        .messages
        .into_iter()
        .map(|m| {
            let vars: serde_json::Value = serde_json::from_str(&m.variables).unwrap_or_default();
            LogRow {
                no: m.message_no.clone(),
                at: local(m.created_at),
                scene: scene_name(&m.scene),
                critical: m.criticality == "critical",
                patient: vars["patient_name_masked"].as_str().unwrap_or_default().to_owned(),
                status_label: status::label_zh(&m.status),
                status: m.status,
                channel: m.sent_channel.as_deref().map(channel_label).unwrap_or("—"),
                last_code: m.last_code.as_deref().map(reason).unwrap_or_default(),
            }
        })
        .collect();
    let dead_jobs = log.dead_jobs.into_iter().map(|j| DeadJob { id: j.id, kind: j.kind, error: j.last_error.chars().take(200).collect() }).collect();
    let page = LogPage {
        hospital: st.hospital_name.clone(),
        rows,
        scenes: SCENES.iter().map(|s| (s.code, s.name_zh)).collect(),
        statuses: STATUSES.iter().map(|s| (*s, status::label_zh(s))).collect(),
        scene: scene.unwrap_or_default(),
        status: stat.unwrap_or_default(),
        date: date.map(|d| d.to_string()).unwrap_or_default(),
        queued: log.queued,
        failed: log.failed,
        open_tasks: log.open_tasks,
        dead_jobs,
        flash: q.done.map(|_| "已重新投递。"),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

pub struct DeliveryView {
    pub at: String,
    pub channel: &'static str,
    pub attempt: i32,
    pub outcome: &'static str,
    pub code: String,
    pub detail: String,
    pub provider_id: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_message.html")]
struct DetailPage {
    hospital: String,
    no: String,
    scene: &'static str,
    criticality: String,
    status: String,
    status_label: &'static str,
    title: String,
    body: String,
    link: String,
    plan: String,
    source: String,
    created: String,
    expires: String,
    read: String,
    acked: String,
    variables: String,
    deliveries: Vec<DeliveryView>,
    retryable: bool,
}

/// A message's full text and variables can hold health information: opening it is a
/// sensitive read and is audited.
pub async fn detail(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    let (m, deliveries) = st.app.message_detail(&no, &Actor::staff(p.id, &cid.0)).await?;
    let deliveries = deliveries
        .into_iter()
        .map(|d| DeliveryView {
            at: local(d.at),
            channel: channel_label(&d.channel),
            attempt: d.attempt,
            outcome: match d.outcome.as_str() {
                "sent" => "成功",
                "transient" => "暂时失败，将重试",
                "permanent" | "failed" => "失败",
                "unknown" => "结果未知",
                _ => "—",
            },
            code: reason(&d.code),
            detail: d.detail,
            provider_id: d.provider_msg_id.unwrap_or_default(),
        })
        .collect();
    let vars: serde_json::Value = serde_json::from_str(&m.variables).unwrap_or_default();
    let page = DetailPage {
        hospital: st.hospital_name.clone(),
        no: m.message_no.clone(),
        scene: scene_name(&m.scene),
        criticality: domain::messages::scene(&m.scene).map(|s| s.criticality.label_zh()).unwrap_or_default().to_owned(),
        status_label: status::label_zh(&m.status),
        retryable: matches!(m.status.as_str(), status::FAILED | status::UNKNOWN | status::EXPIRED),
        status: m.status,
        title: m.title,
        body: m.body,
        link: m.link,
        plan: m.plan.split(',').filter(|c| !c.is_empty()).map(channel_label).collect::<Vec<_>>().join(" → "),
        source: m.source,
        created: local(m.created_at),
        expires: local(m.expires_at),
        read: m.read_at.map(local).unwrap_or_default(),
        acked: m.acked_at.map(local).unwrap_or_default(),
        variables: serde_json::to_string_pretty(&vars).unwrap_or_default(),
        deliveries,
    };
    Ok(page.into_response())
}

pub async fn retry(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    Ok(match st.app.retry_message(&no, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Redirect::to("/staff/messages?done=1").into_response(),
        Err(e) if e.code == ErrorCode::NotFound => return Err(e.into()),
        Err(e) => Redirect::to(&format!("/staff/messages?error={}", e.code.code())).into_response(),
    })
}

/// Puts a dead-lettered platform job (a dispatch that found no scene, …) back in the queue.
pub async fn requeue_job(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
) -> Result<Response, AppError> {
    st.app.requeue_message_job(id, &Actor::staff(p.id, &cid.0)).await?;
    Ok(Redirect::to("/staff/messages?done=1").into_response())
}

// --- templates ------------------------------------------------------------------------

pub struct SceneRow {
    pub code: &'static str,
    pub name: &'static str,
    pub criticality: &'static str,
    pub category: &'static str,
    pub channels: Vec<(&'static str, &'static str, String)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_templates.html")]
struct TemplatesPage {
    hospital: String,
    rows: Vec<SceneRow>,
    flash: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct SavedQuery {
    saved: Option<String>,
}

const EDITABLE: [Channel; 4] = [Channel::Inbox, Channel::WechatTemplate, Channel::WechatSubscribe, Channel::Sms];

pub async fn templates(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<SavedQuery>) -> Result<Response, AppError> {
    let saved = st.app.template_versions().await?;
    let rows = SCENES
        .iter()
        .map(|s| SceneRow {
            code: s.code,
            name: s.name_zh,
            criticality: s.criticality.label_zh(),
            category: s.category.label_zh(),
            channels: EDITABLE
                .iter()
                .map(|c| {
                    let v =
                        saved.iter().find(|t| t.scene == s.code && t.channel == c.as_str()).map(|t| format!("v{}", t.version)).unwrap_or_else(|| "默认".into());
                    (c.as_str(), c.label_zh(), v)
                })
                .collect(),
        })
        .collect();
    Ok(TemplatesPage { hospital: st.hospital_name.clone(), rows, flash: q.saved.map(|_| "模板已保存，新消息将使用新模板。") }.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_template_edit.html")]
struct EditPage {
    hospital: String,
    scene: &'static str,
    scene_name: &'static str,
    channel: &'static str,
    channel_label: &'static str,
    fields_hint: bool,
    provider_template_id: String,
    title: String,
    body: String,
    variables: String,
    version: String,
    preview: Option<templates::Preview>,
    error: Option<String>,
}

fn find(scene: &str, channel: &str) -> Result<(&'static domain::messages::Scene, Channel), AppError> {
    let s = domain::messages::scene(scene).ok_or(ErrorCode::NotFound)?;
    let c = Channel::parse(channel).ok_or(ErrorCode::NotFound)?;
    Ok((s, c))
}

fn edit_page(
    st: &WebState,
    s: &'static domain::messages::Scene,
    c: Channel,
    t: TemplateSource,
    preview: Option<templates::Preview>,
    error: Option<String>,
) -> Response {
    EditPage {
        hospital: st.hospital_name.clone(),
        scene: s.code,
        scene_name: s.name_zh,
        channel: c.as_str(),
        channel_label: c.label_zh(),
        fields_hint: c != Channel::Inbox,
        provider_template_id: t.provider_template_id,
        title: t.title,
        body: t.body,
        variables: s.variables.iter().chain(domain::messages::COMMON_VARIABLES).copied().collect::<Vec<_>>().join("  "),
        version: match t.edited_by {
            Some(by) => format!("第{}版（{}）", t.version, by),
            None => "系统默认".into(),
        },
        preview,
        error,
    }
    .into_response()
}

pub async fn edit_template(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Path((scene, channel)): Path<(String, String)>) -> Result<Response, AppError> {
    let (s, c) = find(&scene, &channel)?;
    let t = st.app.template_source(s, c).await?;
    Ok(edit_page(&st, s, c, t, None, None))
}

#[derive(Deserialize)]
pub struct TemplateForm {
    #[serde(default)]
    provider_template_id: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    #[serde(default)]
    action: String,
}

/// Preview (render with sample values) or save; either way a bad template comes back
/// with what is wrong and the text as typed.
pub async fn save_template(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((scene, channel)): Path<(String, String)>,
    Form(f): Form<TemplateForm>,
) -> Result<Response, AppError> {
    let (s, c) = find(&scene, &channel)?;
    let t = TemplateSource {
        provider_template_id: f.provider_template_id.trim().to_owned(),
        title: f.title,
        body: f.body.replace("\r\n", "\n"),
        version: 0,
        edited_by: None,
    };
    if f.action != "save" {
        return Ok(match templates::check(s, c, &t) {
            Ok(preview) => edit_page(&st, s, c, t, Some(preview), None),
            Err(e) => edit_page(&st, s, c, t, None, Some(e)),
        });
    }
    Ok(match st.app.save_template(s.code, c, &t, &Actor::staff(p.id, &cid.0)).await {
        Ok(_) => Redirect::to("/staff/messages/templates?saved=1").into_response(),
        Err(e) if e.code == ErrorCode::TemplateInvalid => edit_page(&st, s, c, t, None, Some(e.detail)),
        Err(e) => return Err(e.into()),
    })
}

// --- daily counts ---------------------------------------------------------------------

pub struct CountView {
    pub day: String,
    pub scene: &'static str,
    pub total: usize,
    /// Per channel that delivered, then statuses without a channel.
    pub by: Vec<(String, usize)>,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_message_stats.html")]
struct StatsPage {
    hospital: String,
    days: i64,
    rows: Vec<CountView>,
    totals: Vec<(String, usize)>,
}

#[derive(Deserialize)]
pub struct StatsQuery {
    days: Option<i64>,
}

pub async fn stats(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<StatsQuery>) -> Result<Response, AppError> {
    let days = q.days.unwrap_or(7).clamp(1, 31);
    let today = st.app.today();
    let from = domain::clock::local_midnight_utc(today - Duration::days(days - 1));
    let to = domain::clock::local_midnight_utc(today + Duration::days(1));
    let mut grouped: BTreeMap<(String, String), BTreeMap<String, usize>> = BTreeMap::new();
    let mut totals: BTreeMap<String, usize> = BTreeMap::new();
    for r in st.app.message_counts(from, to).await? {
        let day = domain::clock::to_local(r.created_at).format("%Y-%m-%d").to_string();
        let what = match r.sent_channel.as_deref().filter(|_| r.status == status::SENT || r.status == status::UNKNOWN) {
            Some(c) => channel_label(c).to_owned(),
            None => status::label_zh(&r.status).to_owned(),
        };
        *grouped.entry((day, r.scene)).or_default().entry(what.clone()).or_default() += 1;
        *totals.entry(what).or_default() += 1;
    }
    let rows = grouped
        .into_iter()
        .rev()
        .map(|((day, scene), by)| CountView { day, scene: scene_name(&scene), total: by.values().sum(), by: by.into_iter().collect() })
        .collect();
    Ok(StatsPage { hospital: st.hospital_name.clone(), days, rows, totals: totals.into_iter().collect() }.into_response())
}

// --- tasks ----------------------------------------------------------------------------

pub struct TaskView {
    pub id: i64,
    pub kind: &'static str,
    pub dept: String,
    pub title: String,
    pub detail: String,
    pub at: String,
    pub open: bool,
    pub done: String,
    pub message_no: String,
    pub channels: Vec<app::messages::console::ChannelOutcome>,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_tasks.html")]
struct TasksPage {
    hospital: String,
    rows: Vec<TaskView>,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct TasksQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn tasks(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<TasksQuery>) -> Result<Response, AppError> {
    let mut rows: Vec<TaskView> = st
        .app
        .staff_tasks(200)
        .await?
        .into_iter()
        .map(|t| TaskView {
            id: t.id,
            kind: match t.kind.as_str() {
                "critical_value_unacked" => "危急值未确认",
                "critical_undelivered" => "重要通知未送达",
                _ => "待办",
            },
            dept: t.dept,
            title: t.title,
            detail: t.detail,
            at: local(t.created_at),
            open: t.open,
            done: t.done.map(|(at, by, note)| format!("{} {by} {note}", local(at))).unwrap_or_default(),
            message_no: t.message_no.unwrap_or_default(),
            channels: t.channels,
        })
        .collect();
    rows.sort_by_key(|r| !r.open);
    Ok(TasksPage { hospital: st.hospital_name.clone(), rows, flash: q.done.map(|_| "已办结。"), error: crate::error::message_of(q.error.as_deref()) }
        .into_response())
}

#[derive(Deserialize)]
pub struct CloseForm {
    #[serde(default)]
    note: String,
}

pub async fn close_task(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
    Form(f): Form<CloseForm>,
) -> Result<Response, AppError> {
    Ok(match st.app.close_task(id, &f.note, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Redirect::to("/staff/tasks?done=1").into_response(),
        Err(e) => Redirect::to(&format!("/staff/tasks?error={}", e.code.code())).into_response(),
    })
}

// --- what to bring --------------------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "staff_visit_notes.html")]
struct VisitNotesPage {
    hospital: String,
    rows: Vec<(String, String, String)>,
    default_bring: &'static str,
    flash: Option<&'static str>,
    error: Option<&'static str>,
}

pub async fn visit_notes(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<TasksQuery>) -> Result<Response, AppError> {
    let notes = st.app.visit_notes().await?;
    let rows = st
        .app
        .departments()
        .await?
        .iter()
        .map(|d| {
            let bring = notes.iter().find(|n| n.dept_id == d.dept_id).map(|n| n.bring.clone()).unwrap_or_default();
            (d.dept_id.clone(), d.name.clone(), bring)
        })
        .collect();
    Ok(VisitNotesPage {
        hospital: st.hospital_name.clone(),
        rows,
        default_bring: app::messages::DEFAULT_BRING,
        flash: q.done.map(|_| "已保存，明天起的就诊日提醒将使用新内容。"),
        error: crate::error::message_of(q.error.as_deref()),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct VisitNoteForm {
    #[serde(default)]
    dept_id: String,
    #[serde(default)]
    bring: String,
}

pub async fn save_visit_note(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<VisitNoteForm>,
) -> Result<Response, AppError> {
    Ok(match st.app.save_visit_note(&f.dept_id, &f.bring, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Redirect::to("/staff/outpatient/visit-notes?done=1").into_response(),
        Err(e) => Redirect::to(&format!("/staff/outpatient/visit-notes?error={}", e.code.code())).into_response(),
    })
}

// --- open-interface clients -----------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "staff_open_api.html")]
struct OpenApiPage {
    hospital: String,
    rows: Vec<(String, String, bool, String)>,
    created: Option<(String, String)>,
    error: Option<String>,
}

async fn open_api_page(st: &WebState, created: Option<(String, String)>, error: Option<String>) -> Result<Response, AppError> {
    let rows = st.app.open_api_clients().await?.into_iter().map(|c| (c.key_id, c.name, c.enabled, local(c.created_at))).collect();
    Ok(OpenApiPage { hospital: st.hospital_name.clone(), rows, created, error }.into_response())
}

pub async fn open_api_clients(State(st): State<WebState>, StaffAuth(_p): StaffAuth) -> Result<Response, AppError> {
    open_api_page(&st, None, None).await
}

#[derive(Deserialize)]
pub struct ClientForm {
    #[serde(default)]
    key_id: String,
    #[serde(default)]
    name: String,
}

/// Registers a client and shows its secret on this one page, never again.
pub async fn create_open_api_client(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<ClientForm>,
) -> Result<Response, AppError> {
    let key_id = f.key_id.trim().to_owned();
    match st.app.create_open_api_client(&key_id, &f.name, &Actor::staff(p.id, &cid.0)).await {
        Ok(secret) => open_api_page(&st, Some((key_id, secret)), None).await,
        Err(e) if matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::Conflict) => {
            let why = if e.code == ErrorCode::Conflict {
                "该接入编号已存在".to_owned()
            } else {
                "接入编号为1-64位字母、数字、-或_，名称1-40字".to_owned()
            };
            open_api_page(&st, None, Some(why)).await
        }
        Err(e) => Err(e.into()),
    }
}
