//! A booking made by 改约 carries the payment of the booking it replaces (issue 17): the
//! new row names the old one, so the pages know nothing is owed and the recovery job knows
//! what to confirm and what to cancel.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::string_null;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0010_rebook"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("registration")).add_column(string_null(a("carried_from"))).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("registration")).drop_column(a("carried_from")).to_owned()).await
    }
}
