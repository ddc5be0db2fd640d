//! The outbox worker pool: claims due jobs, runs their handlers with a deadline, acks,
//! retries with backoff and jitter, or dead-letters with a reason. Shutdown stops
//! claiming and lets running jobs finish (bounded), so a deploy loses nothing; a
//! crash loses nothing either, because an unacked job's lease expires and it runs again.
//!
//! This module knows every job kind (it registers them); the job modules know only
//! `crate::job` (the handler trait), so the module graph has no cycle.
use crate::App;
pub use crate::job::{JobError, JobHandler};
use crate::maintenance::{PURGE_SESSIONS, PurgeSessions, schedule_purge};
use chrono::Duration;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Default, Clone)]
pub struct Registry {
    handlers: HashMap<String, Arc<dyn JobHandler>>,
}

impl Registry {
    pub fn with(mut self, kind: &str, h: impl JobHandler + 'static) -> Self {
        self.handlers.insert(kind.to_owned(), Arc::new(h));
        self
    }
    /// The handlers every node runs.
    pub fn standard() -> Self {
        Self::default()
            .with(PURGE_SESSIONS, PurgeSessions)
            .with(crate::maintenance::RETENTION_DAILY, crate::maintenance::EnforceRetention)
            .with(crate::billing::PAYMENT_QUERY, crate::billing::PaymentQuery)
            .with(crate::billing::REFUND_EXECUTE, crate::billing::RefundExecute)
            .with(crate::billing::REFUND_NOTICE, crate::billing::RefundNotice)
            .with(crate::billing::INSURANCE_REVERSE, crate::billing::InsuranceReverse)
            .with(crate::billing::ORDER_FULFIL, crate::billing::FulfilOrder)
            .with(crate::invoices::INVOICE_SYNC, crate::invoices::SyncInvoices)
            .with(crate::inpatient::deposits::DEPOSIT_LOW_SCAN, crate::inpatient::deposits::DepositLowScan)
            .with(crate::inpatient::discharge::DISCHARGE_SETTLE, crate::inpatient::discharge::SettleDischarge)
            .with(crate::inpatient::discharge::DISCHARGE_REFUND, crate::inpatient::discharge::RefundPart)
            .with(crate::inpatient::admission_booking::ADMISSION_REMIND, crate::inpatient::admission_booking::RemindAdmission)
            .with(crate::billing::late::LATE_REFUND, crate::billing::late::LateRefund)
            .with(crate::billing::reconcile::RECONCILE_DAILY, crate::billing::reconcile::ReconcileDaily)
            .with(crate::registration::BOOKING_SETTLE_LOCK, crate::registration::SettleLock)
            .with(crate::registration::BOOKING_RELEASE, crate::registration::ReleaseBooking)
            .with(crate::registration::BOOKING_REFUND, crate::registration::RefundBooking)
            .with(crate::registration::rebook::BOOKING_CARRY, crate::registration::rebook::CarryBooking)
            .with(crate::registration::rebook::BOOKING_HIS_CANCEL, crate::registration::rebook::CancelReplacedRegistration)
            .with(crate::registration::BOOKING_REMIND, crate::registration::RemindBooking)
            .with(crate::fairness::NO_SHOW_DAILY, crate::fairness::NoShowDaily)
            .with(crate::billing::notices::BILL_DUE_SCAN, crate::billing::notices::BillDueScan)
            .with(crate::messages::NOTIFY_DISPATCH, crate::messages::DispatchEvent)
            .with(crate::messages::NOTIFY_DELIVER, crate::messages::DeliverMessage)
            .with(crate::messages::NOTIFY_ACK_CHECK, crate::messages::AckCheck)
            .with(crate::reports::REPORTS_SYNC, crate::reports::SyncLabOrder)
            .with(crate::reports::REPORTS_INGEST, crate::reports::IngestReportFiles)
            .with(crate::reports::REPORTS_PUBLISH, crate::reports::PublishReport)
            .with(crate::reports::REPORTS_POLL, crate::reports::PollLabOrders)
            .with(crate::records::office::RECORDS_SHIP, crate::records::office::ShipRecordCopy)
            .with(crate::records::office::RECORDS_PURGE, crate::records::office::PurgeRecordPhotos)
            .with(crate::face::FACE_DELETE, crate::face::DeleteFace)
            .with(crate::face::FACE_SETTLE, crate::face::SettleEnrolment)
            .with(crate::face::FACE_PURGE_DAY_GROUPS, crate::face::PurgeDayGroups)
    }
}

#[derive(Clone, Debug)]
pub struct PoolConfig {
    pub workers: usize,
    pub batch: u32,
    pub lease: Duration,
    pub poll_interval: std::time::Duration,
    pub job_timeout: std::time::Duration,
    pub worker_id: String,
}

impl Default for PoolConfig {
    fn default() -> Self {
        Self {
            workers: 4,
            batch: 8,
            lease: Duration::seconds(60),
            poll_interval: std::time::Duration::from_millis(500),
            job_timeout: std::time::Duration::from_secs(30),
            worker_id: format!("node-{}", hex::encode(crypto::random_bytes::<4>())),
        }
    }
}

pub struct WorkerPool {
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl WorkerPool {
    pub fn start(app: App, registry: Registry, cfg: PoolConfig) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let registry = Arc::new(registry);
        let tasks = (0..cfg.workers.max(1))
            .map(|i| {
                let (app, registry, cfg, mut stop_rx) = (app.clone(), registry.clone(), cfg.clone(), stop_rx.clone());
                tokio::spawn(async move {
                    let worker = format!("{}-w{i}", cfg.worker_id);
                    let mut failures = 0u32;
                    loop {
                        if *stop_rx.borrow() {
                            break;
                        }
                        let worked = match run_once(&app, &registry, &cfg, &worker).await {
                            Ok(n) => {
                                if failures > 0 {
                                    tracing::info!(failures, "outbox claims work again");
                                    failures = 0;
                                }
                                n > 0
                            }
                            Err(e) => {
                                // The database is away: say so once, then every 16th try,
                                // not thousands of times a second.
                                if failures.is_multiple_of(16) {
                                    tracing::warn!(error = %e, failures, "outbox claim failed");
                                }
                                failures = failures.saturating_add(1);
                                false
                            }
                        };
                        if !worked {
                            tokio::select! {
                                _ = tokio::time::sleep(claim_pause(cfg.poll_interval, failures)) => {}
                                changed = stop_rx.changed() => {
                                    // The pool was dropped without a shutdown: nobody owns
                                    // this worker any more.
                                    if changed.is_err() {
                                        break;
                                    }
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        Self { stop, tasks }
    }

    /// Stops claiming and waits for running jobs, at most `grace`.
    pub async fn shutdown(self, grace: std::time::Duration) {
        let _ = self.stop.send(true);
        let all = futures_join(self.tasks);
        let _ = tokio::time::timeout(grace, all).await;
    }
}

/// The pause before the next claim: the poll interval, doubled for each claim that
/// failed in a row (the database away), up to 5 s, so a node rides out an outage quietly
/// and is back within seconds of the database.
fn claim_pause(poll: std::time::Duration, failures: u32) -> std::time::Duration {
    let cap = std::time::Duration::from_secs(5).max(poll);
    poll.saturating_mul(1u32 << failures.min(8)).min(cap)
}

async fn futures_join(tasks: Vec<JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// Claims one batch and runs it; returns how many jobs ran.
pub async fn run_once(app: &App, registry: &Registry, cfg: &PoolConfig, worker: &str) -> Result<usize, domain::DomainError> {
    let jobs = app.store.claim_jobs(worker, cfg.batch, cfg.lease, app.now()).await?;
    let n = jobs.len();
    for job in jobs {
        let started = std::time::Instant::now();
        let outcome = match registry.handlers.get(&job.kind) {
            None => Err(JobError::Permanent(format!("no handler for kind {}", job.kind))),
            Some(h) => match serde_json::from_str::<serde_json::Value>(&job.payload) {
                Err(e) => Err(JobError::Permanent(format!("payload is not JSON: {e}"))),
                Ok(payload) => {
                    let (h, app2) = (h.clone(), app.clone());
                    // Run on its own task: a panicking handler is a failed attempt, not a dead worker.
                    let task = tokio::spawn(async move { h.run(&app2, &payload).await });
                    match tokio::time::timeout(cfg.job_timeout, task).await {
                        Err(_) => Err(JobError::Retry("timed out".into())),
                        Ok(Err(join)) => Err(JobError::Retry(format!("handler panicked: {join}"))),
                        Ok(Ok(r)) => r,
                    }
                }
            },
        };
        let now = app.now();
        let kind = job.kind.clone();
        let dead_why = match &outcome {
            Err(JobError::Retry(why)) if job.attempts >= job.max_attempts => Some(why.clone()),
            Err(JobError::Permanent(why)) => Some(why.clone()),
            _ => None,
        };
        match outcome {
            Ok(()) => {
                app.store.complete_job(job.id, worker, now).await?;
                metrics::counter!("carebridge_jobs_total", "kind" => kind, "outcome" => "done").increment(1);
            }
            Err(JobError::Retry(why)) => {
                let retry_at = now + store::outbox::backoff(job.attempts, rand::random::<f64>());
                tracing::warn!(job_id = job.id, kind = %job.kind, attempts = job.attempts, error = %why, "job failed, will retry");
                app.store.fail_job(&job, worker, &why, Some(retry_at), now).await?;
                metrics::counter!("carebridge_jobs_total", "kind" => kind, "outcome" => if job.attempts >= job.max_attempts { "dead" } else { "retry" })
                    .increment(1);
            }
            Err(JobError::Permanent(why)) => {
                tracing::error!(job_id = job.id, kind = %job.kind, error = %why, "job dead-lettered");
                app.store.fail_job(&job, worker, &why, None, now).await?;
                metrics::counter!("carebridge_jobs_total", "kind" => kind, "outcome" => "dead").increment(1);
            }
        }
        if let (Some(why), Some(h)) = (dead_why, registry.handlers.get(&job.kind)) {
            // The job is dead: its handler hands the case to a person. A failure here is
            // logged, never retried (the dead letter itself stays for operators).
            let payload = serde_json::from_str::<serde_json::Value>(&job.payload).unwrap_or_default();
            if let Err(e) = h.on_dead_letter(app, &payload, &why).await {
                tracing::error!(job_id = job.id, kind = %job.kind, error = %e, "dead-letter hand-over failed");
            }
        }
        metrics::histogram!("carebridge_job_seconds", "kind" => job.kind).record(started.elapsed().as_secs_f64());
    }
    Ok(n)
}

/// Makes sure the recurring jobs exist (at start-up).
pub async fn ensure_recurring(app: &App) -> Result<(), domain::DomainError> {
    if app.store.live_jobs_of_kind(PURGE_SESSIONS).await? == 0 {
        schedule_purge(app, app.now()).await?;
    }
    if app.store.live_jobs_of_kind(crate::maintenance::RETENTION_DAILY).await? == 0 {
        crate::maintenance::schedule_retention(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::billing::reconcile::RECONCILE_DAILY).await? == 0 {
        crate::billing::reconcile::schedule_daily(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::billing::notices::BILL_DUE_SCAN).await? == 0 {
        crate::billing::notices::schedule_scan(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::inpatient::deposits::DEPOSIT_LOW_SCAN).await? == 0 {
        crate::inpatient::deposits::schedule_scan(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::fairness::NO_SHOW_DAILY).await? == 0 {
        crate::fairness::schedule_no_show_sweep(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::records::office::RECORDS_PURGE).await? == 0 {
        crate::records::office::schedule_purge(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::face::FACE_PURGE_DAY_GROUPS).await? == 0 {
        crate::face::schedule_day_group_purge(app).await?;
    }
    if app.store.live_jobs_of_kind(crate::reports::REPORTS_POLL).await? == 0 {
        crate::reports::schedule_poll(app).await?;
    }
    // The records office's first fee table is written now rather than by the first
    // patient's read (which still would, should start-up have been skipped).
    app.record_fee_table_now().await?;
    let swept = crate::messages::sweep_undispatched(app).await?;
    if swept > 0 {
        tracing::info!(events = swept, "journey events queued for the message platform");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::claim_pause;
    use std::time::Duration;

    #[test]
    fn claims_back_off_while_the_database_is_away_and_not_beyond_five_seconds() {
        let poll = Duration::from_millis(50);
        assert_eq!(claim_pause(poll, 0), poll, "working normally: the poll interval");
        assert_eq!(claim_pause(poll, 1), Duration::from_millis(100));
        assert_eq!(claim_pause(poll, 4), Duration::from_millis(800));
        assert_eq!(claim_pause(poll, 7), Duration::from_secs(5), "capped");
        assert_eq!(claim_pause(poll, u32::MAX), Duration::from_secs(5), "no overflow after a long outage");
        assert_eq!(claim_pause(Duration::from_secs(8), 3), Duration::from_secs(8), "never shorter than the poll interval");
    }
}
