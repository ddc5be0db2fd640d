//! In headless Chromium at phone width, the registration journeys of issue 4:
//! 1. 张伟 (tier 1) books a slot (department → doctor's session → slot → submit) and pays
//!    self-pay; the booking shows 预约成功 with its number;
//! 2. 王芳 (tier 2, no referral) books 内科 and sees the 医保挂号异常提醒 with no insurance
//!    option; she binds her two children's 少儿医保 (pay-password verification) and pays
//!    赵小雨's 儿科 registration with 少儿医保;
//! 3. 陈静 (tier 3, no referral, a 家庭共济 grant) pays her registration through the
//!    family channel;
//! 4. an unpaid booking's pay page names the visit and counts its hold down to zero.
//!
//! Screenshots go to target/screenshots.
use fantoccini::Locator;
use testkit::browser::Browser;
use testkit::browser::journeys::{book_first_free_slot, morning, sign_in_and_add_self, sign_out, staff_sign_in, wait_confirmed, wait_paid};

/// 医保 authorisation → split shown → 医保 cashier → (bank for the rest) → paid.
async fn pay_with_insurance(b: &Browser, method: &str) -> String {
    b.click(&format!("#method-{method}")).await;
    b.click("#allow").await;
    let split = b.text_of("#split").await;
    let rest = b.text_of("#self-pay").await;
    b.click("#confirm-insurance").await;
    b.click("#confirm").await;
    if rest != "¥0.00" {
        b.click("#pay-rest").await;
        b.click("#pay").await;
    }
    wait_paid(b).await;
    split
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_journeys_self_pay_refusal_children_and_family_channel() {
    // Late evening would leave no slot today; the fake clock starts this morning.
    let (t, clock, b, base) = morning().await;

    // 1. 张伟 books and pays self-pay.
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;
    b.client.goto(&format!("{base}/departments/0101")).await.unwrap();
    b.shot("department-book.png").await;
    b.click("a.btn.small[href^='/book/0101/']").await;
    b.click("input[name='slot_id']:not([disabled])").await;
    b.shot("book-slot.png").await;
    clock.advance(chrono::Duration::seconds(3));
    b.click("#submit-booking").await;
    assert!(b.text_of("#order").await.contains("挂号费"));
    assert!(b.client.find(Locator::Id("method-insurance")).await.is_ok(), "tier 1 may use insurance");
    b.click("#method-self_pay").await;
    b.click("#pay").await;
    wait_paid(&b).await;
    let row = wait_confirmed(&b, &base).await;
    assert!(row.contains("预约成功") && row.contains("就诊序号"), "{row}");
    b.click("#registrations li a").await;
    assert!(!b.text_of("#see-no").await.is_empty());
    b.shot("booking-confirmed.png").await;
    sign_out(&b, &base).await;

    // 2. 王芳: tier 2 without a referral is refused insurance, with the notice.
    sign_in_and_add_self(&b, &t, &base, "oDemo_wangfang_0003", "王芳").await;
    book_first_free_slot(&b, &clock, &base, "0101", None).await;
    let notice = b.text_of("#insurance-notice").await;
    assert!(notice.contains("医保挂号异常提醒") && notice.contains("转诊"), "{notice}");
    assert!(b.client.find(Locator::Id("method-insurance")).await.is_err(), "no insurance option");
    b.wait_for("#method-self_pay").await;
    b.shot("booking-insurance-exception.png").await;
    // She binds both children (one known to the HIS, one registered on the way).
    for (child, from) in [("赵小雨", "si_notice"), ("赵小川", "esscard")] {
        let c = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == child).unwrap();
        b.client.goto(&format!("{base}/children/bind?from={from}")).await.unwrap();
        b.wait_for("#name").await.send_keys(&c.name).await.unwrap();
        b.client.find(Locator::Id("id_card_no")).await.unwrap().send_keys(&c.id_card_no).await.unwrap();
        b.click("#consent").await;
        b.click("#submit-binding").await;
        b.wait_for("#pay-password").await.send_keys(sim::nhsa::DEMO_PAY_PASSWORD).await.unwrap();
        b.click("#verify").await;
        assert!(b.text_of("#bind-ok").await.contains("绑定成功"));
    }
    assert_eq!(b.client.find_all(Locator::Css("#bound-children li")).await.unwrap().len(), 2);
    b.shot("children-bound.png").await;
    // 赵小雨's 儿科 registration, paid with 少儿医保.
    let account = t.store.wechat_account_id("oDemo_wangfang_0003").await.unwrap().unwrap();
    let tail = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == "赵小雨").unwrap().id_card_no[14..].to_owned();
    let xiaoyu = t.app.list_patients(account).await.unwrap().into_iter().find(|p| p.id_no_masked.ends_with(&tail)).unwrap().id;
    book_first_free_slot(&b, &clock, &base, "0103", Some(xiaoyu)).await;
    b.shot("pay-child-insurance.png").await;
    let split = pay_with_insurance(&b, "child_insurance").await;
    assert!(split.contains("医保统筹支付"), "{split}");
    let row = wait_confirmed(&b, &base).await;
    assert!(row.contains("儿科"), "{row}");
    sign_out(&b, &base).await;

    // 3. 陈静: no referral, but a relative's 家庭共济 grant pays.
    sign_in_and_add_self(&b, &t, &base, "oDemo_newcomer_0004", "陈静").await;
    book_first_free_slot(&b, &clock, &base, "0101", None).await;
    assert!(b.text_of("#insurance-notice").await.contains("家庭共济"));
    b.shot("pay-mutual-aid.png").await;
    let split = pay_with_insurance(&b, "mutual_aid").await;
    assert!(split.contains("家庭共济支付"), "{split}");
    let row = wait_confirmed(&b, &base).await;
    assert!(row.contains("预约成功"), "{row}");
    b.shot("booking-mutual-aid-confirmed.png").await;

    // 4. An unpaid booking: the pay page names the visit and counts the hold down; at zero it
    //    stops offering payment (the script counts from the server's seconds, not the phone's clock).
    book_first_free_slot(&b, &clock, &base, "0102", None).await;
    let visit = b.text_of("#visit").await;
    assert!(visit.contains("医生") && visit.contains("就诊时间"), "{visit}");
    let left: i64 = b.wait_for("#hold").await.attr("data-seconds-left").await.unwrap().unwrap().parse().unwrap();
    assert!(left > 60, "{left}");
    b.shot("pay-hold.png").await;
    clock.advance(chrono::Duration::seconds(left - 2));
    b.client.refresh().await.unwrap();
    b.client
        .wait()
        .at_most(std::time::Duration::from_secs(8))
        .for_element(fantoccini::Locator::Css("#hold.expired"))
        .await
        .expect("the countdown reaches zero");
    assert!(b.text_of("#hold").await.contains("支付时间已到"));
    let pay = b.wait_for("#method-self_pay").await;
    assert!(!pay.is_enabled().await.unwrap(), "no payment is offered after the hold");

    // The outpatient office sees the day's sessions with their bookings.
    staff_sign_in(&b, &t, &base, "outpatient01").await;
    let home = b.text_of("body").await;
    assert!(home.contains("出诊管理"), "{home}");
    b.click("a[href='/staff/outpatient/sessions']").await;
    let sessions = b.text_of("main").await;
    assert!(sessions.contains("已预约"), "{sessions}");
    b.shot("staff-sessions.png").await;
    b.close().await;
}
