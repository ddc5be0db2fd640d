//! The bank connector against its simulator over real HTTP: MAC-checked order creation,
//! the cashier, signed (and duplicated) notifications, query and retry-safe refunds.
use domain::ports::{BankPort, BankStatus};
use domain::{ErrorCode, Fen, SystemClock};
use gateways::ccb::client::{CcbClient, CcbClientConfig};
use gateways::ccb::signing::SignDigest;
use std::sync::{Arc, Mutex};

type Inbox = Arc<Mutex<Vec<Vec<(String, String)>>>>;

async fn receiver() -> (String, Inbox) {
    let inbox: Inbox = Arc::default();
    let i2 = inbox.clone();
    let app = axum::Router::new().route(
        "/notify",
        axum::routing::post(move |body: axum::body::Bytes| {
            let i = i2.clone();
            async move {
                i.lock().unwrap().push(serde_urlencoded::from_bytes(&body).unwrap());
                "SUCCESS"
            }
        }),
    );
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/notify", l.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (url, inbox)
}

async fn setup(copies: usize) -> (sim::RunningSims, CcbClient, Inbox) {
    let (notify_url, inbox) = receiver().await;
    let mut cfg = sim::SimConfig::default();
    cfg.ccb.notify_url = notify_url;
    cfg.ccb.notify_copies = copies;
    let sims = sim::start(cfg.clone(), Arc::new(SystemClock)).await.unwrap();
    let key = sims.ccb.lock().unwrap().public_key_pem();
    let client = CcbClient::new(CcbClientConfig {
        base_url: sims.ccb_url.clone(),
        merchant_client_url: format!("{}/merchant-client", sims.ccb_url),
        merchant_id: cfg.ccb.merchant_id.clone(),
        pos_id: cfg.ccb.pos_id.clone(),
        branch_id: cfg.ccb.branch_id.clone(),
        user_id: "op1".into(),
        password: "pw".into(),
        bank_public_key: key,
        digest: SignDigest::Md5,
        timeout: std::time::Duration::from_secs(3),
    })
    .unwrap();
    (sims, client, inbox)
}

async fn wait_for(inbox: &Inbox, n: usize) -> Vec<Vec<(String, String)>> {
    for _ in 0..100 {
        if inbox.lock().unwrap().len() >= n {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    inbox.lock().unwrap().clone()
}

#[tokio::test]
async fn pay_notify_query_refund() {
    let (_sims, ccb, inbox) = setup(3).await;
    let cashier = ccb.create_payment_with_remark("CB20261125000001", Fen(3_000), "outpatient").await.unwrap();
    assert!(cashier.contains("/cashier/"), "{cashier}");
    assert_eq!(ccb.query("CB20261125000001").await.unwrap().unwrap().status, BankStatus::Pending);
    // The patient pays on the cashier page.
    let r = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().post(format!("{cashier}/pay")).send().await.unwrap();
    assert_eq!(r.status(), 303);
    let got = wait_for(&inbox, 3).await;
    assert_eq!(got.len(), 3, "duplicated on purpose");
    for pairs in &got {
        let n = ccb.verify_notification(pairs).unwrap();
        assert!(n.paid);
        assert_eq!((n.order_id.as_str(), n.amount), ("CB20261125000001", Fen(3_000)));
        assert_eq!(n.event_id, ccb.verify_notification(&got[0]).unwrap().event_id, "a duplicate is the same notification");
    }
    // A tampered amount fails verification.
    let mut forged = got[0].clone();
    for (k, v) in forged.iter_mut() {
        if k == "PAYMENT" {
            *v = "0.01".into();
        }
    }
    assert_eq!(ccb.verify_notification(&forged).unwrap_err().code, ErrorCode::BadRequest, "a forged amount is a bad signature");
    let q = ccb.query("CB20261125000001").await.unwrap().unwrap();
    assert_eq!((q.status, q.amount), (BankStatus::Paid, Fen(3_000)));
    ccb.refund("CB20261125000001", "RF1", Fen(1_000)).await.unwrap();
    ccb.refund("CB20261125000001", "RF1", Fen(1_000)).await.unwrap();
    assert_eq!(ccb.refund("CB20261125000001", "RF2", Fen(2_001)).await.unwrap_err().code, ErrorCode::RefundExceedsCaptured);
    let q = ccb.query("CB20261125000001").await.unwrap().unwrap();
    assert_eq!((q.status, q.refunded), (BankStatus::Refunded, Fen(1_000)), "the retried refund counted once");
    assert!(ccb.query("NO-SUCH-ORDER").await.unwrap().is_none());
    // 5W1003: the bank's word on one refund.
    assert_eq!(ccb.refund_query("CB20261125000001", "RF1").await.unwrap(), Some(Fen(1_000)));
    assert_eq!(ccb.refund_query("CB20261125000001", "RF2").await.unwrap(), None, "a refused refund does not exist");
    // 5W1005: the day's statement lists the payment and the refund once each.
    let today = domain::clock::to_local(chrono::Utc::now()).date_naive();
    let lines = ccb.statement(today).await.unwrap();
    let mine: Vec<_> = lines.iter().filter(|l| l.order_id == "CB20261125000001").collect();
    assert_eq!(mine.len(), 2, "{lines:?}");
    assert!(mine.iter().any(|l| !l.refund && l.amount == Fen(3_000)) && mine.iter().any(|l| l.refund && l.amount == Fen(1_000) && l.serial == "RF1"));
    assert!(
        gateways::ccb::client::parse_statement("交易日期|交易时间|订单号|交易类型|交易金额|退款流水号\n20261125|1|CB1|PAY|abc|\n").is_err(),
        "a malformed line fails the file"
    );
}

#[tokio::test]
async fn cancel_and_bad_mac() {
    let (sims, ccb, inbox) = setup(1).await;
    let cashier = ccb.create_payment("CB2", Fen(500)).await.unwrap();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap().post(format!("{cashier}/cancel")).send().await.unwrap();
    let got = wait_for(&inbox, 1).await;
    let n = ccb.verify_notification(&got[0]).unwrap();
    assert!(!n.paid);
    assert_eq!(ccb.query("CB2").await.unwrap().unwrap().status, BankStatus::Failed);
    assert!(ccb.refund("CB2", "RF", Fen(100)).await.is_err(), "nothing to refund");
    let wrong = CcbClient::new(CcbClientConfig {
        base_url: sims.ccb_url.clone(),
        merchant_client_url: format!("{}/merchant-client", sims.ccb_url),
        merchant_id: "105000000000001".into(),
        pos_id: "100001".into(),
        branch_id: "442000000".into(),
        user_id: "op1".into(),
        password: "pw".into(),
        bank_public_key: sims.ccb.lock().unwrap().public_key_pem(),
        digest: SignDigest::Sha256,
        timeout: std::time::Duration::from_secs(3),
    })
    .unwrap();
    // Same key, wrong digest setting: notifications no longer verify.
    assert!(wrong.verify_notification(&got[0]).is_err());
    // A wrong MAC (a merchant without the bank key's tail): the bank refuses the order.
    let r = reqwest::Client::new()
        .post(format!("{}/CCBIS/ccbMain", sims.ccb_url))
        .form(&[
            ("MERCHANTID", "105000000000001"),
            ("POSID", "100001"),
            ("BRANCHID", "442000000"),
            ("ORDERID", "CB3"),
            ("PAYMENT", "1.00"),
            ("CURCODE", "01"),
            ("TXCODE", "530550"),
            ("MAC", "0000"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("MAC"));
}
