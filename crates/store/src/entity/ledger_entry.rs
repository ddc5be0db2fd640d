use sea_orm::entity::prelude::*;

/// One leg of a double-entry posting. The legs of a `posting` sum to zero (P8).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "ledger_entry")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub posting: String,
    pub order_no: String,
    pub account: String,
    /// Fen, signed: debit positive, credit negative.
    pub amount: i64,
    pub memo: String,
    pub at: DateTimeUtc,
    /// The leg's number within its posting; (posting, leg) is unique, so a posting is
    /// written once.
    pub leg: i32,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
