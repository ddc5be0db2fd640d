//! Reports (RPT-1/2): where a lab test or an exam stands, as the LIS/PACS says, and
//! what the patient sees and should do next.
//!
//! The LIS numbers every change of an order with a `revision`. Carebridge keeps the
//! snapshot with the highest revision it has seen — from a pushed event or from a
//! poll — so events that arrive late, twice or never still end in the LIS's state,
//! and a stale one can never move the patient's view backwards. A result reaches the
//! patient only when a reviewing doctor has released that very version of the report
//! and the category's release delay has passed.
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The LIS/PACS status of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LabStatus {
    /// Paid, not yet sampled or examined.
    Ordered,
    /// Sample taken / exam done; the result is being produced.
    Sampled,
    /// A signed report exists.
    Reported,
    /// The specimen was rejected (haemolysed, clotted, too little …).
    Rejected,
    /// A released report was withdrawn for correction.
    Withdrawn,
}

impl LabStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Sampled => "sampled",
            Self::Reported => "reported",
            Self::Rejected => "rejected",
            Self::Withdrawn => "withdrawn",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Ordered, Self::Sampled, Self::Reported, Self::Rejected, Self::Withdrawn].into_iter().find(|x| x.as_str() == s)
    }
}

/// A lab test (LIS) or an imaging/functional exam (PACS).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderKind {
    Lab,
    Exam,
}

impl OrderKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Lab => "lab",
            Self::Exam => "exam",
        }
    }
    pub fn report_title(self) -> &'static str {
        match self {
            Self::Lab => "检验报告单",
            Self::Exam => "检查报告单",
        }
    }
}

/// One measured item of a result.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResultItem {
    pub code: String,
    pub name: String,
    pub value: String,
    pub unit: String,
    /// The reference range as printed, e.g. "3.5-9.5".
    pub range: String,
    /// "H" (above), "L" (below), "" (normal), or a critical mark "HH"/"LL".
    pub flag: String,
}

impl ResultItem {
    /// The arrow printed beside the value.
    pub fn arrow(&self) -> &'static str {
        match self.flag.as_str() {
            "H" | "HH" => "↑",
            "L" | "LL" => "↓",
            _ => "",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileKind {
    Pdf,
    Jpeg,
}

impl FileKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpeg",
        }
    }
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Pdf => "application/pdf",
            Self::Jpeg => "image/jpeg",
        }
    }
    pub fn extension(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Jpeg => "jpg",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pdf" => Some(Self::Pdf),
            "jpeg" | "jpg" => Some(Self::Jpeg),
            _ => None,
        }
    }
}

/// A file the LIS/PACS holds for a report (fetched by id).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub file_id: String,
    pub kind: FileKind,
    pub name: String,
}

/// The signed report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportBody {
    pub report_no: String,
    /// Raised each time the report is reissued after a withdrawal.
    pub version: u32,
    pub reported_at: DateTime<Utc>,
    pub tester: String,
    pub reviewer: String,
    pub items: Vec<ResultItem>,
    pub findings: String,
    pub conclusion: String,
    pub files: Vec<FileRef>,
}

/// Why a specimen was rejected and what the patient should do.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejection {
    pub reason: String,
    pub instruction: String,
    pub at: DateTime<Utc>,
    pub by: String,
}

/// What the LIS says about one order at one revision.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LabSnapshot {
    pub order_no: String,
    pub his_patient_id: String,
    pub recipe_id: String,
    pub item_code: String,
    pub item_name: String,
    pub kind: OrderKind,
    /// The test category (hematology, biochemistry, imaging, pathology …): what the
    /// release delay and the turnaround are set by.
    pub category: String,
    pub dept_name: String,
    pub doctor_name: String,
    /// Where to give the sample or have the exam.
    pub place: String,
    pub specimen: String,
    pub barcode: String,
    pub revision: u64,
    pub status: LabStatus,
    pub ordered_at: DateTime<Utc>,
    pub sampled_at: Option<DateTime<Utc>>,
    pub rejection: Option<Rejection>,
    pub report: Option<ReportBody>,
}

/// What applying a snapshot did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Merge {
    /// Newer than what we hold: it replaces it.
    Applied,
    /// Not newer: kept out (a duplicate, or overtaken by a later one).
    Stale,
}

/// The one rule that makes lost, duplicated and reordered events harmless: the
/// highest revision wins.
pub fn merge(current: Option<&LabSnapshot>, incoming: &LabSnapshot) -> Merge {
    match current {
        Some(c) if c.revision >= incoming.revision => Merge::Stale,
        _ => Merge::Applied,
    }
}

/// A reviewing doctor's release of one version of a report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Release {
    pub report_no: String,
    pub version: u32,
    pub released_by: String,
    pub released_at: DateTime<Utc>,
    /// Released + the category's delay: when the patient may see it.
    pub visible_at: DateTime<Utc>,
}

impl Release {
    /// Does this release cover the report the LIS holds now?
    pub fn covers(&self, snap: &LabSnapshot) -> bool {
        snap.status == LabStatus::Reported && snap.report.as_ref().is_some_and(|r| r.report_no == self.report_no && r.version == self.version)
    }
}

/// The four states of RPT-1, as the patient sees them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PatientState {
    /// 待检测
    Pending,
    /// 检测中
    InProgress,
    /// 已完成
    Completed,
    /// 异常
    Abnormal,
}

impl PatientState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::InProgress => "in_progress",
            Self::Completed => "completed",
            Self::Abnormal => "abnormal",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Pending => "待检测",
            Self::InProgress => "检测中",
            Self::Completed => "已完成",
            Self::Abnormal => "异常",
        }
    }
}

/// Turnaround and release delays, from settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportPolicy {
    /// Minutes from sampling to result, by item code or by category (the item code
    /// wins).
    pub turnaround_minutes: BTreeMap<String, i64>,
    pub default_turnaround_minutes: i64,
    /// Minutes between release and the patient seeing it, by category (MyChart-style
    /// delays for pathology, genetics …). Absent: none.
    pub release_delay_minutes: BTreeMap<String, i64>,
}

impl Default for ReportPolicy {
    fn default() -> Self {
        let tat = [
            ("hematology", 60),
            ("urinalysis", 60),
            ("biochemistry", 240),
            ("immunology", 240),
            ("microbiology", 72 * 60),
            ("imaging", 120),
            ("pathology", 5 * 24 * 60),
        ];
        Self {
            turnaround_minutes: tat.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            default_turnaround_minutes: 240,
            release_delay_minutes: [("pathology".to_owned(), 72 * 60), ("genetics".to_owned(), 72 * 60)].into_iter().collect(),
        }
    }
}

impl ReportPolicy {
    pub fn expected_at(&self, snap: &LabSnapshot) -> Option<DateTime<Utc>> {
        let minutes = self
            .turnaround_minutes
            .get(&snap.item_code)
            .or_else(|| self.turnaround_minutes.get(&snap.category))
            .copied()
            .unwrap_or(self.default_turnaround_minutes);
        snap.sampled_at.map(|t| t + Duration::minutes(minutes))
    }
    pub fn release_delay(&self, category: &str) -> Duration {
        Duration::minutes(self.release_delay_minutes.get(category).copied().unwrap_or(0).max(0))
    }
}

/// What the patient sees: the state, and one sentence on what to do next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PatientView {
    pub state: PatientState,
    pub guidance: String,
    pub expected_at: Option<DateTime<Utc>>,
    /// The report may be opened (released, visible, not withdrawn).
    pub report_visible: bool,
}

fn local_hm(t: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let (t, n) = (crate::clock::to_local(t), crate::clock::to_local(now));
    if t.date_naive() == n.date_naive() {
        format!("今天 {}", t.format("%H:%M"))
    } else if t.date_naive() == n.date_naive() + Duration::days(1) {
        format!("明天 {}", t.format("%H:%M"))
    } else {
        t.format("%m月%d日 %H:%M").to_string()
    }
}

/// The patient's view of an order. Derived, never stored: a release whose delay has
/// passed shows without anything having to run.
pub fn patient_view(snap: &LabSnapshot, release: Option<&Release>, policy: &ReportPolicy, now: DateTime<Utc>) -> PatientView {
    let expected_at = policy.expected_at(snap);
    let (state, guidance, visible) = match snap.status {
        LabStatus::Ordered => {
            let what = match snap.kind {
                OrderKind::Lab => format!(
                    "请到{}{}，请携带就诊卡或出示电子健康卡。",
                    snap.place,
                    if snap.specimen.is_empty() { "采集标本".to_owned() } else { format!("留取标本（{}）", snap.specimen) }
                ),
                OrderKind::Exam => format!("请到{}登记检查，检查前请阅读检查注意事项。", snap.place),
            };
            (PatientState::Pending, what, false)
        }
        LabStatus::Sampled => {
            let when = expected_at.map(|t| format!("预计{}出结果，", local_hm(t, now))).unwrap_or_default();
            let what = match snap.kind {
                OrderKind::Lab => "标本已采集",
                OrderKind::Exam => "检查已完成",
            };
            (PatientState::InProgress, format!("{what}，{when}结果出来后我们会通知您，无需在医院等候。"), false)
        }
        LabStatus::Reported => match release {
            Some(r) if r.covers(snap) && now >= r.visible_at => {
                (PatientState::Completed, "报告已出，可查看结果、保存报告到手机；复诊时向医生出示即可，无需打印。".to_owned(), true)
            }
            Some(r) if r.covers(snap) => (PatientState::InProgress, format!("报告已审核，将于{}开放查看，届时会通知您。", local_hm(r.visible_at, now)), false),
            _ => (PatientState::InProgress, "结果已出，正在由医生审核，审核后我们会通知您。".to_owned(), false),
        },
        LabStatus::Rejected => {
            let r = snap.rejection.as_ref();
            let reason = r.map(|r| r.reason.as_str()).unwrap_or("标本不合格");
            let todo = r.map(|r| r.instruction.as_str()).filter(|s| !s.is_empty()).unwrap_or("请按医院通知重新采集标本。");
            (PatientState::Abnormal, format!("标本异常：{reason}。{todo}"), false)
        }
        LabStatus::Withdrawn => (PatientState::InProgress, "报告正在复核更正，更正后我们会再次通知您，请以更正后的报告为准。".to_owned(), false),
    };
    PatientView { state, guidance, expected_at: if state == PatientState::InProgress { expected_at } else { None }, report_visible: visible }
}

/// When a patient can still give a new sample: today before the lab's closing time if that
/// is ahead of `now` (local), else the next day's. Never a time already past.
pub fn resample_deadline(now: chrono::NaiveDateTime, closes: chrono::NaiveTime) -> (chrono::NaiveDate, &'static str) {
    if now.time() < closes { (now.date(), "今天") } else { (now.date() + chrono::Duration::days(1), "明天") }
}

/// The deadline as a notice says it: "12月7日（明天）16:30". The date is written out because
/// a message is read later than it is sent, when "今天" would name the wrong day.
pub fn resample_deadline_text(now: chrono::NaiveDateTime, closes: chrono::NaiveTime) -> String {
    use chrono::Datelike;
    let (day, word) = resample_deadline(now, closes);
    format!("{}月{}日（{word}）{}", day.month(), day.day(), closes.format("%H:%M"))
}

#[cfg(test)]
mod resample_tests {
    use super::resample_deadline;
    use chrono::{NaiveDate, NaiveTime};

    #[test]
    fn a_new_sample_is_asked_for_before_a_closing_time_still_ahead() {
        let closes = NaiveTime::from_hms_opt(16, 30, 0).unwrap();
        let day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
        assert_eq!(resample_deadline(day.and_hms_opt(9, 0, 0).unwrap(), closes), (day, "今天"));
        assert_eq!(resample_deadline(day.and_hms_opt(16, 29, 59).unwrap(), closes), (day, "今天"));
        assert_eq!(resample_deadline(day.and_hms_opt(16, 30, 0).unwrap(), closes), (day.succ_opt().unwrap(), "明天"), "closing time itself is too late");
        assert_eq!(resample_deadline(day.and_hms_opt(19, 36, 0).unwrap(), closes), (day.succ_opt().unwrap(), "明天"));
        assert_eq!(super::resample_deadline_text(day.and_hms_opt(19, 36, 0).unwrap(), closes), "11月27日（明天）16:30");
        assert_eq!(super::resample_deadline_text(day.and_hms_opt(9, 0, 0).unwrap(), closes), "11月26日（今天）16:30");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn at(min: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 26, 1, 0, 0).unwrap() + Duration::minutes(min)
    }

    fn base() -> LabSnapshot {
        LabSnapshot {
            order_no: "LO1".into(),
            his_patient_id: "P1".into(),
            recipe_id: "RX1".into(),
            item_code: "250101001".into(),
            item_name: "血常规（五分类）".into(),
            kind: OrderKind::Lab,
            category: "hematology".into(),
            dept_name: "内科".into(),
            doctor_name: "王医生".into(),
            place: "门诊楼1层检验科采血处（B区）".into(),
            specimen: "静脉血".into(),
            barcode: "B1".into(),
            revision: 1,
            status: LabStatus::Ordered,
            ordered_at: at(0),
            sampled_at: None,
            rejection: None,
            report: None,
        }
    }

    /// A step the LIS can take from a state.
    #[derive(Clone, Copy, Debug)]
    enum Step {
        Sample,
        Reject,
        Report,
        Withdraw,
    }

    /// A legal LIS history: snapshots with revisions 1, 2, 3 …
    fn history(steps: &[Step]) -> Vec<LabSnapshot> {
        let mut cur = base();
        let mut out = vec![cur.clone()];
        let mut version = 0;
        for (i, step) in steps.iter().enumerate() {
            let t = at(10 * (i as i64 + 1));
            let mut next = cur.clone();
            match (step, cur.status) {
                (Step::Sample, LabStatus::Ordered | LabStatus::Rejected) => {
                    next.status = LabStatus::Sampled;
                    next.sampled_at = Some(t);
                }
                (Step::Reject, LabStatus::Sampled) => {
                    next.status = LabStatus::Rejected;
                    next.rejection =
                        Some(Rejection {
                            reason: "标本溶血".into(), instruction: "请于今天16:00前到B区3号窗口重新采血".into(), at: t, by: "lab01".into()
                        });
                }
                (Step::Report, LabStatus::Sampled | LabStatus::Withdrawn) => {
                    version += 1;
                    next.status = LabStatus::Reported;
                    next.report = Some(ReportBody {
                        report_no: "R1".into(),
                        version,
                        reported_at: t,
                        tester: "李晓燕".into(),
                        reviewer: "孙丽华".into(),
                        items: vec![],
                        findings: String::new(),
                        conclusion: format!("v{version}"),
                        files: vec![],
                    });
                }
                (Step::Withdraw, LabStatus::Reported) => next.status = LabStatus::Withdrawn,
                _ => continue,
            }
            next.revision = cur.revision + 1;
            out.push(next.clone());
            cur = next;
        }
        out
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![Just(Step::Sample), Just(Step::Reject), Just(Step::Report), Just(Step::Withdraw)]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Events lost, duplicated and out of order: what we hold is always the
        /// newest snapshot delivered, and a poll afterwards brings the LIS's state.
        #[test]
        fn highest_revision_wins_whatever_the_delivery(
            steps in proptest::collection::vec(step(), 0..14),
            picks in proptest::collection::vec((any::<proptest::sample::Index>(), any::<u8>()), 0..30),
            release_at in any::<proptest::sample::Index>(),
        ) {
            let truth = history(&steps);
            // Deliveries: any snapshots (some never, some several times), in the order picked.
            let mut deliveries: Vec<(u8, &LabSnapshot)> = picks.iter().map(|(i, k)| (*k, i.get(&truth))).collect();
            deliveries.sort_by_key(|(k, _)| *k);
            let mut held: Option<LabSnapshot> = None;
            let mut views = Vec::new();
            let policy = ReportPolicy::default();
            // The doctor released the report as it stood at one point of the history.
            let released = release_at.get(&truth).report.clone().map(|r| Release { report_no: r.report_no, version: r.version, released_by: "doc".into(), released_at: at(0), visible_at: at(0) });
            for (_, snap) in &deliveries {
                if merge(held.as_ref(), snap) == Merge::Applied {
                    if let Some(h) = &held { prop_assert!(snap.revision > h.revision); }
                    held = Some((*snap).clone());
                }
                let h = held.as_ref().unwrap();
                let v = patient_view(h, released.as_ref(), &policy, at(10_000));
                // Completed only for the very version released, never for a withdrawn one.
                if v.state == PatientState::Completed {
                    prop_assert_eq!(h.status, LabStatus::Reported);
                    prop_assert_eq!(h.report.as_ref().map(|r| r.version), released.as_ref().map(|r| r.version));
                }
                views.push(h.revision);
            }
            let newest_delivered = deliveries.iter().map(|(_, s)| s.revision).max();
            prop_assert_eq!(held.as_ref().map(|h| h.revision), newest_delivered);
            // The view never goes back to an older revision.
            prop_assert!(views.windows(2).all(|w| w[0] <= w[1]));
            // The poll: the LIS's current snapshot.
            let latest = truth.last().unwrap();
            if merge(held.as_ref(), latest) == Merge::Applied { held = Some(latest.clone()); }
            prop_assert_eq!(held.as_ref(), Some(latest));
        }
    }

    #[test]
    fn each_state_says_what_to_do_next() {
        let policy = ReportPolicy::default();
        let mut s = base();
        let v = patient_view(&s, None, &policy, at(0));
        assert_eq!((v.state, v.report_visible), (PatientState::Pending, false));
        assert!(v.guidance.contains("检验科采血处"), "{}", v.guidance);

        s.status = LabStatus::Sampled;
        s.sampled_at = Some(at(0));
        let v = patient_view(&s, None, &policy, at(5));
        assert_eq!(v.state, PatientState::InProgress);
        assert_eq!(v.expected_at, Some(at(60)), "hematology turns round in an hour");
        assert!(v.guidance.contains("预计今天 10:00出结果"), "{}", v.guidance);

        s.status = LabStatus::Rejected;
        s.rejection = Some(Rejection {
            reason: "标本凝固".into(), instruction: "请于今天16:00前到B区3号窗口重新采血".into(), at: at(20), by: "lab01".into()
        });
        let v = patient_view(&s, None, &policy, at(21));
        assert_eq!(v.state, PatientState::Abnormal);
        assert!(v.guidance.contains("标本凝固") && v.guidance.contains("B区3号窗口"), "{}", v.guidance);
    }

    #[test]
    fn a_result_waits_for_release_and_the_category_delay() {
        let mut policy = ReportPolicy::default();
        let mut s = base();
        s.status = LabStatus::Reported;
        s.sampled_at = Some(at(0));
        s.category = "pathology".into();
        s.report = Some(ReportBody {
            report_no: "R9".into(),
            version: 1,
            reported_at: at(30),
            tester: "t".into(),
            reviewer: "r".into(),
            items: vec![],
            findings: String::new(),
            conclusion: String::new(),
            files: vec![],
        });
        assert_eq!(patient_view(&s, None, &policy, at(40)).state, PatientState::InProgress, "not released");
        let delay = policy.release_delay("pathology");
        assert_eq!(delay, Duration::hours(72));
        let r = Release { report_no: "R9".into(), version: 1, released_by: "doctor01".into(), released_at: at(40), visible_at: at(40) + delay };
        let v = patient_view(&s, Some(&r), &policy, at(41));
        assert_eq!((v.state, v.report_visible), (PatientState::InProgress, false));
        assert!(v.guidance.contains("开放查看"), "{}", v.guidance);
        assert!(patient_view(&s, Some(&r), &policy, at(40) + delay).report_visible);
        // Withdrawn, then reissued as version 2: the old release covers neither.
        s.status = LabStatus::Withdrawn;
        assert!(!patient_view(&s, Some(&r), &policy, at(40) + delay).report_visible);
        s.status = LabStatus::Reported;
        s.report.as_mut().unwrap().version = 2;
        assert!(!patient_view(&s, Some(&r), &policy, at(40) + delay).report_visible);
        policy.release_delay_minutes.clear();
        assert_eq!(policy.release_delay("pathology"), Duration::zero());
    }
}
