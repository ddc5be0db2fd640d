//! The records ledger (REC-5): every movement of record-copy money in a date range, one row
//! per fee line (copying, certification, postage, the extra of a true-up) or per refund
//! (the true-up's difference, a withdrawal), each row naming the ledger posting it comes
//! from and the application it belongs to. It is read from the general ledger's
//! `revenue:record_copy` legs, so its totals are the general ledger's by construction;
//! narrowed by clerk, fee kind, channel and delivery, with totals and breakdowns, and
//! exported as CSV and XLSX (the same writers as the finance ledger: formula-safe, Chinese
//! headers).
use crate::App;
use crate::billing::ledger::{MAX_RANGE_DAYS, to_csv, to_xlsx};
use chrono::{DateTime, Utc};
use domain::billing::Channel;
use domain::records::{Delivery, LedgerKind, Purpose, RevenueLeg, ledger_rows};
use domain::staff::Role;
use domain::{DomainError, ErrorCode, Fen};
use std::collections::{BTreeMap, HashMap};
use store::records::RecordApplicationRow;

/// The general-ledger account record-copy money is booked to.
const REVENUE_ACCOUNT: &str = "revenue:record_copy";

#[derive(Clone, Debug, Default)]
pub struct RecordsLedgerFilter {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    /// The clerk who handled the application last (`staff:<id>`).
    pub clerk: Option<String>,
    pub kind: Option<LedgerKind>,
    pub channel: Option<Channel>,
    pub delivery: Option<Delivery>,
}

#[derive(Clone, Debug)]
pub struct RecordsLedgerRow {
    pub at: DateTime<Utc>,
    /// The general ledger's posting this row comes from.
    pub posting: String,
    pub application_no: String,
    pub order_no: String,
    pub kind: LedgerKind,
    pub channel: Channel,
    pub delivery: Option<Delivery>,
    pub purpose: Option<Purpose>,
    pub clerk: Option<String>,
    /// Collected positive, given back negative.
    pub amount: Fen,
}

#[derive(Clone, Debug, Default)]
pub struct RecordsLedger {
    pub rows: Vec<RecordsLedgerRow>,
    pub collected: i64,
    /// Given back, as a positive number.
    pub refunded: i64,
    pub by_kind: BTreeMap<LedgerKind, i64>,
    pub by_channel: BTreeMap<&'static str, i64>,
    pub by_delivery: BTreeMap<&'static str, i64>,
    /// Per clerk's label.
    pub by_clerk: BTreeMap<String, i64>,
    /// Who may be filtered by: (`staff:<id>`, label) of every records clerk.
    pub clerks: Vec<(String, String)>,
    /// Names of clerks by `staff:<id>`.
    pub clerk_names: HashMap<String, String>,
}

impl RecordsLedger {
    pub fn net(&self) -> i64 {
        self.collected - self.refunded
    }

    pub fn clerk_label(&self, clerk: Option<&str>) -> String {
        match clerk {
            Some(c) => self.clerk_names.get(c).cloned().unwrap_or_else(|| c.to_owned()),
            None => String::new(),
        }
    }
}

pub fn channel_label_zh(c: Channel) -> &'static str {
    match c {
        Channel::SelfPay => "银行（建行）",
        Channel::Insurance => "医保",
    }
}

fn channel_of_clearing(account: &str) -> Option<Channel> {
    [Channel::SelfPay, Channel::Insurance].into_iter().find(|c| store::billing::clearing_account(*c) == account)
}

impl App {
    pub async fn records_ledger(&self, f: &RecordsLedgerFilter) -> Result<RecordsLedger, DomainError> {
        let to = f.to.unwrap_or_else(|| self.now());
        let from = f.from.unwrap_or(to - chrono::Duration::days(1));
        if from >= to || to - from > chrono::Duration::days(MAX_RANGE_DAYS) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "records ledger range"));
        }
        let entries = self.store.postings_touching(REVENUE_ACCOUNT, from, to).await?;
        let mut order_nos: Vec<String> = entries.iter().map(|e| e.order_no.clone()).collect();
        order_nos.sort();
        order_nos.dedup();
        let orders: HashMap<String, Vec<(String, Fen)>> = self
            .store
            .orders_by_no(&order_nos)
            .await?
            .into_iter()
            .map(|o| (o.order_no, o.order.lines.into_iter().map(|l| (l.code, l.amount)).collect()))
            .collect();
        let mut applications: HashMap<String, std::sync::Arc<RecordApplicationRow>> = HashMap::new();
        for a in self.store.record_applications_of_orders(&order_nos).await? {
            let a = std::sync::Arc::new(a);
            for no in a.order_no.iter().chain(a.extra_order_no.iter()) {
                applications.insert(no.clone(), a.clone());
            }
        }
        let staff = self.store.list_staff().await?;
        let mut out = RecordsLedger {
            clerks: staff
                .iter()
                .filter(|s| s.roles.contains(&Role::Records))
                .map(|s| (format!("staff:{}", s.id), format!("{}（{}）", s.display_name, s.username)))
                .collect(),
            clerk_names: staff.iter().map(|s| (format!("staff:{}", s.id), s.display_name.clone())).collect(),
            ..Default::default()
        };
        let mut by_posting: BTreeMap<i64, Vec<&store::entity::ledger_entry::Model>> = BTreeMap::new();
        let mut first_id: HashMap<&str, i64> = HashMap::new();
        for e in &entries {
            let id = *first_id.entry(e.posting.as_str()).or_insert(e.id);
            by_posting.entry(id).or_default().push(e);
        }
        for legs in by_posting.values() {
            for revenue in legs.iter().filter(|e| e.account == REVENUE_ACCOUNT && e.at >= from && e.at < to) {
                // The clearing leg paired with it: same memo, opposite amount.
                let channel = legs
                    .iter()
                    .filter(|e| e.memo == revenue.memo && e.amount == -revenue.amount)
                    .find_map(|e| channel_of_clearing(&e.account))
                    .unwrap_or(Channel::SelfPay);
                let Some(app) = applications.get(&revenue.order_no) else {
                    // A record-copy order without an application cannot be made; kept visible.
                    tracing::warn!(order_no = %revenue.order_no, "record-copy posting without an application");
                    continue;
                };
                let extra_order = app.extra_order_no.as_deref() == Some(revenue.order_no.as_str());
                let lines = orders.get(&revenue.order_no).map(Vec::as_slice).unwrap_or(&[]);
                let leg = RevenueLeg { collected: -revenue.amount, lines, extra_order, state: app.state, counted: app.counted_pages.is_some() };
                for (kind, amount) in ledger_rows(&leg) {
                    let row = RecordsLedgerRow {
                        at: revenue.at,
                        posting: revenue.posting.clone(),
                        application_no: app.application_no.clone(),
                        order_no: revenue.order_no.clone(),
                        kind,
                        channel,
                        delivery: app.delivery,
                        purpose: app.purpose,
                        clerk: app.clerk.clone(),
                        amount: Fen(amount),
                    };
                    if f.kind.is_some_and(|k| k != row.kind)
                        || f.channel.is_some_and(|c| c != row.channel)
                        || f.delivery.is_some_and(|d| Some(d) != row.delivery)
                        || f.clerk.as_ref().is_some_and(|c| Some(c) != row.clerk.as_ref())
                    {
                        continue;
                    }
                    if amount >= 0 {
                        out.collected += amount;
                    } else {
                        out.refunded -= amount;
                    }
                    *out.by_kind.entry(kind).or_default() += amount;
                    *out.by_channel.entry(channel_label_zh(channel)).or_default() += amount;
                    *out.by_delivery.entry(row.delivery.map(|d| d.label_zh()).unwrap_or("未选择")).or_default() += amount;
                    let clerk = out.clerk_label(row.clerk.as_deref());
                    *out.by_clerk.entry(if clerk.is_empty() { "未经办".to_owned() } else { clerk }).or_default() += amount;
                    out.rows.push(row);
                }
            }
        }
        out.rows.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.posting.cmp(&b.posting)));
        Ok(out)
    }
}

pub const RECORDS_LEDGER_HEADERS: [&str; 10] = ["记账时间", "凭证号", "申请号", "订单号", "费用类别", "渠道", "领取方式", "复印用途", "经办人", "金额（元）"];

fn row_cells(l: &RecordsLedger, r: &RecordsLedgerRow) -> Vec<String> {
    vec![
        domain::clock::to_local(r.at).format("%Y-%m-%d %H:%M:%S").to_string(),
        r.posting.clone(),
        r.application_no.clone(),
        r.order_no.clone(),
        r.kind.label_zh().to_owned(),
        channel_label_zh(r.channel).to_owned(),
        r.delivery.map(|d| d.label_zh()).unwrap_or("").to_owned(),
        r.purpose.map(|p| p.label_zh()).unwrap_or("").to_owned(),
        l.clerk_label(r.clerk.as_deref()),
        r.amount.to_yuan_string(),
    ]
}

/// The detail rows, then one 合计 row with the net (what the screen shows).
fn export_rows(l: &RecordsLedger) -> impl Iterator<Item = Vec<String>> + '_ {
    let mut total = vec![String::new(); RECORDS_LEDGER_HEADERS.len()];
    total[0] = "合计".to_owned();
    total[9] = Fen(l.net()).to_yuan_string();
    l.rows.iter().map(|r| row_cells(l, r)).chain(std::iter::once(total))
}

pub fn records_ledger_csv(l: &RecordsLedger) -> Result<Vec<u8>, DomainError> {
    to_csv(&RECORDS_LEDGER_HEADERS, export_rows(l))
}

pub fn records_ledger_xlsx(l: &RecordsLedger) -> Result<Vec<u8>, DomainError> {
    to_xlsx("病历复印账务", &RECORDS_LEDGER_HEADERS, export_rows(l), &[9])
}
