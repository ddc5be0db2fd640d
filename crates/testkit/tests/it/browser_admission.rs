//! In headless Chromium at phone width: admission booking (住院登记预约, OTH-5) as a patient
//! and the admission office do it. 张伟 opens his orthopaedic admission notice, chooses a
//! day and a double room; the office confirms it (asked first) and the phone shows the
//! day, what to bring and the way to the admission centre; cancelling asks first.
//! Screenshots go to target/screenshots.
use fantoccini::Locator;
use testkit::browser::Browser;
use testkit::browser::journeys::{morning, sign_in_and_add_self, staff_sign_in};

async fn fits(b: &Browser) -> bool {
    let v = b.client.execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]", vec![]).await.unwrap();
    v[0].as_i64().unwrap() <= v[1].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_books_the_admission_and_the_office_confirms_it() {
    let (t, _clock, b, base) = morning().await;
    let c = &b.client;
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;

    // The notice from the home page's tile; the first day it allows is offered.
    c.goto(&format!("{base}/")).await.unwrap();
    b.click("#tile-admission").await;
    let notice = b.text_of(".admission-notice").await;
    assert!(notice.contains("骨科 · 入院通知单") && notice.contains("王志刚") && notice.contains("入院前注意"), "{notice}");
    let first = (t.app.today() + chrono::Duration::days(2)).to_string();
    assert_eq!(c.find(Locator::Id("date")).await.unwrap().prop("value").await.unwrap().as_deref(), Some(first.as_str()));
    assert!(fits(&b).await, "the notice fits the phone");
    c.find(Locator::Css("input[name='bed_type'][value='DOUBLE']")).await.unwrap().click().await.unwrap();
    b.screenshot(&testkit::browser::screenshots_dir().join("admission-notice.png")).await;
    b.click("#submit-choice").await;
    let state = b.text_of("#state").await;
    assert!(state.contains("待住院服务中心确认"), "{state}");
    assert!(b.text_of("#wanted").await.contains(&format!("{first} · 双人间")));
    let booking_page = c.current_url().await.unwrap().path().to_owned();

    // The office: the row, 确认登记, the confirmation, done.
    let nurse = Browser::start(390, 844).await;
    staff_sign_in(&nurse, &t, &base, "nurse01").await;
    nurse.client.goto(&format!("{base}/staff")).await.unwrap();
    nurse.client.find(Locator::Css("a[href='/staff/admission']")).await.unwrap().click().await.unwrap();
    let row = nurse.wait_for(".office-row").await;
    assert!(row.text().await.unwrap().contains("张伟"));
    row.find(Locator::Css("input[name='note']")).await.unwrap().send_keys("已预留6病区床位").await.unwrap();
    row.find(Locator::Css("form button")).await.unwrap().click().await.unwrap();
    nurse.wait_for("input[name='confirmed']").await;
    assert!(nurse.text_of("body").await.contains("将在HIS中登记入院"), "the confirmation says what happens");
    nurse.screenshot(&testkit::browser::screenshots_dir().join("admission-office-confirm.png")).await;
    for btn in nurse.client.find_all(Locator::Css("form button")).await.unwrap() {
        if btn.text().await.unwrap().contains("确认登记") {
            btn.click().await.unwrap();
            break;
        }
    }
    assert!(nurse.wait_for("#notice").await.text().await.unwrap().contains("已登记入院"));
    assert!(nurse.text_of("#confirmed").await.contains("张伟"));
    nurse.close().await;

    // The phone: confirmed, with the day, what to bring, the office's word and the way there.
    c.goto(&format!("{base}{booking_page}")).await.unwrap();
    assert!(b.text_of("#state").await.contains("已确认"));
    let guide = b.text_of("#admission-guide").await;
    assert!(guide.contains(&first) && guide.contains("住院楼1楼住院服务中心") && guide.contains("请携带") && guide.contains("禁食"), "{guide}");
    assert!(b.text_of("#office-note").await.contains("已预留6病区床位"));
    let route = c.find(Locator::Id("route")).await.unwrap().attr("href").await.unwrap().unwrap_or_default();
    assert!(route.contains("/nav/route/"), "{route}");
    assert!(fits(&b).await, "the booking page fits the phone");
    b.screenshot(&testkit::browser::screenshots_dir().join("admission-confirmed.png")).await;
    // Cancelling asks first and changes nothing until confirmed.
    b.click("#cancel").await;
    let confirmation = b.text_of("#confirmation").await;
    assert!(confirmation.contains("释放为您预留的床位"), "{confirmation}");
    c.goto(&format!("{base}{booking_page}")).await.unwrap();
    assert!(b.text_of("#state").await.contains("已确认"));
    b.close().await;
}
