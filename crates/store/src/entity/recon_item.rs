use sea_orm::entity::prelude::*;

/// One difference a reconciliation found, with how it was resolved.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recon_item")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub channel: String,
    pub order_no: String,
    /// missing_locally / missing_remotely / amount_mismatch / status_mismatch
    pub kind: String,
    pub local_amount: i64,
    pub remote_amount: i64,
    pub detail: String,
    /// auto_healed / auto_refunded / open / resolved
    pub resolution: String,
    pub note: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
