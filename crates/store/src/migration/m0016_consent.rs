//! Consent records (S13): one row per grant, with its withdrawal when there is one. A
//! purpose of the whole account has no patient; a child's binding names the child.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0016_consent"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("consent_record"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("account_id")))
                .col(big_integer_null(a("patient_id")))
                .col(string(a("purpose")))
                .col(string(a("text_version")))
                .col(string(a("channel")))
                .col(timestamp_with_time_zone(a("granted_at")))
                .col(timestamp_with_time_zone_null(a("withdrawn_at")))
                .col(string_null(a("withdrawn_channel")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_consent_account_purpose").table(a("consent_record")).col(a("account_id")).col(a("purpose")).col(a("id")).to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("consent_record")).to_owned()).await
    }
}
