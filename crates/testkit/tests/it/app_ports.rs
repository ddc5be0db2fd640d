//! The money use cases against in-memory payment ports (`testkit::fakes`), on both
//! backends: the app is built from `App::new` with a fake bank and a fake insurance centre
//! (the HIS, WeChat and real-name connectors point at a closed port, so any call to them
//! fails loudly). This is what a second bank or centre adapter would have to satisfy; the
//! real adapters are held to their protocols by the contract tests against `sim`.
use app::billing::{INSURANCE_REVERSE, InsuranceChannel, InsuranceReverse, NotificationOutcome, ORDER_FULFIL, PayMethod, REFUND_EXECUTE, RefundExecute};
use app::jobs::{JobError, JobHandler, PoolConfig, Registry};
use app::{Actor, App, Policies};
use async_trait::async_trait;
use domain::billing::{OrderEvent, OrderLine, OrderState, PerChannel, Purpose};
use domain::{ErrorCode, Fen, SystemClock};
use std::sync::Arc;
use testkit::fakes::{FakeBank, FakeCentre, FakeInsuranceAuth};
use testkit::{TestDb, on_both_backends};

/// Nothing listens on port 9 of loopback: a use case that reached the HIS, WeChat or the
/// real-name service here would fail with "unavailable".
const CLOSED: &str = "http://127.0.0.1:9";

struct Fixture {
    app: App,
    store: store::Store,
    bank: Arc<FakeBank>,
    centre: Arc<FakeCentre>,
    _db: TestDb,
}

async fn fixture(backend: testkit::TestBackend) -> Fixture {
    let db = TestDb::new(backend).await;
    let store = db.store().await;
    let clock: Arc<dyn domain::Clock> = Arc::new(SystemClock);
    let t = std::time::Duration::from_secs(1);
    let his = Arc::new(gateways::HisClient::new(
        gateways::HisClientConfig { base_url: CLOSED.into(), channel_id: "T".into(), channel_key: "k".into(), timeout: t },
        clock.clone(),
    ));
    let wechat = Arc::new(gateways::WechatOAuthClient::new(gateways::WechatOAuthConfig {
        authorize_base: CLOSED.into(),
        api_base: CLOSED.into(),
        appid: "wx".into(),
        secret: "s".into(),
        scope: "snsapi_base".into(),
        timeout: t,
    }));
    let realname = Arc::new(gateways::RealNameClient::new(gateways::RealNameClientConfig { base_url: CLOSED.into(), key: "k".into(), timeout: t }));
    let (bank, centre) = (Arc::new(FakeBank::default()), Arc::new(FakeCentre::default()));
    let app = App::new(store.clone(), clock, his, wechat, realname, Policies::default()).with_bank(bank.clone()).with_insurance(InsuranceChannel {
        centre: centre.clone(),
        auth: Arc::new(FakeInsuranceAuth::default()),
        cashier_url: "https://medins.example/cashier/{pay_ord_id}?back={redirect}".into(),
        use_personal_account: true,
    });
    Fixture { app, store, bank, centre, _db: db }
}

fn lines() -> Vec<OrderLine> {
    vec![
        OrderLine { code: "250101001".into(), name: "血常规".into(), qty: 1, unit_price: Fen(2_500), amount: Fen(2_500), insurable: true },
        OrderLine { code: "ZF0001".into(), name: "医用护具".into(), qty: 1, unit_price: Fen(4_500), amount: Fen(4_500), insurable: false },
    ]
}

/// Fulfilment stands in for the HIS settling the bill (not under test here).
struct MarkFulfilled;

#[async_trait]
impl JobHandler for MarkFulfilled {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let no = payload["order_no"].as_str().unwrap_or_default();
        app.apply(no, OrderEvent::Fulfilled).await.map(|_| ()).map_err(|e| JobError::Retry(e.to_string()))
    }
}

/// Runs the jobs these tests care about until none is due (the payment query is not due
/// for a minute, so it stays queued).
async fn run_jobs(app: &App) {
    let reg = Registry::default().with(REFUND_EXECUTE, RefundExecute).with(INSURANCE_REVERSE, InsuranceReverse).with(ORDER_FULFIL, MarkFulfilled);
    for _ in 0..20 {
        if app::jobs::run_once(app, &reg, &PoolConfig::default(), "test").await.unwrap() == 0 {
            return;
        }
    }
    panic!("jobs keep coming");
}

async fn state(f: &Fixture, no: &str) -> OrderState {
    f.store.order(no).await.unwrap().0.state
}

on_both_backends! {
    async fn a_bank_payment_is_taken_once_and_refunded_once_through_the_port(backend) {
        let f = fixture(backend).await;
        let actor = Actor::system("test");
        let paid = f.app.create_self_pay_order(None, Purpose::OutpatientBill, lines(), &actor).await.unwrap();
        assert!(paid.cashier_url.contains(&paid.order_no));
        // The notification, delivered three times, captures once.
        let n = f.bank.pay(&paid.order_no);
        assert_eq!(f.app.handle_ccb_notification(&n, "raw").await.unwrap(), NotificationOutcome::Applied);
        assert_eq!(f.app.handle_ccb_notification(&n, "raw").await.unwrap(), NotificationOutcome::Duplicate);
        assert_eq!(f.app.handle_ccb_notification(&n, "raw").await.unwrap(), NotificationOutcome::Duplicate);
        run_jobs(&f.app).await;
        assert_eq!(state(&f, &paid.order_no).await, OrderState::Fulfilled);
        // A forged notification is refused and changes nothing.
        let mut forged = testkit::fakes::notification(&paid.order_no, Fen(1), true);
        forged[3].1 = "0".repeat(64);
        assert_eq!(f.app.handle_ccb_notification(&forged, "raw").await.unwrap_err().code, ErrorCode::BadRequest);
        // A partial refund: the job runs, its retry finds the refund done and makes no second one.
        let rno = f.app.request_refund(&paid.order_no, PerChannel { insurance: Fen::ZERO, self_pay: Fen(2_000) }, "部分退费", &actor).await.unwrap();
        run_jobs(&f.app).await;
        assert_eq!(state(&f, &paid.order_no).await, OrderState::PartiallyRefunded);
        assert_eq!(f.bank.refunded(&paid.order_no), Fen(2_000));
        let job = serde_json::json!({"order_no": paid.order_no, "refund_no": rno, "insurance": 0, "self_pay": 2_000});
        RefundExecute.run(&f.app, &job).await.unwrap();
        assert_eq!(f.bank.refunded(&paid.order_no), Fen(2_000), "a replayed refund job is the same refund");

        // A notification that never came: asking the bank heals it.
        let lost = f.app.create_self_pay_order(None, Purpose::OutpatientBill, lines(), &actor).await.unwrap();
        let _ = f.bank.pay(&lost.order_no);
        assert_eq!(f.app.resolve_payment(&lost.order_no).await.unwrap(), OrderState::Paid);
        // A payer who gave up at the cashier: the bank's verified "failed" closes the order.
        let gave_up = f.app.create_self_pay_order(None, Purpose::OutpatientBill, lines(), &actor).await.unwrap();
        let n = f.bank.cancel(&gave_up.order_no);
        assert_eq!(f.app.handle_ccb_notification(&n, "raw").await.unwrap(), NotificationOutcome::Applied);
        assert_eq!(state(&f, &gave_up.order_no).await, OrderState::Closed);
        assert_eq!(f.bank.create_calls(), 3, "one bank payment per order");
    }
}

on_both_backends! {
    async fn insurance_splits_settles_and_is_reversed_when_the_bank_part_fails(backend) {
        let f = fixture(backend).await;
        let actor = Actor::system("test");
        let no = f.app.create_order(None, Purpose::OutpatientBill, lines(), None, &actor).await.unwrap();
        let authorise = async || {
            let url = f.app.insurance_authorize_url(&no, "tier1", PayMethod::Insurance, "https://h.example/back").await.unwrap();
            testkit::url_query(&url).into_iter().find(|(k, _)| k == "state").map(|(_, v)| v).unwrap()
        };
        // A split that does not add up is refused and the centre's order revoked.
        f.centre.break_next_split();
        let state_param = authorise().await;
        assert_eq!(f.app.insurance_presettle(&no, "code-1", &state_param, "openid", &actor).await.unwrap_err().code, ErrorCode::InsuranceRejected);
        assert_eq!(f.centre.revoked().len(), 1);
        // The patient authorises again. In-catalogue 25.00: fund 15.00, personal account
        // 5.00; the rest (5.00 + 45.00) is cash.
        let state_param = authorise().await;
        let split = f.app.insurance_presettle(&no, "code-2", &state_param, "openid", &actor).await.unwrap();
        assert_eq!((split.fund, split.personal_account, split.self_pay), (Fen(1_500), Fen(500), Fen(5_000)));
        assert!(f.app.insurance_cashier_url(&no, "https://h.example/r").await.unwrap().starts_with("https://medins.example/cashier/PAY"));
        // The centre settles; asking it captures the insurance part and only that.
        f.centre.settle(&no);
        assert_eq!(f.app.resolve_payment(&no).await.unwrap(), OrderState::Paying);
        let order = f.store.order(&no).await.unwrap().0;
        assert_eq!((order.captured.insurance, order.captured.self_pay), (Fen(2_000), Fen::ZERO));
        // The cash part fails at the bank: the insurance settlement is reversed, once.
        f.app.start_self_pay(&no).await.unwrap();
        let n = f.bank.cancel(&no);
        f.app.handle_ccb_notification(&n, "raw").await.unwrap();
        run_jobs(&f.app).await;
        assert_eq!(state(&f, &no).await, OrderState::Closed);
        let refunds = f.centre.refunds();
        assert_eq!(refunds.len(), 1, "{refunds:?}");
        assert_eq!((refunds[0].1, refunds[0].2), (Fen(1_500), Fen(500)));
        assert_eq!(f.bank.refund_calls(), 0, "nothing was taken at the bank");
    }
}
