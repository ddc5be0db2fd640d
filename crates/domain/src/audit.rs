//! What the audit log records: who did what to which subject, when and why — never the
//! data itself (S10). The chain hash makes in-place edits detectable (S11).
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// `patient_account:12`, `staff:3`, `system`, `his`.
    pub actor: String,
    /// A dotted verb: `patient.add`, `patient.view`, `staff.login`, `staff.create` …
    pub action: String,
    /// `patient:42` — an internal id, never a name or ID number.
    pub subject: String,
    /// Why the access happened (purpose of use).
    pub reason: String,
    pub correlation_id: String,
}

impl AuditEntry {
    pub fn new(actor: impl Into<String>, action: impl Into<String>, subject: impl Into<String>, reason: impl Into<String>) -> Self {
        Self { actor: actor.into(), action: action.into(), subject: subject.into(), reason: reason.into(), correlation_id: String::new() }
    }
    pub fn with_correlation(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = id.into();
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainVerdict {
    Intact {
        rows: u64,
    },
    /// The first row whose stored hash or link does not match.
    Broken {
        seq: i64,
        reason: String,
    },
}
