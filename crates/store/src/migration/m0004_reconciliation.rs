//! Reconciliation runs and their items, and a leg number on ledger entries so a posting
//! can be written only once (a unique (posting, leg)).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0004_reconciliation"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("ledger_entry")).add_column(integer(a("leg")).default(0)).to_owned()).await?;
        // Number the legs of postings written before this migration.
        m.get_connection()
            .execute_unprepared("UPDATE ledger_entry SET leg = id - (SELECT MIN(e2.id) FROM ledger_entry e2 WHERE e2.posting = ledger_entry.posting)")
            .await?;
        m.create_index(Index::create().name("ux_ledger_posting_leg").table(a("ledger_entry")).col(a("posting")).col(a("leg")).unique().to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("recon_run"))
                .col(big_pk_auto(a("id")))
                .col(string(a("business_date")))
                .col(string(a("status")))
                .col(text(a("summary")))
                .col(timestamp_with_time_zone(a("started_at")))
                .col(timestamp_with_time_zone_null(a("finished_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_recon_run_date").table(a("recon_run")).col(a("business_date")).to_owned()).await?;
        m.create_table(
            Table::create()
                .table(a("recon_item"))
                .col(big_pk_auto(a("id")))
                .col(big_integer(a("run_id")))
                .col(string(a("channel")))
                .col(string(a("order_no")))
                .col(string(a("kind")))
                .col(big_integer(a("local_amount")))
                .col(big_integer(a("remote_amount")))
                .col(text(a("detail")))
                .col(string(a("resolution")))
                .col(text(a("note")))
                .col(string_null(a("resolved_by")))
                .col(timestamp_with_time_zone_null(a("resolved_at")))
                .to_owned(),
        )
        .await?;
        m.create_index(Index::create().name("ix_recon_item_run").table(a("recon_item")).col(a("run_id")).to_owned()).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for t in ["recon_item", "recon_run"] {
            m.drop_table(Table::drop().table(a(t)).to_owned()).await?;
        }
        m.drop_index(Index::drop().name("ux_ledger_posting_leg").table(a("ledger_entry")).to_owned()).await?;
        m.alter_table(Table::alter().table(a("ledger_entry")).drop_column(a("leg")).to_owned()).await?;
        Ok(())
    }
}
