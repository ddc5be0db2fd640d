//! The lab console's worklist (RPT-1): specimens to sample, reports to review and release,
//! specimens with problems — with each row's patient (masked) and, for review, what became
//! of the report's files. One query per kind of thing, whatever the list's length.
use crate::{Actor, App};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::reports::LabStatus;
use std::collections::HashMap;

/// Which part of the lab's work a list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LabView {
    /// Ordered or sampled: specimens in the lab's hands.
    Specimens,
    /// Reported: results waiting for the reviewing doctor, or released in the last day.
    Review,
    /// Rejected specimens and withdrawn reports.
    Abnormal,
}

impl LabView {
    pub fn parse(s: &str) -> Self {
        match s {
            "review" => Self::Review,
            "abnormal" => Self::Abnormal,
            _ => Self::Specimens,
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Specimens => "specimens",
            Self::Review => "review",
            Self::Abnormal => "abnormal",
        }
    }
    fn statuses(self) -> &'static [&'static str] {
        match self {
            Self::Review => &["reported"],
            Self::Abnormal => &["rejected", "withdrawn"],
            Self::Specimens => &["sampled", "ordered"],
        }
    }
}

/// A report file as the intake kept it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorklistFile {
    /// `lis` (the LIS's own) or `generated` (printed by the platform).
    pub source: String,
    /// `pdf` or `image`.
    pub kind: String,
    pub pages: i32,
    pub stored: bool,
    pub reject_reason: Option<String>,
}

#[derive(Clone, Debug)]
pub struct WorklistRow {
    pub order_no: String,
    pub item_name: String,
    pub patient_name_masked: String,
    pub his_patient_id: String,
    pub barcode: String,
    pub status: LabStatus,
    /// When the specimen was taken, else when the test was ordered.
    pub at: DateTime<Utc>,
    pub released: bool,
    pub awaiting_release: bool,
    /// The specimen's rejection: (reason, where and how to give a new one).
    pub rejection: Option<(String, String)>,
    /// The current report version's files (review view only).
    pub files: Vec<WorklistFile>,
    /// The current version's files are still being fetched and checked.
    pub files_pending: bool,
}

/// One push the LIS made to the open interface, and what became of it.
#[derive(Clone, Debug)]
pub struct LabEventRow {
    pub received_at: DateTime<Utc>,
    pub order_no: String,
    pub revision: i64,
    pub status: String,
    pub outcome: String,
}

pub struct LabWorklist {
    pub rows: Vec<WorklistRow>,
    pub recent_events: Vec<LabEventRow>,
}

/// How many orders a worklist shows.
const WORKLIST_LIMIT: u64 = 200;

impl App {
    /// What a patient is told when a specimen is rejected, unless the lab writes otherwise:
    /// where, and by when — today before the lab closes if it is still open, else tomorrow.
    pub fn default_resample_instruction(&self) -> String {
        let s = &self.reports.settings;
        let now = domain::clock::to_local(self.now()).naive_local();
        let by = domain::reports::resample_deadline_text(now, s.lab_closes);
        format!("请于{by}前到{}重新采集标本，无需再次缴费。", s.resample_place)
    }

    /// The lab console's list for `view`. It shows patients' tests (health data): each
    /// call is a sensitive read, audited (S10).
    pub async fn lab_worklist(&self, view: LabView, actor: &Actor) -> Result<LabWorklist, DomainError> {
        let statuses = view.statuses();
        let entry = actor.entry("lab.console.view", format!("lab_orders:{}", statuses.join("+")), "检验检查工作台");
        self.store.audit(&entry, self.now()).await?;
        let now = self.now();
        let records: Vec<_> = self
            .store
            .lab_orders_by_status(statuses, WORKLIST_LIMIT)
            .await?
            .into_iter()
            .filter(|r| {
                // A released report stays on the review list for a day, then leaves it.
                let released_long_ago = r.release.as_ref().is_some_and(|x| x.covers(&r.snapshot) && x.visible_at <= now - chrono::Duration::days(1));
                !(view == LabView::Review && released_long_ago)
            })
            .collect();
        let his_ids: Vec<String> = {
            let mut v: Vec<String> = records.iter().map(|r| r.snapshot.his_patient_id.clone()).collect();
            v.sort();
            v.dedup();
            v
        };
        let names = self.store.masked_names_by_his_ids(&his_ids).await?;
        let mut files_by_order: HashMap<i64, Vec<store::reports::ReportFile>> = HashMap::new();
        if view == LabView::Review {
            let ids: Vec<i64> = records.iter().filter(|r| r.snapshot.report.is_some()).map(|r| r.id).collect();
            for f in self.store.report_files_of_orders(&ids).await? {
                files_by_order.entry(f.order_id).or_default().push(f);
            }
        }
        let rows = records
            .into_iter()
            .map(|r| {
                let s = &r.snapshot;
                let released = r.release.as_ref().is_some_and(|x| x.covers(s));
                let (files, files_pending) = match (&s.report, view == LabView::Review) {
                    (Some(report), true) => (
                        files_by_order
                            .get(&r.id)
                            .into_iter()
                            .flatten()
                            .filter(|f| f.report_version == report.version as i32)
                            .map(|f| WorklistFile {
                                source: f.source.clone(),
                                kind: f.kind.clone(),
                                pages: f.pages,
                                stored: f.status == "stored",
                                reject_reason: f.reject_reason.clone(),
                            })
                            .collect(),
                        r.files_version != Some(report.version),
                    ),
                    _ => (vec![], false),
                };
                WorklistRow {
                    order_no: s.order_no.clone(),
                    item_name: s.item_name.clone(),
                    patient_name_masked: names.get(&s.his_patient_id).cloned().unwrap_or_default(),
                    his_patient_id: s.his_patient_id.clone(),
                    barcode: s.barcode.clone(),
                    status: s.status,
                    at: s.sampled_at.unwrap_or(s.ordered_at),
                    released,
                    awaiting_release: s.status == LabStatus::Reported && !released,
                    rejection: s.rejection.as_ref().map(|x| (x.reason.clone(), x.instruction.clone())),
                    files,
                    files_pending,
                }
            })
            .collect();
        let recent_events = self
            .store
            .recent_lab_events(20)
            .await?
            .into_iter()
            .map(|e| LabEventRow { received_at: e.received_at, order_no: e.order_no, revision: e.revision, status: e.status, outcome: e.outcome })
            .collect();
        Ok(LabWorklist { rows, recent_events })
    }
}

/// A reported result as the reviewing doctor checks it before releasing it (审核发布).
pub struct ReportForReview {
    pub order_no: String,
    pub item_name: String,
    pub patient_name_masked: String,
    pub report: domain::reports::ReportBody,
    /// What became of the report's files (the LIS's PDF or images, the platform's form).
    pub files: Vec<WorklistFile>,
    pub files_pending: bool,
    /// This version was released already.
    pub released: bool,
}

impl App {
    /// The current report of a reported order with its results and files, for review. It
    /// shows a patient's results: an audited read.
    pub async fn report_for_review(&self, order_no: &str, actor: &Actor) -> Result<ReportForReview, DomainError> {
        let rec = self.store.lab_order(self.store.db(), order_no).await?.ok_or(domain::ErrorCode::LabOrderUnknown)?;
        let s = &rec.snapshot;
        let report = match (&s.report, s.status) {
            (Some(r), LabStatus::Reported) => r.clone(),
            _ => return Err(domain::DomainError::new(domain::ErrorCode::OrderStateConflict, "no report to review")),
        };
        self.store.audit(&actor.entry("lab.report.review", format!("lab_order:{}", rec.id), "审核前查看结果"), self.now()).await?;
        let names = self.store.masked_names_by_his_ids(std::slice::from_ref(&s.his_patient_id)).await?;
        let files = self
            .store
            .report_files(rec.id, report.version)
            .await?
            .into_iter()
            .map(|f| WorklistFile { source: f.source, kind: f.kind, pages: f.pages, stored: f.status == "stored", reject_reason: f.reject_reason })
            .collect();
        Ok(ReportForReview {
            order_no: s.order_no.clone(),
            item_name: s.item_name.clone(),
            patient_name_masked: names.get(&s.his_patient_id).cloned().unwrap_or_default(),
            files,
            files_pending: rec.files_version != Some(report.version),
            released: rec.release.as_ref().is_some_and(|x| x.covers(s)),
            report,
        })
    }
}
