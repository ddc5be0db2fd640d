//! Cross-cutting layers: correlation ids, security headers, error normalisation,
//! same-origin checks for cookie-authenticated writes, and request metrics.
use crate::WebState;
use crate::error::{Flavour, Normalised, code_for_status, render_error};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, header};
use axum::middleware::Next;
use axum::response::Response;
use domain::ErrorCode;

/// The request's correlation id, in request extensions.
#[derive(Clone, Debug)]
pub struct CorrelationId(pub String);

fn acceptable_incoming_id(v: &str) -> bool {
    (8..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn flavour(path: &str, headers: &HeaderMap) -> Flavour {
    let wants_json = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("application/json") && !a.contains("text/html"));
    // The JSON interfaces answer JSON whatever the client accepts: hospital systems call
    // `/open/v1` without an Accept header and must still get the documented error body.
    if path.starts_with("/api/") || path.starts_with("/open/") || path.starts_with("/callbacks/") || wants_json { Flavour::Json } else { Flavour::Html }
}

/// Outermost layer: assigns the correlation id, opens the log span, and turns every
/// error response that is not yet in our format (axum rejections, 404 fallbacks, body
/// limits, panics caught below) into one.
pub async fn correlate_and_normalise(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_incoming_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| hex::encode(crypto::random_bytes::<12>()));
    let fl = flavour(req.uri().path(), req.headers());
    req.extensions_mut().insert(CorrelationId(id.clone()));
    let method = req.method().clone();
    // The path is logged without its query: queries can carry codes and tokens (S9).
    let path = req.uri().path().to_owned();
    let span = tracing::info_span!("http", correlation_id = %id, %method, path = %path);
    let started = std::time::Instant::now();
    let mut resp = tracing::Instrument::instrument(next.run(req), span.clone()).await;
    let status = resp.status();
    if (status.is_client_error() || status.is_server_error()) && resp.extensions().get::<Normalised>().is_none() {
        let code = resp.extensions().get::<ErrorCode>().copied().unwrap_or_else(|| code_for_status(status));
        let retry_after = resp.headers().get(header::RETRY_AFTER).cloned();
        resp = render_error(code, &id, fl);
        if let Some(r) = retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, r);
        }
    }
    span.in_scope(|| tracing::info!(status = resp.status().as_u16(), ms = started.elapsed().as_millis() as u64, "served"));
    if let Ok(v) = HeaderValue::from_str(&id) {
        resp.headers_mut().insert("x-request-id", v);
    }
    resp
}

/// Security headers on every response; pages that show personal data are not cached.
pub async fn security_headers(State(st): State<WebState>, req: Request, next: Next) -> Response {
    let is_docs = req.uri().path().starts_with("/api/docs");
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    h.insert("permissions-policy", HeaderValue::from_static("camera=(self), microphone=(), geolocation=()"));
    if !is_docs {
        h.insert(header::CONTENT_SECURITY_POLICY, st.csp.clone());
    }
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    h.remove(header::SERVER);
    resp
}

/// Refuses cross-site writes to cookie-authenticated routes: the `Origin` (or, lacking
/// it, the `Referer`) of a POST must be this site. SameSite=Lax cookies already stop
/// most of it; this closes the rest (older browsers, same-site subdomains).
pub async fn same_origin_writes(State(st): State<WebState>, req: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method {
        let host = req.headers().get(header::HOST).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
        let origin = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| req.headers().get(header::REFERER).and_then(|v| v.to_str().ok()).map(str::to_owned));
        if let Some(o) = origin {
            let o_host = o.split("://").nth(1).unwrap_or("").split('/').next().unwrap_or("");
            let allowed = o_host == host || st.public_origin.as_deref().is_some_and(|p| o.starts_with(p));
            if !allowed || o == "null" {
                let id = req.extensions().get::<CorrelationId>().map(|c| c.0.clone()).unwrap_or_default();
                return render_error(ErrorCode::CsrfRejected, &id, flavour(req.uri().path(), req.headers()));
            }
        }
    }
    next.run(req).await
}

/// Request counts and latencies by route template (never by raw path: ids would
/// explode the label space).
pub async fn http_metrics(req: Request, next: Next) -> Response {
    let route = req.extensions().get::<MatchedPath>().map(|m| m.as_str().to_owned()).unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("carebridge_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status).increment(1);
    metrics::histogram!("carebridge_http_request_seconds", "route" => route, "method" => method).record(started.elapsed().as_secs_f64());
    resp
}
