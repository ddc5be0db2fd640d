//! The finance console's use cases: search orders, read an order's whole story, refund
//! with a reason after a fresh second factor (S6). Reading a story is a sensitive read
//! (it names a patient and shows raw channel messages), so it is audited.
use crate::{Actor, App};
use domain::DomainError;
use domain::billing::PerChannel;
use store::billing::OrderRow;
use store::entity::{audit_log, channel_event, ledger_entry, payment_attempt};

pub struct OrderStory {
    pub row: OrderRow,
    /// The patient's masked name, when the order has a patient.
    pub patient_name_masked: Option<String>,
    pub attempts: Vec<payment_attempt::Model>,
    pub events: Vec<channel_event::Model>,
    pub ledger: Vec<ledger_entry::Model>,
    pub audit: Vec<audit_log::Model>,
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
            attempts: self.store.attempts_of(order_no).await?,
            events: self.store.channel_events_of(order_no).await?,
            ledger: self.store.ledger_of(order_no).await?,
            audit: self.store.audit_by_subject(&subject).await?,
            row,
        })
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
