//! 住院押金不足提醒 decided by the platform (BED-2): besides the HIS's own push, a scan
//! over the wards finds stays whose balance fell under the configured floor or under N days
//! of their average daily charges, and tells every account managing the patient — at most
//! once a day per stay, and once more that day if the balance goes negative. The notice
//! opens the stay's page at the top-up form (one tap to pay).
use crate::App;
use crate::job::{JobError, JobHandler};
use async_trait::async_trait;
use chrono::Duration;
use domain::DomainError;
use domain::inpatient::{day_of_stay, low_deposit};
use serde_json::json;

pub const DEPOSIT_LOW_SCAN: &str = "inpatient.deposit_low_scan";
pub const DEPOSIT_LOW: &str = "deposit.low";
/// How often the wards are looked at [I]: charges are booked through the day.
const SCAN_EVERY_MINUTES: i64 = 60;

impl App {
    /// Records a low-deposit notice for every stay that needs one now; returns how many
    /// were new.
    pub async fn scan_low_deposits(&self) -> Result<usize, DomainError> {
        let today = self.today();
        let mut new = 0;
        for w in self.his.ward_inpatients().await? {
            let s = &w.stay;
            if s.account_closed || s.settled_at.is_some() {
                continue;
            }
            let patients = self.store.patient_ids_by_his_id(&w.his_patient_id).await?;
            if patients.is_empty() {
                continue;
            }
            let balance = domain::Fen(s.deposit_balance.0 - s.charges_to_date.0);
            let days = day_of_stay(domain::clock::to_local(s.admitted_at).date_naive(), today);
            let daily = (days > 1).then(|| domain::Fen(s.charges_to_date.0 / days));
            let Some(low) = low_deposit(balance, daily, self.policies.deposit_floor, self.policies.deposit_days) else { continue };
            // One event: the message platform tells every account managing the patient.
            let key = format!("{DEPOSIT_LOW}:{}:{today}{}", s.inpatient_no, if low.owed { ":owed" } else { "" });
            let payload = json!({
                "inpatient_no": s.inpatient_no, "ward": s.ward, "balance": balance.0, "threshold": low.threshold.0,
                "link": "/inpatient?patient={patient}#top-up",
            });
            let txn = self.store.write_txn().await?;
            new += usize::from(self.store.record_event(&txn, DEPOSIT_LOW, &key, Some(patients[0]), &payload, self.now()).await?);
            txn.commit().await.map_err(store::db_err)?;
        }
        Ok(new)
    }
}

pub async fn schedule_scan(app: &App) -> Result<(), DomainError> {
    crate::job::schedule_next(app, DEPOSIT_LOW_SCAN, Duration::minutes(SCAN_EVERY_MINUTES)).await
}

/// Scans, then schedules the next scan.
pub struct DepositLowScan;

#[async_trait]
impl JobHandler for DepositLowScan {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        app.scan_low_deposits().await.map_err(|e| JobError::Retry(e.to_string()))?;
        schedule_scan(app).await.map_err(|e| JobError::Retry(e.to_string()))
    }
}
