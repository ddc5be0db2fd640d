//! Admission bookings (issue 18, OTH-5): one row per booking; a row changes only with its
//! version, so the office and the patient (or two clerks) cannot both move it.
use crate::entity::admission_booking as ab;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, NaiveDate, Utc};
use domain::inpatient::admission_booking::BookingState;
use domain::{DomainError, ErrorCode};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

/// A booking as read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AdmissionBookingRow {
    pub booking_no: String,
    pub account_id: i64,
    pub patient_id: i64,
    pub his_patient_id: String,
    pub notice_no: String,
    pub state: BookingState,
    pub dept_name: String,
    pub ward: String,
    /// The patient's choice.
    pub wanted_date: NaiveDate,
    pub bed_type: String,
    pub bed_type_name: String,
    /// The office's proposal (while `Proposed`, and kept after for the record).
    pub proposed: Option<(NaiveDate, String, String)>,
    pub office_note: Option<String>,
    /// The day registered in the HIS, and its registration number.
    pub confirmed_date: Option<NaiveDate>,
    pub register_no: Option<String>,
    /// Who at the office answered last.
    pub handled_by: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewAdmissionBooking<'a> {
    pub booking_no: &'a str,
    pub account_id: i64,
    pub patient_id: i64,
    pub his_patient_id: &'a str,
    pub notice_no: &'a str,
    pub dept_name: &'a str,
    pub ward: &'a str,
    pub wanted_date: NaiveDate,
    pub bed_type: &'a str,
    pub bed_type_name: &'a str,
}

/// What a step changes of a booking.
#[derive(Default)]
pub struct AdmissionBookingChange<'a> {
    pub state: Option<BookingState>,
    /// A new choice of the patient's: (day, bed type, its name).
    pub wanted: Option<(NaiveDate, &'a str, &'a str)>,
    pub proposed: Option<(NaiveDate, &'a str, &'a str)>,
    pub office_note: Option<&'a str>,
    pub confirmed: Option<(NaiveDate, &'a str)>,
    pub handled_by: Option<&'a str>,
}

fn day(op: &str, s: &str) -> Result<NaiveDate, DomainError> {
    s.parse().map_err(|_| DomainError::new(ErrorCode::Internal, format!("admission booking {op} day {s}")))
}

fn open(m: ab::Model) -> Result<AdmissionBookingRow, DomainError> {
    let proposed = match (&m.proposed_date, m.proposed_bed_type, m.proposed_bed_type_name) {
        (Some(d), Some(t), Some(n)) => Some((day("proposed", d)?, t, n)),
        _ => None,
    };
    Ok(AdmissionBookingRow {
        state: BookingState::parse(&m.state).ok_or_else(|| DomainError::new(ErrorCode::Internal, format!("admission booking state {}", m.state)))?,
        wanted_date: day("wanted", &m.wanted_date)?,
        confirmed_date: m.confirmed_date.as_deref().map(|d| day("confirmed", d)).transpose()?,
        booking_no: m.booking_no,
        account_id: m.account_id,
        patient_id: m.patient_id,
        his_patient_id: m.his_patient_id,
        notice_no: m.notice_no,
        dept_name: m.dept_name,
        ward: m.ward,
        bed_type: m.bed_type,
        bed_type_name: m.bed_type_name,
        proposed,
        office_note: m.office_note,
        register_no: m.register_no,
        handled_by: m.handled_by,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

impl Store {
    /// Inserts a requested booking; `false` when the notice already has a live one (the
    /// caller reads that one instead).
    pub async fn insert_admission_booking<C: ConnectionTrait>(&self, conn: &C, b: NewAdmissionBooking<'_>, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let m = ab::ActiveModel {
            booking_no: Set(b.booking_no.into()),
            account_id: Set(b.account_id),
            patient_id: Set(b.patient_id),
            his_patient_id: Set(b.his_patient_id.into()),
            notice_no: Set(b.notice_no.into()),
            active_key: Set(Some(b.notice_no.into())),
            state: Set(BookingState::Requested.as_str().into()),
            dept_name: Set(b.dept_name.into()),
            ward: Set(b.ward.into()),
            wanted_date: Set(b.wanted_date.to_string()),
            bed_type: Set(b.bed_type.into()),
            bed_type_name: Set(b.bed_type_name.into()),
            proposed_date: Set(None),
            proposed_bed_type: Set(None),
            proposed_bed_type_name: Set(None),
            office_note: Set(None),
            confirmed_date: Set(None),
            register_no: Set(None),
            handled_by: Set(None),
            version: Set(1),
            created_at: Set(micros(now)),
            updated_at: Set(micros(now)),
            ..Default::default()
        };
        match m.insert(conn).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn admission_booking(&self, booking_no: &str) -> Result<AdmissionBookingRow, DomainError> {
        let m = ab::Entity::find()
            .filter(ab::Column::BookingNo.eq(booking_no))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such admission booking"))?;
        open(m)
    }

    /// The live booking of a notice, if any.
    pub async fn active_admission_booking(&self, notice_no: &str) -> Result<Option<AdmissionBookingRow>, DomainError> {
        ab::Entity::find().filter(ab::Column::ActiveKey.eq(notice_no)).one(&self.db).await.map_err(db_err)?.map(open).transpose()
    }

    /// A patient's bookings, newest first.
    pub async fn admission_bookings_of_patient(&self, patient_id: i64) -> Result<Vec<AdmissionBookingRow>, DomainError> {
        let rows =
            ab::Entity::find().filter(ab::Column::PatientId.eq(patient_id)).order_by_desc(ab::Column::Id).limit(50).all(&self.db).await.map_err(db_err)?;
        rows.into_iter().map(open).collect()
    }

    /// The office's work list: bookings in `states`, by the day wanted (then by arrival).
    pub async fn admission_bookings_in(&self, states: &[BookingState], limit: u64) -> Result<Vec<AdmissionBookingRow>, DomainError> {
        let rows = ab::Entity::find()
            .filter(ab::Column::State.is_in(states.iter().map(|s| s.as_str())))
            .order_by_asc(ab::Column::WantedDate)
            .order_by_asc(ab::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(open).collect()
    }

    /// Moves a booking at `version`; `false` if it moved meanwhile. Leaving the live states
    /// frees the notice for another booking.
    pub async fn update_admission_booking<C: ConnectionTrait>(
        &self,
        conn: &C,
        booking_no: &str,
        version: i32,
        c: AdmissionBookingChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut q = ab::Entity::update_many().col_expr(ab::Column::Version, Expr::value(version + 1)).col_expr(ab::Column::UpdatedAt, Expr::value(micros(now)));
        if let Some(s) = c.state {
            q = q.col_expr(ab::Column::State, Expr::value(s.as_str()));
            if !s.is_active() {
                q = q.col_expr(ab::Column::ActiveKey, Expr::value(Option::<String>::None));
            }
        }
        if let Some((d, t, n)) = c.wanted {
            q = q
                .col_expr(ab::Column::WantedDate, Expr::value(d.to_string()))
                .col_expr(ab::Column::BedType, Expr::value(t))
                .col_expr(ab::Column::BedTypeName, Expr::value(n));
        }
        if let Some((d, t, n)) = c.proposed {
            q = q
                .col_expr(ab::Column::ProposedDate, Expr::value(d.to_string()))
                .col_expr(ab::Column::ProposedBedType, Expr::value(t))
                .col_expr(ab::Column::ProposedBedTypeName, Expr::value(n));
        }
        if let Some(v) = c.office_note {
            q = q.col_expr(ab::Column::OfficeNote, Expr::value(v));
        }
        if let Some((d, no)) = c.confirmed {
            q = q.col_expr(ab::Column::ConfirmedDate, Expr::value(d.to_string())).col_expr(ab::Column::RegisterNo, Expr::value(no));
        }
        if let Some(v) = c.handled_by {
            q = q.col_expr(ab::Column::HandledBy, Expr::value(v));
        }
        let r = q.filter(ab::Column::BookingNo.eq(booking_no)).filter(ab::Column::Version.eq(version)).exec(conn).await.map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }
}
