//! In headless Chromium at phone width: sign in as a demo WeChat user, add a child as
//! 就诊人 with the real-name check, and see the child listed. Screenshots of the pages
//! are written to target/screenshots for a person to look at.
use fantoccini::Locator;
use testkit::browser::Browser;
use testkit::{TestApp, TestBackend};

async fn wait_for(b: &Browser, css: &str) -> fantoccini::elements::Element {
    b.wait_for(css).await
}

fn shots() -> std::path::PathBuf {
    testkit::browser::screenshots_dir()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guardian_adds_a_child_in_the_browser() {
    let t = TestApp::spawn(TestBackend::Sqlite).await;
    let b = Browser::start(390, 844).await;
    let c = &b.client;
    // Loopback over `localhost`, where Chromium accepts Secure cookies on http.
    let base = t.base.replace("127.0.0.1", "localhost");
    c.goto(&format!("{base}/")).await.unwrap();
    b.screenshot(&shots().join("home-signed-out.png")).await;
    wait_for(&b, "a.btn[href^='/wx/login']").await.click().await.unwrap();
    // The WeChat consent page (simulator): choose 李娜.
    wait_for(&b, "button[data-openid='oDemo_lina_0002']").await.click().await.unwrap();
    // Back on our side, signed in (waited for by the sign-out button only a signed-in home
    // has: the consent page has an h1 too, and leaving it early left us signed out).
    wait_for(&b, "form[action='/logout']").await;
    c.goto(&format!("{base}/patients/new")).await.unwrap();
    wait_for(&b, "input[name='relationship'][value='child']").await;
    let today = domain::clock::to_local(chrono::Utc::now()).date_naive();
    let kid = sim::demo::citizens(today).into_iter().find(|x| x.name == "杨小宝").unwrap();
    c.find(Locator::Css("input[name='relationship'][value='child']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("name")).await.unwrap().send_keys(&kid.name).await.unwrap();
    // First a typo in the ID number: a clear message, and what was typed is kept.
    let typo = format!("{}0", &kid.id_card_no[..17]);
    let typo = if typo == kid.id_card_no { format!("{}1", &kid.id_card_no[..17]) } else { typo };
    c.find(Locator::Id("id_card_no")).await.unwrap().send_keys(&typo).await.unwrap();
    c.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let err = wait_for(&b, "#form-error").await.text().await.unwrap();
    assert!(err.contains("身份证号码不正确"), "{err}");
    assert_eq!(c.find(Locator::Id("name")).await.unwrap().prop("value").await.unwrap().as_deref(), Some(kid.name.as_str()));
    b.screenshot(&shots().join("add-patient-error.png")).await;
    let id_input = c.find(Locator::Id("id_card_no")).await.unwrap();
    id_input.clear().await.unwrap();
    id_input.send_keys(&kid.id_card_no).await.unwrap();
    c.find(Locator::Css("input[name='relationship'][value='child']")).await.unwrap().click().await.unwrap();
    c.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
    let list = wait_for(&b, "#patient-list").await.text().await.unwrap();
    assert!(list.contains("杨**"), "{list}");
    assert!(list.contains("子女") && list.contains("少儿医保"), "{list}");
    assert!(!list.contains(&kid.id_card_no), "the full ID number is never shown");
    b.screenshot(&shots().join("patients-after-adding-child.png")).await;
    // The home page now greets the user with the current patient.
    c.goto(&format!("{base}/")).await.unwrap();
    let hero = wait_for(&b, ".hero").await.text().await.unwrap();
    assert!(hero.contains("李娜") && hero.contains("杨**"), "{hero}");
    b.screenshot(&shots().join("home-signed-in.png")).await;
    // Large-text mode for elderly patients.
    wait_for(&b, "a[aria-label='切换为大字模式']").await.click().await.unwrap();
    wait_for(&b, "html.big").await;
    b.screenshot(&shots().join("home-large-text.png")).await;
    b.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staff_sign_in_with_two_factors_and_role_menus() {
    let t = TestApp::spawn(TestBackend::Sqlite).await;
    let b = Browser::start(1280, 900).await;
    let c = &b.client;
    let base = t.base.replace("127.0.0.1", "localhost");
    let sign_in = async |user: &str| {
        let cred = t.demo_credentials.iter().find(|x| x.username == user).unwrap().clone();
        c.goto(&format!("{base}/staff/login")).await.unwrap();
        wait_for(&b, "#username").await.send_keys(user).await.unwrap();
        c.find(Locator::Id("password")).await.unwrap().send_keys(&cred.password).await.unwrap();
        let code = crypto::totp::code_at(&crypto::totp::base32_decode(&cred.totp_secret).unwrap(), chrono::Utc::now().timestamp());
        c.find(Locator::Id("otp")).await.unwrap().send_keys(&code).await.unwrap();
        c.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    };
    // A nurse sees the nurse's modules and not the admin's.
    sign_in("nurse01").await;
    let menu = wait_for(&b, ".menu").await.text().await.unwrap();
    assert!(menu.contains("分诊报到") && !menu.contains("工作人员账号"), "{menu}");
    c.find(Locator::Css("form[action='/staff/logout'] button")).await.unwrap().click().await.unwrap();
    wait_for(&b, "#username").await;
    // The admin opens staff accounts and creates one.
    sign_in("admin").await;
    wait_for(&b, "a[href='/staff/admin/staff']").await.click().await.unwrap();
    wait_for(&b, "form[action='/staff/admin/staff'] #username").await.send_keys("nurse02").await.unwrap();
    c.find(Locator::Id("display_name")).await.unwrap().send_keys("护士 新同事").await.unwrap();
    c.find(Locator::Id("password")).await.unwrap().send_keys("Nurse-Strong-2026").await.unwrap();
    c.find(Locator::Css("input[name=roles][value=nurse]")).await.unwrap().click().await.unwrap();
    c.find(Locator::Css("form[action='/staff/admin/staff'] button[type=submit]")).await.unwrap().click().await.unwrap();
    let done = wait_for(&b, ".alert.ok").await.text().await.unwrap();
    assert!(done.contains("nurse02"), "{done}");
    b.screenshot(&shots().join("staff-accounts.png")).await;
    c.goto(&format!("{base}/staff/admin/audit?actor=staff%3A1")).await.unwrap();
    let audit = wait_for(&b, ".alert").await.text().await.unwrap();
    assert!(audit.contains("哈希链校验通过"), "{audit}");
    b.screenshot(&shots().join("staff-audit.png")).await;
    b.close().await;
}
