use sea_orm::entity::prelude::*;

/// One logical message: an event's notice for one recipient, with where its delivery stands.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub message_no: String,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub event_id: Option<i64>,
    pub scene: String,
    pub criticality: String,
    pub category: String,
    pub account_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub variables: String,
    pub title: String,
    pub body: String,
    pub link: String,
    pub status: String,
    pub plan: String,
    pub step: i32,
    pub channel_attempts: i32,
    pub channel_started_at: Option<DateTimeUtc>,
    pub last_code: Option<String>,
    pub last_error: Option<String>,
    pub sent_channel: Option<String>,
    pub provider_msg_id: Option<String>,
    pub source: String,
    pub expires_at: DateTimeUtc,
    pub read_at: Option<DateTimeUtc>,
    pub ack_deadline: Option<DateTimeUtc>,
    pub acked_at: Option<DateTimeUtc>,
    pub escalated_at: Option<DateTimeUtc>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// When the retention job replaced its texts and variables (S14); the row stays for
    /// the counts and the delivery history.
    pub content_purged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
