//! Liveness, readiness and metrics for the load balancer and Prometheus.
use crate::WebState;
use axum::Json;
use axum::extract::{ConnectInfo, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use std::net::SocketAddr;

/// The process is up.
pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// The process can serve: the database answers. (HIS trouble does not make a node
/// unready: every node would drop out at once.)
pub async fn readyz(State(st): State<WebState>) -> Response {
    match tokio::time::timeout(std::time::Duration::from_secs(2), st.app.ready()).await {
        Ok(Ok(())) => Json(json!({"status": "ready"})).into_response(),
        _ => (StatusCode::SERVICE_UNAVAILABLE, Json(json!({"status": "not ready", "code": "STORE_UNAVAILABLE"}))).into_response(),
    }
}

/// Prometheus text format. Only from loopback unless settings allow more.
pub async fn metrics(State(st): State<WebState>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if !st.metrics_public && !peer.ip().is_loopback() {
        return StatusCode::NOT_FOUND.into_response();
    }
    // Personal data the store has opened to hand out, by kind (S10): an operator can hold
    // it against the audit trail's sensitive-read rows.
    let c = st.app.operational_counts().await;
    for (kind, n) in [
        ("identity", c.identity_disclosures),
        ("mobile", c.mobile_disclosures),
        ("child_identity", c.child_identity_disclosures),
        ("report_file", c.report_file_disclosures),
    ] {
        metrics::counter!("carebridge_disclosures_total", "kind" => kind).absolute(n);
    }
    if let (Some(pending), Some(dead)) = (c.outbox_pending, c.outbox_dead) {
        metrics::gauge!("carebridge_outbox_jobs", "state" => "pending").set(pending as f64);
        metrics::gauge!("carebridge_outbox_jobs", "state" => "dead").set(dead as f64);
    }
    if let Some(due) = c.outbox_due {
        metrics::gauge!("carebridge_outbox_jobs", "state" => "due").set(due as f64);
    }
    metrics::gauge!("carebridge_db_connections", "state" => "open").set(f64::from(c.db_connections_open));
    metrics::gauge!("carebridge_db_connections", "state" => "idle").set(f64::from(c.db_connections_idle));
    ([("content-type", "text/plain; version=0.0.4")], st.metrics.render()).into_response()
}

/// A browser's report of a Content-Security-Policy violation (the policy's `report-uri`):
/// counted by directive and logged with the page's path (never its query), so a page
/// that breaks under the CSP shows on `/metrics` — and fails the browser tests.
pub async fn csp_report(body: axum::body::Bytes) -> StatusCode {
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    let r = &v["csp-report"];
    let directive = r["effective-directive"].as_str().or_else(|| r["violated-directive"].as_str()).unwrap_or("unknown");
    // Only the directive's name is a label (bounded); the rest goes to the log.
    let name = directive.split_whitespace().next().unwrap_or("unknown");
    let name = if name.len() <= 32 && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-') { name.to_owned() } else { "unknown".to_owned() };
    let page = r["document-uri"].as_str().unwrap_or_default();
    let page = page.split(['?', '#']).next().unwrap_or_default().chars().take(200).collect::<String>();
    let blocked = r["blocked-uri"].as_str().unwrap_or_default().split(['?', '#']).next().unwrap_or_default().chars().take(100).collect::<String>();
    tracing::warn!(directive = %name, page = %page, blocked = %blocked, "content security policy violation");
    metrics::counter!("carebridge_csp_violations_total", "directive" => name).increment(1);
    StatusCode::NO_CONTENT
}
