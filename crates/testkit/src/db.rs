//! Fresh databases for tests: a SQLite file in a temporary folder, or a PostgreSQL
//! database created for the test and dropped afterwards. Nothing an earlier run left
//! behind is ever used.
use crypto::{FieldCipher, FieldCipherAlgorithm, KeyedHasher};
use store::{DataKeys, Store, StoreConfig};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestBackend {
    Sqlite,
    Postgres,
}

/// Where the PostgreSQL server for tests is: `CAREBRIDGE_TEST_PG_URL`, default the
/// machine's local server. The PostgreSQL tests fail (they never skip) when it is
/// unreachable, so a green run means both backends ran.
pub fn pg_admin_url() -> String {
    std::env::var("CAREBRIDGE_TEST_PG_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

pub struct TestDb {
    pub backend: TestBackend,
    pub url: String,
    dir: Option<std::path::PathBuf>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: TestBackend) -> Self {
        crate::logs::capture();
        let tag = uuid::Uuid::new_v4().simple().to_string();
        match backend {
            TestBackend::Sqlite => {
                let dir = std::env::temp_dir().join(format!("cb-test-{tag}"));
                std::fs::create_dir_all(&dir).expect("temp dir");
                let url = format!("sqlite://{}/test.db?mode=rwc", dir.display());
                Self { backend, url, dir: Some(dir), pg_name: None }
            }
            TestBackend::Postgres => {
                let name = format!("cbt_{}", &tag[..20]);
                let admin =
                    sea_orm::Database::connect(pg_admin_url()).await.unwrap_or_else(|e| panic!("PostgreSQL for tests unreachable at {}: {e}", pg_admin_url()));
                use sea_orm::ConnectionTrait;
                admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.expect("create test database");
                let _ = admin.close().await;
                let base = pg_admin_url();
                let root = base.rsplit_once('/').map(|(r, _)| r.to_owned()).unwrap_or(base);
                Self { backend, url: format!("{root}/{name}"), dir: None, pg_name: Some(name) }
            }
        }
    }

    /// A connected, migrated store with test keys.
    pub async fn store(&self) -> Store {
        let mut cfg = StoreConfig::new(self.url.clone());
        cfg.max_connections = 8;
        let store = Store::connect(&cfg, test_keys()).await.expect("connect test store");
        store.migrate().await.expect("migrate test store");
        store
    }
}

pub fn test_keys() -> DataKeys {
    DataKeys { cipher: FieldCipher::new(FieldCipherAlgorithm::Sm4Gcm, 1, vec![0x42; 16]).expect("key"), hasher: KeyedHasher::new(vec![0x24; 32]).expect("key") }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take() {
            let _ = std::fs::remove_dir_all(dir);
        }
        if let Some(name) = self.pg_name.take() {
            // Drop runs outside any runtime we may block: use a thread with its own.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("rt");
                rt.block_on(async {
                    if let Ok(admin) = sea_orm::Database::connect(pg_admin_url()).await {
                        use sea_orm::ConnectionTrait;
                        let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
                        let _ = admin.close().await;
                    }
                });
            })
            .join();
        }
    }
}

/// Declares a test that runs once on SQLite and once on PostgreSQL, as
/// `<name>::sqlite` and `<name>::postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($(#[$meta:meta])* async fn $name:ident($backend:ident) $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let $backend = $crate::TestBackend::Sqlite;
                $body
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let $backend = $crate::TestBackend::Postgres;
                $body
            }
        }
    };
}
