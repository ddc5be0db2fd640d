use sea_orm::entity::prelude::*;

/// A side effect waiting to leave the process (message, HIS write, payment query …),
/// written in the same transaction as the state change that decided it.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub kind: String,
    pub payload: String,
    /// Enqueueing the same key twice yields one job (M1).
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
    /// pending / running / done / dead
    pub state: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub run_at: DateTimeUtc,
    pub lease_until: Option<DateTimeUtc>,
    pub claimed_by: Option<String>,
    pub last_error: Option<String>,
    pub created_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
