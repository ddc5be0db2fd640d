//! Client idempotency keys (P3): what the first request with a key does, and what a retry
//! gets back.

/// What a request carrying an idempotency key may do.
pub enum Claim {
    /// This request runs the work, then calls the store's `idempotency_finish`.
    Run,
    /// A stored response to replay: (HTTP status, body).
    Replay(u16, String),
}
