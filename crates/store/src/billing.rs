//! Orders, raw channel events and the double-entry ledger. An event is applied to an
//! order in one transaction that also writes the ledger postings for any money it
//! moved; a version column makes two racing applications of the same event change
//! the order once (P1), and the ledger's postings always sum to zero (P8).
use crate::entity::{channel_event, ledger_entry, payment_attempt, payment_order};
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::billing::{Applied, Channel, Order, OrderEvent, TransitionError};
pub use domain::billing::{OrderFilter, OrderRow};
use domain::{DomainError, ErrorCode};
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

pub fn transition_error(e: TransitionError) -> DomainError {
    let code = match e {
        TransitionError::NotAllowed { .. } => ErrorCode::OrderStateConflict,
        TransitionError::AmountMismatch | TransitionError::InvalidSplit => ErrorCode::AmountMismatch,
        TransitionError::RefundExceedsCaptured => ErrorCode::RefundExceedsCaptured,
    };
    DomainError::new(code, format!("{e:?}"))
}

/// The ledger account a channel's money clears through.
pub fn clearing_account(c: Channel) -> &'static str {
    match c {
        Channel::Insurance => "clearing:insurance",
        Channel::SelfPay => "clearing:bank",
    }
}

/// The postings that take `before` to `after`: money captured goes clearing → revenue,
/// money refunded goes back. Each posting is two legs summing to zero.
pub fn postings(before: &Order, after: &Order) -> Vec<(String, &'static str, i64)> {
    let revenue = match after.purpose {
        domain::billing::Purpose::Registration => "revenue:registration",
        domain::billing::Purpose::OutpatientBill => "revenue:outpatient",
        domain::billing::Purpose::DepositTopUp => "liability:deposit",
        domain::billing::Purpose::CardRecharge => "liability:card",
        domain::billing::Purpose::RecordCopy => "revenue:record_copy",
        domain::billing::Purpose::DischargeBalance => "revenue:inpatient",
    };
    let mut out = Vec::new();
    for c in [Channel::Insurance, Channel::SelfPay] {
        let captured = after.captured.get(c).0 - before.captured.get(c).0;
        if captured != 0 {
            out.push((clearing_account(c).to_owned(), "capture", captured));
            out.push((revenue.to_owned(), "capture", -captured));
        }
        let refunded = after.refunded.get(c).0 - before.refunded.get(c).0;
        if refunded != 0 {
            out.push((revenue.to_owned(), "refund", refunded));
            out.push((clearing_account(c).to_owned(), "refund", -refunded));
        }
    }
    out
}

/// A new order row.
pub struct NewOrder<'a> {
    pub order_no: &'a str,
    pub patient_id: Option<i64>,
    pub order: &'a Order,
    /// What it pays for, for fulfilment (`bill:<his patient>:<recipes>` …).
    pub subject: Option<&'a str>,
    /// The department it belongs to, for the INS-2 rule.
    pub dept_id: Option<&'a str>,
    pub expires_at: DateTime<Utc>,
}

/// Writes a posting's legs. Fails with a unique violation if the posting was written before.
async fn write_legs<C: ConnectionTrait>(
    conn: &C,
    posting: &str,
    order_no: &str,
    legs: &[(String, &'static str, i64)],
    now: DateTime<Utc>,
) -> Result<(), DomainError> {
    debug_assert_eq!(legs.iter().map(|l| l.2).sum::<i64>(), 0, "a posting sums to zero");
    for (i, (account, memo, amount)) in legs.iter().enumerate() {
        ledger_entry::ActiveModel {
            posting: Set(posting.to_owned()),
            order_no: Set(order_no.into()),
            account: Set(account.clone()),
            amount: Set(*amount),
            memo: Set((*memo).into()),
            at: Set(micros(now)),
            leg: Set(i as i32),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(|e| if is_unique_violation(&e) { DomainError::new(ErrorCode::Conflict, "posting already written") } else { db_err(e) })?;
    }
    Ok(())
}

impl Store {
    /// Writes a posting that is not an order transition (a late payment held in suspense
    /// and its refund), with the jobs it makes necessary. Returns false when it was
    /// written before: safe to call again.
    pub async fn post_once(
        &self,
        posting: &str,
        order_no: &str,
        legs: &[(String, &'static str, i64)],
        jobs: Vec<crate::outbox::NewJob>,
        now: DateTime<Utc>,
        value_at: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        if legs.iter().map(|l| l.2).sum::<i64>() != 0 {
            return Err(DomainError::new(ErrorCode::Internal, "unbalanced posting"));
        }
        let txn = self.write_txn().await?;
        match write_legs(&txn, posting, order_no, legs, value_at).await {
            Ok(()) => {
                for job in jobs {
                    self.enqueue(&txn, job, now).await?;
                }
                txn.commit().await.map_err(db_err)?;
                Ok(true)
            }
            Err(e) if e.code == ErrorCode::Conflict => {
                txn.rollback().await.map_err(db_err)?;
                Ok(false)
            }
            Err(e) => Err(e),
        }
    }

    /// Every leg of the postings that touch `account` with `from <= at < to`, in posting order.
    pub async fn postings_touching(&self, account: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ledger_entry::Model>, DomainError> {
        let touching: Vec<String> = ledger_entry::Entity::find()
            .filter(ledger_entry::Column::At.gte(micros(from)))
            .filter(ledger_entry::Column::At.lt(micros(to)))
            .filter(ledger_entry::Column::Account.eq(account))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|e| e.posting)
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = Vec::new();
        for chunk in touching.chunks(500) {
            out.extend(ledger_entry::Entity::find().filter(ledger_entry::Column::Posting.is_in(chunk.to_vec())).all(&self.db).await.map_err(db_err)?);
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    /// Ledger entries with `from <= at < to`, in posting order.
    pub async fn ledger_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<ledger_entry::Model>, DomainError> {
        ledger_entry::Entity::find()
            .filter(ledger_entry::Column::At.gte(micros(from)))
            .filter(ledger_entry::Column::At.lt(micros(to)))
            .order_by_asc(ledger_entry::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    /// Orders by number (for decorating ledger lines and reconciliation).
    pub async fn orders_by_no(&self, order_nos: &[String]) -> Result<Vec<OrderRow>, DomainError> {
        let mut out = Vec::with_capacity(order_nos.len());
        for chunk in order_nos.chunks(500) {
            let rows = payment_order::Entity::find().filter(payment_order::Column::OrderNo.is_in(chunk.to_vec())).all(&self.db).await.map_err(db_err)?;
            for m in rows {
                out.push(order_row(m)?);
            }
        }
        Ok(out)
    }

    pub async fn create_order<C: ConnectionTrait>(&self, conn: &C, o: NewOrder<'_>, now: DateTime<Utc>) -> Result<(), DomainError> {
        let NewOrder { order_no, patient_id, order, subject, dept_id, expires_at } = o;
        let now = micros(now);
        payment_order::ActiveModel {
            subject: Set(subject.map(str::to_owned)),
            dept_id: Set(dept_id.map(str::to_owned)),
            order_no: Set(order_no.to_owned()),
            patient_id: Set(patient_id),
            purpose: Set(order.purpose.as_str().to_owned()),
            state: Set(order.state.as_str().to_owned()),
            total: Set(order.total().0),
            body: Set(serde_json::to_string(order).expect("order serialises")),
            version: Set(1),
            expires_at: Set(micros(expires_at)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(|e| if is_unique_violation(&e) { DomainError::new(ErrorCode::Conflict, "order_no taken") } else { db_err(e) })?;
        Ok(())
    }

    pub async fn order(&self, order_no: &str) -> Result<(Order, i32), DomainError> {
        let m = payment_order::Entity::find()
            .filter(payment_order::Column::OrderNo.eq(order_no))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or(ErrorCode::OrderNotFound)?;
        let o: Order = serde_json::from_str(&m.body).map_err(|e| DomainError::new(ErrorCode::Internal, format!("order body: {e}")))?;
        Ok((o, m.version))
    }

    /// Whether the order's time to pay (T_close) has run out at `now`.
    pub async fn order_expired(&self, order_no: &str, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let m = payment_order::Entity::find()
            .filter(payment_order::Column::OrderNo.eq(order_no))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or(ErrorCode::OrderNotFound)?;
        Ok(now >= m.expires_at)
    }

    /// Stores a raw inbound notification. Returns false when this channel event id was
    /// seen before (a duplicate delivery: acknowledge it, do nothing else).
    pub async fn record_channel_event(&self, channel: &str, event_id: &str, order_no: &str, raw: &str, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let am = channel_event::ActiveModel {
            channel: Set(channel.into()),
            event_id: Set(event_id.into()),
            order_no: Set(order_no.into()),
            raw: Set(raw.into()),
            received_at: Set(micros(now)),
            ..Default::default()
        };
        match am.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// Applies an event to an order with its ledger postings, in one transaction.
    /// Concurrent appliers retry on a version conflict, so a duplicated event lands once.
    pub async fn apply_order_event(&self, order_no: &str, ev: OrderEvent, now: DateTime<Utc>) -> Result<Applied, DomainError> {
        self.apply_order_event_with(order_no, ev, now, |_, _| Vec::new()).await.map(|(a, _)| a)
    }

    /// Like [`Store::apply_order_event`], and when the event changes the order, enqueues
    /// the jobs `jobs(order, new_version)` returns in the same transaction — the side
    /// effect the change decided can never be lost (DESIGN: the outbox). Returns the new
    /// version too.
    pub async fn apply_order_event_with(
        &self,
        order_no: &str,
        ev: OrderEvent,
        now: DateTime<Utc>,
        jobs: impl Fn(&Order, i32) -> Vec<crate::outbox::NewJob>,
    ) -> Result<(Applied, i32), DomainError> {
        self.apply_order_event_valued(order_no, ev, now, now, jobs).await
    }

    /// Like [`Store::apply_order_event_with`], with the ledger legs dated `value_at`: when
    /// money is found late (a lost callback healed by reconciliation), it is booked on the
    /// day it moved at the channel, so the day's books match the channel's statement.
    pub async fn apply_order_event_valued(
        &self,
        order_no: &str,
        ev: OrderEvent,
        now: DateTime<Utc>,
        value_at: DateTime<Utc>,
        jobs: impl Fn(&Order, i32) -> Vec<crate::outbox::NewJob>,
    ) -> Result<(Applied, i32), DomainError> {
        for _ in 0..8 {
            let (before, version) = self.order(order_no).await?;
            let mut after = before.clone();
            let applied = after.apply(ev).map_err(transition_error)?;
            if applied == Applied::AlreadyApplied {
                return Ok((applied, version));
            }
            let txn = self.write_txn().await?;
            let res = payment_order::Entity::update_many()
                .col_expr(payment_order::Column::Body, Expr::value(serde_json::to_string(&after).expect("order serialises")))
                .col_expr(payment_order::Column::State, Expr::value(after.state.as_str()))
                .col_expr(payment_order::Column::Version, Expr::value(version + 1))
                .col_expr(payment_order::Column::UpdatedAt, Expr::value(micros(now)))
                .filter(payment_order::Column::OrderNo.eq(order_no))
                .filter(payment_order::Column::Version.eq(version))
                .exec(&txn)
                .await
                .map_err(db_err)?;
            if res.rows_affected != 1 {
                txn.rollback().await.map_err(db_err)?;
                continue;
            }
            let posting = format!("{order_no}:v{}", version + 1);
            write_legs(&txn, &posting, order_no, &postings(&before, &after), value_at).await?;
            for job in jobs(&after, version + 1) {
                self.enqueue(&txn, job, now).await?;
            }
            txn.commit().await.map_err(db_err)?;
            return Ok((applied, version + 1));
        }
        Err(DomainError::new(ErrorCode::OrderStateConflict, "too many concurrent updates"))
    }

    pub async fn ledger_of(&self, order_no: &str) -> Result<Vec<ledger_entry::Model>, DomainError> {
        ledger_entry::Entity::find()
            .filter(ledger_entry::Column::OrderNo.eq(order_no))
            .order_by_asc(ledger_entry::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }
}

fn order_row(m: payment_order::Model) -> Result<OrderRow, DomainError> {
    let order: Order = serde_json::from_str(&m.body).map_err(|e| DomainError::new(ErrorCode::Internal, format!("order body: {e}")))?;
    Ok(OrderRow {
        order_no: m.order_no,
        patient_id: m.patient_id,
        subject: m.subject,
        dept_id: m.dept_id,
        order,
        version: m.version,
        expires_at: m.expires_at,
        created_at: m.created_at,
        updated_at: m.updated_at,
    })
}

impl Store {
    pub async fn order_row(&self, order_no: &str) -> Result<OrderRow, DomainError> {
        let m = payment_order::Entity::find()
            .filter(payment_order::Column::OrderNo.eq(order_no))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or(ErrorCode::OrderNotFound)?;
        order_row(m)
    }

    /// Orders matching `f`, newest first, at most `limit`.
    pub async fn search_orders(&self, f: &OrderFilter, limit: u64) -> Result<Vec<OrderRow>, DomainError> {
        use sea_orm::QuerySelect;
        let mut q = payment_order::Entity::find();
        if let Some(no) = f.order_no.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(payment_order::Column::OrderNo.starts_with(no));
        }
        if let Some(s) = f.state.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(payment_order::Column::State.eq(s));
        }
        if let Some(p) = f.purpose.as_deref().filter(|s| !s.is_empty()) {
            q = q.filter(payment_order::Column::Purpose.eq(p));
        }
        if let Some(ids) = &f.patient_ids {
            if ids.is_empty() {
                return Ok(vec![]);
            }
            q = q.filter(payment_order::Column::PatientId.is_in(ids.clone()));
        }
        if let Some(t) = f.from {
            q = q.filter(payment_order::Column::CreatedAt.gte(micros(t)));
        }
        if let Some(t) = f.to {
            q = q.filter(payment_order::Column::CreatedAt.lt(micros(t)));
        }
        let rows =
            q.order_by_desc(payment_order::Column::CreatedAt).order_by_desc(payment_order::Column::Id).limit(limit).all(&self.db).await.map_err(db_err)?;
        rows.into_iter().map(order_row).collect()
    }

    /// The newest order still open (created or paying) for a subject, if any.
    pub async fn open_order_for_subject(&self, subject: &str) -> Result<Option<OrderRow>, DomainError> {
        let m = payment_order::Entity::find()
            .filter(payment_order::Column::Subject.eq(subject))
            .filter(payment_order::Column::State.is_in(["created", "paying"]))
            .order_by_desc(payment_order::Column::Id)
            .one(&self.db)
            .await
            .map_err(db_err)?;
        m.map(order_row).transpose()
    }

    /// Records (or updates) the order's payment at a channel.
    pub async fn put_attempt(&self, order_no: &str, channel: &str, reference: &str, detail: &serde_json::Value, now: DateTime<Utc>) -> Result<(), DomainError> {
        let existing = payment_attempt::Entity::find()
            .filter(payment_attempt::Column::OrderNo.eq(order_no))
            .filter(payment_attempt::Column::Channel.eq(channel))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        let detail = detail.to_string();
        match existing {
            Some(m) => {
                let mut am: payment_attempt::ActiveModel = m.into();
                am.reference = Set(reference.into());
                am.detail = Set(detail);
                am.updated_at = Set(micros(now));
                am.update(&self.db).await.map_err(db_err)?;
            }
            None => {
                payment_attempt::ActiveModel {
                    order_no: Set(order_no.into()),
                    channel: Set(channel.into()),
                    reference: Set(reference.into()),
                    detail: Set(detail),
                    created_at: Set(micros(now)),
                    updated_at: Set(micros(now)),
                    ..Default::default()
                }
                .insert(&self.db)
                .await
                .map_err(|e| if is_unique_violation(&e) { DomainError::new(ErrorCode::Conflict, "attempt raced") } else { db_err(e) })?;
            }
        }
        Ok(())
    }

    /// The order's payment at a channel: its reference and detail.
    pub async fn attempt(&self, order_no: &str, channel: &str) -> Result<Option<(String, serde_json::Value)>, DomainError> {
        let m = payment_attempt::Entity::find()
            .filter(payment_attempt::Column::OrderNo.eq(order_no))
            .filter(payment_attempt::Column::Channel.eq(channel))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        Ok(m.map(|m| (m.reference, serde_json::from_str(&m.detail).unwrap_or(serde_json::Value::Null))))
    }

    pub async fn attempts_of(&self, order_no: &str) -> Result<Vec<payment_attempt::Model>, DomainError> {
        payment_attempt::Entity::find()
            .filter(payment_attempt::Column::OrderNo.eq(order_no))
            .order_by_asc(payment_attempt::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    pub async fn channel_events_of(&self, order_no: &str) -> Result<Vec<channel_event::Model>, DomainError> {
        channel_event::Entity::find()
            .filter(channel_event::Column::OrderNo.eq(order_no))
            .order_by_asc(channel_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }
}
