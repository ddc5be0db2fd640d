//! The finance console: order search, an order's whole story (attempts, raw callbacks,
//! refunds, ledger, audit trail) and refunds with a reason behind a fresh second factor
//! (S6). Finance role only.
use crate::WebState;
use crate::auth::StaffAuth;
use crate::billing::yuan;
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::Actor;
use app::billing::console::OrderSearch;
use app::billing::ledger::{account_label_zh, memo_label_zh};
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form};
use domain::billing::OrderRow;
use domain::billing::{Channel, OrderState, Purpose};
use domain::format::{TimeStyle, local_time};
use domain::{ErrorCode, Fen};
use serde::Deserialize;

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    local_time(t, TimeStyle::Second)
}

pub struct OrderLineRow {
    pub order_no: String,
    pub created: String,
    pub purpose: &'static str,
    pub state: &'static str,
    pub total: String,
    pub insurance: String,
    pub self_pay: String,
    pub refunded: String,
}

fn line_row(r: &OrderRow) -> OrderLineRow {
    let o = &r.order;
    OrderLineRow {
        order_no: r.order_no.clone(),
        created: local(r.created_at),
        purpose: o.purpose.label_zh(),
        state: o.state.label_zh(),
        total: yuan(o.total()),
        insurance: yuan(o.due(Channel::Insurance)),
        self_pay: yuan(o.due(Channel::SelfPay)),
        refunded: yuan(o.refunded.total()),
    }
}

#[derive(Deserialize, Default)]
pub struct SearchQuery {
    #[serde(default)]
    no: String,
    /// 病案号: every order of that person.
    #[serde(default)]
    mr_no: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_orders.html")]
struct OrdersPage {
    hospital: String,
    q: SearchQuery,
    states: Vec<(&'static str, &'static str)>,
    purposes: Vec<(&'static str, &'static str)>,
    rows: Vec<OrderLineRow>,
    error: Option<&'static str>,
}

pub(crate) fn day(s: &str) -> Result<Option<chrono::DateTime<chrono::Utc>>, ()> {
    if s.trim().is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(s.trim(), "%Y-%m-%d").map_err(|_| ())?;
    Ok(Some(domain::clock::local_midnight_utc(d)))
}

pub async fn orders(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<SearchQuery>) -> Result<Response, AppError> {
    let purposes = purposes();
    let states = OrderState::ALL.iter().map(|s| (s.as_str(), s.label_zh())).collect();
    let (from, to) = match (day(&q.from), day(&q.to)) {
        (Ok(f), Ok(t)) => (f, t.map(|t| t + chrono::Duration::days(1))),
        _ => {
            let page = OrdersPage { hospital: st.hospital_name.clone(), q, states, purposes, rows: vec![], error: Some("日期格式应为 2026-11-25") };
            return Ok(page.into_response());
        }
    };
    let search = OrderSearch { order_no: q.no.clone(), state: q.state.clone(), purpose: q.purpose.clone(), mr_no: q.mr_no.clone(), from, to };
    let rows = st.app.search_orders(&search, 200).await?.iter().map(line_row).collect();
    Ok(OrdersPage { hospital: st.hospital_name.clone(), q, states, purposes, rows, error: None }.into_response())
}

pub struct Attempt {
    pub channel: &'static str,
    pub reference: String,
    pub detail: String,
    pub at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_order.html")]
struct StoryPage {
    hospital: String,
    o: OrderLineRow,
    patient: String,
    split: Vec<(&'static str, String)>,
    captured: String,
    refundable_insurance: String,
    refundable_self_pay: String,
    can_refund: bool,
    attempts: Vec<Attempt>,
    events: Vec<(String, String, String)>,
    /// (time, posting, account, memo, amount, raw account, raw memo).
    ledger: Vec<(String, String, String, String, String, String, String)>,
    ledger_sum: i64,
    /// (seq, time, actor, action, reason, raw action).
    audit: Vec<(i64, String, String, String, String, String)>,
    notice: Option<String>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct StoryQuery {
    refunded: Option<String>,
    error: Option<String>,
}

/// Channel details without anything secret (tokens are never shown).
fn redacted(detail: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(detail).unwrap_or(serde_json::Value::Null);
    if let Some(m) = v.as_object_mut() {
        for k in ["pay_token", "auth_state"] {
            if m.contains_key(k) {
                m.insert(k.into(), serde_json::json!("***"));
            }
        }
    }
    v.to_string()
}

/// Who acted, as finance staff read it (the raw id stays in the developer details).
fn actor_label_zh(actor: &str) -> String {
    match actor.split_once(':') {
        Some(("staff", id)) => format!("工作人员 #{id}"),
        Some(("patient_account", id)) => format!("患者账号 #{id}"),
        Some(("system", what)) => format!("系统（{what}）"),
        _ => actor.to_owned(),
    }
}

/// The audit actions an order's story shows, in Chinese.
fn action_label_zh(action: &str) -> &str {
    match action {
        "order.create" => "创建订单",
        "order.insurance_presettle" => "医保预结算",
        "order.refund_request" => "申请退款",
        "order.fulfilment_failed" => "业务办理失败，自动退款",
        "finance.order_view" => "查看订单详情",
        "booking.cancel" => "退号",
        "booking.abandon" => "支付前取消预约",
        other => other,
    }
}

pub async fn order(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<StoryQuery>,
) -> Result<Response, AppError> {
    let s = st.app.order_story(&no, &Actor::staff(p.id, &cid.0)).await?;
    let o = &s.row.order;
    let split = vec![
        ("医保统筹", yuan(o.split.fund)),
        ("个人账户", yuan(o.split.personal_account)),
        ("家庭共济", yuan(o.split.mutual_aid)),
        ("自付（银行）", yuan(o.split.self_pay)),
    ];
    let page = StoryPage {
        hospital: st.hospital_name.clone(),
        o: line_row(&s.row),
        patient: s.patient_name_masked.clone().unwrap_or_else(|| "—".into()),
        split,
        captured: format!("医保 ¥{} · 银行 ¥{}", yuan(o.captured.insurance), yuan(o.captured.self_pay)),
        refundable_insurance: yuan(o.refundable(Channel::Insurance)),
        refundable_self_pay: yuan(o.refundable(Channel::SelfPay)),
        can_refund: matches!(o.state, OrderState::Paid | OrderState::Fulfilled | OrderState::PartiallyRefunded),
        attempts: s
            .attempts
            .iter()
            .map(|a| Attempt {
                channel: if a.channel == "nhsa" { "医保中心" } else { "建设银行" },
                reference: a.reference.clone(),
                detail: redacted(&a.detail),
                at: local(a.updated_at),
            })
            .collect(),
        events: s.events.iter().map(|e| (local(e.received_at), e.channel.clone(), e.raw.clone())).collect(),
        ledger: s
            .ledger
            .iter()
            .map(|e| {
                (
                    local(e.at),
                    e.posting.clone(),
                    account_label_zh(&e.account).to_owned(),
                    memo_label_zh(&e.memo).to_owned(),
                    yuan(e.amount),
                    e.account.clone(),
                    e.memo.clone(),
                )
            })
            .collect(),
        ledger_sum: s.ledger.iter().map(|e| e.amount.0).sum(),
        audit: s
            .audit
            .iter()
            .map(|a| (a.seq, local(a.at), actor_label_zh(&a.actor), action_label_zh(&a.action).to_owned(), a.reason.clone(), a.action.clone()))
            .collect(),
        notice: q.refunded.map(|r| format!("退款已受理，退款单号 {r}。银行与医保处理完成后状态将自动更新。")),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct RefundForm {
    confirmed: Option<String>,
    #[serde(default)]
    insurance: String,
    #[serde(default)]
    self_pay: String,
    #[serde(default)]
    reason: String,
    #[serde(default)]
    otp: String,
}

pub async fn refund(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<RefundForm>,
) -> Result<Response, AppError> {
    let back = |code: ErrorCode| Redirect::to(&format!("/staff/finance/orders/{no}?error={}", code.code())).into_response();
    let self_pay = if f.self_pay.trim().is_empty() { Some(Fen::ZERO) } else { Fen::parse_yuan(f.self_pay.trim()) };
    let Some(self_pay) = self_pay.filter(|f| !f.is_negative()) else { return Ok(back(ErrorCode::ValidationFailed)) };
    if f.reason.trim().is_empty() {
        return Ok(back(ErrorCode::ValidationFailed));
    }
    // First the amounts per channel and the reason, with the second factor asked on that
    // page; a wrong code shows the same page again with everything kept.
    let preview = match st.app.finance_refund_preview(&no, f.insurance == "all", self_pay).await {
        Ok((_, p)) => p,
        Err(e) if e.code == ErrorCode::OrderNotFound => return Err(e.into()),
        Err(e) if e.code.http_status() < 500 => return Ok(back(e.code)),
        Err(e) => return Err(e.into()),
    };
    let confirm_page = |error: Option<&'static str>| {
        let mut c = Confirmation::new("确认退款", format!("/staff/finance/orders/{no}/refund"), format!("/staff/finance/orders/{no}"), "退款")
            .fact("订单号", no.clone());
        for (label, amount) in preview.parts_zh() {
            c = c.fact(&format!("退回{label}"), amount.to_string());
        }
        c.fact("退款合计", preview.total().to_string())
            .fact("退款原因", f.reason.trim().to_owned())
            .field("insurance", f.insurance.clone())
            .field("self_pay", f.self_pay.clone())
            .field("reason", f.reason.clone())
            .consequence("退款按原支付渠道退回，提交后不能撤回；医保部分整笔退回医保中心，银行部分一般1-7个工作日到账。请输入当前动态验证码确认。")
            .confirm_label("确认退款")
            .step_up()
            .error(error)
            .staff_page(&st.hospital_name)
    };
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        return Ok(confirm_page(None));
    }
    match st.app.finance_refund_of(p.id, &f.otp, &no, f.insurance == "all", self_pay, &f.reason, &cid.0).await {
        Ok(rno) => Ok(Redirect::to(&format!("/staff/finance/orders/{no}?refunded={rno}")).into_response()),
        Err(e) if e.code == ErrorCode::OrderNotFound => Err(e.into()),
        Err(e) if matches!(e.code, ErrorCode::StepUpRequired | ErrorCode::OtpReused) => {
            tracing::info!(order_no = %no, code = e.code.code(), "refund code refused");
            Ok(confirm_page(Some("动态验证码错误或已使用，请输入当前的6位验证码。")))
        }
        Err(e) if e.code.http_status() < 500 => {
            tracing::info!(order_no = %no, code = e.code.code(), detail = %e.detail, "refund refused");
            Ok(back(e.code))
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn download(bytes: Vec<u8>, content_type: &'static str, filename: &str) -> Response {
    use axum::http::header;
    let disposition = format!("attachment; filename=\"{filename}\"");
    ([(header::CONTENT_TYPE, content_type.to_owned()), (header::CONTENT_DISPOSITION, disposition), (header::CACHE_CONTROL, "no-store".to_owned())], bytes)
        .into_response()
}

pub(crate) const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
pub(crate) const CSV: &str = "text/csv; charset=utf-8";

/// A report's days as a half-open UTC range, each end defaulting to today; `true` when a
/// date did not parse (today is used then, and the page says so).
pub(crate) fn day_range(today: chrono::NaiveDate, from: &str, to: &str) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>, bool) {
    let midnight = domain::clock::local_midnight_utc(today);
    match (day(from), day(to)) {
        (Ok(f), Ok(t)) => (f.unwrap_or(midnight), t.unwrap_or(midnight) + chrono::Duration::days(1), false),
        _ => (midnight, midnight + chrono::Duration::days(1), true),
    }
}

/// A report's export, when the query asked for one (`format=csv|xlsx`).
pub(crate) struct Export<'a> {
    pub format: &'a str,
    /// What the audit calls the report (`ledger`, `records_ledger`).
    pub kind: &'static str,
    pub name: String,
    pub rows: usize,
}

impl Export<'_> {
    /// The file, once its leaving the system is audited; `None` when no export was asked for.
    pub async fn send(
        self,
        st: &WebState,
        actor: &Actor,
        csv: impl FnOnce() -> Result<Vec<u8>, domain::DomainError>,
        xlsx: impl FnOnce() -> Result<Vec<u8>, domain::DomainError>,
    ) -> Result<Option<Response>, AppError> {
        let (content_type, ext) = match self.format {
            "csv" => (CSV, "csv"),
            "xlsx" => (XLSX, "xlsx"),
            _ => return Ok(None),
        };
        st.app.audit_export(&format!("{}:{}", self.kind, self.name), self.rows, actor).await?;
        let body = if ext == "csv" { csv()? } else { xlsx()? };
        Ok(Some(download(body, content_type, &format!("{}.{ext}", self.name))))
    }
}

/// What a report page says of a range it could not show.
pub(crate) fn range_error(bad_dates: bool, refused: bool) -> Option<&'static str> {
    if bad_dates {
        Some("日期格式应为 2026-11-25")
    } else if refused {
        Some("查询范围需在 92 天以内，且起始日期不晚于截止日期")
    } else {
        None
    }
}

/// A report file's name: `prefix-YYYYMMDD-YYYYMMDD` over the local days of [from, to).
pub(crate) fn report_name(prefix: &str, from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>) -> String {
    format!("{prefix}-{}-{}", domain::clock::to_local(from).format("%Y%m%d"), domain::clock::to_local(to - chrono::Duration::seconds(1)).format("%Y%m%d"))
}

#[derive(Deserialize, Default)]
pub struct LedgerQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    purpose: String,
    #[serde(default)]
    account: String,
    #[serde(default)]
    mr_no: String,
    #[serde(default)]
    format: String,
}

impl LedgerQuery {
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([("from", &self.from), ("to", &self.to), ("purpose", &self.purpose), ("account", &self.account), ("mr_no", &self.mr_no)])
            .unwrap_or_default()
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_ledger.html")]
struct LedgerPage {
    hospital: String,
    q: LedgerQuery,
    qs: String,
    purposes: Vec<(&'static str, &'static str)>,
    accounts: Vec<(&'static str, &'static str)>,
    lines: Vec<(String, String, String, String, &'static str, &'static str, String)>,
    by_account: Vec<(String, &'static str, String)>,
    by_purpose: Vec<(&'static str, String, String)>,
    sum: i64,
    shown: usize,
    total_lines: usize,
    error: Option<&'static str>,
}

const ACCOUNTS: [&str; 9] = [
    "clearing:bank",
    "clearing:insurance",
    "revenue:registration",
    "revenue:outpatient",
    "revenue:inpatient",
    "revenue:record_copy",
    "liability:deposit",
    "liability:card",
    "suspense:late_payment",
];

fn purposes() -> Vec<(&'static str, &'static str)> {
    Purpose::ALL.iter().map(|p| (p.as_str(), p.label_zh())).collect()
}

pub async fn ledger(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<LedgerQuery>,
) -> Result<Response, AppError> {
    use app::billing::ledger::{LedgerFilter, ledger_csv, ledger_xlsx};
    let (from, to, bad_dates) = day_range(st.app.today(), &q.from, &q.to);
    let purpose = Purpose::parse(&q.purpose);
    let filter = LedgerFilter {
        from: Some(from),
        to: Some(to),
        purpose,
        account: ACCOUNTS.iter().find(|a| **a == q.account).map(|a| a.to_string()),
        mr_no: Some(q.mr_no.clone()),
    };
    let report = match st.app.ledger_report(&filter).await {
        Ok(r) => Some(r),
        Err(e) if e.code == ErrorCode::ValidationFailed => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(r) = report.as_ref().filter(|_| !bad_dates) {
        let export = Export { format: &q.format, kind: "ledger", name: report_name("ledger", from, to), rows: r.lines.len() };
        if let Some(file) = export.send(&st, &Actor::staff(p.id, &cid.0), || ledger_csv(r), || ledger_xlsx(r)).await? {
            return Ok(file);
        }
    }
    let error = range_error(bad_dates, report.is_none());
    let r = report.unwrap_or_default();
    const SHOW: usize = 500;
    let page = LedgerPage {
        hospital: st.hospital_name.clone(),
        qs: q.query_string(),
        purposes: purposes(),
        accounts: ACCOUNTS.iter().map(|a| (*a, account_label_zh(a))).collect(),
        lines: r
            .lines
            .iter()
            .take(SHOW)
            .map(|l| {
                (
                    local(l.at),
                    l.posting.clone(),
                    l.order_no.clone(),
                    l.purpose.map(|p| p.label_zh()).unwrap_or("").to_owned(),
                    account_label_zh(&l.account),
                    memo_label_zh(&l.memo),
                    yuan(l.amount),
                )
            })
            .collect(),
        by_account: r.by_account.iter().map(|(a, v)| (a.clone(), account_label_zh(a), yuan(Fen(*v)))).collect(),
        by_purpose: r.by_purpose.iter().map(|(p, (inn, out))| (*p, yuan(Fen(*inn)), yuan(Fen(*out)))).collect(),
        sum: r.sum,
        shown: r.lines.len().min(SHOW),
        total_lines: r.lines.len(),
        error,
        q,
    };
    Ok(page.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_recon_runs.html")]
struct ReconRunsPage {
    hospital: String,
    runs: Vec<(i64, String, &'static str, String, String, String)>,
    yesterday: String,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct RunsQuery {
    error: Option<String>,
}

fn summary_line(summary: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(summary).unwrap_or_default();
    if v.get("error").is_some() {
        return format!("失败：{}", v["error"].as_str().unwrap_or(""));
    }
    format!(
        "一致 {} 笔，差异 {} 项（自动补单 {}，自动退款 {}，待处理 {}）{}",
        v["matched"],
        v["differences"],
        v["auto_healed"],
        v["auto_refunded"],
        v["open"],
        match v["total_check"]["agree"].as_bool() {
            Some(true) => "，医保总账相符",
            Some(false) => "，医保总账不符",
            None => "",
        }
    )
}

pub async fn recon_runs(State(st): State<WebState>, StaffAuth(_p): StaffAuth, Query(q): Query<RunsQuery>) -> Result<Response, AppError> {
    let runs = st.app.recon_runs(60).await?;
    let page = ReconRunsPage {
        hospital: st.hospital_name.clone(),
        runs: runs
            .iter()
            .map(|r| {
                let status = match r.status.as_str() {
                    "done" => "已完成",
                    "running" => "进行中",
                    "interrupted" => "已中断（已重新对账）",
                    _ => "失败",
                };
                (r.id, r.business_date.clone(), status, summary_line(&r.summary), local(r.started_at), r.finished_at.map(local).unwrap_or_default())
            })
            .collect(),
        yesterday: (st.app.today() - chrono::Duration::days(1)).to_string(),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct RunForm {
    #[serde(default)]
    date: String,
}

/// Runs (or re-runs) the reconciliation of a day now.
pub async fn run_recon(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<RunForm>,
) -> Result<Response, AppError> {
    let Ok(date) = chrono::NaiveDate::parse_from_str(f.date.trim(), "%Y-%m-%d") else {
        return Ok(Redirect::to("/staff/finance/reconciliation?error=VALIDATION_FAILED").into_response());
    };
    if date >= st.app.today() {
        return Ok(Redirect::to(&format!("/staff/finance/reconciliation?error={}", ErrorCode::ReconDayNotOver.code())).into_response());
    }
    match st.app.reconcile_day(date, &Actor::staff(p.id, &cid.0)).await {
        Ok(run) => Ok(Redirect::to(&format!("/staff/finance/reconciliation/{run}")).into_response()),
        Err(e) if e.code.http_status() >= 500 => Ok(Redirect::to(&format!("/staff/finance/reconciliation?error={}", e.code.code())).into_response()),
        Err(e) => Err(e.into()),
    }
}

pub struct ItemView {
    pub id: i64,
    pub channel: &'static str,
    pub order_no: String,
    pub kind: &'static str,
    pub local: String,
    pub remote: String,
    pub detail: String,
    pub resolution: &'static str,
    pub open: bool,
    pub note: String,
    pub resolved_by: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_recon_run.html")]
struct ReconRunPage {
    hospital: String,
    id: i64,
    date: String,
    summary: String,
    items: Vec<ItemView>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct RunQuery {
    #[serde(default)]
    format: String,
    error: Option<String>,
}

pub async fn recon_run(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(id): Path<i64>,
    Query(q): Query<RunQuery>,
) -> Result<Response, AppError> {
    use app::billing::reconcile::{channel_label_zh, kind_label_zh, resolution_label_zh};
    if q.format == "csv" || q.format == "xlsx" {
        let xlsx = q.format == "xlsx";
        let (name, bytes) = st.app.export_recon_run(id, xlsx, &Actor::staff(p.id, &cid.0)).await?;
        return Ok(download(bytes, if xlsx { XLSX } else { CSV }, &name));
    }
    let (run, items) = st.app.recon_run(id).await?;
    let page = ReconRunPage {
        hospital: st.hospital_name.clone(),
        id,
        date: run.business_date.clone(),
        summary: summary_line(&run.summary),
        items: items
            .iter()
            .map(|i| ItemView {
                id: i.id,
                channel: channel_label_zh(&i.channel),
                order_no: i.order_no.clone(),
                kind: kind_label_zh(&i.kind),
                local: yuan(i.local_amount),
                remote: yuan(i.remote_amount),
                detail: i.detail.clone(),
                resolution: resolution_label_zh(&i.resolution),
                open: i.is_open(),
                note: i.note.clone(),
                resolved_by: i.resolved_by.clone().unwrap_or_default(),
            })
            .collect(),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct ResolveForm {
    confirmed: Option<String>,
    #[serde(default)]
    note: String,
}

pub async fn resolve_item(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((run, item)): Path<(i64, i64)>,
    Form(f): Form<ResolveForm>,
) -> Result<Response, AppError> {
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let (run_row, items) = st.app.recon_run(run).await?;
        let Some(i) = items.iter().find(|i| i.id == item) else { return Err(ErrorCode::NotFound.into()) };
        let refused = if f.note.trim().is_empty() {
            Some(ErrorCode::ValidationFailed)
        } else if !i.is_open() {
            Some(ErrorCode::Conflict)
        } else {
            None
        };
        if let Some(code) = refused {
            return Ok(Redirect::to(&format!("/staff/finance/reconciliation/{run}?error={}", code.code())).into_response());
        }
        use app::billing::reconcile::{channel_label_zh, kind_label_zh};
        return Ok(Confirmation::new(
            "确认处理对账差异",
            format!("/staff/finance/reconciliation/{run}/items/{item}/resolve"),
            format!("/staff/finance/reconciliation/{run}"),
            "处理",
        )
        .fact("对账日", run_row.business_date)
        .fact("渠道", channel_label_zh(&i.channel))
        .fact("订单号", i.order_no.clone())
        .fact("差异", format!("{}：本地 ¥{} / 渠道 ¥{}", kind_label_zh(&i.kind), yuan(i.local_amount), yuan(i.remote_amount)))
        .fact("处理说明", f.note.trim().to_owned())
        .field("note", f.note.clone())
        .consequence("确认后该差异标记为人工已处理，处理人与说明写入审计日志，不能撤销。")
        .staff_page(&st.hospital_name));
    }
    Ok(match st.app.resolve_recon_item_of_run(run, item, &f.note, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Redirect::to(&format!("/staff/finance/reconciliation/{run}")).into_response(),
        Err(e) if e.code == ErrorCode::NotFound => return Err(e.into()),
        Err(e) if e.code.http_status() < 500 => Redirect::to(&format!("/staff/finance/reconciliation/{run}?error={}", e.code.code())).into_response(),
        Err(e) => return Err(e.into()),
    })
}
