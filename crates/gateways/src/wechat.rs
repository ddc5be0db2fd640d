//! WeChat official-account web authorisation (网页授权): build the authorise URL, then
//! exchange the one-time code at `/sns/oauth2/access_token`. WeChat answers errors as
//! `{"errcode", "errmsg"}` with HTTP 200, so the body decides.
use crate::http::HttpExecutor;
use async_trait::async_trait;
use domain::ports::{WechatIdentity, WechatOAuthPort};
use domain::{DomainError, ErrorCode};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct WechatOAuthConfig {
    /// Where the browser goes (`https://open.weixin.qq.com` in production).
    pub authorize_base: String,
    /// Where the server calls (`https://api.weixin.qq.com` in production).
    pub api_base: String,
    pub appid: String,
    pub secret: domain::Secret,
    /// `snsapi_base` (silent) or `snsapi_userinfo` (asks for the nickname).
    pub scope: String,
    pub timeout: Duration,
}

pub struct WechatOAuthClient {
    cfg: WechatOAuthConfig,
    http: HttpExecutor,
}

impl WechatOAuthClient {
    pub fn new(cfg: WechatOAuthConfig) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http }
    }
}

use domain::format::url_encode;

#[derive(Deserialize)]
struct TokenAnswer {
    errcode: Option<i64>,
    errmsg: Option<String>,
    access_token: Option<String>,
    openid: Option<String>,
    unionid: Option<String>,
}

#[derive(Deserialize)]
struct UserInfo {
    errcode: Option<i64>,
    nickname: Option<String>,
}

#[async_trait]
impl WechatOAuthPort for WechatOAuthClient {
    fn authorize_url(&self, redirect_uri: &str, state: &str) -> String {
        format!(
            "{}/connect/oauth2/authorize?appid={}&redirect_uri={}&response_type=code&scope={}&state={}#wechat_redirect",
            self.cfg.authorize_base.trim_end_matches('/'),
            url_encode(&self.cfg.appid),
            url_encode(redirect_uri),
            url_encode(&self.cfg.scope),
            url_encode(state)
        )
    }

    async fn exchange_code(&self, code: &str) -> Result<WechatIdentity, DomainError> {
        let fail = |d: String| DomainError::new(ErrorCode::WechatAuthFailed, d);
        let api = self.cfg.api_base.trim_end_matches('/');
        let req = self.http.client().get(format!("{api}/sns/oauth2/access_token")).query(&[
            ("appid", self.cfg.appid.as_str()),
            ("secret", self.cfg.secret.expose()),
            ("code", code),
            ("grant_type", "authorization_code"),
        ]);
        let body = self.http.send(req).await.map_err(|e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("wechat token: {e}")))?;
        let t: TokenAnswer = body.json().map_err(|e| fail(format!("wechat token malformed: {e}")))?;
        if let Some(c) = t.errcode.filter(|c| *c != 0) {
            return Err(fail(format!("wechat token errcode {c}: {}", t.errmsg.unwrap_or_default())));
        }
        let (Some(token), Some(openid)) = (t.access_token, t.openid) else {
            return Err(fail("wechat token answer lacks access_token/openid".into()));
        };
        if openid.is_empty() || openid.len() > 64 {
            return Err(fail("wechat openid out of shape".into()));
        }
        let mut nickname = None;
        if self.cfg.scope == "snsapi_userinfo" {
            let req = self.http.client().get(format!("{api}/sns/userinfo")).query(&[
                ("access_token", token.as_str()),
                ("openid", openid.as_str()),
                ("lang", "zh_CN"),
            ]);
            // The nickname is a nicety: a failure here does not fail the login.
            if let Ok(body) = self.http.send(req).await
                && let Ok(u) = body.json::<UserInfo>()
                && u.errcode.unwrap_or(0) == 0
            {
                nickname = u.nickname.map(|n| n.chars().take(32).collect());
            }
        }
        Ok(WechatIdentity { openid, unionid: t.unionid, nickname })
    }
}
