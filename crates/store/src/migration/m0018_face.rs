//! Face enrolments (FACE-1): one row per enrolment of a 就诊人 — the engine's opaque user
//! id and its face token (sealed), never a picture — and the engine groups each one's face
//! was added to, so a withdrawal deletes it from every one.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0018_face"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("face_enrolment"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("account_id")))
                .col(big_integer(a("patient_id")))
                .col(string(a("engine_user_id")).unique_key())
                .col(text_null(a("face_token_enc")))
                .col(string(a("state")))
                .col(string(a("consent_version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone_null(a("enrolled_at")))
                .col(timestamp_with_time_zone_null(a("withdrawn_at")))
                .col(timestamp_with_time_zone_null(a("deleted_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_face_enrolment_patient").table(a("face_enrolment")).col(a("patient_id")).col(a("id")).to_owned()).await?;
        // One live enrolment per 就诊人: two phones enrolling at once cannot both win (the
        // same partial-index syntax on SQLite and PostgreSQL).
        m.get_connection()
            .execute_unprepared("CREATE UNIQUE INDEX ux_face_enrolment_live ON face_enrolment (patient_id) WHERE state IN ('enrolling', 'active')")
            .await?;
        m.create_table(
            Table::create()
                .table(a("face_group_member"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("enrolment_id")))
                .col(string(a("group_id")))
                .col(timestamp_with_time_zone(a("added_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_face_group_member").table(a("face_group_member")).col(a("enrolment_id")).col(a("group_id")).unique().to_owned())
            .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("face_group_member")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("face_enrolment")).to_owned()).await
    }
}
