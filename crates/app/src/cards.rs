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
    /// The virtual card (虚拟诊疗卡, OTH-3): the card number as a Code 128 barcode and a QR
    /// code the hospital's scanners read, each a `data:` image URI.
    pub codes: Option<(String, String)>,
    /// The card's transactions, newest first; empty when the HIS could not say.
    pub trades: Vec<domain::ports::CardTrade>,
}

/// An SVG as a `data:` URI an `<img>` may show under the site's CSP (`img-src data:`).
pub(crate) fn svg_uri(svg: &str) -> String {
    let mut out = String::from("data:image/svg+xml;utf8,");
    for c in svg.chars() {
        match c {
            '%' => out.push_str("%25"),
            '#' => out.push_str("%23"),
            '<' => out.push_str("%3C"),
            '>' => out.push_str("%3E"),
            '"' => out.push_str("%22"),
            '\n' => {}
            c => out.push(c),
        }
    }
    out
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
        let codes = card.as_ref().and_then(|c| Some((svg_uri(&render::barcode_svg(&c.card_no)?), svg_uri(&render::qr_svg(&c.card_no)))));
        let trades = match (&card, &current) {
            (Some(_), Some(p)) => self.his.card_trades(&p.his_patient_id).await.unwrap_or_else(|e| {
                tracing::info!(code = e.code.code(), "card trades unavailable");
                vec![]
            }),
            _ => vec![],
        };
        Ok(CardOverview { patients, current, card, codes, trades })
    }

    /// Binds the plastic card one of the account's 就诊人 already holds (the HIS checks it is
    /// theirs); audited with the card number masked.
    pub async fn bind_physical_card(&self, account_id: i64, patient_id: i64, card_no: &str, actor: &Actor) -> Result<CardAccount, DomainError> {
        let card_no = card_no.trim();
        if card_no.is_empty() || card_no.len() > 32 || !card_no.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "card number"));
        }
        let p = self.store.patient_summary(account_id, patient_id).await?;
        let card = self.his.bind_card(&p.his_patient_id, card_no).await?;
        let tail: String = card_no.chars().rev().take(4).collect::<Vec<_>>().into_iter().rev().collect();
        self.store.audit(&actor.entry("card.bind", format!("patient:{patient_id}"), &format!("实体卡 ****{tail}")), self.now()).await?;
        Ok(card)
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
