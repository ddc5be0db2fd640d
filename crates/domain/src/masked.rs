//! Personal data that masks itself when printed.
//!
//! `Masked<T>` wraps a value whose `Debug` and `Display` show only what a clerk may
//! see on a printed slip (`4403**********1234`, `138****8000`, `张*`). Logging such a
//! value by accident is therefore safe; the raw value is reachable only through the
//! explicit [`Masked::expose`], which code review can find.
use serde::{Deserialize, Serialize};
use std::fmt;

/// How a type masks itself.
pub trait MaskRule {
    fn mask(raw: &str) -> String;
}

#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Masked<T>(T);

impl<T> Masked<T> {
    pub fn new(v: T) -> Self {
        Self(v)
    }
    /// The raw value. Every call site is a place where personal data leaves its guard.
    pub fn expose(&self) -> &T {
        &self.0
    }
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: AsRef<str> + MaskRule> fmt::Debug for Masked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{}\"", T::mask(self.0.as_ref()))
    }
}

impl<T: AsRef<str> + MaskRule> fmt::Display for Masked<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&T::mask(self.0.as_ref()))
    }
}

/// Keeps the first `head` and last `tail` characters and stars the rest.
pub fn keep_ends(raw: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = raw.chars().collect();
    if chars.len() <= head + tail {
        return "*".repeat(chars.len().max(1));
    }
    let mut s: String = chars[..head].iter().collect();
    s.push_str(&"*".repeat(chars.len() - head - tail));
    s.extend(&chars[chars.len() - tail..]);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_ends_handles_short_and_unicode() {
        assert_eq!(keep_ends("13800138000", 3, 4), "138****8000");
        assert_eq!(keep_ends("ab", 3, 4), "**");
        assert_eq!(keep_ends("欧阳娜娜", 1, 0), "欧***");
    }
}
