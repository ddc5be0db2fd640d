use sea_orm::entity::prelude::*;

/// A person barred from booking online until `until` (no-shows), unless lifted.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "booking_blacklist")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub person_key: String,
    pub name_masked: String,
    pub no_shows: i32,
    pub until: DateTimeUtc,
    pub reason: String,
    pub lifted: bool,
    pub lifted_by: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
