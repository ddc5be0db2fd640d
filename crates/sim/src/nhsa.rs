//! The insurance centre simulator (医保移动支付中心): 6201/6202/6203/6301/6401 on the
//! relay paths of protocols.md §1.1, every request opened and verified with the
//! hospital's public key, every answer sealed with the centre's key. The `ordStas`
//! machine follows §1.5's suggested transitions [I]: 6201 → 0; 6202 → 1 (2 when cash
//! is due); the patient confirming on the cashier (`POST /__sim/nhsa/confirm/{payOrdId}`)
//! → 6; 6401 on 0–2 → 12; 6203 ALL → 7, HI → 8, CASH → 9 or 10.
//!
//! The split is a simulation rule, not Shenzhen's: the fund pays 70 % of the
//! in-catalogue amount (`inscpScpAmt`); the rest is cash. Real ratios come from the centre.
//! A visit outside pooling (`extData.poolPayFlag` "0", our choice [I]) gets nothing from
//! the fund; the in-catalogue amount goes to the family mutual-aid account (`acctMulaidPay`).
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use domain::Fen;
use gateways::nhsa::client::{PATH_3201, PATH_3202, PATH_6201, PATH_6202, PATH_6203, PATH_6301, PATH_6401};
use gateways::nhsa::envelope::Party;
use serde_json::{Map, Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct NhsaSimConfig {
    pub app_id: String,
    pub app_secret: String,
    pub signer_id: String,
    /// The centre's SM2 private scalar.
    pub centre_secret: [u8; 32],
    /// The hospital's SM2 public key (`04‖X‖Y`).
    pub hospital_public: Vec<u8>,
    /// The authorisation receiver's partner credentials (userQuery, §1.6).
    pub partner_id: String,
    pub partner_secret: String,
    /// The personal-account balance every simulated insured adult has, for `acctUsedFlag=1`.
    pub personal_account_balance: Fen,
}

/// Demo keys, derived from fixed labels so the demo's two sides agree without setup.
/// Never for production.
pub fn demo_secret(label: &str) -> [u8; 32] {
    crypto::sm3::digest(label.as_bytes())
}

impl Default for NhsaSimConfig {
    fn default() -> Self {
        let app_secret = "30BFE2B0C715E516E5EDF21E289DA826".to_owned();
        let hospital = Sm2Signer::from_secret_bytes(&app_secret, &demo_secret("carebridge-demo-hospital-sm2")).expect("demo key in range");
        Self {
            app_id: "0F0822652EB7CB91A644E638FBE9941E".into(),
            app_secret,
            signer_id: "30BFE2B0C715E516E5EDF21E289DA826".into(),
            centre_secret: demo_secret("carebridge-demo-nhsa-centre-sm2"),
            hospital_public: hospital.public_key_bytes(),
            partner_id: "CBDEMO0001".into(),
            partner_secret: "carebridge-demo-partner-secret".into(),
            personal_account_balance: Fen(30_000),
        }
    }
}

struct PayOrder {
    med_org_ord: String,
    token: String,
    total: Fen,
    insurable: Fen,
    fund: Fen,
    /// What the accounts pay: the patient's own personal account, or — outside pooling
    /// (`poolPayFlag` "0") — the family mutual-aid account (`mulaid` of it).
    psn: Fen,
    mulaid: Fen,
    pooled: bool,
    cash: Fen,
    ord_stas: u8,
    refunds: HashMap<String, (Fen, Fen, Fen)>,
    refunded_fund: Fen,
    refunded_psn: Fen,
    refunded_cash: Fen,
}

#[derive(Default, serde::Deserialize)]
pub struct NhsaFaults {
    #[serde(default)]
    pub fail_next: Vec<(String, String)>,
    #[serde(default)]
    pub lose_response_next: Vec<String>,
}

/// One settlement or refund at the centre, for the daily statements (3201/3202).
#[derive(Clone, Debug)]
pub struct CentreLine {
    pub at: chrono::DateTime<chrono::Utc>,
    pub pay_ord_id: String,
    pub med_org_ord: String,
    /// `SETL` (settled) or `REFD` (refunded).
    pub kind: &'static str,
    pub fund: Fen,
    pub psn: Fen,
    pub serial: String,
}

pub struct NhsaState {
    party: Party,
    clock: Arc<dyn domain::Clock>,
    pub journal: Vec<CentreLine>,
    cfg: NhsaSimConfig,
    orders: HashMap<String, PayOrder>,
    seq: u64,
    faults: NhsaFaults,
    /// One-time authorisation codes → (pay_auth_no, for a relative).
    auth_codes: HashMap<String, (String, bool)>,
    /// Issued authorisations → for a relative.
    authorisations: HashMap<String, bool>,
    /// One-time codes of completed family-account (亲情账户) verifications.
    bind_codes: HashMap<String, chrono::DateTime<chrono::Utc>>,
}

pub type SharedNhsa = Arc<Mutex<NhsaState>>;

impl NhsaState {
    pub fn new(cfg: &NhsaSimConfig, clock: Arc<dyn domain::Clock>) -> Self {
        let signer = Sm2Signer::from_secret_bytes(&cfg.signer_id, &cfg.centre_secret).expect("centre key in range");
        let peer = Sm2Verifier::from_public_key_bytes(&cfg.signer_id, &cfg.hospital_public).expect("hospital public key");
        Self {
            party: Party { app_id: cfg.app_id.clone(), app_secret: cfg.app_secret.clone(), signer, peer },
            cfg: cfg.clone(),
            clock,
            journal: Vec::new(),
            orders: HashMap::new(),
            seq: 0,
            faults: NhsaFaults::default(),
            auth_codes: HashMap::new(),
            authorisations: HashMap::new(),
            bind_codes: HashMap::new(),
        }
    }

    /// Whether a receiver call (userQuery, familyBindQuery) carries the partner's HMAC
    /// signature over a fresh timestamp.
    fn partner_signed(&self, partner: &str, headers: &axum::http::HeaderMap) -> bool {
        let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let ts = h("god-portal-timestamp");
        let fresh = ts.parse::<i64>().map(|t| (self.clock.now().timestamp_millis() - t).abs() < 300_000).unwrap_or(false);
        let expected = gateways::nhsa::auth::portal_signature(&self.cfg.partner_secret, &self.cfg.partner_id, &ts);
        partner == self.cfg.partner_id && fresh && crypto::constant_time_eq(expected.as_bytes(), h("god-portal-signature").as_bytes())
    }

    /// The centre's public key, for the hospital's configuration.
    pub fn centre_public(&self) -> Vec<u8> {
        self.party.signer.public_key_bytes()
    }

    fn settlement(&self, id: &str, o: &PayOrder) -> Value {
        json!({"payOrdId": id, "ordStas": o.ord_stas.to_string(), "feeSumamt": o.total.to_yuan_string(), "fundPay": o.fund.to_yuan_string(), "psnAcctPay": Fen(o.psn.0 - o.mulaid.0).to_yuan_string(), "acctMulaidPay": o.mulaid.to_yuan_string(), "ownPayAmt": o.cash.to_yuan_string()})
    }

    fn handle(&mut self, infno: &str, d: &Value) -> Result<Value, (&'static str, String)> {
        let s = |k: &str| d.get(k).and_then(Value::as_str).filter(|v| !v.is_empty()).map(str::to_owned).ok_or(("1001", format!("缺少参数 {k}")));
        let y = |k: &str| s(k).and_then(|v| Fen::parse_yuan(&v).ok_or(("1001", format!("金额格式错误 {k}"))));
        match infno {
            "6201" => {
                let total = y("medfeeSumamt")?;
                let insurable = y("inscpScpAmt")?;
                let lines: i64 = d
                    .get("feedetailList")
                    .and_then(Value::as_array)
                    .map(|a| a.iter().filter_map(|l| l.get("detItemFeeSumamt").and_then(Value::as_str).and_then(Fen::parse_yuan)).map(|f| f.0).sum())
                    .unwrap_or(-1);
                if lines != total.0 || insurable > total || total.0 <= 0 {
                    return Err(("2001", "费用明细与总额不符".into()));
                }
                self.seq += 1;
                let id = format!("ORD440300{:014}", self.seq);
                // Outside pooling (a visit INS-2 does not cover) the fund pays nothing [I].
                let pooled = d.get("extData").and_then(|e| e.get("poolPayFlag")).and_then(Value::as_str) != Some("0");
                let fund = if pooled { Fen(insurable.0 * 70 / 100) } else { Fen::ZERO };
                let o = PayOrder {
                    med_org_ord: s("medOrgOrd")?,
                    token: hex::encode(crypto::random_bytes::<8>()),
                    total,
                    insurable,
                    fund,
                    psn: Fen::ZERO,
                    mulaid: Fen::ZERO,
                    pooled,
                    cash: Fen(total.0 - fund.0),
                    ord_stas: 0,
                    refunds: HashMap::new(),
                    refunded_fund: Fen::ZERO,
                    refunded_psn: Fen::ZERO,
                    refunded_cash: Fen::ZERO,
                };
                let token = o.token.clone();
                self.orders.insert(id.clone(), o);
                Ok(json!({"payOrdId": id, "payToken": token}))
            }
            "6202" | "6301" | "6401" => {
                let id = s("payOrdId")?;
                let token = s("payToken")?;
                let auth = if infno == "6202" { Some(s("payAuthNo")?) } else { None };
                let relative = match &auth {
                    Some(no) => Some(*self.authorisations.get(no).ok_or(("2003", "医保授权无效".to_owned()))?),
                    None => None,
                };
                let balance = self.cfg.personal_account_balance;
                let use_account = d.get("acctUsedFlag").and_then(Value::as_str) == Some("1");
                let o = self.orders.get_mut(&id).filter(|o| o.token == token).ok_or(("2002", "支付订单不存在".to_owned()))?;
                match infno {
                    // The personal account pays the rest of the in-catalogue amount, up to its
                    // balance; children's insurance (paid by a relative) has none.
                    "6202" if o.ord_stas <= 2 => {
                        o.psn = if use_account && relative == Some(false) { Fen((o.insurable.0 - o.fund.0).min(balance.0)) } else { Fen::ZERO };
                        o.mulaid = if o.pooled { Fen::ZERO } else { o.psn };
                        o.cash = Fen(o.total.0 - o.fund.0 - o.psn.0);
                        o.ord_stas = if o.cash.0 > 0 { 2 } else { 1 };
                    }
                    "6401" => {
                        if o.ord_stas > 2 {
                            return Err(("2004", "订单已支付，不能撤销".into()));
                        }
                        o.ord_stas = 12;
                        return Ok(json!({"success": true, "message": "撤销成功"}));
                    }
                    _ => {}
                }
                let o = &self.orders[&id];
                Ok(self.settlement(&id, o))
            }
            "6203" => {
                let id = s("payOrdId")?;
                let sn = s("appRefdSn")?;
                let fund = y("fundRefdAmt").unwrap_or(Fen::ZERO);
                let psn = y("psnAcctRefdAmt").unwrap_or(Fen::ZERO);
                let cash = y("cashRefdAmt").unwrap_or(Fen::ZERO);
                let kind = s("refdType")?;
                let o = self.orders.get_mut(&id).ok_or(("2002", "支付订单不存在".to_owned()))?;
                if let Some(prev) = o.refunds.get(&sn) {
                    return if *prev == (fund, psn, cash) {
                        Ok(json!({"refStatus": "SUCC", "appRefdSn": sn}))
                    } else {
                        Err(("2006", "退款流水号重复且金额不同".into()))
                    };
                }
                // 4 (insurance paid, cash not yet) is refundable too: that is the reversal
                // after the cash part failed (P9).
                if !matches!(o.ord_stas, 4 | 6 | 7..=11) {
                    return Err(("2005", "订单未结算，不能退款".into()));
                }
                if o.refunded_fund.0 + fund.0 > o.fund.0
                    || o.refunded_psn.0 + psn.0 > o.psn.0
                    || o.refunded_cash.0 + cash.0 > o.cash.0
                    || fund.0 + psn.0 + cash.0 <= 0
                {
                    return Err(("2007", "退款金额超过可退金额".into()));
                }
                o.refunds.insert(sn.clone(), (fund, psn, cash));
                let line = CentreLine {
                    at: self.clock.now(),
                    pay_ord_id: id.clone(),
                    med_org_ord: o.med_org_ord.clone(),
                    kind: "REFD",
                    fund,
                    psn,
                    serial: sn.clone(),
                };
                o.refunded_fund.0 += fund.0;
                o.refunded_psn.0 += psn.0;
                o.refunded_cash.0 += cash.0;
                let all = o.refunded_fund == o.fund && o.refunded_psn == o.psn && (o.refunded_cash == o.cash || o.ord_stas == 4);
                o.ord_stas = match kind.as_str() {
                    _ if all => 7,
                    "HI" => 8,
                    "CASH" if o.refunded_cash == o.cash => 9,
                    _ => 10,
                };
                self.journal.push(line);
                Ok(json!({"refStatus": "SUCC", "appRefdSn": sn}))
            }
            // Daily statements [I]: 3201 compares the hospital's totals with the centre's;
            // 3202 gives the centre's detail lines of a day, for the hospital to match.
            "3201" | "3202" => {
                let day = s("stmtDate").and_then(|d| chrono::NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| ("1001", "日期格式错误".to_owned())))?;
                let lines: Vec<&CentreLine> = self.journal.iter().filter(|l| domain::clock::to_local(l.at).date_naive() == day).collect();
                let net = |k: &str| lines.iter().filter(|l| l.kind == k).map(|l| l.fund.0 + l.psn.0).sum::<i64>();
                if infno == "3201" {
                    let fund: i64 = lines.iter().map(|l| if l.kind == "SETL" { l.fund.0 } else { -l.fund.0 }).sum();
                    let psn: i64 = lines.iter().map(|l| if l.kind == "SETL" { l.psn.0 } else { -l.psn.0 }).sum();
                    let theirs = (y("fundPaySumamt")?, y("acctPaySumamt")?);
                    let agree = theirs == (Fen(fund), Fen(psn));
                    return Ok(
                        json!({"stmtRslt": if agree { "0" } else { "1" }, "fundPaySumamt": Fen(fund).to_yuan_string(), "acctPaySumamt": Fen(psn).to_yuan_string(),
                        "setlCnt": lines.iter().filter(|l| l.kind == "SETL").count().to_string(), "setlSumamt": Fen(net("SETL")).to_yuan_string(), "refdSumamt": Fen(net("REFD")).to_yuan_string()}),
                    );
                }
                let detail: Vec<Value> = lines
                    .iter()
                    .map(|l| json!({"payOrdId": l.pay_ord_id, "medOrgOrd": l.med_org_ord, "type": l.kind, "fundPay": l.fund.to_yuan_string(), "psnAcctPay": l.psn.to_yuan_string(),
                        "serial": l.serial, "time": domain::clock::to_local(l.at).format("%Y-%m-%d %H:%M:%S").to_string()}))
                    .collect();
                Ok(json!({"stmtDate": day.to_string(), "detail": detail}))
            }
            _ => Err(("1004", "不支持的接口".into())),
        }
    }

    fn answer(&self, code: &str, message: &str, data: Option<Value>) -> Value {
        let mut f = Map::new();
        f.insert("code".into(), json!(code));
        f.insert("message".into(), json!(message));
        f.insert("encType".into(), json!("SM4"));
        f.insert("signType".into(), json!("SM2"));
        f.insert("timestamp".into(), json!(self.clock.now().timestamp_millis().to_string()));
        f.insert("version".into(), json!("2.0.1"));
        match data {
            Some(d) => self.party.seal(f, &d),
            None => {
                f.insert("appId".into(), json!(self.party.app_id));
                Value::Object(f)
            }
        }
    }
}

async fn endpoint(st: SharedNhsa, infno: &'static str, body: Bytes) -> Response {
    let mut g = st.lock().expect("nhsa lock");
    if let Some(i) = g.faults.fail_next.iter().position(|(n, _)| n == infno) {
        let code = g.faults.fail_next.remove(i).1;
        return Json(g.answer(&code, "模拟故障", None)).into_response();
    }
    let lose = g.faults.lose_response_next.iter().position(|n| n == infno).map(|i| g.faults.lose_response_next.remove(i)).is_some();
    let Ok(wire) = serde_json::from_slice::<Value>(&body) else {
        return Json(g.answer("1001", "报文格式错误", None)).into_response();
    };
    let data = match g.party.open(&wire) {
        Ok((d, _)) => d,
        Err(e) => return Json(g.answer("1002", &format!("验签或解密失败: {e}"), None)).into_response(),
    };
    let result = g.handle(infno, &data);
    if lose {
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    match result {
        Ok(d) => Json(g.answer("0", "成功", Some(d))).into_response(),
        Err((code, msg)) => Json(g.answer(code, &msg, None)).into_response(),
    }
}

impl NhsaState {
    /// The patient confirms the insurance part with the 医保 password: it settles at once
    /// (ordStas 6) when nothing is left in cash, else it waits for the cash part (4).
    /// Declining cancels the order (12).
    fn patient_decides(&mut self, id: &str, confirm: bool) -> StatusCode {
        let now = self.clock.now();
        match self.orders.get_mut(id) {
            Some(o) if (1..=2).contains(&o.ord_stas) => {
                o.ord_stas = match (confirm, o.cash.0 > 0) {
                    (false, _) => 12,
                    (true, true) => 4,
                    (true, false) => 6,
                };
                if confirm {
                    let line = CentreLine {
                        at: now,
                        pay_ord_id: id.to_owned(),
                        med_org_ord: o.med_org_ord.clone(),
                        kind: "SETL",
                        fund: o.fund,
                        psn: o.psn,
                        serial: String::new(),
                    };
                    self.journal.push(line);
                }
                StatusCode::NO_CONTENT
            }
            Some(_) => StatusCode::CONFLICT,
            None => StatusCode::NOT_FOUND,
        }
    }

    /// Where a centre order stands (for tests and the demo's inspection).
    pub fn ord_stas_of(&self, pay_ord_id: &str) -> Option<u8> {
        self.orders.get(pay_ord_id).map(|o| o.ord_stas)
    }

    /// Issues a one-time authorisation code, as the 医保 mini-program does after the
    /// patient authorises; `relative` marks 亲情付 (a guardian for a child).
    pub fn issue_auth_code(&mut self, relative: bool) -> String {
        self.seq += 1;
        let now = domain::clock::to_local(self.clock.now()).format("%Y%m%d%H%M%S");
        let pay_auth_no = format!("AUTH440300{now}{:07}", self.seq);
        let code = hex::encode(crypto::random_bytes::<12>());
        self.auth_codes.insert(code.clone(), (pay_auth_no, relative));
        code
    }
}

/// The patient confirms on the cashier (simulated), for tests.
async fn confirm(State(st): State<SharedNhsa>, Path(id): Path<String>) -> StatusCode {
    st.lock().expect("nhsa lock").patient_decides(&id, true)
}

#[derive(serde::Deserialize)]
struct CashierQuery {
    #[serde(default)]
    redirect: String,
}

fn page(title: &str, body: &str) -> Response {
    Html(format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>{title}</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;background:#eef6f3}}main{{background:#fff;margin:12px;padding:16px;border-radius:8px}}\
         .amt{{font-size:28px;font-weight:600}}button{{width:100%;padding:12px;margin:8px 0;font-size:16px;border:0;border-radius:6px}}\
         .ok{{background:#0a8f5b;color:#fff}}.no{{background:#eee}}table{{width:100%}}td:last-child{{text-align:right}}</style><main>{body}</main></html>"
    ))
    .into_response()
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// The 医保 cashier (simulated): shows the split and asks for the 医保电子凭证 password.
async fn cashier(State(st): State<SharedNhsa>, Path(id): Path<String>, Query(q): Query<CashierQuery>) -> Response {
    let g = st.lock().expect("nhsa lock");
    let Some(o) = g.orders.get(&id) else {
        return (StatusCode::NOT_FOUND, Html("<p>医保订单不存在</p>".to_owned())).into_response();
    };
    let redirect = html_escape(&q.redirect);
    page(
        "医保支付（模拟）",
        &format!(
            "<h1 style='font-size:18px'>医保电子凭证支付（模拟器）</h1><p>医保订单 {id}</p><p class=amt>¥{}</p>\
             <table><tr><td>医保统筹支付</td><td>¥{}</td></tr><tr><td>个人账户支付</td><td>¥{}</td></tr><tr><td>需自付</td><td>¥{}</td></tr></table>\
             <form method=post action='/__sim/nhsa/cashier/{id}'><input type=hidden name=redirect value='{redirect}'><input type=hidden name=decision value=confirm>\
             <label>医保电子凭证密码 <input name=pin type=password inputmode=numeric value='123456'></label><button class=ok id=confirm type=submit>确认医保支付</button></form>\
             <form method=post action='/__sim/nhsa/cashier/{id}'><input type=hidden name=redirect value='{redirect}'><input type=hidden name=decision value=cancel><button class=no id=cancel type=submit>取消</button></form>",
            o.total.to_yuan_string(),
            o.fund.to_yuan_string(),
            o.psn.to_yuan_string(),
            o.cash.to_yuan_string()
        ),
    )
}

#[derive(serde::Deserialize)]
struct Decision {
    decision: String,
    #[serde(default)]
    redirect: String,
}

async fn cashier_decide(State(st): State<SharedNhsa>, Path(id): Path<String>, Form(d): Form<Decision>) -> Response {
    let status = st.lock().expect("nhsa lock").patient_decides(&id, d.decision == "confirm");
    if status == StatusCode::NOT_FOUND {
        return status.into_response();
    }
    if d.redirect.is_empty() {
        page("医保支付（模拟）", "<p>已完成，请返回医院页面。</p>")
    } else {
        Redirect::to(&d.redirect).into_response()
    }
}

#[derive(serde::Deserialize)]
struct AuthQuery {
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    relative: String,
}

/// The 医保电子凭证 authorisation page (simulated H5 equivalent of the mini-program).
async fn auth_page(Query(q): Query<AuthQuery>) -> Response {
    let who = if q.relative == "1" { "为亲属（少儿医保）授权支付" } else { "本人医保电子凭证授权" };
    let hidden = format!(
        "<input type=hidden name=redirect_uri value='{}'><input type=hidden name=state value='{}'><input type=hidden name=relative value='{}'>",
        html_escape(&q.redirect_uri),
        html_escape(&q.state),
        html_escape(&q.relative)
    );
    page(
        "医保授权（模拟）",
        &format!(
            "<h1 style='font-size:18px'>国家医保服务平台 授权（模拟器）</h1><p>{who}</p><p>授权后，医院可使用您的医保电子凭证完成本次医保结算。</p>\
             <form method=post action='/__sim/medins/auth'>{hidden}<input type=hidden name=decision value=allow><button class=ok id=allow type=submit>同意授权</button></form>\
             <form method=post action='/__sim/medins/auth'>{hidden}<input type=hidden name=decision value=deny><button class=no id=deny type=submit>拒绝</button></form>"
        ),
    )
}

#[derive(serde::Deserialize)]
struct AuthDecision {
    decision: String,
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    relative: String,
}

async fn auth_decide(State(st): State<SharedNhsa>, Form(d): Form<AuthDecision>) -> Response {
    if d.decision != "allow" {
        return back_to(&d.redirect_uri, "error=denied", &d.state);
    }
    let code = st.lock().expect("nhsa lock").issue_auth_code(d.relative == "1");
    back_to(&d.redirect_uri, &format!("authCode={code}"), &d.state)
}

/// userQuery: trades a one-time code for the authorisation, after checking the partner's
/// HMAC signature and a fresh timestamp.
async fn user_query(State(st): State<SharedNhsa>, Path(partner): Path<String>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
    let mut g = st.lock().expect("nhsa lock");
    if !g.partner_signed(&partner, &headers) {
        return Json(json!({"code": 401, "message": "签名校验失败"})).into_response();
    }
    let code = body.get("qrcode").and_then(Value::as_str).unwrap_or("");
    let Some((no, relative)) = g.auth_codes.remove(code) else {
        return Json(json!({"code": 1001, "message": "授权码无效或已使用"})).into_response();
    };
    g.authorisations.insert(no.clone(), relative);
    let (own, family) = if relative { ("", no.as_str()) } else { (no.as_str(), "") };
    Json(json!({"code": 0, "message": "success", "pay_auth_no": own, "family_pay_auth_no": family})).into_response()
}

/// The demo WeChat Pay password every simulated guardian has [I].
pub const DEMO_PAY_PASSWORD: &str = "123456";

#[derive(serde::Deserialize)]
struct FamilyBindQuery {
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    child: String,
    #[serde(default)]
    error: String,
}

fn family_bind_form(q: &FamilyBindQuery) -> Response {
    let hidden = format!(
        "<input type=hidden name=redirect_uri value='{}'><input type=hidden name=state value='{}'><input type=hidden name=child value='{}'>",
        html_escape(&q.redirect_uri),
        html_escape(&q.state),
        html_escape(&q.child)
    );
    let err = if q.error.is_empty() { String::new() } else { "<p style='color:#b3261e' id=pwd-error>支付密码错误，请重新输入</p>".to_owned() };
    page(
        "亲情账户绑定（模拟）",
        &format!(
            "<h1 style='font-size:18px'>医保亲情账户 · 身份验证（模拟器）</h1><p>为 {} 绑定少儿医保，需验证您的微信支付密码。</p>{err}             <form method=post action='/__sim/medins/family-bind'>{hidden}<input type=hidden name=decision value=verify>             <label>微信支付密码 <input id=pay-password name=password type=password inputmode=numeric maxlength=6 autocomplete=off></label>             <button class=ok id=verify type=submit>验证并授权绑定</button></form>             <form method=post action='/__sim/medins/family-bind'>{hidden}<input type=hidden name=decision value=cancel><button class=no id=cancel type=submit>取消</button></form>",
            html_escape(&q.child)
        ),
    )
}

/// The family-account (亲情账户) verification: in WeChat the guardian proves it is them
/// with the WeChat Pay password before a child's 少儿医保 can be bound for payment. The
/// page and its parameters are our simulation of that step [I].
async fn family_bind_page(Query(q): Query<FamilyBindQuery>) -> Response {
    family_bind_form(&q)
}

#[derive(serde::Deserialize)]
struct FamilyBindDecision {
    decision: String,
    redirect_uri: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    child: String,
    #[serde(default)]
    password: String,
}

async fn family_bind_decide(State(st): State<SharedNhsa>, Form(d): Form<FamilyBindDecision>) -> Response {
    if d.decision != "verify" {
        return back_to(&d.redirect_uri, "error=cancelled", &d.state);
    }
    if !crypto::constant_time_eq(d.password.as_bytes(), DEMO_PAY_PASSWORD.as_bytes()) {
        return family_bind_form(&FamilyBindQuery { redirect_uri: d.redirect_uri, state: d.state, child: d.child, error: "1".into() });
    }
    let code = hex::encode(crypto::random_bytes::<12>());
    let mut g = st.lock().expect("nhsa lock");
    let now = g.clock.now();
    g.bind_codes.insert(code.clone(), now);
    back_to(&d.redirect_uri, &format!("bindCode={code}"), &d.state)
}

/// Sends the browser back to the caller's page with `query` and the caller's `state`.
fn back_to(redirect_uri: &str, query: &str, state: &str) -> Response {
    let sep = if redirect_uri.contains('?') { '&' } else { '?' };
    Redirect::to(&format!("{redirect_uri}{sep}{query}&state={}", domain::format::url_encode(state))).into_response()
}

/// familyBindQuery: trades the one-time bind code for the verification result, signed
/// like userQuery [I].
async fn family_bind_query(State(st): State<SharedNhsa>, Path(partner): Path<String>, headers: axum::http::HeaderMap, Json(body): Json<Value>) -> Response {
    let mut g = st.lock().expect("nhsa lock");
    if !g.partner_signed(&partner, &headers) {
        return Json(json!({"code": 401, "message": "签名校验失败"})).into_response();
    }
    let code = body.get("qrcode").and_then(Value::as_str).unwrap_or("");
    match g.bind_codes.remove(code) {
        Some(at) => Json(json!({"code": 0, "message": "success", "verified": "1", "verify_type": "PAY_PWD", "verify_time": at.to_rfc3339()})).into_response(),
        None => Json(json!({"code": 1001, "message": "验证码无效或已使用"})).into_response(),
    }
}

async fn set_faults(State(st): State<SharedNhsa>, Json(f): Json<NhsaFaults>) -> StatusCode {
    st.lock().expect("nhsa lock").faults = f;
    StatusCode::NO_CONTENT
}

pub fn router(state: SharedNhsa) -> Router {
    let r = |infno: &'static str| {
        let st = state.clone();
        post(move |body: Bytes| endpoint(st.clone(), infno, body))
    };
    Router::new()
        .route(PATH_6201, r("6201"))
        .route(PATH_6202, r("6202"))
        .route(PATH_6203, r("6203"))
        .route(PATH_6301, r("6301"))
        .route(PATH_6401, r("6401"))
        .route(PATH_3201, r("3201"))
        .route(PATH_3202, r("3202"))
        .route("/__sim/nhsa/confirm/{pay_ord_id}", post(confirm))
        .route("/__sim/nhsa/cashier/{pay_ord_id}", get(cashier).post(cashier_decide))
        .route("/__sim/medins/auth", get(auth_page).post(auth_decide))
        .route("/__sim/medins/family-bind", get(family_bind_page).post(family_bind_decide))
        .route("/api/mipuserquery/familyBindQuery/{partner}", post(family_bind_query))
        .route("/api/mipuserquery/userQuery/{partner}", post(user_query))
        .route("/__sim/faults", post(set_faults))
        .with_state(state)
}
