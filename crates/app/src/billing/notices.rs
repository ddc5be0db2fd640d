//! The journey events of outpatient bills: "bill due" when the doctor's orders appear for
//! a patient visiting today, "bill paid" when the HIS has settled them. The HIS does not
//! push new orders to us [I], so a job looks every few minutes for the day's visitors.
use crate::App;
use crate::job::{JobError, JobHandler};
use async_trait::async_trait;
use chrono::Duration;
use domain::billing::PerChannel;
use domain::registration::BookingState;
use domain::{DomainError, Fen};
use serde_json::json;

pub const BILL_DUE_SCAN: &str = "billing.bill_due_scan";
pub const BILL_DUE: &str = "bill.due";
pub const BILL_PAID: &str = "bill.paid";
pub const REFUND_COMPLETED: &str = "refund.completed";
pub const REFUND_FAILED: &str = "refund.failed";
/// How often the day's visitors' unpaid orders are looked for.
const SCAN_EVERY_MINUTES: i64 = 5;

impl App {
    /// Records "bill due" for every unpaid bill of today's visitors not announced yet.
    /// Returns how many were new.
    pub async fn scan_bills_due(&self) -> Result<usize, DomainError> {
        let today = self.today().to_string();
        let mut patients: Vec<i64> = Vec::new();
        for state in [BookingState::Confirmed, BookingState::CheckedIn] {
            for row in self.store.bookings_on(&today, state).await? {
                if !patients.contains(&row.patient_id) {
                    patients.push(row.patient_id);
                }
            }
        }
        let mut new = 0;
        for pid in patients {
            let Some(p) = self.store.patient_by_id(pid).await? else { continue };
            for b in self.his.unpaid_bills(&p.his_patient_id).await? {
                let payload = json!({
                    "patient_id": pid, "patient_name_masked": p.name_masked, "recipe_id": b.recipe_id, "visit_id": b.visit_id,
                    "dept_name": b.dept_name, "doctor_name": b.doctor_name, "total": b.total.0, "items": b.items.len(), "link": "/bills",
                });
                let key = format!("{BILL_DUE}:{}", b.recipe_id);
                let txn = self.store.write_txn().await?;
                let fresh = self.store.record_event(&txn, BILL_DUE, &key, Some(pid), &payload, self.now()).await?;
                txn.commit().await.map_err(store::db_err)?;
                new += usize::from(fresh);
            }
        }
        Ok(new)
    }
}

impl App {
    /// Records that a refund of an order came back, with where each part went (医保统筹,
    /// 个人账户, 家庭共济, the bank card): the 退款成功 notice (issue 17 item 4). An order
    /// without a patient has nobody to tell.
    pub(crate) async fn record_refund_completed(&self, order_no: &str, amounts: PerChannel, version: i64) -> Result<(), DomainError> {
        let row = self.store.order_row(order_no).await?;
        let Some(pid) = row.patient_id else { return Ok(()) };
        let Some(p) = self.store.patient_by_id(pid).await? else { return Ok(()) };
        let o = &row.order;
        // Insurance goes back whole (the centre refunds a settlement), so its parts are the split's.
        let whole = Fen(o.split.fund.0 + o.split.personal_account.0 + o.split.mutual_aid.0) == amounts.insurance;
        let parts: Vec<String> = if whole || amounts.insurance.0 == 0 {
            super::RefundPreview {
                fund: if amounts.insurance.0 > 0 { o.split.fund } else { Fen::ZERO },
                personal_account: if amounts.insurance.0 > 0 { o.split.personal_account } else { Fen::ZERO },
                mutual_aid: if amounts.insurance.0 > 0 { o.split.mutual_aid } else { Fen::ZERO },
                bank: amounts.self_pay,
            }
            .parts_zh()
            .into_iter()
            .map(|(label, a)| format!("{label}{}元", domain::format::yuan(a)))
            .collect()
        } else {
            vec![format!("医保{}元", domain::format::yuan(amounts.insurance)), format!("原银行卡/微信{}元", domain::format::yuan(amounts.self_pay))]
        };
        let payload = json!({
            "patient_id": pid, "patient_name_masked": p.name_masked, "order_no": order_no, "purpose_name": o.purpose.label_zh(),
            "amount": amounts.total().0, "parts": parts, "bank_part": amounts.self_pay.0 > 0, "link": format!("/pay/{order_no}/result"),
        });
        let txn = self.store.write_txn().await?;
        self.store.record_event(&txn, REFUND_COMPLETED, &format!("{REFUND_COMPLETED}:{order_no}:v{version}"), Some(pid), &payload, self.now()).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }
}

impl App {
    /// A refund the bank or the centre would not carry out, retried until the job gave
    /// up: 财务处 gets a task to finish it by hand, the patient is told who will. The order
    /// stays `Refunding` (the money's fate is for finance to establish, not for us to guess).
    pub(crate) async fn record_refund_stuck(&self, order_no: &str, refund_no: &str, amounts: PerChannel, why: &str) -> Result<(), DomainError> {
        let row = self.store.order_row(order_no).await?;
        let now = self.now();
        let detail = format!(
            "订单 {order_no}（{}）的退款 {refund_no} 多次重试仍未完成：医保 ¥{}，银行 ¥{}。最后一次的原因：{}。请向银行/医保核实到账情况后人工处理，并联系患者。",
            row.order.purpose.label_zh(),
            domain::format::yuan(amounts.insurance),
            domain::format::yuan(amounts.self_pay),
            why.chars().take(200).collect::<String>()
        );
        let key = format!("refund_stuck:{refund_no}");
        let txn = self.store.write_txn().await?;
        let task =
            store::messages::NewTask {
                kind: "refund_stuck", message_id: None, dept: "财务处", title: "退款未能自动完成", detail: &detail, dedupe_key: &key
            };
        self.store.open_task(&txn, task, now).await?;
        if let Some(pid) = row.patient_id {
            let p = self.store.patient_by_id(pid).await?;
            let payload = json!({
                "patient_id": pid, "patient_name_masked": p.map(|p| p.name_masked).unwrap_or_default(), "order_no": order_no,
                "purpose_name": row.order.purpose.label_zh(), "amount": amounts.total().0, "link": format!("/pay/{order_no}/result"),
            });
            self.store.record_event(&txn, REFUND_FAILED, &format!("{REFUND_FAILED}:{refund_no}"), Some(pid), &payload, now).await?;
        }
        let system = crate::Actor::system("billing");
        self.store.append_audit(&txn, &system.entry("refund.stuck", format!("order:{order_no}"), refund_no), now).await?;
        txn.commit().await.map_err(store::db_err)
    }
}

pub async fn schedule_scan(app: &App) -> Result<(), DomainError> {
    crate::job::schedule_next(app, BILL_DUE_SCAN, Duration::minutes(SCAN_EVERY_MINUTES)).await
}

/// Scans, then schedules the next scan.
pub struct BillDueScan;

#[async_trait]
impl JobHandler for BillDueScan {
    async fn run(&self, app: &App, _payload: &serde_json::Value) -> Result<(), JobError> {
        app.scan_bills_due().await.map_err(|e| JobError::Retry(e.to_string()))?;
        schedule_scan(app).await.map_err(|e| JobError::Retry(e.to_string()))
    }
}
