//! Orders: the spine of money (DESIGN decision 5). Every payable thing — a registration
//! fee, an outpatient bill, a deposit top-up, a card recharge, a record-copy fee, a
//! discharge balance — is an order with a purpose, itemised lines and a split into
//! parts: the insurance fund, the personal account, the family mutual-aid account and
//! self-pay. The insurance parts settle together at the insurance centre (6202/6301);
//! self-pay goes through the bank's aggregated channel. This module is the order's
//! state machine, pure and exhaustively tested; the store persists it and the money
//! work (issue 3) drives it from callbacks and queries.
//!
//! Terminal states are `Fulfilled` (paid and the service delivered — PAID_AND_BOOKED
//! for a registration), `Closed` (nothing kept) and `Refunded` (all captured money
//! returned). Every other state is resolved by asking the other side.
use crate::money::Fen;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    Registration,
    OutpatientBill,
    DepositTopUp,
    CardRecharge,
    RecordCopy,
    DischargeBalance,
}

impl Purpose {
    pub const ALL: [Purpose; 6] = [Self::Registration, Self::OutpatientBill, Self::DepositTopUp, Self::CardRecharge, Self::RecordCopy, Self::DischargeBalance];

    /// The stored and wire name (the serde form).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Registration => "registration",
            Self::OutpatientBill => "outpatient_bill",
            Self::DepositTopUp => "deposit_top_up",
            Self::CardRecharge => "card_recharge",
            Self::RecordCopy => "record_copy",
            Self::DischargeBalance => "discharge_balance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Registration => "挂号费",
            Self::OutpatientBill => "门诊缴费",
            Self::DepositTopUp => "住院押金",
            Self::CardRecharge => "就诊卡充值",
            Self::RecordCopy => "病历复印费",
            Self::DischargeBalance => "出院结算补缴",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    pub code: String,
    pub name: String,
    pub qty: u32,
    pub unit_price: Fen,
    pub amount: Fen,
    /// Within the insurance catalogue (what 6201 reports as `inscpScpAmt`).
    #[serde(default)]
    pub insurable: bool,
}

/// How an order's total is paid. The three insurance parts settle as one unit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Split {
    pub fund: Fen,
    pub personal_account: Fen,
    pub mutual_aid: Fen,
    pub self_pay: Fen,
}

impl Split {
    pub fn self_pay_only(total: Fen) -> Self {
        Self { self_pay: total, ..Default::default() }
    }
    /// Fund + personal account + mutual aid: what the insurance centre settles.
    pub fn insurance(&self) -> Fen {
        Fen(self.fund.0 + self.personal_account.0 + self.mutual_aid.0)
    }
    pub fn total(&self) -> Fen {
        Fen(self.insurance().0 + self.self_pay.0)
    }
    fn any_negative(&self) -> bool {
        [self.fund, self.personal_account, self.mutual_aid, self.self_pay].iter().any(|f| f.is_negative())
    }
}

/// The two ways money moves: the insurance centre and the bank's aggregated channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Insurance,
    SelfPay,
}

/// Money per channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PerChannel {
    pub insurance: Fen,
    pub self_pay: Fen,
}

impl PerChannel {
    pub fn get(&self, c: Channel) -> Fen {
        match c {
            Channel::Insurance => self.insurance,
            Channel::SelfPay => self.self_pay,
        }
    }
    fn add(&mut self, c: Channel, by: Fen) {
        match c {
            Channel::Insurance => self.insurance.0 += by.0,
            Channel::SelfPay => self.self_pay.0 += by.0,
        }
    }
    pub fn total(&self) -> Fen {
        Fen(self.insurance.0 + self.self_pay.0)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderState {
    /// Priced, nothing asked of anyone yet.
    Created,
    /// Payment under way; some part may already be captured.
    Paying,
    /// Every part captured; the service is being delivered.
    Paid,
    /// Paid and delivered (PAID_AND_BOOKED for a registration). Terminal unless refunded.
    Fulfilled,
    /// Insurance settled but self-pay failed: the insurance settlement is being reversed.
    Reversing,
    /// Nothing kept. Terminal.
    Closed,
    /// A refund is in flight.
    Refunding,
    /// Some of the captured money was returned; the rest is kept.
    PartiallyRefunded,
    /// Everything captured was returned. Terminal.
    Refunded,
}

impl OrderState {
    pub const ALL: [OrderState; 9] =
        [Self::Created, Self::Paying, Self::Paid, Self::Fulfilled, Self::Reversing, Self::Closed, Self::Refunding, Self::PartiallyRefunded, Self::Refunded];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Paying => "paying",
            Self::Paid => "paid",
            Self::Fulfilled => "fulfilled",
            Self::Reversing => "reversing",
            Self::Closed => "closed",
            Self::Refunding => "refunding",
            Self::PartiallyRefunded => "partially_refunded",
            Self::Refunded => "refunded",
        }
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Created => "待支付",
            Self::Paying => "支付中",
            Self::Paid => "已支付",
            Self::Fulfilled => "已完成",
            Self::Reversing => "医保撤销中",
            Self::Closed => "已关闭",
            Self::Refunding => "退款中",
            Self::PartiallyRefunded => "部分退款",
            Self::Refunded => "已退款",
        }
    }

    /// The patient's money is confirmed taken (and perhaps partly returned).
    pub fn money_confirmed(self) -> bool {
        matches!(self, Self::Paid | Self::Fulfilled | Self::Refunding | Self::PartiallyRefunded | Self::Refunded)
    }

    /// Nothing more happens without a new request: the three terminal states, plus
    /// `PartiallyRefunded`, which rests until someone asks for another refund.
    pub fn is_resting(self) -> bool {
        matches!(self, Self::Fulfilled | Self::Closed | Self::Refunded | Self::PartiallyRefunded)
    }
}

/// Everything that can happen to an order. Callbacks, query answers and the patient's
/// and staff's actions are all turned into these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum OrderEvent {
    /// The insurance centre's pre-settlement (6202) decided how the total splits between
    /// the insurance parts and self-pay; or the patient chose to pay it all themselves.
    /// Only before anything is captured, and the total never changes (P9).
    Priced {
        split: Split,
    },
    PaymentStarted,
    /// The channel reports this amount captured (a callback or a query answer).
    Captured {
        channel: Channel,
        amount: Fen,
    },
    /// The channel reports the payment failed, was cancelled or was abandoned.
    PaymentFailed {
        channel: Channel,
    },
    /// The order's time to pay ran out.
    Expired,
    /// The insurance settlement was reversed (after a self-pay failure).
    InsuranceReversed,
    /// The service was delivered (slot confirmed in the HIS, bill settled …).
    Fulfilled,
    /// The service cannot be delivered (slot lost, HIS refused): everything goes back (P6).
    FulfilmentFailed,
    RefundRequested {
        amounts: PerChannel,
    },
    RefundSucceeded {
        amounts: PerChannel,
    },
    RefundFailed {
        amounts: PerChannel,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransitionError {
    /// The event makes no sense in this state (a stale or forged message).
    NotAllowed { state: OrderState },
    /// The amount differs from what this order expects (P2).
    AmountMismatch,
    /// More would be refunded than was captured and not yet refunded (P7).
    RefundExceedsCaptured,
    /// The order's parts do not add up, or a part is negative.
    InvalidSplit,
}

/// What applying an event did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    Changed {
        from: OrderState,
        to: OrderState,
    },
    /// The event repeats what the order already records (a duplicate callback): no change (P1).
    AlreadyApplied,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    pub purpose: Purpose,
    pub lines: Vec<OrderLine>,
    pub split: Split,
    pub state: OrderState,
    pub captured: PerChannel,
    pub refunded: PerChannel,
    pub refund_in_flight: PerChannel,
    /// Where a refund returns to if it fails.
    pub before_refund: Option<OrderState>,
}

impl Order {
    /// A new order. Lines must add up to the split's total; no part may be negative;
    /// the total must be positive.
    pub fn new(purpose: Purpose, lines: Vec<OrderLine>, split: Split) -> Result<Self, TransitionError> {
        let lines_total: i64 = lines.iter().map(|l| l.amount.0).sum();
        let lines_ok = lines.iter().all(|l| !l.amount.is_negative() && l.unit_price.0.checked_mul(l.qty as i64) == Some(l.amount.0));
        if split.any_negative() || split.total().0 <= 0 || lines_total != split.total().0 || !lines_ok {
            return Err(TransitionError::InvalidSplit);
        }
        Ok(Self {
            purpose,
            lines,
            split,
            state: OrderState::Created,
            captured: PerChannel::default(),
            refunded: PerChannel::default(),
            refund_in_flight: PerChannel::default(),
            before_refund: None,
        })
    }

    pub fn total(&self) -> Fen {
        self.split.total()
    }

    /// The part of the lines within the insurance catalogue.
    pub fn insurable(&self) -> Fen {
        Fen(self.lines.iter().filter(|l| l.insurable).map(|l| l.amount.0).sum())
    }

    /// What a patient may be offered: insurance for medical services only (never a
    /// deposit, a card top-up or a copy fee).
    pub fn insurance_may_pay(&self) -> bool {
        matches!(self.purpose, Purpose::Registration | Purpose::OutpatientBill | Purpose::DischargeBalance) && self.insurable().0 > 0
    }

    /// What a channel is owed for this order.
    pub fn due(&self, c: Channel) -> Fen {
        match c {
            Channel::Insurance => self.split.insurance(),
            Channel::SelfPay => self.split.self_pay,
        }
    }

    fn fully_captured(&self) -> bool {
        self.captured.insurance == self.split.insurance() && self.captured.self_pay == self.split.self_pay
    }

    /// What may still be refunded on a channel.
    pub fn refundable(&self, c: Channel) -> Fen {
        Fen(self.captured.get(c).0 - self.refunded.get(c).0 - self.refund_in_flight.get(c).0)
    }

    fn to(&mut self, next: OrderState) -> Result<Applied, TransitionError> {
        let from = self.state;
        self.state = next;
        Ok(Applied::Changed { from, to: next })
    }

    /// The payment will not complete (a part failed, or time ran out): give back what
    /// was captured. Captured insurance is reversed at the insurance centre (P9);
    /// captured self-pay is refunded through the bank; with nothing captured the order
    /// simply closes. (Both captured means the order is `Paid`, never here.)
    fn unwind(&mut self) -> Result<Applied, TransitionError> {
        if self.captured.insurance.0 > 0 {
            self.to(OrderState::Reversing)
        } else if self.captured.self_pay.0 > 0 {
            self.before_refund = Some(OrderState::Paying);
            self.refund_in_flight.add(Channel::SelfPay, self.captured.self_pay);
            self.to(OrderState::Refunding)
        } else {
            self.to(OrderState::Closed)
        }
    }

    /// Applies one event. Never leaves the order inconsistent: on error nothing changed.
    pub fn apply(&mut self, ev: OrderEvent) -> Result<Applied, TransitionError> {
        use OrderState as S;
        let not_allowed = |s: OrderState| Err(TransitionError::NotAllowed { state: s });
        match (self.state, ev) {
            (S::Created | S::Paying, OrderEvent::Priced { split }) => {
                if split.any_negative() || split.total() != self.total() {
                    return Err(TransitionError::InvalidSplit);
                }
                if self.captured.total().0 != 0 {
                    return not_allowed(self.state);
                }
                if split == self.split {
                    return Ok(Applied::AlreadyApplied);
                }
                self.split = split;
                let state = self.state;
                self.to(state)
            }
            (S::Created, OrderEvent::PaymentStarted) => self.to(S::Paying),
            (S::Paying, OrderEvent::PaymentStarted) => Ok(Applied::AlreadyApplied),

            (S::Created | S::Paying, OrderEvent::Captured { channel, amount }) => {
                if amount != self.due(channel) || amount.0 == 0 {
                    return Err(TransitionError::AmountMismatch);
                }
                if self.captured.get(channel) == amount {
                    return Ok(Applied::AlreadyApplied);
                }
                self.captured.add(channel, amount);
                if self.fully_captured() { self.to(S::Paid) } else { self.to(S::Paying) }
            }
            // A capture repeated after the order moved on is a duplicate if it matches.
            (_, OrderEvent::Captured { channel, amount }) if self.captured.get(channel) == amount && amount.0 > 0 => Ok(Applied::AlreadyApplied),
            // Money arriving for a closed order (a late payment after close): not taken
            // here; the caller refunds it at the channel (reconciliation's "late payment").
            (s, OrderEvent::Captured { .. }) => not_allowed(s),

            (S::Created | S::Paying, OrderEvent::PaymentFailed { channel }) => {
                if self.captured.get(channel).0 > 0 {
                    return not_allowed(self.state);
                }
                self.unwind()
            }
            (S::Closed | S::Reversing, OrderEvent::PaymentFailed { .. }) => Ok(Applied::AlreadyApplied),

            (S::Created | S::Paying, OrderEvent::Expired) => self.unwind(),
            (S::Closed, OrderEvent::Expired) => Ok(Applied::AlreadyApplied),

            (S::Reversing, OrderEvent::InsuranceReversed) => {
                self.refunded.add(Channel::Insurance, self.captured.insurance);
                if self.captured.self_pay.0 > self.refunded.self_pay.0 {
                    return not_allowed(self.state);
                }
                self.to(S::Closed)
            }

            (S::Paid, OrderEvent::Fulfilled) => self.to(S::Fulfilled),
            (S::Fulfilled, OrderEvent::Fulfilled) => Ok(Applied::AlreadyApplied),
            (S::Paid, OrderEvent::FulfilmentFailed) => {
                self.before_refund = Some(S::Paid);
                self.refund_in_flight = PerChannel { insurance: self.captured.insurance, self_pay: self.captured.self_pay };
                self.to(S::Refunding)
            }

            (S::Paid | S::Fulfilled | S::PartiallyRefunded, OrderEvent::RefundRequested { amounts }) => {
                if amounts.insurance.is_negative() || amounts.self_pay.is_negative() || amounts.total().0 == 0 {
                    return Err(TransitionError::AmountMismatch);
                }
                if amounts.insurance > self.refundable(Channel::Insurance) || amounts.self_pay > self.refundable(Channel::SelfPay) {
                    return Err(TransitionError::RefundExceedsCaptured);
                }
                self.before_refund = Some(self.state);
                self.refund_in_flight.add(Channel::Insurance, amounts.insurance);
                self.refund_in_flight.add(Channel::SelfPay, amounts.self_pay);
                self.to(S::Refunding)
            }
            (S::Refunding, OrderEvent::RefundRequested { .. }) => not_allowed(S::Refunding),

            (S::Refunding, OrderEvent::RefundSucceeded { amounts }) => {
                if amounts != self.refund_in_flight {
                    return Err(TransitionError::AmountMismatch);
                }
                self.refunded.add(Channel::Insurance, amounts.insurance);
                self.refunded.add(Channel::SelfPay, amounts.self_pay);
                self.refund_in_flight = PerChannel::default();
                let everything_back = self.refunded == self.captured;
                self.before_refund = None;
                if everything_back {
                    let closed_before_paid = self.split.total() != self.captured.total();
                    self.to(if closed_before_paid { S::Closed } else { S::Refunded })
                } else {
                    self.to(S::PartiallyRefunded)
                }
            }
            (S::Refunding, OrderEvent::RefundFailed { amounts }) => {
                if amounts != self.refund_in_flight {
                    return Err(TransitionError::AmountMismatch);
                }
                self.refund_in_flight = PerChannel::default();
                let back = self.before_refund.take().unwrap_or(S::Paid);
                self.to(back)
            }
            (S::Refunded | S::PartiallyRefunded | S::Fulfilled | S::Paid, OrderEvent::RefundSucceeded { .. }) => Ok(Applied::AlreadyApplied),

            (s, _) => not_allowed(s),
        }
    }

    /// The invariants every reachable order keeps (checked by the property tests).
    pub fn check_invariants(&self) -> Result<(), &'static str> {
        for c in [Channel::Insurance, Channel::SelfPay] {
            if self.captured.get(c).is_negative() || self.captured.get(c) > self.due(c) {
                return Err("captured outside 0..=due");
            }
            if self.refunded.get(c).0 + self.refund_in_flight.get(c).0 > self.captured.get(c).0 {
                return Err("refunds exceed captured (P7)");
            }
            if self.refunded.get(c).is_negative() || self.refund_in_flight.get(c).is_negative() {
                return Err("negative refund");
            }
        }
        if self.split.total().0 != self.lines.iter().map(|l| l.amount.0).sum::<i64>() {
            return Err("parts do not sum to the total (P9)");
        }
        match self.state {
            OrderState::Paid | OrderState::Fulfilled if !self.fully_captured() => Err("paid without full capture"),
            OrderState::Closed if self.captured != self.refunded => Err("closed while keeping money"),
            OrderState::Refunded if self.captured != self.refunded || self.captured.total().0 == 0 => Err("refunded but money kept"),
            OrderState::Refunding if self.refund_in_flight.total().0 == 0 => Err("refunding nothing"),
            s if s != OrderState::Refunding && self.refund_in_flight.total().0 != 0 => Err("refund in flight outside Refunding"),
            _ => Ok(()),
        }
    }
}

/// One row of an order list: what the lists show without decoding every body.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OrderRow {
    pub order_no: String,
    pub patient_id: Option<i64>,
    pub subject: Option<String>,
    pub dept_id: Option<String>,
    pub order: Order,
    pub version: i32,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the finance console searches by. Empty fields do not filter.
#[derive(Clone, Debug, Default)]
pub struct OrderFilter {
    pub order_no: Option<String>,
    pub state: Option<String>,
    pub purpose: Option<String>,
    pub patient_ids: Option<Vec<i64>>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn line(amount: i64) -> OrderLine {
        OrderLine { code: "X".into(), name: "项目".into(), qty: 1, unit_price: Fen(amount), amount: Fen(amount), insurable: true }
    }

    fn mixed() -> Order {
        Order::new(
            Purpose::OutpatientBill,
            vec![line(10_000)],
            Split { fund: Fen(6_000), personal_account: Fen(1_000), mutual_aid: Fen(0), self_pay: Fen(3_000) },
        )
        .unwrap()
    }

    #[test]
    fn state_names_match_their_serde_form() {
        for st in OrderState::ALL {
            assert_eq!(serde_json::to_value(st).unwrap(), serde_json::json!(st.as_str()));
            assert!(!st.label_zh().is_empty());
        }
        for p in Purpose::ALL {
            assert_eq!(serde_json::to_value(p).unwrap(), serde_json::json!(p.as_str()));
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn orders_must_add_up() {
        assert!(Order::new(Purpose::Registration, vec![line(100)], Split::self_pay_only(Fen(99))).is_err());
        assert!(Order::new(Purpose::Registration, vec![line(0)], Split::self_pay_only(Fen(0))).is_err());
        assert!(Order::new(Purpose::Registration, vec![line(100)], Split { fund: Fen(-1), self_pay: Fen(101), ..Default::default() }).is_err());
        let bad_line = OrderLine { code: "X".into(), name: "x".into(), qty: 2, unit_price: Fen(30), amount: Fen(70), insurable: false };
        assert!(Order::new(Purpose::Registration, vec![bad_line], Split::self_pay_only(Fen(70))).is_err());
    }

    #[test]
    fn mixed_payment_happy_path_and_duplicates() {
        let mut o = mixed();
        o.apply(OrderEvent::PaymentStarted).unwrap();
        assert_eq!(
            o.apply(OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) }).unwrap(),
            Applied::Changed { from: OrderState::Paying, to: OrderState::Paying }
        );
        assert_eq!(o.apply(OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) }).unwrap(), Applied::AlreadyApplied);
        assert_eq!(o.apply(OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(2_999) }), Err(TransitionError::AmountMismatch));
        o.apply(OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }).unwrap();
        assert_eq!(o.state, OrderState::Paid);
        assert_eq!(o.apply(OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }).unwrap(), Applied::AlreadyApplied);
        o.apply(OrderEvent::Fulfilled).unwrap();
        assert!(o.state.is_resting());
    }

    #[test]
    fn self_pay_failure_after_insurance_reverses_insurance() {
        let mut o = mixed();
        o.apply(OrderEvent::PaymentStarted).unwrap();
        o.apply(OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) }).unwrap();
        o.apply(OrderEvent::PaymentFailed { channel: Channel::SelfPay }).unwrap();
        assert_eq!(o.state, OrderState::Reversing);
        o.apply(OrderEvent::InsuranceReversed).unwrap();
        assert_eq!(o.state, OrderState::Closed);
        o.check_invariants().unwrap();
    }

    #[test]
    fn lost_service_refunds_everything_and_partial_refunds_add_up() {
        let mut o = mixed();
        o.apply(OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) }).unwrap();
        o.apply(OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }).unwrap();
        let mut p = o.clone();
        o.apply(OrderEvent::FulfilmentFailed).unwrap();
        o.apply(OrderEvent::RefundSucceeded { amounts: PerChannel { insurance: Fen(7_000), self_pay: Fen(3_000) } }).unwrap();
        assert_eq!(o.state, OrderState::Refunded);
        p.apply(OrderEvent::Fulfilled).unwrap();
        let part = PerChannel { insurance: Fen(0), self_pay: Fen(1_000) };
        p.apply(OrderEvent::RefundRequested { amounts: part }).unwrap();
        assert_eq!(p.apply(OrderEvent::RefundRequested { amounts: part }), Err(TransitionError::NotAllowed { state: OrderState::Refunding }));
        p.apply(OrderEvent::RefundSucceeded { amounts: part }).unwrap();
        assert_eq!(p.state, OrderState::PartiallyRefunded);
        assert_eq!(
            p.apply(OrderEvent::RefundRequested { amounts: PerChannel { insurance: Fen(0), self_pay: Fen(2_001) } }),
            Err(TransitionError::RefundExceedsCaptured)
        );
        let rest = PerChannel { insurance: Fen(7_000), self_pay: Fen(2_000) };
        p.apply(OrderEvent::RefundRequested { amounts: rest }).unwrap();
        p.apply(OrderEvent::RefundFailed { amounts: rest }).unwrap();
        assert_eq!(p.state, OrderState::PartiallyRefunded, "a failed refund returns to where it was");
        p.apply(OrderEvent::RefundRequested { amounts: rest }).unwrap();
        p.apply(OrderEvent::RefundSucceeded { amounts: rest }).unwrap();
        assert_eq!(p.state, OrderState::Refunded);
    }

    #[test]
    fn pricing_resplits_the_same_total_only_before_capture() {
        let mut o = Order::new(Purpose::OutpatientBill, vec![line(10_000)], Split::self_pay_only(Fen(10_000))).unwrap();
        let split = Split { fund: Fen(6_000), personal_account: Fen(1_000), mutual_aid: Fen(0), self_pay: Fen(3_000) };
        assert_eq!(o.apply(OrderEvent::Priced { split: Split::self_pay_only(Fen(9_999)) }), Err(TransitionError::InvalidSplit));
        o.apply(OrderEvent::Priced { split }).unwrap();
        assert_eq!(o.apply(OrderEvent::Priced { split }).unwrap(), Applied::AlreadyApplied);
        assert_eq!(o.due(Channel::Insurance), Fen(7_000));
        o.apply(OrderEvent::Captured { channel: Channel::Insurance, amount: Fen(7_000) }).unwrap();
        assert!(matches!(o.apply(OrderEvent::Priced { split: Split::self_pay_only(Fen(10_000)) }), Err(TransitionError::NotAllowed { .. })));
    }

    #[test]
    fn expiry_closes_or_unwinds() {
        let mut o = mixed();
        o.apply(OrderEvent::Expired).unwrap();
        assert_eq!(o.state, OrderState::Closed);
        assert!(
            matches!(o.apply(OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }), Err(TransitionError::NotAllowed { .. })),
            "late payment is not taken"
        );
        let mut o = mixed();
        o.apply(OrderEvent::Captured { channel: Channel::SelfPay, amount: Fen(3_000) }).unwrap();
        o.apply(OrderEvent::Expired).unwrap();
        assert_eq!(o.state, OrderState::Refunding);
        o.apply(OrderEvent::RefundSucceeded { amounts: PerChannel { insurance: Fen(0), self_pay: Fen(3_000) } }).unwrap();
        assert_eq!(o.state, OrderState::Closed);
        o.check_invariants().unwrap();
    }

    fn arb_order() -> impl Strategy<Value = Order> {
        (0i64..50_000, 0i64..20_000, 0i64..5_000, 0i64..50_000).prop_filter_map("positive total", |(f, a, m, s)| {
            let split = Split { fund: Fen(f), personal_account: Fen(a), mutual_aid: Fen(m), self_pay: Fen(s) };
            Order::new(Purpose::OutpatientBill, vec![line(split.total().0)], split).ok()
        })
    }

    fn arb_channel() -> impl Strategy<Value = Channel> {
        prop_oneof![Just(Channel::Insurance), Just(Channel::SelfPay)]
    }

    fn arb_amounts() -> impl Strategy<Value = PerChannel> {
        (0i64..60_000, 0i64..60_000).prop_map(|(i, s)| PerChannel { insurance: Fen(i), self_pay: Fen(s) })
    }

    /// Events drawn both at random and "right" for the order (the due amount, the
    /// in-flight refund), so deep paths are reached.
    fn arb_event() -> impl Strategy<Value = (u8, Channel, PerChannel, i64)> {
        (0u8..14, arb_channel(), arb_amounts(), 0i64..60_000)
    }

    fn make_event(o: &Order, (kind, channel, amounts, n): (u8, Channel, PerChannel, i64)) -> OrderEvent {
        match kind {
            0 => OrderEvent::PaymentStarted,
            1 => OrderEvent::Captured { channel, amount: o.due(channel) },
            2 => OrderEvent::Captured { channel, amount: Fen(n) },
            3 => OrderEvent::PaymentFailed { channel },
            4 => OrderEvent::Expired,
            5 => OrderEvent::InsuranceReversed,
            6 => OrderEvent::Fulfilled,
            7 => OrderEvent::FulfilmentFailed,
            8 => OrderEvent::RefundRequested {
                amounts: PerChannel {
                    insurance: Fen(amounts.insurance.0.min(o.refundable(Channel::Insurance).0.max(0))),
                    self_pay: Fen(amounts.self_pay.0.min(o.refundable(Channel::SelfPay).0.max(0))),
                },
            },
            9 => OrderEvent::RefundRequested { amounts },
            10 => OrderEvent::RefundSucceeded { amounts: o.refund_in_flight },
            11 => OrderEvent::RefundFailed { amounts: o.refund_in_flight },
            // A re-split of the same total (what 6202 answers), and one of a wrong total.
            12 => {
                let total = o.total().0;
                let insurance = n.min(total);
                OrderEvent::Priced {
                    split: Split {
                        fund: Fen(insurance / 2),
                        personal_account: Fen(insurance - insurance / 2),
                        mutual_aid: Fen(0),
                        self_pay: Fen(total - insurance),
                    },
                }
            }
            _ => OrderEvent::Priced { split: Split::self_pay_only(Fen(o.total().0 + 1 + n % 3)) },
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// G9 (money invariants) for the order model: whatever sequence of events,
        /// duplicated or out of order, refunds never exceed captures, parts always sum
        /// to the total, and an error never changes anything.
        #[test]
        fn invariants_hold_under_any_event_sequence(mut o in arb_order(), events in proptest::collection::vec(arb_event(), 1..50)) {
            for e in events {
                let ev = make_event(&o, e);
                let before = o.clone();
                match o.apply(ev) {
                    Ok(Applied::AlreadyApplied) => prop_assert_eq!(&o, &before, "a duplicate changed the order"),
                    Ok(Applied::Changed { from, to }) => { prop_assert_eq!(from, before.state); prop_assert_eq!(to, o.state); }
                    Err(_) => prop_assert_eq!(&o, &before, "a refused event changed the order"),
                }
                if let Err(why) = o.check_invariants() {
                    prop_assert!(false, "{} after {:?} from {:?}", why, ev, before.state);
                }
            }
        }

        /// P1: delivering the same capture N times changes the order exactly once.
        #[test]
        fn repeated_captures_apply_once(mut o in arb_order(), n in 1usize..10, channel in arb_channel()) {
            let due = o.due(channel);
            prop_assume!(due.0 > 0);
            let mut changes = 0;
            for _ in 0..n {
                if let Ok(Applied::Changed { .. }) = o.apply(OrderEvent::Captured { channel, amount: due }) { changes += 1; }
            }
            prop_assert_eq!(changes, 1);
            prop_assert_eq!(o.captured.get(channel), due);
        }
    }
}
