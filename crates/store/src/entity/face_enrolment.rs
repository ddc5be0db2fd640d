use sea_orm::entity::prelude::*;

/// One 就诊人's face enrolment (see the m0018 migration).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "face_enrolment")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub account_id: i64,
    pub patient_id: i64,
    #[sea_orm(unique)]
    pub engine_user_id: String,
    pub face_token_enc: Option<String>,
    pub state: String,
    pub consent_version: String,
    pub created_at: DateTimeUtc,
    pub enrolled_at: Option<DateTimeUtc>,
    pub withdrawn_at: Option<DateTimeUtc>,
    pub deleted_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
