//! In headless Chromium: a patient pays an outpatient bill with insurance plus self-pay
//! (医保 authorisation → split shown → 医保 cashier → bank cashier → result page that only
//! says success once the money is confirmed), then a finance officer refunds it from the
//! console with a fresh second factor, and the patient sees the refund. Screenshots go
//! to target/screenshots.
use chrono::Utc;
use domain::FakeClock;
use fantoccini::Locator;
use std::sync::Arc;
use std::time::Duration;
use testkit::browser::Browser;
use testkit::{TestApp, TestBackend};

async fn wait_for(b: &Browser, css: &str) -> fantoccini::elements::Element {
    b.wait_for(css).await
}

async fn text_of(b: &Browser, css: &str) -> String {
    b.text_of(css).await
}

async fn click(b: &Browser, css: &str) {
    b.click(css).await
}

fn shots() -> std::path::PathBuf {
    testkit::browser::screenshots_dir()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_payment_then_refund_from_the_finance_console() {
    let clock = FakeClock::new(Utc::now());
    let t = TestApp::spawn_with(TestBackend::Sqlite, Arc::new(clock.clone()), |_| {}).await;
    let b = Browser::start(390, 844).await;
    let c = &b.client;
    let base = t.base.replace("127.0.0.1", "localhost");

    // 张伟 signs in with WeChat and adds himself as 就诊人.
    c.goto(&format!("{base}/wx/login?next=%2Fpatients%2Fnew")).await.unwrap();
    click(&b, "button[data-openid='oDemo_zhangwei_0001']").await;
    let me = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == "张伟").unwrap();
    wait_for(&b, "#name").await.send_keys(&me.name).await.unwrap();
    c.find(Locator::Id("id_card_no")).await.unwrap().send_keys(&me.id_card_no).await.unwrap();
    c.find(Locator::Css("input[name='relationship'][value='self']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    wait_for(&b, "#patient-list").await;

    // His unpaid bill from the HIS.
    c.goto(&format!("{base}/")).await.unwrap();
    click(&b, "a.tile[href='/bills']").await;
    let bill = text_of(&b, "section.bill").await;
    assert!(bill.contains("血常规") && bill.contains("合计"), "{bill}");
    b.screenshot(&shots().join("bills.png")).await;
    click(&b, "section.bill button[type=submit]").await;

    // The pay page offers 医保 (he is tier 1) and self-pay.
    let total = text_of(&b, "#total").await;
    assert_eq!(total, "¥118.60");
    b.screenshot(&shots().join("pay-choose-method.png")).await;
    click(&b, "#method-insurance").await;
    // The 医保 authorisation page (simulator), then back with the split.
    click(&b, "#allow").await;
    let split = text_of(&b, "#split").await;
    assert!(split.contains("医保统筹支付") && split.contains("需自付"), "{split}");
    let fund = text_of(&b, "#fund").await;
    let self_pay = text_of(&b, "#self-pay").await;
    assert_ne!(fund, "¥0.00");
    b.screenshot(&shots().join("pay-split.png")).await;
    click(&b, "#confirm-insurance").await;
    // The 医保 cashier (simulator): confirm with the 医保 password.
    click(&b, "#confirm").await;
    // Back on our result page: the insurance part is confirmed; the rest is due.
    let outcome = text_of(&b, "#outcome-text").await;
    assert_eq!(outcome, "医保部分已支付", "never success before all money is confirmed");
    b.screenshot(&shots().join("pay-insurance-done.png")).await;
    click(&b, "#pay-rest").await;
    // The bank's cashier (simulator) shows the self-pay part only.
    let amount = text_of(&b, ".amt").await;
    assert_eq!(amount, self_pay, "the bank is asked for the self-pay part only");
    click(&b, "#pay").await;
    // The bank sends the payer back; the page polls until the notification is applied.
    let result = b.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css("#result[data-outcome='paid']")).await.expect("paid");
    assert!(result.text().await.unwrap().contains("支付成功"));
    b.screenshot(&shots().join("pay-success.png")).await;
    let order_no = result.attr("data-order").await.unwrap().unwrap();
    for _ in 0..100 {
        if t.store.order(&order_no).await.unwrap().0.state == domain::billing::OrderState::Fulfilled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Fulfilled, "settled in the HIS");
    c.goto(&format!("{base}/bills")).await.unwrap();
    assert!(text_of(&b, "main").await.contains("暂无待缴费用"), "the HIS no longer lists the bill");

    // The finance officer refunds everything from the console.
    let cred = t.demo_credentials.iter().find(|x| x.username == "finance01").unwrap().clone();
    let secret = crypto::totp::base32_decode(&cred.totp_secret).unwrap();
    c.goto(&format!("{base}/staff/login")).await.unwrap();
    wait_for(&b, "#username").await.send_keys("finance01").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys(&cred.password).await.unwrap();
    c.find(Locator::Id("otp")).await.unwrap().send_keys(&crypto::totp::code_at(&secret, t.app.now().timestamp())).await.unwrap();
    c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    b.client.set_window_size(1280, 1000).await.unwrap();
    click(&b, "a[href='/staff/finance/orders']").await;
    click(&b, &format!("a[href='/staff/finance/orders/{order_no}']")).await;
    wait_for(&b, "#refund-form").await;
    c.find(Locator::Id("refund-insurance")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("self_pay")).await.unwrap().send_keys(self_pay.trim_start_matches('¥')).await.unwrap();
    c.find(Locator::Id("reason")).await.unwrap().send_keys("患者未取药，申请全额退费").await.unwrap();
    c.find(Locator::Id("refund-submit")).await.unwrap().click().await.unwrap();
    // The confirmation names every channel the money goes back to, then asks for the code.
    let asked = text_of(&b, "#confirmation").await;
    assert!(asked.contains("退回医保统筹") && asked.contains("退回原银行卡/微信") && asked.contains("退款合计"), "{asked}");
    b.shot("finance-refund-confirm.png").await;
    // The code used to sign in is not fresh: refused, and the page keeps everything.
    c.find(Locator::Id("otp")).await.unwrap().send_keys(&crypto::totp::code_at(&secret, t.app.now().timestamp())).await.unwrap();
    c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
    assert!(text_of(&b, "#confirm-error").await.contains("动态验证码"), "a reused code is refused (S6)");
    clock.advance(chrono::Duration::seconds(30));
    c.find(Locator::Id("otp")).await.unwrap().send_keys(&crypto::totp::code_at(&secret, t.app.now().timestamp())).await.unwrap();
    c.find(Locator::Id("confirm")).await.unwrap().click().await.unwrap();
    assert!(text_of(&b, "#notice").await.contains("退款已受理"));
    for _ in 0..100 {
        if t.store.order(&order_no).await.unwrap().0.state == domain::billing::OrderState::Refunded {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    c.goto(&format!("{base}/staff/finance/orders/{order_no}")).await.unwrap();
    assert_eq!(text_of(&b, "#state").await, "已退款");
    let ledger = text_of(&b, "h2:has(+ #ledger)").await;
    assert!(ledger.contains("借贷合计 0 分"), "{ledger}");
    b.screenshot(&shots().join("finance-order-refunded.png")).await;
    // The day's ledger: the payment and the refund, summing to zero; and a reconciliation run.
    c.goto(&format!("{base}/staff/finance/ledger")).await.unwrap();
    assert!(text_of(&b, "#ledger-sum").await.contains("借贷合计 0 分"));
    assert!(text_of(&b, "#ledger-lines").await.contains(&order_no));
    b.screenshot(&shots().join("finance-ledger.png")).await;
    c.goto(&format!("{base}/staff/finance/reconciliation")).await.unwrap();
    click(&b, "#run-recon").await;
    assert!(text_of(&b, "#summary").await.contains("待处理 0"));
    b.screenshot(&shots().join("finance-reconciliation.png")).await;

    // The patient sees the refund under "my payments".
    b.client.set_window_size(390, 844).await.unwrap();
    c.goto(&format!("{base}/payments")).await.unwrap();
    let mine = text_of(&b, "#payments").await;
    assert!(mine.contains("已退款") && mine.contains("¥118.60"), "{mine}");
    assert!(mine.contains("医保统筹") && mine.contains("原银行卡/微信"), "the refund by channel: {mine}");
    b.screenshot(&shots().join("my-payments-refunded.png")).await;
    // The order's own page says so too, never 支付成功 any more.
    c.goto(&format!("{base}/pay/{order_no}/result")).await.unwrap();
    assert_eq!(text_of(&b, "#outcome-text").await, "已退款");
    let parts = text_of(&b, "#refund-parts").await;
    assert!(parts.contains("退回医保统筹") && parts.contains("退回原银行卡/微信") && parts.contains("¥118.60"), "{parts}");
    b.screenshot(&shots().join("pay-result-refunded.png")).await;
    b.close().await;
}
