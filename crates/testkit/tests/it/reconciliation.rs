//! G10 on both backends: a simulated day of 1,000 orders with injected faults — 5 % lost
//! callbacks, 2 % duplicated callbacks, 1 % late payments after close, 1 % forged
//! callbacks with another amount, abandoned orders, mixed insurance + self-pay orders and
//! refunds — then the next day's reconciliation against the bank's statement and the
//! centre's 3201/3202 statements. Every difference must be classified, lost callbacks
//! healed, late payments refunded, and nothing left unexplained (P10). The ledger sums
//! to zero throughout and matches the bank order by order (P8).
use app::billing::PayMethod;
use chrono::{Duration, TimeZone, Utc};
use domain::billing::{OrderLine, OrderState, PerChannel, Purpose};
use domain::{FakeClock, Fen};
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use testkit::{TestApp, on_both_backends};

const ORDERS: usize = 1_000;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Fate {
    Normal,
    LostCallback,
    Duplicated,
    Forged,
    Late { notified: bool },
    Abandoned,
    Mixed,
}

fn fate(r: f64) -> Fate {
    match r {
        x if x < 0.05 => Fate::LostCallback,
        x if x < 0.07 => Fate::Duplicated,
        x if x < 0.08 => Fate::Forged,
        x if x < 0.085 => Fate::Late { notified: true },
        x if x < 0.09 => Fate::Late { notified: false },
        x if x < 0.12 => Fate::Abandoned,
        x if x < 0.20 => Fate::Mixed,
        _ => Fate::Normal,
    }
}

fn lines(i: usize, mixed: bool) -> Vec<OrderLine> {
    let price = 500 + (i as i64 * 37) % 20_000;
    let mut v = vec![OrderLine { code: "RX".into(), name: "处方".into(), qty: 1, unit_price: Fen(price), amount: Fen(price), insurable: true }];
    if mixed {
        v.push(OrderLine { code: "ZF".into(), name: "自费材料".into(), qty: 1, unit_price: Fen(1_200), amount: Fen(1_200), insurable: false });
    }
    v
}

async fn cashier(url: &str, action: &str) {
    let r = TestApp::http().post(format!("{url}/{action}")).send().await.unwrap();
    assert_eq!(r.status(), 303);
}

/// Phase 1 of one order: create it and pay (or not) as its fate says.
async fn open_and_pay(t: Arc<TestApp>, i: usize, fate: Fate) -> String {
    let actor = app::Actor::system("g10");
    if fate == Fate::Mixed {
        let no = t.app.create_order(None, Purpose::OutpatientBill, lines(i, true), None, &actor).await.unwrap();
        let url = t.app.insurance_authorize_url(&no, "tier1", PayMethod::Insurance, "http://localhost/x").await.unwrap();
        let (code, st) = t.authorise_insurance(&url, true).await;
        t.app.insurance_presettle(&no, &code, &st, "o", &actor).await.unwrap();
        let c = t.app.insurance_cashier_url(&no, "").await.unwrap();
        let id = c.split("/cashier/").nth(1).unwrap().split('?').next().unwrap().to_owned();
        TestApp::http().post(format!("{}/__sim/nhsa/cashier/{id}", t.nhsa_url)).form(&[("decision", "confirm"), ("redirect", "")]).send().await.unwrap();
        t.app.resolve_payment(&no).await.unwrap();
        let (order, _) = t.store.order(&no).await.unwrap();
        if order.split.self_pay.0 > 0 {
            let url = t.app.start_self_pay(&no).await.unwrap();
            cashier(&url, "pay").await;
        }
        return no;
    }
    let p = t.app.create_self_pay_order(None, Purpose::OutpatientBill, lines(i, false), &actor).await.unwrap();
    match fate {
        Fate::LostCallback => {
            t.ccb.lock().unwrap().faults.drop_for.insert(p.order_no.clone());
            cashier(&p.cashier_url, "pay").await;
        }
        Fate::Normal | Fate::Duplicated | Fate::Forged => cashier(&p.cashier_url, "pay").await,
        _ => {}
    }
    let form = || t.ccb.lock().unwrap().notification_for(&p.order_no).unwrap();
    if fate == Fate::Duplicated {
        let copies = 1 + i % 9;
        let mut hs = Vec::new();
        for _ in 0..copies {
            let (url, f) = (t.url("/callbacks/ccb"), form());
            hs.push(tokio::spawn(async move { TestApp::http().post(url).form(&f).send().await.unwrap().status().as_u16() }));
        }
        for h in hs {
            assert_eq!(h.await.unwrap(), 200, "a duplicate is acknowledged");
        }
    }
    if fate == Fate::Forged {
        let mut f = form();
        for (k, v) in f.iter_mut() {
            if k == "PAYMENT" {
                *v = "0.01".into();
            }
        }
        let r = TestApp::http().post(t.url("/callbacks/ccb")).form(&f).send().await.unwrap();
        assert_eq!(r.status(), 400, "a forged amount is refused (P2)");
    }
    p.order_no
}

async fn in_parallel<F, Fut, T>(items: Vec<(usize, Fate)>, width: usize, f: F) -> Vec<(usize, Fate, T)>
where
    F: Fn(usize, Fate) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let mut out = Vec::new();
    for chunk in items.chunks(width) {
        let mut set = tokio::task::JoinSet::new();
        for &(i, fate) in chunk {
            let fut = f(i, fate);
            set.spawn(async move { (i, fate, fut.await) });
        }
        while let Some(r) = set.join_next().await {
            out.push(r.unwrap());
        }
    }
    out
}

async fn ledger_total(t: &TestApp) -> i64 {
    let all = t.store.ledger_between(Utc.with_ymd_and_hms(2000, 1, 1, 0, 0, 0).unwrap(), Utc.with_ymd_and_hms(2100, 1, 1, 0, 0, 0).unwrap()).await.unwrap();
    let mut by_posting = HashMap::<String, i64>::new();
    for e in &all {
        *by_posting.entry(e.posting.clone()).or_default() += e.amount;
    }
    assert!(by_posting.values().all(|v| *v == 0), "every posting balances (P8)");
    all.iter().map(|e| e.amount).sum()
}

on_both_backends! {
    async fn a_day_of_traffic_with_faults_reconciles_with_nothing_unexplained(backend) {
        // 09:00 local on the business day.
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let clock = FakeClock::new(domain::clock::local_midnight_utc(day) + Duration::hours(9));
        // The recovery query is left to reconciliation: no query job falls due today.
        let t = Arc::new(TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |s| s.payment.first_query_after_secs = 3 * 86_400).await);
        let mut rng = rand::rngs::StdRng::seed_from_u64(20261124);
        let plan: Vec<(usize, Fate)> = (0..ORDERS).map(|i| (i, fate(rng.random::<f64>()))).collect();
        let count = |f: Fate| plan.iter().filter(|(_, x)| *x == f).count();

        // Phase 1: the morning's orders.
        let opened = in_parallel(plan.clone(), 16, |i, f| open_and_pay(t.clone(), i, f)).await;
        let orders: HashMap<usize, (Fate, String)> = opened.into_iter().map(|(i, f, no)| (i, (f, no))).collect();
        // Notifications arrive asynchronously; wait until every notified payment is recorded.
        for _ in 0..600 {
            let mut pending = 0;
            for (f, no) in orders.values() {
                if matches!(f, Fate::Normal | Fate::Duplicated | Fate::Forged | Fate::Mixed) && t.store.order(no).await.unwrap().0.state != OrderState::Paid {
                    pending += 1;
                }
            }
            if pending == 0 { break; }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }

        // Phase 2: T_close passes; unpaid orders close; some patients pay afterwards anyway.
        clock.advance(Duration::minutes(16));
        for (f, no) in orders.values() {
            if matches!(f, Fate::Late { .. } | Fate::Abandoned) {
                assert_eq!(t.app.resolve_payment(no).await.unwrap(), OrderState::Closed);
            }
        }
        for (f, no) in orders.values() {
            if let Fate::Late { notified } = f {
                if !notified { t.ccb.lock().unwrap().faults.drop_for.insert(no.clone()); }
                let url = t.store.attempt(no, "ccb").await.unwrap().unwrap().1["cashier_url"].as_str().unwrap().to_owned();
                cashier(&url, "pay").await;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;

        // Phase 3: some refunds, partial and full, to both channels.
        let actor = app::Actor::system("g10");
        let mut refunds = 0;
        for (i, (f, no)) in &orders {
            if matches!(f, Fate::Normal | Fate::Mixed) && i % 17 == 0 {
                let (o, _) = t.store.order(no).await.unwrap();
                let amounts = if *f == Fate::Mixed { PerChannel { insurance: o.captured.insurance, self_pay: o.captured.self_pay } } else { PerChannel { insurance: Fen::ZERO, self_pay: Fen(o.captured.self_pay.0 / 2) } };
                t.app.request_refund(no, amounts, "G10 退费", &actor).await.unwrap();
                refunds += 1;
            }
        }
        t.drain_jobs().await;
        assert_eq!(ledger_total(&t).await, 0, "the ledger sums to zero");

        // Phase 4: 03:00 the next day, reconcile the business day.
        clock.set(domain::clock::local_midnight_utc(day) + Duration::hours(27));
        let run = t.app.reconcile_day(day, &app::Actor::system("test")).await.unwrap();
        let (r, items) = t.store.recon_run(run).await.unwrap();
        let summary: serde_json::Value = serde_json::from_str(&r.summary).unwrap();
        let kinds = ["missing_locally", "missing_remotely", "amount_mismatch", "status_mismatch"];
        assert!(items.iter().all(|i| kinds.contains(&i.kind.as_str())), "every difference classified");
        let open: Vec<_> = items.iter().filter(|i| i.resolution == "open").collect();
        assert!(open.is_empty(), "unexplained differences: {open:#?}");
        assert_eq!(summary["auto_healed"], count(Fate::LostCallback), "lost callbacks healed by asking the bank");
        assert_eq!(summary["auto_refunded"], count(Fate::Late { notified: false }), "late payments nobody told us of");
        assert_eq!(summary["total_check"]["agree"], true, "3201 totals agree");
        assert_eq!(r.status, "done");
        for (f, no) in orders.values() {
            let s = t.store.order(no).await.unwrap().0.state;
            match f {
                Fate::LostCallback => assert_eq!(s, OrderState::Paid, "healed"),
                Fate::Late { .. } | Fate::Abandoned => assert_eq!(s, OrderState::Closed),
                _ => {}
            }
        }

        // Phase 5: the late payments found by reconciliation are refunded today; tomorrow's
        // reconciliation of today finds the refunds on both sides.
        t.drain_jobs().await;
        assert_eq!(ledger_total(&t).await, 0);
        clock.set(domain::clock::local_midnight_utc(day) + Duration::hours(51));
        let run2 = t.app.reconcile_day(day.succ_opt().unwrap(), &app::Actor::system("test")).await.unwrap();
        let (_, items2) = t.store.recon_run(run2).await.unwrap();
        assert!(items2.iter().all(|i| i.resolution != "open"), "{items2:#?}");
        // Money never held without a service: the bank holds exactly what our ledger says, per order.
        for (f, no) in orders.values() {
            let bank = t.bank().query(no).await.unwrap();
            let held = bank.map(|b| if matches!(b.status, gateways::ccb::client::BankStatus::Paid | gateways::ccb::client::BankStatus::Refunded) { b.amount.0 - b.refunded.0 } else { 0 }).unwrap_or(0);
            let local: i64 = t.store.ledger_of(no).await.unwrap().iter().filter(|e| e.account == "clearing:bank").map(|e| e.amount).sum();
            assert_eq!(held, local, "{f:?} {no}");
            if matches!(f, Fate::Late { .. }) { assert_eq!(held, 0, "late payment refunded"); }
        }
        eprintln!("G10 {backend:?}: {ORDERS} orders, {} lost callbacks, {} duplicated, {} forged, {} late, {} abandoned, {} mixed, {refunds} refunds; run 1 summary {summary}",
            count(Fate::LostCallback), count(Fate::Duplicated), count(Fate::Forged), count(Fate::Late { notified: true }) + count(Fate::Late { notified: false }), count(Fate::Abandoned), count(Fate::Mixed));
    }
}

/// The centre's journal line of `order_no` of `kind` (`SETL`/`REFD`), if any.
fn centre_line(t: &TestApp, order_no: &str, kind: &str) -> Option<usize> {
    t.nhsa.lock().unwrap().journal.iter().position(|l| l.med_org_ord == order_no && l.kind == kind)
}

async fn run_items(t: &TestApp, day: chrono::NaiveDate) -> (i64, serde_json::Value, Vec<store::entity::recon_item::Model>) {
    let run = t.app.reconcile_day(day, &app::Actor::system("test")).await.unwrap();
    let (r, items) = t.store.recon_run(run).await.unwrap();
    (run, serde_json::from_str(&r.summary).unwrap(), items)
}

on_both_backends! {
    async fn the_centres_3201_and_3202_differences_are_found_classified_and_resolved(backend) {
        // Issue 20 item 3 (P10, insurance side): a day of mixed insurance + self-pay orders
        // and a refund reconciles to nothing open; then each kind of difference is put into
        // the centre's own figures and must be found, classified and resolvable.
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let clock = FakeClock::new(domain::clock::local_midnight_utc(day) + Duration::hours(9));
        let t = Arc::new(TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await);
        let mut orders = Vec::new();
        for i in 0..6 {
            orders.push(open_and_pay(t.clone(), 100 + i, Fate::Mixed).await);
        }
        for no in &orders {
            for _ in 0..200 {
                if t.store.order(no).await.unwrap().0.state == OrderState::Paid { break; }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            assert_eq!(t.store.order(no).await.unwrap().0.state, OrderState::Paid, "{no} paid on both channels");
        }
        // One order refunded whole: the centre records the reversal (REFD).
        let (o, _) = t.store.order(&orders[5]).await.unwrap();
        t.app.request_refund(&orders[5], PerChannel { insurance: o.captured.insurance, self_pay: o.captured.self_pay }, "患者退费", &app::Actor::system("test")).await.unwrap();
        t.drain_jobs().await;
        assert!(centre_line(&t, &orders[5], "REFD").is_some(), "the centre recorded the refund");

        // 03:00 the next day: nothing open on a clean day, and the 3201 totals agree.
        clock.set(domain::clock::local_midnight_utc(day) + Duration::hours(27));
        let (_, summary, items) = run_items(&t, day).await;
        assert!(items.iter().all(|i| i.resolution != "open"), "{items:#?}");
        assert_eq!(summary["total_check"]["agree"], true, "{summary}");
        assert_eq!(summary["centre_lines"], 6, "{summary}");

        // Differences put into the centre's figures.
        let clean = t.nhsa.lock().unwrap().journal.clone();
        let (setl0, setl1, refd5) = (centre_line(&t, &orders[0], "SETL").unwrap(), centre_line(&t, &orders[1], "SETL").unwrap(), centre_line(&t, &orders[5], "REFD").unwrap());
        {
            let mut c = t.nhsa.lock().unwrap();
            // A settlement the centre has and we never made: missing locally.
            let mut stranger = c.journal[setl0].clone();
            stranger.med_org_ord = "O20261124STRANGER".into();
            stranger.pay_ord_id = "PAY-STRANGER".into();
            // The fund paid more on orders[1] than we recorded: amount mismatch.
            c.journal[setl1].fund.0 += 100;
            c.journal.push(stranger);
            // orders[0]'s settlement never reached the centre: missing at the centre; and
            // the centre did not record orders[5]'s reversal: status mismatch.
            let (a, b) = (setl0.max(refd5), setl0.min(refd5));
            c.journal.remove(a);
            c.journal.remove(b);
        }
        let (run, _, items) = run_items(&t, day).await;
        let open: BTreeMap<String, String> = items.iter().filter(|i| i.channel == "nhsa" && i.resolution == "open").map(|i| (i.order_no.clone(), i.kind.clone())).collect();
        let expected: BTreeMap<String, String> = [
            ("O20261124STRANGER".to_owned(), "missing_locally"),
            (orders[0].clone(), "missing_remotely"),
            (orders[1].clone(), "amount_mismatch"),
            (orders[5].clone(), "status_mismatch"),
        ]
        .into_iter()
        .map(|(k, v)| (k, v.to_owned()))
        .collect();
        assert_eq!(open, expected, "each injected difference found once and classified");
        assert!(items.iter().all(|i| i.channel != "ccb" || i.resolution != "open"), "the bank's side still agrees");
        let amount = items.iter().find(|i| i.order_no == orders[1]).unwrap();
        assert_eq!(amount.remote_amount - amount.local_amount, 100, "the difference is the injected 1.00 yuan");
        // Each is resolved by finance with a note, and the resolution is audited.
        let clerk = app::Actor::system("finance-test");
        for i in items.iter().filter(|i| i.resolution == "open") {
            assert_eq!(t.app.resolve_recon_item_of_run(run, i.id, "", &clerk).await.unwrap_err().code, domain::ErrorCode::ValidationFailed, "a note is required");
            t.app.resolve_recon_item_of_run(run, i.id, &format!("与医保中心核实：{}", i.kind), &clerk).await.unwrap();
        }
        let (_, after) = t.store.recon_run(run).await.unwrap();
        assert!(after.iter().all(|i| i.resolution != "open"), "all resolved");
        let now = t.app.now();
        let audited = t.store.audit_by_actor(&clerk.id, now - Duration::days(1), now + Duration::days(1)).await.unwrap();
        assert_eq!(audited.iter().filter(|a| a.action == "recon.resolve").count(), 4);

        // The centre's split differs but not its detail total (fund up, account down by as
        // much): only 3201 can see it, and it is a difference too.
        {
            let mut c = t.nhsa.lock().unwrap();
            c.journal = clean;
            let line = c.journal.iter_mut().find(|l| l.med_org_ord == orders[2] && l.kind == "SETL").unwrap();
            let shift = line.psn.0.min(100);
            assert!(shift > 0, "the order paid from the personal account");
            line.fund.0 += shift;
            line.psn.0 -= shift;
        }
        let (_, summary, items) = run_items(&t, day).await;
        let open: Vec<_> = items.iter().filter(|i| i.resolution == "open").map(|i| i.kind.as_str()).collect();
        assert_eq!(open, ["total_mismatch"], "{items:#?}");
        assert_eq!(summary["total_check"]["agree"], false);
    }
}
