//! S8 over HTTP: the hostile-file corpus (`uploads::corpus`) sent through the intake of
//! outside files the platform has today — report files the HIS connector fetches from the
//! LIS/PACS over HTTP. Each file is refused (kept as `rejected` with its reason, never
//! served; the patient gets the hospital's own PDF instead) or stored neutralised, and
//! what is served goes out as an attachment that browsers must not sniff.
use domain::staff::Role;
use serde_json::{Value, json};
use testkit::{TestApp, on_both_backends};
use uploads::Kind;

/// The blood count: a lab test whose report the LIS issues at once.
const ITEM: &str = "250101001";

async fn sim_post(url: String, body: Option<Value>) -> Value {
    let http = TestApp::http();
    let r = match body {
        Some(b) => http.post(url).json(&b).send().await.unwrap(),
        None => http.post(url).send().await.unwrap(),
    };
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

on_both_backends! {
    async fn every_hostile_file_from_the_lis_is_refused_or_neutralised(backend) {
        use chrono::TimeZone;
        let (t, _clock) = TestApp::spawn_at(backend, chrono::Utc.with_ymd_and_hms(2026, 11, 26, 0, 30, 0).unwrap()).await;
        let (_, owner) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&owner, "张伟", "self").await;
        let his = t.store.patient_by_id(pid).await.unwrap().unwrap().his_patient_id;
        let doctor = t.staff_sign_in(&t.demo_credentials.iter().find(|c| c.roles.split(',').any(|r| r == Role::Doctor.as_str())).unwrap().username).await;
        let http = TestApp::http();
        // The LIS's own PDF (typst's output, with its XMP metadata and fonts) passes the
        // checks: the intake still takes what a real LIS sends.
        let order = sim_post(format!("{}/__sim/lis/orders", t.his_url), Some(json!({"patient_id": his, "item_code": ITEM}))).await;
        let no = order["orderNo"].as_str().unwrap().to_owned();
        sim_post(format!("{}/__sim/lis/orders/{no}/sample", t.his_url), None).await;
        sim_post(format!("{}/__sim/lis/orders/{no}/report?files=pdf", t.his_url), None).await;
        let mut lis_pdf = None;
        for _ in 0..400 {
            t.drain_jobs().await;
            if let Some(o) = t.store.lab_order(t.store.db(), &no).await.unwrap().filter(|o| o.snapshot.report.is_some()) {
                lis_pdf = t.store.report_files(o.id, 1).await.unwrap().into_iter().find(|f| f.source == "lis");
                if lis_pdf.is_some() {
                    break;
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        let lis_pdf = lis_pdf.expect("the LIS's PDF was looked at");
        assert_eq!(lis_pdf.status, "stored", "the LIS's own PDF: {lis_pdf:?}");
        let (mut refused, mut neutralised) = (0, 0);
        // Two clean files first: the intake takes each kind at all, so a refusal below is the
        // check's doing.
        let controls = [("clean pdf", uploads::corpus::pdf(""), Ok(())), ("clean jpeg", uploads::corpus::jpeg(64, 48), Ok(()))];
        for (name, bytes, expected) in controls.into_iter().chain(uploads::corpus::hostile()) {
            let sniffed = uploads::sniff(&bytes);
            let declared = if sniffed == Some(Kind::Pdf) || name.starts_with("pdf") { "pdf" } else { "jpeg" };
            let order = sim_post(format!("{}/__sim/lis/orders", t.his_url), Some(json!({"patient_id": his, "item_code": ITEM}))).await;
            let no = order["orderNo"].as_str().unwrap().to_owned();
            sim_post(format!("{}/__sim/lis/orders/{no}/sample", t.his_url), None).await;
            t.his.lock().unwrap().lis_next_file(declared, format!("{name}.{declared}"), bytes.clone());
            sim_post(format!("{}/__sim/lis/orders/{no}/report?files=none", t.his_url), None).await;
            let mut rec = None;
            for _ in 0..400 {
                t.drain_jobs().await;
                rec = t.store.lab_order(t.store.db(), &no).await.unwrap().filter(|o| o.snapshot.report.is_some());
                if rec.is_some() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(25)).await;
            }
            let rec = rec.unwrap_or_else(|| panic!("{name}: the report of {no} did not arrive"));
            let r = http.post(t.url(&format!("/staff/lab/{no}/release"))).header("cookie", &doctor).form(&[("confirmed", "1")]).send().await.unwrap();
            assert_eq!(r.status(), 303, "{name}: release");
            t.drain_jobs().await;
            let files = t.store.report_files(rec.id, rec.snapshot.report.as_ref().unwrap().version).await.unwrap();
            let theirs = files.iter().find(|f| f.source == "lis").unwrap_or_else(|| panic!("{name}: the LIS's file was not looked at: {files:?}"));
            let view: Value = http.get(t.url(&format!("/api/v1/me/reports/{no}"))).header("cookie", &owner).send().await.unwrap().json().await.unwrap();
            let served: Vec<&str> = view["files"].as_array().unwrap().iter().filter_map(|f| f["download_url"].as_str()).collect();
            // Taken only what the corpus says is harmless once cleaned, of the kind the LIS declared.
            let takeable = expected.is_ok() && sniffed.map(Kind::as_str) == Some(declared);
            if !takeable {
                assert_eq!(theirs.status, "rejected", "{name}: {theirs:?}");
                assert!(theirs.reject_reason.as_deref().is_some_and(|r| !r.is_empty()), "{name}: a reason for the console");
                assert!(!served.iter().any(|u| u.ends_with(&theirs.file_no)), "{name}: a refused file is never served");
                assert!(files.iter().any(|f| f.source == "generated" && f.status == "stored"), "{name}: the patient gets the hospital's own PDF");
                refused += 1;
                continue;
            }
            assert_eq!(theirs.status, "stored", "{name}: {theirs:?}");
            let url = served.iter().find(|u| u.ends_with(&theirs.file_no)).unwrap_or_else(|| panic!("{name}: stored but not offered: {served:?}"));
            let r = http.get(t.url(url)).header("cookie", &owner).send().await.unwrap();
            assert_eq!(r.status(), 200, "{name}");
            let header = |h: &str| r.headers().get(h).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
            assert!(header("content-disposition").starts_with("attachment;"), "{name}: {}", header("content-disposition"));
            assert_eq!(header("x-content-type-options"), "nosniff", "{name}");
            assert_eq!(header("content-type"), Kind::parse(declared).unwrap().content_type(), "{name}");
            let body = r.bytes().await.unwrap();
            if declared == "jpeg" {
                assert_ne!(&body[..], &bytes[..], "{name}: served as it came, not re-encoded");
            }
            assert_eq!(uploads::sniff(&body).map(Kind::as_str), Some(declared), "{name}");
            for marker in uploads::corpus::MARKERS {
                assert!(!body.windows(marker.len()).any(|w| w == marker), "{name}: {:?} survived", String::from_utf8_lossy(marker));
            }
            neutralised += 1;
        }
        assert!(refused >= 30 && neutralised >= 5, "the corpus exercised both outcomes: {refused} refused, {neutralised} taken (2 clean)");
        println!("hostile files through the LIS intake: {refused} refused, {} neutralised, 2 clean controls taken", neutralised - 2);
    }
}
