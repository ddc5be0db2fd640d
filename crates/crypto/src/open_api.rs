//! The open message interface's request signature (MSG-3), shared by Carebridge (which
//! verifies) and any hospital system that pushes notices. A request carries `X-Cb-Key`,
//! `X-Cb-Timestamp` (Unix seconds), `X-Cb-Nonce` (8–64 of `A-Z a-z 0-9 - _`) and
//! `X-Cb-Signature`, the hex HMAC-SHA256 under the client's secret of
//!
//! ```text
//! METHOD \n PATH \n TIMESTAMP \n NONCE \n hex(SHA-256(body))
//! ```
//!
//! so the body, the target and the moment are all bound; a nonce is accepted once.

pub const HEADER_KEY: &str = "x-cb-key";
pub const HEADER_TIMESTAMP: &str = "x-cb-timestamp";
pub const HEADER_NONCE: &str = "x-cb-nonce";
pub const HEADER_SIGNATURE: &str = "x-cb-signature";

/// The string a request's signature covers.
pub fn string_to_sign(method: &str, path: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    format!("{}\n{path}\n{timestamp}\n{nonce}\n{}", method.to_ascii_uppercase(), hex::encode(crate::mac::sha256(body)))
}

pub fn sign(secret: &str, method: &str, path: &str, timestamp: &str, nonce: &str, body: &[u8]) -> String {
    hex::encode(crate::mac::hmac_sha256(secret.as_bytes(), string_to_sign(method, path, timestamp, nonce, body).as_bytes()))
}
