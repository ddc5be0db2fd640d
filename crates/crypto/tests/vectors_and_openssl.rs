//! Published vectors for RSA-SHA256, and cross-checks against the machine's OpenSSL:
//! SM2 with a signer ID (both ways), SM3, SM4-ECB and SM4-CBC (both ways), MD5withRSA.
//! The AEADs (SM4-GCM, AES-256-GCM) are pinned to published vectors in `src/aead.rs`
//! only: `openssl enc` does not do AEAD modes.
use crypto::rsa_sha256::RsaSigner;
use crypto::sm2::{Sm2Signer, Sm2Verifier};
use std::io::Write;
use std::process::{Command, Stdio};

const WECHATPAY_GO_KEY: &str = include_str!("vectors/wechatpay_go_test_key.pem");

// wechatpay-go core/auth/signers/sha256withrsa_signer_test.go: message "source".
#[test]
fn wechatpay_go_rsa_signature_vector() {
    let s = RsaSigner::from_pkcs8_pem(WECHATPAY_GO_KEY).unwrap();
    let sig = s.sign_base64(b"source");
    assert_eq!(
        sig,
        "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoVz+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLli/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
    );
    let v = crypto::rsa_sha256::RsaVerifier::from_public_key_pem(&s.public_key_pem()).unwrap();
    assert!(v.verify_base64(b"source", &sig).is_ok());
    assert!(v.verify_base64(b"sourcE", &sig).is_err());
    assert!(v.verify_base64(b"source", "WECHATPAY/SIGNTEST/abc").is_err());
}

fn openssl(args: &[&str], stdin: &[u8]) -> (bool, Vec<u8>) {
    let mut child = Command::new("openssl")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("openssl is on the machine (Debian base)");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), out.stdout)
}

fn tmp(name: &str, data: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("cb-crypto-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p.to_string_lossy().into_owned()
}

#[test]
fn sm3_matches_openssl() {
    let data = "医保移动支付 SM3 cross-check".repeat(10);
    let (ok, out) = openssl(&["dgst", "-sm3", "-hex"], data.as_bytes());
    assert!(ok);
    let text = String::from_utf8(out).unwrap();
    assert!(text.trim().ends_with(&crypto::sm3::hex_digest(data.as_bytes())), "{text}");
}

#[test]
fn sm4_ecb_matches_openssl() {
    let key = "0123456789abcdeffedcba9876543210";
    let data = b"hello SM4 from carebridge, longer than one block";
    let (ok, out) = openssl(&["enc", "-sm4-ecb", "-K", key, "-nosalt"], data);
    assert!(ok);
    assert_eq!(out, crypto::sm4::ecb_encrypt_pkcs7(&hex::decode(key).unwrap(), data).unwrap());
}

#[test]
fn sm4_ecb_decrypts_what_openssl_encrypts() {
    let key = "fedcba98765432100123456789abcdef";
    let data = "医保结算 SM4-ECB, OpenSSL to ours".as_bytes();
    let (ok, out) = openssl(&["enc", "-sm4-ecb", "-K", key, "-nosalt"], data);
    assert!(ok);
    assert_eq!(crypto::sm4::ecb_decrypt_pkcs7(&hex::decode(key).unwrap(), &out).unwrap(), data);
}

#[test]
fn sm4_cbc_interoperates_with_openssl_both_ways() {
    let key = "0123456789abcdeffedcba9876543210";
    let iv = "000102030405060708090a0b0c0d0e0f";
    let iv_bytes: [u8; 16] = hex::decode(iv).unwrap().try_into().unwrap();
    let key_bytes = hex::decode(key).unwrap();
    // Lengths around the block size: padding is where implementations differ.
    for len in [0usize, 1, 15, 16, 17, 47, 64] {
        let data: Vec<u8> = (0..len).map(|i| (i * 7 + 3) as u8).collect();
        // Ours -> OpenSSL.
        let ours = crypto::sm4::cbc_encrypt_pkcs7(&key_bytes, &iv_bytes, &data).unwrap();
        let (ok, out) = openssl(&["enc", "-d", "-sm4-cbc", "-K", key, "-iv", iv, "-nosalt"], &ours);
        assert!(ok, "openssl could not decrypt our SM4-CBC ({len} bytes)");
        assert_eq!(out, data, "{len} bytes");
        // OpenSSL -> ours, and the same bytes as ours.
        let (ok, theirs) = openssl(&["enc", "-sm4-cbc", "-K", key, "-iv", iv, "-nosalt"], &data);
        assert!(ok);
        assert_eq!(theirs, ours, "{len} bytes");
        assert_eq!(crypto::sm4::cbc_decrypt_pkcs7(&key_bytes, &iv_bytes, &theirs).unwrap(), data, "{len} bytes");
    }
}

/// Writes an SM2 private key as an OpenSSL-readable PEM (SEC1 "EC PRIVATE KEY" with the SM2 OID).
fn sm2_sec1_pem(secret: &[u8; 32], public: &[u8]) -> String {
    use base64::Engine;
    // ECPrivateKey ::= SEQUENCE { version 1, privateKey OCTET STRING, [0] curve OID, [1] publicKey BIT STRING }
    let oid = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];
    let mut body = vec![0x02, 0x01, 0x01, 0x04, 0x20];
    body.extend_from_slice(secret);
    body.extend([0xa0, oid.len() as u8]);
    body.extend(oid);
    body.extend([0xa1, (public.len() + 3) as u8, 0x03, (public.len() + 1) as u8, 0x00]);
    body.extend_from_slice(public);
    let mut der = vec![0x30, 0x81, body.len() as u8];
    der.extend(body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    format!("-----BEGIN EC PRIVATE KEY-----\n{}\n-----END EC PRIVATE KEY-----\n", lines.join("\n"))
}

#[test]
fn sm2_signatures_interoperate_with_openssl_both_ways() {
    let id = "30BFE2B0C715E516E5EDF21E289DA826";
    let signer = Sm2Signer::generate(id);
    let key_path = tmp("sm2.pem", sm2_sec1_pem(&signer.secret_bytes(), &signer.public_key_bytes()).as_bytes());
    let msg = b"appId=demo&data={\"a\":1}&encType=SM4&signType=SM2&key=secret";
    let msg_path = tmp("msg.txt", msg);
    let distid = format!("distid:{id}");

    // Ours -> OpenSSL.
    let sig_der = crypto::sm2::raw_to_der(&signer.sign(msg)).unwrap();
    let sig_path = tmp("ours.sig", &sig_der);
    let (ok, out) =
        openssl(&["pkeyutl", "-verify", "-inkey", &key_path, "-rawin", "-digest", "sm3", "-in", &msg_path, "-sigfile", &sig_path, "-pkeyopt", &distid], b"");
    assert!(ok, "openssl rejected our SM2 signature: {}", String::from_utf8_lossy(&out));

    // OpenSSL -> ours.
    let (ok, sig) = openssl(&["pkeyutl", "-sign", "-inkey", &key_path, "-rawin", "-digest", "sm3", "-in", &msg_path, "-pkeyopt", &distid], b"");
    assert!(ok, "openssl could not sign");
    let v = Sm2Verifier::from_public_key_bytes(id, &signer.public_key_bytes()).unwrap();
    assert!(v.verify_der(msg, &sig).is_ok());
    // And a different signer ID must not verify OpenSSL's signature.
    let wrong = Sm2Verifier::from_public_key_bytes("1234567812345678", &signer.public_key_bytes()).unwrap();
    assert!(wrong.verify_der(msg, &sig).is_err());
}

#[test]
fn md5_with_rsa_matches_openssl() {
    let s = RsaSigner::from_pkcs8_pem(WECHATPAY_GO_KEY).unwrap();
    let msg = b"POSID=100001&BRANCHID=442000000&ORDERID=CB1&PAYMENT=0.01&CURCODE=01&REMARK1=&REMARK2=&SUCCESS=Y";
    let sig_hex = s.sign_md5_hex(msg);
    let key = tmp("rsa.pem", WECHATPAY_GO_KEY.as_bytes());
    let pubkey = tmp("rsa_pub.pem", s.public_key_pem().as_bytes());
    let data = tmp("ccb.txt", msg);
    let (ok, sig) = openssl(&["dgst", "-md5", "-sign", &key, &data], b"");
    assert!(ok);
    assert_eq!(hex::encode(&sig), sig_hex, "PKCS#1 v1.5 is deterministic: same bytes as OpenSSL");
    let sig_path = tmp("ccb.sig", &sig);
    let (ok, _) = openssl(&["dgst", "-md5", "-verify", &pubkey, "-signature", &sig_path, &data], b"");
    assert!(ok);
    let v = s.verifier();
    assert!(v.verify_md5_hex(msg, &sig_hex).is_ok());
    assert!(v.verify_md5_hex(b"tampered", &sig_hex).is_err());
}
