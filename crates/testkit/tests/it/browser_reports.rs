//! In headless Chromium at phone width, a report as 张伟 lives it: the blood count his
//! doctor ordered shows 待检测 with where to go; the LIS console samples it (检测中,
//! with the expected time) and reports it; the reviewing doctor releases it from the
//! lab console; the new-report notice opens the report (已完成), its paper form shows
//! page by page, and 保存到手机 hands over the PDF as a download.
//!
//! Screenshots go to target/screenshots.
use fantoccini::Locator;
use testkit::browser::journeys::{morning, sign_in_and_add_self, staff_sign_in};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_report_from_pending_to_saved_on_the_phone() {
    let (t, _clock, b, base) = morning().await;
    sign_in_and_add_self(&b, &t, &base, "oDemo_zhangwei_0001", "张伟").await;
    let his_id = {
        let account = t.store.wechat_account_id("oDemo_zhangwei_0001").await.unwrap().unwrap();
        t.app.list_patients(account).await.unwrap()[0].his_patient_id.clone()
    };

    // The home tile opens the list: the seeded history shows its states with guidance.
    b.client.goto(&format!("{base}/")).await.unwrap();
    b.click("#tile-reports").await;
    b.wait_for("#reports li[data-state='abnormal']").await;
    assert!(b.text_of("#reports").await.contains("标本量不足"));
    b.shot("reports-list.png").await;

    // The doctor's blood count, paid at the window (the LIS console opens the order).
    b.client.goto(&format!("{}/__sim/lis", t.his_url)).await.unwrap();
    b.wait_for(&format!("#patient option[value='{his_id}']")).await.click().await.unwrap();
    b.click("#item option[value='250101001']").await;
    b.click("#new-order").await;
    assert!(b.text_of(".note").await.contains("已开单"));
    let order_no = b.wait_for("#orders tr[data-order]").await.attr("data-order").await.unwrap().unwrap();
    b.shot("lis-console.png").await;

    let state_of = |order_no: String| {
        let (b, base) = (&b, base.clone());
        async move {
            b.client.goto(&format!("{base}/reports/{order_no}")).await.unwrap();
            // A click on the LIS console may still be navigating when we go, and its page
            // can win the race: then this is not our page, and we ask again.
            let ours = b.client.wait().at_most(std::time::Duration::from_secs(5)).for_element(fantoccini::Locator::Css("footer")).await.is_ok();
            if !ours || !b.client.current_url().await.unwrap().path().starts_with("/reports/") {
                return String::new();
            }
            // Until the LIS's event has reached us the page is "not found": ask again.
            match b.client.find(fantoccini::Locator::Css("#report")).await {
                Ok(r) => r.attr("data-state").await.unwrap().unwrap_or_default(),
                Err(_) => String::new(),
            }
        }
    };
    let wait_state = |want: &'static str| {
        let order_no = order_no.clone();
        let state_of = &state_of;
        async move {
            for _ in 0..100 {
                if state_of(order_no.clone()).await == want {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
            panic!("the report never reached {want}");
        }
    };
    wait_state("pending").await;
    assert!(b.text_of("#state").await.contains("待检测"));
    assert!(b.text_of("#guidance").await.contains("检验科采血处"));
    b.shot("report-pending.png").await;

    // Sampled in the LIS: 检测中 with the expected result time.
    b.client.goto(&format!("{}/__sim/lis", t.his_url)).await.unwrap();
    b.click(&format!("#orders tr[data-order='{order_no}'] button[data-action='sample-pdf']")).await;
    wait_state("in_progress").await;
    assert!(b.text_of("#state").await.contains("检测中"));
    assert!(!b.text_of("#expected").await.is_empty(), "the expected result time is shown");
    b.shot("report-in-progress.png").await;

    // Reported by the LIS, then released by the reviewing doctor.
    b.client.goto(&format!("{}/__sim/lis", t.his_url)).await.unwrap();
    b.click(&format!("#orders tr[data-order='{order_no}'] button[data-action='report-pdf']")).await;
    let mut listed = false;
    for _ in 0..100 {
        if let Some(a) = t.store.lab_order(t.store.db(), &order_no).await.unwrap()
            && a.snapshot.status == domain::reports::LabStatus::Reported
        {
            listed = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(listed, "the report reached Carebridge");
    staff_sign_in(&b, &t, &base, "doctor01").await;
    b.client.goto(&format!("{base}/staff/lab?view=review")).await.unwrap();
    b.shot("lab-console-review.png").await;
    b.click(&format!("#orders tr[data-order='{order_no}'] form[data-role='release'] button")).await;
    // The results are shown on the same screen before anything is released.
    let review = b.text_of("#confirmation").await;
    assert!(review.contains("白细胞") || review.contains("结论") || review.contains("报告单号"), "{review}");
    b.shot("lab-release-review.png").await;
    b.click("#confirm").await;
    assert!(b.text_of("#notice").await.contains("已审核发布"));
    b.client.set_window_size(390, 844).await.unwrap();

    // The new-report notice in the message centre opens the report.
    let mut found = false;
    for _ in 0..100 {
        b.client.goto(&format!("{base}/messages")).await.unwrap();
        if b.client.find(Locator::Css("#messages li[data-scene='report.ready'] a")).await.is_ok() {
            found = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(found, "the new-report notice arrives");
    b.click("#messages li[data-scene='report.ready'] a").await;
    assert!(b.text_of("#body").await.contains("血常规"));
    b.click("#open").await;
    assert_eq!(b.wait_for("#report").await.attr("data-state").await.unwrap().as_deref(), Some("completed"));
    assert!(b.text_of("#state").await.contains("已完成"));
    assert!(b.text_of("#results").await.contains("白细胞计数"));

    // The paper form, page by page (wait for the files to be in).
    let mut pages = false;
    for _ in 0..100 {
        b.client.goto(&format!("{base}/reports/{order_no}")).await.unwrap();
        if b.client.find(Locator::Css(".file[data-kind='pdf'] img")).await.is_ok() {
            pages = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(pages, "the PDF's pages are shown");
    let loaded = b
        .client
        .execute(
            "const imgs=[...document.querySelectorAll('.file img')]; return Promise.all(imgs.map(i=>i.complete?i.naturalWidth:new Promise(r=>{i.onload=()=>r(i.naturalWidth);i.onerror=()=>r(0)})));",
            vec![],
        )
        .await
        .unwrap();
    let widths: Vec<u64> = loaded.as_array().unwrap().iter().map(|v| v.as_u64().unwrap_or(0)).collect();
    assert!(!widths.is_empty() && widths.iter().all(|w| *w >= 1000), "page images drawn: {widths:?}");
    b.shot("report-completed.png").await;
    b.client.execute("document.querySelector('.file img').scrollIntoView()", vec![]).await.unwrap();
    b.shot("report-paper-form.png").await;

    // 保存到手机: the link downloads the PDF itself.
    let save = b.wait_for(".file[data-kind='pdf'] a[data-role='save']").await;
    assert!(save.attr("download").await.unwrap().is_some());
    let answer = b
        .client
        .execute(
            "const a=document.querySelector(\".file[data-kind='pdf'] a[data-role='save']\"); return fetch(a.href).then(async r=>[r.status, r.headers.get('content-type'), r.headers.get('content-disposition'), new TextDecoder().decode((await r.arrayBuffer()).slice(0,5))]);",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(answer[0], 200);
    assert_eq!(answer[1], "application/pdf");
    assert!(answer[2].as_str().unwrap().starts_with("attachment;"), "{answer}");
    assert_eq!(answer[3], "%PDF-");
    b.close().await;
}
