use sea_orm::entity::prelude::*;

/// A record-copy application, from its draft on (see the m0014 migration).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "record_application")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub application_no: String,
    pub account_id: i64,
    pub patient_id: i64,
    pub his_patient_id: String,
    pub state: String,
    pub applicant: Option<String>,
    pub encounter_id: Option<String>,
    pub encounter_label: Option<String>,
    /// A stay (true) or a visit (false); NULL before the encounter is chosen (m0015).
    pub encounter_inpatient: Option<bool>,
    pub mr_no: Option<String>,
    pub purpose: Option<String>,
    pub sections: String,
    pub copies: Option<i32>,
    pub delivery: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub address_enc: Option<String>,
    pub fix_steps: String,
    pub fix_documents: String,
    pub reasons: String,
    pub reason_note: Option<String>,
    pub fee_version: Option<i32>,
    pub estimated_pages: Option<i32>,
    pub paid: i64,
    pub counted_pages: Option<i32>,
    pub due: Option<i64>,
    pub order_no: Option<String>,
    pub extra_order_no: Option<String>,
    pub refund_no: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub pickup_code_enc: Option<String>,
    pub waybill_no: Option<String>,
    pub clerk: Option<String>,
    pub version: i32,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub submitted_at: Option<DateTimeUtc>,
    pub promised_by: Option<DateTimeUtc>,
    pub closed_at: Option<DateTimeUtc>,
    pub purged_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
