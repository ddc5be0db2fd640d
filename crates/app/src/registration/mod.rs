//! Registration (挂号): book a slot, hold it in the HIS, pay, confirm; release it when the
//! patient gives up or time runs out; cancel (退号) with a refund; the journey's events.
//!
//! The booking row is written (`Locking`) before the HIS is asked, with a job that settles
//! it should the answer be lost or the process die (G5): `lock_reg` is idempotent on our
//! booking number, so asking again tells us what the HIS holds. One live booking per
//! patient per session is a unique key in the store, not a check that can race.
use crate::billing::RefundPreview;
use crate::job::{JobError, JobHandler, retry};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use domain::billing::{Channel, OrderEvent, OrderLine, OrderState, PerChannel, Purpose};
use domain::insurance::Eligibility;
use domain::ports::{QueueStatus, SlotLock};
use domain::registration::{BookingState, Doctor, SessionChange};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::json;
use store::outbox::NewJob;
use store::registration::{BookingChange, BookingRow, NewBooking, booking_state};

pub mod catalogue;
pub mod console;
pub mod rebook;

/// Settles a booking whose HIS answer never came.
pub const BOOKING_SETTLE_LOCK: &str = "registration.settle_lock";
/// Releases the HIS lock of a booking whose order closed unpaid.
pub const BOOKING_RELEASE: &str = "registration.release";
/// Requests the refund of a cancelled (退号) booking.
pub const BOOKING_REFUND: &str = "registration.refund";
/// Records the reminders of a confirmed booking when their time comes.
pub const BOOKING_REMIND: &str = "registration.remind";

/// The journey events this module writes (the message platform delivers them).
pub mod events {
    pub const CONFIRMED: &str = "booking.confirmed";
    pub const CANCELLED: &str = "booking.cancelled";
    pub const LOCK_LOST: &str = "booking.lock_lost";
    /// The hold lapsed unpaid: the place went back (issue 17 item 5).
    pub const RELEASED: &str = "booking.released";
    pub const VISIT_TOMORROW: &str = "booking.visit_tomorrow";
    pub const TAKE_NUMBER: &str = "booking.take_number";
    pub const SESSION_SUSPENDED: &str = "session.suspended";
    pub const SESSION_RESCHEDULED: &str = "session.rescheduled";
    pub const SESSION_SUBSTITUTED: &str = "session.substituted";
}

/// The staff change a booking's session went through, if any.
pub fn session_change_of(row: &BookingRow) -> Option<SessionChange> {
    row.session_change.as_deref().and_then(|s| serde_json::from_str(s).ok())
}

fn suspended(row: &BookingRow) -> bool {
    matches!(session_change_of(row), Some(SessionChange::Suspend { .. }))
}

/// A booking that holds its place and waits for payment.
#[derive(Debug)]
pub struct Booked {
    pub booking_no: String,
    /// `None` when the registration is free and was confirmed at once.
    pub order_no: Option<String>,
}

/// A booking as its patient sees it.
pub struct PatientBooking {
    /// The booking as kept (a plain record of `domain`, not the stored row).
    pub row: domain::registration::BookingRecord,
    pub state: BookingState,
    pub patient_name_masked: String,
    /// What INS-2 decided at booking (the page explains a refusal).
    pub eligibility: Option<Eligibility>,
    pub cancellable: bool,
    /// On the visit day, from an hour before the slot until it ends.
    pub can_check_in: bool,
    /// The queue position once checked in (detail view only).
    pub queue: Option<QueueStatus>,
    /// 改约 moved it to this booking (its payment went along).
    pub replaced_by: Option<String>,
    /// A 改约 whose HIS confirmation is still being settled: nothing to pay.
    pub carrying: bool,
}

/// A cancellation before it happens.
pub struct CancellationPreview {
    pub booking: PatientBooking,
    /// What goes back, per channel (none for a booking not yet paid).
    pub refund: Option<RefundPreview>,
}

/// How early before its slot a booking may check in.
const CHECK_IN_OPENS_BEFORE_MINUTES: i64 = 60;

/// `RG` + local timestamp + 8 random hex digits: our channelOrderNo at the HIS.
fn new_booking_no(now: DateTime<Utc>) -> String {
    format!("RG{}{}", domain::clock::to_local(now).format("%Y%m%d%H%M%S"), hex::encode_upper(crypto::random_bytes::<4>()))
}

/// A failure that says nothing about what the other side did (busy: this call was not
/// sent, but an earlier one may have been).
fn transient(e: &DomainError) -> bool {
    matches!(e.code, ErrorCode::HisUnavailable | ErrorCode::UpstreamUnavailable | ErrorCode::StoreUnavailable | ErrorCode::HisBusy)
}

/// Places left in a slot: its capacity, less what others than us had taken when the HIS
/// was last asked (the window, other channels), less the places our own bookings hold
/// now (every booking since, on every node).
fn places_left(slot: &domain::registration::Slot, held: &std::collections::HashMap<String, u32>, others: &std::collections::HashMap<String, u32>) -> u32 {
    let count = |m: &std::collections::HashMap<String, u32>| m.get(&slot.slot_id).copied().unwrap_or(0);
    slot.capacity.saturating_sub(count(others)).saturating_sub(count(held))
}

/// The local start of a booking's slot.
fn starts_at(row: &BookingRow) -> Option<DateTime<Utc>> {
    at_local(&row.visit_date, &row.start_time)
}

fn ends_at(row: &BookingRow) -> Option<DateTime<Utc>> {
    at_local(&row.visit_date, &row.end_time)
}

fn at_local(date: &str, time: &str) -> Option<DateTime<Utc>> {
    let date = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
    let time = NaiveTime::parse_from_str(time, "%H:%M").ok()?;
    Some(domain::clock::local_to_utc(date.and_time(time)))
}

fn check_in_open(row: &BookingRow, now: DateTime<Utc>) -> bool {
    match (starts_at(row), ends_at(row)) {
        (Some(s), Some(e)) => now >= s - Duration::minutes(CHECK_IN_OPENS_BEFORE_MINUTES) && now < e,
        _ => false,
    }
}

/// What a notice about this booking needs, whoever sends it.
fn event_payload(row: &BookingRow, patient_name_masked: &str) -> serde_json::Value {
    json!({
        "booking_no": row.booking_no, "patient_id": row.patient_id, "patient_name_masked": patient_name_masked,
        "dept_id": row.dept_id, "dept_name": row.dept_name, "doctor_name": row.doctor_name, "doctor_title": row.doctor_title,
        "visit_date": row.visit_date, "period": row.period, "start_time": row.start_time, "end_time": row.end_time,
        "location": row.location, "see_no": row.see_no, "fee": row.fee, "order_no": row.order_no,
        "link": format!("/registrations/{}", row.booking_no),
    })
}

impl App {
    /// Places left per slot of a session (see `places_left`): what a session's page and
    /// the availability API show.
    pub async fn session_places(
        &self,
        view: &crate::registration::catalogue::DepartmentView,
        schedule: &domain::registration::Schedule,
    ) -> Result<std::collections::HashMap<String, u32>, DomainError> {
        let held = self.places_held(&schedule.schedule_id).await?;
        Ok(schedule.slots.iter().map(|s| (s.slot_id.clone(), places_left(s, &held, &view.taken_by_others))).collect())
    }

    /// Places our bookings hold per slot of a session, as counted at most
    /// `HELD_FRESH_FOR` ago: under the 8:00 rush thousands of taps per second ask about
    /// the same few sessions, and one count serves them all. The exact count is taken
    /// again, under the slot's lock, before a place is written.
    async fn places_held(&self, schedule_id: &str) -> Result<crate::admission::PlacesHeld, DomainError> {
        if let Some(h) = self.held_cache.get(schedule_id) {
            return Ok(h);
        }
        let held = std::sync::Arc::new(self.store.places_held(schedule_id).await?);
        self.held_cache.put(schedule_id, held.clone());
        Ok(held)
    }

    /// Records a journey event about a booking, in the caller's transaction: everything a
    /// notice needs, plus `extra` fields. Once per kind and booking (and `variant`, for
    /// events that can happen more than once, such as different session changes).
    async fn record_booking_event<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        kind: &str,
        variant: &str,
        row: &BookingRow,
        extra: Option<serde_json::Value>,
    ) -> Result<bool, DomainError> {
        let name = self.store.patient_by_id(row.patient_id).await?.map(|p| p.name_masked).unwrap_or_default();
        let mut payload = event_payload(row, &name);
        if let Some(serde_json::Value::Object(m)) = extra {
            payload.as_object_mut().expect("payload is an object").extend(m);
        }
        let key = if variant.is_empty() { format!("{kind}:{}", row.booking_no) } else { format!("{kind}:{}:{variant}", row.booking_no) };
        self.store.record_event(conn, kind, &key, Some(row.patient_id), &payload, self.now()).await
    }

    /// Books a slot for one of the account's patients: checks what can be checked here,
    /// writes the booking, locks the slot in the HIS and opens the order that pays it.
    pub async fn book(&self, account_id: i64, patient_id: i64, dept_id: &str, slot_id: &str, actor: &Actor) -> Result<Booked, DomainError> {
        self.book_inner(account_id, patient_id, dept_id, slot_id, actor, None).await
    }

    /// [`App::book`]; with `carry`, the new booking is paid by that booking's order (改约).
    pub(crate) async fn book_inner(
        &self,
        account_id: i64,
        patient_id: i64,
        dept_id: &str,
        slot_id: &str,
        actor: &Actor,
        carry: Option<&BookingRow>,
    ) -> Result<Booked, DomainError> {
        let now = self.now();
        let view = self.department_view(dept_id).await?;
        let schedule_id = slot_id.rsplit_once('-').map(|(s, _)| s).ok_or(ErrorCode::SlotNotBookable)?;
        let schedule = view.schedules.iter().find(|s| s.schedule_id == schedule_id).ok_or(ErrorCode::SlotNotBookable)?;
        let slot = schedule.slots.iter().find(|s| s.slot_id == slot_id).ok_or(ErrorCode::SlotNotBookable)?;
        if schedule.suspended {
            return Err(ErrorCode::SessionSuspended.into());
        }
        // Same-day registration is open until the slot ends.
        if domain::clock::local_to_utc(schedule.date.and_time(slot.end)) <= now {
            return Err(ErrorCode::SlotNotBookable.into());
        }
        // Admission control, first of all (a sold-out answer is public and must be cheap):
        // sold out by our own count — places held (as of a moment ago), and places other
        // bookings on this node are about to take — is answered here, without the HIS and
        // without queueing for the database's write lock.
        let held = self.places_held(&schedule.schedule_id).await?;
        let left = places_left(slot, &held, &view.taken_by_others);
        if left == 0 {
            metrics::counter!("carebridge_booking_sold_out_total").increment(1);
            let full = schedule.slots.iter().all(|s| places_left(s, &held, &view.taken_by_others) == 0);
            return Err(if full { ErrorCode::SessionFull } else { ErrorCode::SlotTaken }.into());
        }
        // A second tap of the same patient must not take a place from someone else.
        if self.store.live_booking(patient_id, &schedule.schedule_id).await?.is_some() {
            return Err(ErrorCode::BookingDuplicate.into());
        }
        // Other taps on this node are taking the last places right now: they may yet fail,
        // so this is "try again in a moment", not "sold out".
        let Some(claim) = self.slot_claims.claim(&slot.slot_id, left) else {
            metrics::counter!("carebridge_booking_claims_busy_total").increment(1);
            return Err(DomainError::new(ErrorCode::HisBusy, "the slot's last places are being booked"));
        };
        let patient = self.store.patient_summary(account_id, patient_id).await?;
        if self.store.blacklisting(&patient.his_patient_id, now).await?.is_some() {
            return Err(ErrorCode::BookingBlacklisted.into());
        }
        let doctor: &Doctor = view.doctors.iter().find(|d| d.doctor_code == schedule.doctor_code).ok_or(ErrorCode::SlotNotBookable)?;
        let booking_no = new_booking_no(now);
        let new = NewBooking {
            booking_no: booking_no.clone(),
            patient_id,
            schedule_id: schedule.schedule_id.clone(),
            slot_id: slot.slot_id.clone(),
            dept_id: dept_id.into(),
            dept_name: view.department.name.clone(),
            doctor_code: doctor.doctor_code.clone(),
            doctor_name: doctor.name.clone(),
            doctor_title: doctor.title.clone(),
            visit_date: schedule.date.to_string(),
            period: schedule.period.label_zh().into(),
            start_time: slot.start.format("%H:%M").to_string(),
            end_time: slot.end.format("%H:%M").to_string(),
            location: view.department.location.clone(),
            fee: doctor.visit_fee().ok_or_else(|| DomainError::new(ErrorCode::HisUnavailable, "doctor fees overflow"))?.0,
            // Judged once the place is ours (below): a sold-out answer costs no HIS call.
            eligibility: "null".into(),
        };
        let txn = self.store.write_txn().await?;
        // Counted again under the slot's lock: two nodes never both take its last place.
        if self.store.insert_booking_within(&txn, new, slot.capacity, now).await?.is_none() {
            metrics::counter!("carebridge_booking_sold_out_total").increment(1);
            return Err(ErrorCode::SlotTaken.into());
        }
        let settle = NewJob::new(BOOKING_SETTLE_LOCK, json!({"booking_no": booking_no}), now)
            .at(now + self.policies.lock_answer_grace)
            .dedupe(format!("{BOOKING_SETTLE_LOCK}:{booking_no}"))
            .max_attempts(30);
        self.store.enqueue(&txn, settle, now).await?;
        let what = format!("{} {} {} {}", view.department.name, doctor.name, schedule.date, slot.start.format("%H:%M"));
        self.store.append_audit(&txn, &actor.entry("booking.create", format!("booking:{booking_no}"), &what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        // The row holds the place now; every node's count sees it (this node's at once).
        self.held_cache.forget(&schedule.schedule_id);
        drop(claim);

        // The lock, and meanwhile INS-2 for the department (kept with the booking for the
        // record; the pay page judges again, so a failed lookup holds nothing back).
        let his_patient_id = patient.his_patient_id.as_str();
        let lock = async {
            // A lost answer is asked once more at once: lock_reg is idempotent on our number.
            match self.his.lock_slot(slot_id, his_patient_id, &booking_no).await {
                Err(e) if transient(&e) && e.code != ErrorCode::HisBusy => match self.his.lock_slot(slot_id, his_patient_id, &booking_no).await {
                    // The retry was not sent: what the first call did is still unknown.
                    Err(again) if again.code == ErrorCode::HisBusy => Err(e),
                    other => other,
                },
                other => other,
            }
        };
        let (lock, eligibility) = tokio::join!(lock, self.eligibility(his_patient_id, Some(dept_id)));
        let eligibility = match eligibility {
            Ok((_, e)) => serde_json::to_string(&e).expect("eligibility serialises"),
            Err(e) => {
                tracing::warn!(booking_no, code = e.code.code(), detail = %e.detail, "INS-2 not judged at booking; the pay page judges it");
                "null".to_owned()
            }
        };
        let lock = match lock {
            // Admission turned the first call away: it never reached the HIS, nothing is held.
            Err(e) if e.code == ErrorCode::HisBusy => {
                self.fail_locking(&booking_no, "医院系统繁忙，未能锁号，请稍后再试".into()).await?;
                return Err(e);
            }
            other => other,
        };
        match lock {
            Ok(lock) => {
                crate::crash::point(crate::crash::AFTER_HIS_LOCK);
                let row = self.store.booking(&booking_no).await?;
                let order_no = self.attach_lock(&row, &lock, eligibility, carry).await?;
                Ok(Booked { booking_no, order_no })
            }
            // Unknown: the settle job finds out and releases whatever the HIS holds.
            Err(e) if transient(&e) => Err(e),
            Err(e) => {
                self.fail_locking(&booking_no, format!("医院系统未能锁号：{}", e.code.message_zh())).await?;
                // The page showed a place the HIS does not have: read it afresh next time.
                self.catalogue.forget_department(dept_id, self.today());
                Err(e)
            }
        }
    }

    /// A booking still `Locking` that holds nothing at the HIS: `Failed`, with why.
    async fn fail_locking(&self, booking_no: &str, note: String) -> Result<bool, DomainError> {
        let change = BookingChange { note: Some(note), ..Default::default() };
        self.store.move_booking(self.store.db(), booking_no, &[BookingState::Locking], BookingState::Failed, change, self.now()).await
    }

    /// A lock the HIS granted: the order that pays it (one per booking, found again after
    /// a crash), and the booking moves to `Locked`. A free registration is confirmed at once.
    async fn attach_lock(&self, row: &BookingRow, lock: &SlotLock, eligibility: String, carry: Option<&BookingRow>) -> Result<Option<String>, DomainError> {
        let now = self.now();
        let change = |order_no: Option<String>| BookingChange {
            eligibility: Some(eligibility.clone()),
            pre_id: Some(lock.pre_id.clone()),
            see_no: Some(lock.see_no as i32),
            order_no,
            lock_expires_at: Some(lock.expires_at),
            fee: Some(lock.reg_fee.0),
            ..Default::default()
        };
        if let Some(old) = carry {
            if lock.reg_fee.0 != old.fee {
                // The HIS asks a different fee than the page showed: nothing can be carried.
                self.his.unlock_slot(&lock.pre_id).await.or_else(|e| if e.code == ErrorCode::HisRejected { Ok(()) } else { Err(e) })?;
                self.fail_locking(&row.booking_no, "挂号费与原预约不同，改约未完成".into()).await?;
                return Err(DomainError::new(ErrorCode::SlotNotBookable, "fee differs from the carried booking"));
            }
            self.attach_carried_lock(row, change(None), old).await?;
            return Ok(None);
        }
        if lock.reg_fee.0 == 0 {
            let reg = self.his.confirm_registration(&lock.pre_id, &row.booking_no, Fen::ZERO).await?;
            let txn = self.store.write_txn().await?;
            let mut c = change(None);
            c.reg_id = Some(reg.reg_id);
            c.see_no = Some(reg.see_no as i32);
            if self.store.move_booking(&txn, &row.booking_no, &[BookingState::Locking], BookingState::Confirmed, c, now).await? {
                self.booking_confirmed_effects(&txn, &row.booking_no).await?;
            }
            txn.commit().await.map_err(store::db_err)?;
            return Ok(None);
        }
        let subject = format!("reg:{}", row.booking_no);
        let order_no = match self.store.open_order_for_subject(&subject).await? {
            Some(o) => o.order_no,
            None => {
                let line = OrderLine {
                    code: "REG".into(),
                    name: format!("挂号费（{}）", row.doctor_title),
                    qty: 1,
                    unit_price: lock.reg_fee,
                    amount: lock.reg_fee,
                    insurable: true,
                };
                let who = Actor::system("registration");
                self.create_order_until(
                    Some(row.patient_id),
                    Purpose::Registration,
                    vec![line],
                    Some(&subject),
                    Some(&row.dept_id),
                    Some(lock.expires_at),
                    &who,
                )
                .await?
            }
        };
        if !self
            .store
            .move_booking(self.store.db(), &row.booking_no, &[BookingState::Locking], BookingState::Locked, change(Some(order_no.clone())), now)
            .await?
        {
            // Settled meanwhile (released after a lost answer): the order has nothing to buy.
            self.apply_if_current(&order_no, OrderEvent::Expired).await?;
            return Err(DomainError::new(ErrorCode::BookingNotCancellable, "booking settled while locking"));
        }
        Ok(Some(order_no))
    }

    /// Writes what a confirmed booking sets off, in the caller's transaction: the
    /// "booking confirmed" event, and the jobs that will record the visit-day reminders.
    async fn booking_confirmed_effects<C: sea_orm::ConnectionTrait>(&self, conn: &C, booking_no: &str) -> Result<(), DomainError> {
        let row = store::registration::booking_in(conn, booking_no).await?;
        let now = self.now();
        self.record_booking_event(conn, events::CONFIRMED, "", &row, None).await?;
        if let Some(start) = starts_at(&row) {
            // The evening before at the configured hour (local), and 30 minutes before the slot.
            let local_start = domain::clock::to_local(start);
            let hour = self.policies.visit_reminder_hour.min(23);
            let eve = local_start.date_naive().pred_opt().map(|d| domain::clock::local_to_utc(d.and_hms_opt(hour, 0, 0).expect("valid time")));
            for (kind, at) in [(events::VISIT_TOMORROW, eve), (events::TAKE_NUMBER, Some(start - Duration::minutes(30)))] {
                let Some(at) = at.filter(|t| *t > now) else { continue };
                let job = NewJob::new(BOOKING_REMIND, json!({"booking_no": booking_no, "kind": kind}), now).at(at).dedupe(format!("{kind}:{booking_no}"));
                self.store.enqueue(conn, job, now).await?;
            }
        }
        Ok(())
    }

    /// Fulfils a paid registration: confirms it in the HIS. A lock the HIS no longer has
    /// makes the booking `LockLost` and refunds everything (P6).
    pub(crate) async fn confirm_booking(&self, booking_no: &str, order_no: &str, amount: Fen) -> Result<(), DomainError> {
        let row = self.store.booking(booking_no).await?;
        match booking_state(&row) {
            BookingState::Confirmed | BookingState::CheckedIn | BookingState::Cancelled => {
                return self.apply_if_current(order_no, OrderEvent::Fulfilled).await;
            }
            BookingState::Locked => {}
            _ => return self.booking_lock_lost(&row, order_no, "预约已失效").await,
        }
        let pre_id = row.pre_id.clone().unwrap_or_default();
        crate::crash::point(crate::crash::BEFORE_HIS_CONFIRM);
        match self.his.confirm_registration(&pre_id, order_no, amount).await {
            Ok(reg) => {
                crate::crash::point(crate::crash::AFTER_HIS_CONFIRM);
                let now = self.now();
                let txn = self.store.write_txn().await?;
                let change = BookingChange { reg_id: Some(reg.reg_id.clone()), see_no: Some(reg.see_no as i32), ..Default::default() };
                if self.store.move_booking(&txn, booking_no, &[BookingState::Locked], BookingState::Confirmed, change, now).await? {
                    self.booking_confirmed_effects(&txn, booking_no).await?;
                    let what = format!("{} 就诊序号{}", reg.reg_id, reg.see_no);
                    self.store.append_audit(&txn, &Actor::system("registration").entry("booking.confirm", format!("booking:{booking_no}"), &what), now).await?;
                }
                txn.commit().await.map_err(store::db_err)?;
                self.apply_if_current(order_no, OrderEvent::Fulfilled).await
            }
            Err(e) if e.code == ErrorCode::HisRejected => self.booking_lock_lost(&row, order_no, "医院系统已不再保留该号源").await,
            Err(e) => Err(e),
        }
    }

    async fn booking_lock_lost(&self, row: &BookingRow, order_no: &str, why: &str) -> Result<(), DomainError> {
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let from = [BookingState::Locking, BookingState::Locked, BookingState::Released, BookingState::Failed];
        let note = Some(format!("{why}，已全额退款"));
        if self.store.move_booking(&txn, &row.booking_no, &from, BookingState::LockLost, BookingChange { note, ..Default::default() }, now).await? {
            self.record_booking_event(&txn, events::LOCK_LOST, "", row, None).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        self.fulfilment_failed(order_no, why).await
    }

    /// Releases the HIS lock of a booking that will not be paid; `why` is what the
    /// patient reads. When the hold `lapsed` (nobody acted), the patient is told the place
    /// went back. Safe to repeat.
    pub(crate) async fn release_booking(&self, booking_no: &str, why: &str, lapsed: bool) -> Result<(), DomainError> {
        let row = self.store.booking(booking_no).await?;
        if booking_state(&row) != BookingState::Locked {
            return Ok(());
        }
        if let Some(pre_id) = row.pre_id.as_deref() {
            match self.his.unlock_slot(pre_id).await {
                // Already gone at the HIS (its own timer released it): the same outcome.
                Ok(()) => {}
                Err(e) if e.code == ErrorCode::HisRejected => {}
                Err(e) => return Err(e),
            }
        }
        let note = Some(why.to_owned());
        let txn = self.store.write_txn().await?;
        let moved = self
            .store
            .move_booking(&txn, booking_no, &[BookingState::Locked], BookingState::Released, BookingChange { note, ..Default::default() }, self.now())
            .await?;
        if moved && lapsed {
            self.record_booking_event(&txn, events::RELEASED, "", &row, None).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        // The place is free again: this node's page shows it at once.
        self.held_cache.forget(&row.schedule_id);
        self.catalogue.forget_department(&row.dept_id, self.today());
        Ok(())
    }

    /// What 退号 (or cancelling an unpaid booking) would do, for the patient to confirm:
    /// the booking, and where each part of the fee goes back.
    pub async fn cancellation_preview(&self, account_id: i64, booking_no: &str) -> Result<CancellationPreview, DomainError> {
        let booking = self.patient_booking(account_id, booking_no).await?;
        let refund = match (&booking.row.order_no, booking.state) {
            (Some(order_no), BookingState::Confirmed) => {
                let (order, _) = self.store.order(order_no).await?;
                Some(RefundPreview::of(&order, true, order.refundable(Channel::SelfPay)))
            }
            _ => None,
        };
        Ok(CancellationPreview { booking, refund })
    }

    /// The patient cancels: before paying, the order closes and the lock is released;
    /// after, the HIS cancels the registration (退号) and the money goes back by the
    /// refund rules. Too close to the visit, the HIS or our deadline refuses.
    pub async fn cancel_booking(&self, account_id: i64, booking_no: &str, actor: &Actor) -> Result<BookingState, DomainError> {
        let row = self.store.booking(booking_no).await?;
        self.store.patient_summary(account_id, row.patient_id).await.map_err(|_| DomainError::from(ErrorCode::BookingNotFound))?;
        match booking_state(&row) {
            BookingState::Locked => {
                let order_no = row.order_no.clone().unwrap_or_default();
                // Whatever the channels know comes in first: money on its way makes this a
                // paid booking, not an abandoned one.
                let state = self.resolve_payment(&order_no).await?;
                // Closed unpaid already (a first tap whose unlock answer the HIS lost, or
                // the payment window passed): only the HIS's place is left to give back.
                if state != OrderState::Closed {
                    if state != OrderState::Created && state != OrderState::Paying {
                        return Err(DomainError::new(ErrorCode::BookingNotCancellable, "payment settled meanwhile"));
                    }
                    let (order, _) = self.store.order(&order_no).await?;
                    if order.captured.total().0 != 0 || self.store.attempt(&order_no, crate::billing::BANK).await?.is_some() {
                        return Err(DomainError::new(ErrorCode::BookingNotCancellable, "a payment is under way"));
                    }
                    self.drop_insurance_presettlement(&order_no).await?;
                    self.apply_if_current(&order_no, OrderEvent::Expired).await?;
                }
                self.release_booking(booking_no, "您已取消预约", false).await?;
                self.store.audit(&actor.entry("booking.abandon", format!("booking:{booking_no}"), "支付前取消"), self.now()).await?;
                Ok(BookingState::Released)
            }
            BookingState::Confirmed => {
                let now = self.now();
                // A suspended session is refunded whenever the patient asks.
                if !suspended(&row) && starts_at(&row).is_none_or(|s| s - self.policies.cancel_before_start <= now) {
                    return Err(DomainError::new(ErrorCode::BookingNotCancellable, "past the online cancellation deadline"));
                }
                let reg_id = row.reg_id.clone().unwrap_or_default();
                // Stable per booking: a retry after a lost answer is the same 退号 at the HIS.
                self.his.cancel_registration(&reg_id, &format!("{booking_no}-C")).await?;
                let txn = self.store.write_txn().await?;
                let note = Some("您已退号，挂号费按原支付方式退回".to_owned());
                if self
                    .store
                    .move_booking(&txn, booking_no, &[BookingState::Confirmed], BookingState::Cancelled, BookingChange { note, ..Default::default() }, now)
                    .await?
                {
                    self.record_booking_event(&txn, events::CANCELLED, "", &row, None).await?;
                    if let Some(order_no) = &row.order_no {
                        let job = NewJob::new(BOOKING_REFUND, json!({"order_no": order_no, "booking_no": booking_no}), now)
                            .dedupe(format!("{BOOKING_REFUND}:{booking_no}"))
                            .max_attempts(30);
                        self.store.enqueue(&txn, job, now).await?;
                    }
                    self.store.append_audit(&txn, &actor.entry("booking.cancel", format!("booking:{booking_no}"), "退号"), now).await?;
                }
                txn.commit().await.map_err(store::db_err)?;
                self.catalogue.forget_department(&row.dept_id, self.today());
                Ok(BookingState::Cancelled)
            }
            _ => Err(ErrorCode::BookingNotCancellable.into()),
        }
    }

    /// 签到/取号 at the hospital on the visit day: the HIS gives the queue number. A second
    /// tap shows the same number.
    pub async fn check_in(&self, account_id: i64, booking_no: &str, actor: &Actor) -> Result<QueueStatus, DomainError> {
        let row = self.store.booking(booking_no).await?;
        self.store.patient_summary(account_id, row.patient_id).await.map_err(|_| DomainError::from(ErrorCode::BookingNotFound))?;
        let state = booking_state(&row);
        if !matches!(state, BookingState::Confirmed | BookingState::CheckedIn) {
            return Err(DomainError::new(ErrorCode::CheckInNotOpen, "booking not confirmed"));
        }
        let now = self.now();
        if state == BookingState::Confirmed && !check_in_open(&row, now) {
            return Err(ErrorCode::CheckInNotOpen.into());
        }
        let q = self.his.check_in(row.reg_id.as_deref().unwrap_or_default()).await?;
        let change = BookingChange { checked_in_at: Some(now), ..Default::default() };
        if self.store.move_booking(self.store.db(), booking_no, &[BookingState::Confirmed], BookingState::CheckedIn, change, now).await? {
            self.store.audit(&actor.entry("booking.check_in", format!("booking:{booking_no}"), &format!("排队号{}", q.queue_no)), now).await?;
        }
        Ok(q)
    }

    /// Staff suspend (停诊), reschedule (改诊) or substitute (替诊) a session: the HIS first,
    /// then every live booking takes the change and gets its journey event, in one
    /// transaction per booking. Unpaid bookings of a suspended session are released.
    /// Returns how many bookings were affected.
    pub async fn change_session(&self, dept_id: &str, schedule_id: &str, change: SessionChange, actor: &Actor) -> Result<usize, DomainError> {
        let reason = change.reason().trim();
        if reason.is_empty() || reason.chars().count() > 100 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "reason"));
        }
        let view = self.department_view(dept_id).await?;
        let schedule = view.schedules.iter().find(|s| s.schedule_id == schedule_id).ok_or(ErrorCode::NotFound)?;
        let substitute = match &change {
            SessionChange::Reschedule { shift_minutes, location, .. } => {
                let loc_ok = location.as_deref().is_none_or(|l| !l.trim().is_empty() && l.chars().count() <= 60);
                if !(-240..=240).contains(shift_minutes) || (*shift_minutes == 0 && location.is_none()) || !loc_ok {
                    return Err(DomainError::new(ErrorCode::ValidationFailed, "reschedule"));
                }
                None
            }
            SessionChange::Substitute { doctor_code, .. } => {
                let d = view.doctors.iter().find(|d| &d.doctor_code == doctor_code && d.doctor_code != schedule.doctor_code);
                Some(d.ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "substitute doctor"))?.clone())
            }
            SessionChange::Suspend { .. } => None,
        };
        self.his.change_schedule(schedule_id, &change).await?;
        self.catalogue.forget_department(dept_id, self.today());
        let change_json = serde_json::to_string(&change).expect("change serialises");
        let tag = hex::encode(&crypto::sm3::digest(change_json.as_bytes())[..6]);
        let kind = match change {
            SessionChange::Suspend { .. } => events::SESSION_SUSPENDED,
            SessionChange::Reschedule { .. } => events::SESSION_RESCHEDULED,
            SessionChange::Substitute { .. } => events::SESSION_SUBSTITUTED,
        };
        let live = [BookingState::Locking, BookingState::Locked, BookingState::Confirmed, BookingState::CheckedIn];
        let rows = self.store.bookings_of_schedule(schedule_id, &live).await?;
        let mut unpaid = Vec::new();
        for row in &rows {
            let state = booking_state(row);
            let mut c = BookingChange { session_change: Some(change_json.clone()), ..Default::default() };
            let shift = |t: &str, m: i32| NaiveTime::parse_from_str(t, "%H:%M").map(|x| (x + Duration::minutes(m.into())).format("%H:%M").to_string()).ok();
            match &change {
                SessionChange::Suspend { reason } => c.note = Some(format!("医生停诊：{reason}。可一键退号退费，或改约其他医生。")),
                SessionChange::Reschedule { shift_minutes, location, reason } => {
                    c.start_time = shift(&row.start_time, *shift_minutes);
                    c.end_time = shift(&row.end_time, *shift_minutes);
                    c.location = location.clone();
                    c.note = Some(format!("门诊调整：{reason}。请按新的时间、地点就诊；如不便可一键退号。"));
                }
                SessionChange::Substitute { reason, .. } => {
                    let d = substitute.as_ref().expect("checked above");
                    c.doctor = Some((d.doctor_code.clone(), d.name.clone(), d.title.clone()));
                    c.note = Some(format!("替诊：{reason}，由{} {}接诊；如不便可一键退号。", d.name, d.title));
                }
            }
            let now = self.now();
            let txn = self.store.write_txn().await?;
            if self.store.move_booking(&txn, &row.booking_no, &[state], state, c, now).await? {
                let after = store::registration::booking_in(&txn, &row.booking_no).await?;
                let extra = json!({
                    "change": serde_json::from_str::<serde_json::Value>(&change_json).expect("json"),
                    "before": {"start_time": row.start_time, "end_time": row.end_time, "location": row.location, "doctor_name": row.doctor_name},
                });
                self.record_booking_event(&txn, kind, &tag, &after, Some(extra)).await?;
            }
            txn.commit().await.map_err(store::db_err)?;
            if matches!(change, SessionChange::Suspend { .. }) && state == BookingState::Locked {
                unpaid.push(row.clone());
            }
        }
        // Nobody pays for a session that will not happen.
        for row in unpaid {
            if let Some(order_no) = &row.order_no
                && self.resolve_payment(order_no).await? == OrderState::Created
                && self.store.attempt(order_no, crate::billing::BANK).await?.is_none()
            {
                self.drop_insurance_presettlement(order_no).await?;
                self.apply_if_current(order_no, OrderEvent::Expired).await?;
                self.release_booking(&row.booking_no, "医生停诊，预约已取消", false).await?;
            }
        }
        let what = format!("{} {} {}：{}（{}人）", view.department.name, schedule.date, change.label_zh(), reason, rows.len());
        self.store.audit(&actor.entry("session.change", format!("schedule:{schedule_id}"), &what), self.now()).await?;
        Ok(rows.len())
    }

    /// The account's bookings, newest first.
    pub async fn patient_bookings(&self, account_id: i64, limit: u64) -> Result<Vec<PatientBooking>, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        let ids: Vec<i64> = patients.iter().map(|p| p.id).collect();
        let rows = self.store.bookings_of(&ids, limit).await?;
        let now = self.now();
        let successors: std::collections::HashMap<String, String> =
            rows.iter().filter_map(|r| r.carried_from.clone().map(|old| (old, r.booking_no.clone()))).collect();
        Ok(rows
            .into_iter()
            .map(|row| {
                let name = patients.iter().find(|p| p.id == row.patient_id).map(|p| p.name_masked.clone()).unwrap_or_default();
                let next = successors.get(&row.booking_no).cloned();
                let mut b = self.as_patient_booking(row, name, now);
                b.replaced_by = next;
                b
            })
            .collect())
    }

    /// One booking of the account's patients; another account's is "not found".
    pub async fn patient_booking(&self, account_id: i64, booking_no: &str) -> Result<PatientBooking, DomainError> {
        let row = self.store.booking(booking_no).await?;
        let p = self.store.patient_summary(account_id, row.patient_id).await.map_err(|_| DomainError::from(ErrorCode::BookingNotFound))?;
        let mut b = self.as_patient_booking(row, p.name_masked, self.now());
        if b.state == BookingState::Cancelled {
            b.replaced_by = self.store.booking_carried_from(booking_no).await?.map(|r| r.booking_no);
        }
        if b.state == BookingState::CheckedIn {
            // The queue moves on its own: asked each time, and a HIS hiccup only hides it.
            b.queue = self.his.queue_status(b.row.reg_id.as_deref().unwrap_or_default()).await.ok().flatten();
        }
        Ok(b)
    }

    fn as_patient_booking(&self, row: BookingRow, patient_name_masked: String, now: DateTime<Utc>) -> PatientBooking {
        let state = booking_state(&row);
        let carrying = state == BookingState::Locked && row.carried_from.is_some();
        let cancellable = match state {
            BookingState::Locked => !carrying,
            BookingState::Confirmed => suspended(&row) || starts_at(&row).is_some_and(|s| s - self.policies.cancel_before_start > now),
            _ => false,
        };
        let eligibility = serde_json::from_str(&row.eligibility).ok();
        let can_check_in = state == BookingState::Confirmed && !suspended(&row) && check_in_open(&row, now);
        PatientBooking { row, state, patient_name_masked, eligibility, cancellable, can_check_in, queue: None, replaced_by: None, carrying }
    }
}

fn text(payload: &serde_json::Value, k: &str) -> Result<String, JobError> {
    payload.get(k).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| JobError::Permanent(format!("payload lacks {k}")))
}

/// A booking still `Locking` after the grace period: its HIS answer was lost or the
/// process died. Asking again (idempotent) says whether the HIS holds a place; if it
/// does, nobody is waiting to pay for it, so it is released.
pub struct SettleLock;

#[async_trait]
impl JobHandler for SettleLock {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let no = text(payload, "booking_no")?;
        let row = app.store.booking(&no).await.map_err(retry)?;
        if booking_state(&row) != BookingState::Locking {
            return Ok(());
        }
        let his_id = app.store.patient_by_id(row.patient_id).await.map_err(retry)?.map(|p| p.his_patient_id).unwrap_or_default();
        let now = app.now();
        let note = |s: &str| BookingChange { note: Some(s.to_owned()), ..Default::default() };
        match app.his.lock_slot(&row.slot_id, &his_id, &no).await {
            Ok(lock) => {
                match app.his.unlock_slot(&lock.pre_id).await {
                    Ok(()) => {}
                    Err(e) if e.code == ErrorCode::HisRejected => {}
                    Err(e) => return Err(retry(e)),
                }
                app.store
                    .move_booking(app.store.db(), &no, &[BookingState::Locking], BookingState::Released, note("医院系统应答超时，号源已释放，请重新预约"), now)
                    .await
                    .map_err(retry)?;
            }
            Err(e) if transient(&e) => return Err(retry(e)),
            Err(_) => {
                app.fail_locking(&no, "医院系统未能锁号，请重新预约".into()).await.map_err(retry)?;
            }
        }
        app.held_cache.forget(&row.schedule_id);
        app.catalogue.forget_department(&row.dept_id, app.today());
        Ok(())
    }
}

/// The order of a booking closed unpaid: the HIS lets the place go.
pub struct ReleaseBooking;

#[async_trait]
impl JobHandler for ReleaseBooking {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        let Some(row) = app.store.booking_by_order(&order_no).await.map_err(retry)? else { return Ok(()) };
        app.release_booking(&row.booking_no, "未在规定时间内支付，预约已自动取消", true).await.map_err(retry)
    }
}

/// A cancelled (退号) booking's money goes back to where it came from.
pub struct RefundBooking;

#[async_trait]
impl JobHandler for RefundBooking {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        let (order, _) = app.store.order(&order_no).await.map_err(retry)?;
        let amounts = PerChannel { insurance: order.refundable(Channel::Insurance), self_pay: order.refundable(Channel::SelfPay) };
        if amounts.insurance.0 == 0 && amounts.self_pay.0 == 0 {
            return Ok(());
        }
        match app.request_refund(&order_no, amounts, "退号退费", &Actor::system("registration")).await {
            Ok(_) => Ok(()),
            // A refund is in flight or the order moved: look again later.
            Err(e) if e.code == ErrorCode::OrderStateConflict => Err(JobError::Retry(e.to_string())),
            Err(e) => Err(retry(e)),
        }
    }
}

/// Records a reminder event when its time comes, if the booking still stands.
pub struct RemindBooking;

#[async_trait]
impl JobHandler for RemindBooking {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let no = text(payload, "booking_no")?;
        let kind = text(payload, "kind")?;
        if kind != events::VISIT_TOMORROW && kind != events::TAKE_NUMBER {
            return Err(JobError::Permanent(format!("unknown reminder {kind}")));
        }
        let row = app.store.booking(&no).await.map_err(retry)?;
        if booking_state(&row) != BookingState::Confirmed {
            return Ok(());
        }
        let bring = app.store.visit_note(&row.dept_id).await.map_err(retry)?.unwrap_or_else(|| crate::messages::DEFAULT_BRING.to_owned());
        let txn = app.store.write_txn().await.map_err(retry)?;
        app.record_booking_event(&txn, &kind, "", &row, Some(json!({"bring": bring}))).await.map_err(retry)?;
        txn.commit().await.map_err(store::db_err).map_err(retry)
    }
}

/// Used by the fulfilment job for `reg:<booking_no>` subjects.
pub(crate) async fn fulfil_registration(app: &App, booking_no: &str, order_no: &str, amount: Fen) -> Result<(), JobError> {
    match app.confirm_booking(booking_no, order_no, amount).await {
        Ok(()) => Ok(()),
        Err(e) if e.code == ErrorCode::OrderStateConflict => Ok(()),
        Err(e) => Err(retry(e)),
    }
}
