//! Inpatient services (BED, OTH-3): my stay — ward, bed, deposit and charges — and topping
//! up the deposit (住院押金补缴), which opens an order paid on the ordinary pay page.
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
use domain::Fen;
use domain::format::{TimeStyle, local_time, yuan};
use serde::Deserialize;

pub struct StayView {
    pub ward: String,
    pub bed: String,
    pub admitted: String,
    pub deposits: String,
    pub charges: String,
    pub balance: String,
    pub low: bool,
    /// Charges exceed the deposits: `balance` is then what is owed.
    pub arrears: bool,
    pub closed: bool,
    /// 住院第N天.
    pub day: i64,
    /// (average of the recent days, how many days it averages, whole days the balance lasts).
    pub estimate: Option<(String, usize, i64)>,
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
    pub(crate) patient: Option<i64>,
    pub(crate) error: Option<String>,
}

/// The 就诊人 picker's choices: (id, what tells them apart to the account's owner).
pub(crate) fn choices(patients: &[app::identity::PatientSummary], today: chrono::NaiveDate) -> Vec<(i64, String)> {
    patients.iter().map(|p| (p.id, p.own_label(today))).collect()
}

pub async fn inpatient(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<WhoQuery>) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/");
    let o = st.app.inpatient_overview(auth.account_id, q.patient).await?;
    let recent: Vec<Fen> = o.recent_days.iter().map(|d| d.1).collect();
    let today = st.app.today();
    let stay = o.stay.map(|s| {
        let balance = Fen(s.deposit_balance.0.saturating_sub(s.charges_to_date.0));
        let arrears = balance.is_negative();
        let admitted = domain::clock::to_local(s.admitted_at).date_naive();
        StayView {
            day: domain::inpatient::day_of_stay(admitted, today),
            estimate: domain::inpatient::days_covered(balance, &recent).map(|(avg, days)| (yuan(avg), recent.len(), days)),
            ward: s.ward,
            bed: s.bed,
            admitted: local_time(s.admitted_at, TimeStyle::Date),
            deposits: yuan(s.deposit_balance),
            charges: yuan(s.charges_to_date),
            // Owed money reads as 欠费 ¥631.00, never as a negative balance.
            balance: yuan(Fen(balance.0.saturating_abs())),
            arrears,
            low: balance.0 < 100_000,
            closed: s.account_closed,
        }
    });
    let page = InpatientPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patients: choices(&o.patients, st.app.today()),
        current: o.current.map(|p| p.id).unwrap_or_default(),
        stay,
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct AmountForm {
    pub(crate) patient_id: i64,
    #[serde(default)]
    pub(crate) amount_yuan: String,
}

pub(crate) fn amount(f: &AmountForm) -> Fen {
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
