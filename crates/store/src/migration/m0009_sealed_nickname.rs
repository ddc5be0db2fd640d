//! The WeChat nickname is personal data (in the demo, and often in life, the person's
//! name): from now on it is sealed like the patient fields (issue 8, found by the
//! database scan). Nicknames stored in the clear before are dropped; the next sign-in
//! stores the nickname again, sealed.
use sea_orm_migration::prelude::*;

use super::a;

pub struct Migration;

impl MigrationName for Migration {
    fn name(&self) -> &str {
        "m0009_sealed_nickname"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.exec_stmt(Query::update().table(a("wechat_account")).value(a("nickname"), Option::<String>::None).to_owned()).await
    }

    async fn down(&self, _m: &SchemaManager) -> Result<(), DbErr> {
        Ok(())
    }
}
