//! Outpatient bills (诊间支付) on both backends: a tier-2 patient with a referral pays the
//! doctor's orders with insurance; the HIS settles them with the centre's parts; the
//! result page says where to go next; the visit's fee list shows them paid. A tier-2
//! patient without a referral is offered self-pay only, with the notice.
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use testkit::{TestApp, on_both_backends};

async fn spawn(backend: testkit::TestBackend) -> TestApp {
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()).await.0
}

async fn account(t: &TestApp, openid: &str, name: &str) -> (String, i64) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let id = t.add_demo_patient(&cookie, name, "self").await;
    (cookie, id)
}

async fn first_recipe(t: &TestApp, cookie: &str) -> String {
    let page = TestApp::http().get(t.url("/bills")).header("cookie", cookie).send().await.unwrap().text().await.unwrap();
    let at = page.find("data-recipe=\"").expect("a bill") + "data-recipe=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

on_both_backends! {
    async fn a_referred_tier2_patient_pays_a_bill_with_insurance_and_is_told_where_to_go(backend) {
        let t = spawn(backend).await;
        let (lina, lid) = account(&t, "oDemo_lina_0002", "李娜").await;
        // She visits today: the scan announces her unpaid orders once ("bill due").
        let v = t.app.department_view("0101").await.unwrap();
        let today = t.app.today();
        let now = domain::clock::to_local(t.app.now()).naive_local();
        let slot = v.schedules.iter().filter(|s| s.date == today && !s.suspended).flat_map(|s| s.slots.iter().map(move |x| (s, x))).find(|(s, x)| x.available > 0 && s.date.and_time(x.end) > now).unwrap().1.slot_id.clone();
        let booked = t.app.book(1, lid, "0101", &slot, &app::Actor::system("test")).await.unwrap();
        let reg_order = booked.order_no.unwrap();
        let c = t.app.start_self_pay(&reg_order).await.unwrap();
        TestApp::http().post(format!("{c}/pay")).send().await.unwrap();
        t.app.resolve_payment(&reg_order).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(t.app.scan_bills_due().await.unwrap(), 1);
        assert_eq!(t.app.scan_bills_due().await.unwrap(), 0, "announced once");
        let recipe = first_recipe(&t, &lina).await;
        let r = TestApp::http().post(t.url("/api/v1/me/orders")).header("cookie", &lina).json(&json!({"patient_id": lid, "recipe_id": recipe})).send().await.unwrap();
        let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
        let o: Value = TestApp::http().get(t.url(&format!("/api/v1/me/orders/{no}"))).header("cookie", &lina).send().await.unwrap().json().await.unwrap();
        assert_eq!(o["methods"], json!(["insurance", "self_pay"]), "referred: insurance allowed");
        let actor = app::Actor::system("test");
        let url = t.app.insurance_authorize_url(&no, "", app::billing::PayMethod::Insurance, "http://localhost/x").await.unwrap();
        let (code, st) = t.authorise_insurance(&url, true).await;
        let split = t.app.insurance_presettle(&no, &code, &st, "oDemo_lina_0002", &actor).await.unwrap();
        assert!(split.fund.0 > 0);
        let cashier = t.app.insurance_cashier_url(&no, "").await.unwrap();
        let id = cashier.split("/cashier/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        TestApp::http().post(format!("{}/__sim/nhsa/cashier/{id}", t.nhsa_url)).form(&[("decision", "confirm"), ("redirect", "")]).send().await.unwrap();
        t.app.resolve_payment(&no).await.unwrap();
        if split.self_pay.0 > 0 {
            let c = t.app.start_self_pay(&no).await.unwrap();
            TestApp::http().post(format!("{c}/pay")).send().await.unwrap();
            t.app.resolve_payment(&no).await.unwrap();
        }
        t.drain_jobs().await;
        assert_eq!(t.store.order(&no).await.unwrap().0.state, domain::billing::OrderState::Fulfilled, "settled in the HIS with the centre's parts");
        let page = TestApp::http().get(t.url(&format!("/pay/{no}/result"))).header("cookie", &lina).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("支付成功") && page.contains("请按以下指引继续就诊") && page.contains("放射科") && page.contains("电子票据号"), "{page}");
        let events = t.store.events_of(lid).await.unwrap();
        let due = events.iter().find(|e| e.kind == "bill.due").unwrap();
        assert!(due.payload.contains(&recipe));
        let paid = events.iter().find(|e| e.kind == "bill.paid").expect("bill.paid written");
        assert!(paid.payload.contains(&no) && paid.payload.contains("放射科"), "{}", paid.payload);
        let fees = TestApp::http().get(t.url("/fees")).header("cookie", &lina).send().await.unwrap().text().await.unwrap();
        assert!(fees.contains("已缴") && !fees.contains("待缴"), "{fees}");
        assert!(fees.contains("合计 ¥") , "{fees}");
    }
}

on_both_backends! {
    async fn an_unreferred_tier2_patient_is_offered_self_pay_with_the_notice(backend) {
        let t = spawn(backend).await;
        let (wang, wid) = account(&t, "oDemo_wangfang_0003", "王芳").await;
        let recipe = first_recipe(&t, &wang).await;
        let r = TestApp::http().post(t.url("/api/v1/me/orders")).header("cookie", &wang).json(&json!({"patient_id": wid, "recipe_id": recipe})).send().await.unwrap();
        let no = r.json::<Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
        let o: Value = TestApp::http().get(t.url(&format!("/api/v1/me/orders/{no}"))).header("cookie", &wang).send().await.unwrap().json().await.unwrap();
        assert_eq!(o["methods"], json!(["self_pay"]));
        let page = TestApp::http().get(t.url(&format!("/pay/{no}"))).header("cookie", &wang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("医保挂号异常提醒") && page.contains("转诊"), "the same rule at the bill");
        let fees = TestApp::http().get(t.url("/fees")).header("cookie", &wang).send().await.unwrap().text().await.unwrap();
        assert!(fees.contains("待缴"), "{fees}");
    }
}
