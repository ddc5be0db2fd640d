//! Paying in ahead: 住院押金补缴 (the inpatient deposit, with the stay's balance) and
//! 就诊卡充值 (the visiting card's stored value). Both open an order and continue on the
//! ordinary pay page.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::{Fen, notify::yuan};
use serde::Deserialize;

pub struct StayView {
    pub ward: String,
    pub bed: String,
    pub admitted: String,
    pub deposits: String,
    pub charges: String,
    pub balance: String,
    pub low: bool,
    pub closed: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "inpatient.html")]
struct InpatientPage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<(i64, String)>,
    current: i64,
    stay: Option<StayView>,
    error: Option<&'static str>,
}

#[derive(Deserialize)]
pub struct WhoQuery {
    patient: Option<i64>,
    error: Option<String>,
}

async fn pick(st: &WebState, account_id: i64, wanted: Option<i64>) -> Result<(Vec<(i64, String)>, Option<store::identity::PatientSummary>), AppError> {
    let list = st.app.list_patients(account_id).await?;
    let current = wanted.and_then(|id| list.iter().find(|p| p.id == id)).or(list.first()).cloned();
    Ok((list.iter().map(|p| (p.id, p.name_masked.clone())).collect(), current))
}

pub async fn inpatient(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<WhoQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let (patients, current) = pick(&st, auth.account_id, q.patient).await?;
    let stay = match &current {
        Some(p) => st.app.his.inpatient_stay(&p.his_patient_id).await?.map(|s| {
            let balance = s.deposit_balance.0 - s.charges_to_date.0;
            StayView {
                ward: s.ward,
                bed: s.bed,
                admitted: domain::clock::to_local(s.admitted_at).format("%Y-%m-%d").to_string(),
                deposits: yuan(s.deposit_balance.0),
                charges: yuan(s.charges_to_date.0),
                balance: yuan(balance),
                low: balance < 100_000,
                closed: s.account_closed,
            }
        }),
        None => None,
    };
    let page = InpatientPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patients,
        current: current.map(|p| p.id).unwrap_or_default(),
        stay,
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct AmountForm {
    patient_id: i64,
    #[serde(default)]
    amount_yuan: String,
}

fn amount(f: &AmountForm) -> Fen {
    Fen(f.amount_yuan.trim().parse::<i64>().ok().filter(|y| (1..=1_000_000).contains(y)).map_or(0, |y| y * 100))
}

pub async fn top_up(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<AmountForm>,
) -> Result<Response, AppError> {
    Ok(match st.app.order_for_deposit(auth.account_id, f.patient_id, amount(&f), &Actor::patient_account(auth.account_id, &cid.0)).await {
        Ok(no) => Redirect::to(&format!("/pay/{no}")).into_response(),
        Err(e) => Redirect::to(&format!("/inpatient?patient={}&error={}", f.patient_id, e.code.code())).into_response(),
    })
}

#[derive(Template, WebTemplate)]
#[template(path = "card.html")]
struct CardPage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<(i64, String)>,
    current: i64,
    card: Option<(String, String)>,
    error: Option<&'static str>,
}

pub async fn card(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<WhoQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let (patients, current) = pick(&st, auth.account_id, q.patient).await?;
    let card = match &current {
        Some(p) => st.app.his.card_account(&p.his_patient_id).await?.map(|a| (a.card_no, yuan(a.balance.0))),
        None => None,
    };
    let page = CardPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patients,
        current: current.map(|p| p.id).unwrap_or_default(),
        card,
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
