//! Bookings (挂号), the INS-2 department exceptions and the no-show blacklist.
use crate::entity::{booking_blacklist, insurance_dept_rule, registration};
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::insurance::{DeptException, InsuranceKind};
use domain::registration::BookingState;
use domain::{DomainError, ErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub use domain::registration::BookingRecord as BookingRow;

impl From<registration::Model> for BookingRow {
    fn from(m: registration::Model) -> Self {
        Self {
            id: m.id,
            booking_no: m.booking_no,
            patient_id: m.patient_id,
            schedule_id: m.schedule_id,
            slot_id: m.slot_id,
            dept_id: m.dept_id,
            dept_name: m.dept_name,
            doctor_code: m.doctor_code,
            doctor_name: m.doctor_name,
            doctor_title: m.doctor_title,
            visit_date: m.visit_date,
            period: m.period,
            start_time: m.start_time,
            end_time: m.end_time,
            location: m.location,
            fee: m.fee,
            state: m.state,
            active_key: m.active_key,
            pre_id: m.pre_id,
            see_no: m.see_no,
            reg_id: m.reg_id,
            order_no: m.order_no,
            lock_expires_at: m.lock_expires_at,
            eligibility: m.eligibility,
            note: m.note,
            checked_in_at: m.checked_in_at,
            session_change: m.session_change,
            carried_from: m.carried_from,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
        }
    }
}

/// A booking about to ask the HIS for its lock.
pub struct NewBooking {
    pub booking_no: String,
    pub patient_id: i64,
    pub schedule_id: String,
    pub slot_id: String,
    pub dept_id: String,
    pub dept_name: String,
    pub doctor_code: String,
    pub doctor_name: String,
    pub doctor_title: String,
    pub visit_date: String,
    pub period: String,
    pub start_time: String,
    pub end_time: String,
    pub location: String,
    pub fee: i64,
    pub eligibility: String,
}

/// What a transition writes besides the state; `None` leaves a column alone.
#[derive(Default)]
pub struct BookingChange {
    pub pre_id: Option<String>,
    pub see_no: Option<i32>,
    pub reg_id: Option<String>,
    pub order_no: Option<String>,
    pub lock_expires_at: Option<DateTime<Utc>>,
    pub fee: Option<i64>,
    pub note: Option<String>,
    pub checked_in_at: Option<DateTime<Utc>>,
    /// A staff change to the session (JSON), with the times, place or doctor it changed.
    pub session_change: Option<String>,
    /// 改约: the booking whose payment this one carries.
    pub carried_from: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub location: Option<String>,
    pub doctor: Option<(String, String, String)>,
    /// What INS-2 decided (JSON), once known.
    pub eligibility: Option<String>,
}

/// A stored booking's state (an unknown value reads as `Failed`: it holds nothing).
pub fn booking_state(row: &BookingRow) -> BookingState {
    BookingState::parse(&row.state).unwrap_or(BookingState::Failed)
}

/// One booking, read in the caller's transaction.
pub async fn booking_in<C: ConnectionTrait>(conn: &C, booking_no: &str) -> Result<BookingRow, DomainError> {
    registration::Entity::find()
        .filter(registration::Column::BookingNo.eq(booking_no))
        .one(conn)
        .await
        .map_err(db_err)?
        .map(BookingRow::from)
        .ok_or_else(|| DomainError::from(ErrorCode::BookingNotFound))
}

impl Store {
    /// Inserts a booking in `Locking`. A second live booking of the same patient in the
    /// same session is refused by the unique `active_key` (BOOKING_DUPLICATE).
    pub async fn insert_booking<C: ConnectionTrait>(&self, conn: &C, b: NewBooking, now: DateTime<Utc>) -> Result<BookingRow, DomainError> {
        let now = micros(now);
        let m = registration::ActiveModel {
            active_key: Set(Some(format!("{}:{}", b.patient_id, b.schedule_id))),
            booking_no: Set(b.booking_no),
            patient_id: Set(b.patient_id),
            schedule_id: Set(b.schedule_id),
            slot_id: Set(b.slot_id),
            dept_id: Set(b.dept_id),
            dept_name: Set(b.dept_name),
            doctor_code: Set(b.doctor_code),
            doctor_name: Set(b.doctor_name),
            doctor_title: Set(b.doctor_title),
            visit_date: Set(b.visit_date),
            period: Set(b.period),
            start_time: Set(b.start_time),
            end_time: Set(b.end_time),
            location: Set(b.location),
            fee: Set(b.fee),
            state: Set(BookingState::Locking.as_str().into()),
            pre_id: Set(None),
            see_no: Set(None),
            reg_id: Set(None),
            order_no: Set(None),
            lock_expires_at: Set(None),
            eligibility: Set(b.eligibility),
            note: Set(String::new()),
            checked_in_at: Set(None),
            session_change: Set(None),
            carried_from: Set(None),
            version: Set(1),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        m.insert(conn).await.map(BookingRow::from).map_err(|e| {
            if is_unique_violation(&e) { DomainError::new(ErrorCode::BookingDuplicate, "a live booking in this session exists") } else { db_err(e) }
        })
    }

    pub async fn booking(&self, booking_no: &str) -> Result<BookingRow, DomainError> {
        booking_in(&self.db, booking_no).await
    }

    /// The patient's live booking in a session, if any (what a double tap finds).
    pub async fn live_booking(&self, patient_id: i64, schedule_id: &str) -> Result<Option<BookingRow>, DomainError> {
        registration::Entity::find()
            .filter(registration::Column::ActiveKey.eq(format!("{patient_id}:{schedule_id}")))
            .one(&self.db)
            .await
            .map_err(db_err)
            .map(|o| o.map(BookingRow::from))
    }

    pub async fn booking_by_order(&self, order_no: &str) -> Result<Option<BookingRow>, DomainError> {
        // A 改约 leaves two bookings on one order: the newest is the one it pays for now.
        self.newest_booking(registration::Column::OrderNo.eq(order_no)).await
    }

    /// The booking a 改约 moved `booking_no` to, if any.
    pub async fn booking_carried_from(&self, booking_no: &str) -> Result<Option<BookingRow>, DomainError> {
        self.newest_booking(registration::Column::CarriedFrom.eq(booking_no)).await
    }

    async fn newest_booking(&self, cond: sea_orm::sea_query::SimpleExpr) -> Result<Option<BookingRow>, DomainError> {
        registration::Entity::find().filter(cond).order_by_desc(registration::Column::Id).one(&self.db).await.map_err(db_err).map(|o| o.map(BookingRow::from))
    }

    /// The bookings of these patients, newest first.
    pub async fn bookings_of(&self, patient_ids: &[i64], limit: u64) -> Result<Vec<BookingRow>, DomainError> {
        if patient_ids.is_empty() {
            return Ok(vec![]);
        }
        registration::Entity::find()
            .filter(registration::Column::PatientId.is_in(patient_ids.iter().copied()))
            .order_by_desc(registration::Column::CreatedAt)
            .order_by_desc(registration::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)
            .map(|v| v.into_iter().map(BookingRow::from).collect())
    }

    /// The bookings of one session in these states (staff changes, reminders).
    pub async fn bookings_of_schedule(&self, schedule_id: &str, states: &[BookingState]) -> Result<Vec<BookingRow>, DomainError> {
        registration::Entity::find()
            .filter(registration::Column::ScheduleId.eq(schedule_id))
            .filter(registration::Column::State.is_in(states.iter().map(|s| s.as_str())))
            .order_by_asc(registration::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
            .map(|v| v.into_iter().map(BookingRow::from).collect())
    }

    /// How many bookings of each of these sessions are in each state (the session board).
    pub async fn booking_states_of_schedules(&self, schedule_ids: &[String], states: &[BookingState]) -> Result<Vec<(String, String)>, DomainError> {
        if schedule_ids.is_empty() {
            return Ok(vec![]);
        }
        registration::Entity::find()
            .select_only()
            .column(registration::Column::ScheduleId)
            .column(registration::Column::State)
            .filter(registration::Column::ScheduleId.is_in(schedule_ids.iter().cloned()))
            .filter(registration::Column::State.is_in(states.iter().map(|s| s.as_str())))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    /// Bookings in `Locking` or `Locked` whose lock deadline passed (or, for `Locking`,
    /// that were created before `stale_before`): the sweeper's work.
    pub async fn stale_bookings(&self, now: DateTime<Utc>, stale_before: DateTime<Utc>, limit: u64) -> Result<Vec<BookingRow>, DomainError> {
        registration::Entity::find()
            .filter(
                sea_orm::Condition::any()
                    .add(registration::Column::State.eq(BookingState::Locking.as_str()).and(registration::Column::CreatedAt.lt(micros(stale_before))))
                    .add(registration::Column::State.eq(BookingState::Locked.as_str()).and(registration::Column::LockExpiresAt.lt(micros(now)))),
            )
            .order_by_asc(registration::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)
            .map(|v| v.into_iter().map(BookingRow::from).collect())
    }

    /// Moves a booking from one of `from` to `to` with `change`, atomically: `false` if it
    /// was in none of `from` (someone else moved it first). Leaving the live states frees
    /// the patient's place in the session.
    pub async fn move_booking<C: ConnectionTrait>(
        &self,
        conn: &C,
        booking_no: &str,
        from: &[BookingState],
        to: BookingState,
        change: BookingChange,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut q = registration::Entity::update_many()
            .col_expr(registration::Column::State, Expr::value(to.as_str()))
            .col_expr(registration::Column::Version, Expr::col(registration::Column::Version).add(1))
            .col_expr(registration::Column::UpdatedAt, Expr::value(micros(now)));
        if !to.holds_place() {
            q = q.col_expr(registration::Column::ActiveKey, Expr::value(Option::<String>::None));
        }
        let BookingChange {
            pre_id,
            see_no,
            reg_id,
            order_no,
            lock_expires_at,
            fee,
            note,
            checked_in_at,
            session_change,
            carried_from,
            start_time,
            end_time,
            location,
            doctor,
            eligibility,
        } = change;
        if let Some(v) = eligibility {
            q = q.col_expr(registration::Column::Eligibility, Expr::value(v));
        }
        if let Some(v) = session_change {
            q = q.col_expr(registration::Column::SessionChange, Expr::value(v));
        }
        if let Some(v) = carried_from {
            q = q.col_expr(registration::Column::CarriedFrom, Expr::value(v));
        }
        if let Some(v) = start_time {
            q = q.col_expr(registration::Column::StartTime, Expr::value(v));
        }
        if let Some(v) = end_time {
            q = q.col_expr(registration::Column::EndTime, Expr::value(v));
        }
        if let Some(v) = location {
            q = q.col_expr(registration::Column::Location, Expr::value(v));
        }
        if let Some((code, name, title)) = doctor {
            q = q.col_expr(registration::Column::DoctorCode, Expr::value(code));
            q = q.col_expr(registration::Column::DoctorName, Expr::value(name));
            q = q.col_expr(registration::Column::DoctorTitle, Expr::value(title));
        }
        if let Some(v) = pre_id {
            q = q.col_expr(registration::Column::PreId, Expr::value(v));
        }
        if let Some(v) = see_no {
            q = q.col_expr(registration::Column::SeeNo, Expr::value(v));
        }
        if let Some(v) = reg_id {
            q = q.col_expr(registration::Column::RegId, Expr::value(v));
        }
        if let Some(v) = order_no {
            q = q.col_expr(registration::Column::OrderNo, Expr::value(v));
        }
        if let Some(v) = lock_expires_at {
            q = q.col_expr(registration::Column::LockExpiresAt, Expr::value(micros(v)));
        }
        if let Some(v) = fee {
            q = q.col_expr(registration::Column::Fee, Expr::value(v));
        }
        if let Some(v) = note {
            q = q.col_expr(registration::Column::Note, Expr::value(v));
        }
        if let Some(v) = checked_in_at {
            q = q.col_expr(registration::Column::CheckedInAt, Expr::value(micros(v)));
        }
        let res = q
            .filter(registration::Column::BookingNo.eq(booking_no))
            .filter(registration::Column::State.is_in(from.iter().map(|s| s.as_str())))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected == 1)
    }

    /// The bookings of one visit day in one state.
    pub async fn bookings_on(&self, visit_date: &str, state: BookingState) -> Result<Vec<BookingRow>, DomainError> {
        registration::Entity::find()
            .filter(registration::Column::VisitDate.eq(visit_date))
            .filter(registration::Column::State.eq(state.as_str()))
            .all(&self.db)
            .await
            .map_err(db_err)
            .map(|v| v.into_iter().map(BookingRow::from).collect())
    }

    /// Confirmed bookings (never checked in) of one visit day.
    pub async fn confirmed_bookings_on(&self, visit_date: &str) -> Result<Vec<BookingRow>, DomainError> {
        registration::Entity::find()
            .filter(registration::Column::VisitDate.eq(visit_date))
            .filter(registration::Column::State.eq(BookingState::Confirmed.as_str()))
            .all(&self.db)
            .await
            .map_err(db_err)
            .map(|v| v.into_iter().map(BookingRow::from).collect())
    }

    /// A person's no-shows (whichever account booked) with visit days from `since`.
    pub async fn no_shows_since(&self, his_patient_id: &str, since: &str) -> Result<usize, DomainError> {
        let ids = self.patient_ids_by_his_id(his_patient_id).await?;
        if ids.is_empty() {
            return Ok(0);
        }
        Ok(registration::Entity::find()
            .filter(registration::Column::PatientId.is_in(ids))
            .filter(registration::Column::State.eq(BookingState::NoShow.as_str()))
            .filter(registration::Column::VisitDate.gte(since))
            .count(&self.db)
            .await
            .map_err(db_err)? as usize)
    }

    pub async fn add_blacklisting(
        &self,
        person_key: &str,
        name_masked: &str,
        no_shows: i32,
        until: DateTime<Utc>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> Result<i64, DomainError> {
        let m = booking_blacklist::ActiveModel {
            person_key: Set(person_key.into()),
            name_masked: Set(name_masked.into()),
            no_shows: Set(no_shows),
            until: Set(micros(until)),
            reason: Set(reason.into()),
            lifted: Set(false),
            lifted_by: Set(None),
            created_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(db_err)?;
        Ok(m.id)
    }

    pub async fn lift_blacklisting(&self, id: i64, by: &str) -> Result<(), DomainError> {
        let res = booking_blacklist::Entity::update_many()
            .col_expr(booking_blacklist::Column::Lifted, Expr::value(true))
            .col_expr(booking_blacklist::Column::LiftedBy, Expr::value(by))
            .filter(booking_blacklist::Column::Id.eq(id))
            .filter(booking_blacklist::Column::Lifted.eq(false))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        if res.rows_affected != 1 {
            return Err(ErrorCode::NotFound.into());
        }
        Ok(())
    }

    /// Blacklistings, in force first, newest first.
    pub async fn blacklist(&self, limit: u64) -> Result<Vec<booking_blacklist::Model>, DomainError> {
        booking_blacklist::Entity::find()
            .order_by_asc(booking_blacklist::Column::Lifted)
            .order_by_desc(booking_blacklist::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    /// The INS-2 department exceptions in force.
    pub async fn insurance_exceptions(&self) -> Result<Vec<DeptException>, DomainError> {
        let rows = insurance_dept_rule::Entity::find()
            .filter(insurance_dept_rule::Column::Enabled.eq(true))
            .order_by_asc(insurance_dept_rule::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(exception).collect())
    }

    /// Every exception row, enabled or not, for the console.
    pub async fn insurance_rule_rows(&self) -> Result<Vec<insurance_dept_rule::Model>, DomainError> {
        insurance_dept_rule::Entity::find().order_by_asc(insurance_dept_rule::Column::Id).all(&self.db).await.map_err(db_err)
    }

    pub async fn add_insurance_rule<C: ConnectionTrait>(&self, conn: &C, e: &DeptException, by: &str, now: DateTime<Utc>) -> Result<i64, DomainError> {
        let m = insurance_dept_rule::ActiveModel {
            dept_id: Set(e.dept_id.clone()),
            kinds: Set(e.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>().join(",")),
            label: Set(e.label.clone()),
            enabled: Set(true),
            updated_by: Set(by.into()),
            updated_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(db_err)?;
        Ok(m.id)
    }

    pub async fn set_insurance_rule_enabled<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        enabled: bool,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        let res = insurance_dept_rule::Entity::update_many()
            .col_expr(insurance_dept_rule::Column::Enabled, Expr::value(enabled))
            .col_expr(insurance_dept_rule::Column::UpdatedBy, Expr::value(by))
            .col_expr(insurance_dept_rule::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(insurance_dept_rule::Column::Id.eq(id))
            .exec(conn)
            .await
            .map_err(db_err)?;
        if res.rows_affected != 1 {
            return Err(ErrorCode::NotFound.into());
        }
        Ok(())
    }

    /// The person's blacklisting in force at `now`, if any.
    pub async fn blacklisting(&self, person_key: &str, now: DateTime<Utc>) -> Result<Option<booking_blacklist::Model>, DomainError> {
        booking_blacklist::Entity::find()
            .filter(booking_blacklist::Column::PersonKey.eq(person_key))
            .filter(booking_blacklist::Column::Lifted.eq(false))
            .filter(booking_blacklist::Column::Until.gt(micros(now)))
            .one(&self.db)
            .await
            .map_err(db_err)
    }
}

fn exception(r: insurance_dept_rule::Model) -> DeptException {
    DeptException { dept_id: r.dept_id, kinds: r.kinds.split(',').filter_map(InsuranceKind::parse).collect(), label: r.label }
}
