use sea_orm::entity::prelude::*;

/// A report's PDF or image in the file store (sealed there), or the reason it was
/// refused.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "report_file")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub file_no: String,
    pub order_id: i64,
    pub report_version: i32,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub source: String,
    pub kind: String,
    pub name: String,
    pub storage_key: String,
    pub size: i64,
    pub sha256: String,
    pub pages: i32,
    pub status: String,
    pub reject_reason: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
