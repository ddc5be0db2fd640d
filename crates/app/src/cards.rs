//! The visiting card (就诊卡, OTH-2/OTH-3): its stored value as the HIS holds it, and
//! recharging it on the phone.
use crate::billing::topup::{CARD_MAX, line, whole_yuan};
use crate::{Actor, App};
use domain::billing::Purpose;
use domain::identity::PatientSummary;
use domain::ports::CardAccount;
use domain::{DomainError, ErrorCode, Fen};

/// The card page: the account's 就诊人, the one shown, and their card if they have one.
pub struct CardOverview {
    pub patients: Vec<PatientSummary>,
    pub current: Option<PatientSummary>,
    pub card: Option<CardAccount>,
}

impl App {
    /// The card of `wanted` (one of the account's 就诊人; the first when not given or not
    /// the account's).
    pub async fn card_overview(&self, account_id: i64, wanted: Option<i64>) -> Result<CardOverview, DomainError> {
        let patients = self.store.list_patients(account_id).await?;
        let current = wanted.and_then(|id| patients.iter().find(|p| p.id == id)).or(patients.first()).cloned();
        let card = match &current {
            Some(p) => self.his.card_account(&p.his_patient_id).await?,
            None => None,
        };
        Ok(CardOverview { patients, current, card })
    }

    /// Opens an order to recharge one of the account's patients' visiting card.
    pub async fn order_for_card(&self, account_id: i64, patient_id: i64, amount: Fen, actor: &Actor) -> Result<String, DomainError> {
        whole_yuan(amount, CARD_MAX)?;
        let p = self.store.patient_summary(account_id, patient_id).await?;
        self.his.card_account(&p.his_patient_id).await?.ok_or_else(|| DomainError::new(ErrorCode::NotFound, "no card"))?;
        let subject = format!("card:{}", p.his_patient_id);
        self.create_order(Some(patient_id), Purpose::CardRecharge, vec![line("JZKCZ", "就诊卡充值", amount)], Some(&subject), actor).await
    }
}
