//! In headless Chromium at phone width, with a fake front camera showing 张伟's synthetic
//! face: the patient opens 刷脸就医, reads the separate consent, agrees, takes the live
//! picture and is enrolled; the page then offers closing, which asks first and deletes the
//! face from the engine. Both text sizes fit 390 px; nothing breaks the CSP. Screenshots
//! go to target/screenshots.
use fantoccini::Locator;
use std::time::Duration;
use testkit::browser::Browser;
use testkit::browser::journeys::{morning, sign_in_and_add_self};
use testkit::{TestApp, faces};

async fn fits(b: &Browser) -> bool {
    let v = b.client.execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]", vec![]).await.unwrap();
    v[0].as_i64().unwrap() <= v[1].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patient_enrols_with_the_front_camera_and_closes_it_again() {
    let (t, _clock, first, base) = morning().await;
    first.close().await;
    let zhang = sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == "张伟").unwrap();
    let video = std::env::temp_dir().join(format!("cb-face-{}.y4m", uuid::Uuid::new_v4().simple()));
    std::fs::write(&video, faces::camera_video(&zhang.id_card_no, 0)).unwrap();
    let b = Browser::phone_with_camera(390, 844, &video).await;
    let c = &b.client;
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;

    c.goto(&format!("{base}/")).await.unwrap();
    b.click("#tile-face").await;
    let row = b.wait_for("li.face-patient").await;
    assert_eq!(row.attr("data-state").await.unwrap().as_deref(), Some("none"));
    assert!(fits(&b).await);
    b.shot("face-home.png").await;
    b.click("li.face-patient a.btn").await;
    assert!(b.text_of("#face-consent").await.contains("《刷脸就医授权书》2026年12月8日版"));
    assert!(fits(&b).await);
    b.shot("face-consent.png").await;
    // Large text fits too.
    c.goto(&format!("{base}/settings/text-size?size=large&back=%2Fface")).await.unwrap();
    b.wait_for("li.face-patient").await;
    assert!(fits(&b).await, "the face page fits in large text");
    b.click("li.face-patient a.btn").await;
    b.wait_for("#face-consent").await;
    assert!(fits(&b).await, "the consent fits in large text");
    b.click("#agree").await;

    // The camera page: the front camera, no album.
    b.wait_for("#face-camera").await;
    assert!(c.find_all(Locator::Css("input[type='file']")).await.unwrap().is_empty(), "no album picker");
    c.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css("#shoot:not([disabled])")).await.expect("the camera opens");
    for _ in 0..50 {
        let ready = c.execute("return document.getElementById('video').videoWidth > 0", vec![]).await.unwrap();
        if ready.as_bool() == Some(true) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(fits(&b).await);
    b.shot("face-capture.png").await;
    b.click("#shoot").await;
    c.wait().at_most(Duration::from_secs(20)).for_element(Locator::Css("li.face-patient[data-state='active']")).await.expect("enrolled");
    assert!(b.text_of("main").await.contains("已开通刷脸就医"));
    assert_eq!(t.face.lock().unwrap().users(&domain::face::enrolment_group("cb")).len(), 1, "the engine holds the face");
    b.shot("face-enrolled.png").await;

    // Closing asks first, then deletes the face from the engine.
    b.click("li.face-patient form[action$='/close'] button").await;
    assert!(b.text_of("main").await.contains("删除其人脸信息"));
    b.shot("face-close-confirm.png").await;
    b.click("#confirm").await;
    b.wait_for("li.face-patient").await;
    for _ in 0..100 {
        if t.face.lock().unwrap().users(&domain::face::enrolment_group("cb")).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(t.face.lock().unwrap().users(&domain::face::enrolment_group("cb")).is_empty(), "deleted by the worker");
    let text = TestApp::http().get(t.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let csp: f64 = text.lines().filter(|l| l.starts_with("carebridge_csp_violations_total")).filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok()).sum();
    assert_eq!(csp, 0.0, "no CSP violation");
    b.close().await;
    let _ = std::fs::remove_file(&video);
}
