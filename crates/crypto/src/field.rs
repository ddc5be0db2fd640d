//! Encryption of personal data at rest, and keyed hashes for looking it up.
//!
//! A sealed value is text so it fits any column: `<alg>:<key-version>:<base64(nonce‖ct‖tag)>`.
//! The column name is bound in as associated data, so a ciphertext copied into another
//! column (an ID number pasted into the phone column) fails to open. Keys come from
//! settings, never from the database.
use crate::aead::{aes_gcm_open, aes_gcm_seal, sm4_gcm_open, sm4_gcm_seal};
use crate::{CryptoError, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FieldCipherAlgorithm {
    /// AES-256-GCM, 32-byte key.
    Aes256Gcm,
    /// SM4-GCM, 16-byte key (GB/T 36624).
    Sm4Gcm,
}

impl FieldCipherAlgorithm {
    pub fn tag(self) -> &'static str {
        match self {
            Self::Aes256Gcm => "a256",
            Self::Sm4Gcm => "sm4",
        }
    }
    pub fn key_len(self) -> usize {
        match self {
            Self::Aes256Gcm => 32,
            Self::Sm4Gcm => 16,
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aes-256-gcm" | "a256" => Some(Self::Aes256Gcm),
            "sm4-gcm" | "sm4" => Some(Self::Sm4Gcm),
            _ => None,
        }
    }
}

#[derive(Clone)]
pub struct FieldCipher {
    alg: FieldCipherAlgorithm,
    version: u32,
    key: Vec<u8>,
    /// Older keys still able to open values sealed before a rotation.
    retired: Vec<(FieldCipherAlgorithm, u32, Vec<u8>)>,
}

impl std::fmt::Debug for FieldCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FieldCipher({}:v{}, key=***)", self.alg.tag(), self.version)
    }
}

impl FieldCipher {
    pub fn new(alg: FieldCipherAlgorithm, version: u32, key: Vec<u8>) -> Result<Self> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidKey("field key has the wrong length for its algorithm"));
        }
        Ok(Self { alg, version, key, retired: Vec::new() })
    }

    /// Adds a retired key that can still open old values.
    pub fn with_retired(mut self, alg: FieldCipherAlgorithm, version: u32, key: Vec<u8>) -> Result<Self> {
        if key.len() != alg.key_len() {
            return Err(CryptoError::InvalidKey("retired field key has the wrong length"));
        }
        self.retired.push((alg, version, key));
        Ok(self)
    }

    pub fn seal(&self, column: &str, plaintext: &str) -> String {
        format!("{}:{}:{}", self.alg.tag(), self.version, B64.encode(self.seal_blob(column, plaintext.as_bytes())))
    }

    pub fn open(&self, column: &str, sealed: &str) -> Result<String> {
        let mut parts = sealed.splitn(3, ':');
        let (Some(tag), Some(ver), Some(body)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed("sealed field"));
        };
        let blob = B64.decode(body).map_err(|_| CryptoError::Malformed("sealed field base64"))?;
        let pt = self.open_blob(tag, ver, column, &blob)?;
        String::from_utf8(pt).map_err(|_| CryptoError::DecryptFailed)
    }

    /// Seals a file's bytes (a report PDF, an image) bound to `context` (the file's
    /// key): `<alg>:<version>:` then nonce ‖ ciphertext ‖ tag, binary.
    pub fn seal_bytes(&self, context: &str, plaintext: &[u8]) -> Vec<u8> {
        let mut out = format!("{}:{}:", self.alg.tag(), self.version).into_bytes();
        out.extend(self.seal_blob(context, plaintext));
        out
    }

    pub fn open_bytes(&self, context: &str, sealed: &[u8]) -> Result<Vec<u8>> {
        let mut parts = sealed.splitn(3, |b| *b == b':');
        let (Some(tag), Some(ver), Some(blob)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(CryptoError::Malformed("sealed file"));
        };
        let tag = std::str::from_utf8(tag).map_err(|_| CryptoError::Malformed("sealed file algorithm"))?;
        let ver = std::str::from_utf8(ver).map_err(|_| CryptoError::Malformed("sealed file version"))?;
        self.open_blob(tag, ver, context, blob)
    }

    fn seal_blob(&self, aad: &str, plaintext: &[u8]) -> Vec<u8> {
        let nonce = crate::random_bytes::<12>();
        let ct = match self.alg {
            FieldCipherAlgorithm::Aes256Gcm => aes_gcm_seal(&self.key, &nonce, aad.as_bytes(), plaintext),
            FieldCipherAlgorithm::Sm4Gcm => sm4_gcm_seal(&self.key, &nonce, aad.as_bytes(), plaintext),
        }
        .expect("key length checked at construction");
        let mut blob = nonce.to_vec();
        blob.extend(ct);
        blob
    }

    fn open_blob(&self, tag: &str, ver: &str, aad: &str, blob: &[u8]) -> Result<Vec<u8>> {
        let alg = FieldCipherAlgorithm::parse(tag).ok_or(CryptoError::Malformed("sealed field algorithm"))?;
        let ver: u32 = ver.parse().map_err(|_| CryptoError::Malformed("sealed field version"))?;
        let key = if alg == self.alg && ver == self.version {
            &self.key
        } else {
            &self.retired.iter().find(|(a, v, _)| *a == alg && *v == ver).ok_or(CryptoError::InvalidKey("no key for this sealed field's version"))?.2
        };
        if blob.len() < 12 + 16 {
            return Err(CryptoError::Malformed("sealed field too short"));
        }
        let nonce: [u8; 12] = blob[..12].try_into().expect("12 bytes");
        match alg {
            FieldCipherAlgorithm::Aes256Gcm => aes_gcm_open(key, &nonce, aad.as_bytes(), &blob[12..]),
            FieldCipherAlgorithm::Sm4Gcm => sm4_gcm_open(key, &nonce, aad.as_bytes(), &blob[12..]),
        }
    }
}

/// Keyed hash (HMAC-SHA256) for equality lookups on encrypted columns: the same ID
/// number always gives the same digest, but without the key the digest reveals nothing
/// (an unkeyed hash of an 18-digit ID would be brute-forced in minutes).
#[derive(Clone)]
pub struct KeyedHasher {
    key: Vec<u8>,
}

impl std::fmt::Debug for KeyedHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyedHasher(key=***)")
    }
}

impl KeyedHasher {
    pub fn new(key: Vec<u8>) -> Result<Self> {
        if key.len() < 16 {
            return Err(CryptoError::InvalidKey("lookup key must be at least 16 bytes"));
        }
        Ok(Self { key })
    }

    /// `purpose` separates domains so an ID digest never equals a phone digest.
    pub fn digest(&self, purpose: &str, value: &str) -> String {
        let mut data = purpose.as_bytes().to_vec();
        data.push(0);
        data.extend_from_slice(value.as_bytes());
        hex::encode(crate::mac::hmac_sha256(&self.key, &data))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_files_open_only_under_their_own_key_name() {
        let c = FieldCipher::new(FieldCipherAlgorithm::Sm4Gcm, 2, vec![9u8; 16]).unwrap();
        let pdf = b"%PDF-1.7 \x00\xff binary".to_vec();
        let sealed = c.seal_bytes("reports/ab12", &pdf);
        assert!(sealed.starts_with(b"sm4:2:"));
        assert!(!sealed.windows(5).any(|w| w == b"%PDF-"));
        assert_eq!(c.open_bytes("reports/ab12", &sealed).unwrap(), pdf);
        assert!(c.open_bytes("reports/other", &sealed).is_err(), "a file moved under another key fails");
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(c.open_bytes("reports/ab12", &tampered).is_err());
    }

    #[test]
    fn seal_open_round_trip_both_algorithms() {
        for (alg, len) in [(FieldCipherAlgorithm::Aes256Gcm, 32), (FieldCipherAlgorithm::Sm4Gcm, 16)] {
            let c = FieldCipher::new(alg, 1, vec![3u8; len]).unwrap();
            let s = c.seal("patient.id_no", "440305199001011234");
            assert!(!s.contains("440305199001011234"));
            assert_eq!(c.open("patient.id_no", &s).unwrap(), "440305199001011234");
            // Two seals of one value differ (random nonce).
            assert_ne!(s, c.seal("patient.id_no", "440305199001011234"));
        }
    }

    #[test]
    fn column_binding_wrong_key_and_tamper_fail() {
        let c = FieldCipher::new(FieldCipherAlgorithm::Aes256Gcm, 1, vec![3u8; 32]).unwrap();
        let s = c.seal("patient.id_no", "x");
        assert_eq!(c.open("patient.mobile", &s), Err(CryptoError::DecryptFailed));
        let other = FieldCipher::new(FieldCipherAlgorithm::Aes256Gcm, 1, vec![4u8; 32]).unwrap();
        assert_eq!(other.open("patient.id_no", &s), Err(CryptoError::DecryptFailed));
        let mut t = s.clone().into_bytes();
        let n = t.len();
        t[n - 3] = if t[n - 3] == b'A' { b'B' } else { b'A' };
        assert!(c.open("patient.id_no", &String::from_utf8(t).unwrap()).is_err());
        assert!(c.open("patient.id_no", "garbage").is_err());
    }

    #[test]
    fn rotation_keeps_old_values_readable() {
        let old = FieldCipher::new(FieldCipherAlgorithm::Sm4Gcm, 1, vec![1u8; 16]).unwrap();
        let sealed = old.seal("c", "13800138000");
        let new =
            FieldCipher::new(FieldCipherAlgorithm::Aes256Gcm, 2, vec![2u8; 32]).unwrap().with_retired(FieldCipherAlgorithm::Sm4Gcm, 1, vec![1u8; 16]).unwrap();
        assert_eq!(new.open("c", &sealed).unwrap(), "13800138000");
        assert!(new.seal("c", "v").starts_with("a256:2:"));
    }

    #[test]
    fn keyed_hash_is_stable_and_purpose_separated() {
        let h = KeyedHasher::new(vec![5u8; 32]).unwrap();
        assert_eq!(h.digest("id", "1"), h.digest("id", "1"));
        assert_ne!(h.digest("id", "1"), h.digest("mobile", "1"));
        assert_ne!(h.digest("id", "1"), KeyedHasher::new(vec![6u8; 32]).unwrap().digest("id", "1"));
        assert!(KeyedHasher::new(vec![1u8; 8]).is_err());
    }
}
