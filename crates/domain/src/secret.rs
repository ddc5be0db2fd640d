//! Keys, passwords and tokens as a type that never prints: `Debug` and serialisation show
//! only whether it is set, so a secret added to the settings or to a connector's
//! configuration cannot reach a log line or `print-config` by mistake. The value is held
//! in a `secrecy::SecretString` (wiped from memory when dropped) and read only through
//! [`Secret::expose`], at the point of use (signing a request, deriving a key).
use secrecy::{ExposeSecret, SecretString};
use std::fmt;

#[derive(Clone, Default)]
pub struct Secret(SecretString);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(SecretString::from(value.into()))
    }

    /// The secret itself: for the one place that uses it, never for printing.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn is_empty(&self) -> bool {
        self.expose().is_empty()
    }

    /// What may be shown of it: whether it is set.
    pub fn shown(&self) -> &'static str {
        if self.is_empty() { "(unset)" } else { "***" }
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({})", self.shown())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s)
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s)
    }
}

/// Serialised as its mask: settings written out for people never carry the value.
impl serde::Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.shown())
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_never_prints_or_serialises_its_value() {
        let s = Secret::new("hunter2-key");
        assert_eq!(format!("{s:?}"), "Secret(***)");
        assert_eq!(format!("{:?}", Secret::default()), "Secret((unset))");
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"***\"");
        assert_eq!(s.expose(), "hunter2-key");
        let back: Secret = serde_json::from_str("\"from-config\"").unwrap();
        assert_eq!(back.expose(), "from-config");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Config {
            key: Secret,
        }
        assert!(!format!("{:?}", Config { key: s.clone() }).contains("hunter2"));
    }
}
