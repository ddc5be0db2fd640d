//! Issue 7 in CI: a small 8:00 rush against the whole app over HTTP — patients signed in
//! through WeChat, booking through the API, the HIS simulator slow and bounded — on both
//! backends, and with two nodes on one PostgreSQL. A correctness check (no oversell, no
//! double booking, every request answered, the HIS bound held for the cluster), not a
//! timing assertion: timings are the benchmark's (`scripts/flash-crowd`).
use loadtest::crowd::{self, Answer, Plan};
use loadtest::report::Report;
use std::time::Duration;
use testkit::{TestApp, TestBackend, on_both_backends};

/// HIS calls in flight at most, for the whole deployment.
const BOUND: u32 = 3;

fn crowd_settings(s: &mut server::settings::Settings) {
    s.admission.his_max_in_flight = BOUND;
    s.admission.max_wait_ms = 400;
    s.registration.bookings_per_account_per_minute = 600;
    s.registration.bookings_per_address_per_minute = 1_000_000;
    s.database.max_connections = 12;
}

async fn rush(t: &TestApp, nodes: Vec<String>) -> Report {
    let http = crowd::http_client();
    let mut plan = Plan {
        nodes,
        wechat_url: t.wechat_url.clone(),
        his_url: t.his_url.clone(),
        patients: 90,
        sessions: 4,
        places_per_session: 5,
        hot_percent: 50,
        duration: Duration::from_secs(6),
        abandon_percent: 25,
        probe: Duration::ZERO,
        probe_connections: 0,
        ramp: Duration::from_secs(1),
        date: t.app.today() + chrono::Duration::days(1),
        seed: 7,
    };
    let sessions = crowd::release_places(&http, &plan).await.expect("release places");
    plan.sessions = sessions.len();
    let patients = crowd::enrol(&http, &plan).await.expect("enrol patients");
    assert_eq!(patients.len(), plan.patients);
    // Slow enough that the bound is reached: every first attempt asks the HIS about
    // the patient's insurance, and every place sold is a lock.
    crowd::set_his_load(&http, &plan.his_url, 25, 15, 16).await.expect("his load");
    crowd::reset_his_load(&http, &plan.his_url).await.expect("reset");
    let grab = crowd::grab(&http, &plan, &sessions, &patients).await;
    let (_, peak, calls) = crowd::his_load(&http, &plan.his_url).await.expect("his load");
    let counts = crowd::count(&http, &plan, &t.db.url, &sessions).await.expect("count");
    Report {
        setup: "CI".into(),
        plan,
        his_bound: BOUND,
        his_latency: "25 ± 15 ms".into(),
        ceiling: None,
        reads: vec![],
        grab,
        his_peak_in_flight: peak,
        his_calls: calls,
        counts,
    }
}

fn assert_correct(r: &Report) {
    eprintln!("{}", r.markdown());
    for c in r.checks(false) {
        assert!(c.passed, "{}: {}\n{}", c.name, c.detail, r.markdown());
    }
    let sold_out = r.grab.attempts.iter().filter(|s| s.answer.sold_out()).count();
    assert!(sold_out > 0, "90 patients for 20 places: some must hear sold out\n{}", r.markdown());
    let places: u32 = r.counts.iter().map(|c| c.places).sum();
    let held: u32 = r.counts.iter().map(|c| c.ours).sum();
    assert!(held > places / 2, "most places end up sold ({held} of {places})\n{}", r.markdown());
    assert!(r.counts.iter().all(|c| c.ours_locking == 0), "no booking left waiting for the HIS\n{}", r.markdown());
    assert!(r.his_calls > 0 && r.grab.attempts.iter().any(|s| s.answer == Answer::Booked));
}

on_both_backends! {
    async fn one_node_sells_every_place_once(backend) {
        let t = TestApp::spawn_with(backend, std::sync::Arc::new(domain::SystemClock), crowd_settings).await;
        let r = rush(&t, vec![t.base.clone()]).await;
        assert_correct(&r);
    }
}

/// Two nodes share the PostgreSQL database and the HIS: the count of places and the
/// bound on HIS calls hold for the pair, not per process.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_on_postgres_share_the_places_and_the_his_bound() {
    let t = TestApp::spawn_with(TestBackend::Postgres, std::sync::Arc::new(domain::SystemClock), crowd_settings).await;
    assert!(t.settings.admission.shared(&t.settings.database.url), "PostgreSQL shares permits by default");
    let peer = t.spawn_peer(|_| {}).await;
    let r = rush(&t, vec![t.base.clone(), peer.base.clone()]).await;
    assert_correct(&r);
}

/// An account's booking limit (S15) holds for the pair too: attempts spread over two
/// nodes are counted once, in the shared database (per node, 12 would all pass).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_account_limit_holds_across_two_nodes() {
    let t = TestApp::spawn(TestBackend::Postgres).await;
    let peer = t.spawn_peer(|_| {}).await;
    let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
    // The limit counts per clock minute: start well inside one.
    let second = chrono::Utc::now().timestamp() % 60;
    if second > 50 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    let mut codes = Vec::new();
    for i in 0..12 {
        let base = if i % 2 == 0 { &t.base } else { &peer.base };
        let r = TestApp::http()
            .post(format!("{base}/api/v1/me/registrations"))
            .header("cookie", &cookie)
            .json(&serde_json::json!({"patient_id": patient, "dept_id": "0101", "slot_id": format!("NOPE-{i}")}))
            .send()
            .await
            .unwrap();
        codes.push(r.json::<serde_json::Value>().await.unwrap()["code"].as_str().unwrap().to_owned());
    }
    assert_eq!(codes.iter().filter(|c| *c == "SLOT_NOT_BOOKABLE").count(), 10, "{codes:?}");
    assert_eq!(&codes[10..], ["RATE_LIMITED", "RATE_LIMITED"]);
}
