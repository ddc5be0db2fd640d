//! The ledger as finance reads it: entries in a time range, narrowed by purpose, account
//! (channel) or patient; totals by account and by purpose; exports as CSV (UTF-8 with a
//! byte-order mark, so Excel reads the Chinese headers) and XLSX. Exports are audited:
//! they leave the system.
use crate::{Actor, App};
use chrono::{DateTime, Utc};
use domain::billing::Purpose;
use domain::{DomainError, ErrorCode, Fen};
use std::collections::{BTreeMap, HashMap};

pub fn account_label_zh(account: &str) -> &'static str {
    match account {
        "clearing:bank" => "银行清算户（建行）",
        "clearing:insurance" => "医保清算户",
        "revenue:registration" => "挂号收入",
        "revenue:outpatient" => "门诊收入",
        "revenue:inpatient" => "住院收入",
        "revenue:record_copy" => "病历复印收入",
        "liability:deposit" => "住院押金（负债）",
        "liability:card" => "就诊卡余额（负债）",
        "suspense:late_payment" => "待退款项（迟到支付）",
        _ => "其他科目",
    }
}

pub fn memo_label_zh(memo: &str) -> &'static str {
    match memo {
        "capture" => "收款",
        "refund" => "退款",
        "late_capture" => "关单后到账",
        "late_refund" => "迟到支付退回",
        _ => "其他",
    }
}

#[derive(Clone, Debug, Default)]
pub struct LedgerFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub purpose: Option<Purpose>,
    pub account: Option<String>,
    /// One person's entries, by the hospital's medical-record number (病案号).
    pub mr_no: Option<String>,
}

#[derive(Clone, Debug)]
pub struct LedgerLine {
    pub at: DateTime<Utc>,
    pub posting: String,
    pub order_no: String,
    pub purpose: Option<Purpose>,
    pub patient_id: Option<i64>,
    pub account: String,
    pub memo: String,
    pub amount: Fen,
}

#[derive(Clone, Debug, Default)]
pub struct LedgerReport {
    pub lines: Vec<LedgerLine>,
    /// Net per account (debit positive).
    pub by_account: BTreeMap<String, i64>,
    /// Per purpose: (collected, refunded) through the clearing accounts.
    pub by_purpose: BTreeMap<&'static str, (i64, i64)>,
    /// Σ of every line: zero when whole postings are selected (P8).
    pub sum: i64,
}

/// The longest range one report covers: a quarter.
pub const MAX_RANGE_DAYS: i64 = 92;

impl App {
    pub async fn ledger_report(&self, f: &LedgerFilter) -> Result<LedgerReport, DomainError> {
        let to = f.to.unwrap_or_else(|| self.now());
        let from = f.from.unwrap_or(to - chrono::Duration::days(1));
        if from >= to || to - from > chrono::Duration::days(MAX_RANGE_DAYS) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "ledger range"));
        }
        let patient_ids = match f.mr_no.as_deref().map(str::trim).filter(|m| !m.is_empty()) {
            Some(mr_no) => Some(self.store.patient_ids_by_mr_no(mr_no).await?),
            None => None,
        };
        let entries = self.store.ledger_between(from, to).await?;
        let mut nos: Vec<String> = entries.iter().map(|e| e.order_no.clone()).collect();
        nos.sort();
        nos.dedup();
        let orders: HashMap<String, (Purpose, Option<i64>)> =
            self.store.orders_by_no(&nos).await?.into_iter().map(|r| (r.order_no, (r.order.purpose, r.patient_id))).collect();
        let mut report = LedgerReport::default();
        for e in entries {
            let (purpose, patient_id) = orders.get(&e.order_no).map(|(p, id)| (Some(*p), *id)).unwrap_or((None, None));
            if f.purpose.is_some() && purpose != f.purpose {
                continue;
            }
            if let Some(ids) = &patient_ids
                && !patient_id.is_some_and(|p| ids.contains(&p))
            {
                continue;
            }
            if let Some(a) = &f.account
                && !a.is_empty()
                && &e.account != a
            {
                continue;
            }
            *report.by_account.entry(e.account.clone()).or_default() += e.amount;
            if e.account.starts_with("clearing:") {
                let label = purpose.map(|p| p.label_zh()).unwrap_or("未知业务");
                let t = report.by_purpose.entry(label).or_default();
                if e.amount >= 0 {
                    t.0 += e.amount;
                } else {
                    t.1 -= e.amount;
                }
            }
            report.sum += e.amount;
            report.lines.push(LedgerLine {
                at: e.at,
                posting: e.posting,
                order_no: e.order_no,
                purpose,
                patient_id,
                account: e.account,
                memo: e.memo,
                amount: Fen(e.amount),
            });
        }
        Ok(report)
    }

    /// Records that a report left the system.
    pub async fn audit_export(&self, what: &str, rows: usize, by: &Actor) -> Result<(), DomainError> {
        self.store.audit(&by.entry("finance.export", what, &format!("{rows} 行")), self.now()).await.map(|_| ())
    }
}

pub const LEDGER_HEADERS: [&str; 8] = ["记账时间", "凭证号", "订单号", "业务", "科目", "科目名称", "摘要", "金额（元）"];

fn ledger_row(l: &LedgerLine) -> [String; 8] {
    [
        domain::clock::to_local(l.at).format("%Y-%m-%d %H:%M:%S").to_string(),
        l.posting.clone(),
        l.order_no.clone(),
        l.purpose.map(|p| p.label_zh()).unwrap_or("").to_owned(),
        l.account.clone(),
        account_label_zh(&l.account).to_owned(),
        memo_label_zh(&l.memo).to_owned(),
        l.amount.to_yuan_string(),
    ]
}

/// CSV with a UTF-8 byte-order mark (Excel otherwise guesses GBK and garbles Chinese).
pub fn to_csv(headers: &[&str], rows: impl Iterator<Item = Vec<String>>) -> Result<Vec<u8>, DomainError> {
    let mut w = csv::Writer::from_writer(vec![0xEF, 0xBB, 0xBF]);
    let fail = |e: csv::Error| DomainError::new(ErrorCode::Internal, format!("csv: {e}"));
    w.write_record(headers).map_err(fail)?;
    for r in rows {
        // A cell starting with = + - @ would be a formula in a spreadsheet (CSV
        // injection): such text is prefixed with an apostrophe. Amounts are written as
        // numbers and never start that way except for a minus sign, which is kept.
        let safe: Vec<String> = r
            .into_iter()
            .map(|c| if c.starts_with(['=', '+', '@']) || (c.starts_with('-') && c.parse::<f64>().is_err()) { format!("'{c}") } else { c })
            .collect();
        w.write_record(&safe).map_err(fail)?;
    }
    w.into_inner().map_err(|e| DomainError::new(ErrorCode::Internal, format!("csv: {e}")))
}

/// An XLSX workbook with one sheet: bold headers, amounts as numbers with two decimals.
/// `money_cols` are the columns holding yuan amounts.
pub fn to_xlsx(sheet: &str, headers: &[&str], rows: impl Iterator<Item = Vec<String>>, money_cols: &[usize]) -> Result<Vec<u8>, DomainError> {
    use rust_xlsxwriter::{Format, Workbook};
    let fail = |e: rust_xlsxwriter::XlsxError| DomainError::new(ErrorCode::Internal, format!("xlsx: {e}"));
    let mut wb = Workbook::new();
    let ws = wb.add_worksheet();
    ws.set_name(sheet).map_err(fail)?;
    let bold = Format::new().set_bold();
    let money = Format::new().set_num_format("#,##0.00");
    for (c, h) in headers.iter().enumerate() {
        ws.write_string_with_format(0, c as u16, *h, &bold).map_err(fail)?;
        ws.set_column_width(c as u16, if money_cols.contains(&c) { 14 } else { 22 }).map_err(fail)?;
    }
    for (r, row) in rows.enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            match cell.parse::<f64>() {
                Ok(v) if money_cols.contains(&c) => ws.write_number_with_format(r, c as u16, v, &money).map(|_| ()),
                _ => ws.write_string(r, c as u16, cell).map(|_| ()),
            }
            .map_err(fail)?;
        }
    }
    ws.set_freeze_panes(1, 0).map_err(fail)?;
    wb.save_to_buffer().map_err(fail)
}

pub fn ledger_csv(r: &LedgerReport) -> Result<Vec<u8>, DomainError> {
    to_csv(&LEDGER_HEADERS, r.lines.iter().map(|l| ledger_row(l).to_vec()))
}

pub fn ledger_xlsx(r: &LedgerReport) -> Result<Vec<u8>, DomainError> {
    to_xlsx("账务明细", &LEDGER_HEADERS, r.lines.iter().map(|l| ledger_row(l).to_vec()), &[7])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_has_bom_chinese_headers_and_defuses_formulas() {
        let bytes = to_csv(&["订单号", "金额（元）"], vec![vec!["=HYPERLINK(\"x\")".to_owned(), "-12.50".to_owned()]].into_iter()).unwrap();
        assert_eq!(&bytes[..3], &[0xEF, 0xBB, 0xBF]);
        let text = String::from_utf8(bytes[3..].to_vec()).unwrap();
        assert!(text.starts_with("订单号,金额（元）\n"), "{text}");
        assert!(text.contains("'=HYPERLINK"), "a formula is neutralised: {text}");
        assert!(text.contains(",-12.50"), "a negative amount stays a number: {text}");
    }

    #[test]
    fn xlsx_is_a_zip_with_the_sheet() {
        let bytes = to_xlsx("账务明细", &["订单号", "金额（元）"], vec![vec!["CB1".to_owned(), "25.00".to_owned()]].into_iter(), &[1]).unwrap();
        assert_eq!(&bytes[..2], b"PK", "an Office Open XML package is a zip");
        assert!(bytes.len() > 1_000);
    }
}
