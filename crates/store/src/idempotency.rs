//! Client idempotency keys (P3): the first request with a key runs and its response is
//! kept; a retry with the same key and the same parameters gets that response back byte
//! for byte; the same key with different parameters is refused. A placeholder row taken
//! before the work runs makes two concurrent first requests run the work once.
use crate::entity::idempotency_key;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::{DomainError, ErrorCode};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};

/// Status of a placeholder: the first request is still running.
const IN_PROGRESS: i32 = 0;

pub use domain::idempotency::Claim;

impl Store {
    pub async fn idempotency_claim(&self, scope: &str, key: &str, request_hash: &str, now: DateTime<Utc>) -> Result<Claim, DomainError> {
        let am = idempotency_key::ActiveModel {
            scope: Set(scope.into()),
            idem_key: Set(key.into()),
            request_hash: Set(request_hash.into()),
            status: Set(IN_PROGRESS),
            response: Set(String::new()),
            created_at: Set(micros(now)),
            ..Default::default()
        };
        match am.insert(&self.db).await {
            Ok(_) => Ok(Claim::Run),
            Err(e) if is_unique_violation(&e) => {
                let m = idempotency_key::Entity::find()
                    .filter(idempotency_key::Column::Scope.eq(scope))
                    .filter(idempotency_key::Column::IdemKey.eq(key))
                    .one(&self.db)
                    .await
                    .map_err(db_err)?
                    .ok_or_else(|| DomainError::new(ErrorCode::Conflict, "idempotency key vanished"))?;
                if m.request_hash != request_hash {
                    return Err(DomainError::new(ErrorCode::IdempotencyKeyReused, "same key, different request"));
                }
                if m.status == IN_PROGRESS {
                    return Err(DomainError::new(ErrorCode::IdempotencyInProgress, "first request still running"));
                }
                Ok(Claim::Replay(m.status as u16, m.response))
            }
            Err(e) => Err(db_err(e)),
        }
    }

    /// Stores the response of a claimed key.
    pub async fn idempotency_finish(&self, scope: &str, key: &str, status: u16, response: &str) -> Result<(), DomainError> {
        idempotency_key::Entity::update_many()
            .col_expr(idempotency_key::Column::Status, sea_orm::sea_query::Expr::value(status as i32))
            .col_expr(idempotency_key::Column::Response, sea_orm::sea_query::Expr::value(response.to_owned()))
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::IdemKey.eq(key))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// Releases a claimed key whose work failed in a way worth retrying (the outcome was
    /// not decided), so the retry runs again.
    pub async fn idempotency_release(&self, scope: &str, key: &str) -> Result<(), DomainError> {
        idempotency_key::Entity::delete_many()
            .filter(idempotency_key::Column::Scope.eq(scope))
            .filter(idempotency_key::Column::IdemKey.eq(key))
            .filter(idempotency_key::Column::Status.eq(IN_PROGRESS))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(())
    }
}
