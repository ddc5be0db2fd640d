//! Face-scan services (FACE-1…4). Enrolment (刷脸建档, FACE-1): a separate, versioned
//! consent per 就诊人; a live capture on the phone checked against the public-security
//! photo of the ID number and name; the face added to the hospital's face set under an
//! opaque engine user id. The platform keeps that id and the engine's face token (sealed),
//! never the picture. Withdrawing the consent withdraws the enrolment in the same
//! transaction and a job deletes the face from every engine group, retried until the
//! engine confirms. An enrolment whose engine answer was lost is settled by deleting.
pub mod consult;
pub mod triage;

use crate::job::{JobError, JobHandler, retry};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::Duration;
use domain::consent::{Purpose, channel};
use domain::face::{self, Enrolment, EnrolmentState, FaceChecks, FaceImage, FaceInput, FaceThresholds};
use domain::identity::{GUARDIAN_AGE, PatientSummary, Relationship, age_on};
use domain::ports::FaceEnginePort;
use domain::{DomainError, ErrorCode};
use serde_json::json;
use std::sync::Arc;
use store::outbox::NewJob;

/// Deletes an enrolment's face from every engine group it was added to.
pub const FACE_DELETE: &str = "face.delete";
/// Settles an enrolment still `enrolling` after the engine had time to answer.
pub const FACE_SETTLE: &str = "face.settle";
/// Empties the day groups of past days (nightly, 01:00).
pub const FACE_PURGE_DAY_GROUPS: &str = "face.purge_day_groups";

/// The engine's strictness and the hospital's choices [I: every one a setting].
#[derive(Clone, Debug)]
pub struct FaceSettings {
    /// Prefix of every engine group id (one engine may serve several hospitals).
    pub group_prefix: String,
    pub thresholds: FaceThresholds,
    /// Checks on every live capture (enrolment, scans).
    pub checks: FaceChecks,
    /// How long an enrolment may stay `enrolling` before it is settled by deleting.
    pub settle_after: Duration,
    /// The largest capture accepted from a phone or a device.
    pub max_image_bytes: usize,
    /// Open-interface key of each consulting room's workstation → its room (FACE-3).
    pub workstation_rooms: std::collections::BTreeMap<String, String>,
}

impl Default for FaceSettings {
    fn default() -> Self {
        Self {
            group_prefix: "cb".into(),
            thresholds: FaceThresholds::default(),
            checks: FaceChecks { quality: face::Control::Normal, liveness: face::Control::Low },
            settle_after: Duration::minutes(5),
            max_image_bytes: 1_500_000,
            workstation_rooms: Default::default(),
        }
    }
}

/// The face engine and its settings; no engine means the face services are off and every
/// page offers the other ways only.
#[derive(Default)]
pub struct FaceServices {
    pub engine: Option<Arc<dyn FaceEnginePort>>,
    pub settings: FaceSettings,
}

impl App {
    pub fn with_face(mut self, services: FaceServices) -> Self {
        self.face = Arc::new(services);
        self
    }

    /// Whether the hospital runs the face services at all.
    pub fn face_services_on(&self) -> bool {
        self.face.engine.is_some()
    }

    fn face_engine(&self) -> Result<Arc<dyn FaceEnginePort>, DomainError> {
        self.face.engine.clone().ok_or_else(|| DomainError::new(ErrorCode::FaceServicesOff, "no face engine configured"))
    }

    fn enrolment_group(&self) -> String {
        face::enrolment_group(&self.face.settings.group_prefix)
    }
}

/// One 就诊人 on the patient's face page.
#[derive(Clone, Debug)]
pub struct FacePatient {
    pub patient: PatientSummary,
    /// How the account's owner names them.
    pub label: String,
    pub enrolment: Option<Enrolment>,
    pub consent_in_force: bool,
}

/// The account's 就诊人 and where each one's face enrolment stands.
#[derive(Clone, Debug)]
pub struct FaceHome {
    pub services_on: bool,
    pub patients: Vec<FacePatient>,
}

/// Where a patient stands with enrolment, for the consent page.
#[derive(Clone, Debug)]
pub struct FaceConsentView {
    pub patient: FacePatient,
    pub text: &'static str,
    pub version: &'static str,
    pub version_label: String,
    /// Under 14: the account's owner consents as the guardian.
    pub by_guardian: bool,
}

/// A face enrolment of a live capture must be of a face the engine can use: a JPEG or
/// PNG of sensible size. Anything else is refused before it leaves the hospital.
pub(crate) fn capture_of(bytes: Vec<u8>, max: usize) -> Result<FaceImage, DomainError> {
    if bytes.len() > max {
        return Err(DomainError::new(ErrorCode::PayloadTooLarge, format!("face capture of {} bytes", bytes.len())));
    }
    let jpeg = bytes.starts_with(&[0xFF, 0xD8, 0xFF]);
    let png = bytes.starts_with(b"\x89PNG\r\n\x1a\n");
    if !jpeg && !png {
        return Err(DomainError::new(ErrorCode::UnsupportedMediaType, "a face capture is a JPEG or PNG"));
    }
    Ok(FaceImage::new(bytes))
}

impl App {
    async fn face_patient(&self, account_id: i64, patient: PatientSummary) -> Result<FacePatient, DomainError> {
        let enrolment = self.store.newest_face_enrolment(self.store.db(), account_id, patient.id).await?;
        let consent_in_force = self.consent_in_force(account_id, Some(patient.id), Purpose::FaceEnrolment).await?;
        Ok(FacePatient { label: patient.own_label(self.today()), patient, enrolment, consent_in_force })
    }

    /// The account's 就诊人 with their enrolments (the patient's face page).
    pub async fn face_home(&self, account_id: i64) -> Result<FaceHome, DomainError> {
        let mut patients = Vec::new();
        for p in self.store.list_patients(account_id).await? {
            patients.push(self.face_patient(account_id, p).await?);
        }
        Ok(FaceHome { services_on: self.face_services_on(), patients })
    }

    /// One 就诊人 of the account, checked able to be enrolled by this account: an
    /// under-14 only by the guardian (relation 子女), as the identity rules add them.
    async fn enrollable(&self, account_id: i64, patient_id: i64) -> Result<PatientSummary, DomainError> {
        let p = self.store.patient_summary(account_id, patient_id).await?;
        if age_on(p.birth_date, self.today()) < GUARDIAN_AGE && p.relationship != Relationship::Child {
            return Err(DomainError::new(ErrorCode::GuardianRequired, "a minor's face is enrolled by the guardian"));
        }
        Ok(p)
    }

    /// The consent page of one 就诊人.
    pub async fn face_consent_view(&self, account_id: i64, patient_id: i64) -> Result<FaceConsentView, DomainError> {
        let p = self.enrollable(account_id, patient_id).await?;
        let by_guardian = age_on(p.birth_date, self.today()) < GUARDIAN_AGE;
        let purpose = Purpose::FaceEnrolment;
        Ok(FaceConsentView {
            patient: self.face_patient(account_id, p).await?,
            text: purpose.text_zh(),
            version: purpose.text_version(),
            version_label: domain::consent::version_label_zh(purpose.text_version()),
            by_guardian,
        })
    }

    /// Records the separate consent of one 就诊人 to the face services (on the text in
    /// force). Refusing is simply not calling this: nothing else changes.
    pub async fn grant_face_consent(&self, account_id: i64, patient_id: i64, actor: &Actor) -> Result<(), DomainError> {
        self.face_engine()?;
        self.enrollable(account_id, patient_id).await?;
        let now = self.now();
        let purpose = Purpose::FaceEnrolment;
        let txn = self.store.write_txn().await?;
        if self.store.grant_consent(&txn, account_id, Some(patient_id), purpose, channel::FACE_PAGE, now).await? {
            let entry = actor.entry("consent.grant", format!("patient:{patient_id}"), &format!("{} {}", purpose.code(), purpose.text_version()));
            self.store.append_audit(&txn, &entry, now).await?;
        }
        txn.commit().await.map_err(store::db_err)
    }

    /// Enrols a 就诊人 from a live capture: consent in force, the identity check against
    /// the ID number and name, the face added to the hospital's face set. Audited.
    pub async fn enrol_face(&self, account_id: i64, patient_id: i64, capture: Vec<u8>, actor: &Actor) -> Result<Enrolment, DomainError> {
        let engine = self.face_engine()?;
        let p = self.enrollable(account_id, patient_id).await?;
        let purpose = Purpose::FaceEnrolment;
        if !self.consent_in_force(account_id, Some(p.id), purpose).await? {
            return Err(DomainError::new(ErrorCode::FaceConsentRequired, "no face consent in force"));
        }
        match self.store.newest_face_enrolment(self.store.db(), account_id, p.id).await?.map(|e| e.state) {
            Some(EnrolmentState::Active) => return Err(DomainError::new(ErrorCode::FaceAlreadyEnrolled, "already enrolled")),
            Some(EnrolmentState::Enrolling) => return Err(DomainError::new(ErrorCode::FaceEnrolmentPending, "an enrolment is under way")),
            _ => {}
        }
        let image = capture_of(capture, self.face.settings.max_image_bytes)?;
        let settings = &self.face.settings;

        // The identity check: the ID number and name go to the engine, opened for it and
        // audited as the disclosure they are.
        let who = self.store.patient_identity(account_id, p.id).await?;
        self.store.audit(&actor.entry("patient.identity_read", format!("patient:{}", p.id), "face enrolment identity check"), self.now()).await?;
        let score = match engine.verify_identity(&image, who.id_card_no.expose().as_ref(), who.name.expose().as_ref(), settings.checks).await {
            Ok(s) => s,
            Err(e) => return Err(self.refused(e, p.id, actor).await),
        };
        if score < settings.thresholds.identity_score {
            self.store.audit(&actor.entry("face.enrol_refused", format!("patient:{}", p.id), "identity check below the bar"), self.now()).await?;
            return Err(DomainError::new(ErrorCode::FaceIdentityMismatch, format!("identity score {score:.1}")));
        }

        // Started before the engine is asked, so a lost answer is found and settled.
        let now = self.now();
        let user_id = face::opaque_user_id(crypto::random_bytes::<10>());
        let txn = self.store.write_txn().await?;
        let started = self.store.insert_face_enrolment(&txn, account_id, p.id, &user_id, purpose.text_version(), now).await.map_err(|e| match e.code {
            ErrorCode::Conflict => DomainError::new(ErrorCode::FaceEnrolmentPending, "another enrolment of this patient won"),
            _ => e,
        })?;
        let settle =
            NewJob::new(FACE_SETTLE, json!({"enrolment_id": started.id}), now).at(now + settings.settle_after).dedupe(format!("{FACE_SETTLE}:{}", started.id));
        self.store.enqueue(&txn, settle, now).await?;
        txn.commit().await.map_err(store::db_err)?;

        let group = self.enrolment_group();
        let added = engine.add_face(&group, &user_id, FaceInput::Image(&image), settings.checks).await;
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let token = match added {
            Ok(t) => t,
            Err(e) => {
                // Refused or unanswered: never active; deleted in case the face arrived.
                self.end_enrolment(&txn, started.id, EnrolmentState::Failed, now).await?;
                txn.commit().await.map_err(store::db_err)?;
                return Err(self.refused(e, p.id, actor).await);
            }
        };
        // Consent withdrawn while the engine worked: the face goes again at once.
        if !in_force_on(self, &txn, account_id, p.id).await? {
            self.end_enrolment(&txn, started.id, EnrolmentState::Failed, now).await?;
            txn.commit().await.map_err(store::db_err)?;
            return Err(DomainError::new(ErrorCode::FaceConsentRequired, "consent withdrawn during enrolment"));
        }
        if !self.store.move_face_enrolment(&txn, started.id, &[EnrolmentState::Enrolling], EnrolmentState::Active, Some(&token), now).await? {
            // The settle job got there first (the engine was slower than the settle time).
            txn.commit().await.map_err(store::db_err)?;
            return Err(DomainError::new(ErrorCode::FaceEnrolmentPending, "enrolment settled while the engine answered"));
        }
        self.store.add_face_group_member(&txn, started.id, &group, now).await?;
        self.store.append_audit(&txn, &actor.entry("face.enrol", format!("patient:{}", p.id), &format!("face enrolment {}", started.id)), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        tracing::info!(patient_id = p.id, enrolment_id = started.id, "face enrolled");
        self.store.face_enrolment(self.store.db(), started.id).await
    }

    /// An engine refusal of a capture, audited with its code (never the picture). The
    /// refusal is what the patient must see, whatever becomes of the audit row.
    async fn refused(&self, e: DomainError, patient_id: i64, actor: &Actor) -> DomainError {
        let entry = actor.entry("face.enrol_refused", format!("patient:{patient_id}"), e.code.code());
        if let Err(err) = self.store.audit(&entry, self.now()).await {
            tracing::warn!(error = %err, "auditing a face refusal failed");
        }
        e
    }

    /// Ends an enrolment that may have a face in the engine (`Withdrawing` or `Failed`)
    /// and queues its deletion, in the caller's transaction.
    async fn end_enrolment<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        to: EnrolmentState,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<bool, DomainError> {
        let from: &[EnrolmentState] = match to {
            EnrolmentState::Withdrawing => &[EnrolmentState::Enrolling, EnrolmentState::Active],
            _ => &[EnrolmentState::Enrolling],
        };
        if !self.store.move_face_enrolment(conn, id, from, to, None, now).await? {
            return Ok(false);
        }
        let job = NewJob::new(FACE_DELETE, json!({"enrolment_id": id}), now).dedupe(format!("{FACE_DELETE}:{id}")).max_attempts(200);
        self.store.enqueue(conn, job, now).await?;
        Ok(true)
    }

    /// Stops the face services of a 就诊人 whose consent is being withdrawn, in the
    /// withdrawal's transaction (see [`App::withdraw_consent`]).
    pub(crate) async fn withdraw_face_enrolment<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        account_id: i64,
        patient_id: i64,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<(), DomainError> {
        if let Some(e) = self.store.newest_face_enrolment(conn, account_id, patient_id).await?
            && e.state.may_be_in_engine()
        {
            self.end_enrolment(conn, e.id, EnrolmentState::Withdrawing, now).await?;
        }
        Ok(())
    }

    /// The patient closes the face services of a 就诊人: the consent is withdrawn, and
    /// with it the enrolment (deleted from the engine by a job).
    pub async fn withdraw_face(&self, account_id: i64, patient_id: i64, actor: &Actor) -> Result<FacePatient, DomainError> {
        self.withdraw_consent(account_id, Purpose::FaceEnrolment, Some(patient_id), channel::FACE_PAGE, actor).await?;
        let p = self.store.patient_summary(account_id, patient_id).await?;
        self.face_patient(account_id, p).await
    }
}

async fn in_force_on<C: sea_orm::ConnectionTrait>(app: &App, conn: &C, account_id: i64, patient_id: i64) -> Result<bool, DomainError> {
    let newest = app.store.newest_consent(conn, account_id, Some(patient_id), Purpose::FaceEnrolment).await?;
    Ok(domain::consent::in_force(Purpose::FaceEnrolment, newest.as_ref()))
}

fn enrolment_id(payload: &serde_json::Value) -> Result<i64, JobError> {
    payload["enrolment_id"].as_i64().ok_or_else(|| JobError::Permanent("no enrolment_id".into()))
}

/// Deletes an ended enrolment's face from the enrolment group and every group it was
/// copied to; retried while the engine is away. Done when the engine says it is gone.
pub struct DeleteFace;

#[async_trait]
impl JobHandler for DeleteFace {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let id = enrolment_id(payload)?;
        let e = app.store.face_enrolment(app.store.db(), id).await.map_err(retry)?;
        if e.deleted_at.is_some() || e.state.may_be_in_engine() {
            return Ok(());
        }
        let engine = app.face.engine.clone().ok_or_else(|| JobError::Retry("no face engine configured".into()))?;
        let mut groups = app.store.face_groups_of(id).await.map_err(retry)?;
        let enrolled = app.enrolment_group();
        if !groups.contains(&enrolled) {
            groups.push(enrolled);
        }
        for g in &groups {
            engine.delete_user(g, &e.engine_user_id).await.map_err(retry)?;
            app.store.remove_face_group_member(app.store.db(), id, g).await.map_err(retry)?;
        }
        let now = app.now();
        let txn = app.store.write_txn().await.map_err(retry)?;
        app.store.move_face_enrolment(&txn, id, &[EnrolmentState::Withdrawing], EnrolmentState::Withdrawn, None, now).await.map_err(retry)?;
        app.store.mark_face_deleted(&txn, id, now).await.map_err(retry)?;
        let entry = Actor::system("face").entry("face.delete", format!("patient:{}", e.patient_id), &format!("face enrolment {id}: {} groups", groups.len()));
        app.store.append_audit(&txn, &entry, now).await.map_err(retry)?;
        txn.commit().await.map_err(|e| retry(store::db_err(e)))?;
        tracing::info!(enrolment_id = id, groups = groups.len(), "face deleted from the engine");
        Ok(())
    }
}

/// An enrolment still `enrolling` after the settle time lost its engine answer: it never
/// becomes active and its face is deleted in case it arrived.
pub struct SettleEnrolment;

#[async_trait]
impl JobHandler for SettleEnrolment {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let id = enrolment_id(payload)?;
        let now = app.now();
        let txn = app.store.write_txn().await.map_err(retry)?;
        if app.end_enrolment(&txn, id, EnrolmentState::Failed, now).await.map_err(retry)? {
            tracing::warn!(enrolment_id = id, "face enrolment without an engine answer settled by deleting");
        }
        txn.commit().await.map_err(|e| retry(store::db_err(e)))
    }
}

/// Deletes every face copied into a day group before today from the engine: a day group
/// serves its day only, and the next day's is filled afresh.
pub struct PurgeDayGroups;

#[async_trait]
impl JobHandler for PurgeDayGroups {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        let start_of_today = domain::clock::local_to_utc(app.today().and_hms_opt(0, 0, 0).expect("midnight"));
        let mut deleted = 0usize;
        if let Some(engine) = app.face.engine.clone() {
            loop {
                let stale = app.store.stale_face_group_members(start_of_today, &app.enrolment_group(), 200).await.map_err(retry)?;
                if stale.is_empty() {
                    break;
                }
                for (enrolment_id, group, user) in stale {
                    if !user.is_empty() {
                        engine.delete_user(&group, &user).await.map_err(retry)?;
                    }
                    app.store.remove_face_group_member(app.store.db(), enrolment_id, &group).await.map_err(retry)?;
                    deleted += 1;
                }
            }
        }
        if deleted > 0 {
            let entry = Actor::system("face").entry("face.purge_day_groups", "face_engine", &format!("{deleted} day-group copies deleted"));
            app.store.audit(&entry, app.now()).await.map_err(retry)?;
        }
        schedule_day_group_purge(app).await.map_err(retry)
    }
}

/// Schedules the next nightly purge of past day groups (once per night, whoever asks).
pub async fn schedule_day_group_purge(app: &App) -> Result<(), DomainError> {
    let next = crate::fairness::next_local(app.now(), 1);
    let job = NewJob::new(FACE_PURGE_DAY_GROUPS, json!({}), app.now()).at(next).dedupe(format!("{FACE_PURGE_DAY_GROUPS}:{}", next.timestamp()));
    app.store.enqueue(app.store.db(), job, app.now()).await.map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_pictures_of_sensible_size_leave_for_the_engine() {
        assert_eq!(capture_of(vec![0xFF, 0xD8, 0xFF, 0xE0, 1, 2], 100).unwrap().bytes().len(), 6);
        assert!(capture_of(b"\x89PNG\r\n\x1a\nrest".to_vec(), 100).is_ok());
        assert_eq!(capture_of(b"GIF89a".to_vec(), 100).unwrap_err().code, ErrorCode::UnsupportedMediaType);
        assert_eq!(capture_of(vec![], 100).unwrap_err().code, ErrorCode::UnsupportedMediaType);
        assert_eq!(capture_of(vec![0xFF; 101], 100).unwrap_err().code, ErrorCode::PayloadTooLarge);
    }
}
