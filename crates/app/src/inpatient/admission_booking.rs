//! Admission booking (住院登记预约, OTH-5): the doctor's admission notice (入院通知单) comes
//! from the HIS and appears on the patient's phone; the patient (or a relative who manages
//! them) chooses a day and bed type within what the notice allows; the admission office
//! (住院服务中心) confirms it — registering the admission in the HIS — or proposes another
//! day, which the patient accepts (registered then) or answers with another choice. Once
//! registered, 入院提醒 says what to bring and where to go (with the navigation route), and
//! again the evening before.
//!
//! The HIS registration is idempotent on the booking number, so a lost answer is repaired
//! by asking again; before a booking moves away from a registration (a proposal, a
//! cancellation) the HIS is asked whether one under our number exists and it is taken
//! back, so the HIS never keeps a day the patient no longer expects.
use crate::job::{JobError, JobHandler, retry};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::NaiveDate;
use domain::identity::PatientSummary;
use domain::inpatient::admission_booking::{AdmissionNotice, BookingState, NoticeStatus};
use domain::ports::AdmissionRegistration;
use domain::{DomainError, ErrorCode};
use serde_json::json;
use store::inpatient::admission_booking::{AdmissionBookingChange, AdmissionBookingRow, NewAdmissionBooking};
use store::outbox::NewJob;

/// The evening-before 入院提醒.
pub const ADMISSION_REMIND: &str = "admission.remind";
/// The journey events the message platform turns into 入院日期调整 and 入院提醒.
pub const ADMISSION_PROPOSED: &str = "admission.proposed";
pub const ADMISSION_PROMPT: &str = "admission.prompt";

/// A notice with the platform's live booking of it.
pub struct NoticeView {
    pub notice: AdmissionNotice,
    pub booking: Option<AdmissionBookingRow>,
    /// The days the patient may choose now; `None` when none is left.
    pub bookable: Option<(NaiveDate, NaiveDate)>,
}

/// The admission page of one of the account's 就诊人.
pub struct AdmissionOverview {
    pub patients: Vec<PatientSummary>,
    pub current: Option<PatientSummary>,
    pub notices: Vec<NoticeView>,
    /// Bookings that are over (cancelled, admitted), newest first.
    pub past: Vec<AdmissionBookingRow>,
}

/// One booking as the patient's detail page shows it.
pub struct AdmissionBookingView {
    pub patient: PatientSummary,
    pub booking: AdmissionBookingRow,
    /// The HIS's notice (None when the HIS no longer lists it).
    pub notice: Option<AdmissionNotice>,
    pub bring: String,
    pub place: String,
    /// The way there from the navigation system, once confirmed (None without one).
    pub route: Option<domain::ports::NavRoute>,
}

/// A row of the admission office's work list.
pub struct OfficeRow {
    pub booking: AdmissionBookingRow,
    pub patient_name: String,
    pub mobile_masked: String,
    /// The HIS's notice: its window and bed types bound what the office may propose.
    pub notice: Option<AdmissionNotice>,
}

/// What the office answers to a booking.
pub enum OfficeAnswer<'a> {
    /// Register the patient's choice; `note` (a bed kept, a word of advice) goes to them.
    Confirm { note: &'a str },
    /// Suggest another day and bed type.
    Propose { date: NaiveDate, bed_type: &'a str, note: &'a str },
}

fn invalid(e: domain::inpatient::admission_booking::ChoiceError) -> DomainError {
    DomainError::new(ErrorCode::AdmissionChoiceInvalid, format!("{e:?}"))
}

fn moved() -> DomainError {
    DomainError::new(ErrorCode::Conflict, "admission booking moved meanwhile")
}

impl App {
    /// The account's 就诊人 with admission notices: `wanted`, else the first with an open
    /// notice, else the first. Bookings the HIS has moved on (admitted, notice withdrawn)
    /// follow it here.
    pub async fn admission_overview(&self, account_id: i64, wanted: Option<i64>, viewer: &Actor) -> Result<AdmissionOverview, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        let mut chosen = wanted.and_then(|id| patients.iter().find(|p| p.id == id)).cloned();
        let mut notices = Vec::new();
        if let Some(p) = &chosen {
            notices = self.his.admission_notices(&p.his_patient_id).await?;
        } else {
            // The first 就诊人 with an open notice; else the first, with what it has (already read).
            let mut first = None;
            for p in &patients {
                let n = self.his.admission_notices(&p.his_patient_id).await?;
                if n.iter().any(|n| !matches!(n.status, NoticeStatus::Admitted | NoticeStatus::Cancelled)) {
                    chosen = Some(p.clone());
                    notices = n;
                    break;
                }
                first.get_or_insert((p.clone(), n));
            }
            if chosen.is_none()
                && let Some((p, n)) = first
            {
                chosen = Some(p);
                notices = n;
            }
        }
        let today = self.today();
        let mut views = Vec::new();
        for notice in notices {
            let booking = match self.store.active_admission_booking(&notice.notice_no).await? {
                Some(b) => self.follow_his(b, &notice).await?,
                None => None,
            };
            let bookable = notice.bookable_days(today);
            views.push(NoticeView { notice, booking, bookable });
        }
        let past = match &chosen {
            Some(p) => self.store.admission_bookings_of_patient(p.id).await?.into_iter().filter(|b| !b.state.is_active()).collect(),
            None => vec![],
        };
        if let Some(p) = &chosen
            && !views.is_empty()
        {
            // The notices carry the reason for admission: a health record, each view audited (S10).
            self.store.audit(&viewer.entry("admission_booking.view", format!("patient:{}", p.id), &format!("{} 张入院通知", views.len())), self.now()).await?;
        }
        Ok(AdmissionOverview { patients, current: chosen, notices: views, past })
    }

    /// A live booking the HIS has moved on: admitted, or its notice withdrawn. Returns the
    /// booking if it is still live.
    async fn follow_his(&self, b: AdmissionBookingRow, notice: &AdmissionNotice) -> Result<Option<AdmissionBookingRow>, DomainError> {
        let (state, note) = match notice.status {
            NoticeStatus::Admitted => (BookingState::Admitted, None),
            NoticeStatus::Cancelled => (BookingState::Cancelled, Some("医生已撤销该入院通知")),
            _ => return Ok(Some(b)),
        };
        let change = AdmissionBookingChange { state: Some(state), office_note: note, ..Default::default() };
        self.store.update_admission_booking(self.store.db(), &b.booking_no, b.version, change, self.now()).await?;
        Ok(None)
    }

    /// One of the account's 就诊人 holding the patient of `booking` (a relative who manages
    /// the same person sees the same booking); another account's is not found.
    async fn booking_patient(&self, account_id: i64, b: &AdmissionBookingRow) -> Result<PatientSummary, DomainError> {
        self.store
            .list_patients(account_id)
            .await?
            .into_iter()
            .find(|p| p.id == b.patient_id || p.his_patient_id == b.his_patient_id)
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such admission booking for account"))
    }

    async fn notice_of(&self, his_patient_id: &str, notice_no: &str) -> Result<AdmissionNotice, DomainError> {
        self.his
            .admission_notices(his_patient_id)
            .await?
            .into_iter()
            .find(|n| n.notice_no == notice_no)
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such admission notice"))
    }

    /// The patient chooses a day and bed type for a notice: a new booking, or a new choice
    /// on the live one while the office has not registered it. Returns the booking number.
    pub async fn request_admission(
        &self,
        account_id: i64,
        patient_id: i64,
        notice_no: &str,
        date: NaiveDate,
        bed_type: &str,
        actor: &Actor,
    ) -> Result<String, DomainError> {
        let p = self.store.patient_summary(account_id, patient_id).await?;
        let notice = self.notice_of(&p.his_patient_id, notice_no).await?;
        if let NoticeStatus::Registered { booking_no: None, .. } = &notice.status {
            // Registered at the office's counter: nothing to book.
            return Err(DomainError::new(ErrorCode::Conflict, "notice registered at the office"));
        }
        notice.check_choice(date, bed_type, self.today()).map_err(invalid)?;
        let bed_name = notice.bed_type(bed_type).map(|b| b.name.clone()).unwrap_or_default();
        let now = self.now();
        if let Some(b) = self.store.active_admission_booking(notice_no).await? {
            if b.his_patient_id != p.his_patient_id {
                return Err(DomainError::new(ErrorCode::NotFound, "notice of another patient"));
            }
            if b.state == BookingState::Requested && b.wanted_date == date && b.bed_type == bed_type {
                return Ok(b.booking_no);
            }
            if !b.state.patient_may_rechoose() {
                return Err(DomainError::new(ErrorCode::Conflict, "booking already confirmed"));
            }
            let change = AdmissionBookingChange { state: Some(BookingState::Requested), wanted: Some((date, bed_type, &bed_name)), ..Default::default() };
            let txn = self.store.write_txn().await?;
            if !self.store.update_admission_booking(&txn, &b.booking_no, b.version, change, now).await? {
                return Err(moved());
            }
            self.store
                .append_audit(&txn, &actor.entry("admission_booking.rechoose", format!("admission:{}", b.booking_no), &format!("{date} {bed_type}")), now)
                .await?;
            txn.commit().await.map_err(store::db_err)?;
            return Ok(b.booking_no);
        }
        let booking_no = format!("RY{}", &crate::billing::new_order_no(now)[2..]);
        let new = NewAdmissionBooking {
            booking_no: &booking_no,
            account_id,
            patient_id,
            his_patient_id: &p.his_patient_id,
            notice_no,
            dept_name: &notice.dept_name,
            ward: &notice.ward,
            wanted_date: date,
            bed_type,
            bed_type_name: &bed_name,
        };
        let txn = self.store.write_txn().await?;
        if !self.store.insert_admission_booking(&txn, new, now).await? {
            // Another phone booked the notice a moment ago: that booking stands.
            drop(txn);
            return self.store.active_admission_booking(notice_no).await?.map(|b| b.booking_no).ok_or_else(moved);
        }
        self.store.append_audit(&txn, &actor.entry("admission_booking.request", format!("admission:{booking_no}"), &format!("{date} {bed_type}")), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(booking_no)
    }

    /// The patient's page of one booking.
    pub async fn admission_booking_view(&self, account_id: i64, booking_no: &str, viewer: &Actor) -> Result<AdmissionBookingView, DomainError> {
        let b = self.store.admission_booking(booking_no).await.map_err(|_| DomainError::new(ErrorCode::NotFound, "no such admission booking"))?;
        let patient = self.booking_patient(account_id, &b).await?;
        let notice = self.his.admission_notices(&b.his_patient_id).await?.into_iter().find(|n| n.notice_no == b.notice_no);
        let booking = match (&notice, b.state.is_active()) {
            (Some(n), true) => match self.follow_his(b.clone(), n).await? {
                Some(b) => b,
                None => self.store.admission_booking(booking_no).await?,
            },
            _ => b,
        };
        self.store.audit(&viewer.entry("admission_booking.view", format!("admission:{booking_no}"), ""), self.now()).await?;
        let route = match (&self.messaging.navigation, booking.state) {
            (Some(nav), BookingState::Confirmed) => nav.route_to(&self.policies.admission_destination).await.ok(),
            _ => None,
        };
        Ok(AdmissionBookingView { patient, booking, notice, bring: self.policies.admission_bring.clone(), place: self.policies.admission_place.clone(), route })
    }

    /// The patient accepts the office's proposal: registered in the HIS for that day.
    pub async fn accept_admission_proposal(&self, account_id: i64, booking_no: &str, actor: &Actor) -> Result<(), DomainError> {
        let b = self.store.admission_booking(booking_no).await?;
        self.booking_patient(account_id, &b).await?;
        if b.state == BookingState::Confirmed && b.proposed.as_ref().is_some_and(|p| Some(p.0) == b.confirmed_date) {
            return Ok(()); // a second tap
        }
        let Some((date, bed_type, bed_name)) = b.proposed.clone().filter(|_| b.state == BookingState::Proposed) else {
            return Err(moved());
        };
        self.register_and_confirm(&b, date, &bed_type, &bed_name, "患者确认住院服务中心建议的日期", None, None, actor).await
    }

    /// The patient gives the booking up; a registered one is taken out of the HIS first.
    pub async fn cancel_admission_booking(&self, account_id: i64, booking_no: &str, actor: &Actor) -> Result<(), DomainError> {
        let b = self.store.admission_booking(booking_no).await?;
        self.booking_patient(account_id, &b).await?;
        if b.state == BookingState::Cancelled {
            return Ok(());
        }
        if !b.state.patient_may_cancel() {
            return Err(moved());
        }
        self.take_back_registration(&b, "患者取消预约").await?;
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let change = AdmissionBookingChange { state: Some(BookingState::Cancelled), ..Default::default() };
        if !self.store.update_admission_booking(&txn, booking_no, b.version, change, now).await? {
            return Err(moved());
        }
        self.store.append_audit(&txn, &actor.entry("admission_booking.cancel", format!("admission:{booking_no}"), b.state.as_str()), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// Takes back a registration the HIS holds under this booking's number, if any (a
    /// confirmed booking's, or one whose answer was lost).
    async fn take_back_registration(&self, b: &AdmissionBookingRow, reason: &str) -> Result<(), DomainError> {
        let notice = self.notice_of(&b.his_patient_id, &b.notice_no).await;
        let ours = match &notice {
            Ok(n) => matches!(&n.status, NoticeStatus::Registered { booking_no: Some(x), .. } if *x == b.booking_no),
            // The HIS no longer lists it: nothing of ours is held there.
            Err(e) if e.code == ErrorCode::NotFound => false,
            Err(e) => return Err(e.clone()),
        };
        if ours || b.state == BookingState::Confirmed {
            self.his.cancel_admission(&b.notice_no, &b.booking_no, reason).await?;
        }
        Ok(())
    }

    /// Registers the admission in the HIS, then records it: Confirmed, 入院提醒 to every
    /// account managing the patient, and the evening-before reminder. A booking moved
    /// meanwhile (cancelled on another phone) has its registration taken back.
    #[allow(clippy::too_many_arguments)]
    async fn register_and_confirm(
        &self,
        b: &AdmissionBookingRow,
        date: NaiveDate,
        bed_type: &str,
        bed_name: &str,
        operator: &str,
        note: Option<&str>,
        handled_by: Option<&str>,
        actor: &Actor,
    ) -> Result<(), DomainError> {
        let req = AdmissionRegistration {
            notice_no: b.notice_no.clone(),
            date,
            bed_type: bed_type.to_owned(),
            booking_no: b.booking_no.clone(),
            operator: operator.to_owned(),
        };
        // A registration under our number for another day (an answer lost before the patient
        // chose again) would be answered back as it is: taken back first.
        // The notice is read once, before the transaction: its deposit and preparation go
        // into 入院提醒 (no HIS call while the write transaction is open).
        let notice = self.notice_of(&b.his_patient_id, &b.notice_no).await.ok();
        if let Some(n) = &notice
            && let NoticeStatus::Registered { date: held, bed_type: held_bed, booking_no: Some(x), .. } = &n.status
            && *x == b.booking_no
            && (*held != date || held_bed != bed_type)
        {
            self.his.cancel_admission(&b.notice_no, &b.booking_no, "按新的日期重新登记").await?;
        }
        let register_no = self.his.register_admission(&req).await?;
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let change = AdmissionBookingChange {
            state: Some(BookingState::Confirmed),
            wanted: Some((date, bed_type, bed_name)),
            confirmed: Some((date, &register_no)),
            office_note: note.filter(|n| !n.is_empty()),
            handled_by,
            ..Default::default()
        };
        if !self.store.update_admission_booking(&txn, &b.booking_no, b.version, change, now).await? {
            drop(txn);
            let again = self.store.admission_booking(&b.booking_no).await?;
            if again.state == BookingState::Confirmed && again.register_no.as_deref() == Some(&register_no) {
                return Ok(());
            }
            // The booking moved while the HIS registered (cancelled, or chosen again): the
            // registration is nobody's, so the HIS gets its day back.
            self.his.cancel_admission(&b.notice_no, &b.booking_no, "预约已变更").await?;
            return Err(moved());
        }
        let row = AdmissionBookingRow { confirmed_date: Some(date), bed_type_name: bed_name.to_owned(), office_note: note.map(str::to_owned), ..b.clone() };
        self.record_admission_prompt(&txn, &row, notice.as_ref(), "confirmed").await?;
        let hour = self.policies.visit_reminder_hour.min(23);
        if let Some(eve) = date.pred_opt().map(|d| domain::clock::local_to_utc(d.and_hms_opt(hour, 0, 0).expect("valid time")))
            && eve > now
        {
            let job = NewJob::new(ADMISSION_REMIND, json!({"booking_no": b.booking_no, "date": date.to_string()}), now)
                .at(eve)
                .dedupe(format!("{ADMISSION_REMIND}:{}:{date}", b.booking_no));
            self.store.enqueue(&txn, job, now).await?;
        }
        self.store
            .append_audit(
                &txn,
                &actor.entry("admission_booking.confirm", format!("admission:{}", b.booking_no), &format!("{date} {bed_type} {register_no}")),
                now,
            )
            .await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }

    /// 入院提醒 (the message platform reaches every account managing the patient).
    async fn record_admission_prompt<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        b: &AdmissionBookingRow,
        notice: Option<&AdmissionNotice>,
        why: &str,
    ) -> Result<(), DomainError> {
        let Some(date) = b.confirmed_date else { return Ok(()) };
        let now = self.now();
        // One event: the message platform tells every account managing the patient.
        let payload = json!({
            "booking_no": b.booking_no, "notice_no": b.notice_no, "ward": b.ward, "bed_type": b.bed_type_name,
            "admit_at": format!("{} 09:00", date.format("%Y-%m-%d")), "place": self.policies.admission_place,
            "destination": self.policies.admission_destination, "to_bring": self.policies.admission_bring,
            "deposit": notice.map(|n| n.deposit_advised.0), "preparation": notice.map(|n| n.preparation.clone()).unwrap_or_default(),
            "note": b.office_note, "link": format!("/inpatient/admission/{}", b.booking_no),
        });
        let key = format!("{ADMISSION_PROMPT}:{}:{date}:{why}", b.booking_no);
        self.store.record_event(conn, ADMISSION_PROMPT, &key, Some(b.patient_id), &payload, now).await?;
        Ok(())
    }

    /// The admission office's list: bookings waiting for an answer, then those confirmed
    /// for today onwards. An audited read (names with the reason of admission's ward).
    pub async fn admission_office_board(&self, actor: &Actor) -> Result<Vec<OfficeRow>, DomainError> {
        let today = self.today();
        let rows = self.store.admission_bookings_in(&[BookingState::Requested, BookingState::Proposed, BookingState::Confirmed], 500).await?;
        let mut out = Vec::new();
        for b in rows {
            if b.state == BookingState::Confirmed && b.confirmed_date.is_some_and(|d| d < today) {
                continue;
            }
            // The office calls the patient: the HIS's record by name, the mobile masked on
            // the list (the HIS's own screens show it whole).
            let summary = self.store.patient_by_id(b.patient_id).await?;
            let patient_name = match self.his.patient(&b.his_patient_id).await {
                Ok(Some(h)) => h.name,
                _ => summary.as_ref().map(|p| p.name_masked.clone()).unwrap_or_default(),
            };
            let mobile_masked = summary.and_then(|p| p.mobile_masked).unwrap_or_default();
            let notice = self.his.admission_notices(&b.his_patient_id).await.ok().and_then(|l| l.into_iter().find(|n| n.notice_no == b.notice_no));
            out.push(OfficeRow { booking: b, patient_name, mobile_masked, notice });
        }
        self.store.audit(&actor.entry("admission_office.view", "admission:all", &format!("{} 条预约", out.len())), self.now()).await?;
        Ok(out)
    }

    /// The name of a bed type of the booking's notice (the office's confirmation page says
    /// what it proposes in words); the code itself when the HIS cannot say.
    pub async fn admission_bed_type_name(&self, booking_no: &str, code: &str) -> Result<String, DomainError> {
        let b = self.store.admission_booking(booking_no).await?;
        let name = match self.notice_of(&b.his_patient_id, &b.notice_no).await {
            Ok(n) => n.bed_type(code).map(|t| t.name.clone()),
            Err(_) => None,
        };
        Ok(name.unwrap_or_else(|| code.to_owned()))
    }

    /// The office answers a booking: confirm the patient's choice (registered in the HIS),
    /// or propose another day and bed type (the patient is told and answers).
    pub async fn answer_admission_booking(&self, booking_no: &str, answer: OfficeAnswer<'_>, actor: &Actor, operator: &str) -> Result<(), DomainError> {
        let b = self.store.admission_booking(booking_no).await?;
        if !b.state.office_may_answer() {
            return Err(moved());
        }
        match answer {
            OfficeAnswer::Confirm { note } => {
                let (date, bed, name) = (b.wanted_date, b.bed_type.clone(), b.bed_type_name.clone());
                self.register_and_confirm(&b, date, &bed, &name, operator, Some(note), Some(operator), actor).await
            }
            OfficeAnswer::Propose { date, bed_type, note } => {
                let notice = self.notice_of(&b.his_patient_id, &b.notice_no).await?;
                notice.check_choice(date, bed_type, self.today()).map_err(invalid)?;
                let name = notice.bed_type(bed_type).map(|t| t.name.clone()).unwrap_or_default();
                // A registration whose answer was lost must not keep the old day in the HIS.
                self.take_back_registration(&b, "住院服务中心建议改期").await?;
                let now = self.now();
                let txn = self.store.write_txn().await?;
                let change = AdmissionBookingChange {
                    state: Some(BookingState::Proposed),
                    proposed: Some((date, bed_type, &name)),
                    office_note: Some(note),
                    handled_by: Some(operator),
                    ..Default::default()
                };
                if !self.store.update_admission_booking(&txn, booking_no, b.version, change, now).await? {
                    return Err(moved());
                }
                let payload = json!({
                    "booking_no": booking_no, "ward": b.ward, "admit_date": date.to_string(), "bed_type": name, "note": note,
                    "link": format!("/inpatient/admission/{booking_no}"),
                });
                let key = format!("{ADMISSION_PROPOSED}:{booking_no}:{date}:{bed_type}");
                self.store.record_event(&txn, ADMISSION_PROPOSED, &key, Some(b.patient_id), &payload, now).await?;
                self.store
                    .append_audit(&txn, &actor.entry("admission_booking.propose", format!("admission:{booking_no}"), &format!("{date} {bed_type}")), now)
                    .await?;
                txn.commit().await.map_err(store::db_err)?;
                Ok(())
            }
        }
    }
}

/// The evening-before 入院提醒, if the booking still stands for that day.
pub struct RemindAdmission;

#[async_trait]
impl JobHandler for RemindAdmission {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let text = |k: &str| payload.get(k).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| JobError::Permanent(format!("payload lacks {k}")));
        let (no, date) = (text("booking_no")?, text("date")?);
        let b = app.store.admission_booking(&no).await.map_err(retry)?;
        if b.state != BookingState::Confirmed || b.confirmed_date.map(|d| d.to_string()) != Some(date) {
            return Ok(());
        }
        let notice = app.notice_of(&b.his_patient_id, &b.notice_no).await.ok();
        let txn = app.store.write_txn().await.map_err(retry)?;
        app.record_admission_prompt(&txn, &b, notice.as_ref(), "eve").await.map_err(retry)?;
        txn.commit().await.map_err(store::db_err).map_err(retry)
    }
}
