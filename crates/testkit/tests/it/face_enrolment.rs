//! Face enrolment (FACE-1) over HTTP, through the face engine's simulator, on both
//! backends: nothing before the separate consent (and refusing it changes nothing); the
//! consent on record with its text version; a photo of a photo, someone else's face and a
//! face of another account's 就诊人 refused; the live face enrolled under an opaque user
//! id the engine then finds; closing withdraws the consent and deletes the face from the
//! engine, retried while the engine is down, after which the engine finds nobody; an
//! enrolment whose engine answer was lost is settled by deleting.
use chrono::{Duration, TimeZone, Utc};
use domain::face::{self, Control, EnrolmentState, FaceChecks, FaceImage};
use domain::ports::FaceEnginePort;
use serde_json::{Value, json};
use testkit::{TestApp, faces, location, on_both_backends};

const CHECKED: FaceChecks = FaceChecks { quality: Control::Normal, liveness: Control::Low };

fn id_number_of(t: &TestApp, name: &str) -> String {
    sim::demo::citizens(t.app.today()).into_iter().find(|c| c.name == name).unwrap().id_card_no
}

async fn enrol(t: &TestApp, cookie: &str, pid: i64, jpeg: Vec<u8>) -> (u16, Value) {
    let r = TestApp::http()
        .post(t.url(&format!("/face/{pid}/enrol")))
        .header("cookie", cookie)
        .header("content-type", "image/jpeg")
        .header("accept", "application/json")
        .body(jpeg)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

async fn mine(t: &TestApp, cookie: &str, pid: i64) -> Value {
    let list: Value = TestApp::http().get(t.url("/api/v1/me/face")).header("cookie", cookie).send().await.unwrap().json().await.unwrap();
    list.as_array().and_then(|l| l.iter().find(|e| e["patient_id"] == pid)).cloned().unwrap_or_else(|| panic!("the 就诊人 is listed: {list}"))
}

fn engine_users(t: &TestApp) -> Vec<String> {
    t.face.lock().unwrap().users(&face::enrolment_group("cb"))
}

/// The engine's own answer to a scan of this person in the hospital's face set.
async fn engine_finds(t: &TestApp, id_number: &str) -> Vec<String> {
    let engine = t.face_engine_client();
    let probe = FaceImage::new(faces::live(id_number, 7));
    let found = engine.search(&[face::enrolment_group("cb")], &probe, 5, CHECKED).await.unwrap();
    found.into_iter().filter(|c| c.score >= 80.0).map(|c| c.user_id).collect()
}

async fn faults(t: &TestApp, f: Value) {
    let r = TestApp::http().post(format!("{}/__sim/face/faults", t.face_url)).json(&f).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

on_both_backends! {
    async fn a_patient_enrols_with_consent_and_closing_deletes_the_face_from_the_engine(backend) {
        let (t, clock) = TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 12, 8, 1, 0, 0).unwrap()).await;
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&zhang, "张伟", "self").await;
        let zhang_id = id_number_of(&t, "张伟");

        // Nothing before the consent: the page offers it, the capture is refused.
        let page = TestApp::http().get(t.url("/face")).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(page.contains("未开通") && page.contains(&format!("/face/{pid}/consent")), "{page}");
        assert!(page.contains("不开通不影响您使用身份证、就诊卡或预约二维码"), "the other way is offered: {page}");
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 0)).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("FACE_CONSENT_REQUIRED")), "{body}");
        let capture = TestApp::http().get(t.url(&format!("/face/{pid}/capture"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(location(capture.headers()), format!("/face/{pid}/consent"), "no camera before the consent");
        assert_eq!(t.face.lock().unwrap().calls("person/verify"), 0, "nothing reached the engine");

        // The consent page: its text and version; refusing changes nothing.
        let consent = TestApp::http().get(t.url(&format!("/face/{pid}/consent"))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(consent.contains("《刷脸就医授权书》2026年12月8日版") && consent.contains("不保存人脸照片"), "{consent}");
        assert!(consent.contains("href=\"/face?done=declined\""), "not agreeing is one tap: {consent}");
        let declined = TestApp::http().get(t.url("/face?done=declined")).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(declined.contains("未同意授权") && declined.contains("未开通"), "{declined}");
        assert_eq!(mine(&t, &zhang, pid).await["consent_in_force"], false);

        let r = TestApp::http().post(t.url(&format!("/face/{pid}/consent"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(location(r.headers()), format!("/face/{pid}/capture"));
        let consents: Vec<Value> = TestApp::http().get(t.url("/api/v1/me/consents")).header("cookie", &zhang).send().await.unwrap().json().await.unwrap();
        let c = consents.iter().find(|c| c["purpose"] == "face_enrolment").expect("on record");
        assert_eq!((c["in_force"].as_bool(), c["text_version"].as_str(), c["patient_id"].as_i64()), (Some(true), Some("face-2026-12-08"), Some(pid)), "{c}");
        assert_eq!(c["granted_via"], "刷脸就医页面");
        let camera = TestApp::http().get(t.url(&format!("/face/{pid}/capture"))).header("cookie", &zhang).send().await.unwrap().text().await.unwrap();
        assert!(camera.contains("/static/face.js") && !camera.contains("type=\"file\""), "a live camera, no album: {camera}");

        // A photo of a photo, someone else's face, and not a picture at all: refused, nothing kept.
        let (status, body) = enrol(&t, &zhang, pid, faces::on_screen(&zhang_id)).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("FACE_LIVENESS_FAILED")), "{body}");
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&id_number_of(&t, "李娜"), 0)).await;
        assert_eq!((status, body["code"].as_str()), (422, Some("FACE_IDENTITY_MISMATCH")), "{body}");
        assert!(body["message"].as_str().unwrap().contains("本人"), "{body}");
        let (status, body) = enrol(&t, &zhang, pid, b"GIF89a not a face".to_vec()).await;
        assert_eq!((status, body["code"].as_str()), (415, Some("UNSUPPORTED_MEDIA_TYPE")), "{body}");
        assert!(engine_users(&t).is_empty(), "nothing enrolled");
        assert_eq!(mine(&t, &zhang, pid).await["state"], "none");

        // Another account cannot enrol 张伟, whatever face it sends.
        let (_, lina) = t.wechat_sign_in("oDemo_lina_0002").await;
        t.add_demo_patient(&lina, "李娜", "self").await;
        let (status, body) = enrol(&t, &lina, pid, faces::live(&zhang_id, 1)).await;
        assert_eq!((status, body["code"].as_str()), (404, Some("PATIENT_NOT_FOUND")), "{body}");

        // The live face: checked against the ID photo, enrolled under an id that says nothing.
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 2)).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("active")), "{body}");
        let users = engine_users(&t);
        assert_eq!(users.len(), 1);
        let hex = users[0].strip_prefix('p').expect("an opaque id");
        assert!(hex.len() == 20 && hex.chars().all(|c| c.is_ascii_hexdigit()), "random, saying nothing of the person: {users:?}");
        assert_eq!(engine_finds(&t, &zhang_id).await, users, "the engine finds him in another pose");
        let shown = mine(&t, &zhang, pid).await;
        assert_eq!((shown["state"].as_str(), shown["state_label"].as_str()), (Some("active"), Some("已开通")), "{shown}");
        assert_eq!(t.store.audit_count(Some("face.enrol")).await.unwrap(), 1);
        assert!(t.store.audit_count(Some("face.enrol_refused")).await.unwrap() >= 2, "refusals are on record");
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 3)).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("FACE_ALREADY_ENROLLED")), "{body}");

        // Closing: a confirmation first, saying what happens.
        let ask = TestApp::http().post(t.url(&format!("/face/{pid}/close"))).header("cookie", &zhang).form(&[("x", "")]).send().await.unwrap().text().await.unwrap();
        assert!(ask.contains("删除其人脸信息") && ask.contains("确认关闭"), "{ask}");
        assert_eq!(engine_users(&t).len(), 1, "nothing happened before the confirmation");
        // The engine is down: the face services stop at once, the deletion waits for it.
        faults(&t, json!({"down": true})).await;
        let r = TestApp::http().post(t.url(&format!("/face/{pid}/close"))).header("cookie", &zhang).form(&[("confirmed", "1")]).send().await.unwrap();
        assert_eq!(location(r.headers()), "/face?done=closed");
        assert_eq!(mine(&t, &zhang, pid).await["state"], "withdrawing");
        assert_eq!(mine(&t, &zhang, pid).await["consent_in_force"], false);
        t.drain_jobs().await;
        assert_eq!(mine(&t, &zhang, pid).await["state"], "withdrawing", "the engine did not confirm");
        faults(&t, json!({})).await;
        clock.advance(Duration::minutes(10));
        t.drain_jobs().await;
        // Signed in again: ten minutes on, moving a face needs a fresh sign-in (S6).
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let shown = mine(&t, &zhang, pid).await;
        assert_eq!(shown["state"], "withdrawn", "{shown}");
        assert!(engine_users(&t).is_empty(), "deleted from the engine");
        assert!(engine_finds(&t, &zhang_id).await.is_empty(), "the engine finds nobody");
        assert_eq!(t.store.audit_count(Some("face.delete")).await.unwrap(), 1);
        assert_eq!(t.store.audit_count(Some("consent.withdraw")).await.unwrap(), 1);

        // Enrolling again is a new consent and a new engine id.
        let r = TestApp::http().post(t.url(&format!("/face/{pid}/consent"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.status(), 303);
        let (status, _) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 4)).await;
        assert_eq!(status, 200);
        let again = engine_users(&t);
        assert_eq!(again.len(), 1);
        assert_ne!(again, users, "a new opaque id");

        // Removing the 就诊人 removes the face from the engine too.
        let r = TestApp::http().delete(t.url(&format!("/api/v1/me/patients/{pid}"))).header("cookie", &zhang).send().await.unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        t.drain_jobs().await;
        assert!(engine_users(&t).is_empty(), "{:?}", engine_users(&t));
        assert_eq!(t.store.audit_count(Some("face.delete")).await.unwrap(), 2);
    }
}

on_both_backends! {
    async fn an_enrolment_that_lost_its_engine_answer_is_settled_by_deleting(backend) {
        let clock = domain::FakeClock::new(Utc.with_ymd_and_hms(2026, 12, 8, 1, 0, 0).unwrap());
        let t = TestApp::spawn_opts(backend, std::sync::Arc::new(clock.clone()), false, |s| s.face.timeout_ms = 400).await;
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&zhang, "张伟", "self").await;
        let zhang_id = id_number_of(&t, "张伟");
        let r = TestApp::http().post(t.url(&format!("/face/{pid}/consent"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // The engine adds the face, but its answer comes after the client gave up.
        faults(&t, json!({"slow_add_answer_ms": 1500})).await;
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 0)).await;
        assert_eq!((status, body["code"].as_str()), (503, Some("UPSTREAM_UNAVAILABLE")), "{body}");
        faults(&t, json!({})).await;
        assert_eq!(engine_users(&t).len(), 1, "the engine holds the face the platform was never told of");
        assert_eq!(mine(&t, &zhang, pid).await["state"], "failed", "never active");
        // The face is deleted there all the same, and the settle job later finds nothing to do.
        t.drain_jobs().await;
        assert!(engine_users(&t).is_empty(), "{:?}", engine_users(&t));
        clock.advance(Duration::minutes(10));
        t.drain_jobs().await;
        assert_eq!(mine(&t, &zhang, pid).await["state"], "failed");
        assert_eq!(t.store.audit_count(Some("face.delete")).await.unwrap(), 1);
        // The patient may try again at once.
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 1)).await;
        assert_eq!((status, body["state"].as_str()), (200, Some("active")), "{body}");
    }
}

on_both_backends! {
    async fn an_enrolment_still_unanswered_at_the_settle_time_is_settled_by_deleting(backend) {
        let (t, clock) = TestApp::spawn_at(backend, Utc.with_ymd_and_hms(2026, 12, 8, 1, 0, 0).unwrap()).await;
        let (_, zhang) = t.wechat_sign_in("oDemo_zhangwei_0001").await;
        let pid = t.add_demo_patient(&zhang, "张伟", "self").await;
        let zhang_id = id_number_of(&t, "张伟");
        let r = TestApp::http().post(t.url(&format!("/face/{pid}/consent"))).header("cookie", &zhang).send().await.unwrap();
        assert_eq!(r.status(), 303);
        // The engine has added the face and is slow to say so.
        faults(&t, json!({"slow_add_answer_ms": 2000})).await;
        let slow = {
            let (url, cookie, jpeg) = (t.url(&format!("/face/{pid}/enrol")), zhang.clone(), faces::live(&zhang_id, 0));
            tokio::spawn(async move {
                let r = TestApp::http().post(url).header("cookie", cookie).header("content-type", "image/jpeg").header("accept", "application/json").body(jpeg).send().await.unwrap();
                (r.status().as_u16(), r.json::<Value>().await.unwrap())
            })
        };
        for _ in 0..100 {
            if t.face.lock().unwrap().calls("faceset/user/add") == 1 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(mine(&t, &zhang, pid).await["state"], "enrolling");
        let (status, body) = enrol(&t, &zhang, pid, faces::live(&zhang_id, 1)).await;
        assert_eq!((status, body["code"].as_str()), (409, Some("FACE_ENROLMENT_PENDING")), "one enrolment at a time: {body}");
        // Not settled before its time; at the settle time, never active and deleted.
        t.drain_jobs().await;
        assert_eq!(mine(&t, &zhang, pid).await["state"], "enrolling");
        clock.advance(Duration::minutes(6));
        t.drain_jobs().await;
        assert_eq!(mine(&t, &zhang, pid).await["state"], "failed");
        assert!(engine_users(&t).is_empty(), "{:?}", engine_users(&t));
        // The late answer changes nothing: the patient is told to look again.
        let (status, body) = slow.await.unwrap();
        assert_eq!((status, body["code"].as_str()), (409, Some("FACE_ENROLMENT_PENDING")), "{body}");
        assert_eq!(mine(&t, &zhang, pid).await["state"], "failed");
        let e = t.store.face_enrolment(t.store.db(), 1).await.unwrap();
        assert_eq!(e.state, EnrolmentState::Failed);
        assert!(e.deleted_at.is_some(), "the engine confirmed the deletion");
    }
}
