use sea_orm::entity::prelude::*;

/// A booking (挂号): the slot, its HIS lock, the order that pays it and the HIS
/// registration it became. Names and times are copied from the HIS at booking so the
/// patient's list needs no HIS call.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registration")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
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
    pub lock_expires_at: Option<DateTimeUtc>,
    pub eligibility: String,
    pub note: String,
    pub checked_in_at: Option<DateTimeUtc>,
    pub session_change: Option<String>,
    /// 改约: the booking whose payment this one carries.
    pub carried_from: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
