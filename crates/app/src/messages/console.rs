//! The message platform's console (MSG-1, MSG-3): the message log with every try on every
//! channel, dead letters a person can retry, template versions, daily counts, the tasks
//! critical notices hand to wards, what each department's patients should bring, and the
//! open interface's clients.
use super::inbox::MessageView;
use crate::{Actor, App};
use chrono::{DateTime, Utc};
use domain::messages::{Channel, CountRow, MessageQuery};
use domain::{DomainError, ErrorCode};

/// One try of one channel for a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeliveryView {
    pub at: DateTime<Utc>,
    pub channel: String,
    pub attempt: i32,
    pub outcome: String,
    pub code: String,
    pub detail: String,
    pub provider_msg_id: Option<String>,
}

/// A platform job that gave up, for a person to look at and retry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadJobView {
    pub id: i64,
    pub kind: String,
    pub last_error: String,
}

pub struct MessageLog {
    pub messages: Vec<MessageView>,
    pub queued: u64,
    pub failed: u64,
    pub open_tasks: usize,
    /// Dead-lettered message-platform jobs.
    pub dead_jobs: Vec<DeadJobView>,
}

/// A task a critical notice handed to a ward or department.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TaskView {
    pub id: i64,
    pub kind: String,
    pub dept: String,
    pub title: String,
    pub detail: String,
    pub open: bool,
    pub created_at: DateTime<Utc>,
    /// When, by whom and how it was closed.
    pub done: Option<(DateTime<Utc>, String, String)>,
    /// The message the task is about.
    pub message_no: Option<String>,
    /// How each channel tried ended (the last try per channel), in Chinese: the person
    /// calling the patient knows what did not reach them.
    pub channels: Vec<ChannelOutcome>,
}

/// The last word of one channel about one message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChannelOutcome {
    /// 公众号模板消息, 短信 …
    pub channel: String,
    pub delivered: bool,
    /// 已送达, or why not (未登记手机号，HIS中也没有).
    pub reason: String,
}

/// A template a person saved for a scene and channel (scenes without one use the default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TemplateVersion {
    pub scene: String,
    pub channel: String,
    pub version: i32,
}

/// A hospital system allowed to push through the open interface.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenApiClientView {
    pub key_id: String,
    pub name: String,
    pub enabled: bool,
    pub created_at: DateTime<Utc>,
}

/// What a department's patients are told to bring, as staff saved it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VisitNote {
    pub dept_id: String,
    pub bring: String,
}

impl App {
    pub async fn message_log(&self, filter: &MessageQuery) -> Result<MessageLog, DomainError> {
        let messages = self.store.search_messages(filter).await?.into_iter().map(MessageView::from).collect();
        let dead_jobs = self
            .store
            .dead_jobs(50)
            .await?
            .into_iter()
            .filter(|j| j.kind.starts_with("notify."))
            .map(|j| DeadJobView { id: j.id, kind: j.kind, last_error: j.last_error.unwrap_or_default() })
            .collect();
        Ok(MessageLog {
            messages,
            queued: self.store.count_messages_by_status(super::status::QUEUED).await?,
            failed: self.store.count_messages_by_status(super::status::FAILED).await?,
            open_tasks: self.store.tasks(true, 500).await?.len(),
            dead_jobs,
        })
    }

    /// A message's full text, variables and every delivery try. These can hold health
    /// information: opening them is a sensitive read and is audited.
    pub async fn message_detail(&self, message_no: &str, actor: &Actor) -> Result<(MessageView, Vec<DeliveryView>), DomainError> {
        let m = self.store.message_by_no(message_no).await?.ok_or(ErrorCode::NotFound)?;
        self.store.audit(&actor.entry("notify.message.viewed", format!("message:{message_no}"), &m.scene), self.now()).await?;
        let deliveries = self
            .store
            .deliveries(m.id)
            .await?
            .into_iter()
            .map(|d| DeliveryView {
                at: d.at,
                channel: d.channel,
                attempt: d.attempt,
                outcome: d.outcome,
                code: d.code,
                detail: d.detail,
                provider_msg_id: d.provider_msg_id,
            })
            .collect();
        Ok((m.into(), deliveries))
    }

    /// Puts a dead-lettered message-platform job back in the queue (audited). Jobs of
    /// other areas are not this console's: "not found".
    pub async fn requeue_message_job(&self, job_id: i64, actor: &Actor) -> Result<(), DomainError> {
        let job = self.store.job(job_id).await?;
        if !job.kind.starts_with("notify.") {
            return Err(ErrorCode::NotFound.into());
        }
        if self.store.requeue_dead_job(job_id, self.now()).await? {
            self.store.audit(&actor.entry("notify.job.requeued", format!("job:{job_id}"), &job.kind), self.now()).await?;
        }
        Ok(())
    }

    pub async fn template_versions(&self) -> Result<Vec<TemplateVersion>, DomainError> {
        Ok(self.store.templates().await?.into_iter().map(|t| TemplateVersion { scene: t.scene, channel: t.channel, version: t.version }).collect())
    }

    /// The messages created in `[from, to)`, the columns the daily counts need.
    pub async fn message_counts(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> Result<Vec<CountRow>, DomainError> {
        self.store.message_counts_between(from, to).await
    }

    /// The newest tasks, open and closed, each with its message's number.
    pub async fn staff_tasks(&self, limit: u64) -> Result<Vec<TaskView>, DomainError> {
        let tasks = self.store.tasks(false, limit).await?;
        let ids: Vec<i64> = tasks.iter().filter_map(|t| t.message_id).collect();
        let nos = self.store.message_nos(&ids).await?;
        let mut tried: std::collections::HashMap<i64, Vec<ChannelOutcome>> = std::collections::HashMap::new();
        for d in self.store.deliveries_of(&ids).await? {
            let channel = Channel::parse(&d.channel).map_or(d.channel.clone(), |c| c.label_zh().to_owned());
            let outcome = ChannelOutcome { delivered: d.outcome == "sent", reason: domain::messages::delivery_reason_zh(&d.code), channel };
            let list = tried.entry(d.message_id).or_default();
            // Deliveries come oldest first: the last word per channel wins.
            match list.iter_mut().find(|o| o.channel == outcome.channel) {
                Some(entry) => *entry = outcome,
                None => list.push(outcome),
            }
        }
        Ok(tasks
            .into_iter()
            .map(|t| TaskView {
                channels: t.message_id.and_then(|id| tried.get(&id).cloned()).unwrap_or_default(),
                message_no: t.message_id.and_then(|id| nos.get(&id).cloned()),
                open: t.status == "open",
                done: t.done_at.map(|at| (at, t.done_by.unwrap_or_default(), t.note.unwrap_or_default())),
                id: t.id,
                kind: t.kind,
                dept: t.dept,
                title: t.title,
                detail: t.detail,
                created_at: t.created_at,
            })
            .collect())
    }

    pub async fn visit_notes(&self) -> Result<Vec<VisitNote>, DomainError> {
        Ok(self.store.visit_notes().await?.into_iter().map(|n| VisitNote { dept_id: n.dept_id, bring: n.bring }).collect())
    }

    pub async fn open_api_clients(&self) -> Result<Vec<OpenApiClientView>, DomainError> {
        Ok(self
            .store
            .open_api_clients()
            .await?
            .into_iter()
            .map(|c| OpenApiClientView { key_id: c.key_id, name: c.name, enabled: c.enabled, created_at: c.created_at })
            .collect())
    }
}
