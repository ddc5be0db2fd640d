//! Every patient page as an elderly patient's phone shows it: 390 CSS pixels wide, in the
//! normal and the large text size, after a journey that fills them (a booking, an order,
//! a stay in hospital). A page fails when it scrolls sideways, when the browser reports a
//! Content-Security-Policy violation (the policy's `report-uri` counts them on
//! `/metrics`), when it shows English a patient would have to read (anything but codes and
//! units), when it shows a deadline already past, or when the text-size switch does not
//! come back to the page it was on; in the evening, no slot of the day already over may be
//! offered.
use fantoccini::Locator;
use testkit::TestApp;
use testkit::browser::journeys::{book_first_free_slot, sign_in_and_add_self};
use testkit::browser::{Browser, past_deadlines, stray_english};

async fn csp_violations(t: &TestApp) -> u64 {
    let text = TestApp::http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
    text.lines()
        .filter(|l| l.starts_with("carebridge_csp_violations_total"))
        .filter_map(|l| l.rsplit(' ').next().and_then(|n| n.parse::<f64>().ok()))
        .map(|n| n as u64)
        .sum()
}

/// Horizontal overflow of the page as laid out now: (scroll width, viewport width).
async fn widths(b: &Browser) -> (u64, u64) {
    let v = b.client.execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth];", vec![]).await.unwrap();
    (v[0].as_u64().unwrap_or(0), v[1].as_u64().unwrap_or(0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_patient_page_fits_a_phone_in_both_text_sizes_under_the_csp() {
    let now = chrono::Utc::now();
    // 08:10: after the quiet hours, so notices are delivered as they happen.
    let morning = domain::clock::local_to_utc(domain::clock::to_local(now).date_naive().and_hms_opt(8, 10, 0).unwrap());
    let clock = domain::FakeClock::new(morning);
    let t = TestApp::spawn_with(testkit::TestBackend::Sqlite, std::sync::Arc::new(clock.clone()), |_| {}).await;
    let b = Browser::phone(390, 844).await;
    let base = t.base.replace("127.0.0.1", "localhost");

    // A family with things to show: 张伟 (self), his father 黄强 in hospital, a booking
    // waiting to be paid.
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;
    let (_, api_cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    let huang = t.add_demo_patient(&api_cookie, "黄强", "parent").await;
    // 吴秀英's discharge: the account closed and the settlement done, for its pages.
    let wu = t.add_demo_patient(&api_cookie, "吴秀英", "parent").await;
    let zhang_account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
    let wu_his = t.store.patient_by_id(wu).await.unwrap().unwrap().his_patient_id;
    t.app.close_stay_account(&wu_his, &app::Actor::system("crawl"), "crawl").await.unwrap();
    let quote = t.app.discharge_view(zhang_account, wu).await.unwrap().unwrap().quote.unwrap().0.pre_settle_id;
    let (discharge_no, _) = t.app.confirm_discharge(zhang_account, wu, &quote, &app::Actor::system("crawl")).await.unwrap();
    t.drain_jobs().await;
    // 黄强's account closed too, his discharge not started: the page with the split and the balance due.
    let huang_his = t.store.patient_by_id(huang).await.unwrap().unwrap().his_patient_id;
    t.app.close_stay_account(&huang_his, &app::Actor::system("crawl"), "crawl").await.unwrap();
    book_first_free_slot(&b, &clock, &base, "0101", None).await;
    let order_page = b.client.current_url().await.unwrap().path().to_owned();
    b.client.goto(&format!("{base}/registrations")).await.unwrap();
    let booking = b.wait_for("#registrations li a").await.attr("href").await.unwrap().unwrap_or_default();
    let order_no = order_page.trim_start_matches("/pay/").to_owned();

    let pages = [
        "/".to_owned(),
        "/patients".into(),
        "/patients/new".into(),
        "/departments".into(),
        "/departments/0101".into(),
        "/registrations".into(),
        booking,
        order_page,
        format!("/pay/{order_no}/result"),
        "/bills".into(),
        "/fees".into(),
        "/payments".into(),
        "/reports".into(),
        "/messages".into(),
        "/messages/settings".into(),
        "/consents".into(),
        "/children".into(),
        "/children/bind".into(),
        "/inpatient".into(),
        format!("/inpatient/fees?patient={huang}"),
        format!("/inpatient/discharge?patient={huang}"),
        format!("/inpatient/discharge?patient={wu}"),
        format!("/inpatient/discharge/{discharge_no}"),
        "/card".into(),
        "/face".into(),
        "/agreements/service".into(),
        "/agreements/privacy".into(),
    ];
    // Notices of the journey, through the message platform, to read on their pages.
    let zhang_id = t.store.list_patients(t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap()).await.unwrap()[0].id;
    // 张伟's admission notice booked and confirmed by the office: the notice page and the
    // booking's page with what to bring and the way there (and its 入院提醒 below).
    let zhang_his = t.store.patient_by_id(zhang_id).await.unwrap().unwrap().his_patient_id;
    let notice = t.his_port.admission_notices(&zhang_his).await.unwrap()[0].notice_no.clone();
    let crawl = app::Actor::system("crawl");
    let admission = t.app.request_admission(zhang_account, zhang_id, &notice, t.app.today() + chrono::Duration::days(3), "DOUBLE", &crawl).await.unwrap();
    let confirm = app::inpatient::admission_booking::OfficeAnswer::Confirm { note: "已预留6病区床位" };
    t.app.answer_admission_booking(&admission, confirm, &crawl, "crawl").await.unwrap();
    let pages: Vec<String> = pages
        .into_iter()
        .chain([format!("/inpatient/admission?patient={zhang_id}"), format!("/inpatient/admission/{admission}"), format!("/face/{zhang_id}/consent")])
        .collect();
    // A record-copy application by an agent sent by courier, every step answered and both
    // ID cards taken: the list, each step's page and the application.
    let record = record_application_to_review(&t, zhang_account, zhang_id, &zhang_his).await;
    let pages: Vec<String> = pages
        .into_iter()
        .chain(std::iter::once("/records".to_owned()))
        .chain(["relation", "encounter", "purpose", "sections", "copies", "photos", "delivery", "review"].iter().map(|s| format!("/records/{record}/step/{s}")))
        .chain(std::iter::once(format!("/records/{record}")))
        .collect();
    let exam = serde_json::json!({"exam_name": "腹部超声", "scheduled_at": "明天 08:30", "place": "门诊楼2层B超室", "precautions": "检查前8小时禁食", "destination": ""});
    assert!(t.emit_event("exam.precautions", "crawl:exam", zhang_id, exam).await);
    assert!(t.emit_event("hospital.notice", "crawl:notice", zhang_id, serde_json::json!({"title": "门诊通知", "body": "请按时就诊"})).await);
    // A blood test sampled this morning (rejected in the evening, below).
    let his_id = t.store.patient_by_id(zhang_id).await.unwrap().unwrap().his_patient_id;
    let lab_events = t.store.recent_lab_events(1000).await.unwrap().len();
    let r = TestApp::http()
        .post(format!("{}/__sim/lis/orders", t.his_url))
        .json(&serde_json::json!({"patient_id": his_id, "item_code": "250101001"}))
        .send()
        .await
        .unwrap();
    let lab_order = r.json::<serde_json::Value>().await.unwrap()["orderNo"].as_str().unwrap().to_owned();
    TestApp::http().post(format!("{}/__sim/lis/orders/{lab_order}/sample?files=pdf", t.his_url)).send().await.unwrap();
    for _ in 0..200 {
        if t.store.recent_lab_events(1000).await.unwrap().len() >= lab_events + 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    // Every message the journey produced, opened.
    t.drain_jobs().await;
    let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
    let messages: Vec<String> = t.store.inbox(account, None, 50).await.unwrap().into_iter().map(|m| format!("/messages/{}", m.message_no)).collect();
    assert!(!messages.is_empty(), "the journey produced messages");
    // 吴秀英's 住院 e-invoice, and the list it is on.
    let invoices: Vec<String> =
        t.store.invoices_of(&format!("discharge:{discharge_no}")).await.unwrap().iter().map(|i| format!("/invoices/{}", i.id)).collect();
    assert_eq!(invoices.len(), 1, "the settled stay has its invoice");
    let pages: Vec<String> = pages.into_iter().chain(messages).chain(std::iter::once("/invoices".to_owned())).chain(invoices).collect();
    let mut overflowing = vec![];
    let mut english = vec![];
    let mut unconfirmed = vec![];
    let mut past = vec![];
    for size in ["normal", "large"] {
        b.client.goto(&format!("{base}/settings/text-size?size={size}&back=%2F")).await.unwrap();
        for p in &pages {
            b.client.goto(&format!("{base}{p}")).await.unwrap();
            b.wait_for("footer").await;
            let (scroll, client) = widths(&b).await;
            if scroll > client {
                overflowing.push(format!("{p} ({size}): {scroll} > {client}"));
                b.shot(&format!("overflow-{size}{}.png", p.replace('/', "_"))).await;
            }
            // An irreversible form goes to a confirmation step first: it must not carry the
            // confirmation itself.
            for form in b.client.find_all(Locator::Css("form[method='post']")).await.unwrap() {
                let action = form.attr("action").await.unwrap().unwrap_or_default();
                let irreversible = ["/cancel", "/delete", "/unbind", "/rebook", "/remove"].iter().any(|w| action.contains(w));
                if irreversible && form.find(Locator::Css("input[name='confirmed']")).await.is_ok() {
                    unconfirmed.push(format!("{p}: {action}"));
                }
            }
            let text = b.text_of("body").await;
            let stray = stray_english(&text);
            if !stray.is_empty() {
                english.push(format!("{p}: {stray:?}"));
            }
            let now = domain::clock::to_local(t.app.now()).naive_local();
            let late = past_deadlines(&text, now);
            if !late.is_empty() {
                past.push(format!("{p}: {late:?}"));
            }
        }
    }
    b.shot("pages-large-last.png").await;
    // The switch comes back to the page it was pressed on.
    b.client.goto(&format!("{base}/payments")).await.unwrap();
    b.client.find(Locator::Css("a[href^='/settings/text-size']")).await.unwrap().click().await.unwrap();
    b.wait_for("footer").await;
    assert_eq!(b.client.current_url().await.unwrap().path(), "/payments", "the text-size switch keeps the page");
    // The sign-in page's agreements are real pages; the site has its icon.
    let privacy = TestApp::http().get(t.url("/agreements/privacy")).send().await.unwrap().text().await.unwrap();
    assert!(privacy.contains("个人信息保护政策") && privacy.contains("加密存储"));
    let icon = TestApp::http().get(t.url("/favicon.ico")).send().await.unwrap();
    assert_eq!((icon.status().as_u16(), icon.headers()["content-type"].to_str().unwrap()), (200, "image/svg+xml"));
    // Tapping 取消预约 asks first (under the CSP, without script) and changes nothing.
    b.client.goto(&format!("{base}{}", pages[6])).await.unwrap();
    b.click("#cancel-booking").await;
    b.wait_for("input[name='confirmed']").await;
    assert!(b.text_of("body").await.contains("号源将释放"), "the confirmation says what happens");
    let (scroll, client) = widths(&b).await;
    assert!(scroll <= client, "the confirmation fits the phone: {scroll} > {client}");
    let still = TestApp::http()
        .get(t.url(&format!("/api/v1/me/registrations{}", pages[6].trim_start_matches("/registrations"))))
        .header("cookie", &api_cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(still.json::<serde_json::Value>().await.unwrap()["state"], "locked", "nothing happened before the confirmation");
    // In the evening (19:36, when the issue found it) nothing of the day already over is
    // offered: no session whose slots have all ended, no enabled slot that has ended.
    let evening = domain::clock::local_to_utc(domain::clock::to_local(t.app.now()).date_naive().and_hms_opt(19, 36, 0).unwrap());
    clock.set(evening);
    t.app.refresh_department("0101");
    let now = domain::clock::to_local(evening).naive_local();
    let today = now.date().format("S%Y%m%d").to_string();
    b.client.goto(&format!("{base}/departments/0101")).await.unwrap();
    b.wait_for("footer").await;
    let mut bookable_past = vec![];
    let mut sessions = vec![];
    for a in b.client.find_all(Locator::Css("a[href^='/book/0101/']")).await.unwrap() {
        sessions.push(a.attr("href").await.unwrap().unwrap_or_default());
    }
    for href in sessions.iter().filter(|h| h.contains(&today)) {
        b.client.goto(&format!("{base}{href}")).await.unwrap();
        b.wait_for("footer").await;
        for slot in b.client.find_all(Locator::Css("input[name='slot_id']:not([disabled])")).await.unwrap() {
            let label = slot.find(Locator::XPath("..")).await.unwrap().text().await.unwrap();
            let end = label.split_whitespace().next().and_then(|t| t.split('-').nth(1)).and_then(|e| chrono::NaiveTime::parse_from_str(e, "%H:%M").ok());
            if end.is_none_or(|e| now.date().and_time(e) <= now) {
                bookable_past.push(format!("{href}: {label}"));
            }
        }
        let open_slots = b.client.find_all(Locator::Css("input[name='slot_id']:not([disabled])")).await.unwrap().len();
        let full = b.client.find_all(Locator::Css("label.choice.full")).await.unwrap().len();
        if open_slots == 0 && full == 0 {
            bookable_past.push(format!("{href}: a session already over is offered (预约 on the department page)"));
        }
        if open_slots == 0 && b.client.find(Locator::Id("submit-booking")).await.is_ok() {
            bookable_past.push(format!("{href}: 提交预约 offered with no slot left"));
        }
    }
    // The lab finds the morning's sample unusable in the evening: the console's instruction
    // (the lab's default, from its hours and the time) reaches the patient with a deadline
    // still ahead.
    let lab = t.staff_sign_in("lab01").await;
    let instruction = t.app.default_resample_instruction();
    let form = [("reason", "标本溶血"), ("instruction", instruction.as_str()), ("confirmed", "1")];
    let r = TestApp::http().post(t.url(&format!("/staff/lab/{lab_order}/reject"))).header("cookie", &lab).form(&form).send().await.unwrap();
    assert!(testkit::location(r.headers()).contains("done="), "{:?}", r.headers());
    t.drain_jobs().await;
    // Eleven hours on, the session has ended: sign in again, as the patient would.
    b.client.goto(&format!("{base}/wx/login?next=%2Fmessages")).await.unwrap();
    b.click("button[data-openid='oDemo_zhangwei_0001']").await;
    b.wait_for("#messages").await;
    // Newest first: this evening's notice (the demo LIS's own, from the morning, is older).
    let told = t
        .store
        .inbox(account, None, 50)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.scene == "specimen.abnormal" && m.body.contains("标本溶血"))
        .expect("the patient is told");
    for p in ["/messages".to_owned(), format!("/messages/{}", told.message_no)] {
        b.client.goto(&format!("{base}{p}")).await.unwrap();
        let text = b.text_of("body").await;
        // The list holds the morning's notices too, whose deadlines were ahead when sent.
        let late = if p == "/messages" { vec![] } else { past_deadlines(&text, now) };
        if !late.is_empty() {
            past.push(format!("{p} at 19:36: {late:?}"));
        }
        let stray = stray_english(&text);
        if !stray.is_empty() {
            english.push(format!("{p}: {stray:?}"));
        }
    }
    // Give the browser a moment to deliver its reports.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let violations = csp_violations(&t).await;
    b.close().await;
    assert!(overflowing.is_empty(), "pages wider than the phone: {overflowing:#?}");
    assert!(unconfirmed.is_empty(), "irreversible actions without a confirmation step: {unconfirmed:#?}");
    assert!(english.is_empty(), "English a patient would read (not a code or unit): {english:#?}");
    assert!(past.is_empty(), "deadlines already past when shown: {past:#?}");
    assert!(bookable_past.is_empty(), "past slots offered for booking at 19:36: {bookable_past:#?}");
    assert_eq!(violations, 0, "the browser reported Content-Security-Policy violations (see the test log for which pages)");
}

/// A record-copy application brought to its review page through the use cases, as the
/// phone would: an agent, a stay, two sections, two copies, the photos, an express address.
async fn record_application_to_review(t: &TestApp, account: i64, patient: i64, his_patient_id: &str) -> String {
    use app::records::StepInput;
    use domain::records::{Address, Applicant, Delivery, Purpose, Section};
    let actor = app::Actor::patient_account(account, "crawl");
    let no = t.app.start_record_application(account, patient, &actor).await.unwrap();
    let stay = t.his_port.record_encounters(his_patient_id).await.unwrap().into_iter().find(|e| e.inpatient).expect("an archived stay").encounter_id;
    let address = Address {
        name: "王芳".into(),
        mobile: "13800138000".into(),
        province: "广东省".into(),
        city: "深圳市".into(),
        county: "南山区".into(),
        detail: "科技园科苑路15号创新大厦A座1201室".into(),
    };
    for step in [
        StepInput::Relation(Applicant::Agent),
        StepInput::Encounter(stay),
        StepInput::Purpose(Purpose::CommercialInsurance),
        StepInput::Sections(vec![Section::DischargeNote, Section::FrontSheet]),
        StepInput::Copies(2),
    ] {
        t.app.save_record_step(account, &no, step, &actor).await.unwrap();
    }
    let mut jpeg = Vec::new();
    uploads::id_card::synthetic_frame().write_to(&mut std::io::Cursor::new(&mut jpeg), image::ImageFormat::Jpeg).unwrap();
    for d in ["patient_id_front", "patient_id_back", "applicant_id_front", "applicant_id_back", "authorisation"] {
        let token = t.app.mint_capture_token(account, &no, d).await.unwrap();
        t.app.upload_record_photo(account, &no, d, &token, jpeg.clone(), &actor).await.unwrap();
    }
    t.app.save_record_step(account, &no, StepInput::Delivery(Delivery::Express, Some(address)), &actor).await.unwrap();
    no
}
