//! Consent (S13): the patient's grants per purpose, their history, and withdrawal that
//! takes effect at once. Everything that processes for a purpose asks
//! [`App::consent_in_force`]: the message writer and each send (WeChat, SMS), the
//! payment methods offered for a child.
use crate::{Actor, App};
use domain::consent::{ConsentRecord, Purpose, in_force};
use domain::{DomainError, ErrorCode};

/// One purpose as the patient's consent page shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentView {
    pub purpose: Purpose,
    /// For a per-patient purpose: the 就诊人 it is about, and how the account names them.
    pub patient_id: Option<i64>,
    pub patient_label: Option<String>,
    pub in_force: bool,
    /// The newest record (none: an account from before records were kept).
    pub record: Option<ConsentRecord>,
}

/// The account's consents now, and every record ever kept (newest first).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsentOverview {
    pub current: Vec<ConsentView>,
    pub history: Vec<ConsentRecord>,
}

impl App {
    /// Whether the account may be processed for `purpose` (for `patient_id` where the
    /// purpose is per patient). Read at the moment of processing, so a withdrawal counts
    /// from the next message sent, not the next one written.
    pub async fn consent_in_force(&self, account_id: i64, patient_id: Option<i64>, purpose: Purpose) -> Result<bool, DomainError> {
        let patient_id = if purpose.per_patient() { patient_id } else { None };
        Ok(in_force(purpose, self.store.newest_consent(self.store.db(), account_id, patient_id, purpose).await?.as_ref()))
    }

    /// The account's consents: the notices (whole account) and each bound or once-bound child.
    pub async fn consents(&self, account_id: i64) -> Result<ConsentOverview, DomainError> {
        let history = self.store.consents_of(account_id).await?;
        let patients = self.store.list_patients(account_id).await?;
        let today = self.today();
        let mut current = Vec::new();
        for p in Purpose::ALL {
            if p.per_patient() {
                let mut seen = Vec::new();
                for r in history.iter().filter(|r| r.purpose == p) {
                    let Some(pid) = r.patient_id else { continue };
                    if seen.contains(&pid) {
                        continue;
                    }
                    seen.push(pid);
                    let label = patients.iter().find(|x| x.id == pid).map(|x| x.own_label(today));
                    current.push(ConsentView {
                        purpose: p,
                        patient_id: Some(pid),
                        patient_label: label,
                        in_force: in_force(p, Some(r)),
                        record: Some(r.clone()),
                    });
                }
            } else {
                let newest = history.iter().find(|r| r.purpose == p && r.patient_id.is_none()).cloned();
                current.push(ConsentView { purpose: p, patient_id: None, patient_label: None, in_force: in_force(p, newest.as_ref()), record: newest });
            }
        }
        Ok(ConsentOverview { current, history })
    }

    /// Gives (again) a consent of the whole account from the consent page. A separate
    /// consent is given where its purpose starts (a child's binding), never here.
    pub async fn grant_consent(&self, account_id: i64, purpose: Purpose, channel: &str, actor: &Actor) -> Result<bool, DomainError> {
        if purpose.per_patient() || purpose.needs_separate_grant() {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "this consent is given where its service starts"));
        }
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let written = self.store.grant_consent(&txn, account_id, None, purpose, channel, now).await?;
        if written {
            let entry = actor.entry("consent.grant", format!("patient_account:{account_id}"), &format!("{} {}", purpose.code(), purpose.text_version()));
            self.store.append_audit(&txn, &entry, now).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        Ok(written)
    }

    /// Withdraws a consent; what it allowed stops in the same transaction (a child's
    /// binding ends) or at the next use (every send asks). Audited. Withdrawing what is
    /// not in force changes nothing and is not an error (a second tap). Answers the
    /// consents as they now stand.
    pub async fn withdraw_consent(
        &self,
        account_id: i64,
        purpose: Purpose,
        patient_id: Option<i64>,
        channel: &str,
        actor: &Actor,
    ) -> Result<ConsentOverview, DomainError> {
        let patient_id = if purpose.per_patient() {
            let pid = patient_id.ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "which child"))?;
            // Only the account's own 就诊人.
            self.store.patient_summary(account_id, pid).await.map_err(|_| DomainError::from(ErrorCode::PatientNotFound))?;
            Some(pid)
        } else if patient_id.is_some() {
            // A consent of the whole account names no 就诊人: a request that does is wrong.
            return Err(DomainError::new(ErrorCode::ValidationFailed, "this consent is the account's, not a patient's"));
        } else {
            None
        };
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let withdrawn = self.store.withdraw_consent(&txn, account_id, patient_id, purpose, channel, now).await?;
        if purpose == Purpose::ChildInsurance
            && let Some(pid) = patient_id
        {
            self.store.unbind_child(&txn, account_id, pid).await?;
        }
        if purpose == Purpose::FaceEnrolment
            && let Some(pid) = patient_id
        {
            self.withdraw_face_enrolment(&txn, account_id, pid, now).await?;
        }
        if withdrawn {
            let subject = match patient_id {
                Some(p) => format!("patient:{p}"),
                None => format!("patient_account:{account_id}"),
            };
            self.store.append_audit(&txn, &actor.entry("consent.withdraw", subject, purpose.code()), now).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        self.consents(account_id).await
    }

    /// The notices an account may get: (WeChat, SMS).
    pub(crate) async fn notice_consents(&self, account_id: i64) -> Result<(bool, bool), DomainError> {
        let newest = self.store.newest_account_consents(self.store.db(), account_id, &[Purpose::WechatNotices, Purpose::SmsNotices]).await?;
        let of = |p: Purpose| newest.iter().find(|(q, _)| *q == p).is_some_and(|(_, r)| in_force(p, r.as_ref()));
        Ok((of(Purpose::WechatNotices), of(Purpose::SmsNotices)))
    }
}
