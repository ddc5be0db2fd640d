//! Inpatient services (BED, OTH-3): my stay — ward, bed, deposit and charges — and topping
//! up the deposit (住院押金补缴), which opens an order paid on the ordinary pay page.
pub mod admission_booking;

use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Extension, Form, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use domain::Fen;
use domain::format::{TimeStyle, local_time, yuan};
use serde::Deserialize;

pub struct StayView {
    pub doctor: String,
    pub nurse: String,
    pub diagnosis: String,
    pub deposit_list: Vec<DepositView>,
    pub ward: String,
    pub bed: String,
    pub admitted: String,
    pub deposits: String,
    pub charges: String,
    pub balance: String,
    /// The level the balance fell under, when low by the hospital's rule.
    pub low: Option<String>,
    /// Charges exceed the deposits: `balance` is then what is owed.
    pub arrears: bool,
    pub closed: bool,
    /// Settled (on the phone or at the window).
    pub settled: bool,
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
            doctor: s.doctor.clone(),
            nurse: s.nurse.clone(),
            diagnosis: s.diagnosis.clone(),
            deposit_list: o.deposits.iter().map(deposit_view).collect(),
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
            low: o.low.map(|l| yuan(l.threshold)),
            closed: s.account_closed,
            settled: s.settled_at.is_some(),
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
    /// The lines' own sum when it differs from the HIS's total.
    mismatch: Option<String>,
    /// (class, amount, self-pay part)
    classes: Vec<(&'static str, String, String)>,
    /// The same over the whole stay so far, and its total.
    stay_classes: Vec<(&'static str, String, String)>,
    stay_total: String,
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
        mismatch: (!d.list.adds_up()).then(|| yuan(d.list.lines_total())),
        classes: domain::inpatient::class_totals(&d.list.items).into_iter().map(|(c, a, s)| (c.label_zh(), yuan(a), yuan(s))).collect(),
        stay_total: yuan(Fen(d.stay_classes.iter().map(|x| x.1.0).sum())),
        stay_classes: d.stay_classes.iter().map(|(c, a, s)| (c.label_zh(), yuan(*a), yuan(*s))).collect(),
    };
    Ok(page.into_response())
}

/// A deposit as the discharge page lists it.
pub struct DepositView {
    pub paid_at: String,
    pub amount: String,
    pub channel: &'static str,
    pub payer: String,
}

fn deposit_view(d: &domain::inpatient::DepositPayment) -> DepositView {
    DepositView { paid_at: local_time(d.paid_at, TimeStyle::Minute), amount: yuan(d.amount), channel: d.channel.label_zh(), payer: d.payer.clone() }
}

/// One part of the surplus as the pages list it.
pub struct RefundView {
    pub deposit_no: String,
    pub channel: &'static str,
    pub amount: String,
    /// 原路退回 / 窗口退还, and how far it got.
    pub how: &'static str,
    pub progress: &'static str,
}

fn refund_view(p: &domain::inpatient::SurplusPart, order_state: Option<domain::billing::OrderState>) -> RefundView {
    use domain::billing::OrderState as S;
    RefundView {
        deposit_no: p.deposit_no.clone(),
        channel: p.channel.label_zh(),
        amount: yuan(p.amount),
        how: if p.at_window() { "到出院结算窗口领取" } else { "原路退回" },
        progress: match (p.at_window(), order_state) {
            (true, _) => "请于工作日8:00–17:30到住院部1楼出院结算窗口领取",
            (false, Some(S::Refunding)) => "退款处理中",
            (false, Some(S::Refunded | S::PartiallyRefunded)) => "已退回，1–7个工作日到账",
            (false, _) => "待退款",
        },
    }
}

/// The quote as the page shows it.
pub struct QuoteView {
    pub pre_settle_id: String,
    pub total: String,
    pub fund: String,
    pub funds: Vec<(String, String)>,
    pub personal_account: String,
    pub self_pay: String,
    /// (全自费, 先行自付, 起付线) when insured.
    pub self_pay_parts: Option<(String, String, String)>,
    pub deposits_held: String,
    pub deposits: Vec<DepositView>,
    pub refund: Option<String>,
    pub due: Option<String>,
    pub parts: Vec<RefundView>,
}

#[derive(Template, WebTemplate)]
#[template(path = "inpatient_discharge.html")]
struct DischargePage {
    hospital: String,
    big_text: bool,
    back: String,
    patient_id: i64,
    patient: String,
    ward_bed: String,
    admitted: String,
    closed: bool,
    settled_elsewhere: bool,
    /// The platform's attempt under way or done: (number, state label).
    current: Option<(String, &'static str)>,
    quote: Option<QuoteView>,
    error: Option<&'static str>,
}

/// 出院结算 (BED-1): the HIS's final figures, the insurance split and what goes back where
/// (or what is due), before anything is paid.
pub async fn discharge(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Query(q): Query<WhoQuery>) -> Result<Response, AppError> {
    let Some(patient) = q.patient else { return Ok(Redirect::to("/inpatient").into_response()) };
    let Some(v) = st.app.discharge_view(auth.account_id, patient).await? else {
        return Ok(Redirect::to(&format!("/inpatient?patient={patient}")).into_response());
    };
    let c = Chrome::new(&st, &headers, &format!("/inpatient?patient={patient}"));
    use domain::inpatient::DischargeState;
    let ours_settled = v.discharge.as_ref().is_some_and(|d| d.state == DischargeState::Settled);
    let quote = v.quote.map(|(q, balance, parts)| {
        use domain::inpatient::DischargeBalance as B;
        QuoteView {
            pre_settle_id: q.pre_settle_id.clone(),
            total: yuan(q.total),
            fund: yuan(q.fund),
            funds: q.insurance.as_ref().map(|i| i.funds.iter().map(|(n, a)| (n.clone(), yuan(*a))).collect()).unwrap_or_default(),
            personal_account: yuan(q.personal_account),
            self_pay: yuan(q.self_pay),
            self_pay_parts: q.insurance.as_ref().map(|i| (yuan(i.full_self_pay), yuan(i.pre_self_pay), yuan(i.deductible))),
            deposits_held: yuan(q.deposits_held()),
            deposits: q.deposits.iter().map(deposit_view).collect(),
            refund: match balance {
                B::Refund(a) => Some(yuan(a)),
                _ => None,
            },
            due: match balance {
                B::Due(a) => Some(yuan(a)),
                _ => None,
            },
            parts: parts.iter().map(|p| refund_view(p, None)).collect(),
        }
    });
    let page = DischargePage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        patient_id: patient,
        patient: v.patient.name_masked.clone(),
        ward_bed: format!("{} · {}", v.stay.ward, v.stay.bed),
        admitted: local_time(v.stay.admitted_at, TimeStyle::Date),
        closed: v.stay.account_closed,
        settled_elsewhere: v.stay.settled_at.is_some() && !ours_settled,
        current: v
            .discharge
            .filter(|d| matches!(d.state, DischargeState::AwaitingPayment | DischargeState::Settling | DischargeState::Settled))
            .map(|d| (d.discharge_no, d.state.label_zh())),
        quote,
        error: crate::error::message_of(q.error.as_deref()),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct DischargeForm {
    patient_id: i64,
    #[serde(default)]
    pre_settle_id: String,
    confirmed: Option<String>,
}

/// Confirms the discharge settlement: asks first (naming the amounts and where they go),
/// then settles, or opens the balance order when something is due.
pub async fn confirm_discharge(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Form(f): Form<DischargeForm>,
) -> Result<Response, AppError> {
    let page = format!("/inpatient/discharge?patient={}", f.patient_id);
    if crate::confirm::confirmed(f.confirmed.as_deref()) {
        let actor = Actor::patient_account(auth.account_id, &cid.0);
        return Ok(match st.app.confirm_discharge(auth.account_id, f.patient_id, &f.pre_settle_id, &actor).await {
            Ok((_, Some(order_no))) => Redirect::to(&format!("/pay/{order_no}")).into_response(),
            Ok((no, None)) => Redirect::to(&format!("/inpatient/discharge/{no}")).into_response(),
            Err(e) if e.code == domain::ErrorCode::NotFound => return Err(e.into()),
            Err(e) => Redirect::to(&format!("{page}&error={}", e.code.code())).into_response(),
        });
    }
    let Some(v) = st.app.discharge_view(auth.account_id, f.patient_id).await? else { return Ok(Redirect::to(&page).into_response()) };
    // Already under way (another phone, a page left open): to where it stands.
    if let Some(d) = v.discharge.as_ref().filter(|d| d.state.is_active()) {
        return Ok(match (&d.order_no, d.state) {
            (Some(o), domain::inpatient::DischargeState::AwaitingPayment) => Redirect::to(&format!("/pay/{o}")),
            _ => Redirect::to(&format!("/inpatient/discharge/{}", d.discharge_no)),
        }
        .into_response());
    }
    let Some((q, balance, parts)) = v.quote.filter(|q| q.0.pre_settle_id == f.pre_settle_id) else {
        return Ok(Redirect::to(&format!("{page}&error={}", domain::ErrorCode::DischargeQuoteChanged.code())).into_response());
    };
    use domain::inpatient::DischargeBalance as B;
    let consequence = match balance {
        B::Refund(a) => {
            let online: i64 = parts.iter().filter(|p| !p.at_window()).map(|p| p.amount.0).sum();
            let window = a.0 - online;
            let mut s = format!("医院将完成出院结算，押金余额 ¥{} 退还给您", yuan(a));
            if online > 0 {
                s += &format!("：¥{} 原路退回支付账户", yuan(Fen(online)));
            }
            if window > 0 {
                s += &format!("{}¥{} 请到住院部1楼出院结算窗口领取", if online > 0 { "，" } else { "：" }, yuan(Fen(window)));
            }
            s + "。结算后不能在手机上撤销。"
        }
        B::Due(a) => format!("押金不足以支付自付费用，需补缴 ¥{}；支付成功后医院完成出院结算，结算后不能在手机上撤销。", yuan(a)),
        B::Even => "押金正好支付自付费用，医院将完成出院结算，结算后不能在手机上撤销。".to_owned(),
    };
    let c = Chrome::new(&st, &headers, &page);
    let conf = crate::confirm::Confirmation::new("确认出院结算", "/inpatient/discharge", page, "结算")
        .fact("就诊人", v.patient.name_masked.clone())
        .fact("病区床位", format!("{} · {}", v.stay.ward, v.stay.bed))
        .fact("住院总费用", format!("¥{}", yuan(q.total)))
        .fact("医保基金支付", format!("¥{}", yuan(q.fund)))
        .fact("个人自付", format!("¥{}", yuan(q.self_pay)))
        .fact("已交押金", format!("¥{}", yuan(q.deposits_held())))
        .consequence(consequence)
        .field("patient_id", f.patient_id.to_string())
        .field("pre_settle_id", f.pre_settle_id.clone())
        .confirm_label(match balance {
            B::Due(a) => format!("确认并补缴 ¥{}", yuan(a)),
            _ => "确认出院结算".to_owned(),
        });
    Ok(conf.patient_page(c))
}

#[derive(Template, WebTemplate)]
#[template(path = "inpatient_discharge_result.html")]
struct DischargeResultPage {
    hospital: String,
    big_text: bool,
    back: String,
    no: String,
    patient: String,
    state: &'static str,
    settled: bool,
    elsewhere: bool,
    failed: bool,
    total: String,
    fund: String,
    self_pay: String,
    deposits: String,
    refund: Option<String>,
    paid: Option<String>,
    invoice_no: String,
    settled_at: String,
    refunds: Vec<RefundView>,
    summary: Option<SummaryView>,
}

pub struct SummaryView {
    pub admitted: String,
    pub discharged: String,
    pub admission_diagnosis: String,
    pub discharge_diagnosis: String,
    pub course: String,
    pub condition: String,
    pub advice: String,
    pub medicines: Vec<domain::ports::TakeHomeMedicine>,
    pub follow_up: Option<(String, String)>,
    pub doctor: String,
}

/// The discharge's result: where it stands, each refund's progress, and once settled the
/// 出院小结 with the medicines to take home and the follow-up visit.
pub async fn discharge_result(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    discharge_no(&no)?;
    let r = st.app.discharge_result(auth.account_id, &no, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    let d = &r.discharge;
    use domain::inpatient::DischargeState as S;
    let c = Chrome::new(&st, &headers, &format!("/inpatient?patient={}", d.patient_id));
    let page = DischargeResultPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        no: d.discharge_no.clone(),
        patient: r.patient.name_masked.clone(),
        state: d.state.label_zh(),
        settled: d.state == S::Settled,
        elsewhere: d.state == S::SettledElsewhere,
        failed: d.state == S::Failed,
        total: yuan(d.total),
        fund: yuan(d.fund),
        self_pay: yuan(d.self_pay),
        deposits: yuan(d.deposits_held),
        refund: (d.balance.0 > 0).then(|| yuan(d.balance)),
        paid: (d.balance.0 < 0).then(|| yuan(Fen(-d.balance.0))),
        invoice_no: d.invoice_no.clone().unwrap_or_default(),
        settled_at: d.settled_at.map(|t| local_time(t, TimeStyle::Minute)).unwrap_or_default(),
        refunds: r.refunds.iter().map(|x| refund_view(&x.part, x.order_state)).collect(),
        summary: r.summary.map(|s| SummaryView {
            admitted: s.admitted_on.format("%Y-%m-%d").to_string(),
            discharged: s.discharged_on.format("%Y-%m-%d").to_string(),
            admission_diagnosis: s.admission_diagnosis,
            discharge_diagnosis: s.discharge_diagnosis,
            course: s.course,
            condition: s.condition,
            advice: s.advice,
            medicines: s.medicines,
            follow_up: s.follow_up.map(|(d, p)| (d.format("%Y-%m-%d").to_string(), p)),
            doctor: s.doctor,
        }),
    };
    Ok(page.into_response())
}

/// The 出院小结 as a PDF to save or print.
pub async fn discharge_summary_pdf(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
) -> Result<Response, AppError> {
    discharge_no(&no)?;
    let (name, pdf) = st.app.discharge_summary_pdf(auth.account_id, &no, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    Ok(crate::reports::file_response(pdf, "application/pdf", &name, false))
}

/// A discharge number as the routes take it: anything else is not found, before any lookup.
fn discharge_no(no: &str) -> Result<(), AppError> {
    if no.len() > 40 || !no.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(domain::ErrorCode::NotFound.into());
    }
    Ok(())
}
