//! The hospital's appointment inventory as the HIS describes it: departments, doctors,
//! schedules (排班) split into time slots (号源) of finite capacity.
use crate::money::Fen;
use chrono::{NaiveDate, NaiveTime};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Department {
    pub dept_id: String,
    pub name: String,
    /// 内科 / 外科 / 妇儿 / 医技 … for grouping on the patient's page.
    pub category: String,
    pub location: String,
    pub intro: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Doctor {
    pub doctor_code: String,
    pub dept_id: String,
    pub name: String,
    /// 主任医师 / 副主任医师 / 主治医师 / 住院医师
    pub title: String,
    pub specialty: String,
    pub reg_fee: Fen,
    pub treat_fee: Fen,
}

impl Doctor {
    /// What a registration with this doctor costs: 挂号费 + 诊查费. `None` if the sum
    /// overflows (the HIS decoder bounds each fee, so only a corrupted value gets here).
    pub fn visit_fee(&self) -> Option<Fen> {
        self.reg_fee.checked_add(self.treat_fee)
    }
}

/// Morning, afternoon or evening session (HIS `timeFlag` 1/2/3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionPeriod {
    Morning,
    Afternoon,
    Evening,
}

impl SessionPeriod {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Morning => "上午",
            Self::Afternoon => "下午",
            Self::Evening => "晚上",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Slot {
    pub slot_id: String,
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub capacity: u32,
    pub available: u32,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schedule {
    pub schedule_id: String,
    pub doctor_code: String,
    pub dept_id: String,
    pub date: NaiveDate,
    pub period: SessionPeriod,
    /// 停诊: suspended sessions stay listed so booked patients see why.
    pub suspended: bool,
    pub slots: Vec<Slot>,
}

impl Schedule {
    /// Whether `slot` of this session has ended at local time `now`: same-day booking is
    /// open until a slot ends, never after.
    pub fn slot_over(&self, slot: &Slot, now: chrono::NaiveDateTime) -> bool {
        self.date.and_time(slot.end) <= now
    }

    /// Whether every slot of the session has ended (or it has none): nothing left to book.
    pub fn is_over(&self, now: chrono::NaiveDateTime) -> bool {
        self.slots.iter().all(|x| self.slot_over(x, now))
    }

    /// The slots still open at local time `now`.
    pub fn open_slots(&self, now: chrono::NaiveDateTime) -> impl Iterator<Item = &Slot> {
        self.slots.iter().filter(move |x| !self.slot_over(x, now))
    }
}

/// What staff do to a session (停诊 / 改诊 / 替诊); the HIS is changed first, then every
/// booked patient is told.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SessionChange {
    /// 停诊: the session will not take place.
    Suspend { reason: String },
    /// 改诊: the session moves by `shift_minutes` and/or to another place.
    Reschedule { shift_minutes: i32, location: Option<String>, reason: String },
    /// 替诊: another doctor of the department sees the session's patients.
    Substitute { doctor_code: String, reason: String },
}

impl SessionChange {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Suspend { .. } => "suspended",
            Self::Reschedule { .. } => "rescheduled",
            Self::Substitute { .. } => "substituted",
        }
    }
    pub fn label_zh(&self) -> &'static str {
        match self {
            Self::Suspend { .. } => "停诊",
            Self::Reschedule { .. } => "改诊",
            Self::Substitute { .. } => "替诊",
        }
    }
    pub fn reason(&self) -> &str {
        match self {
            Self::Suspend { reason } | Self::Reschedule { reason, .. } | Self::Substitute { reason, .. } => reason,
        }
    }
}

/// Where a booking (挂号) stands. A booking holds a place from `Locking` (the row exists
/// before the HIS is asked, so a lost answer can be asked again) until it is released,
/// cancelled or has been attended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BookingState {
    /// Asking the HIS for the lock.
    Locking,
    /// Locked in the HIS; waiting for payment.
    Locked,
    /// Paid and confirmed in the HIS.
    Confirmed,
    /// The patient checked in at the hospital (签到/取号).
    CheckedIn,
    /// The HIS refused the lock (full, suspended …); nothing was held.
    Failed,
    /// Not paid in time or given up before paying: the lock was released.
    Released,
    /// Cancelled after payment (退号); the money goes back.
    Cancelled,
    /// Paid, but the HIS no longer held the place: refunded automatically (P6).
    LockLost,
    /// Confirmed, never checked in, the day is over (爽约).
    NoShow,
}

impl BookingState {
    pub const ALL: [BookingState; 9] =
        [Self::Locking, Self::Locked, Self::Confirmed, Self::CheckedIn, Self::Failed, Self::Released, Self::Cancelled, Self::LockLost, Self::NoShow];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Locking => "locking",
            Self::Locked => "locked",
            Self::Confirmed => "confirmed",
            Self::CheckedIn => "checked_in",
            Self::Failed => "failed",
            Self::Released => "released",
            Self::Cancelled => "cancelled",
            Self::LockLost => "lock_lost",
            Self::NoShow => "no_show",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Locking => "锁号中",
            Self::Locked => "待支付",
            Self::Confirmed => "预约成功",
            Self::CheckedIn => "已签到",
            Self::Failed => "预约未成功",
            Self::Released => "已取消（未支付）",
            Self::Cancelled => "已退号",
            Self::LockLost => "预约失败，已退款",
            Self::NoShow => "爽约",
        }
    }

    /// Whether the booking holds (or may hold) a place in the session.
    pub fn holds_place(self) -> bool {
        matches!(self, Self::Locking | Self::Locked | Self::Confirmed | Self::CheckedIn)
    }
}

/// A booking (挂号) as the platform keeps it: the slot, its HIS lock, the order that pays
/// it and the HIS registration it became, with names and times copied from the HIS so a
/// patient's list needs no HIS call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BookingRecord {
    pub id: i64,
    pub booking_no: String,
    pub patient_id: i64,
    pub schedule_id: String,
    pub slot_id: String,
    pub dept_id: String,
    pub dept_name: String,
    pub doctor_code: String,
    pub doctor_name: String,
    pub doctor_title: String,
    pub visit_date: String,
    pub period: String,
    pub start_time: String,
    pub end_time: String,
    pub location: String,
    pub fee: i64,
    pub state: String,
    pub active_key: Option<String>,
    pub pre_id: Option<String>,
    pub see_no: Option<i32>,
    pub reg_id: Option<String>,
    pub order_no: Option<String>,
    pub lock_expires_at: Option<chrono::DateTime<chrono::Utc>>,
    pub eligibility: String,
    pub note: String,
    pub checked_in_at: Option<chrono::DateTime<chrono::Utc>>,
    pub session_change: Option<String>,
    /// 改约: the booking whose payment this one carries (nothing is owed for it).
    pub carried_from: Option<String>,
    pub version: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booking_states_round_trip_and_only_live_ones_hold_a_place() {
        for s in BookingState::ALL {
            assert_eq!(BookingState::parse(s.as_str()), Some(s));
            assert!(!s.label_zh().is_empty());
        }
        let holding: Vec<_> = BookingState::ALL.into_iter().filter(|s| s.holds_place()).collect();
        assert_eq!(holding, [BookingState::Locking, BookingState::Locked, BookingState::Confirmed, BookingState::CheckedIn]);
    }
}
