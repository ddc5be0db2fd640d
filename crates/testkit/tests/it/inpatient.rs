//! The inpatient page as a family uses it (BED, OTH-3): it opens on the 就诊人 who is in
//! hospital, owed money reads as 欠费, the day of the stay and how long the balance lasts at
//! the last three days' average, and the limits of a top-up are said before paying.
use testkit::{TestApp, on_both_backends};

on_both_backends! {
    async fn the_page_opens_on_the_patient_in_hospital_and_names_arrears(backend) {
        let t = TestApp::spawn(backend).await;
        let (_, cookie) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let zhang = t.add_demo_patient(&cookie, "张伟", "self").await;
        // 黄强 is in hospital: deposits ¥2000.00, charges ¥2631.00.
        let huang = t.add_demo_patient(&cookie, "黄强", "parent").await;
        let page = TestApp::http().get(t.url("/inpatient")).header("cookie", &cookie).send().await.unwrap().text().await.unwrap();
        assert!(page.contains(&format!("name=\"patient_id\" value=\"{huang}\"")), "opens on the patient in hospital, not the first 就诊人");
        assert!(page.contains("欠费") && page.contains("¥631.00") && !page.contains("-631.00"), "arrears read as 欠费 ¥631.00: {page}");
        assert!(page.contains("单次可补缴 1–50000 元"), "the limits are stated before submitting");
        // Admitted six days ago: the seventh day; the last three days' lists give the average,
        // and a balance already owed lasts no day.
        assert!(page.contains("（住院第7天）"), "{page}");
        let cat = sim::demo::fee_catalogue();
        let daily = domain::Fen(cat[6].amount.0 + cat[7].amount.0 + cat[0].amount.0);
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
