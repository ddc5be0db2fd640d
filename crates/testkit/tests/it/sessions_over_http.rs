//! Sign-ins over HTTP with the configured limits, on both backends (issue 20 item 9; S2,
//! S6): a patient's session dies after `sessions.patient_idle_minutes` without a request
//! and `patient_absolute_hours` after sign-in however active, a staff session after its
//! own idle limit, a logged-out cookie at once. A 退号 that refunds after the money window
//! and a report's file after the reading window ask for a fresh sign-in, and nothing
//! happens until it is given.
use chrono::{Duration, TimeZone, Utc};
use domain::FakeClock;
use domain::billing::OrderState;
use serde_json::{Value, json};
use testkit::{TestApp, location, on_both_backends};

const ZHANG: &str = "oDemo_zhangwei_0001";

async fn spawn(backend: testkit::TestBackend) -> (TestApp, FakeClock) {
    let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap());
    let t = TestApp::spawn_opts(backend, std::sync::Arc::new(clock.clone()), false, |s| {
        // Not the defaults, so the test proves the settings are what is enforced.
        s.sessions.patient_idle_minutes = 20;
        s.sessions.patient_absolute_hours = 2;
        s.sessions.staff_idle_minutes = 12;
        s.sessions.patient_fresh_auth_minutes = 5;
        s.sessions.patient_fresh_read_minutes = 15;
    })
    .await;
    (t, clock)
}

async fn status(t: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let r = TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap();
    let s = r.status().as_u16();
    let to = if s == 303 { location(r.headers()) } else { r.json::<Value>().await.map(|v| v["code"].as_str().unwrap_or("").to_owned()).unwrap_or_default() };
    (s, to)
}

on_both_backends! {
    async fn sessions_end_at_the_configured_idle_and_absolute_limits_and_at_logout(backend) {
        let (t, clock) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in(ZHANG).await;
        let me = "/api/v1/me/patients";
        assert_eq!(status(&t, &cookie, me).await.0, 200);
        // Idle: 19 minutes between requests keeps it; each request moves the window.
        for _ in 0..3 {
            clock.advance(Duration::minutes(19));
            assert_eq!(status(&t, &cookie, me).await.0, 200, "active within the idle limit");
        }
        clock.advance(Duration::minutes(21));
        assert_eq!(status(&t, &cookie, me).await, (401, "SESSION_EXPIRED".to_owned()), "idle past 20 minutes");
        let (s, to) = status(&t, &cookie, "/registrations").await;
        assert_eq!((s, to.as_str()), (303, "/wx/login?next=%2Fregistrations"), "a page signs in again and comes back");
        assert_eq!(status(&t, &cookie, me).await.0, 401, "an expired session does not come back");

        // Absolute: active every 15 minutes, it still ends two hours after sign-in.
        let (_, cookie) = t.wechat_sign_in(ZHANG).await;
        for _ in 0..7 {
            clock.advance(Duration::minutes(15));
            assert_eq!(status(&t, &cookie, me).await.0, 200);
        }
        clock.advance(Duration::minutes(14));
        assert_eq!(status(&t, &cookie, me).await.0, 200, "1 h 59 min after sign-in");
        clock.advance(Duration::minutes(2));
        assert_eq!(status(&t, &cookie, me).await, (401, "SESSION_EXPIRED".to_owned()), "2 h 01 min after sign-in, however active");

        // Logout kills the session on the server: the old cookie replayed is refused.
        let (_, cookie) = t.wechat_sign_in(ZHANG).await;
        let r = TestApp::http().post(t.url("/logout")).header("cookie", &cookie).send().await.unwrap();
        assert!(r.status().is_redirection());
        assert_eq!(status(&t, &cookie, me).await.0, 401, "logged out");

        // Staff: their own idle limit (12 minutes).
        let staff = t.staff_sign_in("finance01").await;
        let page = |c: String| {
            let url = t.url("/staff");
            async move { TestApp::http().get(url).header("cookie", c).send().await.unwrap() }
        };
        clock.advance(Duration::minutes(11));
        assert_eq!(page(staff.clone()).await.status(), 200);
        clock.advance(Duration::minutes(13));
        let r = page(staff.clone()).await;
        assert_eq!(r.status(), 303);
        assert!(location(r.headers()).starts_with("/staff/login"), "idle staff sign in again");
    }
}

async fn book_and_pay(t: &TestApp, cookie: &str, patient: i64) -> (String, String) {
    let slot = t.free_slot("0101", 3).await;
    let r = TestApp::http()
        .post(t.url("/api/v1/me/registrations"))
        .header("cookie", cookie)
        .json(&json!({"patient_id": patient, "dept_id": "0101", "slot_id": slot}))
        .send()
        .await
        .unwrap();
    let b: Value = r.json().await.unwrap();
    let (no, order) = (b["booking_no"].as_str().unwrap().to_owned(), b["order_no"].as_str().unwrap().to_owned());
    let cashier = t.app.start_self_pay(&order).await.unwrap();
    TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
    t.app.resolve_payment(&order).await.unwrap();
    t.drain_jobs().await;
    assert_eq!(t.store.order(&order).await.unwrap().0.state, OrderState::Fulfilled);
    (no, order)
}

on_both_backends! {
    async fn a_refunding_cancel_and_a_report_file_ask_for_a_fresh_sign_in(backend) {
        let (t, clock) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in(ZHANG).await;
        let pid = t.add_demo_patient(&cookie, "张伟", "self").await;
        let (no, order) = book_and_pay(&t, &cookie, pid).await;

        // Six minutes on (the session alive, the sign-in past the five-minute money window).
        clock.advance(Duration::minutes(6));
        let api = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{no}/cancel"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(api.status(), 401);
        assert_eq!(api.json::<Value>().await.unwrap()["code"], "REAUTH_REQUIRED");
        let page = TestApp::http().post(t.url(&format!("/registrations/{no}/cancel"))).header("cookie", &cookie).form(&[("confirmed", "1")]).send().await.unwrap();
        assert_eq!(page.status(), 303);
        assert_eq!(location(page.headers()), format!("/wx/login?next=%2Fregistrations%2F{no}"), "back to the booking after signing in");
        t.drain_jobs().await;
        assert_eq!(t.store.order(&order).await.unwrap().0.state, OrderState::Fulfilled, "nothing refunded on a stale sign-in");
        let b: Value = TestApp::http().get(t.url(&format!("/api/v1/me/registrations/{no}"))).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
        assert_eq!(b["state"], "confirmed", "still booked");
        // Signed in again: the 退号 goes through and refunds.
        let (_, fresh) = t.wechat_sign_in(ZHANG).await;
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{no}/cancel"))).header("cookie", &fresh).send().await.unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
        t.drain_jobs().await;
        assert_eq!(t.store.order(&order).await.unwrap().0.state, OrderState::Refunded);

        // A released report with the LIS's PDF.
        let his = t.store.patient_by_id(pid).await.unwrap().unwrap().his_patient_id;
        let r = TestApp::http().post(format!("{}/__sim/lis/orders", t.his_url)).json(&json!({"patient_id": his, "item_code": "250101001"})).send().await.unwrap();
        let lab = r.json::<Value>().await.unwrap()["orderNo"].as_str().unwrap().to_owned();
        let events = async |n: usize| {
            for _ in 0..200 {
                if t.store.recent_lab_events(1000).await.unwrap().len() >= n { break; }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            t.drain_jobs().await;
        };
        let before = t.store.recent_lab_events(1000).await.unwrap().len();
        events(before + 1).await;
        for (i, action) in ["sample", "report"].into_iter().enumerate() {
            clock.advance(Duration::minutes(20));
            let r = TestApp::http().post(format!("{}/__sim/lis/orders/{lab}/{action}?files=pdf", t.his_url)).send().await.unwrap();
            assert_eq!(r.status(), 200, "{action}: {}", r.text().await.unwrap());
            events(before + 2 + i).await;
        }
        let doctor = t.staff_sign_in("doctor01").await;
        let r = TestApp::http().post(t.url(&format!("/staff/lab/{lab}/release"))).header("cookie", &doctor).form(&[("confirmed", "1")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        t.drain_jobs().await;
        let (_, fresh) = t.wechat_sign_in(ZHANG).await;
        let report: Value = TestApp::http().get(t.url(&format!("/api/v1/me/reports/{lab}"))).header("cookie", &fresh).send().await.unwrap().json().await.unwrap();
        let file = report["files"][0]["download_url"].as_str().expect("a file").to_owned();
        let get = |c: &str| {
            let (url, c) = (t.url(&file), c.to_owned());
            async move { TestApp::http().get(url).header("cookie", c).send().await.unwrap() }
        };
        assert_eq!(get(&fresh).await.status(), 200, "within the reading window");
        // Sixteen minutes of reading other pages later (never idle), the file asks again.
        for _ in 0..2 {
            clock.advance(Duration::minutes(8));
            assert_eq!(status(&t, &fresh, "/api/v1/me/reports").await.0, 200);
        }
        let stale = get(&fresh).await;
        assert_eq!(stale.status(), 303);
        assert_eq!(location(stale.headers()), format!("/wx/login?next={}", domain::format::url_encode(&file)), "signs in again and comes back to the file");
        let page = status(&t, &fresh, &format!("/reports/{lab}")).await;
        assert_eq!(page.0, 303, "the report page too");
        let audited = t.store.audit_by_actor(&format!("patient_account:{}", t.store.wechat_account_id(ZHANG).await.unwrap().unwrap()), t.app.now() - Duration::days(1), t.app.now() + Duration::days(1)).await.unwrap();
        let downloads = audited.iter().filter(|a| a.action == "report.download").count();
        assert_eq!(downloads, 1, "the refused download read nothing: {:?}", audited.iter().map(|a| &a.action).collect::<Vec<_>>());
        let (_, again) = t.wechat_sign_in(ZHANG).await;
        assert_eq!(get(&again).await.status(), 200, "a fresh sign-in opens it");
    }
}

on_both_backends! {
    async fn a_record_copy_and_a_card_binding_ask_for_a_fresh_sign_in(backend) {
        let (t, clock) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in(ZHANG).await;
        let pid = t.add_demo_patient(&cookie, "张伟", "self").await;
        let form = |path: &str, c: &str, fields: Vec<(&'static str, String)>| {
            let (url, c, base) = (t.url(path), c.to_owned(), t.base.clone());
            async move { TestApp::http().post(url).header("cookie", c).header("origin", base).form(&fields).send().await.unwrap() }
        };

        // A record-copy application (病历复印): its page is health data, read within the window.
        let started = form("/records", &cookie, vec![("patient_id", pid.to_string())]).await;
        let no = location(started.headers()).strip_prefix("/records/").and_then(|s| s.strip_suffix("/step/relation")).expect("a new application").to_owned();
        let page = format!("/records/{no}");
        assert_eq!(status(&t, &cookie, &page).await.0, 200);
        // Sixteen minutes of reading other pages (never idle): the application asks again.
        for _ in 0..2 {
            clock.advance(Duration::minutes(8));
            assert_eq!(status(&t, &cookie, "/api/v1/me/reports").await.0, 200);
        }
        assert_eq!(status(&t, &cookie, &page).await, (303, format!("/wx/login?next={}", domain::format::url_encode(&page))));

        // Binding a plastic card changes where the money on the card goes: past the
        // five-minute window it asks for a sign-in and binds nothing.
        let his = t.store.patient_by_id(pid).await.unwrap().unwrap().his_patient_id;
        let own = sim::demo::physical_card_no(&his);
        let stale = form("/card/bind", &cookie, vec![("patient_id", pid.to_string()), ("card_no", own.clone())]).await;
        assert_eq!(stale.status(), 303);
        assert!(location(stale.headers()).starts_with("/wx/login?next="), "{}", location(stale.headers()));
        let card = |c: String| {
            let (url, c) = (t.url(&format!("/card?patient={pid}")), c);
            async move { TestApp::http().get(url).header("cookie", c).send().await.unwrap().text().await.unwrap() }
        };
        let (_, fresh) = t.wechat_sign_in(ZHANG).await;
        assert!(!card(fresh.clone()).await.contains("已绑定实体卡"), "nothing bound on a stale sign-in");
        // Signed in again: the record page opens and the card binds.
        assert_eq!(status(&t, &fresh, &page).await.0, 200);
        let bound = form("/card/bind", &fresh, vec![("patient_id", pid.to_string()), ("card_no", own.clone())]).await;
        assert_eq!(location(bound.headers()), format!("/card?patient={pid}"));
        assert!(card(fresh).await.contains(&format!("id=\"card-no\">{own}")));
    }
}
