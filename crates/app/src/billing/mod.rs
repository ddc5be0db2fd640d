//! Money use cases (issue 3). An order is created priced and self-pay; the patient may
//! have the insurance centre re-split it (`insurance`), then pays the insurance part on
//! the 医保 cashier and the rest through the bank's aggregated payment. Every answer from
//! outside is untrusted until verified; every uncertainty is resolved by asking the other
//! side (`resolve_payment`), from the patient's result page or from a persisted query job
//! (P4, P5). Whatever a transition decides must happen next — a refund, an insurance
//! reversal — is enqueued in the same transaction as the transition (`apply`), so a crash
//! can never lose it.
pub mod console;
pub mod insurance;
pub mod jobs;
pub mod late;
pub mod ledger;
pub mod notices;
pub mod patient;
pub mod reconcile;
pub mod topup;

use crate::{Actor, App};
use domain::billing::{Applied, Channel, Order, OrderEvent, OrderLine, OrderState, PerChannel, Purpose, Split};
use domain::ports::{BankPort, BankStatus};
use domain::{DomainError, ErrorCode, Fen};
use store::outbox::NewJob;

pub use insurance::{InsuranceChannel, PayMethod};
pub use jobs::{FulfilOrder, InsuranceReverse, PaymentQuery, RefundExecute, RefundNotice};

pub const PAYMENT_QUERY: &str = "payment.query";
pub const REFUND_EXECUTE: &str = "refund.execute";
pub const INSURANCE_REVERSE: &str = "insurance.reverse";
pub const ORDER_FULFIL: &str = "order.fulfil";
/// Tells the patient a refund came back (the 退款成功 notice), per channel.
pub const REFUND_NOTICE: &str = "refund.notice";

/// The channel names attempts are kept under.
pub const BANK: &str = "ccb";
pub const CENTRE: &str = "nhsa";
/// The HIS settlement of a fulfilled bill is kept as an attempt under this name.
pub const HIS: &str = "his";

/// A new order number: `CB` + local timestamp + 10 random hex digits (26 characters; the
/// bank's ORDERID takes 30). Ten thousand orders in one second collide with odds of about
/// 5 in 100,000; [`App::create_order`] draws again when one does.
pub fn new_order_no(now: chrono::DateTime<chrono::Utc>) -> String {
    format!("CB{}{}", domain::clock::to_local(now).format("%Y%m%d%H%M%S"), hex::encode_upper(crypto::random_bytes::<5>()))
}

/// How often a colliding order number is drawn again before giving up.
const ORDER_NO_DRAWS: usize = 4;

/// The refund number of the refund a transition to version `v` started: stable, so every
/// retry is the same refund at the bank and at the centre (P7).
pub fn refund_no(order_no: &str, version: i32) -> String {
    format!("{order_no}-R{version}")
}

pub struct CreatedPayment {
    pub order_no: String,
    pub cashier_url: String,
}

/// A refund by where it goes: the insurance fund, the personal account, a relative's
/// account (家庭共济) and the bank card — what a person confirms before it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RefundPreview {
    pub fund: Fen,
    pub personal_account: Fen,
    pub mutual_aid: Fen,
    pub bank: Fen,
}

impl RefundPreview {
    /// The insurance parts (whole, when `insurance` and anything of them is refundable:
    /// the centre refunds a settlement, not a share) and `bank` from the bank.
    pub fn of(order: &Order, insurance: bool, bank: Fen) -> Self {
        let refundable = order.refundable(Channel::Insurance);
        let whole = insurance && refundable == order.captured.insurance && refundable.0 > 0;
        Self {
            fund: if whole { order.split.fund } else { Fen::ZERO },
            personal_account: if whole { order.split.personal_account } else { Fen::ZERO },
            mutual_aid: if whole { order.split.mutual_aid } else { Fen::ZERO },
            bank,
        }
    }

    pub fn insurance(&self) -> Fen {
        Fen(self.fund.0 + self.personal_account.0 + self.mutual_aid.0)
    }

    pub fn total(&self) -> Fen {
        Fen(self.insurance().0 + self.bank.0)
    }

    /// Each channel with money going back, labelled for people.
    pub fn parts_zh(&self) -> Vec<(&'static str, Fen)> {
        [("医保统筹", self.fund), ("医保个人账户", self.personal_account), ("家庭共济账户", self.mutual_aid), ("原银行卡/微信", self.bank)]
            .into_iter()
            .filter(|(_, a)| a.0 > 0)
            .collect()
    }
}

/// What became of a notification.
#[derive(Debug, PartialEq, Eq)]
pub enum NotificationOutcome {
    Applied,
    /// Seen before: acknowledged, nothing done (P1).
    Duplicate,
    /// For an order that has moved on; kept raw for reconciliation.
    Ignored,
    /// Money for an order that had closed: held in suspense and refunded.
    LatePayment,
}

/// The jobs a transition makes necessary, enqueued with it: a refund to carry out, an
/// insurance settlement to reverse, a service to deliver.
fn follow_ups(order_no: &str, ev: OrderEvent, after: &Order, version: i32, now: chrono::DateTime<chrono::Utc>) -> Vec<NewJob> {
    // A delivered payment gets its e-invoice; a refund brings the invoice in line.
    let invoice = |cause: String| crate::invoices::invoiced(after.purpose).then(|| crate::invoices::sync_job(&format!("order:{order_no}"), &cause, now));
    if ev == OrderEvent::Fulfilled {
        return invoice("fulfilled".into()).into_iter().collect();
    }
    // Every refund that completes is told to the patient, whatever state it leaves.
    if let OrderEvent::RefundSucceeded { amounts } = ev {
        return [invoice(format!("refund:{version}"))]
            .into_iter()
            .flatten()
            .chain([NewJob::new(
                REFUND_NOTICE,
                serde_json::json!({"order_no": order_no, "version": version, "insurance": amounts.insurance.0, "self_pay": amounts.self_pay.0}),
                now,
            )
            .dedupe(format!("{REFUND_NOTICE}:{order_no}:{version}"))
            .max_attempts(30)])
            .collect();
    }
    match after.state {
        OrderState::Refunding => {
            let no = refund_no(order_no, version);
            let a = after.refund_in_flight;
            vec![
                NewJob::new(
                    REFUND_EXECUTE,
                    serde_json::json!({"order_no": order_no, "refund_no": no, "insurance": a.insurance.0, "self_pay": a.self_pay.0}),
                    now,
                )
                .dedupe(format!("{REFUND_EXECUTE}:{no}"))
                .max_attempts(30),
            ]
        }
        OrderState::Reversing => {
            let sn = format!("{order_no}-V{version}");
            vec![
                NewJob::new(INSURANCE_REVERSE, serde_json::json!({"order_no": order_no, "sn": sn}), now)
                    .dedupe(format!("{INSURANCE_REVERSE}:{sn}"))
                    .max_attempts(30),
            ]
        }
        // A registration that closed unpaid gives its HIS lock back.
        OrderState::Closed if after.purpose == Purpose::Registration => vec![
            NewJob::new(crate::registration::BOOKING_RELEASE, serde_json::json!({"order_no": order_no}), now)
                .dedupe(format!("{}:{order_no}", crate::registration::BOOKING_RELEASE))
                .max_attempts(30),
        ],
        OrderState::Paid => {
            vec![NewJob::new(ORDER_FULFIL, serde_json::json!({"order_no": order_no}), now).dedupe(format!("{ORDER_FULFIL}:{order_no}")).max_attempts(30)]
        }
        _ => vec![],
    }
}

impl App {
    pub(crate) fn bank(&self) -> Result<&dyn BankPort, DomainError> {
        self.bank.as_deref().ok_or_else(|| DomainError::new(ErrorCode::UpstreamUnavailable, "bank not configured"))
    }

    /// Applies an event with the jobs it makes necessary, in one transaction.
    pub async fn apply(&self, order_no: &str, ev: OrderEvent) -> Result<(Applied, i32), DomainError> {
        self.apply_valued(order_no, ev, None).await
    }

    /// [`App::apply`] with the money dated `value_at` (reconciliation's healing).
    async fn apply_valued(&self, order_no: &str, ev: OrderEvent, value_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<(Applied, i32), DomainError> {
        let now = self.now();
        self.store.apply_order_event_valued(order_no, ev, now, value_at.unwrap_or(now), |after, v| follow_ups(order_no, ev, after, v, now)).await
    }

    /// Like [`App::apply`], but an event the order has moved past is not an error: the
    /// caller was late, and the order already says what happened.
    pub(crate) async fn apply_if_current(&self, order_no: &str, ev: OrderEvent) -> Result<(), DomainError> {
        self.apply_if_current_valued(order_no, ev, None).await
    }

    async fn apply_if_current_valued(&self, order_no: &str, ev: OrderEvent, value_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<(), DomainError> {
        match self.apply_valued(order_no, ev, value_at).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::OrderStateConflict => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Creates a priced order (all self-pay until the insurance centre splits it), its
    /// recovery query job and an audit row, in one transaction.
    pub async fn create_order(
        &self,
        patient_id: Option<i64>,
        purpose: Purpose,
        lines: Vec<OrderLine>,
        subject: Option<&str>,
        actor: &Actor,
    ) -> Result<String, DomainError> {
        self.create_order_for_dept(patient_id, purpose, lines, subject, None, actor).await
    }

    /// [`App::create_order`] for an order that belongs to a department (a registration,
    /// a clinic's bill): the INS-2 rule reads the department at every payment step.
    pub async fn create_order_for_dept(
        &self,
        patient_id: Option<i64>,
        purpose: Purpose,
        lines: Vec<OrderLine>,
        subject: Option<&str>,
        dept_id: Option<&str>,
        actor: &Actor,
    ) -> Result<String, DomainError> {
        self.create_order_until(patient_id, purpose, lines, subject, dept_id, None, actor).await
    }

    /// [`App::create_order_for_dept`] closing at T_close or at `hold_ends` if earlier: a
    /// registration's order closes when the HIS gives the place up, so the hold the pay page
    /// promises is the one the HIS keeps.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn create_order_until(
        &self,
        patient_id: Option<i64>,
        purpose: Purpose,
        lines: Vec<OrderLine>,
        subject: Option<&str>,
        dept_id: Option<&str>,
        hold_ends: Option<chrono::DateTime<chrono::Utc>>,
        actor: &Actor,
    ) -> Result<String, DomainError> {
        let total = Fen(lines.iter().map(|l| l.amount.0).sum());
        let order = Order::new(purpose, lines, Split::self_pay_only(total)).map_err(store::billing::transition_error)?;
        let now = self.now();
        let mut draws = 0;
        let (txn, order_no) = loop {
            let order_no = new_order_no(now);
            let txn = self.store.write_txn().await?;
            let row = store::billing::NewOrder {
                order_no: &order_no,
                patient_id,
                order: &order,
                subject,
                dept_id,
                expires_at: hold_ends.map_or(now + self.policies.order_close_after, |h| h.min(now + self.policies.order_close_after)),
            };
            match self.store.create_order(&txn, row, now).await {
                Ok(()) => break (txn, order_no),
                // The number was taken (the transaction is dropped, so rolled back): draw again.
                Err(e) if e.code == ErrorCode::Conflict && draws + 1 < ORDER_NO_DRAWS => draws += 1,
                Err(e) => return Err(e),
            }
        };
        let job = NewJob::new(PAYMENT_QUERY, serde_json::json!({"order_no": order_no}), now).at(now + self.policies.first_payment_query_after).max_attempts(50);
        self.store.enqueue(&txn, job, now).await?;
        self.store.append_audit(&txn, &actor.entry("order.create", format!("order:{order_no}"), purpose.label_zh()), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(order_no)
    }

    /// Creates a self-pay order and opens its bank payment.
    pub async fn create_self_pay_order(
        &self,
        patient_id: Option<i64>,
        purpose: Purpose,
        lines: Vec<OrderLine>,
        actor: &Actor,
    ) -> Result<CreatedPayment, DomainError> {
        let order_no = self.create_order(patient_id, purpose, lines, None, actor).await?;
        let cashier_url = self.start_self_pay(&order_no).await?;
        Ok(CreatedPayment { order_no, cashier_url })
    }

    /// Opens (or re-opens) the bank payment of the order's self-pay part and returns the
    /// cashier URL. With nothing captured yet, choosing self-pay drops any insurance
    /// pre-settlement (revoked at the centre first). After the insurance part is
    /// captured, this pays the rest.
    pub async fn start_self_pay(&self, order_no: &str) -> Result<String, DomainError> {
        let (order, _) = self.store.order(order_no).await?;
        if !matches!(order.state, OrderState::Created | OrderState::Paying) {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "order not payable"));
        }
        if let Some((_, detail)) = self.store.attempt(order_no, BANK).await? {
            let amount = detail.get("amount").and_then(|v| v.as_i64()).unwrap_or(-1);
            let url = detail.get("cashier_url").and_then(|v| v.as_str()).unwrap_or_default();
            if amount != order.due(Channel::SelfPay).0 {
                return Err(DomainError::new(ErrorCode::PaymentMethodLocked, "bank payment opened for another amount"));
            }
            if !url.is_empty() {
                return Ok(url.to_owned());
            }
            // The bank was asked before but its answer never reached us: ask again for the
            // same order and amount (the bank answers a repeat with the same payment).
        }
        if order.captured.insurance.0 == 0 && order.split != Split::self_pay_only(order.total()) {
            self.drop_insurance_presettlement(order_no).await?;
            self.apply(order_no, OrderEvent::Priced { split: Split::self_pay_only(order.total()) }).await?;
        }
        let (order, _) = self.store.order(order_no).await?;
        let due = order.due(Channel::SelfPay);
        if due.0 == 0 {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "nothing left to pay"));
        }
        // Recorded before the bank is asked: if the answer is lost, the query job still
        // knows to ask the bank about this order.
        self.store.put_attempt(order_no, BANK, order_no, &serde_json::json!({"amount": due.0, "cashier_url": ""}), self.now()).await?;
        let cashier_url = self.bank()?.create_payment(order_no, due).await?;
        self.store.put_attempt(order_no, BANK, order_no, &serde_json::json!({"amount": due.0, "cashier_url": cashier_url}), self.now()).await?;
        self.apply_if_current(order_no, OrderEvent::PaymentStarted).await?;
        Ok(cashier_url)
    }

    /// The bank's result notification. A bad signature, an unknown order or an amount
    /// that differs from the order is refused and changes nothing (P2). A verified one
    /// is stored raw (unique per notification) before anything else (P12).
    pub async fn handle_ccb_notification(&self, pairs: &[(String, String)], raw: &str) -> Result<NotificationOutcome, DomainError> {
        let n = self.bank()?.verify_notification(pairs)?;
        if let Some(d) = n.accounting_date
            && (self.today() - d).num_days().abs() > self.policies.bank_notify_window_days
        {
            return Err(DomainError::new(ErrorCode::TimestampSkewed, format!("ccb notification accounting date {d} outside the window")));
        }
        let amount = n.amount;
        let (order, _) = self.store.order(&n.order_id).await?;
        if amount != order.due(Channel::SelfPay) {
            return Err(DomainError::new(ErrorCode::AmountMismatch, "ccb amount differs from the order"));
        }
        // The notification is stored once (its id is derived from the verified content);
        // applying it is idempotent, so a repeat is applied again — which is what heals a
        // crash between storing the event and applying it (P12).
        self.store.record_channel_event(BANK, &n.event_id, &n.order_id, raw, self.now()).await?;
        let ev = if n.paid { OrderEvent::Captured { channel: Channel::SelfPay, amount } } else { OrderEvent::PaymentFailed { channel: Channel::SelfPay } };
        match self.apply(&n.order_id, ev).await {
            Ok((Applied::Changed { .. }, _)) => {
                crate::crash::point(crate::crash::AFTER_CAPTURE);
                Ok(NotificationOutcome::Applied)
            }
            Ok((Applied::AlreadyApplied, _)) => Ok(NotificationOutcome::Duplicate),
            Err(e) if e.code == ErrorCode::OrderStateConflict => {
                let (now_order, _) = self.store.order(&n.order_id).await?;
                if n.paid && now_order.state == OrderState::Closed && now_order.captured.self_pay.0 == 0 {
                    self.book_late_payment(&n.order_id, amount, self.now()).await?;
                    return Ok(NotificationOutcome::LatePayment);
                }
                tracing::warn!(order_no = %n.order_id, "notification for an order that moved on; left to reconciliation");
                Ok(NotificationOutcome::Ignored)
            }
            Err(e) => Err(e),
        }
    }

    /// Asks the bank about the self-pay part, if a bank payment was opened and is not yet
    /// captured, and applies the answer.
    async fn resolve_self_pay(&self, order_no: &str, order: &Order, value_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<(), DomainError> {
        let due = order.due(Channel::SelfPay);
        if due.0 == 0 || order.captured.self_pay == due || self.store.attempt(order_no, BANK).await?.is_none() {
            return Ok(());
        }
        let ev = match self.bank()?.query(order_no).await? {
            Some(b) if matches!(b.status, BankStatus::Paid | BankStatus::Refunded) => {
                if b.amount != due {
                    return Err(DomainError::new(ErrorCode::AmountMismatch, "bank amount differs from the order"));
                }
                OrderEvent::Captured { channel: Channel::SelfPay, amount: due }
            }
            Some(b) if b.status == BankStatus::Failed => OrderEvent::PaymentFailed { channel: Channel::SelfPay },
            _ => return Ok(()),
        };
        self.apply_if_current_valued(order_no, ev, value_at).await
    }

    /// Asks every channel where the order stands and applies the answers; closes (or
    /// unwinds) it when unpaid past T_close. Returns the order's state afterwards.
    pub async fn resolve_payment(&self, order_no: &str) -> Result<OrderState, DomainError> {
        self.resolve_payment_valued(order_no, None).await
    }

    /// [`App::resolve_payment`] booking found money at `value_at` (reconciliation).
    pub async fn resolve_payment_valued(&self, order_no: &str, value_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<OrderState, DomainError> {
        let (order, _) = self.store.order(order_no).await?;
        if !matches!(order.state, OrderState::Created | OrderState::Paying) {
            return Ok(order.state);
        }
        self.resolve_insurance(order_no, &order, value_at).await?;
        let (order, _) = self.store.order(order_no).await?;
        if matches!(order.state, OrderState::Created | OrderState::Paying) {
            self.resolve_self_pay(order_no, &order, value_at).await?;
        }
        let (order, _) = self.store.order(order_no).await?;
        if matches!(order.state, OrderState::Created | OrderState::Paying) && self.store.order_expired(order_no, self.now()).await? {
            // An insurance pre-settlement nobody confirmed is revoked first, so the centre
            // cannot settle it after we closed the order.
            if order.captured.insurance.0 == 0 {
                self.drop_insurance_presettlement(order_no).await?;
            }
            self.apply_if_current(order_no, OrderEvent::Expired).await?;
        }
        Ok(self.store.order(order_no).await?.0.state)
    }

    /// Requests a refund (full or partial) of the captured money per channel. The
    /// request and the job that carries it out commit together; the refund number is
    /// stable, so every retry is the same refund (P7). Insurance parts go back whole (the
    /// centre refunds a settlement, not a share of it). A second refund while one is in
    /// flight, or more than is left, is refused.
    pub async fn request_refund(&self, order_no: &str, amounts: PerChannel, reason: &str, actor: &Actor) -> Result<String, DomainError> {
        let (order, _) = self.store.order(order_no).await?;
        if amounts.insurance.0 != 0 && amounts.insurance != order.refundable(Channel::Insurance) {
            return Err(DomainError::new(ErrorCode::InsuranceRefundWhole, "insurance refunds are whole"));
        }
        if reason.trim().is_empty() || reason.chars().count() > 200 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "refund reason"));
        }
        let (applied, version) = self.apply(order_no, OrderEvent::RefundRequested { amounts }).await?;
        if applied == Applied::AlreadyApplied {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "refund not recorded"));
        }
        let no = refund_no(order_no, version);
        let detail = format!("{no} 医保{} 自付{} {}", amounts.insurance.to_yuan_string(), amounts.self_pay.to_yuan_string(), reason.trim());
        self.store.audit(&actor.entry("order.refund_request", format!("order:{order_no}"), &detail), self.now()).await?;
        Ok(no)
    }

    /// The service cannot be delivered: everything goes back automatically (P6).
    pub async fn fulfilment_failed(&self, order_no: &str, why: &str) -> Result<(), DomainError> {
        self.apply_if_current(order_no, OrderEvent::FulfilmentFailed).await?;
        self.store.audit(&Actor::system("billing").entry("order.fulfilment_failed", format!("order:{order_no}"), why), self.now()).await?;
        Ok(())
    }
}
