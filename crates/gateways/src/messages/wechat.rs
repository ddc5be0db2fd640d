//! Official-account messages (protocols.md §5.1–5.2): the access token from
//! `/cgi-bin/token` (cached until shortly before it expires, refreshed once when WeChat
//! says 40001/42001), template messages at `/cgi-bin/message/template/send` and
//! official-account subscribe notices at `/cgi-bin/message/subscribe/bizsend`.
use super::transport_outcome;
use crate::http::HttpExecutor;
use async_trait::async_trait;
use domain::messages::{SendOutcome, classify_wechat};
use domain::ports::{WechatMessage, WechatMessagePort};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

#[derive(Clone, Debug)]
pub struct WechatMessageConfig {
    /// `https://api.weixin.qq.com` in production.
    pub api_base: String,
    pub appid: String,
    pub secret: domain::Secret,
    /// The mini-program a subscribe notice opens, if any (empty: the web page).
    pub miniprogram_appid: String,
    pub timeout: Duration,
}

pub struct WechatMessageClient {
    cfg: WechatMessageConfig,
    http: HttpExecutor,
    token: Mutex<Option<(String, Instant)>>,
}

#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    errcode: Option<i64>,
    errmsg: Option<String>,
}

#[derive(Deserialize)]
struct SendAnswer {
    errcode: Option<i64>,
    errmsg: Option<String>,
    msgid: Option<Value>,
}

enum Kind {
    Template,
    Subscribe,
}

impl WechatMessageClient {
    pub fn new(cfg: WechatMessageConfig) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http, token: Mutex::new(None) }
    }

    fn api(&self) -> &str {
        self.cfg.api_base.trim_end_matches('/')
    }

    /// The cached token, or a new one. Errors are outcomes already.
    async fn token(&self, refresh: bool) -> Result<String, SendOutcome> {
        let mut g = self.token.lock().await;
        if !refresh
            && let Some((t, until)) = g.as_ref()
            && *until > Instant::now()
        {
            return Ok(t.clone());
        }
        let req = self.http.client().get(format!("{}/cgi-bin/token", self.api())).query(&[
            ("grant_type", "client_credential"),
            ("appid", self.cfg.appid.as_str()),
            ("secret", self.cfg.secret.expose()),
        ]);
        let body = self.http.send(req).await.map_err(|e| match transport_outcome(e) {
            // Asking for a token changes nothing: a lost answer is simply worth retrying.
            SendOutcome::Unknown(d) => SendOutcome::Transient { code: "token_timeout".into(), detail: d },
            o => o,
        })?;
        let t: TokenAnswer = body.json().map_err(|e| SendOutcome::Transient { code: "token_malformed".into(), detail: e.to_string() })?;
        match (t.access_token, t.errcode.unwrap_or(0)) {
            (Some(tok), 0) => {
                // Renew five minutes early so a send never carries a token about to expire.
                let life = t.expires_in.unwrap_or(7200).saturating_sub(300).max(60);
                *g = Some((tok.clone(), Instant::now() + Duration::from_secs(life)));
                Ok(tok)
            }
            (_, code) => Err(classify_wechat(code, t.errmsg.as_deref().unwrap_or_default())
                .unwrap_or(SendOutcome::Permanent { code: "token".into(), detail: "no access_token".into() })),
        }
    }

    fn body(&self, kind: &Kind, m: &WechatMessage) -> Value {
        // The values arrive fitted to WeChat's field rules (app's template layer does it,
        // where it can also point the reader to the full text); this connector only speaks.
        let data: Map<String, Value> = m.data.iter().map(|(k, v)| (k.clone(), json!({ "value": v }))).collect();
        match kind {
            Kind::Template => json!({"touser": m.openid, "template_id": m.template_id, "url": m.url, "client_msg_id": m.client_msg_id, "data": data}),
            Kind::Subscribe => {
                let mut b = json!({"touser": m.openid, "template_id": m.template_id, "page": m.url, "data": data});
                if !self.cfg.miniprogram_appid.is_empty() {
                    b["miniprogram"] = json!({"appid": self.cfg.miniprogram_appid, "pagepath": m.url});
                }
                b
            }
        }
    }

    async fn send(&self, kind: Kind, m: &WechatMessage) -> SendOutcome {
        let path = match kind {
            Kind::Template => "/cgi-bin/message/template/send",
            Kind::Subscribe => "/cgi-bin/message/subscribe/bizsend",
        };
        let body = self.body(&kind, m);
        for refresh in [false, true] {
            let token = match self.token(refresh).await {
                Ok(t) => t,
                Err(o) => return o,
            };
            let req = self.http.client().post(format!("{}{path}", self.api())).query(&[("access_token", token.as_str())]).json(&body);
            let answer = match self.http.send(req).await {
                Ok(b) => b,
                Err(e) => return transport_outcome(e),
            };
            let a: SendAnswer = match answer.json() {
                Ok(a) => a,
                Err(e) => return SendOutcome::Unknown(format!("unreadable answer: {e}")),
            };
            let code = a.errcode.unwrap_or(0);
            // A token WeChat no longer accepts: fetch a new one and send once more.
            if !refresh && (code == 40001 || code == 42001) {
                continue;
            }
            return match classify_wechat(code, a.errmsg.as_deref().unwrap_or_default()) {
                None => SendOutcome::Sent(a.msgid.map(|v| v.to_string().trim_matches('"').to_owned()).unwrap_or_default()),
                Some(o) => o,
            };
        }
        SendOutcome::Transient { code: "40001".into(), detail: "access token refused twice".into() }
    }
}

#[async_trait]
impl WechatMessagePort for WechatMessageClient {
    async fn send_template(&self, m: &WechatMessage) -> SendOutcome {
        self.send(Kind::Template, m).await
    }
    async fn send_subscribe(&self, m: &WechatMessage) -> SendOutcome {
        self.send(Kind::Subscribe, m).await
    }
}
