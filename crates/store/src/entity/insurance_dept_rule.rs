use sea_orm::entity::prelude::*;

/// One INS-2 department exception: in `dept_id`, the listed insurance kinds need no
/// referral.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "insurance_dept_rule")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dept_id: String,
    pub kinds: String,
    pub label: String,
    pub enabled: bool,
    pub updated_by: String,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
