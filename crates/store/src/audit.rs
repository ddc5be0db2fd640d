//! The audit chain (S10, S11, S19). Each row's hash covers the previous row's hash and
//! the row's own canonical content, so editing, deleting or reordering any row breaks
//! verification from that row on. Appends are serialised: SQLite's write lock on
//! SQLite, an advisory transaction lock on PostgreSQL.
use crate::entity::audit_log;
use crate::{Store, db_err, dialect, micros};
use chrono::{DateTime, Utc};
use domain::DomainError;
use domain::audit::AuditEntry;
pub use domain::audit::ChainVerdict;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// SM3 over `prev_hash` and the row's fields as a JSON array (unambiguous separators).
pub fn chain_hash(prev_hash: &str, at: DateTime<Utc>, e: &AuditEntry) -> String {
    let canonical = serde_json::json!([prev_hash, at.timestamp_micros(), e.actor, e.action, e.subject, e.reason, e.correlation_id]).to_string();
    crypto::sm3::hex_digest(canonical.as_bytes())
}

impl Store {
    /// Appends within the caller's write transaction (see [`Store::write_txn`]), so the
    /// audit row commits or rolls back with the action it records.
    pub async fn append_audit<C: ConnectionTrait>(&self, txn: &C, entry: &AuditEntry, now: DateTime<Utc>) -> Result<i64, DomainError> {
        if let Some(sql) = dialect::audit_chain_lock_sql(self.backend) {
            txn.execute_unprepared(&sql).await.map_err(db_err)?;
        }
        let prev = audit_log::Entity::find()
            .order_by_desc(audit_log::Column::Seq)
            .limit(1)
            .one(txn)
            .await
            .map_err(db_err)?
            .map(|m| m.hash)
            .unwrap_or_else(|| GENESIS.to_owned());
        let at = micros(now);
        let hash = chain_hash(&prev, at, entry);
        let m = audit_log::ActiveModel {
            at: Set(at),
            actor: Set(entry.actor.clone()),
            action: Set(entry.action.clone()),
            subject: Set(entry.subject.clone()),
            reason: Set(entry.reason.clone()),
            correlation_id: Set(entry.correlation_id.clone()),
            prev_hash: Set(prev),
            hash: Set(hash),
            ..Default::default()
        }
        .insert(txn)
        .await
        .map_err(db_err)?;
        Ok(m.seq)
    }

    /// Appends in a transaction of its own.
    pub async fn audit(&self, entry: &AuditEntry, now: DateTime<Utc>) -> Result<i64, DomainError> {
        let txn = self.write_txn().await?;
        let seq = self.append_audit(&txn, entry, now).await?;
        txn.commit().await.map_err(db_err)?;
        Ok(seq)
    }

    /// Walks the whole chain in pages and recomputes every hash.
    /// The chain's last row: (seq, hash), `None` while it is empty.
    pub async fn audit_head(&self) -> Result<Option<(i64, String)>, DomainError> {
        let m = audit_log::Entity::find().order_by_desc(audit_log::Column::Seq).one(&self.db).await.map_err(db_err)?;
        Ok(m.map(|m| (m.seq, m.hash)))
    }

    /// The hash of row `seq`, `None` if there is no such row.
    pub async fn audit_hash_at(&self, seq: i64) -> Result<Option<String>, DomainError> {
        let m = audit_log::Entity::find().filter(audit_log::Column::Seq.eq(seq)).one(&self.db).await.map_err(db_err)?;
        Ok(m.map(|m| m.hash))
    }

    pub async fn verify_audit_chain(&self) -> Result<ChainVerdict, DomainError> {
        let mut prev = GENESIS.to_owned();
        let mut after = 0i64;
        let mut rows = 0u64;
        loop {
            let page = audit_log::Entity::find()
                .filter(audit_log::Column::Seq.gt(after))
                .order_by_asc(audit_log::Column::Seq)
                .limit(1000)
                .all(&self.db)
                .await
                .map_err(db_err)?;
            if page.is_empty() {
                return Ok(ChainVerdict::Intact { rows });
            }
            for m in page {
                if m.prev_hash != prev {
                    return Ok(ChainVerdict::Broken { seq: m.seq, reason: "link to previous row does not match (row removed or reordered)".into() });
                }
                let e = AuditEntry {
                    actor: m.actor.clone(),
                    action: m.action.clone(),
                    subject: m.subject.clone(),
                    reason: m.reason.clone(),
                    correlation_id: m.correlation_id.clone(),
                };
                if chain_hash(&m.prev_hash, m.at, &e) != m.hash {
                    return Ok(ChainVerdict::Broken { seq: m.seq, reason: "content does not match its hash (row edited)".into() });
                }
                prev = m.hash;
                after = m.seq;
                rows += 1;
            }
        }
    }

    /// "Which subjects did actor X touch between A and B?" (S19 breach playbook).
    pub async fn audit_by_actor(&self, actor: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<audit_log::Model>, DomainError> {
        audit_log::Entity::find()
            .filter(audit_log::Column::Actor.eq(actor))
            .filter(audit_log::Column::At.gte(micros(from)))
            .filter(audit_log::Column::At.lt(micros(to)))
            .order_by_asc(audit_log::Column::Seq)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    /// Everything recorded about one subject (an order's story), oldest first.
    pub async fn audit_by_subject(&self, subject: &str) -> Result<Vec<audit_log::Model>, DomainError> {
        audit_log::Entity::find().filter(audit_log::Column::Subject.eq(subject)).order_by_asc(audit_log::Column::Seq).all(&self.db).await.map_err(db_err)
    }

    pub async fn audit_count(&self, action: Option<&str>) -> Result<u64, DomainError> {
        use sea_orm::PaginatorTrait;
        let mut q = audit_log::Entity::find();
        if let Some(a) = action {
            q = q.filter(audit_log::Column::Action.eq(a));
        }
        q.count(&self.db).await.map_err(db_err)
    }
}
