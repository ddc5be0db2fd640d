//! The hospital's vocabulary as types: value objects that validate themselves, the
//! stable error catalogue, the clock, and the ports through which the application
//! reaches outside systems. No I/O happens here.
//!
//! Modules follow the requirement areas (`identity`, `booking`, `staff`, `audit` …) so
//! that a requirement's code carries the same word in every crate.

pub mod audit;
pub mod billing;
pub mod clock;
pub mod consent;
pub mod error;
pub mod face;
pub mod format;
pub mod idempotency;
pub mod identity;
pub mod inpatient;
pub mod insurance;
pub mod invoices;
pub mod masked;
pub mod messages;
pub mod money;
pub mod ports;
pub mod records;
pub mod registration;
pub mod reports;
pub mod secret;
pub mod staff;

pub use clock::{Clock, FakeClock, SystemClock};
pub use error::{DomainError, ErrorCode};
pub use masked::{MaskRule, Masked};
pub use money::Fen;
pub use secret::Secret;
