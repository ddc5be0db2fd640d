//! Staff sign-in with two factors, lockout, one-time codes, and the role matrix (S4, S5),
//! on both backends.
use testkit::{TestApp, on_both_backends};

async fn post_login(t: &TestApp, user: &str, password: &str, otp: &str) -> reqwest::Response {
    TestApp::http().post(t.url("/staff/login")).form(&[("username", user), ("password", password), ("otp", otp), ("next", "/staff")]).send().await.unwrap()
}

fn current_code(t: &TestApp, user: &str) -> String {
    let c = t.demo_credentials.iter().find(|c| c.username == user).unwrap();
    crypto::totp::code_at(&crypto::totp::base32_decode(&c.totp_secret).unwrap(), chrono::Utc::now().timestamp())
}

on_both_backends! {
    async fn two_factors_required_and_codes_single_use(backend) {
        let t = TestApp::spawn(backend).await;
        let pw = t.demo_credentials.iter().find(|c| c.username == "nurse01").unwrap().password.clone();
        // Password alone, or a wrong code: refused with the same message.
        let r = post_login(&t, "nurse01", &pw, "").await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("用户名、密码或动态验证码错误"));
        let r = post_login(&t, "nurse01", "WrongPassw0rd!", &current_code(&t, "nurse01")).await;
        assert_eq!(r.status(), 401);
        let r = post_login(&t, "nobody", "WrongPassw0rd!", "123456").await;
        assert_eq!(r.status(), 401);
        // Both factors: in, with a staff cookie of the same shape as the patient one.
        let code = current_code(&t, "nurse01");
        let r = post_login(&t, "nurse01", &pw, &code).await;
        assert_eq!(r.status(), 303);
        let set = r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).find(|v| v.starts_with("__Host-cb_staff=")).unwrap();
        assert!(set.contains("Secure") && set.contains("HttpOnly") && set.contains("SameSite=Lax"));
        // The same code a second time is refused (replay).
        let r = post_login(&t, "nurse01", &pw, &code).await;
        assert_eq!(r.status(), 401);
        assert!(r.text().await.unwrap().contains("动态验证码已使用"));
        assert!(t.store.audit_count(Some("staff.login")).await.unwrap() == 1);
        assert!(t.store.audit_count(Some("staff.login_failed")).await.unwrap() >= 3);
    }
}

on_both_backends! {
    async fn repeated_failures_lock_the_account(backend) {
        let t = TestApp::spawn(backend).await;
        let limit = t.app.policies().staff_max_failed_logins;
        for _ in 0..limit - 1 {
            assert_eq!(post_login(&t, "lab01", "Wrong-password-1", "000000").await.status(), 401);
        }
        let r = post_login(&t, "lab01", "Wrong-password-1", "000000").await;
        assert_eq!(r.status(), 423);
        // Even the right credentials wait out the lock.
        let pw = t.demo_credentials.iter().find(|c| c.username == "lab01").unwrap().password.clone();
        let r = post_login(&t, "lab01", &pw, &current_code(&t, "lab01")).await;
        assert_eq!(r.status(), 423);
        assert!(r.text().await.unwrap().contains("锁定"));
    }
}

on_both_backends! {
    async fn roles_gate_every_staff_route(backend) {
        let t = TestApp::spawn(backend).await;
        let h = TestApp::http();
        // Signed out: pages send to the sign-in.
        for path in ["/staff", "/staff/admin/staff", "/staff/admin/audit"] {
            let r = h.get(t.url(path)).send().await.unwrap();
            assert_eq!(r.status(), 303, "{path}");
            assert!(testkit::app::location(r.headers()).starts_with("/staff/login?next="));
        }
        let nurse = t.staff_sign_in("nurse01").await;
        let admin = t.staff_sign_in("admin").await;
        let matrix = [("/staff", &nurse, 200), ("/staff/admin/staff", &nurse, 403), ("/staff/admin/audit", &nurse, 403), ("/staff", &admin, 200), ("/staff/admin/staff", &admin, 200), ("/staff/admin/audit", &admin, 200)];
        for (path, cookie, want) in matrix {
            let r = h.get(t.url(path)).header("cookie", cookie.as_str()).send().await.unwrap();
            assert_eq!(r.status().as_u16(), want, "{path}");
        }
        // A nurse cannot create accounts by posting directly either.
        let r = h.post(t.url("/staff/admin/staff")).header("cookie", nurse.as_str()).form(&[("username", "evil"), ("display_name", "x"), ("password", "Abcdefgh12!"), ("roles", "admin")]).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert!(t.store.staff_by_username("evil").await.unwrap().is_none());
        // A patient session is not a staff session.
        let (_, patient) = t.wechat_sign_in("oDemo_lina_0002").await;
        let r = h.get(t.url("/staff")).header("cookie", patient.replace("__Host-cb_patient", "__Host-cb_staff")).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // The admin creates a records clerk; the TOTP secret is shown once.
        let r = h.post(t.url("/staff/admin/staff")).header("cookie", admin.as_str()).form(&[("username", "records02"), ("display_name", "病案室 新同事"), ("password", "Strong-pass-2026"), ("roles", "records"), ("roles", "finance")]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("otpauth://totp/Carebridge:records02"));
        let rec = t.store.staff_by_username("records02").await.unwrap().unwrap();
        assert_eq!(rec.roles, vec![domain::staff::Role::Records, domain::staff::Role::Finance]);
        // The audit page verifies the chain.
        let page = h.get(t.url("/staff/admin/audit?actor=staff%3A1")).header("cookie", admin.as_str()).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("哈希链校验通过"), "{page}");
    }
}

on_both_backends! {
    async fn no_default_accounts_outside_demo(backend) {
        // A plain migrated database has no staff at all: the first admin is made with
        // `carebridge admin create`.
        let db = testkit::TestDb::new(backend).await;
        let store = db.store().await;
        assert_eq!(store.staff_count().await.unwrap(), 0);
    }
}
