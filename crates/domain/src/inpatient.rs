//! Inpatient money rules (BED-1, BED-2): what a discharge settles to, and how a surplus of
//! deposits goes back to the payments that funded the stay.
//!
//! A stay is funded by deposits (预交金) paid online (the bank channel, refundable to its own
//! order) or at the window (cash, or a card at the window's POS: only the cashier can give
//! those back). At discharge the HIS settles the stay; the patient's self-pay share is set
//! against the deposits. A surplus is refunded newest deposit first, each deposit giving back
//! at most what is left of it, so the money returns the way it came and an old payment is
//! touched only when the newer ones are used up.
pub mod admission_booking;

use crate::Fen;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How a deposit reached the hospital.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DepositChannel {
    /// Paid on the phone through the bank (CCB): refunded online to the same order.
    Bank,
    /// Cash at the inpatient window.
    WindowCash,
    /// A bank card at the window's POS terminal.
    WindowPos,
}

impl DepositChannel {
    /// Whether the platform can give this money back by itself.
    pub fn refunds_online(self) -> bool {
        matches!(self, Self::Bank)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Bank => "线上支付",
            Self::WindowCash => "窗口现金",
            Self::WindowPos => "窗口刷卡",
        }
    }
}

/// One deposit of a stay, as far as its refund is concerned.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositPayment {
    /// The HIS's deposit (receipt) number.
    pub deposit_no: String,
    pub paid_at: DateTime<Utc>,
    pub amount: Fen,
    /// What was already given back of it (an earlier partial settlement, a window refund).
    pub refunded: Fen,
    pub channel: DepositChannel,
    /// The platform's order for a deposit paid online.
    pub order_no: Option<String>,
    /// Who paid it as the HIS recorded it (the cashier's name at the window, 本人/家属 online).
    #[serde(default)]
    pub payer: String,
}

impl DepositPayment {
    /// What can still go back of this payment.
    pub fn refundable(&self) -> Fen {
        Fen((self.amount.0 - self.refunded.0).max(0))
    }
}

/// One part of a surplus refund, taken from one deposit.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurplusPart {
    pub deposit_no: String,
    pub channel: DepositChannel,
    /// For an online deposit: the order the bank refunds.
    pub order_no: Option<String>,
    pub amount: Fen,
}

impl SurplusPart {
    /// Whether the cashier has to give it back (a refund task, the patient told where).
    pub fn at_window(&self) -> bool {
        !self.channel.refunds_online() || self.order_no.is_none()
    }
}

/// What a discharge settles to once the HIS has the stay's self-pay share.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "amount", rename_all = "snake_case")]
pub enum DischargeBalance {
    /// The deposits exceed the share: this much goes back.
    Refund(Fen),
    /// The deposits fall short: the patient pays this much.
    Due(Fen),
    /// Exactly covered.
    Even,
}

/// Sets the stay's self-pay share against what is left of its deposits.
pub fn discharge_balance(deposits: &[DepositPayment], self_pay_share: Fen) -> Result<DischargeBalance, SplitError> {
    if self_pay_share.0 < 0 {
        return Err(SplitError::Negative);
    }
    let held = deposits.iter().try_fold(0i64, |sum, d| sum.checked_add(d.refundable().0)).ok_or(SplitError::Overflow)?;
    Ok(match held.cmp(&self_pay_share.0) {
        std::cmp::Ordering::Greater => DischargeBalance::Refund(Fen(held - self_pay_share.0)),
        std::cmp::Ordering::Less => DischargeBalance::Due(Fen(self_pay_share.0 - held)),
        std::cmp::Ordering::Equal => DischargeBalance::Even,
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SplitError {
    /// A negative amount (a share or a surplus) is not money to move.
    Negative,
    /// The surplus is more than the deposits still hold: the figures disagree.
    ExceedsDeposits,
    /// Amounts beyond any real stay.
    Overflow,
}

/// Splits `surplus` over the deposits that funded the stay: newest first (the receipt number
/// breaks ties), each giving back at most what is left of it, parts of zero left out. The
/// parts add up to the surplus exactly or the split is refused.
pub fn split_surplus(deposits: &[DepositPayment], surplus: Fen) -> Result<Vec<SurplusPart>, SplitError> {
    if surplus.0 < 0 {
        return Err(SplitError::Negative);
    }
    let mut newest_first: Vec<&DepositPayment> = deposits.iter().collect();
    newest_first.sort_by(|a, b| b.paid_at.cmp(&a.paid_at).then_with(|| b.deposit_no.cmp(&a.deposit_no)));
    let mut left = surplus.0;
    let mut parts = Vec::new();
    for d in newest_first {
        if left == 0 {
            break;
        }
        let take = d.refundable().0.min(left);
        if take > 0 {
            parts.push(SurplusPart { deposit_no: d.deposit_no.clone(), channel: d.channel, order_no: d.order_no.clone(), amount: Fen(take) });
            left -= take;
        }
    }
    if left > 0 {
        return Err(SplitError::ExceedsDeposits);
    }
    Ok(parts)
}

/// The insurance catalogue class of a charge (医保目录甲/乙/丙类).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceClass {
    /// 甲类: insurance pays by its ratio, no self-pay share first.
    A,
    /// 乙类: the patient pays a share first, then insurance by its ratio.
    B,
    /// 丙类 (自费): the patient pays all of it.
    C,
}

impl InsuranceClass {
    pub const ALL: [Self; 3] = [Self::A, Self::B, Self::C];

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::A => "甲类",
            Self::B => "乙类",
            Self::C => "丙类",
        }
    }
}

/// One line of a day's fee list (日清单): the charge, its specification, its class and the
/// share of it the patient pays before insurance (‰ of the amount, as the HIS gives it).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DailyFeeLine {
    pub item: crate::ports::FeeItem,
    pub spec: String,
    pub class: InsuranceClass,
    pub self_pay_permille: u16,
}

impl DailyFeeLine {
    /// The self-pay part of the line, rounded to the fen (half up).
    pub fn self_pay(&self) -> Fen {
        Fen((self.item.amount.0 * i64::from(self.self_pay_permille.min(1000)) + 500) / 1000)
    }
}

/// Per class: (class, amount, self-pay part), for the classes present, in 甲/乙/丙 order.
pub fn class_totals(lines: &[DailyFeeLine]) -> Vec<(InsuranceClass, Fen, Fen)> {
    InsuranceClass::ALL
        .iter()
        .filter_map(|c| {
            let of: Vec<_> = lines.iter().filter(|l| l.class == *c).collect();
            (!of.is_empty()).then(|| (*c, Fen(of.iter().map(|l| l.item.amount.0).sum()), Fen(of.iter().map(|l| l.self_pay().0).sum())))
        })
        .collect()
}

/// The day of the stay, the admission day being the first (住院第N天).
pub fn day_of_stay(admitted: chrono::NaiveDate, today: chrono::NaiveDate) -> i64 {
    (today - admitted).num_days().max(0) + 1
}

/// The average charge of the recent full days given (BED-2 uses the last three) and how
/// many whole days `balance` lasts at that rate; `None` without charges to average.
pub fn days_covered(balance: Fen, recent_days: &[Fen]) -> Option<(Fen, i64)> {
    let days = i64::try_from(recent_days.len()).ok().filter(|n| *n > 0)?;
    let sum = recent_days.iter().try_fold(0i64, |s, d| s.checked_add(d.0))?;
    let average = sum / days;
    (average > 0).then(|| (Fen(average), (balance.0 / average).max(0)))
}

/// Why a stay's deposit is low (住院押金不足提醒).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LowDeposit {
    /// The level the balance fell under: the floor, or `days` of the daily average if higher.
    pub threshold: Fen,
    /// The charges already exceed the deposits.
    pub owed: bool,
}

/// Whether a balance (deposits less charges) is low: under the floor, or lasting fewer than
/// `days` days at `daily` (the stay's average so far; none on its first day).
pub fn low_deposit(balance: Fen, daily: Option<Fen>, floor: Fen, days: i64) -> Option<LowDeposit> {
    let by_days = daily.map_or(0, |d| d.0.saturating_mul(days.max(0)));
    let threshold = Fen(floor.0.max(by_days));
    (balance.0 < threshold.0).then_some(LowDeposit { threshold, owed: balance.0 < 0 })
}

/// The HIS's pre-settlement of a closed stay (住院预结算; for an insured patient the HIS
/// settles the funds' part with the centre, NHSA 2303): the total and who pays what. The
/// self-pay share is what the deposits are set against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DischargeQuote {
    pub pre_settle_id: String,
    pub total: Fen,
    /// The insurance funds' part (统筹 and the other funds), paid by the centre.
    pub fund: Fen,
    /// Paid from the patient's medical-insurance personal account.
    pub personal_account: Fen,
    /// The patient's own share (个人现金支付).
    pub self_pay: Fen,
    /// The deposits that funded the stay, as the HIS holds them.
    pub deposits: Vec<DepositPayment>,
    /// The centre's settlement fields where the HIS passes them through (insured stays).
    pub insurance: Option<InsuranceSettlementInfo>,
}

impl DischargeQuote {
    /// What the deposits still hold.
    pub fn deposits_held(&self) -> Fen {
        Fen(self.deposits.iter().map(|d| d.refundable().0).sum())
    }
}

/// The NHSA inpatient settlement (2303 pre-settle / 2304 settle) as the HIS passes it on:
/// identifiers to keep with the discharge, and the parts a patient is shown.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct InsuranceSettlementInfo {
    /// 就诊ID (mdtrt_id).
    pub mdtrt_id: String,
    /// 结算ID (setl_id): only once settled (2304).
    pub setl_id: Option<String>,
    /// 人员编号 (psn_no).
    pub psn_no: String,
    /// 险种类型 (insutype, e.g. 310 职工基本医疗保险, 390 城乡居民).
    pub insutype: String,
    /// The funds that paid, each with its Chinese name (统筹基金, 大病补充 …), non-zero only.
    pub funds: Vec<(String, Fen)>,
    /// 起付线 reached this stay (act_pay_dedc).
    pub deductible: Fen,
    /// 全自费 (fulamt_ownpay_amt): 丙类 items.
    pub full_self_pay: Fen,
    /// 先行自付 (preselfpay_amt): the 乙类 shares.
    pub pre_self_pay: Fen,
    /// 超限价自费 (overlmt_selfpay).
    pub over_limit: Fen,
}

/// Where a discharge settlement of the platform stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DischargeState {
    /// The deposits fell short: the balance order waits to be paid.
    AwaitingPayment,
    /// Confirmed (and paid, if anything was due): the HIS is settling it.
    Settling,
    /// The HIS settled it; any surplus is on its way back.
    Settled,
    /// The stay was settled at the window meanwhile: nothing of ours moved money.
    SettledElsewhere,
    /// The HIS refused the settlement; whatever was paid for it goes back (P6).
    Failed,
    /// The balance order closed unpaid: the patient may start again.
    Abandoned,
}

impl DischargeState {
    pub const ALL: [Self; 6] = [Self::AwaitingPayment, Self::Settling, Self::Settled, Self::SettledElsewhere, Self::Failed, Self::Abandoned];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "awaiting_payment",
            Self::Settling => "settling",
            Self::Settled => "settled",
            Self::SettledElsewhere => "settled_elsewhere",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::AwaitingPayment => "待补缴",
            Self::Settling => "结算中",
            Self::Settled => "已结算",
            Self::SettledElsewhere => "已在窗口结算",
            Self::Failed => "结算未成功",
            Self::Abandoned => "已取消",
        }
    }

    /// Whether the discharge still holds the stay (a second one may not start).
    pub fn is_active(self) -> bool {
        !matches!(self, Self::Abandoned | Self::Failed)
    }

    /// Whether it is over (the page stops refreshing).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Settled | Self::SettledElsewhere | Self::Failed | Self::Abandoned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn deposit(no: u32, minutes: i64, amount: i64, refunded: i64, channel: DepositChannel) -> DepositPayment {
        DepositPayment {
            deposit_no: format!("D{no:03}"),
            paid_at: Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap() + chrono::Duration::minutes(minutes),
            amount: Fen(amount),
            refunded: Fen(refunded),
            channel,
            order_no: channel.refunds_online().then(|| format!("CB{no:03}")),
            payer: String::new(),
        }
    }

    #[test]
    fn a_deposit_is_low_under_the_floor_or_under_days_of_charges() {
        let floor = Fen(100_000);
        assert_eq!(low_deposit(Fen(150_000), None, floor, 2), None);
        assert_eq!(low_deposit(Fen(99_999), None, floor, 2), Some(LowDeposit { threshold: floor, owed: false }));
        // ¥800 a day: two days need ¥1600, so ¥1500 is low although above the floor.
        assert_eq!(low_deposit(Fen(150_000), Some(Fen(80_000)), floor, 2), Some(LowDeposit { threshold: Fen(160_000), owed: false }));
        assert_eq!(low_deposit(Fen(-1), Some(Fen(10_000)), floor, 2).map(|l| l.owed), Some(true));
        assert_eq!(low_deposit(Fen(0), None, Fen(0), 0), None, "no floor and no days: never low");
    }

    #[test]
    fn a_surplus_goes_back_to_the_newest_deposits_first() {
        use DepositChannel::*;
        // ¥3,000 online on day 1, ¥2,000 cash on day 3, ¥1,000 online on day 5; the share is ¥4,500.
        let d = [deposit(1, 0, 300_000, 0, Bank), deposit(2, 2 * 1440, 200_000, 0, WindowCash), deposit(3, 4 * 1440, 100_000, 0, Bank)];
        assert_eq!(discharge_balance(&d, Fen(450_000)), Ok(DischargeBalance::Refund(Fen(150_000))));
        let parts = split_surplus(&d, Fen(150_000)).unwrap();
        let got: Vec<_> = parts.iter().map(|p| (p.deposit_no.as_str(), p.amount.0, p.at_window())).collect();
        assert_eq!(got, [("D003", 100_000, false), ("D002", 50_000, true)], "the cash part is the cashier's to give back");
        assert_eq!(discharge_balance(&d, Fen(650_000)), Ok(DischargeBalance::Due(Fen(50_000))));
        assert_eq!(discharge_balance(&d, Fen(600_000)), Ok(DischargeBalance::Even));
        assert_eq!(split_surplus(&d, Fen(600_001)), Err(SplitError::ExceedsDeposits));
        assert_eq!(split_surplus(&d, Fen(-1)), Err(SplitError::Negative));
        assert_eq!(split_surplus(&d, Fen(0)), Ok(vec![]));
    }

    #[test]
    fn a_days_lines_add_up_by_class_with_their_self_pay_share() {
        let line = |amount: i64, class: InsuranceClass, permille: u16| DailyFeeLine {
            item: crate::ports::FeeItem {
                item_code: "X".into(),
                name: "项目".into(),
                qty: 1,
                unit_price: Fen(amount),
                amount: Fen(amount),
                insurable: class != InsuranceClass::C,
            },
            spec: String::new(),
            class,
            self_pay_permille: permille,
        };
        let lines =
            [line(6000, InsuranceClass::A, 0), line(1860, InsuranceClass::B, 100), line(4500, InsuranceClass::C, 1000), line(1005, InsuranceClass::B, 100)];
        assert_eq!(lines[3].self_pay(), Fen(101), "100.5 fen rounds half up");
        assert_eq!(
            class_totals(&lines),
            [(InsuranceClass::A, Fen(6000), Fen(0)), (InsuranceClass::B, Fen(2865), Fen(287)), (InsuranceClass::C, Fen(4500), Fen(4500))]
        );
    }

    #[test]
    fn the_balance_lasts_as_many_days_as_the_recent_average_allows() {
        let d = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        assert_eq!(day_of_stay(d("2026-12-01"), d("2026-12-01")), 1);
        assert_eq!(day_of_stay(d("2026-12-01"), d("2026-12-07")), 7);
        assert_eq!(days_covered(Fen(100_000), &[Fen(30_000), Fen(31_000), Fen(29_000)]), Some((Fen(30_000), 3)));
        assert_eq!(days_covered(Fen(-63_100), &[Fen(30_000)]), Some((Fen(30_000), 0)), "owed money lasts no day");
        assert_eq!(days_covered(Fen(100_000), &[]), None, "nothing to average (admitted today)");
        assert_eq!(days_covered(Fen(100_000), &[Fen(0), Fen(0)]), None, "no charges: no estimate, not infinity");
    }

    fn channel() -> impl Strategy<Value = DepositChannel> {
        prop_oneof![Just(DepositChannel::Bank), Just(DepositChannel::WindowCash), Just(DepositChannel::WindowPos)]
    }

    proptest! {
        /// Issue 18: for random deposits (1–6, mixed channels, some partly refunded) and any
        /// surplus they can cover, the split never exceeds any payment, sums exactly to the
        /// surplus, and an older payment is touched only when every newer one is used up.
        #[test]
        fn the_split_never_exceeds_a_payment_and_sums_to_the_surplus(
            raw in prop::collection::vec((0i64..10_000, 1i64..2_000_000, 0u8..=100, channel()), 1..=6),
            share_permille in 0i64..=1000,
        ) {
            let deposits: Vec<_> = raw.iter().enumerate().map(|(i, (at, amount, refunded_pct, ch))| {
                deposit(i as u32, *at, *amount, amount * i64::from(*refunded_pct) / 100, *ch)
            }).collect();
            let held: i64 = deposits.iter().map(|d| d.refundable().0).sum();
            let surplus = Fen(held * share_permille / 1000);
            let parts = split_surplus(&deposits, surplus).unwrap();
            prop_assert_eq!(parts.iter().map(|p| p.amount.0).sum::<i64>(), surplus.0);
            for p in &parts {
                let d = deposits.iter().find(|d| d.deposit_no == p.deposit_no).unwrap();
                prop_assert!(p.amount.0 > 0 && p.amount <= d.refundable(), "{:?} from {:?}", p, d);
                prop_assert_eq!(p.channel, d.channel);
            }
            let mut seen = std::collections::HashSet::new();
            prop_assert!(parts.iter().all(|p| seen.insert(p.deposit_no.clone())), "one part per deposit");
            // Every deposit newer than the oldest one used gave back all it had.
            if let Some(oldest) = parts.iter().map(|p| deposits.iter().find(|d| d.deposit_no == p.deposit_no).unwrap()).min_by(|a, b| a.paid_at.cmp(&b.paid_at).then_with(|| a.deposit_no.cmp(&b.deposit_no))) {
                for d in deposits.iter().filter(|d| (d.paid_at, &d.deposit_no) > (oldest.paid_at, &oldest.deposit_no)) {
                    let given = parts.iter().find(|p| p.deposit_no == d.deposit_no).map_or(0, |p| p.amount.0);
                    prop_assert_eq!(given, d.refundable().0, "newer {:?} before older {:?}", d, oldest);
                }
            }
            // The balance agrees with the split: what the share leaves is what goes back.
            let share = Fen(held - surplus.0);
            let expected = if surplus.0 == 0 { DischargeBalance::Even } else { DischargeBalance::Refund(surplus) };
            prop_assert_eq!(discharge_balance(&deposits, share).unwrap(), expected);
        }
    }
}
