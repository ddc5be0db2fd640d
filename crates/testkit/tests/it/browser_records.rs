//! In headless Chromium at phone width, with a fake camera showing a synthetic ID card:
//! a record-copy application (病历复印, REC-1…REC-4) from the first step to pickup. The
//! patient answers each step, photographs both sides of the card on the camera page (no
//! album), reviews the itemised fees and pays; the clerk reviews the photos in the
//! console, approves and enters the page count; the patient sees the pickup code, which
//! the clerk checks. Screenshots go to target/screenshots.
use fantoccini::Locator;
use std::time::Duration;
use testkit::browser::Browser;
use testkit::browser::journeys::{morning, sign_in_and_add_self, staff_sign_in, wait_paid};

async fn fits(b: &Browser) -> bool {
    let v = b.client.execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]", vec![]).await.unwrap();
    v[0].as_i64().unwrap() <= v[1].as_i64().unwrap()
}

async fn choose(b: &Browser, css: &str) {
    b.client.find(Locator::Css(css)).await.unwrap().click().await.unwrap();
    b.click("#next").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_applies_with_the_camera_and_collects_the_copy_by_code() {
    let (t, _clock, first, base) = morning().await;
    first.close().await;
    let video = std::env::temp_dir().join(format!("cb-card-{}.y4m", uuid::Uuid::new_v4().simple()));
    testkit::browser::fake_camera_y4m(&video);
    let b = Browser::phone_with_camera(390, 844, &video).await;
    let c = &b.client;
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;

    c.goto(&format!("{base}/")).await.unwrap();
    b.click("#tile-records").await;
    b.click("#new-application").await;
    assert!(b.text_of("#progress").await.contains("第 1 步，共 8 步"));
    choose(&b, "input[name='choice'][value='patient']").await;
    b.wait_for("#step[data-step='encounter']").await;
    assert!(fits(&b).await, "the stays fit the phone");
    choose(&b, "input[name='choice']").await;
    b.wait_for("#step[data-step='purpose']").await;
    choose(&b, "input[name='choice'][value='insurance_claim']").await;
    // The purpose's usual sections are already ticked.
    assert!(b.wait_for("#hint").await.text().await.unwrap().contains("医保报销"));
    b.click("#next").await;
    b.wait_for("#copies").await;
    b.click("#next").await;

    // The camera page: no file input anywhere; each side is shot from the live camera.
    b.wait_for("#step[data-step='photos']").await;
    assert!(c.find_all(Locator::Css("input[type='file']")).await.unwrap().is_empty(), "no album picker");
    for doc in ["patient_id_front", "patient_id_back"] {
        b.click(&format!("button.take[data-document='{doc}']")).await;
        c.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css("#camera:not([hidden])")).await.expect("the camera opens");
        // The fake camera needs a moment to deliver frames.
        for _ in 0..50 {
            let ready = c.execute("return document.getElementById('video').videoWidth > 0", vec![]).await.unwrap();
            if ready.as_bool() == Some(true) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        if doc == "patient_id_front" {
            b.screenshot(&testkit::browser::screenshots_dir().join("records-camera.png")).await;
        }
        b.click("#shoot").await;
        c.wait()
            .at_most(Duration::from_secs(20))
            .for_element(Locator::Css(&format!("li.document[data-document='{doc}'][data-taken='1']")))
            .await
            .unwrap_or_else(|_| panic!("{doc} taken"));
    }
    assert!(fits(&b).await, "the photos fit the phone");
    b.screenshot(&testkit::browser::screenshots_dir().join("records-photos.png")).await;
    b.click("#next").await;
    b.wait_for("#step[data-step='delivery']").await;
    choose(&b, "input[name='delivery'][value='pickup']").await;

    // The review: the fees line by line, then the bank.
    let fees = b.wait_for("#fees").await.text().await.unwrap();
    assert!(fees.contains("复印费") && fees.contains("¥0.50"), "{fees}");
    assert!(fits(&b).await, "the review fits the phone");
    b.screenshot(&testkit::browser::screenshots_dir().join("records-review.png")).await;
    let path = c.current_url().await.unwrap().path().to_owned();
    let no = path.strip_prefix("/records/").and_then(|p| p.strip_suffix("/step/review")).expect(&path).to_owned();
    b.click("#submit").await;
    b.click("#method-self_pay").await;
    b.click("#pay").await;
    wait_paid(&b).await;
    t.drain_jobs().await;
    c.goto(&format!("{base}/records/{no}")).await.unwrap();
    assert!(b.text_of("#state").await.contains("已提交，待审核"));

    // The clerk: the queue, the photos beside the HIS identity, approve, the page count.
    let clerk = Browser::start(1280, 1000).await;
    staff_sign_in(&clerk, &t, &base, "records01").await;
    clerk.client.goto(&format!("{base}/staff")).await.unwrap();
    clerk.client.find(Locator::Css("a[href='/staff/records']")).await.unwrap().click().await.unwrap();
    clerk.click(&format!("a[href='/staff/records/{no}']")).await;
    assert!(clerk.text_of("#identity").await.contains("张伟"));
    let loaded = clerk
        .client
        .execute("return Array.from(document.querySelectorAll('.review-photo img')).every(i => i.complete && i.naturalWidth === 856)", vec![])
        .await
        .unwrap();
    assert_eq!(loaded.as_bool(), Some(true), "the originals load, cut to the card");
    clerk.screenshot(&testkit::browser::screenshots_dir().join("records-review-console.png")).await;
    clerk.click("#approve").await;
    assert!(clerk.wait_for("#notice").await.text().await.unwrap().contains("审核通过"));
    clerk.wait_for("#pages").await.send_keys("4").await.unwrap();
    clerk.click("#count-pages").await;
    clerk.wait_for("input[name='confirmed']").await;
    for btn in clerk.client.find_all(Locator::Css("form button")).await.unwrap() {
        if btn.text().await.unwrap().contains("确认登记页数") {
            btn.click().await.unwrap();
            break;
        }
    }
    assert!(clerk.wait_for("#notice").await.text().await.unwrap().contains("页数已登记"));

    // The phone shows the code; the clerk checks it and the copy is handed over.
    t.drain_jobs().await;
    c.goto(&format!("{base}/records/{no}")).await.unwrap();
    let code = b.text_of("#pickup-code").await;
    assert_eq!(code.trim().len(), 6, "{code}");
    assert!(fits(&b).await, "the application fits the phone");
    b.screenshot(&testkit::browser::screenshots_dir().join("records-pickup.png")).await;
    clerk.client.goto(&format!("{base}/staff/records/{no}")).await.unwrap();
    clerk.wait_for("#code").await.send_keys(code.trim()).await.unwrap();
    clerk.click("#check-code").await;
    assert!(clerk.wait_for("#notice").await.text().await.unwrap().contains("已登记领取"));
    // The records ledger has the copying fee of the 4 pages paid (the estimate was 4).
    clerk.client.goto(&format!("{base}/staff/records")).await.unwrap();
    clerk.click("#ledger-link").await;
    assert_eq!(clerk.text_of("#net").await, "¥2.00");
    assert!(clerk.text_of("#by-kind").await.contains("复印费"));
    clerk.screenshot(&testkit::browser::screenshots_dir().join("records-ledger-console.png")).await;
    clerk.close().await;
    c.goto(&format!("{base}/records/{no}")).await.unwrap();
    assert!(b.text_of("#state").await.contains("已领取"));
    b.close().await;
    let _ = std::fs::remove_file(video);
}
