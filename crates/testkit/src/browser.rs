//! Headless Chromium through chromedriver (Debian's `chromium` and `chromium-driver`),
//! driven with fantoccini. The browser runs with a fresh profile and no background
//! networking (the machine has no outside network).
use fantoccini::{Client, ClientBuilder};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: std::path::PathBuf,
}

impl Browser {
    /// Starts chromedriver on a free port and a phone-sized headless Chromium.
    pub async fn start(width: u32, height: u32) -> Self {
        Self::launch(width, height, false).await
    }

    /// A phone exactly: Chromium's mobile emulation at `width` CSS pixels (a headless
    /// window is never narrower than 500 px, so `start` cannot measure a 390 px layout).
    pub async fn phone(width: u32, height: u32) -> Self {
        Self::launch(width, height, true).await
    }

    /// A phone whose camera shows `video` (a Y4M file, see [`fake_camera_y4m`]): Chromium's
    /// fake capture device, permission granted as a patient would grant it.
    pub async fn phone_with_camera(width: u32, height: u32, video: &std::path::Path) -> Self {
        let extra = vec![
            "--use-fake-device-for-media-stream".to_owned(),
            "--use-fake-ui-for-media-stream".to_owned(),
            format!("--use-file-for-fake-video-capture={}", video.display()),
        ];
        Self::launch_with(width, height, false, extra).await
    }

    async fn launch(width: u32, height: u32, emulate: bool) -> Self {
        Self::launch_with(width, height, emulate, vec![]).await
    }

    async fn launch_with(width: u32, height: u32, emulate: bool, extra: Vec<String>) -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
            l.local_addr().unwrap().port()
        };
        let driver = Command::new(std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into()))
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver on PATH (apt-get install chromium chromium-driver; scripts/test installs it)");
        let profile = std::env::temp_dir().join(format!("cb-chrome-{}", uuid::Uuid::new_v4().simple()));
        let caps = serde_json::json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
                         "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                         format!("--window-size={width},{height}"), format!("--user-data-dir={}", profile.display()), "--lang=zh-CN"]
            }
        });
        let mut caps = caps.as_object().unwrap().clone();
        if let Some(args) = caps["goog:chromeOptions"]["args"].as_array_mut() {
            args.extend(extra.into_iter().map(serde_json::Value::from));
        }
        if emulate {
            caps["goog:chromeOptions"]["mobileEmulation"] = serde_json::json!({"deviceMetrics": {"width": width, "height": height, "pixelRatio": 2}});
        }
        let url = format!("http://127.0.0.1:{port}");
        let mut last = None;
        for _ in 0..50 {
            match ClientBuilder::rustls().expect("rustls").capabilities(caps.clone()).connect(&url).await {
                Ok(client) => return Self { client, driver, profile },
                Err(e) => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
        panic!("could not start headless Chromium: {last:?}");
    }

    /// Waits (up to 15 s) for an element.
    pub async fn wait_for(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(fantoccini::Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("{css} did not appear: {e}"))
    }

    /// The text of an element. An element found while the previous page is still going away
    /// goes stale; it is looked up again on the page that replaced it.
    pub async fn text_of(&self, css: &str) -> String {
        let mut last = None;
        for _ in 0..20 {
            match self.wait_for(css).await.text().await {
                Ok(text) => return text,
                Err(e) if e.is_stale_element_reference() => {
                    last = Some(e);
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("{css}: {e}"),
            }
        }
        panic!("{css} kept going stale: {last:?}")
    }

    pub async fn click(&self, css: &str) {
        self.wait_for(css).await.click().await.unwrap();
    }

    /// Saves a screenshot under `target/screenshots/<name>`.
    pub async fn shot(&self, name: &str) {
        self.screenshot(&screenshots_dir().join(name)).await;
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        if let Some(d) = path.parent() {
            let _ = std::fs::create_dir_all(d);
        }
        std::fs::write(path, png).expect("write screenshot");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// Where browser tests leave their screenshots.
pub fn screenshots_dir() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/screenshots")
}

/// What a patient page may show in Latin letters: units of lab results and common clinical
/// abbreviations a Chinese report prints as they are. Anything else in English is a leak of
/// a code or state name (`pending`, `clearing:bank`, `None`) a patient should never read.
const LATIN_ALLOWED: &[&str] = &[
    "mmol/L", "umol/L", "μmol/L", "g/L", "mg/L", "U/L", "IU/L", "fL", "pg", "L", "mL", "ml", "mg", "kg", "cm", "mm", "mmHg", "s", "CT", "MRI", "DR", "ECG",
    "B", "HIS", "LIS", "PDF", "ID", "WBC", "RBC", "HGB", "PLT", "NEUT", "LYM", "HCT", "MCV", "MCH", "MCHC", "CRP", "ALT", "AST", "GLU", "TC", "TG", "Cr",
    "BUN", "UA", "K", "Na", "Cl", "Ca",
];

/// Latin-letter words on a patient page that are neither codes (upper-case letters with
/// digits: order, booking and report numbers) nor in [`LATIN_ALLOWED`] (with `10^9/L`-style
/// units).
pub fn stray_english(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let is_word_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '/' | '^' | '_' | '-' | '.' | 'μ');
    for word in text.split(|c: char| !is_word_char(c)) {
        let word = word.trim_matches(|c: char| matches!(c, '.' | '-' | '/'));
        let letters = word.chars().filter(|c| c.is_ascii_alphabetic()).count();
        if letters == 0 {
            continue;
        }
        let code = word.chars().any(|c| c.is_ascii_digit()) && !word.chars().any(|c| c.is_ascii_lowercase());
        // A zone or a test's letter (门诊楼2层A区, X线, C反应蛋白), and a dose (0.25g).
        let letter = word.len() == 1 && word.chars().all(|c| c.is_ascii_uppercase());
        let dose = word.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
        let dose = dose.len() < word.len() && ["g", "mg", "ug", "ml", "mL", "IU", "U", "kg"].contains(&dose);
        let unit = word.split('/').all(|part| {
            // A measurement (78mmHg): a number with one of the allowed units.
            let measured = part.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.');
            part.is_empty()
                || part.starts_with("10^")
                || part.chars().all(|c| c.is_ascii_digit())
                || LATIN_ALLOWED.contains(&part)
                || (measured.len() < part.len() && LATIN_ALLOWED.contains(&measured))
        }) || LATIN_ALLOWED.contains(&word);
        if !code && !unit && !letter && !dose {
            out.push(word.to_owned());
        }
    }
    out
}

/// Deadlines in a page's text ("请于今天16:30前", "12-07 16:30前", "2026-12-07 16:30前") that
/// are already past at local time `now`.
pub fn past_deadlines(text: &str, now: chrono::NaiveDateTime) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    for (i, c) in chars.iter().enumerate() {
        if *c != '前' || i < 5 {
            continue;
        }
        let before: String = chars[i.saturating_sub(24)..i].iter().collect();
        let Some(time) = before.get(before.len().saturating_sub(5)..).and_then(|t| chrono::NaiveTime::parse_from_str(t.trim(), "%H:%M").ok()) else { continue };
        let mut head = before[..before.len() - 5].trim_end();
        let today = now.date();
        // "12月7日（明天）16:30前": the written date counts, the word in brackets repeats it.
        if head.ends_with('）')
            && let Some(open) = head.rfind('（')
        {
            head = head[..open].trim_end();
        }
        let month_day = head.rsplit_once('月').and_then(|(m, d)| {
            let m: u32 = m.chars().rev().take_while(|c| c.is_ascii_digit()).collect::<String>().chars().rev().collect::<String>().parse().ok()?;
            let d: u32 = d.strip_suffix('日')?.parse().ok()?;
            chrono::NaiveDate::from_ymd_opt(chrono::Datelike::year(&today), m, d)
        });
        let date = if let Some(d) = month_day {
            Some(d)
        } else if head.ends_with("今天") || head.ends_with("今日") {
            Some(today)
        } else if head.ends_with("明天") || head.ends_with("明日") {
            today.succ_opt()
        } else if let Some(d) = head.get(head.len().saturating_sub(10)..).and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()) {
            Some(d)
        } else {
            head.get(head.len().saturating_sub(5)..).and_then(|d| chrono::NaiveDate::parse_from_str(&format!("{}-{d}", today.format("%Y")), "%Y-%m-%d").ok())
        };
        if let Some(d) = date
            && d.and_time(time) < now
        {
            out.push(d.and_time(time).format("%Y-%m-%d %H:%M").to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn english_on_a_patient_page_is_found_and_codes_and_units_are_not() {
        let text = "订单号 CB20261207003319AE6082F93E 白细胞 11.2 10^9/L 血糖 5.6 mmol/L 状态 pending 渠道 clearing:bank CT 平扫 None 门诊楼2层A区 阿莫西林 0.25g 血压126/78mmHg 120/80abc";
        assert_eq!(stray_english(text), ["pending", "clearing", "bank", "None", "120/80abc"]);
    }

    #[test]
    fn deadlines_already_past_are_found() {
        let now = chrono::NaiveDate::from_ymd_opt(2026, 12, 6).unwrap().and_hms_opt(19, 36, 0).unwrap();
        let text = "请于今天16:30前到窗口；或明天16:30前；号源保留至 2026-12-06 20:00前；已过 12-06 08:00前；开始前1小时；请于12月6日（今天）16:30前；请于12月7日（明天）16:30前";
        assert_eq!(past_deadlines(text, now), ["2026-12-06 16:30", "2026-12-06 08:00", "2026-12-06 16:30"]);
    }
}

/// Writes a one-frame Y4M video (4:2:0) of the synthetic ID card held in the capture
/// page's guide, for Chromium's fake camera (never a real card).
pub fn fake_camera_y4m(path: &std::path::Path) {
    std::fs::write(path, uploads::id_card::synthetic_frame_y4m()).expect("write the fake camera's video");
}

/// Steps of patient journeys several browser tests share.
pub mod journeys {
    use super::Browser;
    use crate::TestApp;
    use domain::FakeClock;
    use fantoccini::Locator;
    use std::time::Duration;

    /// Signs in as a demo WeChat user and adds `name` as 就诊人 (self).
    pub async fn sign_in_and_add_self(b: &Browser, t: &TestApp, base: &str, openid: &str, name: &str) {
        let c = &b.client;
        c.goto(&format!("{base}/wx/login?next=%2Fpatients%2Fnew")).await.unwrap();
        b.click(&format!("button[data-openid='{openid}']")).await;
        let me = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == name).unwrap();
        b.wait_for("#name").await.send_keys(&me.name).await.unwrap();
        c.find(Locator::Id("id_card_no")).await.unwrap().send_keys(&me.id_card_no).await.unwrap();
        c.find(Locator::Css("input[name='relationship'][value='self']")).await.unwrap().click().await.unwrap();
        c.find(Locator::Id("submit")).await.unwrap().click().await.unwrap();
        b.wait_for("#patient-list").await;
    }

    pub async fn sign_out(b: &Browser, base: &str) {
        b.client.goto(&format!("{base}/")).await.unwrap();
        b.click("form[action='/logout'] button").await;
        b.wait_for("a[href='/wx/login?next=%2F']").await;
    }

    /// From the department page: the first bookable session, its first free slot, submit.
    /// `patient` picks the 就诊人 radio by id (the default otherwise).
    pub async fn book_first_free_slot(b: &Browser, clock: &FakeClock, base: &str, dept: &str, patient: Option<i64>) {
        b.client.goto(&format!("{base}/departments/{dept}")).await.unwrap();
        b.click(&format!("a.btn.small[href^='/book/{dept}/']")).await;
        b.click("input[name='slot_id']:not([disabled])").await;
        if let Some(id) = patient {
            b.click(&format!("input[name='patient_id'][value='{id}']")).await;
        }
        // A person takes a moment to choose (the page's ticket refuses instant submits).
        clock.advance(chrono::Duration::seconds(3));
        b.click("#submit-booking").await;
        b.wait_for("#order").await;
    }

    /// Waits on the result page until the order's money is confirmed.
    pub async fn wait_paid(b: &Browser) -> String {
        let r = b.client.wait().at_most(Duration::from_secs(15)).for_element(Locator::Css("#result[data-outcome='paid']")).await.expect("paid");
        assert!(r.text().await.unwrap().contains("支付成功"));
        r.attr("data-order").await.unwrap().unwrap()
    }

    /// Reloads the booking list until the newest booking is confirmed (the HIS confirmation
    /// runs as a job after the payment).
    pub async fn wait_confirmed(b: &Browser, base: &str) -> String {
        for _ in 0..60 {
            b.client.goto(&format!("{base}/registrations")).await.unwrap();
            let first = b.wait_for("#registrations li").await;
            if first.attr("data-state").await.unwrap().as_deref() == Some("confirmed") {
                return first.text().await.unwrap();
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
        panic!("the booking was not confirmed");
    }

    /// The app on a fake clock at 07:30 today (every session of the day still ahead), on
    /// SQLite with workers, and a phone-sized browser; the base address as a browser
    /// reaches it (`localhost`, where the secure cookies work over http).
    pub async fn morning() -> (TestApp, FakeClock, Browser, String) {
        let now = chrono::Utc::now();
        let morning = domain::clock::local_to_utc(domain::clock::to_local(now).date_naive().and_hms_opt(7, 30, 0).expect("time"));
        let clock = FakeClock::new(morning);
        let t = TestApp::spawn_with(crate::TestBackend::Sqlite, std::sync::Arc::new(clock.clone()), |_| {}).await;
        let b = Browser::start(390, 844).await;
        let base = t.base.replace("127.0.0.1", "localhost");
        (t, clock, b, base)
    }

    /// Signs a demo staff member in (password and the current TOTP code) and widens the
    /// window to a desktop's.
    pub async fn staff_sign_in(b: &Browser, t: &TestApp, base: &str, username: &str) {
        let cred = t.demo_credentials.iter().find(|x| x.username == username).expect("demo staff").clone();
        let secret = crypto::totp::base32_decode(&cred.totp_secret).expect("base32");
        b.client.goto(&format!("{base}/staff/login")).await.unwrap();
        b.wait_for("#username").await.send_keys(username).await.unwrap();
        b.client.find(Locator::Id("password")).await.unwrap().send_keys(&cred.password).await.unwrap();
        b.client.find(Locator::Id("otp")).await.unwrap().send_keys(&crypto::totp::code_at(&secret, t.app.now().timestamp())).await.unwrap();
        b.client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
        b.client.set_window_size(1280, 1000).await.unwrap();
    }
}
