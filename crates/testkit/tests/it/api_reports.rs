//! Reports (RPT-1/2) end to end on both backends, against the LIS/PACS simulator over
//! real HTTP: an order moves 待检测 → 检测中 → (doctor's release) → 已完成 with the
//! new-report notice; events lost, repeated and out of order still end in the LIS's
//! state; the lab's one-click 标本异常 tells the patient once; files that are not what
//! they claim are refused and the hospital's own PDF (Chinese, verifiable QR) stands
//! in; only the patient or guardian sees a report, and every view is audited.
use chrono::{TimeZone, Utc};
use gateways::messages::open_api::OpenApiClient;
use reqwest::Method;
use serde_json::{Value, json};
use testkit::{TestApp, on_both_backends};

const ZHANG: &str = "oDemo_zhangwei_0001";

async fn spawn(backend: testkit::TestBackend) -> (TestApp, domain::FakeClock) {
    TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 11, 26, 2, 0, 0).unwrap()).await
}

/// Signs 张伟 in, adds him; returns (cookie, account id, his patient id).
async fn zhang(t: &TestApp) -> (String, i64, String) {
    let (_, cookie) = t.wechat_sign_in(ZHANG).await;
    let pid = t.add_demo_patient(&cookie, "张伟", "self").await;
    let his = t.store.patient_by_id(pid).await.unwrap().unwrap().his_patient_id;
    let account = t.store.wechat_account_id(ZHANG).await.unwrap().unwrap();
    (cookie, account, his)
}

async fn lis_events(t: &TestApp) -> usize {
    t.store.recent_lab_events(1000).await.unwrap().len()
}

/// Waits until the LIS simulator's pushes have reached us (they are sent in the
/// background), then runs the jobs they queued.
async fn settle(t: &TestApp, events: usize) {
    for _ in 0..200 {
        if lis_events(t).await >= events {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    assert!(lis_events(t).await >= events, "expected {events} LIS events");
    t.drain_jobs().await;
}

/// A test paid at the window: a new LIS order for the patient; returns its number.
async fn new_order(t: &TestApp, his: &str, item_code: &str) -> String {
    let r = TestApp::http().post(format!("{}/__sim/lis/orders", t.his_url)).json(&json!({"patient_id": his, "item_code": item_code})).send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.json::<Value>().await.unwrap()["orderNo"].as_str().unwrap().to_owned()
}

async fn lis(t: &TestApp, order_no: &str, action: &str, files: &str) -> Value {
    let r = TestApp::http().post(format!("{}/__sim/lis/orders/{order_no}/{action}?files={files}", t.his_url)).send().await.unwrap();
    assert_eq!(r.status(), 200, "{action}");
    r.json().await.unwrap()
}

async fn get(t: &TestApp, cookie: &str, path: &str) -> reqwest::Response {
    TestApp::http().get(t.url(path)).header("cookie", cookie).send().await.unwrap()
}

async fn report(t: &TestApp, cookie: &str, order_no: &str) -> Value {
    let r = get(t, cookie, &format!("/api/v1/me/reports/{order_no}")).await;
    let status = r.status();
    let v: Value = r.json().await.unwrap();
    assert_eq!(status, 200, "{v}");
    v
}

/// A console action, confirmed (the first, unconfirmed post only shows what it would do).
async fn staff_post(t: &TestApp, staff: &str, path: &str, form: &[(&str, &str)]) -> String {
    let mut form = form.to_vec();
    form.push(("confirmed", "1"));
    let r = TestApp::http().post(t.url(path)).header("cookie", staff).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 303, "{path}");
    testkit::location(r.headers())
}

async fn messages(t: &TestApp, account: i64, scene: &str) -> Vec<store::messages::MessageRow> {
    t.store.inbox(account, None, 100).await.unwrap().into_iter().filter(|m| m.scene == scene).collect()
}

async fn audits(t: &TestApp, actor: &str, action: &str) -> usize {
    let now = t.app.now();
    t.store.audit_by_actor(actor, now - chrono::Duration::days(1), now + chrono::Duration::days(1)).await.unwrap().iter().filter(|a| a.action == action).count()
}

on_both_backends! {
    async fn a_test_moves_from_pending_to_a_released_report_the_patient_can_save(backend) {
        let (t, clock) = spawn(backend).await;
        let (cookie, account, his) = zhang(&t).await;

        // The seeded history shows every state, each with what to do next.
        let list: Vec<Value> = get(&t, &cookie, "/api/v1/me/reports").await.json().await.unwrap();
        let states: Vec<&str> = list.iter().map(|r| r["state"].as_str().unwrap()).collect();
        for s in ["pending", "in_progress", "abnormal"] {
            assert!(states.contains(&s), "{s} in {states:?}");
        }
        assert!(list.iter().all(|r| !r["guidance"].as_str().unwrap().is_empty()));
        let abnormal = list.iter().find(|r| r["state"] == "abnormal").unwrap();
        assert!(abnormal["guidance"].as_str().unwrap().contains("标本量不足"), "{abnormal}");

        // A new blood count, paid at the window: 待检测 with where to go.
        let before = lis_events(&t).await;
        let no = new_order(&t, &his, "250101001").await;
        settle(&t, before + 1).await;
        let r = report(&t, &cookie, &no).await;
        assert_eq!((r["state"].as_str(), r["state_label"].as_str()), (Some("pending"), Some("待检测")));
        assert!(r["guidance"].as_str().unwrap().contains("检验科采血处"), "{r}");

        // Sampled: 检测中, with the expected time from the hematology turnaround (60 min).
        clock.advance(chrono::Duration::minutes(10));
        lis(&t, &no, "sample", "pdf").await;
        settle(&t, before + 2).await;
        let r = report(&t, &cookie, &no).await;
        assert_eq!(r["state"], "in_progress");
        assert_eq!(r["expected_at"], "2026-11-26 11:10", "sampled 10:10 + 60 min");

        // Reported by the LIS: still 检测中 until the reviewing doctor releases it; nothing to open.
        clock.advance(chrono::Duration::minutes(20));
        lis(&t, &no, "report", "pdf").await;
        settle(&t, before + 3).await;
        let r = report(&t, &cookie, &no).await;
        assert_eq!(r["state"], "in_progress");
        assert!(r["guidance"].as_str().unwrap().contains("审核"), "{r}");
        assert!(r["results"].as_array().unwrap().is_empty() && r["files"].as_array().unwrap().is_empty());
        assert!(messages(&t, account, "report.ready").await.is_empty(), "no notice before release");

        // The doctor releases it from the lab console: 已完成, and the notice opens the report.
        let doctor = t.staff_sign_in("doctor01").await;
        let to = staff_post(&t, &doctor, &format!("/staff/lab/{no}/release"), &[]).await;
        assert!(to.contains("done="), "{to}");
        t.drain_jobs().await;
        let ready = messages(&t, account, "report.ready").await;
        assert_eq!(ready.len(), 1);
        assert_eq!(ready[0].link, format!("/reports/{no}"));
        assert_eq!(ready[0].status, "sent");
        let r = report(&t, &cookie, &no).await;
        assert_eq!(r["state"], "completed");
        let wbc = r["results"].as_array().unwrap().iter().find(|i| i["name"] == "白细胞计数").unwrap().clone();
        assert_eq!((wbc["value"].as_str(), wbc["arrow"].as_str()), (Some("11.2"), Some("↑")));
        let files = r["files"].as_array().unwrap();
        assert_eq!(files.len(), 1, "the LIS's PDF: {files:?}");
        assert_eq!(files[0]["generated"], false);
        assert!(files[0]["pages"].as_i64().unwrap() >= 1);

        // The PDF is saved as a file, never sniffed; its first page shows as an image.
        let d = get(&t, &cookie, files[0]["download_url"].as_str().unwrap()).await;
        assert_eq!(d.status(), 200);
        assert_eq!(d.headers()["content-type"], "application/pdf");
        assert!(d.headers()["content-disposition"].to_str().unwrap().starts_with("attachment;"));
        assert_eq!(d.headers()["x-content-type-options"], "nosniff");
        let lis_pdf = d.bytes().await.unwrap().to_vec();
        assert!(lis_pdf.starts_with(b"%PDF-"));
        // The LIS's own form carries the hospital's verification code (the LIS has the key),
        // and that code verifies on the hospital's page its QR leads to.
        let code = t.app.report_verify_code(&r_no(&t, &no).await);
        assert!(pdftotext(&lis_pdf).contains(&code), "the LIS form prints {code}");
        assert!(get(&t, "", &format!("/verify/report/{code}")).await.text().await.unwrap().contains("本报告真实有效"));
        let p = get(&t, &cookie, files[0]["view_urls"][0].as_str().unwrap()).await;
        assert_eq!((p.status().as_u16(), p.headers()["content-type"].to_str().unwrap()), (200, "image/png"));
        assert!(p.bytes().await.unwrap().starts_with(b"\x89PNG"));

        // Stored sealed: the file store holds no PDF in the clear.
        let stored: Vec<_> = walk(&t.data_dir.join("files"));
        assert!(!stored.is_empty());
        for f in &stored {
            let bytes = std::fs::read(f).unwrap();
            assert!(!bytes.windows(5).any(|w| w == b"%PDF-") && !bytes.windows(4).any(|w| w == b"\x89PNG"), "{f:?} is not sealed");
        }

        // Every view and download audited (S10): one detail view per GET above once visible, one download, one page.
        let actor = format!("patient_account:{account}");
        assert_eq!(audits(&t, &actor, "report.view").await, 1);
        assert_eq!(audits(&t, &actor, "report.download").await, 1);
        assert_eq!(audits(&t, &actor, "report.page_view").await, 1);

        // Someone else's account sees nothing of it (S3).
        let (_, other) = t.wechat_sign_in("oDemo_lina_0002").await;
        t.add_demo_patient(&other, "李娜", "self").await;
        let r = get(&t, &other, &format!("/api/v1/me/reports/{no}")).await;
        assert_eq!(r.status(), 404);
        assert_eq!(r.json::<Value>().await.unwrap()["code"], "REPORT_NOT_FOUND");
        assert_eq!(get(&t, &other, files[0]["download_url"].as_str().unwrap()).await.status(), 404);
        assert!(!get(&t, &other, "/api/v1/me/reports").await.json::<Vec<Value>>().await.unwrap().iter().any(|r| r["order_no"] == no.as_str()));

        // Withdrawn after release: hidden at once, the patient told, the QR says so.
        let report_no = r_no(&t, &no).await;
        let code = t.app.report_verify_code(&report_no);
        assert!(get(&t, "", &format!("/verify/report/{code}")).await.text().await.unwrap().contains("本报告真实有效"));
        lis(&t, &no, "withdraw", "pdf").await;
        settle(&t, before + 4).await;
        let r = report(&t, &cookie, &no).await;
        assert_eq!(r["state"], "in_progress");
        assert!(r["guidance"].as_str().unwrap().contains("复核更正"));
        assert!(r["files"].as_array().unwrap().is_empty() && r["results"].as_array().unwrap().is_empty());
        assert_eq!(get(&t, &cookie, files[0]["download_url"].as_str().unwrap()).await.status(), 404, "a withdrawn report's file is gone");
        assert_eq!(messages(&t, account, "report.withdrawn").await.len(), 1);
        assert!(get(&t, "", &format!("/verify/report/{code}")).await.text().await.unwrap().contains("已撤回"));
        assert_eq!(get(&t, "", &format!("/verify/report/{report_no}-000000000000")).await.status(), 404, "a forged code verifies nothing");

        // Reissued: a new version, hidden again until released again.
        lis(&t, &no, "report", "pdf").await;
        settle(&t, before + 5).await;
        assert_eq!(report(&t, &cookie, &no).await["state"], "in_progress");
        staff_post(&t, &doctor, &format!("/staff/lab/{no}/release"), &[]).await;
        t.drain_jobs().await;
        assert_eq!(report(&t, &cookie, &no).await["state"], "completed");
        assert_eq!(messages(&t, account, "report.ready").await.len(), 2, "one notice per version");
        let to = staff_post(&t, &doctor, &format!("/staff/lab/{no}/release"), &[]).await;
        assert!(to.contains("error=REPORT_NOT_RELEASABLE"), "released twice: {to}");
    }
}

on_both_backends! {
    async fn lost_repeated_and_late_events_still_end_in_the_lis_state(backend) {
        let (t, _) = spawn(backend).await;
        let (cookie, account, his) = zhang(&t).await;
        let before = lis_events(&t).await;
        let no = new_order(&t, &his, "250301001").await;
        settle(&t, before + 1).await;
        let r = TestApp::http().post(format!("{}/__sim/lis/push-faults", t.his_url)).json(&json!({"drop_next": 2})).send().await.unwrap();
        assert_eq!(r.status(), 204);
        lis(&t, &no, "sample", "pdf").await;
        lis(&t, &no, "report", "none").await;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        t.drain_jobs().await;
        assert_eq!(lis_events(&t).await, before + 1, "both pushes were lost");
        assert_eq!(t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap().snapshot.status, domain::reports::LabStatus::Ordered);
        // The poll brings the LIS's state.
        assert!(t.app.poll_lab_orders().await.unwrap() >= 1);
        t.drain_jobs().await;
        let held = t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap();
        assert_eq!((held.snapshot.status, held.snapshot.revision), (domain::reports::LabStatus::Reported, 3));
        assert_eq!(held.files_version, Some(1), "files ingested after the poll");

        // Late and repeated events: a stale revision changes nothing; a repeat queues nothing new.
        let c = OpenApiClient::new(&t.base, sim::his::DEMO_PUSH_KEY_ID, sim::his::DEMO_PUSH_SECRET, std::time::Duration::from_secs(5));
        let send = |body: Value| {
            let c = &c;
            let now = t.app.now().timestamp();
            async move {
                let r = c.request(Method::POST, "/open/v1/lab-events", Some(&body), now).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            }
        };
        for rev in [2, 1, 3, 3] {
            let (status, v) = send(json!({"orderNo": no, "patientId": his, "revision": rev, "status": "sampled"})).await;
            assert_eq!((status, v["outcome"].as_str()), (202, Some("stale")), "revision {rev}");
        }
        t.drain_jobs().await;
        assert_eq!(t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap().snapshot.revision, 3);
        // An event ahead of what we hold (the LIS says 4) is fetched; the LIS's truth (3) wins.
        let (status, v) = send(json!({"orderNo": no, "patientId": his, "revision": 4, "status": "withdrawn"})).await;
        assert_eq!((status, v["outcome"].as_str()), (202, Some("queued")));
        t.drain_jobs().await;
        assert_eq!(t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap().snapshot.status, domain::reports::LabStatus::Reported);

        // Duplicated pushes of a real change: applied once, announced once.
        let doctor = t.staff_sign_in("lab01").await;
        let to = staff_post(&t, &doctor, &format!("/staff/lab/{no}/release"), &[]).await;
        assert!(to.contains("done="), "{to}");
        t.drain_jobs().await;
        let all: Vec<(String, String)> = t.store.inbox(account, None, 100).await.unwrap().into_iter().map(|m| (m.scene, m.status)).collect();
        let held = t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap();
        assert_eq!(messages(&t, account, "report.ready").await.len(), 1, "{all:?} {:?} {:?}", held.release, held.announced_version);
        let n = lis_events(&t).await;
        TestApp::http().post(format!("{}/__sim/lis/push-faults", t.his_url)).json(&json!({"duplicate_next": 1})).send().await.unwrap();
        lis(&t, &no, "withdraw", "pdf").await;
        settle(&t, n + 2).await;
        assert_eq!(messages(&t, account, "report.withdrawn").await.len(), 1);
        assert_eq!(report(&t, &cookie, &no).await["state"], "in_progress");

        // Bad events: an order nobody knows, a status that does not exist, a bad signature.
        let (status, v) = send(json!({"orderNo": "LO999999", "patientId": his, "revision": 1, "status": "sampled"})).await;
        assert_eq!((status, v["code"].as_str()), (404, Some("LAB_ORDER_UNKNOWN")));
        assert!(v["hint"].as_str().unwrap().contains("orderNo"));
        let (status, v) = send(json!({"orderNo": no, "patientId": his, "revision": 9, "status": "eaten"})).await;
        assert_eq!((status, v["code"].as_str()), (422, Some("VALIDATION_FAILED")));
        let forged = OpenApiClient::new(&t.base, sim::his::DEMO_PUSH_KEY_ID, "not-the-secret", std::time::Duration::from_secs(5));
        let r = forged.request(Method::POST, "/open/v1/lab-events", Some(&json!({"orderNo": no, "patientId": his, "revision": 9, "status": "sampled"})), t.app.now().timestamp()).send().await.unwrap();
        assert_eq!(r.status(), 401);
        let outcomes: Vec<String> = t.store.recent_lab_events(100).await.unwrap().into_iter().map(|e| e.outcome).collect();
        assert!(outcomes.contains(&"unknown_order".to_owned()), "the unknown order is kept on record: {outcomes:?}");
    }
}

on_both_backends! {
    async fn the_lab_marks_a_specimen_abnormal_and_the_patient_is_told_once(backend) {
        let (t, _) = spawn(backend).await;
        let (cookie, account, his) = zhang(&t).await;
        let before = lis_events(&t).await;
        let no = new_order(&t, &his, "250101001").await;
        settle(&t, before + 1).await;
        let lab = t.staff_sign_in("lab01").await;
        // Not sampled yet: nothing to reject.
        let form = [("reason", "标本溶血"), ("instruction", "请于今天16:30前到门诊楼1层检验科B区3号窗口重新采血，无需再次缴费。")];
        let to = staff_post(&t, &lab, &format!("/staff/lab/{no}/reject"), &form).await;
        assert!(to.contains("error=SPECIMEN_NOT_REJECTABLE"), "{to}");
        lis(&t, &no, "sample", "pdf").await;
        settle(&t, before + 2).await;
        let page = get(&t, &lab, "/staff/lab").await.text().await.unwrap();
        assert!(page.contains(&no) && page.contains("标记异常并通知"));
        assert_eq!(t.store.audit_count(Some("lab.console.view")).await.unwrap(), 1, "the console's list is an audited read");
        // Asked first, naming the reason and what the patient will be told; nothing changes.
        let ask = TestApp::http().post(t.url(&format!("/staff/lab/{no}/reject"))).header("cookie", &lab).form(&form).send().await.unwrap();
        assert_eq!(ask.status(), 200);
        let page = ask.text().await.unwrap();
        assert!(page.contains("name=\"confirmed\"") && page.contains("标本溶血") && page.contains("B区3号窗口"), "{page}");
        assert_eq!(t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap().snapshot.status, domain::reports::LabStatus::Sampled);
        let to = staff_post(&t, &lab, &format!("/staff/lab/{no}/reject"), &form).await;
        assert!(to.contains("done="), "{to}");
        t.drain_jobs().await;
        let told = messages(&t, account, "specimen.abnormal").await;
        assert_eq!(told.len(), 1);
        assert!(told[0].body.contains("标本溶血") && told[0].body.contains("B区3号窗口"), "{}", told[0].body);
        assert!(!told[0].body.contains("标本标本"), "no doubled word: {}", told[0].body);
        assert_eq!(told[0].status, "sent");
        // The instruction is longer than WeChat's 20 characters: the card keeps its start and
        // opens the message's page, which has all of it and links on to the report.
        let card = t.wechat_sent().into_iter().find(|m| m.template_id.contains("SPECIMEN")).expect("a WeChat card");
        let instruction = &card.data.iter().find(|(k, _)| k == "thing3").unwrap().1;
        assert!(instruction.ends_with('…') && instruction.chars().count() <= 20, "{instruction}");
        assert!(card.url.ends_with(&format!("/messages/{}", told[0].message_no)), "{}", card.url);
        let page = TestApp::http().get(t.url(&format!("/messages/{}", told[0].message_no))).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("B区3号窗口重新采血") && page.contains(&format!("href=\"/reports/{no}\"")), "{page}");
        let r = report(&t, &cookie, &no).await;
        assert_eq!((r["state"].as_str(), r["state_label"].as_str()), (Some("abnormal"), Some("异常")));
        // A second click: a clear answer, no second notice.
        let to = staff_post(&t, &lab, &format!("/staff/lab/{no}/reject"), &form).await;
        assert!(to.contains("error=SPECIMEN_ALREADY_REJECTED"), "{to}");
        settle(&t, before + 3).await;
        assert_eq!(messages(&t, account, "specimen.abnormal").await.len(), 1);
        // Resampled: 检测中 again.
        lis(&t, &no, "sample", "pdf").await;
        settle(&t, before + 4).await;
        assert_eq!(report(&t, &cookie, &no).await["state"], "in_progress");
        // Patients cannot reach the console.
        let r = TestApp::http().post(t.url(&format!("/staff/lab/{no}/reject"))).header("cookie", &cookie).form(&form).send().await.unwrap();
        assert!(r.status() == 303 || r.status() == 401 || r.status() == 403);
        assert_eq!(t.store.lab_order(t.store.db(), &no).await.unwrap().unwrap().snapshot.status, domain::reports::LabStatus::Sampled);
    }
}

on_both_backends! {
    async fn bad_files_are_refused_and_the_hospital_pdf_reads_right(backend) {
        let (t, _) = spawn(backend).await;
        let (cookie, _, his) = zhang(&t).await;
        let before = lis_events(&t).await;
        let blood = new_order(&t, &his, "250101001").await;
        let xray = new_order(&t, &his, "210102015").await;
        settle(&t, before + 2).await;
        for no in [&blood, &xray] {
            lis(&t, no, "sample", "pdf").await;
        }
        settle(&t, before + 4).await;
        lis(&t, &blood, "report", "bad_pdf").await;
        lis(&t, &xray, "report", "large_image").await;
        settle(&t, before + 6).await;
        let held = t.store.lab_order(t.store.db(), &blood).await.unwrap().unwrap();
        let files = t.store.report_files(held.id, 1).await.unwrap();
        let lis_pdf = files.iter().find(|f| f.source == "lis").unwrap();
        assert_eq!(lis_pdf.status, "rejected");
        assert!(lis_pdf.reject_reason.as_deref().unwrap().contains("PDF"), "{lis_pdf:?}");
        let xray_held = t.store.lab_order(t.store.db(), &xray).await.unwrap().unwrap();
        let img = t.store.report_files(xray_held.id, 1).await.unwrap().into_iter().find(|f| f.kind == "jpeg").unwrap();
        assert_eq!(img.status, "rejected", "27 megapixels is over the limit");
        let lab = t.staff_sign_in("lab01").await;
        for no in [&blood, &xray] {
            staff_post(&t, &lab, &format!("/staff/lab/{no}/release"), &[]).await;
        }
        t.drain_jobs().await;
        // The patient gets the hospital's own PDF, which reads right.
        let r = report(&t, &cookie, &blood).await;
        let files = r["files"].as_array().unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0]["generated"], true);
        let pdf = get(&t, &cookie, files[0]["download_url"].as_str().unwrap()).await.bytes().await.unwrap().to_vec();
        let text = pdftotext(&pdf);
        let report_no = r["report_no"].as_str().unwrap();
        let code = t.app.report_verify_code(report_no);
        for want in ["检验报告单", "张伟", "血常规（五分类）", "白细胞计数", "11.2", "3.5-9.5", "审核医生", code.as_str()] {
            assert!(text.contains(want), "{want:?} not in:\n{text}");
        }
        let v = get(&t, "", &format!("/verify/report/{code}")).await;
        assert_eq!(v.status(), 200);
        let page = v.text().await.unwrap();
        assert!(page.contains("本报告真实有效") && page.contains("张*") && !page.contains("张伟"), "the verification page shows only the masked name");
        // The exam: its findings and a generated PDF; the oversized image is not offered.
        let r = report(&t, &cookie, &xray).await;
        assert_eq!(r["state"], "completed");
        assert!(r["findings"].as_str().unwrap().contains("双肺纹理清晰"));
        assert!(r["files"].as_array().unwrap().iter().all(|f| f["kind"] == "pdf"));
    }
}

async fn r_no(t: &TestApp, order_no: &str) -> String {
    t.store.lab_order(t.store.db(), order_no).await.unwrap().unwrap().snapshot.report.unwrap().report_no
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

pub(crate) fn pdftotext(pdf: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("cb-report-{}.pdf", uuid::Uuid::new_v4().simple()));
    std::fs::write(&path, pdf).unwrap();
    let out = std::process::Command::new("pdftotext").args(["-layout", "-enc", "UTF-8"]).arg(&path).arg("-").output().expect("pdftotext (poppler-utils)");
    let _ = std::fs::remove_file(&path);
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

on_both_backends! {
    async fn the_resample_deadline_offered_is_never_past(backend) {
        use chrono::TimeZone;
        // 19:36 local: the lab closed at 16:30, so the default says tomorrow.
        let (t, clock) = TestApp::spawn_at(backend, chrono::Utc.with_ymd_and_hms(2026, 11, 26, 11, 36, 0).unwrap()).await;
        assert_eq!(t.app.default_resample_instruction(), "请于11月27日（明天）16:30前到门诊楼1层检验科B区3号窗口重新采集标本，无需再次缴费。");
        // 09:00 local the next day: today.
        clock.set(chrono::Utc.with_ymd_and_hms(2026, 11, 27, 1, 0, 0).unwrap());
        assert!(t.app.default_resample_instruction().starts_with("请于11月27日（今天）16:30前"));
        // The demo LIS's own rejection, made at start-up in the evening, says tomorrow too.
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        t.add_demo_patient(&cookie, "张伟", "self").await;
        let list = get(&t, &cookie, "/api/v1/me/reports").await.json::<Value>().await.unwrap();
        let text = list.to_string();
        assert!(text.contains("（明天）16:30前") && !text.contains("今天"), "{text}");
    }
}
