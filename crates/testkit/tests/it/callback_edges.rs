//! The bank's notifications at the edges, over signed HTTP on both backends (issue 20
//! item 1; P1, P2, G6, S7): each delivered 1–10 times, shuffled and concurrently, again
//! after the service was delivered, after a 退号 refund, and for an order whose payment
//! we never recorded opening. Each order changes once, the HIS is written once per
//! booking and bill, the patient hears once. Notifications signed by the bank but for
//! another counter, an unknown order, another amount or an old accounting date are
//! refused with their codes, and nothing is kept of them.
use chrono::{Duration, TimeZone, Utc};
use domain::Fen;
use domain::billing::OrderState;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use testkit::{TestApp, on_both_backends};

async fn spawn(backend: testkit::TestBackend) -> TestApp {
    // 10:00 local on a weekday: today's afternoon and tomorrow are bookable.
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()).await.0
}

async fn account(t: &TestApp, openid: &str, name: &str) -> (String, i64) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let id = t.add_demo_patient(&cookie, name, "self").await;
    (cookie, id)
}

/// Books a free slot of `dept` at least two hours ahead; returns (booking, order).
async fn book(t: &TestApp, cookie: &str, patient: i64, dept: &str) -> (String, String) {
    let slot = t.free_slot(dept, 2).await;
    let r = TestApp::http()
        .post(t.url("/api/v1/me/registrations"))
        .header("cookie", cookie)
        .json(&json!({"patient_id": patient, "dept_id": dept, "slot_id": slot}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let b: Value = r.json().await.unwrap();
    (b["booking_no"].as_str().unwrap().to_owned(), b["order_no"].as_str().unwrap().to_owned())
}

/// A bill order for the patient's first unpaid HIS bill.
async fn bill_order(t: &TestApp, cookie: &str, patient: i64) -> String {
    let page = TestApp::http().get(t.url("/bills")).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    let at = page.find("data-recipe=\"").expect("a bill") + "data-recipe=\"".len();
    let recipe = page[at..].split('"').next().unwrap().to_owned();
    let r = TestApp::http()
        .post(t.url("/api/v1/me/orders"))
        .header("cookie", cookie)
        .json(&json!({"patient_id": patient, "recipe_id": recipe}))
        .send()
        .await
        .unwrap();
    r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned()
}

/// Pays at the bank's cashier with the bank's own notification held back; returns the
/// notification the bank would have sent.
async fn pay_silently(t: &TestApp, order_no: &str) -> Vec<(String, String)> {
    t.ccb.lock().unwrap().faults.drop_for.insert(order_no.to_owned());
    let cashier = t.app.start_self_pay(order_no).await.unwrap();
    assert_eq!(TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap().status(), 303);
    t.ccb.lock().unwrap().notification_for(order_no).expect("the bank has the payment")
}

async fn deliver(t: &TestApp, form: &[(String, String)]) -> (u16, String) {
    let r = TestApp::http().post(t.url("/callbacks/ccb")).form(form).send().await.unwrap();
    (r.status().as_u16(), r.text().await.unwrap())
}

/// Sends every form at once, each on its own connection; all must be acknowledged.
async fn deliver_all_at_once(t: &TestApp, forms: Vec<Vec<(String, String)>>) {
    let mut set = tokio::task::JoinSet::new();
    for form in forms {
        let url = t.url("/callbacks/ccb");
        set.spawn(async move {
            let r = TestApp::http().post(url).form(&form).send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
    }
    while let Some(r) = set.join_next().await {
        assert_eq!(r.unwrap(), (200, "SUCCESS".to_owned()), "the bank is answered SUCCESS for every copy");
    }
}

/// Everything that would show a second change: (state, version, ledger legs, raw events).
async fn footprint(t: &TestApp, order_no: &str) -> (OrderState, i32, usize, usize) {
    let (o, v) = t.store.order(order_no).await.unwrap();
    (o.state, v, t.store.ledger_of(order_no).await.unwrap().len(), t.store.channel_events_of(order_no).await.unwrap().len())
}

fn his_calls(t: &TestApp, op: &str) -> u64 {
    t.his.lock().unwrap().op_calls.get(op).copied().unwrap_or(0)
}

async fn events(t: &TestApp, patient: i64, kind: &str) -> usize {
    t.store.events_of(patient).await.unwrap().iter().filter(|e| e.kind == kind).count()
}

/// The WeChat messages each patient received, by template.
fn messages(t: &TestApp) -> BTreeMap<(String, String), usize> {
    let mut m = BTreeMap::new();
    for s in t.wechat_sent() {
        *m.entry((s.openid, s.template_id)).or_default() += 1;
    }
    m
}

/// A notification as the bank posts it: form pairs in its order.
type Form = Vec<(String, String)>;

/// Deterministic shuffle (xorshift) so a failure repeats.
fn shuffle<T>(v: &mut [T], mut seed: u64) {
    for i in (1..v.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        v.swap(i, (seed % (i as u64 + 1)) as usize);
    }
}

on_both_backends! {
    async fn bank_notifications_repeated_shuffled_concurrent_and_late_change_each_order_once(backend) {
        let t = spawn(backend).await;
        let (zhang, zid) = account(&t, "oDemo_zhangwei_0001", "张伟").await;
        let (lina, lid) = account(&t, "oDemo_lina_0002", "李娜").await;
        let (b1, r1) = book(&t, &zhang, zid, "0101").await;
        let (_b2, r2) = book(&t, &lina, lid, "0101").await;
        let bill = bill_order(&t, &lina, lid).await;
        let orders = [r1.clone(), r2.clone(), bill.clone()];
        let mut forms = Vec::new();
        for (i, no) in orders.iter().enumerate() {
            let form = pay_silently(&t, no).await;
            // 10, 1 and 6 copies: the most, the least and one between.
            forms.extend(std::iter::repeat_n(form, [10, 1, 6][i]));
        }
        shuffle(&mut forms, 0x9e37_79b9_7f4a_7c15);
        deliver_all_at_once(&t, forms.clone()).await;
        t.drain_jobs().await;
        let mut after = Vec::new();
        for no in &orders {
            let f = footprint(&t, no).await;
            assert_eq!(f.0, OrderState::Fulfilled, "{no} paid and delivered");
            assert_eq!(f.3, 1, "{no}: one raw event however many copies came");
            let postings: std::collections::BTreeSet<_> = t.store.ledger_of(no).await.unwrap().into_iter().map(|e| e.posting).collect();
            assert_eq!(postings.len(), 1, "{no}: the capture is booked once");
            after.push(f);
        }
        assert_eq!(his_calls(&t, "reg_confirm"), 2, "each registration confirmed in the HIS once");
        assert_eq!(his_calls(&t, "charge_commit"), 1, "the bill settled in the HIS once");
        assert_eq!(events(&t, zid, "booking.confirmed").await, 1);
        assert_eq!(events(&t, lid, "booking.confirmed").await, 1);
        assert_eq!(events(&t, lid, "bill.paid").await, 1);
        let heard = messages(&t);
        assert!(heard.values().all(|n| *n == 1), "one message per patient and notice: {heard:?}");
        assert_eq!(heard.keys().filter(|(openid, _)| openid == "oDemo_lina_0002").count(), 2, "李娜 heard of her booking and of her bill: {heard:?}");

        // Late: the bank retries every copy after the service was delivered.
        deliver_all_at_once(&t, forms.clone()).await;
        t.drain_jobs().await;
        for (no, before) in orders.iter().zip(&after) {
            assert_eq!(&footprint(&t, no).await, before, "{no} unchanged by late copies");
        }
        assert_eq!((his_calls(&t, "reg_confirm"), his_calls(&t, "charge_commit")), (2, 1));
        assert_eq!(messages(&t), heard, "nobody hears twice");

        // After a 退号 refund, the payment's notification comes again: still refunded, the
        // refund not undone, the HIS not confirmed again.
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{b1}/cancel"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.status(), 200);
        t.drain_jobs().await;
        let refunded = footprint(&t, &r1).await;
        assert_eq!(refunded.0, OrderState::Refunded);
        let zhang_form = forms.iter().find(|f| f.iter().any(|(k, v)| k == "ORDERID" && *v == r1)).unwrap().clone();
        deliver_all_at_once(&t, vec![zhang_form; 3]).await;
        t.drain_jobs().await;
        assert_eq!(footprint(&t, &r1).await, refunded, "a payment notification after the refund changes nothing");
        assert_eq!(his_calls(&t, "reg_confirm"), 2);

        // Before we recorded opening the payment (the answer to opening it was lost, the
        // patient paid anyway): the bank's signed word is taken, once.
        let (b3, r3) = book(&t, &zhang, zid, "0102").await;
        assert_eq!(footprint(&t, &r3).await.0, OrderState::Created, "no payment opened yet");
        let due = t.store.order(&r3).await.unwrap().0.due(domain::billing::Channel::SelfPay);
        let early = {
            let bank = t.ccb.lock().unwrap();
            bank.sign_notification(bank.notification_fields(&r3, due, true))
        };
        deliver_all_at_once(&t, vec![early; 4]).await;
        t.drain_jobs().await;
        let f = footprint(&t, &r3).await;
        assert_eq!((f.0, f.3), (OrderState::Fulfilled, 1), "paid before it was opened: captured and delivered once");
        assert_eq!(his_calls(&t, "reg_confirm"), 3);
        let b: Value = TestApp::http().get(t.url(&format!("/api/v1/me/registrations/{b3}"))).header("cookie", &zhang).send().await.unwrap().json().await.unwrap();
        assert_eq!(b["state"], "confirmed");
        assert_eq!(events(&t, zid, "booking.confirmed").await, 2);
    }
}

on_both_backends! {
    async fn signed_but_foreign_stale_unknown_or_wrong_notifications_are_refused_and_leave_nothing(backend) {
        let t = spawn(backend).await;
        let (zhang, zid) = account(&t, "oDemo_zhangwei_0001", "张伟").await;
        let (_, no) = book(&t, &zhang, zid, "0101").await;
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        assert!(!cashier.is_empty());
        let before = footprint(&t, &no).await;
        let due = t.store.order(&no).await.unwrap().0.due(domain::billing::Channel::SelfPay);
        let signed = |edit: &dyn Fn(&mut gateways::ccb::signing::Notification)| {
            let bank = t.ccb.lock().unwrap();
            let mut n = bank.notification_fields(&no, due, true);
            edit(&mut n);
            bank.sign_notification(n)
        };
        let today = domain::clock::to_local(t.app.now()).date_naive();
        let cases: Vec<(&str, Form, u16, &str)> = vec![
            ("an order we never made", signed(&|n| n.order_id = "R20261126999999".into()), 404, "ORDER_NOT_FOUND"),
            ("another amount, validly signed", signed(&|n| n.payment = Fen(due.0 + 1).to_yuan_string()), 422, "AMOUNT_MISMATCH"),
            ("another POS", signed(&|n| n.pos_id = "100002".into()), 422, "MERCHANT_MISMATCH"),
            ("another branch", signed(&|n| n.branch_id = "110000000".into()), 422, "MERCHANT_MISMATCH"),
            ("an accounting date five days old", signed(&|n| n.acc_date = Some((today - Duration::days(5)).format("%Y%m%d").to_string())), 401, "TIMESTAMP_SKEWED"),
            ("an accounting date days ahead", signed(&|n| n.acc_date = Some((today + Duration::days(3)).format("%Y%m%d").to_string())), 401, "TIMESTAMP_SKEWED"),
            ("an accounting date that is no date", signed(&|n| n.acc_date = Some("2026-11-26".into())), 400, "BAD_REQUEST"),
        ];
        for (what, form, status, code) in cases {
            let (s, body) = deliver(&t, &form).await;
            assert_eq!(s, status, "{what}: {body}");
            let v: Value = serde_json::from_str(&body).unwrap_or_else(|_| panic!("{what}: a JSON error body, got {body}"));
            assert_eq!(v["code"], code, "{what}");
            assert!(!body.contains("SUCCESS"), "{what}: the bank is not told it succeeded");
        }
        // A merchant id, where the bank sends one, must be ours too.
        let mut other_merchant = signed(&|_| {});
        other_merchant.push(("MERCHANTID".into(), "105000000000999".into()));
        assert_eq!(deliver(&t, &other_merchant).await.0, 422);
        // The signature covers the fields as they came: a correctly signed amount written
        // another way ("25.0" for "25.00") is the bank's own spelling and verifies, but the
        // same field re-spelled after signing does not.
        let yuan = due.to_yuan_string();
        let short = yuan.strip_suffix('0').expect("the fee has whole jiao, so it can be spelled shorter").to_owned();
        let mut respelled = signed(&|_| {});
        for (k, v) in respelled.iter_mut() {
            if k == "PAYMENT" {
                *v = short.clone();
            }
        }
        let (s, body) = deliver(&t, &respelled).await;
        assert_eq!((s, serde_json::from_str::<Value>(&body).unwrap()["code"].as_str().unwrap()), (400, "BAD_REQUEST"), "re-spelled after signing");
        assert_eq!(footprint(&t, &no).await, before, "nothing changed and no raw event was kept");
        // The bank's own spelling, signed as sent, is accepted.
        let own_spelling = signed(&|n| n.payment = short.clone());
        assert_eq!(deliver(&t, &own_spelling).await, (200, "SUCCESS".to_owned()));
        assert_ne!(footprint(&t, &no).await.0, OrderState::Paying, "captured");
    }
}
