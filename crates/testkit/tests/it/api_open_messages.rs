//! The open message interface (MSG-3) on both backends: the HIS simulator pushes every
//! one of its events signed through it and each becomes the patient's notice; the status
//! query; and every way a push can be wrong — a bad signature, a replayed nonce, a stale
//! timestamp, an unknown scene or patient, a missing variable, a reused idempotency key —
//! answered with its code and a hint, with nothing recorded.
use chrono::{TimeZone, Utc};
use gateways::messages::open_api::OpenApiClient;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{TestApp, on_both_backends};

async fn spawn(backend: testkit::TestBackend) -> (TestApp, domain::FakeClock) {
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()).await
}

fn client(t: &TestApp, secret: &str) -> OpenApiClient {
    OpenApiClient::new(&t.base, sim::his::DEMO_PUSH_KEY_ID, secret, std::time::Duration::from_secs(5))
}

async fn push(t: &TestApp, c: &OpenApiClient, idem: &str, body: &Value) -> (u16, Value) {
    let r = c.request(Method::POST, "/open/v1/messages", Some(body), t.app.now().timestamp()).header("idempotency-key", idem).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn his_id(t: &TestApp, patient_id: i64) -> String {
    t.store.patient_by_id(patient_id).await.unwrap().unwrap().his_patient_id
}

async fn fire(t: &TestApp, event: &str, his_patient_id: &str) -> (u16, Value) {
    let r = TestApp::http().post(format!("{}/__sim/his/events", t.his_url)).json(&json!({"event": event, "patient_id": his_patient_id})).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

on_both_backends! {
    async fn every_his_event_reaches_the_patient_through_the_open_interface(backend) {
        let (t, _) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let zhang = t.add_demo_patient(&cookie, "张伟", "self").await;
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let (zhang_his, huang_his) = (his_id(&t, zhang).await, his_id(&t, huang).await);
        let expected = [
            ("orders_issued", "bill.due"),
            ("medicine_ready", "medicine.ready"),
            ("dispensed", "medicine.picked_up"),
            ("critical_value", "critical_value"),
            ("exam_precautions", "exam.precautions"),
            ("medication_guidance", "medication.guidance"),
            ("surgery", "surgery.notice"),
            ("admission_notice", "admission.notice"),
            ("admission", "admission.prompt"),
            ("deposit_low", "deposit.low"),
            ("discharge", "discharge.prompt"),
        ];
        assert_eq!(expected.len(), sim::his_events::EVENTS.len());
        for (event, scene) in expected {
            let who = if matches!(event, "deposit_low" | "discharge") { &huang_his } else { &zhang_his };
            let (status, v) = fire(&t, event, who).await;
            assert_eq!(status, 202, "{event}: {v}");
            assert_eq!(v["scene"], scene);
            assert_eq!(v["messages"].as_array().unwrap().len(), 1, "{event}");
            // Delivered before the next event (a pickup reminder sent after the medicine
            // was handed out would be stale and suppressed, M7).
            t.drain_jobs().await;
        }
        // A stay-less patient has no deposit to be low.
        assert_eq!(fire(&t, "deposit_low", &zhang_his).await.0, 400);
        t.drain_jobs().await;
        let v: Value = TestApp::http().get(t.url("/api/v1/me/messages")).header("cookie", &cookie).send().await.unwrap().json().await.unwrap();
        let scenes: Vec<&str> = v["messages"].as_array().unwrap().iter().map(|m| m["scene"].as_str().unwrap()).collect();
        for (_, scene) in expected {
            assert!(scenes.contains(&scene), "{scene} in the inbox: {scenes:?}");
        }
        // The admission notice opens the page where it is booked, and the HIS holds it open.
        let notice = v["messages"].as_array().unwrap().iter().find(|m| m["scene"] == "admission.notice").unwrap();
        assert!(notice["body"].as_str().unwrap().contains("骨科入院通知单") && notice["link"] == "/inpatient/admission", "{notice}");
        assert!(t.his_port.admission_notices(&zhang_his).await.unwrap().iter().any(|n| n.status == domain::inpatient::admission_booking::NoticeStatus::Open));
        // Notices that send the patient somewhere carry the navigation system's route.
        let pickup = v["messages"].as_array().unwrap().iter().find(|m| m["scene"] == "medicine.ready").unwrap();
        let route = pickup["route_url"].as_str().expect("a route");
        assert!(route.starts_with(&t.navigation_url), "{route}");
        assert!(pickup["body"].as_str().unwrap().contains("西药房"), "{pickup}");
        let page = TestApp::http().get(route).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("前往：门诊西药房"));
        // The doctor's orders became a real unpaid bill the patient can pay.
        let bills = t.his_port.unpaid_bills(&zhang_his).await.unwrap();
        let due = v["messages"].as_array().unwrap().iter().find(|m| m["scene"] == "bill.due").unwrap();
        assert_eq!(due["link"], "/bills");
        assert!(bills.len() >= 2, "the seeded bill and the new one");
        // The WeChat simulator carried them, each once.
        assert_eq!(t.wechat_sent().len(), expected.len());
    }
}

on_both_backends! {
    async fn a_push_is_signed_once_fresh_valid_and_idempotent(backend) {
        let (t, _) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_lina_0002").await;
        let lina = t.add_demo_patient(&cookie, "李娜", "self").await;
        let his = his_id(&t, lina).await;
        let c = client(&t, sim::his::DEMO_PUSH_SECRET);
        let body = json!({"scene": "report.ready", "his_patient_id": his, "variables": {"report_id": "RP9", "report_name": "肝功能", "reported_at": "2026-11-26 10:05", "dept_name": "检验科"}});
        let (s, first) = push(&t, &c, "lis-1", &body).await;
        assert_eq!(s, 202, "{first}");
        let no = first["messages"][0]["message_no"].as_str().unwrap().to_owned();
        // The same key and body: the first answer, nothing new.
        let (s, again) = push(&t, &c, "lis-1", &body).await;
        assert_eq!((s, &again), (202, &first));
        // The same report under another key is still one notice (its event key is the report).
        let (_, other_key) = push(&t, &c, "lis-2", &body).await;
        assert_eq!(other_key["messages"][0]["message_no"], no.as_str());
        // The same key with another body is refused.
        let mut changed = body.clone();
        changed["variables"]["report_name"] = json!("肾功能");
        let (s, e) = push(&t, &c, "lis-1", &changed).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (422, "IDEMPOTENCY_KEY_REUSED"));
        t.drain_jobs().await;
        // The status query, signed too, shows the delivery.
        let r = c.request(Method::GET, &format!("/open/v1/messages/{no}"), None, t.app.now().timestamp()).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let st: Value = r.json().await.unwrap();
        assert_eq!(st["status"], "sent");
        assert_eq!(st["deliveries"][0]["channel"], "wechat_template");

        // A wrong secret, a replayed nonce, a stale clock.
        let (s, e) = push(&t, &client(&t, "not-the-secret"), "x-1", &body).await;
        assert_eq!((s, e["code"].as_str().unwrap()), (401, "SIGNATURE_INVALID"));
        let ts = t.app.now().timestamp().to_string();
        let raw = body.to_string();
        let sig = gateways::messages::open_api::sign(sim::his::DEMO_PUSH_SECRET, "POST", "/open/v1/messages", &ts, "nonce-0001", raw.as_bytes());
        let send = |idem: &'static str, ts: String, sig: String| {
            TestApp::http()
                .post(t.url("/open/v1/messages"))
                .header("x-cb-key", sim::his::DEMO_PUSH_KEY_ID)
                .header("x-cb-timestamp", ts)
                .header("x-cb-nonce", "nonce-0001")
                .header("x-cb-signature", sig)
                .header("idempotency-key", idem)
                .header("content-type", "application/json")
                .body(raw.clone())
                .send()
        };
        assert_eq!(send("n-1", ts.clone(), sig.clone()).await.unwrap().status(), 202);
        let r = send("n-2", ts.clone(), sig.clone()).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "NONCE_REPLAYED");
        let old = (t.app.now().timestamp() - 600).to_string();
        let old_sig = gateways::messages::open_api::sign(sim::his::DEMO_PUSH_SECRET, "POST", "/open/v1/messages", &old, "nonce-0001", raw.as_bytes());
        let r = send("n-3", old, old_sig).await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "TIMESTAMP_SKEWED");
        // The body changed after signing.
        let r = TestApp::http()
            .post(t.url("/open/v1/messages"))
            .header("x-cb-key", sim::his::DEMO_PUSH_KEY_ID)
            .header("x-cb-timestamp", &ts)
            .header("x-cb-nonce", "nonce-0002")
            .header("x-cb-signature", &sig)
            .header("idempotency-key", "n-4")
            .header("content-type", "application/json")
            .body(raw.replace("肝功能", "肾功能"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "SIGNATURE_INVALID");

        // Bad content: each refused with its code and a hint, nothing recorded.
        let events_before = t.store.events_of(lina).await.unwrap().len();
        let cases = [
            (json!({"scene": "lottery.win", "his_patient_id": his}), 422, "SCENE_UNKNOWN", "lottery.win"),
            (json!({"scene": "report.ready", "his_patient_id": "P99999999", "variables": body["variables"]}), 404, "RECIPIENT_NOT_FOUND", ""),
            (json!({"scene": "report.ready", "his_patient_id": his, "variables": {"report_id": "RP10"}}), 422, "TEMPLATE_INVALID", "report_name"),
            (json!({"scene": "hospital.notice", "his_patient_id": his}), 422, "VALIDATION_FAILED", "title"),
            (json!({"scene": "report.ready", "his_patient_id": his, "variables": {"report_id": "RP11", "report_name": "x", "reported_at": "", "dept_name": "", "link": "https://evil.example/"}}), 422, "VALIDATION_FAILED", "link"),
        ];
        for (i, (b, status, code, hint)) in cases.into_iter().enumerate() {
            let (s, e) = push(&t, &c, &format!("bad-{i}"), &b).await;
            assert_eq!((s, e["code"].as_str().unwrap()), (status, code), "{e}");
            assert!(e["hint"].as_str().unwrap_or_default().contains(hint), "{e}");
            assert!(e["correlation_id"].is_string());
        }
        let r = c.request(Method::POST, "/open/v1/messages", Some(&body), t.app.now().timestamp()).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "VALIDATION_FAILED", "Idempotency-Key is required");
        assert_eq!(t.store.events_of(lina).await.unwrap().len(), events_before);
        // A free notice.
        let (s, v) = push(&t, &c, "free-1", &json!({"scene": "hospital.notice", "his_patient_id": his, "title": "门诊停电检修通知", "text": "本周六8:00-10:00门诊楼2楼检修，自助机暂停使用。"})).await;
        assert_eq!(s, 202, "{v}");
        // Another client cannot read this one's messages.
        t.store.add_open_api_client("pacs", "PACS", "pacs-secret", t.app.now()).await.unwrap();
        let pacs = OpenApiClient::new(&t.base, "pacs", "pacs-secret", std::time::Duration::from_secs(5));
        let r = pacs.request(Method::GET, &format!("/open/v1/messages/{no}"), None, t.app.now().timestamp()).send().await.unwrap();
        assert_eq!(r.status(), 404);
    }
}

on_both_backends! {
    async fn an_administrator_registers_a_client_whose_secret_then_signs_pushes(backend) {
        let (t, _) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_lina_0002").await;
        let lina = t.add_demo_patient(&cookie, "李娜", "self").await;
        let admin = t.staff_sign_in("admin").await;
        let r = TestApp::http().post(t.url("/staff/admin/open-api")).header("cookie", &admin).header("origin", &t.base).form(&[("key_id", "pacs"), ("name", "影像科PACS")]).send().await.unwrap();
        let page = r.text().await.unwrap();
        let secret = page.split("<code id=\"secret\">").nth(1).and_then(|s| s.split("</code>").next()).expect("the secret is shown once").to_owned();
        // Not shown again.
        let again = TestApp::http().get(t.url("/staff/admin/open-api")).header("cookie", &admin).send().await.unwrap().text().await.unwrap();
        assert!(again.contains("影像科PACS") && !again.contains(&secret));
        let dup = TestApp::http().post(t.url("/staff/admin/open-api")).header("cookie", &admin).header("origin", &t.base).form(&[("key_id", "pacs"), ("name", "x")]).send().await.unwrap();
        assert!(dup.text().await.unwrap().contains("已存在"));
        // The new client pushes with it.
        let pacs = OpenApiClient::new(&t.base, "pacs", &secret, std::time::Duration::from_secs(5));
        let body = json!({"scene": "exam.precautions", "his_patient_id": his_id(&t, lina).await, "variables": {"exam_name": "腹部超声", "scheduled_at": "2026-11-27 08:30", "place": "门诊楼3楼超声科", "precautions": "检查前8小时禁食", "destination": "US-1"}});
        let (s, v) = push(&t, &pacs, "us-1", &body).await;
        assert_eq!(s, 202, "{v}");
        // Only administrators manage clients.
        let office = t.staff_sign_in("outpatient01").await;
        assert_eq!(TestApp::http().get(t.url("/staff/admin/open-api")).header("cookie", &office).send().await.unwrap().status(), 403);
        assert_eq!(t.store.audit_count(Some("notify.open_api_client.created")).await.unwrap(), 1);
    }
}
