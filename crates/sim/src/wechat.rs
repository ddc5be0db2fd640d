//! The WeChat official-account web-authorisation simulator (网页授权, snsapi_base /
//! snsapi_userinfo): the consent page at `/connect/oauth2/authorize`, the code exchange
//! at `/sns/oauth2/access_token` and `/sns/userinfo`, with WeChat's field names and
//! error codes (40013 invalid appid, 40029 invalid code, 40163 code been used, 40125
//! invalid appsecret, 42001 access_token expired). On a phone the user is already signed
//! in to WeChat; here the consent page lets a tester pick which demo user they are.
use crate::demo::{self, WechatUser};
use axum::extract::{Form, Query, State};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Duration, Utc};
use domain::Clock;
use serde::Deserialize;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct WechatSimConfig {
    pub appid: String,
    pub secret: String,
}

impl Default for WechatSimConfig {
    fn default() -> Self {
        Self { appid: "wxdemo0000000001".into(), secret: "demo-wechat-app-secret".into() }
    }
}

struct Code {
    openid: String,
    scope: String,
    issued: DateTime<Utc>,
    used: bool,
}

pub struct WechatState {
    cfg: WechatSimConfig,
    clock: Arc<dyn Clock>,
    users: Vec<WechatUser>,
    codes: HashMap<String, Code>,
    tokens: HashMap<String, (String, DateTime<Utc>)>,
    /// The message API's state (`crate::wechat_msg`).
    pub messages: crate::wechat_msg::MessageState,
}

pub type SharedWechat = Arc<Mutex<WechatState>>;

impl WechatState {
    pub fn new(cfg: WechatSimConfig, clock: Arc<dyn Clock>) -> Self {
        Self { cfg, clock, users: demo::wechat_users(), codes: HashMap::new(), tokens: HashMap::new(), messages: crate::wechat_msg::MessageState::new() }
    }

    pub fn appid(&self) -> &str {
        &self.cfg.appid
    }
    pub fn secret(&self) -> &str {
        &self.cfg.secret
    }
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }
    pub fn knows_openid(&self, openid: &str) -> bool {
        self.users.iter().any(|u| u.openid == openid)
    }

    /// Issues a code for `openid` directly (what the consent page does), for tests that
    /// do not drive a browser.
    pub fn issue_code(&mut self, openid: &str, scope: &str) -> String {
        let code = hex::encode(crypto::random_bytes::<16>());
        self.codes.insert(code.clone(), Code { openid: openid.into(), scope: scope.into(), issued: self.clock.now(), used: false });
        code
    }
}

#[derive(Deserialize)]
struct AuthorizeQuery {
    appid: Option<String>,
    redirect_uri: Option<String>,
    response_type: Option<String>,
    scope: Option<String>,
    state: Option<String>,
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn error_page(msg: &str) -> Response {
    Html(format!("<!doctype html><meta charset=utf-8><meta name=viewport content='width=device-width'><title>微信授权</title><p style='font:16px sans-serif;padding:2em'>{}</p>", escape(msg))).into_response()
}

async fn authorize(State(st): State<SharedWechat>, Query(q): Query<AuthorizeQuery>) -> Response {
    let g = st.lock().expect("wechat lock");
    if q.appid.as_deref() != Some(g.cfg.appid.as_str()) {
        return error_page("appid 错误（40013）");
    }
    let (Some(redirect), Some(scope)) = (q.redirect_uri.as_deref(), q.scope.as_deref()) else {
        return error_page("参数错误：缺少 redirect_uri 或 scope");
    };
    if q.response_type.as_deref() != Some("code") || !matches!(scope, "snsapi_base" | "snsapi_userinfo") {
        return error_page("参数错误：response_type 或 scope");
    }
    let state = q.state.unwrap_or_default();
    let mut buttons = String::new();
    for u in &g.users {
        buttons.push_str(&format!(
            "<form method=post action='/connect/oauth2/authorize/confirm'><input type=hidden name=openid value='{o}'><input type=hidden name=redirect_uri value='{r}'><input type=hidden name=state value='{s}'><input type=hidden name=scope value='{sc}'><button type=submit data-openid='{o}'>以「{n}」身份授权登录</button></form>",
            o = escape(&u.openid), r = escape(redirect), s = escape(&state), sc = escape(scope), n = escape(&u.nickname)
        ));
    }
    Html(format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>微信授权（模拟）</title>\
         <style>body{{font:16px/1.5 system-ui,sans-serif;margin:0;background:#ededed}}main{{background:#fff;margin:12px;padding:16px;border-radius:8px}}button{{display:block;width:100%;margin:10px 0;padding:12px;font-size:16px;border:0;border-radius:6px;background:#07c160;color:#fff}}small{{color:#888}}</style>\
         <main><h1 style='font-size:18px'>微信登录授权（模拟器）</h1><p>申请获取你的公开信息（昵称、头像）。在真实微信中这一步由微信完成；此处请选择模拟的微信用户。</p>{buttons}<small>scope: {}</small></main></html>",
        escape(scope)
    ))
    .into_response()
}

#[derive(Deserialize)]
struct NewUser {
    openid: String,
    nickname: String,
}

/// Adds WeChat users (the flash-crowd benchmark signs in thousands of followers);
/// known openids are left as they are.
async fn add_users(State(st): State<SharedWechat>, axum::Json(users): axum::Json<Vec<NewUser>>) -> axum::http::StatusCode {
    let mut g = st.lock().expect("wechat lock");
    let known: std::collections::HashSet<String> = g.users.iter().map(|u| u.openid.clone()).collect();
    for u in users.into_iter().filter(|u| !known.contains(&u.openid)) {
        g.users.push(demo::WechatUser { unionid: format!("u-{}", u.openid), openid: u.openid, nickname: u.nickname, owner: None });
    }
    axum::http::StatusCode::NO_CONTENT
}

#[derive(Deserialize)]
struct Confirm {
    openid: String,
    redirect_uri: String,
    state: String,
    scope: String,
}

async fn confirm(State(st): State<SharedWechat>, Form(f): Form<Confirm>) -> Response {
    let mut g = st.lock().expect("wechat lock");
    if !g.users.iter().any(|u| u.openid == f.openid) {
        return error_page("未知用户");
    }
    let code = g.issue_code(&f.openid, &f.scope);
    let sep = if f.redirect_uri.contains('?') { '&' } else { '?' };
    let enc = |s: &str| -> String {
        s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
    };
    Redirect::to(&format!("{}{sep}code={}&state={}", f.redirect_uri, code, enc(&f.state))).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    appid: Option<String>,
    secret: Option<String>,
    code: Option<String>,
    grant_type: Option<String>,
}

fn wx_err(code: i64, msg: &str) -> Response {
    Json(json!({"errcode": code, "errmsg": msg})).into_response()
}

async fn access_token(State(st): State<SharedWechat>, Query(q): Query<TokenQuery>) -> Response {
    let mut g = st.lock().expect("wechat lock");
    if q.appid.as_deref() != Some(g.cfg.appid.as_str()) {
        return wx_err(40013, "invalid appid");
    }
    if q.secret.as_deref() != Some(g.cfg.secret.as_str()) {
        return wx_err(40125, "invalid appsecret");
    }
    if q.grant_type.as_deref() != Some("authorization_code") {
        return wx_err(40002, "invalid grant_type");
    }
    let now = g.clock.now();
    let Some(code) = q.code.as_deref().and_then(|c| g.codes.get_mut(c)) else {
        return wx_err(40029, "invalid code");
    };
    if code.used {
        return wx_err(40163, "code been used");
    }
    if now - code.issued > Duration::minutes(5) {
        return wx_err(40029, "invalid code");
    }
    code.used = true;
    let (openid, scope) = (code.openid.clone(), code.scope.clone());
    let token = hex::encode(crypto::random_bytes::<24>());
    g.tokens.insert(token.clone(), (openid.clone(), now + Duration::seconds(7200)));
    let unionid = g.users.iter().find(|u| u.openid == openid).map(|u| u.unionid.clone());
    Json(json!({"access_token": token, "expires_in": 7200, "refresh_token": hex::encode(crypto::random_bytes::<24>()), "openid": openid, "scope": scope, "is_snapshotuser": 0, "unionid": unionid})).into_response()
}

#[derive(Deserialize)]
struct UserInfoQuery {
    access_token: Option<String>,
    openid: Option<String>,
}

async fn userinfo(State(st): State<SharedWechat>, Query(q): Query<UserInfoQuery>) -> Response {
    let g = st.lock().expect("wechat lock");
    let Some((openid, exp)) = q.access_token.as_deref().and_then(|t| g.tokens.get(t)) else {
        return wx_err(40001, "invalid credential, access_token is invalid or not latest");
    };
    if *exp < g.clock.now() {
        return wx_err(42001, "access_token expired");
    }
    if q.openid.as_deref() != Some(openid.as_str()) {
        return wx_err(40003, "invalid openid");
    }
    let u = g.users.iter().find(|u| &u.openid == openid).expect("issued for a known user");
    Json(json!({"openid": u.openid, "nickname": u.nickname, "sex": 0, "province": "广东", "city": "深圳", "country": "中国", "headimgurl": "", "privilege": [], "unionid": u.unionid})).into_response()
}

pub fn router(state: SharedWechat) -> Router {
    Router::new()
        .route("/connect/oauth2/authorize", get(authorize))
        .route("/connect/oauth2/authorize/confirm", post(confirm))
        .route("/__sim/wechat/users", post(add_users))
        .route("/sns/oauth2/access_token", get(access_token))
        .route("/sns/userinfo", get(userinfo))
        .merge(crate::wechat_msg::router())
        .with_state(state)
}
