//! The triage desk's time from scan to ticket (FACE-2), with the face engine answering
//! every call `CAREBRIDGE_FACE_LATENCY_MS` late (default 50 ms, a cloud engine's usual
//! answer) and a day group of `CAREBRIDGE_FACE_GROUP` users (default 300: the demo's
//! adults, enrolled and booked today in the area, the rest users of other days' bookings
//! the engine holds in the same group). Each round is what a nurse does: the scan (the
//! desk's JPEG), the page of the bookings found, 报到 (the HIS check-in), the ticket page.
//!
//! `cargo run --release -p testkit --example face_desk_bench` (SQLite; set
//! `CAREBRIDGE_BENCH_BACKEND=postgres` for PostgreSQL). Prints percentiles; the numbers go
//! in docs/BENCHMARKS.md.
use chrono::{TimeZone, Utc};
use domain::face::{self, Control, FaceChecks, FaceImage, FaceInput};
use domain::ports::FaceEnginePort;
use std::time::{Duration, Instant};
use testkit::{TestApp, TestBackend, faces, location};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let latency = env("CAREBRIDGE_FACE_LATENCY_MS", 50);
    let group_size = env("CAREBRIDGE_FACE_GROUP", 300) as usize;
    let rounds = env("CAREBRIDGE_FACE_ROUNDS", 40) as usize;
    let backend = if std::env::var("CAREBRIDGE_BENCH_BACKEND").as_deref() == Ok("postgres") { TestBackend::Postgres } else { TestBackend::Sqlite };
    // 08:00 local on a Tuesday: the morning's sessions are ahead.
    let (t, _clock) = TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 12, 8, 0, 0, 0).unwrap()).await;
    let today = t.app.today();

    // The demo's adults, each enrolled and booked today in 0101 (a WeChat account holds at most 8).
    let adults: Vec<_> = sim::demo::citizens(today).into_iter().filter(|c| domain::identity::age_on(birth(&c.id_card_no), today) >= 18).collect();
    let mut enrolled = Vec::new();
    let owners = [("张伟", "oDemo_zhangwei_0001"), ("李娜", "oDemo_lina_0002"), ("王芳", "oDemo_wangfang_0003")];
    let mut others = 0;
    for c in &adults {
        let (openid, relation) = match owners.iter().find(|(name, _)| *name == c.name) {
            Some((_, openid)) => (*openid, "self"),
            None => {
                others += 1;
                (owners[others % 2].1, "other")
            }
        };
        let (_, cookie) = t.wechat_sign_in(openid).await;
        let pid = t.add_demo_patient(&cookie, &c.name, relation).await;
        t.enrol_face(&cookie, pid, &c.id_card_no).await;
        t.book_and_pay_today(&cookie, pid, "0101").await;
        enrolled.push(c.id_card_no.clone());
    }
    let nurse = t.staff_sign_in("nurse01").await;
    // The first scan fills the area's day group from the enrolment set.
    let first = scan(&t, &nurse, &enrolled[0], 1).await;
    assert_eq!(first["outcome"], "found", "{first}");
    // Other users in the same group, up to the group size asked for.
    let group = face::area_day_group("cb", "0101", today);
    let engine = t.face_engine_client();
    let checks = FaceChecks { quality: Control::Normal, liveness: Control::Low };
    let mut code = 1u32 << 19;
    while t.face.lock().unwrap().users(&group).len() < group_size {
        code += 7919;
        let img = FaceImage::new(jpeg(&uploads::synthetic_face::variant(code & 0xF_FFFF, 0)));
        engine.add_face(&group, &format!("x{code:x}"), FaceInput::Image(&img), checks).await.expect("add a user of the group");
    }
    let in_group = t.face.lock().unwrap().users(&group).len();
    // The HIS opens check-in an hour before a slot: the rounds use the patients whose
    // check-in is open now (the others' bookings are later in the morning).
    let mut open = Vec::new();
    for who in &enrolled {
        let found = scan(&t, &nurse, who, 1).await;
        let booking = found["bookings"][0]["booking_no"].as_str().unwrap().to_owned();
        if t.app.desk_check_in(&app::face::triage::DeskArea::parse("0101").unwrap(), &booking, "", &app::Actor::system("bench")).await.is_ok() {
            open.push(who.clone());
        }
    }
    assert!(!open.is_empty(), "nobody's check-in is open");

    // The engine answers late from now on.
    let r = TestApp::http().post(format!("{}/__sim/face/faults", t.face_url)).json(&serde_json::json!({"latency_ms": latency})).send().await.unwrap();
    assert_eq!(r.status(), 204);
    let mut times = Vec::with_capacity(rounds);
    let mut scans = Vec::with_capacity(rounds);
    for i in 0..rounds {
        let who = &open[i % open.len()];
        let started = Instant::now();
        let found = scan(&t, &nurse, who, 2 + i as u32).await;
        scans.push(started.elapsed());
        assert_eq!(found["outcome"], "found", "{found}");
        let booking = found["bookings"][0]["booking_no"].as_str().unwrap().to_owned();
        let page = TestApp::http().get(t.url(found["next"].as_str().unwrap())).header("cookie", &nurse).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&booking));
        let r = TestApp::http()
            .post(t.url("/staff/triage/check-in"))
            .header("cookie", &nurse)
            .header("origin", &t.base)
            .form(&[("depts", "0101"), ("booking_no", booking.as_str()), ("room", "内科1诊室")])
            .send()
            .await
            .unwrap();
        let ticket = TestApp::http().get(t.url(&location(r.headers()))).header("cookie", &nurse).send().await.unwrap().text().await.unwrap();
        assert!(ticket.contains("class=\"queue-no\""), "{}", ticket.chars().take(1500).collect::<String>());
        times.push(started.elapsed());
    }
    let pct = |v: &mut Vec<Duration>, p: f64| {
        v.sort();
        v[((v.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1000.0
    };
    println!(
        "face desk: {rounds} rounds on {backend:?}, engine latency {latency} ms, area day group {in_group} users ({} enrolled patients booked today, {} of them with check-in open)",
        enrolled.len(),
        open.len()
    );
    println!("  scan alone      p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms", pct(&mut scans, 0.5), pct(&mut scans, 0.95), pct(&mut scans, 1.0));
    println!("  scan to ticket  p50 {:.1} ms  p95 {:.1} ms  max {:.1} ms", pct(&mut times, 0.5), pct(&mut times, 0.95), pct(&mut times, 1.0));
}

fn birth(id: &str) -> chrono::NaiveDate {
    chrono::NaiveDate::parse_from_str(&id[6..14], "%Y%m%d").expect("a birth date")
}

fn jpeg(img: &image::RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    img.write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)).expect("a JPEG");
    out
}

async fn scan(t: &TestApp, nurse: &str, id_number: &str, n: u32) -> serde_json::Value {
    let r = TestApp::http()
        .post(t.url("/staff/triage/scan?depts=0101"))
        .header("cookie", nurse)
        .header("origin", &t.base)
        .header("content-type", "image/jpeg")
        .body(faces::live(id_number, n))
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}
