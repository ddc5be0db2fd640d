//! The WeChat 医保 authorisation (protocols.md §1.6): the patient authorises in the 医保
//! mini-program or its H5 equivalent and comes back with an `authCode`; the server trades
//! it for `pay_auth_no` (or `family_pay_auth_no` when a guardian pays for a relative, 亲情付)
//! with a signed `userQuery`. The H5 redirect page and its parameters are inferred [I]:
//! the page URL is configured, and we pass `redirect_uri` and `state` like an OAuth page.
use crate::http::{HttpExecutor, TransportError};
use domain::format::url_encode;
use domain::ports::InsuranceAuthPort;
use domain::{Clock, DomainError, ErrorCode};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct MedInsAuthConfig {
    /// The H5 authorisation page [I].
    pub auth_page_url: String,
    /// The family-account verification page a guardian goes through to bind a child [I].
    pub family_bind_page_url: String,
    /// The userQuery receiver base, e.g. `https://mip-receiver.tengmed.com/testapi`.
    pub receiver_base: String,
    pub partner_id: String,
    pub partner_secret: domain::Secret,
    /// 定点机构编码 and the city (admdvs) the page needs.
    pub org_codg: String,
    pub city_code: String,
    pub timeout: Duration,
}

pub use domain::ports::{AuthFor, PayAuth};

pub struct MedInsAuthClient {
    cfg: MedInsAuthConfig,
    http: HttpExecutor,
    clock: Arc<dyn Clock>,
}

/// `lowerhex(HMAC-SHA256(partnerSecret, partnerId + timestamp))`, the `god-portal-signature` header.
pub fn portal_signature(partner_secret: &str, partner_id: &str, timestamp_ms: &str) -> String {
    hex::encode(crypto::mac::hmac_sha256(partner_secret.as_bytes(), format!("{partner_id}{timestamp_ms}").as_bytes()))
}

impl MedInsAuthClient {
    pub fn new(cfg: MedInsAuthConfig, clock: Arc<dyn Clock>) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http, clock }
    }

    /// One signed call to the receiver (`userQuery`, `familyBindQuery`): the answer's JSON
    /// when `code` is 0.
    async fn receiver_call(&self, method: &str, code: &str, openid: &str) -> Result<Value, DomainError> {
        let ts = self.clock.now().timestamp_millis().to_string();
        let url = format!("{}/api/mipuserquery/{method}/{}", self.cfg.receiver_base.trim_end_matches('/'), url_encode(&self.cfg.partner_id));
        let req = self
            .http
            .client()
            .post(url)
            .header("god-portal-timestamp", &ts)
            .header("god-portal-request-id", hex::encode(crypto::random_bytes::<16>()))
            .header("god-portal-signature", portal_signature(self.cfg.partner_secret.expose(), &self.cfg.partner_id, &ts))
            .json(&json!({"qrcode": code, "openid": openid}));
        let body = self.http.send(req).await.map_err(|e: TransportError| DomainError::new(ErrorCode::UpstreamUnavailable, format!("medins {method}: {e}")))?;
        let v: Value = body.json().map_err(|e| DomainError::new(ErrorCode::UpstreamUnavailable, format!("medins {method}: malformed: {e}")))?;
        if v.get("code").and_then(Value::as_i64) != Some(0) {
            let msg = v.get("message").and_then(Value::as_str).unwrap_or("");
            return Err(DomainError::new(ErrorCode::InsuranceAuthFailed, format!("medins {method} refused: {msg}")));
        }
        Ok(v)
    }
}

#[async_trait::async_trait]
impl InsuranceAuthPort for MedInsAuthClient {
    /// Where to send the patient to authorise.
    fn authorize_url(&self, redirect_uri: &str, state: &str, who: AuthFor) -> String {
        let sep = if self.cfg.auth_page_url.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}openType=getAuthCode&bizType=04107&cityCode={}&orgCodg={}&relative={}&redirect_uri={}&state={}",
            self.cfg.auth_page_url,
            url_encode(&self.cfg.city_code),
            url_encode(&self.cfg.org_codg),
            if who == AuthFor::Relative { 1 } else { 0 },
            url_encode(redirect_uri),
            url_encode(state)
        )
    }

    /// Where a guardian proves it is them before binding a child's 少儿医保 (the family
    /// account, 亲情账户): the page asks for the WeChat Pay password. Its address is
    /// configured; the parameters follow the authorisation page's [I].
    fn family_bind_url(&self, redirect_uri: &str, state: &str, child_name_masked: &str) -> String {
        let page = &self.cfg.family_bind_page_url;
        let sep = if page.contains('?') { '&' } else { '?' };
        format!(
            "{page}{sep}cityCode={}&orgCodg={}&child={}&redirect_uri={}&state={}",
            url_encode(&self.cfg.city_code),
            url_encode(&self.cfg.org_codg),
            url_encode(child_name_masked),
            url_encode(redirect_uri),
            url_encode(state)
        )
    }

    /// Trades the one-time `bindCode` for the verification result; `Ok` only if the
    /// guardian was verified. Returns how (e.g. `PAY_PWD`).
    async fn family_bind_query(&self, bind_code: &str, openid: &str) -> Result<String, DomainError> {
        let v = self.receiver_call("familyBindQuery", bind_code, openid).await?;
        if v.get("verified").and_then(Value::as_str) != Some("1") {
            return Err(DomainError::new(ErrorCode::InsuranceAuthFailed, "guardian not verified"));
        }
        Ok(v.get("verify_type").and_then(Value::as_str).unwrap_or("UNKNOWN").to_owned())
    }

    /// Trades the one-time `authCode` for the payment authorisation.
    async fn user_query(&self, auth_code: &str, openid: &str) -> Result<PayAuth, DomainError> {
        let v = self.receiver_call("userQuery", auth_code, openid).await?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_owned);
        match (field("pay_auth_no"), field("family_pay_auth_no")) {
            (Some(no), _) => Ok(PayAuth { pay_auth_no: no, for_relative: false }),
            (None, Some(no)) => Ok(PayAuth { pay_auth_no: no, for_relative: true }),
            _ => Err(DomainError::new(ErrorCode::InsuranceAuthFailed, "medins userQuery: no authorisation number")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_lower_hex_hmac_of_partner_and_timestamp() {
        let s = portal_signature("secret", "P001", "1700000000000");
        assert_eq!(s, hex::encode(crypto::mac::hmac_sha256(b"secret", b"P0011700000000000")));
        assert_eq!(s, s.to_lowercase());
        assert_ne!(s, portal_signature("secret", "P001", "1700000000001"));
    }
}
