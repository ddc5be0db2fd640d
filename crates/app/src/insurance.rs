//! The patient's insurance standing (INS-2, INS-3): asked of the HIS, judged by the
//! hospital's rules. Payment (`billing::insurance`) and booking (`registration`) ask the
//! same question here, so the rule runs the same way at every step.
use crate::{Actor, App};
use domain::insurance::{Coverage, DeptException, Eligibility, InsuranceRules};
use domain::{DomainError, ErrorCode};

impl App {
    /// The hospital's INS-2 rules: its 定点 code and the department exceptions in force.
    pub async fn insurance_rules(&self) -> Result<InsuranceRules, DomainError> {
        Ok(InsuranceRules { hospital_code: self.policies.hospital_code.clone(), exceptions: self.store.insurance_exceptions().await? })
    }

    /// What insurance may pay for this patient in this department today, with the
    /// coverage it was judged on. The HIS is asked every time: a referral may have been
    /// issued or may have lapsed since the patient last looked.
    pub async fn eligibility(&self, his_patient_id: &str, dept_id: Option<&str>) -> Result<(Coverage, Eligibility), DomainError> {
        let patient = self.his.patient(his_patient_id).await?.ok_or(ErrorCode::PatientNotFound)?;
        let rules = self.insurance_rules().await?;
        let e = rules.decide(&patient.coverage, dept_id, self.today());
        Ok((patient.coverage, e))
    }

    /// Adds a department exception (console, audited).
    pub async fn add_insurance_exception(&self, e: &DeptException, actor: &Actor) -> Result<i64, DomainError> {
        if e.dept_id.trim().is_empty() || e.kinds.is_empty() || e.label.trim().is_empty() || e.label.chars().count() > 60 {
            return Err(ErrorCode::ValidationFailed.into());
        }
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let id = self.store.add_insurance_rule(&txn, e, &actor.id, now).await?;
        let kinds: Vec<&str> = e.kinds.iter().map(|k| k.as_str()).collect();
        let what = format!("{} {} {}", e.dept_id, kinds.join(","), e.label);
        self.store.append_audit(&txn, &actor.entry("insurance.rule_add", format!("insurance_rule:{id}"), &what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(id)
    }

    /// Turns an exception on or off (console, audited).
    pub async fn set_insurance_exception_enabled(&self, id: i64, enabled: bool, actor: &Actor) -> Result<(), DomainError> {
        let now = self.now();
        let txn = self.store.write_txn().await?;
        self.store.set_insurance_rule_enabled(&txn, id, enabled, &actor.id, now).await?;
        let what = if enabled { "启用" } else { "停用" };
        self.store.append_audit(&txn, &actor.entry("insurance.rule_toggle", format!("insurance_rule:{id}"), what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }
}
