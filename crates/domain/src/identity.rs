//! Patients (就诊人) and the values that identify them: resident ID numbers
//! (GB 11643-1999, with its check digit), mobile numbers, names, HIS record numbers,
//! and the relation between the WeChat user who manages a patient and that patient.
use crate::error::{DomainError, ErrorCode};
use crate::masked::{MaskRule, Masked, keep_ends};
use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

/// A mainland resident ID number, validated: 17 digits + check character, a real birth
/// date, a non-zero region code. Stored upper-case (`x` → `X`).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdCardNo(String);

impl AsRef<str> for IdCardNo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl MaskRule for IdCardNo {
    fn mask(raw: &str) -> String {
        keep_ends(raw, 4, 4)
    }
}

const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: [char; 11] = ['1', '0', 'X', '9', '8', '7', '6', '5', '4', '3', '2'];

impl IdCardNo {
    pub fn check_char(first17: &str) -> Option<char> {
        if first17.len() != 17 || !first17.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let sum: u32 = first17.bytes().zip(ID_WEIGHTS).map(|(b, w)| (b - b'0') as u32 * w).sum();
        Some(ID_CHECK[(sum % 11) as usize])
    }

    /// Validates against GB 11643. `today` bounds the birth date (no one is born tomorrow
    /// or 150 years ago).
    pub fn parse(raw: &str, today: NaiveDate) -> Result<Masked<IdCardNo>, DomainError> {
        let s: String = raw.trim().to_ascii_uppercase();
        let bad = |why: &str| DomainError::new(ErrorCode::IdNumberInvalid, why.to_string());
        if s.len() != 18 || !s.is_ascii() {
            return Err(bad("length"));
        }
        let (first, last) = s.split_at(17);
        let check = Self::check_char(first).ok_or_else(|| bad("digits"))?;
        if !last.starts_with(check) {
            return Err(bad("check digit"));
        }
        if &s[0..2] == "00" || &s[0..6] == "000000" {
            return Err(bad("region"));
        }
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").map_err(|_| bad("birth date"))?;
        if birth > today || today.year() - birth.year() > 150 {
            return Err(bad("birth date range"));
        }
        Ok(Masked::new(IdCardNo(s)))
    }

    /// Re-reads a value this system validated before storing it (the date-range check
    /// belongs to the day it was entered, not to every read).
    pub fn parse_stored(raw: &str) -> Result<Masked<IdCardNo>, DomainError> {
        let s = raw.trim().to_ascii_uppercase();
        let born =
            NaiveDate::parse_from_str(s.get(6..14).unwrap_or(""), "%Y%m%d").map_err(|_| DomainError::new(ErrorCode::IdNumberInvalid, "stored birth date"))?;
        Self::parse(&s, born)
    }

    pub fn birth_date(&self) -> NaiveDate {
        NaiveDate::parse_from_str(&self.0[6..14], "%Y%m%d").expect("validated at parse")
    }

    /// The 17th digit: odd for male, even for female.
    pub fn gender(&self) -> Gender {
        if (self.0.as_bytes()[16] - b'0') % 2 == 1 { Gender::Male } else { Gender::Female }
    }

    pub fn age_on(&self, day: NaiveDate) -> u32 {
        age_on(self.birth_date(), day)
    }
}

/// Whole years between a birth date and a day.
pub fn age_on(born: NaiveDate, day: NaiveDate) -> u32 {
    let mut age = day.year() - born.year();
    if (day.month(), day.day()) < (born.month(), born.day()) {
        age -= 1;
    }
    age.max(0) as u32
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    Male,
    Female,
}

impl Gender {
    pub fn label_zh(self) -> &'static str {
        match self {
            Gender::Male => "男",
            Gender::Female => "女",
        }
    }
}

/// An 11-digit mainland mobile number.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Mobile(String);

impl AsRef<str> for Mobile {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl MaskRule for Mobile {
    fn mask(raw: &str) -> String {
        keep_ends(raw, 3, 4)
    }
}

impl Mobile {
    pub fn parse(raw: &str) -> Result<Masked<Mobile>, DomainError> {
        let s: String = raw.trim().trim_start_matches("+86").chars().filter(|c| *c != ' ' && *c != '-').collect();
        let b = s.as_bytes();
        if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) && b.iter().all(u8::is_ascii_digit) {
            Ok(Masked::new(Mobile(s)))
        } else {
            Err(DomainError::new(ErrorCode::MobileInvalid, "format"))
        }
    }
}

/// A person's name as on the ID card: 2–30 characters of Han script, Latin letters,
/// the middle dot of minority and foreign names (·), or spaces between Latin words.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PersonName(String);

impl AsRef<str> for PersonName {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl MaskRule for PersonName {
    fn mask(raw: &str) -> String {
        keep_ends(raw, 1, 0)
    }
}

impl PersonName {
    pub fn parse(raw: &str) -> Result<Masked<PersonName>, DomainError> {
        let s = raw.trim().replace(['•', '・', '．'], "·");
        let n = s.chars().count();
        let ok_char =
            |c: char| ('\u{4e00}'..='\u{9fff}').contains(&c) || ('\u{3400}'..='\u{4dbf}').contains(&c) || c.is_ascii_alphabetic() || c == '·' || c == ' ';
        if !(2..=30).contains(&n) || !s.chars().all(ok_char) || s.starts_with('·') || s.ends_with('·') || s.contains("  ") {
            return Err(DomainError::new(ErrorCode::NameInvalid, "format"));
        }
        Ok(Masked::new(PersonName(s)))
    }
}

/// The hospital's medical-record number (病案号).
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MrNo(pub String);

impl AsRef<str> for MrNo {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl MaskRule for MrNo {
    fn mask(raw: &str) -> String {
        keep_ends(raw, 2, 2)
    }
}

/// The relation of the managing WeChat user to the patient.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Relationship {
    /// 本人
    #[serde(rename = "self")]
    Myself,
    /// 子女 — the user is the guardian (监护人).
    Child,
    /// 父母
    Parent,
    /// 配偶
    Spouse,
    /// 其他亲友
    Other,
}

impl Relationship {
    pub const ALL: [Relationship; 5] = [Self::Myself, Self::Child, Self::Parent, Self::Spouse, Self::Other];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Myself => "self",
            Self::Child => "child",
            Self::Parent => "parent",
            Self::Spouse => "spouse",
            Self::Other => "other",
        }
    }
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        Self::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| DomainError::new(ErrorCode::RelationshipInvalid, "unknown relationship"))
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Self::Myself => "本人",
            Self::Child => "子女",
            Self::Parent => "父母",
            Self::Spouse => "配偶",
            Self::Other => "其他",
        }
    }
}

/// Under this age a patient's data is handled through a guardian (PIPL Art. 31 treats
/// under-14s' data as sensitive and needs the guardian's consent).
pub const GUARDIAN_AGE: u32 = 14;

/// How many patients one WeChat user may manage; a family with grandparents and
/// several children fits, a ticket scalper does not.
pub const MAX_PATIENTS_PER_ACCOUNT: usize = 8;

/// Checks the relationship against the patient's age: a child is added by a guardian,
/// and "self" must be an adult's own card.
pub fn check_relationship(rel: Relationship, id: &IdCardNo, today: NaiveDate) -> Result<(), DomainError> {
    let age = id.age_on(today);
    match rel {
        Relationship::Myself if age < GUARDIAN_AGE => Err(DomainError::new(ErrorCode::GuardianRequired, "minor as self")),
        Relationship::Parent | Relationship::Spouse | Relationship::Other if age < GUARDIAN_AGE => {
            Err(DomainError::new(ErrorCode::GuardianRequired, "minor needs guardian relation"))
        }
        _ => Ok(()),
    }
}

/// What a patient list shows: masked forms only, so listing needs no decryption and no
/// audit row.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PatientSummary {
    pub id: i64,
    pub relationship: Relationship,
    pub name_masked: String,
    pub id_no_masked: String,
    pub mobile_masked: Option<String>,
    pub gender: Gender,
    pub birth_date: NaiveDate,
    pub mr_no: String,
    pub his_patient_id: String,
    pub insurance_kind: String,
    pub is_default: bool,
}

impl PatientSummary {
    /// How the account's owner tells their 就诊人 apart in their own lists (never where
    /// others may see): the masked name with the relation, and for a child or a parent the
    /// sex and age — two children of one guardian are 赵*（女儿，8岁） and 赵*（儿子，5岁）.
    pub fn own_label(&self, today: NaiveDate) -> String {
        let age = age_on(self.birth_date, today);
        let relation = match (self.relationship, self.gender) {
            (Relationship::Child, Gender::Male) => "儿子",
            (Relationship::Child, Gender::Female) => "女儿",
            (r, _) => r.label_zh(),
        };
        match self.relationship {
            Relationship::Myself => format!("{}（本人）", self.name_masked),
            _ => format!("{}（{relation}，{age}岁）", self.name_masked),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
    }

    fn with_check(first17: &str) -> String {
        format!("{first17}{}", IdCardNo::check_char(first17).unwrap())
    }

    #[test]
    fn gb_11643_check_digit() {
        // The standard's own example: 11010519491231002X.
        assert_eq!(IdCardNo::check_char("11010519491231002"), Some('X'));
        assert!(IdCardNo::parse("11010519491231002X", today()).is_ok());
        assert!(IdCardNo::parse("11010519491231002x", today()).is_ok());
        assert_eq!(IdCardNo::parse("110105194912310021", today()).unwrap_err().code, ErrorCode::IdNumberInvalid);
    }

    #[test]
    fn rejects_bad_shapes_and_dates() {
        for bad in ["", "123", "1101051949123100", "11010519491231002XX", "A1010519491231002X", "１１０１０５１９４９１２３１００２X"] {
            assert!(IdCardNo::parse(bad, today()).is_err(), "{bad}");
        }
        assert!(IdCardNo::parse(&with_check("44030520260230001"), today()).is_err(), "Feb 30");
        assert!(IdCardNo::parse(&with_check("44030520271201001"), today()).is_err(), "future");
        assert!(IdCardNo::parse(&with_check("00000019900101001"), today()).is_err(), "region");
    }

    #[test]
    fn derived_fields() {
        let id = IdCardNo::parse(&with_check("44030520200601003"), today()).unwrap();
        assert_eq!(id.expose().age_on(today()), 6);
        assert_eq!(id.expose().gender(), Gender::Male);
        assert_eq!(format!("{id}"), format!("4403**********{}", &id.expose().as_ref()[14..]));
        assert!(!format!("{id:?}").contains("20200601"));
    }

    #[test]
    fn mobile_and_name() {
        assert_eq!(Mobile::parse("+86 138-0013-8000").unwrap().expose().as_ref(), "13800138000");
        assert_eq!(format!("{}", Mobile::parse("13800138000").unwrap()), "138****8000");
        for bad in ["12800138000", "1380013800", "138001380001", "abc"] {
            assert!(Mobile::parse(bad).is_err());
        }
        assert!(PersonName::parse("张三").is_ok());
        assert!(PersonName::parse("买买提·艾力").is_ok());
        assert!(PersonName::parse("John Smith").is_ok());
        assert_eq!(format!("{:?}", PersonName::parse("张三丰").unwrap()), "\"张**\"");
        for bad in ["张", "张3", "<script>", "·张三", ""] {
            assert!(PersonName::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn relationship_rules() {
        let child = IdCardNo::parse(&with_check("44030520200601003"), today()).unwrap();
        let adult = IdCardNo::parse(&with_check("44030519800601003"), today()).unwrap();
        assert!(check_relationship(Relationship::Child, child.expose(), today()).is_ok());
        assert_eq!(check_relationship(Relationship::Myself, child.expose(), today()).unwrap_err().code, ErrorCode::GuardianRequired);
        assert!(check_relationship(Relationship::Myself, adult.expose(), today()).is_ok());
        assert!(check_relationship(Relationship::Parent, adult.expose(), today()).is_ok());
        assert_eq!(Relationship::parse("self").unwrap(), Relationship::Myself);
        assert!(Relationship::parse("boss").is_err());
    }
}
