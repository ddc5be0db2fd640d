//! A refund the bank keeps refusing (the payer's account closed): retried with backoff,
//! then handed to 财务处 as a task and the patient told who will finish it — never left
//! silently in a dead letter, never marked refunded.
use crate::invoices::{paid_recharge, spawn};
use chrono::Duration;
use domain::Fen;
use domain::billing::{OrderState, PerChannel};
use domain::invoices::InvoiceState;
use testkit::on_both_backends;

on_both_backends! {
    async fn a_refund_the_bank_keeps_refusing_goes_to_finance_and_the_patient_is_told(backend) {
        let (t, clock) = spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&cookie, "张伟", "self").await;
        let order_no = paid_recharge(&t, &cookie, pid, "300").await;
        t.ccb.lock().unwrap().faults.refuse_refunds_for.insert(order_no.clone());
        t.app.request_refund(&order_no, PerChannel { insurance: Fen(0), self_pay: Fen(30_000) }, "患者申请退款", &app::Actor::system("test")).await.unwrap();
        t.drain_jobs().await;
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, OrderState::Refunding, "refused once: retried, not given up");
        assert!(!t.store.tasks(true, 50).await.unwrap().iter().any(|x| x.kind == "refund_stuck"), "no task while retries remain");
        for _ in 0..60 {
            clock.advance(Duration::hours(2));
            t.drain_jobs().await;
        }
        let dead = t.store.dead_jobs(50).await.unwrap();
        assert!(dead.iter().any(|j| j.kind == app::billing::REFUND_EXECUTE), "the refund job gave up: {dead:?}");
        let tasks = t.store.tasks(true, 50).await.unwrap();
        let stuck: Vec<_> = tasks.iter().filter(|x| x.kind == "refund_stuck").collect();
        assert_eq!(stuck.len(), 1, "one task for finance");
        assert!(stuck[0].detail.contains(&order_no) && stuck[0].detail.contains("¥300.00") && stuck[0].detail.contains("0130Z0100008"), "{}", stuck[0].detail);
        let q = store::messages::MessageQuery { scene: Some("refund.failed".into()), patient_id: Some(pid), limit: 10, ..Default::default() };
        let told = t.store.search_messages(&q).await.unwrap();
        assert_eq!(told.len(), 1);
        assert_eq!(told[0].status, "sent");
        assert!(told[0].body.contains("300.00") && told[0].body.contains("财务处"), "{}", told[0].body);
        // The money's fate is for finance to establish: the order is not called refunded,
        // and its invoice stays as it was.
        assert_eq!(t.store.order(&order_no).await.unwrap().0.state, OrderState::Refunding);
        let inv = t.store.invoices_of(&format!("order:{order_no}")).await.unwrap();
        assert_eq!(inv.iter().map(|i| i.state).collect::<Vec<_>>(), vec![InvoiceState::Issued]);
    }
}
