//! The LIS/PACS behind the HIS simulator: lab and exam orders created when a bill
//! with tests is paid, each change numbered by a `revision`, pushed to Carebridge as
//! an event (`POST /open/v1/lab-events`, signed like every open-interface call) and
//! answerable to polls (`lab_order_list`, `lab_order_query`). Reports carry real PDF
//! files (typst, the LIS's own form) and JPEG images; the console at `/__sim/lis`
//! samples, reports, withdraws and reissues, and can lose or repeat pushes.
//!
//! The operation and field names are our choice [I] (LIS vendors differ); the
//! connector in `gateways::his` is the only code that depends on them.
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::collections::HashMap;

/// How a report's files come out (set per report from the console or a test).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileMode {
    /// The LIS's PDF (and, for an exam, the image).
    Pdf,
    /// Structured results only: Carebridge renders the PDF itself.
    None,
    /// A "PDF" that is an HTML page.
    BadPdf,
    /// An image far larger than any phone needs.
    LargeImage,
}

pub struct SimReport {
    pub report_no: String,
    pub version: u32,
    pub at: DateTime<Utc>,
    pub items: Vec<[String; 6]>,
    pub findings: String,
    pub conclusion: String,
    pub files: Vec<(String, &'static str, String)>,
}

pub struct SimLabOrder {
    pub order_no: String,
    pub patient_id: String,
    pub recipe_id: String,
    pub item_code: String,
    pub item_name: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub revision: u64,
    pub status: &'static str,
    pub order_time: DateTime<Utc>,
    pub sample_time: Option<DateTime<Utc>>,
    pub rejection: Option<(String, String, DateTime<Utc>, String)>,
    pub report: Option<SimReport>,
}

/// Push faults: the next pushes lost, or each of the next ones sent twice.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct PushFaults {
    #[serde(default)]
    pub drop_next: u32,
    #[serde(default)]
    pub duplicate_next: u32,
}

#[derive(Default)]
pub struct LabState {
    pub orders: Vec<SimLabOrder>,
    pub files: HashMap<String, (&'static str, Vec<u8>)>,
    pub faults: PushFaults,
    /// Events waiting to be pushed (taken by the HTTP layer, which sends them).
    pub pending: Vec<Value>,
    /// The last pushes and Carebridge's answers, for the console.
    pub log: Vec<String>,
    /// A file the next report carries besides its own: (`pdf`/`jpeg`, name, bytes).
    /// Tests send the hostile-file corpus through the report intake this way.
    pub next_file: Option<(&'static str, String, Vec<u8>)>,
    /// The hospital's verification page and key for the form's QR (see `HisSimConfig`).
    pub verify: Option<(String, Vec<u8>)>,
    seq: u64,
}

/// What the LIS knows of a test by its fee code: LIS or PACS, category, specimen,
/// where to go.
pub fn test_profile(item_code: &str) -> Option<(&'static str, &'static str, &'static str, &'static str)> {
    match item_code {
        "250101001" => Some(("LIS", "hematology", "静脉血（EDTA抗凝）", "门诊楼1层检验科采血处（B区）")),
        "250301001" => Some(("LIS", "immunology", "静脉血（血清）", "门诊楼1层检验科采血处（B区）")),
        c if c.starts_with("25") => Some(("LIS", "biochemistry", "静脉血", "门诊楼1层检验科采血处（B区）")),
        c if c.starts_with("21") => Some(("PACS", "imaging", "", "医技楼2层放射科登记台")),
        _ => None,
    }
}

fn results_for(item_code: &str) -> (Vec<[String; 6]>, String, String) {
    let l = |c: &str, n: &str, v: &str, u: &str, r: &str, f: &str| [c, n, v, u, r, f].map(str::to_owned);
    match item_code {
        "250101001" => (
            vec![
                l("WBC", "白细胞计数", "11.2", "10^9/L", "3.5-9.5", "H"),
                l("NEUT%", "中性粒细胞百分比", "78.5", "%", "40-75", "H"),
                l("LYM%", "淋巴细胞百分比", "15.2", "%", "20-50", "L"),
                l("RBC", "红细胞计数", "4.62", "10^12/L", "4.3-5.8", ""),
                l("HGB", "血红蛋白", "138", "g/L", "130-175", ""),
                l("PLT", "血小板计数", "236", "10^9/L", "125-350", ""),
            ],
            String::new(),
            "白细胞及中性粒细胞比例升高，提示细菌感染可能，请结合临床。".into(),
        ),
        "250301001" => (vec![l("CRP", "C反应蛋白", "18.6", "mg/L", "0-10", "H")], String::new(), "C反应蛋白升高。".into()),
        c if c.starts_with("21") => {
            (vec![], "双肺纹理清晰，未见明显实质性病变。心影大小、形态正常。双侧膈面光整，肋膈角锐利。".into(), "心肺膈未见明显异常。".into())
        }
        _ => (vec![l("GLU", "葡萄糖", "5.1", "mmol/L", "3.9-6.1", "")], String::new(), "未见异常。".into()),
    }
}

/// Who the report is printed for: name, sex, age.
pub type PatientBrief = (String, String, String);

impl LabState {
    fn next(&mut self, prefix: &str, now: DateTime<Utc>) -> String {
        self.seq += 1;
        format!("{prefix}{}{:05}", domain::clock::to_local(now).format("%Y%m%d"), self.seq)
    }

    /// A bill was paid: one order per test on it.
    pub fn on_paid(&mut self, patient_id: &str, recipe_id: &str, items: &[(String, String)], dept_name: &str, doctor_name: &str, now: DateTime<Utc>) {
        for (code, name) in items {
            if test_profile(code).is_none() || self.orders.iter().any(|o| o.recipe_id == recipe_id && &o.item_code == code) {
                continue;
            }
            let order_no = self.next("LO", now);
            self.orders.push(SimLabOrder {
                order_no,
                patient_id: patient_id.into(),
                recipe_id: recipe_id.into(),
                item_code: code.clone(),
                item_name: name.clone(),
                dept_name: dept_name.into(),
                doctor_name: doctor_name.into(),
                revision: 1,
                status: "ordered",
                order_time: now,
                sample_time: None,
                rejection: None,
                report: None,
            });
            let i = self.orders.len() - 1;
            self.announce(i);
        }
    }

    fn announce(&mut self, i: usize) {
        let o = &self.orders[i];
        self.pending.push(json!({"orderNo": o.order_no, "patientId": o.patient_id, "revision": o.revision, "status": o.status}));
    }

    fn find(&self, order_no: &str) -> Option<usize> {
        self.orders.iter().position(|o| o.order_no == order_no)
    }

    pub fn order_json(&self, i: usize) -> Value {
        let o = &self.orders[i];
        let (kind, category, specimen, place) = test_profile(&o.item_code).unwrap_or(("LIS", "biochemistry", "", ""));
        json!({
            "orderNo": o.order_no, "patientId": o.patient_id, "recipeId": o.recipe_id, "itemCode": o.item_code, "itemName": o.item_name,
            "orderType": kind, "category": category, "deptName": o.dept_name, "doctorName": o.doctor_name, "place": place,
            "specimen": specimen, "barcode": if kind == "LIS" { format!("B{}", &o.order_no[2..]) } else { String::new() },
            "revision": o.revision, "status": o.status, "orderTime": o.order_time.to_rfc3339(),
            "sampleTime": o.sample_time.map(|t| t.to_rfc3339()),
            "rejection": o.rejection.as_ref().map(|(reason, instruction, at, by)| json!({"reason": reason, "instruction": instruction, "rejectTime": at.to_rfc3339(), "operator": by})),
            "report": o.report.as_ref().map(|r| json!({
                "reportNo": r.report_no, "reportVersion": r.version, "reportTime": r.at.to_rfc3339(),
                "tester": "李晓燕", "reviewer": "孙丽华",
                "items": r.items.iter().map(|x| json!({"code": x[0], "name": x[1], "value": x[2], "unit": x[3], "range": x[4], "flag": x[5]})).collect::<Vec<_>>(),
                "findings": r.findings, "conclusion": r.conclusion,
                "files": r.files.iter().map(|(id, t, name)| json!({"fileId": id, "fileType": t, "fileName": name})).collect::<Vec<_>>(),
            })),
        })
    }

    pub fn list(&self, patient_id: &str) -> Value {
        Value::Array((0..self.orders.len()).filter(|i| self.orders[*i].patient_id == patient_id).map(|i| self.order_json(i)).collect())
    }

    pub fn query(&self, order_no: &str) -> Option<Value> {
        self.find(order_no).map(|i| self.order_json(i))
    }

    fn bump(&mut self, i: usize) {
        self.orders[i].revision += 1;
        self.announce(i);
    }

    /// 采样 (or 检查完成 for an exam); also the resample after a rejection.
    pub fn sample(&mut self, order_no: &str, now: DateTime<Utc>) -> Result<(), String> {
        let i = self.find(order_no).ok_or("申请单不存在")?;
        if !matches!(self.orders[i].status, "ordered" | "rejected") {
            return Err(format!("当前状态 {} 不能采样", self.orders[i].status));
        }
        let o = &mut self.orders[i];
        o.status = "sampled";
        o.sample_time = Some(now);
        self.bump(i);
        Ok(())
    }

    /// The specimen rejected; a second rejection changes nothing.
    pub fn reject(&mut self, order_no: &str, reason: &str, instruction: &str, by: &str, now: DateTime<Utc>) -> Result<usize, (&'static str, String)> {
        let i = self.find(order_no).ok_or(("2020", "申请单不存在".to_owned()))?;
        match self.orders[i].status {
            "rejected" => return Ok(i),
            "sampled" => {}
            s => return Err(("2021", format!("当前状态 {s} 不能标记标本异常"))),
        }
        if reason.trim().is_empty() {
            return Err(("1001", "缺少参数 reason".into()));
        }
        let o = &mut self.orders[i];
        o.status = "rejected";
        o.rejection = Some((reason.into(), instruction.into(), now, by.into()));
        self.bump(i);
        Ok(i)
    }

    /// The signed report (a first one, or the reissue after a withdrawal).
    pub fn report(&mut self, order_no: &str, mode: FileMode, patient: PatientBrief, now: DateTime<Utc>) -> Result<(), String> {
        let i = self.find(order_no).ok_or("申请单不存在")?;
        if !matches!(self.orders[i].status, "sampled" | "withdrawn") {
            return Err(format!("当前状态 {} 不能出报告", self.orders[i].status));
        }
        let (items, findings, conclusion) = results_for(&self.orders[i].item_code);
        let (report_no, version) = match &self.orders[i].report {
            Some(r) => (r.report_no.clone(), r.version + 1),
            None => (self.next("RP", now), 1),
        };
        let is_exam = test_profile(&self.orders[i].item_code).is_some_and(|p| p.0 == "PACS");
        let mut files = Vec::new();
        let pdf_id = format!("F{report_no}V{version}P");
        match mode {
            FileMode::Pdf => {
                let doc = self.pdf_doc(i, &report_no, &items, &findings, &conclusion, patient, now);
                let pdf = render::render_report_pdf(&doc).map_err(|e| e.to_string())?;
                self.files.insert(pdf_id.clone(), ("application/pdf", pdf));
                files.push((pdf_id, "pdf", format!("{}报告.pdf", self.orders[i].item_name)));
            }
            FileMode::BadPdf => {
                self.files.insert(pdf_id.clone(), ("application/pdf", b"<html><body><script>alert('x')</script>report</body></html>".to_vec()));
                files.push((pdf_id, "pdf", "报告.pdf".into()));
            }
            FileMode::None | FileMode::LargeImage => {}
        }
        if let Some((kind, name, bytes)) = self.next_file.take() {
            let id = format!("F{report_no}V{version}X");
            self.files.insert(id.clone(), (if kind == "pdf" { "application/pdf" } else { "image/jpeg" }, bytes));
            files.push((id, kind, name));
        }
        if is_exam || mode == FileMode::LargeImage {
            let img_id = format!("F{report_no}V{version}I");
            let jpeg = if mode == FileMode::LargeImage {
                render::synthetic_radiograph_jpeg(version.into(), 5200, 5200)
            } else {
                render::synthetic_radiograph_jpeg(version.into(), 900, 1100)
            };
            self.files.insert(img_id.clone(), ("image/jpeg", jpeg));
            files.push((img_id, "jpeg", "影像图片.jpg".into()));
        }
        let o = &mut self.orders[i];
        o.status = "reported";
        o.report = Some(SimReport { report_no, version, at: now, items, findings, conclusion, files });
        self.bump(i);
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn pdf_doc(
        &self,
        i: usize,
        report_no: &str,
        items: &[[String; 6]],
        findings: &str,
        conclusion: &str,
        patient: PatientBrief,
        now: DateTime<Utc>,
    ) -> render::ReportDoc {
        let o = &self.orders[i];
        let (kind, _, specimen, _) = test_profile(&o.item_code).unwrap_or(("LIS", "", "", ""));
        let (verify_code, verify_url) = self.verify_link(report_no);
        let t = |x: Option<DateTime<Utc>>| x.map(|x| domain::clock::to_local(x).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
        render::ReportDoc {
            hospital: "深圳市示范人民医院".into(),
            title: if kind == "PACS" { "医学影像检查报告单" } else { "检验报告单" }.into(),
            report_no: report_no.into(),
            item_name: o.item_name.clone(),
            patient_name: patient.0,
            sex: patient.1,
            age: patient.2,
            patient_id: o.patient_id.clone(),
            dept: o.dept_name.clone(),
            doctor: o.doctor_name.clone(),
            specimen: if specimen.is_empty() { "胸部".into() } else { specimen.into() },
            sampled_at: t(o.sample_time),
            received_at: t(o.sample_time.map(|s| s + chrono::Duration::minutes(12))),
            reported_at: t(Some(now)),
            items: items
                .iter()
                .map(|x| render::ResultLine {
                    code: x[0].clone(),
                    name: x[1].clone(),
                    value: x[2].clone(),
                    unit: x[3].clone(),
                    range: x[4].clone(),
                    flag: arrow(&x[5]).into(),
                })
                .collect(),
            findings: findings.into(),
            conclusion_label: if kind == "PACS" { "诊断意见" } else { "检验结论" }.into(),
            conclusion: conclusion.into(),
            tester: "李晓燕".into(),
            reviewer: "孙丽华".into(),
            reviewed_at: t(Some(now)),
            note: "本报告仅对所检标本负责。（LIS 打印件）".into(),
            footer: format!("深圳市示范人民医院 {}", if kind == "PACS" { "放射科" } else { "检验科" }),
            verify_code,
            verify_url,
            labels: render::FormLabels::default(),
        }
    }

    /// The code printed under the form's QR and the address the QR holds: the hospital's
    /// verification page when the LIS was given it, else the bare report number.
    pub fn verify_link(&self, report_no: &str) -> (String, String) {
        match &self.verify {
            Some((base, key)) => {
                let code = crypto::mac::keyed_code(key, report_no);
                (code.clone(), format!("{base}{code}"))
            }
            None => (report_no.to_owned(), format!("LIS:{report_no}")),
        }
    }

    /// 报告撤回 (for correction).
    pub fn withdraw(&mut self, order_no: &str) -> Result<(), String> {
        let i = self.find(order_no).ok_or("申请单不存在")?;
        if self.orders[i].status != "reported" {
            return Err("只有已出的报告可以撤回".into());
        }
        self.orders[i].status = "withdrawn";
        self.bump(i);
        Ok(())
    }

    pub fn file(&self, file_id: &str) -> Option<&(&'static str, Vec<u8>)> {
        self.files.get(file_id)
    }

    /// The events to push now, after the faults: lost ones dropped, repeated ones
    /// doubled.
    pub fn take_pushes(&mut self) -> Vec<Value> {
        let mut out = Vec::new();
        for e in std::mem::take(&mut self.pending) {
            if self.faults.drop_next > 0 {
                self.faults.drop_next -= 1;
                self.log.push(format!("（模拟丢失）{e}"));
                continue;
            }
            if self.faults.duplicate_next > 0 {
                self.faults.duplicate_next -= 1;
                out.push(e.clone());
            }
            out.push(e);
        }
        out
    }
}

fn arrow(flag: &str) -> &'static str {
    match flag {
        "H" | "HH" => "↑",
        "L" | "LL" => "↓",
        _ => "",
    }
}

// --- HTTP: file downloads, event pushes, the console ------------------------------------

use crate::his::SharedHis;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use gateways::messages::open_api::OpenApiClient;

/// Sends whatever the LIS has to push, in the background (the LIS never waits for
/// Carebridge).
pub fn push_pending(st: &SharedHis) {
    let (events, target, now) = {
        let mut g = st.lock().expect("his lock");
        let events = g.lab.take_pushes();
        (events, g.push_target(), g.now())
    };
    if events.is_empty() {
        return;
    }
    let Some((base, key, secret)) = target else { return };
    let st = st.clone();
    tokio::spawn(async move {
        let client = OpenApiClient::new(&base, &key, &secret, std::time::Duration::from_secs(10));
        for e in events {
            let answer = match client.request(reqwest::Method::POST, "/open/v1/lab-events", Some(&e), now.timestamp()).send().await {
                Ok(r) => format!("{} {}", r.status().as_u16(), r.text().await.unwrap_or_default()),
                Err(err) => format!("502 {err}"),
            };
            let mut g = st.lock().expect("his lock");
            g.lab.log.push(format!("{e} → {answer}"));
            let excess = g.lab.log.len().saturating_sub(50);
            g.lab.log.drain(..excess);
        }
    });
}

/// `GET /his/api/v1/files/{id}`: the file, if the request is signed with the channel
/// key over `GET <path>`.
async fn file(State(st): State<SharedHis>, Path(file_id): Path<String>, headers: HeaderMap) -> Response {
    let key = crate::his::channel_key(&st);
    let given = headers.get("x-his-sign").and_then(|v| v.to_str().ok()).unwrap_or("");
    let want = crate::his::sign(&key, format!("GET /his/api/v1/files/{file_id}").as_bytes());
    if !crypto::constant_time_eq(given.as_bytes(), want.as_bytes()) {
        return (StatusCode::UNAUTHORIZED, "signature").into_response();
    }
    let g = st.lock().expect("his lock");
    match g.lab.file(&file_id) {
        Some((ct, bytes)) => ([(header::CONTENT_TYPE, *ct)], bytes.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

#[derive(serde::Deserialize)]
struct ActionQuery {
    #[serde(default)]
    files: Option<FileMode>,
}

#[derive(serde::Deserialize)]
struct NewOrder {
    patient_id: String,
    item_code: String,
}

/// Carries out a console action on an order: sample, report, withdraw.
fn act(st: &SharedHis, order_no: &str, action: &str, mode: FileMode) -> Result<(), String> {
    let mut g = st.lock().expect("his lock");
    let now = g.now();
    let pid = g.lab.orders.iter().find(|o| o.order_no == order_no).map(|o| o.patient_id.clone()).ok_or("申请单不存在")?;
    let r = match action {
        "sample" => g.lab.sample(order_no, now),
        "report" => {
            let brief = g.patient_brief(&pid);
            g.lab.report(order_no, mode, brief, now)
        }
        "withdraw" => g.lab.withdraw(order_no),
        "reject" => g.lab.reject(order_no, "标本溶血", "请于今天到门诊楼1层检验科B区3号窗口重新采血，无需再次缴费。", "LIS", now).map(|_| ()).map_err(|e| e.1),
        _ => Err("未知操作".into()),
    };
    drop(g);
    push_pending(st);
    r
}

async fn act_json(State(st): State<SharedHis>, Path((order_no, action)): Path<(String, String)>, Query(q): Query<ActionQuery>) -> Response {
    match act(&st, &order_no, &action, q.files.unwrap_or(FileMode::Pdf)) {
        Ok(()) => {
            let g = st.lock().expect("his lock");
            Json(g.lab.query(&order_no)).into_response()
        }
        Err(e) => (StatusCode::CONFLICT, Json(json!({"error": e}))).into_response(),
    }
}

/// A doctor's test order paid at the window: a new LIS order for a patient.
async fn new_order(State(st): State<SharedHis>, Json(n): Json<NewOrder>) -> Response {
    let mut g = st.lock().expect("his lock");
    let now = g.now();
    if !g.has_patient(&n.patient_id) {
        return (StatusCode::NOT_FOUND, Json(json!({"error": "患者不存在"}))).into_response();
    }
    let Some(item) = crate::demo::fee_catalogue().into_iter().find(|i| i.item_code == n.item_code && test_profile(&i.item_code).is_some()) else {
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({"error": "不是检验检查项目"}))).into_response();
    };
    let recipe = format!("RXW{}", g.bump());
    g.lab.on_paid(&n.patient_id, &recipe, &[(item.item_code, item.name)], "内科", "王医生", now);
    let order = g.lab.orders.last().map(|o| o.order_no.clone()).unwrap_or_default();
    drop(g);
    push_pending(&st);
    let g = st.lock().expect("his lock");
    Json(g.lab.query(&order)).into_response()
}

async fn set_push_faults(State(st): State<SharedHis>, Json(f): Json<PushFaults>) -> StatusCode {
    st.lock().expect("his lock").lab.faults = f;
    StatusCode::NO_CONTENT
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

const STATUS_ZH: &[(&str, &str)] = &[("ordered", "待采样"), ("sampled", "已采样"), ("reported", "已出报告"), ("rejected", "标本异常"), ("withdrawn", "已撤回")];

fn console_page(st: &SharedHis, note: Option<String>) -> Html<String> {
    let g = st.lock().expect("his lock");
    let names: HashMap<String, String> = g.patient_list().into_iter().collect();
    let mut rows = String::new();
    for o in g.lab.orders.iter().rev() {
        let status = STATUS_ZH.iter().find(|(k, _)| *k == o.status).map(|x| x.1).unwrap_or(o.status);
        let button = |action: &str, label: &str, files: &str| {
            format!(
                "<form method='post' action='/__sim/lis/console'><input type='hidden' name='order_no' value='{}'><input type='hidden' name='action' value='{action}'><input type='hidden' name='files' value='{files}'><button data-action='{action}-{files}'>{label}</button></form>",
                escape(&o.order_no)
            )
        };
        let actions = match o.status {
            "ordered" | "rejected" => button("sample", "采样/检查完成", "pdf"),
            "sampled" => [
                button("report", "出报告（PDF）", "pdf"),
                button("report", "出报告（仅结构化）", "none"),
                button("report", "出报告（损坏的PDF）", "bad_pdf"),
                button("report", "出报告（超大图片）", "large_image"),
            ]
            .concat(),
            "reported" => button("withdraw", "撤回报告", "pdf"),
            "withdrawn" => button("report", "重新出具", "pdf"),
            _ => String::new(),
        };
        rows.push_str(&format!(
            "<tr data-order='{}'><td>{}</td><td>{} （{}）</td><td>{}</td><td>r{}</td><td>{}</td><td class='a'>{}</td></tr>",
            escape(&o.order_no),
            escape(&o.order_no),
            escape(names.get(&o.patient_id).map(String::as_str).unwrap_or("")),
            escape(&o.patient_id),
            escape(&o.item_name),
            o.revision,
            status,
            actions
        ));
    }
    let log: String = g.lab.log.iter().rev().take(12).map(|l| format!("<li>{}</li>", escape(l))).collect();
    let patients: String = g.patient_list().iter().map(|(id, n)| format!("<option value='{}'>{} （{}）</option>", escape(id), escape(n), escape(id))).collect();
    let tests: String = crate::demo::fee_catalogue()
        .iter()
        .filter(|i| test_profile(&i.item_code).is_some())
        .map(|i| format!("<option value='{}'>{}</option>", i.item_code, escape(&i.name)))
        .collect();
    let note = note.map(|n| format!("<p class='note'>{}</p>", escape(&n))).unwrap_or_default();
    Html(format!(
        "<!doctype html><html lang='zh-CN'><head><meta charset='utf-8'><meta name='viewport' content='width=device-width,initial-scale=1'><title>LIS/PACS 模拟器</title>\
<style>body{{font-family:sans-serif;margin:16px}}table{{border-collapse:collapse;width:100%}}td,th{{border-bottom:1px solid #ddd;padding:6px;text-align:left;font-size:14px}}td.a form{{display:inline}}button{{margin:2px}}.note{{background:#fff3cd;padding:8px}}</style></head><body>\
<h1>LIS/PACS 模拟器</h1><p>缴费后的检验检查申请在此流转；每次变化都推送到智慧服务平台（<code>/open/v1/lab-events</code>），平台也会定时查询。</p>{note}\
<form method='post' action='/__sim/lis/console/new'>新开单（窗口缴费）：<select name='patient_id' id='patient'>{patients}</select> <select name='item_code' id='item'>{tests}</select> <button id='new-order'>开单</button></form>\
<form method='post' action='/__sim/lis/console/faults'>推送故障：丢失接下来 <input name='drop_next' size='2' value='0'> 条，重复接下来 <input name='duplicate_next' size='2' value='0'> 条 <button>设置</button></form>\
<table id='orders'><tr><th>申请单</th><th>患者</th><th>项目</th><th>版本</th><th>状态</th><th>操作</th></tr>{rows}</table><h2>推送记录</h2><ul>{log}</ul></body></html>"
    ))
}

async fn console(State(st): State<SharedHis>) -> Html<String> {
    console_page(&st, None)
}

#[derive(serde::Deserialize)]
struct ConsoleAction {
    order_no: String,
    action: String,
    files: FileMode,
}

async fn console_act(State(st): State<SharedHis>, Form(f): Form<ConsoleAction>) -> Html<String> {
    let note = match act(&st, &f.order_no, &f.action, f.files) {
        Ok(()) => format!("{} 已处理", f.order_no),
        Err(e) => e,
    };
    console_page(&st, Some(note))
}

async fn console_new(State(st): State<SharedHis>, Form(n): Form<NewOrder>) -> Html<String> {
    let r = new_order(State(st.clone()), Json(n)).await;
    let note = if r.status().is_success() { "已开单".to_owned() } else { "开单失败".to_owned() };
    console_page(&st, Some(note))
}

async fn console_faults(State(st): State<SharedHis>, Form(f): Form<PushFaults>) -> Html<String> {
    st.lock().expect("his lock").lab.faults = f;
    console_page(&st, Some("推送故障已设置".into()))
}

pub fn router() -> Router<SharedHis> {
    Router::new()
        .route("/his/api/v1/files/{file_id}", get(file))
        .route("/__sim/lis", get(console))
        .route("/__sim/lis/console", post(console_act))
        .route("/__sim/lis/console/new", post(console_new))
        .route("/__sim/lis/console/faults", post(console_faults))
        .route("/__sim/lis/orders", post(new_order))
        .route("/__sim/lis/push-faults", post(set_push_faults))
        .route("/__sim/lis/orders/{order_no}/{action}", post(act_json))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forms_qr_leads_to_the_hospitals_verification_page() {
        let mut lab = LabState::default();
        assert_eq!(lab.verify_link("R1").1, "LIS:R1", "without the hospital's page, a bare number");
        lab.verify = Some(("https://h.example/verify/report/".into(), b"key".to_vec()));
        let (code, url) = lab.verify_link("R1");
        assert_eq!(code, crypto::mac::keyed_code(b"key", "R1"));
        assert!(code.starts_with("R1-") && code.len() == "R1-".len() + 12);
        assert_eq!(url, format!("https://h.example/verify/report/{code}"));
    }
}
