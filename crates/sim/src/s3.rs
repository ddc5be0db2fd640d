//! An S3-compatible object store (what MinIO, AWS S3, or Aliyun OSS / Tencent COS in
//! their S3 modes answer): path-style `PUT`/`GET`/`DELETE /{bucket}/{key}`, every
//! request checked for a valid Signature Version 4 over the headers it signs and the
//! body's SHA-256, errors as S3's XML. Objects live in memory.
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use chrono::{NaiveDateTime, TimeZone, Utc};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

#[derive(Clone, Debug)]
pub struct S3SimConfig {
    pub bucket: String,
    pub region: String,
    pub access_key: String,
    pub secret_key: String,
}

impl Default for S3SimConfig {
    fn default() -> Self {
        Self {
            bucket: "carebridge-reports".into(),
            region: "cn-south-1".into(),
            access_key: "DEMOACCESSKEY0000001".into(),
            secret_key: "demo-s3-secret-key-0000000000000000000001".into(),
        }
    }
}

pub struct S3State {
    pub cfg: S3SimConfig,
    pub objects: HashMap<String, Vec<u8>>,
    /// Requests refused for their signature (for tests).
    pub refused: u32,
}

pub type SharedS3 = Arc<Mutex<S3State>>;

pub fn state(cfg: S3SimConfig) -> SharedS3 {
    Arc::new(Mutex::new(S3State { cfg, objects: HashMap::new(), refused: 0 }))
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        [("content-type", "application/xml")],
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>{code}</Code><Message>{message}</Message></Error>"),
    )
        .into_response()
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

/// Recomputes the request's signature from what it says it signed.
fn signature_ok(cfg: &S3SimConfig, method: &Method, path: &str, headers: &HeaderMap, body: &[u8]) -> Result<(), &'static str> {
    let auth = header(headers, "authorization");
    let signed = auth.split("SignedHeaders=").nth(1).and_then(|s| s.split(',').next()).ok_or("no SignedHeaders")?;
    if !auth.contains(&format!("Credential={}/", cfg.access_key)) {
        return Err("unknown access key");
    }
    let payload = header(headers, "x-amz-content-sha256");
    if payload != hex::encode(crypto::mac::sha256(body)) {
        return Err("body does not match x-amz-content-sha256");
    }
    let at = NaiveDateTime::parse_from_str(header(headers, "x-amz-date"), "%Y%m%dT%H%M%SZ").map_err(|_| "bad x-amz-date")?;
    let at = Utc.from_utc_datetime(&at);
    if (Utc::now() - at).num_minutes().abs() > 15 {
        return Err("request time too skewed");
    }
    let names: Vec<&str> = signed.split(';').collect();
    if !["host", "x-amz-content-sha256", "x-amz-date"].iter().all(|n| names.contains(n)) {
        return Err("host, x-amz-content-sha256 and x-amz-date must be signed");
    }
    let pairs: Vec<(&str, &str)> = names.iter().map(|n| (*n, header(headers, n))).collect();
    let want = gateways::files::sigv4_authorization(method.as_str(), path, &pairs, payload, &cfg.access_key, &cfg.secret_key, &cfg.region, "s3", at);
    if crypto::constant_time_eq(want.as_bytes(), auth.as_bytes()) { Ok(()) } else { Err("signature does not match") }
}

async fn object(State(st): State<SharedS3>, method: Method, Path((bucket, key)): Path<(String, String)>, headers: HeaderMap, body: Bytes) -> Response {
    let mut g = st.lock().expect("s3 lock");
    let path = format!("/{bucket}/{key}");
    if let Err(why) = signature_ok(&g.cfg, &method, &path, &headers, &body) {
        g.refused += 1;
        return error(StatusCode::FORBIDDEN, "SignatureDoesNotMatch", why);
    }
    if bucket != g.cfg.bucket {
        return error(StatusCode::NOT_FOUND, "NoSuchBucket", "The specified bucket does not exist");
    }
    match method {
        Method::PUT => {
            g.objects.insert(key, body.to_vec());
            (StatusCode::OK, [("etag", format!("\"{}\"", hex::encode(&crypto::mac::sha256(&body)[..16])))]).into_response()
        }
        Method::GET => match g.objects.get(&key) {
            Some(b) => (StatusCode::OK, [("content-type", "application/octet-stream")], b.clone()).into_response(),
            None => error(StatusCode::NOT_FOUND, "NoSuchKey", "The specified key does not exist."),
        },
        Method::DELETE => {
            g.objects.remove(&key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => error(StatusCode::METHOD_NOT_ALLOWED, "MethodNotAllowed", "The specified method is not allowed"),
    }
}

pub fn router(state: SharedS3) -> Router {
    Router::new().route("/{bucket}/{*key}", any(object)).with_state(state)
}
