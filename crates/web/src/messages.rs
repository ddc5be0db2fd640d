//! The patient's message centre (MSG-1): every notice the platform sent or kept for them,
//! whether or not a push channel reached them; a critical value's "我已知晓"; and which
//! categories of non-critical notices they want pushed (level-5 item 4).
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::messages::inbox::MessageView;
use app::messages::status;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use domain::format::{TimeStyle, local_time};
use domain::messages::{Category, Criticality};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A message as the patient sees it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct MessageDto {
    pub message_no: String,
    pub scene: String,
    pub scene_name: String,
    /// critical, transactional or informational.
    pub criticality: String,
    pub title: String,
    pub body: String,
    /// The page the notice opens (a path on this site).
    pub link: String,
    /// A route from the in-hospital navigation system, if the notice has one.
    pub route_url: Option<String>,
    pub created_at: String,
    pub read: bool,
    /// Whether the patient must acknowledge it (危急值), and whether they did.
    pub needs_ack: bool,
    pub acknowledged: bool,
    /// Where its delivery stands (queued, sent, inbox, muted, …) and in Chinese.
    pub status: String,
    pub status_label: String,
    pub channel: Option<String>,
}

impl MessageDto {
    pub fn of(m: &MessageView) -> Self {
        let scene = domain::messages::scene(&m.scene);
        Self {
            message_no: m.message_no.clone(),
            scene: m.scene.clone(),
            scene_name: scene.map(|s| s.name_zh).unwrap_or("通知").to_owned(),
            criticality: m.criticality.clone(),
            title: m.title.clone(),
            body: m.body.clone(),
            link: m.link.clone(),
            route_url: m.route_url(),
            created_at: local_time(m.created_at, TimeStyle::Minute),
            read: m.read_at.is_some(),
            needs_ack: m.ack_deadline.is_some(),
            acknowledged: m.acked_at.is_some(),
            status: m.status.clone(),
            status_label: status::label_zh(&m.status).to_owned(),
            channel: m.sent_channel.as_deref().and_then(domain::messages::Channel::parse).map(|c| c.label_zh().to_owned()),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "messages.html")]
struct InboxPage {
    hospital: String,
    big_text: bool,
    back: String,
    /// Unacknowledged critical values, above everything else.
    pinned: Vec<MessageDto>,
    rows: Vec<MessageDto>,
    unread: u64,
    more: Option<i64>,
}

#[derive(Deserialize)]
pub struct InboxQuery {
    before: Option<i64>,
}

const PAGE: u64 = 30;

pub async fn inbox(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<InboxQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let p = st.app.inbox_page(auth.account_id, q.before, PAGE).await?;
    Ok(InboxPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        rows: p.messages.iter().filter(|m| !p.pinned.iter().any(|x| x.id == m.id)).map(MessageDto::of).collect(),
        pinned: p.pinned.iter().map(MessageDto::of).collect(),
        unread: p.unread,
        more: p.next_before,
    }
    .into_response())
}

/// A message's text cut into plain runs and telephone numbers (`(text, is_phone)`), so the
/// page makes numbers tappable (`tel:`) while everything stays escaped text.
pub(crate) fn with_phones(text: &str) -> Vec<(String, bool)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<(String, bool)> = vec![];
    let mut plain = String::new();
    let mut i = 0;
    while i < chars.len() {
        // A number: a digit run (hyphens inside allowed) of 7-15 digits that starts with
        // 0 (a landline with its area code), 1 (a mobile) or 4/9 (a service line).
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let mut j = i;
            let mut digits = 0;
            while j < chars.len() && (chars[j].is_ascii_digit() || (chars[j] == '-' && j + 1 < chars.len() && chars[j + 1].is_ascii_digit())) {
                if chars[j].is_ascii_digit() {
                    digits += 1;
                }
                j += 1;
            }
            let next_ok = j == chars.len() || !chars[j].is_ascii_alphanumeric();
            if (7..=15).contains(&digits) && matches!(chars[i], '0' | '1' | '4' | '9') && next_ok {
                if !plain.is_empty() {
                    out.push((std::mem::take(&mut plain), false));
                }
                out.push((chars[i..j].iter().collect(), true));
                i = j;
                continue;
            }
            plain.extend(&chars[i..j]);
            i = j;
            continue;
        }
        plain.push(chars[i]);
        i += 1;
    }
    if !plain.is_empty() {
        out.push((plain, false));
    }
    out
}

#[derive(Template, WebTemplate)]
#[template(path = "message.html")]
struct MessagePage {
    hospital: String,
    big_text: bool,
    back: String,
    /// The text with its telephone numbers marked.
    body: Vec<(String, bool)>,
    m: MessageDto,
    flash: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    acked: Option<String>,
}

fn plain(no: &str) -> bool {
    !no.is_empty() && no.len() <= 32 && no.bytes().all(|b| b.is_ascii_alphanumeric())
}

pub async fn detail(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Result<Response, AppError> {
    if !plain(&no) {
        return Err(ErrorCode::NotFound.into());
    }
    let c = Chrome::new(&st, &headers, "/messages");
    let m = st.app.read_message(auth.account_id, &no, false, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    let flash = q.acked.map(|_| "已确认。请尽快按提示就医，如有疑问请致电科室。");
    Ok(MessagePage { hospital: c.hospital, big_text: c.big_text, back: c.back, body: with_phones(&m.body), m: MessageDto::of(&m), flash }.into_response())
}

pub async fn acknowledge(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    if !plain(&no) {
        return Err(ErrorCode::NotFound.into());
    }
    st.app.read_message(auth.account_id, &no, true, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    Ok(Redirect::to(&format!("/messages/{no}?acked=1")).into_response())
}

/// One category row of the settings page.
pub struct PreferenceRow {
    pub code: &'static str,
    pub label: &'static str,
    pub muted: bool,
    /// Scenes in it, and whether any is critical (those are always sent).
    pub scenes: String,
    pub has_critical: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "message_settings.html")]
struct SettingsPage {
    hospital: String,
    big_text: bool,
    back: String,
    rows: Vec<PreferenceRow>,
    flash: Option<&'static str>,
}

async fn preference_rows(st: &WebState, account_id: i64) -> Result<Vec<PreferenceRow>, AppError> {
    let muted = st.app.muted_categories(account_id).await?;
    Ok(Category::ALL
        .iter()
        .map(|c| {
            let scenes: Vec<_> = domain::messages::SCENES.iter().filter(|s| s.category == *c).collect();
            PreferenceRow {
                code: c.as_str(),
                label: c.label_zh(),
                muted: muted.iter().any(|m| m == c.as_str()),
                scenes: scenes.iter().map(|s| s.name_zh).collect::<Vec<_>>().join("、"),
                has_critical: scenes.iter().any(|s| s.criticality == Criticality::Critical),
            }
        })
        .collect())
}

#[derive(Deserialize)]
pub struct SettingsQuery {
    saved: Option<String>,
}

pub async fn settings(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<SettingsQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/messages");
    let rows = preference_rows(&st, auth.account_id).await?;
    Ok(SettingsPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        rows,
        flash: q.saved.map(|_| "已保存。重要通知（如停诊、缴费结果、危急值）仍会及时提醒您。"),
    }
    .into_response())
}

/// The form sends the categories to keep pushing (checked boxes); the rest are muted.
pub async fn save_settings(State(st): State<WebState>, auth: PatientAuth, Form(form): Form<Vec<(String, String)>>) -> Result<Response, AppError> {
    let on: Vec<&str> = form.iter().filter(|(k, _)| k == "push").map(|(_, v)| v.as_str()).collect();
    for c in Category::ALL {
        st.app.set_preference(auth.account_id, c.as_str(), !on.contains(&c.as_str())).await?;
    }
    Ok(Redirect::to("/messages/settings?saved=1").into_response())
}

// --- JSON API ---------------------------------------------------------------------------

#[derive(Deserialize, utoipa::IntoParams)]
pub struct ListParams {
    /// Messages older than this message id (paging).
    pub before: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct InboxDto {
    pub unread: u64,
    pub messages: Vec<MessageDto>,
    /// Pass as `before` for the next page.
    pub next_before: Option<i64>,
}

#[utoipa::path(get, path = "/api/v1/me/messages", tag = "messages", params(ListParams), responses((status = 200, body = InboxDto), (status = 401, body = crate::error::ErrorBody)))]
pub async fn api_inbox(State(st): State<WebState>, auth: PatientAuth, Query(q): Query<ListParams>) -> Result<Response, AppError> {
    let p = st.app.inbox_page(auth.account_id, q.before, PAGE).await?;
    Ok(axum::Json(InboxDto { unread: p.unread, messages: p.messages.iter().map(MessageDto::of).collect(), next_before: p.next_before }).into_response())
}

#[utoipa::path(get, path = "/api/v1/me/messages/{message_no}", tag = "messages", params(("message_no" = String, Path, description = "Message number")),
    responses((status = 200, body = MessageDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn api_get(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    api_read(&st, &auth, &cid, &no, false).await
}

/// Reads (and with `ack`, acknowledges) one of the account's messages.
async fn api_read(st: &WebState, auth: &PatientAuth, cid: &CorrelationId, no: &str, ack: bool) -> Result<Response, AppError> {
    if !plain(no) {
        return Err(ErrorCode::NotFound.into());
    }
    let m = st.app.read_message(auth.account_id, no, ack, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    Ok(axum::Json(MessageDto::of(&m)).into_response())
}

#[utoipa::path(post, path = "/api/v1/me/messages/{message_no}/ack", tag = "messages", params(("message_no" = String, Path, description = "Message number")),
    responses((status = 200, body = MessageDto), (status = 404, body = crate::error::ErrorBody)))]
pub async fn api_ack(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    api_read(&st, &auth, &cid, &no, true).await
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct PreferenceDto {
    /// booking, payment, report, inpatient, medicine, care or hospital.
    pub category: String,
    pub label: Option<String>,
    pub muted: bool,
    /// Critical notices of the category are sent even when it is muted.
    pub has_critical: Option<bool>,
}

#[utoipa::path(get, path = "/api/v1/me/message-preferences", tag = "messages", responses((status = 200, body = [PreferenceDto])))]
pub async fn api_preferences(State(st): State<WebState>, auth: PatientAuth) -> Result<Response, AppError> {
    let rows: Vec<PreferenceDto> = preference_rows(&st, auth.account_id)
        .await?
        .into_iter()
        .map(|r| PreferenceDto { category: r.code.into(), label: Some(r.label.into()), muted: r.muted, has_critical: Some(r.has_critical) })
        .collect();
    Ok(axum::Json(rows).into_response())
}

#[utoipa::path(put, path = "/api/v1/me/message-preferences", tag = "messages", request_body = PreferenceDto,
    responses((status = 200, body = [PreferenceDto]), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_set_preference(
    State(st): State<WebState>,
    auth: PatientAuth,
    crate::api::ApiJson(p): crate::api::ApiJson<PreferenceDto>,
) -> Result<Response, AppError> {
    st.app.set_preference(auth.account_id, &p.category, p.muted).await?;
    api_preferences(State(st), auth).await
}

impl MessageDto {
    pub fn is_critical(&self) -> bool {
        self.criticality == Criticality::Critical.as_str()
    }
    /// Whether its link leads somewhere other than this message itself.
    pub fn opens_elsewhere(&self) -> bool {
        self.link != format!("/messages/{}", self.message_no)
    }
}

#[cfg(test)]
mod tests {
    use super::with_phones;

    #[test]
    fn telephone_numbers_are_found_and_nothing_else() {
        let parts = with_phones("如有疑问请致电检验科 0755-83366388 或 13800138000，预约号 RG2026112600001，排队号 12。");
        let phones: Vec<&str> = parts.iter().filter(|p| p.1).map(|p| p.0.as_str()).collect();
        assert_eq!(phones, ["0755-83366388", "13800138000"]);
        assert_eq!(
            parts.iter().map(|p| p.0.as_str()).collect::<String>(),
            "如有疑问请致电检验科 0755-83366388 或 13800138000，预约号 RG2026112600001，排队号 12。"
        );
        assert!(with_phones("金额 1234.56 元，2026-11-26").iter().all(|p| !p.1), "amounts and dates are not numbers to call");
    }
}
