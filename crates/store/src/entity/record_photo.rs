use sea_orm::entity::prelude::*;

/// A live photo of a record-copy application (see the m0014 migration).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "record_photo")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub application_id: i64,
    pub document: String,
    #[sea_orm(unique)]
    pub slot: Option<String>,
    pub original_key: String,
    pub shown_key: String,
    pub width: i32,
    pub height: i32,
    pub flags: String,
    pub uploaded_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
