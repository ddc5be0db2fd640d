//! The outbox on both backends: enqueue in a transaction, dedupe, claim with a lease,
//! no double claim under concurrency, ack, retry, dead-letter, lease expiry.
use chrono::{Duration, TimeZone, Utc};
use serde_json::json;
use store::outbox::{Enqueued, NewJob};
use testkit::{TestDb, on_both_backends};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

on_both_backends! {
    async fn enqueue_commits_and_rolls_back_with_the_transaction(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let txn = store.write_txn().await.unwrap();
        store.enqueue(&txn, NewJob::new("test.kept", json!({"n": 1}), t0()), t0()).await.unwrap();
        txn.commit().await.unwrap();
        let txn = store.write_txn().await.unwrap();
        store.enqueue(&txn, NewJob::new("test.dropped", json!({}), t0()), t0()).await.unwrap();
        txn.rollback().await.unwrap();
        let jobs = store.claim_jobs("w1", 10, Duration::seconds(30), t0()).await.unwrap();
        assert_eq!(jobs.iter().map(|j| j.kind.as_str()).collect::<Vec<_>>(), vec!["test.kept"]);
        assert_eq!(jobs[0].attempts, 1);
        assert_eq!(serde_json::from_str::<serde_json::Value>(&jobs[0].payload).unwrap(), json!({"n": 1}));
    }
}

on_both_backends! {
    async fn dedupe_key_yields_one_job(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let a = store.enqueue(store.db(), NewJob::new("k", json!({}), t0()).dedupe("evt-1"), t0()).await.unwrap();
        let b = store.enqueue(store.db(), NewJob::new("k", json!({}), t0()).dedupe("evt-1"), t0()).await.unwrap();
        assert!(matches!(a, Enqueued::New(_)));
        assert_eq!(b, Enqueued::Duplicate);
        assert_eq!(store.outbox_stats().await.unwrap().pending, 1);
    }
}

on_both_backends! {
    async fn future_jobs_wait_and_concurrent_claims_never_overlap(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        for i in 0..40 {
            store.enqueue(store.db(), NewJob::new("k", json!({ "i": i }), t0()), t0()).await.unwrap();
        }
        store.enqueue(store.db(), NewJob::new("later", json!({}), t0()).at(t0() + Duration::hours(1)), t0()).await.unwrap();
        // The backlog gauge counts what is due, not what waits for its hour.
        assert_eq!(store.outbox_due(t0()).await.unwrap(), 40);
        assert_eq!(store.outbox_due(t0() + Duration::hours(1)).await.unwrap(), 41);
        let mut handles = Vec::new();
        for w in 0..4 {
            let s = store.clone();
            handles.push(tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let got = s.claim_jobs(&format!("w{w}"), 3, Duration::seconds(30), t0()).await.unwrap();
                    if got.is_empty() { break; }
                    mine.extend(got.into_iter().map(|j| j.id));
                }
                mine
            }));
        }
        let mut all = Vec::new();
        for h in handles { all.extend(h.await.unwrap()); }
        let n = all.len();
        all.sort();
        all.dedup();
        assert_eq!(n, 40, "every due job claimed once");
        assert_eq!(all.len(), 40, "no job claimed twice");
        let stats = store.outbox_stats().await.unwrap();
        assert_eq!((stats.running, stats.pending), (40, 1));
        assert_eq!(store.outbox_due(t0()).await.unwrap(), 0, "claimed jobs are no longer due");
    }
}

on_both_backends! {
    async fn retry_then_dead_letter_with_reason(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.enqueue(store.db(), NewJob::new("k", json!({}), t0()).max_attempts(2), t0()).await.unwrap();
        let j = store.claim_jobs("w", 1, Duration::seconds(30), t0()).await.unwrap().remove(0);
        store.fail_job(&j, "w", "HIS timeout", Some(t0() + Duration::seconds(2)), t0()).await.unwrap();
        assert!(store.claim_jobs("w", 1, Duration::seconds(30), t0()).await.unwrap().is_empty(), "not before its retry time");
        let j = store.claim_jobs("w", 1, Duration::seconds(30), t0() + Duration::seconds(3)).await.unwrap().remove(0);
        assert_eq!(j.attempts, 2);
        store.fail_job(&j, "w", "HIS timeout again", Some(t0() + Duration::seconds(10)), t0()).await.unwrap();
        let dead = store.dead_jobs(10).await.unwrap();
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].last_error.as_deref(), Some("HIS timeout again"));
        assert!(store.requeue_dead_job(dead[0].id, t0()).await.unwrap());
        assert_eq!(store.outbox_stats().await.unwrap().pending, 1);
    }
}

on_both_backends! {
    async fn permanent_error_dead_letters_at_once(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.enqueue(store.db(), NewJob::new("k", json!({}), t0()), t0()).await.unwrap();
        let j = store.claim_jobs("w", 1, Duration::seconds(30), t0()).await.unwrap().remove(0);
        store.fail_job(&j, "w", "invalid openid", None, t0()).await.unwrap();
        assert_eq!(store.outbox_stats().await.unwrap().dead, 1);
    }
}

on_both_backends! {
    async fn expired_lease_is_reclaimed_and_old_holder_cannot_ack(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.enqueue(store.db(), NewJob::new("k", json!({}), t0()), t0()).await.unwrap();
        let j = store.claim_jobs("crashed", 1, Duration::seconds(30), t0()).await.unwrap().remove(0);
        assert!(store.claim_jobs("other", 1, Duration::seconds(30), t0() + Duration::seconds(10)).await.unwrap().is_empty());
        let again = store.claim_jobs("other", 1, Duration::seconds(30), t0() + Duration::seconds(31)).await.unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].id, j.id);
        assert_eq!(again[0].attempts, 2);
        assert!(!store.complete_job(j.id, "crashed", t0()).await.unwrap(), "stale holder");
        assert!(store.complete_job(j.id, "other", t0()).await.unwrap());
        assert_eq!(store.outbox_stats().await.unwrap().done, 1);
    }
}
