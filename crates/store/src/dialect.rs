//! The only place where SQLite and PostgreSQL need different SQL.
use crate::Backend;

/// Advisory-lock keys (PostgreSQL). Arbitrary constants, fixed forever.
pub const MIGRATION_LOCK_KEY: i64 = 0x4361_7265_4d69_6731; // "CareMig1"
pub const AUDIT_CHAIN_LOCK_KEY: i64 = 0x4361_7265_4175_6431; // "CareAud1"
/// The namespace of the per-slot booking locks (two-key advisory locks).
pub const SLOT_LOCK_NAMESPACE: i32 = 0x4342_534c; // "CBSL"

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

/// Serialises bookings of one slot across nodes until the transaction ends, so a count
/// of the places held and the insert that follows it cannot interleave with another
/// node's. SQLite needs nothing: `BEGIN IMMEDIATE` already holds the single write lock.
/// Parameter: 1 the slot's lock key.
pub fn slot_lock_sql(backend: Backend) -> Option<String> {
    match backend {
        Backend::Postgres => Some(format!("SELECT pg_advisory_xact_lock({SLOT_LOCK_NAMESPACE}, $1)")),
        Backend::Sqlite => None,
    }
}

/// Takes a free (or expired) HIS permit among `lowest..=highest`. PostgreSQL skips a row
/// another node is taking at this moment; SQLite's single writer makes the statement
/// atomic. Parameters: 1 holder, 2 held_until, 3 highest, 4 now, 5 lowest.
pub fn his_permit_take_sql(backend: Backend) -> String {
    let p = |n| ph(backend, n);
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE his_permit SET holder = {holder}, held_until = {until} \
         WHERE slot = (SELECT slot FROM his_permit WHERE slot >= {lowest} AND slot <= {bound} AND (holder IS NULL OR held_until < {now}) \
         ORDER BY slot LIMIT 1{lock}) RETURNING slot",
        holder = p(1),
        until = p(2),
        bound = p(3),
        now = p(4),
        lowest = p(5),
    )
}
