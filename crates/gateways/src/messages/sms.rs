//! SMS through Aliyun (`dysmsapi` 2017-05-25, RPC style, HMAC-SHA1 signature) or Tencent
//! Cloud (`sms` 2021-01-11, TC3-HMAC-SHA256), chosen by settings (protocols.md §5.3).
//! Neither provider dedupes a repeated send, so a lost answer is `Unknown` and the
//! delivery engine does not repeat it (M3).
use super::transport_outcome;
use crate::http::HttpExecutor;
use async_trait::async_trait;
use base64::Engine;
use chrono::{DateTime, Utc};
use domain::messages::SendOutcome;
use domain::ports::{SmsMessage, SmsPort};
use serde_json::{Value, json};
use std::time::Duration;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmsProvider {
    Aliyun,
    Tencent,
}

impl SmsProvider {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "aliyun" => Some(Self::Aliyun),
            "tencent" => Some(Self::Tencent),
            _ => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct SmsConfig {
    pub provider: SmsProvider,
    /// `https://dysmsapi.aliyuncs.com` or `https://sms.tencentcloudapi.com`.
    pub base_url: String,
    pub access_key_id: String,
    pub access_key_secret: domain::Secret,
    pub sign_name: String,
    /// Tencent only: the SMS application (`SmsSdkAppId`) and region.
    pub sdk_app_id: String,
    pub region: String,
    pub timeout: Duration,
}

pub struct SmsClient {
    cfg: SmsConfig,
    http: HttpExecutor,
    clock: std::sync::Arc<dyn domain::Clock>,
}

impl SmsClient {
    pub fn new(cfg: SmsConfig, clock: std::sync::Arc<dyn domain::Clock>) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http, clock }
    }

    async fn send_aliyun(&self, m: &SmsMessage) -> SendOutcome {
        let params: serde_json::Map<String, Value> = m.params.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect();
        let nonce = hex::encode(crypto::random_bytes::<16>());
        let timestamp = self.clock.now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
        let mut form: Vec<(String, String)> = vec![
            ("AccessKeyId".into(), self.cfg.access_key_id.clone()),
            ("Action".into(), "SendSms".into()),
            ("Format".into(), "JSON".into()),
            ("OutId".into(), m.out_id.clone()),
            ("PhoneNumbers".into(), m.phone.expose().as_ref().to_owned()),
            ("RegionId".into(), "cn-hangzhou".into()),
            ("SignName".into(), self.cfg.sign_name.clone()),
            ("SignatureMethod".into(), "HMAC-SHA1".into()),
            ("SignatureNonce".into(), nonce),
            ("SignatureVersion".into(), "1.0".into()),
            ("TemplateCode".into(), m.template_code.clone()),
            ("TemplateParam".into(), Value::Object(params).to_string()),
            ("Timestamp".into(), timestamp),
            ("Version".into(), "2017-05-25".into()),
        ];
        let signature = aliyun_signature("POST", &form, self.cfg.access_key_secret.expose());
        form.push(("Signature".into(), signature));
        let req = self.http.client().post(format!("{}/", self.cfg.base_url.trim_end_matches('/'))).form(&form);
        let body = match self.http.send(req).await {
            Ok(b) => b,
            // Aliyun answers refusals with 4xx and a JSON body; reqwest hands us only the status.
            Err(e) => return transport_outcome(e),
        };
        let a: Value = match body.json() {
            Ok(a) => a,
            Err(e) => return SendOutcome::Unknown(format!("unreadable answer: {e}")),
        };
        let code = a["Code"].as_str().unwrap_or_default().to_owned();
        let detail = a["Message"].as_str().unwrap_or_default().to_owned();
        if code == "OK" {
            return SendOutcome::Sent(a["BizId"].as_str().unwrap_or_default().to_owned());
        }
        if code == "isv.BUSINESS_LIMIT_CONTROL" || code.starts_with("Throttling") || code.starts_with("isp.") || code == "ServiceUnavailable" {
            SendOutcome::Transient { code, detail }
        } else {
            SendOutcome::Permanent { code, detail }
        }
    }

    async fn send_tencent(&self, m: &SmsMessage) -> SendOutcome {
        let phone = format!("+86{}", m.phone.expose().as_ref());
        let body = json!({
            "PhoneNumberSet": [phone],
            "SmsSdkAppId": self.cfg.sdk_app_id,
            "SignName": self.cfg.sign_name,
            "TemplateId": m.template_code,
            "TemplateParamSet": m.params.iter().map(|(_, v)| v.clone()).collect::<Vec<_>>(),
            "SessionContext": m.out_id,
        })
        .to_string();
        let base = self.cfg.base_url.trim_end_matches('/');
        let host = base.split("://").nth(1).unwrap_or(base).split('/').next().unwrap_or_default().to_owned();
        let now = self.clock.now();
        let auth = tencent_authorization(&self.cfg.access_key_id, self.cfg.access_key_secret.expose(), &host, "SendSms", &body, now);
        let req = self
            .http
            .client()
            .post(format!("{base}/"))
            .header("Authorization", auth)
            .header("Content-Type", TENCENT_CONTENT_TYPE)
            .header("Host", host)
            .header("X-TC-Action", "SendSms")
            .header("X-TC-Timestamp", now.timestamp().to_string())
            .header("X-TC-Version", "2021-01-11")
            .header("X-TC-Region", self.cfg.region.clone())
            .body(body);
        let answer = match self.http.send(req).await {
            Ok(b) => b,
            Err(e) => return transport_outcome(e),
        };
        let a: Value = match answer.json() {
            Ok(a) => a,
            Err(e) => return SendOutcome::Unknown(format!("unreadable answer: {e}")),
        };
        let r = &a["Response"];
        let (code, detail, serial) = if let Some(err) = r.get("Error") {
            (err["Code"].as_str().unwrap_or_default().to_owned(), err["Message"].as_str().unwrap_or_default().to_owned(), None)
        } else {
            let s = &r["SendStatusSet"][0];
            (s["Code"].as_str().unwrap_or_default().to_owned(), s["Message"].as_str().unwrap_or_default().to_owned(), s["SerialNo"].as_str().map(str::to_owned))
        };
        if code == "Ok" {
            return SendOutcome::Sent(serial.unwrap_or_default());
        }
        if code.starts_with("LimitExceeded") || code.starts_with("InternalError") || code == "RequestLimitExceeded" {
            SendOutcome::Transient { code, detail }
        } else {
            SendOutcome::Permanent { code, detail }
        }
    }
}

#[async_trait]
impl SmsPort for SmsClient {
    fn provider(&self) -> &'static str {
        match self.cfg.provider {
            SmsProvider::Aliyun => "aliyun",
            SmsProvider::Tencent => "tencent",
        }
    }
    async fn send(&self, m: &SmsMessage) -> SendOutcome {
        match self.cfg.provider {
            SmsProvider::Aliyun => self.send_aliyun(m).await,
            SmsProvider::Tencent => self.send_tencent(m).await,
        }
    }
}

/// Aliyun's percent-encoding: RFC 3986 unreserved characters kept, everything else as
/// upper-case `%XX` of its UTF-8 bytes (so a space is `%20`, `*` is `%2A`, `~` stays).
pub fn aliyun_percent_encode(s: &str) -> String {
    s.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

/// The RPC-style signature: the parameters sorted by name, encoded and joined, then
/// `METHOD&%2F&<encoded query>` signed with HMAC-SHA1 under `secret&`, in Base64.
pub fn aliyun_signature(method: &str, params: &[(String, String)], secret: &str) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().filter(|(k, _)| k != "Signature").collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let query = sorted.iter().map(|(k, v)| format!("{}={}", aliyun_percent_encode(k), aliyun_percent_encode(v))).collect::<Vec<_>>().join("&");
    let to_sign = format!("{method}&{}&{}", aliyun_percent_encode("/"), aliyun_percent_encode(&query));
    let mac = crypto::mac::hmac_sha1(format!("{secret}&").as_bytes(), to_sign.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac)
}

pub const TENCENT_CONTENT_TYPE: &str = "application/json; charset=utf-8";

/// Tencent Cloud's canonical request for a JSON POST signed over content-type, host and
/// x-tc-action.
pub fn tencent_canonical_request(host: &str, action: &str, body: &str) -> String {
    format!(
        "POST\n/\n\ncontent-type:{TENCENT_CONTENT_TYPE}\nhost:{host}\nx-tc-action:{}\n\ncontent-type;host;x-tc-action\n{}",
        action.to_ascii_lowercase(),
        hex::encode(crypto::mac::sha256(body.as_bytes()))
    )
}

/// The TC3-HMAC-SHA256 signature (hex) of a request at `at`, for service `sms`.
pub fn tencent_signature(secret_key: &str, host: &str, action: &str, body: &str, at: DateTime<Utc>) -> String {
    let date = at.format("%Y-%m-%d").to_string();
    let scope = format!("{date}/sms/tc3_request");
    let to_sign =
        format!("TC3-HMAC-SHA256\n{}\n{scope}\n{}", at.timestamp(), hex::encode(crypto::mac::sha256(tencent_canonical_request(host, action, body).as_bytes())));
    let k_date = crypto::mac::hmac_sha256(format!("TC3{secret_key}").as_bytes(), date.as_bytes());
    let k_service = crypto::mac::hmac_sha256(&k_date, b"sms");
    let k_signing = crypto::mac::hmac_sha256(&k_service, b"tc3_request");
    hex::encode(crypto::mac::hmac_sha256(&k_signing, to_sign.as_bytes()))
}

pub fn tencent_authorization(secret_id: &str, secret_key: &str, host: &str, action: &str, body: &str, at: DateTime<Utc>) -> String {
    format!(
        "TC3-HMAC-SHA256 Credential={secret_id}/{}/sms/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature={}",
        at.format("%Y-%m-%d"),
        tencent_signature(secret_key, host, action, body, at)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn aliyun_encoding_follows_rfc3986() {
        assert_eq!(aliyun_percent_encode("a b*c~d/é"), "a%20b%2Ac~d%2F%C3%A9");
    }

    #[test]
    fn aliyun_signature_is_over_the_sorted_encoded_query() {
        let p = vec![("b".to_string(), "2 3".to_string()), ("a".to_string(), "1".to_string())];
        let expected_string = "POST&%2F&a%3D1%26b%3D2%25203";
        let mac = crypto::mac::hmac_sha1(b"key&", expected_string.as_bytes());
        assert_eq!(aliyun_signature("POST", &p, "key"), base64::engine::general_purpose::STANDARD.encode(mac));
    }

    #[test]
    fn tencent_canonical_request_has_the_documented_shape() {
        let c = tencent_canonical_request("sms.tencentcloudapi.com", "SendSms", "{}");
        let lines: Vec<&str> = c.split('\n').collect();
        assert_eq!(lines[0], "POST");
        assert_eq!(lines[1], "/");
        assert_eq!(lines[2], "");
        assert_eq!(lines[3], "content-type:application/json; charset=utf-8");
        assert_eq!(lines[4], "host:sms.tencentcloudapi.com");
        assert_eq!(lines[5], "x-tc-action:sendsms");
        assert_eq!(lines[7], "content-type;host;x-tc-action");
        // SHA-256 of "{}".
        assert_eq!(lines[8], "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a");
        let at = Utc.with_ymd_and_hms(2026, 11, 26, 0, 0, 0).unwrap();
        let a = tencent_authorization("AKID", "secret", "sms.tencentcloudapi.com", "SendSms", "{}", at);
        assert!(a.starts_with("TC3-HMAC-SHA256 Credential=AKID/2026-11-26/sms/tc3_request, SignedHeaders=content-type;host;x-tc-action, Signature="));
        assert_eq!(a.rsplit('=').next().unwrap().len(), 64);
    }
}
