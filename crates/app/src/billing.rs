//! Money use cases (issue 3, first slice): a self-pay order through the bank's
//! aggregated payment, the bank's notification handled as P12 asks (verify → persist
//! the raw event → acknowledge → apply idempotently), and a persisted query job that
//! resolves every order whose notification never came (P4, P5): it asks the bank and
//! applies the answer, or closes the order at T_close.
use crate::jobs::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use domain::billing::{Applied, Channel, Order, OrderEvent, OrderLine, OrderState, Purpose, Split};
use domain::{DomainError, ErrorCode, Fen};
use gateways::ccb::client::BankStatus;
use store::outbox::NewJob;

pub const PAYMENT_QUERY: &str = "payment.query";
pub const REFUND_EXECUTE: &str = "refund.execute";

/// A new order number: `CB` + local timestamp + 6 random hex digits (≤ 30 characters,
/// what the bank's ORDERID takes).
pub fn new_order_no(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("CB{}{}", domain::clock::to_local(now).format("%Y%m%d%H%M%S"), hex::encode_upper(crypto::random_bytes::<3>()))
}

pub struct CreatedPayment {
    pub order_no: String,
    pub cashier_url: String,
}

/// What became of a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum NotificationOutcome {
    Applied,
    /// Seen before: acknowledged, nothing done (P1).
    Duplicate,
    /// For an order that has moved on (a late payment after close): kept for reconciliation.
    Ignored,
}

impl App {
    fn ccb(&self) -> Result<&gateways::ccb::client::CcbClient, DomainError> {
        self.ccb.as_deref().ok_or_else(|| DomainError::new(ErrorCode::UpstreamUnavailable, "ccb not configured"))
    }

    /// Creates a self-pay order, its recovery query job and an audit row in one
    /// transaction, then opens the bank payment and returns the cashier URL.
    pub async fn create_self_pay_order(
        &self,
        patient_id: Option<i64>,
        purpose: Purpose,
        lines: Vec<OrderLine>,
        actor: &Actor,
    ) -> Result<CreatedPayment, DomainError> {
        let total = Fen(lines.iter().map(|l| l.amount.0).sum());
        let order = Order::new(purpose, lines, Split::self_pay_only(total)).map_err(store::billing::transition_error)?;
        let now = self.now();
        let order_no = new_order_no(now);
        let txn = self.store.write_txn().await?;
        self.store.create_order(&txn, &order_no, patient_id, &order, now + self.policies.order_close_after, now).await?;
        let job = NewJob::new(PAYMENT_QUERY, serde_json::json!({"order_no": order_no}), now).at(now + self.policies.first_payment_query_after).max_attempts(50);
        self.store.enqueue(&txn, job, now).await?;
        self.store.append_audit(&txn, &actor.entry("order.create", format!("order:{order_no}"), purpose.label_zh()), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        // Outside the transaction: if the bank does not answer, the order stays Created
        // and the query job closes it at T_close.
        let cashier_url = self.ccb()?.create_payment(&order_no, total, "").await?;
        // A notification may already have moved the order on; that is fine.
        match self.store.apply_order_event(&order_no, OrderEvent::PaymentStarted, self.now()).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::OrderStateConflict => {}
            Err(e) => return Err(e),
        }
        Ok(CreatedPayment { order_no, cashier_url })
    }

    /// The bank's result notification. A bad signature, an unknown order or an amount
    /// that differs from the order is refused and changes nothing (P2). A verified one
    /// is stored raw (unique per notification) before anything else (P12).
    pub async fn handle_ccb_notification(&self, pairs: &[(String, String)], raw: &str) -> Result<NotificationOutcome, DomainError> {
        let n = self.ccb()?.verify_notification(pairs).map_err(|e| DomainError::new(ErrorCode::BadRequest, format!("ccb notification: {e}")))?;
        let amount = n.amount().map_err(|_| DomainError::new(ErrorCode::AmountMismatch, "ccb amount"))?;
        let (order, _) = self.store.order(&n.order_id).await?;
        if amount != order.due(Channel::SelfPay) {
            return Err(DomainError::new(ErrorCode::AmountMismatch, "ccb amount differs from the order"));
        }
        // The bank gives no event id: the verified content identifies a notification.
        let event_id = crypto::sm3::hex_digest(n.verify_string().as_bytes());
        if !self.store.record_channel_event("ccb", &event_id, &n.order_id, raw, self.now()).await? {
            return Ok(NotificationOutcome::Duplicate);
        }
        let ev =
            if n.says_paid() { OrderEvent::Captured { channel: Channel::SelfPay, amount } } else { OrderEvent::PaymentFailed { channel: Channel::SelfPay } };
        match self.store.apply_order_event(&n.order_id, ev, self.now()).await {
            Ok(Applied::Changed { .. }) => Ok(NotificationOutcome::Applied),
            Ok(Applied::AlreadyApplied) => Ok(NotificationOutcome::Duplicate),
            Err(e) if e.code == ErrorCode::OrderStateConflict => {
                tracing::warn!(order_no = %n.order_id, "notification for an order that moved on; left to reconciliation");
                Ok(NotificationOutcome::Ignored)
            }
            Err(e) => Err(e),
        }
    }

    /// Asks the bank where an order stands and applies the answer; closes it when
    /// unpaid past T_close. Returns the order's state afterwards.
    pub async fn resolve_payment(&self, order_no: &str) -> Result<OrderState, DomainError> {
        let (order, _) = self.store.order(order_no).await?;
        if !matches!(order.state, OrderState::Created | OrderState::Paying) {
            return Ok(order.state);
        }
        let bank = self.ccb()?.query(order_no).await?;
        let due = order.due(Channel::SelfPay);
        let ev = match bank {
            Some(b) if matches!(b.status, BankStatus::Paid | BankStatus::Refunded) => {
                if b.amount != due {
                    return Err(DomainError::new(ErrorCode::AmountMismatch, "bank amount differs from the order"));
                }
                Some(OrderEvent::Captured { channel: Channel::SelfPay, amount: due })
            }
            Some(b) if b.status == BankStatus::Failed => Some(OrderEvent::PaymentFailed { channel: Channel::SelfPay }),
            _ => None,
        };
        if let Some(ev) = ev {
            self.store.apply_order_event(order_no, ev, self.now()).await?;
        } else if self.store.order_expired(order_no, self.now()).await? {
            self.store.apply_order_event(order_no, OrderEvent::Expired, self.now()).await?;
        }
        Ok(self.store.order(order_no).await?.0.state)
    }
}

impl App {
    /// Requests a self-pay refund of `amount` (full or partial). The request and the job
    /// that carries it out commit together; the refund number is stable
    /// (`<order>-R<version>`), so every retry is the same refund at the bank (P7). A
    /// second refund while one is in flight, or more than is left, is refused.
    pub async fn request_refund(&self, order_no: &str, amount: Fen, reason: &str, actor: &Actor) -> Result<String, DomainError> {
        let amounts = domain::billing::PerChannel { insurance: Fen::ZERO, self_pay: amount };
        let now = self.now();
        let job = |version: i32| {
            let no = format!("{order_no}-R{version}");
            NewJob::new(REFUND_EXECUTE, serde_json::json!({"order_no": order_no, "refund_no": no, "amount": amount.0}), now)
                .dedupe(format!("{REFUND_EXECUTE}:{no}"))
                .max_attempts(30)
        };
        let (applied, version) = self.store.apply_order_event_with(order_no, OrderEvent::RefundRequested { amounts }, now, |_, v| vec![job(v)]).await?;
        if applied == Applied::AlreadyApplied {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "refund not recorded"));
        }
        let no = format!("{order_no}-R{version}");
        self.store.audit(&actor.entry("order.refund_request", format!("order:{order_no}"), reason), now).await?;
        Ok(no)
    }
}

/// Carries out a requested refund at the bank. A refusal for good (more than is left)
/// fails the refund; an unknown outcome is retried with the same refund number.
pub struct RefundExecute;

#[async_trait]
impl JobHandler for RefundExecute {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let field = |k: &str| payload.get(k).cloned().ok_or_else(|| JobError::Permanent(format!("payload lacks {k}")));
        let order_no = field("order_no")?.as_str().unwrap_or_default().to_owned();
        let refund_no = field("refund_no")?.as_str().unwrap_or_default().to_owned();
        let amount = Fen(field("amount")?.as_i64().ok_or_else(|| JobError::Permanent("amount".into()))?);
        let amounts = domain::billing::PerChannel { insurance: Fen::ZERO, self_pay: amount };
        let ccb = app.ccb().map_err(|e| JobError::Retry(e.to_string()))?;
        let ev = match ccb.refund(&order_no, &refund_no, amount).await {
            Ok(()) => OrderEvent::RefundSucceeded { amounts },
            Err(e) if e.code == ErrorCode::RefundExceedsCaptured => OrderEvent::RefundFailed { amounts },
            Err(e) => return Err(JobError::Retry(e.to_string())),
        };
        match app.store.apply_order_event(&order_no, ev, app.now()).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::OrderStateConflict => Ok(()),
            Err(e) => Err(JobError::Retry(e.to_string())),
        }
    }
}

/// The persisted recovery job: asks the bank until the order is settled one way or the
/// other. Survives crashes because it is an outbox row written with the order.
pub struct PaymentQuery;

#[async_trait]
impl JobHandler for PaymentQuery {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = payload.get("order_no").and_then(|v| v.as_str()).ok_or_else(|| JobError::Permanent("payload lacks order_no".into()))?;
        match app.resolve_payment(order_no).await {
            Ok(OrderState::Created | OrderState::Paying) => Err(JobError::Retry("bank says pending".into())),
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::OrderNotFound => Err(JobError::Permanent(e.to_string())),
            Err(e) => Err(JobError::Retry(e.to_string())),
        }
    }
}
