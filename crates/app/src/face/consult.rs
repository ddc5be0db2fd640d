//! Consultation (刷脸看诊, FACE-3): the consulting room's workstation (the HIS side) sends a
//! face scanned in the room through the signed open interface, naming its room and the
//! doctor seeing patients there. The face is searched among the enrolled patients booked
//! **with that doctor today** (the doctor's day group); one clear match releases the
//! patient's basic information — name, sex, age, today's booking with that doctor,
//! allergies and insurance kind as the HIS gives them — to that workstation only, and
//! every release is audited. A workstation is bound to its room by the hospital
//! (`[face] workstation_rooms`): a key naming another room gets nothing.
use crate::App;
use domain::face::{self, FaceInput, Recognition};
use domain::identity::{Gender, age_on};
use domain::{DomainError, ErrorCode};
use store::registration::BookingRow;

/// The patient as the workstation receives them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsultPatient {
    pub his_patient_id: String,
    pub mr_no: String,
    pub name: String,
    pub sex: &'static str,
    pub age: u32,
    pub booking_no: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub start_time: String,
    pub see_no: Option<i32>,
    pub allergies: Option<String>,
    pub insurance_kind: String,
}

/// What a consulting-room scan found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsultFinding {
    Found(Box<ConsultPatient>),
    /// Two or more too close to tell apart: the doctor checks the ID card.
    Ambiguous,
    /// Nobody enrolled and booked with this doctor today looks like this.
    Nobody,
    /// The face engine is away: the workstation's usual ways (card, booking number).
    EngineUnavailable,
}

impl App {
    /// A face scanned at a consulting room's workstation (the caller authenticated as
    /// `client_key`). Audited per release (`face.release`) and per refusal of a room.
    pub async fn consultation_scan(&self, client_key: &str, room: &str, doctor_code: &str, capture: Vec<u8>) -> Result<ConsultFinding, DomainError> {
        let actor = crate::Actor { id: format!("open_api:{client_key}"), correlation_id: String::new() };
        let bound = self.face.settings.workstation_rooms.get(client_key);
        if bound.map(|r| r.as_str()) != Some(room.trim()) {
            self.store.audit(&actor.entry("face.release_refused", format!("room:{}", room.trim()), "workstation not bound to this room"), self.now()).await?;
            return Err(DomainError::new(ErrorCode::Forbidden, "this workstation is not bound to the room it names"));
        }
        let doctor_code = doctor_code.trim();
        if doctor_code.is_empty() || doctor_code.len() > 32 || !doctor_code.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "doctor_code"));
        }
        let image = super::capture_of(capture, self.face.settings.max_image_bytes)?;
        let engine = self.face_engine()?;
        let day = self.today();
        let mut bookings = self.live_bookings_today().await?;
        bookings.retain(|b: &BookingRow| b.doctor_code == doctor_code);
        let mut patients: Vec<i64> = bookings.iter().map(|b| b.patient_id).collect();
        patients.sort_unstable();
        patients.dedup();
        let enrolled = self.store.active_face_enrolments(&patients).await?;
        if enrolled.is_empty() {
            return Ok(ConsultFinding::Nobody);
        }
        let group = face::doctor_day_group(&self.face.settings.group_prefix, doctor_code, day);
        let unavailable = |e: &DomainError| matches!(e.code, ErrorCode::UpstreamUnavailable | ErrorCode::FaceEngineRefused);
        match self.fill_group(&group, &enrolled).await {
            Ok(()) => {}
            Err(e) if unavailable(&e) => return Ok(ConsultFinding::EngineUnavailable),
            Err(e) => return Err(e),
        }
        let candidates = match engine.search(std::slice::from_ref(&group), &image, 5, self.face.settings.checks).await {
            Ok(c) => c,
            Err(e) if unavailable(&e) => return Ok(ConsultFinding::EngineUnavailable),
            Err(e) => return Err(e),
        };
        let candidates: Vec<_> = candidates.into_iter().filter(|c| enrolled.iter().any(|e| e.engine_user_id == c.user_id)).collect();
        let who = match face::recognise(&candidates, self.face.settings.thresholds) {
            Recognition::Recognised(c) => enrolled.iter().find(|e| e.engine_user_id == c.user_id).expect("filtered above").patient_id,
            Recognition::Ambiguous(_) => return Ok(ConsultFinding::Ambiguous),
            Recognition::NotRecognised => return Ok(ConsultFinding::Nobody),
        };
        let booking = bookings.iter().filter(|b| b.patient_id == who).min_by(|a, b| a.start_time.cmp(&b.start_time)).expect("booked with the doctor");
        let summary = self.store.patient_by_id(who).await?.ok_or(ErrorCode::PatientNotFound)?;
        let his = self.his.patient(&summary.his_patient_id).await?.ok_or(ErrorCode::PatientNotFound)?;
        let entry = actor.entry("face.release", format!("patient:{who}"), &format!("{} {doctor_code} {}", room.trim(), booking.booking_no));
        self.store.audit(&entry, self.now()).await?;
        Ok(ConsultFinding::Found(Box::new(ConsultPatient {
            his_patient_id: his.his_patient_id,
            mr_no: his.mr_no,
            name: his.name,
            sex: match his.gender {
                Gender::Male => "男",
                Gender::Female => "女",
            },
            age: age_on(his.birth_date, day),
            booking_no: booking.booking_no.clone(),
            dept_name: booking.dept_name.clone(),
            doctor_name: booking.doctor_name.clone(),
            start_time: booking.start_time.clone(),
            see_no: booking.see_no,
            allergies: his.allergies,
            insurance_kind: his.coverage.kind.label_zh().to_owned(),
        })))
    }

    /// Adds every enrolment not yet in `group` to it, by face token (no new capture).
    pub(crate) async fn fill_group(&self, group: &str, enrolled: &[face::Enrolment]) -> Result<(), DomainError> {
        let engine = self.face_engine()?;
        let present = self.store.face_group_enrolments(group).await?;
        for e in enrolled.iter().filter(|e| !present.contains(&e.id)) {
            let Some(token) = self.store.face_token(e.id).await? else { continue };
            engine.add_face(group, &e.engine_user_id, FaceInput::Token(&token), face::FaceChecks::NONE).await?;
            self.store.add_face_group_member(self.store.db(), e.id, group, self.now()).await?;
        }
        Ok(())
    }
}
