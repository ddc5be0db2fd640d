//! The insurance centre simulator (医保移动支付中心): 6201/6202/6203/6301/6401 on the
//! relay paths of protocols.md §1.1, every request opened and verified with the
//! hospital's public key, every answer sealed with the centre's key. The `ordStas`
//! machine follows §1.5's suggested transitions [I]: 6201 → 0; 6202 → 1 (2 when cash
//! is due); the patient confirming on the cashier (`POST /__sim/nhsa/confirm/{payOrdId}`)
//! → 6; 6401 on 0–2 → 12; 6203 ALL → 7, HI → 8, CASH → 9 or 10.
//!
//! The split is a simulation rule, not Shenzhen's: the fund pays 70 % of the
//! in-catalogue amount (`inscpScpAmt`); the rest is cash. Real ratios come from the centre.
use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use domain::Fen;
use gateways::nhsa::client::{PATH_6201, PATH_6202, PATH_6203, PATH_6301, PATH_6401};
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
        }
    }
}

struct PayOrder {
    token: String,
    total: Fen,
    fund: Fen,
    cash: Fen,
    ord_stas: u8,
    refunds: HashMap<String, (Fen, Fen)>,
    refunded_fund: Fen,
    refunded_cash: Fen,
}

#[derive(Default, serde::Deserialize)]
pub struct NhsaFaults {
    #[serde(default)]
    pub fail_next: Vec<(String, String)>,
    #[serde(default)]
    pub lose_response_next: Vec<String>,
}

pub struct NhsaState {
    party: Party,
    orders: HashMap<String, PayOrder>,
    seq: u64,
    faults: NhsaFaults,
}

pub type SharedNhsa = Arc<Mutex<NhsaState>>;

impl NhsaState {
    pub fn new(cfg: &NhsaSimConfig) -> Self {
        let signer = Sm2Signer::from_secret_bytes(&cfg.signer_id, &cfg.centre_secret).expect("centre key in range");
        let peer = Sm2Verifier::from_public_key_bytes(&cfg.signer_id, &cfg.hospital_public).expect("hospital public key");
        Self {
            party: Party { app_id: cfg.app_id.clone(), app_secret: cfg.app_secret.clone(), signer, peer },
            orders: HashMap::new(),
            seq: 0,
            faults: NhsaFaults::default(),
        }
    }

    /// The centre's public key, for the hospital's configuration.
    pub fn centre_public(&self) -> Vec<u8> {
        self.party.signer.public_key_bytes()
    }

    fn settlement(&self, id: &str, o: &PayOrder) -> Value {
        json!({"payOrdId": id, "ordStas": o.ord_stas.to_string(), "feeSumamt": o.total.to_yuan_string(), "fundPay": o.fund.to_yuan_string(), "psnAcctPay": "0.00", "acctMulaidPay": "0.00", "ownPayAmt": o.cash.to_yuan_string()})
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
                let fund = Fen(insurable.0 * 70 / 100);
                let o = PayOrder {
                    token: hex::encode(crypto::random_bytes::<8>()),
                    total,
                    fund,
                    cash: Fen(total.0 - fund.0),
                    ord_stas: 0,
                    refunds: HashMap::new(),
                    refunded_fund: Fen::ZERO,
                    refunded_cash: Fen::ZERO,
                };
                let token = o.token.clone();
                self.orders.insert(id.clone(), o);
                Ok(json!({"payOrdId": id, "payToken": token}))
            }
            "6202" | "6301" | "6401" => {
                let id = s("payOrdId")?;
                let token = s("payToken")?;
                let o = self.orders.get_mut(&id).filter(|o| o.token == token).ok_or(("2002", "支付订单不存在".to_owned()))?;
                match infno {
                    "6202" => {
                        if !s("payAuthNo")?.starts_with("AUTH") {
                            return Err(("2003", "医保授权无效".into()));
                        }
                        if o.ord_stas <= 2 {
                            o.ord_stas = if o.cash.0 > 0 { 2 } else { 1 };
                        }
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
                let cash = y("cashRefdAmt").unwrap_or(Fen::ZERO);
                let kind = s("refdType")?;
                let o = self.orders.get_mut(&id).ok_or(("2002", "支付订单不存在".to_owned()))?;
                if let Some(prev) = o.refunds.get(&sn) {
                    return if *prev == (fund, cash) {
                        Ok(json!({"refStatus": "SUCC", "appRefdSn": sn}))
                    } else {
                        Err(("2006", "退款流水号重复且金额不同".into()))
                    };
                }
                if o.ord_stas != 6 && !(7..=11).contains(&o.ord_stas) {
                    return Err(("2005", "订单未结算，不能退款".into()));
                }
                if o.refunded_fund.0 + fund.0 > o.fund.0 || o.refunded_cash.0 + cash.0 > o.cash.0 || fund.0 + cash.0 <= 0 {
                    return Err(("2007", "退款金额超过可退金额".into()));
                }
                o.refunds.insert(sn.clone(), (fund, cash));
                o.refunded_fund.0 += fund.0;
                o.refunded_cash.0 += cash.0;
                let all = o.refunded_fund == o.fund && o.refunded_cash == o.cash;
                o.ord_stas = match kind.as_str() {
                    _ if all => 7,
                    "HI" => 8,
                    "CASH" if o.refunded_cash == o.cash => 9,
                    _ => 10,
                };
                Ok(json!({"refStatus": "SUCC", "appRefdSn": sn}))
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
        f.insert("timestamp".into(), json!(chrono::Utc::now().timestamp_millis().to_string()));
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

/// The patient confirms on the cashier (simulated): the order settles (ordStas 6).
async fn confirm(State(st): State<SharedNhsa>, Path(id): Path<String>) -> StatusCode {
    let mut g = st.lock().expect("nhsa lock");
    match g.orders.get_mut(&id) {
        Some(o) if (1..=2).contains(&o.ord_stas) => {
            o.ord_stas = 6;
            StatusCode::NO_CONTENT
        }
        Some(_) => StatusCode::CONFLICT,
        None => StatusCode::NOT_FOUND,
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
        .route("/__sim/nhsa/confirm/{pay_ord_id}", post(confirm))
        .route("/__sim/faults", post(set_faults))
        .with_state(state)
}
