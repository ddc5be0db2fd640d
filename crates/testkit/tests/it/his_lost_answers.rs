//! G5: the HIS locked the place but its answer was lost — seeded runs on both backends.
//!
//! Each run draws how many answers of `lock_reg` (the booking's call and its immediate
//! retry, then the settle job's) and of `unlock_reg` the HIS loses (it does the work and
//! answers 504), books over HTTP, and lets the simulated clock run in uneven steps with
//! the outbox drained after each. Then, before the HIS's own 15-minute lock expiry could
//! hide anything:
//! * the booking is settled — held (`locked`) exactly when the patient was told 201,
//!   released otherwise; never left `locking`;
//! * the HIS holds a place for it exactly when we do (no orphan lock), and the place
//!   counts we show agree with the HIS's;
//! * a released place is offered again: now and then another patient books it;
//! * a held booking cancelled unpaid gives the place back to the HIS, whatever answers
//!   are lost on the way.
//!
//! `CAREBRIDGE_G5_RUNS` runs per backend: 60 in CI, 500 nightly (`scripts/nightly`).
use chrono::{Duration, TimeZone, Utc};
use domain::registration::BookingState;
use serde_json::{Value, json};
use sim::rng::SeededRng;
use testkit::{TestApp, on_both_backends};

fn runs() -> u64 {
    std::env::var("CAREBRIDGE_G5_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(60)
}

const DEPTS: [&str; 3] = ["0101", "0102", "0106"];

async fn his_available(t: &TestApp, slot: &str) -> u64 {
    let v: Value = TestApp::http().get(format!("{}/__sim/slot/{slot}", t.his_url)).send().await.unwrap().json().await.unwrap();
    v["available"].as_u64().unwrap()
}

/// What we show for the slot: the session's page a patient reads (our own holds counted
/// live over the HIS's figures).
async fn our_available(t: &TestApp, dept: &str, (schedule, slot): (&str, &str)) -> u64 {
    let v: Value = TestApp::http().get(t.url(&format!("/api/v1/departments/{dept}/schedules/{schedule}"))).send().await.unwrap().json().await.unwrap();
    let found = v["slots"].as_array().and_then(|a| a.iter().find(|x| x["slot_id"] == slot)).unwrap_or_else(|| panic!("slot {slot} not on its page: {v}"));
    found["available"].as_u64().unwrap()
}

async fn set_lost_answers(t: &TestApp, lose: &[&str]) {
    let r = TestApp::http().post(format!("{}/__sim/faults", t.his_url)).json(&json!({"lose_response_next": lose})).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

/// Lets `secs` of simulated time pass in steps, running what falls due after each.
async fn run_clock(t: &TestApp, clock: &domain::FakeClock, rng: &mut SeededRng, secs: i64) {
    let mut left = secs;
    while left > 0 {
        let step = (5 + rng.below(40) as i64).min(left);
        clock.advance(Duration::seconds(step));
        t.drain_jobs().await;
        left -= step;
    }
}

/// A patient signed in (again: the simulated clock outruns the 10-minute step-up window).
struct Patient {
    openid: &'static str,
    cookie: String,
    id: i64,
}

impl Patient {
    async fn new(t: &TestApp, openid: &'static str, name: &str) -> Self {
        let (_, cookie) = t.wechat_sign_in(openid).await;
        let id = t.add_demo_patient(&cookie, name, "self").await;
        Self { openid, cookie, id }
    }

    async fn book(&mut self, t: &TestApp, key: &str, dept: &str, slot: &str) -> (u16, Value) {
        self.cookie = t.wechat_sign_in(self.openid).await.1;
        let r = TestApp::http()
            .post(t.url("/api/v1/me/registrations"))
            .header("cookie", &self.cookie)
            .header("idempotency-key", key)
            .json(&json!({"patient_id": self.id, "dept_id": dept, "slot_id": slot}))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    /// Cancels an unpaid booking: 200, or 503 when the HIS's answer to the unlock was
    /// lost (the order is closed and the jobs let the place go).
    async fn cancel(&mut self, t: &TestApp, no: &str) -> u16 {
        self.cookie = t.wechat_sign_in(self.openid).await.1;
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{no}/cancel"))).header("cookie", &self.cookie).send().await.unwrap();
        let status = r.status().as_u16();
        assert!(status == 200 || status == 503, "cancel {no}: {status} {}", r.text().await.unwrap());
        status
    }
}

on_both_backends! {
    async fn a_lost_lock_answer_never_leaves_an_orphan_lock_and_the_place_is_offered_again(backend) {
        // 08:00 local on a weekday.
        let clock = domain::FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap());
        // Hundreds of bookings from one address in a few real seconds: not what the
        // fairness limits are about.
        let t = TestApp::spawn_opts(backend, std::sync::Arc::new(clock.clone()), false, |s| {
            s.registration.bookings_per_account_per_minute = 100_000;
            s.registration.bookings_per_address_per_minute = 100_000;
        })
        .await;
        let mut zhang = Patient::new(&t, "oDemo_zhangwei_0001", "张伟").await;
        let mut li = Patient::new(&t, "oDemo_lina_0002", "李娜").await;
        let (mut held, mut released, mut reoffered) = (0, 0, 0);
        let seed = 0x6_5EED;
        for run in 0..runs() {
            let mut rng = SeededRng::new(seed + run);
            let dept = DEPTS[rng.below(DEPTS.len() as u64) as usize];
            let Some((schedule, slot, _)) = testkit::app::free_place(&t.app, dept, 2).await else { panic!("run {run}: no place left in {dept}") };
            let at = (schedule.as_str(), slot.as_str());
            let before = his_available(&t, &slot).await;
            assert_eq!(our_available(&t, dept, at).await, before, "run {run}: we and the HIS agree before");
            let (lost_locks, lost_unlocks) = (rng.below(5) as usize, rng.below(3) as usize);
            let lose: Vec<&str> = std::iter::repeat_n("lock_reg", lost_locks).chain(std::iter::repeat_n("unlock_reg", lost_unlocks)).collect();
            set_lost_answers(&t, &lose).await;
            let ctx = format!("run {run} (seed {}: {lost_locks} lock and {lost_unlocks} unlock answers lost, {dept} {slot})", seed + run);

            let (status, b) = zhang.book(&t, &format!("g5-{run}"), dept, &slot).await;
            // The booking's call and its one immediate retry: a patient is told 201 when
            // either answer arrives, "try again" (503) when both are lost.
            match (lost_locks, status) {
                (0 | 1, 201) => {}
                (2.., 503) => assert_eq!(b["code"], "HIS_UNAVAILABLE", "{ctx}: {b}"),
                other => panic!("{ctx}: answered {other:?} {b}"),
            }
            let booking = match status {
                201 => b["booking_no"].as_str().unwrap().to_owned(),
                _ => t.store.bookings_of(&[zhang.id], 20).await.unwrap().into_iter().find(|r| r.slot_id == slot && r.state == BookingState::Locking.as_str()).unwrap_or_else(|| panic!("{ctx}: no booking in locking")).booking_no,
            };
            // The grace before the settle job asks (120 s), then its retries through up to
            // four lost answers (backoff 2, 4, 8, 16 s ± 25 %).
            // The clock runs in uneven steps, jobs running after each; a retry waits for the
            // next step, so the settling is given up to 12 simulated minutes — still before
            // the HIS's own 15-minute expiry.
            let booked_at = t.app.now();
            let first = 120 + rng.below(60) as i64;
            run_clock(&t, &clock, &mut rng, first).await;
            while t.store.booking(&booking).await.unwrap().state == BookingState::Locking.as_str() && t.app.now() - booked_at < Duration::minutes(12) {
                run_clock(&t, &clock, &mut rng, 30).await;
            }
            let row = t.store.booking(&booking).await.unwrap();
            let ours = if status == 201 { BookingState::Locked } else { BookingState::Released };
            if row.state != ours.as_str() {
                use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
                let job = store::entity::outbox::Entity::find()
                    .filter(store::entity::outbox::Column::DedupeKey.eq(format!("{}:{booking}", app::registration::BOOKING_SETTLE_LOCK)))
                    .one(t.store.db())
                    .await
                    .unwrap();
                panic!("{ctx}: {} instead of {}; now {}; its settle job: {job:?}", row.state, ours.as_str(), t.app.now());
            }
            let his = his_available(&t, &slot).await;
            assert_eq!(his, before - u64::from(status == 201), "{ctx}: the HIS holds a place exactly when we do");
            assert_eq!(our_available(&t, dept, at).await, his, "{ctx}: our count agrees with the HIS's");

            if status == 201 {
                held += 1;
                // A lost unlock answer is "try again" (503); the patient taps again, and each
                // tap is answered as the HIS's answer arrives — never "not cancellable".
                let mut taps = 1;
                while zhang.cancel(&t, &booking).await == 503 {
                    assert!(taps <= lost_unlocks, "{ctx}: cancel answered 503 on tap {taps}");
                    taps += 1;
                }
            } else {
                released += 1;
                if rng.chance(25) {
                    // Offered again: someone else takes the very place.
                    set_lost_answers(&t, &[]).await;
                    let (s, other) = li.book(&t, &format!("g5-re-{run}"), dept, &slot).await;
                    assert_eq!(s, 201, "{ctx}: the released place is offered again: {other}");
                    reoffered += 1;
                    assert_eq!(li.cancel(&t, other["booking_no"].as_str().unwrap()).await, 200, "{ctx}");
                }
            }
            // Cancelled unpaid: the HIS lets the place go, through any unlock answers still
            // lost (the next run starts clean).
            run_clock(&t, &clock, &mut rng, 90).await;
            assert_eq!(t.store.booking(&booking).await.unwrap().state, BookingState::Released.as_str(), "{ctx}: the cancelled booking ends released");
            set_lost_answers(&t, &[]).await;
            assert_eq!(his_available(&t, &slot).await, before, "{ctx}: every place is back at the HIS");
            assert_eq!(our_available(&t, dept, at).await, before, "{ctx}: and on our page");
        }
        println!("G5: {} runs — {held} held (answer arrived), {released} released by the settle job, {reoffered} released places booked again", runs());
        assert!(held > 0 && released > 0 && reoffered > 0, "the runs covered every outcome");
    }
}
