//! Test support: fresh databases on both backends, the whole application spawned on
//! 127.0.0.1:0 against the simulators, and a headless-Chromium driver.
pub mod app;
pub mod browser;
pub mod db;
pub mod fakes;
pub mod logs;

pub use app::{TestApp, location, url_query};
pub use db::{TestBackend, TestDb, pg_admin_url, test_keys};
