//! Client idempotency keys on the money API (P3): the first request with a key runs and
//! its answer is kept; a retry gets that answer back.
use crate::App;
use domain::DomainError;
pub use domain::idempotency::Claim;

impl App {
    /// Claims `(scope, key)` for a request whose meaning hashes to `request_hash`.
    pub async fn idempotency_claim(&self, scope: &str, key: &str, request_hash: &str) -> Result<Claim, DomainError> {
        self.store.idempotency_claim(scope, key, request_hash, self.now()).await
    }

    /// Keeps the answer of the request that ran, for its retries.
    pub async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, body: &str) -> Result<(), DomainError> {
        self.store.idempotency_finish(scope, key, status, body).await
    }

    /// Lets a retry run the work again (the first attempt failed in a way worth retrying).
    pub async fn idempotency_release(&self, scope: &str, key: &str) -> Result<(), DomainError> {
        self.store.idempotency_release(scope, key).await
    }
}
