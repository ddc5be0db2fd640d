//! The unified message platform (MSG-1/2/3, OTH-1). A journey event becomes one message
//! per recipient account (M1: the dedupe key is written before anything is sent); each
//! message walks its channel plan — WeChat template, subscribe message after 43004, SMS —
//! retrying transient errors with backoff until the channel's deadline (M2), treating a
//! lost answer as unknown (M3), falling back for critical notices and finally handing
//! them to a person (M4), honouring muted categories and quiet hours for the rest (M5),
//! and checking just before each send that the notice is not stale (M7). Every step is
//! a persisted outbox job, so a crash or an outage loses nothing (M6); what no channel
//! delivered is a dead letter the console lists and can retry.
pub mod console;
pub mod inbox;
pub mod open;
pub mod templates;

use crate::job::{JobError, JobHandler};
use crate::{Actor, App};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveTime, Utc};
use domain::identity::Mobile;
use domain::messages::{self as rules, Channel, Criticality, Reach, Scene, SendOutcome};
use domain::ports::{NavigationPort, SmsMessage, SmsPort, WechatMessage, WechatMessagePort};
use domain::registration::BookingState;
use domain::{DomainError, ErrorCode, Masked};
use serde_json::{Value, json};
use std::sync::Arc;
use store::messages::{MessageProgress, MessageRow, NewMessage, NewTask};
use store::outbox::NewJob;
use templates::TemplateSource;

pub use domain::messages::NOTIFY_DISPATCH;
pub const NOTIFY_DELIVER: &str = "notify.deliver";
pub const NOTIFY_ACK_CHECK: &str = "notify.ack_check";

/// What the visit-day reminder says to bring when the department has not said.
pub const DEFAULT_BRING: &str = "身份证或医保电子凭证、既往病历和检查报告";

/// Message statuses.
pub mod status {
    /// Waiting for its next send.
    pub const QUEUED: &str = "queued";
    /// A provider accepted it.
    pub const SENT: &str = "sent";
    /// The last channel gave no answer and repeating it could send it twice.
    pub const UNKNOWN: &str = "unknown";
    /// No push channel applies; the inbox has it.
    pub const INBOX: &str = "inbox";
    /// The patient muted the category; the inbox has it.
    pub const MUTED: &str = "muted";
    /// Its subject moved on before it went out (M7).
    pub const SUPPRESSED: &str = "suppressed";
    pub const EXPIRED: &str = "expired";
    /// Every channel failed: a dead letter.
    pub const FAILED: &str = "failed";
    /// A critical notice no channel delivered, handed to staff as a task.
    pub const TASK: &str = "task";

    pub fn label_zh(s: &str) -> &'static str {
        match s {
            QUEUED => "发送中",
            SENT => "已送达",
            UNKNOWN => "结果未知",
            INBOX => "仅消息中心",
            MUTED => "已屏蔽推送",
            SUPPRESSED => "已失效未发送",
            EXPIRED => "已过期",
            FAILED => "发送失败",
            TASK => "已转人工",
            _ => "—",
        }
    }
}

/// How notices are sent: settings.
#[derive(Clone, Debug)]
pub struct MessagePolicy {
    /// Non-critical notices wait out [quiet_start, quiet_end) local time.
    pub quiet_start: NaiveTime,
    pub quiet_end: NaiveTime,
    /// A critical value unacknowledged this long goes to the ward and out by SMS.
    pub critical_ack_within: Duration,
    /// Where deep links point (the patient's pages).
    pub public_base_url: String,
    pub hospital_name: String,
}

impl Default for MessagePolicy {
    fn default() -> Self {
        Self {
            quiet_start: NaiveTime::from_hms_opt(22, 0, 0).expect("time"),
            quiet_end: NaiveTime::from_hms_opt(7, 0, 0).expect("time"),
            critical_ack_within: Duration::minutes(30),
            public_base_url: String::new(),
            hospital_name: String::new(),
        }
    }
}

/// The channels this node can use; a missing one counts as a permanent failure of that
/// channel, so notices fall through to the next.
#[derive(Clone, Default)]
pub struct Messaging {
    pub wechat: Option<Arc<dyn WechatMessagePort>>,
    pub sms: Option<Arc<dyn SmsPort>>,
    pub navigation: Option<Arc<dyn NavigationPort>>,
    pub policy: MessagePolicy,
}

fn retry(e: DomainError) -> JobError {
    JobError::Retry(e.to_string())
}

fn new_message_no(now: DateTime<Utc>) -> String {
    format!("M{}{}", domain::clock::to_local(now).format("%Y%m%d"), hex::encode(crypto::random_bytes::<5>()).to_uppercase())
}

/// The subjects a notice is about (booking, recipe, stay, order), for M7.
fn subjects(v: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for k in ["booking_no", "recipe_id", "inpatient_no", "application_no"] {
        if let Some(s) = v[k].as_str().filter(|s| !s.is_empty()) {
            out.push(format!("{k}:{s}"));
        }
    }
    if let Some(list) = v["recipes"].as_array() {
        out.extend(list.iter().filter_map(Value::as_str).map(|s| format!("recipe_id:{s}")));
    }
    out
}

/// Adds what every template may use: yuan forms of fen amounts, names, the hospital.
fn enrich(scene: &Scene, payload: &Value, hospital_name: &str) -> Value {
    let mut v = match payload {
        Value::Object(m) => m.clone(),
        _ => serde_json::Map::new(),
    };
    for k in [
        "total",
        "fee",
        "insurance",
        "self_pay",
        "amount",
        "balance",
        "threshold",
        "fund",
        "refund",
        "refund_online",
        "refund_window",
        "paid",
        "deposit",
        "extra",
    ] {
        if let Some(n) = v.get(k).and_then(Value::as_i64) {
            v.insert(format!("{k}_yuan"), json!(domain::format::yuan(domain::Fen(n))));
        }
    }
    // A deposit can be owed: said in words, never as "余额-631.00元".
    if let Some(b) = v.get("balance").and_then(Value::as_i64) {
        let text =
            if b < 0 { format!("已欠费{}元", domain::format::yuan(domain::Fen(-b))) } else { format!("余额{}元", domain::format::yuan(domain::Fen(b))) };
        v.insert("balance_text".into(), json!(text));
    }
    v.insert("scene_name".into(), json!(scene.name_zh));
    v.insert("hospital_name".into(), json!(hospital_name));
    v.entry("patient_name_masked").or_insert(json!(""));
    v.entry("route_url").or_insert(json!(""));
    v.entry("route_summary").or_insert(json!(""));
    v.insert("subject".into(), json!(subjects(payload).join(",")));
    Value::Object(v)
}

/// What every recipient's message of one event is made from.
#[derive(Clone, Copy)]
struct Notice<'a> {
    scene: &'static Scene,
    vars: &'a Value,
    inbox: &'a TemplateSource,
    event_id: Option<i64>,
    source: &'a str,
}

/// One recipient of an event.
struct Recipient {
    patient_id: i64,
    account_id: i64,
    has_mobile: bool,
}

impl App {
    /// The template for a scene on a channel: staff's, else the built-in one.
    pub async fn template_source(&self, scene: &Scene, channel: Channel) -> Result<TemplateSource, DomainError> {
        Ok(match self.store.template(scene.code, channel.as_str()).await? {
            Some(r) => {
                TemplateSource { provider_template_id: r.provider_template_id, title: r.title, body: r.body, version: r.version, edited_by: Some(r.updated_by) }
            }
            None => TemplateSource::builtin(scene, channel),
        })
    }

    /// Turns a recorded journey event into one message per recipient, each with its
    /// delivery job, in one transaction. A second run writes nothing (M1).
    pub async fn dispatch_event(&self, event_id: i64) -> Result<usize, DomainError> {
        let Some(event) = self.store.event(event_id).await? else {
            return Err(DomainError::new(ErrorCode::NotFound, format!("event {event_id}")));
        };
        let scene =
            rules::scene(&event.kind).ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, format!("no scene for event kind {}", event.kind)))?;
        let payload: Value = serde_json::from_str(&event.payload).map_err(|e| DomainError::new(ErrorCode::Internal, format!("event payload: {e}")))?;
        let patient_id = event.patient_id.ok_or_else(|| DomainError::new(ErrorCode::PatientNotFound, "event has no patient"))?;
        let patient =
            self.store.patient_by_id(patient_id).await?.ok_or_else(|| DomainError::new(ErrorCode::PatientNotFound, format!("patient {patient_id}")))?;
        let recipients: Vec<Recipient> = self
            .store
            .recipients_of(&patient.his_patient_id)
            .await?
            .into_iter()
            .map(|(patient_id, account_id, has_mobile)| Recipient { patient_id, account_id, has_mobile })
            .collect();
        let mut vars = enrich(scene, &payload, &self.messaging.policy.hospital_name);
        // Addressed by the masked name, the same for every account managing the person.
        if vars["patient_name_masked"].as_str().is_none_or(str::is_empty) {
            vars["patient_name_masked"] = json!(patient.name_masked);
        }
        if scene.navigates {
            self.add_route(&mut vars).await;
        }
        // Pushed through the open interface (`api:<key>`), or the platform's own.
        let source = payload["source"].as_str().filter(|s| s.starts_with("api:")).unwrap_or("event");
        let now = self.now();
        // One template read for all recipients.
        let inbox = self.template_source(scene, Channel::Inbox).await?;
        let notice = Notice { scene, vars: &vars, inbox: &inbox, event_id: Some(event.id), source };
        let txn = self.store.write_txn().await?;
        let mut written = 0;
        for r in &recipients {
            let key = format!("{}#{}", event.dedupe_key, r.account_id);
            if self.write_message(&txn, &notice, r, &key, now).await? {
                written += 1;
            }
        }
        self.store.mark_event_dispatched(&txn, event.id, now).await?;
        txn.commit().await.map_err(store::db_err)?;
        metrics::counter!("carebridge_messages_created_total", "scene" => scene.code).increment(written as u64);
        Ok(written)
    }

    /// A route from the navigation system for notices that send the patient somewhere
    /// (OTH-1). Without one the notice still goes, just without the route.
    async fn add_route(&self, vars: &mut Value) {
        let (Some(nav), Some(dest)) = (self.messaging.navigation.as_ref(), vars["destination"].as_str().map(str::to_owned)) else { return };
        match nav.route_to(&dest).await {
            Ok(r) => {
                vars["route_url"] = json!(r.url);
                vars["route_summary"] = json!(r.summary);
            }
            Err(e) => tracing::warn!(error = %e, destination = %dest, "no route from the navigation system"),
        }
    }

    /// Writes one message and its first delivery job; `false` if it existed.
    async fn write_message<C: sea_orm::ConnectionTrait>(
        &self,
        conn: &C,
        n: &Notice<'_>,
        r: &Recipient,
        dedupe_key: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, DomainError> {
        let Notice { scene, vars, inbox, event_id, source } = *n;
        let critical = scene.criticality == Criticality::Critical;
        let muted = self.store.muted_categories(r.account_id).await?.iter().any(|c| c == scene.category.as_str());
        // A critical notice plans SMS even without a mobile on file: the send asks the HIS
        // for one, and a failure is then named in the staff task (issue 17 item 9).
        // Only the channels the account consents to (S13); a withdrawal is asked again at
        // each send, so what is queued stops too.
        let (wechat_ok, sms_ok) = self.notice_consents(r.account_id).await?;
        let reach = Reach { wechat: wechat_ok, phone: sms_ok && (r.has_mobile || critical) };
        let plan = rules::plan(scene.criticality, reach, muted);
        let message_no = new_message_no(now);
        let mut vars = vars.clone();
        vars["message_no"] = json!(message_no);
        // Patient-facing texts are rendered now, so the inbox shows them whatever happens
        // to the push channels; a broken staff template falls back to the built-in text
        // and the problem is kept on the message.
        let builtin = TemplateSource::builtin(scene, Channel::Inbox);
        let rendered = templates::render(&inbox.title, &vars).and_then(|t| templates::render(&inbox.body, &vars).map(|b| (t, b)));
        let (title, body, template_error) = match rendered {
            Ok((t, b)) => (t, b, None),
            Err(e) => {
                let t = templates::render(&builtin.title, &vars).unwrap_or_else(|_| scene.name_zh.to_owned());
                let b = templates::render(&builtin.body, &vars).unwrap_or_else(|_| format!("您有一条{}，请点击查看详情。", scene.name_zh));
                (t, b, Some(e))
            }
        };
        // One event reaches every account managing the person; a link naming the 就诊人
        // says `{patient}` and each recipient gets their own 就诊人's id.
        let link = match vars["link"].as_str().filter(|l| l.starts_with('/')) {
            Some(l) => l.replace("{patient}", &r.patient_id.to_string()),
            None => templates::render(scene.link, &vars).unwrap_or_else(|_| "/messages".into()),
        };
        let link = if scene.needs_ack { format!("/messages/{message_no}") } else { link };
        let status = match (plan.is_empty(), muted && !critical) {
            (false, _) => status::QUEUED,
            (true, true) => status::MUTED,
            // Critical with no channel at all: the delivery job hands it to a person.
            (true, false) if critical => status::QUEUED,
            (true, false) => status::INBOX,
        };
        let ack_deadline = scene.needs_ack.then(|| now + self.messaging.policy.critical_ack_within);
        let m = NewMessage {
            message_no: message_no.clone(),
            dedupe_key: dedupe_key.to_owned(),
            event_id,
            scene: scene.code.into(),
            criticality: scene.criticality.as_str().into(),
            category: scene.category.as_str().into(),
            account_id: Some(r.account_id),
            patient_id: Some(r.patient_id),
            variables: vars,
            title,
            body,
            link,
            status: status.into(),
            plan: plan.iter().map(|c| c.as_str()).collect::<Vec<_>>().join(","),
            source: source.into(),
            expires_at: now + Duration::hours(scene.expiry_hours),
            ack_deadline,
        };
        let Some(id) = self.store.insert_message(conn, m, now).await? else { return Ok(false) };
        if let Some(e) = template_error {
            self.store.add_delivery(conn, id, Channel::Inbox.as_str(), 0, "template_error", "template", &e, None, now).await?;
        }
        if status == status::QUEUED {
            let at = if critical { None } else { rules::quiet_until(now, self.messaging.policy.quiet_start, self.messaging.policy.quiet_end) };
            let job = NewJob::new(NOTIFY_DELIVER, json!({"message_id": id}), now).at(at.unwrap_or(now)).dedupe(format!("{NOTIFY_DELIVER}:{id}:0"));
            self.store.enqueue(conn, job, now).await?;
        }
        if let Some(deadline) = ack_deadline {
            let job = NewJob::new(NOTIFY_ACK_CHECK, json!({"message_id": id}), now).at(deadline).dedupe(format!("{NOTIFY_ACK_CHECK}:{id}"));
            self.store.enqueue(conn, job, now).await?;
            let entry = Actor::system("notify").entry("notify.critical_value.created", format!("message:{message_no}"), scene.name_zh);
            self.store.append_audit(conn, &entry, now).await?;
        }
        Ok(true)
    }

    /// Whether a queued notice has become pointless (M7): a later event about the same
    /// subject supersedes it, the booking it reminds of no longer stands, or the bill it
    /// asks to pay is paid.
    async fn is_stale(&self, m: &MessageRow, scene: &Scene, vars: &Value) -> Result<bool, DomainError> {
        let mine = subjects(vars);
        if let (Some(event_id), Some(patient_id)) = (m.event_id, m.patient_id) {
            let event_patient = self.store.event_patient(event_id).await?.unwrap_or(patient_id);
            for later in self.store.later_events(event_patient, event_id, scene.superseded_by).await? {
                let theirs = subjects(&serde_json::from_str(&later.payload).unwrap_or(Value::Null));
                if theirs.iter().any(|s| mine.contains(s)) {
                    return Ok(true);
                }
            }
        }
        let booking_states: &[BookingState] = match scene.code {
            "booking.confirmed" | "booking.visit_tomorrow" => &[BookingState::Confirmed, BookingState::CheckedIn],
            "booking.take_number" => &[BookingState::Confirmed],
            _ => &[],
        };
        if !booking_states.is_empty()
            && let Some(no) = vars["booking_no"].as_str()
        {
            let row = self.store.booking(no).await?;
            if !booking_states.contains(&store::registration::booking_state(&row)) {
                return Ok(true);
            }
        }
        // An admission notice whose booking moved on (cancelled, or answered otherwise).
        let admission_state = match scene.code {
            "admission.prompt" => Some(domain::inpatient::admission_booking::BookingState::Confirmed),
            "admission.proposed" => Some(domain::inpatient::admission_booking::BookingState::Proposed),
            _ => None,
        };
        if let (Some(want), Some(no)) = (admission_state, vars["booking_no"].as_str())
            && let Ok(b) = self.store.admission_booking(no).await
            && b.state != want
        {
            return Ok(true);
        }
        if scene.code == "bill.due"
            && let (Some(recipe), Some(pid)) = (vars["recipe_id"].as_str(), m.patient_id)
            && let Some(p) = self.store.patient_by_id(pid).await?
        {
            // The HIS knows best whether it is still unpaid (paid at a window, or by us).
            // If it cannot say, the notice goes: a reminder is better than silence.
            if let Ok(bills) = self.his.unpaid_bills(&p.his_patient_id).await {
                return Ok(!bills.iter().any(|b| b.recipe_id == recipe));
            }
        }
        Ok(false)
    }

    /// Sends a message on one channel.
    async fn send_on(&self, channel: Channel, m: &MessageRow, scene: &Scene, vars: &Value) -> SendOutcome {
        let permanent = |code: &str, detail: String| SendOutcome::Permanent { code: code.into(), detail };
        let t = match self.template_source(scene, channel).await {
            Ok(t) => t,
            Err(e) => return SendOutcome::Transient { code: "store".into(), detail: e.to_string() },
        };
        let fields = match templates::render_fields(&t.body, vars) {
            Ok(f) => f,
            Err(e) => return permanent("template", e),
        };
        if let (Some(account), Channel::WechatTemplate | Channel::WechatSubscribe | Channel::Sms) = (m.account_id, channel) {
            match self.notice_consents(account).await {
                Ok((wechat, sms)) if (channel == Channel::Sms && !sms) || (channel != Channel::Sms && !wechat) => {
                    return permanent("consent_withdrawn", format!("the account withdrew consent to {} notices", channel.as_str()));
                }
                Ok(_) => {}
                Err(e) => return SendOutcome::Transient { code: "store".into(), detail: e.to_string() },
            }
        }
        match channel {
            Channel::WechatTemplate | Channel::WechatSubscribe => {
                // Fitted to WeChat's field rules; a value that cannot be (a time that is not
                // one) would be refused with 47003, so the next channel carries the notice.
                let (fields, shortened) = match templates::fit_wechat_fields(fields) {
                    Ok(f) => f,
                    Err(e) => return permanent("field_rule", e),
                };
                let Some(wechat) = self.messaging.wechat.as_ref() else { return permanent("not_configured", "WeChat messages are not configured".into()) };
                let Some(account) = m.account_id else { return permanent("no_recipient", "no account".into()) };
                let openid = match self.store.wechat_openid(account).await {
                    Ok(o) => o,
                    Err(e) => return SendOutcome::Transient { code: "store".into(), detail: e.to_string() },
                };
                // A shortened field's full text is on the message's own page, which links on.
                let link = if shortened { format!("/messages/{}", m.message_no) } else { m.link.clone() };
                let url = format!("{}{}", self.messaging.policy.public_base_url.trim_end_matches('/'), link);
                let msg = WechatMessage { openid, template_id: t.provider_template_id, url, client_msg_id: m.message_no.clone(), data: fields };
                if channel == Channel::WechatTemplate { wechat.send_template(&msg).await } else { wechat.send_subscribe(&msg).await }
            }
            Channel::Sms => {
                let Some(sms) = self.messaging.sms.as_ref() else { return permanent("not_configured", "SMS is not configured".into()) };
                let Some(pid) = m.patient_id else { return permanent("no_recipient", "no patient".into()) };
                let phone = match self.store.patient_mobile(pid).await {
                    Ok(Some(p)) => p,
                    // Added without a mobile: ask the HIS, which often has one (issue 17 item 9).
                    Ok(None) => match self.mobile_from_his(pid).await {
                        Ok(Some(p)) => p,
                        Ok(None) => return permanent("no_mobile", "neither the patient nor the HIS has a mobile".into()),
                        Err(e) => return SendOutcome::Transient { code: "his".into(), detail: e.to_string() },
                    },
                    Err(e) => return SendOutcome::Transient { code: "store".into(), detail: e.to_string() },
                };
                // Reading the mobile to send to it is a sensitive read like any other.
                let entry = Actor::system("notify").entry("patient.mobile_read", format!("patient:{pid}"), &format!("短信发送 {}", m.message_no));
                if let Err(e) = self.store.audit(&entry, self.now()).await {
                    return SendOutcome::Transient { code: "store".into(), detail: e.to_string() };
                }
                sms.send(&SmsMessage { phone, template_code: t.provider_template_id, params: fields, out_id: m.message_no.clone() }).await
            }
            Channel::Inbox => SendOutcome::Sent(String::new()),
        }
    }

    /// The mobile the HIS holds for a patient who gave none, kept for next time; the HIS
    /// read is audited like the platform's own.
    async fn mobile_from_his(&self, patient_id: i64) -> Result<Option<Masked<Mobile>>, DomainError> {
        let Some(p) = self.store.patient_by_id(patient_id).await? else { return Ok(None) };
        let Some(his) = self.his.patient(&p.his_patient_id).await? else { return Ok(None) };
        let Some(mobile) = his.mobile.as_deref().and_then(|m| Mobile::parse(m).ok()) else { return Ok(None) };
        let entry = Actor::system("notify").entry("patient.mobile_from_his", format!("patient:{patient_id}"), "短信发送前向HIS查询手机号");
        self.store.audit(&entry, self.now()).await?;
        self.store.set_missing_mobile(patient_id, &mobile).await?;
        Ok(Some(mobile))
    }

    /// Moves one message as far as it can go now: sends on the current channel, then
    /// records the outcome and either stops, schedules a retry, or falls through to the
    /// next channel. Safe to run twice: a message is only moved from the version read.
    pub async fn deliver_message(&self, id: i64) -> Result<(), DomainError> {
        for _ in 0..8 {
            let m = self.store.message(id).await?;
            if m.status != status::QUEUED {
                return Ok(());
            }
            let now = self.now();
            let scene = rules::scene(&m.scene).ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, format!("unknown scene {}", m.scene)))?;
            let vars: Value = serde_json::from_str(&m.variables).unwrap_or(Value::Null);
            let critical = scene.criticality == Criticality::Critical;
            let progress = |p: MessageProgress| async move { self.store.progress_message(self.store.db(), m.id, m.version, p, now).await };
            if now >= m.expires_at {
                self.store.add_delivery(self.store.db(), m.id, "-", m.channel_attempts, "expired", "expired", "过期未发送", None, now).await?;
                progress(MessageProgress { status: Some(status::EXPIRED.into()), ..Default::default() }).await?;
                return Ok(());
            }
            if self.is_stale(&m, scene, &vars).await? {
                self.store.add_delivery(self.store.db(), m.id, "-", m.channel_attempts, "suppressed", "stale", "业务状态已变化，不再发送", None, now).await?;
                progress(MessageProgress { status: Some(status::SUPPRESSED.into()), ..Default::default() }).await?;
                metrics::counter!("carebridge_messages_total", "scene" => scene.code, "outcome" => "suppressed").increment(1);
                return Ok(());
            }
            let plan: Vec<Channel> = m.plan.split(',').filter_map(Channel::parse).collect();
            let step = usize::try_from(m.step).unwrap_or(usize::MAX);
            let Some(&channel) = plan.get(step) else {
                return self.exhausted(&m, scene, critical, plan.is_empty(), now).await;
            };
            let next = MessageProgress { step: Some(m.step + 1), channel_attempts: Some(0), channel_started_at: Some(None), ..Default::default() };
            if !rules::worth_trying(channel, m.last_code.as_deref()) {
                if !progress(next).await? {
                    return Ok(());
                }
                continue;
            }
            let started = m.channel_started_at.unwrap_or(now);
            let outcome = self.send_on(channel, &m, scene, &vars).await;
            if matches!(outcome, SendOutcome::Sent(_)) {
                crate::crash::point(crate::crash::AFTER_MESSAGE_SENT);
            }
            let now = self.now();
            let attempt = m.channel_attempts + 1;
            let (kind, detail, provider_id) = match &outcome {
                SendOutcome::Sent(id) => ("sent", String::new(), Some(id.as_str())),
                SendOutcome::Transient { detail, .. } => ("transient", detail.clone(), None),
                SendOutcome::Permanent { detail, .. } => ("permanent", detail.clone(), None),
                SendOutcome::Unknown(d) => ("unknown", d.clone(), None),
            };
            self.store.add_delivery(self.store.db(), m.id, channel.as_str(), attempt, kind, outcome.code(), &detail, provider_id, now).await?;
            metrics::counter!("carebridge_message_sends_total", "channel" => channel.as_str(), "outcome" => kind).increment(1);
            let noted = |p: MessageProgress| MessageProgress { last_code: Some(outcome.code().to_owned()), last_error: Some(detail.clone()), ..p };
            let retry_here = match &outcome {
                SendOutcome::Sent(pid) => {
                    let done = MessageProgress {
                        status: Some(status::SENT.into()),
                        sent_channel: Some(channel.as_str().into()),
                        provider_msg_id: Some(pid.clone()),
                        channel_attempts: Some(attempt),
                        ..Default::default()
                    };
                    if progress(noted(done)).await? && scene.needs_ack {
                        let entry = Actor::system("notify").entry("notify.critical_value.sent", format!("message:{}", m.message_no), channel.label_zh());
                        self.store.audit(&entry, now).await?;
                    }
                    metrics::counter!("carebridge_messages_total", "scene" => scene.code, "outcome" => "sent").increment(1);
                    return Ok(());
                }
                SendOutcome::Permanent { .. } => false,
                SendOutcome::Transient { .. } => true,
                SendOutcome::Unknown(_) if channel.provider_dedupes() => true,
                // A lost answer where a repeat could duplicate: a critical notice goes on
                // to the next channel (a knowing duplicate), any other stops here.
                SendOutcome::Unknown(_) if critical => false,
                SendOutcome::Unknown(_) => {
                    let p = MessageProgress { status: Some(status::UNKNOWN.into()), sent_channel: Some(channel.as_str().into()), ..Default::default() };
                    progress(noted(p)).await?;
                    return Ok(());
                }
            };
            if retry_here && now - started < rules::channel_deadline(scene.criticality) {
                let p = MessageProgress { channel_attempts: Some(attempt), channel_started_at: Some(Some(started)), ..Default::default() };
                if progress(noted(p)).await? {
                    let at = now + domain::clock::backoff(u32::try_from(attempt - 1).unwrap_or(0), rand::random::<f64>(), rules::RETRY_CAP);
                    let job =
                        NewJob::new(NOTIFY_DELIVER, json!({"message_id": m.id}), now).at(at).dedupe(format!("{NOTIFY_DELIVER}:{}:{}:{attempt}", m.id, m.step));
                    self.store.enqueue(self.store.db(), job, now).await?;
                }
                return Ok(());
            }
            if !progress(noted(next)).await? {
                return Ok(());
            }
        }
        Ok(())
    }

    /// No channel is left: a critical notice becomes a staff task, any other a dead
    /// letter (or just the inbox copy, if it had no push channel at all).
    async fn exhausted(&self, m: &MessageRow, scene: &Scene, critical: bool, no_plan: bool, now: DateTime<Utc>) -> Result<(), DomainError> {
        if critical {
            let vars: Value = serde_json::from_str(&m.variables).unwrap_or(Value::Null);
            let handover = Handover {
                change: MessageProgress { status: Some(status::TASK.into()), ..Default::default() },
                kind: "critical_undelivered",
                title: format!("{}未能送达：{}", scene.name_zh, vars["patient_name_masked"].as_str().unwrap_or_default()),
                detail: format!("消息{}：各渠道均未送达（见下方各渠道结果），请电话联系患者。", m.message_no),
                action: "notify.critical.handed_to_staff",
            };
            self.hand_to_staff(m, &vars, handover, now).await?;
            metrics::counter!("carebridge_messages_total", "scene" => scene.code, "outcome" => "task").increment(1);
            return Ok(());
        }
        // A notice whose channels the patient withdrew from is an inbox message, not a failure.
        let s = if no_plan || m.last_code.as_deref() == Some("consent_withdrawn") { status::INBOX } else { status::FAILED };
        self.store.progress_message(self.store.db(), m.id, m.version, MessageProgress { status: Some(s.into()), ..Default::default() }, now).await?;
        if s == status::FAILED {
            tracing::error!(message_no = %m.message_no, scene = %m.scene, last_code = ?m.last_code, "message dead-lettered: no channel delivered it");
            metrics::counter!("carebridge_messages_total", "scene" => scene.code, "outcome" => "dead").increment(1);
        }
        Ok(())
    }

    /// Moves a message on and gives its ward or department a task, audited, in one
    /// transaction; `false` if someone else moved the message first.
    async fn hand_to_staff(&self, m: &MessageRow, vars: &Value, h: Handover, now: DateTime<Utc>) -> Result<bool, DomainError> {
        let dept = task_dept(vars);
        let txn = self.store.write_txn().await?;
        if !self.store.progress_message(&txn, m.id, m.version, h.change, now).await? {
            return Ok(false);
        }
        let key = format!("{}:{}", h.kind, m.id);
        let task = NewTask { kind: h.kind, message_id: Some(m.id), dept: &dept, title: &h.title, detail: &h.detail, dedupe_key: &key };
        self.store.open_task(&txn, task, now).await?;
        self.store.append_audit(&txn, &Actor::system("notify").entry(h.action, format!("message:{}", m.message_no), &dept), now).await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(true)
    }

    /// A critical value still unacknowledged at its deadline: the ward or department gets
    /// a task and the patient an SMS, whatever WeChat said; each step audited.
    pub async fn check_acknowledgement(&self, id: i64) -> Result<(), DomainError> {
        let m = self.store.message(id).await?;
        if m.acked_at.is_some() || m.escalated_at.is_some() {
            return Ok(());
        }
        let now = self.now();
        let vars: Value = serde_json::from_str(&m.variables).unwrap_or(Value::Null);
        let handover = Handover {
            change: MessageProgress { escalated_at: Some(now), ..Default::default() },
            kind: "critical_value_unacked",
            title: format!("危急值未确认：{} {}", vars["patient_name_masked"].as_str().unwrap_or_default(), vars["item"].as_str().unwrap_or_default()),
            detail: format!(
                "消息{}发出后{}分钟内患者未确认。结果：{}。请立即电话联系患者并记录处理情况。",
                m.message_no,
                self.messaging.policy.critical_ack_within.num_minutes(),
                vars["value"].as_str().unwrap_or_default()
            ),
            action: "notify.critical_value.escalated",
        };
        if !self.hand_to_staff(&m, &vars, handover, now).await? {
            return Ok(());
        }
        let scene = rules::scene(&m.scene).ok_or(ErrorCode::NotFound)?;
        let outcome = self.send_on(Channel::Sms, &m, scene, &vars).await;
        let kind = if matches!(outcome, SendOutcome::Sent(_)) { "sent" } else { "failed" };
        let provider = if let SendOutcome::Sent(p) = &outcome { Some(p.as_str()) } else { None };
        self.store.add_delivery(self.store.db(), m.id, Channel::Sms.as_str(), 0, kind, outcome.code(), "危急值未确认，短信提醒", provider, self.now()).await?;
        let entry = Actor::system("notify").entry("notify.critical_value.sms", format!("message:{}", m.message_no), outcome.code());
        self.store.audit(&entry, self.now()).await?;
        Ok(())
    }

    /// The patient read a message (and, for a critical value, acknowledged it).
    pub async fn read_message(&self, account_id: i64, message_no: &str, acknowledge: bool, actor: &Actor) -> Result<inbox::MessageView, DomainError> {
        let before = self.store.message_by_no(message_no).await?.filter(|m| m.account_id == Some(account_id)).ok_or(ErrorCode::NotFound)?;
        let ack = acknowledge && before.ack_deadline.is_some() && before.acked_at.is_none();
        let m = self.store.mark_message(account_id, message_no, ack, self.now()).await?.ok_or(ErrorCode::NotFound)?;
        if ack {
            self.store.audit(&actor.entry("notify.critical_value.acknowledged", format!("message:{message_no}"), "患者确认已知晓"), self.now()).await?;
        }
        Ok(m.into())
    }

    /// Staff close a task with what they did (audited).
    pub async fn close_task(&self, task_id: i64, note: &str, actor: &Actor) -> Result<(), DomainError> {
        let note = note.trim();
        if note.is_empty() || note.chars().count() > 200 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "note"));
        }
        let txn = self.store.write_txn().await?;
        if !self.store.close_task(&txn, task_id, &actor.id, note, self.now()).await? {
            return Err(DomainError::new(ErrorCode::Conflict, "task already closed"));
        }
        self.store.append_audit(&txn, &actor.entry("notify.task.closed", format!("task:{task_id}"), note), self.now()).await?;
        txn.commit().await.map_err(store::db_err)
    }

    /// The console's retry of a dead letter: back to the first channel (audited).
    pub async fn retry_message(&self, message_no: &str, actor: &Actor) -> Result<(), DomainError> {
        let m = self.store.message_by_no(message_no).await?.ok_or(ErrorCode::NotFound)?;
        let now = self.now();
        let txn = self.store.write_txn().await?;
        if !self.store.restart_message(&txn, m.id, now).await? {
            return Err(DomainError::new(ErrorCode::Conflict, "message is not a dead letter"));
        }
        let job = NewJob::new(NOTIFY_DELIVER, json!({"message_id": m.id}), now).dedupe(format!("{NOTIFY_DELIVER}:{}:retry:{}", m.id, m.version));
        self.store.enqueue(&txn, job, now).await?;
        self.store.append_audit(&txn, &actor.entry("notify.message.retried", format!("message:{message_no}"), &m.status), now).await?;
        txn.commit().await.map_err(store::db_err)
    }

    /// Saves a staff-edited template after checking it (audited); returns the version.
    pub async fn save_template(&self, scene_code: &str, channel: Channel, t: &TemplateSource, actor: &Actor) -> Result<i32, DomainError> {
        let scene = rules::scene(scene_code).ok_or_else(|| DomainError::new(ErrorCode::NotFound, "scene"))?;
        templates::check(scene, channel, t).map_err(|e| DomainError::new(ErrorCode::TemplateInvalid, e))?;
        let now = self.now();
        let txn = self.store.write_txn().await?;
        let v = self.store.put_template(&txn, scene.code, channel.as_str(), t.provider_template_id.trim(), &t.title, &t.body, &actor.id, now).await?;
        self.store
            .append_audit(&txn, &actor.entry("notify.template.saved", format!("template:{}:{}", scene.code, channel.as_str()), &format!("v{v}")), now)
            .await?;
        txn.commit().await.map_err(store::db_err)?;
        Ok(v)
    }

    /// An account's muted categories, as a set of category codes.
    pub async fn set_preference(&self, account_id: i64, category: &str, muted: bool) -> Result<(), DomainError> {
        let c = rules::Category::parse(category).ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "category"))?;
        self.store.set_muted(account_id, c.as_str(), muted, self.now()).await
    }

    /// The visit-day note of a department (what to bring), saved by the outpatient office.
    pub async fn save_visit_note(&self, dept_id: &str, bring: &str, actor: &Actor) -> Result<(), DomainError> {
        let bring = bring.trim();
        if bring.is_empty() || bring.chars().count() > 60 {
            return Err(DomainError::new(ErrorCode::ValidationFailed, "bring"));
        }
        self.department_view(dept_id).await?;
        let now = self.now();
        let txn = self.store.write_txn().await?;
        self.store.put_visit_note(&txn, dept_id, bring, &actor.id, now).await?;
        self.store.append_audit(&txn, &actor.entry("notify.visit_note.saved", format!("dept:{dept_id}"), bring), now).await?;
        txn.commit().await.map_err(store::db_err)
    }
}

/// At start-up: any event without messages gets its dispatch job (events recorded
/// before the message platform existed; the job's dedupe key makes this a no-op for
/// events whose job is pending or was dead-lettered). Returns how many were queued.
pub async fn sweep_undispatched(app: &App) -> Result<usize, DomainError> {
    let mut queued = 0;
    for id in app.store.undispatched_events(10_000).await? {
        let job = NewJob::new(NOTIFY_DISPATCH, json!({"event_id": id}), app.now()).dedupe(format!("{NOTIFY_DISPATCH}:{id}"));
        if matches!(app.store.enqueue(app.store.db(), job, app.now()).await?, store::outbox::Enqueued::New(_)) {
            queued += 1;
        }
    }
    Ok(queued)
}

/// What handing a message to staff changes and says.
struct Handover {
    change: MessageProgress,
    kind: &'static str,
    title: String,
    detail: String,
    action: &'static str,
}

/// Who acts on a critical notice: the ward, else the department, else the outpatient office.
fn task_dept(vars: &Value) -> String {
    ["ward", "dept_name"].iter().find_map(|k| vars[*k].as_str().filter(|s| !s.is_empty()).map(str::to_owned)).unwrap_or_else(|| "门诊部".into())
}

/// `notify.dispatch`: an event becomes its messages.
pub struct DispatchEvent;

#[async_trait]
impl JobHandler for DispatchEvent {
    async fn run(&self, app: &App, payload: &Value) -> Result<(), JobError> {
        let id = payload["event_id"].as_i64().ok_or_else(|| JobError::Permanent("no event_id".into()))?;
        match app.dispatch_event(id).await {
            Ok(_) => Ok(()),
            // No such scene, no patient: a person must look (the dead-letter list shows it).
            Err(e) if matches!(e.code, ErrorCode::ValidationFailed | ErrorCode::PatientNotFound | ErrorCode::NotFound) => {
                Err(JobError::Permanent(e.to_string()))
            }
            Err(e) => Err(retry(e)),
        }
    }
}

/// `notify.deliver`: one step of one message.
pub struct DeliverMessage;

#[async_trait]
impl JobHandler for DeliverMessage {
    async fn run(&self, app: &App, payload: &Value) -> Result<(), JobError> {
        let id = payload["message_id"].as_i64().ok_or_else(|| JobError::Permanent("no message_id".into()))?;
        app.deliver_message(id).await.map_err(retry)
    }
}

/// `notify.ack_check`: a critical value's acknowledgement deadline.
pub struct AckCheck;

#[async_trait]
impl JobHandler for AckCheck {
    async fn run(&self, app: &App, payload: &Value) -> Result<(), JobError> {
        let id = payload["message_id"].as_i64().ok_or_else(|| JobError::Permanent("no message_id".into()))?;
        app.check_acknowledgement(id).await.map_err(retry)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_cover_bookings_recipes_and_stays() {
        let due = json!({"recipe_id": "R1"});
        let paid = json!({"recipes": ["R0", "R1"], "order_no": "O1"});
        assert!(subjects(&paid).iter().any(|s| subjects(&due).contains(s)));
        assert!(subjects(&json!({"recipes": ["R2"]})).iter().all(|s| !subjects(&due).contains(s)));
        assert_eq!(subjects(&json!({"booking_no": "B1", "inpatient_no": ""})), vec!["booking_no:B1"]);
    }

    #[test]
    fn enrich_adds_yuan_forms_and_common_variables() {
        let s = rules::scene("bill.paid").unwrap();
        let v = enrich(s, &json!({"total": 12345, "insurance": 0}), "深圳市民医院");
        assert_eq!(v["total_yuan"], "123.45");
        assert_eq!(v["insurance_yuan"], "0.00");
        assert_eq!(v["hospital_name"], "深圳市民医院");
        assert_eq!(v["scene_name"], "门诊缴费成功提醒");
    }
}
