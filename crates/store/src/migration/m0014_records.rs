//! Medical-record copies (病历复印, issue 19, REC-1…REC-5): the application — a server-side
//! draft from its first step, then the records office's work item — its live photos, the
//! single-use capture tokens the camera page mints, its timeline, and the versioned fee
//! table. Personal data (the delivery address, the pickup code) is sealed; photos live in
//! the file store, sealed, under random keys. `slot` holds "<application>:<document>" while
//! a photo is the current one of its kind and NULL once retaken, so an application has at
//! most one current photo of each kind on both backends.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0014_records"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("record_fee_table"))
                .col(big_pk_auto(a("id")))
                .col(integer_uniq(a("version")))
                .col(big_integer(a("per_page")))
                .col(big_integer(a("certification")))
                .col(big_integer(a("postage")))
                .col(timestamp_with_time_zone(a("effective_from")))
                .col(string(a("note")))
                .col(string(a("created_by")))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("record_application"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("application_no")))
                .col(big_integer(a("account_id")))
                .col(big_integer(a("patient_id")))
                .col(string(a("his_patient_id")))
                .col(string(a("state")))
                .col(string_null(a("applicant")))
                .col(string_null(a("encounter_id")))
                .col(string_null(a("encounter_label")))
                .col(string_null(a("mr_no")))
                .col(string_null(a("purpose")))
                .col(string(a("sections")))
                .col(integer_null(a("copies")))
                .col(string_null(a("delivery")))
                .col(text_null(a("address_enc")))
                .col(string(a("fix_steps")))
                .col(string(a("fix_documents")))
                .col(string(a("reasons")))
                .col(string_null(a("reason_note")))
                .col(integer_null(a("fee_version")))
                .col(integer_null(a("estimated_pages")))
                .col(big_integer(a("paid")))
                .col(integer_null(a("counted_pages")))
                .col(big_integer_null(a("due")))
                .col(string_null(a("order_no")))
                .col(string_null(a("extra_order_no")))
                .col(string_null(a("refund_no")))
                .col(text_null(a("pickup_code_enc")))
                .col(string_null(a("waybill_no")))
                .col(string_null(a("clerk")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .col(timestamp_with_time_zone_null(a("submitted_at")))
                .col(timestamp_with_time_zone_null(a("promised_by")))
                .col(timestamp_with_time_zone_null(a("closed_at")))
                .col(timestamp_with_time_zone_null(a("purged_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_record_application_state").table(a("record_application")).col(a("state")).col(a("submitted_at")).to_owned())
            .await?;
        m.create_index(
            Index::create().name("ix_record_application_account").table(a("record_application")).col(a("account_id")).col(a("created_at")).to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_record_application_order").table(a("record_application")).col(a("order_no")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("record_photo"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("application_id")))
                .col(string(a("document")))
                .col(string_null(a("slot")).unique_key())
                .col(string(a("original_key")))
                .col(string(a("shown_key")))
                .col(integer(a("width")))
                .col(integer(a("height")))
                .col(string(a("flags")))
                .col(timestamp_with_time_zone(a("uploaded_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_record_photo_application").table(a("record_photo")).col(a("application_id")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("record_capture_token"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("token_hash")))
                .col(big_integer(a("account_id")))
                .col(big_integer(a("application_id")))
                .col(string(a("document")))
                .col(timestamp_with_time_zone(a("expires_at")))
                .col(timestamp_with_time_zone_null(a("used_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("record_timeline"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("application_id")))
                .col(timestamp_with_time_zone(a("at")))
                .col(string(a("kind")))
                .col(text(a("note")))
                .col(string(a("by_whom")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_record_timeline_application").table(a("record_timeline")).col(a("application_id")).col(a("at")).to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["record_timeline", "record_capture_token", "record_photo", "record_application", "record_fee_table"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
