//! Whether a record-copy application's encounter is a stay (住院) or a visit (门诊): the
//! sections a copy may hold differ (a visit has no 入院记录, 出院记录 or 手术记录). NULL for
//! an application whose encounter is not chosen yet, and for those made before (read as a
//! stay, which offers every section as before).
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0015_record_encounter_kind"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("record_application")).add_column(boolean_null(a("encounter_inpatient"))).to_owned()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(a("record_application")).drop_column(a("encounter_inpatient")).to_owned()).await
    }
}
