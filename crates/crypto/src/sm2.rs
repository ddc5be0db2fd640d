//! SM2 digital signatures (GB/T 32918 / GM/T 0003) with SM3, "SM3withSM2".
//!
//! The distinguishing identifier (signer ID, "user ID") is a parameter everywhere:
//! the insurance centre's deployments disagree on it (the app secret in some, the
//! standard default `1234567812345678` in others), so callers take it from settings.
//! Signatures travel as raw `r‖s` (64 bytes), the form the NHSA demos use.
use crate::{CryptoError, Result};
use sm2::dsa::signature::{Signer, Verifier};
use sm2::dsa::{Signature, SigningKey, VerifyingKey};

/// The signer ID the standard uses in its examples, and many SDKs' default.
pub const DEFAULT_SIGNER_ID: &str = "1234567812345678";

pub struct Sm2Signer {
    key: SigningKey,
}

impl Sm2Signer {
    /// `secret` is the private scalar `d`, 32 bytes big-endian (a leading 0x00 making 33
    /// bytes is accepted, as some key exports carry it).
    pub fn from_secret_bytes(signer_id: &str, secret: &[u8]) -> Result<Self> {
        let d = match secret.len() {
            32 => secret,
            33 if secret[0] == 0 => &secret[1..],
            _ => return Err(CryptoError::InvalidKey("SM2 private key must be 32 bytes")),
        };
        let key = SigningKey::from_slice(signer_id, d).map_err(|_| CryptoError::InvalidKey("SM2 private key out of range"))?;
        Ok(Self { key })
    }

    /// A fresh random key, for simulators and tests.
    pub fn generate(signer_id: &str) -> Self {
        loop {
            if let Ok(s) = Self::from_secret_bytes(signer_id, &crate::random_bytes::<32>()) {
                return s;
            }
        }
    }

    pub fn secret_bytes(&self) -> [u8; 32] {
        self.key.to_bytes().into()
    }

    /// Uncompressed public key `04‖X‖Y` (65 bytes).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.key.verifying_key().to_sec1_bytes().to_vec()
    }

    pub fn verifier(&self) -> Sm2Verifier {
        Sm2Verifier { key: self.key.verifying_key().clone() }
    }

    /// Signs `msg` (SM3 over Z‖msg as the standard requires); returns `r‖s`.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        let sig: Signature = self.key.sign(msg);
        sig.to_bytes().into()
    }
}

#[derive(Clone)]
pub struct Sm2Verifier {
    key: VerifyingKey,
}

impl Sm2Verifier {
    /// `public_key` is SEC1: uncompressed `04‖X‖Y` or compressed.
    pub fn from_public_key_bytes(signer_id: &str, public_key: &[u8]) -> Result<Self> {
        let key = VerifyingKey::from_sec1_bytes(signer_id, public_key).map_err(|_| CryptoError::InvalidKey("SM2 public key is not a curve point"))?;
        Ok(Self { key })
    }

    /// Verifies a raw `r‖s` signature.
    pub fn verify(&self, msg: &[u8], signature: &[u8]) -> Result<()> {
        let sig = Signature::from_slice(signature).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        self.key.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies a DER-encoded signature (OpenSSL and some SDKs emit DER).
    pub fn verify_der(&self, msg: &[u8], der: &[u8]) -> Result<()> {
        let sig = Signature::from_der(der).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        self.key.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }
}

/// Converts a raw `r‖s` signature to DER, for peers that want DER.
pub fn raw_to_der(signature: &[u8]) -> Result<Vec<u8>> {
    let sig = Signature::from_slice(signature).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
    Ok(sig.to_der().to_bytes().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRIV: &str = "3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8";
    const PUB: &str = "0409F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13";
    const SIG: &str = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA";

    // GM/T 0003.5-2012 (GB/T 32918.5-2017) Annex A: key pair and signature of "message digest".
    #[test]
    fn gmt_0003_public_key_from_private() {
        let s = Sm2Signer::from_secret_bytes(DEFAULT_SIGNER_ID, &hex::decode(PRIV).unwrap()).unwrap();
        assert_eq!(hex::encode_upper(s.public_key_bytes()), PUB);
    }

    #[test]
    fn gmt_0003_published_signature_verifies() {
        let v = Sm2Verifier::from_public_key_bytes(DEFAULT_SIGNER_ID, &hex::decode(PUB).unwrap()).unwrap();
        let sig = hex::decode(SIG).unwrap();
        assert_eq!(v.verify(b"message digest", &sig), Ok(()));
        assert_eq!(v.verify(b"message digesT", &sig), Err(CryptoError::BadSignature));
        let der = raw_to_der(&sig).unwrap();
        assert_eq!(v.verify_der(b"message digest", &der), Ok(()));
    }

    #[test]
    fn signer_id_is_part_of_the_signature() {
        let v = Sm2Verifier::from_public_key_bytes("another-id", &hex::decode(PUB).unwrap()).unwrap();
        assert_eq!(v.verify(b"message digest", &hex::decode(SIG).unwrap()), Err(CryptoError::BadSignature));
    }

    #[test]
    fn sign_verify_round_trip_with_app_secret_as_id() {
        let id = "30BFE2B0C715E516E5EDF21E289DA826";
        let s = Sm2Signer::generate(id);
        let sig = s.sign(b"appId=x&data={}&key=y");
        let v = Sm2Verifier::from_public_key_bytes(id, &s.public_key_bytes()).unwrap();
        assert_eq!(v.verify(b"appId=x&data={}&key=y", &sig), Ok(()));
        let mut bad = sig;
        bad[10] ^= 1;
        assert!(v.verify(b"appId=x&data={}&key=y", &bad).is_err());
    }

    #[test]
    fn leading_zero_secret_accepted_and_bad_lengths_rejected() {
        let mut d = vec![0u8];
        d.extend(hex::decode(PRIV).unwrap());
        assert!(Sm2Signer::from_secret_bytes(DEFAULT_SIGNER_ID, &d).is_ok());
        assert!(Sm2Signer::from_secret_bytes(DEFAULT_SIGNER_ID, &d[..20]).is_err());
        assert!(Sm2Verifier::from_public_key_bytes(DEFAULT_SIGNER_ID, &[4u8; 65]).is_err());
        let v = Sm2Verifier::from_public_key_bytes(DEFAULT_SIGNER_ID, &hex::decode(PUB).unwrap()).unwrap();
        assert_eq!(v.verify(b"m", &[1u8; 10]), Err(CryptoError::InvalidSignatureEncoding));
    }
}
