//! The records office's queue (REC-4) with 10,000 applications: how long the console page
//! takes over HTTP, and the use case behind it, for the filters a clerk uses.
//!
//!   cargo run --release -p testkit --example records_queue_bench -- [sqlite|postgres] [applications] [requests]
//!
//! A whole platform is started as the tests start it (a fresh database, the simulators over
//! loopback), 10,000 applications are written straight into the store in a realistic mix
//! of states, deliveries and purposes, submitted over the last 30 days (a fifth by courier,
//! with a sealed address, as the queue opens each row), and the records clerk signs in
//! with password and TOTP. Each view is then asked `requests` times, one after another.
//! The numbers go to docs/BENCHMARKS.md.
use chrono::{Duration, Utc};
use domain::Fen;
use domain::records::{Address, Applicant, ApplicationState, Delivery, Purpose, QueueFilter, Section};
use std::time::Instant;
use store::records::{NewRecordApplication, RecordApplicationRow};
use testkit::{TestApp, TestBackend};

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.trim().trim_end_matches(" kB").trim().parse::<f64>().ok()).unwrap_or(0.0) / 1024.0
}

const STATES: [(ApplicationState, u32); 7] = [
    (ApplicationState::Submitted, 35),
    (ApplicationState::Approved, 20),
    (ApplicationState::Returned, 5),
    (ApplicationState::ExtraDue, 3),
    (ApplicationState::ReadyForPickup, 7),
    (ApplicationState::PickedUp, 25),
    (ApplicationState::Withdrawn, 5),
];

fn state_of(i: u32) -> ApplicationState {
    let mut k = i % 100;
    for (s, share) in STATES {
        if k < share {
            return s;
        }
        k -= share;
    }
    ApplicationState::Submitted
}

async fn seed(t: &TestApp, patient_id: i64, account_id: i64, his_patient_id: &str, n: u32) {
    let now = Utc::now();
    let purposes = Purpose::ALL;
    let mut i = 0;
    while i < n {
        let txn = t.store.write_txn().await.unwrap();
        for _ in 0..500.min(n - i) {
            let no = format!("BL{:08}{:06}", 20261207, i);
            let id = t
                .store
                .insert_record_application(&txn, NewRecordApplication { application_no: &no, account_id, patient_id, his_patient_id }, now)
                .await
                .unwrap();
            let submitted = now - Duration::minutes(i64::from(i) * 43_200 / i64::from(n));
            let state = state_of(i);
            let express = i % 5 == 0;
            let mut row = RecordApplicationRow {
                id,
                application_no: no,
                account_id,
                patient_id,
                his_patient_id: his_patient_id.to_owned(),
                state,
                applicant: Some(if i % 4 == 0 { Applicant::Agent } else { Applicant::Patient }),
                encounter_id: Some(format!("ZY{i:06}")),
                encounter_label: Some("2026-10-08 入院 心血管内科（住院 9 天）".into()),
                encounter_inpatient: Some(true),
                mr_no: Some(format!("{:08}", 1_000 + i)),
                purpose: Some(purposes[i as usize % purposes.len()]),
                sections: vec![Section::DischargeNote, Section::FrontSheet],
                copies: Some(1 + i % 3),
                delivery: Some(if express { Delivery::Express } else { Delivery::Pickup }),
                address: express.then(|| Address {
                    name: "张伟".into(),
                    mobile: "13800138000".into(),
                    province: "广东省".into(),
                    city: "深圳市".into(),
                    county: "南山区".into(),
                    detail: "科技园科苑路15号".into(),
                }),
                fix_steps: vec![],
                fix_documents: vec![],
                reasons: vec![],
                reason_note: None,
                fee_version: Some(1),
                estimated_pages: Some(4),
                paid: Fen(400),
                counted_pages: None,
                due: None,
                order_no: Some(format!("CB{i:012}")),
                extra_order_no: None,
                refund_no: None,
                pickup_code: None,
                waybill_no: None,
                clerk: None,
                version: 1,
                created_at: submitted,
                updated_at: submitted,
                submitted_at: Some(submitted),
                promised_by: Some(submitted + Duration::days(7)),
                closed_at: state.is_closed().then_some(submitted + Duration::days(3)),
                purged_at: None,
            };
            assert!(t.store.save_record_application(&txn, &mut row, now).await.unwrap());
            i += 1;
        }
        txn.commit().await.unwrap();
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let backend = match args.first().map(String::as_str) {
        Some("postgres") => TestBackend::Postgres,
        _ => TestBackend::Sqlite,
    };
    let n: u32 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let requests: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(200);
    let t = TestApp::spawn_opts(backend, std::sync::Arc::new(domain::SystemClock), false, |_| {}).await;
    let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
    let p = t.store.patient_by_id(patient).await.unwrap().unwrap();
    let started = Instant::now();
    let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
    seed(&t, patient, account, &p.his_patient_id, n).await;
    println!("backend {backend:?}: {n} applications written in {:.1} s", started.elapsed().as_secs_f64());
    let staff = t.staff_sign_in("records01").await;
    let http = TestApp::http();
    let views: [(&str, &str, QueueFilter); 5] = [
        (
            "to do (submitted + approved), first page",
            "/staff/records",
            QueueFilter { states: vec![ApplicationState::Submitted, ApplicationState::Approved], limit: 50, ..Default::default() },
        ),
        (
            "to do, page 61 (offset 3,000)",
            "/staff/records?page=60",
            QueueFilter { states: vec![ApplicationState::Submitted, ApplicationState::Approved], offset: 3_000, limit: 50, ..Default::default() },
        ),
        (
            "overdue only",
            "/staff/records?overdue=1",
            QueueFilter {
                states: vec![ApplicationState::Submitted, ApplicationState::Approved],
                overdue_at: Some(Utc::now()),
                limit: 50,
                ..Default::default()
            },
        ),
        (
            "all states, express, one purpose",
            "/staff/records?state=all&delivery=express&purpose=insurance_claim",
            QueueFilter { delivery: Some(Delivery::Express), purpose: Some(Purpose::InsuranceClaim), limit: 50, ..Default::default() },
        ),
        (
            "all states, waited ≥ 7 days",
            "/staff/records?state=all&waited=7",
            QueueFilter { submitted_before: Some(Utc::now() - Duration::days(7)), limit: 50, ..Default::default() },
        ),
    ];
    println!("| view | matching | page over HTTP p50 | p95 | p99 | use case (`records_queue`) p50 | p99 |");
    println!("|---|---|---|---|---|---|---|");
    for (label, path, filter) in views {
        let mut page = Vec::with_capacity(requests);
        for _ in 0..requests {
            let s = Instant::now();
            let r = http.get(t.url(path)).header("cookie", &staff).send().await.unwrap();
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.unwrap();
            page.push(s.elapsed().as_secs_f64() * 1e3);
        }
        let mut use_case = Vec::with_capacity(requests);
        let mut total = 0;
        for _ in 0..requests {
            let s = Instant::now();
            total = t.app.records_queue(&filter).await.unwrap().total;
            use_case.push(s.elapsed().as_secs_f64() * 1e3);
        }
        page.sort_by(f64::total_cmp);
        use_case.sort_by(f64::total_cmp);
        println!(
            "| {label} | {total} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms |",
            percentile(&page, 0.5),
            percentile(&page, 0.95),
            percentile(&page, 0.99),
            percentile(&use_case, 0.5),
            percentile(&use_case, 0.99)
        );
    }
    println!("peak RSS of the process (platform, simulators and client): {:.0} MB", peak_rss_mb());
}
