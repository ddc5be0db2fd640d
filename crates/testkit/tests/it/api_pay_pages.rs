//! The money pages and API over HTTP on both backends: an order is only ever reached
//! through one's own patients (IDOR), payment steps that fail come back with a stable
//! code, idempotency keys replay byte for byte (P3), and the finance routes are gated by
//! role and refunds by a fresh second factor (S6).
use testkit::{TestApp, location, on_both_backends};

/// Signs `openid` in and adds the demo citizen `name` as the account's own patient.
async fn patient(t: &TestApp, openid: &str, name: &str) -> (String, i64) {
    let (_, cookie) = t.wechat_sign_in(openid).await;
    let c = sim::demo::citizens(t.app.today()).into_iter().find(|x| x.name == name).unwrap();
    let r = TestApp::http()
        .post(t.url("/api/v1/me/patients"))
        .header("cookie", &cookie)
        .json(&serde_json::json!({"name": c.name, "id_card_no": c.id_card_no, "relationship": "self"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
    let id = r.json::<serde_json::Value>().await.unwrap()["id"].as_i64().unwrap();
    (cookie, id)
}

async fn first_recipe(t: &TestApp, account_cookie: &str) -> String {
    let page = TestApp::http().get(t.url("/bills")).header("cookie", account_cookie).send().await.unwrap().text().await.unwrap();
    let at = page.find("data-recipe=\"").expect("a bill") + "data-recipe=\"".len();
    page[at..].split('"').next().unwrap().to_owned()
}

on_both_backends! {
    async fn orders_are_reachable_only_through_ones_own_patients(backend) {
        let t = TestApp::spawn(backend).await;
        let (zhang, zid) = patient(&t, "oDemo_zhangwei_0001", "张伟").await;
        let (lina, _) = patient(&t, "oDemo_lina_0002", "李娜").await;
        let recipe = first_recipe(&t, &zhang).await;
        // 张伟 opens an order for his bill; the same request again gives the same order.
        let create = |cookie: String, key: &'static str, recipe: String| {
            let url = t.url("/api/v1/me/orders");
            async move {
                TestApp::http().post(url).header("cookie", cookie).header("idempotency-key", key)
                    .json(&serde_json::json!({"patient_id": zid, "recipe_id": recipe})).send().await.unwrap()
            }
        };
        let r = create(zhang.clone(), "k-1", recipe.clone()).await;
        assert_eq!(r.status(), 201);
        let first = r.text().await.unwrap();
        let r = create(zhang.clone(), "k-1", recipe.clone()).await;
        assert_eq!(r.headers().get("idempotent-replayed").unwrap(), "true");
        assert_eq!(r.text().await.unwrap(), first, "replayed byte for byte (P3)");
        let r = create(zhang.clone(), "k-1", "RX-OTHER".into()).await;
        assert_eq!(r.status(), 422);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "IDEMPOTENCY_KEY_REUSED");
        let no = serde_json::from_str::<serde_json::Value>(&first).unwrap()["order_no"].as_str().unwrap().to_owned();
        // 李娜 cannot see, pay or even confirm the existence of 张伟's order, nor use his patient.
        for path in [format!("/pay/{no}"), format!("/pay/{no}/result"), format!("/api/v1/me/orders/{no}")] {
            let r = TestApp::http().get(t.url(&path)).header("cookie", &lina).send().await.unwrap();
            assert_eq!(r.status(), 404, "{path}");
        }
        let r = TestApp::http().post(t.url(&format!("/pay/{no}/method"))).header("cookie", &lina).form(&[("method", "self_pay")]).send().await.unwrap();
        assert_eq!(r.status(), 404);
        let r = create(lina.clone(), "k-2", recipe.clone()).await;
        assert_eq!(r.status(), 404, "another account's patient");
        assert!(t.store.attempt(&no, "ccb").await.unwrap().is_none(), "no payment was opened");
        // His own view works; an unknown method comes back with a stable code.
        let r = TestApp::http().get(t.url(&format!("/api/v1/me/orders/{no}"))).header("cookie", &zhang).send().await.unwrap();
        let o: serde_json::Value = r.json().await.unwrap();
        assert_eq!((o["state"].as_str(), o["outcome"].as_str(), o["total"].as_i64()), (Some("created"), Some("pending"), Some(11_860)));
        let r = TestApp::http().post(t.url(&format!("/pay/{no}/method"))).header("cookie", &zhang).form(&[("method", "bitcoin")]).send().await.unwrap();
        assert_eq!(location(r.headers()), format!("/pay/{no}?error=VALIDATION_FAILED"));
        let r = TestApp::http().get(t.url(&format!("/pay/{no}?error=VALIDATION_FAILED"))).header("cookie", &zhang).send().await.unwrap();
        assert!(r.text().await.unwrap().contains("填写的信息有误"));
        // Declining the 医保 authorisation, or a forged return, changes nothing.
        let r = TestApp::http().get(t.url(&format!("/pay/{no}/insurance-auth?error=denied&state=x"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(location(r.headers()), format!("/pay/{no}?error=INSURANCE_AUTH_FAILED"));
        let r = TestApp::http().get(t.url(&format!("/pay/{no}/insurance-auth?authCode=abc&state=forged"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(location(r.headers()), format!("/pay/{no}?error=INSURANCE_AUTH_FAILED"));
        // Self-pay through the API, twice with one key: one bank payment, the same cashier.
        let pay = |key: &'static str, body: serde_json::Value| {
            let (url, cookie) = (t.url(&format!("/api/v1/me/orders/{no}/pay")), zhang.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).header("idempotency-key", key).json(&body).send().await.unwrap() }
        };
        let a = pay("p-1", serde_json::json!({"method": "self_pay"})).await.text().await.unwrap();
        let b = pay("p-1", serde_json::json!({"method": "self_pay"})).await.text().await.unwrap();
        assert_eq!(a, b);
        assert!(a.contains("/cashier/"), "{a}");
        // Once the bank payment is open the method is locked.
        let r = pay("p-2", serde_json::json!({"method": "insurance"})).await;
        assert_eq!(r.status(), 409);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "PAYMENT_METHOD_LOCKED");
        assert_eq!(t.store.order(&no).await.unwrap().0.state, domain::billing::OrderState::Paying);
    }
}

on_both_backends! {
    async fn finance_routes_need_the_role_and_refunds_a_fresh_code(backend) {
        let t = TestApp::spawn(backend).await;
        let actor = app::Actor::system("test");
        let line = domain::billing::OrderLine { code: "REG".into(), name: "挂号费".into(), qty: 1, unit_price: domain::Fen(2_500), amount: domain::Fen(2_500), insurable: true };
        let o = t.app.create_self_pay_order(None, domain::billing::Purpose::Registration, vec![line], &actor).await.unwrap();
        TestApp::http().post(format!("{}/pay", o.cashier_url)).send().await.unwrap();
        for _ in 0..100 {
            if t.store.order(&o.order_no).await.unwrap().0.state == domain::billing::OrderState::Fulfilled { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let nurse = t.staff_sign_in("nurse01").await;
        for path in ["/staff/finance/orders".to_owned(), format!("/staff/finance/orders/{}", o.order_no)] {
            assert_eq!(TestApp::http().get(t.url(&path)).header("cookie", &nurse).send().await.unwrap().status(), 403, "{path}");
        }
        let finance = t.staff_sign_in("finance01").await;
        let list = TestApp::http().get(t.url("/staff/finance/orders?state=fulfilled")).header("cookie", &finance).send().await.unwrap().text().await.unwrap();
        assert!(list.contains(&o.order_no));
        let list = TestApp::http().get(t.url("/staff/finance/orders?from=yesterday")).header("cookie", &finance).send().await.unwrap().text().await.unwrap();
        assert!(list.contains("日期格式"));
        let story = TestApp::http().get(t.url(&format!("/staff/finance/orders/{}", o.order_no))).header("cookie", &finance).send().await.unwrap().text().await.unwrap();
        assert!(story.contains("SUCCESS=Y") && story.contains("clearing:bank") && story.contains("order.create"), "raw callback, ledger and audit shown");
        assert_eq!(t.store.audit_count(Some("finance.order_view")).await.unwrap(), 1, "viewing the story is audited");
        let post = |form: Vec<(&'static str, String)>| {
            let (url, cookie) = (t.url(&format!("/staff/finance/orders/{}/refund", o.order_no)), finance.clone());
            async move { TestApp::http().post(url).header("cookie", cookie).form(&form).send().await.unwrap() }
        };
        let refund = |form: Vec<(&'static str, String)>| {
            let r = post(form);
            async move { location(r.await.headers()) }
        };
        // First the amounts: a page naming them per channel, asking for the code; nothing refunded yet.
        let ask = post(vec![("self_pay", "10.00".into()), ("reason", "退号".into())]).await;
        assert_eq!(ask.status(), 200);
        let page = ask.text().await.unwrap();
        assert!(page.contains("退回原银行卡/微信") && page.contains("¥10.00") && page.contains("name=\"confirmed\"") && page.contains("name=\"otp\""), "{page}");
        // A wrong code shows that page again, the amount and reason kept.
        let wrong = post(vec![("self_pay", "10.00".into()), ("reason", "退号".into()), ("otp", "000000".into()), ("confirmed", "1".into())]).await;
        assert_eq!(wrong.status(), 200);
        let page = wrong.text().await.unwrap();
        assert!(page.contains("动态验证码错误") && page.contains("value=\"10.00\"") && page.contains("value=\"退号\""), "{page}");
        let bad_amount = refund(vec![("self_pay", "ten".into()), ("reason", "退号".into()), ("otp", "000000".into())]).await;
        assert!(bad_amount.ends_with("error=VALIDATION_FAILED"), "{bad_amount}");
        let too_much = refund(vec![("self_pay", "100000.00".into()), ("reason", "退号".into())]).await;
        assert!(too_much.ends_with("error=REFUND_EXCEEDS_CAPTURED"), "{too_much}");
        // The code used to sign in is not fresh.
        let c = t.demo_credentials.iter().find(|c| c.username == "finance01").unwrap();
        let code = crypto::totp::code_at(&crypto::totp::base32_decode(&c.totp_secret).unwrap(), t.app.now().timestamp());
        let reused = post(vec![("self_pay", "10.00".into()), ("reason", "退号".into()), ("otp", code), ("confirmed", "1".into())]).await;
        assert!(reused.text().await.unwrap().contains("动态验证码错误或已使用"), "the sign-in code is not a fresh one");
        assert_eq!(t.store.order(&o.order_no).await.unwrap().0.state, domain::billing::OrderState::Fulfilled, "nothing refunded");
        assert!(t.store.audit_count(Some("staff.step_up_failed")).await.unwrap() >= 1);
    }
}

on_both_backends! {
    async fn a_paid_bill_the_his_refuses_is_refunded_automatically(backend) {
        let t = TestApp::spawn(backend).await;
        let (zhang, zid) = patient(&t, "oDemo_zhangwei_0001", "张伟").await;
        let recipe = first_recipe(&t, &zhang).await;
        let actor = app::Actor::system("test");
        let no = t.app.order_for_bill(1, zid, &recipe, &actor).await.unwrap();
        let cashier = t.app.start_self_pay(&no).await.unwrap();
        // Meanwhile the bill is paid at the window: the HIS will refuse our settlement.
        let me = t.store.patient_summary(1, zid).await.unwrap();
        let pre = t.his_port.pre_settle(&me.his_patient_id, std::slice::from_ref(&recipe), None).await.unwrap();
        t.his_port.settle(&pre.pre_settle_id, "WINDOW-1", pre.self_pay).await.unwrap();
        TestApp::http().post(format!("{cashier}/pay")).send().await.unwrap();
        // The refund can land before the worker that refused the bill writes its audit row
        // (the row follows the event): wait for both.
        for _ in 0..150 {
            let refunded = t.store.order(&no).await.unwrap().0.state == domain::billing::OrderState::Refunded;
            if refunded && t.store.audit_count(Some("order.fulfilment_failed")).await.unwrap() == 1 { break; }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        let (o, _) = t.store.order(&no).await.unwrap();
        assert_eq!(o.state, domain::billing::OrderState::Refunded, "money is never held without a service (P6)");
        let bank = t.bank().query(&no).await.unwrap().unwrap();
        assert_eq!(bank.refunded, bank.amount, "refunded in full at the bank");
        assert_eq!(t.store.audit_count(Some("order.fulfilment_failed")).await.unwrap(), 1);
        // The patient sees it under "my payments" as refunded.
        let page = TestApp::http().get(t.url("/payments")).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("已退款"), "{page}");
        // Finance finds it by the patient's 病案号, in orders and in the ledger.
        let finance = t.staff_sign_in("finance01").await;
        let get = |q: String| { let (u, c) = (t.url(&q), finance.clone()); async move { TestApp::http().get(u).header("cookie", c).send().await.unwrap().text().await.unwrap() } };
        assert!(get(format!("/staff/finance/orders?mr_no={}", me.mr_no)).await.contains(&no));
        assert!(!get("/staff/finance/orders?mr_no=NOBODY".into()).await.contains(&no));
        assert!(get(format!("/staff/finance/ledger?mr_no={}", me.mr_no)).await.contains(&no));
        assert!(!get("/staff/finance/ledger?mr_no=NOBODY".into()).await.contains(&no));
    }
}

on_both_backends! {
    async fn paying_needs_a_recent_sign_in(backend) {
        let clock = domain::FakeClock::new(chrono::Utc::now());
        let t = TestApp::spawn_with(backend, std::sync::Arc::new(clock.clone()), |_| {}).await;
        let (zhang, zid) = patient(&t, "oDemo_zhangwei_0001", "张伟").await;
        let recipe = first_recipe(&t, &zhang).await;
        let r = TestApp::http().post(t.url("/api/v1/me/orders")).header("cookie", &zhang).json(&serde_json::json!({"patient_id": zid, "recipe_id": recipe})).send().await.unwrap();
        let no = r.json::<serde_json::Value>().await.unwrap()["order_no"].as_str().unwrap().to_owned();
        // Eleven minutes later the session is still open, but too old to move money (S6).
        clock.advance(chrono::Duration::minutes(11));
        let r = TestApp::http().post(t.url(&format!("/pay/{no}/method"))).header("cookie", &zhang).form(&[("method", "self_pay")]).send().await.unwrap();
        assert_eq!(location(r.headers()), format!("/wx/login?next=%2Fpay%2F{no}"), "signed in again, then back to the order");
        let r = TestApp::http().post(t.url(&format!("/api/v1/me/orders/{no}/pay"))).header("cookie", &zhang).json(&serde_json::json!({"method": "self_pay"})).send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.json::<serde_json::Value>().await.unwrap()["code"], "REAUTH_REQUIRED");
        assert!(t.store.attempt(&no, "ccb").await.unwrap().is_none(), "no payment opened");
        // Viewing is still fine; after signing in again paying is too.
        assert_eq!(TestApp::http().get(t.url(&format!("/pay/{no}"))).header("cookie", &zhang).send().await.unwrap().status(), 200);
        let (_, fresh) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let r = TestApp::http().post(t.url(&format!("/pay/{no}/method"))).header("cookie", &fresh).form(&[("method", "self_pay")]).send().await.unwrap();
        assert!(location(r.headers()).contains("/cashier/"), "{:?}", r.headers());
    }
}
