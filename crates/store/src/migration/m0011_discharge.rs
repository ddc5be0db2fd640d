//! Discharge settlements started on the phone (issue 18, BED-1): one row per attempt, the
//! HIS's quote it was confirmed on, the balance order when the deposits fell short, and
//! where it stands. `active_key` holds the stay's number while the attempt holds the stay
//! and NULL after, so a second phone finds the first one's attempt instead of starting its
//! own (a unique column allowing many NULLs works on both backends).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0011_discharge"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("discharge"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("discharge_no")))
                .col(big_integer(a("patient_id")))
                .col(big_integer(a("account_id")))
                .col(string(a("his_patient_id")))
                .col(string(a("inpatient_no")))
                .col(string_null(a("active_key")).unique_key())
                .col(string(a("pre_settle_id")))
                .col(string(a("state")))
                .col(big_integer(a("total")))
                .col(big_integer(a("fund")))
                .col(big_integer(a("personal_account")))
                .col(big_integer(a("self_pay")))
                .col(big_integer(a("deposits_held")))
                // What is refunded (positive) or due (negative); zero when even.
                .col(big_integer(a("balance")))
                .col(string_null(a("order_no")))
                // Sealed JSON: the quote's deposits and insurance fields, the refund parts,
                // the HIS's settlement.
                .col(text(a("detail")))
                .col(string_null(a("settle_id")))
                .col(string_null(a("invoice_no")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .col(timestamp_with_time_zone_null(a("settled_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_discharge_patient").table(a("discharge")).col(a("patient_id")).col(a("created_at")).to_owned()).await?;
        m.create_index(Index::create().name("ix_discharge_inpatient").table(a("discharge")).col(a("inpatient_no")).to_owned()).await?;
        m.create_index(Index::create().name("ix_discharge_order").table(a("discharge")).col(a("order_no")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("discharge")).to_owned()).await
    }
}
