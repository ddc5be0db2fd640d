use sea_orm::entity::prelude::*;

/// One reconciliation of a business day against the bank and the insurance centre.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "recon_run")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub business_date: String,
    /// running / done / failed
    pub status: String,
    pub summary: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
