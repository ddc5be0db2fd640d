//! Discharge settlements started on the phone (issue 18): one row per attempt; the row
//! changes only with its version, so two workers (or two phones) cannot both move it.
pub mod admission_booking;

use crate::entity::discharge;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::inpatient::DischargeState;
use domain::{DomainError, ErrorCode, Fen};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

const COL_DETAIL: &str = "discharge.detail";

/// A discharge as read, its detail unsealed.
#[derive(Clone, Debug)]
pub struct DischargeRow {
    pub discharge_no: String,
    pub patient_id: i64,
    pub account_id: i64,
    pub his_patient_id: String,
    pub inpatient_no: String,
    pub pre_settle_id: String,
    pub state: DischargeState,
    pub total: Fen,
    pub fund: Fen,
    pub personal_account: Fen,
    pub self_pay: Fen,
    pub deposits_held: Fen,
    /// Refunded when positive, due when negative.
    pub balance: Fen,
    pub order_no: Option<String>,
    pub detail: serde_json::Value,
    pub settle_id: Option<String>,
    pub invoice_no: Option<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub settled_at: Option<DateTime<Utc>>,
}

pub struct NewDischarge<'a> {
    pub discharge_no: &'a str,
    pub patient_id: i64,
    pub account_id: i64,
    pub his_patient_id: &'a str,
    pub inpatient_no: &'a str,
    pub pre_settle_id: &'a str,
    pub state: DischargeState,
    pub total: Fen,
    pub fund: Fen,
    pub personal_account: Fen,
    pub self_pay: Fen,
    pub deposits_held: Fen,
    pub balance: Fen,
    pub order_no: Option<&'a str>,
    pub detail: &'a serde_json::Value,
}

/// What a step changes of a discharge.
#[derive(Default)]
pub struct DischargeChange<'a> {
    pub state: Option<DischargeState>,
    pub settle_id: Option<&'a str>,
    pub invoice_no: Option<&'a str>,
    pub settled_at: Option<DateTime<Utc>>,
    pub detail: Option<&'a serde_json::Value>,
}

impl Store {
    fn open_discharge(&self, m: discharge::Model) -> Result<DischargeRow, DomainError> {
        let detail =
            self.keys.cipher.open(COL_DETAIL, &m.detail).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal discharge detail: {e}")))?;
        Ok(DischargeRow {
            discharge_no: m.discharge_no,
            patient_id: m.patient_id,
            account_id: m.account_id,
            his_patient_id: m.his_patient_id,
            inpatient_no: m.inpatient_no,
            pre_settle_id: m.pre_settle_id,
            state: DischargeState::parse(&m.state).ok_or_else(|| DomainError::new(ErrorCode::Internal, format!("discharge state {}", m.state)))?,
            total: Fen(m.total),
            fund: Fen(m.fund),
            personal_account: Fen(m.personal_account),
            self_pay: Fen(m.self_pay),
            deposits_held: Fen(m.deposits_held),
            balance: Fen(m.balance),
            order_no: m.order_no,
            detail: serde_json::from_str(&detail).map_err(|e| DomainError::new(ErrorCode::Internal, format!("discharge detail: {e}")))?,
            settle_id: m.settle_id,
            invoice_no: m.invoice_no,
            version: m.version,
            created_at: m.created_at,
            settled_at: m.settled_at,
        })
    }

    /// Inserts a discharge; `false` when the stay already has an active one (the caller
    /// reads that one instead).
    pub async fn insert_discharge<C: ConnectionTrait>(&self, conn: &C, d: NewDischarge<'_>, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let m = discharge::ActiveModel {
            discharge_no: Set(d.discharge_no.into()),
            patient_id: Set(d.patient_id),
            account_id: Set(d.account_id),
            his_patient_id: Set(d.his_patient_id.into()),
            inpatient_no: Set(d.inpatient_no.into()),
            active_key: Set(d.state.is_active().then(|| d.inpatient_no.to_owned())),
            pre_settle_id: Set(d.pre_settle_id.into()),
            state: Set(d.state.as_str().into()),
            total: Set(d.total.0),
            fund: Set(d.fund.0),
            personal_account: Set(d.personal_account.0),
            self_pay: Set(d.self_pay.0),
            deposits_held: Set(d.deposits_held.0),
            balance: Set(d.balance.0),
            order_no: Set(d.order_no.map(str::to_owned)),
            detail: Set(self.keys.cipher.seal(COL_DETAIL, &d.detail.to_string())),
            settle_id: Set(None),
            invoice_no: Set(None),
            version: Set(1),
            created_at: Set(micros(now)),
            updated_at: Set(micros(now)),
            settled_at: Set(None),
            ..Default::default()
        };
        match m.insert(conn).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn discharge(&self, discharge_no: &str) -> Result<DischargeRow, DomainError> {
        let m = discharge::Entity::find()
            .filter(discharge::Column::DischargeNo.eq(discharge_no))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such discharge"))?;
        self.open_discharge(m)
    }

    /// The attempt that holds the stay now, if any.
    pub async fn active_discharge(&self, inpatient_no: &str) -> Result<Option<DischargeRow>, DomainError> {
        let m = discharge::Entity::find().filter(discharge::Column::ActiveKey.eq(inpatient_no)).one(&self.db).await.map_err(db_err)?;
        m.map(|m| self.open_discharge(m)).transpose()
    }

    /// The newest attempt for a stay, whatever its state.
    pub async fn latest_discharge(&self, inpatient_no: &str) -> Result<Option<DischargeRow>, DomainError> {
        let m = discharge::Entity::find()
            .filter(discharge::Column::InpatientNo.eq(inpatient_no))
            .order_by_desc(discharge::Column::Id)
            .one(&self.db)
            .await
            .map_err(db_err)?;
        m.map(|m| self.open_discharge(m)).transpose()
    }

    /// The attempts of many stays, newest first (the nurse station's list).
    pub async fn discharges_of_stays(&self, inpatient_nos: &[String]) -> Result<Vec<DischargeRow>, DomainError> {
        if inpatient_nos.is_empty() {
            return Ok(vec![]);
        }
        let rows = discharge::Entity::find()
            .filter(discharge::Column::InpatientNo.is_in(inpatient_nos.iter().cloned()))
            .order_by_desc(discharge::Column::Id)
            .limit(500)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(|m| self.open_discharge(m)).collect()
    }

    /// Moves a discharge at `version`; `false` if it moved meanwhile. Leaving the active
    /// states gives the stay free for another attempt.
    pub async fn update_discharge<C: ConnectionTrait>(
        &self,
        conn: &C,
        discharge_no: &str,
        version: i32,
        c: DischargeChange<'_>,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut q = discharge::Entity::update_many()
            .col_expr(discharge::Column::Version, Expr::value(version + 1))
            .col_expr(discharge::Column::UpdatedAt, Expr::value(micros(now)));
        if let Some(s) = c.state {
            q = q.col_expr(discharge::Column::State, Expr::value(s.as_str()));
            if !s.is_active() {
                q = q.col_expr(discharge::Column::ActiveKey, Expr::value(Option::<String>::None));
            }
        }
        if let Some(v) = c.settle_id {
            q = q.col_expr(discharge::Column::SettleId, Expr::value(v));
        }
        if let Some(v) = c.invoice_no {
            q = q.col_expr(discharge::Column::InvoiceNo, Expr::value(v));
        }
        if let Some(v) = c.settled_at {
            q = q.col_expr(discharge::Column::SettledAt, Expr::value(micros(v)));
        }
        if let Some(v) = c.detail {
            q = q.col_expr(discharge::Column::Detail, Expr::value(self.keys.cipher.seal(COL_DETAIL, &v.to_string())));
        }
        let r = q.filter(discharge::Column::DischargeNo.eq(discharge_no)).filter(discharge::Column::Version.eq(version)).exec(conn).await.map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }
}
