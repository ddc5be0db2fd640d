//! A patient's medical-insurance standing, modelled as data (protocols.md §7): the
//! Shenzhen tier, the bound community health centre (社康), a referral if any, the
//! personal-account balance and family mutual-aid grants — and the INS-2 rule that reads
//! them ([`InsuranceRules::decide`]). The rule is one function over data: the department
//! exceptions are rows a hospital edits, not code.
use crate::money::Fen;
use chrono::NaiveDate;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceKind {
    /// 一档 (employees' tier I, has a personal account).
    Tier1,
    /// 二档.
    Tier2,
    /// 三档 (legacy; still on old records).
    Tier3,
    /// 少儿医保 (residents' insurance for children, under a guardian).
    Children,
    /// 自费: no insurance.
    SelfPay,
}

impl InsuranceKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Tier1 => "医保一档",
            Self::Tier2 => "医保二档",
            Self::Tier3 => "医保三档",
            Self::Children => "少儿医保",
            Self::SelfPay => "自费",
        }
    }
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tier1 => "tier1",
            Self::Tier2 => "tier2",
            Self::Tier3 => "tier3",
            Self::Children => "children",
            Self::SelfPay => "self_pay",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Referral {
    pub referral_no: String,
    pub from_chc: String,
    /// The 定点 hospital code the referral sends the patient to.
    pub to_org: String,
    /// Department code the referral is for; `None` means any department.
    pub dept_id: Option<String>,
    pub valid_until: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MutualAidGrant {
    /// The 职工医保 account holder who lets this patient use the personal account.
    pub grantor_psn_no: String,
    pub grantor_name_masked: String,
    pub valid_until: NaiveDate,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Coverage {
    pub kind: InsuranceKind,
    /// 医保个人编号 (psn_no) at the insurance centre.
    pub psn_no: Option<String>,
    /// Bound community health centre code (绑定社康), for tiers 2/3 and children.
    pub bound_chc: Option<String>,
    pub referral: Option<Referral>,
    pub personal_account_balance: Fen,
    pub mutual_aid_grants: Vec<MutualAidGrant>,
}

impl Coverage {
    pub fn self_pay() -> Self {
        Self { kind: InsuranceKind::SelfPay, psn_no: None, bound_chc: None, referral: None, personal_account_balance: Fen::ZERO, mutual_aid_grants: vec![] }
    }
}

impl InsuranceKind {
    pub const ALL: [InsuranceKind; 5] = [Self::Tier1, Self::Tier2, Self::Tier3, Self::Children, Self::SelfPay];

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Tiers whose hospital outpatient care needs a referral from the bound 社康.
    pub fn needs_referral(self) -> bool {
        matches!(self, Self::Tier2 | Self::Tier3 | Self::Children)
    }
}

/// A department the referral rule does not apply to (emergency, maternity, children's,
/// fever clinic …) for the listed kinds: one row of the hospital's rules table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeptException {
    pub dept_id: String,
    pub kinds: Vec<InsuranceKind>,
    /// Why, as the patient reads it: "儿科（限少儿）直接就诊".
    pub label: String,
}

/// The hospital's side of the rule: who it is (referrals must name it) and its
/// department exceptions.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct InsuranceRules {
    pub hospital_code: String,
    pub exceptions: Vec<DeptException>,
}

/// Why the patient's own insurance may pay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "basis", rename_all = "snake_case")]
pub enum InsuranceBasis {
    /// 一档: any 定点 hospital, no binding.
    Tier1,
    /// A valid referral from the bound 社康.
    Referral { referral_no: String },
    /// A department the referral rule does not cover.
    DepartmentException { label: String },
}

/// Why insurance may not pay this visit (the 医保挂号异常提醒 says it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InsuranceRefusal {
    NotInsured,
    NoBoundChc,
    NoReferral,
    ReferralExpired,
    ReferralFromOtherChc,
    ReferralToOtherHospital,
    ReferralForOtherDepartment,
}

impl InsuranceRefusal {
    pub const ALL: [InsuranceRefusal; 7] = [
        Self::NotInsured,
        Self::NoBoundChc,
        Self::NoReferral,
        Self::ReferralExpired,
        Self::ReferralFromOtherChc,
        Self::ReferralToOtherHospital,
        Self::ReferralForOtherDepartment,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotInsured => "not_insured",
            Self::NoBoundChc => "no_bound_chc",
            Self::NoReferral => "no_referral",
            Self::ReferralExpired => "referral_expired",
            Self::ReferralFromOtherChc => "referral_from_other_chc",
            Self::ReferralToOtherHospital => "referral_to_other_hospital",
            Self::ReferralForOtherDepartment => "referral_for_other_department",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// What happened, in the patient's words.
    pub fn reason_zh(self) -> &'static str {
        match self {
            Self::NotInsured => "该就诊人未登记医保信息",
            Self::NoBoundChc => "您参加的是医保二档/三档（或少儿医保），尚未绑定社康中心",
            Self::NoReferral => "您参加的是医保二档/三档（或少儿医保），本次就诊没有绑定社康开具的转诊单",
            Self::ReferralExpired => "您的转诊单已过有效期",
            Self::ReferralFromOtherChc => "您的转诊单不是由您绑定的社康中心开具的",
            Self::ReferralToOtherHospital => "您的转诊单转往其他医院，不适用于本院",
            Self::ReferralForOtherDepartment => "您的转诊单限定了其他科室，不适用于本科室",
        }
    }

    /// What the patient can do about it.
    pub fn advice_zh(self) -> &'static str {
        match self {
            Self::NotInsured => "可选择自费支付；如已参保，请到医保窗口核对参保信息。",
            Self::NoBoundChc => "可选择自费支付；或在“深圳医保”公众号绑定社康后，到社康办理转诊再来预约。",
            Self::NoReferral | Self::ReferralFromOtherChc | Self::ReferralToOtherHospital => {
                "可选择自费支付；或先到您绑定的社康中心就诊并开具转诊至本院的转诊单，再使用医保预约。"
            }
            Self::ReferralExpired => "可选择自费支付；或到绑定社康重新开具转诊单后再使用医保。",
            Self::ReferralForOtherDepartment => "可选择自费支付；或预约转诊单所列科室；或到社康重新开具转诊单。",
        }
    }
}

/// What INS-2 decides for one patient, one department, one day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "route", rename_all = "snake_case")]
pub enum Eligibility {
    /// The patient's own insurance (统筹, and the personal account where there is one).
    Insurance(InsuranceBasis),
    /// Not covered by the patient's own insurance here, but a relative's 家庭共济 grant
    /// lets their personal account pay (the family channel).
    MutualAid { grantor_name_masked: String, refusal: InsuranceRefusal },
    /// Self-pay only, and why.
    Refused { refusal: InsuranceRefusal },
}

impl Eligibility {
    pub fn insurance_may_pay(&self) -> bool {
        !matches!(self, Self::Refused { .. })
    }
}

impl InsuranceRules {
    /// The INS-2 rule, the same at booking, at pre-settlement and at settlement:
    /// tier 1 → insurance; tiers 2/3 and children → insurance in an exception department
    /// or with a valid referral (from the bound 社康, to this hospital, in date, and for
    /// this department where it names one); otherwise the family channel if a grant is
    /// in date; otherwise refused with the most specific reason. `dept_id` is `None` for
    /// a payment that belongs to no department.
    pub fn decide(&self, cov: &Coverage, dept_id: Option<&str>, today: NaiveDate) -> Eligibility {
        let refusal = match cov.kind {
            InsuranceKind::SelfPay => return Eligibility::Refused { refusal: InsuranceRefusal::NotInsured },
            InsuranceKind::Tier1 => return Eligibility::Insurance(InsuranceBasis::Tier1),
            kind => {
                if let Some(e) = dept_id.and_then(|d| self.exceptions.iter().find(|e| e.dept_id == d && e.kinds.contains(&kind))) {
                    return Eligibility::Insurance(InsuranceBasis::DepartmentException { label: e.label.clone() });
                }
                match self.referral_problem(cov, dept_id, today) {
                    None => {
                        let no = cov.referral.as_ref().map(|r| r.referral_no.clone()).unwrap_or_default();
                        return Eligibility::Insurance(InsuranceBasis::Referral { referral_no: no });
                    }
                    Some(r) => r,
                }
            }
        };
        match cov.mutual_aid_grants.iter().find(|g| g.valid_until >= today) {
            Some(g) => Eligibility::MutualAid { grantor_name_masked: g.grantor_name_masked.clone(), refusal },
            None => Eligibility::Refused { refusal },
        }
    }

    fn referral_problem(&self, cov: &Coverage, dept_id: Option<&str>, today: NaiveDate) -> Option<InsuranceRefusal> {
        let Some(chc) = cov.bound_chc.as_deref() else { return Some(InsuranceRefusal::NoBoundChc) };
        let Some(r) = &cov.referral else { return Some(InsuranceRefusal::NoReferral) };
        if r.from_chc != chc {
            return Some(InsuranceRefusal::ReferralFromOtherChc);
        }
        if r.to_org != self.hospital_code {
            return Some(InsuranceRefusal::ReferralToOtherHospital);
        }
        if r.valid_until < today {
            return Some(InsuranceRefusal::ReferralExpired);
        }
        match (&r.dept_id, dept_id) {
            (Some(want), Some(here)) if want != here => Some(InsuranceRefusal::ReferralForOtherDepartment),
            // A department-bound referral does not cover a payment of no department.
            (Some(_), None) => Some(InsuranceRefusal::ReferralForOtherDepartment),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSPITAL: &str = "H44030500001";
    const CHC: &str = "SK1";
    const PAEDS: &str = "0103";
    const MEDICINE: &str = "0101";
    const SURGERY: &str = "0102";

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 26).unwrap()
    }

    fn rules() -> InsuranceRules {
        InsuranceRules {
            hospital_code: HOSPITAL.into(),
            exceptions: vec![DeptException { dept_id: PAEDS.into(), kinds: vec![InsuranceKind::Children], label: "儿科（限少儿）".into() }],
        }
    }

    #[derive(Clone, Copy, Debug)]
    enum Ref {
        None,
        Valid,
        Expired,
        OtherChc,
        OtherHospital,
        ForMedicine,
    }

    fn coverage(kind: InsuranceKind, bound: bool, r: Ref, grant: Option<bool>) -> Coverage {
        let referral = |from: &str, to: &str, dept: Option<&str>, until: NaiveDate| {
            Some(Referral { referral_no: "ZZ1".into(), from_chc: from.into(), to_org: to.into(), dept_id: dept.map(str::to_owned), valid_until: until })
        };
        let t = today();
        Coverage {
            kind,
            psn_no: Some("P1".into()),
            bound_chc: bound.then(|| CHC.into()),
            referral: match r {
                Ref::None => None,
                Ref::Valid => referral(CHC, HOSPITAL, None, t),
                Ref::Expired => referral(CHC, HOSPITAL, None, t.pred_opt().unwrap()),
                Ref::OtherChc => referral("SK9", HOSPITAL, None, t),
                Ref::OtherHospital => referral(CHC, "H999", None, t),
                Ref::ForMedicine => referral(CHC, HOSPITAL, Some(MEDICINE), t),
            },
            personal_account_balance: Fen::ZERO,
            mutual_aid_grants: grant
                .map(|in_date| MutualAidGrant {
                    grantor_psn_no: "P0".into(),
                    grantor_name_masked: "张*".into(),
                    valid_until: if in_date { t } else { t.pred_opt().unwrap() },
                })
                .into_iter()
                .collect(),
        }
    }

    /// What the table below expects, written independently of `decide`: each row of
    /// INS-2 in the order the requirement states it.
    fn expected(kind: InsuranceKind, bound: bool, r: Ref, grant: Option<bool>, dept: Option<&str>) -> &'static str {
        if kind == InsuranceKind::SelfPay {
            return "refused:not_insured";
        }
        if kind == InsuranceKind::Tier1 {
            return "insurance:tier1";
        }
        if kind == InsuranceKind::Children && dept == Some(PAEDS) {
            return "insurance:department_exception";
        }
        let problem = match (bound, r) {
            (false, _) => Some("no_bound_chc"),
            (true, Ref::None) => Some("no_referral"),
            (true, Ref::OtherChc) => Some("referral_from_other_chc"),
            (true, Ref::OtherHospital) => Some("referral_to_other_hospital"),
            (true, Ref::Expired) => Some("referral_expired"),
            (true, Ref::ForMedicine) if dept != Some(MEDICINE) => Some("referral_for_other_department"),
            (true, Ref::ForMedicine | Ref::Valid) => None,
        };
        match (problem, grant) {
            (None, _) => "insurance:referral",
            (Some(p), Some(true)) => match p {
                "no_bound_chc" => "mutual_aid:no_bound_chc",
                "no_referral" => "mutual_aid:no_referral",
                "referral_from_other_chc" => "mutual_aid:referral_from_other_chc",
                "referral_to_other_hospital" => "mutual_aid:referral_to_other_hospital",
                "referral_expired" => "mutual_aid:referral_expired",
                _ => "mutual_aid:referral_for_other_department",
            },
            (Some(p), _) => match p {
                "no_bound_chc" => "refused:no_bound_chc",
                "no_referral" => "refused:no_referral",
                "referral_from_other_chc" => "refused:referral_from_other_chc",
                "referral_to_other_hospital" => "refused:referral_to_other_hospital",
                "referral_expired" => "refused:referral_expired",
                _ => "refused:referral_for_other_department",
            },
        }
    }

    fn summary(e: &Eligibility) -> String {
        match e {
            Eligibility::Insurance(InsuranceBasis::Tier1) => "insurance:tier1".into(),
            Eligibility::Insurance(InsuranceBasis::Referral { .. }) => "insurance:referral".into(),
            Eligibility::Insurance(InsuranceBasis::DepartmentException { .. }) => "insurance:department_exception".into(),
            Eligibility::MutualAid { refusal, .. } => format!("mutual_aid:{}", refusal.as_str()),
            Eligibility::Refused { refusal } => format!("refused:{}", refusal.as_str()),
        }
    }

    /// Every combination: 5 kinds × bound or not × 6 referral situations × no grant,
    /// an expired grant or a grant in date × 4 departments (the exception, the referral's,
    /// another, none) = 720 rows.
    #[test]
    fn every_combination_of_the_ins2_table() {
        let refs = [Ref::None, Ref::Valid, Ref::Expired, Ref::OtherChc, Ref::OtherHospital, Ref::ForMedicine];
        let mut rows = 0;
        let mut seen = std::collections::BTreeSet::new();
        for kind in InsuranceKind::ALL {
            for bound in [false, true] {
                for r in refs {
                    for grant in [None, Some(false), Some(true)] {
                        for dept in [Some(PAEDS), Some(MEDICINE), Some(SURGERY), None] {
                            let got = summary(&rules().decide(&coverage(kind, bound, r, grant), dept, today()));
                            let want = expected(kind, bound, r, grant, dept);
                            assert_eq!(got, want, "{kind:?} bound={bound} {r:?} grant={grant:?} dept={dept:?}");
                            seen.insert(got);
                            rows += 1;
                        }
                    }
                }
            }
        }
        assert_eq!(rows, 720);
        // Every outcome the rule can give was reached by some row.
        assert_eq!(seen.len(), 3 + 6 + 7, "{seen:?}");
    }

    #[test]
    fn exceptions_are_data_and_name_their_kinds() {
        let mut r = rules();
        let adult_medicine = coverage(InsuranceKind::Tier2, true, Ref::None, None);
        assert!(!r.decide(&adult_medicine, Some(SURGERY), today()).insurance_may_pay());
        r.exceptions.push(DeptException { dept_id: SURGERY.into(), kinds: vec![InsuranceKind::Tier2], label: "急诊外科".into() });
        assert_eq!(r.decide(&adult_medicine, Some(SURGERY), today()), Eligibility::Insurance(InsuranceBasis::DepartmentException { label: "急诊外科".into() }));
        // The row names tier 2 only: a tier-3 patient is still refused there.
        let tier3 = coverage(InsuranceKind::Tier3, true, Ref::None, None);
        assert_eq!(r.decide(&tier3, Some(SURGERY), today()), Eligibility::Refused { refusal: InsuranceRefusal::NoReferral });
    }

    #[test]
    fn a_referral_is_valid_through_its_last_day() {
        let c = coverage(InsuranceKind::Tier2, true, Ref::Valid, None);
        assert!(rules().decide(&c, Some(SURGERY), today()).insurance_may_pay());
        assert_eq!(rules().decide(&c, Some(SURGERY), today().succ_opt().unwrap()), Eligibility::Refused { refusal: InsuranceRefusal::ReferralExpired });
    }

    #[test]
    fn every_refusal_says_why_and_what_to_do() {
        for r in InsuranceRefusal::ALL {
            assert_eq!(InsuranceRefusal::parse(r.as_str()), Some(r));
            assert!(!r.reason_zh().is_empty() && r.advice_zh().contains("自费"), "{r:?}");
        }
        for k in InsuranceKind::ALL {
            assert_eq!(InsuranceKind::parse(k.as_str()), Some(k));
        }
    }
}
