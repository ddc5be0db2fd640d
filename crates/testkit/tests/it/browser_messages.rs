//! In headless Chromium at phone width, the message platform as a patient and the office
//! see it: 张伟 books and pays, finds 挂号成功提醒 in the message centre and in the
//! WeChat simulator's service notifications, and both deep links open the booking; the
//! HIS pushes a critical value from its console, which 张伟 acknowledges; he recharges
//! his visiting card and is told; he mutes a category; the outpatient office reads the
//! message log and previews a template.
//!
//! Screenshots go to target/screenshots.
use fantoccini::Locator;
use testkit::browser::journeys::{morning, sign_in_and_add_self, staff_sign_in, wait_confirmed, wait_paid};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn booking_notice_deep_links_critical_value_acknowledged_and_console() {
    // Late evening would leave no slot today; the fake clock starts this morning.
    let (t, clock, b, base) = morning().await;

    // Book and pay.
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;
    b.client.goto(&format!("{base}/departments/0101")).await.unwrap();
    b.click("a.btn.small[href^='/book/0101/']").await;
    b.click("input[name='slot_id']:not([disabled])").await;
    clock.advance(chrono::Duration::seconds(3));
    b.click("#submit-booking").await;
    b.click("#method-self_pay").await;
    b.click("#pay").await;
    wait_paid(&b).await;
    wait_confirmed(&b, &base).await;
    let booking_no = b.wait_for("#registrations li").await.attr("data-booking").await.unwrap().unwrap();

    // The home page counts the unread notice; the message centre has it.
    let mut seen = false;
    for _ in 0..60 {
        b.client.goto(&format!("{base}/")).await.unwrap();
        if b.client.find(Locator::Css("#tile-messages .badge")).await.is_ok() {
            seen = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(seen, "the unread badge appears");
    b.shot("home-unread.png").await;
    b.click("#tile-messages").await;
    let item = b.wait_for("#messages li[data-scene='booking.confirmed']").await;
    assert!(item.text().await.unwrap().contains("挂号成功"));
    b.shot("messages-inbox.png").await;
    b.click("#messages li[data-scene='booking.confirmed'] a").await;
    let body = b.text_of("#body").await;
    assert!(body.contains("您已成功预约") && body.contains("请按时就诊"), "{body}");
    assert!(b.text_of("#message").await.contains("公众号模板消息"), "it says how it was delivered");
    b.shot("message-detail.png").await;
    // Its deep link opens the booking (the order detail, the patient's quick entry).
    b.click("#open").await;
    assert!(!b.text_of("#see-no").await.is_empty());
    assert!(b.client.current_url().await.unwrap().path().ends_with(&format!("/registrations/{booking_no}")));

    // The WeChat simulator's service notifications show the same notice; tapping it opens
    // the booking too.
    b.client.goto(&format!("{}/__sim/wechat/inbox?openid=oDemo_zhangwei_0001", t.wechat_url)).await.unwrap();
    let msg = b.wait_for("li.msg[data-template='TM_BOOKING_CONFIRMED']").await;
    assert!(msg.text().await.unwrap().contains("thing1"));
    b.shot("wechat-service-notifications.png").await;
    b.click("li.msg[data-template='TM_BOOKING_CONFIRMED'] a.open").await;
    assert!(!b.text_of("#see-no").await.is_empty(), "the deep link from WeChat opens the booking");

    // The lab's critical value, pushed from the HIS console through the open interface.
    let his_id = {
        let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
        t.app.list_patients(account).await.unwrap()[0].his_patient_id.clone()
    };
    b.client.goto(&format!("{}/__sim/his/events", t.his_url)).await.unwrap();
    b.wait_for(&format!("#patient option[value='{his_id}']")).await.click().await.unwrap();
    b.click("#event option[value='critical_value']").await;
    b.click("#fire").await;
    let result = b.wait_for("#result").await;
    assert_eq!(result.attr("data-status").await.unwrap().as_deref(), Some("202"), "{}", result.text().await.unwrap());
    b.shot("his-events-console.png").await;
    b.client.goto(&format!("{base}/messages")).await.unwrap();
    b.click("#pinned li[data-scene='critical_value'] a").await;
    assert!(b.text_of("#body").await.contains("危急值"));
    b.shot("critical-value.png").await;
    b.click("#ack").await;
    assert!(b.text_of("#acknowledged").await.contains("已确认"));

    // Recharge the visiting card: pay at the bank; the success notice arrives.
    b.client.goto(&format!("{base}/card")).await.unwrap();
    b.wait_for("#card").await;
    b.shot("card-recharge.png").await;
    b.click("#recharge button[type=submit]").await;
    b.click("#method-self_pay").await;
    b.click("#pay").await;
    wait_paid(&b).await;
    let mut recharged = false;
    for _ in 0..60 {
        b.client.goto(&format!("{base}/messages")).await.unwrap();
        if b.client.find(Locator::Css("#messages li[data-scene='card.recharged']")).await.is_ok() {
            recharged = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(recharged, "就诊卡充值成功提醒 in the message centre");
    b.client.goto(&format!("{base}/card")).await.unwrap();
    assert_eq!(b.text_of("#balance").await, "¥200.00");

    // Preferences: mute medicine notices; critical ones stay on.
    b.client.goto(&format!("{base}/messages/settings")).await.unwrap();
    b.click("input[name='push'][value='medicine']").await;
    b.shot("message-settings.png").await;
    b.click("#save").await;
    assert!(b.text_of("[role=status]").await.contains("已保存"));
    let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
    assert_eq!(t.store.muted_categories(account).await.unwrap(), vec!["medicine".to_string()]);

    // The office's console: the log, a message's tries, a template preview.
    staff_sign_in(&b, &t, &base, "outpatient01").await;
    b.click("a[href='/staff/messages']").await;
    let log = b.text_of("#messages").await;
    assert!(log.contains("挂号成功提醒") && log.contains("危急值通知"), "{log}");
    b.shot("staff-messages.png").await;
    b.click("#messages tr[data-status='sent'] a").await;
    assert!(b.text_of("#deliveries").await.contains("公众号模板消息"));
    b.client.goto(&format!("{base}/staff/messages/templates/booking.confirmed/inbox")).await.unwrap();
    b.click("#preview").await;
    assert!(b.text_of("#preview-result").await.contains("示例"));
    b.shot("staff-template-preview.png").await;
    b.close().await;
}
