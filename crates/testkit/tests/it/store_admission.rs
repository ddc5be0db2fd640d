//! Admission control's parts on both backends: the shared HIS permits (bound, give
//! back, a dead holder's lease running out), the per-slot count of places held, and
//! the permit gate's refusals (too many waiting, waited too long).
use chrono::Duration;
use domain::ErrorCode;
use domain::ports::{CallClass, CallPermits};
use std::sync::Arc;
use testkit::{TestDb, on_both_backends};

on_both_backends! {
    async fn shared_permits_hold_the_bound_and_expire(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.ensure_his_permits(3).await.unwrap();
        store.ensure_his_permits(3).await.unwrap();
        let now = chrono::Utc::now();
        let until = now + Duration::seconds(30);
        let mut taken = Vec::new();
        for i in 0..3 {
            taken.push(store.take_his_permit(&format!("h{i}"), 1..=3, until, now).await.unwrap().expect("a free permit"));
        }
        taken.sort();
        assert_eq!(taken, vec![1, 2, 3]);
        assert_eq!(store.take_his_permit("h9", 1..=3, until, now).await.unwrap(), None, "the bound is 3");
        assert_eq!(store.his_permits_held(now).await.unwrap(), 3);
        // Only the holder gives a permit back.
        assert!(!store.give_back_his_permit(2, "someone-else").await.unwrap());
        // Taken one after another, in order: h1 holds permit 2.
        assert!(store.give_back_his_permit(2, "h1").await.unwrap());
        assert!(!store.give_back_his_permit(2, "h1").await.unwrap(), "given back once");
        assert!(store.take_his_permit("h10", 1..=3, until, now).await.unwrap().is_some());
        // A node that died holding permits loses them when the lease runs out.
        let later = until + Duration::seconds(1);
        assert!(store.take_his_permit("h11", 1..=3, later + Duration::seconds(30), later).await.unwrap().is_some());
        // A range hands out only its own rows.
        store.ensure_his_permits(5).await.unwrap();
        assert_eq!(store.take_his_permit("h12", 1..=1, until, now).await.unwrap(), None, "permit 1 is held");
        assert_eq!(store.take_his_permit("h13", 4..=5, until, now).await.unwrap(), Some(4));
    }
}

on_both_backends! {
    async fn the_gate_refuses_when_saturated_and_gives_permits_back(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        let settings = app::admission::AdmissionSettings {
            // One of the three is kept for urgent calls.
            max_in_flight: 3,
            max_waiting: 3,
            max_wait: std::time::Duration::from_millis(150),
            shared: true,
            lease: std::time::Duration::from_secs(30),
        };
        let clock: Arc<dyn domain::Clock> = Arc::new(domain::SystemClock);
        let gate = Arc::new(app::admission::HisPermits::shared(settings, store.clone(), clock).await.unwrap());
        let a = gate.acquire(CallClass::Normal).await.expect("first");
        let b = gate.acquire(CallClass::Normal).await.expect("second");
        assert_eq!(store.his_permits_held(chrono::Utc::now()).await.unwrap(), 2);
        // A third normal call waits its 150 ms, then is refused: nothing was sent.
        let started = std::time::Instant::now();
        let e = gate.acquire(CallClass::Normal).await.err().expect("busy");
        assert_eq!(e.code, ErrorCode::HisBusy);
        assert!(started.elapsed() >= std::time::Duration::from_millis(140));
        // An urgent call (the catalogue's refresh) still gets the reserve, at once; then
        // the bound is reached for everyone.
        let started = std::time::Instant::now();
        let u = gate.acquire(CallClass::Urgent).await.expect("the reserve");
        assert!(started.elapsed() < std::time::Duration::from_millis(100));
        assert_eq!(store.his_permits_held(chrono::Utc::now()).await.unwrap(), 3);
        assert_eq!(gate.acquire(CallClass::Urgent).await.err().expect("busy").code, ErrorCode::HisBusy);
        drop(u);
        // Too many waiting: refused at once.
        let waiters: Vec<_> = (0..3).map(|_| { let g = gate.clone(); tokio::spawn(async move { g.acquire(CallClass::Normal).await.map(drop) }) }).collect();
        tokio::time::sleep(std::time::Duration::from_millis(30)).await;
        let started = std::time::Instant::now();
        assert_eq!(gate.acquire(CallClass::Normal).await.err().expect("busy").code, ErrorCode::HisBusy);
        assert!(started.elapsed() < std::time::Duration::from_millis(50), "refused without waiting");
        for w in waiters {
            assert_eq!(w.await.unwrap().expect_err("busy").code, ErrorCode::HisBusy);
        }
        // Dropping a permit gives it back (in the background), and the next call gets it.
        drop(a);
        let c = tokio::time::timeout(std::time::Duration::from_secs(2), gate.acquire(CallClass::Normal)).await.expect("in time").expect("a permit came back");
        drop((b, c));
        for _ in 0..100 {
            if store.his_permits_held(chrono::Utc::now()).await.unwrap() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("permits were not given back");
    }
}
