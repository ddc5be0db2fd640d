//! Fairness of booking over HTTP on both backends (S15, level-5 item 1): a script that
//! posts bookings is throttled per account and needs the page's ticket (and a person's
//! moment of choice); no-shows lead to the blacklist, which staff can see and lift.
use chrono::{Duration, TimeZone, Utc};
use domain::FakeClock;
use serde_json::{Value, json};
use testkit::{TestApp, location, on_both_backends};

async fn spawn(backend: testkit::TestBackend) -> (TestApp, FakeClock) {
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()).await
}

async fn account(t: &TestApp, openid: &str, name: &str) -> (String, i64) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let id = t.add_demo_patient(&cookie, name, "self").await;
    (cookie, id)
}

/// The first future session of `dept` with a free slot: (schedule, slot, visit date).
async fn free_slot(t: &TestApp, dept: &str) -> (String, String, chrono::NaiveDate) {
    testkit::app::free_place(&t.app, dept, 2).await.expect("a free slot")
}

on_both_backends! {
    async fn scripted_booking_is_throttled_and_needs_a_person(backend) {
        let (t, clock) = spawn(backend).await;
        let (zhang, zid) = account(&t, "oDemo_zhangwei_0001", "张伟").await;
        // The API: ten attempts a minute per account, then 429.
        let mut codes = Vec::new();
        for i in 0..12 {
            let r = TestApp::http()
                .post(t.url("/api/v1/me/registrations"))
                .header("cookie", &zhang)
                .json(&json!({"patient_id": zid, "dept_id": "0101", "slot_id": format!("NOPE-{i}")}))
                .send()
                .await
                .unwrap();
            codes.push(r.json::<Value>().await.unwrap()["code"].as_str().unwrap().to_owned());
        }
        assert_eq!(codes.iter().filter(|c| *c == "SLOT_NOT_BOOKABLE").count(), 10, "{codes:?}");
        assert_eq!(&codes[10..], ["RATE_LIMITED", "RATE_LIMITED"]);
        // The page: a post without the page's ticket, or straight after the page was shown,
        // is refused; a person who took a moment books.
        let (lina, lid) = account(&t, "oDemo_lina_0002", "李娜").await;
        let (sched, slot, _) = free_slot(&t, "0101").await;
        let submit = |ticket: String| {
            let (url, cookie, sched, slot) = (t.url("/registrations"), lina.clone(), sched.clone(), slot.clone());
            async move {
                let form = [("dept_id", "0101".to_owned()), ("schedule_id", sched), ("slot_id", slot), ("patient_id", lid.to_string()), ("ticket", ticket)];
                location(TestApp::http().post(url).header("cookie", cookie).form(&form).send().await.unwrap().headers())
            }
        };
        assert!(submit(String::new()).await.ends_with("error=BOOKING_TICKET_INVALID"));
        let page = TestApp::http().get(t.url(&format!("/book/0101/{sched}"))).header("cookie", &lina).send().await.unwrap().text().await.unwrap();
        let at = page.find("name=\"ticket\" value=\"").unwrap() + "name=\"ticket\" value=\"".len();
        let ticket = page[at..].split('"').next().unwrap().to_owned();
        assert!(submit(ticket.clone()).await.ends_with("error=BOOKING_TICKET_INVALID"), "too fast for a person");
        assert!(submit(format!("{ticket}0")).await.ends_with("error=BOOKING_TICKET_INVALID"), "a forged ticket");
        clock.advance(Duration::seconds(3));
        let to = submit(ticket).await;
        assert!(to.starts_with("/pay/"), "{to}");
        assert!(t.store.live_booking(lid, &sched).await.unwrap().is_some());
    }
}

on_both_backends! {
    async fn no_shows_lead_to_the_blacklist_and_staff_can_lift_it(backend) {
        let (t, clock) = spawn(backend).await;
        let (zhang, zid) = account(&t, "oDemo_zhangwei_0001", "张伟").await;
        let mut days = std::collections::BTreeSet::new();
        for dept in ["0101", "0102", "0106"] {
            let (_, slot, day) = free_slot(&t, dept).await;
            let r = TestApp::http().post(t.url("/api/v1/me/registrations")).header("cookie", &zhang).json(&json!({"patient_id": zid, "dept_id": dept, "slot_id": slot})).send().await.unwrap();
            let b: Value = r.json().await.unwrap();
            let order_no = b["order_no"].as_str().unwrap().to_owned();
            let cashier = t.app.start_self_pay(&order_no).await.unwrap();
            TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
            t.app.resolve_payment(&order_no).await.unwrap();
            days.insert(day);
        }
        t.drain_jobs().await;
        // The visit days pass without him.
        let last = *days.iter().last().unwrap();
        clock.set(domain::clock::local_to_utc((last + Duration::days(1)).and_hms_opt(1, 0, 0).unwrap()));
        let mut marked = 0;
        let mut barred = 0;
        for d in &days {
            let (m, b) = t.app.mark_no_shows(*d).await.unwrap();
            marked += m;
            barred += b;
        }
        assert_eq!((marked, barred), (3, 1), "three no-shows bar him once");
        assert_eq!(t.app.mark_no_shows(last).await.unwrap(), (0, 0), "a second sweep changes nothing");
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let (_, slot, _) = free_slot(&t, "0110").await;
        let book = || {
            let (url, cookie, slot) = (t.url("/api/v1/me/registrations"), zhang.clone(), slot.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).json(&json!({"patient_id": zid, "dept_id": "0110", "slot_id": slot})).send().await.unwrap() }
        };
        let r = book().await;
        assert_eq!(r.status(), 403);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "BOOKING_BLACKLISTED");
        // The office sees it and lifts it, with a reason.
        let office = t.staff_sign_in("outpatient01").await;
        let page = TestApp::http().get(t.url("/staff/outpatient/blacklist")).header("cookie", &office).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("生效中") && page.contains("爽约 3 次"), "{page}");
        let at = page.find("/staff/outpatient/blacklist/").unwrap();
        let lift_path = page[at..].split('"').next().unwrap().to_owned();
        let r = TestApp::http().post(t.url(&lift_path)).header("cookie", &office).form(&[("reason", " ")]).send().await.unwrap();
        assert!(location(r.headers()).ends_with("error=VALIDATION_FAILED"));
        let r = TestApp::http().post(t.url(&lift_path)).header("cookie", &office).form(&[("reason", "患者说明因急病未能就诊")]).send().await.unwrap();
        assert!(location(r.headers()).ends_with("done=1"));
        assert_eq!(book().await.status(), 201, "booking again after the lift");
        assert_eq!(t.store.audit_count(Some("blacklist.lift")).await.unwrap(), 1);
        // A nurse cannot open the list.
        let nurse = t.staff_sign_in("nurse01").await;
        assert_eq!(TestApp::http().get(t.url("/staff/outpatient/blacklist")).header("cookie", &nurse).send().await.unwrap().status(), 403);
    }
}
