use sea_orm::entity::prelude::*;

/// A discharge settlement started on the phone (see the m0011 migration).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "discharge")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub discharge_no: String,
    pub patient_id: i64,
    pub account_id: i64,
    pub his_patient_id: String,
    pub inpatient_no: String,
    #[sea_orm(unique)]
    pub active_key: Option<String>,
    pub pre_settle_id: String,
    pub state: String,
    pub total: i64,
    pub fund: i64,
    pub personal_account: i64,
    pub self_pay: i64,
    pub deposits_held: i64,
    pub balance: i64,
    pub order_no: Option<String>,
    pub detail: String,
    pub settle_id: Option<String>,
    pub invoice_no: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub settled_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
