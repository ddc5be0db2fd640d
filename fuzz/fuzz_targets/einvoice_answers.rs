//! What the e-invoice platform sends back, and what it is sent: an answer envelope
//! (Base64 JSON with a Base64 message) → the invoice, reversal or state fields. Never a
//! panic. When the first byte is odd the rest, as JSON, is sealed in a request envelope
//! the way the connector seals it: it must open with the key to the same params, and not
//! with another key or once its data is changed.
#![no_main]
use gateways::einvoice::{Answer, decode_answer, envelope, open_envelope, parse_issued, parse_reversal, parse_status};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

fuzz_target!(|input: &[u8]| {
    let Some((&mode, body)) = input.split_first() else { return };
    if let Ok(Answer::Ok(v)) = decode_answer(body) {
        let _ = parse_issued(&v);
        let _ = parse_reversal(&v);
        let _ = parse_status(&v);
    }
    let _ = open_envelope(body, "APPID", "KEY");
    if mode & 1 == 1 {
        let Ok(params) = serde_json::from_slice::<Value>(body) else { return };
        let sealed = envelope("APPID", "KEY", "noise", &params);
        let wire = sealed.to_string();
        assert_eq!(open_envelope(wire.as_bytes(), "APPID", "KEY").expect("a sealed request opens"), params);
        assert!(open_envelope(wire.as_bytes(), "APPID", "OTHER").is_err(), "opened with another key");
        let mut changed = sealed.clone();
        changed["data"] = json!(format!("{}A", sealed["data"].as_str().unwrap_or_default()));
        assert!(open_envelope(changed.to_string().as_bytes(), "APPID", "KEY").is_err(), "changed data still verifies");
    }
});
