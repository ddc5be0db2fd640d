//! Real-name verification (身份证二要素核验) through a licensed vendor; see
//! `sim::realname` for the shape, which is our choice where vendors differ [I].
use crate::http::HttpExecutor;
use async_trait::async_trait;
use domain::ports::RealNamePort;
use domain::{DomainError, ErrorCode};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct RealNameClientConfig {
    pub base_url: String,
    pub key: domain::Secret,
    pub timeout: Duration,
}

pub struct RealNameClient {
    cfg: RealNameClientConfig,
    http: HttpExecutor,
}

impl RealNameClient {
    pub fn new(cfg: RealNameClientConfig) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http }
    }
}

#[derive(Deserialize)]
struct Answer {
    code: String,
    result: Option<String>,
}

#[async_trait]
impl RealNamePort for RealNameClient {
    async fn verify(&self, name: &str, id_card_no: &str) -> Result<bool, DomainError> {
        let body = serde_json::json!({"name": name, "idCardNo": id_card_no}).to_string();
        let sign = hex::encode(crypto::mac::hmac_sha256(self.cfg.key.expose().as_bytes(), body.as_bytes()));
        let req = self
            .http
            .client()
            .post(format!("{}/realname/v1/idcard/verify", self.cfg.base_url.trim_end_matches('/')))
            .header("content-type", "application/json")
            .header("x-sign", sign)
            .body(body);
        let unavailable = |d: String| DomainError::new(ErrorCode::UpstreamUnavailable, d);
        let a: Answer =
            self.http.send(req).await.map_err(|e| unavailable(format!("realname: {e}")))?.json().map_err(|e| unavailable(format!("realname: {e}")))?;
        if a.code != "0" {
            return Err(unavailable(format!("realname refused code {}", a.code)));
        }
        match a.result.as_deref() {
            Some("1") => Ok(true),
            Some("2") | Some("3") => Ok(false),
            other => Err(unavailable(format!("realname result {other:?}"))),
        }
    }
}
