//! What every patient page shares (server-rendered, mobile first, Chinese): the frame,
//! the error page, the home page and the large-text switch for elderly patients. The
//! pages of each service live in the module named after it (`identity`, `registration` …).
use crate::WebState;
use crate::auth::{PatientAuth, read_cookie, safe_next};
use crate::error::AppError;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use domain::ErrorCode;
use serde::Deserialize;

pub const TEXT_SIZE_COOKIE: &str = "cb_text";

/// What every patient page's frame needs.
pub struct Chrome {
    pub hospital: String,
    pub big_text: bool,
    pub back: String,
}

impl Chrome {
    pub fn new(st: &WebState, headers: &HeaderMap, back: &str) -> Self {
        Self { hospital: st.hospital_name.clone(), big_text: read_cookie(headers, TEXT_SIZE_COOKIE).as_deref() == Some("large"), back: back.to_owned() }
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    hospital: &'a str,
    big_text: bool,
    back: &'a str,
    code: &'a str,
    message: &'a str,
    correlation_id: &'a str,
}

pub fn error_page(code: ErrorCode, correlation_id: &str) -> String {
    ErrorPage { hospital: crate::hospital_name_for_errors(), big_text: false, back: "/", code: code.code(), message: code.message_zh(), correlation_id }
        .render()
        .unwrap_or_else(|_| format!("{} ({})", code.message_zh(), code.code()))
}

pub struct PatientCard {
    pub name_masked: String,
    pub insurance: &'static str,
    pub mr_no: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "home.html")]
struct HomePage {
    hospital: String,
    big_text: bool,
    back: String,
    greeting: Option<String>,
    current: Option<PatientCard>,
    unread: u64,
    /// Unacknowledged critical values: (message number, title), pinned on top.
    critical: Vec<(String, String)>,
}

pub async fn home(State(st): State<WebState>, headers: HeaderMap, auth: Option<PatientAuth>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let (greeting, current, unread, critical) = match auth {
        None => (None, None, 0, vec![]),
        Some(a) => {
            let o = st.app.home_overview(a.account_id).await?;
            let current =
                o.first_patient.map(|p| PatientCard { insurance: app::App::insurance_label(&p.insurance_kind), name_masked: p.name_masked, mr_no: p.mr_no });
            (Some(o.nickname.unwrap_or_else(|| "微信用户".into())), current, o.unread_messages, o.pending_critical)
        }
    };
    Ok(HomePage { hospital: c.hospital, big_text: c.big_text, back: c.back, greeting, current, unread, critical }.into_response())
}

#[derive(Deserialize)]
pub struct TextSize {
    size: String,
    back: Option<String>,
}

pub async fn text_size(Query(q): Query<TextSize>) -> Response {
    let value = if q.size == "large" { "large" } else { "normal" };
    let back = safe_next(q.back.as_deref().unwrap_or("/"));
    let mut r = Redirect::to(&back).into_response();
    // A display preference, not a secret: readable by nothing but the server anyway.
    r.headers_mut().append(header::SET_COOKIE, format!("{TEXT_SIZE_COOKIE}={value}; Path=/; Max-Age=31536000; SameSite=Lax").parse().expect("ascii"));
    r
}
