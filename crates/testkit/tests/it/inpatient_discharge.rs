//! Discharge settled from the bed (BED-1, BED-2), end to end through the simulators: the
//! nurse closes the account, the family checks the HIS's split, confirms, and the surplus
//! goes back over the deposits that funded the stay — or the shortfall is paid — and the
//! HIS settles. Faults: two phones, a stay settled at the window meanwhile, a HIS refusal.
use domain::Fen;
use domain::billing::OrderState;
use domain::inpatient::DischargeState;
use domain::invoices::{InvoiceKind, InvoiceState};
use serde_json::json;
use testkit::{TestApp, on_both_backends};

/// Workers off: the test runs each job itself (`drain_jobs`), so every step is seen done.
async fn spawn(backend: testkit::TestBackend) -> TestApp {
    TestApp::spawn_opts(backend, std::sync::Arc::new(domain::SystemClock), false, |_| {}).await
}

struct Family {
    cookie: String,
    patient: i64,
    his_id: String,
}

async fn family(t: &TestApp, name: &str) -> Family {
    let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
    t.add_demo_patient(&cookie, "张伟", "self").await;
    let patient = t.add_demo_patient(&cookie, name, "parent").await;
    let his_id = t.store.patient_by_id(patient).await.unwrap().unwrap().his_patient_id;
    Family { cookie, patient, his_id }
}

async fn get(t: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap()
}

async fn post(t: &TestApp, cookie: &str, path: &str, form: &[(&str, String)]) -> reqwest::Response {
    TestApp::http().post(t.url(path)).header("cookie", cookie).header("origin", &t.base).form(form).send().await.unwrap()
}

async fn pay(t: &TestApp, order_no: &str) {
    let cashier = t.app.start_self_pay(order_no).await.unwrap();
    assert_eq!(TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap().status(), 303);
    t.app.resolve_payment(order_no).await.unwrap();
    t.drain_jobs().await;
}

/// The pre-settlement id the discharge page offers.
fn pre_settle_id(page: &str) -> String {
    let marker = "name=\"pre_settle_id\" value=\"";
    let at = page.find(marker).expect("the page offers the settlement") + marker.len();
    page[at..].split('"').next().unwrap().to_owned()
}

/// Confirms the discharge as the page does: the first post answers the confirmation page,
/// the second (with `confirmed`) acts. Returns where the second post leads.
async fn confirm(t: &TestApp, f: &Family, id: &str) -> String {
    let form = [("patient_id", f.patient.to_string()), ("pre_settle_id", id.to_owned())];
    let r = post(t, &f.cookie, "/inpatient/discharge", &form).await;
    let (status, to) = (r.status(), testkit::location(r.headers()));
    let page = r.text().await.unwrap();
    assert!(status == 200, "{status} {to} (quote {id})");
    assert!(page.contains("name=\"confirmed\"") && page.contains("结算后不能在手机上撤销"), "asks first: {page}");
    let mut form = form.to_vec();
    form.push(("confirmed", "1".into()));
    testkit::location(post(t, &f.cookie, "/inpatient/discharge", &form).await.headers())
}

async fn close_account(t: &TestApp, f: &Family, staff: &str) {
    let stay = t.his_port.inpatient_stay(&f.his_id).await.unwrap().unwrap();
    let form = [("his_patient_id", f.his_id.clone()), ("name", "x".into()), ("inpatient_no", stay.inpatient_no.clone()), ("confirmed", "1".into())];
    let r = TestApp::http().post(t.url("/staff/ward/close")).header("cookie", staff).header("origin", &t.base).form(&form).send().await.unwrap();
    assert_eq!(testkit::location(r.headers()), "/staff/ward?done=1");
    t.drain_jobs().await;
}

on_both_backends! {
    async fn the_surplus_goes_back_over_three_deposits_on_two_channels(backend) {
        let t = spawn(backend).await;
        let nurse = t.staff_sign_in("nurse01").await;
        let f = family(&t, "吴秀英").await;
        // Seeded: POS ¥3000 on the first day, cash ¥2000 on the third. A top-up on the phone
        // makes the third deposit, the newest.
        let r = post(&t, &f.cookie, "/inpatient/deposit", &[("patient_id", f.patient.to_string()), ("amount_yuan", "1000".into())]).await;
        let top_up = testkit::location(r.headers()).strip_prefix("/pay/").unwrap().to_owned();
        pay(&t, &top_up).await;
        assert_eq!(t.store.order(&top_up).await.unwrap().0.state, OrderState::Fulfilled);
        // Before 封账 there is nothing to settle.
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge?patient={}", f.patient)).await.text().await.unwrap();
        assert!(page.contains("id=\"not-closed\"") && !page.contains("pre_settle_id"), "{page}");

        close_account(&t, &f, &nurse).await;
        let prompt = t.store.search_messages(&store::messages::MessageQuery { scene: Some("discharge.prompt".into()), patient_id: Some(f.patient), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(prompt.len(), 1, "出院结算提醒 once");
        assert_eq!(prompt[0].link, format!("/inpatient/discharge?patient={}", f.patient));

        // The page shows the HIS's split before anything moves.
        let stay = t.his_port.inpatient_stay(&f.his_id).await.unwrap().unwrap();
        let q = t.his_port.discharge_pre_settle(&stay.inpatient_no).await.unwrap();
        assert_eq!(q.total, stay.charges_to_date);
        assert_eq!(q.fund.0 + q.personal_account.0 + q.self_pay.0, q.total.0);
        assert!(q.fund.0 > 0 && q.insurance.as_ref().is_some_and(|i| !i.mdtrt_id.is_empty()), "an insured stay carries the centre's fields");
        let surplus = Fen(600_000 - q.self_pay.0);
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge?patient={}", f.patient)).await.text().await.unwrap();
        for shown in [q.total, q.fund, q.self_pay, surplus] {
            assert!(page.contains(&format!("¥{}", domain::format::yuan(shown))), "{shown:?} shown: {page}");
        }
        assert!(page.contains("基本医疗保险统筹基金") && page.contains("原路退回") && page.contains("到出院结算窗口领取"), "{page}");
        let id = pre_settle_id(&page);

        // A quote that changed is refused, not settled on.
        for confirmed in [None, Some("1")] {
            let mut form = vec![("patient_id", f.patient.to_string()), ("pre_settle_id", "PS-stale".to_owned())];
            form.extend(confirmed.map(|c| ("confirmed", c.to_owned())));
            let to = testkit::location(post(&t, &f.cookie, "/inpatient/discharge", &form).await.headers());
            assert!(to.ends_with("error=DISCHARGE_QUOTE_CHANGED"), "{to}");
        }
        assert_eq!(t.his_port.discharge_pre_settle(&stay.inpatient_no).await.unwrap().pre_settle_id, id, "the same quote");
        let to = confirm(&t, &f, &id).await;
        let no = to.strip_prefix("/inpatient/discharge/").expect("to the result page").to_owned();
        // The other phone (or a double tap), its confirmation page still open, finds the same
        // discharge; so does a stale discharge page.
        let form = [("patient_id", f.patient.to_string()), ("pre_settle_id", id.clone())];
        let again = post(&t, &f.cookie, "/inpatient/discharge", &[form[0].clone(), form[1].clone(), ("confirmed", "1".into())]).await;
        assert_eq!(testkit::location(again.headers()), to, "one discharge per stay");
        assert_eq!(testkit::location(post(&t, &f.cookie, "/inpatient/discharge", &form).await.headers()), to);
        t.drain_jobs().await;

        let d = t.store.discharge(&no).await.unwrap();
        assert_eq!((d.state, d.balance), (DischargeState::Settled, surplus));
        // Newest first: the phone's ¥1000 back to the bank, then the cash, then part of the POS.
        let deposits = t.his_port.stay_deposits(&stay.inpatient_no).await.unwrap();
        let refunded: Vec<(domain::inpatient::DepositChannel, i64)> = deposits.iter().map(|x| (x.channel, x.refunded.0)).collect();
        use domain::inpatient::DepositChannel::*;
        assert_eq!(refunded, vec![(WindowPos, surplus.0 - 300_000), (WindowCash, 200_000), (Bank, 100_000)], "the HIS booked the split");
        let o = t.store.order(&top_up).await.unwrap().0;
        assert_eq!((o.state, o.refunded.self_pay), (OrderState::Refunded, Fen(100_000)), "the bank gave the phone's deposit back");
        let ledger: i64 = t.store.ledger_of(&top_up).await.unwrap().iter().map(|l| l.amount).sum();
        assert_eq!(ledger, 0, "the order's ledger balances");
        let tasks = t.store.tasks(true, 50).await.unwrap();
        let window: Vec<_> = tasks.iter().filter(|x| x.kind == "discharge_window_refund").collect();
        assert_eq!(window.len(), 2, "the cashier gives back the window deposits");
        assert!(window.iter().any(|x| x.detail.contains("¥2000.00")));
        // The stay's 住院 e-invoice states the whole stay with the HIS's split; the voucher
        // of the deposit paid on the phone is reversed with its refund.
        let inv = t.store.invoices_of(&format!("discharge:{no}")).await.unwrap();
        assert_eq!(inv.len(), 1);
        assert_eq!((inv[0].state, inv[0].kind, inv[0].amounts.total, inv[0].amounts.fund), (InvoiceState::Issued, InvoiceKind::Inpatient, d.total, d.fund));
        let bills = t.einvoice.lock().unwrap().bills.clone();
        let bill = bills.iter().find(|b| b.bus_no == inv[0].bus_no).expect("the platform issued it");
        assert_eq!((bill.method.as_str(), bill.params["hospitalNo"].as_str()), ("invEBillHospitalized", Some(stay.inpatient_no.as_str())));
        let voucher = t.store.invoices_of(&format!("order:{top_up}")).await.unwrap();
        assert_eq!(voucher.iter().map(|v| (v.kind, v.state)).collect::<Vec<_>>(), vec![(InvoiceKind::Prepayment, InvoiceState::Reversed)]);
        let settled = t.store.search_messages(&store::messages::MessageQuery { scene: Some("discharge.settled".into()), patient_id: Some(f.patient), limit: 10, ..Default::default() }).await.unwrap();
        assert_eq!(settled.len(), 1);
        assert!(settled[0].body.contains(&domain::format::yuan(surplus)) && settled[0].body.contains("出院结算窗口"), "{}", settled[0].body);

        // The result page: the split's progress and the 出院小结.
        let page = get(&t, &f.cookie, &to).await.text().await.unwrap();
        assert!(page.contains("出院结算成功") && page.contains("出院小结") && page.contains("阿司匹林肠溶片") && page.contains("id=\"follow-up\""), "{page}");
        assert!(page.contains("已退回"), "the bank part is back: {page}");
        // The 出院小结 to save: laid out from the HIS's text on the hospital's form.
        let pdf = get(&t, &f.cookie, &format!("{to}/summary.pdf")).await;
        assert_eq!((pdf.status(), pdf.headers()["content-type"].to_str().unwrap()), (reqwest::StatusCode::OK, "application/pdf"));
        let text = crate::api_reports::pdftotext(&pdf.bytes().await.unwrap());
        for expected in ["出院小结", "住院经过", "阿司匹林肠溶片", "出院医嘱", &stay.inpatient_no] {
            assert!(text.contains(expected), "{expected} in {text}");
        }
        assert!(!text.contains("参考区间") && !text.contains("采样时间"), "the summary's own labels, not a lab report's: {text}");

        // Running the settlement again changes nothing; nobody is refunded twice.
        t.store.enqueue(t.store.db(), store::outbox::NewJob::new(app::inpatient::discharge::DISCHARGE_SETTLE, json!({"discharge_no": no}), t.app.now()), t.app.now()).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(t.store.order(&top_up).await.unwrap().0.refunded.self_pay, Fen(100_000));
        // Another account's discharge is not found.
        let (_, other) = t.wechat_sign_in("oDemo_lina_0002").await;
        assert_eq!(get(&t, &other, &to).await.status(), 404);
        assert_eq!(get(&t, &other, &format!("{to}/summary.pdf")).await.status(), 404);
        assert_eq!(get(&t, &other, &format!("/inpatient/discharge?patient={}", f.patient)).await.status(), 404);
    }
}

on_both_backends! {
    async fn a_shortfall_is_paid_then_settled_and_a_window_settlement_refunds_the_payment(backend) {
        let t = spawn(backend).await;
        let nurse = t.staff_sign_in("nurse01").await;
        let f = family(&t, "黄强").await;
        close_account(&t, &f, &nurse).await;
        let stay = t.his_port.inpatient_stay(&f.his_id).await.unwrap().unwrap();
        let q = t.his_port.discharge_pre_settle(&stay.inpatient_no).await.unwrap();
        let due = Fen(q.self_pay.0 - 200_000);
        assert!(due.0 > 0, "黄强's share exceeds his deposit");
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge?patient={}", f.patient)).await.text().await.unwrap();
        assert!(page.contains(&format!("id=\"due\">¥{}", domain::format::yuan(due))), "{page}");
        let to = confirm(&t, &f, &pre_settle_id(&page)).await;
        let order_no = to.strip_prefix("/pay/").expect("to the pay page").to_owned();
        let o = t.store.order(&order_no).await.unwrap().0;
        assert_eq!((o.total(), o.purpose), (due, domain::billing::Purpose::DischargeBalance));
        // Unpaid, the discharge waits; the page says so rather than offering a second one.
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge?patient={}", f.patient)).await.text().await.unwrap();
        assert!(page.contains("id=\"under-way\"") && page.contains("待补缴"), "{page}");
        pay(&t, &order_no).await;
        let d = t.store.active_discharge(&stay.inpatient_no).await.unwrap().unwrap();
        assert_eq!(d.state, DischargeState::Settled);
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, OrderState::Fulfilled);
        let trades = t.his_port.trade_records(t.app.today()).await.unwrap();
        assert!(trades.iter().any(|x| x.trade_no == order_no && x.amount == due), "the HIS booked the payment");
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge/{}", d.discharge_no)).await.text().await.unwrap();
        assert!(page.contains(&format!("id=\"paid\">¥{}", domain::format::yuan(due))) && page.contains("塞来昔布胶囊"), "{page}");
    }
}

on_both_backends! {
    async fn settled_at_the_window_meanwhile_or_refused_by_the_his_moves_no_money_twice(backend) {
        let t = spawn(backend).await;
        let nurse = t.staff_sign_in("nurse01").await;
        let f = family(&t, "黄强").await;
        close_account(&t, &f, &nurse).await;
        let stay = t.his_port.inpatient_stay(&f.his_id).await.unwrap().unwrap();
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge?patient={}", f.patient)).await.text().await.unwrap();
        let to = confirm(&t, &f, &pre_settle_id(&page)).await;
        let order_no = to.strip_prefix("/pay/").unwrap().to_owned();
        // The cashier settles the stay at the window while the family pays on the phone.
        let r = TestApp::http().post(format!("{}/__sim/his/inpatient/{}/window-settle", t.his_url, stay.inpatient_no)).send().await.unwrap();
        assert!(r.status().is_success());
        pay(&t, &order_no).await;
        let d = t.store.latest_discharge(&stay.inpatient_no).await.unwrap().unwrap();
        assert_eq!(d.state, DischargeState::SettledElsewhere);
        let o = t.store.order(&order_no).await.unwrap().0;
        assert!(matches!(o.state, OrderState::Refunding | OrderState::Refunded), "the balance paid for nothing goes back (P6): {:?}", o.state);
        assert_eq!(o.refund_in_flight.self_pay.0 + o.refunded.self_pay.0, o.total().0);
        let page = get(&t, &f.cookie, &format!("/inpatient/discharge?patient={}", f.patient)).await.text().await.unwrap();
        assert!(page.contains("id=\"settled-elsewhere\"") && !page.contains("pre_settle_id"), "{page}");

        // 吴秀英's refund case, refused by the HIS: nothing is refunded, the cashier is told.
        let wu = t.add_demo_patient(&f.cookie, "吴秀英", "parent").await;
        let g = Family { cookie: f.cookie.clone(), patient: wu, his_id: t.store.patient_by_id(wu).await.unwrap().unwrap().his_patient_id };
        close_account(&t, &g, &nurse).await;
        let page = get(&t, &g.cookie, &format!("/inpatient/discharge?patient={}", g.patient)).await.text().await.unwrap();
        t.set_his_faults(json!({"fail_next": [["inhospital_settle", "2099"]]})).await;
        let no = confirm(&t, &g, &pre_settle_id(&page)).await.strip_prefix("/inpatient/discharge/").unwrap().to_owned();
        t.drain_jobs().await;
        assert_eq!(t.store.discharge(&no).await.unwrap().state, DischargeState::Failed);
        let wu_stay = t.his_port.inpatient_stay(&g.his_id).await.unwrap().unwrap();
        assert!(t.his_port.stay_deposits(&wu_stay.inpatient_no).await.unwrap().iter().all(|d| d.refunded.0 == 0), "nothing given back");
        assert!(t.store.tasks(true, 50).await.unwrap().iter().any(|x| x.kind == "discharge_failed"));
        assert!(get(&t, &g.cookie, &format!("/inpatient/discharge/{no}")).await.text().await.unwrap().contains("结算未成功"));
        // A lost answer is asked again under the same number: settled once.
        let page = get(&t, &g.cookie, &format!("/inpatient/discharge?patient={}", g.patient)).await.text().await.unwrap();
        t.set_his_faults(json!({"lose_response_next": ["inhospital_settle"]})).await;
        let no = confirm(&t, &g, &pre_settle_id(&page)).await.strip_prefix("/inpatient/discharge/").unwrap().to_owned();
        t.drain_jobs().await;
        assert_eq!(t.store.discharge(&no).await.unwrap().state, DischargeState::Settling, "unknown: asked again later");
        // The retry (run now rather than after its back-off).
        t.store.enqueue(t.store.db(), store::outbox::NewJob::new(app::inpatient::discharge::DISCHARGE_SETTLE, json!({"discharge_no": no}), t.app.now()), t.app.now()).await.unwrap();
        t.drain_jobs().await;
        let d = t.store.discharge(&no).await.unwrap();
        assert_eq!(d.state, DischargeState::Settled);
        let held: i64 = t.his_port.stay_deposits(&wu_stay.inpatient_no).await.unwrap().iter().map(|x| x.refunded.0).sum();
        assert_eq!(held, d.balance.0, "the surplus booked once");
    }
}
