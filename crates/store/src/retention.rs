//! Deleting and anonymising by age (S14): each class of kept data has one method here,
//! called by the nightly retention job with its cut-off. Each works in bounded batches
//! so a first run over years of data does not hold a long write lock.
use crate::entity::{channel_event, idempotency_key, message, open_api_nonce, open_api_request, outbox};
use crate::{Store, db_err, micros};
use chrono::{DateTime, Utc};
use domain::DomainError;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};

/// What a message's texts become once its retention period is over.
pub const PURGED_BODY: &str = "本消息内容已超过保存期限，已按规定删除。";
const BATCH: u64 = 500;

impl Store {
    /// Raw bank and centre notifications received before `cutoff` (the ledger keeps what
    /// they proved).
    pub async fn purge_channel_events(&self, cutoff: DateTime<Utc>) -> Result<u64, DomainError> {
        let res = channel_event::Entity::delete_many().filter(channel_event::Column::ReceivedAt.lt(micros(cutoff))).exec(&self.db).await.map_err(db_err)?;
        Ok(res.rows_affected)
    }

    /// Stored API answers (idempotency and the open interface's) made before `cutoff`:
    /// a retry after that is a new request.
    pub async fn purge_stored_answers(&self, cutoff: DateTime<Utc>) -> Result<u64, DomainError> {
        let a = idempotency_key::Entity::delete_many().filter(idempotency_key::Column::CreatedAt.lt(micros(cutoff))).exec(&self.db).await.map_err(db_err)?;
        let b = open_api_request::Entity::delete_many().filter(open_api_request::Column::CreatedAt.lt(micros(cutoff))).exec(&self.db).await.map_err(db_err)?;
        let c = open_api_nonce::Entity::delete_many().filter(open_api_nonce::Column::At.lt(micros(cutoff))).exec(&self.db).await.map_err(db_err)?;
        Ok(a.rows_affected + b.rows_affected + c.rows_affected)
    }

    /// Jobs finished (done) before `cutoff`; dead letters stay until a person clears them.
    pub async fn purge_finished_jobs(&self, cutoff: DateTime<Utc>) -> Result<u64, DomainError> {
        let res = outbox::Entity::delete_many()
            .filter(outbox::Column::State.eq("done"))
            .filter(outbox::Column::FinishedAt.lt(micros(cutoff)))
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        Ok(res.rows_affected)
    }

    /// Replaces the texts and variables of messages created before `cutoff` (what they
    /// said about the patient's care) and keeps the row: scene, status, channel and
    /// times still count in the statistics. Returns how many were anonymised.
    pub async fn anonymise_messages(&self, cutoff: DateTime<Utc>, now: DateTime<Utc>) -> Result<u64, DomainError> {
        let mut total = 0;
        loop {
            let ids: Vec<i64> = message::Entity::find()
                .select_only()
                .column(message::Column::Id)
                .filter(message::Column::CreatedAt.lt(micros(cutoff)))
                .filter(message::Column::ContentPurgedAt.is_null())
                .limit(BATCH)
                .into_tuple()
                .all(&self.db)
                .await
                .map_err(db_err)?;
            if ids.is_empty() {
                return Ok(total);
            }
            let c = &self.keys.cipher;
            let res = message::Entity::update_many()
                .col_expr(message::Column::Variables, Expr::value(c.seal(super::messages::COL_VARIABLES, "{}")))
                .col_expr(message::Column::Body, Expr::value(c.seal(super::messages::COL_BODY, PURGED_BODY)))
                .col_expr(message::Column::LastError, Expr::value(Option::<String>::None))
                .col_expr(message::Column::ContentPurgedAt, Expr::value(micros(now)))
                .filter(message::Column::Id.is_in(ids))
                .exec(&self.db)
                .await
                .map_err(db_err)?;
            total += res.rows_affected;
        }
    }
}
