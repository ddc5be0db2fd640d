//! An answer from the NHSA mobile-payment centre as it arrives: JSON → envelope (app id,
//! SM4 `encData`, SM2 `signData`) → settlement fields. Never a panic; a forged envelope
//! never opens. When the first byte is odd, the fuzzer seals the rest itself as the
//! centre would, so the code after the signature is reached: then it must open to the
//! same data, and a changed field must not.
#![no_main]
use crypto::sm2::Sm2Signer;
use gateways::nhsa::client::{classify, settlement};
use gateways::nhsa::envelope::{Party, decrypt_data, sm4_key};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Value, json};
use std::sync::OnceLock;

const APP_ID: &str = "0F0822652EB7CB91A644E638FBE9941E";
const APP_SECRET: &str = "30BFE2B0C715E516E5EDF21E289DA826";

/// (us, the centre): each opens what the other sealed.
fn parties() -> &'static (Party, Party) {
    static P: OnceLock<(Party, Party)> = OnceLock::new();
    P.get_or_init(|| {
        let ours = Sm2Signer::from_secret_bytes("1234567812345678", &[7u8; 32]).unwrap();
        let centre = Sm2Signer::from_secret_bytes("1234567812345678", &[9u8; 32]).unwrap();
        let (our_v, centre_v) = (ours.verifier(), centre.verifier());
        (
            Party { app_id: APP_ID.into(), app_secret: APP_SECRET.into(), signer: ours, peer: centre_v },
            Party { app_id: APP_ID.into(), app_secret: APP_SECRET.into(), signer: centre, peer: our_v },
        )
    })
}

fuzz_target!(|input: &[u8]| {
    let Some((&mode, body)) = input.split_first() else { return };
    let (us, centre) = parties();
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = decrypt_data(&sm4_key(APP_ID, APP_SECRET), text);
        let _ = classify(text);
    }
    let Ok(wire) = serde_json::from_slice::<Value>(body) else { return };
    if mode & 1 == 1 {
        // The body as the centre's business data, sealed properly.
        let mut fields = Map::new();
        fields.insert("code".into(), json!("0"));
        fields.insert("timestamp".into(), json!("1764115200000"));
        let sealed = centre.seal(fields, &wire);
        let (data, _) = us.open(&sealed).expect("a properly sealed answer opens");
        assert_eq!(data, gateways::nhsa::envelope::canonical(&wire));
        let _ = settlement(&data);
        let mut forged = sealed.clone();
        forged["timestamp"] = json!("1764115200001");
        assert!(us.open(&forged).is_err(), "a changed field still verifies");
    } else {
        // Anything else is a forgery: it may be refused, never opened.
        if let Ok((data, _)) = us.open(&wire) {
            panic!("forged envelope opened: {data}");
        }
        let _ = settlement(&wire);
    }
});
