//! Reports (RPT-1/2): the LIS/PACS orders as last seen (the snapshot sealed: it is
//! health information), the reviewing doctor's release, the events the LIS pushed,
//! and the report files kept in the file store.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0007_reports"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("lab_order"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("order_no")))
                .col(string(a("his_patient_id")))
                .col(string(a("kind")))
                .col(string(a("category")))
                .col(string(a("item_code")))
                // ordered, sampled, reported, rejected, withdrawn (the LIS's word)
                .col(string(a("status")))
                // The LIS's revision of the snapshot held: only a higher one replaces it.
                .col(big_integer(a("revision")))
                .col(text(a("snapshot")))
                .col(string_null(a("report_no")))
                .col(integer_null(a("report_version")))
                .col(integer_null(a("released_version")))
                .col(string_null(a("released_by")))
                .col(timestamp_with_time_zone_null(a("released_at")))
                .col(timestamp_with_time_zone_null(a("visible_at")))
                // The report version the patient was told about (report.ready once per version).
                .col(integer_null(a("announced_version")))
                // The report version whose files are in the file store.
                .col(integer_null(a("files_version")))
                .col(timestamp_with_time_zone(a("ordered_at")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_lab_order_patient").table(a("lab_order")).col(a("his_patient_id")).col(a("ordered_at")).to_owned()).await?;
        m.create_index(Index::create().name("ix_lab_order_status").table(a("lab_order")).col(a("status")).col(a("updated_at")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("lab_event"))
                .col(big_pk_auto(a("id")))
                .col(string(a("order_no")))
                .col(big_integer(a("revision")))
                .col(string(a("status")))
                .col(string(a("client_key")))
                // queued (a sync will fetch it), stale (we hold this revision or newer), applied, unknown_order
                .col(string(a("outcome")))
                .col(timestamp_with_time_zone(a("received_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_lab_event_received").table(a("lab_event")).col(a("received_at")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("report_file"))
                .col(big_pk_auto(a("id")))
                // The public, unguessable number in URLs.
                .col(string_uniq(a("file_no")))
                .col(big_integer(a("order_id")))
                .col(integer(a("report_version")))
                // `<order_no>:<version>:<lis file id | generated>`: one row per file per version.
                .col(string_uniq(a("dedupe_key")))
                // lis or generated
                .col(string(a("source")))
                .col(string(a("kind")))
                .col(string(a("name")))
                .col(string(a("storage_key")))
                .col(big_integer(a("size")))
                .col(string(a("sha256")))
                .col(integer(a("pages")))
                // stored or rejected
                .col(string(a("status")))
                .col(string_null(a("reject_reason")))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_report_file_order").table(a("report_file")).col(a("order_id")).col(a("report_version")).to_owned()).await?;
        Ok(())
    }
}
