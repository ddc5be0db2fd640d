//! The finance console's use cases: search orders, read an order's whole story, refund
//! with a reason after a fresh second factor (S6). Reading a story is a sensitive read
//! (it names a patient and shows raw channel messages), so it is audited.
use crate::audit::AuditRecord;
use crate::{Actor, App};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::billing::PerChannel;
use domain::billing::{OrderFilter, OrderRow};
use domain::{ErrorCode, Fen};

/// A channel's reference for an order (the bank's ORDERID, the centre's payOrdId …).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttemptView {
    pub channel: String,
    pub reference: String,
    /// The channel's data as JSON text (may hold tokens: pages redact it).
    pub detail: String,
    pub updated_at: DateTime<Utc>,
}

/// A verified callback as it arrived.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelEventView {
    pub channel: String,
    pub raw: String,
    pub received_at: DateTime<Utc>,
}

/// One leg of a double-entry posting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingLeg {
    pub posting: String,
    pub account: String,
    pub memo: String,
    pub amount: Fen,
    pub at: DateTime<Utc>,
}

pub struct OrderStory {
    pub row: OrderRow,
    /// The patient's masked name, when the order has a patient.
    pub patient_name_masked: Option<String>,
    pub attempts: Vec<AttemptView>,
    pub events: Vec<ChannelEventView>,
    pub ledger: Vec<PostingLeg>,
    pub audit: Vec<AuditRecord>,
}

/// What the finance console searches orders by; empty fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct OrderSearch {
    pub order_no: String,
    pub state: String,
    pub purpose: String,
    /// Every order of one person, by 病案号.
    pub mr_no: String,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

impl App {
    pub async fn order_story(&self, order_no: &str, by: &Actor) -> Result<OrderStory, DomainError> {
        let row = self.store.order_row(order_no).await?;
        let patient_name_masked = match row.patient_id {
            Some(id) => self.store.patient_by_id(id).await?.map(|p| p.name_masked),
            None => None,
        };
        let subject = format!("order:{order_no}");
        self.store.audit(&by.entry("finance.order_view", &subject, "订单详情"), self.now()).await?;
        Ok(OrderStory {
            patient_name_masked,
            attempts: (self.store.attempts_of(order_no).await?.into_iter())
                .map(|a| AttemptView { channel: a.channel, reference: a.reference, detail: a.detail, updated_at: a.updated_at })
                .collect(),
            events: (self.store.channel_events_of(order_no).await?.into_iter())
                .map(|e| ChannelEventView { channel: e.channel, raw: e.raw, received_at: e.received_at })
                .collect(),
            ledger: (self.store.ledger_of(order_no).await?.into_iter())
                .map(|e| PostingLeg { posting: e.posting, account: e.account, memo: e.memo, amount: Fen(e.amount), at: e.at })
                .collect(),
            audit: self.store.audit_by_subject(&subject).await?.into_iter().map(AuditRecord::from).collect(),
            row,
        })
    }

    /// The finance console's order search.
    pub async fn search_orders(&self, q: &OrderSearch, limit: u64) -> Result<Vec<OrderRow>, DomainError> {
        let patient_ids = if q.mr_no.trim().is_empty() { None } else { Some(self.store.patient_ids_by_mr_no(q.mr_no.trim()).await?) };
        let f = OrderFilter {
            order_no: Some(q.order_no.trim().to_owned()),
            state: Some(q.state.clone()),
            purpose: Some(q.purpose.clone()),
            patient_ids,
            from: q.from,
            to: q.to,
        };
        self.store.search_orders(&f, limit).await
    }

    /// What a finance officer's refund would return, per channel, checked against what is
    /// left to refund (nothing is changed, nothing audited: the confirmation page).
    pub async fn finance_refund_preview(&self, order_no: &str, all_insurance: bool, self_pay: Fen) -> Result<(OrderRow, super::RefundPreview), DomainError> {
        let row = self.store.order_row(order_no).await?;
        if self_pay.is_negative() || self_pay > row.order.refundable(domain::billing::Channel::SelfPay) {
            return Err(DomainError::new(ErrorCode::RefundExceedsCaptured, "more than is left to refund"));
        }
        let p = super::RefundPreview::of(&row.order, all_insurance, self_pay);
        if p.total().0 == 0 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "nothing to refund"));
        }
        Ok((row, p))
    }

    /// A refund of the insurance parts (`all_insurance`, whole: the centre refunds a
    /// settlement, not a share) and `self_pay` from the bank, asked for by a finance
    /// officer with a fresh second factor.
    #[allow(clippy::too_many_arguments)]
    pub async fn finance_refund_of(
        &self,
        staff_id: i64,
        otp: &str,
        order_no: &str,
        all_insurance: bool,
        self_pay: Fen,
        reason: &str,
        correlation_id: &str,
    ) -> Result<String, DomainError> {
        let row = self.store.order_row(order_no).await?;
        if self_pay.is_negative() {
            return Err(ErrorCode::ValidationFailed.into());
        }
        let insurance = if all_insurance { row.order.refundable(domain::billing::Channel::Insurance) } else { Fen::ZERO };
        self.finance_refund(staff_id, otp, order_no, PerChannel { insurance, self_pay }, reason, correlation_id).await
    }

    /// A refund a finance officer asks for: the current TOTP code first, then the refund.
    pub async fn finance_refund(
        &self,
        staff_id: i64,
        otp: &str,
        order_no: &str,
        amounts: PerChannel,
        reason: &str,
        correlation_id: &str,
    ) -> Result<String, DomainError> {
        self.staff_step_up(staff_id, otp, &format!("refund order:{order_no}"), correlation_id).await?;
        self.request_refund(order_no, amounts, reason, &Actor::staff(staff_id, correlation_id)).await
    }
}
