//! Retention by time travel on both backends (issue 20 item 5; S14): each class of kept
//! data lives exactly its configured period, then is deleted or anonymised by the nightly
//! job — and nothing younger goes with it. (Record-copy photos: `records`; sessions:
//! `outbox_workers`.)
use chrono::{Duration, TimeZone, Utc};
use domain::FakeClock;
use sea_orm::ConnectionTrait;
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::{TestApp, on_both_backends};

async fn count(t: &TestApp, sql: &str) -> i64 {
    let row = t.store.db().query_one_raw(sea_orm::Statement::from_string(t.store.db_backend(), sql.to_owned())).await.unwrap().unwrap();
    row.try_get_by_index::<i64>(0).unwrap()
}

/// The inbox, signed in afresh (the test's days outlast any session).
async fn inbox(t: &TestApp) -> Vec<Value> {
    let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    let v: Value = TestApp::http().get(t.url("/api/v1/me/messages")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
    v["messages"].as_array().unwrap_or_else(|| panic!("inbox: {v}")).clone()
}

on_both_backends! {
    async fn each_class_lives_its_period_then_is_deleted_or_anonymised(backend) {
        let start = Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap();
        let clock = FakeClock::new(start);
        let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |s| {
            // The defaults, written out: the test proves these numbers.
            s.retention.message_content_days = 180;
            s.retention.raw_callback_days = 3650;
            s.retention.stored_answer_days = 7;
            s.retention.finished_job_days = 30;
        })
        .await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&cookie, "张伟", "self").await;
        // A paid registration: a raw notification, an idempotent request, jobs, messages.
        let slot = t.free_slot("0101", 2).await;
        let r = TestApp::http().post(t.url("/api/v1/me/registrations")).header("cookie", &cookie).header("idempotency-key", "keep-7-days").json(&json!({"patient_id": pid, "dept_id": "0101", "slot_id": slot})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let order = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
        let cashier = t.app.start_self_pay(&order).await.unwrap();
        TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
        for _ in 0..100 {
            if !t.store.channel_events_of(&order).await.unwrap().is_empty() { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        t.drain_jobs().await;
        let messages = inbox(&t).await;
        assert!(!messages.is_empty(), "the booking was announced");
        let first_body = messages[0]["body"].as_str().unwrap().to_owned();
        assert!(first_body.contains("心") || first_body.len() > 20, "a real notice: {first_body}");
        let ledger = t.store.ledger_of(&order).await.unwrap().len();
        assert!(ledger > 0);
        let raw = || count(&t, "SELECT COUNT(*) FROM channel_event");
        let answers = || count(&t, "SELECT COUNT(*) FROM idempotency_key");
        let done_jobs = || count(&t, "SELECT COUNT(*) FROM outbox WHERE state = 'done'");
        let (raw0, answers0, done0) = (raw().await, answers().await, done_jobs().await);
        assert!(raw0 == 1 && answers0 >= 1 && done0 > 0, "{raw0} {answers0} {done0}");

        // Each boundary: one day short keeps it, one day past removes it.
        let at = |d: i64| start + Duration::days(d);
        let run = async |day: i64| {
            clock.set(at(day));
            t.app.enforce_retention().await.unwrap()
        };
        assert_eq!(run(6).await.stored_answers_deleted, 0, "day 6: stored answers kept");
        assert_eq!(answers().await, answers0);
        assert!(run(8).await.stored_answers_deleted >= 1, "day 8: stored answers gone");
        assert_eq!(answers().await, 0);
        assert_eq!(run(29).await.finished_jobs_deleted, 0);
        assert_eq!(done_jobs().await, done0);
        assert!(run(31).await.finished_jobs_deleted >= done0 as u64, "day 31: finished jobs gone");
        assert_eq!(count(&t, "SELECT COUNT(*) FROM outbox WHERE state = 'done'").await, 0);
        assert_eq!(run(179).await.messages_anonymised, 0);
        assert_eq!(inbox(&t).await[0]["body"], first_body, "day 179: the notice still reads");
        let day181 = run(181).await;
        assert_eq!(day181.messages_anonymised, messages.len() as u64, "day 181: every notice of the day anonymised");
        let after = inbox(&t).await;
        assert_eq!(after.len(), messages.len(), "the rows stay (counts, statuses)");
        for (m, before) in after.iter().zip(&messages) {
            assert_eq!(m["body"], store::retention::PURGED_BODY);
            assert_eq!((&m["scene"], &m["status"]), (&before["scene"], &before["status"]));
        }
        assert_eq!(run(182).await.messages_anonymised, 0, "passed over the second time");
        assert_eq!(run(3649).await.raw_callbacks_deleted, 0);
        assert_eq!(raw().await, 1, "the raw notification is accounting evidence for ten years");
        assert_eq!(run(3651).await.raw_callbacks_deleted, 1);
        assert_eq!(raw().await, 0);
        assert_eq!(t.store.ledger_of(&order).await.unwrap().len(), ledger, "the ledger is never touched");
        assert_eq!(t.store.audit_count(Some("retention.run")).await.unwrap(), 9, "every run is on record");
    }
}
