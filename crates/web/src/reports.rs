//! Reports (RPT-1/2) on the web: the patient's list with each order's state and what
//! to do next, a report with its results and its paper form page by page, the file
//! itself (saved to the phone in one tap), the public verification page behind the
//! QR code, the lab console, and the LIS's event endpoint.
use crate::WebState;
use crate::auth::{PatientAuth, ReadingPatientAuth};
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::reports::{ReportDetail, ReportItem};
use askama::Template;
use askama_web::WebTemplate;
use axum::body::Bytes;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use domain::ErrorCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

fn local(t: chrono::DateTime<chrono::Utc>) -> String {
    domain::format::local_time(t, domain::format::TimeStyle::Minute)
}

pub(crate) fn plain(no: &str) -> bool {
    !no.is_empty() && no.len() <= 64 && no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// One result line.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ResultDto {
    pub name: String,
    pub value: String,
    pub unit: String,
    pub range: String,
    /// "H", "L", "" …
    pub flag: String,
    pub arrow: String,
}

/// A report file: the whole file and, for a PDF, its pages as images.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct FileDto {
    pub file_no: String,
    /// pdf or jpeg
    pub kind: String,
    pub name: String,
    pub pages: i32,
    /// Saves the file (Content-Disposition: attachment).
    pub download_url: String,
    /// Page images (PDF) or the image itself (JPEG), to show on the page.
    pub view_urls: Vec<String>,
    /// Rendered by Carebridge from the structured results.
    pub generated: bool,
}

/// A lab test or exam as the patient sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct ReportDto {
    pub order_no: String,
    pub item_name: String,
    /// lab or exam
    pub kind: String,
    pub patient_name_masked: String,
    /// pending (待检测), in_progress (检测中), completed (已完成), abnormal (异常)
    pub state: String,
    pub state_label: String,
    /// What to do next, in Chinese.
    pub guidance: String,
    pub expected_at: Option<String>,
    pub ordered_at: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub report_no: Option<String>,
    pub reported_at: Option<String>,
    pub reviewer: Option<String>,
    /// Only once the report may be seen.
    pub results: Vec<ResultDto>,
    pub findings: String,
    pub conclusion: String,
    pub files: Vec<FileDto>,
}

impl ReportDto {
    fn of(item: &ReportItem, files: &[app::reports::ReportFileView]) -> Self {
        let s = &item.snapshot;
        let visible = item.view.report_visible;
        let report = s.report.as_ref().filter(|_| visible);
        let files = files
            .iter()
            .map(|f| {
                let base = format!("/reports/{}/files/{}", s.order_no, f.file_no);
                let view_urls = if f.kind == "pdf" { (1..=f.pages).map(|n| format!("{base}/pages/{n}")).collect() } else { vec![format!("{base}?inline=1")] };
                FileDto {
                    file_no: f.file_no.clone(),
                    kind: f.kind.clone(),
                    name: f.name.clone(),
                    pages: f.pages,
                    download_url: base,
                    view_urls,
                    generated: f.generated,
                }
            })
            .collect();
        Self {
            order_no: s.order_no.clone(),
            item_name: s.item_name.clone(),
            kind: s.kind.as_str().into(),
            patient_name_masked: item.patient_name_masked.clone(),
            state: item.view.state.as_str().into(),
            state_label: item.view.state.label_zh().into(),
            guidance: item.view.guidance.clone(),
            expected_at: item.view.expected_at.map(local),
            ordered_at: local(s.ordered_at),
            dept_name: s.dept_name.clone(),
            doctor_name: s.doctor_name.clone(),
            report_no: report.map(|r| r.report_no.clone()),
            reported_at: report.map(|r| local(r.reported_at)),
            reviewer: report.map(|r| r.reviewer.clone()),
            results: report
                .map(|r| {
                    r.items
                        .iter()
                        .map(|i| ResultDto {
                            name: i.name.clone(),
                            value: i.value.clone(),
                            unit: i.unit.clone(),
                            range: i.range.clone(),
                            flag: i.flag.clone(),
                            arrow: i.arrow().into(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            findings: report.map(|r| r.findings.clone()).unwrap_or_default(),
            conclusion: report.map(|r| r.conclusion.clone()).unwrap_or_default(),
            files,
        }
    }
    fn detail(d: &ReportDetail) -> Self {
        Self::of(&d.item, &d.files)
    }
    pub fn tag_class(&self) -> &'static str {
        match self.state.as_str() {
            "completed" => "",
            "abnormal" => "red",
            _ => "gray",
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "reports.html")]
struct ListPage {
    hospital: String,
    big_text: bool,
    back: String,
    rows: Vec<ReportDto>,
    has_patients: bool,
}

pub async fn list(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let items = st.app.patient_reports(auth.account_id, true).await?;
    let has_patients = !st.app.list_patients(auth.account_id).await?.is_empty();
    Ok(ListPage { hospital: c.hospital, big_text: c.big_text, back: c.back, rows: items.iter().map(|i| ReportDto::of(i, &[])).collect(), has_patients }
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "report.html")]
struct DetailPage {
    hospital: String,
    big_text: bool,
    back: String,
    r: ReportDto,
}

pub async fn detail(
    State(st): State<WebState>,
    headers: HeaderMap,
    ReadingPatientAuth(auth): ReadingPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    let r = open_report(&st, &auth, &cid, &no).await?;
    let c = Chrome::new(&st, &headers, "/reports");
    Ok(DetailPage { hospital: c.hospital, big_text: c.big_text, back: c.back, r }.into_response())
}

/// One of the account's reports, opened (audited once visible).
async fn open_report(st: &WebState, auth: &PatientAuth, cid: &CorrelationId, no: &str) -> Result<ReportDto, AppError> {
    if !plain(no) {
        return Err(ErrorCode::ReportNotFound.into());
    }
    let d = st.app.patient_report(auth.account_id, no, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    Ok(ReportDto::detail(&d))
}

#[derive(Deserialize)]
pub struct FileQuery {
    inline: Option<String>,
}

/// Builds the answer for a report file: never sniffed, never cached by shared caches,
/// saved under a readable name.
pub(crate) fn file_response(bytes: Vec<u8>, content_type: &'static str, filename: &str, inline: bool) -> Response {
    let encoded: String =
        filename.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
    let disposition = format!(
        "{}; filename=\"file.{}\"; filename*=UTF-8''{encoded}",
        if inline { "inline" } else { "attachment" },
        filename.rsplit('.').next().unwrap_or("bin")
    );
    let mut r = (StatusCode::OK, bytes).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).unwrap_or(HeaderValue::from_static("attachment")));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("private, no-store"));
    r
}

/// A report file for its patient or guardian: the whole file, or one page image.
async fn serve_file(
    st: &WebState,
    auth: &PatientAuth,
    cid: &CorrelationId,
    no: &str,
    file_no: &str,
    page: Option<u32>,
    inline: bool,
) -> Result<Response, AppError> {
    if !plain(no) || !plain(file_no) {
        return Err(ErrorCode::ReportNotFound.into());
    }
    let (bytes, ct, name) = st.app.patient_report_file(auth.account_id, no, file_no, page, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    // Only images are ever shown inline; a PDF is always a download.
    Ok(file_response(bytes, ct, &name, inline && ct.starts_with("image/")))
}

pub async fn file(
    State(st): State<WebState>,
    ReadingPatientAuth(auth): ReadingPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, file_no)): Path<(String, String)>,
    Query(q): Query<FileQuery>,
) -> Result<Response, AppError> {
    serve_file(&st, &auth, &cid, &no, &file_no, None, q.inline.is_some()).await
}

pub async fn page(
    State(st): State<WebState>,
    ReadingPatientAuth(auth): ReadingPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((no, file_no, n)): Path<(String, String, u32)>,
) -> Result<Response, AppError> {
    serve_file(&st, &auth, &cid, &no, &file_no, Some(n), true).await
}

/// The signed-in account's reports (all its 就诊人), each with its state and guidance.
#[utoipa::path(get, path = "/api/v1/me/reports", tag = "reports", responses((status = 200, body = Vec<ReportDto>), (status = 401)))]
pub async fn api_list(State(st): State<WebState>, auth: PatientAuth) -> Result<Response, AppError> {
    let items = st.app.patient_reports(auth.account_id, true).await?;
    Ok(axum::Json(items.iter().map(|i| ReportDto::of(i, &[])).collect::<Vec<_>>()).into_response())
}

/// One report: results and files once released (every view is audited).
#[utoipa::path(get, path = "/api/v1/me/reports/{order_no}", tag = "reports", params(("order_no" = String, Path)), responses((status = 200, body = ReportDto), (status = 404)))]
pub async fn api_get(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    Ok(axum::Json(open_report(&st, &auth, &cid, &no).await?).into_response())
}

// --- verification (public) -----------------------------------------------------------

#[derive(Template, WebTemplate)]
#[template(path = "report_verify.html")]
struct VerifyPage {
    hospital: String,
    big_text: bool,
    back: String,
    v: Option<app::reports::Verification>,
    reported_at: String,
}

pub async fn verify(State(st): State<WebState>, headers: HeaderMap, Path(code): Path<String>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let v = if code.len() <= 96 && plain(&code) { st.app.verify_report(&code).await? } else { None };
    let reported_at = v.as_ref().map(|v| local(v.reported_at)).unwrap_or_default();
    let status = if v.is_some() { StatusCode::OK } else { StatusCode::NOT_FOUND };
    Ok((status, VerifyPage { hospital: c.hospital, big_text: c.big_text, back: c.back, v, reported_at }).into_response())
}

// --- the LIS's events (open interface) -------------------------------------------------

/// An LIS/PACS event: an order changed. Only a hint: Carebridge asks the LIS for the
/// order, so a lost, repeated or late event never leaves a wrong state.
#[derive(Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LabEventDto {
    pub order_no: String,
    pub patient_id: String,
    /// The LIS's revision of the order after the change.
    pub revision: u64,
    /// ordered, sampled, reported, rejected, withdrawn
    pub status: String,
}

#[derive(Serialize, ToSchema)]
pub struct LabEventAnswerDto {
    /// queued (the order will be fetched), stale (we hold this revision or newer),
    /// applied (fetched and applied at once).
    pub outcome: String,
}

/// Receives an LIS/PACS event. Signed like every open-interface call.
#[utoipa::path(post, path = "/open/v1/lab-events", tag = "open", request_body = LabEventDto,
    responses((status = 202, body = LabEventAnswerDto), (status = 401, body = crate::open_api::OpenErrorBody), (status = 404, body = crate::open_api::OpenErrorBody), (status = 422, body = crate::open_api::OpenErrorBody)))]
pub async fn lab_event(State(st): State<WebState>, Extension(cid): Extension<CorrelationId>, method: Method, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = crate::open_api::json_body(&headers) {
        return crate::open_api::refuse(e, Some("Content-Type: application/json".into()), &cid.0);
    }
    let key_id = match crate::open_api::authenticate(&st, &headers, &method, "/open/v1/lab-events", &body).await {
        Ok(k) => k,
        Err(e) => return crate::open_api::refuse(e, None, &cid.0),
    };
    let dto: LabEventDto = match serde_json::from_slice(&body) {
        Ok(d) => d,
        Err(e) => return crate::open_api::refuse(ErrorCode::BadRequest.into(), Some(format!("body: {e}")), &cid.0),
    };
    match st.app.accept_lab_event(&key_id, &dto.order_no, dto.revision, &dto.status).await {
        Ok(outcome) => (StatusCode::ACCEPTED, axum::Json(LabEventAnswerDto { outcome: outcome.into() })).into_response(),
        Err(e) => {
            let hint = match e.code {
                ErrorCode::LabOrderUnknown => Some("orderNo: neither Carebridge nor the LIS query knows this order".to_owned()),
                ErrorCode::ValidationFailed => {
                    Some(format!("{}: orderNo 1-64 of A-Z a-z 0-9 - _, revision > 0, status one of ordered/sampled/reported/rejected/withdrawn", e.detail))
                }
                _ => None,
            };
            crate::open_api::refuse(e, hint, &cid.0)
        }
    }
}
