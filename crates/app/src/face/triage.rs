//! Triage check-in (刷脸报到, FACE-2): the nurse at a clinic area's desk scans a face; it is
//! searched among the enrolled patients **booked today in this area** only (a small group
//! of the engine, filled from the enrolment set by face token when first needed), never the
//! whole city. One clear match shows the patient's bookings of today here; two close
//! candidates ask for the ID card; nobody, or the engine away, offers the ID card or the
//! booking number at once. Check-in goes through the registration path that exists (the
//! HIS queue number); the nurse's room goes on the booking, and the ticket carries the
//! queue number, room, doctor and a QR code that follows the queue on the phone.
use crate::{Actor, App};
use domain::face::{self, Recognition};
use domain::identity::IdCardNo;
use domain::registration::BookingState;
use domain::{DomainError, ErrorCode};
use store::registration::{BookingChange, BookingRow, booking_state};

/// A clinic area as its desk serves it: one or more departments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskArea {
    depts: Vec<String>,
}

impl DeskArea {
    /// The departments a desk serves (`0101,0102`); at least one, each a HIS department code.
    pub fn parse(list: &str) -> Result<Self, DomainError> {
        let mut depts: Vec<String> = list.split(',').map(|d| d.trim().to_owned()).filter(|d| !d.is_empty()).collect();
        depts.sort();
        depts.dedup();
        let valid = |d: &String| d.len() <= 16 && d.chars().all(|c| c.is_ascii_alphanumeric());
        if depts.is_empty() || depts.len() > 20 || !depts.iter().all(valid) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "a desk serves 1–20 departments by code"));
        }
        Ok(Self { depts })
    }

    pub fn depts(&self) -> &[String] {
        &self.depts
    }

    /// The area's code in engine group ids.
    fn code(&self) -> String {
        self.depts.join("_")
    }

    fn serves(&self, b: &BookingRow) -> bool {
        self.depts.contains(&b.dept_id)
    }
}

/// A booking of today as the desk shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeskBooking {
    pub booking_no: String,
    pub patient_name_masked: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub start_time: String,
    pub end_time: String,
    pub location: String,
    pub checked_in: bool,
}

/// What the desk found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DeskFinding {
    /// One person, with their bookings of today in this area (none: not booked here today).
    Found(Vec<DeskBooking>),
    /// Two or more too close to tell apart: confirm by ID card.
    Ambiguous,
    /// Nobody enrolled and booked here today looks like this: another way.
    Nobody,
    /// The face engine is away or refuses: another way, at once.
    EngineUnavailable,
}

/// A check-in's ticket (printed at 58 or 80 mm).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub booking_no: String,
    pub patient_name_masked: String,
    pub queue_no: u32,
    pub ahead: u32,
    pub room: String,
    pub dept_name: String,
    pub doctor_name: String,
    pub start_time: String,
    pub end_time: String,
}

fn today_string(app: &App) -> String {
    app.today().format("%Y-%m-%d").to_string()
}

impl App {
    /// Today's live bookings (confirmed or checked in) in the area.
    async fn area_bookings(&self, area: &DeskArea) -> Result<Vec<BookingRow>, DomainError> {
        let mut rows = self.live_bookings_today().await?;
        rows.retain(|b| area.serves(b));
        Ok(rows)
    }

    /// Today's bookings a desk or a room may still see: confirmed or checked in.
    pub(crate) async fn live_bookings_today(&self) -> Result<Vec<BookingRow>, DomainError> {
        let day = today_string(self);
        let mut rows = self.store.bookings_on(&day, BookingState::Confirmed).await?;
        rows.extend(self.store.bookings_on(&day, BookingState::CheckedIn).await?);
        Ok(rows)
    }

    async fn desk_booking(&self, b: &BookingRow) -> Result<DeskBooking, DomainError> {
        let name = self.store.patient_by_id(b.patient_id).await?.map(|p| p.name_masked).unwrap_or_default();
        Ok(DeskBooking {
            booking_no: b.booking_no.clone(),
            patient_name_masked: name,
            dept_name: b.dept_name.clone(),
            doctor_name: b.doctor_name.clone(),
            start_time: b.start_time.clone(),
            end_time: b.end_time.clone(),
            location: b.location.clone(),
            checked_in: booking_state(b) == BookingState::CheckedIn,
        })
    }

    async fn desk_bookings(&self, rows: &[&BookingRow]) -> Result<Vec<DeskBooking>, DomainError> {
        let mut out = Vec::new();
        for b in rows {
            out.push(self.desk_booking(b).await?);
        }
        out.sort_by(|a, b| a.start_time.cmp(&b.start_time));
        Ok(out)
    }

    /// Makes sure every enrolled patient booked today in the area is in the area's day
    /// group (added by face token: no new capture). Returns the group and who is in it.
    async fn area_day_group(&self, area: &DeskArea, bookings: &[BookingRow]) -> Result<(String, Vec<face::Enrolment>), DomainError> {
        let group = face::area_day_group(&self.face.settings.group_prefix, &area.code(), self.today());
        let mut patients: Vec<i64> = bookings.iter().map(|b| b.patient_id).collect();
        patients.sort_unstable();
        patients.dedup();
        let enrolled = self.store.active_face_enrolments(&patients).await?;
        self.fill_group(&group, &enrolled).await?;
        Ok((group, enrolled))
    }

    /// A face scanned at the desk. Refusals of the picture itself (no face, blurred, a
    /// photo of a photo) are errors the nurse sees to retake; the engine away is
    /// [`DeskFinding::EngineUnavailable`]. Audited when someone is found.
    pub async fn desk_scan(&self, area: &DeskArea, capture: Vec<u8>, actor: &Actor) -> Result<DeskFinding, DomainError> {
        let image = super::capture_of(capture, self.face.settings.max_image_bytes)?;
        let engine = self.face_engine()?;
        let bookings = self.area_bookings(area).await?;
        let unavailable = |e: &DomainError| matches!(e.code, ErrorCode::UpstreamUnavailable | ErrorCode::FaceEngineRefused);
        let (group, enrolled) = match self.area_day_group(area, &bookings).await {
            Ok(g) => g,
            Err(e) if unavailable(&e) => return Ok(DeskFinding::EngineUnavailable),
            Err(e) => return Err(e),
        };
        if enrolled.is_empty() {
            return Ok(DeskFinding::Nobody);
        }
        let candidates = match engine.search(std::slice::from_ref(&group), &image, 5, self.face.settings.checks).await {
            Ok(c) => c,
            Err(e) if unavailable(&e) => return Ok(DeskFinding::EngineUnavailable),
            Err(e) => return Err(e),
        };
        // Only someone still enrolled counts (a withdrawal may be on its way to the engine).
        let candidates: Vec<_> = candidates.into_iter().filter(|c| enrolled.iter().any(|e| e.engine_user_id == c.user_id)).collect();
        match face::recognise(&candidates, self.face.settings.thresholds) {
            Recognition::Recognised(c) => {
                let e = enrolled.iter().find(|e| e.engine_user_id == c.user_id).expect("filtered above");
                let mine: Vec<&BookingRow> = bookings.iter().filter(|b| b.patient_id == e.patient_id).collect();
                let entry = actor.entry("face.scan", format!("patient:{}", e.patient_id), &format!("triage {}", area.code()));
                self.store.audit(&entry, self.now()).await?;
                Ok(DeskFinding::Found(self.desk_bookings(&mine).await?))
            }
            Recognition::Ambiguous(_) => Ok(DeskFinding::Ambiguous),
            Recognition::NotRecognised => Ok(DeskFinding::Nobody),
        }
    }

    /// The other way: the ID card read (or typed) at the desk. Audited.
    pub async fn desk_find_by_id_number(&self, area: &DeskArea, id_number: &str, actor: &Actor) -> Result<DeskFinding, DomainError> {
        let id = IdCardNo::parse(id_number, self.today())?;
        let patients = self.store.patient_ids_by_id_hash(&self.store.id_no_hash(&id)).await?;
        let bookings = self.area_bookings(area).await?;
        let mine: Vec<&BookingRow> = bookings.iter().filter(|b| patients.contains(&b.patient_id)).collect();
        let entry = actor.entry("triage.find_by_id", format!("area:{}", area.code()), &format!("{} bookings", mine.len()));
        self.store.audit(&entry, self.now()).await?;
        Ok(DeskFinding::Found(self.desk_bookings(&mine).await?))
    }

    /// The other way: booking numbers (the QR on the patient's phone; the desk's page
    /// shows what a scan found by them too). Those not of today in the area are left out.
    pub async fn desk_find_by_booking(&self, area: &DeskArea, booking_nos: &[&str]) -> Result<DeskFinding, DomainError> {
        let bookings = self.area_bookings(area).await?;
        let mine: Vec<&BookingRow> = bookings.iter().filter(|b| booking_nos.iter().any(|n| n.trim() == b.booking_no)).collect();
        Ok(DeskFinding::Found(self.desk_bookings(&mine).await?))
    }

    /// Checks a booking of today in the area in through the HIS (its queue number), puts the
    /// nurse's room on it and answers the ticket. A second check-in reprints the ticket.
    pub async fn desk_check_in(&self, area: &DeskArea, booking_no: &str, room: &str, actor: &Actor) -> Result<Ticket, DomainError> {
        let room = room.trim();
        if room.chars().count() > 30 || room.chars().any(char::is_control) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "room"));
        }
        let row = self.store.booking(booking_no).await?;
        if !area.serves(&row) || row.visit_date != today_string(self) {
            return Err(DomainError::new(ErrorCode::BookingNotFound, "not a booking of today in this area"));
        }
        let state = booking_state(&row);
        if !matches!(state, BookingState::Confirmed | BookingState::CheckedIn) {
            return Err(DomainError::new(ErrorCode::CheckInNotOpen, "booking not confirmed"));
        }
        let now = self.now();
        let q = self.his.check_in(row.reg_id.as_deref().unwrap_or_default()).await?;
        let room = if room.is_empty() { q.room.clone() } else { room.to_owned() };
        let change = || BookingChange { checked_in_at: Some(now), location: Some(room.clone()), ..Default::default() };
        let txn = self.store.write_txn().await?;
        if !self.store.move_booking(&txn, booking_no, &[BookingState::Confirmed], BookingState::CheckedIn, change(), now).await? {
            // Checked in before (a reprint, or the patient's own 签到): the room is the nurse's.
            let change = BookingChange { location: Some(room.clone()), ..Default::default() };
            self.store.move_booking(&txn, booking_no, &[BookingState::CheckedIn], BookingState::CheckedIn, change, now).await?;
        }
        let entry = actor.entry("booking.check_in", format!("booking:{booking_no}"), &format!("排队号{} {room}", q.queue_no));
        self.store.append_audit(&txn, &entry, now).await?;
        txn.commit().await.map_err(store::db_err)?;
        self.ticket_of(row, &q, room).await
    }

    async fn ticket_of(&self, row: BookingRow, q: &domain::ports::QueueStatus, room: String) -> Result<Ticket, DomainError> {
        let name = self.store.patient_by_id(row.patient_id).await?.map(|p| p.name_masked).unwrap_or_default();
        Ok(Ticket {
            booking_no: row.booking_no,
            patient_name_masked: name,
            queue_no: q.queue_no,
            ahead: q.ahead,
            room,
            dept_name: row.dept_name,
            doctor_name: row.doctor_name,
            start_time: row.start_time,
            end_time: row.end_time,
        })
    }
}

impl App {
    /// A checked-in booking's ticket, again (the queue as the HIS has it now).
    pub async fn desk_ticket(&self, area: &DeskArea, booking_no: &str) -> Result<Ticket, DomainError> {
        let row = self.store.booking(booking_no).await?;
        if !area.serves(&row) || row.visit_date != today_string(self) || booking_state(&row) != BookingState::CheckedIn {
            return Err(DomainError::new(ErrorCode::BookingNotFound, "no checked-in booking of today in this area"));
        }
        let q = self.his.queue_status(row.reg_id.as_deref().unwrap_or_default()).await?.ok_or(ErrorCode::BookingNotFound)?;
        let room = row.location.clone();
        self.ticket_of(row, &q, room).await
    }
}

/// A QR code of `text` as an image the pages may show under the CSP.
pub fn qr_image(text: &str) -> String {
    crate::cards::svg_uri(&render::qr_svg(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_desk_serves_listed_departments_only() {
        let a = DeskArea::parse(" 0102,0101 ,0101").unwrap();
        assert_eq!(a.depts(), ["0101", "0102"]);
        assert_eq!(a.code(), "0101_0102");
        let too_many = (0..21).map(|i| format!("{i:04}")).collect::<Vec<_>>().join(",");
        for bad in ["", ",", "01 01", "0101;drop", &too_many] {
            assert_eq!(DeskArea::parse(bad).unwrap_err().code, ErrorCode::ValidationFailed, "{bad:?}");
        }
    }
}
