//! What a patient's WeChat account may see and do with orders. Every order is reached
//! through the account's own patients: another account's order is "not found", never
//! "forbidden" (it would confirm it exists).
use super::insurance::PayMethod;
use crate::{Actor, App};
use domain::billing::{Channel, OrderLine, OrderState, Purpose};
use domain::insurance::Eligibility;
use domain::ports::UnpaidBill;
use domain::{DomainError, ErrorCode};
use store::billing::{OrderFilter, OrderRow};
use store::identity::PatientSummary;

/// Asks the channels about one order at most once per interval on patients' behalf; the
/// persisted query job keeps asking regardless. In memory per node: a second node may
/// ask once more, which is harmless.
pub struct StatusThrottle {
    every: std::time::Duration,
    last: std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>,
}

impl StatusThrottle {
    pub fn new(every: std::time::Duration) -> Self {
        Self { every, last: Default::default() }
    }

    /// Whether to ask now; if so, the time is recorded.
    pub fn admit(&self, order_no: &str) -> bool {
        let now = std::time::Instant::now();
        let mut m = self.last.lock().expect("throttle lock");
        if m.len() > 50_000 {
            m.retain(|_, t| now.duration_since(*t) < self.every);
        }
        match m.get(order_no) {
            Some(t) if now.duration_since(*t) < self.every => false,
            _ => {
                m.insert(order_no.to_owned(), now);
                true
            }
        }
    }
}

/// An order as its payer sees it.
pub struct PatientOrder {
    pub row: OrderRow,
    pub patient: PatientSummary,
    /// The methods offered while the method may still be chosen.
    pub methods: Vec<PayMethod>,
    /// The insurance pre-settlement is in and waits for the patient's confirmation.
    pub awaiting_insurance_confirmation: bool,
    /// The insurance part is paid and the rest is still to pay.
    pub self_pay_pending: bool,
    /// A bank payment was opened (its result may still be on the way).
    pub bank_opened: bool,
    /// What INS-2 decided for this patient and the order's department, while the method
    /// may still be chosen (the page explains a refusal: 医保挂号异常提醒).
    pub eligibility: Option<Eligibility>,
    /// The child's 少儿医保 would pay once a guardian binds it (INS-3).
    pub child_binding_required: bool,
    /// The booking a registration fee pays for: the pay page names the doctor and time.
    pub booking: Option<domain::registration::BookingRecord>,
    /// While unpaid, the moment the order (and a registration's place) is given up: what
    /// the countdown counts to.
    pub pay_by: Option<chrono::DateTime<chrono::Utc>>,
}

impl PatientOrder {
    /// An order as a list shows it: no payment step is offered from a list.
    pub fn listed(row: OrderRow, patient: PatientSummary) -> Self {
        Self {
            row,
            patient,
            methods: vec![],
            awaiting_insurance_confirmation: false,
            self_pay_pending: false,
            bank_opened: false,
            eligibility: None,
            child_binding_required: false,
            booking: None,
            pay_by: None,
        }
    }
}

/// What the result page tells a payer to do next, once the service is delivered.
#[derive(Default)]
pub struct NextSteps {
    /// Where to go (lab, imaging, a pharmacy window), from the HIS settlement.
    pub guidance: Vec<String>,
    pub invoice_no: Option<String>,
    /// The booking a registration fee paid for.
    pub booking: Option<domain::registration::BookingRecord>,
}

impl App {
    /// The next steps of an order the account may see (the caller checked).
    pub async fn next_steps(&self, order_no: &str) -> Result<NextSteps, DomainError> {
        let mut n = NextSteps::default();
        if let Some((_, d)) = self.store.attempt(order_no, super::HIS).await? {
            n.invoice_no = d.get("invoice_no").and_then(|v| v.as_str()).map(str::to_owned);
            n.guidance =
                d.get("guidance").and_then(|v| v.as_array()).map(|a| a.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect()).unwrap_or_default();
        }
        n.booking = self.store.booking_by_order(order_no).await?;
        Ok(n)
    }

    pub async fn patient_order(&self, account_id: i64, order_no: &str) -> Result<PatientOrder, DomainError> {
        let row = self.store.order_row(order_no).await?;
        let pid = row.patient_id.ok_or(ErrorCode::OrderNotFound)?;
        let patient = self.store.patient_summary(account_id, pid).await.map_err(|_| DomainError::from(ErrorCode::OrderNotFound))?;
        let o = &row.order;
        let open = matches!(o.state, OrderState::Created | OrderState::Paying);
        let presettled = match self.store.attempt(order_no, super::CENTRE).await? {
            Some((_, d)) => d.get("pay_ord_id").and_then(|v| v.as_str()).is_some_and(|s| !s.is_empty()),
            None => false,
        };
        let bank_opened = self.store.attempt(order_no, super::BANK).await?.is_some();
        let awaiting_insurance_confirmation = open && presettled && o.due(Channel::Insurance).0 > 0 && o.captured.insurance.0 == 0;
        let self_pay_pending = open && o.captured.insurance.0 > 0 && o.captured.self_pay.0 == 0 && o.due(Channel::SelfPay).0 > 0;
        let (methods, eligibility, child_binding_required) = if open && o.captured.total().0 == 0 && !bank_opened {
            let opts = self.payment_options(&row, &patient.insurance_kind).await?;
            (opts.methods, opts.eligibility, opts.child_binding_required)
        } else {
            (vec![], None, false)
        };
        let booking = if o.purpose == Purpose::Registration { self.store.booking_by_order(order_no).await? } else { None };
        // A registration's order closes with the HIS hold (see `create_order_until`).
        let pay_by = open.then_some(row.expires_at);
        Ok(PatientOrder {
            row,
            patient,
            methods,
            awaiting_insurance_confirmation,
            self_pay_pending,
            bank_opened,
            eligibility,
            child_binding_required,
            booking,
            pay_by,
        })
    }

    /// The account's orders, newest first.
    pub async fn patient_orders(&self, account_id: i64, limit: u64) -> Result<Vec<(OrderRow, PatientSummary)>, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        if patients.is_empty() {
            return Ok(vec![]);
        }
        let f = OrderFilter { patient_ids: Some(patients.iter().map(|p| p.id).collect()), ..Default::default() };
        let rows = self.store.search_orders(&f, limit).await?;
        Ok(rows
            .into_iter()
            .filter_map(|r| {
                let p = patients.iter().find(|p| Some(p.id) == r.patient_id)?.clone();
                Some((r, p))
            })
            .collect())
    }

    /// The outpatient fee lists per visit of the account's patients (OTH-4), from the HIS.
    pub async fn patient_visit_fees(&self, account_id: i64) -> Result<Vec<(PatientSummary, Vec<domain::ports::VisitFees>)>, DomainError> {
        let mut out = Vec::new();
        for p in self.store.list_patients(account_id).await? {
            let visits = self.his.visit_fees(&p.his_patient_id).await?;
            out.push((p, visits));
        }
        Ok(out)
    }

    /// Every unpaid outpatient bill of the account's patients (from the HIS).
    pub async fn patient_bills(&self, account_id: i64) -> Result<Vec<(PatientSummary, Vec<UnpaidBill>)>, DomainError> {
        let mut out = Vec::new();
        for p in self.store.list_patients(account_id).await? {
            let bills = self.his.unpaid_bills(&p.his_patient_id).await?;
            if !bills.is_empty() {
                out.push((p, bills));
            }
        }
        Ok(out)
    }

    /// The order that pays one unpaid bill: the open one if the patient already started
    /// paying it, else a new one priced from the HIS's lines (never from the client).
    pub async fn order_for_bill(&self, account_id: i64, patient_id: i64, recipe_id: &str, actor: &Actor) -> Result<String, DomainError> {
        let p = self.store.patient_summary(account_id, patient_id).await?;
        let bill = self
            .his
            .unpaid_bills(&p.his_patient_id)
            .await?
            .into_iter()
            .find(|b| b.recipe_id == recipe_id)
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no such unpaid bill"))?;
        let subject = format!("bill:{}:{}", p.his_patient_id, bill.recipe_id);
        if let Some(open) = self.store.open_order_for_subject(&subject).await? {
            return Ok(open.order_no);
        }
        let lines = bill
            .items
            .iter()
            .map(|i| OrderLine {
                code: i.item_code.clone(),
                name: i.name.clone(),
                qty: i.qty,
                unit_price: i.unit_price,
                amount: i.amount,
                insurable: i.insurable,
            })
            .collect();
        self.create_order_for_dept(Some(patient_id), Purpose::OutpatientBill, lines, Some(&subject), Some(&bill.dept_id), actor).await
    }

    /// Where the patient's result page stands: asks the channels while the payment is
    /// open (never shows success before the money is confirmed).
    pub async fn patient_payment_status(&self, account_id: i64, order_no: &str) -> Result<PatientOrder, DomainError> {
        let po = self.patient_order(account_id, order_no).await?;
        if matches!(po.row.order.state, OrderState::Created | OrderState::Paying) && self.status_checks.admit(order_no) {
            // An outside system being slow must not break the page: it shows "处理中".
            if let Err(e) = self.resolve_payment(order_no).await {
                tracing::warn!(order_no, error = %e, "status check could not reach a channel");
            }
            return self.patient_order(account_id, order_no).await;
        }
        Ok(po)
    }
}

#[cfg(test)]
mod tests {
    use super::StatusThrottle;

    #[test]
    fn one_check_per_interval_per_order() {
        let t = StatusThrottle::new(std::time::Duration::from_millis(200));
        assert!(t.admit("A"));
        assert!(!t.admit("A"), "asked too soon");
        assert!(t.admit("B"), "other orders are not held back");
        std::thread::sleep(std::time::Duration::from_millis(220));
        assert!(t.admit("A"));
    }
}
