//! The 8:00 flash crowd (G1 and G2 of quality-bar.md), spoken over HTTP to running
//! Carebridge nodes and the simulators: the HIS releases tomorrow's places, thousands
//! of signed-in patients tap 预约 at once, and we count what each of them was told,
//! how fast, what the HIS went through, and whether any place was sold twice.
//!
//! Nothing here reaches into a node: patients sign in through the WeChat simulator's
//! OAuth round trip, add themselves as 就诊人 through the API and book through the API.
//! Only the verdict reads the database, to compare our count with the HIS's.
use anyhow::{Context, Result, bail};
use chrono::NaiveDate;
use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use sim::rng::SeededRng;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// What to run.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Carebridge nodes' base URLs; requests are spread over them in turn.
    pub nodes: Vec<String>,
    pub wechat_url: String,
    pub his_url: String,
    pub patients: usize,
    pub sessions: usize,
    pub places_per_session: u32,
    /// Percent of the patients who want the hot session (the others spread evenly).
    pub hot_percent: u64,
    pub duration: Duration,
    /// Percent of the patients who got a place and give it up again a moment later,
    /// so places come back during the rush and are sold again.
    pub abandon_percent: u64,
    /// How long each probe (the ceiling, the read path) runs; zero skips them.
    pub probe: Duration,
    pub probe_connections: usize,
    /// Every patient's first tap falls within this long after the release (uniformly).
    pub ramp: Duration,
    /// The day whose places are released.
    pub date: NaiveDate,
    pub seed: u64,
}

/// A session whose places the HIS released for the rush.
#[derive(Clone, Debug)]
pub struct Session {
    pub schedule_id: String,
    pub dept_id: String,
    pub places: u32,
}

/// A signed-in patient ready to book.
#[derive(Clone, Debug)]
pub struct VirtualPatient {
    pub cookie: String,
    pub patient_id: i64,
}

/// What a booking attempt was answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Answer {
    Booked,
    /// `SLOT_TAKEN`: this time slot has no place left (others of the session may).
    SlotTaken,
    /// `SESSION_FULL`: the session is sold out.
    SoldOut,
    /// `HIS_BUSY` (429 + Retry-After): admission control turned it away; nothing booked.
    Busy,
    /// `RATE_LIMITED` (429): the account's or address's fairness limit.
    RateLimited,
    /// `HIS_UNAVAILABLE` and other 503s: the HIS did not answer in time.
    Unavailable,
    /// `BOOKING_DUPLICATE`: the patient already holds a place in the session.
    Duplicate,
    /// Any other 4xx.
    OtherRefusal,
    /// 500, 502 and other 5xx but 503.
    ServerError,
    /// No HTTP answer at all (connection error or the client's 10 s timeout).
    NoAnswer,
}

impl Answer {
    pub const ALL: [Answer; 10] = [
        Answer::Booked,
        Answer::SlotTaken,
        Answer::SoldOut,
        Answer::Busy,
        Answer::RateLimited,
        Answer::Unavailable,
        Answer::Duplicate,
        Answer::OtherRefusal,
        Answer::ServerError,
        Answer::NoAnswer,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Answer::Booked => "booked (201)",
            Answer::SlotTaken => "slot taken (409 SLOT_TAKEN)",
            Answer::SoldOut => "sold out (409 SESSION_FULL)",
            Answer::Busy => "retry later (429 HIS_BUSY)",
            Answer::RateLimited => "rate limited (429 RATE_LIMITED)",
            Answer::Unavailable => "HIS did not answer (503)",
            Answer::Duplicate => "already booked (409 BOOKING_DUPLICATE)",
            Answer::OtherRefusal => "other refusal (4xx)",
            Answer::ServerError => "server error (5xx)",
            Answer::NoAnswer => "no answer (timeout / connection)",
        }
    }

    /// A sold-out answer, which must come fast and without the HIS.
    pub fn sold_out(self) -> bool {
        matches!(self, Answer::SlotTaken | Answer::SoldOut)
    }

    fn of(status: u16, code: &str) -> Answer {
        match (status, code) {
            (201, _) => Answer::Booked,
            (409, "SLOT_TAKEN") => Answer::SlotTaken,
            (409, "SESSION_FULL") => Answer::SoldOut,
            (409, "BOOKING_DUPLICATE") => Answer::Duplicate,
            (429, "HIS_BUSY") => Answer::Busy,
            (429, _) => Answer::RateLimited,
            (503, _) => Answer::Unavailable,
            (500..=599, _) => Answer::ServerError,
            _ => Answer::OtherRefusal,
        }
    }
}

/// One timed request.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub answer: Answer,
    pub micros: u64,
    /// When it was sent, milliseconds into the rush.
    pub at_ms: u64,
}

/// A client that keeps no cookies and follows no redirects (each hop is looked at).
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(4096)
        .build()
        .expect("http client")
}

/// Round-robin over the nodes.
struct Nodes {
    urls: Vec<String>,
    next: AtomicUsize,
}

impl Nodes {
    fn pick(&self) -> &str {
        &self.urls[self.next.fetch_add(1, Ordering::Relaxed) % self.urls.len()]
    }
}

/// Asks the HIS simulator to release `sessions` sessions of `date` with
/// `places_per_session` places each; the first is the hot one.
pub async fn release_places(http: &reqwest::Client, plan: &Plan) -> Result<Vec<Session>> {
    let r = http
        .post(format!("{}/__sim/his/flash-sale", plan.his_url))
        .json(&json!({"date": plan.date, "sessions": plan.sessions, "placesPerSession": plan.places_per_session}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("flash sale refused: {} {}", r.status(), r.text().await.unwrap_or_default());
    }
    let v: Vec<Value> = r.json().await?;
    Ok(v.iter()
        .map(|s| Session {
            schedule_id: s["scheduleId"].as_str().unwrap_or_default().to_owned(),
            dept_id: s["deptId"].as_str().unwrap_or_default().to_owned(),
            places: s["places"].as_u64().unwrap_or(0) as u32,
        })
        .collect())
}

/// Sets the HIS simulator's latency (ms ± jitter) and capacity (calls worked on at once).
pub async fn set_his_load(http: &reqwest::Client, his_url: &str, latency_ms: u64, jitter_ms: u64, capacity: usize) -> Result<()> {
    let r = http
        .post(format!("{his_url}/__sim/faults"))
        .json(&json!({"latency_ms": latency_ms, "latency_jitter_ms": jitter_ms, "capacity": capacity}))
        .send()
        .await?;
    if !r.status().is_success() {
        bail!("setting HIS faults: {}", r.status());
    }
    Ok(())
}

/// The HIS's load counters: (in flight, peak since reset, calls since reset).
pub async fn his_load(http: &reqwest::Client, his_url: &str) -> Result<(u64, u64, u64)> {
    let v: Value = http.get(format!("{his_url}/__sim/his/load")).send().await?.json().await?;
    Ok((v["inFlight"].as_u64().unwrap_or(0), v["peakInFlight"].as_u64().unwrap_or(0), v["calls"].as_u64().unwrap_or(0)))
}

pub async fn reset_his_load(http: &reqwest::Client, his_url: &str) -> Result<()> {
    http.post(format!("{his_url}/__sim/his/load/reset")).send().await?.error_for_status()?;
    Ok(())
}

/// A valid, unique (per index below 4,000) synthetic ID number and a name.
pub fn person(i: usize) -> (String, String) {
    const SURNAMES: [&str; 10] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周"];
    const GIVEN: [&str; 20] = ["伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "秀", "霞", "平"];
    let name = format!("{}{}{}", SURNAMES[i % 10], GIVEN[(i / 10) % 20], GIVEN[(i / 200) % 20]);
    let birth = NaiveDate::from_ymd_opt(1960, 1, 1).expect("date") + chrono::Duration::days((i / 400) as i64);
    let first17 = format!("440305{}{:03}", birth.format("%Y%m%d"), (i % 400) * 2 + 1);
    let check = domain::identity::IdCardNo::check_char(&first17).expect("17 digits");
    (name, format!("{first17}{check}"))
}

fn query_value(url: &str, key: &str) -> String {
    reqwest::Url::parse(url).ok().and_then(|u| u.query_pairs().find(|(k, _)| k == key).map(|(_, v)| v.into_owned())).unwrap_or_default()
}

fn cookie(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .map(str::to_owned)
}

fn location(r: &reqwest::Response) -> String {
    r.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
}

/// One patient: WeChat sign-in, then 本人 added as 就诊人 (real-name check, the HIS finds
/// or files the record).
async fn enrol_one(http: &reqwest::Client, node: &str, wechat_url: &str, i: usize) -> Result<VirtualPatient> {
    let session = sign_in(http, node, wechat_url, i).await?;
    let (name, id) = person(i);
    // 建档 asks the HIS; when admission control answers HIS_BUSY (429) the patient waits a
    // moment and tries again, as a person would — the crowd's set-up is not what is measured.
    let mut attempt = 0u64;
    loop {
        let r = http
            .post(format!("{node}/api/v1/me/patients"))
            .header("cookie", &session)
            .json(&json!({"name": name, "id_card_no": id, "relationship": "self"}))
            .send()
            .await?;
        let status = r.status();
        let v: Value = r.json().await.unwrap_or(Value::Null);
        if status == reqwest::StatusCode::TOO_MANY_REQUESTS && attempt < 30 {
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(50 * attempt.min(10))).await;
            continue;
        }
        let patient_id = v["id"].as_i64().with_context(|| format!("adding {name} as 就诊人: {status} {v}"))?;
        return Ok(VirtualPatient { cookie: session, patient_id });
    }
}

/// Patient `i`'s WeChat sign-in (our login → the simulator's consent → our callback);
/// the session cookie. Also how a patient asked to sign in again (step-up) does it.
pub async fn sign_in(http: &reqwest::Client, node: &str, wechat_url: &str, i: usize) -> Result<String> {
    let openid = format!("oCrowd_{i:06}");
    let r = http.get(format!("{node}/wx/login?next=%2Fpatients")).send().await?;
    let oauth = cookie(&r, "__Host-cb_oauth").context("no oauth state cookie")?;
    let authorize = location(&r);
    let form = [
        ("openid", openid.as_str()),
        ("redirect_uri", &query_value(&authorize, "redirect_uri")),
        ("state", &query_value(&authorize, "state")),
        ("scope", &query_value(&authorize, "scope")),
    ];
    let r = http.post(format!("{wechat_url}/connect/oauth2/authorize/confirm")).form(&form).send().await?;
    let callback = location(&r);
    let r = http.get(&callback).header("cookie", &oauth).send().await?;
    cookie(&r, "__Host-cb_patient").with_context(|| format!("sign-in of {openid} failed: {}", r.status()))
}

/// Signs `plan.patients` patients in (WeChat users made in the simulator first).
pub async fn enrol(http: &reqwest::Client, plan: &Plan) -> Result<Vec<VirtualPatient>> {
    let users: Vec<Value> = (0..plan.patients).map(|i| json!({"openid": format!("oCrowd_{i:06}"), "nickname": format!("患者{i}")})).collect();
    http.post(format!("{}/__sim/wechat/users", plan.wechat_url)).json(&users).send().await?.error_for_status()?;
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for w in 0..32.min(plan.patients.max(1)) {
        let (http, next, plan) = (http.clone(), next.clone(), plan.clone());
        workers.push(tokio::spawn(async move {
            let mut got = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plan.patients {
                    return Ok::<_, anyhow::Error>(got);
                }
                let node = &plan.nodes[(i + w) % plan.nodes.len()];
                got.push((i, enrol_one(&http, node, &plan.wechat_url, i).await?));
            }
        }));
    }
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await??);
    }
    all.sort_by_key(|(i, _)| *i);
    Ok(all.into_iter().map(|(_, p)| p).collect())
}

/// Throughput and latency of one GET under `connections` concurrent clients.
#[derive(Clone, Debug, Default)]
pub struct Probe {
    pub path: String,
    pub requests: u64,
    pub failures: u64,
    pub per_sec: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Hammers `path` on the nodes (in turn) for `duration`.
pub async fn probe(http: &reqwest::Client, nodes: &[String], path: &str, connections: usize, duration: Duration) -> Probe {
    let nodes = Arc::new(Nodes { urls: nodes.to_vec(), next: AtomicUsize::new(0) });
    let started = Instant::now();
    let deadline = started + duration;
    let mut tasks = Vec::new();
    for _ in 0..connections.max(1) {
        let (http, nodes, path) = (http.clone(), nodes.clone(), path.to_owned());
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut failures) = (Vec::new(), 0u64);
            while Instant::now() < deadline {
                let t = Instant::now();
                match http.get(format!("{}{path}", nodes.pick())).send().await {
                    Ok(r) if r.status().is_success() => {
                        let _ = r.bytes().await;
                        lat.push(t.elapsed().as_micros() as u64);
                    }
                    _ => failures += 1,
                }
            }
            (lat, failures)
        }));
    }
    let (mut lat, mut failures) = (Vec::new(), 0);
    for t in tasks {
        if let Ok((l, f)) = t.await {
            lat.extend(l);
            failures += f;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_unstable();
    Probe {
        path: path.to_owned(),
        requests: lat.len() as u64,
        failures,
        per_sec: lat.len() as f64 / secs,
        p50_ms: percentile(&lat, 50.0),
        p99_ms: percentile(&lat, 99.0),
    }
}

/// The `p`th percentile of sorted microseconds, in milliseconds.
pub fn percentile(sorted_micros: &[u64], p: f64) -> f64 {
    if sorted_micros.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_micros.len() as f64).ceil() as usize;
    sorted_micros[rank.clamp(1, sorted_micros.len()) - 1] as f64 / 1000.0
}

/// What the rush produced, as the patients saw it.
#[derive(Debug, Default)]
pub struct Grab {
    pub attempts: Vec<Sample>,
    /// Schedule reads (the page a patient refreshes), microseconds.
    pub reads: Vec<u64>,
    pub read_failures: u64,
    pub cancels: u64,
    pub elapsed: Duration,
}

/// The patients' behaviour: each wants one session (the hot one for `hot_percent` of
/// them), reads its places, taps one; a taken slot sends them to another, a sold-out
/// session makes them wait 1–3 s and refresh (someone may give a place back),
/// "busy" makes them wait what Retry-After says. Some of those who get a place give
/// it up after 1–3 s. Everyone stops at the deadline.
pub async fn grab(http: &reqwest::Client, plan: &Plan, sessions: &[Session], patients: &[VirtualPatient]) -> Grab {
    let nodes = Arc::new(Nodes { urls: plan.nodes.clone(), next: AtomicUsize::new(0) });
    let sessions = Arc::new(sessions.to_vec());
    let started = Instant::now();
    let deadline = started + plan.duration;
    let mut tasks = Vec::new();
    for (i, p) in patients.iter().enumerate() {
        let (http, nodes, sessions, p, plan) = (http.clone(), nodes.clone(), sessions.clone(), p.clone(), plan.clone());
        tasks.push(tokio::spawn(async move { one_patient(&http, &nodes, &plan, &sessions, &p, i, started, deadline).await }));
    }
    let mut out = Grab::default();
    for t in tasks {
        if let Ok(g) = t.await {
            out.attempts.extend(g.attempts);
            out.reads.extend(g.reads);
            out.read_failures += g.read_failures;
            out.cancels += g.cancels;
        }
    }
    out.elapsed = started.elapsed();
    out
}

async fn pause(rng: &mut SeededRng, from_ms: u64, to_ms: u64, deadline: Instant) {
    let ms = from_ms + rng.below(to_ms.saturating_sub(from_ms).max(1));
    let until = (Instant::now() + Duration::from_millis(ms)).min(deadline);
    tokio::time::sleep_until(until.into()).await;
}

/// The session's page as the app polls it (places left, live).
pub fn session_path(s: &Session) -> String {
    format!("/api/v1/departments/{}/schedules/{}", s.dept_id, s.schedule_id)
}

/// The free-looking slots of the session (all its slots if it shows none free: the
/// patient taps anyway, hoping for a place given back).
async fn read_slots(http: &reqwest::Client, node: &str, s: &Session, grab: &mut Grab) -> Vec<String> {
    let t = Instant::now();
    let r = match http.get(format!("{node}{}", session_path(s))).send().await {
        Ok(r) if r.status().is_success() => r.json::<Value>().await.ok(),
        _ => None,
    };
    let Some(sched) = r else {
        grab.read_failures += 1;
        return vec![];
    };
    grab.reads.push(t.elapsed().as_micros() as u64);
    let slots = sched["slots"].as_array().cloned().unwrap_or_default();
    let free: Vec<String> =
        slots.iter().filter(|x| x["available"].as_u64().unwrap_or(0) > 0).filter_map(|x| x["slot_id"].as_str().map(str::to_owned)).collect();
    if free.is_empty() { slots.iter().filter_map(|x| x["slot_id"].as_str().map(str::to_owned)).collect() } else { free }
}

#[allow(clippy::too_many_arguments)]
async fn one_patient(
    http: &reqwest::Client,
    nodes: &Nodes,
    plan: &Plan,
    sessions: &[Session],
    p: &VirtualPatient,
    i: usize,
    started: Instant,
    deadline: Instant,
) -> Grab {
    let mut rng = SeededRng::new(plan.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut g = Grab::default();
    let target = if sessions.len() == 1 || rng.chance(plan.hot_percent) { &sessions[0] } else { &sessions[1 + rng.below(sessions.len() as u64 - 1) as usize] };
    // Everyone taps within the ramp (a second by default), as at 8:00:00.
    pause(&mut rng, 0, plan.ramp.as_millis() as u64, deadline).await;
    let mut slots: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        if slots.is_empty() {
            slots = read_slots(http, nodes.pick(), target, &mut g).await;
            if slots.is_empty() {
                pause(&mut rng, 1000, 2000, deadline).await;
                continue;
            }
        }
        let slot = slots[rng.below(slots.len() as u64) as usize].clone();
        let node = nodes.pick();
        let t = Instant::now();
        let sent = http
            .post(format!("{node}/api/v1/me/registrations"))
            .header("cookie", &p.cookie)
            .json(&json!({"patient_id": p.patient_id, "dept_id": target.dept_id, "slot_id": slot}))
            .send()
            .await;
        let (answer, retry_after, body) = match sent {
            Ok(r) => {
                let status = r.status().as_u16();
                let retry_after = r.headers().get("retry-after").and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
                let body: Value = r.json().await.unwrap_or(Value::Null);
                (Answer::of(status, body["code"].as_str().unwrap_or("")), retry_after, body)
            }
            Err(_) => (Answer::NoAnswer, None, Value::Null),
        };
        g.attempts.push(Sample { answer, micros: t.elapsed().as_micros() as u64, at_ms: t.saturating_duration_since(started).as_millis() as u64 });
        match answer {
            Answer::Booked => {
                if !rng.chance(plan.abandon_percent) {
                    break;
                }
                // Changed their mind before paying: the place goes back.
                pause(&mut rng, 1000, 3000, deadline).await;
                let no = body["booking_no"].as_str().unwrap_or_default();
                let r = http.post(format!("{}/api/v1/me/registrations/{no}/cancel", nodes.pick())).header("cookie", &p.cookie).send().await;
                if matches!(&r, Ok(r) if r.status().is_success()) {
                    g.cancels += 1;
                } else {
                    break;
                }
                slots.clear();
            }
            Answer::SlotTaken => {
                slots.retain(|s| *s != slot);
                pause(&mut rng, 100, 400, deadline).await;
            }
            Answer::SoldOut => {
                slots.clear();
                pause(&mut rng, 1000, 3000, deadline).await;
            }
            Answer::Busy | Answer::RateLimited => {
                let secs = retry_after.unwrap_or(2).max(1);
                pause(&mut rng, secs * 1000, secs * 1000 + 500, deadline).await;
            }
            Answer::Duplicate => break,
            _ => pause(&mut rng, 1000, 2000, deadline).await,
        }
    }
    g
}

/// One released session, as each side counts it at the end.
#[derive(Clone, Debug)]
pub struct SessionCount {
    pub schedule_id: String,
    pub places: u32,
    /// Our bookings holding a place (locking, locked, confirmed, checked in).
    pub ours: u32,
    /// Of which still `Locking` (an HIS answer outstanding).
    pub ours_locking: u32,
    /// Places the HIS has given (locked or registered).
    pub his: u32,
    /// Patients holding more than one place in it, by our count and by the HIS's.
    pub our_doubles: u32,
    pub his_doubles: u32,
}

/// Counts each session on both sides: the registration table and the HIS simulator.
pub async fn count(http: &reqwest::Client, plan: &Plan, database_url: &str, sessions: &[Session]) -> Result<Vec<SessionCount>> {
    let db = sea_orm::Database::connect(database_url).await.context("connect for the verdict")?;
    let ids = sessions.iter().map(|s| format!("'{}'", s.schedule_id.replace('\'', ""))).collect::<Vec<_>>().join(",");
    let holding = domain::registration::BookingState::ALL.iter().filter(|s| s.holds_place()).map(|s| format!("'{}'", s.as_str())).collect::<Vec<_>>().join(",");
    let sql = format!("SELECT schedule_id, patient_id, state FROM registration WHERE schedule_id IN ({ids}) AND state IN ({holding})");
    let rows = db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await?;
    let mut ours: HashMap<String, (u32, u32, BTreeMap<i64, u32>)> = HashMap::new();
    for r in rows {
        let sched: String = r.try_get("", "schedule_id")?;
        let patient: i64 = r.try_get("", "patient_id")?;
        let state: String = r.try_get("", "state")?;
        let e = ours.entry(sched).or_default();
        e.0 += 1;
        e.1 += u32::from(state == domain::registration::BookingState::Locking.as_str());
        *e.2.entry(patient).or_default() += 1;
    }
    let _ = db.close().await;
    let his: Vec<Value> = http.get(format!("{}/__sim/his/occupancy?date={}", plan.his_url, plan.date)).send().await?.json().await?;
    Ok(sessions
        .iter()
        .map(|s| {
            let h = his.iter().find(|x| x["scheduleId"] == s.schedule_id.as_str());
            let o = ours.get(&s.schedule_id);
            SessionCount {
                schedule_id: s.schedule_id.clone(),
                places: s.places,
                ours: o.map(|o| o.0).unwrap_or(0),
                ours_locking: o.map(|o| o.1).unwrap_or(0),
                his: h.and_then(|h| h["held"].as_u64()).unwrap_or(0) as u32,
                our_doubles: o.map(|o| o.2.values().filter(|n| **n > 1).count() as u32).unwrap_or(0),
                his_doubles: h.and_then(|h| h["patientsHoldingMoreThanOne"].as_u64()).unwrap_or(0) as u32,
            }
        })
        .collect())
}
