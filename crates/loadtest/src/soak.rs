//! The soak (G3 of quality-bar.md): ordinary traffic for a long stretch — patients
//! browse, book, pay at the bank, follow their orders, read their messages and lab
//! reports, download a report's PDF and now and then cancel (a refund) — at a steady
//! rate, while the lab issues and a doctor releases reports. Every few seconds the
//! nodes are measured: resident memory, open file descriptors, database connections
//! (the pool's own count and, on PostgreSQL, the server's) and the outbox's backlog.
//! After the warm-up each must stay flat; no request may fail; p99 stays in bounds.
use crate::crowd::{self, Session, VirtualPatient};
use serde_json::{Value, json};
use sim::rng::SeededRng;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The kinds of request a patient makes, for the latency table.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Route {
    Departments,
    Schedules,
    Session,
    Book,
    StartPayment,
    Order,
    Messages,
    Reports,
    Report,
    ReportFile,
    Cancel,
    SignIn,
}

impl Route {
    pub fn label(self) -> &'static str {
        match self {
            Route::Departments => "GET departments",
            Route::Schedules => "GET a department's schedules",
            Route::Session => "GET a session's places",
            Route::Book => "POST booking",
            Route::StartPayment => "POST pay (to the bank)",
            Route::Order => "GET order (until paid)",
            Route::Messages => "GET messages",
            Route::Reports => "GET reports",
            Route::Report => "GET a report",
            Route::ReportFile => "GET a report's PDF",
            Route::Cancel => "POST cancel (refund)",
            Route::SignIn => "WeChat sign-in again (step-up)",
        }
    }
}

/// One request a patient made to a node.
#[derive(Clone, Copy, Debug)]
pub struct Call {
    pub route: Route,
    /// Seconds into the run when it was sent.
    pub at_s: f64,
    pub micros: u64,
    /// HTTP status; 0 for no answer at all.
    pub status: u16,
    /// An answer that means something went wrong (5xx, none, or a 4xx the flow does not expect).
    pub error: bool,
}

/// What the patients and the lab got done.
#[derive(Clone, Debug, Default)]
pub struct Work {
    pub bookings: u64,
    pub paid: u64,
    pub cancelled: u64,
    pub reports_issued: u64,
    pub reports_released: u64,
    pub reports_read: u64,
    pub files_read: u64,
    pub sign_ins_again: u64,
    /// The first few unexpected answers, for the report.
    pub errors: Vec<String>,
}

/// The nodes measured at one moment (summed over the nodes).
#[derive(Clone, Copy, Debug, Default)]
pub struct Gauge {
    pub at_s: f64,
    pub rss_mib: f64,
    pub fds: f64,
    /// The pools' open connections, as the nodes report them.
    pub db_pool: f64,
    /// Connections the PostgreSQL server holds for the database (None on SQLite).
    pub pg_backends: Option<f64>,
    /// Outbox jobs scheduled (reminders, notices held for quiet hours, queries to come).
    pub outbox_pending: f64,
    /// Of which due now and not taken by a worker: the backlog.
    pub outbox_due: f64,
}

/// Hands out send times `1/rate` apart, so that all patients together keep the rate.
pub struct Pacer {
    next: Mutex<Instant>,
    gap: Duration,
}

impl Pacer {
    pub fn new(per_sec: f64) -> Self {
        Self { next: Mutex::new(Instant::now()), gap: Duration::from_secs_f64(1.0 / per_sec.max(0.1)) }
    }

    /// Waits for this request's turn.
    pub async fn turn(&self) {
        let at = {
            let mut next = self.next.lock().expect("pacer");
            let now = Instant::now();
            // A turn missed while nobody was waiting is not saved up: no bursts.
            let at = (*next).max(now);
            *next = at + self.gap;
            at
        };
        tokio::time::sleep_until(at.into()).await;
    }
}

/// Everything a patient task shares.
pub struct Shared {
    pub http: reqwest::Client,
    pub nodes: Vec<String>,
    pub wechat_url: String,
    pub sessions: Vec<Session>,
    pub pacer: Pacer,
    pub started: Instant,
    pub deadline: Instant,
    pub calls: Mutex<Vec<Call>>,
    pub work: Mutex<Work>,
    /// Percent of paid bookings the patient cancels again (a refund).
    pub cancel_percent: u64,
    pub seed: u64,
}

impl Shared {
    fn node(&self, i: usize) -> &str {
        &self.nodes[i % self.nodes.len()]
    }

    fn note_error(&self, what: String) {
        let mut w = self.work.lock().expect("work");
        if w.errors.len() < 20 {
            w.errors.push(what);
        }
    }
}

/// A patient's request, paced and timed; its status and JSON body (Null when none).
struct Answer {
    status: u16,
    body: Value,
}

/// Whether `status`/`code` is an answer the patient's flow expects (not an error).
pub fn expected(route: Route, status: u16, code: &str) -> bool {
    match status {
        200..=399 => true,
        // A place someone else just took, a session sold out, a place already held.
        409 if route == Route::Book => matches!(code, "SLOT_TAKEN" | "SESSION_FULL" | "BOOKING_DUPLICATE"),
        // Cancelling while the bank's word is still on its way.
        409 if route == Route::Cancel => code == "BOOKING_NOT_CANCELLABLE",
        // Step-up: the patient signs in again (counted, not an error).
        401 => matches!(code, "REAUTH_REQUIRED" | "REAUTH_TO_READ"),
        _ => false,
    }
}

async fn send(sh: &Shared, route: Route, req: reqwest::RequestBuilder) -> Answer {
    sh.pacer.turn().await;
    let t = Instant::now();
    let at_s = t.duration_since(sh.started).as_secs_f64();
    let (status, body) = match req.send().await {
        Ok(r) => {
            let status = r.status().as_u16();
            let is_json = r.headers().get("content-type").and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("json"));
            let body = if is_json {
                r.json::<Value>().await.unwrap_or(Value::Null)
            } else {
                let _ = r.bytes().await;
                Value::Null
            };
            (status, body)
        }
        Err(_) => (0, Value::Null),
    };
    let micros = t.elapsed().as_micros() as u64;
    let code = body["code"].as_str().unwrap_or("");
    let error = !expected(route, status, code);
    if error {
        sh.note_error(format!("{} → {status} {code}", route.label()));
    }
    sh.calls.lock().expect("calls").push(Call { route, at_s, micros, status, error });
    Answer { status, body }
}

/// One virtual patient, visit after visit until the deadline.
pub async fn patient(sh: Arc<Shared>, i: usize, mut p: VirtualPatient) {
    let mut rng = SeededRng::new(sh.seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut visit = 0u64;
    while Instant::now() < sh.deadline {
        visit += 1;
        let node = sh.node(i + visit as usize).to_owned();
        let h = &sh.http;
        let ck = p.cookie.clone();
        let s = &sh.sessions[rng.below(sh.sessions.len() as u64) as usize];
        send(&sh, Route::Departments, h.get(format!("{node}/api/v1/departments"))).await;
        send(&sh, Route::Schedules, h.get(format!("{node}/api/v1/departments/{}/schedules", s.dept_id))).await;
        let sched = send(&sh, Route::Session, h.get(format!("{node}{}", crowd::session_path(s)))).await;
        let free: Vec<String> = sched.body["slots"]
            .as_array()
            .map(|a| a.iter().filter(|x| x["available"].as_u64().unwrap_or(0) > 0).filter_map(|x| x["slot_id"].as_str().map(str::to_owned)).collect())
            .unwrap_or_default();
        // Reading messages and reports happens on most visits, booked or not.
        send(&sh, Route::Messages, h.get(format!("{node}/api/v1/me/messages")).header("cookie", &ck)).await;
        read_reports(&sh, &node, &mut p, i, &mut rng).await;
        if free.is_empty() {
            pause(&sh, 500).await;
            continue;
        }
        let slot = &free[rng.below(free.len() as u64) as usize];
        let body = json!({"patient_id": p.patient_id, "dept_id": s.dept_id, "slot_id": slot});
        let key = format!("soak-{i}-{visit}");
        let b =
            send(&sh, Route::Book, h.post(format!("{node}/api/v1/me/registrations")).header("cookie", &ck).header("idempotency-key", &key).json(&body)).await;
        if b.status != 201 {
            continue;
        }
        sh.work.lock().expect("work").bookings += 1;
        let (no, order) = (b.body["booking_no"].as_str().unwrap_or_default().to_owned(), b.body["order_no"].as_str().unwrap_or_default().to_owned());
        let pay = send(
            &sh,
            Route::StartPayment,
            h.post(format!("{node}/api/v1/me/orders/{order}/pay"))
                .header("cookie", &ck)
                .header("idempotency-key", format!("{key}-pay"))
                .json(&json!({"method": "self_pay"})),
        )
        .await;
        let Some(cashier) = pay.body["next_url"].as_str().map(str::to_owned) else { continue };
        // The bank's cashier page (the bank's load, not ours: not paced, not timed).
        match h.post(format!("{cashier}/pay")).send().await {
            Ok(r) if r.status().as_u16() == 303 => {}
            other => {
                sh.note_error(format!("the bank's cashier: {:?}", other.map(|r| r.status())));
                continue;
            }
        }
        // The result page polls until the bank's word has reached us.
        let mut paid = false;
        for _ in 0..20 {
            let o = send(&sh, Route::Order, h.get(format!("{node}/api/v1/me/orders/{order}")).header("cookie", &ck)).await;
            if matches!(o.body["state"].as_str(), Some("paid" | "fulfilled")) {
                paid = true;
                break;
            }
            pause(&sh, 300).await;
        }
        if !paid {
            sh.note_error(format!("order {order} not paid 20 polls after the bank took the money"));
            continue;
        }
        sh.work.lock().expect("work").paid += 1;
        if rng.chance(sh.cancel_percent) {
            pause(&sh, 1000 + rng.below(2000)).await;
            for attempt in 0..10 {
                let r = send(&sh, Route::Cancel, h.post(format!("{node}/api/v1/me/registrations/{no}/cancel")).header("cookie", &p.cookie)).await;
                match r.status {
                    200 => {
                        sh.work.lock().expect("work").cancelled += 1;
                        break;
                    }
                    401 => sign_in_again(&sh, &node, &mut p, i).await,
                    409 => pause(&sh, 300 * (attempt + 1)).await,
                    _ => break,
                }
            }
        }
        pause(&sh, 1000 + rng.below(3000)).await;
    }
}

async fn read_reports(sh: &Shared, node: &str, p: &mut VirtualPatient, i: usize, rng: &mut SeededRng) {
    let h = &sh.http;
    let list = send(sh, Route::Reports, h.get(format!("{node}/api/v1/me/reports")).header("cookie", &p.cookie)).await;
    let done: Vec<String> = list
        .body
        .as_array()
        .map(|a| a.iter().filter(|r| r["report_no"].is_string()).filter_map(|r| r["order_no"].as_str().map(str::to_owned)).collect())
        .unwrap_or_default();
    let Some(no) = done.first() else { return };
    for _ in 0..2 {
        let r = send(sh, Route::Report, h.get(format!("{node}/api/v1/me/reports/{no}")).header("cookie", &p.cookie)).await;
        if r.status == 401 {
            sign_in_again(sh, node, p, i).await;
            continue;
        }
        if r.status != 200 {
            return;
        }
        sh.work.lock().expect("work").reports_read += 1;
        // Now and then the patient saves the PDF.
        if rng.chance(20)
            && let Some(url) = r.body["files"].as_array().and_then(|f| f.iter().find(|f| f["kind"] == "pdf")).and_then(|f| f["download_url"].as_str())
        {
            let f = send(sh, Route::ReportFile, h.get(format!("{node}{url}")).header("cookie", &p.cookie)).await;
            if f.status == 200 {
                sh.work.lock().expect("work").files_read += 1;
            }
        }
        return;
    }
}

async fn sign_in_again(sh: &Shared, node: &str, p: &mut VirtualPatient, i: usize) {
    sh.pacer.turn().await;
    let t = Instant::now();
    let at_s = t.duration_since(sh.started).as_secs_f64();
    let r = crowd::sign_in(&sh.http, node, &sh.wechat_url, i).await;
    let ok = r.is_ok();
    if let Ok(c) = r {
        p.cookie = c;
        sh.work.lock().expect("work").sign_ins_again += 1;
    } else {
        sh.note_error(format!("{} failed", Route::SignIn.label()));
    }
    sh.calls.lock().expect("calls").push(Call {
        route: Route::SignIn,
        at_s,
        micros: t.elapsed().as_micros() as u64,
        status: if ok { 200 } else { 0 },
        error: !ok,
    });
}

async fn pause(sh: &Shared, ms: u64) {
    let until = (Instant::now() + Duration::from_millis(ms)).min(sh.deadline);
    tokio::time::sleep_until(until.into()).await;
}

/// A staff member of the run, signed in with password and TOTP.
pub struct Staff {
    pub username: String,
    pub password: String,
    pub totp_secret: Vec<u8>,
}

impl Staff {
    pub async fn sign_in(&self, http: &reqwest::Client, node: &str) -> anyhow::Result<String> {
        let code = crypto::totp::code_at(&self.totp_secret, chrono::Utc::now().timestamp());
        let r = http
            .post(format!("{node}/staff/login"))
            .form(&[("username", self.username.as_str()), ("password", &self.password), ("otp", &code), ("next", "/staff")])
            .send()
            .await?;
        r.headers()
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("__Host-cb_staff="))
            .and_then(|v| v.split(';').next())
            .map(str::to_owned)
            .ok_or_else(|| anyhow::anyhow!("staff sign-in of {} answered {}", self.username, r.status()))
    }
}

/// The lab: every `every`, a blood count for one of the patients is ordered, sampled
/// and reported in the LIS (which pushes each change to us), and the doctor releases it.
pub async fn lab(sh: Arc<Shared>, his_url: String, his_ids: Vec<String>, doctor: Staff, every: Duration) {
    let h = &sh.http;
    let node = sh.nodes[0].clone();
    let mut cookie = doctor.sign_in(h, &node).await.ok();
    let mut rng = SeededRng::new(sh.seed ^ 0x1AB);
    let mut pending: Vec<(String, Instant)> = Vec::new();
    while Instant::now() < sh.deadline {
        tokio::time::sleep(every).await;
        let his = &his_ids[rng.below(his_ids.len() as u64) as usize];
        let made = async {
            let r = h
                .post(format!("{his_url}/__sim/lis/orders"))
                .json(&json!({"patient_id": his, "item_code": "250101001"}))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let (status, v) = (r.status(), r.json::<Value>().await.unwrap_or(Value::Null));
            let lab = v["orderNo"].as_str().ok_or(format!("new order: {status} {v}"))?.to_owned();
            for action in ["sample", "report"] {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let r = h.post(format!("{his_url}/__sim/lis/orders/{lab}/{action}?files=pdf")).send().await.map_err(|e| e.to_string())?;
                if !r.status().is_success() {
                    return Err(format!("{action}: {} {}", r.status(), r.text().await.unwrap_or_default()));
                }
            }
            Ok::<_, String>(lab)
        }
        .await;
        match made {
            Ok(lab) => {
                sh.work.lock().expect("work").reports_issued += 1;
                pending.push((lab, Instant::now()));
            }
            Err(e) => sh.note_error(format!("the LIS simulator refused a report: {e}")),
        }
        // The doctor releases what has arrived (the push may still be on its way: tried
        // again on the next round, given up after a minute).
        let mut still = Vec::new();
        for (lab, since) in pending.drain(..) {
            if cookie.is_none() {
                cookie = doctor.sign_in(h, &node).await.ok();
            }
            let Some(c) = &cookie else {
                still.push((lab, since));
                continue;
            };
            let r = h.post(format!("{node}/staff/lab/{lab}/release")).header("cookie", c).form(&[("confirmed", "1")]).send().await;
            let location = r.as_ref().ok().and_then(|r| r.headers().get("location")).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
            if location.contains("done=") {
                sh.work.lock().expect("work").reports_released += 1;
            } else if location.starts_with("/staff/login") {
                cookie = None;
                still.push((lab, since));
            } else if since.elapsed() < Duration::from_secs(60) {
                still.push((lab, since));
            } else {
                sh.note_error(format!("report {lab} could not be released: {location}"));
            }
        }
        pending = still;
    }
}

/// Measures the nodes every `every` until the deadline (and once more at the end).
pub async fn gauges(
    http: reqwest::Client,
    nodes: Vec<(Option<u32>, String)>,
    pg: Option<(String, String)>,
    started: Instant,
    deadline: Instant,
    every: Duration,
) -> Vec<Gauge> {
    let pg_conn = match &pg {
        Some((admin, _)) => sea_orm::Database::connect(admin).await.ok(),
        None => None,
    };
    let mut out = Vec::new();
    loop {
        let mut g = Gauge { at_s: started.elapsed().as_secs_f64(), ..Gauge::default() };
        for (pid, url) in &nodes {
            if let Some(pid) = pid {
                g.rss_mib += crate::deploy::proc_status_kib(*pid, "VmRSS:").unwrap_or(0.0) / 1024.0;
                g.fds += crate::deploy::open_fds(*pid).unwrap_or(0) as f64;
            }
            if let Ok(r) = http.get(format!("{url}/metrics")).send().await
                && let Ok(text) = r.text().await
            {
                g.db_pool += metric(&text, "carebridge_db_connections{state=\"open\"}").unwrap_or(0.0);
                // One outbox for all nodes: the largest any node saw, not a sum.
                g.outbox_pending = g.outbox_pending.max(metric(&text, "carebridge_outbox_jobs{state=\"pending\"}").unwrap_or(0.0));
                g.outbox_due = g.outbox_due.max(metric(&text, "carebridge_outbox_jobs{state=\"due\"}").unwrap_or(f64::NAN));
            }
        }
        if let (Some(db), Some((_, name))) = (&pg_conn, &pg) {
            use sea_orm::ConnectionTrait;
            let sql = format!("SELECT count(*) AS n FROM pg_stat_activity WHERE datname = '{name}'");
            g.pg_backends = db
                .query_one_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
                .await
                .ok()
                .flatten()
                .and_then(|r| r.try_get::<i64>("", "n").ok())
                .map(|n| n as f64);
        }
        out.push(g);
        if Instant::now() >= deadline {
            break;
        }
        tokio::time::sleep(every.min(deadline.saturating_duration_since(Instant::now()) + Duration::from_millis(10))).await;
    }
    if let Some(db) = pg_conn {
        let _ = db.close().await;
    }
    out
}

/// A sample's value in Prometheus text (`name{labels} value`).
pub fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines().find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))?.rsplit(' ').next()?.parse().ok()
}

/// How a measured series may move between the start and the end of the measured stretch.
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    /// Allowed growth, absolute (in the series' unit).
    pub abs: f64,
    /// Allowed growth, relative to the level at the start.
    pub rel: f64,
}

/// A series' level at the start and the end of the measured stretch (the mean of its
/// first and last quarter, so one noisy sample does not decide) and whether the growth
/// between them is within `bound`.
#[derive(Clone, Copy, Debug)]
pub struct Flatness {
    pub start: f64,
    pub end: f64,
    pub max: f64,
    pub flat: bool,
}

pub fn flatness(series: &[f64], bound: Bound) -> Flatness {
    if series.is_empty() {
        return Flatness { start: 0.0, end: 0.0, max: 0.0, flat: false };
    }
    let q = (series.len() / 4).max(1);
    let mean = |s: &[f64]| s.iter().sum::<f64>() / s.len() as f64;
    let start = mean(&series[..q]);
    let end = mean(&series[series.len() - q..]);
    let max = series.iter().copied().fold(f64::MIN, f64::max);
    let allowed = bound.abs.max(start * bound.rel);
    Flatness { start, end, max, flat: end - start <= allowed }
}

/// Latency percentiles (ms) of the calls.
pub fn latencies(calls: &[&Call]) -> (f64, f64, f64) {
    let mut m: Vec<u64> = calls.iter().map(|c| c.micros).collect();
    m.sort_unstable();
    (crowd::percentile(&m, 50.0), crowd::percentile(&m, 99.0), m.last().map(|v| *v as f64 / 1000.0).unwrap_or(0.0))
}

/// Calls by route, after the warm-up.
pub fn by_route(calls: &[Call], warmup_s: f64) -> BTreeMap<Route, Vec<&Call>> {
    let mut m: BTreeMap<Route, Vec<&Call>> = BTreeMap::new();
    for c in calls.iter().filter(|c| c.at_s >= warmup_s) {
        m.entry(c.route).or_default().push(c);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    const RSS: Bound = Bound { abs: 16.0, rel: 0.10 };

    #[test]
    fn a_flat_series_with_noise_is_flat() {
        let s: Vec<f64> = (0..96).map(|i| 120.0 + [0.0, 3.0, -2.0, 1.5][i % 4]).collect();
        assert!(flatness(&s, RSS).flat);
    }

    #[test]
    fn a_steady_leak_is_not_flat() {
        // 0.5 MiB a sample over 96 samples (8 min at 5 s): ~36 MiB between the quarters.
        let s: Vec<f64> = (0..96).map(|i| 120.0 + i as f64 * 0.5).collect();
        let f = flatness(&s, RSS);
        assert!(!f.flat, "{f:?}");
        assert!(f.end > f.start + 30.0);
    }

    #[test]
    fn a_growing_backlog_is_not_flat_and_a_drained_one_is() {
        let growing: Vec<f64> = (0..60).map(|i| i as f64 * 2.0).collect();
        assert!(!flatness(&growing, Bound { abs: 20.0, rel: 0.0 }).flat);
        let busy_then_drained: Vec<f64> = (0..60).map(|i| if i < 15 { 40.0 } else { 2.0 }).collect();
        assert!(flatness(&busy_then_drained, Bound { abs: 20.0, rel: 0.0 }).flat);
    }

    #[test]
    fn nothing_measured_is_not_flat() {
        assert!(!flatness(&[], RSS).flat);
    }

    #[test]
    fn only_the_answers_the_flow_expects_are_not_errors() {
        assert!(expected(Route::Book, 409, "SLOT_TAKEN"));
        assert!(!expected(Route::Book, 409, "BOOKING_NOT_CANCELLABLE"));
        assert!(expected(Route::Cancel, 409, "BOOKING_NOT_CANCELLABLE"));
        assert!(expected(Route::Report, 401, "REAUTH_TO_READ"));
        assert!(!expected(Route::Report, 401, "UNAUTHENTICATED"));
        assert!(!expected(Route::Departments, 503, "STORE_UNAVAILABLE"));
        assert!(!expected(Route::Messages, 0, ""));
        assert!(!expected(Route::Order, 429, "RATE_LIMITED"));
    }

    #[test]
    fn a_metric_is_read_by_its_whole_series_name() {
        let text = "carebridge_db_connections{state=\"open\"} 7\ncarebridge_db_connections{state=\"idle\"} 3\ncarebridge_outbox_jobs{state=\"pending\"} 12\n";
        assert_eq!(metric(text, "carebridge_db_connections{state=\"open\"}"), Some(7.0));
        assert_eq!(metric(text, "carebridge_outbox_jobs{state=\"pending\"}"), Some(12.0));
        assert_eq!(metric(text, "carebridge_outbox_jobs{state=\"dead\"}"), None);
    }

    #[tokio::test]
    async fn the_pacer_keeps_the_rate() {
        let p = Arc::new(Pacer::new(200.0));
        let t = Instant::now();
        let tasks: Vec<_> = (0..100)
            .map(|_| {
                let p = p.clone();
                tokio::spawn(async move { p.turn().await })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        // 100 turns 5 ms apart: the last at about 495 ms, never much sooner.
        assert!(t.elapsed() >= Duration::from_millis(480), "{:?}", t.elapsed());
    }
}
