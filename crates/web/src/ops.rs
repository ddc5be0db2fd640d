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
    ([("content-type", "text/plain; version=0.0.4")], st.metrics.render()).into_response()
}
