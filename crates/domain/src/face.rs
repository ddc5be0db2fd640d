//! Face-scan services (FACE-1…4): the words and rules. The platform never matches faces
//! itself — a face engine does, behind [`crate::ports::FaceEnginePort`] — and keeps of a
//! face only the engine's user id and face token (never the image or a template, unless a
//! setting keeps the enrolment photo, sealed). These rules decide what an engine's answer
//! means: who was recognised, when two candidates are too close to tell apart, and which
//! small group a scan is searched in.
use chrono::NaiveDate;
use std::fmt;

/// A captured face picture (JPEG or PNG) on its way to the engine. Its `Debug` never shows
/// the bytes: nothing about a face reaches a log.
#[derive(Clone, PartialEq, Eq)]
pub struct FaceImage(Vec<u8>);

impl FaceImage {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for FaceImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "FaceImage({} bytes)", self.0.len())
    }
}

/// What a face is added from: a picture, or a face the engine already holds (its token),
/// which is how an enrolled patient is copied into a day's small group without a new
/// capture.
#[derive(Clone, Copy, Debug)]
pub enum FaceInput<'a> {
    Image(&'a FaceImage),
    Token(&'a str),
}

/// The engine's quality or liveness strictness (`NONE/LOW/NORMAL/HIGH`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Control {
    None,
    Low,
    Normal,
    High,
}

impl Control {
    pub fn as_str(self) -> &'static str {
        match self {
            Control::None => "NONE",
            Control::Low => "LOW",
            Control::Normal => "NORMAL",
            Control::High => "HIGH",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Control::None, Control::Low, Control::Normal, Control::High].into_iter().find(|c| c.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// The liveness score a capture must reach under this control (the engine's published
    /// thresholds: LOW 0.05, NORMAL 0.3, HIGH 0.9 — false rejection 1e-4, 1e-3, 1e-2).
    pub fn liveness_threshold(self) -> f32 {
        match self {
            Control::None => 0.0,
            Control::Low => 0.05,
            Control::Normal => 0.3,
            Control::High => 0.9,
        }
    }
}

/// The checks the engine applies to a capture before using it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaceChecks {
    pub quality: Control,
    pub liveness: Control,
}

impl FaceChecks {
    /// A face token the engine already holds was checked when it was captured.
    pub const NONE: FaceChecks = FaceChecks { quality: Control::None, liveness: Control::None };
}

/// One user the engine found like the probe.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceCandidate {
    pub group_id: String,
    pub user_id: String,
    /// 0–100.
    pub score: f32,
}

/// The scores the hospital decides with (settings).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FaceThresholds {
    /// A candidate at or above this is the person (the engine recommends 80).
    pub match_score: f32,
    /// A runner-up within this many points of the best makes the scan ambiguous: a person
    /// confirms by ID card instead of the machine choosing.
    pub ambiguity_margin: f32,
    /// The identity check (face against the ID photo) passes at or above this.
    pub identity_score: f32,
}

impl Default for FaceThresholds {
    fn default() -> Self {
        Self { match_score: 80.0, ambiguity_margin: 5.0, identity_score: 80.0 }
    }
}

/// What a 1:N scan decided.
#[derive(Clone, Debug, PartialEq)]
pub enum Recognition {
    /// Exactly one person, clearly.
    Recognised(FaceCandidate),
    /// Two or more above the bar and too close to tell apart, best first: confirm by ID card.
    Ambiguous(Vec<FaceCandidate>),
    /// Nobody above the bar: check in another way.
    NotRecognised,
}

/// Decides a scan from the engine's candidates (any order). The same user found in two
/// groups counts once, at its best score.
pub fn recognise(candidates: &[FaceCandidate], t: FaceThresholds) -> Recognition {
    let mut above: Vec<FaceCandidate> = Vec::new();
    for c in candidates.iter().filter(|c| c.score.is_finite() && c.score >= t.match_score) {
        match above.iter_mut().find(|a| a.user_id == c.user_id) {
            Some(a) if a.score < c.score => *a = c.clone(),
            Some(_) => {}
            None => above.push(c.clone()),
        }
    }
    above.sort_by(|a, b| b.score.total_cmp(&a.score));
    match above.as_slice() {
        [] => Recognition::NotRecognised,
        [one] => Recognition::Recognised(one.clone()),
        [best, second, ..] if best.score - second.score < t.ambiguity_margin => {
            let close: Vec<_> = above.iter().take_while(|c| best.score - c.score < t.ambiguity_margin).cloned().collect();
            Recognition::Ambiguous(close)
        }
        [best, ..] => Recognition::Recognised(best.clone()),
    }
}

/// The engine's ids allow letters, digits and `_` only, at most 48 characters [I: the
/// published limit is 128 for user ids; 48 keeps group ids safe too].
pub fn engine_id(raw: &str) -> String {
    raw.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(48).collect()
}

/// The small group a triage desk searches: the enrolled patients booked in one clinic area
/// on one day (FACE-2 searches "those booked today here", never the whole city).
pub fn area_day_group(prefix: &str, area_code: &str, day: NaiveDate) -> String {
    engine_id(&format!("{prefix}_a_{area_code}_{}", day.format("%Y%m%d")))
}

/// The small group a consulting room searches: one doctor's patients of one day.
pub fn doctor_day_group(prefix: &str, doctor_code: &str, day: NaiveDate) -> String {
    engine_id(&format!("{prefix}_d_{doctor_code}_{}", day.format("%Y%m%d")))
}

/// The group every enrolment lives in (its face token is copied into the day groups).
pub fn enrolment_group(prefix: &str) -> String {
    engine_id(&format!("{prefix}_enrolled"))
}

/// Where one 就诊人's enrolment stands. `Enrolling` is the moment between the identity
/// check and the engine's answer: a row left there (a crash, a lost answer) is settled by
/// deleting from the engine, which is harmless if the face never arrived.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnrolmentState {
    Enrolling,
    Active,
    /// Withdrawn by the patient; the engine's copies are being deleted.
    Withdrawing,
    /// Deleted from every group of the engine.
    Withdrawn,
    /// Never became active (refused by the engine, consent gone meanwhile); deleted from
    /// the engine in case the face arrived.
    Failed,
}

impl EnrolmentState {
    pub const ALL: [EnrolmentState; 5] = [Self::Enrolling, Self::Active, Self::Withdrawing, Self::Withdrawn, Self::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enrolling => "enrolling",
            Self::Active => "active",
            Self::Withdrawing => "withdrawing",
            Self::Withdrawn => "withdrawn",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Enrolling => "开通中",
            Self::Active => "已开通",
            Self::Withdrawing => "正在删除人脸信息",
            Self::Withdrawn => "已关闭，人脸信息已删除",
            Self::Failed => "未开通",
        }
    }

    /// Whether the engine may hold this enrolment's face now or later (what a withdrawal
    /// has to delete).
    pub fn may_be_in_engine(self) -> bool {
        matches!(self, Self::Enrolling | Self::Active)
    }
}

/// One 就诊人's enrolment as kept: the engine's user id, never the face.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Enrolment {
    pub id: i64,
    pub account_id: i64,
    pub patient_id: i64,
    pub engine_user_id: String,
    pub state: EnrolmentState,
    /// The consent text it was made under.
    pub consent_version: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub enrolled_at: Option<chrono::DateTime<chrono::Utc>>,
    pub withdrawn_at: Option<chrono::DateTime<chrono::Utc>>,
    /// When the engine confirmed every copy deleted.
    pub deleted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// An engine user id that says nothing about the person (no ID number, no patient id):
/// `p` and 20 hex digits of `random`.
pub fn opaque_user_id(random: [u8; 10]) -> String {
    let mut s = String::with_capacity(21);
    s.push('p');
    for b in random {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(user: &str, score: f32) -> FaceCandidate {
        FaceCandidate { group_id: "g".into(), user_id: user.into(), score }
    }

    #[test]
    fn one_clear_candidate_is_recognised_and_none_above_the_bar_is_not() {
        let t = FaceThresholds::default();
        assert_eq!(recognise(&[c("a", 93.0), c("b", 71.0)], t), Recognition::Recognised(c("a", 93.0)));
        assert_eq!(recognise(&[c("a", 79.9)], t), Recognition::NotRecognised);
        assert_eq!(recognise(&[], t), Recognition::NotRecognised);
        assert_eq!(recognise(&[c("a", f32::NAN)], t), Recognition::NotRecognised);
        // Far enough apart: the best wins.
        assert_eq!(recognise(&[c("b", 86.0), c("a", 95.0)], t), Recognition::Recognised(c("a", 95.0)));
    }

    #[test]
    fn close_candidates_are_ambiguous_and_the_same_user_twice_is_one() {
        let t = FaceThresholds::default();
        assert_eq!(recognise(&[c("a", 92.0), c("b", 90.5), c("z", 80.0)], t), Recognition::Ambiguous(vec![c("a", 92.0), c("b", 90.5)]));
        assert_eq!(recognise(&[c("a", 92.0), c("a", 90.5)], t), Recognition::Recognised(c("a", 92.0)));
        assert_eq!(recognise(&[c("a", 88.0), c("a", 92.0)], t), Recognition::Recognised(c("a", 92.0)));
    }

    #[test]
    fn group_ids_are_what_the_engine_accepts() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 7).unwrap();
        assert_eq!(area_day_group("cb", "内科-2F", day), "cb_a____2F_20261207");
        assert!(area_day_group("cb", "NK2", day).chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
        assert_eq!(doctor_day_group("cb", "D001", day), "cb_d_D001_20261207");
        assert_eq!(enrolment_group("cb"), "cb_enrolled");
        assert_eq!(engine_id(&"x".repeat(100)).len(), 48);
        assert_eq!(Control::parse(" normal"), Some(Control::Normal));
        assert_eq!(Control::parse("max"), None);
    }

    #[test]
    fn enrolment_states_read_back_and_user_ids_say_nothing() {
        for st in EnrolmentState::ALL {
            assert_eq!(EnrolmentState::parse(st.as_str()), Some(st));
            assert!(!st.label_zh().is_empty());
        }
        assert_eq!(EnrolmentState::parse("Active"), None);
        let id = opaque_user_id([0xab; 10]);
        assert_eq!(id, format!("p{}", "ab".repeat(10)));
        assert_eq!(engine_id(&id), id, "the engine takes it as it is");
    }
}
