use sea_orm::entity::prelude::*;

/// A lab or exam order as the LIS/PACS last said (`snapshot` sealed), with the
/// reviewing doctor's release and what the patient has been told.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "lab_order")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub order_no: String,
    pub his_patient_id: String,
    pub kind: String,
    pub category: String,
    pub item_code: String,
    pub status: String,
    pub revision: i64,
    pub snapshot: String,
    pub report_no: Option<String>,
    pub report_version: Option<i32>,
    pub released_version: Option<i32>,
    pub released_by: Option<String>,
    pub released_at: Option<DateTimeUtc>,
    pub visible_at: Option<DateTimeUtc>,
    pub announced_version: Option<i32>,
    pub files_version: Option<i32>,
    pub ordered_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
