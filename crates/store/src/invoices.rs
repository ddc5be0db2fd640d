//! E-invoices (issue 18): each business's series of invoices, moved only with its version.
use crate::entity::invoice;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::invoices::{InvoiceAmounts, InvoiceKind, InvoiceState};
use domain::{DomainError, ErrorCode, Fen};
use sea_orm::prelude::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

#[derive(Clone, Debug)]
pub struct InvoiceRow {
    pub id: i64,
    pub subject: String,
    pub seq: i32,
    pub bus_no: String,
    pub kind: InvoiceKind,
    pub state: InvoiceState,
    pub patient_id: Option<i64>,
    pub amounts: InvoiceAmounts,
    pub batch_code: Option<String>,
    pub bill_no: Option<String>,
    pub detail: serde_json::Value,
    pub bus_time: DateTime<Utc>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub struct NewInvoice<'a> {
    pub subject: &'a str,
    pub seq: i32,
    pub bus_no: &'a str,
    pub kind: InvoiceKind,
    pub patient_id: Option<i64>,
    pub amounts: InvoiceAmounts,
    pub bus_time: DateTime<Utc>,
}

fn open(m: invoice::Model) -> Result<InvoiceRow, DomainError> {
    let bad = |what: &str| DomainError::new(ErrorCode::Internal, format!("invoice {}: bad {what}", m.bus_no));
    Ok(InvoiceRow {
        id: m.id,
        kind: InvoiceKind::parse(&m.kind).ok_or_else(|| bad("kind"))?,
        state: InvoiceState::parse(&m.state).ok_or_else(|| bad("state"))?,
        amounts: InvoiceAmounts { total: Fen(m.total), fund: Fen(m.fund), account: Fen(m.account), other_fund: Fen(m.other_fund), own: Fen(m.own) },
        detail: serde_json::from_str(&m.detail).map_err(|_| bad("detail"))?,
        subject: m.subject,
        seq: m.seq,
        bus_no: m.bus_no,
        patient_id: m.patient_id,
        batch_code: m.batch_code,
        bill_no: m.bill_no,
        bus_time: m.bus_time,
        version: m.version,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

impl Store {
    /// Starts the next invoice of a business in `Issuing`; `false` when that place in the
    /// series is taken (another worker started it: read the series again).
    pub async fn insert_invoice<C: ConnectionTrait>(&self, conn: &C, n: NewInvoice<'_>, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let a = n.amounts;
        let m = invoice::ActiveModel {
            subject: Set(n.subject.into()),
            seq: Set(n.seq),
            bus_no: Set(n.bus_no.into()),
            kind: Set(n.kind.as_str().into()),
            state: Set(InvoiceState::Issuing.as_str().into()),
            patient_id: Set(n.patient_id),
            total: Set(a.total.0),
            fund: Set(a.fund.0),
            account: Set(a.account.0),
            other_fund: Set(a.other_fund.0),
            own: Set(a.own.0),
            batch_code: Set(None),
            bill_no: Set(None),
            detail: Set("{}".into()),
            bus_time: Set(micros(n.bus_time)),
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

    /// A business's invoices in series order.
    pub async fn invoices_of(&self, subject: &str) -> Result<Vec<InvoiceRow>, DomainError> {
        let rows =
            invoice::Entity::find().filter(invoice::Column::Subject.eq(subject)).order_by_asc(invoice::Column::Seq).all(&self.db).await.map_err(db_err)?;
        rows.into_iter().map(open).collect()
    }

    pub async fn invoice(&self, id: i64) -> Result<InvoiceRow, DomainError> {
        let m = invoice::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such invoice"))?;
        open(m)
    }

    /// The invoices of some patients, newest first (a patient's 电子票据 list).
    pub async fn invoices_of_patients(&self, patient_ids: &[i64], limit: u64) -> Result<Vec<InvoiceRow>, DomainError> {
        if patient_ids.is_empty() {
            return Ok(vec![]);
        }
        let rows = invoice::Entity::find()
            .filter(invoice::Column::PatientId.is_in(patient_ids.iter().copied()))
            .order_by_desc(invoice::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(open).collect()
    }

    /// Moves invoice `id` if it is still at `version`; `false` if it moved meanwhile.
    pub async fn update_invoice<C: ConnectionTrait>(
        &self,
        conn: &C,
        (id, version): (i64, i32),
        state: InvoiceState,
        bill: Option<(&str, &str)>,
        detail: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut q = invoice::Entity::update_many()
            .col_expr(invoice::Column::Version, Expr::value(version + 1))
            .col_expr(invoice::Column::UpdatedAt, Expr::value(micros(now)))
            .col_expr(invoice::Column::State, Expr::value(state.as_str()))
            .col_expr(invoice::Column::Detail, Expr::value(detail.to_string()));
        if let Some((batch, no)) = bill {
            q = q.col_expr(invoice::Column::BatchCode, Expr::value(batch)).col_expr(invoice::Column::BillNo, Expr::value(no));
        }
        let r = q.filter(invoice::Column::Id.eq(id)).filter(invoice::Column::Version.eq(version)).exec(conn).await.map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }
}
