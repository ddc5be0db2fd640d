//! SF Express 丰桥 as the hospital's connector sees it (protocols-wave2 §1): `POST
//! /std/service` with the signed form of `gateways::courier`. It checks the partner and the
//! digest (A1001 missing fields, A1006 a bad digest, A1004 an unknown service), places
//! orders idempotently per `orderId` (a repeat answers the first waybill; a cancelled
//! orderId is never reused: 8037), refuses addresses it does not serve (filterResult 3 for
//! any address containing `不可收派`), cancels, answers route queries, and advances a
//! parcel through 50 收件 → 30 分拣发出 → 31 到达中转场 → 44 派送中 → 80 签收 on demand,
//! pushing each new step to the merchant's route-push URL in json mode (re-pushed while the
//! merchant does not answer `0000`).
//!
//! Control: `POST /__sim/courier/faults` `{down, refuse_next: [[code, text]], lose_answers}`,
//! `POST /__sim/courier/{waybill}/advance`, `GET /__sim/courier/orders`,
//! `POST /__sim/courier/push-url` `{url}`.
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use domain::Clock;
use gateways::courier as proto;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct CourierSimConfig {
    pub partner_id: String,
    pub check_word: String,
}

impl Default for CourierSimConfig {
    fn default() -> Self {
        Self { partner_id: "SZSMYY_SF".into(), check_word: "demo-sf-check-word".into() }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct CourierFaults {
    /// Answer every call 503.
    #[serde(default)]
    pub down: bool,
    /// The next order or cancel calls are refused with these `(code, text)` (business codes).
    #[serde(default)]
    pub refuse_next: Vec<(String, String)>,
    /// The next this many orders are placed, then answered 504.
    #[serde(default)]
    pub lose_answers: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct SimShipment {
    pub order_id: String,
    pub waybill_no: String,
    pub receiver: String,
    pub address: String,
    pub cancelled: bool,
    /// (push id, acceptTime, place, remark, opCode)
    pub routes: Vec<(u64, String, String, String, String)>,
    /// How many of the routes the merchant has taken.
    pub pushed: usize,
}

pub struct CourierState {
    pub cfg: CourierSimConfig,
    clock: Arc<dyn Clock>,
    pub shipments: Vec<SimShipment>,
    pub faults: CourierFaults,
    pub push_url: Option<String>,
    seq: u64,
}

pub type SharedCourier = Arc<Mutex<CourierState>>;

/// The route a parcel takes, step by step.
const STEPS: &[(&str, &str, &str)] = &[
    ("50", "深圳市福田区", "顺丰速运 已收取快件"),
    ("30", "深圳福田集散中心", "快件已发车"),
    ("31", "目的地集散中心", "快件到达 目的地集散中心"),
    ("44", "目的地营业点", "快件交给快递员，正在派送途中"),
    ("80", "目的地营业点", "快件已签收，签收人：本人"),
];

impl CourierState {
    pub fn new(cfg: CourierSimConfig, clock: Arc<dyn Clock>) -> Self {
        Self { cfg, clock, shipments: vec![], faults: CourierFaults::default(), push_url: None, seq: 0 }
    }

    fn next(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }

    fn create(&mut self, data: &Value) -> Result<Value, (String, String)> {
        let order_id = data["orderId"].as_str().filter(|s| !s.is_empty()).ok_or(("6118".to_owned(), "订单号不能为空".to_owned()))?.to_owned();
        if let Some(s) = self.shipments.iter().find(|s| s.order_id == order_id) {
            if s.cancelled {
                return Err(("8037".into(), "已消单".into()));
            }
            return Ok(created(s, 2));
        }
        let receiver = data["contactInfoList"].as_array().and_then(|l| l.iter().find(|c| c["contactType"].as_i64() == Some(2))).cloned().unwrap_or(Value::Null);
        let address = receiver["address"].as_str().unwrap_or_default().to_owned();
        if address.is_empty() || (receiver["mobile"].as_str().unwrap_or_default().is_empty() && receiver["tel"].as_str().unwrap_or_default().is_empty()) {
            return Err(("1010".into(), "收件人地址或电话不能为空".into()));
        }
        if address.contains("不可收派") {
            return Ok(json!({"orderId": order_id, "filterResult": 3, "remark": "收方地址超范围"}));
        }
        let waybill_no = format!("SF{:013}", 1_400_000_000_000u64 + self.next());
        let s = SimShipment {
            order_id,
            waybill_no,
            receiver: receiver["contact"].as_str().unwrap_or_default().to_owned(),
            address,
            cancelled: false,
            routes: vec![],
            pushed: 0,
        };
        let answer = created(&s, 2);
        self.shipments.push(s);
        Ok(answer)
    }

    fn update(&mut self, data: &Value) -> Result<Value, (String, String)> {
        let order_id = data["orderId"].as_str().unwrap_or_default();
        let Some(s) = self.shipments.iter_mut().find(|s| s.order_id == order_id) else { return Err(("8018".into(), "未获取到订单信息".into())) };
        if data["dealType"].as_i64() != Some(2) {
            return Ok(json!({"orderId": order_id, "resStatus": 2}));
        }
        if s.cancelled {
            return Err(("8037".into(), "已消单".into()));
        }
        if !s.routes.is_empty() {
            return Err(("8019".into(), "订单已收件，不能消单".into()));
        }
        s.cancelled = true;
        Ok(json!({"orderId": order_id, "resStatus": 2}))
    }

    fn routes(&self, data: &Value) -> Value {
        let wanted: Vec<&str> = data["trackingNumber"].as_array().map(|l| l.iter().filter_map(Value::as_str).collect()).unwrap_or_default();
        let resps: Vec<Value> = self
            .shipments
            .iter()
            .filter(|s| wanted.contains(&s.waybill_no.as_str()))
            .map(|s| {
                // Newest first, as the courier may answer: the connector sorts.
                let routes: Vec<Value> = s
                    .routes
                    .iter()
                    .rev()
                    .map(|(_, at, place, remark, op)| json!({"acceptTime": at, "acceptAddress": place, "remark": remark, "opCode": op}))
                    .collect();
                json!({"mailNo": s.waybill_no, "routes": routes})
            })
            .collect();
        json!({"routeResps": resps})
    }

    /// The next step of a parcel's route; `None` once signed for (or unknown, or cancelled).
    pub fn advance(&mut self, waybill_no: &str) -> Option<&'static str> {
        let now = domain::clock::to_local(self.clock.now()).naive_local();
        let id = self.next();
        let s = self.shipments.iter_mut().find(|s| s.waybill_no == waybill_no && !s.cancelled)?;
        // A parcel's steps are seconds apart at least, as a real route's are.
        let last = s.routes.last().and_then(|r| chrono::NaiveDateTime::parse_from_str(&r.1, "%Y-%m-%d %H:%M:%S").ok());
        let at = last.map_or(now, |l| now.max(l + chrono::Duration::seconds(1))).format("%Y-%m-%d %H:%M:%S").to_string();
        let (op, place, remark) = *STEPS.get(s.routes.len())?;
        s.routes.push((id, at, place.to_owned(), remark.to_owned(), op.to_owned()));
        Some(op)
    }

    /// The steps not yet taken by the merchant, as a push body (at most ten).
    fn pending_push(&self, waybill_no: &str) -> Option<Value> {
        let s = self.shipments.iter().find(|s| s.waybill_no == waybill_no)?;
        let steps: Vec<Value> = s.routes[s.pushed..]
            .iter()
            .take(proto::MAX_PUSHED)
            .map(|(id, at, place, remark, op)| {
                json!({"id": id.to_string(), "mailno": s.waybill_no, "orderid": s.order_id, "acceptTime": at, "acceptAddress": place, "remark": remark, "opCode": op})
            })
            .collect();
        (!steps.is_empty()).then(|| json!({"Body": {"WaybillRoute": steps}}))
    }
}

fn created(s: &SimShipment, filter: i64) -> Value {
    json!({
        "orderId": s.order_id, "originCode": "755", "destCode": "755", "filterResult": filter,
        "waybillNoInfoList": [{"waybillType": 1, "waybillNo": s.waybill_no}],
        "routeLabelInfo": [{"code": "1000", "routeLabelData": {"waybillNo": s.waybill_no, "destRouteLabel": "755WE-571A"}, "message": ""}],
    })
}

fn platform(code: &str, msg: &str) -> Response {
    Json(json!({"apiResponseID": "SIM", "apiResultCode": code, "apiErrorMsg": msg, "apiResultData": null})).into_response()
}

fn business(result: Result<Value, (String, String)>) -> Response {
    let data = match result {
        Ok(v) => json!({"success": true, "errorCode": "S0000", "errorMsg": null, "msgData": v}),
        Err((code, msg)) => json!({"success": false, "errorCode": code, "errorMsg": msg, "msgData": null}),
    };
    // The result is a JSON string on the wire (the create-order doc shows an object; the
    // connector reads both).
    Json(json!({"apiResponseID": "SIM", "apiResultCode": proto::ACCEPTED, "apiErrorMsg": "", "apiResultData": data.to_string()})).into_response()
}

async fn service(State(st): State<SharedCourier>, Form(f): Form<HashMap<String, String>>) -> Response {
    let mut g = st.lock().expect("courier lock");
    if g.faults.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let field = |k: &str| f.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let (Some(partner), Some(_), Some(code), Some(ts), Some(digest), Some(msg)) =
        (field("partnerID"), field("requestID"), field("serviceCode"), field("timestamp"), field("msgDigest"), field("msgData"))
    else {
        return platform("A1001", "必传参数不可为空");
    };
    if partner != g.cfg.partner_id || proto::msg_digest(msg, ts, &g.cfg.check_word) != digest {
        return platform("A1006", "数字签名无效");
    }
    let Ok(data) = serde_json::from_str::<Value>(msg) else { return platform("A1008", "数据解密失败") };
    let writes = code == proto::CREATE_ORDER || code == proto::UPDATE_ORDER;
    if writes && !g.faults.refuse_next.is_empty() {
        let (c, t) = g.faults.refuse_next.remove(0);
        return business(Err((c, t)));
    }
    let answer = match code {
        proto::CREATE_ORDER => g.create(&data),
        proto::UPDATE_ORDER => g.update(&data),
        proto::SEARCH_ROUTES => Ok(g.routes(&data)),
        _ => return platform("A1004", "无对应服务权限"),
    };
    if code == proto::CREATE_ORDER && g.faults.lose_answers > 0 {
        g.faults.lose_answers -= 1;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    business(answer)
}

async fn set_faults(State(st): State<SharedCourier>, Json(f): Json<CourierFaults>) -> StatusCode {
    st.lock().expect("courier lock").faults = f;
    StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct PushUrl {
    url: String,
}

async fn set_push_url(State(st): State<SharedCourier>, Json(p): Json<PushUrl>) -> StatusCode {
    st.lock().expect("courier lock").push_url = (!p.url.is_empty()).then_some(p.url);
    StatusCode::NO_CONTENT
}

async fn orders(State(st): State<SharedCourier>) -> Json<Vec<SimShipment>> {
    Json(st.lock().expect("courier lock").shipments.clone())
}

/// Moves a parcel one step on and pushes what the merchant has not taken; answers the new
/// step's opCode and whether the push was taken.
async fn advance(State(st): State<SharedCourier>, Path(waybill): Path<String>) -> Response {
    let (op, push, url) = {
        let mut g = st.lock().expect("courier lock");
        let op = g.advance(&waybill);
        (op, g.pending_push(&waybill), g.push_url.clone())
    };
    let Some(op) = op else { return (StatusCode::CONFLICT, "no further step").into_response() };
    let taken = match (push, url) {
        (Some(body), Some(url)) => push_to(&url, &body).await,
        _ => false,
    };
    if taken {
        let mut g = st.lock().expect("courier lock");
        if let Some(s) = g.shipments.iter_mut().find(|s| s.waybill_no == waybill) {
            s.pushed = s.routes.len();
        }
    }
    Json(json!({"opCode": op, "pushed": taken})).into_response()
}

async fn push_to(url: &str, body: &Value) -> bool {
    let Ok(r) = reqwest::Client::new().post(url).json(body).timeout(std::time::Duration::from_secs(5)).send().await else { return false };
    r.json::<Value>().await.is_ok_and(|v| v["return_code"] == "0000")
}

pub fn router(state: SharedCourier) -> Router {
    Router::new()
        .route("/std/service", post(service))
        .route("/__sim/courier/faults", post(set_faults))
        .route("/__sim/courier/push-url", post(set_push_url))
        .route("/__sim/courier/orders", get(orders))
        .route("/__sim/courier/{waybill}/advance", post(advance))
        .with_state(state)
}

/// The simulator on its own loopback port (tests; the demo wires it with the rest when
/// record copies ship): its `/std/service` URL and its state.
pub async fn start(cfg: CourierSimConfig, clock: Arc<dyn Clock>, port: u16) -> std::io::Result<(String, SharedCourier)> {
    let state = Arc::new(Mutex::new(CourierState::new(cfg, clock)));
    let (addr, _task) = crate::serve(router(state.clone()), port).await?;
    Ok((format!("http://{addr}"), state))
}
