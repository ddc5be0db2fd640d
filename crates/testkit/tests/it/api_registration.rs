//! Registration (挂号) over HTTP on both backends: book → HIS lock → pay → HIS confirm →
//! events; double taps; cancel before and after paying; the tier-2/3 rule (INS-2) for
//! every demo situation; a lock lost after payment refunded (P6); a lock whose answer was
//! lost (G5); and many patients racing for few places (no oversell, no double booking).
use chrono::{Duration, TimeZone, Utc};
use domain::registration::BookingState;
use domain::{ErrorCode, FakeClock};
use serde_json::{Value, json};
use testkit::{TestApp, location, on_both_backends};

async fn spawn(backend: testkit::TestBackend) -> (TestApp, FakeClock) {
    // 08:00 local on a weekday: the day's sessions are all ahead.
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()).await
}

/// Signs `openid` in and adds each demo citizen in `names` (the first as self).
async fn account(t: &TestApp, openid: &str, names: &[&str]) -> (String, Vec<i64>) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let citizens = sim::demo::citizens(t.app.today());
    let mut ids = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let c = citizens.iter().find(|x| x.name == *name).unwrap();
        let rel = if i == 0 {
            "self"
        } else if c.guardian_id.is_some() {
            "child"
        } else {
            "other"
        };
        ids.push(t.add_demo_patient(&cookie, name, rel).await);
    }
    (cookie, ids)
}

/// One signed call to the HIS simulator, as another channel (the window) would make it.
async fn his_call(t: &TestApp, op: &str, data: Value) -> Value {
    let d = sim::his::HisSimConfig::default();
    let body = json!({"channelId": d.channel_id, "timestamp": "20261126080000", "nonce": "w1", "data": data}).to_string();
    let r = TestApp::http()
        .post(format!("{}/his/api/v1/{op}", t.his_url))
        .header("content-type", "application/json")
        .header("x-his-sign", sim::his::sign(&d.channel_key, body.as_bytes()))
        .body(body)
        .send()
        .await
        .unwrap();
    r.json().await.unwrap()
}

/// A bookable slot in `dept` with at least `min` places, later today or tomorrow.
async fn free_slot(t: &TestApp, dept: &str, min: u32) -> (String, String, u32) {
    let v = t.app.department_view(dept).await.unwrap();
    let now = domain::clock::to_local(t.app.now()).naive_local();
    for s in v.schedules.iter().filter(|s| !s.suspended) {
        for sl in &s.slots {
            if sl.available >= min && s.date.and_time(sl.start) > now + Duration::hours(2) {
                return (s.schedule_id.clone(), sl.slot_id.clone(), sl.available);
            }
        }
    }
    panic!("no free slot in {dept}");
}

async fn his_available(t: &TestApp, slot: &str) -> u64 {
    let v: Value = TestApp::http().get(format!("{}/__sim/slot/{slot}", t.his_url)).send().await.unwrap().json().await.unwrap();
    v["available"].as_u64().unwrap()
}

async fn book(t: &TestApp, cookie: &str, key: &str, patient: i64, dept: &str, slot: &str) -> reqwest::Response {
    TestApp::http()
        .post(t.url("/api/v1/me/registrations"))
        .header("cookie", cookie)
        .header("idempotency-key", key)
        .json(&json!({"patient_id": patient, "dept_id": dept, "slot_id": slot}))
        .send()
        .await
        .unwrap()
}

async fn get_json(t: &TestApp, cookie: &str, path: &str) -> Value {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap().json().await.unwrap()
}

/// Pays an order's self-pay part at the bank simulator's cashier.
async fn pay_self(t: &TestApp, order_no: &str) {
    let cashier = t.app.start_self_pay(order_no).await.unwrap();
    let r = TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    t.app.resolve_payment(order_no).await.unwrap();
    t.drain_jobs().await;
}

fn state(v: &Value) -> &str {
    v["state"].as_str().unwrap()
}

on_both_backends! {
    async fn book_pay_confirm_then_cancel_and_refund(backend) {
        let (t, _) = spawn(backend).await;
        let (zhang, ids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let (sched, slot, before) = free_slot(&t, "0101", 2).await;
        let r = book(&t, &zhang, "b-1", ids[0], "0101", &slot).await;
        assert_eq!(r.status(), 201);
        let first = r.text().await.unwrap();
        let b: Value = serde_json::from_str(&first).unwrap();
        assert_eq!(state(&b), "locked");
        assert_eq!(b["insurance_route"], "insurance", "tier 1 pays with insurance");
        assert_eq!(his_available(&t, &slot).await, u64::from(before) - 1, "the HIS holds the place");
        let no = b["booking_no"].as_str().unwrap().to_owned();
        let order_no = b["order_no"].as_str().unwrap().to_owned();
        // The same request again (a retry) is the same booking; a second tap with a new key
        // is refused: one live booking per patient per session.
        let again = book(&t, &zhang, "b-1", ids[0], "0101", &slot).await;
        assert_eq!(again.text().await.unwrap(), first);
        let (_, other_slot) = {
            let v = t.app.department_view("0101").await.unwrap();
            let s = v.schedules.iter().find(|s| s.schedule_id == sched).unwrap();
            (0, s.slots.iter().find(|x| x.slot_id != slot && x.available > 0).unwrap().slot_id.clone())
        };
        let dup = book(&t, &zhang, "b-2", ids[0], "0101", &other_slot).await;
        assert_eq!(dup.status(), 409);
        assert_eq!(dup.json::<Value>().await.unwrap()["code"], "BOOKING_DUPLICATE");
        // The order offers insurance and self-pay; pay self-pay.
        let o = get_json(&t, &zhang, &format!("/api/v1/me/orders/{order_no}")).await;
        assert_eq!(o["purpose"], "registration");
        assert_eq!(o["methods"], json!(["insurance", "self_pay"]));
        pay_self(&t, &order_no).await;
        let b = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await;
        assert_eq!(state(&b), "confirmed", "{b}");
        assert!(b["see_no"].as_i64().unwrap() > 0);
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Fulfilled);
        // The journey event carries what a notice needs.
        let events = t.store.events_of(ids[0]).await.unwrap();
        let confirmed = events.iter().find(|e| e.kind == "booking.confirmed").expect("booking.confirmed written");
        let p: Value = serde_json::from_str(&confirmed.payload).unwrap();
        for k in ["dept_name", "doctor_name", "visit_date", "start_time", "location", "see_no", "link"] {
            assert!(!p[k].is_null(), "{k} in {p}");
        }
        // Cancel (退号): the HIS gets the place back, the money goes back, the event is written.
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{no}/cancel"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(state(&r.json::<Value>().await.unwrap()), "cancelled");
        assert_eq!(his_available(&t, &slot).await, u64::from(before));
        t.drain_jobs().await;
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Refunded);
        assert!(t.store.events_of(ids[0]).await.unwrap().iter().any(|e| e.kind == "booking.cancelled"));
        // Cancelling twice is refused with its code; nothing more is refunded.
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{no}/cancel"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "BOOKING_NOT_CANCELLABLE");
        let ledger = t.store.ledger_of(&order_no).await.unwrap();
        assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), 0, "the books balance");
        // Another account cannot see it.
        let (lina, _) = account(&t, "oDemo_lina_0002", &["李娜"]).await;
        let r = TestApp::http().get(t.url(&format!("/api/v1/me/registrations/{no}"))).header("cookie", &lina).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
}

on_both_backends! {
    async fn giving_up_or_not_paying_releases_the_place(backend) {
        let (t, clock) = spawn(backend).await;
        let (zhang, ids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let (_, slot, before) = free_slot(&t, "0102", 2).await;
        // Given up before paying: the order closes and the HIS place is free at once.
        let b = book(&t, &zhang, "g-1", ids[0], "0102", &slot).await.json::<Value>().await.unwrap();
        let no = b["booking_no"].as_str().unwrap().to_owned();
        // Asked first: the page names the visit; nothing is released yet.
        let ask = TestApp::http().post(t.url(&format!("/registrations/{no}/cancel"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(ask.status(), 200);
        assert!(ask.text().await.unwrap().contains("无需退款"), "an unpaid booking has nothing to refund");
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await), "locked", "nothing happened before the confirmation");
        let r = TestApp::http().post(t.url(&format!("/registrations/{no}/cancel"))).header("cookie", &zhang).form(&[("confirmed", "1")]).send().await.unwrap();
        assert_eq!(location(r.headers()), format!("/registrations/{no}?cancelled=1"));
        assert_eq!(his_available(&t, &slot).await, u64::from(before));
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await), "released");
        let order_no = b["order_no"].as_str().unwrap();
        assert_eq!(t.store.order(order_no).await.unwrap().0.state, domain::billing::OrderState::Closed);
        t.drain_jobs().await;
        let released = |evs: Vec<store::journey::JourneyEvent>| evs.iter().filter(|e| e.kind == "booking.released").count();
        assert_eq!(released(t.store.events_of(ids[0]).await.unwrap()), 0, "the patient's own cancel is not a lapse");
        // Not paid in time: the payment query closes the order, the release job frees the place.
        let b = book(&t, &zhang, "g-2", ids[0], "0102", &slot).await.json::<Value>().await.unwrap();
        assert_eq!(state(&b), "locked", "the patient may book the session again");
        assert_eq!(his_available(&t, &slot).await, u64::from(before) - 1);
        // The pay page names the visit and the hold's deadline, counted from the server's clock.
        let pay = TestApp::http().get(t.url(&format!("/pay/{}", b["order_no"].as_str().unwrap()))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        let doctor = b["doctor_name"].as_str().unwrap();
        assert!(pay.contains("id=\"visit\"") && pay.contains(doctor), "the pay page names the doctor: {pay}");
        assert!(pay.contains(b["start_time"].as_str().unwrap()), "and the time");
        let left: i64 = pay.split("data-seconds-left=\"").nth(1).and_then(|r| r.split('"').next()).and_then(|n| n.parse().ok()).expect("a countdown");
        assert!((14 * 60..=15 * 60).contains(&left), "the HIS holds the place 15 minutes: {left}s left");
        assert!(pay.contains("号源为您保留至") && pay.contains("/static/pay.js"), "{pay}");
        clock.advance(Duration::minutes(10));
        let pay = TestApp::http().get(t.url(&format!("/pay/{}", b["order_no"].as_str().unwrap()))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(pay.contains("剩余约5分钟"), "the hold counts down without script too: {pay}");
        clock.advance(Duration::minutes(6));
        t.drain_jobs().await;
        let no = b["booking_no"].as_str().unwrap();
        let after = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await;
        assert_eq!(state(&after), "released", "{after}");
        assert_eq!(his_available(&t, &slot).await, u64::from(before));
        // The lapse is told once, naming the visit, and links back to the department to rebook.
        assert_eq!(released(t.store.events_of(ids[0]).await.unwrap()), 1, "a lapsed hold is told");
        let inbox: Value = TestApp::http().get(t.url("/api/v1/me/messages")).header("cookie", &zhang).send().await.unwrap().json().await.unwrap();
        let told: Vec<&Value> = inbox["messages"].as_array().unwrap().iter().filter(|m| m["scene"] == "booking.released").collect();
        assert_eq!(told.len(), 1, "{inbox}");
        let text = told[0].to_string();
        assert!(text.contains(doctor) && text.contains("号源已释放"), "{text}");
        let page = TestApp::http().get(t.url(told[0]["link"].as_str().unwrap())).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"book-again\" href=\"/departments/0102\""), "the notice opens the booking, which offers to book again: {page}");
    }
}

on_both_backends! {
    async fn the_hold_the_pay_page_promises_is_the_one_the_his_keeps(backend) {
        // The hospital lets orders wait 30 minutes, but the HIS holds a place for 15: the
        // registration's order closes with the HIS hold, and the pay page counts to it.
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
        let clock = FakeClock::new(at);
        // Workers off: a background worker holding the close job would race `drain_jobs`.
        let t = TestApp::spawn_opts(backend, std::sync::Arc::new(clock.clone()), false, |s| s.payment.close_after_minutes = 30).await;
        let (zhang, ids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let (schedule, slot, _) = free_slot(&t, "0104", 1).await;
        let page = TestApp::http().get(t.url(&format!("/book/0104/{schedule}"))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("保留最长 30 分钟（以支付页倒计时为准）"), "{page}");
        let b = book(&t, &zhang, "h-1", ids[0], "0104", &slot).await.json::<Value>().await.unwrap();
        let order_no = b["order_no"].as_str().unwrap();
        let booking = t.store.booking(b["booking_no"].as_str().unwrap()).await.unwrap();
        let lock = booking.lock_expires_at.expect("the HIS said how long it holds the place");
        assert_eq!(lock, at + Duration::minutes(sim::his::LOCK_TTL_MINUTES));
        assert_eq!(t.store.order_row(order_no).await.unwrap().expires_at, lock, "the order closes when the HIS lets go");
        let pay = TestApp::http().get(t.url(&format!("/pay/{order_no}"))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(pay.contains(&format!("data-seconds-left=\"{}\"", sim::his::LOCK_TTL_MINUTES * 60)), "{pay}");
        // At the HIS's minute the order is closed and the place released, not ten minutes later.
        clock.advance(Duration::minutes(sim::his::LOCK_TTL_MINUTES) + Duration::seconds(1));
        t.drain_jobs().await;
        assert_eq!(t.store.order(order_no).await.unwrap().0.state, domain::billing::OrderState::Closed);
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{}", b["booking_no"].as_str().unwrap())).await), "released");
    }
}

on_both_backends! {
    async fn a_lock_lost_after_payment_is_refunded_and_a_lost_lock_answer_is_settled(backend) {
        let (t, clock) = spawn(backend).await;
        let (zhang, ids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let (_, slot, before) = free_slot(&t, "0106", 2).await;
        // P6: the patient pays after the HIS let the lock go (its 15 minutes passed).
        let b = book(&t, &zhang, "l-1", ids[0], "0106", &slot).await.json::<Value>().await.unwrap();
        let order_no = b["order_no"].as_str().unwrap().to_owned();
        let cashier = t.app.start_self_pay(&order_no).await.unwrap();
        clock.advance(Duration::minutes(15) + Duration::seconds(5));
        assert_eq!(his_available(&t, &slot).await, u64::from(before), "the HIS released the lock");
        TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
        t.app.resolve_payment(&order_no).await.unwrap();
        t.drain_jobs().await;
        let no = b["booking_no"].as_str().unwrap();
        let after = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await;
        assert_eq!(state(&after), "lock_lost", "{after}");
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Refunded, "refunded automatically");
        assert!(t.store.events_of(ids[0]).await.unwrap().iter().any(|e| e.kind == "booking.lock_lost"));
        // G5: the HIS makes the lock but the answer is lost twice (our retry too).
        let (_, slot2, before2) = free_slot(&t, "0106", 2).await;
        let faults = json!({"lose_response_next": ["lock_reg", "lock_reg"]});
        TestApp::http().post(format!("{}/__sim/faults", t.his_url)).json(&faults).send().await.unwrap();
        let r = book(&t, &zhang, "l-2", ids[0], "0106", &slot2).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "HIS_UNAVAILABLE");
        assert_eq!(his_available(&t, &slot2).await, u64::from(before2) - 1, "the HIS holds a place nobody will pay for");
        let live = t.store.bookings_of(&ids, 10).await.unwrap();
        let stuck = live.iter().find(|r| r.slot_id == slot2).unwrap();
        assert_eq!(stuck.state, BookingState::Locking.as_str());
        clock.advance(Duration::minutes(3));
        t.drain_jobs().await;
        assert_eq!(t.store.booking(&stuck.booking_no).await.unwrap().state, BookingState::Released.as_str());
        assert_eq!(his_available(&t, &slot2).await, u64::from(before2), "the settle job gave the place back");
    }
}

/// The demo citizens' INS-2 situations and what booking in a department says.
const INS2_ROWS: &[(&str, &str, &str, Option<&str>)] = &[
    // (citizen, department, route, methods offered besides self-pay)
    ("张伟", "0101", "insurance", Some("insurance")),   // tier 1
    ("李娜", "0101", "insurance", Some("insurance")),   // tier 2, valid referral, any department
    ("王芳", "0101", "refused", None),                  // tier 2, no referral
    ("王芳", "0105", "insurance", Some("insurance")),   // …but the fever clinic is an exception
    ("刘洋", "0101", "insurance", Some("insurance")),   // tier 3, referral for 内科
    ("刘洋", "0102", "refused", None),                  // …not for 外科
    ("陈静", "0101", "mutual_aid", Some("mutual_aid")), // tier 3, no referral, 家庭共济 grant
    ("周敏", "0101", "refused", None),                  // tier 2, referral expired
    ("黄强", "0101", "refused", None),                  // self-pay
];

on_both_backends! {
    async fn the_tier_rule_decides_every_demo_situation(backend) {
        let (t, _) = spawn(backend).await;
        let names: Vec<&str> = ["张伟", "李娜", "王芳", "刘洋", "陈静", "周敏", "黄强"].to_vec();
        let (cookie, ids) = account(&t, "oDemo_newcomer_0004", &names).await;
        for (i, (name, dept, route, method)) in INS2_ROWS.iter().enumerate() {
            let pid = ids[names.iter().position(|n| n == name).unwrap()];
            let (_, slot, _) = free_slot(&t, dept, 1).await;
            let r = book(&t, &cookie, &format!("r-{i}"), pid, dept, &slot).await;
            assert_eq!(r.status(), 201, "{name} {dept}");
            let b: Value = r.json().await.unwrap();
            assert_eq!(b["insurance_route"], *route, "{name} {dept}: {b}");
            let o = get_json(&t, &cookie, &format!("/api/v1/me/orders/{}", b["order_no"].as_str().unwrap())).await;
            let want: Vec<&str> = method.iter().copied().chain(["self_pay"]).collect();
            assert_eq!(o["methods"], json!(want), "{name} {dept}");
            let page = TestApp::http().get(t.url(&format!("/pay/{}", b["order_no"].as_str().unwrap()))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
            assert_eq!(page.contains("医保挂号异常提醒"), *route == "refused" && *name != "黄强", "{name} {dept}: the notice shows exactly when refused");
            if *route == "refused" {
                assert!(b["insurance_notice"].as_str().is_some_and(|n| !n.is_empty()));
                // The API refuses an insurance payment the rule does not allow.
                let r = TestApp::http()
                    .post(t.url(&format!("/api/v1/me/orders/{}/pay", b["order_no"].as_str().unwrap())))
                    .header("cookie", &cookie)
                    .json(&json!({"method": "insurance"}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.json::<Value>().await.unwrap()["code"], "INSURANCE_NOT_ALLOWED", "{name} {dept}");
            }
            // Give the place back for the next row.
            let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{}/cancel", b["booking_no"].as_str().unwrap()))).header("cookie", &cookie).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
    }
}

on_both_backends! {
    async fn a_mutual_aid_patient_pays_through_the_family_channel(backend) {
        let (t, _) = spawn(backend).await;
        let (cookie, ids) = account(&t, "oDemo_newcomer_0004", &["陈静"]).await;
        let (_, slot, _) = free_slot(&t, "0101", 1).await;
        let b: Value = book(&t, &cookie, "m-1", ids[0], "0101", &slot).await.json().await.unwrap();
        let order_no = b["order_no"].as_str().unwrap().to_owned();
        let actor = app::Actor::system("test");
        let url = t.app.insurance_authorize_url(&order_no, "", app::billing::PayMethod::MutualAid, "http://localhost/x").await.unwrap();
        let (code, st) = t.authorise_insurance(&url, true).await;
        let split = t.app.insurance_presettle(&order_no, &code, &st, "oDemo_newcomer_0004", &actor).await.unwrap();
        assert_eq!(split.fund.0, 0, "no pooling without a referral");
        assert!(split.mutual_aid.0 > 0, "the relative's account pays: {split:?}");
        assert_eq!(split.total(), t.store.order(&order_no).await.unwrap().0.total());
        // Her own insurance is not offered.
        assert_eq!(
            t.app.insurance_authorize_url(&order_no, "", app::billing::PayMethod::Insurance, "http://localhost/x").await.unwrap_err().code,
            ErrorCode::InsuranceNotAllowed
        );
    }
}

on_both_backends! {
    async fn many_patients_few_places_no_oversell_no_double_booking(backend) {
        let (t, _) = spawn(backend).await;
        let (_, slot, capacity) = free_slot(&t, "0110", 2).await;
        // 16 patients in 4 accounts; every one taps twice at once.
        let mut patients = Vec::new();
        for a in 0..4 {
            let account = t.store.upsert_wechat_account(&format!("o-rush-{a}"), None, None, t.app.now()).await.unwrap();
            for k in 0..4 {
                let n = a * 4 + k;
                let first = format!("44030519800101{:03}", 100 + n);
                let id = format!("{first}{}", domain::identity::IdCardNo::check_char(&first).unwrap());
                let input = app::identity::AddPatientInput { name: format!("测试{}", ["甲", "乙", "丙", "丁"][k]), id_card_no: id, mobile: None, relationship: if k == 0 { "self".into() } else { "other".into() } };
                let p = t.app.add_patient(account, &input, "rush").await.unwrap();
                patients.push((account, p.id));
            }
        }
        let mut tasks = tokio::task::JoinSet::new();
        for &(account, pid) in &patients {
            for _ in 0..2 {
                let (app, slot) = (t.app.clone(), slot.clone());
                tasks.spawn(async move {
                    app.book(account, pid, "0110", &slot, &app::Actor::patient_account(account, "rush")).await.map_err(|e| (e.code, (account, pid)))
                });
            }
        }
        // Every tap gets a definite answer; "busy" (the last places are being taken by
        // other taps right now) is asked again, as the page does after Retry-After.
        let mut won = 0;
        while let Some(r) = tasks.join_next().await {
            match r.unwrap() {
                Ok(_) => won += 1,
                Err((ErrorCode::SlotTaken | ErrorCode::SessionFull | ErrorCode::BookingDuplicate, _)) => {}
                Err((ErrorCode::HisBusy, (account, pid))) => {
                    let (app, slot) = (t.app.clone(), slot.clone());
                    tasks.spawn(async move {
                        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        app.book(account, pid, "0110", &slot, &app::Actor::patient_account(account, "rush")).await.map_err(|e| (e.code, (account, pid)))
                    });
                }
                Err((other, _)) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(won, capacity as usize, "exactly the slot's places were booked");
        assert_eq!(his_available(&t, &slot).await, 0);
        let ids: Vec<i64> = patients.iter().map(|p| p.1).collect();
        let live: Vec<_> = t.store.bookings_of(&ids, 1000).await.unwrap().into_iter().filter(|r| r.slot_id == slot && r.active_key.is_some()).collect();
        assert_eq!(live.len(), capacity as usize);
        let mut owners: Vec<i64> = live.iter().map(|r| r.patient_id).collect();
        owners.sort();
        owners.dedup();
        assert_eq!(owners.len(), live.len(), "nobody holds two places");
    }
}

on_both_backends! {
    async fn check_in_on_the_visit_day_gives_a_queue_number(backend) {
        let (t, clock) = spawn(backend).await;
        let (zhang, ids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let (_, slot, _) = free_slot(&t, "0109", 1).await;
        let b: Value = book(&t, &zhang, "c-1", ids[0], "0109", &slot).await.json().await.unwrap();
        pay_self(&t, b["order_no"].as_str().unwrap()).await;
        let no = b["booking_no"].as_str().unwrap().to_owned();
        let check_in = || {
            let (url, cookie) = (t.url(&format!("/api/v1/me/registrations/{no}/check-in")), zhang.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).send().await.unwrap() }
        };
        let early = check_in().await;
        assert_eq!(early.status(), 409);
        assert_eq!(early.json::<Value>().await.unwrap()["code"], "CHECK_IN_NOT_OPEN");
        let b = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await;
        assert_eq!(b["can_check_in"], false);
        // Half an hour before the slot, at the hospital.
        let start = domain::clock::local_to_utc(
            chrono::NaiveDate::parse_from_str(b["visit_date"].as_str().unwrap(), "%Y-%m-%d").unwrap().and_time(chrono::NaiveTime::parse_from_str(b["start_time"].as_str().unwrap(), "%H:%M").unwrap()),
        );
        clock.set(start - Duration::minutes(30));
        // Hours passed: the session went idle; sign in again.
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let check_in = || {
            let (url, cookie) = (t.url(&format!("/api/v1/me/registrations/{no}/check-in")), zhang.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).send().await.unwrap() }
        };
        assert_eq!(get_json(&t, &zhang, &format!("/api/v1/me/registrations/{no}")).await["can_check_in"], true);
        let r = check_in().await;
        assert_eq!(r.status(), 200);
        let b: Value = r.json().await.unwrap();
        assert_eq!(state(&b), "checked_in");
        let n = b["queue_no"].as_u64().unwrap();
        assert!(n >= 1 && b["ahead"].as_u64().unwrap() < n, "{b}");
        // A second tap shows the same number; a checked-in visit cannot be cancelled online.
        assert_eq!(check_in().await.json::<Value>().await.unwrap()["queue_no"].as_u64(), Some(n));
        let page = TestApp::http().get(t.url(&format!("/registrations/{no}"))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("排队号") && page.contains("前面还有"), "the page shows the queue");
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{no}/cancel"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "BOOKING_NOT_CANCELLABLE");
        assert_eq!(t.store.audit_count(Some("booking.check_in")).await.unwrap(), 1);
    }
}

on_both_backends! {
    async fn staff_change_a_session_and_every_booked_patient_hears(backend) {
        let (t, clock) = spawn(backend).await;
        let (zhang, zids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let (lina, lids) = account(&t, "oDemo_lina_0002", &["李娜"]).await;
        let (sched, slot, _) = free_slot(&t, "0112", 2).await;
        let paid: Value = book(&t, &zhang, "s-1", zids[0], "0112", &slot).await.json().await.unwrap();
        pay_self(&t, paid["order_no"].as_str().unwrap()).await;
        let unpaid: Value = book(&t, &lina, "s-2", lids[0], "0112", &slot).await.json().await.unwrap();
        let date = paid["visit_date"].as_str().unwrap().to_owned();
        let list = format!("/staff/outpatient/sessions?dept=0112&date={date}");
        // Only the outpatient office (and admins) may change sessions.
        let nurse = t.staff_sign_in("nurse01").await;
        assert_eq!(TestApp::http().get(t.url(&list)).header("cookie", &nurse).send().await.unwrap().status(), 403);
        let office = t.staff_sign_in("outpatient01").await;
        let page = TestApp::http().get(t.url(&list)).header("cookie", &office).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&sched) && page.contains("已预约 2 人（已支付 1 人）"), "{page}");
        let post = |form: Vec<(&'static str, String)>| {
            let (url, cookie) = (t.url(&format!("/staff/outpatient/sessions/{sched}/change")), office.clone());
            async move { location(TestApp::http().post(url).header("cookie", cookie).form(&form).send().await.unwrap().headers()) }
        };
        let base = |kind: &str, reason: &str| {
            vec![("dept", "0112".to_owned()), ("date", date.clone()), ("kind", kind.to_owned()), ("reason", reason.to_owned()), ("confirmed", "1".to_owned())]
        };
        assert!(post(base("suspend", " ")).await.ends_with("error=VALIDATION_FAILED"), "a reason is required");
        // 替诊: another doctor of the department.
        let v = t.app.department_view("0112").await.unwrap();
        let current = v.schedules.iter().find(|s| s.schedule_id == sched).unwrap().doctor_code.clone();
        let other = v.doctors.iter().find(|d| d.doctor_code != current).unwrap().clone();
        let mut f = base("substitute", "原医生外出会诊");
        f.push(("doctor_code", other.doctor_code.clone()));
        // Asked first: the page names the session, the substitute and the patients it reaches.
        let unconfirmed: Vec<_> = f.iter().filter(|(k, _)| *k != "confirmed").cloned().collect();
        let ask = TestApp::http().post(t.url(&format!("/staff/outpatient/sessions/{sched}/change"))).header("cookie", &office).form(&unconfirmed).send().await.unwrap();
        assert_eq!(ask.status(), 200);
        let page = ask.text().await.unwrap();
        assert!(page.contains("确认替诊") && page.contains(&other.name) && page.contains("已预约 2 人（已支付 1 人）"), "{page}");
        let still = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{}", paid["booking_no"].as_str().unwrap())).await;
        assert_ne!(still["doctor_name"], other.name.as_str(), "nothing changed before the confirmation");
        assert!(post(f).await.ends_with("done=2"));
        let b = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{}", paid["booking_no"].as_str().unwrap())).await;
        assert_eq!(b["doctor_name"], other.name.as_str());
        // 改诊: an hour later, another room.
        let mut f = base("reschedule", "诊室检修");
        f.push(("shift_minutes", "60".into()));
        f.push(("location", "门诊楼3层C区".into()));
        assert!(post(f).await.ends_with("done=2"));
        let after = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{}", paid["booking_no"].as_str().unwrap())).await;
        assert_eq!(after["location"], "门诊楼3层C区");
        assert_ne!(after["start_time"], paid["start_time"]);
        // 停诊: told twice over (the form sent twice) is still told once.
        assert!(post(base("suspend", "医生临时手术")).await.ends_with("done=2"));
        let events = t.store.events_of(zids[0]).await.unwrap();
        for kind in ["session.substituted", "session.rescheduled", "session.suspended"] {
            let e = events.iter().filter(|e| e.kind == kind).collect::<Vec<_>>();
            assert_eq!(e.len(), 1, "{kind}");
            let p: Value = serde_json::from_str(&e[0].payload).unwrap();
            assert!(!p["change"]["reason"].as_str().unwrap().is_empty() && !p["before"].is_null() && !p["link"].is_null(), "{p}");
        }
        // The unpaid booking was released and its order closed.
        let l = get_json(&t, &lina, &format!("/api/v1/me/registrations/{}", unpaid["booking_no"].as_str().unwrap())).await;
        assert_eq!(state(&l), "released");
        assert_eq!(t.store.order(unpaid["order_no"].as_str().unwrap()).await.unwrap().0.state, domain::billing::OrderState::Closed);
        // The paid one is refunded in one tap, even ten minutes before the (moved) slot, and
        // may rebook.
        let start = domain::clock::local_to_utc(
            chrono::NaiveDate::parse_from_str(&date, "%Y-%m-%d").unwrap().and_time(chrono::NaiveTime::parse_from_str(after["start_time"].as_str().unwrap(), "%H:%M").unwrap()),
        );
        clock.set(start - Duration::minutes(10));
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let b = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{}", paid["booking_no"].as_str().unwrap())).await;
        assert_eq!(b["can_check_in"], false, "no check-in for a suspended session");
        let page = TestApp::http().get(t.url(&format!("/registrations/{}", paid["booking_no"].as_str().unwrap()))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("停诊通知") && page.contains("医生临时手术") && page.contains("改约其他时段或医生"), "{page}");
        assert_eq!(b["cancellable"], true);
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{}/cancel", paid["booking_no"].as_str().unwrap()))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(state(&r.json::<Value>().await.unwrap()), "cancelled");
        t.drain_jobs().await;
        assert_eq!(t.store.order(paid["order_no"].as_str().unwrap()).await.unwrap().0.state, domain::billing::OrderState::Refunded);
        assert!(t.store.audit_count(Some("session.change")).await.unwrap() >= 3);
    }
}

/// 张伟's paid booking in 0112 whose session the office then suspends:
/// (his cookie, the suspended session, the booking as booked, its number, its order, his account).
struct Suspended {
    zhang: String,
    sched: String,
    paid: Value,
    old_no: String,
    order_no: String,
    account: i64,
}

async fn paid_then_suspended(t: &TestApp, key: &str) -> Suspended {
    let (zhang, ids) = account(t, "oDemo_zhangwei_0001", &["张伟"]).await;
    let (sched, slot, _) = free_slot(t, "0112", 1).await;
    let paid: Value = book(t, &zhang, key, ids[0], "0112", &slot).await.json().await.unwrap();
    let (old_no, order_no) = (paid["booking_no"].as_str().unwrap().to_owned(), paid["order_no"].as_str().unwrap().to_owned());
    pay_self(t, &order_no).await;
    suspend(t, "0112", &sched, paid["visit_date"].as_str().unwrap()).await;
    let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
    Suspended { zhang, sched, paid, old_no, order_no, account }
}

/// 停诊 of `sched` by the outpatient office, confirmed.
async fn suspend(t: &TestApp, dept: &str, sched: &str, date: &str) {
    let office = t.staff_sign_in("outpatient01").await;
    let form = [("dept", dept), ("date", date), ("kind", "suspend"), ("reason", "医生临时手术"), ("confirmed", "1")];
    let r = TestApp::http().post(t.url(&format!("/staff/outpatient/sessions/{sched}/change"))).header("cookie", &office).form(&form).send().await.unwrap();
    assert!(location(r.headers()).contains("done="), "{:?}", r.headers());
}

async fn page(t: &TestApp, cookie: &str, path: &str) -> String {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap().text().await.unwrap()
}

on_both_backends! {
    async fn a_suspended_booking_says_so_and_is_rebooked_with_its_payment(backend) {
        let (t, _) = spawn(backend).await;
        let Suspended { zhang, sched, paid, old_no, order_no, account } = paid_then_suspended(&t, "r-1").await;
        // The list and the page say 停诊, not 预约成功; no visit number, no 签到 instructions.
        let list = page(&t, &zhang, "/registrations").await;
        let row = list.split(&format!("data-booking=\"{old_no}\"")).nth(1).unwrap().split("</li>").next().unwrap();
        assert!(row.contains("已停诊") && !row.contains("预约成功") && !row.contains("就诊序号") && row.contains("可改约或退号"), "{row}");
        let detail = page(&t, &zhang, &format!("/registrations/{old_no}")).await;
        assert!(detail.contains("已停诊") && !detail.contains("预约成功") && !detail.contains("签到") && !detail.contains("id=\"see-no\""), "{detail}");
        assert!(detail.contains(&format!("href=\"/registrations/{old_no}/rebook\"")), "{detail}");
        // 改约 offers other sessions of the department, the same doctor's first.
        let options = t.app.rebook_options(account, &old_no).await.unwrap();
        assert!(!options.sessions.is_empty() && options.sessions.iter().all(|s| s.schedule_id != sched));
        let firsts: Vec<bool> = options.sessions.iter().map(|s| s.same_doctor).collect();
        assert!(firsts.windows(2).all(|w| w[0] >= w[1]), "the same doctor first: {firsts:?}");
        let carry = options.sessions.iter().find(|s| s.carries_payment).expect("a session with the same fee");
        let new_slot = carry.slots[0].0.clone();
        let rebook_page = page(&t, &zhang, &format!("/registrations/{old_no}/rebook")).await;
        assert!(rebook_page.contains(&new_slot) && rebook_page.contains("无需重新支付"), "{rebook_page}");
        // Asked first: the confirmation names both visits and says the fee moves along.
        let post = |confirmed: bool| {
            let mut form = vec![("slot_id", new_slot.clone())];
            if confirmed {
                form.push(("confirmed", "1".into()));
            }
            let (url, cookie) = (t.url(&format!("/registrations/{old_no}/rebook")), zhang.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).form(&form).send().await.unwrap() }
        };
        let ask = post(false).await;
        assert_eq!(ask.status(), 200);
        let ask = ask.text().await.unwrap();
        assert!(ask.contains("确认改约") && ask.contains("原预约") && ask.contains("改约至") && ask.contains("转入新预约"), "{ask}");
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{old_no}")).await), "confirmed", "nothing moved before the confirmation");
        let done = post(true).await;
        let to = location(done.headers());
        let new_no = to.strip_prefix("/registrations/").and_then(|r| r.strip_suffix("?rebooked=1")).unwrap_or_else(|| panic!("{to}")).to_owned();
        t.drain_jobs().await;
        let new = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{new_no}")).await;
        assert_eq!(state(&new), "confirmed", "{new}");
        assert!(new["see_no"].as_i64().is_some() && new["order_no"] == order_no.as_str(), "the old payment pays the new place: {new}");
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{old_no}")).await), "cancelled");
        // No money moved: the order is still paid (fulfilled), nothing refunded.
        let (order, _) = t.store.order(&order_no).await.unwrap();
        assert_eq!(order.refundable(domain::billing::Channel::SelfPay).0, paid["fee"].as_i64().unwrap(), "nothing refunded");
        assert!(page(&t, &zhang, &format!("/registrations/{new_no}?rebooked=1")).await.contains("改约成功"));
        let old_page = page(&t, &zhang, &format!("/registrations/{old_no}")).await;
        assert!(old_page.contains("已改约") && old_page.contains(&format!("href=\"/registrations/{new_no}\"")), "{old_page}");
        // The HIS was told: the old registration is cancelled there, the new one confirmed.
        let his = his_call(&t, "trade_check", json!({"date": domain::clock::to_local(t.app.now()).date_naive().to_string()})).await;
        let kinds: Vec<&str> = his["data"].as_array().unwrap().iter().map(|x| x["tradeType"].as_str().unwrap()).collect();
        assert_eq!(kinds.iter().filter(|k| **k == "register_refund").count(), 1, "{his}");
        assert!(t.store.dead_jobs(10).await.unwrap().is_empty());
        // A second confirmation changes nothing (the old booking is no longer rebookable).
        let again = location(post(true).await.headers());
        assert!(again.contains("error=BOOKING_NOT_CANCELLABLE"), "{again}");
        // 退号 of the new booking refunds the original payment, whole.
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{new_no}/cancel"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(state(&r.json::<Value>().await.unwrap()), "cancelled");
        t.drain_jobs().await;
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Refunded);
    }
}

on_both_backends! {
    async fn a_rebook_whose_his_answer_is_lost_is_finished_by_its_job(backend) {
        let (t, clock) = spawn(backend).await;
        let Suspended { zhang, old_no, order_no, account, .. } = paid_then_suspended(&t, "j-1").await;
        let options = t.app.rebook_options(account, &old_no).await.unwrap();
        let new_slot = options.sessions.iter().find(|s| s.carries_payment).unwrap().slots[0].0.clone();
        // The HIS confirms the new place, but its answers are lost (and the retry's too).
        t.set_his_faults(json!({"latency_ms": 0, "lose_response_next": ["reg_confirm", "reg_confirm"]})).await;
        let r = TestApp::http()
            .post(t.url(&format!("/registrations/{old_no}/rebook")))
            .header("cookie", &zhang)
            .form(&[("slot_id", new_slot.as_str()), ("confirmed", "1")])
            .send()
            .await
            .unwrap();
        let to = location(r.headers());
        let new_no = to.strip_prefix("/registrations/").and_then(|r| r.strip_suffix("?rebooked=1")).unwrap_or_else(|| panic!("{to}")).to_owned();
        let new = get_json(&t, &zhang, &format!("/api/v1/me/registrations/{new_no}")).await;
        assert_eq!(state(&new), "locked", "under way: {new}");
        let p = page(&t, &zhang, &to).await;
        assert!(p.contains("改约处理中") && p.contains("正在与医院系统确认") && !p.contains("去支付"), "nothing to pay while it settles: {p}");
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{old_no}")).await), "confirmed", "the old place stands meanwhile");
        // The job asks again (the HIS confirmation is idempotent on the lock) and finishes the move.
        t.set_his_faults(json!({})).await;
        clock.advance(Duration::seconds(31));
        t.drain_jobs().await;
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{new_no}")).await), "confirmed");
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{old_no}")).await), "cancelled");
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Fulfilled, "no refund, no second payment");
        assert!(t.store.dead_jobs(10).await.unwrap().is_empty());
    }
}

on_both_backends! {
    async fn a_rebook_at_another_fee_is_paid_anew_and_the_old_fee_goes_back(backend) {
        let (t, _) = spawn(backend).await;
        let Suspended { zhang, old_no, order_no, account, .. } = paid_then_suspended(&t, "f-1").await;
        let options = t.app.rebook_options(account, &old_no).await.unwrap();
        let other = options.sessions.iter().find(|s| !s.carries_payment).expect("a doctor with another fee");
        let new_slot = other.slots[0].0.clone();
        let ask = TestApp::http().post(t.url(&format!("/registrations/{old_no}/rebook"))).header("cookie", &zhang).form(&[("slot_id", new_slot.as_str())]).send().await.unwrap();
        let ask = ask.text().await.unwrap();
        assert!(ask.contains("需重新支付") && ask.contains("全额退回") && ask.contains(&other.fee.to_string()), "{ask}");
        let r = TestApp::http()
            .post(t.url(&format!("/registrations/{old_no}/rebook")))
            .header("cookie", &zhang)
            .form(&[("slot_id", new_slot.as_str()), ("confirmed", "1")])
            .send()
            .await
            .unwrap();
        let to = location(r.headers());
        let new_order = to.strip_prefix("/pay/").unwrap_or_else(|| panic!("to the pay page: {to}")).to_owned();
        assert_ne!(new_order, order_no);
        t.drain_jobs().await;
        assert_eq!(state(&get_json(&t, &zhang, &format!("/api/v1/me/registrations/{old_no}")).await), "cancelled");
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Refunded, "the old fee goes back whole");
        assert_eq!(t.store.order(&new_order).await.unwrap().0.lines[0].amount, other.fee, "the new place costs its own fee");
    }
}

on_both_backends! {
    async fn the_office_edits_the_exception_table_and_the_rule_follows(backend) {
        let (t, _) = spawn(backend).await;
        let (wang, ids) = account(&t, "oDemo_wangfang_0003", &["王芳"]).await;
        let (_, slot, _) = free_slot(&t, "0107", 1).await;
        let b: Value = book(&t, &wang, "e-1", ids[0], "0107", &slot).await.json().await.unwrap();
        let order = b["order_no"].as_str().unwrap().to_owned();
        let methods = |t: &TestApp, cookie: String, order: String| {
            let url = t.url(&format!("/api/v1/me/orders/{order}"));
            async move { TestApp::http().get(url).header("cookie", cookie).send().await.unwrap().json::<Value>().await.unwrap()["methods"].clone() }
        };
        assert_eq!(methods(&t, wang.clone(), order.clone()).await, json!(["self_pay"]), "tier 2 without referral in 妇科");
        let office = t.staff_sign_in("outpatient01").await;
        let add = TestApp::http()
            .post(t.url("/staff/outpatient/insurance-rules"))
            .header("cookie", &office)
            .form(&[("dept_id", "0107"), ("kinds", "tier2"), ("kinds", "tier3"), ("label", "妇科直接就诊")])
            .send()
            .await
            .unwrap();
        assert!(location(add.headers()).ends_with("done=1"));
        assert_eq!(methods(&t, wang.clone(), order.clone()).await, json!(["insurance", "self_pay"]), "the row applies at once");
        let page = TestApp::http().get(t.url("/staff/outpatient/insurance-rules")).header("cookie", &office).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("妇科直接就诊") && page.contains("医保二档、医保三档"), "{page}");
        // Turned off again: back to the referral rule.
        let id = t.store.insurance_rule_rows().await.unwrap().into_iter().find(|r| r.dept_id == "0107").unwrap().id;
        TestApp::http().post(t.url(&format!("/staff/outpatient/insurance-rules/{id}"))).header("cookie", &office).form(&[("enabled", "0")]).send().await.unwrap();
        assert_eq!(methods(&t, wang.clone(), order.clone()).await, json!(["self_pay"]));
        assert_eq!(t.store.audit_count(Some("insurance.rule_toggle")).await.unwrap(), 1);
    }
}

on_both_backends! {
    /// Admission control (issue 7): a slot some of whose places the HIS has given
    /// elsewhere (the window) is sold out by our own count once we have taken the rest —
    /// the next tap is told at once and the HIS is not asked; the session's live view
    /// and the booking page say so too.
    async fn a_slot_sold_out_by_our_count_is_answered_without_the_his(backend) {
        let (t, _) = spawn(backend).await;
        // The window sells one place of a 3-place slot (黄强, through the HIS itself).
        let (sched, slot, _) = free_slot(&t, "0101", 3).await;
        let dept = "0101".to_owned();
        let huang = his_call(&t, "patient_query", json!({"idCardNo": "44030719751202217X"})).await;
        let pid = huang["data"]["patientId"].as_str().expect("黄强 is known to the HIS").to_owned();
        let window = his_call(&t, "lock_reg", json!({"slotId": slot, "patientId": pid, "channelOrderNo": "WINDOW-1"})).await;
        assert_eq!(window["resultCode"], "0", "{window}");
        // Our catalogue learns of it at its next refresh.
        t.app.refresh_department("0101");
        let left = his_available(&t, &slot).await as u32;
        assert!((1..=2).contains(&left), "{left}");
        let (cookie, ids) = account(&t, "oDemo_lina_0002", &["李娜", "张伟"][..left as usize]).await;
        for (k, id) in ids.iter().enumerate() {
            assert_eq!(book(&t, &cookie, &format!("fill-{k}"), *id, &dept, &slot).await.status(), 201);
        }
        let (others, late) = account(&t, "oDemo_newcomer_0004", &["陈静"]).await;
        let calls = |v: Value| v["calls"].as_u64().unwrap();
        let his_load = || async { TestApp::http().get(format!("{}/__sim/his/load", t.his_url)).send().await.unwrap().json::<Value>().await.unwrap() };
        let before = calls(his_load().await);
        let r = book(&t, &others, "late", late[0], &dept, &slot).await;
        assert_eq!(r.status(), 409);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "SLOT_TAKEN");
        assert_eq!(calls(his_load().await), before, "the HIS was not asked");
        assert_eq!(his_available(&t, &slot).await, 0, "and it agrees: no place left");
        let live = get_json(&t, &others, &format!("/api/v1/departments/{dept}/schedules/{sched}")).await;
        let shown = live["slots"].as_array().unwrap().iter().find(|x| x["slot_id"] == slot.as_str()).unwrap()["available"].as_u64().unwrap();
        assert_eq!(shown, 0);
        let page = TestApp::http().get(t.url(&format!("/book/{dept}/{sched}"))).header("cookie", &others).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("已约满"), "the booking page marks it full");
    }
}

on_both_backends! {
    async fn sessions_and_slots_that_have_ended_are_offered_nowhere(backend) {
        // 19:36 local: today's morning and afternoon sessions are over.
        let (t, _) = TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 11, 36, 0).unwrap()).await;
        let (zhang, ids) = account(&t, "oDemo_zhangwei_0001", &["张伟"]).await;
        let patient_id = ids[0];
        let v = t.app.department_view("0101").await.unwrap();
        let now = domain::clock::to_local(t.app.now()).naive_local();
        let over: Vec<_> = v.schedules.iter().filter(|s| s.is_over(now)).collect();
        let open: Vec<_> = v.schedules.iter().filter(|s| !s.is_over(now) && !s.suspended).collect();
        assert!(!over.is_empty() && !open.is_empty(), "the demo has today's ended sessions and later ones");
        // The department page links none of the ended sessions, and the API lists none.
        let page = TestApp::http().get(t.url("/departments/0101")).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        for s in &over {
            assert!(!page.contains(&format!("/book/0101/{}", s.schedule_id)), "{} is over but offered", s.schedule_id);
        }
        assert!(open.iter().take(3).any(|s| page.contains(&format!("/book/0101/{}", s.schedule_id))), "later sessions are offered");
        let listed = get_json(&t, &zhang, "/api/v1/departments/0101/schedules").await;
        let listed_ids: Vec<&str> = listed.as_array().unwrap().iter().map(|s| s["schedule_id"].as_str().unwrap()).collect();
        assert!(over.iter().all(|s| !listed_ids.contains(&s.schedule_id.as_str())), "{listed_ids:?}");
        // Opened by its address: no slot to choose and no submit button.
        let page = TestApp::http().get(t.url(&format!("/book/0101/{}", over[0].schedule_id))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("本时段已结束") && !page.contains("submit-booking"), "{page}");
        // And booking it anyway is refused as not bookable.
        let r = TestApp::http()
            .post(t.url("/api/v1/me/registrations"))
            .header("cookie", &zhang)
            .json(&json!({"patient_id": patient_id, "dept_id": "0101", "slot_id": over[0].slots[0].slot_id}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "SLOT_NOT_BOOKABLE");
    }
}
