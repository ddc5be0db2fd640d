//! Orders, channel events and the ledger on both backends: duplicated and concurrent
//! events change an order once (P1), every posting balances (P8), a refused event
//! writes nothing, and a duplicate raw event is recognised (P12).
use chrono::{Duration, TimeZone, Utc};
use domain::Fen;
use domain::billing::{Applied, Channel, Order, OrderEvent, OrderLine, OrderState, PerChannel, Purpose, Split};
use std::collections::HashMap;
use store::billing::NewOrder;
use testkit::{TestDb, on_both_backends};

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 25, 8, 0, 0).unwrap()
}

fn mixed() -> Order {
    let line = OrderLine { code: "RX1".into(), name: "门诊处方".into(), qty: 1, unit_price: Fen(10_000), amount: Fen(10_000), insurable: true };
    Order::new(Purpose::OutpatientBill, vec![line], Split { fund: Fen(6_000), personal_account: Fen(1_000), mutual_aid: Fen(0), self_pay: Fen(3_000) }).unwrap()
}

fn balanced(entries: &[store::entity::ledger_entry::Model]) -> bool {
    let mut by_posting: HashMap<&str, i64> = HashMap::new();
    for e in entries {
        *by_posting.entry(e.posting.as_str()).or_default() += e.amount;
    }
    by_posting.values().all(|v| *v == 0)
}

on_both_backends! {
    async fn concurrent_duplicate_events_apply_once_and_the_ledger_balances(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.create_order(store.db(), NewOrder { order_no: "CB1", patient_id: Some(1), order: &mixed(), subject: None, dept_id: None, expires_at: t0() + Duration::minutes(15) }, t0()).await.unwrap();
        let capture = OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) };
        let mut hs = Vec::new();
        for _ in 0..10 {
            let s = store.clone();
            hs.push(tokio::spawn(async move { s.apply_order_event("CB1", capture, t0()).await.unwrap() }));
        }
        let mut changed = 0;
        for h in hs {
            if matches!(h.await.unwrap(), Applied::Changed { .. }) { changed += 1; }
        }
        assert_eq!(changed, 1, "ten deliveries, one change");
        store.apply_order_event("CB1", OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }, t0()).await.unwrap();
        let (o, version) = store.order("CB1").await.unwrap();
        assert_eq!((o.state, version), (OrderState::Paid, 3));
        let ledger = store.ledger_of("CB1").await.unwrap();
        assert_eq!(ledger.len(), 4, "two captures, two legs each");
        assert!(balanced(&ledger));
        let bank: i64 = ledger.iter().filter(|e| e.account == "clearing:bank").map(|e| e.amount).sum();
        assert_eq!(bank, 3_000);
    }
}

on_both_backends! {
    async fn refused_events_write_nothing_and_refunds_post_back(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        store.create_order(store.db(), NewOrder { order_no: "CB2", patient_id: None, order: &mixed(), subject: None, dept_id: None, expires_at: t0() + Duration::minutes(15) }, t0()).await.unwrap();
        let err = store.apply_order_event("CB2", OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(2_999) }, t0()).await.unwrap_err();
        assert_eq!(err.code, domain::ErrorCode::AmountMismatch);
        assert_eq!(store.order("CB2").await.unwrap().1, 1, "version unchanged");
        assert!(store.ledger_of("CB2").await.unwrap().is_empty());
        store.apply_order_event("CB2", OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) }, t0()).await.unwrap();
        store.apply_order_event("CB2", OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }, t0()).await.unwrap();
        store.apply_order_event("CB2", OrderEvent::FulfilmentFailed, t0()).await.unwrap();
        let all = PerChannel { insurance: Fen(7_000), self_pay: Fen(3_000) };
        store.apply_order_event("CB2", OrderEvent::RefundSucceeded { amounts: all }, t0()).await.unwrap();
        assert_eq!(store.order("CB2").await.unwrap().0.state, OrderState::Refunded);
        let ledger = store.ledger_of("CB2").await.unwrap();
        assert!(balanced(&ledger));
        assert_eq!(ledger.iter().map(|e| e.amount).sum::<i64>(), 0);
        assert_eq!(ledger.iter().filter(|e| e.account.starts_with("clearing:")).map(|e| e.amount).sum::<i64>(), 0, "all money returned");
        assert_eq!(store.apply_order_event("NOPE", OrderEvent::Expired, t0()).await.unwrap_err().code, domain::ErrorCode::OrderNotFound);
    }
}

on_both_backends! {
    async fn raw_channel_events_are_unique_per_channel(backend) {
        let db = TestDb::new(backend).await;
        let store = db.store().await;
        assert!(store.record_channel_event("ccb", "EVT-1", "CB1", "{}", t0()).await.unwrap());
        assert!(!store.record_channel_event("ccb", "EVT-1", "CB1", "{}", t0()).await.unwrap());
        assert!(store.record_channel_event("nhsa", "EVT-1", "CB1", "{}", t0()).await.unwrap(), "another channel's id space");
    }
}
