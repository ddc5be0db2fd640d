//! Admission booking (住院登记预约, OTH-5): a doctor's admission notice (入院通知单) lives in
//! the HIS; the patient picks a day within the window the notice allows and a bed type the
//! ward has; the admission office (住院服务中心) confirms it — registering the admission in
//! the HIS — or proposes another day, which the patient accepts or answers with a choice of
//! their own. Rules only: no I/O.
use crate::Fen;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

/// How far ahead a patient may book at most, whatever the notice allows [I].
pub const MAX_DAYS_AHEAD: i64 = 60;

/// A kind of bed the ward offers (普通/双人间/单人间), with what a day of it costs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BedType {
    pub code: String,
    pub name: String,
    pub daily_fee: Fen,
}

/// Where the HIS says a notice stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NoticeStatus {
    /// Waiting for a registration.
    Open,
    /// Registered for a day and bed type (by us under `booking_no`, or at the office).
    Registered { register_no: String, date: NaiveDate, bed_type: String, booking_no: Option<String> },
    /// The patient came in: the stay exists.
    Admitted,
    /// The doctor withdrew it, or it lapsed.
    Cancelled,
}

/// 入院通知单 as the HIS gives it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdmissionNotice {
    pub notice_no: String,
    pub his_patient_id: String,
    pub dept_name: String,
    /// The ward the patient will go to.
    pub ward: String,
    pub doctor: String,
    /// The reason for admission as the doctor words it.
    pub diagnosis: String,
    pub issued_at: DateTime<Utc>,
    /// The days the doctor wants the admission within.
    pub earliest: NaiveDate,
    pub latest: NaiveDate,
    pub bed_types: Vec<BedType>,
    /// The deposit the office asks for on admission.
    pub deposit_advised: Fen,
    /// The doctor's instructions before coming in (fasting, medicines to stop …).
    pub preparation: String,
    pub status: NoticeStatus,
}

impl AdmissionNotice {
    pub fn bed_type(&self, code: &str) -> Option<&BedType> {
        self.bed_types.iter().find(|b| b.code == code)
    }

    /// The days a patient booking `today` may choose: from the later of tomorrow and the
    /// notice's first day, to the earlier of its last day and [`MAX_DAYS_AHEAD`]. `None`
    /// when no day is left.
    pub fn bookable_days(&self, today: NaiveDate) -> Option<(NaiveDate, NaiveDate)> {
        let from = self.earliest.max(today + chrono::Duration::days(1));
        let to = self.latest.min(today + chrono::Duration::days(MAX_DAYS_AHEAD));
        (from <= to).then_some((from, to))
    }

    /// Checks a wanted day and bed type against the notice.
    pub fn check_choice(&self, date: NaiveDate, bed_type: &str, today: NaiveDate) -> Result<(), ChoiceError> {
        if self.status == NoticeStatus::Cancelled || self.status == NoticeStatus::Admitted {
            return Err(ChoiceError::NoticeClosed);
        }
        let Some((from, to)) = self.bookable_days(today) else { return Err(ChoiceError::NoDayLeft) };
        if date < from || date > to {
            return Err(ChoiceError::DateOutside { from, to });
        }
        if self.bed_type(bed_type).is_none() {
            return Err(ChoiceError::UnknownBedType);
        }
        Ok(())
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChoiceError {
    NoticeClosed,
    NoDayLeft,
    DateOutside { from: NaiveDate, to: NaiveDate },
    UnknownBedType,
}

impl ChoiceError {
    /// What the patient (or the office) is told.
    pub fn message_zh(&self) -> String {
        match self {
            Self::NoticeClosed => "该入院通知已失效，请联系开单医生".into(),
            Self::NoDayLeft => "该入院通知的可预约日期已过，请联系住院服务中心".into(),
            Self::DateOutside { from, to } => format!("请选择 {from} 至 {to} 之间的入院日期"),
            Self::UnknownBedType => "请选择病区提供的床位类型".into(),
        }
    }
}

/// Where a booking of the platform stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingState {
    /// The patient chose a day and bed type; the office has not answered.
    Requested,
    /// The office proposed another day (or bed type); the patient has not answered.
    Proposed,
    /// Registered in the HIS: the patient is expected on the day.
    Confirmed,
    /// Given up by the patient, or by the office (the notice was withdrawn).
    Cancelled,
    /// The patient came in (the HIS's notice says admitted).
    Admitted,
}

impl BookingState {
    pub const ALL: [Self; 5] = [Self::Requested, Self::Proposed, Self::Confirmed, Self::Cancelled, Self::Admitted];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requested => "requested",
            Self::Proposed => "proposed",
            Self::Confirmed => "confirmed",
            Self::Cancelled => "cancelled",
            Self::Admitted => "admitted",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Requested => "待住院服务中心确认",
            Self::Proposed => "住院服务中心建议改期，待您确认",
            Self::Confirmed => "已确认",
            Self::Cancelled => "已取消",
            Self::Admitted => "已入院",
        }
    }

    /// Whether the booking still holds its notice (a second one may not start).
    pub fn is_active(self) -> bool {
        matches!(self, Self::Requested | Self::Proposed | Self::Confirmed)
    }

    /// Whether the patient may still choose another day themselves.
    pub fn patient_may_rechoose(self) -> bool {
        matches!(self, Self::Requested | Self::Proposed)
    }

    /// Whether the office may confirm or propose.
    pub fn office_may_answer(self) -> bool {
        matches!(self, Self::Requested | Self::Proposed)
    }

    /// Whether the patient may cancel (a confirmed one is taken out of the HIS too).
    pub fn patient_may_cancel(self) -> bool {
        self.is_active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn notice(earliest: &str, latest: &str) -> AdmissionNotice {
        AdmissionNotice {
            notice_no: "RY1".into(),
            his_patient_id: "P1".into(),
            dept_name: "骨科".into(),
            ward: "骨科病区".into(),
            doctor: "王志刚".into(),
            diagnosis: "右膝半月板损伤".into(),
            issued_at: Utc::now(),
            earliest: d(earliest),
            latest: d(latest),
            bed_types: vec![BedType { code: "GENERAL".into(), name: "普通床位".into(), daily_fee: Fen(5_000) }],
            deposit_advised: Fen(500_000),
            preparation: String::new(),
            status: NoticeStatus::Open,
        }
    }

    #[test]
    fn the_first_bookable_day_is_tomorrow_or_the_notices_first_day() {
        let n = notice("2026-12-01", "2026-12-20");
        assert_eq!(n.bookable_days(d("2026-12-07")), Some((d("2026-12-08"), d("2026-12-20"))));
        let n = notice("2026-12-10", "2026-12-20");
        assert_eq!(n.bookable_days(d("2026-12-07")), Some((d("2026-12-10"), d("2026-12-20"))));
        // Past its last day: nothing is left.
        assert_eq!(notice("2026-12-01", "2026-12-07").bookable_days(d("2026-12-07")), None);
        // A long window is cut at the horizon.
        let n = notice("2026-12-01", "2027-06-30");
        assert_eq!(n.bookable_days(d("2026-12-07")).unwrap().1, d("2026-12-07") + chrono::Duration::days(MAX_DAYS_AHEAD));
    }

    #[test]
    fn a_choice_outside_the_window_or_of_another_bed_type_is_refused() {
        let n = notice("2026-12-01", "2026-12-20");
        let today = d("2026-12-07");
        assert_eq!(n.check_choice(d("2026-12-08"), "GENERAL", today), Ok(()));
        assert_eq!(n.check_choice(d("2026-12-20"), "GENERAL", today), Ok(()));
        assert!(matches!(n.check_choice(d("2026-12-07"), "GENERAL", today), Err(ChoiceError::DateOutside { .. })));
        assert!(matches!(n.check_choice(d("2026-12-21"), "GENERAL", today), Err(ChoiceError::DateOutside { .. })));
        assert_eq!(n.check_choice(d("2026-12-09"), "SINGLE", today), Err(ChoiceError::UnknownBedType));
        let mut closed = n.clone();
        closed.status = NoticeStatus::Cancelled;
        assert_eq!(closed.check_choice(d("2026-12-09"), "GENERAL", today), Err(ChoiceError::NoticeClosed));
    }

    #[test]
    fn states_round_trip_and_only_live_ones_hold_the_notice() {
        for s in BookingState::ALL {
            assert_eq!(BookingState::parse(s.as_str()), Some(s));
        }
        assert!(BookingState::Confirmed.is_active() && BookingState::Confirmed.patient_may_cancel());
        assert!(!BookingState::Confirmed.patient_may_rechoose() && !BookingState::Confirmed.office_may_answer());
        assert!(!BookingState::Cancelled.is_active() && !BookingState::Admitted.is_active());
        assert!(BookingState::Proposed.office_may_answer() && BookingState::Proposed.patient_may_rechoose());
    }
}
