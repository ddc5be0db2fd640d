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

/// One line of the day list as the page shows it.
pub struct FeeLineView {
    pub name: String,
    pub spec: String,
    pub qty: u32,
    pub price: String,
    pub amount: String,
    pub class: &'static str,
    pub self_pay: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "inpatient_fees.html")]
struct FeeDayPage {
    hospital: String,
    big_text: bool,
    back: String,
    patient_id: i64,
    patient: String,
    ward_bed: String,
    date: String,
    day_no: i64,
    prev: Option<String>,
    next: Option<String>,
    first: String,
    last: String,
    lines: Vec<FeeLineView>,
    total: String,
    /// (class, amount, self-pay part)
    classes: Vec<(&'static str, String, String)>,
}

#[derive(Deserialize)]
pub struct FeeDayQuery {
    patient: i64,
    date: Option<String>,
}

/// 住院日清单 (OTH-4): one day of the stay per page, a day's move at a time or by date, so
/// a 60-day stay pages without loading it all.
pub async fn fee_day(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<FeeDayQuery>) -> Result<Response, AppError> {
    let date = q.date.as_deref().and_then(|d| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
    let Some(d) = st.app.inpatient_fee_day(auth.account_id, q.patient, date).await? else {
        // Not (or no longer) in hospital: the inpatient page says so.
        return Ok(axum::response::Redirect::to(&format!("/inpatient?patient={}", q.patient)).into_response());
    };
    let c = Chrome::new(&st, &headers, &format!("/inpatient?patient={}", q.patient));
    let day = d.list.date;
    let link = |x: chrono::NaiveDate| x.format("%Y-%m-%d").to_string();
    let page = FeeDayPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patient_id: q.patient,
        patient: d.patient.name_masked.clone(),
        ward_bed: format!("{} · {}", d.stay.ward, d.stay.bed),
        date: link(day),
        day_no: domain::inpatient::day_of_stay(d.first_day, day),
        prev: (day > d.first_day).then(|| link(day - chrono::Duration::days(1))),
        next: (day < d.last_day).then(|| link(day + chrono::Duration::days(1))),
        first: link(d.first_day),
        last: link(d.last_day),
        lines: d
            .list
            .items
            .iter()
            .map(|l| FeeLineView {
                name: l.item.name.clone(),
                spec: l.spec.clone(),
                qty: l.item.qty,
                price: yuan(l.item.unit_price),
                amount: yuan(l.item.amount),
                class: l.class.label_zh(),
                self_pay: yuan(l.self_pay()),
            })
            .collect(),
        total: yuan(d.list.total),
        classes: domain::inpatient::class_totals(&d.list.items).into_iter().map(|(c, a, s)| (c.label_zh(), yuan(a), yuan(s))).collect(),
    };
    Ok(page.into_response())
}
