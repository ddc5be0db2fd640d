//! Connectors of the message platform: the official account's template and subscribe
//! messages, SMS through Aliyun or Tencent Cloud, and the in-hospital navigation system.
//! Each answers with a classified [`SendOutcome`](domain::messages::SendOutcome), never an
//! error: a lost answer is `Unknown`, a refusal says whether trying again can help.
pub mod navigation;
pub mod open_api;
pub mod sms;
pub mod wechat;

use crate::http::TransportError;
use domain::messages::SendOutcome;

/// How a transport failure reads as a send outcome: no answer is "unknown" (M3); could
/// not connect, 5xx and 429 are worth retrying; a body we cannot read is unknown too
/// (the provider may have acted on the request).
pub(crate) fn transport_outcome(e: TransportError) -> SendOutcome {
    match e {
        TransportError::Unknown(d) => SendOutcome::Unknown(d),
        TransportError::Unreachable(d) => SendOutcome::Transient { code: "unreachable".into(), detail: d },
        TransportError::Status(s) if s >= 500 || s == 429 => SendOutcome::Transient { code: format!("http_{s}"), detail: format!("HTTP {s}") },
        TransportError::Status(s) => SendOutcome::Permanent { code: format!("http_{s}"), detail: format!("HTTP {s}") },
        TransportError::Malformed(d) => SendOutcome::Unknown(format!("unreadable answer: {d}")),
    }
}
