//! The only place where SQLite and PostgreSQL need different SQL.
use crate::Backend;

/// Advisory-lock keys (PostgreSQL). Arbitrary constants, fixed forever.
pub const MIGRATION_LOCK_KEY: i64 = 0x4361_7265_4d69_6731; // "CareMig1"
pub const AUDIT_CHAIN_LOCK_KEY: i64 = 0x4361_7265_4175_6431; // "CareAud1"

/// Positional placeholder number `n` (1-based).
pub fn ph(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Sqlite => format!("?{n}"),
        Backend::Postgres => format!("${n}"),
    }
}

/// Claims due outbox jobs in one statement. PostgreSQL skips rows another node holds
/// (`SKIP LOCKED`); SQLite has a single writer, so the statement is atomic as it is.
/// Parameters: 1 lease_until, 2 worker id, 3 now, 4 limit.
pub fn outbox_claim_sql(backend: Backend) -> String {
    let p = |n| ph(backend, n);
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE outbox SET state = 'running', attempts = attempts + 1, lease_until = {lease}, claimed_by = {worker} \
         WHERE id IN (SELECT id FROM outbox WHERE (state = 'pending' AND run_at <= {now}) \
         OR (state = 'running' AND lease_until < {now}) ORDER BY run_at, id LIMIT {limit}{lock}) \
         RETURNING id, kind, payload, attempts, max_attempts, dedupe_key",
        lease = p(1),
        worker = p(2),
        now = p(3),
        limit = p(4),
    )
}

/// Serialises audit-chain appends across nodes (held until the transaction ends).
/// SQLite needs nothing: `BEGIN IMMEDIATE` already holds the single write lock.
pub fn audit_chain_lock_sql(backend: Backend) -> Option<String> {
    match backend {
        Backend::Postgres => Some(format!("SELECT pg_advisory_xact_lock({AUDIT_CHAIN_LOCK_KEY})")),
        Backend::Sqlite => None,
    }
}
