//! A self-pay order through the bank, end to end on both backends: the cashier, the
//! notification callback (replayed concurrently: P1), forged notifications (P2), and
//! the persisted query job healing a lost notification or closing an abandoned order
//! (P4, P5). The ledger balances throughout (P8).
use chrono::{Duration, TimeZone, Utc};
use domain::billing::{OrderLine, OrderState, PerChannel, Purpose};
use domain::{FakeClock, Fen};
use std::sync::Arc;
use testkit::{TestApp, on_both_backends};

fn lines() -> Vec<OrderLine> {
    vec![OrderLine { code: "REG".into(), name: "挂号费".into(), qty: 1, unit_price: Fen(2_500), amount: Fen(2_500), insurable: true }]
}

async fn pay_at_cashier(url: &str) {
    let r = TestApp::http().post(format!("{url}/pay")).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

fn self_pay(n: i64) -> PerChannel {
    PerChannel { insurance: Fen::ZERO, self_pay: Fen(n) }
}

async fn state(t: &TestApp, order_no: &str) -> OrderState {
    t.store.order(order_no).await.unwrap().0.state
}

fn balanced(t: &[store::entity::ledger_entry::Model]) -> bool {
    let mut m = std::collections::HashMap::<&str, i64>::new();
    for e in t {
        *m.entry(&e.posting).or_default() += e.amount;
    }
    m.values().all(|v| *v == 0)
}

on_both_backends! {
    async fn notification_replayed_concurrently_changes_the_order_once(backend) {
        let t = TestApp::spawn(backend).await;
        let created = t.app.create_self_pay_order(Some(1), Purpose::Registration, lines(), &app::Actor::system("test")).await.unwrap();
        assert_eq!(state(&t, &created.order_no).await, OrderState::Paying);
        pay_at_cashier(&created.cashier_url).await;
        for _ in 0..100 {
            if state(&t, &created.order_no).await == OrderState::Fulfilled { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(state(&t, &created.order_no).await, OrderState::Fulfilled, "the bank's notification reached our callback; the fulfilment job ran");
        // The bank (or an attacker with a copy) sends it ten more times, concurrently.
        let form = t.ccb.lock().unwrap().notification_for(&created.order_no).unwrap();
        let mut hs = Vec::new();
        for _ in 0..10 {
            let (url, form) = (t.url("/callbacks/ccb"), form.clone());
            hs.push(tokio::spawn(async move { TestApp::http().post(url).form(&form).send().await.unwrap().status().as_u16() }));
        }
        for h in hs { assert_eq!(h.await.unwrap(), 200); }
        let ledger = t.store.ledger_of(&created.order_no).await.unwrap();
        assert_eq!(ledger.len(), 2, "one posting");
        assert!(balanced(&ledger));
        use sea_orm::ConnectionTrait;
        let rows = t.store.db().query_all_raw(sea_orm::Statement::from_string(t.store.db_backend(), "SELECT id FROM channel_event")).await.unwrap();
        assert_eq!(rows.len(), 1, "one raw event per notification");
        // Forged: a changed amount breaks the signature; nothing changes.
        let mut forged = form.clone();
        for (k, v) in forged.iter_mut() { if k == "PAYMENT" { *v = "0.01".into(); } }
        let r = TestApp::http().post(t.url("/callbacks/ccb")).form(&forged).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "BAD_REQUEST");
        let r = TestApp::http().post(t.url("/callbacks/ccb")).body("garbage=%").header("content-type", "application/x-www-form-urlencoded").send().await.unwrap();
        assert!(r.status().is_client_error());
        assert_eq!(t.store.order(&created.order_no).await.unwrap().1, 4, "version: created, paying, paid, fulfilled");
    }
}

on_both_backends! {
    async fn lost_notification_is_healed_by_the_query_job_and_abandoned_orders_close(backend) {
        let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 0, 30, 0).unwrap());
        // No callback address: the bank's notifications go nowhere.
        let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |s| s.server.callback_base_url = String::new()).await;
        let actor = app::Actor::system("test");
        let paid = t.app.create_self_pay_order(None, Purpose::Registration, lines(), &actor).await.unwrap();
        let abandoned = t.app.create_self_pay_order(None, Purpose::Registration, lines(), &actor).await.unwrap();
        pay_at_cashier(&paid.cashier_url).await;
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        assert_eq!(state(&t, &paid.order_no).await, OrderState::Paying, "no notification arrived");
        let reg = app::jobs::Registry::standard();
        let cfg = app::jobs::PoolConfig::default();
        clock.advance(Duration::seconds(61));
        app::jobs::run_once(&t.app, &reg, &cfg, "w").await.unwrap();
        assert_eq!(state(&t, &paid.order_no).await, OrderState::Paid, "healed by asking the bank (P5)");
        assert_eq!(state(&t, &abandoned.order_no).await, OrderState::Paying, "still within T_close");
        // Time passes; the job keeps asking with backoff until T_close, then closes it.
        for _ in 0..20 {
            clock.advance(Duration::minutes(2));
            app::jobs::run_once(&t.app, &reg, &cfg, "w").await.unwrap();
        }
        assert_eq!(state(&t, &abandoned.order_no).await, OrderState::Closed, "terminal within T_close (P4)");
        assert!(t.store.ledger_of(&abandoned.order_no).await.unwrap().is_empty());
        assert_eq!(t.store.outbox_stats().await.unwrap().dead, 0);
    }
}

on_both_backends! {
    async fn refunds_are_bounded_serialised_and_retry_safe(backend) {
        let clock = FakeClock::new(Utc.with_ymd_and_hms(2026, 11, 25, 0, 30, 0).unwrap());
        let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await;
        let actor = app::Actor::system("test");
        let reg = app::jobs::Registry::standard();
        let cfg = app::jobs::PoolConfig::default();
        let o = t.app.create_self_pay_order(None, Purpose::Registration, lines(), &actor).await.unwrap();
        pay_at_cashier(&o.cashier_url).await;
        for _ in 0..100 {
            if state(&t, &o.order_no).await == OrderState::Paid { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        // Two refunds racing: one is accepted, the other refused (P7, S16).
        let (a, b) = tokio::join!(
            t.app.request_refund(&o.order_no, self_pay(1_000), "患者申请", &actor),
            t.app.request_refund(&o.order_no, self_pay(1_000), "患者申请", &actor)
        );
        assert_eq!([a.is_ok(), b.is_ok()].iter().filter(|x| **x).count(), 1, "{a:?} {b:?}");
        let refund_no = a.or(b).unwrap();
        // More than is left is refused outright.
        assert_eq!(t.app.request_refund(&o.order_no, self_pay(2_000), "x", &actor).await.unwrap_err().code, domain::ErrorCode::OrderStateConflict, "one in flight");
        // The bank carries the refund out but its answer is lost: still refunding; the
        // job retries later under the same refund number, and the bank refunds once.
        TestApp::http().post(format!("{}/__sim/faults", t.ccb_url)).json(&serde_json::json!({"lose_response_next": ["5W1004"]})).send().await.unwrap();
        app::jobs::run_once(&t.app, &reg, &cfg, "w").await.unwrap();
        assert_eq!(state(&t, &o.order_no).await, OrderState::Refunding, "outcome unknown: not guessed");
        clock.advance(Duration::seconds(10));
        app::jobs::run_once(&t.app, &reg, &cfg, "w").await.unwrap();
        assert_eq!(state(&t, &o.order_no).await, OrderState::PartiallyRefunded);
        assert_eq!(t.bank().query(&o.order_no).await.unwrap().unwrap().refunded, Fen(1_000), "refunded once at the bank");
        assert!(refund_no.ends_with("-R4"), "{refund_no}");
        assert_eq!(t.app.request_refund(&o.order_no, self_pay(1_501), "x", &actor).await.unwrap_err().code, domain::ErrorCode::RefundExceedsCaptured);
        t.app.request_refund(&o.order_no, self_pay(1_500), "退号", &actor).await.unwrap();
        app::jobs::run_once(&t.app, &reg, &cfg, "w").await.unwrap();
        assert_eq!(state(&t, &o.order_no).await, OrderState::Refunded);
        let bank = t.bank().query(&o.order_no).await.unwrap().unwrap();
        assert_eq!(bank.refunded, Fen(2_500), "the bank refunded exactly what we recorded");
        let ledger = t.store.ledger_of(&o.order_no).await.unwrap();
        assert!(balanced(&ledger));
        assert_eq!(ledger.iter().filter(|e| e.account == "clearing:bank").map(|e| e.amount).sum::<i64>(), 0);
    }
}

on_both_backends! {
    async fn a_lost_answer_when_opening_the_bank_payment_is_asked_again(backend) {
        let t = TestApp::spawn(backend).await;
        let actor = app::Actor::system("test");
        let no = t.app.create_order(None, Purpose::Registration, lines(), None, &actor).await.unwrap();
        t.ccb.lock().unwrap().faults.lose_create_next = 1;
        let e = t.app.start_self_pay(&no).await.unwrap_err();
        assert_eq!(e.code, domain::ErrorCode::UpstreamUnavailable, "the bank created it, but we never heard");
        assert_eq!(state(&t, &no).await, OrderState::Created, "nothing assumed");
        // The patient taps again: the same order and amount, the same bank payment.
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        pay_at_cashier(&cashier).await;
        for _ in 0..100 {
            if state(&t, &no).await == OrderState::Fulfilled { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(state(&t, &no).await, OrderState::Fulfilled);
        // Insurance can no longer be chosen: the bank payment exists.
        let e = t.app.insurance_authorize_url(&no, "tier1", app::billing::PayMethod::Insurance, "http://localhost/x").await.unwrap_err();
        assert_eq!(e.code, domain::ErrorCode::PaymentMethodLocked);
    }
}

on_both_backends! {
    async fn a_notification_stored_but_never_applied_is_applied_when_it_comes_again(backend) {
        let t = TestApp::spawn(backend).await;
        let created = t.app.create_self_pay_order(None, Purpose::Registration, lines(), &app::Actor::system("test")).await.unwrap();
        t.ccb.lock().unwrap().faults.drop_for.insert(created.order_no.clone());
        pay_at_cashier(&created.cashier_url).await;
        let form = t.ccb.lock().unwrap().notification_for(&created.order_no).unwrap();
        // A previous delivery was verified and stored, then the process died before applying it.
        let n = gateways::ccb::signing::Notification::from_pairs(&form).unwrap();
        let event_id = crypto::sm3::hex_digest(n.verify_string().as_bytes());
        assert!(t.store.record_channel_event("ccb", &event_id, &created.order_no, "raw", t.app.now()).await.unwrap());
        assert_eq!(state(&t, &created.order_no).await, OrderState::Paying);
        // The bank tries again: the event is not lost (P12).
        let r = TestApp::http().post(t.url("/callbacks/ccb")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(state(&t, &created.order_no).await.money_confirmed(), "applied on the repeat");
        let r = TestApp::http().post(t.url("/callbacks/ccb")).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 200, "and further repeats are acknowledged");
        assert_eq!(t.store.ledger_of(&created.order_no).await.unwrap().len(), 2, "captured once");
    }
}
