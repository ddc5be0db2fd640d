//! RSA PKCS#1 v1.5 signatures: SHA-256 ("SHA256withRSA"), as WeChat Pay v3 signs
//! requests, responses and callbacks; and MD5 ("MD5withRSA"), which the bank's
//! aggregated-payment notifications are widely reported to use [I] — kept only for
//! verifying what the bank sends.
use crate::{CryptoError, Result};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey, LineEnding};
use rsa::sha2::Sha256;
use rsa::signature::{SignatureEncoding, Signer, Verifier};
use rsa::{PrivateKey, PublicKey};

pub struct RsaSigner {
    key: SigningKey<Sha256>,
    private: PrivateKey,
    public: PublicKey,
}

impl RsaSigner {
    /// From a PKCS#8 PEM private key (`-----BEGIN PRIVATE KEY-----`).
    pub fn from_pkcs8_pem(pem: &str) -> Result<Self> {
        let private = PrivateKey::from_pkcs8_pem(pem).map_err(|_| CryptoError::InvalidKey("not a PKCS#8 RSA private key"))?;
        let public = private.to_public_key();
        Ok(Self { key: SigningKey::new(private.clone()), private, public })
    }

    /// Signs and returns Base64 of the signature.
    pub fn sign_base64(&self, msg: &[u8]) -> String {
        let sig: Signature = self.key.sign(msg);
        B64.encode(sig.to_bytes())
    }

    /// MD5withRSA, hex-encoded (the bank's notification form). For simulators and
    /// tests: we never sign with MD5 toward anyone.
    pub fn sign_md5_hex(&self, msg: &[u8]) -> String {
        let key = SigningKey::<md5::Md5>::new(self.private.clone());
        let sig: Signature = key.sign(msg);
        hex::encode(sig.to_bytes())
    }

    pub fn public_key_pem(&self) -> String {
        self.public.to_public_key_pem(LineEnding::LF).expect("RSA public key encodes")
    }

    pub fn verifier(&self) -> RsaVerifier {
        RsaVerifier { key: VerifyingKey::new(self.public.clone()), md5: VerifyingKey::new(self.public.clone()) }
    }
}

#[derive(Clone)]
pub struct RsaVerifier {
    key: VerifyingKey<Sha256>,
    md5: VerifyingKey<md5::Md5>,
}

impl RsaVerifier {
    /// From a SubjectPublicKeyInfo PEM (`-----BEGIN PUBLIC KEY-----`).
    pub fn from_public_key_pem(pem: &str) -> Result<Self> {
        let public = PublicKey::from_public_key_pem(pem).map_err(|_| CryptoError::InvalidKey("not an RSA public key"))?;
        Ok(Self { key: VerifyingKey::new(public.clone()), md5: VerifyingKey::new(public) })
    }

    /// Verifies a Base64 signature over `msg`.
    pub fn verify_base64(&self, msg: &[u8], signature_b64: &str) -> Result<()> {
        let raw = B64.decode(signature_b64.trim()).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        let sig = Signature::try_from(raw.as_slice()).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        self.key.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies a hex MD5withRSA signature (the bank's notification `SIGN`).
    pub fn verify_md5_hex(&self, msg: &[u8], signature_hex: &str) -> Result<()> {
        let raw = hex::decode(signature_hex.trim()).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        let sig = Signature::try_from(raw.as_slice()).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        self.md5.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }

    /// Verifies a hex SHA256withRSA signature.
    pub fn verify_sha256_hex(&self, msg: &[u8], signature_hex: &str) -> Result<()> {
        let raw = hex::decode(signature_hex.trim()).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        let sig = Signature::try_from(raw.as_slice()).map_err(|_| CryptoError::InvalidSignatureEncoding)?;
        self.key.verify(msg, &sig).map_err(|_| CryptoError::BadSignature)
    }
}
