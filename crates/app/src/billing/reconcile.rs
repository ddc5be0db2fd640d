//! Daily reconciliation (对账, P10). For one local business day, the ledger's movements
//! on each clearing account are compared order by order with the bank's statement and
//! the insurance centre's detail statement (3202), and the centre's totals are checked
//! (3201). Before comparing, what can be healed is healed: money the channel has and we
//! do not record because a callback was lost is fetched by asking the channel (the same
//! `resolve_payment` the query job uses); money for an order that had closed is booked
//! as a late payment and refunded. Every remaining difference is classified — missing
//! here, missing there, amount mismatch, status mismatch — and stays open until a person
//! resolves it with a note (audited).
use crate::job::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::NaiveDate;
use domain::billing::{Channel, OrderState};
use domain::{DomainError, ErrorCode, Fen};
use std::collections::{BTreeMap, BTreeSet};
use store::billing::clearing_account;
use store::reconciliation::NewItem;

pub const RECONCILE_DAILY: &str = "billing.reconcile_daily";
/// The daily run starts at this local hour, for the day before.
pub const DAILY_AT_HOUR: u32 = 3;

/// Money per order on one channel for the day: (paid in, paid back).
type Book = BTreeMap<String, (i64, i64)>;

fn bump(book: &mut Book, order_no: &str, paid: i64, refunded: i64) {
    let e = book.entry(order_no.to_owned()).or_default();
    e.0 += paid;
    e.1 += refunded;
}

/// What the ledger says moved through a clearing account on the day, per order.
fn local_book(ledger: &[store::entity::ledger_entry::Model], account: &str) -> Book {
    let mut b = Book::new();
    for e in ledger.iter().filter(|e| e.account == account) {
        // Clearing legs: money in is positive (capture), money out negative (refund).
        if e.amount >= 0 {
            bump(&mut b, &e.order_no, e.amount, 0);
        } else {
            bump(&mut b, &e.order_no, 0, -e.amount);
        }
    }
    b
}

/// The kind of a difference between what we have and what the channel has.
pub fn classify(local: (i64, i64), remote: (i64, i64)) -> &'static str {
    if local == (0, 0) {
        "missing_locally"
    } else if remote == (0, 0) {
        "missing_remotely"
    } else if local.0 == remote.0 {
        "status_mismatch"
    } else {
        "amount_mismatch"
    }
}

pub fn kind_label_zh(kind: &str) -> &'static str {
    match kind {
        "missing_locally" => "本地缺失（渠道有、本地无）",
        "missing_remotely" => "渠道缺失（本地有、渠道无）",
        "amount_mismatch" => "金额不一致",
        "status_mismatch" => "状态不一致（退款）",
        "total_mismatch" => "总账不一致",
        _ => "其他",
    }
}

pub fn resolution_label_zh(r: &str) -> &'static str {
    match r {
        "auto_healed" => "已自动补单",
        "auto_refunded" => "已自动退款（迟到支付）",
        "open" => "待处理",
        "resolved" => "已人工处理",
        _ => "其他",
    }
}

fn day_bounds(day: NaiveDate) -> (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>) {
    let from = domain::clock::local_midnight_utc(day);
    (from, from + chrono::Duration::days(1))
}

impl App {
    /// Reconciles one local business day; returns the run's id.
    pub async fn reconcile_day(&self, day: NaiveDate, by: &Actor) -> Result<i64, DomainError> {
        let run = self.store.start_recon_run(&day.to_string(), self.now()).await?;
        match self.reconcile_into(run, day).await {
            Ok((summary, items)) => {
                let open = items.iter().filter(|i| i.resolution == "open").count();
                self.store.finish_recon_run(run, "done", &summary, &items, self.now()).await?;
                let why = format!("{day}: {} 项差异，{open} 项待处理", items.len());
                self.store.audit(&by.entry("recon.run", format!("recon:{run}"), &why), self.now()).await?;
                Ok(run)
            }
            Err(e) => {
                let summary = serde_json::json!({"error": e.code.code()});
                self.store.finish_recon_run(run, "failed", &summary, &[], self.now()).await?;
                Err(e)
            }
        }
    }

    async fn remote_books(&self, day: NaiveDate) -> Result<(Book, Option<Book>), DomainError> {
        let mut bank = Book::new();
        for l in self.bank()?.statement(day).await? {
            if l.refund {
                bump(&mut bank, &l.order_id, 0, l.amount.0);
            } else {
                bump(&mut bank, &l.order_id, l.amount.0, 0);
            }
        }
        let centre = match self.insurance.as_deref() {
            None => None,
            Some(ins) => {
                let mut c = Book::new();
                for l in ins.centre.statement_detail(day).await? {
                    let amount = l.fund.0 + l.psn_acct.0;
                    if l.refund {
                        bump(&mut c, &l.med_org_ord, 0, amount);
                    } else {
                        bump(&mut c, &l.med_org_ord, amount, 0);
                    }
                }
                Some(c)
            }
        };
        Ok((bank, centre))
    }

    async fn reconcile_into(&self, run: i64, day: NaiveDate) -> Result<(serde_json::Value, Vec<NewItem>), DomainError> {
        let (from, to) = day_bounds(day);
        let (bank, centre) = self.remote_books(day).await?;
        // 1. Heal what the channels know and we do not.
        let before = self.store.ledger_between(from, to).await?;
        let local_bank = local_book(&before, clearing_account(Channel::SelfPay));
        let local_centre = local_book(&before, clearing_account(Channel::Insurance));
        let mut healed: BTreeMap<(String, String), &'static str> = BTreeMap::new();
        let behind = |local: &Book, remote: &Book| -> BTreeSet<String> {
            remote.iter().filter(|(no, r)| local.get(*no).map(|l| l.0).unwrap_or(0) < r.0).map(|(no, _)| no.clone()).collect()
        };
        let mut candidates: Vec<(String, &'static str)> = behind(&local_bank, &bank).into_iter().map(|n| (n, super::BANK)).collect();
        if let Some(c) = &centre {
            candidates.extend(behind(&local_centre, c).into_iter().map(|n| (n, "nhsa")));
        }
        // Found money is booked on the business day's last second, the day it moved.
        let value_at = to - chrono::Duration::seconds(1);
        for (no, channel) in candidates {
            let Ok((order, _)) = self.store.order(&no).await else { continue };
            let how = match order.state {
                OrderState::Created | OrderState::Paying => match self.resolve_payment_valued(&no, Some(value_at)).await {
                    Ok(_) => "auto_healed",
                    Err(e) => {
                        tracing::warn!(order_no = %no, error = %e, "reconciliation could not heal");
                        continue;
                    }
                },
                OrderState::Closed if channel == super::BANK && order.captured.self_pay.0 == 0 => {
                    let amount = Fen(bank.get(&no).map(|r| r.0).unwrap_or(0));
                    match self.book_late_payment(&no, amount, value_at).await {
                        Ok(_) => "auto_refunded",
                        Err(_) => continue,
                    }
                }
                _ => continue,
            };
            healed.insert((channel.to_owned(), no), how);
        }
        crate::crash::point(crate::crash::MID_RECONCILIATION);
        // 2. Compare, with the ledger as it now stands (healing booked on the business day).
        let after = self.store.ledger_between(from, to).await?;
        let mut items = Vec::new();
        let mut matched = 0usize;
        let mut compare = |channel: &str, local: &Book, remote: &Book, items: &mut Vec<NewItem>| {
            let keys: BTreeSet<&String> = local.keys().chain(remote.keys()).collect();
            for no in keys {
                let l = local.get(no).copied().unwrap_or((0, 0));
                let r = remote.get(no).copied().unwrap_or((0, 0));
                let how = healed.get(&(channel.to_owned(), no.clone())).copied();
                if l == r {
                    matched += 1;
                    if let Some(how) = how {
                        items.push(NewItem {
                            channel: channel.into(),
                            order_no: no.clone(),
                            kind: "missing_locally",
                            local_amount: 0,
                            remote_amount: r.0 - r.1,
                            detail: if how == "auto_healed" {
                                "回调丢失，已向渠道查询补记".into()
                            } else {
                                "订单关闭后到账，已挂账并原路退款".into()
                            },
                            resolution: how,
                        });
                    }
                    continue;
                }
                items.push(NewItem {
                    channel: channel.into(),
                    order_no: no.clone(),
                    kind: classify(l, r),
                    local_amount: l.0 - l.1,
                    remote_amount: r.0 - r.1,
                    detail: format!(
                        "本地 收{} 退{}；渠道 收{} 退{}",
                        Fen(l.0).to_yuan_string(),
                        Fen(l.1).to_yuan_string(),
                        Fen(r.0).to_yuan_string(),
                        Fen(r.1).to_yuan_string()
                    ),
                    resolution: "open",
                });
            }
        };
        let local_bank = local_book(&after, clearing_account(Channel::SelfPay));
        compare(super::BANK, &local_bank, &bank, &mut items);
        let mut total_check = serde_json::Value::Null;
        if let Some(c) = &centre {
            let local_centre = local_book(&after, clearing_account(Channel::Insurance));
            compare("nhsa", &local_centre, c, &mut items);
            // 3201: the day's net fund and account totals, from the orders' splits.
            let nos: Vec<String> = local_centre.keys().cloned().collect();
            let orders = self.store.orders_by_no(&nos).await?;
            let (mut fund, mut psn) = (0i64, 0i64);
            for o in &orders {
                let (paid, back) = local_centre[&o.order_no];
                let sign = |x: i64| if x > 0 { 1 } else { 0 };
                let net = sign(paid) - sign(back);
                fund += net * o.order.split.fund.0;
                psn += net * (o.order.split.personal_account.0 + o.order.split.mutual_aid.0);
            }
            let agree = self.insurance.as_deref().expect("centre").centre.statement_total(day, Fen(fund), Fen(psn)).await?;
            total_check = serde_json::json!({"agree": agree, "fund": fund, "psn_acct": psn});
            if !agree && items.iter().all(|i| i.channel != "nhsa" || i.resolution != "open") {
                items.push(NewItem {
                    channel: "nhsa".into(),
                    order_no: String::new(),
                    kind: "total_mismatch",
                    local_amount: fund + psn,
                    remote_amount: 0,
                    detail: "3201 对总账不平，明细无差异".into(),
                    resolution: "open",
                });
            }
        }
        let count = |r: &str| items.iter().filter(|i| i.resolution == r).count();
        let summary = serde_json::json!({
            "run": run,
            "date": day.to_string(),
            "matched": matched,
            "bank_lines": bank.len(),
            "centre_lines": centre.as_ref().map(|c| c.len()),
            "differences": items.len(),
            "auto_healed": count("auto_healed"),
            "auto_refunded": count("auto_refunded"),
            "open": count("open"),
            "total_check": total_check,
        });
        Ok((summary, items))
    }

    /// The newest reconciliation runs.
    pub async fn recon_runs(&self, limit: u64) -> Result<Vec<ReconRun>, DomainError> {
        Ok(self.store.recon_runs(limit).await?.into_iter().map(ReconRun::from).collect())
    }

    /// One run with its differences.
    pub async fn recon_run(&self, run_id: i64) -> Result<(ReconRun, Vec<ReconItem>), DomainError> {
        let (run, items) = self.store.recon_run(run_id).await?;
        Ok((run.into(), items.into_iter().map(ReconItem::from).collect()))
    }

    /// A run's differences as a CSV or XLSX file (an export: audited).
    pub async fn export_recon_run(&self, run_id: i64, xlsx: bool, by: &Actor) -> Result<(String, Vec<u8>), DomainError> {
        let (run, items) = self.recon_run(run_id).await?;
        self.audit_export(&format!("recon:{run_id}"), items.len(), by).await?;
        let name = format!("reconciliation-{}-run{run_id}", run.business_date);
        let rows = items.iter().map(item_row);
        Ok(if xlsx {
            (format!("{name}.xlsx"), super::ledger::to_xlsx("对账差异", &ITEM_HEADERS, rows, &[4, 5])?)
        } else {
            (format!("{name}.csv"), super::ledger::to_csv(&ITEM_HEADERS, rows)?)
        })
    }

    /// Resolves a difference of this run (one of another run is "not found").
    pub async fn resolve_recon_item_of_run(&self, run_id: i64, item_id: i64, note: &str, by: &Actor) -> Result<(), DomainError> {
        let (_, items) = self.store.recon_run(run_id).await?;
        if !items.iter().any(|i| i.id == item_id) {
            return Err(ErrorCode::NotFound.into());
        }
        self.resolve_recon_item(item_id, note, by).await
    }

    /// A person's resolution of an open difference, with a note (audited).
    pub async fn resolve_recon_item(&self, item_id: i64, note: &str, by: &Actor) -> Result<(), DomainError> {
        let note = note.trim();
        if note.is_empty() || note.chars().count() > 500 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "resolution note"));
        }
        let item = self.store.resolve_recon_item(item_id, note, &by.id, self.now()).await?;
        self.store.audit(&by.entry("recon.resolve", format!("recon_item:{item_id}"), &format!("{} {}", item.order_no, note)), self.now()).await?;
        Ok(())
    }
}

pub const ITEM_HEADERS: [&str; 11] =
    ["差异编号", "渠道", "订单号", "差异类型", "本地净额（元）", "渠道净额（元）", "说明", "处理结果", "处理说明", "处理人", "处理时间"];

pub fn channel_label_zh(c: &str) -> &'static str {
    if c == "nhsa" { "医保中心" } else { "建设银行" }
}

/// One reconciliation of a business day.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconRun {
    pub id: i64,
    /// The local day reconciled, `YYYY-MM-DD`.
    pub business_date: String,
    /// `running`, `done` or `failed`.
    pub status: String,
    /// Counts as JSON text (matched, differences, auto_healed, auto_refunded, open, total_check).
    pub summary: String,
    pub started_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl From<store::entity::recon_run::Model> for ReconRun {
    fn from(m: store::entity::recon_run::Model) -> Self {
        Self { id: m.id, business_date: m.business_date, status: m.status, summary: m.summary, started_at: m.started_at, finished_at: m.finished_at }
    }
}

/// One difference between our books and a channel's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReconItem {
    pub id: i64,
    pub channel: String,
    pub order_no: String,
    pub kind: String,
    pub local_amount: Fen,
    pub remote_amount: Fen,
    pub detail: String,
    /// `open`, `auto_healed`, `auto_refunded` or `resolved`.
    pub resolution: String,
    pub note: String,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<chrono::DateTime<chrono::Utc>>,
}

impl ReconItem {
    pub fn is_open(&self) -> bool {
        self.resolution == "open"
    }
}

impl From<store::entity::recon_item::Model> for ReconItem {
    fn from(m: store::entity::recon_item::Model) -> Self {
        Self {
            id: m.id,
            channel: m.channel,
            order_no: m.order_no,
            kind: m.kind,
            local_amount: Fen(m.local_amount),
            remote_amount: Fen(m.remote_amount),
            detail: m.detail,
            resolution: m.resolution,
            note: m.note,
            resolved_by: m.resolved_by,
            resolved_at: m.resolved_at,
        }
    }
}

/// One difference as an export row.
pub fn item_row(i: &ReconItem) -> Vec<String> {
    vec![
        i.id.to_string(),
        channel_label_zh(&i.channel).to_owned(),
        i.order_no.clone(),
        kind_label_zh(&i.kind).to_owned(),
        i.local_amount.to_yuan_string(),
        i.remote_amount.to_yuan_string(),
        i.detail.clone(),
        resolution_label_zh(&i.resolution).to_owned(),
        i.note.clone(),
        i.resolved_by.clone().unwrap_or_default(),
        i.resolved_at.map(|t| domain::format::local_time(t, domain::format::TimeStyle::Second)).unwrap_or_default(),
    ]
}

/// When the next daily run is due: the next `DAILY_AT_HOUR` local after `now`.
pub fn next_daily_run(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let local = domain::clock::to_local(now);
    let today_run = domain::clock::local_midnight_utc(local.date_naive()) + chrono::Duration::hours(DAILY_AT_HOUR as i64);
    if today_run > now { today_run } else { today_run + chrono::Duration::days(1) }
}

pub async fn schedule_daily(app: &App) -> Result<(), DomainError> {
    let at = next_daily_run(app.now());
    let day = (domain::clock::to_local(at).date_naive() - chrono::Duration::days(1)).to_string();
    let job = store::outbox::NewJob::new(RECONCILE_DAILY, serde_json::json!({"day": day}), app.now())
        .at(at)
        .dedupe(format!("{RECONCILE_DAILY}:{day}"))
        .max_attempts(20);
    app.store.enqueue(app.store.db(), job, app.now()).await.map(|_| ())
}

/// Reconciles yesterday, then schedules tomorrow's run.
pub struct ReconcileDaily;

#[async_trait]
impl JobHandler for ReconcileDaily {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let day = payload
            .get("day")
            .and_then(|v| v.as_str())
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .ok_or_else(|| JobError::Permanent("payload lacks day".into()))?;
        // Without a bank connector there is nothing to reconcile against (a deployment
        // that takes no online payments): keep the schedule, skip the day.
        if app.bank.is_some() {
            app.reconcile_day(day, &Actor::system("reconciliation")).await.map_err(|e| JobError::Retry(e.to_string()))?;
        } else {
            tracing::info!(%day, "reconciliation skipped: no bank connector configured");
        }
        schedule_daily(app).await.map_err(|e| JobError::Retry(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn differences_are_classified() {
        assert_eq!(classify((0, 0), (100, 0)), "missing_locally");
        assert_eq!(classify((100, 0), (0, 0)), "missing_remotely");
        assert_eq!(classify((100, 0), (100, 100)), "status_mismatch");
        assert_eq!(classify((100, 0), (90, 0)), "amount_mismatch");
    }

    #[test]
    fn daily_run_is_the_next_three_oclock_local() {
        // 2026-11-25 01:00 local = 2026-11-24 17:00 UTC → 03:00 local the same day.
        let now = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 17, 0, 0).unwrap();
        assert_eq!(next_daily_run(now), chrono::Utc.with_ymd_and_hms(2026, 11, 24, 19, 0, 0).unwrap());
        let later = chrono::Utc.with_ymd_and_hms(2026, 11, 24, 20, 0, 0).unwrap();
        assert_eq!(next_daily_run(later), chrono::Utc.with_ymd_and_hms(2026, 11, 25, 19, 0, 0).unwrap());
    }
}
