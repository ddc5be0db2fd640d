//! Cryptographic primitives used by Carebridge, each a thin, tested wrapper over a
//! RustCrypto implementation: the Chinese national algorithms (SM2/SM3/SM4) that the
//! medical-insurance centre speaks, RSA-SHA256 and AES-GCM that WeChat Pay speaks,
//! HMAC for keyed lookups and one-time passwords, and the field cipher that keeps
//! personal data encrypted at rest.
//!
//! Every function here is pure: no I/O, no clock. Tests pin each one to published
//! test vectors and cross-check against the machine's OpenSSL where it supports the
//! algorithm.

pub mod aead;
pub mod field;
pub mod mac;
pub mod open_api;
pub mod rsa_sha256;
pub mod sm2;
pub mod sm3;
pub mod sm4;
pub mod totp;

pub use field::{FieldCipher, FieldCipherAlgorithm, KeyedHasher};

/// Everything that can go wrong in this crate. Messages never contain key material
/// or plaintext.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("invalid key: {0}")]
    InvalidKey(&'static str),
    #[error("invalid signature encoding")]
    InvalidSignatureEncoding,
    #[error("signature verification failed")]
    BadSignature,
    #[error("decryption failed (wrong key, tampered data or bad padding)")]
    DecryptFailed,
    #[error("malformed input: {0}")]
    Malformed(&'static str),
}

pub type Result<T> = std::result::Result<T, CryptoError>;

/// Fills a buffer with operating-system randomness.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    use rand::RngCore;
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// Constant-time byte comparison, for MACs and tokens.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
