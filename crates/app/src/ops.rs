//! What operators and load balancers ask of a node: can it serve, and the counts behind
//! its metrics.
use crate::App;
use domain::DomainError;

/// Personal data opened to hand out since the node started, by kind (S10), and the
/// outbox's backlog.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OperationalCounts {
    pub identity_disclosures: u64,
    pub mobile_disclosures: u64,
    pub child_identity_disclosures: u64,
    pub report_file_disclosures: u64,
    /// `None` when the database did not answer.
    pub outbox_pending: Option<u64>,
    pub outbox_dead: Option<u64>,
    /// Pending jobs whose time has come (the backlog the workers have not caught up with).
    pub outbox_due: Option<u64>,
    /// The database pool: connections open, of which idle.
    pub db_connections_open: u32,
    pub db_connections_idle: u32,
}

impl App {
    /// The node can serve: its database answers.
    pub async fn ready(&self) -> Result<(), DomainError> {
        self.store.ping().await
    }

    pub async fn operational_counts(&self) -> OperationalCounts {
        let d = self.store.disclosures();
        let outbox = self.store.outbox_stats().await.ok();
        let (open, idle) = self.store.pool_connections();
        OperationalCounts {
            identity_disclosures: d.identity,
            mobile_disclosures: d.mobile,
            child_identity_disclosures: d.child_identity,
            report_file_disclosures: d.report_file,
            outbox_pending: outbox.as_ref().map(|s| s.pending),
            outbox_dead: outbox.as_ref().map(|s| s.dead),
            outbox_due: self.store.outbox_due(self.now()).await.ok(),
            db_connections_open: open,
            db_connections_idle: idle,
        }
    }
}
