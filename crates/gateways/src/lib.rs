//! Connectors to the outside systems. Each builds requests, signs them, parses and
//! checks answers, and maps failures to the stable error catalogue; the HTTP executor
//! is shared. Switching from a simulator to the real system is configuration only.
//!
//! The `http` feature (on by default) brings the clients; without it only the pure
//! parsers, signers and decoders remain, which is all the fuzz targets need — their
//! cold build in CI then skips reqwest, rustls and tokio.
// Without the clients some imports and helpers only they use are idle.
#![cfg_attr(not(feature = "http"), allow(unused_imports, dead_code))]

pub mod ccb;
pub mod courier;
pub mod einvoice;
pub mod face;
#[cfg(feature = "http")]
pub mod files;
pub mod his;
#[cfg(feature = "http")]
pub mod http;
#[cfg(feature = "http")]
pub mod messages;
pub mod nhsa;
#[cfg(feature = "http")]
pub mod realname;
#[cfg(feature = "http")]
pub mod wechat;

#[cfg(feature = "http")]
pub use his::{HisClient, HisClientConfig};
#[cfg(feature = "http")]
pub use realname::{RealNameClient, RealNameClientConfig};
#[cfg(feature = "http")]
pub use wechat::{WechatOAuthClient, WechatOAuthConfig};
