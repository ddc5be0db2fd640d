//! Medical-record copies (病历复印, REC-1…REC-5), the patient's side: an application is a
//! server-side draft from its first step (leave, come back on another phone, nothing typed
//! twice), one guided step per page; identity photos come only from the camera page, each
//! upload spending a single-use capture token that page minted; ID cards are cut to the
//! card and their birth digits and address covered before anyone but the reviewing clerk
//! sees them, and every copy shown is watermarked with the upload time and 病案号. The
//! review page itemises the fees from the fee table in force; paying submits it to the
//! records office (`office`), which returns it with reasons, approves it, counts the
//! printed pages (多退少补) and hands it over by code or by courier.
pub mod ledger;
pub mod office;
pub mod photos;

use crate::job::{JobError, retry};
use crate::{Actor, App};
use chrono::Duration;
use domain::billing::{OrderEvent, OrderLine, OrderState, Purpose as OrderPurpose};
use domain::identity::PatientSummary;
use domain::ports::{CourierPort, ShipmentParty};
use domain::records::{self, Applicant, ApplicationState, Delivery, Document, DraftContent, FeeLine, FeeTable, Purpose, RecordEncounter, Section, Step};
/// The application's records as the pages read them.
pub use domain::records::{Address, QueueFilter as RecordQueueFilter};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::json;
use std::sync::Arc;
use store::records::NewRecordApplication;
use store::records::{RecordApplicationRow, RecordPhotoRow, TimelineEntry};

/// Journey events the message platform turns into notices (REC-3).
pub const RECORDS_SUBMITTED: &str = "records.submitted";
pub const RECORDS_RETURNED: &str = "records.returned";
pub const RECORDS_APPROVED: &str = "records.approved";
pub const RECORDS_EXTRA_DUE: &str = "records.extra_due";
pub const RECORDS_PRINTED: &str = "records.printed";
pub const RECORDS_READY: &str = "records.ready";
pub const RECORDS_SHIPPED: &str = "records.shipped";
pub const RECORDS_ROUTE: &str = "records.route";
pub const RECORDS_DELIVERED: &str = "records.delivered";

/// What the records office is and promises [I]: all settings.
#[derive(Clone, Debug)]
pub struct RecordsSettings {
    /// The table used until an administrator saves one.
    pub default_fees: FeeTable,
    /// How long a capture token minted by the camera page lives.
    pub capture_token_ttl: Duration,
    /// Days from submission the office promises to have it ready.
    pub promise_days: i64,
    /// Days after an application closes that its original photos are deleted.
    pub keep_photos_days: i64,
    pub office_place: String,
    pub office_hours: String,
    /// The hospital as the courier's sender.
    pub sender: ShipmentParty,
    pub max_photo_bytes: usize,
    /// The secret path segment of the courier's route-push URL (the courier signs nothing).
    pub courier_push_secret: String,
}

impl Default for RecordsSettings {
    fn default() -> Self {
        Self {
            default_fees: FeeTable { version: 1, per_page: Fen(50), certification: Fen(0), postage: Fen(2_000) },
            capture_token_ttl: Duration::minutes(10),
            promise_days: 3,
            keep_photos_days: 30,
            office_place: "门诊楼3楼病案室".into(),
            office_hours: "工作日 8:00–12:00，14:00–17:30".into(),
            sender: ShipmentParty {
                contact: "病案室".into(),
                mobile: "0755-83366388".into(),
                province: "广东省".into(),
                city: "深圳市".into(),
                county: "福田区".into(),
                address: "深南中路1号门诊楼3楼病案室".into(),
                company: "深圳市民医院".into(),
            },
            max_photo_bytes: 10 * 1024 * 1024,
            courier_push_secret: String::new(),
        }
    }
}

/// The records service: its settings and the courier (`None`: pickup only).
#[derive(Default)]
pub struct Records {
    pub settings: RecordsSettings,
    pub courier: Option<Arc<dyn CourierPort>>,
}

/// The patient's record-copy page.
pub struct RecordsHome {
    pub patients: Vec<PatientSummary>,
    /// The account's applications with the 就诊人's masked name, newest first.
    pub applications: Vec<(RecordApplicationRow, String)>,
}

/// A draft (or a returned application) as its step pages show it.
pub struct DraftView {
    pub row: RecordApplicationRow,
    pub patient: PatientSummary,
    pub content: DraftContent,
    /// The current photo of each kind taken so far.
    pub photos: Vec<RecordPhotoRow>,
    /// Where the patient continues.
    pub next: Step,
}

/// One step's answer.
pub enum StepInput {
    Relation(Applicant),
    Encounter(String),
    Purpose(Purpose),
    Sections(Vec<Section>),
    Copies(u32),
    Delivery(Delivery, Option<Address>),
}

/// An archived stay or visit to choose, and the application already open for it, if any.
pub struct EncounterChoice {
    pub encounter: RecordEncounter,
    pub open_application: Option<String>,
}

/// The review page: the fees line by line from the table in force.
pub struct ReviewView {
    pub draft: DraftView,
    pub table: FeeTable,
    pub pages: u32,
    pub lines: Vec<FeeLine>,
    pub total: Fen,
}

/// An application as its own page shows it.
pub struct ApplicationView {
    pub row: RecordApplicationRow,
    pub patient: PatientSummary,
    pub photos: Vec<RecordPhotoRow>,
    pub timeline: Vec<TimelineEntry>,
    /// What was charged, itemised (the estimate; after counting, the counted pages).
    pub lines: Vec<FeeLine>,
    pub office_place: String,
    pub office_hours: String,
    /// Where the patient carries on, while the application is a draft or returned.
    pub continue_step: Option<Step>,
}

/// The step to carry on at: the first unanswered one of a draft, the first named one of a
/// returned application.
fn next_step(row: &RecordApplicationRow, content: &DraftContent) -> Step {
    match row.state {
        ApplicationState::Returned => next_fix(row, content),
        _ => content.first_missing(),
    }
}

/// Whether the application's encounter is a stay (one made before the kind was kept, or
/// not chosen yet, counts as one: every section stays on offer).
pub fn is_stay(row: &RecordApplicationRow) -> bool {
    row.encounter_inpatient.unwrap_or(true)
}

pub(crate) fn state_moved() -> DomainError {
    DomainError::new(ErrorCode::RecordApplicationState, "record application moved meanwhile")
}

fn incomplete(why: &str) -> DomainError {
    DomainError::new(ErrorCode::RecordStepIncomplete, why.to_owned())
}

/// What a row holds, for the step logic.
pub(crate) fn content_of(row: &RecordApplicationRow, photos: &[RecordPhotoRow]) -> DraftContent {
    DraftContent {
        applicant: row.applicant,
        encounter: row.encounter_id.clone(),
        purpose: row.purpose,
        sections: row.sections.clone(),
        copies: row.copies,
        photos: photos.iter().filter(|p| p.current && !row.fix_documents.contains(&p.document)).map(|p| p.document).collect(),
        delivery: row.delivery,
        address_complete: row.address.as_ref().is_some_and(address_complete),
    }
}

fn address_complete(a: &Address) -> bool {
    !a.name.trim().is_empty() && mobile_ok(&a.mobile) && !a.province.trim().is_empty() && !a.city.trim().is_empty() && a.detail.trim().chars().count() >= 4
}

fn mobile_ok(m: &str) -> bool {
    m.len() == 11 && m.starts_with('1') && m.bytes().all(|b| b.is_ascii_digit())
}

/// The fee lines of an application at `pages` pages a copy.
pub(crate) fn lines_for(table: &FeeTable, row: &RecordApplicationRow, pages: u32) -> Result<Vec<FeeLine>, DomainError> {
    records::fees(table, pages, row.copies.unwrap_or(0), row.delivery.unwrap_or(Delivery::Pickup))
        .map_err(|e| DomainError::new(ErrorCode::ValidationFailed, format!("fees: {e:?}")))
}

pub(crate) fn order_lines(lines: &[FeeLine]) -> Vec<OrderLine> {
    lines
        .iter()
        .filter(|l| l.amount.0 > 0)
        .map(|l| OrderLine {
            code: l.kind.line_code().into(),
            name: l.kind.label_zh().into(),
            qty: 1,
            unit_price: l.amount,
            amount: l.amount,
            insurable: false,
        })
        .collect()
}

impl App {
    pub fn with_records(mut self, records: Records) -> Self {
        self.records = Arc::new(records);
        self
    }

    pub fn records_settings(&self) -> &RecordsSettings {
        &self.records.settings
    }

    /// Express delivery is offered where a courier is configured.
    pub fn records_express_offered(&self) -> bool {
        self.records.courier.is_some()
    }

    /// The fee table in force now (the default table is saved as version 1 the first time).
    pub async fn record_fee_table_now(&self) -> Result<FeeTable, DomainError> {
        if let Some(t) = self.store.record_fee_table_at(self.now()).await? {
            return Ok(t.table);
        }
        let t = &self.records.settings.default_fees;
        let epoch = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        self.store.insert_record_fee_table(self.store.db(), t, epoch, "初始收费标准", "system", self.now()).await?;
        Ok(self.store.record_fee_table_at(self.now()).await?.map(|r| r.table).unwrap_or_else(|| t.clone()))
    }

    pub async fn records_home(&self, account_id: i64) -> Result<RecordsHome, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        let ids: Vec<i64> = patients.iter().map(|p| p.id).collect();
        let rows = self.store.record_applications_of(&ids, 50).await?;
        let applications = rows
            .into_iter()
            .filter(|r| r.account_id == account_id)
            .map(|r| {
                let name = patients.iter().find(|p| p.id == r.patient_id).map(|p| p.name_masked.clone()).unwrap_or_default();
                (r, name)
            })
            .collect();
        Ok(RecordsHome { patients, applications })
    }

    /// Starts a draft for one of the account's 就诊人.
    pub async fn start_record_application(&self, account_id: i64, patient_id: i64, actor: &Actor) -> Result<String, DomainError> {
        let p = self.store.patient_summary(account_id, patient_id).await?;
        let now = self.now();
        let no = format!("BL{}", &crate::billing::new_order_no(now)[2..]);
        let txn = self.store.write_txn().await?;
        let id = self
            .store
            .insert_record_application(&txn, NewRecordApplication { application_no: &no, account_id, patient_id, his_patient_id: &p.his_patient_id }, now)
            .await?;
        self.store.append_record_timeline(&txn, id, "created", "开始填写申请", "患者", now).await?;
        self.store.append_audit(&txn, &actor.entry("records.start", format!("record_application:{no}"), &p.name_masked), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(no)
    }

    /// An application of this account (another account's is not found).
    pub(crate) async fn own_application(&self, account_id: i64, no: &str) -> Result<(RecordApplicationRow, PatientSummary), DomainError> {
        let row = self.store.record_application(no).await?;
        if row.account_id != account_id {
            return Err(DomainError::new(ErrorCode::NotFound, "no such record application for account"));
        }
        let p = self.store.patient_summary(account_id, row.patient_id).await?;
        Ok((row, p))
    }

    fn current_photos(photos: Vec<RecordPhotoRow>) -> Vec<RecordPhotoRow> {
        photos.into_iter().filter(|p| p.current).collect()
    }

    pub async fn record_draft(&self, account_id: i64, no: &str) -> Result<DraftView, DomainError> {
        let (row, patient) = self.own_application(account_id, no).await?;
        let photos = Self::current_photos(self.store.record_photos(row.id).await?);
        let content = content_of(&row, &photos);
        let next = next_step(&row, &content);
        Ok(DraftView { row, patient, content, photos, next })
    }

    /// Whether the patient may change this step of the application now: any reached step of
    /// a draft; only what the clerk named of a returned one.
    fn editable(view: &DraftView, change: records::Change) -> Result<(), DomainError> {
        records::may_change(view.row.state, &view.content, &view.row.fix_steps, &view.row.fix_documents, change).map_err(|why| match why {
            records::ChangeRefused::EarlierStepMissing => incomplete("earlier step missing"),
            records::ChangeRefused::NotNow => state_moved(),
        })
    }

    /// The archived stays and visits of the application's patient (from the HIS), audited:
    /// their diagnoses are health data.
    pub async fn record_encounter_choices(&self, account_id: i64, no: &str, actor: &Actor) -> Result<Vec<EncounterChoice>, DomainError> {
        let (row, p) = self.own_application(account_id, no).await?;
        let list = self.his.record_encounters(&row.his_patient_id).await?;
        let others = self.open_applications_beside(&row).await?;
        self.store.audit(&actor.entry("records.encounters_view", format!("patient:{}", p.id), &format!("{} 条", list.len())), self.now()).await?;
        Ok(list
            .into_iter()
            .map(|encounter| {
                let open_application =
                    others.iter().find(|o| o.encounter_id.as_deref() == Some(encounter.encounter_id.as_str())).map(|o| o.application_no.clone());
                EncounterChoice { encounter, open_application }
            })
            .collect())
    }

    /// The patient's other applications still with the office (submitted and not closed):
    /// a second one for the same stay is allowed, and shown to the patient and the clerk.
    pub(crate) async fn open_applications_beside(&self, row: &RecordApplicationRow) -> Result<Vec<RecordApplicationRow>, DomainError> {
        Ok(self
            .store
            .record_applications_of(&[row.patient_id], 200)
            .await?
            .into_iter()
            .filter(|o| o.id != row.id && o.state != ApplicationState::Draft && !o.state.is_closed())
            .collect())
    }

    /// Saves one step the moment it is entered; returns the step to go to next.
    pub async fn save_record_step(&self, account_id: i64, no: &str, input: StepInput, actor: &Actor) -> Result<Step, DomainError> {
        let view = self.record_draft(account_id, no).await?;
        let step = match &input {
            StepInput::Relation(_) => Step::Relation,
            StepInput::Encounter(_) => Step::Encounter,
            StepInput::Purpose(_) => Step::Purpose,
            StepInput::Sections(_) => Step::Sections,
            StepInput::Copies(_) => Step::Copies,
            StepInput::Delivery(..) => Step::Delivery,
        };
        Self::editable(&view, records::Change::Step(step))?;
        let mut row = view.row.clone();
        match input {
            StepInput::Relation(a) => row.applicant = Some(a),
            StepInput::Encounter(id) => {
                let e = self
                    .his
                    .record_encounters(&row.his_patient_id)
                    .await?
                    .into_iter()
                    .find(|e| e.encounter_id == id)
                    .ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "no such encounter"))?;
                row.encounter_label = Some(e.label());
                row.mr_no = Some(e.mr_no);
                row.encounter_id = Some(e.encounter_id);
                row.encounter_inpatient = Some(e.inpatient);
                // A stay's sections do not exist in a visit's record, nor the other way round.
                row.sections.retain(|s| s.belongs_to(e.inpatient));
            }
            StepInput::Purpose(p) => {
                // A first choice of purpose starts the sections from what it usually needs.
                if row.sections.is_empty() {
                    row.sections = p.suggested_for(is_stay(&row));
                }
                row.purpose = Some(p);
            }
            StepInput::Sections(mut s) => {
                s.sort();
                s.dedup();
                if s.is_empty() || !s.iter().all(|x| x.belongs_to(is_stay(&row))) {
                    return Err(DomainError::new(ErrorCode::ValidationFailed, "sections"));
                }
                row.sections = s;
            }
            StepInput::Copies(n) => {
                if n == 0 || n > records::MAX_COPIES {
                    return Err(DomainError::new(ErrorCode::ValidationFailed, "copies"));
                }
                row.copies = Some(n);
            }
            StepInput::Delivery(d, address) => {
                if d == Delivery::Express {
                    if self.records.courier.is_none() {
                        return Err(DomainError::new(ErrorCode::ValidationFailed, "express not offered"));
                    }
                    let a = address.ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "address"))?;
                    if !address_complete(&a) || a.detail.chars().count() > 120 || a.name.chars().count() > 30 {
                        return Err(DomainError::new(ErrorCode::ValidationFailed, "address"));
                    }
                    row.address = Some(a);
                }
                row.delivery = Some(d);
            }
        }
        if row.state == ApplicationState::Returned && step != Step::Photos {
            row.fix_steps.retain(|s| *s != step);
        }
        let now = self.now();
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        self.store.append_audit(&txn, &actor.entry("records.step", format!("record_application:{no}"), step.as_str()), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        let photos = Self::current_photos(self.store.record_photos(row.id).await?);
        let content = content_of(&row, &photos);
        if row.state == ApplicationState::Returned {
            return Ok(next_fix(&row, &content));
        }
        // The page after this one (the patient sees each step once in order, even one a
        // choice already filled, such as the sections a purpose suggests).
        let after = Step::ALL.iter().copied().find(|s| *s > step).unwrap_or(Step::Review);
        Ok(after.min(content.first_missing()))
    }

    /// The review page: the estimate from the table in force (or, for a returned one, the
    /// table it was submitted under).
    pub async fn record_review(&self, account_id: i64, no: &str) -> Result<ReviewView, DomainError> {
        let draft = self.record_draft(account_id, no).await?;
        if draft.content.first_missing() != Step::Review {
            return Err(incomplete("not complete"));
        }
        let table = match draft.row.fee_version {
            Some(v) => self.store.record_fee_table(v).await?.table,
            None => self.record_fee_table_now().await?,
        };
        let pages = records::estimated_pages(&draft.row.sections);
        let lines = lines_for(&table, &draft.row, pages)?;
        let total = records::total(&lines);
        Ok(ReviewView { draft, table, pages, lines, total })
    }

    /// Pays a complete draft: the order for the estimate (the same open order again while
    /// nothing changed). For a returned application whose fixes are done, resubmits it
    /// without paying again (the true-up settles any change). Returns the order number to
    /// pay, or `None` when resubmitted.
    pub async fn submit_record_application(&self, account_id: i64, no: &str, actor: &Actor) -> Result<Option<String>, DomainError> {
        let review = self.record_review(account_id, no).await?;
        let mut row = review.draft.row.clone();
        let now = self.now();
        if row.state == ApplicationState::Returned {
            if !row.fix_steps.is_empty() || review.draft.next != Step::Review {
                return Err(incomplete("fixes outstanding"));
            }
            row.state = ApplicationState::Submitted;
            row.fix_documents.clear();
            row.reasons.clear();
            row.reason_note = None;
            row.submitted_at = Some(now);
            row.promised_by = Some(now + Duration::days(self.records.settings.promise_days));
            let txn = self.store.write_txn().await?;
            if !self.store.save_record_application(&txn, &mut row, now).await? {
                return Err(state_moved());
            }
            self.store.append_record_timeline(&txn, row.id, "resubmitted", "已按要求补正并重新提交", "患者", now).await?;
            self.tell(&txn, &row, RECORDS_SUBMITTED, json!({"resubmitted": true})).await?;
            self.store.append_audit(&txn, &actor.entry("records.resubmit", format!("record_application:{no}"), ""), now).await?;
            txn.commit().await.map_err(store::db_err)?;
            return Ok(None);
        }
        if row.state != ApplicationState::Draft {
            return Err(state_moved());
        }
        if let Some(open) = &row.order_no {
            let (o, _) = self.store.order(open).await?;
            if matches!(o.state, OrderState::Created | OrderState::Paying) && o.total() == review.total && row.fee_version == Some(review.table.version) {
                return Ok(Some(open.clone()));
            }
        }
        let subject = format!("record:{no}");
        let order_no = self.create_order(Some(row.patient_id), OrderPurpose::RecordCopy, order_lines(&review.lines), Some(&subject), actor).await?;
        row.order_no = Some(order_no.clone());
        row.fee_version = Some(review.table.version);
        row.estimated_pages = Some(review.pages);
        if !self.store.save_record_application(self.store.db(), &mut row, now).await? {
            return Err(state_moved());
        }
        Ok(Some(order_no))
    }

    /// The application's page: where it stands, its timeline, its photos (masked) and fees.
    pub async fn record_application_view(&self, account_id: i64, no: &str, actor: &Actor) -> Result<ApplicationView, DomainError> {
        let (row, patient) = self.own_application(account_id, no).await?;
        let photos = Self::current_photos(self.store.record_photos(row.id).await?);
        let timeline = self.store.record_timeline(row.id).await?;
        let lines = match row.fee_version {
            Some(v) => {
                let t = self.store.record_fee_table(v).await?.table;
                let pages = row.counted_pages.or(row.estimated_pages).unwrap_or_else(|| records::estimated_pages(&row.sections));
                lines_for(&t, &row, pages).unwrap_or_default()
            }
            None => vec![],
        };
        if row.pickup_code.is_some() || row.address.is_some() {
            self.store.audit(&actor.entry("records.view", format!("record_application:{no}"), row.state.as_str()), self.now()).await?;
        }
        let continue_step = matches!(row.state, ApplicationState::Draft | ApplicationState::Returned).then(|| next_step(&row, &content_of(&row, &photos)));
        let s = &self.records.settings;
        Ok(ApplicationView { row, patient, photos, timeline, lines, office_place: s.office_place.clone(), office_hours: s.office_hours.clone(), continue_step })
    }

    /// Withdraws an application nothing has been printed for: everything paid goes back.
    pub async fn withdraw_record_application(&self, account_id: i64, no: &str, actor: &Actor) -> Result<(), DomainError> {
        let (mut row, _) = self.own_application(account_id, no).await?;
        let now = self.now();
        if row.state == ApplicationState::Draft {
            row.state = ApplicationState::Withdrawn;
            row.closed_at = Some(now);
            let txn = self.store.write_txn().await?;
            if !self.store.save_record_application(&txn, &mut row, now).await? {
                return Err(state_moved());
            }
            self.store.append_record_timeline(&txn, row.id, "withdrawn", "申请已放弃（未支付）", "患者", now).await?;
            txn.commit().await.map_err(store::db_err)?;
            return Ok(());
        }
        if !row.state.may_withdraw() {
            return Err(state_moved());
        }
        let order_no = row.order_no.clone().ok_or_else(|| DomainError::new(ErrorCode::Internal, "submitted without an order"))?;
        let paid = row.paid;
        row.state = ApplicationState::Withdrawn;
        row.closed_at = Some(now);
        let txn = self.store.write_txn().await?;
        if !self.store.save_record_application(&txn, &mut row, now).await? {
            return Err(state_moved());
        }
        self.store.append_record_timeline(&txn, row.id, "withdrawn", &format!("申请已撤回，已付 ¥{} 原路退回", paid.to_yuan_string()), "患者", now).await?;
        txn.commit().await.map_err(store::db_err)?;
        // The application is closed first: a refund that fails is retried by the refund job
        // and, stuck, handed to finance (the money is never left behind).
        let (o, _) = self.store.order(&order_no).await?;
        let back = o.refundable(domain::billing::Channel::SelfPay);
        if back.0 > 0 {
            let no_ = self.request_refund(&order_no, domain::billing::PerChannel { insurance: Fen(0), self_pay: back }, "病历复印申请撤回", actor).await?;
            row.refund_no = Some(no_);
            row.paid = Fen(0);
            self.store.save_record_application(self.store.db(), &mut row, self.now()).await?;
        }
        Ok(())
    }

    /// Records a journey event about an application (one per kind and change).
    pub(crate) async fn tell<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        row: &RecordApplicationRow,
        kind: &str,
        extra: serde_json::Value,
    ) -> Result<(), DomainError> {
        let mut payload = json!({
            "application_no": row.application_no,
            "link": format!("/records/{}", row.application_no),
            "state": row.state.label_zh(),
        });
        if let (Some(o), serde_json::Value::Object(e)) = (payload.as_object_mut(), extra) {
            o.extend(e);
        }
        let key = format!("{kind}:{}:{}", row.application_no, row.version);
        self.store.record_event(conn, kind, &key, Some(row.patient_id), &payload, self.now()).await?;
        Ok(())
    }
}

/// The next thing a returned application asks: the first step still to fix, else the
/// retaken photos, else the review.
fn next_fix(row: &RecordApplicationRow, content: &DraftContent) -> Step {
    let mut steps = row.fix_steps.clone();
    steps.sort();
    if let Some(s) = steps.into_iter().find(|s| *s != Step::Photos) {
        return s;
    }
    if row.applicant.is_some_and(|a| !records::missing_documents(a, &content.photos).is_empty()) {
        return Step::Photos;
    }
    Step::Review
}

/// The first payment arrived: the application goes to the records office; a second
/// payment (an extra charge) finishes the printing. Any other payment for it — an order
/// the patient abandoned and paid after all — is refunded (P6).
pub(crate) async fn fulfil_payment(app: &App, no: &str, order_no: &str) -> Result<(), JobError> {
    let mut row = app.store.record_application(no).await.map_err(retry)?;
    let (o, _) = app.store.order(order_no).await.map_err(retry)?;
    let now = app.now();
    if row.order_no.as_deref() == Some(order_no) && row.state == ApplicationState::Draft {
        row.state = ApplicationState::Submitted;
        row.paid = o.captured.total();
        row.submitted_at = Some(now);
        row.promised_by = Some(now + Duration::days(app.records.settings.promise_days));
        let txn = app.store.write_txn().await.map_err(retry)?;
        if !app.store.save_record_application(&txn, &mut row, now).await.map_err(retry)? {
            return Err(JobError::Retry("record application moved meanwhile".into()));
        }
        let note = format!("已支付 ¥{}，申请已提交病案室审核", row.paid.to_yuan_string());
        app.store.append_record_timeline(&txn, row.id, "submitted", &note, "患者", now).await.map_err(retry)?;
        let promised = domain::format::local_time(row.promised_by.unwrap_or(now), domain::format::TimeStyle::Date);
        app.tell(&txn, &row, RECORDS_SUBMITTED, json!({"paid": row.paid.0, "promised_by": promised})).await.map_err(retry)?;
        txn.commit().await.map_err(store::db_err).map_err(retry)?;
        return crate::billing::jobs::settle(app, order_no, OrderEvent::Fulfilled).await;
    }
    if row.extra_order_no.as_deref() == Some(order_no) && row.state == ApplicationState::ExtraDue {
        row.paid = Fen(row.paid.0 + o.captured.total().0);
        let txn = app.store.write_txn().await.map_err(retry)?;
        app.store
            .append_record_timeline(&txn, row.id, "extra_paid", &format!("已补缴 ¥{}", o.captured.total().to_yuan_string()), "患者", now)
            .await
            .map_err(retry)?;
        office::finish_printing(app, &txn, &mut row).await.map_err(retry)?;
        txn.commit().await.map_err(store::db_err).map_err(retry)?;
        return crate::billing::jobs::settle(app, order_no, OrderEvent::Fulfilled).await;
    }
    app.fulfilment_failed(order_no, "record application no longer waiting for this payment").await.map_err(retry)
}

/// Reads a document name from a form.
pub fn parse_document(s: &str) -> Result<Document, DomainError> {
    Document::parse(s).ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "document"))
}
