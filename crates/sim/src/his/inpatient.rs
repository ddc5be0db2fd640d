//! The HIS simulator's wards: stays that charge day by day, deposits by several channels,
//! 封账, the discharge pre-settlement / settlement / cancellation (with the NHSA 2303/2304
//! `setlinfo` an insured stay carries) and the discharge summary. Operation names and
//! fields are our choice, in the style of the HIS operations of protocols.md §8.2 [I].
use super::*;
use crate::demo::StayProfile;

/// How long a settled stay stays visible to `inhospital_info` (the patient sees how it
/// ended) [I].
const SETTLED_VISIBLE_DAYS: i64 = 7;
/// The insurance rule the simulator applies to an insured stay [I]: after the items the
/// patient pays whole (丙) or in part first (乙), a deductible, then the fund pays a ratio.
const DEDUCTIBLE: i64 = 80_000;
const FUND_PERMILLE: i64 = 900;

pub(super) struct Deposit {
    pub(super) deposit_no: String,
    pub(super) at: DateTime<Utc>,
    pub(super) amount: Fen,
    pub(super) refunded: Fen,
    /// BANK, CASH or POS.
    pub(super) way: &'static str,
    pub(super) trade_no: Option<String>,
    pub(super) operator: String,
    /// The card it was posted against (deposits paid on the phone; the window's are not).
    pub(super) card_no: Option<String>,
}

pub(super) struct Settlement {
    settle_id: String,
    settle_no: Option<String>,
    invoice_no: String,
    at: DateTime<Utc>,
    fund: Fen,
    setlinfo: Value,
    /// (deposit, amount) given back by this settlement.
    refunds: Vec<(String, Fen)>,
}

pub(super) struct Stay {
    pub(super) inpatient_no: String,
    pub(super) patient_id: String,
    pub(super) ward: String,
    pub(super) bed: String,
    doctor: String,
    nurse: String,
    diagnosis: String,
    profile: StayProfile,
    pub(super) admitted_at: DateTime<Utc>,
    pub(super) deposits: Vec<Deposit>,
    closed_on: Option<NaiveDate>,
    discharge_ordered: bool,
    settlement: Option<Settlement>,
    /// Lines added to every day (the fee-list benchmark's long, dense stay).
    extra_lines_per_day: usize,
}

/// A stay for the demo or a test: who, what for, admitted how many days ago, and the
/// deposits paid at the window (amount in fen, CASH or POS, days after admission).
#[derive(Clone, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Admission {
    /// The HIS's patient id, or (for scripts that only know the person) empty with
    /// `id_card_no` given.
    #[serde(default)]
    pub patient_id: String,
    #[serde(default)]
    pub id_card_no: String,
    pub profile: StayProfile,
    pub days_ago: i64,
    #[serde(default)]
    pub deposits: Vec<(i64, String, i64)>,
    #[serde(default)]
    pub discharge_ordered: bool,
    /// Extra lines on every day of the stay (a dense stay for the benchmark).
    #[serde(default)]
    pub extra_lines_per_day: usize,
}

fn ward_of(profile: StayProfile) -> (&'static str, &'static str, &'static str, &'static str) {
    match profile {
        StayProfile::Cardiology => ("心血管内科病区（住院部8楼）", "陈建国", "刘芳", "冠状动脉粥样硬化性心脏病；不稳定型心绞痛"),
        StayProfile::Orthopaedics => ("骨科病区（住院部6楼）", "王志刚", "何丽", "右股骨干骨折"),
    }
}

impl Stay {
    fn admitted_on(&self) -> NaiveDate {
        domain::clock::to_local(self.admitted_at).date_naive()
    }

    /// The days charged so far: from admission to today, or to the day of 封账.
    fn charged_days(&self, today: NaiveDate) -> i64 {
        let last = self.closed_on.map_or(today, |c| c.min(today));
        (last - self.admitted_on()).num_days().max(-1)
    }

    /// One day's lines: the profile's, and the extra ones of a dense stay.
    fn day_lines(&self, day: i64) -> Vec<(FeeItem, &'static str, &'static str, f64)> {
        let mut lines = demo::stay_day(self.profile, day);
        lines.extend(demo::extra_day_lines(day, self.extra_lines_per_day));
        lines
    }

    fn lines(&self, today: NaiveDate) -> Vec<(FeeItem, &'static str, &'static str, f64)> {
        (0..=self.charged_days(today)).flat_map(|d| self.day_lines(d)).collect()
    }

    fn charges(&self, today: NaiveDate) -> Fen {
        Fen(self.lines(today).iter().map(|l| l.0.amount.0).sum())
    }

    fn held(&self) -> Fen {
        Fen(self.deposits.iter().map(|d| d.amount.0 - d.refunded.0).sum())
    }

    fn json(&self, today: NaiveDate) -> Value {
        json!({
            "inpatientNo": self.inpatient_no, "ward": self.ward, "bed": self.bed, "admitTime": self.admitted_at.to_rfc3339(),
            "prepayBalance": self.held().0, "totalCost": self.charges(today).0, "accountClosed": self.closed_on.is_some(),
            "doctor": self.doctor, "nurse": self.nurse, "diagnosis": self.diagnosis, "dischargeOrdered": self.discharge_ordered,
            "settleTime": self.settlement.as_ref().map(|x| x.at.to_rfc3339()),
        })
    }
}

fn deposit_json(d: &Deposit) -> Value {
    json!({"depositNo": d.deposit_no, "payTime": d.at.to_rfc3339(), "amount": d.amount.0, "refunded": d.refunded.0, "payWay": d.way,
           "payTradeNo": d.trade_no, "operator": d.operator})
}

fn yuan(f: i64) -> String {
    Fen(f).to_yuan_string()
}

/// The quote of a stay: (total, fund, own, setlinfo or null). Insured patients get the
/// fund's part by the rule above; the rest is the patient's.
fn quote(lines: &[(FeeItem, &'static str, &'static str, f64)], insured: Option<(&str, &str)>) -> (i64, i64, i64, Value) {
    let total: i64 = lines.iter().map(|l| l.0.amount.0).sum();
    let Some((psn_no, mdtrt_id)) = insured else { return (total, 0, total, Value::Null) };
    let full: i64 = lines.iter().filter(|l| l.2 == "丙").map(|l| l.0.amount.0).sum();
    let pre: i64 = lines.iter().filter(|l| l.2 == "乙").map(|l| (l.0.amount.0 as f64 * l.3).round() as i64).sum();
    let covered = (total - full - pre).max(0);
    let deductible = covered.min(DEDUCTIBLE);
    let fund = ((covered - deductible) * FUND_PERMILLE + 500) / 1000;
    let own = total - fund;
    let setlinfo = json!({
        "mdtrt_id": mdtrt_id, "psn_no": psn_no, "insutype": "310", "medfee_sumamt": yuan(total),
        "fulamt_ownpay_amt": yuan(full), "overlmt_selfpay": "0.00", "preselfpay_amt": yuan(pre), "inscp_scp_amt": yuan(covered),
        "act_pay_dedc": yuan(deductible), "hifp_pay": yuan(fund), "pool_prop_selfpay": "0.10", "fund_pay_sumamt": yuan(fund),
        "acct_pay": "0.00", "psn_cash_pay": yuan(own), "psn_part_amt": yuan(own), "hosp_part_amt": "0.00",
    });
    (total, fund, own, setlinfo)
}

impl HisState {
    pub(super) fn admit(&mut self, a: &Admission) -> Result<String, String> {
        let mut a = a.clone();
        if a.patient_id.is_empty() {
            a.patient_id = self.patients.iter().find(|p| p.citizen.id_card_no == a.id_card_no).map(|p| p.patient_id.clone()).unwrap_or_default();
        }
        let a = &a;
        if self.patient_by_id(&a.patient_id).is_none() {
            return Err("unknown patient".into());
        }
        let now = self.clock.now();
        let admitted_at = now - Duration::days(a.days_ago.clamp(0, 365));
        self.stays.retain(|x| x.patient_id != a.patient_id);
        let inpatient_no = self.next("ZY");
        let (ward, doctor, nurse, diagnosis) = ward_of(a.profile);
        let mut deposits = Vec::new();
        for (amount, way, day) in &a.deposits {
            let way = match way.as_str() {
                "CASH" => "CASH",
                "POS" => "POS",
                _ => return Err("window deposits are CASH or POS".into()),
            };
            deposits.push(Deposit {
                deposit_no: self.next("YJ"),
                at: admitted_at + Duration::days(*day) + Duration::hours(2),
                amount: Fen(*amount),
                refunded: Fen::ZERO,
                way,
                trade_no: None,
                operator: "住院收费处 李敏".into(),
                card_no: None,
            });
        }
        let bed = format!("{:02}-{:02}床", if a.profile == StayProfile::Cardiology { 8 } else { 6 }, 1 + self.stays.len() % 30);
        self.stays.push(Stay {
            inpatient_no: inpatient_no.clone(),
            patient_id: a.patient_id.clone(),
            ward: ward.into(),
            bed,
            doctor: doctor.into(),
            nurse: nurse.into(),
            diagnosis: diagnosis.into(),
            profile: a.profile,
            admitted_at,
            deposits,
            closed_on: None,
            discharge_ordered: a.discharge_ordered,
            settlement: None,
            extra_lines_per_day: a.extra_lines_per_day.min(200),
        });
        Ok(inpatient_no)
    }

    fn today(&self) -> NaiveDate {
        domain::clock::to_local(self.clock.now()).date_naive()
    }

    /// A stay still visible: in hospital, or settled in the last days.
    fn visible(&self, x: &Stay) -> bool {
        x.settlement.as_ref().is_none_or(|st| self.clock.now() - st.at < Duration::days(SETTLED_VISIBLE_DAYS))
    }

    fn stay_by_no(&self, no: &str) -> Result<&Stay, (&'static str, String)> {
        self.stays.iter().find(|x| x.inpatient_no == no).ok_or(("2010", "无在院记录".to_owned()))
    }

    fn stay_index(&self, no: &str) -> Result<usize, (&'static str, String)> {
        self.stays.iter().position(|x| x.inpatient_no == no).ok_or(("2010", "无在院记录".to_owned()))
    }

    /// The patient's stay: number, ward, and deposit balance (deposits − charges, in fen).
    pub fn stay_of(&self, patient_id: &str) -> Option<(String, String, i64)> {
        let today = self.today();
        self.stays.iter().find(|x| x.patient_id == patient_id).map(|x| (x.inpatient_no.clone(), x.ward.clone(), x.held().0 - x.charges(today).0))
    }

    pub(super) fn inhospital_info(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?;
        let today = self.today();
        match self.stays.iter().find(|x| x.patient_id == pid && self.visible(x)) {
            Some(x) => Ok(x.json(today)),
            None => err("2010", "无在院记录"),
        }
    }

    pub(super) fn ward_inpatients(&mut self, _data: &Value) -> OpResult {
        let today = self.today();
        let rows = self
            .stays
            .iter()
            .filter(|x| self.visible(x))
            .map(|x| {
                let mut v = x.json(today);
                let name = self.patient_by_id(&x.patient_id).map(|p| p.citizen.name.clone()).unwrap_or_default();
                v["patientId"] = json!(x.patient_id);
                v["name"] = json!(name);
                v
            })
            .collect();
        Ok(Value::Array(rows))
    }

    /// The stay's charges so far by class, with the self-pay part as each line's rate gives it.
    pub(super) fn inhospital_fee_summary(&mut self, data: &Value) -> OpResult {
        let today = self.today();
        let x = self.stay_by_no(s(data, "inpatientNo")?)?;
        let lines = x.lines(today);
        let classes: Vec<Value> = ["甲", "乙", "丙"]
            .iter()
            .filter_map(|c| {
                let of: Vec<_> = lines.iter().filter(|l| l.2 == *c).collect();
                let amount: i64 = of.iter().map(|l| l.0.amount.0).sum();
                let self_pay: i64 = of.iter().map(|l| (l.0.amount.0 * (l.3 * 1000.0).round() as i64 + 500) / 1000).sum();
                (!of.is_empty()).then(|| json!({"insClass": c, "amount": amount, "selfPay": self_pay}))
            })
            .collect();
        Ok(json!({"classes": classes}))
    }

    /// The card's transactions: its recharges, and the deposits of the patient's stays posted
    /// against it with what discharge gave back of them.
    pub(super) fn card_trades(&mut self, data: &Value) -> OpResult {
        let pid = s(data, "patientId")?.to_owned();
        if self.patient_by_id(&pid).is_none() {
            return err("2020", "无就诊卡");
        }
        let mut rows: Vec<Value> = self
            .card_log
            .iter()
            .filter(|x| x.patient_id == pid)
            .map(|x| json!({"tradeNo": x.trade_no, "tradeType": x.kind, "amount": x.amount, "tradeTime": x.at.to_rfc3339(), "remark": x.remark}))
            .collect();
        for x in self.stays.iter().filter(|x| x.patient_id == pid) {
            for d in &x.deposits {
                let way = match d.way {
                    "BANK" => "线上支付",
                    "POS" => "窗口刷卡",
                    _ => "窗口现金",
                };
                let card = d.card_no.as_deref().map(|c| format!("，记入卡 {c}")).unwrap_or_default();
                rows.push(json!({"tradeNo": d.deposit_no, "tradeType": "DEPOSIT", "amount": d.amount.0, "tradeTime": d.at.to_rfc3339(), "remark": format!("{} 住院押金（{way}{card}）", x.ward)}));
                if d.refunded.0 > 0 {
                    let at = x.settlement.as_ref().map_or(d.at, |st| st.at);
                    rows.push(json!({"tradeNo": format!("{}-R", d.deposit_no), "tradeType": "REFUND", "amount": -d.refunded.0, "tradeTime": at.to_rfc3339(), "remark": "出院结算退还押金"}));
                }
            }
        }
        Ok(Value::Array(rows))
    }

    pub(super) fn inhospital_deposits(&mut self, data: &Value) -> OpResult {
        let x = self.stay_by_no(s(data, "inpatientNo")?)?;
        Ok(Value::Array(x.deposits.iter().map(deposit_json).collect()))
    }

    pub(super) fn prepay(&mut self, data: &Value) -> OpResult {
        let no = s(data, "inpatientNo")?.to_owned();
        let amount = fen(data, "amount")?;
        let trade_no = s(data, "payTradeNo")?.to_owned();
        let card_no = s(data, "cardNo")?.to_owned();
        if amount.0 <= 0 {
            return err("1001", "金额必须大于0");
        }
        let i = self.stay_index(&no)?;
        // Deposits are posted against the patient's card (virtual or bound); another card is refused.
        let owner = self.stays[i].patient_id.clone();
        if self.card_no_of(&owner).as_deref() != Some(card_no.as_str()) {
            return err("2021", "卡号与患者不符");
        }
        if !self.stays[i].deposits.iter().any(|d| d.trade_no.as_deref() == Some(trade_no.as_str())) {
            if self.stays[i].closed_on.is_some() {
                return err("2011", "已封账，请办理出院结算");
            }
            let (now, deposit_no) = (self.clock.now(), self.next("YJ"));
            self.stays[i].deposits.push(Deposit {
                deposit_no,
                at: now,
                amount,
                refunded: Fen::ZERO,
                way: "BANK",
                trade_no: Some(trade_no.clone()),
                operator: "微信服务号".into(),
                card_no: Some(card_no.clone()),
            });
            self.trades.push(Trade { trade_no, kind: "deposit", amount, at: now });
        }
        Ok(json!({"prepayBalance": self.stays[i].held().0}))
    }

    /// A deposit paid at the window (demo and tests): cash or POS.
    pub(super) fn window_deposit(&mut self, no: &str, amount: Fen, way: &'static str) -> OpResult {
        let i = self.stay_index(no)?;
        if self.stays[i].closed_on.is_some() {
            return err("2011", "已封账，请办理出院结算");
        }
        let (now, deposit_no) = (self.clock.now(), self.next("YJ"));
        self.stays[i].deposits.push(Deposit {
            deposit_no,
            at: now,
            amount,
            refunded: Fen::ZERO,
            way,
            trade_no: None,
            operator: "住院收费处 李敏".into(),
            card_no: None,
        });
        Ok(json!({"prepayBalance": self.stays[i].held().0}))
    }

    /// 封账: the day's charges are the last; closing again changes nothing.
    pub(super) fn inhospital_close(&mut self, data: &Value) -> OpResult {
        let today = self.today();
        let i = self.stay_index(s(data, "inpatientNo")?)?;
        let x = &mut self.stays[i];
        if x.settlement.is_some() {
            return err("2013", "该住院已结算");
        }
        x.closed_on.get_or_insert(today);
        x.discharge_ordered = true;
        Ok(json!({"accountClosed": true}))
    }

    fn insured(&self, patient_id: &str, inpatient_no: &str) -> Option<(String, String)> {
        let p = self.patient_by_id(patient_id)?;
        let c = &p.citizen.coverage;
        (c.kind != domain::insurance::InsuranceKind::SelfPay).then(|| (c.psn_no.clone().unwrap_or_default(), format!("MD{inpatient_no}")))
    }

    /// The quote of a closed stay with its id: the id names the figures, so a quote taken
    /// before a change (a deposit, a late charge) no longer settles.
    fn current_quote(&self, i: usize) -> (String, i64, i64, i64, Value) {
        let x = &self.stays[i];
        let insured = self.insured(&x.patient_id, &x.inpatient_no);
        let (total, fund, own, setlinfo) = quote(&x.lines(self.today()), insured.as_ref().map(|(a, b)| (a.as_str(), b.as_str())));
        (format!("PS{}-{total}-{}", x.inpatient_no, x.held().0), total, fund, own, setlinfo)
    }

    pub(super) fn inhospital_presettle(&mut self, data: &Value) -> OpResult {
        let i = self.stay_index(s(data, "inpatientNo")?)?;
        let x = &self.stays[i];
        if x.settlement.is_some() {
            return err("2013", "该住院已结算");
        }
        if x.closed_on.is_none() {
            return err("2012", "尚未封账");
        }
        let (id, total, fund, own, setlinfo) = self.current_quote(i);
        let deposits: Vec<Value> = self.stays[i].deposits.iter().map(deposit_json).collect();
        Ok(json!({"preSettleId": id, "totalFee": total, "fundPay": fund, "acctPay": 0, "ownPay": own, "deposits": deposits, "setlinfo": setlinfo}))
    }

    fn settled_json(st: &Settlement) -> Value {
        json!({"settleId": st.settle_id, "invoiceNo": st.invoice_no, "settleTime": st.at.to_rfc3339(), "fundPay": st.fund.0, "setlinfo": st.setlinfo})
    }

    /// 住院结算: the payment must be exactly what the deposits lack, the refunds exactly
    /// their surplus, each from a deposit that still holds it. A repeat of the same
    /// settlement number answers the same settlement; any other after one: 2013.
    pub(super) fn inhospital_settle(&mut self, data: &Value) -> OpResult {
        let i = self.stay_index(s(data, "inpatientNo")?)?;
        let settle_no = s(data, "settleNo")?.to_owned();
        if let Some(st) = &self.stays[i].settlement {
            return if st.settle_no.as_deref() == Some(settle_no.as_str()) {
                Ok(Self::settled_json(st))
            } else {
                err("2013", "该住院已在窗口办理结算")
            };
        }
        if self.stays[i].closed_on.is_none() {
            return err("2012", "尚未封账");
        }
        let (id, _total, fund, own, mut setlinfo) = self.current_quote(i);
        if s(data, "preSettleId")? != id {
            return err("2014", "预结算已失效，请重新预结算");
        }
        let held = self.stays[i].held().0;
        let pay = data.get("payAmount").and_then(Value::as_i64).unwrap_or(0);
        let trade = data.get("payTradeNo").and_then(Value::as_str).unwrap_or("").to_owned();
        if pay != (own - held).max(0) || (pay > 0 && trade.is_empty()) {
            return err("2016", "补缴金额与应补金额不符");
        }
        let mut refunds: Vec<(String, Fen)> = Vec::new();
        for r in data.get("refunds").and_then(Value::as_array).into_iter().flatten() {
            let dno = r.get("depositNo").and_then(Value::as_str).unwrap_or("").to_owned();
            let amount = r.get("amount").and_then(Value::as_i64).unwrap_or(0);
            let Some(d) = self.stays[i].deposits.iter().find(|d| d.deposit_no == dno) else { return err("2017", "退款押金不存在") };
            if amount <= 0 || amount > d.amount.0 - d.refunded.0 || refunds.iter().any(|(n, _)| *n == dno) {
                return err("2017", "退款金额超出押金余额");
            }
            refunds.push((dno, Fen(amount)));
        }
        if refunds.iter().map(|r| r.1.0).sum::<i64>() != (held - own).max(0) {
            return err("2017", "退款合计与应退金额不符");
        }
        let now = self.clock.now();
        let (settle_id, invoice_no) = (self.next("JS"), self.next("FP"));
        if !setlinfo.is_null() {
            setlinfo["setl_id"] = json!(format!("SETL{settle_id}"));
        }
        let x = &mut self.stays[i];
        for (dno, amount) in &refunds {
            if let Some(d) = x.deposits.iter_mut().find(|d| d.deposit_no == *dno) {
                d.refunded = Fen(d.refunded.0 + amount.0);
            }
        }
        let st = Settlement { settle_id, settle_no: Some(settle_no), invoice_no, at: now, fund: Fen(fund), setlinfo, refunds };
        let answer = Self::settled_json(&st);
        x.settlement = Some(st);
        if pay > 0 {
            self.trades.push(Trade { trade_no: trade, kind: "discharge", amount: Fen(pay), at: now });
        }
        Ok(answer)
    }

    /// The cashier settles the stay at the window (demo and tests): the surplus is given
    /// back there, or the shortfall taken there.
    pub(super) fn window_settle(&mut self, no: &str) -> OpResult {
        let i = self.stay_index(no)?;
        if self.stays[i].settlement.is_some() {
            return err("2013", "该住院已结算");
        }
        let today = self.today();
        let (_, _, fund, _, setlinfo) = self.current_quote(i);
        let (now, settle_id, invoice_no) = (self.clock.now(), self.next("JS"), self.next("FP"));
        let x = &mut self.stays[i];
        x.closed_on.get_or_insert(today);
        let refunds = x.deposits.iter().map(|d| (d.deposit_no.clone(), Fen(d.amount.0 - d.refunded.0))).collect();
        for d in &mut x.deposits {
            d.refunded = d.amount;
        }
        x.settlement = Some(Settlement { settle_id: settle_id.clone(), settle_no: None, invoice_no, at: now, fund: Fen(fund), setlinfo, refunds });
        Ok(json!({"settleId": settle_id}))
    }

    /// 撤销住院结算 (2305): the deposits hold again what the settlement gave back.
    pub(super) fn inhospital_cancel_settle(&mut self, data: &Value) -> OpResult {
        let id = s(data, "settleId")?;
        let Some(x) = self.stays.iter_mut().find(|x| x.settlement.as_ref().is_some_and(|st| st.settle_id == id)) else {
            return err("2018", "结算记录不存在");
        };
        let st = x.settlement.take().expect("found by its settlement");
        for (dno, amount) in st.refunds {
            if let Some(d) = x.deposits.iter_mut().find(|d| d.deposit_no == dno) {
                d.refunded = Fen(d.refunded.0 - amount.0);
            }
        }
        Ok(json!({}))
    }

    pub(super) fn discharge_summary(&mut self, data: &Value) -> OpResult {
        let x = self.stay_by_no(s(data, "inpatientNo")?)?;
        if !x.discharge_ordered {
            return err("2015", "出院小结尚未完成");
        }
        let admitted = x.admitted_on();
        let discharged = x.closed_on.unwrap_or_else(|| self.today());
        let (course, condition, advice, medicines, follow_up) = match x.profile {
            StayProfile::Cardiology => (
                "入院后完善心脏超声、动态心电图等检查，第2天行冠状动脉造影术，术中见前降支中段狭窄约50%，予抗血小板、调脂、扩冠等药物治疗，症状缓解。",
                "神志清，精神可，无胸闷胸痛，心率72次/分，血压126/78mmHg，病情稳定，准予出院。",
                "低盐低脂饮食，戒烟限酒，适量活动；按时服药，不可自行停药；如有胸痛持续不缓解请立即就医。",
                json!([
                    {"name": "阿司匹林肠溶片", "spec": "100mg×30片", "qty": "1盒", "usage": "每日1次，每次100mg，早餐前口服"},
                    {"name": "阿托伐他汀钙片", "spec": "20mg×7片", "qty": "2盒", "usage": "每晚1次，每次20mg，口服"},
                ]),
                json!({"date": (discharged + Duration::days(14)).format("%Y-%m-%d").to_string(), "place": "心血管内科专家门诊（门诊楼3楼）"}),
            ),
            StayProfile::Orthopaedics => (
                "入院后完善下肢CT等检查，第2天在全麻下行股骨干骨折切开复位内固定术，手术顺利，术后予抗感染、消肿、镇痛治疗，切口愈合良好。",
                "神志清，切口干燥无渗出，右下肢末梢血运、感觉良好，可扶拐下地，准予出院。",
                "患肢避免负重，扶双拐行走；术后2周门诊拆线；如切口红肿、渗液或发热请及时就诊。",
                json!([{"name": "塞来昔布胶囊", "spec": "0.2g×6粒", "qty": "1盒", "usage": "每日1次，每次0.2g，饭后口服（疼痛时）"}]),
                json!({"date": (discharged + Duration::days(14)).format("%Y-%m-%d").to_string(), "place": "骨科门诊（门诊楼2楼）拆线复查"}),
            ),
        };
        Ok(json!({
            "admitDate": admitted.format("%Y-%m-%d").to_string(), "dischargeDate": discharged.format("%Y-%m-%d").to_string(),
            "admitDiagnosis": x.diagnosis, "dischargeDiagnosis": x.diagnosis, "course": course, "condition": condition, "advice": advice,
            "medicines": medicines, "followUp": follow_up, "doctor": x.doctor, "fileId": null,
        }))
    }

    pub(super) fn daily_list(&mut self, data: &Value) -> OpResult {
        let no = s(data, "inpatientNo")?;
        let date = NaiveDate::parse_from_str(s(data, "date")?, "%Y-%m-%d").map_err(|_| ("1001", "日期格式错误".to_owned()))?;
        let today = self.today();
        let x = self.stay_by_no(no)?;
        let day = (date - x.admitted_on()).num_days();
        let items = if day < 0 || day > x.charged_days(today) { vec![] } else { x.day_lines(day) };
        let total: i64 = items.iter().map(|i| i.0.amount.0).sum::<i64>() + if items.is_empty() { 0 } else { self.faults.fee_list_off_by };
        let lines: Vec<Value> = items
            .iter()
            .map(|(i, spec, class, rate)| {
                json!({"itemCode": i.item_code, "itemName": i.name, "qty": i.qty, "price": i.unit_price.0, "amount": i.amount.0,
                       "insurable": i.insurable, "spec": spec, "insClass": class, "selfPayRate": rate})
            })
            .collect();
        Ok(json!({"date": date.format("%Y-%m-%d").to_string(), "items": lines, "totalFee": total}))
    }
}

/// Control endpoints of the wards (demo and tests), beside the HIS's own operations.
pub(super) fn router() -> Router<SharedHis> {
    Router::new()
        .route("/__sim/his/inpatient/admit", post(admit))
        .route("/__sim/his/inpatient/{no}/close", post(close))
        .route("/__sim/his/inpatient/{no}/window-settle", post(window_settle))
        .route("/__sim/his/inpatient/{no}/window-deposit", post(window_deposit))
}

async fn admit(State(st): State<SharedHis>, Json(a): Json<Admission>) -> Response {
    match st.lock().expect("his lock").admit(&a) {
        Ok(no) => Json(json!({"inpatientNo": no})).into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

/// A control endpoint's answer: the operation's data, or its refusal as 409.
pub(super) fn control(r: OpResult) -> Response {
    match r {
        Ok(v) => Json(v).into_response(),
        Err((code, msg)) => (StatusCode::CONFLICT, Json(json!({"resultCode": code, "resultMsg": msg}))).into_response(),
    }
}

async fn close(State(st): State<SharedHis>, Path(no): Path<String>) -> Response {
    control(st.lock().expect("his lock").inhospital_close(&json!({"inpatientNo": no, "operator": "模拟器"})))
}

async fn window_settle(State(st): State<SharedHis>, Path(no): Path<String>) -> Response {
    control(st.lock().expect("his lock").window_settle(&no))
}

#[derive(serde::Deserialize)]
struct WindowDeposit {
    amount: i64,
    way: String,
}

async fn window_deposit(State(st): State<SharedHis>, Path(no): Path<String>, Json(d): Json<WindowDeposit>) -> Response {
    let way = if d.way == "POS" { "POS" } else { "CASH" };
    if d.amount <= 0 {
        return (StatusCode::BAD_REQUEST, "amount").into_response();
    }
    control(st.lock().expect("his lock").window_deposit(&no, Fen(d.amount), way))
}

/// A settled stay as the records system lists it: number, the ward's department,
/// diagnosis, admitted and settled.
pub(super) type SettledStay = (String, &'static str, String, DateTime<Utc>, DateTime<Utc>);

impl HisState {
    /// The patient's settled stays, for the records system's list (REC-1).
    pub(super) fn settled_stays(&self, patient_id: &str) -> Vec<SettledStay> {
        self.stays
            .iter()
            .filter(|s| s.patient_id == patient_id)
            .filter_map(|s| {
                let settled = s.settlement.as_ref()?.at;
                let dept = match s.profile {
                    StayProfile::Orthopaedics => "骨科",
                    StayProfile::Cardiology => "心血管内科",
                };
                Some((s.inpatient_no.clone(), dept, s.diagnosis.clone(), s.admitted_at, settled))
            })
            .collect()
    }
}
