//! An SMS provider simulator speaking both shapes of protocols.md §5.3 on one port:
//! Aliyun `SendSms` (RPC: a form POST to `/` with `Action=SendSms`, HMAC-SHA1 signature,
//! nonce replay refused, answers `{Code, Message, BizId, RequestId}`) and Tencent Cloud
//! `SendSms` 2021-01-11 (JSON POST with `X-TC-Action` and TC3-HMAC-SHA256, answers
//! `Response.SendStatusSet[]` or `Response.Error`). Every accepted SMS is logged at
//! `/__sim/sms/messages`; outages and error codes are injected at `/__sim/sms/faults`.
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use domain::Clock;
use gateways::messages::sms::{aliyun_signature, tencent_signature};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct SmsSimConfig {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub sign_name: String,
    pub sdk_app_id: String,
}

impl Default for SmsSimConfig {
    fn default() -> Self {
        Self {
            access_key_id: "LTAIdemo0000000001".into(),
            access_key_secret: "demo-sms-access-key-secret".into(),
            sign_name: "深圳市民医院".into(),
            sdk_app_id: "1400000001".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct SentSms {
    pub provider: String,
    pub phone: String,
    pub sign_name: String,
    pub template_code: String,
    pub params: Vec<String>,
    pub out_id: String,
    pub biz_id: String,
    pub at: DateTime<Utc>,
}

/// Injected faults.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SmsFaults {
    /// `"hang"` (wait `hang_ms`, then 504) or `"5xx"`.
    #[serde(default)]
    pub down: Option<String>,
    #[serde(default)]
    pub hang_ms: u64,
    /// The next sends answer these provider codes.
    #[serde(default)]
    pub fail_next: Vec<String>,
}

pub struct SmsState {
    cfg: SmsSimConfig,
    clock: Arc<dyn Clock>,
    pub sent: Vec<SentSms>,
    pub faults: SmsFaults,
    nonces: HashSet<String>,
    templates: HashSet<String>,
    seq: u64,
}

pub type SharedSms = Arc<Mutex<SmsState>>;

impl SmsState {
    pub fn new(cfg: SmsSimConfig, clock: Arc<dyn Clock>) -> Self {
        let templates = domain::messages::SCENES.iter().map(|s| domain::messages::default_provider_template(domain::messages::Channel::Sms, s.code)).collect();
        Self { cfg, clock, sent: vec![], faults: SmsFaults::default(), nonces: HashSet::new(), templates, seq: 0 }
    }
}

impl SmsState {
    /// Logs an accepted SMS; returns the provider's id for it, made by `id_of(seq)`.
    fn accept(&mut self, provider: &str, phone: String, template_code: String, params: Vec<String>, out_id: String, id_of: impl Fn(u64) -> String) -> String {
        self.seq += 1;
        let biz_id = id_of(self.seq);
        let (sign_name, at) = (self.cfg.sign_name.clone(), self.clock.now());
        self.sent.push(SentSms { provider: provider.into(), phone, sign_name, template_code, params, out_id, biz_id: biz_id.clone(), at });
        biz_id
    }
}

fn valid_mobile(p: &str) -> bool {
    p.len() == 11 && p.starts_with('1') && p.bytes().all(|b| b.is_ascii_digit())
}

async fn send(State(st): State<SharedSms>, headers: HeaderMap, body: Bytes) -> Response {
    let (mode, hang_ms) = {
        let g = st.lock().expect("sms lock");
        (g.faults.down.clone(), g.faults.hang_ms)
    };
    if let Some(r) = crate::outage(mode.as_deref(), hang_ms).await {
        return r;
    }
    if headers.contains_key("x-tc-action") { tencent(&st, &headers, &body) } else { aliyun(&st, &body) }
}

fn aliyun(st: &SharedSms, body: &[u8]) -> Response {
    let form: Vec<(String, String)> = url_form(body);
    let get = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let request_id = hex::encode(crypto::random_bytes::<8>());
    let err = |code: &str, msg: &str| Json(json!({"Code": code, "Message": msg, "RequestId": request_id})).into_response();
    let mut g = st.lock().expect("sms lock");
    if get("Action") != "SendSms" || get("Version") != "2017-05-25" {
        return err("InvalidAction.NotFound", "Specified api is not found");
    }
    if get("AccessKeyId") != g.cfg.access_key_id {
        return err("InvalidAccessKeyId.NotFound", "Specified access key is not found.");
    }
    if get("Signature") != aliyun_signature("POST", &form, &g.cfg.access_key_secret) {
        return err("SignatureDoesNotMatch", "Specified signature is not matched with our calculation.");
    }
    if !g.nonces.insert(get("SignatureNonce")) {
        return err("SignatureNonceUsed", "Specified signature nonce was used already.");
    }
    if !g.faults.fail_next.is_empty() {
        let code = g.faults.fail_next.remove(0);
        return err(&code, "injected");
    }
    let phone = get("PhoneNumbers");
    if !valid_mobile(&phone) {
        return err("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号");
    }
    if get("SignName") != g.cfg.sign_name {
        return err("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法");
    }
    let template_code = get("TemplateCode");
    if !g.templates.contains(&template_code) {
        return err("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法");
    }
    let Ok(Value::Object(params)) = serde_json::from_str::<Value>(&get("TemplateParam")) else {
        return err("isv.INVALID_JSON_PARAM", "JSON参数不合法");
    };
    let params = params.values().map(|v| v.as_str().unwrap_or_default().to_owned()).collect();
    let biz_id = g.accept("aliyun", phone, template_code, params, get("OutId"), |seq| format!("{}^{seq}", 900_000_000 + seq));
    Json(json!({"Code": "OK", "Message": "OK", "BizId": biz_id, "RequestId": request_id})).into_response()
}

fn tencent(st: &SharedSms, headers: &HeaderMap, body: &[u8]) -> Response {
    let h = |k: &str| headers.get(k).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    let request_id = hex::encode(crypto::random_bytes::<16>());
    let err = |code: &str, msg: &str| Json(json!({"Response": {"Error": {"Code": code, "Message": msg}, "RequestId": request_id}})).into_response();
    let mut g = st.lock().expect("sms lock");
    let body_text = String::from_utf8_lossy(body).to_string();
    let Ok(ts) = h("x-tc-timestamp").parse::<i64>() else { return err("MissingParameter", "X-TC-Timestamp") };
    let Some(at) = DateTime::<Utc>::from_timestamp(ts, 0) else { return err("InvalidParameter", "X-TC-Timestamp") };
    if (g.clock.now() - at).num_seconds().abs() > 300 {
        return err("AuthFailure.SignatureExpire", "Signature expired");
    }
    let auth = h("authorization");
    let expected_prefix = format!(
        "TC3-HMAC-SHA256 Credential={}/{}/sms/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature=",
        g.cfg.access_key_id,
        at.format("%Y-%m-%d")
    );
    let sig = tencent_signature(&g.cfg.access_key_secret, &h("host"), &h("x-tc-action"), &body_text, at);
    if auth != format!("{expected_prefix}{sig}") {
        return err("AuthFailure.SignatureFailure", "The provided credentials could not be validated.");
    }
    if h("x-tc-action") != "SendSms" || h("x-tc-version") != "2021-01-11" {
        return err("InvalidAction", "action");
    }
    if !g.faults.fail_next.is_empty() {
        let code = g.faults.fail_next.remove(0);
        return err(&code, "injected");
    }
    let Ok(req) = serde_json::from_str::<Value>(&body_text) else { return err("InvalidParameter", "body") };
    if req["SmsSdkAppId"].as_str() != Some(g.cfg.sdk_app_id.as_str()) {
        return err("FailedOperation.SmsSdkAppIdVerifyFail", "SmsSdkAppId");
    }
    if req["SignName"].as_str() != Some(g.cfg.sign_name.as_str()) {
        return err("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批或格式错误");
    }
    let template_code = req["TemplateId"].as_str().unwrap_or_default().to_owned();
    if !g.templates.contains(&template_code) {
        return err("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批或内容不匹配");
    }
    let phone_e164 = req["PhoneNumberSet"][0].as_str().unwrap_or_default().to_owned();
    let phone = phone_e164.trim_start_matches("+86").to_owned();
    if !valid_mobile(&phone) {
        return err("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误");
    }
    let session = req["SessionContext"].as_str().unwrap_or_default().to_owned();
    let params = req["TemplateParamSet"].as_array().map(|a| a.iter().map(|v| v.as_str().unwrap_or_default().to_owned()).collect()).unwrap_or_default();
    let serial = g.accept("tencent", phone, template_code, params, session.clone(), |seq| format!("2645:{:019}", 10_000 + seq));
    Json(json!({"Response": {"SendStatusSet": [{"SerialNo": serial, "PhoneNumber": phone_e164, "Fee": 1, "SessionContext": session, "Code": "Ok", "Message": "send success", "IsoCode": "CN"}], "RequestId": request_id}}))
        .into_response()
}

/// `application/x-www-form-urlencoded` pairs, decoded.
fn url_form(body: &[u8]) -> Vec<(String, String)> {
    let dec = |s: &str| -> String {
        let b = s.as_bytes();
        let mut out = Vec::with_capacity(b.len());
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'+' => out.push(b' '),
                b'%' if i + 2 < b.len() => {
                    if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                        out.push(v);
                        i += 2;
                    } else {
                        out.push(b'%');
                    }
                }
                c => out.push(c),
            }
            i += 1;
        }
        String::from_utf8_lossy(&out).into_owned()
    };
    String::from_utf8_lossy(body)
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (dec(k), dec(v))
        })
        .collect()
}

async fn set_faults(State(st): State<SharedSms>, Json(f): Json<SmsFaults>) -> StatusCode {
    st.lock().expect("sms lock").faults = f;
    StatusCode::NO_CONTENT
}

async fn log(State(st): State<SharedSms>) -> Json<Vec<SentSms>> {
    Json(st.lock().expect("sms lock").sent.clone())
}

pub fn router(state: SharedSms) -> Router {
    Router::new().route("/", post(send)).route("/__sim/sms/faults", post(set_faults)).route("/__sim/sms/messages", get(log)).with_state(state)
}
