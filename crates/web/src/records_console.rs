//! The records office's console (病案室, REC-4): the queue with its filters and ageing, the
//! review screen (photos beside the HIS's identity; the originals are for this screen
//! only), approve or return with reasons, the page count and its true-up, pickup by code,
//! and the versioned fee table (administrators).
use crate::WebState;
use crate::auth::StaffAuth;
use crate::confirm::Confirmation;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use domain::format::{TimeStyle, local_time, yuan};
use domain::records::QueueFilter as RecordQueueFilter;
use domain::records::{ApplicationState, Delivery, Purpose, ReturnReason, TrueUp};
use domain::{ErrorCode, Fen};
use serde::Deserialize;

const PAGE: u64 = 50;

#[derive(Deserialize, Default)]
pub struct QueueQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    purpose: String,
    /// Waiting at least this many days.
    #[serde(default)]
    waited: String,
    #[serde(default)]
    overdue: String,
    #[serde(default)]
    page: u64,
}

/// (number, 就诊人 masked, applicant, purpose, delivery, state label, submitted, ageing text, overdue)
type QueueLine = (String, String, &'static str, &'static str, &'static str, &'static str, String, String, bool);

#[derive(Template, WebTemplate)]
#[template(path = "staff_records.html")]
struct QueuePage {
    hospital: String,
    rows: Vec<QueueLine>,
    total: u64,
    page: u64,
    pages: u64,
    states: Vec<(&'static str, &'static str, bool)>,
    purposes: Vec<(&'static str, &'static str, bool)>,
    delivery: String,
    waited: String,
    overdue: bool,
    query: String,
}

fn ageing(minutes: Option<i64>) -> (String, bool) {
    match minutes {
        Some(m) if m > 0 => (format!("已超时 {} 小时", m / 60), true),
        Some(m) => (format!("剩余 {} 小时", (-m) / 60), false),
        None => (String::new(), false),
    }
}

pub async fn queue(State(st): State<WebState>, Query(q): Query<QueueQuery>) -> Result<Response, AppError> {
    let states: Vec<ApplicationState> = match q.state.as_str() {
        "" => vec![ApplicationState::Submitted, ApplicationState::Approved],
        "all" => vec![],
        s => ApplicationState::parse(s).into_iter().collect(),
    };
    let now = st.app.now();
    let f = RecordQueueFilter {
        states,
        delivery: Delivery::parse(&q.delivery),
        purpose: Purpose::parse(&q.purpose),
        submitted_before: q.waited.parse::<i64>().ok().filter(|d| *d > 0 && *d < 365).map(|d| now - chrono::Duration::days(d)),
        overdue_at: (q.overdue == "1").then_some(now),
        offset: q.page * PAGE,
        limit: PAGE,
    };
    let p = st.app.records_queue(&f).await?;
    let rows = p
        .rows
        .into_iter()
        .map(|r| {
            let (age, late) = ageing(r.overdue_minutes);
            let row = r.row;
            (
                row.application_no.clone(),
                row.encounter_label.clone().unwrap_or_default(),
                row.applicant.map(|a| a.label_zh()).unwrap_or(""),
                row.purpose.map(|p| p.label_zh()).unwrap_or(""),
                row.delivery.map(|d| if d == Delivery::Express { "快递" } else { "自取" }).unwrap_or(""),
                row.state.label_zh(),
                row.submitted_at.map(|t| local_time(t, TimeStyle::ShortMinute)).unwrap_or_default(),
                age,
                late,
            )
        })
        .collect();
    let chosen = if q.state.is_empty() { "" } else { q.state.as_str() };
    let mut states: Vec<(&'static str, &'static str, bool)> = vec![("", "待办（待审核、复印中）", chosen.is_empty()), ("all", "全部", chosen == "all")];
    states.extend(ApplicationState::ALL.iter().filter(|s| **s != ApplicationState::Draft).map(|s| (s.as_str(), s.label_zh(), chosen == s.as_str())));
    let page = QueuePage {
        hospital: st.hospital_name.clone(),
        rows,
        total: p.total,
        page: q.page,
        pages: p.total.div_ceil(PAGE).max(1),
        states,
        purposes: Purpose::ALL.iter().map(|x| (x.as_str(), x.label_zh(), q.purpose == x.as_str())).collect(),
        delivery: q.delivery.clone(),
        waited: q.waited.clone(),
        overdue: q.overdue == "1",
        query: serde_urlencoded::to_string([
            ("state", &q.state),
            ("delivery", &q.delivery),
            ("purpose", &q.purpose),
            ("waited", &q.waited),
            ("overdue", &q.overdue),
        ])
        .unwrap_or_default(),
    };
    Ok(page.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_record.html")]
struct CasePage {
    hospital: String,
    no: String,
    version: i32,
    state: &'static str,
    phase: &'static str,
    facts: Vec<(&'static str, String)>,
    identity: Vec<(&'static str, String)>,
    /// Other open applications for the same stay or visit: (number, state).
    same_encounter: Vec<(String, &'static str)>,
    /// (id, label, flags)
    photos: Vec<(i64, &'static str, String)>,
    fee_lines: Vec<(&'static str, String, String)>,
    paid: String,
    timeline: Vec<(String, String, String)>,
    reasons: Vec<(&'static str, &'static str)>,
    estimated_pages: u32,
    no_waybill: bool,
    flash: Option<String>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct CaseQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn case(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<CaseQuery>,
) -> Result<Response, AppError> {
    let v = st.app.record_case(&no, &Actor::staff(p.id, &cid.0)).await?;
    let r = &v.row;
    let mut facts = vec![("申请编号", r.application_no.clone())];
    facts.push(("申请人", r.applicant.map(|a| a.label_zh().to_owned()).unwrap_or_default()));
    facts.push(("就诊记录", r.encounter_label.clone().unwrap_or_default()));
    facts.push(("病案号", r.mr_no.clone().unwrap_or_default()));
    facts.push(("用途", r.purpose.map(|x| x.label_zh().to_owned()).unwrap_or_default()));
    facts.push(("复印内容", r.sections.iter().map(|s| s.label_zh()).collect::<Vec<_>>().join("、")));
    facts.push(("份数", r.copies.map(|c| format!("{c} 份")).unwrap_or_default()));
    let delivery = match (r.delivery, &r.address) {
        (Some(Delivery::Express), Some(a)) => format!("快递：{} {} {}{}{}{}", a.name, a.mobile, a.province, a.city, a.county, a.detail),
        (Some(d), _) => d.label_zh().to_owned(),
        _ => String::new(),
    };
    facts.push(("领取方式", delivery));
    if let Some(t) = r.submitted_at {
        facts.push(("提交时间", local_time(t, TimeStyle::ShortMinute)));
    }
    if let Some(t) = r.promised_by {
        facts.push(("承诺完成", local_time(t, TimeStyle::ShortMinute)));
    }
    if let Some(w) = &r.waybill_no {
        facts.push(("运单号", w.clone()));
    }
    let identity = match &v.identity {
        Some(h) => {
            vec![("姓名", h.name.clone()), ("性别", h.gender.label_zh().to_owned()), ("出生日期", h.birth_date.to_string()), ("病案号", h.mr_no.clone())]
        }
        None => vec![("HIS", "暂时无法读取患者身份，请稍后刷新".to_owned())],
    };
    let page = CasePage {
        hospital: st.hospital_name.clone(),
        no: no.clone(),
        version: r.version,
        state: r.state.label_zh(),
        phase: r.state.as_str(),
        facts,
        identity,
        same_encounter: v.same_encounter.iter().map(|(n, st)| (n.clone(), st.label_zh())).collect(),
        photos: v.photos.iter().filter(|_| r.purged_at.is_none()).map(|ph| (ph.id, ph.document.label_zh(), flags_zh(&ph.flags))).collect(),
        fee_lines: v.lines.iter().map(|l| (l.kind.label_zh(), l.basis.clone(), yuan(l.amount))).collect(),
        paid: yuan(r.paid),
        timeline: v.timeline.iter().rev().map(|t| (local_time(t.at, TimeStyle::ShortMinute), t.note.clone(), t.by.clone())).collect(),
        reasons: ReturnReason::ALL.iter().map(|x| (x.as_str(), x.label_zh())).collect(),
        estimated_pages: r.estimated_pages.unwrap_or(0),
        no_waybill: r.waybill_no.is_none(),
        flash: q.done.clone().map(|d| match d.as_str() {
            "approved" => "已审核通过，已通知患者。".to_owned(),
            "returned" => "已退回患者补正。".to_owned(),
            "even" => "页数已登记，费用无差额。".to_owned(),
            "refund" => "页数已登记，多收费用已发起原路退款。".to_owned(),
            "extra" => "页数已登记，已通知患者补缴费用。".to_owned(),
            "picked_up" => "取件码正确，已登记领取。".to_owned(),
            "switched" => "已改为自取并通知患者。".to_owned(),
            _ => "已处理。".to_owned(),
        }),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

fn flags_zh(flags: &[String]) -> String {
    flags
        .iter()
        .map(|f| match f.as_str() {
            "blurred" => "可能模糊",
            "screen" => "疑似翻拍屏幕",
            _ => "需留意",
        })
        .collect::<Vec<_>>()
        .join("、")
}

#[derive(Deserialize)]
pub struct PhotoQuery {
    original: Option<String>,
}

/// A photo on the review screen: the original only for the records office.
pub async fn photo(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, id)): Path<(String, i64)>,
    Query(q): Query<PhotoQuery>,
) -> Result<Response, AppError> {
    let bytes = st.app.record_photo_for_clerk(&no, id, q.original.as_deref() == Some("1"), &Actor::staff(p.id, &cid.0)).await?;
    Ok(crate::records::jpeg_response(bytes))
}

fn done(no: &str, what: &str) -> Response {
    Redirect::to(&format!("/staff/records/{no}?done={what}")).into_response()
}

fn failed(no: &str, e: domain::DomainError) -> Result<Response, AppError> {
    if e.code == ErrorCode::NotFound || e.code.http_status() >= 500 {
        return Err(e.into());
    }
    Ok(Redirect::to(&format!("/staff/records/{no}?error={}", e.code.code())).into_response())
}

#[derive(Deserialize)]
pub struct VersionForm {
    version: i32,
    confirmed: Option<String>,
}

pub async fn approve(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<VersionForm>,
) -> Result<Response, AppError> {
    match st.app.approve_record_application(&no, f.version, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Ok(done(&no, "approved")),
        Err(e) => failed(&no, e),
    }
}

/// Returns with reasons: several checkboxes of one name, so the body is read as pairs.
pub async fn return_(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    body: Bytes,
) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_bytes(&body).map_err(|_| AppError(domain::DomainError::new(ErrorCode::BadRequest, "return form")))?;
    let get = |k: &str| pairs.iter().find(|(x, _)| x == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let Ok(version) = get("version").parse::<i32>() else { return failed(&no, domain::DomainError::new(ErrorCode::ValidationFailed, "version")) };
    let reasons: Vec<ReturnReason> = pairs.iter().filter(|(k, _)| k == "reason").filter_map(|(_, v)| ReturnReason::parse(v)).collect();
    match st.app.return_record_application(&no, version, &reasons, &get("note"), &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Ok(done(&no, "returned")),
        Err(e) => failed(&no, e),
    }
}

#[derive(Deserialize)]
pub struct PagesForm {
    version: i32,
    pages: String,
    confirmed: Option<String>,
}

/// The counted pages, confirmed first (the true-up moves money).
pub async fn pages(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<PagesForm>,
) -> Result<Response, AppError> {
    let Ok(pages) = f.pages.trim().parse::<u32>() else { return failed(&no, domain::DomainError::new(ErrorCode::ValidationFailed, "pages")) };
    if pages == 0 || pages > domain::records::MAX_PAGES {
        return failed(&no, domain::DomainError::new(ErrorCode::ValidationFailed, "pages"));
    }
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let conf = Confirmation::new("登记复印页数", format!("/staff/records/{no}/pages"), format!("/staff/records/{no}"), "登记")
            .fact("申请编号", no.clone())
            .fact("每份实际页数", pages.to_string())
            .consequence("系统将按提交时的收费标准重新计费：多收部分自动原路退回，不足部分通知患者补缴。")
            .field("version", f.version.to_string())
            .field("pages", pages.to_string())
            .confirm_label("确认登记页数");
        return Ok(conf.staff_page(&st.hospital_name));
    }
    match st.app.count_record_pages(&no, f.version, pages, &Actor::staff(p.id, &cid.0)).await {
        Ok(TrueUp::Even) => Ok(done(&no, "even")),
        Ok(TrueUp::Refund(_)) => Ok(done(&no, "refund")),
        Ok(TrueUp::Extra(_)) => Ok(done(&no, "extra")),
        Err(e) => failed(&no, e),
    }
}

#[derive(Deserialize)]
pub struct PickupForm {
    code: String,
}

pub async fn pickup(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<PickupForm>,
) -> Result<Response, AppError> {
    match st.app.record_pickup(&no, &f.code, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Ok(done(&no, "picked_up")),
        Err(e) => failed(&no, e),
    }
}

pub async fn switch_to_pickup(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Form(f): Form<VersionForm>,
) -> Result<Response, AppError> {
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let conf = Confirmation::new("改为到病案室自取", format!("/staff/records/{no}/switch"), format!("/staff/records/{no}"), "改为自取")
            .fact("申请编号", no.clone())
            .consequence("系统将生成取件码并通知患者到病案室领取；快递费不退（如需退还请在财务控制台办理）。")
            .field("version", f.version.to_string());
        return Ok(conf.staff_page(&st.hospital_name));
    }
    match st.app.record_switch_to_pickup(&no, f.version, &Actor::staff(p.id, &cid.0)).await {
        Ok(()) => Ok(done(&no, "switched")),
        Err(e) => failed(&no, e),
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_record_fees.html")]
struct FeesPage {
    hospital: String,
    /// (version, per page, certification, postage, effective, note, by)
    tables: Vec<(i32, String, String, String, String, String, String)>,
    today: String,
    flash: bool,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct FeesQuery {
    done: Option<String>,
    error: Option<String>,
}

pub async fn fees(State(st): State<WebState>, Query(q): Query<FeesQuery>) -> Result<Response, AppError> {
    let tables = st.app.record_fee_tables().await?;
    let page = FeesPage {
        hospital: st.hospital_name.clone(),
        tables: tables
            .into_iter()
            .map(|t| {
                let effective = if t.effective_from.timestamp() <= 0 { "启用时".to_owned() } else { local_time(t.effective_from, TimeStyle::ShortMinute) };
                (t.table.version, yuan(t.table.per_page), yuan(t.table.certification), yuan(t.table.postage), effective, t.note, t.created_by)
            })
            .collect(),
        today: st.app.today().to_string(),
        flash: q.done.is_some(),
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct FeeForm {
    per_page: String,
    certification: String,
    postage: String,
    effective_date: String,
    #[serde(default)]
    note: String,
    confirmed: Option<String>,
}

fn fen_of(s: &str) -> Option<Fen> {
    Fen::parse_yuan(s.trim())
}

pub async fn add_fees(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<FeeForm>,
) -> Result<Response, AppError> {
    let back = |code: ErrorCode| Ok(Redirect::to(&format!("/staff/records/fees?error={}", code.code())).into_response());
    let (Some(per_page), Some(certification), Some(postage)) = (fen_of(&f.per_page), fen_of(&f.certification), fen_of(&f.postage)) else {
        return back(ErrorCode::ValidationFailed);
    };
    let Ok(day) = f.effective_date.trim().parse::<chrono::NaiveDate>() else { return back(ErrorCode::ValidationFailed) };
    let effective = if day <= st.app.today() { st.app.now() } else { domain::clock::local_midnight_utc(day) };
    if !crate::confirm::confirmed(f.confirmed.as_deref()) {
        let conf = Confirmation::new("发布新收费标准", "/staff/records/fees", "/staff/records/fees", "发布")
            .fact("复印费（每页）", format!("¥{}", yuan(per_page)))
            .fact("盖章认证费（每份）", format!("¥{}", yuan(certification)))
            .fact("快递费（每单）", format!("¥{}", yuan(postage)))
            .fact("生效日期", day.to_string())
            .consequence("生效后提交的申请按新标准收费；此前提交的申请仍按原标准结算。收费标准一经发布不可修改。")
            .field("per_page", f.per_page.clone())
            .field("certification", f.certification.clone())
            .field("postage", f.postage.clone())
            .field("effective_date", f.effective_date.clone())
            .field("note", f.note.clone());
        return Ok(conf.staff_page(&st.hospital_name));
    }
    match st.app.add_record_fee_table(per_page, certification, postage, effective, &f.note, &Actor::staff(p.id, &cid.0)).await {
        Ok(_) => Ok(Redirect::to("/staff/records/fees?done=1").into_response()),
        Err(e) if e.code.http_status() < 500 => back(e.code),
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize, Default)]
pub struct LedgerQuery {
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    clerk: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    delivery: String,
    #[serde(default)]
    format: String,
}

impl LedgerQuery {
    fn query_string(&self) -> String {
        serde_urlencoded::to_string([
            ("from", &self.from),
            ("to", &self.to),
            ("clerk", &self.clerk),
            ("kind", &self.kind),
            ("channel", &self.channel),
            ("delivery", &self.delivery),
        ])
        .unwrap_or_default()
    }

    fn channel(&self) -> Option<domain::billing::Channel> {
        match self.channel.as_str() {
            "bank" => Some(domain::billing::Channel::SelfPay),
            "insurance" => Some(domain::billing::Channel::Insurance),
            _ => None,
        }
    }
}

/// (time, posting, application, order, kind, channel, delivery, purpose, clerk, amount)
type LedgerRowView = (String, String, String, String, &'static str, &'static str, &'static str, &'static str, String, String);

#[derive(Template, WebTemplate)]
#[template(path = "staff_records_ledger.html")]
struct LedgerPage {
    hospital: String,
    q: LedgerQuery,
    qs: String,
    kinds: Vec<(&'static str, &'static str)>,
    clerks: Vec<(String, String)>,
    rows: Vec<LedgerRowView>,
    collected: String,
    refunded: String,
    net: String,
    by_kind: Vec<(&'static str, String)>,
    by_channel: Vec<(&'static str, String)>,
    by_delivery: Vec<(&'static str, String)>,
    by_clerk: Vec<(String, String)>,
    shown: usize,
    total_rows: usize,
    error: Option<&'static str>,
}

/// The records ledger (REC-5): the screen and its CSV / XLSX exports, which carry the same
/// rows and the same net; every export is audited.
pub async fn ledger(
    State(st): State<WebState>,
    StaffAuth(p): StaffAuth,
    Extension(cid): Extension<CorrelationId>,
    Query(q): Query<LedgerQuery>,
) -> Result<Response, AppError> {
    use crate::billing_console::{Export, day_range, range_error, report_name};
    use app::records::ledger::{RecordsLedgerFilter, channel_label_zh, records_ledger_csv, records_ledger_xlsx};
    use domain::records::LedgerKind;
    let (from, to, bad_dates) = day_range(st.app.today(), &q.from, &q.to);
    let filter = RecordsLedgerFilter {
        from: Some(from),
        to: Some(to),
        clerk: Some(q.clerk.clone()).filter(|c| !c.is_empty()),
        kind: LedgerKind::parse(&q.kind),
        channel: q.channel(),
        delivery: Delivery::parse(&q.delivery),
    };
    let report = match st.app.records_ledger(&filter).await {
        Ok(r) => Some(r),
        Err(e) if e.code == ErrorCode::ValidationFailed => None,
        Err(e) => return Err(e.into()),
    };
    if let Some(r) = report.as_ref().filter(|_| !bad_dates) {
        let export = Export { format: &q.format, kind: "records_ledger", name: report_name("records-ledger", from, to), rows: r.rows.len() };
        if let Some(file) = export.send(&st, &Actor::staff(p.id, &cid.0), || records_ledger_csv(r), || records_ledger_xlsx(r)).await? {
            return Ok(file);
        }
    }
    let error = range_error(bad_dates, report.is_none());
    let r = report.unwrap_or_default();
    const SHOW: usize = 500;
    let rows = r
        .rows
        .iter()
        .take(SHOW)
        .map(|l| {
            (
                local_time(l.at, TimeStyle::Second),
                l.posting.clone(),
                l.application_no.clone(),
                l.order_no.clone(),
                l.kind.label_zh(),
                channel_label_zh(l.channel),
                l.delivery.map(|d| d.label_zh()).unwrap_or(""),
                l.purpose.map(|p| p.label_zh()).unwrap_or(""),
                r.clerk_label(l.clerk.as_deref()),
                yuan(l.amount),
            )
        })
        .collect();
    let page = LedgerPage {
        hospital: st.hospital_name.clone(),
        qs: q.query_string(),
        kinds: LedgerKind::ALL.iter().map(|k| (k.as_str(), k.label_zh())).collect(),
        clerks: r.clerks.clone(),
        rows,
        collected: yuan(Fen(r.collected)),
        refunded: yuan(Fen(r.refunded)),
        net: yuan(Fen(r.net())),
        by_kind: r.by_kind.iter().map(|(k, v)| (k.label_zh(), yuan(Fen(*v)))).collect(),
        by_channel: r.by_channel.iter().map(|(k, v)| (*k, yuan(Fen(*v)))).collect(),
        by_delivery: r.by_delivery.iter().map(|(k, v)| (*k, yuan(Fen(*v)))).collect(),
        by_clerk: r.by_clerk.iter().map(|(k, v)| (k.clone(), yuan(Fen(*v)))).collect(),
        shown: r.rows.len().min(SHOW),
        total_rows: r.rows.len(),
        error,
        q,
    };
    Ok(page.into_response())
}
