//! The open message interface (MSG-3): hospital systems (LIS, PACS, pharmacy, the HIS's
//! integration platform) push any notice — a known scene with its variables, or a free
//! title and text — to a patient by HIS id. Requests are signed (key + HMAC over method,
//! path, timestamp, nonce and body), a nonce is accepted once, the timestamp must be
//! within five minutes, and an idempotency key makes a retry return the first answer.
//! A pushed notice is a journey event like any other, so it is delivered, deduplicated
//! and suppressed by the same rules.
use super::{enrich, templates};
use crate::App;
use crypto::open_api;
use domain::messages::{self as rules, Channel};
use domain::{DomainError, ErrorCode};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// How far a request's timestamp may be from our clock.
pub const MAX_SKEW_SECONDS: i64 = 300;

/// The signed parts of a request.
pub struct SignedRequest<'a> {
    pub key_id: &'a str,
    pub timestamp: &'a str,
    pub nonce: &'a str,
    pub signature: &'a str,
    pub method: &'a str,
    pub path: &'a str,
    pub body: &'a [u8],
}

/// A notice pushed by a hospital system.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct PushRequest {
    /// A scene code (`report.ready`, `critical_value`, `medicine.ready` …) or
    /// `hospital.notice` with `title` and `text` for a free notice.
    pub scene: String,
    /// The patient's id in the HIS.
    pub his_patient_id: String,
    /// The scene's variables (see the scene list in the console).
    #[serde(default)]
    pub variables: serde_json::Map<String, Value>,
    /// Free notices only.
    pub title: Option<String>,
    pub text: Option<String>,
}

/// Why a push was refused, with what to fix (no personal data in it).
#[derive(Debug)]
pub struct PushRefusal {
    pub error: DomainError,
    pub hint: Option<String>,
}

impl From<DomainError> for PushRefusal {
    fn from(error: DomainError) -> Self {
        Self { error, hint: None }
    }
}

impl From<ErrorCode> for PushRefusal {
    fn from(c: ErrorCode) -> Self {
        Self { error: c.into(), hint: None }
    }
}

fn nonce_ok(n: &str) -> bool {
    (8..=64).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The event key of a pushed notice: the subject's own key where the platform may learn
/// of the same thing another way (a bill found by the scan, a report), so the patient is
/// told once; otherwise the client's idempotency key.
fn event_key(scene: &str, vars: &serde_json::Map<String, Value>, key_id: &str, idem: &str) -> String {
    let subject = match scene {
        "bill.due" | "medicine.ready" | "medicine.picked_up" => vars.get("recipe_id"),
        "report.ready" => vars.get("report_id"),
        _ => None,
    };
    match subject.and_then(Value::as_str).filter(|s| !s.is_empty()) {
        Some(s) => format!("{scene}:{s}"),
        None => format!("api:{key_id}:{idem}"),
    }
}

impl App {
    /// Registers a hospital system as a client of the open interface (audited); returns
    /// its secret, which is shown once and kept only sealed.
    pub async fn create_open_api_client(&self, key_id: &str, name: &str, actor: &crate::Actor) -> Result<String, DomainError> {
        let name = name.trim();
        if key_id.is_empty() || key_id.len() > 64 || !key_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "key id: 1-64 of A-Z a-z 0-9 - _"));
        }
        if name.is_empty() || name.chars().count() > 40 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "name: 1-40 characters"));
        }
        if self.store.open_api_secret(key_id).await?.is_some() {
            return Err(DomainError::new(ErrorCode::Conflict, "a client with this key exists"));
        }
        let secret = hex::encode(crypto::random_bytes::<24>());
        self.store.add_open_api_client(key_id, name, &secret, self.now()).await?;
        self.store.audit(&actor.entry("notify.open_api_client.created", format!("open_api_client:{key_id}"), name), self.now()).await?;
        Ok(secret)
    }

    /// Checks a request's signature, clock and nonce; returns the client's name.
    pub async fn authenticate_open_request(&self, r: &SignedRequest<'_>) -> Result<String, DomainError> {
        let (name, secret) = self.store.open_api_secret(r.key_id).await?.ok_or(ErrorCode::SignatureInvalid)?;
        let ts: i64 = r.timestamp.parse().map_err(|_| DomainError::new(ErrorCode::TimestampSkewed, "timestamp"))?;
        if (self.now().timestamp() - ts).abs() > MAX_SKEW_SECONDS {
            return Err(ErrorCode::TimestampSkewed.into());
        }
        if !nonce_ok(r.nonce) {
            return Err(DomainError::new(ErrorCode::SignatureInvalid, "nonce format"));
        }
        let expected = open_api::sign(&secret, r.method, r.path, r.timestamp, r.nonce, r.body);
        if !crypto::constant_time_eq(expected.as_bytes(), r.signature.to_ascii_lowercase().as_bytes()) {
            return Err(ErrorCode::SignatureInvalid.into());
        }
        // Only a genuine request spends its nonce, so a forger cannot burn real ones.
        if !self.store.use_nonce(r.key_id, r.nonce, self.now(), chrono::Duration::seconds(2 * MAX_SKEW_SECONDS)).await? {
            return Err(ErrorCode::NonceReplayed.into());
        }
        Ok(name)
    }

    /// Accepts a pushed notice: validates it fully (scene, patient, every template renders
    /// with the variables), records it as a journey event and writes its messages at once,
    /// answering with their numbers. The same idempotency key with the same body gives
    /// the same answer; with another body it is refused.
    pub async fn push_notice(&self, key_id: &str, idempotency_key: &str, req: &PushRequest) -> Result<Value, PushRefusal> {
        let fingerprint = hex::encode(crypto::mac::sha256(serde_json::to_string(req).unwrap_or_default().as_bytes()));
        if let Some((hash, answer)) = self.store.open_request(key_id, idempotency_key).await? {
            if hash != fingerprint {
                return Err(ErrorCode::IdempotencyKeyReused.into());
            }
            return Ok(serde_json::from_str(&answer).unwrap_or(Value::Null));
        }
        let scene = rules::scene(&req.scene).ok_or_else(|| PushRefusal {
            error: ErrorCode::SceneUnknown.into(),
            hint: Some(format!("unknown scene `{}`", req.scene.chars().take(40).collect::<String>())),
        })?;
        let invalid = |hint: String| PushRefusal { error: ErrorCode::ValidationFailed.into(), hint: Some(hint) };
        if req.his_patient_id.is_empty()
            || req.his_patient_id.len() > 32
            || !req.his_patient_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(invalid("his_patient_id: 1-32 of A-Z a-z 0-9 - _".into()));
        }
        let mut vars = req.variables.clone();
        if serde_json::to_string(&vars).map(|s| s.len()).unwrap_or(usize::MAX) > 8 * 1024 {
            return Err(invalid("variables: at most 8 KiB".into()));
        }
        if scene.code == rules::FREE_SCENE {
            let title = req.title.as_deref().map(str::trim).unwrap_or_default();
            let text = req.text.as_deref().map(str::trim).unwrap_or_default();
            if title.is_empty() || title.chars().count() > 20 || text.is_empty() || text.chars().count() > 500 {
                return Err(invalid("free notice: title 1-20 characters, text 1-500".into()));
            }
            vars.insert("title".into(), json!(title));
            vars.insert("text".into(), json!(text));
        }
        // A link must stay on our site; the navigation route comes from the navigation system.
        if vars.get("link").and_then(Value::as_str).is_some_and(|l| !l.starts_with('/') || l.starts_with("//")) {
            return Err(invalid("link: a path on this site, starting with /".into()));
        }
        for k in ["route_url", "route_summary", "source", "message_no"] {
            vars.remove(k);
        }
        let patients = self.store.patient_ids_by_his_id(&req.his_patient_id).await?;
        let first = *patients.first().ok_or(ErrorCode::RecipientNotFound)?;
        let patient = self.store.patient_by_id(first).await?.ok_or(ErrorCode::RecipientNotFound)?;
        vars.insert("patient_name_masked".into(), json!(patient.name_masked));
        vars.insert("source".into(), json!(format!("api:{key_id}")));
        // Refuse now what could not be sent later: every template must render.
        let mut probe = enrich(scene, &Value::Object(vars.clone()), &self.messaging.policy.hospital_name);
        probe["message_no"] = json!("M0");
        for ch in [Channel::Inbox, Channel::WechatTemplate, Channel::Sms] {
            let t = self.template_source(scene, ch).await?;
            let rendered = match ch {
                Channel::Inbox => templates::render(&t.title, &probe).and_then(|_| templates::render(&t.body, &probe)).map(|_| ()),
                _ => templates::render_fields(&t.body, &probe).map(|_| ()),
            };
            rendered.map_err(|e| PushRefusal { error: ErrorCode::TemplateInvalid.into(), hint: Some(format!("{}: {e}", ch.as_str())) })?;
        }
        let key = event_key(scene.code, &vars, key_id, idempotency_key);
        let txn = self.store.write_txn().await?;
        self.store.record_event(&txn, scene.code, &key, Some(first), &Value::Object(vars), self.now()).await?;
        txn.commit().await.map_err(store::db_err)?;
        let event = self.store.event_by_key(&key).await?.ok_or_else(|| DomainError::new(ErrorCode::Internal, "event vanished"))?;
        self.dispatch_event(event.id).await?;
        let messages: Vec<Value> =
            self.store.messages_of_event(event.id).await?.iter().map(|m| json!({"message_no": m.message_no, "status": m.status})).collect();
        let answer = json!({"event_id": event.id, "scene": scene.code, "messages": messages});
        if !self.store.put_open_request(key_id, idempotency_key, &fingerprint, &answer.to_string(), self.now()).await? {
            // A concurrent retry stored its answer first: that one stands.
            if let Some((_, a)) = self.store.open_request(key_id, idempotency_key).await? {
                return Ok(serde_json::from_str(&a).unwrap_or(Value::Null));
            }
        }
        Ok(answer)
    }

    /// A pushed message's status, with every try on every channel; only the client that
    /// pushed it may ask.
    pub async fn open_message_status(&self, key_id: &str, message_no: &str) -> Result<Value, DomainError> {
        let m = self.store.message_by_no(message_no).await?.filter(|m| m.source == format!("api:{key_id}")).ok_or(ErrorCode::NotFound)?;
        let deliveries: Vec<Value> = self
            .store
            .deliveries(m.id)
            .await?
            .iter()
            .map(|d| json!({"channel": d.channel, "attempt": d.attempt, "outcome": d.outcome, "code": d.code, "at": d.at.to_rfc3339()}))
            .collect();
        Ok(json!({
            "message_no": m.message_no, "scene": m.scene, "status": m.status, "status_label": super::status::label_zh(&m.status),
            "channel": m.sent_channel, "created_at": m.created_at.to_rfc3339(), "read": m.read_at.is_some(),
            "acknowledged": m.acked_at.is_some(), "deliveries": deliveries,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pushed_bills_and_reports_share_the_platforms_own_event_keys() {
        let mut v = serde_json::Map::new();
        v.insert("recipe_id".into(), json!("RX1"));
        assert_eq!(event_key("bill.due", &v, "k", "i"), "bill.due:RX1");
        assert_eq!(event_key("critical_value", &v, "k", "i"), "api:k:i");
        assert!(nonce_ok("abcdEFGH-_12") && !nonce_ok("short") && !nonce_ok("has space 12"));
    }
}
