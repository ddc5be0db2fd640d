//! Authenticated encryption: AES-GCM (WeChat Pay callback resources, data at rest)
//! and SM4-GCM (data at rest where national algorithms are required).
use crate::{CryptoError, Result};
use aes_gcm::aead::consts::U12;
use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes128Gcm, Aes256Gcm, AesGcm, Nonce};

pub type Sm4Gcm = AesGcm<sm4::Sm4, U12>;

fn seal_with<C>(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>>
where
    C: Aead + KeyInit + aes_gcm::AeadCore<NonceSize = U12>,
{
    let c = C::new_from_slice(key).map_err(|_| CryptoError::InvalidKey("wrong AEAD key length"))?;
    c.encrypt(&Nonce::from(*nonce), Payload { msg: pt, aad }).map_err(|_| CryptoError::Malformed("plaintext too long"))
}

fn open_with<C>(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>>
where
    C: Aead + KeyInit + aes_gcm::AeadCore<NonceSize = U12>,
{
    let c = C::new_from_slice(key).map_err(|_| CryptoError::InvalidKey("wrong AEAD key length"))?;
    c.decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad }).map_err(|_| CryptoError::DecryptFailed)
}

/// AES-GCM with a 16- or 32-byte key (128 or 256 bit). Output is `ct‖tag`.
pub fn aes_gcm_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>> {
    match key.len() {
        16 => seal_with::<Aes128Gcm>(key, nonce, aad, pt),
        32 => seal_with::<Aes256Gcm>(key, nonce, aad, pt),
        _ => Err(CryptoError::InvalidKey("AES key must be 16 or 32 bytes")),
    }
}

pub fn aes_gcm_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>> {
    match key.len() {
        16 => open_with::<Aes128Gcm>(key, nonce, aad, ct),
        32 => open_with::<Aes256Gcm>(key, nonce, aad, ct),
        _ => Err(CryptoError::InvalidKey("AES key must be 16 or 32 bytes")),
    }
}

pub fn sm4_gcm_seal(key: &[u8], nonce: &[u8; 12], aad: &[u8], pt: &[u8]) -> Result<Vec<u8>> {
    seal_with::<Sm4Gcm>(key, nonce, aad, pt)
}

pub fn sm4_gcm_open(key: &[u8], nonce: &[u8; 12], aad: &[u8], ct: &[u8]) -> Result<Vec<u8>> {
    open_with::<Sm4Gcm>(key, nonce, aad, ct)
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD as B64;

    fn n(s: &str) -> [u8; 12] {
        s.as_bytes().try_into().unwrap()
    }

    // wechatpay-go utils/aes_test.go (a 16-byte key: AES-128-GCM).
    #[test]
    fn wechatpay_go_vector() {
        let ct = B64.decode("FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC").unwrap();
        let pt = aes_gcm_open(b"testAPIv3Key0000", &n("wCq51qZv4Yfg"), b"Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8", &ct).unwrap();
        assert_eq!(pt, b"Hello World");
    }

    // protocols.md §3.3 32-byte (AES-256-GCM) vector.
    #[test]
    fn apiv3_key_vector() {
        let key = b"0123456789abcdef0123456789abcdef";
        let pt = br#"{"mix_trade_no":"M1","mix_pay_status":"MIX_PAY_SUCCESS"}"#;
        let ct = aes_gcm_seal(key, &n("abcdefghijkl"), b"transaction", pt).unwrap();
        assert_eq!(B64.encode(&ct), "Eu6k1rO6GaECeJdOZPZ6BX58ij2VogIyZuFO/asDvZ4NvNWPDG7Q7gMiz/BPytiOyxb/8egNVIb3/p6KQ7rsJjaSD+1AN1cg");
        assert_eq!(aes_gcm_open(key, &n("abcdefghijkl"), b"transaction", &ct).unwrap(), pt);
    }

    #[test]
    fn tampering_and_wrong_aad_are_detected() {
        let key = [9u8; 32];
        let mut ct = aes_gcm_seal(&key, &[1; 12], b"a", b"secret").unwrap();
        assert_eq!(aes_gcm_open(&key, &[1; 12], b"b", &ct), Err(CryptoError::DecryptFailed));
        ct[0] ^= 1;
        assert_eq!(aes_gcm_open(&key, &[1; 12], b"a", &ct), Err(CryptoError::DecryptFailed));
        assert!(matches!(aes_gcm_seal(&[0u8; 20], &[1; 12], b"", b"x"), Err(CryptoError::InvalidKey(_))));
    }

    /// SM4-GCM vector from RFC 8998 Appendix A.1 (TLS 1.3 ShangMi cipher suites).
    #[test]
    fn rfc_8998_sm4_gcm_vector() {
        let key = hex::decode("0123456789ABCDEFFEDCBA9876543210").unwrap();
        let iv: [u8; 12] = hex::decode("00001234567800000000ABCD").unwrap().try_into().unwrap();
        let aad = hex::decode("FEEDFACEDEADBEEFFEEDFACEDEADBEEFABADDAD2").unwrap();
        let pt =
            hex::decode("AAAAAAAAAAAAAAAABBBBBBBBBBBBBBBBCCCCCCCCCCCCCCCCDDDDDDDDDDDDDDDDEEEEEEEEEEEEEEEEFFFFFFFFFFFFFFFFEEEEEEEEEEEEEEEEAAAAAAAAAAAAAAAA")
                .unwrap();
        let ct = sm4_gcm_seal(&key, &iv, &aad, &pt).unwrap();
        assert_eq!(
            hex::encode_upper(&ct[..pt.len()]),
            "17F399F08C67D5EE19D0DC9969C4BB7D5FD46FD3756489069157B282BB200735D82710CA5C22F0CCFA7CBF93D496AC15A56834CBCF98C397B4024A2691233B8D"
        );
        assert_eq!(hex::encode_upper(&ct[pt.len()..]), "83DE3541E4C2B58177E065A9BF7B62EC");
        assert_eq!(sm4_gcm_open(&key, &iv, &aad, &ct).unwrap(), pt);
    }
}
