//! Insurance and mixed payment end to end through the simulators, on both backends:
//! authorisation → 6201/6202 split → 医保 cashier → 6301 capture → the rest through the
//! bank; the reversal when the self-pay part fails (P9); refunds back to the insurance
//! parts (6203) and the bank; an unconfirmed pre-settlement revoked at T_close (P4).
use app::billing::PayMethod;
use chrono::{Duration, TimeZone, Utc};
use domain::billing::{Channel, OrderLine, OrderState, PerChannel, Purpose, Split};
use domain::{ErrorCode, FakeClock, Fen};
use std::sync::Arc;
use testkit::{TestApp, on_both_backends};

fn line(code: &str, amount: i64, insurable: bool) -> OrderLine {
    OrderLine { code: code.into(), name: format!("项目{code}"), qty: 1, unit_price: Fen(amount), amount: Fen(amount), insurable }
}

/// 血常规 25.00 + 阿莫西林 18.60 (in the catalogue) + 护具 45.00 (self-pay only).
fn bill() -> Vec<OrderLine> {
    vec![line("250101001", 2_500, true), line("XY0001", 1_860, true), line("ZF0001", 4_500, false)]
}

async fn spawn(backend: testkit::TestBackend) -> (TestApp, FakeClock) {
    let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 1, 0, 0).unwrap());
    let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await;
    (t, clock)
}

async fn state(t: &TestApp, no: &str) -> OrderState {
    t.store.order(no).await.unwrap().0.state
}

/// Authorise, pre-settle and confirm on the 医保 cashier; returns the split.
async fn pay_insurance_part(t: &TestApp, no: &str, kind: &str, method: PayMethod) -> Split {
    let actor = app::Actor::system("test");
    let url = t.app.insurance_authorize_url(no, kind, method, "http://localhost/pay/x/insurance-auth").await.unwrap();
    let (code, st) = t.authorise_insurance(&url, true).await;
    let split = t.app.insurance_presettle(no, &code, &st, "oDemo_zhangwei_0001", &actor).await.unwrap();
    assert_eq!(state(t, no).await, OrderState::Created, "a pre-settlement is not a payment");
    let cashier = t.app.insurance_cashier_url(no, "http://localhost/pay/x/result").await.unwrap();
    let id = cashier.split("/cashier/").nth(1).unwrap().split('?').next().unwrap().to_owned();
    let r = TestApp::http().post(format!("{}/__sim/nhsa/cashier/{id}", t.nhsa_url)).form(&[("decision", "confirm"), ("redirect", "")]).send().await.unwrap();
    assert!(r.status().is_success());
    assert_eq!(t.app.resolve_payment(no).await.unwrap(), if split.self_pay.0 > 0 { OrderState::Paying } else { OrderState::Paid });
    split
}

async fn bank(cashier_url: &str, action: &str) {
    let r = TestApp::http().post(format!("{cashier_url}/{action}")).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

fn ledger_sums_to_zero(l: &[store::entity::ledger_entry::Model]) -> bool {
    l.iter().map(|e| e.amount).sum::<i64>() == 0
}

on_both_backends! {
    async fn mixed_payment_then_refund_to_both_channels(backend) {
        let (t, _) = spawn(backend).await;
        let actor = app::Actor::system("test");
        let no = t.app.create_order(None, Purpose::OutpatientBill, bill(), None, &actor).await.unwrap();
        let split = pay_insurance_part(&t, &no, "tier1", PayMethod::Insurance).await;
        assert_eq!(split.total(), Fen(8_860), "parts sum to the bill (P9)");
        assert_eq!((split.fund, split.personal_account, split.self_pay), (Fen(3_052), Fen(1_308), Fen(4_500)));
        // The insurance part is in; the bank payment is for the rest only.
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        assert_eq!(t.app.start_self_pay(&no).await.unwrap(), cashier, "re-opening gives the same cashier");
        bank(&cashier, "pay").await;
        for _ in 0..100 {
            if state(&t, &no).await == OrderState::Paid { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(state(&t, &no).await, OrderState::Paid);
        t.drain_jobs().await;
        assert_eq!(state(&t, &no).await, OrderState::Fulfilled);
        // Part of the insurance is not refundable on its own; the whole insurance part and
        // some self-pay are.
        let partial = PerChannel { insurance: Fen(1_000), self_pay: Fen(0) };
        assert_eq!(t.app.request_refund(&no, partial, "退费", &actor).await.unwrap_err().code, ErrorCode::InsuranceRefundWhole);
        let first = PerChannel { insurance: Fen(4_360), self_pay: Fen(500) };
        let rno = t.app.request_refund(&no, first, "检查取消", &actor).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(state(&t, &no).await, OrderState::PartiallyRefunded);
        assert_eq!(t.bank().query(&no).await.unwrap().unwrap().refunded, Fen(500));
        let (_, attempt) = t.store.attempt(&no, "nhsa").await.unwrap().unwrap();
        let pay_ord_id = attempt["pay_ord_id"].as_str().unwrap().to_owned();
        let up = gateways::nhsa::client::FeeUpload { pay_ord_id, pay_token: attempt["pay_token"].as_str().unwrap().into() };
        let centre = t.insurance_centre();
        assert_eq!(centre.query(&up).await.unwrap().ord_stas, "7", "the centre refunded the insurance parts");
        // Retrying the same refund number at the centre is the same refund, not a second.
        assert_eq!(centre.refund(&up, &rno, "HI", Fen(3_052), Fen(1_308), Fen(0)).await.unwrap(), "SUCC");
        let rest = PerChannel { insurance: Fen(0), self_pay: Fen(4_000) };
        t.app.request_refund(&no, rest, "全部退费", &actor).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(state(&t, &no).await, OrderState::Refunded);
        let ledger = t.store.ledger_of(&no).await.unwrap();
        assert!(ledger_sums_to_zero(&ledger));
        for clearing in ["clearing:insurance", "clearing:bank"] {
            assert_eq!(ledger.iter().filter(|e| e.account == clearing).map(|e| e.amount).sum::<i64>(), 0, "{clearing} back to zero");
        }
    }
}

on_both_backends! {
    /// Issue 17 item 4: each refund that completes tells the patient, once, how much went
    /// back to which channel.
    async fn each_completed_refund_tells_the_patient_where_the_money_went(backend) {
        let (t, _) = spawn(backend).await;
        let actor = app::Actor::system("test");
        let (_, pid) = crate::api_messages::patient(&t, "oDemo_zhangwei_0001", "张伟", Some("13800138000")).await;
        let no = t.app.create_order(Some(pid), Purpose::OutpatientBill, bill(), None, &actor).await.unwrap();
        pay_insurance_part(&t, &no, "tier1", PayMethod::Insurance).await;
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        bank(&cashier, "pay").await;
        for _ in 0..100 {
            if state(&t, &no).await == OrderState::Paid { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        t.drain_jobs().await;
        let refunds = |t: &TestApp| {
            let q = store::messages::MessageQuery { scene: Some("refund.completed".into()), patient_id: Some(pid), limit: 10, ..Default::default() };
            let store = t.store.clone();
            async move { store.search_messages(&q).await.unwrap() }
        };
        assert!(refunds(&t).await.is_empty(), "nothing refunded, nothing said");
        t.app.request_refund(&no, PerChannel { insurance: Fen(4_360), self_pay: Fen(500) }, "检查取消", &actor).await.unwrap();
        t.drain_jobs().await;
        let told = refunds(&t).await;
        assert_eq!(told.len(), 1);
        assert!(told[0].body.contains("您的门诊缴费退款48.60元已办理完成"), "{}", told[0].body);
        assert!(told[0].body.contains("医保统筹30.52元，医保个人账户13.08元，原银行卡/微信5.00元"), "{}", told[0].body);
        assert_eq!(told[0].status, "sent");
        let card = t.wechat_sent().into_iter().find(|m| m.template_id == "TM_REFUND_COMPLETED").expect("a WeChat card");
        assert!(card.data.contains(&("amount1".to_string(), "¥48.60".to_string())), "{:?}", card.data);
        // The rest, later: a second notice with only the bank part.
        t.app.request_refund(&no, PerChannel { insurance: Fen(0), self_pay: Fen(4_000) }, "全部退费", &actor).await.unwrap();
        t.drain_jobs().await;
        let told = refunds(&t).await;
        assert_eq!(told.len(), 2);
        assert!(told.iter().any(|m| m.body.contains("退款40.00元已办理完成：原银行卡/微信40.00元")), "{:?}", told.iter().map(|m| &m.body).collect::<Vec<_>>());
        // Nothing is said twice when the jobs run again.
        t.drain_jobs().await;
        assert_eq!(refunds(&t).await.len(), 2);
    }
}

on_both_backends! {
    async fn self_pay_cancelled_after_insurance_reverses_insurance(backend) {
        let (t, _) = spawn(backend).await;
        let actor = app::Actor::system("test");
        let no = t.app.create_order(None, Purpose::OutpatientBill, bill(), None, &actor).await.unwrap();
        // A child's insurance, authorised by the guardian (亲情付): no personal account.
        let split = pay_insurance_part(&t, &no, "children", PayMethod::ChildInsurance).await;
        assert_eq!((split.fund, split.personal_account, split.self_pay), (Fen(3_052), Fen(0), Fen(5_808)));
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        bank(&cashier, "cancel").await;
        for _ in 0..100 {
            if state(&t, &no).await == OrderState::Reversing { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(state(&t, &no).await, OrderState::Reversing, "the bank's failure notification started the reversal");
        t.drain_jobs().await;
        assert_eq!(state(&t, &no).await, OrderState::Closed, "insurance reversed, nothing kept");
        let (_, attempt) = t.store.attempt(&no, "nhsa").await.unwrap().unwrap();
        assert_eq!(t.nhsa.lock().unwrap().ord_stas_of(attempt["pay_ord_id"].as_str().unwrap()), Some(7), "the centre reversed it");
        let (order, _) = t.store.order(&no).await.unwrap();
        assert_eq!((order.captured.insurance, order.refunded.insurance), (Fen(3_052), Fen(3_052)));
        let ledger = t.store.ledger_of(&no).await.unwrap();
        assert!(ledger_sums_to_zero(&ledger));
    }
}

on_both_backends! {
    async fn reversal_retries_heal_and_close_the_order(backend) {
        let (t, clock) = spawn(backend).await;
        let actor = app::Actor::system("test");
        let no = t.app.create_order(None, Purpose::OutpatientBill, bill(), None, &actor).await.unwrap();
        let split = pay_insurance_part(&t, &no, "tier2", PayMethod::Insurance).await;
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        bank(&cashier, "cancel").await;
        for _ in 0..100 {
            if state(&t, &no).await == OrderState::Reversing { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        TestApp::http().post(format!("{}/__sim/faults", t.nhsa_url)).json(&serde_json::json!({"lose_response_next": ["6203"]})).send().await.unwrap();
        t.drain_jobs().await;
        assert_eq!(state(&t, &no).await, OrderState::Reversing);
        clock.advance(Duration::minutes(1));
        t.drain_jobs().await;
        assert_eq!(state(&t, &no).await, OrderState::Closed, "no half-settled bill remains (P9)");
        let (order, _) = t.store.order(&no).await.unwrap();
        assert_eq!(order.refunded.get(Channel::Insurance), split.insurance());
        let ledger = t.store.ledger_of(&no).await.unwrap();
        assert_eq!(ledger.iter().filter(|e| e.account == "clearing:insurance").map(|e| e.amount).sum::<i64>(), 0);
        assert_eq!(t.store.outbox_stats().await.unwrap().dead, 0);
    }
}

on_both_backends! {
    async fn unconfirmed_presettlement_is_revoked_at_close_and_method_rules_hold(backend) {
        let (t, clock) = spawn(backend).await;
        let actor = app::Actor::system("test");
        let no = t.app.create_order(None, Purpose::OutpatientBill, bill(), None, &actor).await.unwrap();
        // A self-pay patient cannot use insurance; a child cannot use adult insurance.
        for (kind, method) in [("self_pay", PayMethod::Insurance), ("children", PayMethod::Insurance), ("tier1", PayMethod::ChildInsurance)] {
            let e = t.app.insurance_authorize_url(&no, kind, method, "http://localhost/x").await.unwrap_err();
            assert_eq!(e.code, ErrorCode::InsuranceNotAllowed, "{kind} {method:?}");
        }
        // A deposit is never paid by insurance.
        let deposit = t.app.create_order(None, Purpose::DepositTopUp, vec![line("YJ", 100_000, true)], None, &actor).await.unwrap();
        assert_eq!(t.app.insurance_authorize_url(&deposit, "tier1", PayMethod::Insurance, "http://localhost/x").await.unwrap_err().code, ErrorCode::InsuranceNotAllowed);
        // A forged state on the way back is refused.
        let url = t.app.insurance_authorize_url(&no, "tier1", PayMethod::Insurance, "http://localhost/x").await.unwrap();
        let (code, _) = t.authorise_insurance(&url, true).await;
        assert_eq!(t.app.insurance_presettle(&no, &code, "forged", "o", &actor).await.unwrap_err().code, ErrorCode::InsuranceAuthFailed);
        let url = t.app.insurance_authorize_url(&no, "tier1", PayMethod::Insurance, "http://localhost/x").await.unwrap();
        let (code, st) = t.authorise_insurance(&url, true).await;
        t.app.insurance_presettle(&no, &code, &st, "o", &actor).await.unwrap();
        t.app.insurance_cashier_url(&no, "").await.unwrap();
        assert_eq!(state(&t, &no).await, OrderState::Paying);
        // The patient walks away. At T_close the pre-settlement is revoked, then the order closes.
        clock.advance(Duration::minutes(16));
        assert_eq!(t.app.resolve_payment(&no).await.unwrap(), OrderState::Closed);
        let (_, attempt) = t.store.attempt(&no, "nhsa").await.unwrap().unwrap();
        let revoked = attempt["revoked"].as_str().unwrap().to_owned();
        let g = t.nhsa.lock().unwrap().ord_stas_of(&revoked);
        assert_eq!(g, Some(12), "revoked at the centre");
        assert!(t.store.ledger_of(&no).await.unwrap().is_empty());
    }
}
