//! ID numbers, mobile numbers and names as typed by anyone: never a panic; whatever is
//! accepted parses again to itself, and its masked forms never show the whole value.
#![no_main]
use chrono::NaiveDate;
use domain::identity::{IdCardNo, Mobile, PersonName};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else { return };
    let today = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    if let Ok(id) = IdCardNo::parse(s, today) {
        let raw = id.expose().as_ref().to_owned();
        assert_eq!(raw.len(), 18);
        assert!(!format!("{id}").contains(&raw) && !format!("{id:?}").contains(&raw[6..14]), "birth date shown unmasked");
        assert_eq!(IdCardNo::parse_stored(&raw).map(|x| x.expose().as_ref().to_owned()).ok(), Some(raw));
    }
    let _ = IdCardNo::parse_stored(s);
    if let Ok(m) = Mobile::parse(s) {
        let raw = m.expose().as_ref().to_owned();
        assert!(!format!("{m}").contains(&raw) && !format!("{m:?}").contains(&raw));
        assert_eq!(Mobile::parse(&raw).map(|x| x.expose().as_ref().to_owned()).ok(), Some(raw));
    }
    if let Ok(n) = PersonName::parse(s) {
        let raw = n.expose().as_ref().to_owned();
        assert_eq!(PersonName::parse(&raw).map(|x| x.expose().as_ref().to_owned()).ok(), Some(raw));
    }
});
