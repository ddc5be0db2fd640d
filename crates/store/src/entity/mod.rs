//! SeaORM entities, one module per table. Kept in this crate so edits elsewhere do not
//! recompile the derive-heavy code.
pub mod audit_log;
pub mod booking_blacklist;
pub mod channel_event;
pub mod child_binding;
pub mod idempotency_key;
pub mod insurance_dept_rule;
pub mod journey_event;
pub mod ledger_entry;
pub mod outbox;
pub mod patient;
pub mod payment_attempt;
pub mod payment_order;
pub mod recon_item;
pub mod recon_run;
pub mod registration;
pub mod session;
pub mod staff_user;
pub mod wechat_account;
