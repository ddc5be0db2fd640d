//! The face engine's transport: the access token (fetched once, kept until a day before it
//! expires or until the engine calls it stale), the JSON call, the envelope.
use super::{
    Answer, FACE_VERIFY, GROUP_NOT_FOUND, MATCH, MAX_GROUPS, MAX_IMAGE_BASE64, NO_MATCH, PERSON_VERIFY, SEARCH, USER_ADD, USER_DELETE, already_gone, error_for,
    face_verify_body, match_body, open_answer, parse_face_token, parse_liveness, parse_score, parse_search, parse_token, person_verify_body, search_body,
    token_stale, user_add_body, user_delete_body,
};
use crate::http::{HttpExecutor, TransportError};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use domain::face::{FaceCandidate, FaceChecks, FaceImage, FaceInput};
use domain::ports::FaceEnginePort;
use domain::{Clock, DomainError, ErrorCode};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

#[derive(Clone, Debug)]
pub struct FaceClientConfig {
    /// `https://aip.baidubce.com/rest/2.0/face/v3` in the cloud; the on-premise edition's or
    /// the simulator's otherwise.
    pub api_base: String,
    /// `https://aip.baidubce.com/oauth/2.0/token`. Empty: the engine takes no token (an
    /// on-premise edition on the hospital's own network [I]).
    pub token_url: String,
    /// API Key and Secret Key of the application.
    pub api_key: String,
    pub secret_key: domain::Secret,
    pub timeout: Duration,
}

pub struct FaceClient {
    cfg: FaceClientConfig,
    http: HttpExecutor,
    clock: Arc<dyn Clock>,
    token: tokio::sync::Mutex<Option<(String, DateTime<Utc>)>>,
}

impl FaceClient {
    pub fn new(cfg: FaceClientConfig, clock: Arc<dyn Clock>) -> Self {
        let http = HttpExecutor::new(cfg.timeout);
        Self { cfg, http, clock, token: tokio::sync::Mutex::new(None) }
    }

    fn unavailable(what: &str, e: impl std::fmt::Display) -> DomainError {
        DomainError::new(ErrorCode::UpstreamUnavailable, format!("face engine {what}: {e}"))
    }

    /// The token to call with; a new one when there is none, it is within a day of its
    /// end, or the engine called `refused` stale. Calls refused together replace it once:
    /// whoever comes second finds a token other than the one refused and uses it.
    async fn token(&self, refused: Option<&str>) -> Result<Option<String>, DomainError> {
        if self.cfg.token_url.is_empty() {
            return Ok(None);
        }
        let mut held = self.token.lock().await;
        let now = self.clock.now();
        if let Some((t, until)) = held.as_ref()
            && refused != Some(t.as_str())
            && now + chrono::Duration::days(1) < *until
        {
            return Ok(Some(t.clone()));
        }
        let req = self.http.client().get(&self.cfg.token_url).query(&[
            ("grant_type", "client_credentials"),
            ("client_id", self.cfg.api_key.as_str()),
            ("client_secret", self.cfg.secret_key.expose()),
        ]);
        let body = self.http.send(req).await.map_err(|e| match e {
            // The key pair refused: the hospital's configuration, not a passing outage.
            TransportError::Status(400 | 401) => DomainError::new(ErrorCode::FaceEngineRefused, format!("face engine token: {e}")),
            e => Self::unavailable("token", e),
        })?;
        let (token, life) = parse_token(&body.0).map_err(|e| DomainError::new(ErrorCode::FaceEngineRefused, format!("face engine token: {e}")))?;
        *held = Some((token.clone(), now + chrono::Duration::seconds(life)));
        Ok(Some(token))
    }

    async fn post(&self, path: &str, body: &str, token: Option<&str>) -> Result<Answer, DomainError> {
        let url = format!("{}/{path}", self.cfg.api_base.trim_end_matches('/'));
        let mut req = self.http.client().post(url).header("content-type", "application/json").body(body.to_owned());
        if let Some(t) = token {
            req = req.query(&[("access_token", t)]);
        }
        let started = std::time::Instant::now();
        let result = self.http.send(req).await;
        metrics::histogram!("carebridge_outbound_seconds", "system" => "face", "op" => path.to_owned()).record(started.elapsed().as_secs_f64());
        let body = result.map_err(|e: TransportError| Self::unavailable(path, e))?;
        open_answer(&body.0).map_err(|e| Self::unavailable(path, e))
    }

    /// One call: a stale token is replaced and the call made once more.
    async fn call(&self, path: &str, body: &Value) -> Result<Answer, DomainError> {
        let body = body.to_string();
        let token = self.token(None).await?;
        let first = self.post(path, &body, token.as_deref()).await?;
        match first {
            Answer::Failed { code, .. } if token_stale(code) && token.is_some() => self.post(path, &body, self.token(token.as_deref()).await?.as_deref()).await,
            other => Ok(other),
        }
    }

    /// The engine's refusal as a catalogue error; the text is the engine's, never the picture.
    fn failed(path: &str, code: i64, text: &str) -> DomainError {
        DomainError::new(error_for(code), format!("face engine {path} error {code}: {text}"))
    }

    fn result<T>(path: &str, answer: Answer, parse: impl FnOnce(&Value) -> Result<T, String>) -> Result<T, DomainError> {
        match answer {
            Answer::Ok(v) => parse(&v).map_err(|e| Self::unavailable(path, e)),
            Answer::Failed { code, text } => Err(Self::failed(path, code, &text)),
        }
    }

    fn check_size(image: &FaceImage) -> Result<(), DomainError> {
        if image.bytes().len().div_ceil(3) * 4 > MAX_IMAGE_BASE64 {
            return Err(DomainError::new(ErrorCode::PayloadTooLarge, "face picture over the engine's 2 MB"));
        }
        Ok(())
    }
}

#[async_trait]
impl FaceEnginePort for FaceClient {
    async fn add_face(&self, group_id: &str, user_id: &str, face: FaceInput<'_>, checks: FaceChecks) -> Result<String, DomainError> {
        if let FaceInput::Image(i) = face {
            Self::check_size(i)?;
        }
        let answer = self.call(USER_ADD, &user_add_body(group_id, user_id, face, checks)).await?;
        Self::result(USER_ADD, answer, parse_face_token)
    }

    async fn delete_user(&self, group_id: &str, user_id: &str) -> Result<(), DomainError> {
        match self.call(USER_DELETE, &user_delete_body(group_id, user_id)).await? {
            Answer::Ok(_) => Ok(()),
            Answer::Failed { code, .. } if already_gone(code) => Ok(()),
            Answer::Failed { code, text } => Err(Self::failed(USER_DELETE, code, &text)),
        }
    }

    async fn search(&self, group_ids: &[String], image: &FaceImage, max_users: u32, checks: FaceChecks) -> Result<Vec<FaceCandidate>, DomainError> {
        if group_ids.is_empty() {
            return Ok(Vec::new());
        }
        if group_ids.len() > MAX_GROUPS {
            return Err(DomainError::new(ErrorCode::Internal, format!("a face search over {} groups (the engine takes {MAX_GROUPS})", group_ids.len())));
        }
        Self::check_size(image)?;
        match self.call(SEARCH, &search_body(group_ids, image, max_users, checks)).await? {
            // Nobody like the face, or none of the groups made yet (nobody enrolled is booked there).
            Answer::Failed { code: NO_MATCH | GROUP_NOT_FOUND, .. } => Ok(Vec::new()),
            answer => Self::result(SEARCH, answer, parse_search),
        }
    }

    async fn compare(&self, live: &FaceImage, other: &FaceImage, checks: FaceChecks) -> Result<f32, DomainError> {
        Self::check_size(live)?;
        Self::check_size(other)?;
        let answer = self.call(MATCH, &match_body(live, other, checks)).await?;
        Self::result(MATCH, answer, parse_score)
    }

    async fn verify_identity(&self, image: &FaceImage, id_number: &str, name: &str, checks: FaceChecks) -> Result<f32, DomainError> {
        Self::check_size(image)?;
        let answer = self.call(PERSON_VERIFY, &person_verify_body(image, id_number, name, checks)).await?;
        Self::result(PERSON_VERIFY, answer, parse_score)
    }

    async fn liveness(&self, image: &FaceImage) -> Result<f32, DomainError> {
        Self::check_size(image)?;
        let answer = self.call(FACE_VERIFY, &face_verify_body(image)).await?;
        Self::result(FACE_VERIFY, answer, parse_liveness)
    }
}
