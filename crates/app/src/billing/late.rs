//! Late payments: money that reaches the bank for an order that no longer takes it (the
//! patient paid on a cashier left open after the order closed at T_close). The money is
//! booked into a suspense account the moment we learn of it — from the notification or
//! from reconciliation — and refunded at the bank under a stable refund number; the
//! refund books it back out. Nothing is kept without a service, and the ledger still
//! matches the bank's statement line for line.
use crate::App;
use crate::job::{JobError, JobHandler};
use async_trait::async_trait;
use domain::billing::{Channel, OrderState};
use domain::{DomainError, ErrorCode, Fen};
use store::billing::clearing_account;
use store::outbox::NewJob;

pub const LATE_REFUND: &str = "late_payment.refund";
pub const SUSPENSE: &str = "suspense:late_payment";

pub fn late_refund_no(order_no: &str) -> String {
    format!("{order_no}-L")
}

impl App {
    /// Books a late bank payment (dated `value_at`, when the bank took it) and schedules its
    /// refund. Idempotent: the second call for the same order does nothing and returns false.
    pub async fn book_late_payment(&self, order_no: &str, amount: Fen, value_at: chrono::DateTime<chrono::Utc>) -> Result<bool, DomainError> {
        let (order, _) = self.store.order(order_no).await?;
        if order.state != OrderState::Closed || order.captured.self_pay.0 != 0 || amount.0 <= 0 {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "not a late payment"));
        }
        let bank = clearing_account(Channel::SelfPay).to_owned();
        let legs = [(bank, "late_capture", amount.0), (SUSPENSE.to_owned(), "late_capture", -amount.0)];
        let now = self.now();
        let job = NewJob::new(LATE_REFUND, serde_json::json!({"order_no": order_no, "amount": amount.0}), now)
            .dedupe(format!("{LATE_REFUND}:{order_no}"))
            .max_attempts(30);
        let booked = self.store.post_once(&format!("{order_no}:late"), order_no, &legs, vec![job], now, value_at).await?;
        if booked {
            tracing::warn!(order_no, amount = amount.0, "late payment after close: held in suspense, refund scheduled");
            self.store.audit(&crate::Actor::system("billing").entry("order.late_payment", format!("order:{order_no}"), &amount.to_yuan_string()), now).await?;
        }
        Ok(booked)
    }
}

/// Refunds a late payment at the bank, then books it out of suspense.
pub struct LateRefund;

#[async_trait]
impl JobHandler for LateRefund {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = payload.get("order_no").and_then(|v| v.as_str()).ok_or_else(|| JobError::Permanent("payload lacks order_no".into()))?;
        let amount = Fen(payload.get("amount").and_then(|v| v.as_i64()).ok_or_else(|| JobError::Permanent("payload lacks amount".into()))?);
        let ccb = app.bank().map_err(|e| JobError::Retry(e.to_string()))?;
        let no = late_refund_no(order_no);
        if ccb.refund_query(order_no, &no).await.map_err(|e| JobError::Retry(e.to_string()))?.is_none() {
            ccb.refund(order_no, &no, amount).await.map_err(|e| JobError::Retry(e.to_string()))?;
        }
        let legs = [(SUSPENSE.to_owned(), "late_refund", amount.0), (clearing_account(Channel::SelfPay).to_owned(), "late_refund", -amount.0)];
        app.store
            .post_once(&format!("{order_no}:late-refund"), order_no, &legs, vec![], app.now(), app.now())
            .await
            .map_err(|e| JobError::Retry(e.to_string()))?;
        Ok(())
    }
}
