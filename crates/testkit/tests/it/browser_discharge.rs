//! In headless Chromium at phone width: the discharge from the bed as a family and a nurse
//! do it. The nurse closes 黄强's account at the nurse station (confirmed first); his son
//! opens 出院结算 on the phone, sees the HIS's split and what is due, confirms, pays the
//! difference at the bank's cashier, and reads 出院结算成功 with the 出院小结 — medicines
//! and follow-up visit. Screenshots go to target/screenshots.
use fantoccini::Locator;
use std::time::Duration;
use testkit::browser::Browser;
use testkit::browser::journeys::{morning, sign_in_and_add_self, staff_sign_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_the_nurses_close_to_the_discharge_summary_on_the_phone() {
    let (t, _clock, b, base) = morning().await;
    let c = &b.client;
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;
    // His father 黄强, in hospital, as 就诊人.
    let huang = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == "黄强").unwrap();
    c.goto(&format!("{base}/patients/new")).await.unwrap();
    b.wait_for("#name").await.send_keys(&huang.name).await.unwrap();
    c.find(Locator::Id("id_card_no")).await.unwrap().send_keys(&huang.id_card_no).await.unwrap();
    c.find(Locator::Css("input[name='relationship'][value='parent']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    b.wait_for("#patient-list").await;

    // Before 封账 the stay page offers a top-up, not a discharge.
    c.goto(&format!("{base}/inpatient")).await.unwrap();
    b.wait_for("#top-up").await;
    assert!(c.find(Locator::Id("go-discharge")).await.is_err());

    // The nurse station: 黄强's row, 封账, the confirmation, done.
    let nurse = Browser::start(390, 844).await;
    staff_sign_in(&nurse, &t, &base, "nurse01").await;
    nurse.client.goto(&format!("{base}/staff/ward")).await.unwrap();
    let rows = nurse.client.find_all(Locator::Css("tr[data-inpatient]")).await.unwrap();
    let mut closed = false;
    for r in rows {
        if r.text().await.unwrap().contains("黄强") {
            r.find(Locator::Css("form button")).await.unwrap().click().await.unwrap();
            closed = true;
            break;
        }
    }
    assert!(closed, "黄强 is on the ward list");
    nurse.wait_for("input[name='confirmed']").await;
    assert!(nurse.text_of("body").await.contains("封账后不再记入新的费用"), "the confirmation says what happens");
    nurse.screenshot(&testkit::browser::screenshots_dir().join("ward-close-confirm.png")).await;
    let buttons = nurse.client.find_all(Locator::Css("form button")).await.unwrap();
    for btn in buttons {
        if btn.text().await.unwrap().contains("确认封账") {
            btn.click().await.unwrap();
            break;
        }
    }
    assert!(nurse.wait_for("#notice").await.text().await.unwrap().contains("已封账"));
    nurse.close().await;

    // The phone: 出院结算 with the split before anything is paid.
    c.goto(&format!("{base}/inpatient")).await.unwrap();
    b.click("#go-discharge").await;
    let quote = b.text_of("#quote").await;
    // 黄强 pays for himself (no insurance): the funds pay nothing, the share is the whole stay.
    assert!(quote.contains("医保基金支付 ¥0.00") && quote.contains("个人自付"), "{quote}");
    let due = b.text_of("#due").await;
    assert!(due.starts_with('¥'), "{due}");
    let (scroll, client): (i64, i64) = {
        let v = c.execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]", vec![]).await.unwrap();
        (v[0].as_i64().unwrap(), v[1].as_i64().unwrap())
    };
    assert!(scroll <= client, "the discharge page fits the phone: {scroll} > {client}");
    b.screenshot(&testkit::browser::screenshots_dir().join("discharge-quote.png")).await;
    b.click("#settle button").await;
    // The confirmation names the amount; only the second step opens the payment.
    // Wait for the confirmation itself: reading `body` right after the click can catch the
    // quote page as it goes away (a stale element, seen once in CI).
    let body = b.text_of("#confirmation").await;
    assert!(body.contains("需补缴") && body.contains(&due), "{body}");
    let confirm = b.text_of("#confirm").await;
    assert!(confirm.contains("确认并补缴"), "{confirm}");
    b.click("#confirm").await;
    b.click("#method-self_pay").await;
    b.click("#pay").await;
    testkit::browser::journeys::wait_paid(&b).await;

    // The result: settled, the balance paid, the summary with medicines and the follow-up.
    let mut settled = String::new();
    for _ in 0..60 {
        c.goto(&format!("{base}/inpatient")).await.unwrap();
        let to_discharge = match c.find(Locator::Css("#discharged a")).await {
            Ok(a) => a,
            Err(_) => c.find(Locator::Id("go-discharge")).await.unwrap(),
        };
        to_discharge.click().await.unwrap();
        if let Ok(a) = b.client.wait().at_most(Duration::from_secs(2)).for_element(Locator::Css("#under-way a")).await {
            a.click().await.unwrap();
            b.wait_for("#result").await;
            settled = b.text_of("body").await;
            if settled.contains("出院结算成功") && settled.contains("出院小结") {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(settled.contains("出院结算成功") && settled.contains("已补缴") && settled.contains(&due), "{settled}");
    assert!(settled.contains("塞来昔布胶囊") && settled.contains("复诊"), "{settled}");
    b.screenshot(&testkit::browser::screenshots_dir().join("discharge-summary.png")).await;
    b.close().await;
}
