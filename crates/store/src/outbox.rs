//! The transactional outbox. A use case enqueues a job in the same transaction as the
//! state change that decided it; workers claim due jobs with a lease, perform them,
//! then ack, retry with exponential backoff and jitter, or dead-letter with a reason.
//! A worker that dies mid-job loses its lease and the job is claimed again.
use crate::entity::outbox;
use crate::{Store, db_err, dialect, is_unique_violation, micros};
use chrono::{DateTime, Duration, Utc};
use domain::{DomainError, ErrorCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, PaginatorTrait, QueryFilter, QueryOrder, Set, Statement};

#[derive(Clone, Debug)]
pub struct NewJob {
    pub kind: String,
    pub payload: serde_json::Value,
    /// Same key → one job, however often the event replays.
    pub dedupe_key: Option<String>,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i32,
}

impl NewJob {
    pub fn new(kind: impl Into<String>, payload: serde_json::Value, now: DateTime<Utc>) -> Self {
        Self { kind: kind.into(), payload, dedupe_key: None, run_at: now, max_attempts: 10 }
    }
    pub fn dedupe(mut self, key: impl Into<String>) -> Self {
        self.dedupe_key = Some(key.into());
        self
    }
    pub fn at(mut self, run_at: DateTime<Utc>) -> Self {
        self.run_at = run_at;
        self
    }
    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }
}

#[derive(Clone, Debug, PartialEq, Eq, FromQueryResult)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: String,
    pub attempts: i32,
    pub max_attempts: i32,
    pub dedupe_key: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Enqueued {
    New(i64),
    /// A job with this dedupe key already exists; nothing was added.
    Duplicate,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxStats {
    pub pending: u64,
    pub running: u64,
    pub done: u64,
    pub dead: u64,
}

/// Exponential backoff with ±25 % jitter: 2 s, 4 s, 8 s … capped at one hour.
pub fn backoff(attempts: i32, jitter_unit: f64) -> Duration {
    domain::clock::backoff(attempts.clamp(1, 20).unsigned_abs() - 1, jitter_unit, Duration::hours(1))
}

impl Store {
    /// Enqueues inside the caller's transaction (or on the pool for jobs with no state
    /// change to accompany).
    pub async fn enqueue<C: ConnectionTrait>(&self, conn: &C, job: NewJob, now: DateTime<Utc>) -> Result<Enqueued, DomainError> {
        if let Some(key) = &job.dedupe_key {
            let exists = outbox::Entity::find().filter(outbox::Column::DedupeKey.eq(key.clone())).count(conn).await.map_err(db_err)?;
            if exists > 0 {
                return Ok(Enqueued::Duplicate);
            }
        }
        let am = outbox::ActiveModel {
            kind: Set(job.kind),
            payload: Set(job.payload.to_string()),
            dedupe_key: Set(job.dedupe_key),
            state: Set("pending".into()),
            attempts: Set(0),
            max_attempts: Set(job.max_attempts),
            run_at: Set(micros(job.run_at)),
            lease_until: Set(None),
            claimed_by: Set(None),
            last_error: Set(None),
            created_at: Set(micros(now)),
            finished_at: Set(None),
            ..Default::default()
        };
        match am.insert(conn).await {
            Ok(m) => Ok(Enqueued::New(m.id)),
            Err(e) if is_unique_violation(&e) => Ok(Enqueued::Duplicate),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Claims up to `limit` due jobs (or jobs whose lease expired) for `worker`.
    pub async fn claim_jobs(&self, worker: &str, limit: u32, lease: Duration, now: DateTime<Utc>) -> Result<Vec<ClaimedJob>, DomainError> {
        let sql = dialect::outbox_claim_sql(self.backend);
        let stmt =
            Statement::from_sql_and_values(self.db_backend(), sql, [micros(now + lease).into(), worker.into(), micros(now).into(), (limit as i64).into()]);
        ClaimedJob::find_by_statement(stmt).all(&self.db).await.map_err(db_err)
    }

    /// Marks a job done. Only the worker holding the lease may (a job re-claimed after a
    /// lease expiry belongs to its new holder).
    pub async fn complete_job(&self, id: i64, worker: &str, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let res = outbox::Entity::update_many()
            .col_expr(outbox::Column::State, "done".into())
            .col_expr(outbox::Column::FinishedAt, micros(now).into())
            .col_expr(outbox::Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::State.eq("running"))
            .filter(outbox::Column::ClaimedBy.eq(worker))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    /// Records a failure: retry at `retry_at`, or dead-letter when `retry_at` is None
    /// (permanent error) or attempts are used up.
    pub async fn fail_job(&self, job: &ClaimedJob, worker: &str, error: &str, retry_at: Option<DateTime<Utc>>, now: DateTime<Utc>) -> Result<(), DomainError> {
        let dead = retry_at.is_none() || job.attempts >= job.max_attempts;
        let error: String = error.chars().take(2000).collect();
        let mut q = outbox::Entity::update_many()
            .col_expr(outbox::Column::LastError, error.into())
            .col_expr(outbox::Column::LeaseUntil, Option::<DateTime<Utc>>::None.into())
            .filter(outbox::Column::Id.eq(job.id))
            .filter(outbox::Column::ClaimedBy.eq(worker))
            .filter(outbox::Column::State.eq("running"));
        if dead {
            q = q.col_expr(outbox::Column::State, "dead".into()).col_expr(outbox::Column::FinishedAt, micros(now).into());
        } else {
            q = q.col_expr(outbox::Column::State, "pending".into()).col_expr(outbox::Column::RunAt, micros(retry_at.expect("checked")).into());
        }
        q.exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn outbox_stats(&self) -> Result<OutboxStats, DomainError> {
        let count = |state: &'static str| async move { outbox::Entity::find().filter(outbox::Column::State.eq(state)).count(&self.db).await.map_err(db_err) };
        Ok(OutboxStats { pending: count("pending").await?, running: count("running").await?, done: count("done").await?, dead: count("dead").await? })
    }

    /// Jobs whose time has come and that no worker has taken: the backlog (pending jobs
    /// also include those scheduled for later — reminders, quiet-hours notices).
    pub async fn outbox_due(&self, now: DateTime<Utc>) -> Result<u64, DomainError> {
        outbox::Entity::find().filter(outbox::Column::State.eq("pending")).filter(outbox::Column::RunAt.lte(now)).count(&self.db).await.map_err(db_err)
    }

    pub async fn dead_jobs(&self, limit: u64) -> Result<Vec<outbox::Model>, DomainError> {
        use sea_orm::QuerySelect;
        outbox::Entity::find().filter(outbox::Column::State.eq("dead")).order_by_desc(outbox::Column::Id).limit(limit).all(&self.db).await.map_err(db_err)
    }

    pub async fn job(&self, id: i64) -> Result<outbox::Model, DomainError> {
        outbox::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.ok_or(DomainError::from(ErrorCode::NotFound))
    }

    /// Jobs of a kind still waiting or running (used to keep one recurring job alive).
    pub async fn live_jobs_of_kind(&self, kind: &str) -> Result<u64, DomainError> {
        outbox::Entity::find()
            .filter(outbox::Column::Kind.eq(kind))
            .filter(outbox::Column::State.is_in(["pending", "running"]))
            .count(&self.db)
            .await
            .map_err(db_err)
    }

    /// Puts a dead job back in the queue (an operator's decision after fixing a cause).
    pub async fn requeue_dead_job(&self, id: i64, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let res = outbox::Entity::update_many()
            .col_expr(outbox::Column::State, "pending".into())
            .col_expr(outbox::Column::Attempts, 0.into())
            .col_expr(outbox::Column::RunAt, micros(now).into())
            .col_expr(outbox::Column::FinishedAt, Option::<DateTime<Utc>>::None.into())
            .filter(outbox::Column::Id.eq(id))
            .filter(outbox::Column::State.eq("dead"))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_bounded_jitter_and_caps() {
        assert_eq!(backoff(1, 0.5), Duration::seconds(2));
        assert_eq!(backoff(3, 0.5), Duration::seconds(8));
        assert!(backoff(3, 0.0) >= Duration::seconds(6) && backoff(3, 1.0) <= Duration::seconds(10));
        assert!(backoff(50, 1.0) <= Duration::seconds(4500));
    }
}
