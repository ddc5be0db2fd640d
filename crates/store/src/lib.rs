//! Persistence: SeaORM over SQLite (default, one file) or PostgreSQL (production and
//! several nodes). Repositories take and return domain types; personal data is sealed
//! with the field cipher on the way in. Backend-specific SQL lives in [`dialect`] only.

pub mod admission;
pub mod audit;
pub mod billing;
pub mod dialect;
pub mod entity;
pub mod idempotency;
pub mod identity;
pub mod insurance;
pub mod journey;
pub mod migration;
pub mod notify;
pub mod outbox;
pub mod reconciliation;
pub mod registration;
pub mod reports;
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
    } else if matches!(e, DbErr::Conn(_) | DbErr::ConnectionAcquire(_)) {
        ErrorCode::StoreUnavailable
    } else {
        ErrorCode::Internal
    };
    DomainError::new(code, format!("db: {e}"))
}

pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
        || matches!(e, DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s))
            if s.as_database_error().is_some_and(|d| d.is_unique_violation()))
}

impl Store {
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
        Ok(Self { db, backend, keys })
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
