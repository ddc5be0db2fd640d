use sea_orm::entity::prelude::*;

/// One try of one message on one channel, with what the provider said.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_delivery")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    pub channel: String,
    pub attempt: i32,
    pub outcome: String,
    pub code: String,
    pub detail: String,
    pub provider_msg_id: Option<String>,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
