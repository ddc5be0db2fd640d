//! A patient's medical-insurance standing, modelled as data (protocols.md §7): the
//! Shenzhen tier, the bound community health centre (社康), a referral if any, the
//! personal-account balance and family mutual-aid grants. The payment rules of INS-2
//! read these; here they are only described.
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
