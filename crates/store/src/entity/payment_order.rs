use sea_orm::entity::prelude::*;

/// An order (DESIGN decision 5). `body` is the whole `domain::billing::Order` as JSON;
/// `state`, `purpose` and `total` are copies for queries. `version` guards concurrent
/// event application (optimistic concurrency).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "payment_order")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub order_no: String,
    pub patient_id: Option<i64>,
    pub purpose: String,
    pub state: String,
    pub total: i64,
    pub body: String,
    pub version: i32,
    pub expires_at: DateTimeUtc,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub subject: Option<String>,
    /// The department the order belongs to (the INS-2 rule reads it).
    pub dept_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
