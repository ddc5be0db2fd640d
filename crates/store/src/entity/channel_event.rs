use sea_orm::entity::prelude::*;

/// A raw inbound notification (bank or insurance callback), stored before it is
/// acknowledged and unique on the channel's event id (P12).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "channel_event")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel: String,
    pub event_id: String,
    pub order_no: String,
    pub raw: String,
    pub received_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
