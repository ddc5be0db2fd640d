//! Consultation (刷脸看诊, FACE-3) over the signed open interface, on both backends: the
//! room's workstation scans a patient booked with its doctor today and receives name, sex,
//! age, the booking, allergies and insurance kind as the HIS gives them — each release
//! audited. A patient booked with another doctor, a key bound to another room, a replayed
//! request, an unsigned one and a photo of a photo get nothing.
use base64::Engine;
use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use server::demo::{DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_ROOM, DEMO_WORKSTATION_SECRET};
use testkit::{TestApp, faces, on_both_backends};

fn id_number_of(t: &TestApp, name: &str) -> String {
    sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == name).unwrap().id_card_no
}

async fn call(t: &TestApp, key: &str, secret: &str, nonce: &str, body: &Value) -> (u16, Value) {
    let raw = body.to_string();
    let ts = t.app.now().timestamp().to_string();
    let path = "/open/v1/face/consultations";
    let sig = gateways::messages::open_api::sign(secret, "POST", path, &ts, nonce, raw.as_bytes());
    let r = TestApp::http()
        .post(t.url(path))
        .header("x-cb-key", key)
        .header("x-cb-timestamp", ts)
        .header("x-cb-nonce", nonce)
        .header("x-cb-signature", sig)
        .header("content-type", "application/json")
        .body(raw)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

fn scan_of(doctor: &str, jpeg: Vec<u8>) -> Value {
    json!({"room": DEMO_WORKSTATION_ROOM, "doctor_code": doctor, "image": base64::engine::general_purpose::STANDARD.encode(jpeg)})
}

on_both_backends! {
    async fn the_workstation_receives_the_patient_booked_with_its_doctor_today(backend) {
        let (t, _clock) = TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 12, 8, 0, 30, 0).unwrap()).await;
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let zid = t.add_demo_patient(&zhang, "张伟", "self").await;
        t.enrol_face(&zhang, zid, &id_number_of(&t, "张伟")).await;
        let booking = t.book_and_pay_today(&zhang, zid, "0101").await;
        let doctor = t.store.booking(&booking).await.unwrap().doctor_code;
        let (_, lina) = t.wechat_sign_in("oDemo_lina_0002").await;
        let lid = t.add_demo_patient(&lina, "李娜", "self").await;
        t.enrol_face(&lina, lid, &id_number_of(&t, "李娜")).await;
        let other = t.book_and_pay_today(&lina, lid, "0104").await;
        let other_doctor = t.store.booking(&other).await.unwrap().doctor_code;
        assert_ne!(doctor, other_doctor);

        let (status, a) = call(&t, DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_SECRET, "ws-nonce-0001", &scan_of(&doctor, faces::live(&id_number_of(&t, "张伟"), 5))).await;
        assert_eq!((status, a["outcome"].as_str()), (200, Some("found")), "{a}");
        let p = &a["patient"];
        assert_eq!((p["name"].as_str(), p["sex"].as_str(), p["booking_no"].as_str()), (Some("张伟"), Some("男"), Some(booking.as_str())), "{p}");
        assert_eq!(p["allergies"], "青霉素过敏", "as the HIS gives them");
        assert!(p["age"].as_u64().unwrap() >= 18 && !p["insurance_kind"].as_str().unwrap().is_empty(), "{p}");
        assert_eq!(t.store.audit_count(Some("face.release")).await.unwrap(), 1);

        // 李娜 is enrolled but booked with another doctor: nothing about her.
        let (_, a) = call(&t, DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_SECRET, "ws-nonce-0002", &scan_of(&doctor, faces::live(&id_number_of(&t, "李娜"), 5))).await;
        assert_eq!((a["outcome"].as_str(), a["patient"].is_null()), (Some("nobody"), true), "{a}");
        // A photo of a photo.
        let (status, a) = call(&t, DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_SECRET, "ws-nonce-0003", &scan_of(&doctor, faces::on_screen(&id_number_of(&t, "张伟")))).await;
        assert_eq!((status, a["code"].as_str()), (422, Some("FACE_LIVENESS_FAILED")), "{a}");
        // The same request again: a replay.
        let body = scan_of(&doctor, faces::live(&id_number_of(&t, "张伟"), 6));
        assert_eq!(call(&t, DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_SECRET, "ws-nonce-0004", &body).await.0, 200);
        let (status, a) = call(&t, DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_SECRET, "ws-nonce-0004", &body).await;
        assert_eq!((status, a["code"].as_str()), (401, Some("NONCE_REPLAYED")), "{a}");
        // A wrong secret; a key bound to no room (the HIS's own push key).
        let (status, a) = call(&t, DEMO_WORKSTATION_KEY, "not-the-secret", "ws-nonce-0005", &body).await;
        assert_eq!((status, a["code"].as_str()), (401, Some("SIGNATURE_INVALID")), "{a}");
        let (status, a) = call(&t, sim::his::DEMO_PUSH_KEY_ID, sim::his::DEMO_PUSH_SECRET, "ws-nonce-0006", &body).await;
        assert_eq!((status, a["code"].as_str(), a["patient"].is_null()), (403, Some("FORBIDDEN"), true), "{a}");
        assert_eq!(t.store.audit_count(Some("face.release_refused")).await.unwrap(), 1);
        assert_eq!(t.store.audit_count(Some("face.release")).await.unwrap(), 2, "one row per release");
        // The engine down: the workstation's usual ways.
        TestApp::http().post(format!("{}/__sim/face/faults", t.face_url)).json(&json!({"down": true})).send().await.unwrap();
        let (_, a) = call(&t, DEMO_WORKSTATION_KEY, DEMO_WORKSTATION_SECRET, "ws-nonce-0007", &scan_of(&other_doctor, faces::live(&id_number_of(&t, "李娜"), 2))).await;
        assert_eq!(a["outcome"], "engine_unavailable", "{a}");
    }
}
