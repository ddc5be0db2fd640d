//! Admission control in front of the HIS (issue 7): the permits to call it, shared by
//! every node on the database, so the bound on calls in flight holds for the cluster;
//! and the rate counters the nodes share.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0008_admission"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(a("his_permit"))
                // 1..=bound; rows above the configured bound are never handed out.
                .col(integer(a("slot")).primary_key())
                // Who holds it (a token per acquisition) until when; NULL: free.
                .col(string_null(a("holder")))
                .col(timestamp_with_time_zone_null(a("held_until")))
                .to_owned(),
        )
        .await?;
        // Fixed-window counters several nodes share (the per-account booking limit, S15).
        m.create_table(
            Table::create()
                .table(a("rate_window"))
                .col(string(a("key")))
                // Unix seconds of the window's start.
                .col(big_integer(a("window_start")))
                .col(integer(a("hits")))
                .primary_key(Index::create().col(a("key")).col(a("window_start")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_rate_window_start").table(a("rate_window")).col(a("window_start")).to_owned()).await?;
        // Counters need no crash safety (a restart resets a minute's count) and are written
        // on every booking attempt: on PostgreSQL they skip the write-ahead log.
        if m.get_database_backend() == sea_orm::DatabaseBackend::Postgres {
            m.get_connection().execute_unprepared("ALTER TABLE rate_window SET UNLOGGED").await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(a("rate_window")).to_owned()).await?;
        m.drop_table(Table::drop().table(a("his_permit")).to_owned()).await
    }
}
