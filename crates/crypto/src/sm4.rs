//! SM4 block cipher (GB/T 32907-2016) in the modes the insurance centre uses
//! (ECB and CBC with PKCS#7 padding) and GCM for data at rest (see [`crate::aead`]).
use crate::{CryptoError, Result};
use sm4::Sm4;
use sm4::cipher::{Array, BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};

const BLOCK: usize = 16;

fn cipher(key: &[u8]) -> Result<Sm4> {
    Sm4::new_from_slice(key).map_err(|_| CryptoError::InvalidKey("SM4 key must be 16 bytes"))
}

fn pkcs7_pad(data: &[u8]) -> Vec<u8> {
    let pad = BLOCK - data.len() % BLOCK;
    let mut out = Vec::with_capacity(data.len() + pad);
    out.extend_from_slice(data);
    out.extend(std::iter::repeat_n(pad as u8, pad));
    out
}

fn pkcs7_unpad(mut data: Vec<u8>) -> Result<Vec<u8>> {
    let pad = *data.last().ok_or(CryptoError::DecryptFailed)? as usize;
    if pad == 0 || pad > BLOCK || pad > data.len() {
        return Err(CryptoError::DecryptFailed);
    }
    if !data[data.len() - pad..].iter().all(|&b| b as usize == pad) {
        return Err(CryptoError::DecryptFailed);
    }
    data.truncate(data.len() - pad);
    Ok(data)
}

/// Encrypts one 16-byte block with no padding (the raw primitive).
pub fn encrypt_block(key: &[u8], block: &[u8; 16]) -> Result<[u8; 16]> {
    let c = cipher(key)?;
    let mut b = Array::from(*block);
    c.encrypt_block(&mut b);
    Ok(b.into())
}

pub fn ecb_encrypt_pkcs7(key: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    let c = cipher(key)?;
    let mut data = pkcs7_pad(plaintext);
    for chunk in data.chunks_exact_mut(BLOCK) {
        let block: &mut Array<u8, _> = chunk.try_into().expect("exact chunk");
        c.encrypt_block(block);
    }
    Ok(data)
}

pub fn ecb_decrypt_pkcs7(key: &[u8], ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(CryptoError::DecryptFailed);
    }
    let c = cipher(key)?;
    let mut data = ciphertext.to_vec();
    for chunk in data.chunks_exact_mut(BLOCK) {
        let block: &mut Array<u8, _> = chunk.try_into().expect("exact chunk");
        c.decrypt_block(block);
    }
    pkcs7_unpad(data)
}

pub fn cbc_encrypt_pkcs7(key: &[u8], iv: &[u8; 16], plaintext: &[u8]) -> Result<Vec<u8>> {
    let c = cipher(key)?;
    let mut data = pkcs7_pad(plaintext);
    let mut prev = *iv;
    for chunk in data.chunks_exact_mut(BLOCK) {
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= p;
        }
        let block: &mut Array<u8, _> = chunk.try_into().expect("exact chunk");
        c.encrypt_block(block);
        prev.copy_from_slice(chunk);
    }
    Ok(data)
}

pub fn cbc_decrypt_pkcs7(key: &[u8], iv: &[u8; 16], ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(BLOCK) {
        return Err(CryptoError::DecryptFailed);
    }
    let c = cipher(key)?;
    let mut data = ciphertext.to_vec();
    let mut prev = *iv;
    for chunk in data.chunks_exact_mut(BLOCK) {
        let mut this = [0u8; 16];
        this.copy_from_slice(chunk);
        let block: &mut Array<u8, _> = chunk.try_into().expect("exact chunk");
        c.decrypt_block(block);
        for (b, p) in chunk.iter_mut().zip(prev.iter()) {
            *b ^= p;
        }
        prev = this;
    }
    pkcs7_unpad(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdeffedcba9876543210";

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    // GB/T 32907-2016 Appendix A example 1.
    #[test]
    fn gbt_32907_example_1_single_block() {
        let block: [u8; 16] = h(KEY).try_into().unwrap();
        assert_eq!(hex::encode(encrypt_block(&h(KEY), &block).unwrap()), "681edf34d206965e86b3e94f536e4246");
    }

    // GB/T 32907-2016 Appendix A example 2: the same block encrypted 1,000,000 times.
    #[test]
    fn gbt_32907_example_2_million_iterations() {
        let c = cipher(&h(KEY)).unwrap();
        let mut b = Array::from(<[u8; 16]>::try_from(h(KEY)).unwrap());
        for _ in 0..1_000_000 {
            c.encrypt_block(&mut b);
        }
        assert_eq!(hex::encode(b), "595298c7c6fd271f0402f804c33d3f66");
    }

    #[test]
    fn ecb_round_trip_and_padding() {
        for len in [0usize, 1, 15, 16, 17, 100] {
            let pt: Vec<u8> = (0..len as u8).collect();
            let ct = ecb_encrypt_pkcs7(&h(KEY), &pt).unwrap();
            assert_eq!(ct.len(), (len / 16 + 1) * 16);
            assert_eq!(ecb_decrypt_pkcs7(&h(KEY), &ct).unwrap(), pt);
        }
    }

    #[test]
    fn ecb_rejects_tampered_padding() {
        let mut ct = ecb_encrypt_pkcs7(&h(KEY), b"hello").unwrap();
        ct[15] ^= 0x55;
        assert_eq!(ecb_decrypt_pkcs7(&h(KEY), &ct), Err(CryptoError::DecryptFailed));
        assert_eq!(ecb_decrypt_pkcs7(&h(KEY), &ct[..10]), Err(CryptoError::DecryptFailed));
    }

    #[test]
    fn cbc_round_trip_differs_from_ecb() {
        let iv = [7u8; 16];
        let pt = b"two identical blocks two identical blocks".repeat(2);
        let ct = cbc_encrypt_pkcs7(&h(KEY), &iv, &pt).unwrap();
        assert_ne!(ct, ecb_encrypt_pkcs7(&h(KEY), &pt).unwrap());
        assert_eq!(cbc_decrypt_pkcs7(&h(KEY), &iv, &ct).unwrap(), pt);
    }

    #[test]
    fn wrong_key_length_is_an_error() {
        assert!(matches!(ecb_encrypt_pkcs7(b"short", b"x"), Err(CryptoError::InvalidKey(_))));
    }

    /// The insurance centre's envelope key derivation (protocols.md §1.3), recomputed from
    /// the primitives above against the vector given there.
    #[test]
    fn nhsa_envelope_vector() {
        let app_id = "0F0822652EB7CB91A644E638FBE9941E";
        let app_secret = "30BFE2B0C715E516E5EDF21E289DA826";
        let t = ecb_encrypt_pkcs7(&app_id.as_bytes()[..16], app_secret.as_bytes()).unwrap();
        let t_hex = hex::encode_upper(&t);
        assert_eq!(t_hex, "1819F24C758EB2EBBC0209BDDC4F5E4E792167656176C9EBFE1B889D7AC8EC964EF4D44E4EAF212A27740E4610678CB4");
        let sec_key = &t_hex.as_bytes()[..16];
        assert_eq!(sec_key, b"1819F24C758EB2EB");
        let enc = hex::encode_upper(ecb_encrypt_pkcs7(sec_key, r#"{"userName":"张三"}"#.as_bytes()).unwrap());
        assert_eq!(enc, "351C24C165D119E970738BA55CEA5967D29A18ED61BECF18BCFEAFF28FA3452A");
        let enc = hex::encode_upper(ecb_encrypt_pkcs7(sec_key, b"a").unwrap());
        assert_eq!(enc, "C212E76D030FD8B4790096B02EFA9EEC");
    }
}
