//! The message platform on both backends with a fake clock, against the WeChat and SMS
//! simulators over HTTP: M1 (one message per event and recipient, replays send nothing),
//! M2 (transient errors retried with backoff, permanent ones fall through), M3 (a lost
//! answer is unknown: repeated only where WeChat dedupes), M4 (critical notices ignore
//! quiet hours and preferences and fall back to SMS, then to staff), M5 (the preference
//! matrix), M6/G8 (an outage drains with nothing lost or doubled), M7 (stale notices
//! suppressed), critical-value acknowledgement, and staff-edited templates.
use chrono::{Duration, TimeZone, Utc};
use domain::FakeClock;
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::{TestApp, on_both_backends};

/// 10:00 local on a weekday, outside quiet hours.
fn ten_am() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
}

pub(crate) async fn spawn_at(backend: testkit::TestBackend, at: chrono::DateTime<Utc>) -> (TestApp, FakeClock) {
    let clock = FakeClock::new(at);
    // Short provider timeouts, so a hanging simulator reads as "no answer" quickly.
    let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |s| {
        s.wechat.timeout_ms = 400;
        s.sms.timeout_ms = 400;
    })
    .await;
    (t, clock)
}

/// Signs `openid` in and adds `name` as self, with a mobile if given; returns (cookie, patient id).
pub(crate) async fn patient(t: &TestApp, openid: &str, name: &str, mobile: Option<&str>) -> (String, i64) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let c = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == name).unwrap();
    let r = TestApp::http()
        .post(t.url("/api/v1/me/patients"))
        .header("cookie", &cookie)
        .json(&json!({"name": c.name, "id_card_no": c.id_card_no, "relationship": "self", "mobile": mobile}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    (cookie, r.json::<Value>().await.unwrap()["id"].as_i64().unwrap())
}

async fn inbox(t: &TestApp, cookie: &str) -> Value {
    TestApp::http().get(t.url("/api/v1/me/messages")).header("cookie", cookie).send().await.unwrap().json().await.unwrap()
}

/// The messages of one scene for a patient, from the store.
async fn messages_of(t: &TestApp, patient_id: i64, scene: &str) -> Vec<store::messages::MessageRow> {
    let q = store::messages::MessageQuery { scene: Some(scene.into()), patient_id: Some(patient_id), limit: 100, ..Default::default() };
    t.store.search_messages(&q).await.unwrap()
}

fn outcomes(d: &[store::messages::DeliveryRow]) -> Vec<String> {
    d.iter().map(|x| format!("{}:{}:{}", x.channel, x.outcome, x.code)).collect()
}

/// Advances the clock in steps, running due jobs after each, until `done` or `limit`.
async fn run_until(t: &TestApp, clock: &FakeClock, step: Duration, limit: Duration, mut done: impl AsyncFnMut() -> bool) -> Duration {
    let mut waited = Duration::zero();
    loop {
        t.drain_jobs().await;
        if done().await || waited >= limit {
            return waited;
        }
        clock.advance(step);
        waited += step;
    }
}

pub(crate) fn booking_payload(no: &str) -> Value {
    json!({"booking_no": no, "dept_name": "心血管内科", "doctor_name": "王建国", "doctor_title": "主任医师", "visit_date": "2026-11-27",
           "period": "上午", "start_time": "09:00", "end_time": "09:30", "location": "门诊2楼A区", "see_no": 5, "fee": 2500, "order_no": "O1",
           "link": format!("/registrations/{no}")})
}

on_both_backends! {
    async fn one_message_per_event_and_recipient_and_replays_send_nothing(backend) {
        let (t, _) = spawn_at(backend, ten_am()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", None).await;
        assert!(t.emit_event("booking.cancelled", "booking.cancelled:B1", pid, booking_payload("B1")).await);
        assert!(!t.emit_event("booking.cancelled", "booking.cancelled:B1", pid, booking_payload("B1")).await, "the same event twice is one event");
        t.drain_jobs().await;
        let msgs = messages_of(&t, pid, "booking.cancelled").await;
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.status, "sent");
        assert_eq!(m.sent_channel.as_deref(), Some("wechat_template"));
        let sent = t.wechat_sent();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].openid, "oDemo_zhangwei_0001");
        assert_eq!(sent[0].template_id, "TM_BOOKING_CANCELLED");
        assert!(sent[0].url.ends_with("/registrations/B1"), "{}", sent[0].url);
        assert_eq!(sent[0].client_msg_id.as_deref(), Some(m.message_no.as_str()));
        assert!(sent[0].data.iter().any(|(k, v)| k == "thing1" && v.contains("心血管内科")));
        // Replays: the dispatch and the delivery run again; nothing new is written or sent.
        let event_id = m.event_id.unwrap();
        assert_eq!(t.app.dispatch_event(event_id).await.unwrap(), 0);
        t.app.deliver_message(m.id).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "booking.cancelled").await.len(), 1);
        assert_eq!(t.wechat_sent().len(), 1);
        // An event written before the platform existed (no dispatch job) is picked up by
        // the start-up sweep, once; events with their job are left alone.
        assert_eq!(app::messages::sweep_undispatched(&t.app).await.unwrap(), 0);
        {
            use store::sea_orm::{ActiveModelTrait, Set};
            store::entity::journey_event::ActiveModel {
                kind: Set("booking.cancelled".into()),
                dedupe_key: Set("booking.cancelled:OLD".into()),
                patient_id: Set(Some(pid)),
                payload: Set(booking_payload("OLD").to_string()),
                created_at: Set(t.app.now()),
                delivered_at: Set(None),
                ..Default::default()
            }
            .insert(t.store.db())
            .await
            .unwrap();
        }
        assert_eq!(app::messages::sweep_undispatched(&t.app).await.unwrap(), 1);
        assert_eq!(app::messages::sweep_undispatched(&t.app).await.unwrap(), 0);
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "booking.cancelled").await.len(), 2);
        assert_eq!(t.wechat_sent().len(), 2);
        // The inbox shows it, unread, with its deep link; reading marks it read.
        let v = inbox(&t, &cookie).await;
        assert_eq!(v["unread"], 2);
        let first = &v["messages"][1];
        assert_eq!(first["scene"], "booking.cancelled");
        assert_eq!(first["link"], "/registrations/B1");
        assert!(first["body"].as_str().unwrap().contains("心血管内科王建国"), "{first}");
        let no = first["message_no"].as_str().unwrap();
        let r = TestApp::http().get(t.url(&format!("/api/v1/me/messages/{no}"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["read"], true);
        assert_eq!(inbox(&t, &cookie).await["unread"], 1);
        // Another account cannot read it.
        let (lina, _) = patient(&t, "oDemo_lina_0002", "李娜", None).await;
        let r = TestApp::http().get(t.url(&format!("/api/v1/me/messages/{no}"))).header("cookie", &lina).send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert_eq!(inbox(&t, &lina).await["messages"].as_array().unwrap().len(), 0);
    }
}

on_both_backends! {
    /// WeChat's field rules (issue 17 item 7): every card that reaches the simulator meets
    /// them (it refuses with 47003 otherwise); a long value is shortened and the card opens
    /// the message's own page; a value that cannot be made valid never goes to WeChat and
    /// the notice travels on the next channel.
    async fn wechat_cards_keep_wechats_field_rules(backend) {
        let (t, _clock) = spawn_at(backend, ten_am()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        let place = "门诊楼三楼B区超声科第三检查室（靠近电梯）";
        t.emit_event("exam.precautions", "exam.precautions:E7", pid, json!({"exam_name": "腹部超声", "scheduled_at": "2026-11-27 08:30", "place": place, "precautions": "检查前8小时禁食", "destination": ""})).await;
        t.drain_jobs().await;
        let m = &messages_of(&t, pid, "exam.precautions").await[0];
        assert_eq!(m.sent_channel.as_deref(), Some("wechat_template"));
        let card = t.wechat_sent().pop().unwrap();
        let field = |k: &str| card.data.iter().find(|(key, _)| key == k).map(|(_, v)| v.clone()).unwrap();
        assert_eq!(field("time2"), "2026年11月27日 08:30", "WeChat's notation");
        assert!(field("thing3").starts_with("门诊楼三楼B区") && field("thing3").chars().count() <= 20, "{}", field("thing3"));
        assert!(card.url.ends_with(&format!("/messages/{}", m.message_no)), "the full text is one tap away: {}", card.url);
        let page = TestApp::http().get(t.url(&format!("/messages/{}", m.message_no))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(place), "the message page has what the card left out");

        // A booking's time range is joined by `~`.
        t.emit_event("booking.cancelled", "booking.cancelled:B7", pid, booking_payload("B7")).await;
        t.drain_jobs().await;
        let card = t.wechat_sent().pop().unwrap();
        assert!(card.data.contains(&("time2".to_string(), "2026年11月27日 09:00~09:30".to_string())), "{:?}", card.data);
        assert!(card.data.contains(&("thing3".to_string(), "挂号费将原路退回".to_string())), "{:?}", card.data);

        // A report time that is not a time: WeChat would refuse it, so it is never sent there.
        let before = t.wechat_sent().len();
        t.emit_event("report.ready", "report.ready:RX", pid, json!({"report_id": "RX", "report_name": "血常规", "reported_at": "待定", "dept_name": "检验科"})).await;
        t.drain_jobs().await;
        let m = &messages_of(&t, pid, "report.ready").await[0];
        let d = t.store.deliveries(m.id).await.unwrap();
        assert!(outcomes(&d)[0].starts_with("wechat_template:permanent:field_rule"), "{:?}", outcomes(&d));
        assert!(d[0].detail.contains("time2"), "staff see which field: {}", d[0].detail);
        assert_eq!(t.wechat_sent().len(), before, "nothing WeChat would refuse was sent");
        assert_eq!(m.status, "sent", "the notice still reached the patient: {:?}", m.sent_channel);
    }
}

on_both_backends! {
    async fn transient_errors_are_retried_with_backoff_and_permanent_ones_fall_through(backend) {
        let (t, clock) = spawn_at(backend, ten_am()).await;
        let (_, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        // Two quota errors (45009), then WeChat accepts.
        t.set_wechat_faults(json!({"fail_next": [45009, 45009]})).await;
        t.emit_event("booking.cancelled", "booking.cancelled:B2", pid, booking_payload("B2")).await;
        t.drain_jobs().await;
        let m = &messages_of(&t, pid, "booking.cancelled").await[0];
        assert_eq!(m.status, "queued", "waits for its retry");
        assert_eq!(m.channel_attempts, 1);
        // Nothing happens before the backoff is over…
        clock.advance(Duration::milliseconds(1000));
        t.drain_jobs().await;
        assert_eq!(t.store.deliveries(m.id).await.unwrap().len(), 1);
        let waited = run_until(&t, &clock, Duration::seconds(1), Duration::minutes(2), async || t.wechat_sent().len() == 1).await;
        assert!(waited >= Duration::seconds(4), "backoff grows: 2 s then 4 s (±25 %), waited {waited}");
        let d = t.store.deliveries(m.id).await.unwrap();
        assert_eq!(outcomes(&d), ["wechat_template:transient:45009", "wechat_template:transient:45009", "wechat_template:sent:ok"]);
        assert!(t.sms_sent().is_empty(), "no SMS while WeChat can still deliver");

        // A user who unfollowed (43004) without a subscribe grant (43101): a transactional
        // notice goes on to SMS at once, without retrying the permanent errors.
        t.set_wechat_faults(json!({"unfollowed": ["oDemo_zhangwei_0001"]})).await;
        t.emit_event("booking.cancelled", "booking.cancelled:B3", pid, booking_payload("B3")).await;
        t.drain_jobs().await;
        let m = messages_of(&t, pid, "booking.cancelled").await.into_iter().find(|m| m.variables.contains("B3")).unwrap();
        assert_eq!(m.status, "sent");
        assert_eq!(m.sent_channel.as_deref(), Some("sms"));
        let d = t.store.deliveries(m.id).await.unwrap();
        assert_eq!(outcomes(&d), ["wechat_template:permanent:43004", "wechat_subscribe:permanent:43101", "sms:sent:ok"]);
        let sms = t.sms_sent();
        assert_eq!(sms.len(), 1);
        assert_eq!(sms[0].phone, "13800138000");
        assert_eq!(sms[0].template_code, "SMS_BOOKING_CANCELLED");
        assert_eq!(sms[0].out_id, m.message_no);
        // Reading the mobile to send the SMS was audited.
        assert_eq!(t.store.audit_count(Some("patient.mobile_read")).await.unwrap(), 1);

        // With a subscribe grant, the subscribe message is the fallback instead.
        t.set_wechat_faults(json!({"unfollowed": ["oDemo_zhangwei_0001"], "subscribe_grants": ["oDemo_zhangwei_0001"]})).await;
        t.emit_event("booking.cancelled", "booking.cancelled:B4", pid, booking_payload("B4")).await;
        t.drain_jobs().await;
        let m = messages_of(&t, pid, "booking.cancelled").await.into_iter().find(|m| m.variables.contains("B4")).unwrap();
        assert_eq!(m.sent_channel.as_deref(), Some("wechat_subscribe"));
        assert_eq!(t.wechat_sent().last().unwrap().kind, "subscribe");

        // An informational notice has no SMS fallback: no channel left is a dead letter,
        // visible and retryable.
        t.set_wechat_faults(json!({"fail_next": [40003]})).await;
        t.emit_event("medication.guidance", "mg:1", pid, json!({"drug": "阿莫西林", "usage": "每日三次", "advice": "饭后服用"})).await;
        t.drain_jobs().await;
        let m = &messages_of(&t, pid, "medication.guidance").await[0];
        assert_eq!(m.status, "failed");
        assert_eq!(m.last_code.as_deref(), Some("40003"));
        let dead = t.store.search_messages(&store::messages::MessageQuery { status: Some("failed".into()), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(dead.len(), 1);
        t.app.retry_message(&m.message_no, &app::Actor::system("test")).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(t.store.message(m.id).await.unwrap().status, "sent", "the retry from the console delivers it");
    }
}

on_both_backends! {
    async fn a_lost_answer_is_repeated_only_where_the_provider_dedupes(backend) {
        let (t, clock) = spawn_at(backend, ten_am()).await;
        let (_, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        // WeChat takes the message but the answer never comes: the retry carries the same
        // client_msg_id and WeChat answers with the first message id — one message.
        t.set_wechat_faults(json!({"lose_response_next": 1, "hang_ms": 1500})).await;
        t.emit_event("booking.cancelled", "booking.cancelled:B5", pid, booking_payload("B5")).await;
        run_until(&t, &clock, Duration::seconds(2), Duration::minutes(1), async || t.wechat_sent().len() == 1 && t.store.count_messages_by_status("sent").await.unwrap() == 1).await;
        let m = &messages_of(&t, pid, "booking.cancelled").await[0];
        let d = t.store.deliveries(m.id).await.unwrap();
        assert_eq!(outcomes(&d), ["wechat_template:unknown:timeout", "wechat_template:sent:ok"]);
        assert_eq!(t.wechat_sent().len(), 1, "WeChat has it once");
        assert_eq!(d[1].provider_msg_id.as_deref(), Some(t.wechat_sent()[0].msgid.to_string().as_str()));

        // SMS has no such key: a lost SMS answer is "unknown" and is not sent again.
        t.set_wechat_faults(json!({"unfollowed": ["oDemo_zhangwei_0001"]})).await;
        t.set_sms_faults(json!({"down": "hang", "hang_ms": 1500})).await;
        t.emit_event("booking.cancelled", "booking.cancelled:B6", pid, booking_payload("B6")).await;
        t.drain_jobs().await;
        clock.advance(Duration::minutes(5));
        t.drain_jobs().await;
        let m = messages_of(&t, pid, "booking.cancelled").await.into_iter().find(|m| m.variables.contains("B6")).unwrap();
        assert_eq!(m.status, "unknown");
        let d = t.store.deliveries(m.id).await.unwrap();
        assert_eq!(d.iter().filter(|x| x.channel == "sms").count(), 1, "{:?}", outcomes(&d));
    }
}

on_both_backends! {
    async fn critical_notices_ignore_quiet_hours_and_mutes_and_fall_back_within_two_minutes(backend) {
        // 23:30 local: quiet hours.
        let (t, clock) = spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 15, 30, 0).unwrap()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        for c in ["booking", "payment", "report", "inpatient", "medicine", "care", "hospital"] {
            let r = TestApp::http().put(t.url("/api/v1/me/message-preferences")).header("cookie", &cookie).json(&json!({"category": c, "muted": true})).send().await.unwrap();
            assert_eq!(r.status(), 200);
        }
        // WeChat is down (5xx). A payment result is critical.
        t.set_wechat_faults(json!({"down": "5xx"})).await;
        t.emit_event("bill.paid", "bill.paid:O9", pid, json!({"order_no": "O9", "total": 4560, "insurance": 0, "self_pay": 4560, "invoice_no": "F1", "guidance": ["请到门诊1楼西药房取药"], "recipes": ["R9"]})).await;
        let waited = run_until(&t, &clock, Duration::seconds(5), Duration::minutes(5), async || !t.sms_sent().is_empty()).await;
        assert!(waited <= Duration::minutes(2), "critical fallback took {waited}");
        let m = &messages_of(&t, pid, "bill.paid").await[0];
        assert_eq!(m.status, "sent");
        assert_eq!(m.sent_channel.as_deref(), Some("sms"));
        assert!(t.sms_sent()[0].params.iter().any(|p| p == "45.60"), "{:?}", t.sms_sent()[0].params);

        // A muted informational notice is kept in the inbox and pushed nowhere; an unmuted
        // one waits for the end of quiet hours (07:00).
        t.set_wechat_faults(json!({})).await;
        t.emit_event("medication.guidance", "mg:2", pid, json!({"drug": "阿莫西林", "usage": "每日三次", "advice": ""})).await;
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "medication.guidance").await[0].status, "muted");
        let r = TestApp::http().put(t.url("/api/v1/me/message-preferences")).header("cookie", &cookie).json(&json!({"category": "report", "muted": false})).send().await.unwrap();
        assert_eq!(r.status(), 200);
        t.emit_event("report.ready", "report.ready:RP1", pid, json!({"report_id": "RP1", "report_name": "血常规", "reported_at": "2026-11-26 23:40", "dept_name": "检验科"})).await;
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "report.ready").await[0].status, "queued");
        assert!(t.wechat_sent().is_empty());
        clock.advance(Duration::hours(8));
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "report.ready").await[0].status, "sent", "sent once quiet hours end");
        // (The night is longer than a patient session: sign in again.)
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let v = inbox(&t, &cookie).await;
        let scenes: Vec<&str> = v["messages"].as_array().unwrap().iter().map(|m| m["scene"].as_str().unwrap()).collect();
        for s in ["bill.paid", "medication.guidance", "report.ready"] {
            assert!(scenes.contains(&s), "the inbox shows everything: {scenes:?}");
        }

        // A critical notice no channel can carry (no mobile here nor in the HIS, WeChat
        // refusing) goes to a person, who is told what each channel said.
        let lina_id = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == "李娜").unwrap().id_card_no;
        t.set_his_mobile(&lina_id, "").await;
        let (_, lina) = patient(&t, "oDemo_lina_0002", "李娜", None).await;
        t.set_wechat_faults(json!({"unfollowed": ["oDemo_lina_0002"]})).await;
        t.emit_event("session.suspended", "session.suspended:B7:x", lina, json!({"change": {"reason": "医生外出会诊"}, "before": {}, "booking_no": "B7", "dept_name": "儿科", "doctor_name": "刘医生", "doctor_title": "", "visit_date": "2026-11-27", "period": "上午", "start_time": "09:00", "end_time": "09:30", "location": "门诊3楼", "see_no": 1, "fee": 1000, "order_no": "O7"})).await;
        t.drain_jobs().await;
        let m = &messages_of(&t, lina, "session.suspended").await[0];
        assert_eq!(m.status, "task");
        let tasks = t.store.tasks_of_message(m.id).await.unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].dept, "儿科");
        assert_eq!(tasks[0].kind, "critical_undelivered");
        let view = t.app.staff_tasks(10).await.unwrap().into_iter().find(|v| v.id == tasks[0].id).unwrap();
        let said: Vec<(String, bool, String)> = view.channels.iter().map(|c| (c.channel.clone(), c.delivered, c.reason.clone())).collect();
        assert_eq!(
            said,
            [
                ("公众号模板消息".to_string(), false, "患者未关注公众号".to_string()),
                ("订阅消息".to_string(), false, "患者未授权订阅消息".to_string()),
                ("短信".to_string(), false, "未登记手机号，HIS中也没有".to_string()),
            ],
            "the task names every failed channel and why"
        );
        let staff = t.staff_sign_in("admin").await;
        let page = TestApp::http().get(t.url("/staff/tasks")).header("cookie", &staff).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("短信：未登记手机号，HIS中也没有") && page.contains("公众号模板消息：患者未关注公众号"), "{page}");
    }
}

on_both_backends! {
    /// Issue 17 item 9: a 就诊人 added without a mobile still gets a critical value by SMS —
    /// the HIS's mobile is taken at 建档, or asked for when the SMS is due (audited).
    async fn a_critical_value_reaches_the_phone_the_his_knows(backend) {
        let (t, clock) = spawn_at(backend, ten_am()).await;
        // At 建档: the HIS holds 李娜's mobile, the platform keeps it.
        let (_, lina) = patient(&t, "oDemo_lina_0002", "李娜", None).await;
        assert_eq!(t.store.patient_by_id(lina).await.unwrap().unwrap().mobile_masked.as_deref(), Some("138****8002"));
        // When needed: 王芳's HIS record had no phone when she was added; a clerk adds one later.
        let wang_id = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == "王芳").unwrap().id_card_no;
        t.set_his_mobile(&wang_id, "").await;
        let (_, wang) = patient(&t, "oDemo_wangfang_0003", "王芳", None).await;
        assert_eq!(t.store.patient_by_id(wang).await.unwrap().unwrap().mobile_masked, None);
        t.set_his_mobile(&wang_id, "13900139003").await;
        t.set_wechat_faults(json!({"unfollowed": ["oDemo_wangfang_0003"]})).await;
        t.emit_event("critical_value", "critical_value:W1", wang, json!({"item": "血钾", "value": "6.8 mmol/L", "dept_name": "检验科", "ward": "", "contact_phone": "0755-88880000", "report_id": "W1"})).await;
        t.drain_jobs().await;
        let _ = clock;
        let m = &messages_of(&t, wang, "critical_value").await[0];
        assert_eq!((m.status.as_str(), m.sent_channel.as_deref()), ("sent", Some("sms")), "{:?}", outcomes(&t.store.deliveries(m.id).await.unwrap()));
        let sms = t.sms_sent();
        assert_eq!(sms.last().unwrap().phone, "13900139003");
        assert_eq!(t.store.audit_count(Some("patient.mobile_from_his")).await.unwrap(), 1);
        // Kept for next time: the HIS is not asked again.
        assert_eq!(t.store.patient_by_id(wang).await.unwrap().unwrap().mobile_masked.as_deref(), Some("139****9003"));
    }
}

on_both_backends! {
    async fn preferences_are_honoured_for_every_criticality(backend) {
        let (t, _) = spawn_at(backend, ten_am()).await;
        // (scene, category, criticality) × muted or not.
        let scenes = [("bill.paid", "payment", true), ("booking.cancelled", "booking", false), ("medication.guidance", "care", false)];
        let payloads = [
            json!({"order_no": "O1", "total": 100, "insurance": 0, "self_pay": 100, "invoice_no": "", "guidance": [], "recipes": []}),
            booking_payload("B8"),
            json!({"drug": "布洛芬", "usage": "需要时服用", "advice": ""}),
        ];
        for (round, muted) in [false, true].into_iter().enumerate() {
            let openid = ["oDemo_zhangwei_0001", "oDemo_wangfang_0003"][round];
            let name = ["张伟", "王芳"][round];
            let (cookie, pid) = patient(&t, openid, name, Some("13800138001")).await;
            for (scene, cat, _) in scenes {
                let r = TestApp::http().put(t.url("/api/v1/me/message-preferences")).header("cookie", &cookie).json(&json!({"category": cat, "muted": muted})).send().await.unwrap();
                assert_eq!(r.status(), 200, "{scene}");
            }
            for ((scene, _, _), p) in scenes.iter().zip(&payloads) {
                t.emit_event(scene, &format!("{scene}:{round}"), pid, p.clone()).await;
            }
            t.drain_jobs().await;
            for (scene, _, critical) in scenes {
                let m = &messages_of(&t, pid, scene).await[0];
                let pushed = t.wechat_sent().iter().any(|w| w.client_msg_id.as_deref() == Some(m.message_no.as_str()));
                let expect_push = !muted || critical;
                assert_eq!(pushed, expect_push, "{scene} muted={muted}");
                assert_eq!(m.status, if expect_push { "sent" } else { "muted" }, "{scene} muted={muted}");
            }
            assert_eq!(inbox(&t, &cookie).await["messages"].as_array().unwrap().len(), 3, "the inbox has all three");
        }
        // An unknown category is refused with its code.
        let (cookie, _) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let r = TestApp::http().put(t.url("/api/v1/me/message-preferences")).header("cookie", &cookie).json(&json!({"category": "spam", "muted": true})).send().await.unwrap();
        assert_eq!(r.status(), 422);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "VALIDATION_FAILED");
    }
}

on_both_backends! {
    async fn an_outage_drains_after_recovery_with_nothing_lost_or_doubled(backend) {
        // G8 at reduced scale: WeChat hangs, then answers 5xx, for ten minutes.
        let (t, clock) = spawn_at(backend, ten_am()).await;
        let (_, zhang) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        let (_, lina) = patient(&t, "oDemo_lina_0002", "李娜", Some("13900139000")).await;
        t.set_wechat_faults(json!({"down": "hang", "hang_ms": 800})).await;
        let start = t.app.now();
        for i in 0..6 {
            let pid = if i % 2 == 0 { zhang } else { lina };
            t.emit_event("booking.cancelled", &format!("booking.cancelled:G{i}"), pid, booking_payload(&format!("G{i}"))).await;
            t.emit_event("report.ready", &format!("report.ready:G{i}"), pid, json!({"report_id": format!("G{i}"), "report_name": "胸部CT", "reported_at": "2026-11-26 09:40", "dept_name": "放射科"})).await;
        }
        t.emit_event("bill.paid", "bill.paid:G", zhang, json!({"order_no": "OG", "total": 990, "insurance": 0, "self_pay": 990, "invoice_no": "", "guidance": [], "recipes": []})).await;
        let mut recovered = false;
        let mut critical_by_sms_at = None;
        while t.app.now() - start < Duration::minutes(60) {
            t.drain_jobs().await;
            if critical_by_sms_at.is_none() && t.sms_sent().iter().any(|s| s.template_code == "SMS_BILL_PAID") {
                critical_by_sms_at = Some(t.app.now() - start);
            }
            if !recovered && t.app.now() - start >= Duration::minutes(2) {
                t.set_wechat_faults(json!({"down": "5xx"})).await;
            }
            if !recovered && t.app.now() - start >= Duration::minutes(10) {
                t.set_wechat_faults(json!({})).await;
                recovered = true;
            }
            clock.advance(Duration::seconds(15));
        }
        t.drain_jobs().await;
        let fell_back = critical_by_sms_at.expect("the critical notice went by SMS");
        assert!(fell_back <= Duration::minutes(2), "critical fallback after {fell_back}");
        // Every notice is out; WeChat has each of its messages exactly once.
        let all = t.store.search_messages(&store::messages::MessageQuery { limit: 100, ..Default::default() }).await.unwrap();
        assert_eq!(all.len(), 13);
        for m in &all {
            assert_eq!(m.status, "sent", "{} {} {:?}", m.scene, m.status, m.last_code);
        }
        let sent = t.wechat_sent();
        for m in all.iter().filter(|m| m.sent_channel.as_deref() == Some("wechat_template")) {
            assert_eq!(sent.iter().filter(|w| w.client_msg_id.as_deref() == Some(m.message_no.as_str())).count(), 1, "{}", m.message_no);
        }
        // Transactional notices kept trying WeChat past the outage rather than paying for SMS…
        assert!(all.iter().filter(|m| m.scene == "report.ready").all(|m| m.sent_channel.as_deref() == Some("wechat_template")));
        // …and the backlog drained within 30 minutes of recovery.
        let last = sent.iter().map(|w| w.at).max().unwrap();
        assert!(last - (start + Duration::minutes(10)) <= Duration::minutes(30), "drained {} after recovery", last - start - Duration::minutes(10));
    }
}

on_both_backends! {
    async fn a_notice_whose_subject_moved_on_is_suppressed(backend) {
        let (t, _) = spawn_at(backend, ten_am()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", None).await;
        let (_, lina) = patient(&t, "oDemo_lina_0002", "李娜", None).await;
        let bill_of = async |id: i64| {
            let p = t.store.patient_by_id(id).await.unwrap().unwrap();
            t.his_port.unpaid_bills(&p.his_patient_id).await.unwrap().remove(0)
        };
        let (mine, hers) = (bill_of(pid).await, bill_of(lina).await);
        let due = |b: &domain::ports::UnpaidBill| json!({"recipe_id": b.recipe_id, "visit_id": b.visit_id, "dept_name": b.dept_name, "doctor_name": b.doctor_name, "total": b.total.0, "items": b.items.len(), "link": "/bills"});
        // An unpaid bill's reminder goes out.
        t.emit_event("bill.due", &format!("bill.due:{}", hers.recipe_id), lina, due(&hers)).await;
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, lina, "bill.due").await[0].status, "sent");
        // A reminder for a bill paid before it went out is not sent ("please pay" after payment).
        t.set_wechat_faults(json!({"fail_next": [-1]})).await;
        t.emit_event("bill.due", &format!("bill.due:{}", mine.recipe_id), pid, due(&mine)).await;
        t.drain_jobs().await;
        let m = &messages_of(&t, pid, "bill.due").await[0];
        assert_eq!(m.status, "queued", "waiting to retry");
        t.emit_event("bill.paid", "bill.paid:OX", pid, json!({"order_no": "OX", "total": mine.total.0, "insurance": 0, "self_pay": mine.total.0, "invoice_no": "", "guidance": [], "recipes": [mine.recipe_id]})).await;
        t.app.deliver_message(m.id).await.unwrap();
        let m = t.store.message(m.id).await.unwrap();
        assert_eq!(m.status, "suppressed");
        assert_eq!(t.wechat_sent().iter().filter(|w| w.template_id == "TM_BILL_DUE").count(), 1);
        // Stale notices are left out of the inbox.
        let v = inbox(&t, &cookie).await;
        assert!(v["messages"].as_array().unwrap().iter().all(|x| x["message_no"] != m.message_no.as_str()));
    }
}

on_both_backends! {
    async fn an_unacknowledged_critical_value_goes_to_the_ward_and_by_sms(backend) {
        let (t, clock) = spawn_at(backend, ten_am()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        let payload = |id: &str| json!({"item": "血钾", "value": "6.8 mmol/L", "dept_name": "检验科", "ward": "心内科一病区", "contact_phone": "0755-88880000", "report_id": id});
        t.emit_event("critical_value", "cv:1", pid, payload("L1")).await;
        t.emit_event("critical_value", "cv:2", pid, payload("L2")).await;
        t.drain_jobs().await;
        let msgs = messages_of(&t, pid, "critical_value").await;
        assert_eq!(msgs.len(), 2);
        assert!(msgs.iter().all(|m| m.status == "sent" && m.link == format!("/messages/{}", m.message_no)));
        // Health information is sealed at rest: the stored rows do not hold the result.
        {
            use store::sea_orm::EntityTrait;
            let raw = store::entity::message::Entity::find().all(t.store.db()).await.unwrap();
            let events = store::entity::journey_event::Entity::find().all(t.store.db()).await.unwrap();
            assert!(!raw.is_empty() && !events.is_empty());
            for text in raw.iter().flat_map(|m| [&m.title, &m.body, &m.variables]).chain(events.iter().map(|e| &e.payload)) {
                assert!(!text.contains("血钾") && !text.contains("6.8"), "sealed: {text}");
            }
        }
        // Both are pinned above everything, on the home page and in the message centre,
        // and the ward's number in the text is tappable.
        let page = |path: &'static str| {
            let (url, cookie) = (t.url(path), cookie.clone());
            async move { TestApp::http().get(url).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
        };
        let home = page("/").await;
        assert!(msgs.iter().all(|m| home.contains(&format!("id=\"critical-{}\"", m.message_no))), "pinned on the home page");
        let centre = page("/messages").await;
        let pinned = &centre[centre.find("id=\"pinned\"").expect("pinned section")..];
        assert!(msgs.iter().all(|m| pinned.contains(&m.message_no)));
        let one = TestApp::http().get(t.url(&format!("/messages/{}", msgs[0].message_no))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(one.contains("href=\"tel:0755-88880000\""), "{one}");
        // The patient acknowledges one of them in time: it is no longer pinned.
        let acked = msgs.iter().find(|m| m.variables.contains("L1")).unwrap();
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/messages/{}/ack", acked.message_no))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.json::<Value>().await.unwrap()["acknowledged"], true);
        let home = page("/").await;
        assert!(!home.contains(&format!("id=\"critical-{}\"", acked.message_no)) && home.contains("critical-"), "only the acknowledged one leaves the pin");
        clock.advance(Duration::minutes(31));
        t.drain_jobs().await;
        let other = msgs.iter().find(|m| m.variables.contains("L2")).unwrap();
        assert!(t.store.tasks_of_message(acked.id).await.unwrap().is_empty(), "acknowledged in time: nobody is tasked");
        let tasks = t.store.tasks_of_message(other.id).await.unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].dept, "心内科一病区");
        assert_eq!(tasks[0].kind, "critical_value_unacked");
        let sms = t.sms_sent();
        assert_eq!(sms.len(), 1, "the unacknowledged one also went by SMS");
        assert_eq!(sms[0].out_id, other.message_no);
        // Every step is audited.
        for action in ["notify.critical_value.created", "notify.critical_value.sent", "notify.critical_value.acknowledged", "notify.critical_value.escalated", "notify.critical_value.sms"] {
            assert!(t.store.audit_count(Some(action)).await.unwrap() >= 1, "{action}");
        }
        // The ward closes the task with what it did.
        t.app.close_task(tasks[0].id, "已电话联系患者，已来院复查", &app::Actor::system("nurse")).await.unwrap();
        assert!(t.app.close_task(tasks[0].id, "again", &app::Actor::system("nurse")).await.is_err());
        // Running the deadline check again changes nothing.
        t.app.check_acknowledgement(other.id).await.unwrap();
        assert_eq!(t.sms_sent().len(), 1);
    }
}

on_both_backends! {
    async fn staff_templates_are_checked_and_used(backend) {
        let (t, _) = spawn_at(backend, ten_am()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", None).await;
        let actor = app::Actor::system("admin");
        let mut tpl = app::messages::templates::TemplateSource::builtin(domain::messages::scene("booking.cancelled").unwrap(), domain::messages::Channel::Inbox);
        tpl.body = "{{ patient_name_masked }}：{{ dept_name }}的预约已取消（{{ salary }}）".into();
        let e = t.app.save_template("booking.cancelled", domain::messages::Channel::Inbox, &tpl, &actor).await.unwrap_err();
        assert_eq!(e.code, domain::ErrorCode::TemplateInvalid);
        assert!(e.detail.contains("salary"), "{}", e.detail);
        tpl.body = "{{ patient_name_masked }}：{{ dept_name }}于{{ visit_date }}的预约已取消，费用原路退回。".into();
        assert_eq!(t.app.save_template("booking.cancelled", domain::messages::Channel::Inbox, &tpl, &actor).await.unwrap(), 1);
        let mut wx = app::messages::templates::TemplateSource::builtin(domain::messages::scene("booking.cancelled").unwrap(), domain::messages::Channel::WechatTemplate);
        // A date alone is no WeChat `time`: refused on saving, naming the field, instead of 47003 later.
        wx.body = "thing1: {{ dept_name }}\ntime2: {{ visit_date }}".into();
        let e = t.app.save_template("booking.cancelled", domain::messages::Channel::WechatTemplate, &wx, &actor).await.unwrap_err();
        assert!(e.code == domain::ErrorCode::TemplateInvalid && e.detail.contains("time2"), "{}", e.detail);
        wx.body = "thing1: {{ dept_name }}\ndate2: {{ visit_date }}".into();
        assert_eq!(t.app.save_template("booking.cancelled", domain::messages::Channel::WechatTemplate, &wx, &actor).await.unwrap(), 1);
        t.emit_event("booking.cancelled", "booking.cancelled:B9", pid, booking_payload("B9")).await;
        t.drain_jobs().await;
        let v = inbox(&t, &cookie).await;
        assert!(v["messages"][0]["body"].as_str().unwrap().ends_with("心血管内科于2026-11-27的预约已取消，费用原路退回。"), "{v}");
        let mut data = t.wechat_sent()[0].data.clone();
        data.sort();
        assert_eq!(data, vec![("date2".to_string(), "2026年11月27日".to_string()), ("thing1".to_string(), "心血管内科".to_string())]);
        assert_eq!(t.store.audit_count(Some("notify.template.saved")).await.unwrap(), 2);
        // An event that lacks a variable the template needs: the inbox still gets a text,
        // the push is a visible dead letter, never a silent drop.
        t.emit_event("booking.cancelled", "booking.cancelled:B10", pid, json!({"booking_no": "B10", "dept_name": "儿科"})).await;
        t.drain_jobs().await;
        let m = messages_of(&t, pid, "booking.cancelled").await.into_iter().find(|m| m.variables.contains("B10")).unwrap();
        assert_eq!(m.status, "failed");
        assert_eq!(m.last_code.as_deref(), Some("template"));
        let d = t.store.deliveries(m.id).await.unwrap();
        assert!(d.iter().any(|x| x.outcome == "template_error"), "{:?}", outcomes(&d));
    }
}

on_both_backends! {
    async fn the_console_lists_retries_edits_counts_and_closes_tasks(backend) {
        let (t, clock) = spawn_at(backend, ten_am()).await;
        let (_, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", None).await;
        // A dead letter (informational, WeChat refuses the openid) and a critical value
        // that will not be acknowledged.
        // One after the other: the injected refusal must meet the informational notice
        // (the order in which two due jobs are claimed is not fixed).
        t.set_wechat_faults(json!({"fail_next": [40003]})).await;
        t.emit_event("medication.guidance", "mg:c", pid, json!({"drug": "阿莫西林", "usage": "每日三次", "advice": ""})).await;
        t.drain_jobs().await;
        t.emit_event("critical_value", "cv:c", pid, json!({"item": "血钾", "value": "6.8", "dept_name": "检验科", "ward": "", "contact_phone": "0755-1", "report_id": "L9"})).await;
        t.drain_jobs().await;
        let dead = messages_of(&t, pid, "medication.guidance").await.remove(0);
        assert_eq!(dead.status, "failed");
        let office = t.staff_sign_in("outpatient01").await;
        let base = t.base.clone();
        let get = |path: String, cookie: String| {
            let url = format!("{base}{path}");
            async move { TestApp::http().get(url).header("cookie", cookie).send().await.unwrap() }
        };
        let page = get("/staff/messages?status=failed".into(), office.clone()).await.text().await.unwrap();
        assert!(page.contains(&dead.message_no) && page.contains("发送失败"), "the dead letter is listed");
        let page = get(format!("/staff/messages/{}", dead.message_no), office.clone()).await.text().await.unwrap();
        assert!(page.contains("40003") && page.contains("id=\"retry\""), "its tries and the retry button");
        assert_eq!(t.store.audit_count(Some("notify.message.viewed")).await.unwrap(), 1, "opening a message is audited");
        let r = TestApp::http().post(t.url(&format!("/staff/messages/{}/retry", dead.message_no))).header("cookie", &office).header("origin", &t.base).send().await.unwrap();
        assert_eq!(r.status(), 303);
        t.drain_jobs().await;
        assert_eq!(t.store.message(dead.id).await.unwrap().status, "sent");
        assert_eq!(t.store.audit_count(Some("notify.message.retried")).await.unwrap(), 1);
        // Template editing: a preview of a bad template says what is wrong and keeps the text.
        let form = |action: &str, body: &str| vec![("provider_template_id", "".to_string()), ("title", "挂号已取消".to_string()), ("body", body.to_string()), ("action", action.to_string())];
        let r = TestApp::http()
            .post(t.url("/staff/messages/templates/booking.cancelled/inbox"))
            .header("cookie", &office)
            .header("origin", &t.base)
            .form(&form("preview", "{{ dept_name }}{{ wages }}"))
            .send()
            .await
            .unwrap();
        let page = r.text().await.unwrap();
        assert!(page.contains("wages") && page.contains("template-error"), "error shown");
        let r = TestApp::http()
            .post(t.url("/staff/messages/templates/booking.cancelled/inbox"))
            .header("cookie", &office)
            .header("origin", &t.base)
            .form(&form("preview", "{{ dept_name }}的预约已取消"))
            .send()
            .await
            .unwrap();
        assert!(r.text().await.unwrap().contains("示例dept_name的预约已取消"), "preview with sample values");
        let r = TestApp::http()
            .post(t.url("/staff/messages/templates/booking.cancelled/inbox"))
            .header("cookie", &office)
            .header("origin", &t.base)
            .form(&form("save", "{{ dept_name }}的预约已取消"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(t.store.template("booking.cancelled", "inbox").await.unwrap().unwrap().body, "{{ dept_name }}的预约已取消");
        // Daily counts.
        let page = get("/staff/messages/stats?days=7".into(), office.clone()).await.text().await.unwrap();
        assert!(page.contains("用药指导") && page.contains("公众号模板消息"), "counts by scene and channel");
        // The critical value times out; the ward's task is on the task list for nurses,
        // who cannot open the message console.
        clock.advance(Duration::minutes(31));
        t.drain_jobs().await;
        let nurse = t.staff_sign_in("nurse01").await;
        let page = get("/staff/tasks".into(), nurse.clone()).await.text().await.unwrap();
        assert!(page.contains("危急值未确认"), "{page}");
        assert_eq!(get("/staff/messages".into(), nurse.clone()).await.status(), 403);
        let task = t.store.tasks(true, 10).await.unwrap().remove(0);
        let r = TestApp::http()
            .post(t.url(&format!("/staff/tasks/{}/close", task.id)))
            .header("cookie", &nurse)
            .header("origin", &t.base)
            .form(&[("note", "已电话通知患者来院")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert!(t.store.tasks(true, 10).await.unwrap().is_empty());
        // What to bring, per department: used by the next visit-day reminder. (Half an
        // hour passed: the office signs in again.)
        let office = t.staff_sign_in("outpatient01").await;
        let r = TestApp::http()
            .post(t.url("/staff/outpatient/visit-notes"))
            .header("cookie", &office)
            .header("origin", &t.base)
            .form(&[("dept_id", "0101"), ("bring", "身份证、既往心电图")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303);
        assert_eq!(t.store.visit_note("0101").await.unwrap().as_deref(), Some("身份证、既往心电图"));
    }
}

on_both_backends! {
    async fn deposit_top_ups_and_card_recharges_are_paid_credited_and_announced(backend) {
        let (t, _) = spawn_at(backend, ten_am()).await;
        let (cookie, zhang) = patient(&t, "oDemo_zhangwei_0001", "张伟", None).await;
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let post = |path: &str, form: Vec<(&str, String)>| {
            TestApp::http().post(t.url(path)).header("cookie", &cookie).header("origin", &t.base).form(&form).send()
        };
        let pay = async |order_no: &str| {
            let cashier = t.app.start_self_pay(order_no).await.unwrap();
            assert_eq!(TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap().status(), 303);
            t.app.resolve_payment(order_no).await.unwrap();
            t.drain_jobs().await;
        };
        let his_huang = t.store.patient_by_id(huang).await.unwrap().unwrap().his_patient_id;
        let before = t.his_port.inpatient_stay(&his_huang).await.unwrap().unwrap();
        // Bad amounts come back with their code; nothing is opened.
        for bad in ["0", "-5", "12.5", "60000"] {
            let r = post("/inpatient/deposit", vec![("patient_id", huang.to_string()), ("amount_yuan", bad.into())]).await.unwrap();
            assert!(testkit::location(r.headers()).contains("error=VALIDATION_FAILED"), "{bad}");
        }
        // A patient with no stay has no deposit to top up.
        let r = post("/inpatient/deposit", vec![("patient_id", zhang.to_string()), ("amount_yuan", "500".into())]).await.unwrap();
        assert!(testkit::location(r.headers()).contains("error=NOT_FOUND"));
        let r = post("/inpatient/deposit", vec![("patient_id", huang.to_string()), ("amount_yuan", "2000".into())]).await.unwrap();
        let to = testkit::location(r.headers());
        let order_no = to.strip_prefix("/pay/").expect("to the pay page").to_owned();
        let o = TestApp::http().get(t.url(&format!("/api/v1/me/orders/{order_no}"))).header("cookie", &cookie).send().await.unwrap().json::<Value>().await.unwrap();
        assert_eq!(o["purpose"], "deposit_top_up");
        assert_eq!(o["methods"], json!(["self_pay"]), "a deposit is paid by the bank, not by insurance");
        pay(&order_no).await;
        let after = t.his_port.inpatient_stay(&his_huang).await.unwrap().unwrap();
        assert_eq!(after.deposit_balance.0 - before.deposit_balance.0, 200_000, "the HIS credited the deposit");
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, domain::billing::OrderState::Fulfilled);
        let m = &messages_of(&t, huang, "deposit.topped_up").await[0];
        assert_eq!(m.status, "sent");
        assert!(m.body.contains("2000.00"), "{}", m.body);
        assert_eq!(m.link, format!("/pay/{order_no}/result"));
        // Fulfilment again (a retried job) credits nothing more and tells nobody twice.
        t.store.enqueue(t.store.db(), store::outbox::NewJob::new(app::billing::ORDER_FULFIL, json!({"order_no": order_no}), t.app.now()), t.app.now()).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(t.his_port.inpatient_stay(&his_huang).await.unwrap().unwrap().deposit_balance, after.deposit_balance);
        assert_eq!(messages_of(&t, huang, "deposit.topped_up").await.len(), 1);

        // The visiting card.
        let his_zhang = t.store.patient_by_id(zhang).await.unwrap().unwrap().his_patient_id;
        let card_before = t.his_port.card_account(&his_zhang).await.unwrap().unwrap().balance;
        let r = post("/card/recharge", vec![("patient_id", zhang.to_string()), ("amount_yuan", "300".into())]).await.unwrap();
        let order_no = testkit::location(r.headers()).strip_prefix("/pay/").unwrap().to_owned();
        pay(&order_no).await;
        assert_eq!(t.his_port.card_account(&his_zhang).await.unwrap().unwrap().balance.0 - card_before.0, 30_000);
        let m = &messages_of(&t, zhang, "card.recharged").await[0];
        assert_eq!(m.status, "sent");
        assert!(m.body.contains("300.00"), "{}", m.body);
        let page = TestApp::http().get(t.url(&format!("/card?patient={zhang}"))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("¥300.00"), "the card page shows the new balance");
        // Somebody else's patient cannot be topped up.
        let (lina_cookie, _) = patient(&t, "oDemo_lina_0002", "李娜", None).await;
        let r = TestApp::http().post(t.url("/card/recharge")).header("cookie", &lina_cookie).header("origin", &t.base).form(&[("patient_id", zhang.to_string()), ("amount_yuan", "10".into())]).send().await.unwrap();
        assert!(testkit::location(r.headers()).contains("error="), "refused");
    }
}

on_both_backends! {
    async fn visit_day_reminders_say_what_to_bring_and_stop_when_the_booking_does(backend) {
        let (t, clock) = spawn_at(backend, ten_am()).await;
        let (cookie, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        t.app.save_visit_note("0101", "身份证、既往心电图和近期化验单", &app::Actor::system("office")).await.unwrap();
        // Two bookings tomorrow morning in different sessions.
        let tomorrow = t.app.today().succ_opt().unwrap();
        let v = t.app.department_view("0101").await.unwrap();
        let sessions: Vec<_> = v.schedules.iter().filter(|s| s.date == tomorrow && !s.suspended).take(2).collect();
        assert_eq!(sessions.len(), 2, "two sessions tomorrow");
        let mut bookings = Vec::new();
        for (i, s) in sessions.iter().enumerate() {
            let slot = s.slots.iter().find(|x| x.available > 0).unwrap();
            let r = TestApp::http()
                .post(t.url("/api/v1/me/registrations"))
                .header("cookie", &cookie)
                .header("idempotency-key", format!("vd-{i}"))
                .json(&json!({"patient_id": pid, "dept_id": "0101", "slot_id": slot.slot_id}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status(), 201);
            let b: Value = r.json().await.unwrap();
            let order_no = b["order_no"].as_str().unwrap().to_owned();
            let cashier = t.app.start_self_pay(&order_no).await.unwrap();
            assert_eq!(TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap().status(), 303);
            t.app.resolve_payment(&order_no).await.unwrap();
            t.drain_jobs().await;
            bookings.push(b["booking_no"].as_str().unwrap().to_owned());
        }
        assert_eq!(messages_of(&t, pid, "booking.confirmed").await.len(), 2);
        // The second is cancelled: its reminders must not come.
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{}/cancel", bookings[1]))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        t.drain_jobs().await;
        assert_eq!(messages_of(&t, pid, "booking.cancelled").await.len(), 1);
        // 18:00 the evening before (the configured hour): one visit-day reminder, for the
        // booking that still stands, saying what to bring.
        clock.set(domain::clock::local_to_utc(t.app.today().and_hms_opt(18, 0, 1).unwrap()));
        t.drain_jobs().await;
        let reminders = messages_of(&t, pid, "booking.visit_tomorrow").await;
        assert_eq!(reminders.len(), 1, "none for the cancelled booking");
        assert!(reminders[0].variables.contains(&bookings[0]));
        assert!(reminders[0].body.contains("身份证、既往心电图和近期化验单"), "{}", reminders[0].body);
        assert_eq!(reminders[0].status, "sent");
        let sent = t.wechat_sent();
        let w = sent.iter().find(|w| w.template_id == "TM_BOOKING_VISIT_TOMORROW").unwrap();
        assert!(w.data.iter().any(|(k, v)| k == "thing3" && v.starts_with("身份证")), "{:?}", w.data);
        // Half an hour before the slot: the number-taking reminder, again only for the
        // booking that stands.
        let start = sessions[0].slots.iter().find(|x| reminders[0].variables.contains(&x.start.format("%H:%M").to_string())).map(|x| x.start).unwrap_or(sessions[0].slots[0].start);
        clock.set(domain::clock::local_to_utc(tomorrow.and_time(start)) - Duration::minutes(29));
        t.drain_jobs().await;
        let take = messages_of(&t, pid, "booking.take_number").await;
        assert_eq!(take.len(), 1);
        assert!(take[0].variables.contains(&bookings[0]));
    }
}

on_both_backends! {
    async fn sms_goes_out_in_the_configured_providers_shape_and_its_refusals_are_final(backend) {
        for provider in ["tencent", "aliyun"] {
            let clock = FakeClock::new(ten_am());
            let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |s| s.sms.provider = provider.into()).await;
            let (_, pid) = patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
            // WeChat cannot reach him: the critical notice goes by SMS, signed the provider's way.
            t.set_wechat_faults(json!({"unfollowed": ["oDemo_zhangwei_0001"]})).await;
            t.emit_event("card.recharged", "card.recharged:C1", pid, json!({"order_no": "C1", "amount": 20000, "balance": 25000})).await;
            t.drain_jobs().await;
            let sms = t.sms_sent();
            assert_eq!(sms.len(), 1, "{provider}");
            assert_eq!(sms[0].provider, provider);
            assert_eq!(sms[0].template_code, "SMS_CARD_RECHARGED");
            assert!(sms[0].params.contains(&"200.00".to_string()), "{:?}", sms[0].params);
            let m = &messages_of(&t, pid, "card.recharged").await[0];
            assert_eq!((m.status.as_str(), m.sent_channel.as_deref()), ("sent", Some("sms")));
            assert_eq!(t.store.deliveries(m.id).await.unwrap().last().unwrap().provider_msg_id.as_deref(), Some(sms[0].biz_id.as_str()));
            // Flow control is worth retrying; an unapproved template is not.
            let (limit, refused) = match provider {
                "tencent" => ("LimitExceeded.DeliveryFrequencyLimit", "FailedOperation.TemplateIncorrectOrUnapproved"),
                _ => ("isv.BUSINESS_LIMIT_CONTROL", "isv.SMS_TEMPLATE_ILLEGAL"),
            };
            t.set_sms_faults(json!({"fail_next": [limit]})).await;
            t.emit_event("card.recharged", "card.recharged:C2", pid, json!({"order_no": "C2", "amount": 100, "balance": 25100})).await;
            run_until(&t, &clock, Duration::seconds(2), Duration::minutes(1), async || t.sms_sent().len() == 2).await;
            let m = messages_of(&t, pid, "card.recharged").await.into_iter().find(|m| m.variables.contains("C2")).unwrap();
            let d = t.store.deliveries(m.id).await.unwrap();
            assert_eq!(d.iter().filter(|x| x.channel == "sms").map(|x| x.outcome.as_str()).collect::<Vec<_>>(), ["transient", "sent"], "{provider}");
            t.set_sms_faults(json!({"fail_next": [refused]})).await;
            t.emit_event("card.recharged", "card.recharged:C3", pid, json!({"order_no": "C3", "amount": 100, "balance": 25200})).await;
            t.drain_jobs().await;
            let m = messages_of(&t, pid, "card.recharged").await.into_iter().find(|m| m.variables.contains("C3")).unwrap();
            assert_eq!(m.status, "task", "{provider}: no channel left for a critical notice → staff");
            assert_eq!(m.last_code.as_deref(), Some(refused));
        }
    }
}
