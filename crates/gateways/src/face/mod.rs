//! The face-engine connector: Baidu AI 人脸识别 v3 (protocols-wave2 §3), the cloud API and
//! its on-premise edition alike. An OAuth client-credentials token (30 days) goes on the
//! query string of every call; every call is a JSON `POST` to `…/face/v3/{path}` answered
//! HTTP 200 with `{error_code, error_msg, log_id, timestamp, cached, result}` even when it
//! failed. Pictures travel as Base64 without a `data:` prefix.
//!
//! Pure functions here (request bodies, the envelope, the error codes; the simulator and a
//! fuzz target use them); the transport and the token are in `client`.
#[cfg(feature = "http")]
pub mod client;

use base64::Engine;
use domain::ErrorCode;
use domain::face::{FaceCandidate, FaceChecks, FaceImage, FaceInput};
use serde_json::{Value, json};

pub const USER_ADD: &str = "faceset/user/add";
pub const USER_DELETE: &str = "faceset/user/delete";
pub const SEARCH: &str = "search";
pub const MATCH: &str = "match";
pub const PERSON_VERIFY: &str = "person/verify";
pub const FACE_VERIFY: &str = "faceverify";

/// The engine's limit on one encoded picture (2 MB).
pub const MAX_IMAGE_BASE64: usize = 2 * 1024 * 1024;
/// At most this many groups in one search.
pub const MAX_GROUPS: usize = 10;

pub fn base64_image(image: &FaceImage) -> String {
    base64::engine::general_purpose::STANDARD.encode(image.bytes())
}

fn image_fields(face: FaceInput<'_>) -> (String, &'static str) {
    match face {
        FaceInput::Image(i) => (base64_image(i), "BASE64"),
        FaceInput::Token(t) => (t.to_owned(), "FACE_TOKEN"),
    }
}

pub fn user_add_body(group_id: &str, user_id: &str, face: FaceInput<'_>, checks: FaceChecks) -> Value {
    let (image, image_type) = image_fields(face);
    // No personal data in user_info: the link from user id to patient is ours alone.
    json!({
        "image": image, "image_type": image_type, "group_id": group_id, "user_id": user_id, "user_info": "",
        "quality_control": checks.quality.as_str(), "liveness_control": checks.liveness.as_str(), "action_type": "APPEND",
    })
}

pub fn user_delete_body(group_id: &str, user_id: &str) -> Value {
    json!({"group_id": group_id, "user_id": user_id})
}

pub fn search_body(group_ids: &[String], image: &FaceImage, max_users: u32, checks: FaceChecks) -> Value {
    json!({
        "image": base64_image(image), "image_type": "BASE64", "group_id_list": group_ids.join(","),
        "quality_control": checks.quality.as_str(), "liveness_control": checks.liveness.as_str(), "max_user_num": max_users.clamp(1, 50),
    })
}

/// 1:1 takes a JSON array of the two pictures.
pub fn match_body(live: &FaceImage, other: &FaceImage, checks: FaceChecks) -> Value {
    let one = |i: &FaceImage, face_type: &str, c: FaceChecks| {
        json!({"image": base64_image(i), "image_type": "BASE64", "face_type": face_type,
               "quality_control": c.quality.as_str(), "liveness_control": c.liveness.as_str()})
    };
    json!([one(live, "LIVE", checks), one(other, "LIVE", FaceChecks { liveness: domain::face::Control::None, ..checks })])
}

pub fn person_verify_body(image: &FaceImage, id_number: &str, name: &str, checks: FaceChecks) -> Value {
    json!({
        "image": base64_image(image), "image_type": "BASE64", "id_card_number": id_number.trim().to_ascii_uppercase(), "name": name.trim(),
        "quality_control": checks.quality.as_str(), "liveness_control": checks.liveness.as_str(),
    })
}

pub fn face_verify_body(image: &FaceImage) -> Value {
    json!([{"image": base64_image(image), "image_type": "BASE64", "face_field": "quality"}])
}

/// An answer opened: the `result`, or the engine's error code and text.
#[derive(Debug, PartialEq)]
pub enum Answer {
    Ok(Value),
    Failed { code: i64, text: String },
}

/// Opens the envelope; `Err` for anything that is not it.
pub fn open_answer(body: &[u8]) -> Result<Answer, String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    let code = match &v["error_code"] {
        Value::Number(n) => n.as_i64().ok_or("error_code not an integer")?,
        // Some editions send it as a string [I].
        Value::String(s) => s.trim().parse().map_err(|_| "error_code not a number")?,
        _ => return Err("no error_code".into()),
    };
    if code != 0 {
        return Ok(Answer::Failed { code, text: v["error_msg"].as_str().unwrap_or_default().chars().take(200).collect() });
    }
    Ok(Answer::Ok(v["result"].clone()))
}

/// The token endpoint's answer: the token and its life in seconds.
pub fn parse_token(body: &[u8]) -> Result<(String, i64), String> {
    let v: Value = serde_json::from_slice(body).map_err(|e| format!("not JSON: {e}"))?;
    if let Some(e) = v["error"].as_str() {
        return Err(format!("token refused: {e} {}", v["error_description"].as_str().unwrap_or_default()));
    }
    let token = v["access_token"].as_str().filter(|t| !t.is_empty() && t.len() <= 512).ok_or("no access_token")?;
    let life = v["expires_in"].as_i64().filter(|s| *s > 0).unwrap_or(2_592_000);
    Ok((token.to_owned(), life))
}

/// 110 invalid and 111 expired token: fetch a new one and try once more.
pub fn token_stale(code: i64) -> bool {
    matches!(code, 110 | 111)
}

/// A user or group that does not exist, on delete: nothing left to delete [I: 223103
/// user is not exist, 223101 group is not exist].
pub fn already_gone(code: i64) -> bool {
    matches!(code, GROUP_NOT_FOUND | 223103)
}

/// 223101 group is not exist [I].
pub const GROUP_NOT_FOUND: i64 = 223101;

/// No match in a search (it is an error in this API, not an empty list).
pub const NO_MATCH: i64 = 222207;

/// What an error code means to the platform.
pub fn error_for(code: i64) -> ErrorCode {
    match code {
        // No face, an unreadable picture.
        222202 | 222203 => ErrorCode::FaceNotSeen,
        // Blurred, occluded, badly lit, incomplete, more than one face.
        223113..=223116 | 223121..=223127 | 222210 => ErrorCode::FaceLowQuality,
        223120 => ErrorCode::FaceLivenessFailed,
        222351 => ErrorCode::FaceIdentityMismatch,
        NO_MATCH => ErrorCode::FaceNotRecognised,
        // Quota and rate: the engine's trouble, try later or the other way.
        17..=19 | 110 | 111 => ErrorCode::UpstreamUnavailable,
        // Permission, parameters, unknown tokens: our configuration — never the patient's.
        _ => ErrorCode::FaceEngineRefused,
    }
}

/// `{face_token}` of an add.
pub fn parse_face_token(result: &Value) -> Result<String, String> {
    result["face_token"].as_str().filter(|t| !t.is_empty()).map(str::to_owned).ok_or_else(|| "no face_token".into())
}

fn score_of(v: &Value) -> Option<f32> {
    let s = v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))?;
    (s.is_finite() && (0.0..=100.0).contains(&s)).then_some(s as f32)
}

/// `{user_list[{group_id, user_id, score}]}` of a search, best first.
pub fn parse_search(result: &Value) -> Result<Vec<FaceCandidate>, String> {
    let list = result["user_list"].as_array().ok_or("no user_list")?;
    let mut out = Vec::with_capacity(list.len());
    for u in list {
        let user_id = u["user_id"].as_str().filter(|s| !s.is_empty()).ok_or("a candidate without user_id")?;
        let score = score_of(&u["score"]).ok_or("a candidate without a score in 0–100")?;
        out.push(FaceCandidate { group_id: u["group_id"].as_str().unwrap_or_default().to_owned(), user_id: user_id.to_owned(), score });
    }
    out.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(out)
}

/// `{score}` of a 1:1 match or an identity check.
pub fn parse_score(result: &Value) -> Result<f32, String> {
    score_of(&result["score"]).ok_or_else(|| "no score in 0–100".into())
}

/// `{face_liveness}` of an image liveness check.
pub fn parse_liveness(result: &Value) -> Result<f32, String> {
    let l = result["face_liveness"].as_f64().ok_or("no face_liveness")?;
    (l.is_finite() && (0.0..=1.0).contains(&l)).then_some(l as f32).ok_or_else(|| "face_liveness outside 0–1".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_envelope_opens_both_ways_and_refuses_what_is_not_it() {
        assert_eq!(
            open_answer(br#"{"error_code":0,"error_msg":"SUCCESS","log_id":1,"timestamp":2,"cached":0,"result":{"score":91.5}}"#).unwrap(),
            Answer::Ok(json!({"score": 91.5}))
        );
        assert_eq!(
            open_answer(br#"{"error_code":222207,"error_msg":"match user is not found","result":null}"#).unwrap(),
            Answer::Failed { code: 222207, text: "match user is not found".into() }
        );
        assert!(open_answer(b"<html>").is_err());
        assert!(open_answer(br#"{"result":{}}"#).is_err());
    }

    #[test]
    fn error_codes_map_to_the_catalogue() {
        assert_eq!(error_for(222202), ErrorCode::FaceNotSeen);
        assert_eq!(error_for(223114), ErrorCode::FaceLowQuality);
        assert_eq!(error_for(223125), ErrorCode::FaceLowQuality);
        assert_eq!(error_for(223120), ErrorCode::FaceLivenessFailed);
        assert_eq!(error_for(222351), ErrorCode::FaceIdentityMismatch);
        assert_eq!(error_for(18), ErrorCode::UpstreamUnavailable);
        assert_eq!(error_for(6), ErrorCode::FaceEngineRefused);
        assert!(token_stale(110) && token_stale(111) && !token_stale(100));
    }

    #[test]
    fn candidates_come_best_first_and_bad_scores_are_refused() {
        let r = json!({"face_token": "t", "user_list": [
            {"group_id": "g", "user_id": "b", "user_info": "", "score": 81.0},
            {"group_id": "g", "user_id": "a", "user_info": "", "score": 97.25}]});
        let c = parse_search(&r).unwrap();
        assert_eq!((c[0].user_id.as_str(), c[1].user_id.as_str()), ("a", "b"));
        assert!(parse_search(&json!({"user_list": [{"user_id": "a", "score": 180}]})).is_err());
        assert!(parse_search(&json!({"user_list": [{"user_id": "", "score": 90}]})).is_err());
        assert!(parse_liveness(&json!({"face_liveness": 1.5})).is_err());
        assert_eq!(parse_token(br#"{"access_token":"24.abc","expires_in":2592000}"#).unwrap(), ("24.abc".into(), 2_592_000));
        assert!(parse_token(br#"{"error":"invalid_client","error_description":"unknown client id"}"#).is_err());
    }

    #[test]
    fn pictures_go_without_a_data_prefix_and_tokens_as_tokens() {
        let img = FaceImage::new(vec![0xff, 0xd8, 0xff]);
        let checks = FaceChecks { quality: domain::face::Control::Normal, liveness: domain::face::Control::Low };
        let b = user_add_body("g", "u", FaceInput::Image(&img), checks);
        assert_eq!(b["image"], "/9j/");
        assert_eq!((b["image_type"].as_str(), b["liveness_control"].as_str()), (Some("BASE64"), Some("LOW")));
        let t = user_add_body("g2", "u", FaceInput::Token("ft1"), FaceChecks::NONE);
        assert_eq!((t["image"].as_str(), t["image_type"].as_str()), (Some("ft1"), Some("FACE_TOKEN")));
        assert!(match_body(&img, &img, checks).is_array());
    }
}
