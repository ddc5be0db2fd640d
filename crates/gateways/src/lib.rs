//! Connectors to the outside systems. Each builds requests, signs them, parses and
//! checks answers, and maps failures to the stable error catalogue; the HTTP executor
//! is shared. Switching from a simulator to the real system is configuration only.

pub mod ccb;
pub mod files;
pub mod his;
pub mod http;
pub mod nhsa;
pub mod notify;
pub mod realname;
pub mod wechat;

pub use his::{HisClient, HisClientConfig};
pub use realname::{RealNameClient, RealNameClientConfig};
pub use wechat::{WechatOAuthClient, WechatOAuthConfig};
