//! The worker pool over the outbox on both backends: handlers run once per job, retries
//! back off, permanent failures and unknown kinds dead-letter with a reason, a
//! panicking handler is a failed attempt (not a dead worker), shutdown drains, and the
//! recurring session purge keeps exactly one live job.
use app::App;
use app::jobs::{JobError, JobHandler, PoolConfig, Registry, WorkerPool};
use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};
use domain::{Clock, FakeClock};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use store::outbox::NewJob;
use testkit::{TestApp, on_both_backends};

#[derive(Clone, Default)]
struct Counting(Arc<AtomicUsize>);

#[async_trait]
impl JobHandler for Counting {
    async fn run(&self, _app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        match payload["mode"].as_str() {
            Some("retry") => Err(JobError::Retry("HIS busy".into())),
            Some("permanent") => Err(JobError::Permanent("invalid openid (40003)".into())),
            Some("panic") => panic!("handler bug"),
            _ => Ok(()),
        }
    }
}

fn cfg() -> PoolConfig {
    PoolConfig { workers: 3, batch: 4, poll_interval: std::time::Duration::from_millis(20), ..Default::default() }
}

async fn wait_until(mut f: impl AsyncFnMut() -> bool) {
    for _ in 0..200 {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("condition not reached in time");
}

on_both_backends! {
    async fn every_job_runs_once_and_failures_are_classified(backend) {
        let t = TestApp::spawn_opts(backend, Arc::new(domain::SystemClock), false, |_| {}).await;
        let app = t.app.clone();
        let now = app.now();
        for i in 0..30 {
            t.store.enqueue(t.store.db(), NewJob::new("test.ok", json!({"i": i}), now), now).await.unwrap();
        }
        t.store.enqueue(t.store.db(), NewJob::new("test.ok", json!({"mode": "permanent"}), now), now).await.unwrap();
        t.store.enqueue(t.store.db(), NewJob::new("test.unknown_kind", json!({}), now), now).await.unwrap();
        t.store.enqueue(t.store.db(), NewJob::new("test.ok", json!({"mode": "panic"}), now).max_attempts(1), now).await.unwrap();
        let h = Counting::default();
        let pool = WorkerPool::start(app.clone(), Registry::standard().with("test.ok", h.clone()), cfg());
        wait_until(async || {
            let s = t.store.outbox_stats().await.unwrap();
            s.done == 31 && s.dead == 3
        })
        .await;
        pool.shutdown(std::time::Duration::from_secs(5)).await;
        assert_eq!(t.store.outbox_stats().await.unwrap().pending, 9, "only the recurring jobs wait: session purge, bill-due scan, tonight's reconciliation, tonight's retention run, no-show sweep, the LIS poll, the low-deposit scan, the record photos' purge and the face day groups' purge");
        assert_eq!(h.0.load(Ordering::SeqCst), 32, "30 successes + the permanent failure + the panic, each run once");
        let dead = t.store.dead_jobs(10).await.unwrap();
        let reasons: Vec<String> = dead.iter().map(|d| d.last_error.clone().unwrap_or_default()).collect();
        assert!(reasons.iter().any(|r| r.contains("40003")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("no handler for kind test.unknown_kind")), "{reasons:?}");
        assert!(reasons.iter().any(|r| r.contains("panicked")), "{reasons:?}");
    }
}

on_both_backends! {
    async fn retries_back_off_on_the_clock_then_dead_letter(backend) {
        let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 0, 30, 0).unwrap());
        let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await;
        let app = t.app.clone();
        let now = app.now();
        t.store.enqueue(t.store.db(), NewJob::new("test.ok", json!({"mode": "retry"}), now).max_attempts(3), now).await.unwrap();
        let h = Counting::default();
        let reg = Registry::standard().with("test.ok", h.clone());
        let c = cfg();
        assert_eq!(app::jobs::run_once(&app, &reg, &c, "w").await.unwrap(), 2, "the job and the start-up session purge");
        assert_eq!(app::jobs::run_once(&app, &reg, &c, "w").await.unwrap(), 0, "waits for its backoff");
        clock.advance(Duration::seconds(3));
        assert_eq!(app::jobs::run_once(&app, &reg, &c, "w").await.unwrap(), 1);
        clock.advance(Duration::seconds(6));
        assert_eq!(app::jobs::run_once(&app, &reg, &c, "w").await.unwrap(), 1);
        assert_eq!(h.0.load(Ordering::SeqCst), 3);
        let s = t.store.outbox_stats().await.unwrap();
        assert_eq!((s.pending, s.dead), (9, 1), "the nine recurring jobs wait; the retried job is dead after 3 attempts");
        assert_eq!(t.store.dead_jobs(1).await.unwrap()[0].last_error.as_deref(), Some("HIS busy"));
    }
}

on_both_backends! {
    async fn session_purge_runs_and_reschedules_itself_once(backend) {
        let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 0, 30, 0).unwrap());
        let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await;
        let app = t.app.clone();
        let (_, _cookie) = t.wechat_sign_in("oDemo_lina_0002").await;
        assert_eq!(t.store.live_jobs_of_kind(app::maintenance::PURGE_SESSIONS).await.unwrap(), 1);
        // Ensuring again (a second node starting) adds nothing.
        app::jobs::ensure_recurring(&app).await.unwrap();
        assert_eq!(t.store.live_jobs_of_kind(app::maintenance::PURGE_SESSIONS).await.unwrap(), 1);
        clock.advance(Duration::hours(2));
        let reg = Registry::standard();
        assert_eq!(app::jobs::run_once(&app, &reg, &cfg(), "w").await.unwrap(), 4, "the purge, the bill-due scan, the LIS poll and the low-deposit scan were due");
        use sea_orm::ConnectionTrait;
        let rows = t.store.db().query_all_raw(sea_orm::Statement::from_string(t.store.db_backend(), "SELECT token_hash FROM session")).await.unwrap();
        assert!(rows.is_empty(), "the idle session was purged");
        assert_eq!(t.store.live_jobs_of_kind(app::maintenance::PURGE_SESSIONS).await.unwrap(), 1, "next run scheduled");
        assert_eq!(app::jobs::run_once(&app, &reg, &cfg(), "w").await.unwrap(), 0, "not due yet");
        let _ = clock.now();
    }
}
