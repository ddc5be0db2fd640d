//! The visiting card (就诊卡, OTH-2/OTH-3): its stored value, and recharging it
//! (就诊卡充值), which opens an order paid on the ordinary pay page.
use crate::WebState;
use crate::auth::{FreshPatientAuth, PatientAuth};
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::format::yuan;
use serde::Deserialize;

use crate::inpatient::{AmountForm, WhoQuery, amount};

#[derive(Template, WebTemplate)]
#[template(path = "card.html")]
struct CardPage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<(i64, String)>,
    current: i64,
    card: Option<(String, String)>,
    /// (barcode, QR) image URIs of the virtual card.
    codes: Option<(String, String)>,
    /// The card shown is a bound plastic card.
    physical: bool,
    trades: Vec<TradeView>,
    error: Option<&'static str>,
}

pub struct TradeView {
    pub at: String,
    pub kind: &'static str,
    pub amount: String,
    pub note: String,
}

pub async fn card(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<WhoQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let o = st.app.card_overview(auth.account_id, q.patient).await?;
    let physical = o.card.as_ref().is_some_and(|a| a.physical);
    let card = o.card.map(|a| (a.card_no, yuan(a.balance)));
    let trades = o
        .trades
        .iter()
        .map(|t| TradeView {
            at: domain::format::local_time(t.at, domain::format::TimeStyle::ShortMinute),
            kind: t.kind.label_zh(),
            amount: format!("{}¥{}", if t.amount.is_negative() { "-" } else { "+" }, yuan(domain::Fen(t.amount.0.saturating_abs()))),
            note: t.note.clone(),
        })
        .collect();
    let page = CardPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patients: crate::inpatient::choices(&o.patients, st.app.today()),
        current: o.current.map(|p| p.id).unwrap_or_default(),
        card,
        codes: o.codes,
        physical,
        trades,
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

pub async fn recharge(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<AmountForm>,
) -> Result<Response, AppError> {
    Ok(match st.app.order_for_card(auth.account_id, f.patient_id, amount(&f), &Actor::patient_account(auth.account_id, &cid.0)).await {
        Ok(no) => Redirect::to(&format!("/pay/{no}")).into_response(),
        Err(e) => Redirect::to(&format!("/card?patient={}&error={}", f.patient_id, e.code.code())).into_response(),
    })
}

#[derive(Deserialize)]
pub struct BindForm {
    patient_id: i64,
    #[serde(default)]
    card_no: String,
}

/// Binds a plastic visiting card the patient already holds instead of the virtual one.
pub async fn bind(
    State(st): State<WebState>,
    FreshPatientAuth(auth): FreshPatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<BindForm>,
) -> Result<Response, AppError> {
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.bind_physical_card(auth.account_id, f.patient_id, &f.card_no, &actor).await {
        Ok(_) => Redirect::to(&format!("/card?patient={}", f.patient_id)).into_response(),
        Err(e) if e.code == domain::ErrorCode::NotFound => return Err(e.into()),
        Err(e) => Redirect::to(&format!("/card?patient={}&error={}", f.patient_id, e.code.code())).into_response(),
    })
}
