//! Registration (挂号): bookings with their HIS lock, the department an order belongs to
//! (the INS-2 rule reads it at every step), the hospital's INS-2 department exceptions as
//! rows, the no-show blacklist, the journey events the message platform delivers, and
//! guardians' bindings of children's insurance (INS-3).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0005_registration"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("payment_order")).add_column(string_null(a("dept_id"))).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("registration"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("booking_no")))
                .col(big_integer(a("patient_id")))
                .col(string(a("schedule_id")))
                .col(string(a("slot_id")))
                .col(string(a("dept_id")))
                .col(string(a("dept_name")))
                .col(string(a("doctor_code")))
                .col(string(a("doctor_name")))
                .col(string(a("doctor_title")))
                .col(string(a("visit_date")))
                .col(string(a("period")))
                .col(string(a("start_time")))
                .col(string(a("end_time")))
                .col(string(a("location")))
                .col(big_integer(a("fee")))
                .col(string(a("state")))
                // `<patient>:<schedule>` while the booking holds or may hold a place, NULL
                // after: a unique column that allows many NULLs gives "one active booking
                // per patient per session" on both backends.
                .col(string_null(a("active_key")).unique_key())
                .col(string_null(a("pre_id")))
                .col(integer_null(a("see_no")))
                .col(string_null(a("reg_id")))
                .col(string_null(a("order_no")))
                .col(timestamp_with_time_zone_null(a("lock_expires_at")))
                .col(text(a("eligibility")))
                .col(text(a("note")))
                .col(timestamp_with_time_zone_null(a("checked_in_at")))
                // What staff did to the session after it was booked (suspended /
                // rescheduled / substituted), with the reason, as JSON.
                .col(text_null(a("session_change")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_registration_patient").table(a("registration")).col(a("patient_id")).col(a("created_at")).to_owned()).await?;
        m.create_index(Index::create().name("ix_registration_schedule").table(a("registration")).col(a("schedule_id")).col(a("state")).to_owned()).await?;
        m.create_index(Index::create().name("ix_registration_order").table(a("registration")).col(a("order_no")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("insurance_dept_rule"))
                .col(big_pk_auto(a("id")))
                .col(string(a("dept_id")))
                // Comma-separated insurance kinds (tier2,tier3,children).
                .col(string(a("kinds")))
                .col(string(a("label")))
                .col(boolean(a("enabled")))
                .col(string(a("updated_by")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("booking_blacklist"))
                .col(big_pk_auto(a("id")))
                // The HIS patient id: one person, whichever account added them.
                .col(string(a("person_key")))
                .col(string(a("name_masked")))
                .col(integer(a("no_shows")))
                .col(timestamp_with_time_zone(a("until")))
                .col(text(a("reason")))
                .col(boolean(a("lifted")))
                .col(string_null(a("lifted_by")))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;
        // The patient journey's events (booking confirmed, visit tomorrow, bill due …), each
        // written in the transaction that made it true, with everything a notice needs. The
        // message platform delivers them; `dedupe_key` makes a retried writer harmless.
        m.create_table(
            Table::create()
                .table(a("journey_event"))
                .col(big_pk_auto(a("id")))
                .col(string(a("kind")))
                .col(string_uniq(a("dedupe_key")))
                .col(big_integer_null(a("patient_id")))
                .col(text(a("payload")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone_null(a("delivered_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_journey_event_pending").table(a("journey_event")).col(a("delivered_at")).col(a("id")).to_owned()).await?;
        // INS-3: a guardian's binding of a child's 少儿医保 for payment. While pending, the
        // child's name and ID number wait here sealed, for the verification to come back.
        m.create_table(
            Table::create()
                .table(a("child_binding"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("account_id")))
                .col(big_integer_null(a("patient_id")))
                .col(string(a("name_enc")))
                .col(string(a("name_masked")))
                .col(string(a("id_no_enc")))
                .col(string(a("id_no_hash")))
                .col(string(a("id_no_masked")))
                .col(string(a("source")))
                .col(string(a("state")))
                .col(string_null(a("verify_state")).unique_key())
                .col(string(a("verified_by")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("expires_at")))
                .col(timestamp_with_time_zone_null(a("bound_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_child_binding_account").table(a("child_binding")).col(a("account_id")).to_owned()).await?;
        m.create_index(Index::create().name("ix_child_binding_patient").table(a("child_binding")).col(a("patient_id")).to_owned()).await?;
        m.create_index(Index::create().name("ix_blacklist_person").table(a("booking_blacklist")).col(a("person_key")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["child_binding", "journey_event", "booking_blacklist", "insurance_dept_rule", "registration"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        m.alter_table(Table::alter().table(a("payment_order")).drop_column(a("dept_id")).to_owned()).await?;
        Ok(())
    }
}
