//! Server-side sessions (S1, S2). The browser holds a random 256-bit token; the table
//! holds its SHA-256, the subject, and three clocks: idle, absolute and last strong auth.
use crate::entity::session;
use crate::{Store, db_err, micros};
use chrono::{DateTime, Duration, Utc};
use domain::{DomainError, ErrorCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, Condition, EntityTrait, QueryFilter, Set};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionKind {
    Patient,
    Staff,
}

impl SessionKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Patient => "patient",
            Self::Staff => "staff",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub kind: SessionKind,
    pub subject_id: i64,
    pub authenticated_at: DateTime<Utc>,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(crypto::mac::sha256(token.as_bytes()))
}

/// A fresh cookie token: 32 random bytes, URL-safe hex.
pub fn new_token() -> String {
    hex::encode(crypto::random_bytes::<32>())
}

impl Store {
    /// Creates a session and returns the cookie token. A login always calls this, so the
    /// identifier rotates on every sign-in.
    pub async fn create_session(&self, kind: SessionKind, subject_id: i64, policy: SessionPolicy, now: DateTime<Utc>) -> Result<String, DomainError> {
        let token = new_token();
        let now = micros(now);
        session::ActiveModel {
            token_hash: Set(token_hash(&token)),
            kind: Set(kind.as_str().to_owned()),
            subject_id: Set(subject_id),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(now + policy.absolute),
            authenticated_at: Set(now),
        }
        .insert(&self.db)
        .await
        .map_err(db_err)?;
        Ok(token)
    }

    /// Resolves a cookie token. Expired (idle or absolute) sessions are deleted and
    /// reported as `SESSION_EXPIRED`; unknown tokens as `UNAUTHENTICATED`.
    pub async fn touch_session(&self, token: &str, kind: SessionKind, policy: SessionPolicy, now: DateTime<Utc>) -> Result<SessionInfo, DomainError> {
        let h = token_hash(token);
        let Some(row) = session::Entity::find_by_id(h.clone()).one(&self.db).await.map_err(db_err)? else {
            return Err(DomainError::new(ErrorCode::Unauthenticated, "unknown session"));
        };
        if row.kind != kind.as_str() {
            return Err(DomainError::new(ErrorCode::Unauthenticated, "session of another kind"));
        }
        if now >= row.expires_at || now - row.last_seen_at >= policy.idle {
            session::Entity::delete_by_id(h).exec(&self.db).await.map_err(db_err)?;
            return Err(DomainError::new(ErrorCode::SessionExpired, "idle or absolute timeout"));
        }
        let info = SessionInfo { kind, subject_id: row.subject_id, authenticated_at: row.authenticated_at };
        // Write the activity stamp at most once a minute: reads stay reads.
        if now - row.last_seen_at >= Duration::seconds(60) {
            let mut am: session::ActiveModel = row.into();
            am.last_seen_at = Set(micros(now));
            am.update(&self.db).await.map_err(db_err)?;
        }
        Ok(info)
    }

    pub async fn delete_session(&self, token: &str) -> Result<(), DomainError> {
        session::Entity::delete_by_id(token_hash(token)).exec(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    pub async fn delete_sessions_of(&self, kind: SessionKind, subject_id: i64) -> Result<u64, DomainError> {
        Ok(session::Entity::delete_many()
            .filter(session::Column::Kind.eq(kind.as_str()))
            .filter(session::Column::SubjectId.eq(subject_id))
            .exec(&self.db)
            .await
            .map_err(db_err)?
            .rows_affected)
    }

    /// Removes sessions past their absolute end or idle for longer than the longest
    /// idle timeout. Returns how many went.
    pub async fn purge_sessions(&self, now: DateTime<Utc>, max_idle: Duration) -> Result<u64, DomainError> {
        Ok(session::Entity::delete_many()
            .filter(Condition::any().add(session::Column::ExpiresAt.lte(now)).add(session::Column::LastSeenAt.lte(now - max_idle)))
            .exec(&self.db)
            .await
            .map_err(db_err)?
            .rows_affected)
    }
}
