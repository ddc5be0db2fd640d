use sea_orm::entity::prelude::*;

/// One e-invoice of a business (see the m0012 migration).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "invoice")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub subject: String,
    pub seq: i32,
    #[sea_orm(unique)]
    pub bus_no: String,
    pub kind: String,
    pub state: String,
    pub patient_id: Option<i64>,
    pub total: i64,
    pub fund: i64,
    pub account: i64,
    pub other_fund: i64,
    pub own: i64,
    pub batch_code: Option<String>,
    pub bill_no: Option<String>,
    pub detail: String,
    pub bus_time: DateTimeUtc,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
