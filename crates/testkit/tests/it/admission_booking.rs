//! Admission booking (住院登记预约, OTH-5) end to end through the HIS simulator: the doctor's
//! notice on the phone, the patient's choice, the admission office's proposal or
//! confirmation (registered in the HIS), 入院提醒 with what to bring and the way there, the
//! evening-before reminder, and a cancellation that gives the HIS its day back. Faults: a
//! registration whose answer is lost, a full ward, a choice outside the notice.
use chrono::{Duration, NaiveDate};
use domain::inpatient::admission_booking::{BookingState, NoticeStatus};
use serde_json::json;
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

/// 张伟 signed in with himself as 就诊人: (cookie, patient id, HIS id, his open notice).
async fn zhang(t: &TestApp) -> (String, i64, String, String) {
    let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    let patient = t.add_demo_patient(&cookie, "张伟", "self").await;
    let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;
    let notice = t.his_port.admission_notices(&his_id).await.unwrap().into_iter().find(|n| n.status == NoticeStatus::Open).expect("the demo notice");
    (cookie, patient, his_id, notice.notice_no)
}

async fn choose(t: &TestApp, cookie: &str, patient: i64, notice: &str, date: NaiveDate, bed: &str) -> String {
    let form = [("patient_id", patient.to_string()), ("notice_no", notice.to_owned()), ("date", date.to_string()), ("bed_type", bed.to_owned())];
    testkit::location(post(t, cookie, "/inpatient/admission", &form).await.headers())
}

/// The office's answer as the console sends it: the confirmation page first, then the act.
async fn answer(t: &TestApp, staff: &str, booking: &str, form: &[(&str, String)]) -> String {
    let path = format!("/staff/admission/{booking}/answer");
    let r = post(t, staff, &path, form).await;
    let page = r.text().await.unwrap();
    assert!(page.contains("name=\"confirmed\""), "asks first: {page}");
    let mut form = form.to_vec();
    form.push(("confirmed", "1".into()));
    testkit::location(post(t, staff, &path, &form).await.headers())
}

async fn his_status(t: &TestApp, his_id: &str, notice: &str) -> NoticeStatus {
    t.his_port.admission_notices(his_id).await.unwrap().into_iter().find(|n| n.notice_no == notice).unwrap().status
}

async fn messages(t: &TestApp, scene: &str, patient: i64) -> Vec<store::messages::MessageRow> {
    t.store
        .search_messages(&store::messages::MessageQuery { scene: Some(scene.into()), patient_id: Some(patient), limit: 10, ..Default::default() })
        .await
        .unwrap()
}

on_both_backends! {
    async fn a_notice_is_booked_proposed_accepted_and_cancelled_with_the_his_in_step(backend) {
        let t = spawn(backend).await;
        let (cookie, patient, his_id, notice) = zhang(&t).await;
        let today = t.app.today();
        let (first, last) = (today + Duration::days(2), today + Duration::days(14));
        // 王芳 manages 张伟 from her own account: she sees and is told the same.
        let (_, relative) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        let relatives_row = t.add_demo_patient(&relative, "张伟", "other").await;

        // The notice on the phone: ward, doctor, the days it allows, the bed types with their fees.
        let page = get(&t, &cookie, "/inpatient/admission").await.text().await.unwrap();
        assert!(page.contains("骨科 · 入院通知单") && page.contains("王志刚") && page.contains("右膝内侧半月板损伤"), "{page}");
        assert!(page.contains(&format!("{first} 至 {last}")) && page.contains("双人间 · ¥120.00/天") && page.contains("入院前注意"), "{page}");
        assert!(page.contains(&format!("min=\"{first}\"")) && page.contains(&format!("max=\"{last}\"")), "the form keeps to the window: {page}");

        // A day outside the notice, and a bed type the ward has not: refused, nothing kept.
        for (date, bed) in [(today + Duration::days(1), "GENERAL"), (last + Duration::days(1), "GENERAL"), (first, "VIP")] {
            let to = choose(&t, &cookie, patient, &notice, date, bed).await;
            assert_eq!(to, format!("/inpatient/admission?patient={patient}&error=ADMISSION_CHOICE_INVALID"), "{date} {bed}");
        }
        assert!(t.store.admission_bookings_of_patient(patient).await.unwrap().is_empty());

        // A choice: the booking waits for the office; the same choice again is the same booking,
        // another choice changes it.
        let to = choose(&t, &cookie, patient, &notice, first + Duration::days(1), "SINGLE").await;
        let no = to.trim_start_matches("/inpatient/admission/").to_owned();
        assert!(no.starts_with("RY"), "{to}");
        assert_eq!(choose(&t, &cookie, patient, &notice, first + Duration::days(1), "SINGLE").await, to);
        assert_eq!(choose(&t, &cookie, patient, &notice, first, "DOUBLE").await, to);
        let b = t.store.admission_booking(&no).await.unwrap();
        assert_eq!((b.state, b.wanted_date, b.bed_type.as_str()), (BookingState::Requested, first, "DOUBLE"));
        let page = get(&t, &cookie, &to).await.text().await.unwrap();
        assert!(page.contains("待住院服务中心确认") && page.contains(&format!("{first} · 双人间")), "{page}");

        // The office: the patient by the HIS's name; proposes another day and the general ward.
        let nurse = t.staff_sign_in("nurse01").await;
        let board = get(&t, &nurse, "/staff/admission").await.text().await.unwrap();
        assert!(board.contains("张伟") && board.contains(&format!("data-booking=\"{no}\"")) && board.contains("待确认（1）"), "{board}");
        let later = first + Duration::days(3);
        let form = [("action", "propose".to_owned()), ("name", "张伟".into()), ("wanted", "x".into()), ("date", later.to_string()), ("bed_type", "GENERAL".into()), ("note", "双人间当日已满".into())];
        assert_eq!(answer(&t, &nurse, &no, &form).await, "/staff/admission?done=proposed");
        t.drain_jobs().await;
        assert_eq!(his_status(&t, &his_id, &notice).await, NoticeStatus::Open, "nothing is registered before the patient agrees");
        let proposed = messages(&t, "admission.proposed", patient).await;
        assert_eq!(proposed.len(), 1);
        assert!(proposed[0].body.starts_with("张*您好") && proposed[0].body.contains(&later.to_string()) && proposed[0].body.contains("普通床位") && proposed[0].body.contains("双人间当日已满"), "{}", proposed[0].body);
        assert_eq!(proposed[0].link, to);

        // The patient accepts: registered in the HIS under the booking's number, 入院提醒 with
        // what to bring, where, and the way there; tapping twice registers nothing twice.
        let page = get(&t, &cookie, &to).await.text().await.unwrap();
        assert!(page.contains("id=\"proposal\"") && page.contains(&later.to_string()), "{page}");
        let r = post(&t, &cookie, &format!("{to}/accept"), &[]).await;
        assert_eq!(testkit::location(r.headers()), format!("{to}?done=accepted"));
        let b = t.store.admission_booking(&no).await.unwrap();
        assert_eq!((b.state, b.confirmed_date, b.bed_type.as_str()), (BookingState::Confirmed, Some(later), "GENERAL"));
        let registered = his_status(&t, &his_id, &notice).await;
        assert!(matches!(&registered, NoticeStatus::Registered { date, bed_type, booking_no: Some(x), register_no } if *date == later && bed_type == "GENERAL" && *x == no && Some(register_no) == b.register_no.as_ref()), "{registered:?}");
        let r = post(&t, &cookie, &format!("{to}/accept"), &[]).await;
        assert_eq!(testkit::location(r.headers()), format!("{to}?done=accepted"));
        assert_eq!(his_status(&t, &his_id, &notice).await, registered);
        t.drain_jobs().await;
        let prompts = messages(&t, "admission.prompt", patient).await;
        assert_eq!(prompts.len(), 1, "one 入院提醒 at confirmation (the evening's comes later)");
        let theirs = messages(&t, "admission.prompt", relatives_row).await;
        assert_eq!(theirs.len(), 1, "the relative's account is told once too");
        assert_eq!(get(&t, &relative, &theirs[0].link).await.status(), 200, "and opens the same booking");
        let body = &prompts[0].body;
        assert!(body.starts_with("张*您好"), "addressed to the patient: {body}");
        assert!(body.contains("骨科病区") && body.contains(&later.to_string()) && body.contains("住院楼1楼住院服务中心"), "{body}");
        assert!(body.contains("入院通知单") && body.contains("近期检查检验报告") && body.contains("5000.00元") && body.contains("禁食"), "what to bring, the deposit, the doctor's preparation: {body}");
        assert!(body.contains("路线：") && body.contains("住院服务中心"), "the navigation system's route: {body}");
        let page = get(&t, &cookie, &to).await.text().await.unwrap();
        assert!(page.contains("id=\"admission-guide\"") && page.contains("id=\"route\"") && page.contains("/nav/route/"), "{page}");
        let board = get(&t, &nurse, "/staff/admission").await.text().await.unwrap();
        assert!(board.contains("已登记，待入院（1）") && board.contains("待确认（0）"), "{board}");

        // Another account knows nothing of it.
        let (_, stranger) = t.wechat_sign_in("oDemo_lina_0002").await;
        assert_eq!(get(&t, &stranger, &to).await.status(), 404);
        assert_eq!(post(&t, &stranger, &format!("{to}/cancel"), &[("confirmed", "1".into())]).await.status(), 404);

        // Cancelling asks first, then gives the HIS its day back; a late 入院提醒 would be stale.
        let page = post(&t, &cookie, &format!("{to}/cancel"), &[]).await.text().await.unwrap();
        assert!(page.contains("name=\"confirmed\"") && page.contains("释放为您预留的床位"), "{page}");
        assert_eq!(t.store.admission_booking(&no).await.unwrap().state, BookingState::Confirmed, "nothing happens before confirming");
        let r = post(&t, &cookie, &format!("{to}/cancel"), &[("confirmed", "1".into())]).await;
        assert_eq!(testkit::location(r.headers()), format!("{to}?done=cancelled"));
        assert_eq!(t.store.admission_booking(&no).await.unwrap().state, BookingState::Cancelled);
        assert_eq!(his_status(&t, &his_id, &notice).await, NoticeStatus::Open);
        // The notice may be booked again.
        let again = choose(&t, &cookie, patient, &notice, first, "GENERAL").await;
        assert!(again.starts_with("/inpatient/admission/RY") && again != to, "{again}");
    }
}

on_both_backends! {
    async fn a_lost_registration_answer_is_asked_again_and_a_full_day_is_proposed_around(backend) {
        let t = spawn(backend).await;
        let (cookie, patient, his_id, notice) = zhang(&t).await;
        let day = t.app.today() + Duration::days(5);
        let to = choose(&t, &cookie, patient, &notice, day, "GENERAL").await;
        let no = to.trim_start_matches("/inpatient/admission/").to_owned();
        let nurse = t.staff_sign_in("nurse01").await;
        let confirm = [("action", "confirm".to_owned()), ("name", "张伟".into()), ("wanted", "x".into()), ("note", "已预留6病区床位".into())];

        // The ward is full that day: the clerk is told, nothing moves.
        t.set_his_faults(json!({"full_admission_days": [day]})).await;
        assert_eq!(answer(&t, &nurse, &no, &confirm).await, "/staff/admission?error=ADMISSION_DAY_FULL");
        assert_eq!(t.store.admission_booking(&no).await.unwrap().state, BookingState::Requested);

        // The HIS registers but its answer is lost: the clerk sees an error; the booking has
        // not moved, and a proposal takes the HIS's registration back before the patient is asked.
        t.set_his_faults(json!({"lose_response_next": ["admission_register"]})).await;
        let to_board = answer(&t, &nurse, &no, &confirm).await;
        assert!(to_board.starts_with("/staff/admission?error=HIS_"), "{to_board}");
        assert_eq!(t.store.admission_booking(&no).await.unwrap().state, BookingState::Requested);
        assert!(matches!(his_status(&t, &his_id, &notice).await, NoticeStatus::Registered { .. }), "the HIS did register");
        let other = day + Duration::days(1);
        let propose = [("action", "propose".to_owned()), ("name", "张伟".into()), ("wanted", "x".into()), ("date", other.to_string()), ("bed_type", "GENERAL".into()), ("note", String::new())];
        assert_eq!(answer(&t, &nurse, &no, &propose).await, "/staff/admission?done=proposed");
        assert_eq!(his_status(&t, &his_id, &notice).await, NoticeStatus::Open, "the lost registration was taken back");

        // Confirming the patient's own choice from the proposal, with its answer lost once more:
        // asked again, the HIS answers the same registration.
        t.set_his_faults(json!({"lose_response_next": ["admission_register"]})).await;
        assert!(answer(&t, &nurse, &no, &confirm).await.starts_with("/staff/admission?error=HIS_"));
        assert_eq!(answer(&t, &nurse, &no, &confirm).await, "/staff/admission?done=confirmed");
        let b = t.store.admission_booking(&no).await.unwrap();
        let NoticeStatus::Registered { register_no, date, .. } = his_status(&t, &his_id, &notice).await else { panic!("registered") };
        assert_eq!((b.state, b.confirmed_date, b.register_no.as_deref(), date), (BookingState::Confirmed, Some(day), Some(register_no.as_str()), day));
        assert_eq!(b.office_note.as_deref(), Some("已预留6病区床位"));
        assert_eq!(b.handled_by.as_deref().map(|h| h.contains("nurse01")), Some(true));
        // The proposal nobody accepted is stale now: its queued notice is not sent.
        t.drain_jobs().await;
        let prompt = messages(&t, "admission.prompt", patient).await;
        assert_eq!(prompt.len(), 1);
        assert!(prompt[0].body.contains("已预留6病区床位") && prompt[0].body.contains(&day.to_string()), "{}", prompt[0].body);
        // A confirmed booking is not answered twice.
        assert_eq!(answer(&t, &nurse, &no, &propose).await, "/staff/admission?error=CONFLICT");
    }
}

on_both_backends! {
    async fn the_evening_before_the_patient_is_reminded_unless_the_booking_moved(backend) {
        // 2026-03-02 10:00 in Shenzhen.
        let at = chrono::DateTime::parse_from_rfc3339("2026-03-02T10:00:00+08:00").unwrap().with_timezone(&chrono::Utc);
        let (t, clock) = TestApp::spawn_at(backend, at).await;
        let (cookie, patient, his_id, notice) = zhang(&t).await;
        // A second notice (cardiology) for the same patient, booked for the same day.
        let r = TestApp::http().post(format!("{}/__sim/his/admission/notice", t.his_url)).json(&json!({"patientId": his_id, "profile": "cardiology"})).send().await.unwrap();
        let second: String = r.json::<serde_json::Value>().await.unwrap()["noticeNo"].as_str().unwrap().to_owned();
        let day = t.app.today() + Duration::days(4);
        let nurse = t.staff_sign_in("nurse01").await;
        let confirm = [("action", "confirm".to_owned()), ("name", "张伟".into()), ("wanted", "x".into()), ("note", String::new())];
        let mut nos = Vec::new();
        for n in [&notice, &second] {
            let no = choose(&t, &cookie, patient, n, day, "GENERAL").await.trim_start_matches("/inpatient/admission/").to_owned();
            assert_eq!(answer(&t, &nurse, &no, &confirm).await, "/staff/admission?done=confirmed");
            nos.push(no);
        }
        t.drain_jobs().await;
        let prompts_of = |list: &[store::messages::MessageRow], no: &str| list.iter().filter(|m| m.link.ends_with(no)).count();
        let prompts = messages(&t, "admission.prompt", patient).await;
        assert_eq!((prompts_of(&prompts, &nos[0]), prompts_of(&prompts, &nos[1])), (1, 1));
        // The second is given up before its evening.
        let r = post(&t, &cookie, &format!("/inpatient/admission/{}/cancel", nos[1]), &[("confirmed", "1".into())]).await;
        assert_eq!(testkit::location(r.headers()), format!("/inpatient/admission/{}?done=cancelled", nos[1]));
        // The evening before at 18:00: a second 入院提醒 for the booking that stands only.
        clock.advance(Duration::days(3) + Duration::hours(8) - Duration::minutes(1));
        t.drain_jobs().await;
        assert_eq!(messages(&t, "admission.prompt", patient).await.len(), 2, "not before its time");
        clock.advance(Duration::minutes(2));
        t.drain_jobs().await;
        let prompts = messages(&t, "admission.prompt", patient).await;
        assert_eq!((prompts_of(&prompts, &nos[0]), prompts_of(&prompts, &nos[1])), (2, 1));
        // The patient came in: the booking follows the HIS. (Three days on, the session has
        // lapsed: signed in again.)
        let r = TestApp::http().post(format!("{}/__sim/his/admission/{notice}/admit", t.his_url)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let page = get(&t, &cookie, &format!("/inpatient/admission/{}", nos[0])).await.text().await.unwrap();
        assert!(page.contains("已入院"), "{page}");
        assert_eq!(t.store.admission_booking(&nos[0]).await.unwrap().state, BookingState::Admitted);
        assert!(t.his_port.inpatient_stay(&his_id).await.unwrap().is_some(), "the stay began");
    }
}

on_both_backends! {
    async fn a_registration_lost_before_the_patient_chose_again_is_replaced_by_the_new_day(backend) {
        let t = spawn(backend).await;
        let (cookie, patient, his_id, notice) = zhang(&t).await;
        let (first, second) = (t.app.today() + Duration::days(3), t.app.today() + Duration::days(6));
        let to = choose(&t, &cookie, patient, &notice, first, "GENERAL").await;
        let no = to.trim_start_matches("/inpatient/admission/").to_owned();
        let nurse = t.staff_sign_in("nurse01").await;
        let confirm = [("action", "confirm".to_owned()), ("name", "张伟".into()), ("wanted", "x".into()), ("note", String::new())];
        t.set_his_faults(json!({"lose_response_next": ["admission_register"]})).await;
        assert!(answer(&t, &nurse, &no, &confirm).await.starts_with("/staff/admission?error=HIS_"));
        assert!(matches!(his_status(&t, &his_id, &notice).await, NoticeStatus::Registered { date, .. } if date == first));
        // The patient, seeing no answer, chooses another day; the office confirms that one.
        assert_eq!(choose(&t, &cookie, patient, &notice, second, "DOUBLE").await, to);
        assert_eq!(answer(&t, &nurse, &no, &confirm).await, "/staff/admission?done=confirmed");
        let b = t.store.admission_booking(&no).await.unwrap();
        assert_eq!((b.state, b.confirmed_date, b.bed_type.as_str()), (BookingState::Confirmed, Some(second), "DOUBLE"));
        let NoticeStatus::Registered { date, bed_type, register_no, .. } = his_status(&t, &his_id, &notice).await else { panic!("registered") };
        assert_eq!((date, bed_type.as_str(), Some(register_no)), (second, "DOUBLE", b.register_no));
    }
}
