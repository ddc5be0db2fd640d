//! The face-engine connector (Baidu AI face v3) against its simulator over real HTTP: the
//! token fetched once and replaced when the engine calls it stale, enrolment into the
//! hospital's set and the copy into a day's small group by face token, 1:N search finding
//! the person in any pose and nobody else, deletion (twice is once) after which the face
//! is found no more, the identity check against the ID number, 1:1 and liveness — and
//! every refusal and fault mapped to the catalogue.
use domain::ErrorCode;
use domain::SystemClock;
use domain::face::{self, Control, FaceChecks, FaceImage, FaceInput, FaceThresholds, Recognition};
use domain::ports::FaceEnginePort;
use gateways::face::client::{FaceClient, FaceClientConfig};
use image::codecs::jpeg::JpegEncoder;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use uploads::synthetic_face::{self, Capture, Pose};

const CHECKED: FaceChecks = FaceChecks { quality: Control::Normal, liveness: Control::Low };

fn client(url: &str, secret: &str) -> FaceClient {
    let cfg = sim::face::FaceSimConfig::default();
    FaceClient::new(
        FaceClientConfig {
            api_base: format!("{url}/rest/2.0/face/v3"),
            token_url: format!("{url}/oauth/2.0/token"),
            api_key: cfg.api_key,
            secret_key: secret.into(),
            timeout: Duration::from_millis(1500),
        },
        Arc::new(SystemClock),
    )
}

fn jpeg(img: &image::RgbImage) -> FaceImage {
    let mut out = Vec::new();
    img.write_with_encoder(JpegEncoder::new_with_quality(&mut out, 80)).unwrap();
    FaceImage::new(out)
}

/// The `n`-th capture of the person with this ID number.
fn shot(id_number: &str, n: u32) -> FaceImage {
    jpeg(&synthetic_face::variant(synthetic_face::code_for_id_number(id_number), n))
}

fn captured(id_number: &str, capture: Capture) -> FaceImage {
    jpeg(&synthetic_face::face(synthetic_face::code_for_id_number(id_number), Pose::default(), capture))
}

async fn faults(url: &str, f: Value) {
    let r = reqwest::Client::new().post(format!("{url}/__sim/face/faults")).json(&f).send().await.unwrap();
    assert_eq!(r.status(), 204);
}

fn citizens() -> (sim::demo::Citizen, sim::demo::Citizen, Vec<sim::demo::Citizen>) {
    let all = sim::demo::citizens(chrono::Local::now().date_naive());
    (all[0].clone(), all[1].clone(), all)
}

#[tokio::test]
async fn enrol_copy_search_and_delete() {
    let (zhang, li, all) = citizens();
    let (url, state) = sim::face::start(Default::default(), &all, 0).await.unwrap();
    let engine = client(&url, &sim::face::FaceSimConfig::default().secret_key);
    let day = chrono::NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
    let (enrolled, area) = (face::enrolment_group("cb"), face::area_day_group("cb", "NK2", day));

    // Enrolment, then the copy into the day's group by token: no second capture.
    let token = engine.add_face(&enrolled, "e1", FaceInput::Image(&shot(&zhang.id_card_no, 0)), CHECKED).await.unwrap();
    let other = engine.add_face(&enrolled, "e2", FaceInput::Image(&shot(&li.id_card_no, 0)), CHECKED).await.unwrap();
    assert_ne!(token, other);
    assert_eq!(engine.add_face(&area, "e1", FaceInput::Token(&token), FaceChecks::NONE).await.unwrap(), token, "the same face, by token");
    assert_eq!(engine.add_face(&area, "e2", FaceInput::Token(&other), FaceChecks::NONE).await.unwrap(), other);
    assert_eq!(state.lock().unwrap().users(&area), vec!["e1".to_owned(), "e2".to_owned()]);

    // 1:N in the small group finds the person in other poses and light, and only them.
    for n in 1..5 {
        let found = engine.search(std::slice::from_ref(&area), &shot(&zhang.id_card_no, n), 5, CHECKED).await.unwrap();
        assert_eq!(face::recognise(&found, FaceThresholds::default()), Recognition::Recognised(found[0].clone()), "pose {n}: {found:?}");
        assert_eq!((found[0].user_id.as_str(), found[0].group_id.as_str()), ("e1", area.as_str()));
        assert!(found[0].score >= 85.0, "{found:?}");
    }
    let stranger = "110101199003070011";
    assert_eq!(engine.search(std::slice::from_ref(&area), &shot(stranger, 1), 5, CHECKED).await.unwrap(), vec![], "222207 is nobody, not an error");
    // A group nobody was added to (nobody enrolled is booked there) is nobody too.
    let empty = face::area_day_group("cb", "WK1", day);
    assert_eq!(engine.search(&[empty], &shot(&zhang.id_card_no, 1), 5, CHECKED).await.unwrap(), vec![]);

    // Withdrawal: deleted from every group, then never found; deleting again is done.
    engine.delete_user(&area, "e1").await.unwrap();
    engine.delete_user(&enrolled, "e1").await.unwrap();
    engine.delete_user(&enrolled, "e1").await.unwrap();
    engine.delete_user(&face::enrolment_group("nowhere"), "e1").await.unwrap();
    let after = engine.search(&[area.clone(), enrolled.clone()], &shot(&zhang.id_card_no, 2), 5, CHECKED).await.unwrap();
    assert!(after.iter().all(|c| c.user_id != "e1"), "{after:?}");
    assert_eq!(engine.search(std::slice::from_ref(&area), &shot(&li.id_card_no, 2), 5, CHECKED).await.unwrap()[0].user_id, "e2");
    // One token for all of it.
    let s = state.lock().unwrap();
    assert!(s.calls("search") >= 7);
    assert_eq!(s.tokens_issued(), 1, "the token is kept between calls");
}

#[tokio::test]
async fn identity_one_to_one_and_liveness() {
    let (zhang, li, all) = citizens();
    let (url, state) = sim::face::start(sim::face::FaceSimConfig { accept_unknown: false, ..Default::default() }, &all, 0).await.unwrap();
    let engine = client(&url, &sim::face::FaceSimConfig::default().secret_key);
    let checks = FaceChecks { quality: Control::Normal, liveness: Control::Normal };

    let score = engine.verify_identity(&shot(&zhang.id_card_no, 3), &zhang.id_card_no, &zhang.name, checks).await.unwrap();
    assert!(score >= 85.0, "{score}");
    let someone_else = engine.verify_identity(&shot(&li.id_card_no, 3), &zhang.id_card_no, &zhang.name, checks).await.unwrap();
    assert!(someone_else < 80.0, "{someone_else}");
    let wrong_name = engine.verify_identity(&shot(&zhang.id_card_no, 3), &zhang.id_card_no, &li.name, checks).await.unwrap_err();
    assert_eq!(wrong_name.code, ErrorCode::FaceIdentityMismatch);
    let unknown = engine.verify_identity(&shot("110101199003070011", 1), "110101199003070011", "王五", checks).await.unwrap_err();
    assert_eq!(unknown.code, ErrorCode::FaceIdentityMismatch, "the register does not know the number");
    // Registered later (a person the public-security register knows), it passes.
    reqwest::Client::new().post(format!("{url}/__sim/face/register")).json(&json!({"id_number": "110101199003070011", "name": "王五"})).send().await.unwrap();
    assert!(engine.verify_identity(&shot("110101199003070011", 1), "110101199003070011", "王五", checks).await.unwrap() >= 85.0);

    assert!(engine.compare(&shot(&zhang.id_card_no, 1), &shot(&zhang.id_card_no, 4), checks).await.unwrap() >= 85.0);
    assert!(engine.compare(&shot(&zhang.id_card_no, 1), &shot(&li.id_card_no, 4), checks).await.unwrap() < 80.0);

    assert!(engine.liveness(&shot(&zhang.id_card_no, 2)).await.unwrap() >= Control::High.liveness_threshold());
    assert!(engine.liveness(&captured(&zhang.id_card_no, Capture::Screen)).await.unwrap() < Control::Low.liveness_threshold());

    // What the engine refuses to use, by the catalogue.
    let refused = |e: domain::DomainError| e.code;
    let enrolled = face::enrolment_group("cb");
    assert_eq!(
        refused(engine.add_face(&enrolled, "x", FaceInput::Image(&captured(&zhang.id_card_no, Capture::Blurred)), checks).await.unwrap_err()),
        ErrorCode::FaceLowQuality
    );
    assert_eq!(
        refused(engine.add_face(&enrolled, "x", FaceInput::Image(&captured(&zhang.id_card_no, Capture::Screen)), checks).await.unwrap_err()),
        ErrorCode::FaceLivenessFailed
    );
    assert_eq!(
        refused(engine.search(std::slice::from_ref(&enrolled), &jpeg(&synthetic_face::empty_frame()), 1, checks).await.unwrap_err()),
        ErrorCode::FaceNotSeen
    );
    assert_eq!(
        refused(engine.add_face(&enrolled, "x", FaceInput::Image(&FaceImage::new(b"not a picture".to_vec())), checks).await.unwrap_err()),
        ErrorCode::FaceNotSeen
    );
    assert_eq!(refused(engine.add_face(&enrolled, "x", FaceInput::Token("no-such-token"), FaceChecks::NONE).await.unwrap_err()), ErrorCode::FaceEngineRefused);
    assert_eq!(
        refused(engine.add_face("bad-group!", "x", FaceInput::Image(&shot(&zhang.id_card_no, 0)), checks).await.unwrap_err()),
        ErrorCode::FaceEngineRefused
    );
    assert!(state.lock().unwrap().users(&enrolled).is_empty(), "nothing refused was added");
    assert!(format!("{:?}", shot(&zhang.id_card_no, 0)).starts_with("FaceImage("), "a picture's Debug shows its size only");
}

#[tokio::test]
async fn faults_map_to_the_catalogue_and_a_stale_token_is_replaced() {
    let (zhang, li, all) = citizens();
    let (url, state) = sim::face::start(Default::default(), &all, 0).await.unwrap();
    let engine = client(&url, &sim::face::FaceSimConfig::default().secret_key);
    let group = face::enrolment_group("cb");
    engine.add_face(&group, "e1", FaceInput::Image(&shot(&zhang.id_card_no, 0)), CHECKED).await.unwrap();
    engine.add_face(&group, "e2", FaceInput::Image(&shot(&li.id_card_no, 0)), CHECKED).await.unwrap();
    let probe = shot(&zhang.id_card_no, 1);
    let search = || engine.search(std::slice::from_ref(&group), &probe, 5, CHECKED);

    // The engine expires the token: replaced and the call made again, unseen by the caller.
    faults(&url, json!({"expire_tokens": true})).await;
    assert_eq!(search().await.unwrap()[0].user_id, "e1");
    assert_eq!(state.lock().unwrap().tokens_issued(), 2);
    // Calls refused together replace the token once, not once each.
    faults(&url, json!({"expire_tokens": true, "latency_ms": 50})).await;
    let (a, b, c, d) = tokio::join!(search(), search(), search(), search());
    for r in [a, b, c, d] {
        assert_eq!(r.unwrap()[0].user_id, "e1");
    }
    assert_eq!(state.lock().unwrap().tokens_issued(), 3, "one new token for four stale calls");
    faults(&url, json!({})).await;
    // Two people too close to tell apart: a person decides.
    faults(&url, json!({"close_second": true})).await;
    let close = search().await.unwrap();
    let Recognition::Ambiguous(both) = face::recognise(&close, FaceThresholds::default()) else { panic!("{close:?}") };
    assert_eq!((both[0].user_id.as_str(), both[1].user_id.as_str()), ("e1", "e2"));
    faults(&url, json!({"no_match": true})).await;
    assert_eq!(search().await.unwrap(), vec![]);
    faults(&url, json!({"low_quality": true})).await;
    assert_eq!(search().await.unwrap_err().code, ErrorCode::FaceLowQuality);
    faults(&url, json!({"liveness_fail": true})).await;
    assert_eq!(search().await.unwrap_err().code, ErrorCode::FaceLivenessFailed);
    faults(&url, json!({"qps_limit": 1})).await;
    assert_eq!(search().await.unwrap_err().code, ErrorCode::UpstreamUnavailable, "18: try later or the other way");
    assert_eq!(search().await.unwrap()[0].user_id, "e1");
    faults(&url, json!({"down": true})).await;
    assert_eq!(search().await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
    faults(&url, json!({})).await;
    assert_eq!(search().await.unwrap()[0].user_id, "e1");

    // A wrong key pair is the hospital's configuration, never an outage to wait out.
    assert_eq!(client(&url, "wrong").search(std::slice::from_ref(&group), &probe, 1, CHECKED).await.unwrap_err().code, ErrorCode::FaceEngineRefused);
    // Nothing listens: unavailable, at once.
    let gone = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", l.local_addr().unwrap())
    };
    assert_eq!(client(&gone, "x").search(std::slice::from_ref(&group), &probe, 1, CHECKED).await.unwrap_err().code, ErrorCode::UpstreamUnavailable);
}
