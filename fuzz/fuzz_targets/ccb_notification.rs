//! The bank's result notification as it arrives (a form body), and the bank's daily
//! statement file. Never a panic; a notification verifies only under the bank's key, and
//! when the input asks for it (first byte odd) the fuzzer signs the parsed fields itself
//! so that the code after the signature check is reached too: then verification must
//! pass, and changing the amount must make it fail.
#![no_main]
use crypto::rsa_sha256::{RsaSigner, RsaVerifier};
use gateways::ccb::client::parse_statement;
use gateways::ccb::signing::{Notification, SignDigest};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn keys() -> &'static (RsaSigner, RsaVerifier) {
    static K: OnceLock<(RsaSigner, RsaVerifier)> = OnceLock::new();
    K.get_or_init(|| {
        let signer = RsaSigner::from_pkcs8_pem(include_str!("../../crates/crypto/tests/vectors/wechatpay_go_test_key.pem")).unwrap();
        let verifier = signer.verifier();
        (signer, verifier)
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else { return };
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = parse_statement(text);
    }
    let Ok(mut pairs) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(body) else { return };
    let (signer, verifier) = keys();
    if mode & 1 == 1 {
        // Sign what was parsed, then check the checked path.
        let Ok(n) = Notification::from_pairs(&pairs) else { return };
        let sign = signer.sign_md5_hex(n.verify_string().as_bytes());
        pairs.retain(|(k, _)| k != "SIGN");
        pairs.push(("SIGN".into(), sign));
        let n = Notification::from_pairs(&pairs).expect("parsed before");
        assert!(n.verify(verifier, SignDigest::Md5).is_ok(), "own signature refused");
        let _ = n.amount();
        let mut tampered = n.clone();
        tampered.payment.push('1');
        assert!(tampered.verify(verifier, SignDigest::Md5).is_err(), "a changed amount still verifies");
    } else if let Ok(n) = Notification::from_pairs(&pairs) {
        for digest in [SignDigest::Md5, SignDigest::Sha256] {
            // A random SIGN verifying would be a forgery.
            assert!(n.verify(verifier, digest).is_err());
        }
        let _ = n.amount();
    }
});
