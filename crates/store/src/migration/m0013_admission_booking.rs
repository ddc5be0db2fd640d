//! Admission bookings (住院登记预约, issue 18, OTH-5): the day and bed type a patient chose
//! for a doctor's admission notice, the office's proposal of another day, and the HIS's
//! registration once confirmed. `active_key` holds the notice's number while the booking
//! is live and NULL after, so one notice has at most one live booking on both backends.
//! Days are `YYYY-MM-DD` text: they compare and sort the same on both.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0013_admission_booking"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("admission_booking"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("booking_no")))
                .col(big_integer(a("account_id")))
                .col(big_integer(a("patient_id")))
                .col(string(a("his_patient_id")))
                .col(string(a("notice_no")))
                .col(string_null(a("active_key")).unique_key())
                .col(string(a("state")))
                .col(string(a("dept_name")))
                .col(string(a("ward")))
                .col(string(a("wanted_date")))
                .col(string(a("bed_type")))
                .col(string(a("bed_type_name")))
                .col(string_null(a("proposed_date")))
                .col(string_null(a("proposed_bed_type")))
                .col(string_null(a("proposed_bed_type_name")))
                .col(string_null(a("office_note")))
                .col(string_null(a("confirmed_date")))
                .col(string_null(a("register_no")))
                .col(string_null(a("handled_by")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_admission_booking_patient").table(a("admission_booking")).col(a("patient_id")).col(a("created_at")).to_owned())
            .await?;
        m.create_index(Index::create().name("ix_admission_booking_state").table(a("admission_booking")).col(a("state")).col(a("wanted_date")).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("admission_booking")).to_owned()).await
    }
}
