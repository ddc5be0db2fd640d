//! The HIS connector: the only code that speaks the HIS front-end-processor protocol
//! (see `sim::his` for the wire format). Every call is signed with the channel key;
//! every answer is checked for `resultCode` and its fields parsed into domain types, so
//! a malformed HIS answer becomes an error, never a half-filled value.
#[cfg(feature = "http")]
mod client;
pub mod decode;

#[cfg(feature = "http")]
pub use client::{HisClient, HisClientConfig};
pub use decode::{MAX_AMOUNT, OPERATIONS, decode_answer};
