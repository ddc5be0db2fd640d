//! HMAC-SHA256, HMAC-SHA1 (only for TOTP, per RFC 6238) and HMAC-SM3.
use hmac::{Hmac, KeyInit, Mac};

fn mac<M: Mac + KeyInit>(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut m = <M as KeyInit>::new_from_slice(key).expect("HMAC takes keys of any length");
    m.update(data);
    m.finalize().into_bytes().to_vec()
}

pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    mac::<Hmac<sha2::Sha256>>(key, data).try_into().expect("32 bytes")
}

pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    mac::<Hmac<sha1::Sha1>>(key, data).try_into().expect("20 bytes")
}

pub fn hmac_sm3(key: &[u8], data: &[u8]) -> [u8; 32] {
    mac::<Hmac<sm3::Sm3>>(key, data).try_into().expect("32 bytes")
}

/// `<subject>-<12 hex digits of HMAC-SHA256(key, subject)>`: a code printed for anyone to
/// check (a report's verification QR) that cannot be made from the subject alone. The
/// hospital's LIS is given the same key so its own printed form verifies too.
pub fn keyed_code(key: &[u8], subject: &str) -> String {
    let tag = hex::encode(hmac_sha256(key, subject.as_bytes()));
    format!("{subject}-{}", &tag[..12])
}

pub fn sha256(data: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(data).into()
}

/// MD5, lower-case hex. Only for protocols that demand it (the bank's order MAC); never
/// for anything we choose ourselves.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(md5(data))
}

/// MD5, the raw 16 bytes (protocols that Base64 the digest: the courier's msgDigest).
pub fn md5(data: &[u8]) -> [u8; 16] {
    use md5::Digest;
    md5::Md5::digest(data).into()
}

/// Verifies a MAC in constant time.
pub fn verify_hmac_sha256(key: &[u8], data: &[u8], expected: &[u8]) -> bool {
    crate::constant_time_eq(&hmac_sha256(key, data), expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test cases 1 and 2.
    #[test]
    fn rfc_4231_hmac_sha256() {
        assert_eq!(hex::encode(hmac_sha256(&[0x0b; 20], b"Hi There")), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        assert_eq!(hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
        assert!(verify_hmac_sha256(b"Jefe", b"what do ya want for nothing?", &hmac_sha256(b"Jefe", b"what do ya want for nothing?")));
        assert!(!verify_hmac_sha256(b"Jefe", b"what do ya want for nothing!", &hmac_sha256(b"Jefe", b"what do ya want for nothing?")));
    }

    // RFC 2202 test case 2.
    #[test]
    fn rfc_2202_hmac_sha1() {
        assert_eq!(hex::encode(hmac_sha1(b"Jefe", b"what do ya want for nothing?")), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    }

    // RFC 1321 appendix A.5.
    #[test]
    fn rfc_1321_md5() {
        assert_eq!(md5_hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5_hex(b"message digest"), "f96b697d7cb7938d525a2f31aaf161d0");
    }

    #[test]
    fn sha256_abc() {
        assert_eq!(hex::encode(sha256(b"abc")), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
