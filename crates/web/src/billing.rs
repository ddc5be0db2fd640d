//! The patient's money pages: unpaid bills (门诊缴费), the generic "pay this order" page
//! (choose 医保 / 少儿医保 / 自费 where allowed, see the split before paying), the result
//! page that polls and never shows success before the money is confirmed, and "my
//! payments" with refunds. Failed steps come back to the pay page with the reason
//! (post/redirect/get), so a refresh never repeats a payment step.
use crate::WebState;
use crate::auth::PatientAuth;
use crate::error::AppError;
use crate::middleware::CorrelationId;
use crate::pages::Chrome;
use app::Actor;
use app::billing::PayMethod;
use app::billing::patient::PatientOrder;
use askama::Template;
use askama_web::WebTemplate;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Form, Json};
use domain::billing::{Channel, OrderState};
use domain::{DomainError, ErrorCode, Fen};
use serde::{Deserialize, Serialize};

pub fn yuan(f: Fen) -> String {
    f.to_yuan_string()
}

fn back_with(order_no: &str, e: &DomainError) -> Response {
    tracing::info!(order_no, code = e.code.code(), detail = %e.detail, "payment step refused");
    Redirect::to(&format!("/pay/{order_no}?error={}", e.code.code())).into_response()
}

/// S6 for pages: a stale sign-in goes through WeChat sign-in again (silent inside
/// WeChat) and comes back to the pay page.
fn fresh_or_reauth(st: &WebState, auth: &PatientAuth, order_no: &str) -> Option<Response> {
    st.app.require_fresh_auth(auth.authenticated_at).err().map(|_| {
        let next = format!("/pay/{order_no}");
        Redirect::to(&format!("/wx/login?next={}", domain::format::url_encode(&next))).into_response()
    })
}

/// A payment step's outcome for the browser: on to where the step leads (a cashier, the
/// authorisation), or back to the pay page with the reason.
fn onward(order_no: &str, step: Result<String, DomainError>) -> Result<Response, AppError> {
    Ok(match step {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => back_with(order_no, &e),
    })
}

pub struct BillRow {
    pub patient_id: i64,
    pub patient: String,
    pub recipe_id: String,
    pub dept: String,
    pub doctor: String,
    pub issued: String,
    pub items: Vec<(String, String)>,
    pub total: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "bills.html")]
struct BillsPage {
    hospital: String,
    big_text: bool,
    back: String,
    bills: Vec<BillRow>,
}

pub async fn bills(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/bills");
    let mut rows = Vec::new();
    for (p, bills) in st.app.patient_bills(auth.account_id).await? {
        for b in bills {
            rows.push(BillRow {
                patient_id: p.id,
                patient: p.name_masked.clone(),
                recipe_id: b.recipe_id,
                dept: b.dept_name,
                doctor: b.doctor_name,
                issued: domain::clock::to_local(b.issued_at).format("%m-%d %H:%M").to_string(),
                items: b.items.iter().map(|i| (i.name.clone(), yuan(i.amount))).collect(),
                total: yuan(b.total),
            });
        }
    }
    Ok(BillsPage { hospital: c.hospital, big_text: c.big_text, back: c.back, bills: rows }.into_response())
}

pub async fn pay_bill(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path((patient_id, recipe_id)): Path<(i64, String)>,
) -> Result<Response, AppError> {
    let no = st.app.order_for_bill(auth.account_id, patient_id, &recipe_id, &Actor::patient_account(auth.account_id, &cid.0)).await?;
    Ok(Redirect::to(&format!("/pay/{no}")).into_response())
}

/// What the pay and result pages show of an order.
pub struct OrderView {
    pub order_no: String,
    pub purpose: &'static str,
    pub patient: String,
    pub state: &'static str,
    pub state_code: &'static str,
    pub lines: Vec<(String, u32, String)>,
    pub total: String,
    pub fund: String,
    pub personal_account: String,
    pub mutual_aid: String,
    pub self_pay: String,
    pub insurance_split: bool,
    pub insurance_paid: bool,
    pub refunded: String,
    pub any_refund: bool,
    /// What went back, per channel: (where, yuan).
    pub refund_parts: Vec<(&'static str, String)>,
    /// A refund is on its way (asked, not yet confirmed by every channel).
    pub refunding: bool,
    pub created: String,
}

impl OrderView {
    pub fn of(po: &PatientOrder) -> Self {
        let o = &po.row.order;
        Self {
            order_no: po.row.order_no.clone(),
            purpose: o.purpose.label_zh(),
            patient: po.patient.name_masked.clone(),
            state: o.state.label_zh(),
            state_code: o.state.as_str(),
            lines: o.lines.iter().map(|l| (l.name.clone(), l.qty, yuan(l.amount))).collect(),
            total: yuan(o.total()),
            fund: yuan(o.split.fund),
            personal_account: yuan(o.split.personal_account),
            mutual_aid: yuan(o.split.mutual_aid),
            self_pay: yuan(o.split.self_pay),
            insurance_split: o.split.insurance().0 > 0,
            insurance_paid: o.captured.insurance.0 > 0,
            refunded: yuan(o.refunded.total()),
            any_refund: o.refunded.total().0 > 0,
            refund_parts: refund_parts(o),
            refunding: o.refund_in_flight.total().0 > 0,
            created: domain::clock::to_local(po.row.created_at).format("%Y-%m-%d %H:%M").to_string(),
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "pay.html")]
struct PayPage {
    hospital: String,
    big_text: bool,
    back: String,
    o: OrderView,
    error: Option<&'static str>,
    methods: Vec<(&'static str, &'static str, &'static str)>,
    confirm_insurance: bool,
    pay_rest: bool,
    finished: bool,
    notice: Option<InsuranceNotice>,
    child_binding_required: bool,
    /// A registration: whom and when it pays for.
    visit: Option<VisitLine>,
    /// While unpaid: how long the place (or the order) is held.
    hold: Option<Hold>,
}

/// The visit a registration fee pays for.
pub struct VisitLine {
    pub doctor: String,
    pub when: String,
    pub location: String,
}

/// The hold of an unpaid order, counted down by `pay.js` from `seconds_left` (the server's
/// clock: the browser's may be wrong); the text says the same without script.
pub struct Hold {
    pub until: String,
    pub seconds_left: i64,
    pub minutes_left: i64,
}

/// The 医保挂号异常提醒 (or the family-channel note) a page shows when INS-2 does not let
/// the patient's own insurance pay.
pub struct InsuranceNotice {
    pub reason: &'static str,
    pub advice: &'static str,
    /// The relative whose 家庭共济 grant can pay instead.
    pub grantor: Option<String>,
}

impl InsuranceNotice {
    pub fn of(e: &domain::insurance::Eligibility) -> Option<Self> {
        use domain::insurance::Eligibility;
        match e {
            Eligibility::Insurance(_) => None,
            Eligibility::Refused { refusal } if *refusal == domain::insurance::InsuranceRefusal::NotInsured => None,
            Eligibility::Refused { refusal } => Some(Self { reason: refusal.reason_zh(), advice: refusal.advice_zh(), grantor: None }),
            Eligibility::MutualAid { grantor_name_masked, refusal } => {
                Some(Self { reason: refusal.reason_zh(), advice: refusal.advice_zh(), grantor: Some(grantor_name_masked.clone()) })
            }
        }
    }
}

#[derive(Deserialize)]
pub struct ErrorQuery {
    error: Option<String>,
}

pub async fn pay_page(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Path(no): Path<String>,
    Query(q): Query<ErrorQuery>,
) -> Result<Response, AppError> {
    let po = st.app.patient_order(auth.account_id, &no).await?;
    let c = Chrome::new(&st, &headers, &format!("/pay/{no}"));
    let methods = po
        .methods
        .iter()
        .map(|m| match m {
            PayMethod::Insurance => ("insurance", m.label_zh(), "使用本人医保电子凭证，医保统筹和个人账户先行支付，剩余部分自付"),
            PayMethod::ChildInsurance => ("child_insurance", m.label_zh(), "由监护人授权使用孩子的少儿医保（亲情付），剩余部分自付"),
            PayMethod::MutualAid => ("mutual_aid", m.label_zh(), "本次不能使用本人医保统筹，可由授权您家庭共济的亲属个人账户支付医保范围内费用，剩余部分自付"),
            PayMethod::SelfPay => ("self_pay", m.label_zh(), "全部自费，通过建设银行聚合支付（微信、支付宝、银行卡）"),
        })
        .collect();
    let state = po.row.order.state;
    let page = PayPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        o: OrderView::of(&po),
        error: crate::error::message_of(q.error.as_deref()),
        methods,
        confirm_insurance: po.awaiting_insurance_confirmation,
        pay_rest: po.self_pay_pending,
        finished: !matches!(state, OrderState::Created | OrderState::Paying),
        notice: po.eligibility.as_ref().and_then(InsuranceNotice::of),
        child_binding_required: po.child_binding_required,
        visit: po.booking.as_ref().map(|b| VisitLine {
            doctor: format!("{} {} {}", b.dept_name, b.doctor_name, b.doctor_title).trim().to_owned(),
            when: format!("{} {} {}-{}", b.visit_date, b.period, b.start_time, b.end_time),
            location: b.location.clone(),
        }),
        hold: po.pay_by.map(|by| {
            let left = (by - st.app.now()).num_seconds().max(0);
            Hold { until: domain::format::local_time(by, domain::format::TimeStyle::ShortMinute), seconds_left: left, minutes_left: (left + 59) / 60 }
        }),
    };
    Ok(page.into_response())
}

#[derive(Deserialize)]
pub struct MethodForm {
    #[serde(default)]
    method: String,
}

pub async fn choose_method(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Path(no): Path<String>,
    Form(f): Form<MethodForm>,
) -> Result<Response, AppError> {
    let po = st.app.patient_order(auth.account_id, &no).await?;
    if let Some(r) = fresh_or_reauth(&st, &auth, &no) {
        return Ok(r);
    }
    let Some(method) = PayMethod::parse(&f.method) else {
        return Ok(back_with(&no, &ErrorCode::ValidationFailed.into()));
    };
    let step = match method {
        PayMethod::SelfPay => st.app.start_self_pay(&no).await,
        _ => {
            let redirect = format!("{}/pay/{no}/insurance-auth", st.public_base(&headers));
            st.app.insurance_authorize_url(&no, &po.patient.insurance_kind, method, &redirect).await
        }
    };
    onward(&no, step)
}

#[derive(Deserialize)]
pub struct AuthBack {
    #[serde(rename = "authCode")]
    auth_code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

/// Back from the 医保 authorisation: pre-settle, then show the split on the pay page.
pub async fn insurance_auth_back(
    State(st): State<WebState>,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    Query(q): Query<AuthBack>,
) -> Result<Response, AppError> {
    let (Some(code), Some(state), None) = (q.auth_code, q.state, q.error) else {
        st.app.patient_order(auth.account_id, &no).await?;
        return Ok(back_with(&no, &ErrorCode::InsuranceAuthFailed.into()));
    };
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    Ok(match st.app.insurance_auth_returned(auth.account_id, &no, &code, &state, &actor).await {
        Err(e) if e.code == ErrorCode::OrderNotFound => return Err(e.into()),
        Ok(_) => Redirect::to(&format!("/pay/{no}")).into_response(),
        Err(e) => back_with(&no, &e),
    })
}

/// The patient confirms the split: on to the 医保 cashier.
pub async fn confirm_insurance(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Path(no): Path<String>) -> Result<Response, AppError> {
    st.app.patient_order(auth.account_id, &no).await?;
    if let Some(r) = fresh_or_reauth(&st, &auth, &no) {
        return Ok(r);
    }
    let result = format!("{}/pay/{no}/result", st.public_base(&headers));
    onward(&no, st.app.insurance_cashier_url(&no, &result).await)
}

/// The rest after the insurance part: on to the bank's cashier.
pub async fn pay_rest(State(st): State<WebState>, auth: PatientAuth, Path(no): Path<String>) -> Result<Response, AppError> {
    st.app.patient_order(auth.account_id, &no).await?;
    if let Some(r) = fresh_or_reauth(&st, &auth, &no) {
        return Ok(r);
    }
    onward(&no, st.app.start_self_pay(&no).await)
}

#[derive(Template, WebTemplate)]
#[template(path = "pay_result.html")]
struct ResultPage {
    hospital: String,
    big_text: bool,
    back: String,
    o: OrderView,
    outcome: &'static str,
    /// Paid, and the HIS is still being told (the page keeps asking).
    delivering: bool,
    /// The HIS could not deliver it: everything goes back.
    undeliverable: bool,
    guidance: Vec<String>,
    invoice_no: Option<String>,
    /// (link, what the booking is) for a registration fee.
    booking: Option<(String, String)>,
}

/// Where the refunded money went: the insurance parts (refunded whole, so in the split's
/// proportions) and the bank.
fn refund_parts(o: &domain::billing::Order) -> Vec<(&'static str, String)> {
    let mut parts = vec![];
    if o.refunded.insurance.0 > 0 {
        for (label, amount) in [("医保统筹", o.split.fund), ("医保个人账户", o.split.personal_account), ("家庭共济账户", o.split.mutual_aid)] {
            if amount.0 > 0 {
                parts.push((label, yuan(amount)));
            }
        }
    }
    if o.refunded.self_pay.0 > 0 {
        parts.push(("原银行卡/微信", yuan(o.refunded.self_pay)));
    }
    parts
}

/// What the result page says, from the order's state alone: success only once the
/// money is confirmed, and never once it went back.
pub fn outcome(po: &PatientOrder) -> &'static str {
    let s = po.row.order.state;
    if matches!(s, OrderState::Refunded) {
        "refunded"
    } else if matches!(s, OrderState::PartiallyRefunded) {
        "partially_refunded"
    } else if matches!(s, OrderState::Refunding) {
        "refunding"
    } else if s.money_confirmed() {
        "paid"
    } else if po.self_pay_pending && !po.bank_opened {
        "pay_rest"
    } else if matches!(s, OrderState::Closed) {
        "closed"
    } else if matches!(s, OrderState::Reversing) {
        "reversing"
    } else {
        "pending"
    }
}

pub async fn result_page(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth, Path(no): Path<String>) -> Result<Response, AppError> {
    let po = st.app.patient_payment_status(auth.account_id, &no).await?;
    let c = Chrome::new(&st, &headers, &format!("/pay/{no}/result"));
    let next = st.app.next_steps(&no).await?;
    let state = po.row.order.state;
    let booking = next.booking.as_ref().map(|b| {
        let see = b.see_no.map(|n| format!(" · 就诊序号 {n}")).unwrap_or_default();
        (
            format!("/registrations/{}", b.booking_no),
            format!("{} {} · {} {}-{} · {}{see}", b.dept_name, b.doctor_name, b.visit_date, b.start_time, b.end_time, b.location),
        )
    });
    // A booking whose fee went back has no visit number to show any more.
    let booking = booking.filter(|_| !matches!(state, OrderState::Refunded | OrderState::Refunding));
    let page = ResultPage {
        hospital: c.hospital,
        big_text: c.big_text,
        back: c.back,
        o: OrderView::of(&po),
        outcome: outcome(&po),
        delivering: state == OrderState::Paid,
        undeliverable: match &next.booking {
            Some(b) => b.state == domain::registration::BookingState::LockLost.as_str(),
            // A bill the HIS never settled and whose money went back.
            None => {
                po.row.subject.as_deref().is_some_and(|s| s.starts_with("bill:"))
                    && next.invoice_no.is_none()
                    && matches!(state, OrderState::Refunding | OrderState::Refunded)
            }
        },
        guidance: next.guidance,
        invoice_no: next.invoice_no,
        booking,
    };
    Ok(page.into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "payments.html")]
struct PaymentsPage {
    hospital: String,
    big_text: bool,
    back: String,
    rows: Vec<OrderView>,
}

pub async fn my_payments(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/payments");
    let rows =
        st.app.patient_orders(auth.account_id, 100).await?.into_iter().map(|(row, patient)| OrderView::of(&PatientOrder::listed(row, patient))).collect();
    Ok(PaymentsPage { hospital: c.hospital, big_text: c.big_text, back: c.back, rows }.into_response())
}

/// An order as the API gives it to its payer.
#[derive(Serialize, utoipa::ToSchema)]
pub struct OrderDto {
    pub order_no: String,
    /// registration / outpatient_bill / deposit_top_up / card_recharge / record_copy / discharge_balance
    pub purpose: String,
    /// created / paying / paid / fulfilled / reversing / closed / refunding / partially_refunded / refunded
    pub state: String,
    pub state_label: String,
    /// pending / pay_rest / paid / reversing / closed / refunding / partially_refunded /
    /// refunded: what the result page shows.
    pub outcome: String,
    /// Amounts in fen.
    pub total: i64,
    pub insurance: i64,
    pub self_pay: i64,
    pub captured: i64,
    pub refunded: i64,
    /// The methods that may be chosen now (insurance / child_insurance / mutual_aid /
    /// self_pay); empty once a payment is under way.
    pub methods: Vec<String>,
}

impl OrderDto {
    fn of(po: &PatientOrder) -> Self {
        let o = &po.row.order;
        Self {
            order_no: po.row.order_no.clone(),
            purpose: o.purpose.as_str().into(),
            state: o.state.as_str().into(),
            state_label: o.state.label_zh().into(),
            outcome: outcome(po).into(),
            total: o.total().0,
            insurance: o.due(Channel::Insurance).0,
            self_pay: o.due(Channel::SelfPay).0,
            captured: o.captured.total().0,
            refunded: o.refunded.total().0,
            methods: po.methods.iter().map(|m| m.as_str().to_owned()).collect(),
        }
    }
}

/// Where my order stands; while it is open, the channels are asked first.
#[utoipa::path(get, path = "/api/v1/me/orders/{order_no}", tag = "payments",
    params(("order_no" = String, Path, description = "Order number")),
    responses((status = 200, body = OrderDto), (status = 404, body = crate::error::ErrorBody), (status = 401, body = crate::error::ErrorBody)))]
pub async fn api_order(State(st): State<WebState>, auth: PatientAuth, Path(no): Path<String>) -> Result<Json<OrderDto>, AppError> {
    let po = st.app.patient_payment_status(auth.account_id, &no).await?;
    Ok(Json(OrderDto::of(&po)))
}

/// My orders, newest first.
#[utoipa::path(get, path = "/api/v1/me/orders", tag = "payments",
    responses((status = 200, body = Vec<OrderDto>), (status = 401, body = crate::error::ErrorBody)))]
pub async fn api_orders(State(st): State<WebState>, auth: PatientAuth) -> Result<Json<Vec<OrderDto>>, AppError> {
    let rows = st.app.patient_orders(auth.account_id, 100).await?;
    Ok(Json(rows.into_iter().map(|(row, patient)| OrderDto::of(&PatientOrder::listed(row, patient))).collect()))
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct CreateOrderRequest {
    /// One of my patients.
    pub patient_id: i64,
    /// The HIS prescription (recipe) id of an unpaid bill.
    pub recipe_id: String,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CreatedOrderDto {
    pub order_no: String,
}

/// Opens (or returns the already open) order for one of my unpaid bills. Send an
/// `Idempotency-Key` header to make retries safe (P3).
#[utoipa::path(post, path = "/api/v1/me/orders", tag = "payments", request_body = CreateOrderRequest,
    params(("Idempotency-Key" = Option<String>, Header, description = "1-64 of A-Z a-z 0-9 - _")),
    responses((status = 201, body = CreatedOrderDto), (status = 404, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_create_order(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    crate::api::ApiJson(req): crate::api::ApiJson<CreateOrderRequest>,
) -> Result<Response, AppError> {
    let scope = format!("account:{}:create_order", auth.account_id);
    let fingerprint = serde_json::to_string(&req).unwrap_or_default();
    let actor = Actor::patient_account(auth.account_id, &cid.0);
    crate::idempotency::once(&st, &headers, &scope, &fingerprint, &cid.0, || async {
        let no = st.app.order_for_bill(auth.account_id, req.patient_id, &req.recipe_id, &actor).await?;
        Ok((axum::http::StatusCode::CREATED, serde_json::json!({"order_no": no})))
    })
    .await
}

#[derive(Deserialize, Serialize, utoipa::ToSchema)]
pub struct PayRequest {
    /// insurance / child_insurance / self_pay
    pub method: String,
    /// Where the 医保 authorisation sends the browser back (our `/pay/{order_no}/insurance-auth`
    /// page by default).
    pub redirect_uri: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct PayStepDto {
    /// Where to send the payer next: the bank's cashier or the 医保 authorisation.
    pub next_url: String,
}

/// Starts paying an order with the chosen method. Send an `Idempotency-Key` header:
/// a retry returns the same next step and never opens a second payment (P3). A sign-in
/// older than ten minutes gets 401 `REAUTH_REQUIRED` (S6): sign in again, then retry.
#[utoipa::path(post, path = "/api/v1/me/orders/{order_no}/pay", tag = "payments", request_body = PayRequest,
    params(("order_no" = String, Path, description = "Order number"), ("Idempotency-Key" = Option<String>, Header, description = "1-64 of A-Z a-z 0-9 - _")),
    responses((status = 200, body = PayStepDto), (status = 401, body = crate::error::ErrorBody), (status = 404, body = crate::error::ErrorBody), (status = 409, body = crate::error::ErrorBody), (status = 422, body = crate::error::ErrorBody)))]
pub async fn api_pay(
    State(st): State<WebState>,
    headers: HeaderMap,
    auth: PatientAuth,
    Extension(cid): Extension<CorrelationId>,
    Path(no): Path<String>,
    crate::api::ApiJson(req): crate::api::ApiJson<PayRequest>,
) -> Result<Response, AppError> {
    let po = st.app.patient_order(auth.account_id, &no).await?;
    st.app.require_fresh_auth(auth.authenticated_at)?;
    let scope = format!("account:{}:pay", auth.account_id);
    let fingerprint = format!("{no}|{}", serde_json::to_string(&req).unwrap_or_default());
    let base = st.public_base(&headers);
    crate::idempotency::once(&st, &headers, &scope, &fingerprint, &cid.0, || async {
        let method = PayMethod::parse(&req.method).ok_or_else(|| DomainError::new(ErrorCode::ValidationFailed, "method"))?;
        let next_url = match method {
            PayMethod::SelfPay => st.app.start_self_pay(&no).await?,
            _ => {
                // Only back to our own site: never an open redirect.
                let own = format!("{base}/pay/{no}/insurance-auth");
                let redirect = req.redirect_uri.clone().filter(|u| u.starts_with(&format!("{base}/"))).unwrap_or(own);
                st.app.insurance_authorize_url(&no, &po.patient.insurance_kind, method, &redirect).await?
            }
        };
        Ok((axum::http::StatusCode::OK, serde_json::json!({"next_url": next_url})))
    })
    .await
}

pub struct VisitView {
    pub visit_id: String,
    pub date: String,
    pub dept: String,
    pub doctor: String,
    /// (name, qty, amount, insurable, paid)
    pub lines: Vec<(String, u32, String, bool, bool)>,
    pub total: String,
    pub paid: String,
    /// "同日第2次就诊" when the same day, department and doctor appear more than once:
    /// two visits that would otherwise look the same say which is which.
    pub repeat: Option<String>,
    pub unpaid: bool,
}

/// Numbers visits of the same day, department and doctor in the order they happened (the
/// list is newest first), so the page can tell them apart.
fn mark_repeats(views: &mut [VisitView]) {
    for i in 0..views.len() {
        let same = |v: &VisitView| v.date == views[i].date && v.dept == views[i].dept && v.doctor == views[i].doctor;
        let total = views.iter().filter(|v| same(v)).count();
        if total > 1 {
            let later = views[..i].iter().filter(|v| same(v)).count();
            views[i].repeat = Some(format!("同日第{}次就诊", total - later));
        }
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "fees.html")]
struct FeesPage {
    hospital: String,
    big_text: bool,
    back: String,
    patients: Vec<(String, Vec<VisitView>)>,
}

/// OTH-4: the outpatient fee list of every visit, paid and unpaid lines.
pub async fn fees(State(st): State<WebState>, headers: HeaderMap, auth: PatientAuth) -> Result<Response, AppError> {
    let c = Chrome::new(&st, &headers, "/fees");
    let patients = st
        .app
        .patient_visit_fees(auth.account_id)
        .await?
        .into_iter()
        .map(|(p, visits)| {
            let mut views: Vec<VisitView> = visits
                .into_iter()
                .map(|v| VisitView {
                    visit_id: v.visit_id,
                    date: v.visit_date.to_string(),
                    dept: v.dept_name,
                    doctor: v.doctor_name,
                    unpaid: v.items.iter().any(|(_, paid)| !paid),
                    lines: v.items.into_iter().map(|(i, paid)| (i.name, i.qty, i.amount.to_string(), i.insurable, paid)).collect(),
                    total: v.total.to_string(),
                    paid: v.paid.to_string(),
                    repeat: None,
                })
                .collect();
            mark_repeats(&mut views);
            (p.name_masked, views)
        })
        .collect();
    Ok(FeesPage { hospital: c.hospital, big_text: c.big_text, back: c.back, patients }.into_response())
}

/// The bank's result notification (form-encoded). Answers `SUCCESS` once the
/// notification is verified and stored, including for duplicates; a forged or
/// mismatching one gets a stable error and changes nothing.
pub async fn ccb_callback(State(st): State<WebState>, body: axum::body::Bytes) -> Result<Response, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body).map_err(|_| AppError::from(ErrorCode::BadRequest))?;
    let raw = String::from_utf8_lossy(&body);
    let outcome = st.app.handle_ccb_notification(&pairs, &raw).await?;
    tracing::info!(?outcome, "ccb notification");
    Ok(([("content-type", "text/plain")], "SUCCESS").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn visit(id: &str, date: &str, doctor: &str) -> VisitView {
        VisitView {
            visit_id: id.into(),
            date: date.into(),
            dept: "内科".into(),
            doctor: doctor.into(),
            lines: vec![],
            total: String::new(),
            paid: String::new(),
            repeat: None,
            unpaid: false,
        }
    }

    #[test]
    fn visits_that_look_alike_are_numbered_in_the_order_they_happened() {
        // Newest first, as the HIS lists them.
        let mut v = vec![
            visit("V3", "2026-12-01", "王医生"),
            visit("V2", "2026-12-01", "王医生"),
            visit("V1", "2026-12-01", "李医生"),
            visit("V0", "2026-11-30", "王医生"),
        ];
        mark_repeats(&mut v);
        let marks: Vec<_> = v.iter().map(|x| x.repeat.as_deref()).collect();
        assert_eq!(marks, [Some("同日第2次就诊"), Some("同日第1次就诊"), None, None]);
    }
}
