//! INS-3 over HTTP on both backends: a guardian binds two children's 少儿医保 (one the HIS
//! knows, one it registers on the way) after the WeChat Pay password check, then pays a
//! child's registration with 少儿医保; a child who is not the account's ward, an adult, a
//! guardian who has not added themself, a wrong password and a replayed return are each
//! refused with their code and leave nothing behind.
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use testkit::{TestApp, location, on_both_backends, url_query};

async fn spawn(backend: testkit::TestBackend) -> TestApp {
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()).await.0
}

fn citizen(t: &TestApp, name: &str) -> sim::demo::Citizen {
    sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == name).unwrap()
}

pub(crate) async fn add_self(t: &TestApp, cookie: &str, name: &str) {
    t.add_demo_patient(cookie, name, "self").await;
}

/// Submits the binding form; returns the response (a redirect to the verification page,
/// or the form again with an error).
async fn start(t: &TestApp, cookie: &str, name: &str, from: &str) -> reqwest::Response {
    let c = citizen(t, name);
    TestApp::http()
        .post(t.url("/children/bind"))
        .header("cookie", cookie)
        .form(&[("from", from), ("name", &c.name), ("id_card_no", &c.id_card_no), ("consent", "1")])
        .send()
        .await
        .unwrap()
}

/// The guardian types the pay password on the verification page (simulator).
async fn verify(verification_url: &str, password: &str) -> reqwest::Response {
    let q = url_query(verification_url);
    let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let action = format!("{}/__sim/medins/family-bind", verification_url.split("/__sim/").next().unwrap());
    TestApp::http()
        .post(action)
        .form(&[("decision", "verify"), ("redirect_uri", &get("redirect_uri")), ("state", &get("state")), ("child", &get("child")), ("password", password)])
        .send()
        .await
        .unwrap()
}

/// The whole binding: form → verification → back to us. Returns where we sent the guardian.
pub(crate) async fn bind(t: &TestApp, cookie: &str, name: &str, from: &str) -> String {
    let r = start(t, cookie, name, from).await;
    assert_eq!(r.status(), 303, "{name}: {}", r.text().await.unwrap());
    let page = location(r.headers());
    assert!(page.contains("/__sim/medins/family-bind"), "{page}");
    let r = verify(&page, sim::nhsa::DEMO_PAY_PASSWORD).await;
    let back = location(r.headers());
    let path = back.split_once("://").map(|(_, rest)| &rest[rest.find('/').unwrap()..]).unwrap().to_owned();
    let r = TestApp::http().get(t.url(&path)).header("cookie", cookie).send().await.unwrap();
    location(r.headers())
}

on_both_backends! {
    async fn a_guardian_binds_two_children_and_pays_with_their_insurance(backend) {
        let t = spawn(backend).await;
        let (_, wang) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        // No "self" yet: the guardian must be a verified 就诊人 first.
        let r = start(&t, &wang, "赵小雨", "official_account").await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("请先添加本人为就诊人"));
        add_self(&t, &wang, "王芳").await;
        // A wrong password keeps the guardian on the verification page; nothing is bound.
        let r = start(&t, &wang, "赵小雨", "si_notice").await;
        let page = location(r.headers());
        let wrong = verify(&page, "000000").await;
        assert_eq!(wrong.status(), 200);
        assert!(wrong.text().await.unwrap().contains("支付密码错误"));
        // Right password: bound. The HIS knew 赵小雨; 赵小川 is registered on the way (建档).
        let r = verify(&page, sim::nhsa::DEMO_PAY_PASSWORD).await;
        let back = location(r.headers());
        let path = back.split_once("://").map(|(_, rest)| rest[rest.find('/').unwrap()..].to_owned()).unwrap();
        let done = location(TestApp::http().get(t.url(&path)).header("cookie", &wang).send().await.unwrap().headers());
        assert!(done.starts_with("/children?bound="), "{done}");
        // The return address replayed: the binding is spent.
        let again = location(TestApp::http().get(t.url(&path)).header("cookie", &wang).send().await.unwrap().headers());
        assert_eq!(again, "/children?error=CHILD_BINDING_EXPIRED");
        let done = bind(&t, &wang, "赵小川", "esscard").await;
        assert!(done.starts_with("/children?bound="), "{done}");
        let page = TestApp::http().get(t.url("/children")).header("cookie", &wang).send().await.unwrap().text().await.unwrap();
        let tail = |name: &str| citizen(&t, name).id_card_no[14..].to_owned();
        assert!(page.contains(&tail("赵小雨")) && page.contains(&tail("赵小川")) && page.contains("电子社保卡") && page.contains("深圳社保通知"), "{page}");
        // The guardian tells the two 赵* apart in her own lists: daughter and son, with ages.
        assert!(page.contains("（女儿，") && page.contains("（儿子，"), "{page}");
        let picker = TestApp::http().get(t.url("/card")).header("cookie", &wang).send().await.unwrap().text().await.unwrap();
        assert!(picker.contains("（女儿，") && picker.contains("（儿子，") && picker.contains("（本人）"), "{picker}");
        let patients: Value = TestApp::http().get(t.url("/api/v1/me/patients")).header("cookie", &wang).send().await.unwrap().json().await.unwrap();
        let kids: Vec<&Value> = patients.as_array().unwrap().iter().filter(|p| p["insurance_kind"] == "children").collect();
        assert_eq!(kids.len(), 2, "{patients}");
        assert_eq!(t.store.audit_count(Some("child.bind")).await.unwrap(), 2);
        // 赵小雨's registration in 儿科 (an INS-2 exception for children) with 少儿医保.
        let xiaoyu = kids.iter().find(|p| p["id_no_masked"].as_str().unwrap().ends_with(&tail("赵小雨"))).unwrap()["id"].as_i64().unwrap();
        let v = t.app.department_view("0103").await.unwrap();
        let now = domain::clock::to_local(t.app.now()).naive_local();
        let slot = v.schedules.iter().filter(|s| !s.suspended).flat_map(|s| s.slots.iter().map(move |x| (s, x))).find(|(s, x)| x.available > 0 && s.date.and_time(x.start) > now).unwrap().1.slot_id.clone();
        let r = TestApp::http().post(t.url("/api/v1/me/registrations")).header("cookie", &wang).json(&json!({"patient_id": xiaoyu, "dept_id": "0103", "slot_id": slot})).send().await.unwrap();
        assert_eq!(r.status(), 201);
        let b: Value = r.json().await.unwrap();
        let order_no = b["order_no"].as_str().unwrap().to_owned();
        let o: Value = TestApp::http().get(t.url(&format!("/api/v1/me/orders/{order_no}"))).header("cookie", &wang).send().await.unwrap().json().await.unwrap();
        assert_eq!(o["methods"], json!(["child_insurance", "self_pay"]));
        let url = t.app.insurance_authorize_url(&order_no, "", app::billing::PayMethod::ChildInsurance, "http://localhost/x").await.unwrap();
        let (code, st) = t.authorise_insurance(&url, true).await;
        let split = t.app.insurance_presettle(&order_no, &code, &st, "oDemo_wangfang_0003", &app::Actor::system("test")).await.unwrap();
        assert!(split.fund.0 > 0, "少儿医保 pays: {split:?}");
        let cashier = t.app.insurance_cashier_url(&order_no, "").await.unwrap();
        let id = cashier.split("/cashier/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        TestApp::http().post(format!("{}/__sim/nhsa/cashier/{id}", t.nhsa_url)).form(&[("decision", "confirm"), ("redirect", "")]).send().await.unwrap();
        t.app.resolve_payment(&order_no).await.unwrap();
        if split.self_pay.0 > 0 {
            let c = t.app.start_self_pay(&order_no).await.unwrap();
            TestApp::http().post(format!("{c}/pay")).send().await.unwrap();
            t.app.resolve_payment(&order_no).await.unwrap();
        }
        t.drain_jobs().await;
        let b: Value = TestApp::http().get(t.url(&format!("/api/v1/me/registrations/{}", b["booking_no"].as_str().unwrap()))).header("cookie", &wang).send().await.unwrap().json().await.unwrap();
        assert_eq!(b["state"], "confirmed", "{b}");
    }
}

on_both_backends! {
    async fn refusals_leave_nothing_behind(backend) {
        let t = spawn(backend).await;
        let (_, lina) = t.wechat_sign_in("oDemo_lina_0002").await;
        add_self(&t, &lina, "李娜").await;
        // 赵小雨's registered guardian is 王芳, not 李娜.
        let r = start(&t, &lina, "赵小雨", "official_account").await;
        assert_eq!(r.status(), 200);
        assert!(r.text().await.unwrap().contains("监护人与您的实名信息不符"));
        // An adult has no 少儿医保.
        let r = start(&t, &lina, "张伟", "official_account").await;
        assert!(r.text().await.unwrap().contains("未查询到该儿童的少儿医保"));
        // Without consent nothing starts.
        let c = citizen(&t, "杨小宝");
        let r = TestApp::http().post(t.url("/children/bind")).header("cookie", &lina).form(&[("name", c.name.as_str()), ("id_card_no", c.id_card_no.as_str())]).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(t.store.audit_count(Some("child.bind_start")).await.unwrap(), 0);
        let patients: Value = TestApp::http().get(t.url("/api/v1/me/patients")).header("cookie", &lina).send().await.unwrap().json().await.unwrap();
        assert_eq!(patients.as_array().unwrap().len(), 1, "only herself: {patients}");
        // Her own child 杨小宝 (not yet known to the HIS) binds fine.
        assert!(bind(&t, &lina, "杨小宝", "official_account").await.starts_with("/children?bound="));
        // Cancelling on the verification page binds nothing.
        let (_, wang) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        add_self(&t, &wang, "王芳").await;
        let page = location(start(&t, &wang, "赵小雨", "official_account").await.headers());
        let q = url_query(&page);
        let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap_or_default();
        let r = TestApp::http()
            .post(format!("{}/__sim/medins/family-bind", t.nhsa_url))
            .form(&[("decision", "cancel"), ("redirect_uri", &get("redirect_uri")), ("state", &get("state"))])
            .send()
            .await
            .unwrap();
        let back = location(r.headers());
        let path = back.split_once("://").map(|(_, rest)| rest[rest.find('/').unwrap()..].to_owned()).unwrap();
        let r = TestApp::http().get(t.url(&path)).header("cookie", &wang).send().await.unwrap();
        assert_eq!(location(r.headers()), "/children?error=CHILD_BINDING_EXPIRED");
        assert_eq!(t.store.child_bindings(2).await.unwrap().len() + t.store.child_bindings(1).await.unwrap().len(), 1, "only 杨小宝's binding");
    }
}

on_both_backends! {
    async fn the_binding_works_through_the_json_api_too(backend) {
        let t = spawn(backend).await;
        let (_, wang) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        add_self(&t, &wang, "王芳").await;
        let c = citizen(&t, "赵小雨");
        let start = |body: Value| {
            let (url, cookie) = (t.url("/api/v1/me/children/bindings"), wang.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).json(&body).send().await.unwrap() }
        };
        let r = start(json!({"name": c.name, "id_card_no": c.id_card_no, "source": "esscard", "redirect_uri": "https://evil.example/bound"})).await;
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "VALIDATION_FAILED", "only back to our own origin");
        let r = start(json!({"name": c.name, "id_card_no": c.id_card_no, "source": "esscard", "redirect_uri": t.url("/app/bound")})).await;
        assert_eq!(r.status(), 200);
        let next = r.json::<Value>().await.unwrap()["next_url"].as_str().unwrap().to_owned();
        let back = location(verify(&next, sim::nhsa::DEMO_PAY_PASSWORD).await.headers());
        assert!(back.starts_with(&t.url("/app/bound?")), "{back}");
        let q = url_query(&back);
        let get = |k: &str| q.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).unwrap();
        let complete = |code: String, state: String| {
            let (url, cookie) = (t.url("/api/v1/me/children/bindings/complete"), wang.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).json(&json!({"bind_code": code, "state": state})).send().await.unwrap() }
        };
        let r = complete("forged".into(), get("state")).await;
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "INSURANCE_AUTH_FAILED", "the receiver decides, not the caller");
        // The forged attempt spent nothing: the genuine code completes the binding, once.
        let r = complete(get("bindCode"), get("state")).await;
        assert_eq!(r.status(), 200);
        let child: Value = r.json().await.unwrap();
        assert!(child["patient_id"].as_i64().is_some() && child["source"] == "esscard", "{child}");
        let r = complete(get("bindCode"), get("state")).await;
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "CHILD_BINDING_EXPIRED");
        let list: Value = TestApp::http().get(t.url("/api/v1/me/children")).header("cookie", &wang).send().await.unwrap().json().await.unwrap();
        assert_eq!(list.as_array().unwrap().len(), 1);
    }
}
