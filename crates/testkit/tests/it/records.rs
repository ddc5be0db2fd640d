//! Record copies (病历复印, REC-1…REC-5) end to end over HTTP, on both backends: the guided
//! draft, live photos that only a capture token lets in (masked for everyone but the
//! clerk), paying the estimate, the records office returning it once (only the named photos
//! are retaken), approving, counting the pages (多退少补: an extra charge paid, a refund
//! sent), pickup by code or the courier with its route pushed to the patient.
use domain::records::ApplicationState;
use image::Rgb;
use testkit::{TestApp, on_both_backends};

async fn spawn(backend: testkit::TestBackend) -> TestApp {
    TestApp::spawn_opts(backend, std::sync::Arc::new(domain::SystemClock), false, |_| {}).await
}

async fn get(t: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap()
}

async fn post(t: &TestApp, cookie: &str, path: &str, form: &[(&str, String)]) -> reqwest::Response {
    TestApp::http().post(t.url(path)).header("cookie", cookie).header("origin", &t.base).form(form).send().await.unwrap()
}

async fn step(t: &TestApp, cookie: &str, no: &str, step: &str, form: &[(&str, String)]) -> String {
    let r = post(t, cookie, &format!("/records/{no}/step/{step}"), form).await;
    assert_eq!(r.status(), 303, "{step}");
    testkit::location(r.headers())
}

fn frame_jpeg() -> Vec<u8> {
    let mut out = Vec::new();
    uploads::id_card::synthetic_frame().write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Jpeg).unwrap();
    out
}

async fn token(t: &TestApp, cookie: &str, no: &str, document: &str) -> String {
    let r = post(t, cookie, &format!("/records/{no}/capture-token"), &[("document", document.to_owned())]).await;
    assert_eq!(r.status(), 200, "token for {document}");
    r.json::<serde_json::Value>().await.unwrap()["token"].as_str().unwrap().to_owned()
}

async fn upload(t: &TestApp, cookie: &str, no: &str, document: &str, token: &str, body: Vec<u8>) -> reqwest::Response {
    TestApp::http()
        .post(t.url(&format!("/records/{no}/photos/{document}")))
        .header("cookie", cookie)
        .header("origin", &t.base)
        .header("content-type", "image/jpeg")
        .header("x-capture-token", token)
        .header("accept", "application/json")
        .body(body)
        .send()
        .await
        .unwrap()
}

async fn shoot(t: &TestApp, cookie: &str, no: &str, document: &str) {
    let tok = token(t, cookie, no, document).await;
    let r = upload(t, cookie, no, document, &tok, frame_jpeg()).await;
    assert_eq!(r.status(), 200, "{document}: {}", r.text().await.unwrap());
}

async fn pay(t: &TestApp, order_no: &str) {
    let cashier = t.app.start_self_pay(order_no).await.unwrap();
    assert_eq!(TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap().status(), 303);
    t.app.resolve_payment(order_no).await.unwrap();
    t.drain_jobs().await;
}

async fn scenes(t: &TestApp, patient: i64) -> Vec<String> {
    let q = store::messages::MessageQuery { patient_id: Some(patient), limit: 100, ..Default::default() };
    t.store.search_messages(&q).await.unwrap().into_iter().map(|m| m.scene).collect()
}

/// The clerk's action, confirmed where the console asks first.
async fn office(t: &TestApp, staff: &str, no: &str, action: &str, form: &[(&str, String)]) -> String {
    let path = format!("/staff/records/{no}/{action}");
    let r = post(t, staff, &path, form).await;
    if r.status() == 200 {
        let page = r.text().await.unwrap();
        assert!(page.contains("name=\"confirmed\""), "asks first: {page}");
        let mut form = form.to_vec();
        form.push(("confirmed", "1".into()));
        return testkit::location(post(t, staff, &path, &form).await.headers());
    }
    testkit::location(r.headers())
}

fn version(row: &store::records::RecordApplicationRow) -> (&'static str, String) {
    ("version", row.version.to_string())
}

fn near(p: &Rgb<u8>, q: Rgb<u8>) -> bool {
    p.0.iter().zip(q.0).all(|(a, b)| (i16::from(*a) - i16::from(b)).abs() < 24)
}

on_both_backends! {
    async fn a_patient_applies_is_returned_once_pays_the_extra_and_collects_by_code(backend) {
        let t = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
        let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;

        let r = post(&t, &cookie, "/records", &[("patient_id", patient.to_string())]).await;
        let to = testkit::location(r.headers());
        let no = to.strip_prefix("/records/").unwrap().strip_suffix("/step/relation").expect(&to).to_owned();
        // A later step is not open before the earlier ones: the page sends the patient back.
        let r = get(&t, &cookie, &format!("/records/{no}/step/review")).await;
        assert_eq!(testkit::location(r.headers()), format!("/records/{no}/step/relation"));

        assert_eq!(step(&t, &cookie, &no, "relation", &[("choice", "patient".into())]).await, format!("/records/{no}/step/encounter"));
        let encounters = t.his_port.record_encounters(&his_id).await.unwrap();
        let stay = encounters.iter().find(|e| e.inpatient).expect("an archived stay");
        let page = get(&t, &cookie, &format!("/records/{no}/step/encounter")).await.text().await.unwrap();
        assert!(page.contains(&stay.label()) && page.contains(&stay.mr_no), "{page}");
        assert_eq!(step(&t, &cookie, &no, "encounter", &[("choice", stay.encounter_id.clone())]).await, format!("/records/{no}/step/purpose"));
        assert_eq!(step(&t, &cookie, &no, "purpose", &[("choice", "sick_leave".into())]).await, format!("/records/{no}/step/sections"));
        // The purpose's usual sections come pre-chosen, with the hint.
        let page = get(&t, &cookie, &format!("/records/{no}/step/sections")).await.text().await.unwrap();
        assert!(page.contains("「病假或单位报销」通常需要：出院记录（出院小结）") && page.contains("value=\"discharge_note\" checked"), "{page}");
        let sections = [("section", "discharge_note".to_owned()), ("section", "front_sheet".to_owned())];
        assert_eq!(step(&t, &cookie, &no, "sections", &sections).await, format!("/records/{no}/step/copies"));
        assert_eq!(step(&t, &cookie, &no, "copies", &[("copies", "11".into())]).await, format!("/records/{no}/step/copies?error=VALIDATION_FAILED"));
        assert_eq!(step(&t, &cookie, &no, "copies", &[("copies", "2".into())]).await, format!("/records/{no}/step/photos"));

        // Live photos only: no token, a made-up token, a spent token, a non-image — refused, nothing kept.
        let r = upload(&t, &cookie, &no, "patient_id_front", "", frame_jpeg()).await;
        assert_eq!(r.status(), 422);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "CAPTURE_TOKEN_INVALID");
        assert_eq!(upload(&t, &cookie, &no, "patient_id_front", &"0".repeat(32), frame_jpeg()).await.status(), 422);
        let tok = token(&t, &cookie, &no, "patient_id_front").await;
        assert_eq!(upload(&t, &cookie, &no, "patient_id_back", &tok, frame_jpeg()).await.status(), 422, "a token is for its own document");
        let tok = token(&t, &cookie, &no, "patient_id_front").await;
        assert_eq!(upload(&t, &cookie, &no, "patient_id_front", &tok, frame_jpeg()).await.status(), 200);
        assert_eq!(upload(&t, &cookie, &no, "patient_id_front", &tok, frame_jpeg()).await.status(), 422, "a replayed token");
        let tok = token(&t, &cookie, &no, "patient_id_back").await;
        let r = upload(&t, &cookie, &no, "patient_id_back", &tok, b"<html><script>alert(1)</script>".to_vec()).await;
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "PHOTO_REFUSED");
        let app_row = t.store.record_application(&no).await.unwrap();
        assert_eq!(t.store.record_photos(app_row.id).await.unwrap().len(), 1, "only the one good photo is kept");
        shoot(&t, &cookie, &no, "patient_id_back").await;

        // What the patient sees of the portrait side is masked; the clerk's original is not.
        let photos = t.store.record_photos(app_row.id).await.unwrap();
        let front = photos.iter().find(|p| p.document == domain::records::Document::PatientIdFront).unwrap();
        let shown = image::load_from_memory(&get(&t, &cookie, &format!("/records/{no}/photos/{}", front.id)).await.bytes().await.unwrap()).unwrap().to_rgb8();
        let digit = uploads::id_card::layout::digit(9);
        let (x, y) = (digit.x + digit.w / 2, digit.y + digit.h / 2);
        assert!(near(shown.get_pixel(x, y), uploads::id_card::MASK), "the birth digits are covered for the patient");
        let (_, other) = t.wechat_sign_in("oDemo_lina_0002").await;
        assert_eq!(get(&t, &other, &format!("/records/{no}/photos/{}", front.id)).await.status(), 404, "another account sees nothing");

        assert_eq!(step(&t, &cookie, &no, "delivery", &[("delivery", "pickup".into())]).await, format!("/records/{no}/step/review"));
        // The estimate: (2 + 2) pages × ¥0.50 × 2 copies; certification ¥0; no postage.
        let page = get(&t, &cookie, &format!("/records/{no}/step/review")).await.text().await.unwrap();
        assert!(page.contains("4页 × ¥0.50 × 2份") && page.contains("id=\"total\">¥4.00"), "{page}");
        let r = post(&t, &cookie, &format!("/records/{no}/submit"), &[]).await;
        let order_no = testkit::location(r.headers()).strip_prefix("/pay/").unwrap().to_owned();
        // Submitting again before paying opens no second order.
        let again = testkit::location(post(&t, &cookie, &format!("/records/{no}/submit"), &[]).await.headers());
        assert_eq!(again, format!("/pay/{order_no}"));
        pay(&t, &order_no).await;
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!((row.state, row.paid), (ApplicationState::Submitted, domain::Fen(400)));
        assert!(scenes(&t, patient).await.contains(&"records.submitted".to_owned()));

        // The clerk: the queue, the case beside the HIS's identity, the original photo.
        let staff = t.staff_sign_in("records01").await;
        let queue = get(&t, &staff, "/staff/records").await.text().await.unwrap();
        assert!(queue.contains(&no), "{queue}");
        let case = get(&t, &staff, &format!("/staff/records/{no}")).await.text().await.unwrap();
        assert!(case.contains("张伟") && case.contains("原图"), "{case}");
        let original = image::load_from_memory(&get(&t, &staff, &format!("/staff/records/{no}/photos/{}?original=1", front.id)).await.bytes().await.unwrap()).unwrap().to_rgb8();
        assert!(!near(original.get_pixel(x, y), uploads::id_card::MASK), "the clerk's original keeps the number");
        let r = get(&t, &cookie, &format!("/staff/records/{no}")).await;
        assert!(r.status() == 303 && testkit::location(r.headers()).starts_with("/staff/login"), "not for patients");

        // Returned once: unclear ID photos. Only those are asked again; the rest is kept.
        let row = t.store.record_application(&no).await.unwrap();
        let form = [version(&row), ("reason", "photo_unclear".into()), ("note", "人像面反光".into())];
        assert_eq!(office(&t, &staff, &no, "return", &form).await, format!("/staff/records/{no}?done=returned"));
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!(row.state, ApplicationState::Returned);
        assert_eq!(row.sections.len(), 2, "kept");
        t.drain_jobs().await;
        assert!(scenes(&t, patient).await.contains(&"records.returned".to_owned()));
        let page = get(&t, &cookie, &format!("/records/{no}")).await.text().await.unwrap();
        assert!(page.contains("证件照片模糊、反光或不完整") && page.contains(&format!("/records/{no}/step/photos")), "{page}");
        // The sections may not be changed now: only what the clerk named.
        assert!(step(&t, &cookie, &no, "sections", &[("section", "orders".into())]).await.contains("error=RECORD_APPLICATION_STATE"));
        shoot(&t, &cookie, &no, "patient_id_front").await;
        shoot(&t, &cookie, &no, "patient_id_back").await;
        assert_eq!(testkit::location(post(&t, &cookie, &format!("/records/{no}/submit"), &[]).await.headers()), format!("/records/{no}?done=resubmitted"));
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!((row.state, row.paid), (ApplicationState::Submitted, domain::Fen(400)), "resubmitted without paying again");

        // Approved, printed at 6 pages a copy: ¥2.00 more is asked for.
        assert_eq!(office(&t, &staff, &no, "approve", &[version(&row)]).await, format!("/staff/records/{no}?done=approved"));
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!(office(&t, &staff, &no, "pages", &[version(&row), ("pages", "6".into())]).await, format!("/staff/records/{no}?done=extra"));
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!(row.state, ApplicationState::ExtraDue);
        let extra = row.extra_order_no.clone().unwrap();
        assert_eq!(t.store.order(&extra).await.unwrap().0.total(), domain::Fen(200));
        pay(&t, &extra).await;
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!((row.state, row.paid, row.due), (ApplicationState::ReadyForPickup, domain::Fen(600), Some(domain::Fen(600))));
        let code = row.pickup_code.clone().unwrap();
        t.drain_jobs().await;
        let told = scenes(&t, patient).await;
        for s in ["records.approved", "records.extra_due", "records.ready"] {
            assert!(told.contains(&s.to_owned()), "{s}: {told:?}");
        }
        let page = get(&t, &cookie, &format!("/records/{no}")).await.text().await.unwrap();
        assert!(page.contains(&code) && page.contains("门诊楼3楼病案室"), "{page}");

        // Pickup: a wrong code is refused, the right one closes it.
        let wrong = if code == "999999" { "100000" } else { "999999" };
        assert!(office(&t, &staff, &no, "pickup", &[("code", wrong.into())]).await.contains("error=PICKUP_CODE_WRONG"));
        assert_eq!(office(&t, &staff, &no, "pickup", &[("code", code)]).await, format!("/staff/records/{no}?done=picked_up"));
        assert_eq!(t.store.record_application(&no).await.unwrap().state, ApplicationState::PickedUp);
        // The money: two orders, ¥6.00 in all, every line a ledger posting.
        let mut total = 0;
        for o in [&order_no, &extra] {
            let (order, _) = t.store.order(o).await.unwrap();
            assert_eq!(order.purpose, domain::billing::Purpose::RecordCopy);
            total += order.captured.total().0;
            assert!(!t.store.ledger_of(o).await.unwrap().is_empty());
        }
        assert_eq!(total, 600);
    }
}

on_both_backends! {
    async fn an_agent_sends_it_by_courier_the_surplus_goes_back_and_the_route_reaches_the_patient(backend) {
        let (t, clock) = TestApp::spawn_at(backend, chrono::Utc::now()).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        let patient = t.add_demo_patient(&cookie, "张伟", "other").await;
        let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;
        let no = testkit::location(post(&t, &cookie, "/records", &[("patient_id", patient.to_string())]).await.headers())
            .strip_prefix("/records/").unwrap().strip_suffix("/step/relation").unwrap().to_owned();
        step(&t, &cookie, &no, "relation", &[("choice", "agent".into())]).await;
        let stay = t.his_port.record_encounters(&his_id).await.unwrap().into_iter().find(|e| e.inpatient).unwrap();
        step(&t, &cookie, &no, "encounter", &[("choice", stay.encounter_id)]).await;
        step(&t, &cookie, &no, "purpose", &[("choice", "commercial_insurance".into())]).await;
        step(&t, &cookie, &no, "sections", &[("section", "discharge_note".into()), ("section", "front_sheet".into()), ("section", "orders".into())]).await;
        step(&t, &cookie, &no, "copies", &[("copies", "1".into())]).await;
        for d in ["patient_id_front", "patient_id_back", "applicant_id_front", "applicant_id_back"] {
            shoot(&t, &cookie, &no, d).await;
        }
        // An agent without the patient's letter is not past the photos.
        let to = step(&t, &cookie, &no, "delivery", &[("delivery", "pickup".into())]).await;
        assert!(to.contains("error=RECORD_STEP_INCOMPLETE"), "{to}");
        shoot(&t, &cookie, &no, "authorisation").await;
        // A bad address is refused with the form kept; a good one is sealed at rest.
        let mut address = vec![("delivery", "express".to_owned()), ("name", "王芳".into()), ("mobile", "1380013800".into()), ("province", "广东省".into()),
            ("city", "深圳市".into()), ("county", "南山区".into()), ("detail", "科技园科苑路15号".into())];
        assert!(step(&t, &cookie, &no, "delivery", &address).await.contains("error=VALIDATION_FAILED"));
        address[2].1 = "13800138000".into();
        assert_eq!(step(&t, &cookie, &no, "delivery", &address).await, format!("/records/{no}/step/review"));
        let page = get(&t, &cookie, &format!("/records/{no}/step/review")).await.text().await.unwrap();
        // (2 + 2 + 5) pages × ¥0.50 = ¥4.50, postage ¥20.00.
        assert!(page.contains("9页 × ¥0.50 × 1份") && page.contains("¥20.00") && page.contains("id=\"total\">¥24.50") && page.contains("138****8000"), "{page}");
        let order_no = testkit::location(post(&t, &cookie, &format!("/records/{no}/submit"), &[]).await.headers()).strip_prefix("/pay/").unwrap().to_owned();
        pay(&t, &order_no).await;

        let staff = t.staff_sign_in("records01").await;
        let row = t.store.record_application(&no).await.unwrap();
        office(&t, &staff, &no, "approve", &[version(&row)]).await;
        // The courier is down when the copy is printed: the order waits and is retried.
        t.courier.lock().unwrap().faults.down = true;
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!(office(&t, &staff, &no, "pages", &[version(&row), ("pages", "5".into())]).await, format!("/staff/records/{no}?done=refund"));
        t.drain_jobs().await;
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!((row.state, row.waybill_no.as_deref()), (ApplicationState::Shipped, None));
        // 4 pages fewer: ¥2.00 back to the bank, the order partly refunded.
        let (order, _) = t.store.order(&order_no).await.unwrap();
        assert_eq!(order.refunded.total(), domain::Fen(200));
        assert_eq!(row.paid, domain::Fen(2_250));
        t.courier.lock().unwrap().faults.down = false;
        clock.advance(chrono::Duration::minutes(10));
        t.drain_jobs().await;
        let row = t.store.record_application(&no).await.unwrap();
        let waybill = row.waybill_no.clone().expect("shipped once the courier is back");
        // The courier pushes each step of the route until we take it; the last is the signature.
        for _ in 0..5 {
            let r = TestApp::http().post(format!("{}/__sim/courier/{waybill}/advance", t.courier_url)).send().await.unwrap();
            assert!(r.status().is_success());
        }
        t.drain_jobs().await;
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!(row.state, ApplicationState::Delivered);
        let told = scenes(&t, patient).await;
        for s in ["records.printed", "records.shipped", "records.route", "records.delivered"] {
            assert!(told.contains(&s.to_owned()), "{s}: {told:?}");
        }
        let page = get(&t, &cookie, &format!("/records/{no}")).await.text().await.unwrap();
        assert!(page.contains(&waybill) && page.contains("顺丰速运"), "{page}");
        // A push to the wrong path is not ours.
        let r = TestApp::http().post(t.url("/courier/sf/route-push/guess")).body("{}").send().await.unwrap();
        assert_eq!(r.status(), 403);
    }
}

on_both_backends! {
    async fn a_withdrawn_application_is_refunded_in_full_and_its_photos_are_deleted_after_the_kept_days(backend) {
        let (t, clock) = TestApp::spawn_at(backend, chrono::Utc::now()).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
        let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;
        let no = testkit::location(post(&t, &cookie, "/records", &[("patient_id", patient.to_string())]).await.headers())
            .strip_prefix("/records/").unwrap().strip_suffix("/step/relation").unwrap().to_owned();
        step(&t, &cookie, &no, "relation", &[("choice", "patient".into())]).await;
        let visit = t.his_port.record_encounters(&his_id).await.unwrap().into_iter().find(|e| !e.inpatient).unwrap();
        step(&t, &cookie, &no, "encounter", &[("choice", visit.encounter_id)]).await;
        step(&t, &cookie, &no, "purpose", &[("choice", "other".into())]).await;
        // A visit's record has no discharge note: the page offers the 门诊病历 instead, and a
        // stay's section is refused.
        let page = get(&t, &cookie, &format!("/records/{no}/step/sections")).await.text().await.unwrap();
        assert!(page.contains("value=\"outpatient_note\" checked") && !page.contains("value=\"discharge_note\""), "{page}");
        assert!(step(&t, &cookie, &no, "sections", &[("section", "discharge_note".into())]).await.contains("error=VALIDATION_FAILED"));
        step(&t, &cookie, &no, "sections", &[("section", "lab_reports".into())]).await;
        step(&t, &cookie, &no, "copies", &[("copies", "1".into())]).await;
        shoot(&t, &cookie, &no, "patient_id_front").await;
        shoot(&t, &cookie, &no, "patient_id_back").await;
        step(&t, &cookie, &no, "delivery", &[("delivery", "pickup".into())]).await;
        let order_no = testkit::location(post(&t, &cookie, &format!("/records/{no}/submit"), &[]).await.headers()).strip_prefix("/pay/").unwrap().to_owned();
        pay(&t, &order_no).await;
        assert_eq!(t.store.record_application(&no).await.unwrap().state, ApplicationState::Submitted);

        // Withdrawing asks first and says what comes back; then everything paid is refunded.
        let page = post(&t, &cookie, &format!("/records/{no}/withdraw"), &[]).await.text().await.unwrap();
        assert!(page.contains("name=\"confirmed\"") && page.contains("¥2.50") && page.contains("原路退回"), "{page}");
        assert_eq!(t.store.record_application(&no).await.unwrap().state, ApplicationState::Submitted, "nothing changes before the confirmation");
        let to = testkit::location(post(&t, &cookie, &format!("/records/{no}/withdraw"), &[("confirmed", "1".into())]).await.headers());
        assert_eq!(to, format!("/records/{no}?done=withdrawn"));
        t.drain_jobs().await;
        let row = t.store.record_application(&no).await.unwrap();
        assert_eq!((row.state, row.paid), (ApplicationState::Withdrawn, domain::Fen(0)));
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Refunded);
        // The clerk can no longer act on it.
        let staff = t.staff_sign_in("records01").await;
        assert!(office(&t, &staff, &no, "approve", &[version(&row)]).await.contains("error=RECORD_APPLICATION_STATE"));

        // The photos are kept for the set days after it closed, then deleted, files and all.
        let photos = t.store.record_photos(row.id).await.unwrap();
        assert_eq!(t.app.purge_record_photos().await.unwrap(), 0, "not yet");
        for p in &photos {
            assert!(std::path::Path::new(&t.settings.files.dir).join(&p.original_key).exists(), "{} kept until then", p.original_key);
        }
        clock.advance(chrono::Duration::days(t.settings.records.keep_photos_days) + chrono::Duration::hours(1));
        assert_eq!(t.app.purge_record_photos().await.unwrap(), 1);
        for p in &photos {
            let on_disk = std::path::Path::new(&t.settings.files.dir).join(&p.original_key);
            assert!(!on_disk.exists(), "{} deleted", p.original_key);
        }
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        assert_eq!(get(&t, &cookie, &format!("/records/{no}/photos/{}", photos[0].id)).await.status(), 404);
        let page = get(&t, &cookie, &format!("/records/{no}")).await.text().await.unwrap();
        assert!(page.contains("证件照片已按规定删除") && !page.contains("/photos/"), "{page}");
    }
}

/// A paid application of the patient's own record: (application, order).
async fn paid_application(t: &TestApp, cookie: &str, patient: i64, his_id: &str, delivery: &[(&str, String)]) -> (String, String) {
    let no = testkit::location(post(t, cookie, "/records", &[("patient_id", patient.to_string())]).await.headers())
        .strip_prefix("/records/")
        .unwrap()
        .strip_suffix("/step/relation")
        .unwrap()
        .to_owned();
    step(t, cookie, &no, "relation", &[("choice", "patient".into())]).await;
    let stay = t.his_port.record_encounters(his_id).await.unwrap().into_iter().find(|e| e.inpatient).unwrap();
    step(t, cookie, &no, "encounter", &[("choice", stay.encounter_id)]).await;
    step(t, cookie, &no, "purpose", &[("choice", "sick_leave".into())]).await;
    step(t, cookie, &no, "sections", &[("section", "discharge_note".into()), ("section", "front_sheet".into())]).await;
    step(t, cookie, &no, "copies", &[("copies", "1".into())]).await;
    shoot(t, cookie, &no, "patient_id_front").await;
    shoot(t, cookie, &no, "patient_id_back").await;
    assert_eq!(step(t, cookie, &no, "delivery", delivery).await, format!("/records/{no}/step/review"));
    let order_no = testkit::location(post(t, cookie, &format!("/records/{no}/submit"), &[]).await.headers()).strip_prefix("/pay/").unwrap().to_owned();
    pay(t, &order_no).await;
    (no, order_no)
}

/// The amounts (yuan, in fen) of column `col` (a letter) of an XLSX's first sheet, by row.
fn xlsx_column(bytes: &[u8], col: char) -> Vec<i64> {
    use std::io::Read;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
    let mut sheet = String::new();
    zip.by_name("xl/worksheets/sheet1.xml").unwrap().read_to_string(&mut sheet).unwrap();
    sheet
        .split(&format!("<c r=\"{col}"))
        .skip(1)
        .filter_map(|cell| {
            let cell = &cell[..cell.find("</c>")?];
            let v = &cell[cell.find("<v>")? + 3..cell.find("</v>")?];
            (!cell.contains("t=\"s\"")).then(|| domain::Fen::parse_yuan(&format!("{:.2}", v.parse::<f64>().unwrap())).unwrap().0)
        })
        .collect()
}

/// The last column's amounts of an XLSX as LibreOffice Calc reads it (converted to CSV by
/// `soffice --headless`), and the first cell of its last row.
fn libreoffice_amounts(xlsx: &[u8]) -> (Vec<i64>, String) {
    let dir = std::env::temp_dir().join(format!("cb-calc-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("ledger.xlsx"), xlsx).unwrap();
    // A profile of its own: two tests converting at once would otherwise share one and wait.
    let out = std::process::Command::new("soffice")
        .arg(format!("-env:UserInstallation=file://{}", dir.join("profile").display()))
        .args(["--headless", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76", "--outdir"])
        .arg(&dir)
        .arg(dir.join("ledger.xlsx"))
        .output()
        .expect("LibreOffice (soffice) is installed by scripts/test");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(dir.join("ledger.csv")).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let lines: Vec<&str> = text.lines().skip(1).collect();
    let amounts = lines.iter().map(|l| domain::Fen::parse_yuan(&format!("{:.2}", l.rsplit(',').next().unwrap().parse::<f64>().unwrap())).unwrap().0).collect();
    (amounts, lines.last().unwrap().split(',').next().unwrap().to_owned())
}

on_both_backends! {
    async fn the_records_ledger_itemises_every_fee_and_refund_and_its_exports_carry_the_screens_totals(backend) {
        let (t, clock) = TestApp::spawn_at(backend, chrono::Utc::now()).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
        let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;
        let staff = t.staff_sign_in("records01").await;
        let pickup = [("delivery", "pickup".to_owned())];
        let express = [("delivery", "express".to_owned()), ("name", "张伟".into()), ("mobile", "13800138000".into()), ("province", "广东省".into()),
            ("city", "深圳市".into()), ("county", "南山区".into()), ("detail", "科技园科苑路15号".into())];
        // A: 4 pages estimated (¥2.00), 6 printed: ¥1.00 more.
        let (a, _) = paid_application(&t, &cookie, patient, &his_id, &pickup).await;
        let row = t.store.record_application(&a).await.unwrap();
        office(&t, &staff, &a, "approve", &[version(&row)]).await;
        let row = t.store.record_application(&a).await.unwrap();
        assert!(office(&t, &staff, &a, "pages", &[version(&row), ("pages", "6".into())]).await.ends_with("done=extra"));
        pay(&t, &t.store.record_application(&a).await.unwrap().extra_order_no.unwrap()).await;
        // B: ¥2.00 + postage ¥20.00 by courier, 3 printed: ¥0.50 back.
        let (b, _) = paid_application(&t, &cookie, patient, &his_id, &express).await;
        // A second application for the same stay is allowed, and shown: to the clerk on the case …
        let case = get(&t, &staff, &format!("/staff/records/{b}")).await.text().await.unwrap();
        assert!(case.contains("id=\"same-encounter\"") && case.contains(&a), "{case}");
        // … and to the patient choosing the stay for a third.
        let draft = testkit::location(post(&t, &cookie, "/records", &[("patient_id", patient.to_string())]).await.headers())
            .strip_prefix("/records/").unwrap().strip_suffix("/step/relation").unwrap().to_owned();
        step(&t, &cookie, &draft, "relation", &[("choice", "patient".into())]).await;
        let page = get(&t, &cookie, &format!("/records/{draft}/step/encounter")).await.text().await.unwrap();
        assert!(page.contains(&format!("已有办理中的申请 {a}")) || page.contains(&format!("已有办理中的申请 {b}")), "{page}");
        let row = t.store.record_application(&b).await.unwrap();
        office(&t, &staff, &b, "approve", &[version(&row)]).await;
        let row = t.store.record_application(&b).await.unwrap();
        assert!(office(&t, &staff, &b, "pages", &[version(&row), ("pages", "3".into())]).await.ends_with("done=refund"));
        // C: withdrawn before the office saw it: ¥2.00 back.
        let (c, _) = paid_application(&t, &cookie, patient, &his_id, &pickup).await;
        post(&t, &cookie, &format!("/records/{c}/withdraw"), &[("confirmed", "1".into())]).await;
        clock.advance(chrono::Duration::minutes(1));
        t.drain_jobs().await;
        assert_eq!(t.store.record_application(&c).await.unwrap().state, ApplicationState::Withdrawn);

        let today = t.app.today();
        let range = format!("from={}&to={}", today - chrono::Duration::days(1), today);
        let page = get(&t, &staff, &format!("/staff/records/ledger?{range}")).await.text().await.unwrap();
        assert!(page.contains("id=\"collected\">¥27.00") && page.contains("id=\"refunded\">¥2.50") && page.contains("id=\"net\">¥24.50"), "{page}");
        for (kind, amount) in [("复印费", "6.00"), ("快递费", "20.00"), ("补缴（少补）", "1.00"), ("退差额（多退）", "-0.50"), ("撤回退款", "-2.00")] {
            assert!(page.contains(&format!("<td>{kind}</td><td class=\"num\">{amount}</td>")), "{kind} {amount}: {page}");
        }
        assert!(page.contains(&a) && page.contains(&b) && page.contains(&c));
        // The records ledger is the general ledger's record-copy revenue, to the fen.
        let from = domain::clock::local_midnight_utc(today - chrono::Duration::days(1));
        let general: i64 = t.store.ledger_between(from, from + chrono::Duration::days(2)).await.unwrap().iter().filter(|e| e.account == "revenue:record_copy").map(|e| e.amount).sum();
        assert_eq!(general, -2_450);
        // Narrowed: express only; postage only; the clerk's (C was never handled).
        let page = get(&t, &staff, &format!("/staff/records/ledger?{range}&delivery=express")).await.text().await.unwrap();
        assert!(page.contains("id=\"net\">¥21.50") && !page.contains(&a), "{page}");
        let page = get(&t, &staff, &format!("/staff/records/ledger?{range}&kind=postage")).await.text().await.unwrap();
        assert!(page.contains("id=\"collected\">¥20.00") && page.matches("class=\"ledger-row\"").count() == 1, "{page}");
        let clerk = t.store.staff_by_username("records01").await.unwrap().unwrap().id;
        let page = get(&t, &staff, &format!("/staff/records/ledger?{range}&clerk=staff:{clerk}")).await.text().await.unwrap();
        assert!(page.contains("id=\"collected\">¥25.00") && page.contains("id=\"net\">¥24.50") && !page.contains(&c), "{page}");
        // A range the ledger refuses says so.
        let page = get(&t, &staff, "/staff/records/ledger?from=2026-01-01&to=2026-12-31").await.text().await.unwrap();
        assert!(page.contains("id=\"ledger-error\""), "{page}");

        // CSV: Chinese headers, each row's amount, and a 合计 row with the screen's net.
        let csv = get(&t, &staff, &format!("/staff/records/ledger?{range}&format=csv")).await.bytes().await.unwrap();
        let text = String::from_utf8(csv[3..].to_vec()).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        assert!(lines.remove(0).starts_with("记账时间,凭证号,申请号"), "{text}");
        let total = lines.pop().unwrap();
        assert!(total.starts_with("合计,") && total.ends_with(",24.50"), "{total}");
        let rows: Vec<i64> = lines.iter().map(|l| domain::Fen::parse_yuan(l.rsplit(',').next().unwrap()).unwrap().0).collect();
        assert_eq!((rows.len(), rows.iter().sum::<i64>()), (7, 2_450), "{text}");
        // XLSX: the amounts are numbers, the detail adds up to the 合计 row.
        let xlsx = get(&t, &staff, &format!("/staff/records/ledger?{range}&format=xlsx")).await.bytes().await.unwrap();
        let mut amounts = xlsx_column(&xlsx, 'J');
        assert_eq!(amounts.pop(), Some(2_450));
        assert_eq!((amounts.len(), amounts.iter().sum::<i64>()), (7, 2_450));
        // And LibreOffice, opening the workbook, reads the same amounts and the same 合计.
        let (mut from_calc, total) = libreoffice_amounts(&xlsx);
        assert_eq!(total, "合计");
        assert_eq!(from_calc.pop(), Some(2_450));
        assert_eq!((from_calc.len(), from_calc.iter().sum::<i64>()), (7, 2_450));
        assert_eq!(t.store.audit_count(Some("finance.export")).await.unwrap(), 2, "each export is audited");
        // Finance reads it too; a patient is sent to the staff sign-in.
        let finance = t.staff_sign_in("finance01").await;
        assert_eq!(get(&t, &finance, &format!("/staff/records/ledger?{range}")).await.status(), 200);
        let r = get(&t, &cookie, "/staff/records/ledger").await;
        assert!(r.status() == 303 && testkit::location(r.headers()).starts_with("/staff/login"));
    }
}

on_both_backends! {
    async fn a_relative_and_a_guardian_are_asked_for_their_proofs_a_new_fee_table_spares_earlier_applications_and_an_unserved_address_is_handed_over_at_the_counter(backend) {
        let (t, clock) = TestApp::spawn_at(backend, chrono::Utc::now()).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
        let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;
        let start = || async {
            testkit::location(post(&t, &cookie, "/records", &[("patient_id", patient.to_string())]).await.headers())
                .strip_prefix("/records/").unwrap().strip_suffix("/step/relation").unwrap().to_owned()
        };
        let stay = t.his_port.record_encounters(&his_id).await.unwrap().into_iter().find(|e| e.inpatient).unwrap().encounter_id;
        let upto_photos = |no: String, relation: &'static str| {
            let (t, cookie, stay) = (&t, cookie.clone(), stay.clone());
            async move {
                step(t, &cookie, &no, "relation", &[("choice", relation.into())]).await;
                step(t, &cookie, &no, "encounter", &[("choice", stay)]).await;
                step(t, &cookie, &no, "purpose", &[("choice", "legal".into())]).await;
                step(t, &cookie, &no, "sections", &[("section", "discharge_note".into())]).await;
                step(t, &cookie, &no, "copies", &[("copies", "1".into())]).await;
                no
            }
        };
        // A deceased patient's relative: the death certificate and the proof of kinship, no
        // patient ID card; nothing is past the photos until both are taken.
        let kin = upto_photos(start().await, "next_of_kin").await;
        let page = get(&t, &cookie, &format!("/records/{kin}/step/photos")).await.text().await.unwrap();
        assert!(page.contains("患者死亡证明") && page.contains("与患者的亲属关系证明") && !page.contains("data-document=\"patient_id_front\""), "{page}");
        assert_eq!(token_status(&t, &cookie, &kin, "patient_id_front").await, 422, "not asked of a relative");
        for d in ["applicant_id_front", "applicant_id_back", "death_certificate"] {
            shoot(&t, &cookie, &kin, d).await;
        }
        assert!(step(&t, &cookie, &kin, "delivery", &[("delivery", "pickup".into())]).await.contains("error=RECORD_STEP_INCOMPLETE"));
        shoot(&t, &cookie, &kin, "relationship").await;
        assert_eq!(step(&t, &cookie, &kin, "delivery", &[("delivery", "pickup".into())]).await, format!("/records/{kin}/step/review"));
        // A parent of a minor: the guardianship proof besides both ID cards.
        let guardian = upto_photos(start().await, "guardian").await;
        let page = get(&t, &cookie, &format!("/records/{guardian}/step/photos")).await.text().await.unwrap();
        assert!(page.contains("监护关系证明") && page.contains("data-document=\"patient_id_front\"") && page.contains("data-document=\"applicant_id_front\""), "{page}");

        // The relative pays under today's table (¥0.50 a page).
        let order = testkit::location(post(&t, &cookie, &format!("/records/{kin}/submit"), &[]).await.headers()).strip_prefix("/pay/").unwrap().to_owned();
        pay(&t, &order).await;
        let paid = t.store.record_application(&kin).await.unwrap().paid;
        // The administrator publishes ¥1.00 a page from tomorrow: asked first, then saved.
        let admin = t.staff_sign_in("admin").await;
        let tomorrow = (t.app.today() + chrono::Duration::days(1)).to_string();
        let form = [("per_page", "1.00".to_owned()), ("certification", "0".into()), ("postage", "20.00".into()), ("effective_date", tomorrow), ("note", "物价调整".into())];
        let page = post(&t, &admin, "/staff/records/fees", &form).await.text().await.unwrap();
        assert!(page.contains("name=\"confirmed\"") && page.contains("¥1.00"), "{page}");
        let mut confirmed = form.to_vec();
        confirmed.push(("confirmed", "1".into()));
        assert_eq!(testkit::location(post(&t, &admin, "/staff/records/fees", &confirmed).await.headers()), "/staff/records/fees?done=1");
        let page = get(&t, &admin, "/staff/records/fees").await.text().await.unwrap();
        assert!(page.contains("物价调整"), "{page}");
        // A records clerk may not publish prices.
        let clerk = t.staff_sign_in("records01").await;
        let r = post(&t, &clerk, "/staff/records/fees", &confirmed).await;
        assert_ne!(r.status(), 200);
        assert_ne!(testkit::location(r.headers()), "/staff/records/fees?done=1");
        // Tomorrow: a new application is estimated at the new price …
        clock.advance(chrono::Duration::days(1));
        let clerk = t.staff_sign_in("records01").await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let (_, express_order) = paid_application(&t, &cookie, patient, &his_id, &[("delivery", "express".to_owned()), ("name", "张伟".into()),
            ("mobile", "13800138000".into()), ("province", "广东省".into()), ("city", "深圳市".into()), ("county", "南山区".into()), ("detail", "不可收派村1号".into())]).await;
        let express = t.store.record_application_of_order(&express_order).await.unwrap().unwrap();
        assert_eq!(express.paid, domain::Fen(4 * 100 + 2_000), "4 pages at ¥1.00 and postage");
        // … while the relative's, counted now at its estimated pages, owes and gets nothing back.
        let row = t.store.record_application(&kin).await.unwrap();
        office(&t, &clerk, &kin, "approve", &[version(&row)]).await;
        let row = t.store.record_application(&kin).await.unwrap();
        let pages = row.estimated_pages.unwrap().to_string();
        assert!(office(&t, &clerk, &kin, "pages", &[version(&row), ("pages", pages)]).await.ends_with("done=even"));
        let row = t.store.record_application(&kin).await.unwrap();
        assert_eq!((row.state, row.paid, row.due), (ApplicationState::ReadyForPickup, paid, Some(paid)), "charged by the table it was submitted under");

        // The courier does not serve the address: the timeline says so, the clerk hands it over.
        let row = t.store.record_application(&express.application_no).await.unwrap();
        office(&t, &clerk, &row.application_no, "approve", &[version(&row)]).await;
        let row = t.store.record_application(&express.application_no).await.unwrap();
        office(&t, &clerk, &row.application_no, "pages", &[version(&row), ("pages", "4".into())]).await;
        t.drain_jobs().await;
        let row = t.store.record_application(&express.application_no).await.unwrap();
        assert_eq!((row.state, row.waybill_no.as_deref()), (ApplicationState::Shipped, None));
        let page = get(&t, &cookie, &format!("/records/{}", row.application_no)).await.text().await.unwrap();
        assert!(page.contains("快递无法寄送到该地址"), "{page}");
        let to = office(&t, &clerk, &row.application_no, "switch", &[version(&row)]).await;
        assert!(to.ends_with("done=switched"), "{to}");
        let row = t.store.record_application(&express.application_no).await.unwrap();
        assert_eq!((row.state, row.delivery), (ApplicationState::ReadyForPickup, Some(domain::records::Delivery::Pickup)));
        assert!(row.pickup_code.is_some());
        t.drain_jobs().await;
        assert!(scenes(&t, patient).await.contains(&"records.ready".to_owned()));
    }
}

async fn token_status(t: &TestApp, cookie: &str, no: &str, document: &str) -> u16 {
    post(t, cookie, &format!("/records/{no}/capture-token"), &[("document", document.to_owned())]).await.status().as_u16()
}
