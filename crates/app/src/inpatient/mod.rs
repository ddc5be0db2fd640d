//! Inpatient services (BED, OTH-3): the patient's stay as the HIS holds it — ward, bed,
//! deposit and charges — topping up the deposit on the phone, and the discharge
//! settled from the bed (`discharge`).
pub mod admission_booking;
pub mod deposits;
pub mod discharge;

use crate::billing::topup::{DEPOSIT_MAX, line, whole_yuan};
use crate::{Actor, App};
use domain::billing::Purpose;
use domain::identity::PatientSummary;
use domain::ports::InpatientStay;
use domain::{DomainError, ErrorCode, Fen};

/// The inpatient page: the account's 就诊人, the one shown, and their stay if they are in
/// hospital.
pub struct InpatientOverview {
    pub patients: Vec<PatientSummary>,
    pub current: Option<PatientSummary>,
    pub stay: Option<InpatientStay>,
    /// The charges of the last (up to) three full days of the stay, oldest first; empty
    /// when the HIS could not say (the page then makes no estimate).
    pub recent_days: Vec<(chrono::NaiveDate, Fen)>,
    /// Whether the balance is low by the hospital's rule (the recent days' average when
    /// known), and the level it fell under.
    pub low: Option<domain::inpatient::LowDeposit>,
    /// The stay's deposits (when, how much, channel, who), newest first; empty when the
    /// HIS could not say.
    pub deposits: Vec<domain::inpatient::DepositPayment>,
}

/// How many full days the balance estimate averages (BED-2).
const ESTIMATE_DAYS: i64 = 3;

impl App {
    /// The stay of `wanted` (one of the account's 就诊人). Without one, the page opens on
    /// the 就诊人 who is in hospital (asked of the HIS in the account's order), else the first.
    pub async fn inpatient_overview(&self, account_id: i64, wanted: Option<i64>) -> Result<InpatientOverview, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        if let Some(p) = wanted.and_then(|id| patients.iter().find(|p| p.id == id)).cloned() {
            let stay = self.his.inpatient_stay(&p.his_patient_id).await?;
            let recent_days = self.recent_days(stay.as_ref()).await;
            let low = self.low_of(stay.as_ref(), &recent_days);
            let deposits = self.deposits_of(stay.as_ref()).await;
            return Ok(InpatientOverview { patients, current: Some(p), stay, recent_days, low, deposits });
        }
        for p in &patients {
            if let Some(stay) = self.his.inpatient_stay(&p.his_patient_id).await? {
                let current = Some(p.clone());
                let recent_days = self.recent_days(Some(&stay)).await;
                let low = self.low_of(Some(&stay), &recent_days);
                let deposits = self.deposits_of(Some(&stay)).await;
                return Ok(InpatientOverview { patients, current, stay: Some(stay), recent_days, low, deposits });
            }
        }
        let current = patients.first().cloned();
        Ok(InpatientOverview { patients, current, stay: None, recent_days: vec![], low: None, deposits: vec![] })
    }

    async fn deposits_of(&self, stay: Option<&InpatientStay>) -> Vec<domain::inpatient::DepositPayment> {
        let Some(s) = stay else { return vec![] };
        match self.his.stay_deposits(&s.inpatient_no).await {
            Ok(mut d) => {
                d.sort_by_key(|x| std::cmp::Reverse(x.paid_at));
                d
            }
            Err(e) => {
                tracing::info!(code = e.code.code(), "stay deposits unavailable");
                vec![]
            }
        }
    }

    fn low_of(&self, stay: Option<&InpatientStay>, recent: &[(chrono::NaiveDate, Fen)]) -> Option<domain::inpatient::LowDeposit> {
        let s = stay?;
        let amounts: Vec<Fen> = recent.iter().map(|d| d.1).collect();
        let daily = domain::inpatient::days_covered(Fen::ZERO, &amounts).map(|(avg, _)| avg);
        domain::inpatient::low_deposit(Fen(s.deposit_balance.0 - s.charges_to_date.0), daily, self.policies.deposit_floor, self.policies.deposit_days)
    }

    /// The stay's charges on each of the last full days (not before admission), from the
    /// HIS's daily lists. Any failure leaves the estimate out rather than averaging fewer
    /// days than it says.
    async fn recent_days(&self, stay: Option<&InpatientStay>) -> Vec<(chrono::NaiveDate, Fen)> {
        let Some(stay) = stay else { return vec![] };
        let admitted = domain::clock::to_local(stay.admitted_at).date_naive();
        let today = self.today();
        let mut days = Vec::new();
        for back in (1..=ESTIMATE_DAYS).rev() {
            let day = today - chrono::Duration::days(back);
            if day < admitted {
                continue;
            }
            match self.his.daily_fees(&stay.inpatient_no, day).await {
                Ok(list) => days.push((day, list.total)),
                Err(e) => {
                    tracing::info!(code = e.code.code(), "daily fee list unavailable: no balance estimate");
                    return vec![];
                }
            }
        }
        days
    }

    /// Opens an order to top up one of the account's patients' inpatient deposit.
    pub async fn order_for_deposit(&self, account_id: i64, patient_id: i64, amount: Fen, actor: &Actor) -> Result<String, DomainError> {
        whole_yuan(amount, DEPOSIT_MAX)?;
        let p = self.store.patient_summary(account_id, patient_id).await?;
        let stay = self.his.inpatient_stay(&p.his_patient_id).await?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no stay"))?;
        if stay.account_closed {
            return Err(DomainError::new(ErrorCode::HisRejected, "account closed: discharge settlement instead"));
        }
        let subject = format!("deposit:{}:{}", p.his_patient_id, stay.inpatient_no);
        self.create_order(Some(patient_id), Purpose::DepositTopUp, vec![line("YJJ", "住院预交金", amount)], Some(&subject), actor).await
    }
}

/// One day of a stay's fee list (日清单, OTH-4) for one of the account's 就诊人.
pub struct FeeDay {
    pub patient: PatientSummary,
    pub stay: InpatientStay,
    pub list: domain::ports::DailyFeeList,
    /// The stay's charges so far by class (class, amount, self-pay); empty when the HIS
    /// could not say (the day's list is still shown).
    pub stay_classes: Vec<(domain::inpatient::InsuranceClass, Fen, Fen)>,
    /// The stay's first day and today: the days the list can show.
    pub first_day: chrono::NaiveDate,
    pub last_day: chrono::NaiveDate,
}

impl App {
    /// The fee list of `date` (today when none, kept within the stay) of the account's
    /// 就诊人 `patient_id`; another account's patient is not found; `None` when the patient
    /// is not in hospital.
    pub async fn inpatient_fee_day(&self, account_id: i64, patient_id: i64, date: Option<chrono::NaiveDate>) -> Result<Option<FeeDay>, DomainError> {
        let patient = self.store.patient_summary(account_id, patient_id).await?;
        let Some(stay) = self.his.inpatient_stay(&patient.his_patient_id).await? else { return Ok(None) };
        let first_day = domain::clock::to_local(stay.admitted_at).date_naive();
        let last_day = self.today().max(first_day);
        let day = date.unwrap_or(last_day).clamp(first_day, last_day);
        let list = self.his.daily_fees(&stay.inpatient_no, day).await?;
        if !list.adds_up() {
            self.flag_fee_list(&stay, &list).await?;
        }
        let stay_classes = self.his.stay_class_totals(&stay.inpatient_no).await.unwrap_or_else(|e| {
            tracing::info!(code = e.code.code(), "stay totals by class unavailable");
            vec![]
        });
        Ok(Some(FeeDay { patient, stay, list, stay_classes, first_day, last_day }))
    }
}

impl App {
    /// A day list whose lines do not add up to the HIS's total: shown as the HIS says it,
    /// and the inpatient cashier asked (once per stay and day) to check it in the HIS.
    async fn flag_fee_list(&self, stay: &InpatientStay, list: &domain::ports::DailyFeeList) -> Result<(), DomainError> {
        let detail = format!(
            "住院号 {}（{} {}）{} 的日清单：明细合计 ¥{}，医院系统合计 ¥{}，请在HIS中核对。",
            stay.inpatient_no,
            stay.ward,
            stay.bed,
            list.date,
            list.lines_total().to_yuan_string(),
            list.total.to_yuan_string()
        );
        let key = format!("fee_list_mismatch:{}:{}", stay.inpatient_no, list.date);
        let task = store::messages::NewTask {
            kind: "fee_list_mismatch",
            message_id: None,
            dept: "住院收费处",
            title: "日清单合计不一致",
            detail: &detail,
            dedupe_key: &key,
        };
        if self.store.open_task(self.store.db(), task, self.now()).await? {
            tracing::warn!(inpatient_no = %stay.inpatient_no, date = %list.date, "HIS day list does not add up; flagged for staff");
        }
        Ok(())
    }
}
