//! The national medical-insurance mobile-payment centre (医保移动支付中心, interfaces
//! 6201/6202/6203/6301/6401). This module holds the transport envelope — SM4
//! encryption of `data` and SM3withSM2 signatures over a canonical sign string — as
//! pure functions, shared by the connector and the simulator. protocols.md §1.3.
#[cfg(feature = "http")]
pub mod auth;
pub mod client;
pub mod envelope;
