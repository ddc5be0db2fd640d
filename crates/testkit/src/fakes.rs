//! In-memory stand-ins for the payment ports (`BankPort`, `InsuranceCentrePort`,
//! `InsuranceAuthPort`), for testing the money use cases without a simulator: each keeps
//! what a real channel keeps (orders, refunds by number, settlements), answers as the
//! port promises, and counts the calls so a test can see what the app asked. They are not
//! the contract: the adapters are tested against the protocol simulators elsewhere.
use async_trait::async_trait;
use domain::ports::{
    AuthFor, BankNotification, BankOrder, BankPort, BankStatementLine, BankStatus, CentreLine, FeeLine, FeeUpload, InsuranceAuthPort, InsuranceCentrePort,
    InsuranceSettlement, PayAuth,
};
use domain::{DomainError, ErrorCode, Fen};
use std::collections::HashMap;
use std::sync::Mutex;

/// A bank whose notifications are "signed" with a key only it and the test know.
#[derive(Default)]
pub struct FakeBank {
    state: Mutex<BankState>,
}

#[derive(Default)]
struct BankState {
    orders: HashMap<String, BankOrder>,
    /// (order, refund number) → amount refunded.
    refunds: HashMap<(String, String), Fen>,
    refund_calls: usize,
    create_calls: usize,
}

const BANK_KEY: &str = "fake-bank-key";

fn bank_sign(order: &str, amount: Fen, paid: bool) -> String {
    hex::encode(crypto::mac::hmac_sha256(BANK_KEY.as_bytes(), format!("{order}|{}|{paid}", amount.0).as_bytes()))
}

impl FakeBank {
    /// The payer pays at the cashier; returns the notification the bank would send.
    pub fn pay(&self, order_id: &str) -> Vec<(String, String)> {
        let mut s = self.state.lock().unwrap();
        let o = s.orders.get_mut(order_id).expect("a payment the bank opened");
        o.status = BankStatus::Paid;
        notification(order_id, o.amount, true)
    }

    /// The payer gives up at the cashier.
    pub fn cancel(&self, order_id: &str) -> Vec<(String, String)> {
        let mut s = self.state.lock().unwrap();
        let o = s.orders.get_mut(order_id).expect("a payment the bank opened");
        o.status = BankStatus::Failed;
        notification(order_id, o.amount, false)
    }

    pub fn refunded(&self, order_id: &str) -> Fen {
        self.state.lock().unwrap().orders.get(order_id).map_or(Fen::ZERO, |o| o.refunded)
    }

    pub fn refund_calls(&self) -> usize {
        self.state.lock().unwrap().refund_calls
    }

    pub fn create_calls(&self) -> usize {
        self.state.lock().unwrap().create_calls
    }
}

/// A notification as the fake bank signs it.
pub fn notification(order_id: &str, amount: Fen, paid: bool) -> Vec<(String, String)> {
    vec![
        ("ORDER".into(), order_id.into()),
        ("AMOUNT".into(), amount.0.to_string()),
        ("PAID".into(), paid.to_string()),
        ("SIGN".into(), bank_sign(order_id, amount, paid)),
    ]
}

#[async_trait]
impl BankPort for FakeBank {
    async fn create_payment(&self, order_id: &str, amount: Fen) -> Result<String, DomainError> {
        let mut s = self.state.lock().unwrap();
        s.create_calls += 1;
        match s.orders.get(order_id) {
            Some(o) if o.amount != amount => return Err(DomainError::new(ErrorCode::UpstreamUnavailable, "another amount under this order")),
            Some(_) => {}
            None => {
                s.orders.insert(order_id.into(), BankOrder { status: BankStatus::Pending, amount, refunded: Fen::ZERO });
            }
        }
        Ok(format!("https://bank.example/cashier/{order_id}"))
    }

    async fn query(&self, order_id: &str) -> Result<Option<BankOrder>, DomainError> {
        Ok(self.state.lock().unwrap().orders.get(order_id).cloned())
    }

    async fn refund(&self, order_id: &str, refund_no: &str, amount: Fen) -> Result<(), DomainError> {
        let mut s = self.state.lock().unwrap();
        s.refund_calls += 1;
        if s.refunds.contains_key(&(order_id.to_owned(), refund_no.to_owned())) {
            return Ok(());
        }
        let o = s.orders.get_mut(order_id).ok_or_else(|| DomainError::new(ErrorCode::UpstreamUnavailable, "no such payment"))?;
        if !matches!(o.status, BankStatus::Paid | BankStatus::Refunded) || o.refunded.0 + amount.0 > o.amount.0 {
            return Err(DomainError::new(ErrorCode::RefundExceedsCaptured, "above what is left"));
        }
        o.refunded = Fen(o.refunded.0 + amount.0);
        o.status = BankStatus::Refunded;
        s.refunds.insert((order_id.to_owned(), refund_no.to_owned()), amount);
        Ok(())
    }

    async fn refund_query(&self, order_id: &str, refund_no: &str) -> Result<Option<Fen>, DomainError> {
        Ok(self.state.lock().unwrap().refunds.get(&(order_id.to_owned(), refund_no.to_owned())).copied())
    }

    async fn statement(&self, _day: chrono::NaiveDate) -> Result<Vec<BankStatementLine>, DomainError> {
        let s = self.state.lock().unwrap();
        let mut lines: Vec<BankStatementLine> = s
            .orders
            .iter()
            .filter(|(_, o)| matches!(o.status, BankStatus::Paid | BankStatus::Refunded))
            .map(|(id, o)| BankStatementLine { order_id: id.clone(), refund: false, amount: o.amount, serial: String::new() })
            .collect();
        lines.extend(s.refunds.iter().map(|((id, no), a)| BankStatementLine { order_id: id.clone(), refund: true, amount: *a, serial: no.clone() }));
        Ok(lines)
    }

    fn verify_notification(&self, pairs: &[(String, String)]) -> Result<BankNotification, DomainError> {
        let get =
            |k: &str| pairs.iter().find(|(a, _)| a == k).map(|(_, v)| v.clone()).ok_or_else(|| DomainError::new(ErrorCode::BadRequest, format!("missing {k}")));
        let (order_id, amount, paid, sign) = (get("ORDER")?, get("AMOUNT")?, get("PAID")? == "true", get("SIGN")?);
        let amount = Fen(amount.parse().map_err(|_| DomainError::new(ErrorCode::AmountMismatch, "amount"))?);
        if !crypto::constant_time_eq(sign.as_bytes(), bank_sign(&order_id, amount, paid).as_bytes()) {
            return Err(DomainError::new(ErrorCode::BadRequest, "bad signature"));
        }
        Ok(BankNotification { event_id: sign, order_id, amount, paid, accounting_date: None })
    }
}

/// An insurance centre that splits every in-catalogue amount 60 % fund / 20 % personal
/// account (the rest and everything out of catalogue is cash), settles when told, and
/// keeps refunds by serial number.
#[derive(Default)]
pub struct FakeCentre {
    state: Mutex<CentreState>,
}

#[derive(Default)]
struct CentreState {
    seq: u32,
    /// payOrdId → (our order, settlement).
    orders: HashMap<String, (String, InsuranceSettlement)>,
    refunds: HashMap<String, (Fen, Fen)>,
    refund_calls: usize,
    revoked: Vec<String>,
    /// The next pre-settlement answers with parts that do not add up.
    next_split_broken: bool,
}

impl FakeCentre {
    /// The patient confirms on the 医保 cashier: the insurance part is settled.
    pub fn settle(&self, order_no: &str) {
        self.set_status(order_no, "5");
    }

    pub fn set_status(&self, order_no: &str, ord_stas: &str) {
        let mut s = self.state.lock().unwrap();
        for (ours, st) in s.orders.values_mut() {
            if ours == order_no && !matches!(st.ord_stas.as_str(), "12" | "13") {
                st.ord_stas = ord_stas.into();
            }
        }
    }

    pub fn break_next_split(&self) {
        self.state.lock().unwrap().next_split_broken = true;
    }

    pub fn refund_calls(&self) -> usize {
        self.state.lock().unwrap().refund_calls
    }

    /// (fund, personal account) refunded under each serial.
    pub fn refunds(&self) -> Vec<(String, Fen, Fen)> {
        self.state.lock().unwrap().refunds.iter().map(|(sn, (f, p))| (sn.clone(), *f, *p)).collect()
    }

    pub fn revoked(&self) -> Vec<String> {
        self.state.lock().unwrap().revoked.clone()
    }
}

fn unknown_order() -> DomainError {
    DomainError::new(ErrorCode::UpstreamUnavailable, "fake centre: unknown payOrdId")
}

#[async_trait]
impl InsuranceCentrePort for FakeCentre {
    async fn upload_fees(&self, order_no: &str, _pay_auth_no: &str, lines: &[FeeLine], insurable: Fen, pooled: bool) -> Result<FeeUpload, DomainError> {
        let mut s = self.state.lock().unwrap();
        s.seq += 1;
        let id = format!("PAY{:04}", s.seq);
        let total = Fen(lines.iter().map(|l| l.2.0).sum());
        let fund = if pooled { Fen(insurable.0 * 60 / 100) } else { Fen::ZERO };
        let psn = Fen(insurable.0 * 20 / 100);
        let st = InsuranceSettlement {
            ord_stas: "0".into(),
            fee_sumamt: total,
            fund_pay: fund,
            psn_acct_pay: psn,
            acct_mulaid_pay: Fen::ZERO,
            own_pay_amt: Fen(total.0 - fund.0 - psn.0),
        };
        s.orders.insert(id.clone(), (order_no.to_owned(), st));
        Ok(FeeUpload { pay_ord_id: id.clone(), pay_token: format!("TOKEN-{id}") })
    }

    async fn pay_order(&self, up: &FeeUpload, _pay_auth_no: &str, _use_personal_account: bool) -> Result<InsuranceSettlement, DomainError> {
        let mut s = self.state.lock().unwrap();
        let broken = std::mem::take(&mut s.next_split_broken);
        let (_, st) = s.orders.get_mut(&up.pay_ord_id).ok_or_else(unknown_order)?;
        st.ord_stas = "1".into();
        let mut answer = st.clone();
        if broken {
            answer.fund_pay = Fen(answer.fund_pay.0 + 1);
        }
        Ok(answer)
    }

    async fn query(&self, up: &FeeUpload) -> Result<InsuranceSettlement, DomainError> {
        self.state.lock().unwrap().orders.get(&up.pay_ord_id).map(|(_, st)| st.clone()).ok_or_else(unknown_order)
    }

    async fn refund(&self, up: &FeeUpload, refund_sn: &str, _refund_type: &str, fund: Fen, psn_acct: Fen, _cash: Fen) -> Result<String, DomainError> {
        let mut s = self.state.lock().unwrap();
        s.refund_calls += 1;
        if s.refunds.contains_key(refund_sn) {
            return Ok("SUCC".into());
        }
        let (_, st) = s.orders.get_mut(&up.pay_ord_id).ok_or_else(unknown_order)?;
        if !matches!(st.ord_stas.as_str(), "4" | "5" | "6") || fund != st.fund_pay || psn_acct != Fen(st.psn_acct_pay.0 + st.acct_mulaid_pay.0) {
            return Ok("FAIL".into());
        }
        st.ord_stas = "7".into();
        s.refunds.insert(refund_sn.to_owned(), (fund, psn_acct));
        Ok("SUCC".into())
    }

    async fn revoke(&self, up: &FeeUpload) -> Result<(), DomainError> {
        let mut s = self.state.lock().unwrap();
        let (_, st) = s.orders.get_mut(&up.pay_ord_id).ok_or_else(unknown_order)?;
        st.ord_stas = "12".into();
        s.revoked.push(up.pay_ord_id.clone());
        Ok(())
    }

    async fn statement_detail(&self, _day: chrono::NaiveDate) -> Result<Vec<CentreLine>, DomainError> {
        Ok(vec![])
    }

    async fn statement_total(&self, _day: chrono::NaiveDate, _fund: Fen, _psn_acct: Fen) -> Result<bool, DomainError> {
        Ok(true)
    }
}

/// The 医保 authorisation: any code is accepted once; `relative` codes are 亲情付.
#[derive(Default)]
pub struct FakeInsuranceAuth {
    used: Mutex<Vec<String>>,
}

#[async_trait]
impl InsuranceAuthPort for FakeInsuranceAuth {
    fn authorize_url(&self, redirect_uri: &str, state: &str, who: AuthFor) -> String {
        format!(
            "https://medins.example/auth?relative={}&redirect_uri={}&state={state}",
            u8::from(who == AuthFor::Relative),
            domain::format::url_encode(redirect_uri)
        )
    }

    async fn user_query(&self, auth_code: &str, _openid: &str) -> Result<PayAuth, DomainError> {
        let mut used = self.used.lock().unwrap();
        if used.iter().any(|c| c == auth_code) {
            return Err(DomainError::new(ErrorCode::InsuranceAuthFailed, "code used"));
        }
        used.push(auth_code.to_owned());
        Ok(PayAuth { pay_auth_no: format!("AUTH-{auth_code}"), for_relative: auth_code.starts_with("relative") })
    }

    fn family_bind_url(&self, redirect_uri: &str, state: &str, _child_name_masked: &str) -> String {
        format!("https://medins.example/family?redirect_uri={}&state={state}", domain::format::url_encode(redirect_uri))
    }

    async fn family_bind_query(&self, _bind_code: &str, _openid: &str) -> Result<String, DomainError> {
        Ok("PAY_PWD".into())
    }
}
