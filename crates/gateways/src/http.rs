//! The one HTTP executor every connector uses: timeouts, a user agent, no redirects
//! followed silently, and failure classification. A timeout or a 5xx is "unknown", not
//! "failed": the caller decides whether to ask the other side what happened.
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct HttpExecutor {
    client: reqwest::Client,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// No answer in time, or the connection broke mid-way: the request may have been
    /// carried out.
    #[error("no answer (outcome unknown): {0}")]
    Unknown(String),
    /// Could not connect at all: the request was certainly not carried out.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// An HTTP status other than 2xx.
    #[error("http status {0}")]
    Status(u16),
    /// The body was not what the protocol promises.
    #[error("malformed answer: {0}")]
    Malformed(String),
}

impl HttpExecutor {
    pub fn new(timeout: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(3).min(timeout))
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("carebridge/", env!("CARGO_PKG_VERSION")))
            .pool_idle_timeout(Duration::from_secs(30))
            .build()
            .expect("reqwest client builds");
        Self { client }
    }

    pub fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// Sends and returns the body of a 2xx answer.
    pub async fn send(&self, req: reqwest::RequestBuilder) -> Result<bytes_like::Body, TransportError> {
        let resp = req.send().await.map_err(classify)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(TransportError::Status(status.as_u16()));
        }
        let body = resp.bytes().await.map_err(classify)?;
        if body.len() > 16 * 1024 * 1024 {
            return Err(TransportError::Malformed("answer larger than 16 MiB".into()));
        }
        Ok(bytes_like::Body(body.to_vec()))
    }
}

fn classify(e: reqwest::Error) -> TransportError {
    if e.is_connect() { TransportError::Unreachable(e.to_string()) } else { TransportError::Unknown(e.to_string()) }
}

pub mod bytes_like {
    /// A response body.
    pub struct Body(pub Vec<u8>);

    impl Body {
        pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T, super::TransportError> {
            serde_json::from_slice(&self.0).map_err(|e| super::TransportError::Malformed(e.to_string()))
        }
    }
}
