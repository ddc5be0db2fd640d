//! The medical e-invoice platform (博思 医疗收费电子票据) as the hospital's connector sees
//! it: `POST /medical-web/api/medical/{method}` with the signed Base64 envelope of
//! `gateways::einvoice` (protocols-wave2 §2). It issues bills idempotently per `busNo`,
//! refuses what does not add up (Σ pay channels and Σ charge lines must equal
//! `totalAmt`), reverses (冲红) with a red-letter bill, answers state and business-number
//! lookups, and serves each bill's PDF and the page its verification QR opens
//! (`/medical-web/check`, standing in for the province's 票据查验 site).
//!
//! Faults (`POST /__sim/einvoice/faults`): refuse the next issues or reversals with a code and text,
//! carry out the next issues or reversals but lose their answers (504), or be down. The bills issued
//! are listed at `GET /__sim/einvoice/bills`.
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::{Clock, Fen};
use gateways::einvoice::{self as proto, Methods, parse_amount};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct EInvoiceSimConfig {
    pub appid: String,
    pub key: String,
    pub methods: Methods,
}

impl Default for EInvoiceSimConfig {
    fn default() -> Self {
        Self { appid: "SZSMYY0001".into(), key: "demo-einvoice-key".into(), methods: Methods::default() }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct EInvoiceFaults {
    /// `"hang"` (wait `hang_ms`, then 504) or anything else (503).
    #[serde(default)]
    pub down: Option<String>,
    #[serde(default)]
    pub hang_ms: u64,
    /// The next issue or reversal calls are refused with these `(code, text)`.
    #[serde(default)]
    pub refuse_next: Vec<(String, String)>,
    /// The next this many issue or reversal calls are carried out, then answered 504 (a
    /// lost answer; for a lookup, losing the answer is no different from being down).
    #[serde(default)]
    pub lose_answers: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimBill {
    pub method: String,
    pub bus_no: String,
    pub batch_code: String,
    pub bill_no: String,
    pub random: String,
    pub created: String,
    pub total: Fen,
    pub payer: String,
    pub params: Value,
    /// The red-letter bill that reversed it.
    pub scarlet: Option<(String, String)>,
}

pub struct EInvoiceState {
    cfg: EInvoiceSimConfig,
    clock: Arc<dyn Clock>,
    base_url: String,
    pub bills: Vec<SimBill>,
    next_no: u64,
    pub faults: EInvoiceFaults,
    /// Issue calls received (repeats included), for tests of idempotency.
    pub issue_calls: u32,
}

pub type SharedEInvoice = Arc<Mutex<EInvoiceState>>;

impl EInvoiceState {
    pub fn new(cfg: EInvoiceSimConfig, clock: Arc<dyn Clock>) -> Self {
        Self { cfg, clock, base_url: String::new(), bills: Vec::new(), next_no: 1, faults: EInvoiceFaults::default(), issue_calls: 0 }
    }

    pub fn set_base_url(&mut self, url: &str) {
        self.base_url = url.trim_end_matches('/').to_owned();
    }

    fn issued_json(&self, b: &SimBill) -> Value {
        let check = format!("{}/medical-web/check?billBatchCode={}&billNo={}&random={}", self.base_url, b.batch_code, b.bill_no, b.random);
        json!({
            "billBatchCode": b.batch_code, "billNo": b.bill_no, "random": b.random, "createTime": b.created,
            "billQRCode": qr_png_base64(&check),
            "pictureUrl": self.picture_url(b), "pictureNetUrl": check,
        })
    }

    fn picture_url(&self, b: &SimBill) -> String {
        format!("{}/medical-web/picture/{}/{}.pdf?random={}", self.base_url, b.batch_code, b.bill_no, b.random)
    }

    /// One business call; `Err((code, text))` is a refusal.
    fn handle(&mut self, method: &str, p: &Value) -> Result<Value, (String, String)> {
        let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let refuse = |code: &str, text: &str| Err((code.to_owned(), text.to_owned()));
        if self.cfg.methods.kind_of(method).is_some() {
            self.issue_calls += 1;
            let bus_no = s("busNo");
            if bus_no.is_empty() || bus_no.len() > 50 {
                return refuse("E1001", "业务流水号不能为空");
            }
            let Some(total) = p.get("totalAmt").and_then(parse_amount).filter(|t| t.0 > 0) else {
                return refuse("E1003", "开票金额不正确");
            };
            if s("busDateTime").len() != 17 || !s("busDateTime").bytes().all(|c| c.is_ascii_digit()) {
                return refuse("E1004", "业务发生时间格式应为yyyyMMddHHmmssSSS");
            }
            let sum = |list: &str, k: &str| -> Option<i64> { p.get(list)?.as_array()?.iter().try_fold(0i64, |acc, x| Some(acc + parse_amount(x.get(k)?)?.0)) };
            if sum("payChannelDetail", "payChannelValue") != Some(total.0) {
                return refuse("E1005", "交费渠道金额合计与开票金额不符");
            }
            if sum("chargeDetail", "amt") != Some(total.0) {
                return refuse("E1006", "收费项目金额合计与开票金额不符");
            }
            if let Some(b) = self.bills.iter().find(|b| b.bus_no == bus_no) {
                // A repeat of the same business is answered with its bill; a different
                // one under a used number is refused.
                return if b.total == total && b.method == method {
                    Ok(self.issued_json(b))
                } else {
                    refuse("E1002", "业务流水号已开票，且金额不一致")
                };
            }
            let now = domain::clock::to_local(self.clock.now());
            let no = self.next_no;
            self.next_no += 1;
            let bill = SimBill {
                method: method.to_owned(),
                bus_no,
                batch_code: format!("4403{}01", now.format("%y")),
                bill_no: format!("{no:010}"),
                random: hex::encode_upper(crypto::random_bytes::<3>()),
                created: now.format("%Y%m%d%H%M%S%3f").to_string(),
                total,
                payer: s("payer"),
                params: p.clone(),
                scarlet: None,
            };
            let answer = self.issued_json(&bill);
            self.bills.push(bill);
            return Ok(answer);
        }
        let find = |st: &Self| st.bills.iter().position(|b| b.batch_code == s("billBatchCode") && b.bill_no == s("billNo"));
        match method {
            "writeOffEBill" => {
                let Some(i) = find(self) else { return refuse("E2001", "票据不存在") };
                if s("reason").is_empty() || s("reason").chars().count() > 200 {
                    return refuse("E2003", "冲红原因不能为空且不超过200字");
                }
                if self.bills[i].scarlet.is_none() {
                    let no = self.next_no;
                    self.next_no += 1;
                    let code = self.bills[i].batch_code.replace("01", "02");
                    self.bills[i].scarlet = Some((code, format!("{no:010}")));
                }
                let (c, n) = self.bills[i].scarlet.clone().expect("set above");
                Ok(
                    json!({"eScarletBillBatchCode": c, "eScarletBillNo": n, "createTime": domain::clock::to_local(self.clock.now()).format("%Y%m%d%H%M%S%3f").to_string()}),
                )
            }
            "getEBillStatesByBillInfo" => {
                let Some(i) = find(self) else { return refuse("E2001", "票据不存在") };
                Ok(json!({"state": "1", "isScarlet": if self.bills[i].scarlet.is_some() { "1" } else { "0" }}))
            }
            "getEBillByBusNo" => match self.bills.iter().find(|b| b.bus_no == s("busNo")) {
                Some(b) => Ok(self.issued_json(b)),
                None => refuse("E2002", "未找到该业务流水号的票据"),
            },
            "getEBillPicUrl" => {
                let Some(i) = find(self) else { return refuse("E2001", "票据不存在") };
                if self.bills[i].random != s("random") {
                    return refuse("E2004", "校验码不正确");
                }
                Ok(json!({"pictureUrl": self.picture_url(&self.bills[i])}))
            }
            _ => refuse("E9001", "接口不存在"),
        }
    }
}

/// A QR of `text` as a PNG in Base64, the way the platform hands out `billQRCode`.
fn qr_png_base64(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(render::qr_png(text))
}

async fn api(State(st): State<SharedEInvoice>, Path(method): Path<String>, body: Bytes) -> Response {
    let (down, hang_ms) = {
        let g = st.lock().expect("einvoice lock");
        (g.faults.down.clone(), g.faults.hang_ms)
    };
    if let Some(r) = crate::outage(down.as_deref(), hang_ms).await {
        return r;
    }
    let mut g = st.lock().expect("einvoice lock");
    let noise = hex::encode(crypto::random_bytes::<8>());
    let params = match proto::open_envelope(&body, &g.cfg.appid, &g.cfg.key) {
        Ok(p) => p,
        Err(text) => return Json(proto::answer("E0001", &text, &noise)).into_response(),
    };
    let changes = method == "writeOffEBill" || g.cfg.methods.kind_of(&method).is_some();
    if changes && !g.faults.refuse_next.is_empty() {
        let (code, text) = g.faults.refuse_next.remove(0);
        return Json(proto::answer(&code, &text, &noise)).into_response();
    }
    let out = g.handle(&method, &params);
    if changes && g.faults.lose_answers > 0 {
        g.faults.lose_answers -= 1;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    match out {
        Ok(v) => Json(proto::answer(proto::SUCCESS, &v.to_string(), &noise)).into_response(),
        Err((code, text)) => Json(proto::answer(&code, &text, &noise)).into_response(),
    }
}

#[derive(Deserialize)]
struct CheckQuery {
    #[serde(rename = "billBatchCode")]
    batch: String,
    #[serde(rename = "billNo")]
    no: String,
    random: String,
}

fn bill_of<'a>(g: &'a EInvoiceState, batch: &str, no: &str, random: &str) -> Option<&'a SimBill> {
    g.bills.iter().find(|b| b.batch_code == batch && b.bill_no == no && b.random == random)
}

/// The page the verification QR opens: whether the bill is genuine and still valid.
async fn check(State(st): State<SharedEInvoice>, Query(q): Query<CheckQuery>) -> Response {
    let g = st.lock().expect("einvoice lock");
    let Some(b) = bill_of(&g, &q.batch, &q.no, &q.random) else {
        return (StatusCode::NOT_FOUND, Html("<h1>查验结果：未查询到该票据</h1>".to_owned())).into_response();
    };
    let state = if b.scarlet.is_some() { "该票据已冲红" } else { "票据真实有效" };
    Html(format!("<h1>查验结果：{state}</h1><p>票据代码 {}，票据号码 {}，交款人 {}，金额 ¥{}</p>", b.batch_code, b.bill_no, b.payer, b.total.to_yuan_string()))
        .into_response()
}

/// The bill's PDF, laid out with the report renderer.
async fn picture(State(st): State<SharedEInvoice>, Path((batch, file)): Path<(String, String)>, Query(q): Query<HashMap<String, String>>) -> Response {
    let no = file.trim_end_matches(".pdf");
    let doc = {
        let g = st.lock().expect("einvoice lock");
        let Some(b) = bill_of(&g, &batch, no, q.get("random").map(String::as_str).unwrap_or("")) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        bill_doc(b, &format!("{}/medical-web/check?billBatchCode={}&billNo={}&random={}", g.base_url, b.batch_code, b.bill_no, b.random))
    };
    match tokio::task::spawn_blocking(move || render::render_report_pdf(&doc)).await {
        Ok(Ok(pdf)) => ([(header::CONTENT_TYPE, "application/pdf")], pdf).into_response(),
        _ => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn bill_doc(b: &SimBill, check_url: &str) -> render::ReportDoc {
    let p = &b.params;
    let s = |k: &str| p.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
    let items = p
        .get("chargeDetail")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|c| {
                    let t = |k: &str| c.get(k).map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string())).unwrap_or_default();
                    render::ResultLine {
                        code: t("chargeCode"),
                        name: t("chargeName"),
                        value: t("amt"),
                        unit: "元".into(),
                        range: format!("自付 {}", t("selfAmt")),
                        flag: String::new(),
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    let title = match b.method.as_str() {
        m if m.contains("Hospitalized") => "广东省医疗收费票据（电子）住院",
        m if m.contains("Registration") => "广东省医疗收费票据（电子）挂号",
        m if m.contains("Prepayment") => "预交金电子凭证",
        _ => "广东省医疗收费票据（电子）门诊",
    };
    render::ReportDoc {
        hospital: s("payee"),
        title: title.into(),
        report_no: format!("{} {}", b.batch_code, b.bill_no),
        item_name: format!("¥{}", b.total.to_yuan_string()),
        patient_name: b.payer.clone(),
        sex: "个人".into(),
        age: b.random.clone(),
        patient_id: s("patientId"),
        dept: s("category"),
        doctor: s("payee"),
        specimen: b.bus_no.clone(),
        sampled_at: b.created.clone(),
        received_at: s("placeCode"),
        reported_at: if b.scarlet.is_some() { "已冲红".into() } else { "正常".into() },
        items,
        findings: format!("医保统筹 {} 元，个人账户 {} 元，其他基金 {} 元，个人现金 {} 元", s("fundPay"), s("accountPay"), s("otherfundPay"), s("ownPay")),
        conclusion_label: String::new(),
        conclusion: String::new(),
        tester: s("payee"),
        reviewer: String::new(),
        reviewed_at: b.created.get(..8).unwrap_or_default().to_owned(),
        note: String::new(),
        footer: "本票据由财政电子票据平台开具，扫码可查验真伪".into(),
        verify_code: b.random.clone(),
        verify_url: check_url.to_owned(),
        labels: render::FormLabels {
            fields: [
                "交款人",
                "交款人类型",
                "校验码",
                "票据代码/号码",
                "病人ID",
                "开票项目",
                "收款单位",
                "金额合计",
                "业务流水号",
                "开票时间",
                "开票点",
                "票据状态",
            ],
            columns: ["序号", "项目名称", "金额", "", "单位", "自付金额"],
            findings: "医保结算",
            signatures: ["收款人", "复核人", "开票日期"],
        },
    }
}

async fn set_faults(State(st): State<SharedEInvoice>, Json(f): Json<EInvoiceFaults>) -> StatusCode {
    st.lock().expect("einvoice lock").faults = f;
    StatusCode::NO_CONTENT
}

async fn bills(State(st): State<SharedEInvoice>) -> Json<Vec<SimBill>> {
    Json(st.lock().expect("einvoice lock").bills.clone())
}

pub fn router(state: SharedEInvoice) -> Router {
    Router::new()
        .route("/medical-web/api/medical/{method}", post(api))
        .route("/medical-web/check", get(check))
        .route("/medical-web/picture/{batch}/{file}", get(picture))
        .route("/__sim/einvoice/faults", post(set_faults))
        .route("/__sim/einvoice/bills", get(bills))
        .with_state(state)
}
