//! Payment attempts at each channel (the references the other side gave us) and client
//! idempotency keys (P3).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0003_attempts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("payment_attempt"))
                .col(big_pk_auto(a("id")))
                .col(string(a("order_no")))
                .col(string(a("channel")))
                .col(string(a("reference")))
                .col(text(a("detail")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_attempt_order_channel").table(a("payment_attempt")).col(a("order_no")).col(a("channel")).unique().to_owned())
            .await?;
        m.create_table(
            Table::create()
                .table(a("idempotency_key"))
                .col(big_pk_auto(a("id")))
                .col(string(a("scope")))
                .col(string(a("idem_key")))
                .col(string(a("request_hash")))
                .col(integer(a("status")))
                .col(text(a("response")))
                .col(timestamp_with_time_zone(a("created_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_idempotency").table(a("idempotency_key")).col(a("scope")).col(a("idem_key")).unique().to_owned()).await?;
        // What the order pays for (recipe ids of a bill, a registration's lock …), for fulfilment.
        m.alter_table(Table::alter().table(a("payment_order")).add_column(string_null(a("subject"))).to_owned()).await?;
        m.create_index(Index::create().name("ix_order_patient").table(a("payment_order")).col(a("patient_id")).col(a("created_at")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_order_patient").table(a("payment_order")).to_owned()).await?;
        m.alter_table(Table::alter().table(a("payment_order")).drop_column(a("subject")).to_owned()).await?;
        for t in ["idempotency_key", "payment_attempt"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
