//! Medical-record copies (病历复印, REC-1…REC-5): who may apply and with which documents,
//! what may be copied and what each purpose usually needs, and the money — the estimate
//! a patient pays before printing and the true-up (多退少补) once the clerk has counted the
//! pages. Rules only: no I/O.
//!
//! Who may apply follows 《医疗机构病历管理规定（2013年版）》第十七、十八条: the patient with
//! their own identity; an agent with the patient's and their own identity and the
//! patient's written authorisation; a minor's guardian with both identities and the proof
//! of guardianship; a relative of a deceased patient with their identity, the death
//! certificate and the proof of the relationship. What may be copied is the objective part
//! of the record (第十九条).
use crate::Fen;
use serde::{Deserialize, Serialize};

/// How the applicant stands to the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Applicant {
    /// 患者本人
    Patient,
    /// 代理人, with the patient's written authorisation.
    Agent,
    /// 未成年患者的监护人
    Guardian,
    /// 死亡患者的近亲属（法定继承人）
    NextOfKin,
}

impl Applicant {
    pub const ALL: [Self; 4] = [Self::Patient, Self::Agent, Self::Guardian, Self::NextOfKin];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Agent => "agent",
            Self::Guardian => "guardian",
            Self::NextOfKin => "next_of_kin",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Patient => "患者本人",
            Self::Agent => "受患者委托的代理人",
            Self::Guardian => "未成年患者的监护人",
            Self::NextOfKin => "已故患者的近亲属",
        }
    }

    /// The photos this applicant must take, in the order the page asks for them.
    pub fn required_documents(self) -> &'static [Document] {
        use Document::*;
        match self {
            Self::Patient => &[PatientIdFront, PatientIdBack],
            Self::Agent => &[PatientIdFront, PatientIdBack, ApplicantIdFront, ApplicantIdBack, Authorisation],
            Self::Guardian => &[PatientIdFront, PatientIdBack, ApplicantIdFront, ApplicantIdBack, Guardianship],
            Self::NextOfKin => &[ApplicantIdFront, ApplicantIdBack, DeathCertificate, Relationship],
        }
    }

    /// Whether someone other than the patient applies (their own identity is then asked).
    pub fn is_someone_else(self) -> bool {
        self != Self::Patient
    }
}

/// A photo an application carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Document {
    PatientIdFront,
    PatientIdBack,
    ApplicantIdFront,
    ApplicantIdBack,
    /// 授权委托书
    Authorisation,
    /// 监护关系证明（出生医学证明或户口簿）
    Guardianship,
    /// 死亡证明
    DeathCertificate,
    /// 亲属关系证明
    Relationship,
}

impl Document {
    pub const ALL: [Self; 8] = [
        Self::PatientIdFront,
        Self::PatientIdBack,
        Self::ApplicantIdFront,
        Self::ApplicantIdBack,
        Self::Authorisation,
        Self::Guardianship,
        Self::DeathCertificate,
        Self::Relationship,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PatientIdFront => "patient_id_front",
            Self::PatientIdBack => "patient_id_back",
            Self::ApplicantIdFront => "applicant_id_front",
            Self::ApplicantIdBack => "applicant_id_back",
            Self::Authorisation => "authorisation",
            Self::Guardianship => "guardianship",
            Self::DeathCertificate => "death_certificate",
            Self::Relationship => "relationship",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::PatientIdFront => "患者身份证人像面",
            Self::PatientIdBack => "患者身份证国徽面",
            Self::ApplicantIdFront => "申请人身份证人像面",
            Self::ApplicantIdBack => "申请人身份证国徽面",
            Self::Authorisation => "患者签署的授权委托书",
            Self::Guardianship => "监护关系证明（出生医学证明或户口簿）",
            Self::DeathCertificate => "患者死亡证明",
            Self::Relationship => "与患者的亲属关系证明",
        }
    }

    /// An ID card side: masked (birth date digits, address) before anyone but the reviewing
    /// clerk sees it.
    pub fn is_id_card(self) -> bool {
        matches!(self, Self::PatientIdFront | Self::PatientIdBack | Self::ApplicantIdFront | Self::ApplicantIdBack)
    }
}

/// The documents of `applicant` not yet among `taken`, in the order they are asked for.
pub fn missing_documents(applicant: Applicant, taken: &[Document]) -> Vec<Document> {
    applicant.required_documents().iter().copied().filter(|d| !taken.contains(d)).collect()
}

/// A part of the record that may be copied (第十九条), with the pages it usually runs to
/// (the estimate before printing; the clerk counts the real ones).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    /// 病案首页
    FrontSheet,
    /// 入院记录
    AdmissionNote,
    /// 出院记录（出院小结）
    DischargeNote,
    /// 手术记录
    OperationNote,
    /// 麻醉记录
    AnaesthesiaNote,
    /// 医嘱单
    Orders,
    /// 检验报告
    LabReports,
    /// 检查（影像）报告
    ImagingReports,
    /// 病理报告
    Pathology,
    /// 体温单
    TemperatureChart,
    /// 护理记录
    NursingNotes,
    /// 知情同意书
    Consents,
    /// 门诊病历 (a visit's record: complaint, findings, diagnosis, prescription)
    OutpatientNote,
}

impl Section {
    pub const ALL: [Self; 13] = [
        Self::OutpatientNote,
        Self::FrontSheet,
        Self::AdmissionNote,
        Self::DischargeNote,
        Self::OperationNote,
        Self::AnaesthesiaNote,
        Self::Orders,
        Self::LabReports,
        Self::ImagingReports,
        Self::Pathology,
        Self::TemperatureChart,
        Self::NursingNotes,
        Self::Consents,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::FrontSheet => "front_sheet",
            Self::AdmissionNote => "admission_note",
            Self::DischargeNote => "discharge_note",
            Self::OperationNote => "operation_note",
            Self::AnaesthesiaNote => "anaesthesia_note",
            Self::Orders => "orders",
            Self::LabReports => "lab_reports",
            Self::ImagingReports => "imaging_reports",
            Self::Pathology => "pathology",
            Self::TemperatureChart => "temperature_chart",
            Self::NursingNotes => "nursing_notes",
            Self::Consents => "consents",
            Self::OutpatientNote => "outpatient_note",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::FrontSheet => "病案首页",
            Self::AdmissionNote => "入院记录",
            Self::DischargeNote => "出院记录（出院小结）",
            Self::OperationNote => "手术记录",
            Self::AnaesthesiaNote => "麻醉记录",
            Self::Orders => "医嘱单",
            Self::LabReports => "检验报告",
            Self::ImagingReports => "检查（影像）报告",
            Self::Pathology => "病理报告",
            Self::TemperatureChart => "体温单",
            Self::NursingNotes => "护理记录",
            Self::Consents => "知情同意书",
            Self::OutpatientNote => "门诊病历",
        }
    }

    /// Whether a stay's record (`inpatient`) or a visit's holds this section: a visit's is
    /// the 门诊病历 with its reports and consents; a stay's everything else.
    pub fn belongs_to(self, inpatient: bool) -> bool {
        match self {
            Self::OutpatientNote => !inpatient,
            Self::LabReports | Self::ImagingReports | Self::Pathology | Self::Consents => true,
            _ => inpatient,
        }
    }

    /// The sections of a stay's record or a visit's, in the order the page lists them.
    pub fn of_encounter(inpatient: bool) -> Vec<Self> {
        Self::ALL.into_iter().filter(|s| s.belongs_to(inpatient)).collect()
    }

    /// Pages a section usually runs to for one stay [I]: the estimate only.
    pub fn usual_pages(self) -> u32 {
        match self {
            Self::FrontSheet | Self::DischargeNote | Self::OperationNote | Self::AnaesthesiaNote | Self::Pathology | Self::OutpatientNote => 2,
            Self::AdmissionNote => 3,
            Self::Orders | Self::LabReports | Self::ImagingReports | Self::NursingNotes => 5,
            Self::TemperatureChart => 2,
            Self::Consents => 4,
        }
    }
}

/// Why the copy is wanted: the page suggests the sections each purpose usually needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Purpose {
    /// 医保报销（异地就医等）
    InsuranceClaim,
    /// 商业保险理赔
    CommercialInsurance,
    /// 病假 / 单位报销
    SickLeave,
    /// 转院、继续治疗
    Transfer,
    /// 法律诉讼、伤残鉴定
    Legal,
    /// 其他
    Other,
}

impl Purpose {
    pub const ALL: [Self; 6] = [Self::InsuranceClaim, Self::CommercialInsurance, Self::SickLeave, Self::Transfer, Self::Legal, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::InsuranceClaim => "insurance_claim",
            Self::CommercialInsurance => "commercial_insurance",
            Self::SickLeave => "sick_leave",
            Self::Transfer => "transfer",
            Self::Legal => "legal",
            Self::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::InsuranceClaim => "医保报销",
            Self::CommercialInsurance => "商业保险理赔",
            Self::SickLeave => "病假或单位报销",
            Self::Transfer => "转院或继续治疗",
            Self::Legal => "法律诉讼或伤残鉴定",
            Self::Other => "其他用途",
        }
    }

    /// The sections this purpose usually needs from a stay's record or a visit's [I] (a hint:
    /// the patient chooses). A visit's always starts from its 门诊病历.
    pub fn suggested_for(self, inpatient: bool) -> Vec<Section> {
        let mut out: Vec<Section> = self.suggested_sections().iter().copied().filter(|s| s.belongs_to(inpatient)).collect();
        if !inpatient && !out.contains(&Section::OutpatientNote) {
            out.insert(0, Section::OutpatientNote);
        }
        out
    }

    /// The sections this purpose usually needs from a stay [I].
    fn suggested_sections(self) -> &'static [Section] {
        use Section::*;
        match self {
            Self::InsuranceClaim => &[FrontSheet, DischargeNote, Orders, LabReports, ImagingReports],
            Self::CommercialInsurance => &[FrontSheet, AdmissionNote, DischargeNote, OperationNote, Pathology, LabReports, ImagingReports],
            Self::SickLeave => &[DischargeNote],
            Self::Transfer => &[AdmissionNote, DischargeNote, OperationNote, LabReports, ImagingReports, Pathology],
            Self::Legal => &[
                FrontSheet,
                AdmissionNote,
                DischargeNote,
                OperationNote,
                AnaesthesiaNote,
                Orders,
                LabReports,
                ImagingReports,
                Pathology,
                TemperatureChart,
                NursingNotes,
                Consents,
            ],
            Self::Other => &[FrontSheet, DischargeNote],
        }
    }
}

/// How the copy reaches the applicant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Delivery {
    /// 到病案室自取（凭取件码）
    Pickup,
    /// 快递到家
    Express,
}

/// One version of the records office's fee table (an application is charged by the table
/// in force when it was submitted).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeTable {
    pub version: i32,
    /// Copying, per page.
    pub per_page: Fen,
    /// 加盖病案复印专用章, per copy.
    pub certification: Fen,
    /// Postage of an express delivery, per application.
    pub postage: Fen,
}

/// A fee line, as the review page itemises it and the ledger posts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FeeKind {
    Copying,
    Certification,
    Postage,
}

impl FeeKind {
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Copying => "复印费",
            Self::Certification => "盖章认证费",
            Self::Postage => "快递费",
        }
    }

    /// The order line's charge code [I] (the hospital's price list names them so).
    pub fn line_code(self) -> &'static str {
        match self {
            Self::Copying => "BLFY",
            Self::Certification => "BLRZ",
            Self::Postage => "BLKD",
        }
    }

    pub fn from_line_code(code: &str) -> Option<Self> {
        [Self::Copying, Self::Certification, Self::Postage].into_iter().find(|k| k.line_code() == code)
    }
}

/// The charge code of a true-up's extra order (少补).
pub const EXTRA_LINE_CODE: &str = "BLBJ";

/// What a row of the records ledger (REC-5) is: a fee line collected, or money given back
/// and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LedgerKind {
    Copying,
    Certification,
    Postage,
    /// 少补: the extra charge after the count.
    ExtraCharge,
    /// 多退: the count came out lower than the estimate.
    TrueUpRefund,
    /// Withdrawn before approval: everything back.
    WithdrawalRefund,
    /// Anything else given back (an extra charge paid after the application closed …).
    OtherRefund,
    /// A collection whose lines do not add up to it (never expected; kept visible).
    Unitemised,
}

impl LedgerKind {
    pub const ALL: [Self; 8] =
        [Self::Copying, Self::Certification, Self::Postage, Self::ExtraCharge, Self::TrueUpRefund, Self::WithdrawalRefund, Self::OtherRefund, Self::Unitemised];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Copying => "copying",
            Self::Certification => "certification",
            Self::Postage => "postage",
            Self::ExtraCharge => "extra_charge",
            Self::TrueUpRefund => "true_up_refund",
            Self::WithdrawalRefund => "withdrawal_refund",
            Self::OtherRefund => "other_refund",
            Self::Unitemised => "unitemised",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Copying => "复印费",
            Self::Certification => "盖章认证费",
            Self::Postage => "快递费",
            Self::ExtraCharge => "补缴（少补）",
            Self::TrueUpRefund => "退差额（多退）",
            Self::WithdrawalRefund => "撤回退款",
            Self::OtherRefund => "其他退款",
            Self::Unitemised => "未分项收款",
        }
    }

    pub fn is_refund(self) -> bool {
        matches!(self, Self::TrueUpRefund | Self::WithdrawalRefund | Self::OtherRefund)
    }
}

/// What one revenue leg of a record-copy order was for.
pub struct RevenueLeg<'a> {
    /// Revenue collected (positive) or given back (negative), in fen.
    pub collected: i64,
    /// The order's lines: (charge code, amount).
    pub lines: &'a [(String, Fen)],
    /// The leg belongs to the application's extra order (少补).
    pub extra_order: bool,
    pub state: ApplicationState,
    /// The application's pages were counted (a true-up happened).
    pub counted: bool,
}

/// Splits one revenue leg into the records ledger's rows. A collection on the first order is
/// itemised by its lines (copying, certification, postage) when they add up to it, as they
/// do for an order captured whole; money given back is classified by why it went back.
pub fn ledger_rows(leg: &RevenueLeg<'_>) -> Vec<(LedgerKind, i64)> {
    if leg.collected < 0 {
        let kind = if leg.extra_order {
            LedgerKind::OtherRefund
        } else if leg.state == ApplicationState::Withdrawn {
            LedgerKind::WithdrawalRefund
        } else if leg.counted {
            LedgerKind::TrueUpRefund
        } else {
            LedgerKind::OtherRefund
        };
        return vec![(kind, leg.collected)];
    }
    if leg.extra_order {
        return vec![(LedgerKind::ExtraCharge, leg.collected)];
    }
    let itemised: Option<Vec<(LedgerKind, i64)>> = leg
        .lines
        .iter()
        .map(|(code, amount)| {
            FeeKind::from_line_code(code).map(|k| {
                let kind = match k {
                    FeeKind::Copying => LedgerKind::Copying,
                    FeeKind::Certification => LedgerKind::Certification,
                    FeeKind::Postage => LedgerKind::Postage,
                };
                (kind, amount.0)
            })
        })
        .collect();
    match itemised {
        Some(rows) if rows.iter().map(|r| r.1).sum::<i64>() == leg.collected => rows,
        _ => vec![(LedgerKind::Unitemised, leg.collected)],
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeeLine {
    pub kind: FeeKind,
    /// "23页 × ¥0.50 × 2份"
    pub basis: String,
    pub amount: Fen,
}

/// The most copies one application may ask for [I].
pub const MAX_COPIES: u32 = 10;
/// The most pages one copy may count [I]: a larger count is a typing slip.
pub const MAX_PAGES: u32 = 2_000;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FeeError {
    NoCopies,
    TooManyCopies,
    NoPages,
    TooManyPages,
}

/// The fees of `pages` pages per copy, `copies` copies, delivered so: copying per page and
/// copy, certification per copy, postage once for an express delivery.
pub fn fees(table: &FeeTable, pages: u32, copies: u32, delivery: Delivery) -> Result<Vec<FeeLine>, FeeError> {
    if copies == 0 {
        return Err(FeeError::NoCopies);
    }
    if copies > MAX_COPIES {
        return Err(FeeError::TooManyCopies);
    }
    if pages == 0 {
        return Err(FeeError::NoPages);
    }
    if pages > MAX_PAGES {
        return Err(FeeError::TooManyPages);
    }
    let yuan = |f: Fen| f.to_yuan_string();
    let mut lines = vec![
        FeeLine {
            kind: FeeKind::Copying,
            basis: format!("{pages}页 × ¥{} × {copies}份", yuan(table.per_page)),
            amount: Fen(table.per_page.0 * i64::from(pages) * i64::from(copies)),
        },
        FeeLine {
            kind: FeeKind::Certification,
            basis: format!("¥{} × {copies}份", yuan(table.certification)),
            amount: Fen(table.certification.0 * i64::from(copies)),
        },
    ];
    if delivery == Delivery::Express {
        lines.push(FeeLine { kind: FeeKind::Postage, basis: "快递寄送（每单）".into(), amount: table.postage });
    }
    Ok(lines)
}

/// The pages the estimate counts for these sections (their usual lengths).
pub fn estimated_pages(sections: &[Section]) -> u32 {
    let mut seen: Vec<Section> = sections.to_vec();
    seen.sort();
    seen.dedup();
    seen.iter().map(|s| s.usual_pages()).sum()
}

pub fn total(lines: &[FeeLine]) -> Fen {
    Fen(lines.iter().map(|l| l.amount.0).sum())
}

/// After printing: what the applicant paid against what the counted pages cost.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TrueUp {
    Even,
    /// The estimate was more: this much goes back.
    Refund(Fen),
    /// The estimate was less: this much is asked for.
    Extra(Fen),
}

/// 多退少补: the difference between what was paid and what the counted pages cost.
pub fn true_up(paid: Fen, due: Fen) -> TrueUp {
    match paid.0.cmp(&due.0) {
        std::cmp::Ordering::Equal => TrueUp::Even,
        std::cmp::Ordering::Greater => TrueUp::Refund(Fen(paid.0 - due.0)),
        std::cmp::Ordering::Less => TrueUp::Extra(Fen(due.0 - paid.0)),
    }
}

impl Delivery {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pickup => "pickup",
            Self::Express => "express",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Pickup, Self::Express].into_iter().find(|d| d.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Pickup => "到病案室自取",
            Self::Express => "快递到家（顺丰）",
        }
    }
}

/// A stay or visit whose record may be copied, as the HIS's records system (病案系统)
/// lists it: archived records only (a stay's record is archived some days after discharge).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordEncounter {
    pub encounter_id: String,
    pub inpatient: bool,
    /// 病案号: stamped on every copy and photo.
    pub mr_no: String,
    pub dept_name: String,
    pub started: chrono::NaiveDate,
    pub ended: Option<chrono::NaiveDate>,
    pub diagnosis: String,
}

impl RecordEncounter {
    /// "2026-08-03 至 2026-08-10 住院 · 普通外科 · 急性阑尾炎"
    pub fn label(&self) -> String {
        let when = match self.ended {
            Some(e) if e != self.started => format!("{} 至 {}", self.started, e),
            _ => self.started.to_string(),
        };
        let kind = if self.inpatient { "住院" } else { "门诊" };
        format!("{when} {kind} · {} · {}", self.dept_name, self.diagnosis)
    }
}

/// Where an express copy goes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub name: String,
    pub mobile: String,
    pub province: String,
    pub city: String,
    pub county: String,
    pub detail: String,
}

/// The records office's queue, narrowed.
#[derive(Clone, Debug, Default)]
pub struct QueueFilter {
    /// Empty: every state but drafts.
    pub states: Vec<ApplicationState>,
    pub delivery: Option<Delivery>,
    pub purpose: Option<Purpose>,
    /// Submitted before this (waiting at least so long).
    pub submitted_before: Option<chrono::DateTime<chrono::Utc>>,
    /// Past the promised time at this instant.
    pub overdue_at: Option<chrono::DateTime<chrono::Utc>>,
    pub offset: u64,
    pub limit: u64,
}

/// The guided steps of an application, in the order the pages ask them. Purpose comes
/// before the sections so the section page can start from what the purpose usually needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Relation,
    Encounter,
    Purpose,
    Sections,
    Copies,
    Photos,
    Delivery,
    Review,
}

impl Step {
    pub const ALL: [Self; 8] = [Self::Relation, Self::Encounter, Self::Purpose, Self::Sections, Self::Copies, Self::Photos, Self::Delivery, Self::Review];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relation => "relation",
            Self::Encounter => "encounter",
            Self::Purpose => "purpose",
            Self::Sections => "sections",
            Self::Copies => "copies",
            Self::Photos => "photos",
            Self::Delivery => "delivery",
            Self::Review => "review",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Relation => "申请人",
            Self::Encounter => "选择住院/就诊记录",
            Self::Purpose => "复印用途",
            Self::Sections => "复印内容",
            Self::Copies => "复印份数",
            Self::Photos => "拍摄证件",
            Self::Delivery => "领取方式",
            Self::Review => "核对并支付",
        }
    }

    /// 1-based position, for "第 3 步，共 8 步".
    pub fn number(self) -> usize {
        Self::ALL.iter().position(|s| *s == self).unwrap_or(0) + 1
    }
}

/// What a draft holds so far: the first step with something missing is where the patient
/// continues (on any phone).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DraftContent {
    pub applicant: Option<Applicant>,
    pub encounter: Option<String>,
    pub purpose: Option<Purpose>,
    pub sections: Vec<Section>,
    pub copies: Option<u32>,
    pub photos: Vec<Document>,
    pub delivery: Option<Delivery>,
    /// An express delivery's address is complete.
    pub address_complete: bool,
}

impl DraftContent {
    pub fn first_missing(&self) -> Step {
        if self.applicant.is_none() {
            Step::Relation
        } else if self.encounter.is_none() {
            Step::Encounter
        } else if self.purpose.is_none() {
            Step::Purpose
        } else if self.sections.is_empty() {
            Step::Sections
        } else if self.copies.is_none() {
            Step::Copies
        } else if self.applicant.is_some_and(|a| !missing_documents(a, &self.photos).is_empty()) {
            Step::Photos
        } else if self.delivery.is_none() || (self.delivery == Some(Delivery::Express) && !self.address_complete) {
            Step::Delivery
        } else {
            Step::Review
        }
    }

    /// A step may be opened once every step before it is complete.
    pub fn may_open(&self, step: Step) -> bool {
        step <= self.first_missing()
    }
}

/// What the patient would change of an application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Step(Step),
    Photo(Document),
}

/// Why a change is not taken now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChangeRefused {
    /// A draft whose earlier steps are not all answered.
    EarlierStepMissing,
    /// Submitted and not returned, or returned for something else.
    NotNow,
}

/// Whether the patient may make `change` now: any reached step (and the photos once that
/// step is reached) of a draft; of a returned application only what the clerk named (and
/// the review, to send it back).
pub fn may_change(
    state: ApplicationState,
    content: &DraftContent,
    fix_steps: &[Step],
    fix_documents: &[Document],
    change: Change,
) -> Result<(), ChangeRefused> {
    let step = match change {
        Change::Step(s) => s,
        Change::Photo(_) => Step::Photos,
    };
    match state {
        ApplicationState::Draft if content.may_open(step) => Ok(()),
        ApplicationState::Draft => Err(ChangeRefused::EarlierStepMissing),
        ApplicationState::Returned => {
            let named = fix_steps.contains(&step)
                || match change {
                    Change::Step(s) => s == Step::Review,
                    Change::Photo(d) => fix_documents.contains(&d),
                };
            if named { Ok(()) } else { Err(ChangeRefused::NotNow) }
        }
        _ => Err(ChangeRefused::NotNow),
    }
}

/// Where an application stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApplicationState {
    /// Being filled in; an order may be open for it but nothing is paid.
    Draft,
    /// Paid, waiting for the records office.
    Submitted,
    /// Returned by the clerk: the patient fixes what the reasons name.
    Returned,
    /// Approved: printing.
    Approved,
    /// Printed and counted at more pages than paid for: the extra is asked for.
    ExtraDue,
    /// Paid in full for the counted pages, waiting at the office for pickup by code.
    ReadyForPickup,
    /// Handed to the courier (the order may still be queued while the courier is down).
    Shipped,
    /// Collected at the office (closed).
    PickedUp,
    /// Signed for at the address (closed).
    Delivered,
    /// Withdrawn by the patient before approval; everything paid is refunded (closed).
    Withdrawn,
}

impl ApplicationState {
    pub const ALL: [Self; 10] = [
        Self::Draft,
        Self::Submitted,
        Self::Returned,
        Self::Approved,
        Self::ExtraDue,
        Self::ReadyForPickup,
        Self::Shipped,
        Self::PickedUp,
        Self::Delivered,
        Self::Withdrawn,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Draft => "draft",
            Self::Submitted => "submitted",
            Self::Returned => "returned",
            Self::Approved => "approved",
            Self::ExtraDue => "extra_due",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Shipped => "shipped",
            Self::PickedUp => "picked_up",
            Self::Delivered => "delivered",
            Self::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Draft => "草稿（未提交）",
            Self::Submitted => "已提交，待审核",
            Self::Returned => "已退回，待补正",
            Self::Approved => "审核通过，复印中",
            Self::ExtraDue => "待补缴费用",
            Self::ReadyForPickup => "已复印，待领取",
            Self::Shipped => "已寄出",
            Self::PickedUp => "已领取",
            Self::Delivered => "已签收",
            Self::Withdrawn => "已撤回",
        }
    }

    /// Over: nothing more happens to it (its original photos are deleted N days after).
    pub fn is_closed(self) -> bool {
        matches!(self, Self::PickedUp | Self::Delivered | Self::Withdrawn)
    }

    /// Waiting for the records office (the queue's default view).
    pub fn is_with_office(self) -> bool {
        matches!(self, Self::Submitted | Self::Approved)
    }

    /// The patient may still withdraw it (and get everything back): nothing printed yet.
    pub fn may_withdraw(self) -> bool {
        matches!(self, Self::Submitted | Self::Returned)
    }
}

/// Why the clerk returns an application: the patient fixes just these, the rest is kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReturnReason {
    /// 证件照片模糊或不完整 — the ID photos are retaken.
    PhotoUnclear,
    /// 证件与就诊人信息不符 — the ID photos are retaken.
    IdMismatch,
    /// 授权委托书/证明材料不合格 — the letter or proof is retaken.
    ProofInvalid,
    /// 所选就诊记录有误 — the stay is chosen again.
    WrongEncounter,
    /// 复印内容与用途不符 — the sections are chosen again.
    SectionsUnsuitable,
    /// 收件地址有误 — the address is entered again.
    AddressInvalid,
}

impl ReturnReason {
    pub const ALL: [Self; 6] = [Self::PhotoUnclear, Self::IdMismatch, Self::ProofInvalid, Self::WrongEncounter, Self::SectionsUnsuitable, Self::AddressInvalid];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::PhotoUnclear => "photo_unclear",
            Self::IdMismatch => "id_mismatch",
            Self::ProofInvalid => "proof_invalid",
            Self::WrongEncounter => "wrong_encounter",
            Self::SectionsUnsuitable => "sections_unsuitable",
            Self::AddressInvalid => "address_invalid",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    pub fn label_zh(self) -> &'static str {
        match self {
            Self::PhotoUnclear => "证件照片模糊、反光或不完整",
            Self::IdMismatch => "证件与就诊人信息不符",
            Self::ProofInvalid => "授权委托书或证明材料不符合要求",
            Self::WrongEncounter => "所选住院/就诊记录有误",
            Self::SectionsUnsuitable => "复印内容与用途不符",
            Self::AddressInvalid => "收件地址或电话有误",
        }
    }

    /// What the patient redoes for this reason: the step, and for photos which ones.
    pub fn step(self) -> Step {
        match self {
            Self::PhotoUnclear | Self::IdMismatch | Self::ProofInvalid => Step::Photos,
            Self::WrongEncounter => Step::Encounter,
            Self::SectionsUnsuitable => Step::Sections,
            Self::AddressInvalid => Step::Delivery,
        }
    }

    /// The photos this reason asks to retake, of those the applicant must give.
    pub fn documents(self, applicant: Applicant) -> Vec<Document> {
        let all = applicant.required_documents().iter().copied();
        match self {
            Self::PhotoUnclear | Self::IdMismatch => all.filter(|d| d.is_id_card()).collect(),
            Self::ProofInvalid => all.filter(|d| !d.is_id_card()).collect(),
            _ => vec![],
        }
    }
}

/// The parts a returned application must fix, from the clerk's reasons: what a step of the
/// draft clears so the patient is asked again (the rest stays as it was).
pub fn to_fix(applicant: Applicant, reasons: &[ReturnReason]) -> (Vec<Step>, Vec<Document>) {
    let mut steps: Vec<Step> = reasons.iter().map(|r| r.step()).collect();
    steps.sort();
    steps.dedup();
    let mut docs: Vec<Document> = reasons.iter().flat_map(|r| r.documents(applicant)).collect();
    docs.sort();
    docs.dedup();
    (steps, docs)
}

/// The codes a 取件码 is drawn from: six digits, never starting with 0 (read aloud at the
/// counter).
const PICKUP_CODES: u32 = 900_000;

/// A 取件码 from a uniformly random `u32`, or `None` for the few values that would make
/// the low codes likelier (2³² is not a multiple of 900,000): the caller draws again.
pub fn pickup_code_from(random: u32) -> Option<String> {
    let whole_runs_end = (1u64 << 32) / u64::from(PICKUP_CODES) * u64::from(PICKUP_CODES);
    (u64::from(random) < whole_runs_end).then(|| format!("{}", 100_000 + random % PICKUP_CODES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table() -> FeeTable {
        FeeTable { version: 1, per_page: Fen(50), certification: Fen(500), postage: Fen(1_500) }
    }

    fn leg(collected: i64, lines: &[(String, Fen)], extra_order: bool, state: ApplicationState, counted: bool) -> Vec<(LedgerKind, i64)> {
        ledger_rows(&RevenueLeg { collected, lines, extra_order, state, counted })
    }

    #[test]
    fn a_draft_changes_what_it_reached_and_a_returned_application_only_what_the_clerk_named() {
        let reached_photos = DraftContent {
            applicant: Some(Applicant::Patient),
            encounter: Some("ZY1".into()),
            purpose: Some(Purpose::SickLeave),
            sections: vec![Section::DischargeNote],
            copies: Some(1),
            ..Default::default()
        };
        let fresh = DraftContent::default();
        let front = Change::Photo(Document::PatientIdFront);
        assert_eq!(may_change(ApplicationState::Draft, &reached_photos, &[], &[], front), Ok(()));
        assert_eq!(may_change(ApplicationState::Draft, &fresh, &[], &[], front), Err(ChangeRefused::EarlierStepMissing));
        assert_eq!(may_change(ApplicationState::Draft, &fresh, &[], &[], Change::Step(Step::Relation)), Ok(()));
        // Returned for the front photo: that photo and the review, nothing else.
        let named = [Document::PatientIdFront];
        assert_eq!(may_change(ApplicationState::Returned, &reached_photos, &[], &named, front), Ok(()));
        assert_eq!(may_change(ApplicationState::Returned, &reached_photos, &[], &named, Change::Photo(Document::PatientIdBack)), Err(ChangeRefused::NotNow));
        assert_eq!(may_change(ApplicationState::Returned, &reached_photos, &[], &named, Change::Step(Step::Review)), Ok(()));
        assert_eq!(may_change(ApplicationState::Returned, &reached_photos, &[], &named, Change::Step(Step::Sections)), Err(ChangeRefused::NotNow));
        // Returned for the photos step: any photo.
        assert_eq!(may_change(ApplicationState::Returned, &reached_photos, &[Step::Photos], &[], Change::Photo(Document::PatientIdBack)), Ok(()));
        for state in [ApplicationState::Submitted, ApplicationState::Approved, ApplicationState::Withdrawn] {
            assert_eq!(may_change(state, &reached_photos, &[Step::Photos], &named, front), Err(ChangeRefused::NotNow), "{state:?}");
        }
    }

    #[test]
    fn a_visit_offers_its_own_record_and_a_stay_its_own() {
        let visit = Section::of_encounter(false);
        assert!(visit.contains(&Section::OutpatientNote) && visit.contains(&Section::LabReports));
        assert!(!visit.contains(&Section::DischargeNote) && !visit.contains(&Section::OperationNote) && !visit.contains(&Section::FrontSheet));
        let stay = Section::of_encounter(true);
        assert!(!stay.contains(&Section::OutpatientNote) && stay.contains(&Section::DischargeNote));
        assert_eq!(visit.len() + stay.len(), Section::ALL.len() + 4, "reports, pathology and consents belong to both");
        for p in Purpose::ALL {
            assert!(p.suggested_for(false).iter().all(|s| s.belongs_to(false)), "{p:?}");
            assert_eq!(p.suggested_for(false)[0], Section::OutpatientNote, "{p:?}");
            assert!(!p.suggested_for(true).is_empty() && p.suggested_for(true).iter().all(|s| s.belongs_to(true)), "{p:?}");
        }
    }

    #[test]
    fn the_records_ledger_itemises_a_collection_and_says_why_money_went_back() {
        let lines: Vec<(String, Fen)> = fees(&table(), 23, 2, Delivery::Express).unwrap().iter().map(|l| (l.kind.line_code().to_owned(), l.amount)).collect();
        let total: i64 = lines.iter().map(|l| l.1.0).sum();
        assert_eq!(
            leg(total, &lines, false, ApplicationState::Submitted, false),
            vec![(LedgerKind::Copying, 2_300), (LedgerKind::Certification, 1_000), (LedgerKind::Postage, 1_500)]
        );
        // Lines that do not add up to the money are not invented: one unitemised row.
        assert_eq!(leg(total - 1, &lines, false, ApplicationState::Submitted, false), vec![(LedgerKind::Unitemised, total - 1)]);
        assert_eq!(leg(300, &[(EXTRA_LINE_CODE.to_owned(), Fen(300))], true, ApplicationState::ReadyForPickup, true), vec![(LedgerKind::ExtraCharge, 300)]);
        assert_eq!(leg(-200, &lines, false, ApplicationState::ReadyForPickup, true), vec![(LedgerKind::TrueUpRefund, -200)]);
        assert_eq!(leg(-total, &lines, false, ApplicationState::Withdrawn, false), vec![(LedgerKind::WithdrawalRefund, -total)]);
        assert_eq!(leg(-300, &[], true, ApplicationState::PickedUp, true), vec![(LedgerKind::OtherRefund, -300)]);
        for k in LedgerKind::ALL {
            assert_eq!(LedgerKind::parse(k.as_str()), Some(k));
        }
    }

    #[test]
    fn each_applicant_is_asked_for_exactly_its_documents() {
        assert_eq!(Applicant::Patient.required_documents(), &[Document::PatientIdFront, Document::PatientIdBack]);
        // An agent: both identities and the letter (REC-1: both ID cards when an agent applies).
        let agent = Applicant::Agent.required_documents();
        assert!(agent.contains(&Document::ApplicantIdFront) && agent.contains(&Document::PatientIdBack) && agent.contains(&Document::Authorisation));
        assert!(!agent.contains(&Document::DeathCertificate));
        // A deceased patient's relative: no patient ID card to take, the death certificate instead.
        let kin = Applicant::NextOfKin.required_documents();
        assert!(kin.contains(&Document::DeathCertificate) && kin.contains(&Document::Relationship) && !kin.contains(&Document::PatientIdFront));
        assert!(Applicant::Guardian.required_documents().contains(&Document::Guardianship));
        assert_eq!(missing_documents(Applicant::Agent, &[Document::PatientIdFront, Document::Authorisation]).len(), 3);
        for a in Applicant::ALL {
            assert_eq!(Applicant::parse(a.as_str()), Some(a));
            assert!(missing_documents(a, a.required_documents()).is_empty());
        }
        for d in Document::ALL {
            assert_eq!(Document::parse(d.as_str()), Some(d));
        }
    }

    #[test]
    fn fees_are_itemised_and_express_adds_postage_once() {
        let lines = fees(&table(), 23, 2, Delivery::Express).unwrap();
        assert_eq!(lines.iter().map(|l| l.amount).collect::<Vec<_>>(), vec![Fen(2_300), Fen(1_000), Fen(1_500)]);
        assert_eq!(lines[0].basis, "23页 × ¥0.50 × 2份");
        assert_eq!(total(&lines), Fen(4_800));
        assert_eq!(fees(&table(), 23, 2, Delivery::Pickup).unwrap().len(), 2);
        assert_eq!(fees(&table(), 0, 1, Delivery::Pickup), Err(FeeError::NoPages));
        assert_eq!(fees(&table(), 1, 0, Delivery::Pickup), Err(FeeError::NoCopies));
        assert_eq!(fees(&table(), 1, MAX_COPIES + 1, Delivery::Pickup), Err(FeeError::TooManyCopies));
        assert_eq!(fees(&table(), MAX_PAGES + 1, 1, Delivery::Pickup), Err(FeeError::TooManyPages));
    }

    #[test]
    fn the_estimate_counts_each_section_once() {
        let s = [Section::DischargeNote, Section::DischargeNote, Section::Orders];
        assert_eq!(estimated_pages(&s), Section::DischargeNote.usual_pages() + Section::Orders.usual_pages());
        for p in Purpose::ALL {
            assert!(!p.suggested_sections().is_empty(), "{p:?}");
            assert_eq!(Purpose::parse(p.as_str()), Some(p));
        }
    }

    #[test]
    fn a_draft_continues_at_its_first_missing_step() {
        let mut d = DraftContent::default();
        assert_eq!(d.first_missing(), Step::Relation);
        assert!(!d.may_open(Step::Review));
        d.applicant = Some(Applicant::Agent);
        d.encounter = Some("ZY1".into());
        d.purpose = Some(Purpose::SickLeave);
        d.sections = vec![Section::DischargeNote];
        d.copies = Some(1);
        assert_eq!(d.first_missing(), Step::Photos);
        d.photos = vec![Document::PatientIdFront, Document::PatientIdBack, Document::ApplicantIdFront, Document::ApplicantIdBack];
        assert_eq!(d.first_missing(), Step::Photos, "an agent without the letter is not past the photos");
        d.photos.push(Document::Authorisation);
        assert_eq!(d.first_missing(), Step::Delivery);
        d.delivery = Some(Delivery::Express);
        assert_eq!(d.first_missing(), Step::Delivery, "express without an address");
        d.address_complete = true;
        assert_eq!(d.first_missing(), Step::Review);
        assert!(d.may_open(Step::Sections) && d.may_open(Step::Review));
        for s in Step::ALL {
            assert_eq!(Step::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn a_return_asks_again_for_just_what_its_reasons_name() {
        let (steps, docs) = to_fix(Applicant::Agent, &[ReturnReason::ProofInvalid]);
        assert_eq!(steps, vec![Step::Photos]);
        assert_eq!(docs, vec![Document::Authorisation]);
        let (steps, docs) = to_fix(Applicant::Patient, &[ReturnReason::PhotoUnclear, ReturnReason::AddressInvalid, ReturnReason::IdMismatch]);
        assert_eq!(steps, vec![Step::Photos, Step::Delivery]);
        assert_eq!(docs, vec![Document::PatientIdFront, Document::PatientIdBack]);
        assert_eq!(to_fix(Applicant::Patient, &[ReturnReason::WrongEncounter]), (vec![Step::Encounter], vec![]));
        for r in ReturnReason::ALL {
            assert_eq!(ReturnReason::parse(r.as_str()), Some(r));
        }
        for s in ApplicationState::ALL {
            assert_eq!(ApplicationState::parse(s.as_str()), Some(s));
        }
        assert_eq!(pickup_code_from(0).as_deref(), Some("100000"));
        assert_eq!(pickup_code_from(899_999).as_deref(), Some("999999"));
        // The last partial run of 900,000 is drawn again: every code equally likely.
        let whole_runs = (u64::from(u32::MAX) + 1) / 900_000;
        let last_fair = u32::try_from(whole_runs * 900_000 - 1).unwrap();
        assert_eq!(pickup_code_from(last_fair).as_deref(), Some("999999"));
        assert_eq!(pickup_code_from(last_fair + 1), None);
        assert_eq!(pickup_code_from(u32::MAX), None);
    }

    proptest! {
        /// Whatever the lines, the rows of one revenue leg add up to its money (REC-5: the
        /// records ledger's totals are the general ledger's).
        #[test]
        fn ledger_rows_add_up_to_the_leg(collected in -100_000i64..100_000, amounts in proptest::collection::vec(0i64..50_000, 0..4), extra in any::<bool>(), counted in any::<bool>()) {
            let codes = ["BLFY", "BLRZ", "BLKD", "XXXX"];
            let lines: Vec<(String, Fen)> = amounts.iter().enumerate().map(|(i, a)| (codes[i].to_owned(), Fen(*a))).collect();
            let rows = leg(collected, &lines, extra, ApplicationState::ReadyForPickup, counted);
            prop_assert_eq!(rows.iter().map(|r| r.1).sum::<i64>(), collected);
            prop_assert!(rows.iter().all(|r| r.0.is_refund() == (collected < 0)));
        }

        /// 多退少补 closes the gap exactly: what was paid, plus the extra or less the refund,
        /// is what the counted pages cost.
        #[test]
        fn the_true_up_settles_exactly_on_the_counted_pages(est in 1u32..300, real in 1u32..300, copies in 1u32..=MAX_COPIES, express in any::<bool>()) {
            let delivery = if express { Delivery::Express } else { Delivery::Pickup };
            let paid = total(&fees(&table(), est, copies, delivery).unwrap());
            let due = total(&fees(&table(), real, copies, delivery).unwrap());
            let settled = match true_up(paid, due) {
                TrueUp::Even => paid,
                TrueUp::Refund(r) => { prop_assert!(r.0 > 0); Fen(paid.0 - r.0) }
                TrueUp::Extra(x) => { prop_assert!(x.0 > 0); Fen(paid.0 + x.0) }
            };
            prop_assert_eq!(settled, due);
            prop_assert_eq!(real == est, true_up(paid, due) == TrueUp::Even);
        }
    }
}
