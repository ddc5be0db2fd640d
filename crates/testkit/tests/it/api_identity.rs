//! Patient sign-in and 就诊人 management through the real HTTP API, on both backends.
use serde_json::{Value, json};
use testkit::app::id_number;
use testkit::{TestApp, on_both_backends};

const LINA: &str = "oDemo_lina_0002";
const ZHANG: &str = "oDemo_zhangwei_0001";

fn citizen(name: &str) -> sim::demo::Citizen {
    let today = domain::clock::to_local(chrono::Utc::now()).date_naive();
    sim::demo::citizens(today).into_iter().find(|c| c.name == name).unwrap()
}

async fn add(t: &TestApp, cookie: &str, body: Value) -> reqwest::Response {
    TestApp::http().post(t.url("/api/v1/me/patients")).header("cookie", cookie).json(&body).send().await.unwrap()
}

async fn list(t: &TestApp, cookie: &str) -> Vec<Value> {
    let r = TestApp::http().get(t.url("/api/v1/me/patients")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

on_both_backends! {
    async fn session_cookie_is_host_prefixed_secure_httponly_and_rotates(backend) {
        let t = TestApp::spawn(backend).await;
        let (set, pair) = t.wechat_sign_in(LINA).await;
        assert!(set.starts_with("__Host-cb_patient="));
        for attr in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
            assert!(set.contains(attr), "{attr} missing in {set}");
        }
        assert!(!set.contains("Domain="), "__Host- cookies carry no Domain");
        let token = pair.split_once('=').unwrap().1;
        assert!(token.len() * 4 >= 128, "token has at least 128 bits");
        // A second sign-in gets a new identifier (S2: rotation on login).
        let (_, pair2) = t.wechat_sign_in(LINA).await;
        assert_ne!(pair, pair2);
        // Logout invalidates server-side: replaying the old cookie is refused.
        let r = TestApp::http().post(t.url("/logout")).header("cookie", &pair2).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let r = TestApp::http().get(t.url("/api/v1/me/patients")).header("cookie", &pair2).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "UNAUTHENTICATED");
        // The first session is still valid (logging out one device leaves the other).
        assert_eq!(TestApp::http().get(t.url("/api/v1/me/patients")).header("cookie", &pair).send().await.unwrap().status(), 200);
    }
}

on_both_backends! {
    async fn oauth_callback_rejects_forged_state_and_reused_code(backend) {
        let t = TestApp::spawn(backend).await;
        // No state cookie: a callback URL planted by someone else (login CSRF).
        let r = TestApp::http().get(t.url("/wx/callback?code=abc&state=deadbeef.2f")).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let issued = t.wechat.lock().unwrap().issue_code(LINA, "snsapi_userinfo");
        let nonce = "0123456789abcdef";
        let cb = t.url(&format!("/wx/callback?code={issued}&state={nonce}.2f"));
        let cookie = format!("__Host-cb_oauth={nonce}");
        let r = TestApp::http().get(&cb).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 303, "first use signs in");
        let r = TestApp::http().get(&cb).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 401, "a WeChat code is single-use (40163)");
        let body = r.text().await.unwrap();
        assert!(body.contains("WECHAT_AUTH_FAILED"), "{body}");
    }
}

on_both_backends! {
    async fn add_child_with_real_name_check_and_his_registration(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in(LINA).await;
        let child = citizen("杨小宝");
        let r = add(&t, &cookie, json!({"name": child.name, "id_card_no": child.id_card_no, "relationship": "child"})).await;
        assert_eq!(r.status(), 201);
        let p: Value = r.json().await.unwrap();
        assert_eq!(p["name_masked"], "杨**");
        assert_eq!(p["insurance_kind"], "children");
        assert!(p["mr_no"].as_str().unwrap().starts_with("MR"), "registered in the HIS: {p}");
        assert!(!p.to_string().contains(&child.id_card_no), "API never returns the full ID number");
        let listed = list(&t, &cookie).await;
        assert_eq!(listed.len(), 1);
        // The HIS now knows the child (建档 happened through the connector).
        let found = t.his_port.find_patient(&child.id_card_no).await.unwrap().expect("registered");
        assert_eq!(found.mr_no, p["mr_no"].as_str().unwrap());
        // One audit row for the addition, and the chain holds.
        assert_eq!(t.store.audit_count(Some("patient.add")).await.unwrap(), 1);
        assert!(matches!(t.store.verify_audit_chain().await.unwrap(), store::audit::ChainVerdict::Intact { .. }));
    }
}

on_both_backends! {
    async fn refusals_have_stable_codes_and_write_nothing(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in(ZHANG).await;
        let me = citizen("张伟");
        let cases = [
            (json!({"name": "张伟", "id_card_no": "440305198503121234", "relationship": "self"}), 422, "ID_NUMBER_INVALID"),
            (json!({"name": "张伟", "id_card_no": "12345", "relationship": "self"}), 422, "ID_NUMBER_INVALID"),
            (json!({"name": "张3", "id_card_no": me.id_card_no, "relationship": "self"}), 422, "NAME_INVALID"),
            (json!({"name": "张伟", "id_card_no": me.id_card_no, "mobile": "12345", "relationship": "self"}), 422, "MOBILE_INVALID"),
            (json!({"name": "张伟", "id_card_no": me.id_card_no, "relationship": "boss"}), 422, "RELATIONSHIP_INVALID"),
            (json!({"name": "李四", "id_card_no": me.id_card_no, "relationship": "self"}), 422, "REAL_NAME_MISMATCH"),
            (json!({"name": "杨小宝", "id_card_no": citizen("杨小宝").id_card_no, "relationship": "self"}), 422, "GUARDIAN_REQUIRED"),
        ];
        for (body, status, code) in cases {
            let r = add(&t, &cookie, body.clone()).await;
            assert_eq!(r.status().as_u16(), status, "{body}");
            let e: Value = r.json().await.unwrap();
            assert_eq!(e["code"], code, "{body}");
            assert!(e["message"].as_str().unwrap().chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)));
            assert_eq!(e["correlation_id"].as_str().unwrap().len(), 24);
        }
        assert!(list(&t, &cookie).await.is_empty(), "nothing half-written");
        assert_eq!(t.store.audit_count(Some("patient.add")).await.unwrap(), 0);

        // Added twice: the second is refused, and the list still has one.
        let ok = json!({"name": "张伟", "id_card_no": me.id_card_no, "mobile": "13800138001", "relationship": "self"});
        assert_eq!(add(&t, &cookie, ok.clone()).await.status(), 201);
        let r = add(&t, &cookie, ok.clone()).await;
        assert_eq!(r.status(), 409);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "PATIENT_ALREADY_ADDED");
        // Two racing submissions of the same new person: exactly one lands.
        let mum = citizen("吴秀英");
        let body = json!({"name": mum.name, "id_card_no": mum.id_card_no, "relationship": "parent"});
        let (a, b) = tokio::join!(add(&t, &cookie, body.clone()), add(&t, &cookie, body.clone()));
        let mut statuses = [a.status().as_u16(), b.status().as_u16()];
        statuses.sort();
        assert_eq!(statuses, [201, 409]);
        assert_eq!(list(&t, &cookie).await.len(), 2);
    }
}

on_both_backends! {
    async fn his_outage_is_a_clear_503_and_nothing_is_stored(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_newcomer_0004").await;
        t.set_his_faults(json!({"fail_next": [["patient_query", "9999"]]})).await;
        let someone = id_number("44030519910101001");
        let r = add(&t, &cookie, json!({"name": "新病人", "id_card_no": someone, "relationship": "self"})).await;
        assert_eq!(r.status(), 502);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "HIS_REJECTED");
        t.set_his_faults(json!({"latency_ms": 0, "lose_response_next": ["patient_create"]})).await;
        let r = add(&t, &cookie, json!({"name": "新病人", "id_card_no": someone, "relationship": "self"})).await;
        assert_eq!(r.status(), 503);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "HIS_UNAVAILABLE");
        assert!(list(&t, &cookie).await.is_empty());
        // The HIS did register the patient (its answer was lost); a retry finds the
        // record instead of creating a second one.
        t.set_his_faults(json!({})).await;
        let r = add(&t, &cookie, json!({"name": "新病人", "id_card_no": someone, "relationship": "self"})).await;
        assert_eq!(r.status(), 201);
        assert_eq!(list(&t, &cookie).await.len(), 1);
    }
}

on_both_backends! {
    async fn another_users_patient_is_not_found(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, a) = t.wechat_sign_in(LINA).await;
        let (_, b) = t.wechat_sign_in(ZHANG).await;
        let me = citizen("李娜");
        let r = add(&t, &a, json!({"name": me.name, "id_card_no": me.id_card_no, "relationship": "self"})).await;
        let id = r.json::<Value>().await.unwrap()["id"].as_i64().unwrap();
        let r = TestApp::http().delete(t.url(&format!("/api/v1/me/patients/{id}"))).header("cookie", &b).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = TestApp::http().post(t.url(&format!("/patients/{id}/delete"))).header("cookie", &b).send().await.unwrap();
        assert_eq!(r.status(), 404, "another account's 就诊人 is not even named on a confirmation page");
        let r = TestApp::http().post(t.url(&format!("/patients/{id}/delete"))).header("cookie", &b).form(&[("confirmed", "1")]).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(list(&t, &a).await.len(), 1, "A's patient untouched");
        // The owner's removal from the page asks first, naming who.
        let ask = TestApp::http().post(t.url(&format!("/patients/{id}/delete"))).header("cookie", &a).send().await.unwrap();
        assert_eq!(ask.status(), 200);
        let page = ask.text().await.unwrap();
        assert!(page.contains("移除就诊人") && page.contains("李*") && page.contains("name=\"confirmed\""), "{page}");
        assert_eq!(list(&t, &a).await.len(), 1, "nothing removed before the confirmation");
        let r = TestApp::http().delete(t.url(&format!("/api/v1/me/patients/{id}"))).header("cookie", &a).send().await.unwrap();
        assert_eq!(r.status(), 204);
        assert!(list(&t, &a).await.is_empty());
    }
}

on_both_backends! {
    async fn stored_personal_data_is_sealed(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in(LINA).await;
        let me = citizen("李娜");
        assert_eq!(add(&t, &cookie, json!({"name": me.name, "id_card_no": me.id_card_no, "mobile": me.mobile, "relationship": "self"})).await.status(), 201);
        // Every value of every column (a Debug print of the rows showed none, so an
        // earlier version of this check could not fail).
        let tables = crate::nothing_leaks::dump(&t).await;
        let dump = &tables.iter().find(|(name, _)| name == "patient").expect("patient table").1;
        assert!(dump.contains("李*"), "the dump shows the masked name: {dump}");
        assert!(!dump.contains(&me.id_card_no) && !dump.contains(&me.mobile) && !dump.contains("李娜"), "plaintext in the patient table");
    }
}
