//! Retention (S14): a message whose texts the retention job replaced is marked, so the
//! nightly run passes over it.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0017_retention"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("message")).add_column(timestamp_with_time_zone_null(a("content_purged_at"))).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("message")).drop_column(a("content_purged_at")).to_owned()).await
    }
}
