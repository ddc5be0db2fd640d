//! The message platform (MSG-1/2/3): one logical message per event and recipient, every
//! try on every channel, staff-edited templates, patients' muted categories, tasks a
//! person must act on (an unacknowledged 危急值, an undeliverable critical notice), what
//! to bring per department, and the open interface's clients, nonces and requests.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0006_messages"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("message"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("message_no")))
                // `<event key>#<account>`: written before anything is sent (M1).
                .col(string_uniq(a("dedupe_key")))
                .col(big_integer_null(a("event_id")))
                .col(string(a("scene")))
                .col(string(a("criticality")))
                .col(string(a("category")))
                .col(big_integer_null(a("account_id")))
                .col(big_integer_null(a("patient_id")))
                .col(text(a("variables")))
                .col(string(a("title")))
                .col(text(a("body")))
                .col(string(a("link")))
                // queued, sent, unknown, inbox, muted, suppressed, expired, failed
                .col(string(a("status")))
                // The push channels to try, comma-separated, and where we are.
                .col(string(a("plan")))
                .col(integer(a("step")))
                .col(integer(a("channel_attempts")))
                .col(timestamp_with_time_zone_null(a("channel_started_at")))
                .col(string_null(a("last_code")))
                .col(text_null(a("last_error")))
                .col(string_null(a("sent_channel")))
                .col(string_null(a("provider_msg_id")))
                .col(string(a("source")))
                .col(timestamp_with_time_zone(a("expires_at")))
                .col(timestamp_with_time_zone_null(a("read_at")))
                .col(timestamp_with_time_zone_null(a("ack_deadline")))
                .col(timestamp_with_time_zone_null(a("acked_at")))
                .col(timestamp_with_time_zone_null(a("escalated_at")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_message_account").table(a("message")).col(a("account_id")).col(a("id")).to_owned()).await?;
        m.create_index(Index::create().name("ix_message_status").table(a("message")).col(a("status")).col(a("id")).to_owned()).await?;
        m.create_index(Index::create().name("ix_message_created").table(a("message")).col(a("created_at")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("message_delivery"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("message_id")))
                .col(string(a("channel")))
                .col(integer(a("attempt")))
                // sent, transient, permanent, unknown, skipped
                .col(string(a("outcome")))
                .col(string(a("code")))
                .col(text(a("detail")))
                .col(string_null(a("provider_msg_id")))
                .col(timestamp_with_time_zone(a("at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_message_delivery_message").table(a("message_delivery")).col(a("message_id")).col(a("id")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("message_template"))
                .col(big_pk_auto(a("id")))
                .col(string(a("scene")))
                .col(string(a("channel")))
                .col(string(a("provider_template_id")))
                .col(string(a("title")))
                .col(text(a("body")))
                .col(integer(a("version")))
                .col(string(a("updated_by")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_message_template").table(a("message_template")).col(a("scene")).col(a("channel")).unique().to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("message_preference"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("account_id")))
                .col(string(a("category")))
                .col(boolean(a("muted")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create().name("ux_message_preference").table(a("message_preference")).col(a("account_id")).col(a("category")).unique().to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("staff_task"))
                .col(big_pk_auto(a("id")))
                .col(string(a("kind")))
                .col(big_integer_null(a("message_id")))
                .col(string(a("dept")))
                .col(string(a("title")))
                .col(text(a("detail")))
                .col(string(a("status")))
                // One task per cause: a re-run of the escalation creates nothing more.
                .col(string_uniq(a("dedupe_key")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone_null(a("done_at")))
                .col(string_null(a("done_by")))
                .col(text_null(a("note")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("dept_visit_note"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("dept_id")))
                .col(text(a("bring")))
                .col(string(a("updated_by")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("open_api_client"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("key_id")))
                .col(string(a("name")))
                .col(string(a("secret_enc")))
                .col(boolean(a("enabled")))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(a("open_api_nonce"))
                .col(big_pk_auto(a("id")))
                .col(string(a("key_id")))
                .col(string(a("nonce")))
                .col(timestamp_with_time_zone(a("at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_open_api_nonce").table(a("open_api_nonce")).col(a("key_id")).col(a("nonce")).unique().to_owned()).await?;
        m.create_index(Index::create().name("ix_open_api_nonce_at").table(a("open_api_nonce")).col(a("at")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("open_api_request"))
                .col(big_pk_auto(a("id")))
                .col(string(a("key_id")))
                .col(string(a("idempotency_key")))
                .col(string(a("request_hash")))
                .col(text(a("answer")))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_open_api_request").table(a("open_api_request")).col(a("key_id")).col(a("idempotency_key")).unique().to_owned())
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in [
            "open_api_request",
            "open_api_nonce",
            "open_api_client",
            "dept_visit_note",
            "staff_task",
            "message_preference",
            "message_template",
            "message_delivery",
            "message",
        ] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
