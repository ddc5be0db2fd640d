//! G4 at every step (issue 20 item 2; P4–P6): the real `carebridge` process is made to
//! die *exactly* at each crash point of `app::crash` (`CAREBRIDGE_CRASH_AT`, an abort:
//! nothing unwinds or flushes, as under kill -9) and started again without it. After the
//! restart the persisted jobs finish what was cut off, once: the order ends where the
//! bank and the centre say, the HIS holds one registration or one settlement, a refund
//! or a reversal happens once under its stable number, a message reaches WeChat once, a
//! cut-off reconciliation is closed as interrupted and done again. Including "paid but
//! the slot was lost" (the HIS refuses the confirmation after the crash): refunded.
//! Each point runs `CAREBRIDGE_KILL9_ITERATIONS` times (CI 3, nightly 20).
use crate::kill9::{Server, free_port, iterations, line, pay, settings, wait_until};
use app::crash;
use domain::billing::{Channel, OrderLine, OrderState, PerChannel, Purpose};
use domain::{Clock, Fen, SystemClock};
use std::collections::BTreeSet;
use std::sync::Arc;

struct World {
    server: Server,
    node: server::Node,
    sims: sim::RunningSims,
    actor: app::Actor,
    account: i64,
    zhang: i64,
    lina: i64,
    used_sessions: std::sync::Mutex<BTreeSet<String>>,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

impl World {
    async fn new() -> (Self, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("cb-crash-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        let port = free_port();
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let mut sc = sim::SimConfig::default();
        sc.ccb.notify_url = format!("http://127.0.0.1:{port}/callbacks/ccb");
        // The LIS pushes its events to the node (MSG-3's signed open interface).
        sc.his.push_base_url = format!("http://127.0.0.1:{port}");
        let sims = sim::start(sc, clock.clone()).await.unwrap();
        let mut s = settings(&sims, &dir, port);
        s.payment.first_query_after_secs = 1;
        // A booking whose lock answer died with the node is settled after 2 s, not 2 min.
        s.registration.lock_answer_grace_secs = 2;
        // No quiet hours: the test runs at any time of day.
        s.messages.quiet_start = "00:00".into();
        s.messages.quiet_end = "00:00".into();
        let server = Server::new(&s, &dir);
        // The test's own node on the same database: sets up patients and orders, reads state.
        let node = server::assemble(s.clone(), false, clock.clone(), false).await.unwrap();
        let app = &node.app;
        server::demo::seed_open_api_client(&node.store, clock.now()).await.unwrap();
        // A followed demo WeChat user, so notices really go to the WeChat simulator.
        let account = node.store.upsert_wechat_account("oDemo_zhangwei_0001", None, None, clock.now()).await.unwrap();
        let citizens = sim::demo::citizens(app.today());
        let add = async |name: &str, rel: &str| {
            let c = citizens.iter().find(|c| c.name == name).unwrap();
            let input = app::identity::AddPatientInput { name: c.name.clone(), id_card_no: c.id_card_no.clone(), mobile: None, relationship: rel.into() };
            app.add_patient(account, &input, "crash").await.unwrap().id
        };
        let zhang = add("张伟", "self").await;
        let lina = add("李娜", "other").await;
        (Self { server, node, sims, actor: app::Actor::system("crash"), account, zhang, lina, used_sessions: Default::default() }, dir)
    }

    fn app(&self) -> &app::App {
        &self.node.app
    }

    async fn state(&self, no: &str) -> OrderState {
        self.node.store.order(no).await.unwrap().0.state
    }

    async fn resting(&self, no: &str, what: &str) -> OrderState {
        let no = no.to_owned();
        wait_until(what, async || self.node.store.order(&no).await.unwrap().0.state.is_resting()).await;
        self.state(&no).await
    }

    /// A registration of `patient` on a free slot of a session not used before (one live
    /// booking per patient per session); returns (booking, order).
    async fn booking(&self, patient: i64) -> (String, String) {
        let (dept, slot) = self.fresh_slot().await;
        let b = self.app().book(self.account, patient, dept, &slot, &self.actor).await.unwrap();
        (b.booking_no, b.order_no.expect("a paid registration"))
    }

    /// A free slot (department, slot) of a session no booking of this test used yet.
    async fn fresh_slot(&self) -> (&'static str, String) {
        let now = domain::clock::to_local(self.app().now()).naive_local();
        for dept in ["0101", "0102"] {
            let v = self.app().department_view(dept).await.unwrap();
            let found = {
                let mut used = self.used_sessions.lock().unwrap();
                let found = v
                    .schedules
                    .iter()
                    .filter(|s| !s.suspended && !used.contains(&s.schedule_id))
                    .flat_map(|s| s.slots.iter().map(move |x| (s, x)))
                    .find(|(s, x)| x.available > 0 && s.date.and_time(x.start) > now + chrono::Duration::hours(1))
                    .map(|(s, x)| (s.schedule_id.clone(), x.slot_id.clone()));
                if let Some((schedule, _)) = &found {
                    used.insert(schedule.clone());
                }
                found
            };
            if let Some((_, slot)) = found {
                return (dept, slot);
            }
        }
        panic!("no free session left");
    }

    fn his_calls(&self, op: &str) -> u64 {
        self.sims.his.lock().unwrap().op_calls.get(op).copied().unwrap_or(0)
    }

    /// The bank's word on an order: (paid, refunded).
    async fn bank(&self, no: &str) -> (Fen, Fen) {
        let b = self.node.bank.as_ref().unwrap().query(no).await.unwrap().expect("the bank knows the order");
        (b.amount, b.refunded)
    }

    async fn ledger_balanced_and_matches_the_bank(&self, no: &str, point: &str) {
        let ledger = self.node.store.ledger_of(no).await.unwrap();
        assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), 0, "{point}: the books balance");
        let local: i64 = ledger.iter().filter(|e| e.account == "clearing:bank").map(|e| e.amount).sum();
        let (paid, refunded) = self.bank(no).await;
        assert_eq!(local, paid.0 - refunded.0, "{point}: the bank holds what the ledger says");
    }

    /// Starts the node set to die at `point`, runs `trigger`, waits for the death, starts it again.
    async fn crash_at(&mut self, point: &str, trigger: impl AsyncFnOnce(&World)) {
        self.server.kill9();
        self.server.start_with(Some(point)).await;
        trigger(self).await;
        self.server.crashed(point).await;
        self.server.start().await;
    }
}

fn mixed_lines(i: usize) -> Vec<OrderLine> {
    vec![
        OrderLine { code: "RX".into(), name: "处方".into(), qty: 1, unit_price: Fen(3_000 + i as i64), amount: Fen(3_000 + i as i64), insurable: true },
        OrderLine { code: "ZF".into(), name: "自费材料".into(), qty: 1, unit_price: Fen(1_200), amount: Fen(1_200), insurable: false },
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_crash_point_heals_on_restart_and_nothing_happens_twice() {
    let (mut w, dir) = World::new().await;
    let mut covered: BTreeSet<&str> = BTreeSet::new();
    for i in 0..iterations() {
        // 1. Captured and committed; the bank not yet answered, the service not delivered.
        let point = crash::AFTER_CAPTURE;
        let o = w.app().create_self_pay_order(None, Purpose::Registration, line(2_000 + i as i64), &w.actor).await.unwrap();
        w.crash_at(point, async |_| pay(&o.cashier_url).await).await;
        assert_eq!(w.resting(&o.order_no, point).await, OrderState::Fulfilled, "{point}");
        assert_eq!(w.node.store.channel_events_of(&o.order_no).await.unwrap().len(), 1, "{point}: one raw event");
        w.ledger_balanced_and_matches_the_bank(&o.order_no, point).await;
        covered.insert(point);

        // 2 and 3. A paid registration, cut off before and after the HIS confirms it.
        for point in [crash::BEFORE_HIS_CONFIRM, crash::AFTER_HIS_CONFIRM] {
            let (booking, no) = w.booking(w.zhang).await;
            let cashier = w.app().start_self_pay(&no).await.unwrap();
            let confirms = w.his_calls("reg_confirm");
            w.crash_at(point, async |_| pay(&cashier).await).await;
            assert_eq!(w.resting(&no, point).await, OrderState::Fulfilled, "{point}");
            let row = w.node.store.booking(&booking).await.unwrap();
            assert_eq!(store::registration::booking_state(&row), domain::registration::BookingState::Confirmed, "{point}");
            let reg = row.reg_id.clone().expect("the HIS's registration id");
            let asked = w.his_calls("reg_confirm") - confirms;
            let expected = if point == crash::BEFORE_HIS_CONFIRM { 1 } else { 2 };
            assert_eq!(asked, expected, "{point}: the HIS asked {asked} times");
            // The HIS holds one registration for it, the one we recorded.
            assert!(!reg.is_empty());
            assert_eq!(w.sims.his.lock().unwrap().trades_of(&no, "register"), 1, "{point}: one registration in the HIS");
            w.ledger_balanced_and_matches_the_bank(&no, point).await;
            covered.insert(point);
        }

        // P6: paid, and while the node is down the HIS lets the slot go — refunded in full
        // under a stable refund number.
        let point = crash::BEFORE_HIS_CONFIRM;
        let (booking, no) = w.booking(w.zhang).await;
        let cashier = w.app().start_self_pay(&no).await.unwrap();
        w.server.kill9();
        w.server.start_with(Some(point)).await;
        pay(&cashier).await;
        w.server.crashed(point).await;
        let faults = serde_json::json!({"fail_next": [["reg_confirm", "2007"]]});
        assert_eq!(http().post(format!("{}/__sim/faults", w.sims.his_url)).json(&faults).send().await.unwrap().status(), 204);
        w.server.start().await;
        assert_eq!(w.resting(&no, "slot lost").await, OrderState::Refunded, "paid but the slot was lost");
        let row = w.node.store.booking(&booking).await.unwrap();
        assert_eq!(store::registration::booking_state(&row), domain::registration::BookingState::LockLost);
        let (paid, refunded) = w.bank(&no).await;
        assert_eq!(paid, refunded, "all of it back");
        w.ledger_balanced_and_matches_the_bank(&no, "slot lost").await;

        // 4. An outpatient bill the HIS settled before the node died: settled once, not refunded.
        let point = crash::AFTER_HIS_SETTLE;
        let his_lina = w.node.store.patient_by_id(w.lina).await.unwrap().unwrap().his_patient_id;
        // The doctor issues new orders: an unpaid bill of this iteration's own.
        let recipe = w.sims.his.lock().unwrap().issue_orders(&his_lina).0;
        let no = w.app().order_for_bill(w.account, w.lina, &recipe, &w.actor).await.unwrap();
        let cashier = w.app().start_self_pay(&no).await.unwrap();
        let settles = w.his_calls("charge_commit");
        w.crash_at(point, async |_| pay(&cashier).await).await;
        assert_eq!(w.resting(&no, point).await, OrderState::Fulfilled, "{point}: not refunded");
        assert_eq!(w.his_calls("charge_commit") - settles, 2, "{point}: the same pre-settlement asked twice");
        assert_eq!(w.sims.his.lock().unwrap().trades_of(&no, "outpatient"), 1, "{point}: one settlement in the HIS");
        assert!(w.node.his.unpaid_bills(&his_lina).await.unwrap().iter().all(|b| b.recipe_id != recipe), "{point}: the bill is paid");
        w.ledger_balanced_and_matches_the_bank(&no, point).await;
        covered.insert(point);

        // 5. The bank refunded; the node died before recording it.
        let point = crash::AFTER_BANK_REFUND;
        let o = w.app().create_self_pay_order(None, Purpose::Registration, line(5_000 + i as i64), &w.actor).await.unwrap();
        pay(&o.cashier_url).await;
        let no = o.order_no.clone();
        wait_until("paid", async || w.state(&no).await == OrderState::Fulfilled).await;
        w.server.kill9();
        w.app().request_refund(&no, PerChannel { insurance: Fen::ZERO, self_pay: Fen(1_000) }, "crash", &w.actor).await.unwrap();
        w.crash_at(point, async |_| {}).await;
        assert_eq!(w.resting(&no, point).await, OrderState::PartiallyRefunded, "{point}");
        assert_eq!(w.bank(&no).await.1, Fen(1_000), "{point}: refunded once");
        w.ledger_balanced_and_matches_the_bank(&no, point).await;
        covered.insert(point);

        // 6. Insurance settled, self-pay cancelled: the centre reversed it, the node died
        //    before recording the reversal.
        let point = crash::AFTER_CENTRE_REVERSAL;
        w.server.kill9();
        let no = w.app().create_order(None, Purpose::OutpatientBill, mixed_lines(i), None, &w.actor).await.unwrap();
        let url = w.app().insurance_authorize_url(&no, "tier1", app::billing::PayMethod::Insurance, "http://localhost/x").await.unwrap();
        let q: Vec<(String, String)> = reqwest::Url::parse(&url).unwrap().query_pairs().into_owned().collect();
        let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let r = http()
            .post(format!("{}/__sim/medins/auth", w.sims.nhsa_url))
            .form(&[("decision", "allow"), ("redirect_uri", &get("redirect_uri")), ("state", &get("state")), ("relative", &get("relative"))])
            .send()
            .await
            .unwrap();
        let back = r.headers()["location"].to_str().unwrap().to_owned();
        let bq: Vec<(String, String)> = reqwest::Url::parse(&back).unwrap().query_pairs().into_owned().collect();
        let bget = |k: &str| bq.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        w.app().insurance_presettle(&no, &bget("authCode"), &bget("state"), "o", &w.actor).await.unwrap();
        let c = w.app().insurance_cashier_url(&no, "").await.unwrap();
        let id = c.split("/cashier/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        http().post(format!("{}/__sim/nhsa/cashier/{id}", w.sims.nhsa_url)).form(&[("decision", "confirm"), ("redirect", "")]).send().await.unwrap();
        w.app().resolve_payment(&no).await.unwrap();
        assert!(w.node.store.order(&no).await.unwrap().0.captured.get(Channel::Insurance).0 > 0, "the centre settled its part");
        let cashier = w.app().start_self_pay(&no).await.unwrap();
        w.crash_at(point, async |_| {
            let r = http().post(format!("{cashier}/cancel")).send().await.unwrap();
            assert_eq!(r.status(), 303);
        })
        .await;
        assert_eq!(w.resting(&no, point).await, OrderState::Closed, "{point}: reversed and closed");
        let (o, _) = w.node.store.order(&no).await.unwrap();
        assert_eq!(o.refunded.insurance, o.captured.insurance, "{point}: the insurance part back once");
        let lines = w.sims.nhsa.lock().unwrap().journal.iter().filter(|l| l.med_org_ord == no && l.kind == "REFD").count();
        assert_eq!(lines, 1, "{point}: one reversal at the centre");
        covered.insert(point);

        // 7. Reconciliation cut off after healing: the run is closed as interrupted and the
        //    day reconciled again, with nothing open.
        let point = crash::MID_RECONCILIATION;
        w.server.kill9();
        let day = w.app().today() - chrono::Duration::days(1);
        let job = store::outbox::NewJob::new(app::billing::reconcile::RECONCILE_DAILY, serde_json::json!({"day": day.to_string()}), w.app().now())
            .dedupe(format!("crash-recon-{i}"));
        w.node.store.enqueue(w.node.store.db(), job, w.app().now()).await.unwrap();
        let before = w.node.store.recon_runs(1).await.unwrap().first().map(|r| r.id).unwrap_or(0);
        w.crash_at(point, async |_| {}).await;
        let store = &w.node.store;
        let day = day.to_string();
        wait_until("reconciled", async || store.recon_runs(20).await.unwrap().iter().any(|r| r.id > before && r.business_date == day && r.status == "done"))
            .await;
        let runs: Vec<_> = store.recon_runs(50).await.unwrap().into_iter().filter(|r| r.id > before).collect();
        assert!(runs.iter().all(|r| r.status != "running"), "{point}: no run left running: {runs:?}");
        assert_eq!(runs.iter().filter(|r| r.status == "interrupted").count(), 1, "{point}: the cut-off run is marked: {runs:?}");
        covered.insert(point);

        // 8. WeChat accepted a notice; the node died before recording it. WeChat dedupes on
        //    the message's client_msg_id, so the notice is on the patient's phone once.
        let point = crash::AFTER_MESSAGE_SENT;
        w.server.kill9();
        let key = format!("report.ready:CRASH{i}");
        let txn = w.node.store.write_txn().await.unwrap();
        let payload = serde_json::json!({"report_id": format!("CRASH{i}"), "report_name": "血常规", "reported_at": "2026-12-07 10:00", "dept_name": "检验科"});
        w.node.store.record_event(&txn, "report.ready", &key, Some(w.zhang), &payload, w.app().now()).await.unwrap();
        txn.commit().await.unwrap();
        w.crash_at(point, async |_| {}).await;
        let store = &w.node.store;
        let q = store::messages::MessageQuery { scene: Some("report.ready".into()), patient_id: Some(w.zhang), limit: 100, ..Default::default() };
        wait_until("delivered", async || store.search_messages(&q).await.unwrap().iter().any(|m| m.dedupe_key.starts_with(&key) && m.status == "sent")).await;
        let m = store.search_messages(&q).await.unwrap().into_iter().find(|m| m.dedupe_key.starts_with(&key)).unwrap();
        let on_phone = w.sims.wechat.lock().unwrap().messages.sent.iter().filter(|s| s.client_msg_id.as_deref() == Some(m.message_no.as_str())).count();
        assert_eq!(on_phone, 1, "{point}: one notice on the phone");
        covered.insert(point);

        // 9. The HIS locked the slot; the node died before recording it (the answer lost
        //    with it). The booking's settle job, committed before the HIS was asked, asks
        //    the HIS and ends it; the HIS holds a place exactly when our booking does.
        let point = crash::AFTER_HIS_LOCK;
        let (dept, slot) = w.fresh_slot().await;
        let his = w.sims.his_url.clone();
        let available = async |slot: &str| -> u64 {
            let v: serde_json::Value = http().get(format!("{his}/__sim/slot/{slot}")).send().await.unwrap().json().await.unwrap();
            v["available"].as_u64().unwrap()
        };
        let before = available(&slot).await;
        let policy = store::session::SessionPolicy { idle: chrono::Duration::minutes(30), absolute: chrono::Duration::hours(8) };
        let token = w.node.store.create_session(store::session::SessionKind::Patient, w.account, policy, w.app().now()).await.unwrap();
        let booking = serde_json::json!({"patient_id": w.zhang, "dept_id": dept, "slot_id": slot});
        let base = w.server.base.clone();
        w.crash_at(point, async |_| {
            // The node dies mid-request: no answer comes.
            let r = http().post(format!("{base}/api/v1/me/registrations")).header("cookie", format!("__Host-cb_patient={token}")).json(&booking).send().await;
            assert!(r.is_err() || r.unwrap().status().is_server_error(), "{point}: no booking answered");
        })
        .await;
        let store = w.node.store.clone();
        let zhang = w.zhang;
        let state_of = async || -> String {
            use store::sea_orm::ConnectionTrait;
            let sql = format!("SELECT state FROM registration WHERE slot_id = '{slot}' AND patient_id = {zhang}");
            let row = store.db().query_one_raw(store::sea_orm::Statement::from_string(store.db_backend(), sql)).await.unwrap();
            row.map(|r| r.try_get_by_index::<String>(0).unwrap()).unwrap_or_default()
        };
        wait_until("the lost lock answer settled", async || !matches!(state_of().await.as_str(), "locking" | "")).await;
        let state = state_of().await;
        let held_here = matches!(state.as_str(), "locked" | "confirmed");
        assert_eq!(available(&slot).await, if held_here { before - 1 } else { before }, "{point}: the HIS holds a place iff we do (booking {state})");
        covered.insert(point);

        // 10. A report's file stored, its row not written: after the restart the ingest
        //     runs again and writes the same object, one row per file, none left over.
        let point = crash::MID_REPORT_INGEST;
        let his_zhang = w.node.store.patient_by_id(w.zhang).await.unwrap().unwrap().his_patient_id;
        let lab = http()
            .post(format!("{}/__sim/lis/orders", w.sims.his_url))
            .json(&serde_json::json!({"patient_id": his_zhang, "item_code": "250101001"}))
            .send()
            .await
            .unwrap()
            .json::<serde_json::Value>()
            .await
            .unwrap()["orderNo"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(http().post(format!("{}/__sim/lis/orders/{lab}/sample?files=pdf", w.sims.his_url)).send().await.unwrap().status(), 200);
        let his_url = w.sims.his_url.clone();
        w.crash_at(point, async |_| {
            assert_eq!(http().post(format!("{his_url}/__sim/lis/orders/{lab}/report?files=pdf")).send().await.unwrap().status(), 200);
        })
        .await;
        let count = async |sql: String| -> i64 {
            use store::sea_orm::ConnectionTrait;
            let row = store.db().query_one_raw(store::sea_orm::Statement::from_string(store.db_backend(), sql)).await.unwrap().unwrap();
            row.try_get_by_index::<i64>(0).unwrap()
        };
        let of_lab = format!("FROM report_file f JOIN lab_order o ON o.id = f.order_id WHERE o.order_no = '{lab}'");
        wait_until("the report's file ingested", async || count(format!("SELECT COUNT(*) {of_lab} AND f.status = 'stored'")).await == 1).await;
        assert_eq!(count(format!("SELECT COUNT(*) {of_lab}")).await, 1, "{point}: one row for the one file");
        let stored_pdfs = count("SELECT COUNT(*) FROM report_file WHERE status = 'stored' AND kind = 'pdf'".into()).await;
        let on_disk = walk_count(&w.server.dir.join("data/files/reports"), "pdf");
        assert_eq!(on_disk as i64, stored_pdfs, "{point}: every stored PDF has its row, no object left over");
        covered.insert(point);
        w.server.kill9();
    }
    let all: BTreeSet<&str> = crash::POINTS.into_iter().collect();
    assert_eq!(covered, all, "every crash point has its scenario");
    assert_eq!(w.node.store.outbox_stats().await.unwrap().dead, 0, "no job dead-lettered");
    drop(w);
    let _ = std::fs::remove_dir_all(dir);
}

/// Files ending in `.ext` under `dir`, at any depth.
fn walk_count(dir: &std::path::Path, ext: &str) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() { walk_count(&p, ext) } else { usize::from(p.extension().is_some_and(|x| x == ext)) }
        })
        .sum()
}
