//! The patient journey's events, written with the change that made them true.
use crate::entity::journey_event;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::DomainError;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

pub use journey_event::Model as JourneyEvent;

impl Store {
    /// Records an event in the caller's transaction; a second write with the same
    /// `dedupe_key` is a no-op (returns `false`). On PostgreSQL a unique violation aborts
    /// the transaction, so the key is checked first; the unique index still guards a race.
    pub async fn record_event<C: ConnectionTrait>(
        &self,
        conn: &C,
        kind: &str,
        dedupe_key: &str,
        patient_id: Option<i64>,
        payload: &serde_json::Value,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let seen = journey_event::Entity::find().filter(journey_event::Column::DedupeKey.eq(dedupe_key)).one(conn).await.map_err(db_err)?;
        if seen.is_some() {
            return Ok(false);
        }
        let m = journey_event::ActiveModel {
            kind: Set(kind.into()),
            dedupe_key: Set(dedupe_key.into()),
            patient_id: Set(patient_id),
            payload: Set(payload.to_string()),
            created_at: Set(micros(now)),
            delivered_at: Set(None),
            ..Default::default()
        };
        match m.insert(conn).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// A patient's events, oldest first (tests; the message platform's own queries come
    /// with it).
    pub async fn events_of(&self, patient_id: i64) -> Result<Vec<JourneyEvent>, DomainError> {
        journey_event::Entity::find()
            .filter(journey_event::Column::PatientId.eq(patient_id))
            .order_by_asc(journey_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }
}
