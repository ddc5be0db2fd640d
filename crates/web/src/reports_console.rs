//! The lab console (RPT-1): specimens to sample, results to review and release (审核发布),
//! and a specimen marked 异常 with one click, which tells the patient at once.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::reports::plain;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::reports::LabStatus;
use serde::Deserialize;

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    domain::format::local_time(t, domain::format::TimeStyle::Minute)
}

pub struct LabRow {
    pub order_no: String,
    pub item_name: String,
    pub patient: String,
    pub barcode: String,
    pub status: &'static str,
    pub status_code: &'static str,
    pub at: String,
    pub released: bool,
    pub awaiting_release: bool,
    pub rejection: String,
    /// The report's files as stored or refused (the review view).
    pub files: Vec<(String, bool)>,
}

fn lis_label(s: LabStatus) -> &'static str {
    match s {
        LabStatus::Ordered => "待采样",
        LabStatus::Sampled => "已采样/检测中",
        LabStatus::Reported => "已出报告",
        LabStatus::Rejected => "标本异常",
        LabStatus::Withdrawn => "已撤回",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_lab.html")]
struct LabPage {
    hospital: String,
    rows: Vec<LabRow>,
    view: String,
    events: Vec<(String, String, i64, String, String)>,
    flash: Option<String>,
    error: Option<&'static str>,
    reasons: &'static [&'static str],
    /// The deadline in it is computed from the lab's hours and the time now.
    default_instruction: String,
}

#[derive(Deserialize)]
pub struct LabQuery {
    view: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

/// Reasons a specimen is rejected, as labs word them.
const REJECT_REASONS: &[&str] = &["标本溶血", "标本凝固", "标本量不足", "标本污染", "采集容器错误", "标本超时送检", "标签不清或不符"];

pub async fn lab(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<LabQuery>,
) -> Result<Response, AppError> {
    let view = app::reports::console::LabView::parse(q.view.as_deref().unwrap_or_default());
    let list = st.app.lab_worklist(view, &Actor::staff(p.id, &cid.0)).await?;
    let rows = list
        .rows
        .into_iter()
        .map(|r| {
            let mut files: Vec<(String, bool)> = r
                .files
                .into_iter()
                .map(|f| {
                    let what = match (f.source.as_str(), f.kind.as_str()) {
                        ("generated", _) => "平台生成PDF".to_owned(),
                        (_, "pdf") => format!("LIS报告PDF（{}页）", f.pages),
                        _ => "影像图片".to_owned(),
                    };
                    (if f.stored { what } else { format!("{what}不合格：{}", f.reject_reason.unwrap_or_default()) }, f.stored)
                })
                .collect();
            if r.files_pending {
                files.push(("附件处理中".to_owned(), true));
            }
            LabRow {
                order_no: r.order_no,
                item_name: r.item_name,
                patient: format!("{} {}", r.patient_name_masked, r.his_patient_id),
                barcode: r.barcode,
                status: lis_label(r.status),
                status_code: r.status.as_str(),
                at: local(r.at),
                released: r.released,
                awaiting_release: r.awaiting_release,
                rejection: r.rejection.map(|(reason, instruction)| format!("{reason}：{instruction}")).unwrap_or_default(),
                files,
            }
        })
        .collect();
    let events = list
        .recent_events
        .into_iter()
        .map(|e| {
            let status = LabStatus::parse(&e.status).map(lis_label).unwrap_or("未知状态").to_owned();
            let outcome = match e.outcome.as_str() {
                "applied" => "已更新",
                "queued" => "已排队同步",
                "stale" => "旧版本，已忽略",
                "unknown_order" => "LIS无此申请单，已拒收",
                _ => "其他",
            };
            (local(e.received_at), e.order_no, e.revision, status, outcome.to_owned())
        })
        .collect();
    let view = view.as_str().to_owned();
    Ok(LabPage {
        hospital: st.hospital_name.clone(),
        rows,
        view,
        events,
        flash: q.done,
        error: crate::error::message_of(q.error.as_deref()),
        reasons: REJECT_REASONS,
        default_instruction: st.app.default_resample_instruction(),
    }
    .into_response())
}

#[derive(Deserialize)]
pub struct RejectForm {
    confirmed: Option<String>,
    reason: String,
    #[serde(default)]
    instruction: String,
}

pub async fn reject(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<RejectForm>,
) -> Response {
    if !plain(&no) {
        return Redirect::to("/staff/lab?error=LAB_ORDER_UNKNOWN").into_response();
    }
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        return Confirmation::new("确认标记标本异常", format!("/staff/lab/{no}/reject"), "/staff/lab", "标记")
            .fact("申请单", no.clone())
            .fact("异常原因", f.reason.clone())
            .fact("告知患者", f.instruction.clone())
            .field("reason", f.reason)
            .field("instruction", f.instruction)
            .consequence("确认后LIS中该标本作废，患者立即收到“标本异常”通知（含以上说明），需重新采集；此操作不能撤销。")
            .confirm_label("确认标记并通知患者")
            .staff_page(&st.hospital_name);
    }
    match st.app.reject_specimen(&no, &f.reason, &f.instruction, &Actor::staff(p.id, &cid.0), &p.username).await {
        Ok(_) => Redirect::to(&format!("/staff/lab?done={}", domain::format::url_encode(&format!("{no} 已标记异常，已通知患者")))).into_response(),
        Err(e) => Redirect::to(&format!("/staff/lab?error={}", e.code.code())).into_response(),
    }
}

/// 审核发布: the first post shows the results, the conclusion and what became of the
/// files on one screen; only the confirmed post releases the report to the patient.
pub async fn release(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    body: axum::body::Bytes,
) -> Response {
    if !plain(&no) {
        return Redirect::to("/staff/lab?view=review&error=LAB_ORDER_UNKNOWN").into_response();
    }
    if !crate::confirm::confirmed_in(&body) {
        return match st.app.report_for_review(&no, &Actor::staff(p.id, &cid.0)).await {
            Ok(r) => review_page(&st, r),
            Err(e) => Redirect::to(&format!("/staff/lab?view=review&error={}", e.code.code())).into_response(),
        };
    }
    match st.app.release_report(&no, &Actor::staff(p.id, &cid.0), &p.username).await {
        Ok(r) => {
            let when = if r.visible_at > r.released_at { format!("，将于{}对患者开放", local(r.visible_at)) } else { "，已通知患者".into() };
            Redirect::to(&format!("/staff/lab?view=review&done={}", domain::format::url_encode(&format!("{no} 已审核发布{when}")))).into_response()
        }
        Err(e) => Redirect::to(&format!("/staff/lab?view=review&error={}", e.code.code())).into_response(),
    }
}

/// The review screen before 审核发布.
fn review_page(st: &WebState, r: app::reports::console::ReportForReview) -> Response {
    let mut c = Confirmation::new("审核发布报告", format!("/staff/lab/{}/release", r.order_no), "/staff/lab?view=review", "发布")
        .fact("患者", r.patient_name_masked)
        .fact("项目", r.item_name)
        .fact("报告单号", format!("{}（第{}版）", r.report.report_no, r.report.version))
        .fact("检验/检查者", r.report.tester)
        .fact("报告时间", local(r.report.reported_at));
    for i in &r.report.items {
        let range = if i.range.is_empty() { String::new() } else { format!("（参考 {}）", i.range) };
        c = c.fact(&i.name, format!("{} {}{range} {}", i.value, i.unit, i.flag).trim().to_owned());
    }
    if !r.report.findings.is_empty() {
        c = c.fact("所见", r.report.findings);
    }
    if !r.report.conclusion.is_empty() {
        c = c.fact("结论", r.report.conclusion);
    }
    for f in r.files {
        let what = match (f.source.as_str(), f.kind.as_str()) {
            ("generated", _) => "平台生成PDF".to_owned(),
            (_, "pdf") => format!("LIS报告PDF（{}页）", f.pages),
            _ => "影像图片".to_owned(),
        };
        c = c.fact("附件", if f.stored { format!("{what}：已通过检查") } else { format!("{what}：不合格（{}）", f.reject_reason.unwrap_or_default()) });
    }
    if r.files_pending {
        c = c.fact("附件", "处理中".to_owned());
    }
    let consequence = if r.released {
        "该版本已发布过；再次确认不会重复通知患者。"
    } else {
        "发布后患者即可在手机上查看该报告及其附件（病理、基因等类别按设定延迟开放），并收到新报告单提醒。请核对以上结果无误。"
    };
    c.consequence(consequence).confirm_label("核对无误，审核发布").staff_page(&st.hospital_name)
}
