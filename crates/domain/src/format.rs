//! The one place that turns values into the text people and outside systems read: local
//! times in the hospital's zone, yuan amounts, URL components. Every layer uses these, so
//! a page, a message and an export show the same value the same way.
use crate::clock::to_local;
use crate::money::Fen;
use chrono::{DateTime, Utc};

/// How much of a local (Asia/Shanghai) time to show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeStyle {
    /// 2026-11-25
    Date,
    /// 2026-11-25 09:30
    Minute,
    /// 2026-11-25 09:30:05
    Second,
    /// 11-25 09:30 (this year's lists)
    ShortMinute,
    /// 11-25 09:30:05 (the message log)
    ShortSecond,
    /// 20261125 (file names, statement dates)
    CompactDate,
    /// 20261125093005 (outside systems' timestamps)
    Compact,
}

impl TimeStyle {
    fn pattern(self) -> &'static str {
        match self {
            Self::Date => "%Y-%m-%d",
            Self::Minute => "%Y-%m-%d %H:%M",
            Self::Second => "%Y-%m-%d %H:%M:%S",
            Self::ShortMinute => "%m-%d %H:%M",
            Self::ShortSecond => "%m-%d %H:%M:%S",
            Self::CompactDate => "%Y%m%d",
            Self::Compact => "%Y%m%d%H%M%S",
        }
    }
}

/// An instant as the hospital's wall clock shows it.
pub fn local_time(t: DateTime<Utc>, style: TimeStyle) -> String {
    to_local(t).format(style.pattern()).to_string()
}

/// Fen as yuan with two decimals ("12.30", "-0.05"), without the currency sign: pages
/// put "¥" where their layout wants it.
pub fn yuan(amount: Fen) -> String {
    amount.to_yuan_string()
}

/// Percent-encodes everything but RFC 3986's unreserved characters: safe in a query
/// value and in a path segment alike.
pub fn url_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn local_times_are_shanghai_wall_clock_in_each_style() {
        let t = Utc.with_ymd_and_hms(2026, 11, 24, 17, 30, 5).unwrap();
        assert_eq!(local_time(t, TimeStyle::Date), "2026-11-25");
        assert_eq!(local_time(t, TimeStyle::Minute), "2026-11-25 01:30");
        assert_eq!(local_time(t, TimeStyle::Second), "2026-11-25 01:30:05");
        assert_eq!(local_time(t, TimeStyle::ShortMinute), "11-25 01:30");
        assert_eq!(local_time(t, TimeStyle::ShortSecond), "11-25 01:30:05");
        assert_eq!(local_time(t, TimeStyle::CompactDate), "20261125");
        assert_eq!(local_time(t, TimeStyle::Compact), "20261125013005");
    }

    #[test]
    fn yuan_has_two_decimals_and_a_sign() {
        assert_eq!(yuan(Fen(12_345)), "123.45");
        assert_eq!(yuan(Fen(5)), "0.05");
        assert_eq!(yuan(Fen(-63_100)), "-631.00");
        assert_eq!(yuan(Fen(i64::MIN)), "-92233720368547758.08");
    }

    #[test]
    fn url_encoding_keeps_only_unreserved_characters() {
        assert_eq!(url_encode("a-Z_0.~"), "a-Z_0.~");
        assert_eq!(url_encode("st&ate =/?"), "st%26ate%20%3D%2F%3F");
        assert_eq!(url_encode("张"), "%E5%BC%A0");
    }
}
