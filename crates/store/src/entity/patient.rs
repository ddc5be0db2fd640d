use sea_orm::entity::prelude::*;

/// A 就诊人 managed by a WeChat account. Name, ID number and mobile are sealed with the
/// field cipher; `id_no_hash` (keyed) finds duplicates without decrypting.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "patient")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub relationship: String,
    pub name_enc: String,
    pub name_masked: String,
    pub id_no_enc: String,
    pub id_no_hash: String,
    pub id_no_masked: String,
    pub mobile_enc: Option<String>,
    pub mobile_masked: Option<String>,
    pub gender: String,
    pub birth_date: Date,
    pub his_patient_id: String,
    pub mr_no: String,
    pub insurance_kind: String,
    pub is_default: bool,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
