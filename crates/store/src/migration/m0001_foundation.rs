//! Accounts, patients, staff, sessions, the outbox and the audit chain.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0001_foundation"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("wechat_account"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("openid")))
                .col(string_null(a("unionid")))
                .col(string_null(a("nickname")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("last_login_at")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("patient"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("account_id")))
                .col(string(a("relationship")))
                .col(text(a("name_enc")))
                .col(string(a("name_masked")))
                .col(text(a("id_no_enc")))
                .col(string(a("id_no_hash")))
                .col(string(a("id_no_masked")))
                .col(text_null(a("mobile_enc")))
                .col(string_null(a("mobile_masked")))
                .col(string(a("gender")))
                .col(date(a("birth_date")))
                .col(string(a("his_patient_id")))
                .col(string(a("mr_no")))
                .col(string(a("insurance_kind")))
                .col(boolean(a("is_default")))
                .col(timestamp_with_time_zone(a("created_at")))
                .foreign_key(ForeignKey::create().from(a("patient"), a("account_id")).to(a("wechat_account"), a("id")).on_delete(ForeignKeyAction::Cascade))
                .to_owned(),
        )
        .await?;
        // One account cannot add the same person twice, even under a double submit.
        m.create_index(Index::create().name("ux_patient_account_id_no").table(a("patient")).col(a("account_id")).col(a("id_no_hash")).unique().to_owned())
            .await?;

        m.create_table(
            Table::create()
                .table(a("staff_user"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("username")))
                .col(string(a("display_name")))
                .col(text(a("password_hash")))
                .col(text(a("totp_secret_enc")))
                .col(string(a("roles")))
                .col(boolean(a("active")))
                .col(integer(a("failed_logins")).default(0))
                .col(timestamp_with_time_zone_null(a("locked_until")))
                .col(big_integer(a("last_totp_step")).default(0))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(a("session"))
                .col(string(a("token_hash")).primary_key())
                .col(string(a("kind")))
                .col(big_integer(a("subject_id")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("last_seen_at")))
                .col(timestamp_with_time_zone(a("expires_at")))
                .col(timestamp_with_time_zone(a("authenticated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_session_subject").table(a("session")).col(a("kind")).col(a("subject_id")).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(a("outbox"))
                .col(big_pk_auto(a("id")))
                .col(string(a("kind")))
                .col(text(a("payload")))
                .col(string_null(a("dedupe_key")).unique_key())
                .col(string(a("state")))
                .col(integer(a("attempts")).default(0))
                .col(integer(a("max_attempts")))
                .col(timestamp_with_time_zone(a("run_at")))
                .col(timestamp_with_time_zone_null(a("lease_until")))
                .col(string_null(a("claimed_by")))
                .col(text_null(a("last_error")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone_null(a("finished_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_outbox_due").table(a("outbox")).col(a("state")).col(a("run_at")).to_owned()).await?;

        m.create_table(
            Table::create()
                .table(a("audit_log"))
                .col(big_pk_auto(a("seq")))
                .col(timestamp_with_time_zone(a("at")))
                .col(string(a("actor")))
                .col(string(a("action")))
                .col(string(a("subject")))
                .col(text(a("reason")))
                .col(string(a("correlation_id")))
                .col(string(a("prev_hash")))
                .col(string(a("hash")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_audit_actor_at").table(a("audit_log")).col(a("actor")).col(a("at")).to_owned()).await?;
        m.create_index(Index::create().name("ix_audit_subject").table(a("audit_log")).col(a("subject")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["audit_log", "outbox", "session", "staff_user", "patient", "wechat_account"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
