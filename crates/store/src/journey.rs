//! The patient journey's events, written with the change that made them true.
use crate::entity::journey_event;
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::DomainError;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set};

pub use journey_event::Model as JourneyEvent;

/// The job that turns a recorded event into its messages (the message platform's
/// entry). Enqueued with the event, in the same transaction, so an event is never
/// recorded without being delivered.
pub use domain::messages::NOTIFY_DISPATCH;

/// Events carry health information (a report's name, a critical value, a ward): the
/// payload is sealed at rest under this column name.
const COL_PAYLOAD: &str = "journey_event.payload";

impl Store {
    /// Records an event in the caller's transaction, with the job that will deliver it;
    /// a second write with the same `dedupe_key` is a no-op (returns `false`). Call it
    /// inside a transaction: the event and its job belong together. On PostgreSQL a unique violation aborts
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
            payload: Set(self.keys.cipher.seal(COL_PAYLOAD, &payload.to_string())),
            created_at: Set(micros(now)),
            delivered_at: Set(None),
            ..Default::default()
        };
        let id = match m.insert(conn).await {
            Ok(r) => r.id,
            Err(e) if is_unique_violation(&e) => return Ok(false),
            Err(e) => return Err(db_err(e)),
        };
        let job = crate::outbox::NewJob::new(NOTIFY_DISPATCH, serde_json::json!({"event_id": id}), now).dedupe(format!("{NOTIFY_DISPATCH}:{id}"));
        self.enqueue(conn, job, now).await?;
        Ok(true)
    }

    /// A patient's events, oldest first.
    pub async fn events_of(&self, patient_id: i64) -> Result<Vec<JourneyEvent>, DomainError> {
        let rows = journey_event::Entity::find()
            .filter(journey_event::Column::PatientId.eq(patient_id))
            .order_by_asc(journey_event::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        rows.into_iter().map(|e| self.open_event(e)).collect()
    }

    /// An event as read, its payload unsealed. Rows written before payloads were sealed
    /// hold plain JSON and are read as they are.
    pub(crate) fn open_event(&self, mut e: JourneyEvent) -> Result<JourneyEvent, DomainError> {
        if !e.payload.starts_with('{') {
            e.payload = self
                .keys
                .cipher
                .open(COL_PAYLOAD, &e.payload)
                .map_err(|x| DomainError::new(domain::ErrorCode::Internal, format!("unseal event payload: {x}")))?;
        }
        Ok(e)
    }
}
