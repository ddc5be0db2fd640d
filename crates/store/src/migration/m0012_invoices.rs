//! Medical e-invoices (issue 18, 电子票据): the series of invoices of one business (an
//! order, a discharge). `bus_no` is the platform's idempotency key; `(subject, seq)` keeps
//! the series in order, so two workers cannot both start the next invoice of a business.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0012_invoices"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("invoice"))
                .col(big_pk_auto(a("id")))
                .col(string(a("subject")))
                .col(integer(a("seq")))
                .col(string_uniq(a("bus_no")))
                .col(string(a("kind")))
                .col(string(a("state")))
                .col(big_integer_null(a("patient_id")))
                .col(big_integer(a("total")))
                .col(big_integer(a("fund")))
                .col(big_integer(a("account")))
                .col(big_integer(a("other_fund")))
                .col(big_integer(a("own")))
                .col(string_null(a("batch_code")))
                .col(string_null(a("bill_no")))
                // JSON: the platform's answer (check code, QR, links), the reversal, a refusal.
                .col(text(a("detail")))
                .col(timestamp_with_time_zone(a("bus_time")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_invoice_subject_seq").table(a("invoice")).col(a("subject")).col(a("seq")).unique().to_owned()).await?;
        m.create_index(Index::create().name("ix_invoice_patient").table(a("invoice")).col(a("patient_id")).col(a("created_at")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("invoice")).to_owned()).await
    }
}
