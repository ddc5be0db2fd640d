//! The in-hospital navigation system (OTH-1). Vendors differ and publish nothing common
//! [I]; this connector speaks a small JSON API: `GET <base>/nav/api/v1/route?from=<entrance>
//! &to=<destination>&appKey=<key>` → `{code: 0, msg, data: {routeId, url, summary}}`.
//! Adapting to a vendor means another `NavigationPort`.
use crate::http::HttpExecutor;
use async_trait::async_trait;
use domain::ports::{NavRoute, NavigationPort};
use domain::{DomainError, ErrorCode};
use serde::Deserialize;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct NavigationConfig {
    pub base_url: String,
    pub app_key: domain::Secret,
    /// Where routes start (the main entrance's code).
    pub entrance: String,
    pub timeout: Duration,
}

pub struct NavigationClient {
    cfg: NavigationConfig,
    http: HttpExecutor,
}

impl NavigationClient {
    pub fn new(cfg: NavigationConfig) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RouteData {
    route_id: String,
    url: String,
    summary: String,
}

#[derive(Deserialize)]
struct Answer {
    code: i64,
    msg: Option<String>,
    data: Option<RouteData>,
}

#[async_trait]
impl NavigationPort for NavigationClient {
    async fn route_to(&self, destination: &str) -> Result<NavRoute, DomainError> {
        let req = self.http.client().get(format!("{}/nav/api/v1/route", self.cfg.base_url.trim_end_matches('/'))).query(&[
            ("from", self.cfg.entrance.as_str()),
            ("to", destination),
            ("appKey", self.cfg.app_key.expose()),
        ]);
        let body = self.http.send(req).await.map_err(|e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("navigation: {e}")))?;
        let a: Answer = body.json().map_err(|e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("navigation answer: {e}")))?;
        match (a.code, a.data) {
            (0, Some(d)) if d.url.starts_with("http") => Ok(NavRoute { route_id: d.route_id, url: d.url, summary: d.summary }),
            (code, _) => Err(DomainError::new(ErrorCode::NotFound, format!("navigation code {code}: {}", a.msg.unwrap_or_default()))),
        }
    }
}
