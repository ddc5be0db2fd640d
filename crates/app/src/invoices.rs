//! Electronic invoices (电子票据, issue 18 item 5): every settled payment gets the
//! province's medical e-invoice; a refund reverses it (冲红) and, when money is still kept,
//! one is issued again for what is kept.
//!
//! One job kind does it all, `invoice.sync` for a business (`order:<no>` or
//! `discharge:<no>`): it compares what the business keeps with its live invoice and takes
//! the next step (`domain::invoices::desired_change`). Each step is written before it is
//! asked for (`Issuing`, `Reversing`), so after a crash or a lost answer the job asks the
//! platform first — by business number, or by the bill's state — and never issues twice.
use crate::job::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use domain::billing::{OrderState, Purpose};
use domain::invoices::{
    ChargeLine, InvoiceAmounts, InvoiceKind, InvoiceRequest, InvoiceState, InvoiceStep, IssuedInvoice, PayChannelCodes, charge_lines, desired_change,
    kept_by_order, pay_channels,
};
use domain::ports::EInvoicePort;
use domain::{DomainError, ErrorCode, Fen};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use store::invoices::{InvoiceRow, NewInvoice};
use store::messages::NewTask;
use store::outbox::NewJob;

pub const INVOICE_SYNC: &str = "invoice.sync";
/// Where a refused invoice goes for a person.
const CASHIER: &str = "门诊收费处";
const INPATIENT_CASHIER: &str = "住院收费处";
/// The largest invoice PDF the platform may hand us.
const MAX_PDF_BYTES: usize = 8 * 1024 * 1024;

/// The e-invoice platform and the hospital's codes on it.
pub struct Invoicing {
    pub platform: Arc<dyn EInvoicePort>,
    pub pay_channel_codes: PayChannelCodes,
}

/// The job that brings a business's invoices in line with what it keeps.
pub(crate) fn sync_job(subject: &str, cause: &str, now: chrono::DateTime<chrono::Utc>) -> NewJob {
    NewJob::new(INVOICE_SYNC, json!({"subject": subject}), now).dedupe(format!("{INVOICE_SYNC}:{subject}:{cause}")).max_attempts(40)
}

/// What a business keeps and how its invoice is written.
struct Business {
    kind: InvoiceKind,
    patient_id: Option<i64>,
    his_patient_id: String,
    kept: InvoiceAmounts,
    /// The lines as bought, for an invoice of the whole business.
    charges: Vec<ChargeLine>,
    dept: String,
    stay: Option<(String, String, chrono::NaiveDate, chrono::NaiveDate)>,
    order_no: String,
    label: &'static str,
}

fn retry(e: DomainError) -> JobError {
    JobError::Retry(e.to_string())
}

impl App {
    pub fn with_invoicing(mut self, invoicing: Invoicing) -> Self {
        self.invoicing = Some(Arc::new(invoicing));
        self
    }

    /// Reads what a business keeps now; `None` while it is still moving (a refund in
    /// flight, a payment not yet delivered) or when it gets no invoice of its own.
    async fn business(&self, subject: &str) -> Result<Option<Business>, JobError> {
        if let Some(order_no) = subject.strip_prefix("order:") {
            let row = self.store.order_row(order_no).await.map_err(retry)?;
            let o = &row.order;
            let Some(kind) = InvoiceKind::for_purpose(o.purpose) else { return Ok(None) };
            match o.state {
                OrderState::Fulfilled | OrderState::PartiallyRefunded | OrderState::Refunded | OrderState::Closed => {}
                OrderState::Refunding | OrderState::Paid | OrderState::Paying | OrderState::Reversing => {
                    return Err(JobError::Retry(format!("order {order_no} is {}; its invoice waits", o.state.as_str())));
                }
                OrderState::Created => return Ok(None),
            }
            let kept = kept_by_order(o.split, o.captured, o.refunded).ok_or_else(|| JobError::Permanent(format!("order {order_no}: kept amounts overflow")))?;
            let his_patient_id = match row.patient_id {
                Some(id) => self.store.patient_by_id(id).await.map_err(retry)?.map(|p| p.his_patient_id).unwrap_or_default(),
                None => String::new(),
            };
            let label = o.purpose.label_zh();
            return Ok(Some(Business {
                kind,
                patient_id: row.patient_id,
                his_patient_id,
                kept,
                charges: charge_lines(&o.lines, kept, label),
                dept: label.to_owned(),
                stay: None,
                order_no: order_no.to_owned(),
                label,
            }));
        }
        if let Some(discharge_no) = subject.strip_prefix("discharge:") {
            let d = self.store.discharge(discharge_no).await.map_err(retry)?;
            if d.state != domain::inpatient::DischargeState::Settled {
                return Ok(None);
            }
            let other = Fen(d.total.0 - d.fund.0 - d.personal_account.0 - d.self_pay.0).0.max(0);
            let kept = InvoiceAmounts::new(d.fund, d.personal_account, Fen(other), d.self_pay)
                .filter(|k| k.total == d.total)
                .ok_or_else(|| JobError::Permanent(format!("discharge {discharge_no}: parts do not add up to the total")))?;
            // The 住院 invoice lists the stay's charges by insurance class, as the HIS sums them.
            let classes = self.his.stay_class_totals(&d.inpatient_no).await.map_err(retry)?;
            let mut charges: Vec<ChargeLine> = classes
                .iter()
                .filter(|(_, amount, _)| amount.0 > 0)
                .map(|(class, amount, own)| ChargeLine {
                    code: format!("CLASS_{class:?}"),
                    name: format!("{}费用", class.label_zh()),
                    spec: String::new(),
                    qty: "1".into(),
                    amount: *amount,
                    self_amount: Fen(own.0.min(amount.0)),
                })
                .collect();
            // The class sums must add up to the settlement, and their self parts to the
            // patient's share; where the HIS's sums disagree, the settlement is what was paid,
            // so the invoice states it as one line.
            let adds_up = charges.iter().map(|c| c.amount.0).sum::<i64>() == kept.total.0 && charges.iter().map(|c| c.self_amount.0).sum::<i64>() == kept.own.0;
            if !adds_up {
                charges = charge_lines(&[], kept, "住院医疗费用");
            }
            let stay = self.his.inpatient_stay(&d.his_patient_id).await.map_err(retry)?;
            let admitted = stay.as_ref().map(|s| domain::clock::to_local(s.admitted_at).date_naive()).unwrap_or_else(|| self.today());
            let out = d.settled_at.map(|t| domain::clock::to_local(t).date_naive()).unwrap_or_else(|| self.today());
            let (ward, bed) = stay.map(|s| (s.ward, s.bed)).unwrap_or_default();
            return Ok(Some(Business {
                kind: InvoiceKind::Inpatient,
                patient_id: Some(d.patient_id),
                his_patient_id: d.his_patient_id.clone(),
                kept,
                charges,
                dept: ward,
                stay: Some((d.inpatient_no.clone(), bed, admitted, out)),
                order_no: d.settle_id.clone().unwrap_or_else(|| discharge_no.to_owned()),
                label: "住院医疗费用",
            }));
        }
        Err(JobError::Permanent(format!("no invoice for subject {subject}")))
    }

    async fn invoice_request(&self, b: &Business, row: &InvoiceRow, codes: &PayChannelCodes) -> Result<InvoiceRequest, JobError> {
        let patient = if b.his_patient_id.is_empty() { None } else { self.his.patient(&b.his_patient_id).await.map_err(retry)? };
        let card_no = match patient {
            Some(_) => self.his.card_account(&b.his_patient_id).await.map_err(retry)?.map(|c| c.card_no).unwrap_or_default(),
            None => String::new(),
        };
        let kept = row.amounts;
        let charges = if kept == b.kept { b.charges.clone() } else { charge_lines(&[], kept, b.label) };
        Ok(InvoiceRequest {
            kind: b.kind,
            bus_no: row.bus_no.clone(),
            bus_time: row.bus_time,
            payer_name: patient.map(|p| p.name).unwrap_or_else(|| "患者".into()),
            // The payer is named and identified by the HIS's patient number; the ID number
            // does not leave the platform for an invoice.
            id_card_no: String::new(),
            his_patient_id: b.his_patient_id.clone(),
            card_no,
            dept: b.dept.clone(),
            amounts: kept,
            charges,
            pay_channels: pay_channels(kept, codes),
            stay: b.stay.clone(),
            order_no: b.order_no.clone(),
            remark: if row.seq > 1 { "退费后重开".into() } else { String::new() },
        })
    }

    /// One step towards the business's invoices matching what it keeps. Returns whether
    /// another step may follow.
    async fn invoice_step(&self, inv: &Invoicing, subject: &str) -> Result<bool, JobError> {
        let series = self.store.invoices_of(subject).await.map_err(retry)?;
        let now = self.now();
        // An unfinished step first: its outcome is asked, never guessed.
        if let Some(row) = series.iter().find(|r| r.state == InvoiceState::Issuing) {
            let found = inv.platform.find_by_bus_no(&row.bus_no, row.bus_time).await.map_err(retry)?;
            let issued = match found {
                Some(i) => i,
                None => {
                    let Some(b) = self.business(subject).await? else { return Ok(false) };
                    let req = self.invoice_request(&b, row, &inv.pay_channel_codes).await?;
                    match inv.platform.issue(&req).await {
                        Ok(i) => i,
                        Err(e) if e.code == ErrorCode::InvoiceRefused => {
                            self.invoice_refused(row, &b, &e.detail).await.map_err(retry)?;
                            return Ok(false);
                        }
                        Err(e) => return Err(retry(e)),
                    }
                }
            };
            self.invoice_issued(row, &issued).await.map_err(retry)?;
            return Ok(true);
        }
        if let Some(row) = series.iter().find(|r| r.state == InvoiceState::Reversing) {
            let (batch, no) = (row.batch_code.clone().unwrap_or_default(), row.bill_no.clone().unwrap_or_default());
            let status = inv.platform.status(&batch, &no).await.map_err(retry)?;
            let mut detail = row.detail.clone();
            if !status.reversed {
                let r = inv.platform.reverse(&batch, &no, "退费冲红", now).await.map_err(retry)?;
                detail["reversal"] = json!({"batch_code": r.batch_code, "bill_no": r.bill_no});
            }
            detail["reversed_at"] = json!(now);
            let txn = self.store.write_txn().await.map_err(retry)?;
            if self.store.update_invoice(&txn, (row.id, row.version), InvoiceState::Reversed, None, &detail, now).await.map_err(retry)? {
                let system = Actor::system("invoices");
                self.store.append_audit(&txn, &system.entry("invoice.reversed", format!("invoice:{}", row.bus_no), subject), now).await.map_err(retry)?;
            }
            txn.commit().await.map_err(store::db_err).map_err(retry)?;
            return Ok(true);
        }
        if series.iter().any(|r| r.state == InvoiceState::Refused) {
            return Ok(false); // a person is on it (the cashier's task)
        }
        let Some(b) = self.business(subject).await? else { return Ok(false) };
        let live = series.iter().find(|r| r.state == InvoiceState::Issued);
        match desired_change(b.kept, live.map(|r| r.amounts)) {
            InvoiceStep::Nothing => Ok(false),
            InvoiceStep::Reverse => {
                let row = live.expect("reverse has a live invoice");
                let ok =
                    self.store.update_invoice(self.store.db(), (row.id, row.version), InvoiceState::Reversing, None, &row.detail, now).await.map_err(retry)?;
                Ok(ok)
            }
            InvoiceStep::Issue(kept) => {
                let seq = series.last().map_or(1, |r| r.seq + 1);
                let bus_no = format!("{}-{seq}", subject.replace(':', "-").to_ascii_uppercase());
                let n = NewInvoice { subject, seq, bus_no: &bus_no, kind: b.kind, patient_id: b.patient_id, amounts: kept, bus_time: now };
                self.store.insert_invoice(self.store.db(), n, now).await.map_err(retry)?;
                Ok(true)
            }
        }
    }

    async fn invoice_issued(&self, row: &InvoiceRow, i: &IssuedInvoice) -> Result<(), DomainError> {
        let now = self.now();
        let detail = json!({"issued": i});
        let txn = self.store.write_txn().await?;
        if self.store.update_invoice(&txn, (row.id, row.version), InvoiceState::Issued, Some((&i.batch_code, &i.bill_no)), &detail, now).await? {
            let system = Actor::system("invoices");
            self.store
                .append_audit(&txn, &system.entry("invoice.issued", format!("invoice:{}", row.bus_no), &format!("{} {}", i.batch_code, i.bill_no)), now)
                .await?;
        }
        txn.commit().await.map_err(store::db_err)
    }

    async fn invoice_refused(&self, row: &InvoiceRow, b: &Business, why: &str) -> Result<(), DomainError> {
        let now = self.now();
        let detail = json!({"refused": why});
        let txn = self.store.write_txn().await?;
        if self.store.update_invoice(&txn, (row.id, row.version), InvoiceState::Refused, None, &detail, now).await? {
            let text = format!(
                "业务 {}（{}）¥{} 的电子票据被票据平台拒绝：{why}。请核对后在票据平台补开。",
                row.subject,
                b.kind.label_zh(),
                row.amounts.total.to_yuan_string()
            );
            let key = format!("invoice_refused:{}", row.bus_no);
            let dept = if b.kind == InvoiceKind::Inpatient { INPATIENT_CASHIER } else { CASHIER };
            let task = NewTask { kind: "invoice_refused", message_id: None, dept, title: "电子票据开具失败", detail: &text, dedupe_key: &key };
            self.store.open_task(&txn, task, now).await?;
            let system = Actor::system("invoices");
            self.store.append_audit(&txn, &system.entry("invoice.refused", format!("invoice:{}", row.bus_no), why), now).await?;
        }
        txn.commit().await.map_err(store::db_err)
    }
}

/// `invoice.sync`: steps until the business's invoices match what it keeps.
pub struct SyncInvoices;

#[async_trait]
impl JobHandler for SyncInvoices {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let subject = payload.get("subject").and_then(|v| v.as_str()).ok_or_else(|| JobError::Permanent("payload lacks subject".into()))?;
        let Some(inv) = app.invoicing.clone() else {
            tracing::debug!(subject, "no e-invoice platform configured");
            return Ok(());
        };
        // Reverse, then issue: a handful of steps at most.
        for _ in 0..6 {
            if !app.invoice_step(&inv, subject).await? {
                return Ok(());
            }
        }
        Err(JobError::Retry(format!("invoices of {subject} still moving")))
    }
}

/// One invoice as the patient sees it.
#[derive(Clone, Debug, Serialize)]
pub struct InvoiceView {
    pub id: i64,
    pub kind: InvoiceKind,
    pub kind_label: &'static str,
    pub state: InvoiceState,
    pub state_label: &'static str,
    pub patient_id: Option<i64>,
    pub patient_name: String,
    pub total: Fen,
    pub fund: Fen,
    pub account: Fen,
    pub other_fund: Fen,
    pub own: Fen,
    pub batch_code: String,
    pub bill_no: String,
    pub check_code: String,
    pub issued_at: chrono::DateTime<chrono::Utc>,
    /// The platform's verification QR (PNG, Base64), when issued.
    pub qr_png_base64: Option<String>,
    /// The red-letter invoice that reversed it.
    pub reversal: Option<(String, String)>,
    /// What the invoice is for (an order, a discharge), as a link of the patient's.
    pub business_link: String,
    pub reissue: bool,
}

fn view(r: &InvoiceRow, names: &std::collections::HashMap<i64, String>) -> InvoiceView {
    let issued = r.detail.get("issued");
    let s = |k: &str| issued.and_then(|i| i.get(k)).and_then(|v| v.as_str()).unwrap_or("").to_owned();
    let reversal = r
        .detail
        .get("reversal")
        .map(|v| (v.get("batch_code").and_then(|x| x.as_str()).unwrap_or("").to_owned(), v.get("bill_no").and_then(|x| x.as_str()).unwrap_or("").to_owned()));
    let business_link = match r.subject.split_once(':') {
        Some(("order", no)) => format!("/pay/{no}/result"),
        Some(("discharge", no)) => format!("/inpatient/discharge/{no}"),
        _ => String::new(),
    };
    InvoiceView {
        id: r.id,
        kind: r.kind,
        kind_label: r.kind.label_zh(),
        state: r.state,
        state_label: r.state.label_zh(),
        patient_id: r.patient_id,
        patient_name: r.patient_id.and_then(|p| names.get(&p).cloned()).unwrap_or_default(),
        total: r.amounts.total,
        fund: r.amounts.fund,
        account: r.amounts.account,
        other_fund: r.amounts.other_fund,
        own: r.amounts.own,
        batch_code: r.batch_code.clone().unwrap_or_default(),
        bill_no: r.bill_no.clone().unwrap_or_default(),
        check_code: s("check_code"),
        issued_at: r.created_at,
        qr_png_base64: Some(s("qr_png_base64")).filter(|q| !q.is_empty() && r.state != InvoiceState::Reversed),
        reversal,
        business_link,
        reissue: r.seq > 1,
    }
}

impl App {
    /// The account's invoices (all its 就诊人), newest first.
    pub async fn my_invoices(&self, account_id: i64) -> Result<Vec<InvoiceView>, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        let names: std::collections::HashMap<i64, String> = patients.iter().map(|p| (p.id, p.own_label(self.today()))).collect();
        let ids: Vec<i64> = patients.iter().map(|p| p.id).collect();
        let rows = self.store.invoices_of_patients(&ids, 200).await?;
        Ok(rows.iter().map(|r| view(r, &names)).collect())
    }

    async fn owned_invoice(&self, account_id: i64, id: i64) -> Result<(InvoiceRow, std::collections::HashMap<i64, String>), DomainError> {
        let not_found = || DomainError::new(ErrorCode::NotFound, "no such invoice for account");
        let row = self.store.invoice(id).await.map_err(|_| not_found())?;
        let pid = row.patient_id.ok_or_else(not_found)?;
        let p = self.store.patient_summary(account_id, pid).await.map_err(|_| not_found())?;
        let names = std::iter::once((p.id, p.own_label(self.today()))).collect();
        Ok((row, names))
    }

    /// One invoice of the account's, with its QR; an audited read (S10).
    pub async fn invoice_detail(&self, account_id: i64, id: i64, actor: &Actor) -> Result<InvoiceView, DomainError> {
        let (row, names) = self.owned_invoice(account_id, id).await?;
        self.store.append_audit(self.store.db(), &actor.entry("invoice.view", format!("invoice:{}", row.bus_no), "patient"), self.now()).await?;
        Ok(view(&row, &names))
    }

    /// The invoice's PDF as the platform renders it; an audited read.
    pub async fn invoice_pdf(&self, account_id: i64, id: i64, actor: &Actor) -> Result<(String, Vec<u8>), DomainError> {
        let (row, _) = self.owned_invoice(account_id, id).await?;
        let issued: IssuedInvoice = row
            .detail
            .get("issued")
            .filter(|_| matches!(row.state, InvoiceState::Issued | InvoiceState::Reversing | InvoiceState::Reversed))
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, "invoice not issued"))?;
        let inv = self.invoicing.clone().ok_or_else(|| DomainError::new(ErrorCode::UpstreamUnavailable, "no e-invoice platform"))?;
        let pdf = inv.platform.pdf(&issued, MAX_PDF_BYTES).await?;
        self.store.append_audit(self.store.db(), &actor.entry("invoice.pdf", format!("invoice:{}", row.bus_no), "patient"), self.now()).await?;
        Ok((format!("电子票据{}-{}.pdf", issued.batch_code, issued.bill_no), pdf))
    }
}

/// Whether a payment of this purpose gets an invoice of its own.
pub(crate) fn invoiced(p: Purpose) -> bool {
    InvoiceKind::for_purpose(p).is_some()
}
