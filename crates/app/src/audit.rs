//! The audit trail as staff review it: the chain's integrity and what one actor did.
use crate::{Actor, App};
use chrono::{DateTime, Utc};
use domain::DomainError;
pub use domain::audit::ChainVerdict;

/// One audit row as the review shows it (internal ids and purposes only, never names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub action: String,
    pub subject: String,
    pub reason: String,
}

impl From<store::entity::audit_log::Model> for AuditRecord {
    fn from(m: store::entity::audit_log::Model) -> Self {
        Self { seq: m.seq, at: m.at, actor: m.actor, action: m.action, subject: m.subject, reason: m.reason }
    }
}

pub struct AuditReview {
    pub verdict: ChainVerdict,
    /// What `actor` did in the period (empty when no actor was asked about).
    pub entries: Vec<AuditRecord>,
}

impl App {
    /// Verifies the chain and, when `actor` is given, lists what it did in the last
    /// `hours`; looking someone up is itself audited.
    pub async fn audit_review(&self, actor: &str, hours: i64, by: &Actor) -> Result<AuditReview, DomainError> {
        let verdict = self.store.verify_audit_chain().await?;
        let mut entries = Vec::new();
        if !actor.is_empty() {
            let now = self.now();
            entries = self
                .store
                .audit_by_actor(actor, now - chrono::Duration::hours(hours), now + chrono::Duration::minutes(1))
                .await?
                .into_iter()
                .map(AuditRecord::from)
                .collect();
            self.store.audit(&by.entry("audit.query", format!("actor:{actor}"), "audit review"), now).await?;
        }
        Ok(AuditReview { verdict, entries })
    }
}
