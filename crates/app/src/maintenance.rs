//! Housekeeping jobs of the platform itself.
use crate::App;
use crate::job::{JobError, JobHandler};
use async_trait::async_trait;
use chrono::Duration;

pub const PURGE_SESSIONS: &str = "maintenance.purge_sessions";
pub const PURGE_EVERY_MINUTES: i64 = 10;

/// Deletes expired sessions, then schedules its own next run (one live job at a time,
/// guarded by a dedupe key per time slot, so several nodes do not multiply it).
pub struct PurgeSessions;

#[async_trait]
impl JobHandler for PurgeSessions {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        let now = app.now();
        let longest_idle = app.policies.patient_session.idle.max(app.policies.staff_session.idle);
        let n = app.store.purge_sessions(now, longest_idle).await.map_err(|e| JobError::Retry(e.to_string()))?;
        tracing::info!(purged = n, "expired sessions purged");
        // Shared rate windows older than ten minutes count nothing any more.
        app.store.purge_rate_windows(now.timestamp() - 600).await.map_err(|e| JobError::Retry(e.to_string()))?;
        schedule_purge(app, now + Duration::minutes(PURGE_EVERY_MINUTES)).await.map_err(|e| JobError::Retry(e.to_string()))
    }
}

pub async fn schedule_purge(app: &App, at: chrono::DateTime<chrono::Utc>) -> Result<(), domain::DomainError> {
    let slot = at.timestamp() / (PURGE_EVERY_MINUTES * 60);
    let job = store::outbox::NewJob::new(PURGE_SESSIONS, serde_json::json!({}), app.now()).at(at).dedupe(format!("{PURGE_SESSIONS}:{slot}"));
    app.store.enqueue(app.store.db(), job, app.now()).await.map(|_| ())
}
