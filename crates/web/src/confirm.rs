//! Irreversible actions ask first. A form that cancels, removes, releases, marks or
//! refunds is posted once without `confirmed`: the handler answers with a page that names
//! exactly what will happen (who, what, how much, back to which channel) and posts the
//! same fields again with `confirmed=1`. It needs no script, so it works under the site's
//! CSP (`script-src 'self'`), in WeChat's web view and for a screen reader alike; nothing
//! changes until the second post.
use crate::pages::Chrome;
use askama::Template;
use askama_web::WebTemplate;
use axum::response::{IntoResponse, Response};

/// What the confirmation page says and what it posts.
pub struct Confirmation {
    pub title: String,
    /// (label, value) of the thing acted on.
    pub facts: Vec<(String, String)>,
    /// What happens when confirmed, in one or two sentences.
    pub consequence: String,
    /// Where the confirmed form posts (the original action).
    pub action: String,
    /// The original form's fields, posted again.
    pub fields: Vec<(String, String)>,
    pub confirm_label: String,
    /// The verb for "返回，不…" (退号, 移除, 发布 …).
    pub verb: String,
    pub back: String,
    /// The confirmation itself takes a fresh second factor (staff refunds, S6).
    pub step_up: bool,
    /// Why the last confirmation was not taken (a wrong code): the page is shown again.
    pub error: Option<&'static str>,
}

impl Confirmation {
    pub fn new(title: &str, action: impl Into<String>, back: impl Into<String>, verb: &str) -> Self {
        Self {
            title: title.into(),
            facts: vec![],
            consequence: String::new(),
            action: action.into(),
            fields: vec![],
            confirm_label: format!("确认{verb}"),
            verb: verb.into(),
            back: back.into(),
            step_up: false,
            error: None,
        }
    }
    pub fn fact(mut self, label: &str, value: impl Into<String>) -> Self {
        self.facts.push((label.into(), value.into()));
        self
    }
    pub fn consequence(mut self, text: impl Into<String>) -> Self {
        self.consequence = text.into();
        self
    }
    pub fn field(mut self, name: &str, value: impl Into<String>) -> Self {
        self.fields.push((name.into(), value.into()));
        self
    }
    pub fn confirm_label(mut self, label: impl Into<String>) -> Self {
        self.confirm_label = label.into();
        self
    }
    pub fn step_up(mut self) -> Self {
        self.step_up = true;
        self
    }
    pub fn error(mut self, message: Option<&'static str>) -> Self {
        self.error = message;
        self
    }

    /// The page in the patient frame.
    pub fn patient_page(self, c: Chrome) -> Response {
        PatientConfirm { hospital: c.hospital, big_text: c.big_text, back: c.back, c: self }.into_response()
    }

    /// The page in the staff console's frame.
    pub fn staff_page(self, hospital: &str) -> Response {
        StaffConfirm { hospital: hospital.to_owned(), c: self }.into_response()
    }
}

/// Whether a posted form carries the confirmation.
pub fn confirmed(value: Option<&str>) -> bool {
    value == Some("1")
}

/// Whether a form body (possibly empty, as the action buttons post it) carries the
/// confirmation.
pub fn confirmed_in(body: &[u8]) -> bool {
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(body).is_ok_and(|pairs| pairs.iter().any(|(k, v)| k == "confirmed" && v == "1"))
}

#[derive(Template, WebTemplate)]
#[template(path = "confirm.html")]
struct PatientConfirm {
    hospital: String,
    big_text: bool,
    back: String,
    c: Confirmation,
}

#[derive(Template, WebTemplate)]
#[template(path = "staff_confirm.html")]
struct StaffConfirm {
    hospital: String,
    c: Confirmation,
}
