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
