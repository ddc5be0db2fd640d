//! 电子票据 end to end through the simulators on both backends: a paid registration gets
//! its invoice (list, detail with the QR, the PDF), another account cannot see it, and
//! cancelling reverses it (冲红); a lost answer is recovered by business number without a
//! second bill; a partial refund reverses and reissues for what is kept; a refusal goes
//! to the cashier and the patient is told.
use chrono::{Duration, TimeZone, Utc};
use domain::billing::PerChannel;
use domain::invoices::{InvoiceKind, InvoiceState};
use domain::{FakeClock, Fen};
use serde_json::{Value, json};
use std::sync::Arc;
use testkit::{TestApp, on_both_backends};

/// 10:00 local on a weekday.
fn ten_am() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()
}

pub(crate) async fn spawn(backend: testkit::TestBackend) -> (TestApp, FakeClock) {
    let clock = FakeClock::new(ten_am());
    let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |s| s.einvoice.timeout_ms = 800).await;
    (t, clock)
}

async fn get(t: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap()
}

async fn pay(t: &TestApp, order_no: &str) {
    let cashier = t.app.start_self_pay(order_no).await.unwrap();
    assert_eq!(TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap().status(), 303);
    t.app.resolve_payment(order_no).await.unwrap();
    t.drain_jobs().await;
}

/// Books and pays tomorrow's first free place at 0101; returns (order no, booking no).
async fn paid_booking(t: &TestApp, cookie: &str, pid: i64) -> (String, String) {
    let tomorrow = t.app.today().succ_opt().unwrap();
    let v = t.app.department_view("0101").await.unwrap();
    let s = v.schedules.iter().find(|s| s.date == tomorrow && !s.suspended && s.slots.iter().any(|x| x.available > 0)).expect("a session tomorrow");
    let slot = s.slots.iter().find(|x| x.available > 0).unwrap();
    let r = TestApp::http()
        .post(t.url("/api/v1/me/registrations"))
        .header("cookie", cookie)
        .header("idempotency-key", "inv-1")
        .json(&json!({"patient_id": pid, "dept_id": "0101", "slot_id": slot.slot_id}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let b: Value = r.json().await.unwrap();
    let order_no = b["order_no"].as_str().unwrap().to_owned();
    pay(t, &order_no).await;
    (order_no, b["booking_no"].as_str().unwrap().to_owned())
}

/// A card recharge of `yuan`, paid; returns its order number.
pub(crate) async fn paid_recharge(t: &TestApp, cookie: &str, pid: i64, yuan: &str) -> String {
    let r = TestApp::http()
        .post(t.url("/card/recharge"))
        .header("cookie", cookie)
        .header("origin", &t.base)
        .form(&[("patient_id", pid.to_string()), ("amount_yuan", yuan.into())])
        .send()
        .await
        .unwrap();
    let order_no = testkit::location(r.headers()).strip_prefix("/pay/").expect("to the pay page").to_owned();
    pay(t, &order_no).await;
    order_no
}

fn bills_of(t: &TestApp, bus_no: &str) -> Vec<sim::einvoice::SimBill> {
    t.einvoice.lock().unwrap().bills.iter().filter(|b| b.bus_no == bus_no).cloned().collect()
}

on_both_backends! {
    async fn a_paid_visit_gets_its_invoice_and_cancelling_reverses_it(backend) {
        let (t, _clock) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&cookie, "张伟", "self").await;
        let his_id = t.store.patient_by_id(pid).await.unwrap().unwrap().his_patient_id;
        let (order_no, booking_no) = paid_booking(&t, &cookie, pid).await;
        let total = t.store.order(&order_no).await.unwrap().0.total();

        let inv = t.store.invoices_of(&format!("order:{order_no}")).await.unwrap();
        assert_eq!(inv.len(), 1);
        assert_eq!((inv[0].kind, inv[0].state, inv[0].amounts.total), (InvoiceKind::Registration, InvoiceState::Issued, total));
        let bill = bills_of(&t, &inv[0].bus_no).pop().expect("the platform issued it");
        assert_eq!((bill.method.as_str(), bill.params["busType"].as_str(), bill.payer.as_str()), ("invEBillRegistration", Some("06"), "张伟"));
        assert_eq!(bill.params["patientId"].as_str(), Some(his_id.as_str()));
        assert_eq!(bill.params["totalAmt"].as_str(), Some(total.to_yuan_string().as_str()));
        assert_eq!(inv[0].bill_no.as_deref(), Some(bill.bill_no.as_str()));

        // The patient's list, the invoice with its QR, and the PDF.
        let list = get(&t, &cookie, "/invoices").await.text().await.unwrap();
        assert!(list.contains("挂号收费票据") && list.contains("已开具") && list.contains(&bill.bill_no), "{list}");
        let path = format!("/invoices/{}", inv[0].id);
        let page = get(&t, &cookie, &path).await.text().await.unwrap();
        assert!(page.contains(&bill.random) && page.contains("id=\"invoice-qr\" src=\"data:image/png;base64,"), "{page}");
        let pdf = get(&t, &cookie, &format!("{path}/pdf")).await;
        assert_eq!(pdf.status(), 200);
        assert_eq!(pdf.headers()["content-type"], "application/pdf");
        assert!(pdf.bytes().await.unwrap().starts_with(b"%PDF-"));
        // Another account sees neither the invoice nor its PDF, and its list is empty.
        let (_, other) = t.wechat_sign_in("oDemo_lina_0002").await;
        assert_eq!(get(&t, &other, &path).await.status(), 404);
        assert_eq!(get(&t, &other, &format!("{path}/pdf")).await.status(), 404);
        assert!(!get(&t, &other, "/invoices").await.text().await.unwrap().contains(&bill.bill_no));

        // 退号: the refund reverses the invoice, and nothing is issued again.
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/registrations/{booking_no}/cancel"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(r.status(), 200);
        t.drain_jobs().await;
        let inv = t.store.invoices_of(&format!("order:{order_no}")).await.unwrap();
        assert_eq!(inv.iter().map(|i| i.state).collect::<Vec<_>>(), vec![InvoiceState::Reversed]);
        let red = bills_of(&t, &inv[0].bus_no).pop().unwrap().scarlet.expect("a red-letter bill");
        let page = get(&t, &cookie, &path).await.text().await.unwrap();
        assert!(page.contains("已冲红") && page.contains(&red.1), "{page}");
        assert!(!page.contains("id=\"invoice-qr\""), "a reversed invoice offers no verification QR as if valid");
        // The sync running again changes nothing.
        let calls = t.einvoice.lock().unwrap().issue_calls;
        t.store.enqueue(t.store.db(), store::outbox::NewJob::new(app::invoices::INVOICE_SYNC, json!({"subject": format!("order:{order_no}")}), t.app.now()), t.app.now()).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(t.einvoice.lock().unwrap().issue_calls, calls);
        assert_eq!(t.store.invoices_of(&format!("order:{order_no}")).await.unwrap().len(), 1);
    }
}

on_both_backends! {
    async fn lost_answers_partial_refunds_and_refusals(backend) {
        let (t, clock) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&cookie, "张伟", "self").await;

        // The issue's answer is lost: the invoice waits in `issuing`, the next attempt finds
        // the bill by business number and issues nothing twice.
        t.einvoice.lock().unwrap().faults.lose_answers = 1;
        let order_no = paid_recharge(&t, &cookie, pid, "300").await;
        let subject = format!("order:{order_no}");
        let inv = t.store.invoices_of(&subject).await.unwrap();
        assert_eq!(inv.iter().map(|i| i.state).collect::<Vec<_>>(), vec![InvoiceState::Issuing]);
        assert_eq!(bills_of(&t, &inv[0].bus_no).len(), 1, "the platform did issue it");
        clock.advance(Duration::minutes(10));
        t.drain_jobs().await;
        let inv = t.store.invoices_of(&subject).await.unwrap();
        assert_eq!((inv[0].kind, inv[0].state), (InvoiceKind::Prepayment, InvoiceState::Issued));
        assert_eq!(bills_of(&t, &inv[0].bus_no).len(), 1, "one bill for the business");
        assert_eq!(inv[0].bill_no.as_deref(), Some(bills_of(&t, &inv[0].bus_no)[0].bill_no.as_str()));

        // ¥100 of the ¥300 refunded: the ¥300 invoice is reversed and ¥200 reissued.
        t.app.request_refund(&order_no, PerChannel { insurance: Fen(0), self_pay: Fen(10_000) }, "部分退费", &app::Actor::system("test")).await.unwrap();
        t.drain_jobs().await;
        let inv = t.store.invoices_of(&subject).await.unwrap();
        assert_eq!(inv.iter().map(|i| (i.state, i.amounts.total)).collect::<Vec<_>>(), vec![(InvoiceState::Reversed, Fen(30_000)), (InvoiceState::Issued, Fen(20_000))]);
        let reissued = bills_of(&t, &inv[1].bus_no).pop().unwrap();
        assert_eq!((reissued.params["totalAmt"].as_str(), reissued.params["remark"].as_str()), (Some("200.00"), Some("退费后重开")));
        assert!(bills_of(&t, &inv[0].bus_no)[0].scarlet.is_some());
        let list = get(&t, &cookie, "/invoices").await.text().await.unwrap();
        assert!(list.contains("退费后重开") && list.contains("已冲红") && list.contains("¥200.00"), "{list}");

        // The platform refuses: the cashier gets a task, the patient reads what to do.
        t.einvoice.lock().unwrap().faults.refuse_next = vec![("E3001".into(), "开票点票据已用完".into())];
        let refused_order = paid_recharge(&t, &cookie, pid, "50").await;
        let inv = t.store.invoices_of(&format!("order:{refused_order}")).await.unwrap();
        assert_eq!(inv.iter().map(|i| i.state).collect::<Vec<_>>(), vec![InvoiceState::Refused]);
        let tasks = t.store.tasks(true, 50).await.unwrap();
        let task = tasks.iter().find(|x| x.kind == "invoice_refused").expect("a task for the cashier");
        assert!(task.detail.contains("开票点票据已用完") && task.detail.contains("¥50.00"), "{}", task.detail);
        let page = get(&t, &cookie, &format!("/invoices/{}", inv[0].id)).await.text().await.unwrap();
        assert!(page.contains("开具失败，请到窗口咨询") && !page.contains("id=\"invoice-pdf\""), "{page}");
    }
}
