//! What the platform logs during the tests, kept for the log scrub (S9): when
//! `CAREBRIDGE_TEST_LOG_DIR` is set (scripts/test sets it), every test process writes
//! its log as JSON lines — with each event's target, so the simulators' own logs (an
//! outside system's, which may hold what the hospital sent them) can be told apart —
//! to a file of its own there. `scripts/log_scrub.py` reads them all after the suite.
use std::sync::{Mutex, OnceLock};

/// Installs the capturing subscriber once per process; a no-op without the variable.
pub fn capture() {
    static ONCE: OnceLock<()> = OnceLock::new();
    ONCE.get_or_init(|| {
        let Some(dir) = std::env::var_os("CAREBRIDGE_TEST_LOG_DIR") else { return };
        let dir = std::path::PathBuf::from(dir);
        if std::fs::create_dir_all(&dir).is_err() {
            return;
        }
        let name = format!("{}-{}.jsonl", std::process::id(), uuid::Uuid::new_v4().simple());
        let Ok(file) = std::fs::File::create(dir.join(name)) else { return };
        let _ = tracing_subscriber::fmt()
            .json()
            .flatten_event(true)
            .with_target(true)
            .with_current_span(true)
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "debug,sqlx=warn,sqlx_core=warn,sea_orm=warn,hyper=warn,hyper_util=warn,reqwest=warn,h2=warn,rustls=warn,rustls_platform_verifier=warn",
            ))
            .with_writer(Mutex::new(file))
            .try_init();
    });
}
