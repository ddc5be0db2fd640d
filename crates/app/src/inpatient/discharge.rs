//! Discharge settled from the bed (BED-1, BED-2): the nurse closes the account (封账) →
//! the patient is told → checks the HIS's pre-settlement (the insurance split shown before
//! anything is paid) → confirms → the deposits' surplus goes back over the payments that
//! funded the stay (newest first, each to its own channel; window payments become a task
//! for the cashier), or the patient pays what they lack → the HIS settles → the summary.
//!
//! Every step that decides something commits with the job that carries it out (the HIS
//! settlement, each refund), and every job is safe to run again: the HIS settlement is
//! idempotent on the discharge number, a refund is requested only while the deposit's
//! order is still at the version the settlement saw. A crash at any point resumes.
use crate::job::{JobError, JobHandler, retry};
use crate::{Actor, App};
use async_trait::async_trait;
use domain::billing::{OrderEvent, OrderState, PerChannel, Purpose};
use domain::identity::PatientSummary;
use domain::inpatient::{DischargeBalance, DischargeQuote, DischargeState, SurplusPart, discharge_balance, split_surplus};
use domain::ports::{DischargeSettleOutcome, DischargeSettleRequest, DischargeSummary, InpatientStay, WardInpatient};
use domain::{DomainError, ErrorCode, Fen};
use serde_json::json;
use store::inpatient::{DischargeChange, DischargeRow, NewDischarge};
use store::messages::NewTask;
use store::outbox::NewJob;

/// Settles a confirmed discharge in the HIS.
pub const DISCHARGE_SETTLE: &str = "discharge.settle";
/// Requests the refund of one online deposit's part of the surplus.
pub const DISCHARGE_REFUND: &str = "discharge.refund";
/// The journey events the message platform turns into 出院结算提醒 and 出院结算成功.
pub const DISCHARGE_PROMPT: &str = "discharge.prompt";
pub const DISCHARGE_SETTLED: &str = "discharge.settled";
/// Where window refunds and failed settlements go.
const CASHIER: &str = "住院收费处";

/// The discharge page of one of the account's 就诊人.
pub struct DischargeView {
    pub patient: PatientSummary,
    pub stay: InpatientStay,
    /// The platform's latest attempt for this stay.
    pub discharge: Option<DischargeRow>,
    /// The HIS's pre-settlement, when the account is closed and nothing is under way.
    pub quote: Option<(DischargeQuote, DischargeBalance, Vec<SurplusPart>)>,
}

/// A discharge's result page.
pub struct DischargeResult {
    pub patient: PatientSummary,
    pub discharge: DischargeRow,
    pub refunds: Vec<RefundProgress>,
    pub summary: Option<DischargeSummary>,
}

/// One part of the surplus and how far its refund got.
pub struct RefundProgress {
    pub part: SurplusPart,
    /// For an online part: the deposit order's state now.
    pub order_state: Option<OrderState>,
}

/// The nurse station's row: a patient of the ward and the platform's latest discharge.
pub struct WardRow {
    pub patient: WardInpatient,
    pub discharge: Option<DischargeRow>,
}

fn parts_of(d: &DischargeRow) -> Vec<SurplusPart> {
    d.detail.get("refunds").cloned().and_then(|v| serde_json::from_value(v).ok()).unwrap_or_default()
}

fn split_error(e: domain::inpatient::SplitError) -> DomainError {
    DomainError::new(ErrorCode::HisRejected, format!("the HIS's discharge figures disagree: {e:?}"))
}

impl App {
    /// A balance order that closed unpaid gives the stay free: the attempt is abandoned
    /// (found when the attempt is next read; nothing else waits on it).
    async fn abandon_if_unpaid(&self, d: DischargeRow) -> Result<Option<DischargeRow>, DomainError> {
        if d.state != DischargeState::AwaitingPayment {
            return Ok(Some(d));
        }
        let Some(order_no) = d.order_no.as_deref() else { return Ok(Some(d)) };
        if self.resolve_payment(order_no).await? != OrderState::Closed {
            return Ok(Some(d));
        }
        let change = DischargeChange { state: Some(DischargeState::Abandoned), ..Default::default() };
        self.store.update_discharge(self.store.db(), &d.discharge_no, d.version, change, self.now()).await?;
        Ok(Some(self.store.discharge(&d.discharge_no).await?))
    }

    pub async fn discharge_view(&self, account_id: i64, patient_id: i64) -> Result<Option<DischargeView>, DomainError> {
        let patient = self.store.patient_summary(account_id, patient_id).await?;
        let Some(stay) = self.his.inpatient_stay(&patient.his_patient_id).await? else { return Ok(None) };
        let discharge = match self.store.latest_discharge(&stay.inpatient_no).await? {
            Some(d) => self.abandon_if_unpaid(d).await?,
            None => None,
        };
        let under_way = discharge.as_ref().is_some_and(|d| d.state.is_active());
        let quote = if stay.account_closed && stay.settled_at.is_none() && !under_way {
            let q = self.his.discharge_pre_settle(&stay.inpatient_no).await?;
            let balance = discharge_balance(&q.deposits, q.self_pay).map_err(split_error)?;
            let parts = match balance {
                DischargeBalance::Refund(surplus) => split_surplus(&q.deposits, surplus).map_err(split_error)?,
                _ => vec![],
            };
            Some((q, balance, parts))
        } else {
            None
        };
        Ok(Some(DischargeView { patient, stay, discharge, quote }))
    }

    /// The patient confirms the settlement of the quote they saw. The HIS is asked again:
    /// figures that changed meanwhile are refused (`DischargeQuoteChanged`), never settled
    /// on. A second confirmation (another phone, a double tap) answers the attempt already
    /// under way. Returns the discharge number and, when something is due, the order to pay.
    pub async fn confirm_discharge(
        &self,
        account_id: i64,
        patient_id: i64,
        pre_settle_id: &str,
        actor: &Actor,
    ) -> Result<(String, Option<String>), DomainError> {
        let patient = self.store.patient_summary(account_id, patient_id).await?;
        let stay = self.his.inpatient_stay(&patient.his_patient_id).await?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no stay"))?;
        let active = match self.store.active_discharge(&stay.inpatient_no).await? {
            Some(d) => self.abandon_if_unpaid(d).await?.filter(|d| d.state.is_active()),
            None => None,
        };
        if let Some(d) = active {
            return Ok((d.discharge_no, d.order_no.filter(|_| d.state == DischargeState::AwaitingPayment)));
        }
        if !stay.account_closed || stay.settled_at.is_some() {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "stay not open for discharge settlement"));
        }
        let q = self.his.discharge_pre_settle(&stay.inpatient_no).await?;
        if q.pre_settle_id != pre_settle_id {
            return Err(DomainError::new(ErrorCode::DischargeQuoteChanged, "the HIS's figures changed"));
        }
        let balance = discharge_balance(&q.deposits, q.self_pay).map_err(split_error)?;
        let (state, parts, signed) = match balance {
            DischargeBalance::Refund(s) => (DischargeState::Settling, split_surplus(&q.deposits, s).map_err(split_error)?, s.0),
            DischargeBalance::Even => (DischargeState::Settling, vec![], 0),
            DischargeBalance::Due(d) => (DischargeState::AwaitingPayment, vec![], -d.0),
        };
        let now = self.now();
        let discharge_no = format!("DS{}", &crate::billing::new_order_no(now)[2..]);
        // The balance order first (its own transaction): if the discharge row then loses the
        // race to another phone, this order is never paid and closes by itself.
        let order_no = match balance {
            DischargeBalance::Due(due) => {
                let line = crate::billing::topup::line("CYJS", "出院结算补缴", due);
                Some(self.create_order(Some(patient_id), Purpose::DischargeBalance, vec![line], Some(&format!("discharge:{discharge_no}")), actor).await?)
            }
            _ => None,
        };
        let detail = json!({"deposits": q.deposits, "insurance": q.insurance, "refunds": parts});
        let txn = self.store.write_txn().await?;
        let row = NewDischarge {
            discharge_no: &discharge_no,
            patient_id,
            account_id,
            his_patient_id: &patient.his_patient_id,
            inpatient_no: &stay.inpatient_no,
            pre_settle_id: &q.pre_settle_id,
            state,
            total: q.total,
            fund: q.fund,
            personal_account: q.personal_account,
            self_pay: q.self_pay,
            deposits_held: q.deposits_held(),
            balance: Fen(signed),
            order_no: order_no.as_deref(),
            detail: &detail,
        };
        if !self.store.insert_discharge(&txn, row, now).await? {
            drop(txn);
            let d = self.store.active_discharge(&stay.inpatient_no).await?.ok_or_else(|| DomainError::new(ErrorCode::OrderStateConflict, "discharge raced"))?;
            return Ok((d.discharge_no, d.order_no.filter(|_| d.state == DischargeState::AwaitingPayment)));
        }
        if state == DischargeState::Settling {
            let job =
                NewJob::new(DISCHARGE_SETTLE, json!({"discharge_no": discharge_no}), now).dedupe(format!("{DISCHARGE_SETTLE}:{discharge_no}")).max_attempts(50);
            self.store.enqueue(&txn, job, now).await?;
        }
        let what = format!("{} 自付{} 押金{} {}", stay.inpatient_no, q.self_pay.to_yuan_string(), q.deposits_held().to_yuan_string(), state.label_zh());
        self.store.append_audit(&txn, &actor.entry("discharge.confirm", format!("discharge:{discharge_no}"), &what), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok((discharge_no.clone(), order_no))
    }

    /// The result page of one of the account's discharges, with how far each refund got and
    /// the 出院小结 once the HIS has it.
    pub async fn discharge_result(&self, account_id: i64, discharge_no: &str, viewer: &Actor) -> Result<DischargeResult, DomainError> {
        let d = self.store.discharge(discharge_no).await?;
        // Another account's discharge is not found, whoever asks.
        let patient = self.store.patient_summary(account_id, d.patient_id).await?;
        let d = self.abandon_if_unpaid(d).await?.expect("kept");
        let mut refunds = Vec::new();
        for part in parts_of(&d) {
            let order_state = match (&part.order_no, part.at_window()) {
                (Some(no), false) => Some(self.store.order(no).await?.0.state),
                _ => None,
            };
            refunds.push(RefundProgress { part, order_state });
        }
        let summary = if d.state == DischargeState::Settled { self.his.discharge_summary(&d.inpatient_no).await.unwrap_or(None) } else { None };
        // The settlement and the discharge summary are health and money records: each view is audited (S10).
        self.store
            .audit(&viewer.entry("discharge.view", format!("discharge:{discharge_no}"), if summary.is_some() { "含出院小结" } else { "" }), self.now())
            .await?;
        Ok(DischargeResult { patient, discharge: d, refunds, summary })
    }

    /// The 出院小结 as a PDF for the patient's family: the HIS's own file when it has one,
    /// else laid out from the HIS's structured text on the hospital's form. An audited read.
    pub async fn discharge_summary_pdf(&self, account_id: i64, discharge_no: &str, viewer: &Actor) -> Result<(String, Vec<u8>), DomainError> {
        let d = self.store.discharge(discharge_no).await?;
        self.store.patient_summary(account_id, d.patient_id).await.map_err(|_| DomainError::new(ErrorCode::NotFound, "no such discharge for account"))?;
        let not_yet = || DomainError::new(ErrorCode::NotFound, "the discharge summary is not written yet");
        if d.state != DischargeState::Settled {
            return Err(not_yet());
        }
        let s = self.his.discharge_summary(&d.inpatient_no).await?.ok_or_else(not_yet)?;
        const MAX_PDF: usize = 10 * 1024 * 1024;
        let pdf = match &s.pdf_file_id {
            Some(file) => {
                let bytes = self.his.report_file(file, MAX_PDF).await?;
                if !bytes.starts_with(b"%PDF-") {
                    return Err(DomainError::new(ErrorCode::HisRejected, "the HIS's discharge summary is not a PDF"));
                }
                bytes
            }
            None => {
                let doc = self.summary_doc(&d, &s).await?;
                tokio::task::spawn_blocking(move || render::render_report_pdf(&doc))
                    .await
                    .map_err(|e| DomainError::new(ErrorCode::Internal, format!("render task: {e}")))?
                    .map_err(|e| DomainError::new(ErrorCode::Internal, format!("render discharge summary: {e}")))?
            }
        };
        self.store.audit(&viewer.entry("discharge.summary_pdf", format!("discharge:{discharge_no}"), "出院小结"), self.now()).await?;
        Ok((format!("出院小结-{}.pdf", d.inpatient_no), pdf))
    }

    /// The 出院小结 on the hospital's form: the medicines to take home as its lines.
    async fn summary_doc(&self, d: &DischargeRow, s: &DischargeSummary) -> Result<render::ReportDoc, DomainError> {
        let person = self.his.patient(&d.his_patient_id).await?;
        let stay = self.his.inpatient_stay(&d.his_patient_id).await?;
        let (name, sex, age) = match &person {
            Some(p) => (
                p.name.clone(),
                if p.gender == domain::identity::Gender::Male { "男" } else { "女" }.to_owned(),
                format!("{}岁", domain::identity::age_on(p.birth_date, s.discharged_on)),
            ),
            None => Default::default(),
        };
        let days = (s.discharged_on - s.admitted_on).num_days().max(1);
        let follow_up = s.follow_up.as_ref().map(|(on, at)| format!("\n复诊：请于 {on} 到{at}复诊。")).unwrap_or_default();
        let hospital = self.report_settings().hospital_name.clone();
        Ok(render::ReportDoc {
            hospital: hospital.clone(),
            title: "出院小结".into(),
            report_no: d.inpatient_no.clone(),
            item_name: format!("{days}天"),
            patient_name: name,
            sex,
            age,
            patient_id: d.his_patient_id.clone(),
            dept: stay.as_ref().map(|x| x.ward.clone()).unwrap_or_default(),
            doctor: s.doctor.clone(),
            specimen: stay.as_ref().map(|x| x.bed.clone()).unwrap_or_default(),
            sampled_at: s.admitted_on.to_string(),
            received_at: s.discharged_on.to_string(),
            reported_at: d.settled_at.map(|t| domain::clock::to_local(t).format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default(),
            items: s
                .medicines
                .iter()
                .map(|m| render::ResultLine {
                    code: String::new(),
                    name: m.name.clone(),
                    value: m.qty.clone(),
                    unit: m.spec.clone(),
                    range: m.usage.clone(),
                    flag: String::new(),
                })
                .collect(),
            findings: format!("入院诊断：{}\n出院诊断：{}\n诊疗经过：{}\n出院情况：{}", s.admission_diagnosis, s.discharge_diagnosis, s.course, s.condition),
            conclusion_label: "出院医嘱".into(),
            conclusion: format!("{}{follow_up}", s.advice),
            tester: s.doctor.clone(),
            reviewer: String::new(),
            reviewed_at: s.discharged_on.to_string(),
            note: String::new(),
            footer: format!("{hospital} · 智慧服务平台 · 出院小结以医院病案为准"),
            verify_code: String::new(),
            verify_url: String::new(),
            labels: render::FormLabels {
                fields: ["姓名", "性别", "年龄", "住院号", "病人ID", "病区", "主治医生", "住院天数", "床号", "入院日期", "出院日期", "结算时间"],
                columns: ["序号", "出院带药", "数量", "", "规格", "用法用量"],
                findings: "住院经过",
                signatures: ["医师签名", "上级医师", "出院日期"],
            },
        })
    }

    /// Settles a discharge in the HIS and carries out what follows: the refunds (each a
    /// job), the cashier's tasks, the 出院结算成功 notice. `Ok(())` once it is decided;
    /// an unknown outcome is an error to retry (the HIS answers a repeat the same).
    pub(crate) async fn settle_discharge(&self, discharge_no: &str) -> Result<(), DomainError> {
        let d = self.store.discharge(discharge_no).await?;
        if d.state != DischargeState::Settling {
            return Ok(());
        }
        let parts = parts_of(&d);
        let req = DischargeSettleRequest {
            inpatient_no: d.inpatient_no.clone(),
            pre_settle_id: d.pre_settle_id.clone(),
            settle_no: d.discharge_no.clone(),
            paid: d.order_no.clone().map(|o| (o, Fen(-d.balance.0))),
            refunds: parts.clone(),
        };
        let now = self.now();
        let system = Actor::system("inpatient");
        match self.his.discharge_settle(&req).await {
            Ok(DischargeSettleOutcome::Settled { settle_id, invoice_no, settled_at, insurance }) => {
                // The version each online deposit's order is at before its refund: its job
                // requests the refund only while the order is still there (see `RefundPart`).
                let mut versions = Vec::new();
                for p in parts.iter().filter(|p| !p.at_window()) {
                    versions.push(self.store.order(p.order_no.as_deref().unwrap_or_default()).await?.1);
                }
                let mut detail = d.detail.clone();
                if insurance.is_some() {
                    detail["insurance"] = json!(insurance);
                }
                let txn = self.store.write_txn().await?;
                let change = DischargeChange {
                    state: Some(DischargeState::Settled),
                    settle_id: Some(&settle_id),
                    invoice_no: Some(&invoice_no),
                    settled_at: Some(settled_at),
                    detail: Some(&detail),
                };
                if !self.store.update_discharge(&txn, discharge_no, d.version, change, now).await? {
                    return Ok(()); // another worker got there first
                }
                let mut online = versions.into_iter();
                for (i, p) in parts.iter().enumerate() {
                    if p.at_window() {
                        let detail = format!(
                            "住院号 {}，押金单 {}（{}）应退 ¥{}：请在患者出院时于窗口退还。出院结算单 {discharge_no}",
                            d.inpatient_no,
                            p.deposit_no,
                            p.channel.label_zh(),
                            p.amount.to_yuan_string()
                        );
                        let key = format!("discharge.window_refund:{discharge_no}:{i}");
                        let task = NewTask {
                            kind: "discharge_window_refund",
                            message_id: None,
                            dept: CASHIER,
                            title: "出院押金窗口退款",
                            detail: &detail,
                            dedupe_key: &key,
                        };
                        self.store.open_task(&txn, task, now).await?;
                    } else {
                        let version = online.next().unwrap_or_default();
                        let payload = json!({"discharge_no": discharge_no, "order_no": p.order_no, "amount": p.amount.0, "version": version});
                        let job = NewJob::new(DISCHARGE_REFUND, payload, now).dedupe(format!("{DISCHARGE_REFUND}:{discharge_no}:{i}")).max_attempts(50);
                        self.store.enqueue(&txn, job, now).await?;
                    }
                }
                let window: i64 = parts.iter().filter(|p| p.at_window()).map(|p| p.amount.0).sum();
                let online: i64 = parts.iter().filter(|p| !p.at_window()).map(|p| p.amount.0).sum();
                let payload = json!({
                    "discharge_no": discharge_no, "inpatient_no": d.inpatient_no, "total": d.total.0, "self_pay": d.self_pay.0,
                    "fund": d.fund.0, "refund": d.balance.0.max(0), "refund_online": online, "refund_window": window,
                    "paid": (-d.balance.0).max(0), "invoice_no": invoice_no, "link": format!("/inpatient/discharge/{discharge_no}"),
                });
                self.store.record_event(&txn, DISCHARGE_SETTLED, &format!("{DISCHARGE_SETTLED}:{discharge_no}"), Some(d.patient_id), &payload, now).await?;
                // The stay's 住院 e-invoice (the deposits' final settlement).
                self.store.enqueue(&txn, crate::invoices::sync_job(&format!("discharge:{discharge_no}"), "settled", now), now).await?;
                self.store.append_audit(&txn, &system.entry("discharge.settled", format!("discharge:{discharge_no}"), &settle_id), now).await?;
                txn.commit().await.map_err(store::db_err)?;
                if let Some(order_no) = &d.order_no {
                    self.apply_if_current(order_no, OrderEvent::Fulfilled).await?;
                }
                Ok(())
            }
            Ok(DischargeSettleOutcome::SettledElsewhere { .. }) => {
                self.discharge_not_settled(&d, DischargeState::SettledElsewhere, "settled at the window meanwhile").await
            }
            Err(e) if e.code == ErrorCode::HisRejected => self.discharge_not_settled(&d, DischargeState::Failed, &e.detail).await,
            Err(e) => Err(e),
        }
    }

    /// The HIS did not settle ours: nothing of ours is refunded from the deposits; a paid
    /// balance goes back whole (P6); a refusal becomes the cashier's task.
    async fn discharge_not_settled(&self, d: &DischargeRow, state: DischargeState, why: &str) -> Result<(), DomainError> {
        let now = self.now();
        let txn = self.store.write_txn().await?;
        if !self.store.update_discharge(&txn, &d.discharge_no, d.version, DischargeChange { state: Some(state), ..Default::default() }, now).await? {
            return Ok(());
        }
        if state == DischargeState::Failed {
            let detail = format!("住院号 {} 的线上出院结算被医院系统拒绝（{why}），请联系患者到窗口办理。出院结算单 {}", d.inpatient_no, d.discharge_no);
            let key = format!("discharge.failed:{}", d.discharge_no);
            self.store
                .open_task(
                    &txn,
                    NewTask {
                        kind: "discharge_failed", message_id: None, dept: CASHIER, title: "线上出院结算未成功", detail: &detail, dedupe_key: &key
                    },
                    now,
                )
                .await?;
        }
        let system = Actor::system("inpatient");
        self.store.append_audit(&txn, &system.entry("discharge.not_settled", format!("discharge:{}", d.discharge_no), why), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        if let Some(order_no) = &d.order_no {
            self.fulfilment_failed(order_no, why).await?;
        }
        Ok(())
    }

    /// The nurse station: every patient the HIS lists, with the platform's latest discharge.
    pub async fn ward_board(&self, actor: &Actor) -> Result<Vec<WardRow>, DomainError> {
        let patients = self.his.ward_inpatients().await?;
        let nos: Vec<String> = patients.iter().map(|p| p.stay.inpatient_no.clone()).collect();
        let discharges = self.store.discharges_of_stays(&nos).await?;
        // The ward's patients by name with their money: a sensitive read, audited (S10).
        self.store.audit(&actor.entry("ward.console.view", "ward:all", &format!("{} 位患者", patients.len())), self.now()).await?;
        Ok(patients
            .into_iter()
            .map(|p| {
                let discharge = discharges.iter().find(|d| d.inpatient_no == p.stay.inpatient_no).cloned();
                WardRow { patient: p, discharge }
            })
            .collect())
    }

    /// 封账 by the nurse: the HIS closes the account, and every account that manages the
    /// patient is told 出院结算提醒 (once per stay).
    pub async fn close_stay_account(&self, his_patient_id: &str, actor: &Actor, operator: &str) -> Result<(), DomainError> {
        let stay = self.his.inpatient_stay(his_patient_id).await?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no stay"))?;
        if stay.settled_at.is_some() {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "already settled"));
        }
        self.his.close_account(&stay.inpatient_no, operator).await?;
        let now = self.now();
        let patients = self.store.patient_ids_by_his_id(his_patient_id).await?;
        let txn = self.store.write_txn().await?;
        // One event: the message platform tells every account managing the patient.
        if let Some(p) = patients.first() {
            let payload = json!({"inpatient_no": stay.inpatient_no, "ward": stay.ward, "link": "/inpatient/discharge?patient={patient}"});
            self.store.record_event(&txn, DISCHARGE_PROMPT, &format!("{DISCHARGE_PROMPT}:{}", stay.inpatient_no), Some(*p), &payload, now).await?;
        }
        self.store.append_audit(&txn, &actor.entry("inpatient.close_account", format!("stay:{}", stay.inpatient_no), &stay.ward), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(())
    }
}

/// Fulfils a paid discharge balance: the discharge moves on to the HIS settlement.
pub(crate) async fn fulfil_balance(app: &App, discharge_no: &str, order_no: &str) -> Result<(), JobError> {
    let d = app.store.discharge(discharge_no).await.map_err(retry)?;
    if d.order_no.as_deref() != Some(order_no) {
        // The order lost the race to another phone's attempt: it bought nothing (P6).
        return app.fulfilment_failed(order_no, "discharge order of an attempt that lost").await.map_err(retry);
    }
    if d.state == DischargeState::AwaitingPayment {
        let change = DischargeChange { state: Some(DischargeState::Settling), ..Default::default() };
        app.store.update_discharge(app.store.db(), discharge_no, d.version, change, app.now()).await.map_err(retry)?;
    }
    app.settle_discharge(discharge_no).await.map_err(retry)?;
    // A run after a crash finds the discharge already decided: the order follows it.
    match app.store.discharge(discharge_no).await.map_err(retry)?.state {
        DischargeState::Settled => app.apply_if_current(order_no, OrderEvent::Fulfilled).await.map_err(retry),
        DischargeState::SettledElsewhere | DischargeState::Failed => app.fulfilment_failed(order_no, "discharge not settled").await.map_err(retry),
        _ => Err(JobError::Retry("discharge not decided yet".into())),
    }
}

/// The job that settles a confirmed discharge in the HIS.
pub struct SettleDischarge;

#[async_trait]
impl JobHandler for SettleDischarge {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let no = payload.get("discharge_no").and_then(|v| v.as_str()).ok_or_else(|| JobError::Permanent("payload lacks discharge_no".into()))?;
        app.settle_discharge(no).await.map_err(retry)
    }
}

/// Requests the refund of one online deposit's part. Only while the order is still at the
/// version the settlement saw: a run after a crash that follows the request finds the
/// order moved on and requests nothing twice. The refund itself is the money spine's
/// (`refund.execute`: retried, then a person; the patient told when it lands).
pub struct RefundPart;

#[async_trait]
impl JobHandler for RefundPart {
    async fn run(&self, app: &App, payload: &serde_json::Value) -> Result<(), JobError> {
        let text = |k: &str| payload.get(k).and_then(|v| v.as_str()).map(str::to_owned).ok_or_else(|| JobError::Permanent(format!("payload lacks {k}")));
        let (discharge_no, order_no) = (text("discharge_no")?, text("order_no")?);
        let amount = Fen(payload.get("amount").and_then(|v| v.as_i64()).unwrap_or(0));
        let version = payload.get("version").and_then(|v| v.as_i64()).unwrap_or(-1);
        let (order, now_version) = app.store.order(&order_no).await.map_err(retry)?;
        if i64::from(now_version) != version {
            // Moved on: our request (a rerun after a crash) — unless the refunds on the order
            // do not cover this part, which a person must look at rather than the money
            // silently staying.
            if order.refunded.self_pay.0 + order.refund_in_flight.self_pay.0 >= amount.0 {
                return Ok(());
            }
            return Err(JobError::Permanent(format!("deposit order {order_no} moved before its discharge refund of {amount:?}: a person must look")));
        }
        let reason = format!("出院结算退还押金余额（{discharge_no}）");
        match app.request_refund(&order_no, PerChannel { insurance: Fen::ZERO, self_pay: amount }, &reason, &Actor::system("inpatient")).await {
            Ok(_) => Ok(()),
            Err(e) if e.code == ErrorCode::OrderStateConflict => Err(JobError::Retry("deposit order busy".into())),
            Err(e) => Err(JobError::Permanent(format!("refund of {order_no}: {e}"))),
        }
    }
}
