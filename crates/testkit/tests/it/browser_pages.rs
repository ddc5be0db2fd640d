//! Every patient page as an elderly patient's phone shows it: 390 CSS pixels wide, in the
//! normal and the large text size, after a journey that fills them (a booking, an order,
//! a stay in hospital). A page fails when it scrolls sideways, when the browser reports a
//! Content-Security-Policy violation (the policy's `report-uri` counts them on
//! `/metrics`), or when the text-size switch does not come back to the page it was on.
use fantoccini::Locator;
use testkit::TestApp;
use testkit::browser::Browser;
use testkit::browser::journeys::{book_first_free_slot, sign_in_and_add_self};

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
    let morning = domain::clock::local_to_utc(domain::clock::to_local(now).date_naive().and_hms_opt(7, 30, 0).unwrap());
    let clock = domain::FakeClock::new(morning);
    let t = TestApp::spawn_with(testkit::TestBackend::Sqlite, std::sync::Arc::new(clock.clone()), |_| {}).await;
    let b = Browser::phone(390, 844).await;
    let base = t.base.replace("127.0.0.1", "localhost");

    // A family with things to show: 张伟 (self), his father 黄强 in hospital, a booking
    // waiting to be paid.
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;
    let (_, api_cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    t.add_demo_patient(&api_cookie, "黄强", "parent").await;
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
        "/children".into(),
        "/children/bind".into(),
        "/inpatient".into(),
        "/card".into(),
        "/agreements/service".into(),
        "/agreements/privacy".into(),
    ];
    let mut overflowing = vec![];
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
    // Give the browser a moment to deliver its reports.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let violations = csp_violations(&t).await;
    b.close().await;
    assert!(overflowing.is_empty(), "pages wider than the phone: {overflowing:#?}");
    assert_eq!(violations, 0, "the browser reported Content-Security-Policy violations (see the test log for which pages)");
}
