//! The message platform's rows: messages and their delivery tries, templates, patients'
//! muted categories, staff tasks, what to bring per department, and the open interface's
//! clients, nonces and requests.
use crate::entity::{
    dept_visit_note, journey_event, message, message_delivery, message_preference, message_template, open_api_client, open_api_nonce, open_api_request,
    staff_task,
};
use crate::{Store, db_err, is_unique_violation, micros};
use chrono::{DateTime, Utc};
use domain::{DomainError, ErrorCode};
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, Set};

pub use domain::messages::{CountRow, MessageQuery};
pub use message::Model as MessageRow;
pub use message_delivery::Model as DeliveryRow;
pub use message_template::Model as TemplateRow;
pub use staff_task::Model as TaskRow;

/// A message about to be written.
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub message_no: String,
    pub dedupe_key: String,
    pub event_id: Option<i64>,
    pub scene: String,
    pub criticality: String,
    pub category: String,
    pub account_id: Option<i64>,
    pub patient_id: Option<i64>,
    pub variables: serde_json::Value,
    pub title: String,
    pub body: String,
    pub link: String,
    pub status: String,
    pub plan: String,
    pub source: String,
    pub expires_at: DateTime<Utc>,
    pub ack_deadline: Option<DateTime<Utc>>,
}

/// What a delivery step changes on a message (only the fields given).
#[derive(Clone, Debug, Default)]
pub struct MessageProgress {
    pub status: Option<String>,
    pub step: Option<i32>,
    pub channel_attempts: Option<i32>,
    pub channel_started_at: Option<Option<DateTime<Utc>>>,
    pub last_code: Option<String>,
    pub last_error: Option<String>,
    pub sent_channel: Option<String>,
    pub provider_msg_id: Option<String>,
    pub escalated_at: Option<DateTime<Utc>>,
}

/// A task for staff about to be opened.
#[derive(Clone, Copy, Debug)]
pub struct NewTask<'a> {
    pub kind: &'a str,
    pub message_id: Option<i64>,
    pub dept: &'a str,
    pub title: &'a str,
    pub detail: &'a str,
    /// One task per cause.
    pub dedupe_key: &'a str,
}

impl Store {
    /// Writes a message unless one with its dedupe key exists (M1). Returns its id, or
    /// `None` for a duplicate. The key is checked first because on PostgreSQL a unique
    /// violation aborts the transaction; the unique index still guards a race.
    pub async fn insert_message<C: ConnectionTrait>(&self, conn: &C, m: NewMessage, now: DateTime<Utc>) -> Result<Option<i64>, DomainError> {
        let seen = message::Entity::find().filter(message::Column::DedupeKey.eq(&m.dedupe_key)).one(conn).await.map_err(db_err)?;
        if seen.is_some() {
            return Ok(None);
        }
        let row = message::ActiveModel {
            message_no: Set(m.message_no),
            dedupe_key: Set(m.dedupe_key),
            event_id: Set(m.event_id),
            scene: Set(m.scene),
            criticality: Set(m.criticality),
            category: Set(m.category),
            account_id: Set(m.account_id),
            patient_id: Set(m.patient_id),
            variables: Set(self.keys.cipher.seal(COL_VARIABLES, &m.variables.to_string())),
            title: Set(self.keys.cipher.seal(COL_TITLE, &m.title)),
            body: Set(self.keys.cipher.seal(COL_BODY, &m.body)),
            link: Set(m.link),
            status: Set(m.status),
            plan: Set(m.plan),
            step: Set(0),
            channel_attempts: Set(0),
            channel_started_at: Set(None),
            last_code: Set(None),
            last_error: Set(None),
            sent_channel: Set(None),
            provider_msg_id: Set(None),
            source: Set(m.source),
            expires_at: Set(micros(m.expires_at)),
            read_at: Set(None),
            ack_deadline: Set(m.ack_deadline.map(micros)),
            acked_at: Set(None),
            escalated_at: Set(None),
            version: Set(0),
            created_at: Set(micros(now)),
            updated_at: Set(micros(now)),
            ..Default::default()
        };
        match row.insert(conn).await {
            Ok(r) => Ok(Some(r.id)),
            Err(e) if is_unique_violation(&e) => Ok(None),
            Err(e) => Err(db_err(e)),
        }
    }

    /// A message as read: its texts and variables unsealed.
    fn open_message(&self, mut m: MessageRow) -> Result<MessageRow, DomainError> {
        let c = &self.keys.cipher;
        let open = |col: &str, v: &str| c.open(col, v).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal {col}: {e}")));
        m.variables = open(COL_VARIABLES, &m.variables)?;
        m.title = open(COL_TITLE, &m.title)?;
        m.body = open(COL_BODY, &m.body)?;
        Ok(m)
    }

    fn open_messages(&self, rows: Vec<MessageRow>) -> Result<Vec<MessageRow>, DomainError> {
        rows.into_iter().map(|m| self.open_message(m)).collect()
    }

    /// The numbers of several messages at once (a task list); ids not found are absent.
    pub async fn message_nos(&self, ids: &[i64]) -> Result<std::collections::HashMap<i64, String>, DomainError> {
        if ids.is_empty() {
            return Ok(Default::default());
        }
        let rows: Vec<(i64, String)> = message::Entity::find()
            .select_only()
            .column(message::Column::Id)
            .column(message::Column::MessageNo)
            .filter(message::Column::Id.is_in(ids.iter().copied()))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().collect())
    }

    pub async fn message(&self, id: i64) -> Result<MessageRow, DomainError> {
        let m = message::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| DomainError::new(ErrorCode::NotFound, format!("message {id}")))?;
        self.open_message(m)
    }

    pub async fn message_by_no(&self, no: &str) -> Result<Option<MessageRow>, DomainError> {
        message::Entity::find().filter(message::Column::MessageNo.eq(no)).one(&self.db).await.map_err(db_err)?.map(|m| self.open_message(m)).transpose()
    }

    pub async fn messages_of_event(&self, event_id: i64) -> Result<Vec<MessageRow>, DomainError> {
        self.open_messages(
            message::Entity::find().filter(message::Column::EventId.eq(event_id)).order_by_asc(message::Column::Id).all(&self.db).await.map_err(db_err)?,
        )
    }

    /// Moves a message on, if nobody else did since it was read at `version` (two
    /// deliveries of one message never both proceed). Returns whether it applied.
    pub async fn progress_message<C: ConnectionTrait>(
        &self,
        conn: &C,
        id: i64,
        version: i32,
        p: MessageProgress,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let mut q = message::Entity::update_many()
            .col_expr(message::Column::Version, Expr::col(message::Column::Version).add(1))
            .col_expr(message::Column::UpdatedAt, Expr::value(micros(now)));
        if let Some(v) = p.status {
            q = q.col_expr(message::Column::Status, Expr::value(v));
        }
        if let Some(v) = p.step {
            q = q.col_expr(message::Column::Step, Expr::value(v));
        }
        if let Some(v) = p.channel_attempts {
            q = q.col_expr(message::Column::ChannelAttempts, Expr::value(v));
        }
        if let Some(v) = p.channel_started_at {
            q = q.col_expr(message::Column::ChannelStartedAt, Expr::value(v.map(micros)));
        }
        if let Some(v) = p.last_code {
            q = q.col_expr(message::Column::LastCode, Expr::value(v));
        }
        if let Some(v) = p.last_error {
            q = q.col_expr(message::Column::LastError, Expr::value(v));
        }
        if let Some(v) = p.sent_channel {
            q = q.col_expr(message::Column::SentChannel, Expr::value(v));
        }
        if let Some(v) = p.provider_msg_id {
            q = q.col_expr(message::Column::ProviderMsgId, Expr::value(v));
        }
        if let Some(v) = p.escalated_at {
            q = q.col_expr(message::Column::EscalatedAt, Expr::value(micros(v)));
        }
        let r = q.filter(message::Column::Id.eq(id)).filter(message::Column::Version.eq(version)).exec(conn).await.map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    /// Records one try on one channel.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_delivery<C: ConnectionTrait>(
        &self,
        conn: &C,
        message_id: i64,
        channel: &str,
        attempt: i32,
        outcome: &str,
        code: &str,
        detail: &str,
        provider_msg_id: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), DomainError> {
        message_delivery::ActiveModel {
            message_id: Set(message_id),
            channel: Set(channel.into()),
            attempt: Set(attempt),
            outcome: Set(outcome.into()),
            code: Set(code.into()),
            detail: Set(detail.chars().take(500).collect()),
            provider_msg_id: Set(provider_msg_id.map(str::to_owned)),
            at: Set(micros(now)),
            ..Default::default()
        }
        .insert(conn)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    /// The deliveries of several messages in one query, oldest first.
    pub async fn deliveries_of(&self, message_ids: &[i64]) -> Result<Vec<DeliveryRow>, DomainError> {
        if message_ids.is_empty() {
            return Ok(Vec::new());
        }
        message_delivery::Entity::find()
            .filter(message_delivery::Column::MessageId.is_in(message_ids.iter().copied()))
            .order_by_asc(message_delivery::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    pub async fn deliveries(&self, message_id: i64) -> Result<Vec<DeliveryRow>, DomainError> {
        message_delivery::Entity::find()
            .filter(message_delivery::Column::MessageId.eq(message_id))
            .order_by_asc(message_delivery::Column::Id)
            .all(&self.db)
            .await
            .map_err(db_err)
    }

    /// An account's inbox, newest first; stale notices (suppressed) are left out.
    pub async fn inbox(&self, account_id: i64, before_id: Option<i64>, limit: u64) -> Result<Vec<MessageRow>, DomainError> {
        let mut q = message::Entity::find().filter(message::Column::AccountId.eq(account_id)).filter(message::Column::Status.ne("suppressed"));
        if let Some(b) = before_id {
            q = q.filter(message::Column::Id.lt(b));
        }
        self.open_messages(q.order_by_desc(message::Column::Id).limit(limit).all(&self.db).await.map_err(db_err)?)
    }

    /// Critical values the account has not acknowledged yet, newest first.
    pub async fn unacknowledged_critical(&self, account_id: i64) -> Result<Vec<MessageRow>, DomainError> {
        let q = message::Entity::find()
            .filter(message::Column::AccountId.eq(account_id))
            .filter(message::Column::Status.ne("suppressed"))
            .filter(message::Column::AckDeadline.is_not_null())
            .filter(message::Column::AckedAt.is_null());
        self.open_messages(q.order_by_desc(message::Column::Id).limit(20).all(&self.db).await.map_err(db_err)?)
    }

    pub async fn unread_count(&self, account_id: i64) -> Result<u64, DomainError> {
        message::Entity::find()
            .filter(message::Column::AccountId.eq(account_id))
            .filter(message::Column::Status.ne("suppressed"))
            .filter(message::Column::ReadAt.is_null())
            .count(&self.db)
            .await
            .map_err(db_err)
    }

    /// Marks a message read (and acknowledged, if asked) by its recipient. Returns the
    /// row as it is now, or `None` if it is not theirs.
    pub async fn mark_message(&self, account_id: i64, no: &str, ack: bool, now: DateTime<Utc>) -> Result<Option<MessageRow>, DomainError> {
        let Some(m) = self.message_by_no(no).await? else { return Ok(None) };
        if m.account_id != Some(account_id) {
            return Ok(None);
        }
        message::Entity::update_many()
            .col_expr(message::Column::ReadAt, Expr::value(micros(now)))
            .filter(message::Column::Id.eq(m.id))
            .filter(message::Column::ReadAt.is_null())
            .exec(&self.db)
            .await
            .map_err(db_err)?;
        if ack {
            message::Entity::update_many()
                .col_expr(message::Column::AckedAt, Expr::value(micros(now)))
                .filter(message::Column::Id.eq(m.id))
                .filter(message::Column::AckedAt.is_null())
                .exec(&self.db)
                .await
                .map_err(db_err)?;
        }
        self.message_by_no(no).await
    }

    /// The console's message log, newest first.
    pub async fn search_messages(&self, f: &MessageQuery) -> Result<Vec<MessageRow>, DomainError> {
        let mut q = message::Entity::find();
        if let Some(s) = &f.status {
            q = q.filter(message::Column::Status.eq(s));
        }
        if let Some(s) = &f.scene {
            q = q.filter(message::Column::Scene.eq(s));
        }
        if let Some(p) = f.patient_id {
            q = q.filter(message::Column::PatientId.eq(p));
        }
        if let Some(t) = f.from {
            q = q.filter(message::Column::CreatedAt.gte(micros(t)));
        }
        if let Some(t) = f.to {
            q = q.filter(message::Column::CreatedAt.lt(micros(t)));
        }
        self.open_messages(q.order_by_desc(message::Column::Id).limit(f.limit.clamp(1, 500)).all(&self.db).await.map_err(db_err)?)
    }

    pub async fn count_messages_by_status(&self, status: &str) -> Result<u64, DomainError> {
        message::Entity::find().filter(message::Column::Status.eq(status)).count(&self.db).await.map_err(db_err)
    }

    /// The few columns the daily counts are made of, for messages created in [from, to).
    pub async fn message_counts_between(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CountRow>, DomainError> {
        let rows: Vec<(DateTime<Utc>, String, String, Option<String>)> = message::Entity::find()
            .select_only()
            .column(message::Column::CreatedAt)
            .column(message::Column::Scene)
            .column(message::Column::Status)
            .column(message::Column::SentChannel)
            .filter(message::Column::CreatedAt.gte(micros(from)))
            .filter(message::Column::CreatedAt.lt(micros(to)))
            .into_tuple()
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(|(created_at, scene, status, sent_channel)| CountRow { created_at, scene, status, sent_channel }).collect())
    }

    /// Puts a dead-lettered message back at the start of its plan (the console's retry).
    pub async fn restart_message<C: ConnectionTrait>(&self, conn: &C, id: i64, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let r = message::Entity::update_many()
            .col_expr(message::Column::Status, Expr::value("queued"))
            .col_expr(message::Column::Step, Expr::value(0))
            .col_expr(message::Column::ChannelAttempts, Expr::value(0))
            .col_expr(message::Column::ChannelStartedAt, Expr::value(Option::<DateTime<Utc>>::None))
            .col_expr(message::Column::Version, Expr::col(message::Column::Version).add(1))
            .col_expr(message::Column::UpdatedAt, Expr::value(micros(now)))
            .filter(message::Column::Id.eq(id))
            .filter(message::Column::Status.is_in(["failed", "unknown", "expired"]))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    // --- events -----------------------------------------------------------------------

    pub async fn event(&self, id: i64) -> Result<Option<crate::journey::JourneyEvent>, DomainError> {
        journey_event::Entity::find_by_id(id).one(&self.db).await.map_err(db_err)?.map(|e| self.open_event(e)).transpose()
    }

    /// Events not yet turned into messages (oldest first), for the start-up sweep.
    pub async fn undispatched_events(&self, limit: u64) -> Result<Vec<i64>, DomainError> {
        Ok(journey_event::Entity::find()
            .filter(journey_event::Column::DeliveredAt.is_null())
            .order_by_asc(journey_event::Column::Id)
            .limit(limit)
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|e| e.id)
            .collect())
    }

    /// The patient an event is about (without unsealing its payload).
    pub async fn event_patient(&self, id: i64) -> Result<Option<i64>, DomainError> {
        let p: Option<Option<i64>> =
            journey_event::Entity::find_by_id(id).select_only().column(journey_event::Column::PatientId).into_tuple().one(&self.db).await.map_err(db_err)?;
        Ok(p.flatten())
    }

    pub async fn mark_event_dispatched<C: ConnectionTrait>(&self, conn: &C, id: i64, now: DateTime<Utc>) -> Result<(), DomainError> {
        journey_event::Entity::update_many()
            .col_expr(journey_event::Column::DeliveredAt, Expr::value(micros(now)))
            .filter(journey_event::Column::Id.eq(id))
            .filter(journey_event::Column::DeliveredAt.is_null())
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(())
    }

    /// A patient's events of the given kinds written after event `after_id` (M7: has the
    /// subject moved on?).
    pub async fn later_events(&self, patient_id: i64, after_id: i64, kinds: &[&str]) -> Result<Vec<crate::journey::JourneyEvent>, DomainError> {
        if kinds.is_empty() {
            return Ok(vec![]);
        }
        journey_event::Entity::find()
            .filter(journey_event::Column::PatientId.eq(patient_id))
            .filter(journey_event::Column::Id.gt(after_id))
            .filter(journey_event::Column::Kind.is_in(kinds.iter().copied()))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|e| self.open_event(e))
            .collect()
    }

    // --- templates ----------------------------------------------------------------------

    pub async fn templates(&self) -> Result<Vec<TemplateRow>, DomainError> {
        message_template::Entity::find().order_by_asc(message_template::Column::Scene).all(&self.db).await.map_err(db_err)
    }

    pub async fn template(&self, scene: &str, channel: &str) -> Result<Option<TemplateRow>, DomainError> {
        message_template::Entity::find()
            .filter(message_template::Column::Scene.eq(scene))
            .filter(message_template::Column::Channel.eq(channel))
            .one(&self.db)
            .await
            .map_err(db_err)
    }

    /// Saves a staff-edited template (a new version if one exists).
    #[allow(clippy::too_many_arguments)]
    pub async fn put_template<C: ConnectionTrait>(
        &self,
        conn: &C,
        scene: &str,
        channel: &str,
        provider_template_id: &str,
        title: &str,
        body: &str,
        by: &str,
        now: DateTime<Utc>,
    ) -> Result<i32, DomainError> {
        let existing = message_template::Entity::find()
            .filter(message_template::Column::Scene.eq(scene))
            .filter(message_template::Column::Channel.eq(channel))
            .one(conn)
            .await
            .map_err(db_err)?;
        let version = existing.as_ref().map_or(1, |e| e.version + 1);
        let mut m: message_template::ActiveModel = match existing {
            Some(e) => e.into(),
            None => message_template::ActiveModel { scene: Set(scene.into()), channel: Set(channel.into()), ..Default::default() },
        };
        m.provider_template_id = Set(provider_template_id.into());
        m.title = Set(title.into());
        m.body = Set(body.into());
        m.version = Set(version);
        m.updated_by = Set(by.into());
        m.updated_at = Set(micros(now));
        m.save(conn).await.map_err(db_err)?;
        Ok(version)
    }

    // --- preferences --------------------------------------------------------------------

    /// The categories an account muted.
    pub async fn muted_categories(&self, account_id: i64) -> Result<Vec<String>, DomainError> {
        let rows = message_preference::Entity::find()
            .filter(message_preference::Column::AccountId.eq(account_id))
            .filter(message_preference::Column::Muted.eq(true))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        Ok(rows.into_iter().map(|r| r.category).collect())
    }

    pub async fn set_muted(&self, account_id: i64, category: &str, muted: bool, now: DateTime<Utc>) -> Result<(), DomainError> {
        let existing = message_preference::Entity::find()
            .filter(message_preference::Column::AccountId.eq(account_id))
            .filter(message_preference::Column::Category.eq(category))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        let mut m: message_preference::ActiveModel = match existing {
            Some(e) => e.into(),
            None => message_preference::ActiveModel { account_id: Set(account_id), category: Set(category.into()), ..Default::default() },
        };
        m.muted = Set(muted);
        m.updated_at = Set(micros(now));
        m.save(&self.db).await.map_err(db_err)?;
        Ok(())
    }

    // --- staff tasks --------------------------------------------------------------------

    /// Opens a task once per `dedupe_key`; returns whether it is new.
    pub async fn open_task<C: ConnectionTrait>(&self, conn: &C, t: NewTask<'_>, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let NewTask { kind, message_id, dept, title, detail, dedupe_key } = t;
        let seen = staff_task::Entity::find().filter(staff_task::Column::DedupeKey.eq(dedupe_key)).one(conn).await.map_err(db_err)?;
        if seen.is_some() {
            return Ok(false);
        }
        let m = staff_task::ActiveModel {
            kind: Set(kind.into()),
            message_id: Set(message_id),
            dept: Set(dept.into()),
            title: Set(title.into()),
            detail: Set(detail.into()),
            status: Set("open".into()),
            dedupe_key: Set(dedupe_key.into()),
            created_at: Set(micros(now)),
            done_at: Set(None),
            done_by: Set(None),
            note: Set(None),
            ..Default::default()
        };
        match m.insert(conn).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    pub async fn tasks(&self, open_only: bool, limit: u64) -> Result<Vec<TaskRow>, DomainError> {
        let mut q = staff_task::Entity::find();
        if open_only {
            q = q.filter(staff_task::Column::Status.eq("open"));
        }
        q.order_by_desc(staff_task::Column::Id).limit(limit).all(&self.db).await.map_err(db_err)
    }

    pub async fn tasks_of_message(&self, message_id: i64) -> Result<Vec<TaskRow>, DomainError> {
        staff_task::Entity::find().filter(staff_task::Column::MessageId.eq(message_id)).all(&self.db).await.map_err(db_err)
    }

    pub async fn close_task<C: ConnectionTrait>(&self, conn: &C, id: i64, by: &str, note: &str, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let r = staff_task::Entity::update_many()
            .col_expr(staff_task::Column::Status, Expr::value("done"))
            .col_expr(staff_task::Column::DoneAt, Expr::value(micros(now)))
            .col_expr(staff_task::Column::DoneBy, Expr::value(by))
            .col_expr(staff_task::Column::Note, Expr::value(note))
            .filter(staff_task::Column::Id.eq(id))
            .filter(staff_task::Column::Status.eq("open"))
            .exec(conn)
            .await
            .map_err(db_err)?;
        Ok(r.rows_affected == 1)
    }

    // --- what to bring ------------------------------------------------------------------

    pub async fn visit_notes(&self) -> Result<Vec<dept_visit_note::Model>, DomainError> {
        dept_visit_note::Entity::find().order_by_asc(dept_visit_note::Column::DeptId).all(&self.db).await.map_err(db_err)
    }

    pub async fn visit_note(&self, dept_id: &str) -> Result<Option<String>, DomainError> {
        Ok(dept_visit_note::Entity::find().filter(dept_visit_note::Column::DeptId.eq(dept_id)).one(&self.db).await.map_err(db_err)?.map(|r| r.bring))
    }

    pub async fn put_visit_note<C: ConnectionTrait>(&self, conn: &C, dept_id: &str, bring: &str, by: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let existing = dept_visit_note::Entity::find().filter(dept_visit_note::Column::DeptId.eq(dept_id)).one(conn).await.map_err(db_err)?;
        let mut m: dept_visit_note::ActiveModel = match existing {
            Some(e) => e.into(),
            None => dept_visit_note::ActiveModel { dept_id: Set(dept_id.into()), ..Default::default() },
        };
        m.bring = Set(bring.into());
        m.updated_by = Set(by.into());
        m.updated_at = Set(micros(now));
        m.save(conn).await.map_err(db_err)?;
        Ok(())
    }

    // --- the open interface (MSG-3) -------------------------------------------------------

    pub async fn event_by_key(&self, dedupe_key: &str) -> Result<Option<crate::journey::JourneyEvent>, DomainError> {
        journey_event::Entity::find()
            .filter(journey_event::Column::DedupeKey.eq(dedupe_key))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|e| self.open_event(e))
            .transpose()
    }

    /// Registers a client; its secret is sealed with the field cipher.
    pub async fn add_open_api_client(&self, key_id: &str, name: &str, secret: &str, now: DateTime<Utc>) -> Result<(), DomainError> {
        let sealed = self.keys.cipher.seal(COL_SECRET, secret);
        open_api_client::ActiveModel {
            key_id: Set(key_id.into()),
            name: Set(name.into()),
            secret_enc: Set(sealed),
            enabled: Set(true),
            created_at: Set(micros(now)),
            ..Default::default()
        }
        .insert(&self.db)
        .await
        .map_err(db_err)?;
        Ok(())
    }

    pub async fn open_api_clients(&self) -> Result<Vec<open_api_client::Model>, DomainError> {
        open_api_client::Entity::find().order_by_asc(open_api_client::Column::Id).all(&self.db).await.map_err(db_err)
    }

    /// An enabled client's name and secret.
    pub async fn open_api_secret(&self, key_id: &str) -> Result<Option<(String, String)>, DomainError> {
        let Some(c) = open_api_client::Entity::find()
            .filter(open_api_client::Column::KeyId.eq(key_id))
            .filter(open_api_client::Column::Enabled.eq(true))
            .one(&self.db)
            .await
            .map_err(db_err)?
        else {
            return Ok(None);
        };
        let secret = self.keys.cipher.open(COL_SECRET, &c.secret_enc).map_err(|e| DomainError::new(ErrorCode::Internal, format!("unseal: {e}")))?;
        Ok(Some((c.name, secret)))
    }

    /// Spends a nonce; `false` if it was used before (a replay). Nonces older than the
    /// accepted clock skew are forgotten: a request that old is refused by its timestamp.
    pub async fn use_nonce(&self, key_id: &str, nonce: &str, now: DateTime<Utc>, keep: chrono::Duration) -> Result<bool, DomainError> {
        open_api_nonce::Entity::delete_many().filter(open_api_nonce::Column::At.lt(micros(now - keep))).exec(&self.db).await.map_err(db_err)?;
        let seen = open_api_nonce::Entity::find()
            .filter(open_api_nonce::Column::KeyId.eq(key_id))
            .filter(open_api_nonce::Column::Nonce.eq(nonce))
            .one(&self.db)
            .await
            .map_err(db_err)?;
        if seen.is_some() {
            return Ok(false);
        }
        let m = open_api_nonce::ActiveModel { key_id: Set(key_id.into()), nonce: Set(nonce.into()), at: Set(micros(now)), ..Default::default() };
        match m.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }

    /// A request seen before under this idempotency key: its fingerprint and answer.
    pub async fn open_request(&self, key_id: &str, idempotency_key: &str) -> Result<Option<(String, String)>, DomainError> {
        Ok(open_api_request::Entity::find()
            .filter(open_api_request::Column::KeyId.eq(key_id))
            .filter(open_api_request::Column::IdempotencyKey.eq(idempotency_key))
            .one(&self.db)
            .await
            .map_err(db_err)?
            .map(|r| (r.request_hash, r.answer)))
    }

    /// Keeps a request's answer; `false` if another request with the key got there first.
    pub async fn put_open_request(&self, key_id: &str, idempotency_key: &str, hash: &str, answer: &str, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let m = open_api_request::ActiveModel {
            key_id: Set(key_id.into()),
            idempotency_key: Set(idempotency_key.into()),
            request_hash: Set(hash.into()),
            answer: Set(answer.into()),
            created_at: Set(micros(now)),
            ..Default::default()
        };
        match m.insert(&self.db).await {
            Ok(_) => Ok(true),
            Err(e) if is_unique_violation(&e) => Ok(false),
            Err(e) => Err(db_err(e)),
        }
    }
}

/// The column the client secrets are sealed under (bound in as AAD).
const COL_SECRET: &str = "open_api_client.secret_enc";
/// A message's texts and variables hold health information (a report, a critical
/// value, a ward): sealed at rest, each under its column name.
pub(crate) const COL_VARIABLES: &str = "message.variables";
const COL_TITLE: &str = "message.title";
pub(crate) const COL_BODY: &str = "message.body";
