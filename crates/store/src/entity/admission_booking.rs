use sea_orm::entity::prelude::*;

/// An admission booking (see the m0013 migration).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "admission_booking")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub booking_no: String,
    pub account_id: i64,
    pub patient_id: i64,
    pub his_patient_id: String,
    pub notice_no: String,
    #[sea_orm(unique)]
    pub active_key: Option<String>,
    pub state: String,
    pub dept_name: String,
    pub ward: String,
    pub wanted_date: String,
    pub bed_type: String,
    pub bed_type_name: String,
    pub proposed_date: Option<String>,
    pub proposed_bed_type: Option<String>,
    pub proposed_bed_type_name: Option<String>,
    pub office_note: Option<String>,
    pub confirmed_date: Option<String>,
    pub register_no: Option<String>,
    pub handled_by: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
