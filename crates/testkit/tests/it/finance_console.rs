//! The finance console's ledger and reconciliation on both backends: totals that sum to
//! zero, CSV (with a BOM and Chinese headers) and XLSX exports that are audited, a
//! reconciliation run from the console with an unexplained difference that a person
//! resolves with a note, and the run's export.
use chrono::Duration;
use domain::billing::{OrderLine, OrderState, PerChannel, Purpose};
use domain::{FakeClock, Fen};
use std::io::Read;
use std::sync::Arc;
use testkit::{TestApp, location, on_both_backends};

fn line(amount: i64) -> Vec<OrderLine> {
    vec![OrderLine { code: "REG".into(), name: "挂号费".into(), qty: 1, unit_price: Fen(amount), amount: Fen(amount), insurable: true }]
}

on_both_backends! {
    async fn ledger_exports_and_a_reconciliation_resolved_by_a_person(backend) {
        let day = chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap();
        let clock = FakeClock::new(domain::clock::local_midnight_utc(day) + Duration::hours(10));
        let t = TestApp::spawn_opts(backend, Arc::new(clock.clone()), false, |_| {}).await;
        let actor = app::Actor::system("test");
        let mut nos = Vec::new();
        for amount in [2_500, 5_000] {
            let o = t.app.create_self_pay_order(None, Purpose::Registration, line(amount), &actor).await.unwrap();
            TestApp::http().post(format!("{}/pay", o.cashier_url)).send().await.unwrap();
            nos.push(o.order_no);
        }
        for _ in 0..100 {
            let mut paid = 0;
            for no in &nos { if t.store.order(no).await.unwrap().0.state == OrderState::Paid { paid += 1; } }
            if paid == nos.len() { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        t.app.request_refund(&nos[1], PerChannel { insurance: Fen::ZERO, self_pay: Fen(1_000) }, "部分退费", &actor).await.unwrap();
        t.drain_jobs().await;
        // A posting nobody can explain: money recorded here that the bank never saw.
        t.store.post_once(&format!("{}:manual", nos[0]), &nos[0], &[("clearing:bank".into(), "capture", 100), ("revenue:registration".into(), "capture", -100)], vec![], t.app.now(), t.app.now()).await.unwrap();

        let finance = t.staff_sign_in("finance01").await;
        let get = |path: String| { let c = finance.clone(); async move { TestApp::http().get(path).header("cookie", c).send().await.unwrap() } };
        let page = get(t.url("/staff/finance/ledger?from=2026-11-24&to=2026-11-24")).await.text().await.unwrap();
        assert!(page.contains("借贷合计 0 分"), "the day's postings sum to zero");
        assert!(page.contains("挂号费") && page.contains("银行清算户"));
        let bad = get(t.url("/staff/finance/ledger?from=2026-01-01&to=2026-11-24")).await.text().await.unwrap();
        assert!(bad.contains("92 天"), "a range over a quarter is refused");
        // CSV: BOM, Chinese headers, one row per entry, amounts summing to zero.
        let r = get(t.url("/staff/finance/ledger?from=2026-11-24&to=2026-11-24&format=csv")).await;
        assert!(r.headers()["content-disposition"].to_str().unwrap().contains("ledger-20261124-20261124.csv"));
        let bytes = r.bytes().await.unwrap();
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        let mut rows = text.lines();
        assert_eq!(rows.next().unwrap(), "记账时间,凭证号,订单号,业务,科目,科目名称,摘要,金额（元）");
        let amounts: Vec<i64> = rows.map(|l| Fen::parse_yuan(l.rsplit(',').next().unwrap()).unwrap().0).collect();
        let entries = t.store.ledger_between(domain::clock::local_midnight_utc(day), domain::clock::local_midnight_utc(day) + Duration::days(1)).await.unwrap();
        assert_eq!(amounts.len(), entries.len());
        assert_eq!(amounts.iter().sum::<i64>(), 0);
        // XLSX: a workbook whose sheet holds the same headers.
        let r = get(t.url("/staff/finance/ledger?from=2026-11-24&to=2026-11-24&format=xlsx")).await;
        assert_eq!(r.headers()["content-type"], "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet");
        let bytes = r.bytes().await.unwrap();
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes.to_vec())).unwrap();
        let mut shared = String::new();
        zip.by_name("xl/sharedStrings.xml").unwrap().read_to_string(&mut shared).unwrap();
        assert!(shared.contains("记账时间") && shared.contains("银行清算户（建行）"), "{shared}");
        assert!(zip.by_name("xl/worksheets/sheet1.xml").is_ok());
        assert_eq!(t.store.audit_count(Some("finance.export")).await.unwrap(), 2, "each export is audited");

        // The next morning the day is reconciled from the console.
        clock.set(domain::clock::local_midnight_utc(day) + Duration::hours(27));
        // 03:00: the nightly job reconciles yesterday by itself and schedules tomorrow's run.
        t.drain_jobs().await;
        let runs = t.store.recon_runs(10).await.unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!((runs[0].business_date.as_str(), runs[0].status.as_str()), ("2026-11-24", "done"));
        assert_eq!(t.store.live_jobs_of_kind(app::billing::reconcile::RECONCILE_DAILY).await.unwrap(), 1, "tomorrow's run is scheduled");
        // A new working day, a new sign-in (the session from yesterday has expired).
        let finance = t.staff_sign_in("finance01").await;
        let get = |path: String| { let c = finance.clone(); async move { TestApp::http().get(path).header("cookie", c).send().await.unwrap() } };
        let post = |path: String, form: Vec<(&'static str, String)>| { let c = finance.clone(); async move { TestApp::http().post(path).header("cookie", c).form(&form).send().await.unwrap() } };
        let r = post(t.url("/staff/finance/reconciliation"), vec![("date", "2026-11-25".into())]).await;
        assert!(location(r.headers()).ends_with("error=RECON_DAY_NOT_OVER"), "today cannot be reconciled yet, and the page says why: {} {:?}", r.status(), r.headers());
        let r = post(t.url("/staff/finance/reconciliation"), vec![("date", "2026-11-24".into())]).await;
        let run_url = location(r.headers());
        assert!(run_url.starts_with("/staff/finance/reconciliation/"), "{run_url}");
        let page = get(t.url(&run_url)).await.text().await.unwrap();
        assert!(page.contains("待处理 1") && page.contains("金额不一致"), "the unexplained posting is listed: {page}");
        let run: i64 = run_url.rsplit('/').next().unwrap().parse().unwrap();
        let (_, items) = t.store.recon_run(run).await.unwrap();
        let open: Vec<_> = items.iter().filter(|i| i.resolution == "open").collect();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].order_no.as_str(), open[0].kind.as_str()), (nos[0].as_str(), "amount_mismatch"));
        let resolve = t.url(&format!("{run_url}/items/{}/resolve", open[0].id));
        let r = post(resolve.clone(), vec![("note", "  ".into())]).await;
        assert!(location(r.headers()).ends_with("error=VALIDATION_FAILED"), "a note is required");
        let ask = post(resolve.clone(), vec![("note", "测试分录，已冲销".into())]).await;
        assert_eq!(ask.status(), 200, "asked first");
        assert_eq!(t.store.audit_count(Some("recon.resolve")).await.unwrap(), 0, "nothing resolved before the confirmation");
        let r = post(resolve.clone(), vec![("note", "测试分录，已冲销".into()), ("confirmed", "1".into())]).await;
        assert_eq!(location(r.headers()), run_url);
        let r = post(resolve, vec![("note", "再次处理".into()), ("confirmed", "1".into())]).await;
        assert!(location(r.headers()).ends_with("error=CONFLICT"), "resolved once");
        assert_eq!(t.store.audit_count(Some("recon.resolve")).await.unwrap(), 1);
        let csv = get(t.url(&format!("{run_url}?format=csv"))).await.text().await.unwrap();
        assert!(csv.contains("已人工处理") && csv.contains("测试分录，已冲销"), "{csv}");
        let list = get(t.url("/staff/finance/reconciliation")).await.text().await.unwrap();
        assert!(list.contains("2026-11-24") && list.contains("已完成"));
        // Another role cannot see any of it.
        let nurse = t.staff_sign_in("nurse01").await;
        for path in ["/staff/finance/ledger", "/staff/finance/reconciliation"] {
            assert_eq!(TestApp::http().get(t.url(path)).header("cookie", &nurse).send().await.unwrap().status(), 403);
        }
    }
}
