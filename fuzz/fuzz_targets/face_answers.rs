//! What the face engine (Baidu AI face v3) sends: the token answer and the envelope →
//! a search's candidates, a score, a liveness value. Never a panic; candidates come out
//! best first with scores in 0–100, a liveness in 0–1, and the decision taken from any
//! candidates is one of the three with every recognised score at or above the bar.
#![no_main]
use domain::face::{FaceThresholds, Recognition, recognise};
use gateways::face::{Answer, open_answer, parse_face_token, parse_liveness, parse_score, parse_search, parse_token};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &[u8]| {
    let _ = parse_token(body);
    let Ok(Answer::Ok(v)) = open_answer(body) else { return };
    let _ = parse_face_token(&v);
    if let Ok(s) = parse_score(&v) {
        assert!((0.0..=100.0).contains(&s));
    }
    if let Ok(l) = parse_liveness(&v) {
        assert!((0.0..=1.0).contains(&l));
    }
    if let Ok(found) = parse_search(&v) {
        assert!(found.windows(2).all(|w| w[0].score >= w[1].score), "candidates out of order");
        assert!(found.iter().all(|c| (0.0..=100.0).contains(&c.score) && !c.user_id.is_empty()));
        let t = FaceThresholds::default();
        match recognise(&found, t) {
            Recognition::Recognised(c) => assert!(c.score >= t.match_score),
            Recognition::Ambiguous(cs) => assert!(cs.len() >= 2 && cs.iter().all(|c| c.score >= t.match_score)),
            Recognition::NotRecognised => assert!(found.iter().all(|c| c.score < t.match_score)),
        }
    }
});
