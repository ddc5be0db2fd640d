use sea_orm::entity::prelude::*;

/// A guardian's binding of a child's 少儿医保 (INS-3): pending until the guardian's
/// verification comes back, then bound to the child's 就诊人 row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "child_binding")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub patient_id: Option<i64>,
    pub name_enc: String,
    pub name_masked: String,
    pub id_no_enc: String,
    pub id_no_hash: String,
    pub id_no_masked: String,
    /// official_account / si_notice / esscard: where the guardian came from.
    pub source: String,
    /// pending / bound / expired
    pub state: String,
    pub verify_state: Option<String>,
    /// How the guardian proved it was them (wxpay_password).
    pub verified_by: String,
    pub created_at: DateTimeUtc,
    pub expires_at: DateTimeUtc,
    pub bound_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
