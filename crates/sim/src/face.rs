//! Baidu AI 人脸识别 v3 as the hospital's connector sees it (protocols-wave2 §3): the
//! client-credentials token at `GET /oauth/2.0/token`, and `POST /rest/2.0/face/v3/…`
//! `faceset/user/add`, `faceset/user/delete`, `search`, `match`, `person/verify` and
//! `faceverify`, each answered HTTP 200 with the `{error_code, error_msg, log_id,
//! timestamp, cached, result}` envelope.
//!
//! It "recognises" the project's synthetic faces (`uploads::synthetic_face`) by reading
//! their band of marks: the same identity scores 85–99 however the capture was posed, any
//! other scores far below 80. A blurred capture fails quality control (223114), a face on
//! a phone screen fails liveness (223120, `face_liveness` 0.01), a wall has no face
//! (222202). The "public security photo" of an ID number is the synthetic face of that
//! number; a name that does not belong to a known number is 222351.
//!
//! Faults (`POST /__sim/face/faults`, they stay until changed; `{}` clears them): `down`
//! (503 for everything), `no_match` (searches find nobody: 222207), `close_second` (a
//! search's best is followed by another user of the groups 1.5 points behind),
//! `low_quality` (223114), `liveness_fail` (223120), `expire_tokens` (the tokens issued so
//! far answer 111), `qps_limit` (the next N calls answer 18), `latency_ms` (every API call
//! takes this long, for the scan-to-ticket benchmark), `slow_add_answer_ms` (a user add is
//! done at once and answered this late: a lost answer).
//! Inspection: `GET /__sim/face/groups` (group → user ids), `GET /__sim/face/calls` (path →
//! count), `POST /__sim/face/register` `{id_number, name}` (the public-security register).
use crate::demo::Citizen;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use domain::face::Control;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use uploads::synthetic_face::{self, CODE_BITS, Reading, SHARP_ENOUGH};

#[derive(Clone, Debug)]
pub struct FaceSimConfig {
    pub api_key: String,
    pub secret_key: String,
    /// Whether an ID number the register does not know passes the identity check (with any
    /// name). The demo turns it on so testers can enrol anyone; tests turn it off.
    pub accept_unknown: bool,
}

impl Default for FaceSimConfig {
    fn default() -> Self {
        Self { api_key: "demo-face-api-key".into(), secret_key: "demo-face-secret-key".into(), accept_unknown: true }
    }
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct FaceFaults {
    #[serde(default)]
    pub down: bool,
    #[serde(default)]
    pub no_match: bool,
    #[serde(default)]
    pub close_second: bool,
    #[serde(default)]
    pub low_quality: bool,
    #[serde(default)]
    pub liveness_fail: bool,
    #[serde(default)]
    pub expire_tokens: bool,
    #[serde(default)]
    pub qps_limit: u32,
    #[serde(default)]
    pub latency_ms: u64,
    /// A user add is done at once and answered this late: longer than the client waits,
    /// and the platform never hears of a face the engine holds.
    #[serde(default)]
    pub slow_add_answer_ms: u64,
}

/// One stored face: its token and the identity the simulator read from it.
#[derive(Clone, Debug)]
struct StoredFace {
    token: String,
    code: u32,
}

pub struct FaceState {
    pub cfg: FaceSimConfig,
    pub faults: FaceFaults,
    /// ID number → name.
    register: HashMap<String, String>,
    /// Tokens issued, and whether each still works.
    tokens: HashMap<String, bool>,
    groups: BTreeMap<String, BTreeMap<String, Vec<StoredFace>>>,
    /// Every face token ever made (a token outlives the group it was added to, as the
    /// engine's do while any user holds the face).
    faces: HashMap<String, u32>,
    calls: BTreeMap<String, u64>,
    seq: u64,
}

pub type SharedFace = Arc<Mutex<FaceState>>;

impl FaceState {
    pub fn new(cfg: FaceSimConfig, register: &[Citizen]) -> Self {
        Self {
            cfg,
            faults: FaceFaults::default(),
            register: register.iter().map(|c| (c.id_card_no.to_ascii_uppercase(), c.name.clone())).collect(),
            tokens: HashMap::new(),
            groups: BTreeMap::new(),
            faces: HashMap::new(),
            calls: BTreeMap::new(),
            seq: 0,
        }
    }

    /// The user ids of a group (empty when there is no such group).
    pub fn users(&self, group_id: &str) -> Vec<String> {
        self.groups.get(group_id).map(|g| g.keys().cloned().collect()).unwrap_or_default()
    }

    pub fn calls(&self, path: &str) -> u64 {
        self.calls.get(path).copied().unwrap_or(0)
    }

    /// How many access tokens the engine has issued.
    pub fn tokens_issued(&self) -> usize {
        self.tokens.len()
    }

    fn next_token(&mut self) -> String {
        self.seq += 1;
        let salt = hex::encode(crypto::random_bytes::<8>());
        format!("{:08x}{salt}", self.seq)
    }
}

type Failure = (i64, &'static str);

fn envelope(result: Result<Value, Failure>) -> Response {
    let log_id: u64 = u64::from_le_bytes(crypto::random_bytes::<8>()) % 10_000_000_000;
    let now = chrono::Utc::now().timestamp();
    let body = match result {
        Ok(r) => json!({"error_code": 0, "error_msg": "SUCCESS", "log_id": log_id, "timestamp": now, "cached": 0, "result": r}),
        Err((code, msg)) => json!({"error_code": code, "error_msg": msg, "log_id": log_id, "timestamp": now, "cached": 0, "result": null}),
    };
    Json(body).into_response()
}

#[derive(Deserialize)]
struct TokenQuery {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<String>,
}

async fn token(State(st): State<SharedFace>, Query(q): Query<TokenQuery>) -> Response {
    let mut s = st.lock().expect("face lock");
    if s.faults.down {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    if q.grant_type.as_deref() != Some("client_credentials") {
        return (StatusCode::BAD_REQUEST, Json(json!({"error": "unsupported_grant_type", "error_description": "grant type not supported"}))).into_response();
    }
    let known = q.client_id.as_deref() == Some(s.cfg.api_key.as_str()) && q.client_secret.as_deref() == Some(s.cfg.secret_key.as_str());
    if !known {
        return (StatusCode::UNAUTHORIZED, Json(json!({"error": "invalid_client", "error_description": "unknown client id"}))).into_response();
    }
    let t = format!("24.{}", s.next_token());
    s.tokens.insert(t.clone(), true);
    Json(json!({"access_token": t, "expires_in": 2_592_000, "scope": "public brain_all_scope vis-faceverify_faceverify_h5-face-liveness", "session_key": "", "session_secret": ""}))
        .into_response()
}

/// A picture as the engine reads it, before any check.
fn decode(image: &Value) -> Result<synthetic_face::FaceReading, Failure> {
    let b64 = image.as_str().filter(|i| !i.is_empty()).ok_or((222001, "param[image] is null"))?;
    if b64.len() > 2 * 1024 * 1024 || b64.starts_with("data:") {
        return Err((222203, "image check fail"));
    }
    let bytes = base64::engine::general_purpose::STANDARD.decode(b64).map_err(|_| (222203, "image check fail"))?;
    let img = image::load_from_memory(&bytes).map_err(|_| (222203, "image check fail"))?.to_rgb8();
    match synthetic_face::read(&img) {
        Reading::Face(face) => Ok(face),
        Reading::NoFace => Err((222202, "pic not has face")),
    }
}

/// A picture as the engine uses it, after its checks: the identity it shows.
fn look(image: &Value, image_type: &Value, quality: Control, liveness: Control, s: &FaceState) -> Result<u32, Failure> {
    match image_type.as_str() {
        Some("BASE64") => {}
        Some("FACE_TOKEN") => {
            return image.as_str().and_then(|t| s.faces.get(t).copied()).ok_or((222209, "face token not exist"));
        }
        Some("URL") => return Err((222204, "image download fail")),
        _ => return Err((222015, "image_type format error")),
    }
    let face = decode(image)?;
    if quality != Control::None && (s.faults.low_quality || face.sharpness < SHARP_ENOUGH) {
        return Err((223114, "face is fuzzy"));
    }
    if liveness_of(&face, s) < f64::from(liveness.liveness_threshold()) {
        return Err((223120, "liveness check fail"));
    }
    // A face whose band cannot be read is one the engine cannot use.
    face.code.ok_or((223114, "face is fuzzy"))
}

fn liveness_of(face: &synthetic_face::FaceReading, s: &FaceState) -> f64 {
    if face.on_screen || s.faults.liveness_fail { 0.01 } else { 0.97 }
}

/// A control field as the engine reads it: absent is NONE, and only the four upper-case
/// words are accepted.
fn control(v: &Value) -> Result<Control, Failure> {
    match v.as_str() {
        None => Ok(Control::None),
        Some(c) => Control::parse(c).filter(|p| p.as_str() == c).ok_or((222019, "param[quality_control] format error")),
    }
}

/// How alike two identities are: the same 85–99 (by the seed of the capture), another at
/// most 47.
fn score(a: u32, b: u32, seed: u64) -> f64 {
    if a == b {
        85.0 + (seed % 1400) as f64 / 100.0
    } else {
        let differ = (a ^ b) & ((1 << CODE_BITS) - 1);
        (97.0 - 25.0 * f64::from(differ.count_ones())).max(3.0 + (seed % 700) as f64 / 100.0)
    }
}

fn valid_id(v: &Value) -> Option<&str> {
    v.as_str().filter(|s| !s.is_empty() && s.len() <= 128 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
}

fn user_add(s: &mut FaceState, b: &Value) -> Result<Value, Failure> {
    let group = valid_id(&b["group_id"]).ok_or((222002, "param[group_id] format error"))?.to_owned();
    let user = valid_id(&b["user_id"]).ok_or((222003, "param[user_id] format error"))?.to_owned();
    let code = look(&b["image"], &b["image_type"], control(&b["quality_control"])?, control(&b["liveness_control"])?, s)?;
    let token = match b["image_type"].as_str() {
        Some("FACE_TOKEN") => b["image"].as_str().unwrap_or_default().to_owned(),
        _ => s.next_token(),
    };
    let faces = s.groups.entry(group).or_default().entry(user).or_default();
    if !faces.iter().any(|f| f.token == token) {
        if faces.len() >= 20 {
            return Err((223105, "face is already exist (user holds 20 faces)"));
        }
        faces.push(StoredFace { token: token.clone(), code });
    }
    s.faces.insert(token.clone(), code);
    Ok(json!({"face_token": token, "location": {"left": 202.0, "top": 100.0, "width": 236.0, "height": 300.0, "rotation": 0}}))
}

fn user_delete(s: &mut FaceState, b: &Value) -> Result<Value, Failure> {
    let group = valid_id(&b["group_id"]).ok_or((222002, "param[group_id] format error"))?;
    let user = valid_id(&b["user_id"]).ok_or((222003, "param[user_id] format error"))?;
    let g = s.groups.get_mut(group).ok_or((223101, "group is not exist"))?;
    g.remove(user).ok_or((223103, "user is not exist"))?;
    Ok(Value::Null)
}

fn search(s: &mut FaceState, b: &Value) -> Result<Value, Failure> {
    let list = b["group_id_list"].as_str().filter(|l| !l.is_empty()).ok_or((222001, "param[group_id_list] is null"))?;
    let groups: Vec<&str> = list.split(',').map(str::trim).collect();
    if groups.len() > 10 || groups.iter().any(|g| valid_id(&json!(g)).is_none()) {
        return Err((222002, "param[group_id_list] format error"));
    }
    let probe = look(&b["image"], &b["image_type"], control(&b["quality_control"])?, control(&b["liveness_control"])?, s)?;
    if groups.iter().all(|g| !s.groups.contains_key(*g)) {
        return Err((223101, "group is not exist"));
    }
    let max = b["max_user_num"].as_u64().unwrap_or(1).clamp(1, 50) as usize;
    let threshold = b["match_threshold"].as_f64().unwrap_or(80.0);
    let seed = u64::from_le_bytes(crypto::random_bytes::<8>());
    let mut all: Vec<(String, String, f64)> = Vec::new();
    for g in &groups {
        for (user, faces) in s.groups.get(*g).into_iter().flatten() {
            let best = faces.iter().map(|f| score(probe, f.code, seed)).fold(0.0, f64::max);
            all.push(((*g).to_owned(), user.clone(), best));
        }
    }
    all.sort_by(|a, b| b.2.total_cmp(&a.2));
    let mut found: Vec<(String, String, f64)> = all.iter().filter(|c| c.2 >= threshold).cloned().collect();
    if s.faults.no_match {
        found.clear();
    }
    if s.faults.close_second
        && let Some(best) = found.first().cloned()
        && let Some(other) = all.iter().find(|c| c.1 != best.1)
    {
        found.retain(|c| c.1 == best.1);
        found.push((other.0.clone(), other.1.clone(), best.2 - 1.5));
    }
    if found.is_empty() {
        return Err((222207, "match user is not found"));
    }
    let token = s.next_token();
    let user_list: Vec<Value> = found
        .into_iter()
        .take(max.max(if s.faults.close_second { 2 } else { 1 }))
        .map(|(g, u, sc)| json!({"group_id": g, "user_id": u, "user_info": "", "score": (sc * 100.0).round() / 100.0}))
        .collect();
    Ok(json!({"face_token": token, "user_list": user_list}))
}

fn face_match(s: &mut FaceState, b: &Value) -> Result<Value, Failure> {
    let pair = b.as_array().filter(|a| a.len() == 2).ok_or((222001, "param[image] is null"))?;
    let mut codes = Vec::new();
    for p in pair {
        codes.push(look(&p["image"], &p["image_type"], control(&p["quality_control"])?, control(&p["liveness_control"])?, s)?);
    }
    let sc = score(codes[0], codes[1], u64::from_le_bytes(crypto::random_bytes::<8>()));
    let (t1, t2) = (s.next_token(), s.next_token());
    Ok(json!({"score": (sc * 100.0).round() / 100.0, "face_list": [{"face_token": t1}, {"face_token": t2}]}))
}

fn person_verify(s: &mut FaceState, b: &Value) -> Result<Value, Failure> {
    let id = b["id_card_number"].as_str().map(|i| i.trim().to_ascii_uppercase()).filter(|i| i.len() == 18).ok_or((222001, "param[id_card_number] is null"))?;
    let name = b["name"].as_str().map(str::trim).filter(|n| !n.is_empty()).ok_or((222001, "param[name] is null"))?;
    let probe = look(&b["image"], &b["image_type"], control(&b["quality_control"])?, control(&b["liveness_control"])?, s)?;
    match s.register.get(&id) {
        Some(registered) if registered != name => return Err((222351, "id number and name not match or id number not exist")),
        None if !s.cfg.accept_unknown => return Err((222351, "id number and name not match or id number not exist")),
        _ => {}
    }
    let sc = score(probe, synthetic_face::code_for_id_number(&id), u64::from_le_bytes(crypto::random_bytes::<8>()));
    Ok(json!({"score": (sc * 100.0).round() / 100.0}))
}

fn face_verify(s: &mut FaceState, b: &Value) -> Result<Value, Failure> {
    let one = b.as_array().and_then(|a| a.first()).ok_or((222001, "param[image] is null"))?;
    if one["image_type"].as_str() != Some("BASE64") {
        return Err((222015, "image_type format error"));
    }
    let face = decode(&one["image"])?;
    let live = liveness_of(&face, s);
    let token = s.next_token();
    Ok(json!({"face_liveness": live, "thresholds": {"frr_1e-4": 0.05, "frr_1e-3": 0.3, "frr_1e-2": 0.9}, "face_list": [{"face_token": token}]}))
}

#[derive(Deserialize)]
struct ApiQuery {
    access_token: Option<String>,
}

async fn api(State(st): State<SharedFace>, Path(path): Path<String>, Query(q): Query<ApiQuery>, body: Bytes) -> Response {
    let latency = {
        let s = st.lock().expect("face lock");
        if s.faults.down {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        s.faults.latency_ms
    };
    if latency > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(latency)).await;
    }
    // The work under the lock; a late answer waits outside it, keeping nobody else waiting.
    let (answer, late) = call(&mut st.lock().expect("face lock"), &path, q.access_token.as_deref(), &body);
    if late > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(late)).await;
    }
    answer
}

/// One API call against the engine's state: its answer, and how late to give it.
fn call(s: &mut FaceState, path: &str, access_token: Option<&str>, body: &[u8]) -> (Response, u64) {
    *s.calls.entry(path.to_owned()).or_default() += 1;
    if s.faults.expire_tokens {
        s.faults.expire_tokens = false;
        for live in s.tokens.values_mut() {
            *live = false;
        }
    }
    match access_token.map(|t| s.tokens.get(t).copied()) {
        None | Some(None) => return (envelope(Err((110, "Access token invalid or no longer valid"))), 0),
        Some(Some(false)) => return (envelope(Err((111, "Access token expired"))), 0),
        Some(Some(true)) => {}
    }
    if s.faults.qps_limit > 0 {
        s.faults.qps_limit -= 1;
        return (envelope(Err((18, "Open api qps request limit reached"))), 0);
    }
    let Ok(b) = serde_json::from_slice::<Value>(body) else { return (envelope(Err((222001, "param[image] is null"))), 0) };
    let answer = envelope(match path {
        "faceset/user/add" => user_add(s, &b),
        "faceset/user/delete" => user_delete(s, &b),
        "search" => search(s, &b),
        "match" => face_match(s, &b),
        "person/verify" => person_verify(s, &b),
        "faceverify" => face_verify(s, &b),
        _ => Err((3, "Unsupported openapi method")),
    });
    (answer, if path == "faceset/user/add" { s.faults.slow_add_answer_ms } else { 0 })
}

async fn set_faults(State(st): State<SharedFace>, Json(f): Json<FaceFaults>) -> StatusCode {
    st.lock().expect("face lock").faults = f;
    StatusCode::NO_CONTENT
}

async fn groups(State(st): State<SharedFace>) -> Json<Value> {
    let s = st.lock().expect("face lock");
    Json(json!(s.groups.iter().map(|(g, users)| (g.clone(), users.keys().cloned().collect::<Vec<_>>())).collect::<BTreeMap<_, _>>()))
}

async fn calls(State(st): State<SharedFace>) -> Json<Value> {
    Json(json!(st.lock().expect("face lock").calls))
}

#[derive(Deserialize)]
struct Registration {
    id_number: String,
    name: String,
}

async fn register(State(st): State<SharedFace>, Json(r): Json<Registration>) -> StatusCode {
    st.lock().expect("face lock").register.insert(r.id_number.trim().to_ascii_uppercase(), r.name.trim().to_owned());
    StatusCode::NO_CONTENT
}

pub fn router(state: SharedFace) -> Router {
    Router::new()
        .route("/oauth/2.0/token", get(token).post(token))
        .route("/rest/2.0/face/v3/{*path}", post(api))
        .route("/__sim/face/faults", post(set_faults))
        .route("/__sim/face/groups", get(groups))
        .route("/__sim/face/calls", get(calls))
        .route("/__sim/face/register", post(register))
        .with_state(state)
}

/// Starts the face engine alone on `port` (0: any), its register the demo's citizens.
pub async fn start(cfg: FaceSimConfig, register: &[Citizen], port: u16) -> std::io::Result<(String, SharedFace)> {
    let state = Arc::new(Mutex::new(FaceState::new(cfg, register)));
    let (addr, _task) = crate::serve(router(state.clone()), port).await?;
    Ok((format!("http://{addr}"), state))
}
