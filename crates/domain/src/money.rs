//! Money as integer fen. Never a float: the insurance centre and the bank speak yuan
//! strings with two decimals, converted here exactly.
use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Fen(pub i64);

impl Fen {
    pub const ZERO: Fen = Fen(0);

    pub fn checked_add(self, o: Fen) -> Option<Fen> {
        self.0.checked_add(o.0).map(Fen)
    }
    pub fn checked_sub(self, o: Fen) -> Option<Fen> {
        self.0.checked_sub(o.0).map(Fen)
    }
    pub fn is_negative(self) -> bool {
        self.0 < 0
    }

    /// "12.30" style, as NHSA and CCB want it.
    pub fn to_yuan_string(self) -> String {
        let sign = if self.0 < 0 { "-" } else { "" };
        let a = self.0.unsigned_abs();
        format!("{sign}{}.{:02}", a / 100, a % 100)
    }

    /// Parses "12", "12.3", "12.30", "-0.05". More than two decimals is an error, never
    /// a rounding.
    pub fn parse_yuan(s: &str) -> Option<Fen> {
        let s = s.trim();
        let (neg, body) = match s.strip_prefix('-') {
            Some(b) => (true, b),
            None => (false, s),
        };
        let (int, frac) = match body.split_once('.') {
            Some((i, f)) => (i, f),
            None => (body, ""),
        };
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 2 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let int: i64 = int.parse().ok()?;
        let frac: i64 = match frac.len() {
            0 => 0,
            1 => frac.parse::<i64>().ok()? * 10,
            _ => frac.parse().ok()?,
        };
        let v = int.checked_mul(100)?.checked_add(frac)?;
        Some(Fen(if neg { -v } else { v }))
    }
}

impl fmt::Display for Fen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "¥{}", self.to_yuan_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yuan_strings_round_trip() {
        for (s, f) in [("0.00", 0), ("12.30", 1230), ("-0.05", -5), ("1000000.01", 100000001)] {
            assert_eq!(Fen(f).to_yuan_string(), s);
            assert_eq!(Fen::parse_yuan(s), Some(Fen(f)));
        }
        assert_eq!(Fen::parse_yuan("12.3"), Some(Fen(1230)));
        assert_eq!(Fen::parse_yuan("12"), Some(Fen(1200)));
        for bad in ["", "1.234", "1e3", "abc", ".5", "1.-5", "99999999999999999999"] {
            assert_eq!(Fen::parse_yuan(bad), None, "{bad}");
        }
    }
}
