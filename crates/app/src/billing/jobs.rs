//! The persisted jobs that carry money work through crashes: each is an outbox row
//! written in the transaction that made it necessary, and each is safe to run again
//! (stable refund numbers, idempotent state events).
use crate::App;
use crate::job::{JobError, JobHandler, retry};
use async_trait::async_trait;
use domain::billing::{OrderEvent, OrderState, PerChannel};
use domain::{ErrorCode, Fen};

fn text(payload: &serde_json::Value, k: &str) -> Result<String, JobError> {
    payload.get(k).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| JobError::Permanent(format!("payload lacks {k}")))
}

/// Applies a job's resulting event; an order that already moved past it is fine.
pub(crate) async fn settle(app: &App, order_no: &str, ev: OrderEvent) -> Result<(), JobError> {
    match app.apply(order_no, ev).await {
        Ok(_) => Ok(()),
        Err(e) if e.code == ErrorCode::OrderStateConflict => Ok(()),
        Err(e) => Err(retry(e)),
    }
}

/// Carries out a refund the order recorded: the insurance part through the centre
/// (6203), the self-pay part through the bank, both under the same stable refund number.
/// A refusal for good fails the refund (the money stays captured and the order goes back
/// to where it was); an unknown outcome is retried with the same number.
pub struct RefundExecute;

#[async_trait]
impl JobHandler for RefundExecute {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        let no = text(payload, "refund_no")?;
        let fen = |k: &str| Fen(payload.get(k).and_then(|v| v.as_i64()).unwrap_or(0));
        let amounts = PerChannel { insurance: fen("insurance"), self_pay: fen("self_pay") };
        if amounts.insurance.0 > 0 && !app.refund_insurance(&order_no, &no).await.map_err(retry)? {
            return settle(app, &order_no, OrderEvent::RefundFailed { amounts }).await;
        }
        if amounts.self_pay.0 > 0 {
            let ccb = app.bank().map_err(retry)?;
            // Ask first: after a lost answer the refund may already be done, and the bank is
            // not relied on to treat a repeated 5W1004 as the same refund.
            match ccb.refund_query(&order_no, &no).await.map_err(retry)? {
                Some(done) if done == amounts.self_pay => return settle(app, &order_no, OrderEvent::RefundSucceeded { amounts }).await,
                Some(other) => return Err(JobError::Permanent(format!("bank refund {no} is {other:?}, we asked {:?}: a person must look", amounts.self_pay))),
                None => {}
            }
            match ccb.refund(&order_no, &no, amounts.self_pay).await {
                Ok(()) => crate::crash::point(crate::crash::AFTER_BANK_REFUND),
                Err(e) if e.code == ErrorCode::RefundExceedsCaptured && amounts.insurance.0 == 0 => {
                    return settle(app, &order_no, OrderEvent::RefundFailed { amounts }).await;
                }
                Err(e) => return Err(retry(e)),
            }
        }
        settle(app, &order_no, OrderEvent::RefundSucceeded { amounts }).await
    }

    async fn on_dead_letter(&self, app: &App, payload: &serde_json::Value, why: &str) -> Result<(), domain::DomainError> {
        let field = |k: &str| payload.get(k).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let fen = |k: &str| Fen(payload.get(k).and_then(|v| v.as_i64()).unwrap_or(0));
        let amounts = PerChannel { insurance: fen("insurance"), self_pay: fen("self_pay") };
        app.record_refund_stuck(&field("order_no"), &field("refund_no"), amounts, why).await
    }
}

/// Records the 退款成功 journey event of a completed refund (the message platform
/// takes it from there). Safe to run again: the event's key is the order's version.
pub struct RefundNotice;

#[async_trait]
impl JobHandler for RefundNotice {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        let fen = |k: &str| Fen(payload.get(k).and_then(|v| v.as_i64()).unwrap_or(0));
        let version = payload.get("version").and_then(|v| v.as_i64()).ok_or_else(|| JobError::Permanent("payload lacks version".into()))?;
        let amounts = PerChannel { insurance: fen("insurance"), self_pay: fen("self_pay") };
        app.record_refund_completed(&order_no, amounts, version).await.map_err(retry)
    }
}

/// Reverses an insurance settlement whose self-pay part failed or ran out of time (P9).
pub struct InsuranceReverse;

#[async_trait]
impl JobHandler for InsuranceReverse {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        let sn = text(payload, "sn")?;
        if app.refund_insurance(&order_no, &sn).await.map_err(retry)? {
            crate::crash::point(crate::crash::AFTER_CENTRE_REVERSAL);
            settle(app, &order_no, OrderEvent::InsuranceReversed).await
        } else {
            Err(JobError::Retry("centre refused the reversal; a person must look (reconciliation lists it)".into()))
        }
    }
}

/// The persisted recovery job: asks the channels until the order is settled one way or
/// the other. Survives crashes because it is an outbox row written with the order.
pub struct PaymentQuery;

#[async_trait]
impl JobHandler for PaymentQuery {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        match app.resolve_payment(&order_no).await {
            Ok(OrderState::Created | OrderState::Paying) => Err(JobError::Retry("payment pending".into())),
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::OrderNotFound => Err(JobError::Permanent(e.to_string())),
            Err(e) => Err(retry(e)),
        }
    }
}

/// Delivers what a paid order bought. An outpatient bill (`bill:<his patient>:<recipe,…>`)
/// is settled in the HIS; a registration (`reg:<booking>`) is confirmed in the HIS; a
/// deposit top-up or card recharge is credited in the HIS; an order without a subject
/// has nothing more to deliver. When
/// the HIS refuses for good, everything is refunded (P6).
pub struct FulfilOrder;

#[async_trait]
impl JobHandler for FulfilOrder {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let order_no = text(payload, "order_no")?;
        let row = app.store.order_row(&order_no).await.map_err(retry)?;
        if row.order.state != OrderState::Paid {
            return Ok(());
        }
        let subject = row.subject.clone().unwrap_or_default();
        if let Some(rest) = subject.strip_prefix("bill:") {
            let (his_patient, recipes) = rest.split_once(':').ok_or_else(|| JobError::Permanent("bad bill subject".into()))?;
            let recipes: Vec<String> = recipes.split(',').map(str::to_owned).collect();
            let o = &row.order;
            // What the centre settled goes to the HIS with the bill, so both book the same parts.
            let share = match app.store.attempt(&order_no, super::CENTRE).await.map_err(retry)? {
                Some((_, d)) if o.captured.insurance.0 > 0 => Some(domain::ports::InsuranceShare {
                    pay_ord_id: d.get("pay_ord_id").and_then(|v| v.as_str()).unwrap_or_default().to_owned(),
                    fund: o.split.fund,
                    personal_account: o.split.personal_account,
                    mutual_aid: o.split.mutual_aid,
                }),
                _ => None,
            };
            // A recovery point (G4): the pre-settlement's id is kept before the HIS is asked
            // to settle, so a crash after the HIS settled and before we recorded it settles
            // the *same* pre-settlement again — which the HIS answers with the settlement it
            // made [I: charge_commit idempotent on its preSettleId, as the simulator is] —
            // instead of pre-settling anew, which a settled bill refuses ("已缴费") and would
            // have refunded a bill the HIS had settled.
            let kept = app.store.attempt(&order_no, super::HIS).await.map_err(retry)?;
            let done = async {
                if let Some((settle_id, d)) = &kept
                    && d.get("state").and_then(|v| v.as_str()) == Some("settled")
                {
                    let guidance = d.get("guidance").and_then(|v| serde_json::from_value(v.clone()).ok()).unwrap_or_default();
                    let invoice_no = d.get("invoice_no").and_then(|v| v.as_str()).unwrap_or_default().to_owned();
                    return Ok(domain::ports::Settlement { settle_id: settle_id.clone(), invoice_no, guidance });
                }
                let pre_settle_id = match &kept {
                    Some((ps, d)) if d.get("state").and_then(|v| v.as_str()) == Some("settling") => ps.clone(),
                    _ => {
                        let pre = app.his.pre_settle(his_patient, &recipes, share.as_ref()).await?;
                        if pre.total != o.total() || pre.self_pay != o.due(domain::billing::Channel::SelfPay) {
                            return Err(domain::DomainError::new(ErrorCode::HisRejected, "bill total or split changed in the HIS"));
                        }
                        app.store.put_attempt(&order_no, super::HIS, &pre.pre_settle_id, &serde_json::json!({"state": "settling"}), app.now()).await?;
                        pre.pre_settle_id
                    }
                };
                app.his.settle(&pre_settle_id, &order_no, o.due(domain::billing::Channel::SelfPay)).await
            }
            .await;
            return match done {
                Ok(st) => {
                    crate::crash::point(crate::crash::AFTER_HIS_SETTLE);
                    // The HIS's settlement and where the patient goes next, for the result page.
                    let detail = serde_json::json!({"state": "settled", "settle_id": st.settle_id, "invoice_no": st.invoice_no, "guidance": st.guidance});
                    app.store.put_attempt(&order_no, super::HIS, &st.settle_id, &detail, app.now()).await.map_err(retry)?;
                    let payload = serde_json::json!({
                        "order_no": order_no, "patient_id": row.patient_id, "total": o.total().0, "insurance": o.captured.insurance.0,
                        "self_pay": o.captured.self_pay.0, "invoice_no": st.invoice_no, "guidance": st.guidance, "link": format!("/pay/{order_no}/result"),
                        "recipes": recipes,
                    });
                    let key = format!("{}:{order_no}", super::notices::BILL_PAID);
                    let txn = app.store.write_txn().await.map_err(retry)?;
                    app.store.record_event(&txn, super::notices::BILL_PAID, &key, row.patient_id, &payload, app.now()).await.map_err(retry)?;
                    txn.commit().await.map_err(store::db_err).map_err(retry)?;
                    settle(app, &order_no, OrderEvent::Fulfilled).await
                }
                Err(e) if e.code == ErrorCode::HisRejected => app.fulfilment_failed(&order_no, "HIS refused the bill settlement").await.map_err(retry),
                Err(e) => Err(retry(e)),
            };
        }
        if super::topup::fulfil(app, &order_no, &subject, row.patient_id, row.order.total()).await? {
            return Ok(());
        }
        if let Some(discharge_no) = subject.strip_prefix("discharge:") {
            return crate::inpatient::discharge::fulfil_balance(app, discharge_no, &order_no).await;
        }
        if let Some(no) = subject.strip_prefix("record:") {
            return crate::records::fulfil_payment(app, no, &order_no).await;
        }
        if let Some(booking_no) = subject.strip_prefix("reg:") {
            return crate::registration::fulfil_registration(app, booking_no, &order_no, row.order.total()).await;
        }
        if subject.is_empty() {
            return settle(app, &order_no, OrderEvent::Fulfilled).await;
        }
        Err(JobError::Permanent(format!("no fulfilment for subject {subject}")))
    }
}
