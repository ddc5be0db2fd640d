//! The HIS simulator's admission notices (入院通知单) and registrations (住院登记, OTH-5):
//! a doctor issues a notice with the days the ward can take the patient and the bed types
//! it has; the admission office (through Carebridge) registers a day and bed type,
//! idempotently on the platform's booking number; a registration can be taken back.
//! Operation names, fields and codes are ours [I], in the style of protocols.md §8.2:
//! 2030 day outside the notice, 2031 unknown bed type, 2032 no such notice, 2033 already
//! registered (another booking or the office's own), 2034 notice withdrawn or used,
//! 2035 the ward is full that day.
use super::inpatient::control;
use super::*;
use crate::demo::StayProfile;

pub(super) enum NoticeState {
    Open,
    Registered { register_no: String, date: NaiveDate, bed_type: String, booking_no: String },
    Admitted,
    Cancelled,
}

pub(super) struct Notice {
    notice_no: String,
    patient_id: String,
    profile: StayProfile,
    issued_at: DateTime<Utc>,
    earliest: NaiveDate,
    latest: NaiveDate,
    state: NoticeState,
}

/// The bed types every ward of the demo offers: code, name, fee a day (fen).
const BED_TYPES: &[(&str, &str, i64)] = &[("GENERAL", "普通床位（三人间）", 5_000), ("DOUBLE", "双人间", 12_000), ("SINGLE", "单人间", 30_000)];

/// Dept, ward, doctor, reason, the deposit asked for, and what to do before coming in.
fn notice_of(profile: StayProfile) -> (&'static str, &'static str, &'static str, &'static str, i64, &'static str) {
    match profile {
        StayProfile::Orthopaedics => (
            "骨科",
            "骨科病区（住院部6楼）",
            "王志刚",
            "右膝内侧半月板损伤，拟行关节镜手术",
            500_000,
            "入院前一晚22:00后禁食、24:00后禁水；长期服用阿司匹林等抗凝药物者请提前告知医生。",
        ),
        StayProfile::Cardiology => (
            "心血管内科",
            "心血管内科病区（住院部8楼）",
            "陈建国",
            "冠状动脉粥样硬化性心脏病，拟行冠脉造影",
            300_000,
            "请带齐近期心电图、心脏彩超等检查资料及正在服用的药物。",
        ),
    }
}

/// A notice to issue (demo and tests): for whom, which ward, and the window of days
/// counted from today.
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NewNotice {
    #[serde(default)]
    pub patient_id: String,
    #[serde(default)]
    pub id_card_no: String,
    pub profile: StayProfile,
    #[serde(default = "default_from")]
    pub from_days: i64,
    #[serde(default = "default_to")]
    pub to_days: i64,
}

fn default_from() -> i64 {
    2
}
fn default_to() -> i64 {
    14
}

impl HisState {
    pub(super) fn issue_notice(&mut self, n: &NewNotice) -> Result<String, String> {
        let patient_id = if n.patient_id.is_empty() {
            self.patients.iter().find(|p| p.citizen.id_card_no == n.id_card_no).map(|p| p.patient_id.clone()).unwrap_or_default()
        } else {
            n.patient_id.clone()
        };
        if self.patient_by_id(&patient_id).is_none() {
            return Err("unknown patient".into());
        }
        if n.from_days > n.to_days || n.to_days > 365 {
            return Err("window".into());
        }
        let today = domain::clock::to_local(self.clock.now()).date_naive();
        let notice_no = self.next("RYTZ");
        self.notices.push(Notice {
            notice_no: notice_no.clone(),
            patient_id,
            profile: n.profile,
            issued_at: self.clock.now(),
            earliest: today + Duration::days(n.from_days),
            latest: today + Duration::days(n.to_days),
            state: NoticeState::Open,
        });
        Ok(notice_no)
    }

    fn notice_json(n: &Notice) -> Value {
        let (dept, ward, doctor, diagnosis, deposit, preparation) = notice_of(n.profile);
        let (status, registration) = match &n.state {
            NoticeState::Open => ("OPEN", Value::Null),
            NoticeState::Registered { register_no, date, bed_type, booking_no } => {
                ("REGISTERED", json!({"registerNo": register_no, "admitDate": date.to_string(), "bedType": bed_type, "bookingNo": booking_no}))
            }
            NoticeState::Admitted => ("ADMITTED", Value::Null),
            NoticeState::Cancelled => ("CANCELLED", Value::Null),
        };
        json!({
            "noticeNo": n.notice_no, "patientId": n.patient_id, "deptName": dept, "ward": ward, "doctor": doctor, "diagnosis": diagnosis,
            "issueTime": n.issued_at.to_rfc3339(), "earliestDate": n.earliest.to_string(), "latestDate": n.latest.to_string(),
            "bedTypes": BED_TYPES.iter().map(|(c, name, fee)| json!({"code": c, "name": name, "dailyFee": fee})).collect::<Vec<_>>(),
            "depositAdvised": deposit, "preparation": preparation, "status": status, "registration": registration,
        })
    }

    pub(super) fn admission_notices(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        if self.patient_by_id(pid).is_none() {
            return err("2001", "患者不存在");
        }
        Ok(Value::Array(self.notices.iter().rev().filter(|n| n.patient_id == pid).map(Self::notice_json).collect()))
    }

    fn notice_index(&self, no: &str) -> Result<usize, (&'static str, String)> {
        self.notices.iter().position(|n| n.notice_no == no).ok_or(("2032", "入院通知单不存在".to_owned()))
    }

    pub(super) fn admission_register(&mut self, data: &Value) -> OpResult {
        let i = self.notice_index(s(data, "noticeNo")?)?;
        let booking_no = s(data, "bookingNo")?.to_owned();
        let bed_type = s(data, "bedType")?.to_owned();
        let date = NaiveDate::parse_from_str(s(data, "admitDate")?, "%Y-%m-%d").map_err(|_| ("1001", "日期格式错误 admitDate".to_owned()))?;
        let today = domain::clock::to_local(self.clock.now()).date_naive();
        let n = &self.notices[i];
        match &n.state {
            NoticeState::Registered { register_no, date, bed_type, booking_no: b } if *b == booking_no => {
                return Ok(json!({"registerNo": register_no, "admitDate": date.to_string(), "bedType": bed_type}));
            }
            NoticeState::Registered { .. } => return err("2033", "该入院通知已登记"),
            NoticeState::Admitted | NoticeState::Cancelled => return err("2034", "入院通知已失效"),
            NoticeState::Open => {}
        }
        if date < n.earliest || date > n.latest || date <= today {
            return err("2030", "入院日期不在通知单允许的范围内");
        }
        if !BED_TYPES.iter().any(|b| b.0 == bed_type) {
            return err("2031", "床位类型不存在");
        }
        if self.faults.full_admission_days.contains(&date) {
            return err("2035", "该日病区床位已满");
        }
        let register_no = self.next("ZYDJ");
        self.notices[i].state = NoticeState::Registered { register_no: register_no.clone(), date, bed_type: bed_type.clone(), booking_no };
        Ok(json!({"registerNo": register_no, "admitDate": date.to_string(), "bedType": bed_type}))
    }

    pub(super) fn admission_cancel(&mut self, data: &Value) -> OpResult {
        let i = self.notice_index(s(data, "noticeNo")?)?;
        let booking_no = s(data, "bookingNo")?;
        match &self.notices[i].state {
            NoticeState::Registered { booking_no: b, .. } if b == booking_no => {
                self.notices[i].state = NoticeState::Open;
                Ok(json!({}))
            }
            NoticeState::Registered { .. } => err("2033", "该入院通知由其他预约登记"),
            NoticeState::Open | NoticeState::Cancelled => Ok(json!({})),
            NoticeState::Admitted => err("2034", "患者已入院"),
        }
    }

    /// The patient arrived: the notice is used and the stay begins (demo control).
    fn admit_on_notice(&mut self, no: &str) -> OpResult {
        let i = self.notice_index(no)?;
        if !matches!(self.notices[i].state, NoticeState::Registered { .. } | NoticeState::Open) {
            return err("2034", "入院通知已失效");
        }
        let a = Admission {
            patient_id: self.notices[i].patient_id.clone(),
            id_card_no: String::new(),
            profile: self.notices[i].profile,
            days_ago: 0,
            deposits: vec![],
            discharge_ordered: false,
            extra_lines_per_day: 0,
        };
        let inpatient_no = self.admit(&a).map_err(|e| ("2001", e))?;
        self.notices[i].state = NoticeState::Admitted;
        Ok(json!({"inpatientNo": inpatient_no}))
    }

    fn withdraw_notice(&mut self, no: &str) -> OpResult {
        let i = self.notice_index(no)?;
        if matches!(self.notices[i].state, NoticeState::Admitted) {
            return err("2034", "患者已入院");
        }
        self.notices[i].state = NoticeState::Cancelled;
        Ok(json!({}))
    }

    /// The newest open notice of a patient (the events console's 入院通知 push).
    pub fn open_notice_of(&self, patient_id: &str) -> Option<(String, String, String, NaiveDate)> {
        self.notices.iter().rev().find(|n| n.patient_id == patient_id && matches!(n.state, NoticeState::Open)).map(|n| {
            let (dept, _, doctor, _, _, _) = notice_of(n.profile);
            (n.notice_no.clone(), dept.to_owned(), doctor.to_owned(), n.latest)
        })
    }

    /// Issues an orthopaedic notice for a patient who has none open (the events console).
    pub fn ensure_open_notice(&mut self, patient_id: &str) -> Result<(String, String, String, NaiveDate), String> {
        if let Some(n) = self.open_notice_of(patient_id) {
            return Ok(n);
        }
        let n = NewNotice { patient_id: patient_id.to_owned(), id_card_no: String::new(), profile: StayProfile::Orthopaedics, from_days: 2, to_days: 14 };
        self.issue_notice(&n)?;
        self.open_notice_of(patient_id).ok_or_else(|| "notice".to_owned())
    }
}

/// Control endpoints (demo and tests).
pub(super) fn router() -> Router<SharedHis> {
    Router::new()
        .route("/__sim/his/admission/notice", post(issue))
        .route("/__sim/his/admission/{no}/admit", post(admit))
        .route("/__sim/his/admission/{no}/withdraw", post(withdraw))
}

async fn issue(State(st): State<SharedHis>, Json(n): Json<NewNotice>) -> Response {
    match st.lock().expect("his lock").issue_notice(&n) {
        Ok(no) => Json(json!({"noticeNo": no})).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

async fn admit(State(st): State<SharedHis>, Path(no): Path<String>) -> Response {
    control(st.lock().expect("his lock").admit_on_notice(&no))
}

async fn withdraw(State(st): State<SharedHis>, Path(no): Path<String>) -> Response {
    control(st.lock().expect("his lock").withdraw_notice(&no))
}
