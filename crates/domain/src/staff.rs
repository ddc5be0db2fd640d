//! Hospital staff and their roles. Every staff route names the roles it admits.
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Nurse,
    Doctor,
    Lab,
    Records,
    Finance,
    /// 门诊部: schedules, session changes, the insurance rules and the no-show list.
    Outpatient,
    Admin,
}

impl Role {
    pub const ALL: [Role; 7] = [Role::Nurse, Role::Doctor, Role::Lab, Role::Records, Role::Finance, Role::Outpatient, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Nurse => "nurse",
            Role::Doctor => "doctor",
            Role::Lab => "lab",
            Role::Records => "records",
            Role::Finance => "finance",
            Role::Outpatient => "outpatient",
            Role::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Role> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
    pub fn label_zh(self) -> &'static str {
        match self {
            Role::Nurse => "护士",
            Role::Doctor => "医生",
            Role::Lab => "检验科",
            Role::Records => "病案室",
            Role::Finance => "财务",
            Role::Outpatient => "门诊部",
            Role::Admin => "系统管理员",
        }
    }
}

/// Usernames: 3–32 of a-z, 0-9, `.`, `_`, `-`, starting with a letter.
pub fn valid_username(s: &str) -> bool {
    let b = s.as_bytes();
    (3..=32).contains(&b.len())
        && b[0].is_ascii_lowercase()
        && b.iter().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-'))
}

/// A password policy in line with 等保 2.0 level 3: at least 10 characters from at least
/// three of lower, upper, digit, symbol.
pub fn password_acceptable(p: &str) -> bool {
    let classes = [
        p.chars().any(|c| c.is_ascii_lowercase()),
        p.chars().any(|c| c.is_ascii_uppercase()),
        p.chars().any(|c| c.is_ascii_digit()),
        p.chars().any(|c| !c.is_ascii_alphanumeric()),
    ];
    p.chars().count() >= 10 && p.len() <= 128 && classes.iter().filter(|x| **x).count() >= 3
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_and_password_rules() {
        assert!(valid_username("nurse01"));
        assert!(!valid_username("N"));
        assert!(!valid_username("1abc"));
        assert!(password_acceptable("Abcdef1234"));
        assert!(!password_acceptable("abcdefghij"));
        assert!(!password_acceptable("Ab1!"));
        for r in Role::ALL {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
    }
}
