//! A hospital system's client of the open message interface (MSG-3): the HIS simulator
//! pushes with it; Carebridge verifies with the same rules (`crypto::open_api`).
use crate::http::HttpExecutor;
use std::time::Duration;

pub use crypto::open_api::{HEADER_KEY, HEADER_NONCE, HEADER_SIGNATURE, HEADER_TIMESTAMP, sign, string_to_sign};

/// A hospital system's client of the open interface.
pub struct OpenApiClient {
    base_url: String,
    key_id: String,
    secret: String,
    http: HttpExecutor,
}

impl OpenApiClient {
    pub fn new(base_url: &str, key_id: &str, secret: &str, timeout: Duration) -> Self {
        Self { base_url: base_url.trim_end_matches('/').into(), key_id: key_id.into(), secret: secret.into(), http: HttpExecutor::new(timeout) }
    }

    /// A signed request (POST with a JSON body, or GET without one), at `timestamp`.
    pub fn request(&self, method: reqwest::Method, path: &str, body: Option<&serde_json::Value>, timestamp: i64) -> reqwest::RequestBuilder {
        let raw = body.map(|b| b.to_string()).unwrap_or_default();
        let nonce = hex::encode(crypto::random_bytes::<12>());
        let ts = timestamp.to_string();
        let sig = sign(&self.secret, method.as_str(), path, &ts, &nonce, raw.as_bytes());
        let mut r = self
            .http
            .client()
            .request(method, format!("{}{path}", self.base_url))
            .header(HEADER_KEY, &self.key_id)
            .header(HEADER_TIMESTAMP, ts)
            .header(HEADER_NONCE, nonce)
            .header(HEADER_SIGNATURE, sig);
        if body.is_some() {
            r = r.header("content-type", "application/json").body(raw);
        }
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signed_string_binds_method_path_time_nonce_and_body() {
        let s = string_to_sign("post", "/open/v1/messages", "1764115200", "abcdefgh", b"{}");
        assert_eq!(s, "POST\n/open/v1/messages\n1764115200\nabcdefgh\n44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        let a = sign("k", "POST", "/open/v1/messages", "1", "abcdefgh", b"{}");
        assert_ne!(a, sign("k", "POST", "/open/v1/messages", "1", "abcdefgh", b"{ }"));
        assert_ne!(a, sign("k", "POST", "/open/v1/messages", "2", "abcdefgh", b"{}"));
        assert_eq!(a.len(), 64);
    }
}
