//! The inpatient page as a family uses it (BED, OTH-3): it opens on the 就诊人 who is in
//! hospital, owed money reads as 欠费, the day of the stay and how long the balance lasts at
//! the last three days' average, and the limits of a top-up are said before paying.
use testkit::{TestApp, on_both_backends};
// The daily fee list (OTH-4) is tested below too: a day per page with its classes and self-pay.

on_both_backends! {
    async fn the_page_opens_on_the_patient_in_hospital_and_names_arrears(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let zhang = t.add_demo_patient(&cookie, "张伟", "self").await;
        // 黄强 is in hospital on his seventh day: a ¥2000.00 deposit, and the charges of an
        // operation on the second day.
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let page = TestApp::http().get(t.url("/inpatient")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("name=\"patient_id\" value=\"{huang}\"")), "opens on the patient in hospital, not the first 就诊人");
        let charges: i64 = (0..=6).flat_map(|d| sim::demo::stay_day(sim::demo::StayProfile::Orthopaedics, d)).map(|l| l.0.amount.0).sum();
        let owed = domain::format::yuan(domain::Fen(charges - 200_000));
        assert!(page.contains("欠费") && page.contains(&format!("¥{owed}")) && !page.contains(&format!("-{owed}")), "arrears read as 欠费 ¥{owed}: {page}");
        assert!(page.contains("单次可补缴 1–50000 元"), "the limits are stated before submitting");
        // Who looks after him, the diagnosis as the HIS words it, and each deposit with its channel and payer.
        assert!(page.contains("王志刚") && page.contains("责任护士 何丽") && page.contains("右股骨干骨折"), "{page}");
        assert!(page.contains("押金缴纳记录（1笔）") && page.contains("窗口现金 · 住院收费处 李敏"), "{page}");
        // Admitted six days ago: the seventh day; the last three days' lists give the average,
        // and a balance already owed lasts no day.
        assert!(page.contains("（住院第7天）"), "{page}");
        let day_total = |d: i64| sim::demo::stay_day(sim::demo::StayProfile::Orthopaedics, d).iter().map(|l| l.0.amount.0).sum::<i64>();
        let daily = domain::Fen((day_total(3) + day_total(4) + day_total(5)) / 3);
        assert!(page.contains(&format!("近3日日均费用 ¥{}", domain::format::yuan(daily))) && page.contains("每日费用将继续累计欠费"), "{page}");
        // Without the HIS's daily lists there is no estimate rather than a wrong one.
        t.set_his_faults(serde_json::json!({"fail_next": [["daily_list", "9999"]]})).await;
        let page = TestApp::http().get(t.url("/inpatient")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("（住院第7天）") && !page.contains("日均费用"), "{page}");
        t.set_his_faults(serde_json::json!({})).await;
        // Asked for the first 就诊人 by name: that one, without a stay.
        let page = TestApp::http().get(t.url(&format!("/inpatient?patient={zhang}"))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("暂无在院记录"));
        let card = TestApp::http().get(t.url("/card")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(card.contains("单次可充值 1–5000 元"));
    }
}

on_both_backends! {
    async fn the_daily_fee_list_pages_day_by_day_with_classes_and_self_pay(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let zhang = t.add_demo_patient(&cookie, "张伟", "self").await;
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let get = |path: String, cookie: String| {
            let url = t.url(&path);
            async move { TestApp::http().get(url).header("cookie", cookie).send().await.unwrap() }
        };
        // Today is the seventh day (admitted six days ago); its list is day 6 of the HIS's.
        let page = get(format!("/inpatient/fees?patient={huang}"), cookie.clone()).await.text().await.unwrap();
        assert!(page.contains("（住院第7天）") && page.contains("id=\"prev-day\"") && !page.contains("id=\"next-day\""), "{page}");
        let today = sim::demo::stay_day(sim::demo::StayProfile::Orthopaedics, 6);
        let total: i64 = today.iter().map(|l| l.0.amount.0).sum();
        assert!(page.contains(&format!("¥{}", domain::format::yuan(domain::Fen(total)))), "the day's total: {page}");
        for (item, spec, _, _) in &today {
            assert!(page.contains(&item.name) && page.contains(spec), "{} {spec}", item.name);
        }
        // The second day: tests (甲, 乙 with a 10% self-pay share), a medicine (乙), a self-pay item (丙).
        let admitted = t.app.today() - chrono::Duration::days(6);
        let day2 = (admitted + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
        let page = get(format!("/inpatient/fees?patient={huang}&date={day2}"), cookie.clone()).await.text().await.unwrap();
        assert!(page.contains("（住院第2天）") && page.contains("id=\"next-day\""), "{page}");
        let lines = sim::demo::stay_day(sim::demo::StayProfile::Orthopaedics, 1);
        let class_total = |c: &str| lines.iter().filter(|l| l.2 == c).map(|l| l.0.amount.0).sum::<i64>();
        let self_pay_b: i64 = lines.iter().filter(|l| l.2 == "乙").map(|l| (l.0.amount.0 * (l.3 * 1000.0).round() as i64 + 500) / 1000).sum();
        let classes = page.split("id=\"class-totals\"").nth(1).unwrap();
        assert!(classes.contains(&format!("甲类</td><td class=\"num\">¥{}", domain::format::yuan(domain::Fen(class_total("甲"))))), "{classes}");
        assert!(classes.contains(&format!("其中自付 ¥{}", domain::format::yuan(domain::Fen(self_pay_b)))), "{classes}");
        assert!(classes.contains(&format!("丙类</td><td class=\"num\">¥{}", domain::format::yuan(domain::Fen(class_total("丙"))))), "{classes}");
        // The stay so far by class, one HIS call whatever its length.
        let stay_lines: Vec<_> = (0..=6).flat_map(|d| sim::demo::stay_day(sim::demo::StayProfile::Orthopaedics, d)).collect();
        let stay_total: i64 = stay_lines.iter().map(|l| l.0.amount.0).sum();
        let stay_c: i64 = stay_lines.iter().filter(|l| l.2 == "丙").map(|l| l.0.amount.0).sum();
        let whole = page.split("id=\"stay-class-totals\"").nth(1).unwrap();
        assert!(whole.contains(&format!("住院以来合计 ¥{}", domain::format::yuan(domain::Fen(stay_total)))), "{whole}");
        assert!(whole.contains(&format!("丙类</td><td class=\"num\">¥{}", domain::format::yuan(domain::Fen(stay_c)))), "{whole}");
        // Days outside the stay are kept within it.
        let page = get(format!("/inpatient/fees?patient={huang}&date=2000-01-01"), cookie.clone()).await.text().await.unwrap();
        assert!(page.contains("（住院第1天）") && !page.contains("id=\"prev-day\""), "{page}");
        // Someone not in hospital: back to the inpatient page; another account's patient: not found.
        let r = TestApp::http().get(t.url(&format!("/inpatient/fees?patient={zhang}"))).header("cookie", &cookie).send().await.unwrap();
        assert_eq!(testkit::location(r.headers()), format!("/inpatient?patient={zhang}"));
        let (_, other) = t.wechat_sign_in("oDemo_lina_0002").await;
        assert_eq!(get(format!("/inpatient/fees?patient={huang}"), other).await.status(), 404);
        // A HIS whose lines do not add up to its total: shown as it says, flagged once for staff.
        t.set_his_faults(serde_json::json!({"fee_list_off_by": 100})).await;
        for _ in 0..2 {
            let page = get(format!("/inpatient/fees?patient={huang}&date={day2}"), cookie.clone()).await.text().await.unwrap();
            let his_total = domain::format::yuan(domain::Fen(lines.iter().map(|l| l.0.amount.0).sum::<i64>() + 100));
            assert!(page.contains(&format!("id=\"day-total\">¥{his_total}")) && page.contains("id=\"fee-mismatch\""), "{page}");
        }
        let tasks = t.store.tasks(true, 50).await.unwrap();
        assert_eq!(tasks.iter().filter(|x| x.kind == "fee_list_mismatch").count(), 1, "one task per stay and day");
        t.set_his_faults(serde_json::json!({})).await;
    }
}

on_both_backends! {
    async fn a_low_deposit_is_told_once_a_day_with_a_one_tap_top_up(backend) {
        let t = TestApp::spawn_opts(backend, std::sync::Arc::new(domain::SystemClock), false, |_| {}).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        t.add_demo_patient(&cookie, "张伟", "self").await;
        // 黄强 owes money; 吴秀英's balance is under the ¥1000 floor.
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let wu = t.add_demo_patient(&cookie, "吴秀英", "parent").await;
        assert_eq!(t.app.scan_low_deposits().await.unwrap(), 2);
        assert_eq!(t.app.scan_low_deposits().await.unwrap(), 0, "once a day per stay");
        t.drain_jobs().await;
        let q = |p: i64| store::messages::MessageQuery { scene: Some("deposit.low".into()), patient_id: Some(p), limit: 10, ..Default::default() };
        let m = &t.store.search_messages(&q(huang)).await.unwrap()[0];
        assert!(m.body.contains("已欠费") && m.link == format!("/inpatient?patient={huang}#top-up"), "{} {}", m.body, m.link);
        let m = &t.store.search_messages(&q(wu)).await.unwrap()[0];
        // Her stay averages more than ¥500 a day: two days of charges is the level, above the floor.
        let charges: i64 = (0..=6).flat_map(|d| sim::demo::stay_day(sim::demo::StayProfile::Cardiology, d)).map(|l| l.0.amount.0).sum();
        let level = (charges / 7 * 2).max(100_000);
        let said = format!("余额{}元，已不足{}元", domain::format::yuan(domain::Fen(500_000 - charges)), domain::format::yuan(domain::Fen(level)));
        assert!(m.body.contains(&said), "{said}: {}", m.body);
        // The page says the same and offers the top-up.
        let page = TestApp::http().get(t.url(&format!("/inpatient?patient={wu}"))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("id=\"deposit-warning\"") && page.contains("id=\"top-up\""), "{page}");
        // Another stay of the same patient is told on its own (the day's limit is per stay).
        let stay = t.his_port.inpatient_stay(&t.store.patient_by_id(wu).await.unwrap().unwrap().his_patient_id).await.unwrap().unwrap();
        let r = TestApp::http().post(format!("{}/__sim/his/inpatient/admit", t.his_url)).json(&serde_json::json!({
            "patientId": t.store.patient_by_id(wu).await.unwrap().unwrap().his_patient_id, "profile": "cardiology", "daysAgo": 6, "deposits": [[100000, "CASH", 0]]
        })).send().await.unwrap();
        assert!(r.status().is_success());
        assert_ne!(t.his_port.inpatient_stay(&t.store.patient_by_id(wu).await.unwrap().unwrap().his_patient_id).await.unwrap().unwrap().inpatient_no, stay.inpatient_no);
        assert_eq!(t.app.scan_low_deposits().await.unwrap(), 1, "a new stay (owing) is told");
    }
}

on_both_backends! {
    async fn the_virtual_card_shows_scannable_codes_and_its_transactions(backend) {
        let t = TestApp::spawn_opts(backend, std::sync::Arc::new(domain::SystemClock), false, |_| {}).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let zhang = t.add_demo_patient(&cookie, "张伟", "self").await;
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let get = |path: String| {
            let (url, cookie) = (t.url(&path), cookie.clone());
            async move { TestApp::http().get(url).header("cookie", cookie).send().await.unwrap().text().await.unwrap() }
        };
        // A recharge on the phone, paid and credited, then listed on the card.
        let r = TestApp::http().post(t.url("/card/recharge")).header("cookie", &cookie).header("origin", &t.base).form(&[("patient_id", zhang.to_string()), ("amount_yuan", "200".into())]).send().await.unwrap();
        let order_no = testkit::location(r.headers()).strip_prefix("/pay/").unwrap().to_owned();
        let cashier = t.app.start_self_pay(&order_no).await.unwrap();
        TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
        t.app.resolve_payment(&order_no).await.unwrap();
        t.drain_jobs().await;
        let page = get(format!("/card?patient={zhang}")).await;
        assert!(page.contains("id=\"card-barcode\" src=\"data:image/svg+xml;utf8,") && page.contains("id=\"card-qr\""), "{page}");
        let trades = page.split("id=\"card-trades\"").nth(1).expect("a transaction list");
        assert!(trades.contains("充值") && trades.contains("+¥200.00"), "{trades}");
        // 黄强's stay deposit is posted against his card.
        let page = get(format!("/card?patient={huang}")).await;
        let trades = page.split("id=\"card-trades\"").nth(1).expect("a transaction list");
        assert!(trades.contains("住院押金") && trades.contains("+¥2000.00") && trades.contains("窗口现金"), "{trades}");
        // A plastic card: someone else's number is refused, his own is bound and shown.
        let his_zhang = t.store.patient_by_id(zhang).await.unwrap().unwrap().his_patient_id;
        let bind = |no: String| {
            let (url, cookie, base) = (t.url("/card/bind"), cookie.clone(), t.base.clone());
            async move {
                let r = TestApp::http().post(url).header("cookie", cookie).header("origin", base).form(&[("patient_id", zhang.to_string()), ("card_no", no)]).send().await.unwrap();
                testkit::location(r.headers())
            }
        };
        let his_huang = t.store.patient_by_id(huang).await.unwrap().unwrap().his_patient_id;
        assert!(bind(sim::demo::physical_card_no(&his_huang)).await.ends_with("error=CARD_NOT_THEIRS"));
        assert!(bind("12 34".into()).await.ends_with("error=VALIDATION_FAILED"));
        let own = sim::demo::physical_card_no(&his_zhang);
        assert_eq!(bind(own.clone()).await, format!("/card?patient={zhang}"));
        let page = get(format!("/card?patient={zhang}")).await;
        assert!(page.contains("已绑定实体卡") && page.contains(&format!("id=\"card-no\">{own}")) && !page.contains("id=\"bind-card\""), "{page}");
        assert!(page.contains("+¥200.00"), "the balance and records stay with the person");
    }
}

on_both_backends! {
    async fn two_accounts_managing_one_inpatient_are_each_told_once_with_their_own_link(backend) {
        let t = TestApp::spawn_opts(backend, std::sync::Arc::new(domain::SystemClock), false, |_| {}).await;
        // 吴秀英 is managed by her son 张伟 and by 王芳, each from their own account.
        let (_, son) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let (_, other) = t.wechat_sign_in("oDemo_wangfang_0003").await;
        let rows = [t.add_demo_patient(&son, "吴秀英", "parent").await, t.add_demo_patient(&other, "吴秀英", "other").await];
        let q = |scene: &str, p: i64| store::messages::MessageQuery { scene: Some(scene.into()), patient_id: Some(p), limit: 10, ..Default::default() };
        // Her balance is low: one event for her, one notice for each account.
        assert_eq!(t.app.scan_low_deposits().await.unwrap(), 1, "one event per person, not per 就诊人 row");
        t.drain_jobs().await;
        for p in rows {
            let m = t.store.search_messages(&q("deposit.low", p)).await.unwrap();
            assert_eq!(m.len(), 1, "row {p}: {m:?}");
            assert_eq!(m[0].link, format!("/inpatient?patient={p}#top-up"), "each account's link names its own 就诊人");
            assert!(m[0].body.starts_with("吴**您好"), "addressed by the masked name: {}", m[0].body);
        }
        // 封账: 出院结算提醒 once to each.
        let nurse = t.staff_sign_in("nurse01").await;
        let his = t.store.patient_by_id(rows[0]).await.unwrap().unwrap().his_patient_id;
        let stay = t.his_port.inpatient_stay(&his).await.unwrap().unwrap();
        let form = [("his_patient_id", his.clone()), ("name", "吴秀英".into()), ("inpatient_no", stay.inpatient_no.clone()), ("confirmed", "1".into())];
        let r = TestApp::http().post(t.url("/staff/ward/close")).header("cookie", &nurse).header("origin", &t.base).form(&form).send().await.unwrap();
        assert_eq!(testkit::location(r.headers()), "/staff/ward?done=1");
        t.drain_jobs().await;
        for (p, cookie) in rows.into_iter().zip([&son, &other]) {
            let m = t.store.search_messages(&q("discharge.prompt", p)).await.unwrap();
            assert_eq!(m.len(), 1, "row {p}");
            assert_eq!(m[0].link, format!("/inpatient/discharge?patient={p}"));
            let page = TestApp::http().get(t.url(&m[0].link)).header("cookie", cookie).send().await.unwrap();
            assert_eq!(page.status(), 200, "the link opens for its account");
        }
    }
}
