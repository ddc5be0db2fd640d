//! Triage check-in (刷脸报到, FACE-2) over HTTP, through the face engine's and the HIS's
//! simulators, on both backends: a nurse scans an enrolled patient booked today in the
//! desk's area, sees the booking, checks it in with a room through the HIS and prints the
//! ticket; the phone shows the queue and the room. The small group holds only the area's
//! enrolled patients of today; someone enrolled but booked elsewhere, someone not enrolled,
//! two look-alikes, a photo of a photo and the engine down each get their answer, and the
//! ID card works without the face. A withdrawn enrolment is found no more.
use chrono::{TimeZone, Utc};
use domain::face;
use serde_json::{Value, json};
use testkit::{TestApp, faces, location, on_both_backends};

fn id_number_of(t: &TestApp, name: &str) -> String {
    sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == name).unwrap().id_card_no
}

/// Signs `openid` in, adds `name` as 本人 and, when `enrol`, enrols the face; books and pays
/// today's first free place in `dept`. Returns (cookie, patient id, booking no).
async fn patient_booked_today(t: &TestApp, openid: &str, name: &str, dept: &str, enrol: bool) -> (String, i64, String) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let pid = t.add_demo_patient(&cookie, name, "self").await;
    if enrol {
        t.enrol_face(&cookie, pid, &id_number_of(t, name)).await;
    }
    let booking = t.book_and_pay_today(&cookie, pid, dept).await;
    (cookie, pid, booking)
}

async fn scan(t: &TestApp, nurse: &str, depts: &str, jpeg: Vec<u8>) -> (u16, Value) {
    let r = TestApp::http()
        .post(t.url(&format!("/staff/triage/scan?depts={depts}")))
        .header("cookie", nurse)
        .header("origin", &t.base)
        .header("content-type", "image/jpeg")
        .header("accept", "application/json")
        .body(jpeg)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn page(t: &TestApp, cookie: &str, path: &str) -> String {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap().text().await.unwrap()
}

async fn faults(t: &TestApp, f: Value) {
    assert_eq!(TestApp::http().post(format!("{}/__sim/face/faults", t.face_url)).json(&f).send().await.unwrap().status(), 204);
}

on_both_backends! {
    async fn a_nurse_checks_an_enrolled_patient_in_by_face_and_prints_the_ticket(backend) {
        // 08:30 local on a Tuesday: the morning's sessions are ahead.
        let (t, clock) = TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 12, 8, 0, 30, 0).unwrap()).await;
        let (zhang, zid, booking) = patient_booked_today(&t, "oDemo_zhangwei_0001", "张伟", "0101", true).await;
        let (_, _, _) = patient_booked_today(&t, "oDemo_lina_0002", "李娜", "0104", true).await;
        let nurse = t.staff_sign_in("nurse01").await;

        // 张伟 at the 0101 desk: found among today's enrolled patients of this area only.
        let (status, found) = scan(&t, &nurse, "0101", faces::live(&id_number_of(&t, "张伟"), 3)).await;
        assert_eq!((status, found["outcome"].as_str()), (200, Some("found")), "{found}");
        assert_eq!(found["bookings"][0]["booking_no"], booking.as_str());
        let group = face::area_day_group("cb", "0101", t.app.today());
        assert_eq!(t.face.lock().unwrap().users(&group).len(), 1, "the small group: the area's enrolled patients of today");
        let desk = page(&t, &nurse, found["next"].as_str().unwrap()).await;
        assert!(desk.contains(&format!("data-booking=\"{booking}\"")) && desk.contains("报到并打印小票"), "{desk}");

        // Check-in through the HIS with the nurse's room; the ticket prints.
        let r = TestApp::http()
            .post(t.url("/staff/triage/check-in"))
            .header("cookie", &nurse)
            .header("origin", &t.base)
            .form(&[("depts", "0101"), ("booking_no", booking.as_str()), ("room", "内科3诊室")])
            .send()
            .await
            .unwrap();
        let ticket_url = location(r.headers());
        assert!(ticket_url.starts_with(&format!("/staff/triage/tickets/{booking}")), "{ticket_url}");
        let ticket = page(&t, &nurse, &ticket_url).await;
        assert!(ticket.contains("内科3诊室") && ticket.contains("class=\"queue-no\"") && ticket.contains("data:image/svg+xml"), "{ticket}");
        assert!(ticket.contains("w58"), "58 mm by default");
        assert!(page(&t, &nurse, &format!("{ticket_url}&paper=80")).await.contains("w80"));
        // The phone follows the queue, with the room.
        let mine = page(&t, &zhang, &format!("/registrations/{booking}")).await;
        assert!(mine.contains("id=\"queue-no\"") && mine.contains("内科3诊室"), "{mine}");
        assert_eq!(t.store.audit_count(Some("face.scan")).await.unwrap(), 1);

        // 李娜 is enrolled but booked in 0104: nobody here. 王芳 is not enrolled at all.
        let (_, r) = scan(&t, &nurse, "0101", faces::live(&id_number_of(&t, "李娜"), 1)).await;
        assert_eq!(r["outcome"], "nobody", "{r}");
        assert!(r["next"].as_str().unwrap().contains("ask=other"));
        let (_, r) = scan(&t, &nurse, "0101", faces::live(&id_number_of(&t, "王芳"), 1)).await;
        assert_eq!(r["outcome"], "nobody");
        // At her own desk she is found.
        let (_, r) = scan(&t, &nurse, "0104", faces::live(&id_number_of(&t, "李娜"), 1)).await;
        assert_eq!(r["outcome"], "found", "{r}");

        // A photo of a photo is refused; two look-alikes ask for the ID card; the engine down
        // sends the desk to the other ways at once.
        let (status, r) = scan(&t, &nurse, "0101", faces::on_screen(&id_number_of(&t, "张伟"))).await;
        assert_eq!((status, r["code"].as_str()), (422, Some("FACE_LIVENESS_FAILED")), "{r}");
        faults(&t, json!({"close_second": true})).await;
        let (_, r) = scan(&t, &nurse, "0104,0101", faces::live(&id_number_of(&t, "张伟"), 2)).await;
        assert_eq!(r["outcome"], "ambiguous", "{r}");
        assert!(r["next"].as_str().unwrap().contains("ask=id"));
        faults(&t, json!({"down": true})).await;
        let (_, r) = scan(&t, &nurse, "0101", faces::live(&id_number_of(&t, "张伟"), 2)).await;
        assert_eq!(r["outcome"], "engine_unavailable", "{r}");
        let asked = page(&t, &nurse, r["next"].as_str().unwrap()).await;
        assert!(asked.contains("刷脸服务暂不可用") && asked.contains("按身份证查找"), "{asked}");
        // The ID card, without the engine.
        let r = TestApp::http()
            .post(t.url("/staff/triage/find"))
            .header("cookie", &nurse)
            .header("origin", &t.base)
            .form(&[("depts", "0101"), ("id_number", id_number_of(&t, "张伟").as_str())])
            .send()
            .await
            .unwrap();
        assert!(location(r.headers()).contains(&format!("found={booking}")), "{}", location(r.headers()));
        faults(&t, json!({})).await;

        // 张伟 closes the face services: the desk finds him no more.
        let r = TestApp::http().post(t.url(&format!("/face/{zid}/close"))).header("cookie", &zhang).form(&[("confirmed", "1")]).send().await.unwrap();
        assert_eq!(r.status(), 303);
        t.drain_jobs().await;
        assert!(t.face.lock().unwrap().users(&group).is_empty(), "deleted from the day group too");
        let (_, r) = scan(&t, &nurse, "0101", faces::live(&id_number_of(&t, "张伟"), 4)).await;
        assert_eq!(r["outcome"], "nobody", "{r}");

        // The night after, the day groups are emptied; the enrolment stays.
        let her_group = face::area_day_group("cb", "0104", t.app.today());
        assert_eq!(t.face.lock().unwrap().users(&her_group).len(), 1);
        clock.advance(chrono::Duration::days(1));
        t.drain_jobs().await;
        assert!(t.face.lock().unwrap().users(&her_group).is_empty(), "yesterday's group is empty");
        assert!(t.face.lock().unwrap().users(&face::area_day_group("cb", "0101_0104", t.app.today() - chrono::Duration::days(1))).is_empty());
        assert_eq!(t.face.lock().unwrap().users(&face::enrolment_group("cb")).len(), 1, "李娜 is still enrolled");
        assert_eq!(t.store.audit_count(Some("face.purge_day_groups")).await.unwrap(), 1);
    }
}
