//! Orders, raw channel events and the double-entry ledger.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0002_billing"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("payment_order"))
                .col(big_pk_auto(a("id")))
                .col(string_uniq(a("order_no")))
                .col(big_integer_null(a("patient_id")))
                .col(string(a("purpose")))
                .col(string(a("state")))
                .col(big_integer(a("total")))
                .col(text(a("body")))
                .col(integer(a("version")))
                .col(timestamp_with_time_zone(a("expires_at")))
                .col(timestamp_with_time_zone(a("created_at")))
                .col(timestamp_with_time_zone(a("updated_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_order_state_expiry").table(a("payment_order")).col(a("state")).col(a("expires_at")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("channel_event"))
                .col(big_pk_auto(a("id")))
                .col(string(a("channel")))
                .col(string(a("event_id")))
                .col(string(a("order_no")))
                .col(text(a("raw")))
                .col(timestamp_with_time_zone(a("received_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ux_channel_event").table(a("channel_event")).col(a("channel")).col(a("event_id")).unique().to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("ledger_entry"))
                .col(big_pk_auto(a("id")))
                .col(string(a("posting")))
                .col(string(a("order_no")))
                .col(string(a("account")))
                .col(big_integer(a("amount")))
                .col(string(a("memo")))
                .col(timestamp_with_time_zone(a("at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_ledger_order").table(a("ledger_entry")).col(a("order_no")).to_owned()).await?;
        m.create_index(Index::create().name("ix_ledger_at").table(a("ledger_entry")).col(a("at")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["ledger_entry", "channel_event", "payment_order"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        Ok(())
    }
}
