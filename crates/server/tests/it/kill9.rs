//! G4 (reduced for CI): the real `carebridge` process is killed with SIGKILL at points
//! along the payment — before the bank is paid, while the bank's notification is being
//! handled, while a refund is being carried out — and restarted. After each restart the
//! persisted jobs heal everything: every order the bank charged is recorded as paid,
//! every refund happens exactly once under its stable number, nothing is left half-way,
//! and the bank holds exactly what our ledger says, order by order (P4, P5, P7, G13).
//!
//! The bank and the other outside systems are simulators in this test process (they
//! outlive the killed server, as the real bank would); the test creates orders through
//! its own node on the same database, as a second application node would.
use domain::billing::{OrderLine, OrderState, PerChannel, Purpose};
use domain::{Clock, Fen, SystemClock};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_carebridge");
/// Iterations per crash point: 3 in CI; `CAREBRIDGE_KILL9_ITERATIONS=20` (or more) nightly,
/// as G4 asks.
pub(crate) fn iterations() -> usize {
    std::env::var("CAREBRIDGE_KILL9_ITERATIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(3)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

pub(crate) struct Server {
    child: Option<Child>,
    /// How a node started at a crash point ended, if it died before it was ready.
    exited: Option<std::process::ExitStatus>,
    config: std::path::PathBuf,
    pub(crate) base: String,
    pub(crate) dir: std::path::PathBuf,
}

/// A node's settings on a fresh SQLite file, pointed at running simulators, with short
/// leases so a killed node's jobs are taken over quickly.
pub(crate) fn settings(sims: &sim::RunningSims, dir: &std::path::Path, port: u16) -> server::settings::Settings {
    let mut s = server::settings::Settings::defaults();
    server::demo::point_at_sims(&mut s, sims);
    s.server.bind = format!("127.0.0.1:{port}");
    s.server.callback_base_url = format!("http://127.0.0.1:{port}");
    s.database.url = format!("sqlite://{}/cb.db?mode=rwc", dir.display());
    s.security.field_key = "00112233445566778899aabbccddeeff".into();
    s.security.lookup_key = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100".into();
    s.workers.poll_ms = 100;
    s.workers.lease_secs = 2;
    s.log.format = "json".into();
    s
}

impl Server {
    /// The real binary with these settings, written to its config file; not started.
    pub(crate) fn new(s: &server::settings::Settings, dir: &std::path::Path) -> Self {
        let config = dir.join("carebridge.toml");
        std::fs::write(&config, s.to_toml().unwrap()).unwrap();
        Self { child: None, exited: None, config, base: s.server.callback_base_url.clone(), dir: dir.to_owned() }
    }

    pub(crate) async fn start(&mut self) {
        self.start_with(None).await
    }

    /// Starts the binary; with a crash point, it dies there (see `app::crash`).
    pub(crate) async fn start_with(&mut self, crash_at: Option<&str>) {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.dir.join("server.log")).unwrap();
        let mut cmd = Command::new(BIN);
        match crash_at {
            Some(point) => cmd.env("CAREBRIDGE_CRASH_AT", point),
            None => cmd.env_remove("CAREBRIDGE_CRASH_AT"),
        };
        let child = cmd
            .args(["--config", self.config.to_str().unwrap(), "serve"])
            .current_dir(&self.dir)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap();
        self.child = Some(child);
        let http = reqwest::Client::new();
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().unwrap()) {
                if crash_at.is_some() {
                    // Died at its crash point before it was ready (a queued job got there
                    // first): `crashed` checks where.
                    self.child = None;
                    self.exited = Some(status);
                    return;
                }
                panic!(
                    "server exited at start ({status}): {}",
                    std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default().lines().rev().take(5).collect::<Vec<_>>().join("\n")
                );
            }
            if let Ok(r) = http.get(format!("{}/readyz", self.base)).send().await
                && r.status().is_success()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("server did not become ready: {}", std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default());
    }

    /// SIGKILL: no shutdown, no flushing, no draining.
    pub(crate) fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Server {
    /// Waits for a node started at a crash point to die there; panics if it lives on.
    pub(crate) async fn crashed(&mut self, point: &str) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(40) {
            let status = match self.exited.take() {
                Some(s) => Some(s),
                None => self.child.as_mut().and_then(|c| c.try_wait().unwrap()),
            };
            if let Some(status) = status {
                self.child = None;
                assert!(!status.success(), "{point}: the node stopped without crashing");
                let log = std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default();
                assert!(log.contains(&format!("crash point reached: {point}")), "{point}: died elsewhere: {}", &log[log.len().saturating_sub(2000)..]);
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{point}: never reached");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill9();
    }
}

pub(crate) fn line(amount: i64) -> Vec<OrderLine> {
    vec![OrderLine { code: "REG".into(), name: "挂号费".into(), qty: 1, unit_price: Fen(amount), amount: Fen(amount), insurable: true }]
}

pub(crate) async fn pay(cashier: &str) {
    let r = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().post(format!("{cashier}/pay")).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

pub(crate) async fn wait_until(what: &str, mut done: impl AsyncFnMut() -> bool) {
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(40) {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_between_charge_and_record_heals_on_restart() {
    let dir = std::env::temp_dir().join(format!("cb-kill9-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    // The outside world, alive throughout.
    let mut sc = sim::SimConfig::default();
    sc.ccb.notify_url = format!("{base}/callbacks/ccb");
    let sims = sim::start(sc, clock.clone()).await.unwrap();
    let mut s = settings(&sims, &dir, port);
    s.payment.first_query_after_secs = 1;
    let mut server = Server::new(&s, &dir);
    server.start().await;
    // The test's own node: creates orders and reads state; runs no jobs.
    let node = server::assemble(s.clone(), false, clock.clone(), false).await.unwrap();
    let app = node.app.clone();
    let actor = app::Actor::system("kill9");
    let mut orders: Vec<(String, &'static str)> = Vec::new();

    for i in 0..iterations() {
        // 1. Killed after the order exists; the patient pays while we are down. The bank's
        //    notification finds nobody; the persisted query job heals it after restart.
        let o = app.create_self_pay_order(None, Purpose::Registration, line(2_500 + i as i64), &actor).await.unwrap();
        server.kill9();
        pay(&o.cashier_url).await;
        server.start().await;
        orders.push((o.order_no, "paid while down"));

        // 2. Killed right as the notification is being handled.
        let o = app.create_self_pay_order(None, Purpose::Registration, line(3_000 + i as i64), &actor).await.unwrap();
        pay(&o.cashier_url).await;
        tokio::time::sleep(Duration::from_millis(5 * i as u64)).await;
        server.kill9();
        server.start().await;
        orders.push((o.order_no, "killed mid-notification"));

        // 3. Killed while a requested refund is being carried out.
        let o = app.create_self_pay_order(None, Purpose::Registration, line(4_000 + i as i64), &actor).await.unwrap();
        pay(&o.cashier_url).await;
        let no = o.order_no.clone();
        wait_until("paid before the refund", async || node.store.order(&no).await.unwrap().0.state.money_confirmed()).await;
        app.request_refund(&no, PerChannel { insurance: Fen::ZERO, self_pay: Fen(1_000) }, "kill9", &actor).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50 + 20 * i as u64)).await;
        server.kill9();
        server.start().await;
        orders.push((o.order_no, "killed mid-refund"));
    }

    // After the last restart everything comes to rest on its own.
    for (no, point) in &orders {
        let no = no.clone();
        wait_until(point, async || node.store.order(&no).await.unwrap().0.state.is_resting()).await;
    }
    let ccb = node.bank.as_ref().unwrap();
    for (no, point) in &orders {
        let (order, _) = node.store.order(no).await.unwrap();
        let bank = ccb.query(no).await.unwrap().expect("the bank knows the order");
        let held = bank.amount.0 - bank.refunded.0;
        let local: i64 = node.store.ledger_of(no).await.unwrap().iter().filter(|e| e.account == "clearing:bank").map(|e| e.amount).sum();
        assert_eq!(held, local, "{point}: the bank holds what the ledger says");
        assert_eq!(order.captured.self_pay, bank.amount, "{point}: bank-charged == recorded as paid");
        if *point == "killed mid-refund" {
            assert_eq!(bank.refunded, Fen(1_000), "{point}: refunded exactly once");
            assert_eq!(order.state, OrderState::PartiallyRefunded);
        } else {
            assert_eq!(order.state, OrderState::Fulfilled, "{point}");
        }
        let ledger = node.store.ledger_of(no).await.unwrap();
        assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), 0, "{point}: balanced");
    }
    let stats = node.store.outbox_stats().await.unwrap();
    assert_eq!(stats.dead, 0, "no job dead-lettered");
    server.kill9();
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}

/// M6: notices queued while WeChat is down survive the process being killed mid-retry;
/// after restart and recovery every one is delivered, and WeChat has each exactly once
/// (its `client_msg_id` makes a repeat after a lost answer harmless).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_while_messages_wait_for_wechat_loses_none_and_doubles_none() {
    let dir = std::env::temp_dir().join(format!("cb-kill9m-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let sims = sim::start(sim::SimConfig::default(), clock.clone()).await.unwrap();
    let mut s = settings(&sims, &dir, port);
    // No quiet hours: the test runs at any time of day.
    s.messages.quiet_start = "00:00".into();
    s.messages.quiet_end = "00:00".into();
    let mut server = Server::new(&s, &dir);
    let node = server::assemble(s.clone(), false, clock.clone(), false).await.unwrap();
    let app = node.app.clone();
    // A patient to tell.
    let account = node.store.upsert_wechat_account("oDemo_zhangwei_0001", None, None, app.now()).await.unwrap();
    let zhang = sim::demo::citizens(app.today()).into_iter().find(|c| c.name == "张伟").unwrap();
    let input = app::identity::AddPatientInput { name: zhang.name.clone(), id_card_no: zhang.id_card_no.clone(), mobile: None, relationship: "self".into() };
    let patient = app.add_patient(account, &input, "kill9").await.unwrap();
    let wechat = sims.wechat.clone();
    wechat.lock().unwrap().messages.faults = serde_json::from_value(serde_json::json!({"down": "5xx"})).unwrap();
    server.start().await;
    let n = 8;
    for i in 0..n {
        let txn = node.store.write_txn().await.unwrap();
        let payload = serde_json::json!({"report_id": format!("K{i}"), "report_name": "血常规", "reported_at": "2026-11-26 10:05", "dept_name": "检验科"});
        node.store.record_event(&txn, "report.ready", &format!("report.ready:K{i}"), Some(patient.id), &payload, app.now()).await.unwrap();
        txn.commit().await.unwrap();
    }
    // Let them be dispatched and fail a few times, then kill in the middle of it, twice.
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(2500)).await;
        server.kill9();
        server.start().await;
    }
    let queued = node.store.count_messages_by_status("queued").await.unwrap();
    assert_eq!(queued, n, "all {n} wait for WeChat");
    // WeChat recovers, but the first answers are lost after it accepted them.
    wechat.lock().unwrap().messages.faults = serde_json::from_value(serde_json::json!({"lose_response_next": 2, "hang_ms": 6000})).unwrap();
    let sent = async || node.store.count_messages_by_status("sent").await.unwrap();
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(90) && sent().await < n {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(sent().await, n, "every queued notice delivered after recovery");
    let log = wechat.lock().unwrap().messages.sent.clone();
    assert_eq!(log.len() as u64, n, "each once at WeChat");
    let mut ids: Vec<_> = log.iter().filter_map(|m| m.client_msg_id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len() as u64, n);
    server.kill9();
    drop(node);
    let _ = std::fs::remove_dir_all(dir);
}
