//! The patient's message centre (MSG-1) as the use cases hand it out: messages as views,
//! never as stored rows.
use crate::App;
use chrono::{DateTime, Utc};
use domain::DomainError;
use store::messages::MessageRow;

/// A message as people see it: the patient in 消息中心, staff in the message log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageView {
    /// For paging (`before`).
    pub id: i64,
    pub message_no: String,
    pub scene: String,
    pub criticality: String,
    pub title: String,
    pub body: String,
    /// The page the notice opens (a path on this site).
    pub link: String,
    /// The template variables, as JSON text.
    pub variables: String,
    pub status: String,
    /// The channels planned, comma-separated, in order.
    pub plan: String,
    pub sent_channel: Option<String>,
    /// The last channel's answer code (a provider's error code after a failure).
    pub last_code: Option<String>,
    /// Who asked for it: the platform, or an open-interface client.
    pub source: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub read_at: Option<DateTime<Utc>>,
    /// A critical value must be acknowledged by then.
    pub ack_deadline: Option<DateTime<Utc>>,
    pub acked_at: Option<DateTime<Utc>>,
}

impl MessageView {
    /// The in-hospital route the notice carries, if any.
    pub fn route_url(&self) -> Option<String> {
        let vars: serde_json::Value = serde_json::from_str(&self.variables).unwrap_or_default();
        vars["route_url"].as_str().filter(|u| !u.is_empty()).map(str::to_owned)
    }
}

impl From<MessageRow> for MessageView {
    fn from(m: MessageRow) -> Self {
        Self {
            id: m.id,
            message_no: m.message_no,
            scene: m.scene,
            criticality: m.criticality,
            title: m.title,
            body: m.body,
            link: m.link,
            variables: m.variables,
            status: m.status,
            plan: m.plan,
            sent_channel: m.sent_channel,
            last_code: m.last_code,
            source: m.source,
            created_at: m.created_at,
            expires_at: m.expires_at,
            read_at: m.read_at,
            ack_deadline: m.ack_deadline,
            acked_at: m.acked_at,
        }
    }
}

/// One page of the account's messages, newest first.
pub struct InboxPage {
    /// Critical values not yet acknowledged: shown above everything else.
    pub pinned: Vec<MessageView>,
    pub messages: Vec<MessageView>,
    pub unread: u64,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

impl App {
    pub async fn inbox_page(&self, account_id: i64, before: Option<i64>, page_size: u64) -> Result<InboxPage, DomainError> {
        let rows = self.store.inbox(account_id, before, page_size + 1).await?;
        let next_before = (rows.len() as u64 > page_size).then(|| rows[page_size as usize - 1].id);
        let messages = rows.into_iter().take(page_size as usize).map(MessageView::from).collect();
        let unread = self.store.unread_count(account_id).await?;
        let pinned = self.unacknowledged_critical(account_id).await?;
        Ok(InboxPage { pinned, messages, unread, next_before })
    }

    /// The account's critical values still waiting for 我已知晓 (危急值 first, on every
    /// page that lists messages and on the home page).
    pub async fn unacknowledged_critical(&self, account_id: i64) -> Result<Vec<MessageView>, DomainError> {
        Ok(self.store.unacknowledged_critical(account_id).await?.into_iter().map(MessageView::from).collect())
    }

    /// The categories of non-critical notices the account does not want pushed.
    pub async fn muted_categories(&self, account_id: i64) -> Result<Vec<String>, DomainError> {
        self.store.muted_categories(account_id).await
    }
}
