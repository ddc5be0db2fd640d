use sea_orm::entity::prelude::*;

/// A staff-edited template of a scene on a channel (minijinja), replacing the built-in one.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_template")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub scene: String,
    pub channel: String,
    pub provider_template_id: String,
    pub title: String,
    pub body: String,
    pub version: i32,
    pub updated_by: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
