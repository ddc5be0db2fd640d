//! Persistence: SeaORM over SQLite (default, one file) or PostgreSQL (production and
//! several nodes). Repositories take and return domain types; personal data is sealed
//! with the field cipher on the way in. Backend-specific SQL lives in [`dialect`] only.

pub mod admission;
pub mod audit;
pub mod billing;
pub mod consent;
pub mod dialect;
pub mod entity;
pub mod face;
pub mod idempotency;
pub mod identity;
pub mod inpatient;
pub mod insurance;
pub mod invoices;
pub mod journey;
pub mod messages;
pub mod migration;
pub mod outbox;
pub mod reconciliation;
pub mod records;
pub mod registration;
pub mod reports;
pub mod retention;
pub mod session;
pub mod staff;

use crypto::{FieldCipher, KeyedHasher};
use domain::{DomainError, ErrorCode};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, RuntimeErr, SqliteTransactionMode,
    TransactionOptions, TransactionTrait,
};
use sea_orm_migration::MigratorTrait;
use std::time::Duration;

pub use sea_orm;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// How to reach the database.
#[derive(Clone, Debug)]
pub struct StoreConfig {
    pub url: String,
    pub max_connections: u32,
    pub connect_timeout: Duration,
}

impl StoreConfig {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), max_connections: 16, connect_timeout: Duration::from_secs(10) }
    }
}

/// Personal-data keys the repositories seal and hash with.
#[derive(Clone, Debug)]
pub struct DataKeys {
    pub cipher: FieldCipher,
    pub hasher: KeyedHasher,
}

#[derive(Clone)]
pub struct Store {
    db: DatabaseConnection,
    backend: Backend,
    keys: DataKeys,
    disclosures: std::sync::Arc<Disclosures>,
}

/// Personal data the store opens to hand to a person or an outside system, counted by
/// kind where it is unsealed — apart from the audit trail, so the two can be held
/// against each other (S10: one audit row per sensitive read). Snapshots the store opens
/// for its own work (merging LIS revisions, rendering messages) are not disclosures.
#[derive(Debug, Default)]
pub struct Disclosures {
    identity: std::sync::atomic::AtomicU64,
    mobile: std::sync::atomic::AtomicU64,
    child_identity: std::sync::atomic::AtomicU64,
    report_file: std::sync::atomic::AtomicU64,
    record_photo: std::sync::atomic::AtomicU64,
}

/// What [`Store::disclosures`] has counted since the store was opened.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DisclosureCounts {
    /// A patient's ID number and name (`patient.identity_read`).
    pub identity: u64,
    /// A patient's mobile, to send an SMS (`patient.mobile_read`).
    pub mobile: u64,
    /// A child's name and ID number held for a binding (`child.identity_read`).
    pub child_identity: u64,
    /// A report file or page image (`report.download`, `report.page_view`).
    pub report_file: u64,
    /// A record-copy application's photo, masked or original (`records.photo_view`).
    pub record_photo: u64,
}

impl DisclosureCounts {
    pub fn total(&self) -> u64 {
        self.identity + self.mobile + self.child_identity + self.report_file + self.record_photo
    }
}

#[derive(Clone, Copy)]
pub(crate) enum Disclosure {
    Identity,
    Mobile,
    ChildIdentity,
    ReportFile,
    RecordPhoto,
}

impl Disclosures {
    fn counter(&self, kind: Disclosure) -> &std::sync::atomic::AtomicU64 {
        match kind {
            Disclosure::Identity => &self.identity,
            Disclosure::Mobile => &self.mobile,
            Disclosure::ChildIdentity => &self.child_identity,
            Disclosure::ReportFile => &self.report_file,
            Disclosure::RecordPhoto => &self.record_photo,
        }
    }
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Store({:?})", self.backend)
    }
}

/// Maps a database error to the stable catalogue: unique violations become conflicts,
/// lost connections become "store unavailable"; the detail keeps the cause for logs.
pub fn db_err(e: DbErr) -> DomainError {
    let code = if is_unique_violation(&e) {
        ErrorCode::Conflict
    } else if is_connection_loss(&e) {
        ErrorCode::StoreUnavailable
    } else {
        ErrorCode::Internal
    };
    DomainError::new(code, format!("db: {e}"))
}

/// Whether the database was out of reach, rather than the statement wrong: no
/// connection to be had, the connection cut under the statement (a restart, a network
/// fault), or the server refusing connections for now. Such a failure is retryable and
/// answered 503, never 500 (G13).
pub fn is_connection_loss(e: &DbErr) -> bool {
    use sea_orm::sqlx::Error as Sqlx;
    match e {
        DbErr::Conn(_) | DbErr::ConnectionAcquire(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => match s.as_ref() {
            Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed | Sqlx::Tls(_) | Sqlx::Protocol(_) => true,
            // SQLSTATE class 08 (connection exception), 57P01–57P03 (the server shutting
            // down, crashed, or not yet accepting), 53300 (too many connections).
            Sqlx::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || matches!(c.as_ref(), "57P01" | "57P02" | "57P03" | "53300")),
            _ => false,
        },
        _ => false,
    }
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
        || matches!(e, DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s))
            if s.as_database_error().is_some_and(|d| d.is_unique_violation()))
}

impl Store {
    /// Counts one disclosure of `kind` (see [`Disclosures`]).
    pub(crate) fn disclosed(&self, kind: Disclosure) {
        self.disclosures.counter(kind).fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    /// The disclosures counted so far.
    pub fn disclosures(&self) -> DisclosureCounts {
        let get = |k| self.disclosures.counter(k).load(std::sync::atomic::Ordering::Relaxed);
        DisclosureCounts {
            identity: get(Disclosure::Identity),
            mobile: get(Disclosure::Mobile),
            child_identity: get(Disclosure::ChildIdentity),
            report_file: get(Disclosure::ReportFile),
            record_photo: get(Disclosure::RecordPhoto),
        }
    }

    pub async fn connect(cfg: &StoreConfig, keys: DataKeys) -> Result<Self, DomainError> {
        let backend = if cfg.url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if cfg.url.starts_with("postgres://") || cfg.url.starts_with("postgresql://") {
            Backend::Postgres
        } else {
            return Err(DomainError::new(ErrorCode::Internal, "database.url must start with sqlite: or postgres://"));
        };
        if backend == Backend::Sqlite {
            ensure_sqlite_dir(&cfg.url);
        }
        let mut opts = ConnectOptions::new(cfg.url.clone());
        opts.max_connections(cfg.max_connections)
            .min_connections(1)
            .connect_timeout(cfg.connect_timeout)
            .acquire_timeout(cfg.connect_timeout)
            .sqlx_logging(false);
        if backend == Backend::Sqlite {
            // WAL lets readers run beside the single writer; writers wait (busy timeout)
            // instead of failing at once.
            opts.map_sqlx_sqlite_opts(|o| {
                o.create_if_missing(true)
                    .journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(10))
                    .foreign_keys(true)
            });
        }
        let db = Database::connect(opts).await.map_err(|e| DomainError::new(ErrorCode::StoreUnavailable, format!("connect: {e}")))?;
        Ok(Self { db, backend, keys, disclosures: Default::default() })
    }

    /// Runs pending migrations. On PostgreSQL a session advisory lock makes nodes that
    /// start together take turns; the second finds nothing left to do.
    pub async fn migrate(&self) -> Result<(), DomainError> {
        match self.backend {
            Backend::Sqlite => migration::Migrator::up(&self.db, None).await.map_err(db_err),
            Backend::Postgres => {
                let pool = self.db.get_postgres_connection_pool();
                let mut lock_conn = pool.acquire().await.map_err(|e| DomainError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
                sea_orm::sqlx::query("SELECT pg_advisory_lock($1)")
                    .bind(dialect::MIGRATION_LOCK_KEY)
                    .execute(&mut *lock_conn)
                    .await
                    .map_err(|e| DomainError::new(ErrorCode::StoreUnavailable, e.to_string()))?;
                let result = migration::Migrator::up(&self.db, None).await.map_err(db_err);
                let _ = sea_orm::sqlx::query("SELECT pg_advisory_unlock($1)").bind(dialect::MIGRATION_LOCK_KEY).execute(&mut *lock_conn).await;
                result
            }
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    pub fn keys(&self) -> &DataKeys {
        &self.keys
    }

    pub fn db_backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock up front
    /// (`BEGIN IMMEDIATE`), so a read-then-write cannot fail half-way on lock upgrade.
    pub async fn write_txn(&self) -> Result<DatabaseTransaction, DomainError> {
        let opts =
            TransactionOptions { sqlite_transaction_mode: (self.backend == Backend::Sqlite).then_some(SqliteTransactionMode::Immediate), ..Default::default() };
        self.db.begin_with_options(opts).await.map_err(db_err)
    }

    /// The pool's connections (open, of which idle), for the metrics an operator watches
    /// for leaks and the soak holds flat.
    pub fn pool_connections(&self) -> (u32, u32) {
        match self.db.get_database_backend() {
            sea_orm::DbBackend::Postgres => {
                let p = self.db.get_postgres_connection_pool();
                (p.size(), p.num_idle() as u32)
            }
            sea_orm::DbBackend::Sqlite => {
                let p = self.db.get_sqlite_connection_pool();
                (p.size(), p.num_idle() as u32)
            }
            _ => (0, 0),
        }
    }

    /// A cheap round trip, for readiness checks.
    pub async fn ping(&self) -> Result<(), DomainError> {
        self.db.execute_unprepared("SELECT 1").await.map(|_| ()).map_err(db_err)
    }

    pub async fn close(self) {
        let _ = self.db.close().await;
    }
}

fn ensure_sqlite_dir(url: &str) {
    let path = url.trim_start_matches("sqlite://").trim_start_matches("sqlite:");
    let path = path.split('?').next().unwrap_or("");
    if path.is_empty() || path == ":memory:" {
        return;
    }
    if let Some(parent) = std::path::Path::new(path).parent()
        && !parent.as_os_str().is_empty()
    {
        let _ = std::fs::create_dir_all(parent);
    }
}

/// Truncates to microseconds: the precision both backends keep, so values read back
/// equal values written (the audit chain hashes them).
pub fn micros(t: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_micros(t.timestamp_micros()).expect("in range")
}
