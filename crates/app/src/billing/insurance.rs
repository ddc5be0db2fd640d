//! Paying with insurance (医保移动支付, protocols.md §1.2): the patient authorises (own
//! insurance, or a guardian for a child's 少儿医保 via 亲情付), the fee lines go up (6201),
//! the centre pre-settles and says how the bill splits (6202), the patient confirms the
//! insurance part on the 医保 cashier, and 6301 — never the 6202 answer — says it was
//! paid. The rest is self-pay through the bank. If the self-pay part fails after the
//! insurance part was paid, the insurance settlement is reversed (6203) (P9).
use super::{BANK, CENTRE};
use crate::{Actor, App};
use domain::billing::{Channel, Order, OrderEvent, OrderState, Split};
use domain::insurance::{Eligibility, InsuranceBasis, InsuranceKind};
use domain::ports::{AuthFor, FeeUpload, InsuranceAuthPort, InsuranceCentrePort, OrdStasClass, classify_ord_stas as classify};
use domain::{DomainError, ErrorCode};
use serde_json::json;
use std::sync::Arc;

pub struct InsuranceChannel {
    pub centre: Arc<dyn InsuranceCentrePort>,
    pub auth: Arc<dyn InsuranceAuthPort>,
    /// The 医保 cashier: `{pay_ord_id}` and `{redirect}` are filled in. In WeChat this is
    /// the `requestMedicalInsurancePay` JSAPI; an H5 page address is assumed here [I].
    pub cashier_url: String,
    pub use_personal_account: bool,
}

/// What a patient may pay an order with, and why.
pub struct PaymentOptions {
    pub methods: Vec<PayMethod>,
    /// What INS-2 decided (none when insurance cannot pay this order at all).
    pub eligibility: Option<Eligibility>,
    /// A child's 少儿医保 would pay, but no guardian has bound it yet (INS-3).
    pub child_binding_required: bool,
}

/// How the patient chose to pay.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PayMethod {
    /// 医保: the patient's own insurance.
    Insurance,
    /// 少儿医保: a child's insurance, authorised by the guardian (亲情付).
    ChildInsurance,
    /// 家庭共济: the patient's own insurance does not cover this visit (no referral), a
    /// relative's personal account pays the in-catalogue part.
    MutualAid,
    /// 自费.
    SelfPay,
}

impl PayMethod {
    pub const ALL: [PayMethod; 4] = [Self::Insurance, Self::ChildInsurance, Self::MutualAid, Self::SelfPay];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Insurance => "insurance",
            Self::ChildInsurance => "child_insurance",
            Self::MutualAid => "mutual_aid",
            Self::SelfPay => "self_pay",
        }
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Insurance => "医保支付",
            Self::ChildInsurance => "少儿医保支付",
            Self::MutualAid => "家庭共济支付",
            Self::SelfPay => "自费支付",
        }
    }
}

/// The methods a patient may use for this order, given what the INS-2 rule decided for
/// them here: their own insurance (少儿医保 for a child, once a guardian has bound it —
/// INS-3), the family channel, or neither. Self-pay is always offered.
pub fn methods_for(order: &Order, kind: InsuranceKind, eligibility: &Eligibility, child_bound: bool, insurance_offered: bool) -> Vec<PayMethod> {
    let mut m = Vec::new();
    if insurance_offered && order.insurance_may_pay() {
        match (eligibility, kind) {
            (Eligibility::Insurance(_), InsuranceKind::Children) if child_bound => m.push(PayMethod::ChildInsurance),
            (Eligibility::Insurance(_), InsuranceKind::Children) => {}
            (Eligibility::Insurance(_), InsuranceKind::SelfPay) | (Eligibility::Refused { .. }, _) => {}
            (Eligibility::Insurance(_), _) => m.push(PayMethod::Insurance),
            (Eligibility::MutualAid { .. }, _) => m.push(PayMethod::MutualAid),
        }
    }
    m.push(PayMethod::SelfPay);
    m
}

/// The centre's references for an order, kept in the attempt row.
fn upload_of(detail: &serde_json::Value) -> Option<FeeUpload> {
    let s = |k: &str| detail.get(k).and_then(|v| v.as_str()).filter(|s| !s.is_empty()).map(str::to_owned);
    Some(FeeUpload { pay_ord_id: s("pay_ord_id")?, pay_token: s("pay_token")? })
}

fn not_offered() -> DomainError {
    DomainError::new(ErrorCode::InsuranceNotAllowed, "insurance payment not configured")
}

impl App {
    fn insurance(&self) -> Result<&InsuranceChannel, DomainError> {
        self.insurance.as_deref().ok_or_else(not_offered)
    }

    /// The methods the order's patient may use now: their insurance standing is asked of
    /// the HIS each time (a referral may have lapsed since the order was made) and judged
    /// by INS-2 for the order's department. An order without a patient (made by staff or
    /// a test) is judged by `insurance_kind` alone, as tier 1 would be.
    pub async fn order_methods(&self, row: &domain::billing::OrderRow, insurance_kind: &str) -> Result<Vec<PayMethod>, DomainError> {
        Ok(self.payment_options(row, insurance_kind).await?.methods)
    }

    /// [`App::order_methods`] with what they were judged on, for pages that explain a
    /// refusal.
    pub async fn payment_options(&self, row: &domain::billing::OrderRow, insurance_kind: &str) -> Result<PaymentOptions, DomainError> {
        let offered = self.insurance.is_some();
        if !offered || !row.order.insurance_may_pay() {
            return Ok(PaymentOptions { methods: vec![PayMethod::SelfPay], eligibility: None, child_binding_required: false });
        }
        let (kind, eligibility, child_bound) = match row.patient_id {
            Some(pid) => {
                let his_id = self.store.patient_by_id(pid).await?.ok_or(ErrorCode::PatientNotFound)?.his_patient_id;
                let (cov, e) = self.eligibility(&his_id, row.dept_id.as_deref()).await?;
                let bound = cov.kind == InsuranceKind::Children && self.store.child_bound(pid).await? && self.child_consent_in_force(pid).await?;
                (cov.kind, e, bound)
            }
            None => {
                let kind = InsuranceKind::parse(insurance_kind).unwrap_or(InsuranceKind::SelfPay);
                (kind, Eligibility::Insurance(InsuranceBasis::Tier1), true)
            }
        };
        let methods = methods_for(&row.order, kind, &eligibility, child_bound, offered);
        let child_binding_required = kind == InsuranceKind::Children && eligibility.insurance_may_pay() && !child_bound;
        Ok(PaymentOptions { methods, eligibility: Some(eligibility), child_binding_required })
    }

    /// The insurance split may still change: nothing captured and no bank payment opened
    /// (the bank will not take a second amount under the same order number).
    async fn check_resplittable(&self, order_no: &str, order: &Order) -> Result<(), DomainError> {
        if !matches!(order.state, OrderState::Created | OrderState::Paying) || order.captured.total().0 != 0 {
            return Err(DomainError::new(ErrorCode::PaymentMethodLocked, "payment under way"));
        }
        if self.store.attempt(order_no, BANK).await?.is_some() {
            return Err(DomainError::new(ErrorCode::PaymentMethodLocked, "bank payment already opened"));
        }
        Ok(())
    }

    /// Step 1: where to send the patient to authorise. `insurance_kind` is the patient's
    /// (from their card); the method must fit it.
    pub async fn insurance_authorize_url(&self, order_no: &str, insurance_kind: &str, method: PayMethod, redirect_uri: &str) -> Result<String, DomainError> {
        let ins = self.insurance()?;
        let row = self.store.order_row(order_no).await?;
        let order = row.order.clone();
        if method == PayMethod::SelfPay || !self.order_methods(&row, insurance_kind).await?.contains(&method) {
            return Err(DomainError::new(ErrorCode::InsuranceNotAllowed, "method not allowed for this patient or order"));
        }
        self.check_resplittable(order_no, &order).await?;
        let state = hex::encode(crypto::random_bytes::<16>());
        let detail = match self.store.attempt(order_no, CENTRE).await? {
            Some((_, mut d)) => {
                d["auth_state"] = json!(state);
                d["method"] = json!(method);
                d
            }
            None => json!({"auth_state": state, "method": method}),
        };
        self.store.put_attempt(order_no, CENTRE, "", &detail, self.now()).await?;
        let who = if method == PayMethod::ChildInsurance { AuthFor::Relative } else { AuthFor::Own };
        Ok(ins.auth.authorize_url(redirect_uri, &state, who))
    }

    /// Step 2: the patient came back with an `authCode`. Trades it for the authorisation,
    /// uploads the fee lines (6201) and pre-settles (6202); the order takes the centre's
    /// split. Nothing is paid yet.
    /// Back from the 医保 authorisation page in the patient's browser: the order must be the
    /// account's; then [`App::insurance_presettle`] with the account's WeChat identity.
    pub async fn insurance_auth_returned(&self, account_id: i64, order_no: &str, auth_code: &str, state: &str, actor: &Actor) -> Result<Split, DomainError> {
        self.patient_order(account_id, order_no).await?;
        let openid = self.store.wechat_openid(account_id).await?;
        self.insurance_presettle(order_no, auth_code, state, &openid, actor).await
    }

    pub async fn insurance_presettle(&self, order_no: &str, auth_code: &str, state: &str, openid: &str, actor: &Actor) -> Result<Split, DomainError> {
        let ins = self.insurance()?;
        let row = self.store.order_row(order_no).await?;
        let order = row.order.clone();
        let (_, detail) =
            self.store.attempt(order_no, CENTRE).await?.ok_or_else(|| DomainError::new(ErrorCode::InsuranceAuthFailed, "no authorisation started"))?;
        let expected = detail.get("auth_state").and_then(|v| v.as_str()).unwrap_or_default();
        if expected.is_empty() || !crypto::constant_time_eq(expected.as_bytes(), state.as_bytes()) {
            return Err(DomainError::new(ErrorCode::InsuranceAuthFailed, "authorisation state mismatch"));
        }
        let method: PayMethod = serde_json::from_value(detail["method"].clone()).map_err(|_| DomainError::new(ErrorCode::InsuranceAuthFailed, "no method"))?;
        self.check_resplittable(order_no, &order).await?;
        // INS-2 again at pre-settlement: the standing may have changed since the method was
        // chosen (a referral lapsed at midnight).
        if row.patient_id.is_some() && !self.order_methods(&row, "").await?.contains(&method) {
            return Err(DomainError::new(ErrorCode::InsuranceNotAllowed, "INS-2 no longer allows this method"));
        }
        let auth = ins.auth.user_query(auth_code, openid).await?;
        if auth.for_relative != (method == PayMethod::ChildInsurance) {
            return Err(DomainError::new(ErrorCode::InsuranceAuthFailed, "authorisation is for the wrong person"));
        }
        // A previous pre-settlement (the patient authorised twice) is revoked first.
        self.drop_insurance_presettlement(order_no).await?;
        let lines: Vec<(String, String, domain::Fen)> = order.lines.iter().map(|l| (l.code.clone(), l.name.clone(), l.amount)).collect();
        let pooled = method != PayMethod::MutualAid;
        let up = ins.centre.upload_fees(order_no, &auth.pay_auth_no, &lines, order.insurable(), pooled).await?;
        let detail = json!({"method": method, "pay_ord_id": up.pay_ord_id, "pay_token": up.pay_token, "for_relative": auth.for_relative});
        self.store.put_attempt(order_no, CENTRE, &up.pay_ord_id, &detail, self.now()).await?;
        // The family channel is the relative's personal account, so it is always used there.
        let use_account = method == PayMethod::MutualAid || (ins.use_personal_account && !auth.for_relative);
        let s = ins.centre.pay_order(&up, &auth.pay_auth_no, use_account).await?;
        let split = Split { fund: s.fund_pay, personal_account: s.psn_acct_pay, mutual_aid: s.acct_mulaid_pay, self_pay: s.own_pay_amt };
        if s.fee_sumamt != order.total() || split.total() != order.total() || classify(&s.ord_stas) != Some(OrdStasClass::Processing) {
            let _ = ins.centre.revoke(&up).await;
            return Err(DomainError::new(ErrorCode::InsuranceRejected, format!("6202 answer does not fit the order (ordStas {})", s.ord_stas)));
        }
        self.apply(order_no, OrderEvent::Priced { split }).await?;
        let why = format!(
            "{} 统筹{} 个账{} 共济{} 自付{}",
            method.label_zh(),
            split.fund.to_yuan_string(),
            split.personal_account.to_yuan_string(),
            split.mutual_aid.to_yuan_string(),
            split.self_pay.to_yuan_string()
        );
        self.store.audit(&actor.entry("order.insurance_presettle", format!("order:{order_no}"), &why), self.now()).await?;
        Ok(split)
    }

    /// Step 3: the patient confirms. Returns the 医保 cashier address.
    pub async fn insurance_cashier_url(&self, order_no: &str, redirect: &str) -> Result<String, DomainError> {
        let ins = self.insurance()?;
        let (order, _) = self.store.order(order_no).await?;
        let up = match self.store.attempt(order_no, CENTRE).await? {
            Some((_, d)) => upload_of(&d),
            None => None,
        }
        .ok_or_else(|| DomainError::new(ErrorCode::InsuranceAuthFailed, "not pre-settled"))?;
        if !matches!(order.state, OrderState::Created | OrderState::Paying) || order.captured.insurance.0 != 0 || order.due(Channel::Insurance).0 == 0 {
            return Err(DomainError::new(ErrorCode::OrderStateConflict, "insurance part not payable"));
        }
        self.apply_if_current(order_no, OrderEvent::PaymentStarted).await?;
        Ok(ins.cashier_url.replace("{pay_ord_id}", &domain::format::url_encode(&up.pay_ord_id)).replace("{redirect}", &domain::format::url_encode(redirect)))
    }

    /// Asks the centre (6301) about a pre-settled insurance part not yet captured, and
    /// applies the answer. Amounts that differ from the split are refused (P2).
    pub(crate) async fn resolve_insurance(&self, order_no: &str, order: &Order, value_at: Option<chrono::DateTime<chrono::Utc>>) -> Result<(), DomainError> {
        let due = order.due(Channel::Insurance);
        if due.0 == 0 || order.captured.insurance == due {
            return Ok(());
        }
        let Some(up) = self.store.attempt(order_no, CENTRE).await?.and_then(|(_, d)| upload_of(&d)) else { return Ok(()) };
        let s = self.insurance()?.centre.query(&up).await?;
        let ev = match (s.ord_stas.as_str(), classify(&s.ord_stas)) {
            // 4 医保支付完成 (cash pending), 5/6 settled: the insurance part is paid.
            ("4" | "5" | "6", _) => {
                let paid = domain::Fen(s.fund_pay.0 + s.psn_acct_pay.0 + s.acct_mulaid_pay.0);
                if paid != due {
                    return Err(DomainError::new(ErrorCode::AmountMismatch, "centre's insurance amount differs from the split"));
                }
                OrderEvent::Captured { channel: Channel::Insurance, amount: due }
            }
            (_, Some(OrdStasClass::Cancelled | OrdStasClass::Failed)) => OrderEvent::PaymentFailed { channel: Channel::Insurance },
            _ => return Ok(()),
        };
        self.apply_if_current_valued(order_no, ev, value_at).await
    }

    /// Revokes (6401) an insurance pre-settlement that was never paid, so the centre
    /// cannot settle it later. Already revoked or cancelled is fine; paid is not.
    pub(crate) async fn drop_insurance_presettlement(&self, order_no: &str) -> Result<(), DomainError> {
        let Some((_, detail)) = self.store.attempt(order_no, CENTRE).await? else { return Ok(()) };
        let Some(up) = upload_of(&detail) else { return Ok(()) };
        let centre = &self.insurance()?.centre;
        let s = centre.query(&up).await?;
        match classify(&s.ord_stas) {
            Some(OrdStasClass::Processing) => centre.revoke(&up).await?,
            Some(OrdStasClass::Cancelled | OrdStasClass::Failed) => {}
            _ => return Err(DomainError::new(ErrorCode::PaymentMethodLocked, format!("centre says ordStas {}", s.ord_stas))),
        }
        let mut d = detail;
        d["pay_ord_id"] = json!("");
        d["revoked"] = json!(up.pay_ord_id);
        self.store.put_attempt(order_no, CENTRE, "", &d, self.now()).await
    }

    /// Returns the insurance part to the centre (6203, `HI`) under a stable serial number.
    /// `Ok(true)` = refunded; `Ok(false)` = the centre refused for good.
    pub(crate) async fn refund_insurance(&self, order_no: &str, sn: &str) -> Result<bool, DomainError> {
        let (order, _) = self.store.order(order_no).await?;
        let up = self
            .store
            .attempt(order_no, CENTRE)
            .await?
            .and_then(|(_, d)| upload_of(&d))
            .ok_or_else(|| DomainError::new(ErrorCode::Internal, "insurance refund without a centre order"))?;
        // The mutual-aid part is paid from a relative's personal account, so it returns
        // with the personal-account part [I].
        let psn = domain::Fen(order.split.personal_account.0 + order.split.mutual_aid.0);
        match self.insurance()?.centre.refund(&up, sn, "HI", order.split.fund, psn, domain::Fen::ZERO).await?.as_str() {
            "SUCC" => Ok(true),
            "FAIL" => Ok(false),
            _ => Err(DomainError::new(ErrorCode::UpstreamUnavailable, "6203 outcome pending (EXP)")),
        }
    }
}

impl App {
    /// The guardian's consent for this child's 少儿医保 is in force (S13): withdrawn, the
    /// binding ends with it, and this is asked again wherever the binding is used.
    async fn child_consent_in_force(&self, patient_id: i64) -> Result<bool, DomainError> {
        let Some(account) = self.store.patient_account(patient_id).await? else { return Ok(false) };
        self.consent_in_force(account, Some(patient_id), domain::consent::Purpose::ChildInsurance).await
    }
}
