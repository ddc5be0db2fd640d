//! Medical e-invoices (医疗收费电子票据, 财政电子票据): what the province's e-invoice
//! platform is asked to issue for a settled payment, and the rule that keeps the invoices
//! of one business equal to the money the hospital kept.
//!
//! One business (an order, a discharge) has a series of invoices: the first when it is
//! settled; after a refund the live one is reversed (冲红) and, if money is still kept,
//! one is issued again for what is kept — the way a cashier's window does it, since a
//! 财政票据 cannot be amended. `desired_change` decides the next step from what is kept
//! and what the live invoice says; every step is idempotent on the other side (the
//! business number `busNo` for issuing, the bill number for reversing).
use crate::Fen;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which kind of bill the platform issues; each has its own method on the platform.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// 挂号 (`invEBillRegistration`, busType 06).
    Registration,
    /// 门诊 (`invoiceEBillOutpatient`, busType 02).
    Outpatient,
    /// 住院 (`invEBillHospitalized`): the stay's settlement, which is also the final
    /// settlement of its deposits.
    Inpatient,
    /// 预交金 (deposit top-ups and card recharges): money held, not yet spent, gets the
    /// platform's prepayment voucher (住院预交金/预存款电子凭证).
    Prepayment,
}

impl InvoiceKind {
    pub const ALL: [InvoiceKind; 4] = [Self::Registration, Self::Outpatient, Self::Inpatient, Self::Prepayment];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::Outpatient => "outpatient",
            Self::Inpatient => "inpatient",
            Self::Prepayment => "prepayment",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Registration => "挂号收费票据",
            Self::Outpatient => "门诊收费票据",
            Self::Inpatient => "住院收费票据",
            Self::Prepayment => "预交金电子凭证",
        }
    }

    /// The kind of invoice a payment of this purpose gets; `None` where the money is part
    /// of another business's invoice (a discharge balance is in the stay's 住院 invoice).
    pub fn for_purpose(p: crate::billing::Purpose) -> Option<Self> {
        use crate::billing::Purpose as P;
        match p {
            P::Registration => Some(Self::Registration),
            P::OutpatientBill | P::RecordCopy => Some(Self::Outpatient),
            P::DepositTopUp | P::CardRecharge => Some(Self::Prepayment),
            P::DischargeBalance => None,
        }
    }
}

/// Where an invoice stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceState {
    /// Asked for (or about to be); the answer may have been lost: ask by `busNo` first.
    Issuing,
    /// The platform issued it: it is the business's live invoice.
    Issued,
    /// Being reversed (冲红); the answer may have been lost: ask its state first.
    Reversing,
    /// Reversed by a red-letter invoice. Terminal.
    Reversed,
    /// The platform refused it for good; a person must look. Terminal.
    Refused,
}

impl InvoiceState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Issuing => "issuing",
            Self::Issued => "issued",
            Self::Reversing => "reversing",
            Self::Reversed => "reversed",
            Self::Refused => "refused",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Issuing, Self::Issued, Self::Reversing, Self::Reversed, Self::Refused].into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Issuing => "开具中",
            Self::Issued => "已开具",
            Self::Reversing => "冲红中",
            Self::Reversed => "已冲红",
            Self::Refused => "开具失败，请到窗口咨询",
        }
    }
}

/// How much of an invoice each payer part covers. `fund + account + other_fund + own ==
/// total`, which [`InvoiceAmounts::new`] enforces.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceAmounts {
    pub total: Fen,
    /// 统筹基金 (fundPay).
    pub fund: Fen,
    /// 个人账户 (accountPay).
    pub account: Fen,
    /// 其他基金 such as 大病互助 (otherfundPay).
    pub other_fund: Fen,
    /// 个人现金 (ownPay / selfCashPay).
    pub own: Fen,
}

impl InvoiceAmounts {
    pub fn new(fund: Fen, account: Fen, other_fund: Fen, own: Fen) -> Option<Self> {
        let parts = [fund, account, other_fund, own];
        if parts.iter().any(|p| p.is_negative()) {
            return None;
        }
        let total = parts.iter().try_fold(0i64, |s, p| s.checked_add(p.0))?;
        Some(Self { total: Fen(total), fund, account, other_fund, own })
    }

    pub fn own_only(own: Fen) -> Option<Self> {
        Self::new(Fen(0), Fen(0), Fen(0), own)
    }
}

/// One line of the invoice's 收费项目 (chargeDetail).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    pub code: String,
    pub name: String,
    /// 规格/单位 as printed.
    pub spec: String,
    pub qty: String,
    pub amount: Fen,
    /// The part of `amount` the patient pays (selfAmt).
    pub self_amount: Fen,
}

/// A pay channel of the invoice (payChannelDetail); codes are the hospital's own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayChannelLine {
    pub code: String,
    pub amount: Fen,
}

/// Everything the platform needs to issue one invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    pub kind: InvoiceKind,
    /// 业务流水号: unique per invoice; the platform answers a repeat with the same bill.
    pub bus_no: String,
    pub bus_time: DateTime<Utc>,
    pub payer_name: String,
    pub id_card_no: String,
    pub his_patient_id: String,
    pub card_no: String,
    pub dept: String,
    pub amounts: InvoiceAmounts,
    pub charges: Vec<ChargeLine>,
    pub pay_channels: Vec<PayChannelLine>,
    /// 住院: (inpatient no, bed, admitted on, discharged on).
    pub stay: Option<(String, String, chrono::NaiveDate, chrono::NaiveDate)>,
    /// The bank trade or order number the money came with (weChatOrderNo).
    pub order_no: String,
    pub remark: String,
}

impl InvoiceRequest {
    /// The platform's consistency rules (protocols-wave2 §2): the pay channels add up to
    /// the total, and so do the charge lines; each line's self part is within its amount.
    pub fn check(&self) -> Result<(), &'static str> {
        let a = self.amounts;
        if a.total.0 <= 0 {
            return Err("invoice total must be positive");
        }
        if self.pay_channels.iter().map(|c| c.amount.0).sum::<i64>() != a.total.0 {
            return Err("pay channels do not add up to the total");
        }
        if self.charges.is_empty() || self.charges.iter().map(|c| c.amount.0).sum::<i64>() != a.total.0 {
            return Err("charge lines do not add up to the total");
        }
        if self.charges.iter().any(|c| c.amount.is_negative() || c.self_amount.is_negative() || c.self_amount.0 > c.amount.0) {
            return Err("a charge line's self part is outside its amount");
        }
        Ok(())
    }
}

/// What the platform answers for an issued invoice.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct IssuedInvoice {
    /// 票据代码.
    pub batch_code: String,
    /// 票据号码.
    pub bill_no: String,
    /// 校验码.
    pub check_code: String,
    pub issued_at: String,
    /// The verification QR as the platform draws it (PNG, Base64).
    pub qr_png_base64: String,
    /// The invoice's picture/PDF and its H5 view, as the platform links them.
    pub picture_url: String,
    pub view_url: String,
}

/// The red-letter invoice that reverses one (冲红).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReversalInvoice {
    pub batch_code: String,
    pub bill_no: String,
}

/// The platform's word on an invoice (getEBillStatesByBillInfo).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceStatus {
    /// 2 作废.
    pub voided: bool,
    /// A red-letter invoice exists for it.
    pub reversed: bool,
}

/// The next step for a business's invoices, given what it keeps and its live invoice.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InvoiceStep {
    /// The live invoice matches what is kept (or nothing is kept and none is live).
    Nothing,
    /// Reverse the live invoice (its amount no longer matches what is kept).
    Reverse,
    /// Issue one for what is kept.
    Issue(InvoiceAmounts),
}

/// Decides the next step. `live` is the amounts of the business's issued invoice, if any.
/// Reversal comes first, then the new issue: at no moment do two live invoices cover one
/// business, so the patient never holds more in invoices than the hospital kept.
pub fn desired_change(kept: InvoiceAmounts, live: Option<InvoiceAmounts>) -> InvoiceStep {
    match live {
        Some(l) if l == kept => InvoiceStep::Nothing,
        Some(_) => InvoiceStep::Reverse,
        None if kept.total.0 > 0 => InvoiceStep::Issue(kept),
        None => InvoiceStep::Nothing,
    }
}

/// What an order keeps after its refunds, by payer part. The insurance parts are
/// returned whole or not at all (6203), so they are either the split's or nothing;
/// cash is what was captured less what was refunded.
pub fn kept_by_order(split: crate::billing::Split, captured: crate::billing::PerChannel, refunded: crate::billing::PerChannel) -> Option<InvoiceAmounts> {
    let insurance_kept = captured.insurance.0 - refunded.insurance.0;
    let own = Fen(captured.self_pay.0 - refunded.self_pay.0);
    let (fund, account, other) = if insurance_kept <= 0 {
        (Fen(0), Fen(0), Fen(0))
    } else if insurance_kept == split.insurance().0 {
        (split.fund, split.personal_account, split.mutual_aid)
    } else {
        // A partial insurance refund cannot happen (6203 is whole); book what is kept as fund.
        (Fen(insurance_kept), Fen(0), Fen(0))
    };
    InvoiceAmounts::new(fund, account, other, own)
}

/// Charge lines for `kept` from an order's lines: the lines as bought while the whole
/// order is kept; after a partial refund one line for what is kept (a reissued bill states
/// the amount, not the items the refund took back).
pub fn charge_lines(lines: &[crate::billing::OrderLine], kept: InvoiceAmounts, label: &str) -> Vec<ChargeLine> {
    let bought: i64 = lines.iter().map(|l| l.amount.0).sum();
    if bought == kept.total.0 && !lines.is_empty() {
        // Spread the patient's own part over the lines that are not insurable first.
        let mut own_left = kept.own.0;
        let mut out: Vec<ChargeLine> = lines
            .iter()
            .map(|l| ChargeLine {
                code: l.code.clone(),
                name: l.name.clone(),
                spec: String::new(),
                qty: l.qty.to_string(),
                amount: l.amount,
                self_amount: Fen(0),
            })
            .collect();
        for pass_insurable in [false, true] {
            for (c, l) in out.iter_mut().zip(lines) {
                if l.insurable == pass_insurable && own_left > 0 {
                    let take = own_left.min(c.amount.0 - c.self_amount.0);
                    c.self_amount = Fen(c.self_amount.0 + take);
                    own_left -= take;
                }
            }
        }
        return out;
    }
    vec![ChargeLine { code: "KEPT".into(), name: label.to_owned(), spec: String::new(), qty: "1".into(), amount: kept.total, self_amount: kept.own }]
}

/// Pay channels for `kept`, in the hospital's codes.
pub fn pay_channels(kept: InvoiceAmounts, codes: &PayChannelCodes) -> Vec<PayChannelLine> {
    [(&codes.fund, kept.fund), (&codes.account, kept.account), (&codes.other_fund, kept.other_fund), (&codes.own, kept.own)]
        .into_iter()
        .filter(|(_, a)| a.0 > 0)
        .map(|(c, a)| PayChannelLine { code: c.clone(), amount: a })
        .collect()
}

/// The hospital's pay-channel codes on the platform (deployment-defined, §2).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayChannelCodes {
    pub fund: String,
    pub account: String,
    pub other_fund: String,
    pub own: String,
}

impl Default for PayChannelCodes {
    fn default() -> Self {
        Self { fund: "YBTCJJ".into(), account: "YBGRZH".into(), other_fund: "YBQTJJ".into(), own: "WX".into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{OrderLine, PerChannel, Split};
    use proptest::prelude::*;

    fn line(code: &str, amount: i64, insurable: bool) -> OrderLine {
        OrderLine { code: code.into(), name: code.into(), qty: 1, unit_price: Fen(amount), amount: Fen(amount), insurable }
    }

    #[test]
    fn a_refund_reverses_first_then_issues_for_what_is_kept() {
        let whole = InvoiceAmounts::own_only(Fen(5000)).unwrap();
        let part = InvoiceAmounts::own_only(Fen(3000)).unwrap();
        assert_eq!(desired_change(whole, None), InvoiceStep::Issue(whole));
        assert_eq!(desired_change(whole, Some(whole)), InvoiceStep::Nothing);
        assert_eq!(desired_change(part, Some(whole)), InvoiceStep::Reverse, "never two live invoices");
        assert_eq!(desired_change(part, None), InvoiceStep::Issue(part));
        let none = InvoiceAmounts::default();
        assert_eq!(desired_change(none, Some(whole)), InvoiceStep::Reverse);
        assert_eq!(desired_change(none, None), InvoiceStep::Nothing, "a full refund ends with no live invoice");
    }

    #[test]
    fn insurance_is_kept_whole_or_not_at_all() {
        let split = Split { fund: Fen(6000), personal_account: Fen(1000), mutual_aid: Fen(500), self_pay: Fen(2500) };
        let captured = PerChannel { insurance: Fen(7500), self_pay: Fen(2500) };
        let kept = kept_by_order(split, captured, PerChannel::default()).unwrap();
        assert_eq!((kept.total, kept.fund, kept.account, kept.other_fund, kept.own), (Fen(10000), Fen(6000), Fen(1000), Fen(500), Fen(2500)));
        let kept = kept_by_order(split, captured, PerChannel { insurance: Fen(7500), self_pay: Fen(1000) }).unwrap();
        assert_eq!((kept.total, kept.fund, kept.own), (Fen(1500), Fen(0), Fen(1500)));
    }

    #[test]
    fn the_consistency_rules_refuse_what_the_platform_would() {
        let kept = InvoiceAmounts::new(Fen(300), Fen(0), Fen(0), Fen(700)).unwrap();
        let lines = [line("A", 600, true), line("B", 400, false)];
        let mut req = InvoiceRequest {
            kind: InvoiceKind::Outpatient,
            bus_no: "B1".into(),
            bus_time: Utc::now(),
            payer_name: "张伟".into(),
            id_card_no: String::new(),
            his_patient_id: "P1".into(),
            card_no: String::new(),
            dept: String::new(),
            amounts: kept,
            charges: charge_lines(&lines, kept, "门诊费用"),
            pay_channels: pay_channels(kept, &PayChannelCodes::default()),
            stay: None,
            order_no: "O1".into(),
            remark: String::new(),
        };
        assert_eq!(req.check(), Ok(()));
        // The patient's 700 goes to the uninsurable line first (400), then 300 of the other.
        assert_eq!(req.charges.iter().map(|c| c.self_amount.0).collect::<Vec<_>>(), vec![300, 400]);
        req.pay_channels.pop();
        assert!(req.check().is_err());
    }

    proptest! {
        /// Whatever the lines and the split, the charge lines and pay channels of an
        /// invoice add up to what is kept, and every line's self part fits in it.
        #[test]
        fn invoices_always_add_up(amounts in proptest::collection::vec((1i64..100_000, any::<bool>()), 1..8), fund_pct in 0i64..=100, refund in 0i64..200_000) {
            let lines: Vec<OrderLine> = amounts.iter().enumerate().map(|(i, (a, ins))| line(&format!("L{i}"), *a, *ins)).collect();
            let total: i64 = amounts.iter().map(|(a, _)| a).sum();
            let fund = total * fund_pct / 100;
            let split = Split { fund: Fen(fund), personal_account: Fen(0), mutual_aid: Fen(0), self_pay: Fen(total - fund) };
            let captured = PerChannel { insurance: Fen(fund), self_pay: Fen(total - fund) };
            let refunded = PerChannel { insurance: Fen(0), self_pay: Fen(refund.min(total - fund)) };
            let kept = kept_by_order(split, captured, refunded).unwrap();
            prop_assert_eq!(kept.total.0, total - refunded.self_pay.0);
            if kept.total.0 > 0 {
                let charges = charge_lines(&lines, kept, "费用");
                prop_assert_eq!(charges.iter().map(|c| c.amount.0).sum::<i64>(), kept.total.0);
                prop_assert_eq!(charges.iter().map(|c| c.self_amount.0).sum::<i64>(), kept.own.0);
                prop_assert!(charges.iter().all(|c| c.self_amount.0 <= c.amount.0 && c.self_amount.0 >= 0));
                prop_assert_eq!(pay_channels(kept, &PayChannelCodes::default()).iter().map(|c| c.amount.0).sum::<i64>(), kept.total.0);
            }
        }
    }
}
