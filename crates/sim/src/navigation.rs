//! The in-hospital navigation system simulator (OTH-1): routes from the main entrance to
//! the demo hospital's places, `GET /nav/api/v1/route?from=&to=&appKey=` →
//! `{code, msg, data: {routeId, url, summary}}` [I], and the page the route opens on the
//! patient's phone (`/nav/route/{routeId}`), with the steps to walk.
use axum::extract::{Path, Query, State};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct NavigationSimConfig {
    pub app_key: String,
}

impl Default for NavigationSimConfig {
    fn default() -> Self {
        Self { app_key: "demo-nav-app-key".into() }
    }
}

/// Destination code, name, steps from the main entrance.
pub const PLACES: &[(&str, &str, &[&str])] = &[
    ("PHARMACY-W", "门诊西药房", &["门诊楼1楼大厅", "沿蓝色地标直行30米", "右转至西药房取药窗口"]),
    ("PHARMACY-C", "中药房", &["门诊楼1楼大厅", "乘扶梯至2楼", "左转至中药房"]),
    ("LAB-1", "检验科采血处", &["门诊楼1楼大厅", "乘电梯至2楼", "出电梯右转，沿绿色地标至采血处"]),
    ("CT-1", "放射科CT室", &["门诊楼1楼大厅", "经连廊至医技楼", "医技楼1楼左转至CT室"]),
    ("US-1", "超声科", &["门诊楼1楼大厅", "乘电梯至3楼", "出电梯左转至超声科候诊区"]),
    ("ADMIT", "住院服务中心", &["门诊楼1楼大厅", "沿黄色地标至住院楼", "住院楼1楼住院服务中心"]),
    ("OR-1", "手术室家属等候区", &["住院楼1楼大厅", "乘电梯至5楼", "出电梯直行至家属等候区"]),
];

pub struct NavState {
    pub cfg: NavigationSimConfig,
    pub base_url: String,
    pub requests: u64,
}

pub type SharedNav = Arc<Mutex<NavState>>;

#[derive(Deserialize)]
struct RouteQuery {
    from: Option<String>,
    to: Option<String>,
    #[serde(rename = "appKey")]
    app_key: Option<String>,
}

async fn route(State(st): State<SharedNav>, Query(q): Query<RouteQuery>) -> Json<serde_json::Value> {
    let mut g = st.lock().expect("nav lock");
    g.requests += 1;
    if q.app_key.as_deref() != Some(g.cfg.app_key.as_str()) {
        return Json(json!({"code": 401, "msg": "invalid appKey"}));
    }
    let from = q.from.unwrap_or_else(|| "ENTRANCE-MAIN".into());
    let Some((code, name, steps)) = PLACES.iter().find(|(c, _, _)| Some(*c) == q.to.as_deref()) else {
        return Json(json!({"code": 404, "msg": "unknown destination"}));
    };
    let route_id = format!("{from}~{code}");
    Json(json!({"code": 0, "msg": "ok", "data": {
        "routeId": route_id, "url": format!("{}/nav/route/{route_id}", g.base_url), "summary": format!("{} → {name}", steps.join(" → ")),
    }}))
}

async fn page(Path(route_id): Path<String>) -> Response {
    let to = route_id.split('~').nth(1).unwrap_or_default();
    let Some((_, name, steps)) = PLACES.iter().find(|(c, _, _)| *c == to) else {
        return Html("<!doctype html><meta charset=utf-8><p>路线不存在</p>".to_string()).into_response();
    };
    let items: String = steps.iter().enumerate().map(|(i, s)| format!("<li><b>{}</b> {s}</li>", i + 1)).collect();
    Html(format!(
        "<!doctype html><html lang=zh-CN><meta charset=utf-8><meta name=viewport content='width=device-width,initial-scale=1'><title>院内导航（模拟器）</title>\
         <style>body{{font:16px/1.6 system-ui,sans-serif;margin:0;background:#f4f6f8}}main{{margin:12px;padding:16px;background:#fff;border-radius:8px}}ol{{padding-left:0;list-style:none}}li{{padding:8px 0;border-bottom:1px solid #eee}}b{{display:inline-block;width:1.6em;height:1.6em;border-radius:50%;background:#1677ff;color:#fff;text-align:center;margin-right:6px}}</style>\
         <main><h1 style='font-size:18px'>前往：{name}</h1><ol id=steps>{items}</ol><p style='color:#888'>院内导航系统（模拟器）</p></main></html>"
    ))
    .into_response()
}

pub fn router(state: SharedNav) -> Router {
    Router::new().route("/nav/api/v1/route", get(route)).route("/nav/route/{route_id}", get(page)).with_state(state)
}
