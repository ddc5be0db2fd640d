//! 改约: a booking whose session staff suspended, moved or gave to another doctor is moved by
//! the patient to another session of the same department — the same doctor's next sessions
//! first. When the fee is the same the payment is carried over (nothing is paid or refunded:
//! the HIS confirms the new place against the old payment and the old registration is
//! cancelled there); when it differs the new booking is paid as usual and the old one is
//! refunded whole (退号 of a changed session is always allowed).
//!
//! A carried booking is written with `carried_from` and a job that finishes the move should
//! the HIS answer be lost: confirming a lock is idempotent on the lock, cancelling a
//! registration on our refund number, so asking again settles it.
use super::{Booked, BookingState, session_change_of, transient};
use crate::job::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use domain::registration::{Doctor, Schedule};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::json;
use store::outbox::NewJob;
use store::registration::{BookingChange, BookingRow, booking_state};

/// Finishes a carried 改约 (the HIS confirmation and the old booking's cancellation).
pub const BOOKING_CARRY: &str = "registration.carry";
/// Cancels, at the HIS, the registration a carried 改约 replaced.
pub const BOOKING_HIS_CANCEL: &str = "registration.his_cancel";

/// How many sessions the 改约 page offers: the same doctor's, and the other doctors'.
const SAME_DOCTOR_SHOWN: usize = 4;
const OTHER_DOCTORS_SHOWN: usize = 6;

/// One session the booking could move to, with its free slots.
pub struct RebookSession {
    pub schedule_id: String,
    pub doctor_name: String,
    pub doctor_title: String,
    pub same_doctor: bool,
    pub date: chrono::NaiveDate,
    pub period: &'static str,
    /// (slot id, "08:00-08:30", places left)
    pub slots: Vec<(String, String, u32)>,
    pub fee: Fen,
    /// The fee is the booking's own: the payment moves with it.
    pub carries_payment: bool,
}

/// What 改约 offers for one booking.
pub struct RebookOptions {
    pub booking: super::PatientBooking,
    pub sessions: Vec<RebookSession>,
}

/// A 改约 done (or under way).
#[derive(Debug)]
pub struct Rebooked {
    pub booking_no: String,
    /// An order to pay: the fee differed, the old booking is refunded.
    pub order_no: Option<String>,
    /// The payment moved with the booking, nothing to pay or refund.
    pub carried: bool,
}

/// Whether staff changed the booking's session and it still holds its (paid) place.
fn may_rebook(row: &BookingRow) -> bool {
    booking_state(row) == BookingState::Confirmed && session_change_of(row).is_some()
}

impl App {
    /// The sessions a changed booking may move to: the same doctor's first, then the
    /// department's other doctors', soonest first; only slots still ahead with places left.
    pub async fn rebook_options(&self, account_id: i64, booking_no: &str) -> Result<RebookOptions, DomainError> {
        let booking = self.patient_booking(account_id, booking_no).await?;
        if !may_rebook(&booking.row) {
            return Err(DomainError::new(ErrorCode::BookingNotCancellable, "only a changed session is rebooked"));
        }
        let row = &booking.row;
        let view = self.department_view(&row.dept_id).await?;
        let now = domain::clock::to_local(self.now()).naive_local();
        let mut sessions = Vec::new();
        for s in view.schedules.iter().filter(|s| !s.suspended && s.schedule_id != row.schedule_id) {
            let Some(doctor) = view.doctors.iter().find(|d| d.doctor_code == s.doctor_code) else { continue };
            let Some(fee) = doctor.visit_fee() else { continue };
            let places = self.session_places(&view, s).await?;
            let slots: Vec<_> = s
                .slots
                .iter()
                .filter(|x| s.date.and_time(x.start) > now)
                .filter_map(|x| {
                    let left = places.get(&x.slot_id).copied().unwrap_or(0);
                    (left > 0).then(|| (x.slot_id.clone(), format!("{}-{}", x.start.format("%H:%M"), x.end.format("%H:%M")), left))
                })
                .collect();
            if slots.is_empty() {
                continue;
            }
            sessions.push(session(s, doctor, slots, fee, row));
        }
        // The same doctor's next few sessions, then the department's other doctors' soonest.
        sessions.sort_by(|a, b| (!a.same_doctor, a.date, &a.slots[0].1).cmp(&(!b.same_doctor, b.date, &b.slots[0].1)));
        let (mut same, others): (Vec<_>, Vec<_>) = sessions.into_iter().partition(|s| s.same_doctor);
        same.truncate(SAME_DOCTOR_SHOWN);
        same.extend(others.into_iter().take(OTHER_DOCTORS_SHOWN));
        Ok(RebookOptions { booking, sessions: same })
    }

    /// Moves a changed booking to `slot_id` of the same department (see the module).
    pub async fn rebook(&self, account_id: i64, booking_no: &str, slot_id: &str, actor: &Actor) -> Result<Rebooked, DomainError> {
        let old = self.patient_booking(account_id, booking_no).await?.row;
        if !may_rebook(&old) {
            return Err(DomainError::new(ErrorCode::BookingNotCancellable, "only a changed session is rebooked"));
        }
        if slot_id.rsplit_once('-').is_some_and(|(s, _)| s == old.schedule_id) {
            return Err(ErrorCode::SlotNotBookable.into());
        }
        let view = self.department_view(&old.dept_id).await?;
        let fee = view
            .schedules
            .iter()
            .find(|s| s.slots.iter().any(|x| x.slot_id == slot_id))
            .and_then(|s| view.doctors.iter().find(|d| d.doctor_code == s.doctor_code))
            .and_then(Doctor::visit_fee)
            .ok_or(ErrorCode::SlotNotBookable)?;
        let carry = fee.0 == old.fee && old.fee > 0 && old.order_no.is_some();
        let booked = self.book_inner(account_id, old.patient_id, &old.dept_id, slot_id, actor, carry.then_some(&old)).await?;
        if carry {
            return match self.finish_carry(&booked.booking_no).await {
                Ok(()) => Ok(Rebooked { booking_no: booked.booking_no, order_no: None, carried: true }),
                // The job asks again; the page shows the move under way.
                Err(e) if transient(&e) => Ok(Rebooked { booking_no: booked.booking_no, order_no: None, carried: true }),
                Err(e) => Err(e),
            };
        }
        // A different fee: the new place is paid as usual and the old fee goes back whole.
        self.cancel_booking(account_id, booking_no, actor).await?;
        let Booked { booking_no, order_no } = booked;
        Ok(Rebooked { booking_no, order_no, carried: false })
    }

    /// Writes the lock of a carried booking: `Locked` on the old booking's order, with the
    /// job that finishes the move, in one transaction.
    pub(super) async fn attach_carried_lock(&self, row: &BookingRow, change: BookingChange, old: &BookingRow) -> Result<(), DomainError> {
        let now = self.now();
        let change = BookingChange { order_no: old.order_no.clone(), carried_from: Some(old.booking_no.clone()), ..change };
        let txn = self.store.write_txn().await?;
        if !self.store.move_booking(&txn, &row.booking_no, &[BookingState::Locking], BookingState::Locked, change, now).await? {
            return Err(DomainError::new(ErrorCode::BookingNotCancellable, "booking settled while locking"));
        }
        let job = NewJob::new(BOOKING_CARRY, json!({"booking_no": row.booking_no}), now)
            .at(now + chrono::Duration::seconds(30))
            .dedupe(format!("{BOOKING_CARRY}:{}", row.booking_no))
            .max_attempts(40);
        self.store.enqueue(&txn, job, now).await?;
        txn.commit().await.map_err(store::db_err)
    }

    /// Confirms a carried booking at the HIS against the old payment, then (one transaction)
    /// confirms it here, cancels the old booking without a refund and queues the HIS
    /// cancellation of the old registration. Safe to repeat.
    pub(crate) async fn finish_carry(&self, booking_no: &str) -> Result<(), DomainError> {
        let new = self.store.booking(booking_no).await?;
        let (Some(old_no), BookingState::Locked) = (new.carried_from.clone(), booking_state(&new)) else { return Ok(()) };
        let old = self.store.booking(&old_no).await?;
        let order_no = old.order_no.clone().unwrap_or_default();
        if booking_state(&old) != BookingState::Confirmed {
            // The old booking was refunded meanwhile (退号 in another tab): nothing to carry.
            self.release_booking(booking_no, "原预约已退号，改约未完成", false).await?;
            return Err(DomainError::new(ErrorCode::BookingNotCancellable, "the old booking is gone"));
        }
        let pre_id = new.pre_id.clone().unwrap_or_default();
        let reg = match self.his.confirm_registration(&pre_id, &order_no, Fen(new.fee)).await {
            Ok(reg) => reg,
            Err(e) if e.code == ErrorCode::HisRejected => {
                self.release_booking(booking_no, "改约未成功：医院系统已不再保留该号源，原预约不变", false).await?;
                return Err(e);
            }
            Err(e) => return Err(e),
        };
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let confirm = BookingChange { reg_id: Some(reg.reg_id.clone()), see_no: Some(reg.see_no as i32), ..Default::default() };
        if self.store.move_booking(&txn, booking_no, &[BookingState::Locked], BookingState::Confirmed, confirm, now).await? {
            self.booking_confirmed_effects(&txn, booking_no).await?;
            let moved =
                format!("已改约至{} {} {}-{} {}，挂号费转入新预约，无需重新支付", new.visit_date, new.period, new.start_time, new.end_time, new.doctor_name);
            let gone = BookingChange { note: Some(moved), ..Default::default() };
            self.store.move_booking(&txn, &old_no, &[BookingState::Confirmed], BookingState::Cancelled, gone, now).await?;
            if let Some(reg_id) = old.reg_id.as_deref() {
                let job = NewJob::new(BOOKING_HIS_CANCEL, json!({"reg_id": reg_id, "refund_no": format!("{old_no}-M")}), now)
                    .dedupe(format!("{BOOKING_HIS_CANCEL}:{old_no}"))
                    .max_attempts(40);
                self.store.enqueue(&txn, job, now).await?;
            }
            let what = format!("{old_no} → {booking_no}（{}，挂号费转入）", reg.reg_id);
            self.store.append_audit(&txn, &Actor::system("registration").entry("booking.rebook", format!("booking:{booking_no}"), &what), now).await?;
        }
        txn.commit().await.map_err(store::db_err)?;
        self.catalogue.forget_department(&new.dept_id, self.today());
        Ok(())
    }
}

fn session(s: &Schedule, doctor: &Doctor, slots: Vec<(String, String, u32)>, fee: Fen, row: &BookingRow) -> RebookSession {
    RebookSession {
        schedule_id: s.schedule_id.clone(),
        doctor_name: doctor.name.clone(),
        doctor_title: doctor.title.clone(),
        same_doctor: doctor.doctor_code == row.doctor_code,
        date: s.date,
        period: s.period.label_zh(),
        slots,
        fee,
        carries_payment: fee.0 == row.fee && row.fee > 0 && row.order_no.is_some(),
    }
}

/// The recovery of [`App::finish_carry`].
pub struct CarryBooking;

#[async_trait]
impl JobHandler for CarryBooking {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let no = super::text(payload, "booking_no")?;
        match app.finish_carry(&no).await {
            Ok(()) => Ok(()),
            Err(e) if transient(&e) => Err(JobError::Retry(e.to_string())),
            // Released with the reason the patient reads; the old booking stands.
            Err(_) => Ok(()),
        }
    }
}

/// Cancels the replaced registration at the HIS (idempotent on our number).
pub struct CancelReplacedRegistration;

#[async_trait]
impl JobHandler for CancelReplacedRegistration {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let reg_id = super::text(payload, "reg_id")?;
        let refund_no = super::text(payload, "refund_no")?;
        match app.his.cancel_registration(&reg_id, &refund_no).await {
            Ok(()) => Ok(()),
            // Already cancelled there (the session's suspension did it): the same outcome.
            Err(e) if e.code == ErrorCode::HisRejected => Ok(()),
            Err(e) => Err(JobError::Retry(e.to_string())),
        }
    }
}
