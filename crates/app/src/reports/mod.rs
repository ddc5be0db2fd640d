//! Reports (RPT-1/2): the LIS's orders kept current from pushed events and polls, the
//! lab's specimen rejections, the reviewing doctor's release, the report files in the
//! file store, and what a patient (or guardian) may see — every view audited.
use crate::job::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use domain::audit::AuditEntry;
use domain::ports::FileStorePort;
use domain::reports::{FileKind, LabSnapshot, LabStatus, Merge, PatientView, ReportPolicy, patient_view};
use domain::{DomainError, ErrorCode};
use serde_json::json;
use std::sync::Arc;
use store::reports::LabOrderRecord;

pub mod console;

pub const REPORTS_SYNC: &str = "reports.sync";
pub const REPORTS_INGEST: &str = "reports.ingest";
pub const REPORTS_PUBLISH: &str = "reports.publish";
pub const REPORTS_POLL: &str = "reports.poll";
/// Journey events (and message scenes).
pub const SPECIMEN_ABNORMAL: &str = "specimen.abnormal";
pub const REPORT_READY: &str = "report.ready";
pub const REPORT_WITHDRAWN: &str = "report.withdrawn";

/// Limits and layout for reports, from settings.
#[derive(Clone, Debug)]
pub struct ReportSettings {
    pub policy: ReportPolicy,
    /// Largest file accepted from the LIS/PACS.
    pub max_file_bytes: usize,
    /// Largest image accepted (pixels), checked before decoding.
    pub max_image_pixels: u64,
    pub max_pdf_pages: usize,
    /// Width of the page images the phone shows.
    pub page_width_px: u16,
    pub poll_every_minutes: i64,
    /// When the lab stops taking samples (local).
    pub lab_closes: chrono::NaiveTime,
    /// Where a patient gives a new sample.
    pub resample_place: String,
    pub hospital_name: String,
    /// Signs the verification codes printed under the QR.
    pub verify_key: Vec<u8>,
}

impl Default for ReportSettings {
    fn default() -> Self {
        Self {
            policy: ReportPolicy::default(),
            max_file_bytes: 20 << 20,
            max_image_pixels: 25_000_000,
            max_pdf_pages: 30,
            page_width_px: 1080,
            poll_every_minutes: 5,
            lab_closes: chrono::NaiveTime::from_hms_opt(16, 30, 0).expect("time"),
            resample_place: "门诊楼1层检验科B区3号窗口".into(),
            hospital_name: "深圳市示范人民医院".into(),
            verify_key: b"carebridge-report-verification".to_vec(),
        }
    }
}

/// The reports part of the app: settings and the file store.
#[derive(Clone)]
pub struct Reports {
    pub settings: ReportSettings,
    pub files: Arc<dyn FileStorePort>,
}

impl Default for Reports {
    /// Until a file store is wired (`App::with_reports`), report files cannot be kept.
    fn default() -> Self {
        Self { settings: ReportSettings::default(), files: Arc::new(NoFileStore) }
    }
}

/// The file store of an app that was given none: every call says it is unavailable.
struct NoFileStore;

#[async_trait]
impl FileStorePort for NoFileStore {
    fn backend(&self) -> &'static str {
        "none"
    }
    async fn put(&self, _key: &str, _bytes: Vec<u8>) -> Result<(), DomainError> {
        Err(DomainError::new(ErrorCode::FileStoreUnavailable, "no file store configured"))
    }
    async fn get(&self, _key: &str) -> Result<Option<Vec<u8>>, DomainError> {
        Err(DomainError::new(ErrorCode::FileStoreUnavailable, "no file store configured"))
    }
    async fn delete(&self, _key: &str) -> Result<(), DomainError> {
        Err(DomainError::new(ErrorCode::FileStoreUnavailable, "no file store configured"))
    }
}

/// One order as a patient's list shows it.
#[derive(Clone, Debug)]
pub struct ReportItem {
    pub snapshot: LabSnapshot,
    pub view: PatientView,
    pub patient_name_masked: String,
}

/// One report, opened.
#[derive(Clone, Debug)]
pub struct ReportDetail {
    pub item: ReportItem,
    /// Stored files of the current version (only once the report is visible).
    pub files: Vec<ReportFileView>,
}

/// A stored report file as the report page lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReportFileView {
    pub file_no: String,
    /// `pdf` or `image`.
    pub kind: String,
    /// A safe display name.
    pub name: String,
    pub pages: i32,
    /// Printed by the platform (`generated`) rather than the LIS's own.
    pub generated: bool,
}

/// The public verification page's answer.
#[derive(Clone, Debug)]
pub struct Verification {
    pub hospital: String,
    pub report_no: String,
    pub item_name: String,
    pub patient_name_masked: String,
    pub reported_at: DateTime<Utc>,
    pub reviewer: String,
    /// The report stands (not withdrawn).
    pub valid: bool,
}

fn bad(why: &str) -> DomainError {
    DomainError::new(ErrorCode::ValidationFailed, why.to_owned())
}

fn retry(e: DomainError) -> JobError {
    JobError::Retry(e.to_string())
}

/// Where a file lives in the store: random, dated, never derived from patient data.
/// Where a report file is kept: named after its dedupe key, so a retry after a crash
/// between storing the file and recording it writes the same object again instead of
/// leaving an unreferenced one behind (G4).
fn storage_key(now: DateTime<Utc>, dedupe: &str, ext: &str) -> String {
    format!("reports/{}/{}.{ext}", now.format("%Y/%m"), &hex::encode(crypto::mac::sha256(dedupe.as_bytes()))[..32])
}

impl App {
    pub(crate) fn report_settings(&self) -> &ReportSettings {
        &self.reports.settings
    }

    /// The verification code printed under a report's QR: the report number and a
    /// keyed tag, so codes cannot be guessed from report numbers.
    pub fn report_verify_code(&self, report_no: &str) -> String {
        crypto::mac::keyed_code(&self.report_settings().verify_key, report_no)
    }

    /// Applies a snapshot from the LIS (a poll or a query after an event) and what
    /// the change makes necessary, in one transaction.
    pub async fn apply_lab_snapshot(&self, snap: &LabSnapshot) -> Result<Merge, DomainError> {
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let (merge, prev) = self.store.apply_lab_snapshot(&txn, snap, now).await?;
        if merge == Merge::Applied {
            self.after_lab_change(&txn, prev.as_ref(), snap, now).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        Ok(merge)
    }

    async fn event_patient(&self, his_patient_id: &str) -> Result<Option<store::identity::PatientSummary>, DomainError> {
        match self.store.patient_ids_by_his_id(his_patient_id).await?.first() {
            Some(id) => self.store.patient_by_id(*id).await,
            None => Ok(None),
        }
    }

    async fn after_lab_change<C: sea_orm::ConnectionTrait>(
        &self,
        txn: &C,
        prev: Option<&LabOrderRecord>,
        snap: &LabSnapshot,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let prev_status = prev.map(|p| p.snapshot.status);
        if let (LabStatus::Reported, Some(report)) = (snap.status, &snap.report) {
            let prev_version = prev.and_then(|p| p.snapshot.report.as_ref()).map(|r| r.version);
            if prev_status != Some(LabStatus::Reported) || prev_version != Some(report.version) {
                let job = store::outbox::NewJob::new(REPORTS_INGEST, json!({"order_no": snap.order_no, "version": report.version}), now)
                    .dedupe(format!("{REPORTS_INGEST}:{}:{}", snap.order_no, report.version));
                self.store.enqueue(txn, job, now).await?;
            }
        }
        let newly_rejected = snap.status == LabStatus::Rejected && prev_status != Some(LabStatus::Rejected);
        // A withdrawal matters to the patient only if they may have seen the report.
        let withdrawn_after_release = snap.status == LabStatus::Withdrawn && prev.is_some_and(|p| p.release.as_ref().is_some_and(|r| r.covers(&p.snapshot)));
        if !newly_rejected && !withdrawn_after_release {
            // Most polls change nothing a patient is told about: no patient lookup for them.
            return Ok(());
        }
        let Some(p) = self.event_patient(&snap.his_patient_id).await? else { return Ok(()) };
        if let (true, Some(r)) = (newly_rejected, &snap.rejection) {
            let payload = json!({
                "patient_id": p.id, "patient_name_masked": p.name_masked, "order_no": snap.order_no, "item_name": snap.item_name,
                "reason": r.reason, "instruction": r.instruction, "place": snap.place, "dept_name": "检验科",
            });
            self.store
                .record_event(txn, SPECIMEN_ABNORMAL, &format!("{SPECIMEN_ABNORMAL}:{}:{}", snap.order_no, snap.revision), Some(p.id), &payload, now)
                .await?;
        }
        if let (true, Some(report)) = (withdrawn_after_release, &snap.report) {
            let payload = json!({"patient_id": p.id, "patient_name_masked": p.name_masked, "order_no": snap.order_no, "report_name": snap.item_name, "report_id": report.report_no});
            self.store
                .record_event(txn, REPORT_WITHDRAWN, &format!("{REPORT_WITHDRAWN}:{}:{}", snap.order_no, report.version), Some(p.id), &payload, now)
                .await?;
        }
        Ok(())
    }

    /// Asks the LIS for one order now and applies the answer.
    pub async fn sync_lab_order(&self, order_no: &str) -> Result<Option<Merge>, DomainError> {
        match self.his.lab_order(order_no).await? {
            Some(snap) => self.apply_lab_snapshot(&snap).await.map(Some),
            None => Ok(None),
        }
    }

    /// Asks the LIS for all of a patient's orders and applies them.
    pub async fn sync_lab_patient(&self, his_patient_id: &str) -> Result<usize, DomainError> {
        let mut applied = 0;
        for snap in self.his.lab_orders(his_patient_id).await? {
            if snap.his_patient_id != his_patient_id {
                return Err(DomainError::new(ErrorCode::HisUnavailable, "lis: an order of another patient in the answer"));
            }
            applied += usize::from(self.apply_lab_snapshot(&snap).await? == Merge::Applied);
        }
        Ok(applied)
    }

    /// An event the LIS pushed: only a hint. Newer than what we hold: a sync job asks
    /// the LIS for the order (so a lost or reordered event cannot leave a wrong
    /// state); not newer: nothing to do; unknown to us: the LIS is asked at once, and
    /// an order it does not know either is refused.
    pub async fn accept_lab_event(&self, client_key: &str, order_no: &str, revision: u64, status: &str) -> Result<&'static str, DomainError> {
        if order_no.is_empty() || order_no.len() > 64 || !order_no.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(bad("orderNo"));
        }
        if revision == 0 || revision > i64::MAX as u64 {
            return Err(bad("revision"));
        }
        if LabStatus::parse(status).is_none() {
            return Err(bad("status"));
        }
        let now = self.now();
        let current = self.store.lab_order(self.store.db(), order_no).await?;
        let outcome = match &current {
            Some(c) if c.snapshot.revision >= revision => "stale",
            Some(_) => "queued",
            None => match self.his.lab_order(order_no).await {
                Ok(Some(snap)) => {
                    self.apply_lab_snapshot(&snap).await?;
                    "applied"
                }
                Ok(None) => "unknown_order",
                // The LIS cannot answer now: the sync job asks again later.
                Err(_) => "queued",
            },
        };
        let txn = self.store.write_txn().await?;
        let event_id = self.store.record_lab_event(&txn, order_no, revision, status, client_key, outcome, now).await?;
        if outcome == "queued" {
            // One sync per event: a repeat costs one more (harmless) query, and an
            // event that claimed a revision the LIS did not have yet cannot block the
            // real one later.
            let job = store::outbox::NewJob::new(REPORTS_SYNC, json!({"order_no": order_no}), now).dedupe(format!("{REPORTS_SYNC}:event:{event_id}"));
            self.store.enqueue(&txn, job, now).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        if outcome == "unknown_order" {
            return Err(DomainError::new(ErrorCode::LabOrderUnknown, format!("lab event for unknown order {order_no}")));
        }
        Ok(outcome)
    }

    /// Polls the LIS for every patient whose orders can still change.
    pub async fn poll_lab_orders(&self) -> Result<usize, DomainError> {
        let mut applied = 0;
        for his_id in self.store.lab_patients_to_poll(self.now() - Duration::days(3)).await? {
            match self.sync_lab_patient(&his_id).await {
                Ok(n) => applied += n,
                Err(e) => tracing::warn!(error = %e, "lab poll failed for one patient"),
            }
        }
        Ok(applied)
    }

    /// The lab marks a sampled specimen unusable (RPT-1 异常): recorded in the LIS
    /// first, then here — which tells the patient at once.
    pub async fn reject_specimen(
        &self,
        order_no: &str,
        reason: &str,
        instruction: &str,
        actor: &Actor,
        staff_username: &str,
    ) -> Result<LabSnapshot, DomainError> {
        let (reason, instruction) = (reason.trim(), instruction.trim());
        if reason.is_empty() || reason.chars().count() > 60 || instruction.chars().count() > 200 {
            return Err(bad("reason/instruction"));
        }
        let rec = self.store.lab_order(self.store.db(), order_no).await?.ok_or_else(|| DomainError::new(ErrorCode::LabOrderUnknown, order_no.to_owned()))?;
        match rec.snapshot.status {
            LabStatus::Rejected => return Err(DomainError::new(ErrorCode::SpecimenAlreadyRejected, order_no.to_owned())),
            LabStatus::Sampled => {}
            _ => return Err(DomainError::new(ErrorCode::SpecimenNotRejectable, order_no.to_owned())),
        }
        let snap = self.his.reject_specimen(order_no, reason, instruction, staff_username).await?;
        if snap.status != LabStatus::Rejected || snap.order_no != order_no {
            return Err(DomainError::new(ErrorCode::SpecimenNotRejectable, format!("lis answered {}", snap.status.as_str())));
        }
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let (merge, prev) = self.store.apply_lab_snapshot(&txn, &snap, now).await?;
        if merge == Merge::Applied {
            self.after_lab_change(&txn, prev.as_ref(), &snap, now).await?;
        }
        let entry = AuditEntry::new(&actor.id, "specimen.reject", format!("lab_order:{}", rec.id), "标本不合格，通知患者重新采样")
            .with_correlation(&actor.correlation_id);
        self.store.append_audit(&txn, &entry, now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(snap)
    }

    /// The reviewing doctor releases the report the LIS holds now. With a category
    /// delay, the patient sees it (and is told) when the delay has passed.
    pub async fn release_report(&self, order_no: &str, actor: &Actor, staff_username: &str) -> Result<domain::reports::Release, DomainError> {
        let rec = self.store.lab_order(self.store.db(), order_no).await?.ok_or_else(|| DomainError::new(ErrorCode::LabOrderUnknown, order_no.to_owned()))?;
        let not_now = |why: &str| DomainError::new(ErrorCode::ReportNotReleasable, format!("{order_no}: {why}"));
        let report = match (&rec.snapshot.status, &rec.snapshot.report) {
            (LabStatus::Reported, Some(r)) => r.clone(),
            _ => return Err(not_now("not reported")),
        };
        if rec.release.as_ref().is_some_and(|r| r.covers(&rec.snapshot)) {
            return Err(not_now("already released"));
        }
        let now = self.now();
        let visible_at = now + self.report_settings().policy.release_delay(&rec.snapshot.category);
        let txn = self.store.write_txn().await?;
        if !self.store.release_report(&txn, rec.id, report.version, staff_username, now, visible_at).await? {
            return Err(not_now("changed meanwhile"));
        }
        let entry = AuditEntry::new(&actor.id, "report.release", format!("lab_order:{}", rec.id), format!("审核发布第{}版报告", report.version))
            .with_correlation(&actor.correlation_id);
        self.store.append_audit(&txn, &entry, now).await?;
        if visible_at <= now {
            self.announce_report(&txn, &rec, report.version, now).await?;
        } else {
            let job = store::outbox::NewJob::new(REPORTS_PUBLISH, json!({"order_no": order_no, "version": report.version}), now)
                .at(visible_at)
                .dedupe(format!("{REPORTS_PUBLISH}:{order_no}:{}", report.version));
            self.store.enqueue(&txn, job, now).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        Ok(domain::reports::Release { report_no: report.report_no, version: report.version, released_by: staff_username.into(), released_at: now, visible_at })
    }

    /// report.ready, once per report version.
    async fn announce_report<C: sea_orm::ConnectionTrait>(&self, txn: &C, rec: &LabOrderRecord, version: u32, now: DateTime<Utc>) -> Result<(), DomainError> {
        if !self.store.mark_report_announced(txn, rec.id, version).await? {
            return Ok(());
        }
        let snap = &rec.snapshot;
        let Some(p) = self.event_patient(&snap.his_patient_id).await? else { return Ok(()) };
        let reported_at = snap.report.as_ref().map(|r| domain::clock::to_local(r.reported_at).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
        let payload = json!({
            "patient_id": p.id, "patient_name_masked": p.name_masked, "order_no": snap.order_no,
            "report_id": snap.report.as_ref().map(|r| r.report_no.clone()).unwrap_or_default(),
            "report_name": snap.item_name, "reported_at": reported_at, "dept_name": snap.dept_name,
        });
        self.store.record_event(txn, REPORT_READY, &format!("{REPORT_READY}:{}:{version}", snap.order_no), Some(p.id), &payload, now).await?;
        Ok(())
    }

    /// A delayed release comes due.
    pub async fn publish_report(&self, order_no: &str, version: u32) -> Result<bool, DomainError> {
        let Some(rec) = self.store.lab_order(self.store.db(), order_no).await? else { return Ok(false) };
        let due = rec.release.as_ref().is_some_and(|r| r.version == version && r.covers(&rec.snapshot) && r.visible_at <= self.now());
        if !due {
            return Ok(false);
        }
        let txn = self.store.write_txn().await?;
        self.announce_report(&txn, &rec, version, self.now()).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(true)
    }

    /// Fetches, checks and stores a report version's files; renders the PDF when the
    /// LIS has none (or only a bad one).
    pub async fn ingest_report_files(&self, order_no: &str, version: u32) -> Result<(), DomainError> {
        let Some(rec) = self.store.lab_order(self.store.db(), order_no).await? else { return Ok(()) };
        let Some(report) = rec.snapshot.report.clone().filter(|r| r.version == version) else { return Ok(()) };
        let existing = self.store.report_files(rec.id, version).await?;
        let s = self.report_settings().clone();
        for f in &report.files {
            let dedupe = format!("{order_no}:{version}:{}", f.file_id);
            if existing.iter().any(|e| e.dedupe_key == dedupe) {
                continue;
            }
            let fetched = match self.his.report_file(&f.file_id, s.max_file_bytes).await {
                Ok(b) => Ok(b),
                Err(e) if e.code == ErrorCode::ReportFileInvalid => Err(format!("文件过大或不存在：{}", e.detail)),
                Err(e) => return Err(e),
            };
            let checked = fetched.and_then(|bytes| {
                let (max_pages, width, max_pixels) = (s.max_pdf_pages, s.page_width_px, s.max_image_pixels);
                match f.kind {
                    // The LIS is an outside system: its PDF passes the same checks as an
                    // upload (no scripts, actions, embedded files or trailing data).
                    FileKind::Pdf => {
                        let limits = uploads::Limits { max_bytes: s.max_file_bytes, max_pixels, allowed: &[uploads::Kind::Pdf] };
                        uploads::clean(&bytes, &limits)
                            .map_err(|e| format!("PDF 不合格：{e}"))
                            .and_then(|c| render::rasterize(&c.bytes, width, max_pages).map(|pages| (c.bytes, pages)).map_err(|e| format!("PDF 不合格：{e}")))
                    }
                    FileKind::Jpeg => {
                        let limits = uploads::Limits { max_bytes: s.max_file_bytes, max_pixels, allowed: &[uploads::Kind::Jpeg] };
                        uploads::clean(&bytes, &limits).map(|c| (c.bytes, vec![])).map_err(|e| format!("图片不合格：{e}"))
                    }
                }
            });
            self.keep_file(&rec, version, &dedupe, "lis", f.kind, &f.name, checked).await?;
        }
        let files = self.store.report_files(rec.id, version).await?;
        let has_pdf = files.iter().any(|f| f.kind == "pdf" && f.status == "stored");
        if !has_pdf {
            let dedupe = format!("{order_no}:{version}:generated");
            if !files.iter().any(|f| f.dedupe_key == dedupe) {
                let doc = self.report_doc(&rec.snapshot).await?;
                let (width, max_pages) = (s.page_width_px, s.max_pdf_pages);
                let rendered = tokio::task::spawn_blocking(move || {
                    let pdf = render::render_report_pdf(&doc).map_err(|e| e.to_string())?;
                    let pages = render::rasterize(&pdf, width, max_pages).map_err(|e| e.to_string())?;
                    Ok::<_, String>((pdf, pages))
                })
                .await
                .map_err(|e| DomainError::new(ErrorCode::Internal, format!("render task: {e}")))?
                .map_err(|e| DomainError::new(ErrorCode::Internal, format!("render report: {e}")))?;
                self.keep_file(&rec, version, &dedupe, "generated", FileKind::Pdf, &format!("{}报告.pdf", rec.snapshot.item_name), Ok(rendered)).await?;
            }
        }
        let txn = self.store.write_txn().await?;
        self.store.mark_files_ingested(&txn, rec.id, version).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn keep_file(
        &self,
        rec: &LabOrderRecord,
        version: u32,
        dedupe: &str,
        source: &str,
        kind: FileKind,
        name: &str,
        checked: Result<(Vec<u8>, Vec<Vec<u8>>), String>,
    ) -> Result<(), DomainError> {
        use sea_orm::Set;
        let now = self.now();
        let key = storage_key(now, dedupe, kind.extension());
        let mut row = store::entity::report_file::ActiveModel {
            file_no: Set(hex::encode(crypto::random_bytes::<12>())),
            order_id: Set(rec.id),
            report_version: Set(version as i32),
            dedupe_key: Set(dedupe.to_owned()),
            source: Set(source.to_owned()),
            kind: Set(kind.as_str().to_owned()),
            name: Set(name.chars().take(80).collect()),
            storage_key: Set(key.clone()),
            size: Set(0),
            sha256: Set(String::new()),
            pages: Set(0),
            status: Set("rejected".into()),
            reject_reason: Set(None),
            created_at: Set(store::micros(now)),
            ..Default::default()
        };
        match checked {
            Ok((bytes, pages)) => {
                for (i, png) in pages.iter().enumerate() {
                    let page_key = format!("{key}.p{}.png", i + 1);
                    self.reports.files.put(&page_key, self.store.seal_file(&page_key, png)).await?;
                }
                row.size = Set(bytes.len() as i64);
                row.sha256 = Set(hex::encode(crypto::mac::sha256(&bytes)));
                row.pages = Set(pages.len() as i32);
                self.reports.files.put(&key, self.store.seal_file(&key, &bytes)).await?;
                crate::crash::point(crate::crash::MID_REPORT_INGEST);
                row.status = Set("stored".into());
            }
            Err(why) => {
                tracing::warn!(order = %rec.snapshot.order_no, reason = %why, "report file refused");
                row.reject_reason = Set(Some(why));
            }
        }
        self.store.record_report_file(row).await?;
        Ok(())
    }

    /// The data of the hospital's report form.
    async fn report_doc(&self, snap: &LabSnapshot) -> Result<render::ReportDoc, DomainError> {
        let report = snap.report.as_ref().ok_or_else(|| DomainError::new(ErrorCode::Internal, "no report to render"))?;
        let person = self.his.patient(&snap.his_patient_id).await?;
        let t = |x: Option<DateTime<Utc>>| x.map(|x| domain::clock::to_local(x).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
        let today = self.today();
        let (name, sex, age) = match &person {
            Some(p) => (
                p.name.clone(),
                if p.gender == domain::identity::Gender::Male { "男" } else { "女" }.to_owned(),
                format!("{}岁", domain::identity::age_on(p.birth_date, today)),
            ),
            None => (String::new(), String::new(), String::new()),
        };
        let code = self.report_verify_code(&report.report_no);
        let exam = snap.kind == domain::reports::OrderKind::Exam;
        Ok(render::ReportDoc {
            hospital: self.report_settings().hospital_name.clone(),
            title: snap.kind.report_title().into(),
            report_no: report.report_no.clone(),
            item_name: snap.item_name.clone(),
            patient_name: name,
            sex,
            age,
            patient_id: snap.his_patient_id.clone(),
            dept: snap.dept_name.clone(),
            doctor: snap.doctor_name.clone(),
            specimen: if snap.specimen.is_empty() { "—".into() } else { snap.specimen.clone() },
            sampled_at: t(snap.sampled_at),
            received_at: t(snap.sampled_at),
            reported_at: t(Some(report.reported_at)),
            items: report
                .items
                .iter()
                .map(|i| render::ResultLine {
                    code: i.code.clone(),
                    name: i.name.clone(),
                    value: i.value.clone(),
                    unit: i.unit.clone(),
                    range: i.range.clone(),
                    flag: i.arrow().into(),
                })
                .collect(),
            findings: report.findings.clone(),
            conclusion_label: if exam { "诊断意见" } else { "检验结论" }.into(),
            conclusion: report.conclusion.clone(),
            tester: report.tester.clone(),
            reviewer: report.reviewer.clone(),
            reviewed_at: t(Some(report.reported_at)),
            note: "本报告仅对所检标本负责；电子报告与纸质报告具有同等效力，扫描二维码可核验真伪。".into(),
            footer: format!("{} · 智慧服务平台电子报告", self.report_settings().hospital_name),
            verify_url: format!("{}/verify/report/{code}", self.messaging.policy.public_base_url.trim_end_matches('/')),
            labels: render::FormLabels::default(),
            verify_code: code,
        })
    }

    /// The his ids of an account's 就诊人 (self, children, parents …).
    async fn account_his_ids(&self, account_id: i64) -> Result<Vec<(String, String)>, DomainError> {
        Ok(self.store.list_patients(account_id).await?.into_iter().map(|p| (p.his_patient_id, p.name_masked)).collect())
    }

    fn item(&self, rec: &LabOrderRecord, name_masked: &str) -> ReportItem {
        let view = patient_view(&rec.snapshot, rec.release.as_ref(), &self.report_settings().policy, self.now());
        ReportItem { snapshot: rec.snapshot.clone(), view, patient_name_masked: name_masked.to_owned() }
    }

    /// An account's reports, newest first. With `refresh`, each 就诊人's orders are
    /// asked of the LIS first (bounded; on failure the held states are shown).
    pub async fn patient_reports(&self, account_id: i64, refresh: bool) -> Result<Vec<ReportItem>, DomainError> {
        let people = self.account_his_ids(account_id).await?;
        if refresh {
            for (his, _) in &people {
                match tokio::time::timeout(std::time::Duration::from_secs(3), self.sync_lab_patient(his)).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(e)) => tracing::warn!(error = %e, "lab refresh failed; showing held states"),
                    Err(_) => tracing::warn!("lab refresh timed out; showing held states"),
                }
            }
        }
        let ids: Vec<String> = people.iter().map(|p| p.0.clone()).collect();
        let records = self.store.lab_orders_of(&ids).await?;
        Ok(records.iter().map(|r| self.item(r, people.iter().find(|p| p.0 == r.snapshot.his_patient_id).map(|p| p.1.as_str()).unwrap_or(""))).collect())
    }

    /// The order, if one of the account's 就诊人 is its patient (S3); else not found.
    async fn owned_order(&self, account_id: i64, order_no: &str) -> Result<(LabOrderRecord, String), DomainError> {
        let people = self.account_his_ids(account_id).await?;
        let rec = self.store.lab_order(self.store.db(), order_no).await?.ok_or_else(|| DomainError::new(ErrorCode::ReportNotFound, order_no.to_owned()))?;
        let owner = people
            .into_iter()
            .find(|p| p.0 == rec.snapshot.his_patient_id)
            .ok_or_else(|| DomainError::new(ErrorCode::ReportNotFound, format!("{order_no} is not this account's")))?;
        Ok((rec, owner.1))
    }

    /// One report, opened by its patient or guardian. Results are health data: a
    /// view of a visible report is audited (S10).
    pub async fn patient_report(&self, account_id: i64, order_no: &str, actor: &Actor) -> Result<ReportDetail, DomainError> {
        let (rec, name) = self.owned_order(account_id, order_no).await?;
        let item = self.item(&rec, &name);
        let files = if item.view.report_visible {
            let version = rec.snapshot.report.as_ref().map(|r| r.version).unwrap_or(0);
            let entry = AuditEntry::new(&actor.id, "report.view", format!("lab_order:{}", rec.id), "患者查看报告").with_correlation(&actor.correlation_id);
            self.store.audit(&entry, self.now()).await?;
            (self.store.report_files(rec.id, version).await?.into_iter().filter(|f| f.status == "stored"))
                .map(|f| ReportFileView { file_no: f.file_no, kind: f.kind, name: f.name, pages: f.pages, generated: f.source == "generated" })
                .collect()
        } else {
            vec![]
        };
        Ok(ReportDetail { item, files })
    }

    /// A report file (whole, or one page image), for its patient or guardian, while
    /// the report is visible. Audited (S10).
    pub async fn patient_report_file(
        &self,
        account_id: i64,
        order_no: &str,
        file_no: &str,
        page: Option<u32>,
        actor: &Actor,
    ) -> Result<(Vec<u8>, &'static str, String), DomainError> {
        let (rec, _) = self.owned_order(account_id, order_no).await?;
        let item = self.item(&rec, "");
        let not_found = || DomainError::new(ErrorCode::ReportNotFound, format!("{order_no}/{file_no}"));
        if !item.view.report_visible {
            return Err(not_found());
        }
        let version = rec.snapshot.report.as_ref().map(|r| r.version).unwrap_or(0);
        let f = self
            .store
            .report_file_by_no(file_no)
            .await?
            .filter(|f| f.order_id == rec.id && f.report_version == version as i32 && f.status == "stored")
            .ok_or_else(not_found)?;
        let kind = FileKind::parse(&f.kind).ok_or_else(not_found)?;
        let (key, content_type, action) = match page {
            Some(n) if n >= 1 && n as i32 <= f.pages => (format!("{}.p{n}.png", f.storage_key), "image/png", "report.page_view"),
            Some(_) => return Err(not_found()),
            None => (f.storage_key.clone(), kind.content_type(), "report.download"),
        };
        let sealed = self.reports.files.get(&key).await?.ok_or_else(|| DomainError::new(ErrorCode::FileStoreUnavailable, format!("missing object {key}")))?;
        let bytes = self.store.open_file(&key, &sealed)?;
        let entry = AuditEntry::new(&actor.id, action, format!("report_file:{}", f.id), "患者查看/保存报告").with_correlation(&actor.correlation_id);
        self.store.audit(&entry, self.now()).await?;
        let filename = match page {
            Some(n) => format!("{}-{n}.png", rec.snapshot.item_name),
            None => format!("{}-{}.{}", rec.snapshot.item_name, rec.snapshot.report.as_ref().map(|r| r.report_no.as_str()).unwrap_or(""), kind.extension()),
        };
        Ok((bytes, content_type, filename))
    }

    /// What the QR on a report proves: that the hospital issued it and whether it
    /// still stands. Shows nothing a stranger could use (masked name only).
    pub async fn verify_report(&self, code: &str) -> Result<Option<Verification>, DomainError> {
        let Some((report_no, _)) = code.rsplit_once('-') else { return Ok(None) };
        if !crypto::constant_time_eq(self.report_verify_code(report_no).as_bytes(), code.as_bytes()) {
            return Ok(None);
        }
        let Some(rec) = self.store.lab_order_by_report_no(report_no).await? else { return Ok(None) };
        let Some(report) = rec.snapshot.report.clone() else { return Ok(None) };
        let name = self.event_patient(&rec.snapshot.his_patient_id).await?.map(|p| p.name_masked).unwrap_or_default();
        Ok(Some(Verification {
            hospital: self.report_settings().hospital_name.clone(),
            report_no: report.report_no,
            item_name: rec.snapshot.item_name.clone(),
            patient_name_masked: name,
            reported_at: report.reported_at,
            reviewer: report.reviewer,
            valid: rec.snapshot.status == LabStatus::Reported,
        }))
    }
}

fn order_no_of(payload: &serde_json::Value) -> Result<String, JobError> {
    payload.get("order_no").and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| JobError::Permanent("payload without order_no".into()))
}

fn version_of(payload: &serde_json::Value) -> Result<u32, JobError> {
    payload.get("version").and_then(|v| v.as_u64()).map(|v| v as u32).ok_or_else(|| JobError::Permanent("payload without version".into()))
}

/// Asks the LIS for an order an event announced.
pub struct SyncLabOrder;

#[async_trait]
impl JobHandler for SyncLabOrder {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        app.sync_lab_order(&order_no_of(payload)?).await.map(|_| ()).map_err(retry)
    }
}

pub struct IngestReportFiles;

#[async_trait]
impl JobHandler for IngestReportFiles {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        app.ingest_report_files(&order_no_of(payload)?, version_of(payload)?).await.map_err(retry)
    }
}

pub struct PublishReport;

#[async_trait]
impl JobHandler for PublishReport {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        app.publish_report(&order_no_of(payload)?, version_of(payload)?).await.map(|_| ()).map_err(retry)
    }
}

pub async fn schedule_poll(app: &App) -> Result<(), DomainError> {
    crate::job::schedule_next(app, REPORTS_POLL, Duration::minutes(app.reports.settings.poll_every_minutes.max(1))).await
}

/// Polls, then schedules the next poll.
pub struct PollLabOrders;

#[async_trait]
impl JobHandler for PollLabOrders {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        app.poll_lab_orders().await.map_err(retry)?;
        schedule_poll(app).await.map_err(retry)
    }
}
