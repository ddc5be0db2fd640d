//! Money the patient pays in ahead: the inpatient deposit (住院押金补缴, opened in
//! `crate::inpatient`) and the visiting card's stored value (就诊卡充值, `crate::cards`). Each is an order (`Purpose::DepositTopUp`, subject
//! `deposit:<his patient>:<stay>`; `Purpose::CardRecharge`, subject `card:<his patient>`),
//! paid through the bank like any other, and fulfilled by the HIS crediting it under the
//! order number (idempotent), after which the patient is told (MSG-2).
use crate::App;
use crate::job::JobError;
use domain::billing::{OrderEvent, OrderLine};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::json;

/// Deposit top-ups: 1 to 50 000 yuan in whole yuan; card recharges: 1 to 5 000 yuan.
pub const DEPOSIT_MAX: Fen = Fen(5_000_000);
pub const CARD_MAX: Fen = Fen(500_000);

pub const DEPOSIT_TOPPED_UP: &str = "deposit.topped_up";
pub const CARD_RECHARGED: &str = "card.recharged";

pub(crate) fn whole_yuan(amount: Fen, max: Fen) -> Result<(), DomainError> {
    if amount.0 < 100 || amount.0 > max.0 || amount.0 % 100 != 0 {
        return Err(DomainError::new(ErrorCode::ValidationFailed, "amount"));
    }
    Ok(())
}

pub(crate) fn line(code: &str, name: &str, amount: Fen) -> OrderLine {
    OrderLine { code: code.into(), name: name.into(), qty: 1, unit_price: amount, amount, insurable: false }
}

fn retry(e: DomainError) -> JobError {
    JobError::Retry(e.to_string())
}

/// The card money is posted against (OTH-3): the patient's card as the HIS names it now —
/// the virtual one issued at 建档, or the plastic one bound instead.
async fn card_of(app: &App, his_patient: &str) -> Result<String, JobError> {
    match app.his.card_account(his_patient).await {
        Ok(Some(c)) => Ok(c.card_no),
        Ok(None) => Err(JobError::Retry(format!("the HIS names no card for {his_patient} yet"))),
        Err(e) => Err(retry(e)),
    }
}

/// Credits a paid top-up in the HIS, records the journey event, and marks the order
/// fulfilled. The HIS refusing for good (the account closed meanwhile) refunds it (P6).
pub(crate) async fn fulfil(app: &App, order_no: &str, subject: &str, patient_id: Option<i64>, amount: Fen) -> Result<bool, JobError> {
    let (kind, payload) = if let Some(rest) = subject.strip_prefix("deposit:") {
        let (his_patient, stay) = rest.split_once(':').ok_or_else(|| JobError::Permanent("bad deposit subject".into()))?;
        let card_no = card_of(app, his_patient).await?;
        match app.his.pay_deposit(stay, &card_no, amount, order_no).await {
            Ok(_) => {}
            Err(e) if e.code == ErrorCode::HisRejected => {
                app.fulfilment_failed(order_no, "HIS refused the deposit").await.map_err(retry)?;
                return Ok(true);
            }
            Err(e) => return Err(retry(e)),
        }
        // What the patient has left to spend: deposits less the charges so far.
        let balance = app.his.inpatient_stay(his_patient).await.ok().flatten().map(|s| s.deposit_balance.0 - s.charges_to_date.0);
        let payload = json!({"order_no": order_no, "inpatient_no": stay, "amount": amount.0, "balance": balance, "link": format!("/pay/{order_no}/result")});
        (DEPOSIT_TOPPED_UP, payload)
    } else if let Some(his_patient) = subject.strip_prefix("card:") {
        let card_no = card_of(app, his_patient).await?;
        let balance = match app.his.recharge_card(his_patient, &card_no, amount, order_no).await {
            Ok(b) => b,
            Err(e) if e.code == ErrorCode::HisRejected => {
                app.fulfilment_failed(order_no, "HIS refused the card recharge").await.map_err(retry)?;
                return Ok(true);
            }
            Err(e) => return Err(retry(e)),
        };
        (CARD_RECHARGED, json!({"order_no": order_no, "amount": amount.0, "balance": balance.0, "link": format!("/pay/{order_no}/result")}))
    } else {
        return Ok(false);
    };
    let txn = app.store.write_txn().await.map_err(retry)?;
    app.store.record_event(&txn, kind, &format!("{kind}:{order_no}"), patient_id, &payload, app.now()).await.map_err(retry)?;
    txn.commit().await.map_err(store::db_err).map_err(retry)?;
    super::jobs::settle(app, order_no, OrderEvent::Fulfilled).await.map(|()| true)
}
