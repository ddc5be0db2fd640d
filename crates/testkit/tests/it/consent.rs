//! Consent over HTTP on both backends (issue 20 item 4; S13): a test per purpose. Each
//! consent is on record with its purpose, text version, time and channel; its withdrawal
//! takes effect at once — for what is already queued too — and is honoured where the
//! purpose is used: WeChat notices, SMS (even a critical notice's fallback), a child's
//! 少儿医保 (the binding ends and the payment method goes).
use crate::api_children::{add_self, bind};
use crate::api_messages::{patient, spawn_at};
use chrono::{Duration, TimeZone, Utc};
use serde_json::{Value, json};
use testkit::{TestApp, location, on_both_backends};

async fn consents(t: &TestApp, cookie: &str) -> Vec<Value> {
    let r = TestApp::http().get(t.url("/api/v1/me/consents")).header("cookie", cookie).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

fn find<'a>(list: &'a [Value], purpose: &str) -> &'a Value {
    list.iter().find(|c| c["purpose"] == purpose).unwrap_or_else(|| panic!("{purpose} in {list:?}"))
}

/// Withdraws from the consent page: the first post shows what stops, the confirmed one does it.
async fn withdraw_on_page(t: &TestApp, cookie: &str, purpose: &str, patient_id: Option<i64>) -> String {
    let mut form = vec![];
    if let Some(p) = patient_id {
        form.push(("patient_id", p.to_string()));
    }
    let ask = TestApp::http().post(t.url(&format!("/consents/{purpose}/withdraw"))).header("cookie", cookie).form(&form).send().await.unwrap();
    assert_eq!(ask.status(), 200, "a confirmation first");
    let page = ask.text().await.unwrap();
    assert!(page.contains("撤回后立即"), "it says what stops: {page}");
    form.push(("confirmed", "1".into()));
    let r = TestApp::http().post(t.url(&format!("/consents/{purpose}/withdraw"))).header("cookie", cookie).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303);
    location(r.headers())
}

async fn messages_of(t: &TestApp, patient_id: i64, scene: &str) -> Vec<store::messages::MessageRow> {
    let q = store::messages::MessageQuery { scene: Some(scene.into()), patient_id: Some(patient_id), limit: 100, ..Default::default() };
    t.store.search_messages(&q).await.unwrap()
}

fn report_ready(no: &str) -> Value {
    json!({"report_id": no, "report_name": "血常规", "reported_at": "2026-11-26 23:40", "dept_name": "检验科"})
}

on_both_backends! {
    async fn wechat_notices_withdrawn_stop_at_once_even_what_is_queued(backend) {
        // 23:30 local: quiet hours hold non-critical notices until 07:00.
        let (t, clock) = spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 15, 30, 0).unwrap()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        // Signing in put both notice consents on record: purpose, text version, time, channel.
        let list = consents(&t, &cookie).await;
        for p in ["wechat_notices", "sms_notices"] {
            let c = find(&list, p);
            assert_eq!(c["in_force"], true, "{c}");
            assert_eq!(c["text_version"], "privacy-2026-12-01");
            assert_eq!(c["granted_via"], "微信登录时同意");
            assert_eq!(c["granted_at"], "2026-11-26 23:30");
        }
        t.emit_event("report.ready", "report.ready:R1", pid, report_ready("R1")).await;
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "report.ready").await[0].status, "queued", "held for quiet hours");
        // Withdrawn at 23:40; the queued notice must not go out at 07:00.
        clock.advance(Duration::minutes(10));
        assert_eq!(withdraw_on_page(&t, &cookie, "wechat_notices", None).await, "/consents?done=withdrawn");
        let c = find(&consents(&t, &cookie).await, "wechat_notices").clone();
        assert_eq!((c["in_force"].as_bool(), c["withdrawn_at"].as_str()), (Some(false), Some("2026-11-26 23:40")));
        // Signing in again does not give it back.
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        assert_eq!(find(&consents(&t, &cookie).await, "wechat_notices")["in_force"], false);
        clock.advance(Duration::hours(8));
        t.drain_jobs().await;
        assert!(t.wechat_sent().is_empty(), "nothing went to WeChat after the withdrawal");
        let m = &messages_of(&t, pid, "report.ready").await[0];
        assert_eq!((m.status.as_str(), m.sent_channel.as_deref()), ("sent", Some("sms")), "WeChat skipped, SMS still consented");
        let d = t.store.deliveries_of(&[m.id]).await.unwrap();
        assert!(d.iter().any(|x| x.code == "consent_withdrawn"), "{d:?}");
        // A new notice plans no WeChat at all; with SMS withdrawn too, only the inbox.
        t.emit_event("report.ready", "report.ready:R2", pid, report_ready("R2")).await;
        t.drain_jobs().await;
        let r2 = messages_of(&t, pid, "report.ready").await.into_iter().find(|m| m.dedupe_key.starts_with("report.ready:R2")).unwrap();
        assert!(!r2.plan.contains("wechat"), "{}", r2.plan);
        // (The night outlasted the session: sign in again.)
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let r = TestApp::http().post(t.url("/api/v1/me/consents/sms_notices/withdraw")).header("cookie", &cookie).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let sms_before = t.sms_sent().len();
        t.emit_event("report.ready", "report.ready:R2b", pid, report_ready("R2b")).await;
        t.drain_jobs().await;
        let m2 = messages_of(&t, pid, "report.ready").await.into_iter().find(|m| m.dedupe_key.starts_with("report.ready:R2b")).unwrap();
        assert_eq!((m2.status.as_str(), m2.plan.as_str()), ("inbox", ""), "kept in the message centre, pushed nowhere");
        assert!(t.wechat_sent().is_empty());
        assert_eq!(t.sms_sent().len(), sms_before);
        // Given again from the page: the next notice goes to WeChat.
        let r = TestApp::http().post(t.url("/consents/wechat_notices/grant")).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(location(r.headers()), "/consents?done=granted");
        t.emit_event("report.ready", "report.ready:R3", pid, report_ready("R3")).await;
        t.drain_jobs().await;
        assert_eq!(t.wechat_sent().len(), 1);
        let audit = t.store.audit_count(Some("consent.withdraw")).await.unwrap();
        assert_eq!((audit, t.store.audit_count(Some("consent.grant")).await.unwrap()), (2, 1));
        let page = TestApp::http().get(t.url("/consents")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("《个人信息保护政策》2026年12月1日版") && page.contains("授权管理页面"), "the page shows version and channel");
    }
}

on_both_backends! {
    async fn sms_withdrawn_is_honoured_even_for_a_critical_fallback(backend) {
        let (t, clock) = spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        let r = TestApp::http().post(t.url("/api/v1/me/consents/sms_notices/withdraw")).header("cookie", &cookie).json(&json!({})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let list: Vec<Value> = r.json().await.unwrap();
        assert_eq!(find(&list, "sms_notices")["in_force"], false);
        assert_eq!(find(&list, "wechat_notices")["in_force"], true, "only what was withdrawn");
        // WeChat is down; a payment result is critical and would fall back to SMS.
        t.set_wechat_faults(json!({"down": "5xx"})).await;
        t.emit_event("bill.paid", "bill.paid:O9", pid, json!({"order_no": "O9", "total": 4560, "insurance": 0, "self_pay": 4560, "invoice_no": "F1", "guidance": ["请到门诊1楼西药房取药"], "recipes": ["R9"]})).await;
        for _ in 0..60 {
            t.drain_jobs().await;
            clock.advance(Duration::seconds(10));
        }
        assert!(t.sms_sent().is_empty(), "no SMS after the withdrawal, not even a critical one");
        let m = &messages_of(&t, pid, "bill.paid").await[0];
        assert_eq!(m.status, "task", "a person calls instead");
        let tasks = t.store.tasks_of_message(m.id).await.unwrap();
        let view = t.app.staff_tasks(10).await.unwrap().into_iter().find(|v| v.id == tasks[0].id).unwrap();
        assert!(view.channels.iter().all(|c| !c.delivered), "{:?}", view.channels);
        assert!(view.channels.iter().all(|c| c.channel != "短信" || c.reason == "患者已撤回该渠道的通知授权"), "staff see why: {:?}", view.channels.iter().map(|c| (&c.channel, &c.reason)).collect::<Vec<_>>());
    }
}

on_both_backends! {
    async fn a_guardian_withdraws_a_childs_insurance_consent_and_the_binding_ends(backend) {
        let (t, _) = spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap()).await;
        let (_, wang) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        add_self(&t, &wang, "王芳").await;
        assert!(bind(&t, &wang, "赵小雨", "official_account").await.starts_with("/children?bound="));
        let list = consents(&t, &wang).await;
        let child = find(&list, "child_insurance");
        assert_eq!((child["in_force"].as_bool(), child["text_version"].as_str(), child["granted_via"].as_str()), (Some(true), Some("child-insurance-2026-12-01"), Some("少儿医保绑定页面")));
        let kid = child["patient_id"].as_i64().unwrap();
        assert!(child["patient_label"].as_str().unwrap().contains("女儿"), "{child}");
        // A 儿科 booking for her offers 少儿医保 while the consent stands.
        let v = t.app.department_view("0103").await.unwrap();
        let now = domain::clock::to_local(t.app.now()).naive_local();
        let slot = v.schedules.iter().filter(|s| !s.suspended).flat_map(|s| s.slots.iter().map(move |x| (s, x))).find(|(s, x)| x.available > 0 && s.date.and_time(x.start) > now).unwrap().1.slot_id.clone();
        let b: Value = TestApp::http().post(t.url("/api/v1/me/registrations")).header("cookie", &wang).json(&json!({"patient_id": kid, "dept_id": "0103", "slot_id": slot})).send().await.unwrap().json().await.unwrap();
        let order = b["order_no"].as_str().unwrap().to_owned();
        let methods = async || -> Value { TestApp::http().get(t.url(&format!("/api/v1/me/orders/{order}"))).header("cookie", &wang).send().await.unwrap().json::<Value>().await.unwrap()["methods"].clone() };
        assert_eq!(methods().await, json!(["child_insurance", "self_pay"]));
        // Another account cannot withdraw it.
        let (_, lina) = t.wechat_sign_in("oDemo_lina_0002").await;
        let r = TestApp::http().post(t.url("/api/v1/me/consents/child_insurance/withdraw")).header("cookie", &lina).json(&json!({"patient_id": kid})).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(methods().await, json!(["child_insurance", "self_pay"]));
        // The guardian withdraws it: at once the binding ends and 少儿医保 is not offered.
        assert_eq!(withdraw_on_page(&t, &wang, "child_insurance", Some(kid)).await, "/consents?done=withdrawn");
        assert_eq!(methods().await, json!(["self_pay"]), "honoured where the binding is used");
        let page = TestApp::http().get(t.url("/children")).header("cookie", &wang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("暂未绑定"), "{page}");
        let c = find(&consents(&t, &wang).await, "child_insurance").clone();
        assert_eq!((c["in_force"].as_bool(), c["grantable_here"].as_bool()), (Some(false), Some(false)), "given again only by binding again");
        assert!(c["withdrawn_at"].is_string());
        // Binding again is a new grant on record.
        assert!(bind(&t, &wang, "赵小雨", "official_account").await.starts_with("/children?bound="));
        assert_eq!(find(&consents(&t, &wang).await, "child_insurance")["in_force"], true);
        assert_eq!(methods().await, json!(["child_insurance", "self_pay"]));
    }
}
