//! What a job is to the worker pool: a handler for one kind, and how it can fail. Job
//! modules depend on this alone; the pool and its registry (`crate::jobs`) depend on them.
use crate::App;
use async_trait::async_trait;

#[derive(Debug)]
pub enum JobError {
    /// Worth trying again later (timeouts, 5xx, the other side busy).
    Retry(String),
    /// Will never succeed (bad payload, refused for good): dead-letter now.
    Permanent(String),
}

/// A use case's failure inside a job: tried again later (a refusal for good is decided
/// by the job itself, with [`JobError::Permanent`]).
pub(crate) fn retry(e: domain::DomainError) -> JobError {
    JobError::Retry(e.to_string())
}

#[async_trait]
pub trait JobHandler: Send + Sync {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError>;

    /// Called once when the job is dead-lettered (retries exhausted or refused for good):
    /// where a person must take over, this is where they are told.
    async fn on_dead_letter(&self, _app: &App, _payload: &serde_json::Value, _why: &str) -> Result<(), domain::DomainError> {
        Ok(())
    }
}

/// Schedules the next run of a recurring job `every` from now, once per minute slot (a
/// second scheduler in the same minute, say another node, adds nothing).
pub(crate) async fn schedule_next(app: &App, kind: &str, every: chrono::Duration) -> Result<(), domain::DomainError> {
    let at = app.now() + every;
    let job = store::outbox::NewJob::new(kind, serde_json::json!({}), app.now()).at(at).dedupe(format!("{kind}:{}", at.timestamp() / 60));
    app.store.enqueue(app.store.db(), job, app.now()).await.map(|_| ())
}
