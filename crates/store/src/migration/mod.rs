//! One set of migrations for SQLite and PostgreSQL, written in SeaQuery so each backend
//! gets its own DDL. A migration, once shipped, is never edited: add a new one.
use sea_orm_migration::prelude::*;

mod m0001_foundation;
mod m0002_billing;
mod m0003_attempts;
mod m0004_reconciliation;
mod m0005_registration;
mod m0006_messages;
mod m0007_reports;
mod m0008_admission;
mod m0009_sealed_nickname;
mod m0010_rebook;
mod m0011_discharge;
mod m0012_invoices;
mod m0013_admission_booking;
mod m0014_records;
mod m0015_record_encounter_kind;
mod m0016_consent;
mod m0017_retention;
mod m0018_face;

/// A column or table name.
pub(crate) fn a(s: &'static str) -> Alias {
    Alias::new(s)
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m0001_foundation::Migration),
            Box::new(m0002_billing::Migration),
            Box::new(m0003_attempts::Migration),
            Box::new(m0004_reconciliation::Migration),
            Box::new(m0005_registration::Migration),
            Box::new(m0006_messages::Migration),
            Box::new(m0007_reports::Migration),
            Box::new(m0008_admission::Migration),
            Box::new(m0009_sealed_nickname::Migration),
            Box::new(m0010_rebook::Migration),
            Box::new(m0011_discharge::Migration),
            Box::new(m0012_invoices::Migration),
            Box::new(m0013_admission_booking::Migration),
            Box::new(m0014_records::Migration),
            Box::new(m0015_record_encounter_kind::Migration),
            Box::new(m0016_consent::Migration),
            Box::new(m0017_retention::Migration),
            Box::new(m0018_face::Migration),
        ]
    }
}
