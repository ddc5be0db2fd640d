//! G7 and G13: the database goes away in the middle of a booking-and-payment load.
//!
//! * PostgreSQL restarts: every connection of the node is cut and new ones are refused
//!   for a few seconds (what a restart looks like from the application; the shared test
//!   server itself is not restarted, the other tests run on it).
//! * SQLite closes and reopens: the node serving the load dies (its pool closed in the
//!   middle of requests, its listener gone) and a new node opens the same file.
//!
//! Patients keep booking, paying at the bank and now and then cancelling through the
//! outage, as people do. Afterwards nothing that was acknowledged is lost: every booking
//! answered 201 is held, every payment the bank took is recorded by us as paid (or, when
//! its booking was cancelled, refunded at the bank), every cancellation answered 200 is
//! refunded, every confirmed booking has its notice; and patients are served again
//! within 10 s of the database's return.
use loadtest::crowd::{self, Plan, Session, VirtualPatient};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use testkit::app::PeerNode;
use testkit::{TestApp, TestBackend};

/// How long patients keep at it, and when the database goes away within that.
const LOAD: Duration = Duration::from_secs(9);
const OUTAGE_AT: Duration = Duration::from_secs(3);
const OUTAGE: Duration = Duration::from_secs(3);
/// How long after the load a patient who paid still tries to cancel.
const CANCEL_GRACE: Duration = Duration::from_secs(20);
/// G13: patients are served again this soon after the database is back.
const BACK_WITHIN: Duration = Duration::from_secs(10);

fn settings(s: &mut server::settings::Settings) {
    s.registration.bookings_per_account_per_minute = 600;
    s.registration.bookings_per_address_per_minute = 1_000_000;
    // A notification lost in the outage is asked for soon, and a job whose node died
    // holding it runs again soon: the test waits for both.
    s.payment.first_query_after_secs = 2;
    s.workers.lease_secs = 3;
}

/// What the patients were told.
#[derive(Default)]
struct Acks {
    /// Booking answered 201: (booking_no, order_no).
    bookings: Vec<(String, String)>,
    /// Orders whose bank cashier took the money.
    paid_at_bank: BTreeSet<String>,
    /// Bookings whose cancellation was answered 200.
    cancelled: BTreeSet<String>,
    /// Answers by status (0: no answer at all), for the record.
    statuses: BTreeMap<u16, u32>,
}

fn plan(t: &TestApp, base: &str) -> Plan {
    Plan {
        nodes: vec![base.to_owned()],
        wechat_url: t.wechat_url.clone(),
        his_url: t.his_url.clone(),
        patients: 12,
        sessions: 10,
        places_per_session: 12,
        hot_percent: 0,
        duration: LOAD,
        abandon_percent: 0,
        probe: Duration::ZERO,
        probe_connections: 0,
        ramp: Duration::from_millis(500),
        date: t.app.today() + chrono::Duration::days(1),
        seed: 13,
    }
}

/// Sends a request, retrying (as a patient taps again) while the answer is a 5xx or
/// none, until `deadline`. The same idempotency key each time.
async fn patiently(
    http: &reqwest::Client,
    base: &RwLock<String>,
    acks: &Mutex<Acks>,
    deadline: Instant,
    make: impl Fn(&reqwest::Client, &str) -> reqwest::RequestBuilder,
) -> Option<(u16, Value)> {
    while Instant::now() < deadline {
        let url = base.read().unwrap().clone();
        match make(http, &url).send().await {
            Ok(r) => {
                let status = r.status().as_u16();
                *acks.lock().unwrap().statuses.entry(status).or_default() += 1;
                let v = r.json::<Value>().await.unwrap_or(Value::Null);
                if status < 500 {
                    return Some((status, v));
                }
            }
            // No answer at all (the node is gone): counted as status 0.
            Err(_) => *acks.lock().unwrap().statuses.entry(0).or_default() += 1,
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

/// One patient: books a place in each session in turn, pays for it at the bank, and
/// cancels every third booking after paying.
async fn one_patient(i: usize, p: VirtualPatient, sessions: Vec<Session>, base: Arc<RwLock<String>>, acks: Arc<Mutex<Acks>>, deadline: Instant) {
    let http = crowd::http_client();
    for k in 0..sessions.len() {
        if Instant::now() >= deadline {
            return;
        }
        let s = &sessions[(i + k) % sessions.len()];
        let path = crowd::session_path(s);
        let Some((200, sched)) = patiently(&http, &base, &acks, deadline, |h, b| h.get(format!("{b}{path}"))).await else { continue };
        let Some(slot) =
            sched["slots"].as_array().and_then(|a| a.iter().find(|x| x["available"].as_u64().unwrap_or(0) > 0)).and_then(|x| x["slot_id"].as_str())
        else {
            continue;
        };
        let key = format!("crash-{i}-{k}");
        let body = json!({"patient_id": p.patient_id, "dept_id": s.dept_id, "slot_id": slot});
        let booked = patiently(&http, &base, &acks, deadline, |h, b| {
            h.post(format!("{b}/api/v1/me/registrations")).header("cookie", &p.cookie).header("idempotency-key", &key).json(&body)
        })
        .await;
        let Some((201, b)) = booked else { continue };
        let (no, order) = (b["booking_no"].as_str().unwrap().to_owned(), b["order_no"].as_str().unwrap().to_owned());
        acks.lock().unwrap().bookings.push((no.clone(), order.clone()));
        let pay_key = format!("crash-pay-{i}-{k}");
        let started = patiently(&http, &base, &acks, deadline, |h, b| {
            h.post(format!("{b}/api/v1/me/orders/{order}/pay"))
                .header("cookie", &p.cookie)
                .header("idempotency-key", &pay_key)
                .json(&json!({"method": "self_pay"}))
        })
        .await;
        let Some((200, next)) = started else { continue };
        let cashier = next["next_url"].as_str().unwrap().to_owned();
        // The bank takes the money whatever state we are in; its notification may fail.
        let r = http.post(format!("{cashier}/pay")).send().await.expect("the bank's cashier");
        assert_eq!(r.status(), 303, "the bank took the payment");
        acks.lock().unwrap().paid_at_bank.insert(order.clone());
        if (i + k).is_multiple_of(3) {
            // Until the bank's word has reached us the booking is "being paid" (409):
            // the patient tries again a moment later. A patient who has paid and means
            // to cancel keeps at it a while after the load ends: when the bank's word was
            // lost in the outage it arrives only by our query, and without cancellations
            // the run proves nothing about refunds (seen in CI: 8 paid, 0 cancelled).
            let cancel_deadline = deadline + CANCEL_GRACE;
            let mut attempt = 0;
            while Instant::now() < cancel_deadline {
                attempt += 1;
                let cancel_key = format!("crash-cancel-{i}-{k}-{attempt}");
                let cancelled = patiently(&http, &base, &acks, cancel_deadline, |h, b| {
                    h.post(format!("{b}/api/v1/me/registrations/{no}/cancel")).header("cookie", &p.cookie).header("idempotency-key", &cancel_key)
                })
                .await;
                match cancelled {
                    Some((200, _)) => {
                        acks.lock().unwrap().cancelled.insert(no.clone());
                        break;
                    }
                    Some((409, v)) if v["code"] == "BOOKING_NOT_CANCELLABLE" => tokio::time::sleep(Duration::from_millis(300)).await,
                    _ => break,
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// Polls a patient's own list until it is answered (for at most 30 s).
async fn served_again(base: &str, cookie: &str) {
    let started = Instant::now();
    let http = crowd::http_client();
    while started.elapsed() < Duration::from_secs(30) {
        if let Ok(r) = http.get(format!("{base}/api/v1/me/registrations")).header("cookie", cookie).send().await
            && r.status() == 200
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the load against `base` while `outage` does its work; returns what the
/// patients were told and how long they waited to be served after the database was back.
async fn load_through<F, Fut>(t: &TestApp, base: Arc<RwLock<String>>, outage: F) -> (Acks, Duration)
where
    F: FnOnce(Arc<RwLock<String>>) -> Fut,
    Fut: std::future::Future<Output = Instant>,
{
    let http = crowd::http_client();
    let plan = plan(t, &base.read().unwrap().clone());
    let sessions = crowd::release_places(&http, &plan).await.expect("release places");
    let patients = crowd::enrol(&http, &plan).await.expect("enrol");
    let acks = Arc::new(Mutex::new(Acks::default()));
    let deadline = Instant::now() + LOAD;
    let mut tasks = Vec::new();
    for (i, p) in patients.iter().enumerate() {
        tasks.push(tokio::spawn(one_patient(i, p.clone(), sessions.clone(), base.clone(), acks.clone(), deadline)));
    }
    tokio::time::sleep(OUTAGE_AT).await;
    let db_back = outage(base.clone()).await;
    let now_serving = base.read().unwrap().clone();
    served_again(&now_serving, &patients[0].cookie).await;
    let back = db_back.elapsed();
    for task in tasks {
        task.await.expect("patient task");
    }
    let acks = Arc::try_unwrap(acks).ok().expect("tasks done").into_inner().unwrap();
    (acks, back)
}

/// What the bank's books hold: order → (paid, refunded), in fen.
fn bank_book(t: &TestApp) -> BTreeMap<String, (i64, i64)> {
    let mut book: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for line in &t.ccb.lock().unwrap().journal {
        let e = book.entry(line.order_id.clone()).or_default();
        match line.kind {
            "PAY" => e.0 += line.amount.0,
            _ => e.1 += line.amount.0,
        }
    }
    book
}

/// Holds every acknowledged thing to where it must be; the first that is not, if any.
async fn first_loss(t: &TestApp, acks: &Acks) -> Option<String> {
    use domain::billing::OrderState;
    let bank = bank_book(t);
    let confirmed_notices = message_keys(t, "booking.confirmed").await;
    for (order, (paid, _)) in &bank {
        if *paid > 0 && !acks.paid_at_bank.contains(order) {
            return Some(format!("the bank holds a payment {order} no patient made"));
        }
    }
    for (no, order) in &acks.bookings {
        let b = match t.store.booking(no).await {
            Ok(b) => b,
            Err(e) => return Some(format!("booking {no} was answered 201 and is lost: {e}")),
        };
        if b.order_no.as_deref() != Some(order.as_str()) {
            return Some(format!("{no} lost its order {order}"));
        }
        let state = t.store.order(order).await.unwrap().0.state;
        let (paid, refunded) = bank.get(order).copied().unwrap_or_default();
        if acks.paid_at_bank.contains(order) {
            if paid == 0 {
                return Some(format!("{order}: the bank has no record of the payment it took"));
            }
            let cancelled = acks.cancelled.contains(no);
            let ok = if cancelled {
                state == OrderState::Refunded && refunded == paid
            } else {
                // Refunded only when the HIS lost the place meanwhile: the money went back.
                matches!(state, OrderState::Paid | OrderState::Fulfilled) && refunded == 0 || state == OrderState::Refunded && refunded == paid
            };
            if !ok {
                return Some(format!("{order} (booking {no}, cancelled: {cancelled}): the bank took {paid} and refunded {refunded}, we hold {state:?}"));
            }
        }
        let key = format!("booking.confirmed:{no}#");
        if b.state == "confirmed" && confirmed_notices.iter().filter(|k| k.starts_with(&key)).count() != 1 {
            return Some(format!("{no} is confirmed without exactly one notice of it"));
        }
    }
    None
}

/// Waits for the jobs to heal what the outage interrupted, then holds everything to it.
async fn nothing_acknowledged_is_lost(t: &TestApp, acks: &Acks) {
    assert!(acks.bookings.len() >= 6, "the load booked too little to prove anything: {:?}", acks.statuses);
    assert!(!acks.paid_at_bank.is_empty() && !acks.cancelled.is_empty(), "payments and cancellations were made");
    let started = Instant::now();
    let mut loss = first_loss(t, acks).await;
    while loss.is_some() && started.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        loss = first_loss(t, acks).await;
    }
    if let Some(l) = loss {
        panic!("{l}");
    }
}

/// The dedupe keys (`<event key>#<account>`) of every message of `scene`, read once per
/// check: the text is sealed, the key names the booking.
async fn message_keys(t: &TestApp, scene: &str) -> Vec<String> {
    use sea_orm::ConnectionTrait;
    let rows = t
        .store
        .db()
        .query_all_raw(sea_orm::Statement::from_sql_and_values(
            t.store.db_backend(),
            match t.store.db_backend() {
                sea_orm::DbBackend::Postgres => "SELECT dedupe_key FROM message WHERE scene = $1",
                _ => "SELECT dedupe_key FROM message WHERE scene = ?",
            },
            [scene.into()],
        ))
        .await
        .unwrap();
    rows.iter().map(|r| r.try_get::<String>("", "dedupe_key").unwrap()).collect()
}

fn report(what: &str, acks: &Acks, back: Duration) {
    println!(
        "{what}: {} bookings acknowledged, {} paid at the bank, {} cancelled; answers {:?}; patients served again {:.1} s after the database",
        acks.bookings.len(),
        acks.paid_at_bank.len(),
        acks.cancelled.len(),
        acks.statuses,
        back.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarts_under_load_and_nothing_acknowledged_is_lost() {
    let t = TestApp::spawn_with(TestBackend::Postgres, Arc::new(domain::SystemClock), settings).await;
    let name = t.db.url.rsplit('/').next().unwrap().to_owned();
    let base = Arc::new(RwLock::new(t.base.clone()));
    let (acks, back) = load_through(&t, base, |_| async move {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(testkit::pg_admin_url()).await.expect("admin connection");
        admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false")).await.unwrap();
        let down = Instant::now();
        // Cut what is open, and again for what was opening as the door closed.
        while down.elapsed() < OUTAGE {
            admin.execute_unprepared(&format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'")).await.unwrap();
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        admin.execute_unprepared(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true")).await.unwrap();
        let back = Instant::now();
        let _ = admin.close().await;
        back
    })
    .await;
    report("postgres restart", &acks, back);
    assert!(back <= BACK_WITHIN, "patients waited {back:?} after the database was back");
    assert!(acks.statuses.contains_key(&503), "the outage was felt: {:?}", acks.statuses);
    assert!(!acks.statuses.keys().any(|s| *s >= 500 && *s != 503), "an outage is answered 503 (try again), never another 5xx: {:?}", acks.statuses);
    nothing_acknowledged_is_lost(&t, &acks).await;
    // The check itself: a payment we forgot behind its back is caught.
    use sea_orm::ConnectionTrait;
    let (no, order) = acks.bookings.iter().find(|(no, o)| acks.paid_at_bank.contains(o) && !acks.cancelled.contains(no)).unwrap();
    let sql = format!("UPDATE payment_order SET body = replace(body, '\"fulfilled\"', '\"paying\"') WHERE order_no = '{order}'");
    assert_eq!(t.store.db().execute_unprepared(&sql).await.unwrap().rows_affected(), 1);
    let loss = first_loss(&t, &acks).await.expect("a forgotten payment is a loss");
    assert!(loss.contains(order.as_str()) && loss.contains(no.as_str()), "{loss}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_closes_and_reopens_under_load_and_nothing_acknowledged_is_lost() {
    // The test's own node does no background work: the node that dies and the one that
    // replaces it are the deployment.
    let t = TestApp::spawn_opts(TestBackend::Sqlite, Arc::new(domain::SystemClock), false, settings).await;
    let first = t.spawn_peer(|_| {}).await;
    // The bank notifies the deployment, not the test's own idle node.
    t.ccb.lock().unwrap().cfg.notify_url = format!("{}/callbacks/ccb", first.base);
    let base = Arc::new(RwLock::new(first.base.clone()));
    let replacement: Arc<Mutex<Option<PeerNode>>> = Arc::default();
    let slot = replacement.clone();
    let mut first = Some(first);
    let (acks, back) = load_through(&t, base, |base| {
        let first = first.take().unwrap();
        let t = &t;
        async move {
            // The process dies: its listener is gone and its pool closed under the
            // requests in flight; nothing is flushed or checkpointed on the way out.
            let store = first.store.clone();
            drop(first);
            store.close().await;
            tokio::time::sleep(OUTAGE).await;
            let reopened = Instant::now();
            let next = t.spawn_peer(|_| {}).await;
            t.ccb.lock().unwrap().cfg.notify_url = format!("{}/callbacks/ccb", next.base);
            *base.write().unwrap() = next.base.clone();
            *slot.lock().unwrap() = Some(next);
            reopened
        }
    })
    .await;
    report("sqlite close and reopen", &acks, back);
    assert!(back <= BACK_WITHIN, "patients waited {back:?} after the database was reopened");
    assert!(acks.statuses.contains_key(&0), "the node's death was felt: {:?}", acks.statuses);
    assert!(!acks.statuses.keys().any(|s| *s >= 500 && *s != 503), "no 5xx but 503 (try again): {:?}", acks.statuses);
    nothing_acknowledged_is_lost(&t, &acks).await;
    drop(replacement);
}
