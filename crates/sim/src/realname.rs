//! A real-name verification service (身份证二要素核验): "does this name belong to this
//! ID number?" Hospitals buy this from a licensed vendor in front of the public-security
//! citizen database; vendors differ, so the shape here is our choice [I]:
//! `POST /realname/v1/idcard/verify` with `{"name","idCardNo"}`, signed like the HIS
//! (HMAC-SHA256 of the body in `X-Sign`), answering `{"code":"0","result":"1|2|3"}` —
//! 1 consistent, 2 inconsistent, 3 no such record.
use crate::demo::Citizen;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{Value, json};
use std::sync::Arc;

#[derive(Clone, Debug)]
pub struct RealNameSimConfig {
    pub key: String,
    /// Whether an ID number the registry does not know counts as consistent. The demo
    /// turns it on so testers can add anyone with a well-formed ID number; tests turn
    /// it off to see "no record".
    pub accept_unknown: bool,
}

impl Default for RealNameSimConfig {
    fn default() -> Self {
        Self { key: "demo-realname-key".into(), accept_unknown: true }
    }
}

pub struct RealNameState {
    pub cfg: RealNameSimConfig,
    pub registry: Vec<Citizen>,
}

async fn verify(State(st): State<Arc<RealNameState>>, headers: HeaderMap, body: Bytes) -> Response {
    let given = headers.get("x-sign").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !crypto::constant_time_eq(given.as_bytes(), crate::his::sign(&st.cfg.key, &body).as_bytes()) {
        return Json(json!({"code": "401", "message": "签名错误"})).into_response();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return Json(json!({"code": "400", "message": "报文格式错误"})).into_response();
    };
    let (Some(name), Some(id)) = (v.get("name").and_then(Value::as_str), v.get("idCardNo").and_then(Value::as_str)) else {
        return Json(json!({"code": "400", "message": "缺少参数"})).into_response();
    };
    let id = id.to_ascii_uppercase();
    let result = match st.registry.iter().find(|c| c.id_card_no == id) {
        Some(c) if c.name == name => "1",
        Some(_) => "2",
        None if st.cfg.accept_unknown => "1",
        None => "3",
    };
    Json(json!({"code": "0", "message": "成功", "result": result})).into_response()
}

pub fn router(state: Arc<RealNameState>) -> Router {
    Router::new().route("/realname/v1/idcard/verify", post(verify)).with_state(state)
}
