//! The official account's message API (protocols.md §5.1–5.2), served on the same host as
//! the web authorisation: `/cgi-bin/token` (client-credential access token, 7200 s),
//! `/cgi-bin/message/template/send` and `/cgi-bin/message/subscribe/bizsend`, with
//! WeChat's error codes — 40001/42001 bad or expired token, 40003 unknown openid, 40037
//! unknown template, 43004 the user does not follow the account, 43101 no subscribe grant
//! (a grant allows one send), 45009 daily quota, 47003 a value breaking its field type's rule
//! (`domain::messages::wechat_fields::check`, on both kinds, as protocols-wave2 §5 says).
//! `client_msg_id` makes a repeated template send return the first message id [I].
//! Tests and the demo see every accepted message at `/__sim/wechat/messages` (JSON) and
//! as a phone's "service notifications" list at `/__sim/wechat/inbox?openid=…`, and inject
//! an outage (hanging, then 5xx) or error codes at `/__sim/wechat/faults`.
use crate::wechat::SharedWechat;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};

/// A message the simulated WeChat accepted.
#[derive(Clone, Debug, Serialize)]
pub struct SentWechat {
    pub msgid: u64,
    pub kind: String,
    pub openid: String,
    pub template_id: String,
    pub url: String,
    pub client_msg_id: Option<String>,
    pub data: Vec<(String, String)>,
    pub at: DateTime<Utc>,
}

/// Injected faults (`POST /__sim/wechat/faults`).
#[derive(Clone, Debug, Default, Deserialize)]
pub struct MessageFaults {
    /// `"hang"`: requests wait `hang_ms` and get 504 (a timeout to the caller);
    /// `"5xx"`: 503 at once. Nothing is sent while down.
    #[serde(default)]
    pub down: Option<String>,
    #[serde(default)]
    pub hang_ms: u64,
    /// The next sends answer these errcodes, in order.
    #[serde(default)]
    pub fail_next: Vec<i64>,
    /// The next sends are accepted, then answered after `hang_ms` with 504.
    #[serde(default)]
    pub lose_response_next: u32,
    /// Users who do not follow the account (template sends give 43004).
    #[serde(default)]
    pub unfollowed: Vec<String>,
    /// Users who granted one subscribe message (each grant allows one send).
    #[serde(default)]
    pub subscribe_grants: Vec<String>,
}

#[derive(Default)]
pub struct MessageState {
    pub token: Option<(String, DateTime<Utc>)>,
    pub sent: Vec<SentWechat>,
    pub faults: MessageFaults,
    pub by_client_msg_id: HashMap<String, u64>,
    pub grants: HashMap<String, u32>,
    pub unfollowed: HashSet<String>,
    /// Template ids registered in the (simulated) WeChat admin.
    pub templates: HashSet<String>,
    next_msgid: u64,
}

impl MessageState {
    pub fn new() -> Self {
        let mut templates = HashSet::new();
        for s in domain::messages::SCENES {
            templates.insert(domain::messages::default_provider_template(domain::messages::Channel::WechatTemplate, s.code));
            templates.insert(domain::messages::default_provider_template(domain::messages::Channel::WechatSubscribe, s.code));
        }
        Self { templates, next_msgid: 3_000_000_001, ..Default::default() }
    }
}

#[derive(Deserialize)]
struct TokenQuery {
    grant_type: Option<String>,
    appid: Option<String>,
    secret: Option<String>,
}

fn wx(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": msg})).into_response()
}

async fn token(State(st): State<SharedWechat>, Query(q): Query<TokenQuery>) -> Response {
    let mut g = st.lock().expect("wechat lock");
    if q.grant_type.as_deref() != Some("client_credential") {
        return wx(40002, "invalid grant_type");
    }
    if q.appid.as_deref() != Some(g.appid()) {
        return wx(40013, "invalid appid");
    }
    if q.secret.as_deref() != Some(g.secret()) {
        return wx(40125, "invalid appsecret");
    }
    let now = g.now();
    let t = hex::encode(crypto::random_bytes::<20>());
    g.messages.token = Some((t.clone(), now + Duration::seconds(7200)));
    Json(json!({"access_token": t, "expires_in": 7200})).into_response()
}

#[derive(Deserialize)]
struct SendQuery {
    access_token: Option<String>,
}

async fn send(st: SharedWechat, q: SendQuery, body: Value, kind: &'static str) -> Response {
    let (mode, hang_ms) = {
        let g = st.lock().expect("wechat lock");
        (g.messages.faults.down.clone(), g.messages.faults.hang_ms)
    };
    if let Some(r) = crate::outage(mode.as_deref(), hang_ms).await {
        return r;
    }
    let (answer, hang) = {
        let mut g = st.lock().expect("wechat lock");
        let now = g.now();
        let valid = matches!(&g.messages.token, Some((t, exp)) if Some(t.as_str()) == q.access_token.as_deref() && *exp > now);
        if !valid {
            return wx(40001, "invalid credential, access_token is invalid or not latest");
        }
        if !g.messages.faults.fail_next.is_empty() {
            let code = g.messages.faults.fail_next.remove(0);
            return wx(code, "injected");
        }
        let openid = body["touser"].as_str().unwrap_or_default().to_owned();
        if !g.knows_openid(&openid) {
            return wx(40003, "invalid openid");
        }
        let template_id = body["template_id"].as_str().unwrap_or_default().to_owned();
        if !g.messages.templates.contains(&template_id) {
            return wx(40037, "invalid template_id");
        }
        let data: Vec<(String, String)> = body["data"]
            .as_object()
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v["value"].as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        // Both kinds hold every value to its type's rule, naming the key as WeChat does.
        for (k, v) in &data {
            if domain::messages::wechat_fields::check(k, v).is_err() {
                return wx(47003, &format!("argument invalid! data.{k}.value invalid rid: sim"));
            }
        }
        if kind == "template" {
            if g.messages.unfollowed.contains(&openid) || g.messages.faults.unfollowed.contains(&openid) {
                return wx(43004, "require subscribe");
            }
        } else {
            let granted = g.messages.faults.subscribe_grants.iter().filter(|o| **o == openid).count() as u32;
            let used = g.messages.grants.get(&openid).copied().unwrap_or(0);
            if used >= granted {
                return wx(43101, "user refuse to accept the msg");
            }
            *g.messages.grants.entry(openid.clone()).or_default() += 1;
        }
        let client_msg_id = body["client_msg_id"].as_str().filter(|s| !s.is_empty()).map(str::to_owned);
        if let Some(prev) = client_msg_id.as_ref().and_then(|c| g.messages.by_client_msg_id.get(c)) {
            return Json(json!({"errcode": 0, "errmsg": "ok", "msgid": prev})).into_response();
        }
        let msgid = g.messages.next_msgid;
        g.messages.next_msgid += 1;
        let url = body["url"].as_str().or(body["page"].as_str()).unwrap_or_default().to_owned();
        if let Some(c) = &client_msg_id {
            g.messages.by_client_msg_id.insert(c.clone(), msgid);
        }
        g.messages.sent.push(SentWechat { msgid, kind: kind.into(), openid, template_id, url, client_msg_id, data, at: now });
        let hang = if g.messages.faults.lose_response_next > 0 {
            g.messages.faults.lose_response_next -= 1;
            Some(g.messages.faults.hang_ms.max(1))
        } else {
            None
        };
        (json!({"errcode": 0, "errmsg": "ok", "msgid": msgid}), hang)
    };
    if let Some(ms) = hang {
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        return StatusCode::GATEWAY_TIMEOUT.into_response();
    }
    Json(answer).into_response()
}

async fn template_send(State(st): State<SharedWechat>, Query(q): Query<SendQuery>, Json(body): Json<Value>) -> Response {
    send(st, q, body, "template").await
}

async fn subscribe_send(State(st): State<SharedWechat>, Query(q): Query<SendQuery>, Json(body): Json<Value>) -> Response {
    send(st, q, body, "subscribe").await
}

async fn set_faults(State(st): State<SharedWechat>, Json(f): Json<MessageFaults>) -> StatusCode {
    st.lock().expect("wechat lock").messages.faults = f;
    StatusCode::NO_CONTENT
}

async fn log(State(st): State<SharedWechat>) -> Json<Vec<SentWechat>> {
    Json(st.lock().expect("wechat lock").messages.sent.clone())
}

#[derive(Deserialize)]
struct InboxQuery {
    openid: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

/// What the patient's phone shows under 服务通知: each message with its fields and the
/// page it opens.
async fn inbox(State(st): State<SharedWechat>, Query(q): Query<InboxQuery>) -> Html<String> {
    let g = st.lock().expect("wechat lock");
    let mut items = String::new();
    for m in g.messages.sent.iter().rev().filter(|m| q.openid.as_deref().is_none_or(|o| o == m.openid)) {
        let fields: String = m.data.iter().map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v))).collect();
        let at = domain::clock::to_local(m.at).format("%m-%d %H:%M");
        items.push_str(&format!(
            "<li class=msg data-template='{t}'><small>{at} · {kind} · {t}</small><dl>{fields}</dl><a class=open href='{u}'>详情</a></li>",
            t = escape(&m.template_id),
            kind = if m.kind == "template" { "模板消息" } else { "订阅消息" },
            u = escape(&m.url)
        ));
    }
    if items.is_empty() {
        items.push_str("<li>暂无消息</li>");
    }
    Html(format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>服务通知（模拟器）</title>\
         <style>body{{font:15px/1.5 system-ui,sans-serif;margin:0;background:#ededed}}h1{{font-size:17px;margin:12px}}ul{{list-style:none;margin:0;padding:0 12px}}li{{background:#fff;border-radius:8px;margin:0 0 10px;padding:12px}}dl{{margin:6px 0;display:grid;grid-template-columns:auto 1fr;gap:2px 10px}}dt{{color:#888}}dd{{margin:0}}a{{color:#576b95}}small{{color:#999}}</style>\
         <h1>服务通知（微信模拟器）</h1><ul>{items}</ul></html>"
    ))
}

pub fn router() -> Router<SharedWechat> {
    Router::new()
        .route("/cgi-bin/token", get(token))
        .route("/cgi-bin/message/template/send", post(template_send))
        .route("/cgi-bin/message/subscribe/bizsend", post(subscribe_send))
        .route("/__sim/wechat/faults", post(set_faults))
        .route("/__sim/wechat/messages", get(log))
        .route("/__sim/wechat/inbox", get(inbox))
}
