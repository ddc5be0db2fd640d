use sea_orm::entity::prelude::*;

/// A server-side session. Only the SHA-256 of the cookie token is stored, so a copy of
/// the database cannot be replayed as cookies.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub token_hash: String,
    /// `patient` or `staff`.
    pub kind: String,
    pub subject_id: i64,
    pub created_at: DateTimeUtc,
    pub last_seen_at: DateTimeUtc,
    /// Absolute end, whatever the activity.
    pub expires_at: DateTimeUtc,
    /// When the second factor (or a step-up) was last proven.
    pub authenticated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
