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

pub const RETENTION_DAILY: &str = "maintenance.retention";
/// The nightly retention run starts at this local hour (after reconciliation at 03:00,
/// which still reads the day's raw notifications).
pub const RETENTION_AT_HOUR: u32 = 4;

/// How long each class of kept data lives (S14; docs/ARCHITECTURE.md "Retention").
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Retention {
    /// A message's texts and variables (its row, status and times stay).
    pub message_content_days: i64,
    /// Raw bank and centre notifications (the ledger and reconciliation keep what they proved).
    pub raw_callback_days: i64,
    /// Stored answers of idempotent requests and the open interface, and its nonces.
    pub stored_answer_days: i64,
    /// Finished background jobs (dead letters stay until handled).
    pub finished_job_days: i64,
}

impl Default for Retention {
    fn default() -> Self {
        // Raw notifications: ten years, as bank statements under 会计档案管理办法 (2015) art. 14.
        Self { message_content_days: 180, raw_callback_days: 3650, stored_answer_days: 7, finished_job_days: 30 }
    }
}

/// What one retention run removed, per class.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct RetentionRun {
    pub messages_anonymised: u64,
    pub raw_callbacks_deleted: u64,
    pub stored_answers_deleted: u64,
    pub finished_jobs_deleted: u64,
}

impl App {
    /// Deletes or anonymises every class past its period, and records what it did in the
    /// audit log (counts only). Record-copy photos and sessions have their own, more
    /// frequent jobs (`records.purge`, `maintenance.purge_sessions`).
    pub async fn enforce_retention(&self) -> Result<RetentionRun, domain::DomainError> {
        let now = self.now();
        let r = &self.policies.retention;
        let days = Duration::days;
        let run = RetentionRun {
            messages_anonymised: self.store.anonymise_messages(now - days(r.message_content_days), now).await?,
            raw_callbacks_deleted: self.store.purge_channel_events(now - days(r.raw_callback_days)).await?,
            stored_answers_deleted: self.store.purge_stored_answers(now - days(r.stored_answer_days)).await?,
            finished_jobs_deleted: self.store.purge_finished_jobs(now - days(r.finished_job_days)).await?,
        };
        let what = serde_json::to_string(&run).unwrap_or_default();
        self.store.audit(&crate::Actor::system("retention").entry("retention.run", "retention", &what), now).await?;
        tracing::info!(?run, "retention enforced");
        Ok(run)
    }
}

pub fn next_retention_run(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let local = domain::clock::to_local(now);
    let today = domain::clock::local_midnight_utc(local.date_naive()) + Duration::hours(RETENTION_AT_HOUR as i64);
    if today > now { today } else { today + Duration::days(1) }
}

pub async fn schedule_retention(app: &App) -> Result<(), domain::DomainError> {
    let at = next_retention_run(app.now());
    let job = store::outbox::NewJob::new(RETENTION_DAILY, serde_json::json!({}), app.now()).at(at).dedupe(format!("{RETENTION_DAILY}:{}", at.timestamp()));
    app.store.enqueue(app.store.db(), job, app.now()).await.map(|_| ())
}

/// The nightly retention run; schedules the next one.
pub struct EnforceRetention;

#[async_trait]
impl JobHandler for EnforceRetention {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        app.enforce_retention().await.map_err(|e| JobError::Retry(e.to_string()))?;
        schedule_retention(app).await.map_err(|e| JobError::Retry(e.to_string()))
    }
}
